//! The lockfile, `atom.lock` (normative text in `spec/lock.md`).
//!
//! A [`Lockfile`] value is always valid: it is built by [`Lockfile::new`]
//! or [`Lockfile::parse`], both of which check it, so serialising cannot
//! fail. Serialisation is byte-stable: atoms and edges are sorted and every
//! value has one text form, so the same lock always gives the same bytes.
//!
//! eka 0.3 wrote locks in another format ([`eka03`]); [`AnyLock`] reads
//! either, for the commands that use a lock as it is (`eka eval`).

use crate::ids::{parse_commit, AtomId, CommitId, ContentDigest, IdError};
use crate::uri::RepoUrl;
use atom_format::{Label, LabelError};
use miette::{NamedSource, SourceSpan};
use semver::{Version, VersionReq};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

mod direct;
pub mod eka03;
mod write;

pub use direct::{DirectDep, DirectPin, DIRECT_TYPES};
pub use eka03::{Conversion, ConversionError, Eka03Lock};

/// The lock format this code reads and writes.
pub const LOCK_VERSION: i64 = 1;

/// The lockfile's name, beside the manifest `atom.toml`.
pub const LOCK_FILE: &str = "atom.lock";

/// A dependency edge: the dependent's requirement and the atom chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    /// The dependency's label, as the dependent's manifest names it.
    pub label: Label,
    /// The dependent's requirement; the chosen version satisfies it.
    pub req: VersionReq,
    /// The chosen atom.
    pub id: AtomId,
}

impl Edge {
    fn key(&self) -> (&Label, AtomId) {
        (&self.label, self.id)
    }
}

/// One locked atom: everything needed to fetch and verify it offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedAtom {
    pub label: Label,
    pub version: Version,
    /// The root commit of the repository (set) that publishes it.
    pub root: CommitId,
    /// The atom commit (`refs/atoms/<label>/<version>`, or eka 0.3's
    /// `refs/eka/atoms/<label>/<version>`).
    pub commit: CommitId,
    /// The source commit it was published from.
    pub origin: CommitId,
    /// The BLAKE3 content digest of its tree.
    pub digest: ContentDigest,
    /// Where to fetch it, in order of preference; expanded URLs only.
    pub mirrors: Vec<RepoUrl>,
    /// Its own dependencies.
    pub deps: Vec<Edge>,
    /// The signers whose signatures its set's policy allowed when it was
    /// locked (`spec/trust.md` §5.3), sorted; empty for a set without one.
    pub signers: Vec<atom_trust::RecordedSigner>,
}

impl LockedAtom {
    /// The atom id, derived from root and label (never stored apart from
    /// them, so the model cannot hold a mismatching one).
    pub fn id(&self) -> AtomId {
        AtomId::compute(&self.root, &self.label)
    }
}

/// A valid lock: the direct dependencies of the manifest and every atom
/// they reach, sorted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockfile {
    deps: Vec<Edge>,
    atoms: Vec<LockedAtom>,
    /// Pins of dependencies that are not atoms (eka 0.3's), by name.
    direct: Vec<DirectDep>,
    /// Position of each atom by id (ids are derived by hashing, so worth
    /// computing once).
    index: HashMap<AtomId, usize>,
}

