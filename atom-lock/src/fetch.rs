//! Fetching locked atoms into the [`Cache`] and checking them.
//!
//! Only atom commits are fetched, by id (the locked commit, in one request
//! per set): an atom commit has no parent, so what arrives is the commit,
//! its tree and its blobs, never source history. Each commit is then checked against the
//! lock: it must parse as an atom commit of that label and version with the
//! locked origin, and its tree must have the locked content digest.
//!
//! An atom whose lock records signers (its set has a trust policy) has the
//! signatures of those signers checked again when the remote is listed
//! (`spec/trust.md` §5.3): their refs are listed beside the atom's, their
//! tags come in the same fetch, and each must still be a good signature by
//! that key, at the recorded time, over the atom as locked. A signature tag
//! rewritten or removed after locking refuses the fetch before anything is
//! pinned.

use std::collections::BTreeMap;
use std::path::Path;

use atom_format::refs::{AtomRef, AtomVersion, Namespace, EKA03_ROOT_REF, ROOT_REF};
use atom_format::Label;
use atom_git::{Connections, RemoteRef};
use atom_trust::{judge_signature, KeyFingerprint, ListedTag, RecordedSigner, TrustRef};
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
    /// [`FetchError::Unreachable`] where a mirror stayed silent past the
    /// network timeout (the advice differs).
    #[error("no mirror of {label}@{version} answered in time: {why}")]
    #[diagnostic(code(eka::fetch::timed_out))]
    TimedOut {
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
    #[error("the lock records a signature of {label}@{version} by {signer}, but `{url}` no longer has it")]
    #[diagnostic(
        code(eka::fetch::signature_gone),
        help("signature refs are never removed from a registry; this one was deleted or the registry was replaced since locking; nothing was fetched")
    )]
    SignatureGone {
        label: Label,
        version: Version,
        url: String,
        signer: KeyFingerprint,
    },
    #[error("the signature of {label}@{version} by {signer} that the lock records does not hold on `{url}`: {why}")]
    #[diagnostic(
        code(eka::fetch::signature),
        help("the registry's signature was rewritten since locking; nothing was fetched")
    )]
    Signature {
        label: Label,
        version: Version,
        url: String,
        signer: KeyFingerprint,
        why: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] atom_git::CacheError),
}

/// What one set's fetch did.
#[derive(Default)]
struct SetOutcome {
    /// The indices of the wants fetched.
    fetched: Vec<usize>,
    /// The mirror used.
    url: Option<String>,
    /// Mirrors skipped.
    warnings: Vec<String>,
    /// The recorded signatures listed: want index, signer, tag.
    signatures: Vec<(usize, RecordedSigner, CommitId)>,
}

/// The signers a lock records for each want, in the order of the wants
/// (empty: none).
pub type Signers<'a> = &'a [&'a [RecordedSigner]];

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
    fetch_signed(cache, connections, base, wants, &[], opts)
}

/// [`fetch`], checking again the signatures the lock records of each want
/// (`signers`, in the order of `wants`; empty for none) when the remote is
/// listed (`opts.check_remote`).
pub fn fetch_signed(
    cache: &Cache,
    connections: &Connections,
    base: &Path,
    wants: &[Want],
    signers: Signers<'_>,
    opts: Options,
) -> Result<(Vec<Got>, Vec<String>), FetchError> {
    let mut fetched = match opts.offline {
        true => FetchedSets::none(wants.len()),
        false => fetch_sets(cache, connections, base, wants, signers, opts)?,
    };
    let mut got = Vec::with_capacity(wants.len());
    for (i, w) in wants.iter().enumerate() {
        let got_now = checked(cache, w, fetched.status[i], fetched.from[i].take())?;
        for (_, signer, tag) in fetched.signatures.iter().filter(|(j, _, _)| *j == i) {
            let url = fetched.listed_at[i].as_deref().unwrap_or_default();
            check_signature(cache, w, &got_now, signer, *tag, url)?;
        }
        got.push(got_now);
    }
    if !opts.offline {
        let pins: Vec<_> = got
            .iter()
            .map(|g| (g.id, g.version.clone(), g.commit))
            .collect();
        cache.pin(&pins)?;
    }
    Ok((got, fetched.warnings))
}

/// What fetching the wants' sets did, by want.
struct FetchedSets {
    status: Vec<Status>,
    /// The mirror each fetched want came from.
    from: Vec<Option<String>>,
    /// The signature tags listed for each want (by index).
    signatures: Vec<(usize, RecordedSigner, CommitId)>,
    /// The mirror whose listing named a want's signatures.
    listed_at: Vec<Option<String>>,
    warnings: Vec<String>,
}

