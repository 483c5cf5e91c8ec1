//! The statements a signature or a yank makes about one atom version, byte
//! for byte (`spec/trust.md`, "Statements").
//!
//! A statement is a few `key value` lines after a fixed header, each ending
//! in one LF, in a fixed order. There is exactly one way to write each
//! statement, and [`Statement::parse`] accepts only that way, so a
//! signature over a statement signs exactly one meaning. The text survives
//! `git tag -F` untouched (no comment lines, no trailing spaces, one final
//! newline), so a statement can be signed by git itself.

use std::fmt;

use atom_format::{AtomId, ContentDigest, Label};
use gix::ObjectId;
use semver::Version;

/// The first line of a signature statement.
pub const SIGNATURE_HEADER: &str = "eka-atom-signature v1";
/// The first line of a yank statement.
pub const YANK_HEADER: &str = "eka-atom-yank v1";
/// The longest yank reason, in bytes.
pub const MAX_REASON_BYTES: usize = 1000;

/// What a signature binds: one version of one atom, in one repository, with
/// one content.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Statement {
    pub label: Label,
    pub version: Version,
    /// The atom id: [`AtomId::compute`] of `root` and `label`.
    pub id: AtomId,
    /// The atom commit (`refs/atoms/<label>/<version>`).
    pub commit: ObjectId,
    /// The source commit it was published from (the atom commit's `origin`).
    pub origin: ObjectId,
    /// The repository root commit (`refs/atoms/_root`).
    pub root: ObjectId,
    /// The BLAKE3 content digest of the atom's tree, which pins content
    /// beyond SHA-1.
    pub digest: ContentDigest,
}

/// What a yank binds: one version of one atom in one repository, and why it
/// is withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct YankStatement {
    pub label: Label,
    pub version: Version,
    pub id: AtomId,
    pub commit: ObjectId,
    pub root: ObjectId,
    pub reason: Reason,
}

/// The atom version a yank is checked against: what a ref listing tells
/// (no content digest is needed to read a yank).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct YankTarget {
    pub label: Label,
    pub version: Version,
    /// The atom commit (`refs/atoms/<label>/<version>`).
    pub commit: ObjectId,
    /// The repository root (`refs/atoms/_root`).
    pub root: ObjectId,
}

/// Why a version is yanked: one line of at most [`MAX_REASON_BYTES`] bytes,
/// without control characters or surrounding spaces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reason(String);

/// A reason that cannot be written in a yank statement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("the reason is empty")]
    Empty,
    #[error("the reason is {0} bytes long; at most {MAX_REASON_BYTES}")]
    TooLong(usize),
    #[error("the reason holds a control character (U+{0:04X}); it must be one line of text")]
    Control(u32),
    #[error("the reason starts or ends with white space")]
    Untrimmed,
}

impl Reason {
    pub fn new(text: &str) -> Result<Self, ReasonError> {
        if text.is_empty() {
            return Err(ReasonError::Empty);
        }
        if text.len() > MAX_REASON_BYTES {
            return Err(ReasonError::TooLong(text.len()));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(ReasonError::Control(c as u32));
        }
        if text.trim() != text {
            return Err(ReasonError::Untrimmed);
        }
        Ok(Reason(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why bytes are not a statement. Each names the first line that differs
/// from the canonical form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    #[error("the statement is not valid UTF-8")]
    NotUtf8,
    #[error("line {line}: expected `{expected}`, found `{found}`")]
    UnexpectedLine {
        line: usize,
        expected: String,
        found: String,
    },
    #[error("the statement does not end with a newline after its last line")]
    MissingFinalNewline,
    #[error("line {line}: `{value}` is not a valid {field}: {why}")]
    BadValue {
        line: usize,
        field: &'static str,
        value: String,
        why: String,
    },
    #[error("the id {found} is not the id of `{label}` under root {root} (that is {expected})")]
    InconsistentId {
        label: String,
        root: ObjectId,
        found: AtomId,
        expected: AtomId,
    },
}

/// One field in which a statement differs from the atom it is checked
/// against.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    pub field: &'static str,
    /// What the statement says.
    pub signed: String,
    /// What the atom is.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "signed for {} {}, but the atom's is {}",
            self.field, self.signed, self.actual
        )
    }
}

