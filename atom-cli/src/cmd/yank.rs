//! `eka yank`: withdraw a published version, deleting and moving nothing.

use std::process::ExitCode;

use atom_ops::yank::{self, YankRequest};
use miette::IntoDiagnostic;

use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// The version to yank, as LABEL@VERSION
    #[arg(value_name = "LABEL@VERSION")]
    atom: String,
    /// Why: one line, shown by `eka versions` and `eka list`
    #[arg(long)]
    reason: String,
    /// The registry: a configured remote's name, or a URL or path
    #[arg(long, default_value = "origin")]
    remote: String,
    /// Sign the yank with this key (default: the configured signing key; unsigned without one)
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let request = YankRequest {
        dir: cwd.clone(),
        remote: args.remote,
        atom: super::sign::parse_version(&args.atom)?,
        reason: args.reason,
        key: args.key,
    };
    let report = yank::yank(&request, &global.connections())?;
    if global.json {
        output::json(&report)?;
    } else if !global.quiet {
        let by = match report.signer {
            Some(s) => format!("signed by {s}"),
            None => "unsigned".to_owned(),
        };
        match report.already_yanked {
            true => outln!(
                "{} was already yanked on {} ({by})",
                report.atom,
                report.remote
            ),
            false => outln!("yanked {} on {} ({by})", report.atom, report.remote),
        }
    }
    Ok(ExitCode::SUCCESS)
}
