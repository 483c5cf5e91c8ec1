//! `eka sign`: add a signature to published versions.

use std::process::ExitCode;

use atom_format::refs::AtomVersion;
use atom_format::Label;

use atom_ops::sign::{self, SignRequest, SignStatus};
use miette::{miette, IntoDiagnostic};

use crate::{output, Global};

#[derive(clap::Args)]
pub struct Args {
    /// Versions to sign, as LABEL@VERSION
    #[arg(required = true, value_name = "LABEL@VERSION")]
    atoms: Vec<String>,
    /// The registry: a configured remote's name, or a URL or path
    #[arg(long, default_value = "origin")]
    remote: String,
    /// The signing key: a key file, a public key file (key in ssh-agent) or `key::ssh-ed25519 AAAA…` (default: git config eka.signingKey, else user.signingKey)
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let cwd = std::env::current_dir().into_diagnostic()?;
    let atoms = args
        .atoms
        .iter()
        .map(|a| parse_version(a))
        .collect::<miette::Result<Vec<_>>>()?;
    let request = SignRequest {
        dir: cwd.clone(),
        remote: args.remote,
        atoms,
        key: args.key,
    };
    let report = sign::sign(&request, &global.connections())?;
    if global.json {
        output::json(&report)?;
    } else if !global.quiet {
        for a in &report.atoms {
            let status = match a.status {
                SignStatus::Signed => "signed",
                SignStatus::AlreadySigned => "already signed by this key",
            };
            outln!("{}: {status}", a.atom);
        }
        outln!("signer {} on {}", report.signer, report.remote);
    }
    Ok(ExitCode::SUCCESS)
}

/// `LABEL@VERSION`, exactly one version.
pub fn parse_version(arg: &str) -> miette::Result<AtomVersion> {
    let help = "name a published version as LABEL@VERSION, e.g. hello@1.0.0";
    let Some((label, version)) = arg.split_once('@') else {
        return Err(miette!(help = help, "`{arg}` names no version"));
    };
    let label =
        Label::parse(label).map_err(|e| miette!(help = help, "invalid label `{label}`: {e}"))?;
    let version = semver::Version::parse(version)
        .map_err(|e| miette!(help = help, "invalid version `{version}`: {e}"))?;
    Ok(AtomVersion::new(label, version))
}
