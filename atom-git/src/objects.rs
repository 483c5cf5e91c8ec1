//! Writing objects: the atom commits of a publish, as one new pack.

use std::path::PathBuf;

use gix::ObjectId;

use crate::GitError;

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
    write_pack(repo, gix::object::Kind::Commit, commits)
}

/// [`write_commits`] for tag objects (the signatures of a publish).
pub fn write_tags(
    repo: &gix::Repository,
    tags: &[Vec<u8>],
) -> Result<(Vec<ObjectId>, NewPack), GitError> {
    write_pack(repo, gix::object::Kind::Tag, tags)
}

fn write_pack(
    repo: &gix::Repository,
    kind: gix::object::Kind,
    objects: &[Vec<u8>],
) -> Result<(Vec<ObjectId>, NewPack), GitError> {
    let draft = PackDraft::new(repo, kind, objects)?;
    let ids = draft.ids.clone();
    Ok((ids, draft.write(repo)?))
}

/// [`write_tags`] in two steps: the objects hashed and deflated into pack
/// entries ([`PackDraft::tags`], most of the cost, and nothing written), then
/// the pack written ([`PackDraft::write`]). A publish drafts its signature
/// tags while git checks the work tree, and writes them only once it is
/// known to be clean.
#[derive(Debug)]
pub struct PackDraft {
    /// Every object's id, in the order given.
    ids: Vec<ObjectId>,
    /// The pack entries of the objects the repository lacks.
    entries: Vec<Vec<u8>>,
}

impl PackDraft {
    /// Drafts a pack of tag objects with exactly these bytes.
    pub fn tags(repo: &gix::Repository, tags: &[Vec<u8>]) -> Result<Self, GitError> {
        Self::new(repo, gix::object::Kind::Tag, tags)
    }

    fn new(
        repo: &gix::Repository,
        kind: gix::object::Kind,
        objects: &[Vec<u8>],
    ) -> Result<Self, GitError> {
        use gix::odb::pack::data;
        let header = match kind {
            gix::object::Kind::Commit => data::entry::Header::Commit,
            gix::object::Kind::Tag => data::entry::Header::Tag,
            gix::object::Kind::Tree => data::entry::Header::Tree,
            gix::object::Kind::Blob => data::entry::Header::Blob,
        };
        let hash = repo.object_hash();
        let mut ids = Vec::with_capacity(objects.len());
        let mut new = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for bytes in objects {
            let id = gix::objs::compute_hash(hash, kind, bytes).map_err(GitError::write_pack)?;
            ids.push(id);
            if seen.insert(id) && !repo.objects.exists_without_refresh(&id) {
                new.push(bytes.as_slice());
            }
        }
        let entries = pack_entries(header, &new)?;
        Ok(Self { ids, entries })
    }

    /// Every object's id, in the order given.
    pub fn ids(&self) -> &[ObjectId] {
        &self.ids
    }

    /// Writes the pack (and its index) into `repo`'s object store.
    pub fn write(self, repo: &gix::Repository) -> Result<NewPack, GitError> {
        use gix::odb::pack::data;
        if self.entries.is_empty() {
            return Ok(NewPack { keep: None });
        }
        let hash = repo.object_hash();
        // The pack: a header, each object as a whole (not a delta) and
        // deflated, and the hash of all that.
        let count = u32::try_from(self.entries.len()).map_err(GitError::write_pack)?;
        let mut stream = data::header::encode(data::Version::V2, count).to_vec();
        stream.reserve(self.entries.iter().map(Vec::len).sum::<usize>() + hash.len_in_bytes());
        for entry in &self.entries {
            stream.extend_from_slice(entry);
        }
        let mut hasher = gix::hash::hasher(hash);
        hasher.update(&stream);
        let trailer = hasher.try_finalize().map_err(GitError::write_pack)?;
        stream.extend_from_slice(trailer.as_slice());
        write_pack_stream(repo, &stream, count)
    }
}

/// Writes a whole pack stream of `count` objects, and its index, into
/// `repo`'s object store.
fn write_pack_stream(
    repo: &gix::Repository,
    stream: &[u8],
    count: u32,
) -> Result<NewPack, GitError> {
    let hash = repo.object_hash();
    // Indexing it checks every entry and hashes every object again.
    let outcome = gix::odb::pack::Bundle::write_to_directory(
        &mut &stream[..],
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
    .map_err(GitError::write_pack)?;
    let pack = NewPack {
        keep: outcome.keep_path,
    };
    if outcome.index.num_objects != count {
        return Err(GitError::write_pack(format!(
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
    Ok(pack)
}

/// Each object as a pack entry (its header, then its bytes deflated), in
/// order. Deflating is most of the cost of writing a pack of small objects
/// (zlib's fixed cost per stream): it is spread over every core, each
/// thread with its own compressor.
fn pack_entries(
    header: gix::odb::pack::data::entry::Header,
    objects: &[&[u8]],
) -> Result<Vec<Vec<u8>>, GitError> {
    use gix::zlib::{stream::deflate::Compress, Compression};
    use rayon::prelude::*;
    objects
        .par_iter()
        .map_init(
            || Compress::new(Compression::DEFAULT),
            |zlib, bytes| {
                let mut entry = Vec::new();
                header
                    .write_to(bytes.len() as u64, &mut entry)
                    .map_err(GitError::write_pack)?;
                deflate(zlib, bytes, &mut entry).map_err(GitError::write_pack)?;
                Ok(entry)
            },
        )
        .collect()
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use atom_format::{AtomCommit, Label};

    use super::*;
    use crate::repo::open;
    use crate::test_support::{git, repo};

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

    /// Objects deflated on several threads each read back from the pack
    /// with git, byte for byte, and the pack verifies (`git verify-pack`).
    #[test]
    fn many_objects_deflated_in_parallel_read_back() {
        let (dir, _) = repo();
        let repo = open(dir.path()).unwrap();
        let blobs: Vec<Vec<u8>> = (0..600)
            .map(|i| format!("blob {i}\n{}", "x".repeat(i % 97)).into_bytes())
            .collect();
        let (ids, _pack) = write_pack(&repo, gix::object::Kind::Blob, &blobs).unwrap();
        let listed: String = ids.iter().map(|id| format!("{id}\n")).collect();
        let out = Command::new("git")
            .current_dir(dir.path())
            .args(["cat-file", "--batch"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(listed.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        let mut expected = Vec::new();
        for (id, bytes) in ids.iter().zip(&blobs) {
            expected.extend_from_slice(format!("{id} blob {}\n", bytes.len()).as_bytes());
            expected.extend_from_slice(bytes);
            expected.push(b'\n');
        }
        assert!(out.stdout == expected, "git reads other objects back");
        let pack_dir = dir.path().join(".git/objects/pack");
        for idx in packs(dir.path()).iter().filter(|p| p.ends_with(".idx")) {
            git(&pack_dir, &["verify-pack", idx]);
        }
    }
}
