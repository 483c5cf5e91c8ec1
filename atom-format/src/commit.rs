//! Atom commits: the reproducible git commit that publishes one atom version.
//!
//! Everything in the commit is derived from the source commit, the atom's
//! directory and its manifest, so anyone holding the source commit can rebuild
//! it byte for byte and compare ids. Nothing personal or time-dependent goes
//! in: the identities are empty and the time is the epoch. The tree is the
//! atom directory's existing tree object, so publishing writes no blob or tree.

use gix::ObjectId;
use semver::Version;

use crate::Label;

/// The value of the `format` header: the atom commit layout of eka 0.3.
pub const FORMAT: &str = "pre1";

/// The identity line every atom commit uses for author and committer.
/// (An empty name followed by the space before `<`, hence two spaces.)
const IDENTITY: &str = "  <> 0 +0000";

/// The content of an atom commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomCommit {
    /// The atom directory's tree in the source commit.
    pub tree: ObjectId,
    /// The source commit the atom was published from.
    pub origin: ObjectId,
    pub label: Label,
    pub version: Version,
}

/// Why a commit is not a well-formed atom commit. Each names the first
/// difference from the canonical layout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AtomCommitError {
    #[error("the commit is not valid UTF-8")]
    NotUtf8,
    #[error("the commit has parents; an atom commit has none")]
    HasParents,
    #[error("line {line}: expected `{expected}`, found `{found}`")]
    UnexpectedLine {
        line: usize,
        expected: String,
        found: String,
    },
    #[error("the message `{0}` is not `publish(<label>): <version>`")]
    BadMessage(String),
    #[error("the message names label `{0}`: {1}")]
    BadLabel(String, crate::LabelError),
    #[error("the message names version `{0}`: {1}")]
    BadVersion(String, String),
    #[error("{0} is not a commit id")]
    BadId(String),
    #[error("the commit does not re-serialise to the same bytes (extra or reordered content)")]
    NotCanonical,
}

impl AtomCommit {
    /// The commit object's bytes (without git's `commit <len>\0` header).
    pub fn to_bytes(&self) -> Vec<u8> {
        format!(
            "tree {tree}\nauthor{IDENTITY}\ncommitter{IDENTITY}\norigin {origin}\nformat {FORMAT}\n\npublish({label}): {version}",
            tree = self.tree,
            origin = self.origin,
            label = self.label,
            version = self.version,
        )
        .into_bytes()
    }

    /// The commit's git id (SHA-1).
    pub fn id(&self) -> ObjectId {
        commit_id(&self.to_bytes())
    }

    /// Parses a commit's bytes strictly: only the exact layout that
    /// [`to_bytes`](Self::to_bytes) writes is accepted.
    pub fn parse(bytes: &[u8]) -> Result<Self, AtomCommitError> {
        let text = std::str::from_utf8(bytes).map_err(|_| AtomCommitError::NotUtf8)?;
        let (headers, message) = text.split_once("\n\n").ok_or(AtomCommitError::NotCanonical)?;
        let lines: Vec<&str> = headers.split('\n').collect();
        if lines.iter().any(|l| l.starts_with("parent ")) {
            return Err(AtomCommitError::HasParents);
        }
        let expect = |i: usize, prefix: &str| -> Result<&str, AtomCommitError> {
            let found = lines.get(i).copied().unwrap_or("");
            found
                .strip_prefix(prefix)
                .ok_or_else(|| AtomCommitError::UnexpectedLine {
                    line: i + 1,
                    expected: format!("{prefix}…"),
                    found: found.to_owned(),
                })
        };
        let exact = |i: usize, want: &str| -> Result<(), AtomCommitError> {
            let found = lines.get(i).copied().unwrap_or("");
            if found == want {
                Ok(())
            } else {
                Err(AtomCommitError::UnexpectedLine {
                    line: i + 1,
                    expected: want.to_owned(),
                    found: found.to_owned(),
                })
            }
        };
        let tree = parse_oid(expect(0, "tree ")?)?;
        exact(1, &format!("author{IDENTITY}"))?;
        exact(2, &format!("committer{IDENTITY}"))?;
        let origin = parse_oid(expect(3, "origin ")?)?;
        exact(4, &format!("format {FORMAT}"))?;
        if lines.len() != 5 {
            return Err(AtomCommitError::UnexpectedLine {
                line: 6,
                expected: "end of headers".into(),
                found: lines[5].to_owned(),
            });
        }
        let (label, version) = message
            .strip_prefix("publish(")
            .and_then(|m| m.split_once("): "))
            .ok_or_else(|| AtomCommitError::BadMessage(message.to_owned()))?;
        let label = Label::parse(label).map_err(|e| AtomCommitError::BadLabel(label.to_owned(), e))?;
        let version =
            Version::parse(version).map_err(|e| AtomCommitError::BadVersion(version.to_owned(), e.to_string()))?;
        let commit = AtomCommit {
            tree,
            origin,
            label,
            version,
        };
        // Catches what the line checks cannot see: a label that NFKC changed, a
        // version spelled differently, a trailing newline.
        if commit.to_bytes() != bytes {
            return Err(AtomCommitError::NotCanonical);
        }
        Ok(commit)
    }
}

