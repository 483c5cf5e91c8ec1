//! [`Registry`] over git: protocol v2 `ls-refs` with precise ref prefixes
//! for listings, and fetches of `refs/atoms/_manifest/…` refs into the
//! [`Cache`] for manifests. Sets are asked concurrently, and so are the
//! mirrors of a set for listings; mirrors must agree.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use atom_format::refs::{AtomRef, AtomVersion, ATOMS_PREFIX, ROOT_REF};
use atom_format::Label;
use semver::Version;

use crate::cache::Cache;
use crate::ids::CommitId;
use crate::registry::{Listing, ManifestRequest, Published, Registry, RegistryError, SetKey};
use crate::uri::RepoUrl;

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
/// root: never a whole namespace.
pub fn prefixes(labels: &[Label]) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned()];
    for l in labels {
        out.push(format!("{ATOMS_PREFIX}{l}/"));
        out.push(format!("{ATOMS_PREFIX}_manifest/{l}/"));
        out.push(format!("{ATOMS_PREFIX}_origin/{l}/"));
    }
    out
}

/// One mirror's answer, parsed.
#[derive(Default)]
struct MirrorAnswer {
    root: Option<CommitId>,
    atoms: BTreeMap<Label, BTreeMap<Version, Published>>,
}

/// Lists `labels` on one URL.
fn list_one(url: &str, labels: &[Label]) -> Result<MirrorAnswer, String> {
    let prefixes = prefixes(labels);
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let listed = atom_format::git::ls_refs(url, &refs).map_err(|e| e.why)?;
    let mut out = MirrorAnswer::default();
    let mut manifests: HashMap<AtomVersion, CommitId> = HashMap::new();
    let mut origins: HashMap<AtomVersion, CommitId> = HashMap::new();
    for r in listed {
        match AtomRef::parse(&r.name) {
            Some(Ok(AtomRef::Root)) => out.root = Some(r.target),
            Some(Ok(AtomRef::Atom(v))) if labels.contains(&v.label) => {
                out.atoms.entry(v.label).or_default().insert(
                    v.version,
                    Published {
                        commit: r.target,
                        manifest: None,
                        origin: None,
                    },
                );
            }
            Some(Ok(AtomRef::Manifest(v))) => {
                manifests.insert(v, r.target);
            }
            Some(Ok(AtomRef::Origin(v))) => {
                origins.insert(v, r.target);
            }
            // Refs that are not label/version (or another label sharing a
            // prefix) are not ours to interpret.
            _ => {}
        }
    }
    for (label, versions) in &mut out.atoms {
        for (version, p) in versions.iter_mut() {
            let key = AtomVersion::new(label.clone(), version.clone());
            p.manifest = manifests.get(&key).copied();
            p.origin = origins.get(&key).copied();
        }
    }
    Ok(out)
}

/// A [`Registry`] that asks git remotes, caching manifests in `cache`.
pub struct GitRegistry<'c> {
    cache: &'c Cache,
    base: PathBuf,
}

impl<'c> GitRegistry<'c> {
    /// `base` is the folder relative mirror paths are relative to.
    pub fn new(cache: &'c Cache, base: &Path) -> Self {
        GitRegistry {
            cache,
            base: base.to_owned(),
        }
    }

    fn urls(&self, set: &SetKey) -> Vec<String> {
        set.mirrors()
            .iter()
            .map(|m| location(m, &self.base))
            .collect()
    }

    fn list_set(&self, set: &SetKey, labels: &[Label]) -> Result<Listing, RegistryError> {
        let urls = self.urls(set);
        let answers: Vec<(String, Result<MirrorAnswer, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = urls
                .iter()
                .map(|u| s.spawn(move || list_one(u, labels)))
                .collect();
            urls.iter()
                .cloned()
                .zip(handles)
                .map(|(u, h)| (u, h.join().unwrap_or_else(|_| Err("panicked".into()))))
                .collect()
        });
        let mut listing = Listing::default();
        let mut ok: Vec<(String, MirrorAnswer)> = Vec::new();
        let mut failures = Vec::new();
        for (url, answer) in answers {
            match answer {
                Ok(a) => ok.push((url, a)),
                Err(why) => failures.push(format!("{url}: {why}")),
            }
        }
        if ok.is_empty() {
            return Err(RegistryError::Unreachable {
                set: set.to_string(),
                why: failures.join("; "),
            });
        }
        listing.warnings = failures
            .into_iter()
            .map(|f| format!("mirror unreachable, using the others: {f}"))
            .collect();
        let disagree =
            |what: String, a: (&str, String), b: (&str, String)| RegistryError::MirrorsDisagree {
                set: set.to_string(),
                what,
                a_url: a.0.to_owned(),
                a: a.1,
                b_url: b.0.to_owned(),
                b: b.1,
            };
        let show = |r: Option<CommitId>| r.map_or("none".to_owned(), |c| c.to_string());
        let (first_url, first) = &ok[0];
        listing.root = first.root;
        for (url, a) in &ok[1..] {
            if a.root != first.root {
                return Err(disagree(
                    "the root (refs/atoms/_root)".into(),
                    (first_url, show(first.root)),
                    (url, show(a.root)),
                ));
            }
        }
        // The union of the versions, each one agreed on by every mirror
        // that has it.
        let mut seen: BTreeMap<(Label, Version), (&str, Published)> = BTreeMap::new();
        for (url, a) in &ok {
            for (label, versions) in &a.atoms {
                for (version, p) in versions {
                    let key = (label.clone(), version.clone());
                    if let Some((other_url, other)) = seen.get(&key) {
                        if other.commit != p.commit || other.manifest != p.manifest {
                            return Err(disagree(
                                format!("{label}@{version}"),
                                (other_url, other.commit.to_string()),
                                (url, p.commit.to_string()),
                            ));
                        }
                    } else {
                        seen.insert(key, (url, p.clone()));
                    }
                }
            }
        }
        for ((label, version), (_, p)) in seen {
            listing.atoms.entry(label).or_default().insert(version, p);
        }
        Ok(listing)
    }

    fn fetch_manifests(
        &self,
        set: &SetKey,
        wanted: &[(Label, Version, CommitId)],
    ) -> Result<Vec<(CommitId, Vec<u8>)>, RegistryError> {
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(_, _, blob)| !self.cache.has(blob))
            .map(|(l, v, _)| AtomVersion::new(l.clone(), v.clone()).manifest_ref())
            .collect();
        if !missing.is_empty() {
            let mut failures = Vec::new();
            let mut fetched = false;
            for url in self.urls(set) {
                match self.cache.fetch(&url, &missing) {
                    Ok(()) => {
                        fetched = true;
                        break;
                    }
                    Err(e) => failures.push(format!("{url}: {}", e.why)),
                }
            }
            if !fetched {
                return Err(RegistryError::Fetch {
                    set: set.to_string(),
                    why: failures.join("; "),
                });
            }
        }
        wanted
            .iter()
            .map(|(l, v, blob)| {
                self.cache.blob(*blob).map(|b| (*blob, b)).ok_or_else(|| {
                    RegistryError::Fetch {
                        set: set.to_string(),
                        why: format!(
                            "the manifest of {l}@{v} ({blob}) did not arrive: the ref changed while resolving"
                        ),
                    }
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

    fn manifests(
        &self,
        requests: &[ManifestRequest],
    ) -> Result<BTreeMap<CommitId, Vec<u8>>, RegistryError> {
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = requests
                .iter()
                .map(|(set, wanted)| s.spawn(move || self.fetch_manifests(set, wanted)))
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
