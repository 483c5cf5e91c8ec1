//! The user's configuration file ([`load`]): one TOML file,
//! `$EKA_CONFIG`, else `$XDG_CONFIG_HOME/eka/config.toml` (or
//! `~/.config/eka/config.toml`), every key of it checked:
//!
//! - `[alias]`: command aliases, as cargo's: `b = "build --no-link"` (split
//!   on whitespace) or `b = ["build", "--no-link"]`; `eka b` runs what it
//!   stands for ([`expand`]). An alias of a built-in command's name is
//!   ignored, with a warning (a built-in always means the same);
//! - `[aliases]`: URI aliases (`work = "gh:my-org"`), read by
//!   [`atom_lock::Aliases`] (which see);
//! - `[net]`: `timeout`, seconds eka waits for a silent remote (the
//!   environment's `EKA_NETWORK_TIMEOUT` wins over it; [`network`] gives
//!   the setting in effect, for the caller to hand to the operations).
//!
//! A missing file is an empty one. A file that is not TOML, or has a key
//! not listed here, is an error naming the file and pointing at the key:
//! a setting mistyped must not be silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use atom_lock::alias::{user_config_path, AliasOrigin, CONFIG_VAR};
use miette::{NamedSource, SourceSpan};

/// The configuration file, checked.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Where it is (none: neither `EKA_CONFIG`, `XDG_CONFIG_HOME` nor
    /// `HOME` says).
    pub path: Option<PathBuf>,
    /// Whether `path` is given by `EKA_CONFIG`.
    pub from_env: bool,
    /// Whether the file exists (a missing one is empty).
    pub exists: bool,
    /// Command aliases, by name.
    pub commands: BTreeMap<String, Vec<String>>,
    /// URI aliases, by name.
    pub uri_aliases: BTreeMap<String, String>,
    /// `[net] timeout`, in seconds.
    pub net_timeout: Option<u64>,
}

/// A configuration file eka cannot use.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConfigError {
    #[error("{TIMEOUT_VAR}={value:?} is not a number of seconds (a whole number from 1)")]
    #[diagnostic(code(eka::config::env))]
    Env { value: String },
    #[error("cannot read the configuration file {}", path.display())]
    #[diagnostic(code(eka::config::io))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {}: {message}", path.display())]
    #[diagnostic(code(eka::config::invalid))]
    Invalid {
        path: PathBuf,
        message: String,
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: Option<SourceSpan>,
    },
}

/// Why a command line's alias cannot be expanded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AliasError {
    #[error("the alias `{}` is recursive: {}", .chain[0], .chain.join(" → "))]
    #[diagnostic(code(eka::config::recursive_alias))]
    Recursive {
        /// The aliases expanded, the first one again at the end.
        chain: Vec<String>,
        /// The file defining them.
        path: Option<PathBuf>,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    alias: BTreeMap<toml::Spanned<String>, toml::Spanned<RawAlias>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    net: RawNet,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum RawAlias {
    Words(String),
    List(Vec<String>),
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNet {
    timeout: Option<toml::Spanned<i64>>,
}

/// The user's configuration file (see the module docs), checked.
pub fn load() -> Result<Config, ConfigError> {
    let path = user_config_path();
    let from_env = std::env::var_os(CONFIG_VAR).is_some_and(|p| !p.is_empty());
    let Some(path) = path else {
        return Ok(Config::default());
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(ConfigError::Io { path, source }),
    };
    let mut config = match &text {
        Some(text) => parse(&path, text)?,
        None => Config::default(),
    };
    config.exists = text.is_some();
    config.path = Some(path);
    config.from_env = from_env;
    Ok(config)
}

/// Checks `text`, the file at `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let invalid = |message: String, span: Option<std::ops::Range<usize>>| ConfigError::Invalid {
        path: path.to_owned(),
        message,
        src: NamedSource::new(path.display().to_string(), text.to_owned()),
        span: span.map(Into::into),
    };
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| invalid(e.message().trim().to_owned(), e.span()))?;
    // The URI aliases' own checks, spans and messages.
    atom_lock::alias::parse_user_config(text, &path.display().to_string())
        .map_err(|e| invalid(uri_alias_message(&e), uri_alias_span(&e)))?;
    let mut commands = BTreeMap::new();
    for (name, value) in raw.alias {
        let words = match value.get_ref() {
            RawAlias::Words(w) => w.split_whitespace().map(str::to_owned).collect(),
            RawAlias::List(l) => l.clone(),
        };
        if !valid_command_name(name.get_ref()) {
            return Err(invalid(
                format!("`{}` cannot be a command's name", name.get_ref()),
                Some(name.span()),
            ));
        }
        if words.first().is_none_or(|w| w.trim().is_empty()) {
            return Err(invalid(
                format!("the alias `{}` stands for no command", name.get_ref()),
                Some(value.span()),
            ));
        }
        commands.insert(name.into_inner(), words);
    }
    let net_timeout = match raw.net.timeout {
        None => None,
        Some(t) if *t.get_ref() >= 1 => Some(*t.get_ref() as u64),
        Some(t) => {
            return Err(invalid(
                "`net.timeout` is a whole number of seconds, from 1".to_owned(),
                Some(t.span()),
            ))
        }
    };
    Ok(Config {
        commands,
        uri_aliases: raw.aliases,
        net_timeout,
        ..Config::default()
    })
}

