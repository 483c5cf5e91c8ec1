//! [`Registry`] over git: listings are
//! [`query::query`]s (protocol v2 `ls-refs` with precise ref prefixes, the
//! mirrors of a set asked concurrently and required to agree); manifests,
//! with the atom commits resolution will likely lock, are fetched by id
//! into the [`Cache`] in one request per set ([`Cache::fetch`]), on the
//! connection the listing opened. Sets are asked concurrently, and in a
//! [`Registry::round`] each goes on to its fetch as soon as its own
//! listing is in.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use atom_format::Label;
use atom_git::{Cache, Connections};
use atom_trust::AllowedSigners;

use super::query::{self, QueryOptions};
use super::yanks;
use super::{
    Listing, ManifestRequest, MirrorFailure, Plan, Registry, RegistryError, Round, SetKey,
};
use crate::ids::CommitId;
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
/// root, in both namespaces (this format's and eka 0.3's, so that atoms eka
/// 0.3 published resolve too): never a whole namespace.
pub fn prefixes(labels: &[Label]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        for p in query::atom_prefixes(l, true) {
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
    /// The sets with a trust policy, and whom it allows: only their
    /// yanks signed by an allowed key count (`spec/trust.md` §6).
    yank_signers: Vec<(SetKey, AllowedSigners)>,
}

impl<'c> GitRegistry<'c> {
    /// `base` is the folder relative mirror paths are relative to.
    pub fn new(cache: &'c Cache, connections: &Connections, base: &Path) -> Self {
        GitRegistry {
            cache,
            connections: connections.clone(),
            base: base.to_owned(),
            yank_signers: Vec::new(),
        }
    }

    /// On `set`, a listed yank counts only when `signers` allow the key
    /// that signed it; the others are dropped from the set's listings,
    /// each with a [`QueryWarning::IgnoredYank`](super::QueryWarning::IgnoredYank).
    pub fn with_yank_signers(mut self, set: SetKey, signers: AllowedSigners) -> Self {
        self.yank_signers.push((set, signers));
        self
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

    /// One [`query::query`] over the mirrors of `set`, of the versions of
    /// `labels` only.
    fn list_set(&self, set: &SetKey, labels: &[Label]) -> Result<Listing, RegistryError> {
        let options = QueryOptions {
            metadata: true,
            same_root: true,
            keep_connection: true,
            strict_namespaces: true,
            ..QueryOptions::default()
        };
        let mut listing = query::query(
            &self.connections,
            &self.urls(set),
            &prefixes(labels),
            &options,
        )
        .map_err(|e| e.in_set(&set.to_string()))?;
        listing.atoms.retain(|label, _| labels.contains(label));
        if let Some((_, signers)) = self.yank_signers.iter().find(|(s, _)| s == set) {
            self.keep_counting_yanks(set, signers, &mut listing)?;
        }
        Ok(listing)
    }

    /// Drops the yanks of `listing` that `signers` do not allow, reading
    /// the tags of those whose ref names a key they hold, in one fetch of
    /// the tags alone from the first mirror that gives them.
    fn keep_counting_yanks(
        &self,
        set: &SetKey,
        signers: &AllowedSigners,
        listing: &mut Listing,
    ) -> Result<(), RegistryError> {
        let (tags, commits) = yanks::tags_to_read(listing, signers);
        let missing: Vec<CommitId> = tags.into_iter().filter(|t| !self.cache.has(t)).collect();
        if !missing.is_empty() {
            self.fetch_first(set, &listing.answered, &missing, &commits)?;
        }
        let repo = self.cache.repo();
        let read_tag = |id| match atom_git::read_object(&repo, id) {
            Ok(Some((gix::object::Kind::Tag, bytes))) => Some(bytes),
            _ => None,
        };
        yanks::keep_counting(listing, &set.to_string(), signers, &read_tag);
        Ok(())
    }

    /// Fetches `wants` into the cache from the first of `urls` that gives
    /// them, telling it the cache has `haves`.
    fn fetch_first(
        &self,
        set: &SetKey,
        urls: &[RepoUrl],
        wants: &[CommitId],
        haves: &[CommitId],
    ) -> Result<(), RegistryError> {
        let mut failures = Vec::new();
        for url in urls {
            let location = location(url, &self.base);
            match self
                .connections
                .fetch_objects_having(&self.cache.repo(), &location, wants, haves)
            {
                Ok(()) => return Ok(()),
                Err(e) => failures.push(MirrorFailure::of(url.to_string(), &e)),
            }
        }
        Err(RegistryError::fetch(Some(set.to_string()), failures))
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
        let mut seen: HashSet<&CommitId> = HashSet::new();
        for id in request
            .manifests
            .iter()
            .map(|(_, _, blob)| blob)
            .chain(&request.atoms)
        {
            if seen.insert(id) && !self.cache.has(id) {
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
                    Err(e) => failures.push(MirrorFailure::of(url.to_string(), &e)),
                }
            }
            if !fetched {
                return Err(RegistryError::fetch(Some(set.to_string()), failures));
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
                        set: Some(set.to_string()),
                        failures: vec![MirrorFailure::new(
                            set.to_string(),
                            format!("the manifest of {l}@{v} ({blob}) did not arrive as a blob"),
                        )],
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
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
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
            "refs/atoms/_sig/a/",
            "refs/atoms/_yank/a/",
            "refs/atoms/_sig/b-c/",
            "refs/atoms/_yank/b-c/",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} missing from {p:?}");
        }
        // Nothing else, each once; every prefix but the roots names a label.
        assert_eq!(p.len(), 16, "{p:?}");
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
