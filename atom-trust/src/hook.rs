//! The rules a registry enforces on every push, as a pure function: given
//! the ref updates of a push and read access to the repository, the list of
//! refusals (empty: accept). `eka hook` feeds it what git gives a
//! `pre-receive` (or `update`) hook and prints each refusal on one line.
//!
//! Stock git servers protect only branches (`receive.denyNonFastForwards`,
//! `receive.denyDeletes`), so without these rules a plain `git push --force`
//! or `git push :refs/atoms/a/1.0.0` rewrites or deletes a published
//! version.

use std::collections::BTreeMap;
use std::fmt;

use atom_format::commit::AtomCommitError;
use atom_format::refs::{
    AtomRef, AtomVersion, Namespace, RefParseError, ATOMS_PREFIX, EKA03_ROOT_REF, ROOT_REF,
};
use atom_format::{AtomCommit, ContentDigest};
use gix::ObjectId;

use crate::policy::{
    judge_signature, judge_yank, ListedTag, Policy, PolicyRefusal, SignatureStatus,
};
use crate::refs::TrustRef;
use crate::statement::{Statement, YankTarget};
use crate::time::Timestamp;
use crate::verify::check_yank_tag;

/// The namespaces whose refs are create-only.
pub const PROTECTED_PREFIXES: [&str; 2] = [ATOMS_PREFIX, "refs/eka/"];

/// Whether a ref is one a registry never lets move or disappear.
pub fn is_protected(name: &str) -> bool {
    name == EKA03_ROOT_REF || PROTECTED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// One ref update of a push, as git gives it to a hook (the null id for
/// "absent").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: ObjectId,
    pub new: ObjectId,
    pub name: String,
}

/// A git object's kind and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    pub kind: gix::object::Kind,
    pub data: Vec<u8>,
}

/// An error reading the repository.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the hook reads: the repository as it is before the push's ref
/// updates (its objects include the pushed ones, as git's quarantine
/// shows them to hooks).
pub trait HookRepository {
    /// A ref's current value.
    fn reference(&self, name: &str) -> Result<Option<ObjectId>, BoxError>;
    /// The current refs under a prefix.
    fn references(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, BoxError>;
    /// An object; `None` if absent.
    fn object(&self, id: &ObjectId) -> Result<Option<Object>, BoxError>;
    /// The content digest of an atom tree (`atom_format::digest`).
    fn content_digest(&self, tree: &ObjectId) -> Result<ContentDigest, BoxError>;
}

/// Which hook runs the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookMode {
    /// `pre-receive`: every update of the push at once, so the rules that
    /// relate refs of one push (a version's manifest, origin and signatures)
    /// hold in full.
    PreReceive,
    /// `update`: one ref at a time, before git has updated the others, so a
    /// sibling ref the same push creates is not visible yet: a missing
    /// manifest, origin or signature is then not refused (the push may be
    /// bringing it), but one that is there must be right.
    Update,
}

/// What the rules are given beyond the push.
#[derive(Clone, Copy, Debug)]
pub struct HookRules<'a> {
    pub mode: HookMode,
    /// The registry's policy: with one, every new version needs a signature
    /// it allows, and every new signature and yank must be by a key it
    /// allows.
    pub policy: Option<&'a Policy>,
    /// With a policy: the receiving time and how far a new signature's or
    /// yank's signing time may be from it. A revoked key (`valid-before`)
    /// could otherwise sign with a forged earlier time.
    pub clock: Option<(Timestamp, u64)>,
}

/// Why a push is refused, for one ref: one line the pushing client shows
/// (the reason and its causes).
#[derive(Debug)]
pub struct Refusal {
    pub name: String,
    pub reason: RefusalReason,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, crate::causes(&self.reason))
    }
}

