//! Errors, rendered in one place (as jj's `command_error.rs`).
//!
//! Every command returns a [`miette::Report`]. The libraries' errors say
//! what went wrong and why (their causes, as `#[source]` chains), but know
//! nothing of the command line; here they get:
//! - the `help:` line that names an eka command or flag ([`help_for`]),
//!   unless the library already gave a help that names none;
//! - their chain of causes without the links that add nothing: a cause
//!   that repeats the message above it, or a bare error kind such as
//!   `NotFound` (an io error's name, not an explanation);
//! - with `--json`, the same as one JSON object on stdout.

use std::fmt;

use atom_format::terminal::escape_text;
use miette::Diagnostic;

use crate::Global;

/// Prints an error: a miette report on stderr, and with `--json` also a
/// JSON object on stdout so a script always gets a parsable answer.
pub fn print(report: miette::Report, global: &Global) {
    print_as(report, global.json, &global.network);
}

fn print_as(report: miette::Report, json: bool, network: &atom_ops::Network) {
    let help = timeout_help(&report, network).or_else(|| help_for(&report));
    let diagnostic: Box<dyn Diagnostic + Send + Sync> = report.into();
    let rendered = Rendered::new(diagnostic, help);
    if json {
        let value = serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "error": rendered.to_string(),
            "code": rendered.code().map_or_else(|| "eka::error".to_owned(), |c| c.to_string()),
            "help": rendered.help().map(|h| h.to_string()),
            "causes": rendered.cause_texts(),
        });
        outln!("{value}");
    }
    eprintln!("{:?}", miette::Report::new(rendered));
}

/// Prints an error met before the command line is parsed (the
/// configuration file's, an alias's), as [`print()`] does; `--json` is
/// looked for among the arguments.
pub fn print_early(report: miette::Report) {
    let json = std::env::args_os().any(|a| a == "--json");
    print_as(report, json, &atom_ops::Network::default());
}

/// Reports a command line clap refused (help and `--version` are printed
/// as asked); under `--json`, also as a JSON error on stdout with the code
/// `eka::cli::usage`.
pub fn usage(e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let shown = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os().any(|a| a == "--json");
    if json && !shown {
        let rendered = e.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let value = serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "error": first.strip_prefix("error: ").unwrap_or(first),
            "code": "eka::cli::usage",
            "help": "see `eka --help`, or `eka <command> --help`",
            "causes": [],
        });
        outln!("{value}");
    }
    let _ = e.print();
    std::process::ExitCode::from(e.exit_code().clamp(0, 255) as u8)
}

/// A library's diagnostic with the CLI's help line and a pruned chain of
/// causes; everything else (code, labels, source code) is the library's.
struct Rendered {
    inner: Box<dyn Diagnostic + Send + Sync>,
    help: Option<String>,
    causes: Option<Box<Cause>>,
    /// The snippet's source, escaped, when it holds terminal controls.
    escaped: Option<EscapedSource>,
}

impl Rendered {
    fn new(inner: Box<dyn Diagnostic + Send + Sync>, help: Option<String>) -> Self {
        let causes = pruned_causes(&*inner);
        let escaped = EscapedSource::of(&*inner);
        Rendered {
            inner,
            help,
            causes,
            escaped,
        }
    }

    fn cause_texts(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut next = self.causes.as_deref();
        while let Some(c) = next {
            out.push(c.text.clone());
            next = c.next.as_deref();
        }
        out
    }
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Messages quote what remotes sent (ref names, servers' words): their
/// control characters are shown escaped, never sent to the terminal.
impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape_text(&self.inner.to_string()))
    }
}

