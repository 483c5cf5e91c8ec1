//! Writing store objects into a local Nix store and building them,
//! through Nix's own worker protocol spoken with `nix-daemon --stdio`.
//!
//! Why this way: a `.drv` is a text path *with references* (its inputs),
//! and its path depends on them. Of Nix's command-line tools only
//! `nix-instantiate` writes such paths, from a Nix expression; `nix-store
//! --add` writes sources without references, and `nix-store --import`
//! needs the path to be signed unless the user is trusted. The worker
//! protocol's `AddToStore` (method `text:sha256` for texts and
//! `fixed:r:sha256` for sources) writes exactly the content-addressed
//! paths eka computed, with their references, for any user: the store
//! recomputes each path from the content, so nothing has to be trusted.
//!
//! `nix-daemon --stdio` speaks that protocol on its standard streams and
//! serves whatever store the user's Nix would use: as root with no
//! daemon, it opens the local store itself (single-user); when a daemon
//! runs (`NIX_REMOTE=daemon`, or a non-root user with the daemon socket),
//! it forwards the connection to the daemon. eka never writes into
//! `/nix/store` itself.
//!
//! Paths are added in dependency order (references first), so the store
//! never holds a path whose references are missing; a path that is
//! already valid is not sent again; a failed build registers nothing
//! (Nix registers outputs only after the builder succeeded and, for
//! fixed outputs, the hash matched).

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::derivation::Derivation;
use crate::known::{BoxError, Content, KnownError, KnownPaths, NarSource};
use crate::store_path::{StoreDir, StorePath};

const WORKER_MAGIC_1: u64 = 0x6e69_7863;
const WORKER_MAGIC_2: u64 = 0x6478_696f;
/// Protocol 1.34, Nix 2.8's.
const CLIENT_VERSION: u64 = (1 << 8) | 34;
/// `AddToStore` with a content-address method and framed data: Nix 2.4.
const MIN_MINOR: u64 = 25;

const STDERR_NEXT: u64 = 0x6f6c_6d67;
const STDERR_READ: u64 = 0x6461_7461;
const STDERR_WRITE: u64 = 0x6461_7416;
const STDERR_LAST: u64 = 0x616c_7473;
const STDERR_ERROR: u64 = 0x6378_7470;
const STDERR_START_ACTIVITY: u64 = 0x5354_5254;
const STDERR_STOP_ACTIVITY: u64 = 0x5354_4f50;
const STDERR_RESULT: u64 = 0x5253_4c54;

const OP_IS_VALID_PATH: u64 = 1;
const OP_ADD_TO_STORE: u64 = 7;
const OP_BUILD_PATHS: u64 = 9;
const OP_ADD_TEMP_ROOT: u64 = 11;
const OP_ADD_INDIRECT_ROOT: u64 = 12;
const OP_SET_OPTIONS: u64 = 19;

const RES_BUILD_LOG_LINE: u64 = 101;
/// A result with `done, expected, running, failed` of an activity.
const RES_PROGRESS: u64 = 105;
/// The activity counting a worker's builds (`actBuilds`).
const ACT_BUILDS: u64 = 104;
const LVL_ERROR: u64 = 0;
const LVL_VOMIT: u64 = 7;

/// How many lines of build output a failure keeps.
const LOG_TAIL_LINES: usize = 25;
/// Bytes per frame of framed data.
const FRAME_SIZE: usize = 64 * 1024;

/// How to reach Nix.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The `nix-daemon` program (looked up on `PATH` if not a path).
    pub program: PathBuf,
    /// Environment for it (e.g. `NIX_REMOTE=daemon`), on top of eka's.
    pub env: Vec<(OsString, OsString)>,
    /// The store directory eka computes paths for; the store must agree.
    pub store_dir: StoreDir,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            program: PathBuf::from("nix-daemon"),
            env: Vec::new(),
            store_dir: StoreDir::default(),
        }
    }
}

