//! Which listed yanks count on a set with a trust policy
//! (`spec/trust.md` §6): only a yank signed by a key the policy allows at
//! its signing time. Anyone who can push a ref could otherwise withhold a
//! version from every new lock with an unsigned yank, or one signed by any
//! key; such yanks are dropped from the listing, each with a warning naming
//! who signed it.
//!
//! The listing alone settles most yanks: an unsigned one, or one whose ref
//! names a key the policy does not hold, never counts. Only a yank whose ref
//! names a key the policy holds needs its tag read (the ref name is a
//! claim), so a set whose yanks are all forged costs no fetch at all.

use atom_format::Label;
use atom_trust::{judge_yank, AllowedSigners, ListedTag, YankTarget};
use gix::ObjectId;
use semver::Version;

use super::{Listing, QueryWarning, TrustTag};

/// The yank tags of `listing` that need reading under `signers` (their ref
/// names a key the policy holds), and the atom commits they point at (which
/// the fetch tells the server it has, so that only the tags come).
pub fn tags_to_read(listing: &Listing, signers: &AllowedSigners) -> (Vec<ObjectId>, Vec<ObjectId>) {
    let mut tags = Vec::new();
    let mut commits = Vec::new();
    for entry in listing.atoms.values().flatten() {
        let held: Vec<ObjectId> = entry
            .yanks
            .iter()
            .filter(|t| t.signer.is_some_and(|fp| signers.holds(&fp)))
            .map(|t| t.tag)
            .collect();
        if !held.is_empty() {
            tags.extend(held);
            commits.push(entry.commit);
        }
    }
    (tags, commits)
}

/// Drops from `listing` every yank that does not count under `signers`,
/// with a warning for each. `read_tag` gives the bytes of a tag that
/// [`tags_to_read`] named (`None`: it did not arrive as a tag).
pub fn keep_counting(
    listing: &mut Listing,
    set: &str,
    signers: &AllowedSigners,
    read_tag: &dyn Fn(ObjectId) -> Option<Vec<u8>>,
) {
    let root = listing.root;
    let mut warnings = Vec::new();
    for (label, entries) in &mut listing.atoms {
        for entry in entries.iter_mut() {
            let target = root.map(|root| YankTarget {
                label: label.clone(),
                version: entry.version.clone(),
                commit: entry.commit,
                root,
            });
            entry.yanks.retain(|t| {
                let why = why_ignored(target.as_ref(), t, signers, read_tag);
                if let Some(why) = &why {
                    warnings.push(ignored(set, label, &entry.version, t, why.clone()));
                }
                why.is_none()
            });
        }
    }
    listing.warnings.extend(warnings);
}

/// Why the yank `t` of `target` does not count under `signers`, if it
/// does not.
fn why_ignored(
    target: Option<&YankTarget>,
    t: &TrustTag,
    signers: &AllowedSigners,
    read_tag: &dyn Fn(ObjectId) -> Option<Vec<u8>>,
) -> Option<String> {
    let Some(listed) = t.signer else {
        return Some(
            "it is not signed, and the set's policy counts only yanks signed by an allowed key"
                .into(),
        );
    };
    if !signers.holds(&listed) {
        return Some(format!(
            "its ref names signer {listed}, a key the set's policy does not hold"
        ));
    }
    let Some(target) = target else {
        return Some("the registry has no root to check it against".into());
    };
    let Some(bytes) = read_tag(t.tag) else {
        return Some(format!("its tag {} did not arrive as a tag", t.tag));
    };
    let verdict = judge_yank(
        target,
        ListedTag {
            listed: t.signer,
            bytes: &bytes,
        },
        Some(signers),
    );
    match verdict.status {
        atom_trust::YankStatus::Counts { .. } => None,
        atom_trust::YankStatus::Ignored { why } => Some(why),
    }
}

