//! The dependencies of one atom: [`add`], [`remove`], [`lock`] (and
//! [`check`]), [`update`] and [`fetch()`]. Each finds the atom around a
//! directory, edits its `atom.toml` (formatting kept), resolves, fetches
//! what locking needs into the shared cache, and writes `atom.toml` and
//! `atom.lock` together or not at all (`atom_lock::project`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use atom_format::manifest::MANIFEST_FILE;
use atom_format::{Label, Manifest};
use atom_git::cache::{self, Access, Cache};
use atom_lock::fetch::{self, FetchError, Got, Want};
use atom_lock::lock::{AnyLock, Conversion, ConversionError, Eka03Lock, LockError};
use atom_lock::project::{
    self, AddDep, Change, Keep, LockState, Locked, ManifestEdit, Project, ProjectError,
};
use atom_lock::{AtomUri, ConfigError, Lockfile, UriError};
use semver::VersionReq;

use crate::Warning;

/// Why a dependency operation changed nothing.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DepsError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] Box<atom_format::manifest::ManifestError>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Uri(#[from] UriError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] atom_git::CacheError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Conversion(#[from] ConversionError),
    #[error(transparent)]
    #[diagnostic(code(eka::lock::eka03_mirror))]
    FetchLocked(atom_modules::FetchLockedError),
    #[error("there is no atom.lock beside {}", .0.display())]
    #[diagnostic(code(eka::lock::missing))]
    NoLock(PathBuf),
    /// Only `eka lock` converts it (and `eka eval` reads it as it is).
    #[error("{} was written by eka 0.3", .0.display())]
    #[diagnostic(code(eka::lock::eka03))]
    Eka03Lock(PathBuf),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Trust(#[from] crate::trust::TrustError),
    #[error("atom.lock no longer satisfies the trust policies it was locked under:\n  {}", .0.join("\n  "))]
    #[diagnostic(code(atom::trust::lock_untrusted))]
    Untrusted(Vec<String>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] Box<atom_git::GitError>),
    #[error("the repository of `{}` has no work tree", .0.display())]
    #[diagnostic(code(eka::deps::no_work_tree))]
    NoWorkTree(PathBuf),
    #[error("cannot list the files of the work tree {}", .dir.display())]
    #[diagnostic(code(eka::deps::list_work_tree))]
    ListWorkTree {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("atom.lock would change, but it is locked:\n  - {}", .changes.join("\n  - "))]
    #[diagnostic(code(eka::lock::would_change))]
    LockWouldChange { changes: Vec<String> },
    #[error("atom.lock is not in line with atom.toml, and resolving needs the network:\n  - {}", .reasons.join("\n  - "))]
    #[diagnostic(code(eka::lock::offline))]
    Offline { reasons: Vec<String> },
}

impl From<atom_modules::FetchLockedError> for DepsError {
    fn from(e: atom_modules::FetchLockedError) -> Self {
        match e {
            atom_modules::FetchLockedError::Fetch(e) => DepsError::Fetch(*e),
            other => DepsError::FetchLocked(other),
        }
    }
}

impl From<atom_format::manifest::ManifestError> for DepsError {
    fn from(e: atom_format::manifest::ManifestError) -> Self {
        DepsError::Manifest(Box::new(e))
    }
}

/// How a lock-writing operation ([`add`], [`remove`], [`lock`],
/// [`update`]) may use the disk and the network (cargo's flags).
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Compute and report everything, write nothing.
    pub dry_run: bool,
    /// Fail rather than change atom.lock (`--locked`).
    pub locked: bool,
    /// Use no network: a lock in line is kept as it is; one that is not
    /// needs the remotes' listings to resolve, and fails (`--offline`).
    pub offline: bool,
    /// How to reach remotes.
    pub network: crate::Network,
}

/// What a lock-writing operation did.
#[derive(Debug)]
pub struct LockReport {
    /// The lock now on disk (or, with `dry_run`, that would be).
    pub lock: Lockfile,
    /// Whether anything had to be resolved (the lock was not in line).
    pub resolved: bool,
    /// Whether there was no atom.lock before (with `dry_run`: it would be
    /// created).
    pub lock_created: bool,
    /// Whether `atom.lock` changed (with `dry_run`: would change; it is
    /// then not written).
    pub lock_changed: bool,
    /// Whether `atom.toml` changed (with `dry_run`: would change).
    pub manifest_changed: bool,
    /// Nothing was written (`dry_run`).
    pub dry_run: bool,
    /// The locked atoms whose version changed.
    pub changes: Vec<Change>,
    /// What converting a lock eka 0.3 wrote kept (`lock` only).
    pub converted: Option<Conversion>,
    /// The requirements of atom.toml that changed.
    pub requirements: Vec<RequirementChange>,
    pub warnings: Vec<Warning>,
}

