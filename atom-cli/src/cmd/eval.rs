//! `eka eval`: evaluate an atom's public API (or one attribute of it), a
//! Nix file or an expression with the embedded evaluator, printing like
//! `nix-instantiate --eval`.

use std::path::{Path, PathBuf};

use atom_eval::Limits;
use atom_modules::readahead::Readers;
use atom_modules::Checkout;
use atom_ops::eval::{self, AtomDir, EvalFailure, EvalOptions, EvalOutput};
use miette::IntoDiagnostic;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An atom directory, optionally with `#attr.path` (its public API, or
    /// that attribute of it), or a Nix file (`import` and file reads stay
    /// inside its directory).
    #[arg(
        value_name = "ATOM[#ATTR]|FILE",
        conflicts_with = "expr",
        required_unless_present = "expr"
    )]
    pub(crate) file: Option<PathBuf>,
    /// List the atom's public names without evaluating them.
    #[arg(long)]
    pub(crate) names: bool,
    /// Read the atom from the files on disk instead of a commit.
    #[arg(long, conflicts_with = "rev")]
    pub(crate) worktree: bool,
    /// Read the atom from this commit of its repository.
    #[arg(long, default_value = "HEAD")]
    pub(crate) rev: String,
    /// Use atom.lock and the cache alone for dependencies: no network (the
    /// global `--offline`).
    #[arg(skip)]
    pub(crate) offline: bool,
    /// Evaluate this expression instead of a file (the root is the current
    /// directory).
    #[arg(short = 'E', long = "expr")]
    pub(crate) expr: Option<String>,
    /// Force the whole value, like `nix-instantiate --eval --strict`.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Print the value as JSON (the global `--json`).
    #[arg(skip)]
    pub(crate) json: bool,
    /// Parse every file of an atom: neither read nor write the cache of
    /// parsed files (`~/.cache/eka/parsed`).
    #[arg(long)]
    pub(crate) no_parse_cache: bool,
    /// Parse and bind only: exit 0, or report the error.
    #[arg(long)]
    pub(crate) parse: bool,
    /// Nested function calls allowed.
    #[arg(long, default_value_t = Limits::default().max_call_depth)]
    pub(crate) max_call_depth: usize,
    /// Stop after this many evaluation steps.
    #[arg(long)]
    pub(crate) max_steps: Option<u64>,
    /// Fail when evaluation needs more memory than this (e.g. 512M, 8G; 0:
    /// no limit).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = atom_eval::parse_byte_size)]
    pub(crate) max_memory: u64,
    /// The system an atom's modules see as `cfg.system` (default: this
    /// machine's, e.g. x86_64-linux).
    #[arg(long, value_name = "SYSTEM", value_parser = parse_system)]
    pub(crate) system: Option<String>,
    /// The global network settings.
    #[arg(skip)]
    pub(crate) network: atom_ops::Network,
}

/// A Nix system name (`x86_64-linux`): `<cpu>-<os>`, of the characters
/// Nix's own names use.
pub(crate) fn parse_system(text: &str) -> Result<String, String> {
    let well_formed = text
        .split_once('-')
        .is_some_and(|(cpu, os)| !cpu.is_empty() && !os.is_empty())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match well_formed {
        true => Ok(text.to_owned()),
        false => Err(format!(
            "'{text}' is not a system name: write it as Nix does, <cpu>-<os> (e.g. x86_64-linux, aarch64-darwin)"
        )),
    }
}

impl Args {
    fn options(&self) -> EvalOptions {
        EvalOptions {
            names: self.names,
            strict: self.strict,
            json: self.json,
            checkout: match self.worktree {
                true => Checkout::Worktree,
                false => Checkout::Rev(self.rev.clone()),
            },
            offline: self.offline,
            parse_cache: !self.no_parse_cache,
            parse_only: self.parse,
            limits: Limits {
                max_call_depth: self.max_call_depth,
                max_steps: self.max_steps,
                max_memory_bytes: (self.max_memory > 0).then_some(self.max_memory),
            },
            system: self.system.clone(),
            network: self.network,
        }
    }
}

