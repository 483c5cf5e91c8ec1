//! Verification rules: what makes a published atom version exactly what
//! publishing its origin commit produces. The checks are pure functions of
//! what a registry's refs say and what its objects hold; reading them is
//! the caller's (`atom-ops` reads a repository with `atom-git`).
//!
//! Each check reports every failure it finds, so one run tells the whole
//! story of a tampered or broken registry.

use std::fmt;

use gix::object::Kind;
use gix::ObjectId;

use crate::refs::{AtomRef, AtomVersion, Namespace};
use crate::AtomCommit;

/// What a registry's refs say about one atom version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedAtom {
    pub namespace: Namespace,
    pub atom: AtomVersion,
    /// The atom ref's target.
    pub commit: ObjectId,
    /// The manifest ref's target, if the ref exists.
    pub manifest: Option<ObjectId>,
    /// The origin ref's target, if the ref exists.
    pub origin: Option<ObjectId>,
    /// The root ref of the namespace, if it exists.
    pub root: Option<ObjectId>,
}

impl RecordedAtom {
    fn ref_name(&self, kind: fn(AtomVersion) -> AtomRef) -> String {
        kind(self.atom.clone()).name_in(self.namespace)
    }
}

/// An atom found in an origin commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginAtom {
    pub atom: AtomVersion,
    /// Its directory in the origin's tree.
    pub path: String,
    pub tree: ObjectId,
    pub manifest_blob: ObjectId,
}

/// What an origin commit holds: its root commit and its atoms, or why each
/// could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginFacts {
    pub root: Result<ObjectId, String>,
    pub atoms: Result<Vec<OriginAtom>, String>,
}

/// One way a published atom version fails verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    MissingRoot {
        root_ref: String,
    },
    MissingCommit {
        commit: ObjectId,
    },
    NotACommit {
        kind: Kind,
    },
    /// The atom commit does not parse (its error, control characters
    /// escaped: a forged commit can put newlines in what a failure quotes).
    BadCommit {
        why: String,
    },
    WrongAtom {
        found: AtomVersion,
        named: AtomVersion,
    },
    NotCanonical {
        reserialised: ObjectId,
        commit: ObjectId,
    },
    MissingOrigin {
        origin_ref: String,
    },
    OriginMismatch {
        commit_origin: ObjectId,
        origin_ref: String,
        points_to: ObjectId,
    },
    MissingOriginCommit {
        origin: ObjectId,
    },
    OriginHistory {
        why: String,
    },
    OriginRoot {
        origin_root: ObjectId,
        root_ref: String,
        root: ObjectId,
    },
    OriginTree {
        why: String,
    },
    NotInOrigin {
        origin: ObjectId,
        atom: AtomVersion,
    },
    TreeMismatch {
        tree: ObjectId,
        path: String,
        origin_tree: ObjectId,
    },
    MissingManifest {
        manifest_ref: String,
    },
    ManifestMismatch {
        manifest_ref: String,
        blob: ObjectId,
        path: String,
        origin_blob: ObjectId,
    },
    AmbiguousOrigin {
        atom: AtomVersion,
        paths: Vec<String>,
    },
    /// The content digest walk refused the tree.
    Content {
        why: String,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Failure::*;
        match self {
            MissingRoot { root_ref } => write!(f, "{root_ref} is missing"),
            MissingCommit { commit } => write!(f, "the atom commit {commit} is missing"),
            NotACommit { kind } => write!(f, "the atom ref points to a {kind}, not a commit"),
            BadCommit { why } => write!(f, "atom commit: {why}"),
            WrongAtom { found, named } => write!(
                f,
                "the commit publishes {}@{}, but its ref names {named}",
                found.label, found.version
            ),
            NotCanonical {
                reserialised,
                commit,
            } => write!(f, "re-serialising gives {reserialised}, not {commit}"),
            MissingOrigin { origin_ref } => write!(f, "{origin_ref} is missing"),
            OriginMismatch {
                commit_origin,
                origin_ref,
                points_to,
            } => write!(
                f,
                "the commit's origin is {commit_origin}, but {origin_ref} points to {points_to}"
            ),
            MissingOriginCommit { origin } => {
                write!(f, "the origin commit {origin} is missing")
            }
            OriginHistory { why } => write!(f, "origin history: {why}"),
            OriginRoot {
                origin_root,
                root_ref,
                root,
            } => write!(
                f,
                "the origin's root is {origin_root}, but {root_ref} is {root}"
            ),
            OriginTree { why } => write!(f, "origin tree: {why}"),
            NotInOrigin { origin, atom } => {
                write!(f, "the origin {origin} holds no atom.toml for {atom}")
            }
            TreeMismatch {
                tree,
                path,
                origin_tree,
            } => write!(
                f,
                "the atom's tree is {tree}, but `{path}` in the origin is {origin_tree}"
            ),
            MissingManifest { manifest_ref } => write!(f, "{manifest_ref} is missing"),
            ManifestMismatch {
                manifest_ref,
                blob,
                path,
                origin_blob,
            } => write!(
                f,
                "{manifest_ref} is {blob}, but `{path}/atom.toml` in the origin is {origin_blob}"
            ),
            AmbiguousOrigin { atom, paths } => {
                let paths: Vec<String> = paths.iter().map(|p| format!("`{p}`")).collect();
                write!(
                    f,
                    "the origin holds {} atoms for {atom}: {}",
                    paths.len(),
                    paths.join(", ")
                )
            }
            Content { why } => write!(f, "content: {why}"),
        }
    }
}

