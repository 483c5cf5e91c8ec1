//! End-to-end: hostile remotes and concurrent or interrupted runs. A
//! locked version rewritten on its remote is never re-pinned silently;
//! nothing is lost or half written.

use std::path::Path;

use crate::support::{git, git_stdin, GitServer, Registry, RegistryBuilder, Sandbox, Transport};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A registry with `b` 1.0.0 and 2.0.0 and `d` 1.0.0.
fn registry(sb: &Sandbox, server: &GitServer) -> Registry {
    RegistryBuilder::new(sb, server)
        .atom("b", "1.0.0")
        .file("data.txt", "one")
        .atom("d", "1.0.0")
        .release()
        .atom("b", "2.0.0")
        .build()
}

/// Republishes `b@1.0.0` of `reg` with other content, and makes the
/// registry's refs of it point there (a remote rewriting a published
/// version). Returns the new atom commit.
fn rewrite_b(sb: &Sandbox, server: &GitServer, reg: &Registry) -> String {
    let other = server.create("other");
    reg.source.write(
        "b/atom.toml",
        "[package]\nlabel = \"b\"\nversion = \"1.0.0\"\n",
    );
    reg.source.write("b/data.txt", "rewritten");
    reg.source.commit("b@1.0.0 again");
    // The source repository's own record of the first publish.
    for name in git(
        reg.source.path(),
        &["for-each-ref", "--format=%(refname)", "refs/atoms/"],
    )
    .lines()
    {
        if name.contains("/b/") {
            git(reg.source.path(), &["update-ref", "-d", name]);
        }
    }
    sb.eka(reg.source.path(), &["publish", "--remote", &other, "b"])
        .assert_success();
    let other_path = server.path("other");
    let other_path = other_path.to_str().unwrap();
    git(
        &reg.path,
        &["fetch", other_path, "+refs/atoms/*:refs/atoms/*"],
    );
    git(&reg.path, &["rev-parse", "refs/atoms/b/1.0.0"])
}

#[test]
fn a_rewritten_version_is_never_repinned_silently() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = registry(&sb, &server);
    let dir = sb.consumer("app");
    sb.eka(&dir, &["add", &format!("{}::b@=1.0.0", reg.url)])
        .assert_success();
    sb.eka(&dir, &["add", &format!("{}::d", reg.url)])
        .assert_success();
    let locked = git(&reg.path, &["rev-parse", "refs/atoms/b/1.0.0"]);
    let now = rewrite_b(&sb, &server, &reg);
    assert_ne!(locked, now);
    let manifest = read(&dir.join("atom.toml"));
    let lock = read(&dir.join("atom.lock"));
    let refused = |args: &[&str]| {
        let run = sb.eka(&dir, args).assert_failure();
        assert!(
            run.stderr.contains("eka::project::rewritten"),
            "{args:?}: {run}"
        );
        assert!(
            run.stderr.contains("b@1.0.0 was rewritten"),
            "{args:?}: {run}"
        );
        // The commits are computed by git, so checked as substrings.
        assert!(run.stderr.contains(&locked), "{args:?}: {run}");
        assert!(run.stderr.contains(&now), "{args:?}: {run}");
        assert!(run.stderr.contains("eka update b"), "{args:?}: {run}");
    };
    // Every command that resolves refuses, and changes nothing.
    refused(&["update", "d"]);
    refused(&["update"]);
    refused(&["add", &format!("{}::d@=1.0.0", reg.url)]);
    // A requirement edited by hand, then `eka lock`.
    std::fs::write(
        dir.join("atom.toml"),
        manifest.replace("d = \"^1.0.0\"", "d = \"^1\""),
    )
    .unwrap();
    refused(&["lock"]);
    std::fs::write(dir.join("atom.toml"), &manifest).unwrap();
    assert_eq!(read(&dir.join("atom.lock")), lock);
    // Naming it accepts the new commit, with a warning.
    let run = sb.eka(&dir, &["update", "b"]).assert_success();
    assert!(run.stderr.contains("re-pinned"), "{run}");
    assert!(read(&dir.join("atom.lock")).contains(&now));
    sb.eka(&dir, &["fetch"]).assert_success();
}

