//! A client driving one in-process `Connection`, checking every invariant it can see from outside:
//!
//! - nothing panics, and `write_output` terminates;
//! - everything the server writes is a sequence of valid frames (h2ring's own `Frame::decode`), no larger than the
//!   client's SETTINGS_MAX_FRAME_SIZE, header blocks contiguous and decodable by one persistent HPACK decoder;
//! - responses are exactly what was submitted (fields after HPACK round trip, body bytes in order), DATA only
//!   after HEADERS and within the client's flow-control windows, nothing on a stream after its END_STREAM or
//!   RST_STREAM, nothing at all after a GOAWAY carrying an error;
//! - PING and SETTINGS ACKs answer what the client sent; GOAWAY's last stream id never grows;
//! - the server never lets the client's view of a receive window exceed 2^31-1;
//! - events: request heads valid by RFC 9113 §8.2–§8.3, stream ids increasing, body bytes a prefix of what the
//!   client sent, nothing for a stream after its end or reset, and, while the client's HPACK model is in sync,
//!   exactly the fields the client encoded;
//! - after `recv` returns `Err`: a connection error, no new events, every later `recv` fails the same way, and the
//!   output ends with that GOAWAY.
//!
//! A violation panics with a description, which is what the fuzzer and the randomized test look for.
#![allow(dead_code)]

use std::collections::HashMap;

use bytes::Bytes;
use h2ring::h2::conn::{ConnConfig, Connection, EarlyData, Event, Limit, RateLimit, SendError};
use h2ring::h2::error::{ErrorCode, H2Error};
use h2ring::h2::frame::{FRAME_HEADER_LEN, Frame, FrameHeader};
use h2ring::h2::hpack::{DecodeLimits, HpackDecoder};

use crate::script::{BlockSpec, FieldSel, FrameOp, Knobs, NameSel, Op, Script, StreamSel, ValueSel};
use crate::wire::{self, ClientEncoder, PREFACE, Repr};

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

macro_rules! violation {
    ($($arg:tt)*) => { panic!("h2ring invariant violated: {}", format!($($arg)*)) };
}

// ---------------------------------------------------------------------------------------------------------------
// What the client sent, read back by hand (never through h2ring).

#[derive(Default)]
struct Sent {
    buf: Vec<u8>,
    /// Input offset of `buf[0]`.
    pos: u64,
    preface_done: bool,
    bad_preface: bool,
    /// Largest valid SETTINGS_MAX_FRAME_SIZE the client announced (16,384 before any).
    max_frame_size: u32,
    /// Largest valid SETTINGS_INITIAL_WINDOW_SIZE the client announced (65,535 before any).
    max_initial_window: u64,
    conn_updates: u64,
    stream_updates: HashMap<u32, u64>,
    /// DATA payload octets (padding included, §6.9.1), in total and per stream.
    data_flow: u64,
    stream_flow: HashMap<u32, u64>,
    /// DATA content octets per stream, padding stripped.
    stream_data: HashMap<u32, Vec<u8>>,
    pings: HashMap<[u8; 8], u32>,
    settings: u32,
    /// Input offsets of each stream's header blocks: (first byte of the HEADERS frame, end of the last frame).
    blocks: HashMap<u32, Vec<(u64, Option<u64>)>>,
    open_block: Option<u32>,
    highest_headers_stream: u32,
    /// Whether the first frame after the preface was a SETTINGS (§3.4), once known.
    first_settings: Option<bool>,
    total: u64,
}

impl Sent {
    fn new() -> Self {
        Self { max_frame_size: 16_384, max_initial_window: 65_535, ..Self::default() }
    }

    fn at_frame_boundary(&self) -> bool {
        self.preface_done && self.buf.is_empty() && self.open_block.is_none() && self.first_settings == Some(true)
    }

    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.bad_preface {
            return;
        }
        self.buf.extend_from_slice(bytes);
        if !self.preface_done {
            let n = self.buf.len().min(PREFACE.len());
            if self.buf[..n] != PREFACE[..n] {
                self.bad_preface = true;
                self.buf.clear();
                return;
            }
            if n < PREFACE.len() {
                return;
            }
            self.buf.drain(..PREFACE.len());
            self.pos += PREFACE.len() as u64;
            self.preface_done = true;
        }
        let mut at = 0;
        while self.buf.len() - at >= FRAME_HEADER_LEN {
            let h = &self.buf[at..at + FRAME_HEADER_LEN];
            let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            if self.buf.len() - at - FRAME_HEADER_LEN < len {
                break;
            }
            let (kind, flags) = (h[3], h[4]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            let payload = self.buf[at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + len].to_vec();
            let start = self.pos + at as u64;
            let end = start + (FRAME_HEADER_LEN + len) as u64;
            self.on_frame(kind, flags, stream, &payload, start, end);
            at += FRAME_HEADER_LEN + len;
        }
        self.buf.drain(..at);
        self.pos += at as u64;
    }

