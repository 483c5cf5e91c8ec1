//! # atom-format
//!
//! The atom format: what an atom is, how it is named and identified, and what
//! its git objects and refs look like, byte for byte. Everything here is
//! pure: no repository is opened and no remote is asked (`atom-git` does
//! that); values in, values or typed errors out.
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
pub mod id;
pub mod manifest;
pub mod refs;
pub mod terminal;
pub mod verify;

pub use commit::AtomCommit;
pub use digest::ContentDigest;
pub use id::AtomId;
pub use manifest::Manifest;
