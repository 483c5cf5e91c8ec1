//! Verification: anyone holding a registry's refs can check that every atom
//! commit is exactly what publishing its origin would produce (the rules
//! are `atom_format::verify`'s). A remote registry is fetched into a
//! scratch repository first: exactly the refs to verify, and the objects
//! they reach.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use atom_format::digest::Digester;
use atom_format::manifest::{Manifest, MANIFEST_FILE};
use atom_format::refs::{AtomRef, AtomVersion, Namespace, ATOMS_PREFIX, EKA03_ROOT_REF, ROOT_REF};
use atom_format::verify::{self as rules, Failure, OriginAtom, OriginFacts, RecordedAtom};
use atom_format::{AtomCommit, AtomId, ContentDigest, Label};
use atom_git::{self as git, Connections, GitError, RemoteError};
use atom_trust::{
    judge_signature, AllowedSigners, KeyFingerprint, ListedTag, SignatureStatus, Statement,
    Timestamp, TrustRef,
};
use gix::ObjectId;
use semver::Version;

/// Which atoms to verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub label: Label,
    pub version: Option<Version>,
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.label),
            None => write!(f, "{}", self.label),
        }
    }
}

/// Where the atoms to verify are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registry {
    /// A local repository (its refs).
    Local(PathBuf),
    /// A remote, by URL: fetched into a scratch repository.
    Remote(String),
}

/// What [`verify`] is asked to do.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    pub registry: Registry,
    /// The atoms to verify; all when empty.
    pub wanted: Vec<Wanted>,
    /// Whom to trust: signatures by other keys are reported as unknown
    /// signers. Without it, every good signature counts.
    pub signers: Option<AllowedSigners>,
    /// Fail a version without a signature that counts (`--require-signed`).
    pub require_signed: bool,
}

/// One signature of a version, as verified (`spec/trust.md` §5.1).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignatureLine {
    /// The signer its ref names.
    pub listed: KeyFingerprint,
    /// The key that made it, when it verified.
    pub fingerprint: Option<KeyFingerprint>,
    pub algorithm: Option<String>,
    pub signed_at: Option<Timestamp>,
    /// `allowed`, `good`, `unknown-signer`, `refused`, `wrong-atom` or
    /// `invalid`.
    pub status: &'static str,
    /// The policy's principals, when it allowed the key.
    pub principals: Option<String>,
    /// The verdict in words.
    pub detail: String,
    /// Whether it counts: allowed by the policy, or good without one.
    pub counts: bool,
}

/// The verdict on one atom version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub namespace: Namespace,
    pub label: Label,
    pub version: Version,
    #[serde(serialize_with = "ser_opt_oid")]
    pub commit: Option<ObjectId>,
    pub id: Option<AtomId>,
    pub digest: Option<ContentDigest>,
    /// What failed; empty when the atom verifies.
    pub failures: Vec<Failure>,
    /// Its signatures, each verified.
    pub signatures: Vec<SignatureLine>,
    /// Signatures were required, and none counts.
    pub missing_signature: bool,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && !self.missing_signature
    }
}

fn ser_opt_oid<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// The result of verifying a repository's atoms.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VerifyReport {
    pub verdicts: Vec<Verdict>,
    /// Refs under `refs/atoms/` that are not in this format.
    pub foreign_refs: Vec<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.verdicts.iter().all(Verdict::ok)
    }
}

/// Why verification could not run at all (as opposed to an atom failing).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VerifyError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(#[from] RemoteError),
    #[error("cannot create a scratch repository")]
    #[diagnostic(code(atom::verify::scratch))]
    Scratch(#[source] git::BoxError),
    #[error("no atoms to verify: the repository has no refs under refs/atoms/ (nor eka 0.3's refs/eka/)")]
    #[diagnostic(code(atom::verify::empty))]
    NoAtoms,
    #[error("`{0}` has no published versions here")]
    #[diagnostic(code(atom::verify::unknown))]
    Unknown(String),
}

/// Verifies the atoms of `request.registry` (all, or those wanted).
pub fn verify(
    request: &VerifyRequest,
    connections: &Connections,
) -> Result<VerifyReport, VerifyError> {
    match &request.registry {
        Registry::Local(path) => verify_repo_with(&git::open(path)?, request),
        Registry::Remote(url) => {
            let scratch = tempfile::tempdir().map_err(|e| VerifyError::Scratch(e.into()))?;
            let repo =
                gix::init_bare(scratch.path()).map_err(|e| VerifyError::Scratch(e.into()))?;
            fetch_wanted(&repo, connections, url, &request.wanted)?;
            verify_repo_with(&repo, request)
        }
    }
}

