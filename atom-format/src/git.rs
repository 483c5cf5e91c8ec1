//! Git storage: reading source commits, writing atom commits and refs, and
//! talking to remotes.
//!
//! Reading, writing and ref listing use gix. Pushing uses a `git push
//! --atomic` subprocess, because gix cannot push yet and an atomic push is
//! the only way to land all of a publish's refs or none.

use std::path::{Path, PathBuf};
use std::process::Command;

use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::manifest::MANIFEST_FILE;

/// Errors of the git layer.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GitError {
    #[error("`{path}` is not in a git repository")]
    #[diagnostic(
        code(atom::git::not_a_repository),
        help("run eka inside a git repository (`git init`), or pass the path of one")
    )]
    NotARepository {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("the repository at `{0}` has no commits yet")]
    #[diagnostic(
        code(atom::git::empty),
        help("commit your atoms first: `git add . && git commit`; eka publishes committed trees only")
    )]
    EmptyRepository(PathBuf),
    #[error("`{rev}` does not name a commit: {why}")]
    #[diagnostic(
        code(atom::git::revision),
        help("pass a branch, tag or commit id with --rev")
    )]
    BadRevision { rev: String, why: String },
    #[error("object {id}: {why}")]
    #[diagnostic(code(atom::git::object))]
    Object { id: ObjectId, why: String },
    #[error("{0}")]
    #[diagnostic(code(atom::git::error))]
    Other(String),
}

impl GitError {
    fn object(id: impl Into<ObjectId>, e: impl std::fmt::Display) -> Self {
        GitError::Object {
            id: id.into(),
            why: e.to_string(),
        }
    }
}

/// Opens the repository containing `path` (searching upwards, like git).
pub fn open(path: &Path) -> Result<gix::Repository, GitError> {
    let mut repo = gix::discover(path).map_err(|source| GitError::NotARepository {
        path: path.to_owned(),
        source,
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
                why: e.to_string(),
            }
        }
    })?;
    let object = id.object().map_err(|e| GitError::object(id, e))?;
    let commit = object.peel_to_commit().map_err(|e| GitError::BadRevision {
        rev: rev.to_owned(),
        why: e.to_string(),
    })?;
    Ok(commit.id)
}

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
            .ok_or_else(|| GitError::object(current, "missing (is the history complete?)"))?;
        if data.kind != gix::object::Kind::Commit {
            return Err(GitError::object(current, "not a commit"));
        }
        let mut parents =
            gix::objs::CommitRefIter::from_bytes(data.data, repo.object_hash()).parent_ids();
        match parents.next() {
            Some(first) => current = first,
            None => return Ok(current),
        }
    }
}

use gix::objs::Find as _;

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

/// Writes commit objects with exactly these bytes into one new pack (and its
/// index) in the repository's object store; returns their ids, in order.
///
/// A publish writes a thousand tiny commits at once: one pack is two files
/// where loose objects would be a thousand files in up to 256 directories,
/// and `git push` can then copy the commits from the pack as they are. The
/// pack is written to a temporary file and renamed into place before its
/// index, so readers see all of it or none of it. Commits the repository
/// already has are not written again.
///
/// The pack gets a `.keep` file (so that a concurrent repack leaves it alone
/// until refs point at its commits), which the returned [`NewPack`] removes
/// when dropped.
pub fn write_commits(
    repo: &gix::Repository,
    commits: &[Vec<u8>],
) -> Result<(Vec<ObjectId>, NewPack), GitError> {
    use gix::odb::pack::data;
    let err =
        |e: &dyn std::fmt::Display| GitError::Other(format!("cannot write the atom commits: {e}"));
    let hash = repo.object_hash();
    let mut ids = Vec::with_capacity(commits.len());
    let mut new = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for bytes in commits {
        let id =
            gix::objs::compute_hash(hash, gix::object::Kind::Commit, bytes).map_err(|e| err(&e))?;
        ids.push(id);
        if seen.insert(id) && !repo.objects.exists_without_refresh(&id) {
            new.push(bytes.as_slice());
        }
    }
    if new.is_empty() {
        return Ok((ids, NewPack { keep: None }));
    }
    // The pack: a header, each commit as a whole (not a delta) and deflated,
    // and the hash of all that.
    let count = u32::try_from(new.len()).map_err(|e| err(&e))?;
    let mut stream = data::header::encode(data::Version::V2, count).to_vec();
    let mut zlib = gix::zlib::stream::deflate::Compress::new(gix::zlib::Compression::DEFAULT);
    for bytes in new {
        data::entry::Header::Commit
            .write_to(bytes.len() as u64, &mut stream)
            .map_err(|e| err(&e))?;
        deflate(&mut zlib, bytes, &mut stream).map_err(|e| err(&e))?;
    }
    let mut hasher = gix::hash::hasher(hash);
    hasher.update(&stream);
    let trailer = hasher.try_finalize().map_err(|e| err(&e))?;
    stream.extend_from_slice(trailer.as_slice());

    // Indexing it checks every entry and hashes every object again.
    let outcome = gix::odb::pack::Bundle::write_to_directory(
        &mut stream.as_slice(),
        Some(&repo.objects.store_ref().path().join("pack")),
        &mut gix::progress::Discard,
        &std::sync::atomic::AtomicBool::new(false),
        None::<gix::objs::find::Never>,
        hash,
        gix::odb::pack::bundle::write::Options {
            thread_limit: Some(1),
            ..Default::default()
        },
    )
    .map_err(|e| err(&e))?;
    let pack = NewPack {
        keep: outcome.keep_path,
    };
    if outcome.index.num_objects != count {
        return Err(err(&format!(
            "the new pack holds {} objects, not {count}",
            outcome.index.num_objects
        )));
    }
    // Read-only, as git leaves its packs.
    #[cfg(unix)]
    for path in [&outcome.data_path, &outcome.index_path]
        .into_iter()
        .flatten()
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444));
    }
    Ok((ids, pack))
}

/// Appends `input`, deflated as one zlib stream, to `out`.
fn deflate(
    zlib: &mut gix::zlib::stream::deflate::Compress,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), gix::Error> {
    use gix::zlib::{stream::deflate::FlushCompress, Status};
    zlib.reset();
    let start = out.len();
    // Deflating a small input never grows it by more than a few bytes.
    out.resize(start + input.len() + 64, 0);
    let (mut read, mut written) = (0, start);
    loop {
        let (in_before, out_before) = (zlib.total_in(), zlib.total_out());
        let status = zlib.compress(&input[read..], &mut out[written..], FlushCompress::Finish)?;
        read += (zlib.total_in() - in_before) as usize;
        written += (zlib.total_out() - out_before) as usize;
        match status {
            Status::StreamEnd => break,
            _ if written == out.len() => out.resize(out.len() + 1024, 0),
            _ if zlib.total_in() == in_before && zlib.total_out() == out_before => {
                return Err(gix::Error::from_error(std::io::Error::other(
                    "zlib made no progress",
                )))
            }
            _ => {}
        }
    }
    out.truncate(written);
    Ok(())
}

