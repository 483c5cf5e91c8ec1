//! The atom manifest, `atom.toml`.
//!
//! Queries are zero-evaluation: everything a resolver needs (label, version,
//! dependency requirements and where to find them) is plain TOML data here.
//! Parsing is strict, because a typo in a dependency table that was silently
//! ignored would change what gets resolved: unknown keys are errors pointing at
//! the key. The tables of eka 0.3 that we do not interpret yet are accepted and
//! kept as data, and eka 0.3's older layout (`[atom]` with `id`) is read as
//! `[package]`, with a [`ManifestWarning`] for the caller to show.

use std::collections::BTreeMap;

use miette::{NamedSource, SourceSpan};
use semver::{Version, VersionReq};
use serde::Deserialize;

use crate::Label;

/// The manifest file's name.
pub const MANIFEST_FILE: &str = "atom.toml";

/// A parsed `atom.toml`.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub package: Package,
    pub deps: Deps,
    /// eka 0.3's `[compose]`, kept uninterpreted.
    pub compose: Option<toml::Table>,
    /// eka 0.3's `[locker]`, kept uninterpreted.
    pub locker: Option<toml::Table>,
    /// What the manifest should change, though it was read.
    pub warnings: Vec<ManifestWarning>,
    /// `[trust.<set>]`: whom the atom trusts to sign the atoms of a set
    /// (`spec/trust.md` §5.2).
    pub trust: BTreeMap<String, TrustPolicy>,
}

/// The manifest as written: `[package]`, or eka 0.3's older `[atom]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    package: Option<Package>,
    atom: Option<OldAtom>,
    #[serde(default)]
    deps: Deps,
    #[serde(default)]
    compose: Option<toml::Table>,
    #[serde(default)]
    locker: Option<toml::Table>,
    #[serde(default)]
    trust: BTreeMap<String, TrustPolicy>,
}

/// eka 0.3's older `[atom]` table: `id` was the label.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OldAtom {
    id: Label,
    version: Version,
    #[serde(default)]
    description: Option<String>,
}

/// Something a manifest should change, though it was read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestWarning {
    #[error("{path}{location}: `[atom]` with `id` is eka 0.3's older layout, read as `[package]`; write `[package]` with `label = \"{label}\"` and `version = \"{version}\"` instead")]
    OldLayout {
        /// The manifest's path as shown to the user.
        path: String,
        /// `:line:column` of `[atom]`, or empty.
        location: String,
        label: Label,
        version: Version,
    },
}

/// `[trust.<set>]`: a set's policy, an OpenSSH `allowed_signers` file
/// (named, relative to the manifest's directory) or its lines inline, and
/// optionally the set's pinned root commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrustPolicy {
    #[serde(default)]
    pub allowed_signers: Option<String>,
    #[serde(default)]
    pub signers: Vec<String>,
    #[serde(default)]
    pub root: Option<String>,
}

/// `[package]`: what the atom is.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub label: Label,
    pub version: Version,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// eka 0.3 keeps `description` and `tags` in `[package.meta]`; both
    /// spellings are read, but not both at once.
    #[serde(default)]
    pub meta: Option<Meta>,
    /// Named sets of atoms (repositories) that dependencies come from.
    #[serde(default)]
    pub sets: BTreeMap<String, SetMirrors>,
}

/// `[package.meta]` (eka 0.3's place for description and tags).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Package {
    /// The description, wherever the manifest put it.
    pub fn description(&self) -> Option<&str> {
        self.description
            .as_deref()
            .or(self.meta.as_ref().and_then(|m| m.description.as_deref()))
    }

    /// The tags, wherever the manifest put them.
    pub fn tags(&self) -> &[String] {
        match &self.meta {
            Some(m) if self.tags.is_empty() => &m.tags,
            _ => &self.tags,
        }
    }
}

/// The set name that means "this repository" (eka 0.3).
pub const LOCAL_SET: &str = "::";

/// Where a set lives: one git URL, or several mirrors of one repository.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a git URL or a list of mirror URLs")]
pub enum SetMirrors {
    One(String),
    Mirrors(Vec<String>),
}

impl SetMirrors {
    pub fn urls(&self) -> &[String] {
        match self {
            SetMirrors::One(u) => std::slice::from_ref(u),
            SetMirrors::Mirrors(v) => v,
        }
    }
}

/// A dependency that is not an atom, as `[deps.direct.nix.<name>]`
/// declares it (eka 0.3): a name and the lock type it is pinned as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectRequest {
    pub name: String,
    /// `nix+git` (`git = URL`), `nix+tar` (`tar`), `nix` (`url`),
    /// `nix+src` (`build`); `None` for an entry of none of these shapes.
    pub kind: Option<&'static str>,
}