/// Fetches the refs of the atoms wanted (and the roots) from `url` into
/// `repo`. It lists first, then fetches exactly the refs that exist: a
/// fetch of refspecs that match nothing is an error, not an empty answer.
fn fetch_wanted(
    repo: &gix::Repository,
    connections: &Connections,
    url: &str,
    wanted: &[Wanted],
) -> Result<(), VerifyError> {
    let prefixes = prefixes(wanted);
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let specs: Vec<String> = connections
        .ls_refs(url, &prefixes)?
        .into_iter()
        .filter(|r| is_wanted(&r.name, wanted))
        .map(|r| format!("+{0}:{0}", r.name))
        .collect();
    if !specs.is_empty() {
        connections.fetch_refspecs(repo, url, &specs)?;
    }
    Ok(())
}

/// The ref prefixes to list: everything of both layouts, or only the named
/// atoms' refs (plus the roots).
fn prefixes(wanted: &[Wanted]) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()];
    if wanted.is_empty() {
        out.push(ATOMS_PREFIX.to_owned());
        out.push("refs/eka/".to_owned());
        return out;
    }
    for w in wanted {
        let l = &w.label;
        for dir in ["", "_manifest/", "_origin/", "_sig/"] {
            out.push(format!("{ATOMS_PREFIX}{dir}{l}/"));
        }
        out.push(format!("refs/eka/atoms/{l}/"));
        out.push(format!("refs/eka/meta/{l}/"));
    }
    out
}

/// Whether a listed ref belongs to an atom asked for (the prefixes cannot
/// select a version).
fn is_wanted(name: &str, wanted: &[Wanted]) -> bool {
    if let Some(Ok(TrustRef::Signature { atom, .. })) = TrustRef::parse(name) {
        return wanted.is_empty() || wanted.iter().any(|w| matches(w, &atom));
    }
    match AtomRef::parse_any(name) {
        Some(Ok((_, AtomRef::Root))) => true,
        Some(Ok((_, AtomRef::Atom(v) | AtomRef::Manifest(v) | AtomRef::Origin(v)))) => {
            wanted.is_empty() || wanted.iter().any(|w| matches(w, &v))
        }
        // Foreign refs are fetched too when verifying everything, so that
        // they are reported.
        _ => wanted.is_empty(),
    }
}

fn matches(w: &Wanted, a: &AtomVersion) -> bool {
    a.label == w.label && w.version.as_ref().is_none_or(|v| *v == a.version)
}

/// The refs of a registry, read into atoms.
#[derive(Default)]
struct RegistryRefs {
    atoms: BTreeMap<(Namespace, AtomVersion), ObjectId>,
    manifests: HashMap<(Namespace, AtomVersion), ObjectId>,
    origins: HashMap<(Namespace, AtomVersion), ObjectId>,
    roots: HashMap<Namespace, ObjectId>,
    /// Signature refs by version (either namespace: a statement binds a
    /// label and version, not a ref).
    signatures: HashMap<AtomVersion, Vec<(KeyFingerprint, ObjectId)>>,
    foreign: Vec<String>,
}

impl RegistryRefs {
    fn read(repo: &gix::Repository) -> Result<Self, GitError> {
        let mut refs = git::local_refs(repo, ATOMS_PREFIX)?;
        refs.extend(git::local_refs(repo, "refs/eka/")?);
        refs.extend(git::local_refs(repo, EKA03_ROOT_REF)?);
        let mut out = RegistryRefs::default();
        for (name, id) in refs {
            match TrustRef::parse(&name) {
                Some(Ok(TrustRef::Signature { atom, signer })) => {
                    out.signatures.entry(atom).or_default().push((signer, id));
                    continue;
                }
                // Yanks are `eka versions`' business, not verification's.
                Some(Ok(TrustRef::Yank { .. })) => continue,
                Some(Err(_)) => {
                    out.foreign.push(name);
                    continue;
                }
                None => {}
            }
            match AtomRef::parse_any(&name) {
                Some(Ok((ns, AtomRef::Atom(v)))) => _ = out.atoms.insert((ns, v), id),
                Some(Ok((ns, AtomRef::Manifest(v)))) => _ = out.manifests.insert((ns, v), id),
                Some(Ok((ns, AtomRef::Origin(v)))) => _ = out.origins.insert((ns, v), id),
                Some(Ok((ns, AtomRef::Root))) => _ = out.roots.insert(ns, id),
                Some(Err(_)) | None => out.foreign.push(name),
            }
        }
        Ok(out)
    }

