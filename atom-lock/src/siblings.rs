//! The set `"::"`: the other atoms of the repository an atom lives in
//! (its siblings), as Cargo's path dependencies are a workspace's other
//! crates.
//!
//! A sibling is never resolved or locked itself: evaluation reads it from
//! the same commit (or work tree) as the atom (`spec/modules.md`). But
//! what the sibling needs from registries is needed by the atom that
//! reaches it, so a project's lock pins the registry dependencies of every
//! sibling it reaches through `::` beside its own, one version per atom
//! (`spec/lock.md`, "The set `::`"). This module finds those siblings:
//! following `::` from an atom through the manifests of its repository,
//! refusing a label no atom has, a version the requirement does not
//! match, and a cycle.

use std::path::{Path, PathBuf};

use atom_format::manifest::{Manifest, SetMirrors, LOCAL_SET, MANIFEST_FILE};
use atom_format::Label;
use semver::{Version, VersionReq};

use crate::uri::RepoUrl;

/// One atom of a repository: where it is and its manifest.
#[derive(Clone, Debug)]
pub struct RepoAtom {
    /// Its directory, relative to the repository's root, `/`-separated.
    pub path: String,
    pub manifest: Manifest,
}

/// Why the siblings of an atom cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SiblingError {
    #[error("`::{label}` (a dependency of `{dependent}`): this repository has no atom labelled `{label}`")]
    #[diagnostic(
        code(eka::siblings::missing),
        help("the set \"::\" names the other atoms of the same repository; check the label, or name the repository that publishes it in [package.sets]")
    )]
    Missing {
        dependent: Label,
        label: Label,
        #[source_code]
        src: Option<miette::NamedSource<String>>,
        #[label("here")]
        span: Option<miette::SourceSpan>,
    },
    #[error("`::{label}` (a dependency of `{dependent}`) is version {version} in this repository (at {path}), which does not match `{req}`")]
    #[diagnostic(
        code(eka::siblings::unmatched),
        help("change the requirement in the dependent's atom.toml, or the version of `{label}`")
    )]
    Unmatched {
        dependent: Label,
        label: Label,
        version: Version,
        path: String,
        req: VersionReq,
        #[source_code]
        src: Option<miette::NamedSource<String>>,
        #[label("here")]
        span: Option<miette::SourceSpan>,
    },
    #[error("the atoms of this repository depend on each other through \"::\" in a cycle: {}", .0.iter().map(Label::as_str).collect::<Vec<_>>().join(" -> "))]
    #[diagnostic(
        code(eka::siblings::cycle),
        help(
            "atoms may not depend on each other in a cycle; move what both need into a third atom"
        )
    )]
    Cycle(Vec<Label>),
    #[error("this repository has two atoms labelled `{label}` (at {first} and {second})")]
    #[diagnostic(
        code(eka::siblings::twice),
        help("labels are unique in a repository; rename one of them")
    )]
    Twice {
        label: Label,
        first: String,
        second: String,
    },
    #[error("`{}` is not inside a git work tree, so it has no sibling atoms (\"::\")", .0.display())]
    #[diagnostic(code(eka::siblings::no_repository))]
    NoRepository(PathBuf),
    #[error("cannot list the atoms of the repository at {}", .dir.display())]
    #[diagnostic(code(eka::siblings::list))]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SiblingError {
    /// The error pointing into the manifest `text` (at `path`) of the atom
    /// `root`, when it is about one of that atom's own dependencies.
    pub fn pointing_into(mut self, root: &Label, path: &Path, text: &str) -> Self {
        if let SiblingError::Missing {
            dependent,
            label,
            src,
            span,
        }
        | SiblingError::Unmatched {
            dependent,
            label,
            src,
            span,
            ..
        } = &mut self
        {
            if dependent == root {
                *span = dependency_key(text, label.as_str());
                *src = Some(miette::NamedSource::new(
                    path.display().to_string(),
                    text.to_owned(),
                ));
            }
        }
        self
    }
}

