//! Helpers of the unit tests: git without the user's configuration, and a
//! small repository.

use std::path::Path;
use std::process::Command;

use gix::ObjectId;

/// Runs git in `dir` without the user's configuration; its stdout.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A repository with one commit (`a/x`, `b/y`); its path and the commit.
pub(crate) fn repo() -> (tempfile::TempDir, ObjectId) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    for (path, text) in [("a/x", "x\n"), ("b/y", "y\n")] {
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    let head = git(dir.path(), &["rev-parse", "HEAD"]);
    (dir, ObjectId::from_hex(head.trim().as_bytes()).unwrap())
}
