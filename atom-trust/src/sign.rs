//! Signing statements as git signs tags with `gpg.format = ssh`.
//!
//! A key is used in-process when it is an unencrypted OpenSSH ed25519 or
//! ECDSA private key that the `ssh-key` crate reads. Every other key goes
//! through `ssh-keygen -Y sign`, as
//! git does: an encrypted key (ssh-keygen asks for the passphrase on the
//! terminal), a key held by `ssh-agent` (named by its public key), a
//! security key, and RSA keys (the `rsa` crate's private-key operations are
//! not constant-time, RUSTSEC-2023-0071; OpenSSH's are). Many statements are
//! signed in one `ssh-keygen` run, so a passphrase is asked once, not once
//! per atom. In-process signatures of many statements are made on every
//! core.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gix::ObjectId;
use rayon::prelude::*;
use ssh_key::private::KeypairData;
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

use crate::refs::TrustRef;
use crate::statement::{Statement, YankStatement};
use crate::tag::{TagObject, Tagger};
use crate::verify::NAMESPACE;
use crate::KeyFingerprint;

/// How many payloads one `ssh-keygen` run signs (its command line holds
/// one path per payload).
const SSH_KEYGEN_BATCH: usize = 2048;

/// A key to sign with.
#[derive(Debug)]
pub struct SigningKey {
    source: Source,
    /// The public key, when known before signing.
    public: Option<PublicKey>,
}

