//! The content digest: a BLAKE3 Merkle digest of an atom's tree.
//!
//! Git names objects by SHA-1, which is not collision resistant, so an atom
//! commit id alone does not pin content against a determined attacker. The
//! digest hashes the actual bytes with BLAKE3 in a tree shape of its own
//! (specified in `spec/format.md`, "Content digest"):
//!
//! - blob node: `BLAKE3("blob" ‖ u64le(len) ‖ bytes)`;
//! - tree node: `BLAKE3("tree" ‖ u64le(n) ‖ entries)`, entries sorted by name
//!   bytes, each `kind ‖ u64le(name len) ‖ name ‖ child digest (32 bytes)`,
//!   kind being `f` (regular file), `x` (executable file), `l` (symlink, child
//!   = blob node of the target), `d` (directory, child = tree node) or `m`
//!   (submodule, child = `BLAKE3("gitlink" ‖ 20 raw commit id bytes)`).
//!
//! The same walk validates the tree, because whoever fetches an atom must
//! not be able to receive a tree that escapes its directory: entry names must
//! be plain names (no `.`, `..`, `/` or NUL, and nothing git takes for `.git`
//! on any file system it protects), directories nest at most
//! [`MAX_TREE_DEPTH`] levels, and a symlink must point inside the atom.

use std::collections::{HashMap, HashSet};
use std::fmt;

use gix::objs::tree::EntryKind;
use gix::objs::FindExt;
use gix::ObjectId;

mod dotgit;
mod fold;
mod links;

pub use links::{Hop, TargetProblem, MAX_SYMLINK_HOPS, MAX_SYMLINK_STEPS};

/// A BLAKE3 digest of an atom's content, printed as `blake3:<64 hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentDigest(pub [u8; 32]);

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "blake3:{}", blake3::Hash::from_bytes(self.0).to_hex())
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not a printed content digest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a content digest (`blake3:` and 64 lowercase hex digits)")]
pub struct ContentDigestParseError(pub String);

impl ContentDigest {
    pub fn parse(s: &str) -> Result<Self, ContentDigestParseError> {
        let err = || ContentDigestParseError(s.to_owned());
        let hex = s.strip_prefix("blake3:").ok_or_else(err)?;
        if hex.len() != 64 || hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        let hash = blake3::Hash::from_hex(hex).map_err(|_| err())?;
        Ok(ContentDigest(*hash.as_bytes()))
    }
}

impl std::str::FromStr for ContentDigest {
    type Err = ContentDigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContentDigest::parse(s)
    }
}

impl serde::Serialize for ContentDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ContentDigest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ContentDigest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How deep directories may nest below an atom's root: git's own limit
/// (`core.maxTreeDepth`, 2048), beyond which `git rev-list --objects`, and so
/// push and fetch, refuse a tree. Every later walk of an atom may rely on it.
pub const MAX_TREE_DEPTH: usize = 2048;

/// Why a tree has no digest: it is incomplete or unsafe to hand out.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("`{path}`: object {id} is missing or unreadable: {source}")]
    Object {
        path: String,
        id: ObjectId,
        source: gix::Error,
    },
    #[error("`{path}`: `{name}` is not an allowed file name in an atom: {problem}")]
    BadName {
        /// The directory holding the entry.
        path: String,
        /// The name, invisible and non-UTF-8 characters escaped.
        name: String,
        problem: NameProblem,
    },
    #[error("`{path}`: the name appears twice in one directory")]
    DuplicateName { path: String },
    #[error(
        "`{path}`: `{first}` and `{second}` are one name on case-insensitive file systems \
         (macOS, Windows), and one of them is a symlink or a directory: a checkout there \
         could write through the symlink, or merge the directories"
    )]
    CaseCollision {
        /// The directory holding them.
        path: String,
        first: String,
        second: String,
    },
    #[error(
        "`{}`: directories nest more than {MAX_TREE_DEPTH} levels below the atom root \
         (git refuses deeper trees)",
        elide(path)
    )]
    TooDeep {
        /// The first directory too deep, `/`-separated from the atom root.
        path: String,
    },
    #[error(
        "`{path}`: the symlink points outside the atom (to `{target}`){}",
        links::through(hops)
    )]
    SymlinkEscapes {
        path: String,
        target: String,
        /// The other symlinks followed on the way out, in order.
        hops: Vec<Hop>,
    },
    #[error("`{path}`: the symlink's target `{target}` {problem}")]
    SymlinkTarget {
        path: String,
        target: String,
        problem: TargetProblem,
    },
    #[error(
        "`{path}`: the symlink (to `{target}`) does not resolve within {MAX_SYMLINK_HOPS} \
         symlinks: a loop"
    )]
    SymlinkLoop { path: String, target: String },
    #[error(
        "`{path}`: the symlink (to `{target}`) leads into submodule `{submodule}`, whose \
         content the atom does not hold"
    )]
    SymlinkIntoSubmodule {
        path: String,
        target: String,
        submodule: String,
    },
    #[error(
        "`{path}`: checking where the atom's symlinks lead takes more than \
         {MAX_SYMLINK_STEPS} steps (the tree repeats the same symlinks too often)"
    )]
    SymlinksTooComplex { path: String },
}

