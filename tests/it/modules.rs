//! End-to-end tests of the atom module system through `eka eval`: the
//! conformance corpus under `tests/module-corpus/` and atoms read from git.
//!
//! The corpus (format in `tests/module-corpus/README.md`) has one directory
//! per case: `atom/` is copied to `atoms/<case>/` of a fresh repository and
//! committed, and every `[[check]]` of `case.toml` runs
//! `eka eval <repo>/atoms/<case>[#attr] --strict [args…]`. All failures are
//! collected and reported together. `EKA_CORPUS_CASE=<substring>` runs only
//! the cases whose name contains it (it must match at least one).

use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{assert_cli_snapshot, hermetic, Repo, Run, Sandbox, EKA};

/// Seconds one `eka eval` of the corpus may take before it counts as hung
/// (a failure of that check, not of the whole run).
const CHECK_TIMEOUT_SECS: &str = "60";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/module-corpus")
}

// ---------------------------------------------------------------------------
// The corpus format

/// What a check expects.
#[derive(Debug)]
enum Expect {
    /// Exit 0 and exactly this stdout (trailing newlines ignored).
    Stdout(String),
    /// Exit 1 and a stderr containing every one of these strings.
    Failure(Vec<String>),
}

#[derive(Debug)]
struct Check {
    attr: Option<String>,
    args: Vec<String>,
    strict: bool,
    expect: Expect,
    atom_nix: String,
}

#[derive(Debug)]
struct Case {
    name: String,
    dir: PathBuf,
    checks: Vec<Check>,
}

fn string_list(v: &toml::Value, what: &str) -> Result<Vec<String>, String> {
    let arr = v.as_array().ok_or(format!("`{what}` must be an array"))?;
    arr.iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or(format!("`{what}` must hold strings"))
        })
        .collect()
}

fn parse_check(t: &toml::Table) -> Result<Check, String> {
    const KEYS: &[&str] = &[
        "attr",
        "args",
        "strict",
        "stdout",
        "stderr_contains",
        "atom_nix",
        "note",
    ];
    if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unknown key `{k}` (allowed: {})", KEYS.join(", ")));
    }
    let attr = match t.get("attr") {
        None => None,
        Some(v) => {
            let a = v.as_str().ok_or("`attr` must be a string")?;
            if a.is_empty() || a.split('.').any(str::is_empty) {
                return Err(format!("bad attribute path `{a}`"));
            }
            Some(a.to_owned())
        }
    };
    let args = match t.get("args") {
        None => Vec::new(),
        Some(v) => string_list(v, "args")?,
    };
    let strict = match t.get("strict") {
        None => true,
        Some(v) => v.as_bool().ok_or("`strict` must be a boolean")?,
    };
    let expect = match (t.get("stdout"), t.get("stderr_contains")) {
        (Some(s), None) => {
            Expect::Stdout(s.as_str().ok_or("`stdout` must be a string")?.to_owned())
        }
        (None, Some(v)) => {
            let needles = string_list(v, "stderr_contains")?;
            if needles.is_empty() || needles.iter().any(String::is_empty) {
                return Err("`stderr_contains` must list non-empty strings".into());
            }
            Expect::Failure(needles)
        }
        _ => return Err("give exactly one of `stdout` and `stderr_contains`".into()),
    };
    let atom_nix = t
        .get("atom_nix")
        .and_then(toml::Value::as_str)
        .ok_or("`atom_nix` (a string) is required")?
        .to_owned();
    let known = atom_nix == "same"
        || ["same: ", "differs: ", "n/a: "]
            .iter()
            .any(|p| atom_nix.starts_with(p) && atom_nix.len() > p.len());
    if !known {
        return Err(format!(
            "`atom_nix` must be \"same\", \"same: …\", \"differs: …\" or \"n/a: …\", not {atom_nix:?}"
        ));
    }
    Ok(Check {
        attr,
        args,
        strict,
        expect,
        atom_nix,
    })
}

