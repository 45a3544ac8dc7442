//! The client side, typed in by hand from RFC 9113 §4.1/§6 and RFC 7541 §5–§6: frame serialization and a small
//! HPACK encoder that models the server decoder's dynamic table. Nothing here calls h2ring's frame writers or its
//! HPACK encoder, so a mistake shared by both sides cannot hide.
//!
//! Shared by the fuzz crate (`fuzz/src/lib.rs`) and `tests/randomized.rs` (through `#[path]`).
#![allow(dead_code)]

pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

pub const HEADER_TABLE_SIZE: u16 = 0x1;
pub const ENABLE_PUSH: u16 = 0x2;
pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const MAX_FRAME_SIZE: u16 = 0x5;
pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;

pub const MAX_WINDOW: u64 = (1 << 31) - 1;

/// §4.1: Length (24), Type (8), Flags (8), R (1), Stream Identifier (31), then the payload. A payload longer than
/// 2^24-1 is cut (the generator never asks for one).
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let payload = &payload[..payload.len().min((1 << 24) - 1)];
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A frame whose length field says `len` whatever the payload is (for lying headers).
pub fn frame_with_len(out: &mut Vec<u8>, len: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// §6.1 / §6.2 / §6.6 padding: Pad Length (8), the content, `pad` zero octets.
pub fn padded(content: &[u8], pad: u8) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + content.len() + usize::from(pad));
    p.push(pad);
    p.extend_from_slice(content);
    p.resize(p.len() + usize::from(pad), 0);
    p
}

pub fn settings_payload(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::with_capacity(params.len() * 6);
    for &(id, v) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    p
}

// ---------------------------------------------------------------------------------------------------------------
// HPACK, client side (RFC 7541).

/// §5.1 prefixed integer; `flags` are the bits above the `prefix` in the first octet.
pub fn hp_int(out: &mut Vec<u8>, value: usize, prefix: u8, flags: u8) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut v = value - max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// §5.2 string literal without Huffman.
pub fn hp_raw_string(out: &mut Vec<u8>, s: &[u8]) {
    hp_int(out, s.len(), 7, 0);
    out.extend_from_slice(s);
}

/// Strings with a known Huffman coding, copied from the examples of RFC 7541 Appendix C.4 and C.6.
pub const HUFFMAN: &[(&[u8], &[u8])] = &[
    (b"www.example.com", &[0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]),
    (b"no-cache", &[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf]),
    (b"custom-key", &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f]),
    (b"custom-value", &[0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf]),
    (b"302", &[0x64, 0x02]),
    (b"private", &[0xae, 0xc3, 0x77, 0x1a, 0x4b]),
    (b"gzip", &[0x9b, 0xd9, 0xab]),
    (
        b"https://www.example.com",
        &[0x9d, 0x29, 0xad, 0x17, 0x18, 0x63, 0xc7, 0x8f, 0x0b, 0x97, 0xc8, 0xe9, 0xae, 0x82, 0xae, 0x43, 0xd3],
    ),
];

/// A string literal: Huffman-coded (H = 1) when the string is one of [`HUFFMAN`] and `huffman` is asked for.
pub fn hp_string(out: &mut Vec<u8>, s: &[u8], huffman: bool) {
    if huffman && let Some((_, code)) = HUFFMAN.iter().find(|(plain, _)| *plain == s) {
        hp_int(out, code.len(), 7, 0x80);
        out.extend_from_slice(code);
    } else {
        hp_raw_string(out, s);
    }
}

/// RFC 7541 Appendix A, the static table (index 1..=61).
pub const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// How one field is represented (§6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repr {
    /// §6.1 when the static or dynamic table has the exact field, else an incremental literal.
    IndexedIfPossible,
    /// §6.2.1.
    Incremental,
    /// §6.2.2.
    Without,
    /// §6.2.3.
    Never,
}

/// The client's model of the *server decoder's* dynamic table (§2.3.2, §4): entries newest first, sizes with the
/// 32-octet overhead, evictions oldest first.
#[derive(Clone, Debug, Default)]
pub struct ClientEncoder {
    entries: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    capacity: usize,
}

impl ClientEncoder {
    /// The decoder starts at 4096 octets (SETTINGS_HEADER_TABLE_SIZE's initial value).
    pub fn new() -> Self {
        Self { entries: Default::default(), size: 0, capacity: 4096 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            let (n, v) = self.entries.pop_back().expect("size > 0 means entries");
            self.size -= n.len() + v.len() + 32;
        }
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        if size > self.capacity {
            // §4.4: an entry larger than the table empties it and is not added.
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.evict_to(self.capacity - size);
        self.entries.push_front((name.to_vec(), value.to_vec()));
        self.size += size;
    }

    /// §6.3 dynamic table size update, at the start of a block.
    pub fn size_update(&mut self, out: &mut Vec<u8>, size: usize) {
        hp_int(out, size, 5, 0x20);
        self.capacity = size;
        self.evict_to(size);
    }

    /// The field at dynamic index `k` (0 = newest), if any.
    pub fn dynamic(&self, k: usize) -> Option<(&[u8], &[u8])> {
        self.entries.get(k).map(|(n, v)| (&n[..], &v[..]))
    }

    /// Index (1-based, static first) of the exact field, if any.
    fn find_exact(&self, name: &[u8], value: &[u8]) -> Option<usize> {
        if let Some(i) = STATIC.iter().position(|(n, v)| n.as_bytes() == name && v.as_bytes() == value) {
            return Some(i + 1);
        }
        self.entries.iter().position(|(n, v)| n == name && v == value).map(|k| 62 + k)
    }

    fn find_name(&self, name: &[u8]) -> Option<usize> {
        if let Some(i) = STATIC.iter().position(|(n, _)| n.as_bytes() == name) {
            return Some(i + 1);
        }
        self.entries.iter().position(|(n, _)| n == name).map(|k| 62 + k)
    }

    /// Encodes one field and updates the model.
    pub fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8], repr: Repr, huffman: bool) {
        if repr == Repr::IndexedIfPossible
            && let Some(i) = self.find_exact(name, value)
        {
            hp_int(out, i, 7, 0x80);
            return;
        }
        let (prefix, flags) = match repr {
            Repr::IndexedIfPossible | Repr::Incremental => (6, 0x40),
            Repr::Without => (4, 0x00),
            Repr::Never => (4, 0x10),
        };
        match self.find_name(name) {
            Some(i) => hp_int(out, i, prefix, flags),
            None => {
                out.push(flags);
                hp_string(out, name, huffman);
            }
        }
        hp_string(out, value, huffman);
        if flags == 0x40 {
            self.insert(name, value);
        }
    }

    /// §6.1 reference to dynamic entry `k` (0 = newest); returns the field, or None (nothing written) if there is
    /// no such entry.
    pub fn indexed_dynamic(&mut self, out: &mut Vec<u8>, k: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        let (n, v) = self.entries.get(k)?.clone();
        hp_int(out, 62 + k, 7, 0x80);
        Some((n, v))
    }
}
