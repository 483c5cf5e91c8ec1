//! Where an atom's files come from, and the one file system the evaluator
//! sees.
//!
//! Atoms are read from git, not from the host: a published atom from its
//! atom commit's tree, an atom under development from a commit of its
//! repository, and the working tree only when asked ([`DirFiles`]). Every
//! atom loaded in one evaluation is mounted under its own directory
//! (`/<label>@<version>`) of a [`MountTable`]; nothing else exists.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use atom_eval::{FileSystem, FileType, FsError};
use atom_store::nar::MemTree;
use atom_store::NarSource;
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::readahead::{Plan, ReadAhead};

/// Read access to the files of one atom. Paths are relative to the atom
/// directory, `/`-separated, canonical; `""` is the atom directory.
pub trait AtomFiles {
    fn read_file(&self, rel: &str) -> Result<Vec<u8>, FsError>;
    fn read_dir(&self, rel: &str) -> Result<Vec<(String, FileType)>, FsError>;
    fn file_type(&self, rel: &str) -> Result<Option<FileType>, FsError>;
    /// Whether the regular file `rel` is executable (git's mode 100755),
    /// as a NAR of the module's directory records it.
    fn is_executable(&self, rel: &str) -> Result<bool, FsError>;
    /// The `.nix` files and a way to read them from other threads, for
    /// [`crate::readahead`]; `None` if this source cannot.
    fn read_ahead(&self) -> Option<ReadAhead> {
        None
    }
    /// What these files are, to name the pack their bound files are kept
    /// in between runs ([`crate::packs`]); `None`: they are not kept.
    fn identity(&self) -> Option<Identity> {
        None
    }
}

/// The identity of an atom's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A git tree: its files never change.
    Tree(ObjectId),
    /// A directory on disk, whose files may change between runs.
    Dir(PathBuf),
}

/// Lists a directory for [`walk_nix`]: names, types and what the caller
/// keeps of each entry.
type ListDir<'a, T> = &'a dyn Fn(&str) -> Option<Vec<(String, FileType, T)>>;

/// How deep [`walk_nix`] goes below the atom directory: git's own
/// `core.maxTreeDepth`, the bound a published tree already meets
/// (`spec/format.md` §8). Deeper files are left to be read when asked for.
const MAX_WALK_DEPTH: usize = 2048;

/// Every `.nix` file under `rel`, in the order a strict evaluation needs
/// them: a directory's `mod.nix` first (it is read to list the module),
/// then its entries by exported name (the order sets are printed in),
/// directories depth first. Iterative, with its own stack, so that no
/// tree (a working tree has no depth bound) can overflow the thread's.
fn walk_nix<T>(rel: &str, list: ListDir<'_, T>, out: &mut Vec<(String, T)>) {
    let key = |name: &str, kind: FileType| {
        let first = name == "mod.nix" && kind == FileType::Regular;
        (
            !first,
            crate::exported_name(name.strip_suffix(".nix").unwrap_or(name)),
        )
    };
    let listed = |rel: &str| {
        let mut entries = list(rel)?;
        entries.sort_by_key(|e| key(&e.0, e.1));
        Some(entries.into_iter())
    };
    let Some(top) = listed(rel) else { return };
    let mut stack = vec![(rel.to_owned(), top)];
    while let Some((dir, entries)) = stack.last_mut() {
        let Some((name, kind, leaf)) = entries.next() else {
            stack.pop();
            continue;
        };
        let child = join(dir, &name);
        match kind {
            FileType::Regular if name.ends_with(".nix") => out.push((child, leaf)),
            FileType::Directory if stack.len() <= MAX_WALK_DEPTH => {
                if let Some(entries) = listed(&child) {
                    stack.push((child, entries));
                }
            }
            _ => {}
        }
    }
}

/// `dir/name` within an atom (`name` alone at the atom's root, `""`).
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn symlink_refused(rel: &str) -> FsError {
    FsError::Io(format!(
        "'{rel}' is a symbolic link; atoms may not contain symlinks"
    ))
}

/// A parsed tree: entry names, kinds and ids.
type TreeEntries = Vec<(String, EntryKind, ObjectId)>;

