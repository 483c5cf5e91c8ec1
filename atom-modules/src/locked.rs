//! Dependencies from the lockfile: `deps.from.<set>.<label>` is the atom
//! that `atom.lock` chose, read from the local cache that `eka fetch`
//! fills, checked against the lock (commit, origin, content digest) before
//! a file of it is read.

use std::rc::Rc;

use atom_git::cache::{Cache, Expected};
use atom_lock::{AtomId, Edge, LockedAtom, Lockfile};

use crate::compose::{DepSource, LoadedAtom};
use crate::files::GitTreeFiles;

/// A [`DepSource`] over a lockfile and the cache.
pub struct LockedDeps {
    lock: Option<Lockfile>,
    cache: Result<Cache, String>,
}

impl LockedDeps {
    /// `lock`: the atom's `atom.lock`, if it has one. `cache`: the opened
    /// cache, or why it could not be opened (reported only when a
    /// dependency is needed).
    pub fn new(lock: Option<Lockfile>, cache: Result<Cache, String>) -> LockedDeps {
        LockedDeps { lock, cache }
    }
}

fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
    norm(a) == norm(b)
}

impl DepSource for LockedDeps {
    fn load(
        &self,
        dependent: &str,
        set: &str,
        set_urls: &[String],
        label: &str,
        _: &semver::VersionReq,
    ) -> Result<LoadedAtom, String> {
        let Some(lock) = &self.lock else {
            return Err(format!(
                "`{set}::{label}` is not locked: there is no atom.lock beside atom.toml; run `eka lock`"
            ));
        };
        // Atoms of this repository ("::" keys) share the lock of the atom
        // being evaluated.
        let edges: &[Edge] = if dependent.is_empty() || dependent.starts_with("::") {
            lock.deps()
        } else {
            let id: AtomId = dependent
                .parse()
                .map_err(|e| format!("internal: bad atom key {dependent}: {e}"))?;
            match lock.get(&id) {
                Some(a) => &a.deps,
                None => {
                    return Err(format!(
                        "atom {dependent} is not in atom.lock; run `eka lock`"
                    ))
                }
            }
        };
        let mut candidates: Vec<&LockedAtom> = edges
            .iter()
            .filter(|e| e.label.as_str() == label)
            .filter_map(|e| lock.get(&e.id))
            .collect();
        if candidates.len() > 1 {
            candidates.retain(|a| {
                a.mirrors
                    .iter()
                    .any(|m| set_urls.iter().any(|u| same_url(m.as_str(), u)))
            });
        }
        let atom = match candidates.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "`{set}::{label}` is declared in atom.toml but not in atom.lock; run `eka lock`"
                ))
            }
            _ => {
                return Err(format!(
                    "atom.lock has several atoms labelled `{label}` and none is clearly from set `{set}`; run `eka lock` again"
                ))
            }
        };
        let cache = self.cache.as_ref().map_err(|e| e.clone())?;
        let id = atom.id();
        let expect = Expected {
            label: &atom.label,
            version: &atom.version,
            commit: atom.commit,
            origin: Some(atom.origin),
            digest: Some(atom.digest),
        };
        cache.check_atom(&expect).map_err(|e| match e {
            atom_git::cache::AtomCheckError::Missing(_) => format!(
                "`{}@{}` (from `{set}`) is not in the local cache; run `eka fetch`",
                atom.label, atom.version
            ),
            other => format!(
                "`{}@{}` in the local cache does not match atom.lock: {other}",
                atom.label, atom.version
            ),
        })?;
        let repo = cache.repo();
        let tree = atom_git::commit_tree(&repo, atom.commit).map_err(|e| e.to_string())?;
        Ok(LoadedAtom {
            key: id.to_string(),
            files: Rc::new(GitTreeFiles::new(repo, tree)),
        })
    }
}
