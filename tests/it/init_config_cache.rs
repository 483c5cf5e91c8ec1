//! End-to-end: `eka init` (a repository ready to publish, idempotent),
//! `eka config` and command aliases, `eka cache` and `eka cache gc`.

use std::path::{Path, PathBuf};

use crate::support::{
    self, assert_cli_snapshot, atoms, fsck, git, RegistryBuilder, Run, Sandbox, Transport,
};

/// Every file under `dir` (but `.git`) with its content, sorted: to show
/// that a command wrote nothing.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

// ---------------------------------------------------------------- init

#[test]
fn init_makes_a_repository_that_publishes() {
    let sb = Sandbox::new();
    let registry = sb.bare("registry");
    let url = support::file_url(&registry);
    sb.filter(&url, "[REGISTRY]");
    let run = sb
        .eka(sb.path(), &["init", "hello", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    Created git repository hello
    Created atom `hello` 0.1.0 in hello/hello
    Created hello/hello/mod.nix
    Created hello/.gitignore (result, result-*)
    Added remote `origin`: [REGISTRY]
    --- stderr ---
    next:
      cd hello
      git add hello .gitignore && git commit -m 'hello 0.1.0'
      eka publish hello
    ");
    let dir = sb.path().join("hello");
    assert_eq!(
        std::fs::read_to_string(dir.join("hello/atom.toml")).unwrap(),
        support::atom_toml("hello", "0.1.0")
    );
    assert_eq!(git(&dir, &["remote", "get-url", "origin"]), url);

    // What `init` made, committed, publishes as it is.
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "hello 0.1.0"]);
    sb.eka(&dir, &["publish", "--all"]).assert_success();
    let refs = atoms::remote_atom_refs(&url);
    assert!(
        refs.iter()
            .any(|(name, _)| name == "refs/atoms/hello/0.1.0"),
        "{refs:?}"
    );
    // And its module evaluates.
    let run = sb
        .eka(&dir, &["eval", "hello", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ hello = \"world\"; }");
}

#[test]
fn init_twice_changes_nothing_and_says_so() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    sb.filter(&url, "[REGISTRY]");
    sb.eka(sb.path(), &["init", "hello", "--remote", &url])
        .assert_success();
    let dir = sb.path().join("hello");
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "first"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);
    let config = std::fs::read(dir.join(".git/config")).unwrap();
    let before = files_under(&dir);

    for args in [
        vec!["init", "hello"],
        vec!["init", "hello", "--remote", &url],
        vec!["init", "hello", "--label", "hello"],
    ] {
        let run = sb.eka(sb.path(), &args).assert_success();
        assert_cli_snapshot!(sb, run, @"
        status: 0
        --- stdout ---
        Nothing to do: atom `hello` 0.1.0 in hello/hello is set up, remote `origin` is [REGISTRY]
        --- stderr ---
        ");
    }
    let run = sb.eka(&dir, &["init", "--json"]).assert_success();
    let v = json(&run);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["changed"], false);
    assert_eq!(v["atom"]["step"], "exists");
    assert_eq!(v["remote"]["name"], "origin");

    assert_eq!(files_under(&dir), before);
    assert_eq!(std::fs::read(dir.join(".git/config")).unwrap(), config);
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), head);
}

