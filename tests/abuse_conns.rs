//! Attacks on connections rather than streams (issue #8), while an honest
//! client keeps reading pages: slowloris on the TLS handshake (a ClientHello
//! one byte every 200 ms), on a request's frames and on the h2c preface,
//! and a flood of 1,000 TCP connections that never say anything. See
//! `tests/abuse/mod.rs` for the bounds.

mod abuse;
mod server;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use abuse::*;
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

/// The pace of every slowloris here: one byte every 200 ms.
const DRIBBLE: Duration = Duration::from_millis(200);

/// A plain TCP connection that sends a byte at a time and notices when the
/// server closes it.
struct Dribbler {
    tcp: TcpStream,
    closed: Option<Instant>,
}

impl Dribbler {
    fn connect(addr: SocketAddr) -> Dribbler {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_nodelay(true).unwrap();
        tcp.set_nonblocking(true).unwrap();
        Dribbler { tcp, closed: None }
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.closed.is_none() && self.tcp.write_all(bytes).is_err() {
            self.closed = Some(Instant::now());
        }
    }

    /// Reads whatever is there (an alert, a GOAWAY); notices EOF or a reset.
    fn check(&mut self) {
        let mut buf = [0u8; 4096];
        while self.closed.is_none() {
            match self.tcp.read(&mut buf) {
                Ok(0) => self.closed = Some(Instant::now()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => self.closed = Some(Instant::now()),
            }
        }
    }
}

/// Dribbles `bytes` over `count` connections at once, one byte each every
/// [`DRIBBLE`], and expects every connection closed between `min` and
/// `max` after the first byte.
fn dribble(connections: &mut [Dribbler], bytes: &[u8], min: Duration, max: Duration, what: &str) {
    let start = Instant::now();
    let mut next = 0;
    let mut next_at = start;
    while connections.iter().any(|c| c.closed.is_none()) && start.elapsed() < max + Duration::from_secs(1) {
        if Instant::now() >= next_at && next < bytes.len() {
            for c in connections.iter_mut() {
                c.send(&bytes[next..next + 1]);
            }
            next += 1;
            next_at += DRIBBLE;
        }
        for c in connections.iter_mut() {
            c.check();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for c in connections.iter() {
        let at = c.closed.unwrap_or_else(|| panic!("{what}: a connection was still open after {max:?}"));
        let after = at.duration_since(start);
        assert!(after >= min && after <= max, "{what}: closed after {after:?}, expected {min:?}..{max:?}");
    }
    assert!(next < bytes.len(), "{what}: the whole message went out before the server gave up");
}

#[test]
fn slowloris_on_the_tls_handshake_is_closed_by_the_handshake_timeout() {
    let server = start(&["--handshake-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "slowloris: ClientHello");
    // A real ClientHello, sent a byte at a time.
    let config = server::client_tls_config(&server, &[b"h2"]);
    let mut tls = ClientConnection::new(Arc::clone(&config), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut hello = Vec::new();
    tls.write_tls(&mut hello).unwrap();
    let mut connections: Vec<Dribbler> = (0..50).map(|_| Dribbler::connect(server.tls)).collect();
    dribble(&mut connections, &hello, Duration::from_millis(900), Duration::from_secs(3), "ClientHello");
    watch.finish();
}

#[test]
fn slowloris_on_a_request_is_closed_by_the_header_timeout() {
    // The handshake, preface and SETTINGS at full speed, then a HEADERS
    // frame a byte (a TLS record) at a time.
    let server = start(&["--header-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "slowloris: HEADERS");
    let request = headers(1, END_HEADERS | END_STREAM, &hp::get("/"));
    let mut attackers: Vec<Attacker> = (0..20).map(|_| Attacker::tls(&server)).collect();
    for a in &mut attackers {
        // The server's SETTINGS and our ACK first: nothing may come between
        // the bytes of the dribbled frame.
        a.pump_until(Instant::now() + ANSWER_LIMIT, |s| s.settings_acks > 0);
        a.auto_ack = false;
    }
    let start = Instant::now();
    let mut next = 0;
    while attackers.iter().any(|a| !a.read_done) && start.elapsed() < Duration::from_secs(4) {
        if next < request.len() {
            for a in attackers.iter_mut().filter(|a| a.closed.is_none()) {
                a.queue(&request[next..next + 1]);
                a.flush();
            }
            next += 1;
        }
        let tick = Instant::now() + DRIBBLE;
        while Instant::now() < tick {
            for a in attackers.iter_mut() {
                a.flush();
                a.read_available();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert!(next < request.len(), "the whole request went out before the server gave up");
    for a in &attackers {
        assert!(a.read_done, "a connection dribbling a request was still open after 4 s");
        let after = a.closed.unwrap().1.duration_since(start);
        assert!(
            after >= Duration::from_millis(900),
            "closed after {after:?}, before the header timeout: {:?}, {:?}",
            a.closed,
            a.seen.goaway
        );
        assert!(a.seen.statuses.is_empty(), "no request was served");
    }
    watch.finish();
}

#[test]
fn slowloris_on_the_h2c_preface_is_closed_by_the_header_timeout() {
    let server = start(&["--header-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "slowloris: h2c preface");
    let mut connections: Vec<Dribbler> = (0..50).map(|_| Dribbler::connect(server.h2c)).collect();
    dribble(&mut connections, PREFACE, Duration::from_millis(900), Duration::from_secs(3), "h2c preface");
    watch.finish();
}

#[test]
fn connection_flood_is_reclaimed_by_the_handshake_timeout() {
    // 1,000 TCP connections opened at once on the TLS port and held
    // without a byte: the handshake timeout reclaims them all while the
    // honest client keeps being served.
    raise_fd_limit(4096);
    let server = start(&["--handshake-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "connection flood");
    let opened = Instant::now();
    let mut connections: Vec<Dribbler> = (0..1000).map(|_| Dribbler::connect(server.tls)).collect();
    let deadline = Instant::now() + Duration::from_secs(4);
    while connections.iter().any(|c| c.closed.is_none()) && Instant::now() < deadline {
        for c in connections.iter_mut() {
            c.check();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let open = connections.iter().filter(|c| c.closed.is_none()).count();
    assert_eq!(open, 0, "{open} of 1000 silent connections still open 4 s after the last was opened");
    let first = connections.iter().map(|c| c.closed.unwrap()).min().unwrap().duration_since(opened);
    assert!(first >= Duration::from_millis(900), "a silent connection was closed after {first:?}");
    watch.finish();
}

/// Raises RLIMIT_NOFILE's soft limit to at least `want` (up to the hard
/// limit); the server started afterwards inherits it.
pub fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid rlimit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
}
