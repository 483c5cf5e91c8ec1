//! Pushing atom refs to a remote, all or nothing.
//!
//! gix cannot push yet, so this runs `git push --atomic`: an atomic push is
//! the only way to land all of a publish's refs or none.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gix::ObjectId;

/// The outcome of one ref in a `git push --porcelain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub name: String,
    pub ok: bool,
    pub summary: String,
}

/// Why a push did not land (or may not have). Its code is
/// `atom::remote::push_timed_out` when it was stopped for silence (it may
/// have landed), else `atom::remote::push_rejected` (nothing landed).
#[derive(Debug, thiserror::Error)]
#[error("{}{}", headline(.url, .timed_out), details(.refs, .stderr))]
pub struct PushError {
    pub url: String,
    pub refs: Vec<PushedRef>,
    pub stderr: String,
    /// Set when the remote went silent for this long and the push was
    /// stopped: it may have landed whole or not at all (it is atomic).
    pub timed_out: Option<Duration>,
}

impl miette::Diagnostic for PushError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(match self.timed_out {
            Some(_) => "atom::remote::push_timed_out",
            None => "atom::remote::push_rejected",
        }))
    }
}

fn headline(url: &str, timed_out: &Option<Duration>) -> String {
    match timed_out {
        None => format!("the push to `{url}` was rejected; no ref was changed there"),
        Some(after) => format!(
            "the push to `{url}` was stopped: the remote sent nothing for {} s; being atomic, it landed whole or not at all",
            after.as_secs()
        ),
    }
}

fn details(refs: &[PushedRef], stderr: &str) -> String {
    let mut out = String::new();
    if stderr.contains("cannot lock ref") && stderr.contains(".lock': File exists") {
        out.push_str(
            "\n  git left the remote wedged: a push killed there earlier left lock files (`refs/…/*.lock`, named above) that git will not remove; nothing of that push landed. On the remote, once no push is running, delete those `.lock` files and publish again",
        );
    }
    if is_stale_keep(stderr) || refs.iter().any(|r| is_stale_keep(&r.summary)) {
        out.push_str(
            "\n  git left the remote wedged: a push killed there earlier left a `.keep` file beside a pack in `objects/pack/`, which git will not replace (pushing again with other compression did not get past it); on the remote, once no push is running, delete `objects/pack/pack-*.keep` and publish again",
        );
    }
    for r in refs.iter().filter(|r| !r.ok) {
        out.push_str(&format!("\n  {}: {}", r.name, r.summary));
    }
    let stderr = stderr.trim();
    if !stderr.is_empty() {
        out.push_str("\n  git said: ");
        out.push_str(&stderr.replace('\n', "\n    "));
    }
    out
}

/// Pushes objects of `repo` to refs at `url` (`(ref name, object id)`
/// pairs), atomically: all land or none.
///
/// `git push` matches explicit refspecs in time quadratic in their number
/// (10 s for 3,000 refs here, against 2 s for one wildcard), and staging refs
/// in the user's repository would cost two more ref transactions. So the push
/// runs from a scratch repository that borrows `repo`'s objects (git
/// alternates) and holds exactly the refs to push, in a `packed-refs` file
/// written in one go, and pushes them with one wildcard refspec. No ref is
/// forced: an existing atom ref can never be fast-forwarded (atom commits
/// have no parents) and manifest refs point to blobs, so a version that
/// someone else published in the meantime is refused, and with `--atomic`
/// so is the whole push. A remote silent for `timeout` stops it.
pub fn push_atomic(
    repo: &gix::Repository,
    url: &str,
    refs: &[(String, ObjectId)],
    timeout: Duration,
) -> Result<Vec<PushedRef>, PushError> {
    let fail = |stderr: String| PushError {
        url: url.to_owned(),
        refs: Vec::new(),
        stderr,
        timed_out: None,
    };
    let scratch =
        scratch_push_repo(repo, refs).map_err(|e| fail(format!("cannot prepare the push: {e}")))?;
    let mut result = push_scratch(&scratch, url, None, timeout);
    for level in REPACK_LEVELS {
        match &result {
            Err(e) if e.timed_out.is_none() && e.is_stale_keep() => {
                result = push_scratch(&scratch, url, Some(level), timeout);
            }
            _ => break,
        }
    }
    result
}

/// What receive-pack says when a pack it received is already on the
/// remote with a `.keep` file of other content: a receive-pack killed
/// (`kill -9` of a publish's process group) after moving a pack into place
/// and before removing its `.keep` leaves one, and git will not overwrite
/// it. A push sending the same objects makes the same pack (packs are
/// named after their content), so every later publish failed the same
/// way.
fn is_stale_keep(said: &str) -> bool {
    said.contains("unable to migrate objects to permanent storage")
}

impl PushError {
    /// [`is_stale_keep`], in git's messages or the refs' summaries.
    fn is_stale_keep(&self) -> bool {
        is_stale_keep(&self.stderr) || self.refs.iter().any(|r| is_stale_keep(&r.summary))
    }
}

