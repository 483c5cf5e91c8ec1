//! The composer: turns an atom's directories and files into lazily built
//! module values, each file evaluated in its own bounded scope.
//!
//! Nothing is read before it is needed: a module's names come from its
//! directory listing and its `mod.nix` alone, and a member file is read,
//! parsed and evaluated the first time its value is forced. Every value is
//! built once and shared (`mod`, `pre`, the public API and each member are
//! thunks of the evaluator).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use atom_eval::{ErrorKind, EvalError, Evaluator, FileType, FsError, ParsedSource, Value};

use atom_format::manifest::{DirectRequest, ManifestWarning};

use crate::files::{join, AtomFiles, MountTable};

/// Why a dependency cannot be loaded: the message says what is missing
/// and what to do; its causes follow it.
#[derive(Debug, thiserror::Error)]
pub enum DepError {
    /// The dependent has no lock at all.
    #[error("`{set}::{label}` is not locked: there is no atom.lock beside atom.toml")]
    NoLock { set: String, label: String },
    /// A `[deps.direct.nix]` entry of a dependent without a lock.
    #[error("`deps.{key}.{name}` is not locked: there is no atom.lock beside atom.toml")]
    DirectNoLock { key: &'static str, name: String },
    #[error(transparent)]
    Locked(#[from] crate::locked::LockedDepError),
    #[error(transparent)]
    Sibling(#[from] crate::source::SiblingError),
}

impl DepError {
    /// The diagnostic code of the errors a caller can say what to do about
    /// (which command locks or fetches the dependency); the evaluation
    /// error raised for this one carries it ([`EvalError::code`]).
    pub fn code(&self) -> Option<&'static str> {
        use crate::locked::{CacheUnavailable, LockedDepError as Locked};
        Some(match self {
            DepError::NoLock { .. } => "eka::deps::no_lock",
            DepError::Locked(Locked::NotLocked { .. }) => "eka::deps::not_locked",
            DepError::Locked(Locked::Ambiguous { .. }) => "eka::deps::ambiguous",
            DepError::Locked(Locked::Cache(CacheUnavailable::NothingLocked)) => {
                "eka::deps::nothing_locked"
            }
            DepError::Locked(Locked::NotCached {
                project_lock: true, ..
            }) => "eka::deps::not_fetched",
            DepError::Locked(Locked::NotCached {
                project_lock: false,
                ..
            }) => "eka::deps::not_cached",
            _ => return None,
        })
    }

    /// The evaluation error that reports this one, with its code.
    fn to_eval_error(&self) -> EvalError {
        let error = fail(message_of(self));
        match self.code() {
            Some(code) => error.with_code(code),
            None => error,
        }
    }
}

/// A non-atom dependency's value (`deps.pins.<name>`). No type is
/// supported yet, so there is none: asking for one is always an error
/// naming its type.
pub enum DirectSource {}

/// Where `deps.from.<set>.<label>` atoms come from.
pub trait DepSource {
    /// The atom that `deps.from.<set>.<label>` of the atom `dependent` (its
    /// key from an earlier [`LoadedAtom`], or `""` for the atom being
    /// evaluated) names; `set_urls` are the set's URLs in the dependent's
    /// manifest. The error says what is missing and what to do.
    fn load(
        &self,
        dependent: &str,
        set: &str,
        set_urls: &[String],
        label: &str,
        req: &semver::VersionReq,
    ) -> Result<LoadedAtom, DepError>;

    /// The dependency that is not an atom `request` describes (eka 0.3's
    /// `[deps.direct.nix]` of `dependent`, shown as `deps.pins.<name>` or
    /// `deps.get.<name>`).
    fn load_direct(
        &self,
        dependent: &str,
        request: &DirectRequest,
    ) -> Result<DirectSource, DepError>;
}

/// An atom's files and the key that identifies it (its atom id): an atom is
/// composed once per key however many atoms depend on it.
pub struct LoadedAtom {
    pub key: String,
    pub files: Rc<dyn AtomFiles>,
}

/// A [`DepSource`] with no dependencies at all.
pub struct NoDeps;

impl DepSource for NoDeps {
    fn load(
        &self,
        _: &str,
        set: &str,
        _: &[String],
        label: &str,
        _: &semver::VersionReq,
    ) -> Result<LoadedAtom, DepError> {
        Err(DepError::NoLock {
            set: set.to_owned(),
            label: label.to_owned(),
        })
    }

    fn load_direct(&self, _: &str, request: &DirectRequest) -> Result<DirectSource, DepError> {
        Err(DepError::DirectNoLock {
            key: request.scope_key(),
            name: request.name.clone(),
        })
    }
}

/// State shared by every lazy value of one evaluation.
pub(crate) struct Shared {
    pub fs: MountTable,
    pub std: Value,
    pub deps: Box<dyn DepSource>,
    /// Public API of each loaded atom, by key.
    pub loaded: RefCell<HashMap<String, Value>>,
    /// Warnings of every module listed so far.
    pub warnings: RefCell<Vec<Warning>>,
    /// Reader threads per atom loaded from now on; 0: no reading ahead.
    pub read_ahead: Cell<usize>,
    /// The pack of bound files in use, for readers to skip parsing.
    pub compiled: RefCell<Option<std::sync::Arc<atom_eval::CompiledFiles>>>,
    /// The place of every file evaluated, by source name, to name it in
    /// errors raised after its thunk returned.
    pub places: RefCell<HashMap<String, Place>>,
    /// `cfg.system` of every atom.
    pub system: RefCell<String>,
}

/// A file's module and member: `in hello@1.2.0 at net.Client` once
/// described (only for an error, hence not formatted beforehand).
pub(crate) struct Place {
    module: Rc<Module>,
    member: Option<Rc<str>>,
}

impl Place {
    pub(crate) fn describe(&self) -> String {
        self.module.context(self.member.as_deref())
    }
}

/// One loaded atom.
pub(crate) struct Atom {
    /// `label@version`, as errors name it.
    pub name: String,
    pub key: String,
    pub mount: String,
    pub files: Rc<dyn AtomFiles>,
    pub cfg: Value,
    pub deps: Value,
    /// `atom` in the atom's files: its public API without a name `atom` (as
    /// atom-nix gives it), set right after the root module is made.
    pub in_scope: OnceCell<Value>,
    /// Files parsed ahead by other threads.
    pub prefetched: Option<crate::readahead::ReadAheadHandle>,
    pub shared: Rc<Shared>,
}

impl Atom {
    /// The atom's label: its name without `@<version>`.
    fn label(&self) -> &str {
        self.name
            .split_once('@')
            .map_or(&self.name, |(label, _)| label)
    }
}

/// Where a member is defined. When one raw name is defined several ways,
/// the greater wins (a key of `mod.nix` over a file over a submodule), as in
/// atom-nix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberSource {
    /// A directory holding `mod.nix`.
    Submodule,
    /// A `<name>.nix` file.
    File,
    /// A key of the set `mod.nix` evaluates to.
    ModKey,
}

impl MemberSource {
    fn describe(self, raw: &str) -> String {
        match self {
            MemberSource::Submodule => format!("the submodule `{raw}/`"),
            MemberSource::File => format!("the file `{raw}.nix`"),
            MemberSource::ModKey => format!("the key `{raw}` of mod.nix"),
        }
    }
}

/// Something atom-nix accepts silently that is likely a mistake. Composing
/// goes on as atom-nix does; the caller shows these to the user
/// ([`crate::Composer::warnings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// One public name defined twice in a module (`Widget.nix` and the key
    /// `Widget` of mod.nix): `used` is the member, `unused` is never read.
    ShadowedPublicMember {
        /// `label@version`.
        atom: String,
        /// The module, as errors name it (`the root module`, `net.http`).
        module: String,
        /// The raw name, as written (`Widget`).
        name: String,
        used: MemberSource,
        unused: MemberSource,
    },
    /// What an atom's manifest should change, though it was read (eka
    /// 0.3's older layout).
    Manifest {
        /// `label@version`.
        atom: String,
        warning: ManifestWarning,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::ShadowedPublicMember {
                atom,
                module,
                name,
                used,
                unused,
            } => write!(
                f,
                "in {atom} at {module}: the public name `{name}` is defined twice: {} is used and {} is never read; remove or rename one of them",
                used.describe(name),
                unused.describe(name)
            ),
            Warning::Manifest { atom, warning } => write!(f, "{atom}: {warning}"),
        }
    }
}