impl Statement {
    /// The statement for an atom version; the id is computed from `root` and
    /// `label`.
    pub fn new(
        label: Label,
        version: Version,
        commit: ObjectId,
        origin: ObjectId,
        root: ObjectId,
        digest: ContentDigest,
    ) -> Self {
        Statement {
            id: AtomId::compute(&root, &label),
            label,
            version,
            commit,
            origin,
            root,
            digest,
        }
    }

    /// The canonical text.
    pub fn render(&self) -> String {
        format!(
            "{SIGNATURE_HEADER}\nlabel {}\nversion {}\nid {}\ncommit {}\norigin {}\nroot {}\ndigest {}\n",
            self.label, self.version, self.id, self.commit, self.origin, self.root, self.digest
        )
    }

    /// Parses the canonical text, and only that.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        let mut lines = Lines::new(bytes, SIGNATURE_HEADER)?;
        let label = lines.label()?;
        let version = lines.version()?;
        let id = lines.id()?;
        let commit = lines.oid("commit")?;
        let origin = lines.oid("origin")?;
        let root = lines.oid("root")?;
        let digest = lines.value("digest", |v| {
            ContentDigest::parse(v).map_err(|e| e.to_string())
        })?;
        lines.end()?;
        check_id(&label, &root, id)?;
        Ok(Statement {
            label,
            version,
            id,
            commit,
            origin,
            root,
            digest,
        })
    }

    /// Every field in which this statement (what was signed) differs from
    /// `actual` (the atom at hand); empty when they are the same.
    pub fn mismatches(&self, actual: &Statement) -> Vec<Mismatch> {
        differing([
            ("label", self.label.to_string(), actual.label.to_string()),
            (
                "version",
                self.version.to_string(),
                actual.version.to_string(),
            ),
            ("id", self.id.to_string(), actual.id.to_string()),
            ("commit", self.commit.to_string(), actual.commit.to_string()),
            ("origin", self.origin.to_string(), actual.origin.to_string()),
            ("root", self.root.to_string(), actual.root.to_string()),
            ("digest", self.digest.to_string(), actual.digest.to_string()),
        ])
    }

    /// The atom version, as a yank names it.
    pub fn target(&self) -> YankTarget {
        YankTarget {
            label: self.label.clone(),
            version: self.version.clone(),
            commit: self.commit,
            root: self.root,
        }
    }

    /// The yank statement for the same atom version.
    pub fn yank(&self, reason: Reason) -> YankStatement {
        YankStatement {
            label: self.label.clone(),
            version: self.version.clone(),
            id: self.id,
            commit: self.commit,
            root: self.root,
            reason,
        }
    }
}

impl YankStatement {
    /// The yank statement for an atom version; the id is computed.
    pub fn new(target: &YankTarget, reason: Reason) -> Self {
        YankStatement {
            id: AtomId::compute(&target.root, &target.label),
            label: target.label.clone(),
            version: target.version.clone(),
            commit: target.commit,
            root: target.root,
            reason,
        }
    }

    /// The canonical text.
    pub fn render(&self) -> String {
        format!(
            "{YANK_HEADER}\nlabel {}\nversion {}\nid {}\ncommit {}\nroot {}\nreason {}\n",
            self.label, self.version, self.id, self.commit, self.root, self.reason
        )
    }

    /// Parses the canonical text, and only that.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatementError> {
        let mut lines = Lines::new(bytes, YANK_HEADER)?;
        let label = lines.label()?;
        let version = lines.version()?;
        let id = lines.id()?;
        let commit = lines.oid("commit")?;
        let root = lines.oid("root")?;
        let reason = lines.value("reason", |v| Reason::new(v).map_err(|e| e.to_string()))?;
        lines.end()?;
        check_id(&label, &root, id)?;
        Ok(YankStatement {
            label,
            version,
            id,
            commit,
            root,
            reason,
        })
    }

    /// Every field (but the reason) in which this yank differs from the atom
    /// at hand; empty when it is about that atom.
    pub fn mismatches(&self, actual: &YankTarget) -> Vec<Mismatch> {
        differing([
            ("label", self.label.to_string(), actual.label.to_string()),
            (
                "version",
                self.version.to_string(),
                actual.version.to_string(),
            ),
            ("commit", self.commit.to_string(), actual.commit.to_string()),
            ("root", self.root.to_string(), actual.root.to_string()),
        ])
    }
}