/// Compression levels for pushing again when [`is_stale_keep`]: the same
/// objects compressed otherwise make another pack, under another name,
/// past the stale `.keep`.
const REPACK_LEVELS: [&str; 2] = ["0", "9"];

/// One `git push --atomic` of `scratch`'s refs to `url`, its packs
/// compressed at `level` (git's default if `None`).
fn push_scratch(
    scratch: &ScratchRepo,
    url: &str,
    level: Option<&str>,
    timeout: Duration,
) -> Result<Vec<PushedRef>, PushError> {
    let fail = |stderr: String| PushError {
        url: url.to_owned(),
        refs: Vec::new(),
        stderr,
        timed_out: None,
    };
    let mut command = Command::new("git");
    if let Some(level) = level {
        command.args(["-c", &format!("pack.compression={level}")]);
    }
    command
        .arg("--git-dir")
        .arg(scratch.path())
        .args([
            "push",
            "--atomic",
            "--porcelain",
            "--no-verify",
            "--progress",
            url,
        ])
        .arg(format!("{0}*:{0}*", atom_format::refs::ATOMS_PREFIX));
    let output = run_watched(command, timeout).map_err(|e| fail(format!("cannot run git: {e}")))?;
    let stderr = without_progress(&String::from_utf8_lossy(&output.stderr));
    if output.timed_out {
        return Err(PushError {
            timed_out: Some(timeout),
            ..fail(stderr)
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let refs: Vec<PushedRef> = stdout
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            let flag = parts.next()?;
            let spec = parts.next()?;
            let summary = parts.next().unwrap_or("").to_owned();
            let name = spec.rsplit(':').next()?.to_owned();
            if flag.len() != 1 {
                return None;
            }
            Some(PushedRef {
                name,
                ok: !matches!(flag, "!"),
                summary,
            })
        })
        .collect();
    if output.status.success() && refs.iter().all(|r| r.ok) {
        Ok(refs)
    } else {
        Err(PushError {
            url: url.to_owned(),
            refs,
            stderr,
            timed_out: None,
        })
    }
}

/// git's stderr without its progress meter (which `--progress` turns on
/// to show the watchdog that the push is alive): what remains is what git
/// and the remote said.
fn without_progress(stderr: &str) -> String {
    const PROGRESS: &[&str] = &[
        "Enumerating objects",
        "Counting objects",
        "Delta compression",
        "Compressing objects",
        "Writing objects",
        "Total ",
        "remote: Resolving deltas",
        "remote: Counting objects",
        "remote: Compressing objects",
    ];
    let mut out = String::new();
    for line in stderr.lines() {
        // What a terminal would show: the last rewrite of the line.
        let shown = line.rsplit('\r').next().unwrap_or(line);
        if !PROGRESS.iter().any(|p| shown.starts_with(p)) {
            out.push_str(shown);
            out.push('\n');
        }
    }
    out
}

/// What [`run_watched`] collected.
struct Watched {
    status: std::process::ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The process was killed for having been silent `timeout` long.
    timed_out: bool,
}

/// Runs `command` in its own process group, collecting its output; if it
/// writes nothing (`--progress` keeps git talking while it works) for
/// `timeout`, the whole group (git and the transport it runs) is killed.
/// A server that applies the refs but never reports it cannot hang eka.
fn run_watched(mut command: Command, timeout: Duration) -> std::io::Result<Watched> {
    use std::os::unix::process::CommandExt as _;
    let started = Instant::now();
    let last_output = AtomicU64::new(0);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let group = child.id() as i32;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let collect = |pipe: &mut dyn Read| {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            all.extend_from_slice(&buf[..n]);
            last_output.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        all
    };
    std::thread::scope(|s| {
        let stdout = s.spawn(|| out.as_mut().map(|p| collect(p)).unwrap_or_default());
        let stderr = s.spawn(|| err.as_mut().map(|p| collect(p)).unwrap_or_default());
        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            let silent = (started.elapsed().as_millis() as u64)
                .saturating_sub(last_output.load(Ordering::Relaxed));
            if !timed_out && silent > timeout.as_millis() as u64 {
                timed_out = true;
                // SAFETY: kill(2) with a negative pid signals the process
                // group this function created; no memory is involved.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // A grandchild still holding a pipe is in the group killed above.
        Ok(Watched {
            status,
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            timed_out,
        })
    })
}

/// A bare repository in a temporary directory whose objects are `repo`'s
/// (through `objects/info/alternates`) and whose only refs are `refs`.
fn scratch_push_repo(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
) -> std::io::Result<ScratchRepo> {
    let tmp = std::env::temp_dir();
    remove_stale_scratch_repos(&tmp);
    // Making the directory and locking it are one step for the cleaner of
    // another publish, which holds this lock exclusively.
    let making = scratch_lock(&tmp)?;
    making.lock_shared()?;
    let dir = tempfile::Builder::new()
        .prefix(SCRATCH_PREFIX)
        .tempdir_in(&tmp)?;
    // Held while the push runs: a later publish removes only scratch
    // repositories nobody holds (whose publish was killed).
    let in_use = std::fs::File::open(dir.path())?;
    in_use.lock()?;
    drop(making);
    let objects = repo.objects.store_ref().path().canonicalize()?;
    for sub in ["objects/info", "objects/pack", "refs/heads", "refs/tags"] {
        std::fs::create_dir_all(dir.path().join(sub))?;
    }
    std::fs::write(dir.path().join("HEAD"), "ref: refs/heads/main\n")?;
    std::fs::write(
        dir.path().join("config"),
        "[core]\n\trepositoryformatversion = 0\n\tbare = true\n",
    )?;
    let mut alternates = objects.as_os_str().as_encoded_bytes().to_vec();
    alternates.push(b'\n');
    std::fs::write(dir.path().join("objects/info/alternates"), alternates)?;
    let mut sorted: Vec<&(String, ObjectId)> = refs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut packed = String::from("# pack-refs with: sorted \n");
    for (name, id) in sorted {
        packed.push_str(&format!("{id} {name}\n"));
    }
    std::fs::write(dir.path().join("packed-refs"), packed)?;
    Ok(ScratchRepo {
        dir,
        _in_use: in_use,
    })
}

const SCRATCH_PREFIX: &str = "eka-push-";

/// The lock file in `tmp` under which scratch repositories are made
/// (shared) and stale ones removed (exclusive).
fn scratch_lock(tmp: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(tmp.join("eka-push.lock"))
}

/// A scratch repository of [`push_atomic`], locked while it exists.
struct ScratchRepo {
    dir: tempfile::TempDir,
    _in_use: std::fs::File,
}

impl ScratchRepo {
    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// Removes the scratch repositories (`$TMPDIR/eka-push-*`) of publishes
/// that were killed and that no live publish holds: every push does, and
/// a publish with nothing to push calls this.
pub fn remove_stale_scratch_repositories() {
    remove_stale_scratch_repos(&std::env::temp_dir());
}

/// Removes the scratch repositories of publishes that were killed
/// (`kill -9` leaves no chance to clean up): those no process holds a lock
/// on. It holds [`scratch_lock`] exclusively, so none is between being
/// made and being locked.
fn remove_stale_scratch_repos(tmp: &std::path::Path) {
    let Ok(cleaning) = scratch_lock(tmp) else {
        return;
    };
    if cleaning.lock().is_err() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let is_scratch = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
        if !is_scratch || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(handle) = std::fs::File::open(entry.path()) else {
            continue;
        };
        if handle.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch repository left by a killed publish is removed by the
    /// next, however recent; one in use (locked) is kept.
    #[test]
    fn stale_scratch_repositories_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        let make = |name: &str| {
            let dir = tmp.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("HEAD"), "x").unwrap();
            dir
        };
        let set_old = |dir: &std::path::Path| {
            std::fs::File::open(dir).unwrap().set_modified(old).unwrap();
        };
        let stale = make("eka-push-stale1");
        set_old(&stale);
        let in_use = make("eka-push-used12");
        set_old(&in_use);
        let held = std::fs::File::open(&in_use).unwrap();
        held.lock().unwrap();
        let fresh = make("eka-push-fresh1");
        let other = make("not-eka-push-1");
        set_old(&other);
        remove_stale_scratch_repos(tmp.path());
        assert!(!stale.exists());
        assert!(in_use.exists());
        assert!(!fresh.exists());
        assert!(other.exists());
        drop(held);
    }

    #[test]
    fn progress_is_left_out_of_what_git_said() {
        let stderr = "Enumerating objects: 6, done.\nCounting objects:  50% (3/6)\rCounting objects: 100% (6/6), done.\nDelta compression using up to 2 threads\nWriting objects: 100% (5/5), 464 bytes | 46.00 KiB/s, done.\nTotal 5 (delta 0), reused 1 (delta 0), pack-reused 0 (from 0)\nremote: refused by policy\nTo file:///r.git\n ! [remote rejected] refs/atoms/a/1.0.0 (pre-receive hook declined)\n";
        assert_eq!(
            without_progress(stderr),
            "remote: refused by policy\nTo file:///r.git\n ! [remote rejected] refs/atoms/a/1.0.0 (pre-receive hook declined)\n"
        );
    }

    /// A command silent for longer than the timeout is killed with its
    /// whole process group; one that keeps talking is not.
    #[test]
    fn a_silent_command_is_killed_with_its_group() {
        let mut silent = Command::new("sh");
        silent.args(["-c", "echo started >&2; sleep 30 & sleep 30; echo never"]);
        let started = Instant::now();
        let run = run_watched(silent, Duration::from_millis(500)).unwrap();
        assert!(run.timed_out);
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(run.stderr, b"started\n");
        assert!(run.stdout.is_empty());
        let mut talking = Command::new("sh");
        talking.args([
            "-c",
            "for i in 1 2 3 4; do echo $i >&2; sleep 0.2; done; echo done",
        ]);
        let run = run_watched(talking, Duration::from_millis(500)).unwrap();
        assert!(!run.timed_out);
        assert!(run.status.success());
        assert_eq!(run.stdout, b"done\n");
    }
}