fn load_case(dir: &Path) -> Result<Case, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let atom = dir.join("atom");
    let manifest = std::fs::read_to_string(atom.join("atom.toml"))
        .map_err(|e| format!("atom/atom.toml: {e}"))?;
    let manifest: toml::Table = manifest
        .parse()
        .map_err(|e| format!("atom/atom.toml: {e}"))?;
    let label = manifest
        .get("package")
        .and_then(|p| p.get("label"))
        .and_then(toml::Value::as_str);
    if label != Some(name.as_str()) {
        return Err(format!(
            "atom/atom.toml: [package] label must be the case name `{name}`, not {label:?}"
        ));
    }
    let text =
        std::fs::read_to_string(dir.join("case.toml")).map_err(|e| format!("case.toml: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| format!("case.toml: {e}"))?;
    if let Some(k) = table
        .keys()
        .find(|k| !["description", "check"].contains(&k.as_str()))
    {
        return Err(format!("case.toml: unknown top-level key `{k}`"));
    }
    let checks = table
        .get("check")
        .and_then(toml::Value::as_array)
        .ok_or("case.toml: no [[check]]")?;
    if checks.is_empty() {
        return Err("case.toml: no [[check]]".into());
    }
    let checks = checks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let t = c
                .as_table()
                .ok_or(format!("case.toml: check {i} is not a table"))?;
            parse_check(t).map_err(|e| format!("case.toml: check {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Case {
        name,
        dir: dir.to_owned(),
        checks,
    })
}

/// Every case of the corpus, sorted by name. Panics if the corpus is
/// missing, empty, or has a malformed case.
fn load_corpus() -> Vec<Case> {
    let root = corpus_dir();
    let entries = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("module corpus {} is missing: {e}", root.display()));
    let mut dirs: Vec<PathBuf> = entries
        .map(|e| e.expect("read corpus directory").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "module corpus {} has no case directories",
        root.display()
    );
    let mut errors = String::new();
    let mut cases = Vec::new();
    for dir in &dirs {
        match load_case(dir) {
            Ok(case) => cases.push(case),
            Err(e) => writeln!(errors, "  {}: {e}", dir.display()).unwrap(),
        }
    }
    assert!(errors.is_empty(), "malformed corpus cases:\n{errors}");
    cases
}

