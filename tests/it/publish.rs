//! End-to-end tests of `eka publish`: the real binary against real git
//! remotes (file://, git daemon, smart HTTP, ssh), every result cross-checked with
//! git itself (cat-file, hash-object, fsck --strict, ls-remote).

use crate::support::atoms::{
    check_atom, count_pushes, local_atom_refs, object_counts, push_count, remote_atom_refs,
};
use crate::support::{self, assert_cli_snapshot, fsck, Repo, Sandbox, Transport};

/// A monorepo with three atoms at different depths, one nested inside
/// another, plus files that are not in any atom.
fn monorepo(sb: &Sandbox) -> Repo {
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write("a/src/lib.txt", "hello\n")
        .write("a/src/deeper/x.txt", "x\n")
        .write_atom("libs/deep/b", "b", "1.0.0")
        .write("libs/deep/b/b.txt", "b\n")
        .write_atom("a/inner", "inner", "2.0.0-rc.1")
        .write("a/inner/i.txt", "inner\n")
        .write("README", "monorepo\n");
    repo.commit("initial");
    repo
}

const ATOMS: [(&str, &str, &str); 3] = [
    ("a", "a", "0.1.0"),
    ("a/inner", "inner", "2.0.0-rc.1"),
    ("libs/deep/b", "b", "1.0.0"),
];

fn json(run: &support::Run) -> serde_json::Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{run}"))
}

/// Publishes every atom over `kind`, then checks everything with git.
fn publish_all_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("registry");
    // One snapshot for every transport.
    sb.filter(&url, "[URL]");
    let bare = server.path("registry");
    count_pushes(&bare);
    let repo = monorepo(&sb);
    let source = repo.head();
    let before = object_counts(repo.path());

    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    a      0.1.0       published  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    published 3 to [URL] (10 refs)
    --- stderr ---
    ");
    assert_eq!(push_count(&bare), 1, "one push: {run}");

    let remote = remote_atom_refs(&url);
    assert_eq!(remote.len(), 3 * 3 + 1, "{remote:#?}");
    for (path, label, version) in ATOMS {
        check_atom(&sb, &repo, &remote, &source, path, label, version);
    }
    // The local repository holds the same refs.
    assert_eq!(local_atom_refs(&repo), remote);

    // Publishing wrote commits only: no blob, no tree.
    let after = object_counts(repo.path());
    assert_eq!((after.0, after.1), (before.0, before.1), "blobs and trees");
    assert_eq!(after.2, before.2 + 3, "three atom commits");

    fsck(&bare);
    fsck(repo.path());

    // Again: up to date, nothing pushed.
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS      ATOM ID                                               DIGEST
    a      0.1.0       up to date  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  up to date  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       up to date  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    [URL] up to date
    --- stderr ---
    ");
    assert_eq!(push_count(&bare), 1, "republishing pushed: {run}");
    assert_eq!(remote_atom_refs(&url), remote);
}

#[test]
fn publish_all_file() {
    publish_all_over(Transport::File);
}

#[test]
fn publish_all_git_daemon() {
    publish_all_over(Transport::Git);
}

#[test]
fn publish_all_http() {
    publish_all_over(Transport::Http);
}

#[test]
fn publish_all_ssh() {
    publish_all_over(Transport::Ssh);
}

