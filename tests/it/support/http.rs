//! Smart HTTP on 127.0.0.1: a small HTTP/1.1 server (std only, a thread per
//! connection) running `git http-backend` as a CGI for every request.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use super::process::kill_group;

/// One request served, as recorded by [`HttpGitServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Decoded path, e.g. `/name.git/info/refs`.
    pub path: String,
    /// Raw query string, e.g. `service=git-upload-pack` (empty if none).
    pub query: String,
    /// Request headers as received (name, value).
    pub headers: Vec<(String, String)>,
    /// HTTP status sent.
    pub status: u16,
    /// Response headers from the CGI (e.g. `Content-Type`), without the
    /// framing ones this server adds.
    pub response_headers: Vec<(String, String)>,
    /// Whether the request body came with `Transfer-Encoding: chunked`.
    pub chunked_request: bool,
    /// Request body bytes received (after de-chunking, before any gzip
    /// decoding).
    pub request_body_bytes: u64,
    /// The first bytes (up to 1 kB) of the request body, as received.
    pub request_body_start: Vec<u8>,
    /// Response body bytes sent (payload, without chunk framing).
    pub response_body_bytes: u64,
    /// All response bytes written to the socket: status line, headers,
    /// chunk framing and body.
    pub response_bytes: u64,
    /// What `git http-backend` wrote on stderr.
    pub cgi_stderr: String,
}

impl RequestRecord {
    /// The protocol v2 command of an upload-pack request (`ls-refs`,
    /// `fetch`, `object-info`), read from its first pkt-line; `None` for
    /// other requests, protocol v0 and gzipped bodies.
    pub fn v2_command(&self) -> Option<String> {
        if self.method != "POST" || self.header("Content-Encoding").is_some() {
            return None;
        }
        let body = &self.request_body_start;
        let len = usize::from_str_radix(std::str::from_utf8(body.get(..4)?).ok()?, 16).ok()?;
        let line = std::str::from_utf8(body.get(4..len)?).ok()?;
        line.trim_end_matches('\n')
            .strip_prefix("command=")
            .map(str::to_owned)
    }

    /// The `ref-prefix` arguments of a protocol v2 `ls-refs` request
    /// (empty for any other request).
    pub fn ref_prefixes(&self) -> Vec<String> {
        if self.v2_command().as_deref() != Some("ls-refs") {
            return Vec::new();
        }
        let body = String::from_utf8_lossy(&self.request_body_start);
        body.split("ref-prefix ")
            .skip(1)
            .filter_map(|p| p.split_once('\n').map(|(p, _)| p.to_owned()))
            .collect()
    }

    /// Whether this request asked upload-pack for objects (a pack): a POST
    /// to `git-upload-pack` that is not a protocol v2 `ls-refs`.
    pub fn is_fetch(&self) -> bool {
        self.method == "POST"
            && self.path.ends_with("/git-upload-pack")
            && self.v2_command().as_deref() != Some("ls-refs")
    }

    /// The first response header `name` (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first request header `name` (case-insensitive), e.g.
    /// `Git-Protocol` or `Content-Encoding`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// State shared between the server handle, the accept loop and the
/// connection threads.
struct Shared {
    root: PathBuf,
    addr: SocketAddr,
    stopping: AtomicBool,
    records: Mutex<Vec<RequestRecord>>,
    /// Open connections (a clone of each socket, to shut it down on stop)
    /// and their threads.
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

/// A smart HTTP git server for the bare repositories `<root>/<name>.git`,
/// at `http://127.0.0.1:<port>/<name>.git`, read and push, no
/// authentication, protocol v0 and v2.
///
/// It records every request (see [`Self::requests`]) so that tests can check
/// what a client transferred. Dropping it stops accepting, shuts down open
/// connections and joins every thread.
pub struct HttpGitServer {
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

impl HttpGitServer {
    /// Starts serving `root` (which must exist) on an ephemeral port.
    pub fn start(root: &Path) -> Self {
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("http root {}: {e}", root.display()));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            root,
            addr,
            stopping: AtomicBool::new(false),
            records: Mutex::new(Vec::new()),
            connections: Mutex::new(Vec::new()),
        });
        let accept_thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        Self {
            shared,
            accept_thread: Some(accept_thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// The folder it serves.
    pub fn root(&self) -> &Path {
        &self.shared.root
    }

    /// `http://127.0.0.1:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port())
    }

    /// A handle to check, after dropping the server, that it is gone.
    pub fn stop_watch(&self) -> StopWatch {
        StopWatch(Arc::downgrade(&self.shared))
    }

    /// Every request completed so far, in order of completion.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.records.lock().unwrap().clone()
    }