struct Member {
    source: MemberSource,
    value: Value,
}

/// One member of a listing: its raw name (as written: `Foo`, `foo`), its
/// exported name and its value.
struct Listed {
    raw: String,
    exported: String,
    value: Value,
}

/// A module's members after precedence, sorted by raw name. The views
/// (`mod`, `pre`, the public API) are made from it by atom-nix's rules.
struct Listing {
    members: Vec<Listed>,
}

impl Listing {
    fn new(raw: BTreeMap<String, Member>) -> Listing {
        let members = raw
            .into_iter()
            .map(|(raw, m)| Listed {
                exported: exported_name(&raw),
                raw,
                value: m.value,
            })
            .collect();
        Listing { members }
    }

    /// The members under their exported names, in raw-name order so that,
    /// put into a set, a later raw name wins (`foo` over `Foo`, as atom-nix
    /// folds them); `mod` itself left out when `skip_mod`.
    fn lowered(&self, skip_mod: bool) -> Vec<(&str, Value)> {
        self.members
            .iter()
            .filter(|m| !(skip_mod && m.raw == "mod"))
            .map(|m| (m.exported.as_str(), m.value.clone()))
            .collect()
    }

    /// The public API: the capitalised raw names, lowercased (no two of
    /// them export the same name).
    fn public(&self) -> Vec<(&str, Value)> {
        self.members
            .iter()
            .filter(|m| is_public(&m.raw))
            .map(|m| (m.exported.as_str(), m.value.clone()))
            .collect()
    }
}

