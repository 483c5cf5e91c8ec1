//! What the Nix store needs for derivations, computed in-process and
//! byte-identical to Nix 2.8, and a client for a real local Nix store.
//!
//! eka evaluates atoms without Nix, but building them is Nix's job. So
//! eka must produce exactly the store objects `nix-instantiate` would:
//! the same `.drv` bytes at the same paths, the same output paths, the
//! same source paths. This crate computes them:
//! - [`hash`]: hashes in Nix's encodings (base 16, Nix base 32, base 64,
//!   SRI) and their parsing rules;
//! - [`nar`]: the NAR serialisation of a file tree from any
//!   [`nar::FileTree`] (a git tree, a directory, memory);
//! - [`store_path`]: store paths of texts, sources, fixed and
//!   input-addressed outputs, and `placeholder`;
//! - [`derivation`]: the `.drv` ATerm and `hashDerivationModulo`;
//! - [`context`]: string context, typed;
//! - [`derive`](mod@derive): `derivationStrict` over attribute values a host
//!   evaluator supplies ([`derive::DrvAttr`]);
//! - [`known`]: the store objects an evaluation produced, in place of
//!   the store Nix writes to during evaluation;
//! - [`daemon`]: writing them into a local Nix store and building, through
//!   Nix's own worker protocol (`nix-daemon --stdio`).
//!
//! `spec/build.md` describes every computation byte for byte.

pub mod context;
pub mod daemon;
pub mod derivation;
pub mod derive;
pub mod hash;
pub mod known;
pub mod literal;
pub mod nar;
pub mod store_path;

pub use context::{ContextElem, StringContext};
pub use derivation::{Derivation, DerivationOutput};
pub use derive::{derivation_strict, DeriveError, DrvAttr, DrvInputs, Instantiated};
pub use hash::{Hash, HashAlgo};
pub use known::{KnownPaths, NarSource};
pub use store_path::{hash_placeholder, IngestionMethod, StoreDir, StorePath};
