//! The per-connection state machine of a server (RFC 9113), sans-IO.
//!
//! Bytes in ([`Connection::recv`]), events out ([`Connection::poll_event`]),
//! responses in ([`Connection::send_response`]), bytes out
//! ([`Connection::write_output`]). It owns no socket, thread or clock:
//! timeouts and TLS belong to the caller, which also calls
//! [`Connection::tick`] once a second to refill the flood budgets.
//!
//! - [`request`]: a request's header block and its validation (§8.2–§8.3).
//! - `recv`: frames from the client, stream states, flow control in.
//! - `send`: responses, DATA scheduling, flow control out.
//! - [`limits`]: flood defences (per-tick budgets) and the counters of the
//!   limits a client ran into.

pub mod limits;
mod recv;
pub mod request;
mod send;

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;
use slab::Slab;

use crate::h2::error::{ErrorCode, H2Error};
use crate::h2::frame::{self, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, SettingId};
use crate::h2::hpack::{HpackDecoder, HpackEncoder};
use crate::h2::stream::{FlowWindow, StreamState};
pub use limits::{Limit, LimitHits, RateLimit};
pub use request::{EarlyData, Malformed, Method, RequestHead};

/// What we advertise and enforce. The defaults suit a web server.
#[derive(Clone, Debug)]
pub struct ConnConfig {
    /// SETTINGS_MAX_CONCURRENT_STREAMS; more are refused with REFUSED_STREAM.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: how much request body a stream may send.
    pub initial_window_size: u32,
    /// The connection receive window, raised from 65,535 by a WINDOW_UPDATE
    /// right after our SETTINGS.
    pub connection_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE we accept.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE, enforced while decoding (with the 32
    /// byte per-field overhead of §6.5.2); larger requests get 431.
    pub max_header_list_size: u32,
    /// Fields per header block; more get 431 like an oversized list.
    pub max_header_count: usize,
    /// SETTINGS_HEADER_TABLE_SIZE for our decoder.
    pub header_table_size: u32,
    /// HEADERS + CONTINUATION frames one header block may span: a block
    /// split further is a flood (CVE-2024-27316), ENHANCE_YOUR_CALM.
    pub max_continuation_frames: u32,
    /// Bytes of frames we queued in answer to the client (PING and
    /// SETTINGS ACKs, RST_STREAM, HEADERS) that may wait unread before the
    /// client counts as flooding without reading (CVE-2019-9512, 9515).
    pub max_queued_output: usize,
    /// RST_STREAMs from the client plus streams we reset because of its
    /// frames (CVE-2023-44487 Rapid Reset, CVE-2025-8671 MadeYouReset,
    /// CVE-2019-9514). `burst` should be at least `max_concurrent_streams`,
    /// so that a browser cancelling every stream of a page at once (and
    /// then of the next one) stays well within it.
    pub reset_limit: RateLimit,
    /// PING frames, ACK or not (CVE-2019-9512).
    pub ping_limit: RateLimit,
    /// SETTINGS frames, ACK or not (CVE-2019-9515).
    pub settings_limit: RateLimit,
    /// PRIORITY frames, which we ignore (CVE-2019-9513, §5.3.2).
    pub priority_limit: RateLimit,
    /// DATA frames with no payload and no END_STREAM, HEADERS and
    /// CONTINUATION frames with an empty fragment and no END_HEADERS
    /// (CVE-2019-9518).
    pub empty_frame_limit: RateLimit,
    /// CONTINUATION frames, on top of `max_continuation_frames` per block
    /// (CVE-2024-27316).
    pub continuation_limit: RateLimit,
}

impl Default for ConnConfig {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 128,
            initial_window_size: 1 << 20,
            connection_window_size: 4 << 20,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 32 << 10,
            max_header_count: 128,
            header_table_size: 4096,
            max_continuation_frames: 32,
            max_queued_output: 256 << 10,
            // Per tick = per second. A browser cancels a few streams a second
            // at most, 128 at once when leaving a busy page: burst 2 × 128.
            // A Rapid Reset attacker gets 100 streams a second, not 100,000s.
            reset_limit: RateLimit::new(100, 256),
            // Clients ping for liveness or RTT, a few a second at most.
            ping_limit: RateLimit::new(100, 200),
            // One or two per connection in practice.
            settings_limit: RateLimit::new(10, 20),
            // Old Firefox sent a handful up front, Chromium one per
            // reprioritised stream: at most every stream at once.
            priority_limit: RateLimit::new(100, 256),
            // Legitimate clients hardly ever send these.
            empty_frame_limit: RateLimit::new(100, 200),
            // A block within max_header_list_size takes ≤ 4 frames of 16 KB;
            // browsers practically never send CONTINUATION.
            continuation_limit: RateLimit::new(256, 512),
        }
    }
}

