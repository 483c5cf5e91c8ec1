//! End-to-end: the conventions and dead ends of issue 14, through the
//! `eka` binary: closed pipes, `eka new`'s checks and next steps, status
//! lines that say what changed, `--dry-run`/`--locked`/`--offline`,
//! remote names read the same everywhere, publishing with uncommitted
//! changes, to mirrors, and with unresolvable dependencies, completions,
//! man pages, `--version -v`, `-C` and JSON usage errors.

use std::io::Read;
use std::process::Stdio;

use crate::support::{
    self, assert_cli_snapshot, atoms, GitServer, RegistryBuilder, Sandbox, Transport,
};

/// A registry with `hello` 1.0.0 and 1.1.0, over `file://`.
fn hello_registry(sb: &Sandbox, server: &GitServer) -> support::Registry {
    RegistryBuilder::new(sb, server)
        .atom("hello", "1.0.0")
        .release()
        .atom("hello", "1.1.0")
        .build()
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    for args in [
        vec!["list", reg.url.as_str()],
        vec!["versions", &format!("{}::hello", reg.url)],
        vec!["completions", "bash"],
    ] {
        let mut cmd = sb.eka_command(sb.path());
        cmd.args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // The reader goes away before eka writes anything.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "eka {args:?}: {status:?}\n{stderr}");
        assert_eq!(stderr, "", "eka {args:?}");
    }
}

