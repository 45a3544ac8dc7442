//! Header block decoding (RFC 7541 §3, §6).

mod field_check;

use std::collections::VecDeque;

pub use field_check::FieldCheck;

use super::integer::decode_integer;
use super::table::{DynamicTable, ENTRY_OVERHEAD, STATIC_LEN, STATIC_TABLE};
use super::{DEFAULT_TABLE_SIZE, DecodeError, huffman};

/// Per-block limits, checked while decoding so that an oversized list is
/// never materialised (an "HPACK bomb" of repeated references to one large
/// dynamic entry costs a table lookup per reference, not a copy).
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    /// Largest header list, counted as SETTINGS_MAX_HEADER_LIST_SIZE does
    /// (RFC 9113 §6.5.2): name + value + 32 per field.
    pub max_list_size: usize,
    /// Most fields in one block.
    pub max_header_count: usize,
}

impl DecodeLimits {
    /// No limits (tests, trusted input).
    pub const UNLIMITED: Self = Self { max_list_size: usize::MAX, max_header_count: usize::MAX };
}

/// One decoded field, borrowed from the block, the static or dynamic table,
/// or the decoder's scratch buffer; valid only during the callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    /// Sent as a never-indexed literal (§6.2.3): an intermediary must
    /// re-encode it the same way.
    pub sensitive: bool,
}

/// Decoding side of one HPACK compression context (one per connection).
#[derive(Clone, Debug)]
pub struct HpackDecoder {
    table: CheckedTable,
    /// SETTINGS_HEADER_TABLE_SIZE in force (advertised and acknowledged).
    max_table_size: usize,
    /// Set when the limit dropped below the size the peer's encoder was
    /// using: the next block must open with a size update ≤ this (§4.2).
    required_update: Option<usize>,
    /// Huffman output and copied names; reused so steady state doesn't allocate.
    scratch: Vec<u8>,
}

/// The dynamic table, and beside it the [`FieldCheck`] of each entry, made
/// when the entry was inserted.
#[derive(Clone, Debug)]
struct CheckedTable {
    entries: DynamicTable,
    /// One per entry of `entries`, in the same order (newest at the back).
    checks: VecDeque<FieldCheck>,
}

impl CheckedTable {
    fn new(capacity: usize) -> Self {
        Self { entries: DynamicTable::new(capacity), checks: VecDeque::new() }
    }

    fn insert(&mut self, name: &[u8], value: &[u8], check: FieldCheck) {
        // The decoder's table is never searched: no name hash.
        self.entries.insert(name, value, 0);
        self.checks.push_back(check);
        self.drop_evicted_checks();
    }

    fn set_capacity(&mut self, capacity: usize) {
        self.entries.set_capacity(capacity);
        self.drop_evicted_checks();
    }

    /// Evictions take the oldest entries (RFC 7541 §4.4), and an entry too
    /// large for the table empties it without being added, so the entries
    /// left are the newest ones: the checks at the back.
    fn drop_evicted_checks(&mut self) {
        let evicted = self.checks.len().saturating_sub(self.entries.len());
        self.checks.drain(..evicted);
    }

    /// Entry by 0-based dynamic index (0 = newest, HPACK index 62).
    fn get(&self, index: usize) -> Option<(&[u8], &[u8], FieldCheck)> {
        let (name, value) = self.entries.get(index)?;
        let check = *self.checks.get(self.checks.len().checked_sub(index + 1)?)?;
        Some((name, value, check))
    }
}

