//! The encoder's dynamic table with an index: finding a field (or only its
//! name) costs one hash of the value and a probe or two, not a scan of the
//! table with a byte comparison per candidate.
//!
//! # How the index stays right
//!
//! Every inserted entry gets an absolute number (0, 1, 2, ... in insertion
//! order, wrapping at 2^32); the newest live entry has number `inserted - 1`
//! and dynamic index 0, so an entry numbered `abs` has dynamic index
//! `inserted - 1 - abs`, and is live while that is less than the table's
//! length. The index is an open-addressed hash table (linear probing) of
//! `(key, abs)` slots with two kinds of key:
//!
//! - a *field* key, hash of name and value → the entry with that field;
//! - a *name* key, hash of the name → the newest entry with that name.
//!
//! Eviction (§4.4) and size changes (§4.3) do not touch the index: a slot
//! whose entry was evicted is *stale*, recognised by its number, skipped by
//! lookups and reused by insertions. That is exact, not a heuristic, because
//! the table is FIFO: if the newest entry with a name was evicted, every
//! older one was too, so a stale name slot correctly means "no entry has
//! this name". Stale slots are purged by rebuilding the index from the live
//! entries when the slots fill up (amortised O(1) per insertion) and every
//! 2^31 insertions (so that a stale number is never mistaken for a live one
//! after the counter wraps).
//!
//! Every hit is confirmed by comparing the entry's bytes, so a hash
//! collision can cost a probe but never a wrong index.
//!
//! # Why an unkeyed hash is enough
//!
//! The hash is a fixed one (no per-process key), so whoever chooses the
//! encoded fields could choose colliding ones. The encoder encodes our
//! response fields, mostly constants of the site, but a few values derive
//! from the request (a redirect's `location` carries the request path).
//! The damage is bounded by the table: it holds at most capacity / 32
//! entries (128 for our 4,096 octets), the index has at most 8 slots per
//! entry (64 at least), and a lookup compares bytes at most once per live
//! entry (only slots with the same 32-bit key are compared, and one kind of
//! key per lookup), which is what the linear scan this replaced paid on
//! *every* lookup. Request fields never reach the encoder: they are decoded.

use crate::h2::hpack::table::DynamicTable;

/// The index never has fewer slots than this (a power of two): 512 octets,
/// room for a typical response's 12 to 16 fields before the first rebuild,
/// so that a new connection's first response does not grow it step by step.
const MIN_SLOTS: usize = 64;

/// Rebuilt at every multiple of this many insertions; see the module doc.
const REBUILD_EVERY: u32 = 1 << 31;

/// An index slot: `key` 0 is an empty slot. Field keys are even, name keys
/// odd, so the two kinds never match each other.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: u32,
    abs: u32,
}

/// The two index keys of one field, computed once per field and used for
/// both the lookup and the insertion that may follow it.
#[derive(Clone, Copy, Debug)]
pub(super) struct FieldKeys {
    name: u32,
    field: u32,
}

impl FieldKeys {
    /// `name_hash` is the table's `name_hash(name)`, which the encoder has anyway.
    pub(super) fn new(name_hash: usize, value: &[u8]) -> Self {
        Self { name: name_hash as u32 | 1, field: (field_hash(name_hash, value) & !1).max(2) }
    }
}

/// Hash of a value, seeded with its name's hash, in constant time: it
/// reads the length and three 8-octet words (start, middle, end; shorter
/// values are read whole), like `name_hash`, and mixes them with
/// wyhash's multiply-fold. Values that differ only elsewhere collide, which
/// costs a comparison (every hit is checked), not a wrong answer: reading
/// whole values would cost more per field than such collisions do.
fn field_hash(name_hash: usize, value: &[u8]) -> u32 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
    let len = value.len();
    let word = |w: &[u8; 8]| u64::from_le_bytes(*w);
    let (a, b, c) = match (value.first_chunk::<8>(), value.last_chunk::<8>()) {
        (Some(head), Some(tail)) => {
            let mid = value[(len - 8) / 2..].first_chunk::<8>().map_or(0, word);
            (word(head), mid, word(tail))
        }
        _ => match (value.first_chunk::<4>(), value.last_chunk::<4>()) {
            (Some(head), Some(tail)) => (u64::from(u32::from_le_bytes(*head)), 0, u64::from(u32::from_le_bytes(*tail))),
            _ => {
                // 0 to 3 octets: first, middle and last (some may coincide).
                let at = |i: usize| value.get(i).map_or(0, |&b| u64::from(b));
                (at(0), at(len / 2), at(len.wrapping_sub(1)))
            }
        },
    };
    let h = mum(a ^ P0 ^ name_hash as u64, b ^ P1 ^ len as u64);
    (mum(h ^ c, P2) >> 32) as u32
}

