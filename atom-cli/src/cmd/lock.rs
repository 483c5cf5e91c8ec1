//! `eka lock`: bring atom.lock in line with atom.toml.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use miette::{miette, IntoDiagnostic};

use crate::cmd::deps;
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// Change nothing; fail if atom.lock is missing, does not verify, or is
    /// not in line with atom.toml (for CI)
    #[arg(long)]
    check: bool,
    /// Every atom of the repository (each directory holding an atom.toml),
    /// not only the one around the current directory
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    dry_run: deps::DryRun,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let dirs = deps::targets(&cwd, args.all)?;
    if args.check {
        return check(&dirs, global);
    }
    let mut json = deps::JsonReports::new(args.all);
    for dir in &dirs {
        deps::heading(dir, &dirs, global);
        let report = {
            let _progress = output::Progress::start(global, "locking");
            atom_ops::deps::lock(dir, deps::options(global, args.dry_run.dry_run))?
        };
        deps::report(dir, &report, global, &mut json)?;
    }
    json.print(global)?;
    Ok(ExitCode::SUCCESS)
}

/// `--check`: every atom's lock in line, or a failure listing why not.
fn check(dirs: &[PathBuf], global: &Global) -> miette::Result<ExitCode> {
    let mut stale = Vec::new();
    let mut atoms = 0;
    let mut results = Vec::new();
    for dir in dirs {
        let report = atom_ops::deps::check(dir)?;
        atoms += report.atoms;
        let name = display(dir, dirs);
        stale.extend(report.stale.iter().map(|r| match dirs.len() {
            1 => r.clone(),
            _ => format!("{name}: {r}"),
        }));
        results.push(serde_json::json!({
            "dir": dir,
            "up_to_date": report.stale.is_empty(),
            "stale": report.stale,
        }));
    }
    let up_to_date = stale.is_empty();
    if global.json {
        output::json(&serde_json::json!({
            "up_to_date": up_to_date,
            "stale": stale,
            "atoms": results,
        }))?;
        return Ok(match up_to_date {
            true => ExitCode::SUCCESS,
            false => ExitCode::FAILURE,
        });
    }
    if !up_to_date {
        return Err(miette!(
            code = "eka::lock::stale",
            help = "run `eka lock` and commit atom.lock",
            "atom.lock is not in line with atom.toml:\n  - {}",
            stale.join("\n  - ")
        ));
    }
    if !global.quiet {
        match dirs.len() {
            1 => outln!("atom.lock is up to date ({})", output::count(atoms, "atom")),
            n => outln!(
                "{n} atoms, every atom.lock in line ({})",
                output::count(atoms, "locked atom")
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn display(dir: &Path, dirs: &[PathBuf]) -> String {
    deps::name(dir, dirs)
}
