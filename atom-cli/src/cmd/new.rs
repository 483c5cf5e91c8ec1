//! `eka new`: scaffold an atom, and say what comes next.

use std::path::PathBuf;
use std::process::ExitCode;

use atom_ops::new::{self, NewReport, NewRequest};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory (created if missing), below the repository root
    path: PathBuf,
    /// The atom's label (default: the directory's name)
    #[arg(long)]
    label: Option<String>,
    /// The first version
    #[arg(long, default_value = "0.1.0")]
    version: String,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let report = new::create(&NewRequest {
        path: args.path.clone(),
        label: args.label,
        version: args.version,
    })?;
    if global.json {
        crate::output::json(&serde_json::json!({
            "path": report.manifest,
            "label": report.label,
            "version": report.version.to_string(),
        }))?;
    } else if !global.quiet {
        outln!(
            "Created atom `{}` {} in {}",
            report.label,
            report.version,
            args.path.display()
        );
        next_steps(&report, &args.path);
    }
    Ok(ExitCode::SUCCESS)
}

/// What to do next, on stderr (stdout stays the one line a script reads).
fn next_steps(report: &NewReport, path: &std::path::Path) {
    let dir = path.display();
    eprintln!("next:");
    if !report.in_repository {
        eprintln!("  git init                                   # atoms live in a git repository");
    }
    if !report.has_module {
        eprintln!("  echo '{{ Hello = \"world\"; }}' > {dir}/mod.nix  # its code: a module");
    }
    eprintln!(
        "  git add {dir} && git commit -m '{} {}'",
        report.label, report.version
    );
    eprintln!("  eka publish {dir} --remote <remote>       # a git remote's name or URL");
}
