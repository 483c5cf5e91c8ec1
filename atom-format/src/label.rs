//! Atom labels: the name of an atom within its repository.
//!
//! A label is NFKC-normalised, 1 to 128 bytes long, starts with an
//! `XID_Start` character and continues with `XID_Continue` characters or
//! `-`. These rules make every label a valid git ref name component (no `.`,
//! `/`, space or control character can appear) and a valid Nix identifier
//! apart from `-`, which Nix allows too.
//!
//! A label is also what a person reads in a listing and types or pastes into
//! a manifest, so it must look like what it is. Invisible characters that
//! identifiers allow (`Default_Ignorable_Code_Point`: joiners, variation
//! selectors, Hangul fillers) are refused, since `fo\u{200d}o` would show as
//! `foo` beside the real one. Mixing scripts (`f\u{43e}o`, with a Cyrillic
//! `о`) is allowed, as scripts are legitimately mixed, but marked: see
//! [`Label::warnings`] (UTS #39 mixed-script detection). [`Label::skeleton`]
//! tells labels that look alike apart from labels that do not (UTS #39
//! confusable detection).

use std::fmt;

use icu_properties::props::{DefaultIgnorableCodePoint, Script};
use icu_properties::{CodePointMapData, CodePointSetData, PropertyNamesLong};
use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

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
    /// Characters identifiers allow but nobody sees (Unicode's
    /// `Default_Ignorable_Code_Point`), listed as `\u{…}` escapes.
    #[error(
        "invisible characters '{0}': a label must look like what it is, and these \
         show as nothing"
    )]
    Invisible(String),
}

