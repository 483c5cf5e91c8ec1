//! Yanking (`spec/trust.md` §6): withdrawing a published version without
//! deleting or moving anything, by one new create-only ref
//! `refs/atoms/_yank/<label>/<version>/<signer|unsigned>` to a tag whose
//! message is the yank statement, signed when a key is given or
//! configured.
//!
//! Reading yanks ([`yanks`], [`kept_yanks`]): `eka versions` and `eka list`
//! show why a version was yanked, read from its yank tags. Online they keep
//! the tags in the user's cache ([`atom_git::cache`]), because `--offline`
//! answers from a kept listing that names the tags but cannot fetch them:
//! without the kept tags, offline would show a version yanked but never
//! why.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use atom_format::refs::{AtomRef, AtomVersion, Namespace, ATOMS_PREFIX, EKA03_ROOT_REF, ROOT_REF};
use atom_format::Label;
use atom_git::{self as git, Access, Cache, Connections};
use atom_lock::registry::{Listing, TrustTag, VersionEntry};
use atom_trust::statement::ReasonError;
use atom_trust::{
    judge_yank, make_yank, KeyFingerprint, ListedTag, Reason, YankStatement, YankStatus, YankTarget,
};
use gix::ObjectId;
use semver::Version;

use crate::sign::{self, SigningError};

/// What `eka yank` is asked to do.
#[derive(Clone, Debug)]
pub struct YankRequest {
    /// Where git's configuration (key, remote names) is read.
    pub dir: PathBuf,
    /// A configured remote's name, or a URL or path.
    pub remote: String,
    pub atom: AtomVersion,
    pub reason: String,
    /// `--key`; without it, the configured key if any, else unsigned.
    pub key: Option<String>,
}

/// What `eka yank` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct YankReport {
    pub remote: String,
    pub atom: String,
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// The key that signed the yank, if it is signed.
    pub signer: Option<KeyFingerprint>,
    /// The registry already held this yank's ref (by this signer, or
    /// unsigned): nothing was pushed.
    pub already_yanked: bool,
}

/// Why nothing was yanked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum YankError {
    #[error("the reason cannot be written in a yank")]
    #[diagnostic(code(atom::yank::reason))]
    Reason(#[source] ReasonError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Signing(#[from] SigningError),
}

impl From<git::GitError> for YankError {
    fn from(e: git::GitError) -> Self {
        YankError::Signing(e.into())
    }
}

impl From<git::RemoteError> for YankError {
    fn from(e: git::RemoteError) -> Self {
        YankError::Signing(e.into())
    }
}

impl From<git::PushError> for YankError {
    fn from(e: git::PushError) -> Self {
        YankError::Signing(e.into())
    }
}

/// Yanks a published version on a remote.
pub fn yank(request: &YankRequest, connections: &Connections) -> Result<YankReport, YankError> {
    let reason = Reason::new(&request.reason).map_err(YankError::Reason)?;
    let here = git::open(&request.dir).ok();
    let key = match sign::load_key(here.as_ref(), request.key.as_deref()) {
        Ok(key) => Some(key),
        // Unsigned when no key is given or configured.
        Err(SigningError::NoKey) => None,
        Err(e) => return Err(e.into()),
    };
    let url = git::remote_url(here.as_ref(), &request.remote)?;
    let atom = &request.atom;
    let prefixes = [
        atom.atom_ref(),
        AtomRef::Atom(atom.clone()).name_in(Namespace::Eka03),
        format!("{ATOMS_PREFIX}_yank/{}/{}/", atom.label, atom.version),
        ROOT_REF.to_owned(),
        EKA03_ROOT_REF.to_owned(),
    ];
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let listing = connections.ls_refs(&url, &prefixes)?;
    let find = |name: &str| listing.iter().find(|r| r.name == name).map(|r| r.target);
    let commit = [Namespace::Atoms, Namespace::Eka03]
        .iter()
        .find_map(|ns| find(&AtomRef::Atom(atom.clone()).name_in(*ns)))
        .ok_or_else(|| SigningError::NotPublished {
            atom: atom.clone(),
            url: url.clone(),
        })?;
    let root = find(ROOT_REF)
        .or_else(|| find(EKA03_ROOT_REF))
        .ok_or_else(|| SigningError::NoRoot { url: url.clone() })?;
    let target = YankTarget {
        label: atom.label.clone(),
        version: atom.version.clone(),
        commit,
        root,
    };
    let statement = YankStatement::new(&target, reason);
    let tagger = match &key {
        Some(key) => key.tagger.clone(),
        None => sign::tagger(here.as_ref())?,
    };
    let tag =
        make_yank(key.as_ref().map(|k| &k.key), &statement, &tagger).map_err(SigningError::Sign)?;
    let already_yanked = find(&tag.ref_name).is_some();
    if !already_yanked {
        push_tag(connections, &url, commit, &tag.ref_name, &tag.bytes)?;
    }
    Ok(YankReport {
        remote: url,
        atom: atom.to_string(),
        ref_name: tag.ref_name,
        signer: tag.signer,
        already_yanked,
    })
}

