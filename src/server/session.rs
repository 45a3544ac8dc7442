//! One client connection above the transport: TLS 1.3 (rustls) on a TLS
//! listener, then HTTP/2. Ciphertext in from the backend, plaintext through
//! the protocol core and the handler, ciphertext out. No clock is read
//! here: the worker passes `now` in.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::ServerConfig;
use rustls::server::{Acceptor, ServerConnection};

use super::Handler;
use crate::h2::conn::{ConnConfig, Connection, Event};
use crate::h2::error::ErrorCode;
use crate::runtime::ListenerKind;
use crate::tls::{self, ClientHelloOutcome};

/// The largest plaintext one TLS record carries (RFC 8446 §5.1): the size
/// of the scratch buffer the worker lends to every session.
pub const RECORD_PLAINTEXT: usize = 16 * 1024;

/// Limits on how long a connection may take, all measured by the worker.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From accept to a finished TLS handshake.
    pub handshake: Duration,
    /// From the first byte of a frame or header block to its last.
    pub header: Duration,
    /// With no stream open and nothing to send.
    pub idle: Duration,
}

/// What every session of a server shares.
pub struct SessionConfig {
    pub tls: Option<Arc<ServerConfig>>,
    /// The `strict-transport-security` value sent on TLS connections
    /// (never on cleartext ones: RFC 6797 §7.2); `None` sends none.
    pub hsts: Option<Bytes>,
    pub h2: ConnConfig,
    pub timeouts: Timeouts,
}

enum Transport {
    Plain,
    /// Reading the ClientHello, to refuse clients that do not offer `h2`.
    Accepting(Box<Acceptor>),
    Tls(Box<ServerConnection>),
}

/// Why a session ends; for logs and, later, metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    PeerClosed,
    TlsError,
    NoH2,
    ProtocolError,
    HandshakeTimeout,
    HeaderTimeout,
    Idle,
}

impl CloseReason {
    /// Whether nothing more should be sent but what TLS needs to end:
    /// the peer is gone or the TLS layer failed.
    fn is_abrupt(self) -> bool {
        matches!(self, Self::PeerClosed | Self::TlsError | Self::NoH2 | Self::HandshakeTimeout)
    }
}

pub struct Session {
    transport: Transport,
    h2: Connection,
    /// Bytes to send before anything else (a TLS alert from the acceptor).
    raw_out: Vec<u8>,
    close: Option<CloseReason>,
    close_notify_sent: bool,
    accepted_at: Instant,
    last_activity: Instant,
    partial_since: Option<Instant>,
}

