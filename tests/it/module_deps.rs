//! End-to-end: `deps.from.<set>.<label>` through the lockfile. Atoms are
//! published to a registry on a real server, locked by a consumer, fetched
//! into the cache by `eka eval` itself, and composed lazily; an atom named
//! by URI is evaluated with the dependencies its own atom.lock pins.

use crate::support::{self, assert_cli_snapshot, RegistryBuilder, Repo, Sandbox, Transport};

fn manifest(label: &str, version: &str, url: &str, deps: &[&str]) -> String {
    let mut s = format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n");
    if !deps.is_empty() {
        s.push_str(&format!(
            "\n[package.sets]\nreg = \"{url}\"\n\n[deps.from.reg]\n"
        ));
        for d in deps {
            s.push_str(&format!("{d} = \"^1\"\n"));
        }
    }
    s
}

/// A registry with `greet` 1.0.0, then `words` 1.0.0 (which depends on
/// greet and is published with its atom.lock) and `both` 1.0.0 (which
/// depends on greet through "::", its own repository, and is published
/// without a lock).
fn registry(sb: &Sandbox, transport: Transport) -> (support::GitServer, String, Repo) {
    let server = sb.server(transport);
    let reg = RegistryBuilder::new(sb, &server)
        .atom("greet", "1.0.0")
        .dir("lib/greet")
        .file(
            "mod.nix",
            "{ Hello = name: \"hello ${name}\"; Version = cfg.package.version; secret = 42; }\n",
        )
        .release()
        .atom("words", "1.0.0")
        .dir("lib/words")
        .dep("greet", "^1")
        .file(
            "mod.nix",
            "{ Greeting = deps.from.reg.greet.hello \"world\"; }\n",
        )
        .locked()
        .atom("both", "1.0.0")
        .dir("lib/both")
        .dep_from("here", "::", "greet", "^1")
        .file(
            "mod.nix",
            "{ Twice = let h = deps.from.here.greet.hello; in [ (h \"a\") (h \"b\") ]; }\n",
        )
        .build();
    (server, reg.url, reg.source)
}

fn consumer(sb: &Sandbox, url: &str, extra_dep: bool) -> Repo {
    let repo = sb.repo("consumer");
    let mut m = manifest("app", "0.1.0", url, &["words", "greet"]);
    repo.write("app/atom.toml", &m).write(
        "app/mod.nix",
        "{ Out = deps.from.reg.words.greeting; V = deps.from.reg.greet.version; }\n",
    );
    sb.eka(&repo.path().join("app"), &["lock"]).assert_success();
    if extra_dep {
        // Declared after locking: not in atom.lock.
        m.push_str("other = \"^1\"\n");
        repo.write("app/atom.toml", &m)
            .write("app/Other.nix", "deps.from.reg.other\n");
    }
    repo.commit("app");
    repo
}

