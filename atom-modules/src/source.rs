//! Finding the atom to evaluate: an atom directory of a repository, read
//! from a commit (by default `HEAD`) or, when asked, from the working tree.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use atom_format::manifest::{DirectRequest, LOCAL_SET};

use crate::compose::{DepError, DepSource, DirectSource, LoadedAtom};
use crate::files::{AtomFiles, DirFiles, GitTreeFiles};
use crate::locked::LockedDepError;
use crate::MANIFEST;

/// Which state of the repository to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// The commit a revision names (`HEAD` by default): what would be
    /// published.
    Rev(String),
    /// The files on disk, committed or not.
    Worktree,
}

/// Why the atom could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("'{}' does not exist or is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("'{}' is not an atom: it holds no atom.toml", .0.display())]
    NotAnAtom(PathBuf),
    #[error("'{}' is not inside a git repository", .0.display())]
    NoRepository(PathBuf),
    #[error("'{}' is the repository root, and an atom is never the root", .0.display())]
    RepositoryRoot(PathBuf),
    #[error("'{rel}/atom.toml' is not in {rev} ({commit})")]
    NotCommitted {
        rel: String,
        rev: String,
        commit: String,
    },
    #[error("cannot list the files git would commit in '{}'", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Git(#[from] atom_git::GitError),
}

/// Why an atom of this repository (the set `"::"`) cannot be loaded.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SiblingError {
    #[error("`{set}::{label}`: cannot list this repository's atoms")]
    List {
        set: String,
        label: String,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    #[error("`{set}::{label}`: this repository has no atom labelled `{label}`{}", unreadable_text(.unreadable))]
    NoSuchAtom {
        set: String,
        label: String,
        /// Manifests that could not be read (one may be it): path, why.
        unreadable: Vec<(String, String)>,
    },
    #[error("`{set}::{label}` is version {version} in this repository (at {path}), which does not match `{req}`")]
    Unmatched {
        set: String,
        label: String,
        version: semver::Version,
        path: String,
        req: semver::VersionReq,
    },
    #[error("`{set}::{label}` (at {path}) cannot be read from the work tree")]
    Read {
        set: String,
        label: String,
        path: String,
        #[source]
        source: Arc<std::io::Error>,
    },
}

fn unreadable_text(unreadable: &[(String, String)]) -> String {
    let list: Vec<String> = unreadable
        .iter()
        // The parser's message starts with the manifest's path.
        .map(|(_, why)| why.clone())
        .collect();
    match list.is_empty() {
        true => String::new(),
        false => format!(" (these manifests cannot be read: {})", list.join("; ")),
    }
}

/// Where an atom of this repository is and what it is.
struct Found {
    path: String,
    version: semver::Version,
    files: Rc<dyn AtomFiles>,
}

/// Where the repository's atoms are found.
enum Where {
    /// In the tree of a commit, read from it.
    Tree {
        // Boxed: a repository handle is over a kilobyte, a path 24 bytes.
        repo: Box<gix::Repository>,
        tree: gix::ObjectId,
    },
    /// In the work tree around a directory, read from disk (what git
    /// would commit).
    WorkTree(PathBuf),
}

/// The atoms, the work tree's root, and the manifests that cannot be read.
type IndexedAtoms = (Vec<SiblingAtom>, PathBuf, Vec<(String, String)>);
type Index = Result<IndexedAtoms, Arc<dyn std::error::Error + Send + Sync>>;

/// The other atoms of the repository at the same commit (or in the same
/// work tree): what the set `"::"` (this repository) names.
pub struct Siblings {
    at: Where,
    /// The repository's atoms (path, label, version, tree) and the work
    /// tree's root, found once.
    index: std::cell::OnceCell<Index>,
}

struct SiblingAtom {
    path: String,
    label: String,
    version: semver::Version,
    /// Its tree, when read from a commit.
    tree: Option<gix::ObjectId>,
}

impl Siblings {
    fn in_tree(repo: gix::Repository, tree: gix::ObjectId) -> Siblings {
        Siblings {
            at: Where::Tree {
                repo: Box::new(repo),
                tree,
            },
            index: std::cell::OnceCell::new(),
        }
    }

