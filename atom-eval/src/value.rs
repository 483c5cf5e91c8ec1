//! Runtime values. Everything is reference counted and cheap to clone: a
//! `Value` is two words, and lists, sets and closures are shared, never copied.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub use atom_store::StringContext;

use crate::error::{Result, Span};

use crate::eval::Evaluator;
use crate::ir::{Expr, LambdaDef};

/// A string value: one thin pointer to a shared, immutable allocation, so
/// that [`Value`] stays two words.
pub type NixStr = crate::rcstr::RcStr;

/// The concatenation of `parts` in one allocation of the exact size.
pub(crate) fn concat_strs(parts: &[&str]) -> NixStr {
    NixStr::concat(parts)
}

/// The decimal digits of `n`, formatted without an intermediate `String`.
pub(crate) fn int_str(n: i64) -> NixStr {
    NixStr::from(itoa::Buffer::new().format(n))
}

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
    /// When set, every symbol interned, in order (with repeats): binding a
    /// file records the names it interns, so that a pack can intern the
    /// same names in the same order ([`crate::compiled`]).
    pub(crate) log: Option<Vec<Sym>>,
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
        let sym = match entry {
            hashbrown::hash_table::Entry::Occupied(o) => o.get().1,
            hashbrown::hash_table::Entry::Vacant(v) => {
                let sym = Sym(self.names.len() as u32);
                v.insert((hash, sym));
                self.names.push(NixStr::from(name));
                sym
            }
        };
        if let Some(log) = &mut self.log {
            log.push(sym);
        }
        sym
    }
    /// The number of names interned.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// Forgets every name interned after the first `len` (no symbol of them
    /// may be in use).
    pub(crate) fn truncate(&mut self, len: usize) {
        if len < self.names.len() {
            self.names.truncate(len);
            self.table.retain(|(_, s)| (s.0 as usize) < len);
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
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(NixStr),
    /// A string made from store objects (a derivation's output, a
    /// `toFile` text): its text and the store paths it refers to. Kept
    /// apart from [`Value::String`] so that plain strings, by far the most
    /// common, carry nothing more than their text.
    ContextString(Rc<ContextStr>),
    /// An absolute, canonical path in the host's file system namespace.
    Path(NixStr),
    Attrs(Rc<Attrs>),
    List(Rc<Vec<Value>>),
    Lambda(Rc<Closure>),
    PrimOp(Rc<PrimOp>),
    PrimOpApp(Rc<PrimOpApp>),
    Thunk(Rc<Thunk>),
}

impl Clone for Value {
    /// Numbers, Booleans, thunks and functions, the values the evaluator
    /// copies on every variable lookup, are cloned inline; the rest out of
    /// line, which keeps the callers' code small.
    #[inline(always)]
    fn clone(&self) -> Value {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Thunk(t) => Value::Thunk(Rc::clone(t)),
            Value::Lambda(c) => Value::Lambda(Rc::clone(c)),
            _ => self.clone_shared(),
        }
    }
}

impl Value {
    #[inline(never)]
    fn clone_shared(&self) -> Value {
        match self {
            Value::String(s) => Value::String(s.clone()),
            Value::ContextString(s) => Value::ContextString(Rc::clone(s)),
            Value::Path(p) => Value::Path(p.clone()),
            Value::Attrs(a) => Value::Attrs(Rc::clone(a)),
            Value::List(l) => Value::List(Rc::clone(l)),
            Value::PrimOp(p) => Value::PrimOp(Rc::clone(p)),
            Value::PrimOpApp(p) => Value::PrimOpApp(Rc::clone(p)),
            // Cloned inline by `clone`, which never sends them here.
            Value::Null
            | Value::Bool(_)
            | Value::Int(_)
            | Value::Float(_)
            | Value::Thunk(_)
            | Value::Lambda(_) => self.clone(),
        }
    }
}

/// Drops an empty context without running `BTreeSet`'s destructor, which
/// walks an iterator even when there is nothing to free: strings are made
/// on the hottest paths (interpolation, `toString`) and almost never have
/// a context. An empty `BTreeSet` owns no memory, so nothing leaks.
#[inline(always)]
pub(crate) fn forget_empty(context: StringContext) {
    debug_assert!(context.is_empty());
    std::mem::forget(context);
}

/// A string with its context (never empty).
#[derive(Clone, Debug)]
pub struct ContextStr {
    pub text: NixStr,
    pub context: StringContext,
}

impl Value {
    pub fn string(s: &str) -> Value {
        Value::String(NixStr::from(s))
    }

