//! Annotated tag objects carrying a statement, split into the signed payload
//! and the SSH signature exactly as git splits them (`gpg-interface.c`,
//! `parse_signed_buffer`): the signature starts at the last line that opens
//! a signature block, and the payload is everything before it.
//!
//! A signed tag is what `git tag -s` writes with `gpg.format = ssh`:
//!
//! ```text
//! object <atom commit>
//! type commit
//! tag <name>
//! tagger <name> <<email>> <seconds since the epoch> <+hhmm>
//!
//! <statement>-----BEGIN SSH SIGNATURE-----
//! …
//! -----END SSH SIGNATURE-----
//! ```
//!
//! The payload is the tag up to the end of the statement; the signature is
//! an SSHSIG over it in the namespace `git`.

use gix::ObjectId;

use crate::statement::parse_oid;

/// The lines that open a signature block, as git recognises them. Only the
/// last one is SSH; a tag signed with another format is refused by name.
const SIGNATURE_MARKERS: [(&str, &str); 4] = [
    ("-----BEGIN PGP SIGNATURE-----", "OpenPGP"),
    ("-----BEGIN PGP MESSAGE-----", "OpenPGP"),
    ("-----BEGIN SIGNED MESSAGE-----", "X.509"),
    (SSH_MARKER, "SSH"),
];
const SSH_MARKER: &str = "-----BEGIN SSH SIGNATURE-----";

/// The person and time in a tag's `tagger` line. The time is the signing
/// time the policy's `valid-after`/`valid-before` are checked against, as
/// `git verify-tag` does (`-Overify-time`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tagger {
    pub name: String,
    pub email: String,
    /// Seconds since the Unix epoch.
    pub time: i64,
    /// The time zone offset as written, `+hhmm` or `-hhmm`.
    pub offset: String,
}

impl Tagger {
    /// A tagger at `time` (seconds since the epoch), in UTC.
    pub fn new(name: &str, email: &str, time: i64) -> Result<Self, TagError> {
        let tagger = Tagger {
            name: name.to_owned(),
            email: email.to_owned(),
            time,
            offset: "+0000".into(),
        };
        // What we write must read back; refuse names git would misread.
        let line = tagger.render();
        if Tagger::parse(&line).as_ref() != Ok(&tagger) {
            return Err(TagError::BadTagger(line));
        }
        Ok(tagger)
    }

    fn render(&self) -> String {
        // An empty name still has its space (`tagger  <> …`), as in atom
        // commits: `git fsck` wants a space before the `<`.
        format!(
            "{} <{}> {} {}",
            self.name, self.email, self.time, self.offset
        )
    }

    /// Parses what follows `tagger ` as git's `split_ident_line` reads it:
    /// the name up to ` <`, the email up to `>`, the time in seconds, the
    /// zone.
    fn parse(line: &str) -> Result<Self, TagError> {
        let bad = || TagError::BadTagger(line.to_owned());
        let (ident, date) = line.rsplit_once("> ").ok_or_else(bad)?;
        let (name, email) = ident.split_once('<').ok_or_else(bad)?;
        if email.contains(['<', '>']) || name.contains('>') {
            return Err(bad());
        }
        let name = name.strip_suffix(' ').ok_or_else(bad)?;
        let (time, offset) = date.split_once(' ').ok_or_else(bad)?;
        let is_offset = offset.len() == 5
            && matches!(offset.as_bytes()[0], b'+' | b'-')
            && offset[1..].bytes().all(|b| b.is_ascii_digit());
        if !is_offset || time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Ok(Tagger {
            name: name.to_owned(),
            email: email.to_owned(),
            time: time.parse().map_err(|_| bad())?,
            offset: offset.to_owned(),
        })
    }
}

/// An annotated tag object pointing at a commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagObject {
    /// The commit it points at.
    pub object: ObjectId,
    /// The tag's name (its `tag` header; not checked against any ref).
    pub name: String,
    pub tagger: Tagger,
    /// The message (the statement), up to the signature.
    pub message: Vec<u8>,
    /// The armored signature, from its `-----BEGIN` line to the end of the
    /// object; `None` for an unsigned tag.
    pub signature: Option<Vec<u8>>,
}