    fn in_worktree(dir: &Path) -> Siblings {
        Siblings {
            at: Where::WorkTree(dir.to_owned()),
            index: std::cell::OnceCell::new(),
        }
    }

    /// Finds the atoms and reads every manifest, once per evaluation.
    fn index(&self) -> Result<&IndexedAtoms, Arc<dyn std::error::Error + Send + Sync>> {
        let index = self.index.get_or_init(|| match &self.at {
            Where::Tree { repo, tree } => tree_index(repo, *tree)
                .map(|atoms| (atoms, PathBuf::new(), Vec::new()))
                .map_err(|e| Arc::new(e) as Arc<dyn std::error::Error + Send + Sync>),
            Where::WorkTree(dir) => {
                let found = atom_lock::siblings::worktree_atoms(dir)
                    .map_err(|e| Arc::new(e) as Arc<dyn std::error::Error + Send + Sync>)?;
                let atoms = found
                    .atoms
                    .into_iter()
                    .map(|a| SiblingAtom {
                        path: a.path,
                        label: a.manifest.package.label.to_string(),
                        version: a.manifest.package.version,
                        tree: None,
                    })
                    .collect();
                Ok((atoms, found.root, found.unreadable))
            }
        });
        index.as_ref().map_err(Clone::clone)
    }

    /// The atom labelled `label` (of the set `set`, for errors).
    fn find(&self, set: &str, label: &str) -> Result<Found, SiblingError> {
        let (index, root, unreadable) = self.index().map_err(|source| SiblingError::List {
            set: set.to_owned(),
            label: label.to_owned(),
            source,
        })?;
        let Some(atom) = index.iter().find(|a| a.label == label) else {
            return Err(SiblingError::NoSuchAtom {
                set: set.to_owned(),
                label: label.to_owned(),
                unreadable: unreadable.clone(),
            });
        };
        let files: Rc<dyn AtomFiles> = match (&self.at, atom.tree) {
            (Where::Tree { repo, .. }, Some(tree)) => {
                Rc::new(GitTreeFiles::new((**repo).clone(), tree))
            }
            _ => Rc::new(DirFiles::committable(&root.join(&atom.path)).map_err(|e| {
                SiblingError::Read {
                    set: set.to_owned(),
                    label: label.to_owned(),
                    path: atom.path.clone(),
                    source: Arc::new(e),
                }
            })?),
        };
        Ok(Found {
            path: atom.path.clone(),
            version: atom.version.clone(),
            files,
        })
    }
}

/// The atoms of the commit tree `tree`.
fn tree_index(
    repo: &gix::Repository,
    tree: gix::ObjectId,
) -> Result<Vec<SiblingAtom>, atom_git::GitError> {
    let found = atom_git::discover_atoms(repo, tree)?;
    let mut atoms = Vec::new();
    for atom in found.atoms {
        let text = atom_git::read_blob(repo, atom.manifest_blob)?;
        let text = String::from_utf8_lossy(&text);
        // Other atoms' broken manifests are not this evaluation's
        // business; an atom whose manifest is broken has no label.
        let Ok(m) = atom_format::manifest::Manifest::parse(&atom.path, &text) else {
            continue;
        };
        atoms.push(SiblingAtom {
            path: atom.path,
            label: m.package.label.to_string(),
            version: m.package.version,
            tree: Some(atom.tree),
        });
    }
    Ok(atoms)
}

/// A [`DepSource`] that finds the set `"::"` among [`Siblings`] and asks
/// `inner` for every other set.
pub struct WithSiblings<D> {
    pub inner: D,
    pub siblings: Option<Siblings>,
}

