//! What `add`, `remove`, `lock`, `update` and `fetch` share: rendering a
//! [`LockReport`] and warnings.

use std::path::{Path, PathBuf};

use atom_format::terminal::escape_line;
use atom_ops::deps::{LockReport, Options};
use atom_ops::Warning;

use crate::{output, Global};

/// Prints warnings on stderr (unless `--quiet`).
pub fn warn(warnings: &[Warning], global: &Global) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {}", escape_line(&w.to_string()));
        }
    }
}

/// The atoms a command works on: with `--all`, every atom of the
/// repository around `cwd`; otherwise the one around `cwd`.
pub fn targets(cwd: &Path, all: bool) -> miette::Result<Vec<PathBuf>> {
    if !all {
        return Ok(vec![cwd.to_owned()]);
    }
    let atoms = atom_ops::deps::atoms_of_repository(cwd)?;
    if atoms.is_empty() {
        return Err(miette::miette!(
            code = "eka::deps::no_atoms",
            help = "an atom is a directory holding atom.toml; create one with `eka new <dir>`",
            "no atom in the repository around `{}`",
            cwd.display()
        ));
    }
    Ok(atoms)
}

/// How an atom of a `--all` run is named: its path from the current
/// directory.
pub fn name(dir: &Path, _dirs: &[PathBuf]) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    match dir.strip_prefix(&cwd) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// With several atoms, a line naming the one whose report follows.
pub fn heading(dir: &Path, dirs: &[PathBuf], global: &Global) {
    if dirs.len() > 1 && !global.quiet && !global.json {
        outln!("{}:", name(dir, dirs));
    }
}

/// The options of a lock-writing command: `--dry-run` (its own) and the
/// global `--locked`, `--offline`, `--frozen`.
pub fn options(global: &Global, dry_run: bool) -> Options {
    Options {
        dry_run,
        locked: global.locked(),
        offline: global.offline(),
    }
}

/// `--dry-run`, for the commands that may write atom.toml or atom.lock.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct DryRun {
    /// Resolve and show what would change; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// Prints what changed in atom.toml and atom.lock (or, with `--json`, the
/// report and the lock's atoms), cargo's way: one line per change, then
/// what was written.
pub fn report(report: &LockReport, global: &Global) -> miette::Result<()> {
    warn(&report.warnings, global);
    if let (Some(conversion), false) = (&report.converted, global.quiet) {
        eprintln!("note: {conversion}");
    }
    if global.json {
        return json(report);
    }
    if global.quiet {
        return Ok(());
    }
    for r in &report.requirements {
        let (label, set) = (&r.label, &r.set);
        match (&r.old, &r.new) {
            (None, Some(n)) => outln!("{:>9} {label} {n} to [deps.from.{set}]", "adding"),
            (Some(o), Some(n)) => {
                outln!("{:>9} {label} {o} -> {n} in [deps.from.{set}]", "changing")
            }
            (Some(o), None) => outln!("{:>9} {label} {o} from [deps.from.{set}]", "removing"),
            (None, None) => {}
        }
    }
    for c in &report.changes {
        let label = &c.label;
        match (&c.old, &c.new) {
            (None, Some(n)) => outln!("{:>9} {label} {n}", "locking"),
            (Some(o), Some(n)) => outln!("{:>9} {label} {o} -> {n}", "updating"),
            (Some(o), None) => outln!("{:>9} {label} {o}", "unlocking"),
            (None, None) => {}
        }
    }
    outln!("{}", summary(report));
    Ok(())
}

/// The last line: what was (or would be) written.
fn summary(report: &LockReport) -> String {
    let atoms = report.lock.atoms().len();
    let files = match (report.manifest_changed, report.lock_changed) {
        (true, true) => "atom.toml and atom.lock",
        (true, false) => "atom.toml",
        (false, true) if report.lock_created => "a new atom.lock",
        (false, true) => "atom.lock",
        (false, false) => return format!("atom.lock is up to date ({atoms} atoms)"),
    };
    let versions = match report.changes.is_empty() {
        true => "; no locked version changed",
        false => "",
    };
    match report.dry_run {
        true => format!("dry run: would write {files} ({atoms} atoms{versions}); nothing written"),
        false => format!("wrote {files} ({atoms} atoms{versions})"),
    }
}

fn json(report: &LockReport) -> miette::Result<()> {
    let atoms: Vec<_> = report
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
    output::json(&serde_json::json!({
        "schema": output::JSON_SCHEMA,
        "up_to_date": report.up_to_date(),
        "dry_run": report.dry_run,
        "lock_created": report.lock_created,
        "lock_changed": report.lock_changed,
        "manifest_changed": report.manifest_changed,
        "requirements": report.requirements,
        "changes": report.changes,
        "atoms": atoms,
    }))
}
