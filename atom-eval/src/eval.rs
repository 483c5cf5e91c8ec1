//! The evaluator: lazy, call-by-need evaluation of [`crate::ir`].

use std::collections::HashSet;
use std::rc::Rc;

use rustc_hash::FxHashMap;

use crate::error::{closest_names, err, other, ErrorKind, EvalError, FileId, Result, Span};
use crate::fs::{FileSystem, FileType, FsError};
use crate::ir::*;
use crate::lower::{lower_parsed, lower_source, LowerContext};
use crate::path;
use crate::posix_regex::{Fuel, OutOfFuel};
use crate::value::*;

/// A piece of an interpolated string.
enum Piece<'e> {
    Literal(&'e NixStr),
    Computed(NixStr),
}

impl Piece<'_> {
    fn as_str(&self) -> &str {
        match self {
            Piece::Literal(s) => s,
            Piece::Computed(s) => s,
        }
    }
}

/// What [`Evaluator::eval_apply`] got to: a value (or error), or a
/// lambda's body to evaluate, with its environment.
enum Applied {
    Value(Result<Value>),
    Entered(Rc<Env>, Rc<Closure>),
}

/// Limits the host sets on one evaluation.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Nested function calls allowed; one more is an error (never a stack
    /// overflow). Nix's default is 10,000.
    pub max_call_depth: usize,
    /// Total number of function calls and thunk evaluations allowed, if set.
    pub max_steps: Option<u64>,
    /// The memory the process may hold while evaluating, in bytes, if set
    /// (default [`crate::DEFAULT_MAX_MEMORY`]); past it evaluation fails.
    /// How it is measured: `spec/eval.md`, "Limits".
    pub max_memory_bytes: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_call_depth: 10_000,
            max_steps: None,
            max_memory_bytes: Some(crate::memory::DEFAULT_MAX_MEMORY),
        }
    }
}

/// Backtracking steps one `builtins.match` or `builtins.split` may take
/// (about a second), plus [`REGEX_STEPS_PER_BYTE`] for each byte of its
/// subject: backtracking can take exponentially many steps in the length of
/// the subject, which no valid use needs.
pub(crate) const REGEX_STEPS: u64 = 100_000_000;
pub(crate) const REGEX_STEPS_PER_BYTE: u64 = 64;

/// Nested thunk forcing (not only calls) also recurses on the Rust stack, so
/// it is bounded too. [`crate::STACK_SIZE`] is sized for this many frames.
pub(crate) const MAX_EVAL_DEPTH: usize = 200_000;

pub(crate) struct Source {
    pub name: String,
    pub text: NixStr,
}

/// Frequently used symbols, interned once.
pub(crate) struct KnownSyms {
    pub functor: Sym,
    pub to_string: Sym,
    pub out_path: Sym,
    pub overrides: Sym,
    pub name: Sym,
    pub value: Sym,
}

/// Evaluates Nix expressions. See the crate documentation for the
/// embedding contract.
pub struct Evaluator {
    pub(crate) interner: Interner,
    pub(crate) globals: FxHashMap<Sym, Value>,
    /// Every builtin this evaluator offers, by name; the `builtins` set and
    /// the global aliases are derived from it.
    pub(crate) builtins: Vec<(&'static str, Value)>,
    pub(crate) fs: Box<dyn FileSystem>,
    pub(crate) sources: Vec<Source>,
    pub(crate) import_cache: FxHashMap<String, Value>,
    pub(crate) limits: Limits,
    pub(crate) home_dir: Option<String>,
    pub(crate) syms: KnownSyms,
    pub(crate) trace_output: Vec<String>,
    pub(crate) regex_cache: FxHashMap<String, Rc<crate::posix_regex::Regex>>,
    pub(crate) policy: Option<crate::policy::BindPolicy>,
    /// Bound files kept between runs, when the host hands a pack over.
    pub(crate) compiled: Option<crate::compiled::CompiledState>,
    /// What the evaluation put into its (computed) store.
    pub(crate) store: crate::store::StoreState,
    call_depth: usize,
    eval_depth: usize,
    /// The call sites of the lambda calls being evaluated, for the traces
    /// of an error (see [`Self::leave_calls`]).
    call_spans: Vec<Span>,
    env_pool: EnvPool,
    steps_left: u64,
}

#[inline]
fn env_at(env: &Rc<Env>, up: u32) -> &Rc<Env> {
    let mut e = env;
    for _ in 0..up {
        // Binding guarantees `up` never exceeds the static nesting.
        e = e
            .parent
            .as_ref()
            .expect("binder computed a valid scope depth");
    }
    e
}

#[inline]
fn slot(env: &Rc<Env>, up: u32, idx: u32) -> Value {
    env_at(env, up).slots.borrow()[idx as usize].clone()
}

impl Evaluator {
    pub(crate) fn with_parts(fs: Box<dyn FileSystem>, limits: Limits) -> Evaluator {
        let mut interner = Interner::default();
        let syms = KnownSyms {
            functor: interner.intern("__functor"),
            to_string: interner.intern("__toString"),
            out_path: interner.intern("outPath"),
            overrides: interner.intern("__overrides"),
            name: interner.intern("name"),
            value: interner.intern("value"),
        };
        let steps_left = limits.max_steps.unwrap_or(u64::MAX);
        Evaluator {
            interner,
            globals: FxHashMap::default(),
            builtins: Vec::new(),
            fs,
            sources: Vec::new(),
            import_cache: FxHashMap::default(),
            limits,
            home_dir: None,
            syms,
            trace_output: Vec::new(),
            regex_cache: FxHashMap::default(),
            policy: None,
            compiled: None,
            store: Default::default(),
            call_depth: 0,
            eval_depth: 0,
            call_spans: Vec::new(),
            env_pool: EnvPool::default(),
            steps_left,
        }
    }

    pub(crate) fn sym(&mut self, name: &str) -> Sym {
        self.interner.intern(name)
    }

    pub(crate) fn sym_name(&self, sym: Sym) -> &NixStr {
        self.interner.name(sym)
    }

    /// Parses and binds `text` as a file named `name` whose relative paths
    /// resolve against `base_dir`.
    pub(crate) fn compile(&mut self, name: &str, text: NixStr, base_dir: &str) -> Result<Rc<Expr>> {
        self.compile_scoped(name, text, base_dir, None)
    }

    /// Like [`Self::compile`], with `scope` as an outermost static scope
    /// (`scopedImport`); its values go in the root environment's slots.
    pub(crate) fn compile_scoped(
        &mut self,
        name: &str,
        text: NixStr,
        base_dir: &str,
        scope: Option<FxHashMap<Sym, u32>>,
    ) -> Result<Rc<Expr>> {
        self.compile_parsed(name, None, text, base_dir, scope)
    }

    /// [`Self::compile_scoped`] of a source parsed already (`parsed`, whose
    /// text is `text`), or parsed here.
    pub(crate) fn compile_parsed(
        &mut self,
        name: &str,
        parsed: Option<&crate::lower::ParsedSource>,
        text: NixStr,
        base_dir: &str,
        scope: Option<FxHashMap<Sym, u32>>,
    ) -> Result<Rc<Expr>> {
        let file = FileId(self.sources.len() as u32);
        self.sources.push(Source {
            name: name.to_string(),
            text: text.clone(),
        });
        let key = match self.compiled.is_some() {
            true => {
                let key = self.compiled_key(name, &text, base_dir, scope.as_ref());
                let outer = scope.as_ref().map_or(0, |s| s.len());
                if let Some(expr) = self.compiled_lookup(&key, file, text.len(), outer) {
                    return Ok(expr);
                }
                // Record the names binding interns, for the pack.
                self.interner.log = Some(Vec::new());
                Some(key)
            }
            false => None,
        };
        let mut cx = LowerContext {
            interner: &mut self.interner,
            globals: &self.globals,
            file,
            source: &text,
            file_name: name,
            base_dir,
            home_dir: self.home_dir.as_deref(),
            outer_scope: scope,
            policy: self.policy.as_ref(),
        };
        let result = match parsed {
            Some(p) => lower_parsed(&mut cx, p),
            None => lower_source(&mut cx),
        };
        if let Some(key) = key {
            let interned = self.interner.log.take().unwrap_or_default();
            if let Ok(expr) = &result {
                self.compiled_store(key, &text, &interned, expr);
            }
        }
        result
    }

    pub(crate) fn run(&mut self, expr: &Rc<Expr>) -> Result<Value> {
        let env = Env::new(None, Slots::new());
        self.eval(&env, expr)
    }

