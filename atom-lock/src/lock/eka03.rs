//! eka 0.3's `atom.lock`, read as it is (`spec/lock.md`, section 9).
//!
//! A project that eka 0.3 set up keeps working: its lock is read, its atom
//! dependencies are fetched, checked and evaluated like ours, and `eka
//! lock` converts it. The format is eka 0.3's
//! (`crates/atom/src/package/metadata/lock/` there):
//!
//! ```toml
//! version = 1
//!
//! [sets.<root>]                 # the repository (set) with that root commit
//! tag = "registry"              # the manifest's name for the set
//! mirrors = ["::", "/srv/atoms", "https://example.com/atoms"]
//!
//! [locker]                      # eka 0.3's Nix-side lock reader (an atom)
//! [compose]                     # use = "atom" (an atom and `entry`), "nix" (`entry`) or "static"
//!
//! [[deps]]
//! type = "atom"                 # or nix, nix+git, nix+tar, nix+src (see `direct`)
//! label = "lib"
//! version = "1.4.0"             # "1.4.0-local" without rev: an atom of the same repository
//! set = "<root>"
//! rev = "<atom commit>"         # optional
//! mirror = "<url>"              # optional: where it was resolved from
//! id = "<atom id>"
//! ```
//!
//! Unlike ours it pins only the atom's direct dependencies (each atom's
//! own lock pins its own) and no origin or content digest.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

use atom_format::Label;
use miette::NamedSource;
use semver::Version;
use toml::Spanned;

use super::direct::{DirectDep, RawPinFields, DIRECT_TYPES};
use super::{
    atom_id, field, id_field, label_field, FieldResult, LockError, Lockfile, Placed, Problem, Spans,
};
use crate::fetch::Want;
use crate::ids::{parse_commit, AtomId, CommitId};
use crate::uri::{RepoUrl, UriError};

/// The only `version` of eka 0.3's lock.
pub const EKA03_LOCK_VERSION: i64 = 1;

/// A lock written by eka 0.3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eka03Lock {
    /// `[sets.<root>]`, by root.
    pub sets: BTreeMap<CommitId, Eka03Set>,
    /// `[locker]`: the Nix code eka 0.3 reads locks with (not used by eka).
    pub locker: Option<Eka03Atom>,
    /// `[compose]`: how eka 0.3 composes the atom (eka reads that from the
    /// manifest; the atom-nix version pinned here is not used).
    pub compose: Option<Eka03Compose>,
    /// `[[deps]]`, in file order.
    pub deps: Vec<Eka03Dep>,
}

/// `[sets.<root>]`: one repository and where to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eka03Set {
    /// The manifest's name for the set (`deps.from.<tag>`).
    pub tag: String,
    pub mirrors: Vec<Eka03Mirror>,
}

/// A mirror of a set as eka 0.3 writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eka03Mirror {
    /// `"::"`: the repository the project lives in.
    Local,
    /// A URL, or a local path written bare (no `file://`).
    Url(String),
}

/// A locked atom: `[[deps]]` of type `atom`, `[locker]`, or the atom of
/// `[compose]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eka03Atom {
    pub label: Label,
    pub version: Version,
    /// The root commit of its set.
    pub set: CommitId,
    /// The atom commit; absent for an atom of the project's own repository
    /// that was never published (its version then ends in `-local`).
    pub rev: Option<CommitId>,
    /// The URL it was resolved from, as written.
    pub mirror: Option<String>,
}

impl Eka03Atom {
    /// Its atom id (the lock's `id`, which parsing checked).
    pub fn id(&self) -> AtomId {
        AtomId::compute(&self.set, &self.label)
    }
}

/// `[compose]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eka03Compose {
    /// `use = "atom"`: evaluated with a composer atom (atom-nix).
    Atom { atom: Eka03Atom, entry: String },
    /// `use = "nix"`: a Nix file imported as it is.
    Nix { entry: String },
    /// `use = "static"`: configuration only, never evaluated.
    Static,
}

/// One `[[deps]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eka03Dep {
    Atom(Eka03Atom),
    /// A dependency that is not an atom (eka does not fetch these yet).
    Direct(DirectDep),
}

impl Eka03Lock {
    /// Parses and checks eka 0.3's lock. `name` names the source in
    /// messages.
    pub fn parse(text: &str, name: &str) -> Result<Self, LockError> {
        Self::parse_checked(text, name).map_err(|e| e.with_help(super::EKA03_HELP))
    }

