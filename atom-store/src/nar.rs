//! The NAR serialisation of a file tree (`libutil/archive.cc`), which is
//! what Nix hashes for recursive (source) store paths and what it is sent
//! to add them.
//!
//! The tree comes from a [`FileTree`], so the module system can feed git
//! trees and tests in-memory files; [`FsTree`] reads a directory. The
//! serialiser sorts directory entries by their bytes (Nix's `std::map`)
//! and refuses names Nix could not restore.
//!
//! Format: every string is a little-endian `u64` length, the bytes, and
//! zero padding to a multiple of 8. A NAR is `nix-archive-1` then a node:
//! `( type regular [executable ""] contents <bytes> )`,
//! `( type symlink target <target> )` or
//! `( type directory entry ( name <name> node <node> ) … )`.

use std::borrow::Cow;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::hash::{Hash, HashAlgo, Hasher};

/// One node of a file tree, as its [`FileTree`] describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node<Id> {
    Regular { file: Id, executable: bool },
    Symlink { target: Vec<u8> },
    Directory { dir: Id },
}

/// A directory's entries: name and node.
pub type Entries<Id> = Vec<(Vec<u8>, Node<Id>)>;

/// A source of file trees to serialise. `Id` names a file or directory
/// to the source (a path, a git object id, …).
pub trait FileTree {
    type Id;
    type Error: std::error::Error + Send + Sync + 'static;

    /// The node at the root of the tree.
    fn root(&self) -> Result<Node<Self::Id>, Self::Error>;
    /// The entries of a directory, in any order.
    fn read_dir(&self, dir: &Self::Id) -> Result<Entries<Self::Id>, Self::Error>;
    /// The contents of a regular file.
    fn read_file(&self, file: &Self::Id) -> Result<Cow<'_, [u8]>, Self::Error>;
}

/// Why a tree could not be serialised.
#[derive(Debug, thiserror::Error)]
pub enum NarError<E: std::error::Error + 'static> {
    #[error("reading the file tree")]
    Tree(#[source] E),
    #[error("writing the NAR")]
    Io(#[source] io::Error),
    #[error("the file tree has an entry named '{}', which a NAR cannot hold", String::from_utf8_lossy(.0))]
    BadName(Vec<u8>),
    #[error("the file tree has two entries named '{}' in one directory", String::from_utf8_lossy(.0))]
    DuplicateName(Vec<u8>),
}

/// Writes the NAR of `tree` to `out`.
pub fn write_nar<T: FileTree, W: Write + ?Sized>(
    tree: &T,
    out: &mut W,
) -> Result<(), NarError<T::Error>> {
    let root = tree.root().map_err(NarError::Tree)?;
    let mut writer = NarWriter { out };
    writer.string(b"nix-archive-1")?;
    writer.node(tree, root)
}

/// The NAR of `tree` as bytes.
pub fn nar_bytes<T: FileTree>(tree: &T) -> Result<Vec<u8>, NarError<T::Error>> {
    let mut out = Vec::new();
    write_nar(tree, &mut out)?;
    Ok(out)
}

/// The hash of the NAR of `tree`, streamed (`hashPath`).
pub fn nar_hash<T: FileTree>(tree: &T, algo: HashAlgo) -> Result<Hash, NarError<T::Error>> {
    let mut hasher = Hasher::new(algo);
    write_nar(tree, &mut hasher)?;
    Ok(hasher.finish())
}

struct NarWriter<'w, W: Write + ?Sized> {
    out: &'w mut W,
}

impl<W: Write + ?Sized> NarWriter<'_, W> {
    fn string<E: std::error::Error>(&mut self, bytes: &[u8]) -> Result<(), NarError<E>> {
        let padding = (8 - bytes.len() % 8) % 8;
        self.out
            .write_all(&(bytes.len() as u64).to_le_bytes())
            .and_then(|()| self.out.write_all(bytes))
            .and_then(|()| self.out.write_all(&[0; 8][..padding]))
            .map_err(NarError::Io)
    }

    fn strings<E: std::error::Error>(&mut self, parts: &[&[u8]]) -> Result<(), NarError<E>> {
        parts.iter().try_for_each(|part| self.string(part))
    }

    fn node<T: FileTree>(&mut self, tree: &T, node: Node<T::Id>) -> Result<(), NarError<T::Error>> {
        self.strings(&[b"(", b"type"])?;
        match node {
            Node::Regular { file, executable } => {
                self.string(b"regular")?;
                if executable {
                    self.strings(&[b"executable", b""])?;
                }
                let contents = tree.read_file(&file).map_err(NarError::Tree)?;
                self.strings(&[b"contents", &contents])?;
            }
            Node::Symlink { target } => self.strings(&[b"symlink", b"target", &target])?,
            Node::Directory { dir } => {
                self.string(b"directory")?;
                for (name, child) in sorted_entries(tree, &dir)? {
                    self.strings(&[b"entry", b"(", b"name", &name, b"node"])?;
                    self.node(tree, child)?;
                    self.string(b")")?;
                }
            }
        }
        self.string(b")")
    }
}

