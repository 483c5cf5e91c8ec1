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
    // The second mirror gone too: a fetch that timed out says so, and
    // where the timeout was set.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    std::fs::rename(&reg.path, reg.path.with_extension("moved")).unwrap();
    let (run, took) = eka_quick(&sb, &dir, &["fetch"]);
    let run = run.assert_failure();
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(run.stderr.contains("eka::fetch::timed_out"), "{run}");
    assert!(
        flat(&run.stderr).contains("the network timeout is EKA_NETWORK_TIMEOUT=2;"),
        "{run}"
    );
}

/// Every command that reads a remote ends against a server that never
/// answers, with an error naming the timeout.
#[test]
fn commands_end_against_a_stalling_server() {
    let sb = Sandbox::new();
    let stall = stalling_server("registry.git");
    let dir = sb.consumer("app");
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
        assert!(
            flat(&run.stderr).contains("the network timeout is EKA_NETWORK_TIMEOUT=2;"),
            "{args:?}: {run}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n"
    );
}

/// The configuration file's `[net] timeout` is the one the commands wait
/// (no environment variable set), and the error says where it was set; a
/// mistyped `EKA_NETWORK_TIMEOUT` is an error before anything runs, not
/// the default silently.
#[test]
fn the_configured_timeout_is_the_one_waited_and_named() {
    let sb = Sandbox::new();
    sb.write_config("[net]\ntimeout = 2\n");
    let stall = stalling_server("registry.git");
    let mut cmd = sb.eka_command(sb.path());
    cmd.env_remove("EKA_NETWORK_TIMEOUT").args(["list", &stall]);
    let started = Instant::now();
    let run = sb.run(cmd).assert_failure();
    assert!(started.elapsed() < Duration::from_secs(20), "{run}");
    let text = flat(&run.stderr);
    assert!(text.contains("did not answer for 2 s"), "{run}");
    assert!(
        text.contains("the network timeout is [net] timeout = 2 in the configuration file;"),
        "{run}"
    );

    let mut cmd = sb.eka_command(sb.path());
    cmd.env("EKA_NETWORK_TIMEOUT", "soon")
        .args(["--json", "list", &stall]);
    let run = sb.run(cmd).assert_failure();
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["code"], "eka::config::env", "{run}");
    assert!(
        flat(&run.stderr).contains(r#"EKA_NETWORK_TIMEOUT="soon" is not a number of seconds"#),
        "{run}"
    );
}

/// `ssh://` and `file://` run a local process (`ssh`, `git upload-pack`),
/// whose pipes have no timeout of their own: an ssh server that accepts
/// and never answers (a client that never speaks stands in for it) and a
/// repository whose upload-pack blocks (its `packed-refs` a FIFO) are
/// given up after the network timeout, and the next mirror answers.
/// Before, both hung for ever.
#[test]
fn a_silent_ssh_or_local_mirror_is_skipped_for_the_next() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    let silent_ssh = sb.mkdir("bin").join("silent-ssh");
    std::fs::write(&silent_ssh, "#!/bin/sh\nexec sleep 600\n").unwrap();
    make_executable(&silent_ssh);
    let stuck = sb.mkdir("stuck").join("registry.git");
    git(
        sb.path(),
        &[
            "clone",
            "--mirror",
            "-q",
            &reg.path.to_string_lossy(),
            &stuck.to_string_lossy(),
        ],
    );
    let _ = std::fs::remove_file(stuck.join("packed-refs"));
    let fifo =
        std::ffi::CString::new(stuck.join("packed-refs").to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a C string this test owns.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    for first in [
        "ssh://git@registry.invalid/registry.git".to_owned(),
        format!("file://{}", stuck.display()),
    ] {
        let dir = sb.mkdir(&format!("app-{}", first.len()));
        std::fs::write(
            dir.join("atom.toml"),
            format!(
                "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = [\"{first}\", \"{}\"]\n\n[deps.from.reg]\nb = \"^1\"\n",
                reg.url
            ),
        )
        .unwrap();
        let mut cmd = sb.eka_command(&dir);
        cmd.env("EKA_NETWORK_TIMEOUT", "2")
            .env("GIT_SSH_COMMAND", &silent_ssh)
            .arg("lock");
        let started = Instant::now();
        let run = sb.run(cmd).assert_success();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(30), "{first}: {took:?}");
        assert!(run.stderr.contains(&first), "{first}: {run}");
        assert!(
            flat(&run.stderr).contains("did not answer for 2 s"),
            "{first}: {run}"
        );
        // Alone, the silent mirror fails the command, as timed out.
        let mut cmd = sb.eka_command(&dir);
        cmd.env("EKA_NETWORK_TIMEOUT", "2")
            .env("GIT_SSH_COMMAND", &silent_ssh)
            .args(["versions", &format!("{first}::b")]);
        let started = Instant::now();
        let run = sb.run(cmd).assert_failure();
        assert!(started.elapsed() < Duration::from_secs(30), "{first}");
        assert!(
            flat(&run.stderr).contains("did not answer for 2 s"),
            "{first}: {run}"
        );
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    perms.set_mode(0o755);
    std::fs::set_permissions(path, perms).unwrap();
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
    assert!(
        flat(&run.stderr).contains("run the command again to finish it"),
        "{run}"
    );
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
    let mut cmd = sb.eka_command(dir);
    cmd.args(args);
    kill_9_command_after(cmd, delay)
}

