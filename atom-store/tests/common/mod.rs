//! Test support: running Nix 2.8 in a store of its own, and describing
//! the same derivations as a Nix expression and as Rust values.

#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use atom_store::derive::{DeriveError, DrvInputs};
use atom_store::literal::{Value, ValueError};
use atom_store::nar::MemTree;
pub mod corpus;
pub mod random;

pub use corpus::corpus;
pub use random::Gen;

use atom_store::{ContextElem, KnownPaths, StoreDir, StorePath, StringContext};

/// Fails the test with how to install Nix when it is missing.
pub fn require_nix() {
    let found = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "nix-instantiate (Nix 2.8) is needed by these tests and was not found on PATH; \
         install it (Debian: `apt-get install nix-bin`), as CI does"
    );
}

/// A fresh chroot store (`--store <root>`): store dir `/nix/store`, files
/// under `<root>/nix/store`, so tests neither share a database nor touch
/// the machine's store.
pub struct NixStore {
    pub root: tempfile::TempDir,
}

impl NixStore {
    pub fn new() -> NixStore {
        require_nix();
        NixStore {
            root: tempfile::tempdir().expect("temporary directory"),
        }
    }

    /// `nix-instantiate --eval --strict --json` of `file`, writing the
    /// `.drv` and text files into this store. Err is Nix's stderr.
    pub fn eval_json(&self, file: &Path) -> Result<serde_json::Value, String> {
        for attempt in 0.. {
            let out = Command::new("nix-instantiate")
                .args([
                    "--eval",
                    "--read-write-mode",
                    "--strict",
                    "--json",
                    "--store",
                ])
                .arg(self.root.path())
                .arg(file)
                .output()
                .expect("nix-instantiate runs");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success() {
                return Ok(serde_json::from_slice(&out.stdout).expect("nix prints JSON"));
            }
            // A fresh store's database can be busy for a moment.
            if stderr.contains("SQLite database") && stderr.contains("is busy") && attempt < 5 {
                std::thread::sleep(std::time::Duration::from_millis(200));
                continue;
            }
            return Err(stderr);
        }
        unreachable!()
    }

    /// The bytes of a file Nix wrote into this store.
    pub fn read(&self, full_path: &str) -> String {
        let inside = full_path.strip_prefix('/').expect("absolute store path");
        std::fs::read_to_string(self.root.path().join(inside))
            .unwrap_or_else(|e| panic!("reading {full_path} from Nix's store: {e}"))
    }
}

/// A value given to `derivation` or `toFile`, written both ways.
#[derive(Clone, Debug)]
pub enum S {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Vec<Part>),
    List(Vec<S>),
    Attrs(Vec<(String, S)>),
    Ref(R),
}

#[derive(Clone, Debug)]
pub enum Part {
    Lit(String),
    Ref(R),
}

/// A reference to something made earlier in the case.
#[derive(Clone, Debug)]
pub enum R {
    /// The derivation itself (a set; coerces through its first output).
    Drv(usize),
    /// One output's set: `d.dev`.
    Output(usize, String),
    /// `d.drvPath`.
    DrvPath(usize),
    /// `builtins.unsafeDiscardOutputDependency d.drvPath`.
    DiscardedDrvPath(usize),
    /// A `toFile` result.
    Text(usize),
    /// A source path.
    Src(usize),
    /// `builtins.placeholder "<output>"`.
    Placeholder(String),
}

pub fn lit(s: &str) -> S {
    S::Str(vec![Part::Lit(s.to_owned())])
}

pub fn attrs(pairs: &[(&str, S)]) -> Vec<(String, S)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A source directory, added as `builtins.path { path; name; }` or by
/// interpolating the path (`"${/…/name}"`, named after the directory).
#[derive(Clone, Debug)]
pub struct Src {
    pub name: String,
    pub tree: MemTree,
    pub interpolated: bool,
}

