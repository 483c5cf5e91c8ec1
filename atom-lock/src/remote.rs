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
//! - [`fetch_manifests`] / [`ManifestStore::fetch`]: the `atom.toml` blobs of
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
//!   as one mirror answers, and [`QueryError::Unreachable`] when none does;
//! - two mirrors that give one version different commits (or manifests, or
//!   origins), or that have different roots, are [`QueryError::Disagree`],
//!   naming both: one of them has been rewritten or tampered with;
//! - with [`QueryOptions::expected_root`] (the root a lock recorded), a mirror
//!   whose root differs is refused: [`QueryError::UnexpectedRoot`].
//!
//! A version that only some mirrors have is listed (mirrors lag behind each
//! other); [`VersionEntry::mirrors`] says which have it.
//!
//! ```no_run
//! use atom_lock::remote::{self, QueryOptions};
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

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use atom_format::refs::{
    AtomRef, AtomVersion, ATOMS_PREFIX, EKA03_ATOMS_PREFIX, EKA03_META_PREFIX, EKA03_ROOT_REF,
    ROOT_REF,
};
use atom_format::{AtomId, Label};
use atom_git::{Connections, RemoteRef};
use gix::ObjectId;
use semver::{Version, VersionReq};

use crate::RepoUrl;

/// The ref layout a version was found in: atom-format's, re-exported.
pub use atom_format::refs::Namespace;

/// The full name of `kind` in `namespace` (`kind` is an [`AtomRef`]
/// constructor).
fn ref_in(namespace: Namespace, kind: fn(AtomVersion) -> AtomRef, v: &AtomVersion) -> String {
    kind(v.clone()).name_in(namespace)
}

/// How to query.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    /// Also list the `_manifest` and `_origin` refs of a single atom
    /// ([`list_atom_versions`]): needed to fill [`VersionEntry::manifest`]
    /// and [`VersionEntry::origin`], at about three times the bytes.
    /// Whole-repository listings always include them.
    pub metadata: bool,
    /// The root the caller expects (from a lock): a mirror with another root
    /// is refused.
    pub expected_root: Option<ObjectId>,
    /// How long to wait for mirrors; those that have not answered by then
    /// count as unreachable.
    pub timeout: Duration,
    /// Also refuse a mirror without a root while another has one
    /// ([`QueryError::Disagree`]): what a resolver needs, where a set's
    /// mirrors must be copies of one repository. Off by default, so that a
    /// mirror that has not received any atom yet only lags.
    pub same_root: bool,
    /// Keep each mirror's connection open for a fetch from it that follows
    /// on the same [`Connections`] ([`Connections::ls_refs_then_fetch`]).
    pub keep_connection: bool,
    /// Refuse a version that one mirror lists in both namespaces with
    /// different commits ([`QueryError::NamespaceConflict`]) instead of
    /// using the `refs/atoms/` one with a [`QueryWarning::NamespaceConflict`]:
    /// what a resolver needs, which must not lock either while they
    /// disagree.
    pub strict_namespaces: bool,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            metadata: false,
            expected_root: None,
            timeout: Duration::from_secs(60),
            same_root: false,
            keep_connection: false,
            strict_namespaces: false,
        }
    }
}

/// One published version of an atom, as the mirrors list it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VersionEntry {
    pub version: Version,
    /// The atom commit.
    #[serde(serialize_with = "ser_oid")]
    pub commit: ObjectId,
    /// The `atom.toml` blob, when the listing included manifest refs.
    #[serde(serialize_with = "ser_opt_oid")]
    pub manifest: Option<ObjectId>,
    /// The source commit, when the listing included origin refs.
    #[serde(serialize_with = "ser_opt_oid")]
    pub origin: Option<ObjectId>,
    pub namespace: Namespace,
    /// The mirrors (URLs) that list this version.
    pub mirrors: Vec<String>,
}

impl VersionEntry {
    /// What [`fetch_manifests`] needs to fetch this version's manifest.
    pub fn manifest_want(&self, label: &Label) -> ManifestWant {
        ManifestWant {
            version: AtomVersion::new(label.clone(), self.version.clone()),
            namespace: self.namespace,
            blob: self.manifest,
        }
    }
}

