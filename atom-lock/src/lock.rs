//! The lockfile, `atom.lock` (normative text in `spec/lock.md`).
//!
//! A [`Lockfile`] value is always valid: it is built by [`Lockfile::new`]
//! or [`Lockfile::parse`], both of which check it, so serialising cannot
//! fail. Serialisation is byte-stable: atoms and edges are sorted and every
//! value has one text form, so the same lock always gives the same bytes.

use crate::ids::{parse_commit, AtomId, CommitId, ContentDigest, IdError};
use crate::uri::RepoUrl;
use atom_format::{Label, LabelError};
use miette::{NamedSource, SourceSpan};
use semver::{Version, VersionReq};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

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
                "the id is derived from `root` and `label`; one of the three was edited: run `eka lock` to rebuild the lock"
            }
            Problem::MirrorNotCanonical { .. } | Problem::Mirror(_) => {
                "locks store expanded URLs (no aliases), as `eka lock` writes them"
            }
            Problem::Unsatisfied { .. } | Problem::Unreachable(_) | Problem::DanglingEdge(_) => {
                "the lock is stale or was edited by hand: run `eka lock`"
            }
            Problem::Cycle(_) => "atoms may not depend on each other in a cycle",
            _ => "atom.lock is written by `eka lock`; run it to rebuild the lock",
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
    #[diagnostic(
        code(eka::lock::syntax),
        help("atom.lock is written by `eka lock`; run it to rebuild the lock")
    )]
    Syntax {
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
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
            Problem::DuplicateAtom(_) | Problem::DuplicateEdge(_) | Problem::DuplicateMirror(_) => {
                "listed again here".to_string()
            }
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

/// Depth-first search over the edges (all known to resolve); reports the
/// edge that closes a cycle.
fn find_cycle(atoms: &[LockedAtom], index: &HashMap<AtomId, usize>) -> Result<(), Found> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    let mut state = vec![State::New; atoms.len()];
    for start in 0..atoms.len() {
        if state[start] != State::New {
            continue;
        }
        // (atom, next edge to follow); iterative so deep graphs cannot
        // overflow the stack.
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = State::Open;
        while let Some(&mut (a, ref mut k)) = path.last_mut() {
            let Some(edge) = atoms[a].deps.get(*k) else {
                state[a] = State::Done;
                path.pop();
                continue;
            };
            let edge_index = *k;
            *k += 1;
            let t = index[&edge.id];
            match state[t] {
                State::Done => {}
                State::New => {
                    state[t] = State::Open;
                    path.push((t, 0));
                }
                State::Open => {
                    let from = path.iter().position(|&(p, _)| p == t).unwrap_or(0);
                    let mut labels: Vec<Label> = path[from..]
                        .iter()
                        .map(|&(p, _)| atoms[p].label.clone())
                        .collect();
                    labels.push(atoms[t].label.clone());
                    return Err((
                        Problem::Cycle(labels),
                        Loc::Edge(Some(a), edge_index, EdgeField::Id),
                        None,
                    ));
                }
            }
        }
    }
    Ok(())
}

impl Lockfile {
    /// Builds a lock from direct dependencies and atoms, sorting them and
    /// checking it as reading does (ids, edges, cycles, reachability).
    pub fn new(deps: Vec<Edge>, atoms: Vec<LockedAtom>) -> Result<Self, LockError> {
        validate(&deps, &atoms)
            .map_err(|(problem, _, _)| LockError::invalid(problem, None, Spans::default()))?;
        Ok(Self::sorted(deps, atoms))
    }

    /// Sorts a validated lock into canonical order.
    fn sorted(mut deps: Vec<Edge>, mut atoms: Vec<LockedAtom>) -> Self {
        sort_edges(&mut deps);
        for a in &mut atoms {
            sort_edges(&mut a.deps);
        }
        atoms.sort_by_cached_key(|a| (a.label.clone(), a.id()));
        let index = atoms.iter().enumerate().map(|(i, a)| (a.id(), i)).collect();
        Lockfile { deps, atoms, index }
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

    pub fn get(&self, id: &AtomId) -> Option<&LockedAtom> {
        self.index.get(id).map(|&i| &self.atoms[i])
    }

    /// The atoms with this label (several sets may publish one label).
    pub fn by_label<'a>(&'a self, label: &'a Label) -> impl Iterator<Item = &'a LockedAtom> + 'a {
        self.atoms.iter().filter(move |a| &a.label == label)
    }

