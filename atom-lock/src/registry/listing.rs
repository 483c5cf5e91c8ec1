//! What a set's mirrors publish, read from their ref listings: one
//! [`Listing`] per question, whatever asked it (a query or resolution).
//! Each mirror's refs are read into atoms ([`read_refs`]), then the mirrors
//! are merged: their roots must agree ([`merged_root`]), and so must every
//! version they both list ([`merged_versions`]).

use std::collections::BTreeMap;

use atom_format::refs::{AtomRef, AtomVersion};
use atom_format::{AtomId, Label};
use atom_git::RemoteRef;
use atom_trust::{KeyFingerprint, TrustRef};
use gix::ObjectId;
use semver::{Version, VersionReq};

use super::{ManifestWant, QueryOptions, RegistryError};
use crate::RepoUrl;

/// The ref layout a version was found in: atom-format's, re-exported.
pub use atom_format::refs::Namespace;

/// The full name of `kind` in `namespace` (`kind` is an [`AtomRef`]
/// constructor).
fn ref_in(namespace: Namespace, kind: fn(AtomVersion) -> AtomRef, v: &AtomVersion) -> String {
    kind(v.clone()).name_in(namespace)
}

/// One published version of an atom, as the mirrors list it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VersionEntry {
    pub version: Version,
    /// The atom commit.
    #[serde(serialize_with = "ser_oid")]
    pub commit: ObjectId,
    /// The `atom.toml` blob, when the listing included manifest refs.
    #[serde(serialize_with = "ser_opt_oid")]
    pub manifest: Option<ObjectId>,
    /// The source commit, when the listing included origin refs.
    #[serde(serialize_with = "ser_opt_oid")]
    pub origin: Option<ObjectId>,
    pub namespace: Namespace,
    /// The mirrors (URLs) that list this version.
    pub mirrors: Vec<String>,
    /// Its signatures, as listed (`refs/atoms/_sig/…`; `spec/trust.md` §3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<TrustTag>,
    /// Its yanks, as listed (`refs/atoms/_yank/…`; `spec/trust.md` §6).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub yanks: Vec<TrustTag>,
}

/// A signature or yank of a version, as a listing shows it: who its ref
/// names, and the tag it points at (read only to show a yank's reason or
/// to check a signature).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct TrustTag {
    /// `None` for an unsigned yank.
    pub signer: Option<KeyFingerprint>,
    #[serde(serialize_with = "ser_oid")]
    pub tag: ObjectId,
}

impl VersionEntry {
    /// Whether the listing shows a yank of this version. On a set without
    /// a policy, any yank counts (whoever can push one can also publish:
    /// `spec/trust.md` §6), so the listing alone decides; on a set with
    /// one, resolution's registry has already dropped the yanks that do
    /// not count ([`GitRegistry::with_yank_signers`](super::git::GitRegistry::with_yank_signers)).
    pub fn is_yanked(&self) -> bool {
        !self.yanks.is_empty()
    }

    /// What [`fetch_manifests`](super::manifests::fetch_manifests) needs to fetch this version's manifest.
    pub fn manifest_want(&self, label: &Label) -> ManifestWant {
        ManifestWant {
            version: AtomVersion::new(label.clone(), self.version.clone()),
            namespace: self.namespace,
            blob: self.manifest,
        }
    }
}

/// Something a caller should tell the user about; the query still answered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum QueryWarning {
    /// A ref under an atoms prefix that is not `<label>/<version>`.
    #[error("`{url}`: ignoring `{name}`: {why}")]
    IgnoredRef {
        url: String,
        name: String,
        why: String,
    },
    /// A yank that does not count on a set with a policy: it is not
    /// signed by a key the policy allows (`spec/trust.md` §6).
    #[error("ignoring a yank of {label}@{version} in {set} ({}): {why}", .signer.map_or_else(|| "unsigned".to_owned(), |s| format!("signer {s}")))]
    IgnoredYank {
        set: String,
        label: Label,
        version: Version,
        signer: Option<KeyFingerprint>,
        why: String,
    },
    /// A mirror that could not be asked (others answered).
    #[error("mirror `{url}` is unreachable: {why}")]
    Unreachable { url: String, why: String },
    /// A listing that could not be kept for `--offline`.
    #[error("the listing of `{url}` could not be kept for --offline: {why}")]
    NotKept { url: String, why: String },
    /// One version in both namespaces of one mirror, with different commits:
    /// the `refs/atoms/` one is used.
    #[error("`{url}`: `{legacy_ref}` points to {legacy}, but `{atom_ref}` to {current}; using the latter")]
    NamespaceConflict {
        url: String,
        atom_ref: String,
        current: String,
        legacy_ref: String,
        legacy: String,
    },
}

