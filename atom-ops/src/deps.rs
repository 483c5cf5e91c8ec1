//! The dependencies of one atom: [`add`], [`remove`], [`lock`] (and
//! [`check`]), [`update`] and [`fetch`]. Each finds the atom around a
//! directory, edits its `atom.toml` (formatting kept), resolves, fetches
//! what locking needs into the shared cache, and writes `atom.toml` and
//! `atom.lock` together or not at all (`atom_lock::project`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use atom_format::manifest::MANIFEST_FILE;
use atom_format::{Label, Manifest};
use atom_git::cache::{self, Access, Cache};
use atom_git::Connections;
use atom_lock::fetch::{self, FetchError, Got, Want};
use atom_lock::lock::LockError;
use atom_lock::project::{
    self, AddDep, Change, Keep, LockState, Locked, ManifestEdit, Project, ProjectError,
};
use atom_lock::{AtomUri, ConfigError, Lockfile, UriError};

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
    #[error("there is no atom.lock beside {}", .0.display())]
    #[diagnostic(code(eka::lock::missing))]
    NoLock(PathBuf),
}

impl From<atom_format::manifest::ManifestError> for DepsError {
    fn from(e: atom_format::manifest::ManifestError) -> Self {
        DepsError::Manifest(Box::new(e))
    }
}

/// What a lock-writing operation did.
#[derive(Debug)]
pub struct LockReport {
    /// The lock now on disk (or, with `dry_run`, that would be).
    pub lock: Lockfile,
    /// Whether anything had to be resolved (the lock was not in line).
    pub resolved: bool,
    /// Whether `atom.lock` was (re)written.
    pub lock_written: bool,
    /// Whether `atom.toml` was rewritten.
    pub manifest_written: bool,
    /// The locked atoms whose version changed.
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// How long each phase took, in order.
    pub timings: Vec<(String, Duration)>,
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
pub fn lock(dir: &Path) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let was_valid = matches!(p.lock, LockState::Valid(_));
    let mut warnings = Vec::new();
    let old = old_lock(&mut p, &mut warnings);
    let locked = lock_manifest(
        &p.dir,
        &p.manifest,
        &p.manifest_text,
        old.as_ref(),
        &Keep::Locked,
    )?;
    let write = locked.resolution.is_some() || !was_valid;
    if write {
        project::write_both(&p.dir, None, &locked.lock)?;
    }
    Ok(report(locked, warnings, write, false))
}

/// Whether the lock of the atom around `dir` is in line with its manifest;
/// changes nothing and needs no network.
pub fn check(dir: &Path) -> Result<CheckReport, DepsError> {
    let p = Project::find(dir)?;
    let lock = match p.lock {
        LockState::Missing => return Err(DepsError::NoLock(p.manifest_path())),
        LockState::Invalid(e) => return Err(e.into()),
        LockState::Valid(ref l) => l,
    };
    let root = project::root_input_at(&p.manifest, &p.manifest_path(), &p.manifest_text)?;
    Ok(CheckReport {
        stale: project::stale_reasons(&root, lock),
        atoms: lock.atoms().len(),
    })
}

/// Adds dependencies (`<repository>::<label>[@<requirement>]`) to the atom
/// around `dir`, and locks them; one given without a requirement gets
/// `^<the version locked>`.
pub fn add(dir: &Path, uris: &[String]) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut warnings = Vec::new();
    let adds = parse_adds(&p.dir, uris, &mut warnings)?;
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    let sets = adds
        .iter()
        .map(|a| edit.add(a))
        .collect::<Result<Vec<String>, _>>()?;
    let name = p.manifest_path().display().to_string();
    let manifest = Manifest::parse(&name, &edit.text())?;
    let old = old_lock(&mut p, &mut warnings);
    let mut locked = lock_manifest(&p.dir, &manifest, &edit.text(), old.as_ref(), &Keep::Locked)?;
    for (a, set) in adds.iter().zip(&sets).filter(|(a, _)| a.req.is_none()) {
        pin_resolved(&mut edit, &mut locked, a, set)?;
    }
    let text = edit.text();
    debug_assert!(project::stale_reasons(
        &project::root_input(&Manifest::parse(&name, &text)?)?,
        &locked.lock
    )
    .is_empty());
    project::write_both(&p.dir, Some(&text), &locked.lock)?;
    Ok(report(locked, warnings, true, true))
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
pub fn remove(dir: &Path, labels: &[String]) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    for l in labels {
        edit.remove(l)?;
    }
    let text = edit.text();
    let manifest = Manifest::parse(&p.manifest_path().display().to_string(), &text)?;
    let mut warnings = Vec::new();
    let old = old_lock(&mut p, &mut warnings);
    let locked = lock_manifest(&p.dir, &manifest, &text, old.as_ref(), &Keep::Locked)?;
    project::write_both(&p.dir, Some(&text), &locked.lock)?;
    Ok(report(locked, warnings, true, true))
}

