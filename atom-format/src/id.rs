//! Atom ids: a stable identity for an atom across all repositories that share
//! its history.
//!
//! The id binds a label to the repository's root commit, so that two unrelated
//! repositories publishing the same label never collide, while every mirror of
//! one repository agrees. It is keyed BLAKE3 (not a git hash) so it stays
//! collision resistant even though git's SHA-1 ids are not.

use std::fmt;

use crate::Label;

/// The BLAKE3 key-derivation context for atom ids (eka 0.3 compatible).
const ATOM_ID_CONTEXT: &str = "AtomId";

/// An atom's identity: its label under a repository root.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomId([u8; 32]);

impl AtomId {
    /// `blake3::keyed_hash(blake3::derive_key("AtomId", root), label)` where
    /// `root` is the root commit id as its raw bytes (not hex).
    pub fn compute(root: &gix::oid, label: &Label) -> Self {
        let key = blake3::derive_key(ATOM_ID_CONTEXT, root.as_bytes());
        AtomId(*blake3::keyed_hash(&key, label.as_str().as_bytes()).as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the printed form (52 lowercase base32hex characters).
    pub fn parse(s: &str) -> Result<Self, AtomIdError> {
        if s.len() != 52 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(AtomIdError(s.to_owned()));
        }
        let bytes = data_encoding::BASE32HEX_NOPAD
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| AtomIdError(s.to_owned()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| AtomIdError(s.to_owned()))?;
        let id = AtomId(bytes);
        // Reject non-canonical encodings (trailing bits set), so that one id has
        // exactly one spelling.
        if id.to_string() != s {
            return Err(AtomIdError(s.to_owned()));
        }
        Ok(id)
    }
}

/// A string that is not a printed atom id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an atom id (52 lowercase base32hex characters)")]
pub struct AtomIdError(pub String);

impl fmt::Display for AtomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let upper = data_encoding::BASE32HEX_NOPAD.encode(&self.0);
        f.write_str(&upper.to_ascii_lowercase())
    }
}

impl std::str::FromStr for AtomId {
    type Err = AtomIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AtomId::parse(s)
    }
}

impl serde::Serialize for AtomId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AtomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        AtomId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gix::ObjectId;

    fn oid(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    #[test]
    fn round_trips_and_rejects_non_canonical() {
        let id = AtomId::compute(&oid("4abbd2644bc3585e9be95deb277ccf48f6ed26ac"), &Label::parse("dev").unwrap());
        let s = id.to_string();
        assert_eq!(s.len(), 52);
        assert_eq!(AtomId::parse(&s).unwrap(), id);
        assert!(AtomId::parse(&s.to_ascii_uppercase()).is_err());
        assert!(AtomId::parse(&s[..51]).is_err());
        // 52 characters carry 260 bits for 256: the last character's low four
        // bits are padding, so it is always '0' or 'g'; any other is rejected.
        assert!(s.ends_with('0') || s.ends_with('g'));
        let mut bad = s.clone();
        bad.pop();
        bad.push('1');
        assert!(AtomId::parse(&bad).is_err());
    }
}
