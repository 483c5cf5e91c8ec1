//! The worked example of `spec/trust.md` is what this crate produces, byte
//! for byte: the statement, the signed tag, its id, its ref, and the
//! `allowed_signers` line of its key.

mod common;

use atom_format::{AtomCommit, ContentDigest, Label};
use atom_trust::{sign_statements, SigningKey, Statement, Tagger};
use gix::ObjectId;
use semver::Version;

fn oid(hex: &str) -> ObjectId {
    ObjectId::from_hex(hex.as_bytes()).unwrap()
}

/// The fenced block after `<!-- example: NAME -->` in the spec.
fn block(spec: &str, name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let after = &spec[spec.find(&marker).unwrap_or_else(|| panic!("no {marker}")) + marker.len()..];
    let start = after.find("```text\n").unwrap() + "```text\n".len();
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_owned()
}

#[test]
fn the_spec_example_is_what_eka_writes() {
    let commit = AtomCommit {
        tree: oid("5e13fcf5dd6125ccec3b250629a4733fda422625"),
        origin: oid("a4bffcee6f525902fb67c1b2bce9448405bd1774"),
        label: Label::parse("nix-lock").unwrap(),
        version: Version::parse("0.1.6").unwrap(),
    };
    let statement = Statement::new(
        commit.label.clone(),
        commit.version.clone(),
        commit.id(),
        commit.origin,
        oid("4abbd2644bc3585e9be95deb277ccf48f6ed26ac"),
        ContentDigest::parse(
            "blake3:8b0ff1a4a6a0f39a1f4d0c5a0f7e1c3e4d2b5a69788796a5b4c3d2e1f0a9b8c7",
        )
        .unwrap(),
    );
    let key = SigningKey::in_process(common::seeded_key(1)).unwrap();
    let tagger = Tagger::new("Alice Example", "alice@example.com", 1_760_000_000).unwrap();
    let tag = sign_statements(&key, std::slice::from_ref(&statement), &tagger)
        .unwrap()
        .remove(0);
    let public = key.public_key().unwrap().to_openssh().unwrap();
    let actual = [
        ("statement", statement.render()),
        ("tag", String::from_utf8(tag.bytes.clone()).unwrap()),
        (
            "ids",
            format!(
                "atom commit {}\ntag object  {}\nref         {}\nfingerprint {}\n",
                commit.id(),
                tag.id,
                tag.ref_name,
                tag.signer.unwrap()
            ),
        ),
        ("allowed_signers", format!("alice@example.com {public}\n")),
    ];
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/trust.md")).unwrap();
    for (name, text) in actual {
        if std::env::var_os("EKA_PRINT_EXAMPLE").is_some() {
            println!("<!-- example: {name} -->\n```text\n{text}```\n");
            continue;
        }
        assert_eq!(
            block(&spec, name),
            text,
            "spec/trust.md's `{name}` differs from what eka writes"
        );
    }
}