/// A requirement of `[deps.from.<set>]` in atom.toml that changed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RequirementChange {
    pub set: String,
    pub label: String,
    /// `None`: added.
    pub old: Option<String>,
    /// `None`: removed.
    pub new: Option<String>,
}

impl LockReport {
    /// Nothing changed (or would change).
    pub fn up_to_date(&self) -> bool {
        !self.lock_changed && !self.manifest_changed
    }
}

/// What [`check`] found: the reasons the lock is not in line with the
/// manifest (none: it is).
#[derive(Debug)]
pub struct CheckReport {
    pub stale: Vec<String>,
    pub atoms: usize,
}

/// Brings the lock of the atom around `dir` in line with its manifest,
/// changing nothing that still satisfies it.
pub fn lock(dir: &Path, options: Options) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut warnings = manifest_warnings(&p);
    if let LockState::Eka03(old) = &p.lock {
        return convert(&p, old, warnings, options);
    }
    let old = old_lock(&mut p, &mut warnings)?;
    let locked = lock_manifest(
        &p.dir,
        &p.manifest,
        &p.manifest_text,
        old.lock.as_ref(),
        &Keep::Locked,
        options,
    )?;
    finish(&p, &old, None, locked, warnings, options)
}

/// Every atom of the work tree around `dir`: the directories below the
/// repository's root holding an atom.toml that git would commit (one
/// under an ignored directory, such as a `result` link or a vendored
/// checkout, is none; nor is one in a nested repository), sorted; for
/// `--all`.
pub fn atoms_of_repository(dir: &Path) -> Result<Vec<PathBuf>, DepsError> {
    let repo = atom_git::open(dir).map_err(Box::new)?;
    let root = repo
        .workdir()
        .map(Path::to_owned)
        .ok_or_else(|| DepsError::NoWorkTree(dir.to_owned()))?;
    let files = atom_git::status::committable(&root)
        .map_err(|source| DepsError::ListWorkTree {
            dir: root.clone(),
            source,
        })?
        .ok_or_else(|| DepsError::NoWorkTree(dir.to_owned()))?;
    let mut atoms: Vec<PathBuf> = files
        .iter()
        .filter_map(|file| file.strip_suffix(MANIFEST_FILE)?.strip_suffix('/'))
        .map(|atom| root.join(atom))
        .filter(|atom| atom.join(MANIFEST_FILE).is_file())
        .collect();
    atoms.sort();
    Ok(atoms)
}

/// Converts the lock eka 0.3 wrote: resolves the manifest keeping the
/// versions it pins, and those its atoms' own locks pin (each at the
/// commit pinned, or nothing is written), and carries over its pins of
/// dependencies that are not atoms.
fn convert(
    p: &Project,
    old: &Eka03Lock,
    warnings: Vec<Warning>,
    options: Options,
) -> Result<LockReport, DepsError> {
    let pinned = pinned_closure(&p.dir, old, &options.network)?;
    let keep = Keep::Pinned(old.preferences_with(&pinned));
    let mut locked = lock_manifest(&p.dir, &p.manifest, &p.manifest_text, None, &keep, options)?;
    let names = p.manifest.deps.direct_nix();
    let direct = old.direct_kept(names.iter().map(|d| d.name.as_str()));
    locked.lock = locked.lock.with_direct(direct)?;
    let conversion = old.conversion(&locked.lock, &pinned)?;
    if options.locked {
        return Err(DepsError::LockWouldChange {
            changes: vec!["atom.lock is in eka 0.3's format and would be converted".to_owned()],
        });
    }
    if !options.dry_run {
        project::write_both(&p.dir, None, &locked.lock)?;
    }
    let mut report = report(locked, warnings);
    report.lock_changed = true;
    report.dry_run = options.dry_run;
    report.converted = Some(conversion);
    Ok(report)
}