/// A pack written by [`write_commits`]; dropping it removes its `.keep`
/// file, so that `git gc` may repack it again.
#[derive(Debug)]
pub struct NewPack {
    keep: Option<PathBuf>,
}

impl Drop for NewPack {
    fn drop(&mut self) {
        if let Some(keep) = self.keep.take() {
            let _ = std::fs::remove_file(keep);
        }
    }
}

/// The current value of a local ref, if it exists.
pub fn local_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, GitError> {
    match repo.try_find_reference(name) {
        Ok(Some(r)) => Ok(r.target().try_id().map(|id| id.to_owned())),
        Ok(None) => Ok(None),
        Err(e) => Err(GitError::Other(format!("cannot read ref `{name}`: {e}"))),
    }
}

/// All local refs under `prefix`, with their targets.
pub fn local_refs(
    repo: &gix::Repository,
    prefix: &str,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let err = |e: &dyn std::fmt::Display| GitError::Other(format!("cannot list refs: {e}"));
    let platform = repo.references().map_err(|e| err(&e))?;
    let iter = platform
        .prefixed(prefix.as_bytes().as_bstr())
        .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| err(&e))?;
        if let Some(id) = r.target().try_id() {
            out.push((
                r.name().as_bstr().to_str_lossy().into_owned(),
                id.to_owned(),
            ));
        }
    }
    Ok(out)
}

/// One change to a local ref: from `old` (`None` = must not exist) to `new`
/// (`None` = delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    pub name: String,
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
}

/// Applies all `updates` in one transaction: every ref must still have its
/// `old` value, or nothing changes.
///
/// This runs `git update-ref --stdin`, whose transactions are atomic and, for
/// thousands of refs, an order of magnitude faster than gix 0.90's.
pub fn update_refs(
    repo: &gix::Repository,
    updates: &[RefUpdate],
    message: &str,
) -> Result<(), GitError> {
    update_refs_in(repo.git_dir(), updates, message)
}

