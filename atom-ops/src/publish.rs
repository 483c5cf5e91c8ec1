//! Publishing: turning the atoms of a source commit into atom commits and
//! refs, locally and on a remote, all or nothing.
//!
//! The order of work is chosen so that a failure at any point leaves nothing
//! half done: everything is computed and checked (manifests, labels, ref
//! names, digests, the remote's listing, local ref conflicts) before the first
//! write; objects are written first (unreferenced objects are harmless); local
//! refs change in one transaction; the remote changes in one atomic push; and
//! if the push fails, the local refs go back to what they were.
//!
//! Since computing writes nothing, it runs beside git's check of the work
//! tree (`git status` of every atom, most of a publish's wall time), on
//! the other cores: the dependency check, the digests and the signatures
//! (in memory) are ready when the work tree is known to be clean.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use atom_format::digest::{DigestError, Digester};
use atom_format::manifest::{Manifest, ManifestError, MANIFEST_FILE};
use atom_format::refs::{
    AtomRef, AtomVersion, InvalidRefName, Namespace, ATOMS_PREFIX, EKA03_ATOMS_PREFIX,
    EKA03_ROOT_REF, ROOT_REF,
};
use atom_format::{AtomCommit, AtomId, ContentDigest, Label};
use atom_git::{
    self as git, Connections, FoundAtom, GitError, PushError, RefStore, RefUpdate, RemoteError,
};
use gix::ObjectId;
use rayon::prelude::*;
use serde::Deserialize;

/// Which atoms of the source commit to publish.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every atom (or those listed in `ekala.toml`'s `[set] packages`).
    All,
    /// The atom whose directory holds [`PublishRequest::dir`].
    Enclosing,
    /// The atoms in these directories (relative to
    /// [`PublishRequest::dir`], or absolute).
    Dirs(Vec<PathBuf>),
    /// The atoms in these directories, relative to the repository root,
    /// `/`-separated.
    Paths(Vec<String>),
}

/// What [`publish`] is asked to do.
#[derive(Clone, Debug)]
pub struct PublishRequest {
    /// A directory in the repository to publish from.
    pub dir: PathBuf,
    /// The revision whose tree is published (`HEAD` by default).
    pub rev: String,
    /// A configured remote's name, or a URL or path.
    pub remote: String,
    pub selection: Selection,
    /// Compute and check everything, write nothing.
    pub dry_run: bool,
    /// Sign each new version (also when `key` is given, or git config
    /// `eka.sign` is true); see [`crate::sign`].
    pub sign: bool,
    /// The signing key (`--key`), instead of the configured one.
    pub key: Option<String>,
    /// Publish `HEAD` even when the work tree changes the atoms' files.
    pub allow_dirty: bool,
    /// Skip checking that the atoms' dependencies can be resolved.
    pub no_verify: bool,
}

/// What happened (or would happen) to one atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Published by this run.
    Published,
    /// Would be published (dry run).
    WouldPublish,
    /// The remote already has this very commit.
    UpToDate,
}

/// One atom in a publish report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishedAtom {
    pub path: String,
    pub label: Label,
    pub version: semver::Version,
    pub status: Status,
    pub id: AtomId,
    pub digest: ContentDigest,
    #[serde(serialize_with = "ser_oid")]
    pub commit: ObjectId,
}

