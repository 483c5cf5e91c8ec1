//! `eka build`: evaluate an atom (or a Nix file or expression) to
//! derivations with the embedded evaluator, write them into the local Nix
//! store and have Nix build them; print the output paths and link them
//! like `nix build`.

use std::path::{Path, PathBuf};

use atom_eval::atom_store::daemon::StoreOptions;
use atom_eval::Limits;
use atom_modules::Checkout;
use atom_ops::build::{self, Plan};
use atom_ops::eval::{self, AtomDir, EvalFailure, EvalOptions, Finish};
use miette::IntoDiagnostic;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to build: an atom directory or an atom URI
    /// (`<repository>::<label>[@<version>]`), optionally with `#attr.path`,
    /// or a Nix file. The value must be a derivation, or a set or list of
    /// derivations.
    #[arg(
        value_name = "ATOM[#ATTR]|URI[#ATTR]|FILE",
        conflicts_with = "expr",
        required_unless_present = "expr"
    )]
    pub(crate) target: Option<PathBuf>,
    /// Build the value of this expression instead (the root is the
    /// current directory).
    #[arg(short = 'E', long = "expr")]
    pub(crate) expr: Option<String>,
    /// Print the derivations and which outputs are valid already; build
    /// and write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// The link to the first output (`-<n>` and `-<output>` are appended
    /// for the others, as `nix build` does).
    #[arg(short = 'o', long, value_name = "PATH", default_value = "result")]
    pub(crate) out_link: PathBuf,
    /// Make no links to the outputs.
    #[arg(long, conflicts_with = "out_link")]
    pub(crate) no_link: bool,
    /// Use atom.lock and the cache alone for dependencies: no network.
    #[arg(long)]
    pub(crate) offline: bool,
    /// Read the atom from the files on disk instead of a commit.
    #[arg(long, conflicts_with = "rev")]
    pub(crate) worktree: bool,
    /// Read the atom from this commit of its repository.
    #[arg(long, default_value = "HEAD")]
    pub(crate) rev: String,
    /// The `nix-daemon` program that reaches the store.
    #[arg(long, value_name = "PROGRAM", default_value = "nix-daemon")]
    pub(crate) nix_daemon: PathBuf,
    /// The system an atom's modules see as `cfg.system` (default: this
    /// machine's, e.g. x86_64-linux).
    #[arg(long, value_name = "SYSTEM", value_parser = super::eval::parse_system)]
    pub(crate) system: Option<String>,
    /// The global network settings.
    #[arg(skip)]
    pub(crate) network: atom_ops::Network,
}

impl Args {
    fn options(&self) -> EvalOptions {
        build::eval_options(EvalOptions {
            names: false,
            strict: false,
            json: false,
            checkout: match self.worktree {
                true => Checkout::Worktree,
                false => Checkout::Rev(self.rev.clone()),
            },
            offline: self.offline,
            parse_cache: true,
            parse_only: false,
            limits: Limits::default(),
            system: self.system.clone(),
            network: self.network,
        })
    }

    fn store(&self) -> StoreOptions {
        StoreOptions {
            program: self.nix_daemon.clone(),
            ..StoreOptions::default()
        }
    }
}

/// Evaluates what `args` name to a plan (on the evaluation thread).
fn plan(
    args: &Args,
    cwd: &Path,
    fetched: Option<eval::Fetched>,
    atom: Option<AtomDir>,
) -> Result<Plan, build::BuildError> {
    let options = args.options();
    build::plan(|finish: Finish<'_>| {
        if let Some(fetched) = fetched {
            return eval::evaluate_fetched_with(&options, fetched, None, cwd, Some(finish));
        }
        if let Some(atom) = atom {
            return eval::evaluate_atom_with(&options, &atom, None, Some(finish));
        }
        eval::evaluate_nix_with(
            &options,
            args.target.as_deref(),
            args.expr.as_deref(),
            cwd,
            Some(finish),
        )
    })
}

/// An atom URI is resolved and fetched before the evaluation thread starts.
fn fetch(args: &Args, cwd: &Path, global: &crate::Global) -> miette::Result<Option<eval::Fetched>> {
    let Some(text) = args.target.as_ref().and_then(|f| f.to_str()) else {
        return Ok(None);
    };
    if !text.contains("::") {
        return Ok(None);
    }
    let (uri, attr) = text.rsplit_once('#').unwrap_or((text, ""));
    let target = crate::cmd::query::atom_target(uri, &Default::default(), global)?;
    Ok(Some(eval::fetch_uri(
        uri,
        &target,
        attr,
        &args.options(),
        cwd,
    )?))
}

pub fn run(mut args: Args, global: &crate::Global) -> miette::Result<std::process::ExitCode> {
    args.offline |= global.offline();
    args.network = global.network;
    let cwd = std::env::current_dir().into_diagnostic()?;
    let fetched = fetch(&args, &cwd, global)?;
    let atom = match fetched {
        Some(_) => None,
        None => args.target.as_deref().and_then(AtomDir::parse),
    };
    let (args, plan) = atom_eval::run_with_large_stack(move || {
        let plan = plan(&args, &cwd, fetched, atom);
        (args, plan)
    })
    .map_err(EvalFailure::Thread)?;
    let plan = plan?;
    if args.dry_run {
        return dry_run(&args, &plan, global);
    }
    let quiet = global.quiet;
    let log = Box::new(move |line: &str| {
        if !quiet {
            crate::output::Progress::eprintln(line);
        }
    });
    let built = {
        let _progress = crate::output::Progress::start(global, "building");
        build::realise(&plan, args.store(), Some(log))?
    };
    if !args.no_link {
        build::make_links(&plan, &args.out_link, args.store())?;
    }
    if global.json {
        outln!(
            "{}",
            serde_json::to_string(&built).expect("build results serialize")
        );
    } else {
        for b in &built {
            for path in b.outputs.values() {
                outln!("{path}");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn dry_run(
    args: &Args,
    plan: &Plan,
    global: &crate::Global,
) -> miette::Result<std::process::ExitCode> {
    let found = build::dry_run(plan, args.store())?;
    if global.json {
        outln!(
            "{}",
            serde_json::to_string(&found).expect("dry-run results serialize")
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let (valid, missing): (Vec<_>, Vec<_>) = found.iter().partition(|f| f.valid);
    if !missing.is_empty() {
        outln!("these derivations would be built:");
        for f in &missing {
            outln!("  {}!{}", f.drv_path, f.output);
        }
    }
    if !valid.is_empty() {
        outln!("these outputs are valid already:");
        for f in &valid {
            outln!("  {}", f.path);
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
