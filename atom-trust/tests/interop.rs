//! Interop both ways with OpenSSH's `ssh-keygen -Y` and git's SSH-signed
//! tags, for every key kind both sides handle.

mod common;

use std::path::Path;

use atom_trust::allowed_signers::AllowedSigners;
use atom_trust::{
    check_signature_tag, judge_signature, sign_statements, ListedTag, SignatureStatus, SigningKey,
    TagObject, Tagger,
};
use common::*;

fn tagger() -> Tagger {
    Tagger::new("eka test", "test@example.com", 1_760_000_000).unwrap()
}

/// Splits a tag into (payload, armored signature), as git does.
fn split(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let tag = TagObject::parse(bytes).unwrap();
    (tag.payload(), tag.signature.unwrap())
}

fn ssh_keygen_verify(
    dir: &Path,
    allowed: &str,
    principal: &str,
    payload: &[u8],
    sig: &[u8],
) -> bool {
    std::fs::write(dir.join("allowed"), allowed).unwrap();
    std::fs::write(dir.join("payload.sig"), sig).unwrap();
    let out = run(
        "ssh-keygen",
        &[
            "-Y",
            "verify",
            "-f",
            "allowed",
            "-I",
            principal,
            "-n",
            "git",
            "-s",
            "payload.sig",
        ],
        dir,
        Some(payload),
    );
    out.status.success()
}

#[test]
fn eka_signatures_verify_with_ssh_keygen_and_git_verify_tag() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let commit = repo_with_commit(dir);
    for (kind, bits) in KINDS {
        let name = format!("{kind}{}", bits.unwrap_or(""));
        let (private, public) = keygen(dir, &name, kind, bits);
        let key = SigningKey::from_file(&private).unwrap();
        // ed25519 and ECDSA sign in-process; RSA goes through ssh-keygen, and
        // so do the P-521 keys ssh-key 0.6 cannot read (about one in four:
        // "length invalid" on a private scalar with a leading zero byte).
        if name != "ecdsa521" {
            assert_eq!(key.is_in_process(), kind != "rsa", "{name}");
        }
        let statement = statement(commit, "hello", "1.0.0", 1);
        let tag = sign_statements(&key, std::slice::from_ref(&statement), &tagger())
            .unwrap()
            .remove(0);
        let (payload, sig) = split(&tag.bytes);
        let allowed = format!("alice@example.com {public}\n");
        assert!(
            ssh_keygen_verify(dir, &allowed, "alice@example.com", &payload, &sig),
            "{name}: ssh-keygen refuses eka's signature"
        );
        let mut tampered = payload.clone();
        *tampered.iter_mut().rev().nth(3).unwrap() ^= 1;
        assert!(
            !ssh_keygen_verify(dir, &allowed, "alice@example.com", &tampered, &sig),
            "{name}: the check cannot fail"
        );

        // git: the tag is an object git accepts, and verify-tag checks it.
        let id = write_tag(dir, &tag.bytes);
        assert_eq!(id, tag.id.to_string(), "{name}: git computes another id");
        std::fs::write(dir.join("allowed"), &allowed).unwrap();
        let out = run(
            "git",
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                "gpg.ssh.allowedSignersFile=allowed",
                "verify-tag",
                &id,
            ],
            dir,
            None,
        );
        assert!(
            out.status.success(),
            "{name}: git verify-tag refuses eka's tag: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr)
            .contains("Good \"git\" signature for alice@example.com"));
        // An allowed_signers file without the key: git refuses.
        std::fs::write(dir.join("allowed"), "").unwrap();
        let out = run(
            "git",
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                "gpg.ssh.allowedSignersFile=allowed",
                "verify-tag",
                &id,
            ],
            dir,
            None,
        );
        assert!(!out.status.success(), "{name}: git accepts an unknown key");
    }
    ok("git", &["fsck", "--strict", "--no-dangling"], dir, None);
}

#[test]
fn tags_git_signs_are_accepted_by_eka() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let commit = repo_with_commit(dir);
    for (kind, bits) in KINDS {
        let name = format!("{kind}{}", bits.unwrap_or(""));
        let (private, public) = keygen(dir, &name, kind, bits);
        let statement = statement(commit, "hello", "1.0.0", 2);
        std::fs::write(dir.join("statement"), statement.render()).unwrap();
        let tag_name = format!("sig-{name}");
        ok(
            "git",
            &[
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("user.signingKey={}", private.display()),
                "-c",
                "user.name=Git Signer",
                "-c",
                "user.email=git@example.com",
                "tag",
                "-s",
                "-F",
                "statement",
                &tag_name,
                &commit.to_string(),
            ],
            dir,
            None,
        );
        let bytes = ok("git", &["cat-file", "tag", &tag_name], dir, None).into_bytes();
        let checked = check_signature_tag(&bytes).unwrap_or_else(|e| {
            panic!("{name}: eka refuses git's tag: {}", atom_trust::causes(&e))
        });
        assert_eq!(checked.statement, statement);
        let policy = AllowedSigners::parse(&format!("git@example.com {public}\n")).unwrap();
        let verdict = judge_signature(
            &statement,
            ListedTag {
                listed: None,
                bytes: &bytes,
            },
            Some(&policy),
        );
        assert!(
            matches!(&verdict.status, SignatureStatus::Allowed { principals, .. } if principals == "git@example.com"),
            "{name}: {verdict}"
        );
        // Not the statement of another digest.
        let other = common::statement(commit, "hello", "1.0.0", 3);
        let verdict = judge_signature(
            &other,
            ListedTag {
                listed: None,
                bytes: &bytes,
            },
            Some(&policy),
        );
        assert!(
            matches!(verdict.status, SignatureStatus::WrongAtom { .. }),
            "{name}: {verdict}"
        );
    }
}

#[test]
fn in_process_ed25519_signatures_are_byte_for_byte_ssh_keygens() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (private, _) = keygen(dir, "ed", "ed25519", None);
    std::fs::write(dir.join("payload"), b"some payload\n").unwrap();
    ok(
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-n",
            "git",
            "-f",
            private.to_str().unwrap(),
            "payload",
        ],
        dir,
        None,
    );
    let theirs = std::fs::read_to_string(dir.join("payload.sig")).unwrap();
    let key = SigningKey::from_file(&private).unwrap();
    assert!(key.is_in_process());
    let ours = key.sign(&[b"some payload\n".to_vec()]).unwrap().remove(0);
    assert_eq!(ours.to_pem(ssh_key::LineEnding::LF).unwrap(), theirs);
}

#[test]
fn ssh_keygen_checks_a_signature_over_the_payload_only() {
    // The payload ends at the statement: a signature over the whole tag
    // (signature included) is not what git or eka check.
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let key = SigningKey::in_process(seeded_key(9)).unwrap();
    let commit = gix::ObjectId::from_hex(b"0c5ed1a8ef7ec1e5f0e4bd4e0b7bbaa0c07c5c9e").unwrap();
    let tag = sign_statements(&key, &[statement(commit, "hello", "1.0.0", 1)], &tagger())
        .unwrap()
        .remove(0);
    let (payload, sig) = split(&tag.bytes);
    let public = key.public_key().unwrap().to_openssh().unwrap();
    let allowed = format!("x {public}\n");
    assert!(ssh_keygen_verify(dir, &allowed, "x", &payload, &sig));
    assert!(!ssh_keygen_verify(dir, &allowed, "x", &tag.bytes, &sig));
    assert!(
        !ssh_keygen_verify(dir, &allowed, "y", &payload, &sig),
        "principal ignored"
    );
}