/// The merged answer of the mirrors.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Listing {
    /// The repository root commit (`refs/atoms/_root`, or eka 0.3's
    /// `refs/ekala/init`), if the repository publishes one.
    #[serde(serialize_with = "ser_opt_oid")]
    pub root: Option<ObjectId>,
    /// Every atom found, each with its versions, newest first.
    pub atoms: BTreeMap<Label, Vec<VersionEntry>>,
    /// The mirrors that answered, in the order they were given.
    #[serde(serialize_with = "ser_urls")]
    pub answered: Vec<RepoUrl>,
    pub warnings: Vec<QueryWarning>,
    /// Offline, answered from kept listings: when the oldest one used was
    /// made (see [`super::listings`]).
    #[serde(skip)]
    pub listed: Option<std::time::SystemTime>,
}

impl Listing {
    /// The versions of `label`, newest first (empty if there are none).
    pub fn versions(&self, label: &Label) -> &[VersionEntry] {
        self.atoms.get(label).map_or(&[], Vec::as_slice)
    }

    /// The atom id of `label` in this repository, if its root is known.
    pub fn atom_id(&self, label: &Label) -> Option<AtomId> {
        self.root.map(|r| AtomId::compute(&r, label))
    }

    /// The highest version of `label` matching `req`. Without a requirement:
    /// the highest release, or the highest pre-release if there is no
    /// release (a requirement matches pre-releases only as semver says).
    pub fn select(
        &self,
        label: &Label,
        req: Option<&VersionReq>,
    ) -> Result<&VersionEntry, RegistryError> {
        let versions = self.versions(label);
        // A yanked version is never picked.
        let versions_left: Vec<&VersionEntry> =
            versions.iter().filter(|v| !v.is_yanked()).collect();
        let found = match req {
            Some(req) => versions_left.into_iter().find(|v| req.matches(&v.version)),
            None => versions_left
                .iter()
                .find(|v| v.version.pre.is_empty())
                .or(versions_left.first())
                .copied(),
        };
        found.ok_or_else(|| RegistryError::NoMatch {
            label: label.clone(),
            req: req.map_or_else(|| "*".to_owned(), ToString::to_string),
            available: versions
                .iter()
                .filter(|v| !v.is_yanked())
                .map(|v| v.version.clone())
                .collect(),
        })
    }
}

/// One mirror's refs, read into atoms.
#[derive(Default)]
pub(super) struct MirrorRefs {
    root: Option<ObjectId>,
    /// (namespace, version) -> (atom commit, manifest, origin)
    versions: BTreeMap<(AtomVersion, Namespace), Slot>,
    /// version -> its signatures and yanks
    trust: BTreeMap<AtomVersion, TrustSlot>,
}

#[derive(Default)]
struct TrustSlot {
    signatures: Vec<TrustTag>,
    yanks: Vec<TrustTag>,
}

#[derive(Default, Clone, Copy)]
struct Slot {
    commit: Option<ObjectId>,
    manifest: Option<ObjectId>,
    origin: Option<ObjectId>,
}