/// Something a caller should tell the user about; the query still answered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum QueryWarning {
    /// A ref under an atoms prefix that is not `<label>/<version>`.
    #[error("`{url}`: ignoring `{name}`: {why}")]
    IgnoredRef {
        url: String,
        name: String,
        why: String,
    },
    /// A mirror that could not be asked (others answered).
    #[error("mirror `{url}` is unreachable: {why}")]
    Unreachable { url: String, why: String },
    /// One version in both namespaces of one mirror, with different commits:
    /// the `refs/atoms/` one is used.
    #[error("`{url}`: `{legacy_ref}` points to {legacy}, but `{atom_ref}` to {current}; using the latter")]
    NamespaceConflict {
        url: String,
        atom_ref: String,
        current: String,
        legacy_ref: String,
        legacy: String,
    },
}

/// The merged answer of the mirrors.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Listing {
    /// The repository root commit (`refs/atoms/_root`, or eka 0.3's
    /// `refs/ekala/init`), if the repository publishes one.
    #[serde(serialize_with = "ser_opt_oid")]
    pub root: Option<ObjectId>,
    /// Every atom found, each with its versions, newest first.
    pub atoms: BTreeMap<Label, Vec<VersionEntry>>,
    /// The mirrors that answered, in the order they were given.
    #[serde(serialize_with = "ser_urls")]
    pub answered: Vec<RepoUrl>,
    pub warnings: Vec<QueryWarning>,
}

impl Listing {
    /// The versions of `label`, newest first (empty if there are none).
    pub fn versions(&self, label: &Label) -> &[VersionEntry] {
        self.atoms.get(label).map_or(&[], Vec::as_slice)
    }

    /// The atom id of `label` in this repository, if its root is known.
    pub fn atom_id(&self, label: &Label) -> Option<AtomId> {
        self.root.map(|r| AtomId::compute(&r, label))
    }

    /// The highest version of `label` matching `req`. Without a requirement:
    /// the highest release, or the highest pre-release if there is no
    /// release (a requirement matches pre-releases only as semver says).
    pub fn select(
        &self,
        label: &Label,
        req: Option<&VersionReq>,
    ) -> Result<&VersionEntry, QueryError> {
        let versions = self.versions(label);
        let found = match req {
            Some(req) => versions.iter().find(|v| req.matches(&v.version)),
            None => versions
                .iter()
                .find(|v| v.version.pre.is_empty())
                .or(versions.first()),
        };
        found.ok_or_else(|| QueryError::NoMatch {
            label: label.clone(),
            req: req.map_or_else(|| "*".to_owned(), ToString::to_string),
            available: versions.iter().map(|v| v.version.clone()).collect(),
        })
    }
}

/// Why a query could not answer.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum QueryError {
    #[error("no repository URL to ask")]
    #[diagnostic(code(eka::query::no_mirror))]
    NoMirrors,
    #[error("cannot reach {}", failures_text(.failures))]
    #[diagnostic(
        code(eka::query::unreachable),
        help("check the URL, your network and that the server is up")
    )]
    Unreachable { failures: Vec<(String, String)> },
    #[error("mirrors disagree on {what}: `{url_a}` has {a}, but `{url_b}` has {b}")]
    #[diagnostic(
        code(eka::query::mirrors_disagree),
        help("one of these mirrors has been rewritten or tampered with; nothing was used from either — remove the wrong one from the set")
    )]
    Disagree {
        what: String,
        url_a: String,
        a: String,
        url_b: String,
        b: String,
    },
    #[error("refusing mirror `{url}`: its root is {}, but {expected} was expected", .found.map_or_else(|| "missing".to_owned(), |f| f.to_string()))]
    #[diagnostic(
        code(eka::query::unexpected_root),
        help("this URL now serves another repository than the one locked; remove it from the set, or re-lock if the move is intended")
    )]
    UnexpectedRoot {
        url: String,
        expected: ObjectId,
        found: Option<ObjectId>,
    },
    #[error("{} publishes no atoms", urls_text(.urls))]
    #[diagnostic(code(eka::query::no_atoms))]
    NoAtoms { urls: Vec<String> },
    #[error("{} publishes no atom `{label}`", urls_text(.urls))]
    #[diagnostic(code(eka::query::unknown_atom))]
    UnknownAtom { label: Label, urls: Vec<String> },
    #[error("no version of `{label}` matches `{req}`; available: {}", versions_text(.available))]
    #[diagnostic(
        code(eka::query::no_match),
        help("loosen the requirement, or leave out `@…` to take the newest")
    )]
    NoMatch {
        label: Label,
        req: String,
        available: Vec<Version>,
    },
    #[error("`{url}` publishes {version} twice: `{atom_ref}` points to {current}, but eka 0.3's `{legacy_ref}` to {legacy}")]
    #[diagnostic(
        code(eka::query::namespace_conflict),
        help("one of the two refs was rewritten or tampered with; nothing is locked from either until the wrong one is deleted from the repository")
    )]
    NamespaceConflict {
        url: String,
        version: AtomVersion,
        atom_ref: String,
        current: String,
        legacy_ref: String,
        legacy: String,
    },
    #[error("cannot fetch manifests from `{url}`: {why}")]
    #[diagnostic(code(eka::query::fetch))]
    Fetch { url: String, why: String },
    #[error("`{url}` has no `{name}`")]
    #[diagnostic(code(eka::query::no_manifest))]
    MissingManifest { url: String, name: String },
    #[error("`{name}` on `{url}` is a {kind}, not the atom.toml blob")]
    #[diagnostic(code(eka::query::bad_manifest))]
    NotABlob {
        url: String,
        name: String,
        kind: String,
    },
    #[error("cannot use the manifest store: {0}")]
    #[diagnostic(code(eka::query::store))]
    Store(String),
}

