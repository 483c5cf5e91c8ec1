//! `eka completions`: a shell completion script (clap_complete).

use std::process::ExitCode;

use clap_complete::Shell;

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The shell: bash, elvish, fish, powershell or zsh
    shell: Shell,
}

pub fn run(args: Args, _: &Global) -> miette::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::command(), "eka", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}
