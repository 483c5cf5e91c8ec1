//! End-to-end tests of `eka verify`: published atoms verify locally and over
//! every transport; each kind of tampering (made with plain git) makes it
//! fail, naming what failed, with a non-zero exit.

use crate::support::atoms::{cat_file, hash_object, remote_atom_refs, transcript};
use crate::support::{self, git_stdin, Repo, Run, Sandbox, Transport};

/// Two atoms (one nested deeper), published to `url` from a fresh repo.
fn published(sb: &Sandbox, url: &str) -> Repo {
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write("a/a.txt", "a\n")
        .write_atom("libs/deep/b", "b", "1.0.0")
        .write("libs/deep/b/b.txt", "b\n");
    repo.commit("initial");
    repo.write_atom("a", "a", "0.2.0").write("a/a.txt", "a2\n");
    repo.commit("a 0.2.0");
    sb.eka(
        repo.path(),
        &["publish", "--all", "--remote", url, "--rev", "HEAD~1"],
    )
    .assert_success();
    sb.eka(repo.path(), &["publish", "a", "--remote", url])
        .assert_success();
    repo
}

fn ok_lines(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("ok "))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect()
}

#[test]
fn verify_local_repository() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = published(&sb, &url);
    let run = sb.eka(repo.path(), &["verify"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "a@0.2.0", "b@1.0.0"], "{run}");
    assert!(run.stdout.contains("3 verified, 0 failed"), "{run}");
    // The printed ids and digests are those publish printed (asked again:
    // everything is up to date).
    for args in [&["--all", "--rev", "HEAD~1"][..], &["a"][..]] {
        let mut all = vec!["--json", "publish", "--remote", &url];
        all.extend_from_slice(args);
        let json = sb.eka(repo.path(), &all).assert_success();
        let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
        for a in v["atoms"].as_array().unwrap() {
            assert_eq!(a["status"], "up-to-date");
            let line = format!(
                "{}@{}  {}  {}",
                a["label"].as_str().unwrap(),
                a["version"].as_str().unwrap(),
                a["id"].as_str().unwrap(),
                a["digest"].as_str().unwrap()
            );
            assert!(run.stdout.contains(&line), "{line} not in {run}");
        }
    }
    // A path to the repository, from elsewhere.
    let run = sb
        .eka(sb.path(), &["verify", repo.path().to_str().unwrap()])
        .assert_success();
    assert_eq!(ok_lines(&run).len(), 3, "{run}");
    // --json
    let run = sb.eka(repo.path(), &["--json", "verify"]).assert_success();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let verdicts = v["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3);
    assert!(verdicts
        .iter()
        .all(|d| d["failures"] == serde_json::json!([]) && d["commit"].is_string()));
}

fn verify_remote_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("registry");
    let repo = published(&sb, &url);
    let elsewhere = sb.mkdir("elsewhere");
    let run = sb.eka(&elsewhere, &["verify", &url]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "a@0.2.0", "b@1.0.0"], "{run}");
    let run = sb.eka(&elsewhere, &["verify", &url, "a"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "a@0.2.0"], "{run}");
    let run = sb
        .eka(&elsewhere, &["verify", &url, "a@0.1.0", "b@1.0.0"])
        .assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "b@1.0.0"], "{run}");
    // By configured remote name, from the source repository.
    repo.add_remote("registry", &url);
    let run = sb
        .eka(repo.path(), &["verify", "registry", "b"])
        .assert_success();
    assert_eq!(ok_lines(&run), ["b@1.0.0"], "{run}");
    // Verification fetched into a scratch repository: nothing new here.
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
}

#[test]
fn verify_remote_file() {
    verify_remote_over(Transport::File);
}

#[test]
fn verify_remote_git_daemon() {
    verify_remote_over(Transport::Git);
}

#[test]
fn verify_remote_http() {
    verify_remote_over(Transport::Http);
}

#[test]
fn verify_remote_ssh() {
    verify_remote_over(Transport::Ssh);
}

#[test]
fn verify_label_and_version_locally() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = published(&sb, &url);
    let run = sb.eka(repo.path(), &["verify", "a"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "a@0.2.0"], "{run}");
    let run = sb.eka(repo.path(), &["verify", "a@0.2.0"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.2.0"], "{run}");
    for (arg, msg) in [
        ("zzz", "`zzz` has no published versions"),
        ("a@9.9.9", "`a@9.9.9` has no published versions"),
        ("a@1.0", "invalid version `1.0`"),
        ("9x", "invalid label `9x`"),
    ] {
        let run = sb.eka(repo.path(), &["verify", arg]).assert_failure();
        assert!(run.stderr.contains(msg), "{arg}: {run}");
    }
}

#[test]
fn verify_nothing_published() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0");
    repo.commit("a");
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    assert!(run.stderr.contains("no atoms to verify"), "{run}");
}