/// What can be built: a store path as it is, or outputs of a derivation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DerivedPath {
    Opaque(StorePath),
    Built {
        drv: StorePath,
        outputs: BTreeSet<String>,
    },
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "Nix is needed to build, and '{program}' could not be run; install Nix 2.4 or later \
         (Debian and Ubuntu: `apt-get install nix-bin`; elsewhere see nixos.org/download) \
         and make sure `nix-daemon` is on PATH"
    )]
    NixMissing {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("could not start '{program}'")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the Nix store did not answer{}", stderr_suffix(.stderr))]
    Connection {
        stderr: String,
        #[source]
        source: io::Error,
    },
    #[error("the Nix store speaks protocol 1.{0}; eka needs 1.{MIN_MINOR} (Nix 2.4) or later")]
    TooOld(u64),
    #[error("unexpected answer from the Nix store: {0}")]
    Protocol(String),
    #[error("Nix: {message}")]
    Nix { message: String },
    #[error("{message}{}", tail_suffix(.message, .log_tail))]
    BuildFailed {
        message: String,
        log_tail: Vec<String>,
    },
    #[error(
        "the Nix store put '{name}' at '{got}', not at '{expected}' as eka computed; \
         is its store directory '{store_dir}'?"
    )]
    PathMismatch {
        name: String,
        expected: String,
        got: String,
        store_dir: String,
    },
    #[error("the Nix store answered '{got}', which is not in '{store_dir}': eka computes paths for that store directory, and Nix uses another")]
    StoreDirMismatch { got: String, store_dir: String },
    #[error("the derivation '{drv}' has no output '{output}'")]
    NoSuchOutput { drv: String, output: String },
    #[error("the store object '{0}' is not known to this evaluation")]
    Unknown(String),
    #[error("producing the contents of '{path}'")]
    Source {
        path: String,
        #[source]
        source: BoxError,
    },
    #[error(transparent)]
    Known(#[from] KnownError),
}

fn stderr_suffix(stderr: &str) -> String {
    match stderr.trim() {
        "" => String::new(),
        text => format!(": {text}"),
    }
}

fn tail_suffix(message: &str, tail: &[String]) -> String {
    if tail.is_empty() || message.contains("log lines") {
        return String::new();
    }
    format!("\nlast {} log lines:\n> {}", tail.len(), tail.join("\n> "))
}

/// A connection to the local Nix store.
pub struct Store {
    child: Child,
    /// `None` only while dropping.
    to: Option<BufWriter<ChildStdin>>,
    from: BufReader<ChildStdout>,
    minor: u64,
    nix_version: Option<String>,
    store_dir: StoreDir,
    child_stderr: ChildStderr,
    log: Log,
}

/// Receives Nix's messages and build output, line by line.
pub type LogSink = Box<dyn FnMut(&str) + Send>;

/// How far the current operation is, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreProgress {
    /// Store objects written, of those the store lacked.
    Written { done: u64, total: u64 },
    /// Derivations built, of those Nix has to build (as Nix counts them:
    /// what is valid already is not counted).
    Built { done: u64, total: u64 },
}

/// Receives [`StoreProgress`] as it changes.
pub type ProgressSink = Box<dyn FnMut(StoreProgress) + Send>;

/// Lines Nix printed during the current operation, and its progress.
#[derive(Default)]
struct Log {
    tail: VecDeque<String>,
    sink: Option<LogSink>,
    progress: Option<ProgressSink>,
    /// The id of Nix's activity counting builds, once started.
    builds: Option<u64>,
}

impl Log {
    fn line(&mut self, line: &str) {
        let line = strip_ansi(line.trim_end_matches('\n'));
        if let Some(sink) = &mut self.sink {
            sink(&line);
        }
        if self.tail.len() == LOG_TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn progress(&mut self, progress: StoreProgress) {
        if let Some(sink) = &mut self.progress {
            sink(progress);
        }
    }

    /// A result of Nix's activity `id`: the builds' counts, if it is them.
    fn result(&mut self, id: u64, kind: u64, fields: &[Field]) {
        match (kind, fields) {
            (RES_BUILD_LOG_LINE, [Field::String(line), ..]) => {
                self.line(&String::from_utf8_lossy(line));
            }
            (RES_PROGRESS, [Field::Int(done), Field::Int(expected), ..])
                if self.builds == Some(id) && *expected > 0 =>
            {
                self.progress(StoreProgress::Built {
                    done: *done,
                    total: *expected,
                });
            }
            _ => {}
        }
    }
}

impl Store {
    /// Connects to the store the user's Nix uses.
    pub fn open() -> Result<Store, StoreError> {
        Store::open_with(StoreOptions::default())
    }

