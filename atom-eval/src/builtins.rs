//! The pure builtins, and the file-system ones that go through the host's
//! [`crate::FileSystem`].

use std::rc::Rc;

use md5::Digest as _;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::{err, other, ErrorKind, EvalError, Result, SharedCause, Span};
use crate::eval::{expect_attrs, expect_list, type_error, Evaluator};
use crate::ir::{Expr, Param};
use crate::path;
use crate::posix_regex::{Match, Regex, RegexError};
use crate::print;
use crate::store;
use crate::value::*;

/// Every builtin: name, arity, implementation.
const PRIMOPS: &[(&str, usize, PrimOpFn)] = &[
    ("abort", 1, abort),
    ("throw", 1, throw),
    ("tryEval", 1, try_eval),
    ("addErrorContext", 2, add_error_context),
    ("trace", 2, trace),
    ("warn", 2, warn),
    ("seq", 2, seq),
    ("deepSeq", 2, deep_seq),
    ("typeOf", 1, type_of),
    ("isAttrs", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Attrs(_)))
    }),
    ("isList", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::List(_)))
    }),
    ("isFunction", 1, |ev, a, _| {
        is_type(ev, a, Value::is_function)
    }),
    ("isString", 1, |ev, a, _| {
        is_type(ev, a, |v| {
            matches!(v, Value::String(_) | Value::ContextString(_))
        })
    }),
    ("isInt", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Int(_)))
    }),
    ("isFloat", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Float(_)))
    }),
    ("isBool", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Bool(_)))
    }),
    ("isPath", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Path(_)))
    }),
    ("isNull", 1, |ev, a, _| {
        is_type(ev, a, |v| matches!(v, Value::Null))
    }),
    ("attrNames", 1, attr_names),
    ("attrValues", 1, attr_values),
    ("getAttr", 2, get_attr),
    ("hasAttr", 2, has_attr),
    ("listToAttrs", 1, list_to_attrs),
    ("mapAttrs", 2, map_attrs),
    ("removeAttrs", 2, remove_attrs),
    ("intersectAttrs", 2, intersect_attrs),
    ("catAttrs", 2, cat_attrs),
    ("zipAttrsWith", 2, zip_attrs_with),
    ("functionArgs", 1, function_args),
    ("length", 1, length),
    ("head", 1, head),
    ("tail", 1, tail),
    ("elemAt", 2, elem_at),
    ("elem", 2, elem),
    ("filter", 2, filter),
    ("map", 2, map),
    ("foldl'", 3, foldl),
    ("genList", 2, gen_list),
    ("concatLists", 1, concat_lists),
    ("concatMap", 2, concat_map),
    ("any", 2, |ev, a, s| any_all(ev, a, s, true)),
    ("all", 2, |ev, a, s| any_all(ev, a, s, false)),
    ("sort", 2, sort),
    ("partition", 2, partition),
    ("groupBy", 2, group_by),
    ("genericClosure", 1, generic_closure),
    ("toString", 1, to_string),
    ("stringLength", 1, string_length),
    ("substring", 3, substring),
    ("concatStringsSep", 2, concat_strings_sep),
    ("replaceStrings", 3, replace_strings),
    ("split", 2, split),
    ("match", 2, regex_match),
    ("toJSON", 1, to_json),
    ("toXML", 1, to_xml),
    ("fromJSON", 1, from_json),
    ("fromTOML", 1, from_toml),
    ("add", 2, |ev, a, _| arith(ev, a, crate::ir::BinOp::Add)),
    ("sub", 2, |ev, a, _| arith(ev, a, crate::ir::BinOp::Sub)),
    ("mul", 2, |ev, a, _| arith(ev, a, crate::ir::BinOp::Mul)),
    ("div", 2, |ev, a, _| arith(ev, a, crate::ir::BinOp::Div)),
    ("lessThan", 2, less_than),
    ("bitAnd", 2, |ev, a, _| bits(ev, a, |x, y| x & y)),
    ("bitOr", 2, |ev, a, _| bits(ev, a, |x, y| x | y)),
    ("bitXor", 2, |ev, a, _| bits(ev, a, |x, y| x ^ y)),
    ("ceil", 1, |ev, a, _| round(ev, a, f64::ceil)),
    ("floor", 1, |ev, a, _| round(ev, a, f64::floor)),
    ("compareVersions", 2, compare_versions),
    ("splitVersion", 1, split_version),
    ("parseDrvName", 1, parse_drv_name),
    ("hashString", 2, hash_string),
    ("baseNameOf", 1, base_name_of),
    ("dirOf", 1, dir_of),
    ("unsafeDiscardStringContext", 1, store::discard_context),
    (
        "unsafeDiscardOutputDependency",
        1,
        store::discard_output_dependency,
    ),
    ("hasContext", 1, store::has_context),
    ("getContext", 1, store::get_context),
    ("appendContext", 2, store::append_context),
    ("derivationStrict", 1, store::derivation_strict),
    ("derivation", 1, store::derivation),
    ("placeholder", 1, store::placeholder),
    ("toFile", 2, store::to_file),
    ("storePath", 1, store::store_path),
    ("path", 1, store::path),
    ("import", 1, import),
    ("scopedImport", 2, scoped_import),
    ("readFile", 1, read_file),
    ("readDir", 1, read_dir),
    ("pathExists", 1, path_exists),
    ("readFileType", 1, read_file_type),
    ("hashFile", 2, hash_file),
    ("toPath", 1, to_path),
];

/// Builtins of Nix that need a store, the network, the environment or the
/// clock: present, so that using one is a clear error rather than a
/// misleading "undefined variable".
const ABSENT: &[&str] = &[
    "fetchurl",
    "fetchTarball",
    "fetchGit",
    "fetchTree",
    "fetchMercurial",
    "fetchClosure",
    "getEnv",
    "currentTime",
    "currentSystem",
    "filterSource",
    "nixPath",
    "findFile",
    "getFlake",
    "outputOf",
];

