//! Seeded fuzzing of atom-lock's parsers of untrusted text: lockfiles
//! (written by eka, but committed by anyone, and published inside atoms),
//! atom URIs and repository URLs (pasted from anywhere). Mutated inputs
//! from valid seeds; no input may panic. Deterministic; see
//! `atom-format/tests/fuzz_parsers.rs` for `EKA_FUZZ_ITERATIONS` and
//! `EKA_FUZZ_SEED` (the harness is the same).

use std::panic::{catch_unwind, AssertUnwindSafe};

use atom_format::{ContentDigest, Label};
use atom_lock::{Aliases, AtomUri, Edge, LockedAtom, Lockfile, RepoUrl};
use semver::{Version, VersionReq};

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

/// A lock with two sets, an edge between atoms, and mirrors of every
/// kind, as eka writes it.
fn sample_lock() -> String {
    let root = |n: u8| gix::ObjectId::from_bytes_or_panic(&[n; 20]);
    let atom = |r: u8, label: &str, version: &str, deps: Vec<Edge>| LockedAtom {
        label: Label::parse(label).unwrap(),
        version: Version::parse(version).unwrap(),
        root: root(r),
        commit: root(label.len() as u8),
        origin: root(0xee),
        digest: ContentDigest([0xab; 32]),
        mirrors: vec![
            "https://example.com/repo".parse().unwrap(),
            "ssh://git@mirror.example:2222/repo.git".parse().unwrap(),
            "../local/repo".parse().unwrap(),
        ],
        deps,
        signers: Vec::new(),
    };
    let edge = |to: &LockedAtom, req: &str| Edge {
        label: to.label.clone(),
        req: VersionReq::parse(req).unwrap(),
        id: to.id(),
    };
    let util = atom(1, "util", "0.3.1+b.2", vec![]);
    let lib = atom(1, "lib", "1.4.0-rc.1", vec![edge(&util, "^0.3")]);
    let other = atom(2, "lib", "2.0.0", vec![]);
    Lockfile::new(
        vec![edge(&lib, "^1.4.0-rc.1"), edge(&other, "=2")],
        vec![util, lib, other],
    )
    .unwrap()
    .to_toml_string()
}

/// Inputs that once panicked, kept as regressions.
const REGRESSIONS: &[&str] = &[];

#[test]
fn lockfiles_never_panic() {
    let lock = sample_lock();
    assert!(Lockfile::parse(&lock, "atom.lock").is_ok());
    let mut seeds = vec![lock.into_bytes()];
    seeds.extend(REGRESSIONS.iter().map(|r| r.as_bytes().to_vec()));
    fuzz("lock", 0x6c6f636b, &seeds, |b| {
        if let Ok(l) = Lockfile::parse(&text(b), "atom.lock") {
            // What parses writes back to something that parses the same.
            let again = Lockfile::parse(&l.to_toml_string(), "atom.lock").unwrap();
            assert_eq!(again.to_toml_string(), l.to_toml_string());
        }
    });
}

#[test]
fn uris_and_urls_never_panic() {
    let aliases = Aliases::builtin();
    let seeds: Vec<Vec<u8>> = [
        "gh:owner/repo::lib@^1.2",
        "https://user@example.com:8443/a/b.git::lib@=1.0.0-rc.1",
        "ssh://git@host:22/~user/r::x",
        "git@github.com:owner/repo.git::lib",
        "file:///srv/r.git::lib@*",
        "../relative/path::lib@>=1, <2",
        "lib@1",
        "[::1]:repo::a",
        "http://[fe80::1%25eth0]/r::a",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    fuzz("uri", 0x75726973, &seeds, |b| {
        let s = text(b);
        let _ = AtomUri::parse(&s, &aliases);
        let _ = RepoUrl::parse(&s, &aliases);
        let _ = s.parse::<RepoUrl>();
    });
}
