//! `atom-eval`: an embeddable, lazy evaluator for the Nix expression
//! language.
//!
//! Atoms carry Nix code and eka evaluates it itself: no Nix installation, no
//! daemon, no store. The later module system hands each atom module a
//! bounded scope, so the *host* decides everything a file can reach:
//!
//! - **Global names.** [`Evaluator::new`] installs Nix's standard scope
//!   (`builtins`, the global aliases such as `map` and `toString`, and every
//!   builtin as `__name`); [`Evaluator::set_global`] and
//!   [`Evaluator::remove_global`] change it, [`Evaluator::bare`] starts empty.
//!   Names are bound before evaluation, so a file that uses a name the host
//!   did not provide fails at bind time with "undefined variable".
//! - **Which builtins exist.** [`Evaluator::remove_builtin`] takes one out
//!   of the `builtins` set and of the global scope (e.g. `import`,
//!   `readFile`).
//! - **The file system.** All file access goes through the
//!   [`FileSystem`] trait: [`RootedFileSystem`] is a real tree under one
//!   root (what `eka eval` uses), [`NoFileSystem`] has nothing.
//! - **Bound files kept between runs.** [`Evaluator::use_compiled`] hands
//!   over a [`CompiledFiles`] pack: files it holds (same text, name and
//!   scope) are not parsed again, and [`Evaluator::compiled_pack`] writes
//!   the next pack. Results are the same with a pack as without.
//! - **Limits.** [`Limits`] bounds call depth (an error, never a stack
//!   overflow), memory (4 GiB unless set otherwise) and optionally the
//!   number of evaluation steps; what any builtin may spend is bounded
//!   too (regular expressions, nesting of values it walks): exceeding a
//!   bound is an evaluation error, never a crash.
//!
//! Evaluation is recursive, so run it on a thread with a large stack:
//! [`run_with_large_stack`] does that. Values are reference counted, not
//! garbage collected; cyclic structures (`rec` sets, `let`) live until the
//! evaluator is dropped.
//!
//! ```
//! use atom_eval::{Evaluator, Limits, NoFileSystem};
//! let mut ev = Evaluator::new(Box::new(NoFileSystem), Limits::default());
//! let v = ev.eval_source("example", "let x = 1; in [ x (x + 1) ]", "/").unwrap();
//! let v = ev.force_deep(&v).unwrap();
//! assert_eq!(ev.print(&v).unwrap(), "[ 1 2 ]");
//! ```

mod builtins;
mod compiled;
mod error;
mod eval;
mod fs;
mod ir;
pub(crate) mod lower;
mod memory;
mod path;
mod policy;
mod posix_regex;
mod print;
mod rcstr;
mod store;
#[cfg(test)]
mod tests;
mod value;

use std::rc::Rc;

pub use atom_store;
pub use compiled::{CompiledFiles, CompiledStats, PackError};
pub use error::{ErrorKind, EvalError, FileId, Result, SharedCause, Span, TraceFrame};
pub use eval::{Evaluator, Limits};
pub use fs::{FileSystem, FileType, FsError, NoFileSystem, RootedFileSystem};
pub use lower::ParsedSource;
pub use memory::{parse_byte_size, ByteSizeError, DEFAULT_MAX_MEMORY};
pub use policy::{BindPolicy, PathLiteralHelp};
pub use value::{ContextStr, NixStr, StringContext, Value};

/// Stack size for [`run_with_large_stack`]: deep enough for
/// [`Limits::max_call_depth`] of 10,000 and the internal thunk-depth bound.
/// Only the pages actually touched are backed by memory.
pub const STACK_SIZE: usize = 2 << 30;