/// `builtins.nixVersion`.
pub(crate) const NIX_VERSION: &str = "2.8.0";

/// Names Nix puts in the global scope besides `builtins` and `__name`.
pub(crate) const GLOBAL_ALIASES: &[&str] = &[
    "abort",
    "baseNameOf",
    "derivation",
    "dirOf",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
];

pub(crate) fn all_builtins(ev: &mut Evaluator) -> Vec<(&'static str, Value)> {
    let mut out: Vec<(&'static str, Value)> = PRIMOPS
        .iter()
        .map(|(name, arity, func)| {
            (
                *name,
                Value::PrimOp(Rc::new(PrimOp {
                    name,
                    arity: *arity,
                    func: *func,
                })),
            )
        })
        .collect();
    for name in ABSENT {
        let span = crate::error::Span {
            file: crate::error::FileId(0),
            start: 0,
            end: 0,
        };
        let fail = Expr::Fail(
            ErrorKind::Unsupported {
                what: format!("'builtins.{name}' (no store, network, environment or clock)"),
            },
            span,
        );
        let env = Env::new(None, Slots::new());
        out.push((name, Thunk::lazy(ThunkState::Pending(env, Rc::new(fail)))));
    }
    out.push(("true", Value::Bool(true)));
    out.push(("false", Value::Bool(false)));
    out.push(("null", Value::Null));
    out.push(("langVersion", Value::Int(6)));
    // The Nix whose language this evaluator follows and is tested against
    // (its language tests; langVersion 6): code that checks a minimum Nix
    // runs as it would there.
    out.push(("nixVersion", Value::string(NIX_VERSION)));
    out.push((
        "storeDir",
        Value::string(ev.store.known.store_dir().as_str()),
    ));
    let _ = ev;
    out
}

// ------------------------------------------------------------------ helpers

fn force(ev: &mut Evaluator, v: &Value) -> Result<Value> {
    ev.force(v.clone())
}

fn int(ev: &mut Evaluator, v: &Value) -> Result<i64> {
    match force(ev, v)? {
        Value::Int(i) => Ok(i),
        other => Err(type_error("an integer", &other)),
    }
}

fn list(ev: &mut Evaluator, v: &Value) -> Result<Rc<Vec<Value>>> {
    expect_list(force(ev, v)?)
}

fn attrs(ev: &mut Evaluator, v: &Value) -> Result<Rc<Attrs>> {
    expect_attrs(force(ev, v)?)
}

fn string(ev: &mut Evaluator, v: &Value) -> Result<NixStr> {
    ev.expect_string(v.clone())
}

/// A string that must not refer to the store (Nix's `forceStringNoCtx`).
fn plain_string(ev: &mut Evaluator, v: &Value) -> Result<NixStr> {
    ev.expect_string_no_context(v.clone())
}

/// A builtin by name, as a value.
pub(crate) fn primop(name: &str) -> Option<Value> {
    PRIMOPS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(name, arity, func)| {
            Value::PrimOp(Rc::new(PrimOp {
                name,
                arity: *arity,
                func: *func,
            }))
        })
}

pub(crate) fn bool_of(ev: &mut Evaluator, v: Value) -> Result<bool> {
    match ev.force(v)? {
        Value::Bool(b) => Ok(b),
        other => Err(type_error("a Boolean", &other)),
    }
}

fn function(ev: &mut Evaluator, v: &Value) -> Result<Value> {
    let f = force(ev, v)?;
    match &f {
        Value::Lambda(_) | Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(f),
        Value::Attrs(a) if a.contains(ev.syms.functor) => Ok(f),
        other => Err(type_error("a function", other)),
    }
}

fn call1(ev: &mut Evaluator, f: &Value, a: Value, span: Span) -> Result<Value> {
    let r = ev.call(f.clone(), a, span)?;
    ev.force(r)
}

fn call2(ev: &mut Evaluator, f: &Value, a: Value, b: Value, span: Span) -> Result<Value> {
    ev.call2(f, a, b, span)
}

fn make_attrs(ev: &mut Evaluator, entries: Vec<(&str, Value)>) -> Value {
    let entries = entries.into_iter().map(|(k, v)| (ev.sym(k), v)).collect();
    Value::Attrs(Rc::new(Attrs::from_unsorted(entries)))
}

fn list_value(items: Vec<Value>) -> Value {
    Value::List(Rc::new(items))
}