/// Why bytes are not a tag object eka can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("the tag is not valid UTF-8")]
    NotUtf8,
    #[error("tag header line {line}: expected `{expected}`, found `{found}`")]
    UnexpectedHeader {
        line: usize,
        expected: &'static str,
        found: String,
    },
    #[error("the tag points at a {0}; a statement's tag points at the atom commit")]
    NotACommit(String),
    #[error("`{0}` is not an object id")]
    BadObject(String),
    #[error("`{0}` is not a tagger line (`name <email> seconds +hhmm`)")]
    BadTagger(String),
    #[error("the tag name `{0}` holds a line break or is empty")]
    BadName(String),
    #[error("the tag is signed with {0}, not SSH")]
    NotSsh(&'static str),
}

impl TagObject {
    /// The signed payload: the headers, a blank line and the message.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = format!(
            "object {}\ntype commit\ntag {}\ntagger {}\n\n",
            self.object,
            self.name,
            self.tagger.render()
        )
        .into_bytes();
        out.extend_from_slice(&self.message);
        out
    }

    /// The object's bytes (without git's `tag <len>\0` header): the payload
    /// and the signature, if any.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.payload();
        if let Some(signature) = &self.signature {
            out.extend_from_slice(signature);
        }
        out
    }

    /// The tag's git id (SHA-1).
    pub fn id(&self) -> ObjectId {
        tag_id(&self.to_bytes())
    }

    /// Parses a tag object's bytes. The headers must be exactly `object`,
    /// `type commit`, `tag` and `tagger`, in this order (what `git tag`
    /// writes); the signature is split off as git splits it.
    pub fn parse(bytes: &[u8]) -> Result<Self, TagError> {
        let (payload_len, signature) = split_signature(bytes)?;
        let text = std::str::from_utf8(&bytes[..payload_len]).map_err(|_| TagError::NotUtf8)?;
        let (headers, message) = text.split_once("\n\n").ok_or(TagError::UnexpectedHeader {
            line: 1,
            expected: "headers, a blank line and a message",
            found: text.lines().next().unwrap_or("").to_owned(),
        })?;
        let lines: Vec<&str> = headers.split('\n').collect();
        let header = |i: usize, key: &'static str| -> Result<&str, TagError> {
            let found = lines.get(i).copied().unwrap_or("");
            found
                .strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .ok_or_else(|| TagError::UnexpectedHeader {
                    line: i + 1,
                    expected: key,
                    found: found.to_owned(),
                })
        };
        let object = header(0, "object")?;
        let object = parse_oid(object).map_err(|_| TagError::BadObject(object.to_owned()))?;
        let kind = header(1, "type")?;
        if kind != "commit" {
            return Err(TagError::NotACommit(kind.to_owned()));
        }
        let name = header(2, "tag")?.to_owned();
        if name.is_empty() {
            return Err(TagError::BadName(name));
        }
        let tagger = Tagger::parse(header(3, "tagger")?)?;
        if lines.len() > 4 {
            return Err(TagError::UnexpectedHeader {
                line: 5,
                expected: "end of headers",
                found: lines[4].to_owned(),
            });
        }
        Ok(TagObject {
            object,
            name,
            tagger,
            message: message.as_bytes().to_vec(),
            signature: signature.map(<[u8]>::to_vec),
        })
    }
}

/// The git id of a tag object with these bytes.
pub fn tag_id(bytes: &[u8]) -> ObjectId {
    atom_format::commit::object_id(gix::object::Kind::Tag, bytes)
}