/// Copies the tree `from` to `to` (regular files and directories only: the
/// corpus holds no symbolic links; the symlink cases make theirs in git).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create directory");
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("read {}: {e}", from.display()))
        .map(|e| e.expect("directory entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        } else {
            panic!(
                "{}: the corpus may hold only files and directories",
                src.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Running `eka eval`

/// `eka ARGS` in `dir`, hermetic, killed after [`CHECK_TIMEOUT_SECS`]
/// (exit 124) so that one hang fails one check rather than the whole run.
fn eka_with_timeout(sb: &Sandbox, dir: &Path, args: &[String]) -> Run {
    let mut cmd = Command::new("timeout");
    hermetic(&mut cmd, &sb.home())
        .current_dir(dir)
        .args(["--kill-after=5", CHECK_TIMEOUT_SECS, EKA])
        .args(args);
    sb.run(cmd)
}

/// `<dir>` or `<dir>#<attr>`.
fn target(atom_dir: &Path, attr: Option<&str>) -> String {
    match attr {
        Some(a) => format!("{}#{a}", atom_dir.display()),
        None => atom_dir.display().to_string(),
    }
}

/// Removes whitespace and the box-drawing characters of miette's reports,
/// so that a message wrapped over several lines (possibly at a hyphen)
/// still matches.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !('\u{2500}'..='\u{257f}').contains(c) && *c != '×')
        .collect()
}

/// Whether `haystack` contains `needle`, verbatim or once both are squashed.
fn mentions(haystack: &str, needle: &str) -> bool {
    haystack.contains(needle) || squash(haystack).contains(&squash(needle))
}

/// Checks the outcome of one run against what was expected; `None` if it
/// matches, otherwise what went wrong.
fn verdict(run: &Run, expect: &Expect) -> Option<String> {
    // timeout(1): 124 when the command was stopped, 137 when it had to be
    // killed after that.
    if matches!(run.code(), Some(124 | 137)) {
        return Some(format!("timed out after {CHECK_TIMEOUT_SECS}s"));
    }
    if run.stderr.contains("panicked") || run.stderr.contains("RUST_BACKTRACE") {
        return Some("eka panicked".into());
    }
    match expect {
        Expect::Stdout(want) => {
            if !run.success() {
                return Some(format!("expected success, got {}", run.status));
            }
            let got = run.stdout.trim_end_matches('\n');
            let want = want.trim_end_matches('\n');
            (got != want).then(|| format!("stdout differs:\n  expected: {want}\n  got:      {got}"))
        }
        Expect::Failure(needles) => {
            if run.code() != Some(1) {
                return Some(format!("expected failure with exit 1, got {}", run.status));
            }
            let missing: Vec<&String> = needles
                .iter()
                .filter(|n| !mentions(&run.stderr, n))
                .collect();
            (!missing.is_empty()).then(|| format!("stderr does not mention {missing:?}"))
        }
    }
}

fn describe_expect(expect: &Expect) -> String {
    match expect {
        Expect::Stdout(s) => format!("exit 0, stdout {s:?}"),
        Expect::Failure(n) => format!("exit 1, stderr mentioning {n:?}"),
    }
}

fn indent(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("    | {l}\n"))
        .collect()
}

// ---------------------------------------------------------------------------
// The corpus

/// Runs every check of `case`; appends a report of each failure to `report`
/// and its `case#index` to `summary`, and returns (checks run, checks
/// failed).
fn run_case(case: &Case, report: &mut String, summary: &mut Vec<String>) -> (usize, usize) {
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    let rel = format!("atoms/{}", case.name);
    copy_tree(&case.dir.join("atom"), &repo.path().join(&rel));
    repo.commit(&format!("add {}", case.name));
    let atom_dir = repo.path().join(&rel);

    let mut failed = 0;
    for (i, check) in case.checks.iter().enumerate() {
        let mut args = vec!["eval".to_owned(), target(&atom_dir, check.attr.as_deref())];
        if check.strict {
            args.push("--strict".into());
        }
        args.extend(check.args.iter().cloned());
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            eka_with_timeout(&sb, repo.path(), &args)
        }));
        let (problem, details) = match &outcome {
            Ok(run) => match verdict(run, &check.expect) {
                // Again, now reading back what the first run parsed (from
                // the parse cache): the very same status, output and
                // diagnostics.
                None => {
                    let again = eka_with_timeout(&sb, repo.path(), &args);
                    let same = (&again.status, &again.stdout, &again.stderr)
                        == (&run.status, &run.stdout, &run.stderr);
                    let problem = (!same).then(|| {
                        format!(
                            "a second run (from the parse cache) differs: status {}\n  stdout:\n{}\n  stderr:\n{}",
                            again.status,
                            indent(&again.stdout),
                            indent(&again.stderr)
                        )
                    });
                    (problem, Some(run))
                }
                problem => (problem, Some(run)),
            },
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "(no message)".into());
                (Some(format!("running eka failed: {msg}")), None)
            }
        };
        if let Some(problem) = problem {
            failed += 1;
            let what = match &check.attr {
                Some(a) => format!("#{a}"),
                None => "(whole atom)".into(),
            };
            let extra = if check.args.is_empty() {
                String::new()
            } else {
                format!(" {}", check.args.join(" "))
            };
            writeln!(report, "--- {} check {i}: {what}{extra}", case.name).unwrap();
            summary.push(format!("{}#{i}", case.name));
            writeln!(report, "  $ eka {}", args.join(" ")).unwrap();
            writeln!(report, "  expected: {}", describe_expect(&check.expect)).unwrap();
            writeln!(report, "  atom-nix: {}", check.atom_nix).unwrap();
            writeln!(report, "  problem:  {problem}").unwrap();
            if let Some(run) = details {
                writeln!(report, "  status:   {}", run.status).unwrap();
                writeln!(report, "  stdout:\n{}", indent(&run.stdout)).unwrap();
                writeln!(report, "  stderr:\n{}", indent(&run.stderr)).unwrap();
            }
        }
    }
    (case.checks.len(), failed)
}