/// Evaluates what `args` name: a fetched atom, an atom directory, or a Nix
/// file or expression.
fn evaluate(
    args: &Args,
    cwd: &Path,
    fetched: Option<eval::Fetched>,
    atom: Option<AtomDir>,
    readers: Option<Readers>,
) -> Result<EvalOutput, EvalFailure> {
    let options = args.options();
    if let Some(fetched) = fetched {
        return eval::evaluate_fetched(&options, fetched, readers, cwd);
    }
    if let Some(atom) = atom {
        return eval::evaluate_atom(&options, &atom, readers);
    }
    if let (Some(target), true) = (&args.file, args.names) {
        return Err(EvalFailure::NamesOfNonAtom(target.clone()));
    }
    eval::evaluate_nix(&options, args.file.as_deref(), args.expr.as_deref(), cwd)
}

/// An atom URI is resolved and fetched before the evaluation thread starts.
fn fetch(args: &Args, cwd: &Path, global: &crate::Global) -> miette::Result<Option<eval::Fetched>> {
    let Some(text) = args.file.as_ref().and_then(|f| f.to_str()) else {
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
    args.json = global.json;
    args.offline = global.offline();
    args.network = global.network;
    let cwd = std::env::current_dir().into_diagnostic()?;
    let fetched = fetch(&args, &cwd, global)?;
    // An atom evaluated strictly is read ahead on the other cores; their
    // threads start now, so that they are running when the atom is open.
    let atom = match fetched {
        Some(_) => None,
        None => args.file.as_deref().and_then(AtomDir::parse),
    };
    // `git status` runs beside the evaluation, not before it.
    let uncommitted = atom
        .as_ref()
        .filter(|_| reads_head(&args, global))
        .map(|a| {
            let dir = a.dir.clone();
            std::thread::spawn(move || atom_ops::uncommitted_under(&dir))
        });
    let is_atom = fetched.is_some() || atom.is_some();
    let readers = (is_atom && eval::reads_ahead(&args.options()))
        .then(|| Readers::spawn(eval::reader_threads()));
    // Evaluation recurses; the big stack turns deep recursion into a
    // reported error rather than a crash.
    let (verbose, quiet) = (global.verbose > 0, global.quiet);
    let evaluated =
        atom_eval::run_with_large_stack(move || evaluate(&args, &cwd, fetched, atom, readers));
    // Said also when the evaluation fails: the change may be why.
    if let Some(check) = uncommitted {
        warn_uncommitted(&check.join().unwrap_or_default());
    }
    let out = evaluated.map_err(EvalFailure::Thread)??;
    if !quiet {
        for w in &out.warnings {
            eprintln!("warning: {w}");
        }
    }
    if let (Some(report), true) = (&out.parse_cache, verbose) {
        parse_cache_report(report);
    }
    if let Some(text) = out.text? {
        outln!("{text}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Whether the atom is read from `HEAD` and a warning could be shown: then
/// the work tree is compared with it.
fn reads_head(args: &Args, global: &crate::Global) -> bool {
    !args.worktree && args.rev == "HEAD" && !global.quiet
}

/// An atom read from `HEAD` while the work tree changes its files is not
/// what is on disk: say so.
fn warn_uncommitted(changed: &[String]) {
    if !changed.is_empty() {
        eprintln!(
            "warning: evaluating HEAD, but the work tree changes {}; pass --worktree to evaluate the files on disk",
            changed.join(", ")
        );
    }
}

/// What the parse cache did (`-v`).
fn parse_cache_report(report: &eval::ParseCacheReport) {
    eprintln!(
        "parse cache: {} read back, {} parsed",
        report.hits, report.misses
    );
    match &report.written {
        Ok(None) => {}
        Ok(Some(bytes)) => eprintln!(
            "parse cache: wrote {} ({bytes} bytes)",
            report.pack.display()
        ),
        Err(e) => eprintln!(
            "warning: parse cache: cannot write {}: {e}",
            report.pack.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(file: Option<PathBuf>, expr: Option<&str>) -> Args {
        Args {
            file,
            names: false,
            worktree: false,
            rev: "HEAD".into(),
            offline: false,
            expr: expr.map(str::to_string),
            strict: false,
            json: false,
            no_parse_cache: true,
            parse: false,
            max_call_depth: Limits::default().max_call_depth,
            max_steps: None,
            max_memory: atom_eval::DEFAULT_MAX_MEMORY,
            system: None,
            network: Default::default(),
        }
    }

    fn run_args(a: Args) -> Result<Option<String>, EvalFailure> {
        let atom = a.file.as_deref().and_then(AtomDir::parse);
        let cwd = std::env::current_dir().unwrap();
        atom_eval::run_with_large_stack(move || evaluate(&a, &cwd, None, atom, None))
            .expect("evaluation thread")
            .and_then(|out| out.text)
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempTree(PathBuf);

    impl TempTree {
        fn new(name: &str) -> TempTree {
            let dir = std::env::temp_dir().join(format!("eka-eval-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("root")).unwrap();
            TempTree(dir)
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for TempTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn expressions_print_like_nix_instantiate() {
        let mut a = args(None, Some("{ b = [ 1 (1 + 1) ]; a = \"x\"; }"));
        assert_eq!(run_args(a).unwrap().unwrap(), "{ a = \"x\"; b = <CODE>; }");
        a = args(None, Some("{ b = [ 1 (1 + 1) ]; a = \"x\"; }"));
        a.strict = true;
        assert_eq!(run_args(a).unwrap().unwrap(), "{ a = \"x\"; b = [ 1 2 ]; }");
        a = args(None, Some("{ b = [ 1 2.5 ]; a = null; }"));
        a.json = true;
        assert_eq!(run_args(a).unwrap().unwrap(), "{\"a\":null,\"b\":[1,2.5]}");
    }

    #[test]
    fn parse_only_binds_without_evaluating() {
        let mut a = args(None, Some("throw \"not evaluated\""));
        a.parse = true;
        assert_eq!(run_args(a).unwrap(), None);
        let mut a = args(None, Some("x: y"));
        a.parse = true;
        let e = run_args(a).unwrap_err();
        assert_eq!(e.to_string(), "undefined variable 'y'");
    }

    #[test]
    fn files_see_their_directory_and_nothing_outside() {
        let t = TempTree::new("files");
        t.write("root/lib.nix", "{ x = 41; }");
        t.write("secret.nix", "42");
        let main = t.write("root/main.nix", "(import ./lib.nix).x + 1");
        let mut a = args(Some(main), None);
        a.strict = true;
        assert_eq!(run_args(a).unwrap().unwrap(), "42");
        let escape = t.write("root/escape.nix", "import ../secret.nix");
        let e = run_args(args(Some(escape), None)).unwrap_err();
        assert!(e.to_string().contains("outside the root"), "{e}");
    }

    #[test]
    fn errors_carry_labelled_spans_and_a_trace() {
        let e = run_args(args(None, Some("let f = s: s.fooo; in f { foo = 1; }"))).unwrap_err();
        let EvalFailure::Eval(d) = e else {
            panic!("not an evaluation diagnostic: {e}")
        };
        assert_eq!(d.message, "attribute 'fooo' missing; did you mean 'foo'?");
        assert_eq!(d.span, Some(miette::SourceSpan::from(11..17)));
        assert!(d
            .trace
            .iter()
            .any(|f| f.message == "while calling a function"));
    }

    #[test]
    fn call_depth_limit_is_configurable() {
        let mut a = args(
            None,
            Some("let f = n: if n == 0 then 0 else f (n - 1); in f 100"),
        );
        a.max_call_depth = 50;
        let e = run_args(a).unwrap_err();
        assert!(
            e.to_string()
                .contains("call depth exceeded the limit of 50"),
            "{e}"
        );
    }
}
