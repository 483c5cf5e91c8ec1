//! Resolution: from a manifest's requirements to one version of every atom
//! the graph reaches (normative text in `spec/lock.md`, "Resolution").
//!
//! It runs in two phases:
//! 1. **Discovery**, level by level: list the sets the current level names
//!    (one listing per set, all sets at once), then fetch the manifests of
//!    every version that matches a requirement (one fetch per set), parse
//!    their dependencies, and go on with the next level until nothing new
//!    is named. Atoms are identified by atom id (root and label), so one
//!    repository reached through different mirror URLs is one set.
//! 2. **Solving** with PubGrub over what was discovered, offline. A
//!    conflict is explained in terms of the requirements that clash. The
//!    solver prefers the versions given as preferences (the locked ones),
//!    then the highest.
//!
//! Cycles between atoms are errors.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::Bound::{self, Excluded, Included, Unbounded};
use std::sync::Arc;

use atom_format::manifest::{Manifest, LOCAL_SET};
use atom_format::Label;
use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyProvider, PackageResolutionStatistics,
    PubGrubError, Ranges, Reporter, VersionSet,
};
use semver::{Version, VersionReq};

use crate::ids::{AtomId, CommitId};
use crate::lock::Edge;
use crate::registry::{
    Listing, ManifestRequest, QueryWarning, Registry, RegistryError, Round, SetKey, VersionEntry,
};
use crate::uri::RepoUrl;

/// A requirement on an atom of a set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub set: SetKey,
    pub label: Label,
    pub req: VersionReq,
}

/// What to resolve: the root manifest's package and requirements.
#[derive(Clone, Debug)]
pub struct RootInput {
    pub label: Label,
    pub version: Version,
    pub deps: Vec<Dependency>,
    /// Which manifest asks for what in `deps` (a requirement two manifests
    /// share is one dependency there), for messages; not used to resolve.
    pub requirers: Vec<Requirer>,
}

/// One manifest's own requirement on an atom of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirer {
    /// `atom.toml` (the root's), or a sibling's manifest from the
    /// repository's root (`lib/b/atom.toml`).
    pub manifest: String,
    pub dep: Dependency,
}

impl RootInput {
    /// The manifests asking for `dep` (its set and label), with their own
    /// requirements, in the order they were read (the root's first).
    pub fn requirers_of<'a>(&'a self, dep: &'a Dependency) -> impl Iterator<Item = &'a Requirer> {
        self.requirers
            .iter()
            .filter(|r| r.dep.set == dep.set && r.dep.label == dep.label)
    }
}

/// One atom of the solution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedAtom {
    pub id: AtomId,
    pub label: Label,
    pub version: Version,
    pub root: CommitId,
    /// The set it was first reached through (its mirrors go in the lock).
    pub set: SetKey,
    /// The version as its set lists it (atom commit, manifest, origin).
    pub published: VersionEntry,
    /// Its own dependencies.
    pub deps: Vec<Edge>,
}

/// The whole graph: the root's edges and every atom reached.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    pub deps: Vec<Edge>,
    pub atoms: Vec<ResolvedAtom>,
    /// Things to tell the user (unreachable mirrors, ignored versions).
    pub warnings: Vec<ResolveWarning>,
    /// Listing and manifest rounds (levels of depth) it took.
    pub rounds: usize,
    /// The root each set listed answered.
    pub roots: Vec<(SetKey, CommitId)>,
}

/// Something resolution tells the user; it still resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ResolveWarning {
    /// What a set's listing warned of (an unreachable mirror, an ignored
    /// ref).
    #[error("{warning}")]
    Listing { set: String, warning: QueryWarning },
    /// A locked version that was yanked since: kept, as the lock pins it.
    #[error("{label}@{version} from {set} is yanked; the lock keeps it")]
    Yanked {
        label: Label,
        version: Version,
        set: String,
    },
    /// A version left out of resolution: its manifest is unusable.
    #[error("ignoring {label}@{version} from {set}: {why}")]
    Ignored {
        label: Label,
        version: Version,
        set: String,
        why: String,
    },
    /// A locked version rewritten on its remote, re-pinned because the
    /// user named it.
    #[error("{label}@{version} was rewritten on its remote; re-pinned from commit {locked} to {now} as asked")]
    Repinned {
        label: Label,
        version: Version,
        locked: String,
        now: String,
    },
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResolveError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
    #[error("{set} has no atoms (neither refs/atoms/_root nor eka 0.3's refs/ekala/init)")]
    #[diagnostic(code(eka::resolve::not_a_registry))]
    NotARegistry { set: String },
    #[error("{set} publishes no atom `{label}`")]
    #[diagnostic(code(eka::resolve::no_such_atom))]
    NoSuchAtom { set: String, label: Label },
    #[error("no version of `{label}` in {set} matches `{req}`; it has {}", list_some_versions(.available))]
    #[diagnostic(
        code(eka::resolve::no_match),
        help("change the requirement in atom.toml to one of the versions there are")
    )]
    NoMatch {
        set: String,
        label: Label,
        req: VersionReq,
        available: Vec<Version>,
    },
    #[error("{label} is published in {set} as {}, which differ only in build metadata: SemVer makes them one version, published twice with different content", list_versions(.versions))]
    #[diagnostic(
        code(eka::resolve::published_twice),
        help("none of them is used; ask the publisher to delete all but one, or require another version")
    )]
    PublishedTwice {
        set: String,
        label: Label,
        versions: Vec<Version>,
    },
    #[error("resolution gave up after {steps} solver steps over {versions} listed versions: the requirements and the published manifests disagree too much to search them all")]
    #[diagnostic(
        code(eka::resolve::too_costly),
        help("narrow the requirements in atom.toml (e.g. `=1.2.3` for the atom with many versions) so that fewer versions qualify")
    )]
    TooCostly { steps: u64, versions: usize },
    #[error("resolution gave up after ruling out versions of {atom} one by one {conflicts} times: {} published versions whose dependencies disagree with the rest of the graph (most in conflict: {})", .versions, .involved.join(", "))]
    #[diagnostic(
        code(eka::resolve::too_costly),
        help("require a narrower range of {atom} in atom.toml (e.g. `=1.2.3`), or one that agrees with the atoms named")
    )]
    Backtracking {
        /// The atom whose versions were ruled out one at a time, as the
        /// conflict explanations name it.
        atom: String,
        conflicts: u32,
        /// Its listed versions.
        versions: usize,
        /// The atoms in most conflicts, the most first.
        involved: Vec<String>,
    },
    #[error("set `{name}` in {manifest}: {why}")]
    #[diagnostic(code(eka::resolve::set))]
    BadSet {
        manifest: String,
        name: String,
        why: String,
    },
    #[error("the dependencies cannot be satisfied:\n{explanation}")]
    #[diagnostic(
        code(eka::resolve::conflict),
        help("relax one of the clashing requirements above")
    )]
    Conflict { explanation: String },
    #[error("dependency cycle: {}", .0.iter().map(Label::as_str).collect::<Vec<_>>().join(" -> "))]
    #[diagnostic(
        code(eka::resolve::cycle),
        help(
            "atoms may not depend on each other in a cycle; the published manifests above form one"
        )
    )]
    Cycle(Vec<Label>),
    #[error("mirrors of one repository disagree on {label}@{version}: commit {a} and {b}")]
    #[diagnostic(
        code(eka::resolve::disagree),
        help("two sets with the same root must publish the same commits; one may have been tampered with")
    )]
    Disagree {
        label: Label,
        version: Version,
        a: CommitId,
        b: CommitId,
    },
}

/// [`list_versions`], at most the 20 highest: a registry may list
/// thousands.
fn list_some_versions(v: &[Version]) -> String {
    const SHOWN: usize = 20;
    if v.len() <= SHOWN {
        return list_versions(v);
    }
    let mut highest = v.to_vec();
    highest.sort();
    let rest = highest.len() - SHOWN;
    let highest = highest.split_off(rest);
    format!("{}, … ({} in all)", list_versions(&highest), v.len())
}

