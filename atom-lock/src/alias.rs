//! URI aliases: short names for repository URL prefixes (`gh:owner/repo`).
//!
//! Three layers, from lowest to highest precedence:
//! 1. built-in aliases for common forges ([`BUILTIN`]);
//! 2. the user's aliases, `[aliases]` in `$XDG_CONFIG_HOME/eka/config.toml`
//!    (or `~/.config/eka/config.toml`); they may redefine built-ins;
//! 3. the repository's aliases, `[aliases]` in `.eka/config.toml` at the
//!    repository root. They may only add names: a repository someone else
//!    wrote must not silently redirect `gh:` to another host, so a repository
//!    alias that shadows a built-in or user alias is ignored and reported
//!    (see [`Shadowed`]).
//!
//! Aliases are a convenience of the command line: manifests and locks store
//! the expanded URL, never an alias.

use miette::{NamedSource, SourceSpan};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Built-in aliases: forge short names and the host they stand for.
pub const BUILTIN: &[(&str, &str)] = &[
    ("bb", "bitbucket.org"),
    ("cb", "codeberg.org"),
    ("gh", "github.com"),
    ("gl", "gitlab.com"),
    ("sr", "git.sr.ht"),
];

/// Path of the per-repository configuration file, relative to the
/// repository root.
pub const REPO_CONFIG: &str = ".eka/config.toml";

/// Where an alias was defined; used in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasOrigin {
    Builtin,
    User(PathBuf),
    Repo(PathBuf),
    /// Defined programmatically (tests, callers with their own tables).
    Other,
}

impl fmt::Display for AliasOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasOrigin::Builtin => f.write_str("built in"),
            AliasOrigin::User(p) => write!(f, "user config {}", p.display()),
            AliasOrigin::Repo(p) => write!(f, "repository config {}", p.display()),
            AliasOrigin::Other => f.write_str("given by the caller"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub value: String,
    pub origin: AliasOrigin,
}

/// A repository alias ignored because a built-in or user alias of the same
/// name takes precedence. Callers should warn about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shadowed {
    pub name: String,
    pub ignored: Alias,
    pub kept: Alias,
}

/// Why an alias definition is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AliasDefError {
    #[error(
        "invalid alias name `{0}`: use ASCII letters, digits, `-` or `_`, starting with a letter"
    )]
    Name(String),
    #[error("alias `{0}` has an empty value")]
    EmptyValue(String),
    #[error("alias `{name}` = `{value}`: a value is a repository URL or URL prefix, without spaces or `::`")]
    Value { name: String, value: String },
}

/// Checks an alias name: it must be recognisable as one in `name:rest`,
/// so no `:`, `/` or `.` (those make a host or a path), and not a number
/// (that would read as a port).
pub fn valid_alias_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_def(name: &str, value: &str) -> Result<(), AliasDefError> {
    if !valid_alias_name(name) {
        return Err(AliasDefError::Name(name.to_string()));
    }
    if value.is_empty() {
        return Err(AliasDefError::EmptyValue(name.to_string()));
    }
    if value.contains("::") || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AliasDefError::Value {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(())
}

/// A table of aliases, as used by [`crate::AtomUri::parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    map: BTreeMap<String, Alias>,
}

impl Aliases {
    /// No aliases at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in forge aliases only.
    pub fn builtin() -> Self {
        let map = BUILTIN
            .iter()
            .map(|(n, v)| {
                let alias = Alias {
                    value: v.to_string(),
                    origin: AliasOrigin::Builtin,
                };
                (n.to_string(), alias)
            })
            .collect();
        Aliases { map }
    }