/// Why one ref update is refused.
#[derive(Debug, thiserror::Error)]
pub enum RefusalReason {
    #[error("deleting a published ref is refused: published versions are immutable")]
    Delete,
    #[error(
        "moving a published ref is refused (from {old} to {new}): published versions are immutable"
    )]
    Move { old: ObjectId, new: ObjectId },
    #[error(transparent)]
    TrustRefName(RefParseError),
    #[error("not a ref of the atom format: {}", .0.why)]
    AtomRefName(RefParseError),
    #[error("not a ref of the atom format (refs/eka/ holds only eka 0.3's atoms)")]
    Foreign,
    #[error("{id} is a {actual}, not a {expected}")]
    WrongKind {
        id: ObjectId,
        actual: gix::object::Kind,
        expected: gix::object::Kind,
    },
    #[error("the object {0} is missing")]
    MissingObject(ObjectId),
    #[error("{0} has parents; the root ref names a root commit")]
    RootWithParents(ObjectId),
    #[error("its {kind} ref {name} is missing")]
    MissingSibling { kind: &'static str, name: String },
    #[error("its origin ref {name} holds {holds}, but the atom commit's origin is {origin}")]
    OriginMismatch {
        name: String,
        holds: ObjectId,
        origin: ObjectId,
    },
    #[error("{id} is not an atom commit in the format's layout")]
    NotAnAtomCommit {
        id: ObjectId,
        #[source]
        source: AtomCommitError,
    },
    #[error("{id} publishes {label}@{version}, not {expected}")]
    OtherAtom {
        id: ObjectId,
        label: atom_format::Label,
        version: semver::Version,
        expected: AtomVersion,
    },
    #[error("the atom's content has no digest")]
    Digest(#[source] BoxError),
    #[error("there is no version {0} to sign or yank")]
    NoVersion(AtomVersion),
    #[error("the registry has no {ROOT_REF}")]
    NoRoot,
    #[error("the registry's policy refuses it: {}", .0.why)]
    Policy(PolicyRefusal),
    #[error("the signature is refused: {0}")]
    Signature(SignatureStatus),
    #[error("the yank is refused: {0}")]
    Yank(String),
    #[error("signed at {at}, but received at {now}: the registry accepts signatures made within {skew} s of their push")]
    Clock {
        at: Timestamp,
        now: Timestamp,
        skew: u64,
    },
    #[error("cannot read {what}")]
    Read {
        what: String,
        #[source]
        source: BoxError,
    },
}

/// Checks a push; returns every refusal (empty: accept).
pub fn check_push(
    updates: &[RefUpdate],
    repo: &dyn HookRepository,
    rules: &HookRules<'_>,
) -> Vec<Refusal> {
    let push = Push {
        updates: updates.iter().map(|u| (u.name.as_str(), u)).collect(),
        repo,
        rules,
    };
    let mut refusals = Vec::new();
    for update in updates.iter().filter(|u| is_protected(&u.name)) {
        if let Err(reason) = push.check(update) {
            refusals.push(Refusal {
                name: update.name.clone(),
                reason,
            });
        }
    }
    refusals
}

struct Push<'a> {
    updates: BTreeMap<&'a str, &'a RefUpdate>,
    repo: &'a dyn HookRepository,
    rules: &'a HookRules<'a>,
}

/// A sibling ref after the push.
enum After {
    Present(ObjectId),
    Absent,
    /// Not visible to an `update` hook.
    Unknown,
}

type Checked = Result<(), RefusalReason>;

