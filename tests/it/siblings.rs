//! End-to-end: atoms of one repository (the set `"::"`) beside registry
//! atoms in one manifest and one lock, as path and registry dependencies
//! are in Cargo (issue 14, dead end 1): `eka add`, `lock`, `lock --check`,
//! `eval`, `fetch`, `update` and `publish` in the repository, then a
//! consumer in another repository that depends on the published atom and
//! evaluates it, its `::` dependency resolved to the version its
//! repository published. And the work tree as git would commit it: a
//! build's `result` link that `.gitignore` names is not part of the atom.

use std::path::Path;

use crate::support::{assert_cli_snapshot, GitServer, RegistryBuilder, Repo, Sandbox, Transport};

/// The registry `r`: `c` and `d` 1.0.0, each with a `word`.
fn registry_r(sb: &Sandbox, server: &GitServer) -> String {
    RegistryBuilder::new(sb, server)
        .name("r")
        .source("r-source")
        .atom("c", "1.0.0")
        .file("mod.nix", "{ Word = \"c1.0\"; }\n")
        .atom("d", "1.0.0")
        .file("mod.nix", "{ Word = \"d1.0\"; }\n")
        .build()
        .url
}

/// A repository with `a` (depending on its sibling `b` through `"::"`)
/// and `b`, both committed, neither with dependencies on a registry yet.
fn workspace(sb: &Sandbox) -> Repo {
    let repo = sb.repo("work");
    repo.write(
        "app/a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nb = \"^0.1\"\n",
    )
    .write(
        "app/a/mod.nix",
        "{ Out = \"${deps.from.here.b.msg} ${deps.from.r.c.word}\"; }\n",
    )
    .write("lib/b/atom.toml", "[package]\nlabel = \"b\"\nversion = \"0.1.0\"\n")
    .write("lib/b/mod.nix", "{ Msg = \"b+${deps.from.r.d.word}\"; }\n");
    repo.commit("a and b");
    repo
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Publishes `label` `version` with `word` to the registry `r` (from its
/// source repository).
fn publish_r(sb: &Sandbox, url: &str, label: &str, version: &str, word: &str) {
    let source = Repo::open(&sb.path().join("r-source"));
    source
        .write(
            &format!("{label}/atom.toml"),
            format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n"),
        )
        .write(
            &format!("{label}/mod.nix"),
            format!("{{ Word = \"{word}\"; }}\n"),
        );
    source.commit(&format!("{label} {version}"));
    sb.eka(source.path(), &["publish", label, "--remote", url])
        .assert_success();
}

#[test]
fn siblings_and_registry_atoms_side_by_side() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let r = registry_r(&sb, &server);
    sb.filter(&r, "[R]");
    let published = server.create("published");
    sb.filter(&published, "[PUBLISHED]");
    let repo = workspace(&sb);
    let a = repo.path().join("app/a");
    let b = repo.path().join("lib/b");

    // A registry dependency for the sibling, then for the atom that has a
    // dependency on "::": no dead end.
    let run = sb.eka(&b, &["add", &format!("{r}::d@^1")]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding d ^1 to [deps.from.r]
      locking d 1.0.0
    wrote atom.toml and atom.lock (1 atom)
    --- stderr ---
    ");
    let run = sb.eka(&a, &["add", &format!("{r}::c@^1")]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding c ^1 to [deps.from.r]
      locking c 1.0.0
      locking d 1.0.0
    wrote atom.toml and atom.lock (2 atoms)
    --- stderr ---
    ");
    // a's lock pins what b needs too (b is evaluated with a's lock), and
    // never b itself: b is read from the same commit.
    let lock = read(&a.join("atom.lock"));
    assert!(lock.contains("label = \"d\""), "{lock}");
    assert!(!lock.contains("label = \"b\""), "{lock}");
    // No loop: lock and check agree, eval finds everything.
    let run = sb.eka(&a, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (2 atoms)
    --- stderr ---
    ");
    let run = sb.eka(&a, &["lock", "--check"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    atom.lock is up to date (2 atoms)
    --- stderr ---
    ");
    let run = sb.eka(&a, &["lock", "--check", "--all"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    2 atoms, every atom.lock in line (3 locked atoms)
    --- stderr ---
    ");
    repo.commit("locked");
    let run = sb.eka(&a, &["eval", ".", "--strict"]).assert_success();
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    { out = "b+d1.0 c1.0"; }
    --- stderr ---
    "#);
    let run = sb.eka(&a, &["fetch"]).assert_success();
    assert!(
        run.stdout.contains('c') && run.stdout.contains('d'),
        "{run}"
    );

    // New versions on the registry: update moves both a's and b's.
    publish_r(&sb, &r, "c", "1.1.0", "c1.1");
    publish_r(&sb, &r, "d", "1.1.0", "d1.1");
    let run = sb.eka(&a, &["update"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
     updating c 1.0.0 -> 1.1.0
     updating d 1.0.0 -> 1.1.0
    wrote atom.lock (2 atoms)
    --- stderr ---
    ");
    let run = sb
        .eka(&a, &["eval", ".", "--strict", "--worktree"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ out = \"b+d1.1 c1.1\"; }", "{run}");

    // The sibling asks for more: a's lock is stale until locked again.
    sb.eka(&b, &["add", &format!("{r}::c@^1.1")])
        .assert_success();
    let run = sb.eka(&a, &["lock", "--check"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::lock::stale

      × atom.lock is not in line with atom.toml:
      │   - the requirement on `c` is `^1, ^1.1` in atom.toml (`^1`) and in lib/b/
      │ atom.toml (`^1.1`) but `^1` in atom.lock
      help: run `eka lock` and commit atom.lock
    ");
    let run = sb.eka(&a, &["lock"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    wrote atom.lock (2 atoms; no locked version changed)
    --- stderr ---
    ");
    sb.eka(repo.path(), &["lock", "--check", "--all"])
        .assert_success();
    repo.commit("b needs c too");

    // Both published together; then a consumer elsewhere.
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &published])
        .assert_success();
    assert!(run.stdout.contains("published"), "{run}");
    let consumer = sb.repo("consumer");
    consumer
        .write(
            "app/atom.toml",
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
        )
        .write("app/mod.nix", "{ Got = deps.from.published.a.out; }\n");
    let app = consumer.path().join("app");
    let run = sb
        .eka(&app, &["add", &format!("{published}::a@^0.1")])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding a ^0.1 to [deps.from.published]
      locking a 0.1.0
      locking b 0.1.0
      locking c 1.1.0
      locking d 1.1.0
    wrote atom.toml and atom.lock (4 atoms)
    --- stderr ---
    ");
    consumer.commit("app");
    let run = sb.eka(&app, &["eval", ".", "--strict"]).assert_success();
    assert_eq!(run.stdout.trim(), "{ got = \"b+d1.1 c1.1\"; }", "{run}");
    // By URI, outside any project: a's `::` is the repository it came
    // from; what a's own lock pins is kept.
    let run = sb
        .eka(
            sb.path(),
            &["eval", &format!("{published}::a#out"), "--strict"],
        )
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"b+d1.1 c1.1\"", "{run}");
}

#[test]
fn bad_siblings_are_clear_errors() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let r = registry_r(&sb, &server);
    sb.filter(&r, "[R]");
    let repo = workspace(&sb);
    let a = repo.path().join("app/a");

    // A label no atom of the repository has.
    repo.write(
        "app/a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nnope = \"^0.1\"\n",
    );
    let run = sb.eka(&a, &["add", &format!("{r}::c@^1")]).assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::siblings::missing

      × `::nope` (a dependency of `a`): this repository has no atom labelled
      │ `nope`
        ╭─[[SANDBOX]/work/app/a/atom.toml:10:1]
      9 │ [deps.from.here]
     10 │ nope = "^0.1"
        · ──────┬──────
        ·       ╰── here
     11 │ 
        ╰────
      help: the set "::" names the other atoms of the same repository; check the
            label, or name the repository that publishes it in [package.sets]
    "#);
    assert!(!a.join("atom.lock").exists());
    let run = sb.eka(&a, &["add", "::nope2"]).assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::siblings::missing

      × `::nope2` (a dependency of `a`): this repository has no atom labelled
      │ `nope2`
      help: the set "::" names the other atoms of the same repository; check the
            label, or name the repository that publishes it in [package.sets]
    "#);

    // A version the requirement does not match.
    repo.write(
        "app/a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nb = \"^2\"\n",
    );
    let run = sb.eka(&a, &["lock"]).assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::siblings::unmatched

      × `::b` (a dependency of `a`) is version 0.1.0 in this repository (at lib/
      │ b), which does not match `^2`
       ╭─[[SANDBOX]/work/app/a/atom.toml:9:1]
     8 │ [deps.from.here]
     9 │ b = "^2"
       · ────┬───
       ·     ╰── here
       ╰────
      help: change the requirement in the dependent's atom.toml, or the version of
            `b`
    "#);

    // A cycle through "::".
    repo.write(
        "app/a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nb = \"^0.1\"\n",
    )
    .write(
        "lib/b/atom.toml",
        "[package]\nlabel = \"b\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\na = \"^0.1\"\n",
    );
    let run = sb.eka(&a, &["lock"]).assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::siblings::cycle

      × the atoms of this repository depend on each other through "::" in a cycle:
      │ a -> b -> a
      help: atoms may not depend on each other in a cycle; move what both need
            into a third atom
    "#);
    assert!(!a.join("atom.lock").exists());
}

/// An atom published without the sibling it needs: `eka publish` refuses
/// it, and when forced, a consumer's error names the sibling and the
/// repository.
#[test]
fn an_unpublished_sibling_is_named() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let published = server.create("published");
    sb.filter(&published, "[PUBLISHED]");
    let repo = workspace(&sb);
    // b needs nothing from a registry here.
    repo.write("lib/b/mod.nix", "{ Msg = \"b\"; }\n")
        .write("app/a/mod.nix", "{ Out = deps.from.here.b.msg; }\n");
    repo.commit("plain b");
    // Publishing a without b is refused: consumers would miss b.
    let run = sb
        .eka(repo.path(), &["publish", "app/a", "--remote", &published])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unresolvable

      × atom `app/a`: `::b` `^0.1`: no version of `b` that matches is published on
      │ this remote, nor in this publish, and consumers resolve `::` there
      help: fix the dependencies in atom.toml (`eka lock` checks them), or pass
            --no-verify to publish anyway
    ");
    sb.eka(
        repo.path(),
        &["publish", "app/a", "--remote", &published, "--no-verify"],
    )
    .assert_success();
    let consumer = sb.repo("consumer");
    consumer.write(
        "app/atom.toml",
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
    );
    let app = consumer.path().join("app");
    let run = sb
        .eka(&app, &["add", &format!("{published}::a@^0.1")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::conflict

      × the dependencies cannot be satisfied:
      │ Because a 0.1.0 depends on b ^0.1 and app (atom.toml) 0.1.0 depends on a
      │ ^0.1, app (atom.toml) 0.1.0 is forbidden.
      │   (a in [PUBLISHED] has 0.1.0)
      │   (b in [PUBLISHED] has no
      │ versions)
      help: relax one of the clashing requirements above
    ");
    let run = sb
        .eka(sb.path(), &["eval", &format!("{published}::a#out")])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::resolve::no_such_atom

      × [PUBLISHED] publishes no atom `b`
    ");
}

/// `--worktree` sees what git would commit: a build's `result` link named
/// by `.gitignore` is not part of the atom (flakes see tracked files
/// only); one git would commit is still refused, as publish would.
#[test]
fn the_work_tree_is_what_git_would_commit() {
    let sb = Sandbox::new();
    let repo = workspace(&sb);
    repo.write("lib/b/mod.nix", "{ Msg = \"b\"; }\n");
    let b = repo.path().join("lib/b");
    repo.symlink(
        "lib/b/result",
        "/nix/store/00000000000000000000000000000000-b",
    );
    let run = sb
        .eka(&b, &["eval", ".", "--worktree", "--strict"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × b@0.1.0: 'result' is a symbolic link; atoms may not contain symlinks

    Error: 
      × in b@0.1.0 at the root module
    ");
    repo.write(".gitignore", "result\n");
    let run = sb
        .eka(&b, &["eval", ".", "--worktree", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ msg = \"b\"; }", "{run}");
    // An ignored .nix file is no member; an untracked one is.
    repo.write(".gitignore", "result\nScratch.nix\n")
        .write("lib/b/Scratch.nix", "throw \"ignored\"\n")
        .write("lib/b/New.nix", "\"new\"\n");
    let run = sb
        .eka(&b, &["eval", ".", "--worktree", "--strict"])
        .assert_success();
    assert_eq!(
        run.stdout.trim(),
        "{ msg = \"b\"; new = \"new\"; }",
        "{run}"
    );
    // A sibling not committed yet is found in the work tree, by `eka add`
    // (`::label`, the requirement its version) and by eval.
    repo.write(
        "lib/e/atom.toml",
        "[package]\nlabel = \"e\"\nversion = \"0.1.0\"\n",
    )
    .write("lib/e/mod.nix", "{ E = 5; }\n")
    .write("app/a/mod.nix", "{ Out = deps.from.here.e.e + 1; }\n");
    let a = repo.path().join("app/a");
    let run = sb.eka(&a, &["add", "::e"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
       adding e ^0.1.0 to [deps.from.here]
    wrote atom.toml and atom.lock (0 atoms; no locked version changed)
    --- stderr ---
    ");
    assert_eq!(
        read(&a.join("atom.toml")),
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\nb = \"^0.1\"\ne = \"^0.1.0\"\n"
    );
    let run = sb
        .eka(&a, &["eval", ".", "--worktree", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ out = 6; }", "{run}");
    // Ignored, it is no atom of the repository.
    repo.write(".gitignore", "result\nScratch.nix\nlib/e/\n");
    let run = sb
        .eka(&a, &["eval", ".", "--worktree", "--strict"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × `here::e`: this repository has no atom labelled `e`

    Error: 
      × in a@0.1.0, loading `deps.from.here.e`

    Error: 
      × while evaluating the attribute 'e'
       ╭─[a@0.1.0/mod.nix:1:9]
     1 │ { Out = deps.from.here.e.e + 1; }
       ·         ─────────┬────────
       ·                  ╰── 
       ╰────

    Error: 
      × in a@0.1.0 at Out

    Error: 
      × while evaluating the attribute 'out'
    ");
}
