//! One client connection above the transport: TLS 1.3 (rustls) on a TLS
//! listener, then HTTP/2 or HTTP/1.1 as ALPN chose ([`super::proto`]).
//! Ciphertext in from the backend, plaintext through the protocol core
//! and the handler ([`super::respond`]), ciphertext out. No clock is read
//! here: the worker passes `now` in.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::ServerConfig;
use rustls::server::{Acceptor, ServerConnection};

use super::Handler;
use super::access_log::AccessLog;
use super::proto::AppConn;
use super::respond;
use super::stats::{Counter, WorkerStats};
use crate::h1::H1Config;
use crate::h2::conn::{ConnConfig, Connection, Limit};
use crate::runtime::ListenerKind;
use crate::tls::{self, AppProtocol, ClientHelloOutcome};

/// The largest plaintext one TLS record carries (RFC 8446 §5.1): the size
/// of the scratch buffer the worker lends to every session.
pub const RECORD_PLAINTEXT: usize = 16 * 1024;

/// What TLS 1.3 adds to a record's plaintext: the 5-byte header, the inner
/// content type and the 16-byte AEAD tag (RFC 8446 §5.2).
pub const RECORD_OVERHEAD: usize = 22;

/// How far [`Session::fill_output`] may go past its `limit`: it appends only
/// while below it, one TLS record (h2c: one 16 KiB chunk) at a time, and a
/// close_notify alert may follow the last one. With the worker's one send
/// in flight per connection, this bounds what a connection whose peer never
/// reads makes us hold: `limit + FILL_SLACK` bytes, in one buffer.
pub const FILL_SLACK: usize = RECORD_PLAINTEXT + RECORD_OVERHEAD + 64;

/// Makes room in `out` for `more` bytes, growing it geometrically but never
/// past `ceiling` (so a buffer filled to `limit + FILL_SLACK` is allocated
/// at that size, not doubled to twice the limit).
fn make_room(out: &mut Vec<u8>, more: usize, ceiling: usize) {
    let need = out.len() + more;
    if need <= out.capacity() {
        return;
    }
    let target = need.max(out.capacity() * 2).min(ceiling.max(need));
    out.reserve_exact(target - out.len());
}

/// Limits on how long a connection may take, all measured by the worker
/// (swept once a second, so each fires up to a second late).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From accept to a finished TLS handshake, however the bytes trickle
    /// in (a ClientHello sent a byte at a time is cut off all the same).
    pub handshake: Duration,
    /// From the first byte of a frame or header block to its last; and
    /// from accept (h2c) or the end of the TLS handshake to the end of the
    /// client's preface and first SETTINGS frame.
    pub header: Duration,
    /// With no stream open and nothing to send.
    pub idle: Duration,
    /// How long output may wait on the peer without progress: a send that
    /// does not complete (the peer does not read from TCP), or response
    /// body held back because the peer keeps its flow-control windows shut
    /// (CVE-2019-9511, CVE-2019-9517).
    pub write: Duration,
}

/// What every session of a server shares.
pub struct SessionConfig {
    pub tls: Option<Arc<ServerConfig>>,
    /// The `strict-transport-security` value sent on TLS connections
    /// (never on cleartext ones: RFC 6797 §7.2); `None` sends none.
    pub hsts: Option<Bytes>,
    pub h2: ConnConfig,
    pub h1: H1Config,
    /// Whether TLS clients may speak HTTP/1.1 (`--no-http1` turns it off).
    pub http1: bool,
    /// `https://` + `--public-host`: where the redirect listener sends
    /// every request (the path is appended).
    pub redirect_base: Option<Bytes>,
    pub timeouts: Timeouts,
}

/// TLS 1.3 0-RTT on this connection (RFC 8446 §4.2.10).
#[derive(Clone, Copy, Debug, Default)]
struct EarlyState {
    /// rustls accepted the client's early data: its first flight is read
    /// as early data, and responses may go before its Finished (0.5-RTT).
    accepted: bool,
}

enum Transport {
    Plain,
    /// Reading the ClientHello, to pick the protocol (or refuse the client).
    Accepting(Box<Acceptor>),
    Tls(Box<ServerConnection>),
}

