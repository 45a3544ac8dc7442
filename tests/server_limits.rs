//! The server's own limits (issue #8), against the real binary on both
//! backends: the write timeout (a client that never reads, or keeps its
//! windows shut), the connection cap, slowloris on the TLS handshake and
//! on the preface and header blocks, and the send buffers idle connections
//! give back. Timeouts are swept once a second, so each bound is the
//! configured timeout plus that tick and some slack. Loopback only.

mod server;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use server::{BIG, Server, TempDir};

/// [`Server::start`], but with one worker (`Server::start` asks for two,
/// and a flag may be given once): the connection cap and the RSS figures
/// are then those of one worker.
fn start_one_worker(extra: &[&str]) -> Server {
    use std::process::{Command, Stdio};
    let certs = TempDir::new("certs");
    let content = server::test_content();
    let mut child = Command::new(server::BIN)
        .args(["--listen", "127.0.0.1:0", "--h2c-listen", "127.0.0.1:0", "--workers", "1", "--certs-dir"])
        .arg(&certs.0)
        .arg("--content")
        .arg(&content.0)
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start h2ring");
    let rx = server::stderr_lines(&mut child);
    let (line, before_start) = server::wait_for_start_line(&rx);
    let addr = |scheme: &str| -> SocketAddr {
        let at = line.find(scheme).unwrap() + scheme.len();
        line[at..].split([' ', ';']).next().unwrap().parse().unwrap()
    };
    let (tls, h2c) = (addr("https://"), addr("h2c://"));
    Server { child, tls, h2c, certs, content: Some(content), stderr: rx, start_line: line, before_start }
}

// ---- raw HTTP/2 frames ----

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const MAX_WINDOW: u32 = (1 << 31) - 1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> =
        params.iter().flat_map(|&(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes())).collect();
    frame(SETTINGS, 0, 0, &payload)
}

fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

/// A GET header block: `:method GET`, `:scheme` (https on TLS), `:path`
/// as a literal with the static table's name, `:authority localhost`.
fn get_block(path: &str, tls: bool) -> Vec<u8> {
    let mut b = vec![0x82, if tls { 0x87 } else { 0x86 }, 0x04, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x01, 9]);
    b.extend_from_slice(b"localhost");
    b
}

fn get(stream: u32, path: &str, tls: bool) -> Vec<u8> {
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &get_block(path, tls))
}

/// What a client read from the server, frame by frame.
#[derive(Debug, Default)]
struct Seen {
    buf: Vec<u8>,
    headers: usize,
    data_bytes: usize,
    /// (last stream id, error code) of each GOAWAY.
    goaways: Vec<(u32, u32)>,
    bytes: usize,
}

impl Seen {
    fn feed(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len();
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        // The server preface comes first; the client preface is ours only.
        while self.buf.len() - at >= 9 {
            let b = &self.buf[at..];
            let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
            if b.len() < 9 + len {
                break;
            }
            let payload = &b[9..9 + len];
            match b[3] {
                HEADERS => self.headers += 1,
                DATA => self.data_bytes += len,
                GOAWAY if len >= 8 => {
                    let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & MAX_WINDOW;
                    self.goaways.push((last, u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]])));
                }
                _ => {}
            }
            at += 9 + len;
        }
        self.buf.drain(..at);
    }
}

// ---- raw clients: h2c, and TLS through rustls with full control of reads ----

enum Raw {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Raw {
    fn tcp(&self) -> &TcpStream {
        match self {
            Raw::Plain(s) => s,
            Raw::Tls(s) => &s.sock,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Raw::Plain(s) => s.write_all(bytes),
            Raw::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        }
    }

    /// Reads until `done`, the end of the connection (true) or `limit` (false).
    fn read_until(&mut self, seen: &mut Seen, limit: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if done(seen) {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.tcp().set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
            let r = match self {
                Raw::Plain(s) => s.read(&mut buf),
                Raw::Tls(s) => s.read(&mut buf),
            };
            match r {
                Ok(0) => return true,
                Ok(n) => seen.feed(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // A reset, or TLS ending without close_notify: closed.
                Err(_) => return true,
            }
        }
    }

    /// Reads until the server closes; true if it did within `limit`.
    fn closed_within(&mut self, seen: &mut Seen, limit: Duration) -> bool {
        self.read_until(seen, limit, |_| false)
    }
}

fn tls_client_config(server: &Server) -> Arc<rustls::ClientConfig> {
    server::client_tls_config(server, &[b"h2"])
}

/// A TCP connection to `addr` whose receive buffer is `rcvbuf` bytes (set
/// before connecting, so the window it advertises stays that small).
fn connect_small(addr: SocketAddr, rcvbuf: Option<usize>) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect_timeout(&addr.into(), Duration::from_secs(5)).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Completes the TLS handshake; the h2 preface is the caller's.
fn tls_connect(server: &Server, rcvbuf: Option<usize>) -> Raw {
    let mut tcp = connect_small(server.tls, rcvbuf);
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls_client_config(server), name).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("TLS handshake");
    }
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    Raw::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
}

