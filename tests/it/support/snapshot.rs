//! CLI output pinned by inline insta snapshots: a run's transcript (exit
//! status, stdout, stderr) with what varies between runs and machines
//! replaced by insta filters.
//!
//! ```ignore
//! let run = sb.eka(repo.path(), &["publish", "--all", "--remote", &url]);
//! assert_cli_snapshot!(sb, run, @r"
//! status: 0
//! --- stdout ---
//! …
//! ");
//! ```
//!
//! What varies, and becomes: the sandbox's path `[SANDBOX]`; ports on
//! 127.0.0.1 `[PORT]`; the user of `ssh://` URLs `[USER]`; and whatever a
//! test names with [`Sandbox::filter`] (e.g. a server's URL, so that one
//! snapshot holds for every transport). Commit ids, atom ids and digests do
//! not vary (the tests' commits are reproducible), except for atoms whose
//! manifest names a registry's URL: tests with such atoms call
//! [`Sandbox::filter_ids`].

use std::sync::Mutex;

use super::{Run, Sandbox};

/// Asserts that the transcript of `run` (a [`Run`]), with the filters of
/// `sb` (a [`Sandbox`]), is the inline snapshot. It may run several times
/// (in a loop, or in a helper that several tests call, e.g. once per
/// transport): every run must give that same snapshot.
macro_rules! assert_cli_snapshot {
    ($sb:expr, $run:expr, @$snapshot:literal) => {
        insta::allow_duplicates! {
            $sb.insta_settings()
                .bind(|| insta::assert_snapshot!($run.transcript(), @$snapshot))
        }
    };
}
pub(crate) use assert_cli_snapshot;

impl Run {
    /// Exit status, stdout and stderr, for a snapshot.
    pub fn transcript(&self) -> String {
        format!(
            "status: {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code().map_or("signal".into(), |c| c.to_string()),
            self.stdout,
            self.stderr
        )
    }
}

/// What a sandbox replaces in snapshots besides its path and ports: literal
/// texts ([`Sandbox::filter`]) and patterns ([`Sandbox::filter_ids`]).
#[derive(Default)]
pub struct Filters {
    literal: Mutex<Vec<(String, String)>>,
    patterns: Mutex<Vec<(&'static str, &'static str)>>,
}

impl Sandbox {
    /// Replaces `text` by `placeholder` in this sandbox's snapshots (longer
    /// texts first, so a URL goes before the path it contains).
    pub fn filter(&self, text: &str, placeholder: &str) {
        self.filters
            .literal
            .lock()
            .unwrap()
            .push((text.to_owned(), placeholder.to_owned()));
    }

    /// Replaces commit ids and content digests in this sandbox's snapshots,
    /// for tests whose atoms vary from run to run (a manifest naming a
    /// registry's URL, which holds the sandbox's path or a port, changes
    /// the atom's commit and digest).
    pub fn filter_ids(&self) {
        let mut patterns = self.filters.patterns.lock().unwrap();
        patterns.push((r"\b[0-9a-f]{40}\b", "[COMMIT]"));
        patterns.push((r"blake3:[0-9a-f]{64}", "blake3:[DIGEST]"));
    }

    /// Replaces ISO 8601 times (`2026-01-31T12:00:00Z`) in this sandbox's
    /// snapshots, for output naming a signing time (the current time).
    pub fn filter_times(&self) {
        let mut patterns = self.filters.patterns.lock().unwrap();
        patterns.push((r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[TIME]"));
    }

    /// The insta settings of this sandbox's snapshots: its filters.
    pub fn insta_settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        let mut literal = self.filters.literal.lock().unwrap().clone();
        let path = self.path().display().to_string();
        let canonical = self.path().canonicalize().expect("sandbox path");
        literal.push((canonical.display().to_string(), "[SANDBOX]".into()));
        literal.push((path, "[SANDBOX]".into()));
        literal.sort_by_key(|(text, _)| std::cmp::Reverse(text.len()));
        for (text, placeholder) in literal {
            settings.add_filter(&escape(&text), placeholder);
        }
        for (pattern, placeholder) in self.filters.patterns.lock().unwrap().iter() {
            settings.add_filter(pattern, *placeholder);
        }
        settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
        settings.add_filter(r"ssh://[^@/\s]+@", "ssh://[USER]@");
        settings
    }
}

/// `text` as a regular expression matching itself.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
