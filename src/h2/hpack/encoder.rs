//! Header block encoding (RFC 7541 §6) with a policy suited to a server.

mod index;

use self::index::{FieldKeys, IndexedTable};
use super::integer::encode_integer;
use super::table::{ENTRY_OVERHEAD, STATIC_LEN, name_hash, static_lookup};
use super::{DEFAULT_TABLE_SIZE, huffman};

/// How a literal field is represented (§6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// §6.2.1: added to the dynamic table.
    Incremental,
    /// §6.2.2: not added; an intermediary may choose to index it.
    Without,
    /// §6.2.3: not added, and intermediaries must not index it either.
    /// Always sent as a literal, even if the table holds the same field,
    /// so that it is never turned into an index anywhere along the path.
    Never,
}

/// When string literals are Huffman coded (§5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanPolicy {
    /// When the Huffman form is strictly shorter (the default).
    Shorter,
    Always,
    Never,
}

/// Fields whose entry would take more than 1/LARGE_FRACTION of the table
/// are sent without indexing: caching them would evict many small,
/// frequently repeated fields for one value that is unlikely to repeat as
/// often.
const LARGE_FRACTION: usize = 4;

/// Cookies shorter than this are sent never-indexed: a short secret in the
/// table is guessable through compression side channels (CRIME-style, see
/// RFC 7541 §7.1.3), a long random one is not worth attacking.
const SHORT_COOKIE: usize = 20;

/// Encoding side of one HPACK compression context (one per connection).
#[derive(Clone, Debug)]
pub struct HpackEncoder {
    table: IndexedTable,
    /// Most table we are willing to use.
    own_limit: usize,
    /// Size updates owed to the peer at the start of the next block.
    pending: Option<PendingUpdate>,
    huffman: HuffmanPolicy,
    /// Whether indexing pays off, per name class; see [`NameStats`].
    stats: [NameStats; STATS_BUCKETS],
    /// The table entry each of the first [`MAX_PREDICTED`] fields of the
    /// previous block was sent as (found or inserted), by position in the
    /// block; see [`Prediction`].
    predicted: Vec<Option<Prediction>>,
    /// Position of the next field in the current block.
    position: usize,
}

/// A server sends the same fields in the same order block after block, so
/// the entry that field `n` of the previous block was sent as is the first
/// guess for field `n` of this one: if that entry is still in the table and
/// equal to the field (compared byte for byte), it is the index to send,
/// without hashing the field or probing the table's index. A wrong guess
/// costs that comparison and falls back to the index. The guess is the
/// entry's absolute number (see `index`), so eviction and size changes
/// invalidate it by themselves; a number that names another entry after
/// 2^32 insertions is just a wrong guess.
#[derive(Clone, Copy, Debug)]
struct Prediction {
    entry: u32,
    /// The field's name class in [`HpackEncoder::stats`].
    stats_bucket: u8,
}

/// Fields per block that are predicted; later ones use the index alone.
const MAX_PREDICTED: usize = 32;

const STATS_BUCKETS: usize = 64;
/// A class is judged only after this many insertions.
const LEARN_AFTER: u16 = 4;
/// Indexing continues while there is at least one hit per this many insertions.
const MIN_HIT_RATIO: u16 = 4;
/// A class that stopped being indexed is still inserted every this many literals.
const PROBE_EVERY: u16 = 8;
/// Counts are halved when insertions reach this, so old behaviour fades out.
const HALVE_AT: u16 = 64;

/// Learned per connection for each name class (name hash mod 64): how often
/// a field inserted under that name was later sent as an index. Values that
/// change on every message (`content-length` of dynamic responses, `age`,
/// request `:path`s, request ids) only push useful entries out of the
/// table; once a class has proven that, its literals are sent without
/// indexing, with an occasional probe insertion so that it can recover if
/// its values start repeating. A class starts out indexed, so a response
/// repeated verbatim is fully indexed from its second occurrence.
#[derive(Clone, Copy, Debug, Default)]
struct NameStats {
    inserted: u16,
    hits: u16,
    skipped: u16,
}

