//! Yanking (`spec/trust.md` §6): withdrawing a published version without
//! deleting or moving anything, by one new create-only ref
//! `refs/atoms/_yank/<label>/<version>/<signer|unsigned>` to a tag whose
//! message is the yank statement, signed when a key is given or
//! configured.

use std::collections::BTreeMap;
use std::path::PathBuf;

use atom_format::refs::{AtomRef, AtomVersion, Namespace, ATOMS_PREFIX, EKA03_ROOT_REF, ROOT_REF};
use atom_format::Label;
use atom_git::{self as git, Connections};
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
    /// signature), or why it could not be read.
    pub ignored: Option<String>,
}

/// The yanks of every yanked version of `listing`, read from their tags in
/// one fetch from `url` of the tags alone (the server is told we have the
/// atom commits, so only the tags come). Without a policy (`spec/trust.md`
/// §6): a yank counts when it is about this version and any signature it
/// carries verifies.
pub fn yanks(
    listing: &Listing,
    url: &str,
    connections: &Connections,
) -> BTreeMap<(Label, Version), Vec<YankLine>> {
    let yanked: Vec<(&Label, &VersionEntry)> = listing
        .atoms
        .iter()
        .flat_map(|(l, vs)| vs.iter().filter(|v| v.is_yanked()).map(move |v| (l, v)))
        .collect();
    if yanked.is_empty() {
        return BTreeMap::new();
    }
    let read = read_tags(&yanked, url, connections);
    let mut out = BTreeMap::new();
    for (label, entry) in yanked {
        let lines = entry
            .yanks
            .iter()
            .map(|t| match (&read, listing.root) {
                (Err(why), _) => YankLine {
                    signer: t.signer,
                    reason: None,
                    ignored: Some(format!("its tag could not be read: {why}")),
                },
                (Ok(_), None) => YankLine {
                    signer: t.signer,
                    reason: None,
                    ignored: Some("the registry has no root".into()),
                },
                (Ok(repo), Some(root)) => {
                    let target = YankTarget {
                        label: label.clone(),
                        version: entry.version.clone(),
                        commit: entry.commit,
                        root,
                    };
                    yank_line(repo, &target, t)
                }
            })
            .collect();
        out.insert((label.clone(), entry.version.clone()), lines);
    }
    out
}

/// The yank tags of `yanked`, fetched into a scratch repository.
fn read_tags(
    yanked: &[(&Label, &VersionEntry)],
    url: &str,
    connections: &Connections,
) -> Result<(tempfile::TempDir, gix::Repository), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let repo = gix::init_bare(scratch.path()).map_err(|e| e.to_string())?;
    let tags: Vec<ObjectId> = yanked
        .iter()
        .flat_map(|(_, e)| e.yanks.iter().map(|t| t.tag))
        .collect();
    let commits: Vec<ObjectId> = yanked.iter().map(|(_, e)| e.commit).collect();
    connections
        .fetch_objects_having(&repo, url, &tags, &commits)
        .map_err(|e| git::causes(&e))?;
    Ok((scratch, repo))
}

fn yank_line(
    (_, repo): &(tempfile::TempDir, gix::Repository),
    target: &YankTarget,
    t: &TrustTag,
) -> YankLine {
    let bytes = match git::read_object(repo, t.tag) {
        Ok(Some((gix::object::Kind::Tag, bytes))) => bytes,
        _ => {
            return YankLine {
                signer: t.signer,
                reason: None,
                ignored: Some(format!("its tag {} is not a tag the server sent", t.tag)),
            }
        }
    };
    let verdict = judge_yank(
        target,
        ListedTag {
            listed: t.signer,
            bytes: &bytes,
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
    }
}
