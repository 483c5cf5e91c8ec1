//! Checking a statement's tag in-process: the tag's layout, the statement,
//! the tag's target, and the SSH signature over the payload (SSHSIG,
//! namespace `git`, as `git verify-tag` checks it). Whether the signer is
//! trusted is the policy's question ([`crate::policy`]), not this one's.

use gix::ObjectId;
use ssh_key::public::KeyData;
use ssh_key::{PublicKey, SshSig};

use crate::statement::{Statement, StatementError, YankStatement};
use crate::tag::{TagError, TagObject};
use crate::time::Timestamp;
use crate::KeyFingerprint;

/// The SSHSIG namespace of every eka signature: git's, so that
/// `git verify-tag` and `ssh-keygen -Y verify -n git` check them too.
pub const NAMESPACE: &str = "git";

/// Who signed a tag, and when (the tagger time, the one `git verify-tag`
/// checks key validity at).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub key: PublicKey,
    pub fingerprint: KeyFingerprint,
    pub signed_at: Timestamp,
}

/// A tag whose statement parsed, whose target is the statement's commit and
/// whose signature, if any, is good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedTag<S> {
    pub tag: TagObject,
    /// The tag object's id.
    pub id: ObjectId,
    pub statement: S,
    /// `None` for an unsigned tag (possible for yanks only).
    pub signer: Option<Signer>,
}

/// Why a tag is not a good statement tag.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SignatureError {
    #[error("not a statement tag")]
    #[diagnostic(code(atom::trust::tag))]
    Tag(#[from] TagError),
    #[error("the tag's message is not a statement")]
    #[diagnostic(code(atom::trust::statement))]
    Statement(#[source] StatementError),
    #[error("the tag is not signed")]
    #[diagnostic(code(atom::trust::unsigned))]
    Unsigned,
    #[error("the tag points at {tag}, but its statement is about commit {statement}")]
    #[diagnostic(code(atom::trust::target))]
    Target { tag: ObjectId, statement: ObjectId },
    #[error("the signature block does not decode")]
    #[diagnostic(code(atom::trust::armor))]
    Armor(#[source] ssh_key::Error),
    #[error("the signature is in the namespace `{0}`, not `{NAMESPACE}`")]
    #[diagnostic(code(atom::trust::namespace))]
    Namespace(String),
    #[error("the signature is made with a {0} key, which eka cannot verify")]
    #[diagnostic(
        code(atom::trust::algorithm),
        help("sign with an ed25519, ECDSA or RSA key (certificates are not read)")
    )]
    Unsupported(String),
    #[error("the signature does not verify: the signed bytes or the signature were changed")]
    #[diagnostic(code(atom::trust::bad_signature))]
    Bad(#[source] ssh_key::Error),
    #[error("the ref names signer {listed}, but the tag is signed by {actual}")]
    #[diagnostic(code(atom::trust::listed_signer))]
    ListedSigner {
        listed: KeyFingerprint,
        actual: KeyFingerprint,
    },
}

/// Checks a signature tag: layout, statement, target and signature.
pub fn check_signature_tag(bytes: &[u8]) -> Result<CheckedTag<Statement>, SignatureError> {
    let checked = check_tag(bytes, Statement::parse, |s| s.commit)?;
    if checked.signer.is_none() {
        return Err(SignatureError::Unsigned);
    }
    Ok(checked)
}

/// Checks a yank tag: layout, statement, target and, if signed, signature.
pub fn check_yank_tag(bytes: &[u8]) -> Result<CheckedTag<YankStatement>, SignatureError> {
    check_tag(bytes, YankStatement::parse, |s| s.commit)
}

fn check_tag<S>(
    bytes: &[u8],
    parse: fn(&[u8]) -> Result<S, StatementError>,
    commit: fn(&S) -> ObjectId,
) -> Result<CheckedTag<S>, SignatureError> {
    let tag = TagObject::parse(bytes)?;
    let statement = parse(&tag.message).map_err(SignatureError::Statement)?;
    if tag.object != commit(&statement) {
        return Err(SignatureError::Target {
            tag: tag.object,
            statement: commit(&statement),
        });
    }
    let signer = match &tag.signature {
        None => None,
        Some(armored) => Some(verify_signature(
            &tag.payload(),
            armored,
            Timestamp(tag.tagger.time),
        )?),
    };
    Ok(CheckedTag {
        id: crate::tag::tag_id(bytes),
        tag,
        statement,
        signer,
    })
}

/// Verifies an armored SSHSIG over `payload` in the namespace `git`; the
/// signer's key is the one the signature carries (the policy decides
/// whether it is trusted).
pub fn verify_signature(
    payload: &[u8],
    armored: &[u8],
    signed_at: Timestamp,
) -> Result<Signer, SignatureError> {
    let signature = SshSig::from_pem(armored).map_err(SignatureError::Armor)?;
    if signature.namespace() != NAMESPACE {
        return Err(SignatureError::Namespace(signature.namespace().to_owned()));
    }
    let key_data = signature.public_key();
    if matches!(key_data, KeyData::Other(_) | KeyData::Dsa(_)) {
        return Err(SignatureError::Unsupported(
            key_data.algorithm().as_str().to_owned(),
        ));
    }
    let key = PublicKey::from(key_data.clone());
    key.verify(NAMESPACE, payload, &signature)
        .map_err(SignatureError::Bad)?;
    Ok(Signer {
        fingerprint: KeyFingerprint::of(key.key_data()),
        key,
        signed_at,
    })
}
