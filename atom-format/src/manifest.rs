//! The atom manifest, `atom.toml`.
//!
//! Queries are zero-evaluation: everything a resolver needs (label, version,
//! dependency requirements and where to find them) is plain TOML data here.
//! Parsing is strict, because a typo in a dependency table that was silently
//! ignored would change what gets resolved: unknown keys are errors pointing at
//! the key. The tables of eka 0.3 that we do not interpret yet are accepted and
//! kept as data.

use std::collections::BTreeMap;

use miette::{NamedSource, SourceSpan};
use semver::{Version, VersionReq};
use serde::Deserialize;

use crate::Label;

/// The manifest file's name.
pub const MANIFEST_FILE: &str = "atom.toml";

/// A parsed `atom.toml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub package: Package,
    #[serde(default)]
    pub deps: Deps,
    /// eka 0.3's `[compose]`, kept uninterpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compose: Option<toml::Table>,
    /// eka 0.3's `[locker]`, kept uninterpreted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locker: Option<toml::Table>,
    /// `[trust.<set>]`: whom the atom trusts to sign the atoms of a set
    /// (`spec/trust.md` §5.2).
    #[serde(default)]
    pub trust: BTreeMap<String, TrustPolicy>,
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
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let help = if e.message().contains("unknown field") {
                "see spec/format.md, \"Manifest\", for the keys atom.toml may hold".to_owned()
            } else if e.message().contains("missing field") {
                "an atom.toml needs at least [package] with `label` and `version`".to_owned()
            } else {
                "fix the value and try again".to_owned()
            };
            error_at(path, text, e.span(), e.message().trim().to_owned(), help)
        })?;
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
}