#[derive(Debug)]
enum Source {
    InProcess(Box<PrivateKey>),
    SshKeygen {
        program: PathBuf,
        key_file: PathBuf,
        /// `-U`: the key file is a public key whose private half is in
        /// ssh-agent (git's literal `key::` keys).
        agent: bool,
        /// An encrypted private key: ssh-keygen asks for its passphrase.
        encrypted: bool,
        /// Keeps a temporary public key file alive.
        _temp: Option<tempfile::TempPath>,
    },
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum KeyError {
    #[error("cannot read the signing key `{path}`")]
    #[diagnostic(code(atom::trust::key_read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{0}` is neither an OpenSSH private key nor a public key")]
    #[diagnostic(
        code(atom::trust::key_format),
        help("give a private key file (`~/.ssh/id_ed25519`), a public key file whose key is in ssh-agent, or `key::ssh-ed25519 AAAA…`")
    )]
    Format(String),
    #[error("the literal key `{0}` does not parse")]
    #[diagnostic(code(atom::trust::key_literal))]
    Literal(String, #[source] ssh_key::Error),
    #[error("cannot write a temporary file for ssh-keygen")]
    #[diagnostic(code(atom::trust::temp))]
    Temp(#[source] std::io::Error),
}

/// Why signing failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SignError {
    #[error("signing in-process failed")]
    #[diagnostic(code(atom::trust::sign))]
    InProcess(#[source] ssh_key::Error),
    #[error("cannot run `{program}`")]
    #[diagnostic(
        code(atom::trust::ssh_keygen_missing),
        help(
            "install OpenSSH's ssh-keygen (8.2 or later), or sign with an unencrypted ed25519 key"
        )
    )]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`ssh-keygen -Y sign` failed: {0}")]
    #[diagnostic(
        code(atom::trust::ssh_keygen),
        help("an encrypted key needs its passphrase on a terminal; a public key needs its private key in ssh-agent (SSH_AUTH_SOCK)")
    )]
    SshKeygen(String),
    #[error("the key `{}` is encrypted, and there is no terminal to ask its passphrase on (ssh-keygen: {ssh_keygen})", .key.display())]
    #[diagnostic(
        code(atom::trust::no_terminal),
        help("load the key into ssh-agent (`ssh-add {}`) and sign with its public key file (`{}.pub`), which asks for nothing; or sign from a terminal", .key.display(), .key.display())
    )]
    NoTerminal { key: PathBuf, ssh_keygen: String },
    #[error("cannot exchange files with ssh-keygen")]
    #[diagnostic(code(atom::trust::temp))]
    Io(#[source] std::io::Error),
    #[error("ssh-keygen wrote a signature that does not decode")]
    #[diagnostic(code(atom::trust::ssh_keygen_output))]
    Output(#[source] ssh_key::Error),
    #[error("the tagger line cannot be written")]
    #[diagnostic(code(atom::trust::tagger))]
    Tagger(#[source] crate::tag::TagError),
}

impl SigningKey {
    /// An unencrypted private key, used in-process when eka signs with its
    /// algorithm in-process (ed25519, ECDSA); `None` otherwise (sign with
    /// its file through [`SigningKey::from_file`]).
    pub fn in_process(key: PrivateKey) -> Option<Self> {
        let usable = !key.is_encrypted()
            && matches!(
                key.key_data(),
                KeypairData::Ed25519(_) | KeypairData::Ecdsa(_)
            );
        usable.then(|| SigningKey {
            public: Some(key.public_key().clone()),
            source: Source::InProcess(Box::new(key)),
        })
    }

    /// A key file: a private key (in-process when possible, else through
    /// ssh-keygen), or a public key whose private half ssh-agent holds.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let read_err = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let bytes = std::fs::read(path).map_err(read_err)?;
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(key) = PrivateKey::from_openssh(text.as_bytes()) {
            let public = key.public_key().clone();
            let encrypted = key.is_encrypted();
            return Ok(Self::in_process(key).unwrap_or_else(|| {
                Self::ssh_keygen(path.to_owned(), false, None, Some(public)).encrypted(encrypted)
            }));
        }
        if let Ok(public) = PublicKey::from_openssh(text.trim()) {
            return Ok(Self::ssh_keygen(path.to_owned(), false, None, Some(public)));
        }
        // Other private keys are ssh-keygen's to read: PEM "RSA PRIVATE KEY"
        // and PKCS#8 files, and the OpenSSH P-521 keys ssh-key 0.6 refuses
        // (about one in four: a private scalar with a leading zero byte).
        // The public key is read from `<path>.pub` if there, else known once
        // signed.
        if text.starts_with("-----BEGIN ") && text.contains("PRIVATE KEY-----") {
            let mut public = path.as_os_str().to_owned();
            public.push(".pub");
            let public = std::fs::read_to_string(public)
                .ok()
                .and_then(|p| PublicKey::from_openssh(p.trim()).ok());
            // PKCS#8's `ENCRYPTED PRIVATE KEY`, or PEM's `Proc-Type: 4,ENCRYPTED`.
            let encrypted = text.contains("ENCRYPTED");
            return Ok(Self::ssh_keygen(path.to_owned(), false, None, public).encrypted(encrypted));
        }
        Err(KeyError::Format(path.display().to_string()))
    }

    /// git's `user.signingKey` for `gpg.format = ssh`: a literal public key
    /// (`key::ssh-ed25519 AAAA…`, or without `key::` for older configs)
    /// held by ssh-agent, or a path to a key file (`~/` already expanded by
    /// the caller).
    pub fn from_git_signing_key(value: &str) -> Result<Self, KeyError> {
        let literal = value
            .strip_prefix("key::")
            .or_else(|| value.starts_with("ssh-").then_some(value));
        let Some(literal) = literal else {
            return Self::from_file(Path::new(value));
        };
        let public = PublicKey::from_openssh(literal.trim())
            .map_err(|e| KeyError::Literal(literal.to_owned(), e))?;
        let mut file = tempfile::Builder::new()
            .prefix(".eka_signing_key")
            .tempfile()
            .map_err(KeyError::Temp)?;
        std::io::Write::write_all(&mut file, literal.trim().as_bytes()).map_err(KeyError::Temp)?;
        let path = file.into_temp_path();
        Ok(Self::ssh_keygen(
            path.to_path_buf(),
            true,
            Some(path),
            Some(public),
        ))
    }

    fn ssh_keygen(
        key_file: PathBuf,
        agent: bool,
        temp: Option<tempfile::TempPath>,
        public: Option<PublicKey>,
    ) -> Self {
        SigningKey {
            source: Source::SshKeygen {
                program: "ssh-keygen".into(),
                key_file,
                agent,
                encrypted: false,
                _temp: temp,
            },
            public,
        }
    }

    fn encrypted(mut self, is: bool) -> Self {
        if let Source::SshKeygen { encrypted, .. } = &mut self.source {
            *encrypted = is;
        }
        self
    }

    /// Uses this program instead of `ssh-keygen` (git's `gpg.ssh.program`).
    pub fn with_program(mut self, program: impl Into<PathBuf>) -> Self {
        if let Source::SshKeygen { program: p, .. } = &mut self.source {
            *p = program.into();
        }
        self
    }

    /// The public key, when known before signing.
    pub fn public_key(&self) -> Option<&PublicKey> {
        self.public.as_ref()
    }

    /// Whether the key signs in-process (no ssh-keygen run, no prompt).
    pub fn is_in_process(&self) -> bool {
        matches!(self.source, Source::InProcess(_))
    }

    /// Signs each payload in the namespace `git` with SHA-512, as
    /// `ssh-keygen -Y sign -n git` does.
    pub fn sign(&self, payloads: &[Vec<u8>]) -> Result<Vec<SshSig>, SignError> {
        match &self.source {
            Source::InProcess(key) => sign_in_process(key, payloads),
            Source::SshKeygen {
                program,
                key_file,
                agent,
                encrypted,
                ..
            } => {
                let mut out = Vec::with_capacity(payloads.len());
                for batch in payloads.chunks(SSH_KEYGEN_BATCH) {
                    let signed = ssh_keygen_sign(program, key_file, *agent, batch);
                    out.extend(signed.map_err(|e| match e {
                        // ssh-keygen read an empty passphrase from stdin.
                        SignError::SshKeygen(said) if *encrypted && !can_ask_passphrase() => {
                            SignError::NoTerminal {
                                key: key_file.clone(),
                                ssh_keygen: said,
                            }
                        }
                        e => e,
                    })?);
                }
                Ok(out)
            }
        }
    }
}

/// Signs each payload in-process, on every core. An ed25519 key is
/// expanded once for all of them: ssh-key's `PrivateKey::sign` expands it
/// again for every signature (hashing the seed, multiplying the basepoint
/// to check the public half), which doubled the cost of signing a publish.
fn sign_in_process(key: &PrivateKey, payloads: &[Vec<u8>]) -> Result<Vec<SshSig>, SignError> {
    if let KeypairData::Ed25519(pair) = key.key_data() {
        // Refuses a key whose public half is not its private key's, as
        // ssh-key does for each signature.
        let expanded = ed25519_dalek::SigningKey::try_from(pair).map_err(SignError::InProcess)?;
        return payloads
            .par_iter()
            .map(|p| sign_ed25519(&expanded, key.public_key(), p))
            .collect();
    }
    payloads
        .par_iter()
        .map(|p| {
            key.sign(NAMESPACE, HashAlg::Sha512, p)
                .map_err(SignError::InProcess)
        })
        .collect()
}

/// What `PrivateKey::sign` makes of an ed25519 key: an SSHSIG in the
/// namespace `git` over the payload's SHA-512.
fn sign_ed25519(
    key: &ed25519_dalek::SigningKey,
    public: &PublicKey,
    payload: &[u8],
) -> Result<SshSig, SignError> {
    use ed25519_dalek::Signer as _;
    let signed_data =
        SshSig::signed_data(NAMESPACE, HashAlg::Sha512, payload).map_err(SignError::InProcess)?;
    let signature = key.sign(&signed_data).to_bytes();
    let signature = ssh_key::Signature::new(ssh_key::Algorithm::Ed25519, signature)
        .map_err(SignError::InProcess)?;
    SshSig::new(
        public.key_data().clone(),
        NAMESPACE,
        HashAlg::Sha512,
        signature,
    )
    .map_err(SignError::InProcess)
}

/// Whether ssh-keygen had a way to ask for a passphrase: a terminal, or an
/// askpass program it would run (`SSH_ASKPASS`, forced, or with a display).
fn can_ask_passphrase() -> bool {
    has_terminal() || askpass_usable()
}

/// Whether ssh-keygen would run `SSH_ASKPASS` (ssh's rule: when
/// `SSH_ASKPASS_REQUIRE` is `force`, or, unless it is `never`, when a
/// display is set).
fn askpass_usable() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    let require = std::env::var("SSH_ASKPASS_REQUIRE").unwrap_or_default();
    set("SSH_ASKPASS")
        && (require == "force"
            || (require != "never" && (set("DISPLAY") || set("WAYLAND_DISPLAY"))))
}

