//! What `add`, `remove`, `lock` and `update` share: opening the project and
//! cache, reporting a new lock.

use std::path::Path;

use atom_format::manifest::MANIFEST_FILE;
use atom_format::Manifest;
use atom_lock::project::{self, Keep, LockState, Locked, Project};
use atom_lock::Lockfile;
use miette::IntoDiagnostic;

use crate::{output, Global};

/// The atom containing the current folder.
pub fn project() -> miette::Result<Project> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    Ok(Project::find(&cwd)?)
}

/// The lock to start from: a valid one, or none (with a warning) when
/// atom.lock does not verify, since it is being rebuilt.
pub fn old_lock<'p>(p: &'p Project, global: &Global) -> Option<&'p Lockfile> {
    if let LockState::Invalid(e) = &p.lock {
        if !global.quiet {
            eprintln!("warning: atom.lock does not verify and is rebuilt from atom.toml: {e}");
        }
    }
    p.valid_lock()
}

/// Resolves `manifest` for the project in `dir`, with the cache.
/// `text` is the manifest's text, for errors that point into it.
pub fn lock(
    dir: &Path,
    manifest: &Manifest,
    text: &str,
    old: Option<&Lockfile>,
    keep: &Keep,
    global: &Global,
) -> miette::Result<Locked> {
    let root = project::root_input_at(manifest, &dir.join(MANIFEST_FILE), text)?;
    // A lock in line needs neither the network nor the cache.
    if let (Keep::Locked, Some(old)) = (keep, old) {
        if project::stale_reasons(&root, old).is_empty() {
            return Ok(Locked {
                lock: old.clone(),
                resolution: None,
                warnings: Vec::new(),
                timings: Vec::new(),
                changes: Vec::new(),
            });
        }
    }
    let started = std::time::Instant::now();
    let cache = project::open_cache()?;
    let opened = started.elapsed();
    let connections = atom_git::Connections::new(dir);
    let registry = project::registry(&cache, &connections, dir);
    let locked = project::lock(dir, manifest, old, keep, &registry, &cache, &connections)?;
    warn(&locked.warnings, global);
    if global.verbose {
        eprintln!("open the cache: {:.1} ms", opened.as_secs_f64() * 1e3);
        for (phase, took) in &locked.timings {
            eprintln!("{phase}: {:.1} ms", took.as_secs_f64() * 1e3);
        }
    }
    Ok(locked)
}

pub fn warn(warnings: &[String], global: &Global) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
}

/// Prints what changed in the lock (or the JSON of the lock's atoms).
pub fn report(locked: &Locked, global: &Global, verb: &str) -> miette::Result<()> {
    if global.json {
        let changes: Vec<_> = locked
            .changes
            .iter()
            .map(|(label, old, new)| {
                serde_json::json!({
                    "label": label.as_str(),
                    "old": old.as_ref().map(ToString::to_string),
                    "new": new.as_ref().map(ToString::to_string),
                })
            })
            .collect();
        let atoms: Vec<_> = locked
            .lock
            .atoms()
            .iter()
            .map(|a| {
                serde_json::json!({
                    "label": a.label.as_str(),
                    "version": a.version.to_string(),
                    "id": a.id().to_string(),
                    "commit": a.commit.to_string(),
                    "digest": a.digest.to_string(),
                })
            })
            .collect();
        return output::json(&serde_json::json!({
            "up_to_date": locked.resolution.is_none(),
            "changes": changes,
            "atoms": atoms,
        }));
    }
    if global.quiet {
        return Ok(());
    }
    if locked.changes.is_empty() {
        println!(
            "atom.lock is up to date ({} atoms)",
            locked.lock.atoms().len()
        );
        return Ok(());
    }
    for (label, old, new) in &locked.changes {
        match (old, new) {
            (None, Some(n)) => println!("{verb:>9} {label} {n}"),
            (Some(o), Some(n)) => println!("{:>9} {label} {o} -> {n}", "updating"),
            (Some(o), None) => println!("{:>9} {label} {o}", "removing"),
            (None, None) => {}
        }
    }
    Ok(())
}
