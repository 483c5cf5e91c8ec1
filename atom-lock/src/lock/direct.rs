//! Pins of dependencies that are not atoms: eka 0.3's `nix`, `nix+git`,
//! `nix+tar` and `nix+src` (its manifest's `[deps.direct.nix]`). eka does
//! not fetch or evaluate them yet; they are kept as data, so that a lock
//! converted from eka 0.3's loses none of its pins, and the module system
//! can name their type when one is used (`spec/lock.md`, section 9).

use atom_format::Label;
use semver::Version;
use toml::Spanned;

use super::{field, id_field, label_field, FieldResult, Problem};
use crate::ids::{parse_commit, CommitId};

/// One pinned non-atom dependency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectDep {
    /// Its name in `[deps.direct.nix]` (a label).
    pub name: Label,
    pub pin: DirectPin,
}

/// What a [`DirectDep`] pins, by type; the fields are eka 0.3's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectPin {
    /// `nix`: a file, by URL and hash.
    Nix { url: String, hash: String },
    /// `nix+git`: a git repository at a commit (and the version whose tag
    /// gave it, when one was asked for).
    NixGit {
        url: String,
        version: Option<Version>,
        rev: CommitId,
    },
    /// `nix+tar`: a tarball, by URL and hash.
    NixTar { url: String, hash: String },
    /// `nix+src`: a build source, by URL and hash.
    NixSrc { url: String, hash: String },
}

/// Every type, as locks name it.
pub const DIRECT_TYPES: &[&str] = &["nix", "nix+git", "nix+tar", "nix+src"];

impl DirectPin {
    /// The type as locks name it (`type = "nix+git"`).
    pub fn type_name(&self) -> &'static str {
        match self {
            DirectPin::Nix { .. } => "nix",
            DirectPin::NixGit { .. } => "nix+git",
            DirectPin::NixTar { .. } => "nix+tar",
            DirectPin::NixSrc { .. } => "nix+src",
        }
    }

    /// Its fields after `type` and `name`, in the order eka 0.3 writes them.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            DirectPin::Nix { url, hash }
            | DirectPin::NixTar { url, hash }
            | DirectPin::NixSrc { url, hash } => {
                vec![("url", url.clone()), ("hash", hash.clone())]
            }
            DirectPin::NixGit { url, version, rev } => {
                let mut out = vec![("url", url.clone())];
                out.extend(version.as_ref().map(|v| ("version", v.to_string())));
                out.push(("rev", rev.to_string()));
                out
            }
        }
    }
}

/// The fields of a pin as read, each with its span: our `[[direct]]`
/// tables and eka 0.3's `[[deps]]` share them.
pub(crate) struct RawPinFields<'a> {
    pub kind: &'a Spanned<String>,
    pub name: Option<&'a Spanned<String>>,
    pub url: Option<&'a Spanned<String>>,
    pub hash: Option<&'a Spanned<String>>,
    pub version: Option<&'a Spanned<String>>,
    pub rev: Option<&'a Spanned<String>>,
}

impl RawPinFields<'_> {
    /// The pin, if `kind` is a direct type (`Ok(None)` otherwise); a field
    /// missing or foreign to the type is an error pointing at it.
    pub fn parse(&self) -> FieldResult<Option<DirectDep>> {
        let kind = self.kind.get_ref().as_str();
        if !DIRECT_TYPES.contains(&kind) {
            return Ok(None);
        }
        let required = |name: &'static str, v: Option<&Spanned<String>>| match v {
            Some(v) => Ok(v.clone()),
            None => Err((
                Problem::MissingField {
                    field: name,
                    kind: format!("type = \"{kind}\""),
                },
                self.kind.span(),
            )),
        };
        let text = |name: &'static str, v: Option<&Spanned<String>>| -> FieldResult<String> {
            let v = required(name, v)?;
            field(&v, |s| match s.is_empty() {
                true => Err(Problem::Empty(name)),
                false => Ok(s.to_owned()),
            })
        };
        let name = label_field(&required("name", self.name)?)?;
        let url = text("url", self.url)?;
        let pin = if kind == "nix+git" {
            self.refuse("hash", self.hash)?;
            DirectPin::NixGit {
                url,
                version: match self.version {
                    Some(v) => Some(field(v, |s| {
                        Version::parse(s).map_err(|e| Problem::Version(e.to_string()))
                    })?),
                    None => None,
                },
                rev: id_field("commit", &required("rev", self.rev)?, parse_commit)?,
            }
        } else {
            self.refuse("version", self.version)?;
            self.refuse("rev", self.rev)?;
            let hash = text("hash", self.hash)?;
            match kind {
                "nix" => DirectPin::Nix { url, hash },
                "nix+tar" => DirectPin::NixTar { url, hash },
                _ => DirectPin::NixSrc { url, hash },
            }
        };
        Ok(Some(DirectDep { name, pin }))
    }

    /// An error if `v`, a field the type does not have, is given.
    pub fn refuse(&self, name: &'static str, v: Option<&Spanned<String>>) -> FieldResult<()> {
        match v {
            Some(v) => Err((
                Problem::FieldNotAllowed {
                    field: name,
                    kind: format!("type = \"{}\"", self.kind.get_ref()),
                },
                v.span(),
            )),
            None => Ok(()),
        }
    }
}
