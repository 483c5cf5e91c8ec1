//! Self-tests of the end-to-end harness: the git servers it starts answer
//! stock git (and gix) over `file://`, `git://`, smart HTTP and ssh, for
//! push, ref listing, clone, protocol v2 and large pushes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::AtomicBool;

use crate::support::{
    self, assert_cli_snapshot, fsck, git, ls_remote, pseudo_random_bytes, Repo, Sandbox, Transport,
};

/// A small monorepo: two atoms at different depths and a plain file.
fn monorepo(sb: &Sandbox) -> Repo {
    let repo = sb.repo("mono");
    repo.write_atom("a", "a", "0.1.0")
        .write("a/src/lib.txt", "hello\n")
        .write_atom("nested/deep/b", "b", "1.0.0")
        .write("README", "monorepo\n");
    repo.commit("initial");
    repo
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Push (a branch and a ref outside refs/heads, atomically), list, clone,
/// fsck.
fn push_list_clone(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("remote");
    let repo = monorepo(&sb);
    let head = repo.head();

    let pushed = repo.git(&[
        "push",
        "--porcelain",
        "--atomic",
        &url,
        "main",
        "HEAD:refs/atoms/a/0.1.0",
    ]);
    assert!(pushed.contains("refs/heads/main"), "{pushed}");

    let all = ls_remote(&url, &[]);
    for want in pairs(&[
        ("HEAD", &head),
        ("refs/heads/main", &head),
        ("refs/atoms/a/0.1.0", &head),
    ]) {
        assert!(all.contains(&want), "{want:?} not in {all:?}");
    }
    assert_eq!(
        ls_remote(&url, &["refs/atoms/*"]),
        pairs(&[("refs/atoms/a/0.1.0", &head)])
    );
    assert_eq!(ls_remote(&url, &["refs/nothing/*"]), vec![]);

    git(sb.path(), &["clone", "--quiet", &url, "clone"]);
    let clone = sb.path().join("clone");
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);
    assert_eq!(
        std::fs::read_to_string(clone.join("a/src/lib.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(clone.join("nested/deep/b/atom.toml")).unwrap(),
        support::atom_toml("b", "1.0.0")
    );

    // A second push that is not a fast-forward is refused on a branch.
    let other = sb.repo("other");
    other.write("x", "x\n");
    other.commit("unrelated");
    let refused = support::git_run(other.path(), &["push", &url, "main"]);
    assert!(!refused.success(), "{refused}");
    assert_eq!(
        ls_remote(&url, &["refs/heads/main"]),
        pairs(&[("refs/heads/main", &head)])
    );

    fsck(&server.path("remote"));
    fsck(&clone);
}

#[test]
fn file_push_list_clone() {
    push_list_clone(Transport::File);
}

#[test]
fn git_daemon_push_list_clone() {
    push_list_clone(Transport::Git);
}

#[test]
fn http_push_list_clone() {
    push_list_clone(Transport::Http);
}

#[test]
fn ssh_push_list_clone() {
    push_list_clone(Transport::Ssh);
}

/// `GIT_TRACE_PACKET` of a `ls-remote --heads` (which sends the ref prefix
/// `refs/heads/` in protocol v2) with `protocol.version=V`: (stdout, stderr).
fn traced_ls_remote(sb: &Sandbox, url: &str, version: u8) -> (String, String) {
    let mut cmd = sb.git_command(sb.path());
    cmd.env("GIT_TRACE_PACKET", "1").args([
        "-c",
        &format!("protocol.version={version}"),
        "ls-remote",
        "--heads",
        url,
    ]);
    let run = sb.run(cmd).assert_success();
    (run.stdout.trim_end().to_owned(), run.stderr)
}

fn protocol_v2(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("remote");
    let repo = monorepo(&sb);
    repo.git(&["push", "--quiet", &url, "main", "HEAD:refs/atoms/a/0.1.0"]);

    let (stdout, trace) = traced_ls_remote(&sb, &url, 2);
    assert!(trace.contains("< version 2"), "no protocol v2:\n{trace}");
    // v2's ls-refs filters on the server.
    assert!(trace.contains("> ref-prefix refs/heads/"), "{trace}");
    assert!(!trace.contains("refs/atoms/a/0.1.0"), "{trace}");
    assert!(stdout.ends_with("\trefs/heads/main"), "{stdout}");
    if let Some(http) = server.http() {
        let requests = http.requests();
        assert!(
            requests
                .iter()
                .any(|r| r.header("Git-Protocol") == Some("version=2")),
            "{requests:#?}"
        );
    }
    if let Some(ssh) = server.ssh() {
        // GIT_PROTOCOL reached the server (sshd's AcceptEnv).
        let trace = ssh.packet_trace();
        assert!(trace.contains("upload-pack> version 2"), "{trace}");
        assert!(
            trace.contains("upload-pack< ref-prefix refs/heads/"),
            "{trace}"
        );
        ssh.clear_packet_trace();
    }

    // The check tells the versions apart.
    let (stdout, trace) = traced_ls_remote(&sb, &url, 0);
    assert!(!trace.contains("version 2"), "{trace}");
    assert!(!trace.contains("ref-prefix"), "{trace}");
    // v0 advertises every ref; the client filters.
    assert!(trace.contains("refs/atoms/a/0.1.0"), "{trace}");
    assert!(stdout.ends_with("\trefs/heads/main"), "{stdout}");
}

#[test]
fn file_protocol_v2() {
    protocol_v2(Transport::File);
}

#[test]
fn git_daemon_protocol_v2() {
    protocol_v2(Transport::Git);
}

#[test]
fn http_protocol_v2() {
    protocol_v2(Transport::Http);
}

#[test]
fn ssh_protocol_v2() {
    protocol_v2(Transport::Ssh);
}

fn failures(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.url("missing");
    let listed = support::git_run(sb.path(), &["ls-remote", &url]);
    assert!(!listed.success(), "{listed}");
    let repo = monorepo(&sb);
    let pushed = support::git_run(repo.path(), &["push", &url, "main"]);
    assert!(!pushed.success(), "{pushed}");
    assert!(!server.path("missing").exists());

    // Nothing listening.
    let url = support::unreachable_url(kind, "remote");
    let listed = support::git_run(sb.path(), &["ls-remote", &url]);
    assert!(!listed.success(), "{listed}");

    // A server-side hook refusing pushes: nothing lands.
    let url = server.create("refusing");
    support::reject_pushes(&server.path("refusing"), "no pushes here, it's closed");
    let pushed = support::git_run(
        repo.path(),
        &["push", "--atomic", &url, "main", "HEAD:refs/atoms/a/0.1.0"],
    );
    assert!(!pushed.success(), "{pushed}");
    assert!(
        pushed.stderr.contains("no pushes here, it's closed"),
        "{pushed}"
    );
    assert_eq!(ls_remote(&url, &[]), vec![]);
}

#[test]
fn file_failures() {
    failures(Transport::File);
}

#[test]
fn git_daemon_failures() {
    failures(Transport::Git);
}

#[test]
fn ssh_failures() {
    failures(Transport::Ssh);
}

#[test]
fn http_failures() {
    failures(Transport::Http);
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let _ = support::git_run(sb.path(), &["ls-remote", &server.url("missing")]);
    let requests = server.http().unwrap().requests();
    // A missing repository is a 404.
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].status, 404, "{requests:#?}");
    assert_eq!(requests[0].path, "/missing.git/info/refs");
    assert_eq!(requests[0].query, "service=git-upload-pack");
}