/// A republish over HTTP lists refs but sends no receive-pack request.
#[test]
fn republish_http_sends_no_push_request() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("registry");
    let repo = monorepo(&sb);
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let http = server.http().unwrap();
    http.clear_requests();
    let run = sb
        .eka(
            repo.path(),
            &["--json", "publish", "--all", "--remote", &url],
        )
        .assert_success();
    let requests = http.requests();
    assert!(
        requests.iter().all(|r| !r.path.contains("receive-pack")),
        "{requests:#?}"
    );
    assert!(!http.any_fetch(), "{requests:#?}");
    let v = json(&run);
    assert_eq!(v["pushed_refs"], serde_json::json!([]), "{run}");
    assert!(v["atoms"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status"] == "up-to-date"));
}

/// A configured remote name is resolved; `origin` is the default.
#[test]
fn publish_to_configured_remote() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    let url = support::file_url(&bare);
    let repo = monorepo(&sb);
    repo.add_remote("origin", &url).add_remote("other", &url);
    sb.eka(repo.path(), &["publish", "a"]).assert_success();
    assert_eq!(remote_atom_refs(&url).len(), 4);
    sb.eka(
        repo.path(),
        &["publish", "libs/deep/b", "--remote", "other"],
    )
    .assert_success();
    assert_eq!(remote_atom_refs(&url).len(), 7);
    fsck(&bare);
}

#[test]
fn dry_run_writes_nothing() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    count_pushes(&bare);
    let url = support::file_url(&bare);
    let repo = monorepo(&sb);
    let before = object_counts(repo.path());
    let run = sb
        .eka(
            repo.path(),
            &["publish", "--all", "--dry-run", "--remote", &url],
        )
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS         ATOM ID                                               DIGEST
    a      0.1.0       would publish  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  would publish  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       would publish  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    dry run: 3 to publish to file://[SANDBOX]/remotes/registry.git; nothing written
    --- stderr ---
    ");
    assert_eq!(local_atom_refs(&repo), vec![]);
    assert_eq!(remote_atom_refs(&url), vec![]);
    assert_eq!(object_counts(repo.path()), before, "objects written");
    assert_eq!(push_count(&bare), 0);

    let run = sb
        .eka(
            repo.path(),
            &["--json", "publish", "--all", "--dry-run", "--remote", &url],
        )
        .assert_success();
    let v = json(&run);
    assert_eq!(v["pushed_refs"], serde_json::json!([]));
    assert_eq!(v["atoms"].as_array().unwrap().len(), 3);
    assert!(v["atoms"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["status"] == "would-publish"));
    assert_eq!(local_atom_refs(&repo), vec![]);
    assert_eq!(remote_atom_refs(&url), vec![]);
}

/// `--rev` publishes an older commit's tree, never the work tree.
#[test]
fn rev_publishes_an_older_commit() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let first = repo.head();
    repo.write_atom("a", "a", "0.2.0")
        .write("a/src/lib.txt", "v2\n");
    let second = repo.commit("a 0.2.0");
    // Uncommitted changes are ignored by --rev (and, for HEAD, only with
    // --allow-dirty).
    repo.write_atom("a", "a", "9.9.9");

    sb.eka(
        repo.path(),
        &["publish", "a", "--rev", "HEAD~1", "--remote", &url],
    )
    .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &first, "a", "a", "0.1.0");
    assert_eq!(refs.len(), 4, "{refs:#?}");

    sb.eka(repo.path(), &["publish", "a", "--remote", &url])
        .assert_failure();
    sb.eka(
        repo.path(),
        &["publish", "a", "--remote", &url, "--allow-dirty"],
    )
    .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &second, "a", "a", "0.2.0");
    check_atom(&sb, &repo, &refs, &first, "a", "a", "0.1.0");
    assert!(!refs.iter().any(|(n, _)| n.contains("9.9.9")));
    fsck(&sb.path().join("remotes/registry.git"));
}

/// PATH arguments choose atoms; without any, the atom around the current
/// directory is published.
#[test]
fn path_selection() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let source = repo.head();

    // From a subdirectory of `a`: the enclosing atom only.
    let run = sb
        .eka(
            &repo.path().join("a/src/deeper"),
            &["publish", "--remote", &url],
        )
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS     ATOM ID                                               DIGEST
    a      0.1.0    published  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    published 1 to file://[SANDBOX]/remotes/registry.git (4 refs)
    --- stderr ---
    ");
    let refs = remote_atom_refs(&url);
    assert_eq!(refs.len(), 4, "{refs:#?}");
    check_atom(&sb, &repo, &refs, &source, "a", "a", "0.1.0");

    // Relative paths from a subdirectory, `./` and trailing slashes.
    let run = sb
        .eka(
            &repo.path().join("libs"),
            &["publish", "./deep/b/", "../a/inner", "--remote", &url],
        )
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    published 2 to file://[SANDBOX]/remotes/registry.git (6 refs)
    --- stderr ---
    ");
    let refs = remote_atom_refs(&url);
    assert_eq!(refs.len(), 10, "{refs:#?}");
    for (path, label, version) in ATOMS {
        check_atom(&sb, &repo, &refs, &source, path, label, version);
    }
}

