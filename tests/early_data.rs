//! TLS 1.3 0-RTT against the real server, with a plain rustls client (early
//! data enabled, in-memory resumption) speaking hand-made HTTP/2 frames and
//! an independent HPACK (fluke-hpack): early GETs are served, anything else
//! early gets 425 and succeeds when retried after the handshake, a replayed
//! first flight gets no early data, and tickets resume across workers.

mod server;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use server::{Server, client_tls_config};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const GOAWAY: u8 = 7;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The client's side of HTTP/2 framing and HPACK, independent of h2ring.
struct Wire {
    encoder: fluke_hpack::Encoder<'static>,
    decoder: fluke_hpack::Decoder<'static>,
}

impl Wire {
    fn new() -> Self {
        Wire { encoder: fluke_hpack::Encoder::new(), decoder: fluke_hpack::Decoder::new() }
    }

    fn start() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frame(SETTINGS, 0, 0, &[]));
        out
    }

    /// A request on `stream`; with `body` the HEADERS frame leaves the
    /// stream open and a DATA frame ends it.
    fn request(&mut self, stream: u32, method: &str, path: &str, body: Option<&[u8]>) -> Vec<u8> {
        let fields: Vec<(&[u8], &[u8])> = vec![
            (b":method", method.as_bytes()),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", path.as_bytes()),
        ];
        let block = self.encoder.encode(fields);
        let flags = END_HEADERS | if body.is_none() { END_STREAM } else { 0 };
        let mut out = frame(HEADERS, flags, stream, &block);
        if let Some(body) = body {
            out.extend(frame(DATA, END_STREAM, stream, body));
        }
        out
    }
}

#[derive(Debug, Default)]
struct Answer {
    status: Option<u16>,
    body: Vec<u8>,
    done: bool,
    reset: bool,
}

/// One TLS connection driven by hand, so the test sees exactly what went
/// out as early data and what the server did with it.
struct Client {
    tcp: TcpStream,
    tls: ClientConnection,
    wire: Wire,
    plaintext: Vec<u8>,
    answers: HashMap<u32, Answer>,
    /// Every byte written to the socket, to replay the first flight.
    sent: Vec<u8>,
    /// Whether the connection preface has been written.
    started: bool,
    pending_acks: usize,
}

impl Client {
    fn connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = ClientConnection::new(Arc::clone(config), ServerName::try_from("localhost").unwrap()).unwrap();
        Client {
            tcp,
            tls,
            wire: Wire::new(),
            plaintext: Vec::new(),
            answers: HashMap::new(),
            sent: Vec::new(),
            started: false,
            pending_acks: 0,
        }
    }

    /// Writes `bytes` as early data; false when the client has no ticket
    /// that allows it (or not enough room).
    fn write_early(&mut self, bytes: &[u8]) -> bool {
        match self.tls.early_data() {
            Some(mut early) if early.bytes_left() >= bytes.len() => {
                early.write_all(bytes).unwrap();
                self.started |= bytes.starts_with(PREFACE);
                true
            }
            _ => false,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.writer().write_all(bytes).unwrap();
        self.started |= bytes.starts_with(PREFACE);
        self.flush();
    }

    fn flush(&mut self) {
        while self.started && self.pending_acks > 0 && !self.tls.is_handshaking() {
            self.pending_acks -= 1;
            self.tls.writer().write_all(&frame(SETTINGS, ACK, 0, &[])).unwrap();
        }
        while self.tls.wants_write() {
            let mut buf = Vec::new();
            self.tls.write_tls(&mut buf).unwrap();
            self.sent.extend_from_slice(&buf);
            self.tcp.write_all(&buf).unwrap();
        }
    }

    /// Reads and processes what the server sent, for up to `limit`.
    fn pump(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 16384];
        while Instant::now() < deadline {
            self.flush();
            match self.tcp.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    // read_tls takes at most what rustls will buffer: feed
                    // the rest after processing.
                    let mut ciphertext = &buf[..n];
                    while !ciphertext.is_empty() {
                        self.tls.read_tls(&mut ciphertext).unwrap();
                        self.tls.process_new_packets().expect("TLS from the server");
                        let mut chunk = Vec::new();
                        match self.tls.reader().read_to_end(&mut chunk) {
                            Ok(_) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                            Err(e) => panic!("reading plaintext: {e}"),
                        }
                        self.plaintext.extend_from_slice(&chunk);
                    }
                    self.parse_frames();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
                Err(e) => panic!("reading the socket: {e}"),
            }
        }
    }

    fn parse_frames(&mut self) {
        while self.plaintext.len() >= 9 {
            let len = (usize::from(self.plaintext[0]) << 16)
                | (usize::from(self.plaintext[1]) << 8)
                | usize::from(self.plaintext[2]);
            if self.plaintext.len() < 9 + len {
                return;
            }
            let (kind, flags) = (self.plaintext[3], self.plaintext[4]);
            let stream = u32::from_be_bytes(self.plaintext[5..9].try_into().unwrap()) & 0x7fff_ffff;
            let payload: Vec<u8> = self.plaintext[9..9 + len].to_vec();
            self.plaintext.drain(..9 + len);
            match kind {
                HEADERS => {
                    assert!(flags & END_HEADERS != 0, "the server's header blocks fit one frame");
                    let fields = self.wire.decoder.decode(&payload).expect("valid HPACK from the server");
                    let answer = self.answers.entry(stream).or_default();
                    for (name, value) in fields {
                        if name == b":status" {
                            answer.status = Some(std::str::from_utf8(&value).unwrap().parse().unwrap());
                        }
                    }
                    answer.done |= flags & END_STREAM != 0;
                }
                DATA => {
                    let answer = self.answers.entry(stream).or_default();
                    answer.body.extend_from_slice(&payload);
                    answer.done |= flags & END_STREAM != 0;
                }
                RST_STREAM => {
                    let answer = self.answers.entry(stream).or_default();
                    answer.reset = true;
                }
                // The server's SETTINGS may arrive (0.5-RTT) before this
                // client has written its preface; acknowledge after it.
                SETTINGS if flags & ACK == 0 => self.pending_acks += 1,
                GOAWAY | SETTINGS => {}
                _ => {}
            }
        }
    }

    /// Pumps until `stream` has a complete response.
    fn answer(&mut self, stream: u32) -> &Answer {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers.get(&stream).is_some_and(|a| a.done) {
            assert!(Instant::now() < deadline, "no complete response on stream {stream}: {:?}", self.answers);
            self.pump(Duration::from_millis(100));
        }
        &self.answers[&stream]
    }

    fn handshake(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.tls.is_handshaking() {
            assert!(Instant::now() < deadline, "handshake did not complete");
            self.pump(Duration::from_millis(50));
        }
    }

    fn resumed(&self) -> bool {
        self.tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }
}