impl<D: DepSource> DepSource for WithSiblings<D> {
    fn load(
        &self,
        dependent: &str,
        set: &str,
        set_urls: &[String],
        label: &str,
        req: &semver::VersionReq,
    ) -> Result<LoadedAtom, DepError> {
        // A fetched atom's "::" is its own repository, which its lock
        // pins; so does an atom not read from a repository (by URI).
        let local = dependent.is_empty() || dependent.starts_with("::");
        let siblings = match &self.siblings {
            Some(siblings) if local => siblings,
            _ => return self.inner.load(dependent, set, set_urls, label, req),
        };
        if set_urls != [LOCAL_SET] {
            // eka 0.3 locks an atom of this repository that no mirror
            // publishes without a commit, and reads it from here: so does
            // eka.
            match self.inner.load(dependent, set, set_urls, label, req) {
                Err(DepError::Locked(LockedDepError::LocalOnly { .. }))
                    if set_urls.iter().any(|u| u == LOCAL_SET) => {}
                loaded => return loaded,
            }
        }
        let found = siblings.find(set, label)?;
        if !req.matches(&found.version) {
            return Err(SiblingError::Unmatched {
                set: set.to_owned(),
                label: label.to_owned(),
                version: found.version,
                path: found.path,
                req: req.clone(),
            }
            .into());
        }
        Ok(LoadedAtom {
            key: format!("::{}", found.path),
            files: found.files,
        })
    }

    fn load_direct(
        &self,
        dependent: &str,
        request: &DirectRequest,
    ) -> Result<DirectSource, DepError> {
        self.inner.load_direct(dependent, request)
    }
}

/// An atom opened for evaluation.
pub struct LocalAtom {
    pub files: Rc<dyn AtomFiles>,
    /// The text of its `atom.lock`, if it has one (from the same source).
    pub lock: Option<String>,
    /// Where it was read from, for messages: `HEAD (1234abc)`, `worktree`.
    pub from: String,
    /// The repository's other atoms, for the set `"::"`.
    pub siblings: Option<Siblings>,
}

/// Opens the atom in `dir` as `checkout` says.
pub fn open_local(dir: &Path, checkout: &Checkout) -> Result<LocalAtom, SourceError> {
    let dir = std::fs::canonicalize(dir).map_err(|_| SourceError::NotADirectory(dir.to_owned()))?;
    if !dir.is_dir() {
        return Err(SourceError::NotADirectory(dir));
    }
    let files: Rc<dyn AtomFiles>;
    let from;
    let siblings;
    match checkout {
        Checkout::Worktree => {
            if !dir.join(MANIFEST).is_file() {
                return Err(SourceError::NotAnAtom(dir));
            }
            files = Rc::new(
                DirFiles::committable(&dir).map_err(|source| SourceError::List {
                    dir: dir.clone(),
                    source,
                })?,
            );
            from = "the working tree".to_string();
            // Siblings are found and read in the work tree too.
            siblings = Some(Siblings::in_worktree(&dir));
        }
        Checkout::Rev(rev) => {
            let repo = gix::discover(&dir).map_err(|_| SourceError::NoRepository(dir.clone()))?;
            let workdir = repo
                .workdir()
                .and_then(|w| std::fs::canonicalize(w).ok())
                .ok_or_else(|| SourceError::NoRepository(dir.clone()))?;
            let rel = dir
                .strip_prefix(&workdir)
                .map_err(|_| SourceError::NoRepository(dir.clone()))?
                .to_string_lossy()
                .replace('\\', "/");
            if rel.is_empty() {
                return Err(SourceError::RepositoryRoot(dir));
            }
            let commit = atom_git::resolve_commit(&repo, rev)?;
            let tree = atom_git::commit_tree(&repo, commit)?;
            let short = commit.to_hex_with_len(12).to_string();
            let not_committed = || SourceError::NotCommitted {
                rel: rel.clone(),
                rev: rev.clone(),
                commit: short.clone(),
            };
            let atom_tree = match atom_git::lookup_path(&repo, tree, &rel)? {
                Some((gix::objs::tree::EntryKind::Tree, id)) => id,
                _ => return Err(not_committed()),
            };
            match atom_git::lookup_path(&repo, atom_tree, MANIFEST)? {
                Some((
                    gix::objs::tree::EntryKind::Blob | gix::objs::tree::EntryKind::BlobExecutable,
                    _,
                )) => {}
                _ => return Err(not_committed()),
            }
            files = Rc::new(GitTreeFiles::new(repo.clone(), atom_tree));
            from = format!("{rev} ({short})");
            siblings = Some(Siblings::in_tree(repo, tree));
        }
    }
    let lock = match files.read_file(atom_lock::lock::LOCK_FILE) {
        Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
        Err(_) => None,
    };
    Ok(LocalAtom {
        files,
        lock,
        from,
        siblings,
    })
}
