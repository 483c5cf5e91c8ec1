//! `eka remove`: remove dependencies from atom.toml and the lock.

use std::process::ExitCode;

use atom_format::Manifest;
use atom_lock::project::{self, Keep, ManifestEdit};

use crate::cmd::deps;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Labels of the dependencies to remove
    #[arg(required = true, value_name = "LABEL")]
    labels: Vec<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let p = deps::project()?;
    let mut edit = ManifestEdit::new(&p.manifest_text)?;
    for l in &args.labels {
        edit.remove(l)?;
    }
    let text = edit.text();
    let name = p.manifest_path().display().to_string();
    let manifest = Manifest::parse(&name, &text)?;
    let old = deps::old_lock(&p, global);
    let locked = deps::lock(&p.dir, &manifest, &text, old, &Keep::Locked, global)?;
    project::write_both(&p.dir, Some(&text), &locked.lock)?;
    deps::report(&locked, global, "adding")?;
    Ok(ExitCode::SUCCESS)
}
