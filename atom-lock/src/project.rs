//! The lockfile workflow of one atom (a folder with `atom.toml` and
//! `atom.lock`): reading both, deciding whether the lock is in line with
//! the manifest, editing the manifest (`eka add`, `eka remove`) with its
//! formatting and comments kept, locking, and writing both files together.
//!
//! Nothing is written until everything succeeded, and then both files are
//! replaced by renames of fully written temporary files (the lock first);
//! if the second rename fails, the first file is put back.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use atom_format::manifest::{Manifest, ManifestError, LOCAL_SET, MANIFEST_FILE};
use atom_format::Label;
use semver::{Version, VersionReq};

use crate::fetch::{self, FetchError, Want};
use crate::files;
use crate::ids::AtomId;
use crate::lock::{AnyLock, Edge, Eka03Lock, LockError, LockedAtom, Lockfile, LOCK_FILE};
use crate::registry::git::GitRegistry;
use crate::registry::{Registry, SetKey};
use crate::resolve::{
    self, Dependency, Requirer, Resolution, ResolveError, ResolveWarning, RootInput,
};
use crate::siblings::{self, SiblingError};
use crate::uri::RepoUrl;
use atom_git::{Cache, Connections};

/// What is wrong with a project or a workflow step.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProjectError {
    #[error("no {MANIFEST_FILE} in {} or any parent folder", .0.display())]
    #[diagnostic(code(eka::project::no_manifest))]
    NoManifest(PathBuf),
    #[error("cannot read {}", path.display())]
    #[diagnostic(code(eka::project::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] Box<ManifestError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] ResolveError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] atom_git::CacheError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sibling(#[from] SiblingError),
    #[error(
        "in `{label}` (at {path}), an atom of this repository that this one reaches through \"::\""
    )]
    #[diagnostic(code(eka::project::in_sibling))]
    InSibling {
        label: Label,
        path: String,
        #[source]
        source: Box<ProjectError>,
    },
    #[error("set `{set}` in {MANIFEST_FILE}: {why}")]
    #[diagnostic(
        code(eka::project::set),
        help("a set is an expanded git URL or path, or a list of mirror URLs")
    )]
    BadSet {
        set: String,
        why: String,
        /// The text the problem is in (`offending`), when known.
        offending: Option<String>,
        #[source_code]
        src: Option<miette::NamedSource<String>>,
        #[label("here")]
        span: Option<miette::SourceSpan>,
    },
    #[error("set {set} is refused: its root is now {now}, but atom.lock locks root {locked}")]
    #[diagnostic(
        code(eka::project::root_changed),
        help("the URL now serves another repository (replaced, or tampered with); if that is intended, delete atom.lock and lock again")
    )]
    RootChanged {
        set: String,
        now: crate::ids::CommitId,
        locked: crate::ids::CommitId,
    },
    #[error("{label}@{version} was rewritten on its remote: atom.lock locks commit {locked}, the remote now has {now}; nothing was changed")]
    #[diagnostic(
        code(eka::project::rewritten),
        help(
            "a published version must never change; lock it again only if you trust the new commit"
        )
    )]
    Rewritten {
        label: Label,
        version: Version,
        locked: crate::ids::CommitId,
        now: crate::ids::CommitId,
    },
    #[error("another eka is still changing the atom.toml or atom.lock of {}", .0.display())]
    #[diagnostic(
        code(eka::project::busy),
        help("wait for it to finish (it held them for over a minute), then run this again")
    )]
    Busy(PathBuf),
    #[error("{MANIFEST_FILE} has no dependency `{0}`")]
    #[diagnostic(code(eka::project::no_such_dep))]
    NoSuchDependency(String),
    #[error("atom.lock has no atom `{0}`")]
    #[diagnostic(code(eka::project::not_locked))]
    NotLocked(String),
    #[error("`{0}` names no repository")]
    #[diagnostic(code(eka::project::no_repository))]
    NoRepository(String),
    #[error("cannot edit {MANIFEST_FILE}: {0}")]
    #[diagnostic(code(eka::project::edit))]
    Edit(String),
    #[error("cannot write {}", path.display())]
    #[diagnostic(
        code(eka::project::write),
        help("nothing was changed: both atom.toml and atom.lock are as they were")
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How long a writer waits for another eka writing the same project.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The right to write a project's `atom.toml` and `atom.lock`: an
/// exclusive `flock` on the atom directory itself (no lock file to leave
/// behind, and the kernel releases it when the process dies, even by
/// `kill -9`). Every command that writes them holds it from reading to
/// writing, so two `eka add` in one project run one after the other and
/// both dependencies survive.
#[derive(Debug)]
pub struct WriteLock {
    _dir: std::fs::File,
}

