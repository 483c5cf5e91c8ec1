//! Differential test of the module system against atom-nix 0.4.4 on Nix 2.8:
//! random module trees, composed by both, must give the same public API.
//!
//! The trees exercise how atom-nix names things (`spec/modules.md`,
//! "Members and names"): capitalised and lowercase member files, submodule
//! directories and `mod.nix` keys whose names collide in every way, nested
//! submodules, the re-export idiom (`Foo = mod.foo;`), references through
//! `mod`, `pre`, `pre.pre` and `atom`, and the names atom-nix treats
//! specially (`mod`, `pre`, `atom`, `outPath`, hidden `.x.nix` files).
//! Nothing in them crosses a security bound (no host files, no `import`), so
//! every tree must evaluate to the same JSON in both: there is no listed
//! difference to allow for.
//!
//! Every value a tree defines depends only on values of a lower "level"
//! (each base name has one), so whatever the naming rules resolve a
//! reference to, nothing is cyclic and trees evaluate without error; a
//! reference that may not exist has an `or "-"` default, so its presence is
//! part of the value compared.
//!
//! `EKA_DIFF_TREES` (default 300) trees from `EKA_DIFF_SEED` (default
//! below): tree `i` is made from seed `EKA_DIFF_SEED + i`, so a failing tree
//! is reproduced with `EKA_DIFF_SEED=<its seed> EKA_DIFF_TREES=1`. Trees are
//! evaluated by atom-nix in batches (one `nix-instantiate` per batch: its
//! start-up dominates); a batch that differs is rerun tree by tree.

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use support::{AtomNix, Print};

const DEFAULT_SEED: u64 = 0x00a7_0e1c_2025;
const DEFAULT_TREES: u64 = 300;
const BATCH: usize = 50;
/// atom-nix starts a new store after this many batches.
const STORE_BATCHES: usize = 20;
/// Submodules nest at most this deep below the root module.
const MAX_DEPTH: usize = 3;

/// The names trees are made of, each written lowercase (its capitalised
/// spelling, if any, is derived): ordinary names, and names that atom-nix
/// treats specially or that have no capitalised spelling. Every tree takes
/// some of both.
const ORDINARY: &[&str] = &["foo", "bar", "sub", "file", "set", "x"];
const SPECIAL: &[&str] = &["pre", "mod", "atom", "outPath", "std", ".h", "_p"];

/// SplitMix64: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Case {
    Cap,
    Low,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Key,
    File,
    Dir,
}

/// `foo` -> `Foo`; names without a lowercase ASCII first letter have no
/// capitalised spelling.
fn spell(base: &str, case: Case) -> Option<String> {
    match case {
        Case::Low => Some(base.to_string()),
        Case::Cap => {
            let first = base.chars().next()?;
            first
                .is_ascii_lowercase()
                .then(|| format!("{}{}", first.to_ascii_uppercase(), &base[1..]))
        }
    }
}

/// A name as it is written in an attribute path.
fn attr(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_'-".contains(c));
    if plain {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// One generated module: a directory with `mod.nix`.
#[derive(Default)]
struct Module {
    keys: Vec<(String, String)>,
    files: Vec<(String, String)>,
    dirs: Vec<(String, Module)>,
    /// Directories without `mod.nix` (data, not submodules).
    plain_dirs: Vec<String>,
}

/// What the values of a tree may refer to.
struct Tree<'a> {
    /// The tree's base names; a name's level is its index.
    bases: &'a [&'static str],
}

