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

use std::panic::{catch_unwind, AssertUnwindSafe};

use atom_format::commit::AtomCommit;
use atom_format::manifest::Manifest;
use atom_format::refs::AtomRef;
use atom_format::{AtomId, ContentDigest, Label};

/// A small, seeded xorshift generator: the same seed gives the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces of syntax worth inserting: TOML, semver, URLs, Unicode edge
/// cases (invisible, bidi, non-characters), and numbers at their limits.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "\"",
    "'",
    "\"\"\"",
    "=",
    "\n",
    "\r\n",
    "#",
    ",",
    ".",
    "::",
    "@",
    "^",
    "~",
    ">=",
    "<",
    "*",
    "+",
    "-",
    "0",
    "18446744073709551616",
    "1.0.0",
    "1.0.0-rc.1+b",
    "\\u0000",
    "\\U0010FFFF",
    "\\",
    "\u{0}",
    "\u{1b}[2J",
    "\u{200d}",
    "\u{202e}",
    "\u{fffe}",
    "\u{10ffff}",
    "é",
    "e\u{301}",
    "ﬁ",
    "[package]",
    "[deps.from.s]",
    "label = ",
    "version = ",
    "sets.s = ",
    "inf",
    "nan",
    "1979-05-27T07:32:00Z",
    "true",
    "tree ",
    "origin ",
    "format pre1",
    "publish(",
    "): ",
    "author ",
    "refs/atoms/",
    "refs/eka/meta/",
    "/manifest",
    "_root",
    "blake3:",
    "\t",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(9) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next() as u8),
            2 | 3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, t.iter().copied());
            }
            4 if !out.is_empty() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            5 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + rng.below(32)).min(out.len());
                let piece = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            6 => out.truncate(at),
            7 => {
                // Deep nesting: arrays and inline tables, then quotes.
                let open = ["[", "{a=", "[[", "\""][rng.below(4)];
                let deep = open.repeat(1 + rng.below(3000));
                out.splice(at..at, deep.bytes());
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].repeat(1 + rng.below(64));
                out.splice(at..at, t.bytes());
            }
        }
    }
    out
}

fn iterations() -> usize {
    std::env::var("EKA_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// Runs `parse` on the seeds and on mutations of them; fails naming every
/// input that panicked.
fn fuzz(name: &str, seed: u64, seeds: &[Vec<u8>], parse: impl Fn(&[u8])) {
    let seed = std::env::var("EKA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    let mut rng = Rng(seed | 1);
    let mut panicked = Vec::new();
    let mut run = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| parse(input))).is_err() {
            panicked.push(String::from_utf8_lossy(input).escape_debug().to_string());
        }
    };
    for s in seeds {
        run(s);
    }
    for _ in 0..iterations() {
        let base = &seeds[rng.below(seeds.len())];
        run(&mutate(&mut rng, base));
    }
    assert!(
        panicked.is_empty(),
        "{name}: {} inputs panicked (seed {seed}), first: {}",
        panicked.len(),
        panicked[0]
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

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