/// The result of a publish.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PublishReport {
    pub remote: String,
    #[serde(serialize_with = "ser_oid")]
    pub source: ObjectId,
    #[serde(serialize_with = "ser_oid")]
    pub root: ObjectId,
    pub atoms: Vec<PublishedAtom>,
    /// Refs pushed to the remote (empty when nothing was new, or dry run).
    pub pushed_refs: Vec<String>,
    /// The key that signed the new versions, if they were signed.
    pub signer: Option<atom_trust::KeyFingerprint>,
    /// Problems that did not stop the publish.
    pub warnings: Vec<String>,
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Why nothing was published.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PublishError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Push(#[from] PushError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sign(#[from] crate::sign::SigningError),
    #[error("`{path}/atom.toml` is not valid UTF-8")]
    #[diagnostic(code(atom::manifest::utf8), help("save atom.toml as UTF-8"))]
    ManifestNotUtf8 { path: String },
    #[error("no atom found in {rev}")]
    #[diagnostic(code(atom::publish::no_atoms))]
    NoAtoms { rev: String },
    #[error("{rev} has an atom.toml at the repository root, which cannot be an atom")]
    #[diagnostic(
        code(atom::publish::root_manifest),
        help("an atom is a subdirectory of the repository: move atom.toml (and the atom's files) into one")
    )]
    RootManifest { rev: String },
    #[error("`{path}` is not an atom directory in {rev}{}", found_list(.found))]
    #[diagnostic(
        code(atom::publish::not_an_atom),
        help("publish reads committed trees only: commit the atom first, or check the path")
    )]
    NotAnAtom {
        path: String,
        rev: String,
        found: Vec<String>,
    },
    #[error("ekala.toml lists `{path}`, but {rev} has no atom.toml there")]
    #[diagnostic(
        code(atom::publish::ekala_missing),
        help("remove the entry from ekala.toml's [set] packages, or restore the atom")
    )]
    EkalaMissing { path: String, rev: String },
    #[error("ekala.toml: {0}")]
    #[diagnostic(code(atom::publish::ekala))]
    Ekala(String),
    #[error("two atoms have the label `{label}` in {rev}: `{first}` and `{second}`")]
    #[diagnostic(
        code(atom::publish::duplicate_label),
        help("labels identify atoms within a repository; rename one of them")
    )]
    DuplicateLabel {
        label: Label,
        rev: String,
        first: String,
        second: String,
    },
    #[error("atom `{path}`: {source}")]
    #[diagnostic(
        code(atom::publish::ref_name),
        help(
            "choose a version git can store in a ref name (a pre-release may not end in `.lock`)"
        )
    )]
    RefName {
        path: String,
        #[source]
        source: InvalidRefName,
    },
    #[error("atom `{path}`: {source}")]
    #[diagnostic(
        code(atom::publish::unsafe_tree),
        help("atoms are fetched by others: remove the offending entry, or point the symlink inside the atom")
    )]
    UnsafeTree {
        path: String,
        #[source]
        source: DigestError,
    },
    #[error("the remote's repository root is {theirs}, but this repository's is {ours}")]
    #[diagnostic(
        code(atom::publish::root_mismatch),
        help("a registry holds atoms of one repository history; publish to a remote of this repository")
    )]
    RootMismatch { ours: ObjectId, theirs: ObjectId },
    #[error("{}", conflicts_text(.0))]
    #[diagnostic(
        code(atom::publish::version_conflict),
        help("published versions are immutable: bump the version in atom.toml and commit; nothing was pushed")
    )]
    Conflicts(Vec<Conflict>),
    #[error("`{}` is outside the repository at `{}`", path.display(), root.display())]
    #[diagnostic(
        code(atom::publish::outside),
        help("atom paths are directories inside the repository being published")
    )]
    OutsideRepository { path: PathBuf, root: PathBuf },
    #[error("nothing to publish: `{}` is not inside an atom", .0.display())]
    #[diagnostic(code(atom::publish::not_in_atom))]
    NotInAtom(PathBuf),
    #[error("local ref `{name}` points to {existing}, an atom commit of the same version with other content than {wanted} (this commit's)")]
    #[diagnostic(
        code(atom::publish::local_ref_conflict),
        help("a version is published with one content everywhere: bump the version in atom.toml and commit")
    )]
    LocalRefConflict {
        name: String,
        existing: ObjectId,
        wanted: ObjectId,
    },
    #[error("the work tree changes files of {rev} that would be published:\n  - {}", paths.join("\n  - "))]
    #[diagnostic(code(atom::publish::dirty))]
    Dirty { rev: String, paths: Vec<String> },
    #[error("cannot tell whether the work tree has changes")]
    #[diagnostic(code(atom::publish::status))]
    Status(#[source] std::io::Error),
    #[error("atom `{path}`: {}", problems.join("; "))]
    #[diagnostic(code(atom::publish::unresolvable))]
    Unresolvable { path: String, problems: Vec<String> },
    #[error("atom `{path}`: its dependencies cannot be resolved")]
    #[diagnostic(code(atom::publish::unresolvable))]
    Resolve {
        path: String,
        #[source]
        source: Box<atom_lock::resolve::ResolveError>,
    },
    #[error("atom `{path}`: its dependencies cannot be checked")]
    #[diagnostic(code(atom::publish::unresolvable))]
    Project {
        path: String,
        #[source]
        source: Box<atom_lock::project::ProjectError>,
    },
}

/// A version that the remote already has with different content.
#[derive(Clone, Debug)]
pub struct Conflict {
    pub atom: AtomVersion,
    pub remote: ObjectId,
    pub local: ObjectId,
}

fn conflicts_text(conflicts: &[Conflict]) -> String {
    let mut s = String::from("already published with different content:");
    for c in conflicts {
        s.push_str(&format!(
            "\n  {} is {} on the remote, but would be {} from this commit",
            c.atom, c.remote, c.local
        ));
    }
    s
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        String::new()
    } else {
        format!(" (atoms there: {})", found.join(", "))
    }
}

/// `ekala.toml` of eka 0.3: an explicit list of the atoms of a repository.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EkalaManifest {
    set: EkalaSet,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EkalaSet {
    #[serde(default)]
    packages: Vec<String>,
}

/// An atom about to be published, with everything computed.
struct Prepared {
    found: FoundAtom,
    atom: AtomVersion,
    commit: AtomCommit,
    commit_id: ObjectId,
    id: AtomId,
}

