//! Why a registry could not answer: one error for every question asked of
//! remote sets, whether by a query (`eka versions`, `eka show`) or by
//! resolution, which names the set ([`RegistryError::in_set`]).

use atom_format::refs::AtomVersion;
use atom_format::Label;
use gix::ObjectId;
use semver::Version;

/// Why a registry question could not be answered.
#[derive(Clone, Debug, thiserror::Error, miette::Diagnostic)]
pub enum RegistryError {
    #[error("no repository URL to ask")]
    #[diagnostic(code(eka::registry::no_mirror))]
    NoMirrors,
    /// Offline, and no listing of these remotes is kept (or none covers
    /// what is asked).
    #[error("the refs of {} are not cached, and the network may not be used", .urls.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "))]
    #[diagnostic(code(eka::query::offline))]
    NotCached { urls: Vec<String> },
    #[error("cannot reach {}{}", in_set(.set), failures_text(.failures))]
    #[diagnostic(
        code(eka::registry::unreachable),
        help("check the URL, your network and that the server is up")
    )]
    Unreachable {
        set: Option<String>,
        /// What failed at each mirror.
        failures: Vec<MirrorFailure>,
    },
    #[error("mirrors {}disagree on {what}: `{url_a}` has {a}, but `{url_b}` has {b}", of_set(.set))]
    #[diagnostic(
        code(eka::registry::mirrors_disagree),
        help("one of these mirrors has been rewritten or tampered with; nothing was used from either — remove the wrong one from the set")
    )]
    Disagree {
        set: Option<String>,
        what: String,
        url_a: String,
        a: String,
        url_b: String,
        b: String,
    },
    #[error("refusing mirror `{url}`: its root is {}, but {expected} was expected", .found.map_or_else(|| "missing".to_owned(), |f| f.to_string()))]
    #[diagnostic(
        code(eka::registry::unexpected_root),
        help("this URL now serves another repository than the one locked; remove it from the set, or re-lock if the move is intended")
    )]
    UnexpectedRoot {
        url: String,
        expected: ObjectId,
        found: Option<ObjectId>,
    },
    #[error("{} publishes no atoms", urls_text(.urls))]
    #[diagnostic(code(eka::registry::no_atoms))]
    NoAtoms { urls: Vec<String> },
    #[error("{} publishes no atom `{label}`", urls_text(.urls))]
    #[diagnostic(code(eka::registry::unknown_atom))]
    UnknownAtom { label: Label, urls: Vec<String> },
    #[error("no version of `{label}` matches `{req}`; available: {}", versions_text(.available))]
    #[diagnostic(
        code(eka::registry::no_match),
        help("loosen the requirement, or leave out `@…` to take the newest")
    )]
    NoMatch {
        label: Label,
        req: String,
        available: Vec<Version>,
    },
    #[error("{}`{url}` publishes {version} twice: `{atom_ref}` points to {current}, but eka 0.3's `{legacy_ref}` to {legacy}", in_set(.set))]
    #[diagnostic(
        code(eka::registry::namespace_conflict),
        help("one of the two refs was rewritten or tampered with; nothing is locked from either until the wrong one is deleted from the repository")
    )]
    NamespaceConflict {
        set: Option<String>,
        url: String,
        version: AtomVersion,
        atom_ref: String,
        current: String,
        legacy_ref: String,
        legacy: String,
    },
    #[error("no answer in time from {}{}", in_set(.set), failures_text(.failures))]
    #[diagnostic(
        code(eka::registry::timed_out),
        help("a remote stayed silent for longer than the network timeout; check that it is up, or raise the timeout for a slow one")
    )]
    TimedOut {
        set: Option<String>,
        /// What failed at each mirror (one at least ran out of time).
        failures: Vec<MirrorFailure>,
    },
    #[error("cannot fetch from {}{}", in_set(.set), failures_text(.failures))]
    #[diagnostic(code(eka::registry::fetch))]
    Fetch {
        set: Option<String>,
        /// What failed at each mirror.
        failures: Vec<MirrorFailure>,
    },
    #[error("`{url}` has no `{name}`")]
    #[diagnostic(code(eka::registry::no_manifest))]
    MissingManifest { url: String, name: String },
    #[error("`{name}` on `{url}` is a {kind}, not the atom.toml blob")]
    #[diagnostic(code(eka::registry::bad_manifest))]
    NotABlob {
        url: String,
        name: String,
        kind: String,
    },
    #[error("cannot use the manifest store")]
    #[diagnostic(code(eka::registry::store))]
    Store(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
}

impl RegistryError {
    /// No mirror could be asked: [`RegistryError::TimedOut`] if one ran out
    /// of time (the advice differs), else [`RegistryError::Unreachable`].
    pub fn unreachable(set: Option<String>, failures: Vec<MirrorFailure>) -> Self {
        match failures.iter().any(|f| f.timed_out) {
            true => RegistryError::TimedOut { set, failures },
            false => RegistryError::Unreachable { set, failures },
        }
    }

    /// No mirror could be fetched from: [`RegistryError::TimedOut`] if one
    /// ran out of time, else [`RegistryError::Fetch`].
    pub fn fetch(set: Option<String>, failures: Vec<MirrorFailure>) -> Self {
        match failures.iter().any(|f| f.timed_out) {
            true => RegistryError::TimedOut { set, failures },
            false => RegistryError::Fetch { set, failures },
        }
    }

    /// The same error, said of the set `set` (as resolution reports it).
    pub fn in_set(mut self, name: &str) -> Self {
        use RegistryError::*;
        if let Unreachable { set, .. }
        | TimedOut { set, .. }
        | Disagree { set, .. }
        | NamespaceConflict { set, .. }
        | Fetch { set, .. } = &mut self
        {
            *set = Some(name.to_owned());
        }
        self
    }
}

/// `set <set>: `, when the error is said of a set.
fn in_set(set: &Option<String>) -> String {
    set.as_ref()
        .map_or_else(String::new, |s| format!("set {s}: "))
}

/// `of set <set> `, when the error is said of a set.
fn of_set(set: &Option<String>) -> String {
    set.as_ref()
        .map_or_else(String::new, |s| format!("of set {s} "))
}

/// What failed at one mirror of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirrorFailure {
    /// The mirror's URL as the set names it.
    pub url: String,
    /// What failed there, with its causes, in one line.
    pub reason: String,
    /// Whether it failed by staying silent past the timeout.
    pub timed_out: bool,
}

impl MirrorFailure {
    pub fn new(url: impl Into<String>, reason: impl Into<String>) -> Self {
        MirrorFailure {
            url: url.into(),
            reason: reason.into(),
            timed_out: false,
        }
    }

    /// The failure `error` of the remote at `url`.
    pub fn of(url: impl Into<String>, error: &atom_git::RemoteError) -> Self {
        MirrorFailure {
            timed_out: error.timed_out(),
            ..MirrorFailure::new(url, error.reason())
        }
    }

    /// A mirror that had not answered after `waited`.
    pub fn silent(url: impl Into<String>, waited: std::time::Duration) -> Self {
        let reason = format!("no answer within {} s", waited.as_secs_f32());
        MirrorFailure {
            timed_out: true,
            ..MirrorFailure::new(url, reason)
        }
    }
}

fn failures_text(f: &[MirrorFailure]) -> String {
    f.iter()
        .map(|f| format!("`{}` ({})", f.url, f.reason))
        .collect::<Vec<_>>()
        .join(", ")
}

fn urls_text(urls: &[String]) -> String {
    urls.iter()
        .map(|u| format!("`{u}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn versions_text(v: &[Version]) -> String {
    if v.is_empty() {
        "none".to_owned()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}