impl DirectRequest {
    /// Where the module system shows it, as eka 0.3 did: `deps.get.<name>`
    /// for a build source, `deps.pins.<name>` for the others.
    pub fn scope_key(&self) -> &'static str {
        match self.kind {
            Some("nix+src") => "get",
            _ => "pins",
        }
    }
}

impl Deps {
    /// The entries of `[deps.direct.nix]`, by name.
    pub fn direct_nix(&self) -> Vec<DirectRequest> {
        let Some(nix) = self
            .direct
            .as_ref()
            .and_then(|d| d.get("nix"))
            .and_then(|n| n.as_table())
        else {
            return Vec::new();
        };
        nix.iter()
            .map(|(name, spec)| {
                let has = |key: &str| spec.as_table().is_some_and(|t| t.contains_key(key));
                let kind = [
                    ("git", "nix+git"),
                    ("tar", "nix+tar"),
                    ("url", "nix"),
                    ("build", "nix+src"),
                ]
                .into_iter()
                .find_map(|(key, kind)| has(key).then_some(kind));
                DirectRequest {
                    name: name.clone(),
                    kind,
                }
            })
            .collect()
    }
}

/// `[deps]`: what the atom needs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deps {
    /// `[deps.from.<set>]`: atom label to version requirement.
    #[serde(default)]
    pub from: BTreeMap<String, BTreeMap<Label, VersionReq>>,
    /// eka 0.3's `[deps.direct]`, kept uninterpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct: Option<toml::Table>,
}

/// A manifest that cannot be used, with the place in the file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{path}{location}: {message}")]
#[diagnostic(code(atom::manifest), help("{help}"))]
pub struct ManifestError {
    /// The manifest's path as shown to the user.
    pub path: String,
    /// `:line:column` of the problem, or empty when the whole file is at fault.
    pub location: String,
    pub message: String,
    pub help: String,
    #[source_code]
    pub source_code: NamedSource<String>,
    #[label("here")]
    pub span: Option<SourceSpan>,
}

impl Manifest {
    /// Parses `text`, the content of the manifest at `path` (used in errors).
    pub fn parse(path: &str, text: &str) -> Result<Self, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| {
            let help = if e.message().contains("unknown field") {
                "see spec/format.md, \"Manifest\", for the keys atom.toml may hold".to_owned()
            } else if e.message().contains("missing field") {
                "an atom.toml needs at least [package] with `label` and `version`".to_owned()
            } else {
                "fix the value and try again".to_owned()
            };
            error_at(path, text, e.span(), e.message().trim().to_owned(), help)
        })?;
        let manifest = raw.into_manifest(path, text)?;
        if let Some(meta) = &manifest.package.meta {
            let both = (meta.description.is_some() && manifest.package.description.is_some())
                || (!meta.tags.is_empty() && !manifest.package.tags.is_empty());
            if both {
                return Err(error_at(
                    path,
                    text,
                    text.find("[package.meta]")
                        .map(|i| i..i + "[package.meta]".len()),
                    "`description` or `tags` is given both in [package] and in [package.meta]"
                        .into(),
                    "keep one of the two; [package] is the current place".into(),
                ));
            }
        }
        if let Some(set) = manifest
            .deps
            .from
            .keys()
            .find(|s| !manifest.package.sets.contains_key(*s))
        {
            let span = find_table_header(text, set);
            return Err(error_at(
                path,
                text,
                span,
                format!(
                    "[deps.from.{set}] names set `{set}`, which [package.sets] does not define"
                ),
                format!("add `{set} = \"<git URL>\"` under [package.sets]"),
            ));
        }
        Ok(manifest)
    }
}