/// Normalises a user-given repository-relative directory (`./a//b/` → `a/b`).
pub fn normalize_path(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Publishes atoms of the repository containing `request.dir`; see the
/// [module documentation](self) for the order of work.
pub fn publish(
    request: &PublishRequest,
    connections: &Connections,
) -> Result<PublishReport, PublishError> {
    let reading = tracing::info_span!(target: "eka::phase", "read commit, list remote").entered();
    // What a killed publish left, even when this one has nothing to push.
    git::push::remove_stale_scratch_repositories();
    let repo = git::open(&request.dir)?;
    let source = git::resolve_commit(&repo, &request.rev)?;
    let rev = describe_rev(&request.rev, source);
    let url = git::remote_url(Some(&repo), &request.remote)?;
    let selection = in_repository(&request.selection, &request.dir, &repo)?;
    let (remote_refs, prepared) = std::thread::scope(|s| {
        // Listing the remote is network-bound; do it while reading the tree.
        let listing = s.spawn(|| list_remote(connections, &url));
        let prepared = prepare(&repo, source, &rev, &selection);
        (listing.join().expect("ls-refs thread panicked"), prepared)
    });
    let (remote_refs, (root, mut prepared, manifests)) = (remote_refs?, prepared?);
    drop(reading);
    let paths: Vec<String> = prepared.iter().map(|p| p.found.path.clone()).collect();
    let checked = WorkTreeCheck {
        repo: &repo,
        source,
        rev: &rev,
        paths: &paths,
    };
    let Staged {
        digests,
        plan,
        mut wanted,
        signing,
    } = checked.beside(request.allow_dirty, |repo| {
        let staging = Staging {
            repo,
            request,
            connections,
            url: &url,
            root,
            remote_refs: &remote_refs,
            manifests: &manifests,
        };
        staging.stage(&mut prepared)
    })?;
    let signatures = signing.map(|s| s.finish(&repo)).transpose()?;
    wanted.extend(signatures.iter().flat_map(|s| s.refs.iter().cloned()));
    let local_updates = local_updates(&repo, &wanted)?;
    let mut report = PublishReport {
        remote: url.clone(),
        source,
        root,
        atoms: report_atoms(&plan, &prepared, &digests, request.dry_run),
        pushed_refs: Vec::new(),
        signer: signatures.as_ref().map(|s| s.signer),
        warnings: Vec::new(),
    };
    if request.dry_run || wanted.is_empty() {
        return Ok(report);
    }
    let fresh: Vec<&Prepared> = plan.fresh.iter().map(|&i| &prepared[i]).collect();
    if let Err(e) = write_and_push(
        &repo,
        &url,
        connections.timeout(),
        &fresh,
        &wanted,
        &local_updates,
    ) {
        match e {
            Pushed::LocalRefsFailed(e) => report.warnings.push(format!(
                "published, but the local refs under refs/atoms/ were not updated: {e}"
            )),
            Pushed::Failed(e) => return Err(e),
        }
    }
    report.pushed_refs = wanted.into_iter().map(|(n, _)| n).collect();
    Ok(report)
}

/// What a publish computes before it writes anything.
struct Staged {
    digests: Vec<ContentDigest>,
    plan: Plan,
    /// The refs to push, signatures aside.
    wanted: Vec<(String, ObjectId)>,
    signing: Option<crate::sign::PendingSignatures>,
}

/// What [`Staging::stage`] reads.
struct Staging<'a> {
    repo: &'a gix::Repository,
    request: &'a PublishRequest,
    connections: &'a Connections,
    url: &'a str,
    root: ObjectId,
    remote_refs: &'a HashMap<String, ObjectId>,
    manifests: &'a Manifests,
}

impl Staging<'_> {
    /// Checks the atoms' dependencies, digests the atoms, sorts them into
    /// fresh and up to date, and signs the fresh ones (in memory).
    fn stage(&self, prepared: &mut [Prepared]) -> Result<Staged, PublishError> {
        let repo = self.repo;
        if !self.request.no_verify {
            tracing::info_span!(target: "eka::phase", "check dependencies").in_scope(|| {
                check_dependencies(
                    repo,
                    prepared,
                    self.manifests,
                    self.remote_refs,
                    self.connections,
                )
            })?;
        }
        adopt_local_commits(repo, prepared)?;
        let digests = tracing::info_span!(target: "eka::phase", "digests")
            .in_scope(|| digests(repo, prepared))?;
        check_root(self.remote_refs, self.root)?;
        let plan = plan(repo, self.connections, self.url, self.remote_refs, prepared)?;
        let wanted = wanted_refs(&plan, prepared, self.root, self.remote_refs);
        let signing = crate::sign::at_publish(
            repo,
            self.request.sign,
            self.request.key.as_deref(),
            self.request.dry_run,
            || {
                let fresh = plan.fresh.iter().map(|&i| (&prepared[i], digests[i]));
                fresh
                    .map(|(p, d)| {
                        crate::sign::statement(&p.atom, p.commit_id, p.commit.origin, self.root, d)
                    })
                    .collect()
            },
        )?;
        Ok(Staged {
            digests,
            plan,
            wanted,
            signing,
        })
    }
}

/// Whether the work tree changes the files of the atoms at `paths`
/// (see [`refuse_uncommitted`]).
struct WorkTreeCheck<'a> {
    repo: &'a gix::Repository,
    source: ObjectId,
    rev: &'a str,
    paths: &'a [String],
}

impl WorkTreeCheck<'_> {
    /// Runs `work` (on a handle of the repository) while git checks the
    /// work tree (unless `allow_dirty`): `git status` of many atoms is most
    /// of a publish's wall time, and `work` writes nothing. `work` gets
    /// every core but one meanwhile, so that the two do not slow each
    /// other down. A dirty work tree is reported before whatever `work`
    /// found.
    fn beside<T: Send>(
        &self,
        allow_dirty: bool,
        work: impl FnOnce(&gix::Repository) -> Result<T, PublishError> + Send,
    ) -> Result<T, PublishError> {
        if allow_dirty {
            return work(self.repo);
        }
        let _span = tracing::info_span!(
            target: "eka::phase",
            "check work tree",
            summary = "check work tree, beside the phases above"
        )
        .entered();
        let (checker, source, rev, paths) = (self.repo.clone(), self.source, self.rev, self.paths);
        let shared = self.repo.clone().into_sync();
        let span = tracing::Span::current();
        let work = move || span.in_scope(|| work(&shared.to_thread_local()));
        std::thread::scope(|s| {
            let clean = s.spawn(move || refuse_uncommitted(&checker, source, rev, paths));
            let done = match all_cores_but_one() {
                Some(pool) => pool.install(work),
                None => work(),
            };
            clean.join().expect("work tree thread panicked")?;
            done
        })
    }
}

/// A thread pool of every core but one (at least one thread); `None` on a
/// single core, or if no thread can be started.
fn all_cores_but_one() -> Option<rayon::ThreadPool> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if cores < 2 {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(cores - 1)
        .build()
        .ok()
}

/// How a revision is named in messages: `HEAD (0123456789ab)`.
fn describe_rev(rev: &str, source: ObjectId) -> String {
    format!("{rev} ({})", &source.to_hex_with_len(12))
}