/// What is wrong with a lock's content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("missing `lock-version`")]
    MissingVersion,
    #[error("unsupported lock-version {0}: this eka reads version {LOCK_VERSION}")]
    UnsupportedVersion(String),
    #[error("malformed {field}: {error}")]
    Id { field: &'static str, error: IdError },
    #[error("invalid label: {0}")]
    Label(LabelError),
    #[error("label not in NFKC form, expected `{0}`")]
    LabelNotNormalised(Label),
    #[error("invalid version: {0}")]
    Version(String),
    #[error("invalid version requirement: {0}")]
    Requirement(String),
    #[error("invalid mirror: {0}")]
    Mirror(String),
    #[error("mirror not in its expanded form, expected `{expected}`")]
    MirrorNotCanonical { expected: String },
    #[error("atom `{0}` has no mirror")]
    NoMirrors(Label),
    #[error("mirror `{0}` listed twice")]
    DuplicateMirror(String),
    #[error("atom id does not match root and label `{label}`: expected {computed}")]
    IdMismatch { label: Label, computed: AtomId },
    #[error("atom {0} is locked twice")]
    DuplicateAtom(AtomId),
    #[error("dependency on {0} listed twice")]
    DuplicateEdge(AtomId),
    #[error("dependency on {0}, which is not in the lock")]
    DanglingEdge(AtomId),
    #[error("dependency label `{stated}` but atom {id} is `{actual}`")]
    EdgeLabel {
        stated: Label,
        actual: Label,
        id: AtomId,
    },
    #[error("locked `{label}` {version} does not satisfy the requirement `{req}`")]
    Unsatisfied {
        label: Label,
        version: Version,
        req: VersionReq,
    },
    #[error("dependency cycle: {}", join_labels(.0))]
    Cycle(Vec<Label>),
    #[error("atom `{0}` is locked but nothing depends on it")]
    Unreachable(Label),
    #[error("invalid signer `{0}`: expected `SHA256:<fingerprint> <signing time in seconds>`")]
    Signer(String),
    #[error("dependency `{0}` listed twice")]
    DuplicateName(Label),
    #[error("unknown dependency type `{found}` (expected one of: {expected})")]
    UnknownType {
        found: String,
        expected: &'static str,
    },
    /// `kind`: what asks for it (`type = "atom"`, `use = "nix"`,
    /// `[locker]`).
    #[error("missing `{field}`, which `{kind}` needs")]
    MissingField { field: &'static str, kind: String },
    #[error("`{field}` does not belong with `{kind}`")]
    FieldNotAllowed { field: &'static str, kind: String },
    #[error("empty `{0}`")]
    Empty(&'static str),
    #[error("this atom.lock was written by eka 0.3 (`version = 1`), not in this eka's format")]
    Eka03Format,
    #[error("unsupported eka 0.3 lock version {0}: eka 0.3 writes version 1")]
    UnsupportedEka03Version(String),
}

fn join_labels(labels: &[Label]) -> String {
    labels
        .iter()
        .map(Label::as_str)
        .collect::<Vec<_>>()
        .join(" -> ")
}

impl Problem {
    fn help(&self) -> Option<&'static str> {
        Some(match self {
            Problem::MissingVersion | Problem::UnsupportedVersion(_) => {
                "the first key of atom.lock is `lock-version = 1`; a newer version needs a newer eka"
            }
            Problem::IdMismatch { .. } => {
                "the id is derived from `root` and `label`; one of the three was edited"
            }
            Problem::MirrorNotCanonical { .. } | Problem::Mirror(_) => {
                "locks store expanded URLs (no aliases), as eka writes them"
            }
            Problem::Unsatisfied { .. } | Problem::Unreachable(_) | Problem::DanglingEdge(_) => {
                "the lock is stale or was edited by hand"
            }
            Problem::Cycle(_) => "atoms may not depend on each other in a cycle",
            Problem::Eka03Format => {
                "eka converts it to its own format when it locks, and evaluates with it as it is"
            }
            _ => REBUILD_HELP,
        })
    }
}

/// A lock that cannot be read, written or built.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LockError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid lock: {message}")]
    #[diagnostic(code(eka::lock::syntax))]
    Syntax {
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
        #[help]
        help: &'static str,
    },
    #[error("invalid lock: {problem}")]
    #[diagnostic(code(eka::lock::invalid))]
    Invalid {
        problem: Problem,
        /// Absent when the lock was built in memory.
        #[source_code]
        src: Option<NamedSource<String>>,
        #[label("{note}")]
        span: Option<SourceSpan>,
        note: String,
        #[label("first here")]
        first: Option<SourceSpan>,
        #[help]
        help: Option<&'static str>,
    },
}

impl LockError {
    /// The problem, for errors about the lock's content.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            LockError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    fn invalid(problem: Problem, src: Option<NamedSource<String>>, spans: Spans) -> Self {
        let help = problem.help();
        let note = match &problem {
            Problem::DuplicateAtom(_)
            | Problem::DuplicateEdge(_)
            | Problem::DuplicateMirror(_)
            | Problem::DuplicateName(_) => "listed again here".to_string(),
            Problem::Cycle(_) => "closes the cycle".to_string(),
            p => p.to_string(),
        };
        LockError::Invalid {
            problem,
            src,
            span: spans.at.map(|r| r.into()),
            note,
            first: spans.first.map(|r| r.into()),
            help,
        }
    }
}