/// Why an entry name is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("it is empty")]
    Empty,
    #[error("`.` and `..` name directories that are already there")]
    DotOrDotDot,
    #[error("it holds `/`, `\\` or NUL")]
    Separator,
    #[error(
        "git takes it for `.git` (on HFS+ or NTFS), so a checkout would write into the \
         repository's own `.git`; git fsck reports it as hasDotgit"
    )]
    GitDir,
    #[error(
        "a symlink git takes for `.gitmodules` (on HFS+ or NTFS), which git refuses to \
         check out; git fsck reports it as gitmodulesSymlink"
    )]
    GitmodulesSymlink,
    #[error(
        "a symlink inside a directory git takes for `.gitmodules`, which git refuses to \
         check out"
    )]
    SymlinkUnderGitmodules,
}

/// What the digest walk keeps of a tree it has seen. None of it depends on
/// where the tree sits in an atom, so one record serves every occurrence.
#[derive(Clone, Copy)]
struct TreeFacts {
    digest: [u8; 32],
    /// How many directory levels lie below it (0 for a tree of files).
    height: usize,
    /// Whether a symlink lies anywhere inside it.
    has_links: bool,
}

/// Computes content digests, remembering what it has seen: blobs and trees
/// by id, and the atom roots whose symlinks are already checked.
pub struct Digester<'r, O> {
    objects: &'r O,
    blobs: HashMap<ObjectId, [u8; 32]>,
    trees: HashMap<ObjectId, TreeFacts>,
    links_checked: HashSet<ObjectId>,
    /// [`MAX_SYMLINK_STEPS`], lowered by tests.
    symlink_step_limit: usize,
    buf: Vec<u8>,
}

/// One entry of a tree, as the walks need it.
#[derive(Clone)]
struct Entry {
    kind: EntryKind,
    name: Vec<u8>,
    oid: ObjectId,
}

/// A tree being digested: its entries (sorted by name bytes), how far the
/// hash has got, and what its children have told so far.
struct Frame {
    id: ObjectId,
    /// Its name in its parent (empty for the root).
    name: Vec<u8>,
    entries: Vec<Entry>,
    next: usize,
    hasher: blake3::Hasher,
    height: usize,
    has_links: bool,
}

impl Frame {
    fn new(id: ObjectId, name: Vec<u8>, entries: Vec<Entry>) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"tree");
        hasher.update(&(entries.len() as u64).to_le_bytes());
        Frame {
            id,
            name,
            entries,
            next: 0,
            hasher,
            height: 0,
            has_links: false,
        }
    }

    /// Hashes the current entry with its child node and moves on.
    fn absorb(&mut self, tag: u8, child: &[u8; 32]) {
        let name = &self.entries[self.next].name;
        self.hasher.update(&[tag]);
        self.hasher.update(&(name.len() as u64).to_le_bytes());
        self.hasher.update(name);
        self.hasher.update(child);
        self.next += 1;
    }

    fn facts(&self) -> TreeFacts {
        TreeFacts {
            digest: *self.hasher.finalize().as_bytes(),
            height: self.height,
            has_links: self.has_links,
        }
    }
}

/// The path of the current entry of the innermost frame.
fn entry_path(stack: &[Frame]) -> Vec<Vec<u8>> {
    let mut path: Vec<Vec<u8>> = stack.iter().skip(1).map(|f| f.name.clone()).collect();
    if let Some(top) = stack.last() {
        if let Some(e) = top.entries.get(top.next) {
            path.push(e.name.clone());
        }
    }
    path
}

impl<'r, O: gix::objs::Find> Digester<'r, O> {
    pub fn new(objects: &'r O) -> Self {
        Digester {
            objects,
            blobs: HashMap::new(),
            trees: HashMap::new(),
            links_checked: HashSet::new(),
            symlink_step_limit: MAX_SYMLINK_STEPS,
            buf: Vec::new(),
        }
    }

    /// The digest of the atom whose root tree is `tree`. Every tree is
    /// digested once however often it occurs; the symlinks are then checked
    /// where they sit.
    pub fn atom_digest(&mut self, tree: ObjectId) -> Result<ContentDigest, DigestError> {
        let facts = self.digest_tree(tree)?;
        if facts.has_links && !self.links_checked.contains(&tree) {
            links::check(self, tree)?;
            self.links_checked.insert(tree);
        }
        Ok(ContentDigest(facts.digest))
    }

