//! Seeded fuzzing of atom-lock's parsers of untrusted text: lockfiles
//! (written by eka, but committed by anyone, and published inside atoms),
//! atom URIs and repository URLs (pasted from anywhere). Mutated inputs
//! from valid seeds; no input may panic. Deterministic; see
//! `atom-format/tests/fuzz_parsers.rs` for `EKA_FUZZ_ITERATIONS` and
//! `EKA_FUZZ_SEED` (the harness is that file's, `atom-format/tests/fuzz_harness/`).

use atom_format::{ContentDigest, Label};
use atom_lock::{Aliases, AtomUri, Edge, LockedAtom, Lockfile, RepoUrl};
use semver::{Version, VersionReq};

#[path = "../../atom-format/tests/fuzz_harness/mod.rs"]
mod fuzz_harness;
use fuzz_harness::{fuzz, text};

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
