//! Seeded fuzzing of the parsers that read untrusted bytes: manifests,
//! atom commits, labels, ref names, digests and atom ids. Each runs
//! mutated inputs (byte flips, insertions of syntax tokens, splices,
//! truncations, deep nesting) from valid seeds and checks that no input
//! panics: every answer is a value or a typed error.
//!
//! The runs are deterministic (a fixed seed per parser). In the suite each
//! parser gets `EKA_FUZZ_ITERATIONS` inputs (default 3,000, a second or
//! two); set it higher to fuzz for longer, and `EKA_FUZZ_SEED` to explore
//! other inputs. An input that panicked is printed escaped; it belongs in
//! `REGRESSIONS` below once fixed.

use atom_format::commit::AtomCommit;
use atom_format::manifest::Manifest;
use atom_format::refs::AtomRef;
use atom_format::{AtomId, ContentDigest, Label};

mod fuzz_harness;
use fuzz_harness::{fuzz, text};

const MANIFEST: &str = r#"# An atom.
[package]
label = "app"
version = "1.2.3-rc.1+build.5"
description = "x"
sets.s = ["https://example.com/r.git", "ssh://git@example.com:22/r"]
sets.local = "::"

[deps.from.s]
lib = "^1"
util = ">=0.3, <0.5"

[deps.from."::"]
sib = "*"
"#;

/// Inputs that once panicked, kept as regressions.
const REGRESSIONS: &[&str] = &[];

#[test]
fn manifests_never_panic() {
    let mut seeds: Vec<Vec<u8>> = vec![
        MANIFEST.into(),
        b"[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n".to_vec(),
        // eka 0.3's layout.
        b"[atom]\nid = \"a\"\nversion = \"0.1.0\"\n[deps.atoms.b]\nversion = \"^1\"\nstore = \"x\"\n".to_vec(),
    ];
    seeds.extend(REGRESSIONS.iter().map(|r| r.as_bytes().to_vec()));
    fuzz("manifest", 0x6d616e69, &seeds, |b| {
        let _ = Manifest::parse("atom.toml", &text(b));
    });
}

#[test]
fn atom_commits_never_panic() {
    let commit = AtomCommit {
        tree: gix_hash("4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
        origin: gix_hash("0123456789abcdef0123456789abcdef01234567"),
        label: Label::parse("lib").unwrap(),
        version: semver::Version::parse("1.0.0-rc.1+b").unwrap(),
    };
    let seeds = vec![commit.to_bytes()];
    fuzz("atom commit", 0x636f6d6d, &seeds, |b| {
        if let Ok(c) = AtomCommit::parse(b) {
            // What parses is canonical: it writes back byte for byte.
            assert_eq!(c.to_bytes(), b);
        }
    });
}

fn gix_hash(hex: &str) -> gix::ObjectId {
    gix::ObjectId::from_hex(hex.as_bytes()).unwrap()
}

#[test]
fn labels_refs_digests_and_ids_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        "lib",
        "f\u{43e}o-bar_9",
        "refs/atoms/lib/1.0.0",
        "refs/atoms/_manifest/lib/1.0.0+b",
        "refs/eka/meta/lib/1.0.0/origin",
        "refs/ekala/init",
        &format!("blake3:{}", "ab".repeat(32)),
        &"c".repeat(52),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("names", 0x6e616d65, &seeds, |b| {
        let s = text(b);
        if let Ok(l) = Label::parse(&s) {
            // A label is normalised: parsing it again gives it back.
            assert_eq!(Label::parse(l.as_str()).unwrap(), l);
        }
        let _ = AtomRef::parse_any(&s);
        let _ = ContentDigest::parse(&s);
        let _ = AtomId::parse(&s);
    });
}
