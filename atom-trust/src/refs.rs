//! Where signatures and yanks live: one ref per signer per version, under
//! the registry's one prefix, so one `ls-refs` of `refs/atoms/` shows which
//! versions are signed, by how many and by whom, and which are yanked.
//!
//! - `refs/atoms/_sig/<label>/<version>/<signer>`: a signed tag whose
//!   message is the version's signature statement;
//! - `refs/atoms/_yank/<label>/<version>/<signer>`: a tag whose message is a
//!   yank statement, signed by `<signer>`, or unsigned when `<signer>` is
//!   `unsigned`.
//!
//! `<signer>` is the SHA-256 fingerprint of the signing key in lowercase
//! hex ([`KeyFingerprint::to_hex`]). Labels never start with `_`, so these
//! names cannot collide with an atom's.

use atom_format::refs::{AtomVersion, RefParseError, ATOMS_PREFIX};
use atom_format::Label;
use semver::Version;

use crate::KeyFingerprint;

const SIGNATURE_DIR: &str = "_sig/";
const YANK_DIR: &str = "_yank/";
/// The last component of an unsigned yank's ref.
pub const UNSIGNED: &str = "unsigned";

/// A ref that carries trust: a signature or a yank.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrustRef {
    Signature {
        atom: AtomVersion,
        signer: KeyFingerprint,
    },
    Yank {
        atom: AtomVersion,
        signer: Option<KeyFingerprint>,
    },
}

impl TrustRef {
    /// Parses a full ref name; `None` if it is not under
    /// `refs/atoms/_sig/` or `refs/atoms/_yank/`.
    pub fn parse(name: &str) -> Option<Result<TrustRef, RefParseError>> {
        let rest = name.strip_prefix(ATOMS_PREFIX)?;
        let (is_signature, rest) = if let Some(r) = rest.strip_prefix(SIGNATURE_DIR) {
            (true, r)
        } else if let Some(r) = rest.strip_prefix(YANK_DIR) {
            (false, r)
        } else {
            return None;
        };
        let err = |why: String| RefParseError {
            name: name.to_owned(),
            why,
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [label, version, signer] = parts.as_slice() else {
            return Some(Err(err("expected <label>/<version>/<signer>".into())));
        };
        Some((|| {
            let atom = canonical(label, version).map_err(err)?;
            let signer = match (*signer, is_signature) {
                (UNSIGNED, false) => None,
                (hex, _) => {
                    Some(KeyFingerprint::from_hex(hex).map_err(|e| err(format!("signer: {e}")))?)
                }
            };
            Ok(match (is_signature, signer) {
                (true, Some(signer)) => TrustRef::Signature { atom, signer },
                (true, None) => unreachable!("a signature ref always names its signer"),
                (false, signer) => TrustRef::Yank { atom, signer },
            })
        })())
    }

    /// The full ref name.
    pub fn name(&self) -> String {
        match self {
            TrustRef::Signature { atom, signer } => format!(
                "{ATOMS_PREFIX}{SIGNATURE_DIR}{}/{}/{}",
                atom.label,
                atom.version,
                signer.to_hex()
            ),
            TrustRef::Yank { atom, signer } => format!(
                "{ATOMS_PREFIX}{YANK_DIR}{}/{}/{}",
                atom.label,
                atom.version,
                signer.map_or(UNSIGNED.to_owned(), |s| s.to_hex())
            ),
        }
    }

    /// The atom version it is about.
    pub fn atom(&self) -> &AtomVersion {
        match self {
            TrustRef::Signature { atom, .. } | TrustRef::Yank { atom, .. } => atom,
        }
    }

    /// The signer its name claims.
    pub fn signer(&self) -> Option<KeyFingerprint> {
        match self {
            TrustRef::Signature { signer, .. } => Some(*signer),
            TrustRef::Yank { signer, .. } => *signer,
        }
    }
}

/// A label and version in canonical form (one version, one ref name).
fn canonical(label: &str, version: &str) -> Result<AtomVersion, String> {
    let l = Label::parse(label).map_err(|e| format!("label: {e}"))?;
    if l.as_str() != label {
        return Err("the label is not in NFKC normal form".into());
    }
    let v = Version::parse(version).map_err(|e| format!("version: {e}"))?;
    if v.to_string() != version {
        return Err("the version is not in canonical form".into());
    }
    Ok(AtomVersion::new(l, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn av(l: &str, v: &str) -> AtomVersion {
        AtomVersion::new(Label::parse(l).unwrap(), Version::parse(v).unwrap())
    }

    fn fp() -> KeyFingerprint {
        KeyFingerprint::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for r in [
            TrustRef::Signature {
                atom: av("hello", "1.0.0-rc.1+b"),
                signer: fp(),
            },
            TrustRef::Yank {
                atom: av("hello", "1.0.0"),
                signer: Some(fp()),
            },
            TrustRef::Yank {
                atom: av("hello", "1.0.0"),
                signer: None,
            },
        ] {
            assert_eq!(TrustRef::parse(&r.name()).unwrap().unwrap(), r);
            gix::validate::reference::name(gix::bstr::BStr::new(r.name().as_bytes())).unwrap();
        }
        assert_eq!(
            TrustRef::Yank {
                atom: av("hello", "1.0.0"),
                signer: None
            }
            .name(),
            "refs/atoms/_yank/hello/1.0.0/unsigned"
        );
    }

    #[test]
    fn other_refs_are_not_trust_refs_and_malformed_ones_are_named() {
        assert!(TrustRef::parse("refs/atoms/hello/1.0.0").is_none());
        assert!(TrustRef::parse("refs/atoms/_manifest/hello/1.0.0").is_none());
        let hex = "ab".repeat(32);
        for bad in [
            "refs/atoms/_sig/hello/1.0.0".to_owned(),
            "refs/atoms/_sig/hello/1.0.0/unsigned".to_owned(),
            format!("refs/atoms/_sig/hello/1.0/{hex}"),
            format!("refs/atoms/_sig/hello/1.0.0/{}", hex.to_uppercase()),
            format!("refs/atoms/_yank/9x/1.0.0/{hex}"),
            format!("refs/atoms/_yank/hello/1.0.0/{hex}/x"),
        ] {
            assert!(TrustRef::parse(&bad).unwrap().is_err(), "{bad}");
        }
    }
}