pub(crate) struct Module {
    atom: Rc<Atom>,
    /// The module directory, relative to the atom directory.
    dir: String,
    /// `"${mod}"`: the module directory in the evaluator's file system,
    /// `/<atom>:<dir>` (the `:` form tells the file system which module
    /// reads, so that it can refuse members and submodules).
    directory: String,
    /// Directory names from the root module, as written.
    path: Vec<String>,
    /// `pre` for this module's files (absent at the root).
    pre: Option<Value>,
    listing: OnceCell<Rc<Listing>>,
    listing_now: Cell<bool>,
    /// `mod`: every member, first letters lowercased, and `outPath`.
    pub private: OnceCell<Value>,
    /// `pre` of the submodules: the members and `pre.pre`.
    pub for_children: OnceCell<Value>,
    /// What the parent (or, at the root, everyone) sees.
    pub public: OnceCell<Value>,
    /// `std` and the `__<name>` file builtins of this module's files.
    builtins: OnceCell<ScopeBuiltins>,
}

/// A module's `std` and its file builtins by their `__<name>`.
type ScopeBuiltins = (Value, Rc<Vec<(String, Value)>>);

/// `Foo` -> `foo`: how a name is exported.
pub fn exported_name(raw: &str) -> String {
    let mut chars = raw.chars();
    match chars.next() {
        Some(c) if c.is_ascii_uppercase() => {
            let mut s = String::with_capacity(raw.len());
            s.push(c.to_ascii_lowercase());
            s.push_str(chars.as_str());
            s
        }
        _ => raw.to_string(),
    }
}

