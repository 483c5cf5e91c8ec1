//! Where the bound files of an atom are kept between runs: one pack
//! ([`atom_eval::CompiledFiles`]) per atom, named by what its files are (a
//! git tree, or a directory for `--worktree`), in a folder of the user's
//! cache.
//!
//! Evaluating an atom is mostly parsing and binding its files, and an atom
//! read from git is the same files every time: the second run binds them
//! from the pack and skips both. The pack is an optimisation only. A pack
//! that is missing, unreadable, stale or damaged is ignored, and a pack
//! that cannot be written is not: the atom is evaluated from source, with
//! the same result. A pack unused for 30 days is deleted when another is
//! written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use atom_eval::{CompiledFiles, Evaluator};

use crate::files::{AtomFiles, Identity};

/// Beyond this many files a pack keeps only those the last run used, so
/// that a pack named by a git tree whose dependencies keep changing (sibling
/// atoms in a working tree) does not grow without end.
const KEEP_UNUSED_UP_TO: usize = 50_000;

/// The pack of one atom's bound files.
pub struct PackStore {
    path: PathBuf,
    /// Whether files the last run did not use stay in the pack: yes for a
    /// git tree (a lazy run uses only some of its files, which never change),
    /// no for a directory (a file edited is a new entry; its old one goes).
    keep_unused: bool,
}

/// What saving a pack did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Nothing new was bound: the pack on disk is still right.
    Unchanged,
    /// The pack was written with this many bytes.
    Written(usize),
}

impl PackStore {
    /// The pack of `files` in `dir`, if they have an identity.
    pub fn for_atom(dir: &Path, files: &dyn AtomFiles) -> Option<PackStore> {
        let identity = files.identity()?;
        Some(PackStore {
            path: dir.join(file_name(&identity)),
            keep_unused: matches!(identity, Identity::Tree(_)),
        })
    }

    /// Where the pack is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pack, or an empty one if there is none this build can use. A
    /// pack in use is marked so (its modification time, at most daily) and
    /// is not pruned.
    pub fn load(&self) -> Arc<CompiledFiles> {
        let read = || -> Option<CompiledFiles> {
            let mut file = std::fs::File::open(&self.path).ok()?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).ok()?;
            let pack = CompiledFiles::load(bytes).ok()?;
            let now = SystemTime::now();
            let age = file.metadata().and_then(|m| m.modified()).ok();
            if age.is_some_and(|t| now.duration_since(t).unwrap_or_default() > MARK_AFTER) {
                // Best effort: a pack that cannot be marked may be pruned
                // and is then written again.
                let _ = std::fs::File::options()
                    .append(true)
                    .open(&self.path)
                    .and_then(|f| f.set_modified(now));
            }
            Some(pack)
        };
        Arc::new(read().unwrap_or_default())
    }

    /// Writes the pack of what `ev` bound, if anything changed: to a
    /// temporary file beside it, then renamed over it, so that a reader
    /// (another eka) sees the old pack or the new one, never a part.
    pub fn save(&self, ev: &Evaluator) -> std::io::Result<Saved> {
        let files = ev.compiled_stats().map_or(0, |s| s.in_pack + s.stored);
        let keep_unused = self.keep_unused && files <= KEEP_UNUSED_UP_TO;
        let Some(bytes) = ev.compiled_pack(keep_unused) else {
            return Ok(Saved::Unchanged);
        };
        let dir = self.path.parent().expect("a pack is in a folder");
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        prune(dir, SystemTime::now());
        Ok(Saved::Written(bytes.len()))
    }
}

/// The file name of the pack of the files `identity` names (what `eka
/// cache gc` keeps).
pub fn file_name(identity: &Identity) -> String {
    let name = match identity {
        Identity::Tree(id) => format!("tree {id}"),
        Identity::Dir(path) => format!("dir {}", path.display()),
    };
    let hash = blake3::hash(name.as_bytes()).to_hex();
    format!("{}.pack", &hash[..32])
}

/// Packs not used for this long are deleted when another is written.
const UNUSED_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// A pack read is marked as used when its mark is older than this.
const MARK_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Temporary files left by a run that stopped while writing.
const LEFT_BEHIND: Duration = Duration::from_secs(24 * 3600);

/// Deletes, in `dir`, packs unused since [`UNUSED_FOR`] and temporary files
/// older than [`LEFT_BEHIND`]; best effort, like the pack itself. (A pack
/// another eka has just read may go; that costs its next run time only.)
fn prune(dir: &Path, now: SystemTime) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let limit = if name.ends_with(".pack") {
            UNUSED_FOR
        } else if name.starts_with(".tmp") {
            LEFT_BEHIND
        } else {
            continue;
        };
        let modified = entry.metadata().and_then(|m| m.modified());
        if modified.is_ok_and(|t| now.duration_since(t).unwrap_or_default() > limit) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_deletes_old_packs_and_left_behind_temporary_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let file = |name: &str, age_days: u64| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            let f = std::fs::File::options().append(true).open(&path).unwrap();
            f.set_modified(now - Duration::from_secs(age_days * 24 * 3600))
                .unwrap();
        };
        file("old.pack", 40);
        file("recent.pack", 10);
        file(".tmpA1b2", 2);
        file(".tmpC3d4", 0);
        file("other.txt", 400);
        prune(dir.path(), now);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, [".tmpC3d4", "other.txt", "recent.pack"]);
    }

    #[test]
    fn loading_marks_a_pack_as_used() {
        let dir = tempfile::tempdir().unwrap();
        let atom = tempfile::tempdir().unwrap();
        let files = crate::DirFiles::new(atom.path());
        let store = PackStore::for_atom(dir.path(), &files).unwrap();
        // A pack this build wrote: one bound file.
        let mut ev = atom_eval::Evaluator::new(
            Box::new(atom_eval::NoFileSystem),
            atom_eval::Limits::default(),
        );
        ev.use_compiled(Arc::new(CompiledFiles::empty()));
        ev.eval_source("f.nix", "1 + 1", "/").unwrap();
        assert!(matches!(store.save(&ev).unwrap(), Saved::Written(_)));
        let old = SystemTime::now() - Duration::from_secs(40 * 24 * 3600);
        std::fs::File::options()
            .append(true)
            .open(store.path())
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(store.load().len(), 1);
        let modified = std::fs::metadata(store.path()).unwrap().modified().unwrap();
        assert!(modified > old + UNUSED_FOR, "marked as used");
        prune(dir.path(), SystemTime::now());
        assert!(store.path().exists());
    }
}