fn decode_tree(objects: &impl gix::objs::Find, id: &ObjectId) -> Result<TreeEntries, FsError> {
    let mut buf = Vec::new();
    let tree = gix::objs::FindExt::find_tree(objects, id, &mut buf)
        .map_err(|e| FsError::Io(format!("reading tree {id}: {e}")))?;
    Ok(tree
        .entries
        .iter()
        .map(|e| (e.filename.to_string(), e.mode.kind(), e.oid.to_owned()))
        .collect())
}

/// An atom stored as a git tree (an atom commit's tree, or the atom's
/// directory in a source commit). Trees are parsed once and kept.
pub struct GitTreeFiles {
    repo: gix::Repository,
    root: ObjectId,
    trees: RefCell<HashMap<String, Rc<TreeEntries>>>,
}

impl GitTreeFiles {
    pub fn new(repo: gix::Repository, tree: ObjectId) -> GitTreeFiles {
        GitTreeFiles {
            repo,
            root: tree,
            trees: RefCell::new(HashMap::new()),
        }
    }

    fn tree(&self, rel: &str) -> Result<Rc<TreeEntries>, FsError> {
        if let Some(t) = self.trees.borrow().get(rel) {
            return Ok(t.clone());
        }
        let id = if rel.is_empty() {
            self.root
        } else {
            match self.entry(rel)? {
                Some((EntryKind::Tree, id)) => id,
                Some(_) => return Err(FsError::Io(format!("'{rel}' is not a directory"))),
                None => return Err(FsError::NotFound),
            }
        };
        let entries = Rc::new(decode_tree(&self.repo.objects, &id)?);
        self.trees
            .borrow_mut()
            .insert(rel.to_string(), entries.clone());
        Ok(entries)
    }

    fn entry(&self, rel: &str) -> Result<Option<(EntryKind, ObjectId)>, FsError> {
        let (dir, name) = match rel.rsplit_once('/') {
            Some((d, n)) => (d, n),
            None => ("", rel),
        };
        let tree = match self.tree(dir) {
            Ok(t) => t,
            Err(FsError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(tree
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, k, id)| (*k, *id)))
    }
}

fn file_type_of(kind: EntryKind) -> FileType {
    match kind {
        EntryKind::Tree => FileType::Directory,
        EntryKind::Blob | EntryKind::BlobExecutable => FileType::Regular,
        EntryKind::Link => FileType::Symlink,
        EntryKind::Commit => FileType::Unknown,
    }
}

impl AtomFiles for GitTreeFiles {
    fn identity(&self) -> Option<Identity> {
        Some(Identity::Tree(self.root))
    }

    fn read_ahead(&self) -> Option<ReadAhead> {
        let repo = self.repo.clone().into_sync();
        let root = self.root;
        Some(ReadAhead {
            plan: Box::new(move || {
                let local = repo.to_thread_local();
                // Directory ids by path, filled as parents are listed
                // (walk_nix lists a parent before its children).
                let dirs = RefCell::new(HashMap::from([(String::new(), root)]));
                let list = |rel: &str| {
                    let id = *dirs.borrow().get(rel)?;
                    let entries = decode_tree(&local.objects, &id).ok()?;
                    let entries = entries.into_iter().map(|(name, kind, id)| {
                        let kind = file_type_of(kind);
                        if kind == FileType::Directory {
                            dirs.borrow_mut().insert(join(rel, &name), id);
                        }
                        (name, kind, id)
                    });
                    Some(entries.collect())
                };
                let mut found: Vec<(String, ObjectId)> = Vec::new();
                walk_nix("", &list, &mut found);
                let (files, ids): (Vec<String>, Vec<ObjectId>) = found.into_iter().unzip();
                let ids = Arc::new(ids);
                Plan {
                    files,
                    reader: Arc::new(move || {
                        let repo = repo.to_thread_local();
                        let ids = ids.clone();
                        Box::new(move |i| {
                            let mut buf = Vec::new();
                            gix::objs::FindExt::find_blob(&repo.objects, &ids[i], &mut buf)
                                .ok()
                                .map(|b| b.data.to_vec())
                        })
                    }),
                }
            }),
        })
    }