    fn recorded(&self, key: &(Namespace, AtomVersion), commit: ObjectId) -> RecordedAtom {
        RecordedAtom {
            namespace: key.0,
            atom: key.1.clone(),
            commit,
            manifest: self.manifests.get(key).copied(),
            origin: self.origins.get(key).copied(),
            root: self.roots.get(&key.0).copied(),
        }
    }

    /// Refuses to verify nothing: a registry without atoms, or a wanted
    /// atom it does not have.
    fn check_wanted(&self, wanted: &[Wanted]) -> Result<(), VerifyError> {
        if self.atoms.is_empty() {
            // A remote is fetched only for the atoms asked for (and its
            // root), so with a root but no atoms, those atoms are unknown;
            // with neither, nothing was ever published there.
            return Err(match wanted.first() {
                Some(w) if !self.roots.is_empty() => VerifyError::Unknown(w.to_string()),
                _ => VerifyError::NoAtoms,
            });
        }
        match wanted
            .iter()
            .find(|w| !self.atoms.keys().any(|(_, a)| matches(w, a)))
        {
            Some(w) => Err(VerifyError::Unknown(w.to_string())),
            None => Ok(()),
        }
    }
}

/// Verifies the atoms in `repo`'s refs (all, or those `wanted`), without
/// a policy or a signature requirement.
pub fn verify_repo(repo: &gix::Repository, wanted: &[Wanted]) -> Result<VerifyReport, VerifyError> {
    let request = VerifyRequest {
        registry: Registry::Local(PathBuf::new()),
        wanted: wanted.to_vec(),
        signers: None,
        require_signed: false,
    };
    verify_repo_with(repo, &request)
}

/// Verifies the atoms in `repo`'s refs as `request` asks (its registry
/// aside).
fn verify_repo_with(
    repo: &gix::Repository,
    request: &VerifyRequest,
) -> Result<VerifyReport, VerifyError> {
    let wanted = &request.wanted;
    let refs = RegistryRefs::read(repo)?;
    refs.check_wanted(wanted)?;
    let mut origins = Origins::new(repo);
    let mut digester = Digester::new(&repo.objects);
    let mut verdicts = Vec::new();
    let total = refs
        .atoms
        .keys()
        .filter(|key| wanted.is_empty() || wanted.iter().any(|w| matches(w, &key.1)))
        .count();
    for (key, commit) in &refs.atoms {
        if wanted.is_empty() || wanted.iter().any(|w| matches(w, &key.1)) {
            crate::progress(verdicts.len(), total, "atoms");
            let recorded = refs.recorded(key, *commit);
            let mut verdict = judge(repo, &recorded, &mut origins, &mut digester)?;
            let signatures = refs.signatures.get(&key.1).map_or(&[][..], Vec::as_slice);
            verdict.signatures = judge_signatures(repo, &recorded, &verdict, signatures, request)?;
            verdict.missing_signature =
                request.require_signed && !verdict.signatures.iter().any(|s| s.counts);
            verdicts.push(verdict);
        }
    }
    Ok(VerifyReport {
        verdicts,
        foreign_refs: refs.foreign,
    })
}

/// The verdict on one recorded atom version.
fn judge<O: gix::objs::Find>(
    repo: &gix::Repository,
    recorded: &RecordedAtom,
    origins: &mut Origins<'_>,
    digester: &mut Digester<'_, O>,
) -> Result<Verdict, GitError> {
    let mut failures = Vec::new();
    let object = git::read_object(repo, recorded.commit)?;
    let object = object
        .as_ref()
        .map(|(kind, bytes)| (*kind, bytes.as_slice()));
    let commit = rules::check_atom_commit(recorded, object, &mut failures);
    let mut digest = None;
    if let Some(c) = &commit {
        check_origin(repo, origins, c, recorded, &mut failures)?;
        match digester.atom_digest(c.tree) {
            Ok(d) => digest = Some(d),
            Err(e) => failures.push(Failure::Content { why: e.to_string() }),
        }
    }
    Ok(Verdict {
        namespace: recorded.namespace,
        label: recorded.atom.label.clone(),
        version: recorded.atom.version.clone(),
        commit: Some(recorded.commit),
        id: recorded
            .root
            .map(|r| AtomId::compute(&r, &recorded.atom.label)),
        digest,
        failures,
        signatures: Vec::new(),
        missing_signature: false,
    })
}

