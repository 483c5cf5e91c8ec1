//! `eka versions`: the versions of an atom on a remote, from one ref listing.

use std::process::ExitCode;

use atom_lock::registry::{self, VersionEntry};

use super::query::{self, MirrorArgs};
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// The atom, `<repository>::<label>[@<requirement>]`, e.g.
    /// `gh:owner/repo::hello@^1`; with a requirement, the highest matching
    /// version is marked `*`
    uri: String,
    #[command(flatten)]
    mirrors: MirrorArgs,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    label: &'a atom_format::Label,
    repositories: Vec<&'a str>,
    #[serde(serialize_with = "ser_opt")]
    root: Option<String>,
    id: Option<atom_format::AtomId>,
    requirement: Option<String>,
    /// The highest version matching the requirement.
    selected: Option<String>,
    versions: &'a [VersionEntry],
    /// The yanks of yanked versions, read from their tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    yanked: Vec<query::Yanked>,
    warnings: &'a [registry::QueryWarning],
    /// Offline: when the kept listing answering was made (seconds since
    /// the epoch); absent when the remotes were asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_at: Option<u64>,
}

fn ser_opt<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v),
        None => s.serialize_none(),
    }
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let target = query::query_target(&args.uri, &args.mirrors, global)?;
    let listings = query::listings(global)?;
    let report = atom_ops::query::versions(&target, &global.connections(), listings)?;
    let (listing, selected) = (&report.listing, &report.selected);
    query::warn(&listing.warnings, global);
    query::note_kept(listing, global);
    let versions = listing.versions(&target.label);
    let connections = global.connections();
    let yanks = query::yanks(listing, &connections);
    query::note_unkept(&yanks, global);
    if global.json {
        output::json(&Report {
            label: &target.label,
            repositories: listing.answered.iter().map(|u| u.as_str()).collect(),
            root: listing.root.map(|r| r.to_string()),
            id: listing.atom_id(&target.label),
            requirement: target.req.as_ref().map(ToString::to_string),
            selected: selected.as_ref().map(ToString::to_string),
            versions,
            yanked: query::yanked_of(&yanks, &target.label),
            warnings: &listing.warnings,
            listed_at: query::epoch_seconds(listing.listed),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if !global.quiet {
        let id = listing
            .atom_id(&target.label)
            .map(|i| format!(" (atom id {i})"))
            .unwrap_or_default();
        outln!("{} on {}{id}", target.label, listing.answered[0]);
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            let mark = if selected.as_ref() == Some(&v.version) {
                "*"
            } else {
                ""
            };
            vec![
                mark.to_owned(),
                v.version.to_string(),
                v.commit.to_string(),
                query::notes(v, yanks.get(&(target.label.clone(), v.version.clone()))),
            ]
        })
        .collect();
    output::table(&["", "VERSION", "COMMIT", ""], &rows);
    if let (Some(req), Some(sel), false) = (&target.req, &selected, global.quiet) {
        outln!("* highest matching {req}: {sel}");
    }
    Ok(ExitCode::SUCCESS)
}