    pub fn open_with(options: StoreOptions) -> Result<Store, StoreError> {
        let program = options.program.display().to_string();
        let mut child = Command::new(&options.program)
            .arg("--stdio")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| match source.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                    StoreError::NixMissing {
                        program: program.clone(),
                        source,
                    }
                }
                _ => StoreError::Spawn {
                    program: program.clone(),
                    source,
                },
            })?;
        let child_stderr = ChildStderr::collect(&mut child);
        let mut store = Store {
            to: Some(BufWriter::new(child.stdin.take().expect("piped stdin"))),
            from: BufReader::new(child.stdout.take().expect("piped stdout")),
            child,
            minor: 0,
            nix_version: None,
            store_dir: options.store_dir,
            child_stderr,
            log: Log::default(),
        };
        store.handshake()?;
        store.set_options()?;
        Ok(store)
    }

    /// The store directory paths are computed for.
    pub fn store_dir(&self) -> &StoreDir {
        &self.store_dir
    }

    /// Nix's version, when the daemon tells it (protocol 1.33 and later).
    pub fn nix_version(&self) -> Option<&str> {
        self.nix_version.as_deref()
    }

    /// Where Nix's messages and build output go, line by line, as they
    /// come (the last lines are also kept for errors).
    pub fn set_log_sink(&mut self, sink: LogSink) {
        self.log.sink = Some(sink);
    }

    /// Where the counts of [`Store::upload`] and [`Store::build`] go.
    pub fn set_progress_sink(&mut self, sink: ProgressSink) {
        self.log.progress = Some(sink);
    }

    /// Whether `path` is valid (registered) in the store.
    pub fn is_valid(&mut self, path: &StorePath) -> Result<bool, StoreError> {
        self.op(OP_IS_VALID_PATH)?;
        let printed = self.store_dir.print(path);
        self.write_string(printed.as_bytes())?;
        self.finish_op()?;
        Ok(self.read_u64()? != 0)
    }

    /// Adds a text file with references (a `toFile` result, a `.drv`);
    /// returns its path, which is the one eka computes.
    pub fn add_text(
        &mut self,
        name: &str,
        text: &str,
        references: &BTreeSet<StorePath>,
    ) -> Result<StorePath, StoreError> {
        let expected = self
            .store_dir
            .make_text_path(name, text.as_bytes(), references)
            .map_err(KnownError::from)?;
        let got = self.add_to_store(name, "text:sha256", references, &mut |out| {
            out.write_all(text.as_bytes())
                .map_err(|e| Box::new(e) as BoxError)
        })?;
        self.check_path(name, &expected, &got)
    }

    /// Adds a file tree as a source path (recursive SHA-256, no references).
    pub fn add_source(&mut self, name: &str, nar: &dyn NarSource) -> Result<StorePath, StoreError> {
        self.add_to_store(name, "fixed:r:sha256", &BTreeSet::new(), &mut |out| {
            nar.write_nar(out)
        })
    }

    /// Adds a store derivation; its inputs must be valid already.
    pub fn add_derivation(&mut self, drv: &Derivation) -> Result<StorePath, StoreError> {
        let aterm = drv.to_aterm(&self.store_dir);
        self.add_text(&format!("{}.drv", drv.name), &aterm, &drv.references())
    }

    /// Writes `roots` and everything they refer to, as the evaluation
    /// produced them, references first; paths the store has are skipped.
    /// Each added path is a temporary GC root of this connection.
    pub fn upload(
        &mut self,
        known: &KnownPaths,
        roots: &[StorePath],
    ) -> Result<Vec<StorePath>, StoreError> {
        let mut added = Vec::new();
        let mut missing = Vec::new();
        for path in known.closure(roots)? {
            if !self.is_valid(&path)? {
                missing.push(path);
            }
        }
        let total = missing.len() as u64;
        if total > 0 {
            self.log.progress(StoreProgress::Written { done: 0, total });
        }
        for path in missing {
            let entry = known
                .get(&path)
                .ok_or_else(|| StoreError::Unknown(self.store_dir.print(&path)))?;
            let got = match &entry.content {
                Content::Text(text) => self.add_text(path.name(), text, &entry.references)?,
                Content::Derivation { aterm, .. } => {
                    self.add_text(path.name(), aterm, &entry.references)?
                }
                Content::Source { nar, .. } => self.add_source(path.name(), nar.as_ref())?,
            };
            let got = self.check_path(path.name(), &path, &got)?;
            self.add_temp_root(&got)?;
            added.push(got);
            let done = added.len() as u64;
            self.log.progress(StoreProgress::Written { done, total });
        }
        Ok(added)
    }

    /// What `eka build` does: checks that every wanted output exists,
    /// writes the closure of `wanted` into the store, builds it, and
    /// returns the wanted paths (outputs in the order asked), each valid.
    pub fn realise(
        &mut self,
        known: &KnownPaths,
        wanted: &[DerivedPath],
    ) -> Result<Vec<StorePath>, StoreError> {
        let mut roots = Vec::new();
        let mut results = Vec::new();
        for path in wanted {
            match path {
                DerivedPath::Opaque(path) => {
                    roots.push(path.clone());
                    results.push(path.clone());
                }
                DerivedPath::Built { drv, outputs } => {
                    let derivation = known
                        .derivation(drv)
                        .ok_or_else(|| StoreError::Unknown(self.store_dir.print(drv)))?;
                    for output in outputs {
                        let path = derivation.output_path(output).ok_or_else(|| {
                            StoreError::NoSuchOutput {
                                drv: self.store_dir.print(drv),
                                output: output.clone(),
                            }
                        })?;
                        results.push(path.clone());
                    }
                    roots.push(drv.clone());
                }
            }
        }
        self.upload(known, &roots)?;
        self.build(wanted)?;
        for path in &results {
            if !self.is_valid(path)? {
                return Err(StoreError::Protocol(format!(
                    "the build succeeded but '{}' is not valid",
                    self.store_dir.print(path)
                )));
            }
        }
        Ok(results)
    }

    /// Builds (or substitutes) `paths`. A failure is
    /// [`StoreError::BuildFailed`] with Nix's message and the last lines
    /// of build output.
    pub fn build(&mut self, paths: &[DerivedPath]) -> Result<(), StoreError> {
        self.op(OP_BUILD_PATHS)?;
        self.write_u64(paths.len() as u64)?;
        for path in paths {
            let text = self.print_derived_path(path);
            self.write_string(text.as_bytes())?;
        }
        self.write_u64(0)?; // bmNormal
        self.log.tail.clear();
        self.log.builds = None;
        match self.process_stderr() {
            Ok(()) => {}
            Err(StoreError::Nix { message }) => {
                return Err(StoreError::BuildFailed {
                    message,
                    log_tail: self.log.tail.drain(..).collect(),
                })
            }
            Err(other) => return Err(other),
        }
        self.read_u64()?;
        Ok(())
    }

    fn print_derived_path(&self, path: &DerivedPath) -> String {
        match path {
            DerivedPath::Opaque(path) => self.store_dir.print(path),
            DerivedPath::Built { drv, outputs } => {
                let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
                format!("{}!{}", self.store_dir.print(drv), outputs.join(","))
            }
        }
    }

    /// Keeps `path` alive while this connection lasts.
    pub fn add_temp_root(&mut self, path: &StorePath) -> Result<(), StoreError> {
        self.op(OP_ADD_TEMP_ROOT)?;
        let printed = self.store_dir.print(path);
        self.write_string(printed.as_bytes())?;
        self.finish_op()?;
        self.read_u64()?;
        Ok(())
    }

    /// Registers the symlink `link` (absolute) as a garbage-collector
    /// root: what it points to stays alive while it does (`nix build`'s
    /// `./result`).
    pub fn add_indirect_root(&mut self, link: &std::path::Path) -> Result<(), StoreError> {
        self.op(OP_ADD_INDIRECT_ROOT)?;
        self.write_string(link.as_os_str().as_encoded_bytes())?;
        self.finish_op()?;
        self.read_u64()?;
        Ok(())
    }

    fn check_path(
        &self,
        name: &str,
        expected: &StorePath,
        got: &StorePath,
    ) -> Result<StorePath, StoreError> {
        if expected != got {
            return Err(StoreError::PathMismatch {
                name: name.to_owned(),
                expected: self.store_dir.print(expected),
                got: self.store_dir.print(got),
                store_dir: self.store_dir.as_str().to_owned(),
            });
        }
        Ok(got.clone())
    }

    /// `AddToStore` (protocol 1.25+): name, method, references, repair,
    /// then the content as framed data, sent from another thread while
    /// this one reads the store's messages (the store may talk before it
    /// has read everything).
    fn add_to_store(
        &mut self,
        name: &str,
        method: &str,
        references: &BTreeSet<StorePath>,
        content: &mut (dyn FnMut(&mut dyn Write) -> Result<(), BoxError> + Send),
    ) -> Result<StorePath, StoreError> {
        self.op(OP_ADD_TO_STORE)?;
        self.write_string(name.as_bytes())?;
        self.write_string(method.as_bytes())?;
        self.write_paths(references)?;
        self.write_u64(0)?; // no repair
        self.flush()?;
        let Store {
            to,
            from,
            log,
            minor,
            ..
        } = self;
        let (sent, answer) = std::thread::scope(|scope| {
            let sender = scope.spawn(|| -> Result<(), StoreError> {
                let out = to.as_mut().expect("open while not dropped");
                let mut framed = FramedWriter {
                    out,
                    buffer: Vec::with_capacity(FRAME_SIZE),
                };
                let produced = content(&mut framed);
                // End the frames even when producing failed, so the store
                // is not left waiting (it then refuses the short content).
                let ended = framed.finish();
                produced.map_err(|source| StoreError::Source {
                    path: name.to_owned(),
                    source,
                })?;
                ended.map_err(io_error)
            });
            let answer = process_stderr(from, log, *minor);
            (
                sender.join().expect("the frame writer does not panic"),
                answer,
            )
        });
        sent?;
        answer?;
        let path = self.read_string()?;
        self.read_path_info_rest()?;
        self.parse_path(&path)
    }

    fn read_path_info_rest(&mut self) -> Result<(), StoreError> {
        self.read_string()?; // deriver
        self.read_string()?; // NAR hash
        let references = self.read_u64()?;
        for _ in 0..references {
            self.read_string()?;
        }
        self.read_u64()?; // registration time
        self.read_u64()?; // NAR size
        self.read_u64()?; // ultimate
        let sigs = self.read_u64()?;
        for _ in 0..sigs {
            self.read_string()?;
        }
        self.read_string()?; // content address
        Ok(())
    }

    fn parse_path(&self, text: &[u8]) -> Result<StorePath, StoreError> {
        let text = String::from_utf8_lossy(text);
        self.store_dir
            .parse(&text)
            .map_err(|_| StoreError::StoreDirMismatch {
                got: text.into_owned(),
                store_dir: self.store_dir.as_str().to_owned(),
            })
    }

    fn handshake(&mut self) -> Result<(), StoreError> {
        self.write_u64(WORKER_MAGIC_1)?;
        self.flush()?;
        if self.read_u64()? != WORKER_MAGIC_2 {
            return Err(StoreError::Protocol("protocol mismatch".into()));
        }
        let daemon_version = self.read_u64()?;
        if daemon_version >> 8 != 1 {
            return Err(StoreError::Protocol(format!(
                "protocol version {daemon_version:#x}"
            )));
        }
        self.minor = (daemon_version & 0xff).min(CLIENT_VERSION & 0xff);
        if self.minor < MIN_MINOR {
            return Err(StoreError::TooOld(self.minor));
        }
        self.write_u64(CLIENT_VERSION)?;
        self.write_u64(0)?; // no CPU affinity
        self.write_u64(0)?; // reserveSpace, obsolete
        self.flush()?;
        if self.minor >= 33 {
            let version = self.read_string()?;
            self.nix_version = Some(String::from_utf8_lossy(&version).into_owned());
        }
        self.process_stderr()
    }

    /// `SetOptions`: Nix's defaults, quiet logging, and a build error
    /// that carries the tail of the build log.
    fn set_options(&mut self) -> Result<(), StoreError> {
        self.op(OP_SET_OPTIONS)?;
        let fields = [
            0,         // keepFailed
            0,         // keepGoing
            0,         // tryFallback
            LVL_ERROR, // verbosity
            1,         // maxBuildJobs
            0,         // maxSilentTime
            1,         // useBuildHook (obsolete)
            LVL_VOMIT, // buildVerbosity: not lvlError, so errors carry the log tail
            0,         // logType (obsolete)
            0,         // printBuildTrace (obsolete)
            0,         // buildCores: all
            1,         // useSubstitutes
            0,         // no overrides
        ];
        for field in fields {
            self.write_u64(field)?;
        }
        self.finish_op()
    }

    fn op(&mut self, op: u64) -> Result<(), StoreError> {
        self.write_u64(op)
    }

    fn finish_op(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.process_stderr()
    }

    fn process_stderr(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        let Store {
            from, log, minor, ..
        } = self;
        process_stderr(from, log, *minor).map_err(|e| self.with_child_stderr(e))
    }

    /// An I/O error usually means the program died: say what it printed.
    fn with_child_stderr(&mut self, error: StoreError) -> StoreError {
        match error {
            StoreError::Connection { source, .. } => StoreError::Connection {
                stderr: strip_ansi(&self.child_stderr.after_exit(&mut self.child)),
                source,
            },
            other => other,
        }
    }

    fn writer(&mut self) -> &mut BufWriter<ChildStdin> {
        self.to.as_mut().expect("open while not dropped")
    }

    fn write_u64(&mut self, n: u64) -> Result<(), StoreError> {
        self.writer().write_all(&n.to_le_bytes()).map_err(io_error)
    }

    fn write_string(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        write_string(self.writer(), bytes).map_err(io_error)
    }

    fn write_paths(&mut self, paths: &BTreeSet<StorePath>) -> Result<(), StoreError> {
        self.write_u64(paths.len() as u64)?;
        for path in paths {
            let printed = self.store_dir.print(path);
            self.write_string(printed.as_bytes())?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let flushed = self.writer().flush().map_err(io_error);
        flushed.map_err(|e| self.with_child_stderr(e))
    }

    fn read_u64(&mut self) -> Result<u64, StoreError> {
        let read = read_u64(&mut self.from).map_err(io_error);
        read.map_err(|e| self.with_child_stderr(e))
    }

    fn read_string(&mut self) -> Result<Vec<u8>, StoreError> {
        let read = read_string(&mut self.from).map_err(io_error);
        read.map_err(|e| self.with_child_stderr(e))
    }
}