/// `ekala.toml`'s `[set] packages` restricts `--all`.
#[test]
fn ekala_toml_restricts_all() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    repo.write(
        "ekala.toml",
        // The shape of eka 0.3's own ekala.toml.
        "[set]\npackages = [\"libs/deep/b\", \"a/inner\"]\n\n[metadata]\ntags = [\"eka\", \"atom\"]\n",
    );
    let source = repo.commit("ekala.toml");
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    published 2 to file://[SANDBOX]/remotes/registry.git (7 refs)
    --- stderr ---
    ");
    let refs = remote_atom_refs(&url);
    assert_eq!(refs.len(), 7, "{refs:#?}");
    check_atom(&sb, &repo, &refs, &source, "libs/deep/b", "b", "1.0.0");
    check_atom(&sb, &repo, &refs, &source, "a/inner", "inner", "2.0.0-rc.1");
    assert!(!refs.iter().any(|(n, _)| n == "refs/atoms/a/0.1.0"));
}

#[test]
fn json_report() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let source = repo.head();
    let run = sb
        .eka(
            repo.path(),
            &["--json", "publish", "--all", "--remote", &url],
        )
        .assert_success();
    let v = json(&run);
    assert_eq!(v["remote"], url.as_str());
    assert_eq!(v["source"], source.as_str());
    assert_eq!(v["root"], source.as_str());
    let atoms = v["atoms"].as_array().unwrap();
    assert_eq!(atoms.len(), 3);
    let refs = remote_atom_refs(&url);
    for ((path, label, version), a) in ATOMS.iter().zip(atoms) {
        assert_eq!(a["path"], *path);
        assert_eq!(a["label"], *label);
        assert_eq!(a["version"], *version);
        assert_eq!(a["status"], "published");
        let id = a["id"].as_str().unwrap();
        assert_eq!(id.len(), 52, "{id}");
        assert!(id
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='v').contains(&c)));
        let digest = a["digest"].as_str().unwrap();
        assert!(
            digest.starts_with("blake3:") && digest.len() == 7 + 64,
            "{digest}"
        );
        let commit = a["commit"].as_str().unwrap();
        assert!(refs.contains(&(format!("refs/atoms/{label}/{version}"), commit.to_owned())));
    }
    let mut pushed: Vec<String> = v["pushed_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    pushed.sort();
    let names: Vec<String> = refs.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(pushed, names);
    // Nothing but the JSON document on stdout.
    assert!(run.stdout.trim_start().starts_with('{'));
}

/// The atoms' ids and digests are the same whichever way they are reached,
/// and are printed in the human table.
#[test]
fn human_output_snapshot() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    let url = support::file_url(&bare);
    let repo = monorepo(&sb);
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    a      0.1.0       published  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    published 3 to file://[SANDBOX]/remotes/registry.git (10 refs)
    --- stderr ---
    ");
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS      ATOM ID                                               DIGEST
    a      0.1.0       up to date  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  up to date  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       up to date  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    file://[SANDBOX]/remotes/registry.git up to date
    --- stderr ---
    ");
    let run = sb
        .eka(
            repo.path(),
            &["publish", "a", "--dry-run", "--remote", &url],
        )
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS      ATOM ID                                               DIGEST
    a      0.1.0    up to date  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    dry run: 0 to publish to file://[SANDBOX]/remotes/registry.git; nothing written
    --- stderr ---
    ");
}