impl WriteLock {
    /// Takes the lock on `dir`, waiting up to a minute for another writer;
    /// then removes the temporaries an interrupted writer left
    /// ([`remove_stale_temporaries`]).
    pub fn acquire(dir: &Path) -> Result<WriteLock, ProjectError> {
        let io = |source| ProjectError::Io {
            path: dir.to_owned(),
            source,
        };
        let handle = std::fs::File::open(dir).map_err(io)?;
        let started = std::time::Instant::now();
        loop {
            match handle.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < WRITER_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(ProjectError::Busy(dir.to_owned()))
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        remove_stale_temporaries(dir);
        Ok(WriteLock { _dir: handle })
    }
}

/// Removes the temporary files ([`files::stage`]: `.atom.toml.XXXXXX`,
/// `.atom.lock.XXXXXX`) that a writer killed before its rename left.
/// Called only under the [`WriteLock`], when no other writer can be
/// staging one.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let temporary = is_temporary_of(name, MANIFEST_FILE) || is_temporary_of(name, LOCK_FILE);
        if temporary && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether `name` is a temporary [`files::stage`] makes for `file`: `.`,
/// the file's name, `.`, six random letters or digits.
fn is_temporary_of(name: &str, file: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(file))
        .and_then(|n| n.strip_prefix('.'))
        .is_some_and(|random| {
            random.len() == 6 && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Reads `path` if it is a regular file ([`check_regular`]).
fn read_regular(path: &Path) -> Result<String, ProjectError> {
    check_regular(path)?;
    std::fs::read_to_string(path).map_err(|source| ProjectError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Refuses `path` if it is a FIFO, a socket or a device (or a link to
/// one): opening or reading it would block every command, or never end.
/// (A directory fails to read at once, with its own error.)
fn check_regular(path: &Path) -> Result<(), ProjectError> {
    let io = |source| ProjectError::Io {
        path: path.to_owned(),
        source,
    };
    let kind = std::fs::metadata(path).map_err(io)?.file_type();
    match kind.is_file() || kind.is_dir() {
        true => Ok(()),
        false => Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ))),
    }
}

/// The state of `atom.lock`.
#[derive(Debug)]
pub enum LockState {
    Missing,
    Valid(Lockfile),
    /// It exists but does not verify.
    Invalid(LockError),
    /// eka 0.3 wrote it: `eka lock` converts it.
    Eka03(Box<Eka03Lock>),
}

/// An atom folder: its manifest (text and parsed) and its lock.
#[derive(Debug)]
pub struct Project {
    pub dir: PathBuf,
    pub manifest_text: String,
    pub manifest: Manifest,
    pub lock: LockState,
    /// Held by a project opened for writing ([`Project::find_for_writing`]).
    pub writer: Option<WriteLock>,
}

impl Project {
    /// The atom containing `start` (the nearest folder with an atom.toml).
    pub fn find(start: &Path) -> Result<Self, ProjectError> {
        let mut dir = Some(start);
        while let Some(d) = dir {
            if d.join(MANIFEST_FILE).is_file() {
                return Self::load(d);
            }
            dir = d.parent();
        }
        Err(ProjectError::NoManifest(start.to_owned()))
    }

    /// [`Project::find`], holding the project's [`WriteLock`] (taken
    /// before anything is read), for a command that writes `atom.toml` or
    /// `atom.lock`.
    pub fn find_for_writing(start: &Path) -> Result<Self, ProjectError> {
        let dir = Self::find(start)?.dir;
        let writer = WriteLock::acquire(&dir)?;
        let mut project = Self::load(&dir)?;
        project.writer = Some(writer);
        Ok(project)
    }

    /// Reads `dir/atom.toml` and `dir/atom.lock`.
    pub fn load(dir: &Path) -> Result<Self, ProjectError> {
        let path = dir.join(MANIFEST_FILE);
        let manifest_text = read_regular(&path)?;
        let manifest =
            Manifest::parse(&path.display().to_string(), &manifest_text).map_err(Box::new)?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = if lock_path.exists() {
            check_regular(&lock_path)?;
            match AnyLock::read(&lock_path) {
                Ok(AnyLock::Eka(l)) => LockState::Valid(l),
                Ok(AnyLock::Eka03(l)) => LockState::Eka03(l),
                Err(e) => LockState::Invalid(e),
            }
        } else {
            LockState::Missing
        };
        Ok(Project {
            dir: dir.to_owned(),
            manifest_text,
            manifest,
            lock,
            writer: None,
        })
    }
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(MANIFEST_FILE)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(LOCK_FILE)
    }

    /// The valid lock, if there is one.
    pub fn valid_lock(&self) -> Option<&Lockfile> {
        match &self.lock {
            LockState::Valid(l) => Some(l),
            _ => None,
        }
    }
}

/// The sets of a manifest as set keys.
pub fn set_keys(manifest: &Manifest) -> Result<HashMap<String, SetKey>, ProjectError> {
    let mut out = HashMap::new();
    for (name, mirrors) in &manifest.package.sets {
        let bad = |why: String, offending: &str| ProjectError::BadSet {
            set: name.clone(),
            why,
            offending: Some(offending.to_owned()),
            src: None,
            span: None,
        };
        // `::` is this repository, never resolved (see root_input); a set
        // that also names URLs is locked from them (eka 0.3's monorepo
        // sets, `["::", URL]`, which eka 0.3 resolved from the URL first).
        let remote: Vec<&String> = mirrors.urls().iter().filter(|u| *u != LOCAL_SET).collect();
        if name == LOCAL_SET || remote.is_empty() {
            // Needed only if a dependency names it (checked there).
            continue;
        }
        let mut urls = Vec::new();
        for u in remote {
            let url: RepoUrl = u
                .parse()
                .map_err(|e| bad(format!("`{u}` is not an expanded URL or path: {e}"), u))?;
            if urls.contains(&url) {
                return Err(bad(format!("mirror `{u}` is listed twice"), u));
            }
            urls.push(url);
        }
        if urls.is_empty() {
            return Err(bad("it lists no mirror".into(), name));
        }
        out.insert(name.clone(), SetKey(urls));
    }
    Ok(out)
}

/// What the manifest asks for from registries, as resolver input. Its
/// dependencies on `::` (this repository's other atoms) are not resolved:
/// [`root_input_with_siblings`] adds what those siblings need instead.
pub fn root_input(manifest: &Manifest) -> Result<RootInput, ProjectError> {
    let keys = set_keys(manifest)?;
    let mut deps = Vec::new();
    let mut requirers = Vec::new();
    for (set, labels) in &manifest.deps.from {
        if siblings::is_local(manifest, set) {
            continue;
        }
        let key = keys.get(set).ok_or_else(|| ProjectError::BadSet {
            set: set.clone(),
            why: "it is not in [package.sets]".into(),
            offending: Some(set.clone()),
            src: None,
            span: None,
        })?;
        for (label, req) in labels {
            let dep = Dependency {
                set: key.clone(),
                label: label.clone(),
                req: req.clone(),
            };
            requirers.push(Requirer {
                manifest: MANIFEST_FILE.to_owned(),
                dep: dep.clone(),
            });
            add_dependency(&mut deps, dep);
        }
    }
    Ok(RootInput {
        label: manifest.package.label.clone(),
        version: manifest.package.version.clone(),
        deps,
        requirers,
    })
}

/// [`root_input`] of the atom at `root_path` (relative to its
/// repository's root) among `atoms` (its repository's), with the registry
/// dependencies of every sibling it reaches through `::` beside its own:
/// evaluating the atom evaluates them with its lock (`spec/lock.md`, "The
/// set `::`"). Two requirements on one atom are one, both met (`^1, ^1.2`).
pub fn root_input_with_siblings(
    manifest: &Manifest,
    root_path: &str,
    atoms: &[siblings::RepoAtom],
) -> Result<RootInput, ProjectError> {
    let mut input = root_input(manifest)?;
    for sibling in siblings::reached(manifest, atoms)? {
        let rebased = siblings::rebased(sibling, root_path);
        let own = root_input(&rebased).map_err(|source| ProjectError::InSibling {
            label: sibling.manifest.package.label.clone(),
            path: sibling.path.clone(),
            source: Box::new(source),
        })?;
        for dep in own.deps {
            add_dependency(&mut input.deps, dep);
        }
        let manifest = format!("{}/{MANIFEST_FILE}", sibling.path);
        input
            .requirers
            .extend(own.requirers.into_iter().map(|r| Requirer {
                manifest: manifest.clone(),
                dep: r.dep,
            }));
    }
    Ok(input)
}

/// Adds `dep`, or its requirement to the one on the same atom of the same
/// set already there.
fn add_dependency(deps: &mut Vec<Dependency>, dep: Dependency) {
    match deps
        .iter_mut()
        .find(|d| d.set == dep.set && d.label == dep.label)
    {
        Some(known) => {
            for c in dep.req.comparators {
                if !known.req.comparators.contains(&c) {
                    known.req.comparators.push(c);
                }
            }
        }
        None => deps.push(dep),
    }
}

/// [`root_input_at`] without a manifest text: the siblings of the atom in
/// `dir` are read from its work tree (only when it has `::` dependencies).
pub fn root_input_in(manifest: &Manifest, dir: &Path) -> Result<RootInput, ProjectError> {
    if siblings::local_deps(manifest).next().is_none() {
        return root_input(manifest);
    }
    let tree = siblings::worktree_atoms(dir)?;
    root_input_with_siblings(manifest, &tree.here, &tree.atoms)
}

/// [`root_input_in`] of the manifest `text` (at `path`), with errors
/// pointing into it.
pub fn root_input_at(
    manifest: &Manifest,
    path: &Path,
    text: &str,
) -> Result<RootInput, ProjectError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    root_input_in(manifest, dir).map_err(|e| match e {
        ProjectError::Sibling(e) => {
            ProjectError::Sibling(e.pointing_into(&manifest.package.label, path, text))
        }
        ProjectError::BadSet {
            set,
            why,
            offending,
            ..
        } => {
            let span = offending.as_deref().and_then(|o| {
                let quoted = format!("\"{o}\"");
                text.find(&quoted)
                    .map(|at| at..at + quoted.len())
                    .or_else(|| text.find(o).map(|at| at..at + o.len()))
                    .map(miette::SourceSpan::from)
            });
            ProjectError::BadSet {
                set,
                why,
                offending,
                src: Some(miette::NamedSource::new(
                    path.display().to_string(),
                    text.to_owned(),
                )),
                span,
            }
        }
        e => e,
    })
}

/// Why a lock is not in line with its manifest; empty when it is.
pub fn stale_reasons(root: &RootInput, lock: &Lockfile) -> Vec<String> {
    let mut reasons = Vec::new();
    let mut matched = BTreeSet::new();
    for dep in &root.deps {
        let found = lock.deps().iter().find(|e| {
            e.label == dep.label
                && lock
                    .get(&e.id)
                    .is_some_and(|a| a.mirrors == dep.set.mirrors())
        });
        match found {
            None => reasons.push(format!(
                "`{}` from {} is not locked{}",
                dep.label,
                dep.set,
                match asked_in(root, dep) {
                    own if own == format!("in {MANIFEST_FILE}") => String::new(),
                    other => format!(" (asked for {other})"),
                }
            )),
            Some(e) => {
                matched.insert(e.id);
                if e.req.to_string() != dep.req.to_string() {
                    reasons.push(format!(
                        "the requirement on `{}` is `{}` {} but `{}` in {LOCK_FILE}",
                        dep.label,
                        dep.req,
                        asked_in(root, dep),
                        e.req
                    ));
                }
            }
        }
    }
    for e in lock.deps() {
        if !matched.contains(&e.id) {
            reasons.push(format!(
                "`{}` is locked but {MANIFEST_FILE} no longer asks for it",
                e.label
            ));
        }
    }
    reasons
}

/// Where `dep` is asked for: `in atom.toml`, or the manifests that share
/// it, each with its own requirement (`in atom.toml (^1) and in
/// lib/b/atom.toml (^1.1)`).
fn asked_in(root: &RootInput, dep: &Dependency) -> String {
    let requirers: Vec<&Requirer> = root.requirers_of(dep).collect();
    match requirers.as_slice() {
        [] => format!("in {MANIFEST_FILE}"),
        [one] => format!("in {}", one.manifest),
        [init @ .., last] => {
            let each = |r: &Requirer| format!("in {} (`{}`)", r.manifest, r.dep.req);
            let init: Vec<String> = init.iter().map(|r| each(r)).collect();
            format!("{} and {}", init.join(", "), each(last))
        }
    }
}

/// What a workflow step should do with the locked versions.
#[derive(Clone, Debug)]
pub enum Keep {
    /// Keep every locked version that still satisfies the manifest.
    Locked,
    /// Keep the locked versions except these labels' (moved to the highest
    /// allowed).
    AllBut(Vec<Label>),
    /// Move everything to the highest allowed versions.
    Nothing,
    /// Keep these versions where the manifest allows them (what a lock in
    /// eka 0.3's format pins, when converting it).
    Pinned(HashMap<AtomId, Version>),
}

impl Locked {
    /// A lock kept as it is: in line with its manifest, nothing resolved.
    pub fn unchanged(lock: Lockfile) -> Self {
        Locked {
            lock,
            resolution: None,
            warnings: Vec::new(),
            changes: Vec::new(),
        }
    }
}

/// An atom of the lock whose version changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub label: Label,
    /// `None`: newly locked.
    pub old: Option<Version>,
    /// `None`: no longer locked.
    pub new: Option<Version>,
}

