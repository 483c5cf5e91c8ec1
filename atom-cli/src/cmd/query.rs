//! What `eka versions`, `eka list` and `eka show` share: reading atom URIs
//! and repository URLs with the user's aliases, mirrors, and warnings.

use atom_format::Label;
use atom_lock::remote::QueryWarning;
use atom_lock::{Aliases, AtomUri, RepoUrl};
use miette::{miette, IntoDiagnostic};
use semver::VersionReq;

use crate::Global;

/// Mirrors given on the command line, beside the URI's repository.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct MirrorArgs {
    /// Another URL (or alias) of the same repository, asked concurrently;
    /// repeat for more mirrors
    #[arg(long = "mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
}

/// The aliases in effect here: built-in, the user's, and the current
/// repository's (if the current directory is in one).
pub fn aliases(global: &Global) -> miette::Result<Aliases> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let root = gix::discover(&cwd)
        .ok()
        .and_then(|r| r.workdir().map(|p| p.to_owned()));
    let (aliases, shadowed) = Aliases::load_default(root.as_deref())?;
    if !global.quiet {
        for s in shadowed {
            eprintln!(
                "warning: ignoring alias `{}` of {}: it would shadow the one {}",
                s.name, s.ignored.origin, s.kept.origin
            );
        }
    }
    Ok(aliases)
}

/// An atom URI that must name a repository.
pub struct Target {
    pub urls: Vec<RepoUrl>,
    pub label: Label,
    pub req: Option<VersionReq>,
}

pub fn atom_target(uri: &str, mirrors: &MirrorArgs, global: &Global) -> miette::Result<Target> {
    let aliases = aliases(global)?;
    let parsed = AtomUri::parse(uri, &aliases)?;
    let Some(repo) = parsed.repo else {
        let label = parsed.label;
        return Err(miette!(
            help = format!(
                "write `<repository>::<label>`, e.g. `gh:owner/repo::{label}` or `./registry.git::{label}`"
            ),
            "`{uri}` names no repository to ask"
        ));
    };
    Ok(Target {
        urls: with_mirrors(repo, mirrors, &aliases)?,
        label: parsed.label,
        req: parsed.req,
    })
}

pub fn repo_target(
    repo: &str,
    mirrors: &MirrorArgs,
    global: &Global,
) -> miette::Result<Vec<RepoUrl>> {
    let aliases = aliases(global)?;
    let url = RepoUrl::parse(repo, &aliases)?;
    with_mirrors(url, mirrors, &aliases)
}

fn with_mirrors(
    first: RepoUrl,
    mirrors: &MirrorArgs,
    aliases: &Aliases,
) -> miette::Result<Vec<RepoUrl>> {
    let mut urls = vec![first];
    for m in &mirrors.mirrors {
        let url = RepoUrl::parse(m, aliases)?;
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    Ok(urls)
}

/// Prints the warnings of a query on stderr (unless `--quiet`).
pub fn warn(warnings: &[QueryWarning], global: &Global) {
    if !global.quiet {
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
}

/// The short note for a version found in eka 0.3's namespace.
pub fn namespace_note(ns: atom_lock::remote::Namespace) -> &'static str {
    match ns {
        atom_lock::remote::Namespace::Atoms => "",
        atom_lock::remote::Namespace::Eka03 => "(eka 0.3)",
    }
}
