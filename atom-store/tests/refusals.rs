//! Derivations and texts Nix 2.8 refuses are refused by atom-store too,
//! with Nix's message.

mod common;

use common::*;

fn drv(pairs: &[(&str, S)]) -> Vec<(String, S)> {
    attrs(pairs)
}

fn good() -> Vec<(&'static str, S)> {
    vec![
        ("name", lit("x")),
        ("system", lit("x86_64-linux")),
        ("builder", lit("/bin/sh")),
    ]
}

fn bad(changes: &[(&'static str, Option<S>)]) -> Vec<(String, S)> {
    let mut pairs = good();
    for (key, value) in changes {
        pairs.retain(|(k, _)| k != key);
        if let Some(v) = value {
            pairs.push((key, v.clone()));
        }
    }
    drv(&pairs)
}

const SHA256_HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

/// (what, case, text in Nix's error, text in eka's error)
fn refusals() -> Vec<(&'static str, Case, &'static str, &'static str)> {
    let one = |attrs: Vec<(String, S)>| Case {
        drvs: vec![attrs],
        ..Case::default()
    };
    let list = |names: &[&str]| S::List(names.iter().map(|n| lit(n)).collect());
    vec![
        (
            "no builder",
            one(bad(&[("builder", None)])),
            "required attribute 'builder' missing",
            "required attribute 'builder' missing",
        ),
        (
            "no system",
            one(bad(&[("system", None)])),
            "required attribute 'system' missing",
            "required attribute 'system' missing",
        ),
        (
            "no name",
            one(bad(&[("name", None)])),
            "attribute 'name' missing",
            "attribute 'name' missing",
        ),
        (
            "a .drv name",
            one(bad(&[("name", Some(lit("x.drv")))])),
            "derivation names are not allowed to end in '.drv'",
            "derivation names are not allowed to end in '.drv'",
        ),
        (
            "a name with a space",
            one(bad(&[("name", Some(lit("a b")))])),
            "contains illegal character ' '",
            "contains illegal character ' '",
        ),
        (
            "an empty name",
            one(bad(&[("name", Some(lit("")))])),
            "has an empty name",
            "has an empty name",
        ),
        (
            "an unknown hash mode",
            one(bad(&[
                ("outputHash", Some(lit(SHA256_HEX))),
                ("outputHashAlgo", Some(lit("sha256"))),
                ("outputHashMode", Some(lit("deep"))),
            ])),
            "invalid value 'deep' for 'outputHashMode' attribute",
            "invalid value 'deep' for 'outputHashMode' attribute",
        ),
        (
            "a duplicate output",
            one(bad(&[("outputs", Some(list(&["out", "out"])))])),
            "duplicate derivation output 'out'",
            "duplicate derivation output 'out'",
        ),
        (
            "an output named drv",
            one(bad(&[("outputs", Some(list(&["out", "drv"])))])),
            "invalid derivation output name 'drv'",
            "invalid derivation output name 'drv'",
        ),
        (
            "a fixed output with two outputs",
            one(bad(&[
                ("outputs", Some(list(&["out", "dev"]))),
                ("outputHash", Some(lit(SHA256_HEX))),
                ("outputHashAlgo", Some(lit("sha256"))),
            ])),
            "multiple outputs are not supported in fixed-output derivations",
            "multiple outputs are not supported in fixed-output derivations",
        ),
        (
            "a hash of the wrong length",
            one(bad(&[
                ("outputHash", Some(lit("abc"))),
                ("outputHashAlgo", Some(lit("sha256"))),
            ])),
            "hash 'abc' has wrong length for hash type 'sha256'",
            "hash 'abc' has wrong length for hash type 'sha256'",
        ),
        (
            "a hash without a type",
            one(bad(&[("outputHash", Some(lit(SHA256_HEX)))])),
            "does not include a type, nor is the type otherwise known from context",
            "does not include a type, nor is the type otherwise known from context",
        ),
        (
            "a hash of another type",
            one(bad(&[
                (
                    "outputHash",
                    Some(lit(&format!("sha1:{}", &SHA256_HEX[..40]))),
                ),
                ("outputHashAlgo", Some(lit("sha256"))),
            ])),
            "should have type 'sha256'",
            "should have type 'sha256'",
        ),
        (
            "a bad base-32 digit",
            one(bad(&[
                ("outputHash", Some(lit(&"e".repeat(52)))),
                ("outputHashAlgo", Some(lit("sha256"))),
            ])),
            "invalid base-32 hash",
            "invalid base-32 hash",
        ),
        (
            "an unknown hash algorithm prefix",
            one(bad(&[(
                "outputHash",
                Some(lit(&format!("blake3:{SHA256_HEX}"))),
            )])),
            "unknown hash algorithm 'blake3'",
            "unknown hash algorithm 'blake3'",
        ),
        (
            "content-addressed derivations",
            one(bad(&[("__contentAddressed", Some(S::Bool(true)))])),
            "experimental Nix feature 'ca-derivations' is disabled",
            "experimental Nix feature 'ca-derivations' is disabled",
        ),
        (
            "a structured system that is not a string",
            one(bad(&[
                ("__structuredAttrs", Some(S::Bool(true))),
                ("system", Some(S::Int(1))),
            ])),
            "value is an integer while a string was expected",
            "value is an integer while a string was expected",
        ),
        (
            "a system Nix cannot read back",
            one(bad(&[("system", Some(lit("a\\b")))])),
            "has incorrect output",
            "refuses to read back",
        ),
    ]
}

/// `toFile` of a string that refers to a derivation's output: Nix cannot
/// write such a file before the build, and says so.
#[test]
fn text_referring_to_an_output_is_refused_like_nix() {
    let store = NixStore::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.nix");
    let drv = r#"derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; }"#;
    std::fs::write(&file, format!(r#"builtins.toFile "t" "see ${{{drv}}}""#)).unwrap();
    let stderr = store.eval_json(&file).expect_err("Nix refuses");
    let says = "in 'toFile': the file named 't' must not contain a reference to a derivation";
    assert!(stderr.contains(says), "Nix said {stderr}");

    let mut known = atom_store::KnownPaths::default();
    let case = Case {
        drvs: vec![drv_attrs()],
        ..Case::default()
    };
    let made = case.run_eka(&mut known).unwrap();
    let drv_path = known.store_dir().parse(&made.drvs[0].0).unwrap();
    let context = [atom_store::ContextElem::Built {
        drv: drv_path,
        output: "out".into(),
    }]
    .into();
    let err = known.add_text("t", "see it", &context).unwrap_err();
    assert!(err.to_string().contains(says), "eka said {err}");
}

fn drv_attrs() -> Vec<(String, S)> {
    drv(&good())
}

#[test]
fn refusals_match_nix() {
    let store = NixStore::new();
    let cases = refusals();
    for (what, case, nix_says, eka_says) in &cases {
        let nix = case.run_nix(&store);
        let Err(stderr) = nix else {
            panic!("{what}: Nix accepted the case");
        };
        assert!(stderr.contains(nix_says), "{what}: Nix said {stderr}");
        let mut known = atom_store::KnownPaths::default();
        match case.run_eka(&mut known) {
            Ok(_) => panic!("{what}: eka accepted what Nix refuses ({stderr})"),
            Err(e) => {
                let chain = error_chain(&e);
                assert!(chain.contains(eka_says), "{what}: eka said {chain}");
            }
        }
    }
    eprintln!("{} refusals match Nix", cases.len());
}