impl RawManifest {
    /// The manifest, its package from `[package]` or eka 0.3's `[atom]`.
    fn into_manifest(self, path: &str, text: &str) -> Result<Manifest, ManifestError> {
        let old_table = || find_line(text, "[atom]");
        let mut warnings = Vec::new();
        let package = match (self.package, self.atom) {
            (Some(package), None) => package,
            (None, Some(old)) => {
                let location = old_table()
                    .map(|s| {
                        let (line, col) = line_col(text, s.start);
                        format!(":{line}:{col}")
                    })
                    .unwrap_or_default();
                warnings.push(ManifestWarning::OldLayout {
                    path: path.to_owned(),
                    location,
                    label: old.id.clone(),
                    version: old.version.clone(),
                });
                Package {
                    label: old.id,
                    version: old.version,
                    description: old.description,
                    tags: Vec::new(),
                    meta: None,
                    sets: BTreeMap::new(),
                }
            }
            (Some(_), Some(_)) => {
                return Err(error_at(
                    path,
                    text,
                    old_table(),
                    "both [package] and eka 0.3's older [atom] are given".into(),
                    "keep [package] (with `label` and `version`) and remove [atom]".into(),
                ))
            }
            (None, None) => {
                return Err(error_at(
                    path,
                    text,
                    None,
                    "missing [package]".into(),
                    "an atom.toml needs at least [package] with `label` and `version`".into(),
                ))
            }
        };
        Ok(Manifest {
            package,
            deps: self.deps,
            compose: self.compose,
            locker: self.locker,
            trust: self.trust,
            warnings,
        })
    }
}

/// The span of `header` where a line starts with it.
fn find_line(text: &str, header: &str) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with(header) {
            let start = at + (line.len() - line.trim_start().len());
            return Some(start..start + header.len());
        }
        at += line.len();
    }
    None
}

