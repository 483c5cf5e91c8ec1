//! `atom-modules`: the atom module system.
//!
//! An atom's Nix code is organised in modules: a module is a directory
//! holding `mod.nix`, its members are the other `.nix` files beside it, its
//! submodules and the keys of `mod.nix`, and names starting with a capital
//! letter are public. Names follow atom-nix's rules exactly, collisions
//! included (`{ File = mod.file; }` beside `file/` re-exports the private
//! submodule), because atom code written for atom-nix must run unchanged;
//! a collision that is likely a mistake is a [`Warning`], not an error.
//! This crate builds, for every file, the bounded scope it is evaluated in
//! (`mod`, `pre`, `atom`, `std`, `cfg`, `deps`, the pure builtins, and
//! nothing of the host) and evaluates it with `atom-eval`, lazily.
//!
//! Why in Rust rather than in Nix (as atom-nix does): the scope is then
//! enforced by the evaluator's binder, so `import`, fetchers, the
//! environment and host paths are refused before a file runs instead of
//! being shadowed by convention; and composition is a few hash-map
//! operations per module instead of evaluated Nix, so it stays fast on
//! large atoms. `spec/modules.md` is the normative description.
//!
//! Reading: [`AtomFiles`] gives an atom's files, from a git tree
//! ([`GitTreeFiles`]) or a directory ([`DirFiles`]); dependencies come from
//! a [`DepSource`] ([`LockedDeps`]: the lockfile and the local cache).

// Errors name what failed (labels, versions, paths); they are built only
// when a dependency cannot be loaded, so their size costs nothing on the
// success path.
#![allow(clippy::result_large_err)]

mod compose;
mod files;
mod locked;
pub mod packs;
pub mod readahead;
mod scope;
mod source;

use std::rc::Rc;

pub use atom_eval::{EvalError, Evaluator, Limits, Value};
pub use compose::{
    exported_name, is_public, DepError, DepSource, DirectSource, LoadedAtom, MemberSource, NoDeps,
    Warning,
};
pub use files::{AtomFiles, DirFiles, GitTreeFiles, Identity, MountTable};
pub use locked::{fetch_locked, CacheUnavailable, FetchLockedError, LockedDepError, LockedDeps};
pub use scope::{forbidden, policy, SCOPE_NAMES};
pub use source::{
    open_local, Checkout, LocalAtom, SiblingError, Siblings, SourceError, WithSiblings,
};

use compose::{load_atom, Shared};

/// The manifest's file name.
pub const MANIFEST: &str = "atom.toml";

/// Why `[compose.with.*] entry` does not name a directory of the atom.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("[compose.with.*] entry must be a string")]
    NotAString,
    #[error("[compose] entry `{0}` leaves the atom directory; name a directory inside it")]
    LeavesAtom(String),
    #[error("[compose] entry `{0}` is absolute; name a directory relative to atom.toml")]
    Absolute(String),
    /// eka 0.3's `[compose.as] nix = "<file>"`: the atom is that Nix file,
    /// imported with the whole of Nix, not composed as modules.
    #[error("the atom is composed as a plain Nix file (`[compose.as] nix = \"{0}\"`, eka 0.3), which eka does not evaluate yet: it composes atoms as modules only")]
    AsNix(String),
}

/// The root module's directory within the atom: `.` unless the manifest's
/// `[compose.with.<composer>] entry` (eka 0.3) names another.
pub fn entry_dir(manifest: &atom_format::manifest::Manifest) -> Result<String, EntryError> {
    let as_nix = manifest
        .compose
        .as_ref()
        .and_then(|c| c.get("as"))
        .and_then(|a| a.get("nix"));
    if let Some(file) = as_nix {
        return Err(EntryError::AsNix(
            file.as_str()
                .map_or_else(|| file.to_string(), str::to_owned),
        ));
    }
    let entry = manifest
        .compose
        .as_ref()
        .and_then(|c| c.get("with"))
        .and_then(|w| w.as_table())
        .and_then(|w| w.values().find_map(|spec| spec.get("entry")));
    let Some(entry) = entry else {
        return Ok(String::new());
    };
    let Some(entry) = entry.as_str() else {
        return Err(EntryError::NotAString);
    };
    if entry.starts_with('/') {
        return Err(EntryError::Absolute(entry.to_owned()));
    }
    let mut parts = Vec::new();
    for part in entry.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(EntryError::LeavesAtom(entry.to_owned())),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// This machine's system as Nix names it (`x86_64-linux`,
/// `aarch64-darwin`): the default of `cfg.system`.
pub fn host_system() -> String {
    let arch = match std::env::consts::ARCH {
        "x86" => "i686",
        "powerpc64" if cfg!(target_endian = "little") => "powerpc64le",
        arch => arch,
    };
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    };
    format!("{arch}-{os}")
}

/// One evaluation: an evaluator prepared for atom files, and the atoms
/// loaded into it.
pub struct Composer {
    ev: Evaluator,
    shared: Rc<Shared>,
}

impl Composer {
    /// A composer whose atoms get their dependencies from `deps`.
    pub fn new(deps: Box<dyn DepSource>, limits: Limits) -> Result<Composer, EvalError> {
        let fs = MountTable::default();
        let mut ev = Evaluator::new(Box::new(fs.clone()), limits);
        let std = scope::prepare(&mut ev)?;
        let shared = Rc::new(Shared {
            fs,
            std,
            deps,
            loaded: Default::default(),
            places: Default::default(),
            warnings: Default::default(),
            read_ahead: std::cell::Cell::new(0),
            compiled: Default::default(),
            system: std::cell::RefCell::new(host_system()),
        });
        Ok(Composer { ev, shared })
    }

