//! Typed evaluation errors, with the source span and the chain of what was
//! being evaluated, so that a front end can render them (the CLI uses miette).

use std::fmt;
use std::sync::Arc;

/// Identifies one source text registered with an [`crate::Evaluator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub(crate) u32);

/// A byte range in one source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// The byte range as `start..end`.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// What went wrong. The message texts follow Nix's where Nix has one.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("syntax error: {message}")]
    Syntax { message: String },
    #[error("undefined variable '{name}'")]
    UndefinedVariable { name: String },
    #[error("attribute '{name}' already defined")]
    DuplicateAttribute { name: String },
    #[error("duplicate formal function argument '{name}'")]
    DuplicateFormal { name: String },
    #[error("dynamic attributes not allowed in let")]
    DynamicAttributeInLet,
    #[error("{what} is not supported by this evaluator")]
    Unsupported { what: String },
    #[error("{message}")]
    Thrown { message: String },
    #[error("evaluation aborted with the following error message: '{message}'")]
    Aborted { message: String },
    #[error("assertion '{condition}' failed")]
    AssertionFailed { condition: String },
    #[error("infinite recursion encountered")]
    InfiniteRecursion,
    #[error("stack overflow: call depth exceeded the limit of {limit}")]
    CallDepthExceeded { limit: usize },
    #[error("stack overflow: evaluation nested deeper than {limit} levels")]
    NestingTooDeep { limit: usize },
    #[error("evaluation exceeded its budget of {budget} steps")]
    StepBudgetExhausted { budget: u64 },
    #[error("evaluation exceeded its memory limit of {}", byte_size(*.limit))]
    MemoryLimitExceeded { limit: u64 },
    #[error("the regular expression '{pattern}' was given up after {steps} steps of backtracking")]
    RegexTooExpensive { pattern: String, steps: u64 },
    #[error("cannot convert a value that contains itself to {format}")]
    CyclicValue { format: &'static str },
    #[error("expected {expected} but found {found}")]
    TypeMismatch {
        expected: &'static str,
        found: &'static str,
    },
    #[error("attempt to call something which is not a function but {found}")]
    NotAFunction { found: &'static str },
    #[error("attribute '{name}' missing{}", suggestion_text(.suggestions))]
    MissingAttribute {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("function called without required argument '{name}'")]
    MissingArgument { name: String },
    #[error("function called with unexpected argument '{name}'{}", suggestion_text(.suggestions))]
    UnexpectedArgument {
        name: String,
        suggestions: Vec<String>,
    },
    #[error("integer overflow in {operation}")]
    IntegerOverflow { operation: &'static str },
    #[error("division by zero")]
    DivisionByZero,
    #[error("access to path '{path}' is forbidden: it is outside the root '{root}'")]
    OutsideRoot { path: String, root: String },
    #[error("path '{path}' does not exist")]
    NotFound { path: String },
    #[error("reading '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: crate::FsError,
    },
    #[error("file '{path}' is not valid UTF-8")]
    NotUtf8 { path: String },
    #[error("invalid JSON: {source}")]
    InvalidJson {
        #[source]
        source: SharedCause,
    },
    /// `message` is the parser's own text without its excerpt of the input
    /// (or why a valid TOML value has no Nix value).
    #[error("invalid TOML: {message}")]
    InvalidToml {
        message: String,
        #[source]
        source: Option<SharedCause>,
    },
    /// A string that must be plain (an attribute name, a version, a
    /// regular expression, a text to parse, …) refers to the store;
    /// `reference` is the first element of its context in Nix's form.
    #[error("the string '{text}' is not allowed to refer to a store path (such as '{reference}')")]
    ContextNotAllowed { text: String, reference: String },
    /// `path + s` or `./a/${s}` where `s` refers to the store.
    #[error("a string that refers to a store path cannot be appended to a path")]
    ContextAppendedToPath,
    #[error("{what} is not available here: {help}")]
    Forbidden { what: String, help: String },
    #[error("{message}")]
    Other { message: String },
}

/// The cause of an error, kept whole. Evaluation errors are cloned (a
/// failed thunk reports its error again when forced again) and most causes
/// (I/O, parsers) cannot be, so the cause is shared. Two causes are equal
/// when they read the same.
#[derive(Clone, Debug)]
pub struct SharedCause(Arc<dyn std::error::Error + Send + Sync>);

impl SharedCause {
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        SharedCause(Arc::new(cause))
    }

    /// The cause itself, e.g. to downcast it.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for SharedCause {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.to_string() == other.to_string()
    }
}

/// `n` bytes in the largest binary unit that shows it exactly (`4 GiB`,
/// `1536 MiB`, `1000 bytes`).
pub(crate) fn byte_size(n: u64) -> String {
    for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    format!("{n} bytes")
}

fn suggestion_text(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean '{one}'?"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("'{s}'")).collect();
            format!("; did you mean one of {}?", quoted.join(", "))
        }
    }
}

/// One step of the "while evaluating ..." chain.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFrame {
    pub message: String,
    pub span: Option<Span>,
}

