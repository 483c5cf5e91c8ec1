//! `eka update`: move dependencies to the highest allowed versions.

use std::process::ExitCode;

use atom_format::Label;
use atom_lock::project::{self, Keep, ProjectError};

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Labels of locked atoms to update (default: all)
    #[arg(value_name = "LABEL")]
    labels: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let p = deps::project()?;
    let old = deps::old_lock(&p, global);
    let keep = if args.labels.is_empty() {
        Keep::Nothing
    } else {
        let mut labels = Vec::new();
        for l in &args.labels {
            let label = Label::parse(l).map_err(|_| ProjectError::NotLocked(l.clone()))?;
            if old.is_none_or(|lock| lock.by_label(&label).next().is_none()) {
                return Err(ProjectError::NotLocked(l.clone()).into());
            }
            labels.push(label);
        }
        Keep::AllBut(labels)
    };
    let locked = deps::lock(&p.dir, &p.manifest, &p.manifest_text, old, &keep, global)?;
    project::write_both(&p.dir, None, &locked.lock)?;
    deps::report(&locked, global, "locking")?;
    Ok(ExitCode::SUCCESS)
}
