//! The file system as the evaluated code sees it. The host decides: `eka
//! eval` gives a real directory tree under one root; the module system will
//! give a read-only view of a git tree, or nothing at all.

use std::path::{Path, PathBuf};

/// The type of a directory entry, as `builtins.readDir` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    Unknown,
}

impl FileType {
    /// Nix's name for it.
    pub fn nix_name(self) -> &'static str {
        match self {
            FileType::Regular => "regular",
            FileType::Directory => "directory",
            FileType::Symlink => "symlink",
            FileType::Unknown => "unknown",
        }
    }
}

/// Why a file-system access failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("outside the root '{root}'")]
    OutsideRoot { root: String },
    /// A failure the file system describes itself.
    #[error("{0}")]
    Io(String),
    /// A failure of the operating system.
    #[error("{0}")]
    Os(#[source] crate::error::SharedCause),
}

/// All file access of evaluated code goes through this trait. Paths are
/// absolute, canonical (lexically: no `.`, `..` or duplicate slashes), and
/// in the host's namespace.
pub trait FileSystem {
    /// The bytes of a file; symlinks are followed.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError>;
    /// Entry names and their types (symlinks are not followed), in any order.
    fn read_dir(&self, path: &str) -> Result<Vec<(String, FileType)>, FsError>;
    /// The type of `path` without following a final symlink, or `None` if it
    /// does not exist.
    fn file_type(&self, path: &str) -> Result<Option<FileType>, FsError>;
    /// The file tree at `path` as Nix would copy it to the store
    /// (`"${./dir}"`), or `None` when this file system cannot provide one.
    fn nar_source(
        &self,
        path: &str,
    ) -> Result<Option<std::sync::Arc<dyn atom_store::NarSource>>, FsError> {
        let _ = path;
        Ok(None)
    }
    /// Whether `path` exists, following symlinks.
    fn exists(&self, path: &str) -> Result<bool, FsError> {
        match self.file_type(path)? {
            Some(FileType::Symlink) => match self.read_file(path) {
                Ok(_) => Ok(true),
                Err(FsError::NotFound) => Ok(false),
                Err(FsError::Io(_) | FsError::Os(_)) => Ok(true),
                Err(e) => Err(e),
            },
            other => Ok(other.is_some()),
        }
    }
}

/// No files at all: every access is "not found".
pub struct NoFileSystem;

impl FileSystem for NoFileSystem {
    fn read_file(&self, _: &str) -> Result<Vec<u8>, FsError> {
        Err(FsError::NotFound)
    }
    fn read_dir(&self, _: &str) -> Result<Vec<(String, FileType)>, FsError> {
        Err(FsError::NotFound)
    }
    fn file_type(&self, _: &str) -> Result<Option<FileType>, FsError> {
        Ok(None)
    }
}

/// A real directory tree: anything that resolves (symlinks included)
/// outside `root` is refused.
pub struct RootedFileSystem {
    root: PathBuf,
}

impl RootedFileSystem {
    /// `root` is canonicalized; it must exist.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        Ok(RootedFileSystem {
            root: root.canonicalize()?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn outside(&self) -> FsError {
        FsError::OutsideRoot {
            root: self.root.display().to_string(),
        }
    }

    /// Checks that `path`, with its symlinks resolved, stays inside the root.
    fn check(&self, path: &str, follow_last: bool) -> Result<PathBuf, FsError> {
        let p = Path::new(path);
        if !p.starts_with(&self.root) {
            return Err(self.outside());
        }
        let resolved = if follow_last {
            p.canonicalize().map_err(io_error)?
        } else {
            match (p.parent(), p.file_name()) {
                (Some(parent), Some(name)) => parent.canonicalize().map_err(io_error)?.join(name),
                _ => p.canonicalize().map_err(io_error)?,
            }
        };
        if !resolved.starts_with(&self.root) {
            return Err(self.outside());
        }
        Ok(resolved)
    }
}

fn io_error(e: std::io::Error) -> FsError {
    if e.kind() == std::io::ErrorKind::NotFound {
        FsError::NotFound
    } else {
        FsError::Os(crate::error::SharedCause::new(e))
    }
}

fn to_file_type(t: std::fs::FileType) -> FileType {
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

impl FileSystem for RootedFileSystem {
    fn read_file(&self, path: &str) -> Result<Vec<u8>, FsError> {
        let p = self.check(path, true)?;
        std::fs::read(p).map_err(io_error)
    }

    fn read_dir(&self, path: &str) -> Result<Vec<(String, FileType)>, FsError> {
        let p = self.check(path, true)?;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(p).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let t = entry.file_type().map_err(io_error)?;
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                to_file_type(t),
            ));
        }
        Ok(out)
    }

    fn nar_source(
        &self,
        path: &str,
    ) -> Result<Option<std::sync::Arc<dyn atom_store::NarSource>>, FsError> {
        let p = self.check(path, false)?;
        std::fs::symlink_metadata(&p).map_err(io_error)?;
        Ok(Some(std::sync::Arc::new(atom_store::nar::FsTree::new(p))))
    }

    fn file_type(&self, path: &str) -> Result<Option<FileType>, FsError> {
        let p = match self.check(path, false) {
            Ok(p) => p,
            Err(FsError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        match std::fs::symlink_metadata(p) {
            Ok(m) => Ok(Some(to_file_type(m.file_type()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooted_fs_refuses_outside_and_symlink_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a.nix"), "1").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret"), root.join("link")).unwrap();
        let fs = RootedFileSystem::new(&root).unwrap();
        let r = fs.root().display().to_string();
        assert_eq!(fs.read_file(&format!("{r}/a.nix")).unwrap(), b"1");
        let outside = format!("{}/secret", fs.root().parent().unwrap().display());
        assert!(matches!(
            fs.read_file(&outside),
            Err(FsError::OutsideRoot { .. })
        ));
        #[cfg(unix)]
        assert!(matches!(
            fs.read_file(&format!("{r}/link")),
            Err(FsError::OutsideRoot { .. })
        ));
        assert_eq!(fs.file_type(&format!("{r}/missing")).unwrap(), None);
        assert!(matches!(
            fs.read_file(&format!("{r}/missing")),
            Err(FsError::NotFound)
        ));
    }
}