impl Drop for Store {
    /// Closing its stdin ends `nix-daemon --stdio`; wait for it so no
    /// zombie is left.
    fn drop(&mut self) {
        if let Some(mut to) = self.to.take() {
            let _ = to.flush();
        }
        let _ = self.child.wait();
    }
}

fn io_error(source: io::Error) -> StoreError {
    StoreError::Connection {
        stderr: String::new(),
        source,
    }
}

/// What `nix-daemon --stdio` prints on its stderr (its errors), read by
/// a thread so the pipe never fills.
struct ChildStderr {
    text: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// How long a failed connection waits for the program to exit and say why.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl ChildStderr {
    fn collect(child: &mut Child) -> ChildStderr {
        let text = Arc::new(Mutex::new(String::new()));
        let reader = child.stderr.take().map(|mut stderr| {
            let sink = Arc::clone(&text);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(n) = stderr.read(&mut buffer) {
                    if n == 0 {
                        break;
                    }
                    let mut text = sink.lock().expect("stderr lock");
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            })
        });
        ChildStderr { text, reader }
    }

    /// Everything printed, once the program has exited (if it does so
    /// within [`EXIT_WAIT`]; otherwise what it printed so far).
    fn after_exit(&mut self, child: &mut Child) -> String {
        let deadline = std::time::Instant::now() + EXIT_WAIT;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.text.lock().expect("stderr lock").clone()
    }
}