/// The outcome of locking.
#[derive(Debug)]
pub struct Locked {
    pub lock: Lockfile,
    /// `None`: the lock was already in line; nothing was resolved.
    pub resolution: Option<Resolution>,
    pub warnings: Vec<ResolveWarning>,
    /// The lock's atoms whose version changed: (label, old, new).
    pub changes: Vec<Change>,
}

/// The versions to prefer when resolving.
fn preferences(old: Option<&Lockfile>, keep: &Keep) -> HashMap<AtomId, Version> {
    if let Keep::Pinned(pinned) = keep {
        return pinned.clone();
    }
    let Some(old) = old else {
        return HashMap::new();
    };
    old.atoms()
        .iter()
        .filter(|a| match keep {
            Keep::Locked => true,
            Keep::AllBut(labels) => !labels.contains(&a.label),
            Keep::Nothing | Keep::Pinned(_) => false,
        })
        .map(|a| (a.id(), a.version.clone()))
        .collect()
}

/// Resolves `manifest` and builds its lock: atoms that were locked at the
/// same commit keep their entry; new ones are fetched into the cache
/// (one fetch per set) to compute their digests.
pub fn lock(
    dir: &Path,
    root: &RootInput,
    old: Option<&Lockfile>,
    keep: &Keep,
    registry: &dyn Registry,
    cache: &Cache,
    connections: &Connections,
) -> Result<Locked, ProjectError> {
    let prefer = preferences(old, keep);
    let resolution = resolve::resolve(registry, root, &prefer)?;
    let mut warnings = resolution.warnings.clone();
    if let Some(old) = old {
        check_roots(&resolution, old)?;
        warnings.extend(check_rewrites(&resolution, old, keep)?);
    }
    let summary = format!("fetch and check {} atoms", resolution.atoms.len());
    let fetching = tracing::info_span!(target: "eka::phase", "materialize", %summary).entered();
    let lock = materialize(dir, &resolution, old, cache, connections)?;
    drop(fetching);
    let changes = changes(old, &lock);
    Ok(Locked {
        lock,
        warnings,
        resolution: Some(resolution),
        changes,
    })
}

