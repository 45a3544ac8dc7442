//! Structured inputs for the connection: a configuration, then a script of client frames (described, not yet
//! serialized: header blocks depend on the HPACK state at the time they are sent) and server-side actions.
//!
//! One generator serves both drivers: the `conn_frames` fuzz target draws from libFuzzer's bytes
//! (`arbitrary::Unstructured`), `tests/randomized.rs` from a seeded PRNG. Both implement [`Entropy`].
#![allow(dead_code)]

/// A source of choices. Exhausted sources return zeros, which the generator maps to short, tame values.
pub trait Entropy {
    fn byte(&mut self) -> u8;
    fn exhausted(&self) -> bool;

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// 0..n (0 when n is 0); one byte for n ≤ 256.
    fn below(&mut self, n: u32) -> u32 {
        match n {
            0 => 0,
            1..=256 => u32::from(self.byte()) % n,
            _ => self.u32() % n,
        }
    }

    /// True with probability about 1 in `n`.
    fn one_in(&mut self, n: u32) -> bool {
        self.below(n) == 0
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Pick one of `items`.
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u32) as usize]
    }
}

/// Knobs for `ConnConfig`: each `None` keeps the default. Small values reach limits quickly.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    pub max_concurrent_streams: Option<u32>,
    pub initial_window_size: Option<u32>,
    pub connection_window_size: Option<u32>,
    pub max_frame_size: Option<u32>,
    pub max_header_list_size: Option<u32>,
    pub max_header_count: Option<usize>,
    pub header_table_size: Option<u32>,
    pub max_continuation_frames: Option<u32>,
    pub max_queued_output: Option<usize>,
    /// Flood budgets (per tick, burst), in the order of `ConnConfig`: resets, pings, settings, priority, empty
    /// frames, continuation. `None` keeps the default.
    pub rate_limits: [Option<(u32, u32)>; 6],
}

/// Which stream a frame goes to.
#[derive(Clone, Copy, Debug)]
pub enum StreamSel {
    /// The next new client stream (the last id used + 2).
    New,
    /// One of the streams opened so far (the `k`-th newest, modulo their number).
    Opened(u8),
    /// An odd id a little above the last one (skipping ids is allowed).
    Skip(u8),
    /// Any small id, even or odd, including 0.
    Small(u8),
    /// Any 31-bit id.
    Any(u32),
}

/// A header field name.
#[derive(Clone, Copy, Debug)]
pub enum NameSel {
    /// A name from a list of ordinary request fields.
    Common(u8),
    /// A static-table name (1..=61, pseudo-headers included).
    Static(u8),
    /// `x-` followed by a few lowercase letters.
    Custom(u8, u8),
    /// Names a request must not have: uppercase, connection-specific, `te`, pseudo-headers after regular fields.
    Bad(u8),
    /// Random bytes.
    Raw(u8, u8),
}

/// A header field value.
#[derive(Clone, Copy, Debug)]
pub enum ValueSel {
    /// A value from a small list (Huffman-coded ones from RFC 7541 Appendix C included).
    Common(u8),
    /// `n` copies of `b'v'` (long values reach list-size limits and CONTINUATION splits).
    Repeat(u16),
    /// Digits (a content-length, maybe).
    Number(u32),
    /// Values a request must not have: CR, LF, NUL, surrounding whitespace.
    Bad(u8),
    /// Random bytes.
    Raw(u8, u8),
}

#[derive(Clone, Copy, Debug)]
pub enum FieldSel {
    /// An encoded field.
    Field { name: NameSel, value: ValueSel, repr: u8, huffman: bool },
    /// A reference to the `k`-th dynamic table entry (falls back to nothing when the table is that short).
    Dynamic(u8),
}

/// A request or trailer header block.
#[derive(Clone, Debug)]
pub struct BlockSpec {
    /// 0: GET, 1: HEAD, 2: POST, 3: PUT, 4: OPTIONS *, 5: CONNECT, 6: no pseudo-headers (trailers), 7: odd method.
    pub method: u8,
    pub path: u8,
    pub authority: bool,
    /// Send `:authority` as `host` instead (or as well).
    pub host: u8,
    pub fields: Vec<FieldSel>,
    /// Dynamic table size updates at the start of the block.
    pub size_updates: Vec<u16>,
    /// Corruptions applied after encoding (position, xor mask), a truncation, extra bytes.
    pub flips: Vec<(u16, u8)>,
    pub truncate: Option<u16>,
    pub append: Vec<u8>,
}

