use super::*;

const ROOT_A: &str = "4abbd2644bc3585e9be95deb277ccf48f6ed26ac";
const ROOT_B: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

fn commit(n: u8) -> CommitId {
    gix::ObjectId::Sha1([n; 20])
}

fn atom(root: &str, label: &str, version: &str, deps: Vec<Edge>) -> LockedAtom {
    LockedAtom {
        label: Label::parse(label).unwrap(),
        version: Version::parse(version).unwrap(),
        root: parse_commit(root).unwrap(),
        commit: commit(label.len() as u8),
        origin: commit(0xee),
        digest: ContentDigest([0xab; 32]),
        mirrors: vec![
            "https://example.com/repo".parse().unwrap(),
            "ssh://git@mirror.example:2222/repo.git".parse().unwrap(),
        ],
        deps,
        signers: Vec::new(),
    }
}

fn edge(to: &LockedAtom, req: &str) -> Edge {
    Edge {
        label: to.label.clone(),
        req: VersionReq::parse(req).unwrap(),
        id: to.id(),
    }
}

/// app -> {lib (set A), lib (set B)}; lib (A) -> util.
fn sample_parts() -> (Vec<Edge>, Vec<LockedAtom>) {
    let util = atom(ROOT_A, "util", "0.3.1", vec![]);
    let lib_a = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
    let lib_b = atom(ROOT_B, "lib", "2.0.0", vec![]);
    let deps = vec![edge(&lib_b, "^2"), edge(&lib_a, "^1.2")];
    (deps, vec![util, lib_b, lib_a])
}

fn sample() -> Lockfile {
    let (d, a) = sample_parts();
    Lockfile::new(d, a).unwrap()
}

fn problem(text: &str) -> (Problem, String, Option<String>) {
    match Lockfile::parse(text, "atom.lock").unwrap_err() {
        LockError::Invalid {
            problem,
            span,
            first,
            ..
        } => {
            let cut = |s: SourceSpan| text[s.offset()..s.offset() + s.len()].to_string();
            (problem, span.map(cut).unwrap_or_default(), first.map(cut))
        }
        e => panic!("expected a content problem, got {e:?}"),
    }
}

#[test]
fn round_trip_is_byte_stable() {
    let lock = sample();
    let text = lock.to_toml_string();
    let again = Lockfile::parse(&text, "atom.lock").unwrap();
    assert_eq!(again, lock);
    assert_eq!(again.to_toml_string(), text);
    assert!(again.is_canonical_text(&text));
    // Input order does not matter.
    let (mut d, mut a) = sample_parts();
    d.reverse();
    a.reverse();
    a[1].deps.reverse();
    assert_eq!(Lockfile::new(d, a).unwrap().to_toml_string(), text);
}

#[test]
fn canonical_text() {
    let util = atom(ROOT_A, "util", "0.3.1", vec![]);
    let lib = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
    let (lib_id, util_id) = (lib.id(), util.id());
    let lock = Lockfile::new(vec![edge(&lib, "^1")], vec![util, lib]).unwrap();
    let digest = format!("blake3:{}", "ab".repeat(32));
    let want = format!(
        r#"# This file is written by eka (`eka lock`). Do not edit it by hand.
lock-version = 1

deps = [
    {{ label = "lib", req = "^1", id = "{lib_id}" }},
]

[[atom]]
label = "lib"
version = "1.4.0"
id = "{lib_id}"
root = "{ROOT_A}"
commit = "0303030303030303030303030303030303030303"
origin = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
digest = "{digest}"
mirrors = [
    "https://example.com/repo",
    "ssh://git@mirror.example:2222/repo.git",
]
deps = [
    {{ label = "util", req = "^0.3", id = "{util_id}" }},
]

[[atom]]
label = "util"
version = "0.3.1"
id = "{util_id}"
root = "{ROOT_A}"
commit = "0404040404040404040404040404040404040404"
origin = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
digest = "{digest}"
mirrors = [
    "https://example.com/repo",
    "ssh://git@mirror.example:2222/repo.git",
]
"#
    );
    assert_eq!(lock.to_toml_string(), want);
}

