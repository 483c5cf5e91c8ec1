//! Writing objects: the atom commits of a publish, as one new pack.

use std::path::{Path, PathBuf};

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
    /// The objects the repository lacks, as pack entries.
    entries: Vec<PackEntry>,
}

/// One object of a new pack.
#[derive(Debug)]
struct PackEntry {
    id: ObjectId,
    /// Its entry header, then its bytes deflated.
    bytes: Vec<u8>,
    /// The CRC-32 of `bytes`, as the pack index records it.
    crc32: u32,
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
                new.push((id, bytes.as_slice()));
            }
        }
        let entries = pack_entries(header, &new)?;
        Ok(Self { ids, entries })
    }

    /// Every object's id, in the order given.
    pub fn ids(&self) -> &[ObjectId] {
        &self.ids
    }

    /// Writes the pack and its index into `repo`'s object store.
    pub fn write(self, repo: &gix::Repository) -> Result<NewPack, GitError> {
        if self.entries.is_empty() {
            return Ok(NewPack { keep: None });
        }
        let hash = repo.object_hash();
        let (pack, offsets) = self.pack(hash)?;
        let pack_hash = &pack[pack.len() - hash.len_in_bytes()..];
        let index = self.index(hash, &offsets, pack_hash)?;
        let dir = repo.objects.store_ref().path().join("pack");
        let name = format!("pack-{}", ObjectId::from_bytes_or_panic(pack_hash));
        write_pack_files(&dir, &name, &pack, &index).map_err(GitError::write_pack)
    }

    /// The pack: a header, each object whole (not a delta) and deflated,
    /// and the hash of all that; and where each entry starts.
    fn pack(&self, hash: gix::hash::Kind) -> Result<(Vec<u8>, Vec<u64>), GitError> {
        use gix::odb::pack::data;
        let count = u32::try_from(self.entries.len()).map_err(GitError::write_pack)?;
        let mut pack = data::header::encode(data::Version::V2, count).to_vec();
        let size = self.entries.iter().map(|e| e.bytes.len()).sum::<usize>();
        pack.reserve(size + hash.len_in_bytes());
        let mut offsets = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            offsets.push(pack.len() as u64);
            pack.extend_from_slice(&entry.bytes);
        }
        let mut hasher = gix::hash::hasher(hash);
        hasher.update(&pack);
        let trailer = hasher.try_finalize().map_err(GitError::write_pack)?;
        pack.extend_from_slice(trailer.as_slice());
        Ok((pack, offsets))
    }

    /// The pack's index, version 2 (gitformat-pack(5)), from what writing
    /// the entries already knows: their ids, offsets and CRC-32s. (gix's
    /// indexer would inflate and hash every object again to find them.)
    fn index(
        &self,
        hash: gix::hash::Kind,
        offsets: &[u64],
        pack_hash: &[u8],
    ) -> Result<Vec<u8>, GitError> {
        let mut sorted: Vec<(&PackEntry, u64)> =
            self.entries.iter().zip(offsets.iter().copied()).collect();
        sorted.sort_unstable_by_key(|(e, _)| e.id);
        let per_object = hash.len_in_bytes() + 8;
        let mut index = Vec::with_capacity(8 + 256 * 4 + sorted.len() * per_object + 64);
        index.extend_from_slice(b"\xfftOc");
        index.extend_from_slice(&2u32.to_be_bytes());
        let mut fan_out = [0u32; 256];
        for (entry, _) in &sorted {
            fan_out[usize::from(entry.id.as_bytes()[0])] += 1;
        }
        let mut running = 0;
        for count in fan_out {
            running += count;
            index.extend_from_slice(&running.to_be_bytes());
        }
        for (entry, _) in &sorted {
            index.extend_from_slice(entry.id.as_bytes());
        }
        for (entry, _) in &sorted {
            index.extend_from_slice(&entry.crc32.to_be_bytes());
        }
        // Offsets from 2 GiB on go to a table of 64-bit ones.
        let mut large = Vec::new();
        for &(_, offset) in &sorted {
            let small = match u32::try_from(offset) {
                Ok(small) if small < 0x8000_0000 => small,
                _ => {
                    large.push(offset);
                    0x8000_0000 | u32::try_from(large.len() - 1).map_err(GitError::write_pack)?
                }
            };
            index.extend_from_slice(&small.to_be_bytes());
        }
        for offset in large {
            index.extend_from_slice(&offset.to_be_bytes());
        }
        index.extend_from_slice(pack_hash);
        let mut hasher = gix::hash::hasher(hash);
        hasher.update(&index);
        let trailer = hasher.try_finalize().map_err(GitError::write_pack)?;
        index.extend_from_slice(trailer.as_slice());
        Ok(index)
    }
}