/// Whether a name is public: it starts with an ASCII capital letter.
pub fn is_public(raw: &str) -> bool {
    raw.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

/// The stem of a Nix source file, as atom-nix's `std.file.parse` splits
/// names: `<dots><name>.nix`, `<name>` not empty and holding no `.`
/// (`a.nix` -> `a`, `.a.nix` -> `.a`; `a.b.nix` and `.nix` are not Nix
/// sources).
pub(crate) fn nix_source_stem(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".nix")?;
    let name = stem.trim_start_matches('.');
    (!name.is_empty() && !name.contains('.')).then_some(stem)
}

/// The member a regular file defines: every Nix source but `mod.nix`.
fn member_stem(file: &str) -> Option<&str> {
    nix_source_stem(file).filter(|_| file != "mod.nix")
}

pub(crate) fn fail(message: String) -> EvalError {
    EvalError::new(ErrorKind::Other { message }, None)
}

/// An error and its causes, as one message (a cause its parent's text
/// already shows is not repeated).
fn message_of(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

fn fs_fail(atom: &Atom, rel: &str, e: FsError) -> EvalError {
    match e {
        FsError::NotFound => fail(format!("{}: '{rel}' does not exist", atom.name)),
        other => fail(format!("{}: '{rel}': {other}", atom.name)),
    }
}

impl Module {
    pub(crate) fn new(
        atom: Rc<Atom>,
        dir: String,
        path: Vec<String>,
        pre: Option<Value>,
    ) -> Rc<Module> {
        let directory = if dir.is_empty() {
            atom.mount.clone()
        } else {
            format!("{}:{}", atom.mount, dir.replace('/', ":"))
        };
        let m = Rc::new(Module {
            atom,
            dir,
            directory,
            path,
            pre,
            listing: OnceCell::new(),
            listing_now: Cell::new(false),
            private: OnceCell::new(),
            for_children: OnceCell::new(),
            public: OnceCell::new(),
            builtins: OnceCell::new(),
        });
        // The values hold the module (a cycle, freed with the process, like
        // the evaluator's own cyclic values).
        let me = m.clone();
        // `mod`: every member but one named `mod`, and `outPath` (which
        // wins over a member of that name).
        let _ = m.private.set(Value::lazy(move |ev| {
            let listing = me.listing(ev)?;
            let mut entries = listing.lowered(true);
            let data = me.clone();
            entries.push(("outPath", Value::lazy(move |ev| data.data_string(ev))));
            Ok(ev.make_attrs(entries))
        }));
        let me = m.clone();
        // `pre` of the submodules: every member, and `pre` (which wins over
        // a member of that name) below the root.
        let _ = m.for_children.set(Value::lazy(move |ev| {
            let listing = me.listing(ev)?;
            let mut entries = listing.lowered(false);
            if let Some(pre) = &me.pre {
                entries.push(("pre", pre.clone()));
            }
            Ok(ev.make_attrs(entries))
        }));
        let me = m.clone();
        let _ = m.public.set(Value::lazy(move |ev| {
            let listing = me.listing(ev)?;
            let entries = listing.public();
            Ok(ev.make_attrs(entries))
        }));
        m
    }

    /// `"${mod}"`: the module directory to read files through, carrying
    /// as context its data copied to the store as atom-nix copies it, a
    /// source named after the directory (the atom's label for the root
    /// module), which a derivation or `toFile` sees instead of the
    /// directory (`spec/modules.md`). Hashed the first time it is used.
    fn data_string(&self, ev: &mut Evaluator) -> Result<Value, EvalError> {
        let name = match self.dir.rsplit_once('/') {
            Some((_, last)) => last,
            None if self.dir.is_empty() => self.atom.label(),
            None => &self.dir,
        };
        ev.source_string(&self.directory, name)
            .map_err(|e| e.context(self.context(None)))
    }

    /// This module's `std` and `__readFile`…: the file builtins confined
    /// to its directory. Made once per module.
    fn scope_builtins(&self, ev: &mut Evaluator) -> Result<ScopeBuiltins, EvalError> {
        if let Some(made) = self.builtins.get() {
            return Ok(made.clone());
        }
        let made = crate::scope::module_scope_builtins(ev, &self.atom.shared.std, &self.directory)?;
        let made = (made.0, Rc::new(made.1));
        let _ = self.builtins.set(made.clone());
        Ok(made)
    }

    /// `net.http` or `net.http.Client`, as errors name places.
    fn place(&self, member: Option<&str>) -> String {
        let mut parts: Vec<&str> = self.path.iter().map(String::as_str).collect();
        parts.extend(member);
        if parts.is_empty() {
            "the root module".into()
        } else {
            parts.join(".")
        }
    }

    fn context(&self, member: Option<&str>) -> String {
        format!("in {} at {}", self.atom.name, self.place(member))
    }

    /// Reads, binds and evaluates one file of this module in its scope;
    /// `member` is the member it defines (`None`: `mod.nix`).
    fn eval_file(
        self: &Rc<Self>,
        ev: &mut Evaluator,
        file: &str,
        member: Option<&Rc<str>>,
    ) -> Result<Value, EvalError> {
        let rel = join(&self.dir, file);
        let parsed = match self.atom.prefetched.as_ref().and_then(|p| p.0.take(&rel)) {
            Some(p) => p,
            None => {
                let bytes = self
                    .atom
                    .files
                    .read_file(&rel)
                    .map_err(|e| fs_fail(&self.atom, &rel, e))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| fail(format!("{}: '{rel}' is not valid UTF-8", self.atom.name)))?;
                // Parsed when bound, unless the parse cache has it bound.
                ParsedSource::unparsed(&text)
            }
        };
        let atom = &self.atom;
        let (std, file_builtins) = self.scope_builtins(ev)?;
        let mut scope: Vec<(&str, Value)> = vec![
            ("mod", self.private.get().expect("set in new").clone()),
            ("atom", atom.in_scope.get().expect("set at load").clone()),
            ("std", std.clone()),
            // As in atom-nix, `builtins` is `std`.
            ("builtins", std),
            ("cfg", atom.cfg.clone()),
            ("deps", atom.deps.clone()),
        ];
        scope.extend(file_builtins.iter().map(|(n, v)| (n.as_str(), v.clone())));
        if let Some(pre) = &self.pre {
            scope.push(("pre", pre.clone()));
        }
        let name = format!("{}/{rel}", atom.name);
        atom.shared.places.borrow_mut().insert(
            name.clone(),
            Place {
                module: self.clone(),
                member: member.cloned(),
            },
        );
        ev.eval_parsed_scoped(&name, parsed, &self.directory, &scope)
    }

    /// The module's members: the directory listing and `mod.nix`, read
    /// once.
    fn listing(self: &Rc<Self>, ev: &mut Evaluator) -> Result<Rc<Listing>, EvalError> {
        if let Some(l) = self.listing.get() {
            return Ok(l.clone());
        }
        if self.listing_now.replace(true) {
            return Err(fail(format!(
                "infinite recursion: the names of {} depend on themselves ({}'s mod.nix must be a set whose keys do not depend on `mod`)",
                self.place(None),
                self.atom.name
            ))
            .context(self.context(None)));
        }
        let result = self.read_listing(ev);
        self.listing_now.set(false);
        let listing = Rc::new(result?);
        let _ = self.listing.set(listing.clone());
        Ok(listing)
    }

    fn read_listing(self: &Rc<Self>, ev: &mut Evaluator) -> Result<Listing, EvalError> {
        let atom = self.atom.clone();
        // An atom without a root mod.nix (what `eka new` makes) has no
        // modules, so no names.
        if self.path.is_empty() {
            let module_file = join(&self.dir, "mod.nix");
            if let Ok(None) = atom.files.file_type(&module_file) {
                return Ok(Listing::new(BTreeMap::new()));
            }
        }
        let mut entries = atom
            .files
            .read_dir(&self.dir)
            .map_err(|e| fs_fail(&atom, &self.dir, e))?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut found: Vec<(String, MemberSource, Value)> = Vec::new();
        for (name, kind) in entries {
            let rel = join(&self.dir, &name);
            match kind {
                FileType::Symlink => {
                    return Err(fail(format!(
                        "{}: '{rel}' is a symbolic link; atoms may not contain symlinks",
                        atom.name
                    ))
                    .context(self.context(None)))
                }
                FileType::Regular => {
                    if let Some(stem) = member_stem(&name) {
                        let me = self.clone();
                        let file = name.clone();
                        let member: Rc<str> = stem.into();
                        let value = Value::lazy(move |ev| {
                            me.eval_file(ev, &file, Some(&member))
                                .map_err(|e| e.context(me.context(Some(&member))))
                        });
                        found.push((stem.to_string(), MemberSource::File, value));
                    }
                }
                FileType::Directory => {
                    let module_file = join(&rel, "mod.nix");
                    match atom.files.file_type(&module_file) {
                        Ok(Some(FileType::Regular)) => {
                            let mut path = self.path.clone();
                            path.push(name.clone());
                            let pre = self.for_children.get().cloned();
                            let child = Module::new(atom.clone(), rel.clone(), path, pre);
                            let value = child.public.get().expect("set in new").clone();
                            found.push((name.clone(), MemberSource::Submodule, value));
                        }
                        Ok(Some(FileType::Symlink)) => {
                            return Err(fail(format!(
                                "{}: '{module_file}' is a symbolic link; atoms may not contain symlinks",
                                atom.name
                            ))
                            .context(self.context(None)))
                        }
                        Ok(_) => {}
                        Err(e) => return Err(fs_fail(&atom, &module_file, e)),
                    }
                }
                FileType::Unknown => {}
            }
        }
        // mod.nix: its keys are members too, and win.
        let module = self
            .eval_file(ev, "mod.nix", None)
            .map_err(|e| e.context(self.context(None)))?;
        let module = ev
            .force_value(&module)
            .map_err(|e| e.context(self.context(None)))?;
        if !matches!(module, Value::Attrs(_)) {
            return Err(fail(format!(
                "{} must evaluate to an attribute set, but it is {}",
                join(&self.dir, "mod.nix"),
                module.type_with_article()
            ))
            .context(self.context(None)));
        }
        for (key, value) in ev.attr_entries(&module)? {
            let (me, member) = (self.clone(), key.clone());
            let value = Value::lazy(move |ev| {
                ev.force_value(&value)
                    .map_err(|e| e.context(me.context(Some(&member))))
            });
            found.push((key, MemberSource::ModKey, value));
        }
        Ok(Listing::new(self.by_precedence(found)))
    }

    /// One member per raw name: a key of mod.nix over a file over a
    /// submodule. A public name defined twice is likely a mistake (the
    /// loser is never read): a warning.
    fn by_precedence(&self, found: Vec<(String, MemberSource, Value)>) -> BTreeMap<String, Member> {
        let mut raw: BTreeMap<String, Member> = BTreeMap::new();
        for (name, source, value) in found {
            let (used, unused) = match raw.get(&name) {
                None => {
                    raw.insert(name, Member { source, value });
                    continue;
                }
                Some(old) if old.source > source => (old.source, source),
                Some(old) => {
                    let unused = old.source;
                    raw.insert(name.clone(), Member { source, value });
                    (source, unused)
                }
            };
            if is_public(&name) {
                self.atom
                    .shared
                    .warnings
                    .borrow_mut()
                    .push(Warning::ShadowedPublicMember {
                        atom: self.atom.name.clone(),
                        module: self.place(None),
                        name,
                        used,
                        unused,
                    });
            }
        }
        raw
    }
}

