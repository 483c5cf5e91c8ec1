//! Runtime values. Everything is reference counted and cheap to clone: a
//! `Value` is two words, and lists, sets and closures are shared, never copied.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::error::{Result, Span};

use crate::eval::Evaluator;
use crate::ir::{Expr, LambdaDef};

/// A string value: one thin pointer to a shared, immutable allocation, so
/// that [`Value`] stays two words.
pub type NixStr = arcstr::ArcStr;

/// An interned attribute or variable name. Comparing and hashing symbols is
/// comparing integers, which is what makes attribute lookup cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sym(pub(crate) u32);

/// The symbol table. Each entry keeps its name's hash, so growing the table
/// never re-reads the strings, and a probe compares strings only when the
/// hashes agree.
#[derive(Default)]
pub(crate) struct Interner {
    table: hashbrown::HashTable<(u64, Sym)>,
    names: Vec<NixStr>,
}

fn hash_name(name: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(name)
}

impl Interner {
    pub(crate) fn intern(&mut self, name: &str) -> Sym {
        let hash = hash_name(name);
        let names = &self.names;
        let entry = self.table.entry(
            hash,
            |(h, s)| *h == hash && &*names[s.0 as usize] == name,
            |(h, _)| *h,
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => o.get().1,
            hashbrown::hash_table::Entry::Vacant(v) => {
                let sym = Sym(self.names.len() as u32);
                v.insert((hash, sym));
                self.names.push(NixStr::from(name));
                sym
            }
        }
    }
    pub(crate) fn lookup(&self, name: &str) -> Option<Sym> {
        let hash = hash_name(name);
        self.table
            .find(hash, |(h, s)| {
                *h == hash && &*self.names[s.0 as usize] == name
            })
            .map(|(_, s)| *s)
    }
    pub(crate) fn name(&self, sym: Sym) -> &NixStr {
        &self.names[sym.0 as usize]
    }
}

/// A Nix value, or a thunk that will become one.
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(NixStr),
    /// An absolute, canonical path in the host's file system namespace.
    Path(NixStr),
    Attrs(Rc<Attrs>),
    List(Rc<Vec<Value>>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    PrimOpApp(Rc<PrimOpApp>),
    Thunk(Rc<Thunk>),
}

impl Value {
    pub fn string(s: &str) -> Value {
        Value::String(NixStr::from(s))
    }

    /// A lazy value the host computes the first time it is forced; the
    /// result is shared by every holder of this value.
    pub fn lazy(f: impl Fn(&mut Evaluator) -> Result<Value> + 'static) -> Value {
        Thunk::lazy(ThunkState::Host(Rc::new(f)))
    }

