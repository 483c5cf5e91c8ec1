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
//! be plain names (no `.`, `..`, `.git`, `/` or NUL), and a symlink must point
//! inside the atom.

use std::collections::HashMap;
use std::fmt;

use gix::objs::tree::EntryKind;
use gix::objs::FindExt;
use gix::ObjectId;

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

/// Why a tree has no digest: it is incomplete or unsafe to hand out.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error("`{path}`: object {id} is missing or unreadable: {source}")]
    Object {
        path: String,
        id: ObjectId,
        source: gix::Error,
    },
    #[error("`{path}`: `{name}` is not an allowed file name in an atom")]
    BadName { path: String, name: String },
    #[error("`{path}`: the name appears twice in one directory")]
    DuplicateName { path: String },
    #[error("`{path}`: the symlink points outside the atom (to `{target}`)")]
    SymlinkEscapes { path: String, target: String },
}

/// Computes content digests, remembering what it has seen: blobs by id, and
/// trees by id and depth (a symlink's validity depends on how deep its tree
/// sits in the atom).
pub struct Digester<'r, O> {
    objects: &'r O,
    blobs: HashMap<ObjectId, [u8; 32]>,
    trees: HashMap<(ObjectId, usize), [u8; 32]>,
    buf: Vec<u8>,
}

impl<'r, O: gix::objs::Find> Digester<'r, O> {
    pub fn new(objects: &'r O) -> Self {
        Digester {
            objects,
            blobs: HashMap::new(),
            trees: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// The digest of the atom whose root tree is `tree`.
    pub fn atom_digest(&mut self, tree: ObjectId) -> Result<ContentDigest, DigestError> {
        let mut path = Vec::new();
        self.tree(tree, &mut path).map(ContentDigest)
    }

    fn tree(&mut self, id: ObjectId, path: &mut Vec<String>) -> Result<[u8; 32], DigestError> {
        if let Some(d) = self.trees.get(&(id, path.len())) {
            return Ok(*d);
        }
        let tree = self
            .objects
            .find_tree(&id, &mut self.buf)
            .map_err(object_error(path, id))?;
        let mut entries: Vec<(EntryKind, Vec<u8>, ObjectId)> = tree
            .entries
            .iter()
            .map(|e| (e.mode.kind(), e.filename.to_vec(), e.oid.to_owned()))
            .collect();
        entries.sort_by(|a, b| a.1.cmp(&b.1));
        if let Some(w) = entries.windows(2).find(|w| w[0].1 == w[1].1) {
            path.push(String::from_utf8_lossy(&w[0].1).into_owned());
            return Err(DigestError::DuplicateName {
                path: display_path(path),
            });
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"tree");
        hasher.update(&(entries.len() as u64).to_le_bytes());
        for (kind, name, oid) in entries {
            let name_str = String::from_utf8_lossy(&name).into_owned();
            if !is_allowed_name(&name) {
                return Err(DigestError::BadName {
                    path: display_path(path),
                    name: name_str,
                });
            }
            path.push(name_str);
            let (tag, child) = match kind {
                EntryKind::Tree => (b'd', self.tree(oid, path)?),
                EntryKind::Blob => (b'f', self.blob(oid, path)?),
                EntryKind::BlobExecutable => (b'x', self.blob(oid, path)?),
                EntryKind::Link => {
                    self.check_symlink(oid, path)?;
                    (b'l', self.blob(oid, path)?)
                }
                EntryKind::Commit => {
                    let mut h = blake3::Hasher::new();
                    h.update(b"gitlink");
                    h.update(oid.as_bytes());
                    (b'm', *h.finalize().as_bytes())
                }
            };
            path.pop();
            hasher.update(&[tag]);
            hasher.update(&(name.len() as u64).to_le_bytes());
            hasher.update(&name);
            hasher.update(&child);
        }
        let digest = *hasher.finalize().as_bytes();
        self.trees.insert((id, path.len()), digest);
        Ok(digest)
    }

    fn blob(&mut self, id: ObjectId, path: &[String]) -> Result<[u8; 32], DigestError> {
        if let Some(d) = self.blobs.get(&id) {
            return Ok(*d);
        }
        let blob = self
            .objects
            .find_blob(&id, &mut self.buf)
            .map_err(object_error(path, id))?;
        let digest = blob_digest(blob.data);
        self.blobs.insert(id, digest);
        Ok(digest)
    }

    /// `path` ends with the link's own name; its target is resolved relative
    /// to the directory holding it and must stay inside the atom.
    fn check_symlink(&mut self, id: ObjectId, path: &[String]) -> Result<(), DigestError> {
        let blob = self
            .objects
            .find_blob(&id, &mut self.buf)
            .map_err(object_error(path, id))?;
        let target = blob.data.to_vec();
        if symlink_escapes(path.len() - 1, &target) {
            return Err(DigestError::SymlinkEscapes {
                path: display_path(path),
                target: String::from_utf8_lossy(&target).into_owned(),
            });
        }
        Ok(())
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

/// Whether a symlink at directory depth `depth` (0 = the atom root) with this
/// target leaves the atom. Resolution is lexical: absolute targets always
/// leave; each `..` climbs one directory.
fn symlink_escapes(depth: usize, target: &[u8]) -> bool {
    if target.is_empty() || target.first() == Some(&b'/') || target.contains(&0) {
        return true;
    }
    let mut level = depth as isize;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                level -= 1;
                if level < 0 {
                    return true;
                }
            }
            _ => level += 1,
        }
    }
    false
}

/// Entry names that are safe to check out anywhere: not empty, not `.` or
/// `..`, not `.git` in any case, no `/`, `\` or NUL.
pub fn is_allowed_name(name: &[u8]) -> bool {
    !(name.is_empty()
        || name == b"."
        || name == b".."
        || name.eq_ignore_ascii_case(b".git")
        || name.iter().any(|&b| b == b'/' || b == b'\\' || b == 0))
}

fn object_error(path: &[String], id: ObjectId) -> impl FnOnce(gix::Error) -> DigestError + '_ {
    move |source| DigestError::Object {
        path: display_path(path),
        id,
        source,
    }
}

fn display_path(path: &[String]) -> String {
    if path.is_empty() {
        ".".to_owned()
    } else {
        path.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_resolution() {
        assert!(!symlink_escapes(0, b"a/b"));
        assert!(!symlink_escapes(1, b"../a"));
        assert!(symlink_escapes(0, b"../a"));
        assert!(symlink_escapes(1, b"../../a"));
        assert!(symlink_escapes(0, b"/etc/passwd"));
        assert!(!symlink_escapes(0, b"./x/../y"));
        assert!(symlink_escapes(0, b"x/../../y"));
        assert!(symlink_escapes(0, b""));
    }

    #[test]
    fn names() {
        for bad in [
            &b""[..],
            b".",
            b"..",
            b".git",
            b".GIT",
            b"a/b",
            b"a\\b",
            b"a\0",
        ] {
            assert!(!is_allowed_name(bad), "{bad:?}");
        }
        for good in [&b"a"[..], b".gitignore", b"...", b"git"] {
            assert!(is_allowed_name(good), "{good:?}");
        }
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