/// Unknown atoms on a remote are named as such, as they are locally.
#[test]
fn verify_remote_unknown_atom() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("registry");
    published(&sb, &url);
    for arg in ["zzz", "a@9.9.9"] {
        let run = sb.eka(sb.path(), &["verify", &url, arg]).assert_failure();
        assert!(
            run.stderr
                .contains(&format!("`{arg}` has no published versions")),
            "{run}"
        );
    }
}

/// A reachable remote with nothing published.
#[test]
fn verify_empty_remote() {
    let sb = Sandbox::new();
    for kind in Transport::ALL {
        let server = sb.server(kind);
        let url = server.create(&format!("empty-{}", kind.name()));
        for args in [&[][..], &["a"][..]] {
            let mut all = vec!["verify", url.as_str()];
            all.extend_from_slice(args);
            let run = sb.eka(sb.path(), &all).assert_failure();
            assert!(run.stderr.contains("no atoms to verify"), "{run}");
        }
    }
}

#[test]
fn verify_unreachable_remote() {
    let sb = Sandbox::new();
    for kind in Transport::ALL {
        let url = support::unreachable_url(kind, "registry");
        let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
        assert!(run.stderr.contains("registry.git"), "{run}");
        assert!(!run.stderr.contains("panicked"), "{run}");
    }
}

/// A published repository to tamper with, and helpers to do it.
struct Tamper {
    sb: Sandbox,
    repo: Repo,
    url: String,
}

impl Tamper {
    fn new() -> Self {
        let sb = Sandbox::new();
        let url = support::file_url(&sb.bare("registry"));
        let repo = published(&sb, &url);
        sb.eka(repo.path(), &["verify"]).assert_success();
        Tamper { sb, repo, url }
    }

    fn set_ref(&self, name: &str, id: &str) {
        self.repo.git(&["update-ref", name, id]);
    }

    /// The atom commit's bytes with `from` replaced by `to`, written as a
    /// new commit; returns its id.
    fn forged_commit(&self, atom_ref: &str, from: &str, to: &str) -> String {
        let id = self.repo.rev_parse(atom_ref);
        let bytes = cat_file(&self.sb, self.repo.path(), "commit", &id);
        assert!(bytes.contains(from), "{from:?} not in {bytes}");
        let forged = bytes.replacen(from, to, 1);
        assert_ne!(forged, bytes);
        hash_object(self.repo.path(), "commit", forged.as_bytes(), true)
    }

    /// Runs verify locally, expects `a@0.1.0` (only) to fail with all of
    /// `needles` in its line; returns the run.
    fn expect_failure(&self, needles: &[&str]) -> Run {
        let run = self.sb.eka(self.repo.path(), &["verify"]).assert_failure();
        let failed: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("FAILED"))
            .collect();
        assert_eq!(failed.len(), 1, "{run}");
        // One line per atom, and the summary.
        assert_eq!(run.stdout.lines().count(), 4, "one line per atom:\n{run}");
        assert!(failed[0].starts_with("FAILED  a@0.1.0: "), "{run}");
        for n in needles {
            assert!(failed[0].contains(n), "{n:?} not named:\n{run}");
        }
        assert_eq!(ok_lines(&run), ["a@0.2.0", "b@1.0.0"], "{run}");
        assert!(run.stdout.contains("2 verified, 1 failed"), "{run}");
        // Naming the broken atom fails too; naming another one passes.
        self.sb
            .eka(self.repo.path(), &["verify", "a@0.1.0"])
            .assert_failure();
        self.sb
            .eka(self.repo.path(), &["verify", "b"])
            .assert_success();
        run
    }
}

#[test]
fn tampered_header() {
    let t = Tamper::new();
    let forged = t.forged_commit("refs/atoms/a/0.1.0", "format pre1", "format pre2");
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.expect_failure(&["format pre1", "format pre2"]);
}

#[test]
fn tampered_identity() {
    let t = Tamper::new();
    let forged = t.forged_commit("refs/atoms/a/0.1.0", "author  <> 0", "author  <> 1");
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.expect_failure(&["line 2", "author  <> 1 +0000"]);
}

#[test]
fn tampered_trailing_newline() {
    let t = Tamper::new();
    let id = t.repo.rev_parse("refs/atoms/a/0.1.0");
    let bytes = cat_file(&t.sb, t.repo.path(), "commit", &id) + "\n";
    let forged = hash_object(t.repo.path(), "commit", bytes.as_bytes(), true);
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.expect_failure(&["message"]);
}

