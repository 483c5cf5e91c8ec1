//! Writing files whole: a reader (another eka, an editor, git) sees the old
//! content or the new, never a part, and a crash leaves the old file.
//!
//! Each file is written to a temporary file beside it, synced, and renamed
//! over it. The new file has the mode the old one had, or, for a new file,
//! the mode the user's umask gives (0644 under the usual 022), as an
//! editor's save would: a temporary file alone would be 0600.

use std::fs::File;
#[cfg(unix)]
use std::fs::Permissions;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// A file's new content, fully written and synced beside it, not in place
/// yet: [`Staged::commit`] puts it in place.
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `bytes` to a temporary file beside `path` (named `.<file
/// name>.<random>`), with the mode `path` has or, if it does not exist yet,
/// the default mode of a new file.
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let dir = parent(path);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    builder.permissions(new_file_permissions());
    let mut temp = builder.tempfile_in(dir)?;
    if let Ok(meta) = std::fs::metadata(path) {
        temp.as_file().set_permissions(meta.permissions())?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    Ok(Staged {
        temp,
        path: path.to_owned(),
    })
}

impl Staged {
    /// Renames the new content over the file.
    pub fn commit(self) -> io::Result<()> {
        self.temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Renames the new content into place, unless a file is there already.
    pub fn commit_new(self) -> io::Result<()> {
        self.temp
            .persist_noclobber(&self.path)
            .map_err(|e| e.error)?;
        Ok(())
    }
}

/// Replaces `path` with `bytes`, whole.
pub fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    stage(path, bytes)?.commit()?;
    sync_dir(parent(path));
    Ok(())
}

/// Makes the renames in `dir` durable (best effort: not every file system
/// can sync a directory).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The permissions to create a new file with: read and write for all, the
/// process's umask taking away what the user does not want (as `open` with
/// mode 0666 does).
#[cfg(unix)]
fn new_file_permissions() -> Permissions {
    use std::os::unix::fs::PermissionsExt as _;
    Permissions::from_mode(0o666)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A new file gets 0666 less the umask; an existing file keeps its
    /// mode; the content is replaced whole.
    #[test]
    fn modes_follow_the_umask_or_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // Linux shows the process's umask in /proc (setting it to read it
        // would race with the other tests' files).
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let umask = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
            .expect("a Linux /proc");
        let new = dir.path().join("new.toml");
        write_whole(&new, b"a = 1\n").unwrap();
        assert_eq!(mode(&new), 0o666 & !umask);
        assert_eq!(std::fs::read(&new).unwrap(), b"a = 1\n");

        let kept = dir.path().join("kept.toml");
        std::fs::write(&kept, "old").unwrap();
        std::fs::set_permissions(&kept, Permissions::from_mode(0o640)).unwrap();
        write_whole(&kept, b"new").unwrap();
        assert_eq!(mode(&kept), 0o640);
        assert_eq!(std::fs::read(&kept).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file is left");
    }

    /// `commit_new` refuses to replace a file.
    #[test]
    fn commit_new_does_not_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("atom.toml");
        stage(&path, b"first").unwrap().commit_new().unwrap();
        assert!(stage(&path, b"second").unwrap().commit_new().is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
    }
}
