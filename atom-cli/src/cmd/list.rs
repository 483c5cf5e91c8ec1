//! `eka list`: every atom of a remote and its versions, from one ref listing.

use std::process::ExitCode;

use atom_lock::registry::{self, QueryWarning, VersionEntry};

use super::query::{self, MirrorArgs};
use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// The repository: a URL, a path or an alias such as `gh:owner/repo`
    repository: String,
    #[command(flatten)]
    mirrors: MirrorArgs,
}

#[derive(serde::Serialize)]
struct Atom<'a> {
    label: &'a atom_format::Label,
    id: Option<atom_format::AtomId>,
    versions: &'a [VersionEntry],
    /// The yanks of its yanked versions, read from their tags, as
    /// `eka versions` reports them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    yanked: Vec<query::Yanked>,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    repositories: Vec<&'a str>,
    root: Option<String>,
    atoms: Vec<Atom<'a>>,
    warnings: &'a [QueryWarning],
    /// Offline: when the kept listing answering was made (seconds since
    /// the epoch); absent when the remotes were asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    listed_at: Option<u64>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let urls = query::repo_target(&args.repository, &args.mirrors, global)?;
    let connections = global.connections();
    let listing = atom_ops::query::list(&urls, &connections, query::listings(global)?)?;
    query::warn(&listing.warnings, global);
    query::note_kept(&listing, global);
    let yanks = query::yanks(&listing, &connections);
    query::note_unkept(&yanks, global);
    if global.json {
        output::json(&Report {
            repositories: listing.answered.iter().map(|u| u.as_str()).collect(),
            root: listing.root.map(|r| r.to_string()),
            atoms: listing
                .atoms
                .iter()
                .map(|(label, versions)| Atom {
                    label,
                    id: listing.atom_id(label),
                    versions,
                    yanked: query::yanked_of(&yanks, label),
                })
                .collect(),
            warnings: &listing.warnings,
            listed_at: query::epoch_seconds(listing.listed),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if global.verbose > 0 {
        let mut rows = Vec::new();
        for (label, versions) in &listing.atoms {
            for v in versions {
                rows.push(vec![
                    label.to_string(),
                    v.version.to_string(),
                    v.commit.to_string(),
                    query::notes(v, yanks.get(&(label.clone(), v.version.clone()))),
                ]);
            }
        }
        output::table(&["LABEL", "VERSION", "COMMIT", ""], &rows);
    } else {
        let rows: Vec<Vec<String>> = listing
            .atoms
            .iter()
            .map(|(label, versions)| {
                vec![
                    label.to_string(),
                    versions
                        .iter()
                        .map(|v| {
                            let lines = yanks.get(&(label.clone(), v.version.clone()));
                            let yanked = match v.is_yanked() {
                                true => format!(" ({})", query::yank_note(lines)),
                                false => String::new(),
                            };
                            format!("{}{}{yanked}", v.version, legacy_mark(v))
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            })
            .collect();
        output::table(&["LABEL", "VERSIONS"], &rows);
    }
    if !global.quiet {
        let count: usize = listing.atoms.values().map(Vec::len).sum();
        outln!(
            "{}, {} on {}",
            output::count(listing.atoms.len(), "atom"),
            output::count(count, "version"),
            listing.answered[0]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn legacy_mark(v: &VersionEntry) -> &'static str {
    match v.namespace {
        registry::Namespace::Atoms => "",
        registry::Namespace::Eka03 => " (eka 0.3)",
    }
}
