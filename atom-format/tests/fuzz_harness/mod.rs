//! The fuzzing harness both crates' parser fuzz tests share (included by
//! `atom-format/tests/fuzz_parsers.rs` and, by path,
//! `atom-lock/tests/fuzz_parsers.rs`): a seeded generator, mutations of
//! valid seeds, and a driver that reports every input that panicked.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// A small, seeded xorshift generator: the same seed gives the same inputs.
pub struct Rng(u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
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

pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
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

pub fn iterations() -> usize {
    std::env::var("EKA_FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// Runs `parse` on the seeds and on mutations of them; fails naming every
/// input that panicked.
pub fn fuzz(name: &str, seed: u64, seeds: &[Vec<u8>], parse: impl Fn(&[u8])) {
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

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
