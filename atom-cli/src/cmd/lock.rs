//! `eka lock`: bring atom.lock in line with atom.toml.

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
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    if args.check {
        return check(&cwd, global);
    }
    let report = atom_ops::deps::lock(&cwd)?;
    deps::report(&report, global, "locking")?;
    Ok(ExitCode::SUCCESS)
}

fn check(cwd: &std::path::Path, global: &Global) -> miette::Result<ExitCode> {
    let report = atom_ops::deps::check(cwd)?;
    let up_to_date = report.stale.is_empty();
    if global.json {
        output::json(&serde_json::json!({ "up_to_date": up_to_date, "stale": report.stale }))?;
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
            report.stale.join("\n  - ")
        ));
    }
    if !global.quiet {
        println!("atom.lock is up to date ({} atoms)", report.atoms);
    }
    Ok(ExitCode::SUCCESS)
}
