//! Shared by the tests that compare eka's module system with atom-nix, the
//! reference implementation (atom-nix 0.4.4 run by Nix 2.8's
//! `nix-instantiate`): where atom-nix is, how to run it on atom directories,
//! and how to run eka (the library) on the same directories.
//!
//! These tests fail, never skip, when atom-nix or `nix-instantiate` is
//! missing: a comparison that did not run must not pass.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use atom_modules::{Composer, DirFiles, Limits, NoDeps};

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("atom-modules is inside the repository")
        .to_owned()
}

/// atom-nix's directory: `$ATOM_NIX` when set, else `shared/atom-nix` beside
/// the repository (`<root>/../shared/atom-nix`, where CI puts it) or beside
/// one of its parents (a worktree nested one level deeper). Panics with what
/// to do when it is missing.
pub fn atom_nix_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATOM_NIX") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join("core/compose.nix").is_file(),
            "ATOM_NIX={} has no core/compose.nix; point it at atom-nix 0.4.4",
            dir.display()
        );
        return dir;
    }
    let root = repo_root();
    for base in root.ancestors().skip(1) {
        let dir = base.join("shared/atom-nix");
        if dir.join("core/compose.nix").is_file() {
            return dir;
        }
    }
    panic!(
        "atom-nix is missing: these tests compare eka with atom-nix 0.4.4 and need it at \
         {}/../shared/atom-nix (or set ATOM_NIX to its directory)",
        root.display()
    );
}

/// atom-nix on Nix 2.8, with a store of its own (atom-nix copies every
/// module file to the store; a private store keeps the host's clean and is
/// deleted with this value).
pub struct AtomNix {
    dir: PathBuf,
    store: tempfile::TempDir,
}

/// What an evaluation gave: the printed value, or the error text.
pub type Outcome = Result<String, String>;

impl AtomNix {
    /// Finds atom-nix and `nix-instantiate`; panics with what is missing.
    pub fn new() -> AtomNix {
        let dir = atom_nix_dir();
        match Command::new("nix-instantiate").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "`nix-instantiate --version` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "nix-instantiate (Nix 2.8) is needed on PATH to compare eka with atom-nix: {e}"
            ),
        }
        let atom_nix = AtomNix {
            dir,
            store: tempfile::tempdir().expect("temporary store directory"),
        };
        atom_nix.initialise_store();
        atom_nix
    }

    /// Starts over with an empty store (long runs would fill the disk: every
    /// file atom-nix composes is copied to it).
    pub fn fresh_store(&mut self) {
        self.store = tempfile::tempdir().expect("temporary store directory");
        self.initialise_store();
    }

    /// Creates the store's database and profile links with one evaluation,
    /// before tests share the store from several threads (concurrent first
    /// uses race to create them: "creating symlink ... File exists").
    fn initialise_store(&self) {
        if let Err(e) = self.eval("1", &[]) {
            panic!("initialising atom-nix's private Nix store failed: {e}");
        }
    }

    /// The Nix expression of the atom at `atom_dir` composed by atom-nix,
    /// as its README shows (`config` = the atom's manifest).
    pub fn compose_expr(&self, atom_dir: &Path) -> String {
        let d = nix_path(atom_dir);
        format!(
            "(import {}/core/compose.nix {d} {{ config = builtins.fromTOML (builtins.readFile {d}/atom.toml); }})",
            nix_path(&self.dir)
        )
    }

    /// `nix-instantiate --eval --read-write-mode [extra] -E expr`.
    pub fn eval(&self, expr: &str, extra: &[&str]) -> Outcome {
        let store = format!("local?root={}", self.store.path().display());
        let out = Command::new("nix-instantiate")
            .args(["--store", &store, "--read-write-mode", "--eval"])
            .args(extra)
            .args(["-E", expr])
            .env_remove("NIX_PATH")
            .output()
            .expect("running nix-instantiate");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The atom's public API, forced and printed as JSON.
    pub fn json(&self, atom_dir: &Path) -> Outcome {
        self.eval(&self.compose_expr(atom_dir), &["--strict", "--json"])
    }

    /// The public APIs of several atoms in one run, as one JSON list (Nix
    /// starts once; any failure fails the whole list).
    pub fn json_list(&self, atom_dirs: &[PathBuf]) -> Outcome {
        let items: Vec<String> = atom_dirs.iter().map(|d| self.compose_expr(d)).collect();
        let expr = format!("[ {} ]", items.join(" "));
        self.eval(&expr, &["--strict", "--json"])
    }
}

/// A path as a Nix path literal (absolute; the temporary directories and
/// the repository have plain names).
fn nix_path(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(
        s.starts_with('/')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c)),
        "{s} cannot be written as a Nix path literal"
    );
    s
}

/// How eka prints the value.
#[derive(Clone, Copy)]
pub enum Print {
    /// `eka eval --strict --json`.
    Json,
    /// `eka eval --strict` (as `nix-instantiate --eval --strict` prints).
    Strict,
}

/// eka's module system on the atom directory `atom_dir`: its public API (or
/// `attr`, a path in it), forced and printed, and the warnings composing
/// it gave.
pub fn eka(atom_dir: &Path, attr: &[&str], print: Print) -> (Outcome, Vec<String>) {
    let dir = atom_dir.to_owned();
    let attr: Vec<String> = attr.iter().map(|s| s.to_string()).collect();
    atom_eval::run_with_large_stack(move || {
        let mut composer =
            Composer::new(Box::new(NoDeps), Limits::default()).expect("the composer starts");
        let outcome = (|| {
            let api = composer
                .load("", Rc::new(DirFiles::new(&dir)))
                .map_err(|e| e.to_string())?;
            let value = composer.select(&api, &attr).map_err(|e| e.to_string())?;
            let ev = composer.evaluator();
            let value = ev.force_deep(&value).map_err(|e| e.to_string())?;
            match print {
                Print::Json => ev.to_json(&value),
                Print::Strict => ev.print(&value),
            }
            .map_err(|e| e.to_string())
        })();
        let warnings = composer.warnings().iter().map(|w| w.to_string()).collect();
        (outcome, warnings)
    })
    .expect("a thread with a large stack")
}
