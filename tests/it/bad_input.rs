//! End-to-end tests of `eka publish` on bad input: each gets a clear error,
//! a non-zero exit, and nothing is lost or half done (local refs, remote
//! refs and objects checked with git).

use std::path::PathBuf;

use crate::support::atoms;
use crate::support::atoms::{
    count_pushes, local_atom_refs, object_counts, push_count, remote_atom_refs, transcript,
};
use crate::support::{self, fsck, reject_pushes, unreachable_url, Repo, Run, Sandbox, Transport};

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

    /// Asserts the command failed, wrote no ref anywhere and pushed nothing;
    /// returns stderr.
    fn assert_refused(
        &self,
        run: Run,
        remote_before: &[(String, String)],
        local_before: &[(String, String)],
    ) -> String {
        let run = run.assert_failure();
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
        run.stderr
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
    for path in ["docs", "nope"] {
        let err = s.assert_refused(s.publish(&[path]), &[], &[]);
        assert!(
            err.contains(&format!("`{path}` is not an atom directory")),
            "{err}"
        );
        assert!(err.contains("atoms there: a"), "{err}");
        assert_clean_error(&err);
    }
    // In the work tree but not committed: still not an atom.
    s.repo.write_atom("fresh", "fresh", "0.1.0");
    let err = s.assert_refused(s.publish(&["fresh"]), &[], &[]);
    assert!(err.contains("`fresh` is not an atom directory"), "{err}");
    assert!(err.contains("commit the atom first"), "{err}");
    assert_eq!(push_count(&s.bare), 0);
}

#[test]
fn path_outside_the_repository() {
    let s = setup();
    let err = s.assert_refused(s.publish(&["../elsewhere"]), &[], &[]);
    assert!(err.contains("outside the repository"), "{err}");
}

#[test]
fn malformed_manifest_unknown_key() {
    let s = setup();
    s.repo.write(
        "a/atom.toml",
        "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\nlicence = \"MIT\"\n",
    );
    s.repo.commit("typo");
    let err = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert!(err.contains("a/atom.toml:4:1"), "file, line, column: {err}");
    assert!(err.contains("unknown field `licence`"), "the key: {err}");
    insta::assert_snapshot!("unknown_key", transcript(&s.sb, &s.publish(&["a"])));
}

#[test]
fn malformed_manifest_bad_toml() {
    let s = setup();
    s.repo
        .write("a/atom.toml", "[package]\nlabel = \"a\"\nversion = \n");
    s.repo.commit("broken");
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("a/atom.toml:3:"), "{err}");
    assert!(err.contains("version"), "{err}");
    assert_clean_error(&err);
}

#[test]
fn malformed_manifest_missing_package() {
    let s = setup();
    s.repo.write("a/atom.toml", "[package]\nlabel = \"a\"\n");
    s.repo.commit("no version");
    let err = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert!(err.contains("a/atom.toml"), "{err}");
    assert!(err.contains("missing field `version`"), "{err}");
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
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("b/atom.toml:2:9"), "{err}");
    assert!(err.contains("invalid label"), "{err}");
    // Every offending character is named.
    for c in ["invalid start '9'", "characters ' !'"] {
        assert!(err.contains(c), "{c} not named: {err}");
    }
}

#[test]
fn label_starting_with_underscore() {
    let s = setup();
    s.repo.write_atom("b", "_root", "0.1.0");
    s.repo.commit("reserved label");
    let err = s.assert_refused(s.publish(&["b"]), &[], &[]);
    assert!(err.contains("b/atom.toml"), "{err}");
    assert!(err.contains("invalid label"), "{err}");
}

#[test]
fn invalid_version() {
    let s = setup();
    for (i, bad) in ["1.0", "v1.0.0", "01.0.0", "1.0.0-"].iter().enumerate() {
        s.repo.write_atom("a", "a", bad);
        s.repo.commit(&format!("bad version {i}"));
        let err = s.assert_refused(s.publish(&["a"]), &[], &[]);
        assert!(err.contains("a/atom.toml:3:11"), "{bad}: {err}");
        assert_clean_error(&err);
    }
}

#[test]
fn two_atoms_one_label() {
    let s = setup();
    s.repo.write_atom("x/copy", "a", "0.2.0");
    s.repo.commit("duplicate");
    // Even when only one of them is selected.
    for args in [&["--all"][..], &["a"][..]] {
        let err = s.assert_refused(s.publish(args), &[], &[]);
        assert!(err.contains("two atoms have the label `a`"), "{err}");
        assert!(err.contains("`a`") && err.contains("`x/copy`"), "{err}");
    }
    insta::assert_snapshot!("duplicate_label", transcript(&s.sb, &s.publish(&["--all"])));
}