    fn read_file(&self, rel: &str) -> Result<Vec<u8>, FsError> {
        match self.entry(rel)? {
            Some((EntryKind::Blob | EntryKind::BlobExecutable, id)) => {
                let mut buf = Vec::new();
                let blob = gix::objs::FindExt::find_blob(&self.repo.objects, &id, &mut buf)
                    .map_err(|e| FsError::Io(format!("reading blob {id}: {e}")))?;
                Ok(blob.data.to_vec())
            }
            Some((EntryKind::Link, _)) => Err(symlink_refused(rel)),
            Some((EntryKind::Tree, _)) => Err(FsError::Io("is a directory".into())),
            Some((EntryKind::Commit, _)) => Err(FsError::Io("is a submodule".into())),
            None => Err(FsError::NotFound),
        }
    }

    fn read_dir(&self, rel: &str) -> Result<Vec<(String, FileType)>, FsError> {
        Ok(self
            .tree(rel)?
            .iter()
            .map(|(n, k, _)| (n.clone(), file_type_of(*k)))
            .collect())
    }

    fn file_type(&self, rel: &str) -> Result<Option<FileType>, FsError> {
        if rel.is_empty() {
            return Ok(Some(FileType::Directory));
        }
        Ok(self.entry(rel)?.map(|(k, _)| file_type_of(k)))
    }

    fn is_executable(&self, rel: &str) -> Result<bool, FsError> {
        Ok(matches!(
            self.entry(rel)?,
            Some((EntryKind::BlobExecutable, _))
        ))
    }
}

/// An atom directory on disk (`--worktree`). Symlinks are refused rather
/// than followed, so nothing outside the directory can be reached.
#[derive(Clone)]
pub struct DirFiles {
    root: PathBuf,
    /// The paths that exist, if not all do (see [`DirFiles::committable`]).
    visible: Option<Arc<Visible>>,
}

/// The files (and the directories holding them) of a directory that git
/// would commit, relative to it.
struct Visible {
    files: std::collections::HashSet<String>,
    dirs: std::collections::HashSet<String>,
}

impl Visible {
    fn new(files: Vec<String>) -> Visible {
        let mut dirs = std::collections::HashSet::new();
        let files: std::collections::HashSet<String> = files
            .into_iter()
            .map(|f| f.trim_end_matches('/').to_owned())
            .collect();
        for f in &files {
            let mut at = f.as_str();
            while let Some((parent, _)) = at.rsplit_once('/') {
                if !dirs.insert(parent.to_owned()) {
                    break;
                }
                at = parent;
            }
        }
        Visible { files, dirs }
    }

    fn contains(&self, rel: &str) -> bool {
        rel.is_empty() || self.files.contains(rel) || self.dirs.contains(rel)
    }
}

impl DirFiles {
    /// Every file under `root`.
    pub fn new(root: &Path) -> DirFiles {
        DirFiles {
            root: root.to_owned(),
            visible: None,
        }
    }

    /// The files under `root` that git would commit (tracked, or untracked
    /// and not ignored), as a flake sees its tree: a build's `result` link
    /// or editor files that `.gitignore` names are not part of the atom.
    /// Every file when `root` is in no git work tree.
    pub fn committable(root: &Path) -> std::io::Result<DirFiles> {
        let visible = atom_git::status::committable(root)?.map(|f| Arc::new(Visible::new(f)));
        Ok(DirFiles {
            root: root.to_owned(),
            visible,
        })
    }

    fn is_visible(&self, rel: &str) -> bool {
        self.visible.as_ref().is_none_or(|v| v.contains(rel))
    }

    fn path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// Refuses a path if any of its components is a symlink.
    fn check(&self, rel: &str) -> Result<(), FsError> {
        let mut p = self.root.clone();
        for part in rel.split('/').filter(|s| !s.is_empty()) {
            p.push(part);
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(rel)),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(FsError::NotFound)
                }
                Err(e) => return Err(FsError::Io(e.to_string())),
            }
        }
        Ok(())
    }
}

fn io_error(e: std::io::Error) -> FsError {
    match e.kind() {
        std::io::ErrorKind::NotFound => FsError::NotFound,
        _ => FsError::Io(e.to_string()),
    }
}

fn disk_type(t: std::fs::FileType) -> FileType {
    if t.is_symlink() {
        FileType::Symlink
    } else if t.is_dir() {
        FileType::Directory
    } else if t.is_file() {
        FileType::Regular
    } else {
        FileType::Unknown
    }
}

