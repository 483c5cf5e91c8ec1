//! Smart HTTP on 127.0.0.1: lighttpd running `git http-backend` as a CGI,
//! through a small wrapper script that records every request.
//!
//! Why lighttpd: the HTTP side (keep-alive, chunked request bodies,
//! `Expect: 100-continue`, HTTP/1.0, malformed requests) is a maintained web
//! server's job, not test code's. lighttpd is one Debian package, runs in
//! the foreground on any port without root, starts in milliseconds, and runs
//! CGIs by itself (nginx needs fcgiwrap besides). A Rust HTTP crate would
//! still need the CGI bridge (environment, response parsing, streaming)
//! written here, which was most of the hand-written server this replaces.
//! `./test.sh` installs lighttpd.
//!
//! What the tests check about requests (which `ls-refs` prefixes a client
//! sent, whether it fetched, how many bytes came back) is recorded by the
//! wrapper, `record.sh`: for each request it keeps the CGI environment (the
//! method, path, query and every request header as `HTTP_*`), the request
//! body, and the CGI's response (its header block and body), then lets
//! `git http-backend` answer. lighttpd hands the CGI the whole body
//! (de-chunked) and sends the response only once the CGI has exited, so a
//! request's record is complete before its client sees the end of the
//! answer.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon::free_port;
use super::process::kill_group;

/// How many ports are tried before giving up.
const ATTEMPTS: usize = 20;
/// How long lighttpd may take to start listening.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many bytes of each request body a [`RequestRecord`] keeps.
const BODY_START: usize = 1024;

/// The CGI wrapper: records the request and the response of
/// `git http-backend` under `$EKA_HTTP_RECORDS/<start time>.<pid>/`.
const RECORD_SCRIPT: &str = r#"#!/bin/sh
set -e
record="$EKA_HTTP_RECORDS/$(date +%s%N).$$"
mkdir "$record"
env > "$record/env"
cat > "$record/request"
git http-backend < "$record/request" | tee "$record/response"
"#;