/// Whether this process has a terminal for ssh-keygen to ask a passphrase
/// on: ssh-keygen opens `/dev/tty`, and without one reads the passphrase
/// from its standard input (which a script may pipe it to).
fn has_terminal() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// One `ssh-keygen -Y sign` run over a batch of payloads, each in its own
/// file; ssh-keygen writes `<file>.sig` beside each.
fn ssh_keygen_sign(
    program: &Path,
    key_file: &Path,
    agent: bool,
    payloads: &[Vec<u8>],
) -> Result<Vec<SshSig>, SignError> {
    let dir = tempfile::Builder::new()
        .prefix(".eka_sign")
        .tempdir()
        .map_err(SignError::Io)?;
    let files: Vec<PathBuf> = (0..payloads.len())
        .map(|i| dir.path().join(i.to_string()))
        .collect();
    for (file, payload) in files.iter().zip(payloads) {
        std::fs::write(file, payload).map_err(SignError::Io)?;
    }
    let mut command = Command::new(program);
    command
        .args(["-Y", "sign", "-n", NAMESPACE, "-f"])
        .arg(key_file);
    if agent {
        command.arg("-U");
    }
    // The terminal stays ssh-keygen's, for the passphrase prompt.
    let output = command
        .args(&files)
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| SignError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(SignError::SshKeygen(stderr.trim().replace('\n', "; ")));
    }
    files
        .iter()
        .map(|file| {
            let mut sig = file.clone().into_os_string();
            sig.push(".sig");
            let armored = std::fs::read(sig).map_err(SignError::Io)?;
            SshSig::from_pem(armored).map_err(SignError::Output)
        })
        .collect()
}

