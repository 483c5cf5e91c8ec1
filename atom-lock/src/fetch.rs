//! Fetching locked atoms into the [`Cache`] and checking them.
//!
//! Only atom commits are fetched, by id (the locked commit, in one request
//! per set): an atom commit has no parent, so what arrives is the commit,
//! its tree and its blobs, never source history. Each commit is then checked against the
//! lock: it must parse as an atom commit of that label and version with the
//! locked origin, and its tree must have the locked content digest.

use std::collections::BTreeMap;
use std::path::Path;

use atom_format::refs::{AtomRef, AtomVersion, Namespace, EKA03_ROOT_REF, ROOT_REF};
use atom_format::Label;
use atom_git::{Connections, RemoteRef};
use semver::Version;

use crate::ids::{AtomId, CommitId, ContentDigest};
use crate::registry::git::location;
use crate::uri::RepoUrl;
use atom_git::cache::{AtomCheckError, Cache, Expected};

/// One atom to bring into the cache.
#[derive(Clone, Debug)]
pub struct Want {
    pub id: AtomId,
    pub label: Label,
    pub version: Version,
    pub commit: CommitId,
    /// The set's root, checked against the remote when listing.
    pub root: CommitId,
    pub origin: Option<CommitId>,
    pub digest: Option<ContentDigest>,
    pub mirrors: Vec<RepoUrl>,
}

impl Want {
    /// A locked atom, with everything the lock pins checked on arrival.
    pub fn locked(a: &crate::LockedAtom) -> Want {
        Want {
            id: a.id(),
            label: a.label.clone(),
            version: a.version.clone(),
            commit: a.commit,
            root: a.root,
            origin: Some(a.origin),
            digest: Some(a.digest),
            mirrors: a.mirrors.clone(),
        }
    }
}

/// What happened to one atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Already in the cache (and checked).
    Cached,
    /// Fetched now (and checked).
    Fetched,
}

/// An atom in the cache, checked.
#[derive(Clone, Debug)]
pub struct Got {
    pub id: AtomId,
    pub label: Label,
    pub version: Version,
    pub commit: CommitId,
    pub origin: CommitId,
    pub digest: ContentDigest,
    pub status: Status,
    /// The mirror it came from (fetched atoms only).
    pub from: Option<String>,
}

/// Why fetching failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum FetchError {
    #[error("{label}@{version} was rewritten on `{url}`: the lock says commit {locked}, the remote now has {remote}")]
    #[diagnostic(code(eka::fetch::rewritten))]
    Rewritten {
        label: Label,
        version: Version,
        url: String,
        locked: CommitId,
        remote: CommitId,
    },
    #[error("{label}@{version} was deleted from `{url}` (the lock says commit {locked})")]
    #[diagnostic(code(eka::fetch::deleted))]
    Deleted {
        label: Label,
        version: Version,
        url: String,
        locked: CommitId,
    },
    #[error("`{url}` is refused: its root is {remote}, but the lock's set root is {locked}")]
    #[diagnostic(
        code(eka::fetch::root),
        help("a mirror must hold the same repository as the one locked; it may have been replaced or tampered with")
    )]
    WrongRoot {
        url: String,
        locked: CommitId,
        remote: String,
    },
    #[error("{label}@{version} is published twice on `{url}`: `{atom_ref}` points to {current}, but eka 0.3's `{legacy_ref}` to {legacy}")]
    #[diagnostic(
        code(eka::fetch::namespace_conflict),
        help("one of the two refs was rewritten or tampered with; nothing was fetched from this set until the wrong one is deleted there")
    )]
    NamespaceConflict {
        label: Label,
        version: Version,
        url: String,
        atom_ref: String,
        current: CommitId,
        legacy_ref: String,
        legacy: CommitId,
    },
    #[error("cannot reach any mirror of {label}@{version}: {why}")]
    #[diagnostic(code(eka::fetch::unreachable))]
    Unreachable {
        label: Label,
        version: Version,
        why: String,
    },
    #[error("{label}@{version} is not in the cache")]
    #[diagnostic(code(eka::fetch::not_cached))]
    NotCached { label: Label, version: Version },
    #[error("{label}@{version} does not verify: {source}")]
    #[diagnostic(
        code(eka::fetch::verify),
        help("what the remote holds is not what the lock pins; nothing was kept")
    )]
    Check {
        label: Label,
        version: Version,
        #[source]
        source: AtomCheckError,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] atom_git::CacheError),
}

