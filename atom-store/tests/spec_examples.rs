//! The worked examples of spec/build.md, computed by atom-store (the
//! values were produced by Nix 2.8; differential.rs checks the same
//! computations against a live nix-instantiate).

use std::sync::Arc;

use atom_store::literal::Value;
use atom_store::nar::{nar_bytes, MemTree};
use atom_store::{derivation_strict, ContextElem, Hash, HashAlgo, KnownPaths};

fn drv(known: &mut KnownPaths, attrs: Vec<(&str, Value)>) -> atom_store::Instantiated {
    let attrs = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    derivation_strict(known, attrs).unwrap()
}

#[test]
fn spec_examples() {
    let mut known = KnownPaths::default();
    let dir = known.store_dir().clone();

    let text = known
        .add_text("hello.txt", "Hello, world!\n", &Default::default())
        .unwrap();
    assert_eq!(
        dir.print(&text),
        "/nix/store/i3vl5f9f521bladwcs3zi5gmc1pd6qr6-hello.txt"
    );

    let nar = nar_bytes(&MemTree::file("hi\n")).unwrap();
    assert_eq!(
        data_hex(&nar),
        "0d000000000000006e69782d617263686976652d3100000001000000000000002800000000000000\
         040000000000000074797065000000000700000000000000726567756c6172000800000000000000\
         636f6e74656e7473030000000000000068690a000000000001000000000000002900000000000000"
    );
    let nar_hash = Hash::digest(HashAlgo::Sha256, &nar);
    assert_eq!(
        nar_hash.to_base32(),
        "1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
    );
    let src = known
        .add_source("greeting", Arc::new(MemTree::file("hi\n")))
        .unwrap();
    assert_eq!(
        dir.print(&src),
        "/nix/store/5a0s8h7ansn91hwavn2dwhwn6yr2idcm-greeting"
    );

    let base = |name: &str| {
        vec![
            ("name", Value::str(name)),
            ("system", Value::str("x86_64-linux")),
            ("builder", Value::str("/bin/sh")),
        ]
    };
    let mut fetched_attrs = base("hello.txt");
    fetched_attrs.push((
        "outputHash",
        Value::str("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    ));
    fetched_attrs.push(("outputHashAlgo", Value::str("sha256")));
    let fetched = drv(&mut known, fetched_attrs);
    assert_eq!(
        dir.print(&fetched.outputs["out"]),
        "/nix/store/iixxin28s82lrxs8v4lcf7nha2dkwprm-hello.txt"
    );

    let mut hello_attrs = base("hello");
    hello_attrs.push((
        "args",
        Value::List(vec![Value::str("-c"), Value::str("echo hello > $out")]),
    ));
    let hello = drv(&mut known, hello_attrs);
    assert_eq!(
        dir.print(&hello.outputs["out"]),
        "/nix/store/fvchbymk0m4jvldpb9m5hy0bjy2lf30k-hello"
    );
    assert_eq!(
        dir.print(&hello.drv_path),
        "/nix/store/r3f9l9f32qpzwmdgizjpbwn3ff2n6ny7-hello.drv"
    );

    let script = format!(
        "cat {} {} > $out",
        dir.print(&hello.outputs["out"]),
        dir.print(&fetched.outputs["out"])
    );
    let context = [hello.output_context("out"), fetched.output_context("out")];
    let mut user_attrs = base("user");
    user_attrs.push((
        "args",
        Value::List(vec![
            Value::str("-c"),
            Value::String {
                text: script,
                context: context
                    .iter()
                    .cloned()
                    .collect::<std::collections::BTreeSet<ContextElem>>(),
            },
        ]),
    ));
    let user = drv(&mut known, user_attrs);
    assert_eq!(
        dir.print(&user.outputs["out"]),
        "/nix/store/dssjgl9hqd3wbq95l68g8kvmkmh4y6q4-user"
    );
    assert_eq!(
        dir.print(&user.drv_path),
        "/nix/store/c8nnbhdjimz6vnsnv9gp8q08g4wr7lmb-user.drv"
    );

    assert_eq!(
        atom_store::hash_placeholder("out"),
        "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9"
    );
}

fn data_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
