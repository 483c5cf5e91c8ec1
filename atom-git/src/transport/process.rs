//! `ssh://` and `file://`: upload-pack in a local process (`ssh`, which
//! runs it on the server, or `git upload-pack`), spawned here rather than
//! by gix so that every read and write waits at most the network timeout.
//!
//! A process that neither answers nor ends (a server whose login shell
//! sleeps, an `upload-pack` stuck on a lock or a FIFO) would otherwise keep
//! eka waiting for ever: a pipe has no timeout of its own. Each read and
//! write here first waits (`poll`) for the pipe to be ready, at most the
//! timeout; past it the process is killed and the read or write fails as
//! timed out, so the next mirror is tried. The command line is the one
//! gix (and git) would run, `ssh`'s argument checks included.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gix::bstr::ByteSlice;
use gix::protocol::transport;
use gix::protocol::transport::client::blocking_io::ssh::ProgramKind;
use gix::url::ArgumentSafety;

use super::ssh::SshOptions;
use super::TransportError;

/// An upload-pack connection over a local process's pipes.
pub(crate) type ProcessConnection = transport::client::git::blocking_io::Connection<Output, Input>;

/// Variables git removes before running a local upload-pack, so that the
/// caller's repository does not leak into the remote's (git's
/// `local_repo_env`; gix removes the same).
const LOCAL_REPO_ENV: &[&str] = &[
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_GRAFT_FILE",
    "GIT_INDEX_FILE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_REPLACE_REF_BASE",
    "GIT_PREFIX",
    "GIT_INTERNAL_SUPER_PREFIX",
    "GIT_SHALLOW_FILE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG_COUNT",
];

/// Opens an upload-pack connection to `url` (`ssh://` or `file://`),
/// asking for protocol v2, every read and write bounded by `timeout`.
pub(crate) fn connect_process(
    url: &gix::Url,
    ssh: Option<SshOptions>,
    timeout: Duration,
) -> Result<ProcessConnection, TransportError> {
    let (mut command, program) = match ssh {
        Some(options) => ssh_command(url, &options, timeout)?,
        None => (local_command(url)?, "git-upload-pack".to_owned()),
    };
    for name in LOCAL_REPO_ENV {
        command.env_remove(name);
    }
    command
        .env("GIT_PROTOCOL", "version=2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        // `git-upload-pack` is not on PATH: git runs it (as gix does).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && program == "git-upload-pack" => {
            let mut git = Command::new("git");
            git.arg("upload-pack").args(command.get_args());
            for (name, value) in command.get_envs() {
                match value {
                    Some(v) => git.env(name, v),
                    None => git.env_remove(name),
                };
            }
            git.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        }
        other => other,
    }
    .map_err(|e| TransportError::Spawn {
        program: program.clone(),
        source: e,
    })?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        unreachable!("all three were piped");
    };
    let said = Arc::new(Mutex::new(String::new()));
    let reader = std::thread::Builder::new()
        .name("upload-pack stderr".into())
        .stack_size(64 * 1024)
        .spawn({
            let said = said.clone();
            move || collect_stderr(stderr, &said)
        })
        .ok();
    let input = Input::new(stdin, timeout).map_err(|e| TransportError::Spawn {
        program: program.clone(),
        source: e,
    })?;
    let output = Output {
        stdout,
        child,
        timeout,
        program,
        said,
        reader,
    };
    Ok(transport::client::git::blocking_io::Connection::new(
        output,
        input,
        transport::Protocol::V2,
        url.path.clone(),
        None::<(&str, Option<u16>)>,
        transport::client::git::ConnectMode::Process,
        false,
    )
    .custom_url(Some(url.to_bstring())))
}

/// `git-upload-pack <path>` for a `file://` URL.
fn local_command(url: &gix::Url) -> Result<Command, TransportError> {
    if url.user().is_some() || url.host().is_some() || url.port.is_some() {
        return Err(TransportError::Url(
            format!("`{}` has parts a local path cannot use", url.to_bstring()).into(),
        ));
    }
    if url.path.trim_start().starts_with(b"-") {
        return Err(TransportError::Url(
            format!("the path `{}` starts with `-`", url.path).into(),
        ));
    }
    let path =
        gix::path::from_bstr(url.path.as_bstr()).map_err(|e| TransportError::Url(e.into()))?;
    let mut command = Command::new("git-upload-pack");
    command.arg(path.as_os_str());
    Ok(command)
}