/// `deps.pins.<name>` and `deps.get.<name>` (eka 0.3's names) for the
/// manifest's `[deps.direct.nix]`: each asks the dependency source when
/// used, so that one that cannot be had is an error only then.
fn direct_deps(
    ev: &mut Evaluator,
    shared: &Rc<Shared>,
    key: &str,
    manifest: &atom_format::manifest::Manifest,
    name: &str,
) -> Vec<(String, Value)> {
    let mut by_key: BTreeMap<&str, Vec<(String, Value)>> = BTreeMap::new();
    for request in manifest.deps.direct_nix() {
        let scope_key = request.scope_key();
        let entry = request.name.clone();
        let (shared, dependent, from) = (shared.clone(), key.to_string(), name.to_string());
        let value = Value::lazy(move |_| {
            let place = format!(
                "in {from}, loading `deps.{}.{}`",
                request.scope_key(),
                request.name
            );
            match shared.deps.load_direct(&dependent, &request) {
                Ok(source) => match source {},
                Err(e) => Err(e.to_eval_error().context(place)),
            }
        });
        by_key.entry(scope_key).or_default().push((entry, value));
    }
    by_key
        .into_iter()
        .map(|(k, entries)| (k.to_owned(), ev.make_attrs(entries)))
        .collect()
}