impl NameStats {
    fn hit(&mut self) {
        self.hits = self.hits.saturating_add(1);
    }

    /// Decides whether a literal of this class is inserted.
    fn admit(&mut self) -> bool {
        if self.inserted < LEARN_AFTER || self.hits.saturating_mul(MIN_HIT_RATIO) >= self.inserted {
            self.record_insert();
            return true;
        }
        self.skipped += 1;
        if self.skipped >= PROBE_EVERY {
            self.skipped = 0;
            self.record_insert();
            return true;
        }
        false
    }

    fn record_insert(&mut self) {
        self.inserted += 1;
        if self.inserted >= HALVE_AT {
            self.inserted /= 2;
            self.hits /= 2;
        }
    }
}

/// §4.2: "the smallest maximum table size that occurs in that interval"
/// must be signalled, followed by the final size if that differs.
#[derive(Clone, Copy, Debug)]
struct PendingUpdate {
    min: usize,
    last: usize,
}

impl Default for HpackEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl HpackEncoder {
    /// A 4096-octet dynamic table (the default SETTINGS_HEADER_TABLE_SIZE),
    /// which is also the most it will use whatever the peer allows: a
    /// server's response headers fit comfortably, and a larger table would
    /// only make lookups slower and each connection bigger.
    pub fn new() -> Self {
        Self::with_table_size(DEFAULT_TABLE_SIZE)
    }

    /// An encoder whose dynamic table starts at `size` octets *without*
    /// emitting a size update, i.e. assuming the peer's decoder also starts
    /// at `size` (as in the RFC 7541 Appendix C examples). `size` also
    /// becomes the most this encoder will use. A connection should use
    /// [`new`](Self::new) and [`set_max_table_size`](Self::set_max_table_size).
    pub fn with_table_size(size: usize) -> Self {
        Self {
            table: IndexedTable::new(size),
            own_limit: size,
            pending: None,
            huffman: HuffmanPolicy::Shorter,
            stats: [NameStats::default(); STATS_BUCKETS],
            predicted: Vec::new(),
            position: 0,
        }
    }

    pub fn set_huffman(&mut self, policy: HuffmanPolicy) {
        self.huffman = policy;
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed. We use
    /// `min(peer_max, our limit)` (4096 for [`new`](Self::new)); if that differs from the size in use, the next
    /// block starts with the size update(s) §4.2 requires (the smallest size
    /// seen since the last block, then the final one if different).
    pub fn set_max_table_size(&mut self, peer_max: usize) {
        let target = peer_max.min(self.own_limit);
        match &mut self.pending {
            Some(p) => {
                p.min = p.min.min(target);
                p.last = target;
            }
            None if target != self.table.table().capacity() => {
                self.pending = Some(PendingUpdate { min: target, last: target });
            }
            None => {}
        }
    }

    /// Current dynamic table size in octets (§4.1).
    pub fn table_size(&self) -> usize {
        self.table.table().size()
    }

    /// Dynamic table entries, newest (HPACK index 62) first.
    pub fn dynamic_table(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.table.table().iter()
    }

    /// Capacities of all owned buffers (tests check they stop growing).
    #[cfg(test)]
    pub(crate) fn buffer_capacities(&self) -> (usize, usize, usize) {
        self.table.buffer_capacities()
    }

    /// Encodes a whole header block, appending it to `dst`.
    pub fn encode<'a, I: IntoIterator<Item = (&'a [u8], &'a [u8])>>(&mut self, headers: I, dst: &mut Vec<u8>) {
        self.begin_block(dst);
        for (name, value) in headers {
            self.encode_field(name, value, dst);
        }
    }