impl BlockSpec {
    pub fn mutated(&self) -> bool {
        !self.flips.is_empty() || self.truncate.is_some() || !self.append.is_empty()
    }
}

/// A frame from the client.
#[derive(Clone, Debug)]
pub enum FrameOp {
    /// A header block in a HEADERS frame and `pieces - 1` CONTINUATIONs (`pieces` ≥ 1). `end_headers` false leaves
    /// the block open on purpose.
    Headers {
        stream: StreamSel,
        block: BlockSpec,
        end_stream: bool,
        pieces: u8,
        end_headers: bool,
        pad: Option<u8>,
        priority: Option<(u32, u8, bool)>,
    },
    /// A CONTINUATION of its own (stray, or finishing a block left open).
    Continuation {
        stream: StreamSel,
        end_headers: bool,
        fragment: Vec<u8>,
    },
    /// `len` bytes of request body (a pattern the checker recognizes), maybe padded.
    Data {
        stream: StreamSel,
        len: u32,
        end_stream: bool,
        pad: Option<u8>,
    },
    WindowUpdate {
        stream: Option<StreamSel>,
        increment: u32,
    },
    RstStream {
        stream: StreamSel,
        code: u32,
    },
    Settings {
        ack: bool,
        params: Vec<(u16, u32)>,
    },
    Ping {
        ack: bool,
        payload: [u8; 8],
    },
    Priority {
        stream: StreamSel,
        dependency: u32,
        weight: u8,
        exclusive: bool,
    },
    GoAway {
        last: u32,
        code: u32,
        debug: Vec<u8>,
    },
    PushPromise {
        stream: StreamSel,
        promised: u32,
    },
    /// A frame of an unknown type (§4.1, §5.5).
    Unknown {
        kind: u8,
        flags: u8,
        stream: StreamSel,
        payload: Vec<u8>,
    },
    /// A frame of a known type with random flags and payload, and sometimes a length field that lies.
    Raw {
        kind: u8,
        flags: u8,
        stream: StreamSel,
        payload: Vec<u8>,
        lie: Option<u32>,
    },
}

/// One step of a script.
#[derive(Clone, Debug)]
pub enum Op {
    /// Serialize a frame into the pending input.
    Frame(FrameOp),
    /// Feed the pending input to `recv` (or `recv_early` while nothing went to `recv` yet), in pieces of `chunk`
    /// bytes (0: all at once).
    Flush { chunk: u16, early: bool },
    /// Answer the `pick`-th unanswered request (`fields` picks the header set, `body` its length).
    Respond { pick: u8, status: u16, fields: u8, body: u32, with_length: bool },
    /// Answer every unanswered request.
    RespondAll { body: u32 },
    /// `Connection::reset_stream` on a known stream.
    Reset { pick: u8, code: u32 },
    /// `Connection::shutdown` (graceful GOAWAY).
    Shutdown,
    /// `Connection::abort`.
    Abort,
    /// `write_output` with a buffer of `size` bytes, `times` times (0: until it returns 0).
    Read { size: u16, times: u8 },
    /// Time passes (`Connection::tick`, where the connection has one).
    Tick(u16),
}

#[derive(Clone, Debug)]
pub struct Script {
    /// 0: a well-behaved client; 1: now and then a wild frame; 2: anything.
    pub chaos: u8,
    pub knobs: Knobs,
    /// Answer requests as soon as they arrive.
    pub auto_respond: bool,
    /// The client SETTINGS that follows the preface (`None`: the script must send one itself).
    pub first_settings: Option<Vec<(u16, u32)>>,
    pub ops: Vec<Op>,
}

// ---------------------------------------------------------------------------------------------------------------
// Generation.

const INTERESTING_U32: &[u32] = &[
    0,
    1,
    2,
    100,
    4096,
    16_383,
    16_384,
    16_385,
    65_534,
    65_535,
    65_536,
    1 << 20,
    (1 << 24) - 1,
    1 << 24,
    (1 << 31) - 2,
    (1 << 31) - 1,
    1 << 31,
    u32::MAX,
];

