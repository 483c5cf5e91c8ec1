//! End-to-end: the conventions of issue 14 on the existing commands:
//! `--offline` on the queries, `verify` and `publish`; one `--json`
//! document per command with its schema; progress counts on a terminal
//! only; transport errors that say what failed.

use std::process::Command;

use crate::support::{
    self, assert_cli_snapshot, install_hook, RegistryBuilder, Sandbox, Transport,
};

fn json(run: &support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{run}"))
}

/// Offline, the queries and `verify` read repositories on this machine and
/// refuse remotes, saying their refs are not cached; `publish` refuses.
#[test]
fn offline_reads_local_repositories_and_refuses_remotes() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("hello", "1.0.0")
        .build();
    sb.filter(&reg.url, "[URL]");
    let path = reg.path.display().to_string();
    sb.filter(&path, "[PATH]");
    for args in [
        vec!["--offline", "list", reg.url.as_str()],
        vec!["--offline", "list", path.as_str()],
        vec!["--offline", "versions", &format!("{path}::hello")],
        vec!["--offline", "show", &format!("{}::hello", reg.url)],
        vec!["--offline", "verify", path.as_str()],
    ] {
        sb.eka(sb.path(), &args).assert_success();
    }
    // The source repository verifies itself offline (the default registry).
    sb.eka(reg.source.path(), &["--offline", "verify"])
        .assert_success();
    let remote = "https://registry.invalid/reg.git";
    let run = sb
        .eka(sb.path(), &["--offline", "list", remote])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::query::offline

      × the refs of `https://registry.invalid/reg.git` are not cached, and the
      │ network may not be used
      help: run it once without --offline: eka keeps each remote's listing it
            gets, and --offline answers from it (a path or a file:// URL is always
            asked)
    ");
    let run = sb
        .eka(
            sb.path(),
            &["--frozen", "versions", &format!("{remote}::hello")],
        )
        .assert_failure();
    assert!(run.stderr.contains("eka::query::offline"), "{run}");
    // A local mirror answers for a remote one.
    let run = sb
        .eka(
            sb.path(),
            &[
                "--offline",
                "versions",
                &format!("{remote}::hello"),
                "--mirror",
                &path,
            ],
        )
        .assert_success();
    assert!(run.stdout.contains("1.0.0"), "{run}");
    let run = sb
        .eka(sb.path(), &["--offline", "verify", remote])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::verify::offline

      × cannot verify `https://registry.invalid/reg.git` offline: eka keeps no
      │ copy of a remote's atoms and their origins
      help: run it without --offline; offline, eka verifies only repositories on
            this machine (the current one by default)
    ");
    let run = sb
        .eka(
            reg.source.path(),
            &[
                "--offline",
                "publish",
                "--all",
                "--dry-run",
                "--remote",
                &reg.url,
            ],
        )
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::publish::offline

      × cannot publish offline: publishing lists and pushes the remote's refs
      help: publishing pushes to the remote: run it without --offline (`--dry-run`
            shows what would be published)
    ");
    // Under --json, the refusal is the JSON error, with its code.
    let run = sb
        .eka(sb.path(), &["--offline", "--json", "list", remote])
        .assert_failure();
    assert_eq!(json(&run)["code"], "eka::query::offline", "{run}");
}

/// Online, `versions`, `list` and `show` keep each remote's listing (and
/// `show` the manifest) in eka's cache; `--offline` answers from it, with
/// the server gone, saying how old it is. What was never fetched online
/// is still refused, and online the network is used again.
#[test]
fn offline_queries_answer_from_the_listings_kept_online() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("hello", "1.0.0")
        .release()
        .atom("other", "2.0.0")
        .build();
    sb.filter(&reg.url, "[URL]");
    sb.filter_ids();
    let hello = format!("{}::hello", reg.url);
    let offline = |args: &[&str]| {
        let mut all = vec!["--offline"];
        all.extend_from_slice(args);
        sb.eka(sb.path(), &all)
    };
    // Nothing kept yet.
    let run = offline(&["versions", &hello]).assert_failure();
    assert!(run.stderr.contains("eka::query::offline"), "{run}");
    assert!(run.stderr.contains("once without --offline"), "{run}");

    let online = [
        sb.eka(sb.path(), &["versions", &hello]).assert_success(),
        sb.eka(sb.path(), &["show", &hello]).assert_success(),
        sb.eka(sb.path(), &["list", &reg.url]).assert_success(),
    ];
    let kept = std::fs::read_dir(sb.home().join(".cache/eka/listings"))
        .unwrap()
        .count();
    assert_eq!(kept, 1, "one file per remote URL");
    // The server is gone: offline, the same answers, from the cache.
    drop(server);
    let answers = [
        offline(&["versions", &hello]).assert_success(),
        offline(&["show", &hello]).assert_success(),
        offline(&["list", &reg.url]).assert_success(),
    ];
    for (live, cached) in online.iter().zip(&answers) {
        assert_eq!(live.stdout, cached.stdout, "{cached}");
        assert!(
            cached.stderr.starts_with(&format!(
                "note: offline: answered from the listing of `{}` kept ",
                reg.url
            )),
            "{cached}"
        );
        assert!(cached.stderr.trim_end().ends_with(" ago"), "{cached}");
    }
    // --json says when the answering listing was made; online, nothing.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for args in [
        vec!["--json", "versions", &hello],
        vec!["--json", "show", &hello],
        vec!["--json", "list", &reg.url],
    ] {
        let run = offline(&args).assert_success();
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let at = v["listed_at"].as_u64().unwrap_or_else(|| panic!("{run}"));
        assert!(now - 600 < at && at <= now, "{run}");
    }
    // `other` is in the kept listing (`list` listed everything), but its
    // manifest was never fetched.
    let run = offline(&["show", &format!("{}::other", reg.url)]).assert_failure();
    assert!(run.stderr.contains("eka::query::offline"), "{run}");
    // Online again, with the server gone: the network is used, and fails.
    let run = sb.eka(sb.path(), &["versions", &hello]).assert_failure();
    assert!(!run.stderr.contains("eka::query::offline"), "{run}");
}

