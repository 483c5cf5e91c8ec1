//! Bound files kept between runs: the [`crate::ir`] a file lowers to,
//! serialized, so that a host evaluating the same files again (an atom read
//! from the same git tree) skips parsing and binding, which are most of the
//! cost of evaluating a large atom.
//!
//! An entry is found by a key that covers everything binding depends on:
//! the file's text, its name (`__curPos`), its directory (relative path
//! literals), the names of the host's scope in slot order, the global names
//! (and the values of the scalar ones), the bind policy and the home
//! directory. A pack ([`CompiledFiles`]) is only read back by the same eka
//! build (its header names the executable's size and modification time), and
//! its body carries a BLAKE3 checksum: a pack that is stale, truncated or
//! damaged is ignored, and its files are bound from source as without it.
//!
//! What is stored: the names binding interned, in the order it first
//! interned them, then the expression tree (symbols as places in that list,
//! spans without their file, re-based on the file being bound, and
//! constants). A constant that is one of the evaluator's global values (a
//! builtin, the `builtins` set) is stored by its global name and re-linked
//! to that same value, so it keeps its identity. A file whose tree holds any
//! other kind of constant is simply not stored.
//!
//! Symbols are numbered afresh in every process, in the order names are
//! first interned, and sets are forced in symbol order (which decides which
//! of two errors surfaces). Reading an entry back interns its names in the
//! recorded order first, so the file numbers symbols exactly as binding it
//! from source would (binding interns in source order, whatever the
//! numbering before it). Names interned by earlier files may still compare
//! otherwise than when the pack was written: a non-recursive set's
//! attributes are sorted again; a recursive set's order is its slots',
//! which the variables inside it refer to, so it is kept, and evaluation
//! sorts the resulting set's entries itself when needed.
//!
//! A tree read back is checked against the environment it will run in
//! (every variable inside its frame) and refused otherwise, as is anything
//! else malformed; the names it interned are then forgotten again.
//!
//! Trust: a pack lives in the user's own cache directory, like the
//! executable. The checksum catches damage, not a deliberate forgery by
//! someone who can already write there.

use std::rc::Rc;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{ErrorKind, FileId, Span};
use crate::ir::*;
use crate::value::{Attrs, Interner, NixStr, Sym, Value};

/// Identifies the pack format; bumped when the layout (not the IR) changes.
const MAGIC: &[u8; 8] = b"EKA-IR\x00\x01";

/// Bound on the nesting read back, far above what binding produces from a
/// source that parsed (nesting is refused beyond [`crate::lower`]'s limit).
const MAX_DEPTH: u32 = 20_000;

pub(crate) type Key = [u8; 32];

/// The identity of this build: a pack written by another build is not
/// read, since the IR or binding may differ. `None` when the executable
/// cannot be found, and then nothing is cached.
pub(crate) fn build_id() -> Option<&'static Key> {
    static ID: OnceLock<Option<Key>> = OnceLock::new();
    ID.get_or_init(|| {
        let exe = std::env::current_exe().ok()?;
        let meta = std::fs::metadata(&exe).ok()?;
        let modified = meta
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        let mut h = blake3::Hasher::new();
        h.update(MAGIC);
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update(exe.as_os_str().as_encoded_bytes());
        h.update(&meta.len().to_le_bytes());
        h.update(&modified.as_nanos().to_le_bytes());
        Some(*h.finalize().as_bytes())
    })
    .as_ref()
}

pub(crate) fn text_hash(text: &str) -> Key {
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// A pack of bound files read back from disk (or empty). Shared read-only
/// with other threads, which ask [`CompiledFiles::may_hold`] to skip parsing
/// files the evaluator will not need to parse.
#[derive(Default)]
pub struct CompiledFiles {
    bytes: Vec<u8>,
    /// Entry key -> where its encoded tree is in `bytes`, and its text hash.
    index: FxHashMap<Key, Stored>,
    /// Every entry's text hash.
    texts: FxHashSet<Key>,
}

#[derive(Clone, Copy)]
struct Stored {
    start: usize,
    end: usize,
    text: Key,
}

/// Why a pack was not read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("not a pack of bound files")]
    NotAPack,
    #[error("written by another eka build")]
    OtherBuild,
    #[error("damaged (checksum mismatch)")]
    Damaged,
    #[error("truncated or malformed")]
    Malformed,
    #[error("this build cannot identify itself, so nothing is cached")]
    NoBuildId,
}

impl CompiledFiles {
    /// An empty pack.
    pub fn empty() -> CompiledFiles {
        CompiledFiles::default()
    }

    /// Reads a pack written by [`crate::Evaluator::compiled_pack`] of this
    /// same build.
    pub fn load(bytes: Vec<u8>) -> Result<CompiledFiles, PackError> {
        let build = build_id().ok_or(PackError::NoBuildId)?;
        let head = MAGIC.len() + 64;
        if bytes.len() < head || &bytes[..MAGIC.len()] != MAGIC {
            return Err(PackError::NotAPack);
        }
        if &bytes[MAGIC.len()..MAGIC.len() + 32] != build {
            return Err(PackError::OtherBuild);
        }
        if bytes[MAGIC.len() + 32..head] != *blake3::hash(&bytes[head..]).as_bytes() {
            return Err(PackError::Damaged);
        }
        let mut r = Reader {
            data: &bytes,
            pos: head,
        };
        let count = r.varint().ok_or(PackError::Malformed)?;
        let mut index = FxHashMap::default();
        let mut texts = FxHashSet::default();
        for _ in 0..count {
            let key = r.key().ok_or(PackError::Malformed)?;
            let text = r.key().ok_or(PackError::Malformed)?;
            let len = r.varint().ok_or(PackError::Malformed)? as usize;
            let start = r.pos;
            let end = start.checked_add(len).ok_or(PackError::Malformed)?;
            if end > bytes.len() {
                return Err(PackError::Malformed);
            }
            r.pos = end;
            index.insert(key, Stored { start, end, text });
            texts.insert(text);
        }
        if r.pos != bytes.len() {
            return Err(PackError::Malformed);
        }
        Ok(CompiledFiles {
            bytes,
            index,
            texts,
        })
    }

    /// Whether some entry was bound from exactly `text` (whether it was
    /// bound in the same scope is only known when binding).
    pub fn may_hold(&self, text: &str) -> bool {
        !self.texts.is_empty() && self.texts.contains(&text_hash(text))
    }

