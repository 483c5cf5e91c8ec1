//! Unit tests of the composer on in-memory atoms.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use atom_eval::{FileType, FsError, Limits};

use crate::{exported_name, is_public, AtomFiles, Composer, NoDeps};

/// An atom in memory that records which files were read.
struct MemFiles {
    files: BTreeMap<String, String>,
    reads: RefCell<Vec<String>>,
}

impl MemFiles {
    fn new(files: &[(&str, &str)]) -> Rc<MemFiles> {
        Rc::new(MemFiles {
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            reads: RefCell::new(Vec::new()),
        })
    }
}

impl AtomFiles for MemFiles {
    fn read_file(&self, rel: &str) -> Result<Vec<u8>, FsError> {
        self.reads.borrow_mut().push(rel.to_string());
        self.files
            .get(rel)
            .map(|s| s.as_bytes().to_vec())
            .ok_or(FsError::NotFound)
    }
    fn read_dir(&self, rel: &str) -> Result<Vec<(String, FileType)>, FsError> {
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let mut out: Vec<(String, FileType)> = Vec::new();
        for path in self.files.keys() {
            if let Some(rest) = path.strip_prefix(&prefix) {
                let entry = match rest.split_once('/') {
                    Some((dir, _)) => (dir.to_string(), FileType::Directory),
                    None => (rest.to_string(), FileType::Regular),
                };
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }
    fn is_executable(&self, _: &str) -> Result<bool, FsError> {
        Ok(false)
    }
    fn file_type(&self, rel: &str) -> Result<Option<FileType>, FsError> {
        if self.files.contains_key(rel) {
            return Ok(Some(FileType::Regular));
        }
        let dir = format!("{rel}/");
        Ok(self
            .files
            .keys()
            .any(|k| k.starts_with(&dir))
            .then_some(FileType::Directory))
    }
}

const MANIFEST: &str = "[package]\nlabel = \"t\"\nversion = \"1.0.0\"\n";

fn eval(files: Rc<MemFiles>, attr: &[&str]) -> Result<String, String> {
    // Small atoms: the test thread's stack is enough.
    let mut c = Composer::new(Box::new(NoDeps), Limits::default()).unwrap();
    let api = c.load("", files).map_err(|e| e.to_string())?;
    let path: Vec<String> = attr.iter().map(|s| s.to_string()).collect();
    let v = c.select(&api, &path).map_err(|e| e.to_string())?;
    let ev = c.evaluator();
    let v = ev.force_deep(&v).map_err(|e| e.to_string())?;
    ev.print(&v).map_err(|e| e.to_string())
}

#[test]
fn names_are_exported_with_the_first_letter_lowercased() {
    assert_eq!(exported_name("Foo"), "foo");
    assert_eq!(exported_name("FOO"), "fOO");
    assert_eq!(exported_name("foo"), "foo");
    assert_eq!(exported_name("Élan"), "Élan");
    assert!(is_public("Foo") && !is_public("foo") && !is_public("Élan") && !is_public(""));
}

#[test]
fn listing_names_reads_only_the_manifest_and_mod_nix() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        ("mod.nix", "{ A = 1; }"),
        ("B.nix", "this is not valid nix ((("),
        ("Sub/mod.nix", "{ X = throw \"unused\"; }"),
        ("Sub/Y.nix", "2"),
    ]);
    let seen = files.clone();
    let mut c = Composer::new(Box::new(NoDeps), Limits::default()).unwrap();
    let api = c.load("", files).unwrap();
    let names = c.names(&api).unwrap();
    assert_eq!(names, ["a", "b", "sub"]);
    assert_eq!(*seen.reads.borrow(), ["atom.toml", "mod.nix"]);
}

#[test]
fn members_are_evaluated_once_and_lazily() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        (
            "mod.nix",
            "{ Both = [ mod.counted mod.counted ]; Bad = mod.broken; }",
        ),
        ("counted.nix", "{ v = 1; }"),
        ("broken.nix", "(((("),
    ]);
    let seen = files.clone();
    // The same value twice: Nix prints the second as «repeated».
    assert_eq!(eval(files, &["both"]).unwrap(), "[ { v = 1; } «repeated» ]");
    let reads = seen.reads.borrow();
    assert_eq!(reads.iter().filter(|r| *r == "counted.nix").count(), 1);
    assert!(!reads.iter().any(|r| r == "broken.nix"));
}

