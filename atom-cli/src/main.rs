//! `eka`: the command-line porcelain over the atom crates.
//!
//! Each command lives in its own file under `cmd/` and only parses
//! arguments, calls a library and renders the result; the format and
//! resolution logic live in the libraries.

// Library errors carry source text and spans for miette; they are built
// only on the way out, so their size costs nothing on the success path.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[macro_use]
mod output;
mod cmd;
mod command_error;
mod phases;

#[derive(Parser)]
#[command(
    name = "eka",
    about = "A decentralized, verifiable package registry for atoms, on any git repository",
    disable_version_flag = true,
    subcommand_required = false,
    arg_required_else_help = true
)]
struct Cli {
    /// Print the version (with -v: the commit it was built from, the atom
    /// format and the lockfile version)
    #[arg(short = 'V', long)]
    version: bool,
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Option<Command>,
}

/// When to color output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// When writing to a terminal (and `NO_COLOR` is not set)
    #[default]
    Auto,
    Always,
    Never,
}

/// Flags that mean the same for every command.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Print nothing but errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (phase timings, full tables); repeat for more
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Print machine-readable JSON on stdout (errors too)
    #[arg(long, global = true)]
    pub json: bool,
    /// Use no network: atom.lock and the local cache alone
    #[arg(long, global = true)]
    pub offline: bool,
    /// Fail rather than change atom.lock (for CI)
    #[arg(long, global = true)]
    pub locked: bool,
    /// --locked and --offline together
    #[arg(long, global = true)]
    pub frozen: bool,
    /// When to color output
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: Color,
    /// Run as if eka was started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// The network settings of the environment and configuration file.
    #[arg(skip)]
    pub network: atom_ops::Network,
}

impl Global {
    /// Whether the network may be used.
    pub fn offline(&self) -> bool {
        self.offline || self.frozen
    }

    /// Whether atom.lock may change.
    pub fn locked(&self) -> bool {
        self.locked || self.frozen
    }

    /// Whether to show progress and status on stderr: not under `--quiet`
    /// or `--json` (a terminal check is the progress bar's own).
    pub fn chatty(&self) -> bool {
        !self.quiet && !self.json
    }

