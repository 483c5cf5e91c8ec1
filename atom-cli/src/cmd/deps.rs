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
            eprintln!("warning: {}", escape_line(&warning_text(w)));
        }
    }
}

/// A warning, with what to run about it when there is something.
fn warning_text(w: &Warning) -> String {
    use atom_lock::resolve::ResolveWarning;
    match w {
        Warning::Resolve(ResolveWarning::Yanked { label, .. }) => {
            format!("{w} (`eka update {label}` moves off it)")
        }
        _ => w.to_string(),
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
        network: global.network,
    }
}

/// `--dry-run`, for the commands that may write atom.toml or atom.lock.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct DryRun {
    /// Resolve and show what would change; write nothing
    #[arg(long)]
    pub dry_run: bool,
}

/// The `--json` output of a command over one atom or, with `--all`, over
/// several: one document either way, the atom's report or
/// `{"atoms": [{"dir": …, …its report}]}`.
pub struct JsonReports {
    all: bool,
    reports: Vec<serde_json::Value>,
}

impl JsonReports {
    pub fn new(all: bool) -> Self {
        JsonReports {
            all,
            reports: Vec::new(),
        }
    }

    /// Adds the report of the atom in `dir` (a JSON object).
    pub fn push(&mut self, dir: &Path, mut report: serde_json::Value) {
        if let (true, Some(fields)) = (self.all, report.as_object_mut()) {
            fields.insert("dir".to_owned(), serde_json::json!(dir));
        }
        self.reports.push(report);
    }

    /// Prints the one document (nothing without `--json`).
    pub fn print(mut self, global: &Global) -> miette::Result<()> {
        if !global.json {
            return Ok(());
        }
        match (self.all, self.reports.len()) {
            (false, 1) => output::json(&self.reports.remove(0)),
            _ => output::json(&serde_json::json!({ "atoms": self.reports })),
        }
    }
}

/// Prints what changed in atom.toml and atom.lock, cargo's way: one line
/// per change, then what was written; with `--json`, adds the report and
/// the lock's atoms to `json` instead.
pub fn report(
    dir: &Path,
    report: &LockReport,
    global: &Global,
    json: &mut JsonReports,
) -> miette::Result<()> {
    warn(&report.warnings, global);
    if let (Some(conversion), false) = (&report.converted, global.quiet) {
        eprintln!("note: {conversion}");
    }
    if global.json {
        json.push(dir, json_report(report));
        return Ok(());
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
    let atoms = output::count(report.lock.atoms().len(), "atom");
    let files = match (report.manifest_changed, report.lock_changed) {
        (true, true) => "atom.toml and atom.lock",
        (true, false) => "atom.toml",
        (false, true) if report.lock_created => "a new atom.lock",
        (false, true) => "atom.lock",
        (false, false) => return format!("atom.lock is up to date ({atoms})"),
    };
    let versions = match report.changes.is_empty() {
        true => "; no locked version changed",
        false => "",
    };
    match report.dry_run {
        true => format!("dry run: would write {files} ({atoms}{versions}); nothing written"),
        false => format!("wrote {files} ({atoms}{versions})"),
    }
}

fn json_report(report: &LockReport) -> serde_json::Value {
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
    serde_json::json!({
        "up_to_date": report.up_to_date(),
        "dry_run": report.dry_run,
        "lock_created": report.lock_created,
        "lock_changed": report.lock_changed,
        "manifest_changed": report.manifest_changed,
        "requirements": report.requirements,
        "changes": report.changes,
        "atoms": atoms,
    })
}
