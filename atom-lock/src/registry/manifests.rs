//! Fetching manifests: the `atom.toml` blobs of some versions, in one fetch
//! per remote that downloads those blobs and nothing else.

use std::collections::BTreeMap;
use std::path::Path;

use atom_format::refs::{AtomRef, AtomVersion, Namespace};
use atom_format::Label;
use atom_git::Connections;
use gix::ObjectId;
use semver::Version;

use super::listing::ser_oid;
use super::{MirrorFailure, RegistryError};
use crate::RepoUrl;

/// A manifest to fetch: a version and where its blob is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestWant {
    pub version: AtomVersion,
    pub namespace: Namespace,
    /// The blob id, if a listing gave it: a store that already holds it
    /// fetches nothing.
    pub blob: Option<ObjectId>,
}

impl ManifestWant {
    /// The name of the manifest ref, in the version's namespace.
    pub fn manifest_ref(&self) -> String {
        AtomRef::Manifest(self.version.clone()).name_in(self.namespace)
    }
}

/// A fetched `atom.toml`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FetchedManifest {
    pub label: Label,
    pub version: Version,
    #[serde(serialize_with = "ser_oid")]
    pub blob: ObjectId,
    /// The blob's text (lossy UTF-8: a manifest that is not UTF-8 fails to
    /// parse anyway).
    pub text: String,
}

/// A bare git repository holding fetched manifest blobs: a temporary one
/// ([`ManifestStore::scratch`]) or a persistent cache
/// ([`ManifestStore::open`]). Blobs are content-addressed, so a cache never
/// goes stale; fetches write no refs, so concurrent processes can share it.
pub struct ManifestStore {
    repo: gix::Repository,
    _dir: Option<tempfile::TempDir>,
}

impl ManifestStore {
    /// A temporary store, deleted on drop.
    pub fn scratch() -> Result<Self, RegistryError> {
        let dir = tempfile::Builder::new()
            .prefix("eka-manifests-")
            .tempdir()
            .map_err(|e| RegistryError::Store(std::sync::Arc::new(e)))?;
        let repo =
            gix::init_bare(dir.path()).map_err(|e| RegistryError::Store(std::sync::Arc::new(e)))?;
        Ok(ManifestStore {
            repo,
            _dir: Some(dir),
        })
    }

    /// A store over an existing repository (the resolver's cache).
    pub fn with_repo(repo: gix::Repository) -> Self {
        ManifestStore { repo, _dir: None }
    }

    /// The store at `path`, created (a bare repository) if missing.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let repo = match gix::open(path) {
            Ok(r) => r,
            Err(_) => match gix::init_bare(path) {
                Ok(r) => r,
                // Another process created it meanwhile.
                Err(e) => {
                    gix::open(path).map_err(|_| RegistryError::Store(std::sync::Arc::new(e)))?
                }
            },
        };
        Ok(ManifestStore { repo, _dir: None })
    }

    /// Fetches the manifests `wanted` from `url` in one fetch (refspecs
    /// naming exactly their refs, no tags, no local refs written), reusing
    /// blobs already stored. Returns them in the order asked.
    pub fn fetch(
        &self,
        connections: &Connections,
        url: &RepoUrl,
        wanted: &[ManifestWant],
    ) -> Result<Vec<FetchedManifest>, RegistryError> {
        let url = url.to_string();
        let names: Vec<String> = wanted.iter().map(ManifestWant::manifest_ref).collect();
        let mut blobs: Vec<Option<ObjectId>> = wanted
            .iter()
            .map(|w| w.blob.filter(|b| self.repo.has_object(b)))
            .collect();
        let missing: Vec<String> = names
            .iter()
            .zip(&blobs)
            .filter(|(_, b)| b.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        if !missing.is_empty() {
            let advertised = self.fetch_refs(connections, &url, &missing)?;
            for (name, blob) in names.iter().zip(blobs.iter_mut()) {
                if blob.is_none() {
                    let found =
                        advertised
                            .get(name)
                            .ok_or_else(|| RegistryError::MissingManifest {
                                url: url.clone(),
                                name: name.clone(),
                            })?;
                    *blob = Some(*found);
                }
            }
        }
        wanted
            .iter()
            .zip(&names)
            .zip(blobs)
            .map(|((w, name), blob)| {
                let blob = blob.expect("every blob is known or was fetched");
                self.read_manifest(&url, w, name, blob)
            })
            .collect()
    }

    /// Fetches the refs `names` from `url`; the blob each points to.
    fn fetch_refs(
        &self,
        connections: &Connections,
        url: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, ObjectId>, RegistryError> {
        let refs = connections
            .fetch_refspecs(&self.repo, url, names)
            .map_err(|e| RegistryError::fetch(None, vec![MirrorFailure::of(url, &e)]))?;
        Ok(refs.into_iter().map(|r| (r.name, r.target)).collect())
    }

    /// The manifest `name` of `w`, the blob `blob` of the store.
    fn read_manifest(
        &self,
        url: &str,
        w: &ManifestWant,
        name: &str,
        blob: ObjectId,
    ) -> Result<FetchedManifest, RegistryError> {
        let (kind, bytes) = atom_git::read_object(&self.repo, blob)
            .map_err(|e| fetch_failed(url, atom_git::causes(&e)))?
            .ok_or_else(|| fetch_failed(url, format!("{name} ({blob}) was not received")))?;
        if kind != gix::object::Kind::Blob {
            return Err(RegistryError::NotABlob {
                url: url.to_owned(),
                name: name.to_owned(),
                kind: kind.to_string(),
            });
        }
        Ok(FetchedManifest {
            label: w.version.label.clone(),
            version: w.version.version.clone(),
            blob,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// Fetches the manifests `wanted` from `url` into a temporary store, in one
/// fetch that downloads those blobs only. See [`ManifestStore::fetch`].
pub fn fetch_manifests(
    connections: &Connections,
    url: &RepoUrl,
    wanted: &[ManifestWant],
) -> Result<Vec<FetchedManifest>, RegistryError> {
    ManifestStore::scratch()?.fetch(connections, url, wanted)
}

/// A fetch from `url` that failed.
fn fetch_failed(url: &str, why: String) -> RegistryError {
    RegistryError::Fetch {
        set: None,
        failures: vec![MirrorFailure::new(url, why)],
    }
}