/// Over HTTP a publish lists the remote once (ls-refs, no fetch) and pushes
/// once.
#[test]
fn http_one_listing_one_push() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("registry");
    let repo = monorepo(&sb);
    let http = server.http().unwrap();
    http.clear_requests();
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let requests = http.requests();
    let ls_refs = requests
        .iter()
        .filter(|r| r.v2_command().as_deref() == Some("ls-refs"))
        .count();
    assert_eq!(ls_refs, 1, "{requests:#?}");
    assert!(!http.any_fetch(), "{requests:#?}");
    let pushes = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/git-receive-pack"))
        .count();
    assert_eq!(pushes, 1, "{requests:#?}");
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
}

/// Non-ASCII labels, build metadata, paths with spaces: refs git can store,
/// over every transport.
fn unusual_names_over(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("registry");
    let repo = sb.repo("mono");
    repo.write_atom("pkgs/café au lait", "café", "1.0.0+build.5")
        .write("pkgs/café au lait/x y.txt", "x\n")
        .write_atom("ß", "straße-2", "0.0.1-alpha.1");
    let source = repo.commit("unusual");
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(
        &sb,
        &repo,
        &refs,
        &source,
        "pkgs/café au lait",
        "café",
        "1.0.0+build.5",
    );
    check_atom(&sb, &repo, &refs, &source, "ß", "straße-2", "0.0.1-alpha.1");
    fsck(&server.path("registry"));
    let run = sb.eka(sb.path(), &["verify", &url]).assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      café@1.0.0+build.5      8dmdr11vaa6htahr46vhktvljbsqtot8fn44767q5fq80uodkfr0  blake3:c639450de7523298fe757ffa47d4ae7b5e5c831da325fb22387c70f2a0351733
    ok      straße-2@0.0.1-alpha.1  g19a73f7lmhrv80tgpdfoog916gn8ub674b22aq2m45htu4p7660  blake3:c766258cc382d6c97684c708a874579e1a8c377118f25a5d565fd213f2b25d11
    2 verified, 0 failed
    --- stderr ---
    ");
}

#[test]
fn unusual_names_file() {
    unusual_names_over(Transport::File);
}

#[test]
fn unusual_names_git_daemon() {
    unusual_names_over(Transport::Git);
}

#[test]
fn unusual_names_http() {
    unusual_names_over(Transport::Http);
}

#[test]
fn unusual_names_ssh() {
    unusual_names_over(Transport::Ssh);
}

/// A label written in a non-NFKC form is published under its NFKC form.
#[test]
fn label_is_nfkc_normalised() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = sb.repo("mono");
    // U+FB01 LATIN SMALL LIGATURE FI normalises to "fi".
    repo.write_atom("x", "\u{fb01}x", "0.1.0");
    let source = repo.commit("ligature");
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &source, "x", "fix", "0.1.0");
    sb.eka(repo.path(), &["verify"]).assert_success();
}

/// Executable files and submodules (gitlinks) inside an atom are kept as
/// they are in the source tree.
#[test]
fn executables_and_submodules() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    let url = support::file_url(&bare);
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write("a/run.sh", "#!/bin/sh\n");
    repo.git(&["add", "-A"]);
    repo.git(&["update-index", "--chmod=+x", "a/run.sh"]);
    // A gitlink to a commit the registry does not have.
    let foreign = "1111111111111111111111111111111111111111";
    repo.git(&[
        "update-index",
        "--add",
        "--cacheinfo",
        &format!("160000,{foreign},a/vendor"),
    ]);
    // Not `Repo::commit`: its `git add -A` would undo both.
    repo.git(&["commit", "--quiet", "-m", "exec and submodule"]);
    let source = repo.head();
    let ls = repo.git(&["ls-tree", "HEAD:a"]);
    assert!(
        ls.contains("100755 blob") && ls.contains("160000 commit"),
        "{ls}"
    );
    // The work tree has neither the executable bit nor the submodule:
    // git sees it changed, so HEAD is published as committed on request.
    sb.eka(repo.path(), &["publish", "a", "--remote", &url])
        .assert_failure();
    sb.eka(
        repo.path(),
        &["publish", "a", "--remote", &url, "--allow-dirty"],
    )
    .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &source, "a", "a", "0.1.0");
    fsck(&bare);
    sb.eka(sb.path(), &["verify", &url]).assert_success();
}

