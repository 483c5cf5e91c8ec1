//! [`Registry`] over git, on top of [`crate::remote`]: listings are
//! [`remote::query`]s (protocol v2 `ls-refs` with precise ref prefixes, the
//! mirrors of a set asked concurrently and required to agree); manifests,
//! with the atom commits resolution will likely lock, are fetched by id
//! into the [`Cache`] in one request per set ([`Cache::fetch`]), on the
//! connection the listing opened. Sets are asked concurrently, and in a
//! [`Registry::round`] each goes on to its fetch as soon as its own
//! listing is in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atom_format::Label;
use semver::Version;

use crate::ids::CommitId;
use crate::registry::{
    Listing, ManifestRequest, Plan, Published, Registry, RegistryError, Round, SetKey,
};
use crate::remote::{self, QueryError, QueryOptions, QueryWarning};
use crate::uri::RepoUrl;
use atom_git::{Cache, Connections};

/// Where to reach `url`: relative paths are relative to `base` (the folder
/// of the manifest that names them).
pub fn location(url: &RepoUrl, base: &Path) -> String {
    match url {
        RepoUrl::Url(u) => u.to_string(),
        RepoUrl::Path(p) => {
            let p = Path::new(p);
            if p.is_absolute() {
                p.display().to_string()
            } else {
                base.join(p).display().to_string()
            }
        }
    }
}

/// The ref prefixes that list `labels` (atoms, manifests, origins) and the
/// root, in both namespaces (this format's and eka 0.3's, so that atoms eka
/// 0.3 published resolve too): never a whole namespace.
pub fn prefixes(labels: &[Label]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        for p in remote::atom_prefixes(l, true) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// A [`Registry`] that asks git remotes over `connections`, caching
/// manifests in `cache`.
pub struct GitRegistry<'c> {
    cache: &'c Cache,
    connections: Connections,
    base: PathBuf,
}

impl<'c> GitRegistry<'c> {
    /// `base` is the folder relative mirror paths are relative to.
    pub fn new(cache: &'c Cache, connections: &Connections, base: &Path) -> Self {
        GitRegistry {
            cache,
            connections: connections.clone(),
            base: base.to_owned(),
        }
    }

    /// The mirrors of `set`, relative paths resolved against `base`.
    fn urls(&self, set: &SetKey) -> Vec<RepoUrl> {
        set.mirrors()
            .iter()
            .map(|m| match m {
                RepoUrl::Url(_) => m.clone(),
                RepoUrl::Path(_) => RepoUrl::Path(location(m, &self.base)),
            })
            .collect()
    }