/// What the client did, in the order it did it.
#[derive(Debug)]
pub enum Event {
    /// A complete, valid request header block opened a stream. Hand the head
    /// back with [`Connection::recycle`] to reuse its buffers. Boxed so that
    /// the head is built in place and only a pointer moves from the decoder
    /// to the caller and back (a `RequestHead` is some 180 bytes).
    Request { stream_id: u32, head: Box<RequestHead>, end_stream: bool },
    /// Request body bytes (already credited back to the client's windows).
    Data { stream_id: u32, data: Bytes, end_stream: bool },
    /// A trailer block, which ends the request.
    Trailers { stream_id: u32, trailers: Box<RequestHead> },
    /// A stream the caller knows about is gone: reset by the client, or by
    /// us for a protocol error. Any response to it is dropped.
    StreamReset { stream_id: u32, code: ErrorCode },
    /// The client sent GOAWAY: no new streams will come.
    GoAway { last_stream_id: u32, code: ErrorCode },
}

/// Why [`Connection::send_response`] did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The stream is closed or was reset (by either side) meanwhile.
    StreamClosed,
    /// A response was already submitted on this stream.
    AlreadyResponded,
    /// The status is not a final status (200..=999 are accepted).
    InvalidStatus,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::StreamClosed => "stream closed",
            Self::AlreadyResponded => "response already sent",
            Self::InvalidStatus => "invalid status",
        })
    }
}

impl std::error::Error for SendError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Matching the 24-byte client preface (§3.4); holds how many matched.
    Preface(usize),
    /// The first frame after the preface must be SETTINGS (§3.4).
    FirstSettings,
    Open,
    /// A connection error was sent in a GOAWAY; input is ignored.
    Failed,
}

/// One client stream we keep state for.
#[derive(Debug)]
struct Stream {
    id: u32,
    state: StreamState,
    /// What the client may still send us (our receive window).
    recv_window: FlowWindow,
    /// Received but not yet credited back with WINDOW_UPDATE.
    recv_unacked: u32,
    /// What we may still send (the client's window for this stream).
    send_window: FlowWindow,
    content_length: Option<u64>,
    body_received: u64,
    /// Response body left to send, sliced by refcount, never copied.
    body: Bytes,
    responded: bool,
    /// In `send_queue` (avoids double entries).
    queued: bool,
    /// The caller saw this stream in an Event::Request.
    delivered: bool,
}