/// A push over HTTP larger than `http.postBuffer` goes chunked; the data
/// comes back intact through a clone.
#[test]
fn http_large_chunked_push() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("big");
    let repo = monorepo(&sb);
    let data = pseudo_random_bytes(42, 5 << 20);
    repo.write("a/blob.bin", &data);
    let head = repo.commit("5 MB of noise");
    repo.git(&["push", "--quiet", &url, "main"]);

    let http = server.http().unwrap();
    let requests = http.requests();
    // The first POST may be a 4-byte probe; the pack comes in the largest.
    let push = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/big.git/git-receive-pack")
        .max_by_key(|r| r.request_body_bytes)
        .unwrap_or_else(|| panic!("no push request in {requests:#?}"));
    assert!(push.chunked_request(), "{push:#?}");
    assert!(push.request_body_bytes > 5 << 20, "{push:#?}");
    assert_eq!(push.status, 200);
    assert_eq!(
        http.total_request_body_bytes(),
        requests.iter().map(|r| r.request_body_bytes).sum::<u64>()
    );

    http.clear_requests();
    git(sb.path(), &["clone", "--quiet", &url, "clone"]);
    let clone = sb.path().join("clone");
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), head);
    assert!(std::fs::read(clone.join("a/blob.bin")).unwrap() == data);
    assert!(http.total_response_body_bytes() > 5 << 20);
    assert!(http.total_response_bytes() > http.total_response_body_bytes());
    fsck(&server.path("big"));

    // A client that goes away in the middle of a 5 MB pack: the server
    // still shuts down.
    let mut stream = connect(http.port());
    let request = format!("0012command=fetch\n00010032want {head}\n0009done\n0000");
    write!(
        stream,
        "POST /big.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: version=2\r\n\
         Content-Type: application/x-git-upload-pack-request\r\nContent-Length: {}\r\n\r\n{request}",
        request.len()
    )
    .unwrap();
    let mut start = [0; 64];
    stream.read_exact(&mut start).unwrap();
    assert!(start.starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(stream);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(server);
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the server did not stop after a client went away");
}

