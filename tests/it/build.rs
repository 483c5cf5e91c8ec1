//! `eka build` against the machine's real Nix (2.8): derivations evaluated
//! by eka, written into the store through `nix-daemon --stdio` and built
//! by Nix. Every output path is checked against `nix-build` of the same
//! file, and the outputs' contents are read back.
//!
//! Each test puts a nonce (the sandbox path) into its derivations, so
//! that Nix really builds them instead of finding them valid from an
//! earlier run.

use std::path::Path;
use std::process::Command;

use crate::support::Sandbox;

/// Nix's own answer for `file`: `nix-build --no-out-link` (which builds
/// anything still missing, and prints the output paths).
fn nix_build(file: &Path) -> Vec<String> {
    let out = Command::new("nix-build")
        .arg("--no-out-link")
        .arg(file)
        .output()
        .expect("nix-build runs (install Nix 2.8: `apt-get install nix-bin`)");
    assert!(
        out.status.success(),
        "nix-build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&String::from_utf8_lossy(&out.stdout))
}

fn nix_instantiate(file: &Path) -> Vec<String> {
    let out = Command::new("nix-instantiate")
        .arg(file)
        .output()
        .expect("nix-instantiate runs");
    assert!(
        out.status.success(),
        "nix-instantiate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lines(&String::from_utf8_lossy(&out.stdout))
}

/// Text without miette's wrapping: words separated by single spaces.
fn squash(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c == '│')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// A fresh store database may be busy while another process creates it.
fn warm_store() {
    let _ = Command::new("nix-instantiate")
        .args(["--eval", "-E", "1"])
        .output();
}

/// A chain of derivations (one reads another's output and a `toFile`
/// text), a multi-output derivation, a fixed-output one, and one whose
/// source is a directory copied to the store.
fn derivations_file(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.mkdir("project");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/greeting"), "hello from a source\n").unwrap();
    let nonce = sb.path().display().to_string();
    let text = format!(
        r#"
let
  nonce = "{nonce}";
  sh = args: {{ system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" args ]; inherit nonce; }};
  # The build has no PATH: `cat` in shell builtins.
  cat = files: builtins.concatStringsSep "; "
    (map (f: "while IFS= read -r l || [ -n \"$l\" ]; do echo \"$l\"; done < ${{f}}") files);
  conf = builtins.toFile "conf.txt" "configured\n";
  first = derivation (sh "echo first > $out" // {{ name = "first"; }});
  second = derivation (sh "(${{cat [ first conf ]}}) > $out; echo second >> $out" // {{ name = "second"; }});
  multi = derivation (sh "echo lib > $lib; echo dev > $dev; echo out > $out" // {{
    name = "multi"; outputs = [ "out" "dev" "lib" ];
  }});
  fixed = derivation (sh "printf hello > $out" // {{
    name = "fixed.txt";
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
  }});
  sourced = derivation (sh "(${{cat [ "${{./src}}/greeting" multi.dev fixed ]}}) > $out" // {{ name = "sourced"; }});
in {{ inherit second multi fixed sourced; }}
"#
    );
    let file = dir.join("default.nix");
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn builds_what_nix_builds() {
    warm_store();
    let sb = Sandbox::new();
    let file = derivations_file(&sb);
    let dir = file.parent().unwrap();
    let run = sb.eka(dir, &["build", "default.nix"]);
    let run = run.assert_success();
    let ours = lines(&run.stdout);
    assert_eq!(ours, nix_build(&file), "output paths of eka and nix-build");
    assert_eq!(ours.len(), 4);
    let read = |path: &str| std::fs::read_to_string(path).unwrap();
    // In attribute order: fixed, multi, second, sourced.
    assert_eq!(read(&ours[0]), "hello");
    assert_eq!(read(&ours[1]), "out\n");
    assert_eq!(read(&ours[2]), "first\nconfigured\nsecond\n");
    assert_eq!(read(&ours[3]), "hello from a source\ndev\nhello\n");
    // `./result` for the first, `result-<n>` for the others.
    for (link, path) in ["result", "result-1", "result-2", "result-3"]
        .iter()
        .zip(&ours)
    {
        let target = std::fs::read_link(dir.join(link)).unwrap();
        assert_eq!(target.display().to_string(), *path, "{link}");
    }
    // Nix agrees on the .drv paths too.
    let json = sb.eka(dir, &["build", "--json", "--no-link", "default.nix"]);
    let json = json.assert_success();
    let built: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let drvs: Vec<String> = built
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["drvPath"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(drvs, nix_instantiate(&file));
}

#[test]
fn one_output_of_a_multi_output_derivation() {
    warm_store();
    let sb = Sandbox::new();
    let file = derivations_file(&sb);
    let dir = file.parent().unwrap();
    let run = sb.eka(
        dir,
        &[
            "build",
            "--no-link",
            "-E",
            "(import ./default.nix).multi.lib",
        ],
    );
    // `import` is a plain Nix file's right; an expression may use it.
    let run = run.assert_success();
    let ours = lines(&run.stdout);
    assert_eq!(ours.len(), 1);
    assert!(ours[0].ends_with("-multi-lib"), "{ours:?}");
    assert_eq!(std::fs::read_to_string(&ours[0]).unwrap(), "lib\n");
}

#[test]
fn dry_run_writes_nothing() {
    warm_store();
    let sb = Sandbox::new();
    let file = derivations_file(&sb);
    let dir = file.parent().unwrap();
    let run = sb.eka(dir, &["build", "--dry-run", "--json", "default.nix"]);
    let run = run.assert_success();
    let found: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 4);
    for f in found {
        let drv = f["drvPath"].as_str().unwrap();
        assert!(!Path::new(drv).exists(), "{drv} was written by --dry-run");
    }
    // The fixed output may be valid from another test; the others carry
    // this sandbox's nonce.
    assert!(found.iter().filter(|f| f["valid"] == true).count() <= 1);
    assert!(!dir.join("result").exists());
}

#[test]
fn a_failing_builder_is_reported_with_its_log() {
    warm_store();
    let sb = Sandbox::new();
    let dir = sb.mkdir("p");
    let nonce = sb.path().display().to_string();
    std::fs::write(
        dir.join("default.nix"),
        format!(
            r#"derivation {{ name = "fails"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "{nonce}";
               args = [ "-c" "echo about to fail; echo really >&2; exit 3" ]; }}"#
        ),
    )
    .unwrap();
    let run = sb.eka(&dir, &["build", "default.nix"]);
    let run = run.assert_failure();
    assert!(
        squash(&run.stderr).contains("failed with exit code 3"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("about to fail"), "{}", run.stderr);
    assert!(!dir.join("result").exists());
}

#[test]
fn a_fixed_output_with_the_wrong_content_is_refused() {
    warm_store();
    let sb = Sandbox::new();
    let dir = sb.mkdir("p");
    let nonce = sb.path().display().to_string();
    std::fs::write(
        dir.join("default.nix"),
        format!(
            r#"derivation {{ name = "wrong"; system = "x86_64-linux"; builder = "/bin/sh";
               args = [ "-c" "echo {nonce} > $out" ];
               outputHashMode = "flat"; outputHashAlgo = "sha256";
               outputHash = "0000000000000000000000000000000000000000000000000000000000000000"; }}"#
        ),
    )
    .unwrap();
    let run = sb.eka(&dir, &["build", "default.nix"]);
    let run = run.assert_failure();
    assert!(
        squash(&run.stderr).contains("hash mismatch"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_derivations_are_evaluation_errors() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("p");
    for (expr, message) in [
        (
            r#"derivation { name = "x"; builder = "/bin/sh"; }"#,
            "required attribute 'system' missing",
        ),
        (
            r#"derivation { name = "x"; system = "x86_64-linux"; }"#,
            "required attribute 'builder' missing",
        ),
        (
            r#"derivation { name = "x"; system = "x86_64-linux"; builder = builtins.appendContext "/nix/store/ffffffffffffffffffffffffffffffff-x" { "/nix/store/ffffffffffffffffffffffffffffffff-x" = { path = true; }; }; }"#,
            "which this evaluation did not produce",
        ),
        ("1", "is not a derivation"),
    ] {
        let run = sb.eka(&dir, &["build", "--no-link", "-E", expr]);
        let run = run.assert_failure();
        assert!(
            squash(&run.stderr).contains(message),
            "{expr}: {}",
            run.stderr
        );
    }
}

#[test]
fn without_nix_it_says_how_to_install_it() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("p");
    let run = sb.eka(
        &dir,
        &[
            "build",
            "--nix-daemon",
            "/nonexistent/nix-daemon",
            "-E",
            r#"derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh"; }"#,
        ],
    );
    let run = run.assert_failure();
    assert!(
        squash(&run.stderr).contains("apt-get install nix-bin"),
        "{}",
        run.stderr
    );
}

/// An atom's module describes a derivation (`derivation` and `toFile` are
/// pure, so modules may use them); `eka build ATOM#attr` builds it, at
/// the path `nix-build` gives for the same expression in a plain file.
#[test]
fn builds_an_atom() {
    warm_store();
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    let nonce = sb.path().display().to_string();
    let hello = format!(
        r#"let script = builtins.toFile "script.sh" "echo hello from an atom > $out\n"; in
derivation {{ name = "hello-atom"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ script ]; nonce = "{nonce}"; }}
"#
    );
    repo.write_atom("atoms/hello", "hello", "0.1.0")
        .write("atoms/hello/mod.nix", "{ }\n")
        .write("atoms/hello/Hello.nix", &hello);
    repo.commit("hello");
    let plain = sb.path().join("plain.nix");
    std::fs::write(&plain, &hello).unwrap();

    let target = format!("{}#hello", repo.path().join("atoms/hello").display());
    let run = sb.eka(repo.path(), &["build", "--no-link", &target]);
    let run = run.assert_success();
    let ours = lines(&run.stdout);
    assert_eq!(ours, nix_build(&plain));
    assert_eq!(
        std::fs::read_to_string(&ours[0]).unwrap(),
        "hello from an atom\n"
    );
}

/// A module builds from its own data, `"${mod}"`: the source eka computes
/// and writes into the store is the one `builtins.path` gives for the
/// same files (the module's directory without its Nix files), so the
/// output path is `nix-build`'s for the plain file; the build reads the
/// data. The system is `cfg.system`, this machine's unless `--system`.
#[test]
fn builds_from_the_modules_own_data() {
    warm_store();
    let sb = Sandbox::new();
    let repo = sb.repo("repo");
    let nonce = sb.path().display().to_string();
    let greet = |src: &str, system: &str| {
        format!(
            r#"derivation {{ name = "greet"; system = {system}; builder = "/bin/sh"; nonce = "{nonce}";
  args = [ "-c" "read -r l < {src}/greeting.txt; echo \"$l, built\" > $out" ]; }}
"#
        )
    };
    repo.write_atom("atoms/modsrc", "modsrc", "0.1.0")
        .write("atoms/modsrc/mod.nix", "{ System = cfg.system; }\n")
        .write("atoms/modsrc/greeting.txt", "hello from the data\n")
        .write("atoms/modsrc/Greet.nix", greet("${mod}", "cfg.system"));
    repo.commit("modsrc");
    let plain = sb.path().join("plain.nix");
    let source = format!(
        "builtins.path {{ name = \"modsrc\"; path = {}; filter = p: t: builtins.match \".*[.]nix\" p == null; }}",
        repo.path().join("atoms/modsrc").display()
    );
    let plain_text = format!(
        "let src = {source}; in {}",
        greet("${src}", "\"x86_64-linux\"")
    );
    std::fs::write(&plain, plain_text).unwrap();

    let atom = repo.path().join("atoms/modsrc");
    let target = format!("{}#greet", atom.display());
    let ours = lines(
        &sb.eka(repo.path(), &["build", "--no-link", &target])
            .assert_success()
            .stdout,
    );
    assert_eq!(ours, nix_build(&plain));
    assert_eq!(
        std::fs::read_to_string(&ours[0]).unwrap(),
        "hello from the data, built\n"
    );

    let system = format!("{}#system", atom.display());
    let run = sb.eka(repo.path(), &["eval", &system, "--system", "aarch64-linux"]);
    assert_eq!(run.assert_success().stdout, "\"aarch64-linux\"\n");
    let run = sb.eka(repo.path(), &["eval", &system]);
    assert_eq!(run.assert_success().stdout, "\"x86_64-linux\"\n");
    let run = sb.eka(repo.path(), &["eval", &system, "--system", "linux"]);
    let err = squash(&run.assert_failure().stderr);
    assert!(err.contains("'linux' is not a system name"), "{err}");
}