/// `a == b`, without calling `memcmp` for strings of 4 to 16 octets (most
/// names and many values), where the call costs more than the comparison:
/// two overlapping loads from each side cover every octet.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    fn ends_eq<const N: usize>(a: &[u8], b: &[u8]) -> bool {
        a.first_chunk::<N>() == b.first_chunk::<N>() && a.last_chunk::<N>() == b.last_chunk::<N>()
    }
    match a.len() {
        n if n != b.len() => false,
        8..=16 => ends_eq::<8>(a, b),
        4..=7 => ends_eq::<4>(a, b),
        _ => a == b,
    }
}

/// The 128-bit product of `a` and `b`, its halves xored (wyhash's mixing step).
fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The dynamic table plus the index described in the module doc.
#[derive(Clone, Debug)]
pub(super) struct IndexedTable {
    table: DynamicTable,
    index: Slots,
    /// Entries inserted so far (wrapping); the next one gets this number.
    inserted: u32,
}

impl IndexedTable {
    pub(super) fn new(capacity: usize) -> Self {
        Self { table: DynamicTable::new(capacity), index: Slots::default(), inserted: 0 }
    }

    pub(super) fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Dynamic index (0 = newest) of the entry `name: value`.
    #[inline]
    pub(super) fn find_field(&self, name: &[u8], value: &[u8], keys: FieldKeys) -> Option<usize> {
        self.index.probe(self.entries(), keys.field, |n, v| bytes_eq(n, name) && bytes_eq(v, value))
    }

    /// Dynamic index of the entry numbered `entry` if it is still in the
    /// table and is `name: value`.
    #[inline]
    pub(super) fn entry_is(&self, entry: u32, name: &[u8], value: &[u8]) -> Option<usize> {
        let (index, n, v) = self.entries().get(entry)?;
        (bytes_eq(n, name) && bytes_eq(v, value)).then_some(index)
    }

    /// The number of the entry at dynamic index `index`.
    pub(super) fn number(&self, index: usize) -> u32 {
        self.inserted.wrapping_sub(1).wrapping_sub(index as u32)
    }

    /// Dynamic index of the newest entry named `name`.
    pub(super) fn find_name(&self, name: &[u8], keys: FieldKeys) -> Option<usize> {
        self.index.probe(self.entries(), keys.name, |n, _| n == name)
    }

    /// Adds an entry as `DynamicTable::insert` does (evicting as §4.4
    /// says) and indexes it. `name_hash` is `name_hash(name)` and `keys`
    /// come from it and `value`. Returns whether it was added (false when
    /// larger than the table, which empties the table).
    pub(super) fn insert(&mut self, name: &[u8], value: &[u8], name_hash: usize, keys: FieldKeys) -> bool {
        if !self.table.insert(name, value, name_hash) {
            // Every slot is now stale.
            return false;
        }
        let abs = self.inserted;
        self.inserted = abs.wrapping_add(1);
        if self.index.nearly_full() || self.inserted.is_multiple_of(REBUILD_EVERY) {
            self.rebuild();
            return true;
        }
        let entries = Entries { table: &self.table, inserted: self.inserted };
        self.index.upsert(entries, keys.name, abs, |n, _| n == name);
        self.index.upsert(entries, keys.field, abs, |n, v| n == name && v == value);
        true
    }

    /// Applies a new maximum size (§4.3). Evicted entries' slots would just
    /// go stale, but the index is rebuilt to fit the new size (size changes
    /// are rare).
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.table.set_capacity(capacity);
        self.rebuild();
    }

    /// Capacities of the owned buffers, to check that they stop growing.
    #[cfg(test)]
    pub(super) fn buffer_capacities(&self) -> (usize, usize, usize) {
        let (bytes, entries) = self.table.buffer_capacities();
        (bytes, entries, self.index.slots.capacity())
    }

    fn entries(&self) -> Entries<'_> {
        Entries { table: &self.table, inserted: self.inserted }
    }

    /// Re-creates the index from the live entries, sized so that they fill
    /// at most half of it: oldest first, so that a name's slot ends up at
    /// its newest entry.
    fn rebuild(&mut self) {
        let len = self.table.len();
        self.index.reset((4 * len).next_power_of_two().max(MIN_SLOTS));
        let entries = Entries { table: &self.table, inserted: self.inserted };
        let mut abs = self.inserted.wrapping_sub(len as u32);
        for (name, value, name_hash) in self.table.iter_oldest_first() {
            let keys = FieldKeys::new(name_hash, value);
            self.index.upsert(entries, keys.name, abs, |n, _| n == name);
            self.index.upsert(entries, keys.field, abs, |n, v| n == name && v == value);
            abs = abs.wrapping_add(1);
        }
    }
}