/// Where the line `label = …` is in a manifest's text (the first one).
fn dependency_key(text: &str, label: &str) -> Option<miette::SourceSpan> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let key = trimmed
            .strip_prefix(label)
            .or_else(|| trimmed.strip_prefix(&format!("\"{label}\"")));
        if key.is_some_and(|rest| rest.trim_start().starts_with('=')) {
            let start = at + (line.len() - trimmed.len());
            return Some((start..at + line.trim_end().len()).into());
        }
        at += line.len();
    }
    None
}

/// Whether the manifest's set `set` is this repository alone (`"::"`):
/// a set naming URLs beside `"::"` (eka 0.3's `["::", URL]`) is resolved
/// from its URLs.
pub fn is_local(manifest: &Manifest, set: &str) -> bool {
    set == LOCAL_SET
        || manifest
            .package
            .sets
            .get(set)
            .is_some_and(|m| m.urls().iter().all(|u| u == LOCAL_SET))
}

/// The `::` dependencies of a manifest: label and requirement.
pub fn local_deps(manifest: &Manifest) -> impl Iterator<Item = (&Label, &VersionReq)> {
    manifest
        .deps
        .from
        .iter()
        .filter(|(set, _)| is_local(manifest, set))
        .flat_map(|(_, labels)| labels.iter())
}

/// Every sibling the atom `root` reaches through `::`, directly or
/// through other siblings, each once, in the order first reached
/// (depth first, in the manifests' order).
pub fn reached<'a>(
    root: &Manifest,
    atoms: &'a [RepoAtom],
) -> Result<Vec<&'a RepoAtom>, SiblingError> {
    check_unique(atoms)?;
    let mut out: Vec<&RepoAtom> = Vec::new();
    // The atoms on the path from the root to the one being visited.
    let mut path: Vec<Label> = vec![root.package.label.clone()];
    visit(root, atoms, &mut path, &mut out)?;
    Ok(out)
}

fn visit<'a>(
    manifest: &Manifest,
    atoms: &'a [RepoAtom],
    path: &mut Vec<Label>,
    out: &mut Vec<&'a RepoAtom>,
) -> Result<(), SiblingError> {
    for (label, req) in local_deps(manifest) {
        let dependent = manifest.package.label.clone();
        if let Some(at) = path.iter().position(|l| l == label) {
            let mut cycle: Vec<Label> = path[at..].to_vec();
            cycle.push(label.clone());
            return Err(SiblingError::Cycle(cycle));
        }
        let found = atoms
            .iter()
            .find(|a| &a.manifest.package.label == label)
            .ok_or_else(|| SiblingError::Missing {
                dependent: dependent.clone(),
                label: label.clone(),
                src: None,
                span: None,
            })?;
        let version = &found.manifest.package.version;
        if !req.matches(version) {
            return Err(SiblingError::Unmatched {
                dependent,
                label: label.clone(),
                version: version.clone(),
                path: found.path.clone(),
                req: req.clone(),
                src: None,
                span: None,
            });
        }
        if out.iter().any(|a| a.path == found.path) {
            continue;
        }
        out.push(found);
        path.push(label.clone());
        visit(&found.manifest, atoms, path, out)?;
        path.pop();
    }
    Ok(())
}

fn check_unique(atoms: &[RepoAtom]) -> Result<(), SiblingError> {
    let mut seen: std::collections::HashMap<&Label, &str> = Default::default();
    for a in atoms {
        if let Some(first) = seen.insert(&a.manifest.package.label, &a.path) {
            return Err(SiblingError::Twice {
                label: a.manifest.package.label.clone(),
                first: first.to_owned(),
                second: a.path.clone(),
            });
        }
    }
    Ok(())
}

/// The sibling's manifest as the atom at `root_path` would write it:
/// relative paths in its sets made relative to the root's directory.
pub fn rebased(sibling: &RepoAtom, root_path: &str) -> Manifest {
    let mut m = sibling.manifest.clone();
    for mirrors in m.package.sets.values_mut() {
        let urls: Vec<String> = mirrors
            .urls()
            .iter()
            .map(|u| rebase_path(u, &sibling.path, root_path))
            .collect();
        *mirrors = match <[String; 1]>::try_from(urls) {
            Ok([one]) => SetMirrors::One(one),
            Err(urls) => SetMirrors::Mirrors(urls),
        };
    }
    m
}

