//! Evaluation: an atom's public API with the module system (an atom
//! directory read from a commit or the working tree, or an atom named by
//! URI, resolved and fetched with its locked dependencies), or a plain Nix
//! file or expression with the embedded evaluator.
//!
//! Evaluation errors come back as [`EvalDiagnostic`]s: the message, the
//! span in the Nix source (the evaluator's sources are gone once it is),
//! and the trace.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use atom_eval::{EvalError, Evaluator, Limits, RootedFileSystem, Span};
use atom_git::cache::{self, Access, Cache};
use atom_git::{Connections, GitError};
use atom_lock::fetch::{self, FetchError, Want};
use atom_lock::lock::{AnyLock, LockError};
use atom_lock::project::{self, Keep, ProjectError};
use atom_lock::registry::{self, QueryOptions, RegistryError};
use atom_lock::{AtomId, LockedAtom, Lockfile};
use atom_modules::packs::{PackStore, Saved};
use atom_modules::readahead::Readers;
use atom_modules::{
    fetch_locked, open_local, AtomFiles, CacheUnavailable, Checkout, Composer, FetchLockedError,
    GitTreeFiles, LockedDeps, Siblings, SourceError, WithSiblings,
};
use miette::{Diagnostic, NamedSource, SourceSpan};

use crate::query::{AtomTarget, QueryError};

/// How to evaluate and what to print.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// List the public names instead of evaluating them.
    pub names: bool,
    /// Force the whole value.
    pub strict: bool,
    /// Print JSON (forces the whole value).
    pub json: bool,
    /// Where an atom directory is read from.
    pub checkout: Checkout,
    /// Use the lock and the cache alone for dependencies.
    pub offline: bool,
    /// Read back and write the parse cache of atoms.
    pub parse_cache: bool,
    /// Parse and bind only (files and expressions).
    pub parse_only: bool,
    pub limits: Limits,
    /// The system atoms see as `cfg.system`; `None`: this machine's.
    pub system: Option<String>,
    /// How to reach remotes, for dependencies not yet in the cache.
    pub network: crate::Network,
}

/// What an evaluation printed, or why it failed, and what the parse cache
/// did either way.
#[derive(Debug)]
pub struct EvalOutput {
    /// The value as text (none for a parse-only check).
    pub text: Result<Option<String>, EvalFailure>,
    pub parse_cache: Option<ParseCacheReport>,
    /// What the module system found likely mistaken, though it went on
    /// (atoms only).
    pub warnings: Vec<atom_modules::Warning>,
}

impl EvalOutput {
    fn text(text: Result<Option<String>, EvalFailure>) -> Self {
        EvalOutput {
            text,
            parse_cache: None,
            warnings: Vec::new(),
        }
    }
}

/// What the parse cache of an atom did in one evaluation.
#[derive(Debug)]
pub struct ParseCacheReport {
    /// Files read back.
    pub hits: usize,
    /// Files parsed.
    pub misses: usize,
    pub pack: PathBuf,
    /// The pack was written with this many bytes (`Ok(None)`: unchanged).
    pub written: Result<Option<usize>, std::io::Error>,
}