fn check_id(label: &Label, root: &ObjectId, found: AtomId) -> Result<(), StatementError> {
    let expected = AtomId::compute(root, label);
    if found == expected {
        Ok(())
    } else {
        Err(StatementError::InconsistentId {
            label: label.to_string(),
            root: *root,
            found,
            expected,
        })
    }
}

/// The lines of a statement, read in order.
struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8], header: &str) -> Result<Self, StatementError> {
        let text = std::str::from_utf8(bytes).map_err(|_| StatementError::NotUtf8)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(StatementError::MissingFinalNewline)?;
        let mut lines = Lines {
            lines: body.split('\n').collect(),
            next: 0,
        };
        let found = lines.take();
        if found != header {
            return Err(StatementError::UnexpectedLine {
                line: 1,
                expected: header.to_owned(),
                found: found.to_owned(),
            });
        }
        Ok(lines)
    }

    fn take(&mut self) -> &'a str {
        let line = self.lines.get(self.next).copied().unwrap_or("");
        self.next += 1;
        line
    }

    fn value<T>(
        &mut self,
        field: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, StatementError> {
        let line = self.take();
        let number = self.next;
        let value = line
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| StatementError::UnexpectedLine {
                line: number,
                expected: format!("{field} …"),
                found: line.to_owned(),
            })?;
        parse(value).map_err(|why| StatementError::BadValue {
            line: number,
            field,
            value: value.to_owned(),
            why,
        })
    }

    fn label(&mut self) -> Result<Label, StatementError> {
        self.value("label", |v| {
            let label = Label::parse(v).map_err(|e| e.to_string())?;
            if label.as_str() != v {
                return Err("not in NFKC normal form".into());
            }
            Ok(label)
        })
    }

    fn version(&mut self) -> Result<Version, StatementError> {
        self.value("version", |v| {
            let version = Version::parse(v).map_err(|e| e.to_string())?;
            if version.to_string() != v {
                return Err("not in canonical form".into());
            }
            Ok(version)
        })
    }

    fn id(&mut self) -> Result<AtomId, StatementError> {
        self.value("id", |v| AtomId::parse(v).map_err(|e| e.to_string()))
    }

    fn oid(&mut self, field: &'static str) -> Result<ObjectId, StatementError> {
        self.value(field, parse_oid)
    }

    fn end(&mut self) -> Result<(), StatementError> {
        match self.lines.get(self.next) {
            None => Ok(()),
            Some(extra) => Err(StatementError::UnexpectedLine {
                line: self.next + 1,
                expected: "end of statement".into(),
                found: (*extra).to_owned(),
            }),
        }
    }
}

/// A full commit id in lowercase hex (the only spelling a statement uses).
pub(crate) fn parse_oid(hex: &str) -> Result<ObjectId, String> {
    if hex.len() != 40 || hex.bytes().any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("expected 40 lowercase hex digits".into());
    }
    ObjectId::from_hex(hex.as_bytes()).map_err(|e| e.to_string())
}