// ---- an honest reader on another connection ----

/// Fetches `/` over h2c every 50 ms until stopped; returns each latency.
/// Every request must succeed.
fn honest_reader(addr: SocketAddr) -> (Arc<AtomicBool>, JoinHandle<Vec<Duration>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (client, conn) = h2::client::handshake(tcp).await.expect("honest h2c handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut latencies = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                let start = Instant::now();
                let (status, _, body) = server::fetch(&client, server::request("GET", "/")).await;
                assert_eq!(status, 200);
                assert!(!body.is_empty());
                latencies.push(start.elapsed());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            latencies
        })
    });
    (stop, thread)
}

fn finish_honest(reader: (Arc<AtomicBool>, JoinHandle<Vec<Duration>>)) {
    reader.0.store(true, Ordering::Relaxed);
    let latencies = reader.1.join().expect("the honest reader failed");
    assert!(latencies.len() >= 5, "only {} requests", latencies.len());
    let worst = latencies.iter().max().unwrap();
    assert!(*worst < Duration::from_secs(1), "an honest request took {worst:?}");
}

/// Everything the server printed after its start-up line, to its exit
/// (after SIGTERM).
fn exit_lines(mut server: Server) -> Vec<String> {
    let status = server.signal_and_wait("TERM", Duration::from_secs(15));
    assert!(status.success());
    // The reader thread forwards the last lines, then ends with the pipe.
    let mut lines = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    lines
}

/// The exit line's counters, after SIGTERM: "connections: … write 1 …".
fn exit_line(server: Server) -> String {
    let lines = exit_lines(server);
    lines.into_iter().find(|l| l.contains("connections:")).expect("no connection counters at exit")
}

fn counter(line: &str, name: &str) -> u64 {
    let at = line.find(&format!("{name} ")).unwrap_or_else(|| panic!("no {name:?} in {line}")) + name.len() + 1;
    line[at..].split([',', ';', ' ']).next().unwrap().parse().unwrap()
}

// ---- write timeout ----

/// TLS, windows opened wide, 16 MiB asked for, then nothing read: the
/// server's send stops completing and, a write timeout later, it closes
/// the socket (no GOAWAY can get through). Another client is served all
/// along.
#[test]
fn write_timeout_closes_a_client_that_never_reads() {
    let server = Server::start(&["--write-timeout-ms", "1000"]);
    let honest = honest_reader(server.h2c);
    let mut c = tls_connect(&server, Some(16 * 1024));
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)]));
    hello.extend(window_update(0, MAX_WINDOW - 65_535));
    for i in 0..16 {
        hello.extend(get(2 * i + 1, BIG, true));
    }
    c.write(&hello).unwrap();
    let asked = Instant::now();
    // Not reading: 1 s of write timeout, up to 1 s until the sweep sees it.
    std::thread::sleep(Duration::from_millis(3000));
    let mut seen = Seen::default();
    assert!(c.closed_within(&mut seen, Duration::from_secs(10)), "still open {:?} after asking", asked.elapsed());
    assert!(seen.data_bytes < 16 << 20, "all {} bytes arrived: the server never gave up", seen.data_bytes);
    finish_honest(honest);
    let line = exit_line(server);
    assert_eq!(counter(&line, "write"), 1, "{line}");
}

/// SETTINGS_INITIAL_WINDOW_SIZE 0 and no WINDOW_UPDATE ever: the response
/// body cannot move, and a write timeout later the server says GOAWAY
/// (NO_ERROR) and closes, though the client reads everything.
#[test]
fn write_timeout_closes_a_client_that_keeps_its_window_shut() {
    let server = Server::start(&["--write-timeout-ms", "1000"]);
    let honest = honest_reader(server.h2c);
    for tls in [false, true] {
        let mut c = if tls { tls_connect(&server, None) } else { Raw::Plain(connect_small(server.h2c, None)) };
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]));
        hello.extend(get(1, BIG, tls));
        c.write(&hello).unwrap();
        let asked = Instant::now();
        let mut seen = Seen::default();
        assert!(c.closed_within(&mut seen, Duration::from_secs(6)), "tls {tls}: still open");
        let took = asked.elapsed();
        assert!(took >= Duration::from_millis(900), "tls {tls}: closed after {took:?}, before the timeout");
        assert!(took < Duration::from_millis(3500), "tls {tls}: closed after {took:?}");
        assert_eq!(seen.headers, 1, "tls {tls}: the response's HEADERS came: {seen:?}");
        assert_eq!(seen.data_bytes, 0, "tls {tls}: no window, no DATA");
        assert_eq!(seen.goaways, vec![(1, 0)], "tls {tls}: GOAWAY(last 1, NO_ERROR)");
    }
    finish_honest(honest);
    let line = exit_line(server);
    assert_eq!(counter(&line, "write"), 2, "{line}");
}

