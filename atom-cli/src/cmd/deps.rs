//! What `add`, `remove`, `lock`, `update` and `fetch` share: rendering a
//! [`LockReport`] and warnings.

use atom_format::terminal::escape_line;
use atom_ops::deps::LockReport;
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

/// Prints phase timings (`-v`).
pub fn timings(report: &LockReport, global: &Global) {
    if global.verbose {
        for (phase, took) in &report.timings {
            eprintln!("{phase}: {:.1} ms", took.as_secs_f64() * 1e3);
        }
    }
}

/// Prints what changed in the lock (or the JSON of the lock's atoms).
pub fn report(report: &LockReport, global: &Global, verb: &str) -> miette::Result<()> {
    warn(&report.warnings, global);
    timings(report, global);
    if global.json {
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
        return output::json(&serde_json::json!({
            "up_to_date": !report.resolved,
            "changes": report.changes,
            "atoms": atoms,
        }));
    }
    if global.quiet {
        return Ok(());
    }
    if report.changes.is_empty() {
        println!(
            "atom.lock is up to date ({} atoms)",
            report.lock.atoms().len()
        );
        return Ok(());
    }
    for c in &report.changes {
        let label = &c.label;
        match (&c.old, &c.new) {
            (None, Some(n)) => println!("{verb:>9} {label} {n}"),
            (Some(o), Some(n)) => println!("{:>9} {label} {o} -> {n}", "updating"),
            (Some(o), None) => println!("{:>9} {label} {o}", "removing"),
            (None, None) => {}
        }
    }
    Ok(())
}