impl Session {
    pub fn new(kind: ListenerKind, cfg: &SessionConfig, now: Instant) -> Self {
        let transport = match (kind, &cfg.tls) {
            (ListenerKind::Tls, Some(_)) => Transport::Accepting(Box::default()),
            _ => Transport::Plain,
        };
        Self {
            transport,
            h2: Connection::new(cfg.h2.clone()),
            raw_out: Vec::new(),
            close: None,
            close_notify_sent: false,
            accepted_at: now,
            last_activity: now,
            partial_since: None,
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.close.get_or_insert(reason);
    }

    /// Bytes from the peer. `scratch` is the worker's plaintext buffer.
    pub fn on_recv(
        &mut self,
        mut data: &[u8],
        cfg: &SessionConfig,
        responder: &Responder<'_>,
        scratch: &mut [u8],
        now: Instant,
    ) {
        self.last_activity = now;
        // Set when the acceptor hands over a connection: the records that
        // came with the ClientHello are buffered but not yet processed.
        let mut unprocessed = false;
        while self.close.is_none() && (!data.is_empty() || unprocessed) {
            match &mut self.transport {
                Transport::Plain => {
                    feed_h2(&mut self.h2, &mut self.close, data, responder, None);
                    data = &[];
                }
                Transport::Accepting(acceptor) => {
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
                    match tls::accept_client_hello(acceptor, config) {
                        ClientHelloOutcome::NeedMore => {}
                        ClientHelloOutcome::Proceed(conn) => {
                            self.transport = Transport::Tls(conn);
                            unprocessed = true;
                        }
                        ClientHelloOutcome::Refuse { alert, error } => {
                            self.raw_out.extend_from_slice(&alert);
                            // RFC 7301 §3.2: no protocol in common.
                            let reason = if error == rustls::Error::NoApplicationProtocol {
                                CloseReason::NoH2
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
                    loop {
                        match conn.reader().read(scratch) {
                            Ok(0) => {
                                // close_notify: the client is done.
                                self.close_with(CloseReason::PeerClosed);
                                break;
                            }
                            Ok(n) => {
                                let hsts = cfg.hsts.as_deref();
                                feed_h2(&mut self.h2, &mut self.close, &scratch[..n], responder, hsts)
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
        self.partial_since = if self.h2.has_partial_input() { Some(self.partial_since.unwrap_or(now)) } else { None };
    }

    /// The peer closed its sending side (or the socket failed).
    pub fn on_peer_closed(&mut self) {
        self.close_with(CloseReason::PeerClosed);
    }

    /// Starts a graceful shutdown: GOAWAY, in-flight streams finish.
    pub fn shutdown(&mut self) {
        self.h2.shutdown();
    }

    /// Appends bytes to send to `out`, up to about `limit` bytes, so one
    /// busy connection cannot monopolise a loop turn.
    pub fn fill_output(&mut self, out: &mut Vec<u8>, scratch: &mut [u8], limit: usize, now: Instant) {
        out.append(&mut self.raw_out);
        let h2 = &mut self.h2;
        match &mut self.transport {
            Transport::Accepting(_) => {}
            Transport::Plain => {
                while out.len() < limit && h2.has_output() {
                    let start = out.len();
                    out.resize(start + RECORD_PLAINTEXT, 0);
                    let n = h2.write_output(&mut out[start..]);
                    out.truncate(start + n);
                    if n == 0 {
                        break;
                    }
                }
            }
            Transport::Tls(conn) => {
                let abrupt = self.close.is_some_and(CloseReason::is_abrupt);
                loop {
                    while conn.wants_write() && out.len() < limit {
                        if conn.write_tls(out).is_err() {
                            break;
                        }
                    }
                    // Plaintext waits in the protocol core until the
                    // handshake is done, not in rustls's buffers.
                    if out.len() >= limit || conn.is_handshaking() || abrupt || !h2.has_output() {
                        break;
                    }
                    let n = h2.write_output(scratch);
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
    }

    /// Whether the TLS close_notify should go out now: the session is ending,
    /// the handshake finished, and the protocol core has said its last.
    fn close_notify_due(&self, abrupt: bool) -> bool {
        let Transport::Tls(conn) = &self.transport else { return false };
        let ending = self.close.is_some() || self.h2.is_closed();
        ending
            && !self.close_notify_sent
            && !conn.is_handshaking()
            && self.close != Some(CloseReason::TlsError)
            && (abrupt || !self.h2.has_output())
    }

    /// True once the session has nothing more to say: the worker closes
    /// the socket after the last send completes.
    pub fn wants_close(&self) -> bool {
        if !(self.close.is_some() || self.h2.is_closed()) || !self.raw_out.is_empty() {
            return false;
        }
        let abrupt = self.close.is_some_and(CloseReason::is_abrupt);
        if let Transport::Tls(conn) = &self.transport
            && (conn.wants_write() || self.close_notify_due(abrupt))
        {
            return false;
        }
        abrupt || !self.h2.has_output()
    }

    /// Applies the timeouts; returns true when the session changed (has
    /// something to send or wants to close).
    pub fn check_timeouts(&mut self, t: &Timeouts, now: Instant) -> bool {
        if self.close.is_some() {
            return false;
        }
        let handshaking = match &self.transport {
            Transport::Accepting(_) => true,
            Transport::Tls(conn) => conn.is_handshaking(),
            Transport::Plain => false,
        };
        if handshaking {
            if now.duration_since(self.accepted_at) >= t.handshake {
                self.close_with(CloseReason::HandshakeTimeout);
                return true;
            }
            return false;
        }
        if self.partial_since.is_some_and(|since| now.duration_since(since) >= t.header) {
            // A frame or header block that never completes (slowloris).
            self.h2.abort(ErrorCode::NoError, "header read timeout");
            self.close_with(CloseReason::HeaderTimeout);
            return true;
        }
        if self.h2.active_streams() == 0 && !self.h2.has_output() && now.duration_since(self.last_activity) >= t.idle {
            self.h2.shutdown();
            self.close_with(CloseReason::Idle);
            return true;
        }
        false
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }
}

/// What a worker lends its sessions to answer requests: the handler (the
/// worker's current site) and the `date` value of this second.
pub struct Responder<'a> {
    pub handler: &'a dyn Handler,
    pub date: &'a [u8],
}

/// Runs plaintext through the protocol core and answers each request.
fn feed_h2(
    h2: &mut Connection,
    close: &mut Option<CloseReason>,
    data: &[u8],
    responder: &Responder<'_>,
    hsts: Option<&[u8]>,
) {
    if h2.recv(data).is_err() {
        // GOAWAY is queued; it is flushed before the socket closes.
        close.get_or_insert(CloseReason::ProtocolError);
    }
    while let Some(event) = h2.poll_event() {
        match event {
            Event::Request { stream_id, head, .. } => {
                let r = responder.handler.respond(&head);
                let fields = r.headers.iter().map(|f| (f.name, &f.value[..]));
                let date = std::iter::once((&b"date"[..], responder.date));
                let hsts = hsts.map(|v| (&b"strict-transport-security"[..], v));
                // A stream reset meanwhile is not an error worth reporting.
                let _ = h2.send_response_fields(
                    stream_id,
                    r.status,
                    fields.chain(date).chain(hsts),
                    r.content_length,
                    r.body,
                );
                h2.recycle(head);
            }
            // No handler reads request bodies yet: a request with a body
            // was answered from its headers (and the rest is refused with
            // RST_STREAM NO_ERROR by the protocol core, RFC 9113 §8.1).
            Event::Data { .. } | Event::Trailers { .. } | Event::StreamReset { .. } | Event::GoAway { .. } => {}
        }
    }
}
