//! `eka show`: one version's manifest (fetching only its blob), atom id,
//! commit and origin.

use std::process::ExitCode;

use atom_format::terminal::{escape_line, escape_text};
use atom_lock::registry::{self, QueryWarning};

use super::query::{self, MirrorArgs};
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// The atom, `<repository>::<label>[@<requirement>]`; the highest
    /// version matching the requirement (or the newest release) is shown
    uri: String,
    #[command(flatten)]
    mirrors: MirrorArgs,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    label: &'a atom_format::Label,
    version: String,
    id: Option<atom_format::AtomId>,
    commit: String,
    origin: Option<String>,
    root: Option<String>,
    namespace: registry::Namespace,
    repository: &'a str,
    manifest_ref: String,
    manifest_blob: String,
    manifest_text: &'a str,
    /// The manifest as data (`null` if it is not valid TOML).
    manifest: Option<toml::Table>,
    warnings: &'a [QueryWarning],
    /// Offline: when the kept listing answering was made (seconds since
    /// the epoch); absent when the remotes were asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_at: Option<u64>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let target = query::query_target(&args.uri, &args.mirrors, global)?;
    let listings = query::listings(global)?;
    let show = atom_ops::query::show(&target, &global.connections(), listings)?;
    query::warn(&show.warnings, global);
    query::note_kept_at(show.listed, &show.answered, global);
    let (entry, manifest) = (&show.entry, &show.manifest);
    if global.json {
        output::json(&Report {
            label: &show.label,
            version: entry.version.to_string(),
            id: show.id,
            commit: entry.commit.to_string(),
            origin: entry.origin.map(|o| o.to_string()),
            root: show.root.map(|r| r.to_string()),
            namespace: entry.namespace,
            repository: show.repository.as_str(),
            manifest_ref: show.manifest_ref.clone(),
            manifest_blob: manifest.blob.to_string(),
            manifest_text: &manifest.text,
            manifest: toml::from_str::<toml::Table>(&manifest.text).ok(),
            warnings: &show.warnings,
            listed_at: query::epoch_seconds(show.listed),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let none = || "-".to_owned();
    let rows = [
        ("label", show.label.to_string()),
        ("version", entry.version.to_string()),
        ("atom id", show.id.map_or_else(none, |i| i.to_string())),
        ("commit", entry.commit.to_string()),
        ("origin", entry.origin.map_or_else(none, |o| o.to_string())),
        ("root", show.root.map_or_else(none, |r| r.to_string())),
        (
            "manifest",
            format!("{} ({})", manifest.blob, show.manifest_ref),
        ),
        ("repository", show.repository.to_string()),
    ];
    if !global.quiet {
        for (k, v) in rows {
            outln!("{k:<10}  {}", escape_line(&v));
        }
        outln!();
    }
    // The manifest is the publisher's text: its control characters are
    // shown, not sent to the terminal (`--json` has it as it is).
    out!("{}", escape_text(&manifest.text));
    if !manifest.text.ends_with('\n') {
        outln!();
    }
    Ok(ExitCode::SUCCESS)
}
