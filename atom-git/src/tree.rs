//! Reading source commits and atom trees: roots, trees, paths, blobs, and
//! the atoms a tree holds.

use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::objs::Find as _;
use gix::ObjectId;

use atom_format::manifest::MANIFEST_FILE;

use crate::GitError;

/// The repository root of `commit`: the parentless commit reached by
/// following first parents.
pub fn root_commit(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, GitError> {
    let mut buf = Vec::new();
    let mut current = commit;
    loop {
        let data = repo
            .objects
            .try_find(&current, &mut buf)
            .map_err(|e| GitError::object(current, e))?
            .ok_or(GitError::MissingObject { id: current })?;
        if data.kind != gix::object::Kind::Commit {
            return Err(GitError::ObjectKind {
                id: current,
                expected: gix::object::Kind::Commit,
                actual: data.kind,
            });
        }
        let mut parents =
            gix::objs::CommitRefIter::from_bytes(data.data, repo.object_hash()).parent_ids();
        match parents.next() {
            Some(first) => current = first,
            None => return Ok(current),
        }
    }
}

/// An `atom.toml` found in a commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundAtom {
    /// The atom directory, relative to the repository root, `/`-separated.
    pub path: String,
    /// The atom directory's tree.
    pub tree: ObjectId,
    /// The `atom.toml` blob.
    pub manifest_blob: ObjectId,
}

/// What a tree walk found: the atoms, and an `atom.toml` at the root (which
/// cannot be an atom) if there is one.
#[derive(Debug, Default)]
pub struct Discovery {
    pub atoms: Vec<FoundAtom>,
    pub root_manifest: bool,
}

/// Finds every directory of `tree` holding a regular file `atom.toml`.
pub fn discover_atoms(repo: &gix::Repository, tree: ObjectId) -> Result<Discovery, GitError> {
    let mut out = Discovery::default();
    let mut stack = vec![(String::new(), tree)];
    let mut buf = Vec::new();
    while let Some((path, id)) = stack.pop() {
        let tree = gix::objs::FindExt::find_tree(&repo.objects, &id, &mut buf)
            .map_err(|e| GitError::object(id, e))?;
        for entry in &tree.entries {
            let name = entry.filename;
            match entry.mode.kind() {
                EntryKind::Tree => {
                    let child = if path.is_empty() {
                        name.to_str_lossy().into_owned()
                    } else {
                        format!("{path}/{}", name.to_str_lossy())
                    };
                    stack.push((child, entry.oid.to_owned()));
                }
                EntryKind::Blob | EntryKind::BlobExecutable if name == MANIFEST_FILE => {
                    if path.is_empty() {
                        out.root_manifest = true;
                    } else {
                        out.atoms.push(FoundAtom {
                            path: path.clone(),
                            tree: id,
                            manifest_blob: entry.oid.to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out.atoms.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The tree of `commit`.
pub fn commit_tree(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, GitError> {
    let c = repo
        .find_commit(commit)
        .map_err(|e| GitError::object(commit, e))?;
    c.tree_id()
        .map(|t| t.detach())
        .map_err(|e| GitError::object(commit, e))
}

/// The entry at `path` (`/`-separated) in `tree`, if any: its kind and id.
pub fn lookup_path(
    repo: &gix::Repository,
    tree: ObjectId,
    path: &str,
) -> Result<Option<(EntryKind, ObjectId)>, GitError> {
    let mut current = (EntryKind::Tree, tree);
    let mut buf = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if current.0 != EntryKind::Tree {
            return Ok(None);
        }
        let t = gix::objs::FindExt::find_tree(&repo.objects, &current.1, &mut buf)
            .map_err(|e| GitError::object(current.1, e))?;
        match t.entries.iter().find(|e| e.filename == part) {
            Some(e) => current = (e.mode.kind(), e.oid.to_owned()),
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Reads a blob's bytes.
pub fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, GitError> {
    let mut buf = Vec::new();
    let blob = gix::objs::FindExt::find_blob(&repo.objects, &id, &mut buf)
        .map_err(|e| GitError::object(id, e))?;
    Ok(blob.data.to_vec())
}

/// The raw bytes and kind of an object, if present.
pub fn read_object(
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<Option<(gix::object::Kind, Vec<u8>)>, GitError> {
    let mut buf = Vec::new();
    Ok(repo
        .objects
        .try_find(&id, &mut buf)
        .map_err(|e| GitError::object(id, e))?
        .map(|d| (d.kind, d.data.to_vec())))
}
