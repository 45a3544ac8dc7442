//! HTTP/1.1 (RFC 9112) server connections, sans-IO, for clients that
//! negotiate `http/1.1` rather than `h2`.
//!
//! Bytes in ([`Connection::recv`]), requests out
//! ([`Connection::poll_request`]), responses in
//! ([`Connection::send_response`]), bytes out
//! ([`Connection::write_output`]). Like the HTTP/2 core it owns no socket,
//! thread or clock: TLS, timeouts and the `date` field belong to the caller.
//!
//! Heads are parsed with `httparse` and checked against RFC 9112 (Host,
//! framing, request smuggling); bodies are read and discarded; pipelined
//! requests are answered strictly in order, and a client that sends more
//! than it reads is held off by [`Connection::wants_read`].
//!
//! - [`request`]: a parsed head, [`H1Request`].
//! - `recv`: input buffering, head limits, bodies, early data.
//! - `send`: status lines, framing fields and the output queue.

mod body;
mod recv;
pub mod request;
mod send;

use std::collections::VecDeque;
use std::fmt;

use bytes::{Bytes, BytesMut};

use body::Body;
pub use request::{BodyKind, EarlyData, H1Request, MAX_HEADERS, Method, Version};
pub use send::reason_phrase;

/// Limits. The defaults suit a web server with no request bodies.
#[derive(Clone, Debug)]
pub struct H1Config {
    /// Field lines per head (clamped to 1..=[`MAX_HEADERS`]); more get 431.
    pub max_headers: usize,
    /// Request line plus field lines, the final empty line included; more
    /// gets 431 (RFC 6585 §5). Clamped to 1 KiB..=1 MiB.
    pub max_head_size: usize,
    /// The request line alone, without its CRLF; more gets 414 (RFC 9110
    /// §15.5.15). At most `max_head_size`.
    pub max_request_line: usize,
    /// A body's length (Content-Length, or chunk data); a larger
    /// Content-Length gets 413, a chunked body growing past it ends the
    /// connection. Bodies are discarded, never buffered.
    pub max_body_size: u64,
    /// Requests parsed and not yet completely answered (their responses
    /// not all written out). Past it no further request is parsed and
    /// [`Connection::wants_read`] is false until output drains.
    pub max_pipelined: usize,
    /// Unparsed input held while parsing waits for output to drain: at
    /// least `max_head_size` plus the caller's largest `recv`. A caller
    /// that keeps feeding past [`Connection::wants_read`] reaches it, and
    /// the connection ends after the responses already queued.
    pub max_buffered_input: usize,
}

impl Default for H1Config {
    fn default() -> Self {
        Self {
            max_headers: 64,
            max_head_size: 16 << 10,
            max_request_line: 8 << 10,
            max_body_size: 1 << 20,
            max_pipelined: 16,
            max_buffered_input: 80 << 10,
        }
    }
}

/// Why the connection stops reading. `status` is the error response it
/// queued (after the responses to earlier requests); `None` when no answer
/// is possible, such as a broken chunked body after its request was
/// answered. Either way the connection closes once output is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct H1Error {
    pub status: Option<u16>,
    pub reason: &'static str,
}

impl fmt::Display for H1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} ({s})", self.reason),
            None => f.write_str(self.reason),
        }
    }
}

impl std::error::Error for H1Error {}

/// Why [`Connection::send_response`] did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No request handed out by `poll_request` is waiting for an answer.
    NoRequest,
    /// The status is not a final status (200..=999 are accepted).
    InvalidStatus,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoRequest => "no request awaits a response",
            Self::InvalidStatus => "invalid status",
        })
    }
}

impl std::error::Error for SendError {}

/// What the connection remembers of a request until it is answered.
#[derive(Clone, Copy, Debug)]
struct Awaiting {
    seq: u64,
    head: bool,
    /// The request asked for the connection to end after its response.
    close: bool,
    /// HTTP/1.0 with `Connection: keep-alive`: say it back.
    echo_keep_alive: bool,
    expect_continue: bool,
}

/// One piece of output: a head or a body, shared by refcount.
#[derive(Debug)]
struct Piece {
    data: Bytes,
    /// The last piece of the response to a request (counted in `in_flight`).
    ends_response: bool,
}

/// An HTTP/1.x server connection.
pub struct Connection {
    cfg: H1Config,
    /// Unparsed input from `pos` on; bodies never go through it unless
    /// they arrived together with a head.
    buf: Vec<u8>,
    pos: usize,
    /// Bytes of the current head (from `pos`) searched for its end.
    scanned: usize,
    /// Where the current head's request line ends, once seen.
    line_end: Option<usize>,
    /// Input bytes taken so far: the offset just past the last input.
    received: u64,
    /// The offset where TLS early data (0-RTT) ends; 0 when there was none.
    early_end: u64,
    /// The body being discarded, and the request it belongs to.
    body: Body,
    body_seq: u64,
    next_seq: u64,
    /// Parsed, not yet handed out.
    ready: VecDeque<H1Request>,
    /// Parsed, not yet answered, in order (`ready` ones included).
    awaiting: VecDeque<Awaiting>,
    /// How many of `awaiting` were handed out by `poll_request`.
    polled: usize,
    /// Requests parsed whose response is not completely written out.
    in_flight: usize,
    /// No more requests are parsed; input is ignored.
    stopped: bool,
    /// An error response to queue after the earlier requests' responses.
    rejection: Option<u16>,
    error: Option<H1Error>,
    out: VecDeque<Piece>,
    head_buf: BytesMut,
    /// `name: value\r\n` lines for the responses the connection writes.
    error_fields: BytesMut,
    pool: Vec<H1Request>,
}

