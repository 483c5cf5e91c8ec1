//! Remotes: bare repositories and the servers that serve them.

use std::path::{Path, PathBuf};

use super::{git, git_stdin, ls_remote, GitDaemon, HttpGitServer, SshServer};

/// Creates the bare repository `<dir>/<name>.git` (creating `dir` if needed)
/// and returns its path.
pub fn bare_repo(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create remotes directory");
    let path = dir.join(format!("{name}.git"));
    assert!(!path.exists(), "{} already exists", path.display());
    git(dir, &["init", "--quiet", "--bare", &format!("{name}.git")]);
    path.canonicalize().expect("canonical path")
}

/// The `file://` URL of a local repository (absolute, canonical path).
pub fn file_url(path: &Path) -> String {
    let path = path
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    format!("file://{}", path.display())
}

/// A URL of `kind` for the repository `name` on 127.0.0.1 where nothing
/// listens (a port that was free a moment ago), or for `file://` a path that
/// does not exist: for "remote unreachable" cases.
pub fn unreachable_url(kind: Transport, name: &str) -> String {
    let port = super::daemon::free_port();
    match kind {
        Transport::File => format!("file:///nonexistent/eka-e2e/{name}.git"),
        Transport::Git => format!("git://127.0.0.1:{port}/{name}.git"),
        Transport::Http => format!("http://127.0.0.1:{port}/{name}.git"),
        Transport::Ssh => {
            super::ssh::client_key();
            let user = super::current_user();
            format!("ssh://{user}@127.0.0.1:{port}/nonexistent/eka-e2e/{name}.git")
        }
    }
}

/// Installs the hook `name` (e.g. `pre-receive`, `update`) in the bare
/// repository `repo`: a `/bin/sh` script with `body`.
pub fn install_hook(repo: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let hooks = repo.join("hooks");
    std::fs::create_dir_all(&hooks).expect("create hooks folder");
    let path = hooks.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write hook");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
}

/// Makes the bare repository `repo` refuse every push (a `pre-receive`
/// hook printing `message` and failing), for "push rejected" cases.
pub fn reject_pushes(repo: &Path, message: &str) {
    let quoted = message.replace('\'', "'\\''");
    install_hook(repo, "pre-receive", &format!("echo '{quoted}' >&2\nexit 1"));
}

/// Moves every `refs/atoms/` ref of `label` in the bare repository `bare`
/// to eka 0.3's names with plain git, as eka 0.3 would have written them
/// (the atom commits are the same bytes in both formats), and points eka
/// 0.3's root, `refs/ekala/init`, at the repository root. Our own
/// `refs/atoms/_root` stays (delete it for a repository eka 0.3 alone
/// published).
pub fn to_eka03(bare: &Path, label: &str) {
    let mut input = String::new();
    let path = bare.to_str().expect("UTF-8 path");
    for (name, id) in ls_remote(path, &["refs/atoms/*"]) {
        let rest = name
            .strip_prefix("refs/atoms/")
            .expect("listed under refs/atoms/");
        let legacy = if let Some(v) = rest.strip_prefix(&format!("{label}/")) {
            format!("refs/eka/atoms/{label}/{v}")
        } else if let Some(v) = rest.strip_prefix(&format!("_manifest/{label}/")) {
            format!("refs/eka/meta/{label}/{v}/manifest")
        } else if let Some(v) = rest.strip_prefix(&format!("_origin/{label}/")) {
            format!("refs/eka/meta/{label}/{v}/origin")
        } else if rest == "_root" {
            // eka 0.3's root, beside ours.
            input.push_str(&format!("update refs/ekala/init {id}\n"));
            continue;
        } else {
            continue;
        };
        input.push_str(&format!("create {legacy} {id}\ndelete {name} {id}\n"));
    }
    git_stdin(bare, &["update-ref", "--stdin"], input.as_bytes());
}

/// The ways a remote is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `file://` to a bare repository (no server).
    File,
    /// `git://` through `git daemon`.
    Git,
    /// Smart HTTP through `git http-backend`.
    Http,
    /// `ssh://` through a private `sshd` running `git-upload-pack` and
    /// `git-receive-pack`.
    Ssh,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::File,
        Transport::Git,
        Transport::Http,
        Transport::Ssh,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Transport::File => "file",
            Transport::Git => "git",
            Transport::Http => "http",
            Transport::Ssh => "ssh",
        }
    }
}

/// Bare repositories `<base>/<name>.git` served over one [`Transport`]:
/// create them with [`Self::create`], reach them at [`Self::url`]. The
/// server (if any) stops on drop.
pub enum GitServer {
    File(PathBuf),
    Git(GitDaemon),
    Http(HttpGitServer),
    Ssh(SshServer),
}

impl GitServer {
    /// Serves `base` (which must exist) over `kind`.
    pub fn start(kind: Transport, base: &Path) -> Self {
        let base = base
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", base.display()));
        match kind {
            Transport::File => GitServer::File(base),
            Transport::Git => GitServer::Git(GitDaemon::start(&base)),
            Transport::Http => GitServer::Http(HttpGitServer::start(&base)),
            Transport::Ssh => GitServer::Ssh(SshServer::start(&base)),
        }
    }

    /// The folder served.
    pub fn base(&self) -> &Path {
        match self {
            GitServer::File(base) => base,
            GitServer::Git(daemon) => daemon.base(),
            GitServer::Http(http) => http.root(),
            GitServer::Ssh(ssh) => ssh.base(),
        }
    }

    /// Path of the bare repository `name` on the server's disk.
    pub fn path(&self, name: &str) -> PathBuf {
        self.base().join(format!("{name}.git"))
    }

    /// Creates the empty bare repository `name`; returns its URL.
    pub fn create(&self, name: &str) -> String {
        bare_repo(self.base(), name);
        self.url(name)
    }

    /// URL of the repository `name`.
    pub fn url(&self, name: &str) -> String {
        match self {
            GitServer::File(_) => format!("file://{}", self.path(name).display()),
            GitServer::Git(daemon) => daemon.url(name),
            GitServer::Http(http) => http.url(name),
            GitServer::Ssh(ssh) => ssh.url(name),
        }
    }

    /// The HTTP server, to inspect the requests it served.
    pub fn http(&self) -> Option<&HttpGitServer> {
        match self {
            GitServer::Http(http) => Some(http),
            _ => None,
        }
    }

    /// The ssh server, to read what went over the wire.
    pub fn ssh(&self) -> Option<&SshServer> {
        match self {
            GitServer::Ssh(ssh) => Some(ssh),
            _ => None,
        }
    }
}
