//! Reading ahead: when everything will be forced anyway (`eka eval
//! --strict`), the atom's `.nix` files are read and parsed on other threads
//! while the evaluator works, and the evaluator takes the parsed files as it
//! reaches them. Parsing is most of the cost of a large atom, and it needs
//! no evaluator, so this is where cores other than the evaluator's help.
//!
//! It changes nothing observable: a file the evaluator needs before a
//! reader got to it is read and parsed in place as without reading ahead,
//! and errors (syntax or I/O) of files read ahead surface only when, and
//! if, the evaluator needs that file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use atom_eval::ParsedSource;

/// Reads the bytes of file number `i` of a [`ReadAhead`]'s list, on any
/// thread (one reader per thread).
pub type Reader = Box<dyn FnMut(usize) -> Option<Vec<u8>>>;

/// What an atom's files offer for reading ahead: the `.nix` files (paths in
/// the atom, in the order the evaluator is likely to need them), and a
/// factory of readers.
pub struct ReadAhead {
    pub files: Vec<String>,
    pub reader: Arc<dyn Fn() -> Reader + Send + Sync>,
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
}

impl Prefetched {
    /// Starts `threads` reader threads over `plan`.
    pub(crate) fn start(plan: ReadAhead, threads: usize) -> Arc<Prefetched> {
        let shared = Arc::new(Prefetched {
            slots: Mutex::new(HashMap::with_capacity(plan.files.len())),
            stop: AtomicBool::new(false),
        });
        let files = Arc::new(plan.files);
        for t in 0..threads.max(1) {
            let (shared, files, make) = (shared.clone(), files.clone(), plan.reader.clone());
            // Detached: a reader left behind ends with the process, and
            // stops at the next file once the evaluation is dropped.
            let spawned = std::thread::Builder::new()
                .name("atom-read-ahead".into())
                .spawn(move || {
                    // Strided, so that the threads move through the atom in
                    // the evaluator's order together.
                    let mut read: Option<Reader> = None;
                    for i in (t..files.len()).step_by(threads.max(1)) {
                        if shared.stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let rel = &files[i];
                        if shared.slots.lock().expect("not poisoned").contains_key(rel) {
                            continue;
                        }
                        let read = read.get_or_insert_with(|| make());
                        let Some(bytes) = read(i) else { continue };
                        let Ok(text) = String::from_utf8(bytes) else {
                            continue;
                        };
                        let parsed = ParsedSource::parse(&text);
                        let mut slots = shared.slots.lock().expect("not poisoned");
                        slots.entry(rel.clone()).or_insert(Slot::Ready(parsed));
                    }
                });
            if spawned.is_err() {
                // No thread: everything is read in place, as without this.
                break;
            }
        }
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

/// The evaluator's handle: dropping it stops the readers.
pub(crate) struct ReadAheadHandle(pub Arc<Prefetched>);

impl Drop for ReadAheadHandle {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::Relaxed);
    }
}
