//! # atom-ops
//!
//! eka's operations as library functions, the porcelain over the crates
//! below it (as `gix` is over gitoxide's plumbing): each takes a typed
//! request and returns a typed report or a typed error, prints nothing and
//! knows nothing of the command line, so that the `eka` binary only parses
//! arguments and renders reports, and other front ends (a plugin, a
//! backend) can call the same code.
//!
//! - [`publish`]: atoms of a commit to a remote, all or nothing;
//! - [`verify`]: published atoms against their origin commits.

// Errors carry source text and spans for miette; they are built only when
// rejecting input, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

pub mod publish;
pub mod verify;