    /// Starts a header block: emits pending dynamic table size updates
    /// (§6.3) and starts counting field positions (see [`Prediction`]). The
    /// `encode_*` methods also emit the updates if it was not called, so
    /// forgetting it cannot desynchronise the tables (only encoding is
    /// slower), but it must not be called in the middle of a block.
    pub fn begin_block(&mut self, dst: &mut Vec<u8>) {
        self.position = 0;
        self.emit_size_updates(dst);
    }

    fn emit_size_updates(&mut self, dst: &mut Vec<u8>) {
        let Some(p) = self.pending.take() else { return };
        if p.min < self.table.table().capacity() {
            encode_integer(p.min, 5, 0x20, dst);
            self.table.set_capacity(p.min);
        }
        if p.last != self.table.table().capacity() {
            encode_integer(p.last, 5, 0x20, dst);
            self.table.set_capacity(p.last);
        }
    }

    /// Encodes one field, choosing the representation by policy:
    /// - never-indexed for credentials (`authorization`,
    ///   `proxy-authorization`, `set-cookie`, `cookie` shorter than 20);
    /// - an index when the static or dynamic table has the exact field;
    /// - else a literal (with a table name index when there is one):
    ///   without indexing if the entry would exceed 1/4 of the table, or if
    ///   fields of this name have rarely been reused from the table on this
    ///   connection (less than one hit per four insertions; such names are
    ///   still inserted every 8th time to notice a change), with
    ///   incremental indexing otherwise.
    pub fn encode_field(&mut self, name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
        let indexing = if is_sensitive(name, value) {
            Indexing::Never
        } else if (name.len() + value.len() + ENTRY_OVERHEAD).saturating_mul(LARGE_FRACTION)
            > self.table.table().capacity()
        {
            Indexing::Without
        } else {
            Indexing::Incremental
        };
        self.encode_inner(name, value, indexing, true, dst);
    }

    /// Encodes one field with an explicit literal representation. For
    /// `Incremental` and `Without`, an exact table match is still sent as an
    /// index (§6.1); `Never` is always a literal (its name may be indexed).
    pub fn encode_field_with(&mut self, name: &[u8], value: &[u8], indexing: Indexing, dst: &mut Vec<u8>) {
        self.encode_inner(name, value, indexing, false, dst);
    }

    /// `adaptive`: an `Incremental` literal may be downgraded to `Without`
    /// when its name class has not been paying off (see [`NameStats`]).
    #[inline]
    fn encode_inner(&mut self, name: &[u8], value: &[u8], indexing: Indexing, adaptive: bool, dst: &mut Vec<u8>) {
        self.emit_size_updates(dst);
        let position = self.position;
        self.position += 1;
        // The dynamic table first: a server's repeated fields are found
        // there. It never holds a field that the static table has (those
        // are sent as static indices, never inserted), so looking there
        // first cannot pick a longer index than the static one.
        if indexing != Indexing::Never
            && let Some(&Some(p)) = self.predicted.get(position)
            && let Some(i) = self.table.entry_is(p.entry, name, value)
        {
            self.stats[usize::from(p.stats_bucket)].hit();
            encode_index(STATIC_LEN + 1 + i, dst);
            return;
        }
        let hash = name_hash(name);
        let keys = FieldKeys::new(hash, value);
        if indexing != Indexing::Never
            && let Some(i) = self.table.find_field(name, value, keys)
        {
            self.stats[hash % STATS_BUCKETS].hit();
            self.predict(position, Some(i), hash);
            encode_index(STATIC_LEN + 1 + i, dst);
            return;
        }
        let inserted = self.encode_uncached(name, value, hash, keys, indexing, adaptive, dst);
        // An inserted field is the newest entry.
        self.predict(position, inserted.then_some(0), hash);
    }

    /// Remembers that the field at `position` was sent as dynamic entry
    /// `index` (or as no entry).
    fn predict(&mut self, position: usize, index: Option<usize>, name_hash: usize) {
        if position >= MAX_PREDICTED {
            return;
        }
        if self.predicted.is_empty() {
            // Once per connection, at its first header block.
            self.predicted = vec![None; MAX_PREDICTED];
        }
        self.predicted[position] =
            index.map(|i| Prediction { entry: self.table.number(i), stats_bucket: (name_hash % STATS_BUCKETS) as u8 });
    }

