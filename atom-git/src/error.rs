//! The errors of the git layer. Each keeps its cause (`#[source]`), so a
//! report shows what git or gix said below what eka was doing.

use std::path::PathBuf;

use gix::ObjectId;

/// Any error below ours: gix's many error types, io errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of reading and writing a local repository.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GitError {
    #[error("`{}` is not in a git repository", path.display())]
    #[diagnostic(code(atom::git::not_a_repository))]
    NotARepository {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("the repository at `{}` has no commits yet", .0.display())]
    #[diagnostic(code(atom::git::empty))]
    EmptyRepository(PathBuf),
    #[error("`{rev}` does not name a commit")]
    #[diagnostic(code(atom::git::revision))]
    BadRevision {
        rev: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot read object {id}")]
    #[diagnostic(code(atom::git::object))]
    Object {
        id: ObjectId,
        #[source]
        source: BoxError,
    },
    #[error("object {id} is missing (is the history complete?)")]
    #[diagnostic(code(atom::git::missing_object))]
    MissingObject { id: ObjectId },
    #[error("object {id} is a {actual}, not a {expected}")]
    #[diagnostic(code(atom::git::object_kind))]
    ObjectKind {
        id: ObjectId,
        expected: gix::object::Kind,
        actual: gix::object::Kind,
    },
    #[error("cannot write the atom commits")]
    #[diagnostic(code(atom::git::write_pack))]
    WritePack {
        #[source]
        source: BoxError,
    },
    #[error("cannot read the local refs under `{prefix}`")]
    #[diagnostic(code(atom::git::read_refs))]
    ReadRefs {
        prefix: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot update local refs (nothing was changed)")]
    #[diagnostic(code(atom::git::update_refs))]
    UpdateRefs {
        #[source]
        source: RefTransactionError,
    },
    #[error("`{0}` is neither a configured remote nor a URL or path")]
    #[diagnostic(code(atom::git::unknown_remote))]
    UnknownRemote(String),
}

impl GitError {
    pub(crate) fn object(id: impl Into<ObjectId>, e: impl Into<BoxError>) -> Self {
        GitError::Object {
            id: id.into(),
            source: e.into(),
        }
    }

    pub(crate) fn write_pack(e: impl Into<BoxError>) -> Self {
        GitError::WritePack { source: e.into() }
    }
}

/// Why a ref transaction changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RefTransactionError {
    #[error("`{0}` is not a valid ref name")]
    InvalidName(String),
    #[error("`{0}` already exists")]
    Exists(String),
    #[error("`{name}` is not at {expected}")]
    NotAt { name: String, expected: ObjectId },
    #[error("`{name}` cannot be created next to the existing ref `{other}`")]
    Clash { name: String, other: String },
    #[error("cannot lock `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("cannot access `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot run `git update-ref`")]
    Spawn(#[source] std::io::Error),
    #[error("git update-ref: {0}")]
    Git(String),
}