#[derive(Default)]
struct Spans {
    at: Option<Range<usize>>,
    first: Option<Range<usize>>,
}

impl Spans {
    fn at(at: Range<usize>) -> Self {
        Spans {
            at: Some(at),
            first: None,
        }
    }
}

/// A TOML error of the lock `src`.
fn syntax(e: toml::de::Error, src: NamedSource<String>) -> LockError {
    LockError::Syntax {
        message: e.message().trim_end().to_string(),
        src,
        span: e.span().map(Into::into),
        help: REBUILD_HELP,
    }
}

/// What to do about a lock in this eka's format that does not verify.
const REBUILD_HELP: &str = "atom.lock is written by eka, not by hand";

/// What to do about a lock in eka 0.3's format that does not verify: eka
/// 0.3 wrote it, so it was edited since.
pub(crate) const EKA03_HELP: &str = "this atom.lock is in eka 0.3's format (`version = 1`), which eka 0.3 writes; restore the one it wrote, or have this eka write its own";

impl LockError {
    /// The same error with `help` (for a lock eka 0.3 wrote).
    pub(crate) fn with_help(mut self, new: &'static str) -> Self {
        match &mut self {
            LockError::Syntax { help, .. } => *help = new,
            LockError::Invalid { help, .. } => *help = Some(new),
            LockError::Read { .. } | LockError::Write { .. } => {}
        }
        self
    }
}

/// Where in a lock a structural problem is, by position in file order.
#[derive(Clone, Copy, Debug)]
enum Loc {
    AtomLabel(usize),
    AtomId(usize),
    Mirrors(usize),
    Mirror(usize, usize),
    /// An edge of the top-level `deps` (`None`) or of an atom.
    Edge(Option<usize>, usize, EdgeField),
}

#[derive(Clone, Copy, Debug)]
enum EdgeField {
    Label,
    Req,
    Id,
}

type Found = (Problem, Loc, Option<Loc>);

