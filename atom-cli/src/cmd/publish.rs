//! `eka publish`: publish atoms of a commit to a remote.

use std::path::PathBuf;
use std::process::ExitCode;

use atom_ops::publish::{self, PublishRequest, Selection, Status};
use miette::IntoDiagnostic;

use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// Atom directories to publish (default: the atom containing the current directory)
    #[arg(conflicts_with = "all")]
    paths: Vec<PathBuf>,
    /// Publish every atom of the commit (or those listed in ekala.toml)
    #[arg(long)]
    all: bool,
    /// The remote to publish to: a configured remote's name, or a URL or path
    #[arg(long, default_value = "origin")]
    remote: String,
    /// The commit whose tree is published
    #[arg(long, default_value = "HEAD")]
    rev: String,
    /// Check and show what would be published; write and push nothing
    #[arg(long)]
    dry_run: bool,
    /// Sign each new version with an SSH key (git config eka.sign = true signs always)
    #[arg(long)]
    sign: bool,
    /// The signing key: a key file, a public key file (key in ssh-agent) or `key::ssh-ed25519 AAAA…` (default: git config eka.signingKey, else user.signingKey)
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Publish HEAD even though the work tree changes the atoms' files
    /// (what is published is what HEAD holds)
    #[arg(long)]
    allow_dirty: bool,
    /// Do not check that the atoms' dependencies can be resolved
    #[arg(long)]
    no_verify: bool,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    // As `cargo publish --offline`: publishing is talking to the remote
    // (listing its refs, pushing), even for a dry run.
    if global.offline() {
        return Err(miette::miette!(
            code = "eka::publish::offline",
            "cannot publish offline: publishing lists and pushes the remote's refs"
        ));
    }
    let cwd = std::env::current_dir().into_diagnostic()?;
    let selection = if args.all {
        Selection::All
    } else if args.paths.is_empty() {
        Selection::Enclosing
    } else {
        Selection::Dirs(args.paths)
    };
    let request = PublishRequest {
        dir: cwd.clone(),
        rev: args.rev,
        remote: args.remote,
        selection,
        dry_run: args.dry_run,
        sign: args.sign,
        key: args.key,
        allow_dirty: args.allow_dirty,
        no_verify: args.no_verify,
    };
    let report = {
        let _progress = output::Progress::start(global, "publishing");
        publish::publish(&request, &global.connections())?
    };
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if global.json {
        output::json(&report)?;
    } else if !global.quiet {
        let rows: Vec<Vec<String>> = report
            .atoms
            .iter()
            .map(|a| {
                vec![
                    a.label.to_string(),
                    a.version.to_string(),
                    status_text(a.status).to_owned(),
                    a.id.to_string(),
                    a.digest.to_string(),
                ]
            })
            .collect();
        output::table(&["LABEL", "VERSION", "STATUS", "ATOM ID", "DIGEST"], &rows);
        let new = report
            .atoms
            .iter()
            .filter(|a| a.status != Status::UpToDate)
            .count();
        if args.dry_run {
            outln!(
                "dry run: {new} to publish to {}; nothing written",
                report.remote
            );
        } else if new == 0 {
            outln!("{} up to date", report.remote);
        } else {
            outln!(
                "published {new} to {} ({})",
                report.remote,
                output::count(report.pushed_refs.len(), "ref")
            );
        }
        if let Some(signer) = report.signer {
            outln!("signed by {signer}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_text(s: Status) -> &'static str {
    match s {
        Status::Published => "published",
        Status::WouldPublish => "would publish",
        Status::UpToDate => "up to date",
    }
}