fn list_versions(v: &[Version]) -> String {
    if v.is_empty() {
        return "no versions".into();
    }
    let mut v = v.to_vec();
    v.sort();
    v.reverse();
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What discovery learnt about one atom.
#[derive(Clone, Debug)]
struct AtomInfo {
    label: Label,
    root: CommitId,
    set: SetKey,
    versions: BTreeMap<Version, VersionEntry>,
}

/// What discovery learnt overall.
#[derive(Default)]
struct Discovery {
    /// Set → root.
    roots: HashMap<SetKey, CommitId>,
    /// (set, label) pairs listed.
    listed: HashSet<(SetKey, Label)>,
    atoms: HashMap<AtomId, AtomInfo>,
    /// Dependencies of a version, or why it is unusable.
    deps: HashMap<(AtomId, Version), Result<Vec<Dependency>, String>>,
    warnings: Vec<ResolveWarning>,
    /// Versions published more than once, differing only in build
    /// metadata: none of them is used.
    twins: HashSet<(AtomId, Version)>,
    /// The last round's failed fetch, if any: the likelier cause when the
    /// fetch that follows it fails too.
    fetch_error: Option<RegistryError>,
    rounds: usize,
}

impl Discovery {
    fn id_of(&self, set: &SetKey, label: &Label) -> Option<AtomId> {
        self.roots.get(set).map(|root| AtomId::compute(root, label))
    }
}

/// The set keys a published manifest's `[package.sets]` names, for the
/// dependencies of an atom reached through `parent`.
fn manifest_deps(
    text: &str,
    label: &Label,
    version: &Version,
    parent: &SetKey,
) -> Result<Vec<Dependency>, String> {
    let name = format!("{label}@{version}/atom.toml");
    let m = Manifest::parse(&name, text).map_err(|e| format!("its manifest is invalid: {e}"))?;
    if &m.package.label != label || &m.package.version != version {
        return Err(format!(
            "its manifest says {}@{}",
            m.package.label, m.package.version
        ));
    }
    let mut out = Vec::new();
    for (set_name, deps) in &m.deps.from {
        let set = if set_name == LOCAL_SET {
            parent.clone()
        } else {
            let urls = m.package.sets[set_name].urls();
            if urls.iter().any(|u| u == LOCAL_SET) {
                parent.clone()
            } else {
                let mut mirrors = Vec::new();
                for u in urls {
                    let url: RepoUrl = u
                        .parse()
                        .map_err(|e| format!("set `{set_name}`: `{u}` is not a URL: {e}"))?;
                    if url.is_path() && !std::path::Path::new(u).is_absolute() {
                        return Err(format!(
                            "set `{set_name}` is a relative path (`{u}`), which means nothing outside its repository"
                        ));
                    }
                    mirrors.push(url);
                }
                SetKey(mirrors)
            }
        };
        for (dep, req) in deps {
            out.push(Dependency {
                set: set.clone(),
                label: dep.clone(),
                req: req.clone(),
            });
        }
    }
    Ok(out)
}

/// The version of `id` the solver will most likely choose among `matching`
/// (ascending): the preferred one if allowed, else the highest.
fn likely<'v>(
    prefer: &HashMap<AtomId, Version>,
    id: &AtomId,
    matching: &[&'v Version],
) -> Option<&'v Version> {
    match prefer.get(id) {
        Some(p) => matching
            .iter()
            .find(|v| **v == p)
            .or(matching.last())
            .copied(),
        None => matching.last().copied(),
    }
}

/// What a round fetches from `set` as soon as its listing is in: the
/// manifests of the versions the frontier's requirements on `set` allow
/// that are not read yet, and the atom commit of the likely version of
/// each. `fresh` are the labels this round listed (their versions are in
/// `listing`); the others were listed before (their versions are in `d`).
/// The same rule as step 2 of [`discover`], which fetches whatever this
/// plan missed.
fn plan(
    d: &Discovery,
    frontier: &[Dependency],
    prefer: &HashMap<AtomId, Version>,
    set: &SetKey,
    fresh: &[Label],
    listing: &Listing,
) -> ManifestRequest {
    let mut request = ManifestRequest::new(set.clone());
    let Some(root) = listing.root.or_else(|| d.roots.get(set).copied()) else {
        return request;
    };
    // Each label's versions once, not once per requirement: thousands of
    // versions may each require another version of one atom.
    let mut listed: HashMap<&Label, BTreeMap<&Version, &VersionEntry>> = HashMap::new();
    // Thousands of requirements may allow thousands of versions each: what
    // is asked already is looked up, not searched for.
    let mut asked_blobs: HashSet<CommitId> = HashSet::new();
    for dep in frontier.iter().filter(|dep| &dep.set == set) {
        let id = AtomId::compute(&root, &dep.label);
        if !listed.contains_key(&dep.label) {
            let versions: BTreeMap<&Version, &VersionEntry> = if fresh.contains(&dep.label) {
                listing
                    .versions(&dep.label)
                    .iter()
                    .map(|e| (&e.version, e))
                    .collect()
            } else {
                match d.atoms.get(&id) {
                    Some(info) => info.versions.iter().collect(),
                    None => continue,
                }
            };
            listed.insert(&dep.label, versions);
        }
        let versions = &listed[&dep.label];
        let (low, high) = req_bounds(&dep.req);
        let matching: Vec<&Version> = versions
            .range::<Version, _>((low.as_ref(), high.as_ref()))
            .map(|(v, _)| *v)
            .filter(|v| dep.req.matches(v))
            .collect();
        if let Some(v) = likely(prefer, &id, &matching) {
            let commit = versions[v].commit;
            if !request.atoms.contains(&commit) {
                request.atoms.push(commit);
            }
        }
        for v in matching {
            if d.deps.contains_key(&(id, v.clone())) {
                continue;
            }
            if let Some(blob) = versions[v].manifest {
                if asked_blobs.insert(blob) {
                    request.manifests.push((dep.label.clone(), v.clone(), blob));
                }
            }
        }
    }
    request
}

/// Discovery, level by level, until no requirement names anything new:
/// 1. per set, one listing of the labels not listed yet (none if all
///    were), and as soon as it is in, one fetch of what [`plan`] makes of
///    it: the manifests of every version a requirement allows, and the
///    atom commit of the version the solver will most likely choose (so
///    that locking needs no further round trip for digests unless the
///    solver chooses otherwise). Sets do not wait for each other;
/// 2. the manifests of every version a requirement allows that the round
///    did not bring (a fetch that failed, or one atom reached through two
///    sets), fetched now;
/// 3. their dependencies are the next level.
fn discover(
    registry: &dyn Registry,
    root: &RootInput,
    prefer: &HashMap<AtomId, Version>,
) -> Result<Discovery, ResolveError> {
    let mut d = Discovery::default();
    let mut frontier: Vec<Dependency> = root.deps.clone();
    let mut first_level = true;
    while !frontier.is_empty() {
        d.rounds += 1;
        let mut blobs = list_and_fetch(&mut d, registry, &frontier, prefer)?;
        let requests = manifests_allowed(&mut d, &frontier, first_level)?;
        fetch_missing(&mut d, registry, &requests, &mut blobs)?;
        frontier = next_level(&mut d, &requests, &blobs);
        first_level = false;
    }
    Ok(d)
}

/// Step 1 of [`discover`]: one round of the registry for `frontier`; what
/// the sets listed goes into `d`. Returns the manifests fetched, by blob.
fn list_and_fetch(
    d: &mut Discovery,
    registry: &dyn Registry,
    frontier: &[Dependency],
    prefer: &HashMap<AtomId, Version>,
) -> Result<BTreeMap<CommitId, Vec<u8>>, ResolveError> {
    let phase = tracing::info_span!(target: "eka::phase", "round", summary = tracing::field::Empty)
        .entered();
    let queries = unlisted_labels(d, frontier);
    let rounds = {
        let d = &*d;
        let plan = |set: &SetKey, fresh: &[Label], listing: &Listing| {
            plan(d, frontier, prefer, set, fresh, listing)
        };
        registry.round(&queries, &plan)
    };
    phase.record("summary", round_summary(d.rounds, &queries, &rounds));
    drop(phase);
    let mut blobs = BTreeMap::new();
    let mut fetch_error = None;
    for ((set, labels), round) in queries.iter().zip(rounds) {
        match round.fetched {
            Ok(b) => blobs.extend(b),
            Err(e) => fetch_error = fetch_error.or(Some(e)),
        }
        if !labels.is_empty() {
            record_listing(d, set, labels, round.listing?)?;
        }
    }
    d.fetch_error = fetch_error;
    Ok(blobs)
}

/// Per set of `frontier`, the labels it names that are not listed yet.
fn unlisted_labels(d: &Discovery, frontier: &[Dependency]) -> Vec<(SetKey, Vec<Label>)> {
    let mut queries: BTreeMap<SetKey, BTreeSet<Label>> = BTreeMap::new();
    for dep in frontier {
        let labels = queries.entry(dep.set.clone()).or_default();
        if !d.listed.contains(&(dep.set.clone(), dep.label.clone())) {
            labels.insert(dep.label.clone());
        }
    }
    queries
        .into_iter()
        .map(|(s, l)| (s, l.into_iter().collect()))
        .collect()
}

/// What a round did, for `eka -v`.
fn round_summary(level: usize, queries: &[(SetKey, Vec<Label>)], rounds: &[Round]) -> String {
    let listed = queries.iter().filter(|(_, l)| !l.is_empty()).count();
    let manifests: usize = rounds.iter().map(|r| r.request.manifests.len()).sum();
    let atoms: usize = rounds.iter().map(|r| r.request.atoms.len()).sum();
    let sets = rounds
        .iter()
        .filter(|r| !r.request.manifests.is_empty() || !r.request.atoms.is_empty())
        .count();
    format!("level {level}: list {listed} sets, fetch {manifests} manifests and {atoms} atoms from {sets} sets")
}