pub(super) fn read_refs(
    url: &str,
    refs: &[RemoteRef],
    warnings: &mut Vec<QueryWarning>,
) -> MirrorRefs {
    let mut out = MirrorRefs::default();
    let mut legacy_root = None;
    for r in refs {
        match TrustRef::parse(&r.name) {
            Some(Ok(t)) => {
                let slot = out.trust.entry(t.atom().clone()).or_default();
                let tag = TrustTag {
                    signer: t.signer(),
                    tag: r.target,
                };
                match t {
                    TrustRef::Signature { .. } => slot.signatures.push(tag),
                    TrustRef::Yank { .. } => slot.yanks.push(tag),
                }
                continue;
            }
            Some(Err(e)) => {
                warnings.push(QueryWarning::IgnoredRef {
                    url: url.to_owned(),
                    name: r.name.clone(),
                    why: e.why,
                });
                continue;
            }
            None => {}
        }
        match AtomRef::parse_any(&r.name) {
            None => {}
            Some(Err(e)) => warnings.push(QueryWarning::IgnoredRef {
                url: url.to_owned(),
                name: r.name.clone(),
                why: e.why,
            }),
            Some(Ok((namespace, kind))) => {
                let (v, set): (AtomVersion, fn(&mut Slot, ObjectId)) = match kind {
                    AtomRef::Root => {
                        match namespace {
                            Namespace::Atoms => out.root = Some(r.target),
                            Namespace::Eka03 => legacy_root = Some(r.target),
                        }
                        continue;
                    }
                    AtomRef::Atom(v) => (v, |s, id| s.commit = Some(id)),
                    AtomRef::Manifest(v) => (v, |s, id| s.manifest = Some(id)),
                    AtomRef::Origin(v) => (v, |s, id| s.origin = Some(id)),
                };
                set(out.versions.entry((v, namespace)).or_default(), r.target);
            }
        }
    }
    // eka 0.3's root stands in when the repository has no `_root` (the two
    // agree on single-root histories).
    out.root = out.root.or(legacy_root);
    // Metadata without an atom commit names no version.
    out.versions.retain(|(v, ns), slot| {
        if slot.commit.is_none() {
            let name = ref_in(*ns, AtomRef::Atom, v);
            warnings.push(QueryWarning::IgnoredRef {
                url: url.to_owned(),
                name: if slot.manifest.is_some() {
                    ref_in(*ns, AtomRef::Manifest, v)
                } else {
                    ref_in(*ns, AtomRef::Origin, v)
                },
                why: format!("`{name}` does not exist"),
            });
        }
        slot.commit.is_some()
    });
    out
}

/// Each answering mirror's URL and refs.
pub(super) type Mirrors = [(RepoUrl, MirrorRefs)];

/// The repository root the mirrors agree on: all that have one must have
/// the same, and the expected one (a lock's); with
/// [`QueryOptions::same_root`], a mirror without one disagrees too.
pub(super) fn merged_root(
    mirrors: &Mirrors,
    options: &QueryOptions,
) -> Result<Option<ObjectId>, RegistryError> {
    let disagree = |url_a: &str, a: String, url_b: &RepoUrl, b: String| RegistryError::Disagree {
        set: None,
        what: format!("the repository root ({})", atom_format::refs::ROOT_REF),
        url_a: url_a.to_owned(),
        a,
        url_b: url_b.to_string(),
        b,
    };
    let mut root_from: Option<(String, ObjectId)> = None;
    for (url, m) in mirrors {
        check_expected_root(url, m, options.expected_root)?;
        match (&root_from, m.root) {
            (Some((u, first)), Some(r)) if *first != r => {
                return Err(disagree(u, first.to_string(), url, r.to_string()))
            }
            (None, Some(r)) => root_from = Some((url.to_string(), r)),
            _ => {}
        }
    }
    if let (true, Some((u, first))) = (options.same_root, &root_from) {
        if let Some((url, _)) = mirrors.iter().find(|(_, m)| m.root.is_none()) {
            return Err(disagree(u, first.to_string(), url, "none".to_owned()));
        }
    }
    Ok(root_from.map(|(_, r)| r))
}