impl Connection {
    pub fn new(mut cfg: H1Config) -> Self {
        cfg.max_headers = cfg.max_headers.clamp(1, MAX_HEADERS);
        cfg.max_head_size = cfg.max_head_size.clamp(1 << 10, 1 << 20);
        cfg.max_request_line = cfg.max_request_line.clamp(16, cfg.max_head_size);
        cfg.max_pipelined = cfg.max_pipelined.max(1);
        cfg.max_buffered_input = cfg.max_buffered_input.max(cfg.max_head_size);
        Self {
            cfg,
            buf: Vec::new(),
            pos: 0,
            scanned: 0,
            line_end: None,
            received: 0,
            early_end: 0,
            body: Body::Idle,
            body_seq: 0,
            next_seq: 0,
            ready: VecDeque::new(),
            awaiting: VecDeque::new(),
            polled: 0,
            in_flight: 0,
            stopped: false,
            rejection: None,
            error: None,
            out: VecDeque::new(),
            head_buf: BytesMut::new(),
            error_fields: BytesMut::new(),
            pool: Vec::new(),
        }
    }

    /// The next request, in the order received. Parsing happens here too:
    /// requests held back by [`H1Config::max_pipelined`] come out once
    /// output has drained, so poll again after `write_output`.
    pub fn poll_request(&mut self) -> Option<H1Request> {
        self.advance();
        let req = self.ready.pop_front()?;
        self.polled += 1;
        Some(req)
    }

    /// Gives a request back so its buffers serve the next one.
    pub fn recycle(&mut self, req: H1Request) {
        if self.pool.len() < 16 {
            self.pool.push(req);
        }
    }

    /// Fields added to the error responses the connection writes itself
    /// (`date`, `server`, `strict-transport-security`...), kept until
    /// replaced. Set them before `recv` so they are current if one is due.
    pub fn set_error_fields<'h>(&mut self, fields: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) {
        send::store_fields(&mut self.error_fields, fields);
    }

    /// Whether the caller should read and `recv` more input: false while
    /// [`H1Config::max_pipelined`] responses are unwritten (backpressure on
    /// a client that sends without reading), and once the connection has
    /// stopped reading.
    pub fn wants_read(&self) -> bool {
        !self.stopped && self.in_flight < self.cfg.max_pipelined
    }

    /// Whether part of a request (a head, or a body) has arrived and the
    /// rest has not, while the connection waits for it: what a header or
    /// body read timeout (slowloris) measures. False while parsing waits
    /// for our output to drain.
    pub fn has_partial_input(&self) -> bool {
        self.wants_read() && (self.pos < self.buf.len() || self.body.is_active())
    }

    /// Nothing in progress: no partial input, no request waiting for an
    /// answer, no output. What a keep-alive idle timeout measures.
    pub fn is_idle(&self) -> bool {
        !self.has_partial_input() && self.awaiting.is_empty() && self.out.is_empty()
    }

    /// True once the connection has said its last: it stopped reading
    /// (`connection: close`, an error, [`Connection::shutdown`]), every
    /// request got its response, and all output was written. The caller
    /// then closes the transport.
    pub fn wants_close(&self) -> bool {
        self.stopped && self.awaiting.is_empty() && self.rejection.is_none() && self.out.is_empty()
    }

    /// Graceful shutdown: no further request is read; those already read
    /// are answered, the last one with `connection: close` (none when the
    /// connection is idle: it just closes, RFC 9112 §9.6).
    pub fn shutdown(&mut self) {
        self.stop();
    }

    /// The caller's read timeout fired (RFC 9110 §15.5.9): a partly
    /// received request gets 408 and the connection ends; otherwise it
    /// ends after the responses already due.
    pub fn request_timeout(&mut self) {
        if self.stopped {
            return;
        }
        if self.pos < self.buf.len() && !self.body.is_active() {
            self.reject(408, "request timeout");
        } else {
            self.stop();
        }
    }

    /// The error that stopped the connection, if any.
    pub fn error(&self) -> Option<H1Error> {
        self.error
    }

    /// Requests parsed and not yet completely answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Stops reading: buffered input and any body in progress are dropped.
    fn stop(&mut self) {
        self.stopped = true;
        self.buf = Vec::new();
        self.pos = 0;
        self.scanned = 0;
        self.line_end = None;
        self.body = Body::Idle;
    }

    /// Refuses the request being read with `status`, answered after the
    /// requests before it; the connection then closes.
    fn reject(&mut self, status: u16, reason: &'static str) {
        self.error = Some(H1Error { status: Some(status), reason });
        self.rejection = Some(status);
        self.stop();
        self.emit_rejection_if_due();
    }

    /// Ends the connection without an answer of its own (the framing is
    /// lost after the request was handed out, or input overflowed).
    fn fail(&mut self, reason: &'static str) {
        self.error = Some(H1Error { status: None, reason });
        self.stop();
    }
}
