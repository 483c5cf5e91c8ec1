//! `ssh://` on 127.0.0.1: a private OpenSSH `sshd` on an ephemeral port,
//! with its own configuration and host key, key-only login for the current
//! user.
//!
//! The client side is the same for every server: one throwaway client key
//! (under cargo's `CARGO_TARGET_TMPDIR`, made once and reused) and the
//! [`ssh_command`] that [`super::hermetic`] puts in `GIT_SSH_COMMAND` for
//! every `git` and `eka` the tests run (or, for the `eka` of a sandbox made
//! with [`super::Sandbox::ssh_from_git_config`], in `core.sshCommand` of
//! its `~/.gitconfig`). The port is in the URL
//! (`ssh://user@127.0.0.1:PORT/abs/path.git`), so one command reaches every
//! server.
//!
//! If OpenSSH is not installed, starting a server panics with what to
//! install: ssh tests fail, they are never silently skipped.

use std::ffi::CStr;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::daemon::free_port;
use super::find_program;
use super::process::kill_group;

/// The Debian packages of OpenSSH's server and client.
pub const OPENSSH: &str = "openssh-server openssh-client";

/// How many ports are tried before giving up.
const ATTEMPTS: usize = 20;
/// How long sshd may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Folder of the client key shared by every test run.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("eka-e2e-ssh")
}

/// The client's private key (it may not exist yet: see [`client_key`]).
fn client_key_path() -> PathBuf {
    client_dir().join("id_ed25519")
}

/// `GIT_SSH_COMMAND` of every command the tests run: the test client key
/// only, no user or system ssh configuration, no agent, no known hosts (the
/// host keys are throwaway), no prompt, no chatter on stderr. The port
/// comes from the URL.
pub fn ssh_command() -> String {
    let key = client_key_path();
    format!(
        "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o IdentityAgent=none \
         -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20",
        key.display()
    )
}

/// The `ref-prefix` arguments of the `ls-refs` commands in a server-side
/// packet trace ([`SshServer::packet_trace`]).
pub fn sent_prefixes(trace: &str) -> Vec<&str> {
    trace
        .lines()
        .filter_map(|l| l.split_once("upload-pack< ref-prefix ").map(|(_, p)| p))
        .collect()
}

/// Makes sure the client key exists (once per process); returns its public
/// key line. Concurrent test runs race safely: the key is made in a
/// scratch folder renamed into place, and the first one there wins.
pub fn client_key() -> &'static str {
    static PUBLIC: OnceLock<String> = OnceLock::new();
    PUBLIC.get_or_init(|| {
        let dir = client_dir();
        let public = dir.join("id_ed25519.pub");
        if !public.exists() {
            let parent = dir.parent().expect("CARGO_TARGET_TMPDIR");
            std::fs::create_dir_all(parent).expect("create CARGO_TARGET_TMPDIR");
            let scratch = tempfile::Builder::new()
                .prefix("eka-e2e-ssh-")
                .tempdir_in(parent)
                .expect("scratch folder for the ssh client key");
            keygen(&scratch.path().join("id_ed25519"), "eka-e2e-client");
            // Fails if another process got there first: then use its key.
            let _ = std::fs::rename(scratch.path(), &dir);
        }
        std::fs::read_to_string(&public)
            .unwrap_or_else(|e| panic!("ssh client key {}: {e}", public.display()))
    })
}

/// `ssh-keygen -t ed25519` without a passphrase into `path`.
fn keygen(path: &Path, comment: &str) {
    let mut cmd = Command::new(find_program("ssh-keygen", OPENSSH));
    super::hermetic(&mut cmd, Path::new(super::NO_HOME));
    cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path);
    super::process::run(cmd, None, super::DEFAULT_TIMEOUT).assert_success();
}

/// The name of the user running the tests (the one the servers let in).
pub fn current_user() -> String {
    // SAFETY: getpwuid returns a pointer into static storage (or null);
    // the name is copied out at once, and no other thread of the harness
    // calls getpw*.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        assert!(!pw.is_null(), "the current user has no passwd entry");
        CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned()
    }
}

/// A running `sshd` letting the current user in with the test client key,
/// serving (read and push, through the real `git-upload-pack` and
/// `git-receive-pack`) the bare repositories `<base>/<name>.git` as
/// `ssh://<user>@127.0.0.1:<port><base>/<name>.git`.
///
/// The server side of every session runs git with no system or global
/// configuration and with `GIT_TRACE_PACKET` writing to a file, so that
/// tests can see what went over the wire ([`Self::packet_trace`]).
///
/// sshd runs in the foreground in its own process group; dropping this
/// kills it and reaps it.
pub struct SshServer {
    child: Child,
    port: u16,
    base: PathBuf,
    user: String,
    /// Configuration, host key, authorized keys, packet trace.
    dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
    log_thread: Option<JoinHandle<()>>,
}