    /// The canonical text of the lock.
    pub fn to_toml_string(&self) -> String {
        let mut out = String::new();
        out.push_str("# This file is written by eka (`eka lock`). Do not edit it by hand.\n");
        let _ = writeln!(out, "lock-version = {LOCK_VERSION}");
        if !self.deps.is_empty() {
            out.push('\n');
            write_edges(&mut out, &self.deps);
        }
        for a in &self.atoms {
            out.push_str("\n[[atom]]\n");
            let _ = writeln!(out, "label = {}", quote(a.label.as_str()));
            let _ = writeln!(out, "version = {}", quote(&a.version.to_string()));
            let _ = writeln!(out, "id = \"{}\"", a.id());
            let _ = writeln!(out, "root = \"{}\"", a.root);
            let _ = writeln!(out, "commit = \"{}\"", a.commit);
            let _ = writeln!(out, "origin = \"{}\"", a.origin);
            let _ = writeln!(out, "digest = \"{}\"", a.digest);
            out.push_str("mirrors = [\n");
            for m in &a.mirrors {
                let _ = writeln!(out, "    {},", quote(m.as_str()));
            }
            out.push_str("]\n");
            if !a.signers.is_empty() {
                out.push_str("signers = [\n");
                for s in &a.signers {
                    let _ = writeln!(out, "    \"{} {}\",", s.fingerprint, s.signed_at);
                }
                out.push_str("]\n");
            }
            if !a.deps.is_empty() {
                write_edges(&mut out, &a.deps);
            }
        }
        out
    }

    /// Whether `text` is exactly what this lock serialises to (a lock
    /// reordered or reformatted by hand parses, but is not canonical).
    pub fn is_canonical_text(&self, text: &str) -> bool {
        self.to_toml_string() == text
    }