fn failures_text(f: &[(String, String)]) -> String {
    f.iter()
        .map(|(u, w)| format!("`{u}` ({w})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn urls_text(urls: &[String]) -> String {
    urls.iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn versions_text(v: &[Version]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The ref prefixes of a query for one atom.
pub fn atom_prefixes(label: &Label, metadata: bool) -> Vec<String> {
    let mut p = vec![
        format!("{ATOMS_PREFIX}{label}/"),
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
/// Errors: [`QueryError::NoAtoms`] if no mirror publishes any atom (no root
/// and no version), [`QueryError::UnknownAtom`] if they publish atoms but not
/// this one, and the mirror errors of the module documentation.
pub fn list_atom_versions(
    connections: &Connections,
    urls: &[RepoUrl],
    label: &Label,
    options: &QueryOptions,
) -> Result<Listing, QueryError> {
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
) -> Result<Listing, QueryError> {
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
            QueryError::NoAtoms { urls }
        } else {
            QueryError::UnknownAtom {
                label: label.clone(),
                urls,
            }
        });
    }
    Ok(listing)
}

/// Every atom and version on the mirrors `urls`, with manifest and origin
/// blobs. [`QueryError::NoAtoms`] if there are none.
pub fn list_repo(
    connections: &Connections,
    urls: &[RepoUrl],
    options: &QueryOptions,
) -> Result<Listing, QueryError> {
    let listing = query(connections, urls, &repo_prefixes(), options)?;
    if listing.atoms.is_empty() {
        let urls = listing.answered.iter().map(|u| u.to_string()).collect();
        return Err(QueryError::NoAtoms { urls });
    }
    Ok(listing)
}

/// One mirror's refs, read into atoms.
#[derive(Default)]
struct MirrorRefs {
    root: Option<ObjectId>,
    /// (namespace, version) -> (atom commit, manifest, origin)
    versions: BTreeMap<(AtomVersion, Namespace), Slot>,
}

#[derive(Default, Clone, Copy)]
struct Slot {
    commit: Option<ObjectId>,
    manifest: Option<ObjectId>,
    origin: Option<ObjectId>,
}

fn read_refs(url: &str, refs: &[RemoteRef], warnings: &mut Vec<QueryWarning>) -> MirrorRefs {
    let mut out = MirrorRefs::default();
    let mut legacy_root = None;
    for r in refs {
        match AtomRef::parse_any(&r.name) {
            None => {}
            Some(Err(e)) => warnings.push(QueryWarning::IgnoredRef {
                url: url.to_owned(),
                name: r.name.clone(),
                why: e.why,
            }),
            Some(Ok((namespace, kind))) => {
                let (v, set): (AtomVersion, fn(&mut Slot, ObjectId)) = match kind {
                    AtomRef::Root => {
                        match namespace {
                            Namespace::Atoms => out.root = Some(r.target),
                            Namespace::Eka03 => legacy_root = Some(r.target),
                        }
                        continue;
                    }
                    AtomRef::Atom(v) => (v, |s, id| s.commit = Some(id)),
                    AtomRef::Manifest(v) => (v, |s, id| s.manifest = Some(id)),
                    AtomRef::Origin(v) => (v, |s, id| s.origin = Some(id)),
                };
                set(out.versions.entry((v, namespace)).or_default(), r.target);
            }
        }
    }
    // eka 0.3's root stands in when the repository has no `_root` (the two
    // agree on single-root histories).
    out.root = out.root.or(legacy_root);
    // Metadata without an atom commit names no version.
    out.versions.retain(|(v, ns), slot| {
        if slot.commit.is_none() {
            let name = ref_in(*ns, AtomRef::Atom, v);
            warnings.push(QueryWarning::IgnoredRef {
                url: url.to_owned(),
                name: if slot.manifest.is_some() {
                    ref_in(*ns, AtomRef::Manifest, v)
                } else {
                    ref_in(*ns, AtomRef::Origin, v)
                },
                why: format!("`{name}` does not exist"),
            });
        }
        slot.commit.is_some()
    });
    out
}

/// Lists `prefixes` on every mirror concurrently and merges the answers.
pub fn query(
    connections: &Connections,
    urls: &[RepoUrl],
    prefixes: &[String],
    options: &QueryOptions,
) -> Result<Listing, QueryError> {
    if urls.is_empty() {
        return Err(QueryError::NoMirrors);
    }
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
            let listed = if keep {
                connections.ls_refs_then_fetch(&url, &p)
            } else {
                connections.ls_refs(&url, &p)
            };
            let _ = tx.send((i, listed.map_err(|e| e.reason())));
        });
    }
    drop(tx);
    let deadline = Instant::now() + options.timeout;
    let mut answers: Vec<Option<Result<Vec<RemoteRef>, String>>> = vec![None; urls.len()];
    let mut pending = urls.len();
    while pending > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((i, result)) => {
                answers[i] = Some(result);
                pending -= 1;
            }
            Err(_) => break,
        }
    }

    let mut listing = Listing::default();
    let mut failures = Vec::new();
    let mut mirrors: Vec<(RepoUrl, MirrorRefs)> = Vec::new();
    for (url, answer) in urls.iter().zip(answers) {
        let text = url.to_string();
        match answer {
            Some(Ok(refs)) => {
                let m = read_refs(&text, &refs, &mut listing.warnings);
                mirrors.push((url.clone(), m));
            }
            Some(Err(why)) => failures.push((text, why)),
            None => failures.push((
                text,
                format!("no answer within {} s", options.timeout.as_secs_f32()),
            )),
        }
    }
    if mirrors.is_empty() {
        return Err(QueryError::Unreachable { failures });
    }
    for (url, why) in failures {
        listing
            .warnings
            .push(QueryWarning::Unreachable { url, why });
    }

    // Roots: all mirrors that have one must agree, and with the expected one.
    let mut root_from: Option<(String, ObjectId)> = None;
    for (url, m) in &mirrors {
        if let Some(expected) = options.expected_root {
            let publishes = m.root.is_some() || !m.versions.is_empty();
            if publishes && m.root != Some(expected) {
                return Err(QueryError::UnexpectedRoot {
                    url: url.to_string(),
                    expected,
                    found: m.root,
                });
            }
        }
        if let Some(r) = m.root {
            match &root_from {
                Some((u, first)) if *first != r => {
                    return Err(QueryError::Disagree {
                        what: format!("the repository root ({ROOT_REF})"),
                        url_a: u.clone(),
                        a: first.to_string(),
                        url_b: url.to_string(),
                        b: r.to_string(),
                    })
                }
                Some(_) => {}
                None => root_from = Some((url.to_string(), r)),
            }
        }
    }
    if let (true, Some((u, first))) = (options.same_root, &root_from) {
        if let Some((url, _)) = mirrors.iter().find(|(_, m)| m.root.is_none()) {
            return Err(QueryError::Disagree {
                what: format!("the repository root ({ROOT_REF})"),
                url_a: u.clone(),
                a: first.to_string(),
                url_b: url.to_string(),
                b: "none".to_owned(),
            });
        }
    }
    listing.root = root_from.map(|(_, r)| r);

    // Versions: merge per (label, version), the refs/atoms/ namespace first.
    struct Merged {
        entry: VersionEntry,
        from: [Option<String>; 3],
    }
    let mut merged: BTreeMap<AtomVersion, Merged> = BTreeMap::new();
    for (url, m) in &mirrors {
        let url_text = url.to_string();
        let mut seen: BTreeMap<&AtomVersion, (Namespace, Slot)> = BTreeMap::new();
        for ((v, ns), slot) in &m.versions {
            match seen.get(v) {
                None => {
                    seen.insert(v, (*ns, *slot));
                }
                Some((first_ns, first)) => {
                    // Keys are ordered Atoms before Eka03.
                    if first.commit != slot.commit {
                        let (url, atom_ref, current, legacy_ref, legacy) = (
                            url_text.clone(),
                            ref_in(*first_ns, AtomRef::Atom, v),
                            oid_text(first.commit),
                            ref_in(*ns, AtomRef::Atom, v),
                            oid_text(slot.commit),
                        );
                        if options.strict_namespaces {
                            return Err(QueryError::NamespaceConflict {
                                url,
                                version: v.clone(),
                                atom_ref,
                                current,
                                legacy_ref,
                                legacy,
                            });
                        }
                        listing.warnings.push(QueryWarning::NamespaceConflict {
                            url,
                            atom_ref,
                            current,
                            legacy_ref,
                            legacy,
                        });
                    }
                }
            }
        }
        for (v, (ns, slot)) in seen {
            let commit = slot.commit.expect("versions without a commit were dropped");
            let m = merged.entry(v.clone()).or_insert_with(|| Merged {
                entry: VersionEntry {
                    version: v.version.clone(),
                    commit,
                    manifest: None,
                    origin: None,
                    namespace: ns,
                    mirrors: Vec::new(),
                },
                from: [Some(url_text.clone()), None, None],
            });
            let fields: [(&str, &mut Option<ObjectId>, Option<ObjectId>); 3] = [
                ("commit", &mut Some(m.entry.commit), Some(commit)),
                ("manifest", &mut m.entry.manifest, slot.manifest),
                ("origin", &mut m.entry.origin, slot.origin),
            ];
            for (i, (what, have, new)) in fields.into_iter().enumerate() {
                let Some(new) = new else { continue };
                match have {
                    Some(old) if *old != new => {
                        return Err(QueryError::Disagree {
                            what: format!("the {what} of {v}"),
                            url_a: m.from[i].clone().unwrap_or_default(),
                            a: old.to_string(),
                            url_b: url_text.clone(),
                            b: new.to_string(),
                        })
                    }
                    Some(_) => {}
                    None => {
                        *have = Some(new);
                        m.from[i] = Some(url_text.clone());
                    }
                }
            }
            m.entry.mirrors.push(url_text.clone());
        }
    }
    for (v, m) in merged.into_iter().rev() {
        listing.atoms.entry(v.label).or_default().push(m.entry);
    }
    listing.answered = mirrors.into_iter().map(|(u, _)| u).collect();
    Ok(listing)
}

