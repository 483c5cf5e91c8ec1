//! End-to-end tests of `eka new`: scaffolding an atom, and refusing to.

use crate::support::atoms;
use crate::support::{self, assert_cli_snapshot, Sandbox};

#[test]
fn creates_atom_toml() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    let run = sb.eka(repo.path(), &["new", "pkgs/hello"]).assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `hello` 0.1.0 in pkgs/hello
    --- stderr ---
    next:
      echo '{ Hello = "world"; }' > pkgs/hello/mod.nix  # its code: a module
      git add pkgs/hello && git commit -m 'hello 0.1.0'
      eka publish pkgs/hello --remote <remote>       # a git remote's name or URL
    "#);
    let text = std::fs::read_to_string(repo.path().join("pkgs/hello/atom.toml")).unwrap();
    assert_eq!(text, support::atom_toml("hello", "0.1.0"));
    // No stray temporary file left beside it.
    let entries: Vec<_> = std::fs::read_dir(repo.path().join("pkgs/hello"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["atom.toml"]);

    let run = sb
        .eka(
            repo.path(),
            &[
                "--json",
                "new",
                "tools/x",
                "--label",
                "my-tool",
                "--version",
                "1.2.3-rc.1",
            ],
        )
        .assert_success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["label"], "my-tool");
    assert_eq!(v["version"], "1.2.3-rc.1");
    assert!(v["path"].as_str().unwrap().ends_with("tools/x/atom.toml"));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("tools/x/atom.toml")).unwrap(),
        support::atom_toml("my-tool", "1.2.3-rc.1")
    );

    // What `new` writes, `publish` accepts.
    repo.commit("scaffold");
    let url = support::file_url(&sb.bare("registry"));
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let refs = atoms::remote_atom_refs(&url);
    let source = repo.head();
    atoms::check_atom(&sb, &repo, &refs, &source, "pkgs/hello", "hello", "0.1.0");
    atoms::check_atom(
        &sb,
        &repo,
        &refs,
        &source,
        "tools/x",
        "my-tool",
        "1.2.3-rc.1",
    );
}

#[test]
fn refuses_existing_atom_toml() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("work/a");
    std::fs::write(dir.join("atom.toml"), "# mine\n").unwrap();
    let run = sb
        .eka(sb.path(), &["new", "work/a", "--version", "2.0.0"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::exists

      × `work/a/atom.toml` already exists
      help: edit the existing atom.toml instead
    ");
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn invalid_directory_name_suggests_label() {
    let sb = Sandbox::new();
    let run = sb.eka(sb.path(), &["new", "9lives"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::label

      × invalid label `9lives`: invalid start '9'
      help: the directory name is not a valid label; pass one with --label
    ");
    assert!(
        !sb.path().join("9lives").exists(),
        "created despite the error"
    );

    let run = sb
        .eka(sb.path(), &["new", "9lives", "--label", "lives"])
        .assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `lives` 0.1.0 in 9lives
    --- stderr ---
    next:
      git init                                   # atoms live in a git repository
      echo '{ Hello = "world"; }' > 9lives/mod.nix  # its code: a module
      git add 9lives && git commit -m 'lives 0.1.0'
      eka publish 9lives --remote <remote>       # a git remote's name or URL
    "#);
    assert!(sb.path().join("9lives/atom.toml").is_file());
}

#[test]
fn invalid_label_option() {
    let sb = Sandbox::new();
    let run = sb
        .eka(sb.path(), &["new", "x", "--label", "has space"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::label

      × invalid label `has space`: invalid characters ' '
      help: a label starts with a letter and continues with letters, digits, `_`
            or `-`
    ");
    assert!(!sb.path().join("x").exists());
}

#[test]
fn bad_version() {
    let sb = Sandbox::new();
    let new_with = |version: &str| {
        let run = sb
            .eka(sb.path(), &["new", "x", "--version", version])
            .assert_failure();
        assert!(!sb.path().join("x").exists());
        run
    };
    assert_cli_snapshot!(sb, new_with("latest"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::version

      × invalid version `latest`: unexpected character 'l' while parsing major
      │ version number
      help: versions are semantic versions, like 0.1.0 or 1.0.0-rc.1
    ");
    assert_cli_snapshot!(sb, new_with("1.0.0.0"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::version

      × invalid version `1.0.0.0`: unexpected character '.' after patch version
      │ number
      help: versions are semantic versions, like 0.1.0 or 1.0.0-rc.1
    ");
    assert_cli_snapshot!(sb, new_with("1.0"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::new::version

      × invalid version `1.0`: unexpected end of input while parsing minor version
      │ number
      help: versions are semantic versions, like 0.1.0 or 1.0.0-rc.1
    ");
}

/// `eka new .` names the atom after the current directory.
#[test]
fn new_in_current_directory() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("greeting");
    std::fs::write(dir.join("other.txt"), "kept\n").unwrap();
    let run = sb.eka(&dir, &["new", "."]).assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    Created atom `greeting` 0.1.0 in .
    --- stderr ---
    next:
      git init                                   # atoms live in a git repository
      echo '{ Hello = "world"; }' > ./mod.nix  # its code: a module
      git add . && git commit -m 'greeting 0.1.0'
      eka publish . --remote <remote>       # a git remote's name or URL
    "#);
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        support::atom_toml("greeting", "0.1.0")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("other.txt")).unwrap(),
        "kept\n"
    );
}