/// Attribute entries in name order, as Nix iterates them.
pub(crate) fn sorted_by_name(ev: &Evaluator, a: &Attrs) -> Vec<(NixStr, Value)> {
    let mut out: Vec<(NixStr, Value)> = a
        .iter()
        .map(|(s, v)| (ev.sym_name(*s).clone(), v.clone()))
        .collect();
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

// ------------------------------------------------------------ control flow

fn abort(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let message = ev.coerce_to_string(a[0].clone(), false, false)?.to_string();
    err(ErrorKind::Aborted { message })
}

fn throw(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let message = ev.coerce_to_string(a[0].clone(), false, false)?.to_string();
    err(ErrorKind::Thrown { message })
}

fn try_eval(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    match force(ev, &a[0]) {
        Ok(v) => Ok(make_attrs(
            ev,
            vec![("success", Value::Bool(true)), ("value", v)],
        )),
        Err(e) if e.is_catchable() => Ok(make_attrs(
            ev,
            vec![
                ("success", Value::Bool(false)),
                ("value", Value::Bool(false)),
            ],
        )),
        Err(e) => Err(e),
    }
}

fn add_error_context(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    match force(ev, &a[1]) {
        Ok(v) => Ok(v),
        Err(e) => {
            let context = ev
                .coerce_to_string(a[0].clone(), false, false)
                .map(|s| s.to_string());
            Err(e.push_trace(|| context.unwrap_or_default(), Some(span)))
        }
    }
}

fn trace(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let v = force(ev, &a[0])?;
    let text = match &v {
        Value::String(s) => s.to_string(),
        other => print::print_value(ev, other)?,
    };
    eprintln!("trace: {text}");
    ev.trace_output.push(text);
    force(ev, &a[1])
}

fn warn(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let msg = string(ev, &a[0])?;
    eprintln!("evaluation warning: {msg}");
    ev.trace_output.push(msg.to_string());
    force(ev, &a[1])
}

fn seq(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    force(ev, &a[0])?;
    force(ev, &a[1])
}

fn deep_seq(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    ev.deep_force(&a[0])?;
    force(ev, &a[1])
}

// ------------------------------------------------------------------- types

fn type_of(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    Ok(Value::string(force(ev, &a[0])?.type_name()))
}

fn is_type(ev: &mut Evaluator, a: &[Value], test: fn(&Value) -> bool) -> Result<Value> {
    Ok(Value::Bool(test(&force(ev, &a[0])?)))
}

// ------------------------------------------------------------------- sets

fn attr_names(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let set = attrs(ev, &a[0])?;
    Ok(list_value(
        sorted_by_name(ev, &set)
            .into_iter()
            .map(|(k, _)| Value::String(k))
            .collect(),
    ))
}

fn attr_values(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let set = attrs(ev, &a[0])?;
    Ok(list_value(
        sorted_by_name(ev, &set)
            .into_iter()
            .map(|(_, v)| v)
            .collect(),
    ))
}

fn get_attr(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let name = plain_string(ev, &a[0])?;
    let sym = ev.sym(&name);
    ev.select(a[1].clone(), sym, span)
}

fn has_attr(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let name = plain_string(ev, &a[0])?;
    let set = attrs(ev, &a[1])?;
    Ok(Value::Bool(
        ev.interner.lookup(&name).is_some_and(|s| set.contains(s)),
    ))
}

fn list_to_attrs(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let items = list(ev, &a[0])?;
    let mut named: Vec<(Sym, Rc<Attrs>)> = Vec::with_capacity(items.len());
    let (name_sym, value_sym) = (ev.syms.name, ev.syms.value);
    for item in items.iter() {
        let set = attrs(ev, item)?;
        let name = match set.get(name_sym) {
            Some(n) => plain_string(ev, &n.clone())?,
            None => return Err(ev.missing_attr(&set, name_sym, span)),
        };
        named.push((ev.sym(&name), set));
    }
    // The first definition of a name wins, as in Nix: a stable sort keeps
    // list order among equal names, and dedup keeps the first.
    named.sort_by_key(|e| e.0);
    named.dedup_by_key(|e| e.0);
    let mut entries = Vec::with_capacity(named.len());
    for (sym, set) in named {
        match set.get(value_sym) {
            Some(v) => entries.push((sym, v.clone())),
            None => return Err(ev.missing_attr(&set, value_sym, span)),
        }
    }
    Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
}

fn map_attrs(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let set = attrs(ev, &a[1])?;
    let f = a[0].clone();
    let entries = set
        .iter()
        .map(|(k, v)| {
            let name = Value::String(ev.sym_name(*k).clone());
            (
                *k,
                Thunk::lazy(ThunkState::Call2(Box::new([f.clone(), name, v.clone()]))),
            )
        })
        .collect();
    Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
}

fn remove_attrs(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let set = attrs(ev, &a[0])?;
    let names = list(ev, &a[1])?;
    let mut remove = FxHashSet::default();
    for n in names.iter() {
        let s = plain_string(ev, n)?;
        if let Some(sym) = ev.interner.lookup(&s) {
            remove.insert(sym);
        }
    }
    let entries = set
        .iter()
        .filter(|(k, _)| !remove.contains(k))
        .cloned()
        .collect();
    Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
}

fn intersect_attrs(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let left = attrs(ev, &a[0])?;
    let right = attrs(ev, &a[1])?;
    let entries = right
        .iter()
        .filter(|(k, _)| left.contains(*k))
        .cloned()
        .collect();
    Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
}

fn cat_attrs(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let name = plain_string(ev, &a[0])?;
    let sym = ev.sym(&name);
    let items = list(ev, &a[1])?;
    let mut out = Vec::new();
    for item in items.iter() {
        let set = attrs(ev, item)?;
        if let Some(v) = set.get(sym) {
            out.push(v.clone());
        }
    }
    Ok(list_value(out))
}

fn zip_attrs_with(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let f = a[0].clone();
    let sets = list(ev, &a[1])?;
    let mut grouped: FxHashMap<Sym, Vec<Value>> = FxHashMap::default();
    for s in sets.iter() {
        let set = attrs(ev, s)?;
        for (k, v) in set.iter() {
            grouped.entry(*k).or_default().push(v.clone());
        }
    }
    let mut entries: Vec<(Sym, Value)> = grouped
        .into_iter()
        .map(|(k, vs)| {
            let name = Value::String(ev.sym_name(k).clone());
            (
                k,
                Thunk::lazy(ThunkState::Call2(Box::new([
                    f.clone(),
                    name,
                    list_value(vs),
                ]))),
            )
        })
        .collect();
    entries.sort_by_key(|e| e.0);
    Ok(Value::Attrs(Rc::new(Attrs::from_sorted(entries))))
}

fn function_args(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    match force(ev, &a[0])? {
        Value::Lambda(c) => match &c.def.param {
            Param::Ident => Ok(Value::Attrs(Rc::new(Attrs::default()))),
            Param::Pattern { formals, .. } => {
                let entries = formals
                    .iter()
                    .map(|f| (f.name, Value::Bool(f.default.is_some())))
                    .collect();
                Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
            }
        },
        Value::PrimOp(_) | Value::PrimOpApp(_) => Ok(Value::Attrs(Rc::new(Attrs::default()))),
        other => Err(type_error("a function", &other)),
    }
}

// ------------------------------------------------------------------ lists

fn length(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    Ok(Value::Int(list(ev, &a[0])?.len() as i64))
}

fn head(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[0])?;
    match l.first() {
        Some(v) => force(ev, v),
        None => other("'builtins.head' called on an empty list"),
    }
}