/// Each signature of a recorded version, checked against the version as
/// the registry holds it (its commit, origin, root and digest).
fn judge_signatures(
    repo: &gix::Repository,
    recorded: &RecordedAtom,
    verdict: &Verdict,
    signatures: &[(KeyFingerprint, ObjectId)],
    request: &VerifyRequest,
) -> Result<Vec<SignatureLine>, GitError> {
    let commit = match git::read_object(repo, recorded.commit)? {
        Some((gix::object::Kind::Commit, bytes)) => AtomCommit::parse(&bytes).ok(),
        _ => None,
    };
    let mut out = Vec::new();
    for (listed, tag) in signatures {
        let bytes = match git::read_object(repo, *tag)? {
            Some((gix::object::Kind::Tag, bytes)) => bytes,
            _ => Vec::new(),
        };
        let line = match (&commit, recorded.root, verdict.digest) {
            (Some(c), Some(root), Some(digest)) => {
                let atom = Statement::new(
                    recorded.atom.label.clone(),
                    recorded.atom.version.clone(),
                    recorded.commit,
                    c.origin,
                    root,
                    digest,
                );
                let tag = ListedTag {
                    listed: Some(*listed),
                    bytes: &bytes,
                };
                signature_line(
                    *listed,
                    judge_signature(&atom, tag, request.signers.as_ref()),
                )
            }
            // What the signature is about cannot be known: the atom itself
            // failed (reported above), or the registry has no root.
            _ => SignatureLine {
                listed: *listed,
                fingerprint: None,
                algorithm: None,
                signed_at: None,
                status: "unchecked",
                principals: None,
                detail:
                    "not checked: the version itself does not verify, or the registry has no root"
                        .into(),
                counts: false,
            },
        };
        out.push(line);
    }
    Ok(out)
}

fn signature_line(listed: KeyFingerprint, v: atom_trust::SignatureVerdict) -> SignatureLine {
    let (status, principals, counts) = match &v.status {
        SignatureStatus::Allowed { principals, .. } => ("allowed", Some(principals.clone()), true),
        SignatureStatus::Good => ("good", None, true),
        SignatureStatus::UnknownSigner => ("unknown-signer", None, false),
        SignatureStatus::Refused { .. } => ("refused", None, false),
        SignatureStatus::WrongAtom { .. } => ("wrong-atom", None, false),
        SignatureStatus::Invalid { .. } => ("invalid", None, false),
    };
    SignatureLine {
        listed,
        fingerprint: v.fingerprint,
        algorithm: v.algorithm,
        signed_at: v.signed_at,
        status,
        principals,
        detail: v.status.to_string(),
        counts,
    }
}

fn check_origin(
    repo: &gix::Repository,
    origins: &mut Origins<'_>,
    commit: &AtomCommit,
    recorded: &RecordedAtom,
    failures: &mut Vec<Failure>,
) -> Result<(), GitError> {
    if git::read_object(repo, commit.origin)?.is_none() {
        failures.push(Failure::MissingOriginCommit {
            origin: commit.origin,
        });
        return Ok(());
    }
    rules::check_origin(commit, recorded, origins.facts(commit.origin), failures);
    Ok(())
}

/// The facts of origin commits, read once each (many atoms share one).
struct Origins<'r> {
    repo: &'r gix::Repository,
    read: HashMap<ObjectId, OriginFacts>,
}

impl<'r> Origins<'r> {
    fn new(repo: &'r gix::Repository) -> Self {
        Origins {
            repo,
            read: HashMap::new(),
        }
    }

    fn facts(&mut self, origin: ObjectId) -> &OriginFacts {
        let repo = self.repo;
        self.read.entry(origin).or_insert_with(|| OriginFacts {
            root: git::root_commit(repo, origin).map_err(|e| git::causes(&e)),
            atoms: origin_atoms(repo, origin).map_err(|e| git::causes(&e)),
        })
    }
}

/// The atoms of an origin commit's tree whose manifests parse.
fn origin_atoms(repo: &gix::Repository, origin: ObjectId) -> Result<Vec<OriginAtom>, GitError> {
    let tree = git::commit_tree(repo, origin)?;
    let found = git::discover_atoms(repo, tree)?;
    let mut out = Vec::new();
    for a in found.atoms {
        let Ok(text) = String::from_utf8(git::read_blob(repo, a.manifest_blob)?) else {
            continue;
        };
        let display = format!("{}/{MANIFEST_FILE}", a.path);
        if let Ok(m) = Manifest::parse(&display, &text) {
            out.push(OriginAtom {
                atom: AtomVersion::new(m.package.label, m.package.version),
                path: a.path,
                tree: a.tree,
                manifest_blob: a.manifest_blob,
            });
        }
    }
    Ok(out)
}
