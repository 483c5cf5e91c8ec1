//! Opening upload-pack connections.

use std::time::Duration;

use gix::bstr::ByteSlice;
use gix::protocol::transport;
use gix::protocol::transport::client::TransportWithoutIO as _;

use super::process::connect_process;
use super::ssh::SshOptions;
use super::TransportError;

pub(crate) type BoxedTransport = Box<dyn transport::client::blocking_io::Transport + Send>;

/// An upload-pack connection to `url`, asking for protocol v2: `git://`
/// through [`connect_git_daemon`], everything else through gix (`ssh://`
/// with the client `ssh` names).
///
/// Every read and write waits at most `timeout` (and so does connecting):
/// `git://` through its socket's timeouts, `http(s)://` through the HTTP
/// client's, `ssh://` and `file://` (a local process: `ssh`, or `git
/// upload-pack`) through waiting on its pipes (see `process`).
pub(crate) fn connect(
    url: &str,
    ssh: impl FnOnce() -> Result<SshOptions, TransportError>,
    timeout: Duration,
) -> Result<BoxedTransport, TransportError> {
    let parsed =
        gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| TransportError::Url(e.into()))?;
    match parsed.scheme {
        gix::url::Scheme::Git => return Ok(Box::new(connect_git_daemon(&parsed, timeout)?)),
        gix::url::Scheme::Ssh => {
            return Ok(Box::new(connect_process(&parsed, Some(ssh()?), timeout)?))
        }
        gix::url::Scheme::File => return Ok(Box::new(connect_process(&parsed, None, timeout)?)),
        _ => {}
    }
    let is_http = matches!(
        parsed.scheme,
        gix::url::Scheme::Http | gix::url::Scheme::Https
    );
    let mut connection = transport::client::blocking_io::connect::connect(
        parsed,
        transport::client::blocking_io::connect::Options {
            version: transport::Protocol::V2,
            ..Default::default()
        },
    )
    .map_err(|e| TransportError::Connect(e.into()))?;
    if is_http {
        connection
            .configure(&http_options(timeout))
            .map_err(|e| TransportError::Connect(e.into()))?;
    }
    Ok(connection)
}

/// HTTP options that bound connecting and every read and write by
/// `timeout` (reqwest's blocking client applies its `timeout` to each).
fn http_options(timeout: Duration) -> transport::client::blocking_io::http::Options {
    use transport::client::blocking_io::http;
    let client: Box<http::reqwest::ConfigureClientFn> =
        Box::new(move |builder| Ok(builder.timeout(timeout).connect_timeout(timeout)));
    let backend = http::reqwest::Options {
        configure_client: Some(client),
        configure_request: None,
    };
    http::Options {
        connect_timeout: Some(timeout),
        backend: Some(std::sync::Arc::new(std::sync::Mutex::new(backend))),
        ..Default::default()
    }
}

type DaemonConnection =
    transport::client::git::blocking_io::Connection<std::net::TcpStream, std::net::TcpStream>;

/// Opens a `git://` connection with `TCP_NODELAY`: gix's own connection
/// leaves Nagle's algorithm on, which stalls every small request by 40 ms.
fn connect_git_daemon(
    url: &gix::Url,
    timeout: Duration,
) -> Result<DaemonConnection, TransportError> {
    use std::net::{TcpStream, ToSocketAddrs};
    use transport::client::git::{blocking_io::Connection, ConnectMode};
    let host = url
        .host()
        .ok_or(TransportError::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port;
    let resolve = |source| TransportError::Resolve {
        host: host.to_owned(),
        source,
    };
    let addr = (host, port.unwrap_or(9418))
        .to_socket_addrs()
        .map_err(resolve)?
        .next()
        .ok_or_else(|| resolve(std::io::Error::other("no address")))?;
    let connect = |source| TransportError::Tcp { addr, source };
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(connect)?;
    stream.set_nodelay(true).map_err(connect)?;
    stream.set_read_timeout(Some(timeout)).map_err(connect)?;
    stream.set_write_timeout(Some(timeout)).map_err(connect)?;
    let write = stream.try_clone().map_err(connect)?;
    Ok(Connection::new(
        stream,
        write,
        transport::Protocol::V2,
        url.path.clone(),
        Some((host.to_owned(), port)),
        ConnectMode::Daemon,
        false,
    ))
}
