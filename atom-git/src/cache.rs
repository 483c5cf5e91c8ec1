//! The local cache of fetched atoms: one bare git repository per user,
//! shared by every project (`$XDG_CACHE_HOME/eka/git`, or
//! `~/.cache/eka/git`).
//!
//! It holds atom commits with their trees, and manifest blobs, never source
//! history: fetches name atom and manifest refs only, and atom commits have
//! no parents. Every atom that passed its checks is kept alive by a ref
//! `refs/cache/<atom id>/<version>`.
//!
//! It also keeps the yank tags `eka versions` and `eka list` read, so that
//! `--offline` can say why a version was yanked: each under
//! `refs/yanks/<tag id>`, to a blob holding the tag's bytes (whose hash as
//! a tag is that id). Not the tag object itself: its commit is usually not
//! in the cache (only the tags are fetched), and a ref to a tag whose
//! target is missing makes `git gc` (hence `eka cache gc`) fail.
//!
//! Concurrency: a process holds `$XDG_CACHE_HOME/eka/lock` (an advisory
//! file lock) for as long as it uses the cache, exclusively to write and
//! shared to read, so two `eka` processes never write the repository at the
//! same time, and the repository is created under the lock too.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use atom_format::commit::{AtomCommit, AtomCommitError};
use atom_format::digest::{DigestError, Digester};
use atom_format::{AtomId, ContentDigest, Label};
use gix::ObjectId;
use semver::Version;

use crate::refs::{local_ref, update_refs, RefUpdate};
use crate::transport::{Connections, RemoteError};
use crate::tree::read_object;
use crate::{BoxError, GitError};

/// A commit id.
type CommitId = ObjectId;

/// The cache folder's name under the user's cache directory.
const CACHE_SUBDIR: &str = "eka";

/// Where the refs of kept yank tags live (see the module docs).
pub const YANK_TAGS_PREFIX: &str = "refs/yanks/";

/// How a process uses the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only (a shared lock); the repository must exist.
    Read,
    /// Read and write (an exclusive lock); the repository is created if
    /// needed.
    Write,
}

/// The cache repository, locked for this process.
pub struct Cache {
    dir: PathBuf,
    repo: gix::ThreadSafeRepository,
    /// Handles on `repo` for object lookups, taken and given back by
    /// [`Cache::with_handle`]: opening one costs as much as a few object
    /// reads (its own object and pack caches, a zlib state), and a lock
    /// looks objects up a few hundred times, from several threads.
    handles: Mutex<Vec<gix::Repository>>,
    _lock: File,
}

/// What is wrong with the cache.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CacheError {
    #[error("no cache directory: neither XDG_CACHE_HOME nor HOME is an absolute path")]
    #[diagnostic(code(eka::cache::no_dir), help("set XDG_CACHE_HOME or HOME"))]
    NoDirectory,
    #[error("cannot use the cache at {}", dir.display())]
    #[diagnostic(code(eka::cache::io))]
    Io {
        dir: PathBuf,
        #[source]
        source: BoxError,
    },
    #[error("the cache at {} is empty", dir.display())]
    #[diagnostic(code(eka::cache::empty))]
    Empty { dir: PathBuf },
    #[error("the bytes given for the yank tag {id} are not that tag")]
    #[diagnostic(code(eka::cache::not_the_tag))]
    NotTheTag { id: ObjectId },
}

/// Why a cached atom does not match what was expected of it.
#[derive(Debug, thiserror::Error)]
pub enum AtomCheckError {
    #[error("commit {0} is not in the cache")]
    Missing(CommitId),
    #[error("{0} is a {1}, not an atom commit")]
    NotACommit(CommitId, gix::object::Kind),
    #[error("{0} is not an atom commit")]
    NotAnAtomCommit(CommitId, #[source] AtomCommitError),
    #[error("commit {commit} publishes `{found}`, not `{expected}`")]
    WrongAtom {
        commit: CommitId,
        expected: String,
        found: String,
    },
    #[error("commit {commit} was published from origin {found}, but {expected} was expected")]
    Origin {
        commit: CommitId,
        expected: CommitId,
        found: CommitId,
    },
    #[error("the tree of {commit} is unusable")]
    Tree {
        commit: CommitId,
        #[source]
        source: DigestError,
    },
    #[error("content digest of {commit} is {found}, but {expected} was expected")]
    Digest {
        commit: CommitId,
        expected: ContentDigest,
        found: ContentDigest,
    },
}

/// What a cached atom must be.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    pub label: &'a Label,
    pub version: &'a Version,
    pub commit: CommitId,
    /// `None`: not known yet (taken from the commit, and returned).
    pub origin: Option<CommitId>,
    /// `None`: not known yet (computed, and returned).
    pub digest: Option<ContentDigest>,
}

