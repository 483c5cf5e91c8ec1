//! Ref listings kept for `--offline` queries (`eka versions`, `list`,
//! `show`), as cargo keeps its index for `--offline`.
//!
//! A query that lists a remote keeps the refs it got in eka's cache
//! (`<cache>/listings/<sha1 of the URL>.toml`), with the prefixes it asked
//! for and when; a query under `--offline` answers from there when every
//! prefix it would ask was listed before, and says how old the answer is.
//! `eka show` keeps the manifest texts it fetched beside them. Each file
//! is one remote URL's; it is written whole (a temporary file renamed over
//! it) under the cache's exclusive lock and read under its shared lock, so
//! two eka processes never lose each other's listings nor read half of
//! one. A listing says what the remote published when it was listed:
//! answering from it is exactly as fresh as its age, which is why the age
//! is always shown.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use atom_git::cache::{Access, Cache, CacheError};
use atom_git::RemoteRef;
use gix::ObjectId;

/// The folder under eka's cache.
const LISTINGS_SUBDIR: &str = "listings";

/// What a query does with kept listings.
#[derive(Clone, Debug, Default)]
pub enum Listings {
    /// Asks the remotes; keeps nothing (what resolution does).
    #[default]
    Live,
    /// Asks the remotes and keeps their listings in the cache at this
    /// folder (eka's cache directory).
    Keep(PathBuf),
    /// Asks no remote over the network: remotes are answered from the
    /// listings kept in this cache, repositories on this machine (paths,
    /// `file://`) are asked.
    Offline(PathBuf),
}

/// Why a listing could not be kept or read.
#[derive(Debug, thiserror::Error)]
pub enum ListingCacheError {
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("another eka is using the cache")]
    Busy,
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One URL's kept listing, as stored.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Stored {
    url: String,
    /// When each prefix was last listed, in seconds since the epoch.
    listed: BTreeMap<String, u64>,
    /// The refs under those prefixes: name → target.
    refs: BTreeMap<String, String>,
    /// Manifest texts fetched from it, by blob id.
    #[serde(default)]
    manifests: BTreeMap<String, String>,
}

/// A kept listing that answers a query.
#[derive(Clone, Debug)]
pub struct KeptListing {
    pub refs: Vec<RemoteRef>,
    /// When its oldest part was listed.
    pub listed: SystemTime,
}

/// A file of a kept listing, for collecting them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KeptFile {
    /// The remote it is a listing of (empty if the file does not read).
    pub url: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// Every listing kept in `cache` (whose lock the caller holds), sorted by