/// `url`, if it is a relative path (from directory `from`), as the same
/// place relative to directory `to` (both relative to one root).
fn rebase_path(url: &str, from: &str, to: &str) -> String {
    let relative = matches!(url.parse::<RepoUrl>(), Ok(RepoUrl::Path(p)) if !p.starts_with('/'));
    if !relative {
        return url.to_owned();
    }
    let mut parts: Vec<&str> = from.split('/').filter(|p| !p.is_empty()).collect();
    for part in url.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let to: Vec<&str> = to.split('/').filter(|p| !p.is_empty()).collect();
    let common = to.iter().zip(&parts).take_while(|(a, b)| a == b).count();
    let mut out: Vec<&str> = vec![".."; to.len() - common];
    out.extend(&parts[common..]);
    match out.first() {
        Some(&"..") => out.join("/"),
        _ => format!("./{}", out.join("/")),
    }
}

/// The atoms of a work tree, and where one directory of it is.
#[derive(Debug)]
pub struct WorkTree {
    /// The work tree's root, canonical.
    pub root: PathBuf,
    pub atoms: Vec<RepoAtom>,
    /// The directory asked about, relative to the root.
    pub here: String,
    /// The manifests that do not parse: where, and why.
    pub unreadable: Vec<(String, String)>,
}