    /// A string value with `context` (a plain string when it is empty).
    pub fn string_with_context(text: NixStr, context: StringContext) -> Value {
        if context.is_empty() {
            forget_empty(context);
            Value::String(text)
        } else {
            Value::ContextString(Rc::new(ContextStr { text, context }))
        }
    }

    /// The text of a string value, whatever its context.
    pub fn as_str(&self) -> Option<&NixStr> {
        match self {
            Value::String(s) => Some(s),
            Value::ContextString(s) => Some(&s.text),
            _ => None,
        }
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
            Value::String(_) | Value::ContextString(_) => "a string",
            Value::Path(_) => "a path",
            Value::Attrs(_) => "a set",
            Value::List(_) => "a list",
            Value::Lambda(_) => "a function",
            Value::PrimOp(_) => "a built-in function",
            Value::PrimOpApp(app) if app.bound_by_host => "a built-in function",
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
            Value::String(_) | Value::ContextString(_) => "string",
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
        // A forced thunk is its value (variables drop them once forced).
        if let Value::Thunk(t) = self {
            if let Some(v) = t.done() {
                return v.same_as(other);
            }
        }
        if let Value::Thunk(t) = other {
            if let Some(v) = t.done() {
                return self.same_as(&v);
            }
        }
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
///
/// `big // small` does not copy `big`: the result is a layer holding
/// `small`'s entries over a shared `big` (the overlay pattern of fix points
/// and folds). Each layer holds less than half as many entries as the one
/// below it; an update that would break that folds the upper layers into
/// one, or the whole set into a flat one when the layers grow comparable to
/// the bottom. So a set has at most log2(n) layers, a lookup is that many
/// binary searches, and a fold of `//` copies each entry O(log n) times
/// instead of once per step.
#[derive(Default)]
pub struct Attrs {
    /// This layer's entries, sorted by symbol; they shadow `base`.
    own: Vec<(Sym, Value)>,
    /// The set underneath this layer, if any.
    base: Option<Rc<Attrs>>,
    /// The number of distinct names in the whole set.
    len: usize,
}

/// Sets at most this large are always flat: layering pays only for big sets.
const FLAT_MAX: usize = 32;

impl Attrs {
    pub(crate) fn from_sorted(entries: Vec<(Sym, Value)>) -> Attrs {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        Attrs {
            len: entries.len(),
            own: entries,
            base: None,
        }
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
        Attrs::from_sorted(entries)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline]
    pub(crate) fn get(&self, sym: Sym) -> Option<&Value> {
        let mut layer = self;
        loop {
            if let Ok(i) = layer.own.binary_search_by_key(&sym, |e| e.0) {
                return Some(&layer.own[i].1);
            }
            layer = layer.base.as_deref()?;
        }
    }
    pub(crate) fn contains(&self, sym: Sym) -> bool {
        self.get(sym).is_some()
    }
    /// The entries in symbol order, each name once (the uppermost layer's).
    pub(crate) fn iter(&self) -> Iter<'_> {
        let mut layers = smallvec::SmallVec::new();
        let mut layer = Some(self);
        while let Some(l) = layer {
            layers.push(l.own.as_slice());
            layer = l.base.as_deref();
        }
        Iter { layers }
    }
    /// The names in symbol order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Sym> + '_ {
        self.iter().map(|e| e.0)
    }
    /// All entries in one flat vector.
    pub(crate) fn to_vec(&self) -> Vec<(Sym, Value)> {
        match self.base {
            None => self.own.clone(),
            Some(_) => {
                let mut out = Vec::with_capacity(self.len);
                out.extend(self.iter().cloned());
                out
            }
        }
    }
    /// `a // b`.
    pub(crate) fn update(a: &Rc<Attrs>, b: &Rc<Attrs>) -> Rc<Attrs> {
        if b.is_empty() {
            return a.clone();
        }
        if a.is_empty() {
            return b.clone();
        }
        if a.len + b.len <= FLAT_MAX {
            return Rc::new(Attrs::from_sorted(merge(a.iter(), b.iter())));
        }
        let mut top = b.to_vec();
        let mut under = a;
        // Fold the layers of `a` that are not much bigger than `top` into it.
        while let Some(base) = &under.base {
            if under.own.len() > 2 * top.len() {
                break;
            }
            top = merge(under.own.iter(), top.iter());
            under = base;
        }
        if under.base.is_none() && 2 * top.len() > under.own.len() {
            // Comparable to the bottom: one flat set.
            return Rc::new(Attrs::from_sorted(merge(under.own.iter(), top.iter())));
        }
        let added = top.iter().filter(|(k, _)| !under.contains(*k)).count();
        Rc::new(Attrs {
            len: under.len + added,
            own: top,
            base: Some(under.clone()),
        })
    }
}