/// Writes `<name>.pack` and `<name>.idx` into `dir` as git does: each to
/// a temporary file renamed into place, the pack before its index, so that
/// readers see all of it or none of it; with a `.keep` file first, so that
/// a concurrent repack leaves the pack alone until refs point at its
/// objects. A pack of that name already there has the same content (packs
/// are named by it), and is left as it is.
fn write_pack_files(dir: &Path, name: &str, pack: &[u8], index: &[u8]) -> std::io::Result<NewPack> {
    let pack_path = dir.join(format!("{name}.pack"));
    let index_path = dir.join(format!("{name}.idx"));
    // Dropped on an error below, `new` removes the keep file again.
    let mut new = NewPack { keep: None };
    if !pack_path.is_file() {
        let keep = dir.join(format!("{name}.keep"));
        std::fs::write(&keep, b"")?;
        new.keep = Some(keep);
        write_into_place(dir, pack, &pack_path)?;
    }
    if !index_path.is_file() {
        write_into_place(dir, index, &index_path)?;
    }
    // Read-only, as git leaves its packs.
    #[cfg(unix)]
    for path in [&pack_path, &index_path] {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444));
    }
    Ok(new)
}

/// Writes `bytes` to a temporary file in `dir`, renamed to `path`.
fn write_into_place(dir: &Path, bytes: &[u8], path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Each object as a pack entry (its header, then its bytes deflated), in
/// order. Deflating is most of the cost of writing a pack of small objects
/// (zlib's fixed cost per stream): it is spread over every core, each
/// thread with its own compressor.
fn pack_entries(
    header: gix::odb::pack::data::entry::Header,
    objects: &[(ObjectId, &[u8])],
) -> Result<Vec<PackEntry>, GitError> {
    use gix::zlib::{stream::deflate::Compress, Compression};
    use rayon::prelude::*;
    objects
        .par_iter()
        .map_init(
            || Compress::new(Compression::DEFAULT),
            |zlib, &(id, object)| {
                let mut bytes = Vec::new();
                header
                    .write_to(object.len() as u64, &mut bytes)
                    .map_err(GitError::write_pack)?;
                deflate(zlib, object, &mut bytes).map_err(GitError::write_pack)?;
                let crc32 = crc32fast::hash(&bytes);
                Ok(PackEntry { id, bytes, crc32 })
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

    /// The index written from what packing knew (ids, offsets, CRC-32s)
    /// is byte for byte the one gix's indexer makes by reading the pack.
    #[test]
    fn the_pack_index_is_the_indexers() {
        let (dir, _) = repo();
        let repo = open(dir.path()).unwrap();
        let blobs: Vec<Vec<u8>> = (0..700)
            .map(|i| format!("blob {i}\n{}", "y".repeat(i % 131)).into_bytes())
            .collect();
        let draft = PackDraft::new(&repo, gix::object::Kind::Blob, &blobs).unwrap();
        let hash = repo.object_hash();
        let (pack, offsets) = draft.pack(hash).unwrap();
        let ours = draft
            .index(hash, &offsets, &pack[pack.len() - hash.len_in_bytes()..])
            .unwrap();
        let out = tempfile::tempdir().unwrap();
        let outcome = gix::odb::pack::Bundle::write_to_directory(
            &mut &pack[..],
            Some(out.path()),
            &mut gix::progress::Discard,
            &std::sync::atomic::AtomicBool::new(false),
            None::<gix::objs::find::Never>,
            hash,
            Default::default(),
        )
        .unwrap();
        let theirs = std::fs::read(outcome.index_path.unwrap()).unwrap();
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "the indexes differ");
    }
}
