//! Runs Nix's own language tests from `../shared/nix-lang-tests` (relative
//! to the repository root) when that folder is present, the way its
//! `run.py` does, in process. The data is never copied into this project.

use std::path::{Path, PathBuf};

use atom_eval::{Evaluator, Limits, RootedFileSystem};

/// Share of all tests that must pass (the goal is 95%).
const REQUIRED_PASS_RATE: f64 = 0.95;

fn folder() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/nix-lang-tests");
    dir.join("lang")
        .is_dir()
        .then(|| dir.canonicalize().ok())
        .flatten()
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Pass,
    Fail(String),
}

fn run_one(root: &Path, name: &str) -> Outcome {
    let lang = root.join("lang").display().to_string();
    let root_text = root.display().to_string();
    let file = format!("{lang}/{name}.nix");
    let kind = name.split('-').take(2).collect::<Vec<_>>().join("-");
    let expected = std::fs::read_to_string(format!("{lang}/{name}.exp")).ok();
    atom_eval::run_with_large_stack(move || {
        let fs = RootedFileSystem::new(Path::new(&lang)).expect("lang/ exists");
        // A budget, so a test that would loop fails instead of hanging.
        let limits = Limits {
            max_steps: Some(200_000_000),
            ..Limits::default()
        };
        let mut ev = Evaluator::new(Box::new(fs), limits);
        ev.set_home_dir(Some("/fake-home".into()));
        match kind.as_str() {
            "parse-okay" => match ev.check_file(&file) {
                Ok(()) => Outcome::Pass,
                Err(e) => Outcome::Fail(format!("error: {e}")),
            },
            "parse-fail" => match ev.check_file(&file) {
                Ok(()) => Outcome::Fail("parsed".into()),
                Err(_) => Outcome::Pass,
            },
            "eval-fail" => match ev.eval_file(&file).and_then(|v| ev.force_deep(&v)) {
                Ok(_) => Outcome::Fail("evaluated".into()),
                Err(_) => Outcome::Pass,
            },
            _ => {
                let out = ev
                    .eval_file(&file)
                    .and_then(|v| ev.force_deep(&v))
                    .and_then(|v| ev.print(&v));
                match out {
                    Ok(s) => {
                        let s = s.replace(&root_text, "/pwd");
                        let exp = expected.unwrap_or_default();
                        if s.trim_end() == exp.trim_end() {
                            Outcome::Pass
                        } else {
                            Outcome::Fail(format!("got {s}"))
                        }
                    }
                    Err(e) => Outcome::Fail(format!("error: {e}")),
                }
            }
        }
    })
    .expect("evaluation thread")
}

#[test]
fn nix_language_conformance() {
    let Some(root) = folder() else {
        println!("SKIPPED: ../shared/nix-lang-tests is not present; conformance not checked");
        return;
    };
    let mut names: Vec<String> = std::fs::read_dir(root.join("lang"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".nix") && (f.starts_with("eval-") || f.starts_with("parse-")))
        .map(|f| f.trim_end_matches(".nix").to_string())
        .collect();
    names.sort();
    let mut failures = Vec::new();
    for name in &names {
        if let Outcome::Fail(why) = run_one(&root, name) {
            failures.push(format!("{name}: {why}"));
        }
    }
    let passed = names.len() - failures.len();
    for f in &failures {
        println!("  failed {f}");
    }
    println!("conformance: {passed} of {} tests pass", names.len());
    let rate = passed as f64 / names.len() as f64;
    assert!(
        names.len() > 200,
        "expected the full test folder, found {} tests",
        names.len()
    );
    assert!(
        rate >= REQUIRED_PASS_RATE,
        "pass rate {rate:.3} is below {REQUIRED_PASS_RATE}"
    );
}
