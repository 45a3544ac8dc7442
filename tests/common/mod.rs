//! Shared helpers for the connection conformance suite (`tests/conn_*.rs`).
//!
//! The client side is typed in by hand from the RFCs: frames from the layouts of RFC 9113 §4.1 and §6, header blocks
//! from RFC 7541 §5–§6 (no Huffman), error codes and setting ids as the numbers of RFC 9113 §7 and §6.5.2. Nothing
//! the client sends comes from our frame writer or HPACK encoder, so a shared mistake cannot hide. Only the reading
//! direction uses the crate: `Frame::decode` validates every frame the server writes, and one persistent
//! `HpackDecoder` decodes every response header block in order.
#![allow(dead_code)]

use bytes::Bytes;
use h2ring::h2::conn::{ConnConfig, Connection, Event};
use h2ring::h2::error::{ErrorCode, H2Error};
use h2ring::h2::frame::{Frame, FrameHeader};
use h2ring::h2::hpack::{DecodeLimits, HpackDecoder};

pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Flags (RFC 9113 §6).
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// Error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Setting identifiers (RFC 9113 §6.5.2).
pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const ENABLE_PUSH: u16 = 0x2;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const MAX_FRAME_SIZE: u16 = 0x5;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

pub const MAX_WINDOW: u32 = (1 << 31) - 1;

// ---------------------------------------------------------------------------------------------------------------
// Frames, by hand (RFC 9113 §4.1: Length (24), Type (8), Flags (8), R (1), Stream Identifier (31), payload).

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24, "test bug: payload does not fit a 24-bit length");
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Only the 9-octet header, claiming `len` octets of payload.
pub fn frame_header(len: u32, kind: u8, flags: u8, stream: u32) -> Vec<u8> {
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f
}

pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for &(id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn settings_ack() -> Vec<u8> {
    frame(SETTINGS, ACK, 0, &[])
}

pub fn ping(flags: u8, payload: [u8; 8]) -> Vec<u8> {
    frame(PING, flags, 0, &payload)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn goaway(last_stream: u32, code: u32) -> Vec<u8> {
    let mut p = last_stream.to_be_bytes().to_vec();
    p.extend_from_slice(&code.to_be_bytes());
    frame(GOAWAY, 0, 0, &p)
}

/// PRIORITY (§6.3): E + Stream Dependency (32), Weight (8).
pub fn priority(stream: u32, depends_on: u32, weight: u8) -> Vec<u8> {
    let mut p = depends_on.to_be_bytes().to_vec();
    p.push(weight);
    frame(PRIORITY, 0, stream, &p)
}

pub fn headers(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    frame(HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, flags: u8, block: &[u8]) -> Vec<u8> {
    frame(CONTINUATION, flags, stream, block)
}

pub fn data(stream: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    frame(DATA, flags, stream, payload)
}

/// DATA with PADDED (§6.1): Pad Length (8), data, `pad` zero octets.
pub fn data_padded(stream: u32, flags: u8, payload: &[u8], pad: u8) -> Vec<u8> {
    let mut p = vec![pad];
    p.extend_from_slice(payload);
    p.resize(p.len() + usize::from(pad), 0);
    frame(DATA, flags | PADDED, stream, &p)
}

pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub mod hp;

// ---------------------------------------------------------------------------------------------------------------
// Reading the server.

/// One frame the server wrote, copied out; header blocks already decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
    /// On the frame that ended a header block (END_HEADERS): the decoded fields.
    pub fields: Option<Vec<(String, String)>>,
    /// On the frame that ended a header block: the whole block, as sent.
    pub block: Option<Vec<u8>>,
}

impl OwnedFrame {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }

    /// GOAWAY: (last stream id, error code).
    pub fn goaway(&self) -> Option<(u32, u32)> {
        (self.kind == GOAWAY).then(|| (self.u32_at(0) & MAX_WINDOW, self.u32_at(4)))
    }

    /// RST_STREAM: error code.
    pub fn rst(&self) -> Option<u32> {
        (self.kind == RST_STREAM).then(|| self.u32_at(0))
    }

    /// WINDOW_UPDATE: increment.
    pub fn window_update(&self) -> Option<u32> {
        (self.kind == WINDOW_UPDATE).then(|| self.u32_at(0) & MAX_WINDOW)
    }

    pub fn is_data(&self) -> bool {
        self.kind == DATA
    }

    pub fn end_stream(&self) -> bool {
        matches!(self.kind, DATA | HEADERS) && self.flags & END_STREAM != 0
    }

    /// The :status of a completed response header block.
    pub fn status(&self) -> Option<u16> {
        let fields = self.fields.as_ref()?;
        fields.iter().find(|(n, _)| n == ":status").map(|(_, v)| v.parse().unwrap())
    }

    /// SETTINGS parameters in wire order.
    pub fn settings(&self) -> Vec<(u16, u32)> {
        assert_eq!(self.kind, SETTINGS);
        self.payload
            .chunks(6)
            .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]])))
            .collect()
    }
}