/// Every command's JSON is one document starting with `"schema": 1`; with
/// `--all`, one document for all the atoms.
#[test]
fn json_documents_carry_their_schema() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("hello", "1.0.0")
        .build();
    let repo = sb.repo("work");
    for a in ["a", "b"] {
        sb.eka(repo.path(), &["new", a]).assert_success();
        sb.eka(
            &repo.path().join(a),
            &["add", &format!("{}::hello@^1", reg.url)],
        )
        .assert_success();
    }
    let a = repo.path().join("a");
    let hello = format!("{}::hello", reg.url);
    let runs = [
        sb.eka(sb.path(), &["--json", "list", &reg.url]),
        sb.eka(sb.path(), &["--json", "versions", &hello]),
        sb.eka(sb.path(), &["--json", "show", &hello]),
        sb.eka(sb.path(), &["--json", "verify", &reg.url]),
        sb.eka(
            reg.source.path(),
            &["--json", "publish", "--all", "--remote", &reg.url],
        ),
        sb.eka(&a, &["--json", "fetch"]),
        sb.eka(&a, &["--json", "lock"]),
        sb.eka(&a, &["--json", "update"]),
        sb.eka(&a, &["--json", "lock", "--check"]),
        sb.eka(repo.path(), &["--json", "lock", "--all"]),
        sb.eka(repo.path(), &["--json", "update", "--all"]),
        sb.eka(repo.path(), &["--json", "fetch", "--all"]),
        sb.eka(repo.path(), &["--json", "lock", "--check", "--all"]),
    ];
    for run in &runs {
        assert!(run.status.success(), "{run}");
        assert!(
            run.stdout.trim_start().starts_with("{\n  \"schema\": 1,"),
            "{run}"
        );
        json(run);
    }
    // `--all`: one document, an entry per atom with its directory.
    for run in &runs[9..12] {
        let v = json(run);
        let atoms = v["atoms"].as_array().unwrap_or_else(|| panic!("{run}"));
        assert_eq!(atoms.len(), 2, "{run}");
        assert!(atoms.iter().all(|a| a["dir"].is_string()), "{run}");
    }
    // A usage error under --json is JSON too.
    let run = sb.eka(sb.path(), &["--json", "list"]);
    assert_eq!(json(&run)["code"], "eka::cli::usage", "{run}");
}

/// On a pipe, no progress is drawn; on a terminal, `publish` shows how
/// many atoms it has digested.
#[test]
fn progress_counts_on_a_terminal_only() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    for a in ["a", "b", "c"] {
        repo.write_atom(a, a, "1.0.0");
    }
    repo.commit("three atoms");
    let bare = sb.bare("registry");
    // The push waits a second: the spinner is drawn meanwhile.
    install_hook(&bare, "post-receive", "sleep 1");
    let url = support::file_url(&bare);
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_eq!(run.stderr, "", "{run}");
    let mut eka = sb.eka_command(repo.path());
    eka.args([
        "--color",
        "never",
        "publish",
        "--all",
        "--remote",
        &url,
        "--dry-run",
    ]);
    let out = in_a_terminal(&eka);
    assert!(out.contains("dry run: 0 to publish"), "{out}");
    // The published atoms again under other versions, so that they push.
    for a in ["a", "b", "c"] {
        repo.write_atom(a, a, "1.1.0");
    }
    repo.commit("bump");
    let mut eka = sb.eka_command(repo.path());
    eka.args(["--color", "never", "publish", "--all", "--remote", &url]);
    let out = in_a_terminal(&eka);
    assert!(out.contains("publishing: 3/3 atoms"), "{out}");
    assert!(out.contains("published 3 to"), "{out}");
}

