//! Registries: what remote sets publish, asked without fetching more than
//! refs and manifests (normative text in `spec/query.md`).
//!
//! - [`query`]: ref listings of a set's mirrors, asked concurrently and
//!   merged into one [`Listing`] (`eka versions`, `eka list`, `eka show`);
//! - [`manifests`]: `atom.toml` blobs, fetched alone;
//! - [`Registry`]: what resolution asks, batched by set, behind a small
//!   trait so that the transport can be swapped without touching
//!   resolution; [`git::GitRegistry`] implements it over git (`ls-refs`
//!   and fetches into the local cache).
//!
//! A [`Registry`] answers two batched questions, each in one round trip per
//! set (concurrently across sets where the implementation can):
//! - [`Registry::list`]: the set's root and the published versions of some
//!   labels (a ref listing; no objects);
//! - [`Registry::manifests`]: the `atom.toml` blobs of some versions, and
//!   in the same round trip the atom commits resolution will most likely
//!   lock, so that their content digests need no further one.
//!
//! Every question fails with one error type, [`RegistryError`].

mod error;
pub mod git;
mod listing;
pub mod listings;
pub mod manifests;
pub mod query;
mod yanks;

use std::collections::BTreeMap;
use std::fmt;

use atom_format::Label;
use semver::Version;

pub use error::{MirrorFailure, RegistryError};
pub use listing::{Listing, Namespace, QueryWarning, TrustTag, VersionEntry};
pub use manifests::{fetch_manifests, FetchedManifest, ManifestStore, ManifestWant};
pub use query::{list_atom_versions, list_atoms, list_repo, QueryOptions};

use crate::ids::CommitId;
use crate::uri::RepoUrl;

/// A set as a manifest names it: its mirrors, in order of preference, in
/// the expanded form manifests and locks store. Two keys with the same
/// `_root` are the same repository reached through different URLs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetKey(pub Vec<RepoUrl>);

impl SetKey {
    pub fn mirrors(&self) -> &[RepoUrl] {
        &self.0
    }
}

impl ManifestRequest {
    /// A request of nothing yet, from `set`.
    pub fn new(set: SetKey) -> Self {
        ManifestRequest {
            set,
            manifests: Vec::new(),
            atoms: Vec::new(),
        }
    }
}

impl fmt::Display for SetKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                let names: Vec<&str> = many.iter().map(RepoUrl::as_str).collect();
                write!(f, "[{}]", names.join(", "))
            }
        }
    }
}

/// What one round wants from one set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestRequest {
    pub set: SetKey,
    /// The manifests to read: label, version and blob id of each.
    pub manifests: Vec<(Label, Version, CommitId)>,
    /// Atom commits to bring into the cache in the same fetch: the versions
    /// the solver will most likely choose, whose trees locking needs for
    /// their content digests. Speculative: one that does not arrive is no
    /// error here (locking fetches what it still lacks).
    pub atoms: Vec<CommitId>,
}

/// What a round plans to fetch from a set once its listing is in: called
/// with the set, the labels just listed, and the listing (empty when no
/// label needed listing).
pub type Plan<'a> = dyn Fn(&SetKey, &[Label], &Listing) -> ManifestRequest + Sync + 'a;

/// One set's part of a [`Registry::round`].
#[derive(Debug)]
pub struct Round {
    /// The listing (an empty one when no label needed listing).
    pub listing: Result<Listing, RegistryError>,
    /// What the plan asked of the set (nothing if the listing failed).
    pub request: ManifestRequest,
    /// The manifests fetched, by blob id.
    pub fetched: Result<BTreeMap<CommitId, Vec<u8>>, RegistryError>,
}

/// The queries resolution makes, batched by set.
pub trait Registry {
    /// The root and the versions of `labels` in each set, one listing per
    /// set (per mirror). Results are in the order of `queries`.
    fn list(&self, queries: &[(SetKey, Vec<Label>)]) -> Vec<Result<Listing, RegistryError>>;

    /// The manifest blobs `(label, version, blob id)` of each set, and its
    /// [`ManifestRequest::atoms`], one fetch per set; returns the manifests'
    /// bytes by blob id (the implementation checks the id).
    fn manifests(
        &self,
        requests: &[ManifestRequest],
    ) -> Result<BTreeMap<CommitId, Vec<u8>>, RegistryError>;

    /// One level of discovery: for each `(set, labels)`, the listing of
    /// `labels` (none when empty), then the fetch that `plan` makes of it.
    /// Results are in the order of `queries`. This default lists every set,
    /// then fetches from every set ([`Registry::list`], then
    /// [`Registry::manifests`]); an implementation that can should let each
    /// set go on to its fetch as soon as its own listing is in.
    fn round(&self, queries: &[(SetKey, Vec<Label>)], plan: &Plan<'_>) -> Vec<Round> {
        let to_list: Vec<(SetKey, Vec<Label>)> = queries
            .iter()
            .filter(|(_, labels)| !labels.is_empty())
            .cloned()
            .collect();
        let mut listed = self.list(&to_list).into_iter();
        let listings: Vec<Result<Listing, RegistryError>> = queries
            .iter()
            .map(|(_, labels)| match labels.is_empty() {
                true => Ok(Listing::default()),
                false => listed.next().expect("one answer per query"),
            })
            .collect();
        let requests: Vec<ManifestRequest> = queries
            .iter()
            .zip(&listings)
            .map(|((set, labels), listing)| match listing {
                Ok(listing) => plan(set, labels, listing),
                Err(_) => ManifestRequest::new(set.clone()),
            })
            .collect();
        let asked: Vec<ManifestRequest> = requests
            .iter()
            .filter(|r| !r.manifests.is_empty() || !r.atoms.is_empty())
            .cloned()
            .collect();
        let fetched = if asked.is_empty() {
            Ok(BTreeMap::new())
        } else {
            self.manifests(&asked)
        };
        listings
            .into_iter()
            .zip(requests)
            .map(|(listing, request)| Round {
                listing,
                request,
                fetched: fetched.clone(),
            })
            .collect()
    }
}