#[test]
fn precedence_and_shadowed_public_names_warn() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        ("mod.nix", "{ Thing = \"key\"; }"),
        ("Thing.nix", "\"file\""),
        ("Thing/mod.nix", "{ }"),
        ("Other.nix", "\"file\""),
        ("Other/mod.nix", "{ }"),
        ("quiet.nix", "\"private file\""),
        ("quiet/mod.nix", "{ }"),
    ]);
    let mut c = Composer::new(Box::new(NoDeps), Limits::default()).unwrap();
    let api = c.load("", files).unwrap();
    let v = c.evaluator().force_deep(&api).unwrap();
    assert_eq!(
        c.evaluator().print(&v).unwrap(),
        "{ other = \"file\"; thing = \"key\"; }"
    );
    let warnings: Vec<String> = c.warnings().iter().map(|w| w.to_string()).collect();
    // Only public names warn (a private one shadowed is not exported).
    assert_eq!(
        warnings,
        [
            "in t@1.0.0 at the root module: the public name `Other` is defined twice: the file `Other.nix` is used and the submodule `Other/` is never read; remove or rename one of them",
            "in t@1.0.0 at the root module: the public name `Thing` is defined twice: the file `Thing.nix` is used and the submodule `Thing/` is never read; remove or rename one of them",
            "in t@1.0.0 at the root module: the public name `Thing` is defined twice: the key `Thing` of mod.nix is used and the file `Thing.nix` is never read; remove or rename one of them",
        ]
    );
}

#[test]
fn names_colliding_once_lowercased_follow_atom_nix() {
    // `mod` folds raw names in sorted order, a later one winning: `widget`
    // (the file) over `Widget` (the key); the public API has only `Widget`.
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        (
            "mod.nix",
            "{ Widget = \"key\"; Seen = mod.widget; Sub = mod.sub; Names = builtins.attrNames mod; }",
        ),
        ("widget.nix", "\"file\""),
        ("sub/mod.nix", "{ Inner = pre.widget; }"),
    ]);
    assert_eq!(
        eval(files, &[]).unwrap(),
        "{ names = [ \"names\" \"outPath\" \"seen\" \"sub\" \"widget\" ]; seen = \"file\"; sub = { inner = \"file\"; }; widget = \"key\"; }"
    );
}

#[test]
fn special_names_mod_pre_atom_and_out_path() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        (
            "mod.nix",
            concat!(
                "{ Mod = 1; mod = 2; Pre = \"root member\"; Atom = 3; OutPath = 4; ",
                "Probe = { inMod = [ mod.mod (mod ? atom) mod.outPath ]; ",
                "inAtom = [ (atom ? atom) (atom ? mod) ]; }; A = mod.a; }"
            ),
        ),
        ("a/mod.nix", "{ B = mod.b; Here = [ pre.mod pre.pre ]; }"),
        ("a/b/mod.nix", "{ Deep = builtins.attrNames pre.pre; }"),
    ]);
    // `mod` leaves out the member named `mod` (so `mod.mod` is `Mod`) and
    // its `outPath` is the module directory; `atom` leaves out `atom`.
    assert_eq!(
        eval(files.clone(), &["probe"]).unwrap(),
        "{ inAtom = [ false true ]; inMod = [ 1 true \"/t@1.0.0\" ]; }"
    );
    // Below the root module, `pre` holds every member (`mod` too), and its
    // `pre` is the root's member `pre`; one level deeper it is the
    // grandparent.
    assert_eq!(
        eval(files.clone(), &["a", "here"]).unwrap(),
        "[ 2 \"root member\" ]"
    );
    assert_eq!(
        eval(files, &["a", "b", "deep"]).unwrap(),
        "[ \"a\" \"atom\" \"mod\" \"outPath\" \"pre\" \"probe\" ]"
    );
}

#[test]
fn member_files_are_named_as_atom_nix_parses_them() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        (
            "mod.nix",
            "{ Names = builtins.attrNames mod; Hidden = mod.\".hidden\"; }",
        ),
        (".hidden.nix", "\"dot\""),
        ("a.b.nix", "\"not a member\""),
        (".nix", "\"not a member\""),
        ("Upper.NIX", "\"not a member\""),
    ]);
    assert_eq!(
        eval(files, &[]).unwrap(),
        "{ hidden = \"dot\"; names = [ \".hidden\" \"hidden\" \"names\" \"outPath\" ]; }"
    );
}

