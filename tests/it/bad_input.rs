//! End-to-end tests of `eka publish` on bad input: each gets a clear error,
//! a non-zero exit, and nothing is lost or half done (local refs, remote
//! refs and objects checked with git).

use std::path::PathBuf;

use crate::support::atoms;
use crate::support::atoms::{
    count_pushes, local_atom_refs, object_counts, push_count, remote_atom_refs,
};
use crate::support::{
    self, assert_cli_snapshot, fsck, reject_pushes, unreachable_url, Repo, Run, Sandbox, Transport,
};

/// A repository with one good atom `a` (committed) and a bare remote.
struct Setup {
    sb: Sandbox,
    repo: Repo,
    bare: PathBuf,
    url: String,
}

fn setup() -> Setup {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    count_pushes(&bare);
    let url = support::file_url(&bare);
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0").write("a/a.txt", "a\n");
    repo.commit("a");
    Setup {
        sb,
        repo,
        bare,
        url,
    }
}

impl Setup {
    fn publish(&self, args: &[&str]) -> Run {
        let mut all = vec!["publish", "--remote", &self.url];
        all.extend_from_slice(args);
        self.sb.eka(self.repo.path(), &all)
    }

    /// Asserts the command failed (cleanly: see [`assert_clean_error`]),
    /// wrote no ref anywhere and pushed nothing; returns the run.
    fn assert_refused(
        &self,
        run: Run,
        remote_before: &[(String, String)],
        local_before: &[(String, String)],
    ) -> Run {
        let run = run.assert_failure();
        assert_clean_error(&run.stderr);
        assert_eq!(
            remote_atom_refs(&self.url),
            remote_before,
            "remote refs changed:\n{run}"
        );
        assert_eq!(
            local_atom_refs(&self.repo),
            local_before,
            "local refs changed:\n{run}"
        );
        assert!(
            run.stdout.is_empty() || run.stdout.trim().is_empty(),
            "{run}"
        );
        run
    }
}

