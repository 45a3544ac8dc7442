//! The whole server path of one request, in memory: TLS 1.3 (rustls), the
//! HTTP/2 session and the blog's site lookup, driven exactly as a worker
//! drives them (`Session::on_recv` with what a receive delivered, then
//! `Session::fill_output` until it has nothing more to send), with no
//! socket, syscall or clock read in the loop. A regression anywhere between
//! the bytes a socket would hand the server and the bytes it would send
//! back shows here without a network.
//!
//! The client is measured too, unavoidably: each iteration includes its
//! encryption of the request, its decryption (rustls, AES-GCM) and parsing
//! of the response, about as much record work as the server's. Compare
//! runs of this benchmark with each other; BENCHMARKS.md says how to count
//! the server's share alone.
//!
//! `cargo bench --bench server_path`

use std::hint::black_box;
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use h2ring::h1::H1Config;
use h2ring::h2::conn::{ConnConfig, Method};
use h2ring::h2::frame::{
    CONNECTION_PREFACE, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LEN, FrameHeader, FrameType,
    flags, write_headers, write_ping, write_settings, write_settings_ack, write_window_update,
};
use h2ring::h2::hpack::integer::encode_integer;
use h2ring::h2::hpack::{DEFAULT_TABLE_SIZE, DecodeLimits, HpackDecoder};
use h2ring::runtime::ListenerKind;
use h2ring::runtime::worker::SEND_BATCH;
use h2ring::server::httpdate::{IMF_FIXDATE_LEN, format_imf_fixdate};
use h2ring::server::session::{RECORD_PLAINTEXT, Responder, Session, SessionConfig, Timeouts};
use h2ring::server::stats::WorkerStats;
use h2ring::server::{Handler, Query};
use h2ring::site::handler::Site;
use h2ring::tls;
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

/// What browsers send (brotli wins the negotiation).
const BROWSER_ENCODINGS: &[u8] = b"gzip, deflate, br";

/// 2025-11-19 00:00:00 UTC: one fixed `date`, as the worker's cache gives
/// every response within a second.
const DATE_SECONDS: u64 = 1_763_510_400;

/// The client returns received DATA bytes to a window once half of it is
/// used, as the `h2` crate and nghttp2 do; its windows stay at the
/// protocol's initial 65,535 bytes (RFC 9113 §6.9.2), so the connection
/// window is topped up every few responses.
const WINDOW_UPDATE_AT: u32 = DEFAULT_INITIAL_WINDOW_SIZE / 2;

/// The largest stream identifier (RFC 9113 §5.1.1); a connection that
/// used them all is replaced.
const MAX_STREAM_ID: u32 = (1 << 31) - 1;

/// Round trips after which a connection that still moves bytes is stuck
/// in a loop (the handshake and the HTTP/2 preface take three).
const MAX_ROUND_TRIPS: usize = 64;

/// What every connection shares: what `app::serve` builds with its
/// defaults, and a client that trusts the development certificate.
struct Fixture {
    sessions: SessionConfig,
    site: Site,
    stats: WorkerStats,
    date: [u8; IMF_FIXDATE_LEN],
    client_tls: Arc<ClientConfig>,
    /// Every `now` the session sees: no timeout can fire, and no clock is
    /// read in the loop.
    now: Instant,
}

impl Fixture {
    fn new() -> Fixture {
        // Criterion runs benchmarks from the package root, but be explicit.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cert_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server_path-certs");
        let (cert, key) = tls::ensure_dev_cert(&cert_dir).expect("development certificate");
        let certs = tls::CertReloader::load(cert.clone(), key).expect("load the development certificate");
        // `serve`'s defaults: 65,536 cached sessions, 16 KiB of early data,
        // HTTP/1.1 offered after h2; no HSTS with a development certificate.
        let (server_tls, _store) = tls::server_config(certs.resolver(), 65_536, 16_384, true);
        let sessions = SessionConfig {
            tls: Some(server_tls),
            hsts: None,
            h2: ConnConfig::default(),
            h1: H1Config::default(),
            http1: true,
            redirect_base: None,
            timeouts: Timeouts {
                handshake: Duration::from_secs(10),
                header: Duration::from_secs(10),
                idle: Duration::from_secs(60),
                write: Duration::from_secs(30),
            },
        };
        let (site, _summary) = h2ring::site::load(&root.join("content")).expect("load content/");
        Fixture {
            sessions,
            site,
            stats: WorkerStats::default(),
            date: format_imf_fixdate(DATE_SECONDS),
            client_tls: client_config(&cert),
            now: Instant::now(),
        }
    }