#[test]
fn scope_pre_atom_and_private_names() {
    let files = MemFiles::new(&[
        ("atom.toml", MANIFEST),
        ("mod.nix", "{ top = \"T\"; Pub = 1; }"),
        ("A/mod.nix", "{ mid = \"M\"; }"),
        (
            "A/B/mod.nix",
            "{ Chain = \"${pre.mid}${pre.pre.top}${toString atom.pub}\"; }",
        ),
    ]);
    assert_eq!(
        eval(files.clone(), &["a", "b", "chain"]).unwrap(),
        "\"MT1\""
    );
    let e = eval(files, &["top"]).unwrap_err();
    assert!(e.contains("`top`") && e.contains("private"), "{e}");
}

#[test]
fn forbidden_names_fail_when_the_file_is_bound() {
    for (src, what) in [
        ("if false then import ./x else 1", "`import`"),
        (
            "if false then builtins.fetchGit {} else 1",
            "`builtins.fetchGit`",
        ),
        ("if false then std.getEnv \"HOME\" else 1", "`std.getEnv`"),
        ("if false then __currentTime else 1", "`__currentTime`"),
    ] {
        let files = MemFiles::new(&[("atom.toml", MANIFEST), ("mod.nix", "{ }"), ("X.nix", src)]);
        let e = eval(files, &["x"]).unwrap_err();
        assert!(
            e.contains(what) && e.contains("not available"),
            "{src}: {e}"
        );
    }
}

#[test]
fn path_literals_fail_when_evaluated() {
    for (src, what) in [
        ("./x", "the path literal `./x`"),
        ("/. + \"/etc\"", "the path literal `/.`"),
        ("<nixpkgs>", "the search path"),
        ("\"${./data.txt}\"", "the path literal `./data.txt`"),
    ] {
        // Bound without error (atom-nix's std has `/. + abs` in a function
        // body), refused when the literal is evaluated.
        let unused = format!("{{ f = _: {src}; taken = false; }}.taken");
        let files = MemFiles::new(&[
            ("atom.toml", MANIFEST),
            ("mod.nix", "{ }"),
            ("X.nix", &unused),
            ("Y.nix", src),
        ]);
        assert_eq!(eval(files.clone(), &["x"]).unwrap(), "false", "{src}");
        let e = eval(files, &["y"]).unwrap_err();
        assert!(
            e.contains(what) && e.contains("not available"),
            "{src}: {e}"
        );
    }
}

/// A dependency source with one atom, `dep`.
struct OneDep(Rc<MemFiles>);

impl crate::DepSource for OneDep {
    fn load(
        &self,
        _: &str,
        _: &str,
        _: &[String],
        _: &str,
        _: &semver::VersionReq,
    ) -> Result<crate::LoadedAtom, crate::DepError> {
        Ok(crate::LoadedAtom {
            key: "dep".into(),
            files: self.0.clone(),
        })
    }

    fn load_direct(
        &self,
        _: &str,
        request: &atom_format::manifest::DirectRequest,
    ) -> Result<crate::DirectSource, crate::DepError> {
        NoDeps.load_direct("", request)
    }
}

fn eval_with(
    deps: Box<dyn crate::DepSource>,
    files: Rc<MemFiles>,
    attr: &str,
) -> Result<String, String> {
    let mut c = Composer::new(deps, Limits::default()).unwrap();
    let api = c.load("", files).map_err(|e| e.to_string())?;
    let v = c
        .select(&api, &[attr.to_string()])
        .map_err(|e| e.to_string())?;
    let ev = c.evaluator();
    let v = ev.force_deep(&v).map_err(|e| e.to_string())?;
    ev.print(&v).map_err(|e| e.to_string())
}