/// An error message is a one-place story: no panic, no backtrace.
fn assert_clean_error(stderr: &str) {
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

#[test]
fn path_without_atom_toml() {
    let s = setup();
    s.repo.write("docs/readme.txt", "no atom here\n");
    s.repo.commit("docs");
    let run = s.assert_refused(s.publish(&["docs"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::not_an_atom

      × `docs` is not an atom directory in HEAD (201c1a31140f) (atoms there: a)
      help: publish reads committed trees only: commit the atom first, or check
            the path
    ");
    let run = s.assert_refused(s.publish(&["nope"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::not_an_atom

      × `nope` is not an atom directory in HEAD (201c1a31140f) (atoms there: a)
      help: publish reads committed trees only: commit the atom first, or check
            the path
    ");
    // In the work tree but not committed: still not an atom.
    s.repo.write_atom("fresh", "fresh", "0.1.0");
    let run = s.assert_refused(s.publish(&["fresh"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::not_an_atom

      × `fresh` is not an atom directory in HEAD (201c1a31140f) (atoms there: a)
      help: publish reads committed trees only: commit the atom first, or check
            the path
    ");
    assert_eq!(push_count(&s.bare), 0);
}

#[test]
fn path_outside_the_repository() {
    let s = setup();
    let run = s.assert_refused(s.publish(&["../elsewhere"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::outside

      × `../elsewhere` is outside the repository at `[SANDBOX]/mono`
      help: atom paths are directories inside the repository being published
    ");
}

#[test]
fn malformed_manifest_unknown_key() {
    let s = setup();
    s.repo.write(
        "a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\nlicence = \"MIT\"\n",
    );
    s.repo.commit("typo");
    let run = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:4:1: unknown field `licence`, expected one of `label`,
      │ `version`, `description`, `tags`, `meta`, `sets`
       ╭─[a/atom.toml:4:1]
     3 │ version = "0.1.0"
     4 │ licence = "MIT"
       · ───┬───
       ·    ╰── here
       ╰────
      help: see spec/format.md, "Manifest", for the keys atom.toml may hold
    "#);
}

#[test]
fn malformed_manifest_bad_toml() {
    let s = setup();
    s.repo
        .write("a/atom.toml", "[package]\nlabel = \"a\"\nversion = \n");
    s.repo.commit("broken");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:3:11: string values must be quoted, expected literal string
       ╭─[a/atom.toml:3:11]
     2 │ label = "a"
     3 │ version = 
       ·           ▲
       ·           ╰── here
       ╰────
      help: fix the value and try again
    "#);
}

#[test]
fn malformed_manifest_missing_package() {
    let s = setup();
    s.repo.write("a/atom.toml", "[package]\nlabel = \"a\"\n");
    s.repo.commit("no version");
    let run = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:1:1: missing field `version`
       ╭─[a/atom.toml:1:1]
     1 │ [package]
       · ────┬────
       ·     ╰── here
     2 │ label = "a"
       ╰────
      help: an atom.toml needs at least [package] with `label` and `version`
    "#);
}

/// A broken manifest of an atom that is not selected does not stop others.
#[test]
fn broken_manifest_elsewhere_does_not_block() {
    let s = setup();
    s.repo.write("b/atom.toml", "this is not toml\n");
    s.repo.commit("broken b");
    s.publish(&["a"]).assert_success();
    assert_eq!(remote_atom_refs(&s.url).len(), 4);
}

#[test]
fn invalid_label() {
    let s = setup();
    s.repo.write_atom("b", "9 b!", "0.1.0");
    s.repo.commit("bad label");
    // Every offending character is named.
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × b/atom.toml:2:9: invalid label `9 b!`: invalid start '9' and invalid
      │ characters ' !'
       ╭─[b/atom.toml:2:9]
     1 │ [package]
     2 │ label = "9 b!"
       ·         ───┬──
       ·            ╰── here
     3 │ version = "0.1.0"
       ╰────
      help: fix the value and try again
    "#);
}

#[test]
fn label_starting_with_underscore() {
    let s = setup();
    s.repo.write_atom("b", "_root", "0.1.0");
    s.repo.commit("reserved label");
    let run = s.assert_refused(s.publish(&["b"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × b/atom.toml:2:9: invalid label `_root`: invalid start '_'
       ╭─[b/atom.toml:2:9]
     1 │ [package]
     2 │ label = "_root"
       ·         ───┬───
       ·            ╰── here
     3 │ version = "0.1.0"
       ╰────
      help: fix the value and try again
    "#);
}

#[test]
fn invalid_version() {
    let s = setup();
    let publish_version = |bad: &str| {
        s.repo.write_atom("a", "a", bad);
        s.repo.commit(&format!("bad version {bad}"));
        s.assert_refused(s.publish(&["a"]), &[], &[])
    };
    assert_cli_snapshot!(s.sb, publish_version("1.0"), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:3:11: unexpected end of input while parsing minor version
      │ number
       ╭─[a/atom.toml:3:11]
     2 │ label = "a"
     3 │ version = "1.0"
       ·           ──┬──
       ·             ╰── here
       ╰────
      help: fix the value and try again
    "#);
    assert_cli_snapshot!(s.sb, publish_version("v1.0.0"), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:3:11: unexpected character 'v' while parsing major version
      │ number
       ╭─[a/atom.toml:3:11]
     2 │ label = "a"
     3 │ version = "v1.0.0"
       ·           ────┬───
       ·               ╰── here
       ╰────
      help: fix the value and try again
    "#);
    assert_cli_snapshot!(s.sb, publish_version("01.0.0"), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:3:11: invalid leading zero in major version number
       ╭─[a/atom.toml:3:11]
     2 │ label = "a"
     3 │ version = "01.0.0"
       ·           ────┬───
       ·               ╰── here
       ╰────
      help: fix the value and try again
    "#);
    assert_cli_snapshot!(s.sb, publish_version("1.0.0-"), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × a/atom.toml:3:11: empty identifier segment in pre-release identifier
       ╭─[a/atom.toml:3:11]
     2 │ label = "a"
     3 │ version = "1.0.0-"
       ·           ────┬───
       ·               ╰── here
       ╰────
      help: fix the value and try again
    "#);
}

#[test]
fn two_atoms_one_label() {
    let s = setup();
    s.repo.write_atom("x/copy", "a", "0.2.0");
    s.repo.commit("duplicate");
    // Even when only one of them is selected.
    let run = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::duplicate_label

      × two atoms have the label `a` in HEAD (41a3abc1c474): `a` and `x/copy`
      help: labels identify atoms within a repository; rename one of them
    ");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::duplicate_label

      × two atoms have the label `a` in HEAD (41a3abc1c474): `a` and `x/copy`
      help: labels identify atoms within a repository; rename one of them
    ");
}

#[test]
fn atom_toml_at_repository_root() {
    let s = setup();
    s.repo
        .write("atom.toml", support::atom_toml("root", "0.1.0"));
    s.repo.commit("root manifest");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::root_manifest

      × HEAD (8cb1fd7c1a88) has an atom.toml at the repository root, which cannot
      │ be an atom
      help: an atom is a subdirectory of the repository: move atom.toml (and the
            atom's files) into one
    ");
    let run = s.assert_refused(s.publish(&["."]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::root_manifest

      × HEAD (8cb1fd7c1a88) has an atom.toml at the repository root, which cannot
      │ be an atom
      help: an atom is a subdirectory of the repository: move atom.toml (and the
            atom's files) into one
    ");
    // The atoms below the root can still be named.
    s.publish(&["a"]).assert_success();
}

/// Publishing a version again with different content is refused before
/// anything is written or pushed, naming both commits.
#[test]
fn version_already_published_with_different_content() {
    let s = setup();
    s.repo.write_atom("b", "b", "1.0.0");
    s.repo.commit("b");
    s.publish(&["--all"]).assert_success();
    let remote = remote_atom_refs(&s.url);
    let local = local_atom_refs(&s.repo);
    assert_eq!(remote.len(), 7);
    let published_a = remote
        .iter()
        .find(|(n, _)| n == "refs/atoms/a/0.1.0")
        .unwrap()
        .1
        .clone();

    // `a` changes without a version bump; `c` is new: neither goes out.
    s.repo
        .write("a/a.txt", "changed\n")
        .write_atom("c", "c", "0.1.0");
    s.repo.commit("change a, add c");
    let objects = object_counts(s.repo.path());
    let run = s.assert_refused(s.publish(&["--all"]), &remote, &local);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::version_conflict

      × already published with different content:
      │   a@0.1.0 is 5ce4d5e9166766edfd794c8e2034699d87e8ca43 on the remote, but
      │ would be d8d93fe10c68c334311ab27bcaaf953efe796566 from this commit
      help: published versions are immutable: bump the version in atom.toml and
            commit; nothing was pushed
    ");
    // The two commits it names are the remote's and the one git computes
    // for this commit (a cross-check with git, beyond the snapshot).
    let err = &run.stderr;
    assert!(err.contains(&published_a), "the remote's commit: {err}");
    let head = s.repo.head();
    let would_be = atoms::hash_object(
        s.repo.path(),
        "commit",
        atoms::expected_commit(&s.repo.rev_parse("HEAD:a"), &head, "a", "0.1.0").as_bytes(),
        false,
    );
    assert!(err.contains(&would_be), "the local commit: {err}");
    // Naming the atoms changes nothing: the new `c` does not go out either.
    let run = s.assert_refused(s.publish(&["c", "a"]), &remote, &local);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::version_conflict

      × already published with different content:
      │   a@0.1.0 is 5ce4d5e9166766edfd794c8e2034699d87e8ca43 on the remote, but
      │ would be d8d93fe10c68c334311ab27bcaaf953efe796566 from this commit
      help: published versions are immutable: bump the version in atom.toml and
            commit; nothing was pushed
    ");
    assert_eq!(push_count(&s.bare), 1);
    assert_eq!(object_counts(s.repo.path()).2, objects.2, "commits written");
    fsck(&s.bare);
    assert_cli_snapshot!(s.sb, s.publish(&["a"]), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::version_conflict

      × already published with different content:
      │   a@0.1.0 is 5ce4d5e9166766edfd794c8e2034699d87e8ca43 on the remote, but
      │ would be d8d93fe10c68c334311ab27bcaaf953efe796566 from this commit
      help: published versions are immutable: bump the version in atom.toml and
            commit; nothing was pushed
    ");
}

/// The remote's `_root` differs: a registry of another history is refused.
#[test]
fn remote_with_another_root() {
    let s = setup();
    s.publish(&["a"]).assert_success();
    let remote = remote_atom_refs(&s.url);
    let other = s.sb.repo("other");
    other.write("first", "unrelated history\n");
    other.commit("unrelated root");
    other.write_atom("z", "z", "0.1.0");
    other.commit("z");
    let run =
        s.sb.eka(other.path(), &["publish", "z", "--remote", &s.url])
            .assert_failure();
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::root_mismatch

      × the remote's repository root is 1054c8b46ebaa3bb56312a8fb8e30519ec09364f,
      │ but this repository's is a58ed2949a884adad992859e264c6ce3efdf1a1c
      help: a registry holds atoms of one repository history; publish to a remote
            of this repository
    ");
    // The roots it names are those git finds.
    assert!(run.stderr.contains(&other.rev_parse("HEAD~1")), "{run}");
    assert!(run.stderr.contains(&s.repo.rev_parse("HEAD")), "{run}");
    assert_eq!(remote_atom_refs(&s.url), remote);
    assert_eq!(local_atom_refs(&other), vec![]);
}

fn unreachable_over(kind: Transport) {
    let s = setup();
    let url = unreachable_url(kind, "registry");
    let before = object_counts(s.repo.path());
    let run =
        s.sb.eka(s.repo.path(), &["publish", "--all", "--remote", &url])
            .assert_failure();
    // Substrings, not a snapshot: the cause eka quotes is the transport's
    // own (the OS, curl, ssh), worded differently by each and by versions.
    assert!(run.stderr.contains("cannot list refs of"), "{run}");
    assert!(run.stderr.contains("registry.git"), "{run}");
    assert_clean_error(&run.stderr);
    assert_eq!(local_atom_refs(&s.repo), vec![]);
    assert_eq!(object_counts(s.repo.path()), before);
}

#[test]
fn unreachable_file() {
    unreachable_over(Transport::File);
}

#[test]
fn unreachable_git_daemon() {
    unreachable_over(Transport::Git);
}

#[test]
fn unreachable_http() {
    unreachable_over(Transport::Http);
}

#[test]
fn unreachable_ssh() {
    unreachable_over(Transport::Ssh);
}

/// A push refused by the server: the local refs go back to what they were
/// (including refs published earlier), the remote is unchanged.
fn rejected_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("registry");
    let bare = server.path("registry");
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0");
    repo.commit("a");
    sb.eka(repo.path(), &["publish", "a", "--remote", &url])
        .assert_success();
    let remote = remote_atom_refs(&url);
    let local = local_atom_refs(&repo);
    assert_eq!(remote.len(), 4);

    reject_pushes(&bare, "registry is frozen");
    repo.write_atom("b", "b", "0.1.0");
    repo.commit("b");
    let run = sb
        .eka(repo.path(), &["publish", "b", "--remote", &url])
        .assert_failure();
    // Substrings, not a snapshot: the hook's message comes back through
    // git's push output, framed differently by each transport.
    assert!(run.stderr.contains("rejected"), "{run}");
    assert!(
        run.stderr.contains("registry is frozen"),
        "hook message: {run}"
    );
    assert_clean_error(&run.stderr);
    assert_eq!(remote_atom_refs(&url), remote, "remote changed: {run}");
    assert_eq!(
        local_atom_refs(&repo),
        local,
        "local refs not restored: {run}"
    );
    fsck(repo.path());
    fsck(&bare);
}

#[test]
fn push_rejected_file() {
    rejected_over(Transport::File);
}

#[test]
fn push_rejected_git_daemon() {
    rejected_over(Transport::Git);
}

#[test]
fn push_rejected_http() {
    rejected_over(Transport::Http);
}

#[test]
fn push_rejected_ssh() {
    rejected_over(Transport::Ssh);
}

#[test]
fn empty_repository() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = sb.repo("empty");
    repo.write_atom("a", "a", "0.1.0");
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::git::empty

      × the repository at `[SANDBOX]/empty` has no commits yet
      help: commit your atoms first: `git add . && git commit`; eka publishes
            committed trees only
    ");
    assert_eq!(local_atom_refs(&repo), vec![]);
    assert_eq!(remote_atom_refs(&url), vec![]);
}

#[test]
fn not_a_git_repository() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let dir = sb.mkdir("plain");
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/atom.toml"), support::atom_toml("a", "0.1.0")).unwrap();
    // The sandbox itself is no repository, nor any of its parents (a temp dir).
    let run = sb
        .eka(&dir, &["publish", "--all", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::git::not_a_repository

      × `[SANDBOX]/plain` is not in a git repository
      ╰─▶ Could not find a git repository in "[SANDBOX]/plain" or in any
          of its parents
      help: run eka inside a git repository (`git init`), or pass the path of one
    "#);
    assert!(!dir.join(".git").exists());
    let run = sb
        .eka(&dir, &["--json", "publish", "--all", "--remote", &url])
        .assert_failure();
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON error");
    assert_eq!(v["code"], "atom::git::not_a_repository", "{run}");
    assert!(v["error"]
        .as_str()
        .unwrap()
        .contains("not in a git repository"));
}

#[test]
fn bad_revision() {
    let s = setup();
    let run = s.assert_refused(s.publish(&["a", "--rev", "no-such-branch"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::git::revision

      × `no-such-branch` does not name a commit
      ├─▶ couldn't parse revision, input="no-such-branch"
      ╰─▶ Reference "no-such-branch" could not be found
      help: pass a branch, tag or commit id with --rev
    "#);
}

#[test]
fn symlink_outside_the_atom_is_refused() {
    let s = setup();
    s.repo
        .write("secret.txt", "outside\n")
        .symlink("a/leak", "../secret.txt");
    s.repo.commit("escaping link");
    let before = object_counts(s.repo.path());
    let run = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unsafe_tree

      × atom `a`: `leak`: the symlink points outside the atom (to `../secret.txt`)
      help: atoms are fetched by others: remove the offending entry, or point the
            symlink inside the atom
    ");
    assert_eq!(object_counts(s.repo.path()), before);

    let publish_link_to = |target: &str| {
        s.repo.remove("a/leak").symlink("a/leak", target);
        s.repo.commit(&format!("escaping link {target}"));
        s.assert_refused(s.publish(&["a"]), &[], &[])
    };
    assert_cli_snapshot!(s.sb, publish_link_to("/etc/passwd"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unsafe_tree

      × atom `a`: `leak`: the symlink's target `/etc/passwd` is absolute: it
      │ points outside the atom
      help: atoms are fetched by others: remove the offending entry, or point the
            symlink inside the atom
    ");
    assert_cli_snapshot!(s.sb, publish_link_to("sub/../../x"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unsafe_tree

      × atom `a`: `leak`: the symlink points outside the atom (to `sub/../../x`)
      help: atoms are fetched by others: remove the offending entry, or point the
            symlink inside the atom
    ");
    assert_cli_snapshot!(s.sb, publish_link_to("../a/a.txt"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::unsafe_tree

      × atom `a`: `leak`: the symlink points outside the atom (to `../a/a.txt`)
      help: atoms are fetched by others: remove the offending entry, or point the
            symlink inside the atom
    ");
}

#[test]
fn symlink_inside_the_atom_is_accepted() {
    let s = setup();
    s.repo
        .write("a/sub/file.txt", "inside\n")
        .symlink("a/link", "sub/file.txt")
        .symlink("a/sub/up", "../a.txt");
    let source = s.repo.commit("links inside");
    s.publish(&["a"]).assert_success();
    let refs = remote_atom_refs(&s.url);
    atoms::check_atom(&s.sb, &s.repo, &refs, &source, "a", "a", "0.1.0");
    fsck(&s.bare);
}

/// A semver version git cannot store in a ref name.
#[test]
fn version_git_cannot_store() {
    let s = setup();
    assert!(!atoms::git_accepts_ref(
        s.repo.path(),
        "refs/atoms/b/1.0.0-x.lock"
    ));
    s.repo.write_atom("b", "b", "1.0.0-x.lock");
    s.repo.commit("b");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::ref_name

      × atom `b`: `refs/atoms/b/1.0.0-x.lock` is not a valid git ref name
      │ (Reference name cannot end with '.lock')
      help: choose a version git can store in a ref name (a pre-release may not
            end in `.lock`)
    ");
    assert_eq!(push_count(&s.bare), 0);
}

/// With --json, errors are a JSON object on stdout, and the exit status is
/// still non-zero.
#[test]
fn json_error_object() {
    let s = setup();
    s.repo.write_atom("x/copy", "a", "0.2.0");
    s.repo.commit("duplicate");
    let run = s.publish(&["--json", "--all"]).assert_failure();
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON error");
    assert_eq!(v["code"], "atom::publish::duplicate_label");
    assert!(v["help"].as_str().is_some());
    assert_eq!(local_atom_refs(&s.repo), vec![]);
}

/// A hook refusing one ref of the push: the push is atomic, so none of the
/// others land either, and the local refs are restored.
#[test]
fn one_ref_refused_none_land() {
    let s = setup();
    support::install_hook(
        &s.bare,
        "update",
        "case \"$1\" in refs/atoms/_manifest/*) echo \"no manifests: $1\" >&2; exit 1;; esac\nexit 0",
    );
    let run = s.publish(&["a"]).assert_failure();
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::remote::push_rejected

      × the push to `file://[SANDBOX]/remotes/registry.git` was
      │ rejected; no ref was changed there
      │   refs/atoms/_manifest/a/0.1.0: [remote rejected] (hook declined)
      │   refs/atoms/_origin/a/0.1.0: [remote rejected] (atomic push failure)
      │   refs/atoms/_root: [remote rejected] (atomic push failure)
      │   refs/atoms/a/0.1.0: [remote rejected] (atomic push failure)
      │   git said: remote: no manifests: refs/atoms/_manifest/a/0.1.0
      │     remote: error: hook declined to update refs/atoms/_manifest/a/0.1.0
      │     error: failed to push some refs to 'file://[SANDBOX]/
      │ remotes/registry.git'
      help: nothing was published; fix the cause above and run the command again
    ");
    assert_eq!(remote_atom_refs(&s.url), vec![], "{run}");
    assert_eq!(local_atom_refs(&s.repo), vec![], "{run}");
}

/// `ekala.toml` listing a directory that holds no atom.
#[test]
fn ekala_toml_lists_a_missing_atom() {
    let s = setup();
    s.repo
        .write("ekala.toml", "[set]\npackages = [\"a\", \"gone\"]\n");
    s.repo.commit("ekala");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::ekala_missing

      × ekala.toml lists `gone`, but HEAD (20615277ed9d) has no atom.toml there
      help: remove the entry from ekala.toml's [set] packages, or restore the atom
    ");
    s.repo.write("ekala.toml", "[set]\npackages = \"a\"\n");
    s.repo.commit("ekala");
    let run = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::ekala

      × ekala.toml: invalid type: string "a", expected a sequence
    "#);
}

/// An `atom.toml` that is a symlink (or a directory) does not make an atom.
#[test]
fn atom_toml_must_be_a_regular_file() {
    let s = setup();
    s.repo
        .write("real.toml", support::atom_toml("b", "0.1.0"))
        .symlink("b/atom.toml", "../real.toml")
        .write("c/atom.toml/x", "x\n");
    s.repo.commit("not regular");
    let run = s.assert_refused(s.publish(&["b"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::not_an_atom

      × `b` is not an atom directory in HEAD (b553cc38e84e) (atoms there: a)
      help: publish reads committed trees only: commit the atom first, or check
            the path
    ");
    let run = s.assert_refused(s.publish(&["c"]), &[], &[]);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::not_an_atom

      × `c` is not an atom directory in HEAD (b553cc38e84e) (atoms there: a)
      help: publish reads committed trees only: commit the atom first, or check
            the path
    ");
}

/// A local ref in the way (left by something else) stops the publish
/// before anything is pushed.
#[test]
fn local_ref_in_the_way() {
    let s = setup();
    let head = s.repo.head();
    s.repo.git(&["update-ref", "refs/atoms/a/0.1.0", &head]);
    let local = local_atom_refs(&s.repo);
    let run = s.assert_refused(s.publish(&["a"]), &[], &local);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::local_ref_conflict

      × local ref `refs/atoms/a/0.1.0` points to
      │ 1054c8b46ebaa3bb56312a8fb8e30519ec09364f, an atom commit of the same
      │ version with other content than 065c0b5db80fc7961e40b4559ac596f400624adc
      │ (this commit's)
      help: a version is published with one content everywhere: bump the version
            in atom.toml and commit
    ");
    assert!(run.stderr.contains(&head), "the ref's commit: {run}");
    assert_eq!(push_count(&s.bare), 0);
}

/// A dry run checks what a real run checks.
#[test]
fn dry_run_reports_conflicts() {
    let s = setup();
    s.publish(&["a"]).assert_success();
    let remote = remote_atom_refs(&s.url);
    let local = local_atom_refs(&s.repo);
    s.repo.write("a/a.txt", "changed\n");
    s.repo.commit("change a");
    let run = s.assert_refused(s.publish(&["a", "--dry-run"]), &remote, &local);
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::version_conflict

      × already published with different content:
      │   a@0.1.0 is 065c0b5db80fc7961e40b4559ac596f400624adc on the remote, but
      │ would be 7761a3ae7ad69d205c51803ace10f60af00802bf from this commit
      help: published versions are immutable: bump the version in atom.toml and
            commit; nothing was pushed
    ");
}

/// A repository whose history is incomplete (shallow clone) cannot name
/// its root; publishing says so instead of inventing one.
#[test]
fn shallow_clone() {
    let s = setup();
    s.repo.write("more", "more\n");
    s.repo.commit("second");
    let clone = s.sb.path().join("shallow");
    support::git(
        s.sb.path(),
        &[
            "clone",
            "--quiet",
            "--depth=1",
            &support::file_url(s.repo.path()),
            clone.to_str().unwrap(),
        ],
    );
    let run =
        s.sb.eka(&clone, &["publish", "a", "--remote", &s.url])
            .assert_failure();
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::git::missing_object

      × object 1054c8b46ebaa3bb56312a8fb8e30519ec09364f is missing (is the history
      │ complete?)
    ");
    assert_eq!(remote_atom_refs(&s.url), vec![], "{run}");
}

/// Someone else publishes the same version between eka's listing and its
/// push (simulated by a `git` wrapper on PATH that does so just before the
/// real push): the push is create-only, so their ref survives, none of ours
/// lands, and the local refs are restored.
#[test]
fn version_published_meanwhile() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let intruder = s.repo.head();
    // The intruder's object must be on the remote for its ref to be set.
    s.repo.git(&["push", "--quiet", &s.url, "main"]);
    let real_git = support::git(s.sb.path(), &["--exec-path"]);
    let real_git = format!("{real_git}/git");
    let bin = s.sb.mkdir("bin");
    let wrapper = bin.join("git");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *push*) \"{real_git}\" --git-dir='{bare}' update-ref refs/atoms/a/0.1.0 {intruder} || exit 99;; esac\nexec \"{real_git}\" \"$@\"\n",
            bare = s.bare.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = s.sb.eka_command(s.repo.path());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    cmd.env("PATH", path)
        .args(["publish", "a", "--remote", &s.url]);
    let run = s.sb.run(cmd).assert_failure();
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::remote::push_rejected

      × the push to `file://[SANDBOX]/remotes/registry.git` was
      │ rejected; no ref was changed there
      │   refs/atoms/a/0.1.0: [rejected] (non-fast-forward)
      │   refs/atoms/_manifest/a/0.1.0: [rejected] (atomic push failed)
      │   refs/atoms/_origin/a/0.1.0: [rejected] (atomic push failed)
      │   refs/atoms/_root: [rejected] (atomic push failed)
      │   git said: error: atomic push failed for ref refs/atoms/a/0.1.0. status:
      │ 2
      │     fatal: the remote end hung up unexpectedly
      │     error: failed to push some refs to 'file://[SANDBOX]/
      │ remotes/registry.git'
      │     hint: Updates were rejected because a pushed branch tip is behind its
      │ remote
      │     hint: counterpart. If you want to integrate the remote changes, use
      │ 'git pull'
      │     hint: before pushing again.
      │     hint: See the 'Note about fast-forwards' in 'git push --help' for
      │ details.
      help: nothing was published; fix the cause above and run the command again
    ");
    assert_eq!(
        remote_atom_refs(&s.url),
        vec![("refs/atoms/a/0.1.0".to_owned(), intruder)],
        "{run}"
    );
    assert_eq!(local_atom_refs(&s.repo), vec![], "{run}");
}

/// No `--remote` and no `origin` configured.
#[test]
fn no_remote_configured() {
    let s = setup();
    let run = s.sb.eka(s.repo.path(), &["publish", "a"]).assert_failure();
    assert_cli_snapshot!(s.sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::git::unknown_remote

      × `origin` is neither a configured remote nor a URL or path
      help: name a remote of this repository (`git remote -v` lists them), or give
            a URL or path
    ");
    assert_eq!(local_atom_refs(&s.repo), vec![]);
}

/// Labels: 128 bytes (after NFKC) are fine, 129 are not; empty is not.
#[test]
fn label_length_limits() {
    let s = setup();
    let longest = "é".repeat(64);
    assert_eq!(longest.len(), 128);
    s.repo.write_atom("long", &longest, "0.1.0");
    s.repo.commit("128 bytes");
    s.publish(&["long"]).assert_success();
    let remote = remote_atom_refs(&s.url);
    let local = local_atom_refs(&s.repo);
    assert!(remote
        .iter()
        .any(|(n, _)| *n == format!("refs/atoms/{longest}/0.1.0")));
    let publish_label = |bad: &str| {
        s.repo.write_atom("long", bad, "0.2.0");
        s.repo.commit(&format!("bad label {bad}"));
        s.assert_refused(s.publish(&["long"]), &remote, &local)
    };
    assert_cli_snapshot!(s.sb, publish_label(&"a".repeat(129)), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × long/atom.toml:2:9: invalid label
      │ `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
      │ aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`: too long: 129
      │ bytes after NFKC normalisation, at most 128
       ╭─[long/atom.toml:2:9]
     1 │ [package]
     2 │ label = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       ·         ─────────────────────────────────────────────────────────────────┬─────────────────────────────────────────────────────────────────
       ·                                                                          ╰── here
     3 │ version = "0.2.0"
       ╰────
      help: fix the value and try again
    "#);
    assert_cli_snapshot!(s.sb, publish_label(""), @r#"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::manifest

      × long/atom.toml:2:9: invalid label ``: empty
       ╭─[long/atom.toml:2:9]
     1 │ [package]
     2 │ label = ""
       ·         ─┬
       ·          ╰── here
     3 │ version = "0.2.0"
       ╰────
      help: fix the value and try again
    "#);
}

/// Directory names that git could not store in a ref name are fine: paths
/// never go into ref names.
#[test]
fn paths_that_are_not_ref_names() {
    let s = setup();
    for (dir, label) in [("x.lock", "x"), ("a..b/c", "c"), ("sp ace~^/d", "d")] {
        assert!(!atoms::git_accepts_ref(
            s.repo.path(),
            &format!("refs/{dir}")
        ));
        s.repo.write_atom(dir, label, "0.1.0");
    }
    let source = s.repo.commit("odd paths");
    s.publish(&["--all"]).assert_success();
    let refs = remote_atom_refs(&s.url);
    for (dir, label) in [("x.lock", "x"), ("a..b/c", "c"), ("sp ace~^/d", "d")] {
        atoms::check_atom(&s.sb, &s.repo, &refs, &source, dir, label, "0.1.0");
    }
    s.sb.eka(s.repo.path(), &["verify"]).assert_success();
}

/// A string that refers to the store used as a name is refused as Nix
/// refuses it, with what to do instead.
#[test]
fn a_string_with_context_as_a_name_says_what_to_do() {
    let sb = Sandbox::new();
    // miette wraps at 80 columns.
    let flat = |s: &str| {
        s.replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let expr = r#"{ ${builtins.toFile "n" "x"} = 1; }"#;
    let run = sb.eka(sb.path(), &["eval", "-E", expr]).assert_failure();
    assert!(
        flat(&run.stderr).contains("is not allowed to refer to a store path"),
        "{run}"
    );
    assert!(
        flat(&run.stderr).contains("builtins.unsafeDiscardStringContext"),
        "{run}"
    );
    let expr = r#"./. + "${builtins.toFile "n" "x"}""#;
    let run = sb.eka(sb.path(), &["eval", "-E", expr]).assert_failure();
    assert!(flat(&run.stderr).contains("keep it a string"), "{run}");
}