    fn on_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8], start: u64, end: u64) {
        if self.first_settings.is_none() {
            self.first_settings = Some(kind == wire::SETTINGS && flags & wire::ACK == 0);
        }
        let u32_at = |i: usize| u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]]);
        match kind {
            wire::HEADERS if stream != 0 => {
                self.highest_headers_stream = self.highest_headers_stream.max(stream);
                let done = flags & wire::END_HEADERS != 0;
                self.blocks.entry(stream).or_default().push((start, done.then_some(end)));
                self.open_block = (!done).then_some(stream);
            }
            wire::CONTINUATION if self.open_block == Some(stream) && flags & wire::END_HEADERS != 0 => {
                if let Some(b) = self.blocks.get_mut(&stream).and_then(|v| v.last_mut()) {
                    b.1 = Some(end);
                }
                self.open_block = None;
            }
            wire::DATA if stream != 0 => {
                let data = if flags & wire::PADDED != 0 {
                    match payload.split_first() {
                        Some((&pad, rest)) if usize::from(pad) <= rest.len() => &rest[..rest.len() - usize::from(pad)],
                        _ => return, // invalid padding: a connection error
                    }
                } else {
                    payload
                };
                self.data_flow += payload.len() as u64;
                *self.stream_flow.entry(stream).or_default() += payload.len() as u64;
                self.stream_data.entry(stream).or_default().extend_from_slice(data);
            }
            wire::SETTINGS if flags & wire::ACK == 0 && stream == 0 && payload.len().is_multiple_of(6) => {
                self.settings += 1;
                for p in payload.chunks_exact(6) {
                    let v = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
                    match u16::from_be_bytes([p[0], p[1]]) {
                        wire::MAX_FRAME_SIZE if (16_384..1 << 24).contains(&v) => {
                            self.max_frame_size = self.max_frame_size.max(v)
                        }
                        wire::INITIAL_WINDOW_SIZE if u64::from(v) <= wire::MAX_WINDOW => {
                            self.max_initial_window = self.max_initial_window.max(u64::from(v))
                        }
                        _ => {}
                    }
                }
            }
            wire::PING if flags & wire::ACK == 0 && stream == 0 && payload.len() == 8 => {
                *self.pings.entry(payload.try_into().unwrap()).or_default() += 1;
            }
            wire::WINDOW_UPDATE if payload.len() == 4 => {
                let inc = u64::from(u32_at(0) & 0x7fff_ffff);
                if stream == 0 {
                    self.conn_updates += inc;
                } else {
                    *self.stream_updates.entry(stream).or_default() += inc;
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// What the server wrote.

#[derive(Default)]
struct OutStream {
    headers: bool,
    ended: bool,
    reset: bool,
    /// Body octets received in DATA frames.
    data: u64,
    status: u16,
}

struct Seen {
    buf: Vec<u8>,
    frames: u64,
    decoder: HpackDecoder,
    /// A response header block in progress: stream, fragments so far, END_STREAM.
    block: Option<(u32, Vec<u8>, bool)>,
    streams: HashMap<u32, OutStream>,
    conn_data: u64,
    settings_acks: u32,
    ping_acks: HashMap<[u8; 8], u32>,
    last_goaway: Option<(u32, ErrorCode)>,
    /// A GOAWAY with an error code was written: nothing may follow.
    error_goaway: bool,
    server_initial_window: u64,
    server_conn_updates: u64,
    server_stream_updates: HashMap<u32, u64>,
    total: u64,
}

impl Seen {
    fn new() -> Self {
        Self {
            buf: Vec::new(),
            frames: 0,
            // Lax on the table size: the server's encoder may use whatever the client allowed.
            decoder: HpackDecoder::new(1 << 30),
            block: None,
            streams: HashMap::new(),
            conn_data: 0,
            settings_acks: 0,
            ping_acks: HashMap::new(),
            last_goaway: None,
            error_goaway: false,
            server_initial_window: 65_535,
            server_conn_updates: 0,
            server_stream_updates: HashMap::new(),
            total: 0,
        }
    }
}

/// A response the caller submitted: the header fields as they must decode, and the body.
struct Expected {
    fields: Fields,
    body: Bytes,
}

/// The event-side view of one request stream.
#[derive(Default)]
struct ReqView {
    ended: bool,
    reset: bool,
    responded: bool,
    delivered_data: usize,
}

pub struct Peer {
    pub conn: Connection,
    sent: Sent,
    seen: Seen,
    /// Bytes fed through `recv_early`, and whether `recv` took any byte yet.
    early_end: u64,
    recv_used: bool,
    fed: u64,
    /// The connection error `recv` returned (or `abort` caused).
    error: Option<H2Error>,
    /// Events may still be drained once after the error: those queued before it.
    error_drained: bool,
    requests: HashMap<u32, ReqView>,
    last_request: u32,
    unanswered: Vec<u32>,
    responses: HashMap<u32, Expected>,
    /// After `shutdown()`: the last stream id of our GOAWAY.
    shutdown_last: Option<u32>,
    /// Header blocks the structured client sent per stream, with their fields when the HPACK model was in sync.
    expected_blocks: HashMap<u32, Vec<Option<Fields>>>,
    /// `max_concurrent_streams` as configured.
    max_streams: u32,
    /// Limits `take_new_limit_hit` has handed out (each at most once).
    limits_taken: Vec<Limit>,
    /// Reused for `write_output`.
    out_buf: Vec<u8>,
    pub stats: Stats,
}

/// Counters, to see what a run reached.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub responses: u64,
    pub data_events: u64,
    pub resets: u64,
    pub failed: bool,
    /// Why the connection failed, if it did.
    pub error: Option<&'static str>,
    pub probed: bool,
    pub checked_fields: u64,
}

const OUT_SIZES: [usize; 8] = [10, 17, 64, 100, 1500, 16_384, 16_393, 65_535];

impl Peer {
    pub fn new(cfg: ConnConfig) -> Self {
        let max_streams = cfg.max_concurrent_streams;
        Self {
            conn: Connection::new(cfg),
            sent: Sent::new(),
            seen: Seen::new(),
            early_end: 0,
            recv_used: false,
            fed: 0,
            error: None,
            error_drained: false,
            requests: HashMap::new(),
            last_request: 0,
            unanswered: Vec::new(),
            responses: HashMap::new(),
            shutdown_last: None,
            expected_blocks: HashMap::new(),
            max_streams,
            limits_taken: Vec::new(),
            out_buf: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn failed(&self) -> bool {
        self.error.is_some()
    }

    /// Feeds `input` to `recv` (or `recv_early` when `early` and `recv` took nothing yet) in pieces of `chunk`
    /// octets (0: at once), handling events (answering requests when `respond` is given) and reading output with a
    /// buffer of `out_size` after each piece.
    pub fn feed(&mut self, input: &[u8], chunk: usize, early: bool, respond: Option<u32>, out_size: usize) {
        let chunk = if chunk == 0 { input.len().max(1) } else { chunk };
        for piece in input.chunks(chunk) {
            self.recv(piece, early);
            self.events(respond);
            self.read(out_size, 0);
        }
    }

    fn recv(&mut self, piece: &[u8], early: bool) {
        let early = early && !self.recv_used;
        self.sent.push(piece);
        self.fed += piece.len() as u64;
        let result = if early {
            self.early_end += piece.len() as u64;
            self.conn.recv_early(piece)
        } else {
            self.recv_used = true;
            self.conn.recv(piece)
        };
        if self.conn.bytes_received() != self.fed {
            violation!("bytes_received {} after feeding {}", self.conn.bytes_received(), self.fed);
        }
        match (result, self.error) {
            (Ok(()), None) => {}
            (Ok(()), Some(e)) => violation!("recv returned Ok after the connection error {e:?}"),
            (Err(e), None) => {
                if !e.is_connection_error() {
                    violation!("recv returned a stream error {e:?}");
                }
                self.error = Some(e);
                self.stats.failed = true;
                self.stats.error = Some(e.reason);
            }
            (Err(e), Some(first)) => {
                if e.code != first.code {
                    violation!("recv error changed from {first:?} to {e:?}");
                }
            }
        }
        if self.conn.active_streams() > self.max_streams as usize {
            violation!("{} active streams, limit {}", self.conn.active_streams(), self.max_streams);
        }
        self.check_limits();
    }

    /// The limit counters: each kind handed out once by `take_new_limit_hit`, only kinds that were hit, and a
    /// connection ended by ENHANCE_YOUR_CALM names the limit that did it.
    fn check_limits(&mut self) {
        while let Some(l) = self.conn.take_new_limit_hit() {
            if self.limits_taken.contains(&l) || self.conn.limit_hits().get(l) == 0 {
                violation!("take_new_limit_hit gave {l:?} again or without a hit ({:?})", self.conn.limit_hits());
            }
            self.limits_taken.push(l);
        }
        if self.conn.first_limit_hit().is_some() != (self.conn.limit_hits().total() > 0) {
            violation!("first_limit_hit {:?} with hits {:?}", self.conn.first_limit_hit(), self.conn.limit_hits());
        }
        if let Some(e) = self.error
            && e.code == ErrorCode::EnhanceYourCalm
            && e.reason != "fuzz abort"
            && !self.conn.limit_hits().iter().any(|(l, n)| n > 0 && l.is_fatal())
        {
            violation!("ENHANCE_YOUR_CALM ({}) without a fatal limit hit: {:?}", e.reason, self.conn.limit_hits());
        }
    }

    /// Drains `poll_event`, checking each event; answers new requests with a body of `respond` octets if asked.
    pub fn events(&mut self, respond: Option<u32>) {
        if self.error.is_some() {
            if self.error_drained {
                if let Some(ev) = self.conn.poll_event() {
                    violation!("event after the connection error: {ev:?}");
                }
                return;
            }
            self.error_drained = true;
        }
        while let Some(ev) = self.conn.poll_event() {
            self.on_event(ev);
        }
        if let Some(len) = respond {
            self.respond_all(len);
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Request { stream_id: id, head, end_stream } => {
                self.stats.requests += 1;
                if id % 2 == 0 || id <= self.last_request {
                    violation!("request on stream {id} after stream {}", self.last_request);
                }
                if let Some(last) = self.shutdown_last
                    && id > last
                {
                    violation!("request on stream {id} after our GOAWAY with last stream {last}");
                }
                self.last_request = id;
                self.check_head(id, &head, false);
                // RFC 8470: the head says whether its block arrived as early data, from the input offsets.
                let want = match self.sent.blocks.get(&id).and_then(|b| b.first()) {
                    Some(&(start, Some(end))) => Some(if start >= self.early_end {
                        EarlyData::No
                    } else if end <= self.early_end {
                        EarlyData::Complete
                    } else {
                        EarlyData::Partial
                    }),
                    _ => None,
                };
                if want.is_some_and(|w| w != head.early_data()) {
                    violation!("stream {id}: early_data {:?}, the block's offsets say {want:?}", head.early_data());
                }
                if let Some(Some(fields)) = self.expected_blocks.get(&id).and_then(|b| b.first()) {
                    compare_head(id, &head, fields, false);
                    self.stats.checked_fields += 1;
                }
                self.requests.insert(id, ReqView { ended: end_stream, ..ReqView::default() });
                self.unanswered.push(id);
                self.conn.recycle(head);
            }
            Event::Data { stream_id: id, data, end_stream } => {
                self.stats.data_events += 1;
                let Some(r) = self.requests.get_mut(&id) else { violation!("DATA event on unknown stream {id}") };
                if r.ended || r.reset {
                    violation!("DATA event on stream {id} after its end or reset");
                }
                let sent = self.sent.stream_data.get(&id).map_or(&[][..], |v| &v[..]);
                let from = r.delivered_data;
                if sent.get(from..from + data.len()) != Some(&data[..]) {
                    violation!(
                        "stream {id}: DATA event of {} octets at {from} differs from what the client sent",
                        data.len()
                    );
                }
                r.delivered_data += data.len();
                r.ended = end_stream;
            }
            Event::Trailers { stream_id: id, trailers } => {
                let Some(r) = self.requests.get_mut(&id) else { violation!("trailers on unknown stream {id}") };
                if r.ended || r.reset {
                    violation!("trailers on stream {id} after its end or reset");
                }
                r.ended = true;
                self.check_head(id, &trailers, true);
                if let Some(Some(fields)) = self.expected_blocks.get(&id).and_then(|b| b.get(1)) {
                    compare_head(id, &trailers, fields, true);
                    self.stats.checked_fields += 1;
                }
                self.conn.recycle(trailers);
            }
            Event::StreamReset { stream_id: id, code: _ } => {
                self.stats.resets += 1;
                let Some(r) = self.requests.get_mut(&id) else { violation!("StreamReset on unknown stream {id}") };
                if r.reset {
                    violation!("second StreamReset on stream {id}");
                }
                r.reset = true;
                self.unanswered.retain(|&s| s != id);
            }
            Event::GoAway { .. } => {}
        }
    }

    /// RFC 9113 §8.2–§8.3: what a delivered head may contain.
    fn check_head(&self, id: u32, head: &h2ring::h2::conn::RequestHead, trailers: bool) {
        for (name, value) in head.headers() {
            let name_ok = !name.is_empty()
                && name.iter().all(|&b| (0x21..0x7f).contains(&b) && !b.is_ascii_uppercase())
                && name[0] != b':';
            if !name_ok {
                violation!("stream {id}: delivered field name {:?}", String::from_utf8_lossy(name));
            }
            let ws = |b: Option<&u8>| b.is_some_and(|&b| b == b' ' || b == b'\t');
            if ws(value.first()) || ws(value.last()) || value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
                violation!("stream {id}: delivered field value {:?}", String::from_utf8_lossy(value));
            }
            if matches!(name, b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade")
                || (name == b"te" && value != b"trailers")
            {
                violation!("stream {id}: delivered connection-specific field {:?}", String::from_utf8_lossy(name));
            }
        }
        if trailers {
            return;
        }
        let method = head.method_bytes();
        if method.is_empty() {
            violation!("stream {id}: request without :method");
        }
        if method == b"CONNECT" {
            if head.authority().is_none() {
                violation!("stream {id}: CONNECT without :authority");
            }
        } else {
            let path = head.path();
            if head.scheme().is_none() || !(path.starts_with(b"/") || (path == b"*" && method == b"OPTIONS")) {
                violation!("stream {id}: request with scheme {:?} and path {:?}", head.scheme(), path);
            }
        }
        if let Some(cl) = head.header(b"content-length")
            && std::str::from_utf8(cl).ok().and_then(|s| s.parse::<u64>().ok()) != head.content_length()
        {
            violation!("stream {id}: content-length {cl:?} but content_length() {:?}", head.content_length());
        }
    }

    /// Answers every request that is still unanswered.
    pub fn respond_all(&mut self, body: u32) {
        while !self.unanswered.is_empty() {
            self.respond(0, 200, 1, body, false);
        }
    }

    /// Answers the `pick`-th unanswered request (or, with none, tries stream `pick`, which must fail unless the
    /// server knows that stream).
    pub fn respond(&mut self, pick: u8, status: u16, field_set: u8, body_len: u32, with_length: bool) {
        let (id, known) = if self.unanswered.is_empty() {
            (u32::from(pick), false)
        } else {
            let i = usize::from(pick) % self.unanswered.len();
            (self.unanswered.remove(i), true)
        };
        let headers = response_fields(field_set);
        let body = body_bytes(id, body_len as usize);
        let refs: Vec<(&[u8], &[u8])> = headers.iter().map(|(n, v)| (&n[..], &v[..])).collect();
        let length = with_length.then_some(body.len() as u64);
        let result = self.conn.send_response_with_length(id, status, &refs, length, body.clone());
        let valid_status = (200..=999).contains(&status);
        match result {
            Ok(()) => {
                if !valid_status {
                    violation!("send_response accepted status {status}");
                }
                if self.error.is_some() {
                    violation!("send_response accepted after the connection error");
                }
                if self.responses.contains_key(&id) {
                    violation!("send_response accepted a second response on stream {id}");
                }
                let mut fields = vec![(b":status".to_vec(), status.to_string().into_bytes())];
                fields.extend(headers);
                if let Some(len) = length {
                    fields.push((b"content-length".to_vec(), len.to_string().into_bytes()));
                }
                self.responses.insert(id, Expected { fields, body });
                if let Some(r) = self.requests.get_mut(&id) {
                    r.responded = true;
                }
                self.stats.responses += 1;
            }
            Err(SendError::InvalidStatus) if valid_status => violation!("send_response refused status {status}"),
            Err(SendError::InvalidStatus) => {
                if known {
                    self.unanswered.push(id);
                }
            }
            Err(SendError::AlreadyResponded) if known && !self.responses.contains_key(&id) => {
                violation!("stream {id}: AlreadyResponded without a response")
            }
            Err(_) => {}
        }
    }

    /// `Connection::reset_stream` on the `pick`-th known, live request.
    pub fn reset(&mut self, pick: u8, code: u32) {
        let live: Vec<u32> = self.requests.iter().filter(|(_, r)| !r.reset).map(|(&id, _)| id).collect();
        if live.is_empty() {
            return;
        }
        let mut live = live;
        live.sort_unstable();
        let id = live[usize::from(pick) % live.len()];
        self.conn.reset_stream(id, ErrorCode::from_u32(code));
        self.requests.get_mut(&id).unwrap().reset = true;
        self.unanswered.retain(|&s| s != id);
    }

    pub fn shutdown(&mut self) {
        let before = self.seen.last_goaway;
        self.conn.shutdown();
        self.read(65_535, 0);
        if self.error.is_none()
            && let Some((last, ErrorCode::NoError)) = self.seen.last_goaway
            && before.is_none()
        {
            self.shutdown_last = Some(last);
        }
    }

    pub fn abort(&mut self) {
        self.conn.abort(ErrorCode::InternalError, "fuzz abort");
        if self.error.is_none() {
            match self.conn.error() {
                Some(e) => self.error = Some(*e),
                None => violation!("abort left no error"),
            }
            self.stats.failed = true;
        }
    }

    /// `write_output` with a buffer of `size` octets, `times` times (0: until it returns 0).
    pub fn read(&mut self, size: usize, times: u32) {
        let size = size.max(1);
        let mut buf = std::mem::take(&mut self.out_buf);
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let mut calls = 0u32;
        loop {
            let n = self.conn.write_output(&mut buf[..size]);
            if n > size {
                violation!("write_output returned {n} for a buffer of {size}");
            }
            if n == 0 {
                if size > FRAME_HEADER_LEN && self.conn.has_output() {
                    violation!("write_output wrote nothing into {size} octets but has_output() is true");
                }
                break;
            }
            self.on_output(&buf[..n]);
            calls += 1;
            if times != 0 && calls >= times {
                break;
            }
            if calls > 2_000_000 {
                violation!("write_output never runs dry");
            }
        }
        self.out_buf = buf;
    }

    fn on_output(&mut self, bytes: &[u8]) {
        self.seen.total += bytes.len() as u64;
        self.seen.buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let rest = &self.seen.buf[at..];
            let Some(raw) = rest.first_chunk::<FRAME_HEADER_LEN>() else { break };
            let header = FrameHeader::parse(raw);
            let total = FRAME_HEADER_LEN + header.length as usize;
            if rest.len() < total {
                break;
            }
            let payload = rest[FRAME_HEADER_LEN..total].to_vec();
            self.on_server_frame(&header, &payload);
            at += total;
        }
        self.seen.buf.drain(..at);
    }

    fn on_server_frame(&mut self, header: &FrameHeader, payload: &[u8]) {
        let n = self.seen.frames;
        self.seen.frames += 1;
        if self.seen.error_goaway {
            violation!("frame {n} ({:?}) after a GOAWAY with an error", header.kind);
        }
        if header.length > self.sent.max_frame_size {
            violation!("frame {n} of {} octets, client max {}", header.length, self.sent.max_frame_size);
        }
        let frame = match Frame::decode(header, payload) {
            Ok(f) => f,
            Err(e) => violation!("frame {n} ({header:?}) does not decode: {e:?}"),
        };
        if n == 0 && !matches!(frame, Frame::Settings { ack: false, .. }) {
            violation!("the server's first frame is {frame:?}, not SETTINGS");
        }
        if let Some((id, _, _)) = self.seen.block
            && !matches!(frame, Frame::Continuation { stream_id, .. } if stream_id == id)
        {
            violation!("frame {frame:?} inside the header block of stream {id}");
        }
        match frame {
            Frame::Settings { ack: true, .. } => {
                self.seen.settings_acks += 1;
                if self.seen.settings_acks > self.sent.settings {
                    violation!("{} SETTINGS ACKs for {} SETTINGS", self.seen.settings_acks, self.sent.settings);
                }
            }
            Frame::Settings { ack: false, params } => {
                for (id, v) in params.iter() {
                    if id == h2ring::h2::frame::SettingId::InitialWindowSize {
                        self.seen.server_initial_window = self.seen.server_initial_window.max(u64::from(v));
                    }
                }
            }
            Frame::Ping { ack: true, payload } => {
                let acked = self.seen.ping_acks.entry(payload).or_default();
                *acked += 1;
                if *acked > self.sent.pings.get(&payload).copied().unwrap_or(0) {
                    violation!("PING ACK {payload:?} answers no PING");
                }
            }
            Frame::Ping { ack: false, .. } => {}
            Frame::GoAway { last_stream_id, code, .. } => {
                if let Some((prev, _)) = self.seen.last_goaway
                    && last_stream_id > prev
                {
                    violation!("GOAWAY last stream id grew from {prev} to {last_stream_id}");
                }
                if last_stream_id > self.sent.highest_headers_stream {
                    violation!(
                        "GOAWAY last stream {last_stream_id}, client opened up to {}",
                        self.sent.highest_headers_stream
                    );
                }
                self.seen.last_goaway = Some((last_stream_id, code));
                if code != ErrorCode::NoError {
                    self.seen.error_goaway = true;
                }
            }
            Frame::WindowUpdate { stream_id: 0, increment } => {
                self.seen.server_conn_updates += u64::from(increment);
                let view = 65_535 + self.seen.server_conn_updates as i128 - self.sent.data_flow as i128;
                if view > wire::MAX_WINDOW as i128 {
                    violation!("connection WINDOW_UPDATE takes the client's view of our window to {view}");
                }
            }
            Frame::WindowUpdate { stream_id, increment } => {
                let sum = self.seen.server_stream_updates.entry(stream_id).or_default();
                *sum += u64::from(increment);
                let flow = self.sent.stream_flow.get(&stream_id).copied().unwrap_or(0);
                let view = self.seen.server_initial_window.max(65_535) as i128 + *sum as i128 - flow as i128;
                if view > wire::MAX_WINDOW as i128 {
                    violation!("WINDOW_UPDATE takes stream {stream_id}'s window to {view} in the client's view");
                }
            }
            Frame::RstStream { stream_id, .. } => {
                if stream_id % 2 == 0 {
                    violation!("RST_STREAM on even stream {stream_id}");
                }
                let s = self.seen.streams.entry(stream_id).or_default();
                s.reset = true;
                if let Some(r) = self.requests.get_mut(&stream_id)
                    && !r.reset
                {
                    // Reset by the server for a protocol error (§8.1: or NO_ERROR after a complete response);
                    // a StreamReset event has been queued if the caller knew it, or it was our own reset.
                    let _ = r;
                }
            }
            Frame::Headers { stream_id, end_stream, end_headers, fragment, .. } => {
                if stream_id % 2 == 0 {
                    violation!("HEADERS on even stream {stream_id}");
                }
                let s = self.seen.streams.entry(stream_id).or_default();
                if s.headers || s.ended || s.reset {
                    violation!("second HEADERS, or HEADERS after END_STREAM or RST_STREAM, on stream {stream_id}");
                }
                self.seen.block = Some((stream_id, fragment.to_vec(), end_stream));
                if end_headers {
                    self.end_block();
                }
            }
            Frame::Continuation { stream_id, end_headers, fragment } => {
                match &mut self.seen.block {
                    Some((id, block, _)) if *id == stream_id => block.extend_from_slice(fragment),
                    _ => violation!("CONTINUATION on stream {stream_id} outside a header block"),
                }
                if end_headers {
                    self.end_block();
                }
            }
            Frame::Data { stream_id, end_stream, data, .. } => self.on_data(stream_id, end_stream, data),
            other => violation!("the server sent {other:?}"),
        }
    }

    fn end_block(&mut self) {
        let (id, block, end_stream) = self.seen.block.take().unwrap();
        let mut fields: Fields = Vec::new();
        if let Err(e) = self.seen.decoder.decode(&block, DecodeLimits::UNLIMITED, |f| {
            fields.push((f.name.to_vec(), f.value.to_vec()));
        }) {
            violation!("response header block on stream {id} does not decode: {e:?}");
        }
        let status = match fields.first() {
            Some((n, v)) if n == b":status" && v.len() == 3 && v.iter().all(u8::is_ascii_digit) => {
                std::str::from_utf8(v).unwrap().parse::<u16>().unwrap()
            }
            _ => violation!("response on stream {id} does not start with :status: {fields:?}"),
        };
        if fields[1..].iter().any(|(n, _)| n.starts_with(b":")) {
            violation!("response on stream {id} has a pseudo-header after :status");
        }
        match self.responses.get(&id) {
            Some(exp) => {
                if fields != exp.fields {
                    violation!("stream {id}: response fields {:?}, submitted {:?}", show(&fields), show(&exp.fields));
                }
                if end_stream != exp.body.is_empty() {
                    violation!("stream {id}: END_STREAM on HEADERS is {end_stream}, body {} octets", exp.body.len());
                }
            }
            None => {
                // A response of the server's own (431 for an oversized block): no body.
                if !(400..600).contains(&status) || !end_stream {
                    violation!("stream {id}: unsubmitted response {status}, END_STREAM {end_stream}");
                }
            }
        }
        let s = self.seen.streams.entry(id).or_default();
        s.headers = true;
        s.status = status;
        s.ended = end_stream;
    }

    fn on_data(&mut self, id: u32, end_stream: bool, data: &[u8]) {
        let s = self.seen.streams.entry(id).or_default();
        if !s.headers || s.ended || s.reset {
            violation!("DATA on stream {id} (headers {}, ended {}, reset {})", s.headers, s.ended, s.reset);
        }
        if data.is_empty() && !end_stream {
            violation!("empty DATA frame without END_STREAM on stream {id}");
        }
        let Some(exp) = self.responses.get(&id) else { violation!("DATA on stream {id} without a submitted body") };
        let from = s.data as usize;
        if exp.body.get(from..from + data.len()) != Some(data) {
            violation!(
                "stream {id}: DATA of {} octets at {from} differs from the body ({})",
                data.len(),
                exp.body.len()
            );
        }
        s.data += data.len() as u64;
        if end_stream && s.data != exp.body.len() as u64 {
            violation!("stream {id}: END_STREAM after {} of {} body octets", s.data, exp.body.len());
        }
        s.ended = end_stream;
        self.seen.conn_data += data.len() as u64;
        let conn_limit = 65_535 + self.sent.conn_updates;
        if self.seen.conn_data > conn_limit {
            violation!("{} DATA octets sent, connection window at most {conn_limit}", self.seen.conn_data);
        }
        let stream_limit = self.sent.max_initial_window + self.sent.stream_updates.get(&id).copied().unwrap_or(0);
        if s.data > stream_limit {
            violation!("stream {id}: {} DATA octets sent, window at most {stream_limit}", s.data);
        }
    }

    /// The end of a run: everything flushed, then either the connection still answers a PING (when the input
    /// ended cleanly) or it failed, said GOAWAY last and counts as closed.
    pub fn finish(&mut self, respond: Option<u32>) {
        self.events(respond);
        self.read(65_535, 0);
        if self.error.is_none() && self.sent.at_frame_boundary() && !self.sent.bad_preface {
            let probe = (self.fed ^ 0x5a5a_1234_dead_beef).to_be_bytes();
            let mut ping = Vec::new();
            wire::frame(&mut ping, wire::PING, 0, 0, &probe);
            self.recv(&ping, false);
            self.events(respond);
            self.read(65_535, 0);
            match self.error {
                None => {
                    if self.seen.ping_acks.get(&probe).copied().unwrap_or(0) == 0 {
                        violation!("no PING ACK for the final probe");
                    }
                    self.stats.probed = true;
                }
                Some(e) if e.code == ErrorCode::EnhanceYourCalm => {}
                Some(e) => violation!("a PING at a frame boundary failed the connection: {e:?}"),
            }
        }
        if let Some(e) = self.error {
            self.events(None);
            self.read(65_535, 0);
            if !self.seen.buf.is_empty() {
                violation!("output ends inside a frame: {} octets left", self.seen.buf.len());
            }
            match self.seen.last_goaway {
                Some((_, code)) if code == e.code && self.seen.error_goaway || e.code == ErrorCode::NoError => {}
                other => violation!("connection error {e:?}, last GOAWAY {other:?}"),
            }
            if !self.conn.is_closed() {
                violation!("failed connection is not closed after its output was read");
            }
        }
    }
}

fn show(fields: &Fields) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(n, v)| {
            let v = if v.len() > 40 {
                format!("{}… ({} octets)", String::from_utf8_lossy(&v[..40]), v.len())
            } else {
                String::from_utf8_lossy(v).into_owned()
            };
            (String::from_utf8_lossy(n).into_owned(), v)
        })
        .collect()
}

/// A delivered head against the fields the client encoded (HPACK model in sync).
fn compare_head(id: u32, head: &h2ring::h2::conn::RequestHead, fields: &Fields, trailers: bool) {
    let regular: Vec<(&[u8], &[u8])> =
        fields.iter().filter(|(n, _)| !n.starts_with(b":")).map(|(n, v)| (&n[..], &v[..])).collect();
    let got: Vec<(&[u8], &[u8])> = head.headers().collect();
    if got != regular {
        violation!("stream {id}: delivered fields {:?}, encoded {:?}", show(&own(&got)), show(&own(&regular)));
    }
    if trailers {
        return;
    }
    let pseudo = |name: &[u8]| fields.iter().find(|(n, _)| n == name).map(|(_, v)| &v[..]);
    let want_authority = pseudo(b":authority").or_else(|| regular.iter().find(|(n, _)| *n == b"host").map(|f| f.1));
    if head.method_bytes() != pseudo(b":method").unwrap_or_default()
        || head.scheme() != pseudo(b":scheme")
        || head.path() != pseudo(b":path").unwrap_or_default()
        || head.authority() != want_authority
    {
        violation!("stream {id}: delivered pseudo-headers differ from {:?}", show(fields));
    }
}

fn own(f: &[(&[u8], &[u8])]) -> Fields {
    f.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
}

/// Response header sets the harness submits (lowercase names, as the API asks).
fn response_fields(set: u8) -> Fields {
    let f = |pairs: &[(&str, &str)]| -> Fields {
        pairs.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    };
    match set % 9 {
        0 => Vec::new(),
        1 => f(&[("content-type", "text/html; charset=utf-8")]),
        2 => f(&[("x-r", "1"), ("cache-control", "no-cache")]),
        3 => f(&[("set-cookie", "a=b"), ("cookie", "c=d")]),
        4 => vec![(b"x-big".to_vec(), vec![b'b'; 20_000])],
        5 => f(&[("vary", "accept-encoding"), ("content-encoding", "gzip"), ("etag", "\"abc\"")]),
        6 => f(&[("authorization", "secret"), ("x-r", "1")]),
        7 => f(&[("x-dup", "1"), ("x-dup", "1"), ("x-dup", "2")]),
        _ => vec![(b"x-mid".to_vec(), vec![b'm'; 1500]), (b"x-mid".to_vec(), vec![b'n'; 1500])],
    }
}

/// A body whose octets depend on the stream and the offset, so a misplaced slice shows.
pub fn body_bytes(id: u32, len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (id as usize).wrapping_mul(31).wrapping_add(i * 7) as u8).collect::<Vec<u8>>())
}

