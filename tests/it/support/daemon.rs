//! `git daemon` (git://) on 127.0.0.1, on an ephemeral port.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::process::kill_group;

/// A running `git daemon` serving (read and push, no authentication) the
/// bare repositories `<base>/<name>.git` as `git://127.0.0.1:<port>/<name>.git`.
///
/// The daemon runs in its own process group; dropping this kills the whole
/// group (daemon and the `upload-pack`/`receive-pack` it started) and reaps
/// the daemon.
pub struct GitDaemon {
    child: Child,
    port: u16,
    base: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    log_thread: Option<JoinHandle<()>>,
}

/// How many ports are tried before giving up.
const ATTEMPTS: usize = 20;
/// How long the daemon may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A port that was free a moment ago (bind port 0, read it, release it).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

impl GitDaemon {
    /// Starts a daemon serving the bare repositories under `base` (which
    /// must exist). Returns once it accepts connections; retries on another
    /// port if the chosen one was taken meanwhile.
    pub fn start(base: &Path) -> Self {
        let base = base
            .canonicalize()
            .unwrap_or_else(|e| panic!("git daemon base {}: {e}", base.display()));
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Self::try_start(&base, free_port()) {
                Ok(daemon) => return daemon,
                Err(log) => failures.push(log),
            }
        }
        panic!(
            "git daemon did not start after {ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(base: &Path, port: u16) -> Result<Self, String> {
        let mut cmd = Command::new("git");
        super::hermetic(&mut cmd, Path::new(super::NO_HOME));
        cmd.arg("daemon")
            .arg("--verbose")
            .arg("--log-destination=stderr")
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--informative-errors")
            .arg(base)
            .current_dir(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run git daemon: {e}"))?;
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        // Drains the daemon's log for its whole life (a full pipe would block
        // it) and reports the line saying that it listens.
        let log_thread = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut ready = Some(ready_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.ends_with("Ready to rumble") {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            })
        };
        let mut daemon = Self {
            child,
            port,
            base: base.to_owned(),
            log,
            log_thread: Some(log_thread),
        };
        // "Ready to rumble" is logged once every listening socket is bound;
        // a failure to bind makes the daemon exit, closing the channel.
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() => Ok(daemon),
            outcome => {
                daemon.stop();
                Err(format!(
                    "port {port}: {outcome:?}\n{}",
                    daemon.log.lock().unwrap().join("\n")
                ))
            }
        }
    }

    /// Process id of the daemon, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The folder it serves.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `git://127.0.0.1:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    fn stop(&mut self) {
        if self.log_thread.is_none() {
            return;
        }
        kill_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
        if let Some(thread) = self.log_thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