/// Sources, texts and derivations; each may refer to the ones before it
/// (texts to sources and earlier texts, derivations to everything).
#[derive(Clone, Debug, Default)]
pub struct Case {
    pub srcs: Vec<Src>,
    pub texts: Vec<(String, S)>,
    pub drvs: Vec<Vec<(String, S)>>,
}

/// What a case produced: paths of texts, sources, and each derivation's
/// `.drv` path and output paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    pub srcs: Vec<String>,
    pub texts: Vec<String>,
    pub drvs: Vec<(String, BTreeMap<String, String>)>,
}

fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn nix_ref(r: &R) -> String {
    match r {
        R::Drv(i) => format!("d{i}"),
        R::Output(i, o) => format!("d{i}.{o}"),
        R::DrvPath(i) => format!("d{i}.drvPath"),
        R::DiscardedDrvPath(i) => format!("(builtins.unsafeDiscardOutputDependency d{i}.drvPath)"),
        R::Text(i) => format!("t{i}"),
        R::Src(i) => format!("s{i}"),
        R::Placeholder(o) => format!("(builtins.placeholder {})", nix_string(o)),
    }
}

fn nix_value(s: &S) -> String {
    match s {
        S::Null => "null".into(),
        S::Bool(b) => b.to_string(),
        S::Int(i) if *i < 0 => format!("({i})"),
        S::Int(i) => i.to_string(),
        S::Float(f) => {
            let mut text = format!("{}", f.abs());
            if !text.contains('.') {
                text.push_str(".0");
            }
            if *f < 0.0 {
                format!("(-{text})")
            } else {
                text
            }
        }
        S::Str(parts) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    Part::Lit(text) => out.push_str(&nix_string(text)),
                    Part::Ref(r) => write!(out, "\"${{{}}}\"", nix_ref(r)).unwrap(),
                }
                out.push_str(" + ");
            }
            format!("({}\"\")", out)
        }
        S::List(items) => format!(
            "[ {} ]",
            items.iter().map(nix_value).collect::<Vec<_>>().join(" ")
        ),
        S::Attrs(pairs) => nix_attrs(pairs),
        S::Ref(r) => nix_ref(r),
    }
}

fn nix_attrs(pairs: &[(String, S)]) -> String {
    let mut out = String::from("{ ");
    for (k, v) in pairs {
        write!(out, "{} = {}; ", nix_string(k), nix_value(v)).unwrap();
    }
    out.push('}');
    out
}

