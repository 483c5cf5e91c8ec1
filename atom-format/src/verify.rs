//! Verification: anyone holding a registry's refs can check that every atom
//! commit is exactly what publishing its origin would produce.
//!
//! Each check is independent and all failures are reported, so one run tells
//! the whole story of a tampered or broken registry.

use std::collections::{BTreeMap, HashMap};

use gix::ObjectId;
use semver::Version;

use crate::digest::Digester;
use crate::git::{self, GitError};
use crate::manifest::{Manifest, MANIFEST_FILE};
use crate::refs::{AtomRef, AtomVersion, ROOT_REF};
use crate::{AtomCommit, AtomId, ContentDigest, Label};

/// Which atoms to verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub label: Label,
    pub version: Option<Version>,
}

/// The verdict on one atom version.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verdict {
    pub label: Label,
    pub version: Version,
    #[serde(serialize_with = "ser_opt_oid")]
    pub commit: Option<ObjectId>,
    pub id: Option<AtomId>,
    pub digest: Option<ContentDigest>,
    /// What failed; empty when the atom verifies.
    pub failures: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
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
    #[error("no atoms to verify: the repository has no refs under refs/atoms/")]
    #[diagnostic(
        code(atom::verify::empty),
        help("publish atoms with `eka publish`, or name a repository that has some")
    )]
    NoAtoms,
    #[error("`{0}` has no published versions here")]
    #[diagnostic(
        code(atom::verify::unknown),
        help("list what is published with `git ls-remote <remote> 'refs/atoms/*'`")
    )]
    Unknown(String),
}

/// Verifies the atoms in `repo`'s refs (all, or those `wanted`).
pub fn verify(repo: &gix::Repository, wanted: &[Wanted]) -> Result<VerifyReport, VerifyError> {
    let refs = git::local_refs(repo, crate::refs::ATOMS_PREFIX)?;
    let mut atoms: BTreeMap<AtomVersion, ObjectId> = BTreeMap::new();
    let mut manifests: HashMap<AtomVersion, ObjectId> = HashMap::new();
    let mut origins: HashMap<AtomVersion, ObjectId> = HashMap::new();
    let mut root_ref = None;
    let mut foreign_refs = Vec::new();
    for (name, id) in &refs {
        match AtomRef::parse(name) {
            Some(Ok(AtomRef::Atom(v))) => {
                atoms.insert(v, *id);
            }
            Some(Ok(AtomRef::Manifest(v))) => {
                manifests.insert(v, *id);
            }
            Some(Ok(AtomRef::Origin(v))) => {
                origins.insert(v, *id);
            }
            Some(Ok(AtomRef::Root)) => root_ref = Some(*id),
            Some(Err(_)) | None => foreign_refs.push(name.clone()),
        }
    }
    if atoms.is_empty() {
        return Err(VerifyError::NoAtoms);
    }
    for w in wanted {
        let any = atoms
            .keys()
            .any(|a| a.label == w.label && w.version.as_ref().is_none_or(|v| *v == a.version));
        if !any {
            return Err(VerifyError::Unknown(match &w.version {
                Some(v) => format!("{}@{v}", w.label),
                None => w.label.to_string(),
            }));
        }
    }
    let selected = atoms.iter().filter(|(a, _)| {
        wanted.is_empty()
            || wanted
                .iter()
                .any(|w| a.label == w.label && w.version.as_ref().is_none_or(|v| *v == a.version))
    });

    let mut origin_cache: HashMap<ObjectId, OriginInfo> = HashMap::new();
    let mut digester = Digester::new(&repo.objects);
    let mut verdicts = Vec::new();
    for (atom, commit_id) in selected {
        let mut failures = Vec::new();
        let mut digest = None;
        let id = root_ref.map(|r| AtomId::compute(&r, &atom.label));
        if root_ref.is_none() {
            failures.push(format!("{ROOT_REF} is missing"));
        }
        let parsed = match git::read_object(repo, *commit_id)? {
            None => {
                failures.push(format!("the atom commit {commit_id} is missing"));
                None
            }
            Some((kind, _)) if kind != gix::object::Kind::Commit => {
                failures.push(format!("the atom ref points to a {kind}, not a commit"));
                None
            }
            Some((_, bytes)) => match AtomCommit::parse(&bytes) {
                Ok(c) => Some(c),
                Err(e) => {
                    failures.push(format!("atom commit: {e}"));
                    None
                }
            },
        };
        if let Some(c) = &parsed {
            if c.label != atom.label || c.version != atom.version {
                failures.push(format!(
                    "the commit publishes {}@{}, but its ref names {atom}",
                    c.label, c.version
                ));
            }
            if c.id() != *commit_id {
                failures.push(format!("re-serialising gives {}, not {commit_id}", c.id()));
            }
            match origins.get(atom) {
                None => failures.push(format!("{} is missing", atom.origin_ref())),
                Some(o) if *o != c.origin => failures.push(format!(
                    "the commit's origin is {}, but {} points to {o}",
                    c.origin,
                    atom.origin_ref()
                )),
                Some(_) => {}
            }
            check_origin(
                repo,
                &mut origin_cache,
                c,
                atom,
                manifests.get(atom).copied(),
                root_ref,
                &mut failures,
            )?;
            match digester.atom_digest(c.tree) {
                Ok(d) => digest = Some(d),
                Err(e) => failures.push(format!("content: {e}")),
            }
        }
        verdicts.push(Verdict {
            label: atom.label.clone(),
            version: atom.version.clone(),
            commit: Some(*commit_id),
            id,
            digest,
            failures,
        });
    }
    Ok(VerifyReport {
        verdicts,
        foreign_refs,
    })
}

