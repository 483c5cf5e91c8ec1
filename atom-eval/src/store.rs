//! The store builtins: string context, `derivation`, `toFile`,
//! `placeholder`, `storeDir`, `storePath`, and paths copied to the store.
//!
//! Nix writes every source, text and `.drv` into its store while it
//! evaluates. This evaluator has no store: it computes the same paths
//! in-process (`atom-store`, byte-identical to Nix 2.8) and keeps what it
//! produced in [`KnownPaths`], which the host later writes into a real
//! store to build (`eka build`). Everything here is pure: the same code
//! gives the same paths on every machine.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use atom_store::{ContextElem, DeriveError, DrvAttr, DrvInputs, KnownPaths, StorePath};
use rustc_hash::FxHashMap;

use crate::error::{err, other, ErrorKind, EvalError, Result, Span};
use crate::eval::{expect_attrs, type_error, Evaluator};
use crate::fs::FsError;
use crate::value::*;

/// What the evaluation put "into the store".
#[derive(Default)]
pub(crate) struct StoreState {
    pub(crate) known: KnownPaths,
    /// Paths already copied, by the path evaluated (Nix's `srcToStore`).
    copied: FxHashMap<NixStr, StorePath>,
    /// The `derivation` function, once made.
    derivation: Option<Value>,
    /// Directories of the host's file system shown by their own name
    /// ([`Evaluator::source_string`]), by the source path each became.
    shown_as: FxHashMap<StorePath, NixStr>,
    /// The same, by directory.
    sources: FxHashMap<NixStr, StorePath>,
}

/// Nix 2.8's `corepkgs/derivation.nix`, taking the builtins it uses as
/// arguments so that a host's scope cannot change what it means.
const DERIVATION_NIX: &str = r#"{ derivationStrict, listToAttrs, head, map }:
drvAttrs @ { outputs ? [ "out" ], ... }:
let
  strict = derivationStrict drvAttrs;
  commonAttrs = drvAttrs // (listToAttrs outputsList) //
    { all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };
  outputToAttrListElement = outputName:
    { name = outputName;
      value = commonAttrs // {
        outPath = strict.${outputName};
        drvPath = strict.drvPath;
        type = "derivation";
        inherit outputName;
      };
    };
  outputsList = map outputToAttrListElement outputs;
in (head outputsList).value
"#;

fn store_error(e: impl std::error::Error) -> EvalError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    EvalError::new(ErrorKind::Other { message }, None)
}

impl Evaluator {
    /// The store objects this evaluation produced: sources, texts and
    /// derivations, with what each refers to.
    pub fn known_paths(&self) -> &KnownPaths {
        &self.store.known
    }

    /// A value coerced to a string as interpolation does (without copying
    /// paths), with its context.
    pub fn string_and_context(&mut self, v: &Value) -> Result<(NixStr, StringContext)> {
        let mut context = StringContext::new();
        let text = self.coerce_to_string_ctx(v.clone(), false, false, &mut context)?;
        Ok((text, context))
    }

    /// Nix's `copyPathToStore`: the path's file tree as a source path,
    /// named after its last component.
    pub(crate) fn copy_path_to_store(&mut self, path: &NixStr) -> Result<StorePath> {
        if let Some(done) = self.store.copied.get(path) {
            return Ok(done.clone());
        }
        let name = path.rsplit('/').next().unwrap_or_default().to_string();
        let stored = self.copy_path_named(path, &name)?;
        self.store.copied.insert(path.clone(), stored.clone());
        Ok(stored)
    }

    /// The file tree at `path` as a source path named `name`.
    pub(crate) fn copy_path_named(&mut self, path: &str, name: &str) -> Result<StorePath> {
        let nar = match self.fs.nar_source(path) {
            Ok(Some(nar)) => nar,
            Ok(None) => {
                return err(ErrorKind::Unsupported {
                    what: format!(
                        "copying the path '{path}' to the store (this file system has no files to copy)"
                    ),
                })
            }
            Err(FsError::NotFound) => {
                return err(ErrorKind::NotFound {
                    path: path.to_string(),
                })
            }
            Err(e) => return Err(self.fs_error(path, e)),
        };
        self.store.known.add_source(name, nar).map_err(|e| {
            store_error(e).push_trace(|| format!("while copying '{path}' to the store"), None)
        })
    }