/// A client configuration with early data on; every connection made with
/// it shares its in-memory ticket store.
fn early_config(server: &Server) -> Arc<rustls::ClientConfig> {
    let mut config = Arc::unwrap_or_clone(client_tls_config(server, &[b"h2"]));
    config.enable_early_data = true;
    Arc::new(config)
}

/// A full handshake and one request, so the client holds tickets.
fn prime(server: &Server, config: &Arc<rustls::ClientConfig>) {
    let mut c = Client::connect(server.tls, config);
    let mut out = Wire::start();
    out.extend(c.wire.request(1, "GET", "/", None));
    c.flush();
    c.handshake();
    c.send(&out);
    assert_eq!(c.answer(1).status, Some(200));
    // The tickets come after the handshake; give them a moment to arrive.
    c.pump(Duration::from_millis(200));
}

/// A resumed connection whose first flight carries the preface, SETTINGS
/// and `GET path` (stream 1) as early data, already sent.
fn early_get(server: &Server, config: &Arc<rustls::ClientConfig>, path: &str) -> Client {
    let mut c = Client::connect(server.tls, config);
    let mut early = Wire::start();
    early.extend(c.wire.request(1, "GET", path, None));
    assert!(c.write_early(&early), "the client has a ticket that allows early data");
    c.flush();
    c
}

/// The server's exit line with the 0-RTT counters, as numbers by name.
fn exit_counters(mut server: Server) -> HashMap<String, u64> {
    let status = server.signal_and_wait("TERM", Duration::from_secs(20));
    assert!(status.success());
    let line =
        server.stderr.try_iter().find(|l| l.contains("0-RTT:")).expect("h2ring prints its 0-RTT counters at exit");
    // "…0-RTT: offered 3, accepted 2, …; handshakes: full 1, resumed 2; …"
    let mut counters = HashMap::new();
    for part in line.split([',', ';', ':']) {
        let mut words = part.split_whitespace().rev();
        if let (Some(n), Some(name)) = (words.next(), words.next())
            && let Ok(n) = n.parse()
        {
            counters.insert(name.to_string(), n);
        }
    }
    counters
}

#[test]
fn an_early_get_is_served_from_the_first_flight() {
    let server = Server::start(&[]);
    let config = early_config(&server);
    prime(&server, &config);

    let mut c = early_get(&server, &config, "/");
    let answer = c.answer(1);
    assert_eq!(answer.status, Some(200));
    assert!(String::from_utf8_lossy(&answer.body).contains("/posts/"), "the index");
    assert!(c.tls.is_early_data_accepted(), "the server accepted the early data");
    assert!(c.resumed());

    let counters = exit_counters(server);
    assert_eq!(counters["offered"], 1, "{counters:?}");
    assert_eq!(counters["accepted"], 1, "{counters:?}");
    assert_eq!(counters["early"], 1, "served from early data: {counters:?}");
    assert_eq!(counters["425"], 0, "{counters:?}");
}