#[test]
fn tampered_commit_with_parent() {
    let t = Tamper::new();
    let origin = t.repo.rev_parse("refs/atoms/_origin/a/0.1.0");
    let forged = t.forged_commit(
        "refs/atoms/a/0.1.0",
        "\nauthor",
        &format!("\nparent {origin}\nauthor"),
    );
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.expect_failure(&["has parents"]);
}

/// A well-formed atom commit whose tree is not the origin's directory.
#[test]
fn tampered_tree() {
    let t = Tamper::new();
    let other_tree = t.repo.rev_parse("HEAD:a");
    let old_tree = t.repo.rev_parse("HEAD~1:a");
    let forged = t.forged_commit("refs/atoms/a/0.1.0", &old_tree, &other_tree);
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.expect_failure(&[&other_tree, &old_tree]);
}

/// The atom ref moved to another (valid) atom commit: the one of 0.2.0.
#[test]
fn atom_ref_moved_to_another_atom() {
    let t = Tamper::new();
    let other = t.repo.rev_parse("refs/atoms/a/0.2.0");
    t.set_ref("refs/atoms/a/0.1.0", &other);
    t.expect_failure(&["a@0.2.0", "a@0.1.0"]);
}

#[test]
fn manifest_ref_moved() {
    let t = Tamper::new();
    let blob = hash_object(
        t.repo.path(),
        "blob",
        support::atom_toml("a", "0.1.0")
            .replace("a\"", "a\"\n")
            .as_bytes(),
        true,
    );
    t.set_ref("refs/atoms/_manifest/a/0.1.0", &blob);
    t.expect_failure(&["refs/atoms/_manifest/a/0.1.0", &blob]);
}

#[test]
fn manifest_ref_deleted() {
    let t = Tamper::new();
    t.repo
        .git(&["update-ref", "-d", "refs/atoms/_manifest/a/0.1.0"]);
    t.expect_failure(&["refs/atoms/_manifest/a/0.1.0 is missing"]);
}

#[test]
fn origin_ref_moved() {
    let t = Tamper::new();
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/a/0.1.0", &head);
    t.expect_failure(&["refs/atoms/_origin/a/0.1.0", &head]);
}

/// An atom commit whose origin header names another commit of the same
/// history (one where the atom is at another version).
#[test]
fn origin_header_forged() {
    let t = Tamper::new();
    let old = t.repo.rev_parse("HEAD~1");
    let head = t.repo.head();
    let forged = t.forged_commit(
        "refs/atoms/a/0.1.0",
        &format!("origin {old}"),
        &format!("origin {head}"),
    );
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.set_ref("refs/atoms/_origin/a/0.1.0", &head);
    t.expect_failure(&["holds no atom.toml for a@0.1.0"]);
}

#[test]
fn root_ref_moved() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = published(&sb, &url);
    let fake_root = repo.head();
    repo.git(&["update-ref", "refs/atoms/_root", &fake_root]);
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    let failed = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAILED"))
        .count();
    assert_eq!(failed, 3, "every atom fails: {run}");
    assert!(run.stdout.contains("the origin's root is"), "{run}");
    assert!(run.stdout.contains(&fake_root), "{run}");
}

/// Tampering on the remote (pushed with plain git) is caught by verifying
/// the remote over each transport.
fn tampered_remote_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("registry");
    let bare = server.path("registry");
    let repo = published(&sb, &url);
    let id = repo.rev_parse("refs/atoms/b/1.0.0");
    let bytes = cat_file(&sb, repo.path(), "commit", &id);
    let forged = bytes.replace("publish(b): 1.0.0", "publish(b): 1.0.1");
    let forged = git_stdin(
        &bare,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        forged.as_bytes(),
    );
    support::git(&bare, &["update-ref", "refs/atoms/b/1.0.0", &forged]);
    let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
    assert!(
        run.stdout
            .contains("FAILED  b@1.0.0: the commit publishes b@1.0.1"),
        "{run}"
    );
    assert!(run.stdout.contains("2 verified, 1 failed"), "{run}");
    let run = sb.eka(sb.path(), &["verify", &url, "a"]).assert_success();
    assert_eq!(ok_lines(&run).len(), 2, "{run}");
    assert_eq!(
        remote_atom_refs(&url)
            .iter()
            .find(|(n, _)| n == "refs/atoms/b/1.0.0")
            .unwrap()
            .1,
        forged
    );
}

#[test]
fn tampered_remote_file() {
    tampered_remote_over(Transport::File);
}

#[test]
fn tampered_remote_git_daemon() {
    tampered_remote_over(Transport::Git);
}

#[test]
fn tampered_remote_http() {
    tampered_remote_over(Transport::Http);
}