    /// Forgets the requests recorded so far (to measure one client command).
    pub fn clear_requests(&self) {
        self.shared.records.lock().unwrap().clear();
    }

    /// Sum of the response body bytes of the recorded requests.
    pub fn total_response_body_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.response_body_bytes).sum()
    }

    /// Sum of all response bytes (headers and framing included) sent for
    /// the recorded requests.
    pub fn total_response_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.response_bytes).sum()
    }

    /// Whether any recorded request asked for objects (see
    /// [`RequestRecord::is_fetch`]).
    pub fn any_fetch(&self) -> bool {
        self.requests().iter().any(RequestRecord::is_fetch)
    }

    /// Sum of the request body bytes received in the recorded requests.
    pub fn total_request_body_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.request_body_bytes).sum()
    }
}

/// Tells whether an [`HttpGitServer`] has fully stopped, after it is dropped.
pub struct StopWatch(Weak<Shared>);

impl StopWatch {
    /// True once the listening socket is closed and every thread of the
    /// server (accept loop, connections) has ended: they all hold the
    /// shared state, and the listener lives as long as the accept loop.
    pub fn stopped(&self) -> bool {
        self.0.strong_count() == 0
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop up; it sees `stopping` and returns.
        let _ = TcpStream::connect(self.shared.addr);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
        let connections = std::mem::take(&mut *self.shared.connections.lock().unwrap());
        for (stream, thread) in connections {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let peer = stream.peer_addr().ok();
                // A broken connection ends it; the client sees the error.
                let _ = serve_connection(stream, peer, &shared);
            })
        };
        let mut connections = shared.connections.lock().unwrap();
        connections.retain(|(_, t)| !t.is_finished());
        connections.push((clone, thread));
    }
}

/// A parsed request head.
struct Head {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one CRLF (or LF) terminated line; `None` at a clean end of stream.
fn read_line(reader: &mut impl BufRead, limit: u64) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.take(limit).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(bad_data("line too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| bad_data("non UTF-8 header"))
}

/// Reads a request head; `None` if the client closed the connection
/// between requests.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let request_line = loop {
        match read_line(reader, 8192)? {
            None => return Ok(None),
            // RFC 9112 2.2: ignore empty lines before a request line.
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_data(format!("bad request line {request_line:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, 65536)?.ok_or_else(|| bad_data("truncated head"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad_data(format!("bad header {line:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
        if headers.len() > 200 {
            return Err(bad_data("too many headers"));
        }
    }
    Ok(Some(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers,
    }))
}

/// Decodes `%XX` escapes (CGI's PATH_INFO is decoded).
fn percent_decode(s: &str) -> io::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad_data("bad percent escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad_data("non UTF-8 path"))
}

/// The request body, as a reader that stops at its end.
enum Body<'a, R> {
    Length(io::Take<&'a mut R>),
    Chunked(ChunkedReader<'a, R>),
}

impl<R: BufRead> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Body::Length(r) => {
                let n = r.read(buf)?;
                if n == 0 && r.limit() > 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Ok(n)
            }
            Body::Chunked(r) => r.read(buf),
        }
    }
}

/// Decodes `Transfer-Encoding: chunked`.
struct ChunkedReader<'a, R> {
    inner: &'a mut R,
    /// Bytes left in the current chunk.
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for ChunkedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line = read_line(self.inner, 4096)?.ok_or_else(|| bad_data("truncated chunk"))?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(self.inner, 65536)?
                    .ok_or_else(|| bad_data("truncated trailer"))?
                    .is_empty()
                {}
                self.done = true;
                return Ok(0);
            }
            self.left = size;
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        if self.left == 0 {
            let crlf = read_line(self.inner, 2)?;
            if crlf.as_deref() != Some("") {
                return Err(bad_data("missing CRLF after chunk"));
            }
        }
        Ok(n)
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "",
    }
}

fn serve_connection(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    shared: &Shared,
) -> io::Result<()> {
    let control = stream.try_clone()?;
    let result = serve_requests(stream, peer, shared);
    // Other handles on this socket (the one kept for `Drop`) would keep it
    // open: end it explicitly, so that a client reading up to the end of
    // the stream gets it.
    let _ = control.shutdown(Shutdown::Both);
    result
}