/// The structural checks shared by [`Lockfile::new`] and parsing.
fn validate(deps: &[Edge], atoms: &[LockedAtom]) -> Result<(), Found> {
    let ids: Vec<AtomId> = atoms.iter().map(LockedAtom::id).collect();
    let mut index: HashMap<AtomId, usize> = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(&j) = index.get(id) {
            return Err((
                Problem::DuplicateAtom(*id),
                Loc::AtomId(i),
                Some(Loc::AtomId(j)),
            ));
        }
        index.insert(*id, i);
    }
    for (i, a) in atoms.iter().enumerate() {
        if a.mirrors.is_empty() {
            return Err((Problem::NoMirrors(a.label.clone()), Loc::Mirrors(i), None));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, m) in a.mirrors.iter().enumerate() {
            if let Some(&j) = seen.get(m.as_str()) {
                return Err((
                    Problem::DuplicateMirror(m.to_string()),
                    Loc::Mirror(i, k),
                    Some(Loc::Mirror(i, j)),
                ));
            }
            seen.insert(m.as_str(), k);
        }
    }
    let owners = std::iter::once((None, deps)).chain(
        atoms
            .iter()
            .enumerate()
            .map(|(i, a)| (Some(i), a.deps.as_slice())),
    );
    for (owner, edges) in owners {
        let mut seen: HashMap<AtomId, usize> = HashMap::new();
        for (k, e) in edges.iter().enumerate() {
            let at = |f| Loc::Edge(owner, k, f);
            if let Some(&j) = seen.get(&e.id) {
                return Err((
                    Problem::DuplicateEdge(e.id),
                    at(EdgeField::Id),
                    Some(Loc::Edge(owner, j, EdgeField::Id)),
                ));
            }
            seen.insert(e.id, k);
            let Some(&t) = index.get(&e.id) else {
                return Err((Problem::DanglingEdge(e.id), at(EdgeField::Id), None));
            };
            let target = &atoms[t];
            if target.label != e.label {
                let p = Problem::EdgeLabel {
                    stated: e.label.clone(),
                    actual: target.label.clone(),
                    id: e.id,
                };
                return Err((p, at(EdgeField::Label), Some(Loc::AtomLabel(t))));
            }
            if !e.req.matches(&target.version) {
                let p = Problem::Unsatisfied {
                    label: target.label.clone(),
                    version: target.version.clone(),
                    req: e.req.clone(),
                };
                return Err((p, at(EdgeField::Req), None));
            }
        }
    }
    find_cycle(atoms, &index)?;
    // Every atom must be reachable from the manifest's dependencies.
    let mut reached = vec![false; atoms.len()];
    let mut stack: Vec<usize> = deps.iter().map(|e| index[&e.id]).collect();
    while let Some(i) = stack.pop() {
        if !std::mem::replace(&mut reached[i], true) {
            stack.extend(atoms[i].deps.iter().map(|e| index[&e.id]));
        }
    }
    if let Some(i) = reached.iter().position(|r| !r) {
        return Err((
            Problem::Unreachable(atoms[i].label.clone()),
            Loc::AtomLabel(i),
            None,
        ));
    }
    Ok(())
}

/// A cycle among the atoms (their edges all known to resolve), reported
/// at the edge that closes it.
fn find_cycle(atoms: &[LockedAtom], index: &HashMap<AtomId, usize>) -> Result<(), Found> {
    let edge = |a: usize, k: usize| atoms[a].deps.get(k).map(|e| index[&e.id]);
    let Some(cycle) = crate::graph::find_cycle(atoms.len(), edge) else {
        return Ok(());
    };
    let labels = cycle
        .nodes
        .iter()
        .map(|&a| atoms[a].label.clone())
        .collect();
    let (a, k) = cycle.closing_edge;
    Err((
        Problem::Cycle(labels),
        Loc::Edge(Some(a), k, EdgeField::Id),
        None,
    ))
}

impl Lockfile {
    /// Builds a lock from direct dependencies and atoms, sorting them and
    /// checking it as reading does (ids, edges, cycles, reachability).
    pub fn new(deps: Vec<Edge>, atoms: Vec<LockedAtom>) -> Result<Self, LockError> {
        validate(&deps, &atoms)
            .map_err(|(problem, _, _)| LockError::invalid(problem, None, Spans::default()))?;
        Ok(Self::sorted(deps, atoms, Vec::new()))
    }

    /// This lock with `direct` as its pins of non-atom dependencies (which
    /// [`Lockfile::new`] and [`Lockfile::into_parts`] leave out); a name
    /// given twice is an error.
    pub fn with_direct(self, direct: Vec<DirectDep>) -> Result<Self, LockError> {
        let mut seen = std::collections::HashSet::new();
        if let Some(d) = direct.iter().find(|d| !seen.insert(&d.name)) {
            let problem = Problem::DuplicateName(d.name.clone());
            return Err(LockError::invalid(problem, None, Spans::default()));
        }
        Ok(Self::sorted(self.deps, self.atoms, direct))
    }

