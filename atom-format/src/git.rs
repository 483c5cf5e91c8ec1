//! Git storage: reading source commits, writing atom commits and refs, and
//! talking to remotes.
//!
//! Reading, writing and ref listing use gix. Pushing uses a `git push
//! --atomic` subprocess, because gix cannot push yet and an atomic push is
//! the only way to land all of a publish's refs or none.

use std::path::{Path, PathBuf};
use std::process::Command;

use gix::bstr::{BString, ByteSlice};
use gix::objs::tree::EntryKind;
use gix::ObjectId;

use crate::manifest::MANIFEST_FILE;

/// Errors of the git layer.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GitError {
    #[error("`{path}` is not in a git repository")]
    #[diagnostic(
        code(atom::git::not_a_repository),
        help("run eka inside a git repository (`git init`), or pass the path of one")
    )]
    NotARepository {
        path: PathBuf,
        #[source]
        source: gix::Error,
    },
    #[error("the repository at `{0}` has no commits yet")]
    #[diagnostic(
        code(atom::git::empty),
        help("commit your atoms first: `git add . && git commit`; eka publishes committed trees only")
    )]
    EmptyRepository(PathBuf),
    #[error("`{rev}` does not name a commit: {why}")]
    #[diagnostic(
        code(atom::git::revision),
        help("pass a branch, tag or commit id with --rev")
    )]
    BadRevision { rev: String, why: String },
    #[error("object {id}: {why}")]
    #[diagnostic(code(atom::git::object))]
    Object { id: ObjectId, why: String },
    #[error("{0}")]
    #[diagnostic(code(atom::git::error))]
    Other(String),
}

impl GitError {
    fn object(id: impl Into<ObjectId>, e: impl std::fmt::Display) -> Self {
        GitError::Object {
            id: id.into(),
            why: e.to_string(),
        }
    }
}

/// Opens the repository containing `path` (searching upwards, like git).
pub fn open(path: &Path) -> Result<gix::Repository, GitError> {
    let mut repo = gix::discover(path).map_err(|source| GitError::NotARepository {
        path: path.to_owned(),
        source,
    })?;
    // Publishing reads many small objects; a larger cache pays for itself.
    repo.object_cache_size_if_unset(16 * 1024 * 1024);
    Ok(repo)
}

/// Resolves `rev` to a commit id.
pub fn resolve_commit(repo: &gix::Repository, rev: &str) -> Result<ObjectId, GitError> {
    let id = repo.rev_parse_single(rev).map_err(|e| {
        if rev == "HEAD" && repo.head_id().is_err() {
            GitError::EmptyRepository(repo.workdir().unwrap_or(repo.git_dir()).to_owned())
        } else {
            GitError::BadRevision {
                rev: rev.to_owned(),
                why: e.to_string(),
            }
        }
    })?;
    let object = id.object().map_err(|e| GitError::object(id, e))?;
    let commit = object.peel_to_commit().map_err(|e| GitError::BadRevision {
        rev: rev.to_owned(),
        why: e.to_string(),
    })?;
    Ok(commit.id)
}

/// The repository root of `commit`: the parentless commit reached by
/// following first parents.
pub fn root_commit(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, GitError> {
    let mut buf = Vec::new();
    let mut current = commit;
    loop {
        let data = repo
            .objects
            .try_find(&current, &mut buf)
            .map_err(|e| GitError::object(current, e))?
            .ok_or_else(|| GitError::object(current, "missing (is the history complete?)"))?;
        if data.kind != gix::object::Kind::Commit {
            return Err(GitError::object(current, "not a commit"));
        }
        let mut parents =
            gix::objs::CommitRefIter::from_bytes(data.data, repo.object_hash()).parent_ids();
        match parents.next() {
            Some(first) => current = first,
            None => return Ok(current),
        }
    }
}

use gix::objs::Find as _;

/// An `atom.toml` found in a commit's tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundAtom {
    /// The atom directory, relative to the repository root, `/`-separated.
    pub path: String,
    /// The atom directory's tree.
    pub tree: ObjectId,
    /// The `atom.toml` blob.
    pub manifest_blob: ObjectId,
}

