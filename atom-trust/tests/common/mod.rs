//! Helpers for the interop tests: real `ssh-keygen` and `git`, which must be
//! installed (the tests fail, naming the tool, when they are not).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use atom_format::{ContentDigest, Label};
use atom_trust::Statement;
use gix::ObjectId;
use semver::Version;

/// Runs a tool, failing the test with a clear message if it is missing.
pub fn run(program: &str, args: &[&str], dir: &Path, stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("TZ", "UTC");
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("`{program}` is needed by these tests and could not be run ({e}); install it (Debian: openssh-client, git)")
    });
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs a tool that must succeed; returns its stdout.
pub fn ok(program: &str, args: &[&str], dir: &Path, stdin: Option<&[u8]>) -> String {
    let out = run(program, args, dir, stdin);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A fresh key pair from ssh-keygen: (private key file, public key line).
pub fn keygen(dir: &Path, name: &str, kind: &str, bits: Option<&str>) -> (PathBuf, String) {
    let path = dir.join(name);
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", name, "-f"];
    let p = path.to_str().unwrap().to_owned();
    args.push(&p);
    if let Some(bits) = bits {
        args.extend(["-b", bits]);
    }
    ok("ssh-keygen", &args, dir, None);
    let public = std::fs::read_to_string(format!("{}.pub", path.display())).unwrap();
    (path, public.trim().to_owned())
}

/// The key kinds ssh-keygen makes and eka reads: (type, bits).
pub const KINDS: [(&str, Option<&str>); 5] = [
    ("ed25519", None),
    ("ecdsa", Some("256")),
    ("ecdsa", Some("384")),
    ("ecdsa", Some("521")),
    ("rsa", Some("2048")),
];

/// A git repository with one commit; returns its id.
pub fn repo_with_commit(dir: &Path) -> ObjectId {
    ok("git", &["init", "-q", "."], dir, None);
    std::fs::write(
        dir.join("atom.toml"),
        "[package]\nlabel = \"hello\"\nversion = \"1.0.0\"\n",
    )
    .unwrap();
    ok("git", &["add", "atom.toml"], dir, None);
    ok(
        "git",
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "-m",
            "init",
        ],
        dir,
        None,
    );
    let head = ok("git", &["rev-parse", "HEAD"], dir, None);
    ObjectId::from_hex(head.trim().as_bytes()).unwrap()
}

/// A statement about `commit` (the other facts are made up but consistent).
pub fn statement(commit: ObjectId, label: &str, version: &str, digest_byte: u8) -> Statement {
    Statement::new(
        Label::parse(label).unwrap(),
        Version::parse(version).unwrap(),
        commit,
        ObjectId::from_hex(b"a4bffcee6f525902fb67c1b2bce9448405bd1774").unwrap(),
        ObjectId::from_hex(b"4abbd2644bc3585e9be95deb277ccf48f6ed26ac").unwrap(),
        ContentDigest([digest_byte; 32]),
    )
}

/// Writes a tag object into the repository (`git hash-object -t tag -w`,
/// which runs git's own checks on it); returns its id.
pub fn write_tag(dir: &Path, bytes: &[u8]) -> String {
    ok(
        "git",
        &["hash-object", "-t", "tag", "-w", "--stdin"],
        dir,
        Some(bytes),
    )
    .trim()
    .to_owned()
}

/// A deterministic in-process ed25519 key.
pub fn seeded_key(seed: u8) -> ssh_key::PrivateKey {
    let pair = ssh_key::private::Ed25519Keypair::from_seed(&[seed; 32]);
    let mut key = ssh_key::PrivateKey::from(pair);
    key.set_comment(format!("seed{seed}"));
    key
}
