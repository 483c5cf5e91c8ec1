//! The attacks of issue 15, each refused by a consumer's policy check with
//! a reason that names what is wrong. (The registry's side is in
//! `hook.rs`.)

mod common;

use atom_format::ContentDigest;
use atom_trust::allowed_signers::{AllowedSigners, Judgement};
use atom_trust::policy::{judge_yank, YankStatus};
use atom_trust::{
    make_yank, sign_statements, ListedTag, Policy, Reason, SignatureStatus, SigningKey, Statement,
    Tagger, Timestamp,
};
use common::{seeded_key, statement};
use gix::ObjectId;

const COMMIT: &[u8] = b"0c5ed1a8ef7ec1e5f0e4bd4e0b7bbaa0c07c5c9e";
/// 2025-10-09T08:53:20Z.
const SIGNED_AT: i64 = 1_760_000_000;

fn commit() -> ObjectId {
    ObjectId::from_hex(COMMIT).unwrap()
}

fn atom() -> Statement {
    statement(commit(), "hello", "1.0.0", 1)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::in_process(seeded_key(seed)).unwrap()
}

fn public(seed: u8) -> String {
    key(seed).public_key().unwrap().to_openssh().unwrap()
}

fn sign(seed: u8, statement: &Statement) -> atom_trust::StatementTag {
    let tagger = Tagger::new("signer", "s@example.com", SIGNED_AT).unwrap();
    sign_statements(&key(seed), std::slice::from_ref(statement), &tagger)
        .unwrap()
        .remove(0)
}

fn policy(lines: &str) -> Policy {
    Policy {
        signers: AllowedSigners::parse(lines).unwrap(),
        root: None,
    }
}

fn listed(tag: &atom_trust::StatementTag) -> ListedTag<'_> {
    ListedTag {
        listed: tag.signer,
        bytes: &tag.bytes,
    }
}

/// The refusal text for the atom with these signatures.
fn refusal(policy: &Policy, atom: &Statement, tags: &[&atom_trust::StatementTag]) -> String {
    let evaluation = policy.evaluate(atom, tags.iter().map(|t| listed(t)));
    assert!(!evaluation.admitted());
    evaluation.into_result().unwrap_err().to_string()
}

#[test]
fn a_signature_by_an_allowed_key_is_admitted_and_recorded() {
    let tag = sign(1, &atom());
    let policy = policy(&format!("alice@example.com {}\n", public(1)));
    let recorded = policy
        .evaluate(&atom(), [listed(&tag)])
        .into_result()
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].fingerprint, tag.signer.unwrap());
    assert_eq!(recorded[0].signed_at, SIGNED_AT);
    policy
        .check_recorded("hello@1.0.0", atom().root, &recorded)
        .unwrap();
}

#[test]
fn a_signature_by_an_unknown_key_is_refused() {
    let tag = sign(2, &atom());
    let text = refusal(&policy(&format!("alice {}\n", public(1))), &atom(), &[&tag]);
    assert!(
        text.starts_with("hello@1.0.0: no valid signature by an allowed key"),
        "{text}"
    );
    assert!(text.contains("unknown signer"), "{text}");
    assert!(text.contains(&tag.signer.unwrap().to_string()), "{text}");
}

#[test]
fn a_signature_by_a_revoked_or_expired_key_is_refused() {
    let tag = sign(1, &atom());
    // Retired the day before the signature.
    let text = refusal(
        &policy(&format!("alice valid-before=\"20251008Z\" {}\n", public(1))),
        &atom(),
        &[&tag],
    );
    assert!(
        text.contains("the key expired (valid-before 2025-10-08T00:00:00Z)"),
        "{text}"
    );
    // Not valid yet when signed.
    let text = refusal(
        &policy(&format!("alice valid-after=\"20251010Z\" {}\n", public(1))),
        &atom(),
        &[&tag],
    );
    assert!(text.contains("not yet valid"), "{text}");
    // Allowed for other namespaces only.
    let text = refusal(
        &policy(&format!("alice namespaces=\"file\" {}\n", public(1))),
        &atom(),
        &[&tag],
    );
    assert!(
        text.contains("may sign only in namespaces `file`"),
        "{text}"
    );
}

