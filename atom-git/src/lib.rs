//! # atom-git
//!
//! The git layer of eka: everything that touches a git repository or a git
//! remote, below the operations (publish, verify, resolve, fetch) and above
//! the pure format (`atom-format`), which knows what an atom commit *is* but
//! not where it is stored.
//!
//! - [`repo`]: opening a repository, revisions, remote names;
//! - [`tree`]: reading source commits and trees (roots, paths, blobs, the
//!   atoms a tree holds);
//! - [`objects`]: writing a publish's atom commits as one pack;
//! - [`refs`]: local refs, changed many at once in one transaction;
//! - [`transport`]: ref listings and fetches over `file://`, `git://`,
//!   smart HTTP and `ssh://`, on connections the caller owns
//!   ([`Connections`]);
//! - [`push`]: atomic pushes of atom refs;
//! - [`cache`]: the user's cache of fetched atoms, one bare repository.
//!
//! Reading, writing objects and listing use gix. Ref transactions of many
//! refs and pushes run git itself where gix is slower or cannot (see
//! [`refs`] and [`push`]).

pub mod cache;
mod error;
pub mod objects;
pub mod push;
pub mod refs;
pub mod repo;
pub mod setup;
pub mod status;
pub mod transport;
pub mod tree;

#[cfg(test)]
mod test_support;

pub use cache::{Access, Cache, CacheError};
pub use error::{BoxError, GitError, RefTransactionError};
pub use objects::{write_commits, write_tags, NewPack, PackDraft};
pub use push::{push_atomic, PushError, PushedRef};
pub use refs::{local_ref, local_refs, update_refs, RefStore, RefUpdate};
pub use repo::{open, remote_url, resolve_commit};
pub use transport::{Connections, RemoteError, RemoteRef, TransportError};
pub use tree::{
    commit_tree, discover_atoms, lookup_path, read_blob, read_object, root_commit, Discovery,
    FoundAtom,
};

/// An error and its causes in one line, `: `-separated: for warnings and
/// lists of failures, where a report's tree does not fit. A cause that the
/// text before it already quotes, or that is an error kind's bare name
/// (`NotFound`), is left out.
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let cause = e.to_string();
        if !text.contains(&cause) && !is_bare_kind(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        next = e.source();
    }
    text
}

/// The innermost cause of `error` that says something (not an error
/// kind's bare name), if it has causes.
pub fn root_cause(error: &dyn std::error::Error) -> Option<String> {
    let mut found = None;
    let mut next = error.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !is_bare_kind(&text) {
            found = Some(text);
        }
        next = e.source();
    }
    found
}

/// An error kind's bare name (`NotFound`, `PermissionDenied`): what some
/// errors print at the end of their chain, which the text above already
/// explains.
pub fn is_bare_kind(text: &str) -> bool {
    !text.is_empty()
        && text.chars().all(|c| c.is_ascii_alphabetic())
        && text.starts_with(|c: char| c.is_ascii_uppercase())
}
