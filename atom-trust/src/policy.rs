//! Trust policies: whom a project trusts to sign the atoms of a set, and
//! the verdict on each signature and yank of an atom version.
//!
//! A policy is an `allowed_signers` file (who may sign, and when) and,
//! optionally, the registry's root commit: with it, a fork or mirror that
//! replaces the history is refused even when it carries signatures by the
//! same keys (a key may sign in several registries; the statement binds the
//! root, and the pin says which root this set is).

use std::fmt;

use gix::ObjectId;

use crate::allowed_signers::{AllowedSigners, Judgement, Refusal};
use crate::statement::{Mismatch, Statement, YankTarget};
use crate::time::Timestamp;
use crate::verify::{check_signature_tag, check_yank_tag, SignatureError, Signer, NAMESPACE};
use crate::KeyFingerprint;

/// Whom a set trusts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub signers: AllowedSigners,
    /// The registry's root commit, if pinned.
    pub root: Option<ObjectId>,
}

/// A statement tag as listed: the signer its ref names, and its bytes.
#[derive(Clone, Copy, Debug)]
pub struct ListedTag<'a> {
    /// The fingerprint in the ref name (`None` for an unsigned yank's ref).
    pub listed: Option<KeyFingerprint>,
    pub bytes: &'a [u8],
}

/// The verdict on one signature of an atom version.
#[derive(Debug, serde::Serialize)]
pub struct SignatureVerdict {
    /// The signer the ref names.
    pub listed: Option<KeyFingerprint>,
    /// The key that made the signature, when it verified.
    pub fingerprint: Option<KeyFingerprint>,
    /// The key's algorithm, when it verified.
    pub algorithm: Option<String>,
    pub signed_at: Option<Timestamp>,
    pub status: SignatureStatus,
}

/// What a signature is worth.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum SignatureStatus {
    /// Good, about this atom, and by a key the policy allows at the signing
    /// time.
    Allowed { principals: String, line: usize },
    /// Good and about this atom; no policy was asked.
    Good,
    /// Good and about this atom, but no line of the policy holds the key.
    UnknownSigner,
    /// Good and about this atom, but the policy's line for the key refuses it
    /// (expired, not yet valid, another namespace).
    Refused { line: usize, reason: Refusal },
    /// Good, but about another atom, version, commit or content.
    WrongAtom { mismatches: Vec<Mismatch> },
    /// Not a good signature at all.
    Invalid {
        #[serde(serialize_with = "ser_error")]
        error: SignatureError,
    },
}

fn ser_error<S: serde::Serializer>(e: &SignatureError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&crate::causes(e))
}

impl SignatureStatus {
    pub fn is_allowed(&self) -> bool {
        matches!(self, SignatureStatus::Allowed { .. })
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::Allowed { principals, .. } => {
                write!(f, "valid, signed by {principals}")
            }
            SignatureStatus::Good => write!(f, "good signature (no policy)"),
            SignatureStatus::UnknownSigner => {
                write!(f, "unknown signer: the policy does not hold this key")
            }
            SignatureStatus::Refused { line, reason } => {
                write!(f, "refused by the policy (line {line}): {reason}")
            }
            SignatureStatus::WrongAtom { mismatches } => {
                write!(f, "a signature over another atom: ")?;
                let list: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
                f.write_str(&list.join("; "))
            }
            SignatureStatus::Invalid { error } => write!(f, "invalid: {}", crate::causes(error)),
        }
    }
}

impl fmt::Display for SignatureVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.fingerprint, self.listed) {
            (Some(fp), _) | (None, Some(fp)) => write!(f, "{fp}: {}", self.status),
            (None, None) => write!(f, "{}", self.status),
        }
    }
}

/// Judges one signature tag of the atom `atom`: checks it, compares its
/// statement with the atom, and asks `signers` (if any) about its key.
pub fn judge_signature(
    atom: &Statement,
    tag: ListedTag<'_>,
    signers: Option<&AllowedSigners>,
) -> SignatureVerdict {
    let mut verdict = SignatureVerdict {
        listed: tag.listed,
        fingerprint: None,
        algorithm: None,
        signed_at: None,
        status: SignatureStatus::Good,
    };
    let checked = match check_signature_tag(tag.bytes) {
        Ok(checked) => checked,
        Err(error) => {
            verdict.status = SignatureStatus::Invalid { error };
            return verdict;
        }
    };
    let signer = checked.signer.expect("a checked signature tag is signed");
    verdict.fingerprint = Some(signer.fingerprint);
    verdict.algorithm = Some(signer.key.algorithm().as_str().to_owned());
    verdict.signed_at = Some(signer.signed_at);
    verdict.status = listed_signer_mismatch(&signer, tag.listed).unwrap_or_else(|| {
        match checked.statement.mismatches(atom) {
            m if m.is_empty() => SignatureStatus::Good,
            mismatches => SignatureStatus::WrongAtom { mismatches },
        }
    });
    if matches!(verdict.status, SignatureStatus::Good) {
        if let Some(signers) = signers {
            verdict.status =
                judged(signers.judge(signer.key.key_data(), NAMESPACE, signer.signed_at));
        }
    }
    verdict
}

