//! The `/metrics` listener: one thread of its own, off the workers' hot
//! path, with blocking `std::net` I/O. It serves one connection at a time
//! and one request per connection (answered with `connection: close`), so
//! a scraper that keeps its connection does not hold the endpoint; short
//! read and write timeouts and a deadline per connection keep a slow or
//! silent client from wedging it for long. Requests are parsed by the
//! crate's own HTTP/1.1 core ([`crate::h1::Connection`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::render::CONTENT_TYPE;
use crate::h1::{Connection, H1Config, H1Request, Method};
use crate::server::httpdate;

/// Each read or write may wait this long.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// A connection gets this long for its request, however it trickles in.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);
/// After an accept error (EMFILE...), wait before the next accept rather
/// than spin on the same error.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Why the endpoint did not start; one line each.
#[derive(Debug)]
pub enum MetricsError {
    AddressInUse(SocketAddr),
    Bind(SocketAddr, io::Error),
    Thread(io::Error),
}

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AddressInUse(a) => {
                write!(f, "cannot listen on {a} (--metrics-listen): the address is already in use")
            }
            Self::Bind(a, e) => write!(f, "cannot listen on {a} (--metrics-listen): {e}"),
            Self::Thread(e) => write!(f, "cannot start the metrics thread: {e}"),
        }
    }
}

impl std::error::Error for MetricsError {}

/// The warning for an address other than loopback, if it is one: the
/// figures are harmless, but an operator should know they are exposed.
pub fn exposure_warning(addr: SocketAddr) -> Option<String> {
    if addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!("--metrics-listen {addr} is not a loopback address; /metrics will be reachable from the network"))
}

/// The running endpoint; stopped (and its thread joined) by [`MetricsEndpoint::stop`] or on drop.
pub struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Binds `addr` and serves `/metrics` with the text `render` returns.
pub fn start<F>(addr: SocketAddr, render: F) -> Result<MetricsEndpoint, MetricsError>
where
    F: Fn() -> String + Send + 'static,
{
    let listener = TcpListener::bind(addr).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => MetricsError::AddressInUse(addr),
        _ => MetricsError::Bind(addr, e),
    })?;
    let bound = listener.local_addr().map_err(|e| MetricsError::Bind(addr, e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("h2ring-metrics".into())
        .spawn(move || accept_loop(&listener, &flag, &render))
        .map_err(MetricsError::Thread)?;
    Ok(MetricsEndpoint { addr: bound, stop, thread: Some(thread) })
}

impl MetricsEndpoint {
    /// The address bound (the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the thread: sets the flag and wakes the blocking accept by
    /// connecting to it. Waits for a connection being served to finish
    /// (at most [`CONNECTION_DEADLINE`] and a write timeout).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(thread) = self.thread.take() else { return };
        self.stop.store(true, Ordering::Release);
        let wake = SocketAddr::new(wake_ip(self.addr.ip()), self.addr.port());
        // If the wake-up cannot connect, the thread stays parked in accept:
        // leave it (the process is exiting) rather than wait forever.
        if TcpStream::connect_timeout(&wake, IO_TIMEOUT).is_ok() {
            let _ = thread.join();
        }
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Where to connect to reach a listener on `ip`: itself, or loopback for
/// a wildcard address.
fn wake_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, render: &dyn Fn() -> String) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Acquire) {
            return;
        }
        match accepted {
            // A client that goes wrong only ends its own connection.
            Ok((stream, _)) => {
                let _ = serve_connection(stream, render);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(_) => std::thread::sleep(ACCEPT_RETRY),
        }
    }
}

/// Reads one request, answers it, closes.
fn serve_connection(mut stream: TcpStream, render: &dyn Fn() -> String) -> io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let deadline = Instant::now() + CONNECTION_DEADLINE;
    let mut conn = Connection::new(H1Config { max_pipelined: 1, ..H1Config::default() });
    let date = httpdate::format_imf_fixdate(httpdate::unix_seconds(SystemTime::now()));
    conn.set_error_fields([(&b"date"[..], &date[..])]);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(req) = conn.poll_request() {
            // One request per connection: its response says `connection: close`.
            conn.shutdown();
            answer(&mut conn, &req, &date, render);
            conn.recycle(req);
        }
        write_output(&mut conn, &mut stream)?;
        if conn.wants_close() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            // 408 for a request begun and not finished (RFC 9110 §15.5.9).
            conn.request_timeout();
            return write_output(&mut conn, &mut stream);
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            // An error queues its response (400, 431...) and stops reading.
            Ok(n) => {
                let _ = conn.recv(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                conn.request_timeout();
                return write_output(&mut conn, &mut stream);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn write_output(conn: &mut Connection, stream: &mut TcpStream) -> io::Result<()> {
    let mut written = 0;
    for chunk in conn.output_chunks() {
        stream.write_all(chunk)?;
        written += chunk.len();
    }
    conn.consume_output(written);
    Ok(())
}

/// A response header field: name, value.
type Field<'a> = (&'a [u8], &'a [u8]);

/// `GET`/`HEAD /metrics`: the exposition; `/metrics` with another method:
/// 405; anything else: 404.
fn answer(conn: &mut Connection, req: &H1Request, date: &[u8], render: &dyn Fn() -> String) {
    let path = req.path();
    let path = path.split(|&b| b == b'?').next().unwrap_or(path);
    let date = (&b"date"[..], date);
    let no_store = (&b"cache-control"[..], &b"no-store"[..]);
    let text = (&b"content-type"[..], &b"text/plain; charset=utf-8"[..]);
    let (status, fields, body): (u16, Vec<Field<'_>>, Bytes) = match (path, req.method()) {
        (b"/metrics", Method::Get | Method::Head) => {
            let body = Bytes::from(render());
            (200, vec![(b"content-type", CONTENT_TYPE.as_bytes()), no_store, date], body)
        }
        (b"/metrics", _) => {
            let body = Bytes::from_static(b"only GET and HEAD\n");
            (405, vec![(b"allow", b"GET, HEAD"), text, date], body)
        }
        _ => (404, vec![text, date], Bytes::from_static(b"not found; the metrics are at /metrics\n")),
    };
    let len = Some(body.len() as u64);
    // A request was just handed out, so there is one to answer.
    let _ = conn.send_response(status, fields, len, body);
}
