//! Reading ahead: when everything will be forced anyway (`eka eval
//! --strict`), the atom's `.nix` files are read and parsed on other threads
//! while the evaluator works, and the evaluator takes the parsed files as it
//! reaches them. Parsing is most of the cost of a large atom, and it needs
//! no evaluator, so this is where cores other than the evaluator's help.
//!
//! A file the parse cache may hold ([`atom_eval::CompiledFiles::may_hold`])
//! is only read, not parsed: the evaluator will most likely bind it from
//! the pack, and parses it in place if not.
//!
//! It changes nothing observable: a file the evaluator needs before a
//! reader got to it is read and parsed in place as without reading ahead,
//! and errors (syntax or I/O) of files read ahead surface only when, and
//! if, the evaluator needs that file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use atom_eval::{CompiledFiles, ParsedSource};

/// Reads the bytes of file number `i` of a [`ReadAhead`]'s list, on any
/// thread (one reader per thread).
pub type Reader = Box<dyn FnMut(usize) -> Option<Vec<u8>>>;

/// The `.nix` files of an atom (paths in the atom, in the order the
/// evaluator is likely to need them) and a factory of readers for them.
pub struct Plan {
    pub files: Vec<String>,
    pub reader: Arc<dyn Fn() -> Reader + Send + Sync>,
}

/// What an atom's files offer for reading ahead: a way to make the
/// [`Plan`], run on a reader thread, so that the evaluator does not wait
/// for the walk through the atom's directories.
pub struct ReadAhead {
    pub plan: Box<dyn FnOnce() -> Plan + Send>,
}

enum Slot {
    /// The evaluator read it itself; readers skip it.
    Taken,
    Ready(ParsedSource),
}

/// The files parsed so far, shared with the reader threads.
pub(crate) struct Prefetched {
    slots: Mutex<HashMap<String, Slot>>,
    stop: AtomicBool,
    /// Files the evaluator will likely find bound already are not parsed.
    compiled: Option<Arc<CompiledFiles>>,
}

/// Work for one reader thread.
type Job = Box<dyn FnOnce() + Send>;

/// Reader threads started before there is anything to read: each waits for
/// one job. A thread spawned while its spawner keeps the core busy often
/// waits milliseconds before it first runs (the scheduler queues it behind
/// the spawner); one woken from waiting starts at once on an idle core. So
/// a host starts these first and hands them the atom once it has it
/// ([`Readers::start`]).
pub struct Readers {
    jobs: Vec<Sender<Job>>,
}

