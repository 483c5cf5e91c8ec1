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
    /// The atom commit (`refs/atoms/<label>/<version>`).
    pub commit: CommitId,
    /// The `atom.toml` blob (`refs/atoms/_manifest/<label>/<version>`), if
    /// the set has that ref.
    pub manifest: Option<CommitId>,
    /// The origin commit (`refs/atoms/_origin/<label>/<version>`), if listed.
    pub origin: Option<CommitId>,
}

/// A set's answer to a listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// `refs/atoms/_root`; `None` when the repository has no atoms.
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
    #[diagnostic(
        code(eka::registry::unreachable),
        help("check the URL and that the server is up; `--offline` works from atom.lock and the cache alone")
    )]
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
}
