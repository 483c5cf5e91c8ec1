//! eka 0.3 compatibility: the facts in `tests/data/eka-compat.toml` (copied
//! from the shared vectors) must be reproduced exactly.

use atom_format::{AtomCommit, AtomId, Label};
use gix::ObjectId;
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    id: Vec<IdCase>,
    commit: Vec<CommitCase>,
    labels: Labels,
}

#[derive(Deserialize)]
struct IdCase {
    root: String,
    label: String,
    id: String,
}

#[derive(Deserialize)]
struct CommitCase {
    label: String,
    version: String,
    origin: String,
    tree: String,
    id: String,
    bytes: String,
}

#[derive(Deserialize)]
struct Labels {
    valid: Vec<String>,
    invalid: Vec<InvalidLabel>,
}

#[derive(Deserialize)]
struct InvalidLabel {
    label: String,
    error: String,
}

fn vectors() -> Vectors {
    toml::from_str(include_str!("data/eka-compat.toml")).unwrap()
}

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).unwrap()
}

#[test]
fn atom_ids() {
    let v = vectors();
    assert!(v.id.len() >= 4);
    for case in v.id {
        let id = AtomId::compute(&oid(&case.root), &Label::parse(&case.label).unwrap());
        assert_eq!(
            id.to_string(),
            case.id,
            "{} under {}",
            case.label,
            case.root
        );
        assert_eq!(AtomId::parse(&case.id).unwrap(), id);
    }
}

#[test]
fn atom_id_hashes_raw_root_bytes_not_hex() {
    let case = &vectors().id[0];
    let label = Label::parse(&case.label).unwrap();
    let key = blake3::derive_key("AtomId", case.root.as_bytes());
    let wrong = blake3::keyed_hash(&key, label.as_str().as_bytes());
    let right = AtomId::compute(&oid(&case.root), &label);
    assert_ne!(wrong.as_bytes(), right.as_bytes());
}

#[test]
fn atom_commits_are_byte_exact() {
    let v = vectors();
    assert!(v.commit.len() >= 2);
    for case in v.commit {
        let commit = AtomCommit {
            tree: oid(&case.tree),
            origin: oid(&case.origin),
            label: Label::parse(&case.label).unwrap(),
            version: semver::Version::parse(&case.version).unwrap(),
        };
        assert_eq!(String::from_utf8(commit.to_bytes()).unwrap(), case.bytes);
        assert_eq!(commit.id(), oid(&case.id));
        assert_eq!(AtomCommit::parse(case.bytes.as_bytes()).unwrap(), commit);
    }
}

#[test]
fn valid_labels() {
    for label in vectors().labels.valid {
        let parsed = Label::parse(&label);
        assert!(parsed.is_ok(), "{label:?} should be valid");
        // None of eka 0.3's labels mixes scripts (as UTS #39 counts them).
        assert_eq!(parsed.unwrap().warnings(), [], "{label:?}");
    }
}

#[test]
fn invalid_labels_name_every_offending_character() {
    for case in vectors().labels.invalid {
        let err = Label::parse(&case.label).expect_err(&case.label);
        assert_eq!(err.to_string(), case.error, "{:?}", case.label);
    }
}

#[test]
fn further_invalid_labels() {
    // Listed in a comment of the vectors file.
    for label in [
        "_ΑΒΓ",
        "-кириллица",
        "汉字!",
        "ひらがな。",
        "한글 ",
        "Ññ\u{200B}",
        "Öö\t",
        "Ææ\n",
        "Łł\r",
        "ئ،",
        "א״",
        "ก๏",
        "Ա։",
        "ᚠ᛫",
        "한글漢字♥",
        "Café_au_lait-123☕",
    ] {
        assert!(Label::parse(label).is_err(), "{label:?} should be invalid");
    }
    assert!(Label::parse(&"é".repeat(64)).is_ok());
    assert!(Label::parse(&"é".repeat(65)).is_err());
}