impl Push<'_> {
    fn check(&self, u: &RefUpdate) -> Checked {
        if u.old == u.new {
            return Ok(());
        }
        if !u.old.is_null() {
            return Err(if u.new.is_null() {
                RefusalReason::Delete
            } else {
                RefusalReason::Move {
                    old: u.old,
                    new: u.new,
                }
            });
        }
        if let Some(trust) = TrustRef::parse(&u.name) {
            let trust = trust.map_err(RefusalReason::TrustRefName)?;
            return self.check_trust_ref(&trust, u.new);
        }
        match AtomRef::parse_any(&u.name) {
            Some(Ok((namespace, r))) => self.check_atom_ref(namespace, &r, u.new),
            Some(Err(e)) => Err(RefusalReason::AtomRefName(e)),
            None => Err(RefusalReason::Foreign),
        }
    }

    fn after(&self, name: &str) -> Result<After, RefusalReason> {
        if let Some(u) = self.updates.get(name) {
            return Ok(if u.new.is_null() {
                After::Absent
            } else {
                After::Present(u.new)
            });
        }
        match self.repo.reference(name).map_err(|e| read_error(name, e))? {
            Some(id) => Ok(After::Present(id)),
            None if self.rules.mode == HookMode::Update => Ok(After::Unknown),
            None => Ok(After::Absent),
        }
    }

    fn object(&self, id: &ObjectId, kind: gix::object::Kind) -> Result<Vec<u8>, RefusalReason> {
        match self
            .repo
            .object(id)
            .map_err(|e| read_error(&id.to_string(), e))?
        {
            Some(o) if o.kind == kind => Ok(o.data),
            Some(o) => Err(RefusalReason::WrongKind {
                id: *id,
                actual: o.kind,
                expected: kind,
            }),
            None => Err(RefusalReason::MissingObject(*id)),
        }
    }

    fn check_atom_ref(&self, namespace: Namespace, r: &AtomRef, new: ObjectId) -> Checked {
        use gix::object::Kind;
        match r {
            AtomRef::Atom(v) => self.check_version(namespace, v, new),
            AtomRef::Manifest(_) => self.object(&new, Kind::Blob).map(drop),
            AtomRef::Origin(_) => self.object(&new, Kind::Commit).map(drop),
            AtomRef::Root => {
                let commit = self.object(&new, Kind::Commit)?;
                if has_parents(&commit) {
                    return Err(RefusalReason::RootWithParents(new));
                }
                Ok(())
            }
        }
    }

    /// A new version: its commit in the format's layout, its manifest and
    /// origin refs there, and (with a policy) an allowed signature.
    fn check_version(&self, namespace: Namespace, v: &AtomVersion, new: ObjectId) -> Checked {
        let commit = self.atom_commit(v, new)?;
        let manifest = AtomRef::Manifest(v.clone()).name_in(namespace);
        let origin = AtomRef::Origin(v.clone()).name_in(namespace);
        match self.after(&manifest)? {
            After::Absent => {
                return Err(RefusalReason::MissingSibling {
                    kind: "manifest",
                    name: manifest,
                })
            }
            After::Present(_) | After::Unknown => {}
        }
        match self.after(&origin)? {
            After::Absent => {
                return Err(RefusalReason::MissingSibling {
                    kind: "origin",
                    name: origin,
                })
            }
            After::Present(id) if id != commit.origin => {
                return Err(RefusalReason::OriginMismatch {
                    name: origin,
                    holds: id,
                    origin: commit.origin,
                })
            }
            After::Present(_) | After::Unknown => {}
        }
        match self.rules.policy {
            Some(policy) => self.check_signed(policy, v, new, &commit),
            None => Ok(()),
        }
    }

    fn atom_commit(&self, v: &AtomVersion, id: ObjectId) -> Result<AtomCommit, RefusalReason> {
        let bytes = self.object(&id, gix::object::Kind::Commit)?;
        let commit = AtomCommit::parse(&bytes)
            .map_err(|source| RefusalReason::NotAnAtomCommit { id, source })?;
        if commit.label != v.label || commit.version != v.version {
            return Err(RefusalReason::OtherAtom {
                id,
                label: commit.label,
                version: commit.version,
                expected: v.clone(),
            });
        }
        Ok(commit)
    }

    /// The atom as a statement would describe it, from the refs after the
    /// push and its content.
    fn atom_statement(
        &self,
        v: &AtomVersion,
    ) -> Result<Option<(Statement, AtomCommit)>, RefusalReason> {
        let Some((commit_id, root)) = self.commit_and_root(v)? else {
            return Ok(None);
        };
        let commit = self.atom_commit(v, commit_id)?;
        let digest = self
            .repo
            .content_digest(&commit.tree)
            .map_err(RefusalReason::Digest)?;
        let statement = Statement::new(
            v.label.clone(),
            v.version.clone(),
            commit_id,
            commit.origin,
            root,
            digest,
        );
        Ok(Some((statement, commit)))
    }

    /// The version's commit and the registry root after the push; `None`
    /// when an `update` hook cannot see them yet.
    fn commit_and_root(
        &self,
        v: &AtomVersion,
    ) -> Result<Option<(ObjectId, ObjectId)>, RefusalReason> {
        let atom = AtomRef::Atom(v.clone());
        let names = [
            atom.name_in(Namespace::Atoms),
            atom.name_in(Namespace::Eka03),
        ];
        let commit = match self.first_of(&names)? {
            After::Present(id) => id,
            After::Absent => return Err(RefusalReason::NoVersion(v.clone())),
            After::Unknown => return Ok(None),
        };
        match self.root()? {
            Some(root) => Ok(Some((commit, root))),
            None => Ok(None),
        }
    }

    /// The registry root after the push (`_root`, or eka 0.3's
    /// `refs/ekala/init`); `None` when an `update` hook cannot see it.
    fn root(&self) -> Result<Option<ObjectId>, RefusalReason> {
        match self.first_of(&[ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()])? {
            After::Present(id) => Ok(Some(id)),
            After::Absent => Err(RefusalReason::NoRoot),
            After::Unknown => Ok(None),
        }
    }

    /// The first of these refs present after the push.
    fn first_of(&self, names: &[String]) -> Result<After, RefusalReason> {
        let mut unknown = false;
        for name in names {
            match self.after(name)? {
                After::Present(id) => return Ok(After::Present(id)),
                After::Unknown => unknown = true,
                After::Absent => {}
            }
        }
        Ok(if unknown {
            After::Unknown
        } else {
            After::Absent
        })
    }

    fn check_signed(
        &self,
        policy: &Policy,
        v: &AtomVersion,
        new: ObjectId,
        commit: &AtomCommit,
    ) -> Checked {
        let Some(root) = self.root()? else {
            return Ok(());
        };
        let digest = self
            .repo
            .content_digest(&commit.tree)
            .map_err(RefusalReason::Digest)?;
        let statement = Statement::new(
            v.label.clone(),
            v.version.clone(),
            new,
            commit.origin,
            root,
            digest,
        );
        let tags = self.signature_tags(v)?;
        if tags.is_empty() && self.rules.mode == HookMode::Update {
            return Ok(());
        }
        let evaluation = policy.evaluate(
            &statement,
            tags.iter().map(|(listed, bytes)| ListedTag {
                listed: Some(*listed),
                bytes,
            }),
        );
        evaluation
            .into_result()
            .map(drop)
            .map_err(RefusalReason::Policy)
    }

    /// The signature tags of a version after the push.
    fn signature_tags(
        &self,
        v: &AtomVersion,
    ) -> Result<Vec<(crate::KeyFingerprint, Vec<u8>)>, RefusalReason> {
        let prefix = format!("{ATOMS_PREFIX}_sig/{}/{}/", v.label, v.version);
        let mut refs: BTreeMap<String, ObjectId> = self
            .repo
            .references(&prefix)
            .map_err(|e| read_error(&prefix, e))?
            .into_iter()
            .collect();
        for (name, u) in self
            .updates
            .range(prefix.as_str()..)
            .take_while(|(n, _)| n.starts_with(&prefix))
        {
            if u.new.is_null() {
                refs.remove(*name);
            } else {
                refs.insert((*name).to_owned(), u.new);
            }
        }
        let mut out = Vec::new();
        for (name, id) in refs {
            if let Some(Ok(TrustRef::Signature { signer, .. })) = TrustRef::parse(&name) {
                out.push((signer, self.object(&id, gix::object::Kind::Tag)?));
            }
        }
        Ok(out)
    }

    fn check_trust_ref(&self, r: &TrustRef, new: ObjectId) -> Checked {
        let bytes = self.object(&new, gix::object::Kind::Tag)?;
        let signers = self.rules.policy.map(|p| &p.signers);
        match r {
            TrustRef::Signature { atom, signer } => {
                let Some((statement, _)) = self.atom_statement(atom)? else {
                    return Ok(());
                };
                let verdict = judge_signature(
                    &statement,
                    ListedTag {
                        listed: Some(*signer),
                        bytes: &bytes,
                    },
                    signers,
                );
                match verdict.status {
                    SignatureStatus::Allowed { .. } | SignatureStatus::Good => {
                        self.check_clock(verdict.signed_at)
                    }
                    status => Err(RefusalReason::Signature(status)),
                }
            }
            TrustRef::Yank { atom, signer } => {
                let Some((commit, root)) = self.commit_and_root(atom)? else {
                    return Ok(());
                };
                let target = YankTarget {
                    label: atom.label.clone(),
                    version: atom.version.clone(),
                    commit,
                    root,
                };
                let verdict = judge_yank(
                    &target,
                    ListedTag {
                        listed: *signer,
                        bytes: &bytes,
                    },
                    signers,
                );
                match verdict.status {
                    crate::policy::YankStatus::Counts { .. } => {
                        let signed_at = check_yank_tag(&bytes)
                            .ok()
                            .and_then(|c| c.signer.map(|s| s.signed_at));
                        self.check_clock(signed_at)
                    }
                    crate::policy::YankStatus::Ignored { why } => Err(RefusalReason::Yank(why)),
                }
            }
        }
    }

    /// With a policy and a clock: the signing time is near the receiving
    /// time.
    fn check_clock(&self, signed_at: Option<Timestamp>) -> Checked {
        let (Some(_), Some((now, skew)), Some(at)) =
            (self.rules.policy, self.rules.clock, signed_at)
        else {
            return Ok(());
        };
        if now.0.abs_diff(at.0) > skew {
            return Err(RefusalReason::Clock { at, now, skew });
        }
        Ok(())
    }
}

fn has_parents(commit: &[u8]) -> bool {
    commit
        .split(|&b| b == b'\n')
        .take_while(|l| !l.is_empty())
        .any(|l| l.starts_with(b"parent "))
}

fn read_error(what: &str, source: BoxError) -> RefusalReason {
    RefusalReason::Read {
        what: what.to_owned(),
        source,
    }
}