impl Tree<'_> {
    fn module(&self, rng: &mut Rng, limit: usize, depth: usize, path: &str) -> Module {
        let defs = self.definitions(rng, limit, depth);
        let mut m = Module::default();
        for &(ref raw, case, kind, level) in &defs {
            let tag = format!("{path}{raw}:{kind:?}");
            let base = self.bases[level];
            let low = spell(base, Case::Low).unwrap();
            // The idiom: `Foo = mod.foo;`, where a lowercase `foo` (a file,
            // directory or key) is what `mod.foo` finds.
            let reexport = case == Case::Cap
                && !["mod", "outPath"].contains(&base)
                && defs.iter().any(|d| d.0 == low)
                && rng.chance(60);
            let expr = |rng: &mut Rng| {
                if reexport {
                    format!("mod.{}", attr(&low))
                } else {
                    self.value(rng, level, depth, &tag)
                }
            };
            match kind {
                Kind::Key => m.keys.push((raw.clone(), expr(rng))),
                Kind::File => m.files.push((format!("{raw}.nix"), expr(rng))),
                Kind::Dir => {
                    let inner = self.module(rng, level, depth + 1, &format!("{path}{raw}/"));
                    m.dirs.push((raw.clone(), inner));
                }
            }
        }
        if rng.chance(70) {
            m.keys.push(("Names".into(), Self::names(depth)));
        }
        self.noise(rng, &defs, &mut m);
        m
    }

    /// The public key `Names`: what `mod`, `pre`, `pre.pre` and `atom`
    /// hold (names only, so it depends on no value).
    fn names(depth: usize) -> String {
        let of = |scope: &str| {
            format!(
                "{scope} = if builtins.isAttrs {scope} then builtins.attrNames {scope} else \"-\";"
            )
        };
        let mut probes = vec![of("mod"), of("atom")];
        if depth > 0 {
            probes.push(of("pre"));
            probes.push(
                "prepre = if builtins.isAttrs (pre.pre or null) then builtins.attrNames pre.pre else \"-\";"
                    .into(),
            );
        }
        format!("{{ {} }}", probes.join(" "))
    }

    /// Which names the module defines, and how: a random subset of the
    /// base names below `limit`, each in one to three spellings and kinds.
    fn definitions(
        &self,
        rng: &mut Rng,
        limit: usize,
        depth: usize,
    ) -> Vec<(String, Case, Kind, usize)> {
        let mut defs: Vec<(String, Case, Kind, usize)> = Vec::new();
        for level in 0..limit {
            if !rng.chance(60) {
                continue;
            }
            for _ in 0..1 + rng.below(3) {
                let case = if rng.chance(50) { Case::Cap } else { Case::Low };
                let kind = [Kind::Key, Kind::File, Kind::Dir][rng.below(3)];
                let Some(raw) = spell(self.bases[level], case) else {
                    continue;
                };
                let impossible = (kind == Kind::File && raw == "mod")
                    || (kind == Kind::Dir && (depth >= MAX_DEPTH || level == 0));
                if impossible || defs.iter().any(|d| d.0 == raw && d.2 == kind) {
                    continue;
                }
                defs.push((raw, case, kind, level));
            }
        }
        defs
    }

    /// Files and directories that are not members.
    fn noise(&self, rng: &mut Rng, defs: &[(String, Case, Kind, usize)], m: &mut Module) {
        if rng.chance(15) {
            m.files
                .push(("Foo.bar.nix".into(), "{ this is not a member".into()));
        }
        if rng.chance(10) {
            m.files.push(("notes.txt".into(), "data".into()));
        }
        if rng.chance(15) {
            let base = self.bases[rng.below(self.bases.len())];
            let case = if rng.chance(50) { Case::Cap } else { Case::Low };
            if let Some(raw) = spell(base, case) {
                if !defs.iter().any(|d| d.0 == raw && d.2 == Kind::Dir) {
                    m.plain_dirs.push(raw);
                }
            }
        }
    }

    /// A value of level `level`: data tagged with where it is defined, and
    /// references to names of lower levels.
    fn value(&self, rng: &mut Rng, level: usize, depth: usize, tag: &str) -> String {
        match rng.below(10) {
            0 | 1 => format!("\"{tag}\""),
            2 => self.probe(rng, depth),
            3 => "cfg.package.label".into(),
            _ => {
                let refs: Vec<String> = (0..1 + rng.below(3))
                    .map(|_| {
                        if level == 0 {
                            self.probe(rng, depth)
                        } else {
                            self.reference(rng, level, depth)
                        }
                    })
                    .collect();
                format!("{{ id = \"{tag}\"; r = [ {} ]; }}", refs.join(" "))
            }
        }
    }

    /// A question about names only (forces no member's value).
    fn probe(&self, rng: &mut Rng, depth: usize) -> String {
        let name = self.any_spelling(rng);
        let scopes: &[&str] = if depth == 0 {
            &["mod", "atom"]
        } else {
            // `pre.pre` below the first level, or the root's member `pre`
            // (any value) at the first, or nothing.
            &["mod", "atom", "pre", "(pre.pre or null)"]
        };
        let scope = scopes[rng.below(scopes.len())];
        if rng.chance(50) {
            format!("(if builtins.isAttrs {scope} then builtins.attrNames {scope} else \"-\")")
        } else {
            format!("({scope} ? {})", attr(&name))
        }
    }

    fn any_spelling(&self, rng: &mut Rng) -> String {
        let base = self.bases[rng.below(self.bases.len())];
        let case = if rng.chance(70) { Case::Low } else { Case::Cap };
        spell(base, case).unwrap_or_else(|| base.to_string())
    }

    /// `(<scope>[.<name>].<name> or "-")` reaching a name of a lower level.
    fn reference(&self, rng: &mut Rng, level: usize, depth: usize) -> String {
        let target = self.bases[rng.below(level)];
        let case = if rng.chance(80) { Case::Low } else { Case::Cap };
        let name = spell(target, case).unwrap_or_else(|| target.to_string());
        let scopes: &[&str] = if depth == 0 {
            &["mod", "atom"]
        } else {
            &["mod", "atom", "pre", "pre.pre"]
        };
        let mut scope = scopes[rng.below(scopes.len())].to_string();
        if rng.chance(30) {
            scope = format!("{scope}.{}", attr(&self.any_spelling(rng)));
        } else if scope == "mod" && name == "outPath" {
            // `mod.outPath` is the module's directory: a store path in
            // atom-nix, an atom path in eka (a listed difference).
            scope = "atom".into();
        } else if scope.starts_with("pre") && name == "pre" {
            // `pre.pre` and `pre.pre.pre` may be a whole module, which holds
            // this value: printing it would never end.
            scope = "atom".into();
        }
        format!("({scope}.{} or \"-\")", attr(&name))
    }
}