/// Where a decoded name or value lives until the callback.
#[derive(Clone, Copy)]
enum Src {
    Static(&'static [u8]),
    Block(usize, usize),
    Scratch(usize, usize),
    /// 0-based dynamic table index.
    Dynamic(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Literal {
    Incremental,
    Without,
    Never,
}

/// Running totals for [`DecodeLimits`]; remembers the first limit exceeded.
struct Budget {
    limits: DecodeLimits,
    list_size: usize,
    count: usize,
    exceeded: Option<DecodeError>,
}

impl Budget {
    /// Counts one field; false once any limit has been exceeded, after which
    /// fields are no longer delivered (and no longer need to be counted).
    #[inline]
    fn admit(&mut self, name_len: usize, value_len: usize) -> bool {
        if self.exceeded.is_some() {
            return false;
        }
        self.count += 1;
        self.list_size = self.list_size.saturating_add(name_len + value_len + ENTRY_OVERHEAD);
        if self.count > self.limits.max_header_count {
            self.exceeded = Some(DecodeError::TooManyHeaders);
        } else if self.list_size > self.limits.max_list_size {
            self.exceeded = Some(DecodeError::HeaderListTooLarge);
        }
        self.exceeded.is_none()
    }
}

impl HpackDecoder {
    /// `max_table_size` is the SETTINGS_HEADER_TABLE_SIZE we advertised
    /// (4096 by default), taken as already acknowledged by the peer.
    ///
    /// The peer's encoder starts with a 4096-octet table (the protocol
    /// default) and must signal any growth, so a larger limit only allows
    /// size updates up to it. If you advertise *less* than 4096, the peer may
    /// legitimately use 4096 until it has seen your SETTINGS; to model that
    /// exactly, construct with 4096 and call [`set_max_table_size`] when the
    /// SETTINGS is acknowledged.
    ///
    /// [`set_max_table_size`]: Self::set_max_table_size
    pub fn new(max_table_size: usize) -> Self {
        Self {
            table: CheckedTable::new(max_table_size.min(DEFAULT_TABLE_SIZE)),
            max_table_size,
            required_update: None,
            scratch: Vec::new(),
        }
    }

    /// Changes the SETTINGS_HEADER_TABLE_SIZE in force; call it when our
    /// SETTINGS carrying the new value is acknowledged. If the value is below
    /// the size the peer's encoder currently uses, the peer must open its
    /// next block with a size update no larger than it (§4.2; if the limit
    /// moved several times, no larger than the smallest), which `decode`
    /// then requires. The table is shrunk right away: the update the peer
    /// must send evicts at least as much, oldest first.
    pub fn set_max_table_size(&mut self, max: usize) {
        self.max_table_size = max;
        if max < self.table.entries.capacity() {
            self.required_update = Some(self.required_update.map_or(max, |m| m.min(max)));
            self.table.set_capacity(max);
        }
    }

    /// Current dynamic table size in octets (§4.1).
    pub fn table_size(&self) -> usize {
        self.table.entries.size()
    }

    /// Current maximum dynamic table size, as last set by the peer (§4.2).
    pub fn table_capacity(&self) -> usize {
        self.table.entries.capacity()
    }

    /// Dynamic table entries, newest (HPACK index 62) first.
    pub fn dynamic_table(&self) -> impl ExactSizeIterator<Item = (&[u8], &[u8])> + '_ {
        self.table.entries.iter()
    }

    /// Capacities of all owned buffers (tests check they stop growing).
    #[cfg(test)]
    pub(crate) fn buffer_capacities(&self) -> [usize; 4] {
        let (a, b) = self.table.entries.buffer_capacities();
        [a, b, self.table.checks.capacity(), self.scratch.capacity()]
    }

    /// Decodes one complete header block, calling `on_header` for each field
    /// in order.
    ///
    /// Limits are checked as fields are decoded. Once one is exceeded the
    /// callback is no longer invoked and indexed fields are only validated,
    /// but the rest of the block is still processed so that insertions and
    /// size updates keep the dynamic table in sync; then the limit error is
    /// returned ([`DecodeError::is_limit`]). Literals that are not indexed
    /// are skipped without Huffman-decoding them at that point.
    ///
    /// Any other error leaves the decoder in an unspecified (but safe) state:
    /// the connection must be closed with COMPRESSION_ERROR.
    pub fn decode<F: FnMut(HeaderField<'_>)>(
        &mut self,
        block: &[u8],
        limits: DecodeLimits,
        mut on_header: F,
    ) -> Result<(), DecodeError> {
        self.decode_checked(block, limits, |field, _| on_header(field))
    }

    /// [`decode`](Self::decode), with each field's [`FieldCheck`] (RFC 9113
    /// §8.2.1 syntax): made once per literal, and kept with each dynamic
    /// table entry, so a field that is referenced by index (as browsers
    /// send most of theirs) is not scanned again.
    pub fn decode_checked<F: FnMut(HeaderField<'_>, FieldCheck)>(
        &mut self,
        block: &[u8],
        limits: DecodeLimits,
        mut on_header: F,
    ) -> Result<(), DecodeError> {
        let Self { table, max_table_size, required_update, scratch } = self;
        let mut budget = Budget { limits, list_size: 0, count: 0, exceeded: None };
        let mut need_update = required_update.take();
        let mut seen_field = false;
        let mut pos = 0;

        while let Some(&first) = block.get(pos) {
            // §6.3 dynamic table size update: 001xxxxx
            if first & 0xe0 == 0x20 {
                if seen_field {
                    return Err(DecodeError::TableSizeUpdateNotAtStart);
                }
                let (size, n) = decode_integer(&block[pos..], 5)?;
                pos += n;
                if size > *max_table_size {
                    return Err(DecodeError::TableSizeAboveLimit);
                }
                if let Some(min) = need_update.take()
                    && size > min
                {
                    return Err(DecodeError::MissingTableSizeUpdate);
                }
                table.set_capacity(size);
                continue;
            }
            if need_update.is_some() {
                return Err(DecodeError::MissingTableSizeUpdate);
            }
            seen_field = true;

            // §6.1 indexed header field: 1xxxxxxx
            if first & 0x80 != 0 {
                let (index, n) = decode_integer(&block[pos..], 7)?;
                pos += n;
                let (name, value, check) = lookup(table, index)?;
                if budget.admit(name.len(), value.len()) {
                    on_header(HeaderField { name, value, sensitive: false }, check);
                }
                continue;
            }

            // §6.2 literals: 01xxxxxx incremental (6-bit index), 0001xxxx
            // never indexed, 0000xxxx without indexing (4-bit index).
            let (kind, prefix) = match first & 0xf0 {
                0x10 => (Literal::Never, 4),
                0x00 => (Literal::Without, 4),
                _ => (Literal::Incremental, 6),
            };
            let (index, n) = decode_integer(&block[pos..], prefix)?;
            pos += n;
            // Past a limit, only insertions still need the decoded bytes.
            let materialise = kind == Literal::Incremental || budget.exceeded.is_none();
            scratch.clear();
            let mut name = match index {
                0 => read_string(block, &mut pos, scratch, materialise)?,
                i if i <= STATIC_LEN => Src::Static(STATIC_TABLE[i - 1].0),
                i if i - STATIC_LEN <= table.entries.len() => Src::Dynamic(i - STATIC_LEN - 1),
                _ => return Err(DecodeError::InvalidIndex),
            };
            let value = read_string(block, &mut pos, scratch, materialise)?;
            if !materialise {
                // Already over a limit; the field is dropped unread.
                continue;
            }

            let mut check = None;
            if kind == Literal::Incremental {
                // §4.4: the referenced name may be evicted by this very
                // insertion, so copy it out of the table first.
                if let Src::Dynamic(i) = name {
                    let start = scratch.len();
                    let (n, _, _) = table.get(i).ok_or(DecodeError::InvalidIndex)?;
                    scratch.extend_from_slice(n);
                    name = Src::Scratch(start, scratch.len());
                }
                let (n, v) = (local(name, block, scratch), local(value, block, scratch));
                let c = FieldCheck::of(n, v);
                table.insert(n, v, c);
                check = Some(c);
            }
            let name = resolve(name, block, scratch, &table.entries);
            let value = resolve(value, block, scratch, &table.entries);
            if budget.admit(name.len(), value.len()) {
                let check = check.unwrap_or_else(|| FieldCheck::of(name, value));
                on_header(HeaderField { name, value, sensitive: kind == Literal::Never }, check);
            }
        }

        if need_update.is_some() {
            return Err(DecodeError::MissingTableSizeUpdate);
        }
        match budget.exceeded {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Resolves an HPACK index (§2.3.3) without copying.
#[inline]
fn lookup(table: &CheckedTable, index: usize) -> Result<(&[u8], &[u8], FieldCheck), DecodeError> {
    match index {
        0 => Err(DecodeError::InvalidIndex),
        i if i <= STATIC_LEN => {
            let (name, value) = STATIC_TABLE[i - 1];
            Ok((name, value, FieldCheck::of_static(i)))
        }
        i => table.get(i - STATIC_LEN - 1).ok_or(DecodeError::InvalidIndex),
    }
}

/// Reads a string literal (§5.2) at `*pos`. Raw strings stay in the block;
/// Huffman strings are decoded onto the end of `scratch` (or only skipped
/// when `materialise` is false).
fn read_string(block: &[u8], pos: &mut usize, scratch: &mut Vec<u8>, materialise: bool) -> Result<Src, DecodeError> {
    let rest = block.get(*pos..).unwrap_or_default();
    let Some(&first) = rest.first() else {
        return Err(DecodeError::Truncated);
    };
    let (len, n) = decode_integer(rest, 7)?;
    let start = *pos + n;
    let end = match start.checked_add(len) {
        Some(end) if end <= block.len() => end,
        _ => return Err(DecodeError::StringTooLong),
    };
    *pos = end;
    if first & 0x80 == 0 || !materialise {
        return Ok(Src::Block(start, end));
    }
    let from = scratch.len();
    huffman::decode(&block[start..end], scratch)?;
    Ok(Src::Scratch(from, scratch.len()))
}

// The ranges were produced by `read_string` against these very buffers and
// dynamic indices were checked, so the empty fallbacks below are
// unreachable; they exist so that no path can panic.

#[inline]
fn resolve<'a>(src: Src, block: &'a [u8], scratch: &'a [u8], table: &'a DynamicTable) -> &'a [u8] {
    match src {
        Src::Dynamic(i) => table.get(i).map_or(&[][..], |(n, _)| n),
        other => local(other, block, scratch),
    }
}

/// Like [`resolve`] for sources outside the dynamic table (so the table can
/// be borrowed mutably meanwhile).
#[inline]
fn local<'a>(src: Src, block: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
    match src {
        Src::Static(s) => s,
        Src::Block(a, b) => block.get(a..b).unwrap_or_default(),
        Src::Scratch(a, b) => scratch.get(a..b).unwrap_or_default(),
        Src::Dynamic(_) => &[],
    }
}

#[cfg(test)]
mod tests;
