//! Signing atom versions (`spec/trust.md` §4): at publish, and later
//! (`eka sign`), each signature one new create-only ref
//! `refs/atoms/_sig/<label>/<version>/<signer>` to an SSH-signed tag.
//!
//! The key comes from the request (`--key`), else git's configuration
//! `eka.signingKey`, else `user.signingKey` when `gpg.format = ssh`, read
//! as git reads it: a key file, a public key file whose private key
//! ssh-agent holds, or a literal `key::ssh-ed25519 AAAA…`.

use std::path::{Path, PathBuf};

use atom_format::digest::{DigestError, Digester};
use atom_format::refs::{AtomRef, AtomVersion, Namespace, EKA03_ROOT_REF, ROOT_REF};
use atom_format::{AtomCommit, ContentDigest};
use atom_git::{self as git, Connections, GitError, NewPack, PushError, RemoteError};
use atom_trust::sign::{KeyError, SignError, SigningKey};
use atom_trust::tag::TagError;
use atom_trust::{sign_statements, KeyFingerprint, Statement, Tagger};
use gix::ObjectId;

/// The git configuration key naming eka's signing key.
pub const KEY_KEY: &str = "eka.signingKey";
/// The git configuration key that makes `eka publish` always sign.
pub const ALWAYS_KEY: &str = "eka.sign";

/// Where the signing key came from, for reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// `--key`.
    Given,
    /// git config `eka.signingKey`.
    EkaConfig,
    /// git config `user.signingKey` (with `gpg.format = ssh`).
    GitConfig,
}

/// A loaded key and where it came from.
#[derive(Debug)]
pub struct Key {
    pub key: SigningKey,
    pub origin: KeyOrigin,
    /// The tagger written in the signature tags: git's `user.name` and
    /// `user.email`, and the signing time.
    pub tagger: Tagger,
}

