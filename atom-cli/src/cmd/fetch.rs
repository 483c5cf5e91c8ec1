//! `eka fetch`: bring the locked atoms into the local cache, checked.

use std::process::ExitCode;

use atom_git::cache::{self, Access, Cache};
use atom_lock::fetch::{self, Status, Want};
use atom_lock::project::LockState;
use miette::miette;

use crate::cmd::deps;
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// Use atom.lock and the cache alone: no network
    #[arg(long)]
    offline: bool,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let p = deps::project()?;
    let lock = match p.lock {
        LockState::Missing => {
            return Err(miette!(
                code = "eka::fetch::no_lock",
                help = "run `eka lock` first",
                "there is no atom.lock beside {}",
                p.manifest_path().display()
            ))
        }
        LockState::Invalid(e) => return Err(e.into()),
        LockState::Valid(ref l) => l,
    };
    let dir = cache::default_dir()?;
    let access = if args.offline {
        Access::Read
    } else {
        Access::Write
    };
    let cache = Cache::open(&dir, access)?;
    let wants: Vec<Want> = lock.atoms().iter().map(Want::locked).collect();
    let (got, warnings) = fetch::fetch(
        &cache,
        &atom_git::Connections::new(&p.dir),
        &p.dir,
        &wants,
        fetch::Options {
            offline: args.offline,
            check_remote: !args.offline,
        },
    )?;
    deps::warn(&warnings, global);
    let status = |s: Status| match s {
        Status::Cached => "cached",
        Status::Fetched => "fetched",
    };
    if global.json {
        let atoms: Vec<_> = got
            .iter()
            .map(|g| {
                serde_json::json!({
                    "label": g.label.as_str(),
                    "version": g.version.to_string(),
                    "id": g.id.to_string(),
                    "commit": g.commit.to_string(),
                    "digest": g.digest.to_string(),
                    "status": status(g.status),
                    "from": g.from,
                })
            })
            .collect();
        output::json(&serde_json::json!({ "cache": cache.dir(), "atoms": atoms }))?;
    } else if !global.quiet {
        let rows: Vec<Vec<String>> = got
            .iter()
            .map(|g| {
                vec![
                    g.label.to_string(),
                    g.version.to_string(),
                    status(g.status).to_owned(),
                    g.commit.to_string(),
                    g.digest.to_string(),
                ]
            })
            .collect();
        output::table(&["LABEL", "VERSION", "STATUS", "COMMIT", "DIGEST"], &rows);
        let fetched = got.iter().filter(|g| g.status == Status::Fetched).count();
        println!(
            "{} atoms verified in {} ({fetched} fetched)",
            got.len(),
            cache.dir().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