#[test]
fn module_corpus() {
    let mut cases = load_corpus();
    if let Ok(filter) = std::env::var("EKA_CORPUS_CASE") {
        cases.retain(|c| c.name.contains(&filter));
        assert!(
            !cases.is_empty(),
            "EKA_CORPUS_CASE={filter:?} matches no corpus case"
        );
        eprintln!(
            "module corpus: running only {} case(s) matching {filter:?}",
            cases.len()
        );
    }
    let mut report = String::new();
    let mut summary = Vec::new();
    let (mut total, mut failed, mut failed_cases) = (0, 0, 0);
    for case in &cases {
        let (n, f) = run_case(case, &mut report, &mut summary);
        total += n;
        failed += f;
        failed_cases += usize::from(f > 0);
    }
    assert!(total > 0, "the module corpus ran no check");
    assert!(
        failed == 0,
        "module corpus: {failed} of {total} checks failed, in {failed_cases} of {} cases: {}\n\n{report}",
        cases.len(),
        summary.join(" ")
    );
    eprintln!(
        "module corpus: {total} checks in {} cases passed",
        cases.len()
    );
}

/// The corpus itself is well formed (runs without `eka`).
#[test]
fn corpus_is_well_formed() {
    let cases = load_corpus();
    assert!(cases.len() >= 30, "only {} corpus cases", cases.len());
    for case in &cases {
        let mut seen = Vec::new();
        for check in &case.checks {
            let key = (check.attr.clone(), check.args.clone(), check.strict);
            assert!(
                !seen.contains(&key),
                "{}: two checks with the same attr/args/strict",
                case.name
            );
            seen.push(key);
        }
    }
}

// ---------------------------------------------------------------------------
// Atoms read from git: symbolic links, HEAD, the working tree, --rev

/// `eka eval <repo>/<atom>[#attr] EXTRA…` where `atom` is `dir[#attr]`.
fn eval(sb: &Sandbox, repo: &Repo, atom: &str, extra: &[&str]) -> Run {
    let (dir, attr) = match atom.split_once('#') {
        Some((dir, attr)) => (dir, Some(attr)),
        None => (atom, None),
    };
    let mut args = vec!["eval".to_owned(), target(&repo.path().join(dir), attr)];
    args.extend(extra.iter().map(|s| s.to_string()));
    eka_with_timeout(sb, repo.path(), &args)
}