/// Reads the store's messages up to the end of the operation.
fn process_stderr(from: &mut impl Read, log: &mut Log, minor: u64) -> Result<(), StoreError> {
    loop {
        match read_u64(from).map_err(io_error)? {
            STDERR_LAST => return Ok(()),
            STDERR_ERROR => return Err(read_error(from, minor)?),
            STDERR_NEXT => log.line(&String::from_utf8_lossy(
                &read_string(from).map_err(io_error)?,
            )),
            STDERR_START_ACTIVITY => {
                let id = read_u64(from).map_err(io_error)?;
                let _level = read_u64(from).map_err(io_error)?;
                let kind = read_u64(from).map_err(io_error)?;
                if kind == ACT_BUILDS {
                    log.builds = Some(id);
                }
                let text = read_string(from).map_err(io_error)?;
                read_fields(from)?;
                let _parent = read_u64(from).map_err(io_error)?;
                if !text.is_empty() {
                    log.line(&String::from_utf8_lossy(&text));
                }
            }
            STDERR_STOP_ACTIVITY => {
                read_u64(from).map_err(io_error)?;
            }
            STDERR_RESULT => {
                let id = read_u64(from).map_err(io_error)?;
                let kind = read_u64(from).map_err(io_error)?;
                let fields = read_fields(from)?;
                log.result(id, kind, &fields);
            }
            STDERR_READ | STDERR_WRITE => {
                return Err(StoreError::Protocol(
                    "the store asked for a data stream eka did not offer".into(),
                ))
            }
            other => {
                return Err(StoreError::Protocol(format!(
                    "unknown message type {other:#x}"
                )))
            }
        }
    }
}

