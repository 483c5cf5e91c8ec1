//! Running a command to completion with a timeout, collecting its output.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a command run by the support code may take before it is killed
/// (with all its children) and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// The outcome of a finished command.
#[derive(Debug)]
pub struct Run {
    /// What was run, for messages.
    pub command: String,
    pub status: ExitStatus,
    /// Stdout, lossily decoded as UTF-8.
    pub stdout: String,
    /// Stderr, lossily decoded as UTF-8.
    pub stderr: String,
}

impl Run {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Exit code, `None` if killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing the command and its output, unless it exited with 0.
    #[track_caller]
    pub fn assert_success(self) -> Self {
        assert!(self.status.success(), "command failed:\n{self}");
        self
    }

    /// Panics, showing the command and its output, unless it exited with a
    /// non-zero code (being killed by a signal, e.g. a crash, is not a
    /// failure in this sense and panics too).
    #[track_caller]
    pub fn assert_failure(self) -> Self {
        assert!(
            matches!(self.status.code(), Some(c) if c != 0),
            "command was expected to fail with an exit code:\n{self}"
        );
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "status: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("    (in {})", dir.display()));
    }
    s
}

/// Sends `signal` to the process group led by `child` (which must have been
/// spawned with `process_group(0)`).
pub(crate) fn kill_group(child: &Child, signal: i32) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: plain syscall; the group id is the one of a child we spawned
    // as a group leader and have not reaped yet, so it cannot be reused.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Whether `child` has exited, without reaping it.
pub(crate) fn has_exited(child: &Child) -> bool {
    // SAFETY: waitid with WNOWAIT only inspects the state of our own child
    // and writes into the zeroed siginfo we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        assert_eq!(r, 0, "waitid: {}", std::io::Error::last_os_error());
        info.si_pid() != 0
    }
}

/// Spawns `cmd` in its own process group, feeds it `stdin` (or /dev/null),
/// collects stdout and stderr, and waits for it. If it runs longer than
/// `timeout`, its whole process group is killed and this panics.
pub fn run(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Run {
    let command = describe(&cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
    let input = stdin.map(<[u8]>::to_vec);
    let mut child_stdin = child.stdin.take();
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (status, stdout, stderr) = std::thread::scope(|s| {
        if let (Some(input), Some(mut pipe)) = (input, child_stdin.take()) {
            // A command may exit without reading all its input: ignore EPIPE.
            s.spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out = s.spawn(move || {
            let mut buf = Vec::new();
            let _ = out.read_to_end(&mut buf);
            buf
        });
        let err = s.spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            buf
        });
        let start = Instant::now();
        while !has_exited(&child) {
            if start.elapsed() > timeout {
                kill_group(&child, libc::SIGKILL);
                let _ = child.wait();
                let stdout = out.join().unwrap_or_default();
                let stderr = err.join().unwrap_or_default();
                panic!(
                    "`{command}` timed out after {timeout:?} and was killed\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        // The child has exited but is not reaped yet, so its group id cannot
        // have been reused: kill whatever it left behind in its group (it
        // would keep the pipes open), then reap it.
        kill_group(&child, libc::SIGKILL);
        let status = child.wait().expect("wait for child");
        (status, out.join().unwrap(), err.join().unwrap())
    });
    Run {
        command,
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
