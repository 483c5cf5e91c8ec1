//! `eka verify`: check published atoms against their origins.

use std::path::Path;
use std::process::ExitCode;

use atom_format::refs::Namespace;
use atom_format::Label;
use atom_git::{self as git};
use atom_ops::verify::{self, Registry, VerifyRequest, Wanted};
use miette::{miette, IntoDiagnostic};

use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// A remote (configured name or URL) or a repository path (default: the
    /// current repository), then atoms to check as LABEL or LABEL@VERSION
    /// (default: all). A path in the current directory is written `./name`.
    #[arg(value_name = "REMOTE|PATH] [LABEL[@VERSION]")]
    args: Vec<String>,
    /// Fail a version without a signature that counts (by an allowed key, with --allowed-signers)
    #[arg(long)]
    require_signed: bool,
    /// Trust only these keys (an OpenSSH allowed_signers file); others are unknown signers
    #[arg(long, value_name = "FILE")]
    allowed_signers: Option<std::path::PathBuf>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let here = git::open(&cwd).ok();
    let (registry, atoms) = match args.args.split_first() {
        Some((first, rest)) if is_target(first, here.as_ref()) => {
            (classify(first, here.as_ref(), &cwd), rest)
        }
        _ => (Registry::Local(cwd.clone()), &args.args[..]),
    };
    refuse_remote_offline(&registry, global)?;
    let wanted = atoms
        .iter()
        .map(|a| parse_wanted(a))
        .collect::<miette::Result<Vec<_>>>()?;
    let signers = args
        .allowed_signers
        .as_deref()
        .map(atom_ops::trust::read_allowed_signers)
        .transpose()?;
    let request = VerifyRequest {
        registry,
        wanted,
        signers,
        require_signed: args.require_signed,
    };
    let verified = {
        let _progress = output::Progress::start(global, "verifying");
        verify::verify(&request, &global.connections())
    };
    let report = verified.map_err(|e| mistyped_remote(e, &args.args, here.as_ref()))?;
    match global.json {
        true => output::json(&report)?,
        false => print_report(&report, global),
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `--offline` reads only repositories on this machine.
fn refuse_remote_offline(registry: &Registry, global: &Global) -> miette::Result<()> {
    match registry {
        Registry::Remote(url) if global.offline() && !is_on_this_machine(url) => Err(miette!(
            code = "eka::verify::offline",
            "cannot verify `{url}` offline: eka keeps no copy of a remote's atoms and their origins"
        )),
        _ => Ok(()),
    }
}

/// A verification that found no atom named by the first argument, read
/// as a label (a bare word, no `@VERSION`): it may be a mistyped remote.
fn mistyped_remote(
    e: verify::VerifyError,
    args: &[String],
    here: Option<&gix::Repository>,
) -> miette::Report {
    let first_is_label = args
        .first()
        .is_some_and(|f| !is_target(f, here) && !f.contains('@'));
    match e {
        verify::VerifyError::Unknown(label) if first_is_label && args.first() == Some(&label) => {
            not_a_remote_nor_atom(&label, here)
        }
        verify::VerifyError::NoAtoms if first_is_label => not_a_remote_nor_atom(&args[0], here),
        other => other.into(),
    }
}

/// One line per atom: `ok` with its id and digest, or `FAILED` with
/// everything that failed; its signatures; then the counts.
fn print_report(report: &verify::VerifyReport, global: &Global) {
    if !global.quiet {
        for r in &report.foreign_refs {
            eprintln!("warning: ignoring `{r}`: not an atom ref of this format");
        }
    }
    let width = report
        .verdicts
        .iter()
        .map(|v| verdict_name(v).chars().count())
        .max()
        .unwrap_or(0);
    for v in &report.verdicts {
        if !v.ok() {
            let mut failures: Vec<String> = v.failures.iter().map(ToString::to_string).collect();
            if v.missing_signature {
                failures.push(missing_signature(v));
            }
            outln!("FAILED  {}: {}", verdict_name(v), failures.join("; "));
        } else if !global.quiet {
            outln!(
                "ok      {:<width$}  {}  {}",
                verdict_name(v),
                v.id.map(|i| i.to_string()).unwrap_or_default(),
                v.digest.map(|d| d.to_string()).unwrap_or_default()
            );
        }
        if !global.quiet {
            for s in &v.signatures {
                outln!("{}", signature_text(s));
            }
        }
    }
    let failed = report.verdicts.iter().filter(|v| !v.ok()).count();
    if !global.quiet || failed > 0 {
        outln!(
            "{} verified, {} failed",
            report.verdicts.len() - failed,
            failed
        );
    }
}

/// An atom as a verdict names it (eka 0.3's namespace said).
fn verdict_name(v: &verify::Verdict) -> String {
    match v.namespace {
        Namespace::Atoms => format!("{}@{}", v.label, v.version),
        Namespace::Eka03 => format!("{}@{} (eka 0.3)", v.label, v.version),
    }
}

/// The first argument was read as a label and no atom has it: it may be
/// a mistyped remote, so say which remotes there are.
fn not_a_remote_nor_atom(label: &str, here: Option<&gix::Repository>) -> miette::Report {
    let remotes: Vec<String> = here
        .map(|r| r.remote_names().iter().map(|n| n.to_string()).collect())
        .unwrap_or_default();
    let remotes = match remotes.is_empty() {
        true => "this repository has no remote".to_owned(),
        false => format!("its remotes: {}", remotes.join(", ")),
    };
    miette!(
        code = "eka::verify::not_a_remote",
        "`{label}` is neither a remote of this repository ({remotes}) nor an atom published in it"
    )
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

/// Whether a remote's URL is a repository on this machine (a `file://`
/// URL or a path), which `--offline` may read.
fn is_on_this_machine(url: &str) -> bool {
    url.starts_with("file://") || Path::new(url).exists()
}

fn classify(arg: &str, here: Option<&gix::Repository>, cwd: &Path) -> Registry {
    if arg.contains("://") || here.is_some_and(|r| r.find_remote(arg).is_ok()) {
        return Registry::Remote(git::remote_url(here, arg).unwrap_or_else(|_| arg.to_owned()));
    }
    let path = cwd.join(arg);
    if path.exists() {
        Registry::Local(path)
    } else {
        // scp-like `host:path` and anything else git understands.
        Registry::Remote(arg.to_owned())
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

/// One signature, indented under its version: the key, when it signed, and
/// the verdict.
fn signature_text(s: &verify::SignatureLine) -> String {
    let key = s.fingerprint.unwrap_or(s.listed);
    let when = s.signed_at.map(|t| format!(" at {t}")).unwrap_or_default();
    format!("        signature {key}{when}: {}", s.detail)
}

fn missing_signature(v: &verify::Verdict) -> String {
    match v.signatures.len() {
        0 => "not signed (--require-signed)".to_owned(),
        1 => "its signature does not count (--require-signed)".to_owned(),
        n => format!("none of its {n} signatures counts (--require-signed)"),
    }
}
