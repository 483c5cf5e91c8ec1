//! Helpers shared by the `eka` end-to-end tests (publish, verify, new): the
//! expected atom commit bytes, object counts, push counting, output filters.

use std::path::Path;

use crate::support::{git, git_run, git_stdin, install_hook, ls_remote, Repo, Sandbox};

/// The atom commit that eka must write, byte for byte (spec/format.md,
/// "Atom commit").
pub fn expected_commit(tree: &str, origin: &str, label: &str, version: &str) -> String {
    format!(
        "tree {tree}\nauthor  <> 0 +0000\ncommitter  <> 0 +0000\norigin {origin}\nformat pre1\n\npublish({label}): {version}"
    )
}

/// The raw bytes of the object `id` (`git cat-file <kind> <id>`), untrimmed.
pub fn cat_file(sb: &Sandbox, dir: &Path, kind: &str, id: &str) -> String {
    let mut cmd = sb.git_command(dir);
    cmd.args(["cat-file", kind, id]);
    sb.run(cmd).assert_success().stdout
}

/// `git hash-object -t <kind> --stdin` of `bytes` (optionally `-w`).
pub fn hash_object(dir: &Path, kind: &str, bytes: &[u8], write: bool) -> String {
    let mut args = vec!["hash-object", "-t", kind, "--stdin"];
    if write {
        args.push("-w");
        args.push("--literally");
    }
    git_stdin(dir, &args, bytes)
}

/// Number of (blob, tree, commit) objects in the repository at `dir`,
/// reachable or not.
pub fn object_counts(dir: &Path) -> (usize, usize, usize) {
    let out = git(dir, &["cat-file", "--batch-all-objects", "--batch-check"]);
    let count = |kind: &str| {
        out.lines()
            .filter(|l| l.split(' ').nth(1) == Some(kind))
            .count()
    };
    (count("blob"), count("tree"), count("commit"))
}

/// Makes the bare repository at `bare` log every push it receives, so
/// that [`push_count`] can tell whether a command pushed at all.
pub fn count_pushes(bare: &Path) {
    install_hook(
        bare,
        "pre-receive",
        "cat >> eka-pushes.log\necho push >> eka-push-count.log",
    );
}

/// How many pushes `bare` received since [`count_pushes`].
pub fn push_count(bare: &Path) -> usize {
    std::fs::read_to_string(bare.join("eka-push-count.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Refs of the remote at `url` under refs/atoms/, sorted.
pub fn remote_atom_refs(url: &str) -> Vec<(String, String)> {
    let mut refs = ls_remote(url, &["refs/atoms/*"]);
    refs.sort();
    refs
}

/// Local refs of `repo` under refs/atoms/, sorted.
pub fn local_atom_refs(repo: &Repo) -> Vec<(String, String)> {
    let mut refs = repo.refs("refs/atoms/");
    refs.sort();
    refs
}

/// Checks, with git alone, everything about one published atom version in
/// the refs `refs` (of the remote or the local repository):
/// the four refs, the exact commit bytes, their id, the manifest blob.
pub fn check_atom(
    sb: &Sandbox,
    repo: &Repo,
    refs: &[(String, String)],
    source: &str,
    path: &str,
    label: &str,
    version: &str,
) {
    let get = |name: &str| {
        refs.iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("ref {name} missing from {refs:#?}"))
    };
    let atom = get(&format!("refs/atoms/{label}/{version}"));
    let manifest = get(&format!("refs/atoms/_manifest/{label}/{version}"));
    let origin = get(&format!("refs/atoms/_origin/{label}/{version}"));
    let root = get("refs/atoms/_root");
    assert_eq!(origin, source, "origin ref of {label}@{version}");
    assert_eq!(
        root,
        repo.git(&["rev-list", "--max-parents=0", "--first-parent", source]),
        "_root"
    );
    assert_eq!(
        manifest,
        repo.rev_parse(&format!("{source}:{path}/atom.toml")),
        "manifest ref of {label}@{version}"
    );
    let tree = repo.rev_parse(&format!("{source}:{path}"));
    let bytes = cat_file(sb, repo.path(), "commit", &atom);
    assert_eq!(
        bytes,
        expected_commit(&tree, source, label, version),
        "atom commit bytes of {label}@{version}"
    );
    assert_eq!(
        hash_object(repo.path(), "commit", bytes.as_bytes(), false),
        atom,
        "hash of the atom commit"
    );
    assert_eq!(cat_file(sb, repo.path(), "-t", &atom).trim_end(), "commit");
}

/// Whether `git update-ref` accepts `name` (for sanity checks in tests).
pub fn git_accepts_ref(dir: &Path, name: &str) -> bool {
    git_run(dir, &["check-ref-format", name]).success()
}