    // ---------------------------------------------------------------- forcing

    #[inline]
    pub(crate) fn force(&mut self, v: Value) -> Result<Value> {
        match v {
            Value::Thunk(t) => self.force_thunk(&t),
            v => Ok(v),
        }
    }

    #[inline]
    fn step(&mut self) -> Result<()> {
        if self.steps_left & (crate::memory::PERIOD - 1) <= 1 {
            return self.step_checked();
        }
        self.steps_left -= 1;
        Ok(())
    }

    /// [`Self::step`] when the budget is spent or the memory is due to be
    /// checked (every [`crate::memory::PERIOD`] steps).
    #[inline(never)]
    fn step_checked(&mut self) -> Result<()> {
        if self.steps_left == 0 {
            return err(ErrorKind::StepBudgetExhausted {
                budget: self.limits.max_steps.unwrap_or(0),
            });
        }
        self.steps_left -= 1;
        if self.steps_left & (crate::memory::PERIOD - 1) == 0 {
            return self.reserve_checked(0);
        }
        Ok(())
    }

    /// Before allocating `bytes` for a value: fails when that would pass
    /// the memory limit. Cheap for small allocations, which are not checked.
    #[inline]
    pub(crate) fn reserve(&self, bytes: usize) -> Result<()> {
        if bytes < crate::memory::BIG {
            return Ok(());
        }
        self.reserve_checked(bytes)
    }

    #[inline(never)]
    fn reserve_checked(&self, bytes: usize) -> Result<()> {
        let Some(limit) = self.limits.max_memory_bytes else {
            return Ok(());
        };
        let in_use = crate::memory::resident_bytes().unwrap_or(0);
        if in_use.saturating_add(bytes as u64) > limit {
            return err(ErrorKind::MemoryLimitExceeded { limit });
        }
        Ok(())
    }

    /// [`Self::reserve`] for `count` values of type `T`.
    pub(crate) fn reserve_values<T>(&self, count: usize) -> Result<()> {
        self.reserve(count.saturating_mul(std::mem::size_of::<T>()))
    }

    /// Makes room in a string being built for `more` bytes: a buffer of
    /// [`crate::memory::BIG`] bytes or more doubles only when the memory
    /// limit allows it.
    #[inline]
    pub(crate) fn make_room(&self, out: &mut String, more: usize) -> Result<()> {
        if out.capacity() - out.len() >= more {
            return Ok(());
        }
        let wanted = out.len().saturating_add(more).max(2 * out.capacity());
        self.reserve(wanted)?;
        out.reserve(wanted - out.len());
        Ok(())
    }

    /// [`Self::make_room`] for a list being built.
    #[inline]
    pub(crate) fn make_room_list(&self, out: &mut Vec<Value>, more: usize) -> Result<()> {
        if out.capacity() - out.len() >= more {
            return Ok(());
        }
        let wanted = out.len().saturating_add(more).max(2 * out.capacity());
        self.reserve_values::<Value>(wanted)?;
        out.reserve(wanted - out.len());
        Ok(())
    }

    /// What one `match` or `split` may spend: what is left of the step
    /// budget, and at most [`REGEX_STEPS`] plus [`REGEX_STEPS_PER_BYTE`] for
    /// each byte of the subject.
    pub(crate) fn regex_fuel(&self, subject_len: usize) -> Fuel {
        let per_byte = REGEX_STEPS_PER_BYTE.saturating_mul(subject_len as u64);
        Fuel::new(self.steps_left.min(REGEX_STEPS.saturating_add(per_byte)))
    }

    /// Charges a search's steps to the step budget; a search that ran out
    /// of fuel is an error.
    pub(crate) fn regex_spent<T>(
        &mut self,
        fuel: Fuel,
        found: std::result::Result<T, OutOfFuel>,
        pattern: &str,
    ) -> Result<T> {
        self.steps_left -= fuel.spent();
        found.or_else(|OutOfFuel| match self.steps_left {
            0 => err(ErrorKind::StepBudgetExhausted {
                budget: self.limits.max_steps.unwrap_or(0),
            }),
            _ => err(ErrorKind::RegexTooExpensive {
                pattern: pattern.to_string(),
                steps: fuel.spent(),
            }),
        })
    }