    /// A directory of this evaluator's file system as a string that shows
    /// the directory but carries, as context, the directory copied to the
    /// store as a source named `name` (its NAR from
    /// [`crate::FileSystem::nar_source`]). Reading files through the
    /// string reads the directory; where Nix would write the string into
    /// the store (a derivation's attributes, `toFile`), the directory is
    /// replaced by the source's store path. This is how a module's
    /// `"${mod}"` is its directory to read and a store path to build with.
    pub fn source_string(&mut self, dir: &str, name: &str) -> Result<Value> {
        let stored = match self.store.sources.get(dir) {
            Some(stored) => stored.clone(),
            None => {
                let stored = self.copy_path_named(dir, name)?;
                self.store.sources.insert(dir.into(), stored.clone());
                self.store.shown_as.insert(stored.clone(), dir.into());
                stored
            }
        };
        Ok(Value::string_with_context(
            dir.into(),
            [ContextElem::Plain(stored)].into(),
        ))
    }

    /// `text` as it goes into the store: each directory shown by its own
    /// name whose source is in `context` replaced by the source's store
    /// path (where the directory name ends: not where it goes on into a
    /// longer name, `/a@1.0.0` in `/a@1.0.0:sub` or `/a@1.0.0~2`).
    pub(crate) fn stored_text(&self, text: String, context: &StringContext) -> String {
        if self.store.shown_as.is_empty() {
            return text;
        }
        let mut text = text;
        for elem in context {
            let ContextElem::Plain(path) = elem else {
                continue;
            };
            if let Some(shown) = self.store.shown_as.get(path) {
                let printed = self.store.known.store_dir().print(path);
                text = replace_whole_names(&text, shown, &printed);
            }
        }
        text
    }

    /// The `derivation` function (made once per evaluator).
    pub(crate) fn derivation_function(&mut self) -> Result<Value> {
        if let Some(f) = &self.store.derivation {
            return Ok(f.clone());
        }
        let expr = self.compile_scoped("<nix/derivation.nix>", DERIVATION_NIX.into(), "/", None)?;
        let make = self.run(&expr)?;
        let prim = |name: &'static str| {
            crate::builtins::primop(name).ok_or_else(|| {
                EvalError::new(
                    ErrorKind::Other {
                        message: format!("internal: no builtin '{name}'"),
                    },
                    None,
                )
            })
        };
        let args = vec![
            (self.sym("derivationStrict"), prim("derivationStrict")?),
            (self.sym("listToAttrs"), prim("listToAttrs")?),
            (self.sym("head"), prim("head")?),
            (self.sym("map"), prim("map")?),
        ];
        let args = Value::Attrs(Rc::new(Attrs::from_unsorted(args)));
        let f = self.call(make, args, no_span())?;
        let f = self.force(f)?;
        self.store.derivation = Some(f.clone());
        Ok(f)
    }
}