/// `eka build` on a terminal counts the derivations Nix builds (and the
/// store paths it writes first); on a pipe, only Nix's own lines.
#[test]
fn build_counts_derivations_on_a_terminal_only() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("project");
    // Two builds, one after the other, each a second long: the bar is
    // drawn while the second runs. The nonce keeps them from being valid
    // from an earlier run.
    let write = |nonce: &str| {
        std::fs::write(
            dir.join("default.nix"),
            format!(
                r#"
let
  sh = name: script: derivation {{
    inherit name; nonce = "{nonce}"; system = "x86_64-linux";
    builder = "/bin/sh"; args = [ "-c" script ];
  }};
  first = sh "first" "/bin/sleep 1; echo first > $out";
in sh "second" "/bin/sleep 1; echo ${{first}} > $out"
"#
            ),
        )
        .unwrap();
    };
    write(&format!("pipe {}", sb.path().display()));
    let run = sb
        .eka(&dir, &["build", "--no-link", "default.nix"])
        .assert_success();
    assert!(run.stderr.contains("building '/nix/store/"), "{run}");
    assert!(!run.stderr.contains("derivations built"), "{run}");
    write(&format!("terminal {}", sb.path().display()));
    let mut eka = sb.eka_command(&dir);
    eka.args(["--color", "never", "build", "--no-link", "default.nix"]);
    let out = in_a_terminal(&eka);
    assert!(out.contains("building: 1/2 derivations built"), "{out}");
    assert!(out.contains("-second"), "{out}");
}

/// Runs `command` with a terminal as its stdin, stdout and stderr
/// (`script`), returning what it wrote there.
fn in_a_terminal(command: &Command) -> String {
    let line: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect();
    let mut script = Command::new("script");
    script.args(["-qec", &line.join(" "), "/dev/null"]);
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        script.current_dir(dir);
    }
    // A terminal of the usual kind (the sandbox sets no TERM).
    script.env("TERM", "xterm");
    let out = script.output().expect("run script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Each transport's failures say what failed: a missing path, a directory
/// that is no repository, a host that does not resolve, a closed port, a
/// server without that repository (git daemon, smart HTTP, ssh).
#[test]
fn transport_errors_say_what_failed() {
    let sb = Sandbox::new();
    let not_a_repo = sb.mkdir("plain");
    let missing = sb.path().join("missing.git");
    let missing_url = format!("file://{}", missing.display());
    let mut reasons = Vec::new();
    let mut list = |url: &str| {
        let run = sb.eka(sb.path(), &["--json", "list", url]).assert_failure();
        let v = json(&run);
        let causes: Vec<&str> = v["causes"]
            .as_array()
            .unwrap_or_else(|| panic!("{run}"))
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        let line = format!(
            "{}: {}",
            v["error"].as_str().unwrap_or_default(),
            causes.join(": ")
        );
        reasons.push(line.replace(url, "[URL]"));
    };
    list(&missing.display().to_string());
    list(&missing_url);
    list(&not_a_repo.display().to_string());
    list("git://127.0.0.1:1/reg.git");
    list("http://127.0.0.1:1/reg.git");
    for kind in [Transport::Git, Transport::Http, Transport::Ssh] {
        let server = sb.server(kind);
        list(&server.url("missing"));
    }
    // What the resolver says varies with the machine's network; that it
    // is the host's name that failed does not.
    for url in [
        "git://no-such-host.invalid/reg.git",
        "http://no-such-host.invalid/reg.git",
    ] {
        let run = sb.eka(sb.path(), &["list", url]).assert_failure();
        assert!(run.stderr.contains("cannot resolve"), "{run}");
    }
    let text = reasons.join("\n");
    let text = text
        .replace(&sb.path().display().to_string(), "[SANDBOX]")
        .replace(&support::ssh_command(), "ssh");
    insta::assert_snapshot!(text, @"
    cannot reach `[URL]` (`[URL]` does not exist): 
    cannot reach `[URL]` (`[SANDBOX]/missing.git` does not exist): 
    cannot reach `[URL]` (`[URL]` does not appear to be a git repository): 
    cannot reach `[URL]` (cannot connect to 127.0.0.1:1: Connection refused (os error 111)): 
    cannot reach `[URL]` (cannot connect: Connection refused (os error 111)): 
    cannot reach `[URL]` (the server has no such repository: no such repository: /missing.git): 
    cannot reach `[URL]` (the server has no such repository: HTTP status client error (404 Not Found) for url ([URL]/info/refs?service=git-upload-pack)): 
    cannot reach `[URL]` (the server has no such repository: `ssh` ended: fatal: '[SANDBOX]/served-ssh/missing.git' does not appear to be a git repository):
    ");
}