    #[inline]
    pub(crate) fn enter(&mut self) -> Result<()> {
        self.eval_depth += 1;
        if self.eval_depth > MAX_EVAL_DEPTH {
            self.eval_depth -= 1;
            return err(ErrorKind::NestingTooDeep {
                limit: MAX_EVAL_DEPTH,
            });
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn leave(&mut self) {
        self.eval_depth -= 1;
    }

    /// Forces a thunk. The commonest state, an expression waiting for its
    /// environment, is evaluated here with only those two pointers kept
    /// across the evaluation (this frame is paid on every level of a deep
    /// chain of thunks); the other states in [`Self::force_thunk_other`].
    pub(crate) fn force_thunk(&mut self, t: &Rc<Thunk>) -> Result<Value> {
        let (env, expr) = match t.take() {
            ThunkState::Pending(env, expr) => (env, expr),
            ThunkState::Done(v) | ThunkState::Ready(v) => {
                t.set(ThunkState::Done(v.clone()));
                return Ok(v);
            }
            state => return self.force_thunk_other(t, state),
        };
        if let Err(e) = self.step().and_then(|()| self.enter()) {
            t.set(ThunkState::Pending(env, expr));
            return Err(e);
        }
        let result = self.eval(&env, &expr);
        self.leave();
        settle(t, result, || ThunkState::Pending(env, expr))
    }

    #[inline(never)]
    fn force_thunk_other(&mut self, t: &Rc<Thunk>, state: ThunkState) -> Result<Value> {
        if let ThunkState::Blackhole = state {
            return err(ErrorKind::InfiniteRecursion);
        }
        if let Err(e) = self.step().and_then(|()| self.enter()) {
            t.set(state);
            return Err(e);
        }
        let result = match &state {
            ThunkState::Call1(f, a) => self.call_lazy(f, std::slice::from_ref(a)),
            ThunkState::Call2(fab) => {
                let [f, a, b] = &**fab;
                self.call2(
                    f,
                    a.clone(),
                    b.clone(),
                    Span {
                        file: FileId(0),
                        start: 0,
                        end: 0,
                    },
                )
            }
            ThunkState::Host(f) => f(self),
            ThunkState::Pending(..)
            | ThunkState::Blackhole
            | ThunkState::Ready(_)
            | ThunkState::Done(_) => unreachable_state(),
        };
        self.leave();
        settle(t, result, || state)
    }

    /// A lazy value for `expr` in `env`, as Nix makes one: constants and
    /// variables are shared as they are; anything else is a thunk, though
    /// an integer operation on known values or a function is computed
    /// right away (and shown as `<CODE>` until forced, as in Nix).
    #[inline]
    pub(crate) fn delay(&mut self, env: &Rc<Env>, expr: &Rc<Expr>) -> Value {
        match &**expr {
            Expr::Const(v) => v.clone(),
            Expr::Var { up, idx } => slot(env, *up, *idx),
            Expr::Bin { op, lhs, rhs, .. } => match eager_int_op(env, *op, lhs, rhs) {
                Some(v) => Thunk::lazy(ThunkState::Ready(v)),
                None => Thunk::lazy(ThunkState::Pending(env.clone(), expr.clone())),
            },
            Expr::Lambda(def) => Thunk::lazy(ThunkState::Ready(Value::Lambda(Rc::new(Closure {
                env: env.clone(),
                def: def.clone(),
            })))),
            _ => Thunk::lazy(ThunkState::Pending(env.clone(), expr.clone())),
        }
    }

    /// The argument of a call to `f`: when `f` only ever forces its
    /// parameter, an integer operation on known values or a function is
    /// passed as its value, without a thunk (nothing can tell the
    /// difference); otherwise as [`Self::delay`] makes it.
    #[inline]
    fn delay_arg(&mut self, f: &Value, env: &Rc<Env>, expr: &Rc<Expr>) -> Value {
        let forced = match f {
            Value::Lambda(c) => c.def.param_always_forced,
            // Builtins force what they return, and what they keep (`map`'s
            // function, a partial application's arguments) is never printed.
            Value::PrimOp(_) | Value::PrimOpApp(_) => true,
            _ => false,
        };
        if forced {
            self.delay_bare(env, expr)
        } else {
            self.delay(env, expr)
        }
    }

    /// [`Self::delay`] without the already-computed thunks: for values
    /// nothing will see unforced.
    #[inline]
    fn delay_bare(&mut self, env: &Rc<Env>, expr: &Rc<Expr>) -> Value {
        match &**expr {
            Expr::Bin { op, lhs, rhs, .. } => {
                if let Some(v) = eager_int_op(env, *op, lhs, rhs) {
                    return v;
                }
            }
            Expr::Lambda(def) => {
                return Value::Lambda(Rc::new(Closure {
                    env: env.clone(),
                    def: def.clone(),
                }));
            }
            _ => {}
        }
        self.delay(env, expr)
    }

    /// Like [`Self::delay`] for an environment still being filled (`let`,
    /// `rec`): a variable of that same frame may not be set yet.
    #[inline]
    fn delay_in_new(&mut self, env: &Rc<Env>, expr: &Rc<Expr>) -> Value {
        match &**expr {
            Expr::Var { up: 0, .. } | Expr::Bin { .. } => {
                Thunk::lazy(ThunkState::Pending(env.clone(), expr.clone()))
            }
            _ => self.delay(env, expr),
        }
    }

    // ------------------------------------------------------------- evaluation

    /// Evaluates to weak head normal form. Only the hottest forms are handled
    /// here: this function's stack frame is paid on every level of Nix
    /// recursion, so the rest live in [`Self::eval_cold`].
    ///
    /// An `if`'s branch, a `let`'s body and the body of a called lambda are
    /// evaluated in this same frame (a loop, not a native call): a level of Nix
    /// recursion then costs one frame of `eval` (plus the operator's, if
    /// any) instead of five, and deep recursion sweeps less than half the
    /// stack. The calls entered here are left in [`Self::leave_calls`],
    /// with the same depth accounting and error traces as
    /// [`Self::call_lambda`].
    pub(crate) fn eval(&mut self, env: &Rc<Env>, expr: &Expr) -> Result<Value> {
        let mut env = env;
        let mut expr = expr;
        // What `env` and `expr` borrow from once a call was entered.
        let mut entered_env: Option<Rc<Env>> = None;
        let mut entered: Option<Rc<Closure>> = None;
        let mut calls = 0;
        let result = loop {
            match expr {
                Expr::Const(v) => break Ok(v.clone()),
                Expr::Var { up, idx } => break self.eval_var(env, *up, *idx),
                Expr::Apply { func, arg, span } => {
                    match self.eval_apply(env, expr, func, arg, *span) {
                        Applied::Value(v) => break v,
                        Applied::Entered(body_env, c) => {
                            let left = entered_env.replace(body_env);
                            env = entered_env.as_ref().expect("just set");
                            if let Some(left) = left {
                                self.env_pool.recycle(left);
                            }
                            calls += 1;
                            expr = &entered.insert(c).def.body;
                        }
                    }
                }
                Expr::If {
                    cond,
                    then,
                    otherwise,
                    span,
                } => match self.eval_operand(env, cond) {
                    Ok(Value::Bool(true)) => expr = then,
                    Ok(Value::Bool(false)) => expr = otherwise,
                    Ok(other) => {
                        break Err(type_error("a Boolean", &other).with_span_if_none(*span))
                    }
                    Err(e) => break Err(e),
                },
                Expr::Bin { op, lhs, rhs, span } => {
                    break match strict_int_op(env, *op, lhs, rhs) {
                        Some(v) => Ok(v),
                        None => self.eval_bin(env, *op, lhs, rhs, *span),
                    }
                }
                Expr::Select {
                    expr: of,
                    path,
                    default,
                    span,
                } => break self.eval_select(env, of, path, default.as_ref(), *span),
                Expr::Let { binds, body } => {
                    let let_env = self.let_env(env, binds);
                    env = entered_env.insert(let_env);
                    expr = body;
                }
                _ => break self.eval_cold(env, expr),
            }
        };
        if let Some(left) = entered_env {
            self.env_pool.recycle(left);
        }
        if calls == 0 {
            return result;
        }
        self.leave_calls(calls, result)
    }

    /// [`Self::eval`] for an operand, a condition or a called function,
    /// with the commonest of those, a constant, a variable or an operator,
    /// evaluated without going through `eval`.
    #[inline(always)]
    fn eval_operand(&mut self, env: &Rc<Env>, expr: &Expr) -> Result<Value> {
        match expr {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Var { up, idx } => self.eval_var(env, *up, *idx),
            Expr::Bin { op, lhs, rhs, span } => match strict_int_op(env, *op, lhs, rhs) {
                Some(v) => Ok(v),
                None => self.eval_bin(env, *op, lhs, rhs, *span),
            },
            _ => self.eval(env, expr),
        }
    }

    #[inline(always)]
    fn eval_var(&mut self, env: &Rc<Env>, up: u32, idx: u32) -> Result<Value> {
        let frame = env_at(env, up);
        let v = frame.slots.borrow()[idx as usize].clone();
        match v {
            Value::Thunk(t) => self.force_slot(frame, idx, t),
            v => Ok(v),
        }
    }

    /// `func arg` as far as entering the lambda it calls: the rest, the
    /// lambda's body, is evaluated in [`Self::eval`]'s loop. Out of line, as
    /// its locals would otherwise enlarge `eval`'s frame.
    #[inline(never)]
    fn eval_apply(
        &mut self,
        env: &Rc<Env>,
        expr: &Expr,
        func: &Expr,
        arg: &Rc<Expr>,
        span: Span,
    ) -> Applied {
        if let Expr::Apply { .. } = func {
            return Applied::Value(self.eval_apply_chain(env, expr));
        }
        let f = match self.eval_operand(env, func) {
            Ok(f) => f,
            Err(e) => return Applied::Value(Err(e)),
        };
        let a = self.delay_arg(&f, env, arg);
        let Value::Lambda(c) = f else {
            return Applied::Value(self.call_other(f, a, span));
        };
        match self.enter_call(&c, a, span) {
            Ok(body_env) => Applied::Entered(body_env, c),
            Err(e) => Applied::Value(Err(e)),
        }
    }

    /// The first half of [`Self::call_lambda`]: counts the call, checks the
    /// limits and builds the body's environment. On success the call's span
    /// is on [`Self::call_spans`] until [`Self::leave_calls`].
    #[inline]
    fn enter_call(&mut self, c: &Closure, arg: Value, span: Span) -> Result<Rc<Env>> {
        self.call_depth += 1;
        if self.call_depth > self.limits.max_call_depth {
            self.call_depth -= 1;
            return Err(self.call_depth_exceeded(span));
        }
        let env = match self.step().and_then(|()| self.lambda_env(c, arg, span)) {
            Ok(env) => env,
            Err(e) => {
                self.call_depth -= 1;
                return Err(e);
            }
        };
        if let Err(e) = self.enter() {
            self.call_depth -= 1;
            return Err(e);
        }
        self.call_spans.push(span);
        Ok(env)
    }

    /// The second half of [`Self::call_lambda`] for the last `calls` calls
    /// [`Self::enter_call`] entered: each one's depth is given back, and an
    /// error is traced through each, the innermost first.
    #[inline(never)]
    fn leave_calls(&mut self, calls: usize, result: Result<Value>) -> Result<Value> {
        self.call_depth -= calls;
        self.eval_depth -= calls;
        let from = self.call_spans.len() - calls;
        match result {
            Ok(v) => {
                self.call_spans.truncate(from);
                Ok(v)
            }
            Err(mut e) => {
                for span in self.call_spans.drain(from..).rev() {
                    e = e.push_trace(|| "while calling a function".into(), Some(span));
                }
                Err(e)
            }
        }
    }

    /// The environment a lambda's body is evaluated in.
    #[inline]
    fn lambda_env(&mut self, c: &Closure, arg: Value, span: Span) -> Result<Rc<Env>> {
        match &c.def.param {
            Param::Ident => Ok(self.env_pool.one_slot(c.env.clone(), arg)),
            Param::Pattern { .. } => self.pattern_env(c, arg, span),
        }
    }

    #[cold]
    fn call_depth_exceeded(&self, span: Span) -> EvalError {
        EvalError::new(
            ErrorKind::CallDepthExceeded {
                limit: self.limits.max_call_depth,
            },
            Some(span),
        )
    }

    /// Forces the thunk in a variable's slot and puts its value there in
    /// its place: a forced thunk and its value cannot be told apart (the
    /// printer shows the value, equality sees through it), and later
    /// lookups skip the thunk.
    #[inline(never)]
    fn force_slot(&mut self, frame: &Env, idx: u32, t: Rc<Thunk>) -> Result<Value> {
        let v = self.force_thunk(&t)?;
        if let Ok(mut slots) = frame.slots.try_borrow_mut() {
            slots[idx as usize] = v.clone();
        }
        Ok(v)
    }

    /// `f a b c`: when `f` is a builtin taking exactly these arguments, call
    /// it once with all of them instead of building partial applications.
    #[inline(never)]
    fn eval_apply_chain(&mut self, env: &Rc<Env>, expr: &Expr) -> Result<Value> {
        let mut args: smallvec::SmallVec<[(&Rc<Expr>, Span); 4]> = smallvec::SmallVec::new();
        let mut head = expr;
        while let Expr::Apply { func, arg, span } = head {
            args.push((arg, *span));
            head = func;
        }
        args.reverse();
        let f = self.eval(env, head)?;
        if let Value::PrimOp(p) = &f {
            if p.arity == args.len() {
                let values: smallvec::SmallVec<[Value; 4]> =
                    args.iter().map(|(a, _)| self.delay_bare(env, a)).collect();
                let span = args[args.len() - 1].1;
                return self.call_primop(p, &values, span);
            }
        }
        let mut f = f;
        for (i, (arg, span)) in args.iter().enumerate() {
            let a = self.delay_arg(&f, env, arg);
            f = self.call(f, a, *span)?;
            if i + 1 < args.len() {
                f = self.force(f)?;
            }
        }
        Ok(f)
    }

    #[inline(never)]
    fn eval_cold(&mut self, env: &Rc<Env>, expr: &Expr) -> Result<Value> {
        match expr {
            Expr::Const(_)
            | Expr::Var { .. }
            | Expr::Apply { .. }
            | Expr::If { .. }
            | Expr::Bin { .. }
            | Expr::Select { .. }
            | Expr::Let { .. } => self.eval(env, expr),
            Expr::WithVar { name, withs, span } => self.with_var(env, *name, withs, *span),
            Expr::Attrs(def) => self.eval_attrs(env, def),
            Expr::List(items) => {
                let list: Vec<Value> = items.iter().map(|e| self.delay(env, e)).collect();
                Ok(Value::List(Rc::new(list)))
            }
            Expr::Lambda(def) => Ok(Value::Lambda(Rc::new(Closure {
                env: env.clone(),
                def: def.clone(),
            }))),
            Expr::HasAttr { expr, path } => self.eval_has_attr(env, expr, path),
            Expr::Assert {
                cond,
                body,
                text,
                span,
            } => self.eval_assert(env, cond, body, text, *span),
            Expr::With { attrs, body } => {
                let scope = self.delay(env, attrs);
                let new = Env::new(Some(env.clone()), smallvec::smallvec![scope]);
                self.eval(&new, body)
            }
            Expr::Not(e, span) => match self.eval(env, e)? {
                Value::Bool(b) => Ok(Value::Bool(!b)),
                other => Err(type_error("a Boolean", &other).with_span_if_none(*span)),
            },
            Expr::Neg(e, span) => {
                let v = self.eval(env, e)?;
                self.arith(BinOp::Sub, Value::Int(0), v)
                    .map_err(|e| e.with_span_if_none(*span))
            }
            Expr::Interpolate { parts, span } => self.eval_interpolate(env, parts, *span),
            Expr::PathInterpolate { parts, span } => self.eval_path_interpolate(env, parts, *span),
            Expr::Fail(kind, span) => Err(EvalError::new(kind.clone(), Some(*span))),
        }
    }

    /// The environment of `let binds; in body`, whose body [`Self::eval`]
    /// evaluates in its own frame.
    #[inline(never)]
    fn let_env(&mut self, env: &Rc<Env>, binds: &[Binding]) -> Rc<Env> {
        let new = Env::new(Some(env.clone()), Slots::with_capacity(binds.len()));
        for b in binds {
            let v = if b.outer {
                self.delay(env, &b.expr)
            } else {
                self.delay_in_new(&new, &b.expr)
            };
            new.slots.borrow_mut().push(v);
        }
        new
    }

    /// `e.a.b or default`.
    #[inline(never)]
    fn eval_select(
        &mut self,
        env: &Rc<Env>,
        expr: &Expr,
        path: &[AttrKey],
        default: Option<&Rc<Expr>>,
        span: Span,
    ) -> Result<Value> {
        let mut v = self.eval(env, expr)?;
        for key in path {
            let sym = self.attr_key(env, key)?;
            let attrs = match (v, default) {
                (Value::Attrs(attrs), _) => attrs,
                (_, Some(d)) => return self.eval(env, d),
                (other, None) => return Err(type_error("a set", &other).with_span_if_none(span)),
            };
            v = match (attrs.get(sym), default) {
                (Some(found), _) => {
                    let found = found.clone();
                    self.force_attribute(found, sym, span)?
                }
                (None, Some(d)) => return self.eval(env, d),
                (None, None) => return Err(self.missing_attr(&attrs, sym, span)),
            };
        }
        Ok(v)
    }

    /// An attribute's value, forced; an error says which attribute.
    fn force_attribute(&mut self, found: Value, sym: Sym, span: Span) -> Result<Value> {
        self.force(found).map_err(|e| {
            e.push_trace(
                || format!("while evaluating the attribute '{}'", self.sym_name(sym)),
                Some(span),
            )
        })
    }

    /// `e ? a.b`.
    fn eval_has_attr(&mut self, env: &Rc<Env>, expr: &Expr, path: &[AttrKey]) -> Result<Value> {
        let mut v = self.eval(env, expr)?;
        for (i, key) in path.iter().enumerate() {
            let sym = self.attr_key(env, key)?;
            let Value::Attrs(attrs) = &v else {
                return Ok(Value::Bool(false));
            };
            let Some(found) = attrs.get(sym) else {
                return Ok(Value::Bool(false));
            };
            if i + 1 < path.len() {
                let found = found.clone();
                v = self.force(found)?;
            }
        }
        Ok(Value::Bool(true))
    }

    fn eval_assert(
        &mut self,
        env: &Rc<Env>,
        cond: &Expr,
        body: &Expr,
        text: &NixStr,
        span: Span,
    ) -> Result<Value> {
        match self.eval(env, cond)? {
            Value::Bool(true) => self.eval(env, body),
            Value::Bool(false) => Err(EvalError::new(
                ErrorKind::AssertionFailed {
                    condition: text.to_string(),
                },
                Some(span),
            )),
            other => Err(type_error("a Boolean", &other).with_span_if_none(span)),
        }
    }

    /// `"a${b}c"`.
    fn eval_interpolate(&mut self, env: &Rc<Env>, parts: &[Rc<Expr>], span: Span) -> Result<Value> {
        // The literal pieces are borrowed from the expression (most pieces
        // are literals): no reference count is touched for them.
        let mut strs: smallvec::SmallVec<[Piece<'_>; 4]> = smallvec::SmallVec::new();
        let mut context = StringContext::new();
        for p in parts {
            if let Expr::Const(Value::String(literal)) = &**p {
                if !literal.is_empty() {
                    strs.push(Piece::Literal(literal));
                }
                continue;
            }
            let v = self.eval(env, p)?;
            let s = self
                .coerce_to_string_ctx(v, false, true, &mut context)
                .map_err(|e| e.with_span_if_none(span))?;
            if !s.is_empty() {
                strs.push(Piece::Computed(s));
            }
        }
        let text = match strs.pop() {
            None => NixStr::new(),
            // Strings are immutable: `"${s}"` can share `s`.
            Some(Piece::Computed(s)) if strs.is_empty() => s,
            Some(Piece::Literal(s)) if strs.is_empty() => s.clone(),
            Some(last) => {
                strs.push(last);
                self.reserve(strs.iter().map(|s| s.as_str().len()).sum())?;
                let refs: smallvec::SmallVec<[&str; 4]> = strs.iter().map(Piece::as_str).collect();
                concat_strs(&refs)
            }
        };
        Ok(Value::string_with_context(text, context))
    }

    /// `./a/${b}`.
    fn eval_path_interpolate(
        &mut self,
        env: &Rc<Env>,
        parts: &[Rc<Expr>],
        span: Span,
    ) -> Result<Value> {
        let mut out = String::new();
        for p in parts {
            let v = self.eval(env, p)?;
            let s = self.path_suffix(v).map_err(|e| e.with_span_if_none(span))?;
            out.push_str(&s);
        }
        if !out.starts_with('/') {
            return Err(EvalError::new(
                ErrorKind::Other {
                    message: format!("path '{out}' is not absolute"),
                },
                Some(span),
            ));
        }
        Ok(Value::Path(path::canon_path(&out).into()))
    }

    fn with_var(&mut self, env: &Rc<Env>, name: Sym, withs: &[u32], span: Span) -> Result<Value> {
        for up in withs {
            let scope = slot(env, *up, 0);
            let scope = self.force(scope)?;
            let Value::Attrs(attrs) = scope else {
                return Err(type_error("a set", &scope).with_span_if_none(span));
            };
            if let Some(v) = attrs.get(name) {
                let v = v.clone();
                return self.force(v);
            }
        }
        Err(EvalError::new(
            ErrorKind::UndefinedVariable {
                name: self.sym_name(name).to_string(),
            },
            Some(span),
        ))
    }

    fn attr_key(&mut self, env: &Rc<Env>, key: &AttrKey) -> Result<Sym> {
        match key {
            AttrKey::Static(s) => Ok(*s),
            AttrKey::Dynamic(e) => {
                let v = self.eval(env, e)?;
                let s = self.expect_string_no_context(v)?;
                Ok(self.sym(&s))
            }
        }
    }

    pub(crate) fn missing_attr(&self, attrs: &Attrs, sym: Sym, span: Span) -> EvalError {
        let name = self.sym_name(sym).to_string();
        let suggestions = closest_names(&name, attrs.keys().map(|s| &**self.sym_name(s)));
        EvalError::new(
            ErrorKind::MissingAttribute { name, suggestions },
            Some(span),
        )
    }

    /// `v.name`, forced.
    pub(crate) fn select(&mut self, v: Value, sym: Sym, span: Span) -> Result<Value> {
        let v = self.force(v)?;
        let Value::Attrs(attrs) = v else {
            return Err(type_error("a set", &v).with_span_if_none(span));
        };
        match attrs.get(sym) {
            Some(found) => {
                let found = found.clone();
                self.force(found)
            }
            None => Err(self.missing_attr(&attrs, sym, span)),
        }
    }

    #[inline(never)]
    fn eval_attrs(&mut self, env: &Rc<Env>, def: &AttrsDef) -> Result<Value> {
        let (mut entries, dyn_env) = if def.rec {
            let new = Env::new(Some(env.clone()), Slots::with_capacity(def.statics.len()));
            for (_, b) in &def.statics {
                let v = if b.outer {
                    self.delay(env, &b.expr)
                } else {
                    self.delay_in_new(&new, &b.expr)
                };
                new.slots.borrow_mut().push(v);
            }
            let mut entries: Vec<(Sym, Value)> = {
                let slots = new.slots.borrow();
                def.statics
                    .iter()
                    .zip(slots.iter())
                    .map(|((s, _), v)| (*s, v.clone()))
                    .collect()
            };
            // Bound files read back from a pack keep a recursive set's
            // statics in slot order, which after symbols are numbered
            // afresh may not be symbol order.
            if entries.windows(2).any(|w| w[0].0 > w[1].0) {
                entries.sort_unstable_by_key(|e| e.0);
            }
            self.apply_overrides(&new, def, &mut entries)?;
            (entries, new)
        } else {
            let entries = def
                .statics
                .iter()
                .map(|(s, b)| (*s, self.delay(env, &b.expr)))
                .collect();
            (entries, env.clone())
        };
        if def.dynamics.is_empty() {
            return Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))));
        }
        for d in &def.dynamics {
            let key = self.eval(&dyn_env, &d.key)?;
            if matches!(key, Value::Null) {
                continue; // `${null} = ...` defines nothing, as in Nix.
            }
            let name = self
                .expect_string_no_context(key)
                .map_err(|e| e.with_span_if_none(d.span))?;
            let sym = self.sym(&name);
            match entries.binary_search_by_key(&sym, |e| e.0) {
                Ok(_) => {
                    return Err(EvalError::new(
                        ErrorKind::DuplicateAttribute {
                            name: name.to_string(),
                        },
                        Some(d.span),
                    ));
                }
                Err(pos) => {
                    let v = self.delay(&dyn_env, &d.value);
                    entries.insert(pos, (sym, v));
                }
            }
        }
        Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
    }