#[test]
fn spec_example_is_valid_and_canonical() {
    let spec = include_str!("../../../spec/lock.md");
    let start = spec.find("```toml\n").unwrap() + "```toml\n".len();
    let end = start + spec[start..].find("```").unwrap();
    let example = &spec[start..end];
    let lock = Lockfile::parse(example, "spec/lock.md").unwrap();
    assert!(lock.is_canonical_text(example));
    // It is the lock this module's fixtures build.
    let util = atom(ROOT_A, "util", "0.3.1", vec![]);
    let lib = atom(ROOT_A, "lib", "1.4.0", vec![edge(&util, "^0.3")]);
    let built = Lockfile::new(vec![edge(&lib, "^1")], vec![util, lib]).unwrap();
    assert_eq!(lock, built);
}

#[test]
fn into_parts_and_back() {
    let lock = sample();
    let (deps, atoms) = lock.clone().into_parts();
    assert_eq!(Lockfile::new(deps, atoms).unwrap(), lock);
}

/// Truncated or spliced locks are errors with in-bounds spans, never a
/// panic.
#[test]
fn never_panics_on_damaged_text() {
    let text = sample().to_toml_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut variants: Vec<String> = text
        .char_indices()
        .map(|(i, _)| text[..i].to_string())
        .collect();
    for skip in 0..lines.len() {
        let mut v = lines.clone();
        v.remove(skip);
        variants.push(v.join("\n"));
        let mut v = lines.clone();
        v.insert(skip, lines[skip]);
        variants.push(v.join("\n"));
    }
    for v in variants {
        if let Err(
            LockError::Invalid { span: Some(s), .. } | LockError::Syntax { span: Some(s), .. },
        ) = Lockfile::parse(&v, "l")
        {
            assert!(s.offset() + s.len() <= v.len(), "{v}");
        }
    }
}

#[test]
fn same_label_from_two_sets() {
    let lock = sample();
    let lib = Label::parse("lib").unwrap();
    assert_eq!(lock.by_label(&lib).count(), 2);
    let first = &lock.atoms()[0];
    assert_eq!(lock.get(&first.id()), Some(first));
}

#[test]
fn unknown_field_points_at_it() {
    let text = sample().to_toml_string().replacen(
        "version = \"1.4.0\"\n",
        "version = \"1.4.0\"\nchecksum = \"x\"\n",
        1,
    );
    let LockError::Syntax { message, span, .. } = Lockfile::parse(&text, "l").unwrap_err() else {
        panic!()
    };
    assert!(message.contains("checksum"), "{message}");
    let span = span.unwrap();
    assert!(text[span.offset()..].starts_with("checksum"));
    let text = sample()
        .to_toml_string()
        .replace("lock-version = 1", "lock-version = 1\nextra = 1");
    assert!(matches!(
        Lockfile::parse(&text, "l").unwrap_err(),
        LockError::Syntax { .. }
    ));
}

#[test]
fn duplicate_entry() {
    let text = sample().to_toml_string();
    let first = text.find("\n[[atom]]").unwrap();
    let second = text[first + 1..].find("\n[[atom]]").unwrap() + first + 1;
    let doubled = format!("{}{}", text, &text[first..second]);
    let (p, at, first_at) = problem(&doubled);
    assert!(matches!(p, Problem::DuplicateAtom(_)), "{p}");
    assert_eq!(at, format!("\"{}\"", sample().atoms()[0].id()));
    assert_eq!(first_at.as_deref(), Some(at.as_str()));
}

#[test]
fn malformed_ids_point_at_the_value() {
    let lock = sample();
    let text = lock.to_toml_string();
    let a = &lock.atoms()[0];
    let cases = [
        (a.commit.to_string(), "0303", "atom commit"),
        (a.origin.to_string(), "EEEE", "origin commit"),
        (a.digest.to_string(), "sha1:00", "content digest"),
        (a.root.to_string(), "4abbd264", "root commit"),
        (a.id().to_string(), "zz", "atom id"),
    ];
    for (good, bad, name) in cases {
        let broken = text.replacen(&good, bad, 1);
        let (p, at, _) = problem(&broken);
        assert!(
            matches!(p, Problem::Id { field, .. } if field == name),
            "{name}: {p}"
        );
        assert_eq!(at, format!("\"{bad}\""), "{name}");
    }
}

