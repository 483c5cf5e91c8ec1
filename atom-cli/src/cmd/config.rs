//! `eka config`: where the configuration file is, the settings in effect
//! and where each comes from, the command and URI aliases.

use std::process::ExitCode;

use atom_lock::alias::AliasOrigin;
use atom_ops::config::{self, Setting, Source};
use miette::IntoDiagnostic;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args, global: &Global) -> miette::Result<ExitCode> {
    let config = config::load()?;
    let cwd = std::env::current_dir().into_diagnostic()?;
    let settings = config::settings(&global.network, &cwd);
    let uri_aliases = config::uri_aliases(&cwd)?;
    let shadowed = |name: &str| crate::is_builtin(name);
    if global.json {
        let commands: serde_json::Map<String, serde_json::Value> = config
            .commands
            .iter()
            .map(|(name, words)| {
                let value = serde_json::json!({ "expansion": words, "ignored": shadowed(name) });
                (name.clone(), value)
            })
            .collect();
        let uris: serde_json::Map<String, serde_json::Value> = uri_aliases
            .iter()
            .map(|(name, value, origin)| {
                let value = serde_json::json!({ "value": value, "origin": origin_word(origin) });
                (name.clone(), value)
            })
            .collect();
        crate::output::json(&serde_json::json!({
            "schema": crate::output::JSON_SCHEMA,
            "path": config.path,
            "from_env": config.from_env,
            "exists": config.exists,
            "settings": settings,
            "alias": commands,
            "aliases": uris,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    print_path(&config);
    outln!();
    outln!("settings:");
    for s in &settings {
        print_setting(s);
    }
    outln!();
    outln!("command aliases ([alias]):");
    if config.commands.is_empty() {
        outln!("  (none)");
    }
    for (name, words) in &config.commands {
        let note = match shadowed(name) {
            true => "  (ignored: a built-in command has this name)",
            false => "",
        };
        outln!("  {name} = {}{note}", words.join(" "));
    }
    outln!();
    outln!("URI aliases ([aliases]):");
    for (name, value, origin) in &uri_aliases {
        outln!("  {name} = {value}  ({origin})");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_path(config: &config::Config) {
    let Some(path) = &config.path else {
        outln!("config file: none (set EKA_CONFIG, XDG_CONFIG_HOME or HOME)");
        return;
    };
    let mut notes = Vec::new();
    if config.from_env {
        notes.push("from EKA_CONFIG");
    }
    if !config.exists {
        notes.push("not there: the defaults apply");
    }
    match notes.is_empty() {
        true => outln!("config file: {}", path.display()),
        false => outln!("config file: {} ({})", path.display(), notes.join("; ")),
    }
}

fn print_setting(s: &Setting) {
    let value = s.value.as_deref().unwrap_or("(none)");
    let source = match s.source {
        Source::Default => "default",
        Source::File => "config file",
        Source::Env => "environment",
        Source::Git => "git config",
    };
    outln!("  {} = {value}  ({source}; set with {})", s.name, s.set_by);
}

/// Where a URI alias comes from, as one word for JSON.
fn origin_word(origin: &AliasOrigin) -> &'static str {
    match origin {
        AliasOrigin::Builtin => "builtin",
        AliasOrigin::User(_) => "user",
        AliasOrigin::Repo(_) => "repository",
        AliasOrigin::Other => "other",
    }
}