/// One request served, as recorded by the wrapper of [`HttpGitServer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Decoded path, e.g. `/name.git/info/refs`.
    pub path: String,
    /// Raw query string, e.g. `service=git-upload-pack` (empty if none).
    pub query: String,
    /// The CGI environment: request headers as `HTTP_<NAME>` (e.g.
    /// `HTTP_GIT_PROTOCOL`), `CONTENT_LENGTH`, … (see [`Self::header`]).
    pub env: BTreeMap<String, String>,
    /// HTTP status the CGI answered (200 unless it said otherwise).
    pub status: u16,
    /// Response headers from the CGI (e.g. `Content-Type`).
    pub response_headers: Vec<(String, String)>,
    /// Request body bytes (after de-chunking, before any gzip decoding).
    pub request_body_bytes: u64,
    /// The first bytes (up to 1 kB) of the request body.
    pub request_body_start: Vec<u8>,
    /// Response body bytes the CGI sent.
    pub response_body_bytes: u64,
    /// Everything the CGI sent: its header block and body (lighttpd adds a
    /// status line and a few headers of its own).
    pub response_bytes: u64,
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

    /// Whether the request body came with `Transfer-Encoding: chunked`: a
    /// POST without a `Content-Length` header (HTTP/1.1 gives a request
    /// body's length by one or the other; lighttpd de-chunks the body and
    /// passes no `Transfer-Encoding` to the CGI).
    pub fn chunked_request(&self) -> bool {
        self.method == "POST" && self.header("Content-Length").is_none()
    }

    /// The first response header `name` (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&str> {
        self.response_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request header `name` (case-insensitive), e.g. `Git-Protocol`
    /// or `Content-Encoding`, as the CGI saw it (`HTTP_GIT_PROTOCOL`).
    pub fn header(&self, name: &str) -> Option<&str> {
        let var = format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_"));
        self.env.get(&var).map(String::as_str)
    }

    /// Reads the record folder `dir` written by [`RECORD_SCRIPT`].
    fn read(dir: &Path) -> Self {
        let env: BTreeMap<String, String> = std::fs::read_to_string(dir.join("env"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let var = |k: &str| env.get(k).cloned().unwrap_or_default();
        let body = std::fs::read(dir.join("request")).unwrap_or_default();
        let response = std::fs::read(dir.join("response")).unwrap_or_default();
        let (status, response_headers, head_len) = parse_cgi_head(&response);
        Self {
            method: var("REQUEST_METHOD"),
            path: var("PATH_INFO"),
            query: var("QUERY_STRING"),
            status,
            response_headers,
            request_body_bytes: body.len() as u64,
            request_body_start: body[..body.len().min(BODY_START)].to_vec(),
            response_body_bytes: (response.len() - head_len) as u64,
            response_bytes: response.len() as u64,
            env,
        }
    }
}

/// The status, headers and length of the header block of a CGI response
/// (RFC 3875 6.2: header lines up to an empty line; `Status: 404 Not
/// Found`, 200 without one).
fn parse_cgi_head(response: &[u8]) -> (u16, Vec<(String, String)>, usize) {
    let mut status = 200;
    let mut headers = Vec::new();
    let mut at = 0;
    while let Some(end) = response[at..].iter().position(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(&response[at..at + end]);
        let line = line.trim_end_matches('\r');
        at += end + 1;
        if line.is_empty() {
            return (status, headers, at);
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("Status") {
                status = value.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
    }
    // No complete header block: the CGI did not answer.
    (0, headers, response.len())
}

/// A smart HTTP git server for the bare repositories `<root>/<name>.git`,
/// at `http://127.0.0.1:<port>/<name>.git`, read and push, no
/// authentication, protocol v0 and v2: lighttpd in the foreground, in its
/// own process group with the CGIs it runs; dropping this kills the group.
///
/// It records every request (see [`Self::requests`]) so that tests can check
/// what a client transferred.
pub struct HttpGitServer {
    child: Child,
    port: u16,
    root: PathBuf,
    /// Configuration, wrapper, records, error log.
    dir: tempfile::TempDir,
}

impl HttpGitServer {
    /// Starts serving `root` (which must exist) on an ephemeral port.
    /// Returns once it accepts connections; retries on another port if the
    /// chosen one was taken meanwhile. Panics, saying what to install, if
    /// lighttpd is missing.
    pub fn start(root: &Path) -> Self {
        let lighttpd = super::find_program("lighttpd", "lighttpd");
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("http root {}: {e}", root.display()));
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            match Self::try_start(&lighttpd, &root, free_port()) {
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
            "lighttpd did not start ({} attempts):\n{}",
            failures.len(),
            failures.join("\n---\n")
        );
    }

    fn try_start(lighttpd: &Path, root: &Path, port: u16) -> Result<Self, String> {
        // Next to the served folder, not in it.
        let dir = tempfile::Builder::new()
            .prefix("lighttpd-")
            .tempdir_in(root.parent().unwrap_or(root))
            .expect("create the lighttpd folder");
        write_setup(dir.path(), root, port);
        let mut cmd = Command::new(lighttpd);
        super::hermetic(&mut cmd, Path::new(super::NO_HOME));
        cmd.arg("-D") // foreground
            .arg("-f")
            .arg(dir.path().join("lighttpd.conf"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", lighttpd.display()))?;
        let mut server = Self {
            child,
            port,
            root: root.to_owned(),
            dir,
        };
        let start = Instant::now();
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return Ok(server);
            }
            let exited = !matches!(server.child.try_wait(), Ok(None));
            if exited || start.elapsed() > READY_TIMEOUT {
                server.stop();
                return Err(format!("port {port}:\n{}", server.error_log()));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id of lighttpd, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The folder it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `http://127.0.0.1:<port>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}.git", self.port)
    }

    /// lighttpd's error log (with what the CGIs wrote on stderr).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    fn records_dir(&self) -> PathBuf {
        self.dir.path().join("records")
    }

    /// Every request served so far, in the order they came.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.records_dir())
            .expect("read the request records")
            .map(|e| e.expect("request record").path())
            .collect();
        // `<nanoseconds since 1970>.<pid>`: the same width for centuries.
        dirs.sort();
        dirs.iter().map(|d| RequestRecord::read(d)).collect()
    }

    /// Forgets the requests recorded so far (to measure one client command).
    pub fn clear_requests(&self) {
        for entry in std::fs::read_dir(self.records_dir()).expect("read the request records") {
            let path = entry.expect("request record").path();
            std::fs::remove_dir_all(&path)
                .unwrap_or_else(|e| panic!("remove {}: {e}", path.display()));
        }
    }

    /// Sum of the response body bytes of the recorded requests.
    pub fn total_response_body_bytes(&self) -> u64 {
        self.requests().iter().map(|r| r.response_body_bytes).sum()
    }

    /// Sum of the CGI response bytes (headers and body) of the recorded
    /// requests.
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

    fn stop(&mut self) {
        kill_group(&self.child, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for HttpGitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `<dir>/lighttpd.conf` (serving `root` on `port`), the wrapper
/// `<dir>/record.sh` and the folders they use.
///
/// The CGI environment is built from scratch by lighttpd: the git it finds
/// is the one the tests use, with no system or global configuration, push
/// allowed (`http.receivepack`), any owner (`safe.directory`). lighttpd
/// passes the `Git-Protocol` header as `HTTP_GIT_PROTOCOL`, which
/// `git http-backend` hands on to upload-pack (protocol v2).
fn write_setup(dir: &Path, root: &Path, port: u16) {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["www", "records", "uploads"] {
        std::fs::create_dir_all(dir.join(sub)).expect("create a lighttpd folder");
    }
    let script = dir.join("record.sh");
    std::fs::write(&script, RECORD_SCRIPT).expect("write record.sh");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("chmod record.sh");
    let git = super::find_program("git", "git");
    let git_dir = git.parent().expect("git's folder");
    let d = dir.display();
    let config = format!(
        r#"server.document-root = "{d}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{d}/error.log"
server.upload-dirs = ( "{d}/uploads" )
server.modules = ( "mod_alias", "mod_setenv", "mod_cgi" )
alias.url = ( "/" => "{d}/record.sh/" )
cgi.assign = ( "" => "" )
setenv.set-environment = (
  "PATH" => "{git_dir}:/usr/bin:/bin",
  "HOME" => "{home}",
  "LC_ALL" => "C",
  "EKA_HTTP_RECORDS" => "{d}/records",
  "GIT_PROJECT_ROOT" => "{root}",
  "GIT_HTTP_EXPORT_ALL" => "1",
  "GIT_CONFIG_NOSYSTEM" => "1",
  "GIT_CONFIG_GLOBAL" => "/dev/null",
  "GIT_CONFIG_COUNT" => "2",
  "GIT_CONFIG_KEY_0" => "http.receivepack",
  "GIT_CONFIG_VALUE_0" => "true",
  "GIT_CONFIG_KEY_1" => "safe.directory",
  "GIT_CONFIG_VALUE_1" => "*",
)
"#,
        git_dir = git_dir.display(),
        home = super::NO_HOME,
        root = root.display(),
    );
    std::fs::write(dir.join("lighttpd.conf"), config).expect("write lighttpd.conf");
}