/// A requested received as an [`Event::Request`], with everything copied out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    pub stream: u32,
    pub end_stream: bool,
    pub method: String,
    pub scheme: Option<String>,
    pub authority: Option<String>,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// An [`Event`], owned and comparable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Request(Req),
    Data { stream: u32, data: Vec<u8>, end_stream: bool },
    Trailers { stream: u32, headers: Vec<(String, String)> },
    Reset { stream: u32, code: ErrorCode },
    GoAway { last: u32, code: ErrorCode },
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A hand-rolled client driving one in-process [`Connection`].
pub struct Client {
    pub conn: Connection,
    /// Decodes every response header block, in order (one HPACK context, RFC 7541 §2.2).
    pub decoder: HpackDecoder,
    /// The SETTINGS_MAX_FRAME_SIZE this client advertised: no server frame may be larger (§4.2).
    pub max_frame_size: u32,
    /// The server's SETTINGS, as first sent.
    pub server_settings: Vec<(u16, u32)>,
    /// Everything the server sent before the client's preface (its SETTINGS, maybe a WINDOW_UPDATE).
    pub server_preface: Vec<OwnedFrame>,
    block: Option<(u32, Vec<u8>)>,
    /// Output bytes of a frame cut by a small `write_output` buffer.
    pending: Vec<u8>,
}

impl Client {
    /// A connection that has not seen a byte from the client yet.
    pub fn new(cfg: ConnConfig) -> Self {
        Self {
            conn: Connection::new(cfg),
            decoder: HpackDecoder::new(4096),
            max_frame_size: 16_384,
            server_settings: Vec::new(),
            server_preface: Vec::new(),
            block: None,
            pending: Vec::new(),
        }
    }

    /// Preface, empty SETTINGS, and the ACK of the server's SETTINGS.
    pub fn connect(cfg: ConnConfig) -> Self {
        Self::connect_with(cfg, &[])
    }

    pub fn connect_with(cfg: ConnConfig, params: &[(u16, u32)]) -> Self {
        let mut c = Self::new(cfg);
        let first = c.read();
        assert!(!first.is_empty(), "the server sends its preface first");
        assert_eq!((first[0].kind, first[0].flags), (SETTINGS, 0), "§3.4: server preface is SETTINGS");
        c.server_settings = first[0].settings();
        c.server_preface = first;
        c.send_ok(&cat(&[PREFACE, &settings(params), &settings_ack()]));
        let out = c.read();
        assert_eq!(out.len(), 1, "only the SETTINGS ACK: {out:?}");
        assert_eq!((out[0].kind, out[0].flags, out[0].payload.len()), (SETTINGS, ACK, 0));
        for &(id, v) in params {
            if id == MAX_FRAME_SIZE {
                c.max_frame_size = v;
            }
        }
        c
    }

    pub fn send(&mut self, bytes: &[u8]) -> Result<(), H2Error> {
        self.conn.recv(bytes)
    }

    #[track_caller]
    pub fn send_ok(&mut self, bytes: &[u8]) {
        if let Err(e) = self.conn.recv(bytes) {
            panic!("unexpected connection error: {e}");
        }
    }

    /// Drains `write_output` with a 64 KiB buffer.
    pub fn read(&mut self) -> Vec<OwnedFrame> {
        self.read_with(64 << 10)
    }