/// Why an evaluation printed nothing.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum EvalFailure {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Eval(Box<EvalDiagnostic>),
    #[error(transparent)]
    #[diagnostic(code(eka::eval::atom))]
    Source(#[from] SourceError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    #[diagnostic(code(eka::eval::eka03_mirror))]
    FetchLocked(FetchLockedError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] atom_git::CacheError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] Box<atom_format::manifest::ManifestError>),
    #[error("`{uri}` must be resolved over the network, but evaluation is offline")]
    #[diagnostic(code(eka::eval::offline))]
    Offline { uri: String },
    #[error("the repository does not publish its root commit, so the atom id of `{label}` cannot be checked")]
    #[diagnostic(code(eka::eval::no_root))]
    NoRoot { label: atom_format::Label },
    #[error("cannot prepare the module system")]
    #[diagnostic(code(eka::eval::composer))]
    Composer(#[source] atom_eval::EvalError),
    #[error("'{}' is not an atom directory", .0.display())]
    #[diagnostic(code(eka::eval::names))]
    NamesOfNonAtom(PathBuf),
    #[error("cannot open '{}'", path.display())]
    #[diagnostic(code(eka::eval::root))]
    Root {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the evaluation thread")]
    #[diagnostic(code(eka::eval::thread))]
    Thread(#[source] std::io::Error),
}

impl From<FetchLockedError> for EvalFailure {
    fn from(e: FetchLockedError) -> Self {
        match e {
            FetchLockedError::Fetch(e) => EvalFailure::Fetch(*e),
            other => EvalFailure::FetchLocked(other),
        }
    }
}

impl From<atom_format::manifest::ManifestError> for EvalFailure {
    fn from(e: atom_format::manifest::ManifestError) -> Self {
        EvalFailure::Manifest(Box::new(e))
    }
}

/// An evaluation error with its source span and trace, for miette.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct EvalDiagnostic {
    pub message: String,
    /// The module system's code for an error it raised (a dependency that
    /// is not locked or not fetched), so that the caller can say what to
    /// do; none for the language's own errors and for trace frames.
    pub code: Option<&'static str>,
    source_code: Option<NamedSource<String>>,
    pub span: Option<SourceSpan>,
    label: String,
    help: Option<String>,
    pub trace: Vec<EvalDiagnostic>,
}

impl Diagnostic for EvalDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code.map(|c| Box::new(c) as Box<dyn std::fmt::Display>)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source_code
            .as_ref()
            .map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.span?;
        let label = miette::LabeledSpan::new_with_span(Some(self.label.clone()), span);
        Some(Box::new(std::iter::once(label)))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self.trace.is_empty() {
            true => None,
            false => Some(Box::new(self.trace.iter().map(|t| t as &dyn Diagnostic))),
        }
    }
}

fn located(
    ev: &Evaluator,
    span: Option<Span>,
) -> (Option<NamedSource<String>>, Option<SourceSpan>) {
    match span.and_then(|s| ev.source(s.file).map(|src| (s, src))) {
        Some((s, (name, text))) => {
            let len = text.len();
            let start = (s.start as usize).min(len);
            let end = (s.end as usize).clamp(start, len);
            (
                Some(NamedSource::new(name, text.to_string())),
                Some(SourceSpan::from(start..end)),
            )
        }
        None => (None, None),
    }
}

pub fn diagnose(ev: &Evaluator, e: &EvalError) -> EvalDiagnostic {
    let (source_code, span) = located(ev, e.span());
    let trace = e
        .trace()
        .iter()
        .map(|frame| {
            let (source_code, span) = located(ev, frame.span);
            EvalDiagnostic {
                message: frame.message.clone(),
                code: None,
                source_code,
                span,
                label: String::new(),
                help: None,
                trace: Vec::new(),
            }
        })
        .collect();
    // What to use instead goes on its own `help:` line.
    let (message, help) = match e.kind() {
        atom_eval::ErrorKind::Forbidden { what, help } => {
            (format!("{what} is not available here"), Some(help.clone()))
        }
        atom_eval::ErrorKind::ContextNotAllowed { .. } => (
            e.to_string(),
            Some("as in Nix, a string that refers to the store cannot name anything; if only its text matters, take it with builtins.unsafeDiscardStringContext".to_owned()),
        ),
        atom_eval::ErrorKind::ContextAppendedToPath => (
            e.to_string(),
            Some("as in Nix, keep it a string (\"${path}/${s}\") instead of extending a path".to_owned()),
        ),
        _ => (e.to_string(), None),
    };
    EvalDiagnostic {
        message,
        code: e.code(),
        source_code,
        span,
        label: "here".into(),
        help,
        trace,
    }
}

fn absolute(path: &Path) -> Result<PathBuf, EvalFailure> {
    std::path::absolute(path).map_err(|source| EvalFailure::Root {
        path: path.to_owned(),
        source,
    })
}