/// Refuses a set whose mirrors now answer another root than the one the
/// lock holds for atoms with those mirrors.
fn check_roots(resolution: &Resolution, old: &Lockfile) -> Result<(), ProjectError> {
    for (set, root) in &resolution.roots {
        if let Some(a) = old
            .atoms()
            .iter()
            .find(|a| a.mirrors == set.mirrors() && a.root != *root)
        {
            return Err(ProjectError::RootChanged {
                set: set.to_string(),
                now: *root,
                locked: a.root,
            });
        }
    }
    Ok(())
}

/// Refuses to re-pin a locked version whose commit changed on the remote
/// (rewritten there), unless the user named its label (`eka update
/// <label>`): then it is re-pinned with a warning. A version that is no
/// longer chosen is not a re-pin.
fn check_rewrites(
    resolution: &Resolution,
    old: &Lockfile,
    keep: &Keep,
) -> Result<Vec<ResolveWarning>, ProjectError> {
    let mut accepted = Vec::new();
    for a in &resolution.atoms {
        let Some(locked) = old.get(&a.id) else {
            continue;
        };
        if locked.version != a.version || locked.commit == a.published.commit {
            continue;
        }
        let named = matches!(keep, Keep::AllBut(labels) if labels.contains(&a.label));
        if !named {
            return Err(ProjectError::Rewritten {
                label: a.label.clone(),
                version: a.version.clone(),
                locked: locked.commit,
                now: a.published.commit,
            });
        }
        accepted.push(ResolveWarning::Repinned {
            label: a.label.clone(),
            version: a.version.clone(),
            locked: locked.commit.to_string(),
            now: a.published.commit.to_string(),
        });
    }
    Ok(accepted)
}