/// A client that opens its window a little at a time, as a slow reader
/// does, makes progress and is not cut off by the write timeout.
#[test]
fn a_slow_reader_that_keeps_opening_its_window_is_served() {
    let server = Server::start(&["--write-timeout-ms", "1000"]);
    let mut c = Raw::Plain(connect_small(server.h2c, None));
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 16 * 1024)]));
    hello.extend(get(1, BIG, false));
    c.write(&hello).unwrap();
    let mut seen = Seen::default();
    let start = Instant::now();
    // 16 KiB every 300 ms for 4 s, longer than the write timeout: the
    // server waits on the window most of the time, and each opening lets
    // some body out.
    let mut granted = 16 * 1024;
    while start.elapsed() < Duration::from_secs(4) {
        let closed = c.read_until(&mut seen, Duration::from_secs(2), |s| s.data_bytes >= granted);
        assert!(!closed && seen.data_bytes >= granted, "the server stopped sending: {seen:?}");
        std::thread::sleep(Duration::from_millis(300));
        let mut more = window_update(1, 16 * 1024);
        more.extend(window_update(0, 16 * 1024));
        c.write(&more).expect("the server closed a client that keeps reading");
        granted += 16 * 1024;
    }
    assert!(seen.goaways.is_empty(), "{seen:?}");
    assert!(seen.data_bytes >= 64 * 1024, "{seen:?}");
    // Gone before the shutdown, whose grace period it would outlast.
    drop(c);
    std::thread::sleep(Duration::from_millis(200));
    let line = exit_line(server);
    assert_eq!(counter(&line, "write"), 0, "{line}");
}

// ---- connection cap ----

/// `--max-connections 4` on one worker: four TLS clients are served; a
/// fifth gets through TCP (the listen queue) but no TLS answer while they
/// stay; when one leaves, the fifth is accepted and served.
#[test]
fn max_connections_pauses_accepting_until_one_closes() {
    let server = start_one_worker(&["--max-connections", "4"]);
    let mut four: Vec<Raw> = (0..4).map(|_| tls_connect(&server, None)).collect();
    for c in &mut four {
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(&[]));
        hello.extend(get(1, "/", true));
        c.write(&hello).unwrap();
        let mut seen = Seen::default();
        c.read_until(&mut seen, Duration::from_secs(5), |s| s.headers >= 1);
        assert_eq!(seen.headers, 1, "one of the first four was not served");
    }

    // The fifth: TCP connects (the kernel's listen queue), the ClientHello
    // goes out, and nothing comes back.
    let mut tcp = connect_small(server.tls, None);
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls_client_config(&server), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    tcp.write_all(&hello).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut buf = [0u8; 4096];
    match tcp.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the fifth connection was answered while four are open: {other:?}"),
    }

    // One leaves; the fifth is accepted and its handshake completes.
    drop(four.pop());
    let left = Instant::now();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("the fifth connection's handshake");
    }
    assert!(left.elapsed() < Duration::from_secs(3), "accepted {:?} after a slot freed", left.elapsed());
    let mut fifth = Raw::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
    let mut req = PREFACE.to_vec();
    req.extend(settings(&[]));
    req.extend(get(1, "/", true));
    fifth.write(&req).unwrap();
    let mut seen = Seen::default();
    fifth.read_until(&mut seen, Duration::from_secs(5), |s| s.headers >= 1);
    assert_eq!(seen.headers, 1, "the fifth connection was not served");
    drop((four, fifth));
    let line = exit_line(server);
    assert!(counter(&line, "accept pauses") >= 1, "{line}");
}

// ---- slowloris ----