/// What to do with the value evaluated, instead of printing it (`eka
/// build` computes its derivations): the text returned is the output.
pub type Finish<'a> =
    &'a mut dyn FnMut(&mut Evaluator, atom_eval::Value) -> Result<String, EvalError>;

/// Evaluates the Nix file `file` (its directory is the root of what it may
/// read and import) or the expression `expr` (rooted at `cwd`).
pub fn evaluate_nix(
    options: &EvalOptions,
    file: Option<&Path>,
    expr: Option<&str>,
    cwd: &Path,
) -> Result<EvalOutput, EvalFailure> {
    evaluate_nix_with(options, file, expr, cwd, None)
}

/// [`evaluate_nix`], the value handed to `finish` when given.
pub fn evaluate_nix_with(
    options: &EvalOptions,
    file: Option<&Path>,
    expr: Option<&str>,
    cwd: &Path,
    finish: Option<Finish<'_>>,
) -> Result<EvalOutput, EvalFailure> {
    let (root, file) = match file {
        Some(f) => {
            let abs = absolute(f)?;
            let dir = abs
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            (dir, Some(abs))
        }
        None => (cwd.to_owned(), None),
    };
    let fs = RootedFileSystem::new(&root).map_err(|source| EvalFailure::Root {
        path: root.clone(),
        source,
    })?;
    let root = fs.root().to_path_buf();
    let mut ev = Evaluator::new(Box::new(fs), options.limits.clone());
    ev.set_home_dir(std::env::var("HOME").ok());
    // The root is canonical; address the file through it so that it is
    // inside even when the given path went through a symlink.
    let file = file.map(|f| {
        root.join(f.file_name().unwrap_or_default())
            .display()
            .to_string()
    });
    let root = root.display().to_string();
    let fail = |ev: &Evaluator, e: EvalError| EvalFailure::Eval(Box::new(diagnose(ev, &e)));
    if options.parse_only {
        let checked = match (&file, expr) {
            (Some(f), _) => ev.check_file(f),
            (None, Some(expr)) => ev.check_source("«string»", expr, &root),
            (None, None) => Ok(()),
        };
        return Ok(EvalOutput::text(
            checked.map(|()| None).map_err(|e| fail(&ev, e)),
        ));
    }
    let value = match (&file, expr) {
        (Some(f), _) => ev.eval_file(f),
        (None, Some(expr)) => ev.eval_source("«string»", expr, &root),
        (None, None) => return Ok(EvalOutput::text(Ok(None))),
    };
    let text = value.and_then(|v| {
        if let Some(finish) = finish {
            return finish(&mut ev, v);
        }
        let v = match options.strict || options.json {
            true => ev.force_deep(&v)?,
            false => v,
        };
        let text = match options.json {
            true => ev.to_json(&v),
            false => ev.print(&v),
        };
        // The process ends right after printing: tearing the heap of
        // values down one reference count at a time would only delay
        // that (by a tenth of the run on large evaluations).
        std::mem::forget(v);
        text
    });
    let out = text.map(Some).map_err(|e| fail(&ev, e));
    std::mem::forget(ev);
    Ok(EvalOutput::text(out))
}

/// An atom directory and an attribute path in its public API: `DIR` or
/// `DIR#attr.path`, where `DIR` is a directory.
#[derive(Clone, Debug)]
pub struct AtomDir {
    pub dir: PathBuf,
    pub attr: Vec<String>,
}

impl AtomDir {
    /// `target` as `DIR[#attr.path]`, if `DIR` is a directory.
    pub fn parse(target: &Path) -> Option<AtomDir> {
        let text = target.to_str()?;
        let (dir, attr) = match text.rsplit_once('#') {
            Some((d, a)) => (if d.is_empty() { "." } else { d }, a),
            None => (text, ""),
        };
        let dir = PathBuf::from(dir);
        dir.is_dir().then(|| AtomDir {
            dir,
            attr: attr_path(attr),
        })
    }
}

