//! `eka`: the command-line porcelain over the atom crates.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "eka",
    version,
    about = "A decentralized, verifiable package registry for atoms"
)]
struct Cli {}

fn main() -> miette::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
