//! Lowering from rnix's syntax tree to [`crate::ir`], binding every name.
//!
//! This is where Nix's static errors happen, before any evaluation:
//! undefined variables, duplicate attributes, duplicate formals, and
//! dynamic attributes in `let`.

use std::rc::Rc;

use rnix::ast::{self, AstToken, HasEntry, InterpolPart};
use rnix::{SyntaxKind, TextRange};
use rowan::ast::AstNode;
use rustc_hash::FxHashMap;

use crate::error::{ErrorKind, EvalError, FileId, Result, Span};
use crate::ir::*;
use crate::path;
use crate::policy::BindPolicy;
use crate::value::{Attrs, Interner, Sym, Value};

/// What a file being lowered can see and where it lives.
pub(crate) struct LowerContext<'a> {
    pub interner: &'a mut Interner,
    pub globals: &'a FxHashMap<Sym, Value>,
    pub file: FileId,
    pub source: &'a str,
    pub file_name: &'a str,
    /// Directory relative path literals are resolved against.
    pub base_dir: &'a str,
    pub home_dir: Option<&'a str>,
    /// Names bound around the whole file, in the root environment.
    pub outer_scope: Option<FxHashMap<Sym, u32>>,
    /// What the host forbids, checked here so errors come before running.
    pub policy: Option<&'a BindPolicy>,
}

/// Names of one static scope and their slots.
type Names = FxHashMap<Sym, u32>;

enum Scope {
    Static(FxHashMap<Sym, u32>),
    With,
}

struct Binder<'a, 'c> {
    cx: &'c mut LowerContext<'a>,
    scopes: Vec<Scope>,
    /// Whether `scopes[0]` is the host's outer scope.
    has_outer: bool,
}

/// A parsed (not yet bound) source: the syntax tree, or the first syntax
/// error. Parsing needs no evaluator, so a host can do it on another thread
/// ([`crate::Evaluator::eval_parsed_scoped`] binds and evaluates it).
pub struct ParsedSource {
    /// A plain `str`, not the evaluator's string: a parsed source crosses
    /// threads, which evaluator values never do.
    pub(crate) text: Box<str>,
    /// `None`: not parsed yet (see [`ParsedSource::unparsed`]).
    pub(crate) outcome: Option<std::result::Result<rowan::GreenNode, (String, TextRange)>>,
}

impl ParsedSource {
    /// Parses `text`.
    pub fn parse(text: &str) -> ParsedSource {
        // Nix ends comments and lines at a lone CR too; rnix only at LF.
        // Same length, so spans stay right.
        let normalized;
        let source = if text.contains('\r') {
            normalized = normalize_cr(text);
            normalized.as_str()
        } else {
            text
        };
        let outcome = if let Some(offset) = too_deep(source) {
            Err((
                format!("the expression nests deeper than {MAX_NESTING} levels"),
                TextRange::new((offset as u32).into(), (offset as u32 + 1).into()),
            ))
        } else {
            let parse = rnix::Root::parse(source);
            match parse.errors().first() {
                Some(e) => Err(describe_parse_error(e, text)),
                None => Ok(parse.syntax().green().to_owned()),
            }
        };
        ParsedSource {
            text: text.into(),
            outcome: Some(outcome),
        }
    }