impl std::error::Error for Rendered {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.causes
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl Diagnostic for Rendered {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match &self.help {
            Some(h) => Some(Box::new(h)),
            None => self.inner.help(),
        }
    }
    fn url<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.inner.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match &self.escaped {
            Some(e) => Some(&e.source),
            None => self.inner.source_code(),
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        match &self.escaped {
            Some(e) => Some(Box::new(e.labels.iter().cloned())),
            None => self.inner.labels(),
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        self.inner.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

/// The source text of a diagnostic's snippet, escaped as
/// [`escape_text`] escapes messages, with its labels moved to match: a
/// manifest, lock or Nix file from a remote may hold ESC, OSC or CSI
/// sequences, which miette would otherwise print raw under the error.
struct EscapedSource {
    source: miette::NamedSource<String>,
    labels: Vec<miette::LabeledSpan>,
}

impl EscapedSource {
    /// `None` when nothing needs escaping (or there is no snippet).
    fn of(inner: &dyn Diagnostic) -> Option<Self> {
        let code = inner.source_code()?;
        let labels: Vec<miette::LabeledSpan> = inner.labels()?.collect();
        let first = labels.first()?;
        // The whole text: the first label's span with every line around it.
        let whole = code.read_span(first.inner(), 1 << 20, 1 << 20).ok()?;
        let text = std::str::from_utf8(whole.data()).ok()?;
        let start = whole.span().offset();
        let escaped = escape_text(text);
        if matches!(escaped, std::borrow::Cow::Borrowed(_)) {
            return None;
        }
        let moved = |offset: usize| {
            let offset = offset.saturating_sub(start).min(text.len());
            let before = text.get(..offset).unwrap_or(text);
            escape_text(before).len()
        };
        let labels = labels
            .iter()
            .map(|l| {
                let from = moved(l.offset());
                let to = moved(l.offset() + l.len());
                let label = l.label().map(str::to_owned);
                match l.primary() {
                    true => miette::LabeledSpan::new_primary_with_span(label, from..to),
                    false => miette::LabeledSpan::new_with_span(label, from..to),
                }
            })
            .collect();
        let name = whole.name().unwrap_or("source").to_owned();
        let mut source = miette::NamedSource::new(name, escaped.into_owned());
        if let Some(language) = whole.language() {
            source = source.with_language(language);
        }
        Some(EscapedSource { source, labels })
    }
}

/// One cause, as text: the chain is rebuilt from the library's with the
/// uninformative links left out.
#[derive(Debug)]
struct Cause {
    text: String,
    next: Option<Box<Cause>>,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.next
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

/// The causes of `top` worth showing, in order, as a chain.
fn pruned_causes(top: &dyn Diagnostic) -> Option<Box<Cause>> {
    let mut kept: Vec<String> = Vec::new();
    let mut above = escape_text(&top.to_string()).into_owned();
    let mut next = top.source();
    while let Some(e) = next {
        let text = escape_text(&e.to_string()).into_owned();
        if !repeats(&above, &text) && !atom_git::is_bare_kind(&text) {
            kept.push(text.clone());
        }
        above = text;
        next = e.source();
    }
    kept.into_iter()
        .rev()
        .fold(None, |next, text| Some(Box::new(Cause { text, next })))
}

/// Whether `cause` says nothing the message above it did not (a message
/// that quotes its source, as `atom `x`: {source}` does).
fn repeats(above: &str, cause: &str) -> bool {
    !cause.is_empty() && above.contains(cause)
}

/// What went silent past the network timeout.
enum Silence {
    /// A push, which may have landed.
    Push,
    /// A listing or a fetch.
    Remote,
}

/// Whether `report` is (or was caused by) a remote that went silent: by
/// its code, which wrappers that are transparent keep, or by its causes.
fn timed_out(report: &miette::Report) -> Option<Silence> {
    use atom_git::transport::TransportError;
    let diagnostic: &dyn Diagnostic = report.as_ref();
    match diagnostic.code().map(|c| c.to_string()).as_deref() {
        Some("atom::remote::push_timed_out") => return Some(Silence::Push),
        Some("atom::remote::timed_out" | "eka::registry::timed_out" | "eka::fetch::timed_out") => {
            return Some(Silence::Remote)
        }
        _ => {}
    }
    report.chain().find_map(|e| {
        if e.downcast_ref::<atom_git::PushError>()
            .is_some_and(|p| p.timed_out.is_some())
        {
            return Some(Silence::Push);
        }
        let silent = matches!(e.downcast_ref(), Some(TransportError::TimedOut { .. }))
            || matches!(
                e.downcast_ref(),
                Some(atom_lock::registry::RegistryError::TimedOut { .. })
            )
            || matches!(
                e.downcast_ref(),
                Some(atom_lock::fetch::FetchError::TimedOut { .. })
            );
        silent.then_some(Silence::Remote)
    })
}

/// For an error caused by a remote that went silent: where the timeout
/// it ran out of was set, and how to raise it.
fn timeout_help(report: &miette::Report, network: &atom_ops::Network) -> Option<String> {
    use atom_ops::config::{Source, TIMEOUT_VAR};
    let pushed = match timed_out(report)? {
        Silence::Push => true,
        Silence::Remote => false,
    };
    let secs = network.timeout.as_secs();
    let set_by = match network.timeout_source {
        Source::Env => format!("{TIMEOUT_VAR}={secs}"),
        Source::File => format!("[net] timeout = {secs} in the configuration file"),
        Source::Default | Source::Git => format!("the default of {secs} s"),
    };
    let again = match pushed {
        true => "run the command again to finish it (it finds what landed); ",
        false => "",
    };
    Some(format!(
        "{again}the network timeout is {set_by}; for a slow remote, raise it with {TIMEOUT_VAR}=<seconds> or [net] timeout = <seconds> in the configuration file (`eka config` shows where it is)"
    ))
}

/// The help line the command line adds to a library error: what to run or
/// which flag to pass. `None` keeps the library's own help.
pub fn help_for(report: &miette::Report) -> Option<String> {
    use atom_lock::fetch::FetchError;
    use atom_lock::project::ProjectError;
    if let Some(fetch) = fetch_error(report) {
        match fetch {
            FetchError::Rewritten { label, .. } => return Some(format!(
                "a published version must never change; if you trust the new commit, run `eka update {label}` to lock it again"
            )),
            FetchError::Deleted { label, .. } => return Some(format!(
                "the version is gone from that remote; lock another version with `eka update {label}`"
            )),
            _ => {}
        }
    }
    if let Some(ProjectError::Rewritten { label, .. }) = project_error(report) {
        return Some(format!(
            "a published version must never change; if you trust the new commit, run `eka update {label}` to lock it again"
        ));
    }
    if let Some(atom_ops::eval::EvalFailure::Source(e)) = report.downcast_ref() {
        return source_help(e).map(str::to_owned);
    }
    if let Some(atom_ops::query::QueryError::NoRepository { label, .. }) = report.downcast_ref() {
        return Some(format!(
            "write `<repository>::<label>`, e.g. `gh:owner/repo::{label}` or `./registry.git::{label}`"
        ));
    }
    if let Some(atom_ops::new::NewError::Label { from_directory, .. }) = report.downcast_ref() {
        return Some(match from_directory {
            true => "the directory name is not a valid label; pass one with --label".to_owned(),
            false => "a label starts with a letter and continues with letters, digits, `_` or `-`"
                .to_owned(),
        });
    }
    let diagnostic: &dyn Diagnostic = report.as_ref();
    let code = diagnostic.code()?.to_string();
    if let Some(next) = next_step_for_code(&code) {
        return Some(match diagnostic.help() {
            Some(why) => format!("{why}; {next}"),
            None => next.to_owned(),
        });
    }
    help_for_code(&code).map(str::to_owned)
}

/// What to run, added after the library's own help (which says why), by
/// diagnostic code.
fn next_step_for_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "eka::lock::syntax" | "eka::lock::invalid" => {
            "run `eka lock` to write it again from atom.toml"
        }
        "eka::lock::eka03_rewritten" => {
            "if you trust the new commit, delete atom.lock and run `eka lock`"
        }
        _ => return None,
    })
}

/// What to do when an atom directory cannot be opened.
fn source_help(e: &atom_modules::SourceError) -> Option<&'static str> {
    use atom_modules::SourceError::*;
    Some(match e {
        NotAnAtom(_) => "create one with `eka new <dir>`, or name an atom directory",
        NoRepository(_) => "atoms are read from git: `git init` and commit the atom, or pass --worktree to read the files on disk",
        NotCommitted { .. } => "commit the atom, or pass --worktree to evaluate the files on disk",
        _ => return None,
    })
}

