//! Derivations, texts and sources computed by atom-store against the same
//! ones instantiated by Nix 2.8 in the test (`nix-instantiate` in a store
//! of its own): every `.drv` byte, every `drvPath`, `outPath`, text and
//! source path must be equal.

mod common;

use atom_store::nar::MemTree;
use common::*;

const SYSTEM: &str = "x86_64-linux";

fn base(name: &str) -> Vec<(String, S)> {
    attrs(&[
        ("name", lit(name)),
        ("system", lit(SYSTEM)),
        ("builder", lit("/bin/sh")),
    ])
}

fn with(mut attrs: Vec<(String, S)>, more: &[(&str, S)]) -> Vec<(String, S)> {
    for (k, v) in more {
        attrs.retain(|(name, _)| name != k);
        attrs.push((k.to_string(), v.clone()));
    }
    attrs
}

fn interp(parts: Vec<Part>) -> S {
    S::Str(parts)
}

fn l(s: &str) -> Part {
    Part::Lit(s.to_owned())
}

fn sample_tree() -> MemTree {
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
fn corpus() -> Vec<(&'static str, Case)> {
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

#[test]
fn corpus_matches_nix() {
    let store = NixStore::new();
    let cases = corpus();
    for (name, case) in &cases {
        eprintln!("case: {name}");
        check_case(case, &store);
    }
    eprintln!(
        "{} cases, {} derivations",
        cases.len(),
        cases.iter().map(|(_, c)| c.drvs.len()).sum::<usize>()
    );
}

/// The NAR of a directory is byte for byte `nix-store --dump`'s.
#[test]
fn nar_matches_nix_store_dump() {
    require_nix();
    let dir = tempfile::tempdir().unwrap();
    let case = Case {
        srcs: vec![Src {
            name: "tree".into(),
            tree: sample_tree(),
            interpolated: false,
        }],
        ..Case::default()
    };
    case.write_nix(dir.path());
    let tree_path = dir.path().join("src0/tree");
    let dump = std::process::Command::new("nix-store")
        .arg("--dump")
        .arg(&tree_path)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let ours = atom_store::nar::nar_bytes(&sample_tree()).unwrap();
    assert_eq!(ours, dump.stdout);
    let from_disk = atom_store::nar::nar_bytes(&atom_store::nar::FsTree::new(&tree_path)).unwrap();
    assert_eq!(from_disk, dump.stdout);
    let hash = std::process::Command::new("nix-hash")
        .args(["--type", "sha256", "--base32"])
        .arg(&tree_path)
        .output()
        .unwrap();
    let ours = atom_store::nar::nar_hash(&sample_tree(), atom_store::HashAlgo::Sha256).unwrap();
    assert_eq!(
        ours.to_base32(),
        String::from_utf8_lossy(&hash.stdout).trim()
    );
}

/// A module's data as atom-nix copies it (`builtins.path` with a filter
/// keeping regular files that are not `.nix` and directories that are not
/// submodules), computed from a filtered tree: the same store path.
#[test]
fn filtered_source_matches_builtins_path_with_filter() {
    use atom_store::nar::{FileTree, Filtered, FsTree, Node};
    let store = NixStore::new();
    let dir = tempfile::tempdir().unwrap();
    let module = MemTree::dir([
        ("mod.nix", MemTree::file("{ }")),
        ("member.nix", MemTree::file("1")),
        ("data.txt", MemTree::file("data\n")),
        ("script", MemTree::executable("#!/bin/sh\n")),
        ("link", MemTree::symlink("data.txt")),
        ("empty", MemTree::dir(Vec::<(String, MemTree)>::new())),
        (
            "assets",
            MemTree::dir([
                ("nested.nix", MemTree::file("2")),
                ("logo.svg", MemTree::file("<svg/>")),
            ]),
        ),
        (
            "submod",
            MemTree::dir([
                ("mod.nix", MemTree::file("{ }")),
                ("x.txt", MemTree::file("x")),
            ]),
        ),
    ]);
    let case = Case {
        srcs: vec![Src {
            name: "mymod".into(),
            tree: module.clone(),
            interpolated: false,
        }],
        ..Case::default()
    };
    case.write_nix(dir.path());
    let module_dir = dir.path().join("src0/mymod");
    let expr = dir.path().join("filtered.nix");
    std::fs::write(
        &expr,
        format!(
            r#"builtins.path {{
              name = "mymod";
              path = /. + "{}";
              filter = path: type:
                (type == "regular" && builtins.match ".*\\.nix" (baseNameOf path) == null)
                || (type == "directory" && !builtins.pathExists "${{path}}/mod.nix");
            }}"#,
            module_dir.display()
        ),
    )
    .unwrap();
    let theirs = store.eval_json(&expr).unwrap();

    let keep = |tree: &FsTree, path: &[u8], node: &Node<std::path::PathBuf>| match node {
        Node::Regular { .. } => !path.ends_with(b".nix"),
        Node::Directory { dir } => !tree
            .read_dir(dir)
            .unwrap()
            .iter()
            .any(|(name, _)| name == b"mod.nix"),
        Node::Symlink { .. } => false,
    };
    let mut known = atom_store::KnownPaths::default();
    let ours = known
        .add_source(
            "mymod",
            std::sync::Arc::new(Filtered::new(FsTree::new(&module_dir), keep)),
        )
        .unwrap();
    assert_eq!(known.store_dir().print(&ours), theirs.as_str().unwrap());
    // And the filter did something: the unfiltered tree has another path.
    let whole = known
        .add_source("mymod", std::sync::Arc::new(module))
        .unwrap();
    assert_ne!(whole, ours);
}
