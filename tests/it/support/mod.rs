//! Shared support for the end-to-end tests: a hermetic environment for `git`
//! and `eka`, test monorepos, bare remotes, and real git servers on loopback
//! (`file://`, `git daemon`, smart HTTP through `git http-backend`, ssh
//! through a private `sshd`).
//!
//! The test modules reach it as `crate::support`. A typical test:
//!
//! ```ignore
//! let sb = Sandbox::new();                       // temp dir + private HOME
//! let server = sb.server(Transport::Http);       // or File, Git, Ssh; stops on drop
//! let url = server.create("registry");           // empty bare repo, its URL
//! let repo = sb.repo("mono");                    // git init, branch main
//! repo.write_atom("pkgs/a", "a", "0.1.0").write("pkgs/a/x.txt", "x\n");
//! let source = repo.commit("add a");              // reproducible commit id
//! let run = sb.eka(repo.path(), &["publish", "--all", "--remote", &url]).assert_success();
//! let refs = ls_remote(&url, &["refs/atoms/*"]);
//! fsck(&server.path("registry"));
//! ```
//!
//! To run every case on every transport, loop over [`Transport::ALL`] (or
//! write one `#[test]` per transport so they run in parallel).

pub mod atoms;
mod daemon;
mod http;
mod process;
mod registry;
mod remote;
mod repo;
mod snapshot;
pub mod ssh;

pub use daemon::GitDaemon;
pub use http::HttpGitServer;
pub use process::{Run, DEFAULT_TIMEOUT};
pub use registry::{Registry, RegistryBuilder};
pub use remote::{
    bare_repo, file_url, install_hook, reject_pushes, to_eka03, unreachable_url, GitServer,
    Transport,
};
pub use repo::{atom_toml, Repo};
pub(crate) use snapshot::assert_cli_snapshot;
pub use ssh::{current_user, sent_prefixes, ssh_command, SshServer};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Path of the `eka` binary built by cargo for these tests.
pub const EKA: &str = env!("CARGO_BIN_EXE_eka");

/// Author and committer identity of every commit the tests make.
pub const AUTHOR_NAME: &str = "Eka Test";
pub const AUTHOR_EMAIL: &str = "test@eka.invalid";
/// Default author and committer date (`git` internal format) of commits made
/// through [`git`]; [`Repo::commit`] uses its own, increasing, dates.
pub const DEFAULT_DATE: &str = "1700000000 +0000";

/// `HOME` of commands run outside a [`Sandbox`]: a path that does not exist,
/// so nothing is read from (or can be written to) a real home directory.
const NO_HOME: &str = "/nonexistent/eka-e2e-home";

/// Clears the environment of `cmd` and sets a hermetic one: `PATH` (to find
/// git), `HOME` and the XDG directories under `home`, no system or global git
/// configuration, no prompts, C locale, UTC, no colours, and the test ssh
/// client ([`ssh_command`] as `GIT_SSH_COMMAND`) for `ssh://` URLs.
///
/// A few variables that only steer tooling (`RUST_BACKTRACE`, `RUST_LOG`,
/// `LLVM_PROFILE_FILE` for coverage) pass through.
pub fn hermetic<'c>(cmd: &'c mut Command, home: &Path) -> &'c mut Command {
    cmd.env_clear();
    for var in ["PATH", "RUST_BACKTRACE", "RUST_LOG", "LLVM_PROFILE_FILE"] {
        if let Some(value) = std::env::var_os(var) {
            cmd.env(var, value);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_RUNTIME_DIR", home.join(".run"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env("GIT_SSH_COMMAND", ssh_command())
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
}

/// A hermetic `git` command (see [`hermetic`]) running in `dir`, with a fixed
/// identity and fixed dates so that commits are reproducible, and
/// `init.defaultBranch=main`.
pub fn git_command(dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new("git");
    hermetic(&mut cmd, home)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", AUTHOR_NAME)
        .env("GIT_AUTHOR_EMAIL", AUTHOR_EMAIL)
        .env("GIT_AUTHOR_DATE", DEFAULT_DATE)
        .env("GIT_COMMITTER_NAME", AUTHOR_NAME)
        .env("GIT_COMMITTER_EMAIL", AUTHOR_EMAIL)
        .env("GIT_COMMITTER_DATE", DEFAULT_DATE)
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "init.defaultBranch")
        .env("GIT_CONFIG_VALUE_0", "main")
        .env("GIT_CONFIG_KEY_1", "advice.detachedHead")
        .env("GIT_CONFIG_VALUE_1", "false");
    cmd
}