/// What checking a cached atom found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub origin: CommitId,
    pub digest: ContentDigest,
}

/// `$XDG_CACHE_HOME/eka`, or `$HOME/.cache/eka` when `XDG_CACHE_HOME` is
/// unset, empty or relative.
pub fn default_dir() -> Result<PathBuf, CacheError> {
    let xdg = std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from);
    let base = match xdg.filter(|p| p.is_absolute()) {
        Some(x) => x,
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .ok_or(CacheError::NoDirectory)?
            .join(".cache"),
    };
    Ok(base.join(CACHE_SUBDIR))
}

/// A lock taken (`true`), or held by another process (`false`).
fn busy_is_false(tried: Result<(), std::fs::TryLockError>) -> std::io::Result<bool> {
    match tried {
        Ok(()) => Ok(true),
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

impl Cache {
    /// Opens (with [`Access::Write`], creating) the cache in `dir`, and
    /// locks it for this process; blocks while another process holds a
    /// conflicting lock.
    pub fn open(dir: &Path, access: Access) -> Result<Self, CacheError> {
        Self::open_locking(dir, access, true).map(|c| c.expect("a waiting open ends open"))
    }

    /// [`Cache::open`] without waiting: `None` while another process holds
    /// a conflicting lock (for what may be skipped, such as keeping a
    /// listing).
    pub fn try_open(dir: &Path, access: Access) -> Result<Option<Self>, CacheError> {
        Self::open_locking(dir, access, false)
    }

    fn open_locking(dir: &Path, access: Access, wait: bool) -> Result<Option<Self>, CacheError> {
        let io = |source: BoxError| CacheError::Io {
            dir: dir.to_owned(),
            source,
        };
        let repo_dir = dir.join("git");
        if access == Access::Read && !repo_dir.exists() {
            return Err(CacheError::Empty {
                dir: dir.to_owned(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| io(e.into()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("lock"))
            .map_err(|e| io(e.into()))?;
        let locked = match (access, wait) {
            (Access::Read, true) => lock.lock_shared().map(|()| true),
            (Access::Write, true) => lock.lock().map(|()| true),
            (Access::Read, false) => busy_is_false(lock.try_lock_shared()),
            (Access::Write, false) => busy_is_false(lock.try_lock()),
        }
        .map_err(|e| io(e.into()))?;
        if !locked {
            return Ok(None);
        }
        // Under the lock: no other process is creating it at the same time.
        let repo = if repo_dir.join("HEAD").exists() {
            gix::open(&repo_dir).map_err(|e| io(e.into()))?
        } else if access == Access::Read {
            return Err(CacheError::Empty {
                dir: dir.to_owned(),
            });
        } else {
            // Leftovers of processes killed while creating it.
            for entry in std::fs::read_dir(dir).map_err(|e| io(e.into()))?.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".git-new.") {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
            // A leftover of a process killed while creating it.
            if repo_dir.exists() {
                std::fs::remove_dir_all(&repo_dir).map_err(|e| io(e.into()))?;
            }
            let tmp = tempfile::Builder::new()
                .prefix(".git-new.")
                .tempdir_in(dir)
                .map_err(|e| io(e.into()))?;
            gix::init_bare(tmp.path()).map_err(|e| io(e.into()))?;
            let tmp = tmp.keep();
            std::fs::rename(&tmp, &repo_dir).map_err(|e| io(e.into()))?;
            gix::open(&repo_dir).map_err(|e| io(e.into()))?
        };
        Ok(Some(Cache {
            dir: dir.to_owned(),
            repo: repo.into_sync(),
            handles: Mutex::new(Vec::new()),
            _lock: lock,
        }))
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A handle on the repository for this thread.
    pub fn repo(&self) -> gix::Repository {
        self.repo.to_thread_local()
    }

    /// Runs `f` with a handle on the repository for object lookups: one
    /// given back by an earlier call if there is one, else a new one.
    ///
    /// A handle given back sees what was written since: the object store
    /// looks for new packs and loose objects whenever an object is not in
    /// those it knows, and objects never change under their id.
    pub fn with_handle<R>(&self, f: impl FnOnce(&gix::Repository) -> R) -> R {
        let pooled = self
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let repo = pooled.unwrap_or_else(|| self.repo());
        let out = f(&repo);
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(repo);
        out
    }

    /// Whether the object `id` is in the cache.
    pub fn has(&self, id: &ObjectId) -> bool {
        self.with_handle(|repo| repo.has_object(id))
    }

    /// A blob's bytes, if the cache has it.
    pub fn blob(&self, id: ObjectId) -> Option<Vec<u8>> {
        match self.with_handle(|repo| read_object(repo, id)) {
            Ok(Some((gix::object::Kind::Blob, data))) => Some(data),
            _ => None,
        }
    }

    /// Fetches the objects `ids` (and what they reach) from `url` by id, in
    /// one request ([`Connections::fetch_objects`]), writing no ref: the
    /// caller checks what arrived and pins it with [`Cache::pin`].
    pub fn fetch(
        &self,
        connections: &Connections,
        url: &str,
        ids: &[ObjectId],
    ) -> Result<(), RemoteError> {
        connections.fetch_objects(&self.repo(), url, ids)
    }

    /// Checks that the cache holds the atom commit `expect.commit`, that it
    /// is a well-formed atom commit of that label, version (and origin),
    /// and that its tree is complete and safe with the expected digest.
    pub fn check_atom(&self, expect: &Expected<'_>) -> Result<Checked, AtomCheckError> {
        self.with_handle(|repo| check_atom_in(repo, expect))
    }
    /// Keeps checked atoms alive: `refs/cache/<atom id>/<version>` → commit.
    pub fn pin(&self, atoms: &[(AtomId, Version, CommitId)]) -> Result<(), CacheError> {
        let repo = self.repo();
        let mut updates = Vec::new();
        for (id, version, commit) in atoms {
            let name = pin_ref(id, version);
            let old = local_ref(&repo, &name).map_err(|e| self.err(e))?;
            if old == Some(*commit) {
                continue;
            }
            updates.push(RefUpdate {
                name,
                old,
                new: Some(*commit),
            });
        }
        update_refs(&repo, &updates, "eka: cache atoms").map_err(|e| self.err(e))
    }

    /// The bytes of the yank tag `id`, if the cache keeps it (under
    /// [`yank_tag_ref`]) or holds the tag object itself (as resolution's
    /// fetch of yank tags leaves it); a kept copy that does not hash to
    /// `id` is none.
    pub fn yank_tag(&self, id: ObjectId) -> Option<Vec<u8>> {
        self.with_handle(|repo| {
            let kept = local_ref(repo, &yank_tag_ref(&id))
                .ok()
                .flatten()
                .and_then(|blob| match read_object(repo, blob) {
                    Ok(Some((gix::object::Kind::Blob, bytes))) => Some(bytes),
                    _ => None,
                })
                .filter(|bytes| is_tag(id, bytes));
            kept.or_else(|| match read_object(repo, id) {
                Ok(Some((gix::object::Kind::Tag, bytes))) => Some(bytes),
                _ => None,
            })
        })
    }

    /// Keeps yank tags, each `(tag id, its bytes)`: writes the bytes as a
    /// blob and points `refs/yanks/<tag id>` at it, all refs in one
    /// transaction. Tags already kept are left as they are; bytes that
    /// are not the tag `id` are refused (nothing is kept).
    pub fn keep_yank_tags(&self, tags: &[(ObjectId, &[u8])]) -> Result<(), CacheError> {
        let repo = self.repo();
        let mut updates = Vec::new();
        for (id, bytes) in tags {
            if !is_tag(*id, bytes) {
                return Err(CacheError::NotTheTag { id: *id });
            }
            let name = yank_tag_ref(id);
            if local_ref(&repo, &name).map_err(|e| self.err(e))?.is_some() {
                continue;
            }
            let blob = repo.write_blob(bytes).map_err(|e| CacheError::Io {
                dir: self.dir.clone(),
                source: e.into(),
            })?;
            updates.push(RefUpdate {
                name,
                old: None,
                new: Some(blob.detach()),
            });
        }
        update_refs(&repo, &updates, "eka: keep yank tags").map_err(|e| self.err(e))
    }

    /// The yank tags the cache keeps: each tag id, with the blob its ref
    /// points at (refs under [`YANK_TAGS_PREFIX`] not named by an id are
    /// left out).
    pub fn kept_yank_tags(&self) -> Result<Vec<(ObjectId, ObjectId)>, CacheError> {
        let refs =
            crate::refs::local_refs(&self.repo(), YANK_TAGS_PREFIX).map_err(|e| self.err(e))?;
        Ok(refs
            .into_iter()
            .filter_map(|(name, blob)| {
                let id = name.strip_prefix(YANK_TAGS_PREFIX)?;
                Some((ObjectId::from_hex(id.as_bytes()).ok()?, blob))
            })
            .collect())
    }

    fn err(&self, e: GitError) -> CacheError {
        CacheError::Io {
            dir: self.dir.clone(),
            source: Box::new(e),
        }
    }
}

/// [`Cache::check_atom`] with a handle on the cache.
fn check_atom_in(repo: &gix::Repository, expect: &Expected<'_>) -> Result<Checked, AtomCheckError> {
    let commit = expect.commit;
    let (kind, bytes) = read_object(repo, commit)
        .ok()
        .flatten()
        .ok_or(AtomCheckError::Missing(commit))?;
    if kind != gix::object::Kind::Commit {
        return Err(AtomCheckError::NotACommit(commit, kind));
    }
    let parsed =
        AtomCommit::parse(&bytes).map_err(|e| AtomCheckError::NotAnAtomCommit(commit, e))?;
    if &parsed.label != expect.label || &parsed.version != expect.version {
        return Err(AtomCheckError::WrongAtom {
            commit,
            expected: format!("{}@{}", expect.label, expect.version),
            found: format!("{}@{}", parsed.label, parsed.version),
        });
    }
    if let Some(origin) = expect.origin {
        if origin != parsed.origin {
            return Err(AtomCheckError::Origin {
                commit,
                expected: origin,
                found: parsed.origin,
            });
        }
    }
    let digest = Digester::new(&repo.objects)
        .atom_digest(parsed.tree)
        .map_err(|source| AtomCheckError::Tree { commit, source })?;
    if let Some(expected) = expect.digest {
        if expected != digest {
            return Err(AtomCheckError::Digest {
                commit,
                expected,
                found: digest,
            });
        }
    }
    Ok(Checked {
        origin: parsed.origin,
        digest,
    })
}

/// The ref that keeps the yank tag `tag` (see the module docs).
pub fn yank_tag_ref(tag: &ObjectId) -> String {
    format!("{YANK_TAGS_PREFIX}{tag}")
}

/// Whether `bytes` are the tag object `id`.
fn is_tag(id: ObjectId, bytes: &[u8]) -> bool {
    gix::objs::compute_hash(id.kind(), gix::objs::Kind::Tag, bytes).is_ok_and(|h| h == id)
}

/// The ref that keeps a cached atom alive.
pub fn pin_ref(id: &AtomId, version: &Version) -> String {
    format!("refs/cache/{id}/{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `try_open` does not wait: busy while another holder's lock
    /// conflicts, open once it is gone (flock locks conflict between open
    /// files of one process too).
    #[test]
    fn try_open_does_not_wait_for_a_conflicting_lock() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Cache::open(dir.path(), Access::Write).unwrap();
        assert!(Cache::try_open(dir.path(), Access::Write)
            .unwrap()
            .is_none());
        assert!(Cache::try_open(dir.path(), Access::Read).unwrap().is_none());
        drop(writer);
        let reader = open_soon(dir.path(), Access::Read);
        assert!(Cache::try_open(dir.path(), Access::Read).unwrap().is_some());
        assert!(Cache::try_open(dir.path(), Access::Write)
            .unwrap()
            .is_none());
        drop(reader);
        open_soon(dir.path(), Access::Write);
    }

    /// [`Cache::try_open`] of a lock just released, retried for a while: a
    /// process another test forks holds every open file of this one until
    /// it runs its program (or exits), its locks with them.
    fn open_soon(dir: &Path, access: Access) -> Cache {
        for _ in 0..200 {
            if let Some(cache) = Cache::try_open(dir, access).unwrap() {
                return cache;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the cache at {} stays locked", dir.display());
    }

    /// A handle given back to the pool sees the objects written after it
    /// was opened, loose or in a new pack, and only those.
    #[test]
    fn a_pooled_handle_sees_objects_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Access::Write).unwrap();
        let git_dir = dir.path().join("git");
        let hash = |data: &str| {
            let id = std::process::Command::new("git")
                .arg("--git-dir")
                .arg(&git_dir)
                .args(["hash-object", "--stdin"])
                .stdin_bytes(data)
                .trim()
                .to_owned();
            ObjectId::from_hex(id.as_bytes()).unwrap()
        };
        let (loose, packed) = (hash("loose\n"), hash("packed\n"));
        assert!(!cache.has(&loose) && !cache.has(&packed));
        assert_eq!(cache.handles.lock().unwrap().len(), 1);

        // Loose, as git writes it.
        std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&git_dir)
            .args(["hash-object", "-w", "--stdin"])
            .stdin_bytes("loose\n");
        assert!(cache.has(&loose));
        assert_eq!(cache.blob(loose).as_deref(), Some(&b"loose\n"[..]));
        assert!(!cache.has(&packed));

        // In a pack made elsewhere and moved in, as a fetch writes one.
        let other = tempfile::tempdir().unwrap();
        crate::test_support::git(other.path(), &["init", "-q", "--bare"]);
        let written = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(other.path())
            .args(["hash-object", "-w", "--stdin"])
            .stdin_bytes("packed\n");
        assert_eq!(written.trim(), packed.to_string());
        let pack = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(other.path())
            .args(["pack-objects", "-q"])
            .arg(git_dir.join("objects/pack/pack"))
            .stdin_bytes(&format!("{packed}\n"));
        assert_eq!(pack.trim().len(), 40, "{pack}");
        assert!(cache.has(&packed));
        assert_eq!(cache.blob(packed).as_deref(), Some(&b"packed\n"[..]));
        assert_eq!(cache.handles.lock().unwrap().len(), 1);
    }

    /// A yank tag is kept as a blob of its bytes under `refs/yanks/<id>`
    /// (a ref `git gc` accepts though the tag's commit is absent), read
    /// back by its id, listed, and refused when the bytes are not the tag.
    #[test]
    fn yank_tags_are_kept_as_blobs_under_their_id() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path(), Access::Write).unwrap();
        let git_dir = dir.path().join("git");
        // A tag of a commit the cache does not hold.
        let bytes = "object 0123456789012345678901234567890123456789\ntype commit\n\
                     tag eka-yank/a/1.0.0\ntagger T <t@e> 0 +0000\n\nbroken\n";
        let id = gix::objs::compute_hash(
            gix::hash::Kind::Sha1,
            gix::objs::Kind::Tag,
            bytes.as_bytes(),
        )
        .unwrap();
        assert_eq!(cache.yank_tag(id), None);
        cache.keep_yank_tags(&[(id, bytes.as_bytes())]).unwrap();
        assert_eq!(cache.yank_tag(id).as_deref(), Some(bytes.as_bytes()));
        let kept = cache.kept_yank_tags().unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].0, id);
        assert_eq!(cache.blob(kept[0].1).as_deref(), Some(bytes.as_bytes()));
        // Again: nothing changes.
        cache.keep_yank_tags(&[(id, bytes.as_bytes())]).unwrap();
        assert_eq!(cache.kept_yank_tags().unwrap(), kept);
        // Bytes that are not the tag are refused.
        let other = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
        assert!(matches!(
            cache.keep_yank_tags(&[(other, bytes.as_bytes())]),
            Err(CacheError::NotTheTag { .. })
        ));
        assert_eq!(cache.yank_tag(other), None);
        // git collects the cache with the ref in place, and keeps the tag.
        let gc = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&git_dir)
            .args(["gc", "--prune=now", "--quiet"])
            .status()
            .unwrap();
        assert!(gc.success());
        assert_eq!(cache.yank_tag(id).as_deref(), Some(bytes.as_bytes()));
    }

    trait StdinBytes {
        /// Runs the command with `input` on its stdin; its stdout.
        fn stdin_bytes(&mut self, input: &str) -> String;
    }

    impl StdinBytes for std::process::Command {
        fn stdin_bytes(&mut self, input: &str) -> String {
            use std::io::Write as _;
            let mut child = self
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{self:?}");
            String::from_utf8(out.stdout).unwrap()
        }
    }
}
