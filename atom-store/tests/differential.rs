//! Derivations, texts and sources computed by atom-store against the same
//! ones instantiated by Nix 2.8 in the test (`nix-instantiate` in a store
//! of its own): every `.drv` byte, every `drvPath`, `outPath`, text and
//! source path must be equal.

mod common;

use atom_store::nar::MemTree;
use common::corpus::sample_tree;
use common::*;

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