fn error_at(
    path: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: String,
    help: String,
) -> ManifestError {
    let location = span
        .as_ref()
        .map(|s| {
            let (line, col) = line_col(text, s.start);
            format!(":{line}:{col}")
        })
        .unwrap_or_default();
    ManifestError {
        path: path.to_owned(),
        location,
        message,
        help,
        source_code: NamedSource::new(path, text.to_owned()).with_language("toml"),
        span: span.map(|s| SourceSpan::from(s.start..s.end.max(s.start))),
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The span of `set` in a `[deps.from.<set>]` header (or dotted key), for
/// pointing at it; `None` when it cannot be found textually.
fn find_table_header(text: &str, set: &str) -> Option<std::ops::Range<usize>> {
    ["from.", "from.\""]
        .iter()
        .find_map(|p| text.find(&format!("{p}{set}")).map(|i| i + p.len()))
        .map(|start| start..start + set.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[package]
label = "hello"
version = "1.2.0"
description = "says hello"
tags = ["greeting"]

[package.sets]
pub = "https://example.com/atoms.git"
mirrored = ["https://a.example/atoms.git", "https://b.example/atoms.git"]

[deps.from.pub]
base = "^1"

[deps.from.mirrored]
util = ">=0.2, <0.4"

[deps.direct.nix]
url = "https://example.com/nixpkgs"

[compose]
anything = { goes = true }

[locker]
label = "nix-lock"
"#;

    #[test]
    fn parses_every_field() {
        let m = Manifest::parse("atom.toml", FULL).unwrap();
        assert_eq!(m.package.label.as_str(), "hello");
        assert_eq!(m.package.version, Version::new(1, 2, 0));
        assert_eq!(m.package.description.as_deref(), Some("says hello"));
        assert_eq!(m.package.tags, ["greeting"]);
        assert_eq!(m.package.sets["mirrored"].urls().len(), 2);
        assert_eq!(
            m.package.sets["pub"].urls(),
            ["https://example.com/atoms.git"]
        );
        let base = Label::parse("base").unwrap();
        assert_eq!(m.deps.from["pub"][&base], VersionReq::parse("^1").unwrap());
        assert!(m.deps.direct.is_some() && m.compose.is_some() && m.locker.is_some());
    }

    #[test]
    fn unknown_keys_point_at_the_key() {
        for (text, key) in [
            (
                "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\nlicence = \"MIT\"\n",
                "licence",
            ),
            (
                "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n[depz]\n",
                "depz",
            ),
            (
                "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n[deps.form.x]\n",
                "form",
            ),
        ] {
            let e = Manifest::parse("atom.toml", text).unwrap_err();
            assert!(e.message.contains(key), "{e}");
            let span = e.span.unwrap();
            assert_eq!(&text[span.offset()..span.offset() + span.len()], key, "{e}");
            assert!(e.to_string().starts_with("atom.toml:"), "{e}");
        }
    }

    #[test]
    fn bad_values_are_located() {
        let text = "[package]\nlabel = \"9lives\"\nversion = \"1.0.0\"\n";
        let e = Manifest::parse("x/atom.toml", text).unwrap_err();
        assert_eq!(e.location, ":2:9");
        assert!(e.message.contains("invalid start '9'"), "{e}");

        let text = "[package]\nlabel = \"a\"\nversion = \"1.0\"\n";
        let e = Manifest::parse("atom.toml", text).unwrap_err();
        assert_eq!(e.location, ":3:11");

        let e = Manifest::parse("atom.toml", "[package\n").unwrap_err();
        assert!(e.location.starts_with(":1:"), "{e}");

        let e = Manifest::parse("atom.toml", "[package]\nlabel = \"a\"\n").unwrap_err();
        assert!(e.message.contains("version"), "{e}");
    }

    #[test]
    fn eka_03_meta_table() {
        let text = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n[package.meta]\ntags = [\"x\"]\ndescription = \"d\"\n";
        let m = Manifest::parse("atom.toml", text).unwrap();
        assert_eq!(m.package.description(), Some("d"));
        assert_eq!(m.package.tags(), ["x"]);
        let both = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\ndescription = \"e\"\n[package.meta]\ndescription = \"d\"\n";
        assert!(Manifest::parse("atom.toml", both).is_err());
    }

    #[test]
    fn deps_must_name_a_known_set() {
        let text =
            "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n[deps.from.nowhere]\nb = \"^1\"\n";
        let e = Manifest::parse("atom.toml", text).unwrap_err();
        assert!(e.message.contains("`nowhere`"), "{e}");
        assert_eq!(e.location, ":4:12");
    }

    #[test]
    fn eka03_old_layout_is_read_with_a_warning() {
        let text =
            "# eka 0.3, older\n[atom]\nid = \"hello\"\nversion = \"0.2.0\"\ndescription = \"d\"\n";
        let m = Manifest::parse("x/atom.toml", text).unwrap();
        assert_eq!(m.package.label.as_str(), "hello");
        assert_eq!(m.package.version, Version::new(0, 2, 0));
        assert_eq!(m.package.description(), Some("d"));
        assert_eq!(
            m.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["x/atom.toml:2:1: `[atom]` with `id` is eka 0.3's older layout, read as `[package]`; write `[package]` with `label = \"hello\"` and `version = \"0.2.0\"` instead"]
        );
        assert!(Manifest::parse("atom.toml", FULL)
            .unwrap()
            .warnings
            .is_empty());

        let both = "[package]\nlabel = \"a\"\nversion = \"1.0.0\"\n[atom]\nid = \"a\"\nversion = \"1.0.0\"\n";
        let e = Manifest::parse("atom.toml", both).unwrap_err();
        assert!(e.message.contains("both [package]"), "{e}");
        assert_eq!(e.location, ":4:1");

        let e = Manifest::parse("atom.toml", "[deps]\n").unwrap_err();
        assert_eq!(e.message, "missing [package]");

        // The older table's keys are checked like any other.
        let text = "[atom]\nid = \"a\"\nversion = \"1.0.0\"\nlabel = \"a\"\n";
        let e = Manifest::parse("atom.toml", text).unwrap_err();
        assert!(e.message.contains("unknown field `label`"), "{e}");
        assert_eq!(e.location, ":4:1");
    }

    #[test]
    fn direct_nix_entries() {
        // eka 0.3's examples/foo/atom.toml, one entry of each shape.
        let text = r#"
[package]
label = "foo"
version = "0.1.0"

[deps.direct.nix]
nixpkgs = { git = "https://github.com/nixos/nixpkgs", ref = "nixpkgs-unstable" }
nixpkgs-unstable.tar = "https://github.com/nixos/nixpkgs/archive/nixpkgs-unstable.tar.gz"
patch.url = "https://patch-diff.githubusercontent.com/raw/cachix/snix/pull/1.patch"
zlib-1 = { build = "https://www.zlib.net/zlib-1.3.1.tar.gz", unpack = true }
odd = { what = "?" }
"#;
        let m = Manifest::parse("atom.toml", text).unwrap();
        let got: Vec<(String, Option<&str>, &str)> = m
            .deps
            .direct_nix()
            .iter()
            .map(|d| (d.name.clone(), d.kind, d.scope_key()))
            .collect();
        let want = [
            ("nixpkgs", Some("nix+git"), "pins"),
            ("nixpkgs-unstable", Some("nix+tar"), "pins"),
            ("odd", None, "pins"),
            ("patch", Some("nix"), "pins"),
            ("zlib-1", Some("nix+src"), "get"),
        ];
        let want: Vec<(String, Option<&str>, &str)> = want
            .iter()
            .map(|(n, k, s)| (n.to_string(), *k, *s))
            .collect();
        assert_eq!(got, want);
        // An entry of no known shape has no type.
        assert_eq!(
            Manifest::parse("atom.toml", FULL)
                .unwrap()
                .deps
                .direct_nix(),
            [DirectRequest {
                name: "url".into(),
                kind: None
            }]
        );
    }
}