/// Runs `git ARGS` in `dir` (hermetic) and returns its stdout, trimmed of
/// trailing whitespace. Panics, showing the command, stdout and stderr, if
/// git fails.
pub fn git<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> String {
    let mut cmd = git_command(dir, Path::new(NO_HOME));
    cmd.args(args);
    process::run(cmd, None, DEFAULT_TIMEOUT)
        .assert_success()
        .stdout
        .trim_end()
        .to_owned()
}

/// Like [`git`] with `input` on stdin (for `hash-object --stdin`, `mktree`,
/// `update-ref --stdin`, …).
pub fn git_stdin<S: AsRef<OsStr>>(dir: &Path, args: &[S], input: &[u8]) -> String {
    let mut cmd = git_command(dir, Path::new(NO_HOME));
    cmd.args(args);
    process::run(cmd, Some(input), DEFAULT_TIMEOUT)
        .assert_success()
        .stdout
        .trim_end()
        .to_owned()
}

/// Runs `git ARGS` in `dir` (hermetic) and returns the outcome whatever it
/// is, for commands that are expected to fail.
pub fn git_run<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Run {
    let mut cmd = git_command(dir, Path::new(NO_HOME));
    cmd.args(args);
    process::run(cmd, None, DEFAULT_TIMEOUT)
}

/// Asserts that `git fsck --strict` accepts every object in the repository
/// (bare or not) at `repo`, reachable or not, and reports neither an error
/// nor a warning.
pub fn fsck(repo: &Path) {
    let run = git_run(
        repo,
        &["fsck", "--strict", "--no-dangling", "--no-progress"],
    );
    let bad = |s: &str| {
        s.lines()
            .any(|l| l.starts_with("error") || l.starts_with("warning") || l.contains("fatal"))
    };
    assert!(
        run.status.success() && !bad(&run.stdout) && !bad(&run.stderr),
        "git fsck --strict failed in {}:\n{run}",
        repo.display()
    );
}

