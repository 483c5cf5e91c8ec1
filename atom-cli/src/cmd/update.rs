//! `eka update`: move dependencies to the highest allowed versions.

use std::process::ExitCode;

use miette::IntoDiagnostic;

use crate::cmd::deps;
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    dry_run: deps::DryRun,
    /// Labels of locked atoms to update (default: all)
    #[arg(value_name = "LABEL")]
    labels: Vec<String>,
    /// Every atom of the repository (each directory holding an atom.toml)
    #[arg(long, conflicts_with = "labels")]
    all: bool,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let dirs = deps::targets(&cwd, args.all)?;
    let mut json = deps::JsonReports::new(args.all);
    for dir in &dirs {
        deps::heading(dir, &dirs, global);
        let report = {
            let _progress = output::Progress::start(global, "updating");
            atom_ops::deps::update(
                dir,
                &args.labels,
                deps::options(global, args.dry_run.dry_run),
            )?
        };
        deps::report(dir, &report, global, &mut json)?;
    }
    json.print(global)?;
    Ok(ExitCode::SUCCESS)
}