/// Why a session ends; for logs and, later, metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    PeerClosed,
    TlsError,
    /// No protocol in common (ALPN, RFC 7301 §3.2).
    NoProtocol,
    ProtocolError,
    HandshakeTimeout,
    HeaderTimeout,
    Idle,
    /// The peer did not take our output for the write timeout.
    WriteTimeout,
}

impl CloseReason {
    /// Whether nothing more should be sent but what TLS needs to end:
    /// the peer is gone or the TLS layer failed.
    fn is_abrupt(self) -> bool {
        matches!(self, Self::PeerClosed | Self::TlsError | Self::NoProtocol | Self::HandshakeTimeout)
    }
}

/// What a timeout sweep did to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swept {
    /// Nothing changed.
    Unchanged,
    /// It has something to send or wants to close: flush it.
    Changed,
    /// A send has waited on the peer for the write timeout: nothing more
    /// can be delivered, close the socket now (the send is cancelled).
    Abandon,
}

pub struct Session {
    transport: Transport,
    /// The client's first bytes, kept only when the ClientHello spans more
    /// than one receive, to see whether it offered early data.
    hello: Vec<u8>,
    early: EarlyState,
    handshake_counted: bool,
    app: AppConn,
    /// Bytes to send before anything else (a TLS alert from the acceptor).
    raw_out: Vec<u8>,
    close: Option<CloseReason>,
    close_notify_sent: bool,
    accepted_at: Instant,
    last_activity: Instant,
    /// Since when the client owes us the rest of something: a frame, a
    /// header block, or its preface and first SETTINGS.
    partial_since: Option<Instant>,
    /// Since when a send has been in flight (the worker's one per
    /// connection); `None` once it completed.
    send_since: Option<Instant>,
    /// Since when response body has waited only for the peer's windows.
    window_blocked_since: Option<Instant>,
    /// The write timeout struck while a send was stuck.
    abandoned: bool,
    /// Responses queued since [`Session::take_answered`] last looked.
    answered: u32,
}

