//! Setting up a work tree for `eka init`: `git init` and `git remote add`,
//! run through git itself so that the user's git configuration
//! (`init.defaultBranch`, templates, hooks) applies as it would by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Why git could not set the work tree up.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SetupError {
    #[error("cannot run git")]
    #[diagnostic(code(atom::git::spawn), help("install git; eka needs it on the PATH"))]
    Spawn(#[source] std::io::Error),
    #[error("cannot create `{}`", dir.display())]
    #[diagnostic(code(atom::git::setup_io))]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`git {command}` failed in `{}`: {stderr}", dir.display())]
    #[diagnostic(code(atom::git::setup))]
    Git {
        command: String,
        dir: PathBuf,
        stderr: String,
    },
}

/// `git init DIR` (DIR is created if missing).
pub fn init_work_tree(dir: &Path) -> Result<(), SetupError> {
    std::fs::create_dir_all(dir).map_err(|source| SetupError::Io {
        dir: dir.to_owned(),
        source,
    })?;
    run_git(dir, &["init", "--quiet"])
}

/// `git remote add NAME URL` in the work tree `dir`.
pub fn add_remote(dir: &Path, name: &str, url: &str) -> Result<(), SetupError> {
    run_git(dir, &["remote", "add", "--", name, url])
}

fn run_git(dir: &Path, args: &[&str]) -> Result<(), SetupError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(SetupError::Spawn)?;
    if output.status.success() {
        return Ok(());
    }
    Err(SetupError::Git {
        command: args
            .iter()
            .filter(|a| **a != "--")
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
        dir: dir.to_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialises_and_adds_a_remote() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("w");
        init_work_tree(&work).unwrap();
        add_remote(&work, "origin", "/srv/reg.git").unwrap();
        let repo = crate::open(&work).unwrap();
        assert_eq!(
            crate::repo::configured_remote_url(&repo, "origin").as_deref(),
            Some("/srv/reg.git")
        );
        let e = add_remote(&work, "origin", "/elsewhere.git").unwrap_err();
        assert!(matches!(e, SetupError::Git { .. }), "{e:?}");
    }
}