/// The remote's atom refs and roots, ours and eka 0.3's: a version eka 0.3
/// published is as immutable as ours (resolvers read both namespaces).
fn list_remote(
    connections: &Connections,
    url: &str,
) -> Result<HashMap<String, ObjectId>, PublishError> {
    let refs = connections.ls_refs(url, &[ATOMS_PREFIX, EKA03_ATOMS_PREFIX, EKA03_ROOT_REF])?;
    Ok(refs.into_iter().map(|r| (r.name, r.target)).collect())
}

/// Refuses to publish into a registry of another repository history.
fn check_root(remote_refs: &HashMap<String, ObjectId>, root: ObjectId) -> Result<(), PublishError> {
    let theirs = remote_refs
        .get(ROOT_REF)
        .or_else(|| remote_refs.get(EKA03_ROOT_REF));
    match theirs {
        Some(&theirs) if theirs != root => Err(PublishError::RootMismatch { ours: root, theirs }),
        _ => Ok(()),
    }
}

/// What to do with each prepared atom, by position.
struct Plan {
    /// Not on the remote yet.
    fresh: Vec<usize>,
    /// On the remote from an earlier source commit with the same content:
    /// up to date, with that published commit.
    published_earlier: HashMap<usize, ObjectId>,
}

/// Sorts the prepared atoms into fresh and up to date; any version the
/// remote has with other content is a conflict, and stops the publish.
fn plan(
    repo: &gix::Repository,
    connections: &Connections,
    url: &str,
    remote_refs: &HashMap<String, ObjectId>,
    prepared: &[Prepared],
) -> Result<Plan, PublishError> {
    let mut fresh = Vec::new();
    let mut differing = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        match published_commit(remote_refs, &p.atom) {
            Some((_, theirs)) if theirs == p.commit_id => {}
            Some((name, theirs)) => differing.push((i, name, theirs)),
            None => fresh.push(i),
        }
    }
    let published_earlier = same_content_or_conflict(repo, connections, url, prepared, differing)?;
    Ok(Plan {
        fresh,
        published_earlier,
    })
}

/// The remote's commit for `atom`, and its ref: ours first, else the same
/// version as eka 0.3 published it.
fn published_commit(
    remote_refs: &HashMap<String, ObjectId>,
    atom: &AtomVersion,
) -> Option<(String, ObjectId)> {
    let ours = atom.atom_ref();
    let legacy = AtomRef::Atom(atom.clone()).name_in(Namespace::Eka03);
    [ours, legacy]
        .into_iter()
        .find_map(|name| remote_refs.get(&name).map(|id| (name, *id)))
        .or_else(|| build_twin(remote_refs, atom))
}

/// The remote's commit of a version differing from `atom`'s only in build
/// metadata: SemVer makes it the same version, so publishing `atom` would
/// be publishing it twice.
fn build_twin(
    remote_refs: &HashMap<String, ObjectId>,
    atom: &AtomVersion,
) -> Option<(String, ObjectId)> {
    let mut bare = atom.clone();
    bare.version.build = semver::BuildMetadata::EMPTY;
    let exact = [
        bare.atom_ref(),
        AtomRef::Atom(bare).name_in(Namespace::Eka03),
    ];
    let is_twin = |name: &String| match AtomRef::parse_any(name) {
        Some(Ok((_, AtomRef::Atom(theirs)))) => {
            theirs.label == atom.label
                && theirs.version != atom.version
                && theirs.version.cmp_precedence(&atom.version).is_eq()
        }
        _ => false,
    };
    let mut twins: Vec<(&String, &ObjectId)> = remote_refs
        .iter()
        .filter(|(name, _)| (name.contains('+') || exact.contains(name)) && is_twin(name))
        .collect();
    twins.sort();
    twins.first().map(|(name, id)| ((*name).clone(), **id))
}

/// Of the atoms whose version the remote has with another commit, those
/// published from an earlier commit with the same tree are the same
/// content: up to date, not a conflict (their commits are fetched first if
/// missing: only objects we lack come over). Returns those, or the
/// conflicts as an error.
fn same_content_or_conflict(
    repo: &gix::Repository,
    connections: &Connections,
    url: &str,
    prepared: &[Prepared],
    differing: Vec<(usize, String, ObjectId)>,
) -> Result<HashMap<usize, ObjectId>, PublishError> {
    let missing: Vec<String> = differing
        .iter()
        .filter(|(_, _, theirs)| matches!(git::read_object(repo, *theirs), Ok(None)))
        .map(|(_, name, _)| name.clone())
        .collect();
    if !missing.is_empty() {
        // If this fails, the conflicts below report what is known.
        let _ = connections.fetch_refspecs(repo, url, &missing);
    }
    let mut earlier = HashMap::new();
    let mut conflicts = Vec::new();
    for (i, _, theirs) in differing {
        let p = &prepared[i];
        if is_same_content(repo, theirs, p) {
            earlier.insert(i, theirs);
        } else {
            conflicts.push(Conflict {
                atom: p.atom.clone(),
                remote: theirs,
                local: p.commit_id,
            });
        }
    }
    match conflicts.is_empty() {
        true => Ok(earlier),
        false => Err(PublishError::Conflicts(conflicts)),
    }
}

/// Whether the commit `theirs` publishes the same tree as `p`, under the
/// same label and version.
fn is_same_content(repo: &gix::Repository, theirs: ObjectId, p: &Prepared) -> bool {
    match git::read_object(repo, theirs) {
        Ok(Some((gix::object::Kind::Commit, bytes))) => AtomCommit::parse(&bytes).is_ok_and(|c| {
            c.tree == p.commit.tree && c.label == p.atom.label && c.version == p.atom.version
        }),
        _ => false,
    }
}

