//! `eka update`: move dependencies to the highest allowed versions.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    dry_run: deps::DryRun,
    /// Labels of locked atoms to update (default: all)
    #[arg(value_name = "LABEL")]
    labels: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let report = atom_ops::deps::update(
        &cwd,
        &args.labels,
        deps::options(global, args.dry_run.dry_run),
    )?;
    deps::report(&report, global)?;
    Ok(ExitCode::SUCCESS)
}
