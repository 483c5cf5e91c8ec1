//! What the work tree changes against `HEAD`: eka reads committed trees,
//! so a change not committed yet is one it would silently ignore.

use std::process::Command;

/// The paths (relative to the work tree's root, `/`-separated) under
/// `paths` (the same) whose files in the work tree or the index differ
/// from `HEAD`, untracked files included and ignored ones not, as
/// `git status` sees them; empty for a bare repository.
pub fn uncommitted(repo: &gix::Repository, paths: &[&str]) -> std::io::Result<Vec<String>> {
    let Some(workdir) = repo.workdir() else {
        return Ok(Vec::new());
    };
    // No optional lock: `git status` otherwise takes `index.lock` to
    // refresh the index, and a killed eka (`kill -9` of its group) left it
    // behind, blocking every git command in the user's repository.
    let output = Command::new("git")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .arg("-C")
        .arg(workdir)
        .args([
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
        ])
        .args(pathspecs(paths))
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "git status failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(parse_porcelain(&output.stdout))
}

/// The files under `dir` (a directory of a work tree) that git would
/// commit: tracked ones and untracked ones that `.gitignore` (and
/// `.git/info/exclude`, `core.excludesFile`) does not ignore, as
/// `git add --all` takes them; paths relative to `dir`, `/`-separated.
/// `Ok(None)` when `dir` is in no work tree (every file counts then). A
/// nested repository is listed as its directory (`sub/`).
pub fn committable(dir: &std::path::Path) -> std::io::Result<Option<Vec<String>>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            ".",
        ])
        .output()?;
    if !output.status.success() {
        let inside = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["rev-parse", "--is-inside-work-tree"])
            .output()?;
        if inside.stdout.trim_ascii() != b"true" {
            return Ok(None);
        }
        return Err(std::io::Error::other(format!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut paths: Vec<String> = output
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    paths.sort();
    paths.dedup();
    Ok(Some(paths))
}

/// `:(top,literal)` pathspecs: from the root, no wildcards (an empty path
/// is the whole tree).
fn pathspecs(paths: &[&str]) -> Vec<String> {
    paths
        .iter()
        .map(|p| match p.is_empty() {
            true => ":(top)".to_owned(),
            false => format!(":(top,literal){p}"),
        })
        .collect()
}

/// The paths of `git status --porcelain=v1 -z` output (a rename's new
/// path; its old one follows as a separate entry, skipped).
fn parse_porcelain(out: &[u8]) -> Vec<String> {
    let mut paths = Vec::new();
    let mut entries = out.split(|b| *b == 0).filter(|e| !e.is_empty());
    while let Some(entry) = entries.next() {
        if entry.len() < 4 {
            continue;
        }
        let status = &entry[..2];
        paths.push(String::from_utf8_lossy(&entry[3..]).into_owned());
        if status.contains(&b'R') || status.contains(&b'C') {
            entries.next();
        }
    }
    paths
}

/// Whether `path` (work tree relative) is one of `paths` or below one.
pub fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_paths_with_renames() {
        let out = b" M a/atom.toml\0R  a/new.nix\0a/old.nix\0?? a/x y.nix\0";
        assert_eq!(
            parse_porcelain(out),
            ["a/atom.toml", "a/new.nix", "a/x y.nix"]
        );
    }

    #[test]
    fn committable_leaves_out_ignored_files() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        let a = dir.path().join("a");
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::write(a.join("atom.toml"), "1").unwrap();
        std::fs::write(a.join(".gitignore"), "result\n*.tmp\n").unwrap();
        std::fs::write(a.join("tracked.tmp"), "1").unwrap();
        git(&["add", "."]);
        git(&["add", "-f", "a/tracked.tmp"]);
        git(&["commit", "-qm", "c"]);
        std::fs::write(a.join("sub/new.nix"), "{}").unwrap();
        std::fs::write(a.join("junk.tmp"), "1").unwrap();
        std::os::unix::fs::symlink("/nix/store", a.join("result")).unwrap();
        std::fs::write(dir.path().join("outside.nix"), "{}").unwrap();
        // Tracked files count even when ignored; ignored untracked ones not.
        assert_eq!(
            committable(&a).unwrap().unwrap(),
            [".gitignore", "atom.toml", "sub/new.nix", "tracked.tmp"]
        );
        let plain = tempfile::tempdir().unwrap();
        assert_eq!(committable(plain.path()).unwrap(), None);
    }

    #[test]
    fn under() {
        assert!(is_under("a/b", "a"));
        assert!(!is_under("ab/c", "a"));
        assert!(is_under("x", ""));
    }

    #[test]
    fn sees_what_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .status()
                .unwrap()
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/atom.toml"), "1").unwrap();
        std::fs::write(dir.path().join("b.txt"), "1").unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "c"]);
        let repo = gix::open(dir.path()).unwrap();
        assert!(uncommitted(&repo, &["a"]).unwrap().is_empty());
        std::fs::write(dir.path().join("a/atom.toml"), "2").unwrap();
        std::fs::write(dir.path().join("b.txt"), "2").unwrap();
        std::fs::write(dir.path().join("a/new.nix"), "{}").unwrap();
        assert_eq!(
            uncommitted(&repo, &["a"]).unwrap(),
            ["a/atom.toml", "a/new.nix"]
        );
    }
}
