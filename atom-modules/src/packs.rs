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
//! the same result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
        let (name, keep_unused) = match files.identity()? {
            Identity::Tree(id) => (format!("tree {id}"), true),
            Identity::Dir(path) => (format!("dir {}", path.display()), false),
        };
        let hash = blake3::hash(name.as_bytes()).to_hex();
        Some(PackStore {
            path: dir.join(format!("{}.pack", &hash[..32])),
            keep_unused,
        })
    }

    /// Where the pack is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pack, or an empty one if there is none this build can use.
    pub fn load(&self) -> Arc<CompiledFiles> {
        let pack = std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| CompiledFiles::load(bytes).ok())
            .unwrap_or_default();
        Arc::new(pack)
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
        Ok(Saved::Written(bytes.len()))
    }
}
