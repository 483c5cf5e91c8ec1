//! `eka man`: man pages (clap_mangen), from the same definitions as `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{miette, IntoDiagnostic};

use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Write `eka.1` and one `eka-<command>.1` per command into this
    /// directory (created if missing) instead of printing `eka.1`
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

pub fn run(args: Args, global: &Global) -> miette::Result<ExitCode> {
    let command = crate::command();
    let Some(dir) = args.out_dir else {
        out!("{}", String::from_utf8_lossy(&page(command)?));
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&dir)
        .into_diagnostic()
        .map_err(|e| e.wrap_err(format!("cannot create `{}`", dir.display())))?;
    let mut written = vec![write(&dir, "eka", command.clone())?];
    for sub in command.get_subcommands() {
        let name = format!("eka-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone());
        written.push(write(&dir, &name, page)?);
    }
    if !global.quiet {
        outln!("wrote {} man pages to {}", written.len(), dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn page(command: clap::Command) -> miette::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| miette!("cannot render the man page: {e}"))?;
    Ok(page)
}

fn write(dir: &std::path::Path, name: &str, command: clap::Command) -> miette::Result<PathBuf> {
    let path = dir.join(format!("{name}.1"));
    atom_lock::files::write_whole(&path, &page(command)?)
        .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))?;
    Ok(path)
}