impl FetchedSets {
    /// Nothing fetched (offline): every want from the cache.
    fn none(wants: usize) -> Self {
        FetchedSets {
            status: vec![Status::Cached; wants],
            from: vec![None; wants],
            signatures: Vec::new(),
            listed_at: vec![None; wants],
            warnings: Vec::new(),
        }
    }

    fn add(&mut self, outcome: SetOutcome) {
        self.warnings.extend(outcome.warnings);
        for i in outcome.fetched {
            self.status[i] = Status::Fetched;
            self.from[i] = outcome.url.clone();
        }
        for (i, _, _) in &outcome.signatures {
            self.listed_at[*i] = outcome.url.clone();
        }
        self.signatures.extend(outcome.signatures);
    }
}

/// Fetches the wants grouped by set (mirror list), the sets in parallel:
/// one listing and one fetch per set.
fn fetch_sets(
    cache: &Cache,
    connections: &Connections,
    base: &Path,
    wants: &[Want],
    signers: Signers<'_>,
    opts: Options,
) -> Result<FetchedSets, FetchError> {
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
                    let set = SetWants {
                        mirrors,
                        wants,
                        idx: &idx,
                        signers,
                    };
                    let outcome = fetch_set(cache, connections, base, set, opts);
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
    let mut fetched = FetchedSets::none(wants.len());
    for outcome in results {
        fetched.add(outcome?);
    }
    Ok(fetched)
}

/// The want `w` as the cache holds it, checked against the lock.
fn checked(
    cache: &Cache,
    w: &Want,
    status: Status,
    from: Option<String>,
) -> Result<Got, FetchError> {
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
    Ok(Got {
        id: w.id,
        label: w.label.clone(),
        version: w.version.clone(),
        commit: w.commit,
        origin: checked.origin,
        digest: checked.digest,
        status,
        from,
    })
}

/// Checks the signature `tag` by `signer` of the atom `w` (as fetched and
/// checked: `got`): a good signature by that key, at the recorded time,
/// over the atom as locked.
fn check_signature(
    cache: &Cache,
    w: &Want,
    got: &Got,
    signer: &RecordedSigner,
    tag: CommitId,
    url: &str,
) -> Result<(), FetchError> {
    let refuse = |why: String| FetchError::Signature {
        label: w.label.clone(),
        version: w.version.clone(),
        url: url.to_owned(),
        signer: signer.fingerprint,
        why,
    };
    let bytes = match atom_git::read_object(&cache.repo(), tag) {
        Ok(Some((gix::object::Kind::Tag, bytes))) => bytes,
        _ => {
            return Err(refuse(format!(
                "its ref points at {tag}, which is not a tag"
            )))
        }
    };
    let atom = atom_trust::Statement::new(
        w.label.clone(),
        w.version.clone(),
        w.commit,
        got.origin,
        w.root,
        got.digest,
    );
    let verdict = judge_signature(
        &atom,
        ListedTag {
            listed: Some(signer.fingerprint),
            bytes: &bytes,
        },
        None,
    );
    if !matches!(verdict.status, atom_trust::SignatureStatus::Good) {
        return Err(refuse(verdict.status.to_string()));
    }
    match verdict.signed_at {
        Some(at) if at.0 == signer.signed_at => Ok(()),
        at => Err(refuse(format!(
            "it is now signed at {}, but the lock records {}",
            at.map_or_else(|| "no time".to_owned(), |t| t.to_string()),
            atom_trust::Timestamp(signer.signed_at)
        ))),
    }
}

/// One set's share of a fetch: its mirrors, and which wants (with the
/// signers the lock records of each) come from it.
#[derive(Clone, Copy)]
struct SetWants<'a> {
    mirrors: &'a [RepoUrl],
    wants: &'a [Want],
    idx: &'a [usize],
    signers: Signers<'a>,
}

impl SetWants<'_> {
    /// The signers the lock records of want `i`.
    fn signers_of(&self, i: usize) -> &[RecordedSigner] {
        self.signers.get(i).copied().unwrap_or_default()
    }
}

/// The ref of the signature of `w` by `signer` (`spec/trust.md` §3).
fn signature_ref(w: &Want, signer: &RecordedSigner) -> String {
    TrustRef::Signature {
        atom: AtomVersion::new(w.label.clone(), w.version.clone()),
        signer: signer.fingerprint,
    }
    .name()
}

