//! Atom labels: the name of an atom within its repository.
//!
//! A label is NFKC-normalised, 1 to 128 bytes long, starts with an
//! `XID_Start` character and continues with `XID_Continue` characters or
//! `-`. These rules make every label a valid git ref name component (no `.`,
//! `/`, space or control character can appear) and a valid Nix identifier
//! apart from `-`, which Nix allows too.

use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// The longest label, in bytes of its NFKC normal form.
pub const MAX_LABEL_BYTES: usize = 128;

/// A validated, NFKC-normalised atom label.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(String);

/// Why a string is not a label. The messages list every offending character.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("empty")]
    Empty,
    #[error("too long: {0} bytes after NFKC normalisation, at most 128")]
    TooLong(usize),
    #[error("invalid start '{0}'")]
    InvalidStart(char),
    #[error("invalid characters '{0}'")]
    InvalidCharacters(String),
    #[error("invalid start '{start}' and invalid characters '{rest}'")]
    InvalidStartAndCharacters { start: char, rest: String },
}

impl Label {
    /// Normalises `s` to NFKC and checks the label rules.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        let normal: String = s.nfkc().collect();
        let mut chars = normal.chars();
        let Some(first) = chars.next() else {
            return Err(LabelError::Empty);
        };
        let bad_start = !unicode_ident::is_xid_start(first);
        let rest: String = chars
            .filter(|&c| !(c == '-' || unicode_ident::is_xid_continue(c)))
            .collect();
        match (bad_start, rest.is_empty()) {
            (true, true) => return Err(LabelError::InvalidStart(first)),
            (true, false) => {
                return Err(LabelError::InvalidStartAndCharacters { start: first, rest })
            }
            (false, false) => return Err(LabelError::InvalidCharacters(rest)),
            (false, true) => {}
        }
        if normal.len() > MAX_LABEL_BYTES {
            return Err(LabelError::TooLong(normal.len()));
        }
        Ok(Label(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Label {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::parse(s)
    }
}

impl AsRef<str> for Label {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Label::parse(&s).map_err(|e| serde::de::Error::custom(format!("invalid label `{s}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nfkc_normalises() {
        // U+FB01 LATIN SMALL LIGATURE FI normalises to "fi".
        assert_eq!(Label::parse("\u{FB01}x").unwrap().as_str(), "fix");
    }

    #[test]
    fn length_is_counted_after_normalisation() {
        assert!(Label::parse(&"a".repeat(128)).is_ok());
        assert_eq!(
            Label::parse(&"a".repeat(129)),
            Err(LabelError::TooLong(129))
        );
        // 43 three-byte characters = 129 bytes.
        assert_eq!(
            Label::parse(&"汉".repeat(43)),
            Err(LabelError::TooLong(129))
        );
    }

    #[test]
    fn both_start_and_rest_are_reported() {
        assert_eq!(
            Label::parse("1a!b?").unwrap_err().to_string(),
            "invalid start '1' and invalid characters '!?'"
        );
    }
}