impl Readers {
    /// Starts `threads` idle reader threads (fewer if the system refuses
    /// some). Dropped unused, they end.
    pub fn spawn(threads: usize) -> Readers {
        let jobs = (0..threads)
            .filter_map(|_| {
                let (tx, rx) = mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("atom-read-ahead".into())
                    .spawn(move || {
                        if let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .ok()?;
                Some(tx)
            })
            .collect();
        Readers { jobs }
    }

    /// How many reader threads there are.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Reads `files` ahead on these threads (none if the source cannot be
    /// read from other threads), leaving unparsed the files `compiled` may
    /// hold bound already.
    pub fn start(
        self,
        files: &dyn crate::AtomFiles,
        compiled: Option<Arc<CompiledFiles>>,
    ) -> Option<ReadAheadHandle> {
        let plan = files.read_ahead()?;
        (!self.is_empty()).then(|| ReadAheadHandle(Prefetched::start(plan, self, compiled)))
    }
}

impl Prefetched {
    /// Hands the plan to the first reader, which makes it and then hands
    /// a stride of the files to each other reader. The readers are
    /// detached: one left behind ends with the process, and stops at the
    /// next file once the evaluation is dropped. With no reader at all,
    /// everything is read in place, as without reading ahead.
    fn start(
        plan: ReadAhead,
        readers: Readers,
        compiled: Option<Arc<CompiledFiles>>,
    ) -> Arc<Prefetched> {
        let shared = Arc::new(Prefetched {
            slots: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            compiled,
        });
        let mut jobs = readers.jobs;
        let threads = jobs.len();
        if threads == 0 {
            return shared;
        }
        let others = jobs.split_off(1);
        let first = shared.clone();
        let job: Job = Box::new(move || {
            let plan = (plan.plan)();
            let files = Arc::new(plan.files);
            for (t, tx) in (1..).zip(others) {
                let (shared, files, make) = (first.clone(), files.clone(), plan.reader.clone());
                // A reader that is gone leaves its stride to the evaluator.
                let _ = tx.send(Box::new(move || {
                    read_stride(&shared, &files, &*make, t, threads)
                }));
            }
            read_stride(&first, &files, &*plan.reader, 0, threads);
        });
        let _ = jobs[0].send(job);
        shared
    }

    /// The parsed file at `rel` if a reader has it; otherwise marks it as
    /// the evaluator's own.
    pub(crate) fn take(&self, rel: &str) -> Option<ParsedSource> {
        let mut slots = self.slots.lock().expect("not poisoned");
        match slots.insert(rel.to_string(), Slot::Taken) {
            Some(Slot::Ready(p)) => Some(p),
            _ => None,
        }
    }
}

/// Reads and parses files `t`, `t + step`, ... of `files` (strided, so
/// that the threads move through the atom in the evaluator's order
/// together), skipping those the evaluator took.
fn read_stride(
    shared: &Prefetched,
    files: &[String],
    make: &(dyn Fn() -> Reader + Send + Sync),
    t: usize,
    step: usize,
) {
    let mut read: Option<Reader> = None;
    for i in (t..files.len()).step_by(step) {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let rel = &files[i];
        if shared.slots.lock().expect("not poisoned").contains_key(rel) {
            continue;
        }
        let read = read.get_or_insert_with(make);
        let Some(bytes) = read(i) else { continue };
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let parsed = match &shared.compiled {
            Some(c) if c.may_hold(&text) => ParsedSource::unparsed(&text),
            _ => ParsedSource::parse(&text),
        };
        let mut slots = shared.slots.lock().expect("not poisoned");
        slots.entry(rel.clone()).or_insert(Slot::Ready(parsed));
    }
}

/// Starts reading `files` ahead on `threads` new threads (none if the
/// source cannot be read from other threads). Start it as early as
/// possible: the first reader walks the atom's directories while the caller
/// sets up. [`Readers`] started earlier still start sooner.
pub fn start(
    files: &dyn crate::AtomFiles,
    threads: usize,
    compiled: Option<Arc<CompiledFiles>>,
) -> Option<ReadAheadHandle> {
    let plan = files.read_ahead()?;
    let readers = Readers::spawn(threads.max(1));
    Some(ReadAheadHandle(Prefetched::start(plan, readers, compiled)))
}

/// The evaluator's handle: dropping it stops the readers.
pub struct ReadAheadHandle(pub(crate) Arc<Prefetched>);

impl Drop for ReadAheadHandle {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{AtomFiles, DirFiles};

    /// An atom directory with files in two modules, and one that does not
    /// parse.
    fn atom() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "atom.toml",
            "[package]\nlabel = \"a\"\nversion = \"0.1.0\"\n",
        );
        write("mod.nix", "{ }");
        write("A.nix", "1 + 2");
        write("Sub/mod.nix", "{ }");
        write("Sub/b.nix", "{ x = ");
        write("notes.txt", "not nix");
        dir
    }

    /// Waits until the readers have settled every file of `rels`.
    fn settled(p: &Prefetched, rels: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let slots = p.slots.lock().unwrap();
            if rels.iter().all(|r| slots.contains_key(*r)) {
                return;
            }
            drop(slots);
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the readers did not read {rels:?} within 10 s");
    }

    #[test]
    fn readers_started_early_parse_every_nix_file_once_handed_the_atom() {
        let dir = atom();
        for threads in [1, 3] {
            let readers = Readers::spawn(threads);
            assert_eq!(readers.len(), threads);
            let handle = readers
                .start(&DirFiles::new(dir.path()), None)
                .expect("reads ahead");
            let files = ["mod.nix", "A.nix", "Sub/mod.nix", "Sub/b.nix"];
            settled(&handle.0, &files);
            let a = handle.0.take("A.nix").expect("parsed ahead");
            assert_eq!(a.text(), "1 + 2");
            // A file that does not parse is kept too: its error surfaces
            // only if the evaluator uses it.
            assert_eq!(
                handle.0.take("Sub/b.nix").expect("parsed ahead").text(),
                "{ x = "
            );
            // Only .nix files are read; taken files are the evaluator's.
            assert!(handle.0.take("notes.txt").is_none());
            assert!(handle.0.take("A.nix").is_none());
        }
    }

    #[test]
    fn a_file_the_evaluator_took_first_is_left_to_it() {
        let dir = atom();
        let shared = Prefetched {
            slots: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            compiled: None,
        };
        // The evaluator needed A.nix before any reader got to it.
        assert!(shared.take("A.nix").is_none());
        // One reader, run here so that the order is certain.
        let plan = (DirFiles::new(dir.path()).read_ahead().unwrap().plan)();
        read_stride(&shared, &plan.files, &*plan.reader, 0, 1);
        let slots = shared.slots.lock().unwrap();
        assert!(matches!(slots.get("A.nix"), Some(Slot::Taken)));
        for rel in ["mod.nix", "Sub/mod.nix", "Sub/b.nix"] {
            assert!(matches!(slots.get(rel), Some(Slot::Ready(_))), "{rel}");
        }
        assert_eq!(slots.len(), 4, "only .nix files are read");
    }

    #[test]
    fn no_reader_threads_means_no_reading_ahead() {
        let dir = atom();
        assert!(Readers::spawn(0)
            .start(&DirFiles::new(dir.path()), None)
            .is_none());
    }
}