/// An atom's derivation uses a dependency atom's derivation through
/// `deps` (published to a registry, locked, fetched by `eka build`): the
/// output path is `nix-build`'s for the same two derivations in a plain
/// file, and the output holds what both builds wrote (the dependency's
/// from its own `"${mod}"` data).
#[test]
fn builds_through_a_dependency_atom() {
    use crate::support::{RegistryBuilder, Transport};
    warm_store();
    let sb = Sandbox::new();
    let server = sb.server(Transport::File);
    let nonce = sb.path().display().to_string();
    let tool = |src: &str| {
        format!(
            r#"derivation {{ name = "tool"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "{nonce}";
  args = [ "-c" "read -r l < {src}/word.txt; echo \"tool says $l\" > $out" ]; }}"#
        )
    };
    let app = |tool: &str| {
        format!(
            r#"derivation {{ name = "app"; system = "x86_64-linux"; builder = "/bin/sh"; nonce = "{nonce}";
  args = [ "-c" "read -r l < ${{{tool}}}; echo \"app got: $l\" > $out" ]; }}"#
        )
    };
    let reg = RegistryBuilder::new(&sb, &server)
        .atom("tool", "1.0.0")
        .dir("lib/tool")
        .file("mod.nix", format!("{{ Drv = {}; }}\n", tool("${mod}")))
        .file("word.txt", "dependency data\n")
        .build();
    let repo = sb.repo("consumer");
    repo.write(
        "app/atom.toml",
        format!(
            "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n\n[package.sets]\nreg = \"{}\"\n\n[deps.from.reg]\ntool = \"^1\"\n",
            reg.url
        ),
    )
    .write(
        "app/mod.nix",
        format!("{{ App = {}; }}\n", app("deps.from.reg.tool.drv")),
    );
    sb.eka(&repo.path().join("app"), &["lock"]).assert_success();
    repo.commit("app");

    let plain = sb.path().join("plain.nix");
    let source = format!(
        "builtins.path {{ name = \"tool\"; path = {}; filter = p: t: builtins.match \".*[.]nix\" p == null; }}",
        reg.source.path().join("lib/tool").display()
    );
    std::fs::write(
        &plain,
        format!(
            "let src = {source}; tool = {}; in {}",
            tool("${src}"),
            app("tool")
        ),
    )
    .unwrap();

    let target = format!("{}#app", repo.path().join("app").display());
    let ours = lines(
        &sb.eka(repo.path(), &["build", "--no-link", &target])
            .assert_success()
            .stdout,
    );
    assert_eq!(ours, nix_build(&plain));
    assert_eq!(
        std::fs::read_to_string(&ours[0]).unwrap(),
        "app got: tool says dependency data\n"
    );
}