fn interesting_u32<E: Entropy + ?Sized>(e: &mut E) -> u32 {
    if e.one_in(4) { e.u32() } else { e.pick(INTERESTING_U32) }
}

fn small_size<E: Entropy + ?Sized>(e: &mut E) -> u32 {
    match e.below(8) {
        0 => 0,
        1..=4 => e.below(64),
        5 | 6 => e.below(2000),
        _ => e.below(40_000),
    }
}

pub fn gen_knobs<E: Entropy + ?Sized>(e: &mut E) -> Knobs {
    let mut k = Knobs::default();
    if e.one_in(2) {
        return k;
    }
    if e.one_in(2) {
        k.max_concurrent_streams = Some(e.pick(&[0, 1, 2, 3, 8, 100]));
    }
    if e.one_in(2) {
        k.initial_window_size = Some(e.pick(&[0, 1, 10, 100, 65_535, 1 << 20, u32::MAX]));
    }
    if e.one_in(3) {
        k.connection_window_size = Some(e.pick(&[0, 1000, 65_535, 1 << 22, u32::MAX]));
    }
    if e.one_in(3) {
        k.max_frame_size = Some(e.pick(&[0, 16_384, 20_000, 1 << 20]));
    }
    if e.one_in(2) {
        k.max_header_list_size = Some(e.pick(&[0, 50, 200, 1000, 32 << 10]));
    }
    if e.one_in(3) {
        k.max_header_count = Some(e.pick(&[0, 1, 4, 10, 128]));
    }
    if e.one_in(3) {
        k.header_table_size = Some(e.pick(&[0, 64, 256, 4096, 65_536]));
    }
    if e.one_in(3) {
        k.max_continuation_frames = Some(e.pick(&[0, 1, 2, 4, 32]));
    }
    if e.one_in(3) {
        k.max_queued_output = Some(e.pick(&[50, 300, 5000, 256 << 10]));
    }
    for limit in &mut k.rate_limits {
        if e.one_in(4) {
            *limit = Some(e.pick(&[(0, 0), (1, 1), (1, 4), (2, 8), (10, 20), (u32::MAX, u32::MAX)]));
        }
    }
    k
}

fn gen_stream<E: Entropy + ?Sized>(e: &mut E) -> StreamSel {
    match e.below(16) {
        0..=5 => StreamSel::Opened(e.byte() % 8),
        6..=10 => StreamSel::New,
        11 => StreamSel::Skip(e.byte() % 8),
        12..=14 => StreamSel::Small(e.byte() % 16),
        _ => StreamSel::Any(e.u32()),
    }
}

fn gen_name<E: Entropy + ?Sized>(e: &mut E) -> NameSel {
    match e.below(16) {
        0..=6 => NameSel::Common(e.byte()),
        7..=9 => NameSel::Static(e.byte()),
        10..=12 => NameSel::Custom(e.byte(), e.byte()),
        13 | 14 => NameSel::Bad(e.byte()),
        _ => NameSel::Raw(e.byte(), e.byte()),
    }
}

fn gen_value<E: Entropy + ?Sized>(e: &mut E) -> ValueSel {
    match e.below(16) {
        0..=7 => ValueSel::Common(e.byte()),
        8 | 9 => ValueSel::Repeat(if e.one_in(4) { e.u16() } else { e.below(300) as u16 }),
        10 | 11 => ValueSel::Number(if e.one_in(2) { e.below(5000) } else { e.u32() }),
        12 | 13 => ValueSel::Bad(e.byte()),
        _ => ValueSel::Raw(e.byte(), e.byte()),
    }
}