/// A ref that names another signer than the one who signed: the listing
/// would count a signer who did not sign.
fn listed_signer_mismatch(
    signer: &Signer,
    listed: Option<KeyFingerprint>,
) -> Option<SignatureStatus> {
    match listed {
        Some(listed) if listed != signer.fingerprint => Some(SignatureStatus::Invalid {
            error: SignatureError::ListedSigner {
                listed,
                actual: signer.fingerprint,
            },
        }),
        _ => None,
    }
}

fn judged(judgement: Judgement) -> SignatureStatus {
    match judgement {
        Judgement::Allowed { principals, line } => SignatureStatus::Allowed { principals, line },
        Judgement::UnknownSigner => SignatureStatus::UnknownSigner,
        Judgement::Refused { line, reason } => SignatureStatus::Refused { line, reason },
    }
}

/// A signer a lock records: enough to re-check the policy offline.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct RecordedSigner {
    pub fingerprint: KeyFingerprint,
    /// The signing time (seconds since the epoch) the policy was checked at.
    pub signed_at: i64,
}

/// The verdict on an atom version under a policy.
#[derive(Debug, serde::Serialize)]
pub struct Evaluation {
    /// `label@version`.
    pub atom: String,
    /// The root the policy pins, when the atom's differs.
    pub wrong_root: Option<WrongRoot>,
    pub verdicts: Vec<SignatureVerdict>,
}

/// An atom from another history than the one the policy pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WrongRoot {
    #[serde(serialize_with = "ser_oid")]
    pub pinned: ObjectId,
    #[serde(serialize_with = "ser_oid")]
    pub actual: ObjectId,
}

fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// Why a policy refuses an atom version: one line naming the atom and what
/// was missing. The caller adds the set's name.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{atom}: {why}")]
#[diagnostic(
    code(atom::trust::refused),
    help("the set's policy (allowed_signers) decides whose signatures count")
)]
pub struct PolicyRefusal {
    pub atom: String,
    pub why: String,
}

impl Evaluation {
    /// Whether the policy admits the atom: the right root (if pinned) and at
    /// least one allowed signature.
    pub fn admitted(&self) -> bool {
        self.wrong_root.is_none() && self.verdicts.iter().any(|v| v.status.is_allowed())
    }