/// A temporary directory holding a private home (`HOME`, XDG directories)
/// for the commands of one test, plus whatever repositories the test makes
/// in it. Everything is deleted on drop.
pub struct Sandbox {
    dir: TempDir,
    /// `eka` finds its ssh client in the user's git configuration
    /// ([`Sandbox::ssh_from_git_config`]) rather than in `GIT_SSH_COMMAND`.
    ssh_from_config: bool,
    /// Texts replaced in snapshots of this sandbox's output.
    filters: snapshot::Filters,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        // In /tmp whatever TMPDIR says: miette wraps messages at 80
        // columns, so the snapshots of messages naming a sandbox path need
        // that path to have the same length on every machine.
        let dir = tempfile::Builder::new()
            .prefix("eka-e2e-")
            .tempdir_in("/tmp")
            .expect("create sandbox directory");
        let home = dir.path().join("home");
        for sub in [".config", ".cache", ".local/share", ".local/state", ".run"] {
            std::fs::create_dir_all(home.join(sub)).expect("create sandbox home");
        }
        Self {
            dir,
            ssh_from_config: false,
            filters: snapshot::Filters::default(),
        }
    }

    /// The sandbox directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `HOME` of the commands run through this sandbox.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A new, empty directory `name` in the sandbox.
    /// Writes the user's configuration file (`~/.config/eka/config.toml`
    /// of the sandbox's home); its path.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.home().join(".config/eka/config.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A directory `name` holding an atom `name` 0.1.0 with no dependency
    /// (not in a repository): a consumer for `eka add`.
    pub fn consumer(&self, name: &str) -> PathBuf {
        let dir = self.mkdir(name);
        std::fs::write(dir.join("atom.toml"), atom_toml(name, "0.1.0")).unwrap();
        dir
    }

    pub fn mkdir(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("create directory in sandbox");
        path
    }

    /// A new non-bare repository in `<sandbox>/<name>` (see [`Repo`]).
    pub fn repo(&self, name: &str) -> Repo {
        Repo::init(&self.dir.path().join(name))
    }

    /// A new bare repository `<sandbox>/remotes/<name>.git`; returns its path
    /// (use [`file_url`] for its `file://` URL).
    pub fn bare(&self, name: &str) -> PathBuf {
        bare_repo(&self.dir.path().join("remotes"), name)
    }

    /// A server of `kind` for the bare repositories under
    /// `<sandbox>/served-<kind>/` (see [`GitServer`]).
    pub fn server(&self, kind: Transport) -> GitServer {
        GitServer::start(kind, &self.mkdir(&format!("served-{}", kind.name())))
    }

    /// Makes every `eka` of this sandbox (and the `git` it runs) reach ssh
    /// servers as a user who configured git would: through `core.sshCommand`
    /// in `$HOME/.gitconfig` ([`ssh_command`]), with no `GIT_SSH_COMMAND` nor
    /// `GIT_CONFIG_GLOBAL` in their environment.
    pub fn ssh_from_git_config(mut self) -> Self {
        let config = self.home().join(".gitconfig");
        let command = ssh_command();
        git(
            self.path(),
            &[
                OsStr::new("config"),
                OsStr::new("--file"),
                config.as_os_str(),
                OsStr::new("core.sshCommand"),
                OsStr::new(&command),
            ],
        );
        self.ssh_from_config = true;
        self
    }

    /// A hermetic `eka` command running in `dir`, with this sandbox's home.
    /// Use it to add environment variables; otherwise prefer [`Self::eka`].
    pub fn eka_command(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(EKA);
        hermetic(&mut cmd, &self.home()).current_dir(dir);
        if self.ssh_from_config {
            cmd.env_remove("GIT_SSH_COMMAND")
                .env_remove("GIT_CONFIG_GLOBAL");
        }
        cmd
    }

    /// Runs `eka ARGS` in `dir` with this sandbox's home and a hermetic
    /// environment; never panics on failure (check with
    /// [`Run::assert_success`] / [`Run::assert_failure`]). Killed (with its
    /// children) if it runs longer than [`DEFAULT_TIMEOUT`].
    pub fn eka<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S]) -> Run {
        let mut cmd = self.eka_command(dir);
        cmd.args(args);
        process::run(cmd, None, DEFAULT_TIMEOUT)
    }

    /// Like [`Self::eka`], with `input` on stdin (as git feeds a hook).
    pub fn eka_stdin<S: AsRef<OsStr>>(&self, dir: &Path, args: &[S], input: &[u8]) -> Run {
        let mut cmd = self.eka_command(dir);
        cmd.args(args);
        process::run(cmd, Some(input), DEFAULT_TIMEOUT)
    }

    /// Runs a prepared command (e.g. from [`Self::eka_command`]) like
    /// [`Self::eka`] does.
    pub fn run(&self, cmd: Command) -> Run {
        process::run(cmd, None, DEFAULT_TIMEOUT)
    }

    /// A hermetic `git` command (see [`git_command`]) in `dir` with this
    /// sandbox's home, to add arguments and environment variables; run it
    /// with [`Self::run`].
    pub fn git_command(&self, dir: &Path) -> Command {
        git_command(dir, &self.home())
    }
}

/// `git ls-remote URL [PATTERNS…]` (hermetic, run outside any repository) as
/// (ref, id) pairs.
pub fn ls_remote(url: &str, patterns: &[&str]) -> Vec<(String, String)> {
    let mut args = vec!["ls-remote", "--end-of-options", url];
    args.extend_from_slice(patterns);
    repo::parse_ref_lines(&git(&std::env::temp_dir(), &args), true)
}

/// The absolute path of the program `name`, looked up in `PATH` and the
/// usual system folders (sshd and lighttpd are in an `sbin` that is often
/// not in `PATH`). Panics, naming the Debian `packages` to install, if it
/// is nowhere: tests needing it fail, they are never silently skipped.
pub fn find_program(name: &str, packages: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for d in ["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found in PATH nor in /usr/sbin: the end-to-end tests need it; \
                 install it with `apt-get install {packages}` (Debian, Ubuntu), \
                 or run ./test.sh, which does"
            )
        })
}

/// `len` deterministic pseudo-random bytes (xorshift64*), incompressible,
/// for large files.
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An unencrypted ed25519 key `<sandbox>/keys/<name>` (and `.pub`), made by
/// ssh-keygen; returns its path and its `SHA256:…` fingerprint, filtered as
/// `[<NAME>]` in snapshots.
pub fn keygen(sb: &Sandbox, name: &str) -> (std::path::PathBuf, String) {
    let dir = sb.mkdir("keys");
    let path = dir.join(name);
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path);
    sb.run(cmd).assert_success();
    let mut cmd = std::process::Command::new("ssh-keygen");
    cmd.arg("-lf").arg(path.with_extension("pub"));
    let listed = sb.run(cmd).assert_success();
    let fingerprint = listed.stdout.split_whitespace().nth(1).unwrap().to_owned();
    sb.filter(&fingerprint, &format!("[{}]", name.to_uppercase()));
    (path, fingerprint)
}