impl AtomFiles for DirFiles {
    fn identity(&self) -> Option<Identity> {
        Some(Identity::Dir(
            self.root
                .canonicalize()
                .unwrap_or_else(|_| self.root.clone()),
        ))
    }

    fn read_ahead(&self) -> Option<ReadAhead> {
        let walker = self.clone();
        Some(ReadAhead {
            plan: Box::new(move || {
                let mut found: Vec<(String, ())> = Vec::new();
                let list = |rel: &str| {
                    walker
                        .read_dir(rel)
                        .ok()
                        .map(|v| v.into_iter().map(|(n, k)| (n, k, ())).collect())
                };
                walk_nix("", &list, &mut found);
                let files: Vec<String> = found.into_iter().map(|(f, ())| f).collect();
                let paths: Arc<Vec<PathBuf>> =
                    Arc::new(files.iter().map(|f| walker.root.join(f)).collect());
                Plan {
                    files,
                    reader: Arc::new(move || {
                        let paths = paths.clone();
                        // Symlinks are not followed here either
                        // (`DirFiles::check` refuses them when the
                        // evaluator reads the file itself).
                        Box::new(move |i| match std::fs::symlink_metadata(&paths[i]) {
                            Ok(m) if m.file_type().is_file() => std::fs::read(&paths[i]).ok(),
                            _ => None,
                        })
                    }),
                }
            }),
        })
    }

    /// Reads a regular file only: a FIFO or a device would block or
    /// never end.
    fn read_file(&self, rel: &str) -> Result<Vec<u8>, FsError> {
        if !self.is_visible(rel) {
            return Err(FsError::NotFound);
        }
        self.check(rel)?;
        let path = self.path(rel);
        let kind = std::fs::symlink_metadata(&path)
            .map_err(io_error)?
            .file_type();
        if !kind.is_file() {
            return Err(FsError::Io(format!("'{rel}' is not a regular file")));
        }
        std::fs::read(path).map_err(io_error)
    }