    fn parse_checked(text: &str, name: &str) -> Result<Self, LockError> {
        let src = || NamedSource::new(name, text.to_string());
        let raw: RawEka03Lock = toml::from_str(text).map_err(|e| super::syntax(e, src()))?;
        let invalid = |(problem, at): (Problem, Range<usize>)| {
            LockError::invalid(problem, Some(src()), Spans::at(at))
        };
        if raw.version.get_ref().as_integer() != Some(EKA03_LOCK_VERSION) {
            let shown = raw.version.get_ref().to_string();
            return Err(invalid((
                Problem::UnsupportedEka03Version(shown),
                raw.version.span(),
            )));
        }
        let deps: Vec<Eka03Dep> = raw
            .deps
            .iter()
            .map(RawDep::parse)
            .collect::<FieldResult<_>>()
            .map_err(invalid)?;
        raw.check(&deps).map_err(|(problem, at, first)| {
            LockError::invalid(
                problem,
                Some(src()),
                Spans {
                    at: Some(at),
                    first,
                },
            )
        })?;
        Ok(Eka03Lock {
            sets: raw
                .sets
                .iter()
                .map(|(root, set)| Ok((id_field("set root", root, parse_commit)?, set.parse()?)))
                .collect::<FieldResult<_>>()
                .map_err(invalid)?,
            locker: raw
                .locker
                .as_ref()
                .map(RawAtom::parse)
                .transpose()
                .map_err(invalid)?,
            compose: raw
                .compose
                .as_ref()
                .map(RawCompose::parse)
                .transpose()
                .map_err(invalid)?,
            deps,
        })
    }

    /// The atom dependencies.
    pub fn atoms(&self) -> impl Iterator<Item = &Eka03Atom> {
        self.deps.iter().filter_map(|d| match d {
            Eka03Dep::Atom(a) => Some(a),
            Eka03Dep::Direct(_) => None,
        })
    }

    /// The dependencies that are not atoms.
    pub fn direct(&self) -> impl Iterator<Item = &DirectDep> {
        self.deps.iter().filter_map(|d| match d {
            Eka03Dep::Direct(p) => Some(p),
            Eka03Dep::Atom(_) => None,
        })
    }

    /// The manifest's name for the set of `atom` (its `[sets]` tag).
    pub fn tag_of(&self, atom: &Eka03Atom) -> Option<&str> {
        self.sets.get(&atom.set).map(|s| s.tag.as_str())
    }

    /// Whether `atom`'s set is the project's own repository (`"::"`).
    pub fn is_local(&self, atom: &Eka03Atom) -> bool {
        self.sets
            .get(&atom.set)
            .is_some_and(|s| s.mirrors.contains(&Eka03Mirror::Local))
    }

    /// Where to fetch `atom` from, in order of preference: the URL it was
    /// resolved from, then its set's other mirrors (`"::"` is not a place
    /// to fetch from). Returns the mirrors and those that are not
    /// locations eka can use, with why.
    pub fn mirrors_of(&self, atom: &Eka03Atom) -> (Vec<RepoUrl>, Vec<(String, UriError)>) {
        let set = self
            .sets
            .get(&atom.set)
            .into_iter()
            .flat_map(|s| &s.mirrors);
        let texts = atom.mirror.iter().chain(set.filter_map(|m| match m {
            Eka03Mirror::Url(u) => Some(u),
            Eka03Mirror::Local => None,
        }));
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for text in texts {
            match text.parse::<RepoUrl>() {
                Ok(url) if !ok.contains(&url) => ok.push(url),
                Ok(_) => {}
                Err(e) => bad.push((text.clone(), e)),
            }
        }
        (ok, bad)
    }

    /// The versions to keep when converting the lock: every atom it pins
    /// at a commit.
    pub fn preferences(&self) -> HashMap<AtomId, Version> {
        self.atoms()
            .filter(|a| a.rev.is_some())
            .map(|a| (a.id(), a.version.clone()))
            .collect()
    }

