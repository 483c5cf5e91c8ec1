//! Building: the derivations an atom (or a Nix file) evaluates to,
//! computed by the embedded evaluator, written into the local Nix store
//! and realised by Nix.
//!
//! eka evaluates, Nix builds. [`plan`] evaluates the target and collects
//! its derivations together with every store object the evaluation
//! produced (`atom_store::KnownPaths`: sources, texts, `.drv` files, all
//! computed in-process, byte-identical to what `nix-instantiate` writes).
//! [`realise`] then hands the closure of what is wanted to Nix through its
//! own worker protocol (`nix-daemon --stdio`, see `atom_store::daemon`)
//! and asks it to build; [`dry_run`] only asks which outputs are valid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atom_eval::atom_store::daemon::{
    DerivedPath, LogSink, StoreError, StoreOptions, StoreProgress,
};
use atom_eval::atom_store::{ContextElem, KnownPaths, StorePath};
use atom_eval::{EvalError, Evaluator, Value};
use miette::Diagnostic;

use crate::eval::{EvalFailure, EvalOptions, Finish};

/// One derivation output to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Where it was found: the attribute name, or its place in a list.
    pub name: String,
    pub drv: StorePath,
    pub output: String,
    pub path: StorePath,
}

/// What evaluation produced: the outputs wanted and every store object
/// they may need.
#[derive(Clone, Debug)]
pub struct Plan {
    pub known: KnownPaths,
    pub wanted: Vec<Wanted>,
}

/// One built derivation, as `nix build --json` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Built {
    #[serde(rename = "drvPath")]
    pub drv_path: String,
    pub outputs: BTreeMap<String, String>,
}

/// What `--dry-run` found for one wanted output.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DryRun {
    #[serde(rename = "drvPath")]
    pub drv_path: String,
    pub output: String,
    pub path: String,
    /// Whether the store has the output already.
    pub valid: bool,
}

