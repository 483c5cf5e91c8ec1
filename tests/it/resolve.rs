//! End-to-end: `eka add`, `remove`, `lock` (`--check`), `update` and
//! `fetch` against registries that `eka publish` builds on real servers.

use std::path::{Path, PathBuf};

use crate::support::{
    self, assert_cli_snapshot, fsck, git, GitServer, RegistryBuilder, Repo, Sandbox, Transport,
};

/// A manifest with dependencies on `set` (a URL).
fn manifest(label: &str, version: &str, set: &str, deps: &[(&str, &str)]) -> String {
    let mut s = format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n");
    if !deps.is_empty() {
        s.push_str(&format!(
            "\n[package.sets]\nreg = \"{set}\"\n\n[deps.from.reg]\n"
        ));
        for (d, req) in deps {
            s.push_str(&format!("{d} = \"{req}\"\n"));
        }
    }
    s
}

/// A registry on `server`: `b` 1.0.0, 1.1.0, 2.0.0; `a` 1.0.0 (needs b ^1);
/// `c` 1.0.0 (needs b ^2). Returns its URL.
fn registry(sb: &Sandbox, server: &GitServer) -> String {
    // `a` and `c` name the registry's URL, which varies from run to run:
    // so do their commits and digests.
    sb.filter_ids();
    RegistryBuilder::new(sb, server)
        .atom("b", "1.0.0")
        .dir("libs/b")
        .release()
        .atom("b", "1.1.0")
        .dir("libs/b")
        .release()
        .atom("b", "2.0.0")
        .dir("libs/b")
        .release()
        .atom("a", "1.0.0")
        .dep("b", "^1")
        .atom("c", "1.0.0")
        .dir("deep/c")
        .dep("b", "^2")
        .build()
        .url
}

