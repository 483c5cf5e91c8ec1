//! Derivations evaluated by atom-eval against the same Nix files
//! evaluated by Nix 2.8 (`nix-instantiate` in a store of its own): the
//! same `drvPath`s, `outPath`s, text and source paths, and the same
//! `.drv` bytes. The cases are atom-store's (hand-written and seeded
//! random); here the whole Nix file goes through the evaluator, so string
//! context, `derivation`, `toFile`, `placeholder`, `builtins.path`,
//! interpolated paths and the coercions are all exercised.

#[path = "../../atom-store/tests/common/mod.rs"]
mod common;

use std::path::Path;

use atom_eval::{Evaluator, Limits, RootedFileSystem};
use common::*;

/// Evaluates `file` strictly: its JSON, and the `.drv` text the
/// evaluator computed for each `drvPath` in it.
fn eval_eka(file: &Path) -> Result<(serde_json::Value, Vec<Option<String>>), String> {
    let root = file.parent().unwrap().to_path_buf();
    let file = file.to_path_buf();
    let run = move || {
        let fs = RootedFileSystem::new(&root).unwrap();
        let mut ev = Evaluator::new(Box::new(fs), Limits::default());
        let json = ev
            .eval_file(&file.display().to_string())
            .and_then(|v| ev.force_deep(&v))
            .and_then(|v| ev.to_json(&v))
            .map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let known = ev.known_paths();
        let aterms = json["drvs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|drv| {
                let path = known.store_dir().parse(drv["drv"].as_str()?).ok()?;
                match &known.get(&path)?.content {
                    atom_store::known::Content::Derivation { aterm, .. } => Some(aterm.clone()),
                    _ => None,
                }
            })
            .collect();
        Ok((json, aterms))
    };
    atom_eval::run_with_large_stack(run).unwrap()
}

/// Checks one case: the same JSON from both, and every `.drv` byte.
fn check(name: &str, case: &Case, store: &NixStore) {
    let dir = tempfile::tempdir().unwrap();
    let file = case.write_nix(dir.path());
    let theirs = store
        .eval_json(&file)
        .unwrap_or_else(|e| panic!("Nix refused case '{name}': {e}"));
    let (ours, aterms) = eval_eka(&file)
        .unwrap_or_else(|e| panic!("eka refused case '{name}', which Nix accepts: {e}"));
    assert_eq!(ours, theirs, "case '{name}': paths differ");
    for (drv, aterm) in theirs["drvs"].as_array().unwrap().iter().zip(aterms) {
        let path = drv["drv"].as_str().unwrap();
        let aterm = aterm.unwrap_or_else(|| panic!("case '{name}': {path} is not recorded"));
        assert_eq!(
            aterm,
            store.read(path),
            "case '{name}': the .drv of {path} differs"
        );
    }
}

#[test]
fn hand_written_cases_match_nix() {
    let store = NixStore::new();
    for (name, case) in corpus() {
        check(name, &case, &store);
    }
}

#[test]
fn random_cases_match_nix() {
    let seed: u64 = std::env::var("ATOM_STORE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xe7a1);
    let batches: u64 = std::env::var("ATOM_EVAL_DRV_BATCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let store = NixStore::new();
    for batch in 0..batches {
        let case = Gen::new(seed.wrapping_add(batch)).case(10);
        check(&format!("seed {seed} batch {batch}"), &case, &store);
    }
}