fn oid_text(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "nothing".to_owned(), |i| i.to_string())
}

/// A manifest to fetch: a version and where its blob is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestWant {
    pub version: AtomVersion,
    pub namespace: Namespace,
    /// The blob id, if a listing gave it: a store that already holds it
    /// fetches nothing.
    pub blob: Option<ObjectId>,
}

impl ManifestWant {
    /// The name of the manifest ref, in the version's namespace.
    pub fn manifest_ref(&self) -> String {
        ref_in(self.namespace, AtomRef::Manifest, &self.version)
    }
}

/// A fetched `atom.toml`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FetchedManifest {
    pub label: Label,
    pub version: Version,
    #[serde(serialize_with = "ser_oid")]
    pub blob: ObjectId,
    /// The blob's text (lossy UTF-8: a manifest that is not UTF-8 fails to
    /// parse anyway).
    pub text: String,
}

/// A bare git repository holding fetched manifest blobs: a temporary one
/// ([`ManifestStore::scratch`]) or a persistent cache
/// ([`ManifestStore::open`]). Blobs are content-addressed, so a cache never
/// goes stale; fetches write no refs, so concurrent processes can share it.
pub struct ManifestStore {
    repo: gix::Repository,
    _dir: Option<tempfile::TempDir>,
}

impl ManifestStore {
    /// A temporary store, deleted on drop.
    pub fn scratch() -> Result<Self, QueryError> {
        let dir = tempfile::Builder::new()
            .prefix("eka-manifests-")
            .tempdir()
            .map_err(|e| QueryError::Store(e.to_string()))?;
        let repo = gix::init_bare(dir.path()).map_err(|e| QueryError::Store(e.to_string()))?;
        Ok(ManifestStore {
            repo,
            _dir: Some(dir),
        })
    }

