//! `"${mod}"` in a derivation is the module's data as a store path: the
//! derivations of an atom whose modules build from `"${mod}"` have the
//! same `drvPath` and `outPath` in eka as in atom-nix 0.4.4 on Nix 2.8,
//! which copies the module's directory without its Nix sources and
//! submodules (`rmNixSrcs`).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::{AtomNix, Print};

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// An atom whose root module and submodule each build from `"${mod}"`:
/// data files (one executable, one `notes.v1.nix`, which is data), a plain
/// subdirectory holding a Nix file (left out) and data, a member file and
/// a submodule (both left out of the root's data).
fn atom(parent: &Path) -> std::path::PathBuf {
    // atom-nix names the root's store path after the atom's directory,
    // eka after the label: the same here.
    let root = parent.join("datum");
    write(
        &root,
        "atom.toml",
        "[package]\nlabel = \"datum\"\nversion = \"0.1.0\"\n",
    );
    let drv = |name: &str| {
        format!(
            r#"derivation {{
  name = "{name}";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "echo $src > $out" ];
  src = "${{mod}}";
  file = "${{mod}}/data.txt";
  listed = [ "${{mod}}/plain" ];
  json = builtins.toJSON {{ dir = "${{mod}}"; }};
  text = builtins.toFile "where" "data at ${{mod}}\n";
}}"#
        )
    };
    write(
        &root,
        "mod.nix",
        &format!(
            "{{ Sub = mod.sub; Drv = {}; Context = builtins.attrNames (builtins.getContext \"${{mod}}\"); Data = builtins.readFile \"${{mod}}/data.txt\"; }}\n",
            drv("root")
        ),
    );
    write(&root, "Member.nix", "1\n");
    write(&root, "data.txt", "root data\n");
    write(&root, "notes.v1.nix", "data, not a member\n");
    write(&root, "run.sh", "#!/bin/sh\necho run\n");
    std::fs::set_permissions(root.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    write(&root, "plain/inner.txt", "inner\n");
    write(&root, "plain/skipped.nix", "{ }\n");
    write(&root, "plain/deeper/more.txt", "more\n");
    write(
        &root,
        "sub/mod.nix",
        &format!("{{ Drv = {}; }}\n", drv("sub")),
    );
    write(&root, "sub/data.txt", "sub data\n");
    root
}

/// The printed value at `attr` in both.
fn both(atom_nix: &AtomNix, dir: &Path, attr: &[&str]) -> (support::Outcome, support::Outcome) {
    let mut expr = atom_nix.compose_expr(dir);
    for a in attr {
        expr = format!("{expr}.{a}");
    }
    let nix = atom_nix.eval(&expr, &["--strict", "--json"]);
    let (eka, warnings) = support::eka(dir, attr, Print::Json);
    assert!(warnings.is_empty(), "unexpected warnings {warnings:?}");
    (nix, eka)
}

#[test]
fn derivations_from_mod_have_atom_nix_paths() {
    let atom_nix = AtomNix::new();
    let parent = tempfile::tempdir().unwrap();
    let dir = atom(parent.path());
    for attr in [
        &["drv", "drvPath"][..],
        &["drv", "outPath"],
        &["sub", "drv", "drvPath"],
        &["sub", "drv", "outPath"],
        &["drv", "text"],
        &["context"],
        &["data"],
    ] {
        let (nix, eka) = both(&atom_nix, &dir, attr);
        let nix = nix.unwrap_or_else(|e| panic!("atom-nix failed on {attr:?}: {e}"));
        assert_eq!(eka, Ok(nix), "{attr:?}");
    }
}

/// Changing a file that is not the module's data (a member, a Nix file
/// of a plain directory, a submodule's data) keeps the path; changing a
/// data file changes it: the checks above compare content, not only
/// names.
#[test]
fn only_the_data_makes_the_path() {
    let parent = tempfile::tempdir().unwrap();
    let dir = atom(parent.path());
    let path = || {
        support::eka(&dir, &["drv", "drvPath"], Print::Json)
            .0
            .unwrap()
    };
    let before = path();
    write(&dir, "Member.nix", "2\n");
    write(&dir, "plain/skipped.nix", "{ a = 1; }\n");
    write(&dir, "sub/data.txt", "other sub data\n");
    assert_eq!(path(), before);
    write(&dir, "plain/deeper/more.txt", "changed\n");
    assert_ne!(path(), before);
    write(&dir, "plain/deeper/more.txt", "more\n");
    assert_eq!(path(), before);
    std::fs::set_permissions(dir.join("run.sh"), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_ne!(path(), before);
}