/// Pushes one tag object under `name`, from a scratch repository holding
/// it and the commit it points at (fetched: git push walks from the tag).
fn push_tag(
    connections: &Connections,
    url: &str,
    commit: ObjectId,
    name: &str,
    bytes: &[u8],
) -> Result<(), YankError> {
    let scratch = tempfile::tempdir().map_err(|e| SigningError::Scratch(e.into()))?;
    let repo = gix::init_bare(scratch.path()).map_err(|e| SigningError::Scratch(e.into()))?;
    connections.fetch_objects(&repo, url, &[commit])?;
    let (ids, _pack) = git::write_tags(&repo, &[bytes.to_vec()]).map_err(SigningError::Write)?;
    git::push_atomic(
        &repo,
        url,
        &[(name.to_owned(), ids[0])],
        connections.timeout(),
    )?;
    Ok(())
}

/// One yank of a version, as read from its tag.
#[derive(Clone, Debug, serde::Serialize)]
pub struct YankLine {
    /// The signer its ref names (`None`: unsigned).
    pub signer: Option<KeyFingerprint>,
    /// The reason, when the tag was read and holds a yank statement.
    pub reason: Option<String>,
    /// Why it does not count (a yank of another version, a bad
    /// signature, a tag the server did not send).
    pub ignored: Option<String>,
    /// Why its tag could not be read, so that whether it counts and why
    /// are unknown (a failed fetch; offline, a tag the cache does not
    /// keep). The version is still yanked: the listing says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// What [`yanks`] read of a yank tag.
enum Found<'a> {
    Bytes(&'a [u8]),
    /// The fetch's answer holds no tag of that id.
    NotSent,
    /// Its tag could not be read, for this reason.
    Unread(&'a str),
}

/// Why the reason is unknown, offline, when the cache does not keep the
/// yank's tag (an online query keeps it).
pub const NOT_KEPT: &str = "its tag was not kept";

/// Yank tags' bytes, by tag id.
type TagBytes = HashMap<ObjectId, Vec<u8>>;

/// The yank tags read online, and why the others could not be read (a
/// failed fetch; `None`: the server sent no tag of theirs).
struct TagsRead {
    tags: TagBytes,
    unread: Option<String>,
}

impl TagsRead {
    fn find(&self, id: ObjectId) -> Found<'_> {
        match (self.tags.get(&id), &self.unread) {
            (Some(bytes), _) => Found::Bytes(bytes),
            (None, Some(why)) => Found::Unread(why),
            (None, None) => Found::NotSent,
        }
    }
}

/// The yanks of every yanked version of `listing`, read from their tags in
/// one fetch from `url` of the tags alone (the server is told we have the
/// atom commits, so only the tags come). Without a policy (`spec/trust.md`
/// §6): a yank counts when it is about this version and any signature it
/// carries verifies.
///
/// With `cache_dir`, the tags are read from and kept in the user's cache
/// (only those it lacks are fetched), for [`kept_yanks`] to read offline;
/// when the cache cannot be used (busy, unwritable), they are read as
/// without it, from a scratch repository. Nothing here fails the query: a
/// tag that cannot be read gives a line saying why.
pub fn yanks(
    listing: &Listing,
    url: &str,
    connections: &Connections,
    cache_dir: Option<&Path>,
) -> BTreeMap<(Label, Version), Vec<YankLine>> {
    let yanked = yanked_versions(listing);
    if yanked.is_empty() {
        return BTreeMap::new();
    }
    let read = cache_dir
        .and_then(|dir| read_tags_keeping(dir, &yanked, url, connections))
        .unwrap_or_else(|| read_tags_scratch(&yanked, url, connections));
    judge_all(listing, &yanked, |id| read.find(id))
}

/// [`yanks`] offline: the yank tags of `listing` (a kept listing) read
/// from the cache in `cache_dir`, and judged as online; a tag the cache
/// does not keep gives a line saying so ([`NOT_KEPT`]).
pub fn kept_yanks(
    listing: &Listing,
    cache_dir: &Path,
) -> BTreeMap<(Label, Version), Vec<YankLine>> {
    let yanked = yanked_versions(listing);
    if yanked.is_empty() {
        return BTreeMap::new();
    }
    let cache = Cache::open(cache_dir, Access::Read).ok();
    let tags: TagBytes = match &cache {
        Some(cache) => tag_ids(&yanked)
            .into_iter()
            .filter_map(|id| Some((id, cache.yank_tag(id)?)))
            .collect(),
        None => TagBytes::new(),
    };
    judge_all(listing, &yanked, |id| {
        tags.get(&id)
            .map_or(Found::Unread(NOT_KEPT), |b| Found::Bytes(b))
    })
}

/// The yanked versions of `listing`.
fn yanked_versions(listing: &Listing) -> Vec<(&Label, &VersionEntry)> {
    listing
        .atoms
        .iter()
        .flat_map(|(l, vs)| vs.iter().filter(|v| v.is_yanked()).map(move |v| (l, v)))
        .collect()
}

fn tag_ids(yanked: &[(&Label, &VersionEntry)]) -> Vec<ObjectId> {
    yanked
        .iter()
        .flat_map(|(_, e)| e.yanks.iter().map(|t| t.tag))
        .collect()
}

/// The lines of each yanked version, judging the tags `find` reads.
fn judge_all<'t>(
    listing: &Listing,
    yanked: &[(&Label, &VersionEntry)],
    find: impl Fn(ObjectId) -> Found<'t>,
) -> BTreeMap<(Label, Version), Vec<YankLine>> {
    let mut out = BTreeMap::new();
    for (label, entry) in yanked {
        let lines = entry
            .yanks
            .iter()
            .map(|t| match (find(t.tag), listing.root) {
                (Found::Unread(why), _) => YankLine {
                    signer: t.signer,
                    reason: None,
                    ignored: None,
                    unknown: Some(why.to_owned()),
                },
                (_, None) => ignored(t, "the registry has no root".into()),
                (Found::NotSent, _) => {
                    ignored(t, format!("its tag {} is not a tag the server sent", t.tag))
                }
                (Found::Bytes(bytes), Some(root)) => {
                    let target = YankTarget {
                        label: (*label).clone(),
                        version: entry.version.clone(),
                        commit: entry.commit,
                        root,
                    };
                    yank_line(bytes, &target, t)
                }
            })
            .collect();
        out.insert(((*label).clone(), entry.version.clone()), lines);
    }
    out
}