/// Moves the dependencies of the atom around `dir` (or those with these
/// labels) to the highest versions allowed.
pub fn update(dir: &Path, labels: &[String]) -> Result<LockReport, DepsError> {
    let mut p = Project::find_for_writing(dir)?;
    let mut warnings = Vec::new();
    let old = old_lock(&mut p, &mut warnings);
    let keep = keep_all_but(old.as_ref(), labels)?;
    let locked = lock_manifest(&p.dir, &p.manifest, &p.manifest_text, old.as_ref(), &keep)?;
    project::write_both(&p.dir, None, &locked.lock)?;
    Ok(report(locked, warnings, true, false))
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

/// What [`fetch`] did.
#[derive(Debug)]
pub struct FetchReport {
    /// Every locked atom, in the cache and checked.
    pub atoms: Vec<Got>,
    pub cache: PathBuf,
    pub warnings: Vec<Warning>,
}

/// Brings the atoms the lock of the atom around `dir` pins into the cache,
/// checked against the remote (unless `offline`) and against the lock.
pub fn fetch(dir: &Path, offline: bool) -> Result<FetchReport, DepsError> {
    let p = Project::find(dir)?;
    let lock = match p.lock {
        LockState::Missing => return Err(DepsError::NoLock(p.manifest_path())),
        LockState::Invalid(e) => return Err(e.into()),
        LockState::Valid(ref l) => l,
    };
    let access = match offline {
        true => Access::Read,
        false => Access::Write,
    };
    let cache = Cache::open(&cache::default_dir()?, access)?;
    let wants: Vec<Want> = lock.atoms().iter().map(Want::locked).collect();
    let options = fetch::Options {
        offline,
        check_remote: !offline,
    };
    let (atoms, warnings) =
        fetch::fetch(&cache, &Connections::new(&p.dir), &p.dir, &wants, options)?;
    Ok(FetchReport {
        atoms,
        cache: cache.dir().to_owned(),
        warnings: warnings.into_iter().map(Warning::Fetch).collect(),
    })
}

/// The lock to start from: a valid one, or none (with a warning) when
/// atom.lock does not verify, since it is being rebuilt.
fn old_lock(p: &mut Project, warnings: &mut Vec<Warning>) -> Option<Lockfile> {
    match std::mem::replace(&mut p.lock, LockState::Missing) {
        LockState::Valid(l) => Some(l),
        LockState::Invalid(e) => {
            warnings.push(Warning::InvalidLock(e));
            None
        }
        LockState::Missing => None,
    }
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
) -> Result<Locked, DepsError> {
    let root = project::root_input_at(manifest, &dir.join(MANIFEST_FILE), text)?;
    if let (Keep::Locked, Some(old)) = (keep, old) {
        if project::stale_reasons(&root, old).is_empty() {
            return Ok(Locked::unchanged(old.clone()));
        }
    }
    let started = Instant::now();
    let cache = project::open_cache()?;
    let opened = started.elapsed();
    let connections = Connections::new(dir);
    let registry = project::registry(&cache, &connections, dir);
    let mut locked = project::lock(dir, &root, old, keep, &registry, &cache, &connections)?;
    locked.timings.insert(0, ("open the cache".into(), opened));
    Ok(locked)
}

fn report(
    locked: Locked,
    mut warnings: Vec<Warning>,
    lock_written: bool,
    manifest_written: bool,
) -> LockReport {
    warnings.extend(locked.warnings.into_iter().map(Warning::Resolve));
    LockReport {
        resolved: locked.resolution.is_some(),
        lock: locked.lock,
        lock_written,
        manifest_written,
        changes: locked.changes,
        warnings,
        timings: locked.timings,
    }
}
