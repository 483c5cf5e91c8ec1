//! Opening repositories and naming things in them: revisions and remotes.

use std::path::Path;

use gix::bstr::ByteSlice;
use gix::ObjectId;

use crate::GitError;

/// Opens the repository containing `path` (searching upwards, like git).
pub fn open(path: &Path) -> Result<gix::Repository, GitError> {
    let mut repo = gix::discover(path).map_err(|source| GitError::NotARepository {
        path: path.to_owned(),
        source: source.into(),
    })?;
    // Publishing reads many small objects; a larger cache pays for itself.
    repo.object_cache_size_if_unset(16 * 1024 * 1024);
    Ok(repo)
}

/// Resolves `rev` to a commit id.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<ObjectId, GitError> {
    let id = repo.rev_parse_single(rev).map_err(|e| {
        if rev == "HEAD" && repo.head_id().is_err() {
            GitError::EmptyRepository(repo.workdir().unwrap_or(repo.git_dir()).to_owned())
        } else {
            GitError::BadRevision {
                rev: rev.to_owned(),
                source: e.into(),
            }
        }
    })?;
    let object = id.object().map_err(|e| GitError::object(id, e))?;
    let commit = object.peel_to_commit().map_err(|e| GitError::BadRevision {
        rev: rev.to_owned(),
        source: e.into(),
    })?;
    Ok(commit.id)
}

/// Whether `name_or_url` is written as a URL or path rather than as the
/// name of a remote: remote names contain none of `/`, `:` and do not
/// start with `.`.
pub fn looks_like_url(name_or_url: &str) -> bool {
    name_or_url.contains("://")
        || name_or_url.contains('/')
        || name_or_url.contains(':')
        || name_or_url.starts_with('.')
}

/// The URL of a remote given by name (as configured in `repo`; its push
/// URL, else its fetch URL) or as a URL or path.
pub fn remote_url(repo: Option<&gix::Repository>, name_or_url: &str) -> Result<String, GitError> {
    if let Some(url) = repo.and_then(|r| configured_remote_url(r, name_or_url)) {
        return Ok(url);
    }
    if looks_like_url(name_or_url) {
        Ok(name_or_url.to_owned())
    } else {
        Err(GitError::UnknownRemote(name_or_url.to_owned()))
    }
}

/// The URL of the remote `name` configured in `repo`, if there is one.
pub fn configured_remote_url(repo: &gix::Repository, name: &str) -> Option<String> {
    let remote = repo.find_remote(name).ok()?;
    let url = remote
        .url(gix::remote::Direction::Push)
        .or_else(|| remote.url(gix::remote::Direction::Fetch))?;
    Some(url.to_bstring().to_str_lossy().into_owned())
}