/// [`update_refs`] for the repository whose git directory is `git_dir` (a
/// `gix::Repository` cannot cross threads; a path can).
pub fn update_refs_in(
    git_dir: &Path,
    updates: &[RefUpdate],
    message: &str,
) -> Result<(), GitError> {
    use std::io::Write as _;
    if updates.is_empty() {
        return Ok(());
    }
    let mut script = String::from("start\n");
    for u in updates {
        if u.name.contains(char::is_whitespace) {
            return Err(GitError::Other(format!(
                "`{}` is not a valid ref name",
                u.name
            )));
        }
        let zero = ObjectId::null(gix::hash::Kind::Sha1);
        let old = u.old.unwrap_or(zero);
        match u.new {
            Some(new) => script.push_str(&format!("update {} {new} {old}\n", u.name)),
            None => script.push_str(&format!("delete {} {old}\n", u.name)),
        }
    }
    script.push_str("prepare\ncommit\n");
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["update-ref", "--stdin", "-m", message])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| GitError::Other(format!("cannot run git update-ref: {e}")))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()))
        .unwrap_or(Ok(()));
    let output = child
        .wait_with_output()
        .map_err(|e| GitError::Other(format!("git update-ref: {e}")))?;
    if !output.status.success() || written.is_err() {
        return Err(GitError::Other(format!(
            "cannot update local refs (nothing was changed): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// A repository's ref storage, as a value that can cross threads (a
/// `gix::Repository` cannot), for [`RefStore::update`].
#[derive(Clone, Debug)]
pub struct RefStore {
    git_dir: PathBuf,
    common_dir: PathBuf,
    /// Whether writing `packed-refs` directly does what `git update-ref`
    /// would: the files backend, no reflogs for new refs, no
    /// `reference-transaction` hook to run, no shared-repository
    /// permissions to apply.
    packed: bool,
}

impl RefStore {
    /// The ref storage of `repo`.
    pub fn of(repo: &gix::Repository) -> Self {
        let config = repo.config_snapshot();
        let is = |key: &str, values: &[&str]| {
            config
                .string(key)
                .is_some_and(|v| values.iter().any(|x| v.eq_ignore_ascii_case(x.as_bytes())))
        };
        let files = config.string("extensions.refStorage").is_none()
            || is("extensions.refStorage", &["files"]);
        let reflogs_always = is("core.logAllRefUpdates", &["always"]);
        let shared = config.string("core.sharedRepository").is_some()
            && !is(
                "core.sharedRepository",
                &["false", "umask", "0", "no", "off"],
            );
        let hooks = match config.trusted_path("core.hooksPath") {
            Ok(None) => Some(repo.common_dir().join("hooks")),
            Ok(Some(p)) if p.is_absolute() => Some(p),
            Ok(Some(p)) => Some(repo.workdir().unwrap_or(repo.git_dir()).join(p)),
            Err(_) => None,
        };
        let hook = hooks.is_none_or(|h| h.join("reference-transaction").exists());
        RefStore {
            git_dir: repo.git_dir().to_owned(),
            common_dir: repo.common_dir().to_owned(),
            packed: files && !reflogs_always && !shared && !hook,
        }
    }

    /// Applies all `updates` in one transaction: every ref must still have
    /// its `old` value, or nothing changes.
    ///
    /// When every update creates a ref or deletes a packed one (what a
    /// publish and its undo do), and git would write no reflog, the
    /// transaction is one rewrite of `packed-refs` under git's lock
    /// (`packed-refs.lock`): for thousands of new refs, one file instead of
    /// thousands of loose ref files, lock files and directories, and
    /// all-or-nothing even if the process dies halfway (the new file is
    /// renamed into place). Otherwise it runs `git update-ref --stdin`.
    pub fn update(&self, updates: &[RefUpdate], message: &str) -> Result<(), GitError> {
        if self.packed && update_packed_refs(&self.common_dir, updates)? {
            return Ok(());
        }
        update_refs_in(&self.git_dir, updates, message)
    }
}

/// One record of a `packed-refs` file: its bytes (the ref's line and a
/// following `^<peeled>` line, if any), kept verbatim, and its target.
enum PackedRecord<'a> {
    Existing { target: &'a [u8], bytes: &'a [u8] },
    New(ObjectId),
}

/// Parses a `packed-refs` file into its header traits and its records by
/// name; `None` for anything unexpected (left to git).
#[allow(clippy::type_complexity)]
fn parse_packed_refs(
    content: &[u8],
) -> Option<(
    Vec<&[u8]>,
    std::collections::BTreeMap<&[u8], PackedRecord<'_>>,
)> {
    let mut traits = Vec::new();
    let mut records = std::collections::BTreeMap::new();
    let mut last: Option<(&[u8], usize)> = None;
    let mut offset = 0;
    for line in content.split_inclusive(|b| *b == b'\n') {
        let start = offset;
        offset += line.len();
        let text = line.strip_suffix(b"\n")?;
        if start == 0 {
            if let Some(rest) = text.strip_prefix(b"# pack-refs with:") {
                traits = rest
                    .split(|b| *b == b' ')
                    .filter(|t| !t.is_empty())
                    .collect();
                continue;
            }
        }
        if let Some(peeled) = text.strip_prefix(b"^") {
            let (name, record_start) = last.take()?;
            ObjectId::from_hex(peeled).ok()?;
            let Some(PackedRecord::Existing { target, .. }) = records.get(name) else {
                return None;
            };
            let target = *target;
            records.insert(
                name,
                PackedRecord::Existing {
                    target,
                    bytes: &content[record_start..offset],
                },
            );
            continue;
        }
        let space = text.iter().position(|b| *b == b' ')?;
        let (target, name) = (&text[..space], &text[space + 1..]);
        ObjectId::from_hex(target).ok()?;
        if name.is_empty()
            || records
                .insert(
                    name,
                    PackedRecord::Existing {
                        target,
                        bytes: &content[start..offset],
                    },
                )
                .is_some()
        {
            return None;
        }
        last = Some((name, start));
    }
    Some((traits, records))
}

/// [`RefStore::update`] through `packed-refs`; `Ok(false)` (and nothing
/// changed) when the updates are not all creations of refs and deletions
/// of packed refs, or git would write or delete a reflog.
///
/// The checks are those of a git transaction: a ref to create must not
/// exist, packed or loose, nor clash with another ref as a directory
/// (`a/b` against `a` or `a/b/c`); a ref to delete must be packed with its
/// `old` value. `packed-refs` is read under its lock, so a concurrent
/// change to it is never lost. (A loose ref of the same name that another
/// process creates between the check and the rename would shadow the packed
/// one, as with git's own writes of `packed-refs`.)
///
/// The new refs' targets must not be annotated tags: the file declares
/// itself fully peeled, and no peeled value is written for them.
fn update_packed_refs(common_dir: &Path, updates: &[RefUpdate]) -> Result<bool, GitError> {
    use std::io::Write as _;
    let fail = |why: String| {
        GitError::Other(format!(
            "cannot update local refs (nothing was changed): {why}"
        ))
    };
    if updates.is_empty() {
        return Ok(true);
    }
    if updates.iter().any(|u| u.old.is_some() == u.new.is_some()) {
        return Ok(false);
    }
    let mut reflogs = Paths::new(common_dir.join("logs"));
    for u in updates {
        if !u.name.starts_with("refs/") || gix::refs::FullName::try_from(u.name.as_str()).is_err() {
            return Err(fail(format!("`{}` is not a valid ref name", u.name)));
        }
        if reflogs.kind(&u.name).map_err(|e| fail(e.to_string()))? != PathKind::Missing {
            return Ok(false);
        }
    }
    let path = common_dir.join("packed-refs");
    let mut lock = gix::lock::File::acquire_to_update_resource(
        &path,
        gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(1)),
        None,
        0,
    )
    .map_err(|e| fail(format!("cannot lock `{}`: {e}", path.display())))?;
    let content = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(fail(format!("cannot read `{}`: {e}", path.display()))),
    };
    let Some((mut traits, mut records)) = parse_packed_refs(&content) else {
        return Ok(false);
    };
    let mut loose = Paths::new(common_dir.to_owned());
    let mut loose_kind = |name: &str| loose.kind(name).map_err(|e| fail(e.to_string()));
    for u in updates.iter().filter(|u| u.new.is_none()) {
        let old = u.old.expect("a deletion has an old value");
        if loose_kind(&u.name)? == PathKind::File {
            return Ok(false);
        }
        match records.remove(u.name.as_bytes()) {
            Some(PackedRecord::Existing { target, .. })
                if target == old.to_hex().to_string().as_bytes() => {}
            _ => return Err(fail(format!("`{}` is not at {old}", u.name))),
        }
    }
    for u in updates {
        let Some(new) = u.new else { continue };
        if records
            .insert(u.name.as_bytes(), PackedRecord::New(new))
            .is_some()
        {
            return Err(fail(format!("`{}` already exists", u.name)));
        }
    }
    for u in updates.iter().filter(|u| u.new.is_some()) {
        let name = u.name.as_str();
        let clash = |other: &str| {
            fail(format!(
                "`{name}` cannot be created next to the existing ref `{other}`"
            ))
        };
        match loose_kind(name)? {
            PathKind::Missing => {}
            PathKind::File => return Err(fail(format!("`{name}` already exists"))),
            PathKind::Dir => {
                if let Some(file) = first_file_below(&common_dir.join(name)) {
                    let other = file.strip_prefix(common_dir).unwrap_or(&file);
                    return Err(clash(&other.to_string_lossy()));
                }
            }
        }
        // An existing ref at a leading part of the name, packed or loose.
        for (i, _) in name.match_indices('/').skip(1) {
            let prefix = &name[..i];
            if records.contains_key(prefix.as_bytes()) || loose_kind(prefix)? == PathKind::File {
                return Err(clash(prefix));
            }
        }
        // A packed ref below the name.
        let below = format!("{name}/");
        if let Some((other, _)) = records
            .range::<[u8], _>((
                std::ops::Bound::Excluded(name.as_bytes()),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .filter(|(other, _)| other.starts_with(below.as_bytes()))
        {
            return Err(clash(&String::from_utf8_lossy(other)));
        }
    }

    let mut out = Vec::with_capacity(content.len() + 100 * updates.len());
    if content.is_empty() {
        traits = vec![b"peeled", b"fully-peeled", b"sorted"];
    } else if !traits.contains(&&b"sorted"[..]) {
        traits.push(b"sorted");
    }
    out.extend_from_slice(b"# pack-refs with:");
    for t in &traits {
        out.push(b' ');
        out.extend_from_slice(t);
    }
    out.extend_from_slice(b" \n");
    for (name, record) in &records {
        match record {
            PackedRecord::Existing { bytes, .. } => out.extend_from_slice(bytes),
            PackedRecord::New(id) => {
                out.extend_from_slice(id.to_hex().to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(name);
                out.push(b'\n');
            }
        }
    }
    lock.write_all(&out).map_err(|e| {
        fail(format!(
            "cannot write `{}`: {e}",
            lock.lock_path().display()
        ))
    })?;
    lock.commit()
        .map_err(|e| fail(format!("cannot write `{}`: {e}", path.display())))?;
    Ok(true)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PathKind {
    Missing,
    Dir,
    File,
}

/// What is at `/`-separated paths below a directory, remembering the
/// directories seen: thousands of refs share a few leading directories, and
/// below a missing one nothing needs looking at.
struct Paths {
    root: PathBuf,
    seen: std::collections::HashMap<String, PathKind>,
}

impl Paths {
    fn new(root: PathBuf) -> Self {
        Paths {
            root,
            seen: std::collections::HashMap::new(),
        }
    }

    fn kind(&mut self, path: &str) -> std::io::Result<PathKind> {
        if let Some(kind) = self.seen.get(path) {
            return Ok(*kind);
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            if self.kind(parent)? != PathKind::Dir {
                self.seen.insert(path.to_owned(), PathKind::Missing);
                return Ok(PathKind::Missing);
            }
        }
        let kind = match std::fs::symlink_metadata(self.root.join(path)) {
            Ok(m) if m.is_dir() => PathKind::Dir,
            Ok(_) => PathKind::File,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PathKind::Missing,
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot read `{}`: {e}", self.root.join(path).display()),
                ))
            }
        };
        self.seen.insert(path.to_owned(), kind);
        Ok(kind)
    }
}

/// A file somewhere below `dir` (a loose ref), if any.
fn first_file_below(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if let Some(found) = first_file_below(&path) {
                    return Some(found);
                }
            }
            Ok(_) => return Some(path),
            Err(_) => {}
        }
    }
    None
}