impl serde::Serialize for Failure {
    /// As its text: the JSON of a verdict lists failures as sentences.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Checks the atom commit a version's ref points to, given the object
/// there (`None` if missing): a well-formed atom commit of the version the
/// ref names, byte for byte canonical, with the origin its origin ref
/// names. Returns the parsed commit (when it parses) for the origin and
/// content checks.
pub fn check_atom_commit(
    recorded: &RecordedAtom,
    object: Option<(Kind, &[u8])>,
    failures: &mut Vec<Failure>,
) -> Option<AtomCommit> {
    if recorded.root.is_none() {
        failures.push(Failure::MissingRoot {
            root_ref: AtomRef::Root.name_in(recorded.namespace),
        });
    }
    let commit = parse_atom_commit(recorded.commit, object, failures)?;
    if commit.label != recorded.atom.label || commit.version != recorded.atom.version {
        failures.push(Failure::WrongAtom {
            found: AtomVersion::new(commit.label.clone(), commit.version.clone()),
            named: recorded.atom.clone(),
        });
    }
    if commit.id() != recorded.commit {
        failures.push(Failure::NotCanonical {
            reserialised: commit.id(),
            commit: recorded.commit,
        });
    }
    let origin_ref = recorded.ref_name(AtomRef::Origin);
    match recorded.origin {
        None => failures.push(Failure::MissingOrigin { origin_ref }),
        Some(o) if o != commit.origin => failures.push(Failure::OriginMismatch {
            commit_origin: commit.origin,
            origin_ref,
            points_to: o,
        }),
        Some(_) => {}
    }
    Some(commit)
}

fn parse_atom_commit(
    id: ObjectId,
    object: Option<(Kind, &[u8])>,
    failures: &mut Vec<Failure>,
) -> Option<AtomCommit> {
    let failure = match object {
        None => Failure::MissingCommit { commit: id },
        Some((Kind::Commit, bytes)) => match AtomCommit::parse(bytes) {
            Ok(c) => return Some(c),
            Err(e) => Failure::BadCommit {
                why: escape_controls(&e.to_string()),
            },
        },
        Some((kind, _)) => Failure::NotACommit { kind },
    };
    failures.push(failure);
    None
}

/// Checks an atom commit against its origin: the origin's root is the
/// registry's, and the origin holds exactly one atom of this version, whose
/// tree is the commit's and whose manifest is the manifest ref's.
pub fn check_origin(
    commit: &AtomCommit,
    recorded: &RecordedAtom,
    origin: &OriginFacts,
    failures: &mut Vec<Failure>,
) {
    match (&origin.root, recorded.root) {
        (Err(why), _) => failures.push(Failure::OriginHistory { why: why.clone() }),
        (Ok(root), Some(r)) if *root != r => failures.push(Failure::OriginRoot {
            origin_root: *root,
            root_ref: AtomRef::Root.name_in(recorded.namespace),
            root: r,
        }),
        _ => {}
    }
    let atoms = match &origin.atoms {
        Ok(a) => a,
        Err(why) => return failures.push(Failure::OriginTree { why: why.clone() }),
    };
    let matching: Vec<&OriginAtom> = atoms.iter().filter(|a| a.atom == recorded.atom).collect();
    match matching.as_slice() {
        [] => failures.push(Failure::NotInOrigin {
            origin: commit.origin,
            atom: recorded.atom.clone(),
        }),
        [one] => check_against_origin_atom(commit, recorded, one, failures),
        many => failures.push(Failure::AmbiguousOrigin {
            atom: recorded.atom.clone(),
            paths: many.iter().map(|a| a.path.clone()).collect(),
        }),
    }
}

fn check_against_origin_atom(
    commit: &AtomCommit,
    recorded: &RecordedAtom,
    found: &OriginAtom,
    failures: &mut Vec<Failure>,
) {
    if found.tree != commit.tree {
        failures.push(Failure::TreeMismatch {
            tree: commit.tree,
            path: found.path.clone(),
            origin_tree: found.tree,
        });
    }
    let manifest_ref = recorded.ref_name(AtomRef::Manifest);
    match recorded.manifest {
        None => failures.push(Failure::MissingManifest { manifest_ref }),
        Some(m) if m != found.manifest_blob => failures.push(Failure::ManifestMismatch {
            manifest_ref,
            blob: m,
            path: found.path.clone(),
            origin_blob: found.manifest_blob,
        }),
        Some(_) => {}
    }
}

/// Escapes control characters, so each failure stays on one line.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .map(|c| match c.is_control() {
            true => c.escape_default().to_string(),
            false => c.to_string(),
        })
        .collect()
}
