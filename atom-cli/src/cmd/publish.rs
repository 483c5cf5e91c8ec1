//! `eka publish`: publish atoms of a commit to a remote.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atom_format::publish::{self, PublishOptions, Selection, Status};
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
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let repo_root = repo_root(&cwd)?;
    let selection = if args.all {
        Selection::All
    } else if args.paths.is_empty() {
        Selection::Paths(vec![enclosing_atom(&cwd, &repo_root)?])
    } else {
        Selection::Paths(
            args.paths
                .iter()
                .map(|p| relative_to_root(&cwd, &repo_root, p))
                .collect::<miette::Result<_>>()?,
        )
    };
    let opts = PublishOptions {
        rev: args.rev,
        remote: args.remote,
        selection,
        dry_run: args.dry_run,
    };
    let report = publish::publish(&cwd, &opts)?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    if global.verbose {
        for (phase, ms) in &report.timings_ms {
            eprintln!("{phase}: {ms:.1} ms");
        }
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
            println!(
                "dry run: {new} to publish to {}; nothing written",
                report.remote
            );
        } else if new == 0 {
            println!("{} up to date", report.remote);
        } else {
            println!(
                "published {new} to {} ({} refs)",
                report.remote,
                report.pushed_refs.len()
            );
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

/// The work tree root of the repository containing `cwd`.
fn repo_root(cwd: &Path) -> miette::Result<PathBuf> {
    let repo = atom_format::git::open(cwd)?;
    let root = repo.workdir().unwrap_or(repo.git_dir());
    Ok(root.canonicalize().unwrap_or_else(|_| root.to_owned()))
}

/// A user-given path as a `/`-separated path relative to the repository root.
fn relative_to_root(cwd: &Path, root: &Path, p: &Path) -> miette::Result<String> {
    let abs = normalize(&cwd.join(p));
    let rel = abs.strip_prefix(root).map_err(|_| {
        miette::miette!(
            help = "atom paths are directories inside the repository being published",
            "`{}` is outside the repository at `{}`",
            p.display(),
            root.display()
        )
    })?;
    Ok(rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/"))
}

/// The atom directory containing `cwd` (the nearest ancestor with an
/// atom.toml in the work tree).
fn enclosing_atom(cwd: &Path, root: &Path) -> miette::Result<String> {
    let cwd = normalize(cwd);
    let mut dir = cwd.as_path();
    while dir.starts_with(root) && dir != root {
        if dir.join(atom_format::manifest::MANIFEST_FILE).is_file() {
            return relative_to_root(dir, root, Path::new("."));
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => break,
        }
    }
    Err(miette::miette!(
        help = "name atom directories (`eka publish path/to/atom`) or pass --all",
        "nothing to publish: the current directory is not inside an atom"
    ))
}

/// Resolves `.` and `..` lexically and follows symlinks where the path exists.
fn normalize(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
