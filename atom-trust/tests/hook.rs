//! The registry's rules (`atom_trust::hook`) on pushes against an
//! in-memory repository holding real atom commits, tags and blobs.

mod common;

use std::collections::{BTreeMap, HashMap};

use atom_format::commit::{commit_id, object_id};
use atom_format::{AtomCommit, ContentDigest, Label};
use atom_trust::allowed_signers::AllowedSigners;
use atom_trust::hook::{
    check_push, BoxError, HookMode, HookRepository, HookRules, Object, RefUpdate,
};
use atom_trust::{
    make_yank, sign_statements, Policy, Reason, SigningKey, Statement, Tagger, Timestamp,
};
use common::seeded_key;
use gix::object::Kind;
use gix::ObjectId;
use semver::Version;

const NOW: i64 = 1_760_000_000;

#[derive(Default)]
struct Repo {
    refs: BTreeMap<String, ObjectId>,
    objects: HashMap<ObjectId, Object>,
}

impl Repo {
    fn add(&mut self, kind: Kind, data: Vec<u8>) -> ObjectId {
        let id = object_id(kind, &data);
        self.objects.insert(id, Object { kind, data });
        id
    }
}

impl HookRepository for Repo {
    fn reference(&self, name: &str) -> Result<Option<ObjectId>, BoxError> {
        Ok(self.refs.get(name).copied())
    }
    fn references(&self, prefix: &str) -> Result<Vec<(String, ObjectId)>, BoxError> {
        Ok(self
            .refs
            .iter()
            .filter(|(n, _)| n.starts_with(prefix))
            .map(|(n, id)| (n.clone(), *id))
            .collect())
    }
    fn object(&self, id: &ObjectId) -> Result<Option<Object>, BoxError> {
        Ok(self.objects.get(id).cloned())
    }
    fn content_digest(&self, tree: &ObjectId) -> Result<ContentDigest, BoxError> {
        // A stand-in digest: one per tree, enough to tell contents apart.
        Ok(ContentDigest([tree.as_bytes()[0]; 32]))
    }
}

/// A registry's objects for one version of `hello`, and the refs a publish
/// pushes.
struct Fixture {
    repo: Repo,
    root: ObjectId,
    atom: ObjectId,
    statement: Statement,
    publish: Vec<RefUpdate>,
}

fn create(name: &str, new: ObjectId) -> RefUpdate {
    RefUpdate {
        old: ObjectId::null(gix::hash::Kind::Sha1),
        new,
        name: name.into(),
    }
}

fn fixture(version: &str) -> Fixture {
    let mut repo = Repo::default();
    let tree = repo.add(Kind::Tree, Vec::new());
    let root = repo.add(
        Kind::Commit,
        format!("tree {tree}\nauthor A <a@x> 0 +0000\ncommitter A <a@x> 0 +0000\n\nroot\n")
            .into_bytes(),
    );
    let commit = AtomCommit {
        tree,
        origin: root,
        label: Label::parse("hello").unwrap(),
        version: Version::parse(version).unwrap(),
    };
    let atom = repo.add(Kind::Commit, commit.to_bytes());
    assert_eq!(atom, commit_id(&commit.to_bytes()));
    let manifest = repo.add(Kind::Blob, b"[package]\n".to_vec());
    let statement = Statement::new(
        commit.label.clone(),
        commit.version.clone(),
        atom,
        root,
        root,
        repo.content_digest(&tree).unwrap(),
    );
    let publish = vec![
        create(&format!("refs/atoms/hello/{version}"), atom),
        create(&format!("refs/atoms/_manifest/hello/{version}"), manifest),
        create(&format!("refs/atoms/_origin/hello/{version}"), root),
        create("refs/atoms/_root", root),
    ];
    Fixture {
        repo,
        root,
        atom,
        statement,
        publish,
    }
}

fn key(seed: u8) -> SigningKey {
    SigningKey::in_process(seeded_key(seed)).unwrap()
}

fn signed(f: &mut Fixture, seed: u8, statement: &Statement, time: i64) -> RefUpdate {
    let tagger = Tagger::new("s", "s@x", time).unwrap();
    let tag = sign_statements(&key(seed), std::slice::from_ref(statement), &tagger)
        .unwrap()
        .remove(0);
    let id = f.repo.add(Kind::Tag, tag.bytes);
    create(&tag.ref_name, id)
}

fn policy(seed: u8) -> Policy {
    let public = key(seed).public_key().unwrap().to_openssh().unwrap();
    Policy {
        signers: AllowedSigners::parse(&format!("maintainer {public}\n")).unwrap(),
        root: None,
    }
}