    fn responder(&self) -> Responder<'_> {
        Responder {
            sessions: &self.sessions,
            handler: &self.site,
            date: &self.date,
            stats: &self.stats,
            access_log: None,
        }
    }

    fn tls_client(&self) -> ClientConnection {
        let name = ServerName::try_from("localhost").expect("a DNS name");
        ClientConnection::new(Arc::clone(&self.client_tls), name).expect("client connection")
    }

    /// What the site answers `GET /` with, asked directly.
    fn expected(&self, accept_encoding: Option<&[u8]>) -> Expected {
        let query =
            Query { method: Method::Get, path: b"/", accept_encoding, if_none_match: None, if_modified_since: None };
        let response = self.site.respond(&query);
        assert_eq!(response.status, 200, "GET / on content/");
        let content_encoding = response.headers.iter().find(|f| f.name == b"content-encoding");
        Expected { body: response.body.len(), content_encoding: content_encoding.map(|f| f.value.to_vec()) }
    }
}

/// A client offering only `h2`, trusting only `cert`, never resuming (so
/// every handshake of `tls_handshake_full` is a full one).
fn client_config(cert: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(cert).expect("read the development certificate")).expect("a CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// `GET /` as a header block that is the same valid bytes every time:
/// static-table references and literals without indexing (RFC 7541 §6.1,
/// §6.2.2), so neither side's dynamic table changes from one request to
/// the next.
fn request_block(kind: ListenerKind, accept_encoding: Option<&[u8]>) -> Vec<u8> {
    // Static table (RFC 7541 Appendix A): 2 `:method GET`, 6 `:scheme
    // http`, 7 `:scheme https`, 4 `:path /`.
    let scheme = if kind == ListenerKind::Tls { 0x87 } else { 0x86 };
    let mut block = vec![0x82, scheme, 0x84];
    // Names from the static table: 1 `:authority`, 16 `accept-encoding`.
    literal_without_indexing(1, b"localhost", &mut block);
    if let Some(value) = accept_encoding {
        literal_without_indexing(16, value, &mut block);
    }
    block
}

/// RFC 7541 §6.2.2 with an indexed name: `0000` and a 4-bit index, then
/// the value as a plain (not Huffman-coded) string.
fn literal_without_indexing(name_index: usize, value: &[u8], out: &mut Vec<u8>) {
    encode_integer(name_index, 4, 0x00, out);
    encode_integer(value.len(), 7, 0x00, out);
    out.extend_from_slice(value);
}

/// The response the site gives, for checking what came over the wire.
#[derive(Debug)]
struct Expected {
    body: usize,
    content_encoding: Option<Vec<u8>>,
}

/// What the client saw of the response on its current stream. The fields
/// from the header block are filled only while it decodes them (setup).
#[derive(Debug, Default)]
struct Seen {
    status: Option<u16>,
    content_length: Option<usize>,
    content_encoding: Option<Vec<u8>>,
    /// DATA payload bytes, padding excluded.
    body: usize,
    done: bool,
}

/// One connection: a server `Session` and a minimal HTTP/2 client, over
/// TLS (rustls) or cleartext, with bytes handed across in memory.
struct Conn<'f> {
    fixture: &'f Fixture,
    kind: ListenerKind,
    session: Session,
    /// `None`: h2c.
    tls: Option<Box<ClientConnection>>,
    /// HTTP/2 frames the client has yet to send.
    outgoing: Vec<u8>,
    /// What goes to the server in one receive (ciphertext with TLS).
    wire: Vec<u8>,
    /// One `fill_output` worth of the server's bytes.
    from_server: Vec<u8>,
    /// The client's plaintext, not yet parsed into frames.
    inbox: Vec<u8>,
    /// The worker's plaintext buffer, lent to the session.
    scratch: Vec<u8>,
    /// The client's plaintext read buffer.
    read_buf: Vec<u8>,
    /// Set while header blocks are checked (setup only); then the client
    /// keeps no compression context, so it must never decode again.
    decoder: Option<HpackDecoder>,
    header_block: Vec<u8>,
    current: u32,
    response: Seen,
    next_stream: u32,
    /// DATA bytes received and not yet returned with a WINDOW_UPDATE.
    conn_unacked: u32,
    stream_unacked: u32,
    settings_received: bool,
    settings_acked: bool,
}

