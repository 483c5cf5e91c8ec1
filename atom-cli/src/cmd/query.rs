//! What `eka versions`, `eka list` and `eka show` share: the mirror
//! arguments, reading targets with the user's aliases, and warnings.
//!
//! `--offline`: online, these keep each remote's listing in eka's cache
//! (as cargo keeps its index); under `--offline` they answer from it,
//! saying how old it is, and ask the repositories on this machine (paths,
//! `file://`) as usual. The yank tags read online are kept in the cache
//! too, so that an offline answer says why a version was yanked.

use atom_format::terminal::escape_line;
use atom_lock::registry::listings::Listings;
use atom_lock::registry::{Listing, Namespace, QueryWarning};
use atom_ops::query::AtomTarget;
use atom_ops::Warning;
use miette::IntoDiagnostic;

use crate::Global;

/// Mirrors given on the command line, beside the URI's repository.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MirrorArgs {
    /// Another URL (or alias) of the same repository, asked concurrently;
    /// repeat for more mirrors
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
}

/// The atom `uri` names, with the aliases of the current directory.
pub fn atom_target(uri: &str, mirrors: &MirrorArgs, global: &Global) -> miette::Result<AtomTarget> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let mut warnings = Vec::new();
    let target = atom_ops::query::atom_target(uri, &mirrors.mirrors, &cwd, &mut warnings);
    warn_all(&warnings, global);
    Ok(target?)
}

/// `target` of a query (`versions`, `show`).
pub fn query_target(
    uri: &str,
    mirrors: &MirrorArgs,
    global: &Global,
) -> miette::Result<AtomTarget> {
    atom_target(uri, mirrors, global)
}

/// Whether the query keeps its listings or, under `--offline`, answers
/// from them.
pub fn listings(global: &Global) -> miette::Result<Listings> {
    Ok(atom_ops::query::listings_for(global.offline())?)
}

/// The yanks of each yanked version, by label and version.
pub type YankLines = std::collections::BTreeMap<
    (atom_format::Label, semver::Version),
    Vec<atom_ops::yank::YankLine>,
>;

/// Why `listing`'s yanked versions are yanked, read from their tags on
/// its first repository and kept in the cache; from a kept listing, read
/// from the tags the cache keeps.
pub fn yanks(listing: &Listing, connections: &atom_git::Connections) -> YankLines {
    let url = &listing.answered[0];
    // A repository on this machine is asked, offline too, and its tags are
    // not kept (nor is its listing).
    if atom_ops::query::is_local(url) {
        return atom_ops::yank::yanks(listing, url.as_str(), connections, None);
    }
    let cache_dir = atom_git::cache::default_dir().ok();
    match (listing.listed, cache_dir) {
        (Some(_), Some(dir)) => atom_ops::yank::kept_yanks(listing, &dir),
        // A kept listing comes from a cache directory.
        (Some(_), None) => Default::default(),
        (None, dir) => atom_ops::yank::yanks(listing, url.as_str(), connections, dir.as_deref()),
    }
}

/// Under `--offline`, a note on stderr when a yank's reason is unknown
/// because the cache did not keep its tag, saying how to keep it (unless
/// `--quiet`).
pub fn note_unkept(yanks: &YankLines, global: &Global) {
    let unkept = yanks
        .values()
        .flatten()
        .any(|l| l.unknown.as_deref() == Some(atom_ops::yank::NOT_KEPT));
    if unkept && !global.quiet {
        eprintln!(
            "note: offline: the reasons of some yanks are unknown (their tags were not \
             kept); run the query once without --offline to keep them"
        );
    }
}

/// The yanks of one yanked version, for `--json`.
#[derive(serde::Serialize)]
pub struct Yanked {
    version: String,
    yanks: Vec<atom_ops::yank::YankLine>,
}

/// The yanked versions of `label` among `yanks` (from [`yanks`]).
pub fn yanked_of(yanks: &YankLines, label: &atom_format::Label) -> Vec<Yanked> {
    yanks
        .iter()
        .filter(|((l, _), _)| l == label)
        .map(|((_, v), lines)| Yanked {
            version: v.to_string(),
            yanks: lines.clone(),
        })
        .collect()
}

/// `time` in whole seconds since the epoch.
pub fn epoch_seconds(time: Option<std::time::SystemTime>) -> Option<u64> {
    time.map(|t| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    })
}

/// Under `--offline`, a note on stderr saying that the answer comes from
/// a kept listing, and how old it is (unless `--quiet`).
pub fn note_kept(listing: &Listing, global: &Global) {
    note_kept_at(listing.listed, &listing.answered, global);
}

