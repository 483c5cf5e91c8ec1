//! Test monorepos: a working repository with files written and committed
//! reproducibly.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{git, git_command, process, DEFAULT_TIMEOUT};

/// A minimal `atom.toml` for `label` at `version`.
pub fn atom_toml(label: &str, version: &str) -> String {
    format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n")
}

/// A non-bare git repository (branch `main`) to build test histories in.
///
/// Commits made with [`Repo::commit`] have a fixed identity and dates that
/// depend only on the number of commits already in the repository, so the
/// same steps give the same commit ids on every run.
#[derive(Clone, Debug)]
pub struct Repo {
    path: PathBuf,
}

impl Repo {
    /// `git init` at `path` (created if needed).
    pub fn init(path: &Path) -> Self {
        std::fs::create_dir_all(path).expect("create repository directory");
        git(path, &["init", "--quiet"]);
        Self::open(path)
    }

    /// An existing repository.
    pub fn open(path: &Path) -> Self {
        Self {
            path: path.canonicalize().expect("canonical repository path"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to the file `rel` (creating parent folders).
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        // An absolute `rel` would make `join` escape the repository.
        assert!(
            !rel.starts_with('/'),
            "write: `{rel}` must be relative to the repository"
        );
        let file = self.path.join(rel);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::fs::write(&file, contents).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
        self
    }

    /// Writes `<dir>/atom.toml` for `label` at `version` (see [`atom_toml`]).
    pub fn write_atom(&self, dir: &str, label: &str, version: &str) -> &Self {
        let path = if dir.is_empty() {
            "atom.toml".to_owned()
        } else {
            format!("{dir}/atom.toml")
        };
        self.write(&path, atom_toml(label, version))
    }

    /// Creates the symbolic link `rel` pointing to `target`.
    pub fn symlink(&self, rel: &str, target: &str) -> &Self {
        let link = self.path.join(rel);
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).expect("create parent folders");
        }
        std::os::unix::fs::symlink(target, &link)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
        self
    }

    /// Removes the file, link or folder `rel`.
    pub fn remove(&self, rel: &str) -> &Self {
        let path = self.path.join(rel);
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        }
        .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        self
    }

    /// Runs `git ARGS` in the repository (see [`super::git`]).
    pub fn git<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        git(&self.path, args)
    }

    /// Stages everything (`git add -A`) and commits it with `message`
    /// (allowing an empty commit); returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        let count: u64 = self
            .git(&["rev-list", "--all", "--count"])
            .parse()
            .expect("commit count");
        let date = format!("{} +0000", 1_700_000_000 + 60 * count);
        let mut cmd = git_command(&self.path, Path::new(super::NO_HOME));
        cmd.args([
            "commit",
            "--quiet",
            "--allow-empty",
            "--no-verify",
            "-m",
            message,
        ])
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date);
        process::run(cmd, None, DEFAULT_TIMEOUT).assert_success();
        self.head()
    }

    /// The id of `HEAD`.
    pub fn head(&self) -> String {
        self.rev_parse("HEAD")
    }

    /// The commit/object id `rev` names.
    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", "--end-of-options", rev])
    }

    /// Adds the remote `name` at `url`.
    pub fn add_remote(&self, name: &str, url: &str) -> &Self {
        self.git(&["remote", "add", name, url]);
        self
    }

    /// Refs matching `pattern` (e.g. `refs/atoms/`) as (name, id) pairs.
    pub fn refs(&self, pattern: &str) -> Vec<(String, String)> {
        parse_ref_lines(
            &self.git(&["for-each-ref", "--format=%(refname) %(objectname)", pattern]),
            false,
        )
    }
}

/// Parses `<a> <b>` lines (for-each-ref output, or ls-remote's `<id>\t<ref>`
/// when `id_first`) into (ref, id) pairs.
pub(crate) fn parse_ref_lines(text: &str, id_first: bool) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (a, b) = l
                .split_once([' ', '\t'])
                .unwrap_or_else(|| panic!("bad ref line {l:?}"));
            if id_first {
                (b.to_owned(), a.to_owned())
            } else {
                (a.to_owned(), b.to_owned())
            }
        })
        .collect()
}
