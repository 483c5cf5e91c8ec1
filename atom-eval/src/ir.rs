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
    /// `x: body` where every use of `x` forces it (an operand, a condition,
    /// the result...) and none stores it unforced (in a list, a set, a
    /// binding, an argument): whether the argument arrives as a thunk or as
    /// its value cannot be observed, not even by the non-strict printer.
    pub param_always_forced: bool,
}

/// Whether the variable `up` frames out, slot 0, is only ever forced in
/// `e` (see [`LambdaDef::param_always_forced`]).
pub(crate) fn only_forced(e: &Expr, up: u32) -> bool {
    // In a position whose value is stored unforced, the variable itself
    // must not appear; anything else there is evaluated later as usual.
    let stored = |e: &Expr, up: u32| -> bool {
        !matches!(e, Expr::Var { up: u, idx: 0 } if *u == up) && only_forced(e, up)
    };
    let key = |k: &AttrKey, up: u32| match k {
        AttrKey::Static(_) => true,
        AttrKey::Dynamic(e) => only_forced(e, up),
    };
    match e {
        Expr::Const(_) | Expr::Var { .. } | Expr::WithVar { .. } | Expr::Fail(..) => true,
        Expr::Attrs(def) => {
            let inner = if def.rec { up + 1 } else { up };
            def.statics
                .iter()
                .all(|(_, b)| stored(&b.expr, if b.outer { up } else { inner }))
                && def
                    .dynamics
                    .iter()
                    .all(|d| only_forced(&d.key, inner) && stored(&d.value, inner))
        }
        Expr::Let { binds, body } => {
            binds
                .iter()
                .all(|b| stored(&b.expr, if b.outer { up } else { up + 1 }))
                && only_forced(body, up + 1)
        }
        Expr::List(items) => items.iter().all(|i| stored(i, up)),
        Expr::Lambda(def) => {
            let formals_ok = match &def.param {
                Param::Ident => true,
                Param::Pattern { formals, .. } => formals
                    .iter()
                    .all(|f| f.default.as_ref().is_none_or(|d| stored(d, up + 1))),
            };
            formals_ok && only_forced(&def.body, up + 1)
        }
        Expr::Apply { func, arg, .. } => only_forced(func, up) && stored(arg, up),
        Expr::Select {
            expr,
            path,
            default,
            ..
        } => {
            only_forced(expr, up)
                && path.iter().all(|k| key(k, up))
                && default.as_ref().is_none_or(|d| only_forced(d, up))
        }
        Expr::HasAttr { expr, path } => only_forced(expr, up) && path.iter().all(|k| key(k, up)),
        Expr::If {
            cond,
            then,
            otherwise,
            ..
        } => only_forced(cond, up) && only_forced(then, up) && only_forced(otherwise, up),
        Expr::Assert { cond, body, .. } => only_forced(cond, up) && only_forced(body, up),
        Expr::With { attrs, body } => stored(attrs, up) && only_forced(body, up + 1),
        Expr::Bin { lhs, rhs, .. } => only_forced(lhs, up) && only_forced(rhs, up),
        Expr::Not(e, _) | Expr::Neg(e, _) => only_forced(e, up),
        Expr::Interpolate { parts, .. } | Expr::PathInterpolate { parts, .. } => {
            parts.iter().all(|p| only_forced(p, up))
        }
    }
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