/// `a.b.c` as its parts.
fn attr_path(text: &str) -> Vec<String> {
    text.split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// An atom named by URI, resolved and fetched into the cache.
pub struct Fetched {
    cache: Cache,
    commit: gix::ObjectId,
    attr: Vec<String>,
    /// Its dependencies, resolved now when its tree holds no atom.lock, or
    /// the current project's lock when that pins the atom.
    lock: Option<AnyLock>,
    /// The atom's key for the dependency source: its id when `lock` is the
    /// project's (whose entry for it lists its dependencies), else `""`.
    key: String,
}

/// The version of `target` that the lock of the project around `cwd`
/// pins, if it pins one (same label, a mirror in common, the requirement
/// met).
fn locked_in_project(target: &AtomTarget, cwd: &Path) -> Option<(Lockfile, LockedAtom)> {
    let project = project::Project::find(cwd).ok()?;
    let lock = project.valid_lock()?.clone();
    let mut found = lock
        .atoms()
        .iter()
        .filter(|a| a.label == target.label)
        .filter(|a| a.mirrors.iter().any(|m| target.urls.contains(m)))
        .filter(|a| target.req.as_ref().is_none_or(|r| r.matches(&a.version)));
    match (found.next().cloned(), found.next()) {
        (Some(one), None) => Some((lock, one)),
        _ => None,
    }
}

/// Resolves `target` from its repository's ref listing (or takes the
/// version the project around `cwd` locked, like `cargo run -p`: no
/// resolution, and the same dependencies as the project's) and fetches it
/// into the cache.
pub fn fetch_uri(
    uri: &str,
    target: &AtomTarget,
    attr: &str,
    options: &EvalOptions,
    cwd: &Path,
) -> Result<Fetched, EvalFailure> {
    let attr = attr_path(attr);
    let connections = options.network.connections(cwd);
    if let Some((lock, atom)) = locked_in_project(target, cwd) {
        let lock = AnyLock::Eka(lock);
        let cache = locked_cache(&lock, options, cwd, None)?;
        return Ok(Fetched {
            cache,
            commit: atom.commit,
            attr,
            key: atom.id().to_string(),
            lock: Some(lock),
        });
    }
    if options.offline {
        return Err(EvalFailure::Offline {
            uri: uri.to_owned(),
        });
    }
    let listing = registry::list_atom_versions(
        &connections,
        &target.urls,
        &target.label,
        &QueryOptions::default(),
    )?;
    let entry = listing.select(&target.label, target.req.as_ref())?;
    let root = listing.root.ok_or_else(|| EvalFailure::NoRoot {
        label: target.label.clone(),
    })?;
    let cache = Cache::open(&cache::default_dir()?, Access::Write)?;
    let want = Want {
        id: AtomId::compute(&root, &target.label),
        label: target.label.clone(),
        version: entry.version.clone(),
        commit: entry.commit,
        root,
        origin: entry.origin,
        digest: None,
        mirrors: listing.answered.clone(),
    };
    let options = fetch::Options {
        offline: false,
        check_remote: false,
    };
    fetch::fetch(&cache, &connections, cwd, &[want], options)?;
    let lock = resolve_unlocked(&cache, &connections, entry.commit, &listing.answered, cwd)?
        .map(AnyLock::Eka);
    Ok(Fetched {
        cache,
        commit: entry.commit,
        attr,
        lock,
        key: String::new(),
    })
}

/// For a fetched atom whose own atom.lock cannot pin its dependencies:
/// resolves them now, as a consumer's `eka lock` would, its set `"::"`
/// being the repository it came from (`spec/lock.md`, "The set `::`").
/// That is an atom without an atom.lock but with dependencies, and one
/// with dependencies on `::`, which its repository read from the same
/// commit and so never locked: those are the versions that repository
/// published. What its own lock pins is preferred. `None`: its own lock
/// (or none) is used as it is.
fn resolve_unlocked(
    cache: &Cache,
    connections: &Connections,
    commit: gix::ObjectId,
    came_from: &[atom_lock::RepoUrl],
    base: &Path,
) -> Result<Option<Lockfile>, EvalFailure> {
    use gix::objs::tree::EntryKind;
    let repo = cache.repo();
    let tree = atom_git::commit_tree(&repo, commit)?;
    let Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) =
        atom_git::lookup_path(&repo, tree, "atom.toml")?
    else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&atom_git::read_blob(&repo, blob)?).into_owned();
    let mut manifest = atom_format::Manifest::parse("atom.toml", &text)?;
    if manifest.deps.from.is_empty() {
        return Ok(None);
    }
    let own = match atom_git::lookup_path(&repo, tree, atom_lock::lock::LOCK_FILE)? {
        Some((EntryKind::Blob | EntryKind::BlobExecutable, blob)) => {
            let text = String::from_utf8_lossy(&atom_git::read_blob(&repo, blob)?).into_owned();
            Some(AnyLock::parse(&text, atom_lock::lock::LOCK_FILE)?)
        }
        _ => None,
    };
    let has_siblings = atom_lock::siblings::local_deps(&manifest).next().is_some();
    let old = match own {
        None => None,
        // eka 0.3's lock pins the atoms of its own repository itself.
        Some(AnyLock::Eka03(_)) => return Ok(None),
        Some(AnyLock::Eka(_)) if !has_siblings => return Ok(None),
        Some(AnyLock::Eka(lock)) => Some(lock),
    };
    here_is(&mut manifest, came_from);
    let root = project::root_input(&manifest)?;
    let registry = project::registry(cache, connections, base);
    let locked = project::lock(
        base,
        &root,
        old.as_ref(),
        &Keep::Locked,
        &registry,
        cache,
        connections,
    )?;
    Ok(Some(locked.lock))
}