impl<'f> Conn<'f> {
    /// A connection whose client has queued its preface and SETTINGS
    /// (RFC 9113 §3.4); nothing has been exchanged yet.
    fn start(fixture: &'f Fixture, kind: ListenerKind, tls: Option<ClientConnection>, decode: bool) -> Self {
        let mut outgoing = CONNECTION_PREFACE.to_vec();
        write_settings(&mut outgoing, &[]);
        Conn {
            fixture,
            kind,
            session: Session::new(kind, &fixture.sessions, fixture.now),
            tls: tls.map(Box::new),
            outgoing,
            wire: Vec::new(),
            from_server: Vec::new(),
            inbox: Vec::new(),
            scratch: vec![0; RECORD_PLAINTEXT],
            read_buf: vec![0; RECORD_PLAINTEXT],
            decoder: decode.then(|| HpackDecoder::new(DEFAULT_TABLE_SIZE)),
            header_block: Vec::new(),
            current: 0,
            response: Seen::default(),
            next_stream: 1,
            conn_unacked: 0,
            stream_unacked: 0,
            settings_received: false,
            settings_acked: false,
        }
    }

    /// A connection through its TLS handshake (if any) and the exchange of
    /// SETTINGS, ready for requests.
    fn established(fixture: &'f Fixture, kind: ListenerKind, decode: bool) -> Self {
        let tls = (kind == ListenerKind::Tls).then(|| fixture.tls_client());
        let mut conn = Conn::start(fixture, kind, tls, decode);
        conn.settle();
        assert!(conn.settings_received && conn.settings_acked, "SETTINGS exchanged");
        conn
    }

    /// Exchanges bytes until neither side has anything more to say.
    fn settle(&mut self) {
        for _ in 0..MAX_ROUND_TRIPS {
            if !self.round_trip() {
                assert_eq!(self.session.close_reason(), None, "the session closed");
                return;
            }
        }
        panic!("no quiet after {MAX_ROUND_TRIPS} round trips");
    }

    /// Sends one request and reads its whole response.
    fn get(&mut self, block: &[u8]) -> &Seen {
        let stream = self.next_stream;
        self.next_stream += 2;
        self.current = stream;
        self.response = Seen::default();
        self.stream_unacked = 0;
        write_headers(&mut self.outgoing, stream, block, true, DEFAULT_MAX_FRAME_SIZE);
        for _ in 0..MAX_ROUND_TRIPS {
            let moved = self.round_trip();
            if self.response.done {
                return &self.response;
            }
            assert!(
                moved,
                "the server stalled on stream {stream}: {:?}, {:?}",
                self.response,
                self.session.close_reason()
            );
        }
        panic!("stream {stream} unfinished after {MAX_ROUND_TRIPS} round trips");
    }

    /// Replaces a connection that has used every stream identifier (after
    /// about a billion requests).
    fn renew_if_exhausted(&mut self) {
        if self.next_stream > MAX_STREAM_ID {
            *self = Conn::established(self.fixture, self.kind, false);
        }
    }

    /// Checks two responses to `block` with the header blocks decoded (the
    /// second one as the loop sees them: the server's encoder warm), then
    /// stops decoding.
    fn verify(&mut self, block: &[u8], expected: &Expected) {
        for _ in 0..2 {
            let seen = self.get(block);
            assert_eq!(seen.status, Some(200), "{seen:?}");
            assert_eq!(seen.body, expected.body, "{seen:?}");
            assert_eq!(seen.content_length, Some(expected.body), "{seen:?}");
            assert_eq!(seen.content_encoding, expected.content_encoding, "{seen:?}");
        }
        self.settle();
        self.decoder = None;
    }

