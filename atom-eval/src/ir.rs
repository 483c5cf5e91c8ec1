//! The internal form evaluation runs on. Names are already resolved: a
//! variable is "slot `idx` of the environment `up` frames out", except names
//! that can only come from a `with`, which are looked up by symbol at run
//! time in the enclosing `with` frames.

use std::rc::Rc;

use crate::error::{ErrorKind, Span};
use crate::value::{NixStr, Sym, Value};

pub(crate) enum Expr {
    Const(Value),
    Var {
        up: u32,
        idx: u32,
    },
    WithVar {
        name: Sym,
        withs: Box<[u32]>,
        span: Span,
    },
    Attrs(Box<AttrsDef>),
    Let {
        binds: Box<[Binding]>,
        body: Rc<Expr>,
    },
    List(Box<[Rc<Expr>]>),
    Lambda(Rc<LambdaDef>),
    Apply {
        func: Rc<Expr>,
        arg: Rc<Expr>,
        span: Span,
    },
    Select {
        expr: Rc<Expr>,
        path: Box<[AttrKey]>,
        default: Option<Rc<Expr>>,
        span: Span,
    },
    HasAttr {
        expr: Rc<Expr>,
        path: Box<[AttrKey]>,
    },
    If {
        cond: Rc<Expr>,
        then: Rc<Expr>,
        otherwise: Rc<Expr>,
        span: Span,
    },
    Assert {
        cond: Rc<Expr>,
        body: Rc<Expr>,
        text: NixStr,
        span: Span,
    },
    With {
        attrs: Rc<Expr>,
        body: Rc<Expr>,
    },
    Bin {
        op: BinOp,
        lhs: Rc<Expr>,
        rhs: Rc<Expr>,
        span: Span,
    },
    Not(Rc<Expr>, Span),
    Neg(Rc<Expr>, Span),
    /// `"a${b}c"`: every part coerced to a string.
    Interpolate {
        parts: Box<[Rc<Expr>]>,
        span: Span,
    },
    /// `./a/${b}`: the first part is a path, the rest are appended to it.
    PathInterpolate {
        parts: Box<[Rc<Expr>]>,
        span: Span,
    },
    /// Valid syntax this evaluator refuses at run time (e.g. `<nixpkgs>`).
    Fail(ErrorKind, Span),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    And,
    Or,
    Implies,
    Update,
    Concat,
}

/// One binding of a `let` or `rec` set.
pub(crate) struct Binding {
    pub expr: Rc<Expr>,
    /// `inherit x;` inside `let`/`rec` refers to the enclosing scope, so its
    /// thunk is built in the parent environment.
    pub outer: bool,
}

pub(crate) struct AttrsDef {
    pub rec: bool,
    /// Sorted by symbol; for `rec` sets, entry `i` is also slot `i`.
    pub statics: Vec<(Sym, Binding)>,
    pub dynamics: Vec<DynamicAttr>,
}

pub(crate) struct DynamicAttr {
    pub key: Rc<Expr>,
    pub value: Rc<Expr>,
    pub span: Span,
}

pub(crate) enum AttrKey {
    Static(Sym),
    Dynamic(Rc<Expr>),
}

pub(crate) struct LambdaDef {
    pub param: Param,
    /// `x` in `x: ...` or `{ ... } @ x: ...`.
    pub arg_name: Option<Sym>,
    pub body: Rc<Expr>,
    pub span: Span,
}

pub(crate) enum Param {
    /// `x: body`: slot 0.
    Ident,
    /// `{ a, b ? d, ... } @ x: body`: formals in slots `0..n`, the `@` name
    /// (if any) in slot `n`.
    Pattern {
        formals: Box<[Formal]>,
        ellipsis: bool,
        bind: bool,
    },
}

pub(crate) struct Formal {
    pub name: Sym,
    pub default: Option<Rc<Expr>>,
}