fn ignored(t: &TrustTag, why: String) -> YankLine {
    YankLine {
        signer: t.signer,
        reason: None,
        ignored: Some(why),
        unknown: None,
    }
}

/// The yank tags of `yanked`, read from the cache in `dir` after fetching
/// into it those it lacks, and kept there; `None` when the cache cannot
/// be used (the caller reads them without it).
fn read_tags_keeping(
    dir: &Path,
    yanked: &[(&Label, &VersionEntry)],
    url: &str,
    connections: &Connections,
) -> Option<TagsRead> {
    // A query does not wait for an eka building or collecting the cache.
    let cache = Cache::try_open(dir, Access::Write).ok()??;
    let read = |ids: &[ObjectId]| -> Vec<(ObjectId, Vec<u8>)> {
        ids.iter()
            .filter_map(|&id| Some((id, cache.yank_tag(id)?)))
            .collect()
    };
    let ids = tag_ids(yanked);
    let mut tags: TagBytes = read(&ids).into_iter().collect();
    let missing: Vec<ObjectId> = ids
        .into_iter()
        .filter(|id| !tags.contains_key(id))
        .collect();
    let mut unread = None;
    if !missing.is_empty() {
        let commits: Vec<ObjectId> = yanked.iter().map(|(_, e)| e.commit).collect();
        match connections.fetch_objects_having(&cache.repo(), url, &missing, &commits) {
            Ok(()) => tags.extend(read(&missing)),
            Err(e) => unread = Some(format!("its tag could not be read: {}", git::causes(&e))),
        }
    }
    let keep: Vec<(ObjectId, &[u8])> = tags.iter().map(|(id, b)| (*id, b.as_slice())).collect();
    // Not kept, `--offline` says so; the query goes on.
    let _ = cache.keep_yank_tags(&keep);
    Some(TagsRead { tags, unread })
}