    /// The number of files in the pack.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub(crate) fn entry(&self, key: &Key) -> Option<&[u8]> {
        self.index.get(key).map(|s| &self.bytes[s.start..s.end])
    }

    /// A new pack of `added` entries and the loaded ones: all of them with
    /// `keep_unused`, otherwise only those in `used`.
    pub(crate) fn write(
        &self,
        added: &[(Key, Key, Vec<u8>)],
        used: &FxHashSet<Key>,
        keep_unused: bool,
    ) -> Option<Vec<u8>> {
        let build = build_id()?;
        let mut body = Vec::new();
        // A new entry replaces a loaded one of the same key (which did not
        // read back).
        let replaced: FxHashSet<&Key> = added.iter().map(|(k, _, _)| k).collect();
        let mut kept: Vec<(&Key, &Stored)> = self
            .index
            .iter()
            .filter(|(k, _)| (keep_unused || used.contains(*k)) && !replaced.contains(k))
            .collect();
        // Entries in file order, so a pack rewritten unchanged is identical.
        kept.sort_by_key(|(_, s)| s.start);
        let mut seen = FxHashSet::default();
        let new: Vec<&(Key, Key, Vec<u8>)> =
            added.iter().filter(|(k, _, _)| seen.insert(*k)).collect();
        put_varint(&mut body, (kept.len() + new.len()) as u64);
        for (key, s) in kept {
            body.extend_from_slice(key);
            body.extend_from_slice(&s.text);
            put_varint(&mut body, (s.end - s.start) as u64);
            body.extend_from_slice(&self.bytes[s.start..s.end]);
        }
        for (key, text, tree) in new {
            body.extend_from_slice(key);
            body.extend_from_slice(text);
            put_varint(&mut body, tree.len() as u64);
            body.extend_from_slice(tree);
        }
        let mut out = Vec::with_capacity(MAGIC.len() + 64 + body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(build);
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        Some(out)
    }
}