/// [`kill_9_after`] for any command.
fn kill_9_command_after(mut cmd: std::process::Command, delay: Duration) -> bool {
    use std::os::unix::process::CommandExt as _;
    cmd.stdout(std::process::Stdio::null())
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

/// `kill -9` of `eka publish`'s process group (eka, git push, and the
/// remote's receive-pack, a child of git push on `file://`) at many
/// points: the remote holds every ref of the publish or none, `git fsck
/// --strict` finds nothing wrong with it, the next publish finishes the
/// work, no scratch repository (`eka-push-*`) is left in `TMPDIR`, and no
/// `index.lock` in the repository published from.
/// The remote keeps received packs as packs (`receive.unpackLimit=1`), so
/// that a kill can leave a pack's `.keep` behind (see
/// [`a_push_killed_after_moving_its_pack_is_recovered`]).
#[test]
fn kill_9_mid_publish_leaves_the_remote_all_or_nothing_and_the_next_publish_recovers() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    git(&reg.path, &["config", "receive.unpackLimit", "1"]);
    let tmp = sb.mkdir("tmp");
    let publish = |round: u64| {
        let version = format!("1.0.{round}");
        for label in ["c", "d"] {
            reg.source.write_atom(label, label, &version);
            reg.source.write(
                &format!("{label}/data-{round}.txt"),
                format!("{label} {round}\n"),
            );
        }
        reg.source.commit(&format!("round {round}"));
        let mut cmd = sb.eka_command(reg.source.path());
        cmd.env("TMPDIR", &tmp)
            .args(["publish", "--remote", &reg.url, "c", "d"]);
        (cmd, version)
    };
    let mut whole = Duration::MAX;
    for round in 0..2 {
        let (cmd, _) = publish(round);
        let started = Instant::now();
        sb.run(cmd).assert_success();
        whole = whole.min(started.elapsed());
    }
    let mut kills = 0;
    let mut violations = Vec::new();
    let mut round = 2u64;
    while kills < PUBLISH_KILLS_WANTED && round < MAX_KILL_ROUNDS {
        let delay = whole * (round % 8) as u32 / 10;
        let (cmd, version) = publish(round);
        if kill_9_command_after(cmd, delay) {
            kills += 1;
        }
        // git status takes index.lock unless told not to: a kill left it.
        if reg.source.path().join(".git/index.lock").exists() {
            violations.push(format!("round {round}: .git/index.lock left in the source"));
            let _ = std::fs::remove_file(reg.source.path().join(".git/index.lock"));
        }
        let landed = published_refs(&reg.url, &version);
        let (rerun, _) = publish_again(&sb, &reg.source, &reg.url, &tmp);
        if !rerun.success() {
            violations.push(format!("round {round}: the next publish failed: {rerun}"));
        }
        let all = published_refs(&reg.url, &version);
        if all.len() != 6 {
            violations.push(format!(
                "round {round}: after the rerun the remote has {all:?}"
            ));
        }
        if !landed.is_empty() && landed != all {
            violations.push(format!("round {round}: half a publish landed: {landed:?}"));
        }
        violations.extend(fsck_problems(&reg.path).map(|p| format!("round {round}: {p}")));
        let left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("eka-push-"))
            .collect();
        if !left.is_empty() {
            violations.push(format!("round {round}: left in TMPDIR: {left:?}"));
        }
        round += 1;
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        kills >= PUBLISH_KILLS_WANTED,
        "only {kills} of {round} kills landed mid-run (the quickest whole run took {whole:?})"
    );
}

const PUBLISH_KILLS_WANTED: u32 = 10;

/// The refs of `c` and `d` at `version` on the remote (atom, manifest
/// and origin refs, six in all once published).
fn published_refs(url: &str, version: &str) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> = ls_remote(url, &["refs/atoms/*"])
        .into_iter()
        .filter(|(name, _)| name.ends_with(&format!("/{version}")))
        .filter(|(name, _)| name.contains("/c/") || name.contains("/d/"))
        .collect();
    refs.sort();
    refs
}

/// `eka publish` of `c` and `d` again, as the user would after a kill.
fn publish_again(
    sb: &Sandbox,
    source: &crate::support::Repo,
    url: &str,
    tmp: &Path,
) -> (Run, Duration) {
    let mut cmd = sb.eka_command(source.path());
    cmd.env("TMPDIR", tmp)
        .args(["publish", "--remote", url, "c", "d"]);
    let started = Instant::now();
    let run = sb.run(cmd);
    (run, started.elapsed())
}