fn rules(policy: Option<&Policy>) -> HookRules<'_> {
    HookRules {
        mode: HookMode::PreReceive,
        policy,
        clock: Some((Timestamp(NOW), 3600)),
    }
}

fn refusals(f: &Fixture, updates: &[RefUpdate], rules: &HookRules<'_>) -> Vec<String> {
    check_push(updates, &f.repo, rules)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Applies a push to the repository's refs.
fn apply(f: &mut Fixture, updates: &[RefUpdate]) {
    for u in updates {
        f.repo.refs.insert(u.name.clone(), u.new);
    }
}

#[test]
fn a_publish_is_accepted_and_its_refs_never_move_or_go() {
    let mut f = fixture("1.0.0");
    let publish = f.publish.clone();
    assert!(refusals(&f, &publish, &rules(None)).is_empty());
    apply(&mut f, &publish);
    let other = fixture("1.0.1").atom;
    for name in [
        "refs/atoms/hello/1.0.0",
        "refs/atoms/_root",
        "refs/atoms/_manifest/hello/1.0.0",
    ] {
        let old = f.repo.refs[name];
        let delete = RefUpdate {
            old,
            new: ObjectId::null(gix::hash::Kind::Sha1),
            name: name.into(),
        };
        let r = refusals(&f, &[delete], &rules(None));
        assert_eq!(r.len(), 1);
        assert!(
            r[0].starts_with(&format!("{name}: deleting a published ref is refused")),
            "{r:?}"
        );
        let force = RefUpdate {
            old,
            new: other,
            name: name.into(),
        };
        let r = refusals(&f, &[force], &rules(None));
        assert!(r[0].contains("moving a published ref is refused"), "{r:?}");
    }
    // eka 0.3's refs are as immutable; branches are not the hook's business.
    for name in [
        "refs/eka/atoms/hello/0.1.0",
        "refs/ekala/init",
        "refs/heads/main",
    ] {
        let update = RefUpdate {
            old: f.root,
            new: f.atom,
            name: name.into(),
        };
        let refused = !refusals(&f, &[update], &rules(None)).is_empty();
        assert_eq!(refused, name != "refs/heads/main", "{name}");
    }
}

#[test]
fn atom_commits_not_in_the_format_and_missing_siblings_are_refused() {
    let mut f = fixture("1.0.0");
    let bad = String::from_utf8(f.repo.objects[&f.atom].data.clone())
        .unwrap()
        .replace("format pre1", "format pre1\nextra x");
    let bad = f.repo.add(Kind::Commit, bad.into_bytes());
    let mut publish = f.publish.clone();
    publish[0].new = bad;
    let r = refusals(&f, &publish, &rules(None));
    assert!(
        r[0].contains("is not an atom commit in the format's layout"),
        "{r:?}"
    );
    // The commit of another version under this version's ref.
    let mut publish = f.publish.clone();
    let other = fixture("2.0.0");
    f.repo.objects.extend(other.repo.objects);
    publish[0].new = other.atom;
    let r = refusals(&f, &publish, &rules(None));
    assert!(
        r[0].contains("publishes hello@2.0.0, not hello@1.0.0"),
        "{r:?}"
    );
    // No manifest, no origin.
    for missing in [1, 2] {
        let mut publish = f.publish.clone();
        publish.remove(missing);
        let r = refusals(&f, &publish, &rules(None));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(r[0].contains("is missing"), "{r:?}");
        // An update hook cannot see the push's other refs: not refused.
        let update = HookRules {
            mode: HookMode::Update,
            ..rules(None)
        };
        assert!(refusals(&f, &publish[..1], &update).is_empty());
    }
    let r = refusals(
        &f,
        &[create("refs/atoms/_other/hello/1.0.0", f.atom)],
        &rules(None),
    );
    assert!(r[0].contains("not a ref of the atom format"), "{r:?}");
}

#[test]
fn with_a_policy_every_new_version_needs_an_allowed_signature() {
    let mut f = fixture("1.0.0");
    let policy = policy(1);
    let rules = rules(Some(&policy));
    let publish = f.publish.clone();
    let r = refusals(&f, &publish, &rules);
    assert_eq!(r, ["refs/atoms/hello/1.0.0: the registry's policy refuses it: not signed, and the policy requires a signature by an allowed key"]);
    let statement = f.statement.clone();
    let good = signed(&mut f, 1, &statement, NOW);
    let push: Vec<_> = publish.iter().cloned().chain([good.clone()]).collect();
    assert!(refusals(&f, &push, &rules).is_empty());
    // An unknown key's signature: refused, and the version with it.
    let unknown = signed(&mut f, 2, &statement, NOW);
    let push: Vec<_> = publish.iter().cloned().chain([unknown]).collect();
    let r = refusals(&f, &push, &rules);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r.iter().all(|r| r.contains("unknown signer")), "{r:?}");
    // A signature copied from another version.
    let other = Statement {
        version: Version::parse("9.0.0").unwrap(),
        ..statement.clone()
    };
    let mut copied = signed(&mut f, 1, &other, NOW);
    copied.name = good.name.clone();
    let push: Vec<_> = publish.iter().cloned().chain([copied]).collect();
    let r = refusals(&f, &push, &rules);
    assert!(
        r.iter().any(|r| r.contains("signed for version 9.0.0")),
        "{r:?}"
    );
    // A signature dated far from its push (a revoked key back-dating).
    let old = signed(&mut f, 1, &statement, NOW - 86_400);
    let push: Vec<_> = publish.iter().cloned().chain([old]).collect();
    let r = refusals(&f, &push, &rules);
    assert!(
        r.iter()
            .any(|r| r.contains("accepts signatures made within 3600 s")),
        "{r:?}"
    );
}

