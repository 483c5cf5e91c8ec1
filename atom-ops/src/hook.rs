//! A registry that refuses rewrites: `atom_trust::hook`'s rules run as a
//! git `pre-receive` (or `update`) hook in a bare repository, and installed
//! there.
//!
//! git runs the hook after receiving the pack and before updating any ref;
//! the pushed objects are then in a quarantine directory
//! (`GIT_QUARANTINE_PATH`), which gix does not read by itself, so the hook
//! reads objects from the quarantine first and the repository second.

use std::path::{Path, PathBuf};

use atom_format::digest::Digester;
use atom_format::ContentDigest;
use atom_trust::allowed_signers::AllowedSigners;
use atom_trust::hook::{self, BoxError, HookMode, HookRepository, HookRules, Object, Refusal};
use atom_trust::{Policy, Timestamp};
use gix::ObjectId;

pub use atom_trust::hook::RefUpdate;

/// The git configuration key naming the registry's `allowed_signers` file
/// (relative to the repository's git directory, or absolute).
pub const POLICY_KEY: &str = "eka.allowedSignersFile";
/// The git configuration key pinning the registry's root commit.
pub const ROOT_KEY: &str = "eka.root";
/// The git configuration key giving how far (in seconds) a new signature's
/// signing time may be from its push.
pub const SKEW_KEY: &str = "eka.signatureMaxSkew";
/// One day: the default for [`SKEW_KEY`].
pub const DEFAULT_SKEW: u64 = 86_400;

/// What [`check`] is asked.
#[derive(Clone, Debug)]
pub struct HookRequest {
    /// The repository's git directory.
    pub git_dir: PathBuf,
    /// Where the pushed objects wait (`GIT_QUARANTINE_PATH`), if anywhere
    /// but the repository's object store.
    pub quarantine: Option<PathBuf>,
    pub mode: HookMode,
    pub updates: Vec<RefUpdate>,
    /// The receiving time (the clock rule's "now").
    pub now: Timestamp,
}

/// Why the hook could not judge the push at all (it then refuses it).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum HookError {
    #[error("cannot open the repository `{}`", .path.display())]
    #[diagnostic(code(atom::hook::open))]
    Open {
        path: PathBuf,
        #[source]
        source: Box<gix::Error>,
    },
    #[error("cannot open the pushed objects in `{}`", .path.display())]
    #[diagnostic(code(atom::hook::quarantine))]
    Quarantine {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the registry's policy `{}` (git config {POLICY_KEY})", .path.display())]
    #[diagnostic(code(atom::hook::policy_read))]
    PolicyRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the registry's policy `{}` (git config {POLICY_KEY}) is invalid", .path.display())]
    #[diagnostic(code(atom::hook::policy))]
    Policy {
        path: PathBuf,
        #[source]
        source: atom_trust::AllowedSignersError,
    },
    #[error("git config {key} = `{value}` is not {what}")]
    #[diagnostic(code(atom::hook::config))]
    Config {
        key: &'static str,
        value: String,
        what: &'static str,
    },
    #[error("`{line}` is not a ref update as git gives a hook (`<old> <new> <ref>`)")]
    #[diagnostic(code(atom::hook::input))]
    Input { line: String },
    #[error("cannot install the hook in `{}`", .path.display())]
    #[diagnostic(code(atom::hook::install))]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is a {name} hook that eka did not write; it is left as it is", .path.display())]
    #[diagnostic(code(atom::hook::exists))]
    Exists { path: PathBuf, name: &'static str },
    #[error("`{}` is not a bare git repository", .0.display())]
    #[diagnostic(
        code(atom::hook::not_bare),
        help("a registry's hook runs where pushes arrive: give the path of the bare repository the server serves")
    )]
    NotBare(PathBuf),
}

/// Parses what git writes to a `pre-receive` hook's stdin: one
/// `<old> <new> <ref>` line per update.
pub fn parse_updates(input: &str) -> Result<Vec<RefUpdate>, HookError> {
    input
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let bad = || HookError::Input {
                line: line.to_owned(),
            };
            let mut parts = line.splitn(3, ' ');
            let (Some(old), Some(new), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            update(old, new, name).ok_or_else(bad)
        })
        .collect()
}

/// One update from its three words (an `update` hook's arguments are
/// `<ref> <old> <new>`).
pub fn update(old: &str, new: &str, name: &str) -> Option<RefUpdate> {
    Some(RefUpdate {
        old: ObjectId::from_hex(old.as_bytes()).ok()?,
        new: ObjectId::from_hex(new.as_bytes()).ok()?,
        name: name.to_owned(),
    })
}

/// Checks a push against the registry's rules; the refusals (empty:
/// accept).
pub fn check(request: &HookRequest) -> Result<Vec<Refusal>, HookError> {
    let repo = gix::open(&request.git_dir).map_err(|source| HookError::Open {
        path: request.git_dir.clone(),
        source: Box::new(source),
    })?;
    let quarantine = match &request.quarantine {
        Some(path) => Some(gix::odb::at(path, repo.object_hash()).map_err(|source| {
            HookError::Quarantine {
                path: path.clone(),
                source,
            }
        })?),
        None => None,
    };
    let policy = registry_policy(&repo)?;
    let skew = config_u64(&repo, SKEW_KEY)?.unwrap_or(DEFAULT_SKEW);
    let objects = Layered {
        quarantine,
        main: &repo.objects,
    };
    let registry = Registry {
        repo: &repo,
        objects: &objects,
    };
    let rules = HookRules {
        mode: request.mode,
        policy: policy.as_ref(),
        clock: Some((request.now, skew)),
    };
    Ok(hook::check_push(&request.updates, &registry, &rules))
}