/// Identity-ish hashing for stream ids: they are already unique integers.
/// The client picks them, so it can make ids collide (any spaced by a power
/// of two land in one bucket); that costs at most a probe over the streams
/// the map holds, which SETTINGS_MAX_CONCURRENT_STREAMS bounds (128 by
/// default), so the keyed SipHash would buy nothing here.
#[derive(Default)]
struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, id: u32) {
        self.0 = u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type StreamIds = HashMap<u32, usize, BuildHasherDefault<StreamIdHasher>>;

/// How many closed stream ids we remember, to tell "closed" (STREAM_CLOSED)
/// from "never opened" (PROTOCOL_ERROR) and to ignore frames the client
/// sent before it saw our RST_STREAM (§5.1 "closed").
const RECENTLY_CLOSED: usize = 64;

/// The header block being assembled from HEADERS + CONTINUATION (§4.3).
#[derive(Clone, Copy, Debug)]
struct PendingBlock {
    stream_id: u32,
    end_stream: bool,
    /// The HEADERS frame's priority named its own stream (§5.3.1).
    self_dependent: bool,
    frames: u32,
    /// Input offset of the first byte of the HEADERS frame (frame header
    /// included), to tell whether the block began in early data.
    start: u64,
}

/// An HTTP/2 server connection.
pub struct Connection {
    cfg: ConnConfig,
    phase: Phase,
    /// An incomplete frame carried over between `recv` calls.
    partial: Vec<u8>,
    /// Input bytes taken so far: the offset just past the last call's input.
    received: u64,
    /// The offset where TLS early data (0-RTT) ends; 0 when there was none.
    early_end: u64,
    block: Option<PendingBlock>,
    block_buf: Vec<u8>,
    decoder: HpackDecoder,
    encoder: HpackEncoder,

    streams: Slab<Stream>,
    ids: StreamIds,
    /// The highest client stream id seen; every id up to it is not idle.
    last_client_stream: u32,
    /// (id, reset by us) of streams that closed lately.
    recently_closed: VecDeque<(u32, bool)>,
    /// Streams that count against SETTINGS_MAX_CONCURRENT_STREAMS.
    active: usize,

    conn_send_window: FlowWindow,
    conn_recv_window: FlowWindow,
    conn_recv_unacked: u32,
    /// The client's SETTINGS_INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE.
    peer_initial_window: u32,
    peer_max_frame_size: u32,
    /// Our initial stream window as the client knows it: 65,535 until it
    /// ACKs our SETTINGS (§6.5.3), then `cfg.initial_window_size`.
    local_initial_window: u32,
    settings_acked: bool,

    /// Encoded frames not yet handed out: control frames and HEADERS.
    out: Vec<u8>,
    out_pos: usize,
    /// Streams with body bytes and send window, round robin.
    send_queue: VecDeque<(usize, u32)>,
    events: VecDeque<Event>,
    /// Heads handed back by `recycle`, boxes and buffers reused as they are.
    #[expect(clippy::vec_box, reason = "the boxes are what is recycled: events carry them by pointer")]
    head_pool: Vec<Box<RequestHead>>,
    goaway_sent: Option<u32>,
    goaway_received: bool,
    error: Option<H2Error>,
    /// Per-tick flood budgets, refilled by `tick`.
    budgets: limits::Budgets,
    limits: limits::LimitLog,
}

impl Connection {
    pub fn new(mut cfg: ConnConfig) -> Self {
        // Values the wire cannot carry are clamped to what it can (§6.5.2:
        // windows ≤ 2^31-1, max frame size 2^14..=2^24-1), so a bad
        // configuration never produces an invalid SETTINGS frame.
        cfg.initial_window_size = cfg.initial_window_size.min(frame::MAX_WINDOW_SIZE);
        cfg.connection_window_size = cfg.connection_window_size.min(frame::MAX_WINDOW_SIZE);
        cfg.max_frame_size = cfg.max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, frame::MAX_ALLOWED_FRAME_SIZE);
        let mut conn = Self {
            phase: Phase::Preface(0),
            partial: Vec::new(),
            received: 0,
            early_end: 0,
            block: None,
            block_buf: Vec::new(),
            decoder: HpackDecoder::new(cfg.header_table_size as usize),
            encoder: HpackEncoder::new(),
            streams: Slab::new(),
            ids: StreamIds::default(),
            last_client_stream: 0,
            recently_closed: VecDeque::with_capacity(RECENTLY_CLOSED),
            active: 0,
            conn_send_window: FlowWindow::new(DEFAULT_INITIAL_WINDOW_SIZE),
            conn_recv_window: FlowWindow::new(DEFAULT_INITIAL_WINDOW_SIZE),
            conn_recv_unacked: 0,
            peer_initial_window: DEFAULT_INITIAL_WINDOW_SIZE,
            peer_max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            local_initial_window: DEFAULT_INITIAL_WINDOW_SIZE.max(cfg.initial_window_size),
            settings_acked: false,
            out: Vec::with_capacity(256),
            out_pos: 0,
            send_queue: VecDeque::new(),
            events: VecDeque::new(),
            head_pool: Vec::new(),
            goaway_sent: None,
            goaway_received: false,
            error: None,
            budgets: limits::Budgets::new(&cfg),
            limits: limits::LimitLog::default(),
            cfg,
        };
        conn.send_preface();
        conn
    }

    /// §3.4: the server preface is a SETTINGS frame, which may go out
    /// before the client's preface arrives.
    fn send_preface(&mut self) {
        let c = &self.cfg;
        frame::write_settings(
            &mut self.out,
            &[
                (SettingId::MaxConcurrentStreams, c.max_concurrent_streams),
                (SettingId::InitialWindowSize, c.initial_window_size),
                (SettingId::MaxFrameSize, c.max_frame_size),
                (SettingId::MaxHeaderListSize, c.max_header_list_size),
                (SettingId::HeaderTableSize, c.header_table_size),
                // No SETTINGS_ENABLE_PUSH: it only means something from a
                // client (§6.5.2), and we never push.
            ],
        );
        let extra = self.cfg.connection_window_size.saturating_sub(DEFAULT_INITIAL_WINDOW_SIZE);
        if extra > 0 {
            frame::write_window_update(&mut self.out, 0, extra);
            // Cannot overflow: connection_window_size is a u32 ≤ 2^32-1 and
            // adjust() rejects anything past 2^31-1.
            let _ = self.conn_recv_window.increase(extra);
        }
    }

    /// The next thing the client did, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Gives a request head back so its buffers serve the next request.
    pub fn recycle(&mut self, head: Box<RequestHead>) {
        if self.head_pool.len() < 16 {
            self.head_pool.push(head);
        }
    }

    /// Starts a graceful shutdown (§6.8): GOAWAY with NO_ERROR and the last
    /// stream we will process; streams up to it complete, later ones are
    /// ignored. [`Connection::is_closed`] turns true once all are done.
    pub fn shutdown(&mut self) {
        if self.goaway_sent.is_none() && self.phase != Phase::Failed {
            frame::write_goaway(&mut self.out, self.last_client_stream, ErrorCode::NoError, b"");
            self.goaway_sent = Some(self.last_client_stream);
        }
    }

    /// Ends the connection now with GOAWAY `code` (e.g. on a timeout the
    /// caller measured). Unsent response data is dropped.
    pub fn abort(&mut self, code: ErrorCode, reason: &'static str) {
        if self.phase != Phase::Failed {
            self.fail(H2Error::connection(code, reason));
        }
    }

    /// The connection error that ended this connection, if any.
    pub fn error(&self) -> Option<&H2Error> {
        self.error.as_ref()
    }

    /// Streams that count against SETTINGS_MAX_CONCURRENT_STREAMS.
    pub fn active_streams(&self) -> usize {
        self.active
    }

    /// Whether part of a frame or of a header block has arrived and the rest
    /// has not: what a header-read timeout (slowloris defence) measures.
    pub fn has_partial_input(&self) -> bool {
        !self.partial.is_empty() || self.block.is_some() || matches!(self.phase, Phase::Preface(n) if n > 0)
    }

    /// Whether the client's preface and first SETTINGS have arrived.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Open)
    }

    /// True when nothing is left to do: the connection failed, or a GOAWAY
    /// went either way and every stream finished; and all output has been
    /// written. The caller may then close the transport.
    pub fn is_closed(&self) -> bool {
        let ending = match self.phase {
            Phase::Failed => true,
            _ => (self.goaway_sent.is_some() || self.goaway_received) && self.streams.is_empty(),
        };
        ending && !self.has_output()
    }

    /// Records a connection error (§5.4.1): GOAWAY with the last stream we
    /// processed, then nothing but that GOAWAY is sent.
    fn fail(&mut self, err: H2Error) -> H2Error {
        self.phase = Phase::Failed;
        self.send_queue.clear();
        for (_, s) in self.streams.iter_mut() {
            s.body = Bytes::new();
        }
        let last = self.goaway_sent.unwrap_or(self.last_client_stream);
        frame::write_goaway(&mut self.out, last, err.code, err.reason.as_bytes());
        self.goaway_sent = Some(last);
        self.error = Some(err);
        err
    }

    fn stream_key(&self, id: u32) -> Option<usize> {
        self.ids.get(&id).copied()
    }

    /// Frees a stream's record; it is closed from now on.
    fn remove_stream(&mut self, key: usize, reset_by_us: bool) {
        let s = self.streams.remove(key);
        self.ids.remove(&s.id);
        self.active -= 1;
        if self.recently_closed.len() == RECENTLY_CLOSED {
            self.recently_closed.pop_front();
        }
        self.recently_closed.push_back((s.id, reset_by_us));
    }

    /// A stream error (§5.4.2): RST_STREAM, and the caller is told if it
    /// knew the stream and did not ask for the reset itself.
    fn reset_stream_with(&mut self, id: u32, code: ErrorCode, notify: bool) {
        frame::write_rst_stream(&mut self.out, id, code);
        if let Some(key) = self.stream_key(id) {
            if notify && self.streams[key].delivered {
                self.events.push_back(Event::StreamReset { stream_id: id, code });
            }
            self.remove_stream(key, true);
        } else if !self.recently_closed.iter().any(|&(s, _)| s == id) {
            if self.recently_closed.len() == RECENTLY_CLOSED {
                self.recently_closed.pop_front();
            }
            self.recently_closed.push_back((id, true));
        }
    }

    /// Cancels a stream from the caller's side (RST_STREAM `code`), e.g.
    /// when the application gives up on it.
    pub fn reset_stream(&mut self, stream_id: u32, code: ErrorCode) {
        if self.phase != Phase::Failed && self.stream_key(stream_id).is_some() {
            self.reset_stream_with(stream_id, code, false);
        }
    }
}