/// A symbolic link anywhere in an atom is an error (whether read from the
/// commit or from the working tree); links elsewhere in the repository do
/// not matter.
#[test]
fn symlinks_in_atoms_are_errors() {
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    let atom = |dir: &str, label: &str| {
        repo.write_atom(dir, label, "0.1.0");
    };
    // A member file that is a link to another member.
    atom("atoms/link-member", "link-member");
    repo.write("atoms/link-member/mod.nix", "{ X = 1; }\n")
        .write("atoms/link-member/Real.nix", "1\n")
        .symlink("atoms/link-member/Link.nix", "Real.nix");
    // A data file linking out of the repository.
    atom("atoms/link-data", "link-data");
    repo.write("atoms/link-data/mod.nix", "{ X = 1; }\n")
        .symlink("atoms/link-data/notes.txt", "/etc/passwd");
    // A submodule directory that is a link to a directory outside the atom.
    atom("atoms/link-dir", "link-dir");
    repo.write("atoms/link-dir/mod.nix", "{ }\n")
        .write("elsewhere/mod.nix", "{ Y = 1; }\n")
        .symlink("atoms/link-dir/Sub", "../../elsewhere");
    // A link deep in a submodule.
    atom("atoms/link-deep", "link-deep");
    repo.write("atoms/link-deep/mod.nix", "{ }\n")
        .write("atoms/link-deep/Sub/mod.nix", "{ }\n")
        .symlink("atoms/link-deep/Sub/Deep.nix", "../mod.nix");
    // mod.nix itself a link.
    atom("atoms/link-mod", "link-mod");
    repo.write("atoms/link-mod/real.txt", "{ X = 1; }\n")
        .symlink("atoms/link-mod/mod.nix", "real.txt");
    // A clean atom beside links that are outside it.
    atom("atoms/clean", "clean");
    repo.write("atoms/clean/mod.nix", "{ X = 1; }\n")
        .symlink("atoms/outside-link", "clean")
        .symlink("root-link.nix", "atoms/clean/mod.nix");
    repo.commit("atoms with links");
    // The links really are in the commit.
    let modes = repo.git(&["ls-tree", "-r", "HEAD"]);
    assert_eq!(
        modes.lines().filter(|l| l.starts_with("120000")).count(),
        7,
        "{modes}"
    );

    let mut problems = String::new();
    for mode in [&[][..], &["--worktree"][..]] {
        for (atom, link) in [
            ("link-member", "Link.nix"),
            ("link-data", "notes.txt"),
            ("link-dir", "Sub"),
            ("link-deep", "Deep.nix"),
            ("link-mod", "mod.nix"),
        ] {
            let mut args = vec!["--strict"];
            args.extend_from_slice(mode);
            let run = eval(&sb, &repo, &format!("atoms/{atom}"), &args);
            let ok = run.code() == Some(1)
                && mentions(&run.stderr, link)
                && (mentions(&run.stderr, "symlink") || mentions(&run.stderr, "symbolic link"))
                && !run.stderr.contains("panicked");
            if !ok {
                writeln!(
                    problems,
                    "--- {atom} {mode:?}: expected exit 1 naming `{link}` as a symlink/symbolic link\n{run}\n"
                )
                .unwrap();
            }
        }
        let mut args = vec!["--strict"];
        args.extend_from_slice(mode);
        let run = eval(&sb, &repo, "atoms/clean", &args);
        if !(run.success() && run.stdout.trim_end() == "{ x = 1; }") {
            writeln!(
                problems,
                "--- clean {mode:?}: expected {{ x = 1; }}\n{run}\n"
            )
            .unwrap();
        }
    }
    assert!(problems.is_empty(), "{problems}");
}