/// Many refs: a prefixed protocol v2 listing transfers a few hundred bytes
/// while the full advertisement is large (the byte counts are what later
/// tests rely on); a fetch negotiation with many wants is gzipped.
#[test]
fn http_counts_bytes_and_takes_gzip_requests() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("many");
    let repo = monorepo(&sb);
    let tree = repo.rev_parse("HEAD^{tree}");
    let mut parent = repo.head();
    let mut updates = String::new();
    for i in 0..200 {
        parent = support::git_stdin(
            repo.path(),
            &["commit-tree", &tree, "-p", &parent, "-F", "-"],
            format!("commit {i}").as_bytes(),
        );
        updates.push_str(&format!("create refs/many/ref-{i:03} {parent}\n"));
    }
    support::git_stdin(repo.path(), &["update-ref", "--stdin"], updates.as_bytes());
    repo.git(&["push", "--quiet", &url, "main", "refs/many/*"]);
    let http = server.http().unwrap();

    http.clear_requests();
    let listed = ls_remote(&url, &[]);
    assert!(listed.len() > 200);
    let full = http.total_response_bytes();
    assert!(full > 200 * 50, "full advertisement is only {full} bytes");

    http.clear_requests();
    let mut cmd = sb.git_command(sb.path());
    cmd.args(["-c", "protocol.version=2", "ls-remote", "--heads", &url]);
    let run = sb.run(cmd).assert_success();
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    let requests = http.requests();
    let sent = http.total_response_bytes();
    assert!(sent < 2048, "{sent} bytes for one ref: {requests:#?}");
    assert!(requests.iter().all(|r| r.status == 200), "{requests:#?}");
    assert_eq!(requests.len(), 2, "{requests:#?}"); // info/refs + ls-refs
    assert_eq!(requests[1].v2_command().as_deref(), Some("ls-refs"));
    assert!(!http.any_fetch(), "{requests:#?}");

    http.clear_requests();
    git(
        sb.path(),
        &["clone", "--quiet", "--mirror", &url, "mirror.git"],
    );
    assert_eq!(
        ls_remote(
            &support::file_url(&sb.path().join("mirror.git")),
            &["refs/many/*"]
        )
        .len(),
        200
    );
    let requests = http.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.header("Content-Encoding") == Some("gzip") && r.status == 200),
        "no gzipped request: {requests:#?}"
    );
    assert!(http.any_fetch());
}