/// Records in `d` what `set` listed of `labels`: its root and the versions
/// of each; one atom reached through two sets must have one commit per
/// version.
fn record_listing(
    d: &mut Discovery,
    set: &SetKey,
    labels: &[Label],
    listing: Listing,
) -> Result<(), ResolveError> {
    d.warnings
        .extend(listing.warnings.iter().map(|w| ResolveWarning::Listing {
            set: set.to_string(),
            warning: w.clone(),
        }));
    let root = listing.root.ok_or_else(|| ResolveError::NotARegistry {
        set: set.to_string(),
    })?;
    d.roots.insert(set.clone(), root);
    for label in labels {
        d.listed.insert((set.clone(), label.clone()));
        let id = AtomId::compute(&root, label);
        let info = d.atoms.entry(id).or_insert_with(|| AtomInfo {
            label: label.clone(),
            root,
            set: set.clone(),
            versions: BTreeMap::new(),
        });
        for entry in listing.versions(label) {
            if d.twins.contains(&(id, entry.version.clone())) {
                continue;
            }
            if let Some(twin) = build_twin(&info.versions, &entry.version) {
                d.warnings.push(ResolveWarning::Ignored {
                    label: label.clone(),
                    version: entry.version.clone(),
                    set: set.to_string(),
                    why: format!(
                        "{twin} is published too, and build metadata does not make another version; neither is used"
                    ),
                });
                d.twins.insert((id, twin));
                d.twins.insert((id, entry.version.clone()));
                continue;
            }
            match info.versions.get(&entry.version) {
                Some(known) if known.commit != entry.commit => {
                    return Err(ResolveError::Disagree {
                        label: label.clone(),
                        version: entry.version.clone(),
                        a: known.commit,
                        b: entry.commit,
                    })
                }
                Some(_) => {}
                None => {
                    info.versions.insert(entry.version.clone(), entry.clone());
                }
            }
        }
        info.versions
            .retain(|v, _| !d.twins.contains(&(id, v.clone())));
    }
    Ok(())
}

/// Another version of `versions` that differs from `version` only in
/// build metadata (SemVer: the same version), if there is one.
fn build_twin(versions: &BTreeMap<Version, VersionEntry>, version: &Version) -> Option<Version> {
    let mut bare = version.clone();
    bare.build = semver::BuildMetadata::EMPTY;
    versions
        .range(bare..)
        .map(|(v, _)| v)
        .take_while(|v| v.cmp_precedence(version).is_eq())
        .find(|v| *v != version)
        .cloned()
}

/// Step 2 of [`discover`], what to read: the manifests of every version a
/// requirement of `frontier` allows, per set. On the first level (the
/// root's own requirements), a requirement nothing meets is an error.
fn manifests_allowed(
    d: &mut Discovery,
    frontier: &[Dependency],
    first_level: bool,
) -> Result<Vec<ManifestRequest>, ResolveError> {
    let mut wanted: BTreeMap<SetKey, ManifestRequest> = BTreeMap::new();
    let mut queued: HashSet<(AtomId, Version)> = HashSet::new();
    for dep in frontier {
        let id = d.id_of(&dep.set, &dep.label).expect("listed above");
        let info = &d.atoms[&id];
        let matching: Vec<Version> = info
            .versions
            .range(req_bounds(&dep.req))
            .map(|(v, _)| v)
            .filter(|v| dep.req.matches(v))
            .cloned()
            .collect();
        if first_level && matching.is_empty() {
            return Err(unmet(dep, info, &d.twins));
        }
        for v in matching {
            let key = (id, v.clone());
            if d.deps.contains_key(&key) || !queued.insert(key.clone()) {
                continue;
            }
            match d.atoms[&id].versions[&v].manifest {
                Some(blob) => wanted
                    .entry(dep.set.clone())
                    .or_insert_with(|| ManifestRequest::new(dep.set.clone()))
                    .manifests
                    .push((dep.label.clone(), v, blob)),
                None => {
                    d.deps
                        .insert(key, Err("its manifest ref is missing".into()));
                }
            }
        }
    }
    Ok(wanted.into_values().collect())
}

/// Why nothing meets `dep`: no such atom, or no matching version.
fn unmet(dep: &Dependency, info: &AtomInfo, twins: &HashSet<(AtomId, Version)>) -> ResolveError {
    let id = AtomId::compute(&info.root, &info.label);
    let mut twins: Vec<Version> = twins
        .iter()
        .filter(|(i, v)| *i == id && dep.req.matches(v))
        .map(|(_, v)| v.clone())
        .collect();
    if !twins.is_empty() {
        twins.sort();
        return ResolveError::PublishedTwice {
            set: dep.set.to_string(),
            label: dep.label.clone(),
            versions: twins,
        };
    }
    if info.versions.is_empty() {
        return ResolveError::NoSuchAtom {
            set: dep.set.to_string(),
            label: dep.label.clone(),
        };
    }
    ResolveError::NoMatch {
        set: dep.set.to_string(),
        label: dep.label.clone(),
        req: dep.req.clone(),
        available: info.versions.keys().cloned().collect(),
    }
}

/// Step 2 of [`discover`], the fetch: the manifests of `requests` that are
/// not in `blobs` yet. A failure is reported as the round's own fetch
/// failure, if it had one (the likelier cause).
fn fetch_missing(
    d: &mut Discovery,
    registry: &dyn Registry,
    requests: &[ManifestRequest],
    blobs: &mut BTreeMap<CommitId, Vec<u8>>,
) -> Result<(), ResolveError> {
    let missing: Vec<ManifestRequest> = requests
        .iter()
        .map(|r| ManifestRequest {
            manifests: r
                .manifests
                .iter()
                .filter(|(_, _, blob)| !blobs.contains_key(blob))
                .cloned()
                .collect(),
            ..ManifestRequest::new(r.set.clone())
        })
        .filter(|r| !r.manifests.is_empty())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let summary = format!(
        "level {}: fetch {} more manifests from {} sets",
        d.rounds,
        missing.iter().map(|r| r.manifests.len()).sum::<usize>(),
        missing.len()
    );
    let _phase = tracing::info_span!(target: "eka::phase", "fetch manifests", %summary).entered();
    match registry.manifests(&missing) {
        Ok(b) => blobs.extend(b),
        Err(e) => return Err(d.fetch_error.take().unwrap_or(e).into()),
    }
    Ok(())
}

/// Step 3 of [`discover`]: the dependencies of the versions read, recorded
/// in `d` (or why a version is unusable), are the next level's frontier.
fn next_level(
    d: &mut Discovery,
    requests: &[ManifestRequest],
    blobs: &BTreeMap<CommitId, Vec<u8>>,
) -> Vec<Dependency> {
    let mut next = Vec::new();
    for ManifestRequest { set, manifests, .. } in requests {
        for (label, version, blob) in manifests {
            let id = d.id_of(set, label).expect("listed above");
            let parsed = match std::str::from_utf8(&blobs[blob]) {
                Ok(text) => manifest_deps(text, label, version, set),
                Err(_) => Err("its manifest is not UTF-8".into()),
            };
            match &parsed {
                Ok(deps) => next.extend(deps.iter().cloned()),
                Err(why) => d.warnings.push(ResolveWarning::Ignored {
                    label: label.clone(),
                    version: version.clone(),
                    set: set.to_string(),
                    why: why.clone(),
                }),
            }
            d.deps.insert((id, version.clone()), parsed);
        }
    }
    let mut seen = HashSet::new();
    next.retain(|dep| seen.insert(dep.clone()));
    next
}

/// A version set for PubGrub: ranges over versions, remembering the
/// requirement it was made from so that conflicts read as requirements.
#[derive(Clone, Debug)]
pub struct VSet {
    ranges: Ranges<Version>,
    text: Option<Arc<str>>,
    /// The listed versions of the atom the set is about (ascending), when
    /// known: the set is then kept as runs of listed versions (see
    /// [`VSet::within`]).
    listed: Option<Arc<[Version]>>,
}

impl VSet {
    fn plain(ranges: Ranges<Version>) -> Self {
        VSet {
            ranges,
            text: None,
            listed: None,
        }
    }

    /// `ranges`, kept as one interval per run of `listed` versions it
    /// holds (or as it is, with no list). Only listed versions are ever
    /// chosen, so this changes nothing the solver can tell, but it keeps
    /// sets small: each version the solver rules out would otherwise cut
    /// one more hole in the interval around it, every step dearer than the
    /// last (quadratic over thousands of disagreeing versions). Ruling
    /// out the highest listed versions one by one leaves one interval.
    fn within(ranges: Ranges<Version>, listed: Option<Arc<[Version]>>) -> Self {
        let Some(list) = &listed else {
            return Self::plain(ranges);
        };
        let runs = listed_runs(&ranges, list);
        VSet {
            ranges: runs
                .into_iter()
                .map(|(start, end)| {
                    (
                        Included(list[start].clone()),
                        Included(list[end - 1].clone()),
                    )
                })
                .collect(),
            text: None,
            listed,
        }
    }

    /// How many listed versions the set holds, if the list is known.
    fn listed_count(&self) -> Option<usize> {
        let list = self.listed.as_ref()?;
        Some(
            listed_runs(&self.ranges, list)
                .iter()
                .map(|(s, e)| e - s)
                .sum(),
        )
    }