/// A ref advertised by a remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    pub name: String,
    pub target: ObjectId,
}

/// Why a remote could not be asked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot list refs of `{url}`: {why}")]
#[diagnostic(
    code(atom::remote::unreachable),
    help("check the URL and that the server is up; for a remote name, see `git remote -v`")
)]
pub struct RemoteError {
    pub url: String,
    pub why: String,
}

/// Lists the refs under `prefixes` of the remote at `url`, fetching no
/// objects. Protocol v2 `ls-refs` with `ref-prefix` arguments makes the
/// server send only matching refs; an older server sends all, which are
/// filtered here.
pub fn ls_refs(url: &str, prefixes: &[&str]) -> Result<Vec<RemoteRef>, RemoteError> {
    list(url, prefixes, false)
}

/// [`ls_refs`], keeping the connection open (protocol v2 only) for the
/// next [`fetch_objects`] from the same `url` in this process, which then
/// needs no new connection (nor, on `git://`, `ssh://` and `file://`, a
/// new upload-pack process on the server). For a listing that a fetch is
/// likely to follow, as in resolution.
pub fn ls_refs_for_fetch(url: &str, prefixes: &[&str]) -> Result<Vec<RemoteRef>, RemoteError> {
    list(url, prefixes, true)
}

fn list(url: &str, prefixes: &[&str], keep: bool) -> Result<Vec<RemoteRef>, RemoteError> {
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    let mut session = Session::open(url).map_err(err)?;
    let refs = session.ls_refs(prefixes).map_err(err)?;
    if keep && session.is_v2() {
        session.park(url);
    } else {
        session.end();
    }
    Ok(refs)
}

/// Ends the connections [`ls_refs_for_fetch`] kept that no fetch used.
pub fn end_parked() {
    let parked = match PARKED.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return,
    };
    for (_, session) in parked {
        session.end();
    }
}

/// An upload-pack connection after the handshake.
struct Session {
    transport: Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    handshake: gix::protocol::Handshake,
}

/// Connections kept by [`ls_refs_for_fetch`], by URL.
static PARKED: std::sync::Mutex<Vec<(String, Session)>> = std::sync::Mutex::new(Vec::new());

impl Session {
    fn open(url: &str) -> Result<Self, String> {
        use gix::protocol::{handshake, transport};
        let mut transport = connect(url)?;
        let handshake = handshake(
            &mut transport,
            transport::Service::UploadPack,
            |_| Ok(None),
            Vec::new(),
            &mut gix::progress::Discard,
        )
        .map_err(|e| e.to_string())?;
        Ok(Session {
            transport,
            handshake,
        })
    }

    fn is_v2(&self) -> bool {
        self.handshake.server_protocol_version == gix::protocol::transport::Protocol::V2
    }

    /// A parked connection to `url`, if there is one.
    fn unpark(url: &str) -> Option<Self> {
        let mut parked = PARKED.lock().ok()?;
        let at = parked.iter().position(|(u, _)| u == url)?;
        Some(parked.swap_remove(at).1)
    }

    fn park(self, url: &str) {
        if let Ok(mut parked) = PARKED.lock() {
            parked.push((url.to_owned(), self));
        }
    }

    /// Ends the interaction politely (protocol v2: a flush).
    fn end(mut self) {
        if self.is_v2() {
            gix::protocol::indicate_end_of_interaction(&mut self.transport, false).ok();
        }
    }

    fn ls_refs(&mut self, prefixes: &[&str]) -> Result<Vec<RemoteRef>, String> {
        list_over(&mut self.transport, &self.handshake, prefixes)
    }

    fn fetch(&mut self, repo: &gix::Repository, wants: &[ObjectId]) -> Result<(), String> {
        fetch_over(&mut self.transport, &self.handshake, repo, wants)
    }
}

