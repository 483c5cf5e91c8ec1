//! Remote queries that fetch no objects: which atoms and versions a
//! repository (or a set of mirrors) publishes, read from a ref listing alone,
//! and manifests fetched as single blobs (normative text in `spec/query.md`).
//!
//! - [`list_atom_versions`]: the versions of one atom. It asks for
//!   `refs/atoms/<label>/` and `refs/atoms/_root` (plus eka 0.3's
//!   `refs/eka/atoms/<label>/` and `refs/ekala/init`), and with
//!   [`QueryOptions::metadata`] also the atom's `_manifest` and `_origin`
//!   refs (`refs/eka/meta/<label>/` in eka 0.3's namespace).
//! - [`list_atoms`]: the versions of several atoms of one repository, in
//!   one listing per mirror (a resolver's round).
//! - [`list_repo`]: every atom of a repository: `refs/atoms/`,
//!   `refs/eka/atoms/`, `refs/eka/meta/`, `refs/ekala/init`.
//! - [`fetch_manifests`](super::manifests::fetch_manifests) / [`ManifestStore::fetch`](super::manifests::ManifestStore::fetch): the `atom.toml` blobs of
//!   some versions, in one fetch per remote that downloads those blobs and
//!   nothing else.
//!
//! Listings use protocol v2 `ls-refs` with `ref-prefix` arguments, so the
//! server sends only the refs asked for: the cost of a query does not depend
//! on how many other refs (branches, tags, other atoms) the remote holds.
//!
//! ## Mirrors
//!
//! Every listing takes several URLs, the mirrors of one set. They are asked
//! concurrently (a thread each) and the answers that arrive within
//! [`QueryOptions::timeout`] are merged:
//! - a mirror that cannot be reached is a [`QueryWarning::Unreachable`] as long
//!   as one mirror answers, and [`RegistryError::Unreachable`] when none does;
//! - two mirrors that give one version different commits (or manifests, or
//!   origins), or that have different roots, are [`RegistryError::Disagree`],
//!   naming both: one of them has been rewritten or tampered with;
//! - with [`QueryOptions::expected_root`] (the root a lock recorded), a mirror
//!   whose root differs is refused: [`RegistryError::UnexpectedRoot`].
//!
//! A version that only some mirrors have is listed (mirrors lag behind each
//! other); [`VersionEntry::mirrors`](super::listing::VersionEntry::mirrors) says which have it.
//!
//! ```no_run
//! use atom_lock::registry::{self as remote, QueryOptions};
//! use atom_lock::RepoUrl;
//! use atom_format::Label;
//!
//! let urls: Vec<RepoUrl> = vec!["https://example.com/registry.git".parse().unwrap()];
//! let label = Label::parse("hello").unwrap();
//! let connections = atom_git::Connections::default();
//! let listing = remote::list_atom_versions(&connections, &urls, &label, &QueryOptions::default()).unwrap();
//! let req = semver::VersionReq::parse("^1").unwrap();
//! let chosen = listing.select(&label, Some(&req)).unwrap();
//! let manifests = remote::fetch_manifests(&connections, &listing.answered[0], &[chosen.manifest_want(&label)]).unwrap();
//! println!("{}", manifests[0].text);
//! ```

use std::sync::mpsc;
use std::time::{Duration, Instant};

use atom_format::refs::{
    ATOMS_PREFIX, EKA03_ATOMS_PREFIX, EKA03_META_PREFIX, EKA03_ROOT_REF, ROOT_REF,
};
use atom_format::Label;
use atom_git::{Connections, RemoteRef};
use gix::ObjectId;

use super::listing::{merged_root, merged_versions, read_refs, MirrorRefs};
use super::listings::{self, Listings};
use super::{Listing, MirrorFailure, QueryWarning, RegistryError};
use crate::RepoUrl;