/// The manifest of the atom loaded as `key`, as errors name it: with its
/// path for an atom of this repository (`::<path>`).
fn manifest_path(key: &str) -> String {
    match key.strip_prefix("::") {
        Some(path) => format!("{path}/{}", crate::MANIFEST),
        None => crate::MANIFEST.to_owned(),
    }
}

/// Loads an atom (once per key) and returns its public API, lazily.
pub(crate) fn load_atom(
    ev: &mut Evaluator,
    shared: &Rc<Shared>,
    key: &str,
    files: Rc<dyn AtomFiles>,
    started: Option<crate::readahead::ReadAheadHandle>,
) -> Result<Value, EvalError> {
    if let Some(v) = shared.loaded.borrow().get(key) {
        return Ok(v.clone());
    }
    let (manifest, text) = read_manifest(key, &*files)?;
    let name = format!("{}@{}", manifest.package.label, manifest.package.version);
    keep_manifest_warnings(shared, &manifest, &name);
    let entry = crate::entry_dir(&manifest).map_err(|e| fail(format!("{name}: {e}")))?;
    let cfg = atom_cfg(ev, shared, &text)?;
    let from = registry_deps(ev, shared, key, &manifest, &name);
    let mut deps = vec![("from".to_owned(), from)];
    deps.extend(direct_deps(ev, shared, key, &manifest, &name));
    let deps = ev.make_attrs(deps);
    let atom = Rc::new(Atom {
        key: key.to_string(),
        mount: shared.fs.mount(&name, files.clone()),
        prefetched: read_ahead(shared, &*files, started),
        name,
        files,
        cfg,
        deps,
        in_scope: OnceCell::new(),
        shared: shared.clone(),
    });
    let root = Module::new(atom.clone(), entry, Vec::new(), None);
    let public = root.public.get().expect("set in new").clone();
    let api = public.clone();
    let _ = atom.in_scope.set(Value::lazy(move |ev| {
        let mut entries = ev.attr_entries(&api)?;
        entries.retain(|(name, _)| name != "atom");
        Ok(ev.make_attrs(entries))
    }));
    shared
        .loaded
        .borrow_mut()
        .insert(atom.key.clone(), public.clone());
    Ok(public)
}