#[test]
fn a_signature_over_another_version_or_digest_is_refused() {
    let policy = policy(&format!("alice {}\n", public(1)));
    let other_version = sign(1, &statement(commit(), "hello", "1.0.1", 1));
    let text = refusal(&policy, &atom(), &[&other_version]);
    assert!(
        text.contains("signed for version 1.0.1, but the atom's is 1.0.0"),
        "{text}"
    );
    let other_digest = sign(1, &statement(commit(), "hello", "1.0.0", 2));
    let text = refusal(&policy, &atom(), &[&other_digest]);
    assert!(
        text.contains(&format!(
            "signed for digest {}, but the atom's is {}",
            ContentDigest([2; 32]),
            ContentDigest([1; 32])
        )),
        "{text}"
    );
}

#[test]
fn a_signature_copied_from_another_atom_is_refused() {
    let policy = policy(&format!("alice {}\n", public(1)));
    let other = ObjectId::from_hex(b"1111111111111111111111111111111111111111").unwrap();
    let copied = sign(1, &statement(other, "world", "1.0.0", 1));
    let text = refusal(&policy, &atom(), &[&copied]);
    assert!(
        text.contains("signed for label world, but the atom's is hello"),
        "{text}"
    );
    assert!(text.contains("signed for commit 1111"), "{text}");
}

#[test]
fn refs_rewritten_after_signing_are_refused() {
    // The signature was made over the published commit; a force push moved
    // the version's ref to another commit (other content).
    let tag = sign(1, &atom());
    let policy = policy(&format!("alice {}\n", public(1)));
    let rewritten = statement(
        ObjectId::from_hex(b"2222222222222222222222222222222222222222").unwrap(),
        "hello",
        "1.0.0",
        9,
    );
    let text = refusal(&policy, &rewritten, &[&tag]);
    assert!(text.contains("signed for commit 0c5e"), "{text}");
    assert!(text.contains("signed for digest"), "{text}");
}

#[test]
fn a_stripped_signature_on_a_set_that_requires_one_is_refused() {
    let policy = policy(&format!("alice {}\n", public(1)));
    let text = refusal(&policy, &atom(), &[]);
    assert_eq!(
        text,
        "hello@1.0.0: not signed, and the policy requires a signature by an allowed key"
    );
}

#[test]
fn a_tampered_tag_or_a_lying_ref_is_refused() {
    let policy = policy(&format!("alice {}\n", public(1)));
    let tag = sign(1, &atom());
    // One byte of the payload changed (the tagger's time).
    let mut tampered = tag.clone();
    tampered.bytes = String::from_utf8(tag.bytes.clone())
        .unwrap()
        .replace("1760000000", "1760000001")
        .into_bytes();
    let text = refusal(&policy, &atom(), &[&tampered]);
    assert!(text.contains("the signature does not verify"), "{text}");
    // The ref names signer 2, the tag is signed by 1: a listing would count
    // a signer who never signed.
    let mut lying = tag.clone();
    lying.signer = sign(2, &atom()).signer;
    let text = refusal(&policy, &atom(), &[&lying]);
    assert!(text.contains("the ref names signer"), "{text}");
}

#[test]
fn a_fork_with_another_root_is_refused_by_a_pinned_root() {
    let tag = sign(1, &atom());
    let mut policy = policy(&format!("alice {}\n", public(1)));
    policy.root = Some(ObjectId::from_hex(b"3333333333333333333333333333333333333333").unwrap());
    let text = refusal(&policy, &atom(), &[&tag]);
    assert!(text.contains("the policy pins 3333"), "{text}");
    assert!(policy
        .check_recorded("hello@1.0.0", atom().root, &[])
        .is_err());
}

