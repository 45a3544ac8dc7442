//! The static table (RFC 7541 §2.3.1, Appendix A) and the dynamic table
//! (§2.3.2, §4) shared by the decoder and the encoder.

use std::collections::VecDeque;

/// §4.1: every entry costs its name and value length plus 32 octets.
pub(crate) const ENTRY_OVERHEAD: usize = 32;

/// Number of entries in the static table; dynamic indices start after it.
pub(crate) const STATIC_LEN: usize = 61;

/// RFC 7541 Appendix A; index `i` here is HPACK index `i + 1`.
pub(crate) static STATIC_TABLE: [(&[u8], &[u8]); STATIC_LEN] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// What the static table offers for a field: an exact match (HPACK index)
/// and/or the first entry with the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StaticMatch {
    pub exact: Option<usize>,
    pub name: Option<usize>,
}

/// Hash of a header name, for [`static_lookup`], the encoder's index of its
/// dynamic table and its per-name statistics (computed once per field). It
/// reads the length and the first and last 8 octets, which tell apart all
/// static names and the usual others without walking every byte.
pub(crate) const fn name_hash(name: &[u8]) -> usize {
    let len = name.len() as u64;
    let (head, tail) = match (name.first_chunk::<8>(), name.last_chunk::<8>()) {
        (Some(head), Some(tail)) => (u64::from_le_bytes(*head), u64::from_le_bytes(*tail)),
        _ => (short_word(name), 0),
    };
    let mut h = (head ^ len.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h = (h ^ (h >> 32) ^ tail).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    (h ^ (h >> 29)) as usize
}

/// The octets of a name shorter than 8 as a little-endian word, zero-padded:
/// from 4 octets on, two overlapping 4-octet loads instead of a loop.
const fn short_word(name: &[u8]) -> u64 {
    if let (Some(lo), Some(hi)) = (name.first_chunk::<4>(), name.last_chunk::<4>()) {
        let hi = u32::from_le_bytes(*hi) as u64;
        return u32::from_le_bytes(*lo) as u64 | hi << (8 * (name.len() - 4));
    }
    let mut v = 0u64;
    let mut i = 0;
    while i < name.len() {
        v |= (name[i] as u64) << (8 * i);
        i += 1;
    }
    v
}

/// Finds `name` (and `value`) in the static table without scanning it: an
/// open-addressed hash of the 52 distinct names, built at compile time.
/// `hash` is [`name_hash`]`(name)`.
pub(crate) fn static_lookup(name: &[u8], hash: usize, value: &[u8]) -> StaticMatch {
    let mut slot = hash & (NAME_SLOTS - 1);
    // The table is less than half full, so probing ends at an empty slot
    // long before wrapping; the bound just makes termination obvious.
    for _ in 0..NAME_SLOTS {
        let first = usize::from(NAME_INDEX[slot]);
        if first == 0 {
            break;
        }
        if STATIC_TABLE[first - 1].0 == name {
            // Entries sharing a name are adjacent (`:method`, `:path`,
            // `:scheme`, `:status`): compare the values of that run only.
            let run = usize::from(NAME_RUN[first - 1]);
            let exact = (first..first + run).find(|&i| STATIC_TABLE[i - 1].1 == value);
            return StaticMatch { exact, name: Some(first) };
        }
        slot = (slot + 1) & (NAME_SLOTS - 1);
    }
    StaticMatch { exact: None, name: None }
}

const NAME_SLOTS: usize = 128;

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Slot → 1-based HPACK index of the first entry with that name (0 = empty).
static NAME_INDEX: [u8; NAME_SLOTS] = {
    let mut slots = [0u8; NAME_SLOTS];
    let mut i = 0;
    while i < STATIC_LEN {
        // Only the first entry of a run of equal names is indexed.
        if i == 0 || !bytes_eq(STATIC_TABLE[i].0, STATIC_TABLE[i - 1].0) {
            let mut s = name_hash(STATIC_TABLE[i].0) & (NAME_SLOTS - 1);
            while slots[s] != 0 {
                s = (s + 1) & (NAME_SLOTS - 1);
            }
            slots[s] = (i + 1) as u8;
        }
        i += 1;
    }
    slots
};

/// For each entry, how many consecutive entries (itself included) share its name.
static NAME_RUN: [u8; STATIC_LEN] = {
    let mut run = [1u8; STATIC_LEN];
    let mut i = STATIC_LEN - 1;
    while i > 0 {
        i -= 1;
        if bytes_eq(STATIC_TABLE[i].0, STATIC_TABLE[i + 1].0) {
            run[i] = run[i + 1] + 1;
        }
    }
    run
};

/// Where an entry's bytes live in [`DynamicTable::bytes`].
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// `name_hash(name)` as given to [`DynamicTable::insert`].
    hash: usize,
    start: usize,
    name_len: usize,
    value_len: usize,
}

