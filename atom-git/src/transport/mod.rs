//! Talking to remotes: ref listings that fetch no objects, fetches by
//! object id or by refspec.
//!
//! Listings use protocol v2 `ls-refs` with `ref-prefix` arguments, so the
//! server sends only the refs asked for. Connections belong to a
//! [`Connections`] value the caller owns: a listing that a fetch from the
//! same URL is likely to follow ([`Connections::ls_refs_then_fetch`]) leaves
//! its connection open in it, so that the fetch needs no new connection
//! (nor, on `git://`, `ssh://` and `file://`, a new upload-pack process on
//! the server); the connections still open end when the last clone of the
//! value is dropped. `ssh://` runs the client git would run (see
//! `ssh`), decided once per [`Connections`].

mod connect;
#[cfg(test)]
mod faults;
mod process;
mod session;
mod ssh;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gix::ObjectId;

pub use ssh::SshConfigError;

use connect::connect;
use session::Session;
use ssh::SshOptions;

/// How long eka waits for a remote unless its caller says otherwise
/// ([`Connections::with_timeout`]): to connect, and then for each read or
/// write (idle time, not the whole transfer). A remote that stays silent
/// longer is a failed remote: the next mirror of a set is tried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `error` (or one of its causes) is a read, write or connect that
/// ran out of time.
pub(crate) fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        if e.to_string().contains("timed out") {
            return true;
        }
        next = e.source();
    }
    false
}

/// The path a `file://` URL or a plain path names.
fn local_path(url: &str) -> Option<PathBuf> {
    use gix::bstr::ByteSlice;
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).ok()?;
    if parsed.scheme != gix::url::Scheme::File {
        return None;
    }
    gix::path::from_bstring(parsed.path).ok()
}

/// An error and its causes, as one text (to tell failures apart).
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        text.push_str(&e.to_string());
        text.push('\n');
        next = e.source();
    }
    text
}

/// A ref advertised by a remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    pub name: String,
    pub target: ObjectId,
}

/// What eka was doing with a remote when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAction {
    List,
    Fetch,
}

impl std::fmt::Display for RemoteAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteAction::List => "list refs of",
            RemoteAction::Fetch => "fetch from",
        })
    }
}

/// Why a remote could not be asked. Its code is `atom::remote::timed_out`
/// when the remote stayed silent past the timeout, else
/// `atom::remote::unreachable`.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{url}`")]
pub struct RemoteError {
    pub url: String,
    pub action: RemoteAction,
    #[source]
    pub source: TransportError,
}

impl miette::Diagnostic for RemoteError {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(match self.timed_out() {
            true => "atom::remote::timed_out",
            false => "atom::remote::unreachable",
        }))
    }
}

impl RemoteError {
    /// Whether the remote stayed silent past the timeout.
    pub fn timed_out(&self) -> bool {
        matches!(self.source, TransportError::TimedOut { .. })
    }

    /// The cause in one line, for warnings and lists of failures: what
    /// failed, and the innermost cause (what the system said).
    pub fn reason(&self) -> String {
        let what = self.source.to_string();
        match crate::root_cause(&self.source) {
            Some(root) if !what.contains(&root) => format!("{what}: {root}"),
            _ => what,
        }
    }
}

