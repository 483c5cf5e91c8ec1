//! # atom-lock
//!
//! The foundations of dependency resolution:
//! - [`uri`]: atom URIs (`gh:owner/repo::label@^1`) and their parsing, with
//!   [`alias`] expansion (`spec/uri.md`);
//! - [`lock`]: the `atom.lock` data model, its byte-stable serialisation,
//!   atomic writing and verifying reader (`spec/lock.md`);
//! - [`ids`]: atom ids, commit ids and content digests in their text forms;
//! - [`registry`]: what remote sets publish: queries of their mirrors that
//!   fetch no objects (ref listings) or only manifest blobs (`spec/query.md`),
//!   and the [`registry::Registry`] resolution asks;
//! - [`resolve`]: from requirements to one version of every atom reached;
//! - [`project`]: an atom's `atom.toml` and `atom.lock`, edited and locked;
//! - [`fetch`]: locked atoms into the cache, checked.
//!
//! ```
//! use atom_lock::{Aliases, AtomUri};
//!
//! // Built-in aliases only; `Aliases::load_default(Some(repo_root))` adds
//! // the user's and the repository's.
//! let uri = AtomUri::parse("gh:owner/repo::my-atom@^1", &Aliases::builtin()).unwrap();
//! // What a manifest or a lock stores: the expanded URL.
//! assert_eq!(uri.repo.unwrap().as_str(), "https://github.com/owner/repo");
//! assert_eq!(uri.label.as_str(), "my-atom");
//!
//! let err = AtomUri::parse("gx:owner/repo::a", &Aliases::builtin()).unwrap_err();
//! assert_eq!(err.snippet(), "gx"); // the span miette underlines
//! ```

// Errors carry their source text and spans for miette; they are built only
// on the cold path of rejecting user input, so their size costs nothing.
#![allow(clippy::result_large_err)]

pub mod alias;
pub mod fetch;
pub mod files;
pub mod graph;
pub mod ids;
pub mod lock;
pub mod project;
pub mod registry;
pub mod resolve;
pub mod siblings;
pub mod uri;

pub use alias::{Aliases, ConfigError, Shadowed};
pub use ids::{AtomId, CommitId, ContentDigest, IdError};
pub use lock::{Edge, LockError, LockedAtom, Lockfile, Problem};
pub use uri::{AtomUri, RepoUrl, UriError, UriErrorKind};