#[test]
fn id_must_match_root_and_label() {
    let lock = sample();
    let text = lock.to_toml_string();
    // Another atom's (valid) id in the first entry.
    let (a, b) = (lock.atoms()[0].id(), lock.atoms()[2].id());
    let broken = text.replacen(&format!("\nid = \"{a}\""), &format!("\nid = \"{b}\""), 1);
    let (p, at, _) = problem(&broken);
    assert_eq!(
        p,
        Problem::IdMismatch {
            label: lock.atoms()[0].label.clone(),
            computed: a
        }
    );
    assert_eq!(at, format!("\"{b}\""));
    // Same with the root edited.
    let broken = text.replacen(
        &format!("root = \"{ROOT_A}\""),
        &format!("root = \"{ROOT_B}\""),
        1,
    );
    assert!(matches!(problem(&broken).0, Problem::IdMismatch { .. }));
}

#[test]
fn version_header() {
    let text = sample().to_toml_string();
    let (p, at, _) = problem(&text.replace("lock-version = 1", "lock-version = 2"));
    assert_eq!(p, Problem::UnsupportedVersion("2".into()));
    assert_eq!(at, "2");
    // A future version with unknown fields is still reported as a version.
    let future = text.replace("lock-version = 1", "lock-version = 2\nnew = true");
    assert_eq!(problem(&future).0, Problem::UnsupportedVersion("2".into()));
    let (p, _, _) = problem(&text.replace("lock-version = 1\n", ""));
    assert_eq!(p, Problem::MissingVersion);
}

#[test]
fn graph_problems() {
    let lock = sample();
    let text = lock.to_toml_string();
    let util = lock
        .atoms()
        .iter()
        .find(|a| a.label.as_str() == "util")
        .unwrap();

    // Requirement not met by the locked version.
    let (p, at, _) = problem(&text.replace("req = \"^0.3\"", "req = \"^0.4\""));
    assert!(matches!(p, Problem::Unsatisfied { .. }), "{p}");
    assert_eq!(at, "\"^0.4\"");

    // Edge label disagrees with its target.
    let (p, at, first) = problem(&text.replace("{ label = \"util\"", "{ label = \"utils\""));
    assert!(matches!(p, Problem::EdgeLabel { .. }), "{p}");
    assert_eq!(at, "\"utils\"");
    assert_eq!(first.as_deref(), Some("\"util\""));

    // Dangling edge: the target entry removed.
    let start = text.find("[[atom]]\nlabel = \"util\"").unwrap();
    let (p, at, _) = problem(&text[..start]);
    assert_eq!(p, Problem::DanglingEdge(util.id()));
    assert_eq!(at, format!("\"{}\"", util.id()));

    // Unreachable: nothing depends on lib (set A) any more.
    let lib_a = lock
        .atoms()
        .iter()
        .find(|a| a.root == parse_commit(ROOT_A).unwrap() && a.label.as_str() == "lib")
        .unwrap();
    let line = format!(
        "    {{ label = \"lib\", req = \"^1.2\", id = \"{}\" }},\n",
        lib_a.id()
    );
    assert!(text.contains(&line));
    let (p, at, _) = problem(&text.replacen(&line, "", 1));
    assert_eq!(p, Problem::Unreachable(lib_a.label.clone()));
    assert_eq!(at, "\"lib\"");

    // Duplicate edge.
    let (p, _, first) = problem(&text.replacen(&line, &format!("{line}{line}"), 1));
    assert!(matches!(p, Problem::DuplicateEdge(_)), "{p}");
    assert!(first.is_some());
}