    /// Sorts a validated lock into canonical order.
    fn sorted(mut deps: Vec<Edge>, mut atoms: Vec<LockedAtom>, mut direct: Vec<DirectDep>) -> Self {
        sort_edges(&mut deps);
        for a in &mut atoms {
            sort_edges(&mut a.deps);
        }
        atoms.sort_by_cached_key(|a| (a.label.clone(), a.id()));
        direct.sort_by(|a, b| a.name.cmp(&b.name));
        let index = atoms.iter().enumerate().map(|(i, a)| (a.id(), i)).collect();
        Lockfile {
            deps,
            atoms,
            direct,
            index,
        }
    }

    /// The direct dependencies and the atoms, to change and rebuild with
    /// [`Lockfile::new`].
    pub fn into_parts(self) -> (Vec<Edge>, Vec<LockedAtom>) {
        (self.deps, self.atoms)
    }

    /// The manifest's direct dependencies.
    pub fn deps(&self) -> &[Edge] {
        &self.deps
    }

    /// All locked atoms, sorted by label then id.
    pub fn atoms(&self) -> &[LockedAtom] {
        &self.atoms
    }

    /// The pins of dependencies that are not atoms, sorted by name.
    pub fn direct(&self) -> &[DirectDep] {
        &self.direct
    }

    /// The pins of non-atom dependencies the manifest still names (its
    /// `[deps.direct.nix]`), to keep when the lock is rebuilt.
    pub fn direct_kept<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<DirectDep> {
        let names: Vec<&str> = names.into_iter().collect();
        self.direct
            .iter()
            .filter(|d| names.contains(&d.name.as_str()))
            .cloned()
            .collect()
    }

    pub fn get(&self, id: &AtomId) -> Option<&LockedAtom> {
        self.index.get(id).map(|&i| &self.atoms[i])
    }

    /// The atoms with this label (several sets may publish one label).
    pub fn by_label<'a>(&'a self, label: &'a Label) -> impl Iterator<Item = &'a LockedAtom> + 'a {
        self.atoms.iter().filter(move |a| &a.label == label)
    }

    /// Whether `text` is exactly what this lock serialises to (a lock
    /// reordered or reformatted by hand parses, but is not canonical).
    pub fn is_canonical_text(&self, text: &str) -> bool {
        self.to_toml_string() == text
    }

    /// Parses and verifies a lock. `name` names the source in messages.
    pub fn parse(text: &str, name: &str) -> Result<Self, LockError> {
        let src = || NamedSource::new(name, text.to_string());
        let syntax = |e| syntax(e, src());
        let invalid = |problem, at| LockError::invalid(problem, Some(src()), Spans::at(at));

        // The version first, so that a newer format is reported as such and
        // not as unknown fields.
        let head: Head = toml::from_str(text).map_err(syntax)?;
        match head.lock_version {
            None => {
                return Err(match head.version {
                    Some(v) => invalid(Problem::Eka03Format, v.span()),
                    None => invalid(Problem::MissingVersion, 0..0),
                })
            }
            Some(v) if v.get_ref().as_integer() != Some(LOCK_VERSION) => {
                let shown = v.get_ref().to_string();
                return Err(invalid(Problem::UnsupportedVersion(shown), v.span()));
            }
            Some(_) => {}
        }
        let raw: RawLock = toml::from_str(text).map_err(syntax)?;

        let deps = raw
            .deps
            .iter()
            .map(|e| e.parse())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(p, at)| invalid(p, at))?;
        let mut atoms = Vec::with_capacity(raw.atom.len());
        for a in &raw.atom {
            atoms.push(a.parse().map_err(|(p, at)| invalid(p, at))?);
        }
        let direct = raw.parse_direct().map_err(|(problem, at, first)| {
            LockError::invalid(
                problem,
                Some(src()),
                Spans {
                    at: Some(at),
                    first,
                },
            )
        })?;
        validate(&deps, &atoms).map_err(|(problem, at, first)| {
            let span = |l| raw.span(l);
            LockError::invalid(
                problem,
                Some(src()),
                Spans {
                    at: Some(span(at)),
                    first: first.map(span),
                },
            )
        })?;
        // Sorted like `new`, so that parse-then-write is canonical.
        Ok(Self::sorted(deps, atoms, direct))
    }

    /// Reads and verifies the lock at `path`.
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