/// The ssh client's command line for `url`, as gix (and git) build it:
/// the client chosen in `options`, its kind (from `options`, its name, or
/// asking it `-G`), then `[-o SendEnv=GIT_PROTOCOL] [-p port] [user@]host
/// git-upload-pack '<path>'`. A user or host that the client would read
/// as an option (`-oProxyCommand=…`) is refused.
fn ssh_command(
    url: &gix::Url,
    options: &SshOptions,
    timeout: Duration,
) -> Result<(Command, String), TransportError> {
    let invalid = |why: String| TransportError::Url(why.into());
    let program = options.ssh_command().to_owned();
    let host = match url.host_as_argument() {
        ArgumentSafety::Usable(host) => host.to_owned(),
        ArgumentSafety::Dangerous(host) => {
            return Err(invalid(format!(
                "the host `{host}` would be read by ssh as an option"
            )))
        }
        ArgumentSafety::Absent => return Err(TransportError::NoHost),
    };
    let target = match url.user_as_argument() {
        ArgumentSafety::Usable(user) => format!("{user}@{host}"),
        ArgumentSafety::Dangerous(user) => {
            return Err(invalid(format!(
                "the user `{user}` would be read by ssh as an option"
            )))
        }
        ArgumentSafety::Absent => host.clone(),
    };
    let kind = match options.kind {
        Some(kind) => kind,
        None => match ProgramKind::from(program.as_os_str()) {
            ProgramKind::Simple
                if answers_dash_g(&program, &host, options.disallow_shell, timeout) =>
            {
                ProgramKind::Ssh
            }
            kind => kind,
        },
    };
    let mut args: Vec<OsString> = Vec::new();
    let port = url.port;
    match kind {
        ProgramKind::Ssh => {
            args.extend(["-o".into(), "SendEnv=GIT_PROTOCOL".into()]);
            if let Some(port) = port {
                args.push(format!("-p{port}").into());
            }
        }
        ProgramKind::Plink | ProgramKind::Putty | ProgramKind::TortoisePlink => {
            if kind == ProgramKind::TortoisePlink {
                args.push("-batch".into());
            }
            if let Some(port) = port {
                args.extend(["-P".into(), port.to_string().into()]);
            }
        }
        ProgramKind::Simple => {
            if port.is_some() {
                return Err(invalid(format!(
                    "`{}` cannot be given a port (set ssh.variant to the kind of client it is)",
                    program.to_string_lossy()
                )));
            }
        }
    }
    args.push(target.into());
    args.push("git-upload-pack".into());
    let path = gix::url::expand_path::for_shell(url.path.clone());
    args.push(
        gix::quote::single(path.as_bstr())
            .to_os_str_lossy()
            .into_owned(),
    );
    let mut command = shell_or_program(&program, options.disallow_shell);
    command.args(args).env("LANG", "C").env("LC_ALL", "C");
    Ok((command, program.to_string_lossy().into_owned()))
}

/// Whether `program -G host` succeeds within `timeout`: an OpenSSH client
/// whose name does not say so (git's and gix's test; a client that does
/// not end is killed, and taken for a simple one).
fn answers_dash_g(program: &OsStr, host: &str, disallow_shell: bool, timeout: Duration) -> bool {
    let Ok(mut child) = shell_or_program(program, disallow_shell)
        .args(["-G", host])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(10))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// `program` run directly, or through `sh -c` when it is a shell command
/// (it has spaces, quotes or other characters a shell interprets) and a
/// shell is allowed, as git runs `GIT_SSH_COMMAND`/`core.sshCommand`.
fn shell_or_program(program: &OsStr, disallow_shell: bool) -> Command {
    let text = program.to_string_lossy();
    let is_script = text.contains(|c: char| "|&;<>()$`\\\"' \t\n*?[#~=%".contains(c));
    if disallow_shell || !is_script {
        return Command::new(program);
    }
    let mut script = program.to_owned();
    script.push(" \"$@\"");
    let mut command = Command::new("sh");
    command.arg("-c").arg(script).arg(program);
    command
}

/// Keeps the last 4 KiB the process wrote on stderr (what ssh or a remote
/// git said: "Permission denied", "not a git repository").
fn collect_stderr(mut stderr: std::process::ChildStderr, said: &Mutex<String>) {
    const KEPT: usize = 4096;
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        let Ok(mut text) = said.lock() else { break };
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if text.len() > KEPT {
            let mut cut = text.len() - KEPT;
            while !text.is_char_boundary(cut) {
                cut += 1;
            }
            text.drain(..cut);
        }
    }
}