    /// Connections to remotes, reading git's configuration as git would in
    /// the current directory (where `-C` moved).
    pub fn connections(&self) -> atom_git::Connections {
        self.network
            .connections(&std::env::current_dir().unwrap_or_default())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create a new atom: a directory with an atom.toml
    New(cmd::new::Args),
    /// Make a repository ready to publish: git init, an atom, its mod.nix, a remote (only what is missing)
    Init(cmd::init::Args),
    /// Show the configuration file's path, its settings and aliases
    Config(cmd::config::Args),
    /// Show where the cache is and what it holds; `eka cache gc DIR…` removes what no lock there uses
    Cache(cmd::cache::Args),
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
    /// Print a shell completion script (e.g. `eka completions bash > ~/.local/share/bash-completion/completions/eka`)
    Completions(cmd::completions::Args),
    /// Add your signature to published versions, pushing only the new signature refs
    Sign(cmd::sign::Args),
    /// Withdraw a published version (nothing is deleted; resolution stops picking it)
    Yank(cmd::yank::Args),
    /// A registry's server-side hook refusing rewrites of published atoms
    Hook(cmd::hook::Args),
    /// Print eka's man page (roff), or write one page per command into a directory
    Man(cmd::man::Args),
}

// Evaluation allocates many small, short-lived objects (thunks,
// environments); jemalloc serves them faster than glibc's malloc at a
// similar peak memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads when it starts (`_rjem_` is the
/// prefix tikv-jemalloc-sys builds it with). Transparent huge pages for
/// the heap: an evaluation touches tens of megabytes of fresh heap, and at
/// 4 KiB a page the kernel's page faults for it took a tenth of the time
/// of the attribute-heavy benchmark rows (`bench/eval-results.md`); with
/// 2 MiB pages they almost vanish. jemalloc's own metadata stays on small
/// pages (a huge page for it cost 0.4 ms at start-up). Where the system
/// turns huge pages off, this changes nothing.
#[cfg(target_os = "linux")]
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_OPTIONS: &[u8; 11] = b"thp:always\0";

/// The clap command, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

fn main() -> ExitCode {
    let (expanded, network) = match configured_args() {
        Ok(configured) => configured,
        Err(report) => {
            command_error::print_early(report);
            return ExitCode::FAILURE;
        }
    };
    let mut cli = match Cli::try_parse_from(expanded.args) {
        Ok(cli) => cli,
        Err(e) => return command_error::usage(e),
    };
    cli.global.network = network;
    if !cli.global.quiet {
        for name in &expanded.shadowed {
            eprintln!(
                "warning: user-defined alias `{name}` is ignored, because it is shadowed by a built-in command"
            );
        }
    }
    output::set_color(cli.global.color);
    if cli.version {
        output::version(cli.global.verbose);
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        // `arg_required_else_help` covers a bare `eka`; flags alone land here.
        return command_error::usage(Cli::command().error(
            clap::error::ErrorKind::MissingSubcommand,
            "a command is required",
        ));
    };
    phases::install(cli.global.verbose > 0);
    let result = enter_directory(&cli.global).and_then(|()| run(command, &cli.global));
    match result {
        Ok(code) => code,
        Err(report) => {
            command_error::print(report, &cli.global);
            ExitCode::FAILURE
        }
    }
}

/// The command line with its command alias expanded (`[alias]` of the
/// configuration file, as cargo's), and the network settings of the file
/// and the environment.
fn configured_args() -> miette::Result<(atom_ops::config::Expanded, atom_ops::Network)> {
    let config = atom_ops::config::load()?;
    let network = atom_ops::config::network(&config)?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    Ok((
        atom_ops::config::expand(&config, args, is_builtin)?,
        network,
    ))
}

/// Whether `name` is one of eka's own commands (which no alias replaces).
pub fn is_builtin(name: &str) -> bool {
    name == "help" || <Command as clap::Subcommand>::has_subcommand(name)
}

/// `-C DIR`: everything after runs as if started there.
fn enter_directory(global: &Global) -> miette::Result<()> {
    let Some(dir) = &global.directory else {
        return Ok(());
    };
    std::env::set_current_dir(dir).map_err(|e| {
        miette::miette!(
            code = "eka::cli::directory",
            "cannot run in `{}` (-C): {e}",
            dir.display()
        )
    })
}

fn run(command: Command, global: &Global) -> miette::Result<ExitCode> {
    match command {
        Command::New(args) => cmd::new::run(args, global),
        Command::Init(args) => cmd::init::run(args, global),
        Command::Config(args) => cmd::config::run(args, global),
        Command::Cache(args) => cmd::cache::run(args, global),
        Command::Publish(args) => cmd::publish::run(args, global),
        Command::Verify(args) => cmd::verify::run(args, global),
        Command::Versions(args) => cmd::versions::run(args, global),
        Command::List(args) => cmd::list::run(args, global),
        Command::Show(args) => cmd::show::run(args, global),
        Command::Add(args) => cmd::add::run(args, global),
        Command::Remove(args) => cmd::remove::run(args, global),
        Command::Lock(args) => cmd::lock::run(args, global),
        Command::Update(args) => cmd::update::run(args, global),
        Command::Fetch(args) => cmd::fetch::run(args, global),
        Command::Eval(args) => cmd::eval::run(args, global),
        Command::Build(args) => cmd::build::run(args, global),
        Command::Sign(args) => cmd::sign::run(args, global),
        Command::Yank(args) => cmd::yank::run(args, global),
        Command::Hook(args) => cmd::hook::run(args, global),
        Command::Completions(args) => cmd::completions::run(args, global),
        Command::Man(args) => cmd::man::run(args, global),
    }
}