/// The dynamic table (§2.3.2): a FIFO of entries, newest at the back.
///
/// Entry bytes are packed into one arena (`bytes`) instead of one allocation
/// per entry: inserts append, evictions only drop metadata, and the arena is
/// compacted (one memmove of the live bytes) when appending would grow it
/// past twice the table capacity. Since live bytes never exceed the capacity,
/// that costs amortised O(1) per inserted byte and the arena stops growing
/// after warm-up.
#[derive(Clone, Debug)]
pub(crate) struct DynamicTable {
    entries: VecDeque<Slot>,
    bytes: Vec<u8>,
    /// Sum of entry sizes (§4.1).
    size: usize,
    /// Current maximum size, as last set by a size update (§4.2).
    capacity: usize,
}

impl DynamicTable {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { entries: VecDeque::new(), bytes: Vec::new(), size: 0, capacity }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entry by 0-based dynamic index (0 = newest, HPACK index 62).
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let pos = self.entries.len().checked_sub(index + 1)?;
        let slot = self.entries.get(pos)?;
        Some(self.slot_bytes(slot))
    }

    /// Entries newest first (HPACK index 62, 63, ...).
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().rev().map(|s| self.slot_bytes(s))
    }

    /// Entries oldest first, with the name hash each was inserted with (for
    /// the encoder to rebuild its index without rehashing names).
    pub(crate) fn iter_oldest_first(&self) -> impl Iterator<Item = (&[u8], &[u8], usize)> + '_ {
        self.entries.iter().map(|s| {
            let (name, value) = self.slot_bytes(s);
            (name, value, s.hash)
        })
    }

    fn slot_bytes(&self, s: &Slot) -> (&[u8], &[u8]) {
        let name_end = s.start + s.name_len;
        let value_end = name_end + s.value_len;
        (&self.bytes[s.start..name_end], &self.bytes[name_end..value_end])
    }

    /// Adds an entry (§4.4): evicts from the oldest end until it fits; an
    /// entry larger than the capacity empties the table and is not added
    /// (returns false). `hash` is [`name_hash`]`(name)`, kept for the
    /// encoder's index (see [`iter_oldest_first`](Self::iter_oldest_first));
    /// a table that is never searched (the decoder's) may pass 0.
    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8], hash: usize) -> bool {
        let entry_size = name.len() + value.len() + ENTRY_OVERHEAD;
        if entry_size > self.capacity {
            self.clear();
            return false;
        }
        self.evict_to(self.capacity - entry_size);
        let need = name.len() + value.len();
        if self.bytes.len() + need > self.capacity.saturating_mul(2) {
            self.compact();
        }
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
        self.entries.push_back(Slot { hash, start, name_len: name.len(), value_len: value.len() });
        self.size += entry_size;
        true
    }

    /// Applies a new maximum size (§4.3): evicts until the table fits.
    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.evict_to(capacity);
        // Give memory back after a large reduction (rare: a SETTINGS change).
        let keep = capacity.saturating_mul(2).max(4096);
        if self.bytes.capacity() > 2 * keep {
            self.compact();
            self.bytes.shrink_to(keep);
            self.entries.shrink_to(keep / ENTRY_OVERHEAD);
        }
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.entries.pop_front() {
                Some(s) => self.size -= s.name_len + s.value_len + ENTRY_OVERHEAD,
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
        if self.entries.is_empty() {
            self.bytes.clear();
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes.clear();
        self.size = 0;
    }

    /// Capacities of the owned buffers, to check that they stop growing.
    #[cfg(test)]
    pub(crate) fn buffer_capacities(&self) -> (usize, usize) {
        (self.bytes.capacity(), self.entries.capacity())
    }

    /// Moves the live bytes to the front of the arena.
    fn compact(&mut self) {
        let Some(first) = self.entries.front().map(|s| s.start) else {
            self.bytes.clear();
            return;
        };
        self.bytes.drain(..first);
        for s in &mut self.entries {
            s.start -= first;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_lookup_finds_every_entry() {
        for (i, &(name, value)) in STATIC_TABLE.iter().enumerate() {
            let m = static_lookup(name, name_hash(name), value);
            let first = STATIC_TABLE.iter().position(|e| e.0 == name).unwrap() + 1;
            assert_eq!(m.name, Some(first), "{}", String::from_utf8_lossy(name));
            assert_eq!(m.exact, Some(i + 1), "{}", String::from_utf8_lossy(name));
        }
        assert_eq!(
            static_lookup(b":status", name_hash(b":status"), b"302"),
            StaticMatch { exact: None, name: Some(8) }
        );
        assert_eq!(static_lookup(b":status", name_hash(b":status"), b"500").exact, Some(14));
        assert_eq!(static_lookup(b"x-custom", name_hash(b"x-custom"), b""), StaticMatch { exact: None, name: None });
        assert_eq!(
            static_lookup(b"Content-Type", name_hash(b"Content-Type"), b"").name,
            None,
            "HPACK is case-sensitive"
        );
        assert_eq!(static_lookup(b"", name_hash(b""), b"").name, None);
    }

    #[test]
    fn short_names_read_as_zero_padded_words() {
        let name = b"abcdefg";
        for len in 0..8 {
            let want = name[..len].iter().enumerate().fold(0u64, |v, (i, &b)| v | u64::from(b) << (8 * i));
            assert_eq!(short_word(&name[..len]), want, "{len} octets");
        }
    }

    #[test]
    fn static_name_index_probes_are_short() {
        for &(name, _) in &STATIC_TABLE {
            let mut slot = name_hash(name) & (NAME_SLOTS - 1);
            let mut probes = 1;
            while STATIC_TABLE[usize::from(NAME_INDEX[slot]) - 1].0 != name {
                slot = (slot + 1) & (NAME_SLOTS - 1);
                probes += 1;
            }
            assert!(probes <= 3, "{} needs {probes} probes", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn eviction_order_and_sizes() {
        let mut t = DynamicTable::new(100);
        t.insert(b"a", b"1", 0); // 34
        t.insert(b"b", b"2", 0); // 68
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.get(0), Some((&b"b"[..], &b"2"[..])));
        t.insert(b"c", b"3", 0); // evicts "a"
        assert_eq!((t.len(), t.size()), (2, 68));
        assert_eq!(t.iter().collect::<Vec<_>>(), [(&b"c"[..], &b"3"[..]), (&b"b"[..], &b"2"[..])]);
        assert_eq!(t.get(2), None);
        // §4.4: an entry larger than the table empties it, no error.
        t.insert(b"big", &[b'x'; 100], 0);
        assert_eq!((t.len(), t.size()), (0, 0));
        // An entry of exactly the capacity fits.
        t.insert(b"n", &[b'v'; 67], 0);
        assert_eq!((t.len(), t.size()), (1, 100));
        t.set_capacity(50);
        assert_eq!((t.len(), t.size()), (0, 0));
        t.set_capacity(0);
        t.insert(b"", b"", 0);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn arena_stays_bounded_and_contents_survive_compaction() {
        let mut t = DynamicTable::new(256);
        for i in 0..10_000u32 {
            let v = i.to_string();
            t.insert(b"name", v.as_bytes(), name_hash(b"name"));
            assert!(t.bytes.len() <= 512);
            assert_eq!(t.get(0), Some((&b"name"[..], v.as_bytes())));
            let sum: usize = t.iter().map(|(n, v)| n.len() + v.len() + 32).sum();
            assert_eq!(sum, t.size());
            assert!(t.size() <= 256);
        }
        let oldest_first: Vec<_> = t.iter_oldest_first().collect();
        assert_eq!(oldest_first.len(), t.len());
        assert_eq!(oldest_first.last(), Some(&(&b"name"[..], &b"9999"[..], name_hash(b"name"))));
        assert!(!t.insert(b"name", &[b'x'; 300], 0), "larger than the table: not added");
        assert_eq!((t.len(), t.iter_oldest_first().count()), (0, 0));
    }
}
