//! # atom-format
//!
//! The atom format: what an atom is, how it is named and identified, and how
//! it is stored in git. Everything here is plumbing that knows nothing of the
//! command line; `atom-cli` (the `eka` binary) is porcelain on top.
//!
//! The normative description is `spec/format.md`; each rule there has a test
//! here.

// Errors carry the manifest text and spans for miette; they are built only when
// rejecting input, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

pub mod label;

pub use label::{Label, LabelError};
pub mod commit;
pub mod digest;
pub mod git;
pub mod id;
pub mod manifest;
pub mod publish;
pub mod refs;
pub mod verify;

pub use commit::AtomCommit;
pub use digest::ContentDigest;
pub use id::AtomId;
pub use manifest::Manifest;
