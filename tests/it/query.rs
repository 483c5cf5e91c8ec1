//! End-to-end tests of the zero-object queries: `eka versions`, `eka list`,
//! `eka show`, over `file://`, `git://`, smart HTTP and ssh, with mirrors, eka
//! 0.3's ref namespace, and every bad input the issue names. The library
//! side (`atom_lock::registry`) is exercised directly where the command line
//! has no switch for it (an expected root, batched manifest fetches, a
//! mirror that never answers).

use std::time::{Duration, Instant};

use crate::support::{
    self, assert_cli_snapshot, git, git_stdin, ls_remote, pseudo_random_bytes, Registry,
    RegistryBuilder, Sandbox, Transport,
};
use atom_format::Label;
use atom_lock::registry::{
    self as remote, ManifestStore, QueryOptions, QueryWarning, RegistryError as QueryError,
};
use atom_lock::RepoUrl;
use serde_json::Value;

/// A published registry `name` on `server`: atom `a` at 0.1.0, 0.2.0 and
/// 1.0.0 (the last with a 200 kB file), `b` at 2.0.0 nested deeper, from
/// the source repository `mono-<name>`.
fn registry(sb: &Sandbox, server: &support::GitServer, name: &str) -> Registry {
    RegistryBuilder::new(sb, server)
        .name(name)
        .source(&format!("mono-{name}"))
        .atom("a", "0.1.0")
        .file("lib.txt", "one\n")
        .atom("b", "2.0.0")
        .dir("pkgs/deep/b")
        .release()
        .atom("a", "0.2.0")
        .file("lib.txt", "two\n")
        .release()
        .atom("a", "1.0.0")
        .file("big.bin", pseudo_random_bytes(7, 200_000))
        .build()
}

fn json(run: &support::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{run}"))
}

fn remote_ref(url: &str, name: &str) -> String {
    ls_remote(url, &[name])
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name} not on {url}"))
        .1
}

/// Adds `n` refs that no query should ever transfer: branches and tags.
fn add_unrelated_refs(bare: &std::path::Path, n: usize) {
    let head = git(bare, &["rev-parse", "refs/atoms/_root"]);
    let mut input = String::new();
    for i in 0..n {
        let kind = if i % 2 == 0 { "heads/topic" } else { "tags/v" };
        input.push_str(&format!("create refs/{kind}{i} {head}\n"));
    }
    git_stdin(bare, &["update-ref", "--stdin"], input.as_bytes());
    git(bare, &["pack-refs", "--all"]);
}