/// Something about a valid label a person should know before trusting it:
/// data for the command line to show, never a reason to refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum LabelWarning {
    /// The label's characters do not all belong to one script (UTS #39,
    /// "mixed-script"), as in `f\u{43e}o` with a Cyrillic `о`: it may
    /// be mistaken for a label in one script.
    #[error(
        "label `{label}` mixes scripts ({}): it may be mistaken for a label that looks the same",
        scripts.join(", ")
    )]
    #[diagnostic(severity(Warning), code(atom::label::mixed_script))]
    MixedScript {
        label: String,
        /// The scripts of its characters, in order of first appearance
        /// (characters common to all scripts, such as digits and `-`, left
        /// out).
        scripts: Vec<&'static str>,
    },
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
        let invisible: String = normal
            .chars()
            .filter(|&c| is_default_ignorable(c))
            .flat_map(char::escape_unicode)
            .collect();
        if !invisible.is_empty() {
            return Err(LabelError::Invisible(invisible));
        }
        if normal.len() > MAX_LABEL_BYTES {
            return Err(LabelError::TooLong(normal.len()));
        }
        Ok(Label(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What a person should know about this label before trusting it
    /// (empty for most labels).
    pub fn warnings(&self) -> Vec<LabelWarning> {
        if self.0.is_ascii() || self.0.as_str().is_single_script() {
            return Vec::new();
        }
        vec![LabelWarning::MixedScript {
            label: self.0.clone(),
            scripts: scripts(&self.0),
        }]
    }

    /// The label's UTS #39 skeleton: two labels that look alike (`paypal`
    /// and `p\u{430}yp\u{430}l`, `rn` and `m`) have the same skeleton.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }

    /// Whether `other` is a different label that looks like this one.
    pub fn is_confusable_with(&self, other: &Label) -> bool {
        self != other && self.skeleton() == other.skeleton()
    }
}

fn is_default_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

/// The distinct scripts of `s`'s characters, in order, leaving out the
/// characters every script uses.
fn scripts(s: &str) -> Vec<&'static str> {
    let map = CodePointMapData::<Script>::new();
    let names = PropertyNamesLong::<Script>::new();
    let mut out: Vec<&'static str> = Vec::new();
    for c in s.chars() {
        let script = map.get(c);
        if matches!(script, Script::Common | Script::Inherited | Script::Unknown) {
            continue;
        }
        let name = names.get(script).unwrap_or("Unknown");
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
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

    /// Issue 17: `fo\u{200d}o` showed as `foo` in `eka list`.
    #[test]
    fn invisible_characters_are_refused() {
        for (label, shown) in [
            ("fo\u{200d}o", "\\u{200d}"),
            ("fo\u{200c}o", "\\u{200c}"),
            ("a\u{34f}b", "\\u{34f}"),
            ("a\u{fe0f}", "\\u{fe0f}"),
            ("a\u{e0100}", "\\u{e0100}"),
            ("a\u{17b4}", "\\u{17b4}"),
            ("a\u{180b}", "\\u{180b}"),
            // Hangul fillers, and those NFKC maps to one.
            ("\u{115f}", "\\u{115f}"),
            ("a\u{3164}", "\\u{1160}"),
            ("a\u{ffa0}\u{200d}", "\\u{1160}\\u{200d}"),
        ] {
            assert_eq!(
                Label::parse(label),
                Err(LabelError::Invisible(shown.to_owned())),
                "{label:?}"
            );
        }
        assert_eq!(
            Label::parse("fo\u{200d}o").unwrap_err().to_string(),
            "invisible characters '\\u{200d}': a label must look like what it is, and these \
             show as nothing"
        );
    }

    /// The refused set is exactly the default-ignorable code points that
    /// eka 0.3's rules (NFKC, then XID) let through: pinned here, and listed
    /// in spec/format.md.
    #[test]
    fn the_newly_refused_characters() {
        let mut refused = Vec::new();
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let eka03 = Label::parse(&format!("a{c}"));
            let normal: String = format!("a{c}").nfkc().collect();
            let passes_xid = normal
                .chars()
                .all(|c| c == '-' || unicode_ident::is_xid_continue(c));
            if passes_xid && normal.len() <= MAX_LABEL_BYTES && eka03.is_err() {
                refused.push(c as u32);
            }
        }
        let ranges = [
            (0x34f, 0x34f),
            (0x115f, 0x1160),
            (0x17b4, 0x17b5),
            (0x180b, 0x180d),
            (0x180f, 0x180f),
            (0x200c, 0x200d),
            (0x3164, 0x3164),
            (0xfe00, 0xfe0f),
            (0xffa0, 0xffa0),
            (0xe0100, 0xe01ef),
        ];
        let expected: Vec<u32> = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
        assert_eq!(refused, expected);
    }

    #[test]
    fn mixed_scripts_are_marked_not_refused() {
        let label = Label::parse("f\u{43e}o").unwrap();
        assert_eq!(
            label.warnings(),
            [LabelWarning::MixedScript {
                label: "f\u{43e}o".into(),
                scripts: vec!["Latin", "Cyrillic"],
            }]
        );
        assert_eq!(
            label.warnings()[0].to_string(),
            "label `f\u{43e}o` mixes scripts (Latin, Cyrillic): it may be mistaken for a label \
             that looks the same"
        );
        // One script each, as UTS #39 resolves them (Japanese kana with Han,
        // Hangul with Han, any script with digits and `-`).
        for single in [
            "foo",
            "nix-lock",
            "кириллица-2",
            "あア",
            "ひらがな漢字",
            "한글漢字",
            "Café_au_lait-123",
            "αβγ",
        ] {
            assert_eq!(Label::parse(single).unwrap().warnings(), [], "{single}");
        }
        let mixed = Label::parse("hello世界").unwrap().warnings();
        assert!(
            matches!(&mixed[..], [LabelWarning::MixedScript { scripts, .. }] if scripts == &["Latin", "Han"])
        );
    }

    #[test]
    fn look_alike_labels_share_a_skeleton() {
        let latin = Label::parse("paypal").unwrap();
        let cyrillic = Label::parse("p\u{430}yp\u{430}l").unwrap();
        let whole_cyrillic = Label::parse("\u{440}\u{43e}\u{435}").unwrap(); // "рое"
        let poe = Label::parse("poe").unwrap();
        assert!(latin.is_confusable_with(&cyrillic));
        assert!(poe.is_confusable_with(&whole_cyrillic));
        assert!(!latin.is_confusable_with(&latin));
        assert!(!latin.is_confusable_with(&poe));
        assert!(Label::parse("rn")
            .unwrap()
            .is_confusable_with(&Label::parse("m").unwrap()));
    }

    #[test]
    fn both_start_and_rest_are_reported() {
        assert_eq!(
            Label::parse("1a!b?").unwrap_err().to_string(),
            "invalid start '1' and invalid characters '!?'"
        );
    }
}
