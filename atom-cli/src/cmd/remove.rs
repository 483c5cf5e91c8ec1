//! `eka remove`: remove dependencies from atom.toml and the lock.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    dry_run: deps::DryRun,
    /// Labels of the dependencies to remove
    #[arg(required = true, value_name = "LABEL")]
    labels: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let report = atom_ops::deps::remove(
        &cwd,
        &args.labels,
        deps::options(global, args.dry_run.dry_run),
    )?;
    let mut json = deps::JsonReports::new(false);
    deps::report(&cwd, &report, global, &mut json)?;
    json.print(global)?;
    Ok(ExitCode::SUCCESS)
}