/// A merge of two sorted entry lists; on equal names `over` wins.
fn merge<'a>(
    mut under: impl Iterator<Item = &'a (Sym, Value)>,
    mut over: impl Iterator<Item = &'a (Sym, Value)>,
) -> Vec<(Sym, Value)> {
    let mut out = Vec::with_capacity(under.size_hint().0 + over.size_hint().0);
    let (mut x, mut y) = (under.next(), over.next());
    loop {
        match (x, y) {
            (Some(p), Some(q)) => match p.0.cmp(&q.0) {
                std::cmp::Ordering::Less => {
                    out.push(p.clone());
                    x = under.next();
                }
                std::cmp::Ordering::Greater => {
                    out.push(q.clone());
                    y = over.next();
                }
                std::cmp::Ordering::Equal => {
                    out.push(q.clone());
                    x = under.next();
                    y = over.next();
                }
            },
            (Some(p), None) => {
                out.push(p.clone());
                out.extend(under.cloned());
                return out;
            }
            (None, Some(q)) => {
                out.push(q.clone());
                out.extend(over.cloned());
                return out;
            }
            (None, None) => return out,
        }
    }
}

/// The entries of an [`Attrs`] in symbol order: a merge of its layers in
/// which an upper layer's entry hides the lower ones of the same name.
pub(crate) struct Iter<'a> {
    /// The remaining entries of each layer, uppermost first.
    layers: smallvec::SmallVec<[&'a [(Sym, Value)]; 4]>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a (Sym, Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.layers.len() == 1 {
            let (first, rest) = self.layers[0].split_first()?;
            self.layers[0] = rest;
            return Some(first);
        }
        // The smallest head; the uppermost layer's on a tie.
        let mut best: Option<&'a (Sym, Value)> = None;
        for l in &self.layers {
            if let Some(e) = l.first() {
                if best.is_none_or(|b| e.0 < b.0) {
                    best = Some(e);
                }
            }
        }
        let best = best?;
        for l in self.layers.iter_mut() {
            if l.first().is_some_and(|e| e.0 == best.0) {
                *l = &l[1..];
            }
        }
        Some(best)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let most = self.layers.iter().map(|l| l.len()).sum();
        let least = self.layers.iter().map(|l| l.len()).max().unwrap_or(0);
        (least, Some(most))
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

/// Frames of finished calls, kept for the next calls. A Nix recursion
/// allocates and frees one frame per level, and deep ones (thousands of
/// levels) outgrow the allocator's thread cache, so that every frame goes
/// the allocator's slow way twice; a frame from here costs a `Vec` pop.
#[derive(Default)]
pub(crate) struct EnvPool(Vec<Rc<Env>>);

impl EnvPool {
    /// At most this many frames are kept (some 1 MB).
    const MAX: usize = 1 << 14;

    /// A one-slot frame (a lambda's argument) below `parent`.
    #[inline]
    pub(crate) fn one_slot(&mut self, parent: Rc<Env>, value: Value) -> Rc<Env> {
        let Some(mut env) = self.0.pop() else {
            return Env::new(Some(parent), smallvec::smallvec![value]);
        };
        let frame = Rc::get_mut(&mut env).expect("only unshared frames are pooled");
        frame.parent = Some(parent);
        frame.slots.get_mut().push(value);
        env
    }