#[test]
fn unsafe_early_requests_get_425_and_succeed_after_the_handshake() {
    let server = Server::start(&[]);
    let config = early_config(&server);
    prime(&server, &config);

    let mut c = Client::connect(server.tls, &config);
    let mut early = Wire::start();
    early.extend(c.wire.request(1, "POST", "/", Some(b"comment=hi")));
    early.extend(c.wire.request(3, "GET", "/about", Some(b"a body")));
    early.extend(c.wire.request(5, "GET", "/", None));
    assert!(c.write_early(&early));
    c.flush();
    assert_eq!(c.answer(1).status, Some(425), "POST in early data");
    assert_eq!(c.answer(3).status, Some(425), "GET with a body in early data");
    assert_eq!(c.answer(5).status, Some(200), "a safe GET in the same flight");
    c.handshake();
    assert!(c.tls.is_early_data_accepted());

    // RFC 8470 §5.2: the client retries after the handshake; now the
    // requests are processed (a POST gets the site's 405: the blog is
    // read-only, but not 425).
    let mut retry = c.wire.request(7, "POST", "/", Some(b"comment=hi"));
    retry.extend(c.wire.request(9, "GET", "/about", Some(b"a body")));
    c.send(&retry);
    assert_eq!(c.answer(7).status, Some(405));
    assert_eq!(c.answer(9).status, Some(200));

    let counters = exit_counters(server);
    assert_eq!(counters["425"], 2, "{counters:?}");
    assert_eq!(counters["early"], 1, "{counters:?}");
}

#[test]
fn a_replayed_first_flight_gets_no_early_data() {
    let server = Server::start(&[]);
    let config = early_config(&server);
    prime(&server, &config);

    let mut c = early_get(&server, &config, "/");
    let first_flight = c.sent.clone();
    assert_eq!(c.answer(1).status, Some(200));
    assert!(c.tls.is_early_data_accepted());
    drop(c);

    // An attacker replays the captured bytes on a new TCP connection: the
    // ticket was taken when first used, so the server finds no session,
    // does a full handshake and skips the early data (RFC 8446 §8.1).
    let mut replay = TcpStream::connect(server.tls).unwrap();
    replay.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    replay.write_all(&first_flight).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = replay.read(&mut buf) {
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    assert_eq!(reply.first(), Some(&22), "the server answers with a handshake record (a fresh ServerHello)");
    drop(replay);

    let counters = exit_counters(server);
    assert_eq!(counters["offered"], 2, "{counters:?}");
    assert_eq!(counters["accepted"], 1, "only the original: {counters:?}");
    assert_eq!(counters["rejected"], 1, "the replay: {counters:?}");
    assert_eq!(counters["early"], 1, "the replayed GET was not answered: {counters:?}");
}

#[test]
fn tickets_resume_on_every_worker() {
    let server = Server::start(&[]); // two workers
    let config = early_config(&server);
    prime(&server, &config);
    // SO_REUSEPORT spreads connections over both workers by 4-tuple hash;
    // with 20 connections, both see resumptions (all on one worker has a
    // probability of 2^-19), so tickets issued by one worker are taken by
    // the other through the shared store.
    for i in 0..20 {
        let mut c = early_get(&server, &config, "/about");
        assert_eq!(c.answer(1).status, Some(200));
        c.handshake();
        assert!(c.resumed(), "connection {i} resumed");
        assert!(c.tls.is_early_data_accepted(), "connection {i}: early data accepted");
        // Collect the new tickets this connection brings.
        c.pump(Duration::from_millis(100));
    }
    let counters = exit_counters(server);
    assert_eq!(counters["resumed"], 20, "{counters:?}");
    assert!(counters["worker0"] > 0 && counters["worker1"] > 0, "both workers resumed sessions: {counters:?}");
}

#[test]
fn early_data_max_0_turns_0rtt_off_and_session_cache_0_resumption() {
    let server = Server::start(&["--early-data-max", "0"]);
    let config = early_config(&server);
    prime(&server, &config);
    let mut c = Client::connect(server.tls, &config);
    assert!(!c.write_early(&Wire::start()), "the ticket allows no early data");
    c.flush();
    c.handshake();
    assert!(c.resumed(), "resumption still works");
    drop(c);
    let counters = exit_counters(server);
    assert_eq!(counters["accepted"], 0, "{counters:?}");

    let server = Server::start(&["--session-cache", "0"]);
    let config = early_config(&server);
    prime(&server, &config);
    let mut c = Client::connect(server.tls, &config);
    assert!(!c.write_early(&Wire::start()), "no ticket was issued");
    c.flush();
    c.handshake();
    assert!(!c.resumed());
}