/// Makes the sets of a fetched atom's manifest that name its own
/// repository (`"::"`) name `came_from`, the repository it was fetched
/// from.
fn here_is(manifest: &mut atom_format::Manifest, came_from: &[atom_lock::RepoUrl]) {
    use atom_format::manifest::{SetMirrors, LOCAL_SET};
    let here: Vec<String> = came_from.iter().map(|u| u.to_string()).collect();
    let local: Vec<String> = manifest
        .deps
        .from
        .keys()
        .filter(|set| atom_lock::siblings::is_local(manifest, set))
        .cloned()
        .collect();
    for set in local {
        if set == LOCAL_SET {
            // `[deps.from."::"]` names no set: give it one.
            let labels = manifest.deps.from.remove(&set).unwrap_or_default();
            let name = "(the repository it came from)".to_owned();
            manifest.deps.from.insert(name.clone(), labels);
            manifest
                .package
                .sets
                .insert(name, SetMirrors::Mirrors(here.clone()));
        } else {
            manifest
                .package
                .sets
                .insert(set, SetMirrors::Mirrors(here.clone()));
        }
    }
}

/// Evaluates an atom fetched by [`fetch_uri`], with the dependencies its
/// own atom.lock pins.
pub fn evaluate_fetched(
    options: &EvalOptions,
    fetched: Fetched,
    readers: Option<Readers>,
    cwd: &Path,
) -> Result<EvalOutput, EvalFailure> {
    evaluate_fetched_with(options, fetched, readers, cwd, None)
}

/// [`evaluate_fetched`], the value handed to `finish` when given.
pub fn evaluate_fetched_with(
    options: &EvalOptions,
    fetched: Fetched,
    readers: Option<Readers>,
    cwd: &Path,
    finish: Option<Finish<'_>>,
) -> Result<EvalOutput, EvalFailure> {
    let repo = fetched.cache.repo();
    let tree = atom_git::commit_tree(&repo, fetched.commit)?;
    let files: Rc<dyn AtomFiles> = Rc::new(GitTreeFiles::new(repo, tree));
    if !fetched.key.is_empty() {
        // Pinned by the project's lock, which also pins its dependencies.
        let run = AtomRun {
            key: fetched.key,
            files,
            lock: fetched.lock,
            cache: Ok(fetched.cache),
            siblings: None,
            attr: fetched.attr,
        };
        return run.evaluate(options, readers, finish);
    }
    // Resolved when fetched (see resolve_unlocked), or its own.
    let lock = match fetched.lock {
        Some(lock) => Some(lock),
        None => match files.read_file(atom_lock::lock::LOCK_FILE) {
            Ok(bytes) => Some(AnyLock::parse(
                &String::from_utf8_lossy(&bytes),
                "atom.lock",
            )?),
            Err(_) => None,
        },
    };
    let cache = cache_for(lock.as_ref(), options, cwd, Some(fetched.cache));
    let run = AtomRun {
        key: String::new(),
        files,
        lock,
        cache,
        siblings: None,
        attr: fetched.attr,
    };
    run.evaluate(options, readers, finish)
}