/// The atom's manifest, checked, and its text.
fn read_manifest(
    key: &str,
    files: &dyn AtomFiles,
) -> Result<(atom_format::manifest::Manifest, String), EvalError> {
    let bytes = files
        .read_file(crate::MANIFEST)
        .map_err(|e| fail(format!("reading atom.toml: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("atom.toml is not valid UTF-8".into()))?;
    let manifest =
        atom_format::manifest::Manifest::parse(&manifest_path(key), &text).map_err(|e| match e
            .help
            .is_empty()
        {
            true => fail(e.to_string()),
            false => fail(format!("{e}; {}", e.help)),
        })?;
    Ok((manifest, text))
}

/// What the manifest of the atom `name` warns of, kept for the caller.
fn keep_manifest_warnings(shared: &Shared, manifest: &atom_format::manifest::Manifest, name: &str) {
    let warnings = manifest.warnings.iter().map(|w| Warning::Manifest {
        atom: name.to_owned(),
        warning: w.clone(),
    });
    shared.warnings.borrow_mut().extend(warnings);
}

/// `cfg`: the manifest (`text`) as data, and the system builds are for (a
/// manifest cannot hold a top-level `system`: unknown keys are refused).
fn atom_cfg(ev: &mut Evaluator, shared: &Shared, text: &str) -> Result<Value, EvalError> {
    let from_toml = ev.builtin("fromTOML").expect("fromTOML is a pure builtin");
    let manifest_data = ev.apply(&from_toml, Value::string(text))?;
    let mut cfg = ev.attr_entries(&manifest_data)?;
    cfg.push(("system".to_owned(), Value::string(&shared.system.borrow())));
    Ok(ev.make_attrs(cfg))
}

/// `deps.from.<set>.<label>`: each a lazy load of that atom.
fn registry_deps(
    ev: &mut Evaluator,
    shared: &Rc<Shared>,
    key: &str,
    manifest: &atom_format::manifest::Manifest,
    name: &str,
) -> Value {
    let mut sets: Vec<(String, Value)> = Vec::new();
    for (set, labels) in &manifest.deps.from {
        let urls: Vec<String> = manifest
            .package
            .sets
            .get(set)
            .map(|m| m.urls().to_vec())
            .unwrap_or_default();
        let atoms: Vec<(String, Value)> = labels
            .iter()
            .map(|(label, req)| {
                let load = DepLoad {
                    shared: shared.clone(),
                    dependent: key.to_owned(),
                    set: set.clone(),
                    urls: urls.clone(),
                    label: label.to_string(),
                    req: req.clone(),
                    from: name.to_owned(),
                };
                (label.to_string(), Value::lazy(move |ev| load.public(ev)))
            })
            .collect();
        sets.push((set.clone(), ev.make_attrs(atoms)));
    }
    ev.make_attrs(sets)
}

/// One `deps.from.<set>.<label>` of the atom `from`, loaded when used.
struct DepLoad {
    shared: Rc<Shared>,
    dependent: String,
    set: String,
    urls: Vec<String>,
    label: String,
    req: semver::VersionReq,
    from: String,
}

impl DepLoad {
    /// The dependency's public API, forced.
    fn public(&self, ev: &mut Evaluator) -> Result<Value, EvalError> {
        let (set, label) = (&self.set, &self.label);
        let loaded = self
            .shared
            .deps
            .load(&self.dependent, set, &self.urls, label, &self.req)
            .map_err(|e| {
                let from = &self.from;
                e.to_eval_error()
                    .context(format!("in {from}, loading `deps.from.{set}.{label}`"))
            })?;
        let public = load_atom(ev, &self.shared, &loaded.key, loaded.files, None)?;
        ev.force_value(&public)
    }
}

/// The atom's files being read ahead: `started` (by the caller), else
/// started now when reader threads are set.
fn read_ahead(
    shared: &Shared,
    files: &dyn AtomFiles,
    started: Option<crate::readahead::ReadAheadHandle>,
) -> Option<crate::readahead::ReadAheadHandle> {
    let threads = shared.read_ahead.get();
    match started {
        None if threads > 0 => {
            crate::readahead::start(files, threads, shared.compiled.borrow().clone())
        }
        started => started,
    }
}