    /// Checks `converted`, the lock `eka lock` resolved from the manifest
    /// preferring what `pinned` holds (this lock's atoms, then those their
    /// own locks pin, level by level: [`Self::preferences_with`]), against
    /// them, and says what the conversion kept: an atom kept at a pinned
    /// version must be at the commit pinned (else the version was
    /// rewritten since).
    pub fn conversion(
        &self,
        converted: &Lockfile,
        pinned: &[Want],
    ) -> Result<Conversion, ConversionError> {
        let mut conversion = Conversion {
            kept: 0,
            kept_below: 0,
            moved: Vec::new(),
            dropped: Vec::new(),
            direct: converted.direct().len(),
        };
        for a in self.atoms() {
            let Some(rev) = a.rev else {
                conversion.dropped.push(a.label.clone());
                continue;
            };
            match converted.get(&a.id()) {
                Some(now) if now.version == a.version => {
                    check_commit(&a.label, &a.version, rev, now.commit)?;
                    conversion.kept += 1
                }
                Some(now) => {
                    conversion
                        .moved
                        .push((a.label.clone(), a.version.clone(), now.version.clone()))
                }
                None => conversion.dropped.push(a.label.clone()),
            }
        }
        let direct: HashSet<AtomId> = self.atoms().map(Eka03Atom::id).collect();
        let mut counted = HashSet::new();
        for w in pinned.iter().filter(|w| !direct.contains(&w.id)) {
            match converted.get(&w.id) {
                Some(now) if now.version == w.version => {
                    check_commit(&w.label, &w.version, w.commit, now.commit)?;
                    if counted.insert(w.id) {
                        conversion.kept_below += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(conversion)
    }

    /// The versions to keep when converting the lock: every atom it pins
    /// at a commit, then those their own locks pin (`pinned`, level by
    /// level, as `atom_modules::fetch_locked` finds them), the nearest pin
    /// of an atom winning.
    pub fn preferences_with(&self, pinned: &[Want]) -> HashMap<AtomId, Version> {
        let mut out = self.preferences();
        for w in pinned {
            out.entry(w.id).or_insert_with(|| w.version.clone());
        }
        out
    }

    /// The pins of non-atom dependencies the manifest still names (its
    /// `[deps.direct.nix]`), to keep in the converted lock.
    pub fn direct_kept<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Vec<DirectDep> {
        let names: Vec<&str> = names.into_iter().collect();
        self.direct()
            .filter(|d| names.contains(&d.name.as_str()))
            .cloned()
            .collect()
    }
}

/// An error if `version` of `label`, pinned at `pinned`, is now `now`.
fn check_commit(
    label: &Label,
    version: &Version,
    pinned: CommitId,
    now: CommitId,
) -> Result<(), ConversionError> {
    match pinned == now {
        true => Ok(()),
        false => Err(ConversionError::Rewritten {
            label: label.clone(),
            version: version.clone(),
            pinned,
            now,
        }),
    }
}

/// What converting eka 0.3's lock kept: rendered as the note `eka lock`
/// prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// Atoms kept at the version and commit eka 0.3 pinned.
    pub kept: usize,
    /// Of the atoms the lock's atoms' own locks pin, those kept at the
    /// version and commit pinned.
    pub kept_below: usize,
    /// Atoms the manifest no longer allows at the pinned version:
    /// (label, pinned, now).
    pub moved: Vec<(Label, Version, Version)>,
    /// Atoms not in the converted lock (no longer asked for, or locked by
    /// eka 0.3 from the project's own repository without a commit).
    pub dropped: Vec<Label>,
    /// Pins of non-atom dependencies carried over.
    pub direct: usize,
}

impl std::fmt::Display for Conversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "atom.lock was written by eka 0.3; converted to this eka's format, keeping the {} atom{} it pinned at the same commits",
            self.kept,
            if self.kept == 1 { "" } else { "s" }
        )?;
        if self.kept_below > 0 {
            write!(
                f,
                ", the {} atom{} their own locks pinned",
                self.kept_below,
                plural(self.kept_below)
            )?;
        }
        if self.direct > 0 {
            write!(
                f,
                " and the {} non-atom pin{}",
                self.direct,
                plural(self.direct)
            )?;
        }
        for (label, pinned, now) in &self.moved {
            write!(f, "; `{label}` moved from {pinned} to {now}")?;
        }
        for label in &self.dropped {
            write!(f, "; `{label}` is no longer locked")?;
        }
        write!(
            f,
            " ([compose] and [locker], which pin eka 0.3's Nix code, are not kept: eka composes atoms itself)"
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Why eka 0.3's lock cannot be converted.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConversionError {
    #[error("{label}@{version} was rewritten: eka 0.3's locks pin commit {pinned}, its repository now has {now}")]
    #[diagnostic(
        code(eka::lock::eka03_rewritten),
        help("a published version must never change; nothing was written")
    )]
    Rewritten {
        label: Label,
        version: Version,
        pinned: CommitId,
        now: CommitId,
    },
}

