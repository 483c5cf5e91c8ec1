//! # atom-format
//!
//! The atom format: what an atom is, how it is named and identified, and how
//! it is stored in git. Everything here is plumbing that knows nothing of the
//! command line; `atom-cli` (the `eka` binary) is porcelain on top.
//!
//! The normative description is `spec/format.md`; each rule there has a test
//! here.

pub mod label;

pub use label::{Label, LabelError};
pub mod commit;
pub mod digest;
pub mod git;
pub mod id;
pub mod manifest;
pub mod publish;
pub mod refs;

pub use commit::AtomCommit;
pub use digest::ContentDigest;
pub use id::AtomId;
pub use manifest::Manifest;
