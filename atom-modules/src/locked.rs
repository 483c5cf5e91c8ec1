//! Dependencies from the lockfile: `deps.from.<set>.<label>` is the atom
//! that `atom.lock` chose, read from the local cache that `eka fetch` (or
//! `eka eval` itself) fills, checked against the lock (commit, origin,
//! content digest) before a file of it is read.
//!
//! The lock is eka's, which pins the whole graph, or eka 0.3's, which pins
//! an atom's direct dependencies only: then each dependency's own
//! `atom.lock`, read from its tree, pins the next level, as eka 0.3 does.
//! eka 0.3's locks pin no origin or content digest, so those atoms are
//! checked by commit, label and version (and the lock's atom id, when it
//! was read).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use atom_format::manifest::DirectRequest;
use atom_git::cache::{AtomCheckError, Cache, Expected};
use atom_git::{Connections, GitError};
use atom_lock::fetch::{self, FetchError, Want};
use atom_lock::lock::{AnyLock, Eka03Lock, LockError, LOCK_FILE};
use atom_lock::{AtomId, CommitId, Edge, LockedAtom, Lockfile};
use semver::Version;

use crate::compose::{DepError, DepSource, DirectSource, LoadedAtom};
use crate::files::GitTreeFiles;

/// Why there is no cache to read locked atoms from (reported only when a
/// dependency is used).
#[derive(Clone, Debug, thiserror::Error)]
pub enum CacheUnavailable {
    /// The lock pins no atom, so the cache was not opened.
    #[error("no dependency is locked in atom.lock")]
    NothingLocked,
    /// Opening or filling the cache failed (the caller's error, which
    /// says so).
    #[error(transparent)]
    Failed(Arc<dyn std::error::Error + Send + Sync>),
}

/// A dependency that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LockedDepError {
    #[error("`{set}::{label}` is declared in atom.toml but not in atom.lock")]
    NotLocked { set: String, label: String },
    #[error("atom.lock has several atoms labelled `{label}` and none is clearly from set `{set}`")]
    Ambiguous { set: String, label: String },
    #[error("`{set}::{label}` is locked by eka 0.3 at {version}, an atom of its own repository that was never published (no commit), so it cannot be fetched")]
    LocalOnly {
        set: String,
        label: String,
        version: Version,
    },
    /// `project_lock`: the project's atom.lock pins it, so fetching the
    /// lock's atoms brings it; otherwise the eka 0.3 lock of a dependency
    /// does, and evaluation fetches it when first used.
    #[error("`{label}@{version}` (from `{set}`) is not in the local cache")]
    NotCached {
        set: String,
        label: String,
        version: Version,
        project_lock: bool,
    },
    #[error("`{label}@{version}` in the local cache does not match atom.lock")]
    Mismatch {
        label: String,
        version: Version,
        #[source]
        source: Box<AtomCheckError>,
    },
    #[error(transparent)]
    Cache(CacheUnavailable),
    #[error("cannot read `{label}@{version}` from the local cache")]
    Read {
        label: String,
        version: Version,
        #[source]
        source: GitError,
    },
    #[error("cannot read the atom.lock of `{atom}` from the local cache")]
    ReadLock {
        atom: String,
        #[source]
        source: GitError,
    },
    #[error("the atom.lock of `{atom}` cannot be used")]
    DependencyLock {
        atom: String,
        #[source]
        source: Box<LockError>,
    },
    #[error("`deps.{key}.{name}` is a `{kind}` dependency (eka 0.3's [deps.direct.nix]), which eka does not support yet")]
    Unsupported {
        key: &'static str,
        name: String,
        kind: &'static str,
    },
    #[error("`deps.{key}.{name}` is declared in atom.toml but not in atom.lock; it is {}, which eka does not lock or support yet", kind_text(.kind))]
    DirectNotLocked {
        key: &'static str,
        name: String,
        kind: Option<&'static str>,
    },
    #[error("internal: no atom was loaded with the key `{0}`")]
    UnknownDependent(String),
}

fn kind_text(kind: &Option<&'static str>) -> String {
    match kind {
        Some(k) => format!("a `{k}` dependency"),
        None => "not an atom".to_owned(),
    }
}

/// A [`DepSource`] over a lockfile and the cache.
pub struct LockedDeps {
    /// Where the evaluated atom's dependencies are pinned.
    root: Pinned,
    cache: Result<Cache, CacheUnavailable>,
    /// Where each loaded dependency's own dependencies are pinned, by the
    /// key it was loaded with.
    scopes: RefCell<HashMap<String, Scope>>,
}

