//! `eka eval`: evaluate an atom's public API (or one attribute of it), a
//! Nix file or an expression with the embedded evaluator, printing like
//! `nix-instantiate --eval`.

use std::path::{Path, PathBuf};

use atom_eval::{EvalError, Evaluator, Limits, RootedFileSystem, Span};
use atom_modules::readahead::Readers;
use miette::{Diagnostic, NamedSource, SourceSpan};

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
    /// Use atom.lock and the cache alone for dependencies: no network.
    #[arg(long)]
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
    /// Report on stderr what the parse cache did (the global `--verbose`).
    #[arg(skip)]
    pub(crate) verbose: bool,
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
}

impl Args {
    /// The evaluator's limits these flags set.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            max_call_depth: self.max_call_depth,
            max_steps: self.max_steps,
            max_memory_bytes: (self.max_memory > 0).then_some(self.max_memory),
        }
    }
}

/// An evaluation error with its source span and trace, for miette.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub(crate) struct EvalDiagnostic {
    message: String,
    #[source_code]
    source_code: Option<NamedSource<String>>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
    #[related]
    trace: Vec<EvalDiagnostic>,
}

fn located(
    ev: &Evaluator,
    span: Option<Span>,
) -> (Option<NamedSource<String>>, Option<SourceSpan>) {
    match span.and_then(|s| ev.source(s.file).map(|src| (s, src))) {
        Some((s, (name, text))) => {
            let len = text.len();
            let start = (s.start as usize).min(len);
            let end = (s.end as usize).clamp(start, len);
            (
                Some(NamedSource::new(name, text.to_string())),
                Some(SourceSpan::from(start..end)),
            )
        }
        None => (None, None),
    }
}

pub(crate) fn diagnose(ev: &Evaluator, e: &EvalError) -> EvalDiagnostic {
    let (source_code, span) = located(ev, e.span());
    let trace = e
        .trace()
        .iter()
        .map(|frame| {
            let (source_code, span) = located(ev, frame.span);
            EvalDiagnostic {
                message: frame.message.clone(),
                source_code,
                span,
                label: String::new(),
                help: None,
                trace: Vec::new(),
            }
        })
        .collect();
    // What to use instead goes on its own `help:` line.
    let (message, help) = match e.kind() {
        atom_eval::ErrorKind::Forbidden { what, help } => {
            (format!("{what} is not available here"), Some(help.clone()))
        }
        _ => (e.to_string(), None),
    };
    EvalDiagnostic {
        message,
        source_code,
        span,
        label: "here".into(),
        help,
        trace,
    }
}

fn absolute(path: &Path) -> miette::Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| miette::miette!("cannot resolve '{}': {e}", path.display()))
}

/// Evaluates what `args` name: a fetched atom, an atom directory (`atom`,
/// [`atom_target`] of the file), or a Nix file or expression.
fn evaluate(
    args: Args,
    fetched: Option<crate::cmd::eval_atom::Fetched>,
    atom: Option<AtomTarget>,
    readers: Option<Readers>,
) -> miette::Result<Option<String>> {
    if let Some(fetched) = fetched {
        return crate::cmd::eval_atom::evaluate_fetched(&args, fetched, readers);
    }
    if let Some(atom) = atom {
        return crate::cmd::eval_atom::evaluate(&args, atom, readers);
    }
    if let Some(target) = &args.file {
        if args.names {
            return Err(miette::miette!(
                help = "--names lists an atom's public names; name an atom directory (holding atom.toml)",
                "'{}' is not an atom directory",
                target.display()
            ));
        }
    }
    let (root, file) = match &args.file {
        Some(f) => {
            let abs = absolute(f)?;
            let dir = abs
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/"));
            (dir, Some(abs))
        }
        None => (absolute(Path::new("."))?, None),
    };
    let fs = RootedFileSystem::new(&root)
        .map_err(|e| miette::miette!("cannot open '{}': {e}", root.display()))?;
    let root = fs.root().to_path_buf();
    let mut ev = Evaluator::new(Box::new(fs), args.limits());
    ev.set_home_dir(std::env::var("HOME").ok());
    // The root is canonical; address the file through it so that it is
    // inside even when the given path went through a symlink.
    let file = file.map(|f| {
        root.join(f.file_name().unwrap_or_default())
            .display()
            .to_string()
    });
    let fail = |ev: &Evaluator, e: EvalError| miette::Report::new(diagnose(ev, &e));
    if args.parse {
        let r = match (&file, &args.expr) {
            (Some(f), _) => ev.check_file(f),
            (None, Some(expr)) => ev.check_source("«string»", expr, &root.display().to_string()),
            (None, None) => Ok(()),
        };
        return r.map(|()| None).map_err(|e| fail(&ev, e));
    }
    let value = match (&file, &args.expr) {
        (Some(f), _) => ev.eval_file(f),
        (None, Some(expr)) => ev.eval_source("«string»", expr, &root.display().to_string()),
        (None, None) => return Ok(None),
    };
    let out = value
        .and_then(|v| {
            if args.strict || args.json {
                ev.force_deep(&v)
            } else {
                Ok(v)
            }
        })
        .and_then(|v| {
            let text = if args.json {
                ev.to_json(&v)
            } else {
                ev.print(&v)
            };
            // The process ends right after printing: tearing the heap of
            // values down one reference count at a time would only delay
            // that (by a tenth of the run on large evaluations).
            std::mem::forget(v);
            text
        });
    let out = out.map(Some).map_err(|e| fail(&ev, e));
    std::mem::forget(ev);
    out
}