    /// Defines (or redefines) `name`.
    pub fn insert(
        &mut self,
        name: &str,
        value: &str,
        origin: AliasOrigin,
    ) -> Result<(), AliasDefError> {
        check_def(name, value)?;
        let alias = Alias {
            value: value.to_string(),
            origin,
        };
        self.map.insert(name.to_string(), alias);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.map.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Alias)> {
        self.map.iter().map(|(n, a)| (n.as_str(), a))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Built-ins, then the user's config file (if it exists), then the
    /// repository's `.eka/config.toml` (if `repo_root` is given and the
    /// file exists). Missing files are not errors; malformed ones are.
    pub fn load(
        user_config: Option<&Path>,
        repo_root: Option<&Path>,
    ) -> Result<(Self, Vec<Shadowed>), ConfigError> {
        let mut table = Self::builtin();
        if let Some(path) = user_config {
            for (name, value) in read_config(path, true)? {
                // Validated by read_config.
                table.map.insert(
                    name,
                    Alias {
                        value,
                        origin: AliasOrigin::User(path.to_path_buf()),
                    },
                );
            }
        }
        let mut shadowed = Vec::new();
        if let Some(root) = repo_root {
            let path = root.join(REPO_CONFIG);
            for (name, value) in read_config(&path, false)? {
                let alias = Alias {
                    value,
                    origin: AliasOrigin::Repo(path.clone()),
                };
                match table.map.get(&name) {
                    Some(kept) => shadowed.push(Shadowed {
                        name,
                        ignored: alias,
                        kept: kept.clone(),
                    }),
                    None => {
                        table.map.insert(name, alias);
                    }
                }
            }
        }
        Ok((table, shadowed))
    }

    /// [`Aliases::load`] with the user config at [`user_config_path`].
    pub fn load_default(repo_root: Option<&Path>) -> Result<(Self, Vec<Shadowed>), ConfigError> {
        let user = user_config_path();
        Self::load(user.as_deref(), repo_root)
    }
}

/// The environment variable naming the user's configuration file, in
/// place of the XDG path (for tests, and for several configurations).
pub const CONFIG_VAR: &str = "EKA_CONFIG";

/// `$EKA_CONFIG` when set (and not empty); else
/// `$XDG_CONFIG_HOME/eka/config.toml`, or `$HOME/.config/eka/config.toml`
/// when `XDG_CONFIG_HOME` is unset, empty or relative (the XDG base
/// directory specification says to ignore relative values).
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(CONFIG_VAR).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    config_path_from(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn config_path_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    let base = match xdg.filter(|p| p.is_absolute()) {
        Some(x) => x,
        None => home.filter(|p| p.is_absolute())?.join(".config"),
    };
    Some(base.join("eka").join("config.toml"))
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file: {message}")]
    #[diagnostic(help("the file holds an `[aliases]` table of `name = \"url prefix\"` entries"))]
    Syntax {
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
    },
    #[error("invalid alias: {source}")]
    #[diagnostic(help("for example: [aliases] work = \"gh:my-org\""))]
    Alias {
        #[source]
        source: AliasDefError,
        #[source_code]
        src: NamedSource<String>,
        #[label("this alias")]
        span: SourceSpan,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    aliases: BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
    /// The user's file only: command aliases and settings, read (and
    /// checked) by `atom_ops::config`.
    alias: Option<toml::Spanned<toml::Value>>,
    net: Option<toml::Spanned<toml::Value>>,
}

/// Tables only the user's configuration file may hold.
const USER_ONLY: &str = "only the user's configuration file holds `[alias]` and `[net]`";

/// Reads the `[aliases]` of one config file (the user's, or a
/// repository's); a missing file has none.
fn read_config(path: &Path, user: bool) -> Result<Vec<(String, String)>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_config(&text, &path.display().to_string(), user)
}

/// Checks the `[aliases]` of the user's configuration file `text` (named
/// `name` in errors), returning them.
pub fn parse_user_config(text: &str, name: &str) -> Result<Vec<(String, String)>, ConfigError> {
    parse_config(text, name, true)
}

fn parse_config(text: &str, name: &str, user: bool) -> Result<Vec<(String, String)>, ConfigError> {
    let src = || NamedSource::new(name, text.to_string());
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        message: e.message().to_string(),
        src: src(),
        span: e.span().map(Into::into),
    })?;
    if let Some(table) = file.alias.as_ref().or(file.net.as_ref()).filter(|_| !user) {
        return Err(ConfigError::Syntax {
            message: USER_ONLY.to_owned(),
            src: src(),
            span: Some(table.span().into()),
        });
    }
    let mut out = Vec::with_capacity(file.aliases.len());
    for (name, value) in file.aliases {
        if let Err(source) = check_def(name.get_ref(), value.get_ref()) {
            let span = match source {
                AliasDefError::Name(_) => name.span(),
                _ => value.span(),
            };
            return Err(ConfigError::Alias {
                source,
                src: src(),
                span: span.into(),
            });
        }
        out.push((name.into_inner(), value.into_inner()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names() {
        for ok in ["gh", "my-org", "w2", "a_b"] {
            assert!(valid_alias_name(ok), "{ok}");
        }
        for bad in ["", "2x", "a.b", "a/b", "a:b", "-a", "é"] {
            assert!(!valid_alias_name(bad), "{bad}");
        }
    }

    #[test]
    fn config_path_prefers_absolute_xdg() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            config_path_from(p("/x"), p("/home/u")),
            p("/x/eka/config.toml")
        );
        assert_eq!(
            config_path_from(p("rel"), p("/home/u")),
            p("/home/u/.config/eka/config.toml")
        );
        assert_eq!(
            config_path_from(None, p("/home/u")),
            p("/home/u/.config/eka/config.toml")
        );
        assert_eq!(config_path_from(None, None), None);
    }

    #[test]
    fn config_errors_point_at_the_entry() {
        let text = "[aliases]\nok = \"gh:x\"\n\"a.b\" = \"gh:y\"\n";
        let err = parse_config(text, "c.toml", true).unwrap_err();
        let ConfigError::Alias { span, source, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(source, AliasDefError::Name("a.b".into()));
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "\"a.b\"");

        let text = "[aliases]\nw = \"a b\"\n";
        let ConfigError::Alias { span, .. } = parse_config(text, "c.toml", true).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "\"a b\"");

        let text = "[alias]\nw = \"gh:x\"\n";
        assert!(parse_config(text, "c.toml", true).is_ok());
        let err = parse_config(text, "c.toml", false).unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { span: Some(_), .. }),
            "{err:?}"
        );

        let text = "[aliases]\nw = 3\n";
        assert!(matches!(
            parse_config(text, "c.toml", true).unwrap_err(),
            ConfigError::Syntax { .. }
        ));
    }

    #[test]
    fn layers_and_shadowing() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user.toml");
        std::fs::write(
            &user,
            "[aliases]\ngh = \"ghe.corp\"\nwork = \"gh:my-org\"\n",
        )
        .unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".eka")).unwrap();
        std::fs::write(
            repo.join(REPO_CONFIG),
            "[aliases]\ngl = \"evil.example\"\nwork = \"evil.example\"\nteam = \"gl:team\"\n",
        )
        .unwrap();
        let (t, shadowed) = Aliases::load(Some(&user), Some(&repo)).unwrap();
        // The user may redefine a built-in.
        assert_eq!(t.get("gh").unwrap().value, "ghe.corp");
        assert_eq!(t.get("work").unwrap().value, "gh:my-org");
        // The repository may add, not redefine.
        assert_eq!(t.get("gl").unwrap().value, "gitlab.com");
        assert_eq!(t.get("team").unwrap().value, "gl:team");
        let names: Vec<_> = shadowed.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gl", "work"]);
        assert_eq!(shadowed[0].kept.origin, AliasOrigin::Builtin);
        assert_eq!(shadowed[1].kept.origin, AliasOrigin::User(user.clone()));
    }

    #[test]
    fn missing_files_are_no_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let (t, s) = Aliases::load(Some(&dir.path().join("none.toml")), Some(dir.path())).unwrap();
        assert_eq!(t, Aliases::builtin());
        assert!(s.is_empty());
    }
}