/// An upload-pack connection to `url`, asking for protocol v2: `git://`
/// through [`connect_git_daemon`], everything else through gix.
fn connect(
    url: &str,
) -> Result<Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>, String> {
    use gix::protocol::transport;
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| e.to_string())?;
    if parsed.scheme == gix::url::Scheme::Git {
        return Ok(Box::new(connect_git_daemon(&parsed)?));
    }
    let ssh = match parsed.scheme {
        gix::url::Scheme::Ssh => ssh_options()?,
        _ => Default::default(),
    };
    transport::client::blocking_io::connect::connect(
        parsed,
        transport::client::blocking_io::connect::Options {
            version: transport::Protocol::V2,
            ssh,
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

type SshOptions = gix::protocol::transport::client::blocking_io::ssh::connect::Options;

/// How to run ssh for `ssh://` URLs, chosen as git chooses: the shell
/// command `GIT_SSH_COMMAND`, else the shell command `core.sshCommand` of
/// git's configuration, else the program `GIT_SSH` (run without a shell),
/// else `ssh`; `GIT_SSH_VARIANT` or `ssh.variant` names the kind of client
/// when its name does not tell. The configuration is the one git reads in
/// the current directory: the repository's (with its worktree's, and the
/// user's and system's below it) inside a repository, the user's and
/// system's elsewhere, with `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_*` overrides
/// either way. Decided once per process.
fn ssh_options() -> Result<SshOptions, String> {
    static CHOSEN: std::sync::OnceLock<Result<SshOptions, String>> = std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| {
            let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
            match gix::discover_with_environment_overrides(&cwd) {
                // gix applies the same order to the repository's
                // configuration, and ignores the sections of a repository
                // that the current user does not own.
                Ok(repo) => repo.ssh_connect_options().map_err(|e| {
                    format!(
                        "cannot read the ssh configuration of `{}`: {e}",
                        repo.git_dir().display()
                    )
                }),
                Err(_) => {
                    let mut config = gix::config::File::from_globals()
                        .map_err(|e| format!("cannot read git's configuration: {e}"))?;
                    let overrides = gix::config::File::from_environment_overrides()
                        .map_err(|e| format!("cannot read GIT_CONFIG_COUNT overrides: {e}"))?;
                    config
                        .append(overrides)
                        .map_err(|e| format!("cannot apply GIT_CONFIG_COUNT overrides: {e}"))?;
                    ssh_options_from(&config, |name| std::env::var_os(name))
                }
            }
        })
        .clone()
}

/// [`ssh_options`] from `config` and the environment variables `env` gives.
fn ssh_options_from(
    config: &gix::config::File,
    env: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Result<SshOptions, String> {
    use gix::config::tree::Ssh;
    let configured = match config.string("core.sshCommand") {
        Some(c) => Some(
            gix::path::from_bstring(c)
                .map_err(|e| format!("core.sshCommand: {e}"))?
                .into_os_string(),
        ),
        None => None,
    };
    let (command, disallow_shell) = match env("GIT_SSH_COMMAND") {
        Some(c) => (Some(c), false),
        None => match configured {
            Some(c) => (Some(c), false),
            None => match env("GIT_SSH") {
                Some(program) => (Some(program), true),
                None => (None, false),
            },
        },
    };
    let variant: Option<BString> = match env("GIT_SSH_VARIANT") {
        Some(v) => Some(gix::path::os_string_into_bstring(v).map_err(|e| e.to_string())?),
        None => config.string("ssh.variant"),
    };
    let kind = match variant {
        Some(v) => Ssh::VARIANT
            .try_into_variant(v.as_bstr())
            .map_err(|e| e.to_string())?,
        None => None,
    };
    Ok(SshOptions {
        command,
        disallow_shell,
        kind,
    })
}

/// Fetches the objects `wants` (and everything they reach) from `url` into
/// `repo`, by object id: one connection, one `fetch` command with a
/// `want` per id and `done` (no `ls-refs`, no negotiation round, no
/// `have`s), writing no ref. The ids are those a listing just gave (ref
/// tips), so any server accepts them; what arrives is checked by content
/// (object ids are hashes) when the pack is indexed. Whether every want
/// arrived is the caller's to check.
pub fn fetch_objects(
    repo: &gix::Repository,
    url: &str,
    wants: &[ObjectId],
) -> Result<(), RemoteError> {
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    if wants.is_empty() {
        return Ok(());
    }
    // A connection a listing left open, if it still works; a new one else.
    if let Some(mut session) = Session::unpark(url) {
        if session.fetch(repo, wants).is_ok() {
            session.end();
            return Ok(());
        }
    }
    let mut session = Session::open(url).map_err(err)?;
    session.fetch(repo, wants).map_err(err)?;
    session.end();
    Ok(())
}

/// One `fetch` of `wants` over a connection after its handshake; the pack
/// is written into `repo`'s object database.
fn fetch_over<T>(
    transport: &mut T,
    outcome: &gix::protocol::Handshake,
    repo: &gix::Repository,
    wants: &[ObjectId],
) -> Result<(), String>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    use gix::protocol::fetch::{Arguments, Response};
    use gix::protocol::{transport, Command};
    let version = outcome.server_protocol_version;
    let mut features = Command::Fetch.default_features(version, &outcome.capabilities);
    features.push((
        "agent",
        Some(gix::protocol::agent(concat!(
            "eka/",
            env!("CARGO_PKG_VERSION")
        ))),
    ));
    let mut args = Arguments::new(version, features, false);
    if version == transport::Protocol::V2 {
        args.add_feature("no-progress");
    }
    for id in wants {
        args.want(id);
    }
    let mut reader = args
        .send(&mut *transport, true)
        .map_err(|e| e.to_string())?;
    let response =
        Response::from_line_reader(version, &mut reader, true, false).map_err(|e| e.to_string())?;
    if !response.has_pack() {
        return Err("the server sent no pack".to_owned());
    }
    // The pack comes on side band 1; band 3 carries the server's errors.
    let server_error = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    reader.set_progress_handler(Some(Box::new({
        let server_error = server_error.clone();
        move |is_error: bool, text: &[u8]| {
            if is_error {
                server_error
                    .borrow_mut()
                    .push_str(text.to_str_lossy().trim());
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        }
    })));
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    let written = gix::odb::pack::Bundle::write_to_directory(
        &mut reader,
        Some(&repo.objects.store_ref().path().join("pack")),
        &mut gix::progress::Discard,
        &interrupt,
        Some(Box::new(repo.objects.clone())),
        repo.object_hash(),
        gix::odb::pack::bundle::write::Options::default(),
    )
    .map_err(|e| match server_error.borrow().as_str() {
        "" => format!("cannot store the received pack: {e}"),
        said => format!("the server said: {said}"),
    })?;
    // Read to the end (the final flush), so that the connection ends
    // cleanly.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| e.to_string())?;
    drop(reader);
    if let Some(keep) = written.keep_path {
        let _ = std::fs::remove_file(keep);
    }
    Ok(())
}

/// Opens a `git://` connection with `TCP_NODELAY`: gix's own connection
/// leaves Nagle's algorithm on, which stalls every small request by 40 ms.
fn connect_git_daemon(
    url: &gix::Url,
) -> Result<
    gix::protocol::transport::client::git::blocking_io::Connection<
        std::net::TcpStream,
        std::net::TcpStream,
    >,
    String,
> {
    use gix::protocol::transport::client::git::{blocking_io::Connection, ConnectMode};
    use std::net::{TcpStream, ToSocketAddrs};
    let host = url
        .host()
        .ok_or_else(|| "the URL has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port;
    let addr = (host, port.unwrap_or(9418))
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` has no address"))?;
    let stream = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let write = stream.try_clone().map_err(|e| e.to_string())?;
    Ok(Connection::new(
        stream,
        write,
        gix::protocol::transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_owned(), port)),
        ConnectMode::Daemon,
        false,
    ))
}

/// `ls-refs` over a connection after its handshake.
fn list_over<T>(
    transport: &mut T,
    outcome: &gix::protocol::Handshake,
    prefixes: &[&str],
) -> Result<Vec<RemoteRef>, String>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    use gix::protocol::{ls_refs::RefPrefixes, LsRefsCommand};
    let refs = match &outcome.refs {
        // Protocol v0/v1: the whole advertisement, filtered below.
        Some(refs) => refs.clone(),
        None => {
            let mut p = RefPrefixes::new();
            p.extend(prefixes.iter().map(|s| BString::from(*s)));
            let refs = LsRefsCommand::new(
                Some(p),
                &outcome.capabilities,
                (
                    "agent",
                    Some(gix::protocol::agent(concat!(
                        "eka/",
                        env!("CARGO_PKG_VERSION")
                    ))),
                ),
            )
            .invoke_blocking(&mut *transport, &mut gix::progress::Discard, false)
            .map_err(|e| e.to_string())?;
            refs
        }
    };
    Ok(refs
        .iter()
        .filter_map(|r| {
            let (name, target, _peeled) = r.unpack();
            let name = name.to_str_lossy();
            let keep = prefixes.iter().any(|p| name.starts_with(p));
            Some(RemoteRef {
                name: name.into_owned(),
                target: target?.to_owned(),
            })
            .filter(|_| keep)
        })
        .collect())
}

/// The URL of a remote given by name (as configured in `repo`) or as a URL
/// or path.
pub fn remote_url(repo: Option<&gix::Repository>, name_or_url: &str) -> Result<String, GitError> {
    if let Some(repo) = repo {
        if let Ok(remote) = repo.find_remote(name_or_url) {
            if let Some(url) = remote
                .url(gix::remote::Direction::Push)
                .or_else(|| remote.url(gix::remote::Direction::Fetch))
            {
                return Ok(url.to_bstring().to_str_lossy().into_owned());
            }
        }
    }
    let looks_like_url = name_or_url.contains("://")
        || name_or_url.contains('/')
        || name_or_url.contains(':')
        || name_or_url.starts_with('.');
    if looks_like_url {
        Ok(name_or_url.to_owned())
    } else {
        Err(GitError::Other(format!(
            "`{name_or_url}` is neither a configured remote nor a URL or path"
        )))
    }
}

/// The outcome of one ref in a `git push --porcelain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub name: String,
    pub ok: bool,
    pub summary: String,
}

/// Why a push did not land.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the push to `{url}` was rejected; no ref was changed there{}", details(.refs, .stderr))]
#[diagnostic(
    code(atom::remote::push_rejected),
    help("nothing was published; fix the cause above and run the command again")
)]
pub struct PushError {
    pub url: String,
    pub refs: Vec<PushedRef>,
    pub stderr: String,
}

fn details(refs: &[PushedRef], stderr: &str) -> String {
    let mut out = String::new();
    for r in refs.iter().filter(|r| !r.ok) {
        out.push_str(&format!("\n  {}: {}", r.name, r.summary));
    }
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        out.push_str("\n  git said: ");
        out.push_str(&stderr.replace('\n', "\n    "));
    }
    out
}