/// path.
pub fn kept_files(cache: &Cache) -> Vec<KeptFile> {
    let Ok(entries) = std::fs::read_dir(cache.dir().join(LISTINGS_SUBDIR)) else {
        return Vec::new();
    };
    let mut files: Vec<KeptFile> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let path = e.path();
            let url = parse(&path).map(|s| s.url).unwrap_or_default();
            let bytes = e.metadata().map_or(0, |m| m.len());
            KeptFile { url, path, bytes }
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// The refs the kept listing `file` holds (none if it does not read), for
/// keeping what they name when collecting the cache.
pub fn kept_refs(file: &KeptFile) -> Vec<RemoteRef> {
    let Some(stored) = parse(&file.path) else {
        return Vec::new();
    };
    stored
        .refs
        .into_iter()
        .filter_map(|(name, target)| {
            let target = ObjectId::from_hex(target.as_bytes()).ok()?;
            Some(RemoteRef { name, target })
        })
        .collect()
}

/// Whether `name` is under `prefix` (or is that exact ref).
fn under(name: &str, prefix: &str) -> bool {
    name.starts_with(prefix)
}

fn file_of(cache: &Cache, url: &str) -> PathBuf {
    let id = gix::objs::compute_hash(gix::hash::Kind::Sha1, gix::objs::Kind::Blob, url.as_bytes())
        .map_or_else(
            |_| url.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            |id| id.to_string(),
        );
    cache.dir().join(LISTINGS_SUBDIR).join(format!("{id}.toml"))
}

/// The listing kept for `url`, if any (one that does not read is none: it
/// is only a copy).
fn read(path: &Path, url: &str) -> Stored {
    parse(path)
        .filter(|s| s.url == url)
        .unwrap_or_else(|| Stored {
            url: url.to_owned(),
            ..Stored::default()
        })
}

/// The listing file at `path`, if it reads.
fn parse(path: &Path) -> Option<Stored> {
    let text = std::fs::read_to_string(path).ok()?;
    toml::from_str(&text).ok()
}

fn write(path: &Path, stored: &Stored) -> Result<(), ListingCacheError> {
    let write_error = |source| ListingCacheError::Write {
        path: path.to_owned(),
        source,
    };
    let text = toml::to_string(stored).map_err(|e| write_error(std::io::Error::other(e)))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    crate::files::write_whole(path, text.as_bytes()).map_err(write_error)
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Changes the listing kept for `url` under the cache's exclusive lock;
/// busy, it keeps nothing rather than wait (a query must not wait for an
/// eka building or collecting the cache just to keep a copy).
fn update(
    cache_dir: &Path,
    url: &str,
    change: impl FnOnce(&mut Stored),
) -> Result<(), ListingCacheError> {
    let cache = Cache::try_open(cache_dir, Access::Write)?.ok_or(ListingCacheError::Busy)?;
    let path = file_of(&cache, url);
    let mut stored = read(&path, url);
    change(&mut stored);
    write(&path, &stored)
}

/// Keeps `refs`, the answer of `url` to a listing of `prefixes` made at
/// `now`: they replace what was kept under those prefixes.
pub fn keep(
    cache_dir: &Path,
    url: &str,
    prefixes: &[String],
    refs: &[RemoteRef],
    now: SystemTime,
) -> Result<(), ListingCacheError> {
    update(cache_dir, url, |stored| {
        stored
            .refs
            .retain(|name, _| !prefixes.iter().any(|p| under(name, p)));
        for r in refs {
            stored.refs.insert(r.name.clone(), r.target.to_string());
        }
        for p in prefixes {
            stored.listed.insert(p.clone(), seconds(now));
        }
    })
}

/// Keeps the text of the manifest blob `blob` fetched from `url`.
pub fn keep_manifest(
    cache_dir: &Path,
    url: &str,
    blob: ObjectId,
    text: &str,
) -> Result<(), ListingCacheError> {
    update(cache_dir, url, |stored| {
        stored.manifests.insert(blob.to_string(), text.to_owned());
    })
}

/// The refs of `url` under `prefixes`, from its kept listing, when every
/// prefix was listed before (by itself or under a shorter one); `None`
/// otherwise, or when nothing is cached.
pub fn kept(
    cache_dir: &Path,
    url: &str,
    prefixes: &[String],
) -> Result<Option<KeptListing>, ListingCacheError> {
    let Some(stored) = read_shared(cache_dir, url)? else {
        return Ok(None);
    };
    let mut oldest = u64::MAX;
    for p in prefixes {
        let covering = stored
            .listed
            .iter()
            .filter(|(listed, _)| under(p, listed))
            .map(|(_, at)| *at)
            .max();
        match covering {
            Some(at) => oldest = oldest.min(at),
            None => return Ok(None),
        }
    }
    let refs = stored
        .refs
        .iter()
        .filter(|(name, _)| prefixes.iter().any(|p| under(name, p)))
        .filter_map(|(name, target)| {
            Some(RemoteRef {
                name: name.clone(),
                target: ObjectId::from_hex(target.as_bytes()).ok()?,
            })
        })
        .collect();
    Ok(Some(KeptListing {
        refs,
        listed: UNIX_EPOCH + Duration::from_secs(oldest.min(seconds(SystemTime::now()))),
    }))
}

/// The text of the manifest blob `blob` kept for `url`, if any (and if it
/// still hashes to `blob`: a changed copy is none).
pub fn kept_manifest(
    cache_dir: &Path,
    url: &str,
    blob: ObjectId,
) -> Result<Option<String>, ListingCacheError> {
    let text = read_shared(cache_dir, url)?.and_then(|mut s| s.manifests.remove(&blob.to_string()));
    let hashes_to_blob = |text: &String| {
        gix::objs::compute_hash(blob.kind(), gix::objs::Kind::Blob, text.as_bytes())
            .is_ok_and(|id| id == blob)
    };
    Ok(text.filter(hashes_to_blob))
}

/// The listing kept for `url`, read under the cache's shared lock; `None`
/// when the cache or the listing is not there.
fn read_shared(cache_dir: &Path, url: &str) -> Result<Option<Stored>, ListingCacheError> {
    let cache = match Cache::open(cache_dir, Access::Read) {
        Ok(c) => c,
        Err(CacheError::Empty { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let path = file_of(&cache, url);
    if !path.exists() {
        return Ok(None);
    }
    let stored = read(&path, url);
    Ok((!stored.listed.is_empty()).then_some(stored))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, n: u8) -> RemoteRef {
        RemoteRef {
            name: name.to_owned(),
            target: ObjectId::from_bytes_or_panic(&[n; 20]),
        }
    }

    #[test]
    fn a_kept_listing_answers_what_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let url = "https://example.org/reg.git";
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let hello = vec![
            "refs/atoms/hello/".to_owned(),
            "refs/atoms/_root".to_owned(),
        ];
        assert!(kept(dir.path(), url, &hello).unwrap().is_none());
        // In name order, as they are kept.
        let refs = [r("refs/atoms/_root", 2), r("refs/atoms/hello/1.0.0", 1)];
        keep(dir.path(), url, &hello, &refs, at).unwrap();
        let got = kept(dir.path(), url, &hello).unwrap().unwrap();
        assert_eq!(got.refs, refs.to_vec());
        assert_eq!(got.listed, at);
        // Not listed: another atom, the whole repository, another URL.
        let other = vec!["refs/atoms/other/".to_owned()];
        assert!(kept(dir.path(), url, &other).unwrap().is_none());
        assert!(kept(dir.path(), "https://example.org/x.git", &hello)
            .unwrap()
            .is_none());
        // A later listing of the whole namespace covers every atom, and
        // replaces what was kept under it (1.0.0 is gone).
        let later = at + Duration::from_secs(60);
        let all = vec!["refs/atoms/".to_owned()];
        keep(
            dir.path(),
            url,
            &all,
            &[r("refs/atoms/other/2.0.0", 3)],
            later,
        )
        .unwrap();
        let got = kept(dir.path(), url, &other).unwrap().unwrap();
        assert_eq!(got.refs, [r("refs/atoms/other/2.0.0", 3)]);
        assert_eq!(got.listed, later);
        let got = kept(dir.path(), url, &hello).unwrap().unwrap();
        assert!(got.refs.is_empty(), "{got:?}");
        // Manifests by blob; a text that is not that blob is none.
        let text = "[package]\n";
        let blob = gix::objs::compute_hash(
            gix::hash::Kind::Sha1,
            gix::objs::Kind::Blob,
            text.as_bytes(),
        )
        .unwrap();
        assert_eq!(kept_manifest(dir.path(), url, blob).unwrap(), None);
        keep_manifest(dir.path(), url, blob, text).unwrap();
        assert_eq!(
            kept_manifest(dir.path(), url, blob).unwrap().as_deref(),
            Some(text)
        );
        let other = ObjectId::from_bytes_or_panic(&[9; 20]);
        keep_manifest(dir.path(), url, other, text).unwrap();
        assert_eq!(kept_manifest(dir.path(), url, other).unwrap(), None);
    }
}
