//! Zero-evaluation queries of remote registries: the versions of an atom
//! ([`versions`]), every atom of a repository ([`list`]), and one version's
//! manifest ([`show`]). Versions come from ref listings alone; `show`
//! fetches one small blob.

use std::path::Path;

use atom_format::{AtomId, Label, Manifest};
use atom_git::Connections;
use atom_lock::registry::{
    self, FetchedManifest, Listing, ManifestWant, QueryOptions, QueryWarning, RegistryError,
    VersionEntry,
};
use atom_lock::{AtomUri, ConfigError, RepoUrl, UriError};
use semver::{Version, VersionReq};

use crate::{aliases_at, Warning};

/// Why a query could not answer.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum QueryError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Uri(#[from] UriError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Config(#[from] ConfigError),
    #[error("`{uri}` names no repository to ask")]
    #[diagnostic(code(eka::query::no_repository))]
    NoRepository { uri: String, label: Label },
    /// Offline, with no repository on this machine to ask: eka keeps no
    /// copy of a remote's refs (its cache holds atoms, not listings).
    #[error("the refs of `{url}` are not cached, and the network may not be used: eka keeps no copy of a remote's ref listing")]
    #[diagnostic(code(eka::query::offline))]
    Offline { url: RepoUrl },
}

/// Whether `url` is a repository on this machine (a path or a `file://`
/// URL): asking it uses no network.
pub fn is_local(url: &RepoUrl) -> bool {
    match url {
        RepoUrl::Path(_) => true,
        RepoUrl::Url(u) => u.scheme() == "file",
    }
}

/// Of `urls` (a repository and its mirrors), those that can be asked
/// without the network; none is an error naming the first.
pub fn offline_urls(urls: Vec<RepoUrl>) -> Result<Vec<RepoUrl>, QueryError> {
    let local: Vec<RepoUrl> = urls.iter().filter(|u| is_local(u)).cloned().collect();
    match (local.is_empty(), urls.into_iter().next()) {
        (true, Some(url)) => Err(QueryError::Offline { url }),
        _ => Ok(local),
    }
}

/// An atom named by URI, on a repository and its mirrors.
#[derive(Clone, Debug)]
pub struct AtomTarget {
    /// The URI's repository, then the mirrors given beside it.
    pub urls: Vec<RepoUrl>,
    pub label: Label,
    pub req: Option<VersionReq>,
}

