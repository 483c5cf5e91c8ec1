//! The URI vectors (tests/data/uris.toml, copied from the shared vectors).

use atom_lock::alias::AliasOrigin;
use atom_lock::{Aliases, AtomUri};
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    aliases: BTreeMap<String, String>,
    uri: Vec<Good>,
    bad_uri: Vec<Bad>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Good {
    input: String,
    url: Option<String>,
    label: String,
    req: Option<String>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[allow(dead_code)]
    ours: Option<String>,
    #[allow(dead_code)]
    added: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Bad {
    input: String,
    why: String,
    error: String,
    at: String,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[allow(dead_code)]
    added: Option<String>,
}

fn vectors() -> Vectors {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/uris.toml"))
            .expect("test data");
    toml::from_str(&text).expect("valid vectors")
}

fn table(base: &BTreeMap<String, String>, extra: &BTreeMap<String, String>) -> Aliases {
    let mut t = Aliases::empty();
    for (n, v) in base.iter().chain(extra) {
        t.insert(n, v, AliasOrigin::Other).expect("valid alias");
    }
    t
}

#[test]
fn good_uris() {
    let v = vectors();
    assert!(v.uri.len() >= 26);
    for case in &v.uri {
        let t = table(&v.aliases, &case.aliases);
        let uri = AtomUri::parse(&case.input, &t)
            .unwrap_or_else(|e| panic!("{}: {e} at {:?} ({:?})", case.input, e.snippet(), e.help));
        assert_eq!(
            uri.repo.as_ref().map(|r| r.to_string()),
            case.url,
            "url of {}",
            case.input
        );
        assert_eq!(uri.label.as_str(), case.label, "label of {}", case.input);
        let want_req = case
            .req
            .as_ref()
            .map(|r| semver::VersionReq::parse(r).unwrap());
        assert_eq!(uri.req, want_req, "req of {}", case.input);
        // What is stored must re-parse, with no aliases, to the same thing.
        if let Some(repo) = &uri.repo {
            let again: atom_lock::RepoUrl = repo.as_str().parse().unwrap();
            assert_eq!(&again, repo, "{}", case.input);
        }
    }
}

#[test]
fn bad_uris() {
    let v = vectors();
    assert!(v.bad_uri.len() >= 4);
    for case in &v.bad_uri {
        let t = table(&v.aliases, &case.aliases);
        let Err(e) = AtomUri::parse(&case.input, &t) else {
            panic!("{} should fail: {}", case.input, case.why)
        };
        let kind = format!("{:?}", e.kind);
        let name = kind.split(['(', ' ', '{']).next().unwrap();
        assert_eq!(name, case.error, "{}: {e}", case.input);
        assert_eq!(e.snippet(), case.at, "span of {}: {e}", case.input);
        assert!(e.help.is_some(), "{} has no help", case.input);
    }
}

#[test]
fn alias_cycle_names_the_chain() {
    let v = vectors();
    let case = v.bad_uri.iter().find(|c| c.error == "AliasCycle").unwrap();
    let e = AtomUri::parse(&case.input, &table(&v.aliases, &case.aliases)).unwrap_err();
    assert_eq!(e.to_string(), "alias cycle loop -> loop2 -> loop");
}

/// No input makes the parser panic, and every error span lies on character
/// boundaries inside the input: every prefix and suffix of every vector,
/// and each with a troublesome character inserted at each position.
#[test]
fn never_panics_and_spans_are_in_bounds() {
    let v = vectors();
    let t = table(&v.aliases, &BTreeMap::new());
    let inputs: Vec<&str> = v
        .uri
        .iter()
        .map(|c| c.input.as_str())
        .chain(v.bad_uri.iter().map(|c| c.input.as_str()))
        .collect();
    let mut count = 0;
    let check = |s: &str| {
        if let Err(e) = AtomUri::parse(s, &t) {
            let (start, len) = (e.span.offset(), e.span.len());
            assert!(start + len <= s.len(), "{s:?}: {e}");
            assert!(
                s.is_char_boundary(start) && s.is_char_boundary(start + len),
                "{s:?}"
            );
        }
    };
    for input in inputs {
        for (i, _) in input.char_indices().chain([(input.len(), ' ')]) {
            check(&input[..i]);
            check(&input[i..]);
            for extra in [":", "::", "@", "/", "[", "]", "λ", "://", " "] {
                check(&format!("{}{extra}{}", &input[..i], &input[i..]));
                count += 1;
            }
        }
    }
    assert!(count > 1000);
}