    /// Nix's legacy `rec { __overrides = { ... }; }`: the overrides replace
    /// attributes both in the result and for references inside the set.
    fn apply_overrides(
        &mut self,
        env: &Rc<Env>,
        def: &AttrsDef,
        entries: &mut Vec<(Sym, Value)>,
    ) -> Result<()> {
        let overrides_sym = self.syms.overrides;
        let Ok(pos) = entries.binary_search_by_key(&overrides_sym, |e| e.0) else {
            return Ok(());
        };
        let v = entries[pos].1.clone();
        let overrides = self.force(v).and_then(expect_attrs).map_err(|e| {
            e.push_trace(
                || "while evaluating the `__overrides` attribute".into(),
                None,
            )
        })?;
        // First replace existing attributes, in the result and in their
        // slots (the statics' order).
        let mut added = Vec::new();
        for (k, v) in overrides.iter() {
            match entries.binary_search_by_key(k, |e| e.0) {
                Ok(i) => {
                    entries[i].1 = v.clone();
                    if let Some(slot) = def.statics.iter().position(|(s, _)| s == k) {
                        env.slots.borrow_mut()[slot] = v.clone();
                    }
                }
                Err(_) => added.push((*k, v.clone())),
            }
        }
        for (k, v) in added {
            if let Err(i) = entries.binary_search_by_key(&k, |e| e.0) {
                entries.insert(i, (k, v));
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- calling

    pub(crate) fn call(&mut self, f: Value, arg: Value, span: Span) -> Result<Value> {
        match f {
            Value::Lambda(c) => self.call_lambda(&c, arg, span),
            other => self.call_other(other, arg, span),
        }
    }

    /// `f a b`, forced. A curried lambda `a: b: body` (the usual shape of
    /// `sort`, `foldl'` and `mapAttrs` callbacks) is entered directly,
    /// without building the intermediate closure.
    pub(crate) fn call2(&mut self, f: &Value, a: Value, b: Value, span: Span) -> Result<Value> {
        if let Value::Lambda(c) = f {
            if let (Param::Ident, Expr::Lambda(inner)) = (&c.def.param, &*c.def.body) {
                if let Param::Ident = inner.param {
                    if self.call_depth + 2 > self.limits.max_call_depth {
                        return Err(self.call_depth_exceeded(span));
                    }
                    self.step()?;
                    self.step()?;
                    self.enter()?;
                    self.call_depth += 2;
                    let outer = self.env_pool.one_slot(c.env.clone(), a);
                    let env = self.env_pool.one_slot(outer, b);
                    let result = self.eval(&env, &inner.body);
                    self.env_pool.recycle(env);
                    self.call_depth -= 2;
                    self.leave();
                    return result.map_err(|e| {
                        e.push_trace(|| "while calling a function".into(), Some(span))
                    });
                }
            }
        }
        let g = self.call(f.clone(), a, span)?;
        let g = self.force(g)?;
        let r = self.call(g, b, span)?;
        self.force(r)
    }

    /// Builtins, functors and errors: kept out of [`Self::call`]'s frame.
    #[inline(never)]
    fn call_other(&mut self, f: Value, arg: Value, span: Span) -> Result<Value> {
        match f {
            Value::Lambda(c) => self.call_lambda(&c, arg, span),
            Value::PrimOp(p) => {
                if p.arity == 1 {
                    self.call_primop(&p, &[arg], span)
                } else {
                    Ok(Value::PrimOpApp(Rc::new(PrimOpApp {
                        op: p,
                        args: vec![arg],
                        bound_by_host: false,
                    })))
                }
            }
            Value::PrimOpApp(app) => {
                let mut args = Vec::with_capacity(app.args.len() + 1);
                args.extend_from_slice(&app.args);
                args.push(arg);
                if args.len() == app.op.arity {
                    self.call_primop(&app.op, &args, span)
                } else {
                    Ok(Value::PrimOpApp(Rc::new(PrimOpApp {
                        op: app.op.clone(),
                        args,
                        bound_by_host: false,
                    })))
                }
            }
            Value::Attrs(ref attrs) => match attrs.get(self.syms.functor) {
                Some(functor) => {
                    let functor = self.force(functor.clone())?;
                    let g = self.call(functor, f.clone(), span)?;
                    let g = self.force(g)?;
                    self.call(g, arg, span)
                }
                None => Err(EvalError::new(
                    ErrorKind::NotAFunction {
                        found: f.type_with_article(),
                    },
                    Some(span),
                )),
            },
            Value::Thunk(t) => {
                let f = self.force_thunk(&t)?;
                self.call(f, arg, span)
            }
            other => Err(EvalError::new(
                ErrorKind::NotAFunction {
                    found: other.type_with_article(),
                },
                Some(span),
            )),
        }
    }

    /// Forces a lazy call thunk. It has no call site of its own, so errors
    /// point into the called function.
    fn call_lazy(&mut self, f: &Value, args: &[Value]) -> Result<Value> {
        let span = Span {
            file: FileId(0),
            start: 0,
            end: 0,
        };
        let r = self.call_many(f.clone(), args, span)?;
        self.force(r)
    }

    pub(crate) fn call_many(&mut self, f: Value, args: &[Value], span: Span) -> Result<Value> {
        let mut f = self.force(f)?;
        for a in args {
            f = self.call(f, a.clone(), span)?;
        }
        Ok(f)
    }

    #[inline(never)]
    fn call_primop(&mut self, p: &PrimOp, args: &[Value], span: Span) -> Result<Value> {
        (p.func)(self, args, span).map_err(|e| {
            e.with_span_if_none(span).push_trace(
                || format!("while calling the '{}' builtin", p.name),
                Some(span),
            )
        })
    }

    fn call_lambda(&mut self, c: &Closure, arg: Value, span: Span) -> Result<Value> {
        let env = self.enter_call(c, arg, span)?;
        let result = self.eval(&env, &c.def.body);
        self.env_pool.recycle(env);
        self.leave_calls(1, result)
    }

    /// The environment of a call to `{ a, b ? d, ... } @ x: body`.
    #[inline(never)]
    fn pattern_env(&mut self, c: &Closure, arg: Value, span: Span) -> Result<Rc<Env>> {
        let def = &c.def;
        let Param::Pattern {
            formals,
            ellipsis,
            bind,
        } = &def.param
        else {
            return Ok(Env::new(Some(c.env.clone()), smallvec::smallvec![arg]));
        };
        let forced = self.force(arg.clone())?;
        let Value::Attrs(attrs) = forced else {
            return Err(type_error("a set", &forced).with_span_if_none(span));
        };
        let env = Env::new(
            Some(c.env.clone()),
            Slots::with_capacity(formals.len() + usize::from(*bind)),
        );
        let mut used = 0;
        for f in formals.iter() {
            let v = match attrs.get(f.name) {
                Some(v) => {
                    used += 1;
                    v.clone()
                }
                None => match &f.default {
                    Some(d) => self.delay_in_new(&env, d),
                    None => {
                        return Err(EvalError::new(
                            ErrorKind::MissingArgument {
                                name: self.sym_name(f.name).to_string(),
                            },
                            Some(def.span),
                        )
                        .push_trace(|| "while calling a function".into(), Some(span)));
                    }
                },
            };
            env.slots.borrow_mut().push(v);
        }
        if !*ellipsis && used < attrs.len() {
            for (k, _) in attrs.iter() {
                if !formals.iter().any(|f| f.name == *k) {
                    let name = self.sym_name(*k).to_string();
                    let suggestions =
                        closest_names(&name, formals.iter().map(|f| &**self.interner.name(f.name)));
                    return Err(EvalError::new(
                        ErrorKind::UnexpectedArgument { name, suggestions },
                        Some(def.span),
                    )
                    .push_trace(|| "while calling a function".into(), Some(span)));
                }
            }
        }
        if *bind {
            env.slots.borrow_mut().push(arg);
        }
        Ok(env)
    }

    // -------------------------------------------------------------- operators

    #[inline(never)]
    fn eval_bin(
        &mut self,
        env: &Rc<Env>,
        op: BinOp,
        lhs: &Rc<Expr>,
        rhs: &Rc<Expr>,
        span: Span,
    ) -> Result<Value> {
        let at = |e: EvalError| e.with_span_if_none(span);
        match op {
            BinOp::And | BinOp::Or | BinOp::Implies => {
                let l = match self.eval_operand(env, lhs)? {
                    Value::Bool(b) => b,
                    other => return Err(at(type_error("a Boolean", &other))),
                };
                let short = match op {
                    BinOp::And => (!l).then_some(false),
                    BinOp::Or => l.then_some(true),
                    _ => (!l).then_some(true),
                };
                if let Some(b) = short {
                    return Ok(Value::Bool(b));
                }
                match self.eval_operand(env, rhs)? {
                    Value::Bool(b) => Ok(Value::Bool(b)),
                    other => Err(at(type_error("a Boolean", &other))),
                }
            }
            _ => {
                let l = self.eval_operand(env, lhs)?;
                let r = self.eval_operand(env, rhs)?;
                // Small-integer fast path: most arithmetic and comparisons.
                if let (Value::Int(a), Value::Int(b)) = (&l, &r) {
                    // Zero and overflow are left to `binary`'s errors.
                    if let Some(v) = int_op(op, *a, *b) {
                        return Ok(v);
                    }
                }
                self.binary(op, l, r).map_err(at)
            }
        }
    }

    /// A strict binary operator on two values in weak head normal form.
    #[inline(never)]
    pub(crate) fn binary(&mut self, op: BinOp, l: Value, r: Value) -> Result<Value> {
        match op {
            BinOp::Eq => Ok(Value::Bool(self.equal(&l, &r)?)),
            BinOp::NotEq => Ok(Value::Bool(!self.equal(&l, &r)?)),
            BinOp::Less => Ok(Value::Bool(self.less_than(&l, &r)?)),
            BinOp::Greater => Ok(Value::Bool(self.less_than(&r, &l)?)),
            BinOp::LessEq => Ok(Value::Bool(!self.less_than(&r, &l)?)),
            BinOp::GreaterEq => Ok(Value::Bool(!self.less_than(&l, &r)?)),
            BinOp::Update => {
                let a = expect_attrs(l)?;
                let b = expect_attrs(r)?;
                Ok(Value::Attrs(Attrs::update(&a, &b)))
            }
            BinOp::Concat => {
                let a = expect_list(l)?;
                let b = expect_list(r)?;
                Ok(Value::List(if b.is_empty() {
                    a
                } else if a.is_empty() {
                    b
                } else {
                    self.reserve_values::<Value>(a.len() + b.len())?;
                    let mut v = Vec::with_capacity(a.len() + b.len());
                    v.extend_from_slice(&a);
                    v.extend_from_slice(&b);
                    Rc::new(v)
                }))
            }
            BinOp::Add => match (&l, &r) {
                (Value::Int(_) | Value::Float(_), _) => self.arith(op, l, r),
                (Value::Path(p), _) => {
                    let s = self.path_suffix(r)?;
                    Ok(Value::Path(path::canon_path(&format!("{p}{s}")).into()))
                }
                _ => {
                    let mut context = StringContext::new();
                    let a = self.coerce_to_string_ctx(l, false, true, &mut context)?;
                    let b = self.coerce_to_string_ctx(r, false, true, &mut context)?;
                    let text = if b.is_empty() {
                        a
                    } else if a.is_empty() {
                        b
                    } else {
                        self.reserve(a.len() + b.len())?;
                        concat_strs(&[&a, &b])
                    };
                    Ok(Value::string_with_context(text, context))
                }
            },
            _ => self.arith(op, l, r),
        }
    }

    pub(crate) fn arith(&mut self, op: BinOp, l: Value, r: Value) -> Result<Value> {
        match (l, r) {
            (Value::Int(a), Value::Int(b)) => {
                let (res, name) = match op {
                    BinOp::Add => (a.checked_add(b), "addition"),
                    BinOp::Sub => (a.checked_sub(b), "subtraction"),
                    BinOp::Mul => (a.checked_mul(b), "multiplication"),
                    _ => {
                        if b == 0 {
                            return err(ErrorKind::DivisionByZero);
                        }
                        (a.checked_div(b), "division")
                    }
                };
                res.map(Value::Int).ok_or_else(|| {
                    EvalError::new(ErrorKind::IntegerOverflow { operation: name }, None)
                })
            }
            (l @ (Value::Int(_) | Value::Float(_)), r @ (Value::Int(_) | Value::Float(_))) => {
                let a = as_float(&l);
                let b = as_float(&r);
                Ok(Value::Float(match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    _ => {
                        if b == 0.0 {
                            return err(ErrorKind::DivisionByZero);
                        }
                        a / b
                    }
                }))
            }
            (Value::Int(_) | Value::Float(_), r) => Err(type_error("an integer", &r)),
            (l, _) => Err(type_error("an integer", &l)),
        }
    }

    pub(crate) fn equal(&mut self, a: &Value, b: &Value) -> Result<bool> {
        let a = self.force(a.clone())?;
        let b = self.force(b.clone())?;
        Ok(match (&a, &b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => x == y,
            (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => {
                (*x as f64) == *y
            }
            (Value::String(x), Value::String(y)) => x == y,
            (
                Value::String(_) | Value::ContextString(_),
                Value::String(_) | Value::ContextString(_),
            ) => a.as_str() == b.as_str(),
            (Value::Path(x), Value::Path(y)) => x == y,
            (Value::List(x), Value::List(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                self.enter()?;
                let mut same = true;
                for (p, q) in x.iter().zip(y.iter()) {
                    if p.same_as(q) {
                        continue;
                    }
                    match self.equal(p, q) {
                        Ok(true) => {}
                        Ok(false) => {
                            same = false;
                            break;
                        }
                        Err(e) => {
                            self.leave();
                            return Err(e);
                        }
                    }
                }
                self.leave();
                same
            }
            (Value::Attrs(x), Value::Attrs(y)) => {
                if Rc::ptr_eq(x, y) {
                    return Ok(true);
                }
                if x.len() != y.len() {
                    return Ok(false);
                }
                if x.keys().zip(y.keys()).any(|(p, q)| p != q) {
                    return Ok(false);
                }
                self.enter()?;
                let mut same = true;
                for (p, q) in x.iter().zip(y.iter()) {
                    if p.1.same_as(&q.1) {
                        continue;
                    }
                    match self.equal(&p.1, &q.1) {
                        Ok(true) => {}
                        Ok(false) => {
                            same = false;
                            break;
                        }
                        Err(e) => {
                            self.leave();
                            return Err(e);
                        }
                    }
                }
                self.leave();
                same
            }
            _ => false,
        })
    }

    pub(crate) fn less_than(&mut self, a: &Value, b: &Value) -> Result<bool> {
        let a = self.force(a.clone())?;
        let b = self.force(b.clone())?;
        match (&a, &b) {
            (Value::Int(x), Value::Int(y)) => Ok(x < y),
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
                Ok(as_float(&a) < as_float(&b))
            }
            (
                Value::String(_) | Value::ContextString(_),
                Value::String(_) | Value::ContextString(_),
            ) => Ok(a.as_str() < b.as_str()),
            (Value::Path(x), Value::Path(y)) => Ok(x < y),
            (Value::List(x), Value::List(y)) => {
                for (p, q) in x.iter().zip(y.iter()) {
                    if !self.equal(p, q)? {
                        return self.less_than(p, q);
                    }
                }
                Ok(x.len() < y.len())
            }
            _ => other(format!(
                "cannot compare {} with {}",
                a.type_with_article(),
                b.type_with_article()
            )),
        }
    }

    // ------------------------------------------------------------- coercions

    /// Nix's `coerceToString`, the context of the result dropped (for
    /// messages and builtins whose results carry none).
    /// `more` is `toString`'s wider coercion; `to_store` marks contexts
    /// where Nix copies a path to the store.
    pub(crate) fn coerce_to_string(
        &mut self,
        v: Value,
        more: bool,
        to_store: bool,
    ) -> Result<NixStr> {
        let mut context = StringContext::new();
        let text = self.coerce_to_string_ctx(v, more, to_store, &mut context);
        if context.is_empty() {
            forget_empty(context);
        }
        text
    }

    /// Nix's `coerceToString`: the text, its context added to `context`.
    pub(crate) fn coerce_to_string_ctx(
        &mut self,
        v: Value,
        more: bool,
        to_store: bool,
        context: &mut StringContext,
    ) -> Result<NixStr> {
        let v = match self.force(v)? {
            // Moved out, not cloned: no reference count is touched.
            Value::String(s) => return Ok(s),
            v => v,
        };
        match &v {
            Value::String(s) => Ok(s.clone()),
            Value::ContextString(s) => {
                context.extend(s.context.iter().cloned());
                Ok(s.text.clone())
            }
            Value::Path(p) => {
                if to_store {
                    let path = self.copy_path_to_store(p)?;
                    let printed = self.store.known.store_dir().print(&path);
                    context.insert(atom_store::ContextElem::Plain(path));
                    return Ok(printed.into());
                }
                Ok(p.clone())
            }
            Value::Attrs(attrs) => {
                if let Some(f) = attrs.get(self.syms.to_string) {
                    let f = self.force(f.clone())?;
                    let span = Span {
                        file: FileId(0),
                        start: 0,
                        end: 0,
                    };
                    let r = self.call(f, v.clone(), span)?;
                    return self.coerce_to_string_ctx(r, more, false, context);
                }
                if let Some(out) = attrs.get(self.syms.out_path) {
                    let out = out.clone();
                    return self.coerce_to_string_ctx(out, more, to_store, context);
                }
                other("cannot coerce a set to a string")
            }
            Value::Int(n) if more => Ok(int_str(*n)),
            Value::Float(f) if more => Ok(format!("{f:.6}").into()),
            Value::Bool(b) if more => Ok(if *b { "1" } else { "" }.into()),
            Value::Null if more => Ok("".into()),
            Value::List(items) if more => {
                self.enter()?;
                let out = self.list_to_string(items, to_store, context);
                self.leave();
                out
            }
            other_value => other(format!(
                "cannot coerce {} to a string",
                other_value.type_with_article()
            )),
        }
    }

    /// `toString [ ... ]`: the items' strings, separated by spaces.
    fn list_to_string(
        &mut self,
        items: &[Value],
        to_store: bool,
        context: &mut StringContext,
    ) -> Result<NixStr> {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            let s = self.coerce_to_string_ctx(item.clone(), true, to_store, context)?;
            self.make_room(&mut out, s.len() + 1)?;
            out.push_str(&s);
            // Nix separates elements with a space, skipping after empty lists.
            if i + 1 < items.len() {
                let forced = self.force(item.clone())?;
                if !matches!(&forced, Value::List(l) if l.is_empty()) {
                    out.push(' ');
                }
            }
        }
        Ok(out.into())
    }

    /// `forceString`: the text, any context ignored.
    pub(crate) fn expect_string(&mut self, v: Value) -> Result<NixStr> {
        match self.force(v)? {
            Value::String(s) => Ok(s),
            Value::ContextString(s) => Ok(s.text.clone()),
            other => Err(type_error("a string", &other)),
        }
    }

    /// What is appended to a path (`p + v`, `./a/${v}`): `v` as a string,
    /// which may not refer to the store (a path is not a store object).
    fn path_suffix(&mut self, v: Value) -> Result<NixStr> {
        let mut context = StringContext::new();
        let s = self.coerce_to_string_ctx(v, false, false, &mut context)?;
        if !context.is_empty() {
            return err(ErrorKind::ContextAppendedToPath);
        }
        forget_empty(context);
        Ok(s)
    }

    /// Nix's `forceStringNoCtx`: the text of a string that must not refer
    /// to the store (names, versions, patterns, texts to parse).
    pub(crate) fn expect_string_no_context(&mut self, v: Value) -> Result<NixStr> {
        match self.force(v)? {
            Value::String(s) => Ok(s),
            Value::ContextString(s) => Err(self.context_not_allowed(&s)),
            other => Err(type_error("a string", &other)),
        }
    }

    /// The error for a string with context where none is allowed, naming
    /// the element Nix would name: the first of its context in Nix's
    /// encoding (`!out!/nix/store/….drv` before `/nix/store/…` before
    /// `=/nix/store/….drv`).
    pub(crate) fn context_not_allowed(&self, s: &ContextStr) -> EvalError {
        let dir = self.store.known.store_dir();
        let reference = s.context.iter().map(|e| e.encode(dir)).min();
        EvalError::new(
            ErrorKind::ContextNotAllowed {
                text: s.text.to_string(),
                reference: reference.unwrap_or_default(),
            },
            None,
        )
    }

    /// `forceString`, the context added to `context`.
    pub(crate) fn expect_string_ctx(
        &mut self,
        v: Value,
        context: &mut StringContext,
    ) -> Result<NixStr> {
        match self.force(v)? {
            Value::String(s) => Ok(s),
            Value::ContextString(s) => {
                context.extend(s.context.iter().cloned());
                Ok(s.text.clone())
            }
            other => Err(type_error("a string", &other)),
        }
    }

    /// Forces `v` and everything inside it. Shared and cyclic structures are
    /// visited once.
    pub(crate) fn deep_force(&mut self, v: &Value) -> Result<Value> {
        let mut seen = HashSet::new();
        let v = self.force(v.clone())?;
        self.force_deep_inner(&v, &mut seen)?;
        Ok(v)
    }

    fn force_deep_inner(&mut self, v: &Value, seen: &mut HashSet<usize>) -> Result<()> {
        match v {
            Value::Attrs(a) => {
                if !seen.insert(Rc::as_ptr(a) as usize) {
                    return Ok(());
                }
                self.enter()?;
                for (sym, item) in a.iter() {
                    let r = self
                        .force(item.clone())
                        .and_then(|x| self.force_deep_inner(&x, seen));
                    if let Err(e) = r {
                        self.leave();
                        let name = self.sym_name(*sym).to_string();
                        return Err(e.push_trace(
                            || format!("while evaluating the attribute '{name}'"),
                            None,
                        ));
                    }
                }
                self.leave();
            }
            Value::List(l) => {
                if !seen.insert(Rc::as_ptr(l) as usize) {
                    return Ok(());
                }
                self.enter()?;
                for item in l.iter() {
                    let r = self
                        .force(item.clone())
                        .and_then(|x| self.force_deep_inner(&x, seen));
                    if let Err(e) = r {
                        self.leave();
                        return Err(e);
                    }
                }
                self.leave();
            }
            _ => {}
        }
        Ok(())
    }

    // ------------------------------------------------------------ file system

    pub(crate) fn fs_error(&self, path: &str, e: FsError) -> EvalError {
        let kind = match e {
            FsError::NotFound => ErrorKind::NotFound {
                path: path.to_string(),
            },
            FsError::OutsideRoot { root } => ErrorKind::OutsideRoot {
                path: path.to_string(),
                root,
            },
            source @ (FsError::Io(_) | FsError::Os(_)) => ErrorKind::Io {
                path: path.to_string(),
                source,
            },
        };
        EvalError::new(kind, None)
    }

    pub(crate) fn read_text(&mut self, path: &str) -> Result<NixStr> {
        let bytes = self
            .fs
            .read_file(path)
            .map_err(|e| self.fs_error(path, e))?;
        match String::from_utf8(bytes) {
            Ok(s) => Ok(s.into()),
            Err(_) => err(ErrorKind::NotUtf8 {
                path: path.to_string(),
            }),
        }
    }

    /// `scopedImport attrs path`: like `import`, with the names of `attrs`
    /// bound statically around the file (shadowing globals). Not cached.
    pub(crate) fn scoped_import(&mut self, scope: &Attrs, path: &str) -> Result<Value> {
        let file = self.import_target(path);
        let text = self.read_text(&file)?;
        let base = path::dir_of(&file).to_string();
        let names = scope
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (*k, i as u32))
            .collect();
        let values = scope.iter().map(|(_, v)| v.clone()).collect();
        let expr = self.compile_scoped(&file, text, &base, Some(names))?;
        let env = Env::new(None, values);
        self.eval(&env, &expr)
            .map_err(|e| e.push_trace(|| format!("while importing '{file}'"), None))
    }

    fn import_target(&self, path: &str) -> String {
        match self.fs.file_type(path) {
            Ok(Some(FileType::Directory)) => path::join(path, "default.nix"),
            _ => path.to_string(),
        }
    }

    /// `import path`: parsed and evaluated once per path.
    pub(crate) fn import(&mut self, path: &str) -> Result<Value> {
        let file = self.import_target(path);
        if let Some(v) = self.import_cache.get(&file) {
            return Ok(v.clone());
        }
        let text = self.read_text(&file)?;
        let base = path::dir_of(&file).to_string();
        let expr = self.compile(&file, text, &base)?;
        let value = self
            .run(&expr)
            .map_err(|e| e.push_trace(|| format!("while importing '{file}'"), None))?;
        self.import_cache.insert(file, value.clone());
        Ok(value)
    }
}

/// `a op b` when both are integer constants or variables holding integers
/// and the result is an integer or a Boolean, computed without
/// [`Evaluator::eval_bin`]'s frame: the commonest operator in loops and
/// recursions (`n == 0`, `n - 1`, `a < b`). Everything else, a division by
/// zero and an overflow included, is left to `eval_bin`.
///
/// Inlined into every caller only in optimised builds: unoptimised ones
/// give each inlined copy's locals their own room in the caller's frame,
/// which is paid on every level of a deep evaluation.
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn strict_int_op(env: &Rc<Env>, op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<Value> {
    let b = int_operand(env, rhs)?;
    let a = int_operand(env, lhs)?;
    int_op(op, a, b)
}

/// `a op b` on two integers, for the arithmetic and comparison operators;
/// `None` for the others, a division by zero and an overflow (whose errors
/// the slow path reports).
#[inline(always)]
fn int_op(op: BinOp, a: i64, b: i64) -> Option<Value> {
    match op {
        BinOp::Add => a.checked_add(b).map(Value::Int),
        BinOp::Sub => a.checked_sub(b).map(Value::Int),
        BinOp::Mul => a.checked_mul(b).map(Value::Int),
        BinOp::Div => a.checked_div(b).map(Value::Int),
        BinOp::Less => Some(Value::Bool(a < b)),
        BinOp::LessEq => Some(Value::Bool(a <= b)),
        BinOp::Greater => Some(Value::Bool(a > b)),
        BinOp::GreaterEq => Some(Value::Bool(a >= b)),
        BinOp::Eq => Some(Value::Bool(a == b)),
        BinOp::NotEq => Some(Value::Bool(a != b)),
        _ => None,
    }
}

/// An integer constant, or a variable whose slot holds an integer (not a
/// thunk: [`Evaluator::force_slot`] puts forced values in their slots).
#[cfg_attr(not(debug_assertions), inline(always))]
#[cfg_attr(debug_assertions, inline)]
fn int_operand(env: &Rc<Env>, expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Const(Value::Int(i)) => Some(*i),
        Expr::Var { up, idx } => match env_at(env, *up).slots.borrow()[*idx as usize] {
            Value::Int(i) => Some(i),
            _ => None,
        },
        _ => None,
    }
}

/// An already evaluated integer, if `expr` is a constant or a variable
/// whose value is known.
#[inline(always)]
fn known_int(env: &Rc<Env>, expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Const(Value::Int(i)) => Some(*i),
        Expr::Var { up, idx } => match &env_at(env, *up).slots.borrow()[*idx as usize] {
            Value::Int(i) => Some(*i),
            Value::Thunk(t) => match t.known() {
                Some(Value::Int(i)) => Some(i),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// `n - 1` on integers already known: computing it now is
/// indistinguishable from computing it later (it cannot fail, loop or
/// observe anything), and saves allocating and later forcing a thunk.
/// Overflow is left to the thunk, which reports it only if forced.
#[inline]
fn eager_int_op(env: &Rc<Env>, op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<Value> {
    if !matches!(
        op,
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Less | BinOp::Eq
    ) {
        return None;
    }
    // Constant-only operations stay lazy: the non-strict printer shows
    // them as `<CODE>`, as Nix does.
    if !matches!(lhs, Expr::Var { .. }) && !matches!(rhs, Expr::Var { .. }) {
        return None;
    }
    let a = known_int(env, lhs)?;
    let b = known_int(env, rhs)?;
    int_op(op, a, b)
}

/// Puts a forced thunk's value in it, or, when forcing it failed, the
/// state it was forced from: `tryEval` callers can force it again.
#[inline]
fn settle(
    t: &Thunk,
    result: Result<Value>,
    forced_from: impl FnOnce() -> ThunkState,
) -> Result<Value> {
    match result {
        Ok(v) => {
            t.set(ThunkState::Done(v.clone()));
            Ok(v)
        }
        Err(e) => {
            t.set(forced_from());
            Err(e)
        }
    }
}

#[cold]
fn unreachable_state() -> Result<Value> {
    other("internal error: a thunk was forced in an impossible state")
}

pub(crate) fn type_error(expected: &'static str, found: &Value) -> EvalError {
    EvalError::new(
        ErrorKind::TypeMismatch {
            expected,
            found: found.type_with_article(),
        },
        None,
    )
}

pub(crate) fn as_float(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => f64::NAN,
    }
}

pub(crate) fn expect_attrs(v: Value) -> Result<Rc<Attrs>> {
    match v {
        Value::Attrs(a) => Ok(a),
        other => Err(type_error("a set", &other)),
    }
}

pub(crate) fn expect_list(v: Value) -> Result<Rc<Vec<Value>>> {
    match v {
        Value::List(l) => Ok(l),
        other => Err(type_error("a list", &other)),
    }
}