/// Where the signature starts (git's `parse_signed_buffer`: the last line
/// that opens a signature block of any format), and the signature.
fn split_signature(bytes: &[u8]) -> Result<(usize, Option<&[u8]>), TagError> {
    let mut start = 0;
    let mut found = None;
    while start < bytes.len() {
        let line = &bytes[start..];
        if let Some((_, format)) = SIGNATURE_MARKERS
            .iter()
            .find(|(marker, _)| line.starts_with(marker.as_bytes()))
        {
            found = Some((start, *format));
        }
        start += line
            .iter()
            .position(|&b| b == b'\n')
            .map_or(line.len(), |eol| eol + 1);
    }
    match found {
        None => Ok((bytes.len(), None)),
        Some((at, "SSH")) => Ok((at, Some(&bytes[at..]))),
        Some((_, format)) => Err(TagError::NotSsh(format)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TagObject {
        TagObject {
            object: ObjectId::from_hex(b"a4bffcee6f525902fb67c1b2bce9448405bd1774").unwrap(),
            name: "eka-signature/hello/1.0.0".into(),
            tagger: Tagger::new("A U Thor", "author@example.com", 1_700_000_000).unwrap(),
            message: b"hello\n".to_vec(),
            signature: Some(
                b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n".to_vec(),
            ),
        }
    }

    #[test]
    fn round_trips_and_splits_as_git_does() {
        let tag = sample();
        let bytes = tag.to_bytes();
        assert_eq!(TagObject::parse(&bytes).unwrap(), tag);
        assert!(tag.payload().ends_with(b"\n\nhello\n"));
        assert_eq!(
            String::from_utf8(tag.payload()).unwrap(),
            "object a4bffcee6f525902fb67c1b2bce9448405bd1774\ntype commit\n\
             tag eka-signature/hello/1.0.0\ntagger A U Thor <author@example.com> 1700000000 +0000\n\nhello\n"
        );
        let unsigned = TagObject {
            signature: None,
            ..sample()
        };
        assert_eq!(TagObject::parse(&unsigned.to_bytes()).unwrap(), unsigned);
    }

    #[test]
    fn the_last_signature_block_is_the_signature() {
        let mut tag = sample();
        tag.message = b"hello\n-----BEGIN SSH SIGNATURE-----\nX\n".to_vec();
        let parsed = TagObject::parse(&tag.to_bytes()).unwrap();
        assert_eq!(parsed.signature, tag.signature);
        assert_eq!(parsed.message, tag.message);
    }

    #[test]
    fn other_signature_formats_are_named() {
        let mut tag = sample();
        tag.signature =
            Some(b"-----BEGIN PGP SIGNATURE-----\nX\n-----END PGP SIGNATURE-----\n".to_vec());
        assert_eq!(
            TagObject::parse(&tag.to_bytes()),
            Err(TagError::NotSsh("OpenPGP"))
        );
    }

    #[test]
    fn headers_are_exactly_gits() {
        let good = String::from_utf8(sample().to_bytes()).unwrap();
        for bad in [
            good.replace("type commit", "type tree"),
            good.replace("\ntag ", "\nname "),
            good.replace("object a4bf", "object A4BF"),
            good.replace("+0000", "+000"),
            good.replace("1700000000", "17e8"),
            good.replace("\n\nhello", "\nextra x\n\nhello"),
            good.replace("<author@example.com>", "author@example.com"),
            good.replace("tag eka-signature/hello/1.0.0\n", ""),
            good.replace("\n\n", "\n"),
        ] {
            assert_ne!(bad, good);
            assert!(
                TagObject::parse(bad.as_bytes()).is_err(),
                "accepted:\n{bad}"
            );
        }
    }

    #[test]
    fn taggers_read_as_git_writes_them() {
        assert_eq!(Tagger::parse(" <> 0 +0000").unwrap().name, "");
        assert!(
            Tagger::parse("<> 0 +0000").is_err(),
            "git fsck wants a space before `<`"
        );
        assert_eq!(Tagger::new("", "", 0).unwrap().render(), " <> 0 +0000");
        let t = Tagger::parse("Jo Doe <jo@x> 1700000000 -0130").unwrap();
        assert_eq!(
            (t.name.as_str(), t.email.as_str(), t.time),
            ("Jo Doe", "jo@x", 1_700_000_000)
        );
        assert!(Tagger::new("a>b", "x", 0).is_err());
        assert!(Tagger::new("a", "x>", 0).is_err());
    }
}
