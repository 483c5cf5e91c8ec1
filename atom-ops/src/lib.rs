//! # atom-ops
//!
//! eka's operations as library functions, the porcelain over the crates
//! below it (as `gix` is over gitoxide's plumbing): each takes a typed
//! request and returns a typed report or a typed error, prints nothing and
//! knows nothing of the command line, so that the `eka` binary only parses
//! arguments and renders reports, and other front ends (a plugin, a
//! backend) can call the same code.
//!
//! - [`build`]: an atom's derivations, written into the local Nix store
//!   and built by Nix;
//! - [`deps`]: an atom's dependencies: add, remove, lock, update, fetch;
//! - [`publish`]: atoms of a commit to a remote, all or nothing;
//! - [`verify`]: published atoms against their origin commits.

// Errors carry source text and spans for miette; they are built only when
// rejecting input, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

pub mod build;
pub mod deps;
pub mod eval;
pub mod publish;
pub mod query;
pub mod verify;

use std::path::Path;

use atom_lock::lock::LockError;
use atom_lock::registry::QueryWarning;
use atom_lock::resolve::ResolveWarning;
use atom_lock::{Aliases, ConfigError, Shadowed};

/// Something an operation tells the user; it still went through.
#[derive(Debug, thiserror::Error)]
pub enum Warning {
    #[error("atom.lock does not verify and is rebuilt from atom.toml: {0}")]
    InvalidLock(LockError),
    #[error(transparent)]
    Resolve(ResolveWarning),
    #[error(transparent)]
    Query(QueryWarning),
    #[error("ignoring alias `{}` of {}: it would shadow the one {}", .0.name, .0.ignored.origin, .0.kept.origin)]
    ShadowedAlias(Shadowed),
    #[error("{0}")]
    Fetch(String),
}

/// The URI aliases in effect in `dir`: built-in, the user's, and those of
/// the repository around it; those it had to ignore are warnings.
pub fn aliases_at(dir: &Path, warnings: &mut Vec<Warning>) -> Result<Aliases, ConfigError> {
    let repo_root = atom_git::open(dir)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.to_owned()));
    let (aliases, shadowed) = Aliases::load_default(repo_root.as_deref())?;
    warnings.extend(shadowed.into_iter().map(Warning::ShadowedAlias));
    Ok(aliases)
}