/// Refuses a mirror that publishes atoms under another root than `expected`.
fn check_expected_root(
    url: &RepoUrl,
    m: &MirrorRefs,
    expected: Option<ObjectId>,
) -> Result<(), RegistryError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let publishes = m.root.is_some() || !m.versions.is_empty();
    if publishes && m.root != Some(expected) {
        return Err(RegistryError::UnexpectedRoot {
            url: url.to_string(),
            expected,
            found: m.root,
        });
    }
    Ok(())
}

/// One version as merged so far, and which mirror gave each of its fields.
struct Merged {
    entry: VersionEntry,
    /// The mirror that gave the commit, the manifest and the origin.
    from: [Option<String>; 3],
}

/// Every version the mirrors list, newest first per label: a version in
/// both namespaces of one mirror must have one commit (or the `refs/atoms/`
/// one is used, with a warning, unless [`QueryOptions::strict_namespaces`]),
/// and mirrors listing one version must agree on its commit, manifest and
/// origin.
pub(super) fn merged_versions(
    mirrors: &Mirrors,
    options: &QueryOptions,
    warnings: &mut Vec<QueryWarning>,
) -> Result<BTreeMap<Label, Vec<VersionEntry>>, RegistryError> {
    let mut merged: BTreeMap<AtomVersion, Merged> = BTreeMap::new();
    for (url, m) in mirrors {
        let url = url.to_string();
        for (v, (ns, slot)) in one_namespace_each(&url, m, options, warnings)? {
            merge_version(&mut merged, &url, v, ns, slot)?;
        }
    }
    for (_, m) in mirrors {
        for (v, slot) in &m.trust {
            if let Some(merged) = merged.get_mut(v) {
                add_unique(&mut merged.entry.signatures, &slot.signatures);
                add_unique(&mut merged.entry.yanks, &slot.yanks);
            }
        }
    }
    let mut atoms: BTreeMap<Label, Vec<VersionEntry>> = BTreeMap::new();
    for (v, m) in merged.into_iter().rev() {
        atoms.entry(v.label).or_default().push(m.entry);
    }
    Ok(atoms)
}

/// Adds the tags of `new` that `to` does not hold yet (mirrors list the
/// same refs), keeping `to` sorted.
fn add_unique(to: &mut Vec<TrustTag>, new: &[TrustTag]) {
    for t in new {
        if !to.contains(t) {
            to.push(*t);
        }
    }
    to.sort();
}

/// A mirror's versions, each in one namespace: this format's when it lists
/// the version in both (keys are ordered `Atoms` before `Eka03`).
fn one_namespace_each<'m>(
    url: &str,
    m: &'m MirrorRefs,
    options: &QueryOptions,
    warnings: &mut Vec<QueryWarning>,
) -> Result<BTreeMap<&'m AtomVersion, (Namespace, Slot)>, RegistryError> {
    let mut seen: BTreeMap<&AtomVersion, (Namespace, Slot)> = BTreeMap::new();
    for ((v, ns), slot) in &m.versions {
        let Some((first_ns, first)) = seen.get(v) else {
            seen.insert(v, (*ns, *slot));
            continue;
        };
        if first.commit == slot.commit {
            continue;
        }
        let (atom_ref, current) = (ref_in(*first_ns, AtomRef::Atom, v), oid_text(first.commit));
        let (legacy_ref, legacy) = (ref_in(*ns, AtomRef::Atom, v), oid_text(slot.commit));
        if options.strict_namespaces {
            return Err(RegistryError::NamespaceConflict {
                set: None,
                url: url.to_owned(),
                version: v.clone(),
                atom_ref,
                current,
                legacy_ref,
                legacy,
            });
        }
        warnings.push(QueryWarning::NamespaceConflict {
            url: url.to_owned(),
            atom_ref,
            current,
            legacy_ref,
            legacy,
        });
    }
    Ok(seen)
}