/// A command alias's name: something typed as a command (no space, not an
/// option).
fn valid_command_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn uri_alias_message(e: &atom_lock::ConfigError) -> String {
    match e {
        atom_lock::ConfigError::Alias { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

fn uri_alias_span(e: &atom_lock::ConfigError) -> Option<std::ops::Range<usize>> {
    let span = match e {
        atom_lock::ConfigError::Alias { span, .. } => Some(*span),
        atom_lock::ConfigError::Syntax { span, .. } => *span,
        atom_lock::ConfigError::Io { .. } => None,
    }?;
    Some(span.offset()..span.offset() + span.len())
}

/// What [`expand`] did to a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    /// The arguments, aliases replaced.
    pub args: Vec<std::ffi::OsString>,
    /// Aliases ignored because a built-in command has their name.
    pub shadowed: Vec<String>,
}

/// Expands the command alias in `args` (the program's name first): the
/// first argument that is not an option (nor the value of `-C` or
/// `--color`) is the command; when it is no built-in command
/// (`is_builtin`) and an alias, it is replaced by what the alias stands
/// for, and so on while the result is one.
pub fn expand(
    config: &Config,
    args: Vec<std::ffi::OsString>,
    is_builtin: impl Fn(&str) -> bool,
) -> Result<Expanded, AliasError> {
    let mut args = args;
    let mut shadowed = Vec::new();
    let Some(at) = command_position(&args) else {
        return Ok(Expanded { args, shadowed });
    };
    let mut chain: Vec<String> = Vec::new();
    while let Some(word) = args[at].to_str().map(str::to_owned) {
        if is_builtin(&word) {
            if config.commands.contains_key(&word) {
                shadowed.push(word);
            }
            break;
        }
        let Some(words) = config.commands.get(&word) else {
            break;
        };
        if chain.contains(&word) {
            chain.push(word);
            return Err(AliasError::Recursive {
                chain,
                path: config.path.clone(),
            });
        }
        chain.push(word);
        args.splice(at..=at, words.iter().map(Into::into));
    }
    Ok(Expanded { args, shadowed })
}

/// Where the command is in `args`: after the program's name and the global
/// options before it.
fn command_position(args: &[std::ffi::OsString]) -> Option<usize> {
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        let text = arg.to_string_lossy();
        if text == "--" {
            return None;
        }
        if text == "--color" {
            i += 2;
        } else if text.starts_with("--") {
            i += 1;
        } else if text.starts_with('-') {
            // Short flags, alone or clustered (`-qC`): one ending in `C`
            // takes the next argument as its value (`-Cdir` holds it).
            i += if text.ends_with('C') { 2 } else { 1 };
        } else {
            return Some(i);
        }
    }
    None
}

/// Where a setting's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Default,
    /// The configuration file.
    File,
    /// An environment variable.
    Env,
    /// git's configuration (`git config`).
    Git,
}

/// One setting eka reads, its value and where it comes from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Setting {
    pub name: &'static str,
    pub value: Option<String>,
    pub source: Source,
    /// Where to change it.
    pub set_by: &'static str,
}

/// The environment variable that sets the network timeout, in seconds;
/// it wins over the file's `[net] timeout`.
pub const TIMEOUT_VAR: &str = "EKA_NETWORK_TIMEOUT";

/// The network settings in effect: `EKA_NETWORK_TIMEOUT` (unless unset or
/// empty), else the file's `[net] timeout`, else the default. A value
/// that is not a whole number of seconds is an error: a timeout mistyped
/// must not silently become another.
pub fn network(config: &Config) -> Result<crate::Network, ConfigError> {
    let env = std::env::var(TIMEOUT_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty());
    network_from(config, env.as_deref())
}

fn network_from(config: &Config, env: Option<&str>) -> Result<crate::Network, ConfigError> {
    let (secs, source) = match (env, config.net_timeout) {
        (Some(value), _) => match value.trim().parse::<u64>() {
            Ok(secs) if secs > 0 => (secs, Source::Env),
            _ => {
                return Err(ConfigError::Env {
                    value: value.to_owned(),
                })
            }
        },
        (None, Some(secs)) => (secs, Source::File),
        (None, None) => return Ok(crate::Network::default()),
    };
    Ok(crate::Network {
        timeout: std::time::Duration::from_secs(secs),
        timeout_source: source,
    })
}