#[test]
fn verify_output_snapshots() {
    let t = Tamper::new();
    let run = t.sb.eka(t.repo.path(), &["verify"]).assert_success();
    insta::assert_snapshot!("verify_ok", transcript(&t.sb, &run));
    let run =
        t.sb.eka(&t.sb.mkdir("x"), &["verify", &t.url, "a@0.2.0"])
            .assert_success();
    insta::assert_snapshot!("verify_remote_one", transcript(&t.sb, &run));
    let forged = t.forged_commit("refs/atoms/a/0.1.0", "format pre1", "format pre2");
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/b/1.0.0", &head);
    let run = t.sb.eka(t.repo.path(), &["verify"]).assert_failure();
    insta::assert_snapshot!("verify_tampered", transcript(&t.sb, &run));
}

/// The origin holds two atoms with the label and version (made by moving
/// the origin ref and header to a forged source commit).
#[test]
fn origin_with_two_matching_atoms() {
    let t = Tamper::new();
    let old = t.repo.rev_parse("HEAD~1");
    // A source commit with `a` 0.1.0 twice, in the same history.
    t.repo.git(&["checkout", "--quiet", "-b", "dup", &old]);
    t.repo.write_atom("copy/a", "a", "0.1.0");
    let dup = t.repo.commit("duplicate");
    let tree_a = t.repo.rev_parse(&format!("{dup}:a"));
    assert_eq!(tree_a, t.repo.rev_parse(&format!("{old}:a")));
    let forged = t.forged_commit(
        "refs/atoms/a/0.1.0",
        &format!("origin {old}"),
        &format!("origin {dup}"),
    );
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    t.set_ref("refs/atoms/_origin/a/0.1.0", &dup);
    t.expect_failure(&["2 atoms for a@0.1.0", "`a`", "`copy/a`"]);
}

/// The atom ref points to a blob, not a commit.
#[test]
fn atom_ref_to_a_blob() {
    let t = Tamper::new();
    let blob = t.repo.rev_parse("refs/atoms/_manifest/a/0.1.0");
    t.set_ref("refs/atoms/a/0.1.0", &blob);
    t.expect_failure(&["blob"]);
}

/// A ref under refs/atoms/ that is not of this format is reported, not
/// fatal.
#[test]
fn foreign_ref_is_a_warning() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = published(&sb, &url);
    let head = repo.head();
    repo.git(&["update-ref", "refs/atoms/not-a-version/x", &head]);
    let run = sb.eka(repo.path(), &["verify"]).assert_success();
    assert!(
        run.stderr.contains("ignoring `refs/atoms/not-a-version/x`"),
        "{run}"
    );
    assert_eq!(ok_lines(&run).len(), 3);
}

/// Deleting `_root` fails every atom, naming the ref.
#[test]
fn root_ref_deleted() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = published(&sb, &url);
    repo.git(&["update-ref", "-d", "refs/atoms/_root"]);
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    assert_eq!(
        run.stdout.matches("refs/atoms/_root is missing").count(),
        3,
        "{run}"
    );
}

/// The origin ref deleted on the remote: verify of the remote fails.
#[test]
fn origin_ref_deleted_on_remote() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    let url = support::file_url(&bare);
    published(&sb, &url);
    support::git(&bare, &["update-ref", "-d", "refs/atoms/_origin/b/1.0.0"]);
    let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
    assert!(run.stdout.contains("FAILED  b@1.0.0"), "{run}");
    assert!(
        run.stdout.contains("refs/atoms/_origin/b/1.0.0 is missing"),
        "{run}"
    );
}

/// With --json, a failed verification is a JSON report naming the failures,
/// and the exit status is non-zero.
#[test]
fn json_report_of_failures() {
    let t = Tamper::new();
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/a/0.1.0", &head);
    let run =
        t.sb.eka(t.repo.path(), &["--json", "verify"])
            .assert_failure();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let verdicts = v["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3);
    let bad: Vec<_> = verdicts
        .iter()
        .filter(|d| !d["failures"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(bad.len(), 1, "{run}");
    assert_eq!(bad[0]["label"], "a");
    assert_eq!(bad[0]["version"], "0.1.0");
    let why = bad[0]["failures"][0].as_str().unwrap();
    assert!(
        why.contains("refs/atoms/_origin/a/0.1.0") && why.contains(&head),
        "{why}"
    );
}

/// `-q` prints failures only.
#[test]
fn quiet_prints_failures_only() {
    let t = Tamper::new();
    let run = t.sb.eka(t.repo.path(), &["-q", "verify"]).assert_success();
    assert_eq!(run.stdout, "", "{run}");
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/a/0.1.0", &head);
    let run = t.sb.eka(t.repo.path(), &["-q", "verify"]).assert_failure();
    assert!(run.stdout.starts_with("FAILED  a@0.1.0: "), "{run}");
    assert!(!run.stdout.contains("ok "), "{run}");
}