/// Runs `f` on a fresh thread with a [`STACK_SIZE`] stack and returns its
/// result. Fails only if the system refuses such a thread (the evaluator's
/// depth bounds assume that stack, so it is not silently shrunk).
pub fn run_with_large_stack<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    let handle = std::thread::Builder::new()
        .name("atom-eval".into())
        .stack_size(STACK_SIZE)
        .spawn(f)?;
    match handle.join() {
        Ok(v) => Ok(v),
        // A panic is a bug in the evaluator; keep its message and location.
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

impl Evaluator {
    /// An evaluator with Nix's standard global scope and every builtin.
    pub fn new(fs: Box<dyn FileSystem>, limits: Limits) -> Evaluator {
        let mut ev = Evaluator::with_parts(fs, limits);
        ev.builtins = builtins::all_builtins(&mut ev);
        ev.rebuild_globals();
        ev
    }

    /// An evaluator whose files see no global names at all; add them with
    /// [`Evaluator::set_global`] and [`Evaluator::builtin`].
    pub fn bare(fs: Box<dyn FileSystem>, limits: Limits) -> Evaluator {
        let mut ev = Evaluator::with_parts(fs, limits);
        ev.builtins = builtins::all_builtins(&mut ev);
        ev
    }

    /// Recomputes the standard scope from the current builtins.
    fn rebuild_globals(&mut self) {
        self.compiled_context_changed();
        self.globals.clear();
        let entries: Vec<(value::Sym, Value)> = self
            .builtins
            .iter()
            .map(|(n, v)| (self.interner.intern(n), v.clone()))
            .collect();
        let set = Value::Attrs(Rc::new(value::Attrs::from_unsorted(entries)));
        let builtins_sym = self.interner.intern("builtins");
        self.globals.insert(builtins_sym, set);
        for (name, v) in self.builtins.clone() {
            let dunder = self.interner.intern(&format!("__{name}"));
            self.globals.insert(dunder, v.clone());
            if builtins::GLOBAL_ALIASES.contains(&name) || matches!(name, "true" | "false" | "null")
            {
                let sym = self.interner.intern(name);
                self.globals.insert(sym, v);
            }
        }
    }

    /// The names of the builtins this evaluator offers.
    pub fn builtin_names(&self) -> Vec<&'static str> {
        self.builtins.iter().map(|(n, _)| *n).collect()
    }

    /// The builtin called `name`, to hand to [`Evaluator::set_global`].
    pub fn builtin(&self, name: &str) -> Option<Value> {
        self.builtins
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }

    /// Takes a builtin out of `builtins` and out of the global scope (its
    /// alias and `__name`). Returns whether it existed. Globals set with
    /// [`Evaluator::set_global`] are reset to the standard scope.
    pub fn remove_builtin(&mut self, name: &str) -> bool {
        self.remove_builtins(&[name]) == 1
    }

    /// [`Evaluator::remove_builtin`] of several names at once (the global
    /// scope is rebuilt once). Returns how many existed.
    pub fn remove_builtins(&mut self, names: &[&str]) -> usize {
        let before = self.builtins.len();
        self.builtins.retain(|(n, _)| !names.contains(n));
        let removed = before - self.builtins.len();
        if removed > 0 {
            self.rebuild_globals();
        }
        removed
    }

    /// Makes `name` visible to every file evaluated afterwards.
    pub fn set_global(&mut self, name: &str, value: Value) {
        let sym = self.interner.intern(name);
        self.compiled_context_changed();
        self.globals.insert(sym, value);
    }

    /// Hides `name` from files evaluated afterwards. Returns whether it was
    /// visible.
    pub fn remove_global(&mut self, name: &str) -> bool {
        self.compiled_context_changed();
        match self.interner.lookup(name) {
            Some(sym) => self.globals.remove(&sym).is_some(),
            None => false,
        }
    }

    /// The global names, sorted.
    pub fn global_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .globals
            .keys()
            .map(|s| self.sym_name(*s).to_string())
            .collect();
        names.sort();
        names
    }

    /// The directory `~/` paths resolve to; without one they are an error.
    pub fn set_home_dir(&mut self, home: Option<String>) {
        self.compiled_context_changed();
        self.home_dir = home;
    }

    /// Parses and binds `text` without evaluating it (Nix's static errors
    /// included).
    pub fn check_source(&mut self, name: &str, text: &str, base_dir: &str) -> Result<()> {
        self.compile(name, NixStr::from(text), base_dir).map(|_| ())
    }

    /// Evaluates `text` to weak head normal form. Relative paths in it
    /// resolve against `base_dir`.
    pub fn eval_source(&mut self, name: &str, text: &str, base_dir: &str) -> Result<Value> {
        let expr = self.compile(name, NixStr::from(text), base_dir)?;
        self.run(&expr)
    }

    /// Reads `path` through the host's file system and parses and binds it.
    pub fn check_file(&mut self, path: &str) -> Result<()> {
        let path = path::canon_path(path);
        let text = self.read_text(&path)?;
        let base = path::dir_of(&path).to_string();
        self.compile(&path, text, &base).map(|_| ())
    }

    /// Evaluates the file at `path` (absolute, in the host's namespace) to
    /// weak head normal form, as `import` would.
    pub fn eval_file(&mut self, path: &str) -> Result<Value> {
        self.import(&path::canon_path(path))
    }

    /// Sets what files bound from now on may not use; `None` allows all.
    pub fn set_policy(&mut self, policy: Option<BindPolicy>) {
        self.compiled_context_changed();
        self.policy = policy;
    }

    /// Like [`Evaluator::eval_source`], with `scope` bound around the file as
    /// `scopedImport` does: these names shadow the globals. The values may
    /// be lazy ([`Value::lazy`]); binding the file forces none of them.
    pub fn eval_source_scoped(
        &mut self,
        name: &str,
        text: &str,
        base_dir: &str,
        scope: &[(&str, Value)],
    ) -> Result<Value> {
        let (names, values) = self.scope_slots(scope);
        let expr = self.compile_scoped(name, NixStr::from(text), base_dir, Some(names))?;
        let env = value::Env::new(None, values);
        self.eval(&env, &expr)
    }

    /// [`Evaluator::eval_source_scoped`] of a source parsed beforehand
    /// (possibly on another thread). The syntax tree is freed once bound,
    /// before evaluation, which may read many other files.
    pub fn eval_parsed_scoped(
        &mut self,
        name: &str,
        parsed: ParsedSource,
        base_dir: &str,
        scope: &[(&str, Value)],
    ) -> Result<Value> {
        let (names, values) = self.scope_slots(scope);
        let text = NixStr::from(&*parsed.text);
        let compiled = self.compile_parsed(name, Some(&parsed), text, base_dir, Some(names));
        drop(parsed);
        let expr = compiled?;
        let env = value::Env::new(None, values);
        self.eval(&env, &expr)
    }

    fn scope_slots(
        &mut self,
        scope: &[(&str, Value)],
    ) -> (rustc_hash::FxHashMap<value::Sym, u32>, value::Slots) {
        let mut names =
            rustc_hash::FxHashMap::with_capacity_and_hasher(scope.len(), Default::default());
        let mut values = value::Slots::new();
        for (name, v) in scope {
            let sym = self.interner.intern(name);
            if let Some(&slot) = names.get(&sym) {
                values[slot as usize] = v.clone();
            } else {
                names.insert(sym, values.len() as u32);
                values.push(v.clone());
            }
        }
        (names, values)
    }

    /// An attribute set of `entries` (a later duplicate name wins).
    pub fn make_attrs<S: AsRef<str>>(
        &mut self,
        entries: impl IntoIterator<Item = (S, Value)>,
    ) -> Value {
        let entries: Vec<(value::Sym, Value)> = entries
            .into_iter()
            .map(|(k, v)| (self.interner.intern(k.as_ref()), v))
            .collect();
        Value::Attrs(Rc::new(value::Attrs::from_unsorted(entries)))
    }

    /// The names and (unforced) values of the set `value`, sorted by name;
    /// forces `value` itself and fails if it is not a set.
    pub fn attr_entries(&mut self, value: &Value) -> Result<Vec<(String, Value)>> {
        match self.force(value.clone())? {
            Value::Attrs(a) => {
                let mut out: Vec<(String, Value)> = a
                    .iter()
                    .map(|(k, v)| (self.sym_name(*k).to_string(), v.clone()))
                    .collect();
                out.sort_by(|x, y| x.0.cmp(&y.0));
                Ok(out)
            }
            other => Err(EvalError::new(
                ErrorKind::TypeMismatch {
                    expected: "a set",
                    found: other.type_with_article(),
                },
                None,
            )),
        }
    }

    /// The attribute `name` of the set `value` (forced to a set), unforced.
    pub fn get_attr(&mut self, value: &Value, name: &str) -> Result<Option<Value>> {
        match self.force(value.clone())? {
            Value::Attrs(a) => Ok(self.interner.lookup(name).and_then(|s| a.get(s).cloned())),
            other => Err(EvalError::new(
                ErrorKind::TypeMismatch {
                    expected: "a set",
                    found: other.type_with_article(),
                },
                None,
            )),
        }
    }

    /// Applies the function `f` to `arg`.
    pub fn apply(&mut self, f: &Value, arg: Value) -> Result<Value> {
        let span = Span {
            file: FileId(0),
            start: 0,
            end: 0,
        };
        let f = self.force(f.clone())?;
        self.call(f, arg, span)
    }

    /// Forces `value` completely (`--strict`).
    pub fn force_deep(&mut self, value: &Value) -> Result<Value> {
        self.deep_force(value)
    }

    /// Forces `value` to weak head normal form.
    pub fn force_value(&mut self, value: &Value) -> Result<Value> {
        self.force(value.clone())
    }

    /// Prints `value` exactly as `nix-instantiate --eval` does.
    pub fn print(&mut self, value: &Value) -> Result<String> {
        print::print_value(self, value)
    }

    /// `value` as JSON, as `builtins.toJSON` writes it.
    pub fn to_json(&mut self, value: &Value) -> Result<String> {
        print::to_json(self, value, &mut StringContext::new())
    }

    /// The name and text of a source the evaluator has read, for rendering
    /// error spans.
    pub fn source(&self, file: FileId) -> Option<(&str, &str)> {
        self.sources
            .get(file.0 as usize)
            .map(|s| (s.name.as_str(), &*s.text))
    }

    /// Messages printed by `builtins.trace` and `builtins.warn` so far.
    pub fn traces(&self) -> &[String] {
        &self.trace_output
    }
}