/// The fields whose signed text differs from the actual one.
fn differing<const N: usize>(fields: [(&'static str, String, String); N]) -> Vec<Mismatch> {
    fields
        .into_iter()
        .filter(|(_, signed, actual)| signed != actual)
        .map(|(field, signed, actual)| Mismatch {
            field,
            signed,
            actual,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn oid(hex: &str) -> ObjectId {
        ObjectId::from_hex(hex.as_bytes()).unwrap()
    }

    /// The worked example of `spec/trust.md`.
    pub(crate) fn example() -> Statement {
        Statement::new(
            Label::parse("nix-lock").unwrap(),
            Version::parse("0.1.6").unwrap(),
            oid("0c5ed1a8ef7ec1e5f0e4bd4e0b7bbaa0c07c5c9e"),
            oid("a4bffcee6f525902fb67c1b2bce9448405bd1774"),
            oid("4abbd2644bc3585e9be95deb277ccf48f6ed26ac"),
            ContentDigest::parse(
                "blake3:2f8c1dc4a1f0a0cc3f4ec2b1b8a0c8a1bd5e9b9a3b5c3d3c2a9e0f1d4c6b7a80",
            )
            .unwrap(),
        )
    }

    #[test]
    fn the_worked_example_is_byte_for_byte() {
        assert_eq!(
            example().render(),
            "eka-atom-signature v1\n\
             label nix-lock\n\
             version 0.1.6\n\
             id r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0\n\
             commit 0c5ed1a8ef7ec1e5f0e4bd4e0b7bbaa0c07c5c9e\n\
             origin a4bffcee6f525902fb67c1b2bce9448405bd1774\n\
             root 4abbd2644bc3585e9be95deb277ccf48f6ed26ac\n\
             digest blake3:2f8c1dc4a1f0a0cc3f4ec2b1b8a0c8a1bd5e9b9a3b5c3d3c2a9e0f1d4c6b7a80\n"
        );
    }

    #[test]
    fn parse_round_trips() {
        let s = example();
        assert_eq!(Statement::parse(s.render().as_bytes()).unwrap(), s);
        let y = s.yank(Reason::new("CVE-2026-0001: remote code execution").unwrap());
        assert_eq!(YankStatement::parse(y.render().as_bytes()).unwrap(), y);
    }

    #[test]
    fn every_other_spelling_is_refused() {
        let good = example().render();
        let cases = [
            good.replace("eka-atom-signature v1", "eka-atom-signature v2"),
            good.replace("label nix-lock", "label  nix-lock"),
            good.replace("label nix-lock", "label nix-lock "),
            good.replace("version 0.1.6", "version 0.1.06"),
            good.replace("version 0.1.6", "version v0.1.6"),
            good.replace("commit 0c5e", "commit 0C5E"),
            good.replace("origin a4bf", "origin  a4bf"),
            good.replace("\norigin", "\nsource"),
            good.replace("digest blake3:", "digest sha256:"),
            good.replace('\n', "\r\n"),
            format!("{good}\n"),
            format!("{good}extra x\n"),
            good.trim_end().to_owned(),
            // Two lines swapped.
            good.replace("\ncommit", "\nXX")
                .replace("\norigin", "\ncommit")
                .replace("\nXX", "\norigin"),
            // A label that NFKC changes (fullwidth letters).
            good.replace("label nix-lock", "label ｎix-lock"),
            // The id of another label.
            good.replace(
                "r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0",
                &AtomId::compute(&example().root, &Label::parse("other").unwrap()).to_string(),
            ),
            good.replace("eka-atom-signature v1", "eka-atom-yank v1"),
        ];
        for bad in cases {
            assert_ne!(bad, good, "the case must change the statement");
            assert!(
                Statement::parse(bad.as_bytes()).is_err(),
                "accepted:\n{bad}"
            );
        }
    }

    #[test]
    fn an_inconsistent_id_is_named() {
        let other = AtomId::compute(&example().root, &Label::parse("other").unwrap());
        let bad = example()
            .render()
            .replace(&example().id.to_string(), &other.to_string());
        assert!(matches!(
            Statement::parse(bad.as_bytes()),
            Err(StatementError::InconsistentId { .. })
        ));
    }

    #[test]
    fn mismatches_name_each_field() {
        let signed = example();
        let mut actual = example();
        actual.digest = ContentDigest([7; 32]);
        actual.commit = oid("1111111111111111111111111111111111111111");
        let m = signed.mismatches(&actual);
        let fields: Vec<_> = m.iter().map(|m| m.field).collect();
        assert_eq!(fields, ["commit", "digest"]);
        assert!(m[1]
            .to_string()
            .starts_with("signed for digest blake3:2f8c"));
        assert!(signed.mismatches(&signed).is_empty());
    }

    #[test]
    fn reasons_are_one_trimmed_line() {
        assert!(Reason::new("broken build").is_ok());
        assert_eq!(Reason::new(""), Err(ReasonError::Empty));
        assert_eq!(Reason::new("a\nb"), Err(ReasonError::Control(10)));
        assert_eq!(Reason::new("a\u{7f}"), Err(ReasonError::Control(0x7f)));
        assert_eq!(Reason::new(" a"), Err(ReasonError::Untrimmed));
        assert_eq!(Reason::new("a\u{a0}"), Err(ReasonError::Untrimmed));
        assert!(matches!(
            Reason::new(&"x".repeat(1001)),
            Err(ReasonError::TooLong(1001))
        ));
        assert!(Reason::new(&"x".repeat(1000)).is_ok());
    }
}
