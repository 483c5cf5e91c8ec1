//! End-to-end fault injection: remotes that stall, hang up or answer
//! garbage, and a push whose server never finishes. Every command ends
//! within the network timeout (`EKA_NETWORK_TIMEOUT`), fails over to the
//! next mirror of a set, and leaves nothing half done.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{git, install_hook, ls_remote, RegistryBuilder, Run, Sandbox, Transport};

/// A `git://` server on 127.0.0.1 that accepts and never answers; its URL
/// for `repo`.
fn stalling_server(repo: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut kept: Vec<TcpStream> = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = stream.read(&mut [0u8; 1024]);
            kept.push(stream);
        }
    });
    format!("git://127.0.0.1:{port}/{repo}")
}

/// `text` (miette's output) without its frame, its whitespace collapsed:
/// messages wrap at 80 columns.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `eka ARGS` in `dir` with a two-second network timeout; how long it ran.
fn eka_quick(sb: &Sandbox, dir: &Path, args: &[&str]) -> (Run, Duration) {
    let mut cmd = sb.eka_command(dir);
    cmd.env("EKA_NETWORK_TIMEOUT", "2").args(args);
    let started = Instant::now();
    let run = sb.run(cmd);
    (run, started.elapsed())
}

/// A set whose first mirror stalls: `eka lock` and `eka fetch` end, use
/// the second mirror, and say so. Before the timeouts both hung for ever.
#[test]
fn a_stalling_mirror_is_skipped_for_the_next() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    let stall = stalling_server("registry.git");
    let dir = sb.mkdir("app");
    std::fs::write(
        dir.join("atom.toml"),
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = [\"{stall}\", \"{}\"]\n\n[deps.from.reg]\nb = \"^1\"\n",
            reg.url
        ),
    )
    .unwrap();
    let (run, took) = eka_quick(&sb, &dir, &["lock"]);
    let run = run.assert_success();
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(run.stderr.contains(&stall), "{run}");
    assert!(
        flat(&run.stderr).contains("did not answer for 2 s"),
        "{run}"
    );
    // A fetch with an empty cache goes through the stalling mirror first.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let (run, took) = eka_quick(&sb, &dir, &["fetch"]);
    let run = run.assert_success();
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(run.stderr.contains("mirror unreachable"), "{run}");
}

/// Every command that reads a remote ends against a server that never
/// answers, with an error naming the timeout.
#[test]
fn commands_end_against_a_stalling_server() {
    let sb = Sandbox::new();
    let stall = stalling_server("registry.git");
    let dir = sb.mkdir("app");
    std::fs::write(
        dir.join("atom.toml"),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let b = format!("{stall}::b");
    for args in [
        vec!["versions", b.as_str()],
        vec!["show", &format!("{b}@1.0.0")],
        vec!["list", stall.as_str()],
        vec!["add", b.as_str()],
        vec!["eval", &format!("{b}@1.0.0")],
    ] {
        let (run, took) = eka_quick(&sb, &dir, &args);
        let run = run.assert_failure();
        assert!(took < Duration::from_secs(30), "{args:?}: {took:?}");
        assert!(
            flat(&run.stderr).contains("did not answer for 2 s"),
            "{args:?}: {run}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n"
    );
}

/// A push whose server applies the refs but never finishes (a hook that
/// does not return keeps git's receive-pack from reporting) is stopped
/// after the timeout; the next publish finds what landed and finishes.
#[test]
fn a_push_that_never_finishes_is_stopped_and_recovered() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    install_hook(&reg.path, "post-receive", "sleep 600");
    reg.source.write_atom("c", "c", "1.0.0");
    reg.source.commit("c");
    let (run, took) = eka_quick(
        &sb,
        reg.source.path(),
        &["publish", "--remote", &reg.url, "c"],
    );
    let run = run.assert_failure();
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(flat(&run.stderr).contains("was stopped"), "{run}");
    assert!(flat(&run.stderr).contains("run the publish again"), "{run}");
    assert!(!run.stderr.contains("Writing objects"), "{run}");
    std::fs::remove_file(reg.path.join("hooks/post-receive")).unwrap();
    let (run, _) = eka_quick(
        &sb,
        reg.source.path(),
        &["publish", "--remote", &reg.url, "c"],
    );
    run.assert_success();
    let refs = ls_remote(&reg.url, &["refs/atoms/c/*"]);
    assert_eq!(refs.len(), 1, "{refs:?}");
    git(&reg.path, &["fsck", "--strict"]);
}

/// `kill -9` at many points of `eka add`, `eka lock` and `eka update`:
/// after each kill `atom.toml` and `atom.lock` are whole (the old or the
/// new, each parsing), and the next run finishes the work and leaves no
/// temporary behind. Kill points are spread over each command's run time;
/// rounds go on until enough kills landed mid-run (how many do depends on
/// the machine's load, which the test cannot control).
#[test]
fn kill_9_mid_operation_leaves_files_whole_and_the_next_run_recovers() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .atom("c", "1.0.0")
        .build();
    let dir = sb.mkdir("app");
    let whole = quickest_whole_run(&sb, &dir, &reg.url);
    let mut kills = 0;
    let mut violations = Vec::new();
    let mut round = 0u64;
    while kills < KILLS_WANTED && round < MAX_KILL_ROUNDS {
        let args = kill_round_args(round, &reg.url);
        reset_project(&dir);
        // From 0 to 7/12 of the quickest whole run of the longest command.
        let delay = whole * (round % 8) as u32 / 12;
        if kill_9_after(&sb, &dir, &args, delay) {
            kills += 1;
        }
        violations.extend(
            check_after_kill(&sb, &dir, &args)
                .into_iter()
                .map(|v| format!("round {round} ({}): {v}", args[0])),
        );
        round += 1;
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        kills >= KILLS_WANTED,
        "only {kills} of {round} kills landed mid-run (the quickest whole run took {whole:?})"
    );
}