fn parse_oid(hex: &str) -> Result<ObjectId, AtomCommitError> {
    if hex.len() != 40 || hex.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(AtomCommitError::BadId(hex.to_owned()));
    }
    ObjectId::from_hex(hex.as_bytes()).map_err(|_| AtomCommitError::BadId(hex.to_owned()))
}

/// The git id of a commit with these bytes.
pub fn commit_id(bytes: &[u8]) -> ObjectId {
    object_id(gix::object::Kind::Commit, bytes)
}

/// The git id of an object of `kind` with these bytes.
pub fn object_id(kind: gix::object::Kind, bytes: &[u8]) -> ObjectId {
    // Hashing in memory cannot fail except on a detected SHA-1 collision attack,
    // and then no id is the right answer: the null id never matches anything.
    gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, bytes)
        .unwrap_or_else(|_| ObjectId::null(gix::hash::Kind::Sha1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AtomCommit {
        AtomCommit {
            tree: ObjectId::from_hex(b"5e13fcf5dd6125ccec3b250629a4733fda422625").unwrap(),
            origin: ObjectId::from_hex(b"a4bffcee6f525902fb67c1b2bce9448405bd1774").unwrap(),
            label: Label::parse("nix-lock").unwrap(),
            version: Version::parse("0.1.6").unwrap(),
        }
    }

    #[test]
    fn parse_round_trips() {
        let c = sample();
        assert_eq!(AtomCommit::parse(&c.to_bytes()).unwrap(), c);
    }

    #[test]
    fn rejects_every_deviation() {
        let good = String::from_utf8(sample().to_bytes()).unwrap();
        let cases = [
            good.replace("author  <>", "author x <>"),
            good.replace("committer  <> 0", "committer  <> 1"),
            good.replace("format pre1", "format pre2"),
            good.replace("origin ", "source "),
            good.replace("\n\n", "\nextra x\n\n"),
            format!("{good}\n"),
            good.replace("publish(", "release("),
            good.replace("0.1.6", "0.1.06"),
            good.replace("tree 5e13", "tree 5E13"),
        ];
        for bad in cases {
            assert_ne!(bad, good, "the case must change the commit");
            assert!(AtomCommit::parse(bad.as_bytes()).is_err(), "accepted:\n{bad}");
        }
        let with_parent = good.replacen(
            "\nauthor",
            "\nparent a4bffcee6f525902fb67c1b2bce9448405bd1774\nauthor",
            1,
        );
        assert_eq!(
            AtomCommit::parse(with_parent.as_bytes()),
            Err(AtomCommitError::HasParents)
        );
    }
}
