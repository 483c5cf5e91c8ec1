//! The user's cache, shown ([`info`]) and collected ([`gc`]).
//!
//! The cache (`$XDG_CACHE_HOME/eka`, see [`atom_git::cache`]) holds:
//! - `git/`: a bare repository of fetched atom commits with their trees,
//!   and the manifests resolution read; each atom that passed its checks
//!   is kept alive by a ref `refs/cache/<atom id>/<version>`;
//! - `parsed/`: packs of parsed and bound Nix files, one per evaluated atom
//!   ([`atom_modules::packs`]), named by the atom's git tree or directory;
//! - `listings/`: remotes' ref listings kept for `--offline` queries
//!   ([`atom_lock::registry::listings`]), and in `git/` the yank tags those
//!   queries read, each kept by a ref `refs/yanks/<tag id>` (to a blob of
//!   the tag's bytes), so that `--offline` shows why a version was yanked.
//!
//! [`gc`] keeps what the locks (`atom.lock`) under the given directories
//! use, and removes the rest: the refs of atoms no lock pins and of yank
//! tags no kept listing names, then every object no remaining ref reaches
//! (`git gc --prune=now`), then the packs of atoms that neither a lock
//! pins nor lie under those directories, then the listings of remotes
//! that no lock names as a mirror. A yank tag follows its listing: the
//! tags a kept listing names stay, so that listing still answers with
//! the reasons offline.
//!
//! Concurrency. The repository is collected under the cache's exclusive
//! lock ([`Access::Write`]), the lock every eka takes for as long as it
//! uses the repository: no other eka reads or writes it meanwhile, and one
//! that starts waits. The parse packs are not under that lock, and need
//! not be: a pack is read whole or not at all and written whole beside it
//! then renamed into place, so removing one while another eka runs can
//! only make that eka parse the atom again (a pack is an optimisation).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use atom_format::commit::AtomCommit;
use atom_format::refs::ATOMS_PREFIX;
use atom_git::cache;
use atom_git::{Access, Cache, CacheError, GitError, RefUpdate, RemoteRef};
use atom_lock::lock::{AnyLock, LockError, LOCK_FILE};
use atom_lock::registry::listings::{self, KeptFile};
use atom_modules::packs;
use atom_modules::Identity;
use gix::ObjectId;

use crate::eval::PARSED_SUBDIR;

/// An atom the cache keeps: a ref `refs/cache/<atom id>/<version>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct CachedAtom {
    /// The label, read from the atom commit (none: the commit is missing
    /// or is no atom commit).
    pub label: Option<String>,
    pub version: String,
    pub id: String,
    pub commit: String,
}

/// What the cache holds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CacheInfo {
    pub dir: PathBuf,
    /// Bytes of every file under `dir`.
    pub bytes: u64,
    /// Bytes of the repository of fetched atoms.
    pub git_bytes: u64,
    pub atoms: Vec<CachedAtom>,
    /// How many yank tags are kept for `--offline` queries.
    pub yank_tags: usize,
    /// Bytes and number of parse packs.
    pub packs_bytes: u64,
    pub packs: usize,
}

/// What [`gc`] is asked to do.
#[derive(Clone, Debug)]
pub struct GcRequest {
    /// The directories whose locks (`atom.lock`, searched below) say what
    /// to keep.
    pub dirs: Vec<PathBuf>,
    /// List what would be removed; remove nothing.
    pub dry_run: bool,
}

/// A parse pack removed (or that would be).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemovedPack {
    pub path: PathBuf,
    pub bytes: u64,
}

/// What [`gc`] did (or, with `dry_run`, would do).
#[derive(Clone, Debug, serde::Serialize)]
pub struct GcReport {
    pub dir: PathBuf,
    pub dry_run: bool,
    /// The locks read.
    pub locks: Vec<PathBuf>,
    pub kept: Vec<CachedAtom>,
    pub removed: Vec<CachedAtom>,
    pub packs_kept: usize,
    pub packs_removed: Vec<RemovedPack>,
    pub listings_kept: usize,
    pub listings_removed: Vec<KeptFile>,
    /// Yank tags kept (a kept listing names them) and removed.
    pub yank_tags_kept: usize,
    pub yank_tags_removed: usize,
    /// Bytes of the cache before.
    pub bytes_before: u64,
    /// Bytes freed: measured after removing; with `dry_run`, the disk size
    /// of the objects and packs that would go (git may repack what stays,
    /// so the real figure differs a little).
    pub bytes_freed: u64,
}