/// SemVer: build metadata does not make another version. `eka publish`
/// refuses `1.0.0+zzz` beside a published `1.0.0` (and the reverse), and a
/// registry that has both anyway (pushed by other means) has neither
/// locked: `@=1.0.0` fails naming both, `^1` takes another version.
#[test]
fn build_metadata_never_swaps_content_under_one_version() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("lib", "0.9.0")
        .release()
        .atom("lib", "1.0.0")
        .file("data.txt", "one")
        .build();
    let publish_as = |version: &str, data: &str, remote: &str| {
        reg.source.write(
            "lib/atom.toml",
            format!("[package]\nlabel = \"lib\"\nversion = \"{version}\"\n"),
        );
        reg.source.write("lib/data.txt", data);
        reg.source.commit(version);
        sb.eka(reg.source.path(), &["publish", "--remote", remote, "lib"])
    };
    let refs_before = git(&reg.path, &["for-each-ref"]);
    let run = publish_as("1.0.0+zzz", "other", &reg.url).assert_failure();
    assert!(
        run.stderr.contains("atom::publish::version_conflict"),
        "{run}"
    );
    assert_eq!(git(&reg.path, &["for-each-ref"]), refs_before);
    // The reverse: `2.0.0+a` first, then `2.0.0`.
    publish_as("2.0.0+a", "two", &reg.url).assert_success();
    let refs_before = git(&reg.path, &["for-each-ref"]);
    let run = publish_as("2.0.0", "another two", &reg.url).assert_failure();
    assert!(
        run.stderr.contains("atom::publish::version_conflict"),
        "{run}"
    );
    assert_eq!(git(&reg.path, &["for-each-ref"]), refs_before);
    // A registry that has both anyway.
    let other = server.create("other");
    publish_as("1.0.0+zzz", "other", &other).assert_success();
    let other_path = server.path("other");
    git(
        &reg.path,
        &[
            "fetch",
            other_path.to_str().unwrap(),
            "refs/atoms/lib/*:refs/atoms/lib/*",
            "refs/atoms/_manifest/lib/*:refs/atoms/_manifest/lib/*",
            "refs/atoms/_origin/lib/*:refs/atoms/_origin/lib/*",
        ],
    );
    assert!(git(&reg.path, &["for-each-ref"]).contains("refs/atoms/lib/1.0.0+zzz"));
    let dir = sb.consumer("app");
    let run = sb
        .eka(&dir, &["add", &format!("{}::lib@=1.0.0", reg.url)])
        .assert_failure();
    assert!(
        run.stderr.contains("eka::resolve::published_twice"),
        "{run}"
    );
    assert!(run.stderr.contains("1.0.0+zzz, 1.0.0"), "{run}");
    assert!(!dir.join("atom.lock").exists());
    let run = sb
        .eka(&dir, &["add", &format!("{}::lib@^0.9", reg.url)])
        .assert_success();
    assert!(
        read(&dir.join("atom.lock")).contains("version = \"0.9.0\""),
        "{run}"
    );
}

/// Two `eka add` at once in one project: the second waits for the first
/// (the project's write lock), so both dependencies survive. Before the
/// lock, one of the two was lost in most rounds.
#[test]
fn concurrent_adds_in_one_project_both_survive() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let mut reg = RegistryBuilder::new(&sb, &server);
    let labels: Vec<String> = (0..6).map(|i| format!("l{i}")).collect();
    for l in &labels {
        reg = reg.atom(l, "1.0.0");
    }
    let reg = reg.build();
    let dir = sb.consumer("app");
    for pair in labels.chunks(2) {
        let runs: Vec<_> = std::thread::scope(|s| {
            let spawned: Vec<_> = pair
                .iter()
                .map(|l| {
                    let uri = format!("{}::{l}", reg.url);
                    let sb = &sb;
                    let dir = &dir;
                    s.spawn(move || sb.eka(dir, &["add", &uri]))
                })
                .collect();
            spawned.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for run in runs {
            run.assert_success();
        }
    }
    let manifest = read(&dir.join("atom.toml"));
    let lock = read(&dir.join("atom.lock"));
    for l in &labels {
        assert!(
            manifest.contains(&format!("{l} = \"^1.0.0\"")),
            "{l}:\n{manifest}"
        );
        assert!(lock.contains(&format!("label = \"{l}\"")), "{l}:\n{lock}");
    }
    sb.eka(&dir, &["lock", "--check"]).assert_success();
}

/// `atom.lock` or `atom.toml` that is a FIFO is refused at once by every
/// command, never opened (which blocked until the test's timeout).
#[test]
fn a_fifo_in_place_of_the_lock_is_refused() {
    let sb = Sandbox::new();
    let dir = sb.consumer("app");
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("atom.lock"))
        .status()
        .unwrap();
    assert!(made.success());
    for args in [&["lock"][..], &["lock", "--check"], &["fetch"], &["update"]] {
        let run = sb.eka(&dir, args).assert_failure();
        assert!(run.stderr.contains("not a regular file"), "{args:?}: {run}");
    }
}

