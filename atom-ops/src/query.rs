//! Zero-evaluation queries of remote registries: the versions of an atom
//! ([`versions`]), every atom of a repository ([`list`]), and one version's
//! manifest ([`show`]). Versions come from ref listings alone; `show`
//! fetches one small blob.

use std::path::Path;

use atom_format::{AtomId, Label, Manifest};
use atom_git::Connections;
use atom_lock::registry::listings::{self, Listings};
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
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(atom_git::CacheError),
    #[error("`{uri}` names no repository to ask")]
    #[diagnostic(code(eka::query::no_repository))]
    NoRepository { uri: String, label: Label },
    /// Offline, the manifest of a version whose listing is kept, but not
    /// its manifest (an earlier `eka show` of another version).
    #[error("the manifest of {label}@{version} on `{url}` is not cached, and the network may not be used")]
    #[diagnostic(code(eka::query::offline))]
    ManifestNotCached {
        label: Label,
        version: Version,
        url: RepoUrl,
    },
}

pub use atom_lock::registry::query::is_local;

/// How queries use the listings kept in eka's cache (see
/// [`atom_lock::registry::listings`]): online, they keep what they list;
/// under `--offline`, they answer from it. Without a cache directory
/// (neither `XDG_CACHE_HOME` nor `HOME`), online queries keep nothing and
/// offline ones fail.
pub fn listings_for(offline: bool) -> Result<Listings, QueryError> {
    match (atom_git::cache::default_dir(), offline) {
        (Ok(dir), false) => Ok(Listings::Keep(dir)),
        (Ok(dir), true) => Ok(Listings::Offline(dir)),
        (Err(_), false) => Ok(Listings::Live),
        (Err(e), true) => Err(QueryError::Cache(e)),
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
    listings: Listings,
) -> Result<VersionsReport, QueryError> {
    let options = QueryOptions {
        listings,
        ..QueryOptions::default()
    };
    let listing = registry::list_atom_versions(connections, &target.urls, &target.label, &options)?;
    let selected = match &target.req {
        Some(req) => Some(listing.select(&target.label, Some(req))?.version.clone()),
        None => None,
    };
    Ok(VersionsReport { listing, selected })
}

/// Every atom of a repository, with its versions.
pub fn list(
    urls: &[RepoUrl],
    connections: &Connections,
    listings: Listings,
) -> Result<Listing, QueryError> {
    let options = QueryOptions {
        listings,
        ..QueryOptions::default()
    };
    Ok(registry::list_repo(connections, urls, &options)?)
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
    /// Offline: when the kept listing it came from was made.
    pub listed: Option<std::time::SystemTime>,
    /// The repositories that answered the listing.
    pub answered: Vec<RepoUrl>,
}

/// The version of `target` its requirement selects (or the newest
/// release), with its manifest fetched from the first mirror that lists it
/// (the next on failure) and checked against its refs.
pub fn show(
    target: &AtomTarget,
    connections: &Connections,
    listings: Listings,
) -> Result<ShowReport, QueryError> {
    let options = QueryOptions {
        metadata: true,
        listings,
        ..QueryOptions::default()
    };
    let listing = registry::list_atom_versions(connections, &target.urls, &target.label, &options)?;
    let mut warnings = listing.warnings.clone();
    let entry = listing.select(&target.label, target.req.as_ref())?.clone();
    let want = entry.manifest_want(&target.label);
    let (manifest, repository) = match &options.listings {
        Listings::Offline(cache) => {
            kept_manifest(connections, cache, &listing, &entry, &want, target)?
        }
        _ => fetch_manifest(connections, &listing, &entry, &want, &mut warnings)?,
    };
    if let (Listings::Keep(cache), false) = (&options.listings, is_local(&repository)) {
        let kept =
            listings::keep_manifest(cache, repository.as_str(), manifest.blob, &manifest.text);
        if let Err(e) = kept {
            warnings.push(QueryWarning::NotKept {
                url: repository.to_string(),
                why: e.to_string(),
            });
        }
    }
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
        listed: listing.listed,
        answered: listing.answered.clone(),
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

/// Offline: the manifest `want` from a repository on this machine that
/// lists `entry`, or as kept by an earlier `eka show` of a remote.
fn kept_manifest(
    connections: &Connections,
    cache: &Path,
    listing: &Listing,
    entry: &VersionEntry,
    want: &ManifestWant,
    target: &AtomTarget,
) -> Result<(FetchedManifest, RepoUrl), QueryError> {
    let listing_it = listing
        .answered
        .iter()
        .filter(|u| entry.mirrors.iter().any(|m| m == u.as_str()));
    for url in listing_it {
        if is_local(url) {
            if let Ok(mut m) =
                registry::fetch_manifests(connections, url, std::slice::from_ref(want))
            {
                return Ok((m.remove(0), url.clone()));
            }
            continue;
        }
        let Some(blob) = want.blob else { continue };
        let text = listings::kept_manifest(cache, url.as_str(), blob).map_err(|e| {
            RegistryError::NotCached {
                urls: vec![format!("{url} ({e})")],
            }
        })?;
        if let Some(text) = text {
            let manifest = FetchedManifest {
                label: target.label.clone(),
                version: entry.version.clone(),
                blob,
                text,
            };
            return Ok((manifest, url.clone()));
        }
    }
    Err(QueryError::ManifestNotCached {
        label: target.label.clone(),
        version: entry.version.clone(),
        url: listing.answered[0].clone(),
    })
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
