//! `eka verify`: check published atoms against their origins.

use std::path::Path;
use std::process::ExitCode;

use atom_format::refs::{Namespace, ATOMS_PREFIX, EKA03_ROOT_REF};
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
            git::fetch(&repo, url, &refspecs(&wanted))?;
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
        let rows: Vec<Vec<String>> = report
            .verdicts
            .iter()
            .filter(|v| !(global.quiet && v.ok()))
            .map(|v| {
                let legacy = match v.namespace {
                    Namespace::Atoms => "",
                    Namespace::Eka03 => " (eka 0.3)",
                };
                vec![
                    if v.ok() { "ok" } else { "FAILED" }.to_owned(),
                    format!("{}@{}{legacy}", v.label, v.version),
                    v.id.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                    v.digest
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        if !rows.is_empty() {
            output::table(&["STATUS", "ATOM", "ATOM ID", "DIGEST"], &rows);
        }
        for v in report.verdicts.iter().filter(|v| !v.ok()) {
            println!("{}@{} failed:", v.label, v.version);
            for f in &v.failures {
                println!("  - {f}");
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

/// What to fetch: everything under refs/atoms/, or only the named atoms'
/// refs (plus the root).
fn refspecs(wanted: &[Wanted]) -> Vec<String> {
    let mirror = |r: String| format!("+{r}:{r}");
    let mut specs = vec![
        mirror(atom_format::refs::ROOT_REF.to_owned()),
        mirror(EKA03_ROOT_REF.to_owned()),
    ];
    if wanted.is_empty() {
        specs.push(mirror(format!("{ATOMS_PREFIX}*")));
        specs.push(mirror("refs/eka/*".to_owned()));
        return specs;
    }
    for w in wanted {
        let version = w.version.as_ref().map_or("*".to_owned(), |v| v.to_string());
        let (l, v) = (&w.label, &version);
        for dir in ["", "_manifest/", "_origin/"] {
            specs.push(mirror(format!("{ATOMS_PREFIX}{dir}{l}/{v}")));
        }
        specs.push(mirror(format!("refs/eka/atoms/{l}/{v}")));
        specs.push(mirror(format!("refs/eka/meta/{l}/{v}/*")));
    }
    specs
}