#[test]
fn cycles_are_errors() {
    let mut a = atom(ROOT_A, "a", "1.0.0", vec![]);
    let b = atom(ROOT_A, "b", "1.0.0", vec![edge(&a, "^1")]);
    a.deps.push(edge(&b, "^1"));
    let deps = vec![edge(&a, "^1")];
    let err = Lockfile::new(deps.clone(), vec![a.clone(), b.clone()]).unwrap_err();
    let Some(Problem::Cycle(labels)) = err.problem() else {
        panic!("{err:?}")
    };
    let names: Vec<&str> = labels.iter().map(Label::as_str).collect();
    assert_eq!(names, ["a", "b", "a"]);

    // Read from text, the span is the edge that closes it.
    let mut b2 = b.clone();
    b2.deps.clear();
    let ok = Lockfile::new(deps, vec![a.clone(), b2])
        .unwrap()
        .to_toml_string();
    let marker = "[[atom]]\nlabel = \"b\"";
    let at = ok.find(marker).unwrap();
    let tail = &ok[at..];
    let mirrors = tail.find("mirrors = [").unwrap();
    let mirrors_end = mirrors + tail[mirrors..].find("]\n").unwrap() + 2;
    let text = format!(
        "{}{}deps = [\n    {{ label = \"a\", req = \"^1\", id = \"{}\" }},\n]\n",
        &ok[..at],
        &tail[..mirrors_end],
        a.id()
    );
    let (p, span, _) = problem(&text);
    assert!(matches!(p, Problem::Cycle(_)), "{p}");
    assert_eq!(span, format!("\"{}\"", a.id()));
}

#[test]
fn mirrors() {
    let text = sample().to_toml_string();
    let m = "    \"https://example.com/repo\",\n";
    let (p, _, first) = problem(&text.replacen(m, &format!("{m}{m}"), 1));
    assert!(matches!(p, Problem::DuplicateMirror(_)), "{p}");
    assert!(first.is_some());

    let (p, at, _) = problem(&text.replacen("https://example.com/repo", "https://example.com", 1));
    assert_eq!(
        p,
        Problem::MirrorNotCanonical {
            expected: "https://example.com/".into()
        }
    );
    assert_eq!(at, "\"https://example.com\"");

    let (p, _, _) = problem(&text.replacen("https://example.com/repo", "gh:owner/repo", 1));
    assert!(
        matches!(p, Problem::Mirror(ref m) if m.contains("unknown alias")),
        "{p}"
    );

    let start = text.find("mirrors = [").unwrap();
    let end = start + text[start..].find("]\n").unwrap() + 1;
    let (p, at, _) = problem(&format!("{}mirrors = []{}", &text[..start], &text[end..]));
    assert!(matches!(p, Problem::NoMirrors(_)), "{p}");
    assert_eq!(at, "[]");

    // Paths (absolute, relative) and odd characters survive a round trip.
    let mut a = atom(ROOT_A, "x", "1.0.0", vec![]);
    a.mirrors = vec![RepoUrl::Path("../sets/my \"set\"\\".into())];
    let lock = Lockfile::new(vec![edge(&a, "*")], vec![a]).unwrap();
    let text = lock.to_toml_string();
    assert_eq!(Lockfile::parse(&text, "l").unwrap(), lock);
}

#[test]
fn labels_must_be_stored_normalised() {
    let text = sample().to_toml_string();
    // U+FB01 (fi ligature) NFKC-normalises to "fi"; "util" has no fi,
    // so build a lock whose label is "fix" and store it as "\u{FB01}x".
    let a = atom(ROOT_A, "fix", "1.0.0", vec![]);
    let lock = Lockfile::new(vec![edge(&a, "^1")], vec![a]).unwrap();
    let broken = lock
        .to_toml_string()
        .replacen("label = \"fix\"", "label = \"\u{FB01}x\"", 1);
    let (p, _, _) = problem(&broken);
    assert!(matches!(p, Problem::LabelNotNormalised(_)), "{p}");
    let (p, at, _) = problem(&text.replacen("label = \"util\"", "label = \"9util\"", 1));
    assert!(matches!(p, Problem::Label(_)), "{p}");
    assert_eq!(at, "\"9util\"");
    let (p, _, _) = problem(&text.replacen("version = \"0.3.1\"", "version = \"0.3\"", 1));
    assert!(matches!(p, Problem::Version(_)), "{p}");
}