/// A header block. `calm`: a well-formed request or trailer block (valid names and values, no corruption).
pub fn gen_block<E: Entropy + ?Sized>(e: &mut E, trailers: bool, calm: bool) -> BlockSpec {
    let method = if calm {
        if trailers { 6 } else { e.pick(&[0, 0, 0, 1, 2, 2, 3]) }
    } else if trailers {
        if e.one_in(8) { e.below(8) as u8 } else { 6 }
    } else if e.one_in(8) {
        e.below(8) as u8
    } else {
        e.pick(&[0, 0, 0, 1, 2, 2, 3])
    };
    let nfields = match e.below(8) {
        0..=2 => 0,
        3..=5 => 1 + e.below(3),
        6 => 1 + e.below(10),
        _ => e.below(40),
    };
    let fields = (0..nfields)
        .map(|_| {
            if e.one_in(6) {
                FieldSel::Dynamic(e.byte() % 8)
            } else if calm {
                let name = match e.below(3) {
                    0 => NameSel::Common(e.byte()),
                    1 => NameSel::Static(14 + e.below(47) as u8),
                    _ => NameSel::Custom(e.byte(), e.byte()),
                };
                let value = match e.below(4) {
                    0 | 1 => ValueSel::Common(e.byte()),
                    2 => ValueSel::Repeat(e.below(300) as u16),
                    _ => ValueSel::Number(e.below(5000)),
                };
                FieldSel::Field { name, value, repr: e.byte(), huffman: e.bool() }
            } else {
                FieldSel::Field { name: gen_name(e), value: gen_value(e), repr: e.byte(), huffman: e.bool() }
            }
        })
        .collect();
    let size_updates = if calm && e.one_in(10) {
        vec![e.pick(&[0u16, 32, 64])]
    } else if !calm && e.one_in(10) {
        (0..1 + e.below(2)).map(|_| e.pick(&[0u16, 32, 64, 100, 256, 4096, 4097, 65_535])).collect()
    } else {
        Vec::new()
    };
    let (mut flips, mut truncate, mut append) = (Vec::new(), None, Vec::new());
    if !calm && e.one_in(12) {
        match e.below(3) {
            0 => flips = (0..1 + e.below(3)).map(|_| (e.u16() % 64, 1 << e.below(8))).collect(),
            1 => truncate = Some(e.u16() % 64),
            _ => {
                let n = 1 + e.below(8) as usize;
                append = e.bytes(n);
            }
        }
    }
    BlockSpec {
        method,
        path: e.byte(),
        authority: calm || !e.one_in(8),
        host: if calm {
            e.pick(&[0, 0, 0, 1, 3])
        } else if e.one_in(6) {
            1 + e.below(3) as u8
        } else {
            0
        },
        fields,
        size_updates,
        flips,
        truncate,
        append,
    }
}

fn gen_settings<E: Entropy + ?Sized>(e: &mut E) -> Vec<(u16, u32)> {
    (0..e.below(5))
        .map(|_| {
            let id = if e.one_in(16) { e.u16() } else { e.pick(&[1u16, 2, 3, 4, 5, 6, 8]) };
            // Mostly valid values (an invalid one ends the connection, which the rarer branch still tries).
            let value = match (id, e.one_in(16)) {
                (_, true) => interesting_u32(e),
                (2 | 8, false) => e.below(2),
                (4, false) => e.pick(&[0, 1, 100, 65_535, 1 << 20, (1 << 31) - 1]),
                (5, false) => e.pick(&[16_384, 16_385, 20_000, (1 << 24) - 1]),
                (1, false) => e.pick(&[0, 64, 4096, 1 << 16]),
                (3, false) => e.pick(&[0, 1, 100, u32::MAX]),
                _ => e.u32(),
            };
            (id, value)
        })
        .collect()
}

/// The stream of a frame that is only valid on an open stream (DATA, RST_STREAM, WINDOW_UPDATE, ...).
fn gen_open_stream<E: Entropy + ?Sized>(e: &mut E) -> StreamSel {
    if e.one_in(6) { gen_stream(e) } else { StreamSel::Opened(e.byte() % 4) }
}

fn data_len<E: Entropy + ?Sized>(e: &mut E) -> u32 {
    match e.below(16) {
        0 | 1 => 0,
        2..=9 => e.below(64),
        10..=13 => e.below(2000),
        14 => e.below(16_385),
        _ => e.below(70_000),
    }
}