/// What `git fsck --strict` says is wrong with the repository at `path`.
fn fsck_problems(path: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["fsck", "--strict", "--no-dangling", "--no-progress"])
        .current_dir(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = text
        .lines()
        .any(|l| l.starts_with("error") || l.starts_with("warning") || l.contains("fatal"));
    (!out.status.success() || bad).then(|| format!("git fsck --strict: {text}"))
}

/// A push killed after receive-pack moved the pack into place and before
/// it removed the pack's `.keep` (here: while the remote's
/// `reference-transaction` hook runs, with the refs locked) leaves that
/// `.keep` and the refs' `.lock` files; git then refuses every push of the
/// same objects ("unable to migrate objects to permanent storage": the new
/// `.keep` differs) and of those refs. Nothing landed; the next publish
/// says which lock files to delete, and once they are gone gets past the
/// `.keep` (its pack compressed otherwise).
#[test]
fn a_push_killed_after_moving_its_pack_is_recovered() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    git(&reg.path, &["config", "receive.unpackLimit", "1"]);
    let marker = sb.path().join("in-hook");
    install_hook(
        &reg.path,
        "reference-transaction",
        &format!(
            "[ \"$1\" = prepared ] && {{ touch '{}'; sleep 600; }}\nexit 0",
            marker.display()
        ),
    );
    let tmp = sb.mkdir("tmp");
    for label in ["c", "d"] {
        reg.source.write_atom(label, label, "1.0.0");
    }
    reg.source.commit("c and d");
    let mut cmd = sb.eka_command(reg.source.path());
    cmd.env("TMPDIR", &tmp)
        .args(["publish", "--remote", &reg.url, "c", "d"]);
    kill_9_when_exists(cmd, &marker);
    assert!(published_refs(&reg.url, "1.0.0").is_empty());
    let kept: Vec<_> = std::fs::read_dir(reg.path.join("objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".keep"))
        .collect();
    assert_eq!(kept.len(), 1, "the killed push left no .keep: {kept:?}");
    std::fs::remove_file(reg.path.join("hooks/reference-transaction")).unwrap();
    let (run, _) = publish_again(&sb, &reg.source, &reg.url, &tmp);
    let run = run.assert_failure();
    assert!(
        flat(&run.stderr)
            .contains("git left the remote wedged: a push killed there earlier left lock files"),
        "{run}"
    );
    let mut locks = Vec::new();
    for entry in walkdir(&reg.path.join("refs")) {
        if entry.extension().is_some_and(|e| e == "lock") {
            locks.push(entry);
        }
    }
    assert!(!locks.is_empty());
    for lock in locks {
        std::fs::remove_file(lock).unwrap();
    }
    let (run, _) = publish_again(&sb, &reg.source, &reg.url, &tmp);
    run.assert_success();
    assert_eq!(published_refs(&reg.url, "1.0.0").len(), 6);
    assert_eq!(fsck_problems(&reg.path), None);
}

/// Every file below `dir`.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Runs `cmd` in its own process group and kills the group with SIGKILL
/// as soon as `marker` exists.
fn kill_9_when_exists(mut cmd: std::process::Command, marker: &Path) {
    use std::os::unix::process::CommandExt as _;
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let started = Instant::now();
    while !marker.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the command ended before {}",
            marker.display()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached {}",
            marker.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: signals the process group of a child this test spawned.
    unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
    let _ = child.wait();
}

/// `kill -9` of `eka fetch` at many points, each from an empty cache: the
/// next fetch succeeds (the cache is never left broken).
#[test]
fn kill_9_mid_fetch_leaves_the_cache_usable() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .atom("c", "1.0.0")
        .build();
    let dir = sb.mkdir("app");
    std::fs::write(dir.join("atom.toml"), ORIGINAL_MANIFEST).unwrap();
    sb.eka(
        &dir,
        &[
            "add",
            &format!("{}::b", reg.url),
            &format!("{}::c", reg.url),
        ],
    )
    .assert_success();
    let cache = sb.home().join(".cache/eka");
    let fetch = vec!["fetch".to_owned()];
    let whole = (0..3)
        .map(|_| {
            let _ = std::fs::remove_dir_all(&cache);
            let started = Instant::now();
            sb.eka(&dir, &fetch).assert_success();
            started.elapsed()
        })
        .min()
        .unwrap();
    let mut kills = 0;
    let mut violations = Vec::new();
    let mut round = 0u64;
    while kills < KILLS_WANTED && round < MAX_KILL_ROUNDS {
        if round.is_multiple_of(2) {
            let _ = std::fs::remove_dir_all(&cache);
        }
        let delay = whole * (round % 8) as u32 / 10;
        if kill_9_after(&sb, &dir, &fetch, delay) {
            kills += 1;
        }
        let rerun = sb.eka(&dir, &fetch);
        if !rerun.success() {
            violations.push(format!("round {round}: the next fetch failed: {rerun}"));
        }
        round += 1;
    }
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(
        kills >= KILLS_WANTED,
        "only {kills} of {round} kills landed mid-run (the quickest whole run took {whole:?})"
    );
}