/// How to query.
#[derive(Clone, Debug, Default)]
pub struct QueryOptions {
    /// Also list the `_manifest` and `_origin` refs of a single atom
    /// ([`list_atom_versions`]): needed to fill [`VersionEntry::manifest`](super::listing::VersionEntry::manifest)
    /// and [`VersionEntry::origin`](super::listing::VersionEntry::origin), at about three times the bytes.
    /// Whole-repository listings always include them.
    pub metadata: bool,
    /// The root the caller expects (from a lock): a mirror with another root
    /// is refused.
    pub expected_root: Option<ObjectId>,
    /// How long to wait for mirrors; those that have not answered by then
    /// count as unreachable. `None`: a minute, or twice the connections'
    /// timeout if that is longer (each connection gives up on a silent
    /// remote by itself; this bounds one that trickles).
    pub timeout: Option<Duration>,
    /// Also refuse a mirror without a root while another has one
    /// ([`RegistryError::Disagree`]): what a resolver needs, where a set's
    /// mirrors must be copies of one repository. Off by default, so that a
    /// mirror that has not received any atom yet only lags.
    pub same_root: bool,
    /// Keep each mirror's connection open for a fetch from it that follows
    /// on the same [`Connections`] ([`Connections::ls_refs_then_fetch`]).
    pub keep_connection: bool,
    /// Refuse a version that one mirror lists in both namespaces with
    /// different commits ([`RegistryError::NamespaceConflict`]) instead of
    /// using the `refs/atoms/` one with a [`QueryWarning::NamespaceConflict`]:
    /// what a resolver needs, which must not lock either while they
    /// disagree.
    pub strict_namespaces: bool,
    /// Whether listings are kept for `--offline`, or answered from those
    /// kept ([`listings`]).
    pub listings: Listings,
}

/// The ref prefixes of a query for one atom.
pub fn atom_prefixes(label: &Label, metadata: bool) -> Vec<String> {
    let mut p = vec![
        format!("{ATOMS_PREFIX}{label}/"),
        // Yanks decide what resolution may pick; signatures are counted.
        format!("{ATOMS_PREFIX}_sig/{label}/"),
        format!("{ATOMS_PREFIX}_yank/{label}/"),
        ROOT_REF.to_owned(),
        format!("{EKA03_ATOMS_PREFIX}{label}/"),
        EKA03_ROOT_REF.to_owned(),
    ];
    if metadata {
        p.push(format!("{ATOMS_PREFIX}_manifest/{label}/"));
        p.push(format!("{ATOMS_PREFIX}_origin/{label}/"));
        p.push(format!("{EKA03_META_PREFIX}{label}/"));
    }
    p
}