/// Adds one mirror's `slot` for `v` to `merged`; a field another mirror
/// gave differently is a disagreement.
fn merge_version(
    merged: &mut BTreeMap<AtomVersion, Merged>,
    url: &str,
    v: &AtomVersion,
    ns: Namespace,
    slot: Slot,
) -> Result<(), RegistryError> {
    let commit = slot.commit.expect("versions without a commit were dropped");
    let m = merged.entry(v.clone()).or_insert_with(|| Merged {
        entry: VersionEntry {
            version: v.version.clone(),
            commit,
            manifest: None,
            origin: None,
            namespace: ns,
            mirrors: Vec::new(),
            signatures: Vec::new(),
            yanks: Vec::new(),
        },
        from: [Some(url.to_owned()), None, None],
    });
    let fields: [(&str, &mut Option<ObjectId>, Option<ObjectId>); 3] = [
        ("commit", &mut Some(m.entry.commit), Some(commit)),
        ("manifest", &mut m.entry.manifest, slot.manifest),
        ("origin", &mut m.entry.origin, slot.origin),
    ];
    for (i, (what, have, new)) in fields.into_iter().enumerate() {
        let Some(new) = new else { continue };
        match have {
            Some(old) if *old != new => {
                return Err(RegistryError::Disagree {
                    set: None,
                    what: format!("the {what} of {v}"),
                    url_a: m.from[i].clone().unwrap_or_default(),
                    a: old.to_string(),
                    url_b: url.to_owned(),
                    b: new.to_string(),
                })
            }
            Some(_) => {}
            None => {
                *have = Some(new);
                m.from[i] = Some(url.to_owned());
            }
        }
    }
    m.entry.mirrors.push(url.to_owned());
    Ok(())
}

fn oid_text(id: Option<ObjectId>) -> String {
    id.map_or_else(|| "nothing".to_owned(), |i| i.to_string())
}

