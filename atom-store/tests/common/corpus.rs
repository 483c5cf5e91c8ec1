//! The hand-written cases: each a derivation feature Nix 2.8 handles.

use atom_store::nar::MemTree;

use super::*;

pub const SYSTEM: &str = "x86_64-linux";

pub fn base(name: &str) -> Vec<(String, S)> {
    attrs(&[
        ("name", lit(name)),
        ("system", lit(SYSTEM)),
        ("builder", lit("/bin/sh")),
    ])
}

pub fn with(mut attrs: Vec<(String, S)>, more: &[(&str, S)]) -> Vec<(String, S)> {
    for (k, v) in more {
        attrs.retain(|(name, _)| name != k);
        attrs.push((k.to_string(), v.clone()));
    }
    attrs
}

pub fn interp(parts: Vec<Part>) -> S {
    S::Str(parts)
}

pub fn l(s: &str) -> Part {
    Part::Lit(s.to_owned())
}

pub fn sample_tree() -> MemTree {
    MemTree::dir([
        ("README", MemTree::file("hello\n")),
        (
            "bin",
            MemTree::dir([("run", MemTree::executable("#!/bin/sh\necho run\n"))]),
        ),
        ("link", MemTree::symlink("README")),
        ("empty", MemTree::dir(Vec::<(String, MemTree)>::new())),
        ("zero", MemTree::file("")),
    ])
}