    /// `text`, not parsed: for a file the evaluator will likely find bound
    /// already ([`crate::CompiledFiles::may_hold`]); it is parsed when bound
    /// if not.
    pub fn unparsed(text: &str) -> ParsedSource {
        ParsedSource {
            text: text.into(),
            outcome: None,
        }
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Parses `source` and lowers it. Syntax errors carry their span.
pub(crate) fn lower_source(cx: &mut LowerContext<'_>) -> Result<Rc<Expr>> {
    let parsed = ParsedSource::parse(cx.source);
    lower_parsed(cx, &parsed)
}

/// Lowers an already parsed source (`cx.source` is its text).
pub(crate) fn lower_parsed(cx: &mut LowerContext<'_>, parsed: &ParsedSource) -> Result<Rc<Expr>> {
    if parsed.outcome.is_none() {
        return lower_source(cx);
    }
    let green = match parsed.outcome.as_ref().expect("checked") {
        Ok(g) => g.clone(),
        Err((message, range)) => {
            return Err(EvalError::new(
                ErrorKind::Syntax {
                    message: message.clone(),
                },
                Some(span_of(cx.file, *range)),
            ))
        }
    };
    let root = ast::Root::cast(rnix::SyntaxNode::new_root(green)).expect("parsed as a root");
    let expr = root.expr().ok_or_else(|| {
        EvalError::new(
            ErrorKind::Syntax {
                message: "the file holds no expression".into(),
            },
            Some(span_of(cx.file, TextRange::empty(0.into()))),
        )
    })?;
    let scopes: Vec<Scope> = cx
        .outer_scope
        .take()
        .map(Scope::Static)
        .into_iter()
        .collect();
    let has_outer = !scopes.is_empty();
    let mut binder = Binder {
        cx,
        scopes,
        has_outer,
    };
    binder.lower(expr)
}

/// Bracket nesting beyond this is refused before parsing: rowan's node
/// cache makes parsing quadratic in the nesting depth, and Nix's own parser
/// stops at a similar depth (bison's 10,000-entry stack).
const MAX_NESTING: usize = 10_000;

/// The offset where brackets (`( [ { ${`) first nest deeper than
/// [`MAX_NESTING`], skipping comments and the text of strings.
fn too_deep(source: &str) -> Option<usize> {
    let b = source.as_bytes();
    let (mut i, mut depth) = (0, 0usize);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Lone CRs become LFs; CRLF pairs are left for the string lowering.
fn normalize_cr(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    for (i, c) in source.char_indices() {
        if c == '\r' && bytes.get(i + 1) != Some(&b'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

/// A selection's base, attribute path and `or` default, in one pass over
/// its children.
fn select_parts(s: &ast::Select) -> (Option<ast::Expr>, Option<ast::Attrpath>, Option<ast::Expr>) {
    let (mut base, mut attrpath, mut default) = (None, None, None);
    for child in s.syntax().children() {
        if attrpath.is_none() {
            if let Some(p) = ast::Attrpath::cast(child.clone()) {
                attrpath = Some(p);
                continue;
            }
        }
        if let Some(e) = ast::Expr::cast(child) {
            if base.is_none() {
                base = Some(e);
            } else if default.is_none() {
                default = Some(e);
            }
        }
    }
    (base, attrpath, default)
}

fn span_of(file: FileId, range: TextRange) -> Span {
    Span {
        file,
        start: range.start().into(),
        end: range.end().into(),
    }
}

fn kind_name(kind: SyntaxKind) -> String {
    let name = format!("{kind:?}");
    let name = name
        .strip_prefix("TOKEN_")
        .or_else(|| name.strip_prefix("NODE_"))
        .unwrap_or(&name);
    name.to_lowercase().replace('_', " ")
}

fn describe_parse_error(e: &rnix::ParseError, source: &str) -> (String, TextRange) {
    // "End of file" points at the last character, so that it can be shown.
    let len = source.len();
    let last = source.char_indices().last().map_or(0, |(i, _)| i);
    use rnix::ParseError::*;
    let end = TextRange::new((last as u32).into(), (len as u32).into());
    match e {
        Unexpected(r) => ("unexpected token".into(), *r),
        UnexpectedExtra(r) => ("unexpected text after the expression".into(), *r),
        UnexpectedWanted(got, r, wanted) => {
            let wanted: Vec<String> = wanted.iter().map(|k| kind_name(*k)).collect();
            (
                format!(
                    "unexpected {}, expected {}",
                    kind_name(*got),
                    wanted.join(" or ")
                ),
                *r,
            )
        }
        UnexpectedDoubleBind(r) => ("a pattern is bound twice".into(), *r),
        UnexpectedEOF => ("unexpected end of file".into(), end),
        UnexpectedEOFWanted(wanted) => {
            let wanted: Vec<String> = wanted.iter().map(|k| kind_name(*k)).collect();
            (
                format!("unexpected end of file, expected {}", wanted.join(" or ")),
                end,
            )
        }
        DuplicatedArgs(r, name) => (format!("duplicate formal function argument '{name}'"), *r),
        RecursionLimitExceeded => ("the expression nests too deeply".into(), end),
        other => (other.to_string(), end),
    }
}

/// An attribute set (or `let`) being assembled from its attribute paths.
struct PreAttrs {
    rec: bool,
    statics: Vec<(Sym, PreVal, TextRange)>,
    /// Position of each of `statics` by name, built only for large sets
    /// (see [`PreAttrs::find`]) and extended as they grow.
    index: FxHashMap<Sym, usize>,
    dynamics: Vec<(ast::Attr, PreVal, TextRange)>,
}

enum PreVal {
    Expr(ast::Expr),
    Attrs(PreAttrs),
    /// `inherit x;`
    Inherit(Sym, TextRange),
    /// `inherit (from) x;`
    InheritFrom(ast::Expr, Sym, TextRange),
}

impl PreAttrs {
    fn new(rec: bool) -> Self {
        PreAttrs {
            rec,
            statics: Vec::new(),
            index: FxHashMap::default(),
            dynamics: Vec::new(),
        }
    }

    /// Where `sym` is among the statics: a scan while the set is small, as
    /// most are (cheaper than hashing into a map), a map beyond.
    fn find(&mut self, sym: Sym) -> Option<usize> {
        const SCAN: usize = 16;
        if self.statics.len() <= SCAN {
            return self.statics.iter().position(|s| s.0 == sym);
        }
        for i in self.index.len()..self.statics.len() {
            self.index.insert(self.statics[i].0, i);
        }
        self.index.get(&sym).copied()
    }
}

impl<'a, 'c> Binder<'a, 'c> {
    fn span(&self, range: TextRange) -> Span {
        span_of(self.cx.file, range)
    }

    fn error(&self, kind: ErrorKind, range: TextRange) -> EvalError {
        EvalError::new(kind, Some(self.span(range)))
    }

    fn name(&self, sym: Sym) -> String {
        self.cx.interner.name(sym).to_string()
    }

    fn resolve(&mut self, name: &str, range: TextRange) -> Result<Expr> {
        let sym = self.cx.interner.intern(name);
        let mut withs = Vec::new();
        for (up, scope) in self.scopes.iter().rev().enumerate() {
            match scope {
                Scope::Static(map) => {
                    if let Some(idx) = map.get(&sym) {
                        return Ok(Expr::Var {
                            up: up as u32,
                            idx: *idx,
                        });
                    }
                }
                Scope::With => withs.push(up as u32),
            }
        }
        if let Some((_, help)) = self.cx.policy.and_then(|p| p.forbidden_help(name)) {
            return Err(self.error(
                ErrorKind::Forbidden {
                    what: format!("`{name}`"),
                    help: help.to_string(),
                },
                range,
            ));
        }
        if let Some(v) = self.cx.globals.get(&sym) {
            return Ok(Expr::Const(v.clone()));
        }
        if withs.is_empty() {
            return Err(self.error(
                ErrorKind::UndefinedVariable {
                    name: name.to_string(),
                },
                range,
            ));
        }
        Ok(Expr::WithVar {
            name: sym,
            withs: withs.into(),
            span: self.span(range),
        })
    }

    /// Refuses `builtins.import` and the like: `base.attr` where `base` is a
    /// guarded set of the host (not a local variable of the same name) and
    /// `attr` a forbidden name.
    fn check_guarded(&mut self, base: &ast::Expr, attr: &ast::Attr) -> Result<()> {
        let Some(policy) = self.cx.policy else {
            return Ok(());
        };
        let ast::Expr::Ident(id) = base else {
            return Ok(());
        };
        let Some(token) = id.ident_token() else {
            return Ok(());
        };
        let set = token.text();
        if !policy.guarded_sets.iter().any(|g| g == set) {
            return Ok(());
        }
        let Some(name) = self.attr_static_name(attr) else {
            return Ok(());
        };
        let Some((_, help)) = policy.forbidden_help(&name) else {
            return Ok(());
        };
        if !self.is_host_name(set) {
            return Ok(());
        }
        Err(self.error(
            ErrorKind::Forbidden {
                what: format!("`{set}.{name}`"),
                help: help.to_string(),
            },
            attr.syntax().text_range(),
        ))
    }

    /// Whether `name` refers to the host's outer scope or a global, rather
    /// than to a binding of the file itself.
    fn is_host_name(&mut self, name: &str) -> bool {
        let sym = self.cx.interner.intern(name);
        let outer = usize::from(self.has_outer);
        for scope in self.scopes.iter().skip(outer) {
            if let Scope::Static(map) = scope {
                if map.contains_key(&sym) {
                    return false;
                }
            }
        }
        true
    }

    fn lower(&mut self, expr: ast::Expr) -> Result<Rc<Expr>> {
        Ok(Rc::new(self.lower_inner(expr)?))
    }

    fn opt(&mut self, expr: Option<ast::Expr>, parent: TextRange) -> Result<Rc<Expr>> {
        match expr {
            Some(e) => self.lower(e),
            None => Err(self.syntax_error("missing expression", parent)),
        }
    }

    fn lower_inner(&mut self, expr: ast::Expr) -> Result<Expr> {
        let range = expr.syntax().text_range();
        match expr {
            ast::Expr::Literal(lit) => self.lower_literal(lit, range),
            ast::Expr::Ident(id) => match id.ident_token() {
                Some(t) => self.resolve(t.text(), range),
                None => self.resolve("", range),
            },
            ast::Expr::Paren(p) => self.lower_required(p.expr(), range),
            ast::Expr::Root(r) => self.lower_required(r.expr(), range),
            ast::Expr::Str(s) => self.lower_str(s),
            ast::Expr::PathAbs(p) => self.lower_path(p.parts(), range, PathBase::Abs),
            ast::Expr::PathRel(p) => self.lower_path(p.parts(), range, PathBase::Rel),
            ast::Expr::PathHome(p) => self.lower_path(p.parts(), range, PathBase::Home),
            ast::Expr::PathSearch(p) => self.lower_search_path(p, range),
            ast::Expr::List(l) => {
                let items = l
                    .items()
                    .map(|e| self.lower(e))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Expr::List(items.into()))
            }
            ast::Expr::Lambda(l) => Ok(Expr::Lambda(Rc::new(self.lower_lambda(l)?))),
            ast::Expr::Apply(a) => self.lower_apply(a, range),
            ast::Expr::Assert(a) => self.lower_assert(a, range),
            ast::Expr::IfElse(i) => self.lower_if(i, range),
            ast::Expr::Select(s) => self.lower_select(s, range),
            ast::Expr::HasAttr(h) => Ok(Expr::HasAttr {
                expr: self.opt(h.expr(), range)?,
                path: self.lower_attrpath(h.attrpath(), range)?,
            }),
            ast::Expr::With(w) => self.lower_with(w, range),
            ast::Expr::UnaryOp(u) => self.lower_unary(u, range),
            ast::Expr::BinOp(b) => self.lower_binary(b, range),
            ast::Expr::AttrSet(set) => {
                let rec = set.rec_token().is_some();
                let pre = self.collect(&set, rec, false)?;
                Ok(Expr::Attrs(Box::new(self.lower_attrs(pre)?)))
            }
            ast::Expr::LetIn(l) => self.lower_let(l, range),
            ast::Expr::LegacyLet(l) => self.lower_legacy_let(l, range),
            ast::Expr::CurPos(_) => Ok(self.cur_pos(range)),
            ast::Expr::Error(_) => Err(self.syntax_error("unexpected token", range)),
        }
    }

    fn syntax_error(&self, message: impl Into<String>, range: TextRange) -> EvalError {
        let message = message.into();
        self.error(ErrorKind::Syntax { message }, range)
    }

    /// The expression inside parentheses (or a file), which must be there.
    fn lower_required(&mut self, inner: Option<ast::Expr>, range: TextRange) -> Result<Expr> {
        match inner {
            Some(inner) => self.lower_inner(inner),
            None => Err(self.syntax_error("missing expression", range)),
        }
    }

    fn lower_literal(&mut self, lit: ast::Literal, range: TextRange) -> Result<Expr> {
        let value = match lit.kind() {
            ast::LiteralKind::Integer(i) => Value::Int(i.value().map_err(|_| {
                self.syntax_error(format!("invalid integer '{}'", i.syntax().text()), range)
            })?),
            ast::LiteralKind::Float(f) => Value::Float(f.value().map_err(|_| {
                self.syntax_error(format!("invalid float '{}'", f.syntax().text()), range)
            })?),
            ast::LiteralKind::Uri(u) => Value::string(u.syntax().text()),
        };
        Ok(Expr::Const(value))
    }

    /// `<nixpkgs>`: refused at bind time under a policy that forbids it,
    /// otherwise an error when evaluated.
    fn lower_search_path(&mut self, p: ast::PathSearch, range: TextRange) -> Result<Expr> {
        let text = p
            .content()
            .map(|c| c.text().to_string())
            .unwrap_or_default();
        let what = format!("the search path {text}");
        if let Some(help) = self.cx.policy.and_then(|p| p.path_literals.as_ref()) {
            let help = help.search_path.clone();
            return Ok(Expr::Fail(
                ErrorKind::Forbidden { what, help },
                self.span(range),
            ));
        }
        Ok(Expr::Fail(
            ErrorKind::Unsupported { what },
            self.span(range),
        ))
    }

    fn lower_apply(&mut self, a: ast::Apply, range: TextRange) -> Result<Expr> {
        let [func, arg] = expr_children(a.syntax());
        Ok(Expr::Apply {
            func: self.opt(func, range)?,
            arg: self.opt(arg, range)?,
            span: self.span(range),
        })
    }

    fn lower_assert(&mut self, a: ast::Assert, range: TextRange) -> Result<Expr> {
        let [cond, body] = expr_children(a.syntax());
        let text = cond
            .as_ref()
            .map(|c| c.syntax().text().to_string())
            .unwrap_or_default();
        Ok(Expr::Assert {
            cond: self.opt(cond, range)?,
            body: self.opt(body, range)?,
            text: text.into(),
            span: self.span(range),
        })
    }

    fn lower_if(&mut self, i: ast::IfElse, range: TextRange) -> Result<Expr> {
        let [cond, then, otherwise] = expr_children(i.syntax());
        Ok(Expr::If {
            cond: self.opt(cond, range)?,
            then: self.opt(then, range)?,
            otherwise: self.opt(otherwise, range)?,
            span: self.span(range),
        })
    }

    fn lower_select(&mut self, s: ast::Select, range: TextRange) -> Result<Expr> {
        let (base, attrpath, default) = select_parts(&s);
        if let (Some(base), Some(first)) = (&base, attrpath.as_ref().and_then(|p| p.attrs().next()))
        {
            self.check_guarded(base, &first)?;
        }
        let inner = self.opt(base, range)?;
        let path = self.lower_attrpath(attrpath, range)?;
        let default = default.map(|d| self.lower(d)).transpose()?;
        Ok(Expr::Select {
            expr: inner,
            path,
            default,
            span: self.span(range),
        })
    }

    fn lower_with(&mut self, w: ast::With, range: TextRange) -> Result<Expr> {
        let attrs = self.opt(w.namespace(), range)?;
        self.scopes.push(Scope::With);
        let body = self.opt(w.body(), range);
        self.scopes.pop();
        Ok(Expr::With { attrs, body: body? })
    }

    fn lower_unary(&mut self, u: ast::UnaryOp, range: TextRange) -> Result<Expr> {
        let inner = self.opt(u.expr(), range)?;
        match u.operator() {
            Some(ast::UnaryOpKind::Invert) => Ok(Expr::Not(inner, self.span(range))),
            Some(ast::UnaryOpKind::Negate) => Ok(Expr::Neg(inner, self.span(range))),
            None => Err(self.syntax_error("unknown operator", range)),
        }
    }

    fn lower_binary(&mut self, b: ast::BinOp, range: TextRange) -> Result<Expr> {
        let op = self.bin_op(b.operator(), range)?;
        let [lhs, rhs] = expr_children(b.syntax());
        Ok(Expr::Bin {
            op,
            lhs: self.opt(lhs, range)?,
            rhs: self.opt(rhs, range)?,
            span: self.span(range),
        })
    }

    fn bin_op(&self, kind: Option<ast::BinOpKind>, range: TextRange) -> Result<BinOp> {
        use ast::BinOpKind as K;
        Ok(match kind {
            Some(K::Concat) => BinOp::Concat,
            Some(K::Update) => BinOp::Update,
            Some(K::Add) => BinOp::Add,
            Some(K::Sub) => BinOp::Sub,
            Some(K::Mul) => BinOp::Mul,
            Some(K::Div) => BinOp::Div,
            Some(K::And) => BinOp::And,
            Some(K::Or) => BinOp::Or,
            Some(K::Implication) => BinOp::Implies,
            Some(K::Equal) => BinOp::Eq,
            Some(K::NotEqual) => BinOp::NotEq,
            Some(K::Less) => BinOp::Less,
            Some(K::LessOrEq) => BinOp::LessEq,
            Some(K::More) => BinOp::Greater,
            Some(K::MoreOrEq) => BinOp::GreaterEq,
            Some(K::PipeLeft | K::PipeRight) => {
                let what = "the pipe operators `|>` and `<|`".into();
                return Err(self.error(ErrorKind::Unsupported { what }, range));
            }
            None => return Err(self.syntax_error("unknown operator", range)),
        })
    }

    fn lower_let(&mut self, l: ast::LetIn, range: TextRange) -> Result<Expr> {
        let pre = self.collect(&l, true, true)?;
        let (binds, names) = self.lower_let_binds(pre)?;
        self.scopes.push(Scope::Static(names));
        let body = self.opt(l.body(), range);
        self.scopes.pop();
        Ok(Expr::Let { binds, body: body? })
    }

    /// `let { ...; body = e; }` is `rec { ...; body = e; }.body`.
    fn lower_legacy_let(&mut self, l: ast::LegacyLet, range: TextRange) -> Result<Expr> {
        let pre = self.collect(&l, true, false)?;
        let attrs = Rc::new(Expr::Attrs(Box::new(self.lower_attrs(pre)?)));
        let body = self.cx.interner.intern("body");
        Ok(Expr::Select {
            expr: attrs,
            path: vec![AttrKey::Static(body)].into(),
            default: None,
            span: self.span(range),
        })
    }

    fn cur_pos(&mut self, range: TextRange) -> Expr {
        let offset: usize = range.start().into();
        let before = &self.cx.source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        let entries = vec![
            (
                self.cx.interner.intern("file"),
                Value::string(self.cx.file_name),
            ),
            (self.cx.interner.intern("line"), Value::Int(line as i64)),
            (self.cx.interner.intern("column"), Value::Int(column as i64)),
        ];
        Expr::Const(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
    }

    fn lower_str(&mut self, s: ast::Str) -> Result<Expr> {
        let range = s.syntax().text_range();
        let mut parts = s.normalized_parts();
        // The source text, not the syntax tree: no walk over its tokens.
        if self.cx.source[usize::from(range.start())..usize::from(range.end())].contains('\r') {
            // Source line ends inside strings are LF, whatever the file uses.
            for p in &mut parts {
                if let InterpolPart::Literal(l) = p {
                    *l = l.replace("\r\n", "\n");
                }
            }
        }
        if parts.iter().all(|p| matches!(p, InterpolPart::Literal(_))) {
            let mut text = String::new();
            for p in parts {
                if let InterpolPart::Literal(l) = p {
                    text.push_str(&l);
                }
            }
            return Ok(Expr::Const(Value::String(text.into())));
        }
        let mut lowered = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                InterpolPart::Literal(l) => {
                    lowered.push(Rc::new(Expr::Const(Value::String(l.into()))))
                }
                InterpolPart::Interpolation(i) => lowered.push(self.opt(i.expr(), range)?),
            }
        }
        Ok(Expr::Interpolate {
            parts: lowered.into(),
            span: self.span(range),
        })
    }

    fn lower_path(
        &mut self,
        parts: Vec<InterpolPart<ast::PathContent>>,
        range: TextRange,
        base: PathBase,
    ) -> Result<Expr> {
        if let Some(help) = self.cx.policy.and_then(|p| p.path_literals.as_ref()) {
            return Ok(self.forbidden_path(help, range, base));
        }
        let mut lowered: Vec<Rc<Expr>> = Vec::new();
        let mut literal: Option<String> = None;
        for part in parts {
            match part {
                InterpolPart::Literal(l) => match &mut literal {
                    Some(literal) => literal.push_str(l.text()),
                    None if lowered.is_empty() => match self.path_start(base, l.text()) {
                        Some(start) => literal = Some(start),
                        None => return Ok(self.no_home_dir(range)),
                    },
                    None => literal = Some(l.text().to_string()),
                },
                InterpolPart::Interpolation(i) => {
                    if let Some(text) = literal.take().filter(|t| !t.is_empty()) {
                        let text = match lowered.is_empty() {
                            true => canon_path_prefix(&text),
                            false => text,
                        };
                        lowered.push(Rc::new(Expr::Const(Value::String(text.into()))));
                    }
                    lowered.push(self.opt(i.expr(), range)?);
                }
            }
        }
        let literal = literal.unwrap_or_default();
        if lowered.is_empty() {
            return Ok(Expr::Const(Value::Path(path::canon_path(&literal).into())));
        }
        if !literal.is_empty() {
            lowered.push(Rc::new(Expr::Const(Value::String(literal.into()))));
        }
        Ok(Expr::PathInterpolate {
            parts: lowered.into(),
            span: self.span(range),
        })
    }

    /// A path literal refused by the host's policy, with its help.
    fn forbidden_path(
        &self,
        help: &crate::PathLiteralHelp,
        range: TextRange,
        base: PathBase,
    ) -> Expr {
        let text = &self.cx.source[usize::from(range.start())..usize::from(range.end())];
        let help = match base {
            PathBase::Rel => {
                let rel = text.strip_prefix("./").unwrap_or(text);
                help.relative.replace("{rel}", rel)
            }
            PathBase::Abs | PathBase::Home => help.absolute.clone(),
        };
        let what = format!("the path literal `{text}`");
        Expr::Fail(ErrorKind::Forbidden { what, help }, self.span(range))
    }

    /// The absolute form of a path literal's first segment `text`; `None`
    /// for `~/...` when no home directory is set.
    fn path_start(&self, base: PathBase, text: &str) -> Option<String> {
        Some(match base {
            PathBase::Abs => text.to_string(),
            PathBase::Rel => format!("{}/{}", self.cx.base_dir, text),
            PathBase::Home => {
                let home = self.cx.home_dir?;
                format!("{home}/{}", text.strip_prefix("~/").unwrap_or(text))
            }
        })
    }

    fn no_home_dir(&self, range: TextRange) -> Expr {
        let what = "a home-relative path (no home directory is set)".into();
        Expr::Fail(ErrorKind::Unsupported { what }, self.span(range))
    }

    fn lower_lambda(&mut self, l: ast::Lambda) -> Result<LambdaDef> {
        let range = l.syntax().text_range();
        let param = l
            .param()
            .ok_or_else(|| self.syntax_error("missing parameter", range))?;
        let (pattern, names) = match param {
            ast::Param::IdentParam(p) => (None, self.ident_param_names(&p)),
            ast::Param::Pattern(p) => {
                let (pattern, names) = self.pattern_names(&p)?;
                (Some(pattern), names)
            }
        };
        let arg_name = whole_argument_name(pattern.as_ref(), &names);
        self.scopes.push(Scope::Static(names));
        let result = self.lower_lambda_in_scope(pattern, l.body(), arg_name, range);
        self.scopes.pop();
        result
    }

    fn ident_param_names(&mut self, p: &ast::IdentParam) -> Names {
        let name = p
            .ident()
            .and_then(|i| i.ident_token())
            .map(|t| t.text().to_string())
            .unwrap_or_default();
        let mut names = FxHashMap::default();
        names.insert(self.cx.interner.intern(&name), 0);
        names
    }

    /// A pattern's formals (in slots `0..n`) and `@` name (slot `n`), each
    /// named once.
    fn pattern_names(&mut self, p: &ast::Pattern) -> Result<(PatternParts, Names)> {
        let mut names = FxHashMap::default();
        let mut formals = Vec::new();
        for entry in p.pat_entries() {
            let ident = entry.ident().and_then(|i| i.ident_token());
            let name = ident.map(|t| t.text().to_string()).unwrap_or_default();
            let sym = self.cx.interner.intern(&name);
            if names.insert(sym, formals.len() as u32).is_some() {
                let range = entry.syntax().text_range();
                return Err(self.error(ErrorKind::DuplicateFormal { name }, range));
            }
            formals.push((sym, entry.default()));
        }
        let bind_token = p
            .pat_bind()
            .and_then(|b| b.ident())
            .and_then(|i| i.ident_token());
        if let Some(t) = &bind_token {
            let sym = self.cx.interner.intern(t.text());
            if names.contains_key(&sym) {
                let name = t.text().to_string();
                return Err(self.error(ErrorKind::DuplicateFormal { name }, t.text_range()));
            }
            names.insert(sym, formals.len() as u32);
        }
        let pattern = PatternParts {
            formals,
            ellipsis: p.ellipsis_token().is_some(),
            bind: bind_token.is_some(),
        };
        Ok((pattern, names))
    }

    /// The rest of a function, with its parameters in scope.
    fn lower_lambda_in_scope(
        &mut self,
        pattern: Option<PatternParts>,
        body: Option<ast::Expr>,
        arg_name: Option<Sym>,
        range: TextRange,
    ) -> Result<LambdaDef> {
        let param = match pattern {
            None => Param::Ident,
            Some(pattern) => self.lower_pattern(pattern)?,
        };
        let body = self.opt(body, range)?;
        let param_always_forced = matches!(param, Param::Ident) && crate::ir::only_forced(&body, 0);
        Ok(LambdaDef {
            param,
            arg_name,
            body,
            span: self.span(range),
            param_always_forced,
        })
    }

    fn lower_pattern(&mut self, pattern: PatternParts) -> Result<Param> {
        let formals = pattern
            .formals
            .into_iter()
            .map(|(name, default)| {
                let default = default.map(|d| self.lower(d)).transpose()?;
                Ok(Formal { name, default })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Param::Pattern {
            formals: formals.into(),
            ellipsis: pattern.ellipsis,
            bind: pattern.bind,
        })
    }

    fn attr_static_name(&mut self, attr: &ast::Attr) -> Option<String> {
        match attr {
            ast::Attr::Ident(i) => i.ident_token().map(|t| t.text().to_string()),
            ast::Attr::Str(s) => const_str(s),
            ast::Attr::Dynamic(d) => match d.expr() {
                Some(ast::Expr::Str(s)) => const_str(&s),
                _ => None,
            },
        }
    }

    /// [`Self::attr_static_name`], interned (an identifier, the common
    /// case, without an intermediate string).
    fn attr_static_sym(&mut self, attr: &ast::Attr) -> Option<Sym> {
        if let ast::Attr::Ident(i) = attr {
            let token = i.ident_token()?;
            return Some(self.cx.interner.intern(token.text()));
        }
        let name = self.attr_static_name(attr)?;
        Some(self.cx.interner.intern(&name))
    }

    fn lower_attr_key(&mut self, attr: &ast::Attr) -> Result<AttrKey> {
        if let Some(sym) = self.attr_static_sym(attr) {
            return Ok(AttrKey::Static(sym));
        }
        let range = attr.syntax().text_range();
        Ok(AttrKey::Dynamic(match attr {
            ast::Attr::Dynamic(d) => self.opt(d.expr(), range)?,
            ast::Attr::Str(s) => Rc::new(self.lower_str(s.clone())?),
            ast::Attr::Ident(_) => unreachable_ident(),
        }))
    }

    fn lower_attrpath(
        &mut self,
        path: Option<ast::Attrpath>,
        range: TextRange,
    ) -> Result<Box<[AttrKey]>> {
        let path = path.ok_or_else(|| self.syntax_error("missing attribute path", range))?;
        path.attrs()
            .map(|a| self.lower_attr_key(&a))
            .collect::<Result<Vec<_>>>()
            .map(Into::into)
    }

    /// Gathers the entries of a set or `let`, merging nested attribute paths.
    fn collect(&mut self, node: &impl HasEntry, rec: bool, is_let: bool) -> Result<PreAttrs> {
        let mut pre = PreAttrs::new(rec);
        for entry in node.entries() {
            match entry {
                ast::Entry::Inherit(inh) => {
                    let from = inh.from().and_then(|f| f.expr());
                    for attr in inh.attrs() {
                        let range = attr.syntax().text_range();
                        let Some(sym) = self.attr_static_sym(&attr) else {
                            return Err(self.syntax_error(
                                "dynamic attributes are not allowed in inherit",
                                range,
                            ));
                        };
                        if let Some(f) = &from {
                            self.check_guarded(f, &attr)?;
                        }
                        let value = match &from {
                            Some(f) => PreVal::InheritFrom(f.clone(), sym, range),
                            None => PreVal::Inherit(sym, range),
                        };
                        self.insert_static(&mut pre, sym, value, range)?;
                    }
                }
                ast::Entry::AttrpathValue(av) => {
                    let range = av.syntax().text_range();
                    let attrs: Vec<ast::Attr> = av
                        .attrpath()
                        .map(|p| p.attrs().collect())
                        .unwrap_or_default();
                    let Some(value) = av.value() else {
                        return Err(self.syntax_error("missing value", range));
                    };
                    if attrs.is_empty() {
                        return Err(self.syntax_error("missing attribute name", range));
                    }
                    if is_let && self.attr_static_sym(&attrs[0]).is_none() {
                        return Err(self.error(
                            ErrorKind::DynamicAttributeInLet,
                            attrs[0].syntax().text_range(),
                        ));
                    }
                    self.insert_path(&mut pre, &attrs, value, range)?;
                }
            }
        }
        Ok(pre)
    }

    fn dup(&self, sym: Sym, range: TextRange) -> EvalError {
        self.error(
            ErrorKind::DuplicateAttribute {
                name: self.name(sym),
            },
            range,
        )
    }

    fn insert_static(
        &mut self,
        pre: &mut PreAttrs,
        sym: Sym,
        value: PreVal,
        range: TextRange,
    ) -> Result<()> {
        if pre.find(sym).is_some() {
            return Err(self.dup(sym, range));
        }
        pre.statics.push((sym, value, range));
        Ok(())
    }

    fn value_of(&mut self, value: ast::Expr) -> Result<PreVal> {
        Ok(match value {
            ast::Expr::AttrSet(set) => {
                let rec = set.rec_token().is_some();
                PreVal::Attrs(self.collect(&set, rec, false)?)
            }
            other => PreVal::Expr(other),
        })
    }

    fn insert_path(
        &mut self,
        pre: &mut PreAttrs,
        path: &[ast::Attr],
        value: ast::Expr,
        range: TextRange,
    ) -> Result<()> {
        let attr = &path[0];
        let last = path.len() == 1;
        match self.attr_static_sym(attr) {
            Some(sym) => {
                match pre.find(sym) {
                    Some(i) => {
                        let PreVal::Attrs(existing) = &mut pre.statics[i].1 else {
                            return Err(self.dup(sym, range));
                        };
                        if last {
                            // `a.x = 1; a = { y = 2; };` merges; anything else is a duplicate.
                            let ast::Expr::AttrSet(set) = value else {
                                return Err(self.dup(sym, range));
                            };
                            let incoming = self.collect(&set, set.rec_token().is_some(), false)?;
                            let mut existing = std::mem::replace(existing, PreAttrs::new(false));
                            let merged = (|| {
                                for (s, v, r) in incoming.statics {
                                    self.insert_static(&mut existing, s, v, r)?;
                                }
                                existing.dynamics.extend(incoming.dynamics);
                                Ok::<_, EvalError>(())
                            })();
                            pre.statics[i].1 = PreVal::Attrs(existing);
                            merged
                        } else {
                            let mut nested = std::mem::replace(existing, PreAttrs::new(false));
                            let r = self.insert_path(&mut nested, &path[1..], value, range);
                            pre.statics[i].1 = PreVal::Attrs(nested);
                            r
                        }
                    }
                    None => {
                        let v = if last {
                            self.value_of(value)?
                        } else {
                            let mut nested = PreAttrs::new(false);
                            self.insert_path(&mut nested, &path[1..], value, range)?;
                            PreVal::Attrs(nested)
                        };
                        self.insert_static(pre, sym, v, attr.syntax().text_range())
                    }
                }
            }
            None => {
                let v = if last {
                    self.value_of(value)?
                } else {
                    let mut nested = PreAttrs::new(false);
                    self.insert_path(&mut nested, &path[1..], value, range)?;
                    PreVal::Attrs(nested)
                };
                pre.dynamics.push((attr.clone(), v, range));
                Ok(())
            }
        }
    }

    fn lower_preval(&mut self, value: PreVal) -> Result<Binding> {
        Ok(match value {
            PreVal::Expr(e) => Binding {
                expr: self.lower(e)?,
                outer: false,
            },
            PreVal::Attrs(a) => Binding {
                expr: Rc::new(Expr::Attrs(Box::new(self.lower_attrs(a)?))),
                outer: false,
            },
            PreVal::InheritFrom(from, sym, range) => {
                let from = self.lower(from)?;
                Binding {
                    expr: Rc::new(Expr::Select {
                        expr: from,
                        path: vec![AttrKey::Static(sym)].into(),
                        default: None,
                        span: self.span(range),
                    }),
                    outer: false,
                }
            }
            PreVal::Inherit(sym, range) => {
                let name = self.name(sym);
                Binding {
                    expr: Rc::new(self.resolve(&name, range)?),
                    outer: false,
                }
            }
        })
    }

    /// Lowers a plain `inherit x;` relative to the scope outside the
    /// innermost one (the `rec`/`let` frame itself).
    fn lower_inherit_outside(&mut self, sym: Sym, range: TextRange) -> Result<Binding> {
        let frame = self.scopes.pop();
        let name = self.name(sym);
        let r = self.resolve(&name, range);
        if let Some(frame) = frame {
            self.scopes.push(frame);
        }
        Ok(Binding {
            expr: Rc::new(r?),
            outer: true,
        })
    }

    fn lower_attrs(&mut self, pre: PreAttrs) -> Result<AttrsDef> {
        // Statics end up sorted by symbol (for a `rec` set, entry `i` is
        // slot `i`), but are lowered in source order: what binding does
        // first (the names it interns, the error it reports) must not
        // depend on how earlier files numbered symbols.
        if pre.rec {
            let mut order: Vec<Sym> = pre.statics.iter().map(|s| s.0).collect();
            order.sort_unstable();
            let names = order
                .iter()
                .enumerate()
                .map(|(i, s)| (*s, i as u32))
                .collect();
            self.scopes.push(Scope::Static(names));
        }
        let rec = pre.rec;
        let result = (|| {
            let mut statics = Vec::with_capacity(pre.statics.len());
            for (sym, value, _) in pre.statics {
                let binding = match value {
                    PreVal::Inherit(s, range) if rec => self.lower_inherit_outside(s, range)?,
                    other => self.lower_preval(other)?,
                };
                statics.push((sym, binding));
            }
            statics.sort_unstable_by_key(|s| s.0);
            let mut dynamics = Vec::with_capacity(pre.dynamics.len());
            for (attr, value, range) in pre.dynamics {
                let key = match self.lower_attr_key(&attr)? {
                    AttrKey::Dynamic(e) => e,
                    AttrKey::Static(s) => {
                        Rc::new(Expr::Const(Value::String(self.cx.interner.name(s).clone())))
                    }
                };
                let value = self.lower_preval(value)?.expr;
                dynamics.push(DynamicAttr {
                    key,
                    value,
                    span: self.span(range),
                });
            }
            Ok(AttrsDef {
                rec,
                statics,
                dynamics,
            })
        })();
        if rec {
            self.scopes.pop();
        }
        result
    }

    /// Lowers `let` bindings; the caller pushes the returned names as the
    /// body's scope.
    fn lower_let_binds(&mut self, pre: PreAttrs) -> Result<(Box<[Binding]>, Names)> {
        let names: FxHashMap<Sym, u32> = pre
            .statics
            .iter()
            .enumerate()
            .map(|(i, s)| (s.0, i as u32))
            .collect();
        self.scopes.push(Scope::Static(names.clone()));
        let result = (|| {
            let mut binds = Vec::with_capacity(pre.statics.len());
            for (_, value, _) in pre.statics {
                binds.push(match value {
                    PreVal::Inherit(s, range) => self.lower_inherit_outside(s, range)?,
                    other => self.lower_preval(other)?,
                });
            }
            Ok(binds.into())
        })();
        self.scopes.pop();
        Ok((result?, names))
    }
}

/// A function's pattern as parsed: formals with their default
/// expressions, `...`, and whether an `@` name follows.
struct PatternParts {
    formals: Vec<(Sym, Option<ast::Expr>)>,
    ellipsis: bool,
    bind: bool,
}

/// The name bound to the whole argument (`x:` or `@x`), for `toXML`.
fn whole_argument_name(pattern: Option<&PatternParts>, names: &Names) -> Option<Sym> {
    match pattern {
        None => names.keys().next().copied(),
        Some(p) if p.bind => names
            .iter()
            .find(|(_, i)| **i as usize == p.formals.len())
            .map(|(k, _)| *k),
        Some(_) => None,
    }
}

/// The canonical form of a path's first segment before an interpolation;
/// Nix keeps its trailing slash (`./${x}`).
fn canon_path_prefix(text: &str) -> String {
    let mut canon = path::canon_path(text);
    if text.ends_with('/') && canon != "/" {
        canon.push('/');
    }
    canon
}

#[derive(Clone, Copy)]
enum PathBase {
    Abs,
    Rel,
    Home,
}

/// The first `N` expression children of `node`, in one pass (rnix's
/// accessors walk the children again for each).
fn expr_children<const N: usize>(node: &rnix::SyntaxNode) -> [Option<ast::Expr>; N] {
    let mut out = std::array::from_fn(|_| None);
    for (slot, e) in out
        .iter_mut()
        .zip(node.children().filter_map(ast::Expr::cast))
    {
        *slot = Some(e);
    }
    out
}

fn const_str(s: &ast::Str) -> Option<String> {
    let mut out = String::new();
    for part in s.normalized_parts() {
        match part {
            InterpolPart::Literal(l) => out.push_str(&l),
            InterpolPart::Interpolation(_) => return None,
        }
    }
    Some(out)
}

fn unreachable_ident() -> Rc<Expr> {
    // An identifier attribute always has a static name; keep a harmless
    // value rather than panicking if rnix ever hands us an empty one.
    Rc::new(Expr::Const(Value::string("")))
}