#[test]
fn signatures_added_later_and_yanks_are_checked_and_create_only() {
    let mut f = fixture("1.0.0");
    let publish = f.publish.clone();
    apply(&mut f, &publish);
    let policy = policy(1);
    let rules = rules(Some(&policy));
    let statement = f.statement.clone();
    let later = signed(&mut f, 1, &statement, NOW);
    assert!(refusals(&f, std::slice::from_ref(&later), &rules).is_empty());
    apply(&mut f, std::slice::from_ref(&later));
    let moved = RefUpdate {
        old: later.new,
        new: f.atom,
        name: later.name.clone(),
    };
    assert!(refusals(&f, &[moved], &rules)[0].contains("moving a published ref"));
    // A signature for a version that does not exist.
    let ghost = Statement {
        version: Version::parse("3.0.0").unwrap(),
        ..statement.clone()
    };
    let ghost = signed(&mut f, 1, &ghost, NOW);
    assert!(refusals(&f, &[ghost], &rules)[0].contains("there is no version hello@3.0.0"));
    // Yanks: signed by the maintainer, accepted; unsigned or by a stranger, refused.
    let tagger = Tagger::new("y", "y@x", NOW).unwrap();
    let yank = statement.yank(Reason::new("broken").unwrap());
    for (key, accepted) in [(Some(key(1)), true), (None, false), (Some(key(2)), false)] {
        let tag = make_yank(key.as_ref(), &yank, &tagger).unwrap();
        let id = f.repo.add(Kind::Tag, tag.bytes);
        let r = refusals(&f, &[create(&tag.ref_name, id)], &rules);
        assert_eq!(r.is_empty(), accepted, "{r:?}");
        if !accepted {
            assert!(r[0].contains("the yank is refused"), "{r:?}");
        }
    }
    // Without a policy, an unsigned yank is accepted.
    let tag = make_yank(None, &yank, &tagger).unwrap();
    let id = f.repo.add(Kind::Tag, tag.bytes);
    assert!(refusals(&f, &[create(&tag.ref_name, id)], &self::rules(None)).is_empty());
}

#[test]
fn eka_03_atoms_are_protected_and_signed_like_any_other() {
    let mut f = fixture("1.0.0");
    let eka03: Vec<RefUpdate> = f
        .publish
        .iter()
        .map(|u| {
            let name = match u.name.as_str() {
                "refs/atoms/hello/1.0.0" => "refs/eka/atoms/hello/1.0.0",
                "refs/atoms/_manifest/hello/1.0.0" => "refs/eka/meta/hello/1.0.0/manifest",
                "refs/atoms/_origin/hello/1.0.0" => "refs/eka/meta/hello/1.0.0/origin",
                _ => "refs/ekala/init",
            };
            create(name, u.new)
        })
        .collect();
    assert!(refusals(&f, &eka03, &rules(None)).is_empty());
    let policy = policy(1);
    let r = refusals(&f, &eka03, &rules(Some(&policy)));
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].starts_with(
            "refs/eka/atoms/hello/1.0.0: the registry's policy refuses it: not signed"
        ),
        "{r:?}"
    );
    let statement = f.statement.clone();
    let sig = signed(&mut f, 1, &statement, NOW);
    let push: Vec<_> = eka03.iter().cloned().chain([sig]).collect();
    assert!(refusals(&f, &push, &rules(Some(&policy))).is_empty());
}
