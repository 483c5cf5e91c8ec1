//! A repository ready to publish ([`init`]), as `cargo init` makes a
//! package: what `git init`, `eka new`, a `mod.nix` and `git remote add`
//! would do by hand, each step only when it is missing, so that running it
//! again changes nothing.
//!
//! The atom is the directory asked for when that is below the root of a
//! repository; otherwise the directory is (or becomes) the repository and
//! the atom goes in a subdirectory named by its label, since a repository's
//! root cannot be an atom (see [`crate::new`]).
//!
//! Everything is checked before anything is written: a label or version
//! `eka new` refuses, an `atom.toml` that does not parse or has another
//! label, a remote of that name with another URL. Each step writes whole
//! files (or runs git), so a step that fails leaves no part of a file, and
//! running `init` again carries on from there.

use std::path::{Path, PathBuf};

use atom_format::manifest::{ManifestError, MANIFEST_FILE};
use atom_format::{Label, Manifest};
use atom_git::setup::{self, SetupError};
use atom_lock::{RepoUrl, UriError};

use crate::new::{self, NewError, NewRequest};

/// The module `init` writes when the atom has none.
pub const MODULE_FILE: &str = "mod.nix";
const MODULE_TEXT: &str = "{ Hello = \"world\"; }\n";

/// What [`init`] is asked to do.
#[derive(Clone, Debug)]
pub struct InitRequest {
    /// The repository, or the atom's directory within one.
    pub dir: PathBuf,
    /// The atom's label (default: the directory's name).
    pub label: Option<String>,
    /// The first version, when the atom is created.
    pub version: String,
    /// A remote to add (`name`, URL), when asked.
    pub remote: Option<(String, String)>,
}

/// Whether a step did something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// It was missing and is now there.
    Created,
    /// It was there already, as asked; left alone.
    Exists,
}

/// A remote of the repository.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Remote {
    pub name: String,
    pub url: String,
    pub step: Step,
}

/// What [`init`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InitReport {
    /// The repository's work tree.
    pub repository: PathBuf,
    pub repository_step: Step,
    /// The atom's directory, as the request named it.
    pub atom: PathBuf,
    pub atom_step: Step,
    pub label: Label,
    pub version: semver::Version,
    /// The atom's module file.
    pub module: PathBuf,
    pub module_step: Step,
    /// The remote asked for, else the repository's `origin` if it has one.
    pub remote: Option<Remote>,
}

impl InitReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        let remote_added = self
            .remote
            .as_ref()
            .is_some_and(|r| r.step == Step::Created);
        [self.repository_step, self.atom_step, self.module_step].contains(&Step::Created)
            || remote_added
    }
}

/// Why the repository was not set up (nothing was written, unless a step
/// of git's own failed midway: see [`InitError::Setup`]).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    New(#[from] NewError),
    #[error("`{}` is not a directory", .0.display())]
    #[diagnostic(code(eka::init::not_a_directory))]
    NotADirectory(PathBuf),
    /// The atom's `atom.toml` is there but does not parse.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(ManifestError),
    #[error("cannot read `{}`", path.display())]
    #[diagnostic(code(eka::init::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the atom in `{}` is labelled `{found}`, not `{asked}`", dir.display())]
    #[diagnostic(code(eka::init::label_differs))]
    LabelDiffers {
        dir: PathBuf,
        found: Label,
        asked: String,
    },
    #[error("the remote `{name}` is `{found}`, not `{asked}`")]
    #[diagnostic(code(eka::init::remote_differs))]
    RemoteDiffers {
        name: String,
        found: String,
        asked: String,
    },
    #[error("invalid remote URL `{url}`")]
    #[diagnostic(code(eka::init::remote_url))]
    RemoteUrl {
        url: String,
        #[source]
        source: UriError,
    },
    #[error("invalid remote name `{0}`")]
    #[diagnostic(code(eka::init::remote_name))]
    RemoteName(String),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Setup(#[from] SetupError),
}

/// Makes `request.dir` a repository ready to publish; see the module docs.
pub fn init(request: &InitRequest) -> Result<InitReport, InitError> {
    if request.dir.exists() && !request.dir.is_dir() {
        return Err(InitError::NotADirectory(request.dir.clone()));
    }
    let existing_root = new::repository_root(&request.dir);
    let here = new::absolute(&request.dir);
    let root = existing_root.clone().unwrap_or_else(|| here.clone());
    let atom = match here == root {
        true => request.dir.join(atom_name(request)?),
        false => request.dir.clone(),
    };
    let plan = plan_atom(request, &atom)?;
    let remote = plan_remote(request, existing_root.as_deref())?;

    let repository_step = match existing_root {
        Some(_) => Step::Exists,
        None => {
            setup::init_work_tree(&request.dir)?;
            Step::Created
        }
    };
    let (label, version, atom_step) = match plan {
        AtomPlan::Exists(m) => (m.package.label, m.package.version, Step::Exists),
        AtomPlan::Create(checked) => {
            let made = checked.write()?;
            (made.label, made.version, Step::Created)
        }
    };
    let module = atom.join(MODULE_FILE);
    let module_step = write_module(&module)?;
    if let Some(Remote {
        name,
        url,
        step: Step::Created,
    }) = &remote
    {
        setup::add_remote(&root, name, url)?;
    }
    Ok(InitReport {
        repository: root,
        repository_step,
        atom,
        atom_step,
        label,
        version,
        module,
        module_step,
        remote,
    })
}