/// An atom folder `app` with a commented manifest.
fn app(sb: &Sandbox) -> PathBuf {
    let dir = sb.mkdir("app");
    std::fs::write(
        dir.join("atom.toml"),
        "# The app.\n[package]\nlabel = \"app\"  # keep this comment\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    dir
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn locked_version(lock: &str, label: &str) -> Option<String> {
    let at = lock.find(&format!("[[atom]]\nlabel = \"{label}\"\nversion = \""))?;
    let rest = &lock[at..];
    let start = rest.find("version = \"")? + "version = \"".len();
    Some(rest[start..start + rest[start..].find('"')?].to_owned())
}

fn cache_git(sb: &Sandbox) -> PathBuf {
    sb.home().join(".cache/eka/git")
}

fn workflow(kind: Transport) {
    // Over ssh, eka finds its client where a user's git would: in
    // core.sshCommand of ~/.gitconfig (the other ssh tests give it
    // GIT_SSH_COMMAND).
    let sb = match kind {
        Transport::Ssh => Sandbox::new().ssh_from_git_config(),
        _ => Sandbox::new(),
    };
    let server = sb.server(kind);
    let url = registry(&sb, &server);
    // One snapshot for every transport.
    sb.filter(&url, "[URL]");
    let dir = app(&sb);

    // add with no requirement: ^<resolved>, transitive b resolved to the
    // highest that a allows.
    let run = sb
        .eka(&dir, &["add", &format!("{url}::a")])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding a ^1.0.0 to [deps.from.registry]
      locking a 1.0.0
      locking b 1.1.0
    wrote atom.toml and atom.lock (2 atoms)
    --- stderr ---
    ");
    let toml = read(&dir.join("atom.toml"));
    assert!(
        toml.starts_with("# The app.\n[package]\nlabel = \"app\"  # keep this comment\n"),
        "{toml}"
    );
    assert!(
        toml.contains("[deps.from.registry]\na = \"^1.0.0\"\n"),
        "{toml}"
    );
    assert!(
        toml.contains(&format!("[package.sets]\nregistry = \"{url}")),
        "{toml}"
    );
    let lock = read(&dir.join("atom.lock"));
    assert_eq!(locked_version(&lock, "a").as_deref(), Some("1.0.0"));
    assert_eq!(
        locked_version(&lock, "b").as_deref(),
        Some("1.1.0"),
        "{lock}"
    );
    sb.eka(&dir, &["lock", "--check"]).assert_success();

    // `eka lock` on a fresh lock changes nothing (not a byte).
    sb.eka(&dir, &["lock"]).assert_success();
    assert_eq!(read(&dir.join("atom.lock")), lock);

    // A second add reuses the set; a direct b ^1.0 keeps the locked 1.1.0.
    sb.eka(&dir, &["add", &format!("{url}::b@~1.0")])
        .assert_success();
    let toml = read(&dir.join("atom.toml"));
    assert_eq!(toml.matches("[package.sets]").count(), 1, "{toml}");
    assert!(toml.contains("b = \"~1.0\""), "{toml}");
    let lock2 = read(&dir.join("atom.lock"));
    assert_eq!(
        locked_version(&lock2, "b").as_deref(),
        Some("1.0.0"),
        "{lock2}"
    );

    // Editing the manifest makes the lock stale; --check says so and
    // changes nothing; `eka lock` brings it in line.
    let edited = toml.replace("b = \"~1.0\"", "b = \"^1\"");
    std::fs::write(dir.join("atom.toml"), &edited).unwrap();
    let run = sb.eka(&dir, &["lock", "--check"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::stale

      × atom.lock is not in line with atom.toml:
      │   - the requirement on `b` is `^1` in atom.toml but `~1.0` in atom.lock
      help: run `eka lock` and commit atom.lock
    ");
    let run = sb
        .eka(&dir, &["lock", "--check", "--json"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    {
      "schema": 1,
      "atoms": [
        {
          "dir": "[SANDBOX]/app",
          "stale": [
            "the requirement on `b` is `^1` in atom.toml but `~1.0` in atom.lock"
          ],
          "up_to_date": false
        }
      ],
      "stale": [
        "the requirement on `b` is `^1` in atom.toml but `~1.0` in atom.lock"
      ],
      "up_to_date": false
    }
    --- stderr ---
    "#);
    assert_eq!(read(&dir.join("atom.lock")), lock2);
    sb.eka(&dir, &["lock"]).assert_success();
    let lock3 = read(&dir.join("atom.lock"));
    // Nothing that still satisfies the manifest changes.
    assert_eq!(
        locked_version(&lock3, "b").as_deref(),
        Some("1.0.0"),
        "{lock3}"
    );
    sb.eka(&dir, &["lock", "--check"]).assert_success();

    // update moves b to the highest allowed, touching nothing else.
    let run = sb.eka(&dir, &["update", "b"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     updating b 1.0.0 -> 1.1.0
    wrote atom.lock (2 atoms)
    --- stderr ---
    ");
    let lock4 = read(&dir.join("atom.lock"));
    assert_eq!(locked_version(&lock4, "b").as_deref(), Some("1.1.0"));
    assert_eq!(read(&dir.join("atom.toml")), edited);

    // fetch: into an empty cache, only atom objects.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    if let Some(ssh) = server.ssh() {
        ssh.clear_packet_trace();
    }
    let run = sb.eka(&dir, &["fetch"]).assert_success();
    if let Some(ssh) = server.ssh() {
        // gix fetched with protocol v2 (GIT_PROTOCOL went through ssh).
        let trace = ssh.packet_trace();
        assert!(trace.contains("upload-pack< command=fetch"), "{trace}");
    }
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS   COMMIT                                    DIGEST
    a      1.0.0    fetched  [COMMIT]  blake3:[DIGEST]
    b      1.1.0    fetched  [COMMIT]  blake3:[DIGEST]
    2 atoms verified in [SANDBOX]/home/.cache/eka (2 fetched)
    --- stderr ---
    ");
    let objects = git(
        &cache_git(&sb),
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ],
    );
    // Two atom commits: no origin commit, no history.
    assert_eq!(
        objects.lines().filter(|l| *l == "commit").count(),
        2,
        "{objects}"
    );
    fsck(&cache_git(&sb));
    let run = sb
        .eka(&dir, &["fetch", "--offline", "--json"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    {
      "schema": 1,
      "atoms": [
        {
          "commit": "[COMMIT]",
          "digest": "blake3:[DIGEST]",
          "from": null,
          "id": "0ih0suvq959noak8e1ab37j0iao2fi7ds98n4t4kc5fncg21oubg",
          "label": "a",
          "status": "cached",
          "version": "1.0.0"
        },
        {
          "commit": "[COMMIT]",
          "digest": "blake3:[DIGEST]",
          "from": null,
          "id": "sb210jsc1j7vq06p8h81ef18ad3vul0dc1saj8t31bq8vf9m4a30",
          "label": "b",
          "status": "cached",
          "version": "1.1.0"
        }
      ],
      "cache": "[SANDBOX]/home/.cache/eka"
    }
    --- stderr ---
    "#);

    // remove b: a still needs b, which stays locked (as a's dependency).
    sb.eka(&dir, &["remove", "b"]).assert_success();
    let toml = read(&dir.join("atom.toml"));
    assert!(!toml.contains("b = "), "{toml}");
    assert!(toml.contains("keep this comment"), "{toml}");
    sb.eka(&dir, &["lock", "--check"]).assert_success();
    sb.eka(&dir, &["remove", "a"]).assert_success();
    let lock5 = read(&dir.join("atom.lock"));
    assert!(!lock5.contains("[[atom]]"), "{lock5}");
    let run = sb.eka(&dir, &["remove", "a"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::project::no_such_dep

      × atom.toml has no dependency `a`
    ");
}

#[test]
fn workflow_file() {
    workflow(Transport::File);
}

#[test]
fn workflow_http() {
    workflow(Transport::Http);
}

#[test]
fn workflow_git_daemon() {
    workflow(Transport::Git);
}

#[test]
fn workflow_ssh() {
    workflow(Transport::Ssh);
}

#[test]
fn conflict_is_explained() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    let before = read(&dir.join("atom.toml"));
    let run = sb
        .eka(&dir, &["add", &format!("{url}::a"), &format!("{url}::c")])
        .assert_failure();
    // a needs b ^1, c needs b ^2.
    assert!(
        run.stderr.contains("^1") && run.stderr.contains("^2"),
        "{run}"
    );
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::conflict

      × the dependencies cannot be satisfied:
      │ Because c 1.0.0 depends on b ^2 and a 1.0.0 depends on b ^1, a 1.0.0, c
      │ 1.0.0 are incompatible.
      │ And because app (atom.toml) 0.1.0 depends on a * and app (atom.toml) 0.1.0
      │ depends on c *, app (atom.toml) 0.1.0 is forbidden.
      │   (a in file://[SANDBOX]/served-file/registry.git has 1.0.0)
      │   (b in file://[SANDBOX]/served-file/registry.git has 2.0.0,
      │ 1.1.0, 1.0.0)
      │   (c in file://[SANDBOX]/served-file/registry.git has 1.0.0)
      help: relax one of the clashing requirements above
    ");
    assert_eq!(read(&dir.join("atom.toml")), before);
    assert!(!dir.join("atom.lock").exists());
}

#[test]
fn no_matching_version_lists_versions() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    let run = sb
        .eka(&dir, &["add", &format!("{url}::b@^3")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::no_match

      × no version of `b` in file://[SANDBOX]/served-file/registry.git
      │ matches `^3`; it has 2.0.0, 1.1.0, 1.0.0
      help: change the requirement in atom.toml to one of the versions there are
    ");
    assert!(!dir.join("atom.lock").exists());
}

#[test]
fn unreachable_remote() {
    let sb = Sandbox::new();
    let dir = app(&sb);
    let before = read(&dir.join("atom.toml"));
    for kind in Transport::ALL {
        let url = support::unreachable_url(kind, "nothing");
        let run = sb
            .eka(&dir, &["add", &format!("{url}::b")])
            .assert_failure();
        assert!(run.stderr.contains("cannot reach set"), "{run}");
        assert_eq!(read(&dir.join("atom.toml")), before);
    }
}

#[test]
fn remote_without_atoms() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = server.create("empty");
    let dir = app(&sb);
    let run = sb
        .eka(&dir, &["add", &format!("{url}::b")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::not_a_registry

      × file://[SANDBOX]/served-file/empty.git has no atoms (neither
      │ refs/atoms/_root nor eka 0.3's refs/ekala/init)
      help: is this the right repository? atoms are published there with `eka
            publish`
    ");
}

#[test]
fn dependency_cycle() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = RegistryBuilder::new(&sb, &server)
        .atom("x", "1.0.0")
        .dep("y", "^1")
        .atom("y", "1.0.0")
        .dep("x", "^1")
        .build()
        .url;
    let dir = app(&sb);
    let run = sb
        .eka(&dir, &["add", &format!("{url}::x")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::cycle

      × dependency cycle: x -> y -> x
      help: atoms may not depend on each other in a cycle; the published manifests
            above form one
    ");
    assert!(!dir.join("atom.lock").exists());
}

#[test]
fn lock_edited_into_nonsense() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::a")])
        .assert_success();
    let lock = read(&dir.join("atom.lock"));
    // A hand edit: a version that the edge requirement does not allow.
    let broken = lock.replacen("version = \"1.1.0\"", "version = \"7.0.0\"", 1);
    assert_ne!(broken, lock);
    std::fs::write(dir.join("atom.lock"), &broken).unwrap();
    for args in [&["lock", "--check"][..], &["fetch"][..]] {
        let run = sb.eka(&dir, args).assert_failure();
        assert!(run.stderr.contains("does not satisfy"), "{run}");
        assert!(run.stderr.contains("atom.lock"), "{run}");
    }
    // Garbage: a syntax error with a location.
    std::fs::write(dir.join("atom.lock"), "lock-version = 1\n[[atom]\n").unwrap();
    let run = sb.eka(&dir, &["lock", "--check"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::syntax

      × invalid lock: unclosed array table, expected `]`
       ╭─[[SANDBOX]/app/atom.lock:2:8]
     1 │ lock-version = 1
     2 │ [[atom]
       ·        ▲
       ·        ╰── here
       ╰────
      help: atom.lock is written by eka, not by hand; run `eka lock` to write it
            again from atom.toml
    ");
    // `eka lock` rebuilds it.
    let run = sb.eka(&dir, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
      locking a 1.0.0
      locking b 1.1.0
    wrote atom.lock (2 atoms)
    --- stderr ---
    warning: atom.lock does not verify and is rebuilt from atom.toml: invalid lock: unclosed array table, expected `]`
    ");
    assert_eq!(read(&dir.join("atom.lock")), lock);
}

#[test]
fn rewritten_version_is_refused() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::b@=1.0.0")])
        .assert_success();
    // Point the remote's b/1.0.0 at b/2.0.0's commit.
    let bare = server.path("registry");
    let other = git(&bare, &["rev-parse", "refs/atoms/b/2.0.0"]);
    git(&bare, &["update-ref", "refs/atoms/b/1.0.0", &other]);
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::rewritten

      × b@1.0.0 was rewritten on `file://[SANDBOX]/served-file/
      │ registry.git`: the lock says commit
      │ [COMMIT], the remote now has
      │ [COMMIT]
      help: a published version must never change; if you trust the new commit,
            run `eka update b` to lock it again
    ");
    assert!(run.stderr.contains(&other), "{run}");
    // Deleted.
    git(&bare, &["update-ref", "-d", "refs/atoms/b/1.0.0"]);
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::deleted

      × b@1.0.0 was deleted from `file://[SANDBOX]/served-file/
      │ registry.git` (the lock says commit
      │ [COMMIT])
      help: the version is gone from that remote; lock another version with `eka
            update b`
    ");
    // The cache still serves it offline, checked against the lock.
    sb.eka(&dir, &["fetch", "--offline"]).assert_success();
}

#[test]
fn lock_commit_no_longer_matches_remote() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::b@=1.0.0")])
        .assert_success();
    let lock = read(&dir.join("atom.lock"));
    let bare = server.path("registry");
    let real = git(&bare, &["rev-parse", "refs/atoms/b/1.0.0"]);
    let fake = "1234567890123456789012345678901234567890";
    std::fs::write(dir.join("atom.lock"), lock.replace(&real, fake)).unwrap();
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::rewritten

      × b@1.0.0 was rewritten on `file://[SANDBOX]/served-file/
      │ registry.git`: the lock says commit
      │ [COMMIT], the remote now has
      │ [COMMIT]
      help: a published version must never change; if you trust the new commit,
            run `eka update b` to lock it again
    ");
    assert!(run.stderr.contains(fake), "{run}");
    // A digest edited by hand is caught by the content check.
    let digest_at = lock.find("digest = \"blake3:").unwrap() + "digest = \"blake3:".len();
    let mut tampered = lock.clone();
    tampered.replace_range(digest_at..digest_at + 64, &"0".repeat(64));
    std::fs::write(dir.join("atom.lock"), tampered).unwrap();
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::verify

      × b@1.0.0 does not verify: content digest of
      │ [COMMIT] is
      │ blake3:[DIGEST],
      │ but
      │ blake3:[DIGEST]
      │ was expected
      help: what the remote holds is not what the lock pins; nothing was kept
    ");
}

#[test]
fn offline_fetch_needs_the_cache() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::a")])
        .assert_success();
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&dir, &["fetch", "--offline"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::cache::empty

      × the cache at [SANDBOX]/home/.cache/eka is empty
      help: run `eka fetch` without --offline first
    ");
    // Offline needs no server at all.
    sb.eka(&dir, &["fetch"]).assert_success();
    std::fs::remove_dir_all(server.path("registry")).unwrap();
    sb.eka(&dir, &["fetch", "--offline"]).assert_success();
    // A lock in line with the manifest needs no network either.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&dir, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (2 atoms)
    --- stderr ---
    ");
    sb.eka(&dir, &["lock", "--check"]).assert_success();
    assert!(!sb.home().join(".cache/eka").exists());
}

#[test]
fn concurrent_fetches_share_the_cache() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::a")])
        .assert_success();
    let dir2 = sb.mkdir("app2");
    std::fs::write(dir2.join("atom.toml"), manifest("app2", "0.1.0", "", &[])).unwrap();
    sb.eka(&dir2, &["add", &format!("{url}::c")])
        .assert_success();
    for _ in 0..3 {
        std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
        let spawn = |d: &Path| {
            let mut cmd = sb.eka_command(d);
            cmd.arg("fetch")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        };
        let (p1, p2) = (spawn(&dir), spawn(&dir2));
        for p in [p1, p2] {
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        fsck(&cache_git(&sb));
        sb.eka(&dir, &["fetch", "--offline"]).assert_success();
        sb.eka(&dir2, &["fetch", "--offline"]).assert_success();
    }
}

/// `eka add` is all or nothing: when the lock cannot be written, the
/// manifest is not changed either, and no temporary file is left.
#[test]
fn interrupted_add_changes_nothing() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    let before = read(&dir.join("atom.toml"));
    // atom.lock is a folder: the lock's rename fails.
    std::fs::create_dir(dir.join("atom.lock")).unwrap();
    let run = sb
        .eka(&dir, &["add", &format!("{url}::a")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::project::write

      × cannot write [SANDBOX]/app/atom.lock
      ╰─▶ Is a directory (os error 21)
      help: nothing was changed: both atom.toml and atom.lock are as they were
    ");
    assert_eq!(read(&dir.join("atom.toml")), before);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    std::fs::remove_dir(dir.join("atom.lock")).unwrap();

    // Killed mid-way (the remote never answers): both files as they were.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut cmd = sb.eka_command(&dir);
    cmd.args([
        "add",
        &format!("{url}::b"),
        &format!("git://127.0.0.1:{port}/stuck.git::x"),
    ]);
    let mut child = cmd.spawn().unwrap();
    // eka is connected and waiting for the answer when we kill it.
    let (_conn, _) = listener.accept().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(read(&dir.join("atom.toml")), before);
    assert!(!dir.join("atom.lock").exists());

    // And a good add after that works.
    sb.eka(&dir, &["add", &format!("{url}::a")])
        .assert_success();
}

/// A set with mirrors: an unreachable mirror is a warning; mirrors that
/// disagree are an error naming both; `eka fetch` refuses a mirror whose
/// root is not the locked one.
#[test]
fn mirrors() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let http = sb.server(Transport::Http);
    git(
        http.base(),
        &[
            "clone",
            "--quiet",
            "--mirror",
            server.path("registry").to_str().unwrap(),
            "mirror.git",
        ],
    );
    let mirror = http.url("mirror");
    let dead = support::unreachable_url(Transport::Git, "dead");
    let dir = app(&sb);
    let write = |mirrors: &[&str]| {
        let list: Vec<String> = mirrors.iter().map(|m| format!("\"{m}\"")).collect();
        std::fs::write(
            dir.join("atom.toml"),
            format!(
                "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = [{}]\n\n[deps.from.reg]\na = \"^1\"\n",
                list.join(", ")
            ),
        )
        .unwrap();
    };
    write(&[&dead, &mirror, &url]);
    let run = sb.eka(&dir, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
      locking a 1.0.0
      locking b 1.1.0
    wrote a new atom.lock (2 atoms)
    --- stderr ---
    warning: mirror `git://127.0.0.1:[PORT]/dead.git` is unreachable: cannot connect to 127.0.0.1:[PORT]: Connection refused (os error 111)
    ");
    let lock = read(&dir.join("atom.lock"));
    assert!(
        lock.contains(&format!("    \"{dead}\",\n    \"{mirror}\",\n")),
        "{lock}"
    );
    // fetch goes past the dead mirror.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&dir, &["fetch"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS   COMMIT                                    DIGEST
    a      1.0.0    fetched  [COMMIT]  blake3:[DIGEST]
    b      1.1.0    fetched  [COMMIT]  blake3:[DIGEST]
    2 atoms verified in [SANDBOX]/home/.cache/eka (2 fetched)
    --- stderr ---
    warning: mirror unreachable, used `http://127.0.0.1:[PORT]/mirror.git` instead: git://127.0.0.1:[PORT]/dead.git: cannot connect to 127.0.0.1:[PORT]: Connection refused (os error 111)
    ");

    // The HTTP mirror is tampered with: a 1.0.0 now points at b's commit.
    let bare = http.base().join("mirror.git");
    let other = git(&bare, &["rev-parse", "refs/atoms/b/2.0.0"]);
    git(&bare, &["update-ref", "refs/atoms/a/1.0.0", &other]);
    std::fs::remove_file(dir.join("atom.lock")).unwrap();
    let run = sb.eka(&dir, &["lock"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::registry::mirrors_disagree

      × mirrors of set [git://127.0.0.1:[PORT]/dead.git, http://127.0.0.1:[PORT]/
      │ mirror.git, file://[SANDBOX]/served-file/registry.git] disagree
      │ on the commit of a@1.0.0: `http://127.0.0.1:[PORT]/mirror.git` has
      │ [COMMIT], but `file://[SANDBOX]/
      │ served-file/registry.git` has [COMMIT]
      help: one of these mirrors has been rewritten or tampered with; nothing was
            used from either — remove the wrong one from the set
    ");
    assert!(
        run.stderr.contains(&mirror) && run.stderr.contains(&url),
        "{run}"
    );
    assert!(!dir.join("atom.lock").exists());

    // A mirror holding another repository is refused by fetch.
    let other_url = RegistryBuilder::new(&sb, &server)
        .name("other")
        .source("other")
        .atom("a", "1.0.0")
        .build()
        .url;
    std::fs::write(dir.join("atom.lock"), &lock).unwrap();
    let swapped = lock.replace(
        &format!("    \"{dead}\",\n    \"{mirror}\",\n    \"{url}\",\n"),
        &format!("    \"{other_url}\",\n"),
    );
    assert_ne!(swapped, lock);
    std::fs::write(dir.join("atom.lock"), &swapped).unwrap();
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::root

      × `file://[SANDBOX]/served-file/other.git` is refused: its root is
      │ [COMMIT], but the lock's set root is
      │ [COMMIT]
      help: a mirror must hold the same repository as the one locked; it may have
            been replaced or tampered with
    ");
}

/// Sets that cannot be used are errors pointing into atom.toml.
#[test]
fn bad_sets_point_into_the_manifest() {
    let sb = Sandbox::new();
    let dir = app(&sb);
    support::git(&dir, &["init", "-q"]);
    for (sets, shown) in [
        ("reg = \"gh:owner/repo\"", "\"gh:owner/repo\""),
        ("\"::\" = \"::\"", "x = \"^1\""),
    ] {
        let set = if sets.starts_with("\"::\"") {
            "\"::\""
        } else {
            "reg"
        };
        std::fs::write(
            dir.join("atom.toml"),
            format!(
                "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\n{sets}\n\n[deps.from.{set}]\nx = \"^1\"\n"
            ),
        )
        .unwrap();
        let run = sb.eka(&dir, &["lock"]).assert_failure();
        assert!(run.stderr.contains("atom.toml"), "{run}");
        // miette draws the line with the offending text under a label.
        assert!(
            run.stderr.contains(shown) && run.stderr.contains("here"),
            "{run}"
        );
        if set == "\"::\"" {
            // Not resolved: the repository's other atoms, and there is none
            // here (spec/lock.md, "The set `::`").
            assert!(
                run.stderr
                    .contains("this repository has no atom labelled `x`"),
                "{run}"
            );
        }
        assert!(!dir.join("atom.lock").exists());
    }
}

/// A set whose URL now serves another repository is refused by `eka lock`
/// and `eka update` while the lock holds the old root.
#[test]
fn replaced_repository_is_refused() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = registry(&sb, &server);
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{url}::b@^1")])
        .assert_success();
    let lock = read(&dir.join("atom.lock"));
    // Same URL, another history publishing the same label.
    std::fs::remove_dir_all(server.path("registry")).unwrap();
    let url2 = RegistryBuilder::new(&sb, &server)
        .source("other")
        .atom("b", "1.5.0")
        .dir("x/b")
        .build()
        .url;
    assert_eq!(url, url2);
    let run = sb.eka(&dir, &["update"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::project::root_changed

      × set file://[SANDBOX]/served-file/registry.git is refused: its
      │ root is now [COMMIT], but atom.lock locks
      │ root [COMMIT]
      help: the URL now serves another repository (replaced, or tampered with); if
            that is intended, delete atom.lock and lock again
    ");
    assert_eq!(read(&dir.join("atom.lock")), lock);
    let run = sb.eka(&dir, &["fetch"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::fetch::root

      × `file://[SANDBOX]/served-file/registry.git` is refused: its root
      │ is [COMMIT], but the lock's set root is
      │ [COMMIT]
      help: a mirror must hold the same repository as the one locked; it may have
            been replaced or tampered with
    ");
}

/// Transitive dependencies across two registries: a published manifest's
/// `::` set is the registry it came from, and one label from two
/// registries is two atoms.
#[test]
fn transitive_across_registries() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Git);
    let r1 = registry(&sb, &server);
    let r2 = server.create("second");
    let repo = sb.repo("second-src");
    repo.write(
        "b/atom.toml",
        "[package]\nlabel = \"b\"\nversion = \"9.0.0\"\n",
    )
    .write(
        "top/atom.toml",
        format!(
            "[package]\nlabel = \"top\"\nversion = \"0.3.0\"\n\n[package.sets]\n\"::\" = \"::\"\nfirst = \"{r1}\"\n\n[deps.from.\"::\"]\nb = \"^9\"\n\n[deps.from.first]\na = \"^1\"\n"
        ),
    );
    repo.commit("second registry");
    sb.eka(repo.path(), &["publish", "--all", "--remote", &r2])
        .assert_success();
    let dir = app(&sb);
    sb.eka(&dir, &["add", &format!("{r2}::top")])
        .assert_success();
    let lock = read(&dir.join("atom.lock"));
    // top, b 9.0.0 (second), a 1.0.0 and b 1.1.0 (first).
    assert_eq!(lock.matches("[[atom]]").count(), 4, "{lock}");
    assert!(lock.contains("version = \"9.0.0\""), "{lock}");
    assert!(lock.contains("version = \"1.1.0\""), "{lock}");
    sb.eka(&dir, &["lock", "--check"]).assert_success();
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&dir, &["fetch"]).assert_success();
    // A substring, not a snapshot: the two `b` are listed in the order of
    // their atom ids, which vary with the second registry's root (its
    // first commit names the first registry's URL).
    assert!(run.stdout.contains("4 atoms verified"), "{run}");
}

/// The upload-pack requests of `http` since it was last cleared: `ls-refs`,
/// `fetch`, or `GET` for a connection's capability advertisement.
fn requests(http: &support::HttpGitServer) -> Vec<String> {
    http.requests()
        .iter()
        .map(|r| match r.v2_command() {
            Some(c) => c,
            None => r.method.clone(),
        })
        .collect()
}

/// A cold `eka lock` asks each set twice per level of depth, on one
/// connection: a listing, then one fetch of the manifests together with the
/// atoms the solver will most likely choose, so that digests need no third
/// request. Only when the solver chooses otherwise are those atoms fetched
/// afterwards. Whatever was fetched when, the lock is the same bytes.
#[test]
fn cold_lock_round_trips() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = registry(&sb, &server);
    let http = server.http().expect("an HTTP server");
    let dir = app(&sb);
    std::fs::write(
        dir.join("atom.toml"),
        manifest("app", "0.1.0", &url, &[("a", "^1")]),
    )
    .unwrap();
    // Cold: publishing `a` resolved its dependencies into the cache.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).expect("publish filled the cache");
    http.clear_requests();
    sb.eka(&dir, &["lock"]).assert_success();
    // Two levels (a, then b): per level one connection (its capability
    // advertisement), one listing and one fetch.
    assert_eq!(
        requests(http),
        ["GET", "ls-refs", "fetch", "GET", "ls-refs", "fetch"]
    );
    let lock = read(&dir.join("atom.lock"));
    assert_eq!(locked_version(&lock, "a").as_deref(), Some("1.0.0"));
    assert_eq!(locked_version(&lock, "b").as_deref(), Some("1.1.0"));
    // Only the chosen versions' commits arrived, no others.
    let commits = git(
        &cache_git(&sb),
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ],
    );
    assert_eq!(commits.lines().filter(|l| *l == "commit").count(), 2);
    fsck(&cache_git(&sb));
    // With everything cached: listings only, and the same lock.
    std::fs::remove_file(dir.join("atom.lock")).unwrap();
    http.clear_requests();
    sb.eka(&dir, &["lock"]).assert_success();
    assert_eq!(requests(http), ["GET", "ls-refs", "GET", "ls-refs"]);
    assert_eq!(read(&dir.join("atom.lock")), lock);

    // x 1.1.0 needs y ^2 while the app needs y ^1: the solver backs off to
    // x 1.0.0, whose commit the first fetch did not bring: one more fetch.
    let url2 = RegistryBuilder::new(&sb, &server)
        .name("second")
        .source("second-src")
        .atom("y", "1.0.0")
        .release()
        .atom("y", "2.0.0")
        .release()
        .atom("x", "1.0.0")
        .dep("y", "^1")
        .release()
        .atom("x", "1.1.0")
        .dep("y", "^2")
        .build()
        .url;
    let dir2 = sb.mkdir("app2");
    std::fs::write(
        dir2.join("atom.toml"),
        manifest("app", "0.1.0", &url2, &[("x", "^1"), ("y", "^1")]),
    )
    .unwrap();
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    http.clear_requests();
    sb.eka(&dir2, &["lock"]).assert_success();
    // Level 1 lists x and y and fetches; level 2 (y ^2, from x 1.1.0)
    // lists nothing new and fetches y 2.0.0's manifest; then x 1.0.0.
    assert_eq!(
        requests(http),
        ["GET", "ls-refs", "fetch", "GET", "fetch", "GET", "fetch"]
    );
    let lock2 = read(&dir2.join("atom.lock"));
    assert_eq!(locked_version(&lock2, "x").as_deref(), Some("1.0.0"));
    assert_eq!(locked_version(&lock2, "y").as_deref(), Some("1.0.0"));
    sb.eka(&dir2, &["fetch", "--offline"]).assert_success();
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    std::fs::remove_file(dir2.join("atom.lock")).unwrap();
    sb.eka(&dir2, &["lock"]).assert_success();
    assert_eq!(read(&dir2.join("atom.lock")), lock2);
}

/// A registry that eka 0.3 published (refs under `refs/eka/…` and
/// `refs/ekala/init` only): `greet` 1.0.0 and `words` 1.0.0, which depends on
/// greet through eka 0.3's `local = "::"` set. Returns its URL, its bare
/// repository and the source repository.
fn eka03_registry(sb: &Sandbox, server: &GitServer) -> (String, PathBuf, Repo) {
    let url = server.create("registry");
    let mono = sb.repo("mono");
    mono.write(
        "lib/greet/atom.toml",
        "[package]\nlabel = \"greet\"\nversion = \"1.0.0\"\n",
    )
    .write(
        "lib/greet/mod.nix",
        "{ Hello = name: \"hello ${name}\"; Version = cfg.package.version; }\n",
    )
    .write(
        "lib/words/atom.toml",
        "[package]\nlabel = \"words\"\nversion = \"1.0.0\"\n\n[package.sets]\nlocal = \"::\"\n\n[deps.from.local]\ngreet = \"^1\"\n",
    )
    .write(
        "lib/words/mod.nix",
        "{ Greeting = deps.from.local.greet.hello \"world\"; }\n",
    );
    mono.commit("greet, words");
    sb.eka(mono.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    (url, server.path("registry"), mono)
}

/// Turns what `eka publish` wrote into what eka 0.3 would have: its
/// namespace only, no `refs/atoms/` ref at all.
fn as_eka03_only(bare: &Path) {
    for label in ["greet", "words"] {
        support::to_eka03(bare, label);
    }
    git(bare, &["update-ref", "-d", "refs/atoms/_root"]);
    assert_eq!(git(bare, &["for-each-ref", "refs/atoms/"]), "");
}

/// `eka add`, `lock`, `fetch`, `eval` and `update` on atoms eka 0.3
/// published: they resolve, lock, fetch, verify and evaluate exactly as
/// atoms in `refs/atoms/` do (the lock is the same bytes), and a version
/// whose two namespaces disagree is refused.
fn eka03_workflow(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let (url, bare, mono) = eka03_registry(&sb, &server);
    // One snapshot for every transport.
    sb.filter(&url, "[URL]");
    let consumer = sb.repo("consumer");
    let app_in = |name: &str| {
        let dir = consumer.path().join(name);
        consumer
            .write(
                &format!("{name}/atom.toml"),
                "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
            )
            .write(
                &format!("{name}/mod.nix"),
                "{ Out = deps.from.registry.words.greeting; V = deps.from.registry.greet.version; }\n",
            );
        dir
    };

    // The reference: locked while the atoms are in our namespace.
    let ours = app_in("ours");
    sb.eka(
        &ours,
        &["add", &format!("{url}::words@^1"), &format!("{url}::greet")],
    )
    .assert_success();
    let reference = read(&ours.join("atom.lock"));

    // Now only eka 0.3's refs are left; an empty cache.
    let root = git(&bare, &["rev-parse", "refs/atoms/_root"]);
    as_eka03_only(&bare);
    assert_eq!(git(&bare, &["rev-parse", "refs/ekala/init"]), root);
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    if let Some(http) = server.http() {
        http.clear_requests();
    }
    if let Some(ssh) = server.ssh() {
        ssh.clear_packet_trace();
    }
    let app = app_in("app");
    let run = sb
        .eka(
            &app,
            &["add", &format!("{url}::words@^1"), &format!("{url}::greet")],
        )
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding greet ^1.0.0 to [deps.from.registry]
       adding words ^1 to [deps.from.registry]
      locking greet 1.0.0
      locking words 1.0.0
    wrote atom.toml and atom.lock (2 atoms)
    --- stderr ---
    ");
    // The same lock: the same root (refs/ekala/init), ids, commits, origins
    // and content digests.
    let lock = read(&app.join("atom.lock"));
    assert_eq!(lock, reference);
    assert!(lock.contains(&format!("root = \"{root}\"")), "{lock}");
    let id = atom_format::AtomId::compute(
        &gix::ObjectId::from_hex(root.as_bytes()).unwrap(),
        &atom_format::Label::parse("greet").unwrap(),
    );
    assert!(lock.contains(&format!("id = \"{id}\"")), "{lock}");
    // Precise listings: each label in both namespaces, never a namespace.
    let mut prefixes: Vec<String> = Vec::new();
    if let Some(http) = server.http() {
        prefixes.extend(http.requests().iter().flat_map(|r| r.ref_prefixes()));
    }
    if let Some(ssh) = server.ssh() {
        let trace = ssh.packet_trace();
        prefixes.extend(
            support::sent_prefixes(&trace)
                .into_iter()
                .map(str::to_owned),
        );
    }
    if matches!(kind, Transport::Http | Transport::Ssh) {
        assert!(!prefixes.is_empty(), "no ls-refs seen");
        for want in [
            "refs/eka/atoms/words/",
            "refs/eka/meta/words/",
            "refs/eka/atoms/greet/",
            "refs/ekala/init",
            "refs/atoms/words/",
        ] {
            assert!(prefixes.iter().any(|p| p == want), "{want}: {prefixes:?}");
        }
        for whole in [
            "refs/atoms/",
            "refs/eka/",
            "refs/eka/atoms/",
            "refs/eka/meta/",
        ] {
            assert!(
                !prefixes.iter().any(|p| p == whole),
                "{whole}: {prefixes:?}"
            );
        }
    }
    sb.eka(&app, &["lock", "--check"]).assert_success();
    sb.eka(&app, &["lock"]).assert_success();
    assert_eq!(read(&app.join("atom.lock")), lock);

    // fetch: listed in eka 0.3's namespace, fetched, checked.
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb.eka(&app, &["fetch"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS   COMMIT                                    DIGEST
    greet  1.0.0    fetched  c9c029d937667d4bd292ba1e5b1748e1fb898178  blake3:5bd41d7930e0dca96efac1bf598cdd82359a94bc7161cb035753fc44d1e327fc
    words  1.0.0    fetched  a584cfeecacd5d00e0f9d52901bad9659ffc15ed  blake3:6d5f8d66f23a7c2492923bb814ee5710c33c6d0773d6c985e12e78bc38a53a93
    2 atoms verified in [SANDBOX]/home/.cache/eka (2 fetched)
    --- stderr ---
    ");
    fsck(&cache_git(&sb));

    // eval: the locked atoms (fetched by eval itself) as dependencies.
    consumer.commit("app");
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = sb
        .eka(consumer.path(), &["eval", "app#out", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"hello world\"");

    // update: greet 1.1.0, published by "eka 0.3" too.
    mono.write(
        "lib/greet/atom.toml",
        "[package]\nlabel = \"greet\"\nversion = \"1.1.0\"\n",
    );
    mono.commit("greet 1.1.0");
    sb.eka(mono.path(), &["publish", "lib/greet", "--remote", &url])
        .assert_success();
    as_eka03_only(&bare);
    let run = sb.eka(&app, &["update", "greet"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     updating greet 1.0.0 -> 1.1.0
    wrote atom.lock (2 atoms)
    --- stderr ---
    ");
    sb.eka(&app, &["lock", "--check"]).assert_success();
    sb.eka(&app, &["fetch"]).assert_success();
    let run = sb
        .eka(consumer.path(), &["eval", "app#v", "--worktree"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"1.1.0\"");
    let updated = read(&app.join("atom.lock"));

    // The same version in both namespaces: the same commit is fine; two
    // commits are refused by fetch and by resolution, and nothing changes.
    let greet11 = git(&bare, &["rev-parse", "refs/eka/atoms/greet/1.1.0"]);
    let greet10 = git(&bare, &["rev-parse", "refs/eka/atoms/greet/1.0.0"]);
    git(&bare, &["update-ref", "refs/atoms/greet/1.1.0", &greet11]);
    sb.eka(&app, &["fetch"]).assert_success();
    git(&bare, &["update-ref", "refs/atoms/greet/1.1.0", &greet10]);
    // Substrings, not snapshots: miette wraps these messages at 80 columns
    // inside the server's URL, whose length differs by transport (and whose
    // sandbox path is random), so no filter can stand for it.
    let run = sb.eka(&app, &["fetch"]).assert_failure();
    assert!(run.stderr.contains("published twice"), "{run}");
    assert!(
        run.stderr.contains(&greet10) && run.stderr.contains(&greet11),
        "{run}"
    );
    assert!(run.stderr.contains("help:"), "{run}");
    let run = sb.eka(&app, &["update"]).assert_failure();
    assert!(run.stderr.contains("namespace_conflict"), "{run}");
    assert!(run.stderr.contains("greet@1.1.0 twice"), "{run}");
    assert_eq!(read(&app.join("atom.lock")), updated);
}

#[test]
fn eka03_workflow_file() {
    eka03_workflow(Transport::File);
}

#[test]
fn eka03_workflow_git_daemon() {
    eka03_workflow(Transport::Git);
}

#[test]
fn eka03_workflow_http() {
    eka03_workflow(Transport::Http);
}

#[test]
fn eka03_workflow_ssh() {
    eka03_workflow(Transport::Ssh);
}