    /// The facts of `root`, walking its trees depth first with a stack of
    /// frames rather than recursion, so any depth is walked and then refused
    /// past [`MAX_TREE_DEPTH`] with a clear error.
    fn digest_tree(&mut self, root: ObjectId) -> Result<TreeFacts, DigestError> {
        if let Some(facts) = self.trees.get(&root).copied() {
            if facts.height > MAX_TREE_DEPTH {
                return Err(self.too_deep(Vec::new(), root, MAX_TREE_DEPTH + 1));
            }
            return Ok(facts);
        }
        let entries = self.read_tree(root, Vec::new)?;
        let mut stack = vec![Frame::new(root, Vec::new(), entries)];
        loop {
            // The depth of a directory entered from the innermost frame.
            let depth = stack.len();
            let top = stack
                .last()
                .expect("the walk returns when the root is done");
            let Some(entry) = top.entries.get(top.next) else {
                let done = stack.pop().expect("non-empty");
                let facts = done.facts();
                self.trees.insert(done.id, facts);
                if stack.is_empty() {
                    return Ok(facts);
                }
                continue;
            };
            let (kind, oid) = (entry.kind, entry.oid);
            let (tag, child) = match kind {
                EntryKind::Tree => {
                    let Some(child) = self.trees.get(&oid).copied() else {
                        if depth > MAX_TREE_DEPTH {
                            return Err(DigestError::TooDeep {
                                path: display_path(&entry_path(&stack)),
                            });
                        }
                        let name = entry.name.clone();
                        let entries = self.read_tree(oid, || entry_path(&stack))?;
                        stack.push(Frame::new(oid, name, entries));
                        continue;
                    };
                    if depth + child.height > MAX_TREE_DEPTH {
                        let path = entry_path(&stack);
                        return Err(self.too_deep(path, oid, MAX_TREE_DEPTH + 1 - depth));
                    }
                    let top = stack.last_mut().expect("non-empty");
                    top.height = top.height.max(child.height + 1);
                    top.has_links |= child.has_links;
                    (b'd', child.digest)
                }
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => {
                    let digest = match self.blobs.get(&oid) {
                        Some(d) => *d,
                        None => self.blob(oid, || entry_path(&stack))?,
                    };
                    let top = stack.last_mut().expect("non-empty");
                    let tag = match kind {
                        EntryKind::Blob => b'f',
                        EntryKind::BlobExecutable => b'x',
                        _ => {
                            top.has_links = true;
                            b'l'
                        }
                    };
                    (tag, digest)
                }
                EntryKind::Commit => (b'm', gitlink_digest(&oid)),
            };
            stack.last_mut().expect("non-empty").absorb(tag, &child);
        }
    }

    /// The entries of tree `id` (at `path`), sorted by name bytes, once their
    /// names are checked.
    fn read_tree(
        &mut self,
        id: ObjectId,
        path: impl Fn() -> Vec<Vec<u8>>,
    ) -> Result<Vec<Entry>, DigestError> {
        let entries = self.entries(id, &path)?;
        check_names(&entries, path)?;
        Ok(entries)
    }