    fn list_of<'a>(&'a self, other: &'a Self) -> Option<Arc<[Version]>> {
        self.listed.as_ref().or(other.listed.as_ref()).cloned()
    }

    /// The versions of `available` that `req` matches (semver's rules, with
    /// pre-releases), named after `req`.
    ///
    /// `available` is in ascending order. Each run of consecutive available
    /// versions that all match is one segment, so a requirement that 20,000
    /// listed versions meet is one interval built in one pass, not 20,000
    /// singletons united one at a time (quadratic: minutes and gigabytes
    /// in the solver).
    fn from_req<'a>(req: &VersionReq, available: impl Iterator<Item = &'a Version>) -> Self {
        let mut segments: Vec<(Bound<Version>, Bound<Version>)> = Vec::new();
        let mut run: Option<(&Version, &Version)> = None;
        for v in available {
            match (req.matches(v), run) {
                (true, Some((first, _))) => run = Some((first, v)),
                (true, None) => run = Some((v, v)),
                (false, Some((first, last))) => {
                    segments.push((Included(first.clone()), Included(last.clone())));
                    run = None;
                }
                (false, None) => {}
            }
        }
        if let Some((first, last)) = run {
            segments.push((Included(first.clone()), Included(last.clone())));
        }
        VSet {
            ranges: segments.into_iter().collect(),
            text: Some(req.to_string().into()),
            listed: None,
        }
    }
}

/// The runs of `listed` (ascending) that `ranges` holds, as index ranges
/// `start..end`, adjacent runs joined: a binary search per interval.
fn listed_runs(ranges: &Ranges<Version>, listed: &[Version]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (low, high) in ranges.iter() {
        let start = match low {
            Included(v) => listed.partition_point(|x| x < v),
            Excluded(v) => listed.partition_point(|x| x <= v),
            Unbounded => 0,
        };
        let end = match high {
            Included(v) => listed.partition_point(|x| x <= v),
            Excluded(v) => listed.partition_point(|x| x < v),
            Unbounded => listed.len(),
        };
        if start >= end {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if *last == start => *last = end,
            _ => runs.push((start, end)),
        }
    }
    runs
}

impl PartialEq for VSet {
    fn eq(&self, other: &Self) -> bool {
        self.ranges == other.ranges
    }
}
impl Eq for VSet {}

impl fmt::Display for VSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(t) => f.write_str(t),
            None if self.ranges == Ranges::full() => f.write_str("any version"),
            None => write!(f, "{}", self.ranges),
        }
    }
}

impl VersionSet for VSet {
    type V = Version;
    fn empty() -> Self {
        Self::plain(Ranges::empty())
    }
    fn singleton(v: Version) -> Self {
        Self::plain(Ranges::singleton(v))
    }
    fn complement(&self) -> Self {
        Self::within(self.ranges.complement(), self.listed.clone())
    }
    fn intersection(&self, other: &Self) -> Self {
        Self::within(self.ranges.intersection(&other.ranges), self.list_of(other))
    }
    fn contains(&self, v: &Version) -> bool {
        self.ranges.contains(v)
    }
    fn full() -> Self {
        Self::plain(Ranges::full())
    }
    fn union(&self, other: &Self) -> Self {
        Self::within(self.ranges.union(&other.ranges), self.list_of(other))
    }
    fn is_disjoint(&self, other: &Self) -> bool {
        self.intersection(other).ranges.is_empty()
    }
    fn subset_of(&self, other: &Self) -> bool {
        let mine = Self::within(self.ranges.clone(), self.list_of(other));
        mine == mine.intersection(other)
    }
}

/// A package for PubGrub: the root manifest, or an atom (by id; the label
/// and where it is from are for messages).
#[derive(Clone, Debug)]
pub enum Pkg {
    Root(Label),
    Atom {
        id: AtomId,
        label: Label,
        /// Shown when two atoms in the graph share a label.
        from: Option<Arc<str>>,
    },
}

impl PartialEq for Pkg {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pkg::Root(_), Pkg::Root(_)) => true,
            (Pkg::Atom { id: a, .. }, Pkg::Atom { id: b, .. }) => a == b,
            _ => false,
        }
    }
}
impl Eq for Pkg {}
impl std::hash::Hash for Pkg {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Pkg::Root(_) => 0u8.hash(state),
            Pkg::Atom { id, .. } => id.hash(state),
        }
    }
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root(label) => write!(f, "{label} (atom.toml)"),
            Pkg::Atom {
                label,
                from: Some(s),
                ..
            } => write!(f, "{label} (from {s})"),
            Pkg::Atom { label, .. } => write!(f, "{label}"),
        }
    }
}

/// Why the solver stopped early.
#[derive(Debug, thiserror::Error)]
enum SolverStop {
    #[error("cycle {0:?}")]
    Cycle(Vec<Label>),
    #[error("over budget after {0} steps")]
    Budget(u64),
    #[error("{0} conflicts on one atom")]
    Backtracking(u32),
}

/// How many conflicts one atom may take part in before resolution gives
/// up on it. Each conflict rules out (at least) one version; the solver
/// then checks every incompatibility it learnt about the atom whenever
/// the atom's range changes, so trying k versions one by one costs k²
/// checks (and proving that none works, several times that). 500 tries
/// keep the worst case under a second (`bench/resolve-cost.sh`), and a
/// real graph rarely needs more than a few dozen.
const MAX_CONFLICTS_PER_ATOM: u32 = 500;

struct Provider<'a> {
    d: &'a Discovery,
    root: &'a RootInput,
    prefer: &'a HashMap<AtomId, Version>,
    shared_labels: HashSet<Label>,
    /// [`Provider::requirement`]'s answers.
    requirements: std::cell::RefCell<HashMap<(AtomId, String), VSet>>,
    /// Solver steps taken, and how many are allowed ([`solver_budget`]).
    steps: std::cell::Cell<u64>,
    budget: u64,
    /// The listed versions of each atom, ascending (for [`VSet::within`]).
    listed: HashMap<AtomId, Arc<[Version]>>,
    /// The conflicts each atom took part in, as the solver last said.
    conflicts: std::cell::RefCell<HashMap<AtomId, u32>>,
}

/// Bounds that hold every version `req` matches (and maybe more: the
/// caller still asks `req`), so that only the listed versions between them
/// are looked at: `=1.0.7` looks at one, not at 20,000.
fn req_bounds(req: &VersionReq) -> (std::ops::Bound<Version>, std::ops::Bound<Version>) {
    use semver::Op;
    use std::ops::Bound::{Excluded, Included, Unbounded};
    let mut lower: std::ops::Bound<Version> = Unbounded;
    let mut upper: std::ops::Bound<Version> = Unbounded;
    let mut raise = |b: Version| match &lower {
        Included(l) if *l >= b => {}
        _ => lower = Included(b),
    };
    let mut uppers: Vec<Option<Version>> = Vec::new();
    for c in &req.comparators {
        let (minor, patch) = (c.minor.unwrap_or(0), c.patch.unwrap_or(0));
        let low = Version {
            pre: c.pre.clone(),
            ..Version::new(c.major, minor, patch)
        };
        // Just above every version the comparator's given parts name
        // (`1.2` -> `1.3.0`), `None` past u64::MAX.
        let past_named = || match (c.minor, c.patch) {
            (Some(m), Some(p)) => p.checked_add(1).map(|p| Version::new(c.major, m, p)),
            (Some(m), None) => m.checked_add(1).map(|m| Version::new(c.major, m, 0)),
            _ => c.major.checked_add(1).map(|x| Version::new(x, 0, 0)),
        };
        match c.op {
            Op::Exact | Op::Wildcard => {
                raise(low);
                uppers.push(past_named());
            }
            Op::Greater | Op::GreaterEq => raise(low),
            // `<1.2.3-rc.1` admits `1.2.3-alpha`: then the bound is past 1.2.3.
            Op::Less if !c.pre.is_empty() => uppers.push(past_named()),
            Op::Less => uppers.push(Some(Version::new(c.major, minor, patch))),
            Op::LessEq => uppers.push(past_named()),
            Op::Tilde => {
                raise(low);
                uppers.push(match c.minor {
                    Some(m) => m.checked_add(1).map(|m| Version::new(c.major, m, 0)),
                    None => c.major.checked_add(1).map(|x| Version::new(x, 0, 0)),
                });
            }
            Op::Caret => {
                raise(low);
                uppers.push(match (c.major, c.minor, c.patch) {
                    (0, Some(0), Some(p)) => p.checked_add(1).map(|p| Version::new(0, 0, p)),
                    (0, Some(m), _) => m.checked_add(1).map(|m| Version::new(0, m, 0)),
                    (x, _, _) => x.checked_add(1).map(|x| Version::new(x, 0, 0)),
                });
            }
            // An operator semver may add later: no bound from it.
            _ => {}
        }
    }
    for u in uppers.into_iter().flatten() {
        // Pre-releases of `u` sort below it: the bound is their floor.
        let floor = Version {
            pre: semver::Prerelease::new("0").expect("a valid pre-release"),
            ..u
        };
        match &upper {
            Excluded(cur) if *cur <= floor => {}
            _ => upper = Excluded(floor),
        }
    }
    if let (Included(l), Excluded(u)) = (&lower, &upper) {
        if l >= u {
            return (Included(l.clone()), Included(l.clone()));
        }
    }
    (lower, upper)
}

/// How many solver steps resolution may take when `listed` versions were
/// discovered: linear in what the registries list (a step decides one
/// version), with room for backtracking, so that a registry listing
/// thousands of versions whose manifests disagree makes resolution fail
/// clearly rather than run for minutes.
fn solver_budget(listed: usize) -> u64 {
    100_000 + 20 * listed as u64
}