/// What one set's fetch did: the indices fetched, the mirror used, warnings.
type SetOutcome = (Vec<usize>, Option<String>, Vec<String>);

/// Options of [`fetch`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Use the cache alone; an atom missing there is an error.
    pub offline: bool,
    /// List the remote's refs first (one `ls-refs` per set) and refuse a
    /// rewritten or deleted version or a foreign root, even for atoms
    /// already cached. Resolution has just listed them, so it skips this.
    pub check_remote: bool,
}

/// Brings `wants` into the cache and checks them; `base` is the folder
/// that relative mirror paths are relative to. Returns one entry per want,
/// in order, and warnings (unreachable mirrors that were skipped).
pub fn fetch(
    cache: &Cache,
    connections: &Connections,
    base: &Path,
    wants: &[Want],
    opts: Options,
) -> Result<(Vec<Got>, Vec<String>), FetchError> {
    let mut warnings = Vec::new();
    let mut status = vec![Status::Cached; wants.len()];
    let mut from: Vec<Option<String>> = vec![None; wants.len()];
    if !opts.offline {
        // Group by set (mirror list): one listing and one fetch per set.
        let mut groups: BTreeMap<&[RepoUrl], Vec<usize>> = BTreeMap::new();
        for (i, w) in wants.iter().enumerate() {
            groups.entry(&w.mirrors).or_default().push(i);
        }
        let done = std::sync::atomic::AtomicUsize::new(0);
        progress(0, wants.len());
        let results: Vec<Result<SetOutcome, FetchError>> = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|(mirrors, idx)| {
                    let done = &done;
                    s.spawn(move || {
                        let atoms = idx.len();
                        let outcome =
                            fetch_set(cache, connections, base, mirrors, wants, idx, opts);
                        let now = done.fetch_add(atoms, std::sync::atomic::Ordering::Relaxed);
                        progress(now + atoms, wants.len());
                        outcome
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("fetch thread"))
                .collect()
        });
        for r in results {
            let (fetched, url, warns) = r?;
            warnings.extend(warns);
            for i in fetched {
                status[i] = Status::Fetched;
                from[i] = url.clone();
            }
        }
    }
    let mut got = Vec::with_capacity(wants.len());
    for (i, w) in wants.iter().enumerate() {
        let checked = cache
            .check_atom(&Expected {
                label: &w.label,
                version: &w.version,
                commit: w.commit,
                origin: w.origin,
                digest: w.digest,
            })
            .map_err(|source| match source {
                AtomCheckError::Missing(_) => FetchError::NotCached {
                    label: w.label.clone(),
                    version: w.version.clone(),
                },
                source => FetchError::Check {
                    label: w.label.clone(),
                    version: w.version.clone(),
                    source,
                },
            })?;
        got.push(Got {
            id: w.id,
            label: w.label.clone(),
            version: w.version.clone(),
            commit: w.commit,
            origin: checked.origin,
            digest: checked.digest,
            status: status[i],
            from: from[i].take(),
        });
    }
    if !opts.offline {
        let pins: Vec<_> = got
            .iter()
            .map(|g| (g.id, g.version.clone(), g.commit))
            .collect();
        cache.pin(&pins)?;
    }
    Ok((got, warnings))
}

/// How many of the atoms wanted are in the cache (for the caller's
/// progress display: an `eka::progress` event, as phases are spans).
fn progress(done: usize, total: usize) {
    tracing::info!(target: "eka::progress", done, total, unit = "atoms");
}