/// `_root` is the root reached by first parents, not the oldest
/// parentless commit (spec/format.md, "Repository root").
#[test]
fn root_follows_first_parents() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = sb.repo("mono");
    // An older, unrelated history...
    repo.git(&["checkout", "--quiet", "--orphan", "old"]);
    repo.write("old.txt", "old\n");
    let old_root = repo.commit("old root");
    // ...merged into main, whose own root is younger.
    repo.git(&["checkout", "--quiet", "--orphan", "main"]);
    repo.git(&["rm", "-r", "--quiet", "--cached", "."]);
    repo.remove("old.txt");
    repo.write_atom("a", "a", "0.1.0");
    let main_root = repo.commit("main root");
    repo.git(&[
        "merge",
        "--quiet",
        "--allow-unrelated-histories",
        "--no-edit",
        "old",
    ]);
    let merge = repo.head();
    assert_ne!(old_root, main_root);
    sb.eka(repo.path(), &["publish", "a", "--remote", &url])
        .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &merge, "a", "a", "0.1.0");
    assert!(
        refs.contains(&("refs/atoms/_root".into(), main_root)),
        "{refs:#?}"
    );
    sb.eka(repo.path(), &["verify"]).assert_success();
}

/// `--rev` takes branches and annotated tags (peeled to the commit).
#[test]
fn rev_accepts_tags() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let tagged = repo.head();
    repo.git(&["tag", "-a", "-m", "release", "v1"]);
    repo.write_atom("a", "a", "0.2.0");
    repo.commit("next");
    sb.eka(
        repo.path(),
        &["publish", "a", "--rev", "v1", "--remote", &url],
    )
    .assert_success();
    check_atom(
        &sb,
        &repo,
        &remote_atom_refs(&url),
        &tagged,
        "a",
        "a",
        "0.1.0",
    );
}

/// A publish after a rejected push goes through once the cause is gone.
#[test]
fn publish_after_rejected_push() {
    let sb = Sandbox::new();
    let bare = sb.bare("registry");
    let url = support::file_url(&bare);
    let repo = monorepo(&sb);
    support::reject_pushes(&bare, "not now");
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_failure();
    assert_eq!(local_atom_refs(&repo), vec![]);
    std::fs::remove_file(bare.join("hooks/pre-receive")).unwrap();
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    let refs = remote_atom_refs(&url);
    assert_eq!(refs.len(), 10);
    assert_eq!(local_atom_refs(&repo), refs);
}

/// `-q` prints nothing on success.
#[test]
fn quiet() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let run = sb
        .eka(repo.path(), &["-q", "publish", "--all", "--remote", &url])
        .assert_success();
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("", ""),
        "{run}"
    );
    assert_eq!(remote_atom_refs(&url).len(), 10);
    let run = sb.eka(repo.path(), &["-q", "verify"]).assert_success();
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str()),
        ("", ""),
        "{run}"
    );
}

/// One repository published to two registries: each gets every ref
/// (including `_root`), and both verify.
#[test]
fn two_registries() {
    let sb = Sandbox::new();
    let first = support::file_url(&sb.bare("first"));
    let server = sb.server(Transport::Http);
    let second = server.create("second");
    let repo = monorepo(&sb);
    sb.eka(repo.path(), &["publish", "--all", "--remote", &first])
        .assert_success();
    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &second])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    a      0.1.0       published  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    published 3 to http://127.0.0.1:[PORT]/second.git (10 refs)
    --- stderr ---
    ");
    assert_eq!(remote_atom_refs(&first), remote_atom_refs(&second));
    assert_eq!(remote_atom_refs(&second).len(), 10);
    sb.eka(sb.path(), &["verify", &second]).assert_success();
    fsck(&server.path("second"));
}