/// Declares the tags of one kind of node in the pack: each variant's byte is
/// written here once, and the encoder and decoder both go through it.
macro_rules! pack_tags {
    ($(#[$meta:meta])* enum $name:ident { $($variant:ident = $byte:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u8)]
        enum $name {
            $($variant = $byte,)*
        }

        impl $name {
            fn from_byte(byte: u8) -> Option<Self> {
                match byte {
                    $($byte => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

pack_tags! {
    /// The kind of an [`Expr`] node.
    enum ExprTag {
        Const = 0,
        Var = 1,
        WithVar = 2,
        Attrs = 3,
        Let = 4,
        List = 5,
        Lambda = 6,
        Apply = 7,
        Select = 8,
        HasAttr = 9,
        If = 10,
        Assert = 11,
        With = 12,
        Bin = 13,
        Not = 14,
        Neg = 15,
        Interpolate = 16,
        PathInterpolate = 17,
        Fail = 18,
    }
}

pack_tags! {
    /// The kind of a constant [`Value`].
    enum ValueTag {
        Null = 0,
        False = 1,
        True = 2,
        Int = 3,
        Float = 4,
        String = 5,
        Path = 6,
        Attrs = 7,
        Global = 8,
    }
}

pack_tags! {
    /// The error of an [`Expr::Fail`].
    enum FailTag {
        Unsupported = 0,
        Forbidden = 1,
    }
}

pack_tags! {
    /// A function's parameter: a name, or a pattern with or without `...`
    /// and an `@` name.
    enum ParamTag {
        Ident = 0,
        Pattern = 1,
        PatternEllipsis = 2,
        PatternBind = 3,
        PatternEllipsisBind = 4,
    }
}

impl ExprTag {
    fn of(e: &Expr) -> ExprTag {
        match e {
            Expr::Const(_) => ExprTag::Const,
            Expr::Var { .. } => ExprTag::Var,
            Expr::WithVar { .. } => ExprTag::WithVar,
            Expr::Attrs(_) => ExprTag::Attrs,
            Expr::Let { .. } => ExprTag::Let,
            Expr::List(_) => ExprTag::List,
            Expr::Lambda(_) => ExprTag::Lambda,
            Expr::Apply { .. } => ExprTag::Apply,
            Expr::Select { .. } => ExprTag::Select,
            Expr::HasAttr { .. } => ExprTag::HasAttr,
            Expr::If { .. } => ExprTag::If,
            Expr::Assert { .. } => ExprTag::Assert,
            Expr::With { .. } => ExprTag::With,
            Expr::Bin { .. } => ExprTag::Bin,
            Expr::Not(..) => ExprTag::Not,
            Expr::Neg(..) => ExprTag::Neg,
            Expr::Interpolate { .. } => ExprTag::Interpolate,
            Expr::PathInterpolate { .. } => ExprTag::PathInterpolate,
            Expr::Fail(..) => ExprTag::Fail,
        }
    }
}

impl ParamTag {
    fn pattern(ellipsis: bool, bind: bool) -> ParamTag {
        match (ellipsis, bind) {
            (false, false) => ParamTag::Pattern,
            (true, false) => ParamTag::PatternEllipsis,
            (false, true) => ParamTag::PatternBind,
            (true, true) => ParamTag::PatternEllipsisBind,
        }
    }

    /// `(ellipsis, bind)` of a pattern; `None` for a plain name.
    fn pattern_flags(self) -> Option<(bool, bool)> {
        match self {
            ParamTag::Ident => None,
            ParamTag::Pattern => Some((false, false)),
            ParamTag::PatternEllipsis => Some((true, false)),
            ParamTag::PatternBind => Some((false, true)),
            ParamTag::PatternEllipsisBind => Some((true, true)),
        }
    }
}

// ------------------------------------------------------------------ encoding

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The pointer of a value that lives behind an `Rc`, to recognise globals.
pub(crate) fn rc_ptr(v: &Value) -> Option<usize> {
    Some(match v {
        Value::Attrs(a) => Rc::as_ptr(a) as *const () as usize,
        Value::List(l) => Rc::as_ptr(l) as *const () as usize,
        Value::Lambda(l) => Rc::as_ptr(l) as *const () as usize,
        Value::PrimOp(p) => Rc::as_ptr(p) as *const () as usize,
        Value::PrimOpApp(p) => Rc::as_ptr(p) as *const () as usize,
        Value::Thunk(t) => Rc::as_ptr(t) as *const () as usize,
        _ => return None,
    })
}

/// Writes one bound file; `None` when it holds something that cannot be
/// stored (then the file is not cached).
///
/// An entry starts with the names binding interned, in the order it first
/// interned them; reading it back interns them in that order first, so
/// symbols are numbered exactly as binding the file from source would
/// number them (sets are walked in symbol order when forced, which decides
/// which of two errors is reported). The tree refers to symbols by their
/// place in that list.
pub(crate) struct Encoder<'a> {
    out: Vec<u8>,
    syms: FxHashMap<Sym, u32>,
    /// Global values behind an `Rc`, by pointer: the first of their names
    /// (stored as a string: a global's name is interned already, so
    /// looking it up changes no numbering).
    globals: &'a FxHashMap<usize, NixStr>,
    depth: u32,
}

const BIN_OPS: [BinOp; 15] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::Eq,
    BinOp::NotEq,
    BinOp::Less,
    BinOp::LessEq,
    BinOp::Greater,
    BinOp::GreaterEq,
    BinOp::And,
    BinOp::Or,
    BinOp::Implies,
    BinOp::Update,
    BinOp::Concat,
];

impl<'a> Encoder<'a> {
    /// Encodes `expr`, bound from source while interning `interned` (in
    /// order, with repeats).
    pub fn file(
        interner: &'a Interner,
        globals: &'a FxHashMap<usize, NixStr>,
        interned: &[Sym],
        expr: &Expr,
    ) -> Option<Vec<u8>> {
        let mut enc = Encoder {
            out: Vec::new(),
            syms: FxHashMap::default(),
            globals,
            depth: 0,
        };
        let mut table = Vec::new();
        for s in interned {
            if !enc.syms.contains_key(s) {
                enc.syms.insert(*s, table.len() as u32);
                table.push(*s);
            }
        }
        enc.u(table.len() as u64);
        for s in &table {
            put_str(&mut enc.out, interner.name(*s));
        }
        enc.expr(expr)?;
        Some(enc.out)
    }

    fn u(&mut self, v: u64) {
        put_varint(&mut self.out, v);
    }

    fn tag(&mut self, t: u8) {
        self.out.push(t);
    }

    /// A symbol: its place in the entry's names. One binding did not
    /// intern cannot be numbered as binding would: not stored.
    fn sym(&mut self, s: Sym) -> Option<()> {
        // Binding interns every name its tree holds; a file left out here
        // would be bound from source on every run.
        debug_assert!(
            self.syms.contains_key(&s),
            "a symbol binding did not intern"
        );
        let n = *self.syms.get(&s)?;
        self.u(u64::from(n));
        Some(())
    }

    fn span(&mut self, s: &Span) {
        self.u(u64::from(s.start));
        self.u(u64::from(s.end));
    }

    /// A yes/no, read back by the decoder's `flag`.
    fn flag(&mut self, b: bool) {
        self.out.push(u8::from(b));
    }

    fn opt(&mut self, e: &Option<Rc<Expr>>) -> Option<()> {
        self.flag(e.is_some());
        e.as_ref().map_or(Some(()), |e| self.expr(e))
    }

    fn exprs(&mut self, es: &[Rc<Expr>]) -> Option<()> {
        self.u(es.len() as u64);
        es.iter().try_for_each(|e| self.expr(e))
    }

    fn keys(&mut self, path: &[AttrKey]) -> Option<()> {
        self.u(path.len() as u64);
        for k in path {
            match k {
                AttrKey::Static(s) => {
                    self.flag(false);
                    self.sym(*s)?;
                }
                AttrKey::Dynamic(e) => {
                    self.flag(true);
                    self.expr(e)?;
                }
            }
        }
        Some(())
    }

    fn binding(&mut self, b: &Binding) -> Option<()> {
        self.flag(b.outer);
        self.expr(&b.expr)
    }

    fn value(&mut self, v: &Value) -> Option<()> {
        if let Some(name) = rc_ptr(v).and_then(|p| self.globals.get(&p)) {
            self.tag(ValueTag::Global as u8);
            put_str(&mut self.out, name);
            return Some(());
        }
        match v {
            Value::Null => self.tag(ValueTag::Null as u8),
            Value::Bool(false) => self.tag(ValueTag::False as u8),
            Value::Bool(true) => self.tag(ValueTag::True as u8),
            Value::Int(n) => {
                self.tag(ValueTag::Int as u8);
                self.u(((n << 1) ^ (n >> 63)) as u64);
            }
            Value::Float(x) => {
                self.tag(ValueTag::Float as u8);
                self.out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Value::String(s) => {
                self.tag(ValueTag::String as u8);
                put_str(&mut self.out, s);
            }
            Value::Path(s) => {
                self.tag(ValueTag::Path as u8);
                put_str(&mut self.out, s);
            }
            Value::Attrs(a) => {
                self.tag(ValueTag::Attrs as u8);
                self.u(a.len() as u64);
                for (k, v) in a.iter() {
                    self.sym(*k)?;
                    self.value(v)?;
                }
            }
            _ => return None,
        }
        Some(())
    }

    fn expr(&mut self, e: &Expr) -> Option<()> {
        // Deeper than the reader accepts: not stored.
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.tag(ExprTag::of(e) as u8);
        self.expr_fields(e)?;
        self.depth -= 1;
        Some(())
    }

    /// What follows a node's tag.
    fn expr_fields(&mut self, e: &Expr) -> Option<()> {
        match e {
            Expr::Const(v) => self.value(v),
            Expr::Var { up, idx } => {
                self.u(u64::from(*up));
                self.u(u64::from(*idx));
                Some(())
            }
            Expr::WithVar { name, withs, span } => self.with_var(*name, withs, span),
            Expr::Attrs(def) => self.attrs(def),
            Expr::Let { binds, body } => {
                self.u(binds.len() as u64);
                binds.iter().try_for_each(|b| self.binding(b))?;
                self.expr(body)
            }
            Expr::List(items) => self.exprs(items),
            Expr::Lambda(def) => self.lambda(def),
            Expr::Apply { func, arg, span } => {
                self.expr(func)?;
                self.expr(arg)?;
                self.span(span);
                Some(())
            }
            Expr::Select {
                expr,
                path,
                default,
                span,
            } => {
                self.expr(expr)?;
                self.keys(path)?;
                self.opt(default)?;
                self.span(span);
                Some(())
            }
            Expr::HasAttr { expr, path } => {
                self.expr(expr)?;
                self.keys(path)
            }
            Expr::If {
                cond,
                then,
                otherwise,
                span,
            } => {
                self.expr(cond)?;
                self.expr(then)?;
                self.expr(otherwise)?;
                self.span(span);
                Some(())
            }
            Expr::Assert {
                cond,
                body,
                text,
                span,
            } => {
                self.expr(cond)?;
                self.expr(body)?;
                put_str(&mut self.out, text);
                self.span(span);
                Some(())
            }
            Expr::With { attrs, body } => {
                self.expr(attrs)?;
                self.expr(body)
            }
            Expr::Bin { op, lhs, rhs, span } => {
                self.tag(BIN_OPS.iter().position(|o| o == op)? as u8);
                self.expr(lhs)?;
                self.expr(rhs)?;
                self.span(span);
                Some(())
            }
            Expr::Not(e, span) | Expr::Neg(e, span) => {
                self.expr(e)?;
                self.span(span);
                Some(())
            }
            Expr::Interpolate { parts, span } | Expr::PathInterpolate { parts, span } => {
                self.exprs(parts)?;
                self.span(span);
                Some(())
            }
            Expr::Fail(kind, span) => {
                self.failure(kind)?;
                self.span(span);
                Some(())
            }
        }
    }

    fn with_var(&mut self, name: Sym, withs: &[u32], span: &Span) -> Option<()> {
        self.sym(name)?;
        self.u(withs.len() as u64);
        for w in withs {
            self.u(u64::from(*w));
        }
        self.span(span);
        Some(())
    }

    fn attrs(&mut self, def: &AttrsDef) -> Option<()> {
        self.flag(def.rec);
        self.u(def.statics.len() as u64);
        for (s, b) in &def.statics {
            self.sym(*s)?;
            self.binding(b)?;
        }
        self.u(def.dynamics.len() as u64);
        for d in &def.dynamics {
            self.expr(&d.key)?;
            self.expr(&d.value)?;
            self.span(&d.span);
        }
        Some(())
    }

    fn lambda(&mut self, def: &LambdaDef) -> Option<()> {
        self.param(&def.param)?;
        self.flag(def.arg_name.is_some());
        if let Some(s) = def.arg_name {
            self.sym(s)?;
        }
        self.expr(&def.body)?;
        self.span(&def.span);
        self.flag(def.param_always_forced);
        Some(())
    }

    fn param(&mut self, param: &Param) -> Option<()> {
        let Param::Pattern {
            formals,
            ellipsis,
            bind,
        } = param
        else {
            self.tag(ParamTag::Ident as u8);
            return Some(());
        };
        self.tag(ParamTag::pattern(*ellipsis, *bind) as u8);
        self.u(formals.len() as u64);
        for f in formals.iter() {
            self.sym(f.name)?;
            self.opt(&f.default)?;
        }
        Some(())
    }

    fn failure(&mut self, kind: &ErrorKind) -> Option<()> {
        match kind {
            ErrorKind::Unsupported { what } => {
                self.tag(FailTag::Unsupported as u8);
                put_str(&mut self.out, what);
            }
            ErrorKind::Forbidden { what, help } => {
                self.tag(FailTag::Forbidden as u8);
                put_str(&mut self.out, what);
                put_str(&mut self.out, help);
            }
            _ => return None,
        }
        Some(())
    }
}

// ------------------------------------------------------------------ decoding

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }

    fn len(&mut self) -> Option<usize> {
        let n = self.varint()? as usize;
        // Every element takes at least one byte: a bound for allocations.
        (n <= self.data.len() - self.pos).then_some(n)
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn str(&mut self) -> Option<&str> {
        let n = self.len()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    fn key(&mut self) -> Option<Key> {
        self.bytes(32).map(|b| b.try_into().expect("32 bytes"))
    }
}

/// A frame of the environment at a point of the tree, to check every
/// variable's `up`/`idx` against: a tree read back never indexes outside
/// the environment evaluation builds.
#[derive(Clone, Copy)]
enum Frame {
    /// A `let`, `rec` set, function or the host's scope, with its slots.
    Static(u32),
    With,
}

/// Reads one bound file back; `None` if the bytes are not a well-formed
/// tree (then the file is bound from source).
pub(crate) struct Decoder<'a> {
    r: Reader<'a>,
    syms: Vec<Sym>,
    interner: &'a mut Interner,
    globals: &'a FxHashMap<Sym, Value>,
    file: FileId,
    text_len: u32,
    depth: u32,
    frames: Vec<Frame>,
}

impl<'a> Decoder<'a> {
    /// A reader of `data`, bound as file `file` of `text_len` bytes, in a
    /// root environment of `outer` slots (the host's scope).
    pub fn new(
        data: &'a [u8],
        interner: &'a mut Interner,
        globals: &'a FxHashMap<Sym, Value>,
        file: FileId,
        text_len: u32,
        outer: u32,
    ) -> Self {
        Decoder {
            r: Reader { data, pos: 0 },
            syms: Vec::new(),
            interner,
            globals,
            file,
            text_len,
            depth: 0,
            frames: vec![Frame::Static(outer)],
        }
    }

    /// The whole file's tree; the bytes must end with it. Names interned
    /// for a tree that is then refused are forgotten, so that numbering goes
    /// on as without the pack.
    pub fn file(mut self) -> Option<Rc<Expr>> {
        let known = self.interner.len();
        let tree = self.names_and_tree();
        if tree.is_none() {
            self.interner.truncate(known);
        }
        tree
    }

    fn names_and_tree(&mut self) -> Option<Rc<Expr>> {
        let n = self.r.len()?;
        self.syms.reserve(n);
        for _ in 0..n {
            let name = self.r.str()?;
            let sym = self.interner.intern(name);
            self.syms.push(sym);
        }
        let e = self.expr()?;
        (self.r.pos == self.r.data.len()).then_some(e)
    }

    fn sym(&mut self) -> Option<Sym> {
        let n = usize::try_from(self.r.varint()?).ok()?;
        self.syms.get(n).copied()
    }

    /// Reads with `frame` pushed (the body of a `let`, function...).
    fn within<T>(&mut self, frame: Frame, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.frames.push(frame);
        let out = read(self);
        self.frames.pop();
        out
    }

    /// The frame `up` levels out.
    fn frame(&self, up: u32) -> Option<Frame> {
        let at = self
            .frames
            .len()
            .checked_sub(1 + usize::try_from(up).ok()?)?;
        Some(self.frames[at])
    }

    fn span(&mut self) -> Option<Span> {
        let start = self.r.u32()?;
        let end = self.r.u32()?;
        (start <= end && end <= self.text_len).then_some(Span {
            file: self.file,
            start,
            end,
        })
    }

    fn flag(&mut self) -> Option<bool> {
        match self.r.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn nix_str(&mut self) -> Option<NixStr> {
        self.r.str().map(NixStr::from)
    }

    fn opt(&mut self) -> Option<Option<Rc<Expr>>> {
        Some(match self.flag()? {
            false => None,
            true => Some(self.expr()?),
        })
    }

    fn exprs(&mut self) -> Option<Box<[Rc<Expr>]>> {
        let n = self.r.len()?;
        (0..n).map(|_| self.expr()).collect()
    }

    fn keys(&mut self) -> Option<Box<[AttrKey]>> {
        let n = self.r.len()?;
        (0..n)
            .map(|_| {
                Some(match self.flag()? {
                    false => AttrKey::Static(self.sym()?),
                    true => AttrKey::Dynamic(self.expr()?),
                })
            })
            .collect()
    }

    /// A binding of a `let` or set whose own frame is `inner` (`None`: a
    /// non-recursive set, whose values are all in the enclosing frame).
    fn binding(&mut self, inner: Option<Frame>) -> Option<Binding> {
        let outer = self.flag()?;
        let expr = match inner {
            Some(frame) if !outer => self.within(frame, Self::expr)?,
            _ => self.expr()?,
        };
        Some(Binding { expr, outer })
    }

    fn value(&mut self) -> Option<Value> {
        Some(match ValueTag::from_byte(self.r.byte()?)? {
            ValueTag::Null => Value::Null,
            ValueTag::False => Value::Bool(false),
            ValueTag::True => Value::Bool(true),
            ValueTag::Int => {
                let z = self.r.varint()?;
                Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            ValueTag::Float => {
                let b = self.r.bytes(8)?;
                Value::Float(f64::from_bits(u64::from_le_bytes(b.try_into().ok()?)))
            }
            ValueTag::String => Value::String(self.nix_str()?),
            ValueTag::Path => Value::Path(self.nix_str()?),
            ValueTag::Attrs => self.attrs_value()?,
            ValueTag::Global => {
                let name = self.interner.lookup(self.r.str()?)?;
                self.globals.get(&name)?.clone()
            }
        })
    }

    fn attrs_value(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let n = self.r.len()?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.sym()?;
            entries.push((k, self.value()?));
        }
        self.depth -= 1;
        Some(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
    }

    fn expr(&mut self) -> Option<Rc<Expr>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let e = self.expr_fields();
        self.depth -= 1;
        e.map(Rc::new)
    }

    /// A node: its tag, then what follows it.
    fn expr_fields(&mut self) -> Option<Expr> {
        Some(match ExprTag::from_byte(self.r.byte()?)? {
            ExprTag::Const => Expr::Const(self.value()?),
            ExprTag::Var => self.var()?,
            ExprTag::WithVar => self.with_var()?,
            ExprTag::Attrs => Expr::Attrs(Box::new(self.attrs()?)),
            ExprTag::Let => self.let_in()?,
            ExprTag::List => Expr::List(self.exprs()?),
            ExprTag::Lambda => Expr::Lambda(Rc::new(self.lambda()?)),
            ExprTag::Apply => Expr::Apply {
                func: self.expr()?,
                arg: self.expr()?,
                span: self.span()?,
            },
            ExprTag::Select => Expr::Select {
                expr: self.expr()?,
                path: self.keys()?,
                default: self.opt()?,
                span: self.span()?,
            },
            ExprTag::HasAttr => Expr::HasAttr {
                expr: self.expr()?,
                path: self.keys()?,
            },
            ExprTag::If => Expr::If {
                cond: self.expr()?,
                then: self.expr()?,
                otherwise: self.expr()?,
                span: self.span()?,
            },
            ExprTag::Assert => Expr::Assert {
                cond: self.expr()?,
                body: self.expr()?,
                text: self.nix_str()?,
                span: self.span()?,
            },
            ExprTag::With => Expr::With {
                attrs: self.expr()?,
                body: self.within(Frame::With, Self::expr)?,
            },
            ExprTag::Bin => Expr::Bin {
                op: *BIN_OPS.get(usize::from(self.r.byte()?))?,
                lhs: self.expr()?,
                rhs: self.expr()?,
                span: self.span()?,
            },
            ExprTag::Not => Expr::Not(self.expr()?, self.span()?),
            ExprTag::Neg => Expr::Neg(self.expr()?, self.span()?),
            ExprTag::Interpolate => Expr::Interpolate {
                parts: self.exprs()?,
                span: self.span()?,
            },
            ExprTag::PathInterpolate => Expr::PathInterpolate {
                parts: self.exprs()?,
                span: self.span()?,
            },
            ExprTag::Fail => Expr::Fail(self.failure()?, self.span()?),
        })
    }

    /// A variable, which must be a slot of its frame.
    fn var(&mut self) -> Option<Expr> {
        let up = self.r.u32()?;
        let idx = self.r.u32()?;
        match self.frame(up)? {
            Frame::Static(slots) if idx < slots => Some(Expr::Var { up, idx }),
            _ => None,
        }
    }

    /// A name from `with` scopes, each of which must be a `with` frame.
    fn with_var(&mut self) -> Option<Expr> {
        let name = self.sym()?;
        let n = self.r.len()?;
        let withs = (0..n)
            .map(|_| {
                let up = self.r.u32()?;
                matches!(self.frame(up)?, Frame::With).then_some(up)
            })
            .collect::<Option<_>>()?;
        Some(Expr::WithVar {
            name,
            withs,
            span: self.span()?,
        })
    }

    fn attrs(&mut self) -> Option<AttrsDef> {
        let rec = self.flag()?;
        let n = self.r.len()?;
        let inner = rec.then_some(Frame::Static(u32::try_from(n).ok()?));
        let mut statics = Vec::with_capacity(n);
        for _ in 0..n {
            let s = self.sym()?;
            statics.push((s, self.binding(inner)?));
        }
        order_statics(rec, &mut statics)?;
        let n = self.r.len()?;
        let mut dynamics = Vec::with_capacity(n);
        for _ in 0..n {
            dynamics.push(match inner {
                Some(frame) => self.within(frame, Self::dynamic_attr)?,
                None => self.dynamic_attr()?,
            });
        }
        Some(AttrsDef {
            rec,
            statics,
            dynamics,
        })
    }

    fn dynamic_attr(&mut self) -> Option<DynamicAttr> {
        Some(DynamicAttr {
            key: self.expr()?,
            value: self.expr()?,
            span: self.span()?,
        })
    }

    fn let_in(&mut self) -> Option<Expr> {
        let n = self.r.len()?;
        let frame = Frame::Static(u32::try_from(n).ok()?);
        let binds = (0..n)
            .map(|_| self.binding(Some(frame)))
            .collect::<Option<_>>()?;
        Some(Expr::Let {
            binds,
            body: self.within(frame, Self::expr)?,
        })
    }

    fn lambda(&mut self) -> Option<LambdaDef> {
        let (param, frame) = self.param()?;
        let arg_name = match self.flag()? {
            false => None,
            true => Some(self.sym()?),
        };
        Some(LambdaDef {
            param,
            arg_name,
            body: self.within(frame, Self::expr)?,
            span: self.span()?,
            param_always_forced: self.flag()?,
        })
    }

    /// A function's parameter and the frame its body runs in.
    fn param(&mut self) -> Option<(Param, Frame)> {
        let Some((ellipsis, bind)) = ParamTag::from_byte(self.r.byte()?)?.pattern_flags() else {
            return Some((Param::Ident, Frame::Static(1)));
        };
        let n = self.r.len()?;
        let frame = Frame::Static(u32::try_from(n + usize::from(bind)).ok()?);
        let mut formals = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.sym()?;
            formals.push(Formal {
                name,
                default: self.within(frame, Self::opt)?,
            });
        }
        let pattern = Param::Pattern {
            formals: formals.into(),
            ellipsis,
            bind,
        };
        Some((pattern, frame))
    }

    fn failure(&mut self) -> Option<ErrorKind> {
        Some(match FailTag::from_byte(self.r.byte()?)? {
            FailTag::Unsupported => ErrorKind::Unsupported {
                what: self.r.str()?.to_string(),
            },
            FailTag::Forbidden => ErrorKind::Forbidden {
                what: self.r.str()?.to_string(),
                help: self.r.str()?.to_string(),
            },
        })
    }
}

/// Puts a set's static attributes in the order evaluation expects, refusing
/// a repeated name. A recursive set's order is its slots' (evaluation sorts
/// its entries); names interned by earlier files may compare otherwise than
/// when the pack was written, so a non-recursive set is sorted again.
fn order_statics(rec: bool, statics: &mut [(Sym, Binding)]) -> Option<()> {
    fn unique(sorted: impl Iterator<Item = Sym>) -> bool {
        let mut last = None;
        sorted.into_iter().all(|s| last.replace(s) != Some(s))
    }
    let distinct = if rec {
        let mut names: Vec<Sym> = statics.iter().map(|e| e.0).collect();
        names.sort_unstable();
        unique(names.into_iter())
    } else {
        statics.sort_by_key(|e| e.0);
        unique(statics.iter().map(|e| e.0))
    };
    distinct.then_some(())
}

// ------------------------------------------------------------ the evaluator

/// The evaluator's side of a pack: what it read from it and what it added.
pub(crate) struct CompiledState {
    files: std::sync::Arc<CompiledFiles>,
    added: Vec<(Key, Key, Vec<u8>)>,
    used: FxHashSet<Key>,
    /// Hash of the global names and scalar values, the policy and the home
    /// directory; `None` once any of them changed.
    context: Option<Key>,
    /// Global values behind an `Rc`, by pointer; `None` once globals changed.
    global_ptrs: Option<FxHashMap<usize, NixStr>>,
    stats: CompiledStats,
}

/// How a pack served an evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompiledStats {
    /// Files bound from the pack.
    pub hits: usize,
    /// Files bound from source while a pack was in use.
    pub misses: usize,
    /// Of those, the ones that can be stored in the next pack.
    pub stored: usize,
    /// Files in the pack in use.
    pub in_pack: usize,
}

impl crate::Evaluator {
    /// Binds files from `files` when it holds them (same text, name and
    /// scope), and keeps the files bound from source for
    /// [`Self::compiled_pack`].
    pub fn use_compiled(&mut self, files: std::sync::Arc<CompiledFiles>) {
        let in_pack = files.len();
        self.compiled = Some(CompiledState {
            files,
            added: Vec::new(),
            used: FxHashSet::default(),
            context: None,
            global_ptrs: None,
            stats: CompiledStats {
                in_pack,
                ..CompiledStats::default()
            },
        });
    }

    /// How the pack in use served this evaluator so far.
    pub fn compiled_stats(&self) -> Option<CompiledStats> {
        self.compiled.as_ref().map(|c| c.stats)
    }

    /// A pack of the files bound so far, to hand to a later run's
    /// [`CompiledFiles::load`]: the new ones and those read from the pack in
    /// use, plus (with `keep_unused`) the pack's others. `None` when there
    /// is no pack in use, nothing would change, or this build cannot
    /// identify itself.
    pub fn compiled_pack(&self, keep_unused: bool) -> Option<Vec<u8>> {
        let c = self.compiled.as_ref()?;
        let drops = !keep_unused && c.used.len() < c.files.len();
        if c.added.is_empty() && !drops {
            return None;
        }
        c.files.write(&c.added, &c.used, keep_unused)
    }

    /// Marks the pack's context stale: the globals, policy or home
    /// directory changed.
    pub(crate) fn compiled_context_changed(&mut self) {
        if let Some(c) = &mut self.compiled {
            c.context = None;
            c.global_ptrs = None;
        }
    }

    fn compiled_context(&mut self) -> Key {
        if let Some(k) = self.compiled.as_ref().and_then(|c| c.context) {
            return k;
        }
        let mut h = blake3::Hasher::new();
        let mut globals: Vec<(&str, &Value)> = self
            .globals
            .iter()
            .map(|(s, v)| (&**self.interner.name(*s), v))
            .collect();
        globals.sort_by(|a, b| a.0.cmp(b.0));
        let field = |h: &mut blake3::Hasher, b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(&mut h, b"globals");
        // A global behind an `Rc` is stored by the first (sorted) of the
        // names sharing its value (`map` and `__map`), so which names share
        // a value is part of the context.
        let mut first_name: FxHashMap<usize, &str> = FxHashMap::default();
        for (name, v) in &globals {
            if let Some(p) = rc_ptr(v) {
                first_name.entry(p).or_insert(name);
            }
        }
        for (name, v) in &globals {
            field(&mut h, name.as_bytes());
            // Scalars are stored as literals; anything else by name.
            match v {
                Value::Null => field(&mut h, b"null"),
                Value::Bool(b) => field(&mut h, if *b { b"true" } else { b"false" }),
                Value::Int(n) => field(&mut h, format!("int {n}").as_bytes()),
                Value::Float(x) => field(&mut h, format!("float {}", x.to_bits()).as_bytes()),
                Value::String(s) => field(&mut h, format!("string {s}").as_bytes()),
                Value::Path(s) => field(&mut h, format!("path {s}").as_bytes()),
                other => {
                    let first = rc_ptr(other).and_then(|p| first_name.get(&p));
                    field(
                        &mut h,
                        format!("linked {}", first.unwrap_or(&"")).as_bytes(),
                    )
                }
            }
        }
        field(&mut h, format!("policy {:?}", self.policy).as_bytes());
        field(&mut h, format!("home {:?}", self.home_dir).as_bytes());
        let key = *h.finalize().as_bytes();
        if let Some(c) = &mut self.compiled {
            c.context = Some(key);
        }
        key
    }

    /// The entry key of a file about to be bound.
    pub(crate) fn compiled_key(
        &mut self,
        name: &str,
        text: &str,
        base_dir: &str,
        scope: Option<&FxHashMap<Sym, u32>>,
    ) -> Key {
        let context = self.compiled_context();
        let mut h = blake3::Hasher::new();
        let mut field = |b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(&context);
        field(name.as_bytes());
        field(base_dir.as_bytes());
        match scope {
            None => field(b"no scope"),
            Some(scope) => {
                let mut names: Vec<(u32, Sym)> = scope.iter().map(|(s, i)| (*i, *s)).collect();
                names.sort_unstable();
                field(format!("scope {}", names.len()).as_bytes());
                for (i, s) in names {
                    field(&i.to_le_bytes());
                    field(self.interner.name(s).as_bytes());
                }
            }
        }
        field(&text_hash(text));
        *h.finalize().as_bytes()
    }

    /// The file `key` from the pack, bound as file `file` in a root
    /// environment of `outer` slots.
    pub(crate) fn compiled_lookup(
        &mut self,
        key: &Key,
        file: FileId,
        text_len: usize,
        outer: usize,
    ) -> Option<Rc<Expr>> {
        let c = self.compiled.as_mut()?;
        let files = c.files.clone();
        let decoded = match (
            files.entry(key),
            u32::try_from(text_len),
            u32::try_from(outer),
        ) {
            (Some(bytes), Ok(text_len), Ok(outer)) => Decoder::new(
                bytes,
                &mut self.interner,
                &self.globals,
                file,
                text_len,
                outer,
            )
            .file(),
            _ => None,
        };
        let c = self.compiled.as_mut()?;
        match decoded {
            Some(e) => {
                c.stats.hits += 1;
                c.used.insert(*key);
                Some(e)
            }
            None => {
                c.stats.misses += 1;
                None
            }
        }
    }

    /// Keeps a file just bound from source, interning `interned`, for the
    /// next pack.
    pub(crate) fn compiled_store(&mut self, key: Key, text: &str, interned: &[Sym], expr: &Expr) {
        let Some(c) = self.compiled.as_mut() else {
            return;
        };
        if c.global_ptrs.is_none() {
            // Each shared value under the first of its names, as
            // `compiled_context` hashes it.
            let mut ptrs: FxHashMap<usize, NixStr> = FxHashMap::default();
            for (s, v) in &self.globals {
                if let Some(p) = rc_ptr(v) {
                    let name = self.interner.name(*s);
                    ptrs.entry(p)
                        .and_modify(|first| {
                            if name < first {
                                *first = name.clone();
                            }
                        })
                        .or_insert_with(|| name.clone());
                }
            }
            c.global_ptrs = Some(ptrs);
        }
        let ptrs = c.global_ptrs.as_ref().expect("just set");
        if let Some(tree) = Encoder::file(&self.interner, ptrs, interned, expr) {
            c.added.push((key, text_hash(text), tree));
            c.stats.stored += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{Evaluator, Limits, NoFileSystem};

    fn evaluator() -> Evaluator {
        Evaluator::new(Box::new(NoFileSystem), Limits::default())
    }

    fn eval(ev: &mut Evaluator, text: &str) -> String {
        match ev
            .eval_source("f.nix", text, "/d")
            .and_then(|v| ev.force_deep(&v))
            .and_then(|v| ev.print(&v))
        {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        }
    }

    /// Evaluates `text` once binding it from source into a new pack, then
    /// again in a fresh evaluator (whose symbols are first numbered by
    /// `warm_up`) binding it from that pack; returns both results.
    fn twice(text: &str, warm_up: &str) -> (String, String) {
        let mut first = evaluator();
        first.use_compiled(Arc::new(CompiledFiles::empty()));
        let a = eval(&mut first, text);
        let pack = CompiledFiles::load(first.compiled_pack(true).expect("bound a file"))
            .expect("reads back");
        let mut second = evaluator();
        eval(&mut second, warm_up);
        second.use_compiled(Arc::new(pack));
        let b = eval(&mut second, text);
        assert_eq!(
            second.compiled_stats().unwrap().hits,
            1,
            "bound from the pack"
        );
        (a, b)
    }

    #[test]
    fn sets_read_back_with_symbols_numbered_in_another_order() {
        let text = "let s = rec { b = 1; a = b + 1; c = { y = a; x = 2; }; __overrides = { b = 10; }; }; \
                    in [ s (s // { z = 0; }) (s.c ? x) (builtins.attrNames s) (map (x: x * 2) [ 1 2 ]) ]";
        // The second evaluator knows z, y, x, c, a, b in that order, the
        // reverse of the first's.
        let (a, b) = twice(text, "{ z = 0; y = 1; x = 2; c = 3; a = 4; b = 5; }");
        assert_eq!(
            a,
            "[ { __overrides = { b = 10; }; a = 11; b = 10; c = { x = 2; y = 11; }; } \
             { __overrides = «repeated»; a = 11; b = 10; c = «repeated»; z = 0; } \
             true [ \"__overrides\" \"a\" \"b\" \"c\" ] [ 2 4 ] ]"
        );
        assert_eq!(b, a);
    }

    /// `text`'s result in a fresh evaluator that first evaluates `history`
    /// (without a pack), then `text` with `pack` in use if given.
    fn after(history: &str, text: &str, pack: Option<Arc<CompiledFiles>>) -> (String, Evaluator) {
        let mut ev = evaluator();
        ev.eval_source("history.nix", history, "/d").unwrap();
        if let Some(pack) = pack {
            ev.use_compiled(pack);
        }
        (eval(&mut ev, text), ev)
    }

    /// Forcing walks sets in symbol order, so which of two errors surfaces
    /// depends on how symbols are numbered: read back from a pack, a file's
    /// names are numbered as binding it from source would number them,
    /// whatever ran before it when the pack was written.
    #[test]
    fn the_same_error_surfaces_from_a_pack() {
        let cases = [
            r#"let s = { qa.qx = 1; qb = 2; qa.qy = 3; }; in [ s { qy = throw "y"; qb = throw "b"; } ]"#,
            r#"let qb = 0; in builtins.listToAttrs [ { name = "qy"; value = throw "y"; } { name = "qb"; value = throw "b"; } ]"#,
            r#"let qb = 0; f = { qa }: qa; in f (builtins.listToAttrs [ { name = "qa"; value = 1; } { name = "qy"; value = 2; } { name = "qb"; value = 3; } ])"#,
            r#"rec { qy = throw "y"; qb = throw "b"; qc = qy; }"#,
        ];
        let histories = ["null", "{ qb = 1; qy = 2; }", "{ qy = 1; qb = 2; qx = 3; }"];
        for text in cases {
            for writer in histories {
                let (_, first) = after(writer, text, Some(Arc::new(CompiledFiles::empty())));
                let pack =
                    Arc::new(CompiledFiles::load(first.compiled_pack(true).unwrap()).unwrap());
                for reader in histories {
                    let (want, _) = after(reader, text, None);
                    let (got, ev) = after(reader, text, Some(pack.clone()));
                    assert_eq!(ev.compiled_stats().unwrap().hits, 1, "{text}");
                    assert_eq!(
                        got, want,
                        "{text}: written after {writer}, read after {reader}"
                    );
                }
            }
        }
    }

    /// A pack whose checksum holds but whose tree does not fit the
    /// environment (a variable outside its frame) is not used: no panic.
    #[test]
    fn a_tree_outside_its_environment_is_not_read_back() {
        let forged = |tree: &[u8], text: &str| {
            let key = {
                let mut probe = evaluator();
                probe.use_compiled(Arc::new(CompiledFiles::empty()));
                probe.compiled_key("f.nix", text, "/d", None)
            };
            let mut body = Vec::new();
            put_varint(&mut body, 1);
            body.extend_from_slice(&key);
            body.extend_from_slice(&text_hash(text));
            put_varint(&mut body, tree.len() as u64);
            body.extend_from_slice(tree);
            let mut pack = MAGIC.to_vec();
            pack.extend_from_slice(build_id().unwrap());
            pack.extend_from_slice(blake3::hash(&body).as_bytes());
            pack.extend_from_slice(&body);
            let mut ev = evaluator();
            ev.use_compiled(Arc::new(CompiledFiles::load(pack).unwrap()));
            let out = eval(&mut ev, text);
            // A refused tree's names are forgotten again.
            assert!(ev.interner.lookup("x").is_none());
            (out, ev.compiled_stats().unwrap().hits)
        };
        // No names; Var { up: 0, idx: 5 } at the root (no slots).
        assert_eq!(forged(&[0, 1, 0, 5], "1"), ("1".to_string(), 0));
        // `let` of one binding whose body reads slot 1.
        assert_eq!(
            forged(&[0, 4, 1, 0, 0, 3, 2, 1, 0, 1], "2"),
            ("2".to_string(), 0)
        );
        // The same with slot 0: well formed, read back (a `let` whose
        // binding is the constant 7), though the text says otherwise.
        assert_eq!(
            forged(&[0, 4, 1, 0, 0, 3, 14, 1, 0, 0], "2"),
            ("7".to_string(), 1)
        );
        // `with` frames must be `with` frames.
        assert_eq!(
            forged(&[1, 1, b'x', 2, 0, 1, 0, 0, 0], "3"),
            ("3".to_string(), 0)
        );
    }

    #[test]
    fn errors_read_back_with_their_spans() {
        let text = "let f = { a, b ? 2 }: a + b; in [ (f { a = 1; }) __curPos (assert 1 == 2; 0) ]";
        let mut first = evaluator();
        first.use_compiled(Arc::new(CompiledFiles::empty()));
        let e1 = first
            .eval_source("f.nix", text, "/d")
            .and_then(|v| first.force_deep(&v))
            .unwrap_err();
        let pack = CompiledFiles::load(first.compiled_pack(true).unwrap()).unwrap();
        let mut second = evaluator();
        second.use_compiled(Arc::new(pack));
        let e2 = second
            .eval_source("f.nix", text, "/d")
            .and_then(|v| second.force_deep(&v))
            .unwrap_err();
        assert_eq!(second.compiled_stats().unwrap().hits, 1);
        assert_eq!(e2.to_string(), e1.to_string());
        assert_eq!(e2.span().map(|s| s.range()), e1.span().map(|s| s.range()));
        assert!(e1.to_string().contains("assert"), "{e1}");
    }

    #[test]
    fn a_changed_scope_misses() {
        let mut first = evaluator();
        first.use_compiled(Arc::new(CompiledFiles::empty()));
        eval(&mut first, "x");
        assert_eq!(
            first.compiled_stats().unwrap().stored,
            0,
            "an error is not stored"
        );
        first.set_global("x", Value::Int(1));
        assert_eq!(eval(&mut first, "x + 1"), "2");
        let pack = Arc::new(CompiledFiles::load(first.compiled_pack(true).unwrap()).unwrap());
        let mut second = evaluator();
        second.use_compiled(pack.clone());
        second.set_global("x", Value::Int(5));
        assert_eq!(eval(&mut second, "x + 1"), "6", "x is another constant now");
        assert_eq!(second.compiled_stats().unwrap().hits, 0);
        second.set_global("x", Value::Int(1));
        assert_eq!(eval(&mut second, "x + 1"), "2");
        assert_eq!(second.compiled_stats().unwrap().hits, 1);
        // Same text under another name, or another directory: not the same
        // file (`__curPos`, relative paths).
        let mut third = evaluator();
        third.set_global("x", Value::Int(1));
        third.use_compiled(pack);
        third.eval_source("g.nix", "x + 1", "/d").unwrap();
        third.eval_source("f.nix", "x + 1", "/e").unwrap();
        assert_eq!(third.compiled_stats().unwrap().hits, 0);
    }

    #[test]
    fn damaged_and_foreign_packs_are_refused() {
        let mut ev = evaluator();
        ev.use_compiled(Arc::new(CompiledFiles::empty()));
        eval(&mut ev, "{ a = 1; }");
        let good = ev.compiled_pack(true).unwrap();
        assert_eq!(CompiledFiles::load(good.clone()).unwrap().len(), 1);
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(CompiledFiles::load(flipped).err(), Some(PackError::Damaged));
        let truncated = good[..good.len() - 3].to_vec();
        assert_eq!(
            CompiledFiles::load(truncated).err(),
            Some(PackError::Damaged)
        );
        let mut other = good.clone();
        other[MAGIC.len()] ^= 1;
        assert_eq!(
            CompiledFiles::load(other).err(),
            Some(PackError::OtherBuild)
        );
        assert_eq!(
            CompiledFiles::load(b"not a pack".to_vec()).err(),
            Some(PackError::NotAPack)
        );
        // A tree that does not decode (well-formed pack, damaged entry) is
        // bound from source instead.
        let mut body = Vec::new();
        put_varint(&mut body, 1);
        let key = {
            let mut probe = evaluator();
            probe.use_compiled(Arc::new(CompiledFiles::empty()));
            probe.compiled_key("f.nix", "{ a = 1; }", "/d", None)
        };
        body.extend_from_slice(&key);
        body.extend_from_slice(&text_hash("{ a = 1; }"));
        put_varint(&mut body, 2);
        body.extend_from_slice(&[99, 0]);
        let mut pack = MAGIC.to_vec();
        pack.extend_from_slice(build_id().unwrap());
        pack.extend_from_slice(blake3::hash(&body).as_bytes());
        pack.extend_from_slice(&body);
        let mut ev = evaluator();
        ev.use_compiled(Arc::new(CompiledFiles::load(pack).unwrap()));
        assert_eq!(eval(&mut ev, "{ a = 1; }"), "{ a = 1; }");
        assert_eq!(ev.compiled_stats().unwrap().hits, 0);
    }

    #[test]
    fn unused_entries_are_dropped_unless_kept() {
        let mut first = evaluator();
        first.use_compiled(Arc::new(CompiledFiles::empty()));
        eval(&mut first, "1");
        first.eval_source("g.nix", "2", "/d").unwrap();
        let pack = Arc::new(CompiledFiles::load(first.compiled_pack(true).unwrap()).unwrap());
        assert_eq!(pack.len(), 2);
        let mut second = evaluator();
        second.use_compiled(pack);
        eval(&mut second, "1");
        assert!(second.compiled_pack(true).is_none(), "nothing new");
        let dropped = CompiledFiles::load(second.compiled_pack(false).unwrap()).unwrap();
        assert_eq!(dropped.len(), 1);
        assert!(dropped.may_hold("1") && !dropped.may_hold("2"));
    }
}