/// The temporaries of a writer killed before its rename are removed by
/// the next command that writes the project.
#[test]
fn stale_temporaries_are_cleaned_by_the_next_writer() {
    let sb = Sandbox::new();
    let dir = sb.consumer("app");
    for name in [".atom.lock.Ab12Cd", ".atom.toml.x9Y8z7"] {
        std::fs::write(dir.join(name), "half").unwrap();
    }
    sb.eka(&dir, &["lock"]).assert_success();
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["atom.lock", "atom.toml"]);
}

/// A manifest blob holding terminal escapes (set the window title, turn
/// text red, clear the screen) is shown escaped by `eka show`, never sent
/// to the terminal raw; `--json` has the text as it is, JSON-escaped.
#[test]
fn terminal_escapes_from_a_manifest_are_shown_escaped() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = registry(&sb, &server);
    let hostile = "[package]\nlabel = \"d\"\nversion = \"1.0.0\"\n# \u{1b}]0;owned\u{7}\u{1b}[31mred\u{1b}[2J\u{9b}0m\n";
    let blob = git_stdin(
        &reg.path,
        &["hash-object", "-w", "--stdin"],
        hostile.as_bytes(),
    );
    git(
        &reg.path,
        &["update-ref", "refs/atoms/_manifest/d/1.0.0", &blob],
    );
    let run = sb
        .eka(sb.path(), &["show", &format!("{}::d@1.0.0", reg.url)])
        .assert_success();
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{9b}'),
        "{run}"
    );
    assert!(!run.stderr.contains('\u{1b}'), "{run}");
    assert!(
        run.stdout
            .contains("# \\u{1b}]0;owned\\u{7}\\u{1b}[31mred\\u{1b}[2J\\u{9b}0m\n"),
        "{run}"
    );
    let run = sb
        .eka(
            sb.path(),
            &["--json", "show", &format!("{}::d@1.0.0", reg.url)],
        )
        .assert_success();
    assert!(run.stdout.contains("\\u001b]0;owned"), "{run}");
}

/// An error's snippet of a file (here `atom.toml`, with an OSC that sets
/// the terminal's title where a version should be) shows the file's
/// terminal controls escaped, as messages do, its label still under the
/// value. miette printed the bytes raw.
#[test]
fn terminal_escapes_in_an_error_snippet_are_shown_escaped() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("app");
    std::fs::write(
        dir.join("atom.toml"),
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\u{1b}]0;title\u{7}\"\n",
    )
    .unwrap();
    let run = sb.eka(&dir, &["lock"]).assert_failure();
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{run}"
    );
    assert!(
        run.stderr
            .contains(r#"version = "0.1.0\u{1b}]0;title\u{7}""#),
        "{run}"
    );
    // The label still points at what it pointed at (the ESC, which TOML
    // refuses in a string), now shown as `\u{1b}`: the underline starts
    // under its `\` and is as long.
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(r#"version = "0.1.0\u{1b}"#))
        .expect("the snippet's line");
    let column = |l: &str, byte: usize| l[..byte].chars().count();
    let esc = column(lines[at], lines[at].find(r"\u{1b}").unwrap());
    let under: Vec<char> = lines[at + 1].chars().collect();
    let start = under.iter().position(|c| *c == '─').expect("an underline");
    let len = under[start..]
        .iter()
        .take_while(|c| matches!(c, '─' | '┬'))
        .count();
    assert_eq!((start, len), (esc, r"\u{1b}".len()), "{run}");
}