fn sorted_entries<T: FileTree>(
    tree: &T,
    dir: &T::Id,
) -> Result<Entries<T::Id>, NarError<T::Error>> {
    let mut entries = tree.read_dir(dir).map_err(NarError::Tree)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, _)) in entries.iter().enumerate() {
        if !is_valid_entry_name(name) {
            return Err(NarError::BadName(name.clone()));
        }
        if i > 0 && entries[i - 1].0 == *name {
            return Err(NarError::DuplicateName(name.clone()));
        }
    }
    Ok(entries)
}

/// What Nix's NAR parser accepts as an entry name.
fn is_valid_entry_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// A directory (or file, or symlink) on the local file system, read as
/// Nix's `dumpPath` reads it: a regular file is executable when its owner
/// may execute it; other kinds of files are refused.
#[derive(Clone, Debug)]
pub struct FsTree {
    root: PathBuf,
}

impl FsTree {
    pub fn new(root: impl Into<PathBuf>) -> FsTree {
        FsTree { root: root.into() }
    }

    fn node(path: PathBuf) -> Result<Node<PathBuf>, io::Error> {
        let meta = fs::symlink_metadata(&path)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&path)?;
            Ok(Node::Symlink {
                target: target.as_os_str().as_bytes().to_vec(),
            })
        } else if kind.is_dir() {
            Ok(Node::Directory { dir: path })
        } else if kind.is_file() {
            let executable = meta.permissions().mode() & 0o100 != 0;
            Ok(Node::Regular {
                file: path,
                executable,
            })
        } else {
            Err(io::Error::other(format!(
                "file '{}' has an unsupported type",
                path.display()
            )))
        }
    }
}

impl FileTree for FsTree {
    type Id = PathBuf;
    type Error = io::Error;

    fn root(&self) -> Result<Node<PathBuf>, io::Error> {
        FsTree::node(self.root.clone())
    }

    fn read_dir(&self, dir: &PathBuf) -> Result<Entries<PathBuf>, io::Error> {
        fs::read_dir(dir)?
            .map(|entry| {
                let entry = entry?;
                let name = entry.file_name().as_bytes().to_vec();
                Ok((name, FsTree::node(entry.path())?))
            })
            .collect()
    }

    fn read_file(&self, file: &PathBuf) -> Result<Cow<'_, [u8]>, io::Error> {
        fs::read(file).map(Cow::Owned)
    }
}

/// A file tree held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemTree {
    File { contents: Vec<u8>, executable: bool },
    Symlink { target: Vec<u8> },
    Directory(std::collections::BTreeMap<Vec<u8>, MemTree>),
}

impl MemTree {
    pub fn file(contents: impl Into<Vec<u8>>) -> MemTree {
        MemTree::File {
            contents: contents.into(),
            executable: false,
        }
    }

    pub fn executable(contents: impl Into<Vec<u8>>) -> MemTree {
        MemTree::File {
            contents: contents.into(),
            executable: true,
        }
    }

    pub fn symlink(target: impl Into<Vec<u8>>) -> MemTree {
        MemTree::Symlink {
            target: target.into(),
        }
    }

    pub fn dir<N: Into<Vec<u8>>>(entries: impl IntoIterator<Item = (N, MemTree)>) -> MemTree {
        MemTree::Directory(entries.into_iter().map(|(n, t)| (n.into(), t)).collect())
    }

    fn at(&self, path: &[Vec<u8>]) -> &MemTree {
        path.iter().fold(self, |node, name| match node {
            MemTree::Directory(entries) => &entries[name],
            _ => unreachable!("ids only name nodes the tree listed"),
        })
    }

    fn node_of(&self, path: Vec<Vec<u8>>) -> Node<Vec<Vec<u8>>> {
        match self.at(&path) {
            MemTree::File { executable, .. } => Node::Regular {
                file: path,
                executable: *executable,
            },
            MemTree::Symlink { target } => Node::Symlink {
                target: target.clone(),
            },
            MemTree::Directory(_) => Node::Directory { dir: path },
        }
    }
}

impl FileTree for MemTree {
    /// The names from the root down.
    type Id = Vec<Vec<u8>>;
    type Error = std::convert::Infallible;

    fn root(&self) -> Result<Node<Self::Id>, Self::Error> {
        Ok(self.node_of(Vec::new()))
    }

    fn read_dir(&self, dir: &Self::Id) -> Result<Entries<Self::Id>, Self::Error> {
        let MemTree::Directory(entries) = self.at(dir) else {
            unreachable!("ids of directories name directories")
        };
        Ok(entries
            .keys()
            .map(|name| {
                let mut path = dir.clone();
                path.push(name.clone());
                (name.clone(), self.node_of(path))
            })
            .collect())
    }