/// What eka 0.3's lock pins, and the locks of the atoms it pins below it,
/// level by level: fetched into the cache (closed again before locking,
/// which opens it itself).
fn pinned_closure(
    dir: &Path,
    lock: &Eka03Lock,
    network: &crate::Network,
) -> Result<Vec<Want>, DepsError> {
    let cache = project::open_cache()?;
    let any = AnyLock::Eka03(Box::new(lock.clone()));
    let connections = network.connections(dir);
    Ok(atom_modules::fetch_locked(&any, &cache, &connections, dir)?)
}

/// What the manifest should change, though it was read.
fn manifest_warnings(p: &Project) -> Vec<Warning> {
    p.manifest
        .warnings
        .iter()
        .cloned()
        .map(Warning::Manifest)
        .collect()
}

/// Whether the lock of the atom around `dir` is in line with its manifest;
/// changes nothing and needs no network. An atom without dependencies
/// needs no lock.
pub fn check(dir: &Path) -> Result<CheckReport, DepsError> {
    let p = Project::find(dir)?;
    let root = project::root_input_at(&p.manifest, &p.manifest_path(), &p.manifest_text)?;
    let lock = match p.lock {
        // Nothing to lock (no dependency, or siblings needing nothing from
        // a registry): no lock is in line.
        LockState::Missing if root.deps.is_empty() => {
            return Ok(CheckReport {
                stale: Vec::new(),
                atoms: 0,
            })
        }
        LockState::Missing => return Err(DepsError::NoLock(p.manifest_path())),
        LockState::Invalid(e) => return Err(e.into()),
        LockState::Eka03(_) => return Err(DepsError::Eka03Lock(p.lock_path())),
        LockState::Valid(ref l) => l,
    };
    let mut stale = project::stale_reasons(&root, lock);
    let policies = crate::trust::project_policies(&p.manifest, &p.dir)?;
    stale.extend(crate::trust::recheck(&policies, lock));
    Ok(CheckReport {
        stale,
        atoms: lock.atoms().len(),
    })
}

/// Adds dependencies (`<repository>::<label>[@<requirement>]`) to the atom
/// around `dir`, and locks them; one given without a requirement gets
/// `^<the version locked>`.
pub fn add(dir: &Path, uris: &[String], options: Options) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut warnings = manifest_warnings(&p);
    let (sibling_uris, uris): (Vec<String>, Vec<String>) = uris
        .iter()
        .cloned()
        .partition(|u| u.trim_start().starts_with("::"));
    let adds = parse_adds(&p.dir, &uris, &mut warnings)?;
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    add_siblings(&p, &mut edit, &sibling_uris)?;
    let mut sets = Vec::new();
    for (a, text) in adds.iter().zip(&uris) {
        let set = edit.add(a)?;
        sets.push(set.clone());
        // The requirement as the user wrote it (`1.x`, not semver's `1.*`).
        if let (Some(req), Some(written)) = (&a.req, written_requirement(text)) {
            if VersionReq::parse(written).is_ok_and(|r| &r == req) {
                edit.set_req_text(&set, &a.label, written)?;
            }
        }
    }
    let name = p.manifest_path().display().to_string();
    let manifest = Manifest::parse(&name, &edit.text())?;
    let old = old_lock(&mut p, &mut warnings)?;
    let mut locked = lock_manifest(
        &p.dir,
        &manifest,
        &edit.text(),
        old.lock.as_ref(),
        &Keep::Locked,
        options,
    )?;
    for (a, set) in adds.iter().zip(&sets).filter(|(a, _)| a.req.is_none()) {
        pin_resolved(&mut edit, &mut locked, a, set)?;
    }
    let text = edit.text();
    let root = project::root_input_in(&Manifest::parse(&name, &text)?, &p.dir)?;
    // A requirement written now may join a sibling's on the same atom.
    locked.lock = project::with_root_reqs(locked.lock, &root)?;
    debug_assert!(project::stale_reasons(&root, &locked.lock).is_empty());
    finish(&p, &old, Some(text), locked, warnings, options)
}

/// Adds dependencies on atoms of this repository (`::label[@req]`, the
/// set `"::"`) to `edit`; one without a requirement gets `^<its version>`.
fn add_siblings(p: &Project, edit: &mut ManifestEdit, uris: &[String]) -> Result<(), DepsError> {
    if uris.is_empty() {
        return Ok(());
    }
    let tree = atom_lock::siblings::worktree_atoms(&p.dir).map_err(ProjectError::from)?;
    for text in uris {
        let uri = AtomUri::parse(text.trim(), &atom_lock::Aliases::empty())?;
        let found = tree
            .atoms
            .iter()
            .find(|a| a.manifest.package.label == uri.label)
            .ok_or_else(|| {
                ProjectError::from(atom_lock::siblings::SiblingError::Missing {
                    dependent: p.manifest.package.label.clone(),
                    label: uri.label.clone(),
                    src: None,
                    span: None,
                })
            })?;
        let req = match written_requirement(text) {
            Some(written) => written.to_owned(),
            None => project::caret(&found.manifest.package.version).to_string(),
        };
        edit.add_sibling(&uri.label, &req)?;
    }
    Ok(())
}

