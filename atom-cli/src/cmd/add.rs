//! `eka add`: add dependencies to atom.toml and lock them.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    dry_run: deps::DryRun,
    /// Atoms to depend on: `<repository>::<label>[@<requirement>]`, e.g.
    /// `gh:owner/repo::lib@^1`; without a requirement, `^<resolved version>`
    #[arg(required = true, value_name = "URI")]
    uris: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let report = atom_ops::deps::add(
        &cwd,
        &args.uris,
        deps::options(global, args.dry_run.dry_run),
    )?;
    let mut json = deps::JsonReports::new(false);
    deps::report(&cwd, &report, global, &mut json)?;
    json.print(global)?;
    Ok(ExitCode::SUCCESS)
}