    /// One [`remote::query`] over the mirrors of `set`.
    fn list_set(&self, set: &SetKey, labels: &[Label]) -> Result<Listing, RegistryError> {
        let options = QueryOptions {
            metadata: true,
            same_root: true,
            keep_connection: true,
            strict_namespaces: true,
            ..QueryOptions::default()
        };
        let found = remote::query(
            &self.connections,
            &self.urls(set),
            &prefixes(labels),
            &options,
        )
        .map_err(|e| match e {
            QueryError::Unreachable { failures } => RegistryError::Unreachable {
                set: set.to_string(),
                why: failures
                    .iter()
                    .map(|(url, why)| format!("{url}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            },
            QueryError::Disagree {
                what,
                url_a,
                a,
                url_b,
                b,
            } => RegistryError::MirrorsDisagree {
                set: set.to_string(),
                what,
                a_url: url_a,
                a,
                b_url: url_b,
                b,
            },
            QueryError::NamespaceConflict {
                url,
                version,
                atom_ref,
                current,
                legacy_ref,
                legacy,
            } => RegistryError::NamespaceConflict {
                set: set.to_string(),
                url,
                version: version.to_string(),
                atom_ref,
                current,
                legacy_ref,
                legacy,
            },
            QueryError::NoMirrors => RegistryError::Unreachable {
                set: set.to_string(),
                why: e.to_string(),
            },
            e => RegistryError::Other(e.to_string()),
        })?;
        let mut listing = Listing {
            root: found.root,
            ..Listing::default()
        };
        listing.warnings = found
            .warnings
            .into_iter()
            .map(|w| match w {
                QueryWarning::Unreachable { url, why } => {
                    format!("mirror unreachable, using the others: {url}: {why}")
                }
                w => w.to_string(),
            })
            .collect();
        for (label, versions) in found.atoms {
            if !labels.contains(&label) {
                continue;
            }
            let entry: &mut BTreeMap<Version, Published> = listing.atoms.entry(label).or_default();
            for v in versions {
                entry.insert(
                    v.version,
                    Published {
                        commit: v.commit,
                        manifest: v.manifest,
                        origin: v.origin,
                    },
                );
            }
        }
        Ok(listing)
    }

    /// One round's fetch from a set: the manifests and atom commits of
    /// `request` that the cache lacks, by id, in one request to the first
    /// mirror that answers. Returns the manifests' bytes.
    fn fetch_round(
        &self,
        request: &ManifestRequest,
    ) -> Result<Vec<(CommitId, Vec<u8>)>, RegistryError> {
        let set = &request.set;
        let mut wants: Vec<CommitId> = Vec::new();
        for id in request
            .manifests
            .iter()
            .map(|(_, _, blob)| blob)
            .chain(&request.atoms)
        {
            if !wants.contains(id) && !self.cache.has(id) {
                wants.push(*id);
            }
        }
        if !wants.is_empty() {
            let mut failures = Vec::new();
            let mut fetched = false;
            for url in self.urls(set) {
                match self
                    .cache
                    .fetch(&self.connections, &location(&url, &self.base), &wants)
                {
                    Ok(()) => {
                        fetched = true;
                        break;
                    }
                    Err(e) => failures.push(format!("{url}: {}", e.reason())),
                }
            }
            if !fetched {
                return Err(RegistryError::Fetch {
                    set: set.to_string(),
                    why: failures.join("; "),
                });
            }
        }
        request
            .manifests
            .iter()
            .map(|(l, v, blob)| {
                self.cache
                    .blob(*blob)
                    .map(|b| (*blob, b))
                    .ok_or_else(|| RegistryError::Fetch {
                        set: set.to_string(),
                        why: format!("the manifest of {l}@{v} ({blob}) did not arrive as a blob"),
                    })
            })
            .collect()
    }
}

impl Registry for GitRegistry<'_> {
    fn list(&self, queries: &[(SetKey, Vec<Label>)]) -> Vec<Result<Listing, RegistryError>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .iter()
                .map(|(set, labels)| s.spawn(move || self.list_set(set, labels)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(RegistryError::Other("listing panicked".into())))
                })
                .collect()
        })
    }

    /// Each set in its own thread: its listing, then at once its fetch, on
    /// the connection the listing opened; no set waits for another.
    fn round(&self, queries: &[(SetKey, Vec<Label>)], plan: &Plan<'_>) -> Vec<Round> {
        std::thread::scope(|s| {
            let handles: Vec<_> = queries
                .iter()
                .map(|(set, labels)| {
                    s.spawn(move || {
                        let listing = match labels.is_empty() {
                            true => Ok(Listing::default()),
                            false => self.list_set(set, labels),
                        };
                        let request = match &listing {
                            Ok(l) => plan(set, labels, l),
                            Err(_) => ManifestRequest::new(set.clone()),
                        };
                        let fetched = self
                            .fetch_round(&request)
                            .map(|blobs| blobs.into_iter().collect());
                        Round {
                            listing,
                            request,
                            fetched,
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(queries)
                .map(|(h, (set, _))| {
                    h.join().unwrap_or_else(|_| Round {
                        listing: Err(RegistryError::Other("listing panicked".into())),
                        request: ManifestRequest::new(set.clone()),
                        fetched: Ok(BTreeMap::new()),
                    })
                })
                .collect()
        })
    }

    fn manifests(
        &self,
        requests: &[ManifestRequest],
    ) -> Result<BTreeMap<CommitId, Vec<u8>>, RegistryError> {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = requests
                .iter()
                .map(|request| s.spawn(move || self.fetch_round(request)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(RegistryError::Other("fetch panicked".into())))
                })
                .collect()
        });
        let mut out = BTreeMap::new();
        for r in results {
            out.extend(r?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolver asks for exactly the labels it needs, in both
    /// namespaces, with their metadata: never a whole namespace.
    #[test]
    fn prefixes_are_per_label_in_both_namespaces() {
        let labels = [Label::parse("a").unwrap(), Label::parse("b-c").unwrap()];
        let p = prefixes(&labels);
        for want in [
            "refs/atoms/_root",
            "refs/ekala/init",
            "refs/atoms/a/",
            "refs/atoms/_manifest/a/",
            "refs/atoms/_origin/a/",
            "refs/eka/atoms/a/",
            "refs/eka/meta/a/",
            "refs/atoms/b-c/",
            "refs/atoms/_manifest/b-c/",
            "refs/atoms/_origin/b-c/",
            "refs/eka/atoms/b-c/",
            "refs/eka/meta/b-c/",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} missing from {p:?}");
        }
        // Nothing else, each once; every prefix but the roots names a label.
        assert_eq!(p.len(), 12, "{p:?}");
        for x in &p {
            assert!(
                x.ends_with("/a/")
                    || x.ends_with("/b-c/")
                    || x.ends_with("_root")
                    || x.ends_with("init"),
                "{x}"
            );
        }
    }
}