    /// The rest of [`encode_inner`](Self::encode_inner), once the field is
    /// not in the dynamic table (or must not be sent as an index): rare once
    /// a connection is warm, so kept out of the hot path's registers.
    /// Returns whether the field was inserted into the dynamic table.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn encode_uncached(
        &mut self,
        name: &[u8],
        value: &[u8],
        hash: usize,
        keys: FieldKeys,
        mut indexing: Indexing,
        adaptive: bool,
        dst: &mut Vec<u8>,
    ) -> bool {
        let st = static_lookup(name, hash, value);
        if indexing != Indexing::Never
            && let Some(i) = st.exact
        {
            encode_index(i, dst);
            return false;
        }
        if adaptive && indexing == Indexing::Incremental && !self.stats[hash % STATS_BUCKETS].admit() {
            indexing = Indexing::Without;
        }
        // Prefer a static name: its index is stable and usually smaller.
        let name_index = st.name.or_else(|| self.table.find_name(name, keys).map(|i| STATIC_LEN + 1 + i));
        let (prefix, flags) = match indexing {
            Indexing::Incremental => (6, 0x40),
            Indexing::Without => (4, 0x00),
            Indexing::Never => (4, 0x10),
        };
        match name_index {
            Some(i) => encode_integer(i, prefix, flags, dst),
            None => {
                dst.push(flags);
                self.encode_string(name, dst);
            }
        }
        self.encode_string(value, dst);
        // Inserted after computing name_index: indices shift on insert.
        indexing == Indexing::Incremental && self.table.insert(name, value, hash, keys)
    }

    /// `:status` fast path: one octet for the seven statuses in the static
    /// table, otherwise a literal with the static name, indexed so that a
    /// repeated status (e.g. 302) becomes one octet too.
    pub fn encode_status(&mut self, status: u16, dst: &mut Vec<u8>) {
        self.emit_size_updates(dst);
        let index = match status {
            200 => 8,
            204 => 9,
            206 => 10,
            304 => 11,
            400 => 12,
            404 => 13,
            500 => 14,
            _ => {
                let mut buf = [0u8; 20];
                let digits = format_decimal(u64::from(status), &mut buf);
                self.encode_field_with(b":status", digits, Indexing::Incremental, dst);
                return;
            }
        };
        dst.push(0x80 | index);
    }

    fn encode_string(&self, s: &[u8], dst: &mut Vec<u8>) {
        let huffman = match self.huffman {
            HuffmanPolicy::Never => None,
            HuffmanPolicy::Always => Some(huffman::encoded_len(s)),
            HuffmanPolicy::Shorter => Some(huffman::encoded_len(s)).filter(|&n| n < s.len()),
        };
        match huffman {
            Some(len) => {
                encode_integer(len, 7, 0x80, dst);
                huffman::encode(s, dst);
            }
            None => {
                encode_integer(s.len(), 7, 0x00, dst);
                dst.extend_from_slice(s);
            }
        }
    }
}

/// An indexed field (§6.1): one octet for the static table and the 65
/// newest dynamic entries, the common case, without the general loop.
#[inline]
fn encode_index(index: usize, dst: &mut Vec<u8>) {
    match u8::try_from(index) {
        Ok(i) if i < 0x7f => dst.push(0x80 | i),
        _ => encode_integer(index, 7, 0x80, dst),
    }
}

fn is_sensitive(name: &[u8], value: &[u8]) -> bool {
    match name {
        b"authorization" | b"proxy-authorization" | b"set-cookie" => true,
        b"cookie" => value.len() < SHORT_COOKIE,
        _ => false,
    }
}

/// Decimal digits of `n` in the end of `buf`, without allocating (for
/// `:status` here and `content-length` in the connection).
pub(crate) fn format_decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[cfg(test)]
mod tests;