/// The refs each fresh atom needs, locally and on the remote (and the
/// root, if the remote has none yet).
fn wanted_refs(
    plan: &Plan,
    prepared: &[Prepared],
    root: ObjectId,
    remote_refs: &HashMap<String, ObjectId>,
) -> Vec<(String, ObjectId)> {
    let mut wanted = Vec::new();
    for p in plan.fresh.iter().map(|&i| &prepared[i]) {
        wanted.push((p.atom.atom_ref(), p.commit_id));
        wanted.push((p.atom.manifest_ref(), p.found.manifest_blob));
        wanted.push((p.atom.origin_ref(), p.commit.origin));
    }
    if !remote_refs.contains_key(ROOT_REF) && !plan.fresh.is_empty() {
        wanted.push((ROOT_REF.to_owned(), root));
    }
    wanted
}

/// The local ref changes that mirror what the remote will hold. A local ref
/// that disagrees is somebody's work, so it stops the publish rather than
/// being overwritten.
fn local_updates(
    repo: &gix::Repository,
    wanted: &[(String, ObjectId)],
) -> Result<Vec<RefUpdate>, PublishError> {
    let local: HashMap<String, ObjectId> =
        git::local_refs(repo, ATOMS_PREFIX)?.into_iter().collect();
    let mut updates = Vec::new();
    for (name, new) in wanted {
        match local.get(name) {
            Some(existing) if existing == new => {}
            Some(existing) => {
                return Err(PublishError::LocalRefConflict {
                    name: name.clone(),
                    existing: *existing,
                    wanted: *new,
                })
            }
            None => updates.push(RefUpdate {
                name: name.clone(),
                old: None,
                new: Some(*new),
            }),
        }
    }
    Ok(updates)
}

/// The report's line of each prepared atom.
fn report_atoms(
    plan: &Plan,
    prepared: &[Prepared],
    digests: &[ContentDigest],
    dry_run: bool,
) -> Vec<PublishedAtom> {
    let new_status = match dry_run {
        true => Status::WouldPublish,
        false => Status::Published,
    };
    prepared
        .iter()
        .zip(digests)
        .enumerate()
        .map(|(i, (p, digest))| PublishedAtom {
            path: p.found.path.clone(),
            label: p.atom.label.clone(),
            version: p.atom.version.clone(),
            status: match plan.fresh.contains(&i) {
                true => new_status,
                false => Status::UpToDate,
            },
            id: p.id,
            digest: *digest,
            commit: plan
                .published_earlier
                .get(&i)
                .copied()
                .unwrap_or(p.commit_id),
        })
        .collect()
}

/// How [`write_and_push`] ended, when not with everything done.
enum Pushed {
    /// Nothing was published; the local refs are as they were.
    Failed(PublishError),
    /// Published; the local refs could not be written (nothing is lost:
    /// the remote has everything).
    LocalRefsFailed(GitError),
}

/// Writes the fresh atoms' commits, then pushes `wanted` and writes the
/// local refs side by side (independent disk-bound work). If the push
/// fails, the local refs written meanwhile are taken back, so the local
/// repository ends as it was.
fn write_and_push(
    repo: &gix::Repository,
    url: &str,
    timeout: std::time::Duration,
    fresh: &[&Prepared],
    wanted: &[(String, ObjectId)],
    local_updates: &[RefUpdate],
) -> Result<(), Pushed> {
    let writing = tracing::info_span!(target: "eka::phase", "write commits").entered();
    let commits: Vec<Vec<u8>> = fresh.iter().map(|p| p.commit.to_bytes()).collect();
    // Dropping `_pack` (on every way out of this function) lets `git gc`
    // repack the new commits: by then refs point at them, or they are
    // unreferenced leftovers of a failed push.
    let (written, _pack) =
        git::write_commits(repo, &commits).map_err(|e| Pushed::Failed(e.into()))?;
    debug_assert!(written.iter().zip(fresh).all(|(id, p)| *id == p.commit_id));
    drop(writing);
    let refs = RefStore::of(repo);
    let pushing = tracing::info_span!(target: "eka::phase", "push and local refs").entered();
    let (pushed, local) = std::thread::scope(|s| {
        let local = s.spawn(|| {
            let _local = tracing::info_span!(
                target: "eka::phase",
                parent: &*pushing,
                "of which local refs, beside the push"
            )
            .entered();
            refs.update(local_updates, "eka publish")
        });
        let pushed = git::push_atomic(repo, url, wanted, timeout);
        (pushed, local.join().expect("local ref thread panicked"))
    });
    drop(pushing);
    match (pushed, local) {
        (Ok(_), Ok(())) => Ok(()),
        (Ok(_), Err(e)) => Err(Pushed::LocalRefsFailed(e)),
        (Err(push), local) => Err(Pushed::Failed(undo_local_refs(
            &refs,
            local_updates,
            local.is_ok(),
            push,
        ))),
    }
}

/// Takes back the local refs a failed push wrote (if it wrote them).
fn undo_local_refs(
    refs: &RefStore,
    written: &[RefUpdate],
    were_written: bool,
    mut push: PushError,
) -> PublishError {
    if were_written {
        let undo: Vec<RefUpdate> = written
            .iter()
            .map(|u| RefUpdate {
                name: u.name.clone(),
                old: u.new,
                new: u.old,
            })
            .collect();
        if let Err(e) = refs.update(&undo, "eka publish: push failed") {
            push.stderr.push_str(&format!(
                "\nand the local refs written meanwhile could not be taken back: {}",
                git::causes(&e)
            ));
        }
    }
    PublishError::Push(push)
}

/// The parsed manifests of every atom of the source commit, by path.
type Manifests = HashMap<String, Manifest>;

