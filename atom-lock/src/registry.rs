//! What the resolver needs to know about remote sets, behind a small trait
//! so that the transport can be swapped without touching resolution.
//!
//! A [`Registry`] answers two batched questions, each in one round trip per
//! set (concurrently across sets where the implementation can):
//! - [`Registry::list`]: the set's root and the published versions of some
//!   labels (a ref listing; no objects);
//! - [`Registry::manifests`]: the `atom.toml` blobs of some versions, and
//!   in the same round trip the atom commits resolution will most likely
//!   lock, so that their content digests need no further one.
//!
//! [`crate::gitreg::GitRegistry`] implements it over git (`ls-refs` and
//! fetches into the local [`crate::cache::Cache`]).

use std::collections::BTreeMap;
use std::fmt;

use atom_format::Label;
use semver::Version;

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

/// One published version, as the refs of a set say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The atom commit (`refs/atoms/<label>/<version>`, or eka 0.3's
    /// `refs/eka/atoms/<label>/<version>` when the set has only that).
    pub commit: CommitId,
    /// The `atom.toml` blob (`refs/atoms/_manifest/<label>/<version>`, or
    /// `refs/eka/meta/<label>/<version>/manifest`), if the set has that ref.
    pub manifest: Option<CommitId>,
    /// The origin commit (`refs/atoms/_origin/<label>/<version>`, or
    /// `refs/eka/meta/<label>/<version>/origin`), if listed.
    pub origin: Option<CommitId>,
}

/// A set's answer to a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// `refs/atoms/_root` (or eka 0.3's `refs/ekala/init` when there is
    /// none); `None` when the repository has no atoms.
    pub root: Option<CommitId>,
    /// The versions of each label asked for (absent labels have no entry).
    pub atoms: BTreeMap<Label, BTreeMap<Version, Published>>,
    /// Mirrors that could not be reached while another answered.
    pub warnings: Vec<String>,
}

/// Why a registry question could not be answered.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum RegistryError {
    #[error("cannot reach set {set}: {why}")]
    #[diagnostic(code(eka::registry::unreachable))]
    Unreachable { set: String, why: String },
    #[error("mirrors of set {set} disagree on {what}: `{a_url}` says {a}, `{b_url}` says {b}")]
    #[diagnostic(
        code(eka::registry::mirrors_disagree),
        help(
            "mirrors of one set must hold the same refs; one of them may have been tampered with"
        )
    )]
    MirrorsDisagree {
        set: String,
        what: String,
        a_url: String,
        a: String,
        b_url: String,
        b: String,
    },
    #[error("set {set}: `{url}` publishes {version} twice, in both namespaces: `{atom_ref}` points to {current}, but eka 0.3's `{legacy_ref}` to {legacy}")]
    #[diagnostic(
        code(eka::registry::namespace_conflict),
        help("one of the two refs was rewritten or tampered with, so neither is locked; ask the repository's owner to delete the wrong one")
    )]
    NamespaceConflict {
        set: String,
        url: String,
        version: String,
        atom_ref: String,
        current: String,
        legacy_ref: String,
        legacy: String,
    },
    #[error("cannot fetch from set {set}: {why}")]
    #[diagnostic(code(eka::registry::fetch))]
    Fetch { set: String, why: String },
    #[error("{0}")]
    #[diagnostic(code(eka::registry::error))]
    Other(String),
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