/// Turns a resolution into a lock, fetching the atoms not locked before.
pub fn materialize(
    dir: &Path,
    resolution: &Resolution,
    old: Option<&Lockfile>,
    cache: &Cache,
    connections: &Connections,
) -> Result<Lockfile, ProjectError> {
    let mut wants = Vec::new();
    for a in &resolution.atoms {
        let reuse = old
            .and_then(|l| l.get(&a.id))
            .filter(|l| l.version == a.version && l.commit == a.published.commit);
        wants.push(Want {
            id: a.id,
            label: a.label.clone(),
            version: a.version.clone(),
            commit: a.published.commit,
            root: a.root,
            origin: reuse.map(|l| l.origin).or(a.published.origin),
            digest: reuse.map(|l| l.digest),
            mirrors: a.set.mirrors().to_vec(),
        });
    }
    let (got, _) = fetch::fetch(
        cache,
        connections,
        dir,
        &wants,
        fetch::Options {
            offline: false,
            check_remote: false,
        },
    )?;
    let atoms = resolution
        .atoms
        .iter()
        .zip(got)
        .map(|(a, g)| LockedAtom {
            label: a.label.clone(),
            version: a.version.clone(),
            root: a.root,
            commit: a.published.commit,
            origin: g.origin,
            digest: g.digest,
            mirrors: a.set.mirrors().to_vec(),
            deps: a.deps.clone(),
            // Filled by the caller's policy check (`spec/trust.md` §5.3).
            signers: Vec::new(),
        })
        .collect();
    Ok(Lockfile::new(resolution.deps.clone(), atoms)?)
}

fn changes(old: Option<&Lockfile>, new: &Lockfile) -> Vec<Change> {
    let mut out = Vec::new();
    let old_atoms = old.map(|l| l.atoms()).unwrap_or(&[]);
    for a in new.atoms() {
        match old.and_then(|l| l.get(&a.id())) {
            Some(o) if o.version == a.version => {}
            o => out.push(Change {
                label: a.label.clone(),
                old: o.map(|o| o.version.clone()),
                new: Some(a.version.clone()),
            }),
        }
    }
    for o in old_atoms {
        if new.get(&o.id()).is_none() {
            out.push(Change {
                label: o.label.clone(),
                old: Some(o.version.clone()),
                new: None,
            });
        }
    }
    out
}

/// A [`GitRegistry`] for a project in `dir`.
pub fn registry<'c>(cache: &'c Cache, connections: &Connections, dir: &Path) -> GitRegistry<'c> {
    GitRegistry::new(cache, connections, dir)
}

// ---------------------------------------------------------------------
// Manifest editing.

/// A manifest being edited, formatting and comments kept.
pub struct ManifestEdit {
    doc: toml_edit::DocumentMut,
}

/// A dependency to add: where from, which label, and the requirement
/// (`None`: `^<resolved version>`, filled in by [`ManifestEdit::set_req`]).
#[derive(Clone, Debug)]
pub struct AddDep {
    pub url: RepoUrl,
    pub label: Label,
    pub req: Option<VersionReq>,
}