/// A ClientHello sent a byte every 200 ms: the handshake timeout counts
/// from accept, not from the last byte, so it ends after about a second.
#[test]
fn a_client_hello_dribbled_byte_by_byte_hits_the_handshake_timeout() {
    let server = Server::start(&["--handshake-timeout-ms", "1000"]);
    let honest = honest_reader(server.h2c);
    let mut tcp = connect_small(server.tls, None);
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls_client_config(&server), name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    let mut reader = tcp.try_clone().unwrap();
    let start = Instant::now();
    let dribble = std::thread::spawn(move || {
        for &b in &hello {
            if tcp.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    reader.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut buf = [0u8; 1024];
    let got = reader.read(&mut buf);
    let took = start.elapsed();
    assert!(matches!(got, Ok(0) | Err(_)), "the server answered a partial ClientHello: {got:?}");
    assert!(took >= Duration::from_millis(900), "closed after {took:?}, before the timeout");
    assert!(took < Duration::from_millis(3000), "closed after {took:?}");
    assert!(!matches!(&got, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)));
    dribble.join().unwrap();
    finish_honest(honest);
    let line = exit_line(server);
    assert_eq!(counter(&line, "handshake"), 1, "{line}");
}

/// After the TLS handshake, the client preface a byte every 200 ms: the
/// header timeout covers the preface, so GOAWAY and close after a second.
/// Likewise an h2c client that sends nothing at all.
#[test]
fn a_preface_dribbled_or_never_sent_hits_the_header_timeout() {
    let server = Server::start(&["--header-timeout-ms", "1000"]);
    let mut c = tls_connect(&server, None);
    let handshaken = Instant::now();
    let mut seen = Seen::default();
    let mut closed = false;
    for &b in PREFACE {
        if c.write(&[b]).is_err() {
            closed = true;
            break;
        }
        if c.read_until(&mut seen, Duration::from_millis(200), |s| !s.goaways.is_empty()) {
            closed = true;
            break;
        }
        if !seen.goaways.is_empty() {
            break;
        }
    }
    closed = closed || c.closed_within(&mut seen, Duration::from_secs(3));
    let took = handshaken.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(3000), "closed after {took:?}");
    assert_eq!(seen.goaways, vec![(0, 0)], "GOAWAY(last 0, NO_ERROR): {seen:?}");

    let mut silent = Raw::Plain(connect_small(server.h2c, None));
    let start = Instant::now();
    let mut seen = Seen::default();
    assert!(silent.closed_within(&mut seen, Duration::from_secs(4)), "a silent h2c client is kept");
    assert!(start.elapsed() >= Duration::from_millis(900), "closed after {:?}", start.elapsed());
    assert_eq!(seen.goaways, vec![(0, 0)], "{seen:?}");
    let line = exit_line(server);
    assert_eq!(counter(&line, "header"), 2, "{line}");
}

/// A header block spread over CONTINUATION frames, one every 300 ms, each
/// frame complete: the block stays open, and the header timeout ends it.
#[test]
fn a_header_block_dribbled_in_continuation_frames_hits_the_header_timeout() {
    let server = Server::start(&["--header-timeout-ms", "1000"]);
    let mut c = Raw::Plain(connect_small(server.h2c, None));
    let block = get_block("/", false);
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[]));
    hello.extend(frame(HEADERS, END_STREAM, 1, &block[..1]));
    c.write(&hello).unwrap();
    let start = Instant::now();
    let mut seen = Seen::default();
    let mut closed = false;
    for i in 1..block.len() {
        // Never the last byte: the block never ends.
        if c.write(&frame(CONTINUATION, 0, 1, &block[i..i + 1])).is_err() {
            closed = true;
            break;
        }
        if c.read_until(&mut seen, Duration::from_millis(300), |s| !s.goaways.is_empty()) || !seen.goaways.is_empty() {
            closed = true;
            break;
        }
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    closed = closed || c.closed_within(&mut seen, Duration::from_secs(3));
    let took = start.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(3000), "closed after {took:?}");
    assert_eq!(seen.goaways, vec![(0, 0)], "{seen:?}");
}

// ---- limits: counted and logged once per connection, rate-limited ----

/// A request with more header fields than the server takes (128): the
/// core answers 431 (a non-fatal limit).
fn too_many_fields(stream: u32) -> Vec<u8> {
    let mut block = get_block("/", false);
    for _ in 0..130 {
        // Literal without indexing, new name "x-a", value "1".
        block.extend_from_slice(&[0x00, 3, b'x', b'-', b'a', 1, b'1']);
    }
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &block)
}