impl Module {
    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let keys: String = self
            .keys
            .iter()
            .map(|(k, v)| format!("  {} = {v};\n", attr(k)))
            .collect();
        std::fs::write(dir.join("mod.nix"), format!("{{\n{keys}}}\n")).unwrap();
        for (name, text) in &self.files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        for name in &self.plain_dirs {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("Inner.nix"), "\"inner\"").unwrap();
        }
        for (name, inner) in &self.dirs {
            inner.write(&dir.join(name));
        }
    }
}

/// Every file of the atom at `dir`, for a report.
fn describe(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        let rel = f.strip_prefix(dir).unwrap().display().to_string();
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        writeln!(out, "--- {rel}\n{}", text.trim_end()).unwrap();
    }
    out
}

fn shuffle<T>(rng: &mut Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// `n` different names of `from`.
fn pick(rng: &mut Rng, from: &[&'static str], n: usize) -> Vec<&'static str> {
    let mut names = from.to_vec();
    shuffle(rng, &mut names);
    names.truncate(n);
    names
}

/// Makes the tree of `seed` as the atom `label` in `dir`.
fn make_tree(seed: u64, dir: &Path, label: &str) {
    let mut rng = Rng(seed);
    let (ordinary, special) = (3 + rng.below(3), 2 + rng.below(3));
    let mut bases = pick(&mut rng, ORDINARY, ordinary);
    bases.extend(pick(&mut rng, SPECIAL, special));
    // A random order: the levels.
    shuffle(&mut rng, &mut bases);
    let tree = Tree { bases: &bases };
    let root = tree.module(&mut rng, bases.len(), 0, "");
    root.write(dir);
    std::fs::write(
        dir.join("atom.toml"),
        format!("[package]\nlabel = \"{label}\"\nversion = \"0.1.0\"\n"),
    )
    .unwrap();
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v} is not a number"))
        }
        Err(_) => default,
    }
}

#[derive(Default)]
struct Tally {
    trees: usize,
    same_value: usize,
    both_failed: usize,
    /// Seeds of the trees that failed in both, with atom-nix's error.
    both_failed_seeds: Vec<String>,
    differences: Vec<String>,
    warnings: usize,
}