    fn read_file(&self, file: &Self::Id) -> Result<Cow<'_, [u8]>, Self::Error> {
        match self.at(file) {
            MemTree::File { contents, .. } => Ok(Cow::Borrowed(contents)),
            _ => unreachable!("ids of files name files"),
        }
    }
}

/// A tree with some entries left out, as `builtins.path`'s `filter` or
/// `builtins.filterSource` leave them out: `keep` is asked about every
/// entry below the root (with its path relative to the root, `/`-joined,
/// and its node, which it may inspect through the tree); an entry it
/// refuses is left out with everything below it.
pub struct Filtered<T, F> {
    tree: T,
    keep: F,
}

impl<T, F> Filtered<T, F>
where
    T: FileTree,
    F: Fn(&T, &[u8], &Node<T::Id>) -> bool,
{
    pub fn new(tree: T, keep: F) -> Filtered<T, F> {
        Filtered { tree, keep }
    }
}

fn with_path<Id>(node: Node<Id>, path: Vec<u8>) -> Node<(Id, Vec<u8>)> {
    match node {
        Node::Regular { file, executable } => Node::Regular {
            file: (file, path),
            executable,
        },
        Node::Symlink { target } => Node::Symlink { target },
        Node::Directory { dir } => Node::Directory { dir: (dir, path) },
    }
}

impl<T, F> FileTree for Filtered<T, F>
where
    T: FileTree,
    F: Fn(&T, &[u8], &Node<T::Id>) -> bool,
{
    /// The inner id and the path from the root.
    type Id = (T::Id, Vec<u8>);
    type Error = T::Error;

    fn root(&self) -> Result<Node<Self::Id>, Self::Error> {
        Ok(with_path(self.tree.root()?, Vec::new()))
    }

    fn read_dir(&self, dir: &Self::Id) -> Result<Entries<Self::Id>, Self::Error> {
        let (inner, path) = dir;
        let mut kept = Vec::new();
        for (name, node) in self.tree.read_dir(inner)? {
            let mut child = path.clone();
            if !child.is_empty() {
                child.push(b'/');
            }
            child.extend_from_slice(&name);
            if (self.keep)(&self.tree, &child, &node) {
                kept.push((name, with_path(node, child)));
            }
        }
        Ok(kept)
    }

    fn read_file(&self, file: &Self::Id) -> Result<Cow<'_, [u8]>, Self::Error> {
        self.tree.read_file(&file.0)
    }
}

/// A file tree that is a path on disk; `nar_hash(&FsTree::new(path))`.
pub fn hash_path(path: &Path, algo: HashAlgo) -> Result<Hash, NarError<io::Error>> {
    nar_hash(&FsTree::new(path), algo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nar_string(s: &[u8]) -> Vec<u8> {
        let mut out = (s.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(s);
        out.resize(out.len().div_ceil(8) * 8, 0);
        out
    }

    fn nar_of(parts: &[&[u8]]) -> Vec<u8> {
        parts.iter().flat_map(|p| nar_string(p)).collect()
    }

    #[test]
    fn a_regular_file_follows_the_format() {
        let nar = nar_bytes(&MemTree::file("hello")).unwrap();
        let expected = nar_of(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"regular",
            b"contents",
            b"hello",
            b")",
        ]);
        assert_eq!(nar, expected);
    }

    #[test]
    fn directory_entries_are_sorted_by_bytes() {
        let tree = MemTree::dir([
            ("b", MemTree::executable("x")),
            ("B", MemTree::symlink("b")),
        ]);
        let nar = nar_bytes(&tree).unwrap();
        let expected = nar_of(&[
            b"nix-archive-1",
            b"(",
            b"type",
            b"directory",
            b"entry",
            b"(",
            b"name",
            b"B",
            b"node",
            b"(",
            b"type",
            b"symlink",
            b"target",
            b"b",
            b")",
            b")",
            b"entry",
            b"(",
            b"name",
            b"b",
            b"node",
            b"(",
            b"type",
            b"regular",
            b"executable",
            b"",
            b"contents",
            b"x",
            b")",
            b")",
            b")",
        ]);
        assert_eq!(nar, expected);
    }

    #[test]
    fn names_a_nar_cannot_hold_are_refused() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            let tree = MemTree::dir([(bad.to_vec(), MemTree::file(""))]);
            assert!(
                matches!(nar_bytes(&tree), Err(NarError::BadName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_file_system_reads_like_memory() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), "A").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        let script = dir.path().join("sub/run");
        fs::write(&script, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../a", dir.path().join("sub/link")).unwrap();
        let mem = MemTree::dir([
            ("a", MemTree::file("A")),
            (
                "sub",
                MemTree::dir([
                    ("run", MemTree::executable("#!/bin/sh\n")),
                    ("link", MemTree::symlink("../a")),
                ]),
            ),
        ]);
        assert_eq!(
            nar_bytes(&FsTree::new(dir.path())).unwrap(),
            nar_bytes(&mem).unwrap()
        );
    }
}