    /// The system atoms loaded from now on see as `cfg.system` (Nix's
    /// `builtins.currentSystem`, which stays refused, passed in as data);
    /// [`host_system`] unless set.
    pub fn set_system(&mut self, system: &str) {
        *self.shared.system.borrow_mut() = system.to_owned();
    }

    /// Read and parse the `.nix` files of atoms loaded from now on ahead of
    /// the evaluator, on `threads` other threads (0: never). Worth it when
    /// everything will be forced (`--strict`); it reads files that a lazy
    /// evaluation would not, though their errors still surface only if
    /// used.
    pub fn set_read_ahead(&mut self, threads: usize) {
        self.shared.read_ahead.set(threads);
    }

    /// Binds files from `pack` when it holds them, and keeps those bound
    /// from source for the next pack ([`packs::PackStore::save`], see
    /// [`atom_eval::CompiledFiles`]).
    pub fn use_compiled(&mut self, pack: std::sync::Arc<atom_eval::CompiledFiles>) {
        *self.shared.compiled.borrow_mut() = Some(pack.clone());
        self.ev.use_compiled(pack);
    }

    /// The public API of the atom whose files are `files` (lazy: reads the
    /// manifest now, modules when forced). `key` identifies the atom (its
    /// id), so that a dependency on it is the same value.
    pub fn load(&mut self, key: &str, files: Rc<dyn AtomFiles>) -> Result<Value, EvalError> {
        load_atom(&mut self.ev, &self.shared, key, files, None)
    }

    /// [`Composer::load`] with its files already being read ahead
    /// ([`readahead::start`], called before the composer was even made, so
    /// that reading overlaps with setting up).
    pub fn load_started(
        &mut self,
        key: &str,
        files: Rc<dyn AtomFiles>,
        started: Option<readahead::ReadAheadHandle>,
    ) -> Result<Value, EvalError> {
        load_atom(&mut self.ev, &self.shared, key, files, started)
    }

    /// `e`, with the atom, version and module it happened in when its trace
    /// does not say yet (errors raised while forcing a value deeply, after
    /// the module code that made it returned).
    pub fn locate(&self, e: EvalError) -> EvalError {
        if e.trace()
            .iter()
            .any(|f| f.message.starts_with("in ") && f.message.contains(" at "))
        {
            return e;
        }
        let place = e
            .span()
            .and_then(|s| self.ev.source(s.file))
            .and_then(|(name, _)| self.shared.places.borrow().get(name).map(|p| p.describe()));
        match place {
            Some(p) => e.context(p),
            None => e,
        }
    }

    /// The warnings of the modules composed so far (modules are composed
    /// lazily, as their names are needed: ask after evaluating), in the
    /// order they were found. Each is reported once per evaluation.
    pub fn warnings(&self) -> Vec<Warning> {
        self.shared.warnings.borrow().clone()
    }

    /// The evaluator, to force and print values.
    pub fn evaluator(&mut self) -> &mut Evaluator {
        &mut self.ev
    }

    /// The public names of a module value without forcing any member.
    pub fn names(&mut self, module: &Value) -> Result<Vec<String>, EvalError> {
        Ok(self
            .ev
            .attr_entries(module)?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Follows `path` (`a.b.c`) from `value`, forcing only the sets on the
    /// way.
    pub fn select(&mut self, value: &Value, path: &[String]) -> Result<Value, EvalError> {
        let mut current = value.clone();
        for (i, name) in path.iter().enumerate() {
            match self.ev.get_attr(&current, name)? {
                Some(v) => current = v,
                None => {
                    let names = self.names(&current).unwrap_or_default();
                    let at = if i == 0 {
                        "the atom's public API".to_string()
                    } else {
                        format!("`{}`", path[..i].join("."))
                    };
                    let hint = if names.is_empty() {
                        String::from("it has no public names")
                    } else {
                        format!("it has: {}", names.join(", "))
                    };
                    return Err(compose::fail(format!(
                        "attribute `{name}` is not in {at} ({hint}); private names (not starting with a capital letter) are not visible from outside"
                    )));
                }
            }
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod entry_tests {
    use super::{entry_dir, EntryError};

    fn entry(compose: &str) -> Result<String, EntryError> {
        let text = format!("[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n{compose}");
        entry_dir(&atom_format::Manifest::parse("atom.toml", &text).unwrap())
    }

    #[test]
    fn the_entry_is_a_directory_inside_the_atom() {
        assert_eq!(entry(""), Ok(String::new()));
        let with = |e: &str| {
            entry(&format!(
                "[compose.with.atom-nix]\nfrom = \"atom\"\nentry = {e}\n"
            ))
        };
        assert_eq!(with("\"./src/\""), Ok("src".into()));
        assert_eq!(with("\"a//b\""), Ok("a/b".into()));
        assert_eq!(with("3"), Err(EntryError::NotAString));
        assert_eq!(
            with("\"src/../..\""),
            Err(EntryError::LeavesAtom("src/../..".into()))
        );
        assert_eq!(with("\"/src\""), Err(EntryError::Absolute("/src".into())));
        let as_nix = entry("[compose.as]\nnix = \"default.nix\"\n");
        assert_eq!(as_nix, Err(EntryError::AsNix("default.nix".into())));
        // A static atom has no modules to compose, like one without mod.nix.
        assert_eq!(
            entry("[compose.as]\nstatic = \"config\"\n"),
            Ok(String::new())
        );
    }
}