/// An atom target: `DIR` or `DIR#attr.path` where `DIR` holds atom.toml.
pub(crate) struct AtomTarget {
    pub dir: PathBuf,
    pub attr: Vec<String>,
}

fn atom_target(target: &Path) -> Option<AtomTarget> {
    let text = target.to_str()?;
    let (dir, attr) = match text.rsplit_once('#') {
        Some((d, a)) => (if d.is_empty() { "." } else { d }, Some(a)),
        None => (text, None),
    };
    let dir = PathBuf::from(dir);
    if !dir.is_dir() {
        return None;
    }
    let attr = attr
        .map(|a| {
            a.split('.')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some(AtomTarget { dir, attr })
}

pub fn run(mut args: Args, global: &crate::Global) -> miette::Result<std::process::ExitCode> {
    args.json = global.json;
    args.verbose = global.verbose;
    // An atom URI is resolved and fetched here, before the evaluation
    // thread starts.
    let fetched = match args.file.as_ref().and_then(|f| f.to_str()) {
        Some(t) if t.contains("::") => Some(crate::cmd::eval_atom::fetch_uri(t, &args, global)?),
        _ => None,
    };
    // An atom evaluated strictly is read ahead on the other cores; their
    // threads start now, so that they are running when the atom is open.
    let atom = match fetched {
        Some(_) => None,
        None => args.file.as_deref().and_then(atom_target),
    };
    let is_atom = fetched.is_some() || atom.is_some();
    let readers = (is_atom && crate::cmd::eval_atom::reads_ahead(&args))
        .then(|| Readers::spawn(crate::cmd::eval_atom::reader_threads()));
    // Evaluation recurses; the big stack turns deep recursion into a
    // reported error rather than a crash.
    let out = atom_eval::run_with_large_stack(move || evaluate(args, fetched, atom, readers))
        .map_err(|e| miette::miette!("cannot start the evaluation thread: {e}"))??;
    if let Some(text) = out {
        println!("{text}");
    }
    Ok(std::process::ExitCode::SUCCESS)
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
            verbose: false,
            no_parse_cache: true,
            parse: false,
            max_call_depth: Limits::default().max_call_depth,
            max_steps: None,
            max_memory: atom_eval::DEFAULT_MAX_MEMORY,
        }
    }

    fn run_args(a: Args) -> miette::Result<Option<String>> {
        let atom = a.file.as_deref().and_then(atom_target);
        atom_eval::run_with_large_stack(move || evaluate(a, None, atom, None))
            .expect("evaluation thread")
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
        let d = e
            .downcast_ref::<EvalDiagnostic>()
            .expect("an evaluation diagnostic");
        assert_eq!(d.message, "attribute 'fooo' missing; did you mean 'foo'?");
        assert_eq!(d.span, Some(SourceSpan::from(11..17)));
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