/// Reads one HTTP response from `reader`: (status line, headers, body),
/// following Content-Length, chunked encoding or the end of the stream.
fn read_response(reader: &mut impl BufRead) -> (String, Vec<(String, String)>, Vec<u8>) {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        headers.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
    let get = |n: &str| headers.iter().find(|(h, _)| h == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if get("transfer-encoding").as_deref() == Some("chunked") {
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            assert_eq!(&chunk[size..], b"\r\n");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        reader.read_exact(&mut body).unwrap();
    } else {
        reader.read_to_end(&mut body).unwrap();
    }
    (status, headers, body)
}

/// A client connection that fails rather than hangs if the server does not
/// answer or close as it should.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Raw HTTP: keep-alive with several requests on one connection, HTTP/1.0
/// delimited by close, a chunked request body, malformed requests.
#[test]
fn http_raw_protocol() {
    let sb = Sandbox::new();
    let server = sb.server(Transport::Http);
    let url = server.create("raw");
    monorepo(&sb).git(&["push", "--quiet", &url, "main"]);
    let port = server.http().unwrap().port();
    let advert = b"001e# service=git-upload-pack\n";

    let stream = connect(port);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for _ in 0..3 {
        write!(
            writer,
            "GET /raw.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .unwrap();
        let (status, headers, body) = read_response(&mut reader);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains(&(
            "content-type".into(),
            "application/x-git-upload-pack-advertisement".into()
        )));
        assert!(
            body.starts_with(advert),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // A chunked POST (protocol v2 ls-refs) on the same connection.
    let request = b"0014command=ls-refs\n00010009peel\n0000";
    write!(
        writer,
        "POST /raw.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: version=2\r\n\
         Content-Type: application/x-git-upload-pack-request\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    for part in request.chunks(7) {
        write!(writer, "{:x};ext=1\r\n", part.len()).unwrap();
        writer.write_all(part).unwrap();
        writer.write_all(b"\r\n").unwrap();
    }
    writer.write_all(b"0\r\nX-Trailer: 1\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains(" refs/heads/main\n"), "{body}");
    assert!(body.ends_with("0000"), "{body}");
    // Connection: close ends it.
    write!(
        writer,
        "GET /raw.git/HEAD HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, headers, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains(&("connection".into(), "close".into())));
    assert_eq!(body, b"ref: refs/heads/main\n");
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);

    // Expect: 100-continue gets its interim response before the body is
    // sent.
    let stream = connect(port);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    write!(
        writer,
        "POST /raw.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nGit-Protocol: version=2\r\n\
         Content-Type: application/x-git-upload-pack-request\r\nExpect: 100-continue\r\n\
         Content-Length: {}\r\n\r\n",
        request.len()
    )
    .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    writer.write_all(request).unwrap();
    let (status, _, body) = read_response(&mut reader);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(String::from_utf8_lossy(&body).contains(" refs/heads/main\n"));
    drop((reader, writer));

    // HTTP/1.0, asking to keep the connection alive.
    let mut stream = connect(port);
    write!(
        stream,
        "GET /raw.git/info/refs?service=git-upload-pack HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    )
    .unwrap();
    let (status, _, body) = read_response(&mut BufReader::new(stream));
    assert_eq!(status, "HTTP/1.0 200 OK");
    assert!(body.starts_with(advert));

    // Garbage gets a 400 (as HTTP/1.0: the request named no version) and
    // a closed connection.
    let mut stream = connect(port);
    stream.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let (status, headers, _) = read_response(&mut BufReader::new(stream));
    assert_eq!(status, "HTTP/1.0 400 Bad Request");
    assert!(headers.contains(&("connection".into(), "close".into())));

    let requests = server.http().unwrap().requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/raw.git/info/refs"), // the push's advertisement
            ("POST", "/raw.git/git-receive-pack"),
            ("GET", "/raw.git/info/refs"),
            ("GET", "/raw.git/info/refs"),
            ("GET", "/raw.git/info/refs"),
            ("POST", "/raw.git/git-upload-pack"),
            ("GET", "/raw.git/HEAD"),
            ("POST", "/raw.git/git-upload-pack"),
            ("GET", "/raw.git/info/refs"),
        ]
    );
    let ls_refs = &requests[5];
    assert!(ls_refs.chunked_request());
    assert_eq!(ls_refs.v2_command().as_deref(), Some("ls-refs"));
    assert!(!ls_refs.is_fetch());
    assert_eq!(ls_refs.request_body_start, request);
    assert_eq!(
        ls_refs.response_header("Content-Type"),
        Some("application/x-git-upload-pack-result")
    );
    assert_eq!(ls_refs.request_body_bytes, request.len() as u64);
}

/// gix (the library eka uses; reqwest over HTTP) lists and fetches through
/// every server.
fn gix_list_and_fetch(kind: Transport) {
    let sb = Sandbox::new();
    let server = sb.server(kind);
    let url = server.create("remote");
    let repo = monorepo(&sb);
    let head = repo.head();
    repo.git(&["push", "--quiet", &url, "main", "HEAD:refs/atoms/a/0.1.0"]);

    if let Some(http) = server.http() {
        http.clear_requests();
    }
    // gix in this process: the test ssh client comes from the repository's
    // core.sshCommand (GIT_SSH_COMMAND is only in the children's
    // environment).
    gix::init_bare(sb.path().join("gix.git")).unwrap();
    git(
        &sb.path().join("gix.git"),
        &["config", "core.sshCommand", &support::ssh_command()],
    );
    let local = gix::open(sb.path().join("gix.git")).unwrap();
    let remote = local
        .remote_at(url.as_str())
        .unwrap()
        .with_refspecs(
            ["+refs/atoms/*:refs/atoms/*"],
            gix::remote::Direction::Fetch,
        )
        .unwrap()
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let (map, handshake) = remote
        .connect(gix::remote::Direction::Fetch)
        .unwrap()
        .ref_map(
            gix::progress::Discard,
            gix::remote::ref_map::Options {
                prefix_from_spec_as_filter_on_remote: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        handshake.server_protocol_version,
        gix::protocol::transport::Protocol::V2
    );
    let names: Vec<String> = map
        .remote_refs
        .iter()
        .map(|r| r.unpack().0.to_string())
        .collect();
    assert_eq!(names, ["refs/atoms/a/0.1.0"]);
    if let Some(http) = server.http() {
        let requests = http.requests();
        assert!(!http.any_fetch(), "{requests:#?}");
        assert!(http.total_response_bytes() < 2048, "{requests:#?}");
    }
    if let Some(ssh) = server.ssh() {
        let trace = ssh.packet_trace();
        assert!(trace.contains("upload-pack> version 2"), "{trace}");
        assert!(trace.contains("upload-pack< command=ls-refs"), "{trace}");
        assert!(
            trace.contains("upload-pack< ref-prefix refs/atoms/"),
            "{trace}"
        );
        assert!(!trace.contains("command=fetch"), "{trace}");
    }

    let outcome = remote
        .connect(gix::remote::Direction::Fetch)
        .unwrap()
        .prepare_fetch(gix::progress::Discard, Default::default())
        .unwrap()
        .receive(gix::progress::Discard, &AtomicBool::new(false))
        .unwrap();
    assert!(
        matches!(outcome.status, gix::remote::fetch::Status::Change { .. }),
        "{:?}",
        outcome.status
    );
    let fetched = git(
        &sb.path().join("gix.git"),
        &["rev-parse", "refs/atoms/a/0.1.0"],
    );
    assert_eq!(fetched, head);
    fsck(&sb.path().join("gix.git"));
    if let Some(http) = server.http() {
        let requests = http.requests();
        assert!(
            requests
                .iter()
                .any(|r| r.is_fetch() && r.v2_command().as_deref() == Some("fetch")),
            "{requests:#?}"
        );
    }
    if let Some(ssh) = server.ssh() {
        let trace = ssh.packet_trace();
        assert!(trace.contains("upload-pack< command=fetch"), "{trace}");
    }
}

#[test]
fn gix_file() {
    gix_list_and_fetch(Transport::File);
}

#[test]
fn gix_git_daemon() {
    gix_list_and_fetch(Transport::Git);
}

#[test]
fn gix_http() {
    gix_list_and_fetch(Transport::Http);
}

#[test]
fn gix_ssh() {
    gix_list_and_fetch(Transport::Ssh);
}

/// The fsck helper rejects what `git fsck --strict` rejects.
#[test]
fn fsck_rejects_malformed_objects() {
    let sb = Sandbox::new();
    let bare = sb.bare("bad");
    fsck(&bare);
    let tree = support::git_stdin(&bare, &["mktree"], b"");
    let bad = format!("tree {tree}\nauthor  <> 0 +0000\ncommitter nobody 0 +0000\n\nbad\n");
    support::git_stdin(
        &bare,
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "--stdin",
        ],
        bad.as_bytes(),
    );
    let caught = std::panic::catch_unwind(|| fsck(&bare));
    assert!(
        caught.is_err(),
        "fsck accepted a commit without committer email"
    );
}

/// Commits are reproducible: the same steps give the same ids.
#[test]
fn commits_are_reproducible() {
    let make = || {
        let sb = Sandbox::new();
        let repo = monorepo(&sb);
        repo.write("more", "more\n");
        (repo.rev_parse("HEAD~0"), repo.commit("second"))
    };
    let (first, second) = make();
    assert_eq!(make(), (first.clone(), second.clone()));
    assert_ne!(first, second);
}

fn group_is_gone(pgid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    let r = unsafe { libc::kill(-(pgid as libc::pid_t), 0) };
    r == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Servers stop on drop: no process left, port closed.
#[test]
fn servers_stop_on_drop() {
    let sb = Sandbox::new();
    let base = sb.mkdir("srv");
    support::bare_repo(&base, "r");

    let daemon = support::GitDaemon::start(&base);
    let pid = daemon.pid();
    assert_eq!(ls_remote(&daemon.url("r"), &[]), vec![]);
    assert!(!group_is_gone(pid));
    drop(daemon);
    // Killed children are reaped by init, asynchronously.
    let start = std::time::Instant::now();
    while !group_is_gone(pid) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "git daemon group {pid} still alive"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }

    let ssh = support::SshServer::start(&base);
    let (pid, port) = (ssh.pid(), ssh.port());
    assert_eq!(ls_remote(&ssh.url("r"), &[]), vec![]);
    drop(ssh);
    let start = std::time::Instant::now();
    while !group_is_gone(pid) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "sshd group {pid} still alive"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    let http = support::HttpGitServer::start(&base);
    let (pid, port) = (http.pid(), http.port());
    ls_remote(&http.url("r"), &[]);
    // An idle kept-alive connection does not hold the server up, and is
    // closed.
    let mut idle = connect(port);
    write!(idle, "GET /r.git/HEAD HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut reader).0, "HTTP/1.1 200 OK");
    assert!(!group_is_gone(pid));
    drop(http);
    let start = std::time::Instant::now();
    while !group_is_gone(pid) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "lighttpd group {pid} still alive"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
}

/// Without OpenSSH, ssh tests fail saying what to install (they are never
/// skipped).
#[test]
fn missing_openssh_says_what_to_install() {
    let caught = std::panic::catch_unwind(|| {
        support::find_program("eka-e2e-no-such-sshd", support::ssh::OPENSSH)
    });
    let message = caught.expect_err("found a program that does not exist");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("apt-get install openssh-server"),
        "{message}"
    );
    assert!(support::find_program("sshd", support::ssh::OPENSSH).is_absolute());
}

/// The `eka` runner: hermetic environment, private home, output captured.
#[test]
fn eka_runs_hermetically() {
    let sb = Sandbox::new();
    let run = sb.eka(sb.path(), &["--version"]).assert_success();
    // A prefix, not a snapshot: the version changes with every release.
    assert!(run.stdout.starts_with("eka "), "{run}");
    let run = sb.eka(sb.path(), &["--no-such-flag"]).assert_failure();
    assert_cli_snapshot!(sb, run, @"
    status: 2
    --- stdout ---
    --- stderr ---
    error: unexpected argument '--no-such-flag' found

    Usage: eka [OPTIONS] [COMMAND]

    For more information, try '--help'.
    ");

    // The environment seen by commands: only what the harness sets.
    let mut cmd = std::process::Command::new("env");
    support::hermetic(&mut cmd, &sb.home());
    let env = sb.run(cmd).assert_success().stdout;
    let home = format!("HOME={}", sb.home().display());
    assert!(env.lines().any(|l| l == home), "{env}");
    assert!(env.lines().any(|l| l == "GIT_CONFIG_NOSYSTEM=1"), "{env}");
    assert!(
        env.lines()
            .any(|l| l.starts_with("GIT_SSH_COMMAND=ssh -F /dev/null -i ")),
        "{env}"
    );
    assert!(!env.contains("CARGO_"), "{env}");
    assert!(Path::new(&sb.home()).join(".config").is_dir());
}

/// eka picks its ssh client as git does, and agrees with git on every case:
/// `GIT_SSH_COMMAND`, else `core.sshCommand` (the current repository's
/// configuration over the user's), else the program `GIT_SSH`, else plain
/// `ssh` (which cannot log in to the test server). Every kind of connection
/// eka makes is covered: listings (`versions`), manifest fetches (`show`),
/// scratch fetches (`verify`), resolution and atom fetches (`add`, `fetch`).
#[test]
fn eka_ssh_client_as_git_chooses() {
    use std::ffi::OsString;
    use std::os::unix::fs::PermissionsExt;

    let sb = Sandbox::new();
    let server = sb.server(Transport::Ssh);
    let url = server.create("registry");
    let mono = monorepo(&sb);
    sb.eka(mono.path(), &["publish", "--all", "--remote", &url])
        .assert_success();
    // The URL holds the user, a port and the sandbox's path.
    sb.filter(&url, "[URL]");
    let uri = format!("{url}::a");

    // A program for GIT_SSH (no shell, no arguments of its own).
    let wrapper = sb.mkdir("bin").join("my-ssh");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec {} \"$@\"\n", support::ssh_command()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Git configuration files naming a working and a failing client.
    let config = |name: &str, command: &str| {
        let path = sb.path().join(name);
        git(
            sb.path(),
            &[
                "config",
                "--file",
                path.to_str().unwrap(),
                "core.sshCommand",
                command,
            ],
        );
        path
    };
    let good = config("good.gitconfig", &support::ssh_command());
    let bad = config("bad.gitconfig", "false");
    // A repository whose own configuration names the working client.
    let repo = sb.repo("consumer");
    repo.git(&["config", "core.sshCommand", &support::ssh_command()]);
    let outside = sb.mkdir("outside");

    // `eka ARGS` and `git ls-remote URL` in `dir`, without GIT_SSH_COMMAND
    // unless `vars` sets it: whether each succeeded.
    let both = |dir: &Path, args: &[&str], vars: &[(&str, OsString)]| {
        let setup = |cmd: &mut std::process::Command| {
            cmd.env_remove("GIT_SSH_COMMAND")
                .env("GIT_CEILING_DIRECTORIES", sb.path());
            for (k, v) in vars {
                cmd.env(k, v);
            }
        };
        let mut eka = sb.eka_command(dir);
        setup(&mut eka);
        eka.args(args);
        let eka = sb.run(eka);
        let mut git = sb.git_command(dir);
        setup(&mut git);
        git.args(["ls-remote", &url]);
        let git = sb.run(git);
        (eka, git.status.success())
    };
    let ok = |dir: &Path, args: &[&str], vars: &[(&str, OsString)]| {
        let (eka, git_ok) = both(dir, args, vars);
        assert!(git_ok, "git fails where eka should work: {vars:?}");
        eka.assert_success()
    };
    let fails = |dir: &Path, args: &[&str], vars: &[(&str, OsString)]| {
        let (eka, git_ok) = both(dir, args, vars);
        assert!(!git_ok, "git works where eka should fail: {vars:?}");
        eka.assert_failure()
    };
    let var = |k: &'static str, v: &dyn AsRef<std::ffi::OsStr>| (k, v.as_ref().to_owned());
    let versions = ["versions", uri.as_str()];

    // Nothing configured: plain ssh, which has no key for the server.
    fails(&outside, &versions, &[]);
    // GIT_SSH.
    ok(&outside, &versions, &[var("GIT_SSH", &wrapper)]);
    // The user's core.sshCommand, over GIT_SSH.
    let run = ok(
        &outside,
        &versions,
        &[
            var("GIT_CONFIG_GLOBAL", &good),
            var("GIT_SSH", &"/bin/false"),
        ],
    );
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    a on [URL] (atom id vh7sr4bgmv5v8c9u60ijqli3fr9j9un3octf34l55gisuj1ophv0)
      VERSION  COMMIT
      0.1.0    8570dd1c177710162d090098c9fab155b95f447b
    --- stderr ---
    ");
    fails(
        &outside,
        &versions,
        &[var("GIT_CONFIG_GLOBAL", &bad), var("GIT_SSH", &wrapper)],
    );
    // GIT_SSH_COMMAND over core.sshCommand.
    fails(
        &outside,
        &versions,
        &[
            var("GIT_CONFIG_GLOBAL", &good),
            var("GIT_SSH_COMMAND", &"false"),
        ],
    );
    ok(
        &outside,
        &versions,
        &[
            var("GIT_CONFIG_GLOBAL", &bad),
            var("GIT_SSH_COMMAND", &support::ssh_command()),
        ],
    );

    // Inside a repository, its configuration counts (over the user's).
    let local = [
        var("GIT_CONFIG_GLOBAL", &bad),
        var("GIT_SSH", &"/bin/false"),
    ];
    fails(&outside, &versions, &local);
    ok(repo.path(), &versions, &local);
    let run = ok(repo.path(), &["show", &uri], &local);
    assert_cli_snapshot!(sb, run, @r#"
    status: 0
    --- stdout ---
    label       a
    version     0.1.0
    atom id     vh7sr4bgmv5v8c9u60ijqli3fr9j9un3octf34l55gisuj1ophv0
    commit      8570dd1c177710162d090098c9fab155b95f447b
    origin      6c454f6ea91d2bf9e7dd3db70c6ee6cefab9f131
    root        6c454f6ea91d2bf9e7dd3db70c6ee6cefab9f131
    manifest    451fb0cc6c03da652b6930ec71fbae92d17119b5 (refs/atoms/_manifest/a/0.1.0)
    repository  [URL]

    [package]
    label = "a"
    version = "0.1.0"
    --- stderr ---
    "#);
    let run = ok(repo.path(), &["verify", &url], &local);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    ok      a@0.1.0  vh7sr4bgmv5v8c9u60ijqli3fr9j9un3octf34l55gisuj1ophv0  blake3:1fe0debbeb618d4a272232dce59b0d552656ef03d4e4c4563dd49a0f6b362049
    ok      b@1.0.0  etbnb7o2nssnk3ok2k2n0eiu5kmrhqjae01mbjeg6jt7995lo7c0  blake3:e3cf833cc9c63aaf90d26c83fa4194d69ddaed14068c9b19de75dc24699f17dd
    2 verified, 0 failed
    --- stderr ---
    ");
    let app = repo.path().join("app");
    repo.write(
        "app/atom.toml",
        "[package]\nlabel = \"app\"\nversion = \"0.1.0\"\n",
    );
    ok(&app, &["add", &uri], &local);
    std::fs::remove_dir_all(sb.home().join(".cache/eka")).unwrap();
    let run = ok(&app, &["fetch"], &local);
    assert_cli_snapshot!(sb, run, @"
    status: 0
    --- stdout ---
    LABEL  VERSION  STATUS   COMMIT                                    DIGEST
    a      0.1.0    fetched  8570dd1c177710162d090098c9fab155b95f447b  blake3:1fe0debbeb618d4a272232dce59b0d552656ef03d4e4c4563dd49a0f6b362049
    1 atom verified in [SANDBOX]/home/.cache/eka (1 fetched)
    --- stderr ---
    ");
    fsck(&sb.home().join(".cache/eka/git"));
}
