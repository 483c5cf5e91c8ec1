//! `eka`: the command-line porcelain over the atom crates.
//!
//! Each command lives in its own file under `cmd/` and only parses
//! arguments, calls a library and renders the result; the format and
//! resolution logic live in the libraries.

// Library errors carry source text and spans for miette; they are built
// only on the way out, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod cmd;
mod command_error;
mod output;

#[derive(Parser)]
#[command(
    name = "eka",
    version,
    about = "A decentralized, verifiable package registry for atoms, on any git repository"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Flags that mean the same for every command.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print machine-readable JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new atom: a directory with an atom.toml
    New(cmd::new::Args),
    /// Publish atoms of a commit to a remote, as atom commits under refs/atoms/
    Publish(cmd::publish::Args),
    /// Check that published atoms are exactly what their origin commits produce
    Verify(cmd::verify::Args),
    /// List the versions of an atom on a remote (fetches no objects)
    Versions(cmd::versions::Args),
    /// List every atom and version of a remote (fetches no objects)
    List(cmd::list::Args),
    /// Show a version's manifest, atom id, commit and origin
    Show(cmd::show::Args),
    /// Add dependencies to atom.toml (`<repository>::<label>[@<req>]`) and lock them
    Add(cmd::add::Args),
    /// Remove dependencies from atom.toml and atom.lock
    Remove(cmd::remove::Args),
    /// Bring atom.lock in line with atom.toml, changing nothing that still satisfies it
    Lock(cmd::lock::Args),
    /// Move dependencies (or the named ones) to the highest allowed versions
    Update(cmd::update::Args),
    /// Fetch the locked atoms into the local cache and verify them
    Fetch(cmd::fetch::Args),
    /// Evaluate a Nix file or expression with the embedded evaluator
    Eval(cmd::eval::Args),
    /// Build an atom's derivations with the local Nix, evaluated by eka
    Build(cmd::build::Args),
}

// Evaluation allocates many small, short-lived objects (thunks,
// environments); jemalloc serves them faster than glibc's malloc at a
// similar peak memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New(args) => cmd::new::run(args, &cli.global),
        Command::Publish(args) => cmd::publish::run(args, &cli.global),
        Command::Verify(args) => cmd::verify::run(args, &cli.global),
        Command::Versions(args) => cmd::versions::run(args, &cli.global),
        Command::List(args) => cmd::list::run(args, &cli.global),
        Command::Show(args) => cmd::show::run(args, &cli.global),
        Command::Add(args) => cmd::add::run(args, &cli.global),
        Command::Remove(args) => cmd::remove::run(args, &cli.global),
        Command::Lock(args) => cmd::lock::run(args, &cli.global),
        Command::Update(args) => cmd::update::run(args, &cli.global),
        Command::Fetch(args) => cmd::fetch::run(args, &cli.global),
        Command::Eval(args) => cmd::eval::run(args, &cli.global),
        Command::Build(args) => cmd::build::run(args, &cli.global),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            command_error::print(report, &cli.global);
            ExitCode::FAILURE
        }
    }
}