pub(super) fn ser_oid<S: serde::Serializer>(id: &ObjectId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn ser_opt_oid<S: serde::Serializer>(id: &Option<ObjectId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

fn ser_urls<S: serde::Serializer>(urls: &[RepoUrl], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(RepoUrl::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> ObjectId {
        ObjectId::Sha1([n; 20])
    }

    fn rr(name: &str, n: u8) -> RemoteRef {
        RemoteRef {
            name: name.to_owned(),
            target: oid(n),
        }
    }

    #[test]
    fn both_layouts_parse() {
        let ok = |n: &str| AtomRef::parse_any(n).unwrap().unwrap();
        assert_eq!(ok("refs/ekala/init").1, AtomRef::Root);
        assert_eq!(ok("refs/atoms/_root").0, Namespace::Atoms);
        let m = ok("refs/eka/meta/ひらがな/0.1.0/manifest");
        assert_eq!(m.0, Namespace::Eka03);
        assert!(matches!(m.1, AtomRef::Manifest(ref v) if v.label.as_str() == "ひらがな"));
        assert!(matches!(
            ok("refs/eka/meta/a/1.0.0/origin").1,
            AtomRef::Origin(_)
        ));
        assert!(matches!(ok("refs/eka/atoms/a/1.0.0").1, AtomRef::Atom(_)));
        for bad in [
            "refs/eka/atoms/a",
            "refs/eka/atoms/a/1.0",
            "refs/eka/atoms/_manifest/a/1.0.0",
            "refs/eka/meta/a/1.0.0",
            "refs/eka/meta/a/1.0.0/other",
            "refs/atoms/a/x",
        ] {
            assert!(AtomRef::parse_any(bad).unwrap().is_err(), "{bad}");
        }
        assert!(AtomRef::parse_any("refs/heads/main").is_none());
        assert!(AtomRef::parse_any("refs/eka/other").is_none());
        // Round trips of the names this module builds.
        let v = AtomVersion::new(Label::parse("a").unwrap(), Version::new(1, 2, 3));
        for ns in [Namespace::Atoms, Namespace::Eka03] {
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Atom, &v)).1,
                AtomRef::Atom(v.clone())
            );
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Manifest, &v)).1,
                AtomRef::Manifest(v.clone())
            );
            assert_eq!(
                ok(&ref_in(ns, AtomRef::Origin, &v)).1,
                AtomRef::Origin(v.clone())
            );
        }
    }

    #[test]
    fn read_refs_merges_layouts_and_warns() {
        let mut w = Vec::new();
        let m = read_refs(
            "u",
            &[
                rr("refs/ekala/init", 9),
                rr("refs/eka/atoms/a/1.0.0", 1),
                rr("refs/eka/meta/a/1.0.0/manifest", 2),
                rr("refs/atoms/a/junk", 3),
                rr("refs/atoms/_manifest/b/1.0.0", 4),
            ],
            &mut w,
        );
        assert_eq!(m.root, Some(oid(9)));
        assert_eq!(m.versions.len(), 1);
        let slot = m.versions.values().next().unwrap();
        assert_eq!((slot.commit, slot.manifest), (Some(oid(1)), Some(oid(2))));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w
            .iter()
            .any(|w| w.to_string().contains("refs/atoms/a/junk")));
    }

    /// With [`QueryOptions::same_root`], a mirror without a root next to
    /// one with a root is a disagreement; without it, the empty one lags.
    #[test]
    fn select_takes_the_highest_match() {
        let label = Label::parse("a").unwrap();
        let entry = |v: &str| VersionEntry {
            version: Version::parse(v).unwrap(),
            commit: oid(1),
            manifest: None,
            origin: None,
            namespace: Namespace::Atoms,
            mirrors: vec![],
            signatures: vec![],
            yanks: vec![],
        };
        let mut l = Listing::default();
        l.atoms.insert(
            label.clone(),
            vec![entry("2.0.0-rc.1"), entry("1.2.0"), entry("1.0.0")],
        );
        let sel = |r: Option<&str>| {
            let req = r.map(|r| VersionReq::parse(r).unwrap());
            l.select(&label, req.as_ref())
                .map(|e| e.version.to_string())
        };
        assert_eq!(sel(None).unwrap(), "1.2.0");
        assert_eq!(sel(Some("~1.0")).unwrap(), "1.0.0");
        assert_eq!(sel(Some(">=2.0.0-rc.1")).unwrap(), "2.0.0-rc.1");
        let e = sel(Some("^3")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no version of `a` matches `^3`; available: 2.0.0-rc.1, 1.2.0, 1.0.0"
        );
    }

    /// Signatures and yanks are read from the listing onto their versions
    /// (merged over mirrors, each once); a yanked version is never
    /// selected; a malformed trust ref is a warning.
    #[test]
    fn signatures_and_yanks_come_with_their_versions() {
        let hex = "ab".repeat(32);
        let refs = [
            rr("refs/atoms/_root", 9),
            rr("refs/atoms/a/1.0.0", 1),
            rr("refs/atoms/a/1.1.0", 2),
            rr(&format!("refs/atoms/_sig/a/1.0.0/{hex}"), 3),
            rr(&format!("refs/atoms/_sig/a/1.1.0/{hex}"), 4),
            rr("refs/atoms/_yank/a/1.1.0/unsigned", 5),
            rr("refs/atoms/_yank/a/1.1.0/nonsense", 6),
        ];
        let mut warnings = Vec::new();
        let url = RepoUrl::parse("file:///r", &crate::Aliases::default()).unwrap();
        let m = read_refs("file:///r", &refs, &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let mirrors = [
            (url.clone(), m),
            (url, read_refs("file:///r", &refs, &mut Vec::new())),
        ];
        let atoms = merged_versions(&mirrors, &QueryOptions::default(), &mut warnings).unwrap();
        let a = &atoms[&Label::parse("a").unwrap()];
        assert_eq!(a[0].version.to_string(), "1.1.0");
        assert_eq!(a[0].signatures.len(), 1);
        assert_eq!(
            a[0].yanks,
            [TrustTag {
                signer: None,
                tag: oid(5)
            }]
        );
        assert!(a[0].is_yanked() && !a[1].is_yanked());
        let listing = Listing {
            atoms: atoms.clone(),
            ..Default::default()
        };
        let label = Label::parse("a").unwrap();
        assert_eq!(
            listing.select(&label, None).unwrap().version.to_string(),
            "1.0.0"
        );
        let req = VersionReq::parse("=1.1.0").unwrap();
        assert!(listing.select(&label, Some(&req)).is_err());
    }
}
