//! `eka fetch`: bring the locked atoms into the local cache, checked.

use std::process::ExitCode;

use atom_lock::fetch::Status;
use miette::IntoDiagnostic;

use crate::cmd::deps;
use crate::{output, Global};

/// `--offline` (global): atom.lock and the cache alone, no network.
#[derive(clap::Args)]
pub struct Args {
    /// Every atom of the repository (each directory holding an atom.toml
    /// and an atom.lock)
    #[arg(long)]
    all: bool,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let dirs = deps::targets(&cwd, args.all)?;
    let mut json = deps::JsonReports::new(args.all);
    for dir in &dirs {
        if args.all && !dir.join(atom_lock::lock::LOCK_FILE).is_file() {
            continue;
        }
        deps::heading(dir, &dirs, global);
        fetch_one(dir, global, &mut json)?;
    }
    json.print(global)?;
    Ok(ExitCode::SUCCESS)
}

fn fetch_one(
    dir: &std::path::Path,
    global: &Global,
    json: &mut deps::JsonReports,
) -> miette::Result<()> {
    let report = {
        let _progress = output::Progress::start(global, "fetching and checking the locked atoms");
        atom_ops::deps::fetch(dir, global.offline(), &global.network)?
    };
    deps::warn(&report.warnings, global);
    let got = &report.atoms;
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
        json.push(
            dir,
            serde_json::json!({ "cache": report.cache, "atoms": atoms }),
        );
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
        outln!(
            "{} verified in {} ({fetched} fetched)",
            output::count(got.len(), "atom"),
            report.cache.display()
        );
    }
    Ok(())
}