/// Why nothing (or not everything) was built.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Eval(#[from] EvalFailure),
    #[error("{what} is not a derivation, nor a set or list of derivations, so there is nothing to build")]
    #[diagnostic(code(eka::build::not_derivation))]
    NotDerivation { what: String },
    #[error("the derivation '{name}' has a 'drvPath' without a derivation in its context")]
    #[diagnostic(code(eka::build::drv_path))]
    BadDrvPath { name: String },
    #[error(transparent)]
    #[diagnostic(code(eka::build::store))]
    Store(#[from] StoreError),
    #[error("cannot make the link '{}'", path.display())]
    #[diagnostic(code(eka::build::link))]
    Link {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A `Finish` for [`crate::eval`]: collects the derivations of the value
/// into `plan` (the text returned is unused).
pub fn planner(
    plan: &mut Option<Plan>,
) -> impl FnMut(&mut Evaluator, Value) -> Result<String, EvalError> + '_ {
    move |ev, value| {
        let wanted = collect(ev, value)?;
        *plan = Some(Plan {
            known: ev.known_paths().clone(),
            wanted,
        });
        Ok(String::new())
    }
}

/// Runs an evaluation (one of [`crate::eval`]'s `*_with` functions, given
/// the finish step) and returns its plan.
pub fn plan(
    evaluate: impl FnOnce(Finish<'_>) -> Result<crate::eval::EvalOutput, EvalFailure>,
) -> Result<Plan, BuildError> {
    let mut plan = None;
    let mut finish = planner(&mut plan);
    let out = evaluate(&mut finish)?;
    out.text?;
    drop(finish);
    let plan = plan.expect("a successful evaluation made a plan");
    if plan.wanted.is_empty() {
        return Err(BuildError::NotDerivation {
            what: "the value (an empty set or list)".into(),
        });
    }
    Ok(plan)
}

/// The options an evaluation for building uses: whatever is built is
/// forced anyway, so nothing is read ahead beyond that.
pub fn eval_options(mut options: EvalOptions) -> EvalOptions {
    options.names = false;
    options.strict = false;
    options.json = false;
    options.parse_only = false;
    options
}

fn is_derivation(ev: &mut Evaluator, value: &Value) -> Result<bool, EvalError> {
    if !matches!(value, Value::Attrs(_)) {
        return Ok(false);
    }
    match ev.get_attr(value, "type")? {
        Some(kind) => {
            let kind = ev.force_value(&kind)?;
            Ok(kind.as_str().is_some_and(|s| s.as_str() == "derivation"))
        }
        None => Ok(false),
    }
}

/// The derivations of `value`: itself, or the derivations among the
/// attributes of a set (by name) or the elements of a list, as
/// `nix-build` takes them.
fn collect(ev: &mut Evaluator, value: Value) -> Result<Vec<Wanted>, EvalError> {
    let value = ev.force_value(&value)?;
    if is_derivation(ev, &value)? {
        return Ok(vec![wanted(ev, String::new(), &value)?]);
    }
    let members: Vec<(String, Value)> = match &value {
        Value::Attrs(_) => ev.attr_entries(&value)?,
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
        other => {
            return Err(not_derivation(format!(
                "the value ({})",
                other.type_with_article()
            )));
        }
    };
    let mut out = Vec::new();
    for (name, member) in members {
        let member = ev.force_value(&member)?;
        if is_derivation(ev, &member)? {
            out.push(wanted(ev, name, &member)?);
        }
    }
    Ok(out)
}

fn not_derivation(what: String) -> EvalError {
    EvalError::new(
        atom_eval::ErrorKind::Other {
            message: format!(
                "{what} is not a derivation, nor a set or list of derivations, so there is nothing to build"
            ),
        },
        None,
    )
}

/// The output a derivation value stands for: its `outputName` of its
/// `drvPath`.
fn wanted(ev: &mut Evaluator, name: String, value: &Value) -> Result<Wanted, EvalError> {
    let field = |ev: &mut Evaluator, field: &str| -> Result<Value, EvalError> {
        match ev.get_attr(value, field)? {
            Some(v) => ev.force_value(&v),
            None => Err(not_derivation(format!(
                "'{name}' (a set with type = \"derivation\" but no '{field}')"
            ))),
        }
    };
    let drv_path = field(ev, "drvPath")?;
    let (_, context) = ev.string_and_context(&drv_path)?;
    let drv = context
        .iter()
        .find_map(|elem| match elem {
            ContextElem::DrvDeep(drv) => Some(drv.clone()),
            _ => None,
        })
        .ok_or_else(|| {
            not_derivation(format!(
                "'{name}' (its drvPath was not made by 'derivation')"
            ))
        })?;
    let output = match ev.get_attr(value, "outputName")? {
        Some(v) => {
            let v = ev.force_value(&v)?;
            ev.string_and_context(&v)?.0.to_string()
        }
        None => "out".to_owned(),
    };
    let out_path = field(ev, "outPath")?;
    let (text, _) = ev.string_and_context(&out_path)?;
    let path = ev
        .known_paths()
        .store_dir()
        .parse(&text)
        .map_err(|e| not_derivation(format!("'{name}' (its outPath: {e})")))?;
    Ok(Wanted {
        name,
        drv,
        output,
        path,
    })
}

/// Writes what the plan needs into the local Nix store and builds it.
/// Build output goes to `log` line by line; the counts of store paths
/// written and derivations built are progress events
/// ([`crate::progress`]).
pub fn realise(
    plan: &Plan,
    store: StoreOptions,
    log: Option<LogSink>,
) -> Result<Vec<Built>, BuildError> {
    let mut store = atom_eval::atom_store::daemon::Store::open_with(store)?;
    if let Some(log) = log {
        store.set_log_sink(log);
    }
    store.set_progress_sink(Box::new(|p| {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match p {
            StoreProgress::Written { done, total } => {
                crate::progress(count(done), count(total), "store paths written")
            }
            StoreProgress::Built { done, total } => {
                crate::progress(count(done), count(total), "derivations built")
            }
        }
    }));
    let wanted: Vec<DerivedPath> = plan
        .wanted
        .iter()
        .map(|w| DerivedPath::Built {
            drv: w.drv.clone(),
            outputs: [w.output.clone()].into(),
        })
        .collect();
    store.realise(&plan.known, &wanted)?;
    let dir = plan.known.store_dir();
    let mut built: Vec<Built> = Vec::new();
    for w in &plan.wanted {
        let drv_path = dir.print(&w.drv);
        match built.iter_mut().find(|b| b.drv_path == drv_path) {
            Some(b) => {
                b.outputs.insert(w.output.clone(), dir.print(&w.path));
            }
            None => built.push(Built {
                drv_path,
                outputs: [(w.output.clone(), dir.print(&w.path))].into(),
            }),
        }
    }
    Ok(built)
}

/// Which wanted outputs the store has already (nothing is written).
pub fn dry_run(plan: &Plan, store: StoreOptions) -> Result<Vec<DryRun>, BuildError> {
    let mut store = atom_eval::atom_store::daemon::Store::open_with(store)?;
    let dir = plan.known.store_dir();
    let mut out = Vec::new();
    for w in &plan.wanted {
        out.push(DryRun {
            drv_path: dir.print(&w.drv),
            output: w.output.clone(),
            path: dir.print(&w.path),
            valid: store.is_valid(&w.path)?,
        });
    }
    Ok(out)
}

/// The links `nix build` makes: `<base>` for the first output,
/// `<base>-<n>` for the n-th derivation after it, `-<output>` appended for
/// an output other than `out`.
pub fn link_names(base: &Path, plan: &Plan) -> Vec<PathBuf> {
    let mut drvs: Vec<&StorePath> = Vec::new();
    plan.wanted
        .iter()
        .map(|w| {
            let index = match drvs.iter().position(|d| **d == w.drv) {
                Some(i) => i,
                None => {
                    drvs.push(&w.drv);
                    drvs.len() - 1
                }
            };
            let mut name = base.as_os_str().to_owned();
            if index > 0 {
                name.push(format!("-{index}"));
            }
            if w.output != "out" {
                name.push(format!("-{}", w.output));
            }
            PathBuf::from(name)
        })
        .collect()
}

/// Points each link at its output (replacing an older link) and
/// registers it with the store as a garbage-collector root.
pub fn make_links(
    plan: &Plan,
    base: &Path,
    store: StoreOptions,
) -> Result<Vec<PathBuf>, BuildError> {
    let mut conn = atom_eval::atom_store::daemon::Store::open_with(store)?;
    let dir = plan.known.store_dir();
    let names = link_names(base, plan);
    for (link, w) in names.iter().zip(&plan.wanted) {
        let link = std::path::absolute(link).map_err(|source| BuildError::Link {
            path: link.clone(),
            source,
        })?;
        replace_symlink(&dir.print(&w.path), &link)?;
        conn.add_indirect_root(&link)?;
    }
    Ok(names)
}

/// A symlink made beside `link` and renamed over it, so that an older
/// link is replaced whole.
fn replace_symlink(target: &str, link: &Path) -> Result<(), BuildError> {
    let fail = |source| BuildError::Link {
        path: link.to_owned(),
        source,
    };
    let mut staged = link.as_os_str().to_owned();
    staged.push(format!(".eka-{}", std::process::id()));
    let staged = PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(target, &staged).map_err(fail)?;
    std::fs::rename(&staged, link).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        fail(e)
    })
}