/// The fetch error `report` is, through the operations' wrappers (which
/// are transparent: their chain of causes skips the error they wrap).
fn fetch_error(report: &miette::Report) -> Option<&atom_lock::fetch::FetchError> {
    use atom_lock::project::ProjectError;
    use atom_ops::deps::DepsError;
    use atom_ops::eval::EvalFailure;
    fn in_project(p: &ProjectError) -> Option<&atom_lock::fetch::FetchError> {
        match p {
            ProjectError::Fetch(f) => Some(f),
            _ => None,
        }
    }
    if let Some(e) = report.downcast_ref::<DepsError>() {
        return match e {
            DepsError::Fetch(f) => Some(f),
            DepsError::Project(p) => in_project(p),
            _ => None,
        };
    }
    match report.downcast_ref::<EvalFailure>()? {
        EvalFailure::Fetch(f) => Some(f),
        EvalFailure::Project(p) => in_project(p),
        _ => None,
    }
}

/// The project error `report` is, through the operations' wrappers.
fn project_error(report: &miette::Report) -> Option<&atom_lock::project::ProjectError> {
    use atom_ops::deps::DepsError;
    use atom_ops::eval::EvalFailure;
    if let Some(DepsError::Project(p)) = report.downcast_ref::<DepsError>() {
        return Some(p);
    }
    match report.downcast_ref::<EvalFailure>()? {
        EvalFailure::Project(p) => Some(p),
        _ => None,
    }
}