/// A frame a well-behaved client could send: streams opened in order, frames on open streams, valid lengths and
/// values. (It may still break a rule that needs state the generator does not see: a window, a closed stream.)
pub fn gen_calm_frame<E: Entropy + ?Sized>(e: &mut E) -> FrameOp {
    match e.below(32) {
        0..=11 => {
            let trailers = e.one_in(8);
            FrameOp::Headers {
                stream: if trailers { StreamSel::Opened(e.byte() % 4) } else { StreamSel::New },
                block: gen_block(e, trailers, true),
                end_stream: trailers || e.bool(),
                pieces: if e.one_in(4) { 1 + e.below(4) as u8 } else { 1 },
                end_headers: true,
                pad: if e.one_in(8) { Some(e.byte()) } else { None },
                priority: if e.one_in(8) { Some((e.below(64), e.byte(), e.bool())) } else { None },
            }
        }
        12..=20 => FrameOp::Data {
            stream: StreamSel::Opened(e.byte() % 4),
            len: data_len(e).min(16_384),
            end_stream: e.bool(),
            pad: if e.one_in(8) { Some(e.byte()) } else { None },
        },
        21..=23 => FrameOp::WindowUpdate {
            stream: if e.bool() { None } else { Some(StreamSel::Opened(e.byte() % 4)) },
            increment: 1 + e.below(100_000),
        },
        24 => FrameOp::RstStream { stream: StreamSel::Opened(e.byte() % 4), code: e.below(14) },
        25 | 26 => FrameOp::Settings {
            ack: false,
            params: gen_settings(e).into_iter().filter(|&(id, v)| valid_setting(id, v)).collect(),
        },
        27 if e.one_in(4) => FrameOp::Settings { ack: true, params: Vec::new() },
        27 | 28 => {
            let (a, b) = (e.u32(), e.u32());
            let mut payload = [0; 8];
            payload[..4].copy_from_slice(&a.to_le_bytes());
            payload[4..].copy_from_slice(&b.to_le_bytes());
            FrameOp::Ping { ack: false, payload }
        }
        29 => FrameOp::Priority {
            stream: StreamSel::Skip(e.byte() % 4),
            dependency: e.below(3) * 2 + 100,
            weight: e.byte(),
            exclusive: e.bool(),
        },
        30 => FrameOp::Unknown {
            kind: 10 + e.below(246) as u8,
            flags: e.byte(),
            stream: StreamSel::Small(e.byte() % 8),
            payload: {
                let n = e.below(16) as usize;
                e.bytes(n)
            },
        },
        _ => {
            if e.one_in(8) {
                FrameOp::GoAway { last: 0, code: 0, debug: Vec::new() }
            } else {
                FrameOp::Headers {
                    stream: StreamSel::New,
                    block: gen_block(e, false, true),
                    end_stream: true,
                    pieces: 1,
                    end_headers: true,
                    pad: None,
                    priority: None,
                }
            }
        }
    }
}

fn valid_setting(id: u16, v: u32) -> bool {
    match id {
        2 | 8 => v <= 1,
        4 => v < (1 << 31),
        5 => (16_384..1 << 24).contains(&v),
        _ => true,
    }
}

