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
//!
//! When `DIR` is the repository's root, its `.gitignore` gets the links
//! `eka build` makes (`result`, `result-*`, as `nix build` names them),
//! as `cargo init` ignores `target/`: lines already there are kept, and
//! only missing ones are added. Below a root (an atom added to a
//! monorepo) the repository's files are its owner's, as cargo leaves a
//! parent repository's `.gitignore` alone.

use std::path::{Path, PathBuf};

use atom_format::manifest::{ManifestError, MANIFEST_FILE};
use atom_format::{Label, Manifest};
use atom_git::setup::{self, SetupError};
use atom_lock::{RepoUrl, UriError};

use crate::new::{self, NewError, NewRequest};

/// The module `init` writes when the atom has none.
pub const MODULE_FILE: &str = "mod.nix";
const MODULE_TEXT: &str = "{ Hello = \"world\"; }\n";
/// The ignore file `init` writes or extends at a repository's root.
pub const GITIGNORE_FILE: &str = ".gitignore";
/// The lines it holds: what `eka build` links (see spec/build.md).
pub const IGNORED_LINKS: [&str; 2] = ["result", "result-*"];

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
    /// It was there, lacking lines that were added (the rest kept).
    Extended,
}

/// A remote of the repository.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Remote {
    pub name: String,
    pub url: String,
    pub step: Step,
}

/// The `.gitignore` at the repository's root.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Gitignore {
    pub path: PathBuf,
    /// The lines added (none when `step` is [`Step::Exists`]).
    pub added: Vec<String>,
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
    /// The repository root's `.gitignore`, when `init` looks after it (the
    /// directory asked for is the root).
    pub gitignore: Option<Gitignore>,
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
        let ignore_written = self
            .gitignore
            .as_ref()
            .is_some_and(|g| g.step != Step::Exists);
        [self.repository_step, self.atom_step, self.module_step].contains(&Step::Created)
            || remote_added
            || ignore_written
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
    let ignore = match here == root {
        true => Some(plan_gitignore(&root.join(GITIGNORE_FILE))?),
        false => None,
    };

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
    let gitignore = ignore.map(write_gitignore).transpose()?;
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
        gitignore,
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

/// The `.gitignore` as it is, and what it lacks.
struct GitignorePlan {
    path: PathBuf,
    /// Its bytes, `None` when there is none.
    old: Option<Vec<u8>>,
    missing: Vec<String>,
}

fn plan_gitignore(path: &Path) -> Result<GitignorePlan, InitError> {
    let old = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(InitError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let present: Vec<&[u8]> = old
        .as_deref()
        .unwrap_or_default()
        .split(|b| *b == b'\n')
        .map(|line| line.trim_ascii())
        .collect();
    let missing = IGNORED_LINKS
        .iter()
        .filter(|line| !present.contains(&line.as_bytes()))
        .map(|line| (*line).to_owned())
        .collect();
    Ok(GitignorePlan {
        path: path.to_owned(),
        old,
        missing,
    })
}

/// Adds the lines the `.gitignore` lacks after those it has (creating it
/// when there is none), whole.
fn write_gitignore(plan: GitignorePlan) -> Result<Gitignore, InitError> {
    let step = match (&plan.old, plan.missing.is_empty()) {
        (_, true) => Step::Exists,
        (None, false) => Step::Created,
        (Some(_), false) => Step::Extended,
    };
    if step != Step::Exists {
        let mut bytes = plan.old.unwrap_or_default();
        if !bytes.is_empty() && !bytes.ends_with(b"\n") {
            bytes.push(b'\n');
        }
        for line in &plan.missing {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        atom_lock::files::write_whole(&plan.path, &bytes).map_err(|source| {
            InitError::New(NewError::Io {
                path: plan.path.clone(),
                source,
            })
        })?;
    }
    Ok(Gitignore {
        path: plan.path,
        added: plan.missing,
        step,
    })
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
    fn gitignore_gets_the_missing_lines_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hello");
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join(GITIGNORE_FILE);
        std::fs::write(&path, "/target\n  result\n*.swp").unwrap();
        let first = init(&request(&dir)).unwrap();
        let ignore = first.gitignore.unwrap();
        assert_eq!(
            (ignore.step, ignore.added),
            (Step::Extended, vec!["result-*".to_owned()])
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "/target\n  result\n*.swp\nresult-*\n"
        );
        let second = init(&request(&dir)).unwrap();
        assert_eq!(second.gitignore.unwrap().step, Step::Exists);
        // Below the root, the repository's own file is left alone.
        std::fs::remove_file(&path).unwrap();
        let below = init(&request(&dir.join("hello"))).unwrap();
        assert!(below.gitignore.is_none(), "{below:?}");
        assert!(!path.exists());
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