pub fn conn_config(k: &Knobs) -> ConnConfig {
    let mut c = ConnConfig::default();
    if let Some(v) = k.max_concurrent_streams {
        c.max_concurrent_streams = v;
    }
    if let Some(v) = k.initial_window_size {
        c.initial_window_size = v;
    }
    if let Some(v) = k.connection_window_size {
        c.connection_window_size = v;
    }
    if let Some(v) = k.max_frame_size {
        c.max_frame_size = v;
    }
    if let Some(v) = k.max_header_list_size {
        c.max_header_list_size = v;
    }
    if let Some(v) = k.max_header_count {
        c.max_header_count = v;
    }
    if let Some(v) = k.header_table_size {
        c.header_table_size = v;
    }
    if let Some(v) = k.max_continuation_frames {
        c.max_continuation_frames = v;
    }
    if let Some(v) = k.max_queued_output {
        c.max_queued_output = v;
    }
    let limits = [
        &mut c.reset_limit,
        &mut c.ping_limit,
        &mut c.settings_limit,
        &mut c.priority_limit,
        &mut c.empty_frame_limit,
        &mut c.continuation_limit,
    ];
    for (slot, knob) in limits.into_iter().zip(k.rate_limits) {
        if let Some((per_tick, burst)) = knob {
            *slot = RateLimit::new(per_tick, burst);
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------------------------
// Driver 1: bytes.

/// `data[0]` chooses how the input is cut, `data[1]` the output buffer and how much of the input is early data;
/// the rest follows the client preface. Every request is answered with a small body.
pub fn run_bytes(data: &[u8]) -> Stats {
    let [mode, out, soup @ ..] = data else { return Stats::default() };
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(soup);
    let out_size = OUT_SIZES[usize::from(out & 7)];
    let early = if out & 8 != 0 { usize::from(out >> 4) * 8 } else { 0 };
    let mut peer = Peer::new(ConnConfig::default());
    let mut lcg = u32::from(*mode) | 1;
    let mut rest = &input[..];
    let body = |peer: &Peer| (peer.last_request % 5) * 1500;
    while !rest.is_empty() {
        let n = match mode % 4 {
            0 => rest.len(),
            1 => usize::from(mode >> 2) + 1,
            _ => {
                lcg = lcg.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let max = if mode % 4 == 2 { 32 } else { 512 };
                (lcg >> 16) as usize % max + 1
            }
        };
        let fed = peer.fed as usize;
        let n = if fed < early { n.min(early - fed) } else { n }.min(rest.len());
        peer.recv(&rest[..n], fed < early);
        rest = &rest[n..];
        let len = body(&peer);
        peer.events(Some(len));
        peer.read(out_size, 0);
    }
    let len = body(&peer);
    peer.finish(Some(len));
    peer.stats
}

// ---------------------------------------------------------------------------------------------------------------
// Driver 2: a script.

/// The structured client: stream ids, an HPACK model of the server's decoder, the bytes not yet fed.
struct Client {
    next_id: u32,
    opened: Vec<u32>,
    encoder: ClientEncoder,
    /// False once a block was corrupted, left open or sent raw: the server's table no longer matches the model.
    in_sync: bool,
    first_block: bool,
    /// The server's SETTINGS_HEADER_TABLE_SIZE.
    table_limit: usize,
    pending: Vec<u8>,
    open_block: bool,
    calm: bool,
    /// Streams the client ended (END_STREAM sent).
    ended: Vec<u32>,
}

impl Client {
    /// The id `sel` names. A calm client only picks, for `Opened`, streams it has not ended and the server has
    /// not reset (a real client knows both); `None` when there is no such stream.
    fn stream(&mut self, sel: StreamSel, opening: bool, peer: &Peer) -> Option<u32> {
        let id = match sel {
            StreamSel::New => self.next_id,
            StreamSel::Opened(k) if self.calm => {
                let live: Vec<u32> = self
                    .opened
                    .iter()
                    .copied()
                    .filter(|id| !self.ended.contains(id) && !peer.seen.streams.get(id).is_some_and(|s| s.reset))
                    .collect();
                *live.get(live.len().checked_sub(1 + usize::from(k) % live.len().max(1))?)?
            }
            StreamSel::Opened(k) => match self.opened.len() {
                0 => self.next_id,
                n => self.opened[n - 1 - usize::from(k) % n],
            },
            StreamSel::Skip(k) => self.next_id + 2 * u32::from(k),
            StreamSel::Small(k) => u32::from(k),
            StreamSel::Any(x) => x & 0x7fff_ffff,
        };
        if opening && id >= self.next_id && id % 2 == 1 {
            self.next_id = id.saturating_add(2);
        }
        if opening && !self.opened.contains(&id) {
            self.opened.push(id);
        }
        Some(id)
    }

    /// Encodes a block; returns it and, while the model is in sync and the block is intact, its fields.
    fn block(&mut self, spec: &BlockSpec) -> (Vec<u8>, Option<Fields>) {
        let mut b = BlockOut { out: Vec::new(), fields: Vec::new() };
        if self.first_block && spec.size_updates.is_empty() && self.table_limit < 4096 {
            // A client that has read our SETTINGS shrinks its table before using it (RFC 7541 §4.2).
            self.encoder.size_update(&mut b.out, self.table_limit);
        }
        self.first_block = false;
        for &u in &spec.size_updates {
            let u = if self.calm { u.min(self.table_limit as u16) } else { u };
            self.encoder.size_update(&mut b.out, usize::from(u));
            if usize::from(u) > self.table_limit {
                self.in_sync = false;
            }
        }
        let enc = &mut self.encoder;
        const PATHS: [&[u8]; 8] = [b"/", b"/index.html", b"/a?b=c", b"/fuzz/1", b"", b"x", b"/%00", b"/p/q/r"];
        const AUTHORITIES: [&[u8]; 3] = [b"www.example.com", b"example.com", b"a:1"];
        let path = PATHS[usize::from(spec.path) % PATHS.len()];
        let authority = AUTHORITIES[usize::from(spec.path / 8) % AUTHORITIES.len()];
        let method: Option<&[u8]> = match spec.method % 8 {
            0 => Some(b"GET"),
            1 => Some(b"HEAD"),
            2 => Some(b"POST"),
            3 => Some(b"PUT"),
            4 => Some(b"OPTIONS"),
            5 => Some(b"CONNECT"),
            6 => None,
            _ => Some(b"BREW"),
        };
        let h = spec.path.is_multiple_of(2);
        if let Some(m) = method {
            b.put(enc, b":method", m, Repr::IndexedIfPossible, h);
            if m == b"CONNECT" {
                b.put(enc, b":authority", b"example.com:443", Repr::Incremental, h);
            } else {
                let scheme: &[u8] = if spec.path.is_multiple_of(3) { b"http" } else { b"https" };
                b.put(enc, b":scheme", scheme, Repr::IndexedIfPossible, h);
                let p = if m == b"OPTIONS" && spec.path % 2 == 1 { &b"*"[..] } else { path };
                b.put(enc, b":path", p, Repr::IndexedIfPossible, h);
                if spec.authority && spec.host != 3 {
                    b.put(enc, b":authority", authority, Repr::Incremental, h);
                }
            }
            match spec.host {
                1 | 3 => b.put(enc, b"host", authority, Repr::Without, h),
                2 => b.put(enc, b"host", b"other.example", Repr::Without, h),
                _ => {}
            }
        }
        for f in &spec.fields {
            match *f {
                FieldSel::Dynamic(k) => {
                    if let Some(field) = enc.indexed_dynamic(&mut b.out, usize::from(k)) {
                        b.fields.push(field);
                    }
                }
                FieldSel::Field { name, value, repr, huffman } => {
                    let repr =
                        [Repr::IndexedIfPossible, Repr::Incremental, Repr::Without, Repr::Never][usize::from(repr % 4)];
                    b.put(enc, &name_bytes(name), &value_bytes(value), repr, huffman);
                }
            }
        }
        let BlockOut { mut out, fields } = b;
        if spec.mutated() {
            self.in_sync = false;
            for &(pos, mask) in &spec.flips {
                if !out.is_empty() {
                    let i = usize::from(pos) % out.len();
                    out[i] ^= mask;
                }
            }
            if let Some(t) = spec.truncate {
                out.truncate(usize::from(t) % (out.len() + 1));
            }
            out.extend_from_slice(&spec.append);
        }
        let fields = self.in_sync.then_some(fields);
        (out, fields)
    }
}

struct BlockOut {
    out: Vec<u8>,
    fields: Fields,
}

impl BlockOut {
    fn put(&mut self, enc: &mut ClientEncoder, name: &[u8], value: &[u8], repr: Repr, huffman: bool) {
        enc.field(&mut self.out, name, value, repr, huffman);
        self.fields.push((name.to_vec(), value.to_vec()));
    }
}

fn name_bytes(n: NameSel) -> Vec<u8> {
    const COMMON: [&str; 12] = [
        "accept",
        "accept-encoding",
        "user-agent",
        "cookie",
        "content-length",
        "content-type",
        "if-none-match",
        "custom-key",
        "x-fuzz",
        "te",
        "cache-control",
        "referer",
    ];
    const BAD: [&[u8]; 11] = [
        b"Upper",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
        b":path",
        b"",
        b"a b",
        b"x\0",
        b":status",
    ];
    match n {
        NameSel::Common(k) => COMMON[usize::from(k) % COMMON.len()].as_bytes().to_vec(),
        NameSel::Static(k) => wire::STATIC[usize::from(k) % wire::STATIC.len()].0.as_bytes().to_vec(),
        NameSel::Custom(len, seed) => {
            let mut v = b"x-".to_vec();
            v.extend((0..1 + len % 6).map(|i| b'a' + seed.wrapping_add(i.wrapping_mul(7)) % 26));
            v
        }
        NameSel::Bad(k) => BAD[usize::from(k) % BAD.len()].to_vec(),
        NameSel::Raw(len, seed) => raw_bytes(len % 8 + 1, seed),
    }
}

fn value_bytes(v: ValueSel) -> Vec<u8> {
    const COMMON: [&str; 12] = [
        "",
        "1",
        "gzip",
        "no-cache",
        "custom-value",
        "www.example.com",
        "trailers",
        "*/*",
        "text/html; charset=utf-8",
        "a=b; c=d",
        "private",
        "302",
    ];
    const BAD: [&[u8]; 6] = [b" lead", b"trail ", b"a\r\nb", b"nul\0", b"\t", b"\n"];
    match v {
        ValueSel::Common(k) => COMMON[usize::from(k) % COMMON.len()].as_bytes().to_vec(),
        ValueSel::Repeat(n) => vec![b'v'; usize::from(n)],
        ValueSel::Number(n) => n.to_string().into_bytes(),
        ValueSel::Bad(k) => BAD[usize::from(k) % BAD.len()].to_vec(),
        ValueSel::Raw(len, seed) => raw_bytes(len % 16, seed),
    }
}

fn raw_bytes(len: u8, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x100;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Runs a script against a connection configured by its knobs.
pub fn run_script(script: &Script) -> Stats {
    let cfg = conn_config(&script.knobs);
    let table_limit = cfg.header_table_size as usize;
    let mut peer = Peer::new(cfg);
    let mut c = Client {
        next_id: 1,
        opened: Vec::new(),
        encoder: ClientEncoder::new(),
        in_sync: true,
        first_block: true,
        table_limit,
        pending: PREFACE.to_vec(),
        open_block: false,
        calm: script.chaos <= 1,
        ended: Vec::new(),
    };
    if let Some(params) = &script.first_settings {
        wire::frame(&mut c.pending, wire::SETTINGS, 0, 0, &wire::settings_payload(params));
    }
    let respond = script.auto_respond.then_some(700);
    let out_size = 16_384;
    for op in &script.ops {
        match op {
            Op::Frame(f) => serialize(&mut c, &mut peer, f),
            Op::Flush { chunk, early } => {
                let input = std::mem::take(&mut c.pending);
                peer.feed(&input, usize::from(*chunk), *early, respond, out_size);
            }
            Op::Respond { pick, status, fields, body, with_length } => {
                peer.respond(*pick, *status, *fields, *body, *with_length)
            }
            Op::RespondAll { body } => peer.respond_all(*body),
            Op::Reset { pick, code } => peer.reset(*pick, *code),
            Op::Shutdown => peer.shutdown(),
            Op::Abort => peer.abort(),
            Op::Read { size, times } => peer.read(usize::from(*size), u32::from(*times)),
            Op::Tick(n) => tick(&mut peer, *n),
        }
        peer.events(respond);
    }
    let input = std::mem::take(&mut c.pending);
    peer.feed(&input, 0, false, respond, out_size);
    peer.finish(respond);
    peer.stats
}

/// One tick of the caller's clock (`Connection::tick` refills the flood budgets), and the accessors a caller
/// reads on its timer: they must hold together.
fn tick(peer: &mut Peer, n: u16) {
    for _ in 0..=n % 4 {
        peer.conn.tick();
    }
    let c = &peer.conn;
    if c.is_closed() && c.has_output() {
        violation!("is_closed() with output pending");
    }
    if peer.error.is_some() != c.error().is_some() {
        violation!("error() is {:?}, recv said {:?}", c.error(), peer.error);
    }
    if c.send_blocked_on_peer_window() && (c.has_output() || peer.error.is_some()) {
        violation!("send_blocked_on_peer_window() with output to write or after an error");
    }
    peer.check_limits();
}

fn serialize(c: &mut Client, peer: &mut Peer, f: &FrameOp) {
    let sel = match f {
        FrameOp::Headers { stream, .. }
        | FrameOp::Continuation { stream, .. }
        | FrameOp::Data { stream, .. }
        | FrameOp::RstStream { stream, .. }
        | FrameOp::Priority { stream, .. }
        | FrameOp::PushPromise { stream, .. }
        | FrameOp::Unknown { stream, .. }
        | FrameOp::Raw { stream, .. } => Some(*stream),
        FrameOp::WindowUpdate { stream, .. } => *stream,
        _ => None,
    };
    let opening = matches!(f, FrameOp::Headers { .. });
    let id = match sel {
        None => 0,
        Some(sel) => match c.stream(sel, opening, peer) {
            Some(id) => id,
            // A well-behaved client has no stream to send this on.
            None => return,
        },
    };
    let end = match f {
        FrameOp::Headers { end_stream, .. } | FrameOp::Data { end_stream, .. } => *end_stream,
        FrameOp::RstStream { .. } => true,
        _ => false,
    };
    if end && id != 0 {
        c.ended.push(id);
    }
    match f {
        FrameOp::Headers { stream: _, block, end_stream, pieces, end_headers, pad, priority } => {
            let (bytes, fields) = c.block(block);
            peer.expected_blocks.entry(id).or_default().push(fields);
            let pieces = usize::from((*pieces).max(1));
            let size = bytes.len().div_ceil(pieces).max(1);
            let mut parts: Vec<&[u8]> = bytes.chunks(size).collect();
            parts.resize(pieces.max(parts.len()), &[]);
            let mut first = Vec::new();
            let mut flags = if *end_stream { wire::END_STREAM } else { 0 };
            if let Some((dep, weight, excl)) = priority {
                flags |= wire::PRIORITY_FLAG;
                let dep = if *excl { dep | 0x8000_0000 } else { dep & 0x7fff_ffff };
                first.extend_from_slice(&dep.to_be_bytes());
                first.push(*weight);
            }
            first.extend_from_slice(parts[0]);
            if let Some(p) = pad {
                flags |= wire::PADDED;
                first = wire::padded(&first, *p);
            }
            let last = parts.len() - 1;
            if last == 0 && *end_headers {
                flags |= wire::END_HEADERS;
            }
            let out = &mut c.pending;
            wire::frame(out, wire::HEADERS, flags, id, &first);
            for (i, part) in parts.iter().enumerate().skip(1) {
                let fl = if i == last && *end_headers { wire::END_HEADERS } else { 0 };
                wire::frame(out, wire::CONTINUATION, fl, id, part);
            }
            if !*end_headers {
                c.in_sync = false;
                c.open_block = true;
            }
        }
        FrameOp::Continuation { stream: _, end_headers, fragment } => {
            c.in_sync = false;
            let flags = if *end_headers { wire::END_HEADERS } else { 0 };
            wire::frame(&mut c.pending, wire::CONTINUATION, flags, id, fragment);
        }
        FrameOp::Data { stream: _, len, end_stream, pad } => {
            let body = body_bytes(id ^ 0x55, *len as usize);
            let flags = if *end_stream { wire::END_STREAM } else { 0 };
            match pad {
                Some(p) => wire::frame(&mut c.pending, wire::DATA, flags | wire::PADDED, id, &wire::padded(&body, *p)),
                None => wire::frame(&mut c.pending, wire::DATA, flags, id, &body),
            }
        }
        FrameOp::WindowUpdate { stream: _, increment } => {
            wire::frame(&mut c.pending, wire::WINDOW_UPDATE, 0, id, &increment.to_be_bytes());
        }
        FrameOp::RstStream { stream: _, code } => {
            wire::frame(&mut c.pending, wire::RST_STREAM, 0, id, &code.to_be_bytes());
        }
        FrameOp::Settings { ack, params } => {
            let flags = if *ack { wire::ACK } else { 0 };
            wire::frame(&mut c.pending, wire::SETTINGS, flags, 0, &wire::settings_payload(params));
        }
        FrameOp::Ping { ack, payload } => {
            wire::frame(&mut c.pending, wire::PING, if *ack { wire::ACK } else { 0 }, 0, payload);
        }
        FrameOp::Priority { stream: _, dependency, weight, exclusive } => {
            let dep = if *exclusive { dependency | 0x8000_0000 } else { dependency & 0x7fff_ffff };
            let mut p = dep.to_be_bytes().to_vec();
            p.push(*weight);
            wire::frame(&mut c.pending, wire::PRIORITY, 0, id, &p);
        }
        FrameOp::GoAway { last, code, debug } => {
            let mut p = last.to_be_bytes().to_vec();
            p.extend_from_slice(&code.to_be_bytes());
            p.extend_from_slice(debug);
            wire::frame(&mut c.pending, wire::GOAWAY, 0, 0, &p);
        }
        FrameOp::PushPromise { stream: _, promised } => {
            let mut p = promised.to_be_bytes().to_vec();
            p.push(0x82);
            wire::frame(&mut c.pending, wire::PUSH_PROMISE, wire::END_HEADERS, id, &p);
        }
        FrameOp::Unknown { stream: _, kind, flags, payload } => {
            wire::frame(&mut c.pending, *kind, *flags, id, payload);
        }
        FrameOp::Raw { stream: _, kind, flags, payload, lie } => {
            if *kind == wire::HEADERS || *kind == wire::CONTINUATION {
                c.in_sync = false;
            }
            match lie {
                Some(len) => wire::frame_with_len(&mut c.pending, *len, *kind, *flags, id, payload),
                None => wire::frame(&mut c.pending, *kind, *flags, id, payload),
            }
        }
    }
}