/// `_root` goes with the first publish only; the same path named twice is
/// published once.
#[test]
fn root_pushed_once_and_paths_deduplicated() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let run = sb
        .eka(
            repo.path(),
            &["--json", "publish", "a", "./a", "a/", "--remote", &url],
        )
        .assert_success();
    let v = json(&run);
    assert_eq!(v["atoms"].as_array().unwrap().len(), 1, "{run}");
    let mut pushed: Vec<&str> = v["pushed_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    pushed.sort();
    assert_eq!(
        pushed,
        [
            "refs/atoms/_manifest/a/0.1.0",
            "refs/atoms/_origin/a/0.1.0",
            "refs/atoms/_root",
            "refs/atoms/a/0.1.0"
        ]
    );
    let run = sb
        .eka(
            repo.path(),
            &["--json", "publish", "libs/deep/b", "--remote", &url],
        )
        .assert_success();
    let v = json(&run);
    let mut pushed: Vec<&str> = v["pushed_refs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    pushed.sort();
    assert_eq!(
        pushed,
        [
            "refs/atoms/_manifest/b/1.0.0",
            "refs/atoms/_origin/b/1.0.0",
            "refs/atoms/b/1.0.0"
        ]
    );
}

/// Publishing from a linked worktree and from a bare clone: the refs go to
/// the shared repository.
#[test]
fn from_worktree_and_bare_clone() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let linked = sb.path().join("linked");
    repo.git(&[
        "worktree",
        "add",
        "--quiet",
        "-b",
        "side",
        linked.to_str().unwrap(),
    ]);
    let wt = Repo::open(&linked);
    wt.write_atom("a", "a", "0.3.0");
    let source = wt.commit("a 0.3.0 on a side branch");
    sb.eka(&linked.join("a"), &["publish", "--remote", &url])
        .assert_success();
    let refs = remote_atom_refs(&url);
    check_atom(&sb, &repo, &refs, &source, "a", "a", "0.3.0");
    // The refs are the main repository's.
    assert_eq!(local_atom_refs(&repo), refs);
    fsck(repo.path());

    let bare = sb.path().join("clone.git");
    support::git(
        sb.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            &support::file_url(repo.path()),
            bare.to_str().unwrap(),
        ],
    );
    let run = sb
        .eka(&bare, &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS     ATOM ID                                               DIGEST
    a      0.1.0       published  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  published  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       published  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    published 3 to file://[SANDBOX]/remotes/registry.git (9 refs)
    --- stderr ---
    ");
    let refs = remote_atom_refs(&url);
    assert_eq!(refs.len(), 13, "{refs:#?}");
    let clone = Repo::open(&bare);
    check_atom(
        &sb,
        &clone,
        &refs,
        &repo.head(),
        "libs/deep/b",
        "b",
        "1.0.0",
    );
    fsck(&bare);
}