/// Where an atom's dependencies are pinned.
#[derive(Clone)]
enum Pinned {
    /// In eka's lock: the edges of atom `atom` (`None`: the top-level
    /// ones, the evaluated atom's).
    Eka {
        lock: Rc<Lockfile>,
        atom: Option<AtomId>,
    },
    /// In eka 0.3's lock: its `[[deps]]`.
    Eka03(Rc<Eka03Lock>),
    /// Nowhere: the atom has no lock.
    Nowhere,
}

/// What is known of a loaded atom's lock.
#[derive(Clone)]
enum Scope {
    Known(Pinned),
    /// In the `atom.lock` of the atom commit `commit` (an atom that eka
    /// 0.3's lock pinned: each pins its own), not read yet.
    Unread {
        commit: CommitId,
        name: String,
    },
}

impl Pinned {
    fn top_of(lock: AnyLock) -> Pinned {
        match lock {
            AnyLock::Eka(l) => Pinned::Eka {
                lock: Rc::new(l),
                atom: None,
            },
            AnyLock::Eka03(l) => Pinned::Eka03(Rc::new(*l)),
        }
    }
}

impl LockedDeps {
    /// `lock`: the atom's `atom.lock`, if it has one. `cache`: the opened
    /// cache, or why it could not be opened (reported only when a
    /// dependency is needed).
    pub fn new(lock: Option<AnyLock>, cache: Result<Cache, CacheUnavailable>) -> LockedDeps {
        LockedDeps {
            root: lock.map_or(Pinned::Nowhere, Pinned::top_of),
            cache,
            scopes: RefCell::default(),
        }
    }

    fn cache(&self) -> Result<&Cache, LockedDepError> {
        self.cache
            .as_ref()
            .map_err(|e| LockedDepError::Cache(e.clone()))
    }

    /// Where the dependencies of the atom loaded as `dependent` are
    /// pinned, reading its own lock if that was not done yet.
    fn pinned_for(&self, dependent: &str) -> Result<Pinned, LockedDepError> {
        // Atoms of this repository ("::" keys) share the lock of the atom
        // being evaluated.
        if dependent.is_empty() || dependent.starts_with("::") {
            return Ok(self.root.clone());
        }
        let known = self.scopes.borrow().get(dependent).cloned();
        let pinned = match known {
            Some(Scope::Known(pinned)) => return Ok(pinned),
            Some(Scope::Unread { commit, name }) => self.read_own_lock(commit, &name)?,
            // The evaluated atom itself, pinned by the project's lock and
            // named by its id.
            None => match (&self.root, dependent.parse::<AtomId>()) {
                (Pinned::Eka { lock, .. }, Ok(id)) if lock.get(&id).is_some() => Pinned::Eka {
                    lock: lock.clone(),
                    atom: Some(id),
                },
                _ => return Err(LockedDepError::UnknownDependent(dependent.to_owned())),
            },
        };
        self.scopes
            .borrow_mut()
            .insert(dependent.to_owned(), Scope::Known(pinned.clone()));
        Ok(pinned)
    }

    /// Where an atom's own `atom.lock` pins its dependencies (eka 0.3's
    /// locks pin direct dependencies only, so each atom's pins the next).
    fn read_own_lock(&self, commit: CommitId, name: &str) -> Result<Pinned, LockedDepError> {
        let repo = self.cache()?.repo();
        let text = own_lock_text(&repo, commit).map_err(|source| LockedDepError::ReadLock {
            atom: name.to_owned(),
            source,
        })?;
        let Some(text) = text else {
            return Ok(Pinned::Nowhere);
        };
        let lock = AnyLock::parse(&text, &format!("{name}/{LOCK_FILE}")).map_err(|e| {
            LockedDepError::DependencyLock {
                atom: name.to_owned(),
                source: Box::new(e),
            }
        })?;
        Ok(Pinned::top_of(lock))
    }

    /// Checks an atom in the cache and gives its files, under a key unique
    /// to its commit, remembering where its own dependencies are pinned.
    fn load_checked(
        &self,
        set: &str,
        id: AtomId,
        expect: Expected<'_>,
        scope: Scope,
    ) -> Result<LoadedAtom, LockedDepError> {
        let cache = self.cache()?;
        let (label, version) = (expect.label.to_string(), expect.version.clone());
        cache.check_atom(&expect).map_err(|e| match e {
            AtomCheckError::Missing(_) => LockedDepError::NotCached {
                set: set.to_owned(),
                label: label.clone(),
                version: version.clone(),
                project_lock: matches!(scope, Scope::Known(_)),
            },
            source => LockedDepError::Mismatch {
                label: label.clone(),
                version: version.clone(),
                source: Box::new(source),
            },
        })?;
        let repo = cache.repo();
        let tree =
            atom_git::commit_tree(&repo, expect.commit).map_err(|source| LockedDepError::Read {
                label: label.clone(),
                version: version.clone(),
                source,
            })?;
        let key = format!("{id}@{}", expect.commit);
        self.scopes.borrow_mut().insert(key.clone(), scope);
        Ok(LoadedAtom {
            key,
            files: Rc::new(GitTreeFiles::new(repo, tree)),
        })
    }