/// Finds, selects and parses the atoms of `source`, and builds their commits.
fn prepare(
    repo: &gix::Repository,
    source: ObjectId,
    rev: &str,
    selection: &Selection,
) -> Result<(ObjectId, Vec<Prepared>, Manifests), PublishError> {
    let root = git::root_commit(repo, source)?;
    let tree = git::commit_tree(repo, source)?;
    let discovery = git::discover_atoms(repo, tree)?;
    let selected = select(repo, tree, &discovery, rev, selection)?;
    let parsed = parse_manifests(repo, &discovery, &selected, rev)?;
    let prepared = selected
        .into_iter()
        .map(|found| prepare_atom(found, &parsed[found.path.as_str()], source, &root))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((root, prepared, parsed))
}

/// The atoms `selection` names among those found in `tree`; none is an
/// error.
fn select<'d>(
    repo: &gix::Repository,
    tree: ObjectId,
    discovery: &'d git::Discovery,
    rev: &str,
    selection: &Selection,
) -> Result<Vec<&'d FoundAtom>, PublishError> {
    let by_path: BTreeMap<&str, &FoundAtom> = discovery
        .atoms
        .iter()
        .map(|a| (a.path.as_str(), a))
        .collect();
    let root_manifest = || match discovery.root_manifest {
        true => Err(PublishError::RootManifest {
            rev: rev.to_owned(),
        }),
        false => Ok(()),
    };
    let selected: Vec<&FoundAtom> = match selection {
        Selection::Enclosing | Selection::Dirs(_) => {
            unreachable!("selections are made repository-relative first")
        }
        Selection::Paths(paths) => {
            let mut out = Vec::new();
            for p in paths {
                let norm = normalize_path(p);
                if norm.is_empty() {
                    root_manifest()?;
                }
                match by_path.get(norm.as_str()) {
                    Some(a) if !out.contains(a) => out.push(*a),
                    Some(_) => {}
                    None => {
                        return Err(PublishError::NotAnAtom {
                            path: p.clone(),
                            rev: rev.to_owned(),
                            found: discovery.atoms.iter().map(|a| a.path.clone()).collect(),
                        })
                    }
                }
            }
            out
        }
        Selection::All => match ekala_packages(repo, tree)? {
            Some(listed) => listed
                .iter()
                .map(|p| {
                    by_path
                        .get(normalize_path(p).as_str())
                        .copied()
                        .ok_or_else(|| PublishError::EkalaMissing {
                            path: p.clone(),
                            rev: rev.to_owned(),
                        })
                })
                .collect::<Result<_, _>>()?,
            None => {
                root_manifest()?;
                discovery.atoms.iter().collect()
            }
        },
    };
    if selected.is_empty() {
        return Err(PublishError::NoAtoms {
            rev: rev.to_owned(),
        });
    }
    Ok(selected)
}