/// The ref prefixes of a query for a whole repository.
pub fn repo_prefixes() -> Vec<String> {
    [
        ATOMS_PREFIX,
        EKA03_ATOMS_PREFIX,
        EKA03_META_PREFIX,
        EKA03_ROOT_REF,
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The versions of `label` on the mirrors `urls`.
///
/// Errors: [`RegistryError::NoAtoms`] if no mirror publishes any atom (no root
/// and no version), [`RegistryError::UnknownAtom`] if they publish atoms but not
/// this one, and the mirror errors of the module documentation.
pub fn list_atom_versions(
    connections: &Connections,
    urls: &[RepoUrl],
    label: &Label,
    options: &QueryOptions,
) -> Result<Listing, RegistryError> {
    list_atoms(connections, urls, std::slice::from_ref(label), options)
}

/// The versions of several atoms of one repository in one listing per
/// mirror (the prefixes of every label in one `ls-refs`): what a resolver
/// needs to ask each remote once per round. Errors as
/// [`list_atom_versions`], for the first label without versions.
pub fn list_atoms(
    connections: &Connections,
    urls: &[RepoUrl],
    labels: &[Label],
    options: &QueryOptions,
) -> Result<Listing, RegistryError> {
    let mut prefixes: Vec<String> = Vec::new();
    for label in labels {
        for p in atom_prefixes(label, options.metadata) {
            if !prefixes.contains(&p) {
                prefixes.push(p);
            }
        }
    }
    let listing = query(connections, urls, &prefixes, options)?;
    if let Some(label) = labels.iter().find(|l| listing.versions(l).is_empty()) {
        let urls = listing.answered.iter().map(|u| u.to_string()).collect();
        return Err(if listing.root.is_none() && listing.atoms.is_empty() {
            RegistryError::NoAtoms { urls }
        } else {
            RegistryError::UnknownAtom {
                label: label.clone(),
                urls,
            }
        });
    }
    Ok(listing)
}

/// Every atom and version on the mirrors `urls`, with manifest and origin
/// blobs. [`RegistryError::NoAtoms`] if there are none.
pub fn list_repo(
    connections: &Connections,
    urls: &[RepoUrl],
    options: &QueryOptions,
) -> Result<Listing, RegistryError> {
    let listing = query(connections, urls, &repo_prefixes(), options)?;
    if listing.atoms.is_empty() {
        let urls = listing.answered.iter().map(|u| u.to_string()).collect();
        return Err(RegistryError::NoAtoms { urls });
    }
    Ok(listing)
}

/// Lists `prefixes` on every mirror concurrently and merges the answers.
pub fn query(
    connections: &Connections,
    urls: &[RepoUrl],
    prefixes: &[String],
    options: &QueryOptions,
) -> Result<Listing, RegistryError> {
    if urls.is_empty() {
        return Err(RegistryError::NoMirrors);
    }
    let mut listing = Listing::default();
    let answers = match &options.listings {
        Listings::Offline(cache) => {
            kept_answers(connections, cache, urls, prefixes, &mut listing.listed)?
        }
        _ => ask_mirrors(connections, urls, prefixes, options),
    };
    if let Listings::Keep(cache) = &options.listings {
        keep_answers(cache, urls, prefixes, &answers, &mut listing.warnings);
    }
    let waited = query_wait(connections, options);
    let mirrors = read_answers(urls, answers, waited, &mut listing.warnings)?;
    listing.root = merged_root(&mirrors, options)?;
    listing.atoms = merged_versions(&mirrors, options, &mut listing.warnings)?;
    listing.answered = mirrors.into_iter().map(|(u, _)| u).collect();
    Ok(listing)
}

/// A mirror's answer: its refs, or why it has none; `None` when it did not
/// answer in time.
type Answer = Option<Result<Vec<RemoteRef>, MirrorFailure>>;

/// Lists `prefixes` on each mirror, each in a thread of its own, and waits
/// at most [`QueryOptions::timeout`] for the answers, in the order of
/// `urls`.
fn ask_mirrors(
    connections: &Connections,
    urls: &[RepoUrl],
    prefixes: &[String],
    options: &QueryOptions,
) -> Vec<Answer> {
    let (tx, rx) = mpsc::channel();
    for (i, url) in urls.iter().enumerate() {
        let tx = tx.clone();
        let url = url.to_string();
        let prefixes = prefixes.to_vec();
        let keep = options.keep_connection;
        let connections = connections.clone();
        // Detached: a mirror that never answers must not hold the query up
        // past the timeout; its thread ends with the process.
        std::thread::spawn(move || {
            let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            let listed = match keep {
                true => connections.ls_refs_then_fetch(&url, &p),
                false => connections.ls_refs(&url, &p),
            };
            let _ = tx.send((i, listed.map_err(|e| MirrorFailure::of(url, &e))));
        });
    }
    drop(tx);
    let deadline = Instant::now() + query_wait(connections, options);
    let mut answers: Vec<Answer> = vec![None; urls.len()];
    for _ in 0..urls.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, result)) => answers[i] = Some(result),
            Err(_) => break,
        }
    }
    answers
}

/// How long a query waits for its mirrors.
fn query_wait(connections: &Connections, options: &QueryOptions) -> Duration {
    const AT_LEAST: Duration = Duration::from_secs(60);
    options
        .timeout
        .unwrap_or_else(|| AT_LEAST.max(connections.timeout() * 2))
}