#[test]
fn a_lock_whose_signers_no_longer_satisfy_the_policy_fails_its_check() {
    let tag = sign(1, &atom());
    let before = policy(&format!("alice {}\n", public(1)));
    let recorded = before
        .evaluate(&atom(), [listed(&tag)])
        .into_result()
        .unwrap();
    // The key was revoked as of a time before the signature.
    let revoked = policy(&format!("alice valid-before=\"20250101Z\" {}\n", public(1)));
    let err = revoked
        .check_recorded("hello@1.0.0", atom().root, &recorded)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no longer satisfy the policy"), "{err}");
    assert!(err.contains("expired"), "{err}");
    // The key was removed.
    let removed = policy(&format!("bob {}\n", public(2)));
    let err = removed
        .check_recorded("hello@1.0.0", atom().root, &recorded)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no longer in the policy"), "{err}");
    // A rotation that keeps the old key for what it signed before: still ok.
    let rotated = policy(&format!(
        "alice valid-before=\"20260101Z\" {}\nalice valid-after=\"20260101Z\" {}\n",
        public(1),
        public(2)
    ));
    rotated
        .check_recorded("hello@1.0.0", atom().root, &recorded)
        .unwrap();
}

#[test]
fn forged_yanks_are_ignored_with_their_reason() {
    let target = atom().target();
    let tagger = Tagger::new("y", "y@example.com", SIGNED_AT).unwrap();
    let yank = atom().yank(Reason::new("CVE-2026-0001").unwrap());
    let signers = AllowedSigners::parse(&format!("alice {}\n", public(1))).unwrap();
    let judge = |tag: &atom_trust::StatementTag, signers: Option<&AllowedSigners>| {
        judge_yank(&target, listed(tag), signers)
    };
    // Signed by an allowed key: counts.
    let good = make_yank(Some(&key(1)), &yank, &tagger).unwrap();
    let verdict = judge(&good, Some(&signers));
    assert!(verdict.counts(), "{verdict:?}");
    assert_eq!(verdict.reason.as_deref(), Some("CVE-2026-0001"));
    // Unsigned, on a set with a policy: ignored.
    let unsigned = make_yank(None, &yank, &tagger).unwrap();
    assert_eq!(unsigned.ref_name, "refs/atoms/_yank/hello/1.0.0/unsigned");
    let why = ignored(judge(&unsigned, Some(&signers)).status);
    assert!(why.contains("not signed"), "{why}");
    // ... but without a policy it counts (whoever can push it can publish).
    assert!(judge(&unsigned, None).counts());
    // Signed by an unknown key.
    let why = ignored(
        judge(
            &make_yank(Some(&key(2)), &yank, &tagger).unwrap(),
            Some(&signers),
        )
        .status,
    );
    assert!(why.contains("does not hold"), "{why}");
    // A yank of another version, copied here.
    let other = statement(commit(), "hello", "2.0.0", 1).yank(Reason::new("x").unwrap());
    let why = ignored(
        judge(
            &make_yank(Some(&key(1)), &other, &tagger).unwrap(),
            Some(&signers),
        )
        .status,
    );
    assert!(why.contains("a yank of another atom"), "{why}");
    // Its reason changed after signing.
    let mut tampered = good.clone();
    tampered.bytes = String::from_utf8(good.bytes.clone())
        .unwrap()
        .replace("CVE-2026-0001", "CVE-2026-0002")
        .into_bytes();
    let why = ignored(judge(&tampered, Some(&signers)).status);
    assert!(why.contains("does not verify"), "{why}");
    let why = ignored(judge(&tampered, None).status);
    assert!(why.contains("does not verify"), "{why}");
}

fn ignored(status: YankStatus) -> String {
    match status {
        YankStatus::Ignored { why } => why,
        YankStatus::Counts { .. } => panic!("the yank counts"),
    }
}

#[test]
fn without_a_policy_good_signatures_are_reported_not_judged() {
    let tag = sign(1, &atom());
    let verdict = atom_trust::judge_signature(&atom(), listed(&tag), None);
    assert!(matches!(verdict.status, SignatureStatus::Good));
    assert_eq!(verdict.signed_at, Some(Timestamp(SIGNED_AT)));
    let signers = AllowedSigners::parse(&format!("alice {}\n", public(1))).unwrap();
    let key = seeded_key(1);
    assert!(matches!(
        signers.judge(key.public_key().key_data(), "git", Timestamp(SIGNED_AT)),
        Judgement::Allowed { .. }
    ));
}