/// `text` with every `from` that is not followed by `:` or `~` (which
/// would make it a longer name) replaced by `to`.
fn replace_whole_names(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        out.push_str(&rest[..at]);
        let after = &rest[at + from.len()..];
        let longer = after.starts_with(':') || after.starts_with('~');
        out.push_str(if longer { from } else { to });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn no_span() -> Span {
    Span {
        file: crate::error::FileId(0),
        start: 0,
        end: 0,
    }
}

// ------------------------------------------------------------ builtins

/// `builtins.derivation`: the function of `derivation.nix`, applied.
pub(crate) fn derivation(ev: &mut Evaluator, a: &[Value], span: Span) -> Result<Value> {
    let f = ev.derivation_function()?;
    ev.call(f, a[0].clone(), span)
}

/// One attribute of a derivation, read by `atom-store`'s
/// `derivationStrict` through the evaluator.
struct Attr<'a, 'e> {
    ev: &'a RefCell<&'e mut Evaluator>,
    value: Value,
}

impl DrvAttr for Attr<'_, '_> {
    type Error = EvalError;

    fn is_null(&mut self) -> Result<bool> {
        let v = self.ev.borrow_mut().force(self.value.clone())?;
        Ok(matches!(v, Value::Null))
    }

    fn force_bool(&mut self) -> Result<bool> {
        match self.ev.borrow_mut().force(self.value.clone())? {
            Value::Bool(b) => Ok(b),
            other => Err(type_error("a Boolean", &other)),
        }
    }

    fn coerce_to_string(&mut self, context: &mut StringContext) -> Result<String> {
        let mut own = StringContext::new();
        let mut ev = self.ev.borrow_mut();
        let s = ev.coerce_to_string_ctx(self.value.clone(), true, true, &mut own)?;
        let s = ev.stored_text(s.to_string(), &own);
        context.extend(own);
        Ok(s)
    }

    fn force_string(&mut self, context: &mut StringContext) -> Result<String> {
        let mut own = StringContext::new();
        let mut ev = self.ev.borrow_mut();
        let s = ev.expect_string_ctx(self.value.clone(), &mut own)?;
        let s = ev.stored_text(s.to_string(), &own);
        context.extend(own);
        Ok(s)
    }

    fn force_string_no_context(&mut self) -> Result<String> {
        let mut ev = self.ev.borrow_mut();
        Ok(ev.expect_string_no_context(self.value.clone())?.to_string())
    }

    fn force_list(&mut self) -> Result<Vec<Self>> {
        let v = self.ev.borrow_mut().force(self.value.clone())?;
        match v {
            Value::List(items) => Ok(items
                .iter()
                .map(|value| Attr {
                    ev: self.ev,
                    value: value.clone(),
                })
                .collect()),
            other_value => Err(type_error("a list", &other_value)),
        }
    }

    fn to_json(&mut self, context: &mut StringContext) -> Result<String> {
        let mut own = StringContext::new();
        let mut ev = self.ev.borrow_mut();
        let json = crate::print::to_json(&mut ev, &self.value, &mut own)?;
        let json = ev.stored_text(json, &own);
        context.extend(own);
        Ok(json)
    }
}

/// `derivationStrict attrs`: `{ drvPath = …; <output> = …; }`.
pub(crate) fn derivation_strict(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let attrs = expect_attrs(ev.force(a[0].clone())?)?;
    let mut entries: Vec<(String, Value)> = attrs
        .iter()
        .map(|(k, v)| (ev.sym_name(*k).to_string(), v.clone()))
        .collect();
    entries.sort_by(|x, y| x.0.cmp(&y.0));
    let inputs = {
        let cell = RefCell::new(&mut *ev);
        let values = entries
            .into_iter()
            .map(|(k, value)| (k, Attr { ev: &cell, value }))
            .collect();
        DrvInputs::collect(values)
    }
    .map_err(drv_error)?;
    let made = ev
        .store
        .known
        .instantiate::<EvalError>(inputs)
        .map_err(drv_error)?;
    for warning in &made.warnings {
        ev.trace_output.push(format!("warning: {warning}"));
    }
    let dir = ev.store.known.store_dir().clone();
    let mut out = vec![(
        ev.sym("drvPath"),
        Value::string_with_context(
            dir.print(&made.drv_path).into(),
            [made.drv_path_context()].into(),
        ),
    )];
    for (name, path) in &made.outputs {
        let value =
            Value::string_with_context(dir.print(path).into(), [made.output_context(name)].into());
        out.push((ev.sym(name), value));
    }
    Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(out))))
}