    fn load_from_eka(
        &self,
        lock: &Rc<Lockfile>,
        atom: Option<AtomId>,
        set: &str,
        set_urls: &[String],
        label: &str,
    ) -> Result<LoadedAtom, LockedDepError> {
        let edges: &[Edge] = match atom {
            None => lock.deps(),
            Some(id) => lock
                .get(&id)
                .map(|a| a.deps.as_slice())
                .ok_or_else(|| LockedDepError::UnknownDependent(id.to_string()))?,
        };
        let candidates: Vec<&LockedAtom> = edges
            .iter()
            .filter(|e| e.label.as_str() == label)
            .filter_map(|e| lock.get(&e.id))
            .collect();
        let found = pick(candidates, set, label, |a| {
            a.mirrors
                .iter()
                .any(|m| set_urls.iter().any(|u| same_url(m.as_str(), u)))
        })?;
        let expect = Expected {
            label: &found.label,
            version: &found.version,
            commit: found.commit,
            origin: Some(found.origin),
            digest: Some(found.digest),
        };
        let scope = Scope::Known(Pinned::Eka {
            lock: lock.clone(),
            atom: Some(found.id()),
        });
        self.load_checked(set, found.id(), expect, scope)
    }

    fn load_from_eka03(
        &self,
        lock: &Eka03Lock,
        set: &str,
        set_urls: &[String],
        label: &str,
    ) -> Result<LoadedAtom, LockedDepError> {
        let candidates: Vec<_> = lock.atoms().filter(|a| a.label.as_str() == label).collect();
        // As eka 0.3 does: the set the lock's `[sets]` names like the
        // manifest, or else one with a mirror in common.
        let found = pick(candidates, set, label, |a| {
            lock.tag_of(a) == Some(set)
                || lock
                    .mirrors_of(a)
                    .0
                    .iter()
                    .any(|m| set_urls.iter().any(|u| same_url(m.as_str(), u)))
        })?;
        let Some(commit) = found.rev else {
            return Err(LockedDepError::LocalOnly {
                set: set.to_owned(),
                label: label.to_owned(),
                version: found.version.clone(),
            });
        };
        let expect = Expected {
            label: &found.label,
            version: &found.version,
            commit,
            origin: None,
            digest: None,
        };
        let name = format!("{}@{}", found.label, found.version);
        self.load_checked(set, found.id(), expect, Scope::Unread { commit, name })
    }
}

/// The one candidate, or the one `of_set` keeps when there are several.
fn pick<'a, T>(
    mut candidates: Vec<&'a T>,
    set: &str,
    label: &str,
    of_set: impl Fn(&T) -> bool,
) -> Result<&'a T, LockedDepError> {
    if candidates.len() > 1 {
        candidates.retain(|a| of_set(a));
    }
    match candidates.as_slice() {
        [one] => Ok(*one),
        [] => Err(LockedDepError::NotLocked {
            set: set.to_owned(),
            label: label.to_owned(),
        }),
        _ => Err(LockedDepError::Ambiguous {
            set: set.to_owned(),
            label: label.to_owned(),
        }),
    }
}

