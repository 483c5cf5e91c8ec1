//! The names git treats as `.git` (and as `.gitmodules`) on the file systems
//! it protects: a port of git's `is_hfs_dot*` (utf8.c) and `is_ntfs_dot*`
//! (path.c), byte for byte, so an atom refuses exactly the names that
//! `git fsck` reports as `hasDotgit` or `gitmodulesSymlink` and that
//! `git checkout` refuses with `core.protectHFS`/`core.protectNTFS`.
//!
//! HFS+ ignores some invisible code points and folds case, so `.g\u{200c}it`
//! and `.GIT` open the repository's own `.git`; NTFS drops trailing dots and
//! spaces, reads `name:stream` as `name`, and answers to the 8.3 short name
//! `git~1`. A checkout that wrote such an entry would write into `.git`.

/// Whether git treats `name` (one tree entry name) as `.git` on HFS+ or NTFS.
pub fn is_dotgit(name: &[u8]) -> bool {
    is_hfs_dot(name, b"git") || is_ntfs_dotgit(name)
}

/// Whether git treats `name` as `.gitmodules` on HFS+ or NTFS: a symlink of
/// that name is refused by `git fsck` (`gitmodulesSymlink`) and checkout.
pub fn is_dotgitmodules(name: &[u8]) -> bool {
    is_hfs_dot(name, b"gitmodules") || is_ntfs_dot(name, b"gitmodules", b"gi7eba")
}

/// Whether a *directory* of this name, above a symlink, makes git refuse to
/// check the symlink out: git's path check (`verify_path`) looks for
/// `.gitmodules` in every component, but in the NTFS spellings only at the
/// end of the path, so only the HFS+ spellings count here.
pub fn is_dotgitmodules_directory(name: &[u8]) -> bool {
    is_hfs_dot(name, b"gitmodules")
}

/// Code points HFS+ ignores in names (git's `next_hfs_char`).
pub(super) fn hfs_ignores(c: u32) -> bool {
    matches!(c, 0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff)
}

/// The next character for HFS+ comparison, skipping ignored code points.
/// `None` stands for git's 0: the end of the name or malformed UTF-8
/// (which git also takes as the end, so `.git\xff` is `.git` to it).
fn next_hfs_char(rest: &mut &[u8]) -> Option<u32> {
    loop {
        let c = pick_one_utf8_char(rest)?;
        if !hfs_ignores(c) {
            return Some(c);
        }
    }
}

