//! `eka init`: a repository ready to publish; running it again changes
//! nothing and says so.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use atom_ops::init::{self, InitReport, InitRequest, Step};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The repository (created with `git init` unless inside one), or an
    /// atom's directory below a repository's root
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The atom's label (default: the directory's name)
    #[arg(long)]
    label: Option<String>,
    /// The first version, when the atom is created
    #[arg(long, default_value = "0.1.0")]
    version: String,
    /// A registry to publish to, added as a git remote (URL or path)
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
    /// The name of the remote --remote adds
    #[arg(
        long,
        value_name = "NAME",
        default_value = "origin",
        requires = "remote"
    )]
    remote_name: String,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let report = init::init(&InitRequest {
        dir: args.dir.clone(),
        label: args.label,
        version: args.version,
        remote: args.remote.map(|url| (args.remote_name, url)),
    })?;
    if global.json {
        crate::output::json(&serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "changed": report.changed(),
            "repository": { "path": report.repository, "step": report.repository_step },
            "atom": {
                "path": report.atom,
                "label": report.label,
                "version": report.version.to_string(),
                "step": report.atom_step,
            },
            "module": { "path": report.module, "step": report.module_step },
            "gitignore": report.gitignore,
            "remote": report.remote,
        }))?;
    } else if !global.quiet {
        print_steps(&report, &args.dir);
        if report.changed() {
            next_steps(&report);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per step taken, or one line saying there was none.
fn print_steps(report: &InitReport, dir: &Path) {
    if !report.changed() {
        outln!(
            "Nothing to do: atom `{}` {} in {} is set up{}",
            report.label,
            report.version,
            report.atom.display(),
            match &report.remote {
                Some(r) => format!(", remote `{}` is {}", r.name, r.url),
                None => String::new(),
            }
        );
        return;
    }
    if report.repository_step == Step::Created {
        outln!("Created git repository {}", dir.display());
    }
    if report.atom_step == Step::Created {
        outln!(
            "Created atom `{}` {} in {}",
            report.label,
            report.version,
            report.atom.display()
        );
    }
    if report.module_step == Step::Created {
        outln!("Created {}", report.module.display());
    }
    if let Some(ignore) = &report.gitignore {
        let path = shown(&ignore.path);
        match ignore.step {
            Step::Created => outln!("Created {path} ({})", ignore.added.join(", ")),
            Step::Extended => outln!("Added {} to {path}", ignore.added.join(", ")),
            Step::Exists => {}
        }
    }
    if let Some(r) = report.remote.as_ref().filter(|r| r.step == Step::Created) {
        outln!("Added remote `{}`: {}", r.name, r.url);
    }
}

/// What to do next, on stderr: commit, then publish.
fn next_steps(report: &InitReport) {
    let cwd = std::env::current_dir().unwrap_or_default();
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    let root = &report.repository;
    let atom = absolute(&cwd, &report.atom);
    let in_root = atom
        .strip_prefix(root)
        .unwrap_or(&atom)
        .display()
        .to_string();
    eprintln!("next:");
    if &cwd != root {
        let shown = root.strip_prefix(&cwd).unwrap_or(root);
        eprintln!("  cd {}", shown.display());
    }
    let ignore_written = report
        .gitignore
        .as_ref()
        .is_some_and(|g| g.step != Step::Exists);
    let ignore = match ignore_written {
        true => format!(" {}", init::GITIGNORE_FILE),
        false => String::new(),
    };
    eprintln!(
        "  git add {in_root}{ignore} && git commit -m '{} {}'",
        report.label, report.version
    );
    match &report.remote {
        Some(r) if r.name == "origin" => eprintln!("  eka publish {in_root}"),
        Some(r) => eprintln!("  eka publish {in_root} --remote {}", r.name),
        None => {
            eprintln!("  eka publish {in_root} --remote <remote>   # a git remote's name or URL")
        }
    }
}

/// `path` (absolute) as the user would type it from the current
/// directory: relative when it is below it.
fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    match path.strip_prefix(&cwd) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// `path` (relative to `cwd`, or absolute) made absolute, canonical where
/// it exists.
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let joined = cwd.join(path);
    joined.canonicalize().unwrap_or(joined)
}