/// The text of the `atom.lock` at the root of atom commit `commit`'s tree.
fn own_lock_text(repo: &gix::Repository, commit: CommitId) -> Result<Option<String>, GitError> {
    use gix::objs::tree::EntryKind;
    let tree = atom_git::commit_tree(repo, commit)?;
    match atom_git::lookup_path(repo, tree, LOCK_FILE)? {
        Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) => Ok(Some(
            String::from_utf8_lossy(&atom_git::read_blob(repo, blob)?).into_owned(),
        )),
        _ => Ok(None),
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
    ) -> Result<LoadedAtom, DepError> {
        let loaded = match self.pinned_for(dependent)? {
            Pinned::Nowhere => {
                return Err(DepError::NoLock {
                    set: set.to_owned(),
                    label: label.to_owned(),
                })
            }
            Pinned::Eka { lock, atom } => self.load_from_eka(&lock, atom, set, set_urls, label),
            Pinned::Eka03(lock) => self.load_from_eka03(&lock, set, set_urls, label),
        };
        Ok(loaded?)
    }

    fn load_direct(
        &self,
        dependent: &str,
        request: &DirectRequest,
    ) -> Result<DirectSource, DepError> {
        let pinned = match self.pinned_for(dependent)? {
            Pinned::Eka { lock, atom: None } => lock
                .direct()
                .iter()
                .find(|d| d.name.as_str() == request.name)
                .map(|d| d.pin.type_name()),
            Pinned::Eka03(lock) => lock
                .direct()
                .find(|d| d.name.as_str() == request.name)
                .map(|d| d.pin.type_name()),
            _ => None,
        };
        let (key, name) = (request.scope_key(), request.name.clone());
        Err(DepError::Locked(match pinned {
            Some(kind) => LockedDepError::Unsupported { key, name, kind },
            None => LockedDepError::DirectNotLocked {
                key,
                name,
                kind: request.kind,
            },
        }))
    }
}

/// Why [`fetch_locked`] could not fill the cache.
#[derive(Debug, thiserror::Error)]
pub enum FetchLockedError {
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error("`{label}@{version}` in eka 0.3's atom.lock has no mirror eka can fetch from{}", refused_text(.refused))]
    NoMirror {
        label: String,
        version: Version,
        /// The mirrors given that are not locations eka can use, with why.
        refused: Vec<String>,
    },
}

fn refused_text(refused: &[String]) -> String {
    match refused.is_empty() {
        true => String::new(),
        false => format!(" (refused: {})", refused.join("; ")),
    }
}

impl From<FetchError> for FetchLockedError {
    fn from(e: FetchError) -> Self {
        FetchLockedError::Fetch(Box::new(e))
    }
}

/// Brings the atoms `lock` pins into `cache`, fetching those missing (no
/// network when none is). For eka 0.3's lock, which pins direct
/// dependencies only, the atoms each pinned atom's own lock pins follow,
/// level by level, as far as those locks can be read (one that cannot is
/// an error when its atom's dependencies are used). Returns every atom
/// pinned, level by level (the lock's own first), each commit once.
pub fn fetch_locked(
    lock: &AnyLock,
    cache: &Cache,
    connections: &Connections,
    base: &Path,
) -> Result<Vec<Want>, FetchLockedError> {
    let mut seen: HashSet<CommitId> = HashSet::new();
    let mut pinned = Vec::new();
    let mut level = wants_of(lock).collect::<Result<Vec<_>, _>>()?;
    while !level.is_empty() {
        level.retain(|w| seen.insert(w.commit));
        if level.iter().any(|w| !cache.has(&w.commit)) {
            let opts = fetch::Options {
                offline: false,
                check_remote: false,
            };
            fetch::fetch(cache, connections, base, &level, opts)?;
        }
        let mut next = Vec::new();
        if matches!(lock, AnyLock::Eka03(_)) {
            for w in &level {
                let own = own_lock_text(&cache.repo(), w.commit).ok().flatten();
                let name = format!("{}@{}", w.label, w.version);
                let own = own.and_then(|t| AnyLock::parse(&t, &name).ok());
                // One that cannot be fetched is an error when it is used.
                if let Some(own) = own {
                    next.extend(wants_of(&own).filter_map(Result::ok));
                }
            }
        }
        pinned.append(&mut level);
        level = next;
    }
    Ok(pinned)
}

/// What `lock` pins, as fetch requests (or why one cannot be made).
fn wants_of(lock: &AnyLock) -> Box<dyn Iterator<Item = Result<Want, FetchLockedError>> + '_> {
    match lock {
        AnyLock::Eka(l) => Box::new(l.atoms().iter().map(|a| Ok(Want::locked(a)))),
        AnyLock::Eka03(l) => Box::new(l.atoms().filter_map(|a| a.rev.map(|rev| (a, rev))).map(
            |(a, rev)| {
                let (mirrors, refused) = l.mirrors_of(a);
                if mirrors.is_empty() {
                    return Err(FetchLockedError::NoMirror {
                        label: a.label.to_string(),
                        version: a.version.clone(),
                        refused: refused.iter().map(|(m, e)| format!("{m}: {e}")).collect(),
                    });
                }
                Ok(Want {
                    id: a.id(),
                    label: a.label.clone(),
                    version: a.version.clone(),
                    commit: rev,
                    root: a.set,
                    origin: None,
                    digest: None,
                    mirrors,
                })
            },
        )),
    }
}