impl SshServer {
    /// Starts sshd for the bare repositories under `base` (which must
    /// exist). Returns once it accepts connections; retries on another port
    /// if the chosen one was taken meanwhile. Panics, saying what to
    /// install, if OpenSSH is missing.
    pub fn start(base: &Path) -> Self {
        let sshd = find_program("sshd", OPENSSH);
        let base = base
            .canonicalize()
            .unwrap_or_else(|e| panic!("sshd base {}: {e}", base.display()));
        privsep_dir();
        let user = current_user();
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Self::try_start(&sshd, &base, free_port(), &user) {
                Ok(server) => return server,
                Err(log) => {
                    // Only a port taken meanwhile is worth another try.
                    let retry = log.contains("Address already in use");
                    failures.push(log);
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!(
            "sshd did not start ({} attempts):\n{}",
            failures.len(),
            failures.join("\n---\n")
        );
    }

    fn try_start(sshd: &Path, base: &Path, port: u16, user: &str) -> Result<Self, String> {
        // Next to the served folder, not in it.
        let dir = tempfile::Builder::new()
            .prefix("sshd-")
            .tempdir_in(base.parent().unwrap_or(base))
            .expect("create the sshd folder");
        keygen(&dir.path().join("host_ed25519"), "eka-e2e-host");
        std::fs::write(dir.path().join("authorized_keys"), client_key())
            .expect("write authorized_keys");
        write_config(dir.path(), port, user);
        let mut cmd = Command::new(sshd);
        super::hermetic(&mut cmd, Path::new(super::NO_HOME));
        cmd.arg("-D") // foreground
            .arg("-e") // log to stderr
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => return Err(format!("cannot run {}: {e}", sshd.display())),
        };
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        // Drains sshd's log for its whole life (a full pipe would block it)
        // and reports the line saying that it listens.
        let log_thread = {
            let log = Arc::clone(&log);
            let listening = format!("Server listening on 127.0.0.1 port {port}.");
            std::thread::spawn(move || {
                let mut ready = Some(ready_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains(&listening) {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            })
        };
        let mut server = Self {
            child,
            port,
            base: base.to_owned(),
            user: user.to_owned(),
            dir,
            log,
            log_thread: Some(log_thread),
        };
        // A failure to bind (or a bad configuration) makes sshd exit,
        // closing the channel.
        match ready_rx.recv_timeout(READY_TIMEOUT) {
            Ok(()) if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() => Ok(server),
            outcome => {
                server.stop();
                Err(format!(
                    "port {port}: {outcome:?}\n{}",
                    server.log().join("\n")
                ))
            }
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of sshd, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The folder it serves.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `ssh://<user>@127.0.0.1:<port><base>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{name}.git",
            self.user,
            self.port,
            self.base.display()
        )
    }

    /// sshd's log so far (one entry a line).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// What `git-upload-pack` and `git-receive-pack` sent and received in
    /// every session so far (`GIT_TRACE_PACKET` on the server side), e.g.
    /// `packet:  upload-pack< command=ls-refs`.
    pub fn packet_trace(&self) -> String {
        std::fs::read_to_string(self.trace_path()).unwrap_or_default()
    }

    /// Empties the [`Self::packet_trace`].
    pub fn clear_packet_trace(&self) {
        let _ = std::fs::write(self.trace_path(), "");
    }

    fn trace_path(&self) -> PathBuf {
        self.dir.path().join("packets.log")
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

impl Drop for SshServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// sshd started by root needs its privilege separation folder (made by the
/// package's service scripts, which do not run in containers).
fn privsep_dir() {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let dir = Path::new("/run/sshd");
    if !dir.is_dir() {
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|e| panic!("sshd needs {}: {e}", dir.display()));
    }
}

/// Writes `<dir>/sshd_config` for `port`.
///
/// Besides key-only login: `AcceptEnv GIT_PROTOCOL` (without it git and gix
/// silently fall back to protocol v0); the sessions' git comes from the
/// `PATH` the tests see and reads no system or global configuration;
/// `SHLVL=1` keeps bash (as the login shell running the session's command)
/// from sourcing the user's `~/.bashrc`, which it does for ssh sessions
/// (it is the user's, not the test's, and can take longer than the rest of
/// the session); curve25519 key exchange, because OpenSSH 9's default
/// (sntrup761) costs about 0.2 s of CPU a connection, more than the rest of
/// the handshake.
fn write_config(dir: &Path, port: u16, user: &str) {
    let git = super::find_program("git", "git");
    let git_dir = git.parent().expect("git's folder");
    let d = dir.display();
    let config = format!(
        "Port {port}\n\
         ListenAddress 127.0.0.1\n\
         HostKey \"{d}/host_ed25519\"\n\
         PidFile none\n\
         AuthorizedKeysFile \"{d}/authorized_keys\"\n\
         AllowUsers {user}\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PermitTTY no\n\
         X11Forwarding no\n\
         AllowTcpForwarding no\n\
         AllowAgentForwarding no\n\
         PrintMotd no\n\
         MaxStartups 100\n\
         KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n\
         LoginGraceTime 30\n\
         AcceptEnv GIT_PROTOCOL\n\
         SetEnv PATH={}:/usr/bin:/bin GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
         LC_ALL=C SHLVL=1 GIT_TRACE_PACKET=\"{d}/packets.log\"\n\
         LogLevel VERBOSE\n",
        git_dir.display()
    );
    std::fs::write(dir.join("sshd_config"), config).expect("write sshd_config");
}