fn ignored(set: &str, label: &Label, version: &Version, t: &TrustTag, why: String) -> QueryWarning {
    QueryWarning::IgnoredYank {
        set: set.to_owned(),
        label: label.clone(),
        version: version.clone(),
        signer: t.signer,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Namespace, VersionEntry};
    use atom_trust::{make_yank, Reason, SigningKey, Tagger, YankStatement};

    fn oid(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn key(seed: u8) -> SigningKey {
        let pair = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
        SigningKey::in_process(ssh_key::PrivateKey::from(pair)).unwrap()
    }

    fn signers_line(key: &SigningKey) -> String {
        let public = key.public_key().unwrap().to_openssh().unwrap();
        format!("ci@example.com {public}")
    }

    fn tagger() -> Tagger {
        Tagger::new("CI", "ci@example.com", 1_760_000_000).unwrap()
    }

    fn target(version: &str) -> YankTarget {
        YankTarget {
            label: Label::parse("a").unwrap(),
            version: Version::parse(version).unwrap(),
            commit: oid(1),
            root: oid(9),
        }
    }

    /// A yank tag of `target` by `key` (unsigned without one), and the
    /// listing's view of it: the signer its ref names, its id.
    fn yank(key: Option<&SigningKey>, target: &YankTarget) -> (TrustTag, Vec<u8>) {
        let statement = YankStatement::new(target, Reason::new("broken").unwrap());
        let tag = make_yank(key, &statement, &tagger()).unwrap();
        (
            TrustTag {
                signer: tag.signer,
                tag: tag.id,
            },
            tag.bytes,
        )
    }

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

    /// Under a policy only the allowed key's yank counts; the unsigned one,
    /// the one by a key the policy does not hold and the one copied from
    /// another version are dropped with a warning naming who signed, and
    /// only the tag whose ref names a held key is read.
    #[test]
    fn only_yanks_by_allowed_keys_count() {
        let (allowed, stranger) = (key(1), key(2));
        let signers = AllowedSigners::parse(&signers_line(&allowed)).unwrap();
        let good = yank(Some(&allowed), &target("1.0.0"));
        let unsigned = yank(None, &target("1.0.0"));
        let foreign = yank(Some(&stranger), &target("1.0.0"));
        let mut copied = yank(Some(&allowed), &target("2.0.0"));
        // The copy sits under a ref beside the good one (another signer slot
        // of the same key cannot exist, so its id alone differs).
        copied.0.signer = good.0.signer;
        let mut l = listing(vec![good.0, unsigned.0, foreign.0, copied.0]);

        let (tags, commits) = tags_to_read(&l, &signers);
        assert_eq!(tags, vec![good.0.tag, copied.0.tag]);
        assert_eq!(commits, vec![oid(1)]);

        let read = |id: ObjectId| {
            [&good, &copied]
                .iter()
                .find(|(t, _)| t.tag == id)
                .map(|(_, b)| b.clone())
        };
        keep_counting(&mut l, "company", &signers, &read);
        assert_eq!(l.atoms[&Label::parse("a").unwrap()][0].yanks, vec![good.0]);
        let text: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 3, "{text:#?}");
        assert!(text[0].contains("(unsigned)") && text[0].contains("not signed"));
        let stranger_fp = foreign.0.signer.unwrap().to_string();
        assert!(text[1].contains(&stranger_fp) && text[1].contains("does not hold"));
        assert!(text[2].contains("another atom"), "{}", text[2]);
        assert!(text.iter().all(|t| t.contains("a@1.0.0 in company")));
    }

    /// A ref naming an allowed key over an unsigned tag, or a tag that did
    /// not arrive, does not count.
    #[test]
    fn a_ref_naming_an_allowed_key_is_checked() {
        let allowed = key(1);
        let signers = AllowedSigners::parse(&signers_line(&allowed)).unwrap();
        let good = yank(Some(&allowed), &target("1.0.0"));
        let unsigned = yank(None, &target("1.0.0"));
        let lying = TrustTag {
            signer: good.0.signer,
            tag: unsigned.0.tag,
        };
        let mut l = listing(vec![lying]);
        keep_counting(&mut l, "s", &signers, &|_| Some(unsigned.1.clone()));
        assert!(l.atoms.values().flatten().all(|e| e.yanks.is_empty()));
        assert!(l.warnings[0].to_string().contains("not signed"));

        let mut l = listing(vec![good.0]);
        keep_counting(&mut l, "s", &signers, &|_| None);
        assert!(l.atoms.values().flatten().all(|e| e.yanks.is_empty()));
        assert!(l.warnings[0].to_string().contains("did not arrive"));
    }
}