/// Help lines by diagnostic code.
fn help_for_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "atom::git::not_a_repository" => {
            "run eka inside a git repository (`git init`), or pass the path of one"
        }
        "atom::git::empty" => {
            "commit your atoms first: `git add . && git commit`; eka publishes committed trees only"
        }
        "atom::git::revision" => "pass a branch, tag or commit id with --rev",
        "atom::git::unknown_remote" => {
            "name a remote of this repository (`git remote -v` lists them), or give a URL or path"
        }
        "atom::remote::unreachable" => {
            "check the URL and that the server is up; for a remote name, see `git remote -v`"
        }
        "atom::remote::push_rejected" => {
            "nothing was published; fix the cause above and run the command again"
        }
        "atom::publish::dirty" => {
            "commit the changes first (eka publishes committed trees), or pass --allow-dirty to publish HEAD as it is"
        }
        "atom::publish::unresolvable" => {
            "fix the dependencies in atom.toml (`eka lock` checks them), or pass --no-verify to publish anyway"
        }
        "atom::publish::no_atoms" => {
            "an atom is a directory holding atom.toml; create one with `eka new <dir>` and commit it"
        }
        "atom::publish::not_in_atom" => {
            "name atom directories (`eka publish path/to/atom`) or pass --all"
        }
        "atom::verify::empty" => {
            "publish atoms with `eka publish`, or name a repository that has some"
        }
        "eka::verify::not_a_remote" => {
            "name a remote, a URL or a path first (`eka verify <remote> [LABEL…]`), or a label published here"
        }
        "atom::verify::unknown" => {
            "list what is published with `git ls-remote <remote> 'refs/atoms/*'`"
        }
        "eka::cache::empty" => "run `eka fetch` without --offline first",
        "eka::new::no_name" => "pass a label with --label",
        "eka::new::version" => "versions are semantic versions, like 0.1.0 or 1.0.0-rc.1",
        "eka::new::ref_name" => {
            "choose a version git can store in a ref name (a pre-release may not end in `.lock`)"
        }
        "eka::new::exists" => "edit the existing atom.toml instead",
        "eka::init::not_a_directory" => "name a directory (it is created if missing)",
        "eka::init::label_differs" => {
            "leave out --label to keep the atom as it is, or name another directory"
        }
        "eka::init::remote_differs" => {
            "leave out --remote to keep it, change it with `git remote set-url`, or add another with --remote-name"
        }
        "eka::init::remote_url" => "give a URL (`https://…`, `ssh://…`, `file://…`) or a path",
        "eka::init::remote_name" => "a remote's name is a word git accepts in a ref name, like `origin`",
        "atom::git::setup" => "nothing more was written; fix the cause and run `eka init` again",
        "eka::config::invalid" => {
            "fix the file (its keys are listed in eka's README, \"Configuration\"); `eka config` shows what eka reads"
        }
        "eka::cache::gc_dir" => {
            "name the directories holding your projects (`eka cache gc ~/src`): what their atom.lock files pin is kept"
        }
        "eka::cache::gc_lock" => {
            "fix that atom.lock (`eka lock` writes it again), or leave its directory out of `eka cache gc`"
        }
        "eka::cache::walk" => "check the directory's permissions, or leave it out of `eka cache gc`",
        "eka::cache::git_gc" | "eka::cache::remove" => {
            "the atoms no lock pins may be partly removed; run `eka cache gc` again, and `eka fetch` brings back what a project needs"
        }
        "eka::config::io" => "check the file's permissions, or point EKA_CONFIG at another file",
        "eka::config::recursive_alias" => {
            "an alias may stand for another, but not come back to itself: edit [alias] in the configuration file"
        }
        "eka::new::repository_root" => {
            "an atom is a subdirectory of the repository: `eka new <dir>` with a directory below the root"
        }
        "eka::new::label_taken" => {
            "labels identify atoms within a repository: pass another one with --label"
        }
        "eka::lock::missing" => "run `eka lock` first, and commit atom.lock",
        "eka::lock::eka03" => {
            "run `eka lock` to convert it to this eka's format (it keeps the versions it pins); `eka eval` reads it as it is"
        }
        "eka::lock::would_change" => {
            "run the command without --locked (or --frozen), and commit atom.lock"
        }
        "eka::lock::offline" => "run it without --offline (or --frozen)",
        "eka::build::not_derivation" => {
            "name a derivation (`eka build ATOM#attr.path`), or a set or list of them"
        }
        "eka::eval::names" => {
            "--names lists an atom's public names; name an atom directory (holding atom.toml)"
        }
        "eka::eval::offline" => {
            "evaluate it from a project whose atom.lock pins it, or drop --offline"
        }
        "eka::eval::no_root" => {
            "publish from the repository again with this eka, which writes refs/atoms/_root"
        }
        "eka::resolve::not_a_registry" => {
            "is this the right repository? atoms are published there with `eka publish`"
        }
        "eka::project::no_manifest" => {
            "run eka inside an atom (`eka new <path>` creates one)"
        }
        "eka::project::not_locked" => {
            "`eka update` takes labels of locked atoms; see atom.lock"
        }
        "eka::project::no_repository" => {
            "write the repository before the label: `eka add <url>::<label>[@<requirement>]`"
        }
        "eka::registry::no_atoms" => {
            "no refs under refs/atoms/ (nor eka 0.3's refs/eka/atoms/) there; publish with `eka publish`, or check the URL"
        }
        "eka::registry::unknown_atom" => {
            "list the atoms there with `eka list <repository>`"
        }
        "eka::registry::no_manifest" => {
            "the version's manifest ref is missing on this remote; `eka verify` it"
        }
        "eka::fetch::unreachable" => {
            "check the URLs and that the servers are up; `--offline` uses the cache alone"
        }
        "atom::hook::exists" => {
            "merge it by hand (have it pipe its input to `eka hook pre-receive`), or remove it and run `eka hook install` again"
        }
        "atom::hook::input" => {
            "`eka hook pre-receive` is run by git, which writes `<old> <new> <ref>` lines on its stdin; install it with `eka hook install`"
        }
        "atom::sign::no_key" => {
            "pass --key ~/.ssh/id_ed25519, or configure one: `git config eka.signingKey ~/.ssh/id_ed25519`"
        }
        "atom::sign::not_ssh" => {
            "sign with SSH as git does (`git config gpg.format ssh`), or give eka its own key: --key or `git config eka.signingKey`"
        }
        "atom::sign::not_published" => {
            "list the published versions with `eka versions <remote>::<label>`"
        }
        "atom::trust::refused" => {
            "`eka verify <repository> <label> --allowed-signers <file>` shows each signature; have the version signed by a key the set trusts (`eka sign`), or trust its key in the set's allowed_signers"
        }
        "atom::trust::lock_untrusted" => {
            "run `eka update` to lock versions the policy admits, or fix the policy; then commit atom.lock"
        }
        "eka::fetch::not_cached" => {
            "run `eka fetch` without --offline"
        }
        "eka::query::offline" => {
            "run it once without --offline: eka keeps each remote's listing it gets, and --offline answers from it (a path or a file:// URL is always asked)"
        }
        "eka::verify::offline" => {
            "run it without --offline; offline, eka verifies only repositories on this machine (the current one by default)"
        }
        "eka::publish::offline" => {
            "publishing pushes to the remote: run it without --offline (`--dry-run` shows what would be published)"
        }
        "eka::deps::no_lock" | "eka::deps::not_locked" | "eka::deps::nothing_locked" => {
            "run `eka lock`"
        }
        "eka::deps::ambiguous" => "run `eka lock` to lock it again",
        "eka::deps::not_fetched" => "run `eka fetch` to bring the locked atoms into the cache",
        "eka::deps::not_cached" => "evaluate without --offline, which fetches it",

        _ => return None,
    })
}