    /// The client's pending frames to the server, then everything the
    /// server has to send back to the client. Returns whether any byte
    /// moved.
    fn round_trip(&mut self) -> bool {
        let fixture = self.fixture;
        let responder = fixture.responder();
        let now = fixture.now;
        self.wire.clear();
        match &mut self.tls {
            Some(client) => {
                if !self.outgoing.is_empty() {
                    // rustls buffers it until the handshake is done.
                    client.writer().write_all(&self.outgoing).expect("client plaintext");
                }
                while client.wants_write() {
                    client.write_tls(&mut self.wire).expect("client records");
                }
            }
            None => self.wire.extend_from_slice(&self.outgoing),
        }
        self.outgoing.clear();
        let mut moved = !self.wire.is_empty();
        if moved {
            self.session.on_recv(&self.wire, &responder, &mut self.scratch, now);
        }
        // The worker fills up to `SEND_BATCH` once a connection's sends
        // complete quickly, as they all do here.
        loop {
            self.from_server.clear();
            self.session.fill_output(&mut self.from_server, &mut self.scratch, SEND_BATCH, &responder, now);
            if self.from_server.is_empty() {
                break;
            }
            moved = true;
            self.client_receive();
        }
        self.read_frames();
        moved
    }

    /// `from_server` into the client's plaintext inbox.
    fn client_receive(&mut self) {
        let Some(client) = &mut self.tls else {
            self.inbox.extend_from_slice(&self.from_server);
            return;
        };
        let mut records = &self.from_server[..];
        while !records.is_empty() {
            client.read_tls(&mut records).expect("server records");
            client.process_new_packets().expect("the server's TLS");
            // Drained after each batch: rustls holds only so much plaintext.
            loop {
                match client.reader().read(&mut self.read_buf) {
                    Ok(0) => panic!("the server sent close_notify"),
                    Ok(n) => self.inbox.extend_from_slice(&self.read_buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("client read: {e}"),
                }
            }
        }
    }

    /// Handles every complete frame in the inbox, then queues the
    /// WINDOW_UPDATEs that are due.
    fn read_frames(&mut self) {
        let inbox = std::mem::take(&mut self.inbox);
        let mut pos = 0;
        while let Some(head) = inbox.get(pos..pos + FRAME_HEADER_LEN) {
            let header = FrameHeader::parse(head.try_into().expect("9 bytes"));
            let end = pos + FRAME_HEADER_LEN + header.length as usize;
            let Some(payload) = inbox.get(pos + FRAME_HEADER_LEN..end) else { break };
            self.on_frame(&header, payload);
            pos = end;
        }
        self.inbox = inbox;
        self.inbox.drain(..pos);
        if self.conn_unacked >= WINDOW_UPDATE_AT {
            write_window_update(&mut self.outgoing, 0, self.conn_unacked);
            self.conn_unacked = 0;
        }
        // A finished stream needs no more window (RFC 9113 §6.9).
        if !self.response.done && self.stream_unacked >= WINDOW_UPDATE_AT {
            write_window_update(&mut self.outgoing, self.current, self.stream_unacked);
            self.stream_unacked = 0;
        }
    }

    fn on_frame(&mut self, header: &FrameHeader, payload: &[u8]) {
        let end_stream = header.flags & flags::END_STREAM != 0;
        match header.kind {
            FrameType::Data => {
                assert_eq!(header.stream_id, self.current, "DATA on another stream");
                // The whole payload counts against the windows (§6.9.1).
                self.conn_unacked += header.length;
                self.stream_unacked += header.length;
                self.response.body += payload.len() - padding(header, payload);
                self.response.done |= end_stream;
            }
            FrameType::Headers => {
                assert_eq!(header.stream_id, self.current, "HEADERS on another stream");
                let mut start = 0;
                if header.flags & flags::PADDED != 0 {
                    start += 1;
                }
                if header.flags & flags::PRIORITY != 0 {
                    start += 5;
                }
                let fragment = &payload[start..payload.len() - padding(header, payload)];
                self.header_fragment(fragment, header.flags & flags::END_HEADERS != 0);
                self.response.done |= end_stream;
            }
            FrameType::Continuation => self.header_fragment(payload, header.flags & flags::END_HEADERS != 0),
            FrameType::Settings if header.flags & flags::ACK != 0 => self.settings_acked = true,
            FrameType::Settings => {
                self.settings_received = true;
                write_settings_ack(&mut self.outgoing);
            }
            FrameType::Ping if header.flags & flags::ACK == 0 => {
                let data: [u8; 8] = payload.try_into().expect("an 8-byte PING");
                write_ping(&mut self.outgoing, true, data);
            }
            FrameType::RstStream | FrameType::GoAway => panic!("the server sent {header:?}: {payload:?}"),
            // WINDOW_UPDATE: this client sends no DATA.
            _ => {}
        }
    }

    /// A piece of the response's header block, decoded once whole.
    fn header_fragment(&mut self, fragment: &[u8], end_headers: bool) {
        let Some(decoder) = &mut self.decoder else { return };
        self.header_block.extend_from_slice(fragment);
        if !end_headers {
            return;
        }
        let seen = &mut self.response;
        decoder
            .decode(&self.header_block, DecodeLimits::UNLIMITED, |field| {
                let text = std::str::from_utf8(field.value).ok();
                match field.name {
                    b":status" => seen.status = text.and_then(|v| v.parse().ok()),
                    b"content-length" => seen.content_length = text.and_then(|v| v.parse().ok()),
                    b"content-encoding" => seen.content_encoding = Some(field.value.to_vec()),
                    _ => {}
                }
            })
            .expect("the server's header block");
        self.header_block.clear();
    }
}

/// Bytes of padding (with the length octet) of a PADDED frame (§6.1).
fn padding(header: &FrameHeader, payload: &[u8]) -> usize {
    if header.flags & flags::PADDED == 0 {
        return 0;
    }
    1 + usize::from(payload[0])
}

fn bench_server_path(c: &mut Criterion) {
    let fixture = Fixture::new();
    let mut group = c.benchmark_group("server_path");
    group.throughput(Throughput::Elements(1));

    // Requests on a warm connection: the steady state of a busy server.
    for (name, kind, accept_encoding) in [
        ("tls_h2_index", ListenerKind::Tls, Some(BROWSER_ENCODINGS)),
        // Like h2load, which sends no accept-encoding.
        ("tls_h2_index_identity", ListenerKind::Tls, None),
        ("h2c_index_identity", ListenerKind::H2c, None),
    ] {
        let block = request_block(kind, accept_encoding);
        let mut conn = Conn::established(&fixture, kind, true);
        conn.verify(&block, &fixture.expected(accept_encoding));
        group.bench_function(name, |b| {
            b.iter(|| {
                conn.renew_if_exhausted();
                black_box(conn.get(&block).body)
            })
        });
    }

    // A new client each time: full TLS 1.3 handshake (the client's
    // certificate verification included), preface and SETTINGS sent with
    // the first request as a browser does, the response read, the
    // client's SETTINGS ACK delivered.
    let block = request_block(ListenerKind::Tls, None);
    let expected = fixture.expected(None);
    let mut check = Conn::start(&fixture, ListenerKind::Tls, Some(fixture.tls_client()), true);
    let seen = check.get(&block);
    assert_eq!((seen.status, seen.body), (Some(200), expected.body), "{seen:?}");
    check.settle();
    let kind = check.tls.as_ref().and_then(|client| client.handshake_kind());
    assert_eq!(kind, Some(HandshakeKind::Full));
    group.bench_function("tls_handshake_full", |b| {
        b.iter_batched(
            || fixture.tls_client(),
            |client| {
                let mut conn = Conn::start(&fixture, ListenerKind::Tls, Some(client), false);
                black_box(conn.get(&block).body);
                conn.settle();
                // Dropped outside the measurement.
                conn
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench_server_path);
criterion_main!(benches);