/// The cache with the atoms `lock` pins, or why there is none (an error
/// only if a dependency is used).
fn cache_for(
    lock: Option<&AnyLock>,
    options: &EvalOptions,
    base: &Path,
    open: Option<Cache>,
) -> Result<Cache, CacheUnavailable> {
    match lock {
        Some(l) if l.pins_atoms() => locked_cache(l, options, base, open)
            .map_err(|e| CacheUnavailable::Failed(std::sync::Arc::new(e))),
        _ => Err(CacheUnavailable::NothingLocked),
    }
}

/// Opens the cache (or uses `open`) with the locked atoms in it, fetching
/// the missing ones unless offline.
fn locked_cache(
    lock: &AnyLock,
    options: &EvalOptions,
    base: &Path,
    open: Option<Cache>,
) -> Result<Cache, EvalFailure> {
    let dir = cache::default_dir()?;
    if options.offline {
        return match open {
            Some(c) => Ok(c),
            None => Ok(Cache::open(&dir, Access::Read)?),
        };
    }
    let cache = match open {
        Some(c) => c,
        None => Cache::open(&dir, Access::Write)?,
    };
    fetch_locked(lock, &cache, &options.network.connections(base), base)?;
    Ok(cache)
}

/// Evaluates the atom in `target.dir` (from a commit, or the working tree),
/// with its locked dependencies and its repository's other atoms.
pub fn evaluate_atom(
    options: &EvalOptions,
    target: &AtomDir,
    readers: Option<Readers>,
) -> Result<EvalOutput, EvalFailure> {
    evaluate_atom_with(options, target, readers, None)
}

/// [`evaluate_atom`], the value handed to `finish` when given.
pub fn evaluate_atom_with(
    options: &EvalOptions,
    target: &AtomDir,
    readers: Option<Readers>,
    finish: Option<Finish<'_>>,
) -> Result<EvalOutput, EvalFailure> {
    let local = open_local(&target.dir, &options.checkout)?;
    let lock = match &local.lock {
        Some(text) => Some(AnyLock::parse(text, "atom.lock")?),
        None => None,
    };
    let cache = cache_for(lock.as_ref(), options, &target.dir, None);
    let run = AtomRun {
        key: String::new(),
        files: local.files,
        lock,
        cache,
        siblings: local.siblings,
        attr: target.attr.clone(),
    };
    run.evaluate(options, readers, finish)
}

/// Whether everything will be forced, so that reading the atom ahead pays.
pub fn reads_ahead(options: &EvalOptions) -> bool {
    (options.strict || options.json) && !options.names
}

/// Reader threads: every core but the evaluator's (at least one).
pub fn reader_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// An atom ready to compose: its files, where its dependencies come from,
/// and what to print.
struct AtomRun {
    /// The atom's key for the dependency source (see [`Fetched`]).
    key: String,
    files: Rc<dyn AtomFiles>,
    lock: Option<AnyLock>,
    /// The cache with the locked atoms, or why there is none.
    cache: Result<Cache, CacheUnavailable>,
    siblings: Option<Siblings>,
    attr: Vec<String>,
}