#[test]
fn write_is_atomic_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(LOCK_FILE);
    std::fs::write(&path, "old").unwrap();
    let lock = sample();
    lock.write(&path).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        lock.to_toml_string()
    );
    assert_eq!(Lockfile::read(&path).unwrap(), lock);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [LOCK_FILE]);
    // A directory that does not exist is an error, and creates nothing.
    let missing = dir.path().join("no/such/dir").join(LOCK_FILE);
    assert!(matches!(lock.write(&missing), Err(LockError::Write { .. })));
    assert!(!dir.path().join("no").exists());
}

#[test]
fn read_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Lockfile::read(&dir.path().join(LOCK_FILE)),
        Err(LockError::Read { .. })
    ));
    assert!(matches!(
        Lockfile::parse("lock-version = 1\n[[atom]]\nlabel = 3\n", "l"),
        Err(LockError::Syntax { span: Some(_), .. })
    ));
}

#[test]
fn miette_shows_the_line() {
    let text = sample()
        .to_toml_string()
        .replace("req = \"^0.3\"", "req = \"^0.4\"");
    let err = Lockfile::parse(&text, "atom.lock").unwrap_err();
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &err)
        .unwrap();
    assert!(out.contains("atom.lock"), "{out}");
    assert!(out.contains("req = \"^0.4\""), "{out}");
    assert!(out.contains("does not satisfy"), "{out}");
}

/// Recorded signers (`spec/trust.md` §5.3) round-trip, and only their one
/// form reads.
#[test]
fn signers_round_trip() {
    let (deps, mut atoms) = sample_parts();
    let fp =
        atom_trust::KeyFingerprint::parse("SHA256:fe85JkIjo8VPe+XqXJGH5Mau1EMFdK1OdKvJUFicyA8")
            .unwrap();
    atoms[0].signers = vec![atom_trust::RecordedSigner {
        fingerprint: fp,
        signed_at: 1760000000,
    }];
    let lock = Lockfile::new(deps, atoms).unwrap();
    let text = lock.to_toml_string();
    assert!(
        text.contains(
            "signers = [\n    \"SHA256:fe85JkIjo8VPe+XqXJGH5Mau1EMFdK1OdKvJUFicyA8 1760000000\",\n]\n"
        ),
        "{text}"
    );
    let back = Lockfile::parse(&text, "atom.lock").unwrap();
    assert_eq!(back, lock);
    assert!(back.is_canonical_text(&text));
    let bad = text.replace(" 1760000000", "");
    let (p, _, _) = problem(&bad);
    assert!(matches!(p, Problem::Signer(_)), "{p:?}");
}

/// The hand-written emitter the `toml_edit` one replaced, kept as an
/// oracle: the two must give the same bytes (`spec/lock.md`, section 3).
mod previous {
    use super::super::{Edge, Lockfile};
    use std::fmt::Write as _;

    pub fn emit(lock: &Lockfile) -> String {
        let mut out = String::new();
        out.push_str("# This file is written by eka (`eka lock`). Do not edit it by hand.\n");
        let _ = writeln!(out, "lock-version = 1");
        if !lock.deps().is_empty() {
            out.push('\n');
            edges(&mut out, lock.deps());
        }
        for a in lock.atoms() {
            out.push_str("\n[[atom]]\n");
            let _ = writeln!(out, "label = {}", quote(a.label.as_str()));
            let _ = writeln!(out, "version = {}", quote(&a.version.to_string()));
            let _ = writeln!(out, "id = \"{}\"", a.id());
            let _ = writeln!(out, "root = \"{}\"", a.root);
            let _ = writeln!(out, "commit = \"{}\"", a.commit);
            let _ = writeln!(out, "origin = \"{}\"", a.origin);
            let _ = writeln!(out, "digest = \"{}\"", a.digest);
            out.push_str("mirrors = [\n");
            for m in &a.mirrors {
                let _ = writeln!(out, "    {},", quote(m.as_str()));
            }
            out.push_str("]\n");
            if !a.deps.is_empty() {
                edges(&mut out, &a.deps);
            }
        }
        out
    }

