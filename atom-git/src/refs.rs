//! Local refs: reading them, and changing many at once in one
//! all-or-nothing transaction.

use std::path::{Path, PathBuf};
use std::process::Command;

use gix::bstr::ByteSlice;
use gix::ObjectId;

use crate::{GitError, RefTransactionError};

/// The current value of a local ref, if it exists.
pub fn local_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, GitError> {
    match repo.try_find_reference(name) {
        Ok(Some(r)) => Ok(r.target().try_id().map(|id| id.to_owned())),
        Ok(None) => Ok(None),
        Err(e) => Err(GitError::ReadRefs {
            prefix: name.to_owned(),
            source: e.into(),
        }),
    }
}

/// All local refs under `prefix`, with their targets.
pub fn local_refs(
    repo: &gix::Repository,
    prefix: &str,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let err = |e: crate::BoxError| GitError::ReadRefs {
        prefix: prefix.to_owned(),
        source: e,
    };
    let platform = repo.references().map_err(|e| err(e.into()))?;
    let iter = platform
        .prefixed(prefix.as_bytes().as_bstr())
        .map_err(|e| err(e.into()))?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| err(e.into()))?;
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
            return Err(transaction(RefTransactionError::InvalidName(
                u.name.clone(),
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
        .map_err(|e| transaction(RefTransactionError::Spawn(e)))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()))
        .unwrap_or(Ok(()));
    let output = child
        .wait_with_output()
        .map_err(|e| transaction(RefTransactionError::Spawn(e)))?;
    if !output.status.success() || written.is_err() {
        return Err(transaction(RefTransactionError::Git(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        )));
    }
    Ok(())
}

