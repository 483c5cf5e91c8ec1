//! Runs Nix's own language tests from `../shared/nix-lang-tests` (relative
//! to the repository root; the tests fail without it), the way its
//! `run.py` does, in process. The data is never copied into this project.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use atom_eval::{CompiledFiles, Evaluator, Limits, RootedFileSystem};

/// Share of all tests that must pass (the goal is 95%).
const REQUIRED_PASS_RATE: f64 = 0.95;

/// Nix's language tests, beside the clone (as CI has them); a missing folder
/// fails the test (a conformance run that checks nothing must not pass).
fn folder() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/nix-lang-tests");
    match dir.join("lang").is_dir().then(|| dir.canonicalize()) {
        Some(Ok(dir)) => dir,
        _ => panic!(
            "Nix's language tests are needed at {} (`../shared/nix-lang-tests` beside the \
             clone, holding `lang/`); put them there to run the conformance tests",
            dir.display()
        ),
    }
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Pass,
    Fail(String),
}

/// An evaluator for the tests in `lang`, set up as `run.py` runs them.
fn lang_evaluator(lang: &str) -> Evaluator {
    let fs = RootedFileSystem::new(Path::new(lang)).expect("lang/ exists");
    // A budget, so a test that would loop fails instead of hanging.
    let limits = Limits {
        max_steps: Some(200_000_000),
        ..Limits::default()
    };
    let mut ev = Evaluator::new(Box::new(fs), limits);
    ev.set_home_dir(Some("/fake-home".into()));
    ev
}

/// The names (without `.nix`) of the tests whose file name starts with one
/// of `prefixes`, sorted.
fn test_names(root: &Path, prefixes: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("lang"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".nix") && prefixes.iter().any(|p| f.starts_with(p)))
        .map(|f| f.trim_end_matches(".nix").to_string())
        .collect();
    names.sort();
    names
}

fn run_one(root: &Path, name: &str) -> Outcome {
    let lang = root.join("lang").display().to_string();
    let root_text = root.display().to_string();
    let file = format!("{lang}/{name}.nix");
    let kind = name.split('-').take(2).collect::<Vec<_>>().join("-");
    let expected = std::fs::read_to_string(format!("{lang}/{name}.exp")).ok();
    atom_eval::run_with_large_stack(move || {
        let mut ev = lang_evaluator(&lang);
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
    let root = folder();
    let names = test_names(&root, &["eval-", "parse-"]);
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

/// What one evaluation of a test file gave: its printed value or its
/// error, the pack of the files it bound, and how the pack in use served it.
struct PackRun {
    result: String,
    pack: Option<Vec<u8>>,
    stats: atom_eval::CompiledStats,
}

fn run_with_pack(root: &Path, name: &str, pack: Arc<CompiledFiles>) -> PackRun {
    let lang = root.join("lang").display().to_string();
    let file = format!("{lang}/{name}.nix");
    atom_eval::run_with_large_stack(move || {
        let mut ev = lang_evaluator(&lang);
        ev.use_compiled(pack);
        let result = match ev
            .eval_file(&file)
            .and_then(|v| ev.force_deep(&v))
            .and_then(|v| ev.print(&v))
        {
            Ok(s) => format!("value {s}"),
            Err(e) => format!("error {e}"),
        };
        PackRun {
            result,
            pack: ev.compiled_pack(true),
            stats: ev.compiled_stats().expect("a pack is in use"),
        }
    })
    .expect("evaluation thread")
}

/// Every evaluation test gives the same value or error when its files are
/// bound from a pack written by a first run as when they are bound from
/// source: the pack's encoding covers everything binding produces for Nix's
/// own test files (imports included).
#[test]
fn nix_language_tests_give_the_same_results_from_a_pack() {
    let root = folder();
    let names = test_names(&root, &["eval-"]);
    assert!(names.len() > 150, "found only {} tests", names.len());
    let (mut hits, mut bound) = (0, 0);
    for name in &names {
        let first = run_with_pack(&root, name, Arc::new(CompiledFiles::empty()));
        assert_eq!(first.stats.hits, 0, "{name}: an empty pack served a file");
        let Some(bytes) = first.pack else {
            // Nothing was bound (a parse error) or nothing could be stored.
            assert_eq!(
                first.stats.stored, 0,
                "{name}: stored files but wrote no pack"
            );
            continue;
        };
        let pack = CompiledFiles::load(bytes).expect("a pack this build wrote reads back");
        assert_eq!(pack.len(), first.stats.stored, "{name}");
        let second = run_with_pack(&root, name, Arc::new(pack));
        assert_eq!(second.result, first.result, "{name}: from the pack");
        assert_eq!(
            second.stats.hits, first.stats.stored,
            "{name}: every stored file is read back"
        );
        hits += second.stats.hits;
        bound += first.stats.misses;
    }
    println!("packs: {hits} of {bound} bound files read back from packs");
    // Only files holding a constant that is not stored (none in Nix's
    // tests but a few built by the host) may be left out.
    assert!(
        hits * 100 >= bound * 95,
        "only {hits} of {bound} files were stored"
    );
}
