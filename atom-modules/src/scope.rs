//! The bounded scope: what every atom file may use, what it may not, and
//! the standard library `std`.

use std::collections::BTreeMap;

use atom_eval::{BindPolicy, EvalError, Evaluator, PathLiteralHelp, Value};

/// The scope names a file sees besides `pre` (which the root module lacks).
/// `builtins` is bound to `std`, as atom-nix binds it.
pub const SCOPE_NAMES: &[&str] = &["mod", "atom", "std", "builtins", "cfg", "deps"];

const USE_MEMBERS: &str = "a module's files are its members (`mod.<name>`), other modules are reached through `mod`, `pre` and `atom`, and other atoms through `deps.from.<set>.<label>` after declaring them in atom.toml";
const USE_DEPS: &str =
    "declare the dependency in atom.toml under [deps.from.<set>] and use `deps.from.<set>.<label>`";
const USE_CFG: &str = "put the setting in atom.toml and read it from `cfg`";
const NO_STORE: &str =
    "atoms cannot copy host paths to the store; read a file of the module with `builtins.readFile \"${mod}/<file>\"`";

/// Builtins an atom file may not reach, each with what to use instead.
pub fn forbidden() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut add = |names: &[&str], help: &str| {
        for n in names {
            m.insert((*n).to_string(), help.to_string());
        }
    };
    add(&["import", "scopedImport"], USE_MEMBERS);
    add(
        &[
            "fetchurl",
            "fetchTarball",
            "fetchGit",
            "fetchTree",
            "fetchMercurial",
            "fetchClosure",
            "getFlake",
        ],
        USE_DEPS,
    );
    add(&["nixPath", "findFile"], USE_DEPS);
    add(&["getEnv", "currentSystem"], USE_CFG);
    add(
        &["currentTime"],
        "evaluation is reproducible and has no clock; pass times in as data",
    );
    // `derivation`, `toFile`, `placeholder`, `storeDir`, `storePath` and
    // the context builtins stay: they are pure (store paths are computed,
    // nothing is read or written), so modules may describe builds.
    add(&["path", "filterSource"], NO_STORE);
    m
}

/// The builtins that read files. They are not in the shared `std`: each
/// module's `std`, `builtins` and `__<name>` have them confined to the
/// module's directory, so that what a module can read does not depend on
/// how a path is spelled or where its string came from
/// (`spec/modules.md`).
pub const FILE_BUILTINS: &[&str] = &[
    "readFile",
    "readDir",
    "pathExists",
    "readFileType",
    "hashFile",
];

/// A module's `std` (also its `builtins`): the shared `std` and the file
/// builtins confined to `directory`; and those as `__<name>`, the other
/// names they are reachable by.
pub fn module_scope_builtins(
    ev: &mut Evaluator,
    std: &Value,
    directory: &str,
) -> Result<(Value, Vec<(String, Value)>), EvalError> {
    let confined = ev.confined_file_builtins(directory);
    let mut entries = ev.attr_entries(std)?;
    entries.extend(confined.iter().map(|(n, v)| (n.to_string(), v.clone())));
    let aliases = confined
        .into_iter()
        .map(|(n, v)| (format!("__{n}"), v))
        .collect();
    Ok((ev.make_attrs(entries), aliases))
}

/// The bind-time policy for atom files.
pub fn policy() -> BindPolicy {
    BindPolicy {
        forbidden: forbidden(),
        guarded_sets: vec!["builtins".into(), "std".into()],
        path_literals: Some(PathLiteralHelp {
            relative: "atom files cannot name paths; read the module's files with `\"${mod}/{rel}\"`"
                .into(),
            absolute: "atom files cannot reach host files; read the module's own files through `\"${mod}/<file>\"`".into(),
            search_path: USE_DEPS.into(),
        }),
        refuse_parent_segments: true,
    }
}

/// Prepares `ev` for atom files: takes the forbidden builtins out (so
/// `builtins.${"imp" + "ort"}` does not find them either) and sets the
/// policy. Returns `std`: the pure builtins and the helpers of `std.nix`.
pub fn prepare(ev: &mut Evaluator) -> Result<Value, EvalError> {
    let forbidden = forbidden();
    let mut names: Vec<&str> = forbidden.keys().map(String::as_str).collect();
    // Each module gets its own, confined to its directory
    // ([`module_scope_builtins`]).
    names.extend(FILE_BUILTINS);
    ev.remove_builtins(&names);
    // Nix's global aliases stay (map, toString, throw, ...), minus the
    // removed ones; `__name` forms are caught by the policy.
    let builtins = ev
        .builtin_names()
        .into_iter()
        .map(|n| (n, ev.builtin(n).expect("listed builtin exists")))
        .collect::<Vec<_>>();
    let builtins = ev.make_attrs(builtins);
    let helpers = ev.eval_source_scoped(
        "<eka std>",
        include_str!("std.nix"),
        "/",
        &[("b", builtins.clone())],
    )?;
    let mut entries = ev.attr_entries(&builtins)?;
    entries.extend(ev.attr_entries(&helpers)?);
    let std = ev.make_attrs(entries);
    ev.set_policy(Some(policy()));
    Ok(std)
}