#[test]
fn new_refuses_what_publish_would_and_says_what_next() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    let run = sb
        .eka(repo.path(), &["new", "tools/hello"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `hello` 0.1.0 in tools/hello
    --- stderr ---
    next:
      echo '{ Hello = "world"; }' > tools/hello/mod.nix  # its code: a module
      git add tools/hello && git commit -m 'hello 0.1.0'
      eka publish tools/hello --remote <remote>       # a git remote's name or URL
    "#);
    let run = sb.eka(repo.path(), &["new", "."]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::repository_root

      × `.` is the root of its repository, which cannot be an atom
      help: an atom is a subdirectory of the repository: `eka new <dir>` with a
            directory below the root
    ");
    let run = sb
        .eka(repo.path(), &["new", "x", "--version", "1.0.0-rc.lock"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::ref_name

      × version 1.0.0-rc.lock cannot be published: `refs/atoms/x/1.0.0-rc.lock` is
      │ not a valid git ref name (Reference name cannot end with '.lock')
      help: choose a version git can store in a ref name (a pre-release may not
            end in `.lock`)
    ");
    assert!(!repo.path().join("x").exists());
    let run = sb
        .eka(repo.path(), &["new", "other", "--label", "hello"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::label_taken

      × the label `hello` is taken by the atom in `tools/hello`
      help: labels identify atoms within a repository: pass another one with
            --label
    ");
    // Outside a repository: `git init` comes first.
    let run = sb.eka(sb.path(), &["new", "loose"]).assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `loose` 0.1.0 in loose
    --- stderr ---
    next:
      git init                                   # atoms live in a git repository
      echo '{ Hello = "world"; }' > loose/mod.nix  # its code: a module
      git add loose && git commit -m 'loose 0.1.0'
      eka publish loose --remote <remote>       # a git remote's name or URL
    "#);
}

#[test]
fn new_and_add_respect_the_umask_and_keep_modes() {
    let sb = Sandbox::new();
    let repo = sb.repo("work");
    let sh = |dir: &std::path::Path, args: &str| {
        let mut cmd = std::process::Command::new("sh");
        support::hermetic(&mut cmd, &sb.home())
            .current_dir(dir)
            .arg("-c")
            .arg(format!(
                "umask 027 && exec {} {args}",
                env!("CARGO_BIN_EXE_eka")
            ));
        sb.run(cmd).assert_success()
    };
    sh(repo.path(), "new a");
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&repo.path().join("a/atom.toml")), 0o640);

    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    let manifest = repo.path().join("a/atom.toml");
    std::fs::set_permissions(
        &manifest,
        std::os::unix::fs::PermissionsExt::from_mode(0o664),
    )
    .unwrap();
    sh(&repo.path().join("a"), &format!("add {}::hello", reg.url));
    assert_eq!(mode(&manifest), 0o664, "atom.toml keeps its mode");
    assert_eq!(
        mode(&repo.path().join("a/atom.lock")),
        0o640,
        "a new file follows the umask"
    );
}

#[test]
fn status_lines_say_what_changed() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    sb.filter(&reg.url, "[URL]");
    let repo = sb.repo("work");
    sb.eka(repo.path(), &["new", "app"]).assert_success();
    let app = repo.path().join("app");
    let add = format!("{}::hello@1.x", reg.url);

    // --dry-run writes nothing, and says so.
    let run = sb.eka(&app, &["add", &add, "--dry-run"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding hello 1.x to [deps.from.registry]
      locking hello 1.1.0
    dry run: would write atom.toml and atom.lock (1 atom); nothing written
    --- stderr ---
    ");
    assert!(!app.join("atom.lock").exists());
    // --locked refuses to create or change the lock.
    let run = sb.eka(&app, &["add", &add, "--locked"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::would_change

      × atom.lock would change, but it is locked:
      │   - there is no atom.lock yet
      │   - `hello` 1.x would be added
      │   - `hello` 1.1.0 would be locked
      help: run the command without --locked (or --frozen), and commit atom.lock
    ");
    // The requirement is written as given (`1.x`, not `1.*`), and both
    // files are said to be written.
    let run = sb.eka(&app, &["add", &add]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding hello 1.x to [deps.from.registry]
      locking hello 1.1.0
    wrote atom.toml and atom.lock (1 atom)
    --- stderr ---
    ");
    let manifest = std::fs::read_to_string(app.join("atom.toml")).unwrap();
    assert!(manifest.contains("hello = \"1.x\""), "{manifest}");
    // Nothing to do: up to date, in text and JSON alike.
    let run = sb.eka(&app, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (1 atom)
    --- stderr ---
    ");
    let run = sb.eka(&app, &["update"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (1 atom)
    --- stderr ---
    ");
    let run = sb.eka(&app, &["--json", "update"]).assert_success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["up_to_date"], true);
    assert_eq!(v["schema"], 1);
    // A lock missing: created, not "up to date".
    std::fs::remove_file(app.join("atom.lock")).unwrap();
    let run = sb.eka(&app, &["lock", "--offline"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::offline

      × atom.lock is not in line with atom.toml, and resolving needs the network:
      │   - there is no valid atom.lock
      help: run it without --offline (or --frozen)
    ");
    let run = sb.eka(&app, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
      locking hello 1.1.0
    wrote a new atom.lock (1 atom)
    --- stderr ---
    ");
    // A lock in line needs no network: --frozen passes.
    sb.eka(&app, &["lock", "--frozen"]).assert_success();
    // A requirement changed by hand: the lock is rewritten.
    std::fs::write(
        app.join("atom.toml"),
        manifest.replace("hello = \"1.x\"", "hello = \"~1.0\""),
    )
    .unwrap();
    let run = sb.eka(&app, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     updating hello 1.1.0 -> 1.0.0
    wrote atom.lock (1 atom)
    --- stderr ---
    ");
    let run = sb
        .eka(&app, &["remove", "hello", "--dry-run"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     removing hello ~1.0 from [deps.from.registry]
    unlocking hello 1.0.0
    dry run: would write atom.toml and atom.lock (0 atoms); nothing written
    --- stderr ---
    ");
    let run = sb.eka(&app, &["remove", "hello"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     removing hello ~1.0 from [deps.from.registry]
    unlocking hello 1.0.0
    wrote atom.toml and atom.lock (0 atoms)
    --- stderr ---
    ");
}

#[test]
fn lock_all_checks_every_atom_of_the_repository() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    sb.filter(&reg.url, "[URL]");
    let repo = sb.repo("work");
    for a in ["a", "libs/b"] {
        sb.eka(repo.path(), &["new", a]).assert_success();
        sb.eka(
            &repo.path().join(a),
            &["add", &format!("{}::hello@^1", reg.url)],
        )
        .assert_success();
    }
    // An atom without dependencies needs no lock.
    sb.eka(repo.path(), &["new", "tools/c"]).assert_success();
    let run = sb
        .eka(sb.path(), &["-C", "work", "lock", "--check", "--all"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    3 atoms, every atom.lock in line (2 locked atoms)
    --- stderr ---
    ");
    std::fs::remove_file(repo.path().join("libs/b/atom.lock")).unwrap();
    let run = sb
        .eka(repo.path(), &["lock", "--check", "--all"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::missing

      × there is no atom.lock beside [SANDBOX]/work/libs/b/atom.toml
      help: run `eka lock` first, and commit atom.lock
    ");
    let run = sb.eka(repo.path(), &["lock", "--all"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a:
    atom.lock is up to date (1 atom)
    libs/b:
      locking hello 1.1.0
    wrote a new atom.lock (1 atom)
    tools/c:
    wrote a new atom.lock (0 atoms; no locked version changed)
    --- stderr ---
    ");
    // Every lock is already at the highest versions: --locked holds.
    let run = sb
        .eka(repo.path(), &["update", "--all", "--locked"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a:
    atom.lock is up to date (1 atom)
    libs/b:
    atom.lock is up to date (1 atom)
    tools/c:
    atom.lock is up to date (0 atoms)
    --- stderr ---
    ");
    let run = sb
        .eka(repo.path(), &["fetch", "--all", "-q"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    --- stderr ---
    ");
}

/// `--all` takes the atoms git would commit: an atom.toml under an
/// ignored directory (a `result` link's target, a vendored checkout) is
/// not one of the repository's atoms.
#[test]
fn lock_all_leaves_out_ignored_atoms() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    sb.filter(&reg.url, "[URL]");
    let repo = sb.repo("work");
    sb.eka(repo.path(), &["new", "a"]).assert_success();
    sb.eka(
        &repo.path().join("a"),
        &["add", &format!("{}::hello@^1", reg.url)],
    )
    .assert_success();
    repo.write(".gitignore", "result\nvendor/\n");
    // Unlocked, and one that does not even parse: either would fail the
    // check if it were taken for an atom of the repository.
    let manifest = std::fs::read_to_string(repo.path().join("a/atom.toml")).unwrap();
    repo.write(
        "vendor/other/atom.toml",
        manifest.replace("label = \"a\"", "label = \"other\""),
    );
    repo.write("result/lib/atom.toml", "not toml [");
    let run = sb
        .eka(repo.path(), &["lock", "--check", "--all"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (1 atom)
    --- stderr ---
    ");
    let run = sb.eka(repo.path(), &["update", "--all"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (1 atom)
    --- stderr ---
    ");
    // Tracked, an ignored file is git's all the same.
    repo.git(&["add", "--force", "vendor/other/atom.toml"]);
    let run = sb
        .eka(repo.path(), &["lock", "--check", "--all"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::missing

      × there is no atom.lock beside [SANDBOX]/work/vendor/other/
      │ atom.toml
      help: run `eka lock` first, and commit atom.lock
    ");
}

#[test]
fn remote_names_mean_the_same_everywhere() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    sb.filter(&reg.url, "[URL]");
    let repo = sb.repo("consumer");
    repo.add_remote("origin", &reg.url);
    let run = sb.eka(repo.path(), &["list", "origin"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSIONS
    hello  1.1.0, 1.0.0
    1 atom, 2 versions on [URL]
    --- stderr ---
    ");
    let run = sb
        .eka(repo.path(), &["versions", "origin::hello"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    hello on [URL] (atom id 7mgtk8g0ul3ho7cp9km6jn6ic3qqjgnp3ou55bdkkt906vlbob70)
      VERSION  COMMIT
      1.1.0    16fc4b51f14104ed8e2766f0e5cbac67990823e5
      1.0.0    0f79e2bd138a1646695a1e9085dba75166e4e003
    --- stderr ---
    ");
    // A mistyped remote is not silently a label.
    let run = sb
        .eka(repo.path(), &["verify", "upstream"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::verify::not_a_remote

      × `upstream` is neither a remote of this repository (its remotes: origin)
      │ nor an atom published in it
      help: name a remote, a URL or a path first (`eka verify <remote> [LABEL…]`),
            or a label published here
    ");
    // A word read as a host while a path of that name is here: a hint.
    std::fs::create_dir(repo.path().join("reg.git")).unwrap();
    let run = sb
        .eka(repo.path(), &["versions", "reg.git::hello"])
        .assert_failure();
    // A substring: what the resolver of the machine says of `reg.git`
    // varies.
    let hint = format!(
        "warning: `reg.git` is read as the host of https://reg.git/, but `{}` is a local path: write `./reg.git` for it",
        repo.path().join("reg.git").display()
    );
    assert!(run.stderr.contains(&hint), "{}", run.stderr);
}

#[test]
fn publish_refuses_uncommitted_changes_unless_allowed() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write_atom("hello", "hello", "1.0.0")
        .write("hello/mod.nix", "{ Greeting = \"hi\"; }");
    repo.commit("hello");
    let url = support::file_url(&sb.bare("registry"));
    sb.filter(&url, "[URL]");
    repo.add_remote("origin", &url);
    // An uncommitted version bump is not "up to date".
    repo.write_atom("hello", "hello", "1.1.0");
    let run = sb.eka(repo.path(), &["publish", "hello"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::dirty

      × the work tree changes files of HEAD (2b4158561576) that would be
      │ published:
      │   - hello/atom.toml
      help: commit the changes first (eka publishes committed trees), or pass
            --allow-dirty to publish HEAD as it is
    ");
    assert!(atoms::remote_atom_refs(&url).is_empty());
    // eval reads HEAD and says the work tree differs.
    let run = sb
        .eka(repo.path(), &["eval", "hello#greeting"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    "hi"
    --- stderr ---
    warning: evaluating HEAD, but the work tree changes hello/atom.toml; pass --worktree to evaluate the files on disk
    "#);
    // --allow-dirty publishes HEAD as it is.
    let run = sb
        .eka(repo.path(), &["publish", "hello", "--allow-dirty"])
        .assert_success();
    assert!(
        run.stdout.contains("hello  1.0.0    published"),
        "{}",
        run.stdout
    );
}

#[test]
fn publish_the_same_versions_to_a_mirror_from_a_later_commit() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write_atom("hello", "hello", "1.0.0");
    repo.commit("hello");
    let first = support::file_url(&sb.bare("first"));
    let mirror = support::file_url(&sb.bare("mirror"));
    sb.eka(repo.path(), &["publish", "--all", "--remote", &first])
        .assert_success();
    repo.write("README", "later");
    repo.commit("a later commit");
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &mirror])
        .assert_success();
    assert!(run.stdout.contains("published 1"), "{}", run.stdout);
    // The same atom commit (with the same origin) on both registries.
    let on = |url: &str| {
        atoms::remote_atom_refs(url)
            .into_iter()
            .filter(|(name, _)| name.starts_with("refs/atoms/hello/"))
            .collect::<Vec<_>>()
    };
    assert_eq!(on(&first), on(&mirror));
    sb.eka(repo.path(), &["verify", &mirror]).assert_success();
}

#[test]
fn publish_refuses_unresolvable_dependencies() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = hello_registry(&sb, &server);
    sb.filter(&reg.url, "[URL]");
    let repo = sb.repo("work");
    repo.write(
        "app/atom.toml",
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nlocal = \"::\"\nreg = \"{}\"\n\n[deps.from.local]\nmissing = \"^1\"\n",
            reg.url
        ),
    );
    repo.commit("app");
    let url = support::file_url(&sb.bare("out"));
    let run = sb
        .eka(repo.path(), &["publish", "app", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unresolvable

      × atom `app`: `::missing`: no atom of this commit has that label
      help: fix the dependencies in atom.toml (`eka lock` checks them), or pass
            --no-verify to publish anyway
    ");
    repo.write(
        "app/atom.toml",
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{}\"\n\n[deps.from.reg]\nhello = \"^2\"\n",
            reg.url
        ),
    );
    repo.commit("app needs hello 2");
    let run = sb
        .eka(repo.path(), &["publish", "app", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unresolvable

      × atom `app`: its dependencies cannot be resolved
      ╰─▶ no version of `hello` in file://[SANDBOX]/served-file/
          registry.git matches `^2`; it has 1.1.0, 1.0.0
      help: fix the dependencies in atom.toml (`eka lock` checks them), or pass
            --no-verify to publish anyway
    ");
    sb.eka(
        repo.path(),
        &["publish", "app", "--remote", &url, "--no-verify"],
    )
    .assert_success();
}

#[test]
fn completions_man_version_and_usage_errors() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = sb.eka(sb.path(), &["completions", shell]).assert_success();
        assert!(run.stdout.contains("publish"), "{shell}");
    }
    let run = sb.eka(sb.path(), &["man"]).assert_success();
    assert!(run.stdout.starts_with(".ie"), "{}", &run.stdout[..80]);
    assert!(run.stdout.contains("publish"));
    sb.eka(sb.path(), &["man", "--out-dir", "man"])
        .assert_success();
    assert!(sb.path().join("man/eka-publish.1").is_file());
    let run = sb.eka(sb.path(), &["--version", "-v"]).assert_success();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("eka "), "{}", run.stdout);
    assert!(lines[1].starts_with("commit: "), "{}", run.stdout);
    assert_eq!(lines[2..], ["atom format: pre1", "lockfile version: 1"]);
    let run = sb.eka(sb.path(), &["--json", "lsit"]);
    assert_eq!(run.code(), Some(2));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["code"], "eka::cli::usage");
    assert_eq!(v["error"], "unrecognized subcommand 'lsit'");
    let run = sb
        .eka(sb.path(), &["-C", "nowhere", "list", "x"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::cli::directory

      × cannot run in `nowhere` (-C): No such file or directory (os error 2)
    ");
}