    /// The entries of tree `id` (at `path`), sorted by name bytes.
    fn entries(
        &mut self,
        id: ObjectId,
        path: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Vec<Entry>, DigestError> {
        let tree = self
            .objects
            .find_tree(&id, &mut self.buf)
            .map_err(object_error(path, id))?;
        let mut entries: Vec<Entry> = tree
            .entries
            .iter()
            .map(|e| Entry {
                kind: e.mode.kind(),
                name: e.filename.to_vec(),
                oid: e.oid.to_owned(),
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn blob(
        &mut self,
        id: ObjectId,
        path: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<[u8; 32], DigestError> {
        let blob = self
            .objects
            .find_blob(&id, &mut self.buf)
            .map_err(object_error(path, id))?;
        let digest = blob_digest(blob.data);
        self.blobs.insert(id, digest);
        Ok(digest)
    }

    /// The error for tree `id` at `path` whose directories reach past the
    /// bound: the path follows its deepest branch `levels` further down, to
    /// the first directory too deep.
    fn too_deep(&mut self, mut path: Vec<Vec<u8>>, id: ObjectId, levels: usize) -> DigestError {
        let mut current = id;
        for _ in 0..levels {
            let Ok(entries) = self.entries(current, Vec::new) else {
                break;
            };
            let deepest = entries
                .into_iter()
                .filter(|e| e.kind == EntryKind::Tree)
                .max_by_key(|e| self.trees.get(&e.oid).map_or(0, |f| f.height));
            let Some(child) = deepest else { break };
            path.push(child.name);
            current = child.oid;
        }
        DigestError::TooDeep {
            path: display_path(&path),
        }
    }
}

/// Refuses names that are unsafe to check out, and duplicates. `entries`
/// are sorted by name, so duplicates are neighbours.
fn check_names(entries: &[Entry], path: impl FnOnce() -> Vec<Vec<u8>>) -> Result<(), DigestError> {
    if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
        let mut path = path();
        path.push(w[0].name.clone());
        return Err(DigestError::DuplicateName {
            path: display_path(&path),
        });
    }
    if let Some((first, second)) = case_collision(entries) {
        return Err(DigestError::CaseCollision {
            path: display_path(&path()),
            first: show_name(&first.name),
            second: show_name(&second.name),
        });
    }
    for e in entries {
        if let Some(problem) = entry_name_problem(&e.name, e.kind) {
            return Err(DigestError::BadName {
                path: display_path(&path()),
                name: show_name(&e.name),
                problem,
            });
        }
    }
    Ok(())
}

/// Two entries that are one name on a case-insensitive file system, one
/// of them not a plain file. (Two files may collide: a checkout writes one
/// over the other, which git warns about, and nothing leads through a file.)
fn case_collision(entries: &[Entry]) -> Option<(&Entry, &Entry)> {
    let risky = |e: &Entry| e.kind != EntryKind::Blob && e.kind != EntryKind::BlobExecutable;
    if !entries.iter().any(risky) {
        return None;
    }
    let mut keyed: Vec<(std::borrow::Cow<'_, [u8]>, &Entry)> =
        entries.iter().map(|e| (fold::key(&e.name), e)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed
        .chunk_by(|a, b| a.0 == b.0)
        .filter(|group| group.len() > 1 && group.iter().any(|(_, e)| risky(e)))
        .map(|group| (group[0].1, group[1].1))
        .next()
}

/// Why an entry of this kind may not have this name, if it may not.
fn entry_name_problem(name: &[u8], kind: EntryKind) -> Option<NameProblem> {
    name_problem(name).or_else(|| {
        (kind == EntryKind::Link && dotgit::is_dotgitmodules(name))
            .then_some(NameProblem::GitmodulesSymlink)
    })
}

/// Why no entry may have this name, if none may.
pub fn name_problem(name: &[u8]) -> Option<NameProblem> {
    if name.is_empty() {
        Some(NameProblem::Empty)
    } else if name == b"." || name == b".." {
        Some(NameProblem::DotOrDotDot)
    } else if name.iter().any(|&b| b == b'/' || b == b'\\' || b == 0) {
        Some(NameProblem::Separator)
    } else if dotgit::is_dotgit(name) {
        Some(NameProblem::GitDir)
    } else {
        None
    }
}

/// The digest node of one blob.
pub fn blob_digest(bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"blob");
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// The digest node of a submodule: its commit id only, since its content is
/// not in the repository.
fn gitlink_digest(commit: &ObjectId) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"gitlink");
    h.update(commit.as_bytes());
    *h.finalize().as_bytes()
}

/// Entry names that are safe to check out anywhere: not empty, not `.` or
/// `..`, no `/`, `\\` or NUL, and nothing git takes for `.git` (in any case,
/// with HFS+'s ignored code points, NTFS's trailing dots and spaces, streams
/// and short name `git~1`).
pub fn is_allowed_name(name: &[u8]) -> bool {
    name_problem(name).is_none()
}

fn object_error(
    path: impl FnOnce() -> Vec<Vec<u8>>,
    id: ObjectId,
) -> impl FnOnce(gix::Error) -> DigestError {
    move |source| DigestError::Object {
        path: display_path(&path()),
        id,
        source,
    }
}

fn display_path(path: &[Vec<u8>]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.iter()
            .map(|n| show_name(n))
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// A name as text that shows what it holds: invisible and control
/// characters escaped (`\u{200c}`), bytes that are not UTF-8 as `\xff`.
fn show_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if matches!(c, '\'' | '"' | '\\') {
                out.push(c);
            } else {
                out.extend(c.escape_debug());
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path of many components shortened for a message: its first and last
/// few components around a count of those left out.
fn elide(path: &str) -> String {
    const KEEP: usize = 4;
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() <= 3 * KEEP {
        return path.to_owned();
    }
    let left_out = parts.len() - 2 * KEEP;
    format!(
        "{}/…({left_out} more)…/{}",
        parts[..KEEP].join("/"),
        parts[parts.len() - KEEP..].join("/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_symlink_resolution() {
        assert!(!links::escapes_lexically(0, b"a/b"));
        assert!(!links::escapes_lexically(1, b"../a"));
        assert!(links::escapes_lexically(0, b"../a"));
        assert!(links::escapes_lexically(1, b"../../a"));
        assert!(links::escapes_lexically(0, b"/etc/passwd"));
        assert!(!links::escapes_lexically(0, b"./x/../y"));
        assert!(links::escapes_lexically(0, b"x/../../y"));
        assert!(links::escapes_lexically(0, b""));
    }

    #[test]
    fn names() {
        for (bad, problem) in [
            (&b""[..], NameProblem::Empty),
            (b".", NameProblem::DotOrDotDot),
            (b"..", NameProblem::DotOrDotDot),
            (b"a/b", NameProblem::Separator),
            (b"a\\b", NameProblem::Separator),
            (b"a\0", NameProblem::Separator),
            (b".git", NameProblem::GitDir),
            (b".GIT", NameProblem::GitDir),
            (b"git~1", NameProblem::GitDir),
            (b".git.", NameProblem::GitDir),
            (b".git ", NameProblem::GitDir),
            (".g\u{200c}it".as_bytes(), NameProblem::GitDir),
        ] {
            assert_eq!(name_problem(bad), Some(problem), "{bad:?}");
            assert!(!is_allowed_name(bad), "{bad:?}");
        }
        for good in [
            &b"a"[..],
            b".gitignore",
            b".gitmodules",
            b"...",
            b"git",
            b".gitx",
        ] {
            assert!(is_allowed_name(good), "{good:?}");
        }
        assert_eq!(
            entry_name_problem(b".gitmodules", EntryKind::Link),
            Some(NameProblem::GitmodulesSymlink)
        );
        assert_eq!(entry_name_problem(b".gitmodules", EntryKind::Blob), None);
    }

    #[test]
    fn names_in_messages_show_invisible_characters() {
        assert_eq!(show_name(".g\u{200c}it".as_bytes()), ".g\\u{200c}it");
        assert_eq!(show_name(b".git\xff"), ".git\\xff");
        assert_eq!(show_name("it's \"é\"\\".as_bytes()), "it's \"é\"\\");
        assert_eq!(show_name(b"a\tb"), "a\\tb");
    }

    #[test]
    fn a_git_alias_anywhere_in_the_tree_has_no_digest() {
        let s = Scratch::new();
        let file = s.blob(b"x");
        let inner = s.tree(&[(EntryKind::Blob, "git~1", file)]);
        let root = s.tree(&[(EntryKind::Tree, "sub", inner)]);
        let err = s.digest(root).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`sub`: `git~1` is not an allowed file name in an atom: git takes it for `.git` \
             (on HFS+ or NTFS), so a checkout would write into the repository's own `.git`; \
             git fsck reports it as hasDotgit"
        );
        let link = s.blob(b"x");
        let root = s.tree(&[(EntryKind::Link, ".GITMODULES", link)]);
        assert!(matches!(
            s.digest(root),
            Err(DigestError::BadName {
                problem: NameProblem::GitmodulesSymlink,
                ..
            })
        ));
    }

    #[test]
    fn digest_text_round_trip() {
        let d = ContentDigest(blob_digest(b"hello"));
        let s = d.to_string();
        assert!(s.starts_with("blake3:") && s.len() == 71);
        assert_eq!(ContentDigest::parse(&s).unwrap(), d);
        assert!(ContentDigest::parse(&s.to_uppercase()).is_err());
        assert!(ContentDigest::parse(&s[..70]).is_err());
    }

    /// Builds a tree in a scratch repository and checks the digest against
    /// the formula of spec/format.md §8, computed here independently.
    #[test]
    fn digest_follows_the_spec() {
        use gix::objs::tree::{Entry, EntryKind};
        let dir = tempfile::tempdir().unwrap();
        let repo = gix::init_bare(dir.path()).unwrap();
        let blob = |data: &[u8]| repo.write_blob(data).unwrap().detach();
        let tree = |mut entries: Vec<Entry>| {
            entries.sort();
            repo.write_object(gix::objs::Tree { entries })
                .unwrap()
                .detach()
        };
        let entry = |kind: EntryKind, name: &str, oid| Entry {
            mode: kind.into(),
            filename: name.into(),
            oid,
        };
        let sub = tree(vec![entry(EntryKind::BlobExecutable, "x", blob(b""))]);
        let root = tree(vec![
            entry(EntryKind::Blob, "b.txt", blob(b"hi")),
            entry(EntryKind::Tree, "a", sub),
            entry(EntryKind::Link, "l", blob(b"a/x")),
        ]);

        let node = |tag: &[u8], parts: &[&[u8]]| {
            let mut h = blake3::Hasher::new();
            h.update(tag);
            for p in parts {
                h.update(p);
            }
            *h.finalize().as_bytes()
        };
        let blob_node = |data: &[u8]| node(b"blob", &[&(data.len() as u64).to_le_bytes(), data]);
        let entry_bytes = |kind: u8, name: &str, child: [u8; 32]| {
            let mut v = vec![kind];
            v.extend((name.len() as u64).to_le_bytes());
            v.extend(name.as_bytes());
            v.extend(child);
            v
        };
        let sub_node = node(
            b"tree",
            &[&1u64.to_le_bytes(), &entry_bytes(b'x', "x", blob_node(b""))],
        );
        // Sorted by name bytes: "a" < "b.txt" < "l".
        let expected = node(
            b"tree",
            &[
                &3u64.to_le_bytes(),
                &entry_bytes(b'd', "a", sub_node),
                &entry_bytes(b'f', "b.txt", blob_node(b"hi")),
                &entry_bytes(b'l', "l", blob_node(b"a/x")),
            ],
        );
        let got = Digester::new(&repo.objects).atom_digest(root).unwrap();
        assert_eq!(got, ContentDigest(expected));

        // A link climbing out of the atom has no digest.
        let escaping = tree(vec![entry(EntryKind::Link, "up", blob(b"../x"))]);
        assert!(matches!(
            Digester::new(&repo.objects).atom_digest(escaping),
            Err(DigestError::SymlinkEscapes { .. })
        ));
        // The same link one level down stays inside.
        let nested = tree(vec![entry(EntryKind::Tree, "d", escaping)]);
        assert!(Digester::new(&repo.objects).atom_digest(nested).is_ok());
    }

    /// A scratch repository to build trees in.
    struct Scratch {
        _dir: tempfile::TempDir,
        repo: gix::Repository,
    }

    impl Scratch {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            // Objects stay in memory: writing thousands of loose objects
            // to disk takes seconds.
            let repo = gix::init_bare(dir.path()).unwrap().with_object_memory();
            Scratch { _dir: dir, repo }
        }

        fn blob(&self, data: &[u8]) -> ObjectId {
            self.repo.write_blob(data).unwrap().detach()
        }

        fn tree(&self, entries: &[(EntryKind, &str, ObjectId)]) -> ObjectId {
            let mut entries: Vec<_> = entries
                .iter()
                .map(|(kind, name, oid)| gix::objs::tree::Entry {
                    mode: (*kind).into(),
                    filename: (*name).into(),
                    oid: *oid,
                })
                .collect();
            entries.sort();
            self.repo
                .write_object(gix::objs::Tree { entries })
                .unwrap()
                .detach()
        }

        /// `levels` directories `d` nested below the returned root, the last
        /// holding one file.
        fn chain(&self, levels: usize) -> ObjectId {
            let file = self.blob(b"x");
            let mut tree = self.tree(&[(EntryKind::Blob, "f", file)]);
            for _ in 0..levels {
                tree = self.tree(&[(EntryKind::Tree, "d", tree)]);
            }
            tree
        }

        fn digest(&self, tree: ObjectId) -> Result<ContentDigest, DigestError> {
            Digester::new(&self.repo.objects).atom_digest(tree)
        }
    }

    /// The digest of `tree`, computed on a thread with a small stack: a walk
    /// that recursed per directory would overflow it on the deep trees below.
    fn digest_on_small_stack(s: &Scratch, tree: ObjectId) -> Result<ContentDigest, DigestError> {
        let repo = s.repo.clone();
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || Digester::new(&repo.objects).atom_digest(tree))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn a_tree_5000_deep_is_refused_without_overflow() {
        let s = Scratch::new();
        let root = s.chain(5000);
        let err = digest_on_small_stack(&s, root).unwrap_err();
        let DigestError::TooDeep { path } = &err else {
            panic!("{err}")
        };
        assert_eq!(path.split('/').count(), MAX_TREE_DEPTH + 1);
        assert_eq!(
            err.to_string(),
            format!(
                "`d/d/d/d/…({} more)…/d/d/d/d`: directories nest more than 2048 levels below \
                 the atom root (git refuses deeper trees)",
                MAX_TREE_DEPTH + 1 - 8
            )
        );
    }

    /// The bound is git's: `git rev-list --objects` (which push and fetch
    /// run) takes 2048 levels of directories below a root and refuses 2049.
    #[test]
    fn the_depth_bound_is_gits() {
        let s = Scratch::new();
        for (levels, allowed) in [(MAX_TREE_DEPTH, true), (MAX_TREE_DEPTH + 1, false)] {
            let root = s.chain(levels);
            assert_eq!(git_chain(&s, levels), root);
            let git = git(&s, &["rev-list", "--objects", &root.to_string()], "");
            assert_eq!(git.status.success(), allowed, "git, {levels} levels");
            if !allowed {
                let stderr = String::from_utf8_lossy(&git.stderr);
                assert!(
                    stderr.contains("exceeded maximum allowed tree depth"),
                    "{stderr}"
                );
            }
            let ours = digest_on_small_stack(&s, root);
            assert_eq!(ours.is_ok(), allowed, "digest, {levels} levels: {ours:?}");
        }
    }

    fn git(s: &Scratch, args: &[&str], stdin: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(s.repo.git_dir())
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// [`Scratch::chain`] written by git itself (`git mktree --batch`) into
    /// the scratch repository's object store; returns git's id of the root.
    fn git_chain(s: &Scratch, levels: usize) -> ObjectId {
        let blob = git(s, &["hash-object", "-w", "--stdin"], "x");
        let blob = String::from_utf8(blob.stdout).unwrap();
        let mut batch = format!("100644 blob {}\tf\n\n", blob.trim());
        let mut tree = s.tree(&[(EntryKind::Blob, "f", s.blob(b"x"))]);
        for _ in 0..levels {
            batch.push_str(&format!("040000 tree {tree}\td\n\n"));
            tree = s.tree(&[(EntryKind::Tree, "d", tree)]);
        }
        let out = git(s, &["mktree", "--batch"], &batch);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ids = String::from_utf8(out.stdout).unwrap();
        ObjectId::from_hex(ids.lines().last().unwrap().as_bytes()).unwrap()
    }

    /// A tree digested once (shallow) and met again deeper is still measured
    /// where it sits, and the error names the deep path.
    #[test]
    fn a_shared_tree_is_measured_at_each_place() {
        let s = Scratch::new();
        let deep = s.chain(MAX_TREE_DEPTH - 5);
        let mut lower = deep;
        for _ in 0..10 {
            lower = s.tree(&[(EntryKind::Tree, "e", lower)]);
        }
        // "a" sorts first, so the shared tree is first digested 1 level down.
        let root = s.tree(&[(EntryKind::Tree, "a", deep), (EntryKind::Tree, "b", lower)]);
        let Err(DigestError::TooDeep { path }) = s.digest(root) else {
            panic!("not refused")
        };
        let parts: Vec<&str> = path.split('/').collect();
        assert_eq!(parts.len(), MAX_TREE_DEPTH + 1);
        assert_eq!(
            parts[..11],
            ["b", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e"]
        );
        // The same trees at an allowed depth.
        assert!(s.digest(deep).is_ok());
        let ok = s.tree(&[(EntryKind::Tree, "a", deep)]);
        assert!(s.digest(ok).is_ok());
        // A digester that has already seen the too-deep root refuses it again.
        let mut d = Digester::new(&s.repo.objects);
        assert!(d.atom_digest(root).is_err());
        assert!(d.atom_digest(s.chain(MAX_TREE_DEPTH + 1)).is_err());
    }

    /// A tree from a list of `(path, kind, content)`: files (`f`), links
    /// (`l`, content = target) and submodules (`m`), directories made as
    /// needed.
    fn build(s: &Scratch, items: &[(&str, char, &str)]) -> ObjectId {
        fn level(s: &Scratch, items: &[(Vec<&str>, char, &str)]) -> ObjectId {
            let mut entries: Vec<(EntryKind, String, ObjectId)> = Vec::new();
            let mut dirs: Vec<&str> = Vec::new();
            for (parts, kind, content) in items {
                if parts.len() > 1 {
                    if !dirs.contains(&parts[0]) {
                        dirs.push(parts[0]);
                    }
                    continue;
                }
                let (kind, oid) = match kind {
                    'f' => (EntryKind::Blob, s.blob(content.as_bytes())),
                    'l' => (EntryKind::Link, s.blob(content.as_bytes())),
                    'm' => (EntryKind::Commit, ObjectId::from_hex(&[b'a'; 40]).unwrap()),
                    _ => unreachable!(),
                };
                entries.push((kind, parts[0].to_owned(), oid));
            }
            for dir in dirs {
                let inner: Vec<_> = items
                    .iter()
                    .filter(|(p, _, _)| p.len() > 1 && p[0] == dir)
                    .map(|(p, k, c)| (p[1..].to_vec(), *k, *c))
                    .collect();
                entries.push((EntryKind::Tree, dir.to_owned(), level(s, &inner)));
            }
            let refs: Vec<_> = entries
                .iter()
                .map(|(k, n, o)| (*k, n.as_str(), *o))
                .collect();
            s.tree(&refs)
        }
        let items: Vec<_> = items
            .iter()
            .map(|(p, k, c)| (p.split('/').collect(), *k, *c))
            .collect();
        level(s, &items)
    }

    fn digest_of(items: &[(&str, char, &str)]) -> Result<ContentDigest, DigestError> {
        let s = Scratch::new();
        s.digest(build(&s, items))
    }

    #[test]
    fn a_symlink_chain_through_a_parent_link_escapes() {
        // Issue 17: each target looks harmless alone; `sub/up/..` is the
        // atom's parent, not `sub`.
        let err =
            digest_of(&[("sub/up", 'l', ".."), ("esc", 'l', "sub/up/../outside.txt")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`esc`: the symlink points outside the atom (to `sub/up/../outside.txt`), \
             through `sub/up` -> `..`"
        );
        // A link to the directory itself, then up.
        assert!(matches!(
            digest_of(&[("d", 'l', "."), ("x", 'l', "d/../outside")]),
            Err(DigestError::SymlinkEscapes { .. })
        ));
        // A deeper parent link, and a chain of two links.
        assert!(digest_of(&[("a/b/up2", 'l', "../.."), ("esc", 'l', "a/b/up2/../x")]).is_err());
        let err = digest_of(&[
            ("a/b/c", 'l', "../d"),
            ("a/d", 'l', ".."),
            ("x/y", 'l', "../a/b/c/../../../z"),
        ])
        .unwrap_err();
        let DigestError::SymlinkEscapes { path, hops, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(path, "x/y");
        assert_eq!(
            hops.iter().map(|h| h.path.as_str()).collect::<Vec<_>>(),
            ["a/b/c", "a/d"]
        );
        // Climbing out and back in is out all the same.
        assert!(digest_of(&[("sub/up", 'l', ".."), ("in", 'l', "sub/up/../atom/f")]).is_err());
    }

    #[test]
    fn symlinks_that_stay_inside_are_kept() {
        digest_of(&[
            ("sub/up", 'l', ".."),
            ("sub/f", 'f', ""),
            ("x", 'l', "sub/up/sub/f"),
            ("d", 'l', "."),
            ("y", 'l', "d/d/d/sub/../x"),
            ("a/b", 'l', "c/.."),
            ("a/c/e", 'f', ""),
            ("a/l", 'l', "b/c/e"),
            ("dangling", 'l', "missing/x/../y"),
            ("through-file", 'l', "sub/f/../../x"),
            ("m", 'm', ""),
            ("to-submodule", 'l', "m"),
            ("around-submodule", 'l', "m/../x"),
        ])
        .unwrap();
    }

    #[test]
    fn symlink_loops_are_refused() {
        for items in [
            &[("a", 'l', "b"), ("b", 'l', "a")][..],
            &[("self", 'l', "self")],
            &[("l", 'l', "l/x")],
            &[("d/up", 'l', "../d/up")],
        ] {
            assert!(
                matches!(digest_of(items), Err(DigestError::SymlinkLoop { .. })),
                "{items:?}"
            );
        }
    }

    /// Linux follows at most 40 symlinks in one lookup: a chain of 40 links
    /// resolves, 41 do not (`hostile_trees.rs` checks this on the real file
    /// system).
    #[test]
    fn a_chain_of_40_links_resolves_and_41_do_not() {
        for (links, ok) in [(MAX_SYMLINK_HOPS, true), (MAX_SYMLINK_HOPS + 1, false)] {
            let names: Vec<String> = (0..links).map(|i| format!("l{i:02}")).collect();
            let mut items: Vec<(&str, char, &str)> = vec![("file", 'f', "")];
            for (i, name) in names.iter().enumerate() {
                let target = names.get(i + 1).map_or("file", String::as_str);
                items.push((name, 'l', target));
            }
            assert_eq!(digest_of(&items).is_ok(), ok, "{links} links");
        }
    }

    #[test]
    fn a_symlink_into_a_submodule_is_refused() {
        let err = digest_of(&[("m", 'm', ""), ("x", 'l', "m/inner")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`x`: the symlink (to `m/inner`) leads into submodule `m`, whose content the atom \
             does not hold"
        );
    }

    #[test]
    fn symlink_targets_unsafe_anywhere_are_refused() {
        for (target, problem) in [
            ("", TargetProblem::Empty),
            ("/etc/passwd", TargetProblem::Absolute),
            ("a\0b", TargetProblem::Nul),
            ("..\\..\\x", TargetProblem::Backslash),
            ("c:x", TargetProblem::DrivePrefix),
            (".git/hooks", TargetProblem::GitDir(".git".into())),
            ("a/GIT~1/config", TargetProblem::GitDir("GIT~1".into())),
            (
                "sub/../.g\u{200c}it",
                TargetProblem::GitDir(".g\\u{200c}it".into()),
            ),
        ] {
            let err = digest_of(&[("sub/l", 'l', target)]).unwrap_err();
            let DigestError::SymlinkTarget { problem: got, .. } = &err else {
                panic!("{target:?}: {err}")
            };
            assert_eq!(got, &problem, "{target:?}");
        }
        // A link followed on the way is refused by name.
        let err = digest_of(&[("a", 'l', "b/x"), ("b", 'l', "/etc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`b`: the symlink's target `/etc` is absolute: it points outside the atom"
        );
    }

    #[test]
    fn a_symlink_below_a_gitmodules_directory_is_refused() {
        let err = digest_of(&[("d/.gitmodules/x/l", 'l', "f")]).unwrap_err();
        assert!(
            matches!(
                &err,
                DigestError::BadName {
                    problem: NameProblem::SymlinkUnderGitmodules,
                    ..
                }
            ),
            "{err}"
        );
        digest_of(&[
            ("d/.gitmodules/x/f", 'f', ""),
            ("l", 'l', "d/.gitmodules/x/f"),
        ])
        .unwrap();
    }

    #[test]
    fn a_symlink_or_directory_colliding_by_case_is_refused() {
        for items in [
            &[("A/f", 'f', ""), ("a", 'l', "..")][..],
            &[("Sub/f", 'f', ""), ("sub/g", 'f', "")],
            &[("x", 'l', "f"), ("X", 'f', "")],
            &[("\u{e9}/f", 'f', ""), ("e\u{301}", 'l', ".")],
            &[("m", 'm', ""), ("M", 'f', "")],
        ] {
            let err = digest_of(items).unwrap_err();
            assert!(
                matches!(err, DigestError::CaseCollision { .. }),
                "{items:?}: {err}"
            );
        }
        let err = digest_of(&[("d/A/f", 'f', ""), ("d/a", 'l', "..")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`d`: `A` and `a` are one name on case-insensitive file systems (macOS, Windows), \
             and one of them is a symlink or a directory: a checkout there could write \
             through the symlink, or merge the directories"
        );
        // Files may collide: nothing leads through a file.
        digest_of(&[("README", 'f', "1"), ("readme", 'f', "2"), ("d/x", 'f', "")]).unwrap();
    }

    /// On macOS or Windows, `SUB/UP` is `sub/up`: resolution looks names up
    /// as those file systems do.
    #[test]
    fn symlinks_are_resolved_case_insensitively_too() {
        assert!(matches!(
            digest_of(&[("sub/up", 'l', ".."), ("esc", 'l', "SUB/UP/../outside")]),
            Err(DigestError::SymlinkEscapes { .. })
        ));
        assert!(matches!(
            digest_of(&[
                ("sub/up", 'l', ".."),
                ("esc", 'l', "sub/U\u{200c}P/../outside")
            ]),
            Err(DigestError::SymlinkEscapes { .. })
        ));
        digest_of(&[
            ("sub/up", 'l', ".."),
            ("x", 'l', "SUB/UP/sub/f"),
            ("sub/f", 'f', ""),
        ])
        .unwrap();
    }

    /// A small repository whose tree repeats one symlink 2^20 times is
    /// refused once the check has taken its steps, not walked for hours.
    #[test]
    fn a_tree_repeating_symlinks_exponentially_is_cut_short() {
        let s = Scratch::new();
        let mut tree = build(&s, &[("f", 'f', ""), ("l", 'l', "f")]);
        for _ in 0..20 {
            tree = s.tree(&[(EntryKind::Tree, "a", tree), (EntryKind::Tree, "b", tree)]);
        }
        let mut d = Digester::new(&s.repo.objects);
        d.symlink_step_limit = 10_000;
        assert!(matches!(
            d.atom_digest(tree),
            Err(DigestError::SymlinksTooComplex { .. })
        ));
        // The same shape, small enough, is fine.
        let mut small = build(&s, &[("f", 'f', ""), ("l", 'l', "f")]);
        for _ in 0..5 {
            small = s.tree(&[(EntryKind::Tree, "a", small), (EntryKind::Tree, "b", small)]);
        }
        let mut d = Digester::new(&s.repo.objects);
        d.symlink_step_limit = 10_000;
        assert!(d.atom_digest(small).is_ok());
    }

    #[test]
    fn blob_nodes_are_length_prefixed() {
        // Without the length prefix, these two would hash the same input to
        // the tree hasher; the prefix keeps node encodings unambiguous.
        assert_ne!(blob_digest(b""), blob_digest(b"\0"));
        assert_eq!(
            blake3::Hash::from_bytes(blob_digest(b"")).to_hex().as_str(),
            blake3::hash(b"blob\0\0\0\0\0\0\0\0").to_hex().as_str()
        );
    }
}