/// The requirement of an atom URI as written (after its last `@`), if any.
fn written_requirement(uri: &str) -> Option<&str> {
    let (_, atom) = uri.rsplit_once("::").unwrap_or(("", uri));
    atom.split_once('@').map(|(_, req)| req.trim())
}

/// The dependencies `uris` name, with the aliases in effect at `dir`.
fn parse_adds(
    dir: &Path,
    uris: &[String],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<AddDep>, DepsError> {
    let aliases = crate::aliases_at(dir, warnings)?;
    uris.iter()
        .map(|text| {
            let uri = AtomUri::parse(text, &aliases)?;
            let url = uri
                .repo
                .ok_or_else(|| ProjectError::NoRepository(text.clone()))?;
            let repo_text = text.rsplit_once("::").map_or(text.as_str(), |(r, _)| r);
            let url = crate::named_repository(repo_text, url, dir, warnings);
            Ok(AddDep {
                url,
                label: uri.label,
                req: uri.req,
            })
        })
        .collect()
}

/// Writes `^<locked version>` as the requirement of `a`, added without one.
fn pin_resolved(
    edit: &mut ManifestEdit,
    locked: &mut Locked,
    a: &AddDep,
    set: &str,
) -> Result<(), DepsError> {
    let edge =
        project::root_edge(&locked.lock, &a.label, &a.url).expect("an added dependency is locked");
    let id = edge.id;
    let version = locked.lock.get(&id).expect("edges resolve").version.clone();
    let req = project::caret(&version);
    edit.set_req(set, &a.label, &req)?;
    locked.lock = project::with_root_req(locked.lock.clone(), id, &req)?;
    Ok(())
}

/// Removes dependencies (by label) from the atom around `dir`, and locks.
pub fn remove(dir: &Path, labels: &[String], options: Options) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    for l in labels {
        edit.remove(l)?;
    }
    let text = edit.text();
    let manifest = Manifest::parse(&p.manifest_path().display().to_string(), &text)?;
    let mut warnings = manifest_warnings(&p);
    let old = old_lock(&mut p, &mut warnings)?;
    let locked = lock_manifest(
        &p.dir,
        &manifest,
        &text,
        old.lock.as_ref(),
        &Keep::Locked,
        options,
    )?;
    finish(&p, &old, Some(text), locked, warnings, options)
}

/// Moves the dependencies of the atom around `dir` (or those with these
/// labels) to the highest versions allowed.
pub fn update(dir: &Path, labels: &[String], options: Options) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut warnings = manifest_warnings(&p);
    let old = old_lock(&mut p, &mut warnings)?;
    let keep = keep_all_but(old.lock.as_ref(), labels)?;
    let locked = lock_manifest(
        &p.dir,
        &p.manifest,
        &p.manifest_text,
        old.lock.as_ref(),
        &keep,
        options,
    )?;
    finish(&p, &old, None, locked, warnings, options)
}

/// What to keep when updating `labels` (every locked atom but those; all
/// when none is named).
fn keep_all_but(old: Option<&Lockfile>, labels: &[String]) -> Result<Keep, DepsError> {
    if labels.is_empty() {
        return Ok(Keep::Nothing);
    }
    let mut out = Vec::new();
    for l in labels {
        let label = Label::parse(l).map_err(|_| ProjectError::NotLocked(l.clone()))?;
        if old.is_none_or(|lock| lock.by_label(&label).next().is_none()) {
            return Err(ProjectError::NotLocked(l.clone()).into());
        }
        out.push(label);
    }
    Ok(Keep::AllBut(out))
}

/// What [`fetch()`] did.
#[derive(Debug)]
pub struct FetchReport {
    /// Every locked atom, in the cache and checked.
    pub atoms: Vec<Got>,
    pub cache: PathBuf,
    pub warnings: Vec<Warning>,
}