fn compare_one(atom_nix: &AtomNix, seed: u64, dir: &Path, eka: &support::Outcome, t: &mut Tally) {
    match (atom_nix.json(dir), eka) {
        (Ok(a), Ok(e)) if &a == e => t.same_value += 1,
        (Err(a), Err(e)) => {
            t.both_failed += 1;
            let why = a.lines().find(|l| l.starts_with("error:")).unwrap_or("");
            t.both_failed_seeds.push(format!(
                "{seed:#x}\n  atom-nix: {why}\n  eka:      {}\n{}",
                e.lines().next().unwrap_or(""),
                describe(dir)
            ));
        }
        (a, e) => t.differences.push(format!(
            "tree of seed {seed:#x} (rerun: EKA_DIFF_SEED={seed:#x} EKA_DIFF_TREES=1):\n  atom-nix: {}\n  eka:      {}\n{}",
            show(&a),
            show(e),
            describe(dir)
        )),
    }
}

/// One `nix-instantiate` for the whole batch; tree by tree if it differs.
fn compare_batch(
    atom_nix: &AtomNix,
    seeds: &[u64],
    dirs: &[PathBuf],
    ekas: &[support::Outcome],
    tally: &mut Tally,
) {
    let all_ok: Option<Vec<&str>> = ekas.iter().map(|o| o.as_deref().ok()).collect();
    if let (Some(values), Ok(nix)) = (all_ok, atom_nix.json_list(dirs)) {
        if nix == format!("[{}]", values.join(",")) {
            tally.same_value += seeds.len();
            return;
        }
    }
    for ((seed, dir), eka) in seeds.iter().zip(dirs).zip(ekas) {
        compare_one(atom_nix, *seed, dir, eka, tally);
    }
}

fn show(o: &support::Outcome) -> String {
    match o {
        Ok(v) => v.clone(),
        Err(e) => format!("error: {}", e.trim()),
    }
}

#[test]
fn random_module_trees_evaluate_as_in_atom_nix() {
    let mut atom_nix = AtomNix::new();
    let base_seed = env_u64("EKA_DIFF_SEED", DEFAULT_SEED);
    let trees = env_u64("EKA_DIFF_TREES", DEFAULT_TREES);
    let work = tempfile::tempdir().unwrap();
    let mut tally = Tally::default();
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (0..trees).map(|i| base_seed.wrapping_add(i)).collect();
    for (n, batch) in seeds.chunks(BATCH).enumerate() {
        if n > 0 && n % STORE_BATCHES == 0 {
            atom_nix.fresh_store();
        }
        let batch_dir = work.path().join(format!("b{:x}", batch[0]));
        let dirs: Vec<PathBuf> = batch
            .iter()
            .enumerate()
            .map(|(i, &seed)| {
                let dir = batch_dir.join(format!("t{i}"));
                make_tree(seed, &dir, &format!("t{i}"));
                dir
            })
            .collect();
        let ekas: Vec<support::Outcome> = dirs
            .iter()
            .map(|d| {
                let (outcome, warnings) = support::eka(d, &[], Print::Json);
                tally.warnings += warnings.len();
                outcome
            })
            .collect();
        tally.trees += batch.len();
        compare_batch(&atom_nix, batch, &dirs, &ekas, &mut tally);
        std::fs::remove_dir_all(&batch_dir).unwrap();
    }
    println!(
        "differential: {} trees from seed {base_seed:#x} in {:.1?}: {} same value, {} failed in both, {} differences; eka warned {} times",
        tally.trees,
        started.elapsed(),
        tally.same_value,
        tally.both_failed,
        tally.differences.len(),
        tally.warnings,
    );
    for failed in &tally.both_failed_seeds {
        println!("  failed in both: tree of seed {failed}");
    }
    assert!(
        tally.differences.is_empty(),
        "{} of {} trees differ from atom-nix:\n\n{}",
        tally.differences.len(),
        tally.trees,
        tally.differences.join("\n\n")
    );
    // The generator makes trees that evaluate; if most fail in both, it is
    // broken and compares nothing.
    assert!(
        tally.both_failed * 20 <= tally.trees,
        "{} of {} trees failed in both eka and atom-nix: the generator makes trees that do not evaluate",
        tally.both_failed,
        tally.trees
    );
}

#[test]
fn trees_are_reproducible_from_their_seed() {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    make_tree(42, &a, "t");
    make_tree(42, &b, "t");
    assert_eq!(describe(&a), describe(&b));
    let c = work.path().join("c");
    make_tree(43, &c, "t");
    assert_ne!(describe(&a), describe(&c));
}