    fn edges(out: &mut String, edges: &[Edge]) {
        out.push_str("deps = [\n");
        for e in edges {
            let _ = writeln!(
                out,
                "    {{ label = {}, req = {}, id = \"{}\" }},",
                quote(e.label.as_str()),
                quote(&e.req.to_string()),
                e.id
            );
        }
        out.push_str("]\n");
    }

    pub fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{:04X}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Mirrors that need escapes or hold non-ASCII text.
const ODD_MIRRORS: &[&str] = &[
    "../sets/my \"set\"\\",
    "/srv/dépôt/汉字 repo",
    "/mnt/c/atoms\\repo",
    "/tmp/it's",
    "/tmp/tab\there",
    "/tmp/new\nline",
    "/tmp/cr\rlf",
    "/tmp/del\u{7f}",
    "/tmp/nul\u{1}\u{1f}",
    "/tmp/'''\"\"\"",
    "/tmp/emoji 🦀",
    "https://example.com/a%20b/repo.git",
];

/// Locks of every shape: unicode labels, pre-release and build versions,
/// compound requirements, one or several mirrors, mirrors needing escapes.
fn variety() -> Vec<Lockfile> {
    let mut locks = vec![sample(), Lockfile::new(Vec::new(), Vec::new()).unwrap()];
    let mut ferris = atom(ROOT_B, "汉字", "1.0.0-rc.1+build.5", vec![]);
    ferris.mirrors = ODD_MIRRORS.iter().map(|m| m.parse().unwrap()).collect();
    let alpha = atom(
        ROOT_A,
        "αβγ",
        "0.0.1",
        vec![edge(&ferris, ">=1.0.0-rc.1, <2")],
    );
    let cafe = atom(
        ROOT_A,
        "Café_au_lait-123",
        "3.2.1",
        vec![edge(&alpha, "~0.0.1")],
    );
    for m in ODD_MIRRORS {
        let mut one = atom(ROOT_A, "x", "1.0.0", vec![]);
        one.mirrors = vec![m.parse().unwrap()];
        locks.push(Lockfile::new(vec![edge(&one, "*")], vec![one]).unwrap());
    }
    let deps = vec![edge(&cafe, "=3.2.1"), edge(&ferris, "^1.0.0-rc")];
    locks.push(Lockfile::new(deps, vec![ferris, alpha, cafe]).unwrap());
    locks
}

#[test]
fn toml_edit_writes_the_previous_bytes() {
    for lock in variety() {
        let text = lock.to_toml_string();
        assert_eq!(text, previous::emit(&lock));
        let again = Lockfile::parse(&text, "atom.lock").unwrap();
        assert_eq!(again, lock, "{text}");
        assert_eq!(again.to_toml_string(), text);
    }
}

/// The one difference from the previous writer (`spec/lock.md`, section
/// 3): U+0008 and U+000C get their short escapes, and the C1 controls are
/// written as they are. Both spellings read as the same string.
#[test]
fn short_escapes_and_c1_controls() {
    let mut a = atom(ROOT_A, "x", "1.0.0", vec![]);
    a.mirrors = vec!["/tmp/b\u{8}f\u{c}c1\u{85}".parse().unwrap()];
    let lock = Lockfile::new(vec![edge(&a, "*")], vec![a]).unwrap();
    let text = lock.to_toml_string();
    assert!(text.contains("    \"/tmp/b\\bf\\fc1\u{85}\",\n"), "{text}");
    assert!(previous::emit(&lock).contains("    \"/tmp/b\\u0008f\\u000Cc1\\u0085\",\n"));
    assert_eq!(Lockfile::parse(&text, "l").unwrap(), lock);
    assert_eq!(Lockfile::parse(&previous::emit(&lock), "l").unwrap(), lock);
}

fn direct(name: &str, pin: DirectPin) -> DirectDep {
    DirectDep {
        name: Label::parse(name).unwrap(),
        pin,
    }
}

#[test]
fn direct_pins_round_trip() {
    let pins = vec![
        direct(
            "zlib",
            DirectPin::NixSrc {
                url: "https://www.zlib.net/zlib-1.3.1.tar.gz".into(),
                hash: "sha256-acY8yFzIRYbrZ2CGODoxLnZuppsP6KZy19I9Yy77pfc=".into(),
            },
        ),
        direct(
            "nixpkgs",
            DirectPin::NixGit {
                url: "https://github.com/nixos/nixpkgs".into(),
                version: Some(Version::new(25, 5, 0)),
                rev: commit(0xaa),
            },
        ),
        direct(
            "patch",
            DirectPin::Nix {
                url: "https://example.com/1.patch".into(),
                hash: "sha256-swaLG0A3kXS0n7G7q9OfCj3FP5RUuCnCDSJT0BonxV8=".into(),
            },
        ),
        direct(
            "tarball",
            DirectPin::NixTar {
                url: "https://example.com/x.tar.gz".into(),
                hash: "sha256-QoJjGd4NstnyOG4mm4KXF+weBzA2AH/7gn1Pmpfcb0A=".into(),
            },
        ),
    ];
    let lock = sample().with_direct(pins).unwrap();
    let text = lock.to_toml_string();
    let tail = &text[text.find("\n[[direct]]").unwrap()..];
    assert_eq!(
        tail,
        format!(
            r#"
[[direct]]
type = "nix+git"
name = "nixpkgs"
url = "https://github.com/nixos/nixpkgs"
version = "25.5.0"
rev = "{}"

[[direct]]
type = "nix"
name = "patch"
url = "https://example.com/1.patch"
hash = "sha256-swaLG0A3kXS0n7G7q9OfCj3FP5RUuCnCDSJT0BonxV8="

[[direct]]
type = "nix+tar"
name = "tarball"
url = "https://example.com/x.tar.gz"
hash = "sha256-QoJjGd4NstnyOG4mm4KXF+weBzA2AH/7gn1Pmpfcb0A="

[[direct]]
type = "nix+src"
name = "zlib"
url = "https://www.zlib.net/zlib-1.3.1.tar.gz"
hash = "sha256-acY8yFzIRYbrZ2CGODoxLnZuppsP6KZy19I9Yy77pfc="
"#,
            "aa".repeat(20)
        )
    );
    let again = Lockfile::parse(&text, "atom.lock").unwrap();
    assert_eq!(again, lock);
    assert_eq!(again.to_toml_string(), text);
    assert_eq!(again.direct_kept(["zlib", "gone"]).len(), 1);
    // Kept by into_parts' callers only through with_direct.
    let (d, a) = again.clone().into_parts();
    assert!(Lockfile::new(d, a).unwrap().direct().is_empty());

    // A name twice, in memory or in the file.
    let twice = vec![lock.direct()[0].clone(), lock.direct()[0].clone()];
    let e = sample().with_direct(twice).unwrap_err();
    assert!(
        matches!(e.problem(), Some(Problem::DuplicateName(_))),
        "{e}"
    );
    let block = &tail[..tail[1..].find("\n[[direct]]").unwrap() + 1];
    let (p, at, first) = problem(&format!("{text}{block}"));
    assert!(matches!(p, Problem::DuplicateName(_)), "{p}");
    assert_eq!(
        (at.as_str(), first.as_deref()),
        ("\"nixpkgs\"", Some("\"nixpkgs\""))
    );

    // Wrong fields for the type, an unknown type, atoms are not pins.
    let (p, at, _) = problem(&text.replacen("version = \"25.5.0\"", "hash = \"x\"", 1));
    assert_eq!(
        p,
        Problem::FieldNotAllowed {
            field: "hash",
            kind: "type = \"nix+git\"".into()
        }
    );
    assert_eq!(at, "\"x\"");
    let (p, at, _) = problem(&text.replacen("type = \"nix\"\n", "type = \"atom\"\n", 1));
    assert!(matches!(p, Problem::UnknownType { .. }), "{p}");
    assert_eq!(at, "\"atom\"");
    let (p, at, _) = problem(&text.replacen(
        "hash = \"sha256-swaLG0A3kXS0n7G7q9OfCj3FP5RUuCnCDSJT0BonxV8=\"\n",
        "",
        1,
    ));
    assert_eq!(
        p,
        Problem::MissingField {
            field: "hash",
            kind: "type = \"nix\"".into()
        }
    );
    assert_eq!(at, "\"nix\"");
}
