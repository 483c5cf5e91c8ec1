//! End-to-end tests of `eka new`: scaffolding an atom, and refusing to.

use crate::support::atoms;
use crate::support::{self, Sandbox};

#[test]
fn creates_atom_toml() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    let run = sb.eka(repo.path(), &["new", "pkgs/hello"]).assert_success();
    assert!(run.stdout.contains("Created atom `hello` 0.1.0"), "{run}");
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
    assert!(run.stderr.contains("already exists"), "{run}");
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn invalid_directory_name_suggests_label() {
    let sb = Sandbox::new();
    let run = sb.eka(sb.path(), &["new", "9lives"]).assert_failure();
    assert!(run.stderr.contains("invalid label `9lives`"), "{run}");
    assert!(run.stderr.contains("--label"), "{run}");
    assert!(
        !sb.path().join("9lives").exists(),
        "created despite the error"
    );

    let run = sb
        .eka(sb.path(), &["new", "9lives", "--label", "lives"])
        .assert_success();
    assert!(run.stdout.contains("`lives`"), "{run}");
    assert!(sb.path().join("9lives/atom.toml").is_file());
}

#[test]
fn invalid_label_option() {
    let sb = Sandbox::new();
    let run = sb
        .eka(sb.path(), &["new", "x", "--label", "has space"])
        .assert_failure();
    assert!(run.stderr.contains("invalid label `has space`"), "{run}");
    assert!(run.stderr.contains("' '"), "{run}");
    assert!(!sb.path().join("x").exists());
}

#[test]
fn bad_version() {
    let sb = Sandbox::new();
    for bad in ["1.0", "latest", "1.0.0.0"] {
        let run = sb
            .eka(sb.path(), &["new", "x", "--version", bad])
            .assert_failure();
        assert!(
            run.stderr.contains(&format!("invalid version `{bad}`")),
            "{run}"
        );
        assert!(!sb.path().join("x").exists());
    }
    let run = sb
        .eka(sb.path(), &["new", "x", "--version", "1.0"])
        .assert_failure();
    insta::assert_snapshot!("new_bad_version", atoms::transcript(&sb, &run));
}

/// `eka new .` names the atom after the current directory.
#[test]
fn new_in_current_directory() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("greeting");
    std::fs::write(dir.join("other.txt"), "kept\n").unwrap();
    let run = sb.eka(&dir, &["new", "."]).assert_success();
    assert!(run.stdout.contains("`greeting`"), "{run}");
    assert_eq!(
        std::fs::read_to_string(dir.join("atom.toml")).unwrap(),
        support::atom_toml("greeting", "0.1.0")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("other.txt")).unwrap(),
        "kept\n"
    );
}