impl AtomRun {
    /// Composes the atom and prints what was asked; `readers` (started by
    /// the caller, see [`Readers`]) read it ahead.
    fn evaluate(
        self,
        options: &EvalOptions,
        readers: Option<Readers>,
        finish: Option<Finish<'_>>,
    ) -> Result<EvalOutput, EvalFailure> {
        let deps = WithSiblings {
            inner: LockedDeps::new(self.lock, self.cache),
            siblings: self.siblings,
        };
        // Everything will be forced: parse ahead on the other cores,
        // starting now, while the composer is set up. Dependencies are read
        // ahead too.
        let threads = match reads_ahead(options) {
            true => readers.as_ref().map_or_else(reader_threads, Readers::len),
            false => 0,
        };
        // Files bound in an earlier run of the same atom are read back
        // instead of parsed again (readers leave them unparsed).
        let store = match options.parse_cache {
            false => None,
            true => cache::default_dir()
                .ok()
                .and_then(|d| PackStore::for_atom(&d.join(PARSED_SUBDIR), &*self.files)),
        };
        let pack = store.as_ref().map(PackStore::load);
        let read_ahead = match readers {
            Some(r) if threads > 0 => r.start(&*self.files, pack.clone()),
            None if threads > 0 => {
                atom_modules::readahead::start(&*self.files, threads, pack.clone())
            }
            _ => None,
        };
        let mut composer =
            Composer::new(Box::new(deps), options.limits.clone()).map_err(EvalFailure::Composer)?;
        composer.set_read_ahead(threads);
        if let Some(system) = &options.system {
            composer.set_system(system);
        }
        if let Some(pack) = pack {
            composer.use_compiled(pack);
        }
        let text = match composer.load_started(&self.key, self.files, read_ahead) {
            Ok(api) => match finish {
                Some(finish) => composer
                    .select(&api, &self.attr)
                    .and_then(|value| finish(composer.evaluator(), value)),
                None => print_api(&mut composer, api, &self.attr, options),
            },
            Err(e) => Err(e),
        };
        let text = text.map_err(|e| {
            let e = composer.locate(e);
            EvalFailure::Eval(Box::new(diagnose(composer.evaluator(), &e)))
        });
        let parse_cache = store.map(|s| save_pack(&s, composer.evaluator()));
        let warnings = composer.warnings();
        // The process ends right after printing: tearing down every value,
        // syntax-free source and interned name one at a time would only
        // delay that (by a millisecond on an atom of 1,100 files).
        std::mem::forget(composer);
        Ok(EvalOutput {
            text: text.map(Some),
            parse_cache,
            warnings,
        })
    }
}

/// The atom's public API (or `attr` of it), as `options` ask: its names,
/// or its value forced as far as asked, as text or JSON.
fn print_api(
    composer: &mut Composer,
    api: atom_modules::Value,
    attr: &[String],
    options: &EvalOptions,
) -> Result<String, EvalError> {
    let value = composer.select(&api, attr)?;
    std::mem::forget(api);
    if options.names {
        let names = composer.names(&value)?;
        return Ok(match options.json {
            true => serde_json::to_string(&names).expect("strings serialize"),
            false => names.join("\n"),
        });
    }
    let ev = composer.evaluator();
    let value = match options.strict || options.json {
        true => ev.force_deep(&value)?,
        false => ev.force_value(&value)?,
    };
    match options.json {
        true => ev.to_json(&value),
        false => ev.print(&value),
    }
}

/// The folder of parse caches under eka's cache directory.
pub(crate) const PARSED_SUBDIR: &str = "parsed";

/// Writes the atom's pack of parsed files if this run added to it. The
/// pack only saves time: failing to write it is reported, not an error.
fn save_pack(store: &PackStore, ev: &Evaluator) -> ParseCacheReport {
    let saved = store.save(ev);
    let stats = ev.compiled_stats().unwrap_or_default();
    ParseCacheReport {
        hits: stats.hits,
        misses: stats.misses,
        pack: store.path().to_owned(),
        written: saved.map(|s| match s {
            Saved::Unchanged => None,
            Saved::Written(bytes) => Some(bytes),
        }),
    }
}