/// A version eka 0.3 published (`refs/eka/atoms/…`) is as immutable as one
/// of ours: republishing the same commit is "up to date" and pushes nothing,
/// different content under the same version is refused, and eka 0.3's root
/// (`refs/ekala/init`) is checked like ours.
#[test]
fn eka03_published_versions_are_respected() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let url = server.create("registry");
    let bare = server.path("registry");
    let repo = monorepo(&sb);
    sb.eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    // The remote as eka 0.3 alone would have published it.
    for (_, label, _) in ATOMS {
        support::to_eka03(&bare, label);
    }
    support::git(&bare, &["update-ref", "-d", "refs/atoms/_root"]);
    let legacy = support::ls_remote(&url, &["refs/eka/*", "refs/ekala/*"]);
    assert_eq!(legacy.len(), 3 * 3 + 1, "{legacy:#?}");
    count_pushes(&bare);

    let run = sb
        .eka(repo.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION     STATUS      ATOM ID                                               DIGEST
    a      0.1.0       up to date  lnt8fgoedplu6e9em9au256tcn8di6hu4e9ltefckvqg2jutf310  blake3:c0bd78eb7c790e65dec974cfcf0f9bd0e4e7915f8c9d17d02e0dd3b40cf7254f
    inner  2.0.0-rc.1  up to date  judqjne5588u8tknuegcar9fsh42e6cs0moqtkh9lbtmotlctjng  blake3:13eb58af359d6f3cdab01d17afd547d539bd700b2aaf2dd676a3c9fdac980668
    b      1.0.0       up to date  3h3j66t8k7fj8godhp9cm6g89n8en73b8vt78os9aalc02igupp0  blake3:d7d63a9bf64f587ecf2c1c712624b24fe727d08784f0d51b2fb22017d473bb03
    file://[SANDBOX]/served-file/registry.git up to date
    --- stderr ---
    ");
    assert_eq!(push_count(&bare), 0, "{run}");
    assert!(support::ls_remote(&url, &["refs/atoms/*"]).is_empty());

    // Same version, different content.
    repo.write("a/src/lib.txt", "changed\n");
    repo.commit("change a without a new version");
    let run = sb
        .eka(repo.path(), &["publish", "--remote", &url, "a"])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::version_conflict

      × already published with different content:
      │   a@0.1.0 is 1ad07fe54001bfa943300fa7b481902139880703 on the remote, but
      │ would be 3bffde5cbb32027ecec43af2bdc5152dd08313d1 from this commit
      help: published versions are immutable: bump the version in atom.toml and
            commit; nothing was pushed
    ");
    assert_eq!(push_count(&bare), 0, "{run}");

    // A different repository root under eka 0.3's name.
    let other = sb.repo("other");
    other.write_atom("z", "z", "1.0.0");
    other.commit("unrelated history");
    let run = sb
        .eka(other.path(), &["publish", "--all", "--remote", &url])
        .assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 1
    --- stdout ---
    --- stderr ---
    atom::publish::root_mismatch

      × the remote's repository root is bea0c684f1ac871f7005ad92133dff5dd5acad3a,
      │ but this repository's is 4c8997f238a3f0b2ce162373f5d5405a63a83211
      help: a registry holds atoms of one repository history; publish to a remote
            of this repository
    ");
    assert_eq!(push_count(&bare), 0, "{run}");
    assert_eq!(
        support::ls_remote(&url, &["refs/eka/*", "refs/ekala/*"]),
        legacy
    );
    fsck(&bare);
}

/// A signed publish signs while git checks the work tree, but writes its
/// tags only once the work tree is known to be clean: refused for a dirty
/// work tree, it leaves no object, pack or ref behind.
#[test]
fn a_refused_signed_publish_writes_no_signature() {
    let sb = Sandbox::new();
    let url = support::file_url(&sb.bare("registry"));
    let repo = monorepo(&sb);
    let (key, _) = support::keygen(&sb, "key");
    let all_objects = || {
        support::git(
            repo.path(),
            &["cat-file", "--batch-all-objects", "--batch-check"],
        )
    };
    let before = all_objects();
    repo.write("a/src/lib.txt", "changed\n");

    let key = key.to_str().unwrap();
    let args = ["publish", "--all", "--sign", "--key", key, "--remote", &url];
    let run = sb.eka(repo.path(), &args).assert_failure();
    assert!(run.stderr.contains("atom::publish::dirty"), "{run}");
    assert_eq!(all_objects(), before, "objects written: {run}");
    assert_eq!(local_atom_refs(&repo), vec![]);
    assert_eq!(remote_atom_refs(&url), vec![]);

    repo.write("a/src/lib.txt", "hello\n");
    sb.eka(repo.path(), &args).assert_success();
    let tags = all_objects()
        .lines()
        .filter(|l| l.contains(" tag "))
        .count();
    assert_eq!(tags, 3, "one signature tag per atom");
}