/// Brings the atoms the lock of the atom around `dir` pins into the cache,
/// checked against the remote (unless `offline`) and against the lock.
pub fn fetch(
    dir: &Path,
    offline: bool,
    network: &crate::Network,
) -> Result<FetchReport, DepsError> {
    let p = Project::find(dir)?;
    let lock = match p.lock {
        LockState::Missing => return Err(DepsError::NoLock(p.manifest_path())),
        LockState::Invalid(e) => return Err(e.into()),
        LockState::Eka03(_) => return Err(DepsError::Eka03Lock(p.lock_path())),
        LockState::Valid(ref l) => l,
    };
    let access = match offline {
        true => Access::Read,
        false => Access::Write,
    };
    let untrusted =
        crate::trust::recheck(&crate::trust::project_policies(&p.manifest, &p.dir)?, lock);
    if !untrusted.is_empty() {
        return Err(DepsError::Untrusted(untrusted));
    }
    let cache = Cache::open(&cache::default_dir()?, access)?;
    let wants: Vec<Want> = lock.atoms().iter().map(Want::locked).collect();
    let signers: Vec<&[atom_trust::RecordedSigner]> =
        lock.atoms().iter().map(|a| a.signers.as_slice()).collect();
    let options = fetch::Options {
        offline,
        check_remote: !offline,
    };
    let (atoms, warnings) = fetch::fetch_signed(
        &cache,
        &network.connections(&p.dir),
        &p.dir,
        &wants,
        &signers,
        options,
    )?;
    Ok(FetchReport {
        atoms,
        cache: cache.dir().to_owned(),
        warnings: warnings.into_iter().map(Warning::Fetch).collect(),
    })
}

/// The lock on disk before an operation.
struct OldLock {
    /// The lock to start from: a valid one, or none when atom.lock does not
    /// verify (it is being rebuilt) or is missing.
    lock: Option<Lockfile>,
    /// Whether there was an atom.lock file at all.
    existed: bool,
}

/// The lock to start from (with a warning when atom.lock does not verify).
/// One eka 0.3 wrote must be converted by `eka lock` first, which keeps
/// its pins.
fn old_lock(p: &mut Project, warnings: &mut Vec<Warning>) -> Result<OldLock, DepsError> {
    Ok(match std::mem::replace(&mut p.lock, LockState::Missing) {
        LockState::Eka03(_) => return Err(DepsError::Eka03Lock(p.lock_path())),
        LockState::Valid(l) => OldLock {
            lock: Some(l),
            existed: true,
        },
        LockState::Invalid(e) => {
            warnings.push(Warning::InvalidLock(e));
            OldLock {
                lock: None,
                existed: true,
            }
        }
        LockState::Missing => OldLock {
            lock: None,
            existed: false,
        },
    })
}

/// Writes what changed (unless `dry_run`, or `locked` forbids it) and
/// reports it.
fn finish(
    p: &Project,
    old: &OldLock,
    manifest: Option<String>,
    locked: Locked,
    warnings: Vec<Warning>,
    options: Options,
) -> Result<LockReport, DepsError> {
    let lock_changed = old.lock.as_ref() != Some(&locked.lock);
    let manifest = manifest.filter(|text| *text != p.manifest_text);
    let requirements = match &manifest {
        Some(text) => requirement_changes(&p.manifest_text, text),
        None => Vec::new(),
    };
    if lock_changed && options.locked {
        return Err(DepsError::LockWouldChange {
            changes: would_change(old, &locked.changes, &requirements),
        });
    }
    if !options.dry_run && (lock_changed || manifest.is_some()) {
        project::write_both(&p.dir, manifest.as_deref(), &locked.lock)?;
    }
    let mut report = report(locked, warnings);
    report.lock_created = !old.existed;
    report.lock_changed = lock_changed;
    report.manifest_changed = manifest.is_some();
    report.dry_run = options.dry_run;
    report.requirements = requirements;
    Ok(report)
}