fn deps_through_the_lock(transport: Transport) {
    let sb = Sandbox::new();
    let (_server, url, mono) = registry(&sb, transport);
    // One snapshot for every transport.
    sb.filter(&url, "[URL]");
    let repo = consumer(&sb, &url, true);
    let app = repo.path().join("app");
    let app_arg = app.to_str().unwrap();

    // The locked atoms are fetched by eval itself, then read from the cache.
    let run = sb
        .eka(repo.path(), &["eval", "app#out", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"hello world\"");
    let run = sb
        .eka(
            repo.path(),
            &["eval", &format!("{app_arg}#v"), "--strict", "--offline"],
        )
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"1.0.0\"");

    // A dependency's private names are not part of its API.
    repo.write("app/Peek.nix", "deps.from.reg.greet.secret\n");
    repo.commit("peek");
    let run = sb
        .eka(repo.path(), &["eval", "app#peek", "--strict", "--offline"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × attribute 'secret' missing
       ╭─[app@0.1.0/Peek.nix:1:1]
     1 │ deps.from.reg.greet.secret
       · ─────────────┬────────────
       ·              ╰── here
       ╰────

    Error: 
      × in app@0.1.0 at Peek
    ");

    // Declared in the manifest but not in the lock: a clear error, only
    // when used.
    let run = sb
        .eka(repo.path(), &["eval", "app#other", "--strict", "--offline"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::deps::not_locked

      × `reg::other` is declared in atom.toml but not in atom.lock
      help: run `eka lock`

    Error: 
      × in app@0.1.0, loading `deps.from.reg.other`

    Error: 
      × while evaluating the attribute 'other'
       ╭─[app@0.1.0/Other.nix:1:1]
     1 │ deps.from.reg.other
       · ─────────┬─────────
       ·          ╰── 
       ╰────

    Error: 
      × in app@0.1.0 at Other
    ");
    let run = sb
        .eka(repo.path(), &["eval", "app#out", "--strict", "--offline"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"hello world\"");

    // By URI: resolved from the ref listing, fetched, and composed with the
    // dependencies of the atom's own atom.lock.
    let run = sb
        .eka(
            repo.path(),
            &["eval", &format!("{url}::words@^1"), "--strict"],
        )
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ greeting = \"hello world\"; }");
    let run = sb
        .eka(
            repo.path(),
            &["eval", &format!("{url}::greet#hello"), "--strict"],
        )
        .assert_success();
    assert_eq!(run.stdout.trim(), "<LAMBDA>");
    let run = sb
        .eka(
            repo.path(),
            &["eval", &format!("{url}::greet@^2"), "--strict"],
        )
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::registry::no_match

      × no version of `greet` matches `^2`; available: 1.0.0
      help: loosen the requirement, or leave out `@…` to take the newest
    ");

    // A newer greet is published: inside the project the URI means the
    // locked version (offline too), elsewhere the newest.
    mono.write("lib/greet/atom.toml", manifest("greet", "1.1.0", &url, &[]));
    mono.commit("greet 1.1.0");
    sb.eka(mono.path(), &["publish", "lib/greet", "--remote", &url])
        .assert_success();
    let uri = format!("{url}::greet#version");
    let run = sb.eka(&app, &["eval", &uri]).assert_success();
    assert_eq!(run.stdout.trim(), "\"1.0.0\"");
    let run = sb.eka(&app, &["eval", &uri, "--offline"]).assert_success();
    assert_eq!(run.stdout.trim(), "\"1.0.0\"");
    let run = sb.eka(repo.path(), &["eval", &uri]).assert_success();
    assert_eq!(run.stdout.trim(), "\"1.1.0\"");
    // The project's lock also serves the dependencies of a locked atom.
    let run = sb
        .eka(
            &app,
            &["eval", &format!("{url}::words#greeting"), "--offline"],
        )
        .assert_success();
    assert_eq!(run.stdout.trim(), "\"hello world\"");
}

#[test]
fn deps_through_the_lock_file() {
    deps_through_the_lock(Transport::File);
}

#[test]
fn deps_through_the_lock_http() {
    deps_through_the_lock(Transport::Http);
}

#[test]
fn missing_from_the_cache_offline_says_fetch() {
    let sb = Sandbox::new();
    let (_server, url, _mono) = registry(&sb, Transport::File);
    let repo = consumer(&sb, &url, false);
    // A cache of its own, empty: locking above filled the default one.
    let cache = sb.mkdir("empty-cache");
    let eka = |dir: &std::path::Path, args: &[&str]| {
        let mut cmd = sb.eka_command(dir);
        cmd.args(args).env("XDG_CACHE_HOME", &cache);
        sb.run(cmd)
    };
    // Nothing fetched yet, and --offline may not fetch.
    let run = eka(repo.path(), &["eval", "app#out", "--strict", "--offline"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × the cache at [SANDBOX]/empty-cache/eka is empty

    Error: 
      × in app@0.1.0, loading `deps.from.reg.words`

    Error: 
      × while evaluating the attribute 'words'
       ╭─[app@0.1.0/mod.nix:1:9]
     1 │ { Out = deps.from.reg.words.greeting; V = deps.from.reg.greet.version; }
       ·         ──────────────┬─────────────
       ·                       ╰── 
       ╰────

    Error: 
      × in app@0.1.0 at Out
    ");
    // Names need no dependency, so they work offline.
    let run = eka(repo.path(), &["eval", "app", "--names", "--offline"]).assert_success();
    assert_eq!(run.stdout.trim(), "out\nv");
    eka(&repo.path().join("app"), &["fetch"]).assert_success();
    let run = eka(repo.path(), &["eval", "app#out", "--strict", "--offline"]).assert_success();
    assert_eq!(run.stdout.trim(), "\"hello world\"");
}

#[test]
fn sibling_atoms_through_the_local_set() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write("a/atom.toml", "[package]\nlabel = \"a\"\nversion = \"1.2.0\"\n")
        .write("a/mod.nix", "{ X = 1; }\n")
        .write(
            "b/c/atom.toml",
            "[package]\nlabel = \"b\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\na = \"^1\"\n",
        )
        .write("b/c/mod.nix", "{ Y = deps.from.here.a.x + 1; }\n")
        .write(
            "d/atom.toml",
            "[package]\nlabel = \"d\"\nversion = \"0.1.0\"\n\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\na = \"^2\"\n",
        )
        .write("d/mod.nix", "{ Z = deps.from.here.a.x; }\n");
    repo.commit("atoms");
    let run = sb
        .eka(repo.path(), &["eval", "b/c", "--strict"])
        .assert_success();
    assert_eq!(run.stdout.trim(), "{ y = 2; }");
    let run = sb
        .eka(repo.path(), &["eval", "d", "--strict"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
      × `here::a` is version 1.2.0 in this repository (at a), which does not match
      │ `^2`

    Error: 
      × in d@0.1.0, loading `deps.from.here.a`

    Error: 
      × while evaluating the attribute 'a'
       ╭─[d@0.1.0/mod.nix:1:7]
     1 │ { Z = deps.from.here.a.x; }
       ·       ─────────┬────────
       ·                ╰── 
       ╰────

    Error: 
      × in d@0.1.0 at Z

    Error: 
      × while evaluating the attribute 'z'
    ");
}

#[test]
fn deps_through_the_lock_ssh() {
    deps_through_the_lock(Transport::Ssh);
}
