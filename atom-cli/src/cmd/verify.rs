//! `eka verify`: check published atoms against their origins.

use std::path::Path;
use std::process::ExitCode;

use atom_format::refs::{AtomRef, Namespace, ATOMS_PREFIX, EKA03_ROOT_REF, ROOT_REF};
use atom_format::verify::{self, Wanted};
use atom_format::{git, Label};
use miette::{miette, IntoDiagnostic};

use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// A remote (configured name or URL) or a repository path (default: the
    /// current repository), then atoms to check as LABEL or LABEL@VERSION
    /// (default: all). A path in the current directory is written `./name`.
    #[arg(value_name = "REMOTE|PATH] [LABEL[@VERSION]")]
    args: Vec<String>,
}

/// Where the atoms to verify are.
enum Target {
    Local(std::path::PathBuf),
    Remote(String),
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let here = git::open(&cwd).ok();
    let (target, atoms) = match args.args.split_first() {
        Some((first, rest)) if is_target(first, here.as_ref()) => {
            (classify(first, here.as_ref(), &cwd), rest)
        }
        _ => (Target::Local(cwd.clone()), &args.args[..]),
    };
    let wanted = atoms
        .iter()
        .map(|a| parse_wanted(a))
        .collect::<miette::Result<Vec<_>>>()?;

    // A remote is fetched into a scratch repository that is dropped after.
    let scratch;
    let repo = match &target {
        Target::Local(path) => git::open(path)?,
        Target::Remote(url) => {
            scratch = tempfile::tempdir().into_diagnostic()?;
            let repo = gix::init_bare(scratch.path())
                .map_err(|e| miette!("cannot create a scratch repository: {e}"))?;
            // List first, then fetch exactly the refs that exist: a fetch of
            // refspecs that match nothing is an error, not an empty answer.
            let prefixes = prefixes(&wanted);
            let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
            let specs: Vec<String> = git::ls_refs(url, &prefixes)?
                .into_iter()
                .filter(|r| is_wanted(&r.name, &wanted))
                .map(|r| format!("+{0}:{0}", r.name))
                .collect();
            if !specs.is_empty() {
                git::fetch(&repo, url, &specs)?;
            }
            repo
        }
    };
    let report = verify::verify(&repo, &wanted)?;
    if global.json {
        output::json(&report)?;
    } else {
        for r in &report.foreign_refs {
            if !global.quiet {
                eprintln!("warning: ignoring `{r}`: not an atom ref of this format");
            }
        }
        // One line per atom: `ok` with its id and digest, or `FAILED` with
        // everything that failed.
        let name = |v: &verify::Verdict| match v.namespace {
            Namespace::Atoms => format!("{}@{}", v.label, v.version),
            Namespace::Eka03 => format!("{}@{} (eka 0.3)", v.label, v.version),
        };
        let width = report
            .verdicts
            .iter()
            .map(|v| name(v).chars().count())
            .max()
            .unwrap_or(0);
        for v in &report.verdicts {
            if !v.ok() {
                println!("FAILED  {}: {}", name(v), v.failures.join("; "));
            } else if !global.quiet {
                println!(
                    "ok      {:<width$}  {}  {}",
                    name(v),
                    v.id.map(|i| i.to_string()).unwrap_or_default(),
                    v.digest.map(|d| d.to_string()).unwrap_or_default()
                );
            }
        }
        let failed = report.verdicts.iter().filter(|v| !v.ok()).count();
        if !global.quiet || failed > 0 {
            println!(
                "{} verified, {} failed",
                report.verdicts.len() - failed,
                failed
            );
        }
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether the first argument names where to verify rather than an atom:
/// URLs, paths (anything with `/` or starting with `.`) and configured
/// remotes. Labels can contain none of `/`, `.` or `:`.
fn is_target(arg: &str, here: Option<&gix::Repository>) -> bool {
    arg.contains('/')
        || arg.contains(':')
        || arg.starts_with('.')
        || here.is_some_and(|r| r.find_remote(arg).is_ok())
}

fn classify(arg: &str, here: Option<&gix::Repository>, cwd: &Path) -> Target {
    if arg.contains("://") || here.is_some_and(|r| r.find_remote(arg).is_ok()) {
        return Target::Remote(git::remote_url(here, arg).unwrap_or_else(|_| arg.to_owned()));
    }
    let path = cwd.join(arg);
    if path.exists() {
        Target::Local(path)
    } else {
        // scp-like `host:path` and anything else git understands.
        Target::Remote(arg.to_owned())
    }
}

fn parse_wanted(arg: &str) -> miette::Result<Wanted> {
    let (label, version) = match arg.split_once('@') {
        Some((l, v)) => (l, Some(v)),
        None => (arg, None),
    };
    let label = Label::parse(label).map_err(|e| {
        miette!(
            help = "name atoms as LABEL or LABEL@VERSION",
            "invalid label `{label}`: {e}"
        )
    })?;
    let version = version
        .map(|v| {
            semver::Version::parse(v).map_err(|e| {
                miette!(
                    help = "name atoms as LABEL or LABEL@VERSION",
                    "invalid version `{v}`: {e}"
                )
            })
        })
        .transpose()?;
    Ok(Wanted { label, version })
}

/// The ref prefixes to list: everything of both layouts, or only the named
/// atoms' refs (plus the roots).
fn prefixes(wanted: &[Wanted]) -> Vec<String> {
    let mut out = vec![ROOT_REF.to_owned(), EKA03_ROOT_REF.to_owned()];
    if wanted.is_empty() {
        out.push(ATOMS_PREFIX.to_owned());
        out.push("refs/eka/".to_owned());
        return out;
    }
    for w in wanted {
        let l = &w.label;
        for dir in ["", "_manifest/", "_origin/"] {
            out.push(format!("{ATOMS_PREFIX}{dir}{l}/"));
        }
        out.push(format!("refs/eka/atoms/{l}/"));
        out.push(format!("refs/eka/meta/{l}/"));
    }
    out
}

/// Whether a listed ref belongs to an atom asked for (the prefixes cannot
/// select a version).
fn is_wanted(name: &str, wanted: &[Wanted]) -> bool {
    match AtomRef::parse_any(name) {
        Some(Ok((_, AtomRef::Root))) => true,
        Some(Ok((_, AtomRef::Atom(v) | AtomRef::Manifest(v) | AtomRef::Origin(v)))) => {
            wanted.is_empty()
                || wanted.iter().any(|w| {
                    w.label == v.label && w.version.as_ref().is_none_or(|x| *x == v.version)
                })
        }
        // Foreign refs are fetched too when verifying everything, so that
        // they are reported.
        _ => wanted.is_empty(),
    }
}