/// The policy the repository configures, if any.
fn registry_policy(repo: &gix::Repository) -> Result<Option<Policy>, HookError> {
    let config = repo.config_snapshot();
    let Some(file) = config.string(POLICY_KEY) else {
        return Ok(None);
    };
    let path = repo.git_dir().join(file.to_string());
    let text = std::fs::read_to_string(&path).map_err(|source| HookError::PolicyRead {
        path: path.clone(),
        source,
    })?;
    let signers =
        AllowedSigners::parse(&text).map_err(|source| HookError::Policy { path, source })?;
    let root = match config.string(ROOT_KEY) {
        Some(value) => {
            let value = value.to_string();
            Some(
                ObjectId::from_hex(value.trim().as_bytes()).map_err(|_| HookError::Config {
                    key: ROOT_KEY,
                    value,
                    what: "a commit id (40 hex digits)",
                })?,
            )
        }
        None => None,
    };
    Ok(Some(Policy { signers, root }))
}

fn config_u64(repo: &gix::Repository, key: &'static str) -> Result<Option<u64>, HookError> {
    let config = repo.config_snapshot();
    let Some(value) = config.string(key) else {
        return Ok(None);
    };
    let value = value.to_string();
    value
        .trim()
        .parse()
        .map(Some)
        .map_err(|_| HookError::Config {
            key,
            value,
            what: "a number of seconds",
        })
}

/// The quarantined objects of a push in front of the repository's.
struct Layered<'r> {
    quarantine: Option<gix::odb::Handle>,
    main: &'r gix::OdbHandle,
}

impl gix::objs::Find for Layered<'_> {
    fn try_find<'a>(
        &self,
        id: &gix::oid,
        buffer: &'a mut Vec<u8>,
    ) -> Result<Option<gix::objs::Data<'a>>, gix::Error> {
        use gix::objs::Exists as _;
        match &self.quarantine {
            Some(q) if q.exists(id) => q.try_find(id, buffer),
            _ => self.main.try_find(id, buffer),
        }
    }
}

/// The repository as the hook sees it.
struct Registry<'r> {
    repo: &'r gix::Repository,
    objects: &'r Layered<'r>,
}

impl HookRepository for Registry<'_> {
    fn reference(&self, name: &str) -> Result<Option<ObjectId>, BoxError> {
        Ok(self
            .repo
            .try_find_reference(name)?
            .and_then(|r| r.try_id().map(|id| id.detach())))
    }

    fn references(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, BoxError> {
        let platform = self.repo.references()?;
        let mut out = Vec::new();
        for r in platform.prefixed(prefix)? {
            let r = r?;
            if let Some(id) = r.try_id() {
                out.push((r.name().as_bstr().to_string(), id.detach()));
            }
        }
        Ok(out)
    }

    fn object(&self, id: &ObjectId) -> Result<Option<Object>, BoxError> {
        let mut buffer = Vec::new();
        let found = gix::objs::Find::try_find(self.objects, id, &mut buffer)?;
        Ok(found.map(|data| Object {
            kind: data.kind,
            data: data.data.to_vec(),
        }))
    }

    fn content_digest(&self, tree: &ObjectId) -> Result<ContentDigest, BoxError> {
        Ok(Digester::new(self.objects).atom_digest(*tree)?)
    }
}

/// The marker in a hook eka wrote, so that installing again replaces it.
const MARKER: &str = "# written by `eka hook install`";

/// What [`install`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Installed {
    pub hook: PathBuf,
    /// The `eka` it runs.
    pub program: PathBuf,
}

/// Installs `program hook pre-receive` as the `pre-receive` hook of the
/// bare repository `git_dir`. A hook eka wrote before is replaced; any
/// other is left alone (an error).
pub fn install(git_dir: &Path, program: &Path) -> Result<Installed, HookError> {
    let io = |source| HookError::Install {
        path: git_dir.to_owned(),
        source,
    };
    let repo = gix::open(git_dir).map_err(|source| HookError::Open {
        path: git_dir.to_owned(),
        source: Box::new(source),
    })?;
    if repo.workdir().is_some() {
        return Err(HookError::NotBare(git_dir.to_owned()));
    }
    let hooks = repo.git_dir().join("hooks");
    std::fs::create_dir_all(&hooks).map_err(io)?;
    let hook = hooks.join("pre-receive");
    match std::fs::read_to_string(&hook) {
        Ok(existing) if !existing.contains(MARKER) => {
            return Err(HookError::Exists {
                path: hook,
                name: "pre-receive",
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let script = format!(
        "#!/bin/sh\n{MARKER}: refuse rewrites of published atoms (spec/trust.md section 7)\nexec {} hook pre-receive\n",
        shell_quote(&program.to_string_lossy())
    );
    let staged = hooks.join(".pre-receive.eka");
    std::fs::write(&staged, script).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
    }
    std::fs::rename(&staged, &hook).map_err(io)?;
    Ok(Installed {
        hook,
        program: program.to_owned(),
    })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_parse_as_git_writes_them() {
        let zero = "0".repeat(40);
        let one = "1".repeat(40);
        let parsed = parse_updates(&format!("{zero} {one} refs/atoms/a/1.0.0\n")).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].old.is_null());
        assert_eq!(parsed[0].name, "refs/atoms/a/1.0.0");
        for bad in ["x", &format!("{zero} {one}"), &format!("{zero} zz refs/x")] {
            assert!(parse_updates(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_keeps_any_path_one_word() {
        assert_eq!(shell_quote("/a b/it's"), "'/a b/it'\\''s'");
    }
}