/// Any frame, malformed ones included.
pub fn gen_frame<E: Entropy + ?Sized>(e: &mut E) -> FrameOp {
    match e.below(64) {
        0..=17 | 59..=63 => {
            let trailers = e.one_in(6);
            let stream = if trailers { StreamSel::Opened(e.byte() % 4) } else { gen_stream(e) };
            let stream = if !trailers && e.one_in(2) { StreamSel::New } else { stream };
            FrameOp::Headers {
                stream,
                block: gen_block(e, trailers, false),
                end_stream: trailers || e.bool(),
                pieces: if e.one_in(4) { 1 + e.below(6) as u8 } else { 1 },
                end_headers: !e.one_in(16),
                pad: if e.one_in(8) { Some(e.byte()) } else { None },
                priority: if e.one_in(8) { Some((e.u32(), e.byte(), e.bool())) } else { None },
            }
        }
        18 => FrameOp::Continuation {
            stream: gen_stream(e),
            end_headers: e.bool(),
            fragment: {
                let n = e.below(12) as usize;
                e.bytes(n)
            },
        },
        19..=31 => FrameOp::Data {
            stream: gen_open_stream(e),
            len: data_len(e),
            end_stream: e.bool(),
            pad: if e.one_in(8) { Some(e.byte()) } else { None },
        },
        32..=37 => FrameOp::WindowUpdate {
            stream: if e.one_in(2) { None } else { Some(gen_open_stream(e)) },
            increment: match e.below(8) {
                0 => 0,
                1 => interesting_u32(e),
                _ => 1 + e.below(100_000),
            },
        },
        38..=40 => {
            FrameOp::RstStream { stream: gen_open_stream(e), code: if e.one_in(4) { e.u32() } else { e.below(14) } }
        }
        41..=45 => FrameOp::Settings { ack: e.one_in(6), params: gen_settings(e) },
        46..=49 => {
            let (ack, a, b) = (e.one_in(8), e.u32(), e.u32());
            let mut payload = [0; 8];
            payload[..4].copy_from_slice(&a.to_le_bytes());
            payload[4..].copy_from_slice(&b.to_le_bytes());
            FrameOp::Ping { ack, payload }
        }
        50 | 51 => FrameOp::Priority {
            stream: gen_stream(e),
            dependency: if e.one_in(2) { e.below(12) } else { e.u32() },
            weight: e.byte(),
            exclusive: e.bool(),
        },
        52 => FrameOp::GoAway {
            last: if e.one_in(2) { e.below(20) } else { e.u32() },
            code: e.below(14),
            debug: {
                let n = e.below(8) as usize;
                e.bytes(n)
            },
        },
        53 => FrameOp::PushPromise { stream: gen_stream(e), promised: e.below(20) },
        54..=56 => FrameOp::Unknown {
            kind: 10 + e.below(246) as u8,
            flags: e.byte(),
            stream: gen_stream(e),
            payload: {
                let n = e.below(16) as usize;
                e.bytes(n)
            },
        },
        _ => FrameOp::Raw {
            kind: if e.one_in(8) { e.byte() } else { e.below(10) as u8 },
            flags: e.byte(),
            stream: gen_stream(e),
            payload: {
                let n = if e.one_in(4) { e.below(64) } else { e.below(12) } as usize;
                e.bytes(n)
            },
            lie: if e.one_in(8) { Some(e.below(1 << 15)) } else { None },
        },
    }
}

/// One step. `chaos`: 0 for a well-behaved client, 1 for one wild frame in 20, 2 and up for any frames.
pub fn gen_op<E: Entropy + ?Sized>(e: &mut E, chaos: u8) -> Op {
    match e.below(40) {
        0..=23 => {
            let wild = chaos >= 2 || (chaos == 1 && e.one_in(20));
            Op::Frame(if wild { gen_frame(e) } else { gen_calm_frame(e) })
        }
        24..=28 => Op::Flush { chunk: if e.one_in(2) { 0 } else { 1 + e.below(100) as u16 }, early: e.one_in(3) },
        29..=31 => Op::Respond {
            pick: e.byte(),
            status: if e.one_in(8) { e.u16() } else { e.pick(&[200, 204, 302, 304, 404, 500, 599, 999]) },
            fields: e.byte(),
            body: small_size(e),
            with_length: e.one_in(3),
        },
        32 => Op::RespondAll { body: small_size(e) },
        33 => Op::Reset { pick: e.byte(), code: e.below(14) },
        34 => {
            if e.one_in(4) {
                Op::Shutdown
            } else {
                Op::Read { size: 1 + e.u16() % 20_000, times: e.below(3) as u8 }
            }
        }
        35 if chaos > 0 && e.one_in(8) => Op::Abort,
        36..=38 => {
            Op::Read { size: e.pick(&[1, 9, 10, 17, 100, 1500, 16_384, 16_393, 65_535]), times: e.below(4) as u8 }
        }
        _ => Op::Tick(e.u16()),
    }
}

/// A whole script. At most `max_ops` operations; ends early when the entropy runs out.
pub fn gen_script<E: Entropy + ?Sized>(e: &mut E, max_ops: usize) -> Script {
    let chaos = match e.below(8) {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    };
    let knobs = gen_knobs(e);
    let auto_respond = e.one_in(2);
    let first_settings = if chaos > 0 && e.one_in(32) {
        None
    } else {
        Some(gen_settings(e).into_iter().filter(|&(id, v)| chaos > 0 || valid_setting(id, v)).collect())
    };
    let mut ops = Vec::new();
    while ops.len() < max_ops && !e.exhausted() {
        ops.push(gen_op(e, chaos));
    }
    Script { chaos, knobs, auto_respond, first_settings, ops }
}