impl Provider<'_> {
    /// The listed versions of `id` that `req` allows, computed once per
    /// requirement (thousands of versions may state the same one), from
    /// the listed versions within the requirement's bounds only.
    fn requirement(&self, id: AtomId, req: &VersionReq) -> VSet {
        let key = (id, req.to_string());
        if let Some(set) = self.requirements.borrow().get(&key) {
            return set.clone();
        }
        let versions = &self.d.atoms[&id].versions;
        let set = VSet {
            listed: self.listed.get(&id).cloned(),
            ..VSet::from_req(req, versions.range(req_bounds(req)).map(|(v, _)| v))
        };
        self.requirements.borrow_mut().insert(key, set.clone());
        set
    }

    fn pkg(&self, id: AtomId) -> Pkg {
        let info = &self.d.atoms[&id];
        Pkg::Atom {
            id,
            label: info.label.clone(),
            from: self
                .shared_labels
                .contains(&info.label)
                .then(|| info.set.to_string().into()),
        }
    }

    fn constraints(
        &self,
        deps: &[Dependency],
        me: Option<(AtomId, &Label)>,
    ) -> Result<Vec<(Pkg, VSet)>, SolverStop> {
        let mut out: Vec<(Pkg, VSet)> = Vec::new();
        for dep in deps {
            let id = self
                .d
                .id_of(&dep.set, &dep.label)
                .expect("every set named was listed");
            if let Some((me_id, me_label)) = me {
                if me_id == id {
                    return Err(SolverStop::Cycle(vec![me_label.clone(), me_label.clone()]));
                }
            }
            let set = self.requirement(id, &dep.req);
            let pkg = self.pkg(id);
            match out.iter_mut().find(|(p, _)| *p == pkg) {
                // One atom reached through two mirror URLs: both apply.
                Some((_, s)) => *s = s.intersection(&set),
                None => out.push((pkg, set)),
            }
        }
        Ok(out)
    }
}

impl Provider<'_> {
    /// The error for a search stopped by [`MAX_CONFLICTS_PER_ATOM`]: the
    /// atom in most conflicts, and the others in the most.
    fn backtracking(&self, conflicts: u32) -> ResolveError {
        let mut by_count: Vec<(u32, AtomId)> = self
            .conflicts
            .borrow()
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(id, n)| (*n, *id))
            .collect();
        by_count.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let (_, worst) = by_count[0];
        ResolveError::Backtracking {
            atom: self.pkg(worst).to_string(),
            conflicts,
            versions: self.d.atoms[&worst].versions.len(),
            involved: by_count
                .iter()
                .skip(1)
                .take(5)
                .map(|(_, id)| self.pkg(*id).to_string())
                .collect(),
        }
    }
}

/// How deep a derivation tree may be for PubGrub's reporter, which
/// recurses once per level (and so does `collapse_no_versions`): a
/// thousand levels stay well within a 2 MiB thread stack.
const MAX_REPORTED_DEPTH: usize = 256;

/// How long PubGrub's report may be before the facts are shown instead:
/// a search through a hundred versions reports each step.
const MAX_REPORTED_LINES: usize = 60;

type Tree = pubgrub::DerivationTree<Pkg, VSet, String>;

/// A conflict explained: PubGrub's report when the derivation is shallow
/// enough for its recursive reporter, else the facts it rests on (each
/// requirement and manifest involved, once), so that a search through
/// hundreds of versions neither overflows the stack nor prints a
/// thousand lines. The tree is taken apart without recursion too
/// (dropping it would recurse once per level).
fn explain(mut tree: Tree) -> String {
    let out = match depth(&tree) <= MAX_REPORTED_DEPTH {
        true => {
            tree.collapse_no_versions();
            let report = DefaultStringReporter::report(&tree);
            match report.lines().count() <= MAX_REPORTED_LINES {
                true => report,
                false => facts(&tree),
            }
        }
        false => facts(&tree),
    };
    dismantle(tree);
    out
}

/// The depth of `tree`, without recursion.
fn depth(tree: &Tree) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(tree, 1usize)];
    let mut seen: HashSet<*const Tree> = HashSet::new();
    while let Some((node, d)) = stack.pop() {
        deepest = deepest.max(d);
        if let pubgrub::DerivationTree::Derived(derived) = node {
            for cause in [&derived.cause1, &derived.cause2] {
                if seen.insert(Arc::as_ptr(cause)) {
                    stack.push((cause, d + 1));
                }
            }
        }
    }
    deepest
}

/// The external facts `tree` derives from, each once, at most 20 shown:
/// those about atoms with few facts first (the requirements that clash),
/// the hundreds alike (`a 1.0.i depends on b =1.0.i`) last.
fn facts(tree: &Tree) -> String {
    const SHOWN: usize = 20;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut stack = vec![tree];
    let mut seen: HashSet<*const Tree> = HashSet::new();
    while let Some(node) = stack.pop() {
        match node {
            pubgrub::DerivationTree::External(external) => {
                let line = external.to_string();
                if known.insert(line.clone()) {
                    let about = match external {
                        pubgrub::External::NotRoot(p, _)
                        | pubgrub::External::NoVersions(p, _)
                        | pubgrub::External::Custom(p, _, _)
                        | pubgrub::External::FromDependencyOf(p, _, _, _) => p.to_string(),
                    };
                    lines.push((about, line));
                }
            }
            pubgrub::DerivationTree::Derived(derived) => {
                for cause in [&derived.cause2, &derived.cause1] {
                    if seen.insert(Arc::as_ptr(cause)) {
                        stack.push(cause);
                    }
                }
            }
        }
    }
    let mut per_atom: HashMap<&str, usize> = HashMap::new();
    for (about, _) in &lines {
        *per_atom.entry(about).or_default() += 1;
    }
    let mut lines: Vec<(usize, &str)> = lines
        .iter()
        .map(|(about, line)| (per_atom[about.as_str()], line.as_str()))
        .collect();
    lines.sort_by_key(|(n, _)| *n);
    let total = lines.len();
    let mut out = format!(
        "no combination works; the search ruled out versions one by one, from these {total} facts:"
    );
    for (_, line) in lines.iter().take(SHOWN) {
        out.push_str("\n  ");
        out.push_str(line);
    }
    if total > SHOWN {
        out.push_str(&format!("\n  … and {} more", total - SHOWN));
    }
    out
}

/// Drops `tree` one node at a time: its own drop recurses once per level.
fn dismantle(tree: Tree) {
    let mut stack = vec![tree];
    while let Some(node) = stack.pop() {
        if let pubgrub::DerivationTree::Derived(derived) = node {
            for cause in [derived.cause1, derived.cause2] {
                if let Ok(inner) = Arc::try_unwrap(cause) {
                    stack.push(inner);
                }
            }
        }
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = Version;
    type VS = VSet;
    type M = String;
    type Err = SolverStop;
    type Priority = (u32, Reverse<usize>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &VSet,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let count = match package {
            Pkg::Root(_) => 1,
            Pkg::Atom { id, .. } => {
                self.conflicts
                    .borrow_mut()
                    .insert(*id, stats.conflict_count());
                VSet::within(range.ranges.clone(), self.listed.get(id).cloned())
                    .listed_count()
                    .unwrap_or(0)
            }
        };
        (stats.conflict_count(), Reverse(count))
    }

    fn should_cancel(&self) -> Result<(), SolverStop> {
        let steps = self.steps.get() + 1;
        self.steps.set(steps);
        if steps > self.budget {
            return Err(SolverStop::Budget(steps));
        }
        match self.conflicts.borrow().values().max() {
            Some(&most) if most > MAX_CONFLICTS_PER_ATOM => Err(SolverStop::Backtracking(most)),
            _ => Ok(()),
        }
    }

    fn choose_version(&self, package: &Pkg, range: &VSet) -> Result<Option<Version>, SolverStop> {
        Ok(match package {
            Pkg::Root(_) => Some(self.root.version.clone()).filter(|v| range.contains(v)),
            Pkg::Atom { id, .. } => {
                let versions = &self.d.atoms[id].versions;
                // A locked version stays even when yanked (with a warning);
                // otherwise a yanked version is never chosen.
                match self.prefer.get(id) {
                    Some(v) if range.contains(v) && versions.contains_key(v) => Some(v.clone()),
                    // The highest interval first, and in it the highest
                    // version: no walk over the versions ruled out.
                    _ => range
                        .ranges
                        .iter()
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .find_map(|(low, high)| {
                            versions
                                .range((low.clone(), high.clone()))
                                .rev()
                                .find(|(_, e)| !e.is_yanked())
                                .map(|(v, _)| v.clone())
                        }),
                }
            }
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &Version,
    ) -> Result<Dependencies<Pkg, VSet, String>, SolverStop> {
        match package {
            Pkg::Root(_) => Ok(Dependencies::Available(
                self.constraints(&self.root.deps, None)?
                    .into_iter()
                    .collect(),
            )),
            Pkg::Atom { id, label, .. } => match self.d.deps.get(&(*id, version.clone())) {
                Some(Ok(deps)) => Ok(Dependencies::Available(
                    self.constraints(deps, Some((*id, label)))?
                        .into_iter()
                        .collect(),
                )),
                Some(Err(why)) => Ok(Dependencies::Unavailable(why.clone())),
                None => Ok(Dependencies::Unavailable(
                    "its manifest was not read".into(),
                )),
            },
        }
    }
}

/// Resolves `root` against `registry`, preferring the versions in `prefer`
/// (the locked ones) where they are still allowed.
pub fn resolve(
    registry: &dyn Registry,
    root: &RootInput,
    prefer: &HashMap<AtomId, Version>,
) -> Result<Resolution, ResolveError> {
    let d = discover(registry, root, prefer)?;
    let solving = tracing::info_span!(target: "eka::phase", "solve").entered();
    let mut by_label: HashMap<&Label, usize> = HashMap::new();
    for info in d.atoms.values() {
        *by_label.entry(&info.label).or_default() += 1;
    }
    let shared_labels = by_label
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(l, _)| l.clone())
        .collect();
    let listed: usize = d.atoms.values().map(|a| a.versions.len()).sum();
    let provider = Provider {
        d: &d,
        root,
        prefer,
        shared_labels,
        requirements: Default::default(),
        steps: std::cell::Cell::new(0),
        budget: solver_budget(listed),
        listed: d
            .atoms
            .iter()
            .map(|(id, a)| (*id, a.versions.keys().cloned().collect()))
            .collect(),
        conflicts: Default::default(),
    };
    let solution = match pubgrub::resolve(
        &provider,
        Pkg::Root(root.label.clone()),
        root.version.clone(),
    ) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(tree)) => {
            let mut explanation = explain(tree);
            // Say what there is, for every atom the explanation names.
            let mut named: Vec<(&Label, String, &BTreeMap<Version, VersionEntry>)> = d
                .atoms
                .values()
                .filter(|a| explanation.contains(a.label.as_str()))
                .map(|a| (&a.label, a.set.to_string(), &a.versions))
                .collect();
            named.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            for (label, set, versions) in named {
                let list: Vec<Version> = versions.keys().cloned().collect();
                let yanked: Vec<String> = versions
                    .values()
                    .rev()
                    .filter(|e| e.is_yanked())
                    .map(|e| e.version.to_string())
                    .collect();
                let yanked = match yanked.is_empty() {
                    true => String::new(),
                    false => format!(
                        "; yanked, never chosen for a new lock: {}",
                        yanked.join(", ")
                    ),
                };
                explanation.push_str(&format!(
                    "\n  ({label} in {set} has {}{yanked})",
                    list_some_versions(&list)
                ));
            }
            return Err(ResolveError::Conflict { explanation });
        }
        Err(PubGrubError::ErrorRetrievingDependencies {
            source: SolverStop::Cycle(cycle),
            ..
        }) => return Err(ResolveError::Cycle(cycle)),
        Err(PubGrubError::ErrorInShouldCancel(SolverStop::Budget(steps))) => {
            return Err(ResolveError::TooCostly {
                steps,
                versions: listed,
            })
        }
        Err(PubGrubError::ErrorInShouldCancel(SolverStop::Backtracking(conflicts))) => {
            return Err(provider.backtracking(conflicts))
        }
        Err(e) => {
            return Err(ResolveError::Conflict {
                explanation: e.to_string(),
            })
        }
    };
    drop(solving);
    build(
        &d,
        root,
        solution.iter().map(|(p, v)| (p.clone(), v.clone())),
    )
}