/// One connection runs into the same limit twice: one log line, counted
/// once. A PING flood from 25 connections on one worker at once: each is
/// counted, but at most 10 lines a second are logged and the rest summed
/// up in one line.
#[test]
fn limit_hits_are_counted_and_logged_once_per_connection_at_a_bounded_rate() {
    let server = start_one_worker(&[]);
    let mut c = Raw::Plain(connect_small(server.h2c, None));
    let mut hello = PREFACE.to_vec();
    hello.extend(settings(&[]));
    hello.extend(too_many_fields(1));
    hello.extend(too_many_fields(3));
    c.write(&hello).unwrap();
    let mut seen = Seen::default();
    c.read_until(&mut seen, Duration::from_secs(5), |s| s.headers >= 2);
    assert_eq!(seen.headers, 2, "two 431 answers: {seen:?}");
    assert!(seen.goaways.is_empty(), "431 is not fatal: {seen:?}");

    const FLOODERS: usize = 25;
    let ping = frame(0x6, 0, 0, &[0; 8]);
    let mut flooders: Vec<Raw> = (0..FLOODERS).map(|_| Raw::Plain(connect_small(server.h2c, None))).collect();
    let mut flood = PREFACE.to_vec();
    flood.extend(settings(&[]));
    for _ in 0..300 {
        flood.extend_from_slice(&ping);
    }
    for f in &mut flooders {
        f.write(&flood).unwrap();
    }
    for f in &mut flooders {
        let mut seen = Seen::default();
        assert!(f.closed_within(&mut seen, Duration::from_secs(5)), "a PING flood was not cut off");
        assert_eq!(seen.goaways.last().map(|g| g.1), Some(0xb), "ENHANCE_YOUR_CALM: {seen:?}");
    }
    // The summary of what was left out comes with the next second.
    std::thread::sleep(Duration::from_millis(2200));
    drop(c);
    let lines = exit_lines(server);
    let logged = |name: &str| lines.iter().filter(|l| l.contains(&format!("h2ring: limit {name}: "))).count();
    assert_eq!(logged("header_list_too_large"), 1, "{lines:#?}");
    let pings = logged("ping_flood");
    let left_out: usize = lines
        .iter()
        .filter_map(|l| l.strip_prefix("h2ring: ")?.split_once(" more limit hits not logged"))
        .map(|(n, _)| n.parse::<usize>().unwrap())
        .sum();
    assert!((1..FLOODERS).contains(&pings), "{pings} lines for {FLOODERS} floods: {lines:#?}");
    assert_eq!(pings + left_out, FLOODERS, "{lines:#?}");
    let summary = lines.iter().find(|l| l.contains("limits hit (connections):")).expect("the limit counters at exit");
    assert_eq!(counter(summary, "header_list_too_large"), 1, "{summary}");
    assert_eq!(counter(summary, "ping_flood"), FLOODERS as u64, "{summary}");
}

// ---- memory of idle connections ----

/// The server's resident set, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 200 h2c connections each read the 1 MiB file, then stay open and idle.
/// Their send buffers (up to 256 KiB + a record each while sending) are
/// given back: two sweeps later the server's RSS is less than 64 KiB per
/// connection above where it started.
#[test]
fn idle_connections_give_their_send_buffers_back() {
    const CONNS: usize = 200;
    const BOUND_KIB: u64 = 64;
    let server = start_one_worker(&[]);
    let addr = server.h2c;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Warm up: the pages and the allocator's first arenas.
    rt.block_on(async {
        let client = connect_h2c(addr).await;
        let (status, _, body) = server::fetch(&client, server::request("GET", BIG)).await;
        assert_eq!((status.as_u16(), body.len()), (200, 1 << 20));
    });
    std::thread::sleep(Duration::from_millis(1200));
    let before = rss_kib(server.pid());
    let clients = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..CONNS {
            tasks.push(tokio::spawn(async move {
                let client = connect_h2c(addr).await;
                let (status, _, body) = server::fetch(&client, server::request("GET", BIG)).await;
                assert_eq!((status.as_u16(), body.len()), (200, 1 << 20));
                client
            }));
        }
        let mut clients = Vec::new();
        for t in tasks {
            clients.push(t.await.unwrap());
        }
        clients
    });
    let busy = rss_kib(server.pid());
    std::thread::sleep(Duration::from_millis(2500));
    let idle = rss_kib(server.pid());
    let per_conn = idle.saturating_sub(before) / CONNS as u64;
    eprintln!(
        "RSS: {before} KiB before, {busy} KiB right after {CONNS} x 1 MiB, {idle} KiB idle: {per_conn} KiB per idle connection"
    );
    assert!(per_conn < BOUND_KIB, "{per_conn} KiB per idle connection (before {before}, idle {idle})");
    drop(clients);
}

async fn connect_h2c(addr: SocketAddr) -> server::Client {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