/// Why the cache could not be shown or collected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CacheOpsError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot read the cache's repository")]
    #[diagnostic(code(eka::cache::git))]
    Git(#[from] GitError),
    #[error("`{}` is not a directory", .0.display())]
    #[diagnostic(code(eka::cache::gc_dir))]
    NotADirectory(PathBuf),
    #[error("cannot search `{}` for locks", path.display())]
    #[diagnostic(code(eka::cache::walk))]
    Walk {
        path: PathBuf,
        #[source]
        source: walkdir::Error,
    },
    #[error("cannot read the lock `{}`; nothing was removed", path.display())]
    #[diagnostic(code(eka::cache::gc_lock))]
    Lock {
        path: PathBuf,
        #[source]
        source: LockError,
    },
    #[error("`git {command}` failed in the cache: {stderr}")]
    #[diagnostic(code(eka::cache::git_gc))]
    GitGc { command: String, stderr: String },
    #[error("cannot run git")]
    #[diagnostic(code(eka::cache::spawn))]
    Spawn(#[source] std::io::Error),
    #[error("cannot remove `{}`", path.display())]
    #[diagnostic(code(eka::cache::remove))]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the user's cache holds (under its shared lock: nothing changes
/// while it is read).
pub fn info() -> Result<CacheInfo, CacheOpsError> {
    let dir = cache::default_dir()?;
    let (packs, packs_bytes) = list_packs(&dir)
        .iter()
        .fold((0, 0), |(n, b), p| (n + 1, b + p.bytes));
    let (atoms, yank_tags) = match Cache::open(&dir, Access::Read) {
        Ok(c) => (cached_atoms(&c)?, c.kept_yank_tags()?.len()),
        Err(CacheError::Empty { .. }) => (Vec::new(), 0),
        Err(e) => return Err(e.into()),
    };
    Ok(CacheInfo {
        bytes: dir_bytes(&dir),
        git_bytes: dir_bytes(&dir.join("git")),
        dir,
        atoms,
        yank_tags,
        packs_bytes,
        packs,
    })
}

/// Removes from the user's cache what no lock under `request.dirs` uses;
/// see the module docs.
pub fn gc(request: &GcRequest) -> Result<GcReport, CacheOpsError> {
    let locks = find_locks(&request.dirs)?;
    let read = read_locks(&locks)?;
    let dir = cache::default_dir()?;
    let access = match request.dry_run {
        true => Access::Read,
        false => Access::Write,
    };
    // An absent cache is not created just to be collected.
    let cache = match dir.join("git").join("HEAD").exists() {
        true => Some(Cache::open(&dir, access)?),
        false => None,
    };
    let bytes_before = dir_bytes(&dir);
    let pinned = match &cache {
        Some(c) => pinned_commits(c, &read)?,
        None => HashSet::new(),
    };
    let atoms = match &cache {
        Some(c) => cached_atoms(c)?,
        None => Vec::new(),
    };
    let (kept, removed): (Vec<_>, Vec<_>) = atoms.into_iter().partition(|a| {
        ObjectId::from_hex(a.commit.as_bytes()).is_ok_and(|id| pinned.contains(&id))
    });
    let keep_packs = pack_names(cache.as_ref(), &pinned, &request.dirs);
    let (packs_keep, packs_gone): (Vec<_>, Vec<_>) = list_packs(&dir).into_iter().partition(|p| {
        p.path
            .file_name()
            .is_some_and(|n| keep_packs.contains(&*n.to_string_lossy()))
    });
    let mirrors = locked_mirrors(&read);
    let (listings_keep, listings_gone): (Vec<_>, Vec<_>) = cache
        .as_ref()
        .map(listings::kept_files)
        .unwrap_or_default()
        .into_iter()
        .partition(|f| mirrors.contains(&f.url));
    let (yanks_keep, yanks_gone) = match &cache {
        Some(c) => split_yank_tags(
            c.kept_yank_tags()?,
            listings_keep.iter().flat_map(listings::kept_refs),
        ),
        None => Default::default(),
    };
    let bytes_freed = match (&cache, request.dry_run) {
        (_, true) => {
            let git = match &cache {
                Some(c) => unreachable_bytes(c, &kept, &yanks_keep)?,
                None => 0,
            };
            git + packs_gone.iter().map(|p| p.bytes).sum::<u64>()
                + listings_gone.iter().map(|f| f.bytes).sum::<u64>()
        }
        (cache, false) => {
            if let Some(c) = cache {
                unpin(c, &removed, &yanks_gone)?;
                collect_git(c)?;
            }
            remove_packs(&packs_gone)?;
            remove_files(listings_gone.iter().map(|f| f.path.as_path()))?;
            bytes_before.saturating_sub(dir_bytes(&dir))
        }
    };
    Ok(GcReport {
        dir,
        dry_run: request.dry_run,
        locks,
        kept,
        removed,
        packs_kept: packs_keep.len(),
        packs_removed: packs_gone,
        listings_kept: listings_keep.len(),
        listings_removed: listings_gone,
        yank_tags_kept: yanks_keep.len(),
        yank_tags_removed: yanks_gone.len(),
        bytes_before,
        bytes_freed,
    })
}

/// The `atom.lock` files under `dirs` (not inside `.git` folders), sorted.
fn find_locks(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, CacheOpsError> {
    let mut out = BTreeSet::new();
    for dir in dirs {
        if !dir.is_dir() {
            return Err(CacheOpsError::NotADirectory(dir.clone()));
        }
        let walk = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git");
        for entry in walk {
            let entry = entry.map_err(|source| CacheOpsError::Walk {
                path: dir.clone(),
                source,
            })?;
            if entry.file_type().is_file() && entry.file_name() == LOCK_FILE {
                out.insert(entry.into_path());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The atom commits `locks` pin; for eka 0.3's locks, which pin direct
/// dependencies only, also those the pinned atoms' own locks pin (read
/// from the cache, as evaluation reads them).
/// The locks at `paths`, read; one that cannot be read stops gc before
/// anything is removed.
fn read_locks(paths: &[PathBuf]) -> Result<Vec<AnyLock>, CacheOpsError> {
    paths
        .iter()
        .map(|path| {
            AnyLock::read(path).map_err(|source| CacheOpsError::Lock {
                path: path.clone(),
                source,
            })
        })
        .collect()
}

fn pinned_commits(cache: &Cache, locks: &[AnyLock]) -> Result<HashSet<ObjectId>, CacheOpsError> {
    let mut pinned = HashSet::new();
    let mut eka03_level = Vec::new();
    for lock in locks {
        match lock {
            AnyLock::Eka(l) => pinned.extend(l.atoms().iter().map(|a| a.commit)),
            AnyLock::Eka03(l) => eka03_level.extend(l.atoms().filter_map(|a| a.rev)),
        }
    }
    let repo = cache.repo();
    while !eka03_level.is_empty() {
        let mut next = Vec::new();
        for commit in eka03_level.drain(..) {
            if !pinned.insert(commit) {
                continue;
            }
            let own = own_lock(&repo, commit);
            if let Some(AnyLock::Eka03(l)) = own {
                next.extend(l.atoms().filter_map(|a| a.rev));
            }
        }
        eka03_level = next;
    }
    Ok(pinned)
}

/// The lock at the root of the atom commit `commit`'s tree, if the cache
/// has it and it parses.
fn own_lock(repo: &gix::Repository, commit: ObjectId) -> Option<AnyLock> {
    use gix::objs::tree::EntryKind;
    let tree = atom_git::commit_tree(repo, commit).ok()?;
    match atom_git::lookup_path(repo, tree, LOCK_FILE).ok()?? {
        (EntryKind::Blob | EntryKind::BlobExecutable, blob) => {
            let bytes = atom_git::read_blob(repo, blob).ok()?;
            AnyLock::parse(&String::from_utf8_lossy(&bytes), LOCK_FILE).ok()
        }
        _ => None,
    }
}

/// The atoms the cache keeps, by their refs.
fn cached_atoms(cache: &Cache) -> Result<Vec<CachedAtom>, CacheOpsError> {
    let repo = cache.repo();
    let mut atoms: Vec<CachedAtom> = atom_git::local_refs(&repo, "refs/cache/")?
        .into_iter()
        .filter_map(|(name, commit)| {
            let (id, version) = name.strip_prefix("refs/cache/")?.split_once('/')?;
            let label = repo
                .find_object(commit)
                .ok()
                .and_then(|o| AtomCommit::parse(&o.data).ok())
                .map(|c| c.label.to_string());
            Some(CachedAtom {
                label,
                version: version.to_owned(),
                id: id.to_owned(),
                commit: commit.to_string(),
            })
        })
        .collect();
    atoms.sort();
    Ok(atoms)
}

/// A yank tag the cache keeps: its id, and the blob its ref points at.
type KeptYankTag = (ObjectId, ObjectId);

/// The kept yank tags `kept` split into those to keep, named by a yank ref
/// (`refs/atoms/_yank/…`) of the kept listings' `refs`, and those to drop.
fn split_yank_tags(
    kept: Vec<KeptYankTag>,
    refs: impl IntoIterator<Item = RemoteRef>,
) -> (Vec<KeptYankTag>, Vec<KeptYankTag>) {
    let yank_refs = format!("{ATOMS_PREFIX}_yank/");
    let named: HashSet<ObjectId> = refs
        .into_iter()
        .filter(|r| r.name.starts_with(&yank_refs) && !r.name.ends_with("^{}"))
        .map(|r| r.target)
        .collect();
    kept.into_iter().partition(|(tag, _)| named.contains(tag))
}

/// Deletes the refs of `atoms` and of the yank tags `yanks` (each only if
/// it still points where it did), in one transaction.
fn unpin(cache: &Cache, atoms: &[CachedAtom], yanks: &[KeptYankTag]) -> Result<(), CacheOpsError> {
    let atom_refs = atoms.iter().filter_map(|a| {
        let commit = ObjectId::from_hex(a.commit.as_bytes()).ok()?;
        Some(RefUpdate {
            name: format!("refs/cache/{}/{}", a.id, a.version),
            old: Some(commit),
            new: None,
        })
    });
    let yank_refs = yanks.iter().map(|(tag, blob)| RefUpdate {
        name: cache::yank_tag_ref(tag),
        old: Some(*blob),
        new: None,
    });
    let updates: Vec<RefUpdate> = atom_refs.chain(yank_refs).collect();
    atom_git::update_refs(&cache.repo(), &updates, "eka: cache gc")?;
    Ok(())
}

/// Removes every object no ref reaches, reflogs included: git's own
/// collection, so that packs are rewritten as git would.
fn collect_git(cache: &Cache) -> Result<(), CacheOpsError> {
    let args = [
        "-c",
        "gc.reflogExpire=now",
        "-c",
        "gc.reflogExpireUnreachable=now",
        "-c",
        "gc.auto=0",
        // Nothing eka reads: atom commits have no history to walk.
        "-c",
        "gc.writeCommitGraph=false",
        "-c",
        "repack.writeBitmaps=false",
        "gc",
        "--prune=now",
        "--quiet",
    ];
    run_git(cache, &args, None).map(drop)
}

/// The disk size of the objects that no ref of `kept` (atoms) nor of
/// `yanks` reaches.
fn unreachable_bytes(
    cache: &Cache,
    kept: &[CachedAtom],
    yanks: &[KeptYankTag],
) -> Result<u64, CacheOpsError> {
    let all = run_git(
        cache,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname) %(objectsize:disk)",
        ],
        None,
    )?;
    let tips: String = kept
        .iter()
        .map(|a| format!("{}\n", a.commit))
        .chain(yanks.iter().map(|(_, blob)| format!("{blob}\n")))
        .collect();
    let reached = match tips.is_empty() {
        true => String::new(),
        false => run_git(cache, &["rev-list", "--objects", "--stdin"], Some(&tips))?,
    };
    let reached: HashSet<&str> = reached
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    Ok(all
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(id, _)| !reached.contains(id))
        .filter_map(|(_, size)| size.trim().parse::<u64>().ok())
        .sum())
}

fn run_git(cache: &Cache, args: &[&str], input: Option<&str>) -> Result<String, CacheOpsError> {
    use std::io::Write;
    let git_dir = cache.dir().join("git");
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(&git_dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(CacheOpsError::Spawn)?;
    let mut stdin = child.stdin.take();
    if let (Some(stdin), Some(input)) = (stdin.as_mut(), input) {
        stdin
            .write_all(input.as_bytes())
            .map_err(CacheOpsError::Spawn)?;
    }
    drop(stdin);
    let output = child.wait_with_output().map_err(CacheOpsError::Spawn)?;
    if !output.status.success() {
        // The command as typed, without its `-c key=value` settings.
        let shown: Vec<&str> = args
            .iter()
            .enumerate()
            .filter(|(i, a)| **a != "-c" && (*i == 0 || args[i - 1] != "-c"))
            .map(|(_, a)| *a)
            .collect();
        return Err(CacheOpsError::GitGc {
            command: shown.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The names of the parse packs to keep: those of the pinned atoms' trees,
/// and of the atoms under `dirs`, as committed (their `HEAD` tree) and as
/// on disk (`--worktree`).
fn pack_names(
    cache: Option<&Cache>,
    pinned: &HashSet<ObjectId>,
    dirs: &[PathBuf],
) -> HashSet<String> {
    let mut names = HashSet::new();
    if let Some(cache) = cache {
        let repo = cache.repo();
        for commit in pinned {
            if let Ok(tree) = atom_git::commit_tree(&repo, *commit) {
                names.insert(packs::file_name(&Identity::Tree(tree)));
            }
        }
    }
    for atom in atom_dirs(dirs) {
        let canonical = atom.canonicalize().unwrap_or_else(|_| atom.clone());
        names.insert(packs::file_name(&Identity::Dir(canonical.clone())));
        if let Some(tree) = head_tree_of(&canonical) {
            names.insert(packs::file_name(&Identity::Tree(tree)));
        }
    }
    names
}

/// The atom directories (holding `atom.toml`) under `dirs`.
fn atom_dirs(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in dirs {
        let walk = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git");
        for entry in walk.flatten() {
            if entry.file_type().is_file()
                && entry.file_name() == atom_format::manifest::MANIFEST_FILE
            {
                if let Some(parent) = entry.path().parent() {
                    out.push(parent.to_owned());
                }
            }
        }
    }
    out
}

/// The tree of the atom directory `atom` in its repository's `HEAD`.
fn head_tree_of(atom: &Path) -> Option<ObjectId> {
    let repo = atom_git::open(atom).ok()?;
    let root = repo.workdir()?.canonicalize().ok()?;
    let rel = atom.strip_prefix(&root).ok()?;
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    let head = atom_git::resolve_commit(&repo, "HEAD").ok()?;
    let tree = atom_git::commit_tree(&repo, head).ok()?;
    match atom_git::lookup_path(&repo, tree, &rel).ok()?? {
        (gix::objs::tree::EntryKind::Tree, id) => Some(id),
        _ => None,
    }
}

/// The parse packs in the cache, with their sizes.
fn list_packs(dir: &Path) -> Vec<RemovedPack> {
    let Ok(entries) = std::fs::read_dir(dir.join(PARSED_SUBDIR)) else {
        return Vec::new();
    };
    let mut packs: Vec<RemovedPack> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
        .map(|e| RemovedPack {
            bytes: e.metadata().map_or(0, |m| m.len()),
            path: e.path(),
        })
        .collect();
    packs.sort_by(|a, b| a.path.cmp(&b.path));
    packs
}

fn remove_packs(packs: &[RemovedPack]) -> Result<(), CacheOpsError> {
    remove_files(packs.iter().map(|p| p.path.as_path()))
}

fn remove_files<'a>(paths: impl Iterator<Item = &'a Path>) -> Result<(), CacheOpsError> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            // Removed meanwhile (another eka's pruning): what was wanted.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(CacheOpsError::Remove {
                    path: path.to_owned(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// The mirrors the locks name (as URLs are written in listings), whose
/// kept listings stay.
fn locked_mirrors(locks: &[AnyLock]) -> HashSet<String> {
    let mut mirrors = HashSet::new();
    for lock in locks {
        match lock {
            AnyLock::Eka(l) => mirrors.extend(
                l.atoms()
                    .iter()
                    .flat_map(|a| a.mirrors.iter().map(ToString::to_string)),
            ),
            AnyLock::Eka03(l) => mirrors.extend(l.atoms().filter_map(|a| a.mirror.clone())),
        }
    }
    mirrors
}

/// Bytes of the files under `dir` (0 when there is none).
fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn r(name: &str, n: u8) -> RemoteRef {
        RemoteRef {
            name: name.to_owned(),
            target: id(n),
        }
    }

    /// gc keeps the yank tags a kept listing names by a yank ref, and only
    /// those: not a tag named by another kind of ref, nor one no listing
    /// names.
    #[test]
    fn gc_keeps_the_yank_tags_kept_listings_name() {
        let kept = vec![(id(1), id(11)), (id(2), id(12)), (id(3), id(13))];
        let refs = [
            r("refs/atoms/_yank/a/1.0.0/unsigned", 1),
            r("refs/atoms/_yank/a/1.0.0/unsigned^{}", 3),
            r("refs/atoms/a/1.0.0", 2),
            r("refs/atoms/_sig/a/1.0.0/SHA256:x", 2),
            r("refs/atoms/_yank/b/2.0.0/SHA256:y", 4),
        ];
        let (keep, drop) = split_yank_tags(kept, refs);
        assert_eq!(keep, [(id(1), id(11))]);
        assert_eq!(drop, [(id(2), id(12)), (id(3), id(13))]);
        // No kept listing: every kept yank tag goes.
        let (keep, drop) = split_yank_tags(vec![(id(1), id(11))], []);
        assert!(keep.is_empty());
        assert_eq!(drop, [(id(1), id(11))]);
    }
}