/// How many of the atoms wanted are in the cache (for the caller's
/// progress display: an `eka::progress` event, as phases are spans).
fn progress(done: usize, total: usize) {
    tracing::info!(target: "eka::progress", done, total, unit = "atoms");
}

/// The exact refs that `eka fetch` lists for the atoms `idx` of one set:
/// the root and each version's atom ref, in this format's namespace and in
/// eka 0.3's (the lock does not say which one published it), and the
/// signature refs of the signers the lock records.
fn check_prefixes(set: SetWants<'_>) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()];
    for &i in set.idx {
        let w = &set.wants[i];
        let atom = AtomRef::Atom(AtomVersion::new(w.label.clone(), w.version.clone()));
        out.push(atom.name_in(Namespace::Atoms));
        out.push(atom.name_in(Namespace::Eka03));
        out.extend(set.signers_of(i).iter().map(|s| signature_ref(w, s)));
    }
    out
}

/// The tags of the signatures the lock records for the atoms of `set`,
/// from what `url` listed; a missing one refuses the set.
fn listed_signatures(
    url: &str,
    listed: &[RemoteRef],
    set: SetWants<'_>,
) -> Result<Vec<(usize, RecordedSigner, CommitId)>, FetchError> {
    let mut out = Vec::new();
    for &i in set.idx {
        let w = &set.wants[i];
        for signer in set.signers_of(i) {
            let name = signature_ref(w, signer);
            let tag = listed.iter().find(|r| r.name == name).ok_or_else(|| {
                FetchError::SignatureGone {
                    label: w.label.clone(),
                    version: w.version.clone(),
                    url: url.to_owned(),
                    signer: signer.fingerprint,
                }
            })?;
            out.push((i, *signer, tag.target));
        }
    }
    Ok(out)
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
    set: SetWants<'_>,
    opts: Options,
) -> Result<SetOutcome, FetchError> {
    let (wants, idx) = (set.wants, set.idx);
    let first = &wants[idx[0]];
    let (missing, cached): (Vec<usize>, Vec<usize>) = idx
        .iter()
        .copied()
        .partition(|&i| !cache.has(&wants[i].commit));
    if missing.is_empty() && !opts.check_remote {
        return Ok(SetOutcome::default());
    }
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    let mut timed_out = false;
    for m in set.mirrors {
        let url = location(m, base);
        let mut signatures = Vec::new();
        if opts.check_remote {
            let prefixes = check_prefixes(set);
            let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            let listed = match connections.ls_refs_then_fetch(&url, &p) {
                Ok(l) => l,
                Err(e) => {
                    timed_out |= e.timed_out();
                    failures.push(format!("{url}: {}", e.reason()));
                    continue;
                }
            };
            check_listed(&url, &listed, wants, idx)?;
            signatures = listed_signatures(&url, &listed, set)?;
        }
        // The missing atoms and signature tags in one fetch; the atoms
        // already cached are said to be there, so a tag comes alone.
        let mut ids: Vec<CommitId> = missing.iter().map(|&i| wants[i].commit).collect();
        ids.extend(
            signatures
                .iter()
                .map(|(_, _, tag)| *tag)
                .filter(|tag| !cache.has(tag)),
        );
        let haves: Vec<CommitId> = cached.iter().map(|&i| wants[i].commit).collect();
        match connections.fetch_objects_having(&cache.repo(), &url, &ids, &haves) {
            Ok(()) => {
                warnings.extend(
                    failures
                        .iter()
                        .map(|f| format!("mirror unreachable, used `{url}` instead: {f}")),
                );
                return Ok(SetOutcome {
                    fetched: missing,
                    url: Some(url),
                    warnings,
                    signatures,
                });
            }
            Err(e) => {
                timed_out |= e.timed_out();
                failures.push(format!("{url}: {}", e.reason()));
            }
        }
    }
    let (label, version, why) = (
        first.label.clone(),
        first.version.clone(),
        failures.join("; "),
    );
    Err(match timed_out {
        true => FetchError::TimedOut {
            label,
            version,
            why,
        },
        false => FetchError::Unreachable {
            label,
            version,
            why,
        },
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
        let set = SetWants {
            mirrors: &[],
            wants: &wants,
            idx: &[0, 1],
            signers: &[],
        };
        assert_eq!(
            check_prefixes(set),
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
