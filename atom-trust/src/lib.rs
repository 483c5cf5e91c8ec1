//! # atom-trust
//!
//! "Trust the key, and you trust the atom", with no central service: who
//! published an atom version, whether it was withdrawn, and what a registry
//! refuses, all stored in the registry itself as git objects and refs that
//! git's own tools can check.
//!
//! - [`statement`]: what a signature or a yank says, byte for byte;
//! - [`tag`]: the annotated tag objects carrying them, split into payload
//!   and signature exactly as git does, so `git verify-tag` and
//!   `ssh-keygen -Y verify` check eka's signatures and eka checks theirs;
//! - [`sign`]: signing, in-process or through `ssh-keygen` (encrypted keys,
//!   ssh-agent, security keys);
//! - [`verify`]: checking a tag in-process;
//! - [`allowed_signers`]: OpenSSH's `allowed_signers` files;
//! - [`policy`]: per-signature and per-yank verdicts for an atom version,
//!   and the offline re-check of a lock's recorded signers;
//! - [`refs`]: where signatures and yanks live (`refs/atoms/_sig/…`,
//!   `refs/atoms/_yank/…`);
//! - [`hook`]: the rules a registry's `pre-receive` hook enforces, as a
//!   pure function of the pushed ref updates.
//!
//! The normative description is `spec/trust.md`.

// Errors carry atom-format's, which carry text for their reports; they are
// built only when refusing, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

pub mod allowed_signers;
mod fingerprint;
pub mod hook;
pub mod pattern;
pub mod policy;
pub mod refs;
pub mod sign;
pub mod statement;
pub mod tag;
pub mod time;
pub mod verify;

pub use allowed_signers::{AllowedSigners, AllowedSignersError, Judgement};
pub use fingerprint::{FingerprintParseError, KeyFingerprint};
pub use policy::{
    judge_signature, judge_yank, Evaluation, ListedTag, Policy, PolicyRefusal, RecordedSigner,
    SignatureStatus, SignatureVerdict, YankStatus, YankVerdict,
};
pub use refs::TrustRef;
pub use sign::{make_yank, sign_statements, KeyError, SignError, SigningKey, StatementTag};
pub use statement::{Reason, Statement, YankStatement, YankTarget};
pub use tag::{TagObject, Tagger};
pub use time::Timestamp;
pub use verify::{check_signature_tag, check_yank_tag, SignatureError, NAMESPACE};

/// An error and its causes in one line, `: `-separated.
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        text.push_str(": ");
        text.push_str(&e.to_string());
        next = e.source();
    }
    text
}