#[test]
fn init_below_a_repository_root_makes_only_the_atom() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write("README", "mono\n");
    let head = repo.commit("start");
    let run = sb
        .eka(repo.path(), &["init", "pkgs/tool", "--label", "my-tool"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    Created atom `my-tool` 0.1.0 in pkgs/tool
    Created pkgs/tool/mod.nix
    --- stderr ---
    next:
      git add pkgs/tool && git commit -m 'my-tool 0.1.0'
      eka publish pkgs/tool --remote <remote>   # a git remote's name or URL
    ");
    assert!(repo.path().join("pkgs/tool/atom.toml").is_file());
    assert!(repo.path().join("pkgs/tool/mod.nix").is_file());
    assert!(!repo.path().join("pkgs/tool/.git").exists());
    assert_eq!(repo.head(), head);
    // An atom missing only its module gets one.
    repo.write_atom("libs/x", "x", "1.0.0");
    let run = sb.eka(repo.path(), &["init", "libs/x"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    Created libs/x/mod.nix
    --- stderr ---
    next:
      git add libs/x && git commit -m 'x 1.0.0'
      eka publish libs/x --remote <remote>   # a git remote's name or URL
    ");
}

/// At a repository's root, `init` ignores what `eka build` links
/// (`result`, `result-*`), as `cargo init` ignores `target/`: a new
/// `.gitignore`, or the lines an existing one lacks, its own kept.
#[test]
fn init_ignores_the_build_links_at_the_root() {
    let sb = Sandbox::new();
    sb.eka(sb.path(), &["init", "fresh"]).assert_success();
    let fresh = sb.path().join("fresh");
    assert_eq!(
        std::fs::read_to_string(fresh.join(".gitignore")).unwrap(),
        "result\nresult-*\n"
    );
    // What `eka build` links stays out of git's way.
    std::os::unix::fs::symlink("/nix/store/x", fresh.join("result")).unwrap();
    std::os::unix::fs::symlink("/nix/store/y", fresh.join("fresh/result-dev")).unwrap();
    let status = git(&fresh, &["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(
        status,
        "?? .gitignore\n?? fresh/atom.toml\n?? fresh/mod.nix"
    );

    let repo = sb.repo("mono");
    repo.write(".gitignore", "/target\nresult\n*.swp");
    repo.write_atom("a", "a", "1.0.0");
    let run = sb.eka(repo.path(), &["init", ".", "--label", "a"]);
    let run = run.assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    Created ./a/mod.nix
    Added result-* to .gitignore
    --- stderr ---
    next:
      git add a .gitignore && git commit -m 'a 1.0.0'
      eka publish a --remote <remote>   # a git remote's name or URL
    ");
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".gitignore")).unwrap(),
        "/target\nresult\n*.swp\nresult-*\n"
    );
    let run = sb.eka(repo.path(), &["init", ".", "--label", "a"]);
    assert_cli_snapshot!(sb, run.assert_success(), @"
    status: 0
    --- stdout ---
    Nothing to do: atom `a` 1.0.0 in ./a is set up
    --- stderr ---
    ");
}

#[test]
fn init_refuses_and_writes_nothing() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    sb.filter(&url, "[REGISTRY]");
    // Refused before anything is written: no repository, no atom.
    for args in [
        vec!["init", "fresh", "--version", "one"],
        vec!["init", "fresh", "--label", "9lives"],
        vec!["init", "fresh", "--remote", ""],
        vec!["init", "fresh", "--remote", &url, "--remote-name=-x"],
    ] {
        let run = sb.eka(sb.path(), &args).assert_failure();
        assert!(!sb.path().join("fresh").exists(), "{args:?}\n{run}");
        assert!(run.stderr.contains("eka::"), "{run}");
    }
    let run = sb
        .eka(sb.path(), &["init", "fresh", "--version", "one"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::version

      × invalid version `one`: unexpected character 'o' while parsing major
      │ version number
      help: versions are semantic versions, like 0.1.0 or 1.0.0-rc.1
    ");

    // A repository whose `origin` is elsewhere.
    sb.eka(sb.path(), &["init", "hello"]).assert_success();
    let dir = sb.path().join("hello");
    git(&dir, &["remote", "add", "origin", "/elsewhere.git"]);
    let before = files_under(&dir);
    let run = sb
        .eka(sb.path(), &["init", "hello", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::init::remote_differs

      × the remote `origin` is `/elsewhere.git`, not `file://[SANDBOX]/
      │ remotes/registry.git`
      help: leave out --remote to keep it, change it with `git remote set-url`, or
            add another with --remote-name
    ");
    // Another label than the atom's.
    let run = sb
        .eka(sb.path(), &["init", "hello/hello", "--label", "other"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::init::label_differs

      × the atom in `hello/hello` is labelled `hello`, not `other`
      help: leave out --label to keep the atom as it is, or name another directory
    ");
    // An atom.toml that does not parse.
    std::fs::write(dir.join("hello/atom.toml"), "[package]\nlabel = 3\n").unwrap();
    let before_bad = files_under(&dir);
    let run = sb.eka(sb.path(), &["init", "hello"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × hello/hello/atom.toml:2:9: invalid type: integer `3`, expected a string
       ╭─[hello/hello/atom.toml:2:9]
     1 │ [package]
     2 │ label = 3
       ·         ┬
       ·         ╰── here
       ╰────
      help: fix the value and try again
    ");
    assert_eq!(files_under(&dir), before_bad);
    assert_ne!(before, before_bad);
    // A file is no directory.
    std::fs::write(sb.path().join("plain"), "x").unwrap();
    let run = sb.eka(sb.path(), &["init", "plain"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::init::not_a_directory

      × `plain` is not a directory
      help: name a directory (it is created if missing)
    ");
    // What `eka new` refuses, init refuses: the label of another atom.
    let repo = sb.repo("mono");
    repo.write_atom("a", "taken", "1.0.0");
    let run = sb
        .eka(repo.path(), &["init", "b", "--label", "taken"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::label_taken

      × the label `taken` is taken by the atom in `a`
      help: labels identify atoms within a repository: pass another one with
            --label
    ");
    assert!(!repo.path().join("b").exists());
}

// -------------------------------------------------------------- config

#[test]
fn config_shows_path_settings_and_aliases() {
    let sb = Sandbox::new();
    let run = sb.eka(sb.path(), &["config"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    config file: [SANDBOX]/home/.config/eka/config.toml (not there: the defaults apply)

    settings:
      net.timeout = 30  (default; set with [net] timeout = <seconds> in the configuration file, or EKA_NETWORK_TIMEOUT)
      signing key = (none)  (default; set with git config eka.signingKey <key file>)
      sign always = false  (default; set with git config eka.sign true)

    command aliases ([alias]):
      (none)

    URI aliases ([aliases]):
      bb = bitbucket.org  (built in)
      cb = codeberg.org  (built in)
      gh = github.com  (built in)
      gl = gitlab.com  (built in)
      sr = git.sr.ht  (built in)
    --- stderr ---
    ");
    sb.write_config(
        "[alias]\nmk = \"new --version 2.0.0\"\nls = [\"list\"]\nnew = \"publish\"\n\n\
         [aliases]\nwork = \"gh:my-org\"\n\n[net]\ntimeout = 7\n",
    );
    let run = sb.eka(sb.path(), &["config"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    config file: [SANDBOX]/home/.config/eka/config.toml

    settings:
      net.timeout = 7  (config file; set with [net] timeout = <seconds> in the configuration file, or EKA_NETWORK_TIMEOUT)
      signing key = (none)  (default; set with git config eka.signingKey <key file>)
      sign always = false  (default; set with git config eka.sign true)

    command aliases ([alias]):
      ls = list
      mk = new --version 2.0.0
      new = publish  (ignored: a built-in command has this name)

    URI aliases ([aliases]):
      bb = bitbucket.org  (built in)
      cb = codeberg.org  (built in)
      gh = github.com  (built in)
      gl = gitlab.com  (built in)
      sr = git.sr.ht  (built in)
      work = gh:my-org  (user config [SANDBOX]/home/.config/eka/config.toml)
    --- stderr ---
    ");
    let run = sb.eka(sb.path(), &["config", "--json"]).assert_success();
    let v = json(&run);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["exists"], true);
    assert_eq!(
        v["alias"]["mk"]["expansion"],
        serde_json::json!(["new", "--version", "2.0.0"])
    );
    assert_eq!(v["alias"]["new"]["ignored"], true);
    assert_eq!(v["aliases"]["work"]["value"], "gh:my-org");
    assert_eq!(v["aliases"]["work"]["origin"], "user");
    assert_eq!(v["settings"][0]["name"], "net.timeout");
    assert_eq!(v["settings"][0]["value"], "7");
    assert_eq!(v["settings"][0]["source"], "file");

    // The environment wins over the file; EKA_CONFIG names another file.
    let other = sb.path().join("other.toml");
    std::fs::write(&other, "[net]\ntimeout = 9\n").unwrap();
    let mut cmd = sb.eka_command(sb.path());
    cmd.env("EKA_NETWORK_TIMEOUT", "3")
        .args(["config", "--json"]);
    let v = json(&sb.run(cmd).assert_success());
    assert_eq!(v["settings"][0]["value"], "3");
    assert_eq!(v["settings"][0]["source"], "env");
    let mut cmd = sb.eka_command(sb.path());
    cmd.env("EKA_CONFIG", &other).args(["config", "--json"]);
    let v = json(&sb.run(cmd).assert_success());
    assert_eq!(v["path"], other.display().to_string());
    assert_eq!(v["from_env"], true);
    assert_eq!(v["settings"][0]["value"], "9");
    assert_eq!(v["alias"], serde_json::json!({}));
}

#[test]
fn command_aliases_expand_as_cargo_s() {
    let sb = Sandbox::new();
    sb.write_config(
        "[alias]\nmk = \"new --version 2.0.0\"\nmk1 = [\"mk\", \"--label\", \"one\"]\nnew = \"publish\"\n\
         loop = \"round\"\nround = \"trip -v\"\ntrip = \"loop\"\n",
    );
    let repo = sb.repo("mono");
    // An alias, after global options, with arguments after it.
    let run = sb.eka(repo.path(), &["-q", "mk", "a"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    --- stderr ---
    ");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("a/atom.toml")).unwrap(),
        support::atom_toml("a", "2.0.0")
    );
    // An alias of an alias (list form).
    sb.eka(repo.path(), &["mk1", "b"]).assert_success();
    assert_eq!(
        std::fs::read_to_string(repo.path().join("b/atom.toml")).unwrap(),
        support::atom_toml("one", "2.0.0")
    );
    // A built-in command keeps its meaning; the alias is ignored, with a
    // warning (cargo's).
    let run = sb.eka(repo.path(), &["new", "c"]).assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `c` 0.1.0 in c
    --- stderr ---
    warning: user-defined alias `new` is ignored, because it is shadowed by a built-in command
    next:
      echo '{ Hello = "world"; }' > c/mod.nix  # its code: a module
      git add c && git commit -m 'c 0.1.0'
      eka publish c --remote <remote>       # a git remote's name or URL
    "#);
    // A cycle is an error, not a hang.
    let run = sb.eka(repo.path(), &["loop"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::config::recursive_alias

      × the alias `loop` is recursive: loop → round → trip → loop
      help: an alias may stand for another, but not come back to itself: edit
            [alias] in the configuration file
    ");
    let run = sb.eka(repo.path(), &["--json", "loop"]).assert_failure();
    assert_eq!(json(&run)["code"], "eka::config::recursive_alias");
}

#[test]
fn a_bad_configuration_file_is_an_error_naming_it() {
    let sb = Sandbox::new();
    let cases = [
        "[alias\nb = \"build\"\n",
        "[net]\ntimout = 5\n",
        "[net]\ntimeout = 0\n",
        "[alias]\nb = \"\"\n",
        "[aliases]\n\"a.b\" = \"gh:x\"\n",
        "colour = \"always\"\n",
    ];
    for text in cases {
        sb.write_config(text);
        // Every command reads it, not only `eka config`.
        for args in [&["config"][..], &["new", "x"][..]] {
            let run = sb.eka(sb.path(), args).assert_failure();
            assert!(
                run.stderr.contains("eka::config::invalid")
                    && run.stderr.contains(".config/eka/config.toml"),
                "{text}\n{run}"
            );
            assert!(!sb.path().join("x").exists());
        }
    }
    sb.write_config("[net]\ntimeout = 30\ntimout = 5\n");
    let run = sb.eka(sb.path(), &["config"]).assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::config::invalid

      × invalid configuration file [SANDBOX]/home/.config/eka/
      │ config.toml: unknown field `timout`, expected `timeout`
       ╭─[[SANDBOX]/home/.config/eka/config.toml:3:1]
     2 │ timeout = 30
     3 │ timout = 5
       · ───┬──
       ·    ╰── here
       ╰────
      help: fix the file (its keys are listed in eka's README, "Configuration");
            `eka config` shows what eka reads
    "#);
    let run = sb.eka(sb.path(), &["config", "--json"]).assert_failure();
    let v = json(&run);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["code"], "eka::config::invalid");
}

// --------------------------------------------------------------- cache

fn cache_git(sb: &Sandbox) -> PathBuf {
    sb.home().join(".cache/eka/git")
}

/// Cached atoms by ref: `(ref, commit)`.
fn cache_refs(sb: &Sandbox) -> Vec<String> {
    let out = git(
        &cache_git(sb),
        &["for-each-ref", "--format=%(refname)", "refs/cache/"],
    );
    out.lines().map(str::to_owned).collect()
}

/// An atom folder `name` depending on `dep` of `url`, locked and fetched.
fn project(sb: &Sandbox, name: &str, url: &str, dep: &str) -> PathBuf {
    let dir = sb.mkdir(&format!("projects/{name}"));
    std::fs::write(dir.join("atom.toml"), support::atom_toml(name, "0.1.0")).unwrap();
    sb.eka(&dir, &["add", &format!("{url}::{dep}")])
        .assert_success();
    sb.eka(&dir, &["fetch"]).assert_success();
    dir
}

/// Sizes vary with git's compression: shown as `[SIZE]`.
fn size_settings(sb: &Sandbox) -> insta::Settings {
    let mut settings = sb.insta_settings();
    settings.add_filter(r"\b\d+(\.\d)? (B|KiB|MiB)\b", "[SIZE]");
    settings
}

#[test]
fn cache_shows_and_gc_keeps_what_locks_pin() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .release()
        .atom("b", "2.0.0")
        .release()
        .atom("c", "1.0.0")
        .build();
    sb.filter(&reg.url, "[REGISTRY]");
    let run = sb.eka(sb.path(), &["cache"]).assert_success();
    size_settings(&sb).bind(|| {
        insta::assert_snapshot!(run.transcript(), @"
    status: 0
    --- stdout ---
    cache: [SANDBOX]/home/.cache/eka
    size: [SIZE]
    fetched atoms: 0 ([SIZE], in [SANDBOX]/home/.cache/eka/git)
    parse packs: 0 ([SIZE], in [SANDBOX]/home/.cache/eka/parsed)
    --- stderr ---
    ")
    });

    let keep = project(&sb, "keep", &reg.url, "b@^1");
    let drop = project(&sb, "drop", &reg.url, "c");
    // A parse pack of an atom under the directory gc is given: kept.
    std::fs::write(keep.join("mod.nix"), "{ X = 1; }\n").unwrap();
    sb.eka(&keep, &["eval", ".", "--worktree"]).assert_success();
    let run = sb.eka(sb.path(), &["cache"]).assert_success();
    size_settings(&sb).bind(|| {
        insta::assert_snapshot!(run.transcript(), @"
    status: 0
    --- stdout ---
    cache: [SANDBOX]/home/.cache/eka
    size: [SIZE]
    fetched atoms: 2 ([SIZE], in [SANDBOX]/home/.cache/eka/git)
    parse packs: 1 ([SIZE], in [SANDBOX]/home/.cache/eka/parsed)

    LABEL  VERSION  COMMIT        ATOM ID
    b      1.0.0    9926749fa281  n16hk5lojeps2p8mkvhb10uvpa6ieu7v0e5p5l2ttpf4umfqk3jg
    c      1.0.0    e87b886450ec  0afpgl1525ofm8q1dbvuco0nhs8lhgp3mgr16445vh1knr172hcg
    --- stderr ---
    ")
    });
    let v = json(&sb.eka(sb.path(), &["cache", "--json"]).assert_success());
    assert_eq!(v["schema"], 1);
    assert_eq!(v["atoms"].as_array().unwrap().len(), 2);
    let c_commit = v["atoms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["label"] == "c")
        .unwrap()["commit"]
        .as_str()
        .unwrap()
        .to_owned();
    // A parse pack of an atom nothing uses any more.
    let stale = sb
        .home()
        .join(".cache/eka/parsed/0123456789abcdef0123456789abcdef.pack");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, vec![7u8; 3000]).unwrap();
    // Listings kept for --offline: of a mirror the kept lock names, and of
    // a remote no lock names.
    let listings = sb.home().join(".cache/eka/listings");
    std::fs::create_dir_all(&listings).unwrap();
    let listing =
        |url: &str| format!("url = \"{url}\"\n\n[listed]\n\"refs/atoms/\" = 1\n\n[refs]\n");
    let used = listings.join("used.toml");
    std::fs::write(&used, listing(&reg.url)).unwrap();
    let unused = listings.join("unused.toml");
    std::fs::write(&unused, listing("https://example.invalid/gone.git")).unwrap();

    // --dry-run lists, removes nothing.
    let refs_before = cache_refs(&sb);
    let run = sb
        .eka(sb.path(), &["cache", "gc", "projects/keep", "--dry-run"])
        .assert_success();
    size_settings(&sb).bind(|| {
        insta::assert_snapshot!(run.transcript(), @"
        status: 0
        --- stdout ---
        Read 1 lock; keeping 1 atom
        Would remove c 1.0.0 (e87b886450ec)
        Would remove [SANDBOX]/home/.cache/eka/parsed/0123456789abcdef0123456789abcdef.pack ([SIZE])
        Would remove the listing of https://example.invalid/gone.git ([SIZE])
        1 atom, 1 parse pack and 1 listing to remove; would free about [SIZE]
        --- stderr ---
        ")
    });
    assert_eq!(cache_refs(&sb), refs_before);
    assert!(stale.exists() && unused.exists());
    git(&cache_git(&sb), &["cat-file", "-e", &c_commit]);

    let run = sb
        .eka(sb.path(), &["cache", "gc", "projects/keep", "--json"])
        .assert_success();
    let v = json(&run);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["removed"].as_array().unwrap().len(), 1);
    assert_eq!(v["removed"][0]["label"], "c");
    assert_eq!(v["packs_kept"], 1);
    assert_eq!(v["packs_removed"].as_array().unwrap().len(), 1);
    assert!(v["bytes_freed"].as_u64().unwrap() >= 3000, "{v}");
    assert_eq!(v["listings_kept"], 1, "{v}");
    assert_eq!(
        v["listings_removed"][0]["url"],
        "https://example.invalid/gone.git"
    );
    assert!(used.exists() && !unused.exists());
    assert_eq!(cache_refs(&sb).len(), 1);
    assert!(!stale.exists());
    // The atom's objects are gone, not only its ref.
    let gone = support::git_run(&cache_git(&sb), &["cat-file", "-e", &c_commit]);
    assert!(!gone.success(), "{gone}");
    fsck(&cache_git(&sb));
    // What the kept lock pins is still there, offline.
    sb.eka(&keep, &["fetch", "--offline"]).assert_success();
    let run = sb.eka(&drop, &["fetch", "--offline"]).assert_failure();
    assert!(run.stderr.contains("eka::fetch::not_cached"), "{run}");
    sb.eka(&drop, &["fetch"]).assert_success();

    // Both kept: nothing to remove.
    let run = sb
        .eka(sb.path(), &["cache", "gc", "projects"])
        .assert_success();
    size_settings(&sb).bind(|| {
        insta::assert_snapshot!(run.transcript(), @"
        status: 0
        --- stdout ---
        Read 2 locks; keeping 2 atoms
        0 atoms, 0 parse packs and 0 listings removed; freed [SIZE]
        --- stderr ---
        ")
    });
    assert_eq!(cache_refs(&sb).len(), 2);
}

#[test]
fn cache_gc_refuses_bad_input_and_removes_nothing() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    let dir = project(&sb, "p", &reg.url, "b");
    let refs = cache_refs(&sb);
    let run = sb
        .eka(sb.path(), &["cache", "gc", "nowhere"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::cache::gc_dir

      × `nowhere` is not a directory
      help: name the directories holding your projects (`eka cache gc ~/src`):
            what their atom.lock files pin is kept
    ");
    // A lock that does not parse: what it pins is unknown, so nothing goes.
    let other = sb.mkdir("other");
    std::fs::write(
        other.join("atom.lock"),
        "lock-version = 1\n[[atom]]\nlabel = 3\n",
    )
    .unwrap();
    let run = sb
        .eka(sb.path(), &["cache", "gc", "other"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::cache::gc_lock

      × cannot read the lock `other/atom.lock`; nothing was removed
      ╰─▶ invalid lock: invalid type: integer `3`, expected a string
      help: fix that atom.lock (`eka lock` writes it again), or leave its
            directory out of `eka cache gc`
    ");
    assert_eq!(cache_refs(&sb), refs);
    let run = sb.eka(sb.path(), &["cache", "gc"]).assert_failure();
    assert!(run.stderr.contains("<DIR>"), "{run}");
    sb.eka(&dir, &["fetch", "--offline"]).assert_success();
}

/// `gc` takes the cache's lock, as every eka using the cache does: while
/// another process holds it, gc waits, and removes nothing meanwhile.
#[test]
fn cache_gc_waits_for_the_cache_lock() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("b", "1.0.0")
        .build();
    project(&sb, "p", &reg.url, "b");
    let empty = sb.mkdir("empty");
    let lock = std::fs::File::open(sb.home().join(".cache/eka/lock")).unwrap();
    lock.lock_shared().unwrap();
    let mut cmd = sb.eka_command(sb.path());
    cmd.args(["cache", "gc"]).arg(&empty);
    cmd.stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(child.try_wait().unwrap().is_none(), "gc did not wait");
    assert_eq!(cache_refs(&sb).len(), 1);
    lock.unlock().unwrap();
    assert!(child.wait().unwrap().success());
    assert!(cache_refs(&sb).is_empty());
}