fn build(
    d: &Discovery,
    root: &RootInput,
    solution: impl Iterator<Item = (Pkg, Version)>,
) -> Result<Resolution, ResolveError> {
    let chosen: HashMap<AtomId, Version> = solution
        .filter_map(|(p, v)| match p {
            Pkg::Atom { id, .. } => Some((id, v)),
            Pkg::Root(_) => None,
        })
        .collect();
    let edges = |deps: &[Dependency]| -> Vec<Edge> {
        let mut out: Vec<Edge> = Vec::new();
        for dep in deps {
            let id = d.id_of(&dep.set, &dep.label).expect("listed");
            // One atom named twice (two mirror URLs): one edge, both
            // requirements hold; keep the first.
            if out.iter().all(|e| e.id != id) {
                out.push(Edge {
                    label: dep.label.clone(),
                    req: dep.req.clone(),
                    id,
                });
            }
        }
        out
    };
    let mut atoms = Vec::new();
    for (id, version) in &chosen {
        let info = &d.atoms[id];
        let deps = match d.deps.get(&(*id, version.clone())) {
            Some(Ok(deps)) => deps,
            _ => unreachable!("the solver only picks versions whose dependencies it read"),
        };
        atoms.push(ResolvedAtom {
            id: *id,
            label: info.label.clone(),
            version: version.clone(),
            root: info.root,
            set: info.set.clone(),
            published: info.versions[version].clone(),
            deps: edges(deps),
        });
    }
    atoms.sort_by(|a, b| (&a.label, a.id).cmp(&(&b.label, b.id)));
    if let Some(cycle) = find_cycle(&atoms) {
        return Err(ResolveError::Cycle(cycle));
    }
    let mut warnings = d.warnings.clone();
    warnings.extend(atoms.iter().filter(|a| a.published.is_yanked()).map(|a| {
        ResolveWarning::Yanked {
            label: a.label.clone(),
            version: a.version.clone(),
            set: a.set.to_string(),
        }
    }));
    let mut roots: Vec<(SetKey, CommitId)> = d.roots.iter().map(|(k, r)| (k.clone(), *r)).collect();
    roots.sort();
    Ok(Resolution {
        deps: edges(&root.deps),
        atoms,
        warnings,
        rounds: d.rounds,
        roots,
    })
}