/// Reads `uri` (`<repository>::<label>[@<requirement>]`) and `mirrors`
/// with the aliases in effect in `dir`.
pub fn atom_target(
    uri: &str,
    mirrors: &[String],
    dir: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<AtomTarget, QueryError> {
    let aliases = aliases_at(dir, warnings)?;
    let parsed = AtomUri::parse(uri, &aliases)?;
    let Some(repo) = parsed.repo else {
        return Err(QueryError::NoRepository {
            uri: uri.to_owned(),
            label: parsed.label,
        });
    };
    let repo_text = uri.rsplit_once("::").map_or(uri, |(r, _)| r);
    let repo = crate::named_repository(repo_text, repo, dir, warnings);
    Ok(AtomTarget {
        urls: with_mirrors(repo, mirrors, &aliases)?,
        label: parsed.label,
        req: parsed.req,
    })
}

/// Reads a repository (URL, path or alias) and its `mirrors` with the
/// aliases in effect in `dir`.
pub fn repo_target(
    repo: &str,
    mirrors: &[String],
    dir: &Path,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<RepoUrl>, QueryError> {
    let aliases = aliases_at(dir, warnings)?;
    let url = RepoUrl::parse(repo, &aliases)?;
    let url = crate::named_repository(repo, url, dir, warnings);
    with_mirrors(url, mirrors, &aliases)
}

fn with_mirrors(
    first: RepoUrl,
    mirrors: &[String],
    aliases: &atom_lock::Aliases,
) -> Result<Vec<RepoUrl>, QueryError> {
    let mut urls = vec![first];
    for m in mirrors {
        let url = RepoUrl::parse(m, aliases)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// The versions of an atom, and the one its requirement selects.
#[derive(Debug)]
pub struct VersionsReport {
    pub listing: Listing,
    /// The highest version matching the requirement (none without one).
    pub selected: Option<Version>,
}

impl VersionsReport {
    /// The atom's versions, newest first.
    pub fn versions<'a>(&'a self, label: &Label) -> &'a [VersionEntry] {
        self.listing.versions(label)
    }
}

/// The versions of `target`'s atom, from one ref listing per mirror.
pub fn versions(
    target: &AtomTarget,
    connections: &Connections,
) -> Result<VersionsReport, QueryError> {
    let listing = registry::list_atom_versions(
        connections,
        &target.urls,
        &target.label,
        &QueryOptions::default(),
    )?;
    let selected = match &target.req {
        Some(req) => Some(listing.select(&target.label, Some(req))?.version.clone()),
        None => None,
    };
    Ok(VersionsReport { listing, selected })
}

/// Every atom of a repository, with its versions.
pub fn list(urls: &[RepoUrl], connections: &Connections) -> Result<Listing, QueryError> {
    Ok(registry::list_repo(
        connections,
        urls,
        &QueryOptions::default(),
    )?)
}

/// One version of an atom: its refs and its manifest.
#[derive(Debug)]
pub struct ShowReport {
    pub label: Label,
    pub entry: VersionEntry,
    pub id: Option<AtomId>,
    pub root: Option<gix::ObjectId>,
    /// The mirror the manifest came from.
    pub repository: RepoUrl,
    pub manifest_ref: String,
    pub manifest: FetchedManifest,
    pub warnings: Vec<QueryWarning>,
}

/// The version of `target` its requirement selects (or the newest
/// release), with its manifest fetched from the first mirror that lists it
/// (the next on failure) and checked against its refs.
pub fn show(target: &AtomTarget, connections: &Connections) -> Result<ShowReport, QueryError> {
    let options = QueryOptions {
        metadata: true,
        ..QueryOptions::default()
    };
    let listing = registry::list_atom_versions(connections, &target.urls, &target.label, &options)?;
    let mut warnings = listing.warnings.clone();
    let entry = listing.select(&target.label, target.req.as_ref())?.clone();
    let want = entry.manifest_want(&target.label);
    let (manifest, repository) =
        fetch_manifest(connections, &listing, &entry, &want, &mut warnings)?;
    if let Some(w) = manifest_mismatch(&repository, &want, &manifest, &target.label, &entry) {
        warnings.push(w);
    }
    Ok(ShowReport {
        id: listing.atom_id(&target.label),
        root: listing.root,
        label: target.label.clone(),
        entry,
        repository,
        manifest_ref: want.manifest_ref(),
        manifest,
        warnings,
    })
}

/// The manifest `want` from the first mirror listing `entry` that gives
/// it; the mirrors that fail are warnings.
fn fetch_manifest(
    connections: &Connections,
    listing: &Listing,
    entry: &VersionEntry,
    want: &ManifestWant,
    warnings: &mut Vec<QueryWarning>,
) -> Result<(FetchedManifest, RepoUrl), QueryError> {
    let mut last_err = None;
    let listing_it = listing
        .answered
        .iter()
        .filter(|u| entry.mirrors.iter().any(|m| m == u.as_str()));
    for url in listing_it {
        match registry::fetch_manifests(connections, url, std::slice::from_ref(want)) {
            Ok(mut m) => return Ok((m.remove(0), url.clone())),
            Err(e) => {
                warnings.push(QueryWarning::Unreachable {
                    url: url.to_string(),
                    why: e.to_string(),
                });
                last_err = Some(e);
            }
        }
    }
    Err(last_err
        .expect("a selected version is listed by at least one mirror")
        .into())
}

/// A warning when the manifest does not declare the version its ref names,
/// or does not parse.
fn manifest_mismatch(
    url: &RepoUrl,
    want: &ManifestWant,
    manifest: &FetchedManifest,
    label: &Label,
    entry: &VersionEntry,
) -> Option<QueryWarning> {
    let why = match Manifest::parse(&want.manifest_ref(), &manifest.text) {
        Ok(m) if &m.package.label != label || m.package.version != entry.version => format!(
            "the manifest declares {}@{}",
            m.package.label, m.package.version
        ),
        Ok(_) => return None,
        Err(e) => format!("invalid manifest: {}", e.message),
    };
    Some(QueryWarning::IgnoredRef {
        url: url.to_string(),
        name: want.manifest_ref(),
        why,
    })
}
