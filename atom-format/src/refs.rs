//! The ref layout of a registry: every atom ref lives under one prefix, so one
//! protocol v2 `ls-refs` with `ref-prefix refs/atoms/` covers a repository.
//!
//! - `refs/atoms/<label>/<version>`: the atom commit;
//! - `refs/atoms/_manifest/<label>/<version>`: the `atom.toml` blob;
//! - `refs/atoms/_origin/<label>/<version>`: the source commit;
//! - `refs/atoms/_root`: the repository's root commit.
//!
//! Labels never start with `_`, so the bookkeeping names cannot collide with
//! an atom.

use std::fmt;

use gix::bstr::ByteSlice;
use semver::Version;

use crate::Label;

/// The prefix of every ref this format writes.
pub const ATOMS_PREFIX: &str = "refs/atoms/";
/// The ref naming the repository root commit.
pub const ROOT_REF: &str = "refs/atoms/_root";
const MANIFEST_DIR: &str = "_manifest/";
const ORIGIN_DIR: &str = "_origin/";
/// Where signatures and yanks live (`spec/trust.md` §3): under the prefix,
/// so one listing shows them, but not atom refs.
pub const TRUST_DIRS: [&str; 2] = ["_sig/", "_yank/"];

/// The legacy prefixes of eka 0.3, read (never written) so its atoms resolve
/// and verify too.
pub const EKA03_ATOMS_PREFIX: &str = "refs/eka/atoms/";
pub const EKA03_META_PREFIX: &str = "refs/eka/meta/";
pub const EKA03_ROOT_REF: &str = "refs/ekala/init";

/// Which ref layout a ref belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Namespace {
    /// `refs/atoms/…` (this format).
    Atoms,
    /// `refs/eka/…` and `refs/ekala/init` (eka 0.3).
    Eka03,
}

/// What a ref under [`ATOMS_PREFIX`] names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AtomRef {
    Atom(AtomVersion),
    Manifest(AtomVersion),
    Origin(AtomVersion),
    Root,
}

/// One version of one atom.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AtomVersion {
    pub label: Label,
    pub version: Version,
}

impl fmt::Display for AtomVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.label, self.version)
    }
}

/// A ref under the atoms prefix that is not one this format writes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not an atom ref: {why}")]
pub struct RefParseError {
    pub name: String,
    pub why: String,
}

/// A label and version that git cannot store as a ref name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid git ref name ({why})")]
pub struct InvalidRefName {
    pub name: String,
    pub why: String,
}

impl AtomVersion {
    pub fn new(label: Label, version: Version) -> Self {
        AtomVersion { label, version }
    }

    fn suffix(&self) -> String {
        format!("{}/{}", self.label, self.version)
    }

    pub fn atom_ref(&self) -> String {
        format!("{ATOMS_PREFIX}{}", self.suffix())
    }

    pub fn manifest_ref(&self) -> String {
        format!("{ATOMS_PREFIX}{MANIFEST_DIR}{}", self.suffix())
    }

    pub fn origin_ref(&self) -> String {
        format!("{ATOMS_PREFIX}{ORIGIN_DIR}{}", self.suffix())
    }

    /// Checks that git can store all three refs of this version. Labels always
    /// can; some semver versions cannot (`1.0.0-x.lock`: a ref component may
    /// not end in `.lock`).
    pub fn check_ref_names(&self) -> Result<(), InvalidRefName> {
        for name in [self.atom_ref(), self.manifest_ref(), self.origin_ref()] {
            gix::validate::reference::name(name.as_bytes().as_bstr()).map_err(|e| {
                InvalidRefName {
                    name: name.clone(),
                    why: e.to_string(),
                }
            })?;
        }
        Ok(())
    }
}