impl Session {
    pub fn new(kind: ListenerKind, cfg: &SessionConfig, now: Instant) -> Self {
        let (transport, app) = match (kind, &cfg.tls) {
            (ListenerKind::Tls, Some(_)) => (Transport::Accepting(Box::default()), AppConn::Pending),
            (ListenerKind::Redirect, _) => (Transport::Plain, AppConn::h1(&cfg.h1, true)),
            _ => (Transport::Plain, AppConn::H2(Connection::new(cfg.h2.clone()))),
        };
        // Without TLS the preface is owed from the start; with TLS, from
        // the end of the handshake (`on_recv`).
        let partial_since = matches!(app, AppConn::H2(_)).then_some(now);
        Self {
            transport,
            hello: Vec::new(),
            early: EarlyState::default(),
            handshake_counted: false,
            app,
            raw_out: Vec::new(),
            close: None,
            close_notify_sent: false,
            accepted_at: now,
            last_activity: now,
            partial_since,
            send_since: None,
            window_blocked_since: None,
            abandoned: false,
            answered: 0,
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.close.get_or_insert(reason);
    }

    /// Bytes from the peer. `scratch` is the worker's plaintext buffer.
    pub fn on_recv(&mut self, mut data: &[u8], responder: &Responder<'_>, scratch: &mut [u8], now: Instant) {
        let cfg = responder.sessions;
        self.last_activity = now;
        // Set when the acceptor hands over a connection: the records that
        // came with the ClientHello are buffered but not yet processed.
        let mut unprocessed = false;
        while self.close.is_none() && (!data.is_empty() || unprocessed) {
            match &mut self.transport {
                Transport::Plain => {
                    self.answered += respond::feed(&mut self.app, &mut self.close, data, responder, false, false);
                    data = &[];
                }
                Transport::Accepting(acceptor) => {
                    // Usually the whole ClientHello is in the first receive
                    // and is scanned in place; only a fragmented one is kept.
                    let arrived = data;
                    if acceptor.read_tls(&mut data).is_err() {
                        self.close_with(CloseReason::TlsError);
                        break;
                    }
                    // A TLS listener always has a configuration (start-up
                    // checks it); without one, refuse rather than panic.
                    let Some(config) = cfg.tls.as_ref() else {
                        self.close_with(CloseReason::TlsError);
                        break;
                    };
                    let consumed = &arrived[..arrived.len() - data.len()];
                    match tls::accept_client_hello(acceptor, config, cfg.http1) {
                        ClientHelloOutcome::NeedMore => {
                            if self.hello.len() + consumed.len() <= tls::client_hello::MAX_CLIENT_HELLO_LEN + 1024 {
                                self.hello.extend_from_slice(consumed);
                            }
                        }
                        ClientHelloOutcome::Proceed(mut conn, protocol) => {
                            let offered = if self.hello.is_empty() {
                                scan_early_data(consumed)
                            } else {
                                self.hello.extend_from_slice(consumed);
                                scan_early_data(&self.hello)
                            };
                            self.hello = Vec::new();
                            // rustls decided while taking the ClientHello.
                            let accepted = conn.early_data().is_some();
                            self.early = EarlyState { accepted };
                            if offered {
                                responder.stats.bump(Counter::EarlyOffered);
                                let verdict = if accepted { Counter::EarlyAccepted } else { Counter::EarlyRejected };
                                responder.stats.bump(verdict);
                            }
                            self.transport = Transport::Tls(conn);
                            self.app = match protocol {
                                AppProtocol::H2 => AppConn::H2(Connection::new(cfg.h2.clone())),
                                AppProtocol::Http11 => AppConn::h1(&cfg.h1, false),
                            };
                            unprocessed = true;
                        }
                        ClientHelloOutcome::Refuse { alert, error } => {
                            self.raw_out.extend_from_slice(&alert);
                            // RFC 7301 §3.2: no protocol in common.
                            let reason = if error == rustls::Error::NoApplicationProtocol {
                                CloseReason::NoProtocol
                            } else {
                                CloseReason::TlsError
                            };
                            self.close_with(reason);
                        }
                    }
                }
                Transport::Tls(conn) => {
                    unprocessed = false;
                    if !data.is_empty() && conn.read_tls(&mut data).is_err() {
                        self.close_with(CloseReason::TlsError);
                        break;
                    }
                    // On error rustls has queued the alert; fill_output sends it.
                    if conn.process_new_packets().is_err() {
                        self.close_with(CloseReason::TlsError);
                        break;
                    }
                    if !self.handshake_counted && !conn.is_handshaking() {
                        self.handshake_counted = true;
                        let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                        responder.stats.bump(if resumed { Counter::HandshakeResumed } else { Counter::HandshakeFull });
                    }
                    // Early data precedes everything else the client sends
                    // (RFC 8446 §2.3), so it is drained first, into the
                    // protocol core's early input.
                    if self.early.accepted
                        && let Some(mut early) = conn.early_data()
                    {
                        while self.close.is_none() {
                            match early.read(scratch) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    let input = &scratch[..n];
                                    self.answered +=
                                        respond::feed(&mut self.app, &mut self.close, input, responder, true, true);
                                }
                            }
                        }
                    }
                    loop {
                        match conn.reader().read(scratch) {
                            Ok(0) => {
                                // close_notify: the client is done.
                                self.close_with(CloseReason::PeerClosed);
                                break;
                            }
                            Ok(n) => {
                                let input = &scratch[..n];
                                self.answered +=
                                    respond::feed(&mut self.app, &mut self.close, input, responder, true, false);
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                self.close_with(CloseReason::PeerClosed);
                                break;
                            }
                        }
                    }
                }
            }
        }
        // A client owes the rest of a frame or header block, or, once the
        // handshake is over, its preface and SETTINGS (slowloris).
        let owes = self.app.has_partial_input() || (!self.handshaking() && !self.app.is_established());
        self.partial_since = if owes { Some(self.partial_since.unwrap_or(now)) } else { None };
        self.note_window(now);
    }

    fn handshaking(&self) -> bool {
        match &self.transport {
            Transport::Accepting(_) => true,
            Transport::Tls(conn) => conn.is_handshaking(),
            Transport::Plain => false,
        }
    }

    /// Starts or stops the clock of response body held back by the peer's
    /// flow-control windows. Called after input (a WINDOW_UPDATE or
    /// SETTINGS may open them) and after output (sending may use them up):
    /// any frame that lets output out again restarts it.
    fn note_window(&mut self, now: Instant) {
        let blocked = self.close.is_none() && self.app.send_blocked_on_peer_window();
        self.window_blocked_since = if blocked { Some(self.window_blocked_since.unwrap_or(now)) } else { None };
    }

    /// The worker handed output to the backend: the write timeout runs
    /// until it completes.
    pub fn on_send_started(&mut self, now: Instant) {
        self.send_since.get_or_insert(now);
    }

    /// The send completed: the peer took every byte of it.
    pub fn on_sent(&mut self) {
        self.send_since = None;
    }

    /// Whether the write timeout struck with a send stuck: the worker
    /// closes the socket at once, without waiting for the send.
    pub fn abandoned(&self) -> bool {
        self.abandoned
    }

    /// The peer closed its sending side (or the socket failed).
    pub fn on_peer_closed(&mut self) {
        self.close_with(CloseReason::PeerClosed);
    }

    /// Starts a graceful shutdown: GOAWAY, in-flight streams finish
    /// (HTTP/1.1: the request in progress is answered, then close).
    pub fn shutdown(&mut self) {
        self.app.shutdown();
    }

    /// Appends bytes to send to `out`, up to about `limit` bytes (at most
    /// [`FILL_SLACK`] more), so one busy connection cannot monopolise a
    /// loop turn, nor make the worker buffer without bound. HTTP/1.1
    /// requests held back until output drained are answered here.
    pub fn fill_output(
        &mut self,
        out: &mut Vec<u8>,
        scratch: &mut [u8],
        limit: usize,
        responder: &Responder<'_>,
        now: Instant,
    ) {
        let ceiling = limit + FILL_SLACK;
        out.append(&mut self.raw_out);
        let app = &mut self.app;
        match &mut self.transport {
            Transport::Accepting(_) => {}
            Transport::Plain => {
                if self.close.is_none() {
                    self.answered += respond::pump(app, responder, false);
                }
                while out.len() < limit && app.has_output() {
                    make_room(out, RECORD_PLAINTEXT, ceiling);
                    // Straight into the send buffer, one 16 KiB step at a
                    // time so the buffer grows as `make_room` allows.
                    let step = (out.len() + RECORD_PLAINTEXT).min(limit);
                    if app.append_output(out, step) == 0 {
                        break;
                    }
                    if self.close.is_none() {
                        self.answered += respond::pump(app, responder, false);
                    }
                }
            }
            Transport::Tls(conn) => {
                let abrupt = self.close.is_some_and(CloseReason::is_abrupt);
                loop {
                    while conn.wants_write() && out.len() < limit {
                        // One record at a time (the handshake's flight fits one).
                        make_room(out, RECORD_PLAINTEXT + RECORD_OVERHEAD, ceiling);
                        if conn.write_tls(out).is_err() {
                            break;
                        }
                    }
                    // Plaintext waits in the protocol core until the
                    // handshake is done, not in rustls's buffers; with
                    // early data accepted, answers to early requests go at
                    // once, after our Finished (0.5-RTT, RFC 8446 §4.4.4).
                    let hold = conn.is_handshaking() && !self.early.accepted;
                    if !hold && !abrupt && self.close.is_none() {
                        self.answered += respond::pump(app, responder, true);
                    }
                    if out.len() >= limit || hold || abrupt || !app.has_output() {
                        break;
                    }
                    let n = app.write_output(scratch);
                    if n == 0 || conn.writer().write_all(&scratch[..n]).is_err() {
                        break;
                    }
                }
                if self.close_notify_due(abrupt) {
                    // RFC 8446 §6.1: say we are done before closing.
                    let Transport::Tls(conn) = &mut self.transport else { return };
                    conn.send_close_notify();
                    self.close_notify_sent = true;
                    while conn.wants_write() && conn.write_tls(out).is_ok() {}
                }
            }
        }
        if !out.is_empty() {
            self.last_activity = now;
        }
        self.note_window(now);
    }

    /// Whether the TLS close_notify should go out now: the session is ending,
    /// the handshake finished, and the protocol core has said its last.
    fn close_notify_due(&self, abrupt: bool) -> bool {
        let Transport::Tls(conn) = &self.transport else { return false };
        let ending = self.close.is_some() || self.app.is_closed();
        ending
            && !self.close_notify_sent
            && !conn.is_handshaking()
            && self.close != Some(CloseReason::TlsError)
            && (abrupt || !self.app.has_output())
    }

    /// True once the session has nothing more to say: the worker closes
    /// the socket after the last send completes.
    pub fn wants_close(&self) -> bool {
        if !(self.close.is_some() || self.app.is_closed()) || !self.raw_out.is_empty() {
            return false;
        }
        let abrupt = self.close.is_some_and(CloseReason::is_abrupt);
        if let Transport::Tls(conn) = &self.transport
            && (conn.wants_write() || self.close_notify_due(abrupt))
        {
            return false;
        }
        abrupt || !self.app.has_output()
    }

    /// A limit the client ran into since the last call, each kind once per
    /// connection: the worker counts and logs it.
    pub fn take_new_limit_hit(&mut self) -> Option<Limit> {
        self.app.take_new_limit_hit()
    }

    /// One second passed (the worker's sweep): refills the protocol core's
    /// flood budgets, then applies the timeouts.
    pub fn check_timeouts(&mut self, t: &Timeouts, now: Instant) -> Swept {
        self.app.tick();
        let expired = |since: Option<Instant>, limit: Duration| since.is_some_and(|s| now.duration_since(s) >= limit);
        // Even while closing: a GOAWAY or close_notify the peer never
        // reads must not keep the connection either.
        if !self.abandoned && expired(self.send_since, t.write) {
            self.abandoned = true;
            self.close_with(CloseReason::WriteTimeout);
            return Swept::Abandon;
        }
        if self.close.is_some() {
            return Swept::Unchanged;
        }
        if self.handshaking() {
            // From accept, not from the last byte: a ClientHello dribbled a
            // byte at a time gets no more time than a silent client.
            if now.duration_since(self.accepted_at) >= t.handshake {
                self.close_with(CloseReason::HandshakeTimeout);
                return Swept::Changed;
            }
            return Swept::Unchanged;
        }
        if expired(self.partial_since, t.header) {
            // A frame, header block or preface that never completes
            // (slowloris).
            self.app.header_timeout();
            self.close_with(CloseReason::HeaderTimeout);
            return Swept::Changed;
        }
        if expired(self.window_blocked_since, t.write) {
            // Response body the peer never lets out (zero windows).
            self.app.write_timeout();
            self.close_with(CloseReason::WriteTimeout);
            return Swept::Changed;
        }
        if self.app.is_idle() && now.duration_since(self.last_activity) >= t.idle {
            self.app.shutdown();
            self.close_with(CloseReason::Idle);
            return Swept::Changed;
        }
        Swept::Unchanged
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// How many responses were queued since the last call (the worker
    /// times them until their output has gone out).
    pub fn take_answered(&mut self) -> u32 {
        std::mem::take(&mut self.answered)
    }

    /// Whether output is waiting to be filled into a send (protocol or
    /// TLS bytes not yet handed to the worker, or response body held back
    /// by the peer's flow-control windows).
    pub fn output_pending(&self) -> bool {
        if !self.raw_out.is_empty() || self.app.has_output() || self.window_blocked_since.is_some() {
            return true;
        }
        matches!(&self.transport, Transport::Tls(conn) if conn.wants_write())
    }
}

/// What a worker lends its sessions to answer requests: the handler (the
/// worker's current site) and the `date` value of this second.
pub struct Responder<'a> {
    pub sessions: &'a SessionConfig,
    pub handler: &'a dyn Handler,
    pub date: &'a [u8],
    /// This worker's counters.
    pub stats: &'a WorkerStats,
    /// This worker's access log, with `--access-log`.
    pub access_log: Option<&'a AccessLog>,
}

/// Whether the ClientHello in `first_flight` offers early data; a hello
/// that cannot be read counts as not offering (rustls refuses it anyway).
fn scan_early_data(first_flight: &[u8]) -> bool {
    matches!(tls::client_hello::scan(first_flight), tls::client_hello::ClientHelloScan::Found { early_data: true, .. })
}