    /// Parses and verifies a lock. `name` names the source in messages.
    pub fn parse(text: &str, name: &str) -> Result<Self, LockError> {
        let src = || NamedSource::new(name, text.to_string());
        let syntax = |e: toml::de::Error| LockError::Syntax {
            message: e.message().trim_end().to_string(),
            src: src(),
            span: e.span().map(Into::into),
        };
        let invalid = |problem, at: Range<usize>| {
            LockError::invalid(
                problem,
                Some(src()),
                Spans {
                    at: Some(at),
                    first: None,
                },
            )
        };

        // The version first, so that a newer format is reported as such and
        // not as unknown fields.
        let head: Head = toml::from_str(text).map_err(syntax)?;
        match head.lock_version {
            None => return Err(invalid(Problem::MissingVersion, 0..0)),
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
        Ok(Self::sorted(deps, atoms))
    }

    /// Reads and verifies the lock at `path`.
    pub fn read(path: &Path) -> Result<Self, LockError> {
        let text = std::fs::read_to_string(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the lock to `path` atomically: to a temporary file in the
    /// same directory, flushed to disk, then renamed over `path`, so that a
    /// reader (or a crash) sees the old lock or the new one, never a part.
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let err = |source| LockError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".atom.lock.")
            .tempfile_in(dir)
            .map_err(err)?;
        tmp.write_all(self.to_toml_string().as_bytes())
            .map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        // Make the rename itself durable; not every platform can open a
        // directory, and the lock is already in place, so this is best effort.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn sort_edges(edges: &mut [Edge]) {
    edges.sort_by(|a, b| a.key().cmp(&b.key()));
}

fn write_edges(out: &mut String, edges: &[Edge]) {
    out.push_str("deps = [\n");
    for e in edges {
        let _ = writeln!(
            out,
            "    {{ label = {}, req = {}, id = \"{}\" }},",
            quote(e.label.as_str()),
            quote(&e.req.to_string()),
            e.id
        );
    }
    out.push_str("]\n");
}

/// A TOML basic string. Labels, versions and ids need no escapes, but
/// mirrors may be paths holding any character.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "lock-version")]
    lock_version: Option<Spanned<toml::Value>>,
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

/// `SHA256:<fingerprint> <seconds>`, as [`Lockfile::to_toml_string`]
/// writes a recorded signer.
fn signer(s: &str) -> Result<atom_trust::RecordedSigner, Problem> {
    let bad = || Problem::Signer(s.to_owned());
    let (fingerprint, at) = s.split_once(' ').ok_or_else(bad)?;
    Ok(atom_trust::RecordedSigner {
        fingerprint: atom_trust::KeyFingerprint::parse(fingerprint).map_err(|_| bad())?,
        signed_at: at.parse().map_err(|_| bad())?,
    })
}

impl RawLock {
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
mod tests {
    use super::*;

    const ROOT_A: &str = "4abbd2644bc3585e9be95deb277ccf48f6ed26ac";
    const ROOT_B: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

    fn commit(n: u8) -> CommitId {
        gix::ObjectId::Sha1([n; 20])
    }

    fn atom(root: &str, label: &str, version: &str, deps: Vec<Edge>) -> LockedAtom {
        LockedAtom {
            label: Label::parse(label).unwrap(),
            version: Version::parse(version).unwrap(),
            root: parse_commit(root).unwrap(),
            commit: commit(label.len() as u8),
            origin: commit(0xee),
            digest: ContentDigest([0xab; 32]),
            mirrors: vec![
                "https://example.com/repo".parse().unwrap(),
                "ssh://git@mirror.example:2222/repo.git".parse().unwrap(),
            ],
            deps,
            signers: Vec::new(),
        }
    }

    /// Recorded signers (`spec/trust.md` §5.3) round-trip, and only their
    /// one form reads.
    #[test]
    fn signers_round_trip() {
        let (deps, mut atoms) = sample_parts();
        let fp =
            atom_trust::KeyFingerprint::parse("SHA256:fe85JkIjo8VPe+XqXJGH5Mau1EMFdK1OdKvJUFicyA8")
                .unwrap();
        atoms[0].signers = vec![atom_trust::RecordedSigner {
            fingerprint: fp,
            signed_at: 1760000000,
        }];
        let lock = Lockfile::new(deps, atoms).unwrap();
        let text = lock.to_toml_string();
        assert!(
            text.contains("signers = [\n    \"SHA256:fe85JkIjo8VPe+XqXJGH5Mau1EMFdK1OdKvJUFicyA8 1760000000\",\n]\n"),
            "{text}"
        );
        let back = Lockfile::parse(&text, "atom.lock").unwrap();
        assert_eq!(back, lock);
        assert!(back.is_canonical_text(&text));
        let bad = text.replace(" 1760000000", "");
        let (p, _, _) = problem(&bad);
        assert!(matches!(p, Problem::Signer(_)), "{p:?}");
    }

    fn edge(to: &LockedAtom, req: &str) -> Edge {
        Edge {
            label: to.label.clone(),
            req: VersionReq::parse(req).unwrap(),
            id: to.id(),
        }
    }

    /// app -> {lib (set A), lib (set B)}; lib (A) -> util.
    fn sample_parts() -> (Vec<Edge>, Vec<LockedAtom>) {
        let util = atom(ROOT_A, "util", "0.3.1", vec![]);
        let lib_a = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
        let lib_b = atom(ROOT_B, "lib", "2.0.0", vec![]);
        let deps = vec![edge(&lib_b, "^2"), edge(&lib_a, "^1.2")];
        (deps, vec![util, lib_b, lib_a])
    }

    fn sample() -> Lockfile {
        let (d, a) = sample_parts();
        Lockfile::new(d, a).unwrap()
    }

    fn problem(text: &str) -> (Problem, String, Option<String>) {
        match Lockfile::parse(text, "atom.lock").unwrap_err() {
            LockError::Invalid {
                problem,
                span,
                first,
                ..
            } => {
                let cut = |s: SourceSpan| text[s.offset()..s.offset() + s.len()].to_string();
                (problem, span.map(cut).unwrap_or_default(), first.map(cut))
            }
            e => panic!("expected a content problem, got {e:?}"),
        }
    }

    #[test]
    fn round_trip_is_byte_stable() {
        let lock = sample();
        let text = lock.to_toml_string();
        let again = Lockfile::parse(&text, "atom.lock").unwrap();
        assert_eq!(again, lock);
        assert_eq!(again.to_toml_string(), text);
        assert!(again.is_canonical_text(&text));
        // Input order does not matter.
        let (mut d, mut a) = sample_parts();
        d.reverse();
        a.reverse();
        a[1].deps.reverse();
        assert_eq!(Lockfile::new(d, a).unwrap().to_toml_string(), text);
    }

    #[test]
    fn canonical_text() {
        let util = atom(ROOT_A, "util", "0.3.1", vec![]);
        let lib = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
        let (lib_id, util_id) = (lib.id(), util.id());
        let lock = Lockfile::new(vec![edge(&lib, "^1")], vec![util, lib]).unwrap();
        let digest = format!("blake3:{}", "ab".repeat(32));
        let want = format!(
            r#"# This file is written by eka (`eka lock`). Do not edit it by hand.
lock-version = 1

deps = [
    {{ label = "lib", req = "^1", id = "{lib_id}" }},
]

[[atom]]
label = "lib"
version = "1.4.0"
id = "{lib_id}"
root = "{ROOT_A}"
commit = "0303030303030303030303030303030303030303"
origin = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
digest = "{digest}"
mirrors = [
    "https://example.com/repo",
    "ssh://git@mirror.example:2222/repo.git",
]
deps = [
    {{ label = "util", req = "^0.3", id = "{util_id}" }},
]

[[atom]]
label = "util"
version = "0.3.1"
id = "{util_id}"
root = "{ROOT_A}"
commit = "0404040404040404040404040404040404040404"
origin = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
digest = "{digest}"
mirrors = [
    "https://example.com/repo",
    "ssh://git@mirror.example:2222/repo.git",
]
"#
        );
        assert_eq!(lock.to_toml_string(), want);
    }

    #[test]
    fn spec_example_is_valid_and_canonical() {
        let spec = include_str!("../../spec/lock.md");
        let start = spec.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + spec[start..].find("```").unwrap();
        let example = &spec[start..end];
        let lock = Lockfile::parse(example, "spec/lock.md").unwrap();
        assert!(lock.is_canonical_text(example));
        // It is the lock this module's fixtures build.
        let util = atom(ROOT_A, "util", "0.3.1", vec![]);
        let lib = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
        let built = Lockfile::new(vec![edge(&lib, "^1")], vec![util, lib]).unwrap();
        assert_eq!(lock, built);
    }

    #[test]
    fn into_parts_and_back() {
        let lock = sample();
        let (deps, atoms) = lock.clone().into_parts();
        assert_eq!(Lockfile::new(deps, atoms).unwrap(), lock);
    }

    /// Truncated or spliced locks are errors with in-bounds spans, never a
    /// panic.
    #[test]
    fn never_panics_on_damaged_text() {
        let text = sample().to_toml_string();
        let lines: Vec<&str> = text.lines().collect();
        let mut variants: Vec<String> = text
            .char_indices()
            .map(|(i, _)| text[..i].to_string())
            .collect();
        for skip in 0..lines.len() {
            let mut v = lines.clone();
            v.remove(skip);
            variants.push(v.join("\n"));
            let mut v = lines.clone();
            v.insert(skip, lines[skip]);
            variants.push(v.join("\n"));
        }
        for v in variants {
            if let Err(
                LockError::Invalid { span: Some(s), .. } | LockError::Syntax { span: Some(s), .. },
            ) = Lockfile::parse(&v, "l")
            {
                assert!(s.offset() + s.len() <= v.len(), "{v}");
            }
        }
    }

    #[test]
    fn same_label_from_two_sets() {
        let lock = sample();
        let lib = Label::parse("lib").unwrap();
        assert_eq!(lock.by_label(&lib).count(), 2);
        let first = &lock.atoms()[0];
        assert_eq!(lock.get(&first.id()), Some(first));
    }

    #[test]
    fn unknown_field_points_at_it() {
        let text = sample().to_toml_string().replacen(
            "version = \"1.4.0\"\n",
            "version = \"1.4.0\"\nchecksum = \"x\"\n",
            1,
        );
        let LockError::Syntax { message, span, .. } = Lockfile::parse(&text, "l").unwrap_err()
        else {
            panic!()
        };
        assert!(message.contains("checksum"), "{message}");
        let span = span.unwrap();
        assert!(text[span.offset()..].starts_with("checksum"));
        let text = sample()
            .to_toml_string()
            .replace("lock-version = 1", "lock-version = 1\nextra = 1");
        assert!(matches!(
            Lockfile::parse(&text, "l").unwrap_err(),
            LockError::Syntax { .. }
        ));
    }

    #[test]
    fn duplicate_entry() {
        let text = sample().to_toml_string();
        let first = text.find("\n[[atom]]").unwrap();
        let second = text[first + 1..].find("\n[[atom]]").unwrap() + first + 1;
        let doubled = format!("{}{}", text, &text[first..second]);
        let (p, at, first_at) = problem(&doubled);
        assert!(matches!(p, Problem::DuplicateAtom(_)), "{p}");
        assert_eq!(at, format!("\"{}\"", sample().atoms()[0].id()));
        assert_eq!(first_at.as_deref(), Some(at.as_str()));
    }

    #[test]
    fn malformed_ids_point_at_the_value() {
        let lock = sample();
        let text = lock.to_toml_string();
        let a = &lock.atoms()[0];
        let cases = [
            (a.commit.to_string(), "0303", "atom commit"),
            (a.origin.to_string(), "EEEE", "origin commit"),
            (a.digest.to_string(), "sha1:00", "content digest"),
            (a.root.to_string(), "4abbd264", "root commit"),
            (a.id().to_string(), "zz", "atom id"),
        ];
        for (good, bad, name) in cases {
            let broken = text.replacen(&good, bad, 1);
            let (p, at, _) = problem(&broken);
            assert!(
                matches!(p, Problem::Id { field, .. } if field == name),
                "{name}: {p}"
            );
            assert_eq!(at, format!("\"{bad}\""), "{name}");
        }
    }

    #[test]
    fn id_must_match_root_and_label() {
        let lock = sample();
        let text = lock.to_toml_string();
        // Another atom's (valid) id in the first entry.
        let (a, b) = (lock.atoms()[0].id(), lock.atoms()[2].id());
        let broken = text.replacen(&format!("\nid = \"{a}\""), &format!("\nid = \"{b}\""), 1);
        let (p, at, _) = problem(&broken);
        assert_eq!(
            p,
            Problem::IdMismatch {
                label: lock.atoms()[0].label.clone(),
                computed: a
            }
        );
        assert_eq!(at, format!("\"{b}\""));
        // Same with the root edited.
        let broken = text.replacen(
            &format!("root = \"{ROOT_A}\""),
            &format!("root = \"{ROOT_B}\""),
            1,
        );
        assert!(matches!(problem(&broken).0, Problem::IdMismatch { .. }));
    }

    #[test]
    fn version_header() {
        let text = sample().to_toml_string();
        let (p, at, _) = problem(&text.replace("lock-version = 1", "lock-version = 2"));
        assert_eq!(p, Problem::UnsupportedVersion("2".into()));
        assert_eq!(at, "2");
        // A future version with unknown fields is still reported as a version.
        let future = text.replace("lock-version = 1", "lock-version = 2\nnew = true");
        assert_eq!(problem(&future).0, Problem::UnsupportedVersion("2".into()));
        let (p, _, _) = problem(&text.replace("lock-version = 1\n", ""));
        assert_eq!(p, Problem::MissingVersion);
    }

    #[test]
    fn graph_problems() {
        let lock = sample();
        let text = lock.to_toml_string();
        let util = lock
            .atoms()
            .iter()
            .find(|a| a.label.as_str() == "util")
            .unwrap();

        // Requirement not met by the locked version.
        let (p, at, _) = problem(&text.replace("req = \"^0.3\"", "req = \"^0.4\""));
        assert!(matches!(p, Problem::Unsatisfied { .. }), "{p}");
        assert_eq!(at, "\"^0.4\"");

        // Edge label disagrees with its target.
        let (p, at, first) = problem(&text.replace("{ label = \"util\"", "{ label = \"utils\""));
        assert!(matches!(p, Problem::EdgeLabel { .. }), "{p}");
        assert_eq!(at, "\"utils\"");
        assert_eq!(first.as_deref(), Some("\"util\""));

        // Dangling edge: the target entry removed.
        let start = text.find("[[atom]]\nlabel = \"util\"").unwrap();
        let (p, at, _) = problem(&text[..start]);
        assert_eq!(p, Problem::DanglingEdge(util.id()));
        assert_eq!(at, format!("\"{}\"", util.id()));

        // Unreachable: nothing depends on lib (set A) any more.
        let lib_a = lock
            .atoms()
            .iter()
            .find(|a| a.root == parse_commit(ROOT_A).unwrap() && a.label.as_str() == "lib")
            .unwrap();
        let line = format!(
            "    {{ label = \"lib\", req = \"^1.2\", id = \"{}\" }},\n",
            lib_a.id()
        );
        assert!(text.contains(&line));
        let (p, at, _) = problem(&text.replacen(&line, "", 1));
        assert_eq!(p, Problem::Unreachable(lib_a.label.clone()));
        assert_eq!(at, "\"lib\"");

        // Duplicate edge.
        let (p, _, first) = problem(&text.replacen(&line, &format!("{line}{line}"), 1));
        assert!(matches!(p, Problem::DuplicateEdge(_)), "{p}");
        assert!(first.is_some());
    }

    #[test]
    fn cycles_are_errors() {
        let mut a = atom(ROOT_A, "a", "1.0.0", vec![]);
        let b = atom(ROOT_A, "b", "1.0.0", vec![edge(&a, "^1")]);
        a.deps.push(edge(&b, "^1"));
        let deps = vec![edge(&a, "^1")];
        let err = Lockfile::new(deps.clone(), vec![a.clone(), b.clone()]).unwrap_err();
        let Some(Problem::Cycle(labels)) = err.problem() else {
            panic!("{err:?}")
        };
        let names: Vec<&str> = labels.iter().map(Label::as_str).collect();
        assert_eq!(names, ["a", "b", "a"]);

        // Read from text, the span is the edge that closes it.
        let mut b2 = b.clone();
        b2.deps.clear();
        let ok = Lockfile::new(deps, vec![a.clone(), b2])
            .unwrap()
            .to_toml_string();
        let marker = "[[atom]]\nlabel = \"b\"";
        let at = ok.find(marker).unwrap();
        let tail = &ok[at..];
        let mirrors = tail.find("mirrors = [").unwrap();
        let mirrors_end = mirrors + tail[mirrors..].find("]\n").unwrap() + 2;
        let text = format!(
            "{}{}deps = [\n    {{ label = \"a\", req = \"^1\", id = \"{}\" }},\n]\n",
            &ok[..at],
            &tail[..mirrors_end],
            a.id()
        );
        let (p, span, _) = problem(&text);
        assert!(matches!(p, Problem::Cycle(_)), "{p}");
        assert_eq!(span, format!("\"{}\"", a.id()));
    }

    #[test]
    fn mirrors() {
        let text = sample().to_toml_string();
        let m = "    \"https://example.com/repo\",\n";
        let (p, _, first) = problem(&text.replacen(m, &format!("{m}{m}"), 1));
        assert!(matches!(p, Problem::DuplicateMirror(_)), "{p}");
        assert!(first.is_some());

        let (p, at, _) =
            problem(&text.replacen("https://example.com/repo", "https://example.com", 1));
        assert_eq!(
            p,
            Problem::MirrorNotCanonical {
                expected: "https://example.com/".into()
            }
        );
        assert_eq!(at, "\"https://example.com\"");

        let (p, _, _) = problem(&text.replacen("https://example.com/repo", "gh:owner/repo", 1));
        assert!(
            matches!(p, Problem::Mirror(ref m) if m.contains("unknown alias")),
            "{p}"
        );

        let start = text.find("mirrors = [").unwrap();
        let end = start + text[start..].find("]\n").unwrap() + 1;
        let (p, at, _) = problem(&format!("{}mirrors = []{}", &text[..start], &text[end..]));
        assert!(matches!(p, Problem::NoMirrors(_)), "{p}");
        assert_eq!(at, "[]");

        // Paths (absolute, relative) and odd characters survive a round trip.
        let mut a = atom(ROOT_A, "x", "1.0.0", vec![]);
        a.mirrors = vec![RepoUrl::Path("../sets/my \"set\"\\".into())];
        let lock = Lockfile::new(vec![edge(&a, "*")], vec![a]).unwrap();
        let text = lock.to_toml_string();
        assert_eq!(Lockfile::parse(&text, "l").unwrap(), lock);
    }

    #[test]
    fn labels_must_be_stored_normalised() {
        let text = sample().to_toml_string();
        // U+FB01 (fi ligature) NFKC-normalises to "fi"; "util" has no fi,
        // so build a lock whose label is "fix" and store it as "\u{FB01}x".
        let a = atom(ROOT_A, "fix", "1.0.0", vec![]);
        let lock = Lockfile::new(vec![edge(&a, "^1")], vec![a]).unwrap();
        let broken = lock
            .to_toml_string()
            .replacen("label = \"fix\"", "label = \"\u{FB01}x\"", 1);
        let (p, _, _) = problem(&broken);
        assert!(matches!(p, Problem::LabelNotNormalised(_)), "{p}");
        let (p, at, _) = problem(&text.replacen("label = \"util\"", "label = \"9util\"", 1));
        assert!(matches!(p, Problem::Label(_)), "{p}");
        assert_eq!(at, "\"9util\"");
        let (p, _, _) = problem(&text.replacen("version = \"0.3.1\"", "version = \"0.3\"", 1));
        assert!(matches!(p, Problem::Version(_)), "{p}");
    }

    #[test]
    fn write_is_atomic_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOCK_FILE);
        std::fs::write(&path, "old").unwrap();
        let lock = sample();
        lock.write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            lock.to_toml_string()
        );
        assert_eq!(Lockfile::read(&path).unwrap(), lock);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [LOCK_FILE]);
        // A directory that does not exist is an error, and creates nothing.
        let missing = dir.path().join("no/such/dir").join(LOCK_FILE);
        assert!(matches!(lock.write(&missing), Err(LockError::Write { .. })));
        assert!(!dir.path().join("no").exists());
    }

    #[test]
    fn read_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Lockfile::read(&dir.path().join(LOCK_FILE)),
            Err(LockError::Read { .. })
        ));
        assert!(matches!(
            Lockfile::parse("lock-version = 1\n[[atom]]\nlabel = 3\n", "l"),
            Err(LockError::Syntax { span: Some(_), .. })
        ));
    }

    #[test]
    fn miette_shows_the_line() {
        let text = sample()
            .to_toml_string()
            .replace("req = \"^0.3\"", "req = \"^0.4\"");
        let err = Lockfile::parse(&text, "atom.lock").unwrap_err();
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .render_report(&mut out, &err)
            .unwrap();
        assert!(out.contains("atom.lock"), "{out}");
        assert!(out.contains("req = \"^0.4\""), "{out}");
        assert!(out.contains("does not satisfy"), "{out}");
    }
}