/// By default the atom is read from HEAD: uncommitted edits and untracked
/// files are invisible; `--worktree` reads the files on disk.
#[test]
fn worktree_versus_head() {
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    repo.write_atom("atoms/wt", "wt", "0.1.0")
        .write("atoms/wt/mod.nix", "{ }\n")
        .write("atoms/wt/Value.nix", "\"committed\"\n");
    repo.commit("wt");
    repo.write("atoms/wt/Value.nix", "\"uncommitted\"\n")
        .write("atoms/wt/New.nix", "1\n")
        .write("atoms/wt/Broken.nix", "{ x = ; }\n");
    // An atom that exists only in the working tree.
    repo.write_atom("atoms/fresh", "fresh", "0.1.0")
        .write("atoms/fresh/mod.nix", "{ Fresh = true; }\n");

    let expect = |run: Run, want: &str| {
        let run = run.assert_success();
        assert_eq!(run.stdout.trim_end_matches('\n'), want, "{run}");
    };
    expect(
        eval(&sb, &repo, "atoms/wt#value", &["--strict"]),
        "\"committed\"",
    );
    expect(eval(&sb, &repo, "atoms/wt", &["--names"]), "value");
    expect(
        eval(&sb, &repo, "atoms/wt", &["--strict"]),
        "{ value = \"committed\"; }",
    );
    expect(
        eval(&sb, &repo, "atoms/wt#value", &["--strict", "--worktree"]),
        "\"uncommitted\"",
    );
    expect(
        eval(&sb, &repo, "atoms/wt", &["--names", "--worktree"]),
        "broken\nnew\nvalue",
    );
    expect(
        eval(&sb, &repo, "atoms/wt#new", &["--strict", "--worktree"]),
        "1",
    );
    let run = eval(&sb, &repo, "atoms/wt#broken", &["--strict", "--worktree"]).assert_failure();
    assert!(mentions(&run.stderr, "Broken.nix"), "{run}");

    // Not committed: absent from HEAD, present in the working tree.
    eval(&sb, &repo, "atoms/fresh", &["--strict"]).assert_failure();
    expect(
        eval(&sb, &repo, "atoms/fresh", &["--strict", "--worktree"]),
        "{ fresh = true; }",
    );

    // Reading HEAD did not touch the working tree.
    let status = repo.git(&["status", "--porcelain"]);
    assert!(status.contains(" M atoms/wt/Value.nix"), "{status}");
}

/// `--rev` reads the atom from another commit.
#[test]
fn rev_selects_the_commit() {
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    repo.write_atom("atoms/rv", "rv", "0.1.0")
        .write("atoms/rv/mod.nix", "{ }\n")
        .write("atoms/rv/Value.nix", "\"one\"\n");
    let first = repo.commit("one");
    repo.write("atoms/rv/Value.nix", "\"two\"\n")
        .write("atoms/rv/Later.nix", "2\n");
    repo.commit("two");

    let expect = |run: Run, want: &str| {
        let run = run.assert_success();
        assert_eq!(run.stdout.trim_end_matches('\n'), want, "{run}");
    };
    expect(eval(&sb, &repo, "atoms/rv#value", &["--strict"]), "\"two\"");
    expect(
        eval(&sb, &repo, "atoms/rv#value", &["--strict", "--rev", &first]),
        "\"one\"",
    );
    expect(
        eval(
            &sb,
            &repo,
            "atoms/rv#value",
            &["--strict", "--rev", "HEAD~1"],
        ),
        "\"one\"",
    );
    expect(
        eval(&sb, &repo, "atoms/rv", &["--names", "--rev", &first]),
        "value",
    );
    expect(eval(&sb, &repo, "atoms/rv", &["--names"]), "later\nvalue");
}

// ---------------------------------------------------------------------------
// CLI output pinned by snapshots: the diagnostics users see.

