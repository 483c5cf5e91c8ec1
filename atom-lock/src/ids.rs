//! Fixed-size identifiers found in locks: atom ids, git commit ids and
//! content digests, each with one canonical text form.
//!
//! Parsing accepts the canonical form only (lower case, exact length), so a
//! lock that parses re-serialises to the same bytes.

use atom_format::Label;
use std::fmt;
use std::str::FromStr;

/// Why an identifier's text is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} characters, found {found}")]
    Length { expected: usize, found: usize },
    #[error("invalid character {0:?}: expected {1}")]
    Character(char, &'static str),
    #[error("missing the `blake3:` prefix")]
    DigestPrefix,
    #[error("not canonical base32hex (non-zero padding bits)")]
    NonCanonical,
}

fn lower_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    if s.len() != 2 * N {
        return Err(IdError::Length {
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(IdError::Character(c, "lower-case hexadecimal"));
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        // Checked above: every byte is an ASCII hex digit.
        let hi = (pair[0] as char).to_digit(16).unwrap_or(0) as u8;
        let lo = (pair[1] as char).to_digit(16).unwrap_or(0) as u8;
        out[i] = hi << 4 | lo;
    }
    Ok(out)
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// A git SHA-1 object id, written as 40 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub [u8; 20]);

impl FromStr for CommitId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        lower_hex(s).map(CommitId)
    }
}

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({self})")
    }
}

/// The BLAKE3 content digest of an atom's tree (computed by `atom-format`),
/// written `blake3:` followed by 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(pub [u8; 32]);

impl FromStr for Digest {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let hex = s.strip_prefix("blake3:").ok_or(IdError::DigestPrefix)?;
        lower_hex(hex).map(Digest)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("blake3:")?;
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

/// RFC 4648 base32hex, lower case, no padding.
fn base32hex_lower() -> data_encoding::Encoding {
    let mut spec = data_encoding::Specification::new();
    spec.symbols.push_str("0123456789abcdefghijklmnopqrstuv");
    // Only an internal constant can make this fail; the unit tests build it.
    spec.encoding().expect("valid base32hex specification")
}

/// Length of an atom id in characters: 256 bits in 5-bit symbols.
pub const ATOM_ID_LEN: usize = 52;

/// An atom's identity: a keyed BLAKE3 hash of its label under a key derived
/// from its repository's root commit (see `spec/format.md`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomId(pub [u8; 32]);

impl AtomId {
    /// `keyed_hash(derive_key("AtomId", root as 20 raw bytes), label bytes)`.
    pub fn compute(root: &CommitId, label: &Label) -> Self {
        let key = blake3::derive_key("AtomId", &root.0);
        AtomId(*blake3::keyed_hash(&key, label.as_str().as_bytes()).as_bytes())
    }
}

impl FromStr for AtomId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.len() != ATOM_ID_LEN {
            return Err(IdError::Length {
                expected: ATOM_ID_LEN,
                found: s.chars().count(),
            });
        }
        if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='v')) {
            return Err(IdError::Character(c, "lower-case base32hex (0-9, a-v)"));
        }
        // Length and alphabet are right, so only non-zero trailing bits remain.
        let bytes = base32hex_lower()
            .decode(s.as_bytes())
            .map_err(|_| IdError::NonCanonical)?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| IdError::NonCanonical)?;
        Ok(AtomId(arr))
    }
}

impl fmt::Display for AtomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base32hex_lower().encode(&self.0))
    }
}

impl fmt::Debug for AtomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtomId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // From shared/vectors/eka-compat.toml: ids that eka 0.3 computes.
    const IDS: &[(&str, &str, &str)] = &[
        (
            "4abbd2644bc3585e9be95deb277ccf48f6ed26ac",
            "nix-lock",
            "r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0",
        ),
        (
            "4abbd2644bc3585e9be95deb277ccf48f6ed26ac",
            "dev",
            "3ot6f917im3d5qhs1jdo2samkthlahg5qcr4ql5e2neomv2v6dt0",
        ),
        (
            "68b63bd131acd23bdfd57983fe85ba7c092ce02f",
            "atom-nix",
            "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0",
        ),
        (
            "f9a488b7db85be544ff5c5aaaaf7af0eaee72ad5",
            "hosts",
            "nei65m8kevs1l37b2eefu440k725fsj6pqj3mq3ob20sfhb64ud0",
        ),
    ];

    #[test]
    fn atom_ids_match_eka_vectors() {
        for (root, label, id) in IDS {
            let root: CommitId = root.parse().unwrap();
            let computed = AtomId::compute(&root, &Label::parse(label).unwrap());
            assert_eq!(computed.to_string(), *id, "{label}");
            assert_eq!(id.parse::<AtomId>().unwrap(), computed);
        }
    }

    #[test]
    fn atom_id_rejects_non_canonical_text() {
        let good = IDS[0].2;
        assert!(matches!(
            good[..51].parse::<AtomId>(),
            Err(IdError::Length { .. })
        ));
        assert!(matches!(
            good.to_uppercase().parse::<AtomId>(),
            Err(IdError::Character('R', _))
        ));
        // The last symbol carries 1 data bit and 4 padding bits: "1" sets one.
        let mut bad = good[..51].to_string();
        bad.push('1');
        assert_eq!(bad.parse::<AtomId>(), Err(IdError::NonCanonical));
    }

    #[test]
    fn commit_and_digest_text_forms() {
        let c = "4abbd2644bc3585e9be95deb277ccf48f6ed26ac";
        assert_eq!(c.parse::<CommitId>().unwrap().to_string(), c);
        assert!(matches!(
            c.to_uppercase().parse::<CommitId>(),
            Err(IdError::Character('A', _))
        ));
        assert!(matches!(
            c[..39].parse::<CommitId>(),
            Err(IdError::Length {
                expected: 40,
                found: 39
            })
        ));
        let d = format!("blake3:{}", "0a".repeat(32));
        assert_eq!(d.parse::<Digest>().unwrap().to_string(), d);
        assert_eq!(
            "0a".repeat(32).parse::<Digest>(),
            Err(IdError::DigestPrefix)
        );
        assert!(format!("sha256:{}", "0a".repeat(32))
            .parse::<Digest>()
            .is_err());
    }
}