impl ManifestEdit {
    pub fn new(text: &str) -> Result<Self, ProjectError> {
        let doc = text
            .parse::<toml_edit::DocumentMut>()
            .map_err(|e| ProjectError::Edit(e.to_string()))?;
        Ok(ManifestEdit { doc })
    }

    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// The name of the set whose mirrors include `url`, if any.
    fn find_set(&self, url: &RepoUrl) -> Option<String> {
        let sets = self.doc.get("package")?.get("sets")?.as_table_like()?;
        for (name, value) in sets.iter() {
            let urls: Vec<&str> = match value.as_value() {
                Some(toml_edit::Value::String(s)) => vec![s.value().as_str()],
                Some(toml_edit::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
                _ => continue,
            };
            if urls
                .iter()
                .any(|u| u.parse::<RepoUrl>().is_ok_and(|p| &p == url))
            {
                return Some(name.to_owned());
            }
        }
        None
    }

    /// Adds `dep` (the set if needed, reusing a set with the same URL);
    /// returns the set's name.
    pub fn add(&mut self, dep: &AddDep) -> Result<String, ProjectError> {
        let set = match self.find_set(&dep.url) {
            Some(name) => name,
            None => {
                let name = self.new_set_name(&dep.url);
                let package = self
                    .doc
                    .get_mut("package")
                    .and_then(|p| p.as_table_like_mut())
                    .ok_or_else(|| ProjectError::Edit("no [package] table".into()))?;
                if package.get("sets").is_none() {
                    package.insert("sets", toml_edit::Item::Table(toml_edit::Table::new()));
                }
                let sets = package
                    .get_mut("sets")
                    .and_then(|s| s.as_table_like_mut())
                    .ok_or_else(|| ProjectError::Edit("[package.sets] is not a table".into()))?;
                sets.insert(&name, toml_edit::value(dep.url.as_str()));
                name
            }
        };
        let req = dep
            .req
            .as_ref()
            .map_or_else(|| "*".to_owned(), |r| r.to_string());
        let table = self.deps_table(&set)?;
        table.insert(dep.label.as_str(), toml_edit::value(req));
        Ok(set)
    }

    /// Adds `label` with the requirement `req` (as written; the caller
    /// checked that it parses) to the set of this repository's atoms
    /// (the first set that is `"::"` alone, or a new set `local`).
    pub fn add_sibling(&mut self, label: &Label, req: &str) -> Result<String, ProjectError> {
        let set = match self.find_local_set() {
            Some(name) => name,
            None => {
                let name = self.new_local_set_name();
                let package = self
                    .doc
                    .get_mut("package")
                    .and_then(|p| p.as_table_like_mut())
                    .ok_or_else(|| ProjectError::Edit("no [package] table".into()))?;
                if package.get("sets").is_none() {
                    package.insert("sets", toml_edit::Item::Table(toml_edit::Table::new()));
                }
                let sets = package
                    .get_mut("sets")
                    .and_then(|s| s.as_table_like_mut())
                    .ok_or_else(|| ProjectError::Edit("[package.sets] is not a table".into()))?;
                sets.insert(&name, toml_edit::value(LOCAL_SET));
                name
            }
        };
        VersionReq::parse(req).map_err(|e| ProjectError::Edit(format!("`{req}`: {e}")))?;
        let table = self.deps_table(&set)?;
        table.insert(label.as_str(), toml_edit::value(req));
        Ok(set)
    }

    /// The first set that is `"::"` alone.
    fn find_local_set(&self) -> Option<String> {
        let sets = self.doc.get("package")?.get("sets")?.as_table_like()?;
        sets.iter()
            .find(|(_, value)| match value.as_value() {
                Some(toml_edit::Value::String(s)) => s.value() == LOCAL_SET,
                Some(toml_edit::Value::Array(a)) => {
                    !a.is_empty() && a.iter().all(|v| v.as_str() == Some(LOCAL_SET))
                }
                _ => false,
            })
            .map(|(name, _)| name.to_owned())
    }

    /// `local`, or `local-2`… when taken.
    fn new_local_set_name(&self) -> String {
        let taken = |n: &str| {
            self.doc
                .get("package")
                .and_then(|p| p.get("sets"))
                .and_then(|s| s.get(n))
                .is_some()
        };
        std::iter::once("local".to_owned())
            .chain((2..).map(|i| format!("local-{i}")))
            .find(|n| !taken(n))
            .expect("some suffix is free")
    }

    /// Sets the requirement of `label` in `[deps.from.<set>]`.
    pub fn set_req(
        &mut self,
        set: &str,
        label: &Label,
        req: &VersionReq,
    ) -> Result<(), ProjectError> {
        let table = self.deps_table(set)?;
        table.insert(label.as_str(), toml_edit::value(req.to_string()));
        Ok(())
    }

    /// Sets the requirement of `label` in `[deps.from.<set>]` to `req` as
    /// the user wrote it (the caller checked that it parses).
    pub fn set_req_text(
        &mut self,
        set: &str,
        label: &Label,
        req: &str,
    ) -> Result<(), ProjectError> {
        let table = self.deps_table(set)?;
        table.insert(label.as_str(), toml_edit::value(req));
        Ok(())
    }

    fn deps_table(&mut self, set: &str) -> Result<&mut dyn toml_edit::TableLike, ProjectError> {
        let not_table = |what: &str| ProjectError::Edit(format!("{what} is not a table"));
        let root = self.doc.as_table_mut();
        if !root.contains_key("deps") {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            root.insert("deps", toml_edit::Item::Table(t));
        }
        let deps = root["deps"]
            .as_table_like_mut()
            .ok_or_else(|| not_table("[deps]"))?;
        if deps.get("from").is_none() {
            let mut t = toml_edit::Table::new();
            t.set_implicit(true);
            deps.insert("from", toml_edit::Item::Table(t));
        }
        let from = deps
            .get_mut("from")
            .and_then(|f| f.as_table_like_mut())
            .ok_or_else(|| not_table("[deps.from]"))?;
        if from.get(set).is_none() {
            from.insert(set, toml_edit::Item::Table(toml_edit::Table::new()));
        }
        from.get_mut(set)
            .and_then(|s| s.as_table_like_mut())
            .ok_or_else(|| not_table(&format!("[deps.from.{set}]")))
    }

    /// Removes `label` from every `[deps.from.*]` table (and a table it
    /// leaves empty); an error if no table has it.
    pub fn remove(&mut self, label: &str) -> Result<(), ProjectError> {
        let missing = || ProjectError::NoSuchDependency(label.to_owned());
        let from = self
            .doc
            .get_mut("deps")
            .and_then(|d| d.get_mut("from"))
            .and_then(|f| f.as_table_like_mut())
            .ok_or_else(missing)?;
        let mut found = false;
        let mut emptied = Vec::new();
        for (set, table) in from.iter_mut() {
            if let Some(t) = table.as_table_like_mut() {
                if t.remove(label).is_some() {
                    found = true;
                    if t.is_empty() {
                        emptied.push(set.get().to_owned());
                    }
                }
            }
        }
        for set in emptied {
            from.remove(&set);
        }
        if found {
            Ok(())
        } else {
            Err(missing())
        }
    }

    /// A set name for `url` not used yet: its last path component.
    fn new_set_name(&self, url: &RepoUrl) -> String {
        let path = url.as_str().trim_end_matches('/');
        let last = path.rsplit(['/', ':']).next().unwrap_or("");
        let last = last.strip_suffix(".git").unwrap_or(last);
        let mut base: String = last
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        if base.is_empty() {
            base = "set".into();
        }
        let taken = |n: &str| {
            self.doc
                .get("package")
                .and_then(|p| p.get("sets"))
                .and_then(|s| s.get(n))
                .is_some()
                || n == LOCAL_SET
        };
        if !taken(&base) {
            return base;
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !taken(n))
            .expect("some suffix is free")
    }
}

/// `^<version>` for a resolved version (build metadata dropped: a
/// requirement cannot carry it).
pub fn caret(v: &Version) -> VersionReq {
    let mut text = format!("^{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        text.push('-');
        text.push_str(v.pre.as_str());
    }
    VersionReq::parse(&text).expect("a caret requirement of a valid version parses")
}

/// Replaces the requirement of the root edge to `id` (after `eka add`
/// wrote `^<resolved>` for a dependency given without one).
pub fn with_root_req(
    lock: Lockfile,
    id: AtomId,
    req: &VersionReq,
) -> Result<Lockfile, ProjectError> {
    let direct = lock.direct().to_vec();
    let (mut deps, atoms) = lock.into_parts();
    for e in &mut deps {
        if e.id == id {
            e.req = req.clone();
        }
    }
    Ok(Lockfile::new(deps, atoms)?.with_direct(direct)?)
}

/// The lock with each root edge's requirement as `root` states it (the
/// same atoms: only the requirements' text differs).
pub fn with_root_reqs(lock: Lockfile, root: &RootInput) -> Result<Lockfile, ProjectError> {
    let direct = lock.direct().to_vec();
    let mirrors: HashMap<AtomId, Vec<crate::RepoUrl>> = lock
        .atoms()
        .iter()
        .map(|a| (a.id(), a.mirrors.clone()))
        .collect();
    let (mut deps, atoms) = lock.into_parts();
    for e in &mut deps {
        let stated = root.deps.iter().find(|d| {
            d.label == e.label && mirrors.get(&e.id).map(Vec::as_slice) == Some(d.set.mirrors())
        });
        if let Some(d) = stated {
            e.req = d.req.clone();
        }
    }
    Ok(Lockfile::new(deps, atoms)?.with_direct(direct)?)
}

/// The root edge of the lock for `label` from `url`.
pub fn root_edge<'l>(lock: &'l Lockfile, label: &Label, url: &RepoUrl) -> Option<&'l Edge> {
    lock.deps()
        .iter()
        .find(|e| &e.label == label && lock.get(&e.id).is_some_and(|a| a.mirrors.contains(url)))
}