/// What a tree walk found: the atoms, and an `atom.toml` at the root (which
/// cannot be an atom) if there is one.
#[derive(Debug, Default)]
pub struct Discovery {
    pub atoms: Vec<FoundAtom>,
    pub root_manifest: bool,
}

/// Finds every directory of `tree` holding a regular file `atom.toml`.
pub fn discover_atoms(repo: &gix::Repository, tree: ObjectId) -> Result<Discovery, GitError> {
    let mut out = Discovery::default();
    let mut stack = vec![(String::new(), tree)];
    let mut buf = Vec::new();
    while let Some((path, id)) = stack.pop() {
        let tree = gix::objs::FindExt::find_tree(&repo.objects, &id, &mut buf)
            .map_err(|e| GitError::object(id, e))?;
        for entry in &tree.entries {
            let name = entry.filename;
            match entry.mode.kind() {
                EntryKind::Tree => {
                    let child = if path.is_empty() {
                        name.to_str_lossy().into_owned()
                    } else {
                        format!("{path}/{}", name.to_str_lossy())
                    };
                    stack.push((child, entry.oid.to_owned()));
                }
                EntryKind::Blob | EntryKind::BlobExecutable if name == MANIFEST_FILE => {
                    if path.is_empty() {
                        out.root_manifest = true;
                    } else {
                        out.atoms.push(FoundAtom {
                            path: path.clone(),
                            tree: id,
                            manifest_blob: entry.oid.to_owned(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    out.atoms.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The tree of `commit`.
pub fn commit_tree(repo: &gix::Repository, commit: ObjectId) -> Result<ObjectId, GitError> {
    let c = repo
        .find_commit(commit)
        .map_err(|e| GitError::object(commit, e))?;
    c.tree_id()
        .map(|t| t.detach())
        .map_err(|e| GitError::object(commit, e))
}

/// The entry at `path` (`/`-separated) in `tree`, if any: its kind and id.
pub fn lookup_path(
    repo: &gix::Repository,
    tree: ObjectId,
    path: &str,
) -> Result<Option<(EntryKind, ObjectId)>, GitError> {
    let mut current = (EntryKind::Tree, tree);
    let mut buf = Vec::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if current.0 != EntryKind::Tree {
            return Ok(None);
        }
        let t = gix::objs::FindExt::find_tree(&repo.objects, &current.1, &mut buf)
            .map_err(|e| GitError::object(current.1, e))?;
        match t.entries.iter().find(|e| e.filename == part) {
            Some(e) => current = (e.mode.kind(), e.oid.to_owned()),
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Reads a blob's bytes.
pub fn read_blob(repo: &gix::Repository, id: ObjectId) -> Result<Vec<u8>, GitError> {
    let mut buf = Vec::new();
    let blob = gix::objs::FindExt::find_blob(&repo.objects, &id, &mut buf)
        .map_err(|e| GitError::object(id, e))?;
    Ok(blob.data.to_vec())
}

/// The raw bytes and kind of an object, if present.
pub fn read_object(
    repo: &gix::Repository,
    id: ObjectId,
) -> Result<Option<(gix::object::Kind, Vec<u8>)>, GitError> {
    let mut buf = Vec::new();
    Ok(repo
        .objects
        .try_find(&id, &mut buf)
        .map_err(|e| GitError::object(id, e))?
        .map(|d| (d.kind, d.data.to_vec())))
}

/// Writes a commit object with exactly these bytes; returns its id.
pub fn write_commit(repo: &gix::Repository, bytes: &[u8]) -> Result<ObjectId, GitError> {
    use gix::objs::Write as _;
    repo.objects
        .write_buf(gix::object::Kind::Commit, bytes)
        .map_err(|e| GitError::Other(format!("cannot write an atom commit: {e}")))
}

/// The current value of a local ref, if it exists.
pub fn local_ref(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, GitError> {
    match repo.try_find_reference(name) {
        Ok(Some(r)) => Ok(r.target().try_id().map(|id| id.to_owned())),
        Ok(None) => Ok(None),
        Err(e) => Err(GitError::Other(format!("cannot read ref `{name}`: {e}"))),
    }
}

/// All local refs under `prefix`, with their targets.
pub fn local_refs(
    repo: &gix::Repository,
    prefix: &str,
) -> Result<Vec<(String, ObjectId)>, GitError> {
    let err = |e: &dyn std::fmt::Display| GitError::Other(format!("cannot list refs: {e}"));
    let platform = repo.references().map_err(|e| err(&e))?;
    let iter = platform
        .prefixed(prefix.as_bytes().as_bstr())
        .map_err(|e| err(&e))?;
    let mut out = Vec::new();
    for r in iter {
        let r = r.map_err(|e| err(&e))?;
        if let Some(id) = r.target().try_id() {
            out.push((
                r.name().as_bstr().to_str_lossy().into_owned(),
                id.to_owned(),
            ));
        }
    }
    Ok(out)
}

/// One change to a local ref: from `old` (`None` = must not exist) to `new`
/// (`None` = delete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefUpdate {
    pub name: String,
    pub old: Option<ObjectId>,
    pub new: Option<ObjectId>,
}

/// Applies all `updates` in one transaction: every ref must still have its
/// `old` value, or nothing changes.
///
/// This runs `git update-ref --stdin`, whose transactions are atomic and, for
/// thousands of refs, an order of magnitude faster than gix 0.90's.
pub fn update_refs(
    repo: &gix::Repository,
    updates: &[RefUpdate],
    message: &str,
) -> Result<(), GitError> {
    update_refs_in(repo.git_dir(), updates, message)
}

/// [`update_refs`] for the repository whose git directory is `git_dir` (a
/// `gix::Repository` cannot cross threads; a path can).
pub fn update_refs_in(
    git_dir: &Path,
    updates: &[RefUpdate],
    message: &str,
) -> Result<(), GitError> {
    use std::io::Write as _;
    if updates.is_empty() {
        return Ok(());
    }
    let mut script = String::from("start\n");
    for u in updates {
        if u.name.contains(char::is_whitespace) {
            return Err(GitError::Other(format!(
                "`{}` is not a valid ref name",
                u.name
            )));
        }
        let zero = ObjectId::null(gix::hash::Kind::Sha1);
        let old = u.old.unwrap_or(zero);
        match u.new {
            Some(new) => script.push_str(&format!("update {} {new} {old}\n", u.name)),
            None => script.push_str(&format!("delete {} {old}\n", u.name)),
        }
    }
    script.push_str("prepare\ncommit\n");
    let mut child = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["update-ref", "--stdin", "-m", message])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| GitError::Other(format!("cannot run git update-ref: {e}")))?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()))
        .unwrap_or(Ok(()));
    let output = child
        .wait_with_output()
        .map_err(|e| GitError::Other(format!("git update-ref: {e}")))?;
    if !output.status.success() || written.is_err() {
        return Err(GitError::Other(format!(
            "cannot update local refs (nothing was changed): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// A ref advertised by a remote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    pub name: String,
    pub target: ObjectId,
}

/// Why a remote could not be asked.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot list refs of `{url}`: {why}")]
#[diagnostic(
    code(atom::remote::unreachable),
    help("check the URL and that the server is up; for a remote name, see `git remote -v`")
)]
pub struct RemoteError {
    pub url: String,
    pub why: String,
}

/// Lists the refs under `prefixes` of the remote at `url`, fetching no
/// objects. Protocol v2 `ls-refs` with `ref-prefix` arguments makes the
/// server send only matching refs; an older server sends all, which are
/// filtered here.
pub fn ls_refs(url: &str, prefixes: &[&str]) -> Result<Vec<RemoteRef>, RemoteError> {
    list(url, prefixes, false)
}

/// [`ls_refs`], keeping the connection open (protocol v2 only) for the
/// next [`fetch_objects`] from the same `url` in this process, which then
/// needs no new connection (nor, on `git://`, `ssh://` and `file://`, a
/// new upload-pack process on the server). For a listing that a fetch is
/// likely to follow, as in resolution.
pub fn ls_refs_for_fetch(url: &str, prefixes: &[&str]) -> Result<Vec<RemoteRef>, RemoteError> {
    list(url, prefixes, true)
}

fn list(url: &str, prefixes: &[&str], keep: bool) -> Result<Vec<RemoteRef>, RemoteError> {
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    let mut session = Session::open(url).map_err(err)?;
    let refs = session.ls_refs(prefixes).map_err(err)?;
    if keep && session.is_v2() {
        session.park(url);
    } else {
        session.end();
    }
    Ok(refs)
}

/// Ends the connections [`ls_refs_for_fetch`] kept that no fetch used.
pub fn end_parked() {
    let parked = match PARKED.lock() {
        Ok(mut p) => std::mem::take(&mut *p),
        Err(_) => return,
    };
    for (_, session) in parked {
        session.end();
    }
}

/// An upload-pack connection after the handshake.
struct Session {
    transport: Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
    handshake: gix::protocol::Handshake,
}

/// Connections kept by [`ls_refs_for_fetch`], by URL.
static PARKED: std::sync::Mutex<Vec<(String, Session)>> = std::sync::Mutex::new(Vec::new());

impl Session {
    fn open(url: &str) -> Result<Self, String> {
        use gix::protocol::{handshake, transport};
        let mut transport = connect(url)?;
        let handshake = handshake(
            &mut transport,
            transport::Service::UploadPack,
            |_| Ok(None),
            Vec::new(),
            &mut gix::progress::Discard,
        )
        .map_err(|e| e.to_string())?;
        Ok(Session {
            transport,
            handshake,
        })
    }

    fn is_v2(&self) -> bool {
        self.handshake.server_protocol_version == gix::protocol::transport::Protocol::V2
    }

    /// A parked connection to `url`, if there is one.
    fn unpark(url: &str) -> Option<Self> {
        let mut parked = PARKED.lock().ok()?;
        let at = parked.iter().position(|(u, _)| u == url)?;
        Some(parked.swap_remove(at).1)
    }

    fn park(self, url: &str) {
        if let Ok(mut parked) = PARKED.lock() {
            parked.push((url.to_owned(), self));
        }
    }

    /// Ends the interaction politely (protocol v2: a flush).
    fn end(mut self) {
        if self.is_v2() {
            gix::protocol::indicate_end_of_interaction(&mut self.transport, false).ok();
        }
    }

    fn ls_refs(&mut self, prefixes: &[&str]) -> Result<Vec<RemoteRef>, String> {
        list_over(&mut self.transport, &self.handshake, prefixes)
    }

    fn fetch(&mut self, repo: &gix::Repository, wants: &[ObjectId]) -> Result<(), String> {
        fetch_over(&mut self.transport, &self.handshake, repo, wants)
    }
}

/// An upload-pack connection to `url`, asking for protocol v2: `git://`
/// through [`connect_git_daemon`], everything else through gix.
fn connect(
    url: &str,
) -> Result<Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>, String> {
    use gix::protocol::transport;
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| e.to_string())?;
    if parsed.scheme == gix::url::Scheme::Git {
        return Ok(Box::new(connect_git_daemon(&parsed)?));
    }
    transport::client::blocking_io::connect::connect(
        parsed,
        transport::client::blocking_io::connect::Options {
            version: transport::Protocol::V2,
            ssh: transport::client::blocking_io::ssh::connect::Options {
                command: std::env::var_os("GIT_SSH_COMMAND"),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

/// Fetches the objects `wants` (and everything they reach) from `url` into
/// `repo`, by object id: one connection, one `fetch` command with a
/// `want` per id and `done` (no `ls-refs`, no negotiation round, no
/// `have`s), writing no ref. The ids are those a listing just gave (ref
/// tips), so any server accepts them; what arrives is checked by content
/// (object ids are hashes) when the pack is indexed. Whether every want
/// arrived is the caller's to check.
pub fn fetch_objects(
    repo: &gix::Repository,
    url: &str,
    wants: &[ObjectId],
) -> Result<(), RemoteError> {
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    if wants.is_empty() {
        return Ok(());
    }
    // A connection a listing left open, if it still works; a new one else.
    if let Some(mut session) = Session::unpark(url) {
        if session.fetch(repo, wants).is_ok() {
            session.end();
            return Ok(());
        }
    }
    let mut session = Session::open(url).map_err(err)?;
    session.fetch(repo, wants).map_err(err)?;
    session.end();
    Ok(())
}

/// One `fetch` of `wants` over a connection after its handshake; the pack
/// is written into `repo`'s object database.
fn fetch_over<T>(
    transport: &mut T,
    outcome: &gix::protocol::Handshake,
    repo: &gix::Repository,
    wants: &[ObjectId],
) -> Result<(), String>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    use gix::protocol::fetch::{Arguments, Response};
    use gix::protocol::{transport, Command};
    let version = outcome.server_protocol_version;
    let mut features = Command::Fetch.default_features(version, &outcome.capabilities);
    features.push((
        "agent",
        Some(gix::protocol::agent(concat!(
            "eka/",
            env!("CARGO_PKG_VERSION")
        ))),
    ));
    let mut args = Arguments::new(version, features, false);
    if version == transport::Protocol::V2 {
        args.add_feature("no-progress");
    }
    for id in wants {
        args.want(id);
    }
    let mut reader = args
        .send(&mut *transport, true)
        .map_err(|e| e.to_string())?;
    let response =
        Response::from_line_reader(version, &mut reader, true, false).map_err(|e| e.to_string())?;
    if !response.has_pack() {
        return Err("the server sent no pack".to_owned());
    }
    // The pack comes on side band 1; band 3 carries the server's errors.
    let server_error = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
    reader.set_progress_handler(Some(Box::new({
        let server_error = server_error.clone();
        move |is_error: bool, text: &[u8]| {
            if is_error {
                server_error
                    .borrow_mut()
                    .push_str(text.to_str_lossy().trim());
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        }
    })));
    let interrupt = std::sync::atomic::AtomicBool::new(false);
    let written = gix::odb::pack::Bundle::write_to_directory(
        &mut reader,
        Some(&repo.objects.store_ref().path().join("pack")),
        &mut gix::progress::Discard,
        &interrupt,
        Some(Box::new(repo.objects.clone())),
        repo.object_hash(),
        gix::odb::pack::bundle::write::Options::default(),
    )
    .map_err(|e| match server_error.borrow().as_str() {
        "" => format!("cannot store the received pack: {e}"),
        said => format!("the server said: {said}"),
    })?;
    // Read to the end (the final flush), so that the connection ends
    // cleanly.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(|e| e.to_string())?;
    drop(reader);
    if let Some(keep) = written.keep_path {
        let _ = std::fs::remove_file(keep);
    }
    Ok(())
}

/// Opens a `git://` connection with `TCP_NODELAY`: gix's own connection
/// leaves Nagle's algorithm on, which stalls every small request by 40 ms.
fn connect_git_daemon(
    url: &gix::Url,
) -> Result<
    gix::protocol::transport::client::git::blocking_io::Connection<
        std::net::TcpStream,
        std::net::TcpStream,
    >,
    String,
> {
    use gix::protocol::transport::client::git::{blocking_io::Connection, ConnectMode};
    use std::net::{TcpStream, ToSocketAddrs};
    let host = url
        .host()
        .ok_or_else(|| "the URL has no host".to_owned())?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port;
    let addr = (host, port.unwrap_or(9418))
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` has no address"))?;
    let stream = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let write = stream.try_clone().map_err(|e| e.to_string())?;
    Ok(Connection::new(
        stream,
        write,
        gix::protocol::transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_owned(), port)),
        ConnectMode::Daemon,
        false,
    ))
}

/// `ls-refs` over a connection after its handshake.
fn list_over<T>(
    transport: &mut T,
    outcome: &gix::protocol::Handshake,
    prefixes: &[&str],
) -> Result<Vec<RemoteRef>, String>
where
    T: gix::protocol::transport::client::blocking_io::Transport,
{
    use gix::protocol::{ls_refs::RefPrefixes, LsRefsCommand};
    let refs = match &outcome.refs {
        // Protocol v0/v1: the whole advertisement, filtered below.
        Some(refs) => refs.clone(),
        None => {
            let mut p = RefPrefixes::new();
            p.extend(prefixes.iter().map(|s| BString::from(*s)));
            let refs = LsRefsCommand::new(
                Some(p),
                &outcome.capabilities,
                (
                    "agent",
                    Some(gix::protocol::agent(concat!(
                        "eka/",
                        env!("CARGO_PKG_VERSION")
                    ))),
                ),
            )
            .invoke_blocking(&mut *transport, &mut gix::progress::Discard, false)
            .map_err(|e| e.to_string())?;
            refs
        }
    };
    Ok(refs
        .iter()
        .filter_map(|r| {
            let (name, target, _peeled) = r.unpack();
            let name = name.to_str_lossy();
            let keep = prefixes.iter().any(|p| name.starts_with(p));
            Some(RemoteRef {
                name: name.into_owned(),
                target: target?.to_owned(),
            })
            .filter(|_| keep)
        })
        .collect())
}

/// The URL of a remote given by name (as configured in `repo`) or as a URL
/// or path.
pub fn remote_url(repo: Option<&gix::Repository>, name_or_url: &str) -> Result<String, GitError> {
    if let Some(repo) = repo {
        if let Ok(remote) = repo.find_remote(name_or_url) {
            if let Some(url) = remote
                .url(gix::remote::Direction::Push)
                .or_else(|| remote.url(gix::remote::Direction::Fetch))
            {
                return Ok(url.to_bstring().to_str_lossy().into_owned());
            }
        }
    }
    let looks_like_url = name_or_url.contains("://")
        || name_or_url.contains('/')
        || name_or_url.contains(':')
        || name_or_url.starts_with('.');
    if looks_like_url {
        Ok(name_or_url.to_owned())
    } else {
        Err(GitError::Other(format!(
            "`{name_or_url}` is neither a configured remote nor a URL or path"
        )))
    }
}

/// The outcome of one ref in a `git push --porcelain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedRef {
    pub name: String,
    pub ok: bool,
    pub summary: String,
}

/// Why a push did not land.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("the push to `{url}` was rejected; no ref was changed there{}", details(.refs, .stderr))]
#[diagnostic(
    code(atom::remote::push_rejected),
    help("nothing was published; fix the cause above and run the command again")
)]
pub struct PushError {
    pub url: String,
    pub refs: Vec<PushedRef>,
    pub stderr: String,
}

fn details(refs: &[PushedRef], stderr: &str) -> String {
    let mut out = String::new();
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
/// so is the whole push.
pub fn push_atomic(
    repo: &gix::Repository,
    url: &str,
    refs: &[(String, ObjectId)],
) -> Result<Vec<PushedRef>, PushError> {
    let fail = |stderr: String| PushError {
        url: url.to_owned(),
        refs: Vec::new(),
        stderr,
    };
    let scratch =
        scratch_push_repo(repo, refs).map_err(|e| fail(format!("cannot prepare the push: {e}")))?;
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(scratch.path())
        .args(["push", "--atomic", "--porcelain", "--no-verify", url])
        .arg(format!("{0}*:{0}*", crate::refs::ATOMS_PREFIX))
        .output()
        .map_err(|e| fail(format!("cannot run git: {e}")))?;
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
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// A bare repository in a temporary directory whose objects are `repo`'s
/// (through `objects/info/alternates`) and whose only refs are `refs`.
fn scratch_push_repo(
    repo: &gix::Repository,
    refs: &[(String, ObjectId)],
) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new().prefix("eka-push-").tempdir()?;
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
    Ok(dir)
}

/// Fetches `refspecs` from `url` into `repo` (gix), fetching what their
/// targets need and nothing else.
pub fn fetch(repo: &gix::Repository, url: &str, refspecs: &[String]) -> Result<(), RemoteError> {
    use gix::remote::Direction;
    let err = |why: String| RemoteError {
        url: url.to_owned(),
        why,
    };
    let remote = repo
        .remote_at(url)
        .map_err(|e| err(e.to_string()))?
        .with_refspecs(refspecs.iter().map(|s| s.as_str()), Direction::Fetch)
        .map_err(|e| err(e.to_string()))?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    remote
        .connect(Direction::Fetch)
        .map_err(|e| err(e.to_string()))?
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| err(e.to_string()))?
        .receive(gix::progress::Discard, &gix::interrupt::IS_INTERRUPTED)
        .map_err(|e| err(e.to_string()))?;
    Ok(())
}