/// The atoms of the work tree around `dir` (those git would commit: an
/// `atom.toml` that `.gitignore` ignores and nobody tracks is no atom),
/// their manifests read from disk; manifests that do not parse are left
/// out (they are their own atom's problem).
pub fn worktree_atoms(dir: &Path) -> Result<WorkTree, SiblingError> {
    let no_repo = || SiblingError::NoRepository(dir.to_owned());
    let root = gix::discover(dir)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .and_then(|w| std::fs::canonicalize(w).ok())
        .ok_or_else(no_repo)?;
    let list = |source| SiblingError::List {
        dir: root.clone(),
        source,
    };
    let files = atom_git::status::committable(&root)
        .map_err(list)?
        .ok_or_else(no_repo)?;
    let mut atoms = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        let Some(path) = file.strip_suffix(MANIFEST_FILE) else {
            continue;
        };
        let Some(path) = path.strip_suffix('/') else {
            continue; // the root's own atom.toml: the root is never an atom
        };
        let Ok(text) = std::fs::read_to_string(root.join(&file)) else {
            continue; // deleted, or not a regular file
        };
        match Manifest::parse(&file, &text) {
            Ok(manifest) => atoms.push(RepoAtom {
                path: path.to_owned(),
                manifest,
            }),
            Err(e) => unreadable.push((file.clone(), e.to_string())),
        }
    }
    let here = std::fs::canonicalize(dir).map_err(list)?;
    let here = here
        .strip_prefix(&root)
        .map_err(|_| no_repo())?
        .to_string_lossy()
        .replace('\\', "/");
    Ok(WorkTree {
        root,
        atoms,
        here,
        unreadable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(path: &str, label: &str, version: &str, local: &[(&str, &str)]) -> RepoAtom {
        let mut text = format!("[package]\nlabel = \"{label}\"\nversion = \"{version}\"\n");
        if !local.is_empty() {
            text.push_str("\n[package.sets]\nhere = \"::\"\n\n[deps.from.here]\n");
            for (l, r) in local {
                text.push_str(&format!("{l} = \"{r}\"\n"));
            }
        }
        RepoAtom {
            path: path.to_owned(),
            manifest: Manifest::parse(path, &text).unwrap(),
        }
    }

    fn labels(found: &[&RepoAtom]) -> Vec<String> {
        found
            .iter()
            .map(|a| a.manifest.package.label.to_string())
            .collect()
    }

    #[test]
    fn follows_siblings_transitively_once_each() {
        let atoms = [
            atom("a", "a", "1.0.0", &[("b", "^0.1"), ("c", "^1")]),
            atom("lib/b", "b", "0.1.0", &[("c", "^1")]),
            atom("lib/c", "c", "1.2.0", &[]),
            atom("d", "d", "1.0.0", &[]),
        ];
        let found = reached(&atoms[0].manifest, &atoms).unwrap();
        assert_eq!(labels(&found), ["b", "c"]);
    }

    #[test]
    fn refuses_missing_unmatched_and_cycles() {
        let atoms = [
            atom("a", "a", "1.0.0", &[("b", "^0.1")]),
            atom("b", "b", "0.2.0", &[]),
        ];
        let e = reached(&atoms[0].manifest, &atoms).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`::b` (a dependency of `a`) is version 0.2.0 in this repository (at b), which does not match `^0.1`"
        );
        let atoms = [atom("a", "a", "1.0.0", &[("nope", "^1")])];
        let e = reached(&atoms[0].manifest, &atoms).unwrap_err();
        assert!(matches!(e, SiblingError::Missing { .. }), "{e}");
        let text = "[deps.from.here]\nx = \"^1\"\nnope = \"^1\"\n";
        let e = e.pointing_into(&"a".parse().unwrap(), Path::new("a/atom.toml"), text);
        let SiblingError::Missing {
            span: Some(span), ..
        } = e
        else {
            panic!("no span: {e:?}")
        };
        assert_eq!(
            &text[span.offset()..span.offset() + span.len()],
            "nope = \"^1\""
        );
        let atoms = [
            atom("a", "a", "1.0.0", &[("b", "^1")]),
            atom("b", "b", "1.0.0", &[("c", "^1")]),
            atom("c", "c", "1.0.0", &[("b", "^1")]),
        ];
        let e = reached(&atoms[0].manifest, &atoms).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the atoms of this repository depend on each other through \"::\" in a cycle: b -> c -> b"
        );
        let atoms = [atom("a", "a", "1.0.0", &[("a", "^1")])];
        let e = reached(&atoms[0].manifest, &atoms).unwrap_err();
        assert!(
            matches!(e, SiblingError::Cycle(ref c) if c.len() == 2),
            "{e}"
        );
        let atoms = [
            atom("a", "a", "1.0.0", &[("b", "^1")]),
            atom("x/b", "b", "1.0.0", &[]),
            atom("y/b", "b", "1.0.0", &[]),
        ];
        let e = reached(&atoms[0].manifest, &atoms).unwrap_err();
        assert!(matches!(e, SiblingError::Twice { .. }), "{e}");
    }

    #[test]
    fn a_set_with_urls_beside_the_local_one_is_not_local() {
        let text = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n\n[package.sets]\nboth = [\"::\", \"https://example.com/r\"]\nhere = \"::\"\n\n[deps.from.both]\nx = \"^1\"\n\n[deps.from.here]\ny = \"^1\"\n";
        let m = Manifest::parse("a", text).unwrap();
        let local: Vec<String> = local_deps(&m).map(|(l, _)| l.to_string()).collect();
        assert_eq!(local, ["y"]);
    }

    #[test]
    fn relative_paths_are_rebased_to_the_root() {
        assert_eq!(rebase_path("../reg.git", "lib/b", "app"), "../lib/reg.git");
        assert_eq!(rebase_path("./reg.git", "app/b", "app"), "./b/reg.git");
        assert_eq!(
            rebase_path("../../reg.git", "lib/b", "x/y"),
            "../../reg.git"
        );
        assert_eq!(rebase_path("../a/r", "b", "a"), "./r");
        assert_eq!(
            rebase_path("https://example.com/r", "lib/b", "app"),
            "https://example.com/r"
        );
        assert_eq!(rebase_path("/abs/r", "lib/b", "app"), "/abs/r");
        assert_eq!(rebase_path("regs/r", "lib/b", "app"), "../lib/b/regs/r");
    }
}