// ---------------------------------------------------------------------
// Writing both files.

/// Writes the lock and (if given) the manifest of the project in `dir`,
/// all or nothing: both temporary files are written and flushed first;
/// then the lock is renamed into place, then the manifest; if the manifest
/// cannot be renamed, the old lock is put back.
pub fn write_both(dir: &Path, manifest: Option<&str>, lock: &Lockfile) -> Result<(), ProjectError> {
    let lock_path = dir.join(LOCK_FILE);
    let manifest_path = dir.join(MANIFEST_FILE);
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| ProjectError::Write { path, source }
    };
    let lock_new =
        files::stage(&lock_path, lock.to_toml_string().as_bytes()).map_err(err(&lock_path))?;
    let manifest_new = match manifest {
        Some(text) => {
            Some(files::stage(&manifest_path, text.as_bytes()).map_err(err(&manifest_path))?)
        }
        None => None,
    };
    let old_lock = std::fs::read(&lock_path).ok();
    lock_new.commit().map_err(err(&lock_path))?;
    if let Some(new) = manifest_new {
        if let Err(e) = new.commit() {
            // Put the old lock back (or remove the new one).
            let _ = match old_lock {
                Some(bytes) => files::write_whole(&lock_path, &bytes),
                None => std::fs::remove_file(&lock_path),
            };
            return Err(err(&manifest_path)(e));
        }
    }
    files::sync_dir(dir);
    Ok(())
}