#[allow(clippy::vec_init_then_push)] // one case per push reads best
pub fn corpus() -> Vec<(&'static str, Case)> {
    let sha256_hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let sha256_b32 = "0fc0f7fyjbyrmgxbrsjqbxjshg4v3h1rb4fp1mnw7c3kkyjcfjxz";
    let sha256_sri = "sha256-n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    let mut cases = Vec::new();

    cases.push((
        "escapes in builder, args and env",
        Case {
            drvs: vec![with(
                base("simple"),
                &[
                    ("builder", lit("/bin/s\"h\\")),
                    (
                        "args",
                        S::List(vec![
                            lit("-c"),
                            lit("echo \"hi\"\n\tdone\\\r"),
                            lit("\u{1}é$"),
                        ]),
                    ),
                    ("weird key \"x\"\n", lit("v\tv")),
                ],
            )],
            ..Case::default()
        },
    ));

    cases.push((
        "coercions of env values",
        Case {
            drvs: vec![with(
                base("coerce"),
                &[
                    ("t", S::Bool(true)),
                    ("f", S::Bool(false)),
                    ("n", S::Null),
                    ("i", S::Int(-42)),
                    ("fl", S::Float(2.5)),
                    (
                        "list",
                        S::List(vec![
                            S::Int(1),
                            S::List(vec![]),
                            S::Bool(true),
                            S::Null,
                            lit("x"),
                            S::List(vec![lit("a"), lit("b")]),
                        ]),
                    ),
                    ("passAsFile", S::List(vec![lit("big")])),
                    ("big", lit("a large value")),
                ],
            )],
            ..Case::default()
        },
    ));

    cases.push((
        "a chain of derivations through strings, lists and sets",
        Case {
            drvs: vec![
                base("first"),
                with(
                    base("second"),
                    &[(
                        "dep",
                        interp(vec![l("use "), Part::Ref(R::Drv(0)), l("/bin")]),
                    )],
                ),
                with(
                    base("third"),
                    &[
                        ("deps", S::List(vec![S::Ref(R::Drv(0)), S::Ref(R::Drv(1))])),
                        ("set", S::Ref(R::Drv(1))),
                    ],
                ),
            ],
            ..Case::default()
        },
    ));

    cases.push((
        "multiple outputs",
        Case {
            drvs: vec![
                with(
                    base("multi"),
                    &[("outputs", S::List(vec![lit("out"), lit("dev"), lit("lib")]))],
                ),
                with(
                    base("dev-first"),
                    &[("outputs", S::List(vec![lit("dev"), lit("out")]))],
                ),
                with(
                    base("user"),
                    &[
                        ("a", S::Ref(R::Output(0, "dev".into()))),
                        ("b", interp(vec![Part::Ref(R::Output(0, "lib".into()))])),
                        ("c", S::Ref(R::Drv(1))),
                        ("out", lit("overwritten by the output path")),
                    ],
                ),
            ],
            ..Case::default()
        },
    ));

    let fixed = |name: &str, more: &[(&str, S)]| with(base(name), more);
    cases.push((
        "fixed outputs in every hash form",
        Case {
            drvs: vec![
                fixed("hex", &[("outputHash", lit(sha256_hex)), ("outputHashAlgo", lit("sha256"))]),
                fixed("b32", &[("outputHash", lit(sha256_b32)), ("outputHashAlgo", lit("sha256"))]),
                fixed("sri", &[("outputHash", lit(sha256_sri))]),
                fixed("prefixed", &[("outputHash", lit(&format!("sha256:{sha256_b32}")))]),
                fixed("sri-algo-ignored", &[("outputHash", lit(sha256_sri)), ("outputHashAlgo", lit("r:sha256"))]),
                fixed(
                    "recursive",
                    &[("outputHash", lit(sha256_hex)), ("outputHashAlgo", lit("sha256")), ("outputHashMode", lit("recursive"))],
                ),
                fixed(
                    "flat-explicit",
                    &[("outputHash", lit(sha256_hex)), ("outputHashAlgo", lit("sha256")), ("outputHashMode", lit("flat"))],
                ),
                fixed("md5", &[("outputHash", lit("d41d8cd98f00b204e9800998ecf8427e")), ("outputHashAlgo", lit("md5"))]),
                fixed(
                    "sha1-rec",
                    &[
                        ("outputHash", lit("da39a3ee5e6b4b0d3255bfef95601890afd80709")),
                        ("outputHashAlgo", lit("sha1")),
                        ("outputHashMode", lit("recursive")),
                    ],
                ),
                fixed(
                    "sha512",
                    &[(
                        "outputHash",
                        lit("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="),
                    )],
                ),
                fixed("empty", &[("outputHash", lit("")), ("outputHashAlgo", lit("sha256"))]),
                // Same output as "hex": what depends on a fixed output does
                // not see how it is fetched.
                fixed(
                    "hex",
                    &[("outputHash", lit(sha256_hex)), ("outputHashAlgo", lit("sha256")), ("fetcher", lit("another"))],
                ),
                with(base("uses-fixed"), &[("src", S::Ref(R::Drv(0)))]),
                with(base("uses-fixed"), &[("src", S::Ref(R::Drv(11)))]),
                // Two inputs with one hash modulo: one entry, outputs merged.
                with(base("uses-both"), &[("a", S::Ref(R::Drv(0))), ("b", S::Ref(R::Drv(11)))]),
            ],
            ..Case::default()
        },
    ));

    cases.push((
        "sources and texts with references",
        Case {
            srcs: vec![
                Src {
                    name: "tree".into(),
                    tree: sample_tree(),
                    interpolated: false,
                },
                Src {
                    name: "dir-by-interpolation".into(),
                    tree: sample_tree(),
                    interpolated: true,
                },
                Src {
                    name: "file.txt".into(),
                    tree: MemTree::file("just a file\n"),
                    interpolated: true,
                },
                Src {
                    name: "tool".into(),
                    tree: MemTree::executable("#!/bin/sh\n"),
                    interpolated: false,
                },
            ],
            texts: vec![
                ("plain.txt".into(), lit("no references\n")),
                (
                    "config".into(),
                    interp(vec![
                        l("src="),
                        Part::Ref(R::Src(0)),
                        l("\nfile="),
                        Part::Ref(R::Src(2)),
                    ]),
                ),
                (
                    "builder.sh".into(),
                    interp(vec![
                        l("cat "),
                        Part::Ref(R::Text(1)),
                        l(" "),
                        Part::Ref(R::Text(0)),
                    ]),
                ),
            ],
            drvs: vec![with(
                base("with-sources"),
                &[
                    ("builder", interp(vec![Part::Ref(R::Src(3))])),
                    ("args", S::List(vec![S::Ref(R::Text(2))])),
                    ("src", S::Ref(R::Src(1))),
                ],
            )],
        },
    ));

    cases.push((
        "placeholders",
        Case {
            drvs: vec![with(
                base("placeholders"),
                &[
                    ("outputs", S::List(vec![lit("out"), lit("bin")])),
                    (
                        "configureFlags",
                        interp(vec![
                            l("--prefix="),
                            Part::Ref(R::Placeholder("out".into())),
                            l(" --bindir="),
                            Part::Ref(R::Placeholder("bin".into())),
                        ]),
                    ),
                ],
            )],
            ..Case::default()
        },
    ));

    cases.push((
        "structured attributes",
        Case {
            drvs: vec![
                with(
                    base("dep"),
                    &[("outputs", S::List(vec![lit("out"), lit("man")]))],
                ),
                with(
                    base("structured"),
                    &[
                        ("__structuredAttrs", S::Bool(true)),
                        ("outputs", S::List(vec![lit("out"), lit("doc")])),
                        ("n", S::Null),
                        (
                            "nums",
                            S::List(vec![
                                S::Int(-1),
                                S::Float(0.1),
                                S::Float(123456789.0),
                                S::Float(1e-5),
                                S::Float(2.0),
                            ]),
                        ),
                        (
                            "nested",
                            S::Attrs(attrs(&[
                                ("z", S::Bool(false)),
                                ("a", lit("q\"\n\u{1}\u{7f}é")),
                                ("dep", S::Ref(R::Drv(0))),
                            ])),
                        ),
                        ("man", interp(vec![Part::Ref(R::Output(0, "man".into()))])),
                        ("args", S::List(vec![lit("not in json")])),
                    ],
                ),
                with(
                    base("structured-ignore-nulls"),
                    &[
                        ("__structuredAttrs", S::Bool(true)),
                        ("__ignoreNulls", S::Bool(true)),
                        ("gone", S::Null),
                        ("kept", S::Int(1)),
                    ],
                ),
                with(
                    base("structured-off"),
                    &[("__structuredAttrs", S::Bool(false)), ("x", lit("y"))],
                ),
            ],
            ..Case::default()
        },
    ));

    cases.push((
        "ignoreNulls",
        Case {
            drvs: vec![
                with(
                    base("ignore"),
                    &[
                        ("__ignoreNulls", S::Bool(true)),
                        ("gone", S::Null),
                        ("kept", lit("")),
                    ],
                ),
                with(
                    base("keep"),
                    &[("__ignoreNulls", S::Bool(false)), ("empty", S::Null)],
                ),
            ],
            ..Case::default()
        },
    ));

    cases.push((
        "drvPath contexts bring the whole closure",
        Case {
            srcs: vec![Src {
                name: "s".into(),
                tree: MemTree::file("x"),
                interpolated: false,
            }],
            texts: vec![("t".into(), interp(vec![Part::Ref(R::Src(0))]))],
            drvs: vec![
                with(
                    base("bottom"),
                    &[
                        ("t", S::Ref(R::Text(0))),
                        ("outputs", S::List(vec![lit("out"), lit("dev")])),
                    ],
                ),
                with(
                    base("fixed-middle"),
                    &[("dep", S::Ref(R::Drv(0))), ("outputHash", lit(sha256_sri))],
                ),
                with(
                    base("middle"),
                    &[
                        ("dep", S::Ref(R::Output(0, "dev".into()))),
                        ("f", S::Ref(R::Drv(1))),
                    ],
                ),
                with(base("top"), &[("drv", S::Ref(R::DrvPath(2)))]),
                with(
                    base("discarded"),
                    &[
                        ("drv", S::Ref(R::DiscardedDrvPath(2))),
                        ("also", S::Ref(R::Drv(0))),
                    ],
                ),
                with(
                    base("both"),
                    &[
                        ("a", S::Ref(R::DrvPath(0))),
                        ("b", S::Ref(R::Output(0, "dev".into()))),
                    ],
                ),
            ],
        },
    ));

    cases
}