/// The atom's directory name below a repository's root: its label.
fn atom_name(request: &InitRequest) -> Result<String, InitError> {
    if let Some(label) = &request.label {
        return Ok(label.clone());
    }
    let here = new::absolute(&request.dir);
    here.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| NewError::NoName(request.dir.clone()).into())
}

/// The atom as it is, or as `eka new` will write it.
enum AtomPlan {
    Exists(Box<Manifest>),
    Create(new::Checked),
}

fn plan_atom(request: &InitRequest, atom: &Path) -> Result<AtomPlan, InitError> {
    let path = atom.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(AtomPlan::Create(new::check(&NewRequest {
            path: atom.to_owned(),
            label: request.label.clone(),
            version: request.version.clone(),
        })?));
    }
    let text = std::fs::read_to_string(&path).map_err(|source| InitError::Io {
        path: path.clone(),
        source,
    })?;
    let manifest =
        Manifest::parse(&path.display().to_string(), &text).map_err(InitError::Manifest)?;
    if let Some(asked) = &request.label {
        if manifest.package.label.as_str() != asked {
            return Err(InitError::LabelDiffers {
                dir: atom.to_owned(),
                found: manifest.package.label,
                asked: asked.clone(),
            });
        }
    }
    Ok(AtomPlan::Exists(Box::new(manifest)))
}

/// The remote asked for (to add, or there already with that URL), else
/// the repository's `origin`.
fn plan_remote(request: &InitRequest, root: Option<&Path>) -> Result<Option<Remote>, InitError> {
    let repo = root.and_then(|r| atom_git::open(r).ok());
    let configured = |name: &str| {
        repo.as_ref()
            .and_then(|r| atom_git::repo::configured_remote_url(r, name))
    };
    let Some((name, url)) = &request.remote else {
        return Ok(configured("origin").map(|url| Remote {
            name: "origin".into(),
            url,
            step: Step::Exists,
        }));
    };
    check_remote_name(name)?;
    url.parse::<RepoUrl>()
        .map_err(|source| InitError::RemoteUrl {
            url: url.clone(),
            source,
        })?;
    let step = match configured(name) {
        None => Step::Created,
        Some(found) if &found == url => Step::Exists,
        Some(found) => {
            return Err(InitError::RemoteDiffers {
                name: name.clone(),
                found,
                asked: url.clone(),
            })
        }
    };
    Ok(Some(Remote {
        name: name.clone(),
        url: url.clone(),
        step,
    }))
}

/// A remote name git accepts (`git check-ref-format` of
/// `refs/remotes/<name>/x`, as `git remote add` checks it).
fn check_remote_name(name: &str) -> Result<(), InitError> {
    let full = format!("refs/remotes/{name}/x");
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && gix::validate::reference::name(full.as_str().into()).is_ok();
    match valid {
        true => Ok(()),
        false => Err(InitError::RemoteName(name.to_owned())),
    }
}

/// Writes the module unless the atom has one.
fn write_module(path: &Path) -> Result<Step, InitError> {
    if path.exists() {
        return Ok(Step::Exists);
    }
    atom_lock::files::stage(path, MODULE_TEXT.as_bytes())
        .and_then(|new| new.commit_new())
        .map_err(|source| {
            InitError::New(NewError::Io {
                path: path.to_owned(),
                source,
            })
        })?;
    Ok(Step::Created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path) -> InitRequest {
        InitRequest {
            dir: dir.to_owned(),
            label: None,
            version: "0.1.0".into(),
            remote: None,
        }
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hello");
        let first = init(&request(&dir)).unwrap();
        assert!(first.changed());
        assert_eq!(first.atom, dir.join("hello"));
        assert!(dir.join(".git").is_dir());
        assert!(dir.join("hello/atom.toml").is_file());
        assert_eq!(
            std::fs::read_to_string(dir.join("hello/mod.nix")).unwrap(),
            MODULE_TEXT
        );
        let second = init(&request(&dir)).unwrap();
        assert!(!second.changed(), "{second:?}");
        assert_eq!(second.atom, first.atom);
    }

    #[test]
    fn refuses_before_writing_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hello");
        let mut bad = request(&dir);
        bad.version = "one".into();
        assert!(matches!(
            init(&bad),
            Err(InitError::New(NewError::Version { .. }))
        ));
        let mut bad = request(&dir);
        bad.remote = Some(("origin".into(), String::new()));
        assert!(init(&bad).is_err());
        let mut bad = request(&dir);
        bad.remote = Some(("-x".into(), "/srv/r.git".into()));
        assert!(matches!(init(&bad), Err(InitError::RemoteName(_))));
        assert!(!dir.exists());
    }
}