/// Opens the cache in its default place for writing.
pub fn open_cache() -> Result<Cache, ProjectError> {
    let dir = atom_git::cache::default_dir()?;
    Ok(Cache::open(&dir, atom_git::Access::Write)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(url: &str, label: &str, req: Option<&str>) -> AddDep {
        AddDep {
            url: url.parse().unwrap(),
            label: Label::parse(label).unwrap(),
            req: req.map(|r| VersionReq::parse(r).unwrap()),
        }
    }

    fn repo_atom(path: &str, text: &str) -> siblings::RepoAtom {
        siblings::RepoAtom {
            path: path.to_owned(),
            manifest: Manifest::parse(path, text).unwrap(),
        }
    }

    #[test]
    fn siblings_add_their_registry_dependencies_to_the_root() {
        let a = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[package.sets]\nhere = \"::\"\nr = \"https://r.example/r\"\n\n[deps.from.here]\nb = \"^0.1\"\n\n[deps.from.r]\nc = \"^1\"\n";
        let b = "[package]\nlabel = \"b\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"https://r.example/r\"\nlocal = \"../regs/s.git\"\n\n[deps.from.reg]\nc = \"^1.2\"\nd = \"^1\"\n\n[deps.from.local]\ne = \"^3\"\n";
        let atoms = [repo_atom("app/a", a), repo_atom("lib/b", b)];
        let root = root_input_with_siblings(&atoms[0].manifest, "app/a", &atoms).unwrap();
        let deps: Vec<String> = root
            .deps
            .iter()
            .map(|d| format!("{} {} {}", d.set, d.label, d.req))
            .collect();
        // One requirement per atom of a set, both met; the sibling's
        // relative path made relative to the root's folder; b itself is
        // not resolved.
        assert_eq!(
            deps,
            [
                "https://r.example/r c ^1, ^1.2",
                "../../lib/regs/s.git e ^3",
                "https://r.example/r d ^1",
            ]
        );
        // Without siblings, `::` is simply not resolved.
        let alone = root_input(&atoms[0].manifest).unwrap();
        assert_eq!(alone.deps.len(), 1);
    }

    #[test]
    fn a_shared_requirement_names_each_manifest_asking_for_it() {
        let a = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[package.sets]\nhere = \"::\"\nr = \"https://r.example/r\"\n\n[deps.from.here]\nb = \"^0.1\"\n\n[deps.from.r]\nc = \"^1\"\n";
        let b = "[package]\nlabel = \"b\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"https://r.example/r\"\n\n[deps.from.reg]\nc = \"^1.2\"\nd = \"^1\"\n";
        let atoms = [repo_atom("app/a", a), repo_atom("lib/b", b)];
        let root = root_input_with_siblings(&atoms[0].manifest, "app/a", &atoms).unwrap();
        let [c, d] = [&root.deps[0], &root.deps[1]];
        assert_eq!(
            asked_in(&root, c),
            "in atom.toml (`^1`) and in lib/b/atom.toml (`^1.2`)"
        );
        assert_eq!(asked_in(&root, d), "in lib/b/atom.toml");
        let alone = root_input(&atoms[0].manifest).unwrap();
        assert_eq!(asked_in(&alone, &alone.deps[0]), "in atom.toml");
    }

    #[test]
    fn add_sibling_reuses_or_creates_the_local_set() {
        let mut e = ManifestEdit::new("[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n").unwrap();
        assert_eq!(
            e.add_sibling(&Label::parse("b").unwrap(), "^0.1.0")
                .unwrap(),
            "local"
        );
        assert_eq!(
            e.add_sibling(&Label::parse("c").unwrap(), "1.x").unwrap(),
            "local"
        );
        let m = Manifest::parse("atom.toml", &e.text()).unwrap();
        assert_eq!(m.package.sets["local"].urls(), ["::"]);
        assert_eq!(m.deps.from["local"].len(), 2);
        let mut e = ManifestEdit::new("[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[package.sets]\nlocal = \"https://x.example/x\"\nmine = \"::\"\n").unwrap();
        assert_eq!(
            e.add_sibling(&Label::parse("b").unwrap(), "^1").unwrap(),
            "mine"
        );
        assert!(e
            .add_sibling(&Label::parse("b").unwrap(), "not a req")
            .is_err());
    }

    const TEXT: &str = "# top comment\n[package]\nlabel = \"app\" # the label\nversion = \"0.1.0\"\nsets.mine = [\"https://a.example/x.git\", \"https://b.example/x\"]\n\n[deps.from.mine]\nold = \"^1\" # keep\n";

    #[test]
    fn add_keeps_formatting_and_reuses_sets() {
        let mut e = ManifestEdit::new(TEXT).unwrap();
        // A mirror of an existing set (dotted keys) is that set.
        assert_eq!(
            e.add(&dep("https://b.example/x", "new", Some("~2")))
                .unwrap(),
            "mine"
        );
        // Another URL gets a new set named after it.
        assert_eq!(
            e.add(&dep("https://c.example/org/x.git", "z", None))
                .unwrap(),
            "x"
        );
        assert_eq!(
            e.add(&dep("https://d.example/x", "w", None)).unwrap(),
            "x-2"
        );
        e.set_req(
            "x",
            &Label::parse("z").unwrap(),
            &VersionReq::parse("^1.2.3").unwrap(),
        )
        .unwrap();
        let text = e.text();
        assert!(
            text.starts_with("# top comment\n[package]\nlabel = \"app\" # the label\n"),
            "{text}"
        );
        assert!(
            text.contains("old = \"^1\" # keep\nnew = \"~2\"\n"),
            "{text}"
        );
        let m = Manifest::parse("atom.toml", &text).unwrap();
        assert_eq!(
            m.deps.from["x"][&Label::parse("z").unwrap()].to_string(),
            "^1.2.3"
        );
        assert_eq!(m.package.sets["x-2"].urls(), ["https://d.example/x"]);
        // Removing the last label of a table removes the table.
        e.remove("w").unwrap();
        assert!(!e.text().contains("deps.from.x-2"), "{}", e.text());
        assert!(matches!(
            e.remove("w"),
            Err(ProjectError::NoSuchDependency(_))
        ));
    }

    /// A second writer waits for the first to let go; it could not take
    /// the lock while the first held it.
    #[test]
    fn writers_of_one_project_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::acquire(dir.path()).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let path = dir.path().to_owned();
        let second = std::thread::spawn(move || {
            let lock = WriteLock::acquire(&path);
            tx.send(()).unwrap();
            lock.map(drop)
        });
        let waited = rx.recv_timeout(std::time::Duration::from_millis(300));
        assert!(waited.is_err(), "the second writer did not wait");
        drop(first);
        second.join().unwrap().unwrap();
    }

    /// The temporaries a killed writer left are removed by the next
    /// writer; nothing else is.
    #[test]
    fn stale_temporaries_are_removed_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            ".atom.lock.a1B2c3",
            ".atom.toml.Zz9yY8",
            ".atom.lock.toolong7",
            ".atom.lock.ab-cd!",
            "atom.lock",
            "atom.toml",
            ".atom.lock.x",
        ];
        for n in names {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        std::fs::create_dir(dir.path().join(".atom.toml.dir123")).unwrap();
        drop(WriteLock::acquire(dir.path()).unwrap());
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".atom.lock.ab-cd!",
                ".atom.lock.toolong7",
                ".atom.lock.x",
                ".atom.toml.dir123",
                "atom.lock",
                "atom.toml"
            ]
        );
    }

    /// A FIFO where atom.toml or atom.lock should be is refused at once
    /// (opening it would block until a writer came).
    #[test]
    fn a_fifo_manifest_or_lock_is_refused_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = |name: &str| {
            let made = std::process::Command::new("mkfifo")
                .arg(dir.path().join(name))
                .status()
                .unwrap();
            assert!(made.success());
        };
        fifo(LOCK_FILE);
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n",
        )
        .unwrap();
        let err = Project::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ProjectError::Io { path, source } if path.ends_with(LOCK_FILE) && source.to_string() == "not a regular file"),
            "{err:?}"
        );
        std::fs::remove_file(dir.path().join(MANIFEST_FILE)).unwrap();
        fifo(MANIFEST_FILE);
        let err = Project::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ProjectError::Io { path, .. } if path.ends_with(MANIFEST_FILE)),
            "{err:?}"
        );
    }

    #[test]
    fn caret_of_resolved_versions() {
        for (v, want) in [
            ("1.2.3", "^1.2.3"),
            ("0.0.3", "^0.0.3"),
            ("2.0.0-rc.1", "^2.0.0-rc.1"),
            ("1.0.0+build.7", "^1.0.0"),
        ] {
            let v = Version::parse(v).unwrap();
            let req = caret(&v);
            assert_eq!(req.to_string(), want);
            assert!(req.matches(&v), "{want}");
        }
    }
}