/// A label and version as they appear in ref `name`: both must be in
/// canonical form, so that one atom version has exactly one ref name.
fn parse_canonical(name: &str, label: &str, version: &str) -> Result<AtomVersion, RefParseError> {
    let err = |why: String| RefParseError {
        name: name.to_owned(),
        why,
    };
    let l = Label::parse(label).map_err(|e| err(format!("label: {e}")))?;
    if l.as_str() != label {
        return Err(err("the label is not in NFKC normal form".into()));
    }
    let v = Version::parse(version).map_err(|e| err(format!("version: {e}")))?;
    if v.to_string() != version {
        return Err(err("the version is not in canonical form".into()));
    }
    Ok(AtomVersion::new(l, v))
}

impl AtomRef {
    /// Parses a full ref name. `None` if it is not under [`ATOMS_PREFIX`],
    /// or is a signature or yank ref ([`TRUST_DIRS`]).
    pub fn parse(name: &str) -> Option<Result<AtomRef, RefParseError>> {
        let rest = name.strip_prefix(ATOMS_PREFIX)?;
        if TRUST_DIRS.iter().any(|d| rest.starts_with(d)) {
            return None;
        }
        let err = |why: &str| RefParseError {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        if rest == "_root" {
            return Some(Ok(AtomRef::Root));
        }
        let (make, rest): (fn(AtomVersion) -> AtomRef, &str) =
            if let Some(r) = rest.strip_prefix(MANIFEST_DIR) {
                (AtomRef::Manifest, r)
            } else if let Some(r) = rest.strip_prefix(ORIGIN_DIR) {
                (AtomRef::Origin, r)
            } else {
                (AtomRef::Atom, rest)
            };
        Some(match rest.split_once('/') {
            Some((label, version)) => parse_canonical(name, label, version).map(make),
            None => Err(err("expected <label>/<version>")),
        })
    }

    /// Parses a ref of either layout: this format's, or eka 0.3's
    /// (`refs/eka/atoms/<label>/<version>`,
    /// `refs/eka/meta/<label>/<version>/{manifest,origin}`,
    /// `refs/ekala/init`). `None` if it is in neither namespace.
    pub fn parse_any(name: &str) -> Option<Result<(Namespace, AtomRef), RefParseError>> {
        if let Some(r) = AtomRef::parse(name) {
            return Some(r.map(|r| (Namespace::Atoms, r)));
        }
        if name == EKA03_ROOT_REF {
            return Some(Ok((Namespace::Eka03, AtomRef::Root)));
        }
        let err = |why: &str| RefParseError {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        let parse_av = |label: &str, version: &str| parse_canonical(name, label, version);
        if let Some(rest) = name.strip_prefix(EKA03_ATOMS_PREFIX) {
            let r = match rest.split('/').collect::<Vec<_>>().as_slice() {
                [label, version] => parse_av(label, version).map(AtomRef::Atom),
                _ => Err(err("expected refs/eka/atoms/<label>/<version>")),
            };
            return Some(r.map(|r| (Namespace::Eka03, r)));
        }
        if let Some(rest) = name.strip_prefix(EKA03_META_PREFIX) {
            let r = match rest.split('/').collect::<Vec<_>>().as_slice() {
                [label, version, "manifest"] => parse_av(label, version).map(AtomRef::Manifest),
                [label, version, "origin"] => parse_av(label, version).map(AtomRef::Origin),
                _ => Err(err(
                    "expected refs/eka/meta/<label>/<version>/{manifest,origin}",
                )),
            };
            return Some(r.map(|r| (Namespace::Eka03, r)));
        }
        None
    }

    /// The full ref name in `namespace`.
    pub fn name_in(&self, namespace: Namespace) -> String {
        match namespace {
            Namespace::Atoms => self.name(),
            Namespace::Eka03 => match self {
                AtomRef::Atom(v) => format!("{EKA03_ATOMS_PREFIX}{}/{}", v.label, v.version),
                AtomRef::Manifest(v) => {
                    format!("{EKA03_META_PREFIX}{}/{}/manifest", v.label, v.version)
                }
                AtomRef::Origin(v) => {
                    format!("{EKA03_META_PREFIX}{}/{}/origin", v.label, v.version)
                }
                AtomRef::Root => EKA03_ROOT_REF.to_owned(),
            },
        }
    }

    /// The full ref name.
    pub fn name(&self) -> String {
        match self {
            AtomRef::Atom(v) => v.atom_ref(),
            AtomRef::Manifest(v) => v.manifest_ref(),
            AtomRef::Origin(v) => v.origin_ref(),
            AtomRef::Root => ROOT_REF.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn av(l: &str, v: &str) -> AtomVersion {
        AtomVersion::new(Label::parse(l).unwrap(), Version::parse(v).unwrap())
    }

    #[test]
    fn names_round_trip() {
        let v = av("hello", "1.2.3-rc.1+build.5");
        for r in [
            AtomRef::Atom(v.clone()),
            AtomRef::Manifest(v.clone()),
            AtomRef::Origin(v.clone()),
            AtomRef::Root,
        ] {
            assert_eq!(AtomRef::parse(&r.name()).unwrap().unwrap(), r);
        }
        assert_eq!(v.atom_ref(), "refs/atoms/hello/1.2.3-rc.1+build.5");
        assert_eq!(
            v.manifest_ref(),
            "refs/atoms/_manifest/hello/1.2.3-rc.1+build.5"
        );
        assert_eq!(
            v.origin_ref(),
            "refs/atoms/_origin/hello/1.2.3-rc.1+build.5"
        );
    }

    #[test]
    fn foreign_and_malformed_refs() {
        assert!(AtomRef::parse("refs/heads/main").is_none());
        for bad in [
            "refs/atoms/hello",
            "refs/atoms/hello/1.0",
            "refs/atoms/hello/01.0.0",
            "refs/atoms/9x/1.0.0",
            "refs/atoms/_manifest/hello",
            "refs/atoms/_other/x/1.0.0",
            "refs/atoms/hello/1.0.0/extra",
        ] {
            assert!(AtomRef::parse(bad).unwrap().is_err(), "{bad}");
        }
        // Signatures and yanks are not atom refs, nor foreign ones.
        for trust in [
            "refs/atoms/_sig/hello/1.0.0/ab",
            "refs/atoms/_yank/hello/1.0.0/unsigned",
        ] {
            assert!(AtomRef::parse(trust).is_none(), "{trust}");
            assert!(AtomRef::parse_any(trust).is_none(), "{trust}");
        }
    }

    #[test]
    fn eka_03_namespace() {
        let v = av("atom-nix", "0.4.4");
        for r in [
            AtomRef::Atom(v.clone()),
            AtomRef::Manifest(v.clone()),
            AtomRef::Origin(v.clone()),
            AtomRef::Root,
        ] {
            let name = r.name_in(Namespace::Eka03);
            assert_eq!(
                AtomRef::parse_any(&name).unwrap().unwrap(),
                (Namespace::Eka03, r)
            );
        }
        assert_eq!(
            AtomRef::Manifest(v).name_in(Namespace::Eka03),
            "refs/eka/meta/atom-nix/0.4.4/manifest"
        );
        for bad in [
            "refs/eka/atoms/x",
            "refs/eka/meta/x/1.0.0/tree",
            "refs/eka/meta/x/1.0.0",
            "refs/eka/atoms/x/1.0",
        ] {
            assert!(AtomRef::parse_any(bad).unwrap().is_err(), "{bad}");
        }
        assert!(AtomRef::parse_any("refs/eka/other").is_none());
        assert_eq!(
            AtomRef::parse_any("refs/atoms/_root").unwrap().unwrap(),
            (Namespace::Atoms, AtomRef::Root)
        );
    }

    #[test]
    fn versions_git_cannot_store() {
        assert!(av("a", "1.0.0-x.lock").check_ref_names().is_err());
        assert!(av("a", "1.0.0-x.locked").check_ref_names().is_ok());
    }
}