/// The yank tags of `yanked`, fetched into a scratch repository.
fn read_tags_scratch(
    yanked: &[(&Label, &VersionEntry)],
    url: &str,
    connections: &Connections,
) -> TagsRead {
    match fetch_tags_scratch(yanked, url, connections) {
        Ok(tags) => TagsRead { tags, unread: None },
        Err(why) => TagsRead {
            tags: TagBytes::new(),
            unread: Some(format!("its tag could not be read: {why}")),
        },
    }
}

fn fetch_tags_scratch(
    yanked: &[(&Label, &VersionEntry)],
    url: &str,
    connections: &Connections,
) -> Result<TagBytes, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let repo = gix::init_bare(scratch.path()).map_err(|e| e.to_string())?;
    let tags = tag_ids(yanked);
    let commits: Vec<ObjectId> = yanked.iter().map(|(_, e)| e.commit).collect();
    connections
        .fetch_objects_having(&repo, url, &tags, &commits)
        .map_err(|e| git::causes(&e))?;
    Ok(tags
        .into_iter()
        .filter_map(|id| match git::read_object(&repo, id) {
            Ok(Some((gix::object::Kind::Tag, bytes))) => Some((id, bytes)),
            _ => None,
        })
        .collect())
}

fn yank_line(bytes: &[u8], target: &YankTarget, t: &TrustTag) -> YankLine {
    let verdict = judge_yank(
        target,
        ListedTag {
            listed: t.signer,
            bytes,
        },
        None,
    );
    YankLine {
        signer: t.signer,
        reason: verdict.reason.clone(),
        ignored: match verdict.status {
            YankStatus::Counts { .. } => None,
            YankStatus::Ignored { why } => Some(why),
        },
        unknown: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atom_lock::registry::Namespace;
    use atom_trust::Tagger;

    fn oid(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn target(version: &str) -> YankTarget {
        YankTarget {
            label: Label::parse("a").unwrap(),
            version: Version::parse(version).unwrap(),
            commit: oid(1),
            root: oid(9),
        }
    }

    /// An unsigned yank tag of `target`: the listing's view of it, and its
    /// bytes.
    fn yank(target: &YankTarget, reason: &str) -> (TrustTag, Vec<u8>) {
        let statement = YankStatement::new(target, Reason::new(reason).unwrap());
        let tagger = Tagger::new("CI", "ci@example.com", 1_760_000_000).unwrap();
        let tag = make_yank(None, &statement, &tagger).unwrap();
        let listed = TrustTag {
            signer: tag.signer,
            tag: tag.id,
        };
        (listed, tag.bytes)
    }

    /// A listing of `a` 1.0.0 (commit 1, root 9) with `yanks`.
    fn listing(yanks: Vec<TrustTag>) -> Listing {
        let mut listing = Listing {
            root: Some(oid(9)),
            ..Listing::default()
        };
        listing.atoms.insert(
            Label::parse("a").unwrap(),
            vec![VersionEntry {
                version: Version::parse("1.0.0").unwrap(),
                commit: oid(1),
                manifest: None,
                origin: None,
                namespace: Namespace::Atoms,
                mirrors: vec![],
                signatures: vec![],
                yanks,
            }],
        );
        listing
    }

    fn lines(map: &BTreeMap<(Label, Version), Vec<YankLine>>) -> Vec<YankLine> {
        assert_eq!(map.len(), 1, "{map:?}");
        map.values().next().unwrap().clone()
    }

    /// Nothing answers at this URL: a fetch from it fails.
    const NOWHERE: &str = "file:///nonexistent/eka-yank-tests.git";

    /// Held by the tests that lock a cache: a process one of them forks
    /// (`git update-ref`) holds every open file of this one, another's
    /// cache lock included, until it runs git, which would make that
    /// other's [`Cache::try_open`] find its cache busy.
    static CACHE_LOCKS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        CACHE_LOCKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Offline, kept tags are judged as online (one counts, one copied
    /// from another version does not), and a tag the cache lacks gives a
    /// line saying so; without a cache, every tag is one it lacks.
    #[test]
    fn kept_yanks_are_judged_as_online() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let counts = yank(&target("1.0.0"), "broken");
        let copied = yank(&target("2.0.0"), "copied");
        let unkept = yank(&target("1.0.0"), "not kept");
        let listing = listing(vec![counts.0, copied.0, unkept.0]);
        let none = lines(&kept_yanks(&listing, dir.path()));
        assert!(none.iter().all(|l| l.unknown.as_deref() == Some(NOT_KEPT)));

        let cache = Cache::open(dir.path(), Access::Write).unwrap();
        cache
            .keep_yank_tags(&[(counts.0.tag, &counts.1), (copied.0.tag, &copied.1)])
            .unwrap();
        drop(cache);
        let got = lines(&kept_yanks(&listing, dir.path()));
        assert_eq!(got[0].reason.as_deref(), Some("broken"));
        assert_eq!((&got[0].ignored, &got[0].unknown), (&None, &None));
        assert!(
            got[1]
                .ignored
                .as_deref()
                .unwrap()
                .starts_with("a yank of another atom"),
            "{:?}",
            got[1]
        );
        assert_eq!(got[1].unknown, None);
        assert_eq!(got[2].reason, None);
        assert_eq!(got[2].unknown.as_deref(), Some(NOT_KEPT));
    }

    /// Online, the tags the cache keeps are not fetched again: with every
    /// tag kept, the reasons show though the remote cannot be reached.
    /// One it lacks is fetched, and that failing is a line for that tag,
    /// not an error; a cache that cannot be used is read around.
    #[test]
    fn online_reads_fetch_only_the_tags_the_cache_lacks() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let connections = Connections::new(dir.path());
        let kept = yank(&target("1.0.0"), "broken");
        let cache = Cache::open(dir.path(), Access::Write).unwrap();
        cache.keep_yank_tags(&[(kept.0.tag, &kept.1)]).unwrap();
        drop(cache);
        let all_kept = listing(vec![kept.0]);
        let got = lines(&yanks(&all_kept, NOWHERE, &connections, Some(dir.path())));
        assert_eq!(got[0].reason.as_deref(), Some("broken"), "{got:?}");

        let missing = yank(&target("1.0.0"), "missing");
        let one_missing = listing(vec![kept.0, missing.0]);
        let got = lines(&yanks(
            &one_missing,
            NOWHERE,
            &connections,
            Some(dir.path()),
        ));
        assert_eq!(got[0].reason.as_deref(), Some("broken"), "{got:?}");
        assert!(
            got[1]
                .unknown
                .as_deref()
                .unwrap()
                .starts_with("its tag could not be read"),
            "{got:?}"
        );

        // A file where the cache's folder would be: no cache, no failure.
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let got = lines(&yanks(&all_kept, NOWHERE, &connections, Some(&file)));
        assert!(
            got[0]
                .unknown
                .as_deref()
                .unwrap()
                .starts_with("its tag could not be read"),
            "{got:?}"
        );
    }
}