impl Eka03Mirror {
    fn parse(text: &str) -> Self {
        match text {
            "::" => Eka03Mirror::Local,
            url => Eka03Mirror::Url(url.to_owned()),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEka03Lock {
    version: Spanned<toml::Value>,
    #[serde(default)]
    sets: BTreeMap<Spanned<String>, RawSet>,
    #[serde(default)]
    locker: Option<RawAtom>,
    #[serde(default)]
    compose: Option<RawCompose>,
    #[serde(default)]
    deps: Vec<RawDep>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    tag: Spanned<String>,
    mirrors: Vec<Spanned<String>>,
}

/// eka 0.3's `AtomDep` fields.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAtom {
    label: Spanned<String>,
    version: Spanned<String>,
    set: Spanned<String>,
    rev: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    id: Spanned<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompose {
    #[serde(rename = "use")]
    kind: Spanned<String>,
    entry: Option<Spanned<String>>,
    label: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    set: Option<Spanned<String>>,
    rev: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
}

/// A `[[deps]]` entry: the fields of every type, checked by type.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDep {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    label: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    set: Option<Spanned<String>>,
    rev: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    id: Option<Spanned<String>>,
    name: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    hash: Option<Spanned<String>>,
}

impl RawEka03Lock {
    /// Duplicates among the parsed `deps`: one atom id or one name listed
    /// twice (eka 0.3 keys them by id and by name).
    fn check(&self, deps: &[Eka03Dep]) -> Result<(), Placed> {
        let mut ids: HashMap<AtomId, Range<usize>> = HashMap::new();
        let mut names: HashMap<&Label, Range<usize>> = HashMap::new();
        for (raw, dep) in self.deps.iter().zip(deps) {
            let (first, problem, at) = match dep {
                Eka03Dep::Atom(a) => {
                    let at = raw.id.as_ref().map_or(raw.kind.span(), |v| v.span());
                    (
                        ids.insert(a.id(), at.clone()),
                        Problem::DuplicateAtom(a.id()),
                        at,
                    )
                }
                Eka03Dep::Direct(d) => {
                    let at = raw.name.as_ref().map_or(raw.kind.span(), |v| v.span());
                    let problem = Problem::DuplicateName(d.name.clone());
                    (names.insert(&d.name, at.clone()), problem, at)
                }
            };
            if let Some(first) = first {
                return Err((problem, at, Some(first)));
            }
        }
        Ok(())
    }
}

impl RawSet {
    fn parse(&self) -> FieldResult<Eka03Set> {
        let tag = field(&self.tag, |s| match s.is_empty() {
            true => Err(Problem::Empty("tag")),
            false => Ok(s.to_owned()),
        })?;
        let mirrors = self
            .mirrors
            .iter()
            .map(|m| {
                field(m, |s| match s.is_empty() {
                    true => Err(Problem::Empty("mirror")),
                    false => Ok(Eka03Mirror::parse(s)),
                })
            })
            .collect::<FieldResult<_>>()?;
        Ok(Eka03Set { tag, mirrors })
    }
}

/// The fields of an atom, each given or not, and the span to blame when
/// one is missing.
struct AtomFields<'a> {
    at: Range<usize>,
    /// What holds them, for errors (`type = "atom"`, `[locker]`).
    kind: &'a str,
    label: Option<&'a Spanned<String>>,
    version: Option<&'a Spanned<String>>,
    set: Option<&'a Spanned<String>>,
    rev: Option<&'a Spanned<String>>,
    mirror: Option<&'a Spanned<String>>,
    id: Option<&'a Spanned<String>>,
}

impl AtomFields<'_> {
    fn parse(&self) -> FieldResult<Eka03Atom> {
        let need = |name: &'static str, v: Option<&Spanned<String>>| {
            v.cloned().ok_or_else(|| {
                let kind = self.kind.to_owned();
                (Problem::MissingField { field: name, kind }, self.at.clone())
            })
        };
        let label = label_field(&need("label", self.label)?)?;
        let version = field(&need("version", self.version)?, |s| {
            Version::parse(s).map_err(|e| Problem::Version(e.to_string()))
        })?;
        let set = id_field("set root", &need("set", self.set)?, parse_commit)?;
        // eka 0.3 reads the stated id without comparing it with the one its
        // set and label give (its own fixtures hold ids that disagree), so a
        // disagreeing id is read, not refused: the atom is checked against
        // its remote by set, label, commit and origin, never by this id.
        id_field("atom id", &need("id", self.id)?, atom_id)?;
        let rev = match self.rev {
            Some(r) => Some(id_field("atom commit", r, parse_commit)?),
            None => None,
        };
        let mirror = match self.mirror {
            Some(m) => Some(field(m, |s| match s.is_empty() {
                true => Err(Problem::Empty("mirror")),
                false => Ok(s.to_owned()),
            })?),
            None => None,
        };
        Ok(Eka03Atom {
            label,
            version,
            set,
            rev,
            mirror,
        })
    }
}

impl RawAtom {
    fn parse(&self) -> FieldResult<Eka03Atom> {
        AtomFields {
            at: self.label.span(),
            kind: "[locker]",
            label: Some(&self.label),
            version: Some(&self.version),
            set: Some(&self.set),
            rev: self.rev.as_ref(),
            mirror: self.mirror.as_ref(),
            id: Some(&self.id),
        }
        .parse()
    }
}