    /// Keeps `env` for a later call if nothing else holds it (no thunk or
    /// closure captured it) and its slots are inline; otherwise drops it.
    #[inline]
    pub(crate) fn recycle(&mut self, mut env: Rc<Env>) {
        if self.0.len() >= Self::MAX {
            return;
        }
        let Some(frame) = Rc::get_mut(&mut env) else {
            return;
        };
        let slots = frame.slots.get_mut();
        if slots.spilled() {
            return;
        }
        slots.clear();
        frame.parent = None;
        self.0.push(env);
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
    /// The arguments were bound by the host, not by the program (a
    /// module's file builtins confined to its directory): to the program
    /// this is the builtin itself, so it prints and is described as one.
    pub(crate) bound_by_host: bool,
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
    /// Computed ahead of being forced (an integer operation on values
    /// already known, a function): Nix would still hold a thunk here, so
    /// the non-strict printer shows `<CODE>` until it is forced.
    Ready(Value),
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
    /// The value, if it is known (forced or computed ahead).
    pub(crate) fn known(&self) -> Option<Value> {
        let state = self.0.replace(ThunkState::Blackhole);
        let value = match &state {
            ThunkState::Done(v) | ThunkState::Ready(v) => Some(v.clone()),
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
            Value::ContextString(s) => write!(f, "{:?}", s.text),
            Value::Path(p) => write!(f, "{p}"),
            Value::Attrs(a) => write!(f, "<set of {}>", a.len()),
            Value::List(l) => write!(f, "<list of {}>", l.len()),
            other => write!(f, "<{}>", other.type_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn set(entries: &BTreeMap<u32, i64>) -> Rc<Attrs> {
        Rc::new(Attrs::from_sorted(
            entries
                .iter()
                .map(|(k, v)| (Sym(*k), Value::Int(*v)))
                .collect(),
        ))
    }

    fn check(attrs: &Attrs, model: &BTreeMap<u32, i64>) {
        assert_eq!(attrs.len(), model.len());
        let listed: Vec<(u32, i64)> = attrs
            .iter()
            .map(|(k, v)| match v {
                Value::Int(i) => (k.0, *i),
                _ => unreachable!(),
            })
            .collect();
        let expected: Vec<(u32, i64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(listed, expected);
        for k in 0..300 {
            let found = attrs.get(Sym(k)).map(|v| match v {
                Value::Int(i) => *i,
                _ => unreachable!(),
            });
            assert_eq!(found, model.get(&k).copied(), "key {k}");
        }
    }

    /// Folds of `//` in every shape (one new name at a time, big overlays,
    /// overlays replacing names, sets layered on layered sets) agree with a
    /// plain map, and stay shallow.
    #[test]
    fn layered_updates_agree_with_a_map() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..40 {
            let mut model = BTreeMap::new();
            let mut acc = set(&model);
            let mut sets = Vec::new();
            for step in 0..200 {
                let size = match round % 4 {
                    0 => 1,
                    1 => 1 + rand(5),
                    2 => rand(60),
                    _ => 1 + rand(3) * rand(20),
                };
                let mut overlay = BTreeMap::new();
                for _ in 0..size {
                    overlay.insert(rand(300) as u32, (round * 1000 + step) as i64);
                }
                let b = if rand(4) == 0 && !sets.is_empty() {
                    // A layered set on the right-hand side.
                    let (prev, prev_model): &(Rc<Attrs>, BTreeMap<u32, i64>) =
                        &sets[rand(sets.len() as u64) as usize];
                    let b = Attrs::update(prev, &set(&overlay));
                    let mut m = prev_model.clone();
                    m.extend(overlay);
                    overlay = m;
                    b
                } else {
                    set(&overlay)
                };
                check(&b, &overlay);
                acc = Attrs::update(&acc, &b);
                model.extend(overlay);
                check(&acc, &model);
                let mut depth = 0;
                let mut layer = Some(&*acc);
                while let Some(l) = layer {
                    depth += 1;
                    layer = l.base.as_deref();
                }
                assert!(depth <= 10, "depth {depth}");
                sets.push((acc.clone(), model.clone()));
            }
        }
    }

    fn int_slot(env: &Env) -> Option<i64> {
        match env.slots.borrow().first() {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    #[test]
    fn the_env_pool_reuses_only_frames_nothing_else_holds() {
        let root = Env::new(None, Slots::new());
        let mut pool = EnvPool::default();
        let captured = pool.one_slot(root.clone(), Value::Int(1));
        let kept = captured.clone();
        pool.recycle(captured);
        assert!(pool.0.is_empty(), "a frame a thunk still holds was pooled");
        assert_eq!(int_slot(&kept), Some(1));

        let free = pool.one_slot(root.clone(), Value::Int(2));
        let free_at = Rc::as_ptr(&free);
        pool.recycle(free);
        assert_eq!(pool.0.len(), 1);
        let reused = pool.one_slot(kept.clone(), Value::Int(3));
        assert_eq!(
            Rc::as_ptr(&reused),
            free_at,
            "the pooled frame is handed out again"
        );
        assert_eq!(int_slot(&reused), Some(3));
        assert_eq!(reused.slots.borrow().len(), 1);
        assert!(Rc::ptr_eq(reused.parent.as_ref().unwrap(), &kept));

        let wide = Env::new(Some(root), (0..3).map(Value::Int).collect());
        pool.recycle(wide);
        assert!(pool.0.is_empty(), "a frame with spilled slots was pooled");
    }
}