const KILLS_WANTED: u32 = 12;
const MAX_KILL_ROUNDS: u64 = 120;
const ORIGINAL_MANIFEST: &str = "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n";

/// The quickest of three whole runs of the longest command (`add` of two
/// dependencies): a spike of load in one run does not push every kill point
/// past the end of the runs that follow.
fn quickest_whole_run(sb: &Sandbox, dir: &Path, url: &str) -> Duration {
    (0..3)
        .map(|_| {
            reset_project(dir);
            let started = Instant::now();
            sb.eka(dir, &["add", &format!("{url}::b"), &format!("{url}::c")])
                .assert_success();
            started.elapsed()
        })
        .min()
        .unwrap()
}

fn kill_round_args(round: u64, url: &str) -> Vec<String> {
    match round % 3 {
        0 => vec!["add".into(), format!("{url}::b")],
        1 => vec!["add".into(), format!("{url}::b"), format!("{url}::c")],
        _ => vec!["lock".into()],
    }
}

fn reset_project(dir: &Path) {
    std::fs::write(dir.join("atom.toml"), ORIGINAL_MANIFEST).unwrap();
    let _ = std::fs::remove_file(dir.join("atom.lock"));
}

/// Runs `eka ARGS` in its own process group and kills the group with
/// SIGKILL after `delay`; whether it was still running then.
fn kill_9_after(sb: &Sandbox, dir: &Path, args: &[String], delay: Duration) -> bool {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = sb.eka_command(dir);
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(delay);
    let running = child.try_wait().unwrap().is_none();
    // SAFETY: signals the process group of a child this test spawned.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
    running
}

/// The invariants after a kill: both files whole, the rerun finishes the
/// work, the lock is in line, and no temporary is left behind.
fn check_after_kill(sb: &Sandbox, dir: &Path, args: &[String]) -> Vec<String> {
    let mut violations = Vec::new();
    let manifest = std::fs::read_to_string(dir.join("atom.toml")).unwrap();
    if !manifest.starts_with(ORIGINAL_MANIFEST) {
        violations.push(format!("atom.toml is not whole: {manifest:?}"));
    }
    if let Ok(lock) = std::fs::read_to_string(dir.join("atom.lock")) {
        if !lock.starts_with("# This file is written by eka") || !lock.ends_with('\n') {
            violations.push(format!("atom.lock is not whole: {lock:?}"));
        }
    }
    let rerun = sb.eka(dir, args);
    if !rerun.success() {
        violations.push(format!("the rerun failed: {rerun}"));
    }
    let check = sb.eka(dir, &["lock", "--check"]);
    if !check.success() {
        violations.push(format!("lock --check failed: {check}"));
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    if names != ["atom.lock", "atom.toml"] {
        violations.push(format!("left behind: {names:?}"));
    }
    violations
}