/// Every atom's manifest, parsed (in parallel), by path. Labels must be
/// unique among all atoms of the commit, not only the selected ones:
/// verification finds an atom in its origin by label. A broken manifest
/// outside the selection does not stop others from being published.
fn parse_manifests(
    repo: &gix::Repository,
    discovery: &git::Discovery,
    selected: &[&FoundAtom],
    rev: &str,
) -> Result<Manifests, PublishError> {
    let sync = repo.clone().into_sync();
    let manifests = discovery
        .atoms
        .par_iter()
        .map_init(
            || sync.to_thread_local(),
            |repo, found| -> Result<(FoundAtom, Result<Manifest, PublishError>), PublishError> {
                let bytes = git::read_blob(repo, found.manifest_blob)?;
                let display = format!("{}/{MANIFEST_FILE}", found.path);
                let parsed = match String::from_utf8(bytes) {
                    Ok(text) => Manifest::parse(&display, &text).map_err(PublishError::from),
                    Err(_) => Err(PublishError::ManifestNotUtf8 {
                        path: found.path.clone(),
                    }),
                };
                Ok((found.clone(), parsed))
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    let mut labels: HashMap<Label, String> = HashMap::new();
    let mut parsed: HashMap<String, Manifest> = HashMap::new();
    for (found, manifest) in manifests {
        match manifest {
            Ok(m) => {
                if let Some(first) = labels.insert(m.package.label.clone(), found.path.clone()) {
                    return Err(PublishError::DuplicateLabel {
                        label: m.package.label,
                        rev: rev.to_owned(),
                        first,
                        second: found.path,
                    });
                }
                parsed.insert(found.path, m);
            }
            Err(e) if selected.iter().any(|s| s.path == found.path) => return Err(e),
            Err(_) => {}
        }
    }
    Ok(parsed)
}

/// The atom commit of `found` (its manifest `m`) from `source`.
fn prepare_atom(
    found: &FoundAtom,
    m: &Manifest,
    source: ObjectId,
    root: &ObjectId,
) -> Result<Prepared, PublishError> {
    let atom = AtomVersion::new(m.package.label.clone(), m.package.version.clone());
    atom.check_ref_names()
        .map_err(|source| PublishError::RefName {
            path: found.path.clone(),
            source,
        })?;
    let commit = AtomCommit {
        tree: found.tree,
        origin: source,
        label: atom.label.clone(),
        version: atom.version.clone(),
    };
    Ok(Prepared {
        found: found.clone(),
        commit_id: commit.id(),
        id: AtomId::compute(root, &atom.label),
        atom,
        commit,
    })
}

/// Refuses to publish `HEAD` while the work tree changes the files of
/// the atoms about to be published: they would be published as committed,
/// silently without the change.
fn refuse_uncommitted(
    repo: &gix::Repository,
    source: ObjectId,
    rev: &str,
    paths: &[String],
) -> Result<(), PublishError> {
    let head = repo.head_id().ok().map(|id| id.detach());
    if head != Some(source) {
        return Ok(());
    }
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let changed = git::status::uncommitted(repo, &paths).map_err(PublishError::Status)?;
    match changed.is_empty() {
        true => Ok(()),
        false => Err(PublishError::Dirty {
            rev: rev.to_owned(),
            paths: changed,
        }),
    }
}

/// An atom version this repository already published (its local ref) with
/// the same content is published again as that very commit, so that every
/// registry (mirror) holds the same atom commit, whichever later commit
/// publishes it.
fn adopt_local_commits(
    repo: &gix::Repository,
    prepared: &mut [Prepared],
) -> Result<(), PublishError> {
    let local: HashMap<String, ObjectId> =
        git::local_refs(repo, ATOMS_PREFIX)?.into_iter().collect();
    for p in prepared.iter_mut() {
        let Some(&existing) = local.get(&p.atom.atom_ref()) else {
            continue;
        };
        if existing == p.commit_id || !is_same_content(repo, existing, p) {
            continue;
        }
        if let Ok(Some((gix::object::Kind::Commit, bytes))) = git::read_object(repo, existing) {
            if let Ok(commit) = AtomCommit::parse(&bytes) {
                p.commit = commit;
                p.commit_id = existing;
            }
        }
    }
    Ok(())
}

/// Checks that each atom's dependencies can be resolved: those from `::`
/// against the atoms of the same commit; the others against the atom's own
/// atom.lock when it has one (no network; it also pins what the siblings
/// it reaches need), else against their sets.
fn check_dependencies(
    repo: &gix::Repository,
    prepared: &[Prepared],
    manifests: &HashMap<String, Manifest>,
    remote_refs: &HashMap<String, ObjectId>,
    connections: &Connections,
) -> Result<(), PublishError> {
    let mut cache = None;
    let atoms: Vec<atom_lock::siblings::RepoAtom> = manifests
        .iter()
        .map(|(path, manifest)| atom_lock::siblings::RepoAtom {
            path: path.clone(),
            manifest: manifest.clone(),
        })
        .collect();
    for p in prepared {
        let m = &manifests[p.found.path.as_str()];
        if m.deps.from.is_empty() {
            continue;
        }
        let path = p.found.path.clone();
        let (siblings, mut remote) = split_local_deps(m);
        let mut problems = sibling_problems(&siblings, manifests);
        if problems.is_empty() {
            problems = unpublished_siblings(&siblings, prepared, remote_refs);
        }
        if !problems.is_empty() {
            return Err(PublishError::Unresolvable { path, problems });
        }
        let project = |source| PublishError::Project {
            path: path.clone(),
            source: Box::new(source),
        };
        if let Some(lock) = committed_lock(repo, p)? {
            let mut root =
                atom_lock::project::root_input_with_siblings(m, &path, &atoms).map_err(project)?;
            root.deps
                .retain(|d| !published_together(&d.label, &d.req, prepared));
            let stale = atom_lock::project::stale_reasons(&root, &lock);
            if !stale.is_empty() {
                return Err(PublishError::Unresolvable {
                    path,
                    problems: stale,
                });
            }
            continue;
        }
        // Without a lock, the siblings' own dependencies are theirs to
        // check (as they are published); a cycle among them is not.
        atom_lock::siblings::reached(m, &atoms)
            .map_err(|e| project(atom_lock::project::ProjectError::Sibling(e)))?;
        drop_published_together(&mut remote, prepared);
        if remote.deps.from.is_empty() {
            continue;
        }
        let root = atom_lock::project::root_input(&remote).map_err(project)?;
        if cache.is_none() {
            cache = Some(atom_lock::project::open_cache().map_err(project)?);
        }
        let cache = cache.as_ref().expect("opened above");
        let base = repo_root(repo).join(&p.found.path);
        let registry = atom_lock::project::registry(cache, connections, &base);
        atom_lock::resolve::resolve(&registry, &root, &HashMap::new()).map_err(|source| {
            PublishError::Resolve {
                path: path.clone(),
                source: Box::new(source),
            }
        })?;
    }
    Ok(())
}

/// The dependencies on `::` (this repository), and the manifest without
/// them.
fn split_local_deps(m: &Manifest) -> (Vec<(Label, semver::VersionReq)>, Manifest) {
    let local = atom_format::manifest::LOCAL_SET;
    let is_local = |set: &str| {
        set == local
            || m.package
                .sets
                .get(set)
                .is_some_and(|mirrors| mirrors.urls().iter().any(|u| u == local))
    };
    let mut remote = m.clone();
    let mut siblings = Vec::new();
    remote.deps.from.retain(|set, labels| {
        if is_local(set) {
            siblings.extend(labels.iter().map(|(l, r)| (l.clone(), r.clone())));
            false
        } else {
            true
        }
    });
    (siblings, remote)
}

/// Leaves out the dependencies that atoms published in this same run meet
/// (an atom and the one it needs, published together to their registry).
fn drop_published_together(m: &mut Manifest, prepared: &[Prepared]) {
    for labels in m.deps.from.values_mut() {
        labels.retain(|label, req| !published_together(label, req, prepared));
    }
    m.deps.from.retain(|_, labels| !labels.is_empty());
}

/// The `::` dependencies that the remote publishes no version of that
/// meets them, and that this run does not publish either: a consumer
/// resolves an atom's `::` from the registry it got the atom from
/// (`spec/lock.md`, "The set `::`"), where they would be missing.
fn unpublished_siblings(
    siblings: &[(Label, semver::VersionReq)],
    prepared: &[Prepared],
    remote_refs: &HashMap<String, ObjectId>,
) -> Vec<String> {
    let published = |label: &Label, req: &semver::VersionReq| {
        remote_refs.keys().any(|name| {
            [ATOMS_PREFIX, EKA03_ATOMS_PREFIX].iter().any(|prefix| {
                name.strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix(label.as_str()))
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|v| semver::Version::parse(v).ok())
                    .is_some_and(|v| req.matches(&v))
            })
        })
    };
    siblings
        .iter()
        .filter(|(label, req)| !published_together(label, req, prepared) && !published(label, req))
        .map(|(label, req)| {
            format!("`::{label}` `{req}`: no version of `{label}` that matches is published on this remote, nor in this publish, and consumers resolve `::` there")
        })
        .collect()
}