/// What an origin commit holds: its root, and its atoms by label and version.
struct OriginInfo {
    root: Result<ObjectId, String>,
    atoms: Result<Vec<(AtomVersion, String, ObjectId, ObjectId)>, String>,
}

fn origin_info(repo: &gix::Repository, origin: ObjectId) -> OriginInfo {
    let root = git::root_commit(repo, origin).map_err(|e| e.to_string());
    let atoms = (|| -> Result<_, GitError> {
        let tree = git::commit_tree(repo, origin)?;
        let found = git::discover_atoms(repo, tree)?;
        let mut out = Vec::new();
        for a in found.atoms {
            let bytes = git::read_blob(repo, a.manifest_blob)?;
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let display = format!("{}/{MANIFEST_FILE}", a.path);
            if let Ok(m) = Manifest::parse(&display, &text) {
                out.push((
                    AtomVersion::new(m.package.label, m.package.version),
                    a.path,
                    a.tree,
                    a.manifest_blob,
                ));
            }
        }
        Ok(out)
    })()
    .map_err(|e| e.to_string());
    OriginInfo { root, atoms }
}

fn check_origin(
    repo: &gix::Repository,
    cache: &mut HashMap<ObjectId, OriginInfo>,
    commit: &AtomCommit,
    atom: &AtomVersion,
    manifest_ref: Option<ObjectId>,
    root_ref: Option<ObjectId>,
    failures: &mut Vec<String>,
) -> Result<(), VerifyError> {
    if git::read_object(repo, commit.origin)?.is_none() {
        failures.push(format!("the origin commit {} is missing", commit.origin));
        return Ok(());
    }
    let info = cache
        .entry(commit.origin)
        .or_insert_with(|| origin_info(repo, commit.origin));
    match (&info.root, root_ref) {
        (Err(e), _) => failures.push(format!("origin history: {e}")),
        (Ok(root), Some(r)) if *root != r => failures.push(format!(
            "the origin's root is {root}, but {ROOT_REF} is {r}"
        )),
        _ => {}
    }
    let atoms = match &info.atoms {
        Ok(a) => a,
        Err(e) => {
            failures.push(format!("origin tree: {e}"));
            return Ok(());
        }
    };
    let matching: Vec<_> = atoms.iter().filter(|(v, ..)| v == atom).collect();
    match matching.as_slice() {
        [] => failures.push(format!(
            "the origin {} holds no atom.toml for {atom}",
            commit.origin
        )),
        [(_, path, tree, blob)] => {
            if *tree != commit.tree {
                failures.push(format!(
                    "the atom's tree is {}, but `{path}` in the origin is {tree}",
                    commit.tree
                ));
            }
            match manifest_ref {
                None => failures.push(format!("{} is missing", atom.manifest_ref())),
                Some(m) if m != *blob => failures.push(format!(
                    "{} is {m}, but `{path}/atom.toml` in the origin is {blob}",
                    atom.manifest_ref()
                )),
                Some(_) => {}
            }
        }
        many => failures.push(format!(
            "the origin holds {} atoms for {atom}: {}",
            many.len(),
            many.iter()
                .map(|m| format!("`{}`", m.1))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
    Ok(())
}