fn tail(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[0])?;
    if l.is_empty() {
        return other("'builtins.tail' called on an empty list");
    }
    Ok(list_value(l[1..].to_vec()))
}

fn elem_at(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[0])?;
    let n = int(ev, &a[1])?;
    match usize::try_from(n).ok().and_then(|i| l.get(i)) {
        Some(v) => force(ev, v),
        None => other(format!("list index {n} is out of bounds")),
    }
}

fn elem(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[1])?;
    for item in l.iter() {
        if ev.equal(&a[0], item)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn filter(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    let mut out = Vec::new();
    for item in l.iter() {
        let keep = call1(ev, &f, item.clone(), span)?;
        if bool_of(ev, keep)? {
            out.push(item.clone());
        }
    }
    Ok(list_value(out))
}

fn map(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[1])?;
    let f = a[0].clone();
    Ok(list_value(
        l.iter()
            .map(|x| Thunk::lazy(ThunkState::Call1(f.clone(), x.clone())))
            .collect(),
    ))
}

fn foldl(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let l = list(ev, &a[2])?;
    if l.is_empty() {
        return force(ev, &a[1]);
    }
    let f = function(ev, &a[0])?;
    let mut acc = a[1].clone();
    for item in l.iter() {
        acc = call2(ev, &f, acc, item.clone(), span)?;
    }
    Ok(acc)
}

fn gen_list(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let n = int(ev, &a[1])?;
    // Beyond this the allocation alone would exhaust memory and abort the
    // process; refuse it as an error instead.
    const MAX_LIST: i64 = 1 << 28;
    if !(0..=MAX_LIST).contains(&n) {
        return other(format!("cannot create a list of {n} elements"));
    }
    ev.reserve_values::<Value>(n as usize)?;
    let f = a[0].clone();
    Ok(list_value(
        (0..n)
            .map(|i| Thunk::lazy(ThunkState::Call1(f.clone(), Value::Int(i))))
            .collect(),
    ))
}

fn concat_lists(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let l = list(ev, &a[0])?;
    let mut out = Vec::new();
    for item in l.iter() {
        let item = list(ev, item)?;
        ev.make_room_list(&mut out, item.len())?;
        out.extend_from_slice(&item);
    }
    Ok(list_value(out))
}

fn concat_map(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    let mut out = Vec::new();
    for item in l.iter() {
        let r = expect_list(call1(ev, &f, item.clone(), span)?)?;
        ev.make_room_list(&mut out, r.len())?;
        out.extend_from_slice(&r);
    }
    Ok(list_value(out))
}

fn any_all(ev: &mut Evaluator, a: &[Value], span: Span, any: bool) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    for item in l.iter() {
        let r = call1(ev, &f, item.clone(), span)?;
        if bool_of(ev, r)? == any {
            return Ok(Value::Bool(any));
        }
    }
    Ok(Value::Bool(!any))
}

fn sort(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    // Nix forces every element before sorting, even a one-element list.
    let mut items: Vec<Value> = l.iter().map(|v| force(ev, v)).collect::<Result<_>>()?;
    // A stable merge sort with a fallible comparator: the user's function
    // may throw or be inconsistent, neither of which may panic.
    let mut buf = items.clone();
    let n = items.len();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                let r = call2(ev, &f, items[j].clone(), items[i].clone(), span)?;
                if bool_of(ev, r)? {
                    buf[k] = items[j].clone();
                    j += 1;
                } else {
                    buf[k] = items[i].clone();
                    i += 1;
                }
                k += 1;
            }
            while i < mid {
                buf[k] = items[i].clone();
                i += 1;
                k += 1;
            }
            while j < end {
                buf[k] = items[j].clone();
                j += 1;
                k += 1;
            }
            start = end;
        }
        std::mem::swap(&mut items, &mut buf);
        width *= 2;
    }
    Ok(list_value(items))
}

fn partition(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for item in l.iter() {
        // Nix forces each element, not only the predicate's result.
        force(ev, item)?;
        let r = call1(ev, &f, item.clone(), span)?;
        if bool_of(ev, r)? {
            right.push(item.clone());
        } else {
            wrong.push(item.clone());
        }
    }
    Ok(make_attrs(
        ev,
        vec![("right", list_value(right)), ("wrong", list_value(wrong))],
    ))
}

fn group_by(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = function(ev, &a[0])?;
    let l = list(ev, &a[1])?;
    let mut groups: FxHashMap<Sym, Vec<Value>> = FxHashMap::default();
    for item in l.iter() {
        let key = call1(ev, &f, item.clone(), span)?;
        let key = ev.expect_string_no_context(key)?;
        let sym = ev.sym(&key);
        groups.entry(sym).or_default().push(item.clone());
    }
    let entries = groups
        .into_iter()
        .map(|(k, v)| (k, list_value(v)))
        .collect();
    Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
}