    /// Nix's type name with its article, for "expected an integer but found
    /// a string" messages.
    pub fn type_with_article(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a Boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::String(_) => "a string",
            Value::Path(_) => "a path",
            Value::Attrs(_) => "a set",
            Value::List(_) => "a list",
            Value::Lambda(_) => "a function",
            Value::PrimOp(_) => "a built-in function",
            Value::PrimOpApp(_) => "a partially applied built-in function",
            Value::Thunk(_) => "a thunk",
        }
    }

    /// The name `builtins.typeOf` returns.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Path(_) => "path",
            Value::Attrs(_) => "set",
            Value::List(_) => "list",
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => "lambda",
            Value::Thunk(_) => "thunk",
        }
    }

    pub fn is_function(&self) -> bool {
        matches!(
            self,
            Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_)
        )
    }

    /// Identity of shared containers: Nix treats a list or set element that
    /// is the very same value as equal without comparing (even functions).
    pub(crate) fn same_as(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Thunk(a), Value::Thunk(b)) => Rc::ptr_eq(a, b),
            (Value::Attrs(a), Value::Attrs(b)) => Rc::ptr_eq(a, b),
            (Value::List(a), Value::List(b)) => Rc::ptr_eq(a, b),
            (Value::Lambda(a), Value::Lambda(b)) => Rc::ptr_eq(a, b),
            (Value::PrimOp(a), Value::PrimOp(b)) => Rc::ptr_eq(a, b),
            (Value::PrimOpApp(a), Value::PrimOpApp(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// An attribute set: entries sorted by symbol number, so lookup is a binary
/// search over integers. Name order (for printing, `attrNames`) is computed
/// on demand.
#[derive(Default)]
pub struct Attrs {
    pub(crate) entries: Vec<(Sym, Value)>,
}

impl Attrs {
    pub(crate) fn from_sorted(entries: Vec<(Sym, Value)>) -> Attrs {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        Attrs { entries }
    }
    /// Builds from unsorted entries; a later duplicate wins.
    pub(crate) fn from_unsorted(mut entries: Vec<(Sym, Value)>) -> Attrs {
        entries.sort_by_key(|e| e.0);
        entries.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        Attrs { entries }
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub(crate) fn get(&self, sym: Sym) -> Option<&Value> {
        self.entries
            .binary_search_by_key(&sym, |e| e.0)
            .ok()
            .map(|i| &self.entries[i].1)
    }
    pub(crate) fn contains(&self, sym: Sym) -> bool {
        self.entries.binary_search_by_key(&sym, |e| e.0).is_ok()
    }
    /// `self // other`: a linear merge of two sorted vectors.
    pub(crate) fn update(&self, other: &Attrs) -> Attrs {
        let (a, b) = (&self.entries, &other.entries);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => {
                    out.push(a[i].clone());
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j].clone());
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(b[j].clone());
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        Attrs { entries: out }
    }
}

/// A variable scope at run time: one frame per `let`, `rec`, function call
/// or `with`. Slots are addressed by indices computed when binding names.
pub struct Env {
    /// Most frames (plain function calls, `with`) hold one value; keeping
    /// it inline saves an allocation per call.
    pub(crate) slots: RefCell<Slots>,
    pub(crate) parent: Option<Rc<Env>>,
}

pub(crate) type Slots = smallvec::SmallVec<[Value; 1]>;

impl Env {
    pub(crate) fn new(parent: Option<Rc<Env>>, slots: Slots) -> Rc<Env> {
        Rc::new(Env {
            slots: RefCell::new(slots),
            parent,
        })
    }
}

pub struct Closure {
    pub(crate) env: Rc<Env>,
    pub(crate) def: Rc<LambdaDef>,
}

pub(crate) type PrimOpFn = fn(&mut Evaluator, &[Value], Span) -> Result<Value>;

pub struct PrimOp {
    pub(crate) name: &'static str,
    pub(crate) arity: usize,
    pub(crate) func: PrimOpFn,
}

pub struct PrimOpApp {
    pub(crate) op: Rc<PrimOp>,
    pub(crate) args: Vec<Value>,
}

/// A host computation behind a thunk. `Fn`, not `FnOnce`: a failed thunk is
/// restored so that `tryEval` can force it again.
pub(crate) type HostFn = Rc<dyn Fn(&mut Evaluator) -> Result<Value>>;

pub(crate) enum ThunkState {
    /// An expression waiting for its environment to evaluate it.
    Pending(Rc<Env>, Rc<Expr>),
    /// `f a`, created by builtins such as `map` that stay lazy.
    Call1(Value, Value),
    /// `f a b` (`mapAttrs`, `zipAttrsWith`); boxed to keep thunks small.
    Call2(Box<[Value; 3]>),
    /// Computed by the host (the module system's lazily read files).
    Host(HostFn),
    /// Being evaluated right now: reaching it again is infinite recursion.
    Blackhole,
    Done(Value),
}

/// A `Cell`, not a `RefCell`: the state is only ever swapped whole, and
/// without a borrow flag a thunk fits a 64-byte allocation.
pub struct Thunk(Cell<ThunkState>);

impl Thunk {
    pub(crate) fn lazy(state: ThunkState) -> Value {
        Value::Thunk(Rc::new(Thunk(Cell::new(state))))
    }
    /// The value, if the thunk was already forced.
    pub(crate) fn done(&self) -> Option<Value> {
        let state = self.0.replace(ThunkState::Blackhole);
        let value = match &state {
            ThunkState::Done(v) => Some(v.clone()),
            _ => None,
        };
        self.0.set(state);
        value
    }
    /// Takes the state out for evaluation, leaving a blackhole behind.
    pub(crate) fn take(&self) -> ThunkState {
        self.0.replace(ThunkState::Blackhole)
    }
    pub(crate) fn set(&self, state: ThunkState) {
        self.0.set(state);
    }
}

impl std::fmt::Debug for Value {
    /// Shallow: containers show their size, never force or recurse.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Null => write!(f, "null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Path(p) => write!(f, "{p}"),
            Value::Attrs(a) => write!(f, "<set of {}>", a.len()),
            Value::List(l) => write!(f, "<list of {}>", l.len()),
            other => write!(f, "<{}>", other.type_name()),
        }
    }
}