/// Whether `url` is a repository on this machine (a path or a `file://`
/// URL): asking it uses no network.
pub fn is_local(url: &RepoUrl) -> bool {
    match url {
        RepoUrl::Path(_) => true,
        RepoUrl::Url(u) => u.scheme() == "file",
    }
}

/// The answers of `urls` without the network: the repositories on this
/// machine are asked, the others answered from their kept listings
/// (`listed`: when the oldest one used was made). None of them able to
/// answer is [`RegistryError::NotCached`].
fn kept_answers(
    connections: &Connections,
    cache: &std::path::Path,
    urls: &[RepoUrl],
    prefixes: &[String],
    listed: &mut Option<std::time::SystemTime>,
) -> Result<Vec<Answer>, RegistryError> {
    let p: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let mut answers = Vec::new();
    for url in urls {
        let text = url.to_string();
        let answer = match is_local(url) {
            true => connections
                .ls_refs(&text, &p)
                .map_err(|e| MirrorFailure::of(text.clone(), &e)),
            false => match listings::kept(cache, &text, prefixes) {
                Ok(Some(kept)) => {
                    *listed = Some(listed.map_or(kept.listed, |l| l.min(kept.listed)));
                    Ok(kept.refs)
                }
                Ok(None) => Err(MirrorFailure::new(
                    text.clone(),
                    "no listing of it is cached",
                )),
                Err(e) => Err(MirrorFailure::new(
                    text.clone(),
                    format!("its cached listing cannot be read: {e}"),
                )),
            },
        };
        answers.push(Some(answer));
    }
    let none_answered = answers.iter().all(|a| matches!(a, Some(Err(_))));
    if none_answered && urls.iter().all(|u| !is_local(u)) {
        return Err(RegistryError::NotCached {
            urls: urls.iter().map(ToString::to_string).collect(),
        });
    }
    Ok(answers)
}

/// Keeps the answers that came for `--offline`; one that cannot be kept
/// is a warning (the query itself succeeded).
fn keep_answers(
    cache: &std::path::Path,
    urls: &[RepoUrl],
    prefixes: &[String],
    answers: &[Answer],
    warnings: &mut Vec<QueryWarning>,
) {
    let now = std::time::SystemTime::now();
    for (url, answer) in urls.iter().zip(answers) {
        let (Some(Ok(refs)), false) = (answer, is_local(url)) else {
            continue;
        };
        let url = url.to_string();
        if let Err(e) = listings::keep(cache, &url, prefixes, refs, now) {
            warnings.push(QueryWarning::NotKept {
                url,
                why: e.to_string(),
            });
        }
    }
}