enum Field {
    Int(u64),
    String(Vec<u8>),
}

fn read_fields(from: &mut impl Read) -> Result<Vec<Field>, StoreError> {
    let count = read_u64(from).map_err(io_error)?;
    (0..count)
        .map(|_| match read_u64(from).map_err(io_error)? {
            0 => read_u64(from).map(Field::Int).map_err(io_error),
            1 => read_string(from).map(Field::String).map_err(io_error),
            other => Err(StoreError::Protocol(format!("unknown field type {other}"))),
        })
        .collect()
}

/// An error the store reports (protocol 1.26+: a serialised `Error`).
fn read_error(from: &mut impl Read, minor: u64) -> Result<StoreError, StoreError> {
    let text = |bytes: Vec<u8>| strip_ansi(&String::from_utf8_lossy(&bytes));
    if minor < 26 {
        let message = text(read_string(from).map_err(io_error)?);
        read_u64(from).map_err(io_error)?; // status
        return Ok(StoreError::Nix { message });
    }
    read_string(from).map_err(io_error)?; // "Error"
    read_u64(from).map_err(io_error)?; // level
    read_string(from).map_err(io_error)?; // name (unused)
    let mut message = text(read_string(from).map_err(io_error)?);
    if read_u64(from).map_err(io_error)? != 0 {
        return Err(StoreError::Protocol("an error with a position".into()));
    }
    let traces = read_u64(from).map_err(io_error)?;
    for _ in 0..traces {
        if read_u64(from).map_err(io_error)? != 0 {
            return Err(StoreError::Protocol(
                "an error trace with a position".into(),
            ));
        }
        message.push_str("\n… ");
        message.push_str(&text(read_string(from).map_err(io_error)?));
    }
    Ok(StoreError::Nix { message })
}