/// The settings in effect in `dir`: the network's (see [`network`]), and
/// git's configuration keys eka reads (signing).
pub fn settings(network: &crate::Network, dir: &Path) -> Vec<Setting> {
    let repo = atom_git::open(dir).ok();
    let git = |key: &str| {
        let config = repo.as_ref()?.config_snapshot();
        config.string(key).map(|v| v.to_string())
    };
    let from_git = |value: Option<String>| match value {
        Some(v) => (Some(v), Source::Git),
        None => (None, Source::Default),
    };
    let (key, key_source) = from_git(git(crate::sign::KEY_KEY));
    let (always, always_source) = from_git(git(crate::sign::ALWAYS_KEY));
    vec![
        Setting {
            name: "net.timeout",
            value: Some(network.timeout.as_secs().to_string()),
            source: network.timeout_source,
            set_by: "[net] timeout = <seconds> in the configuration file, or EKA_NETWORK_TIMEOUT",
        },
        Setting {
            name: "signing key",
            value: key,
            source: key_source,
            set_by: "git config eka.signingKey <key file>",
        },
        Setting {
            name: "sign always",
            value: Some(always.unwrap_or_else(|| "false".into())),
            source: always_source,
            set_by: "git config eka.sign true",
        },
    ]
}

/// The URI aliases in effect in `dir`, with where each comes from
/// (`built in`, the user's file, the repository's `.eka/config.toml`).
pub fn uri_aliases(
    dir: &Path,
) -> Result<Vec<(String, String, AliasOrigin)>, atom_lock::ConfigError> {
    let mut warnings = Vec::new();
    let aliases = crate::aliases_at(dir, &mut warnings)?;
    Ok(aliases
        .iter()
        .map(|(n, a)| (n.to_owned(), a.value.clone(), a.origin.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        parse(Path::new("c.toml"), text).unwrap()
    }

    fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
        args.iter().map(Into::into).collect()
    }

    fn builtin(w: &str) -> bool {
        ["build", "publish", "help"].contains(&w)
    }

    /// The environment wins over the file, the file over the default; a
    /// value that is not a whole number of seconds is an error, never the
    /// default.
    #[test]
    fn network_timeout_setting() {
        use std::time::Duration;
        let none = Config::default();
        let file = config("[net]\ntimeout = 7\n");
        let n = network_from(&none, None).unwrap();
        assert_eq!(
            (n.timeout, n.timeout_source),
            (Duration::from_secs(30), Source::Default)
        );
        let n = network_from(&file, None).unwrap();
        assert_eq!(
            (n.timeout, n.timeout_source),
            (Duration::from_secs(7), Source::File)
        );
        let n = network_from(&file, Some(" 120 ")).unwrap();
        assert_eq!(
            (n.timeout, n.timeout_source),
            (Duration::from_secs(120), Source::Env)
        );
        for bad in ["0", "-1", "1.5", "soon"] {
            let e = network_from(&file, Some(bad)).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Env { value } if value == bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn expands_both_forms_after_global_options() {
        let c = config("[alias]\nb = \"build --no-link\"\np = [\"publish\", \"--all\"]\n");
        let e = expand(&c, os(&["eka", "-C", "x", "--json", "b", "y"]), builtin).unwrap();
        assert_eq!(
            e.args,
            os(&["eka", "-C", "x", "--json", "build", "--no-link", "y"])
        );
        let e = expand(&c, os(&["eka", "p"]), builtin).unwrap();
        assert_eq!(e.args, os(&["eka", "publish", "--all"]));
        // Not an alias: left for clap to report.
        let e = expand(&c, os(&["eka", "nope"]), builtin).unwrap();
        assert_eq!(e.args, os(&["eka", "nope"]));
    }

    #[test]
    fn aliases_of_aliases_and_cycles() {
        let c = config("[alias]\nx = \"y --one\"\ny = \"build\"\n");
        let e = expand(&c, os(&["eka", "x"]), builtin).unwrap();
        assert_eq!(e.args, os(&["eka", "build", "--one"]));
        let c = config("[alias]\na = \"b\"\nb = \"c -v\"\nc = \"a\"\n");
        let AliasError::Recursive { chain, .. } =
            expand(&c, os(&["eka", "a"]), builtin).unwrap_err();
        assert_eq!(chain, ["a", "b", "c", "a"]);
    }

    #[test]
    fn a_builtin_wins_over_an_alias() {
        let c = config("[alias]\nbuild = \"publish\"\n");
        let e = expand(&c, os(&["eka", "build"]), builtin).unwrap();
        assert_eq!(e.args, os(&["eka", "build"]));
        assert_eq!(e.shadowed, ["build"]);
    }

    #[test]
    fn errors_point_at_the_key() {
        let text = "[net]\ntimeout = 30\ntimout = 5\n";
        let ConfigError::Invalid { span, message, .. } =
            parse(Path::new("c.toml"), text).unwrap_err()
        else {
            panic!()
        };
        let span = span.unwrap();
        assert_eq!(&text[span.offset()..span.offset() + span.len()], "timout");
        assert!(message.contains("unknown field `timout`"), "{message}");

        for bad in [
            "[net]\ntimeout = 0\n",
            "[alias]\nb = \"\"\n",
            "[alias]\n\"-b\" = \"build\"\n",
            "[aliases]\n\"a.b\" = \"gh:x\"\n",
            "[colour]\n",
            "not toml",
        ] {
            assert!(parse(Path::new("c.toml"), bad).is_err(), "{bad}");
        }
    }
}