/// A signed (or, for a yank, possibly unsigned) statement tag, ready to be
/// written as an object and pointed at by its ref.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementTag {
    /// The ref that holds it (`refs/atoms/_sig/…` or `refs/atoms/_yank/…`).
    pub ref_name: String,
    /// The tag object's id.
    pub id: ObjectId,
    /// The tag object's bytes (without git's `tag <len>\0` header).
    pub bytes: Vec<u8>,
    pub signer: Option<KeyFingerprint>,
}

/// The unsigned tag of a signature statement.
pub fn signature_tag(statement: &Statement, tagger: &Tagger) -> TagObject {
    TagObject {
        object: statement.commit,
        name: format!("eka-signature/{}/{}", statement.label, statement.version),
        tagger: tagger.clone(),
        message: statement.render().into_bytes(),
        signature: None,
    }
}

/// The unsigned tag of a yank statement.
pub fn yank_tag(yank: &YankStatement, tagger: &Tagger) -> TagObject {
    TagObject {
        object: yank.commit,
        name: format!("eka-yank/{}/{}", yank.label, yank.version),
        tagger: tagger.clone(),
        message: yank.render().into_bytes(),
        signature: None,
    }
}

/// Signs many statements with one key (one ssh-keygen run, when it is
/// needed), each as its own signed tag.
pub fn sign_statements(
    key: &SigningKey,
    statements: &[Statement],
    tagger: &Tagger,
) -> Result<Vec<StatementTag>, SignError> {
    let tags: Vec<TagObject> = statements
        .par_iter()
        .map(|s| signature_tag(s, tagger))
        .collect();
    let signed = sign_tags(key, tags)?;
    Ok(statements
        .par_iter()
        .zip(signed)
        .map(|(statement, (tag, signer))| {
            let atom = atom_format::refs::AtomVersion::new(
                statement.label.clone(),
                statement.version.clone(),
            );
            finish(
                TrustRef::Signature { atom, signer }.name(),
                tag,
                Some(signer),
            )
        })
        .collect())
}

/// A yank's tag: signed when a key is given.
pub fn make_yank(
    key: Option<&SigningKey>,
    yank: &YankStatement,
    tagger: &Tagger,
) -> Result<StatementTag, SignError> {
    let tag = yank_tag(yank, tagger);
    let atom = atom_format::refs::AtomVersion::new(yank.label.clone(), yank.version.clone());
    let (tag, signer) = match key {
        None => (tag, None),
        Some(key) => {
            let (tag, signer) = sign_tags(key, vec![tag])?.remove(0);
            (tag, Some(signer))
        }
    };
    Ok(finish(TrustRef::Yank { atom, signer }.name(), tag, signer))
}

fn sign_tags(
    key: &SigningKey,
    tags: Vec<TagObject>,
) -> Result<Vec<(TagObject, KeyFingerprint)>, SignError> {
    let payloads: Vec<Vec<u8>> = tags.iter().map(TagObject::payload).collect();
    let signatures = key.sign(&payloads)?;
    tags.into_par_iter()
        .zip(signatures)
        .map(|(mut tag, signature)| {
            let armored = signature
                .to_pem(LineEnding::LF)
                .map_err(SignError::InProcess)?;
            tag.signature = Some(armored.into_bytes());
            Ok((tag, KeyFingerprint::of(signature.public_key())))
        })
        .collect()
}

fn finish(ref_name: String, tag: TagObject, signer: Option<KeyFingerprint>) -> StatementTag {
    let bytes = tag.to_bytes();
    StatementTag {
        ref_name,
        id: crate::tag::tag_id(&bytes),
        bytes,
        signer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ed25519 key expanded once signs exactly as ssh-key does
    /// (ed25519 signatures are deterministic), and a key whose public half
    /// is not its own is refused.
    #[test]
    fn ed25519_signatures_are_ssh_keys_own() {
        let seeded =
            |seed| PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]));
        let key = seeded(1);
        let payloads: Vec<Vec<u8>> = [&b""[..], b"a", &[7u8; 1000][..]]
            .iter()
            .map(|p| p.to_vec())
            .collect();
        let ours = sign_in_process(&key, &payloads).unwrap();
        for (payload, ours) in payloads.iter().zip(&ours) {
            let theirs = key.sign(NAMESPACE, HashAlg::Sha512, payload).unwrap();
            assert_eq!(ours, &theirs);
            assert_eq!(
                ours.to_pem(LineEnding::LF).unwrap(),
                theirs.to_pem(LineEnding::LF).unwrap()
            );
        }
        let other = seeded(2);
        let (KeypairData::Ed25519(mine), KeypairData::Ed25519(theirs)) =
            (key.key_data(), other.key_data())
        else {
            unreachable!()
        };
        let mut mismatched = mine.clone();
        mismatched.public = theirs.public;
        let mismatched = PrivateKey::from(mismatched);
        assert!(sign_in_process(&mismatched, &payloads).is_err());
    }
}