/// Whether an atom published in this same run meets `label` `req`.
fn published_together(label: &Label, req: &semver::VersionReq, prepared: &[Prepared]) -> bool {
    prepared
        .iter()
        .any(|p| &p.atom.label == label && req.matches(&p.atom.version))
}

/// What is wrong with dependencies on atoms of the same commit.
fn sibling_problems(
    siblings: &[(Label, semver::VersionReq)],
    manifests: &HashMap<String, Manifest>,
) -> Vec<String> {
    siblings
        .iter()
        .filter_map(|(label, req)| {
            let found = manifests.values().find(|m| &m.package.label == label);
            match found {
                None => Some(format!(
                    "`::{label}`: no atom of this commit has that label"
                )),
                Some(m) if !req.matches(&m.package.version) => Some(format!(
                    "`::{label}` is version {} in this commit, which does not match `{req}`",
                    m.package.version
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// The atom.lock committed in the atom's tree, if any (one that does not
/// parse is no lock: resolution decides).
fn committed_lock(
    repo: &gix::Repository,
    p: &Prepared,
) -> Result<Option<atom_lock::Lockfile>, PublishError> {
    use gix::objs::tree::EntryKind;
    let lock_file = atom_lock::lock::LOCK_FILE;
    let Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) =
        git::lookup_path(repo, p.found.tree, lock_file)?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&git::read_blob(repo, blob)?).into_owned();
    Ok(atom_lock::Lockfile::parse(&text, lock_file).ok())
}

/// Content digests of the prepared atoms, in parallel; each walk also
/// refuses unsafe trees.
fn digests(
    repo: &gix::Repository,
    prepared: &[Prepared],
) -> Result<Vec<ContentDigest>, PublishError> {
    let sync = repo.clone().into_sync();
    let done = std::sync::atomic::AtomicUsize::new(0);
    crate::progress(0, prepared.len(), "atoms");
    prepared
        .par_iter()
        .map_init(
            || sync.to_thread_local(),
            |repo, p| {
                let digest = Digester::new(&repo.objects)
                    .atom_digest(p.found.tree)
                    .map_err(|source| PublishError::UnsafeTree {
                        path: p.found.path.clone(),
                        source,
                    });
                let done = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                crate::progress(done, prepared.len(), "atoms");
                digest
            },
        )
        .collect()
}

/// The `[set] packages` list of the `ekala.toml` at the root of `tree`, if any.
fn ekala_packages(
    repo: &gix::Repository,
    tree: ObjectId,
) -> Result<Option<Vec<String>>, PublishError> {
    let Some((kind, id)) = git::lookup_path(repo, tree, "ekala.toml")? else {
        return Ok(None);
    };
    if !matches!(
        kind,
        gix::objs::tree::EntryKind::Blob | gix::objs::tree::EntryKind::BlobExecutable
    ) {
        return Ok(None);
    }
    let bytes = git::read_blob(repo, id)?;
    let text =
        String::from_utf8(bytes).map_err(|_| PublishError::Ekala("not valid UTF-8".into()))?;
    let manifest: EkalaManifest =
        toml::from_str(&text).map_err(|e| PublishError::Ekala(e.message().trim().to_owned()))?;
    Ok(Some(manifest.set.packages))
}

/// The selection as directories relative to the repository root.
fn in_repository(
    selection: &Selection,
    dir: &Path,
    repo: &gix::Repository,
) -> Result<Selection, PublishError> {
    let root = repo_root(repo);
    Ok(match selection {
        Selection::Enclosing => Selection::Paths(vec![enclosing_atom(dir, &root)?]),
        Selection::Dirs(dirs) => Selection::Paths(
            dirs.iter()
                .map(|p| relative_to_root(dir, &root, p))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// The work tree root of `repo` (its git directory when bare).
fn repo_root(repo: &gix::Repository) -> PathBuf {
    let root = repo.workdir().unwrap_or(repo.git_dir());
    root.canonicalize().unwrap_or_else(|_| root.to_owned())
}

/// A user-given path as a `/`-separated path relative to the repository root.
fn relative_to_root(cwd: &Path, root: &Path, p: &Path) -> Result<String, PublishError> {
    let abs = normalize(&cwd.join(p));
    let rel = abs
        .strip_prefix(root)
        .map_err(|_| PublishError::OutsideRepository {
            path: p.to_owned(),
            root: root.to_owned(),
        })?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

/// The atom directory containing `cwd` (the nearest ancestor with an
/// atom.toml in the work tree).
fn enclosing_atom(dir: &Path, root: &Path) -> Result<String, PublishError> {
    let cwd = normalize(dir);
    let mut dir = cwd.as_path();
    while dir.starts_with(root) && dir != root {
        if dir.join(MANIFEST_FILE).is_file() {
            return relative_to_root(dir, root, Path::new("."));
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
    Err(PublishError::NotInAtom(cwd))
}

/// Resolves `.` and `..` lexically and follows symlinks where the path exists.
fn normalize(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
