//! End-to-end tests of `eka verify`: published atoms verify locally and over
//! every transport; each kind of tampering (made with plain git) makes it
//! fail, naming what failed, with a non-zero exit.

use crate::support::atoms::{cat_file, hash_object, remote_atom_refs};
use crate::support::{
    self, assert_cli_snapshot, git_stdin, GitServer, Registry, RegistryBuilder, Repo, Run, Sandbox,
    Transport,
};

/// Two atoms (one nested deeper) in a first commit, then `a` 0.2.0,
/// published on `server` as `registry` from the source repository `mono`.
fn published(sb: &Sandbox, server: &GitServer) -> Registry {
    RegistryBuilder::new(sb, server)
        .atom("a", "0.1.0")
        .file("a.txt", "a\n")
        .atom("b", "1.0.0")
        .dir("libs/deep/b")
        .file("b.txt", "b\n")
        .release()
        .atom("a", "0.2.0")
        .file("a.txt", "a2\n")
        .build()
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
    let server = sb.server(Transport::File);
    let reg = published(&sb, &server);
    let (url, repo) = (reg.url.clone(), reg.source.clone());
    let run = sb.eka(repo.path(), &["verify"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:6d7f08d570653b46bb261e283cc7f446e0c162d13edca2a0eb51704f65ecf458
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    3 verified, 0 failed
    --- stderr ---
    ");
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
    let reg = published(&sb, &server);
    let (url, repo) = (reg.url.clone(), reg.source.clone());
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
    let server = sb.server(Transport::File);
    let reg = published(&sb, &server);
    let repo = reg.source;
    let run = sb.eka(repo.path(), &["verify", "a"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.1.0", "a@0.2.0"], "{run}");
    let run = sb.eka(repo.path(), &["verify", "a@0.2.0"]).assert_success();
    assert_eq!(ok_lines(&run), ["a@0.2.0"], "{run}");
    let verify = |arg: &str| sb.eka(repo.path(), &["verify", arg]).assert_failure();
    assert_cli_snapshot!(sb, verify("zzz"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    eka::verify::not_a_remote

      × `zzz` is neither a remote of this repository (this repository has no
      │ remote) nor an atom published in it
      help: name a remote, a URL or a path first (`eka verify <remote> [LABEL…]`),
            or a label published here
    ");
    assert_cli_snapshot!(sb, verify("a@9.9.9"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::verify::unknown

      × `a@9.9.9` has no published versions here
      help: list what is published with `git ls-remote <remote> 'refs/atoms/*'`
    ");
    assert_cli_snapshot!(sb, verify("a@1.0"), @"
    status: 1
    --- stdout ---
    --- stderr ---
      × invalid version `1.0`: unexpected end of input while parsing minor version
      │ number
      help: name atoms as LABEL or LABEL@VERSION
    ");
    assert_cli_snapshot!(sb, verify("9x"), @"
    status: 1
    --- stdout ---
    --- stderr ---
      × invalid label `9x`: invalid start '9'
      help: name atoms as LABEL or LABEL@VERSION
    ");
}

#[test]
fn verify_nothing_published() {
    let sb = Sandbox::new();
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0");
    repo.commit("a");
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::verify::empty

      × no atoms to verify: the repository has no refs under refs/atoms/ (nor eka
      │ 0.3's refs/eka/)
      help: publish atoms with `eka publish`, or name a repository that has some
    ");
}

/// Unknown atoms on a remote are named as such, as they are locally.
#[test]
fn verify_remote_unknown_atom() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = published(&sb, &server).url;
    let verify = |arg: &str| sb.eka(sb.path(), &["verify", &url, arg]).assert_failure();
    assert_cli_snapshot!(sb, verify("zzz"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::verify::unknown

      × `zzz` has no published versions here
      help: list what is published with `git ls-remote <remote> 'refs/atoms/*'`
    ");
    assert_cli_snapshot!(sb, verify("a@9.9.9"), @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::verify::unknown

      × `a@9.9.9` has no published versions here
      help: list what is published with `git ls-remote <remote> 'refs/atoms/*'`
    ");
}

/// A reachable remote with nothing published.
#[test]
fn verify_empty_remote() {
    let sb = Sandbox::new();
    for kind in Transport::ALL {
        let server = sb.server(kind);
        let url = server.create(&format!("empty-{}", kind.name()));
        // One snapshot for every transport.
        sb.filter(&url, "[URL]");
        let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
        assert_cli_snapshot!(sb, run, @"
        status: 1
        --- stdout ---
        --- stderr ---
        atom::verify::empty

          × no atoms to verify: the repository has no refs under refs/atoms/ (nor eka
          │ 0.3's refs/eka/)
          help: publish atoms with `eka publish`, or name a repository that has some
        ");
        let run = sb.eka(sb.path(), &["verify", &url, "a"]).assert_failure();
        assert_cli_snapshot!(sb, run, @"
        status: 1
        --- stdout ---
        --- stderr ---
        atom::verify::empty

          × no atoms to verify: the repository has no refs under refs/atoms/ (nor eka
          │ 0.3's refs/eka/)
          help: publish atoms with `eka publish`, or name a repository that has some
        ");
    }
}

#[test]
fn verify_unreachable_remote() {
    let sb = Sandbox::new();
    for kind in Transport::ALL {
        let url = support::unreachable_url(kind, "registry");
        let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
        // Substrings, not a snapshot: the cause eka quotes is the
        // transport's own (the OS, curl, ssh), worded differently by each.
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
        let server = sb.server(Transport::File);
        let reg = published(&sb, &server);
        sb.eka(reg.source.path(), &["verify"]).assert_success();
        Tamper {
            sb,
            repo: reg.source,
            url: reg.url,
        }
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
    /// `needles` (ids computed by the test) in its line; returns the run.
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
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: atom commit: line 5: expected `format pre1`, found `format pre2`
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

#[test]
fn tampered_identity() {
    let t = Tamper::new();
    let forged = t.forged_commit("refs/atoms/a/0.1.0", "author  <> 0", "author  <> 1");
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: atom commit: line 2: expected `author  <> 0 +0000`, found `author  <> 1 +0000`
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

#[test]
fn tampered_trailing_newline() {
    let t = Tamper::new();
    let id = t.repo.rev_parse("refs/atoms/a/0.1.0");
    let bytes = cat_file(&t.sb, t.repo.path(), "commit", &id) + "\n";
    let forged = hash_object(t.repo.path(), "commit", bytes.as_bytes(), true);
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @r"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: atom commit: the message names version `0.1.0\n`: unexpected character '\n' after patch version number
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
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
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: atom commit: the commit has parents; an atom commit has none
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

/// A well-formed atom commit whose tree is not the origin's directory.
#[test]
fn tampered_tree() {
    let t = Tamper::new();
    let other_tree = t.repo.rev_parse("HEAD:a");
    let old_tree = t.repo.rev_parse("HEAD~1:a");
    let forged = t.forged_commit("refs/atoms/a/0.1.0", &old_tree, &other_tree);
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    // The ids it names are those git computed.
    let run = t.expect_failure(&[&other_tree, &old_tree]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the atom's tree is 3e89b377243074b57686d2dbefb29c2cdc0b4484, but `a` in the origin is 3fe38e7a9a0a5a014191954251533054dc3830b1
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

/// The atom ref moved to another (valid) atom commit: the one of 0.2.0.
#[test]
fn atom_ref_moved_to_another_atom() {
    let t = Tamper::new();
    let other = t.repo.rev_parse("refs/atoms/a/0.2.0");
    t.set_ref("refs/atoms/a/0.1.0", &other);
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the commit publishes a@0.2.0, but its ref names a@0.1.0; the commit's origin is 50ed98f3c2373ae7ac92bb62aa5063acb707689e, but refs/atoms/_origin/a/0.1.0 points to 2d7cac536cd3f3cbf833c7020a55deff0824f6b6; the origin 50ed98f3c2373ae7ac92bb62aa5063acb707689e holds no atom.toml for a@0.1.0
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
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
    // The ids it names are those git computed.
    let run = t.expect_failure(&["refs/atoms/_manifest/a/0.1.0", &blob]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: refs/atoms/_manifest/a/0.1.0 is 17a61262665e55025d73ae8638ad1dbe9f8e26b0, but `a/atom.toml` in the origin is 451fb0cc6c03da652b6930ec71fbae92d17119b5
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

#[test]
fn manifest_ref_deleted() {
    let t = Tamper::new();
    t.repo
        .git(&["update-ref", "-d", "refs/atoms/_manifest/a/0.1.0"]);
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: refs/atoms/_manifest/a/0.1.0 is missing
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

#[test]
fn origin_ref_moved() {
    let t = Tamper::new();
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/a/0.1.0", &head);
    // The ids it names are those git computed.
    let run = t.expect_failure(&["refs/atoms/_origin/a/0.1.0", &head]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the commit's origin is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_origin/a/0.1.0 points to 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
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
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the origin 50ed98f3c2373ae7ac92bb62aa5063acb707689e holds no atom.toml for a@0.1.0
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

#[test]
fn root_ref_moved() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = published(&sb, &server);
    let repo = reg.source;
    let fake_root = repo.head();
    repo.git(&["update-ref", "refs/atoms/_root", &fake_root]);
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    let failed = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAILED"))
        .count();
    assert_eq!(failed, 3, "every atom fails: {run}");
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the origin's root is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_root is 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    FAILED  a@0.2.0: the origin's root is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_root is 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    FAILED  b@1.0.0: the origin's root is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_root is 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    0 verified, 3 failed
    --- stderr ---
    ");
    assert!(run.stdout.contains(&fake_root), "the moved root: {run}");
}

/// Tampering on the remote (pushed with plain git) is caught by verifying
/// the remote over each transport.
fn tampered_remote_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let reg = published(&sb, &server);
    let (url, bare, repo) = (reg.url.clone(), reg.path.clone(), reg.source.clone());
    let id = repo.rev_parse("refs/atoms/b/1.0.0");
    let bytes = cat_file(&sb, repo.path(), "commit", &id);
    let forged = bytes.replace("publish(b): 1.0.0", "publish(b): 1.0.1");
    let forged = git_stdin(
        &bare,
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        forged.as_bytes(),
    );
    support::git(&bare, &["update-ref", "refs/atoms/b/1.0.0", &forged]);
    sb.filter(&url, "[URL]");
    let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    ok      a@0.1.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:6d7f08d570653b46bb261e283cc7f446e0c162d13edca2a0eb51704f65ecf458
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    FAILED  b@1.0.0: the commit publishes b@1.0.1, but its ref names b@1.0.0
    2 verified, 1 failed
    --- stderr ---
    ");
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
    assert_cli_snapshot!(t.sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:6d7f08d570653b46bb261e283cc7f446e0c162d13edca2a0eb51704f65ecf458
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    3 verified, 0 failed
    --- stderr ---
    ");
    let run =
        t.sb.eka(&t.sb.mkdir("x"), &["verify", &t.url, "a@0.2.0"])
            .assert_success();
    assert_cli_snapshot!(t.sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    1 verified, 0 failed
    --- stderr ---
    ");
    let forged = t.forged_commit("refs/atoms/a/0.1.0", "format pre1", "format pre2");
    t.set_ref("refs/atoms/a/0.1.0", &forged);
    let head = t.repo.head();
    t.set_ref("refs/atoms/_origin/b/1.0.0", &head);
    let run = t.sb.eka(t.repo.path(), &["verify"]).assert_failure();
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: atom commit: line 5: expected `format pre1`, found `format pre2`
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    FAILED  b@1.0.0: the commit's origin is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_origin/b/1.0.0 points to 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    1 verified, 2 failed
    --- stderr ---
    ");
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
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the origin holds 2 atoms for a@0.1.0: `a`, `copy/a`
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

/// The atom ref points to a blob, not a commit.
#[test]
fn atom_ref_to_a_blob() {
    let t = Tamper::new();
    let blob = t.repo.rev_parse("refs/atoms/_manifest/a/0.1.0");
    t.set_ref("refs/atoms/a/0.1.0", &blob);
    let run = t.expect_failure(&[]);
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the atom ref points to a blob, not a commit
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    2 verified, 1 failed
    --- stderr ---
    ");
}

/// A ref under refs/atoms/ that is not of this format is reported, not
/// fatal.
#[test]
fn foreign_ref_is_a_warning() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = published(&sb, &server);
    let repo = reg.source;
    let head = repo.head();
    repo.git(&["update-ref", "refs/atoms/not-a-version/x", &head]);
    let run = sb.eka(repo.path(), &["verify"]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:6d7f08d570653b46bb261e283cc7f446e0c162d13edca2a0eb51704f65ecf458
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    ok      b@1.0.0  ndhmq06iuirim2n9q7j6n17tq56hj3sp7vv4rg208vcgs79grtj0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    3 verified, 0 failed
    --- stderr ---
    warning: ignoring `refs/atoms/not-a-version/x`: not an atom ref of this format
    ");
}

/// Deleting `_root` fails every atom, naming the ref.
#[test]
fn root_ref_deleted() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let reg = published(&sb, &server);
    let repo = reg.source;
    repo.git(&["update-ref", "-d", "refs/atoms/_root"]);
    let run = sb.eka(repo.path(), &["verify"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: refs/atoms/_root is missing
    FAILED  a@0.2.0: refs/atoms/_root is missing
    FAILED  b@1.0.0: refs/atoms/_root is missing
    0 verified, 3 failed
    --- stderr ---
    ");
}

/// The origin ref deleted on the remote: verify of the remote fails.
#[test]
fn origin_ref_deleted_on_remote() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let Registry {
        url, path: bare, ..
    } = published(&sb, &server);
    support::git(&bare, &["update-ref", "-d", "refs/atoms/_origin/b/1.0.0"]);
    let run = sb.eka(sb.path(), &["verify", &url]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    ok      a@0.1.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:6d7f08d570653b46bb261e283cc7f446e0c162d13edca2a0eb51704f65ecf458
    ok      a@0.2.0  gknpfq5s7di4iltqh41fof2851el97t2ahrv2g6cfdflmta0uidg  blake3:141c1eb378c5a115f17c9a2505fad5a2b5dfd78304440ef242d38136829a77b8
    FAILED  b@1.0.0: refs/atoms/_origin/b/1.0.0 is missing
    2 verified, 1 failed
    --- stderr ---
    ");
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
    assert_cli_snapshot!(t.sb, run, @"
    status: 1
    --- stdout ---
    FAILED  a@0.1.0: the commit's origin is 2d7cac536cd3f3cbf833c7020a55deff0824f6b6, but refs/atoms/_origin/a/0.1.0 points to 50ed98f3c2373ae7ac92bb62aa5063acb707689e
    2 verified, 1 failed
    --- stderr ---
    ");
}