/// An error of `derivationStrict`: an evaluation error inside an
/// attribute keeps its own kind, with Nix's "while evaluating the
/// attribute" frame; the others are Nix's messages.
fn drv_error(e: DeriveError<EvalError>) -> EvalError {
    use atom_store::derive::AttrError;
    match e {
        DeriveError::Value(inner) => inner,
        DeriveError::Name(inner) => inner.push_trace(
            || "while evaluating the derivation attribute 'name'".into(),
            None,
        ),
        DeriveError::Attribute {
            attr,
            drv,
            source: AttrError::Value(inner),
        } => inner.push_trace(
            || format!("while evaluating the attribute '{attr}' of the derivation '{drv}'"),
            None,
        ),
        other_error => store_error(other_error),
    }
}

/// `builtins.placeholder output`.
pub(crate) fn placeholder(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let output = ev.expect_string_no_context(a[0].clone())?;
    Ok(Value::string(&atom_store::hash_placeholder(&output)))
}

/// `builtins.toFile name text`.
pub(crate) fn to_file(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let name = ev.expect_string_no_context(a[0].clone())?;
    let mut context = StringContext::new();
    let text = ev.expect_string_ctx(a[1].clone(), &mut context)?;
    let text = ev.stored_text(text.to_string(), &context);
    let path = ev
        .store
        .known
        .add_text(&name, &text, &context)
        .map_err(store_error)?;
    let printed = ev.store.known.store_dir().print(&path);
    Ok(Value::string_with_context(
        printed.into(),
        [ContextElem::Plain(path)].into(),
    ))
}

/// `builtins.storePath p`: a path this evaluation produced, with it as
/// context (there is no store to find other paths in).
pub(crate) fn store_path(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let text = ev.coerce_to_string(a[0].clone(), false, false)?;
    let dir = ev.store.known.store_dir().clone();
    let path = ev.store.known.lookup(&text).map_err(store_error)?;
    // The path itself, not something inside it.
    Ok(Value::string_with_context(
        dir.print(&path).into(),
        [ContextElem::Plain(path)].into(),
    ))
}

fn context_string(ev: &mut Evaluator, v: &Value) -> Result<(NixStr, StringContext)> {
    let mut context = StringContext::new();
    let text = ev.expect_string_ctx(v.clone(), &mut context)?;
    Ok((text, context))
}

/// `builtins.hasContext s`.
pub(crate) fn has_context(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let (_, context) = context_string(ev, &a[0])?;
    Ok(Value::Bool(!context.is_empty()))
}

/// `builtins.unsafeDiscardStringContext s`.
pub(crate) fn discard_context(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    Ok(Value::String(ev.expect_string(a[0].clone())?))
}

/// `builtins.unsafeDiscardOutputDependency s`: a `drvPath`'s context
/// becomes the plain `.drv` file.
pub(crate) fn discard_output_dependency(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let (text, context) = context_string(ev, &a[0])?;
    let context = context
        .into_iter()
        .map(|elem| match elem {
            ContextElem::DrvDeep(drv) => ContextElem::Plain(drv),
            other_elem => other_elem,
        })
        .collect();
    Ok(Value::string_with_context(text, context))
}

/// `builtins.getContext s`: `{ "<path>" = { path = true; allOutputs =
/// true; outputs = [ … ]; }; }` as Nix 2.8 writes it.
pub(crate) fn get_context(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let (_, context) = context_string(ev, &a[0])?;
    #[derive(Default)]
    struct Info {
        path: bool,
        all_outputs: bool,
        outputs: Vec<String>,
    }
    let dir = ev.store.known.store_dir().clone();
    let mut by_path: BTreeMap<String, Info> = BTreeMap::new();
    for elem in &context {
        let info = by_path.entry(dir.print(elem.path())).or_default();
        match elem {
            ContextElem::Plain(_) => info.path = true,
            ContextElem::DrvDeep(_) => info.all_outputs = true,
            ContextElem::Built { output, .. } => info.outputs.push(output.clone()),
        }
    }
    let mut entries = Vec::new();
    for (path, info) in by_path {
        let mut fields = Vec::new();
        if info.path {
            fields.push((ev.sym("path"), Value::Bool(true)));
        }
        if info.all_outputs {
            fields.push((ev.sym("allOutputs"), Value::Bool(true)));
        }
        if !info.outputs.is_empty() {
            let outputs = info.outputs.iter().map(|o| Value::string(o)).collect();
            fields.push((ev.sym("outputs"), Value::List(Rc::new(outputs))));
        }
        let set = Value::Attrs(Rc::new(Attrs::from_unsorted(fields)));
        entries.push((ev.sym(&path), set));
    }
    Ok(Value::Attrs(Rc::new(Attrs::from_unsorted(entries))))
}