/// git's `pick_one_utf8_char`: one UTF-8 character, or `None` when the
/// bytes are exhausted or malformed (overlong, surrogate, U+FFFE/U+FFFF,
/// beyond U+10FFFF).
fn pick_one_utf8_char(rest: &mut &[u8]) -> Option<u32> {
    let s = *rest;
    let cont = |i: usize| {
        s.get(i)
            .filter(|&&b| b & 0xc0 == 0x80)
            .map(|&b| u32::from(b & 0x3f))
    };
    let first = *s.first()?;
    let (c, len) = if first < 0x80 {
        (u32::from(first), 1)
    } else if first & 0xe0 == 0xc0 {
        if first & 0xfe == 0xc0 {
            return None;
        }
        ((u32::from(first & 0x1f) << 6) | cont(1)?, 2)
    } else if first & 0xf0 == 0xe0 {
        let (b1, b2) = (cont(1)?, cont(2)?);
        let overlong = first == 0xe0 && b1 & 0x20 == 0;
        let surrogate = first == 0xed && b1 & 0x20 != 0;
        let nonchar = first == 0xef && b1 == 0x3f && b2 & 0x3e == 0x3e;
        if overlong || surrogate || nonchar {
            return None;
        }
        ((u32::from(first & 0x0f) << 12) | (b1 << 6) | b2, 3)
    } else if first & 0xf8 == 0xf0 {
        let (b1, b2, b3) = (cont(1)?, cont(2)?, cont(3)?);
        let overlong = first == 0xf0 && b1 & 0x30 == 0;
        let too_big = (first == 0xf4 && b1 > 0x0f) || first > 0xf4;
        if overlong || too_big {
            return None;
        }
        (
            (u32::from(first & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3,
            4,
        )
    } else {
        return None;
    };
    if c == 0 {
        return None;
    }
    *rest = &s[len..];
    Some(c)
}

/// git's `is_hfs_dot_generic`: `.` then `needle` (ASCII, any case), then the
/// end, ignoring HFS+'s ignored code points throughout.
fn is_hfs_dot(name: &[u8], needle: &[u8]) -> bool {
    let mut rest = name;
    if next_hfs_char(&mut rest) != Some(u32::from(b'.')) {
        return false;
    }
    for &want in needle {
        match next_hfs_char(&mut rest) {
            Some(c) if c < 128 && (c as u8).to_ascii_lowercase() == want => {}
            _ => return false,
        }
    }
    matches!(next_hfs_char(&mut rest), None | Some(0x2f))
}

/// git's `is_ntfs_dotgit`: `.git` or `git~1` (any case), then only dots and
/// spaces up to the end, a directory separator or a `:` (stream).
fn is_ntfs_dotgit(name: &[u8]) -> bool {
    let rest = if let Some(r) = strip_prefix_ignore_case(name, b".git") {
        r
    } else if let Some(r) = strip_prefix_ignore_case(name, b"git~1") {
        r
    } else {
        return false;
    };
    only_dots_and_spaces_then_end(rest, true)
}

/// git's `is_ntfs_dot_generic` for `.<dotgit_name>`, its 6-letter short name
/// `<first six>~1`..`~4`, and the hashed fall-back short name
/// `<shortname_prefix>~<digits>`.
fn is_ntfs_dot(name: &[u8], dotgit_name: &[u8], shortname_prefix: &[u8]) -> bool {
    if name.first() == Some(&b'.') {
        if let Some(rest) = strip_prefix_ignore_case(&name[1..], dotgit_name) {
            return only_dots_and_spaces_then_end(rest, false);
        }
    }
    if let Some([b'~', b'1'..=b'4', rest @ ..]) = strip_prefix_ignore_case(name, &dotgit_name[..6])
    {
        return only_dots_and_spaces_then_end(rest, false);
    }
    is_fallback_short_name(name, shortname_prefix)
}

/// The fall-back 8.3 name: up to six characters of `prefix`, `~`, a digit
/// 1-9, then digits, eight characters in all.
fn is_fallback_short_name(name: &[u8], prefix: &[u8]) -> bool {
    let mut saw_tilde = false;
    let mut i = 0;
    while i < 8 {
        let Some(&c) = name.get(i) else {
            return false;
        };
        if saw_tilde {
            if !c.is_ascii_digit() {
                return false;
            }
        } else if c == b'~' {
            i += 1;
            if !matches!(name.get(i), Some(b'1'..=b'9')) {
                return false;
            }
            saw_tilde = true;
        } else if i >= 6 || c & 0x80 != 0 || c.to_ascii_lowercase() != prefix[i] {
            return false;
        }
        i += 1;
    }
    only_dots_and_spaces_then_end(&name[8..], false)
}

/// The tail git accepts after an NTFS alias: dots and spaces, then the end
/// or `:` (and, for `.git` itself, a `/` or `\`, which atoms never hold in
/// a name anyway).
fn only_dots_and_spaces_then_end(rest: &[u8], separators_end: bool) -> bool {
    for &c in rest {
        match c {
            b':' => return true,
            b'/' | b'\\' if separators_end => return true,
            b'.' | b' ' => {}
            _ => return false,
        }
    }
    true
}

fn strip_prefix_ignore_case<'a>(name: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hfs_aliases_of_dotgit() {
        for name in [
            &b".git"[..],
            b".GiT",
            ".g\u{200c}it".as_bytes(),
            "\u{feff}.git\u{200d}".as_bytes(),
            ".\u{202e}git".as_bytes(),
            b".git\xff",
            b".git\xef\xbf\xbe",
        ] {
            assert!(is_dotgit(name), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn ntfs_aliases_of_dotgit() {
        for name in [
            &b"git~1"[..],
            b"GIT~1",
            b".git.",
            b".git ",
            b".git. . ",
            b".git::$INDEX_ALLOCATION",
            b"git~1 .",
        ] {
            assert!(is_dotgit(name), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn near_misses_are_not_dotgit() {
        for name in [
            &b"git"[..],
            b".gi",
            b".gitx",
            b".git-foo",
            b"git~2",
            b".git~1",
            b"..git",
            ".g\u{ad}it".as_bytes(),
            ".g\u{2060}it".as_bytes(),
            ".g\u{131}t".as_bytes(),
            b".gitmodules",
        ] {
            assert!(!is_dotgit(name), "{:?}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn gitmodules_aliases() {
        for name in [
            &b".gitmodules"[..],
            b".GITMODULES",
            ".gitmod\u{200c}ules".as_bytes(),
            b".gitmodules .",
            b".gitmodules:x",
            b"gitmod~1",
            b"GITMOD~4",
            b"gi7eba~1",
            b"gi7eba~9",
            b"gi7eb~12",
        ] {
            assert!(
                is_dotgitmodules(name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
        for name in [
            &b"gitmodules"[..],
            b".gitmodulesx",
            b"gitmod~5",
            b"gi7eba~0",
            b"gi7ebax~1",
        ] {
            assert!(
                !is_dotgitmodules(name),
                "{:?}",
                String::from_utf8_lossy(name)
            );
        }
    }
}