fn transaction(source: RefTransactionError) -> GitError {
    GitError::UpdateRefs { source }
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
fn parse_packed_refs(content: &[u8]) -> Option<(Vec<&[u8]>, PackedRecords<'_>)> {
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
    if updates.is_empty() {
        return Ok(true);
    }
    if updates.iter().any(|u| u.old.is_some() == u.new.is_some())
        || !names_valid_without_reflogs(common_dir, updates)?
    {
        return Ok(false);
    }
    let path = common_dir.join("packed-refs");
    let lock = lock_packed_refs(&path)?;
    let content = read_packed_refs(&path)?;
    let Some((traits, mut records)) = parse_packed_refs(&content) else {
        return Ok(false);
    };
    let mut loose = Paths::new(common_dir.to_owned());
    if !delete_packed(&mut records, &mut loose, updates)? {
        return Ok(false);
    }
    create_packed(&mut records, updates)?;
    for u in updates.iter().filter(|u| u.new.is_some()) {
        check_no_clash(common_dir, &u.name, &records, &mut loose)?;
    }
    let traits = header_traits(traits, content.is_empty());
    let text = packed_refs_text(&traits, &records, content.len() + 100 * updates.len());
    commit_packed_refs(lock, &path, &text)?;
    Ok(true)
}

/// The records of a `packed-refs` file, by name.
type PackedRecords<'a> = std::collections::BTreeMap<&'a [u8], PackedRecord<'a>>;

/// Whether every name is a valid ref name (else the error) with no reflog
/// git would have to write or delete.
fn names_valid_without_reflogs(common_dir: &Path, updates: &[RefUpdate]) -> Result<bool, GitError> {
    let mut reflogs = Paths::new(common_dir.join("logs"));
    for u in updates {
        if !u.name.starts_with("refs/") || gix::refs::FullName::try_from(u.name.as_str()).is_err() {
            return Err(transaction(RefTransactionError::InvalidName(
                u.name.clone(),
            )));
        }
        if reflogs.kind(&u.name).map_err(transaction)? != PathKind::Missing {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `packed-refs`' lock, held until the new file is committed.
fn lock_packed_refs(path: &Path) -> Result<gix::lock::File, GitError> {
    gix::lock::File::acquire_to_update_resource(
        path,
        gix::lock::acquire::Fail::AfterDurationWithBackoff(std::time::Duration::from_secs(1)),
        None,
        0,
    )
    .map_err(|e| {
        transaction(RefTransactionError::Lock {
            path: path.to_owned(),
            source: e.into(),
        })
    })
}

/// `packed-refs`' bytes (none if there is no such file).
fn read_packed_refs(path: &Path) -> Result<Vec<u8>, GitError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(transaction(RefTransactionError::Io {
            path: path.to_owned(),
            source,
        })),
    }
}

/// Removes the deleted refs from `records`, each checked at its `old`
/// value; `Ok(false)` when one is loose (left to git).
fn delete_packed(
    records: &mut PackedRecords<'_>,
    loose: &mut Paths,
    updates: &[RefUpdate],
) -> Result<bool, GitError> {
    for u in updates.iter().filter(|u| u.new.is_none()) {
        let old = u.old.expect("a deletion has an old value");
        if loose.kind(&u.name).map_err(transaction)? == PathKind::File {
            return Ok(false);
        }
        match records.remove(u.name.as_bytes()) {
            Some(PackedRecord::Existing { target, .. })
                if target == old.to_hex().to_string().as_bytes() => {}
            _ => {
                return Err(transaction(RefTransactionError::NotAt {
                    name: u.name.clone(),
                    expected: old,
                }))
            }
        }
    }
    Ok(true)
}

/// Adds the created refs to `records`; one already packed is an error.
fn create_packed<'a>(
    records: &mut PackedRecords<'a>,
    updates: &'a [RefUpdate],
) -> Result<(), GitError> {
    for u in updates {
        let Some(new) = u.new else { continue };
        if records
            .insert(u.name.as_bytes(), PackedRecord::New(new))
            .is_some()
        {
            return Err(transaction(RefTransactionError::Exists(u.name.clone())));
        }
    }
    Ok(())
}

/// A ref `name` to create must not exist loose, nor clash as a directory
/// with another ref, packed or loose (`a/b` against `a` or `a/b/c`).
fn check_no_clash(
    common_dir: &Path,
    name: &str,
    records: &PackedRecords<'_>,
    loose: &mut Paths,
) -> Result<(), GitError> {
    let clash = |other: &str| {
        transaction(RefTransactionError::Clash {
            name: name.to_owned(),
            other: other.to_owned(),
        })
    };
    match loose.kind(name).map_err(transaction)? {
        PathKind::Missing => {}
        PathKind::File => return Err(transaction(RefTransactionError::Exists(name.to_owned()))),
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
        if records.contains_key(prefix.as_bytes())
            || loose.kind(prefix).map_err(transaction)? == PathKind::File
        {
            return Err(clash(prefix));
        }
    }
    // A packed ref below the name.
    let below = format!("{name}/");
    let next = records
        .range::<[u8], _>((
            std::ops::Bound::Excluded(name.as_bytes()),
            std::ops::Bound::Unbounded,
        ))
        .next();
    match next {
        Some((other, _)) if other.starts_with(below.as_bytes()) => {
            Err(clash(&String::from_utf8_lossy(other)))
        }
        _ => Ok(()),
    }
}

/// The header's traits of the new `packed-refs`: a new file's as git
/// writes them, else the old ones with `sorted` (as the records are).
fn header_traits(mut traits: Vec<&[u8]>, new_file: bool) -> Vec<&[u8]> {
    if new_file {
        traits = vec![b"peeled", b"fully-peeled", b"sorted"];
    } else if !traits.contains(&&b"sorted"[..]) {
        traits.push(b"sorted");
    }
    traits
}

/// The new `packed-refs` text: the header with `traits`, and every record.
fn packed_refs_text(traits: &[&[u8]], records: &PackedRecords<'_>, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"# pack-refs with:");
    for t in traits {
        out.push(b' ');
        out.extend_from_slice(t);
    }
    out.extend_from_slice(b" \n");
    for (name, record) in records {
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
    out
}

/// Writes `text` to the lock and renames it over `packed-refs`.
fn commit_packed_refs(mut lock: gix::lock::File, path: &Path, text: &[u8]) -> Result<(), GitError> {
    use std::io::Write as _;
    let lock_path = lock.lock_path().to_owned();
    lock.write_all(text).map_err(|source| {
        transaction(RefTransactionError::Io {
            path: lock_path,
            source,
        })
    })?;
    lock.commit().map_err(|e| {
        transaction(RefTransactionError::Io {
            path: path.to_owned(),
            source: e.error,
        })
    })?;
    Ok(())
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

    fn kind(&mut self, path: &str) -> Result<PathKind, RefTransactionError> {
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
            Err(source) => {
                return Err(RefTransactionError::Io {
                    path: self.root.join(path),
                    source,
                })
            }
        };
        self.seen.insert(path.to_owned(), kind);
        Ok(kind)
    }
}

/// A file somewhere below `dir` (a loose ref), if any. Iterative: a
/// directory tree of any depth cannot overflow the stack.
fn first_file_below(dir: &Path) -> Option<PathBuf> {
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => return Some(entry.path()),
                Err(_) => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::open;
    use crate::test_support::{git, repo};

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
            let err = crate::causes(&update(d, updates).unwrap_err());
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
        let err = crate::causes(&update(d, &[create("refs/atoms/a/1", head)]).unwrap_err());
        assert!(err.contains("cannot lock"), "{err}");
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