/// A cycle among the chosen atoms, as labels (`a -> b -> a`).
fn find_cycle(atoms: &[ResolvedAtom]) -> Option<Vec<Label>> {
    let index: HashMap<AtomId, usize> = atoms.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
    let cycle = crate::graph::find_cycle(atoms.len(), |a, k| {
        atoms[a].deps.get(k).map(|edge| index[&edge.id])
    })?;
    Some(
        cycle
            .nodes
            .iter()
            .map(|&a| atoms[a].label.clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// An in-memory registry: sets by URL, each a root and
    /// label → version → manifest text. Counts the calls.
    /// A set: its root, and (label, version) → manifest text.
    type FakeSet = (CommitId, BTreeMap<(String, String), String>);

    #[derive(Default)]
    struct Fake {
        sets: BTreeMap<String, FakeSet>,
        calls: RefCell<Vec<String>>,
        /// The atom commits asked for along with manifests.
        atoms: RefCell<Vec<CommitId>>,
    }

    fn oid(n: u8) -> CommitId {
        gix::ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn blob_of(text: &str) -> CommitId {
        atom_format::commit::object_id(gix::object::Kind::Blob, text.as_bytes())
    }

    impl Fake {
        fn publish(
            &mut self,
            set: &str,
            root: u8,
            label: &str,
            version: &str,
            deps: &[(&str, &str)],
        ) {
            let mut text = format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n");
            if !deps.is_empty() {
                text.push_str(&format!("[package.sets]\ns = \"{set}\"\n[deps.from.s]\n"));
                for (d, r) in deps {
                    text.push_str(&format!("{d} = \"{r}\"\n"));
                }
            }
            let entry = self
                .sets
                .entry(set.into())
                .or_insert((oid(root), BTreeMap::new()));
            entry.1.insert((label.into(), version.into()), text);
        }
    }

    impl Registry for Fake {
        fn list(&self, queries: &[(SetKey, Vec<Label>)]) -> Vec<Result<Listing, RegistryError>> {
            self.calls
                .borrow_mut()
                .push(format!("list {}", queries.len()));
            queries
                .iter()
                .map(|(set, labels)| {
                    let (root, atoms) = self.sets.get(set.0[0].as_str()).ok_or_else(|| {
                        RegistryError::Unreachable {
                            set: Some(set.to_string()),
                            failures: vec![crate::registry::MirrorFailure::new(
                                set.to_string(),
                                "no such set",
                            )],
                        }
                    })?;
                    let mut listing = Listing {
                        root: Some(*root),
                        ..Default::default()
                    };
                    for ((l, v), text) in atoms {
                        let label = Label::parse(l).unwrap();
                        if labels.contains(&label) {
                            listing.atoms.entry(label).or_default().push(VersionEntry {
                                version: Version::parse(v).unwrap(),
                                commit: blob_of(&format!("commit {text}")),
                                manifest: Some(blob_of(text)),
                                origin: None,
                                namespace: crate::registry::Namespace::Atoms,
                                mirrors: Vec::new(),
                                signatures: Vec::new(),
                                yanks: Vec::new(),
                            });
                        }
                    }
                    Ok(listing)
                })
                .collect()
        }

        fn manifests(
            &self,
            requests: &[ManifestRequest],
        ) -> Result<BTreeMap<CommitId, Vec<u8>>, RegistryError> {
            self.calls
                .borrow_mut()
                .push(format!("manifests {}", requests.len()));
            let mut out = BTreeMap::new();
            for ManifestRequest {
                set,
                manifests,
                atoms,
            } in requests
            {
                self.atoms.borrow_mut().extend(atoms);
                for (l, v, blob) in manifests {
                    let text = &self.sets[set.0[0].as_str()].1[&(l.to_string(), v.to_string())];
                    assert_eq!(blob_of(text), *blob);
                    out.insert(*blob, text.clone().into_bytes());
                }
            }
            Ok(out)
        }
    }

    fn key(url: &str) -> SetKey {
        SetKey(vec![url.parse().unwrap()])
    }

    fn root(deps: &[(&str, &str, &str)]) -> RootInput {
        RootInput {
            label: Label::parse("app").unwrap(),
            version: Version::new(0, 1, 0),
            deps: deps
                .iter()
                .map(|(s, l, r)| Dependency {
                    set: key(s),
                    label: Label::parse(l).unwrap(),
                    req: VersionReq::parse(r).unwrap(),
                })
                .collect(),
            requirers: Vec::new(),
        }
    }

    fn versions(r: &Resolution) -> Vec<String> {
        let mut v: Vec<String> = r
            .atoms
            .iter()
            .map(|a| format!("{}@{}", a.label, a.version))
            .collect();
        v.sort();
        v
    }

    const S: &str = "https://example.com/s";
    const T: &str = "https://example.com/t";

    fn fake() -> Fake {
        let mut f = Fake::default();
        for v in ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"] {
            f.publish(S, 1, "b", v, &[]);
        }
        f.publish(S, 1, "a", "1.0.0", &[("b", "^1")]);
        f.publish(S, 1, "a", "1.1.0", &[("b", ">=1.1")]);
        f.publish(S, 1, "c", "1.0.0", &[("b", "^2")]);
        f
    }

    /// SemVer: build metadata does not make another version. Two
    /// versions of one atom differing only in it are one version published
    /// twice, with different content: neither is used, with a warning.
    #[test]
    fn versions_differing_only_in_build_metadata_are_not_used() {
        let mut f = fake();
        f.publish(S, 1, "b", "1.1.0+zzz", &[]);
        f.publish(S, 1, "b", "1.1.0+yyy", &[]);
        let r = resolve(&f, &root(&[(S, "b", "^1")]), &HashMap::new()).unwrap();
        assert_eq!(versions(&r), ["b@1.0.0"]);
        {
            let ignored: Vec<String> = r
                .warnings
                .iter()
                .filter_map(|w| match w {
                    ResolveWarning::Ignored { version, why, .. } => {
                        assert!(why.contains("build metadata"), "{why}");
                        Some(version.to_string())
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(ignored, ["1.1.0+yyy", "1.1.0+zzz"]);
        }
        for req in ["=1.1.0", "=1.1.0+zzz", "~1.1"] {
            match resolve(&f, &root(&[(S, "b", req)]), &HashMap::new()) {
                Err(ResolveError::PublishedTwice { versions, .. }) => {
                    assert_eq!(versions.len(), 3, "{req}: {versions:?}")
                }
                other => panic!("{req}: {other:?}"),
            }
        }
        // One version with build metadata, alone, is an ordinary version.
        let mut f = fake();
        f.publish(S, 1, "b", "3.0.0+build.1", &[]);
        let r = resolve(&f, &root(&[(S, "b", "^3")]), &HashMap::new()).unwrap();
        assert_eq!(versions(&r), ["b@3.0.0+build.1"]);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    /// A requirement over many listed versions is one interval per run of
    /// matching versions (it was one singleton per version, united one at
    /// a time: quadratic), and means exactly what semver says.
    #[test]
    fn requirements_are_runs_of_listed_versions() {
        let mut listed: Vec<Version> = (0..20_000u64).map(|p| Version::new(1, 0, p)).collect();
        listed.push(Version::parse("1.0.5-rc.1").unwrap());
        listed.push(Version::parse("2.0.0").unwrap());
        listed.sort();
        let req = VersionReq::parse("^1").unwrap();
        let set = VSet::from_req(&req, listed.iter());
        // 1.0.5-rc.1 (not allowed by ^1) splits the run in two.
        assert_eq!(set.ranges.iter().count(), 2);
        for v in &listed {
            assert_eq!(set.contains(v), req.matches(v), "{v}");
        }
        let pre = VersionReq::parse(">=1.0.5-rc.1, <1.0.7").unwrap();
        let set = VSet::from_req(&pre, listed.iter());
        assert_eq!(set.ranges.iter().count(), 1);
        for v in &listed {
            assert_eq!(set.contains(v), pre.matches(v), "{v}");
        }
        assert!(
            VSet::from_req(&VersionReq::parse("^3").unwrap(), listed.iter())
                .ranges
                .is_empty()
        );
    }

    /// A requirement's bounds hold every version it matches, whatever
    /// the operator, pre-release or build metadata.
    #[test]
    fn requirement_bounds_hold_every_match() {
        let mut listed = Vec::new();
        for major in 0..3u64 {
            for minor in 0..3u64 {
                for patch in 0..3u64 {
                    let v = Version::new(major, minor, patch);
                    for suffix in ["", "-0", "-alpha", "-rc.1", "+b", "-rc.1+b"] {
                        listed.push(Version::parse(&format!("{v}{suffix}")).unwrap());
                    }
                }
            }
        }
        listed.push(Version::new(u64::MAX, u64::MAX, u64::MAX));
        let reqs = [
            "=1.1.1",
            "=1.1",
            "=1",
            "1.1.1",
            "^1.1.1",
            "^0.1.1",
            "^0.0.1",
            "^0.0",
            "^0",
            "~1.1.1",
            "~1.1",
            "~1",
            ">1.1.1",
            ">=1.1.1-rc.1",
            "<1.1.1",
            "<1.1.1-rc.1",
            "<=1.1",
            "<=1.1.1-alpha",
            "1.*",
            "1.1.*",
            "*",
            ">=0.1, <2.0.0-0",
            "=1.1.1-rc.1",
            "^1.1.1-alpha",
            ">=1, <1",
            "=18446744073709551615.18446744073709551615.18446744073709551615",
            "^18446744073709551615",
        ];
        for r in reqs {
            let req = VersionReq::parse(r).unwrap();
            let bounds = req_bounds(&req);
            for v in &listed {
                if req.matches(v) {
                    assert!(
                        std::ops::RangeBounds::contains(&bounds, v),
                        "{r}: {v} matches but is outside {bounds:?}"
                    );
                }
            }
        }
        // Narrow where the requirement is.
        let (lo, hi) = req_bounds(&VersionReq::parse("=1.0.7").unwrap());
        assert_eq!(lo, std::ops::Bound::Included(Version::new(1, 0, 7)));
        assert_eq!(
            hi,
            std::ops::Bound::Excluded(Version::parse("1.0.8-0").unwrap())
        );
    }

    /// The solver stops after its budget (linear in the versions listed),
    /// and resolution says so.
    #[test]
    fn the_solver_has_a_budget() {
        assert_eq!(solver_budget(0), 100_000);
        assert_eq!(solver_budget(20_000), 500_000);
        let d = Discovery::default();
        let root = root(&[]);
        let prefer = HashMap::new();
        let provider = Provider {
            d: &d,
            root: &root,
            prefer: &prefer,
            shared_labels: HashSet::new(),
            requirements: Default::default(),
            steps: std::cell::Cell::new(0),
            budget: 3,
            listed: HashMap::new(),
            conflicts: Default::default(),
        };
        for _ in 0..3 {
            provider.should_cancel().unwrap();
        }
        assert!(matches!(
            provider.should_cancel(),
            Err(SolverStop::Budget(4))
        ));
    }

    #[test]
    fn highest_allowed_and_transitive() {
        let f = fake();
        let r = resolve(&f, &root(&[(S, "a", "^1")]), &HashMap::new()).unwrap();
        assert_eq!(versions(&r), ["a@1.1.0", "b@2.0.0"]);
        // Pre-releases only when asked for.
        let r = resolve(&f, &root(&[(S, "b", ">=2.1.0-rc.1")]), &HashMap::new()).unwrap();
        assert_eq!(versions(&r), ["b@2.1.0-rc.1"]);
        // Two levels: one listing and one manifest fetch per level.
        assert_eq!(
            *f.calls.borrow(),
            [
                "list 1",
                "manifests 1",
                "list 1",
                "manifests 1",
                "list 1",
                "manifests 1"
            ]
        );
    }

    /// With the manifests, each round asks for the atom commit of the
    /// version the solver will likely choose: the preferred one if allowed,
    /// else the highest allowed.
    #[test]
    fn likely_atoms_come_with_the_manifests() {
        let f = fake();
        let commit_of = |r: &Resolution, label: &str| {
            r.atoms
                .iter()
                .find(|a| a.label.as_str() == label)
                .unwrap()
                .published
                .commit
        };
        let r = resolve(&f, &root(&[(S, "a", "^1")]), &HashMap::new()).unwrap();
        assert_eq!(versions(&r), ["a@1.1.0", "b@2.0.0"]);
        // Level 1: a ^1 -> a 1.1.0. Level 2 reads both a's manifests:
        // b ^1 (a 1.0.0) -> b 1.1.0, b >=1.1 (a 1.1.0) -> b 2.0.0. One
        // commit per requirement, and the chosen ones among them.
        let asked = f.atoms.borrow().clone();
        assert_eq!(asked.len(), 3, "{asked:?}");
        assert_eq!(asked[0], commit_of(&r, "a"));
        assert!(asked.contains(&commit_of(&r, "b")), "{asked:?}");
        f.atoms.borrow_mut().clear();
        let a = r.atoms.iter().find(|a| a.label.as_str() == "a").unwrap();
        let b = r.atoms.iter().find(|a| a.label.as_str() == "b").unwrap();
        let prefer = HashMap::from([(a.id, Version::new(1, 0, 0)), (b.id, Version::new(1, 0, 0))]);
        let r = resolve(&f, &root(&[(S, "a", "^1")]), &prefer).unwrap();
        assert_eq!(versions(&r), ["a@1.0.0", "b@1.0.0"]);
        // The preferred versions where allowed: a 1.0.0, b 1.0.0 (b ^1);
        // b >=1.1 does not allow b's preferred 1.0.0: its highest, 2.0.0.
        let asked = f.atoms.borrow().clone();
        let b2 = blob_of(&format!(
            "commit {}",
            f.sets[S].1[&("b".to_owned(), "2.0.0".to_owned())]
        ));
        let want = vec![commit_of(&r, "a"), commit_of(&r, "b"), b2];
        assert_eq!(asked, want);
    }

    #[test]
    fn preferences_are_kept_while_allowed() {
        let f = fake();
        let r0 = resolve(&f, &root(&[(S, "a", "^1")]), &HashMap::new()).unwrap();
        let a = r0.atoms.iter().find(|a| a.label.as_str() == "a").unwrap();
        let b = r0.atoms.iter().find(|a| a.label.as_str() == "b").unwrap();
        let prefer = HashMap::from([(a.id, Version::new(1, 0, 0)), (b.id, Version::new(1, 0, 0))]);
        let r = resolve(&f, &root(&[(S, "a", "^1")]), &prefer).unwrap();
        assert_eq!(versions(&r), ["a@1.0.0", "b@1.0.0"]);
        // A preference the requirement no longer allows gives way.
        let r = resolve(&f, &root(&[(S, "a", "^1"), (S, "b", "^2")]), &prefer).unwrap();
        assert_eq!(versions(&r), ["a@1.1.0", "b@2.0.0"]);
    }

    #[test]
    fn conflicts_name_the_requirements() {
        let f = fake();
        let e = resolve(
            &f,
            &root(&[(S, "a", "=1.0.0"), (S, "c", "^1")]),
            &HashMap::new(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("a 1.0.0 depends on b ^1"), "{text}");
        assert!(text.contains("c 1.0.0 depends on b ^2"), "{text}");
        let e = resolve(&f, &root(&[(S, "b", "^3")]), &HashMap::new()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("it has 2.1.0-rc.1, 2.0.0, 1.1.0, 1.0.0"),
            "{e}"
        );
    }

    #[test]
    fn cycles_are_errors() {
        let mut f = Fake::default();
        f.publish(S, 1, "x", "1.0.0", &[("y", "^1")]);
        f.publish(S, 1, "y", "1.0.0", &[("x", "^1")]);
        f.publish(S, 1, "z", "1.0.0", &[("z", "^1")]);
        let e = resolve(&f, &root(&[(S, "x", "^1")]), &HashMap::new()).unwrap_err();
        assert!(matches!(&e, ResolveError::Cycle(l) if l.len() == 3), "{e}");
        let e = resolve(&f, &root(&[(S, "z", "^1")]), &HashMap::new()).unwrap_err();
        assert_eq!(e.to_string(), "dependency cycle: z -> z");
    }

    #[test]
    fn mirrors_with_one_root_are_one_set() {
        let mut f = fake();
        for v in ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"] {
            f.publish(T, 1, "b", v, &[]);
        }
        // b through S (^1) and through T (=1.0.0): one atom, both hold.
        let r = resolve(
            &f,
            &root(&[(S, "b", "^1"), (T, "b", "=1.0.0")]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(versions(&r), ["b@1.0.0"]);
        assert_eq!(r.deps.len(), 1);
        // Another root: two atoms with one label.
        let mut f = fake();
        f.publish(T, 2, "b", "1.0.0", &[]);
        let r = resolve(
            &f,
            &root(&[(S, "b", "^2"), (T, "b", "^1")]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(versions(&r), ["b@1.0.0", "b@2.0.0"]);
    }

    /// `a` has `n` versions, `a 1.0.i` requiring `b =1.0.i`; `c` requires
    /// `b =1.0.{c_wants}`: the solver tries `a`'s versions from the top.
    fn disagreeing(n: u64, c_wants: u64) -> Fake {
        let mut f = Fake::default();
        for i in 0..n {
            let v = format!("1.0.{i}");
            f.publish(S, 1, "b", &v, &[]);
            f.publish(S, 1, "a", &v, &[("b", &format!("={v}"))]);
        }
        f.publish(S, 1, "b", "2.0.0", &[]);
        f.publish(S, 1, "c", "1.0.0", &[("b", &format!("=1.0.{c_wants}"))]);
        f.publish(S, 1, "c", "2.0.0", &[("b", "=2.0.0")]);
        f
    }

    /// Sets of an atom's versions are kept as runs of its listed
    /// versions: ruling out the highest ones one at a time leaves one
    /// interval (it left one hole more per version: quadratic), and every
    /// operation means, over the listed versions, what it means over all.
    #[test]
    fn version_sets_stay_runs_of_listed_versions() {
        let listed: Arc<[Version]> = (0..2_000u64).map(|p| Version::new(1, 0, p)).collect();
        let req = VersionReq::parse("^1").unwrap();
        let mut set = VSet {
            listed: Some(listed.clone()),
            ..VSet::from_req(&req, listed.iter())
        };
        for v in listed.iter().rev().take(1_500) {
            set = set.intersection(&VSet::singleton(v.clone()).complement());
            assert_eq!(set.ranges.iter().count(), 1);
        }
        assert_eq!(set.listed_count(), Some(500));
        // A hole in the middle stays one hole.
        let hole = set.intersection(&VSet::singleton(Version::new(1, 0, 7)).complement());
        assert_eq!(hole.ranges.iter().count(), 2);
        assert_eq!(hole.listed_count(), Some(499));
        // Set algebra over the listed versions, against plain ranges.
        let some = |seed: u64| {
            let mut ranges = Ranges::empty();
            for i in 0..5u64 {
                let a = (seed * 7919 + i * 104_729) % 2_000;
                let b = (a + seed % 300) % 2_000;
                ranges = ranges.union(&Ranges::between(
                    Version::new(1, 0, a.min(b)),
                    Version::new(1, 0, a.max(b) + 1),
                ));
            }
            ranges
        };
        for seed in 1..40u64 {
            let (x, y) = (some(seed), some(seed * 31 + 5));
            let (vx, vy) = (
                VSet::within(x.clone(), Some(listed.clone())),
                VSet::plain(y.clone()),
            );
            let union = vx.union(&vy);
            let meet = vx.intersection(&vy);
            let not = vx.complement();
            for v in listed.iter() {
                assert_eq!(union.contains(v), x.contains(v) || y.contains(v), "{v}");
                assert_eq!(meet.contains(v), x.contains(v) && y.contains(v), "{v}");
                assert_eq!(not.contains(v), !x.contains(v), "{v}");
            }
            let over_listed = |r: &Ranges<Version>| -> Vec<&Version> {
                listed.iter().filter(|v| r.contains(v)).collect()
            };
            assert_eq!(
                vx.subset_of(&vy),
                over_listed(&x).iter().all(|v| y.contains(v))
            );
            assert_eq!(
                vx.is_disjoint(&vy),
                over_listed(&x).iter().all(|v| !y.contains(v))
            );
        }
    }

    /// Thousands of versions whose manifests disagree with the rest of the
    /// graph: the solver gives up on the atom after
    /// [`MAX_CONFLICTS_PER_ATOM`] tries, naming it and the atoms it clashes
    /// with, instead of trying every version (minutes, gigabytes).
    #[test]
    fn ruling_out_versions_one_by_one_is_bounded() {
        // Solvable below the bound: a 1.0.0 is the one that agrees.
        let f = disagreeing(300, 0);
        let r = resolve(
            &f,
            &root(&[(S, "a", "^1"), (S, "c", "^1")]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(versions(&r), ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);
        // Past it: a clear error naming the atoms.
        let f = disagreeing(700, 0);
        match resolve(
            &f,
            &root(&[(S, "a", "^1"), (S, "c", "^1")]),
            &HashMap::new(),
        ) {
            Err(e @ ResolveError::Backtracking { .. }) => {
                let text = e.to_string();
                assert!(text.contains("versions of a one by one"), "{text}");
                assert!(text.contains("700 published versions"), "{text}");
                assert!(text.contains("most in conflict: "), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // Narrowed as the help says, it resolves.
        let r = resolve(
            &f,
            &root(&[(S, "a", "=1.0.0"), (S, "c", "^1")]),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(versions(&r), ["a@1.0.0", "b@1.0.0", "c@1.0.0"]);
    }

    /// A conflict found after ruling out hundreds of versions one by one
    /// derives from a chain hundreds of levels deep: PubGrub's recursive
    /// reporter overflowed the stack on it (and so did dropping it). It is
    /// explained by the facts it rests on, on a test thread's 2 MiB stack.
    #[test]
    fn a_deep_conflict_is_explained_without_overflow() {
        let f = disagreeing(450, 0);
        let e = resolve(
            &f,
            &root(&[(S, "a", "^1"), (S, "c", "^2")]),
            &HashMap::new(),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ResolveError::Conflict { .. }), "{text}");
        assert!(text.contains("ruled out versions one by one"), "{text}");
        assert!(text.contains("c 2.0.0 depends on b =2.0.0"), "{text}");
        assert!(text.contains("… and "), "{text}");
        assert!(text.lines().count() < 40, "{text}");
    }
}