impl RawCompose {
    fn parse(&self) -> FieldResult<Eka03Compose> {
        let kind = self.kind.get_ref().as_str();
        let atom_fields = [
            ("label", &self.label),
            ("version", &self.version),
            ("set", &self.set),
            ("rev", &self.rev),
            ("mirror", &self.mirror),
            ("id", &self.id),
        ];
        let refuse = |fields: &[(&'static str, &Option<Spanned<String>>)]| {
            for (name, v) in fields {
                if let Some(v) = v {
                    let kind = format!("[compose] use = \"{kind}\"");
                    return Err((Problem::FieldNotAllowed { field: name, kind }, v.span()));
                }
            }
            Ok(())
        };
        let entry = || {
            self.entry
                .as_ref()
                .map(|e| e.get_ref().clone())
                .ok_or_else(|| {
                    let kind = format!("[compose] use = \"{kind}\"");
                    (
                        Problem::MissingField {
                            field: "entry",
                            kind,
                        },
                        self.kind.span(),
                    )
                })
        };
        Ok(match kind {
            "atom" => Eka03Compose::Atom {
                atom: AtomFields {
                    at: self.kind.span(),
                    kind: "[compose] use = \"atom\"",
                    label: self.label.as_ref(),
                    version: self.version.as_ref(),
                    set: self.set.as_ref(),
                    rev: self.rev.as_ref(),
                    mirror: self.mirror.as_ref(),
                    id: self.id.as_ref(),
                }
                .parse()?,
                entry: entry()?,
            },
            "nix" => {
                refuse(&atom_fields)?;
                Eka03Compose::Nix { entry: entry()? }
            }
            "static" => {
                refuse(&atom_fields)?;
                refuse(&[("entry", &self.entry)])?;
                Eka03Compose::Static
            }
            other => {
                let problem = Problem::UnknownType {
                    found: other.to_owned(),
                    expected: "atom, nix, static",
                };
                return Err((problem, self.kind.span()));
            }
        })
    }
}

impl RawDep {
    fn parse(&self) -> FieldResult<Eka03Dep> {
        let pin = RawPinFields {
            kind: &self.kind,
            name: self.name.as_ref(),
            url: self.url.as_ref(),
            hash: self.hash.as_ref(),
            version: self.version.as_ref(),
            rev: self.rev.as_ref(),
        };
        if DIRECT_TYPES.contains(&self.kind.get_ref().as_str()) {
            for (name, v) in [
                ("label", &self.label),
                ("set", &self.set),
                ("mirror", &self.mirror),
                ("id", &self.id),
            ] {
                pin.refuse(name, v.as_ref())?;
            }
            let direct = pin.parse()?.expect("a direct type");
            return Ok(Eka03Dep::Direct(direct));
        }
        if self.kind.get_ref() != "atom" {
            let problem = Problem::UnknownType {
                found: self.kind.get_ref().clone(),
                expected: "atom, nix, nix+git, nix+tar, nix+src",
            };
            return Err((problem, self.kind.span()));
        }
        for (name, v) in [
            ("name", &self.name),
            ("url", &self.url),
            ("hash", &self.hash),
        ] {
            pin.refuse(name, v.as_ref())?;
        }
        let atom = AtomFields {
            at: self.kind.span(),
            kind: "type = \"atom\"",
            label: self.label.as_ref(),
            version: self.version.as_ref(),
            set: self.set.as_ref(),
            rev: self.rev.as_ref(),
            mirror: self.mirror.as_ref(),
            id: self.id.as_ref(),
        }
        .parse()?;
        Ok(Eka03Dep::Atom(atom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::{AnyLock, DirectPin, LockedAtom};
    use miette::SourceSpan;

    const EKA_ROOT: &str = "4abbd2644bc3585e9be95deb277ccf48f6ed26ac";
    const ATOM_ROOT: &str = "68b63bd131acd23bdfd57983fe85ba7c092ce02f";

    fn spec_example() -> &'static str {
        let spec = include_str!("../../../spec/lock.md");
        let section = &spec[spec.find("### 9.1").unwrap()..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let end = start + section[start..].find("```").unwrap();
        &section[start..end]
    }

    fn commit(s: &str) -> CommitId {
        parse_commit(s).unwrap()
    }

    #[test]
    fn reads_the_spec_example() {
        let lock = Eka03Lock::parse(spec_example(), "atom.lock").unwrap();
        assert_eq!(lock.sets.len(), 2);
        let registry = &lock.sets[&commit(EKA_ROOT)];
        assert_eq!(registry.tag, "registry");
        assert_eq!(
            registry.mirrors,
            [
                Eka03Mirror::Local,
                Eka03Mirror::Url("/srv/atoms/registry.git".into())
            ]
        );
        let locker = lock.locker.as_ref().unwrap();
        assert_eq!(
            locker.id().to_string(),
            "r3rlam6bd31t9i04ggug7avs8vf8981q7a3b6gobemk1gfs50qm0"
        );
        let Some(Eka03Compose::Atom { atom, entry }) = &lock.compose else {
            panic!("{:?}", lock.compose)
        };
        assert_eq!((atom.label.as_str(), entry.as_str()), ("atom-nix", "."));
        let lib: Vec<&Eka03Atom> = lock.atoms().collect();
        assert_eq!(lib.len(), 1);
        assert_eq!(lib[0].rev, Some(commit(&"03".repeat(20))));
        assert_eq!(lock.tag_of(lib[0]), Some("registry"));
        assert!(lock.is_local(lib[0]));
        // The URL it was resolved from first; "::" is not a place to fetch.
        let (mirrors, refused) = lock.mirrors_of(lib[0]);
        assert_eq!(mirrors, ["/srv/atoms/registry.git".parse().unwrap()]);
        assert!(refused.is_empty());
        let direct: Vec<&DirectDep> = lock.direct().collect();
        assert_eq!(direct[0].name.as_str(), "nixpkgs");
        assert_eq!(direct[0].pin.type_name(), "nix+git");
        assert!(matches!(
            AnyLock::parse(spec_example(), "l").unwrap(),
            AnyLock::Eka03(_)
        ));
    }

    /// What eka 0.3 accepts besides its own output: keys in any order,
    /// inline tables, no `[locker]` (older versions), an unpublished
    /// atom of the project's own repository, every other type.
    #[test]
    fn reads_every_shape() {
        let id = |root: &str, label: &str| {
            AtomId::compute(&commit(root), &Label::parse(label).unwrap()).to_string()
        };
        let text = format!(
            r#"version = 1

[compose]
use = "nix"
entry = "."

[sets]
{EKA_ROOT} = {{tag = "foo", mirrors = ["ssh://git@example.com/home.git"]}}
{ATOM_ROOT} = {{tag = "baz", mirrors = ["::"]}}

[[deps]]
id = "{users}"
label = "users"
version = "0.1.4-local"
set = "{ATOM_ROOT}"
type = "atom"

[[deps]]
name = "hm-module"
url = "https://example.com/home-manager.git"
rev = "d0300c8808e41da81d6edfc202f3d3833c157daf"
type = "nix+git"

[[deps]]
type = "nix"
name = "foks"
url = "https://example.com/package.nix"
hash = "sha256:1spc2lsx16xy612lg8rsyd34j9fy6kmspxcvcfmawkxmyvi32g9v"

[[deps]]
type = "nix+tar"
name = "nixos-unstable"
url = "https://example.com/nixos-unstable.tar.gz"
hash = "sha256-gTrEEp5gEspIcCOx9PD8kMaF1iEmfBcTbO0Jag2QhQs="

[[deps]]
type = "nix+git"
name = "tagged"
url = "https://example.com/tagged.git"
version = "1.2.3"
rev = "aa0ebc256a5b0540e9df53c64ef6930471c98407"

[[deps]]
name = "registry"
url = "https://example.com/flake-registry.json"
type = "nix+src"
hash = "sha256-hClMprWwiEQe7mUUToXZAR5wbhoVFi+UuqLL2K/eIPw="
"#,
            users = id(ATOM_ROOT, "users")
        );
        let lock = Eka03Lock::parse(&text, "atom.lock").unwrap();
        assert_eq!(lock.locker, None);
        assert_eq!(lock.compose, Some(Eka03Compose::Nix { entry: ".".into() }));
        let users = lock.atoms().next().unwrap();
        assert_eq!((users.rev, users.mirror.as_deref()), (None, None));
        assert!(lock.is_local(users));
        assert!(lock.preferences().is_empty());
        let types: Vec<&str> = lock.direct().map(|d| d.pin.type_name()).collect();
        assert_eq!(types, ["nix+git", "nix", "nix+tar", "nix+git", "nix+src"]);
        let tagged = lock.direct().nth(3).unwrap();
        assert!(matches!(
            &tagged.pin,
            DirectPin::NixGit { version: Some(v), .. } if v.to_string() == "1.2.3"
        ));
    }

    /// A stated id that disagrees with its set and label is read as eka 0.3
    /// reads it (ignored); an id that is not an atom id at all is refused.
    #[test]
    fn a_disagreeing_id_is_read_like_eka_03() {
        let good = spec_example();
        let relabelled = good.replace("label = \"lib\"", "label = \"lib2\"");
        assert_ne!(relabelled, good);
        let lock = Eka03Lock::parse(&relabelled, "atom.lock").unwrap();
        assert!(lock.atoms().any(|a| a.label.as_str() == "lib2"));

        let stated = "\"n6bc941u6ara6di7a6ufqatkdctfilps4jemttm7jbtphja4uubg\"";
        assert!(good.contains(stated));
        let (_, at) = problem(&good.replace(stated, "\"not-an-id\""));
        assert_eq!(at, "\"not-an-id\"");
    }

    /// The problem and the text its span covers.
    fn problem(text: &str) -> (Problem, String) {
        match Eka03Lock::parse(text, "atom.lock").unwrap_err() {
            LockError::Invalid { problem, span, .. } => {
                let cut = |s: SourceSpan| text[s.offset()..s.offset() + s.len()].to_string();
                (problem, span.map(cut).unwrap_or_default())
            }
            e => panic!("expected a content problem, got {e:?}"),
        }
    }

    #[test]
    fn what_eka_03_would_not_write_is_refused() {
        let good = spec_example();
        let (p, at) = problem(&good.replace("type = \"nix+git\"", "type = \"pin\""));
        assert!(
            matches!(p, Problem::UnknownType { ref found, .. } if found == "pin"),
            "{p}"
        );
        assert_eq!(at, "\"pin\"");

        let (p, at) = problem(&good.replace(
            "rev = \"ffcdcf99d65c61956d882df249a9be53e5902ea5\"",
            "hash = \"sha256-x\"",
        ));
        assert_eq!(
            p,
            Problem::FieldNotAllowed {
                field: "hash",
                kind: "type = \"nix+git\"".into()
            }
        );
        assert_eq!(at, "\"sha256-x\"");

        let (p, at) = problem(&good.replace("name = \"nixpkgs\"\n", ""));
        assert_eq!(
            p,
            Problem::MissingField {
                field: "name",
                kind: "type = \"nix+git\"".into()
            }
        );
        assert_eq!(at, "\"nix+git\"");

        let (p, at) = problem(&good.replace("use = \"atom\"", "use = \"flake\""));
        assert!(matches!(p, Problem::UnknownType { .. }), "{p}");
        assert_eq!(at, "\"flake\"");

        let (p, at) = problem(&good.replace("version = 1\n", "version = 2\n"));
        assert_eq!(p, Problem::UnsupportedEka03Version("2".into()));
        assert_eq!(at, "2");

        let start = good.find("[[deps]]\ntype = \"atom\"").unwrap();
        let end = good.find("[[deps]]\ntype = \"nix+git\"").unwrap();
        let doubled = format!("{}{}", good, &good[start..end]);
        let (p, at) = problem(&doubled);
        assert!(matches!(p, Problem::DuplicateAtom(_)), "{p}");
        assert_eq!(
            at,
            "\"n6bc941u6ara6di7a6ufqatkdctfilps4jemttm7jbtphja4uubg\""
        );

        let e = Eka03Lock::parse(
            &good.replace("tag = \"atom\"", "tag = \"atom\"\nurl = \"x\""),
            "l",
        )
        .unwrap_err();
        assert!(matches!(e, LockError::Syntax { .. }), "{e:?}");
    }

    /// `[compose]` of each kind, with only the fields its kind has.
    #[test]
    fn compose_kinds() {
        let with = |compose: &str| format!("version = 1\n\n[compose]\n{compose}");
        let lock = Eka03Lock::parse(&with("use = \"static\"\n"), "atom.lock").unwrap();
        assert_eq!(lock.compose, Some(Eka03Compose::Static));
        let lock = Eka03Lock::parse(&with("use = \"nix\"\nentry = \"src\"\n"), "l").unwrap();
        assert_eq!(
            lock.compose,
            Some(Eka03Compose::Nix {
                entry: "src".into()
            })
        );

        let (p, at) = problem(&with("use = \"static\"\nentry = \".\"\n"));
        assert_eq!(
            p,
            Problem::FieldNotAllowed {
                field: "entry",
                kind: "[compose] use = \"static\"".into()
            }
        );
        assert_eq!(at, "\".\"");
        let (p, at) = problem(&with("use = \"nix\"\n"));
        assert_eq!(
            p.to_string(),
            "missing `entry`, which `[compose] use = \"nix\"` needs"
        );
        assert_eq!(at, "\"nix\"");
        let (p, _) = problem(&with("use = \"nix\"\nentry = \".\"\nlabel = \"x\"\n"));
        assert!(
            matches!(p, Problem::FieldNotAllowed { field: "label", .. }),
            "{p}"
        );
        // An atom composer needs the atom's fields.
        let (p, at) = problem(&with("use = \"atom\"\nentry = \".\"\n"));
        assert_eq!(
            p.to_string(),
            "missing `label`, which `[compose] use = \"atom\"` needs"
        );
        assert_eq!(at, "\"atom\"");
    }

    #[test]
    fn this_ekas_reader_says_it_is_eka_03s() {
        let e = Lockfile::parse(spec_example(), "atom.lock").unwrap_err();
        assert_eq!(e.problem(), Some(&Problem::Eka03Format));
        assert!(e.to_string().contains("written by eka 0.3"), "{e}");
    }

    fn converted(commit_of_lib: CommitId, version: &str) -> Lockfile {
        let lib = LockedAtom {
            label: Label::parse("lib").unwrap(),
            version: Version::parse(version).unwrap(),
            root: commit(EKA_ROOT),
            commit: commit_of_lib,
            origin: commit(&"ee".repeat(20)),
            digest: crate::ContentDigest([0xab; 32]),
            mirrors: vec!["/srv/atoms/registry.git".parse().unwrap()],
            deps: Vec::new(),
            signers: Vec::new(),
        };
        let edge = crate::Edge {
            label: lib.label.clone(),
            req: semver::VersionReq::parse("^1").unwrap(),
            id: lib.id(),
        };
        Lockfile::new(vec![edge], vec![lib]).unwrap()
    }

    #[test]
    fn conversion_keeps_the_pinned_commits() {
        let lock = Eka03Lock::parse(spec_example(), "atom.lock").unwrap();
        let pinned = commit(&"03".repeat(20));
        let lib_id = lock.atoms().next().unwrap().id();
        assert_eq!(
            lock.preferences(),
            HashMap::from([(lib_id, Version::new(1, 4, 0))])
        );
        let direct = lock.direct_kept(["nixpkgs", "other"]);
        assert_eq!(direct.len(), 1);
        let new = converted(pinned, "1.4.0").with_direct(direct).unwrap();
        let c = lock.conversion(&new, &[]).unwrap();
        assert_eq!((c.kept, c.direct), (1, 1));
        assert_eq!(
            c.to_string(),
            "atom.lock was written by eka 0.3; converted to this eka's format, keeping the 1 atom it pinned at the same commits and the 1 non-atom pin ([compose] and [locker], which pin eka 0.3's Nix code, are not kept: eka composes atoms itself)"
        );
        assert!(new.to_toml_string().contains("\n[[direct]]\ntype = \"nix+git\"\nname = \"nixpkgs\"\nurl = \"https://github.com/nixos/nixpkgs\"\nrev = \"ffcdcf99d65c61956d882df249a9be53e5902ea5\"\n"));

        // Moved by the manifest: said; rewritten: refused.
        let c = lock
            .conversion(&converted(commit(&"04".repeat(20)), "1.5.0"), &[])
            .unwrap();
        assert_eq!(c.moved.len(), 1);
        assert!(
            c.to_string().contains("`lib` moved from 1.4.0 to 1.5.0"),
            "{c}"
        );
        let e = lock
            .conversion(&converted(commit(&"04".repeat(20)), "1.4.0"), &[])
            .unwrap_err();
        assert!(matches!(e, ConversionError::Rewritten { .. }), "{e}");
    }

    /// The atoms the lock's atoms' own locks pin are kept too, the nearest
    /// pin winning, and checked the same way.
    #[test]
    fn conversion_keeps_what_dependencies_locks_pin() {
        let lib = converted(commit(&"03".repeat(20)), "1.4.0").atoms()[0].clone();
        let below = |version: &str| Want {
            version: Version::parse(version).unwrap(),
            ..Want::locked(&lib)
        };
        let top = Eka03Lock::parse("version = 1\n", "atom.lock").unwrap();
        let prefs = top.preferences_with(&[below("1.4.0"), below("1.3.0")]);
        assert_eq!(prefs, HashMap::from([(lib.id(), Version::new(1, 4, 0))]));
        let c = top
            .conversion(&converted(lib.commit, "1.4.0"), &[below("1.4.0")])
            .unwrap();
        assert_eq!((c.kept, c.kept_below), (0, 1));
        assert!(
            c.to_string().contains("the 1 atom their own locks pinned"),
            "{c}"
        );
        let moved = converted(commit(&"04".repeat(20)), "1.5.0");
        assert_eq!(
            top.conversion(&moved, &[below("1.4.0")])
                .unwrap()
                .kept_below,
            0
        );
        let rewritten = converted(commit(&"04".repeat(20)), "1.4.0");
        let e = top.conversion(&rewritten, &[below("1.4.0")]).unwrap_err();
        assert!(matches!(e, ConversionError::Rewritten { .. }), "{e}");

        // This lock's own pin is nearer than its atoms' locks.
        let lock = Eka03Lock::parse(spec_example(), "atom.lock").unwrap();
        let prefs = lock.preferences_with(&[Want {
            version: Version::new(1, 3, 0),
            ..Want::locked(&lib)
        }]);
        assert_eq!(prefs[&lib.id()], Version::new(1, 4, 0));
    }
}
