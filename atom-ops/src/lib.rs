//! # atom-ops
//!
//! eka's operations as library functions, the porcelain over the crates
//! below it (as `gix` is over gitoxide's plumbing): each takes a typed
//! request and returns a typed report or a typed error, prints nothing and
//! knows nothing of the command line, so that the `eka` binary only parses
//! arguments and renders reports, and other front ends (a plugin, a
//! backend) can call the same code.
//!
//! - [`cache`]: the user's cache of fetched atoms and parse packs, shown
//!   and collected;
//! - [`config`]: the user's configuration file, and command aliases;
//! - [`build`]: an atom's derivations, written into the local Nix store
//!   and built by Nix;
//! - [`deps`]: an atom's dependencies: add, remove, lock, update, fetch;
//! - [`new`]: scaffolding an atom that `publish` will accept;
//! - [`init`]: a repository ready to publish (`git init`, an atom, a
//!   module, a remote), idempotent;
//! - [`publish`]: atoms of a commit to a remote, all or nothing;
//! - [`verify`]: published atoms against their origin commits;
//! - [`sign`]: signing published versions, at publish or later;
//! - [`yank`]: withdrawing a published version;
//! - [`hook`]: a registry's server-side hook refusing rewrites.

// Errors carry source text and spans for miette; they are built only when
// rejecting input, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

pub mod build;
pub mod cache;
pub mod config;
pub mod deps;
pub mod eval;
pub mod hook;
pub mod init;
pub mod new;
pub mod publish;
pub mod query;
pub mod sign;
pub mod trust;
pub mod verify;
pub mod yank;

use std::path::{Path, PathBuf};

use atom_lock::lock::LockError;
use atom_lock::registry::QueryWarning;
use atom_lock::resolve::ResolveWarning;
use atom_lock::{Aliases, ConfigError, RepoUrl, Shadowed};

/// How operations reach remotes: settings their caller resolved (the
/// command line: from the environment and the configuration file, see
/// [`config::network`]), passed down rather than read from the process's
/// environment, so that two callers in one process may differ.
#[derive(Clone, Copy, Debug)]
pub struct Network {
    /// How long to wait for a silent remote.
    pub timeout: std::time::Duration,
    /// Where `timeout` comes from.
    pub timeout_source: config::Source,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            timeout: atom_git::transport::DEFAULT_TIMEOUT,
            timeout_source: config::Source::Default,
        }
    }
}

impl Network {
    /// Connections reading git's configuration as git would in `dir`,
    /// with these settings.
    pub fn connections(&self, dir: &Path) -> atom_git::Connections {
        atom_git::Connections::new(dir).with_timeout(self.timeout)
    }
}

/// Something an operation tells the user; it still went through.
#[derive(Debug, thiserror::Error)]
pub enum Warning {
    #[error("atom.lock does not verify and is rebuilt from atom.toml: {0}")]
    InvalidLock(LockError),
    #[error(transparent)]
    Resolve(ResolveWarning),
    #[error(transparent)]
    Query(QueryWarning),
    #[error("ignoring alias `{}` of {}: it would shadow the one {}", .0.name, .0.ignored.origin, .0.kept.origin)]
    ShadowedAlias(Shadowed),
    #[error("{0}")]
    Fetch(String),
    #[error(transparent)]
    Manifest(atom_format::manifest::ManifestWarning),
    #[error("`{text}` is read as the host of {url}, but `{}` is a local path: write `./{text}` for it", .path.display())]
    HostShadowsPath {
        text: String,
        url: RepoUrl,
        path: PathBuf,
    },
}

/// Reports how far a long piece of work is: `done` of `total` `unit`
/// (e.g. atoms). An event for the caller's progress display (the target
/// `eka::progress`), as phases are spans (`eka::phase`); nothing is
/// printed here.
pub fn progress(done: usize, total: usize, unit: &'static str) {
    tracing::info!(target: "eka::progress", done, total, unit);
}

/// The files under `dir` (an atom's directory) whose work tree or index
/// content differs from `HEAD`, repository-relative; empty outside a
/// repository or when git cannot tell. For the warning of commands that
/// read `HEAD` (`eka eval`).
pub fn uncommitted_under(dir: &Path) -> Vec<String> {
    let Ok(repo) = atom_git::open(dir) else {
        return Vec::new();
    };
    let Some(root) = repo.workdir().and_then(|w| w.canonicalize().ok()) else {
        return Vec::new();
    };
    let Ok(dir) = dir.canonicalize() else {
        return Vec::new();
    };
    let Ok(rel) = dir.strip_prefix(&root) else {
        return Vec::new();
    };
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    atom_git::status::uncommitted(&repo, &[&rel]).unwrap_or_default()
}

/// A repository as the user named it, read the same way by every command:
/// a configured git remote's name (`origin`) is that remote's URL, as
/// `publish` and `verify` read it; a word read as a host (`reg.git`) while
/// a path of that name exists here gets a warning.
pub fn named_repository(
    text: &str,
    parsed: RepoUrl,
    dir: &Path,
    warnings: &mut Vec<Warning>,
) -> RepoUrl {
    match &parsed {
        RepoUrl::Path(p) if !p.contains('/') && !dir.join(p).exists() => {
            remote_of(dir, p).unwrap_or(parsed)
        }
        RepoUrl::Url(u) if !text.contains("://") && dir.join(text).exists() => {
            warnings.push(Warning::HostShadowsPath {
                text: text.to_owned(),
                url: RepoUrl::Url(u.clone()),
                path: dir.join(text),
            });
            parsed
        }
        _ => parsed,
    }
}

/// The URL of the git remote `name` of the repository around `dir`; a
/// relative path is made absolute from the work tree's root, as git reads it.
fn remote_of(dir: &Path, name: &str) -> Option<RepoUrl> {
    let repo = atom_git::open(dir).ok()?;
    let remote = repo.find_remote(name).ok()?;
    let url = remote
        .url(gix::remote::Direction::Fetch)?
        .to_bstring()
        .to_string();
    let parsed: RepoUrl = url.parse().ok()?;
    match parsed {
        RepoUrl::Path(p) if Path::new(&p).is_relative() => {
            let base = repo.workdir().unwrap_or(repo.git_dir());
            Some(RepoUrl::Path(base.join(p).display().to_string()))
        }
        other => Some(other),
    }
}

/// The URI aliases in effect in `dir`: built-in, the user's, and those of
/// the repository around it; those it had to ignore are warnings.
pub fn aliases_at(dir: &Path, warnings: &mut Vec<Warning>) -> Result<Aliases, ConfigError> {
    let repo_root = atom_git::open(dir)
        .ok()
        .and_then(|r| r.workdir().map(|w| w.to_owned()));
    let (aliases, shadowed) = Aliases::load_default(repo_root.as_deref())?;
    warnings.extend(shadowed.into_iter().map(Warning::ShadowedAlias));
    Ok(aliases)
}