fn generic_closure(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let args = attrs(ev, &a[0])?;
    let start_sym = ev.sym("startSet");
    let op_sym = ev.sym("operator");
    let key_sym = ev.sym("key");
    let start = ev.select(Value::Attrs(args.clone()), start_sym, span)?;
    let op = ev.select(Value::Attrs(args), op_sym, span)?;
    let mut work: Vec<Value> = expect_list(start)?.iter().cloned().collect();
    work.reverse();
    // Keys kept sorted with Nix's `<`, as Nix's std::set: incomparable keys
    // are an error, not silently distinct.
    let mut keys: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    while let Some(item) = work.pop() {
        let key = ev.select(item.clone(), key_sym, span)?;
        let (mut lo, mut hi) = (0, keys.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if ev.less_than(&keys[mid], &key)? {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo < keys.len() && !ev.less_than(&key, &keys[lo])? {
            continue;
        }
        keys.insert(lo, key);
        out.push(item.clone());
        let next = call1(ev, &op, item, span)?;
        let next = expect_list(next)?;
        for n in next.iter().rev() {
            work.push(n.clone());
        }
    }
    Ok(list_value(out))
}

// ---------------------------------------------------------------- strings

fn to_string(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let mut context = StringContext::new();
    let text = ev.coerce_to_string_ctx(a[0].clone(), true, false, &mut context)?;
    Ok(Value::string_with_context(text, context))
}

fn string_length(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    Ok(Value::Int(
        ev.coerce_to_string(a[0].clone(), false, false)?.len() as i64,
    ))
}

fn substring(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let start = int(ev, &a[0])?;
    let len = int(ev, &a[1])?;
    let mut context = StringContext::new();
    let coerced;
    let s = match &a[2] {
        Value::String(s) => s,
        v => {
            coerced = ev.coerce_to_string_ctx(v.clone(), false, false, &mut context)?;
            &coerced
        }
    };
    if start < 0 {
        return other("negative start position in 'substring'");
    }
    let bytes = s.as_bytes();
    let from = (start as usize).min(bytes.len());
    let to = if len < 0 {
        bytes.len()
    } else {
        from.saturating_add(len as usize).min(bytes.len())
    };
    let piece = if from == 0 && to == bytes.len() {
        s.clone()
    } else {
        match s.get(from..to) {
            Some(piece) => NixStr::from(piece),
            // Cut inside a character: Nix's bytes are not UTF-8 here.
            None => String::from_utf8_lossy(&bytes[from..to]).into(),
        }
    };
    // Nix keeps the context even of an empty piece.
    Ok(Value::string_with_context(piece, context))
}

fn concat_strings_sep(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let mut context = StringContext::new();
    let sep = ev.expect_string_ctx(a[0].clone(), &mut context)?;
    let l = list(ev, &a[1])?;
    let mut parts: Vec<NixStr> = Vec::with_capacity(l.len());
    for item in l.iter() {
        parts.push(ev.coerce_to_string_ctx(item.clone(), false, true, &mut context)?);
    }
    let mut refs: Vec<&str> = Vec::with_capacity(2 * parts.len());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 && !sep.is_empty() {
            refs.push(&sep);
        }
        refs.push(p);
    }
    ev.reserve(refs.iter().map(|r| r.len()).sum())?;
    Ok(Value::string_with_context(concat_strs(&refs), context))
}

fn replace_strings(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let from = list(ev, &a[0])?;
    let to = list(ev, &a[1])?;
    if from.len() != to.len() {
        return other(
            "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths",
        );
    }
    let froms: Vec<NixStr> = from.iter().map(|f| string(ev, f)).collect::<Result<_>>()?;
    // Replacements are forced only when used, as in today's Nix.
    let mut tos: Vec<Option<NixStr>> = vec![None; to.len()];
    let mut context = StringContext::new();
    let s = ev.expect_string_ctx(a[2].clone(), &mut context)?;
    if !froms.iter().any(|f| f.is_empty()) {
        let text = replace_nonempty(ev, &froms, &to, &mut tos, s, &mut context)?;
        return Ok(Value::string_with_context(text, context));
    }
    let mut out = String::with_capacity(s.len());
    let mut p = 0;
    while p <= s.len() {
        let rest = &s[p..];
        let mut found = false;
        for (i, f) in froms.iter().enumerate() {
            if rest.starts_with(&**f) {
                found = true;
                if tos[i].is_none() {
                    tos[i] = Some(ev.expect_string_ctx(to[i].clone(), &mut context)?);
                }
                let to = tos[i].as_deref().unwrap_or_default();
                ev.make_room(&mut out, to.len() + 4)?;
                out.push_str(to);
                if f.is_empty() {
                    if let Some(c) = rest.chars().next() {
                        out.push(c);
                        p += c.len_utf8();
                    } else {
                        p += 1;
                    }
                } else {
                    p += f.len();
                }
                break;
            }
        }
        if !found {
            match rest.chars().next() {
                Some(c) => {
                    out.push(c);
                    p += c.len_utf8();
                }
                None => p += 1,
            }
        }
    }
    Ok(Value::string_with_context(out.into(), context))
}

/// `replaceStrings` when no pattern is empty: only positions holding the
/// first byte of some pattern are tried, and the text between matches is
/// copied in one piece.
fn replace_nonempty(
    ev: &mut Evaluator,
    froms: &[NixStr],
    to: &[Value],
    tos: &mut [Option<NixStr>],
    s: NixStr,
    context: &mut StringContext,
) -> Result<NixStr> {
    let mut starts = [false; 256];
    for f in froms {
        starts[usize::from(f.as_bytes()[0])] = true;
    }
    let bytes = s.as_bytes();
    let mut out = String::new();
    let (mut p, mut copied) = (0, 0);
    while let Some(k) = bytes[p..].iter().position(|&b| starts[usize::from(b)]) {
        p += k;
        match froms
            .iter()
            .position(|f| bytes[p..].starts_with(f.as_bytes()))
        {
            Some(i) => {
                if tos[i].is_none() {
                    tos[i] = Some(ev.expect_string_ctx(to[i].clone(), context)?);
                }
                if out.capacity() == 0 {
                    out.reserve(s.len());
                }
                let to = tos[i].as_deref().unwrap_or_default();
                ev.make_room(&mut out, p - copied + to.len())?;
                // Matches start and end on character boundaries.
                out.push_str(&s[copied..p]);
                out.push_str(to);
                p += froms[i].len();
                copied = p;
            }
            None => p += 1,
        }
    }
    if copied == 0 {
        return Ok(s);
    }
    out.push_str(&s[copied..]);
    Ok(out.into())
}

fn regex_for(ev: &mut Evaluator, pattern: &str) -> Result<Rc<Regex>> {
    if let Some(r) = ev.regex_cache.get(pattern) {
        return Ok(r.clone());
    }
    let re = Regex::new(pattern).map_err(|e| {
        let message = match e {
            RegexError::TooBig => {
                format!("memory limit exceeded by regular expression '{pattern}': {e}")
            }
            RegexError::Invalid(_) => format!("invalid regular expression '{pattern}': {e}"),
        };
        EvalError::new(ErrorKind::Other { message }, None)
    })?;
    let re = Rc::new(re);
    ev.regex_cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// A piece of `s` cut at byte offsets, which may fall inside a UTF-8
/// sequence (the matcher works on bytes, as Nix's does).
fn byte_slice(s: &str, start: usize, end: usize) -> Value {
    match s.get(start..end) {
        Some(piece) => Value::string(piece),
        None => Value::string(&String::from_utf8_lossy(&s.as_bytes()[start..end])),
    }
}

/// `[]`, one list shared by all: `split` returns one for each match of a
/// pattern without groups (an empty list is never printed as repeated).
fn empty_list() -> Value {
    thread_local! {
        static EMPTY: Rc<Vec<Value>> = Rc::new(Vec::new());
    }
    EMPTY.with(|l| Value::List(Rc::clone(l)))
}

fn groups(s: &str, m: &Match) -> Value {
    if m.groups.is_empty() {
        return empty_list();
    }
    list_value(
        m.groups
            .iter()
            .map(|g| match g {
                Some((start, end)) => byte_slice(s, *start, *end),
                None => Value::Null,
            })
            .collect(),
    )
}

fn regex_match(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let pattern = plain_string(ev, &a[0])?;
    let s = string(ev, &a[1])?;
    let re = regex_for(ev, &pattern)?;
    let mut fuel = ev.regex_fuel(s.len());
    let found = re.match_whole(s.as_bytes(), &mut fuel);
    Ok(match ev.regex_spent(fuel, found, &pattern)? {
        Some(m) => groups(&s, &m),
        None => Value::Null,
    })
}

fn split(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let pattern = plain_string(ev, &a[0])?;
    let s = string(ev, &a[1])?;
    let re = regex_for(ev, &pattern)?;
    let mut fuel = ev.regex_fuel(s.len());
    let mut out = Vec::new();
    let mut last = 0;
    let mut matches = re.matches(s.as_bytes(), &mut fuel);
    let searched = loop {
        match matches.next() {
            Some(Ok(m)) => {
                out.push(byte_slice(&s, last, m.start));
                out.push(groups(&s, &m));
                last = m.end;
            }
            Some(Err(out_of_fuel)) => break Err(out_of_fuel),
            None => break Ok(()),
        }
    };
    ev.regex_spent(fuel, searched, &pattern)?;
    if out.is_empty() {
        // No match: the string itself, its context kept, as Nix 2.8 does.
        return Ok(list_value(vec![ev.force(a[1].clone())?]));
    }
    out.push(byte_slice(&s, last, s.len()));
    Ok(list_value(out))
}

fn to_json(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let mut context = StringContext::new();
    let text = print::to_json(ev, &a[0], &mut context)?;
    Ok(Value::string_with_context(text.into(), context))
}

fn to_xml(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let mut context = StringContext::new();
    let text = print::to_xml(ev, &a[0], &mut context)?;
    Ok(Value::string_with_context(text.into(), context))
}

fn from_json(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    use serde::de::DeserializeSeed as _;
    let s = plain_string(ev, &a[0])?;
    let mut de = serde_json::Deserializer::from_str(&s);
    JsonSeed(ev)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            EvalError::new(
                ErrorKind::InvalidJson {
                    source: SharedCause::new(e),
                },
                None,
            )
        })
}

