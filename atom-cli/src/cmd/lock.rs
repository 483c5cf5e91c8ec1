//! `eka lock`: bring atom.lock in line with atom.toml.

use std::process::ExitCode;

use atom_lock::project::{self, Keep, LockState};
use miette::miette;

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
    let p = deps::project()?;
    if args.check {
        let lock = match p.lock {
            LockState::Missing => {
                return Err(miette!(
                    code = "eka::lock::missing",
                    help = "run `eka lock` and commit atom.lock",
                    "there is no atom.lock beside {}",
                    p.manifest_path().display()
                ))
            }
            LockState::Invalid(e) => return Err(e.into()),
            LockState::Valid(ref l) => l,
        };
        let reasons = project::stale_reasons(
            &project::root_input_at(&p.manifest, &p.manifest_path(), &p.manifest_text)?,
            lock,
        );
        if global.json {
            output::json(
                &serde_json::json!({ "up_to_date": reasons.is_empty(), "stale": reasons }),
            )?;
            return Ok(if reasons.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        if !reasons.is_empty() {
            return Err(miette!(
                code = "eka::lock::stale",
                help = "run `eka lock` and commit atom.lock",
                "atom.lock is not in line with atom.toml:\n  - {}",
                reasons.join("\n  - ")
            ));
        }
        if !global.quiet {
            println!("atom.lock is up to date ({} atoms)", lock.atoms().len());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let old = deps::old_lock(&p, global);
    let locked = deps::lock(
        &p.dir,
        &p.manifest,
        &p.manifest_text,
        old,
        &Keep::Locked,
        global,
    )?;
    if locked.resolution.is_some() || !matches!(p.lock, LockState::Valid(_)) {
        project::write_both(&p.dir, None, &locked.lock)?;
    }
    deps::report(&locked, global, "locking")?;
    Ok(ExitCode::SUCCESS)
}