fn sort_edges(edges: &mut [Edge]) {
    edges.sort_by(|a, b| a.key().cmp(&b.key()));
}

/// A lock in either format eka reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnyLock {
    /// This eka's (`lock-version = 1`).
    Eka(Lockfile),
    /// eka 0.3's (`version = 1`).
    Eka03(Box<Eka03Lock>),
}

impl AnyLock {
    /// Parses a lock in either format, told apart by its version key.
    pub fn parse(text: &str, name: &str) -> Result<Self, LockError> {
        let head: Head = toml::from_str(text)
            .map_err(|e| syntax(e, NamedSource::new(name, text.to_string())))?;
        match (head.lock_version, head.version) {
            (None, Some(_)) => Ok(AnyLock::Eka03(Box::new(Eka03Lock::parse(text, name)?))),
            _ => Ok(AnyLock::Eka(Lockfile::parse(text, name)?)),
        }
    }

    /// Whether it pins any atom to fetch.
    pub fn pins_atoms(&self) -> bool {
        match self {
            AnyLock::Eka(l) => !l.atoms().is_empty(),
            AnyLock::Eka03(l) => l.atoms().any(|a| a.rev.is_some()),
        }
    }

    /// Reads the lock at `path`, in either format.
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "lock-version")]
    lock_version: Option<Spanned<toml::Value>>,
    /// eka 0.3's version key.
    version: Option<Spanned<toml::Value>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLock {
    #[serde(rename = "lock-version")]
    _lock_version: i64,
    #[serde(default)]
    deps: Vec<RawEdge>,
    #[serde(default)]
    atom: Vec<RawAtom>,
    #[serde(default)]
    direct: Vec<RawDirect>,
}

/// A `[[direct]]` table.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirect {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    hash: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    rev: Option<Spanned<String>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAtom {
    label: Spanned<String>,
    version: Spanned<String>,
    id: Spanned<String>,
    root: Spanned<String>,
    commit: Spanned<String>,
    origin: Spanned<String>,
    digest: Spanned<String>,
    mirrors: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    signers: Vec<Spanned<String>>,
    #[serde(default)]
    deps: Vec<RawEdge>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdge {
    label: Spanned<String>,
    req: Spanned<String>,
    id: Spanned<String>,
}

type FieldResult<T> = Result<T, (Problem, Range<usize>)>;

/// A problem, where it is, and the place it repeats (duplicates).
type Placed = (Problem, Range<usize>, Option<Range<usize>>);

fn field<T>(v: &Spanned<String>, f: impl FnOnce(&str) -> Result<T, Problem>) -> FieldResult<T> {
    f(v.get_ref()).map_err(|p| (p, v.span()))
}

fn id_field<T>(
    name: &'static str,
    v: &Spanned<String>,
    parse: impl FnOnce(&str) -> Result<T, IdError>,
) -> FieldResult<T> {
    field(v, |s| {
        parse(s).map_err(|error| Problem::Id { field: name, error })
    })
}

fn atom_id(s: &str) -> Result<AtomId, IdError> {
    Ok(AtomId::parse(s)?)
}

fn digest(s: &str) -> Result<ContentDigest, IdError> {
    Ok(ContentDigest::parse(s)?)
}

fn label_field(v: &Spanned<String>) -> FieldResult<Label> {
    field(v, |s| {
        let label = Label::parse(s).map_err(Problem::Label)?;
        // Locks store the NFKC form; anything else was not written by eka.
        if label.as_str() != s {
            return Err(Problem::LabelNotNormalised(label));
        }
        Ok(label)
    })
}

impl RawEdge {
    fn parse(&self) -> FieldResult<Edge> {
        Ok(Edge {
            label: label_field(&self.label)?,
            req: field(&self.req, |s| {
                VersionReq::parse(s).map_err(|e| Problem::Requirement(e.to_string()))
            })?,
            id: id_field("atom id", &self.id, atom_id)?,
        })
    }
}