/// Waits until `fd` is ready for `events`, at most `timeout`: `false` if it
/// was not.
fn ready(fd: &impl AsRawFd, events: libc::c_short, timeout: Duration) -> std::io::Result<bool> {
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid `pollfd`, for a descriptor this process owns.
        let n = unsafe { libc::poll(&mut poll, 1, millis) };
        if n >= 0 {
            return Ok(n > 0);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn timed_out(program: &str, timeout: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("`{program}` timed out: silent for {} s", timeout.as_secs()),
    )
}

/// The process's stdout: reads wait at most the timeout, then kill it.
/// Dropping it ends the process.
pub(crate) struct Output {
    stdout: ChildStdout,
    child: Child,
    timeout: Duration,
    program: String,
    said: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Output {
    fn end(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process said on stderr, once it has ended (its stdout did).
    fn said(&mut self) -> Option<String> {
        if let Some(reader) = self.reader.take() {
            // Its stderr ends with it; a grandchild holding it open (ssh's
            // ProxyCommand) must not hold eka.
            for _ in 0..50 {
                if reader.is_finished() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let said = self.said.lock().ok()?;
        let said = said.trim();
        (!said.is_empty()).then(|| said.to_owned())
    }
}

impl Read for Output {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !ready(&self.stdout, libc::POLLIN, self.timeout)? {
            self.end();
            return Err(timed_out(&self.program, self.timeout));
        }
        match self.stdout.read(buf) {
            Ok(0) if !buf.is_empty() => match self.said() {
                Some(said) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("`{}` ended: {said}", self.program),
                )),
                None => Ok(0),
            },
            other => other,
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.end();
    }
}

/// The process's stdin, non-blocking: writes wait at most the timeout.
pub(crate) struct Input {
    stdin: ChildStdin,
    timeout: Duration,
}

impl Input {
    fn new(stdin: ChildStdin, timeout: Duration) -> std::io::Result<Self> {
        let fd = stdin.as_raw_fd();
        // SAFETY: fcntl on a descriptor this process owns.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Input { stdin, timeout })
    }
}

impl Write for Input {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.stdin.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !ready(&self.stdin, libc::POLLOUT, self.timeout)? {
                        return Err(timed_out("upload-pack", self.timeout));
                    }
                }
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stdin.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    fn url(text: &str) -> gix::Url {
        gix::url::parse(text.as_bytes().as_bstr()).unwrap()
    }

    fn line(command: &Command) -> Vec<String> {
        std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The ssh command line is git's: options, port, user@host, the
    /// service and the quoted path; a shell command through `sh -c`.
    #[test]
    fn ssh_command_lines_are_gits() {
        let ssh = SshOptions::default();
        let (c, _) = ssh_command(&url("ssh://me@host:2222/srv/repo"), &ssh, T).unwrap();
        assert_eq!(
            line(&c),
            [
                "ssh",
                "-o",
                "SendEnv=GIT_PROTOCOL",
                "-p2222",
                "me@host",
                "git-upload-pack",
                "'/srv/repo'"
            ]
        );
        let custom = SshOptions {
            command: Some("ssh -i 'my key'".into()),
            kind: Some(ProgramKind::Ssh),
            ..Default::default()
        };
        let (c, _) = ssh_command(&url("ssh://host/~/r"), &custom, T).unwrap();
        assert_eq!(
            line(&c),
            [
                "sh",
                "-c",
                "ssh -i 'my key' \"$@\"",
                "ssh -i 'my key'",
                "-o",
                "SendEnv=GIT_PROTOCOL",
                "host",
                "git-upload-pack",
                "'~/r'"
            ]
        );
    }

    /// A host or user that ssh would read as an option is refused, and a
    /// local path that git would read as one too.
    #[test]
    fn option_lookalikes_are_refused() {
        let ssh = SshOptions::default();
        assert!(ssh_command(&url("ssh://-oProxyCommand=x/r"), &ssh, T).is_err());
        assert!(ssh_command(&url("ssh://-oProxyCommand=x@host/r"), &ssh, T).is_err());
        assert!(local_command(&url("file:///srv/r")).is_ok());
    }

    /// A process that neither answers nor ends is killed after the
    /// timeout, and the read says it timed out.
    #[test]
    fn a_silent_process_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("git-upload-pack");
        std::fs::write(&fake, "#!/bin/sh\nexec sleep 300\n").unwrap();
        let mut perms = std::fs::metadata(&fake).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&fake, perms).unwrap();
        let mut command = Command::new(&fake);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut output = Output {
            stdout: child.stdout.take().unwrap(),
            child,
            timeout: Duration::from_millis(300),
            program: "git-upload-pack".into(),
            said: Default::default(),
            reader: None,
        };
        let started = std::time::Instant::now();
        let e = output.read(&mut [0u8; 16]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Killed: it has ended.
        assert!(output.child.try_wait().unwrap().is_some());
    }
}