/// A module reads only below its own `"${mod}"`, however the path is
/// spelled: not its parent's data, not a sibling's, not a dependency's
/// (each was read before: the file system was one for every module).
/// What a module's function reads is its own module's, whoever calls it,
/// and a module's `readFile` handed to another module's code still reads
/// only the first module's directory.
#[test]
fn a_module_reads_only_below_its_own_directory() {
    let dep = MemFiles::new(&[
        (
            "atom.toml",
            "[package]\nlabel = \"dep\"\nversion = \"1.0.0\"\n",
        ),
        (
            "mod.nix",
            "{ Own = name: builtins.readFile \"${mod}/${name}\"; Apply = f: x: f x; }",
        ),
        ("secret.txt", "dep secret"),
    ]);
    let files = MemFiles::new(&[
        (
            "atom.toml",
            "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[package.sets]\nreg = \"https://example.invalid/r\"\n\n[deps.from.reg]\ndep = \"^1\"\n",
        ),
        (
            "mod.nix",
            "{ Kid = mod.kid; Sib = mod.sib; Own = name: builtins.readFile \"${mod}/${name}\"; Apply = f: x: f x; \
               DepThroughItsFunction = deps.from.reg.dep.own \"secret.txt\"; \
               DepSpelled = builtins.readFile \"/dep@1.0.0/secret.txt\"; \
               DepThroughItsApply = deps.from.reg.dep.apply builtins.readFile \"/dep@1.0.0/secret.txt\"; }",
        ),
        ("data.txt", "parent data"),
        (
            "kid/mod.nix",
            "{ Own = builtins.readFile \"${mod}/mine.txt\"; \
               Parent = builtins.readFile \"/a@1.0.0/data.txt\"; \
               ParentAlias = __readFile \"/a@1.0.0/data.txt\"; \
               ParentExists = builtins.pathExists \"/a@1.0.0/data.txt\"; \
               ParentDir = builtins.readDir \"/a@1.0.0\"; \
               ParentHash = builtins.hashFile \"sha256\" \"/a@1.0.0/data.txt\"; \
               Sibling = std.readFile \"/a@1.0.0:sib/x.txt\"; \
               ThroughParentFunction = pre.own \"data.txt\"; \
               ThroughParentApply = pre.apply builtins.readFile \"/a@1.0.0/data.txt\"; }",
        ),
        ("kid/mine.txt", "kid data"),
        ("sib/mod.nix", "{ }"),
        ("sib/x.txt", "sibling data"),
    ]);
    let dep = || Box::new(OneDep(dep.clone()));
    let kid = |attr: &str| {
        let mut c = Composer::new(dep(), Limits::default()).unwrap();
        let api = c
            .load("", files.clone())
            .map_err(|e| e.to_string())
            .unwrap();
        let v = c
            .select(&api, &["kid".to_string(), attr.to_string()])
            .map_err(|e| e.to_string())?;
        let ev = c.evaluator();
        let v = ev.force_deep(&v).map_err(|e| e.to_string())?;
        ev.print(&v).map_err(|e| e.to_string())
    };
    assert_eq!(kid("own").unwrap(), "\"kid data\"");
    assert_eq!(kid("throughParentFunction").unwrap(), "\"parent data\"");
    for refused in [
        "parent",
        "parentAlias",
        "parentExists",
        "parentDir",
        "parentHash",
        "sibling",
        "throughParentApply",
    ] {
        let e = kid(refused).unwrap_err();
        assert!(
            e.contains("reads only below its own directory"),
            "{refused}: {e}"
        );
    }
    assert_eq!(
        eval_with(dep(), files.clone(), "depThroughItsFunction").unwrap(),
        "\"dep secret\""
    );
    for refused in ["depSpelled", "depThroughItsApply"] {
        let e = eval_with(dep(), files.clone(), refused).unwrap_err();
        assert!(
            e.contains("reads only below its own directory"),
            "{refused}: {e}"
        );
    }
}

/// `cfg.system` is the host's system unless the composer is told
/// another; the manifest's own keys stay.
#[test]
fn cfg_system_is_passed_in() {
    let files = || {
        MemFiles::new(&[
            ("atom.toml", MANIFEST),
            (
                "mod.nix",
                "{ System = cfg.system; Label = cfg.package.label; }",
            ),
        ])
    };
    assert_eq!(
        eval(files(), &["system"]).unwrap(),
        format!("\"{}\"", crate::host_system())
    );
    let mut c = Composer::new(Box::new(NoDeps), Limits::default()).unwrap();
    c.set_system("riscv64-linux");
    let api = c.load("", files()).unwrap();
    let v = c.select(&api, &["system".into()]).unwrap();
    let v = c.evaluator().force_deep(&v).unwrap();
    assert_eq!(c.evaluator().print(&v).unwrap(), "\"riscv64-linux\"");
    assert_eq!(eval(files(), &["label"]).unwrap(), "\"t\"");
}