/// Parses JSON straight into values (no intermediate document): objects
/// become sets (a repeated key keeps its last value), integers are 64-bit
/// as in Nix.
struct JsonSeed<'a>(&'a mut Evaluator);

impl<'de> serde::de::DeserializeSeed<'de> for JsonSeed<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> std::result::Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> std::result::Result<Value, E> {
        // Nix stores an unsigned number in its signed integer: past
        // i64::MAX it wraps around.
        Ok(Value::Int(u as i64))
    }
    fn visit_f64<E>(self, x: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(x))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::string(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element_seed(JsonSeed(&mut *self.0))? {
            items.push(v);
        }
        Ok(list_value(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key_seed(JsonKey(&mut *self.0))? {
            entries.push((key, map.next_value_seed(JsonSeed(&mut *self.0))?));
        }
        Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
    }
}

/// An object key, interned as it is read.
struct JsonKey<'a>(&'a mut Evaluator);

impl<'de> serde::de::DeserializeSeed<'de> for JsonKey<'_> {
    type Value = Sym;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Sym, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for JsonKey<'_> {
    type Value = Sym;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Sym, E> {
        Ok(self.0.sym(s))
    }
}

fn from_toml(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let s = plain_string(ev, &a[0])?;
    let table: toml::Table = toml::from_str(&s).map_err(|e| {
        EvalError::new(
            ErrorKind::InvalidToml {
                message: e.message().to_string(),
                source: Some(SharedCause::new(e)),
            },
            None,
        )
    })?;
    toml_to_value(ev, &toml::Value::Table(table))
}

fn toml_to_value(ev: &mut Evaluator, t: &toml::Value) -> Result<Value> {
    Ok(match t {
        toml::Value::String(s) => Value::string(s),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => {
            return err(ErrorKind::InvalidToml {
                message: format!("the date-time '{d}' is not supported (as in Nix without experimental features)"),
                source: None,
            });
        }
        toml::Value::Array(items) => list_value(
            items
                .iter()
                .map(|i| toml_to_value(ev, i))
                .collect::<Result<_>>()?,
        ),
        toml::Value::Table(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                entries.push((ev.sym(k), toml_to_value(ev, v)?));
            }
            Value::Attrs(Rc::new(Attrs::from_unsorted(entries)))
        }
    })
}