    /// The signers a lock records: those whose signatures the policy allows.
    pub fn recorded(&self) -> Vec<RecordedSigner> {
        let mut out: Vec<_> = self
            .verdicts
            .iter()
            .filter(|v| v.status.is_allowed())
            .filter_map(|v| {
                Some(RecordedSigner {
                    fingerprint: v.fingerprint?,
                    signed_at: v.signed_at?.0,
                })
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The recorded signers, or why the atom is refused.
    pub fn into_result(self) -> Result<Vec<RecordedSigner>, PolicyRefusal> {
        if self.admitted() {
            return Ok(self.recorded());
        }
        let why = if let Some(root) = self.wrong_root {
            format!(
                "its registry's root is {}, but the policy pins {}: another history (a fork or a rewritten mirror)",
                root.actual, root.pinned
            )
        } else if self.verdicts.is_empty() {
            "not signed, and the policy requires a signature by an allowed key".to_owned()
        } else {
            let each: Vec<String> = self.verdicts.iter().map(ToString::to_string).collect();
            format!("no valid signature by an allowed key ({})", each.join("; "))
        };
        Err(PolicyRefusal {
            atom: self.atom,
            why,
        })
    }
}

impl Policy {
    /// Evaluates every signature of an atom version. `atom` is what the
    /// registry and the content say the atom is (its commit from the ref,
    /// its origin, root, and digest computed from the content).
    pub fn evaluate<'a>(
        &self,
        atom: &Statement,
        signatures: impl IntoIterator<Item = ListedTag<'a>>,
    ) -> Evaluation {
        Evaluation {
            atom: format!("{}@{}", atom.label, atom.version),
            wrong_root: self.wrong_root(atom.root),
            verdicts: signatures
                .into_iter()
                .map(|tag| judge_signature(atom, tag, Some(&self.signers)))
                .collect(),
        }
    }

    fn wrong_root(&self, actual: ObjectId) -> Option<WrongRoot> {
        self.root
            .filter(|pinned| *pinned != actual)
            .map(|pinned| WrongRoot { pinned, actual })
    }

    /// Re-checks a lock's recorded signers offline (`eka lock --check`): the
    /// root pin still holds and at least one recorded signer is still
    /// allowed at its recorded signing time.
    pub fn check_recorded(
        &self,
        atom: &str,
        root: ObjectId,
        recorded: &[RecordedSigner],
    ) -> Result<(), PolicyRefusal> {
        let refuse = |why: String| PolicyRefusal {
            atom: atom.to_owned(),
            why,
        };
        if let Some(root) = self.wrong_root(root) {
            return Err(refuse(format!(
                "locked from root {}, but the policy pins {}",
                root.actual, root.pinned
            )));
        }
        if recorded.is_empty() {
            return Err(refuse(
                "the lock records no signer, and the policy now requires one".into(),
            ));
        }
        let mut why = Vec::new();
        for signer in recorded {
            match self.signers.judge_fingerprint(
                &signer.fingerprint,
                NAMESPACE,
                Timestamp(signer.signed_at),
            ) {
                Judgement::Allowed { .. } => return Ok(()),
                Judgement::UnknownSigner => {
                    why.push(format!("{}: no longer in the policy", signer.fingerprint))
                }
                Judgement::Refused { line, reason } => {
                    why.push(format!("{}: line {line}: {reason}", signer.fingerprint))
                }
            }
        }
        Err(refuse(format!(
            "the signers the lock records no longer satisfy the policy ({})",
            why.join("; ")
        )))
    }
}

/// The verdict on one yank of an atom version.
#[derive(Debug, serde::Serialize)]
pub struct YankVerdict {
    pub listed: Option<KeyFingerprint>,
    /// The reason, when the yank's statement parsed.
    pub reason: Option<String>,
    /// Who signed it, when it is signed and the signature verified.
    pub fingerprint: Option<KeyFingerprint>,
    pub signed_at: Option<Timestamp>,
    pub status: YankStatus,
}

/// Whether a yank counts.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum YankStatus {
    /// The version is withdrawn. `principals` when a policy allowed the
    /// signer.
    Counts { principals: Option<String> },
    /// Not a yank the consumer may act on: it is not signed (or not by an
    /// allowed key) on a set with a policy, it names another atom, or it is
    /// malformed. A forged yank is ignored, with a warning.
    Ignored { why: String },
}

impl YankVerdict {
    pub fn counts(&self) -> bool {
        matches!(self.status, YankStatus::Counts { .. })
    }
}

/// Judges one yank tag of `atom`. With a policy, only a yank signed by an
/// allowed key counts; without one, any well-formed yank about this atom
/// counts (whoever can push a yank can also publish), but a signature it
/// carries must still verify.
pub fn judge_yank(
    atom: &YankTarget,
    tag: ListedTag<'_>,
    signers: Option<&AllowedSigners>,
) -> YankVerdict {
    let mut verdict = YankVerdict {
        listed: tag.listed,
        reason: None,
        fingerprint: None,
        signed_at: None,
        status: YankStatus::Counts { principals: None },
    };
    let ignored = |why: String| YankStatus::Ignored { why };
    let checked = match check_yank_tag(tag.bytes) {
        Ok(checked) => checked,
        Err(error) => {
            verdict.status = ignored(crate::causes(&error));
            return verdict;
        }
    };
    verdict.reason = Some(checked.statement.reason.as_str().to_owned());
    let mismatches = checked.statement.mismatches(atom);
    if !mismatches.is_empty() {
        let list: Vec<String> = mismatches.iter().map(ToString::to_string).collect();
        verdict.status = ignored(format!("a yank of another atom: {}", list.join("; ")));
        return verdict;
    }
    verdict.status = match (&checked.signer, tag.listed, signers) {
        (None, Some(listed), _) => ignored(format!(
            "the ref names signer {listed}, but the yank is not signed"
        )),
        (Some(signer), listed, _) if listed != Some(signer.fingerprint) => ignored(format!(
            "the ref names {}, but the yank is signed by {}",
            listed.map_or("no signer".to_owned(), |l| l.to_string()),
            signer.fingerprint
        )),
        (None, None, None) => YankStatus::Counts { principals: None },
        (None, None, Some(_)) => ignored(
            "not signed, and the set's policy accepts only yanks signed by an allowed key".into(),
        ),
        (Some(_), _, None) => YankStatus::Counts { principals: None },
        (Some(signer), _, Some(signers)) => {
            match signers.judge(signer.key.key_data(), NAMESPACE, signer.signed_at) {
                Judgement::Allowed { principals, .. } => YankStatus::Counts {
                    principals: Some(principals),
                },
                Judgement::UnknownSigner => ignored(format!(
                    "signed by {}, which the set's policy does not hold",
                    signer.fingerprint
                )),
                Judgement::Refused { line, reason } => ignored(format!(
                    "signed by {}, which the set's policy refuses (line {line}): {reason}",
                    signer.fingerprint
                )),
            }
        }
    };
    if let Some(signer) = &checked.signer {
        verdict.fingerprint = Some(signer.fingerprint);
        verdict.signed_at = Some(signer.signed_at);
    }
    verdict
}
