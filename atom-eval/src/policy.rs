//! What a host forbids in the files it hands to the evaluator, checked when
//! a file is bound, before any of it runs.
//!
//! The module system gives every atom file a bounded scope. Leaving a name
//! out of the scope already makes using it an "undefined variable" error;
//! a [`BindPolicy`] turns that into an error that says what to use instead,
//! catches the same names reached through `builtins.` or `__name`, and
//! refuses path literals (when they are evaluated), which would otherwise
//! name host files.

use std::collections::BTreeMap;

/// Bind-time restrictions. The default forbids nothing.
#[derive(Clone, Debug, Default)]
pub struct BindPolicy {
    /// Names a file may not use, with the help shown when it does: as a
    /// free variable (`import`), as `__name`, as `<set>.name` or
    /// `inherit (<set>) name` for every set in [`Self::guarded_sets`].
    pub forbidden: BTreeMap<String, String>,
    /// Free variables holding builtins (`builtins`, `std`) whose forbidden
    /// members are refused by name.
    pub guarded_sets: Vec<String>,
    /// When set, path literals are refused when evaluated (a file holding
    /// one still binds: atom-nix's own std has `/. + abs` in a function
    /// body). `relative` may contain `{rel}`, replaced by the literal
    /// without its leading `./`.
    pub path_literals: Option<PathLiteralHelp>,
    /// Refuse paths (given as strings to `readFile` and friends) that hold a
    /// `..` segment, so that a directory string can only be descended.
    pub refuse_parent_segments: bool,
}

/// Help for refused path literals.
#[derive(Clone, Debug)]
pub struct PathLiteralHelp {
    pub relative: String,
    pub absolute: String,
    pub search_path: String,
}

impl BindPolicy {
    /// The help for the forbidden name `name` (also as `__name`).
    pub(crate) fn forbidden_help(&self, name: &str) -> Option<(&str, &str)> {
        if let Some((k, help)) = self.forbidden.get_key_value(name) {
            return Some((k.as_str(), help.as_str()));
        }
        let bare = name.strip_prefix("__")?;
        self.forbidden
            .get_key_value(bare)
            .map(|(k, help)| (k.as_str(), help.as_str()))
    }
}
