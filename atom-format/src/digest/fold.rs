//! When two names are one name on the case-insensitive file systems of
//! macOS (APFS, HFS+) and Windows (NTFS): a *fold key* per name, equal for
//! names those file systems take to be the same.
//!
//! The key over-approximates them all: lower case (Unicode's full lower
//! case mapping), canonical equivalence (APFS and HFS+ ignore normalisation:
//! `é` precomposed or not), and the code points HFS+ ignores. Two names with
//! one key may be one file there; two names with different keys never are.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

use super::dotgit::hfs_ignores;

/// The fold key of an entry name.
pub fn key(name: &[u8]) -> Cow<'_, [u8]> {
    if name.is_ascii() {
        if name.iter().any(u8::is_ascii_uppercase) {
            return Cow::Owned(name.to_ascii_lowercase());
        }
        return Cow::Borrowed(name);
    }
    match std::str::from_utf8(name) {
        Ok(text) => {
            let folded: String = text
                .nfd()
                .filter(|&c| !hfs_ignores(u32::from(c)))
                .flat_map(char::to_lowercase)
                .nfc()
                .collect();
            Cow::Owned(folded.into_bytes())
        }
        // Not UTF-8: no file system above stores it as text, so only ASCII
        // case can fold.
        Err(_) => Cow::Owned(name.to_ascii_lowercase()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_one_on_case_insensitive_systems_share_a_key() {
        for (a, b) in [
            ("Sub", "sub"),
            ("README", "readme"),
            ("\u{e9}", "e\u{301}"),
            ("\u{c9}T\u{c9}", "\u{e9}t\u{e9}"),
            ("a\u{200c}b", "ab"),
            ("\u{3a3}", "\u{3c3}"),
        ] {
            assert_eq!(key(a.as_bytes()), key(b.as_bytes()), "{a:?} {b:?}");
        }
        for (a, b) in [("a", "b"), ("ab", "a.b"), ("\u{e9}", "e")] {
            assert_ne!(key(a.as_bytes()), key(b.as_bytes()), "{a:?} {b:?}");
        }
        assert_eq!(key(b"A\xff"), key(b"a\xff"));
        assert!(matches!(key(b"plain"), Cow::Borrowed(_)));
    }
}