/// Pushes objects of `repo` to refs at `url` (`(ref name, object id)`
/// pairs), atomically: all land or none.
///
/// `git push` matches explicit refspecs in time quadratic in their number
/// (10 s for 3,000 refs here, against 2 s for one wildcard), and staging refs
/// in the user's repository would cost two more ref transactions. So the push
/// runs from a scratch repository that borrows `repo`'s objects (git
/// alternates) and holds exactly the refs to push, in a `packed-refs` file
/// written in one go, and pushes them with one wildcard refspec. No ref is
/// forced: an existing atom ref can never be fast-forwarded (atom commits
/// have no parents) and manifest refs point to blobs, so a version that
/// someone else published in the meantime is refused, and with `--atomic`
/// so is the whole push.
pub fn push_atomic(
    repo: &gix::Repository,
    url: &str,
    refs: &[(String, ObjectId)],
) -> Result<Vec<PushedRef>, PushError> {
    let fail = |stderr: String| PushError {
        url: url.to_owned(),
        refs: Vec::new(),
        stderr,
    };
    let scratch =
        scratch_push_repo(repo, refs).map_err(|e| fail(format!("cannot prepare the push: {e}")))?;
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(scratch.path())
        .args(["push", "--atomic", "--porcelain", "--no-verify", url])
        .arg(format!("{0}*:{0}*", crate::refs::ATOMS_PREFIX))
        .output()
        .map_err(|e| fail(format!("cannot run git: {e}")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let refs: Vec<PushedRef> = stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let flag = parts.next()?;
            let spec = parts.next()?;
            let summary = parts.next().unwrap_or("").to_owned();
            let name = spec.rsplit(':').next()?.to_owned();
            if flag.len() != 1 {
                return None;
            }
            Some(PushedRef {
                name,
                ok: !matches!(flag, "!"),
                summary,
            })
        })
        .collect();
    if output.status.success() && refs.iter().all(|r| r.ok) {
        Ok(refs)
    } else {
        Err(PushError {
            url: url.to_owned(),
            refs,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A bare repository in a temporary directory whose objects are `repo`'s
/// (through `objects/info/alternates`) and whose only refs are `refs`.
fn scratch_push_repo(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("eka-push-").tempdir()?;
    let objects = repo.objects.store_ref().path().canonicalize()?;
    for sub in ["objects/info", "objects/pack", "refs/heads", "refs/tags"] {
        std::fs::create_dir_all(dir.path().join(sub))?;
    }
    std::fs::write(dir.path().join("HEAD"), "ref: refs/heads/main\n")?;
    std::fs::write(
        dir.path().join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
    )?;
    let mut alternates = objects.as_os_str().as_encoded_bytes().to_vec();
    alternates.push(b'\n');
    std::fs::write(dir.path().join("objects/info/alternates"), alternates)?;
    let mut sorted: Vec<&(String, ObjectId)> = refs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut packed = String::from("# pack-refs with: sorted \n");
    for (name, id) in sorted {
        packed.push_str(&format!("{id} {name}\n"));
    }
    std::fs::write(dir.path().join("packed-refs"), packed)?;
    Ok(dir)
}

/// A connection of `remote` for fetching. `ssh://` is reached with the
/// client [`ssh_options`] chooses (the current directory's configuration,
/// as for every other connection eka makes), not the one the configuration
/// of `remote`'s repository (a scratch or cache repository) would choose.
pub fn fetch_connection<'a, 'repo>(
    remote: &'a gix::Remote<'repo>,
) -> Result<
    gix::remote::Connection<
        'a,
        'static,
        'repo,
        Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    >,
    String,
> {
    use gix::remote::Direction;
    let url = remote
        .url(Direction::Fetch)
        .ok_or_else(|| "the remote has no URL".to_owned())?;
    if url.scheme == gix::url::Scheme::Ssh {
        let transport = connect(&url.to_bstring().to_str_lossy())?;
        return Ok(remote.to_connection_with_transport(transport));
    }
    remote.connect(Direction::Fetch).map_err(|e| e.to_string())
}

/// Fetches `refspecs` from `url` into `repo` (gix), fetching what their
/// targets need and nothing else.
pub fn fetch(repo: &gix::Repository, url: &str, refspecs: &[String]) -> Result<(), RemoteError> {
    use gix::remote::Direction;
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    let remote = repo
        .remote_at(url)
        .map_err(|e| err(e.to_string()))?
        .with_refspecs(refspecs.iter().map(|s| s.as_str()), Direction::Fetch)
        .map_err(|e| err(e.to_string()))?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    fetch_connection(&remote)
        .map_err(err)?
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| err(e.to_string()))?
        .receive(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
        .map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AtomCommit, Label};

    /// The ssh client is chosen as git chooses it: `GIT_SSH_COMMAND`, then
    /// `core.sshCommand`, then `GIT_SSH` (a program, no shell), then ssh;
    /// `GIT_SSH_VARIANT` over `ssh.variant`.
    #[test]
    fn ssh_client_order() {
        use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
        let config = |text: &str| text.parse::<gix::config::File>().unwrap();
        let choose = |config: &gix::config::File, vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let o = ssh_options_from(config, |name| {
                vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into())
            })
            .unwrap();
            (
                o.command.map(|c| c.into_string().unwrap()),
                o.disallow_shell,
                o.kind,
            )
        };
        let none = config("");
        let set = config("[core]\n\tsshCommand = ssh -i 'my key'\n[ssh]\n\tvariant = simple\n");
        let all = [
            ("GIT_SSH_COMMAND", "ssh -p 2"),
            ("GIT_SSH", "/usr/bin/my-ssh"),
        ];
        assert_eq!(choose(&none, &[]), (None, false, None));
        assert_eq!(choose(&none, &all), (Some("ssh -p 2".into()), false, None));
        assert_eq!(
            choose(&set, &all),
            (Some("ssh -p 2".into()), false, Some(ProgramKind::Simple))
        );
        assert_eq!(
            choose(&set, &all[1..]),
            (
                Some("ssh -i 'my key'".into()),
                false,
                Some(ProgramKind::Simple)
            )
        );
        assert_eq!(
            choose(&none, &all[1..]),
            (Some("/usr/bin/my-ssh".into()), true, None)
        );
        assert_eq!(
            choose(&set, &[("GIT_SSH_VARIANT", "putty")]).2,
            Some(ProgramKind::Putty)
        );
        assert_eq!(choose(&set, &[("GIT_SSH_VARIANT", "auto")]).2, None);
        let bad = config("[ssh]\n\tvariant = telnet\n");
        assert!(ssh_options_from(&bad, |_| None).is_err());
    }

    /// Runs git in `dir` without the user's configuration; its stdout.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A repository with one commit (`a/x`, `b/y`); its path and the commit.
    fn repo() -> (tempfile::TempDir, ObjectId) {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        for (path, text) in [("a/x", "x\n"), ("b/y", "y\n")] {
            let file = dir.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "init"]);
        let head = git(dir.path(), &["rev-parse", "HEAD"]);
        (dir, ObjectId::from_hex(head.trim().as_bytes()).unwrap())
    }

    fn atom_commits(dir: &Path, source: ObjectId) -> Vec<Vec<u8>> {
        ["a", "b"]
            .iter()
            .map(|path| {
                let tree = git(dir, &["rev-parse", &format!("HEAD:{path}")]);
                AtomCommit {
                    tree: ObjectId::from_hex(tree.trim().as_bytes()).unwrap(),
                    origin: source,
                    label: Label::parse(path).unwrap(),
                    version: semver::Version::new(1, 0, 0),
                }
                .to_bytes()
            })
            .collect()
    }

    fn packs(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(".git/objects/pack"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commits_go_into_one_pack_byte_for_byte() {
        let (dir, source) = repo();
        let commits = atom_commits(dir.path(), source);
        let repo = open(dir.path()).unwrap();
        let before = packs(dir.path());
        let (ids, pack) = write_commits(&repo, &commits).unwrap();
        let new: Vec<String> = packs(dir.path())
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        assert_eq!(new.len(), 3, "a pack, its index and its keep file: {new:?}");
        assert!(new.iter().any(|p| p.ends_with(".keep")));
        drop(pack);
        assert!(!packs(dir.path()).iter().any(|p| p.ends_with(".keep")));

        for (id, bytes) in ids.iter().zip(&commits) {
            let hex = id.to_string();
            let out = Command::new("git")
                .current_dir(dir.path())
                .args(["cat-file", "commit", &hex])
                .output()
                .unwrap();
            assert_eq!(&out.stdout, bytes, "commit {hex}");
            // Packed, not loose.
            let loose = dir
                .path()
                .join(".git/objects")
                .join(&hex[..2])
                .join(&hex[2..]);
            assert!(!loose.exists());
        }
        let listed: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        // Referenced, they pass git's strictest check.
        for (i, id) in listed.iter().enumerate() {
            git(dir.path(), &["update-ref", &format!("refs/atoms/t{i}"), id]);
        }
        let fsck = git(dir.path(), &["fsck", "--strict", "--no-dangling"]);
        assert!(fsck.trim().is_empty(), "{fsck}");

        // Writing the same commits again writes nothing.
        let repo = open(dir.path()).unwrap();
        let count = packs(dir.path()).len();
        let (again, _pack) = write_commits(&repo, &commits).unwrap();
        assert_eq!(again, ids);
        assert_eq!(packs(dir.path()).len(), count);
    }

    fn update(dir: &Path, updates: &[RefUpdate]) -> Result<(), GitError> {
        RefStore::of(&open(dir).unwrap()).update(updates, "test")
    }

    fn create(name: &str, id: ObjectId) -> RefUpdate {
        RefUpdate {
            name: name.into(),
            old: None,
            new: Some(id),
        }
    }

    fn refs(dir: &Path) -> String {
        git(dir, &["for-each-ref", "--format=%(objectname) %(refname)"])
    }

    #[test]
    fn new_refs_go_into_packed_refs() {
        let (dir, head) = repo();
        let d = dir.path();
        git(d, &["tag", "-a", "-m", "t", "v1"]);
        git(d, &["pack-refs", "--all"]);
        git(d, &["branch", "loose"]);
        let packed_before = std::fs::read_to_string(d.join(".git/packed-refs")).unwrap();
        let blob = git(d, &["rev-parse", "HEAD:a/x"]);
        let blob = ObjectId::from_hex(blob.trim().as_bytes()).unwrap();
        let updates = [
            create("refs/atoms/z/1.0.0", head),
            create("refs/atoms/_manifest/z/1.0.0", blob),
            create("refs/atoms/a/1.0.0", head),
            create("refs/atoms/_root", head),
        ];
        update(d, &updates).unwrap();
        // No loose ref was written.
        assert!(!d.join(".git/refs/atoms").exists());
        let packed = std::fs::read_to_string(d.join(".git/packed-refs")).unwrap();
        assert!(packed.starts_with("# pack-refs with: peeled fully-peeled sorted \n"));
        let names: Vec<&str> = packed
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('^'))
            .map(|l| l.split(' ').nth(1).unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{packed}");
        // The tag keeps its peeled line.
        for line in packed_before.lines().skip(1) {
            assert!(
                packed.contains(&format!("{line}\n")),
                "{line} lost:\n{packed}"
            );
        }
        let listed = refs(d);
        for u in &updates {
            assert!(
                listed.contains(&format!("{} {}\n", u.new.unwrap(), u.name)),
                "{listed}"
            );
        }
        assert!(listed.contains(" refs/heads/loose\n"));
        let fsck = git(d, &["fsck", "--strict", "--no-dangling"]);
        assert!(fsck.trim().is_empty(), "{fsck}");

        // Taking them back (a failed push) leaves what was there.
        let undo: Vec<RefUpdate> = updates
            .iter()
            .map(|u| RefUpdate {
                name: u.name.clone(),
                old: u.new,
                new: None,
            })
            .collect();
        update(d, &undo).unwrap();
        assert!(!refs(d).contains("refs/atoms/"));
        let packed = std::fs::read_to_string(d.join(".git/packed-refs")).unwrap();
        assert_eq!(packed, packed_before);
    }

    #[test]
    fn conflicts_change_nothing() {
        let (dir, head) = repo();
        let d = dir.path();
        let other =
            ObjectId::from_hex(git(d, &["rev-parse", "HEAD^{tree}"]).trim().as_bytes()).unwrap();
        update(d, &[create("refs/atoms/packed/1", head)]).unwrap();
        git(d, &["update-ref", "refs/atoms/loose/1", &head.to_string()]);
        git(d, &["update-ref", "refs/atoms/file", &head.to_string()]);
        let before = refs(d);
        let packed_before = std::fs::read(d.join(".git/packed-refs")).unwrap();
        let cases: &[(&[RefUpdate], &str)] = &[
            (&[create("refs/atoms/packed/1", head)], "already exists"),
            (&[create("refs/atoms/loose/1", head)], "already exists"),
            (&[create("refs/atoms/file/1", head)], "`refs/atoms/file`"),
            (
                &[create("refs/atoms/packed", head)],
                "`refs/atoms/packed/1`",
            ),
            (&[create("refs/atoms/loose", head)], "refs/atoms/loose/1"),
            (
                &[
                    create("refs/atoms/n/1", head),
                    create("refs/atoms/n/1/2", head),
                ],
                "`refs/atoms/n/1`",
            ),
            (
                &[
                    create("refs/atoms/fine/1", head),
                    RefUpdate {
                        name: "refs/atoms/packed/1".into(),
                        old: Some(other),
                        new: None,
                    },
                ],
                "is not at",
            ),
            (
                &[create("refs/atoms/bad name", head)],
                "not a valid ref name",
            ),
        ];
        for (updates, message) in cases {
            let err = update(d, updates).unwrap_err().to_string();
            assert!(err.contains(message), "{updates:?}: {err}");
            assert!(err.contains("nothing was changed"), "{err}");
            assert_eq!(refs(d), before, "{updates:?}");
            assert_eq!(
                std::fs::read(d.join(".git/packed-refs")).unwrap(),
                packed_before
            );
            assert!(!d.join(".git/packed-refs.lock").exists());
        }
    }

    #[test]
    fn a_held_lock_is_respected() {
        let (dir, head) = repo();
        let d = dir.path();
        std::fs::write(d.join(".git/packed-refs.lock"), "").unwrap();
        let err = update(d, &[create("refs/atoms/a/1", head)]).unwrap_err();
        assert!(err.to_string().contains("cannot lock"), "{err}");
        assert!(!refs(d).contains("refs/atoms/"));
        assert!(d.join(".git/packed-refs.lock").exists());
    }

    /// Where writing `packed-refs` would skip something git does, git does it.
    #[test]
    fn git_writes_what_packed_refs_cannot() {
        let (dir, head) = repo();
        let d = dir.path();
        // A reference-transaction hook must run.
        let hook = d.join(".git/hooks/reference-transaction");
        std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
        let log = d.join("hook.log");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\necho \"$1\" >> '{}'\n", log.display()),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        update(d, &[create("refs/atoms/a/1", head)]).unwrap();
        let log = std::fs::read_to_string(log).unwrap();
        assert!(log.contains("committed"), "{log}");
        std::fs::remove_file(&hook).unwrap();

        // Reflogs for every ref.
        git(d, &["config", "core.logAllRefUpdates", "always"]);
        update(d, &[create("refs/atoms/b/1", head)]).unwrap();
        assert!(d.join(".git/logs/refs/atoms/b/1").exists());
        git(d, &["config", "--unset", "core.logAllRefUpdates"]);

        // Moving a ref.
        let tree =
            ObjectId::from_hex(git(d, &["rev-parse", "HEAD^{tree}"]).trim().as_bytes()).unwrap();
        update(
            d,
            &[RefUpdate {
                name: "refs/atoms/c".into(),
                old: None,
                new: Some(tree),
            }],
        )
        .unwrap();
        update(
            d,
            &[RefUpdate {
                name: "refs/atoms/c".into(),
                old: Some(tree),
                new: Some(head),
            }],
        )
        .unwrap();
        assert!(refs(d).contains(&format!("{head} refs/atoms/c\n")));
    }
}
