//! `eka hook`: a registry's server-side hook (refuses rewrites of
//! published atoms), and its installation.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use atom_ops::hook::{self, HookRequest};
use atom_trust::hook::HookMode;
use atom_trust::Timestamp;
use miette::IntoDiagnostic;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Install `eka hook pre-receive` as the pre-receive hook of a bare repository
    Install {
        /// The bare repository the server serves
        path: PathBuf,
    },
    /// Run as git's pre-receive hook: read `<old> <new> <ref>` lines on stdin
    PreReceive,
    /// Run as git's update hook, one ref at a time
    Update {
        /// The ref being updated
        name: String,
        /// Its old value (zeros: created)
        old: String,
        /// Its new value (zeros: deleted)
        new: String,
    },
}

/// Where the pushed objects wait: git's `GIT_QUARANTINE_PATH`, else
/// `GIT_OBJECT_DIRECTORY`, which is all GitLab's Gitaly passes on to
/// custom hooks of the quarantine (the repository's own objects are then
/// an alternate).
fn quarantine() -> Option<PathBuf> {
    std::env::var_os("GIT_QUARANTINE_PATH")
        .or_else(|| std::env::var_os("GIT_OBJECT_DIRECTORY"))
        .map(PathBuf::from)
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let (mode, updates) = match args.command {
        Command::Install { path } => return install(&path, global),
        Command::PreReceive => {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .into_diagnostic()?;
            (HookMode::PreReceive, hook::parse_updates(&input)?)
        }
        Command::Update { name, old, new } => {
            let update = hook::update(&old, &new, &name).ok_or_else(|| hook::HookError::Input {
                line: format!("{old} {new} {name}"),
            })?;
            (HookMode::Update, vec![update])
        }
    };
    let request = HookRequest {
        git_dir: std::env::var_os("GIT_DIR")
            .map(PathBuf::from)
            .map_or_else(std::env::current_dir, Ok)
            .into_diagnostic()?,
        quarantine: quarantine(),
        mode,
        updates,
        now: now(),
    };
    let refusals = hook::check(&request)?;
    // git shows the hook's stderr to the pushing client, each line
    // prefixed with `remote: `.
    for refusal in &refusals {
        eprintln!("eka: refused {refusal}");
    }
    let deletes = refusals
        .iter()
        .any(|r| matches!(r.reason, atom_trust::hook::RefusalReason::Delete));
    if deletes {
        eprintln!("eka: to withdraw a published version, yank it (`eka yank`)");
    }
    Ok(if refusals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn install(path: &std::path::Path, global: &Global) -> miette::Result<ExitCode> {
    let program = std::env::current_exe().into_diagnostic()?;
    let installed = hook::install(path, &program)?;
    if global.json {
        crate::output::json(&installed)?;
    } else if !global.quiet {
        outln!(
            "installed {} (runs `{} hook pre-receive`)",
            installed.hook.display(),
            installed.program.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}
