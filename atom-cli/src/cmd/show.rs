//! `eka show`: one version's manifest (fetching only its blob), atom id,
//! commit and origin.

use std::process::ExitCode;

use atom_format::Manifest;
use atom_lock::remote::{self, FetchedManifest, QueryOptions, QueryWarning};
use atom_lock::RepoUrl;

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
    namespace: remote::Namespace,
    repository: &'a str,
    manifest_ref: String,
    manifest_blob: String,
    manifest_text: &'a str,
    /// The manifest as data (`null` if it is not valid TOML).
    manifest: Option<toml::Table>,
    warnings: &'a [QueryWarning],
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let target = query::atom_target(&args.uri, &args.mirrors, global)?;
    let options = QueryOptions {
        metadata: true,
        ..QueryOptions::default()
    };
    let connections = atom_git::Connections::default();
    let listing = remote::list_atom_versions(&connections, &target.urls, &target.label, &options)?;
    let mut warnings = listing.warnings.clone();
    let entry = listing.select(&target.label, target.req.as_ref())?;
    let want = entry.manifest_want(&target.label);

    // From the first mirror that lists the version; the next on failure.
    let mut fetched: Option<(FetchedManifest, &RepoUrl)> = None;
    let mut last_err = None;
    for url in listing
        .answered
        .iter()
        .filter(|u| entry.mirrors.iter().any(|m| m == u.as_str()))
    {
        match remote::fetch_manifests(&connections, url, std::slice::from_ref(&want)) {
            Ok(mut m) => {
                fetched = Some((m.remove(0), url));
                break;
            }
            Err(e) => {
                warnings.push(QueryWarning::Unreachable {
                    url: url.to_string(),
                    why: e.to_string(),
                });
                last_err = Some(e);
            }
        }
    }
    let (manifest, url) = match (fetched, last_err) {
        (Some(f), _) => f,
        (None, Some(e)) => return Err(e.into()),
        (None, None) => unreachable!("a selected version is listed by at least one mirror"),
    };

    // Check what the blob says against what its ref says.
    let table = toml::from_str::<toml::Table>(&manifest.text).ok();
    match Manifest::parse(&want.manifest_ref(), &manifest.text) {
        Ok(m) if m.package.label != target.label || m.package.version != entry.version => warnings
            .push(QueryWarning::IgnoredRef {
                url: url.to_string(),
                name: want.manifest_ref(),
                why: format!(
                    "the manifest declares {}@{}",
                    m.package.label, m.package.version
                ),
            }),
        Ok(_) => {}
        Err(e) => warnings.push(QueryWarning::IgnoredRef {
            url: url.to_string(),
            name: want.manifest_ref(),
            why: format!("invalid manifest: {}", e.message),
        }),
    }
    query::warn(&warnings, global);

    let id = listing.atom_id(&target.label);
    if global.json {
        output::json(&Report {
            label: &target.label,
            version: entry.version.to_string(),
            id,
            commit: entry.commit.to_string(),
            origin: entry.origin.map(|o| o.to_string()),
            root: listing.root.map(|r| r.to_string()),
            namespace: entry.namespace,
            repository: url.as_str(),
            manifest_ref: want.manifest_ref(),
            manifest_blob: manifest.blob.to_string(),
            manifest_text: &manifest.text,
            manifest: table,
            warnings: &warnings,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let none = || "-".to_owned();
    let rows = [
        ("label", target.label.to_string()),
        ("version", entry.version.to_string()),
        ("atom id", id.map_or_else(none, |i| i.to_string())),
        ("commit", entry.commit.to_string()),
        ("origin", entry.origin.map_or_else(none, |o| o.to_string())),
        ("root", listing.root.map_or_else(none, |r| r.to_string())),
        (
            "manifest",
            format!("{} ({})", manifest.blob, want.manifest_ref()),
        ),
        ("repository", url.to_string()),
    ];
    if !global.quiet {
        for (k, v) in rows {
            println!("{k:<10}  {v}");
        }
        println!();
    }
    print!("{}", manifest.text);
    if !manifest.text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