/// What the slots need to know of the table: which numbers are live, and
/// their bytes.
#[derive(Clone, Copy)]
struct Entries<'a> {
    table: &'a DynamicTable,
    inserted: u32,
}

impl<'a> Entries<'a> {
    /// Dynamic index and bytes of the entry numbered `abs`, if it is still
    /// in the table.
    #[inline]
    fn get(self, abs: u32) -> Option<(usize, &'a [u8], &'a [u8])> {
        let index = self.inserted.wrapping_sub(abs).wrapping_sub(1) as usize;
        let (name, value) = self.table.get(index)?;
        Some((index, name, value))
    }
}

/// The open-addressed slots (linear probing).
#[derive(Clone, Debug, Default)]
struct Slots {
    /// Power-of-two length (or empty until the first insertion), at most
    /// 3/4 used, so that every probe sequence ends at an empty slot.
    slots: Vec<Slot>,
    /// Non-empty slots, live or stale.
    used: usize,
}

impl Slots {
    fn reset(&mut self, size: usize) {
        self.slots.clear();
        self.slots.resize(size, Slot::default());
        self.used = 0;
    }

    /// Whether two more slots (one insertion) would leave less than 1/4 empty.
    fn nearly_full(&self) -> bool {
        (self.used + 2) * 4 > self.slots.len() * 3
    }

