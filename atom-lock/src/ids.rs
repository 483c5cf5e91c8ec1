//! The identifiers found in locks, in their one canonical text form.
//!
//! Atom ids and content digests are `atom-format`'s types; commits are git
//! object ids. Parsing accepts the canonical form only (lower case, exact
//! length), so a lock that parses re-serialises to the same bytes.

pub use atom_format::digest::ContentDigestParseError;
pub use atom_format::id::AtomIdError;
pub use atom_format::{AtomId, ContentDigest};

/// A git commit id (SHA-1).
pub type CommitId = gix::ObjectId;

/// Why an identifier's text is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected 40 lower-case hex characters, found {0} characters")]
    CommitLength(usize),
    #[error("invalid character {0:?}: expected lower-case hexadecimal")]
    CommitCharacter(char),
    #[error(transparent)]
    AtomId(#[from] AtomIdError),
    #[error(transparent)]
    Digest(#[from] ContentDigestParseError),
}

/// Parses a commit id written as 40 lower-case hex characters (git's own
/// parser also takes upper case, which would make two spellings of one id).
pub fn parse_commit(s: &str) -> Result<CommitId, IdError> {
    if s.len() != 40 {
        return Err(IdError::CommitLength(s.chars().count()));
    }
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        return Err(IdError::CommitCharacter(c));
    }
    let mut raw = [0u8; 20];
    for (byte, pair) in raw.iter_mut().zip(s.as_bytes().chunks(2)) {
        // Both are ASCII hex digits, checked above.
        let digit = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u8;
        *byte = digit(pair[0]) << 4 | digit(pair[1]);
    }
    Ok(gix::ObjectId::Sha1(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use atom_format::Label;

    #[test]
    fn commits_are_lower_case_hex() {
        let c = "4abbd2644bc3585e9be95deb277ccf48f6ed26ac";
        assert_eq!(parse_commit(c).unwrap().to_string(), c);
        assert_eq!(
            parse_commit(&c.to_uppercase()),
            Err(IdError::CommitCharacter('A'))
        );
        assert_eq!(parse_commit(&c[..39]), Err(IdError::CommitLength(39)));
        assert_eq!(
            parse_commit(&format!("{}g", &c[..39])),
            Err(IdError::CommitCharacter('g'))
        );
    }

    #[test]
    fn parsed_roots_give_eka_ids() {
        // shared/vectors/eka-compat.toml: the id hashes the root's raw bytes.
        let root = parse_commit("68b63bd131acd23bdfd57983fe85ba7c092ce02f").unwrap();
        let id = AtomId::compute(&root, &Label::parse("atom-nix").unwrap());
        assert_eq!(
            id.to_string(),
            "r9ilp2p4bpkup8bejuqrg042m6ohc0rtcn2fks94otlrhnquhnv0"
        );
    }
}
