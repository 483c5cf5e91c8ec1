//! Fault injection: servers that stall, hang up or answer garbage, on
//! `git://` and `http://`. Every one ends in an error within the timeout,
//! never a hang, and a silent one says it timed out.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Accepts, reads, never answers (the connection stays open).
    Stall,
    /// Accepts and hangs up at once.
    HangUp,
    /// Answers with bytes that are no protocol, then stays silent.
    Garbage,
    /// Answers half of a valid git:// ref advertisement, then stalls.
    Truncated,
}

/// A server with `fault` on 127.0.0.1; returns its port. Its thread and
/// the connections it keeps open live as long as the test process.
fn serve(fault: Fault) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut kept: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            match fault {
                Fault::Stall => kept.push(stream),
                Fault::HangUp => drop(stream),
                Fault::Garbage => {
                    let noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
                    let _ = stream.write_all(&noise);
                    kept.push(stream);
                }
                Fault::Truncated => {
                    let _ = stream.write_all(b"000eversion 2\n0013agent=git/2.4");
                    kept.push(stream);
                }
            }
        }
    });
    port
}

const TIMEOUT: Duration = Duration::from_secs(1);

/// Lists `url` with a one-second timeout; the error, and how long it took.
fn list(url: &str) -> (RemoteError, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let connections = Connections::new(dir.path()).with_timeout(TIMEOUT);
    let started = Instant::now();
    let err = connections
        .ls_refs(url, &["refs/atoms/"])
        .expect_err("a faulty server gives no listing");
    (err, started.elapsed())
}

fn check(fault: Fault, scheme: &str) {
    let port = serve(fault);
    let url = format!("{scheme}://127.0.0.1:{port}/registry.git");
    let (err, took) = list(&url);
    // Bounded: a few timeouts at most (connect, then a read or two).
    assert!(
        took < Duration::from_secs(15),
        "{fault:?} {scheme}: {took:?}"
    );
    if matches!(fault, Fault::Stall | Fault::Truncated) {
        assert!(
            matches!(err.source, TransportError::TimedOut { after, .. } if after == TIMEOUT),
            "{fault:?} {scheme}: {}",
            err.reason()
        );
        assert!(
            err.reason().contains("did not answer for 1 s"),
            "{}",
            err.reason()
        );
    }
}

#[test]
fn git_daemon_faults_end_in_errors() {
    for fault in [
        Fault::Stall,
        Fault::HangUp,
        Fault::Garbage,
        Fault::Truncated,
    ] {
        check(fault, "git");
    }
}

#[test]
fn http_faults_end_in_errors() {
    for fault in [Fault::Stall, Fault::HangUp, Fault::Garbage] {
        check(fault, "http");
    }
}

/// A fetch from a server that stalls ends too.
#[test]
fn a_fetch_from_a_stalled_server_ends() {
    let port = serve(Fault::Stall);
    let dir = tempfile::tempdir().unwrap();
    let repo = gix::init_bare(dir.path().join("r.git")).unwrap();
    let connections = Connections::new(dir.path()).with_timeout(TIMEOUT);
    let started = Instant::now();
    let err = connections
        .fetch_objects(
            &repo,
            &format!("git://127.0.0.1:{port}/r.git"),
            &[ObjectId::null(gix::hash::Kind::Sha1)],
        )
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        matches!(err.source, TransportError::TimedOut { .. }),
        "{}",
        err.reason()
    );
}