#[test]
fn module_diagnostics_snapshots() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write(
        "net/atom.toml",
        "[package]\nlabel = \"net\"\nversion = \"1.2.0\"\n",
    )
    .write("net/mod.nix", "{ Name = \"net\"; secret = 1; }\n")
    .write(
        "net/Http/mod.nix",
        "{ Client = mod.port + 1; port = \"80\"; }\n",
    )
    .write(
        "net/Fetch.nix",
        "{ url }:\n  let body = import ./body.nix; in body\n",
    )
    .write("net/Local.nix", "builtins.readFile ./README.md\n")
    .write("net/Private.nix", "atom.secret\n");
    repo.commit("net");
    let show = |args: &[&str]| sb.eka(repo.path(), args);
    assert_cli_snapshot!(sb, show(&["eval", "net", "--names"]), @"
    status: 0
    --- stdout ---
    fetch
    http
    local
    name
    private
    --- stderr ---
    ");
    assert_cli_snapshot!(sb, show(&["eval", "net#fetch"]), @"
    status: 1
    --- stdout ---
    --- stderr ---
      × `import` is not available here
       ╭─[net@1.2.0/Fetch.nix:2:14]
     1 │ { url }:
     2 │   let body = import ./body.nix; in body
       ·              ───┬──
       ·                 ╰── here
       ╰────
      help: a module's files are its members (`mod.<name>`), other modules are
            reached through `mod`, `pre` and `atom`, and other atoms through
            `deps.from.<set>.<label>` after declaring them in atom.toml

    Error: 
      × in net@1.2.0 at Fetch
    ");
    assert_cli_snapshot!(sb, show(&["eval", "net#local"]), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
      × the path literal `./README.md` is not available here
       ╭─[net@1.2.0/Local.nix:1:19]
     1 │ builtins.readFile ./README.md
       ·                   ─────┬─────
       ·                        ╰── here
       ╰────
      help: atom files cannot name paths; read the module's files with `"${mod}/
            README.md"`

    Error: 
      × while calling the 'readFile' builtin
       ╭─[net@1.2.0/Local.nix:1:1]
     1 │ builtins.readFile ./README.md
       · ──────────────┬──────────────
       ·               ╰── 
       ╰────

    Error: 
      × in net@1.2.0 at Local
    "#);
    assert_cli_snapshot!(sb, show(&["eval", "net#http", "--strict"]), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
      × cannot coerce an integer to a string
       ╭─[net@1.2.0/Http/mod.nix:1:12]
     1 │ { Client = mod.port + 1; port = "80"; }
       ·            ──────┬─────
       ·                  ╰── here
       ╰────

    Error: 
      × in net@1.2.0 at Http.Client

    Error: 
      × while evaluating the attribute 'client'
    "#);
    assert_cli_snapshot!(sb, show(&["eval", "net#secret"]), @"
    status: 1
    --- stdout ---
    --- stderr ---
      × attribute `secret` is not in the atom's public API (it has: fetch, http,
      │ local, name, private); private names (not starting with a capital letter)
      │ are not visible from outside
    ");
    assert_cli_snapshot!(sb, show(&["eval", "net#private"]), @"
    status: 1
    --- stdout ---
    --- stderr ---
      × attribute 'secret' missing
       ╭─[net@1.2.0/Private.nix:1:1]
     1 │ atom.secret
       · ─────┬─────
       ·      ╰── here
       ╰────

    Error: 
      × in net@1.2.0 at Private
    ");
}

/// The parse cache: a second run reads back every file the first parsed
/// (`-v` says how many), diagnostics are the same either way, a file edited
/// in the working tree is parsed again, a damaged pack is ignored and
/// replaced, a pack that cannot be written only costs time, and
/// `--no-parse-cache` neither reads nor writes one.
#[test]
fn parse_cache_reads_back_and_follows_edits() {
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    repo.write_atom("atoms/pc", "pc", "0.1.0")
        .write("atoms/pc/mod.nix", "{ Base = 2; }\n")
        .write("atoms/pc/Double.nix", "mod.base * 2\n")
        .write("atoms/pc/Sub/mod.nix", "{ Inner = pre.double + 1; }\n")
        .write("atoms/pc/Bad.nix", "mod.base + \"x\"\n");
    repo.commit("pc");
    let packs = sb.home().join(".cache/eka/parsed");
    // The -v lines about the cache (without the pack's path), and stderr
    // without them.
    let split = |run: &Run| -> (Vec<String>, String) {
        let (cache, rest): (Vec<&str>, Vec<&str>) =
            run.stderr.lines().partition(|l| l.contains("parse cache"));
        let cache = cache
            .iter()
            .map(|l| l.split(" /").next().unwrap().to_string())
            .collect();
        (cache, rest.join("\n"))
    };
    let check = |atom: &str, extra: &[&str], want: Result<&str, &str>, cache: &[&str]| {
        let mut args = vec!["--strict", "-v"];
        args.extend(extra);
        let run = eval(&sb, &repo, atom, &args);
        let run = match want {
            Ok(out) => {
                let run = run.assert_success();
                assert_eq!(run.stdout.trim_end(), out, "{run}");
                run
            }
            Err(mention) => {
                let run = run.assert_failure();
                assert!(mentions(&run.stderr, mention), "{run}");
                run
            }
        };
        assert_eq!(split(&run).0, cache, "{run}");
        run
    };

    check(
        "atoms/pc#sub",
        &[],
        Ok("{ inner = 5; }"),
        &["parse cache: 0 read back, 3 parsed", "parse cache: wrote"],
    );
    // The pack keeps what a lazy run bound; a failing run adds to it too.
    let failed = check(
        "atoms/pc#bad",
        &[],
        Err("Bad.nix"),
        &["parse cache: 1 read back, 1 parsed", "parse cache: wrote"],
    );
    let again = check(
        "atoms/pc#bad",
        &[],
        Err("Bad.nix"),
        &["parse cache: 2 read back, 0 parsed"],
    );
    assert_eq!(split(&again).1, split(&failed).1, "the same diagnostic");
    assert!(split(&again).1.contains("mod.base + \"x\""), "{again}");
    check(
        "atoms/pc#sub",
        &[],
        Ok("{ inner = 5; }"),
        &["parse cache: 3 read back, 0 parsed"],
    );

    // The working tree has a pack of its own; an edited file is parsed
    // again, and its old entry is dropped.
    repo.write("atoms/pc/Double.nix", "mod.base * 3\n");
    check(
        "atoms/pc#sub",
        &["--worktree"],
        Ok("{ inner = 7; }"),
        &["parse cache: 0 read back, 3 parsed", "parse cache: wrote"],
    );
    repo.write("atoms/pc/Double.nix", "mod.base * 4\n");
    check(
        "atoms/pc#sub",
        &["--worktree"],
        Ok("{ inner = 9; }"),
        &["parse cache: 2 read back, 1 parsed", "parse cache: wrote"],
    );
    check(
        "atoms/pc#sub",
        &["--worktree"],
        Ok("{ inner = 9; }"),
        &["parse cache: 3 read back, 0 parsed"],
    );
    let mut names: Vec<PathBuf> = std::fs::read_dir(&packs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "one pack per atom source: {names:?}");

    // Damaged packs are ignored, and replaced.
    for pack in &names {
        std::fs::write(pack, b"not a pack").unwrap();
    }
    check(
        "atoms/pc#sub",
        &[],
        Ok("{ inner = 5; }"),
        &["parse cache: 0 read back, 3 parsed", "parse cache: wrote"],
    );
    check(
        "atoms/pc#sub",
        &[],
        Ok("{ inner = 5; }"),
        &["parse cache: 3 read back, 0 parsed"],
    );

    // --no-parse-cache: no pack read or written.
    std::fs::remove_dir_all(&packs).unwrap();
    check(
        "atoms/pc#sub",
        &["--no-parse-cache"],
        Ok("{ inner = 5; }"),
        &[],
    );
    assert!(!packs.exists());

    // A pack that cannot be written: a warning with -v, nothing else.
    std::fs::write(&packs, b"a file where the folder should be").unwrap();
    check(
        "atoms/pc#sub",
        &[],
        Ok("{ inner = 5; }"),
        &[
            "parse cache: 0 read back, 3 parsed",
            "warning: parse cache: cannot write",
        ],
    );
    let quiet = eval(&sb, &repo, "atoms/pc#sub", &["--strict"]).assert_success();
    // Nothing of the cache; only that HEAD is not the work tree (this
    // test's uncommitted edit above).
    assert_eq!(
        quiet.stderr,
        "warning: evaluating HEAD, but the work tree changes atoms/pc/Double.nix; pass --worktree to evaluate the files on disk\n",
        "{quiet}"
    );
}