/// Why nothing was signed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SigningError {
    #[error("no signing key: none given, and neither git config eka.signingKey nor user.signingKey (with gpg.format = ssh) names one")]
    #[diagnostic(code(atom::sign::no_key))]
    NoKey,
    #[error("git config user.signingKey is set for gpg.format = {format}, not ssh")]
    #[diagnostic(code(atom::sign::not_ssh))]
    NotSsh { format: String },
    #[error("the signing key `{given}` cannot be used")]
    #[diagnostic(code(atom::sign::key))]
    Key {
        given: String,
        #[source]
        source: KeyError,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sign(#[from] SignError),
    #[error("the tagger identity from git config user.name/user.email cannot be written in a tag")]
    #[diagnostic(code(atom::sign::tagger))]
    Tagger(#[source] TagError),
    #[error("cannot write the signature tags")]
    #[diagnostic(code(atom::sign::write))]
    Write(#[source] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Push(#[from] PushError),
    #[error("{atom} is not published on `{url}`")]
    #[diagnostic(code(atom::sign::not_published))]
    NotPublished { atom: AtomVersion, url: String },
    #[error("`{url}` has no {ROOT_REF}: a signature binds the registry's root")]
    #[diagnostic(code(atom::sign::no_root))]
    NoRoot { url: String },
    #[error("{atom} on `{url}` is not an atom commit in the format's layout")]
    #[diagnostic(code(atom::sign::not_an_atom))]
    NotAnAtom {
        atom: AtomVersion,
        url: String,
        #[source]
        source: Option<atom_format::commit::AtomCommitError>,
    },
    #[error("{atom}: its content has no digest")]
    #[diagnostic(code(atom::sign::digest))]
    Digest {
        atom: AtomVersion,
        #[source]
        source: DigestError,
    },
    #[error("cannot create a scratch repository")]
    #[diagnostic(code(atom::sign::scratch))]
    Scratch(#[source] git::BoxError),
}

/// Loads the signing key: `given` (`--key`), else git's configuration in
/// `repo` (or the user's, outside a repository).
pub fn load_key(repo: Option<&gix::Repository>, given: Option<&str>) -> Result<Key, SigningError> {
    let config = repo.map(|r| r.config_snapshot());
    let get = |key: &str| {
        config
            .as_ref()
            .and_then(|c| c.string(key))
            .map(|v| v.to_string())
    };
    let (value, origin) = if let Some(given) = given {
        (given.to_owned(), KeyOrigin::Given)
    } else if let Some(value) = get(KEY_KEY) {
        (value, KeyOrigin::EkaConfig)
    } else if let Some(value) = get("user.signingKey") {
        match get("gpg.format") {
            Some(format) if format == "ssh" => (value, KeyOrigin::GitConfig),
            format => {
                return Err(SigningError::NotSsh {
                    format: format.unwrap_or_else(|| "openpgp".into()),
                })
            }
        }
    } else {
        return Err(SigningError::NoKey);
    };
    let expanded = expand_home(&value);
    let key = SigningKey::from_git_signing_key(&expanded).map_err(|source| SigningError::Key {
        given: value,
        source,
    })?;
    let key = match get("gpg.ssh.program") {
        Some(program) => key.with_program(program),
        None => key,
    };
    let tagger = tagger(repo)?;
    Ok(Key {
        key,
        origin,
        tagger,
    })
}

/// The tagger of eka's tags: git's `user.name` and `user.email` (empty
/// when unset), now.
pub fn tagger(repo: Option<&gix::Repository>) -> Result<Tagger, SigningError> {
    let config = repo.map(|r| r.config_snapshot());
    let get = |key: &str| {
        config
            .as_ref()
            .and_then(|c| c.string(key))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    Tagger::new(&get("user.name"), &get("user.email"), now()).map_err(SigningError::Tagger)
}

/// Whether git's configuration asks `eka publish` to sign always.
pub fn sign_always(repo: &gix::Repository) -> bool {
    repo.config_snapshot().boolean(ALWAYS_KEY).unwrap_or(false)
}

/// `~/…` as git expands it in `user.signingKey`.
fn expand_home(value: &str) -> String {
    match (value.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => value.to_owned(),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Signatures written into a repository, ready to push.
#[derive(Debug)]
pub struct Signatures {
    /// `(ref, tag id)`, one per statement.
    pub refs: Vec<(String, ObjectId)>,
    pub signer: KeyFingerprint,
    /// Keeps the new pack from being repacked until its refs exist.
    _pack: NewPack,
}

/// Signs `statements` (one ssh-keygen run at most) and writes their tags
/// into `repo` as one pack.
pub fn sign_into(
    repo: &gix::Repository,
    key: &Key,
    statements: &[Statement],
) -> Result<Signatures, SigningError> {
    draft(repo, key, statements)?.write(repo, "of which writing the tags")
}

/// Signs `statements` and drafts the pack of their tags, writing nothing.
fn draft(
    repo: &gix::Repository,
    key: &Key,
    statements: &[Statement],
) -> Result<SignedDraft, SigningError> {
    let tags = sign_statements(&key.key, statements, &key.tagger)?;
    let signer = match tags.first().and_then(|t| t.signer) {
        Some(signer) => signer,
        None => return Err(SigningError::NoKey),
    };
    let bytes: Vec<Vec<u8>> = tags.iter().map(|t| t.bytes.clone()).collect();
    let pack = git::PackDraft::tags(repo, &bytes).map_err(SigningError::Write)?;
    debug_assert!(pack.ids().iter().zip(&tags).all(|(id, t)| *id == t.id));
    Ok(SignedDraft {
        refs: tags.into_iter().map(|t| (t.ref_name, t.id)).collect(),
        signer,
        pack,
    })
}

/// Signature tags made, their pack drafted but not written.
#[derive(Debug)]
pub struct SignedDraft {
    refs: Vec<(String, ObjectId)>,
    signer: KeyFingerprint,
    pack: git::PackDraft,
}

impl SignedDraft {
    /// Writes the tags' pack into `repo`, timed as the phase `phase`.
    fn write(self, repo: &gix::Repository, phase: &str) -> Result<Signatures, SigningError> {
        let _writing =
            tracing::info_span!(target: "eka::phase", "write", summary = phase).entered();
        let pack = self.pack.write(repo).map_err(SigningError::Write)?;
        Ok(Signatures {
            refs: self.refs,
            signer: self.signer,
            _pack: pack,
        })
    }
}

/// The signatures of a publish, as far as they are made before the
/// publish is known to go ahead (its work tree clean): nothing is written
/// until [`PendingSignatures::finish`].
#[derive(Debug)]
pub enum PendingSignatures {
    /// Signed in-process, their pack drafted: only writing it is left.
    Drafted(SignedDraft),
    /// The key signs through ssh-keygen (ssh-agent, or a passphrase it
    /// asks for): signed only in [`PendingSignatures::finish`], so that
    /// nobody is asked for a passphrase for a publish that is refused.
    Deferred {
        key: Box<Key>,
        statements: Vec<Statement>,
    },
}

impl PendingSignatures {
    /// Signs what is left to sign, and writes the tags into `repo`.
    pub fn finish(self, repo: &gix::Repository) -> Result<Signatures, SigningError> {
        match self {
            PendingSignatures::Drafted(draft) => draft.write(repo, "write signature tags"),
            PendingSignatures::Deferred { key, statements } => {
                tracing::info_span!(target: "eka::phase", "sign")
                    .in_scope(|| sign_into(repo, &key, &statements))
            }
        }
    }
}

/// The statement of a fresh atom of a publish.
pub fn statement(
    atom: &AtomVersion,
    commit: ObjectId,
    origin: ObjectId,
    root: ObjectId,
    digest: ContentDigest,
) -> Statement {
    Statement::new(
        atom.label.clone(),
        atom.version.clone(),
        commit,
        origin,
        root,
        digest,
    )
}

/// What `eka sign` is asked to do.
#[derive(Clone, Debug)]
pub struct SignRequest {
    /// Where git's configuration (key, remote names) is read.
    pub dir: PathBuf,
    /// A configured remote's name, or a URL or path.
    pub remote: String,
    pub atoms: Vec<AtomVersion>,
    /// `--key`.
    pub key: Option<String>,
}

/// What happened to one version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignStatus {
    Signed,
    /// The registry already holds a signature of it by this key.
    AlreadySigned,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SignedAtom {
    pub atom: String,
    pub status: SignStatus,
    #[serde(rename = "ref")]
    pub ref_name: String,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct SignReport {
    pub remote: String,
    pub signer: KeyFingerprint,
    pub key_origin: KeyOrigin,
    pub atoms: Vec<SignedAtom>,
}

/// Adds a signature by the key to published versions on a remote, pushing
/// only the new signature refs (the published refs are not touched).
pub fn sign(request: &SignRequest, connections: &Connections) -> Result<SignReport, SigningError> {
    let here = git::open(&request.dir).ok();
    let key = load_key(here.as_ref(), request.key.as_deref())?;
    let url = git::remote_url(here.as_ref(), &request.remote)?;
    let prefixes = prefixes(&request.atoms);
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let listing = connections.ls_refs(&url, &prefixes)?;
    let find = |name: &str| listing.iter().find(|r| r.name == name).map(|r| r.target);
    let root = find(ROOT_REF)
        .or_else(|| find(EKA03_ROOT_REF))
        .ok_or_else(|| SigningError::NoRoot { url: url.clone() })?;
    let scratch = tempfile::tempdir().map_err(|e| SigningError::Scratch(e.into()))?;
    let repo = gix::init_bare(scratch.path()).map_err(|e| SigningError::Scratch(e.into()))?;
    let commits = request
        .atoms
        .iter()
        .map(|atom| {
            [Namespace::Atoms, Namespace::Eka03]
                .iter()
                .find_map(|ns| find(&AtomRef::Atom(atom.clone()).name_in(*ns)))
                .ok_or_else(|| SigningError::NotPublished {
                    atom: atom.clone(),
                    url: url.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    connections.fetch_objects(&repo, &url, &commits)?;
    let statements = request
        .atoms
        .iter()
        .zip(&commits)
        .map(|(atom, commit)| atom_statement(&repo, &url, atom, *commit, root))
        .collect::<Result<Vec<_>, _>>()?;
    let signatures = sign_into(&repo, &key, &statements)?;
    let listed = |name: &str| listing.iter().any(|r| r.name == name);
    let new: Vec<(String, ObjectId)> = signatures
        .refs
        .iter()
        .filter(|(name, _)| !listed(name))
        .cloned()
        .collect();
    if !new.is_empty() {
        git::push_atomic(&repo, &url, &new, connections.timeout())?;
    }
    Ok(SignReport {
        remote: url,
        signer: signatures.signer,
        key_origin: key.origin,
        atoms: request
            .atoms
            .iter()
            .zip(&signatures.refs)
            .map(|(atom, (name, _))| SignedAtom {
                atom: atom.to_string(),
                status: match listed(name) {
                    true => SignStatus::AlreadySigned,
                    false => SignStatus::Signed,
                },
                ref_name: name.clone(),
            })
            .collect(),
    })
}

/// The ref prefixes `eka sign` lists: the roots, and each atom's refs and
/// signatures.
fn prefixes(atoms: &[AtomVersion]) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()];
    for atom in atoms {
        out.push(atom.atom_ref());
        out.push(AtomRef::Atom(atom.clone()).name_in(Namespace::Eka03));
        out.push(format!(
            "{}_sig/{}/{}/",
            atom_format::refs::ATOMS_PREFIX,
            atom.label,
            atom.version
        ));
    }
    out
}

/// The statement describing `atom` as the registry holds it.
fn atom_statement(
    repo: &gix::Repository,
    url: &str,
    atom: &AtomVersion,
    commit_id: ObjectId,
    root: ObjectId,
) -> Result<Statement, SigningError> {
    let not_an_atom = |source| SigningError::NotAnAtom {
        atom: atom.clone(),
        url: url.to_owned(),
        source,
    };
    let bytes = match git::read_object(repo, commit_id)? {
        Some((gix::object::Kind::Commit, bytes)) => bytes,
        _ => return Err(not_an_atom(None)),
    };
    let commit = AtomCommit::parse(&bytes).map_err(|e| not_an_atom(Some(e)))?;
    if commit.label != atom.label || commit.version != atom.version {
        return Err(not_an_atom(None));
    }
    let digest = Digester::new(&repo.objects)
        .atom_digest(commit.tree)
        .map_err(|source| SigningError::Digest {
            atom: atom.clone(),
            source,
        })?;
    Ok(statement(atom, commit_id, commit.origin, root, digest))
}

/// The signing step of `eka publish`: with `sign` (`--sign`), a `key`
/// (`--key`) or git config `eka.sign`, loads the key (so a dry run checks
/// it too) and, unless `dry_run`, signs the statements of the fresh atoms
/// in-process (see [`PendingSignatures`]). `None` when not signing or
/// nothing is fresh.
pub fn at_publish(
    repo: &gix::Repository,
    sign: bool,
    key: Option<&str>,
    dry_run: bool,
    statements: impl FnOnce() -> Vec<Statement>,
) -> Result<Option<PendingSignatures>, SigningError> {
    if !sign && key.is_none() && !sign_always(repo) {
        return Ok(None);
    }
    let key = load_key(Some(repo), key)?;
    let statements = statements();
    if dry_run || statements.is_empty() {
        return Ok(None);
    }
    if !key.key.is_in_process() {
        return Ok(Some(PendingSignatures::Deferred {
            key: Box::new(key),
            statements,
        }));
    }
    tracing::info_span!(target: "eka::phase", "sign")
        .in_scope(|| draft(repo, &key, &statements))
        .map(|draft| Some(PendingSignatures::Drafted(draft)))
}