// ---------------------------------------------------------------- numbers

fn arith(ev: &mut Evaluator, a: &[Value], op: crate::ir::BinOp) -> Result<Value> {
    let l = force(ev, &a[0])?;
    let r = force(ev, &a[1])?;
    ev.arith(op, l, r)
}

fn less_than(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    Ok(Value::Bool(ev.less_than(&a[0], &a[1])?))
}

fn bits(ev: &mut Evaluator, a: &[Value], f: fn(i64, i64) -> i64) -> Result<Value> {
    let x = int(ev, &a[0])?;
    let y = int(ev, &a[1])?;
    Ok(Value::Int(f(x, y)))
}

fn round(ev: &mut Evaluator, a: &[Value], f: fn(f64) -> f64) -> Result<Value> {
    match force(ev, &a[0])? {
        Value::Int(i) => Ok(Value::Int(i)),
        Value::Float(x) => {
            let r = f(x);
            // i64::MAX as f64 rounds up to 2^63, which is out of range.
            if r.is_nan()
                || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&r)
            {
                return err(ErrorKind::IntegerOverflow {
                    operation: "rounding a float",
                });
            }
            Ok(Value::Int(r as i64))
        }
        other => Err(type_error("a float", &other)),
    }
}

// --------------------------------------------------------------- versions

fn is_version_separator(c: char) -> bool {
    c == '.' || c == '-'
}

/// The next component of a version string and the rest, as Nix splits it.
fn next_component(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches(is_version_separator);
    let Some(first) = s.chars().next() else {
        return ("", "");
    };
    let end = if first.is_ascii_digit() {
        s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len())
    } else {
        s.find(|c: char| c.is_ascii_digit() || is_version_separator(c))
            .unwrap_or(s.len())
    };
    (&s[..end], &s[end..])
}

fn component_less(a: &str, b: &str) -> bool {
    let num = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    match (num(a), num(b)) {
        (true, true) => {
            let x = a.trim_start_matches('0');
            let y = b.trim_start_matches('0');
            (x.len(), x) < (y.len(), y)
        }
        _ if a.is_empty() && num(b) => true,
        _ if a == "pre" && b != "pre" => true,
        _ if b == "pre" => false,
        (_, true) => true,
        (true, _) => false,
        _ => a < b,
    }
}

pub(crate) fn compare_version_strings(mut a: &str, mut b: &str) -> i64 {
    while !a.is_empty() || !b.is_empty() {
        let (c1, r1) = next_component(a);
        let (c2, r2) = next_component(b);
        if component_less(c1, c2) {
            return -1;
        }
        if component_less(c2, c1) {
            return 1;
        }
        a = r1;
        b = r2;
    }
    0
}

fn compare_versions(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let x = plain_string(ev, &a[0])?;
    let y = plain_string(ev, &a[1])?;
    Ok(Value::Int(compare_version_strings(&x, &y)))
}

fn split_version(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let s = plain_string(ev, &a[0])?;
    let mut rest: &str = &s;
    let mut out = Vec::new();
    loop {
        let (c, r) = next_component(rest);
        if c.is_empty() {
            break;
        }
        out.push(Value::string(c));
        rest = r;
    }
    Ok(list_value(out))
}

fn parse_drv_name(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let s = plain_string(ev, &a[0])?;
    let bytes = s.as_bytes();
    let split = (0..bytes.len())
        .find(|&i| bytes[i] == b'-' && i + 1 < bytes.len() && !bytes[i + 1].is_ascii_alphabetic());
    let (name, version) = match split {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (&s[..], ""),
    };
    Ok(make_attrs(
        ev,
        vec![
            ("name", Value::string(name)),
            ("version", Value::string(version)),
        ],
    ))
}

// ---------------------------------------------------------------- hashing

fn hash_bytes(algo: &str, data: &[u8]) -> Result<String> {
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    Ok(match algo {
        "md5" => hex(&md5::Md5::digest(data)),
        "sha1" => hex(&sha1::Sha1::digest(data)),
        "sha256" => hex(&sha2::Sha256::digest(data)),
        "sha512" => hex(&sha2::Sha512::digest(data)),
        other_algo => return other(format!("unknown hash algorithm '{other_algo}'")),
    })
}

fn hash_string(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let algo = plain_string(ev, &a[0])?;
    let s = ev.coerce_to_string(a[1].clone(), false, false)?;
    Ok(Value::string(&hash_bytes(&algo, s.as_bytes())?))
}

// ------------------------------------------------------------------- paths

fn base_name_of(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let mut context = StringContext::new();
    let s = ev.coerce_to_string_ctx(a[0].clone(), false, false, &mut context)?;
    Ok(Value::string_with_context(
        path::base_name_of(&s).into(),
        context,
    ))
}

fn dir_of(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    match force(ev, &a[0])? {
        Value::Path(p) => Ok(Value::Path(path::dir_of(&p).into())),
        v => {
            let mut context = StringContext::new();
            let s = ev.coerce_to_string_ctx(v, false, false, &mut context)?;
            Ok(Value::string_with_context(path::dir_of(&s).into(), context))
        }
    }
}

/// `toPath` (deprecated in Nix, kept for old code): a string (not a path)
/// holding its argument, an absolute path, made canonical; its context
/// kept. It reads nothing, so no policy applies.
fn to_path(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let v = force(ev, &a[0])?;
    let mut context = StringContext::new();
    let s = ev.coerce_to_string_ctx(v, false, false, &mut context)?;
    if !s.starts_with('/') {
        return other(format!("string '{s}' doesn't represent an absolute path"));
    }
    Ok(Value::string_with_context(
        path::canon_path(&s).into(),
        context,
    ))
}