/// `builtins.appendContext s context`: the context given in
/// `getContext`'s form, each path one this evaluation produced.
pub(crate) fn append_context(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let (text, mut context) = context_string(ev, &a[0])?;
    let extra = expect_attrs(ev.force(a[1].clone())?)?;
    let (path_sym, all_sym, outputs_sym) =
        (ev.sym("path"), ev.sym("allOutputs"), ev.sym("outputs"));
    for (name, info) in extra.iter() {
        let name = ev.sym_name(*name).to_string();
        let path = ev.store.known.lookup(&name).map_err(store_error)?;
        let info = expect_attrs(ev.force(info.clone())?)?;
        if let Some(v) = info.get(path_sym) {
            if crate::builtins::bool_of(ev, v.clone())? {
                context.insert(ContextElem::Plain(path.clone()));
            }
        }
        if let Some(v) = info.get(all_sym) {
            if crate::builtins::bool_of(ev, v.clone())? {
                if !name.ends_with(".drv") {
                    return other(format!(
                        "tried to add all-outputs context of {name}, which is not a derivation, to a string"
                    ));
                }
                context.insert(ContextElem::DrvDeep(path.clone()));
            }
        }
        if let Some(v) = info.get(outputs_sym) {
            let outputs = crate::eval::expect_list(ev.force(v.clone())?)?;
            if !outputs.is_empty() && !name.ends_with(".drv") {
                return other(format!(
                    "tried to add derivation output context of {name}, which is not a derivation, to a string"
                ));
            }
            for output in outputs.iter() {
                let output = ev.expect_string_no_context(output.clone())?;
                context.insert(ContextElem::Built {
                    drv: path.clone(),
                    output: output.to_string(),
                });
            }
        }
    }
    Ok(Value::string_with_context(text, context))
}

/// `builtins.path { path; name ? <base name>; }`: the file tree copied
/// to the store under `name`. `filter`, `recursive = false` and `sha256`
/// are refused rather than ignored.
pub(crate) fn path(ev: &mut Evaluator, a: &[Value], _: Span) -> Result<Value> {
    let args = expect_attrs(ev.force(a[0].clone())?)?;
    let mut source = None;
    let mut name = None;
    for (key, value) in args.iter() {
        let key = ev.sym_name(*key).to_string();
        match key.as_str() {
            "path" => {
                source = Some(match ev.force(value.clone())? {
                    Value::Path(p) => p,
                    other_value => {
                        let text = ev.coerce_to_string(other_value, false, false)?;
                        if !text.starts_with('/') {
                            return other(format!(
                                "string '{text}' doesn't represent an absolute path"
                            ));
                        }
                        text
                    }
                })
            }
            "name" => name = Some(ev.expect_string_no_context(value.clone())?),
            "filter" | "recursive" | "sha256" => {
                return err(ErrorKind::Unsupported {
                    what: format!("'{key}' in 'builtins.path'"),
                })
            }
            _ => return other(format!("unsupported argument '{key}' to 'addPath'")),
        }
    }
    let Some(source) = source else {
        return other("missing required 'path' attribute in the first argument to builtins.path");
    };
    let stored = match name {
        None => ev.copy_path_to_store(&source)?,
        Some(name) => ev.copy_path_named(&source, &name)?,
    };
    let printed = ev.store.known.store_dir().print(&stored);
    Ok(Value::string_with_context(
        printed.into(),
        [ContextElem::Plain(stored)].into(),
    ))
}
