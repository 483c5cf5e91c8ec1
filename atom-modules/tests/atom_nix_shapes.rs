//! Atoms shaped like the atom code people write for atom-nix, evaluated by
//! eka's module system and by atom-nix 0.4.4 on Nix 2.8: the same values.
//!
//! The atoms under `tests/atoms/` are eka's own, written with the shapes of
//! the atoms in ekala-project/atom whose code needs nothing from the host:
//! - `std-shape`: atom-nix's `std` as an atom. Its root `mod.nix` re-exports
//!   private members under the same name (`Fix = mod.fix;` for a file,
//!   `Name = mod.name;` for a submodule directory), every submodule does the
//!   same, private helpers are used through `mod`, and `mod.lower or
//!   mod.Lower` relies on `mod` holding only lowercased names.
//! - `pre-shape` (atom's `test/pre`): `pre` and `pre.pre` see private
//!   members, a submodule re-exported under its own name at every depth, and
//!   a private root name that `atom` does not have.
//! - `nested-shape` (atom's `test/integrity`): a private key shadowing a
//!   submodule directory of the same name and re-exported, private
//!   submodules never exported, data read through `"${mod}"`.
//!
//! And atom-nix's own `std`, made an atom in a temporary directory (a copy
//! with an `atom.toml`, and a member that applies its functions).
//!
//! Functions print as `<LAMBDA>` in both, so whole atoms are compared as
//! `nix-instantiate --eval --strict` prints them.

mod support;

use std::path::{Path, PathBuf};

use support::{AtomNix, Print};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn atom_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/atoms")
        .join(name)
}

/// The value at `attr` of the atom, printed by both.
fn both(atom_nix: &AtomNix, name: &str, attr: &[&str]) -> (support::Outcome, support::Outcome) {
    let dir = atom_dir(name);
    let mut expr = atom_nix.compose_expr(&dir);
    for a in attr {
        expr = format!("{expr}.{a}");
    }
    let nix = atom_nix.eval(&expr, &["--strict"]);
    let (eka, warnings) = support::eka(&dir, attr, Print::Strict);
    assert!(
        warnings.is_empty(),
        "{name}: unexpected warnings {warnings:?}"
    );
    (nix, eka)
}

fn assert_same_value(name: &str, attr: &[&str], expected: &str) {
    let atom_nix = AtomNix::new();
    let (nix, eka) = both(&atom_nix, name, attr);
    assert_eq!(nix.as_deref(), Ok(expected), "atom-nix on {name}");
    assert_eq!(eka.as_deref(), Ok(expected), "eka on {name}");
}

#[test]
fn std_shaped_atom() {
    assert_same_value(
        "std-shape",
        &[],
        concat!(
            "{ attrs = { deep = <LAMBDA>; inject = <PRIMOP-APP>; keep = <LAMBDA>; only = <LAMBDA>; }; ",
            "files = { exists = <PRIMOP>; hash = <PRIMOP-APP>; read = <PRIMOP>; }; ",
            "fix = <LAMBDA>; name = { split = <LAMBDA>; }; ",
            "seq = { indexed = <LAMBDA>; slice = <LAMBDA>; }; ",
            "text = { lower = <PRIMOP-APP>; lowerFirst = <LAMBDA>; }; ",
            "uses = { deep = { a = { b = 1; c = 3; }; d = 4; }; fixed = { a = 1; b = 2; }; ",
            "inject = { a = 1; c = 3; }; keep = { y = 20; }; ",
            "seq = [ [ 0 6 14 ] [ 2 3 ] ]; ",
            "split = [ { ext = \"tar.gz\"; stem = \"lib\"; } { stem = \"README\"; } ]; ",
            "text = [ \"mixed\" \"capital\" ]; }; }"
        ),
    );
}

#[test]
fn pre_shaped_atom() {
    for (attr, expected) in [
        (&["inner", "level"][..], "\"one\""),
        (&["inner", "inner", "same"], "true"),
        (&["inner", "inner", "sum"], "84"),
        (
            &["inner", "inner", "parentNames"],
            "[ \"copy\" \"inner\" \"level\" \"pre\" ]",
        ),
        (&["inner", "inner", "rootNames"], "[ \"inner\" \"secret\" ]"),
        (&["inner", "inner", "seesPrivate"], "false"),
    ] {
        assert_same_value("pre-shape", attr, expected);
    }
}

#[test]
fn pre_shaped_atom_private_root_name_is_an_error_in_both() {
    let atom_nix = AtomNix::new();
    let (nix, eka) = both(&atom_nix, "pre-shape", &["inner", "inner", "fails"]);
    let nix = nix.expect_err("atom-nix: `atom.secret` of a private name fails");
    let eka = eka.expect_err("eka: `atom.secret` of a private name fails");
    assert!(nix.contains("'secret' missing"), "{nix}");
    assert!(eka.contains("secret"), "{eka}");
}

#[test]
fn nested_shaped_atom() {
    assert_same_value(
        "nested-shape",
        &[],
        concat!(
            "{ group = { inner = { part = 7; }; }; keep = [ \"inner\" ]; ",
            "notes = \"hello\\n\"; one = 1; part = 3; }"
        ),
    );
}

/// Uses of atom-nix's std from inside it (`std.path.make` is left out: it
/// adds a string to the path literal `/.`, which eka refuses when
/// evaluated).
const STD_CHECKS: &str = r#"{
  parse = [ (mod.file.parse "lib.tar.gz") (mod.file.parse ".hidden.nix") (mod.file.parse "README") ];
  fixed = mod.fix (self: { a = 1; b = self.a + 1; });
  imap = mod.list.imap (i: x: i * x) [ 5 6 7 ];
  sublist = mod.list.sublist 1 2 [ 1 2 3 4 ];
  filterMap = atom.set.filterMap (k: v: if v > 1 then { ${k} = v * 10; } else null) { x = 1; y = 2; };
  inject = mod.set.inject { a = 1; } [ { _if = false; b = 2; } { c = 3; } ];
  merge = mod.set.merge { a.b = 1; a.c = 2; } { a.c = 3; d = 4; };
  when = mod.set.when { _if = false; _else.e = 5; };
  lower = [ (mod.string.toLower "MiXeD") (mod.string.toLowerCase "Capital") ];
}"#;

#[test]
fn atom_nix_std_as_an_atom() {
    let atom_nix = AtomNix::new();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("std");
    copy_dir(&support::atom_nix_dir().join("std"), &dir);
    std::fs::write(
        dir.join("atom.toml"),
        "[package]\nlabel = \"std\"\nversion = \"0.4.4\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("Checks.nix"), STD_CHECKS).unwrap();
    let nix = atom_nix.eval(&atom_nix.compose_expr(&dir), &["--strict"]);
    let (eka, warnings) = support::eka(&dir, &[], Print::Strict);
    let nix = nix.expect("atom-nix composes its std as an atom");
    assert!(nix.contains("checks = { "), "{nix}");
    assert_eq!(eka.as_deref(), Ok(nix.as_str()), "eka on atom-nix's std");
    assert!(warnings.is_empty(), "{warnings:?}");
}