/// A path argument: a path value, or a string holding an absolute path.
fn path_arg(ev: &mut Evaluator, v: &Value) -> Result<String> {
    let v = force(ev, v)?;
    let s = ev.coerce_to_string(v, false, false)?;
    if !s.starts_with('/') {
        return other(format!("string '{s}' doesn't represent an absolute path"));
    }
    if ev.policy.as_ref().is_some_and(|p| p.refuse_parent_segments)
        && s.split('/').any(|c| c == "..")
    {
        return err(ErrorKind::Forbidden {
            what: format!("the path '{s}'"),
            help: "paths may not contain `..`; a file can only read below its own directory".into(),
        });
    }
    Ok(path::canon_path(&s))
}

fn import(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let p = path_arg(ev, &a[0])?;
    ev.import(&p)
}

fn scoped_import(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let scope = attrs(ev, &a[0])?;
    let p = path_arg(ev, &a[1])?;
    ev.scoped_import(&scope, &p)
}

fn read_file(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let p = path_arg(ev, &a[0])?;
    Ok(Value::String(ev.read_text(&p)?))
}

fn read_dir(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let p = path_arg(ev, &a[0])?;
    let entries = ev.fs.read_dir(&p).map_err(|e| ev.fs_error(&p, e))?;
    let entries = entries
        .into_iter()
        .map(|(name, t)| (ev.sym(&name), Value::string(t.nix_name())))
        .collect();
    Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
}

fn path_exists(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let p = path_arg(ev, &a[0])?;
    Ok(Value::Bool(
        ev.fs.exists(&p).map_err(|e| ev.fs_error(&p, e))?,
    ))
}

fn read_file_type(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let p = path_arg(ev, &a[0])?;
    match ev.fs.file_type(&p).map_err(|e| ev.fs_error(&p, e))? {
        Some(t) => Ok(Value::string(t.nix_name())),
        None => err(ErrorKind::NotFound { path: p }),
    }
}

/// The builtins that read files, each taking first the directory it is
/// confined to ([`Evaluator::confined_file_builtins`]).
const CONFINED: &[(&str, usize, PrimOpFn)] = &[
    ("readFile", 2, |ev, a, s| confined(ev, a, 0, s, read_file)),
    ("readDir", 2, |ev, a, s| confined(ev, a, 0, s, read_dir)),
    ("pathExists", 2, |ev, a, s| {
        confined(ev, a, 0, s, path_exists)
    }),
    ("readFileType", 2, |ev, a, s| {
        confined(ev, a, 0, s, read_file_type)
    }),
    ("hashFile", 3, |ev, a, s| confined(ev, a, 1, s, hash_file)),
];

/// `f` on `a[1..]` if its path argument (`a[1 + path_at]`) is the
/// directory `a[0]` or below it.
fn confined(
    ev: &mut Evaluator,
    a: &[Value],
    path_at: usize,
    span: Span,
    f: PrimOpFn,
) -> Result<Value> {
    let root = string(ev, &a[0])?;
    let path = path_arg(ev, &a[1 + path_at])?;
    let below = path
        .strip_prefix(root.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !below {
        return err(ErrorKind::Forbidden {
            what: format!("reading '{path}' from the directory '{root}'"),
            help: "code reads only below its own directory (a module: `\"${mod}\"`); to share another module's files, call a function of that module that reads them".into(),
        });
    }
    f(ev, &a[1..], span)
}

impl Evaluator {
    /// `readFile`, `readDir`, `pathExists`, `readFileType` and `hashFile`
    /// as values that read only `root` and below it, whoever calls them
    /// with whatever path: a host binds them in the scope of code that may
    /// read only its own directory (a module), so that a path string naming
    /// another directory, however it was spelled or obtained, is refused,
    /// and code elsewhere it hands them to still reads only `root`. Each
    /// prints and is described as the builtin it stands for (`<PRIMOP>`,
    /// as Nix prints `builtins.readFile`), not as an application.
    pub fn confined_file_builtins(&self, root: &str) -> Vec<(&'static str, Value)> {
        CONFINED
            .iter()
            .map(|(name, arity, func)| {
                let op = Rc::new(PrimOp {
                    name,
                    arity: *arity,
                    func: *func,
                });
                let app = PrimOpApp {
                    op,
                    args: vec![Value::string(root)],
                    bound_by_host: true,
                };
                (*name, Value::PrimOpApp(Rc::new(app)))
            })
            .collect()
    }
}

fn hash_file(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let algo = plain_string(ev, &a[0])?;
    let p = path_arg(ev, &a[1])?;
    let data = ev.fs.read_file(&p).map_err(|e| ev.fs_error(&p, e))?;
    Ok(Value::string(&hash_bytes(&algo, &data)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_like_nix() {
        assert_eq!(compare_version_strings("1.0", "2.3"), -1);
        assert_eq!(compare_version_strings("2.1", "2.3"), -1);
        assert_eq!(compare_version_strings("2.3", "2.3"), 0);
        assert_eq!(compare_version_strings("2.5", "2.3"), 1);
        assert_eq!(compare_version_strings("3.1", "2.3"), 1);
        assert_eq!(compare_version_strings("2.3.1", "2.3"), 1);
        assert_eq!(compare_version_strings("2.3.1", "2.3a"), 1);
        assert_eq!(compare_version_strings("2.3pre1", "2.3"), -1);
        assert_eq!(compare_version_strings("2.3pre3", "2.3pre12"), -1);
        assert_eq!(compare_version_strings("2.3a", "2.3c"), -1);
        assert_eq!(compare_version_strings("2.3pre1", "2.3c"), -1);
        assert_eq!(compare_version_strings("2.3pre1", "2.3q"), -1);
    }

    #[test]
    fn hashes_are_hex() {
        assert_eq!(
            hash_bytes("md5", b"").unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            hash_bytes("sha256", b"abc").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hash_bytes("crc", b"").is_err());
    }
}
