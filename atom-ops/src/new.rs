//! Scaffolding an atom ([`create`]): an `atom.toml` that `publish` will
//! accept, checked up front by the same rules (a label, a version git can
//! store in a ref name, a directory below the repository root, a label no
//! other atom of the repository has).

use std::path::{Path, PathBuf};

use atom_format::manifest::MANIFEST_FILE;
use atom_format::refs::{AtomVersion, InvalidRefName};
use atom_format::{Label, LabelError, Manifest};

/// What [`create`] is asked to do.
#[derive(Clone, Debug)]
pub struct NewRequest {
    /// The atom's directory (created if missing).
    pub path: PathBuf,
    /// The label (default: the directory's name).
    pub label: Option<String>,
    pub version: String,
}

/// What [`create`] did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NewReport {
    /// The atom.toml written.
    pub manifest: PathBuf,
    pub label: Label,
    pub version: semver::Version,
    /// Whether the atom is inside a git repository (publishing needs one).
    pub in_repository: bool,
    /// Whether the directory already has a `mod.nix`.
    pub has_module: bool,
}

/// Why no atom was created.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum NewError {
    #[error("`{}` has no directory name to use as a label", .0.display())]
    #[diagnostic(code(eka::new::no_name))]
    NoName(PathBuf),
    #[error("invalid label `{label}`: {source}")]
    #[diagnostic(code(eka::new::label))]
    Label {
        label: String,
        /// Whether the label is the directory's name (no `--label` given).
        from_directory: bool,
        #[source]
        source: LabelError,
    },
    #[error("invalid version `{version}`: {source}")]
    #[diagnostic(code(eka::new::version))]
    Version {
        version: String,
        #[source]
        source: semver::Error,
    },
    #[error("version {version} cannot be published: {source}")]
    #[diagnostic(code(eka::new::ref_name))]
    RefName {
        version: semver::Version,
        #[source]
        source: InvalidRefName,
    },
    #[error("`{}` already exists", .0.display())]
    #[diagnostic(code(eka::new::exists))]
    Exists(PathBuf),
    #[error("`{}` is the root of its repository, which cannot be an atom", .0.display())]
    #[diagnostic(code(eka::new::repository_root))]
    RepositoryRoot(PathBuf),
    #[error("the label `{label}` is taken by the atom in `{}`", other.display())]
    #[diagnostic(code(eka::new::label_taken))]
    LabelTaken { label: Label, other: PathBuf },
    #[error("cannot write `{}`", path.display())]
    #[diagnostic(code(eka::new::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Creates the atom `request` describes, or nothing.
pub fn create(request: &NewRequest) -> Result<NewReport, NewError> {
    check(request)?.write()
}

/// An atom that [`check`] found can be created, not written yet.
#[derive(Clone, Debug)]
pub struct Checked {
    path: PathBuf,
    manifest: PathBuf,
    label: Label,
    version: semver::Version,
    in_repository: bool,
}

/// Checks everything [`create`] checks, writing nothing.
pub fn check(request: &NewRequest) -> Result<Checked, NewError> {
    let label = label(request)?;
    let version = semver::Version::parse(&request.version).map_err(|source| NewError::Version {
        version: request.version.clone(),
        source,
    })?;
    AtomVersion::new(label.clone(), version.clone())
        .check_ref_names()
        .map_err(|source| NewError::RefName {
            version: version.clone(),
            source,
        })?;
    let manifest = request.path.join(MANIFEST_FILE);
    if manifest.exists() {
        return Err(NewError::Exists(manifest));
    }
    let repo_root = repository_root(&request.path);
    if let Some(root) = &repo_root {
        check_place(&request.path, root, &label)?;
    }
    Ok(Checked {
        path: request.path.clone(),
        manifest,
        label,
        version,
        in_repository: repo_root.is_some(),
    })
}

impl Checked {
    /// The label the atom will have.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// Writes the atom's directory and its `atom.toml`.
    pub fn write(self) -> Result<NewReport, NewError> {
        let Checked {
            path,
            manifest,
            label,
            version,
            in_repository,
        } = self;
        let text = format!(
            "[package]\nlabel = {}\nversion = \"{version}\"\n",
            toml::Value::String(label.to_string())
        );
        // What we write must be what we read.
        debug_assert!(Manifest::parse("atom.toml", &text).is_ok());
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| NewError::Io { path, source }
        };
        std::fs::create_dir_all(&path).map_err(io(&path))?;
        atom_lock::files::stage(&manifest, text.as_bytes())
            .and_then(|new| new.commit_new())
            .map_err(io(&manifest))?;
        Ok(NewReport {
            has_module: path.join("mod.nix").is_file(),
            manifest,
            label,
            version,
            in_repository,
        })
    }
}

/// The label asked for, or the directory's name.
fn label(request: &NewRequest) -> Result<Label, NewError> {
    let (text, from_directory) = match &request.label {
        Some(l) => (l.clone(), false),
        None => {
            let name = absolute(&request.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| NewError::NoName(request.path.clone()))?;
            (name, true)
        }
    };
    Label::parse(&text).map_err(|source| NewError::Label {
        label: text,
        from_directory,
        source,
    })
}

/// The work tree root of the repository `path` is (or will be) in.
pub(crate) fn repository_root(path: &Path) -> Option<PathBuf> {
    let existing = absolute(path)
        .ancestors()
        .find(|p| p.exists())
        .map(Path::to_owned)?;
    let repo = atom_git::open(&existing).ok()?;
    let root = repo.workdir()?;
    Some(root.canonicalize().unwrap_or_else(|_| root.to_owned()))
}

/// Refuses the repository root, and a label another atom has.
fn check_place(path: &Path, root: &Path, label: &Label) -> Result<(), NewError> {
    let here = absolute(path);
    if here == root {
        return Err(NewError::RepositoryRoot(path.to_owned()));
    }
    let others = crate::deps::atoms_of_repository(root).unwrap_or_default();
    for other in others {
        let Ok(text) = std::fs::read_to_string(other.join(MANIFEST_FILE)) else {
            continue;
        };
        let Ok(m) = Manifest::parse("atom.toml", &text) else {
            continue;
        };
        if &m.package.label == label {
            let shown = other.strip_prefix(root).unwrap_or(&other).to_owned();
            return Err(NewError::LabelTaken {
                label: label.clone(),
                other: shown,
            });
        }
    }
    Ok(())
}

/// `path` made absolute, `.` and `..` resolved (symlinks followed where
/// it exists).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    let abs = std::env::current_dir().unwrap_or_default().join(path);
    if let Ok(c) = abs.canonicalize() {
        return c;
    }
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    // The part that exists, canonical (a symlinked temp dir), then the rest.
    match out
        .ancestors()
        .find_map(|a| a.canonicalize().ok().map(|c| (a.to_owned(), c)))
    {
        Some((a, c)) => c.join(out.strip_prefix(&a).unwrap_or(Path::new(""))),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_version_git_cannot_store() {
        let dir = tempfile::tempdir().unwrap();
        let e = create(&NewRequest {
            path: dir.path().join("a"),
            label: None,
            version: "1.0.0-x.lock".into(),
        })
        .unwrap_err();
        assert!(matches!(e, NewError::RefName { .. }), "{e:?}");
        assert!(!dir.path().join("a").exists());
    }
}