/// The exact refs that `eka fetch` lists for the atoms `idx` of one set:
/// the root and each version's atom ref, in this format's namespace and in
/// eka 0.3's (the lock does not say which one published it).
fn check_prefixes(wants: &[Want], idx: &[usize]) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()];
    for &i in idx {
        let atom = AtomRef::Atom(AtomVersion::new(
            wants[i].label.clone(),
            wants[i].version.clone(),
        ));
        out.push(atom.name_in(Namespace::Atoms));
        out.push(atom.name_in(Namespace::Eka03));
    }
    out
}

/// Checks what `url` listed ([`check_prefixes`]) against the atoms `idx`:
/// its root (`refs/atoms/_root`, else eka 0.3's `refs/ekala/init`) must be
/// the locked one, and each version's atom ref must point to the locked
/// commit. A version listed in both namespaces must have the same commit
/// in both; one listed in only one namespace is read from there.
fn check_listed(
    url: &str,
    listed: &[RemoteRef],
    wants: &[Want],
    idx: &[usize],
) -> Result<(), FetchError> {
    let get = |name: &str| listed.iter().find(|r| r.name == name).map(|r| r.target);
    let first = &wants[idx[0]];
    let root = get(ROOT_REF).or_else(|| get(EKA03_ROOT_REF));
    if root != Some(first.root) {
        return Err(FetchError::WrongRoot {
            url: url.to_owned(),
            locked: first.root,
            remote: root.map_or("absent".into(), |r| r.to_string()),
        });
    }
    for &i in idx {
        let w = &wants[i];
        let atom = AtomRef::Atom(AtomVersion::new(w.label.clone(), w.version.clone()));
        let (ours, legacy) = (
            atom.name_in(Namespace::Atoms),
            atom.name_in(Namespace::Eka03),
        );
        let remote = match (get(&ours), get(&legacy)) {
            (Some(a), Some(b)) if a != b => {
                return Err(FetchError::NamespaceConflict {
                    label: w.label.clone(),
                    version: w.version.clone(),
                    url: url.to_owned(),
                    atom_ref: ours,
                    current: a,
                    legacy_ref: legacy,
                    legacy: b,
                })
            }
            (a, b) => a.or(b),
        };
        match remote {
            None => {
                return Err(FetchError::Deleted {
                    label: w.label.clone(),
                    version: w.version.clone(),
                    url: url.to_owned(),
                    locked: w.commit,
                })
            }
            Some(c) if c != w.commit => {
                return Err(FetchError::Rewritten {
                    label: w.label.clone(),
                    version: w.version.clone(),
                    url: url.to_owned(),
                    locked: w.commit,
                    remote: c,
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Lists (if asked) and fetches what is missing of one set's atoms, trying
/// its mirrors in order. Returns the indices fetched, the mirror used, and
/// warnings.
fn fetch_set(
    cache: &Cache,
    connections: &Connections,
    base: &Path,
    mirrors: &[RepoUrl],
    wants: &[Want],
    idx: Vec<usize>,
    opts: Options,
) -> Result<SetOutcome, FetchError> {
    let first = &wants[idx[0]];
    let missing: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| !cache.has(&wants[i].commit))
        .collect();
    if missing.is_empty() && !opts.check_remote {
        return Ok((Vec::new(), None, Vec::new()));
    }
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    for m in mirrors {
        let url = location(m, base);
        if opts.check_remote {
            let prefixes = check_prefixes(wants, &idx);
            let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            let listed = match connections.ls_refs_then_fetch(&url, &p) {
                Ok(l) => l,
                Err(e) => {
                    failures.push(format!("{url}: {}", e.reason()));
                    continue;
                }
            };
            check_listed(&url, &listed, wants, &idx)?;
        }
        let commits: Vec<CommitId> = missing.iter().map(|&i| wants[i].commit).collect();
        match cache.fetch(connections, &url, &commits) {
            Ok(()) => {
                warnings.extend(
                    failures
                        .iter()
                        .map(|f| format!("mirror unreachable, used `{url}` instead: {f}")),
                );
                return Ok((missing, Some(url), warnings));
            }
            Err(e) => failures.push(format!("{url}: {}", e.reason())),
        }
    }
    Err(FetchError::Unreachable {
        label: first.label.clone(),
        version: first.version.clone(),
        why: failures.join("; "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> CommitId {
        gix::ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn want(label: &str, version: &str, commit: u8) -> Want {
        let label = Label::parse(label).unwrap();
        Want {
            id: AtomId::compute(&oid(9), &label),
            label,
            version: Version::parse(version).unwrap(),
            commit: oid(commit),
            root: oid(9),
            origin: None,
            digest: None,
            mirrors: Vec::new(),
        }
    }

    fn refs(list: &[(&str, u8)]) -> Vec<RemoteRef> {
        list.iter()
            .map(|(name, n)| RemoteRef {
                name: (*name).to_owned(),
                target: oid(*n),
            })
            .collect()
    }

    /// `eka fetch` lists exact refs: the two roots and each version's atom
    /// ref in both namespaces, never a prefix of a namespace.
    #[test]
    fn prefixes_are_exact_refs_in_both_namespaces() {
        let wants = [want("a", "1.0.0", 1), want("b", "2.0.0", 2)];
        assert_eq!(
            check_prefixes(&wants, &[0, 1]),
            [
                "refs/atoms/_root",
                "refs/ekala/init",
                "refs/atoms/a/1.0.0",
                "refs/eka/atoms/a/1.0.0",
                "refs/atoms/b/2.0.0",
                "refs/eka/atoms/b/2.0.0",
            ]
        );
    }

    #[test]
    fn eka03_refs_are_checked_like_ours() {
        let wants = [want("a", "1.0.0", 1)];
        let check = |list: &[(&str, u8)]| check_listed("u", &refs(list), &wants, &[0]);
        // eka 0.3 alone: its root and atom ref.
        check(&[("refs/ekala/init", 9), ("refs/eka/atoms/a/1.0.0", 1)]).unwrap();
        // Both namespaces, agreeing.
        check(&[
            ("refs/atoms/_root", 9),
            ("refs/atoms/a/1.0.0", 1),
            ("refs/eka/atoms/a/1.0.0", 1),
        ])
        .unwrap();
        // Rewritten in eka 0.3's namespace.
        let e = check(&[("refs/ekala/init", 9), ("refs/eka/atoms/a/1.0.0", 3)]).unwrap_err();
        assert!(
            matches!(&e, FetchError::Rewritten { remote, .. } if *remote == oid(3)),
            "{e}"
        );
        // Deleted from both.
        let e = check(&[("refs/ekala/init", 9), ("refs/eka/atoms/b/1.0.0", 1)]).unwrap_err();
        assert!(matches!(e, FetchError::Deleted { .. }), "{e}");
        // The two namespaces disagree: an error even when ours is the
        // locked commit.
        let e = check(&[
            ("refs/atoms/_root", 9),
            ("refs/atoms/a/1.0.0", 1),
            ("refs/eka/atoms/a/1.0.0", 4),
        ])
        .unwrap_err();
        assert!(matches!(e, FetchError::NamespaceConflict { .. }), "{e}");
        assert!(
            e.to_string().contains("`refs/eka/atoms/a/1.0.0` to 0404"),
            "{e}"
        );
        // The root: ours first, eka 0.3's only without ours.
        let e = check(&[("refs/ekala/init", 8), ("refs/eka/atoms/a/1.0.0", 1)]).unwrap_err();
        assert!(matches!(e, FetchError::WrongRoot { .. }), "{e}");
        check(&[
            ("refs/atoms/_root", 9),
            ("refs/ekala/init", 8),
            ("refs/eka/atoms/a/1.0.0", 1),
        ])
        .unwrap();
        let e = check(&[("refs/eka/atoms/a/1.0.0", 1)]).unwrap_err();
        assert!(
            matches!(&e, FetchError::WrongRoot { remote, .. } if remote == "absent"),
            "{e}"
        );
    }
}
