//! `eka new`: scaffold an atom.

use std::path::PathBuf;
use std::process::ExitCode;

use atom_format::manifest::MANIFEST_FILE;
use atom_format::{Label, Manifest};
use miette::{miette, IntoDiagnostic};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The atom's directory (created if missing)
    path: PathBuf,
    /// The atom's label (default: the directory's name)
    #[arg(long)]
    label: Option<String>,
    /// The first version
    #[arg(long, default_value = "0.1.0")]
    version: String,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let label_text = match &args.label {
        Some(l) => l.clone(),
        None => args
            .path
            .canonicalize()
            .unwrap_or_else(|_| args.path.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                miette!(
                    help = "pass a label with --label",
                    "`{}` has no directory name to use as a label",
                    args.path.display()
                )
            })?,
    };
    let label = Label::parse(&label_text).map_err(|e| {
        let help = if args.label.is_some() {
            "a label starts with a letter and continues with letters, digits, `_` or `-`"
        } else {
            "the directory name is not a valid label; pass one with --label"
        };
        miette!(help = help, "invalid label `{label_text}`: {e}")
    })?;
    let version = semver::Version::parse(&args.version).map_err(|e| {
        miette!(
            help = "versions are semantic versions, like 0.1.0 or 1.0.0-rc.1",
            "invalid version `{}`: {e}",
            args.version
        )
    })?;
    let manifest_path = args.path.join(MANIFEST_FILE);
    if manifest_path.exists() {
        return Err(miette!(
            help = "edit the existing atom.toml instead",
            "`{}` already exists",
            manifest_path.display()
        ));
    }
    let text = format!(
        "[package]\nlabel = {}\nversion = \"{version}\"\n",
        toml_string(label.as_str())
    );
    // What we write must be what we read.
    Manifest::parse(&manifest_path.display().to_string(), &text)?;
    std::fs::create_dir_all(&args.path)
        .into_diagnostic()
        .map_err(|e| e.wrap_err(format!("cannot create `{}`", args.path.display())))?;
    atom_lock::files::stage(&manifest_path, text.as_bytes())
        .and_then(|new| new.commit_new())
        .map_err(|e| miette!("cannot write `{}`: {e}", manifest_path.display()))?;
    if global.json {
        crate::output::json(&serde_json::json!({
            "path": manifest_path,
            "label": label,
            "version": version.to_string(),
        }))?;
    } else if !global.quiet {
        println!(
            "Created atom `{label}` {version} in {}",
            args.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}