impl RawAtom {
    fn parse(&self) -> FieldResult<LockedAtom> {
        let label = label_field(&self.label)?;
        let version = field(&self.version, |s| {
            Version::parse(s).map_err(|e| Problem::Version(e.to_string()))
        })?;
        let id = id_field("atom id", &self.id, atom_id)?;
        let root = id_field("root commit", &self.root, parse_commit)?;
        let computed = AtomId::compute(&root, &label);
        if id != computed {
            return Err((Problem::IdMismatch { label, computed }, self.id.span()));
        }
        let mirrors = self
            .mirrors
            .get_ref()
            .iter()
            .map(|m| {
                field(m, |s| {
                    let url: RepoUrl = s.parse().map_err(|e: crate::UriError| {
                        Problem::Mirror(format!("{e} at `{}`", e.snippet()))
                    })?;
                    if url.as_str() != s {
                        return Err(Problem::MirrorNotCanonical {
                            expected: url.to_string(),
                        });
                    }
                    Ok(url)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LockedAtom {
            label,
            version,
            root,
            commit: id_field("atom commit", &self.commit, parse_commit)?,
            origin: id_field("origin commit", &self.origin, parse_commit)?,
            digest: id_field("content digest", &self.digest, digest)?,
            mirrors,
            deps: self
                .deps
                .iter()
                .map(RawEdge::parse)
                .collect::<Result<_, _>>()?,
            signers: self
                .signers
                .iter()
                .map(|s| field(s, signer))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `SHA256:<fingerprint> <seconds>`, as the lock writes a recorded signer.
fn signer(s: &str) -> Result<atom_trust::RecordedSigner, Problem> {
    let bad = || Problem::Signer(s.to_owned());
    let (fingerprint, at) = s.split_once(' ').ok_or_else(bad)?;
    Ok(atom_trust::RecordedSigner {
        fingerprint: atom_trust::KeyFingerprint::parse(fingerprint).map_err(|_| bad())?,
        signed_at: at.parse().map_err(|_| bad())?,
    })
}

impl RawLock {
    /// The `[[direct]]` pins; a name listed twice is an error pointing at
    /// both.
    fn parse_direct(&self) -> Result<Vec<DirectDep>, Placed> {
        let mut seen: HashMap<Label, Range<usize>> = HashMap::new();
        let mut out = Vec::with_capacity(self.direct.len());
        for d in &self.direct {
            let fields = direct::RawPinFields {
                kind: &d.kind,
                name: Some(&d.name),
                url: d.url.as_ref(),
                hash: d.hash.as_ref(),
                version: d.version.as_ref(),
                rev: d.rev.as_ref(),
            };
            let Some(pin) = fields.parse().map_err(|(p, at)| (p, at, None))? else {
                let problem = Problem::UnknownType {
                    found: d.kind.get_ref().clone(),
                    expected: "nix, nix+git, nix+tar, nix+src",
                };
                return Err((problem, d.kind.span(), None));
            };
            if let Some(first) = seen.insert(pin.name.clone(), d.name.span()) {
                return Err((Problem::DuplicateName(pin.name), d.name.span(), Some(first)));
            }
            out.push(pin);
        }
        Ok(out)
    }

    fn span(&self, loc: Loc) -> Range<usize> {
        match loc {
            Loc::AtomLabel(i) => self.atom[i].label.span(),
            Loc::AtomId(i) => self.atom[i].id.span(),
            Loc::Mirrors(i) => self.atom[i].mirrors.span(),
            Loc::Mirror(i, k) => self.atom[i].mirrors.get_ref()[k].span(),
            Loc::Edge(owner, k, f) => {
                let e = match owner {
                    None => &self.deps[k],
                    Some(i) => &self.atom[i].deps[k],
                };
                match f {
                    EdgeField::Label => e.label.span(),
                    EdgeField::Req => e.req.span(),
                    EdgeField::Id => e.id.span(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