/// What would change in the lock, for `--locked`'s error.
fn would_change(
    old: &OldLock,
    changes: &[Change],
    requirements: &[RequirementChange],
) -> Vec<String> {
    let mut out = Vec::new();
    if !old.existed {
        out.push("there is no atom.lock yet".to_owned());
    } else if old.lock.is_none() {
        out.push("atom.lock does not verify and would be rebuilt".to_owned());
    }
    out.extend(requirements.iter().map(|r| match (&r.old, &r.new) {
        (None, Some(n)) => format!("`{}` {n} would be added", r.label),
        (Some(o), None) => format!("`{}` {o} would be removed", r.label),
        (Some(o), Some(n)) => format!("`{}` would go from {o} to {n}", r.label),
        (None, None) => String::new(),
    }));
    out.extend(changes.iter().map(|c| match (&c.old, &c.new) {
        (None, Some(n)) => format!("`{}` {n} would be locked", c.label),
        (Some(o), None) => format!("`{}` {o} would be unlocked", c.label),
        (Some(o), Some(n)) => format!("`{}` would move from {o} to {n}", c.label),
        (None, None) => String::new(),
    }));
    if out.is_empty() {
        out.push("the requirements atom.lock records would change".to_owned());
    }
    out
}

/// The `[deps.from.<set>]` requirements of a manifest, as written.
fn written_requirements(text: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let Ok(doc) = text.parse::<toml::Table>() else {
        return out;
    };
    let from = doc
        .get("deps")
        .and_then(|d| d.get("from"))
        .and_then(|f| f.as_table());
    for (set, labels) in from.into_iter().flatten() {
        for (label, req) in labels.as_table().into_iter().flatten() {
            let req = req.as_str().map_or_else(|| req.to_string(), str::to_owned);
            out.insert((set.clone(), label.clone()), req);
        }
    }
    out
}

/// The requirements that differ between two manifest texts.
fn requirement_changes(before: &str, after: &str) -> Vec<RequirementChange> {
    let (before, after) = (written_requirements(before), written_requirements(after));
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| RequirementChange {
            set: k.0.clone(),
            label: k.1.clone(),
            old: before.get(k).cloned(),
            new: after.get(k).cloned(),
        })
        .collect()
}

/// Locks `manifest` (whose text is `text`, for errors that point into it)
/// for the atom in `dir`. A lock in line needs neither the network nor the
/// cache: it is kept as it is.
fn lock_manifest(
    dir: &Path,
    manifest: &Manifest,
    text: &str,
    old: Option<&Lockfile>,
    keep: &Keep,
    options: Options,
) -> Result<Locked, DepsError> {
    let root = project::root_input_at(manifest, &dir.join(MANIFEST_FILE), text)?;
    let policies = crate::trust::project_policies(manifest, dir)?;
    let mut stale = match old {
        Some(old) => project::stale_reasons(&root, old),
        None => vec!["there is no valid atom.lock".to_owned()],
    };
    // A lock whose recorded signers no longer satisfy a policy (or were
    // never recorded under it) is resolved again.
    if let Some(old) = old {
        stale.extend(crate::trust::recheck(&policies, old));
    }
    if let (Keep::Locked, Some(old)) = (keep, old) {
        if stale.is_empty() {
            return Ok(Locked::unchanged(old.clone()));
        }
    }
    if options.offline {
        let reasons = match stale.is_empty() {
            true => vec!["updating asks the remotes for their newest versions".to_owned()],
            false => stale,
        };
        return Err(DepsError::Offline { reasons });
    }
    let cache = tracing::info_span!(target: "eka::phase", "open the cache")
        .in_scope(project::open_cache)?;
    let connections = options.network.connections(dir);
    let registry = crate::trust::registry(&policies, &cache, &connections, dir);
    let mut locked = project::lock(dir, &root, old, keep, &registry, &cache, &connections)?;
    // Pins of dependencies that are not atoms are not resolved: kept
    // while the manifest names them.
    if let Some(old) = old {
        let names = manifest.deps.direct_nix();
        let kept = old.direct_kept(names.iter().map(|d| d.name.as_str()));
        locked.lock = locked.lock.with_direct(kept)?;
    }
    if let Some(resolution) = &locked.resolution {
        let _phase = (!policies.is_empty())
            .then(|| tracing::info_span!(target: "eka::phase", "check signatures").entered());
        locked.lock = crate::trust::enforce(
            &policies,
            locked.lock.clone(),
            resolution,
            &cache,
            &connections,
        )?;
    }
    Ok(locked)
}

fn report(locked: Locked, mut warnings: Vec<Warning>) -> LockReport {
    warnings.extend(locked.warnings.into_iter().map(Warning::Resolve));
    LockReport {
        resolved: locked.resolution.is_some(),
        lock: locked.lock,
        lock_created: false,
        lock_changed: false,
        manifest_changed: false,
        dry_run: false,
        changes: locked.changes,
        converted: None,
        requirements: Vec::new(),
        warnings,
    }
}