/// The answering mirrors' refs, read into atoms; the others are warnings,
/// or, when none answered, the error.
fn read_answers(
    urls: &[RepoUrl],
    answers: Vec<Answer>,
    waited: Duration,
    warnings: &mut Vec<QueryWarning>,
) -> Result<Vec<(RepoUrl, MirrorRefs)>, RegistryError> {
    let mut failures = Vec::new();
    let mut mirrors = Vec::new();
    for (url, answer) in urls.iter().zip(answers) {
        let text = url.to_string();
        match answer {
            Some(Ok(refs)) => mirrors.push((url.clone(), read_refs(&text, &refs, warnings))),
            Some(Err(failure)) => failures.push(failure),
            None => failures.push(MirrorFailure::silent(text, waited)),
        }
    }
    if mirrors.is_empty() {
        return Err(RegistryError::unreachable(None, failures));
    }
    for MirrorFailure { url, reason, .. } in failures {
        warnings.push(QueryWarning::Unreachable { url, why: reason });
    }
    Ok(mirrors)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Namespace, RegistryError as QueryError};
    use super::*;

    /// Runs git in `dir`; its stdout, trimmed.
    fn git_in(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    #[test]
    fn same_root_refuses_a_rootless_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| git_in(dir.path(), args);
        git(&["init", "-q", "--bare", "full"]);
        git(&["init", "-q", "--bare", "empty"]);
        let tree = git(&["--git-dir=full", "mktree"]);
        let root = git(&["--git-dir=full", "commit-tree", &tree, "-m", "root"]);
        git(&["--git-dir=full", "update-ref", ROOT_REF, &root]);
        git(&["--git-dir=full", "update-ref", "refs/atoms/a/1.0.0", &root]);
        let urls: Vec<RepoUrl> = ["full", "empty"]
            .iter()
            .map(|d| RepoUrl::Path(dir.path().join(d).display().to_string()))
            .collect();
        let label = Label::parse("a").unwrap();
        let lenient = list_atom_versions(
            &Connections::default(),
            &urls,
            &label,
            &QueryOptions::default(),
        )
        .unwrap();
        assert_eq!(lenient.root.unwrap().to_string(), root);
        let strict = QueryOptions {
            same_root: true,
            ..QueryOptions::default()
        };
        let err = list_atom_versions(&Connections::default(), &urls, &label, &strict).unwrap_err();
        assert!(
            matches!(&err, QueryError::Disagree { b, .. } if b == "none"),
            "{err}"
        );
    }

    /// One version in both namespaces of a mirror: listed once, from
    /// `refs/atoms/`, when they agree; when they do not, a warning (and the
    /// `refs/atoms/` commit) by default, an error with
    /// [`QueryOptions::strict_namespaces`].
    #[test]
    fn one_version_in_both_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| git_in(dir.path(), args);
        git(&["init", "-q", "--bare", "r"]);
        let tree = git(&["--git-dir=r", "mktree"]);
        let one = git(&["--git-dir=r", "commit-tree", &tree, "-m", "one"]);
        let two = git(&["--git-dir=r", "commit-tree", &tree, "-m", "two"]);
        for (name, id) in [
            (EKA03_ROOT_REF, &one),
            ("refs/atoms/a/1.0.0", &one),
            ("refs/eka/atoms/a/1.0.0", &one),
            ("refs/eka/atoms/a/0.9.0", &two),
        ] {
            git(&["--git-dir=r", "update-ref", name, id]);
        }
        let urls = [RepoUrl::Path(dir.path().join("r").display().to_string())];
        let label = Label::parse("a").unwrap();
        let strict = QueryOptions {
            strict_namespaces: true,
            ..QueryOptions::default()
        };
        for options in [QueryOptions::default(), strict.clone()] {
            let l = list_atom_versions(&Connections::default(), &urls, &label, &options).unwrap();
            assert_eq!(l.root.unwrap().to_string(), one);
            let v: Vec<(String, Namespace)> = l
                .versions(&label)
                .iter()
                .map(|e| (e.version.to_string(), e.namespace))
                .collect();
            assert_eq!(
                v,
                [
                    ("1.0.0".to_owned(), Namespace::Atoms),
                    ("0.9.0".to_owned(), Namespace::Eka03)
                ]
            );
            assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        }
        git(&["--git-dir=r", "update-ref", "refs/eka/atoms/a/1.0.0", &two]);
        let l = list_atom_versions(
            &Connections::default(),
            &urls,
            &label,
            &QueryOptions::default(),
        )
        .unwrap();
        assert_eq!(l.versions(&label)[0].commit.to_string(), one);
        assert!(
            matches!(&l.warnings[..], [QueryWarning::NamespaceConflict { legacy, .. }] if *legacy == two),
            "{:?}",
            l.warnings
        );
        let e = list_atom_versions(&Connections::default(), &urls, &label, &strict).unwrap_err();
        assert!(matches!(e, QueryError::NamespaceConflict { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "`{}` publishes a@1.0.0 twice: `refs/atoms/a/1.0.0` points to {one}, but eka 0.3's `refs/eka/atoms/a/1.0.0` to {two}",
                urls[0]
            )
        );
    }
}
