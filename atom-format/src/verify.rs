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
use crate::refs::{AtomRef, AtomVersion, Namespace, EKA03_ROOT_REF};
use crate::{AtomCommit, AtomId, ContentDigest, Label};

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
    #[error("no atoms to verify: the repository has no refs under refs/atoms/ (nor eka 0.3's refs/eka/)")]
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
    let mut refs = git::local_refs(repo, crate::refs::ATOMS_PREFIX)?;
    refs.extend(git::local_refs(repo, "refs/eka/")?);
    refs.extend(git::local_refs(repo, EKA03_ROOT_REF)?);
    type Key = (Namespace, AtomVersion);
    let mut atoms: BTreeMap<Key, ObjectId> = BTreeMap::new();
    let mut manifests: HashMap<Key, ObjectId> = HashMap::new();
    let mut origins: HashMap<Key, ObjectId> = HashMap::new();
    let mut roots: HashMap<Namespace, ObjectId> = HashMap::new();
    let mut foreign_refs = Vec::new();
    for (name, id) in &refs {
        match AtomRef::parse_any(name) {
            Some(Ok((ns, AtomRef::Atom(v)))) => {
                atoms.insert((ns, v), *id);
            }
            Some(Ok((ns, AtomRef::Manifest(v)))) => {
                manifests.insert((ns, v), *id);
            }
            Some(Ok((ns, AtomRef::Origin(v)))) => {
                origins.insert((ns, v), *id);
            }
            Some(Ok((ns, AtomRef::Root))) => {
                roots.insert(ns, *id);
            }
            Some(Err(_)) | None => foreign_refs.push(name.clone()),
        }
    }
    if atoms.is_empty() {
        // A remote is fetched only for the atoms asked for (and its root), so
        // with a root but no atoms, those atoms are unknown; with neither,
        // nothing was ever published there.
        return Err(match wanted.first() {
            Some(w) if !roots.is_empty() => VerifyError::Unknown(w.to_string()),
            _ => VerifyError::NoAtoms,
        });
    }
    let matches = |w: &Wanted, a: &AtomVersion| {
        a.label == w.label && w.version.as_ref().is_none_or(|v| *v == a.version)
    };
    for w in wanted {
        if !atoms.keys().any(|(_, a)| matches(w, a)) {
            return Err(VerifyError::Unknown(w.to_string()));
        }
    }
    let selected = atoms
        .iter()
        .filter(|((_, a), _)| wanted.is_empty() || wanted.iter().any(|w| matches(w, a)));

    let mut origin_cache: HashMap<ObjectId, OriginInfo> = HashMap::new();
    let mut digester = Digester::new(&repo.objects);
    let mut verdicts = Vec::new();
    for (key, commit_id) in selected {
        let (ns, atom) = key;
        let root_ref = roots.get(ns).copied();
        let ref_name = |r: AtomRef| r.name_in(*ns);
        let mut failures = Vec::new();
        let mut digest = None;
        let id = root_ref.map(|r| AtomId::compute(&r, &atom.label));
        if root_ref.is_none() {
            failures.push(format!("{} is missing", ref_name(AtomRef::Root)));
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
                    failures.push(format!("atom commit: {}", escape_controls(&e.to_string())));
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
            let origin_ref = ref_name(AtomRef::Origin(atom.clone()));
            match origins.get(key) {
                None => failures.push(format!("{origin_ref} is missing")),
                Some(o) if *o != c.origin => failures.push(format!(
                    "the commit's origin is {}, but {origin_ref} points to {o}",
                    c.origin
                )),
                Some(_) => {}
            }
            let recorded = Recorded {
                ns: *ns,
                manifest: manifests.get(key).copied(),
                root: root_ref,
            };
            check_origin(repo, &mut origin_cache, c, atom, &recorded, &mut failures)?;
            match digester.atom_digest(c.tree) {
                Ok(d) => digest = Some(d),
                Err(e) => failures.push(format!("content: {e}")),
            }
        }
        verdicts.push(Verdict {
            namespace: *ns,
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

/// What the registry's refs say about an atom version, to check against its
/// origin.
struct Recorded {
    ns: Namespace,
    manifest: Option<ObjectId>,
    root: Option<ObjectId>,
}

fn check_origin(
    repo: &gix::Repository,
    cache: &mut HashMap<ObjectId, OriginInfo>,
    commit: &AtomCommit,
    atom: &AtomVersion,
    recorded: &Recorded,
    failures: &mut Vec<String>,
) -> Result<(), VerifyError> {
    let (ns, manifest_ref, root_ref) = (recorded.ns, recorded.manifest, recorded.root);
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
            "the origin's root is {root}, but {} is {r}",
            AtomRef::Root.name_in(ns)
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
            let name = AtomRef::Manifest(atom.clone()).name_in(ns);
            match manifest_ref {
                None => failures.push(format!("{name} is missing")),
                Some(m) if m != *blob => failures.push(format!(
                    "{name} is {m}, but `{path}/atom.toml` in the origin is {blob}"
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

/// Escapes control characters (a forged commit can put newlines in what a
/// failure quotes), so each failure stays on one line.
fn escape_controls(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