/// What went wrong below a [`RemoteError`].
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid URL")]
    Url(#[source] crate::BoxError),
    #[error("the URL has no host")]
    NoHost,
    #[error("cannot resolve `{host}`")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot choose the ssh client")]
    Ssh(#[source] Arc<SshConfigError>),
    #[error("cannot connect")]
    Connect(#[source] crate::BoxError),
    #[error("cannot run `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to {addr}")]
    Tcp {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the handshake failed")]
    Handshake(#[source] crate::BoxError),
    #[error("`{0}` does not exist")]
    NoSuchPath(String),
    #[error("`{0}` does not appear to be a git repository")]
    NotARepository(String),
    #[error("cannot resolve the host")]
    UnknownHost(#[source] crate::BoxError),
    /// The root cause says it was refused.
    #[error("cannot connect")]
    Refused(#[source] crate::BoxError),
    #[error("the server has no such repository")]
    NoSuchRepository(#[source] crate::BoxError),
    #[error("ls-refs failed")]
    ListRefs(#[source] crate::BoxError),
    #[error("the fetch failed")]
    Fetch(#[source] crate::BoxError),
    #[error("the server sent no pack")]
    NoPack,
    #[error("the server said: {0}")]
    Server(String),
    #[error("cannot store the received pack")]
    StorePack(#[source] crate::BoxError),
    #[error("the remote did not answer for {} s", .after.as_secs())]
    TimedOut {
        after: Duration,
        #[source]
        source: Box<TransportError>,
    },
}

impl TransportError {
    /// A failed handshake as what failed, when that can be told: a local
    /// path that is missing or no repository (git's upload-pack says so on
    /// its stderr, which the transport does not keep), the host's name, the
    /// connection, or a server without that repository. Other failures
    /// (the protocol) stay [`TransportError::Handshake`].
    fn or_which_failed(self, url: &str) -> TransportError {
        let TransportError::Handshake(source) = self else {
            return self;
        };
        if let Some(path) = local_path(url) {
            let shown = path.display().to_string();
            return match path.exists() {
                false => TransportError::NoSuchPath(shown),
                true if gix::open(&path).is_err() => TransportError::NotARepository(shown),
                true => TransportError::Handshake(source),
            };
        }
        let text = chain_text(&*source);
        let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
        if has(&[
            "failed to lookup address",
            "Could not resolve hostname",
            "Name or service not known",
            "Temporary failure in name resolution",
            "dns error",
        ]) {
            TransportError::UnknownHost(source)
        } else if has(&["Connection refused", "connection refused"]) {
            TransportError::Refused(source)
        } else if has(&[
            // git-upload-pack over ssh (its stderr is in the error).
            "does not appear to be a git repository",
            "no such repository",
            "not found",
            "Not Found",
            "404",
            "No such file or directory",
            // GitLab over ssh.
            "could not be found",
        ]) {
            TransportError::NoSuchRepository(source)
        } else {
            TransportError::Handshake(source)
        }
    }

    /// This error, as [`TransportError::TimedOut`] if it is one.
    fn or_timed_out(self, after: Duration) -> TransportError {
        match &self {
            TransportError::TimedOut { .. } => self,
            e if is_timeout(e) => TransportError::TimedOut {
                after,
                source: Box::new(self),
            },
            _ => self,
        }
    }
}

/// The connections of one piece of work (a command), and how to reach
/// `ssh://` remotes; see the [module documentation](self). Cloning gives
/// another handle to the same connections.
#[derive(Clone)]
pub struct Connections {
    pool: Arc<Pool>,
}

struct Pool {
    /// Where git's configuration (for the ssh client) is read.
    config_dir: PathBuf,
    ssh: OnceLock<Result<SshOptions, Arc<SshConfigError>>>,
    /// How long to wait for a remote.
    timeout: Duration,
    /// Connections kept open for a fetch, by URL.
    parked: Mutex<Vec<(String, Session)>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        let parked = match self.parked.get_mut() {
            Ok(p) => std::mem::take(p),
            Err(_) => return,
        };
        for (_, session) in parked {
            session.end();
        }
    }
}

impl Default for Connections {
    /// Connections that read git's configuration where git would in the
    /// current directory.
    fn default() -> Self {
        Connections::new(&std::env::current_dir().unwrap_or_default())
    }
}

impl Connections {
    /// Connections that read git's configuration (for the ssh client) as
    /// git would in `dir`, waiting [`DEFAULT_TIMEOUT`] for a remote.
    pub fn new(dir: &Path) -> Self {
        Connections {
            pool: Arc::new(Pool {
                config_dir: dir.to_owned(),
                ssh: OnceLock::new(),
                timeout: DEFAULT_TIMEOUT,
                parked: Mutex::new(Vec::new()),
            }),
        }
    }

    /// These connections waiting `timeout` for a remote instead of
    /// [`DEFAULT_TIMEOUT`] (before any connection is made).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        match Arc::get_mut(&mut self.pool) {
            Some(pool) => pool.timeout = timeout,
            None => {
                self.pool = Arc::new(Pool {
                    config_dir: self.pool.config_dir.clone(),
                    ssh: OnceLock::new(),
                    timeout,
                    parked: Mutex::new(Vec::new()),
                })
            }
        }
        self
    }

    /// How long these connections wait for a remote.
    pub fn timeout(&self) -> Duration {
        self.pool.timeout
    }

    fn ssh(&self) -> Result<SshOptions, TransportError> {
        self.pool
            .ssh
            .get_or_init(|| ssh::ssh_options(&self.pool.config_dir).map_err(Arc::new))
            .clone()
            .map_err(TransportError::Ssh)
    }

    fn open(&self, url: &str) -> Result<Session, TransportError> {
        Session::open(connect(url, || self.ssh(), self.pool.timeout)?)
            .map_err(|e| e.or_timed_out(self.pool.timeout).or_which_failed(url))
    }

    /// Lists the refs under `prefixes` of the remote at `url`, fetching no
    /// objects.
    pub fn ls_refs(&self, url: &str, prefixes: &[&str]) -> Result<Vec<RemoteRef>, RemoteError> {
        self.list(url, prefixes, false)
    }

    /// [`Connections::ls_refs`], keeping the connection open (protocol v2
    /// only) for the next [`Connections::fetch_objects`] from `url`.
    pub fn ls_refs_then_fetch(
        &self,
        url: &str,
        prefixes: &[&str],
    ) -> Result<Vec<RemoteRef>, RemoteError> {
        self.list(url, prefixes, true)
    }

    fn list(
        &self,
        url: &str,
        prefixes: &[&str],
        keep: bool,
    ) -> Result<Vec<RemoteRef>, RemoteError> {
        let timeout = self.pool.timeout;
        let err = |source: TransportError| RemoteError {
            url: url.to_owned(),
            action: RemoteAction::List,
            source: source.or_timed_out(timeout),
        };
        let mut session = self.open(url).map_err(err)?;
        let refs = session.ls_refs(prefixes).map_err(err)?;
        if keep && session.is_v2() {
            self.park(url, session);
        } else {
            session.end();
        }
        Ok(refs)
    }

    fn park(&self, url: &str, session: Session) {
        if let Ok(mut parked) = self.pool.parked.lock() {
            parked.push((url.to_owned(), session));
        }
    }

    /// A connection to `url` that a listing left open, if there is one.
    fn unpark(&self, url: &str) -> Option<Session> {
        let mut parked = self.pool.parked.lock().ok()?;
        let at = parked.iter().position(|(u, _)| u == url)?;
        Some(parked.swap_remove(at).1)
    }

    /// Fetches the objects `wants` (and everything they reach) from `url`
    /// into `repo`, by object id: one `fetch` command with a `want` per id
    /// and `done` (no `ls-refs`, no negotiation round, no `have`s), writing
    /// no ref. The ids are those a listing just gave (ref tips), so any
    /// server accepts them; what arrives is checked by content (object ids
    /// are hashes) when the pack is indexed. Whether every want arrived is
    /// the caller's to check.
    pub fn fetch_objects(
        &self,
        repo: &gix::Repository,
        url: &str,
        wants: &[ObjectId],
    ) -> Result<(), RemoteError> {
        self.fetch_objects_having(repo, url, wants, &[])
    }

    /// [`Self::fetch_objects`], telling the server that `repo` has `haves`
    /// and everything they reach, so that they are not sent: a yank's tag
    /// alone, without the atom it points at, is one small object.
    pub fn fetch_objects_having(
        &self,
        repo: &gix::Repository,
        url: &str,
        wants: &[ObjectId],
        haves: &[ObjectId],
    ) -> Result<(), RemoteError> {
        if wants.is_empty() {
            return Ok(());
        }
        // A connection a listing left open, if it still works; a new one else.
        if let Some(mut session) = self.unpark(url) {
            if session.fetch(repo, wants, haves).is_ok() {
                session.end();
                return Ok(());
            }
        }
        let timeout = self.pool.timeout;
        let err = |source: TransportError| RemoteError {
            url: url.to_owned(),
            action: RemoteAction::Fetch,
            source: source.or_timed_out(timeout),
        };
        let mut session = self.open(url).map_err(err)?;
        session.fetch(repo, wants, haves).map_err(err)?;
        session.end();
        Ok(())
    }

    /// A gix connection of `remote` for fetching; `ssh://` is reached with
    /// the client these connections chose (the configuration of the
    /// directory they were made for, as for every other connection eka
    /// makes), not the one the configuration of `remote`'s repository (a
    /// scratch or cache repository) would choose.
    pub fn fetch_connection<'a, 'repo>(
        &self,
        remote: &'a gix::Remote<'repo>,
    ) -> Result<gix::remote::Connection<'a, 'static, 'repo, connect::BoxedTransport>, TransportError>
    {
        use gix::bstr::ByteSlice;
        use gix::remote::Direction;
        let url = remote.url(Direction::Fetch).ok_or(TransportError::NoHost)?;
        let transport = connect(
            &url.to_bstring().to_str_lossy(),
            || self.ssh(),
            self.pool.timeout,
        )?;
        Ok(remote.to_connection_with_transport(transport))
    }

    /// Fetches `refspecs` from `url` into `repo` (gix), fetching what their
    /// targets need and nothing else; returns the refs the remote
    /// advertised for them.
    pub fn fetch_refspecs(
        &self,
        repo: &gix::Repository,
        url: &str,
        refspecs: &[String],
    ) -> Result<Vec<RemoteRef>, RemoteError> {
        use gix::remote::Direction;
        let timeout = self.pool.timeout;
        let err = |source: TransportError| RemoteError {
            url: url.to_owned(),
            action: RemoteAction::Fetch,
            source: source.or_timed_out(timeout),
        };
        let fetch = |e: crate::BoxError| err(TransportError::Fetch(e));
        let remote = repo
            .remote_at(url)
            .map_err(|e| fetch(e.into()))?
            .with_refspecs(refspecs.iter().map(|s| s.as_str()), Direction::Fetch)
            .map_err(|e| fetch(e.into()))?
            .with_fetch_tags(gix::remote::fetch::Tags::None);
        let outcome = self
            .fetch_connection(&remote)
            .map_err(err)?
            .prepare_fetch(gix::progress::Discard, Default::default())
            .map_err(|e| fetch(e.into()))?
            .receive(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
            .map_err(|e| fetch(e.into()))?;
        Ok(advertised(&outcome.ref_map))
    }
}

/// The refs a fetch's ref map advertised, with their targets.
fn advertised(map: &gix::remote::fetch::RefMap) -> Vec<RemoteRef> {
    use gix::remote::fetch::refmap::Source;
    map.mappings
        .iter()
        .filter_map(|m| match &m.remote {
            Source::Ref(r) => {
                let (name, target, _) = r.unpack();
                Some(RemoteRef {
                    name: name.to_string(),
                    target: target?.to_owned(),
                })
            }
            Source::ObjectId(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a failed ssh handshake's text (the client's stderr) says, as
    /// what failed.
    fn kind(stderr: &str) -> TransportError {
        let source: crate::BoxError = stderr.to_owned().into();
        TransportError::Handshake(source).or_which_failed("ssh://git@example.org/reg.git")
    }

    #[test]
    fn ssh_stderr_tells_a_missing_repository() {
        for stderr in [
            "`ssh` ended: fatal: '/srv/reg.git' does not appear to be a git repository",
            "`ssh` ended: git-upload-pack: /srv/reg.git: No such file or directory",
            "`ssh` ended: ERROR: Repository not found.",
            "`ssh` ended: remote: The project you were looking for could not be found \
             or you don't have permission to view it.",
        ] {
            assert!(
                matches!(kind(stderr), TransportError::NoSuchRepository(_)),
                "{stderr}"
            );
        }
        assert!(matches!(
            kind("`ssh` ended: ssh: Could not resolve hostname example.org"),
            TransportError::UnknownHost(_)
        ));
        assert!(matches!(
            kind("`ssh` ended: git@example.org: Permission denied (publickey)."),
            TransportError::Handshake(_)
        ));
    }
}