#[test]
fn atom_toml_at_repository_root() {
    let s = setup();
    s.repo
        .write("atom.toml", support::atom_toml("root", "0.1.0"));
    s.repo.commit("root manifest");
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("atom.toml at the repository root"), "{err}");
    let err = s.assert_refused(s.publish(&["."]), &[], &[]);
    assert!(err.contains("atom.toml at the repository root"), "{err}");
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
    let err = s.assert_refused(s.publish(&["--all"]), &remote, &local);
    assert!(
        err.contains("already published with different content"),
        "{err}"
    );
    assert!(err.contains("a@0.1.0"), "{err}");
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
    let err = s.assert_refused(s.publish(&["c", "a"]), &remote, &local);
    assert!(err.contains("a@0.1.0"), "{err}");
    assert_eq!(push_count(&s.bare), 1);
    assert_eq!(object_counts(s.repo.path()).2, objects.2, "commits written");
    fsck(&s.bare);
    insta::assert_snapshot!("conflict", transcript(&s.sb, &s.publish(&["a"])));
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
    assert!(run.stderr.contains("repository root"), "{run}");
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
    assert!(run.stderr.contains("has no commits yet"), "{run}");
    assert_clean_error(&run.stderr);
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
    assert!(run.stderr.contains("is not in a git repository"), "{run}");
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
    let err = s.assert_refused(s.publish(&["a", "--rev", "no-such-branch"]), &[], &[]);
    assert!(
        err.contains("`no-such-branch` does not name a commit"),
        "{err}"
    );
}

#[test]
fn symlink_outside_the_atom_is_refused() {
    let s = setup();
    s.repo
        .write("secret.txt", "outside\n")
        .symlink("a/leak", "../secret.txt");
    s.repo.commit("escaping link");
    let before = object_counts(s.repo.path());
    let err = s.assert_refused(s.publish(&["a"]), &[], &[]);
    assert!(err.contains("symlink points outside the atom"), "{err}");
    assert!(err.contains("leak"), "{err}");
    assert_eq!(object_counts(s.repo.path()), before);

    for (i, target) in ["/etc/passwd", "sub/../../x", "../a/a.txt"]
        .iter()
        .enumerate()
    {
        s.repo.remove("a/leak").symlink("a/leak", target);
        s.repo.commit(&format!("escaping link {i}"));
        let err = s.assert_refused(s.publish(&["a"]), &[], &[]);
        assert!(err.contains("outside the atom"), "{target}: {err}");
    }
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
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("refs/atoms/b/1.0.0-x.lock"), "{err}");
    assert!(err.contains("not a valid git ref name"), "{err}");
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
    assert!(run.stderr.contains("refs/atoms/_manifest/a/0.1.0"), "{run}");
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
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("ekala.toml lists `gone`"), "{err}");
    s.repo.write("ekala.toml", "[set]\npackages = \"a\"\n");
    s.repo.commit("ekala");
    let err = s.assert_refused(s.publish(&["--all"]), &[], &[]);
    assert!(err.contains("ekala.toml"), "{err}");
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
    for path in ["b", "c"] {
        let err = s.assert_refused(s.publish(&[path]), &[], &[]);
        assert!(
            err.contains(&format!("`{path}` is not an atom directory")),
            "{err}"
        );
    }
}

/// A local ref in the way (left by something else) stops the publish
/// before anything is pushed.
#[test]
fn local_ref_in_the_way() {
    let s = setup();
    let head = s.repo.head();
    s.repo.git(&["update-ref", "refs/atoms/a/0.1.0", &head]);
    let local = local_atom_refs(&s.repo);
    let err = s.assert_refused(s.publish(&["a"]), &[], &local);
    assert!(err.contains("local ref `refs/atoms/a/0.1.0`"), "{err}");
    assert!(err.contains(&head), "{err}");
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
    let err = s.assert_refused(s.publish(&["a", "--dry-run"]), &remote, &local);
    assert!(
        err.contains("already published with different content"),
        "{err}"
    );
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
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(run.stderr.contains("history"), "{run}");
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
    assert!(run.stderr.contains("rejected"), "{run}");
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
    assert!(run.stderr.contains("`origin`"), "{run}");
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
    for (i, bad) in ["a".repeat(129), String::new()].iter().enumerate() {
        s.repo.write_atom("long", bad, "0.2.0");
        s.repo.commit(&format!("bad {i}"));
        let err = s.assert_refused(s.publish(&["long"]), &remote, &local);
        assert!(err.contains("long/atom.toml:2:9"), "{err}");
        assert!(err.contains("invalid label"), "{err}");
    }
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