fn serve_requests(stream: TcpStream, peer: Option<SocketAddr>, shared: &Shared) -> io::Result<()> {
    // Safety net: a client that stalls for this long is dropped.
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = Counting {
        inner: BufWriter::with_capacity(64 * 1024, stream),
        count: 0,
    };
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let head = match read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(e) => {
                let msg = format!("{e}\n");
                let _ = write!(
                    writer,
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                    msg.len()
                );
                let _ = writer.flush();
                return Err(e);
            }
        };
        // HTTP/1.0 has no chunked encoding: its responses end with the
        // connection.
        let keep_alive = head.version == "HTTP/1.1" && !head.has_token("Connection", "close");
        let keep_alive = keep_alive && !shared.stopping.load(Ordering::SeqCst);
        writer.count = 0;
        let record = serve_request(&head, &mut reader, &mut writer, keep_alive, peer, shared)?;
        // The end of the response is still buffered (at most a few bytes
        // once the body is out): the client cannot see it before the
        // request is recorded, so a test reading the records right after
        // its client command returns sees them all.
        shared.records.lock().unwrap().push(record);
        writer.flush()?;
        if !keep_alive {
            return Ok(());
        }
    }
}

/// Serves one request: runs the CGI, streams the request body into it and
/// its response out. An `Err` means the connection is unusable.
fn serve_request<R: BufRead + Send, W: Write>(
    head: &Head,
    reader: &mut R,
    writer: &mut Counting<W>,
    keep_alive: bool,
    peer: Option<SocketAddr>,
    shared: &Shared,
) -> io::Result<RequestRecord> {
    let (raw_path, query) = head.target.split_once('?').unwrap_or((&head.target, ""));
    let path = percent_decode(raw_path)?;
    let chunked = head
        .header("Transfer-Encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let content_length = match head.header("Content-Length") {
        Some(v) if !chunked => Some(
            v.parse::<u64>()
                .map_err(|_| bad_data(format!("bad Content-Length {v:?}")))?,
        ),
        _ => None,
    };
    if head.has_token("Expect", "100-continue") && head.version == "HTTP/1.1" {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
        writer.count = 0;
    }

    let mut cmd = Command::new("git");
    super::hermetic(&mut cmd, Path::new(super::NO_HOME));
    cmd.arg("http-backend")
        .current_dir(&shared.root)
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GIT_CONFIG_KEY_1", "safe.directory")
        .env("GIT_CONFIG_VALUE_1", "*")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_SOFTWARE", "eka-test-http")
        .env("SERVER_PROTOCOL", &head.version)
        .env("SERVER_NAME", "127.0.0.1")
        .env("SERVER_PORT", shared.addr.port().to_string())
        .env("REQUEST_METHOD", &head.method)
        .env("REQUEST_URI", &head.target)
        .env("SCRIPT_NAME", "")
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", query);
    if let Some(peer) = peer {
        cmd.env("REMOTE_ADDR", peer.ip().to_string())
            .env("REMOTE_PORT", peer.port().to_string());
    }
    if let Some(ct) = head.header("Content-Type") {
        cmd.env("CONTENT_TYPE", ct);
    }
    // Without CONTENT_LENGTH, http-backend reads its body up to EOF, which
    // is what a chunked body needs.
    if let Some(len) = content_length {
        cmd.env("CONTENT_LENGTH", len.to_string());
    }
    // Every other header as HTTP_<NAME>: Git-Protocol (protocol v2),
    // Content-Encoding (gzip request bodies), … Repeated headers are
    // joined with ", " (RFC 3875 4.1.18); names that cannot be variable
    // names are dropped.
    let mut vars: Vec<(String, String)> = Vec::new();
    for (name, value) in &head.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(lower.as_str(), "content-type" | "content-length" | "proxy")
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            continue;
        }
        let var = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        match vars.iter_mut().find(|(v, _)| *v == var) {
            Some((_, joined)) => {
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => vars.push((var, value.clone())),
        }
    }
    cmd.envs(vars);
    // Its own process group, so that on error the CGI and the
    // upload-pack/receive-pack it runs can be killed together (a survivor
    // would hold the pipes open).
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let result = run_cgi(
        &mut child,
        head,
        reader,
        writer,
        content_length,
        chunked,
        keep_alive,
    );
    if result.is_err() {
        kill_group(&child, libc::SIGKILL);
    }
    let _ = child.wait();
    let cgi = result?;
    Ok(RequestRecord {
        method: head.method.clone(),
        path,
        query: query.to_owned(),
        headers: head.headers.clone(),
        status: cgi.status,
        response_headers: cgi.response_headers,
        chunked_request: chunked,
        request_body_bytes: cgi.request_body_bytes,
        request_body_start: cgi.request_body_start,
        response_body_bytes: cgi.response_body_bytes,
        response_bytes: writer.count,
        cgi_stderr: cgi.stderr,
    })
}

/// Header (name, value) pairs.
type Headers = Vec<(String, String)>;

/// What one CGI run produced.
struct CgiOutcome {
    status: u16,
    response_headers: Vec<(String, String)>,
    request_body_bytes: u64,
    request_body_start: Vec<u8>,
    response_body_bytes: u64,
    stderr: String,
}

/// How many bytes of each request body are kept in its record.
const BODY_START: usize = 1024;