/// [`note_kept`] of a listing made at `listed` (if it was kept) of the
/// repositories `answered`.
pub fn note_kept_at(
    listed: Option<std::time::SystemTime>,
    answered: &[atom_lock::RepoUrl],
    global: &Global,
) {
    let Some(listed) = listed else { return };
    if global.quiet {
        return;
    }
    let age = std::time::SystemTime::now()
        .duration_since(listed)
        .unwrap_or_default();
    eprintln!(
        "note: offline: answered from the listing of {} kept {} ago",
        answered
            .iter()
            .filter(|u| !atom_ops::query::is_local(u))
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", "),
        age_text(age)
    );
}

/// `42 seconds`, `3 minutes`, `5 hours`, `2 days`: the largest whole unit.
fn age_text(age: std::time::Duration) -> String {
    let s = age.as_secs();
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86400 => (s / 3600, "hour"),
        _ => (s / 86400, "day"),
    };
    crate::output::count(usize::try_from(n).unwrap_or(usize::MAX), unit)
}

/// The repository `repo` names, with the aliases of the current directory.
pub fn repo_target(
    repo: &str,
    mirrors: &MirrorArgs,
    global: &Global,
) -> miette::Result<Vec<atom_lock::RepoUrl>> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let mut warnings = Vec::new();
    let urls = atom_ops::query::repo_target(repo, &mirrors.mirrors, &cwd, &mut warnings);
    warn_all(&warnings, global);
    Ok(urls?)
}

fn warn_all(warnings: &[Warning], global: &Global) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {}", escape_line(&w.to_string()));
        }
    }
}

/// Prints the warnings of a query on stderr (unless `--quiet`).
pub fn warn(warnings: &[QueryWarning], global: &Global) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {}", escape_line(&w.to_string()));
        }
    }
}

/// The short note for a version found in eka 0.3's namespace.
pub fn namespace_note(ns: Namespace) -> &'static str {
    match ns {
        Namespace::Atoms => "",
        Namespace::Eka03 => "(eka 0.3)",
    }
}

/// What a version's row says beyond its number and commit: its layout,
/// how many signatures it has, and whether (and why) it is yanked.
pub fn notes(
    v: &atom_lock::registry::VersionEntry,
    yanks: Option<&Vec<atom_ops::yank::YankLine>>,
) -> String {
    let mut notes: Vec<String> = Vec::new();
    let ns = namespace_note(v.namespace);
    if !ns.is_empty() {
        notes.push(ns.to_owned());
    }
    match v.signatures.len() {
        0 => {}
        1 => notes.push("signed".to_owned()),
        n => notes.push(format!("signed ×{n}")),
    }
    if v.is_yanked() {
        notes.push(yank_note(yanks));
    }
    notes.join(", ")
}

/// `yanked: <reason>` (each reason once), or why the reason is unknown.
pub fn yank_note(lines: Option<&Vec<atom_ops::yank::YankLine>>) -> String {
    let lines = lines.map_or(&[][..], Vec::as_slice);
    let mut reasons: Vec<&str> = lines
        .iter()
        .filter(|l| l.ignored.is_none())
        .filter_map(|l| l.reason.as_deref())
        .collect();
    reasons.dedup();
    let unknown = lines.iter().find_map(|l| l.unknown.as_deref());
    let ignored = lines.iter().find_map(|l| l.ignored.as_deref());
    match (reasons.as_slice(), unknown, ignored) {
        ([], Some(why), _) => format!("yanked (reason unknown: {why})"),
        ([], None, Some(why)) => format!("yanked (its yank does not hold: {why})"),
        ([], None, None) => "yanked".to_owned(),
        _ => format!("yanked: {}", reasons.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use atom_ops::yank::{YankLine, NOT_KEPT};

    fn line(reason: Option<&str>, ignored: Option<&str>, unknown: Option<&str>) -> YankLine {
        YankLine {
            signer: None,
            reason: reason.map(str::to_owned),
            ignored: ignored.map(str::to_owned),
            unknown: unknown.map(str::to_owned),
        }
    }

    /// A reason that counts wins; else a yank whose tag was not read says
    /// the reason is unknown (it may count) before one that does not hold.
    #[test]
    fn a_yank_note_says_the_reason_or_why_it_is_unknown() {
        let note = |lines: Vec<YankLine>| super::yank_note(Some(&lines));
        let counts = line(Some("CVE-1"), None, None);
        let forged = line(Some("copied"), Some("a yank of another atom"), None);
        let unkept = line(None, None, Some(NOT_KEPT));
        assert_eq!(
            note(vec![forged.clone(), unkept.clone(), counts.clone()]),
            "yanked: CVE-1"
        );
        assert_eq!(
            note(vec![forged.clone(), unkept]),
            "yanked (reason unknown: its tag was not kept)"
        );
        assert_eq!(
            note(vec![forged]),
            "yanked (its yank does not hold: a yank of another atom)"
        );
        assert_eq!(super::yank_note(None), "yanked");
    }
}