#[derive(Clone, Debug, PartialEq)]
struct ErrorData {
    kind: ErrorKind,
    span: Option<Span>,
    trace: Vec<TraceFrame>,
    /// The host's diagnostic code for an error it raised (a dependency
    /// that is not locked), so that its caller can say what to do.
    code: Option<&'static str>,
}

/// An evaluation (or parse/bind) error. Boxed so `Result<Value, EvalError>`
/// stays two words wide on the hot path.
#[derive(Clone, PartialEq)]
pub struct EvalError(Box<ErrorData>);

/// The trace keeps its innermost frames; beyond this it only grows noise.
const MAX_TRACE: usize = 32;

impl EvalError {
    pub fn new(kind: ErrorKind, span: Option<Span>) -> Self {
        EvalError(Box::new(ErrorData {
            kind,
            span,
            trace: Vec::new(),
            code: None,
        }))
    }
    /// Marks a host's error with its diagnostic code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.0.code = Some(code);
        self
    }
    /// The host's diagnostic code ([`EvalError::with_code`]), if any.
    pub fn code(&self) -> Option<&'static str> {
        self.0.code
    }
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }
    /// Where the error happened, when known.
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }
    /// What was being evaluated, innermost first.
    pub fn trace(&self) -> &[TraceFrame] {
        &self.0.trace
    }
    pub(crate) fn with_span_if_none(mut self, span: Span) -> Self {
        if self.0.span.is_none() {
            self.0.span = Some(span);
        }
        self
    }
    pub(crate) fn push_trace(
        mut self,
        message: impl FnOnce() -> String,
        span: Option<Span>,
    ) -> Self {
        if self.0.trace.len() < MAX_TRACE {
            let message = message();
            // Deep recursion repeats the same frame; one copy says enough.
            if self
                .0
                .trace
                .last()
                .is_none_or(|f| f.message != message || f.span != span)
            {
                self.0.trace.push(TraceFrame { message, span });
            }
        }
        self
    }
    /// Adds a frame to the trace: what the host was doing when the error
    /// happened (e.g. which module it was evaluating).
    pub fn context(self, message: impl Into<String>) -> Self {
        let message = message.into();
        self.push_trace(|| message, None)
    }
    /// `tryEval` catches only `throw` and failed assertions, as in Nix.
    pub fn is_catchable(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Thrown { .. } | ErrorKind::AssertionFailed { .. }
        )
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.kind.fmt(f)
    }
}

impl fmt::Debug for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EvalError({:?} at {:?}, trace {:?})",
            self.0.kind, self.0.span, self.0.trace
        )
    }
}

impl std::error::Error for EvalError {}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;

pub(crate) fn err<T>(kind: ErrorKind) -> Result<T> {
    Err(EvalError::new(kind, None))
}

pub(crate) fn other<T>(message: impl Into<String>) -> Result<T> {
    err(ErrorKind::Other {
        message: message.into(),
    })
}

/// Names within a small edit distance of `name`, closest first: Nix's
/// "did you mean" suggestions.
pub(crate) fn closest_names<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|c| {
            let d = levenshtein(name, c);
            (d <= 2.max(name.len() / 3)).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_closest_first() {
        let names = ["foo", "bar", "fob", "food"];
        assert_eq!(
            closest_names("fo", names.iter().copied()),
            vec!["fob", "foo", "food"]
        );
        assert!(closest_names("zzzzzz", names.iter().copied()).is_empty());
    }

    #[test]
    fn an_io_failure_keeps_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let fs = crate::RootedFileSystem::new(dir.path()).unwrap();
        let root = fs.root().display().to_string();
        let mut ev = crate::Evaluator::new(Box::new(fs), crate::Limits::default());
        // Reading a directory as a file fails in the operating system.
        let e = ev
            .eval_source("t", &format!("builtins.readFile {root}"), &root)
            .unwrap_err();
        let cause = std::error::Error::source(e.kind()).expect("a cause");
        let crate::FsError::Os(os) = cause.downcast_ref::<crate::FsError>().unwrap() else {
            panic!("{cause:?}");
        };
        assert!(os.get().downcast_ref::<std::io::Error>().is_some());
    }

    #[test]
    fn a_parser_failure_keeps_its_cause() {
        let mut ev = crate::Evaluator::new(Box::new(crate::NoFileSystem), crate::Limits::default());
        for (text, parser) in [
            ("builtins.fromJSON \"[\"", "JSON"),
            ("builtins.fromTOML \"a =\"", "TOML"),
        ] {
            let e = ev.eval_source("t", text, "/").unwrap_err();
            let cause = std::error::Error::source(e.kind()).expect(parser);
            assert!(e.to_string().contains(parser), "{e}");
            assert!(!cause.to_string().is_empty());
        }
    }

    #[test]
    fn missing_attribute_message_suggests() {
        let e = ErrorKind::MissingAttribute {
            name: "fo".into(),
            suggestions: vec!["foo".into()],
        };
        assert_eq!(e.to_string(), "attribute 'fo' missing; did you mean 'foo'?");
    }
}