/// Feeds the body to the CGI (in a thread, so that a CGI answering before
/// reading all its input cannot deadlock) while streaming its response.
fn run_cgi<R: BufRead + Send, W: Write>(
    child: &mut Child,
    head: &Head,
    reader: &mut R,
    writer: &mut Counting<W>,
    content_length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
) -> io::Result<CgiOutcome> {
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    std::thread::scope(|s| {
        let body_thread = s.spawn(move || -> io::Result<(u64, Vec<u8>)> {
            let mut body = if chunked {
                Body::Chunked(ChunkedReader {
                    inner: reader,
                    left: 0,
                    done: false,
                })
            } else {
                Body::Length(reader.take(content_length.unwrap_or(0)))
            };
            let mut stdin = Some(stdin);
            let mut buf = vec![0; 64 * 1024];
            let mut total = 0;
            let mut start = Vec::new();
            // Read the whole body even if the CGI stops reading, so that
            // the connection stays in sync for the next request.
            loop {
                let n = body.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if start.len() < BODY_START {
                    start.extend_from_slice(&buf[..n.min(BODY_START - start.len())]);
                }
                if let Some(pipe) = stdin.as_mut() {
                    if pipe.write_all(&buf[..n]).is_err() {
                        stdin = None;
                    }
                }
            }
            Ok((total, start)) // drops stdin: EOF for the CGI
        });
        let stderr_thread = s.spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });
        let response = respond(stdout, head, writer, keep_alive);
        if response.is_err() {
            // The client is gone: stop the CGI, which may be blocked
            // writing output nobody reads.
            kill_group(child, libc::SIGKILL);
        }
        let (request_body_bytes, request_body_start) = body_thread.join().expect("body thread")?;
        let cgi_stderr = stderr_thread.join().expect("stderr thread");
        let (status, response_headers, response_body_bytes) = response?;
        Ok(CgiOutcome {
            status,
            response_headers,
            request_body_bytes,
            request_body_start,
            response_body_bytes,
            stderr: cgi_stderr,
        })
    })
}

/// Parses the CGI response head and sends the HTTP response: chunked on a
/// kept-alive HTTP/1.1 connection, delimited by closing otherwise.
/// Returns (status, headers sent from the CGI, body bytes sent).
fn respond<W: Write>(
    stdout: impl Read,
    head: &Head,
    writer: &mut Counting<W>,
    keep_alive: bool,
) -> io::Result<(u16, Headers, u64)> {
    let mut cgi = BufReader::with_capacity(64 * 1024, stdout);
    let mut status = 200;
    let mut reason_text = None;
    let mut headers = Vec::new();
    loop {
        let line =
            read_line(&mut cgi, 65536)?.ok_or_else(|| bad_data("CGI ended before its header"))?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad_data(format!("bad CGI header {line:?}")))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("Status") {
            let (code, text) = value.split_once(' ').unwrap_or((value, ""));
            status = code
                .parse()
                .map_err(|_| bad_data(format!("bad CGI status {value:?}")))?;
            reason_text = Some(text.to_owned());
        } else if name.eq_ignore_ascii_case("Location") && reason_text.is_none() {
            status = 302;
            headers.push((name.to_owned(), value.to_owned()));
        } else if !matches!(
            name.to_ascii_lowercase().as_str(),
            "connection" | "transfer-encoding" | "content-length" | "keep-alive"
        ) {
            headers.push((name.to_owned(), value.to_owned()));
        }
    }
    let no_body = head.method == "HEAD" || status == 204 || status == 304 || status < 200;
    let chunked = keep_alive && head.version == "HTTP/1.1" && !no_body;
    let reason_text = reason_text
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| reason(status).to_owned());
    let mut out = format!("{} {status} {reason_text}\r\n", head.version);
    for (name, value) in &headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(if keep_alive {
        "Connection: keep-alive\r\n"
    } else {
        "Connection: close\r\n"
    });
    if chunked {
        out.push_str("Transfer-Encoding: chunked\r\n");
    } else if no_body && keep_alive {
        out.push_str("Content-Length: 0\r\n");
    }
    out.push_str("\r\n");
    writer.write_all(out.as_bytes())?;

    let mut body_bytes = 0;
    loop {
        let buf = cgi.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        if !no_body {
            if chunked {
                write!(writer, "{n:x}\r\n")?;
                writer.write_all(buf)?;
                writer.write_all(b"\r\n")?;
            } else {
                writer.write_all(buf)?;
            }
            body_bytes += n as u64;
        }
        cgi.consume(n);
    }
    if chunked {
        writer.write_all(b"0\r\n\r\n")?;
    }
    // Not flushed yet: the caller records the request first.
    Ok((status, headers, body_bytes))
}