    fn read_dir(&self, rel: &str) -> Result<Vec<(String, FileType)>, FsError> {
        if !self.is_visible(rel) {
            return Err(FsError::NotFound);
        }
        self.check(rel)?;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.path(rel)).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = match rel.is_empty() {
                true => name.clone(),
                false => format!("{rel}/{name}"),
            };
            if !self.is_visible(&path) {
                continue;
            }
            let t = entry.file_type().map_err(io_error)?;
            out.push((name, disk_type(t)));
        }
        Ok(out)
    }

    fn file_type(&self, rel: &str) -> Result<Option<FileType>, FsError> {
        if !self.is_visible(rel) {
            return Ok(None);
        }
        let (dir, _) = rel.rsplit_once('/').unwrap_or(("", rel));
        match self.check(dir) {
            Ok(()) => {}
            Err(FsError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        }
        match std::fs::symlink_metadata(self.path(rel)) {
            Ok(m) => Ok(Some(disk_type(m.file_type()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(FsError::Io(e.to_string())),
        }
    }

    fn is_executable(&self, rel: &str) -> Result<bool, FsError> {
        use std::os::unix::fs::PermissionsExt;
        self.check(rel)?;
        let meta = std::fs::symlink_metadata(self.path(rel)).map_err(io_error)?;
        Ok(meta.is_file() && meta.permissions().mode() & 0o100 != 0)
    }
}

/// The evaluator's whole file system: every loaded atom under
/// `/<mount>/`. Shared with the composer, which mounts dependencies as it
/// loads them.
#[derive(Clone, Default)]
pub struct MountTable {
    mounts: Rc<RefCell<HashMap<String, Rc<dyn AtomFiles>>>>,
}

impl MountTable {
    /// Mounts `files` under `/<name>`, or under `/<name>~2`… if that is
    /// taken; returns the mount directory.
    pub fn mount(&self, name: &str, files: Rc<dyn AtomFiles>) -> String {
        let mut mounts = self.mounts.borrow_mut();
        let mut candidate = name.to_string();
        let mut n = 1;
        while mounts.contains_key(&candidate) {
            n += 1;
            candidate = format!("{name}~{n}");
        }
        mounts.insert(candidate.clone(), files);
        format!("/{candidate}")
    }

    /// `/<mount>[:<module dir, ':'-separated>]/<rest>` -> the atom's files
    /// and the path in the atom, refusing what a module may not read
    /// through its directory: Nix sources (`<name>.nix`, as atom-nix leaves
    /// them out of a module's directory; `a.b.nix` is data) and anything of
    /// a submodule (which has its own directory string).
    fn resolve(&self, path: &str) -> Result<(Rc<dyn AtomFiles>, String), FsError> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let (first, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let (mount, module) = match first.split_once(':') {
            Some((m, dir)) => (m, dir.replace(':', "/")),
            None => (first, String::new()),
        };
        let files = match self.mounts.borrow().get(mount) {
            Some(files) => files.clone(),
            None => return Err(FsError::NotFound),
        };
        let mut rel = module.clone();
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            rel = join(&rel, part);
            let last = i + 1 == parts.len();
            if last && crate::compose::nix_source_stem(part).is_some() {
                return Err(FsError::Io(
                    "Nix files of a module are its members: use `mod.<name>`, not their text"
                        .into(),
                ));
            }
            if let Ok(Some(FileType::Regular)) = files.file_type(&join(&rel, "mod.nix")) {
                return Err(FsError::Io(format!(
                    "'{part}' is a submodule; its files are read through its own `\"${{mod}}\"`"
                )));
            }
        }
        Ok((files, rel))
    }
}

/// Whether the directory `rel` of `files` is a module (holds a regular
/// `mod.nix`): its files are not the data of the module around it.
fn is_module(files: &dyn AtomFiles, rel: &str) -> bool {
    matches!(
        files.file_type(&join(rel, "mod.nix")),
        Ok(Some(FileType::Regular))
    )
}

/// A directory's kept entries: a file's node, or `None` for a
/// subdirectory filled in once its own entries are read.
type ListedDir = Vec<(String, Option<MemTree>)>;

/// The data of the module directory `rel` as atom-nix copies it to the
/// store (`rmNixSrcs` in its `core/mod.nix`: `builtins.path` whose filter
/// keeps regular files that are not Nix sources and directories that are
/// not modules; symbolic links and anything else are left out), read into
/// memory so that it can be written again from another thread (`eka
/// build`).
fn module_data(files: &dyn AtomFiles, rel: &str) -> Result<MemTree, FsError> {
    // Iterative: a directory's entries are read before its subdirectories
    // are filled in, deepest first.
    let mut pending = vec![(rel.to_owned(), 0usize)];
    let mut listed: Vec<(String, ListedDir)> = Vec::new();
    while let Some((dir, depth)) = pending.pop() {
        let mut entries = Vec::new();
        for (name, kind) in files.read_dir(&dir)? {
            let child = join(&dir, &name);
            match kind {
                FileType::Regular if crate::compose::nix_source_stem(&name).is_none() => {
                    let contents = files.read_file(&child)?;
                    let node = if files.is_executable(&child)? {
                        MemTree::executable(contents)
                    } else {
                        MemTree::file(contents)
                    };
                    entries.push((name, Some(node)));
                }
                FileType::Directory if !is_module(files, &child) => {
                    if depth >= MAX_WALK_DEPTH {
                        return Err(FsError::Io(format!(
                            "'{child}' is more than {MAX_WALK_DEPTH} directories deep"
                        )));
                    }
                    pending.push((child, depth + 1));
                    entries.push((name, None));
                }
                _ => {}
            }
        }
        listed.push((dir, entries));
    }
    let mut done: HashMap<String, MemTree> = HashMap::new();
    // Children were listed after their parents: fill in from the end.
    for (dir, entries) in listed.into_iter().rev() {
        let entries = entries.into_iter().map(|(name, node)| {
            let node = node.unwrap_or_else(|| {
                done.remove(&join(&dir, &name))
                    .expect("a subdirectory is listed after its parent")
            });
            (name, node)
        });
        let tree = MemTree::dir(entries.collect::<Vec<_>>());
        done.insert(dir, tree);
    }
    Ok(done.remove(rel).expect("the directory itself was listed"))
}

impl FileSystem for MountTable {
    /// A module's directory (`/<mount>[:a:b]`, nothing below it) as
    /// atom-nix copies it to the store: what `"${mod}"` is in a derivation.
    fn nar_source(&self, path: &str) -> Result<Option<Arc<dyn NarSource>>, FsError> {
        let module_dir = path.strip_prefix('/').unwrap_or(path);
        if module_dir.contains('/') {
            return Ok(None);
        }
        let (files, rel) = self.resolve(path)?;
        let tree = module_data(&*files, &rel)?;
        Ok(Some(Arc::new(tree)))
    }

    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let (files, rel) = self.resolve(path)?;
        files.read_file(&rel)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<(String, FileType)>, FsError> {
        if path == "/" {
            return Err(FsError::NotFound);
        }
        let (files, rel) = self.resolve(path)?;
        // What a module directory holds as data: no members, no submodules.
        let mut out = Vec::new();
        for (name, kind) in files.read_dir(&rel)? {
            let child = join(&rel, &name);
            let hidden = match kind {
                FileType::Regular => crate::compose::nix_source_stem(&name).is_some(),
                FileType::Directory => matches!(
                    files.file_type(&format!("{child}/mod.nix")),
                    Ok(Some(FileType::Regular))
                ),
                _ => false,
            };
            if !hidden {
                out.push((name, kind));
            }
        }
        Ok(out)
    }

    fn file_type(&self, path: &str) -> Result<Option<FileType>, FsError> {
        if path == "/" {
            return Ok(None);
        }
        match self.resolve(path) {
            Ok((files, rel)) => files.file_type(&rel),
            Err(FsError::NotFound) => Ok(None),
            Err(FsError::Io(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A working tree 5,000 directories deep is walked without recursion
    /// (SIGSEGV on the test thread's stack before); the `.nix` files
    /// within the bound are found, in order.
    #[test]
    fn a_deep_working_tree_is_walked_without_overflow() {
        let depth = 5000;
        let list = move |rel: &str| {
            let level = if rel.is_empty() {
                0
            } else {
                rel.split('/').count()
            };
            (level < depth).then(|| {
                vec![
                    ("d".to_owned(), FileType::Directory, ()),
                    ("f.nix".to_owned(), FileType::Regular, ()),
                ]
            })
        };
        let mut found = Vec::new();
        // A small stack: the recursive walk needed about 300 bytes a level.
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                walk_nix("", &list, &mut found);
                found
            })
            .unwrap()
            .join()
            .map(|found| {
                assert_eq!(found.len(), MAX_WALK_DEPTH + 1);
                assert_eq!(found[0].0, format!("{}f.nix", "d/".repeat(MAX_WALK_DEPTH)));
                assert_eq!(found.last().unwrap().0, "f.nix");
            })
            .unwrap();
    }

    /// A FIFO in a working tree is refused, not opened (which would block
    /// for ever).
    #[test]
    fn a_fifo_is_refused_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("data.txt");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let files = DirFiles::new(dir.path());
        assert!(
            matches!(files.read_file("data.txt"), Err(FsError::Io(m)) if m.contains("not a regular file"))
        );
        assert_eq!(
            files.file_type("data.txt").unwrap(),
            Some(FileType::Unknown)
        );
    }

    #[test]
    fn dir_files_refuse_symlinks_and_paths_outside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("sub/etc")).unwrap();
        let files = DirFiles::new(dir.path());
        assert_eq!(files.read_file("a.txt").unwrap(), b"a");
        assert_eq!(files.read_file("sub/b.txt").unwrap(), b"b");
        assert!(
            matches!(files.read_file("sub/etc/passwd"), Err(FsError::Io(m)) if m.contains("symbolic link"))
        );
        assert_eq!(files.file_type("sub/etc").unwrap(), Some(FileType::Symlink));
        assert_eq!(files.file_type("nope/x").unwrap(), None);

        let table = MountTable::default();
        let root = table.mount("a@1.0.0", Rc::new(files));
        assert_eq!(root, "/a@1.0.0");
        assert_eq!(table.read_file("/a@1.0.0/a.txt").unwrap(), b"a");
        assert_eq!(table.read_file("/elsewhere/a.txt"), Err(FsError::NotFound));
        assert_eq!(table.file_type("/").unwrap(), None);
        let other = table.mount("a@1.0.0", Rc::new(DirFiles::new(dir.path())));
        assert_eq!(other, "/a@1.0.0~2");
    }
}