fn versions_list_show(kind: Transport) {
    // Over ssh, eka finds its client where a user's git would: in
    // core.sshCommand of ~/.gitconfig (the other ssh tests give it
    // GIT_SSH_COMMAND).
    let sb = match kind {
        Transport::Ssh => Sandbox::new().ssh_from_git_config(),
        _ => Sandbox::new(),
    };
    let server = sb.server(kind);
    let reg = registry(&sb, &server, "registry");
    add_unrelated_refs(&server.path("registry"), 2000);
    let url = &reg.url;
    // One snapshot for every transport.
    sb.filter(url, "[URL]");
    let here = sb.path();

    // eka versions: newest first, commits as on the remote.
    let run = sb
        .eka(here, &["versions", &format!("{url}::a")])
        .assert_success();
    // No requirement, no mark.
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on [URL] (atom id k46u018afsv6l5pkbhga8hroh8ef02egpp2iikd8ae55oc0g8o60)
      VERSION  COMMIT
      1.0.0    457d0ff99bedc93052dd30cee7297bb47f050cce
      0.2.0    183464af20f9c5c357eb03d2907b573cefa080a3
      0.1.0    710240f7791e13cc785e338cf0fed2c8ae14d938
    --- stderr ---
    ");
    let c020 = remote_ref(url, "refs/atoms/a/0.2.0");
    assert!(run.stdout.contains(&c020), "the remote's commit: {run}");

    // With a requirement: the highest match is marked.
    let run = sb
        .eka(here, &["versions", &format!("{url}::a@<1")])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on [URL] (atom id k46u018afsv6l5pkbhga8hroh8ef02egpp2iikd8ae55oc0g8o60)
       VERSION  COMMIT
       1.0.0    457d0ff99bedc93052dd30cee7297bb47f050cce
    *  0.2.0    183464af20f9c5c357eb03d2907b573cefa080a3
       0.1.0    710240f7791e13cc785e338cf0fed2c8ae14d938
    * highest matching <1: 0.2.0
    --- stderr ---
    ");

    let v = json(
        &sb.eka(here, &["--json", "versions", &format!("{url}::a@^0.1")])
            .assert_success(),
    );
    assert_eq!(v["selected"], "0.1.0");
    assert_eq!(v["requirement"], "^0.1");
    let listed: Vec<&str> = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["1.0.0", "0.2.0", "0.1.0"]);
    let root = remote_ref(url, "refs/atoms/_root");
    assert_eq!(v["root"], root.as_str());
    assert_eq!(v["versions"][1]["commit"], c020.as_str());
    assert_eq!(v["versions"][1]["namespace"], "atoms");

    // eka list: every atom and its versions; ids from the root.
    let v = json(
        &sb.eka(here, &["--json", "list", url.as_str()])
            .assert_success(),
    );
    let atoms = v["atoms"].as_array().unwrap();
    let labels: Vec<&str> = atoms.iter().map(|a| a["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["a", "b"]);
    assert_eq!(atoms[0]["versions"].as_array().unwrap().len(), 3);
    assert_eq!(atoms[1]["versions"][0]["version"], "2.0.0");
    let b_id = atom_format::AtomId::compute(
        &gix::ObjectId::from_hex(root.as_bytes()).unwrap(),
        &Label::parse("b").unwrap(),
    );
    assert_eq!(atoms[1]["id"], b_id.to_string().as_str());
    assert_eq!(
        atoms[1]["versions"][0]["manifest"],
        remote_ref(url, "refs/atoms/_manifest/b/2.0.0").as_str()
    );
    let run = sb.eka(here, &["list", url.as_str()]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSIONS
    a      1.0.0, 0.2.0, 0.1.0
    b      2.0.0
    2 atoms, 4 versions on [URL]
    --- stderr ---
    ");

    // eka show: the manifest blob's text, id, commit, origin.
    let v = json(
        &sb.eka(here, &["--json", "show", &format!("{url}::a@~0.2")])
            .assert_success(),
    );
    assert_eq!(v["version"], "0.2.0");
    assert_eq!(v["commit"], c020.as_str());
    assert_eq!(
        v["origin"],
        remote_ref(url, "refs/atoms/_origin/a/0.2.0").as_str()
    );
    assert_eq!(
        v["manifest_text"],
        support::atom_toml("a", "0.2.0").as_str()
    );
    assert_eq!(v["manifest"]["package"]["version"], "0.2.0");
    assert_eq!(
        v["origin"],
        reg.origin("a", "0.2.0"),
        "0.2.0 was published from the second commit"
    );
    let run = sb
        .eka(here, &["show", &format!("{url}::a")])
        .assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    label       a
    version     1.0.0
    atom id     k46u018afsv6l5pkbhga8hroh8ef02egpp2iikd8ae55oc0g8o60
    commit      457d0ff99bedc93052dd30cee7297bb47f050cce
    origin      7bfc99bf78d1ca6af83e981418b5b0bb7999a6e0
    root        281c6fd8a1276b328f4a01c32b6ccbd0bfb8c02d
    manifest    811abbbb15cfe2f014689a229fc31eb1f64e8963 (refs/atoms/_manifest/a/1.0.0)
    repository  [URL]

    [package]
    label = "a"
    version = "1.0.0"
    --- stderr ---
    "#);

    // Over HTTP: what went over the wire.
    if let Some(http) = server.http() {
        http.clear_requests();
        sb.eka(here, &["versions", &format!("{url}::a@^1")])
            .assert_success();
        let requests = http.requests();
        assert!(!http.any_fetch(), "{requests:#?}");
        assert_eq!(requests.len(), 2, "{requests:#?}"); // info/refs + ls-refs
        assert!(
            http.total_response_bytes() < 2048,
            "{} bytes",
            http.total_response_bytes()
        );
        let body = String::from_utf8_lossy(&requests[1].request_body_start).into_owned();
        assert!(body.contains("ref-prefix refs/atoms/a/\n"), "{body}");
        assert!(body.contains("ref-prefix refs/atoms/_root\n"), "{body}");
        assert!(body.contains("ref-prefix refs/eka/atoms/a/\n"), "{body}");
        assert!(!body.contains("ref-prefix refs/atoms/\n"), "{body}");
        assert!(
            !body.contains("refs/tags") && !body.contains("refs/heads"),
            "{body}"
        );

        http.clear_requests();
        sb.eka(here, &["list", url.as_str()]).assert_success();
        assert!(!http.any_fetch(), "{:#?}", http.requests());
        let body = String::from_utf8_lossy(&http.requests()[1].request_body_start).into_owned();
        assert!(body.contains("ref-prefix refs/atoms/\n"), "{body}");
        assert!(
            !body.contains("refs/tags") && !body.contains("refs/heads"),
            "{body}"
        );

        // show fetches one blob: a few hundred bytes, not the 200 kB atom.
        http.clear_requests();
        sb.eka(here, &["show", &format!("{url}::a@1")])
            .assert_success();
        let fetches: Vec<_> = http
            .requests()
            .into_iter()
            .filter(|r| r.is_fetch())
            .collect();
        assert_eq!(fetches.len(), 1, "{fetches:#?}");
        assert!(
            fetches[0].response_body_bytes < 1024,
            "{} bytes",
            fetches[0].response_body_bytes
        );
        assert!(http.total_response_bytes() < 4096);
    }

    // Over ssh: what the server's git-upload-pack saw.
    if let Some(ssh) = server.ssh() {
        ssh.clear_packet_trace();
        sb.eka(here, &["versions", &format!("{url}::a@^1")])
            .assert_success();
        let trace = ssh.packet_trace();
        assert!(trace.contains("upload-pack> version 2"), "{trace}");
        assert!(trace.contains("upload-pack< command=ls-refs"), "{trace}");
        assert!(!trace.contains("command=fetch"), "{trace}");
        let prefixes = support::sent_prefixes(&trace);
        for p in ["refs/atoms/a/", "refs/atoms/_root", "refs/eka/atoms/a/"] {
            assert!(prefixes.contains(&p), "{p} not in {prefixes:?}");
        }
        assert!(!prefixes.contains(&"refs/atoms/"), "{prefixes:?}");
        // The server sent only matching refs: none of the 2000 others.
        assert!(
            !trace.contains("refs/heads/") && !trace.contains("refs/tags/"),
            "{trace}"
        );

        ssh.clear_packet_trace();
        sb.eka(here, &["list", url.as_str()]).assert_success();
        let trace = ssh.packet_trace();
        assert!(!trace.contains("command=fetch"), "{trace}");
        assert!(
            support::sent_prefixes(&trace).contains(&"refs/atoms/"),
            "{trace}"
        );
        assert!(
            !trace.contains("refs/heads/") && !trace.contains("refs/tags/"),
            "{trace}"
        );

        // show fetches one blob.
        ssh.clear_packet_trace();
        sb.eka(here, &["show", &format!("{url}::a@1")])
            .assert_success();
        let trace = ssh.packet_trace();
        assert_eq!(
            trace.matches("upload-pack< command=fetch").count(),
            1,
            "{trace}"
        );
        let wants = trace.matches("upload-pack< want ").count();
        assert_eq!(wants, 1, "{trace}");
    }
}

#[test]
fn versions_list_show_file() {
    versions_list_show(Transport::File);
}

#[test]
fn versions_list_show_git() {
    versions_list_show(Transport::Git);
}

#[test]
fn versions_list_show_http() {
    versions_list_show(Transport::Http);
}

#[test]
fn versions_list_show_ssh() {
    versions_list_show(Transport::Ssh);
}

fn eka03_namespace(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let reg = registry(&sb, &server, "old");
    let bare = server.path("old");
    let root = git(&bare, &["rev-parse", "refs/atoms/_root"]);
    let commit = git(&bare, &["rev-parse", "refs/atoms/a/0.2.0"]);
    support::to_eka03(&bare, "a");
    // Only eka 0.3's refs are left for `a`; b stays in our namespace.
    assert!(ls_remote(&reg.url, &["refs/atoms/a/*"]).is_empty());
    // A malformed ref in eka 0.3's namespace is ignored with a warning.
    git(
        &bare,
        &["update-ref", "refs/eka/atoms/a/not-a-version", &commit],
    );
    let here = sb.path();

    let run = sb
        .eka(
            here,
            &["--json", "versions", &format!("{}::a@^0.2", reg.url)],
        )
        .assert_success();
    let v = json(&run);
    assert_eq!(v["selected"], "0.2.0");
    assert_eq!(v["versions"][1]["commit"], commit.as_str());
    assert_eq!(v["versions"][1]["namespace"], "eka03");
    assert_eq!(v["root"], root.as_str());
    assert!(
        run.stderr
            .contains("ignoring `refs/eka/atoms/a/not-a-version`"),
        "{run}"
    );
    assert_eq!(v["warnings"][0]["kind"], "ignored-ref");

    // With no refs/atoms/_root at all, refs/ekala/init gives the root.
    git(&bare, &["update-ref", "-d", "refs/atoms/_root"]);
    let v = json(&sb.eka(here, &["--json", "list", &reg.url]).assert_success());
    assert_eq!(v["root"], root.as_str());
    assert_eq!(v["atoms"][0]["label"], "a");
    assert_eq!(v["atoms"][0]["versions"][0]["namespace"], "eka03");
    assert_eq!(v["atoms"][1]["versions"][0]["namespace"], "atoms");
    let a_id = atom_format::AtomId::compute(
        &gix::ObjectId::from_hex(root.as_bytes()).unwrap(),
        &Label::parse("a").unwrap(),
    );
    assert_eq!(v["atoms"][0]["id"], a_id.to_string().as_str());

    let v = json(
        &sb.eka(here, &["--json", "show", &format!("{}::a@=0.1.0", reg.url)])
            .assert_success(),
    );
    assert_eq!(v["manifest_ref"], "refs/eka/meta/a/0.1.0/manifest");
    assert_eq!(
        v["manifest_text"],
        support::atom_toml("a", "0.1.0").as_str()
    );
    assert_eq!(v["origin"], reg.origin("a", "0.1.0"));
    assert_eq!(v["id"], a_id.to_string().as_str());
}

#[test]
fn eka03_namespace_file() {
    eka03_namespace(Transport::File);
}

#[test]
fn eka03_namespace_http() {
    eka03_namespace(Transport::Http);
}

#[test]
fn eka03_namespace_ssh() {
    eka03_namespace(Transport::Ssh);
}

/// Every bad input gets a clear error and a failing exit code.
#[test]
fn bad_input() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = registry(&sb, &server, "registry");
    let empty = server.create("empty");
    let here = sb.path();
    let fails = |args: &[&str]| sb.eka(here, args).assert_failure();

    // Malformed URI: miette points at the bad part.
    let run = fails(&["versions", &format!("{}::9bad@^1", reg.url)]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::uri

      × invalid label: invalid start '9'
       ╭────
     1 │ file://[SANDBOX]/served-file/registry.git::9bad@^1
       ·                                                      ──┬─
       ·                                                        ╰── not a valid label
       ╰────
      help: a label starts with a letter or `_` and continues with letters,
            digits, `_` or `-`; to name an atom in a repository write
            `<repository>::<label>`
    ");
    let run = fails(&["show", &format!("{}::a@>=1,<", reg.url)]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::uri

      × invalid version requirement: unexpected end of input while parsing major
      │ version number
       ╭────
     1 │ file://[SANDBOX]/served-file/registry.git::a@>=1,<
       ·                                                        ──┬──
       ·                                                          ╰── not a valid requirement
       ╰────
      help: a requirement is a semver requirement such as `^1.2`, `~0.3`, `=1.0.0`
            or `>=1, <2`; leave out `@…` for any version
    ");
    // The underline starts under the requirement (checked on the output
    // itself: the snapshot's filtered path shifts the columns).
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines.iter().position(|l| l.contains("::a@>=1,<")).unwrap();
    let col = |l: &str, pat: &str| l.find(pat).map(|b| l[..b].chars().count());
    assert_eq!(
        col(lines[at], ">=1,<"),
        col(lines[at + 1], "──┬──"),
        "the span is underlined:\n{run}"
    );
    assert!(lines[at + 2].contains("not a valid requirement"), "{run}");
    let run = fails(&["versions", "a@^1"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::query::no_repository

      × `a@^1` names no repository to ask
      help: write `<repository>::<label>`, e.g. `gh:owner/repo::a` or `./
            registry.git::a`
    ");

    // Unknown alias, and an alias cycle in the user's configuration.
    let run = fails(&["versions", "gx:o/r::a"]);
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::uri

      × unknown alias `gx`
       ╭────
     1 │ gx:o/r::a
       · ─┬
       ·  ╰── not a defined alias
       ╰────
      help: known aliases: bb, cb, gh, gl, sr; define one under [aliases] in
            ~/.config/eka/config.toml or .eka/config.toml, or write a URL (an ssh
            host without a dot needs `ssh://host/path`)
    ");
    let config = sb.home().join(".config/eka");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.toml"),
        "[aliases]\nping = \"pong:x\"\npong = \"ping:y\"\n",
    )
    .unwrap();
    let run = fails(&["list", "ping:repo"]);
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::uri

      × alias cycle ping -> pong -> ping
       ╭────
     1 │ ping:repo
       · ──┬─
       ·   ╰── this alias expands to itself
       ╰────
      help: break the cycle in the alias definitions: ping = "pong:x" (user
            config [SANDBOX]/home/.config/eka/config.toml); pong =
            "ping:y" (user config [SANDBOX]/home/.config/eka/
            config.toml)
    "#);
    let run = fails(&["--json", "versions", "ping:repo::a"]);
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    {"causes":[],"code":"eka::uri","error":"alias cycle ping -> pong -> ping","help":"break the cycle in the alias definitions: ping = \"pong:x\" (user config [SANDBOX]/home/.config/eka/config.toml); pong = \"ping:y\" (user config [SANDBOX]/home/.config/eka/config.toml)","schema":1}
    --- stderr ---
    eka::uri

      × alias cycle ping -> pong -> ping
       ╭────
     1 │ ping:repo::a
       · ──┬─
       ·   ╰── this alias expands to itself
       ╰────
      help: break the cycle in the alias definitions: ping = "pong:x" (user
            config [SANDBOX]/home/.config/eka/config.toml); pong =
            "ping:y" (user config [SANDBOX]/home/.config/eka/
            config.toml)
    "#);

    // The JSON error of a failing command: code, message, help. (Messages
    // naming long URLs wrap in the miette rendering on stderr.)
    let error = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let run = fails(&all);
        let v = json(&run);
        let code = v["code"].as_str().unwrap_or_default().to_owned();
        assert!(run.stderr.contains(&code), "miette renders it too:\n{run}");
        let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        (code, text("error"), text("help"))
    };

    // A remote without atoms.
    for args in [
        vec!["versions".to_owned(), format!("{empty}::a")],
        vec!["list".to_owned(), empty.clone()],
        vec!["show".to_owned(), format!("{empty}::a")],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, msg, help) = error(&args);
        assert_eq!(code, "eka::registry::no_atoms");
        assert_eq!(msg, format!("`{empty}` publishes no atoms"));
        assert!(help.contains("refs/atoms/"), "{help}");
    }
    let (code, msg, help) = error(&["versions", &format!("{}::zzz", reg.url)]);
    assert_eq!(code, "eka::registry::unknown_atom");
    assert_eq!(msg, format!("`{}` publishes no atom `zzz`", reg.url));
    assert!(help.contains("eka list"), "{help}");

    // No version matching: the message lists those there are.
    for cmd in ["versions", "show"] {
        let run = fails(&[cmd, &format!("{}::a@^5", reg.url)]);
        assert!(
            run.stderr
                .contains("no version of `a` matches `^5`; available: 1.0.0, 0.2.0, 0.1.0"),
            "{run}"
        );
        let (code, ..) = error(&[cmd, &format!("{}::a@^5", reg.url)]);
        assert_eq!(code, "eka::registry::no_match");
    }

    // Unreachable remotes, on every transport.
    for kind in Transport::ALL {
        let url = support::unreachable_url(kind, "gone");
        let run = fails(&["versions", &format!("{url}::a")]);
        // A substring, not a snapshot: the cause quoted is the transport's own.
        assert!(run.stderr.contains("cannot reach"), "{run}");
        for args in [
            vec!["list", url.as_str()],
            vec!["show", &format!("{url}::a")],
        ] {
            let (code, msg, _) = error(&args);
            assert_eq!(code, "eka::registry::unreachable", "{kind:?}");
            assert!(msg.starts_with(&format!("cannot reach `{url}` (")), "{msg}");
        }
    }
}

/// Copies every atom ref of `from` to a new bare repository `name` on
/// `server` (a mirror); returns its URL.
fn mirror(server: &support::GitServer, from: &std::path::Path, name: &str) -> String {
    let url = server.create(name);
    git(
        from,
        &[
            "push",
            "--quiet",
            &support::file_url(&server.path(name)),
            "refs/atoms/*:refs/atoms/*",
        ],
    );
    url
}

#[test]
fn mirrors() {
    let sb = Sandbox::new();
    let file = sb.server(Transport::File);
    let http = sb.server(Transport::Http);
    let reg = registry(&sb, &file, "main");
    let main = file.path("main");
    let copy = mirror(&http, &main, "copy");
    let here = sb.path();
    let uri = format!("{}::a", reg.url);

    // Both answer: one listing, each version listed by both.
    let v = json(
        &sb.eka(here, &["--json", "versions", &uri, "--mirror", &copy])
            .assert_success(),
    );
    assert_eq!(v["repositories"].as_array().unwrap().len(), 2);
    assert_eq!(v["versions"][0]["mirrors"].as_array().unwrap().len(), 2);

    // A mirror that lags behind: versions it lacks still come from the other.
    let lagging = mirror(&file, &main, "lagging");
    git(
        &file.path("lagging"),
        &["update-ref", "-d", "refs/atoms/a/1.0.0"],
    );
    let v = json(
        &sb.eka(here, &["--json", "versions", &uri, "--mirror", &lagging])
            .assert_success(),
    );
    assert_eq!(v["versions"][0]["version"], "1.0.0");
    assert_eq!(v["versions"][0]["mirrors"].as_array().unwrap().len(), 1);
    assert_eq!(v["versions"][1]["mirrors"].as_array().unwrap().len(), 2);

    // An unreachable mirror is a warning while one answers…
    let gone = support::unreachable_url(Transport::Http, "gone");
    let run = sb
        .eka(here, &["versions", &uri, "--mirror", &gone])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on file://[SANDBOX]/served-file/main.git (atom id k46u018afsv6l5pkbhga8hroh8ef02egpp2iikd8ae55oc0g8o60)
      VERSION  COMMIT
      1.0.0    457d0ff99bedc93052dd30cee7297bb47f050cce
      0.2.0    183464af20f9c5c357eb03d2907b573cefa080a3
      0.1.0    710240f7791e13cc785e338cf0fed2c8ae14d938
    --- stderr ---
    warning: mirror `http://127.0.0.1:[PORT]/gone.git` is unreachable: cannot connect: Connection refused (os error 111)
    ");
    assert!(run.stderr.contains(&gone), "{run}");
    sb.eka(here, &["show", &uri, "--mirror", &gone])
        .assert_success();
    // …and an error when none does.
    let gone2 = support::unreachable_url(Transport::Git, "gone");
    let run = sb
        .eka(
            here,
            &["versions", &format!("{gone}::a"), "--mirror", &gone2],
        )
        .assert_failure();
    assert!(
        run.stderr.contains(&gone) && run.stderr.contains(&gone2),
        "{run}"
    );

    // Two mirrors disagreeing on a version's commit: an error naming both.
    let forged = mirror(&http, &main, "forged");
    let other = git(&main, &["rev-parse", "refs/atoms/a/0.1.0"]);
    git(
        &http.path("forged"),
        &["update-ref", "refs/atoms/a/0.2.0", &other],
    );
    for cmd in ["versions", "list"] {
        let target = if cmd == "list" {
            reg.url.clone()
        } else {
            uri.clone()
        };
        let run = sb
            .eka(here, &["--json", cmd, &target, "--mirror", &forged])
            .assert_failure();
        let v = json(&run);
        assert_eq!(v["code"], "eka::registry::mirrors_disagree", "{run}");
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("the commit of a@0.2.0"), "{msg}");
        assert!(msg.contains(&reg.url) && msg.contains(&forged), "{msg}");
        assert!(msg.contains(&other), "{msg}");
    }

    // …or on the root.
    let rerooted = mirror(&file, &main, "rerooted");
    let first = reg.origin("a", "0.1.0").to_owned();
    let not_root = reg.origin("a", "1.0.0").to_owned();
    assert_eq!(git(&main, &["rev-parse", "refs/atoms/_root"]), first);
    git(
        &file.path("rerooted"),
        &[
            "fetch",
            "--quiet",
            &support::file_url(reg.source.path()),
            "main",
        ],
    );
    git(
        &file.path("rerooted"),
        &["update-ref", "refs/atoms/_root", &not_root],
    );
    let run = sb
        .eka(here, &["--json", "versions", &uri, "--mirror", &rerooted])
        .assert_failure();
    let msg = json(&run)["error"].as_str().unwrap().to_owned();
    assert!(msg.contains("repository root"), "{msg}");
    assert!(msg.contains(&first) && msg.contains(&not_root), "{msg}");
    assert!(msg.contains(&rerooted), "{msg}");

    // A mirror whose root is not the one expected (locked) is refused.
    let label = Label::parse("a").unwrap();
    let url: RepoUrl = reg.url.parse().unwrap();
    let copy_url: RepoUrl = copy.parse().unwrap();
    let expected = gix::ObjectId::from_hex(first.as_bytes()).unwrap();
    let wrong = gix::ObjectId::from_hex(not_root.as_bytes()).unwrap();
    let ok = remote::list_atom_versions(
        &atom_git::Connections::default(),
        &[url.clone(), copy_url.clone()],
        &label,
        &QueryOptions {
            expected_root: Some(expected),
            ..QueryOptions::default()
        },
    )
    .unwrap();
    assert_eq!(ok.root, Some(expected));
    let err = remote::list_atom_versions(
        &atom_git::Connections::default(),
        &[url.clone(), copy_url],
        &label,
        &QueryOptions {
            expected_root: Some(wrong),
            ..QueryOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&err, QueryError::UnexpectedRoot { url: u, found: Some(f), .. }
            if *u == reg.url && *f == expected),
        "{err:?}"
    );
    assert!(err.to_string().contains("refusing mirror"), "{err}");
}

/// A mirror that accepts the connection and never answers does not hold a
/// query beyond its timeout.
#[test]
fn silent_mirror_times_out() {
    let sb = Sandbox::new();
    let file = sb.server(Transport::File);
    let reg = registry(&sb, &file, "main");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent: RepoUrl = format!(
        "http://127.0.0.1:{}/x.git",
        listener.local_addr().unwrap().port()
    )
    .parse()
    .unwrap();
    let start = Instant::now();
    let listing = remote::list_atom_versions(
        &atom_git::Connections::default(),
        &[silent.clone(), reg.url.parse().unwrap()],
        &Label::parse("a").unwrap(),
        &QueryOptions {
            timeout: Some(Duration::from_secs(2)),
            ..QueryOptions::default()
        },
    )
    .unwrap();
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(listing.answered.len(), 1);
    assert!(
        listing.warnings.iter().any(|w| matches!(w,
            QueryWarning::Unreachable { url, why } if *url == silent.to_string() && why.contains("no answer"))),
        "{:?}",
        listing.warnings
    );
    drop(listener);
}

/// Manifests for a resolver: one fetch per remote for many blobs, nothing
/// but those blobs, and none at all for blobs already in a cache.
#[test]
fn batched_manifest_fetch() {
    let sb = Sandbox::new();
    let http = sb.server(Transport::Http);
    let reg = registry(&sb, &http, "registry");
    let server = http.http().unwrap();
    let url: RepoUrl = reg.url.parse().unwrap();
    let listing = remote::list_repo(
        &atom_git::Connections::default(),
        std::slice::from_ref(&url),
        &QueryOptions::default(),
    )
    .unwrap();
    let wants: Vec<_> = listing
        .atoms
        .iter()
        .flat_map(|(l, vs)| vs.iter().map(move |v| v.manifest_want(l)))
        .collect();
    assert_eq!(wants.len(), 4);

    // Several atoms in one listing: one ls-refs.
    server.clear_requests();
    let both = remote::list_atoms(
        &atom_git::Connections::default(),
        std::slice::from_ref(&url),
        &[Label::parse("a").unwrap(), Label::parse("b").unwrap()],
        &QueryOptions {
            metadata: true,
            ..QueryOptions::default()
        },
    )
    .unwrap();
    assert_eq!(server.requests().len(), 2, "{:#?}", server.requests());
    assert_eq!(both.atoms, listing.atoms);
    let err = remote::list_atoms(
        &atom_git::Connections::default(),
        std::slice::from_ref(&url),
        &[Label::parse("a").unwrap(), Label::parse("nope").unwrap()],
        &QueryOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, QueryError::UnknownAtom { label, .. } if label.as_str() == "nope"),
        "{err:?}"
    );

    let cache = sb.path().join("cache.git");
    let store = ManifestStore::open(&cache).unwrap();
    server.clear_requests();
    let got = store
        .fetch(&atom_git::Connections::default(), &url, &wants)
        .unwrap();
    let fetches = server
        .requests()
        .into_iter()
        .filter(|r| r.is_fetch())
        .count();
    assert_eq!(fetches, 1, "{:#?}", server.requests());
    // The pack holds the four small blobs, not the 200 kB atom.
    assert!(
        server.total_response_bytes() < 6000,
        "{}",
        server.total_response_bytes()
    );
    let texts: Vec<(String, String)> = got
        .iter()
        .map(|m| (format!("{}@{}", m.label, m.version), m.text.clone()))
        .collect();
    assert_eq!(
        texts,
        [
            ("a@1.0.0".into(), support::atom_toml("a", "1.0.0")),
            ("a@0.2.0".into(), support::atom_toml("a", "0.2.0")),
            ("a@0.1.0".into(), support::atom_toml("a", "0.1.0")),
            ("b@2.0.0".into(), support::atom_toml("b", "2.0.0")),
        ]
    );
    for (m, w) in got.iter().zip(&wants) {
        assert_eq!(Some(m.blob), w.blob);
    }
    // Only blobs came: the cache holds no commit or tree.
    let objects = git(
        &cache,
        &["cat-file", "--batch-all-objects", "--batch-check"],
    );
    assert_eq!(objects.lines().count(), 4, "{objects}");
    assert!(objects.lines().all(|l| l.contains(" blob ")), "{objects}");

    // Known blobs already stored: nothing goes over the wire.
    server.clear_requests();
    let again = ManifestStore::open(&cache)
        .unwrap()
        .fetch(&atom_git::Connections::default(), &url, &wants)
        .unwrap();
    assert_eq!(again, got);
    assert!(server.requests().is_empty(), "{:#?}", server.requests());

    // Without blob ids (a listing without metadata), the refs name them.
    let bare: Vec<_> = wants
        .iter()
        .map(|w| remote::ManifestWant {
            blob: None,
            ..w.clone()
        })
        .collect();
    assert_eq!(
        remote::fetch_manifests(&atom_git::Connections::default(), &url, &bare).unwrap(),
        got
    );

    // A manifest ref that is not there is a clear error.
    let mut missing = bare[0].clone();
    missing.version.version = semver::Version::new(9, 9, 9);
    let err =
        remote::fetch_manifests(&atom_git::Connections::default(), &url, &[missing]).unwrap_err();
    assert!(
        err.to_string().contains("refs/atoms/_manifest/a/9.9.9"),
        "{err}"
    );
}