    #[inline]
    fn probe(&self, entries: Entries<'_>, key: u32, matches: impl Fn(&[u8], &[u8]) -> bool) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = (key >> 1) as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot.key == 0 {
                return None;
            }
            if slot.key == key
                && let Some((index, n, v)) = entries.get(slot.abs)
                && matches(n, v)
            {
                return Some(index);
            }
            at = (at + 1) & mask;
        }
    }

    /// Points `key` at entry `abs`: overwrites the live slot of an entry
    /// that `matches` (an older entry with the same name, for name keys),
    /// else takes the first stale slot of the probe sequence, else the empty
    /// slot that ends it.
    fn upsert(&mut self, entries: Entries<'_>, key: u32, abs: u32, matches: impl Fn(&[u8], &[u8]) -> bool) {
        let mask = self.slots.len() - 1;
        let mut at = (key >> 1) as usize & mask;
        let mut stale = None;
        while self.slots[at].key != 0 {
            let slot = self.slots[at];
            match entries.get(slot.abs) {
                None => {
                    stale.get_or_insert(at);
                }
                Some((_, n, v)) if slot.key == key && matches(n, v) => {
                    self.slots[at].abs = abs;
                    return;
                }
                Some(_) => {}
            }
            at = (at + 1) & mask;
        }
        let at = stale.unwrap_or_else(|| {
            self.used += 1;
            at
        });
        self.slots[at] = Slot { key, abs };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::hpack::table::name_hash;

    /// SplitMix64, for reproducible operation sequences.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        }
    }

    fn keys(name: &[u8], value: &[u8]) -> FieldKeys {
        FieldKeys::new(name_hash(name), value)
    }

    fn insert(t: &mut IndexedTable, name: &[u8], value: &[u8]) {
        t.insert(name, value, name_hash(name), keys(name, value));
    }

    /// The answers of the linear scan the index replaces: the newest match.
    fn scan(t: &IndexedTable, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let entries: Vec<_> = t.table().iter().collect();
        (entries.iter().position(|&e| e == (name, value)), entries.iter().position(|&(n, _)| n == name))
    }

    fn found(t: &IndexedTable, name: &[u8], value: &[u8]) -> (Option<usize>, Option<usize>) {
        let k = keys(name, value);
        (t.find_field(name, value, k), t.find_name(name, k))
    }

    /// Every live field and name, and some absent ones, are found exactly
    /// where a scan finds them.
    fn check(t: &IndexedTable, probes: &[(&[u8], &[u8])]) {
        let live: Vec<(Vec<u8>, Vec<u8>)> = t.table().iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect();
        for (n, v) in live.iter().map(|(n, v)| (&n[..], &v[..])).chain(probes.iter().copied()) {
            assert_eq!(
                found(t, n, v),
                scan(t, n, v),
                "{:?}: {:?}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            );
        }
        assert!(t.index.used * 4 <= t.index.slots.len() * 3, "{} of {} slots used", t.index.used, t.index.slots.len());
    }

    #[test]
    fn lookups_follow_eviction() {
        // Room for three entries of 34 octets ("n" + one-octet value + 32).
        let mut t = IndexedTable::new(3 * 34);
        assert_eq!(found(&t, b"a", b"1"), (None, None), "empty index");
        insert(&mut t, b"a", b"1");
        insert(&mut t, b"b", b"1");
        insert(&mut t, b"a", b"2");
        assert_eq!(found(&t, b"a", b"1"), (Some(2), Some(0)), "name match is the newest");
        assert_eq!(found(&t, b"a", b"2"), (Some(0), Some(0)));
        insert(&mut t, b"c", b"1"); // evicts a: 1
        assert_eq!(found(&t, b"a", b"1"), (None, Some(1)));
        assert_eq!(found(&t, b"b", b"1"), (Some(2), Some(2)));
        insert(&mut t, b"c", b"2"); // evicts b: 1
        insert(&mut t, b"c", b"3"); // evicts a: 2, the last "a"
        assert_eq!(found(&t, b"a", b"2"), (None, None), "a stale name slot means no such name");
        assert_eq!(found(&t, b"b", b"1"), (None, None));
        // Re-inserting an evicted field reuses its stale slots.
        insert(&mut t, b"a", b"1");
        assert_eq!(found(&t, b"a", b"1"), (Some(0), Some(0)));
        check(&t, &[(b"b", b"1"), (b"c", b"9")]);
    }

    #[test]
    fn lookups_follow_size_changes_and_oversized_entries() {
        let mut t = IndexedTable::new(4096);
        for i in 0..40u32 {
            insert(&mut t, b"x-counter", i.to_string().as_bytes());
        }
        t.set_capacity(100); // keeps the newest two (43 octets each)
        assert_eq!(t.table().len(), 2);
        assert_eq!(found(&t, b"x-counter", b"39"), (Some(0), Some(0)));
        assert_eq!(found(&t, b"x-counter", b"37"), (None, Some(0)));
        check(&t, &[(b"x-counter", b"1")]);
        // §4.4: an entry larger than the table empties it.
        insert(&mut t, b"x-big", &[b'v'; 100]);
        assert_eq!(t.table().len(), 0);
        assert_eq!(found(&t, b"x-counter", b"39"), (None, None));
        assert_eq!(found(&t, b"x-big", &[b'v'; 100]), (None, None));
        t.set_capacity(0);
        insert(&mut t, b"a", b"");
        assert_eq!(found(&t, b"a", b""), (None, None));
        t.set_capacity(4096);
        insert(&mut t, b"a", b"");
        assert_eq!(found(&t, b"a", b""), (Some(0), Some(0)));
    }

    /// Random insertions (few names, few values, so duplicates of names
    /// and of whole fields, and constant eviction) and size changes; after
    /// each step the index agrees with a scan for every field.
    #[test]
    fn index_agrees_with_a_scan_under_churn() {
        let names: [&[u8]; 6] = [b"date", b"etag", b"content-length", b"x-a-rather-long-header-name", b"vary", b"a"];
        let mut rng = Rng(7);
        for start in [0, u32::MAX - 300, REBUILD_EVERY - 300] {
            let mut t = IndexedTable::new(512);
            // Numbering from `start` crosses the wrap and the periodic rebuild.
            t.inserted = start;
            for step in 0..3000 {
                match rng.below(50) {
                    0 => t.set_capacity([0, 40, 200, 512][rng.below(4) as usize]),
                    _ => {
                        let name = names[rng.below(names.len() as u64) as usize];
                        let value = vec![b'0' + rng.below(10) as u8; rng.below(40) as usize];
                        let (exact, _) = scan(&t, name, &value);
                        assert_eq!(found(&t, name, &value).0, exact, "step {step}");
                        insert(&mut t, name, &value);
                    }
                }
                check(&t, &[(b"absent", b""), (b"date", b"never")]);
            }
        }
    }

    #[test]
    fn colliding_fields_are_told_apart() {
        // Same length, same first, middle and last 8 octets: the same hash.
        let a = b"0123456789-AAAA-abcdefgh-ZZZZ-76543210";
        let b = b"0123456789-BBBB-abcdefgh-YYYY-76543210";
        assert_eq!(field_hash(1, a), field_hash(1, b));
        let mut t = IndexedTable::new(4096);
        insert(&mut t, b"x", a);
        assert_eq!(found(&t, b"x", b), (None, Some(0)));
        insert(&mut t, b"x", b);
        assert_eq!(found(&t, b"x", a), (Some(1), Some(0)));
        assert_eq!(found(&t, b"x", b), (Some(0), Some(0)));
    }

    #[test]
    fn short_comparisons() {
        for len in 0..=20 {
            let a: Vec<u8> = (0..len as u8).collect();
            assert!(bytes_eq(&a, &a.clone()));
            for i in 0..len {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "{len} octets, differing at {i}");
            }
            assert!(!bytes_eq(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }
}