    /// A store over an existing repository (the resolver's cache).
    pub fn with_repo(repo: gix::Repository) -> Self {
        ManifestStore { repo, _dir: None }
    }

    /// The store at `path`, created (a bare repository) if missing.
    pub fn open(path: &Path) -> Result<Self, QueryError> {
        let repo = match gix::open(path) {
            Ok(r) => r,
            Err(_) => match gix::init_bare(path) {
                Ok(r) => r,
                // Another process created it meanwhile.
                Err(e) => gix::open(path).map_err(|_| QueryError::Store(e.to_string()))?,
            },
        };
        Ok(ManifestStore { repo, _dir: None })
    }

    /// Fetches the manifests `wanted` from `url` in one fetch (refspecs
    /// naming exactly their refs, no tags, no local refs written), reusing
    /// blobs already stored. Returns them in the order asked.
    pub fn fetch(
        &self,
        connections: &Connections,
        url: &RepoUrl,
        wanted: &[ManifestWant],
    ) -> Result<Vec<FetchedManifest>, QueryError> {
        let url_text = url.to_string();
        let fetch_err = |why: String| QueryError::Fetch {
            url: url_text.clone(),
            why,
        };
        let names: Vec<String> = wanted.iter().map(ManifestWant::manifest_ref).collect();
        let mut blobs: Vec<Option<ObjectId>> = wanted
            .iter()
            .map(|w| w.blob.filter(|b| self.repo.has_object(b)))
            .collect();
        let missing: Vec<&String> = names
            .iter()
            .zip(&blobs)
            .filter(|(_, b)| b.is_none())
            .map(|(n, _)| n)
            .collect();
        if !missing.is_empty() {
            use gix::remote::Direction;
            let remote = self
                .repo
                .remote_at(url_text.as_str())
                .map_err(|e| fetch_err(e.to_string()))?
                .with_refspecs(missing.iter().map(|s| s.as_str()), Direction::Fetch)
                .map_err(|e| fetch_err(e.to_string()))?
                .with_fetch_tags(gix::remote::fetch::Tags::None);
            let outcome = connections
                .fetch_connection(&remote)
                .map_err(|e| fetch_err(atom_git::causes(&e)))?
                .prepare_fetch(gix::progress::Discard, Default::default())
                .map_err(|e| fetch_err(e.to_string()))?
                .receive(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
                .map_err(|e| fetch_err(e.to_string()))?;
            let advertised: BTreeMap<String, ObjectId> = outcome
                .ref_map
                .mappings
                .iter()
                .filter_map(|m| match &m.remote {
                    gix::remote::fetch::refmap::Source::Ref(r) => {
                        let (name, target, _) = r.unpack();
                        Some((name.to_string(), target?.to_owned()))
                    }
                    gix::remote::fetch::refmap::Source::ObjectId(_) => None,
                })
                .collect();
            for (name, blob) in names.iter().zip(blobs.iter_mut()) {
                if blob.is_none() {
                    *blob =
                        Some(
                            *advertised
                                .get(name)
                                .ok_or_else(|| QueryError::MissingManifest {
                                    url: url_text.clone(),
                                    name: name.clone(),
                                })?,
                        );
                }
            }
        }
        let mut out = Vec::with_capacity(wanted.len());
        for ((w, name), blob) in wanted.iter().zip(&names).zip(blobs) {
            let blob = blob.expect("every blob is known or was fetched");
            let (kind, bytes) = atom_git::read_object(&self.repo, blob)
                .map_err(|e| fetch_err(atom_git::causes(&e)))?
                .ok_or_else(|| fetch_err(format!("{name} ({blob}) was not received")))?;
            if kind != gix::object::Kind::Blob {
                return Err(QueryError::NotABlob {
                    url: url_text.clone(),
                    name: name.clone(),
                    kind: kind.to_string(),
                });
            }
            out.push(FetchedManifest {
                label: w.version.label.clone(),
                version: w.version.version.clone(),
                blob,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        Ok(out)
    }
}

/// Fetches the manifests `wanted` from `url` into a temporary store, in one
/// fetch that downloads those blobs only. See [`ManifestStore::fetch`].
pub fn fetch_manifests(
    connections: &Connections,
    url: &RepoUrl,
    wanted: &[ManifestWant],
) -> Result<Vec<FetchedManifest>, QueryError> {
    ManifestStore::scratch()?.fetch(connections, url, wanted)
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn ser_opt_oid<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn ser_urls<S: serde::Serializer>(urls: &[RepoUrl], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(RepoUrl::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> ObjectId {
        ObjectId::Sha1([n; 20])
    }

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

    fn rr(name: &str, n: u8) -> RemoteRef {
        RemoteRef {
            name: name.to_owned(),
            target: oid(n),
        }
    }

    #[test]
    fn both_layouts_parse() {
        let ok = |n: &str| AtomRef::parse_any(n).unwrap().unwrap();
        assert_eq!(ok("refs/ekala/init").1, AtomRef::Root);
        assert_eq!(ok("refs/atoms/_root").0, Namespace::Atoms);
        let m = ok("refs/eka/meta/ひらがな/0.1.0/manifest");
        assert_eq!(m.0, Namespace::Eka03);
        assert!(matches!(m.1, AtomRef::Manifest(ref v) if v.label.as_str() == "ひらがな"));
        assert!(matches!(
            ok("refs/eka/meta/a/1.0.0/origin").1,
            AtomRef::Origin(_)
        ));
        assert!(matches!(ok("refs/eka/atoms/a/1.0.0").1, AtomRef::Atom(_)));
        for bad in [
            "refs/eka/atoms/a",
            "refs/eka/atoms/a/1.0",
            "refs/eka/atoms/_manifest/a/1.0.0",
            "refs/eka/meta/a/1.0.0",
            "refs/eka/meta/a/1.0.0/other",
            "refs/atoms/a/x",
        ] {
            assert!(AtomRef::parse_any(bad).unwrap().is_err(), "{bad}");
        }
        assert!(AtomRef::parse_any("refs/heads/main").is_none());
        assert!(AtomRef::parse_any("refs/eka/other").is_none());
        // Round trips of the names this module builds.
        let v = AtomVersion::new(Label::parse("a").unwrap(), Version::new(1, 2, 3));
        for ns in [Namespace::Atoms, Namespace::Eka03] {
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Atom, &v)).1,
                AtomRef::Atom(v.clone())
            );
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Manifest, &v)).1,
                AtomRef::Manifest(v.clone())
            );
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Origin, &v)).1,
                AtomRef::Origin(v.clone())
            );
        }
    }

    #[test]
    fn read_refs_merges_layouts_and_warns() {
        let mut w = Vec::new();
        let m = read_refs(
            "u",
            &[
                rr("refs/ekala/init", 9),
                rr("refs/eka/atoms/a/1.0.0", 1),
                rr("refs/eka/meta/a/1.0.0/manifest", 2),
                rr("refs/atoms/a/junk", 3),
                rr("refs/atoms/_manifest/b/1.0.0", 4),
            ],
            &mut w,
        );
        assert_eq!(m.root, Some(oid(9)));
        assert_eq!(m.versions.len(), 1);
        let slot = m.versions.values().next().unwrap();
        assert_eq!((slot.commit, slot.manifest), (Some(oid(1)), Some(oid(2))));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w
            .iter()
            .any(|w| w.to_string().contains("refs/atoms/a/junk")));
    }

    /// With [`QueryOptions::same_root`], a mirror without a root next to
    /// one with a root is a disagreement; without it, the empty one lags.
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

    #[test]
    fn select_takes_the_highest_match() {
        let label = Label::parse("a").unwrap();
        let entry = |v: &str| VersionEntry {
            version: Version::parse(v).unwrap(),
            commit: oid(1),
            manifest: None,
            origin: None,
            namespace: Namespace::Atoms,
            mirrors: vec![],
        };
        let mut l = Listing::default();
        l.atoms.insert(
            label.clone(),
            vec![entry("2.0.0-rc.1"), entry("1.2.0"), entry("1.0.0")],
        );
        let sel = |r: Option<&str>| {
            let req = r.map(|r| VersionReq::parse(r).unwrap());
            l.select(&label, req.as_ref())
                .map(|e| e.version.to_string())
        };
        assert_eq!(sel(None).unwrap(), "1.2.0");
        assert_eq!(sel(Some("~1.0")).unwrap(), "1.0.0");
        assert_eq!(sel(Some(">=2.0.0-rc.1")).unwrap(), "2.0.0-rc.1");
        let e = sel(Some("^3")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no version of `a` matches `^3`; available: 2.0.0-rc.1, 1.2.0, 1.0.0"
        );
    }
}
