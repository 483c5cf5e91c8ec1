//! Checks what `tests/module-corpus` says about atom-nix against atom-nix
//! itself (0.4.4 on Nix 2.8), so that the corpus's `atom_nix` notes stay
//! true as eka's module system changes:
//! - `same`: atom-nix printed exactly the check's `stdout`, or failed where
//!   the check expects a failure;
//! - `differs: …`: atom-nix did not: it printed something else, or failed
//!   where eka succeeds, or succeeded where eka fails;
//! - `n/a: …`: not run (atom-nix has no counterpart).
//!
//! Each case's atom is copied to a directory named after the case (as the
//! corpus runner does: atom-nix hides a public name equal to the atom
//! directory's name) and composed as atom-nix's README shows. eka's side of
//! every check is run by the corpus runner (`tests/modules.rs`).

mod support;

use std::path::{Path, PathBuf};

use support::AtomNix;

fn corpus_dir() -> PathBuf {
    support::repo_root().join("tests/module-corpus")
}

struct Check {
    attr: Option<String>,
    args: Vec<String>,
    strict: bool,
    stdout: Option<String>,
    atom_nix: String,
}

fn checks(case: &Path) -> Vec<Check> {
    let text = std::fs::read_to_string(case.join("case.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let str_of = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
    table
        .get("check")
        .and_then(|c| c.as_array())
        .expect("case.toml has [[check]]s")
        .iter()
        .map(|c| {
            let c = c.as_table().expect("a [[check]] is a table");
            Check {
                attr: str_of(c, "attr"),
                args: c
                    .get("args")
                    .and_then(|a| a.as_array())
                    .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default(),
                strict: c.get("strict").and_then(|s| s.as_bool()).unwrap_or(true),
                stdout: str_of(c, "stdout"),
                atom_nix: str_of(c, "atom_nix").expect("every check says what atom-nix does"),
            }
        })
        .collect()
}

/// A string as `nix-instantiate --eval` prints it.
fn nix_string(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("${", "\\${");
    format!("\"{escaped}\"")
}

/// What atom-nix printed for the check (`--names` as one string of lines,
/// compared with the expected lines printed the same way), and what the
/// check expects, in the same form.
fn run_check(atom_nix: &AtomNix, atom: &Path, check: &Check) -> (support::Outcome, Option<String>) {
    let mut expr = atom_nix.compose_expr(atom);
    if let Some(attr) = &check.attr {
        expr = format!("{expr}.{attr}");
    }
    let mut flags: Vec<&str> = Vec::new();
    let mut expected = check.stdout.clone();
    for arg in &check.args {
        match arg.as_str() {
            "--names" if check.args.iter().any(|a| a == "--json") => {
                expr = format!("builtins.attrNames ({expr})");
            }
            "--names" => {
                expr = format!("builtins.concatStringsSep \"\\n\" (builtins.attrNames ({expr}))");
                expected = expected.map(|e| nix_string(&e));
            }
            "--json" => flags.push("--json"),
            other => {
                panic!("the corpus check uses `{other}`, which this test cannot give atom-nix")
            }
        }
    }
    if check.strict {
        flags.push("--strict");
    }
    (atom_nix.eval(&expr, &flags), expected)
}

/// Copies the atom directory `from` to `to` (regular files and directories
/// only: the corpus holds nothing else).
fn copy_atom(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_atom(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// One check to run: its case, its index in the case, and where the case's
/// atom was copied.
struct Job {
    case: String,
    index: usize,
    atom: PathBuf,
    check: Check,
}

/// Whether atom-nix does what the check's note says; if not, why.
fn judge(atom_nix: &AtomNix, job: &Job) -> Option<String> {
    let same = job.check.atom_nix == "same" || job.check.atom_nix.starts_with("same:");
    assert!(
        same || job.check.atom_nix.starts_with("differs:"),
        "{}#{}: unknown atom_nix note {:?}",
        job.case,
        job.index,
        job.check.atom_nix
    );
    let (got, expected) = run_check(atom_nix, &job.atom, &job.check);
    let agrees = match (&got, &expected) {
        (Ok(out), Some(exp)) => out == exp,
        (Err(_), None) => true,
        _ => false,
    };
    (agrees != same).then(|| {
        format!(
            "{}#{} says atom_nix = {:?}, but atom-nix gave {} (eka expects {})",
            job.case,
            job.index,
            job.check.atom_nix,
            match &got {
                Ok(out) => format!("`{out}`"),
                Err(e) => format!("an error: {}", e.trim()),
            },
            match &expected {
                Some(exp) => format!("`{exp}`"),
                None => "a failure".into(),
            }
        )
    })
}

#[test]
fn corpus_notes_about_atom_nix_are_true() {
    let atom_nix = AtomNix::new();
    let work = tempfile::tempdir().unwrap();
    let only = std::env::var("EKA_CORPUS_CASE").ok();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.toml").is_file())
        .collect();
    cases.sort();
    let (mut jobs, mut skipped) = (Vec::new(), 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_string();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let atom = work.path().join(&name);
        copy_atom(&case.join("atom"), &atom);
        for (index, check) in checks(case).into_iter().enumerate() {
            if check.atom_nix.starts_with("n/a:") {
                skipped += 1;
            } else {
                jobs.push(Job {
                    case: name.clone(),
                    index,
                    atom: atom.clone(),
                    check,
                });
            }
        }
    }
    // Two at a time: most of a check is nix-instantiate starting.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let wrong = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { break };
                if let Some(why) = judge(&atom_nix, job) {
                    wrong.lock().unwrap().push((i, why));
                }
            });
        }
    });
    let mut wrong = wrong.into_inner().unwrap();
    wrong.sort();
    println!(
        "corpus against atom-nix: {} checks run, {skipped} n/a",
        jobs.len()
    );
    assert!(!jobs.is_empty(), "no corpus check was run against atom-nix");
    assert!(
        wrong.is_empty(),
        "{} corpus notes about atom-nix are wrong:\n{}",
        wrong.len(),
        wrong
            .into_iter()
            .map(|(_, w)| w)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
