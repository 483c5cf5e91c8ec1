//! Fetching locked atoms into the [`Cache`] and checking them.
//!
//! Only atom commits are fetched, by id (the locked commit, in one request
//! per set): an atom commit has no parent, so what arrives is the commit,
//! its tree and its blobs, never source history. Each commit is then checked against the
//! lock: it must parse as an atom commit of that label and version with the
//! locked origin, and its tree must have the locked content digest.

use std::collections::BTreeMap;
use std::path::Path;

use atom_format::refs::{AtomVersion, ROOT_REF};
use atom_format::Label;
use semver::Version;

use crate::cache::{AtomCheckError, Cache, Expected};
use crate::gitreg::location;
use crate::ids::{AtomId, CommitId, ContentDigest};
use crate::uri::RepoUrl;

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
    #[diagnostic(
        code(eka::fetch::rewritten),
        help("a published version must never change; if you trust the new commit, run `eka update {label}` to lock it again")
    )]
    Rewritten {
        label: Label,
        version: Version,
        url: String,
        locked: CommitId,
        remote: CommitId,
    },
    #[error("{label}@{version} was deleted from `{url}` (the lock says commit {locked})")]
    #[diagnostic(
        code(eka::fetch::deleted),
        help(
            "the version is gone from that remote; lock another version with `eka update {label}`"
        )
    )]
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
    #[error("cannot reach any mirror of {label}@{version}: {why}")]
    #[diagnostic(
        code(eka::fetch::unreachable),
        help("check the URLs and that the servers are up; `--offline` uses the cache alone")
    )]
    Unreachable {
        label: Label,
        version: Version,
        why: String,
    },
    #[error("{label}@{version} is not in the cache")]
    #[diagnostic(
        code(eka::fetch::not_cached),
        help("run `eka fetch` without --offline")
    )]
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
    Cache(#[from] crate::cache::CacheError),
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
        let results: Vec<Result<SetOutcome, FetchError>> = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|(mirrors, idx)| {
                    s.spawn(move || fetch_set(cache, base, mirrors, wants, idx, opts))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("fetch thread"))
                .collect()
        });
        atom_format::git::end_parked();
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

/// Lists (if asked) and fetches what is missing of one set's atoms, trying
/// its mirrors in order. Returns the indices fetched, the mirror used, and
/// warnings.
fn fetch_set(
    cache: &Cache,
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
            let mut prefixes = vec![ROOT_REF.to_owned()];
            prefixes.extend(idx.iter().map(|&i| {
                AtomVersion::new(wants[i].label.clone(), wants[i].version.clone()).atom_ref()
            }));
            let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            let listed = match atom_format::git::ls_refs_for_fetch(&url, &p) {
                Ok(l) => l,
                Err(e) => {
                    failures.push(format!("{url}: {}", e.why));
                    continue;
                }
            };
            let get = |name: &str| listed.iter().find(|r| r.name == name).map(|r| r.target);
            let root = get(ROOT_REF);
            if root != Some(first.root) {
                return Err(FetchError::WrongRoot {
                    url,
                    locked: first.root,
                    remote: root.map_or("absent".into(), |r| r.to_string()),
                });
            }
            for &i in &idx {
                let w = &wants[i];
                let name = AtomVersion::new(w.label.clone(), w.version.clone()).atom_ref();
                match get(&name) {
                    None => {
                        return Err(FetchError::Deleted {
                            label: w.label.clone(),
                            version: w.version.clone(),
                            url,
                            locked: w.commit,
                        })
                    }
                    Some(c) if c != w.commit => {
                        return Err(FetchError::Rewritten {
                            label: w.label.clone(),
                            version: w.version.clone(),
                            url,
                            locked: w.commit,
                            remote: c,
                        })
                    }
                    Some(_) => {}
                }
            }
        }
        let commits: Vec<CommitId> = missing.iter().map(|&i| wants[i].commit).collect();
        match cache.fetch(&url, &commits) {
            Ok(()) => {
                warnings.extend(
                    failures
                        .iter()
                        .map(|f| format!("mirror unreachable, used `{url}` instead: {f}")),
                );
                return Ok((missing, Some(url), warnings));
            }
            Err(e) => failures.push(format!("{url}: {}", e.why)),
        }
    }
    Err(FetchError::Unreachable {
        label: first.label.clone(),
        version: first.version.clone(),
        why: failures.join("; "),
    })
}