fn read_u64(from: &mut impl Read) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    from.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// The longest string eka accepts from the store (a build log line, a
/// path, an error message).
const MAX_STRING: u64 = 64 << 20;

fn read_string(from: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_u64(from)?;
    if len > MAX_STRING {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a string of {len} bytes"),
        ));
    }
    let padded = len.div_ceil(8) * 8;
    let mut bytes = vec![0u8; padded as usize];
    from.read_exact(&mut bytes)?;
    bytes.truncate(len as usize);
    Ok(bytes)
}

fn write_string(to: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    to.write_all(&(bytes.len() as u64).to_le_bytes())?;
    to.write_all(bytes)?;
    to.write_all(&[0u8; 8][..(8 - bytes.len() % 8) % 8])
}

/// Framed data: chunks each preceded by its length, ended by an empty one.
struct FramedWriter<'a, W: Write> {
    out: &'a mut W,
    buffer: Vec<u8>,
}

impl<W: Write> FramedWriter<'_, W> {
    fn send_frame(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            self.out
                .write_all(&(self.buffer.len() as u64).to_le_bytes())?;
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.send_frame()?;
        self.out.write_all(&0u64.to_le_bytes())?;
        self.out.flush()
    }
}

impl<W: Write> Write for FramedWriter<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = FRAME_SIZE - self.buffer.len();
        let taken = data.len().min(room);
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == FRAME_SIZE {
            self.send_frame()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Drops ANSI escape sequences (Nix colours store paths in messages).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_padded_to_eight_bytes() {
        let mut out = Vec::new();
        write_string(&mut out, b"abc").unwrap();
        assert_eq!(
            out,
            [3, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0, 0]
        );
        assert_eq!(read_string(&mut &out[..]).unwrap(), b"abc");
    }

    #[test]
    fn frames_end_with_an_empty_one() {
        let mut out = Vec::new();
        let mut framed = FramedWriter {
            out: &mut out,
            buffer: Vec::new(),
        };
        framed.write_all(b"hi").unwrap();
        framed.finish().unwrap();
        assert_eq!(
            out,
            [2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    /// Nix's builds activity (`actBuilds`) reports `done, expected,
    /// running, failed`; other activities' counts are not the builds'.
    #[test]
    fn build_counts_come_from_the_builds_activity() {
        let mut wire = Vec::new();
        let mut put = |n: u64| wire.extend_from_slice(&n.to_le_bytes());
        let ints = |put: &mut dyn FnMut(u64), values: &[u64]| {
            put(values.len() as u64);
            for v in values {
                put(0);
                put(*v);
            }
        };
        for (id, kind) in [(7, ACT_BUILDS), (8, 103)] {
            put(STDERR_START_ACTIVITY);
            put(id);
            put(3); // level
            put(kind);
            put(0); // empty text
            put(0); // no fields
            put(0); // parent
        }
        for (id, done) in [(8, 5), (7, 0), (7, 1), (7, 2)] {
            put(STDERR_RESULT);
            put(id);
            put(RES_PROGRESS);
            ints(&mut put, &[done, 2, 1, 0]);
        }
        put(STDERR_LAST);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut log = Log::default();
        let sink = seen.clone();
        log.progress = Some(Box::new(move |p| sink.lock().unwrap().push(p)));
        process_stderr(&mut &wire[..], &mut log, 34).unwrap();
        let built = |done| StoreProgress::Built { done, total: 2 };
        assert_eq!(*seen.lock().unwrap(), [built(0), built(1), built(2)]);
    }

    #[test]
    fn colours_are_stripped() {
        assert_eq!(
            strip_ansi("builder for '\u{1b}[33;1m/nix/store/x\u{1b}[0m' failed"),
            "builder for '/nix/store/x' failed"
        );
    }
}
