//! `eka`: the command-line porcelain over the atom crates.

mod cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "eka",
    version,
    about = "A decentralized, verifiable package registry for atoms"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate a Nix file or expression with the embedded evaluator.
    Eval(cmd::eval::Args),
}

fn main() -> miette::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Eval(args)) => cmd::eval::run(args),
        None => Ok(()),
    }
}