    /// Drains `write_output` with `dst` of `size` bytes; frames may span calls.
    pub fn read_with(&mut self, size: usize) -> Vec<OwnedFrame> {
        let mut buf = vec![0u8; size];
        let mut calls = 0;
        loop {
            let n = self.conn.write_output(&mut buf);
            if n == 0 {
                break;
            }
            calls += 1;
            assert!(calls < 10_000_000, "write_output never runs dry");
            self.pending.extend_from_slice(&buf[..n]);
        }
        assert!(!self.conn.has_output(), "write_output returned 0 but has_output() is true");
        let bytes = std::mem::take(&mut self.pending);
        let (frames, rest) = self.parse(&bytes);
        assert!(rest.is_empty(), "output drained in the middle of a frame ({} bytes left)", rest.len());
        frames
    }

    /// Splits server bytes into frames, checking each against the RFC, and decodes header blocks.
    pub fn parse<'a>(&mut self, mut bytes: &'a [u8]) -> (Vec<OwnedFrame>, &'a [u8]) {
        let mut frames = Vec::new();
        while bytes.len() >= 9 {
            let len = (usize::from(bytes[0]) << 16) | (usize::from(bytes[1]) << 8) | usize::from(bytes[2]);
            if bytes.len() < 9 + len {
                break;
            }
            let head: [u8; 9] = bytes[..9].try_into().unwrap();
            let payload = &bytes[9..9 + len];
            bytes = &bytes[9 + len..];
            let header = FrameHeader::parse(&head);
            assert!(
                len <= self.max_frame_size as usize,
                "§4.2: server frame of {len} bytes exceeds our SETTINGS_MAX_FRAME_SIZE {}",
                self.max_frame_size
            );
            if let Err(e) = Frame::decode(&header, payload) {
                panic!("server wrote an invalid frame {header:?}: {e}");
            }
            assert!(head[5] & 0x80 == 0, "§4.1: reserved bit set");
            let stream = header.stream_id;
            assert!(stream == 0 || stream % 2 == 1, "a server that never pushes writes on odd streams only");
            let mut f = OwnedFrame {
                kind: head[3],
                flags: head[4],
                stream,
                payload: payload.to_vec(),
                fields: None,
                block: None,
            };
            self.track_block(&mut f);
            frames.push(f);
        }
        (frames, bytes)
    }

    fn track_block(&mut self, f: &mut OwnedFrame) {
        if let Some((id, _)) = &self.block {
            assert!(
                f.kind == CONTINUATION && f.stream == *id,
                "§4.3: server interleaved {f:?} in a header block on stream {id}"
            );
        }
        let fragment: &[u8] = match f.kind {
            HEADERS => {
                assert!(self.block.is_none());
                assert_eq!(f.flags & (PADDED | PRIORITY_FLAG), 0, "plain HEADERS expected");
                self.block = Some((f.stream, Vec::new()));
                &f.payload
            }
            CONTINUATION => {
                assert!(self.block.is_some(), "§6.10: CONTINUATION without HEADERS");
                &f.payload
            }
            _ => return,
        };
        let (id, buf) = self.block.as_mut().unwrap();
        let id = *id;
        buf.extend_from_slice(fragment);
        if f.flags & END_HEADERS == 0 {
            return;
        }
        let (_, block) = self.block.take().unwrap();
        let mut fields = Vec::new();
        if let Err(e) = self.decoder.decode(&block, DecodeLimits::UNLIMITED, |h| fields.push((s(h.name), s(h.value)))) {
            panic!("response header block on stream {id} does not decode: {e}");
        }
        f.fields = Some(fields);
        f.block = Some(block);
    }

    /// All pending events, owned; request heads are recycled.
    pub fn events(&mut self) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Some(e) = self.conn.poll_event() {
            out.push(match e {
                Event::Request { stream_id, head, end_stream } => {
                    let r = Req {
                        stream: stream_id,
                        end_stream,
                        method: s(head.method_bytes()),
                        scheme: head.scheme().map(s),
                        authority: head.authority().map(s),
                        path: s(head.path()),
                        headers: head.headers().map(|(n, v)| (s(n), s(v))).collect(),
                    };
                    self.conn.recycle(head);
                    Ev::Request(r)
                }
                Event::Data { stream_id, data, end_stream } => {
                    Ev::Data { stream: stream_id, data: data.to_vec(), end_stream }
                }
                Event::Trailers { stream_id, trailers } => {
                    let headers = trailers.headers().map(|(n, v)| (s(n), s(v))).collect();
                    self.conn.recycle(trailers);
                    Ev::Trailers { stream: stream_id, headers }
                }
                Event::StreamReset { stream_id, code } => Ev::Reset { stream: stream_id, code },
                Event::GoAway { last_stream_id, code } => Ev::GoAway { last: last_stream_id, code },
            });
        }
        out
    }

    /// Sends `bytes`, which must be a connection error of type `code`: `recv` returns it, the output ends with
    /// GOAWAY carrying it, and nothing is written after. Returns the GOAWAY's last-stream-id.
    #[track_caller]
    pub fn expect_goaway(&mut self, bytes: &[u8], code: u32) -> u32 {
        let err = self.send(bytes).expect_err("expected a connection error");
        assert_eq!(err.code.to_u32(), code, "recv error: {err}");
        assert!(err.is_connection_error());
        let frames = self.read();
        let last = frames.last().unwrap_or_else(|| panic!("no GOAWAY written"));
        let (last_id, got) = last.goaway().unwrap_or_else(|| panic!("last frame is not GOAWAY: {frames:?}"));
        assert_eq!(got, code, "GOAWAY code (frames {frames:?})");
        assert_eq!(frames.iter().filter(|f| f.kind == GOAWAY).count(), 1, "one GOAWAY");
        // §5.4.1: after GOAWAY the connection is done; more input is not processed.
        assert!(self.send(&ping(0, [9; 8])).is_err());
        assert!(self.read().is_empty(), "nothing after the GOAWAY");
        assert!(self.conn.is_closed());
        last_id
    }

    /// Sends `bytes`, which must be a stream error: exactly one RST_STREAM on `stream` with `code`, no GOAWAY.
    /// Returns all frames read.
    #[track_caller]
    pub fn expect_rst(&mut self, bytes: &[u8], stream: u32, code: u32) -> Vec<OwnedFrame> {
        self.send_ok(bytes);
        let frames = self.read();
        let rsts: Vec<_> = frames.iter().filter(|f| f.kind == RST_STREAM).collect();
        assert_eq!(rsts.len(), 1, "one RST_STREAM expected: {frames:?}");
        assert_eq!((rsts[0].stream, rsts[0].rst()), (stream, Some(code)), "RST_STREAM: {frames:?}");
        assert!(frames.iter().all(|f| f.kind != GOAWAY), "no GOAWAY: {frames:?}");
        frames
    }

    /// Sends a GET on `stream` (END_STREAM) and checks that it arrives as a request; answers 200 with `body`
    /// and checks the response comes back whole. Proves the connection (and HPACK both ways) still works.
    #[track_caller]
    pub fn roundtrip(&mut self, stream: u32) {
        self.send_ok(&headers(stream, END_HEADERS | END_STREAM, &hp::get("/ok")));
        let evs = self.events();
        assert!(
            matches!(&evs[..], [Ev::Request(r)] if r.stream == stream && r.path == "/ok"),
            "request on {stream}: {evs:?}"
        );
        self.conn.send_response(stream, 200, &[(b"x-ok", b"1")], Bytes::from_static(b"ok")).unwrap();
        let frames = self.read();
        let (status, body, ended) = response_of(&frames, stream);
        assert_eq!((status, body.as_slice(), ended), (Some(200), &b"ok"[..], true), "{frames:?}");
    }
}

/// (status, body, END_STREAM seen) of `stream` within `frames`.
pub fn response_of(frames: &[OwnedFrame], stream: u32) -> (Option<u16>, Vec<u8>, bool) {
    let mut status = None;
    let mut body = Vec::new();
    let mut ended = false;
    for f in frames.iter().filter(|f| f.stream == stream) {
        if f.fields.is_some() && status.is_none() {
            status = f.status();
        }
        if f.is_data() {
            body.extend_from_slice(&f.payload);
        }
        if f.kind == HEADERS || f.is_data() {
            ended |= f.end_stream();
        }
    }
    (status, body, ended)
}

/// Sum of DATA payload bytes in `frames` (the server never pads).
pub fn data_len(frames: &[OwnedFrame]) -> usize {
    frames.iter().filter(|f| f.is_data()).map(|f| f.payload.len()).sum()
}

/// Deterministic xorshift64, so the randomised tests repeat exactly.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A body whose every byte depends on its position, so a misplaced slice shows.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