impl Case {
    /// Writes the case as a Nix file (sources as directories beside it)
    /// whose value is the JSON of what it produced.
    pub fn write_nix(&self, dir: &Path) -> PathBuf {
        let mut bindings = String::new();
        for (i, src) in self.srcs.iter().enumerate() {
            let path = dir.join(format!("src{i}")).join(&src.name);
            write_tree(&path, &src.tree);
            // `/. + "…"`: a path literal cannot hold every name character.
            let path = format!("(/. + {})", nix_string(&path.display().to_string()));
            match src.interpolated {
                true => writeln!(bindings, "  s{i} = \"${{{path}}}\";").unwrap(),
                false => writeln!(
                    bindings,
                    "  s{i} = builtins.path {{ path = {path}; name = {}; }};",
                    nix_string(&src.name)
                )
                .unwrap(),
            }
        }
        for (i, (name, text)) in self.texts.iter().enumerate() {
            writeln!(
                bindings,
                "  t{i} = builtins.toFile {} {};",
                nix_string(name),
                nix_value(text)
            )
            .unwrap();
        }
        for (i, drv) in self.drvs.iter().enumerate() {
            writeln!(bindings, "  d{i} = derivation {};", nix_attrs(drv)).unwrap();
        }
        let report = |prefix: &str, n: usize| {
            (0..n)
                .map(|i| format!("{prefix}{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let drvs = (0..self.drvs.len())
            .map(|i| {
                format!(
                    "{{ drv = d{i}.drvPath; outs = builtins.listToAttrs (map (o: {{ name = o; value = d{i}.${{o}}.outPath; }}) (d{i}.outputs or [ \"out\" ])); }}"
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        let text = format!(
            "let\n{bindings}in {{ srcs = [ {} ]; texts = [ {} ]; drvs = [ {drvs} ]; }}\n",
            report("s", self.srcs.len()),
            report("t", self.texts.len()),
        );
        let file = dir.join("case.nix");
        std::fs::write(&file, text).unwrap();
        file
    }

    /// Runs the case through Nix in `store`.
    pub fn run_nix(&self, store: &NixStore) -> Result<Produced, String> {
        let dir = tempfile::tempdir().unwrap();
        let json = store.eval_json(&self.write_nix(dir.path()))?;
        let strings = |key: &str| -> Vec<String> {
            json[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        let drvs = json["drvs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let outs = d["outs"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect();
                (d["drv"].as_str().unwrap().to_owned(), outs)
            })
            .collect();
        Ok(Produced {
            srcs: strings("srcs"),
            texts: strings("texts"),
            drvs,
        })
    }

    /// Runs the case through atom-store.
    pub fn run_eka(&self, known: &mut KnownPaths) -> Result<Produced, DeriveError<ValueError>> {
        let mut env = Env::default();
        for src in &self.srcs {
            let path = known.add_source(&src.name, Arc::new(src.tree.clone()))?;
            env.srcs.push(path);
        }
        for (name, text) in &self.texts {
            let (text, context) = match env.value(known.store_dir(), text) {
                Value::String { text, context } => (text, context),
                other => panic!("toFile takes a string, not {other:?}"),
            };
            env.texts.push(known.add_text(name, &text, &context)?);
        }
        for attrs in &self.drvs {
            let values: Vec<(String, Value)> = attrs
                .iter()
                .map(|(k, v)| (k.clone(), env.value(known.store_dir(), v)))
                .collect();
            let outputs_order = output_order(attrs);
            let inputs = DrvInputs::collect(values)?;
            let made = known.instantiate(inputs)?;
            env.drvs
                .push((made.drv_path.clone(), made.outputs.clone(), outputs_order));
        }
        let dir = known.store_dir();
        Ok(Produced {
            srcs: env.srcs.iter().map(|p| dir.print(p)).collect(),
            texts: env.texts.iter().map(|p| dir.print(p)).collect(),
            drvs: env
                .drvs
                .iter()
                .map(|(drv, outs, _)| {
                    (
                        dir.print(drv),
                        outs.iter()
                            .map(|(k, v)| (k.clone(), dir.print(v)))
                            .collect(),
                    )
                })
                .collect(),
        })
    }
}

/// The outputs as listed (the first is the derivation's `outPath`).
fn output_order(attrs: &[(String, S)]) -> Vec<String> {
    match attrs.iter().find(|(k, _)| k == "outputs") {
        Some((_, S::List(items))) => items
            .iter()
            .map(|item| match item {
                S::Str(parts) => match &parts[..] {
                    [Part::Lit(name)] => name.clone(),
                    _ => panic!("output names are literals"),
                },
                _ => panic!("output names are strings"),
            })
            .collect(),
        _ => vec!["out".to_owned()],
    }
}

#[derive(Default)]
struct Env {
    srcs: Vec<StorePath>,
    texts: Vec<StorePath>,
    drvs: Vec<(StorePath, BTreeMap<String, StorePath>, Vec<String>)>,
}

impl Env {
    fn reference(&self, dir: &StoreDir, r: &R) -> Value {
        let string = |path: &StorePath, elem: ContextElem| Value::String {
            text: dir.print(path),
            context: [elem].into(),
        };
        let output = |i: usize, o: &str| {
            let (drv, outs, _) = &self.drvs[i];
            let out = string(
                &outs[o],
                ContextElem::Built {
                    drv: drv.clone(),
                    output: o.to_owned(),
                },
            );
            Value::Attrs([("outPath".to_owned(), out)].into())
        };
        match r {
            R::Drv(i) => output(*i, &self.drvs[*i].2[0]),
            R::Output(i, o) => output(*i, o),
            R::DrvPath(i) => string(
                &self.drvs[*i].0,
                ContextElem::DrvDeep(self.drvs[*i].0.clone()),
            ),
            R::DiscardedDrvPath(i) => string(
                &self.drvs[*i].0,
                ContextElem::Plain(self.drvs[*i].0.clone()),
            ),
            R::Text(i) => string(&self.texts[*i], ContextElem::Plain(self.texts[*i].clone())),
            R::Src(i) => string(&self.srcs[*i], ContextElem::Plain(self.srcs[*i].clone())),
            R::Placeholder(o) => Value::str(atom_store::hash_placeholder(o)),
        }
    }

    fn value(&self, dir: &StoreDir, s: &S) -> Value {
        match s {
            S::Null => Value::Null,
            S::Bool(b) => Value::Bool(*b),
            S::Int(i) => Value::Int(*i),
            S::Float(f) => Value::Float(*f),
            S::Str(parts) => {
                let mut text = String::new();
                let mut context = StringContext::new();
                for part in parts {
                    match part {
                        Part::Lit(l) => text.push_str(l),
                        Part::Ref(r) => match self.reference(dir, r) {
                            Value::String {
                                text: t,
                                context: c,
                            } => {
                                text.push_str(&t);
                                context.extend(c);
                            }
                            Value::Attrs(a) => match &a["outPath"] {
                                Value::String {
                                    text: t,
                                    context: c,
                                } => {
                                    text.push_str(t);
                                    context.extend(c.iter().cloned());
                                }
                                _ => unreachable!(),
                            },
                            _ => unreachable!(),
                        },
                    }
                }
                Value::String { text, context }
            }
            S::List(items) => Value::List(items.iter().map(|i| self.value(dir, i)).collect()),
            S::Attrs(pairs) => Value::Attrs(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), self.value(dir, v)))
                    .collect(),
            ),
            S::Ref(r) => self.reference(dir, r),
        }
    }
}

fn write_tree(path: &Path, tree: &MemTree) {
    use std::os::unix::fs::PermissionsExt;
    match tree {
        MemTree::File {
            contents,
            executable,
        } => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
            let mode = if *executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        MemTree::Symlink { target } => {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(String::from_utf8(target.clone()).unwrap(), path).unwrap();
        }
        MemTree::Directory(entries) => {
            std::fs::create_dir_all(path).unwrap();
            for (name, child) in entries {
                write_tree(&path.join(String::from_utf8(name.clone()).unwrap()), child);
            }
        }
    }
}

/// Runs a case both ways and checks every path and every `.drv` byte.
pub fn check_case(case: &Case, store: &NixStore) {
    let theirs = match case.run_nix(store) {
        Ok(produced) => produced,
        Err(stderr) => panic!("Nix refused the case: {stderr}\n{case:#?}"),
    };
    let mut known = KnownPaths::default();
    let ours = case.run_eka(&mut known).unwrap_or_else(|e| {
        panic!(
            "eka refused a case Nix accepts: {}\n{case:#?}",
            error_chain(&e)
        )
    });
    assert_eq!(ours.srcs, theirs.srcs, "source paths");
    assert_eq!(ours.texts, theirs.texts, "text paths");
    for (i, (ours, theirs)) in ours.drvs.iter().zip(&theirs.drvs).enumerate() {
        let path = known.store_dir().parse(&ours.0).unwrap();
        let Some(atom_store::known::KnownPath {
            content: atom_store::known::Content::Derivation { aterm, .. },
            ..
        }) = known.get(&path)
        else {
            panic!("derivation {i} is not recorded");
        };
        let nix_aterm = store.read(&theirs.0);
        assert_eq!(aterm, &nix_aterm, "the .drv of derivation {i} differs");
        assert_eq!(ours, theirs, "paths of derivation {i}");
    }
    assert_eq!(ours.drvs.len(), theirs.drvs.len());
}

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        write!(out, ": {s}").unwrap();
        source = s.source();
    }
    out
}
