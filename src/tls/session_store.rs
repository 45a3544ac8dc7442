//! Server-side TLS 1.3 session state shared by every worker, for
//! resumption and 0-RTT.
//!
//! # Why stateful, and why single use
//!
//! 0-RTT data has no replay protection of its own (RFC 8446 §2.3, §8): an
//! attacker who records a ClientHello with early data can send it again.
//! §8.1 ("Single-Use Tickets") is the simplest defence: the server keeps
//! each ticket's state and deletes it the first time it is used, so a
//! replayed ClientHello finds nothing, falls back to a full handshake, and
//! its early data is discarded. rustls implements exactly this split:
//!
//! - it accepts early data only with stateful resumption (a non-zero
//!   `max_early_data_size` and no `ticketer`; with a ticketer it logs
//!   "early_data with stateless resumption is not allowed" and never
//!   offers it);
//! - on a TLS 1.3 resumption it looks each offered PSK identity up with
//!   [`StoresServerSessions::take`], never `get`, so an identity works once.
//!   The take happens *before* the binder is checked (RFC 8446 §4.2.11), so
//!   any ClientHello naming an identity consumes it, whether or not the
//!   handshake then succeeds; that is what makes the ticket single-use;
//! - after every handshake, full or resumed, it issues
//!   `ServerConfig::send_tls13_tickets` (default 2) NewSessionTickets
//!   (RFC 8446 §4.6.1), each a `put` of a fresh 32-byte identity from the
//!   provider's CSPRNG (`rand::random_vec(secure_random, 32)`). If `put`
//!   returns `false`, that ticket is not sent.
//!
//! The workers share one store because `SO_REUSEPORT` sends a client's
//! next connection to any worker: a per-worker store would resume only by
//! luck, and a replayed ClientHello sent to another worker would find its
//! ticket still there. One store per process is the anti-replay domain;
//! two server processes (or hosts) behind one name each have their own,
//! so a ClientHello replayed to the other one is refused only because that
//! store never had the ticket.
//!
//! # Layout
//!
//! `capacity` entries split over a power-of-two number of shards (16, or
//! fewer when the capacity is small), each a `Mutex` around a map and a
//! FIFO of insertion order: when a shard is full, its oldest entry goes.
//! Keys are server-chosen random bytes, so hashing them cheaply spreads
//! them evenly and the client cannot aim at one shard or bucket: the
//! client only chooses the identities it *looks up*, and a lookup of a key
//! that was never stored costs one probe.
//!
//! # Sizing
//!
//! Every handshake puts `send_tls13_tickets` entries and every resumption
//! takes one, so with the default of 2 the store grows by one or two
//! entries per connection and is, in steady state, always full: FIFO
//! eviction, not the 24-hour lifetime rustls announces for stateful
//! tickets, decides how long a ticket stays usable. Capacity should be
//! about `send_tls13_tickets × new connections per second × the
//! resumption window wanted`. An entry costs about 300 bytes all told:
//! the encoded session (84 bytes with rustls 0.23.46 for SNI `localhost`
//! and ALPN `h2`: suite, secret, SNI, ALPN, timestamps, age offset), an
//! 80-byte map slot at hashbrown's load factor, and a 56-byte queue slot
//! (up to two while taken entries' slots wait for compaction). 4096
//! entries are about 1.2 MB.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque, hash_map};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use rustls::server::StoresServerSessions;

/// Upper bound on the number of shards: with one worker per core, 16
/// locks make two workers meeting on one lock rare (each operation holds
/// it for a hash-map access, well under a microsecond, against a
/// handshake of tens of microseconds).
pub const MAX_SHARDS: usize = 16;

/// Shards are only added while each keeps at least this many entries, so
/// a small store stays one exact FIFO instead of many tiny ones whose
/// eviction order would depend on how keys happen to hash.
const MIN_ENTRIES_PER_SHARD: usize = 32;

/// The longest key stored. rustls' TLS 1.3 ticket identities are 32
/// random bytes (TLS 1.2 session ids are at most 32 bytes, RFC 5246
/// §7.4.1.2), so keys are kept inline; `put` of a longer key returns
/// `false` and a lookup of one finds nothing, which is also where a
/// client's PSK identity of up to 2^16-1 bytes (RFC 8446 §4.2.11) ends.
const MAX_KEY_LEN: usize = 32;

/// What [`ShardedSessionStore::stats`] reports: totals since creation,
/// summed over the shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// `put`, `get` and `take` calls that reached a shard (with capacity
    /// 0 there are none).
    pub operations: u64,
    /// How many of those found their shard's lock held by another thread
    /// and had to wait for it.
    pub contended: u64,
    /// Sessions stored right now.
    pub entries: usize,
}

/// A [`StoresServerSessions`] for `ServerConfig::session_storage`, shared
/// by all workers; see the module docs.
///
/// ```
/// use std::sync::Arc;
/// use h2ring::tls::session_store::ShardedSessionStore;
///
/// let store = Arc::new(ShardedSessionStore::new(4096));
/// // config.session_storage = store.clone();  // and keep `store` for stats()
/// assert_eq!(store.stats().entries, 0);
/// ```
pub struct ShardedSessionStore {
    shards: Box<[Shard]>,
    capacity: usize,
    /// Per-store random seed of the key hash, so that how keys map to
    /// shards and buckets differs between runs.
    seed: u64,
}

impl ShardedSessionStore {
    /// A store of `capacity` sessions in total. `capacity` 0 stores
    /// nothing: `can_cache()` is false and every `put` returns false (so
    /// rustls sends no tickets).
    pub fn new(capacity: usize) -> ShardedSessionStore {
        let shards = (capacity / MIN_ENTRIES_PER_SHARD).clamp(1, MAX_SHARDS);
        ShardedSessionStore::with_shards(capacity, shards)
    }

    /// As [`new`](Self::new) with an explicit shard count, rounded down to
    /// a power of two and clamped to `1..=capacity` (every shard holds at
    /// least one entry). For measuring the lock under load; `new` picks a
    /// good count by itself.
    pub fn with_shards(capacity: usize, shards: usize) -> ShardedSessionStore {
        let shards = if capacity == 0 { 0 } else { prev_power_of_two(shards.clamp(1, capacity)) };
        // The capacity is split exactly: the first `capacity % shards`
        // shards take one more, so the total is `capacity`, not a rounding
        // of it.
        let base = capacity.checked_div(shards).unwrap_or(0);
        let extra = capacity.checked_rem(shards).unwrap_or(0);
        let shards = (0..shards).map(|i| Shard::new(base + usize::from(i < extra))).collect();
        ShardedSessionStore { shards, capacity, seed: RandomState::new().hash_one(0x6832_7269_6e67_u64) }
    }

    /// The total capacity given to [`new`](Self::new).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many shards (locks) the capacity is split over; 0 when the
    /// capacity is 0.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Totals since creation. Reads relaxed per-shard counters without
    /// taking any lock, so calling it (say, once a second for a metrics
    /// line) does not itself cause contention; the sums are not one
    /// atomic snapshot.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for shard in self.shards.iter() {
            stats.operations += shard.operations.load(Ordering::Relaxed);
            stats.contended += shard.contended.load(Ordering::Relaxed);
            stats.entries += shard.entries.load(Ordering::Relaxed);
        }
        stats
    }

    /// The shard holding `key`, or `None` when nothing can be stored (the
    /// capacity is 0, or the key is longer than any stored one).
    fn locate(&self, key: &[u8]) -> Option<(&Shard, Key)> {
        let key = Key::new(self.seed, key)?;
        // The shard comes from bits 32..36 of the hash: the map picks
        // buckets with the low bits and its 7-bit control tags with the
        // top ones, so keys of one shard still differ in both.
        let index = (key.hash >> 32) as usize & self.shards.len().wrapping_sub(1);
        Some((self.shards.get(index)?, key))
    }
}

impl StoresServerSessions for ShardedSessionStore {
    /// Stores `value` under `key`, replacing (and renewing the age of) an
    /// entry with the same key. Returns false only when nothing can be
    /// stored: capacity 0, or a key longer than 32 bytes, which rustls never
    /// makes.
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Some((shard, key)) = self.locate(&key) else {
            return false;
        };
        let mut state = shard.lock();
        let dropped = state.insert(key, value);
        shard.entries.store(state.map.len(), Ordering::Relaxed);
        // Free the evicted or replaced session after unlocking: the lock
        // is held for the map and queue work only.
        drop(state);
        drop(dropped);
        true
    }

    /// A copy of the value, left in place: the TLS 1.2 session-id path
    /// (RFC 5246 §7.4.1.2), where resumption may repeat. TLS 1.3 never
    /// calls it.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (shard, key) = self.locate(key)?;
        let state = shard.lock();
        state.map.get(&key).map(|entry| entry.value.clone())
    }

    /// Removes and returns the value: TLS 1.3 resumption, where a ticket
    /// must work once only (RFC 8446 §8.1). Of two ClientHellos naming
    /// the same identity at the same moment on two workers, exactly one
    /// gets it: the shard lock orders them.
    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (shard, key) = self.locate(key)?;
        let mut state = shard.lock();
        let value = state.map.remove(&key).map(|entry| entry.value);
        shard.entries.store(state.map.len(), Ordering::Relaxed);
        value
    }

    fn can_cache(&self) -> bool {
        self.capacity > 0
    }
}

impl fmt::Debug for ShardedSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys or values: they are resumption secrets.
        f.debug_struct("ShardedSessionStore")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("stats", &self.stats())
            .finish()
    }
}

/// One lock and its counters.
///
/// Aligned to 128 bytes so that two shards never share a cache line (nor
/// the adjacent-line pair x86 prefetches together): workers on different
/// shards never invalidate each other's lines. The whole shard (lock word,
/// map and queue headers, counters) fits in those 128 bytes, and the lock
/// holder writes the lock word and the map and queue headers on every
/// operation anyway, so the counters ride along on lines that move with
/// the lock: counting adds no cache-line transfer of its own. A single
/// store-wide counter would instead be one more line bouncing between
/// every core on every handshake, a contention point of its own.
#[repr(align(128))]
struct Shard {
    state: Mutex<ShardState>,
    operations: AtomicU64,
    contended: AtomicU64,
    /// `state.map.len()`, mirrored after each change so that `stats` need
    /// not take the lock.
    entries: AtomicUsize,
}

impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            state: Mutex::new(ShardState::new(capacity)),
            operations: AtomicU64::new(0),
            contended: AtomicU64::new(0),
            entries: AtomicUsize::new(0),
        }
    }

    /// Takes the lock, counting the operation, and counting it as
    /// contended when another thread holds the lock right now.
    ///
    /// A poisoned lock (a thread panicked while holding it) is taken
    /// anyway: the state is a cache, every operation leaves it consistent
    /// between single map and queue calls, and `ShardState::insert`
    /// repairs the one inconsistency a panic between them could leave.
    /// Refusing every later handshake's resumption would be worse.
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        let guard = match self.state.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.contended.fetch_add(1, Ordering::Relaxed);
                self.state.lock().unwrap_or_else(PoisonError::into_inner)
            }
        };
        self.operations.fetch_add(1, Ordering::Relaxed);
        guard
    }
}

/// One shard's sessions: a map, and the keys in insertion order.
///
/// `take` removes from the map only; the key's queue slot goes stale and
/// is skipped when eviction reaches it, or dropped when the queue is
/// compacted (see `insert`). Each entry carries the sequence number of
/// its `put`, so a key taken and put again (or replaced) is not evicted
/// through its older, stale slot.
struct ShardState {
    capacity: usize,
    map: HashMap<Key, Entry, BuildHasherDefault<KeyHasher>>,
    order: VecDeque<(Key, u64)>,
    next_seq: u64,
}

struct Entry {
    value: Vec<u8>,
    seq: u64,
}

impl ShardState {
    fn new(capacity: usize) -> ShardState {
        // Pre-size for typical stores (a few thousand entries per shard);
        // a huge capacity grows as it fills instead of reserving memory
        // for sessions that may never come.
        let initial = capacity.min(4096);
        ShardState {
            capacity,
            map: HashMap::with_capacity_and_hasher(initial, BuildHasherDefault::default()),
            order: VecDeque::with_capacity(initial),
            next_seq: 0,
        }
    }

    /// Stores `value` under `key`; returns the session it pushed out (the
    /// evicted oldest one, or the one it replaced), for the caller to free
    /// outside the lock.
    fn insert(&mut self, key: Key, value: Vec<u8>) -> Option<Vec<u8>> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        // A put of a key already present is a new session under an old
        // name: it replaces the value and takes the newest position (its
        // old queue slot goes stale), evicting nothing.
        let mut evicted = None;
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            while self.map.len() >= self.capacity {
                evicted = self.evict_oldest();
                if evicted.is_none() {
                    // The queue ran dry with the map full: only possible
                    // if a panic interrupted an earlier insert between the
                    // map and the queue (a poisoned lock). Entries missing
                    // from the queue could never be evicted; start over.
                    self.map.clear();
                    self.order.clear();
                }
            }
        }
        let replaced = self.map.insert(key, Entry { value, seq }).map(|entry| entry.value);
        self.order.push_back((key, seq));
        // Taken and replaced keys leave stale slots behind; with many
        // takes and few evictions they would pile up without bound. Once
        // they outnumber the live ones by the capacity, drop them all in
        // one pass: O(capacity) work at most once per `capacity` puts.
        if self.order.len() > 2 * self.capacity + 16 {
            let map = &self.map;
            self.order.retain(|(key, seq)| map.get(key).is_some_and(|entry| entry.seq == *seq));
        }
        replaced.or(evicted)
    }

    /// Removes the oldest live entry and returns its value; `None` when
    /// the queue holds no live entry.
    fn evict_oldest(&mut self) -> Option<Vec<u8>> {
        while let Some((key, seq)) = self.order.pop_front() {
            if let hash_map::Entry::Occupied(entry) = self.map.entry(key)
                && entry.get().seq == seq
            {
                return Some(entry.remove().value);
            }
        }
        None
    }
}

/// A key of at most [`MAX_KEY_LEN`] bytes, inline (no allocation of its
/// own, copied into the queue for free), with its hash computed once per
/// operation and used both to pick the shard and as the map's hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    hash: u64,
    len: u8,
    bytes: [u8; MAX_KEY_LEN],
}

impl Key {
    fn new(seed: u64, key: &[u8]) -> Option<Key> {
        let len = u8::try_from(key.len()).ok().filter(|&len| usize::from(len) <= MAX_KEY_LEN)?;
        let mut bytes = [0u8; MAX_KEY_LEN];
        bytes.get_mut(..key.len())?.copy_from_slice(key);
        Some(Key { hash: hash_key(seed, key), len, bytes })
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// Mixes every byte of a key of at most 32 bytes, 8 at a time: four
/// multiply-xorshift rounds. Stored keys are 32 bytes from the CSPRNG, so
/// this needs no cryptographic strength, only to spread test keys and any
/// non-random key a future caller might store; the seed keeps the spread
/// from being the same in every run.
fn hash_key(seed: u64, key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(K);
    for chunk in key.chunks(8) {
        let mut word = [0u8; 8];
        word.iter_mut().zip(chunk).for_each(|(w, b)| *w = *b);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(K);
        h ^= h >> 29;
    }
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// Passes [`Key::hash`] through to the map: the key was hashed once
/// already, in [`Key::new`].
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed here, through `write_u64`; this fallback
        // keeps the `Hasher` contract for anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
}

fn prev_power_of_two(n: usize) -> usize {
    if n == 0 { 0 } else { 1 << (usize::BITS - 1 - n.leading_zeros()) }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU8;
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// A 32-byte key as rustls makes them, but derived from `n`.
    fn key(n: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(32);
        for i in 0..4u64 {
            k.extend_from_slice(&hash_key(i, &n.to_le_bytes()).to_le_bytes());
        }
        k
    }

    fn value(n: u64) -> Vec<u8> {
        n.to_le_bytes().repeat(12)
    }

    #[test]
    fn put_then_take_works_once() {
        let store = ShardedSessionStore::new(16);
        assert!(store.can_cache());
        assert!(store.put(key(1), value(1)));
        assert_eq!(store.stats().entries, 1);
        assert_eq!(store.take(&key(1)), Some(value(1)));
        assert_eq!(store.take(&key(1)), None, "a ticket is single-use (RFC 8446 §8.1)");
        assert_eq!(store.get(&key(1)), None);
        assert_eq!(store.stats().entries, 0);
    }

    #[test]
    fn take_of_missing_or_oversized_key_is_none() {
        let store = ShardedSessionStore::new(16);
        assert_eq!(store.take(&key(7)), None);
        assert_eq!(store.take(&[]), None);
        assert_eq!(store.take(&[0xab; 33]), None);
        assert_eq!(store.take(&vec![0xab; 65535]), None);
        assert!(!store.put(vec![1; 33], value(1)), "longer than any rustls id");
        assert!(store.put(Vec::new(), value(2)), "an empty key is a key");
        assert_eq!(store.get(&[]), Some(value(2)));
    }

    #[test]
    fn get_leaves_the_entry() {
        let store = ShardedSessionStore::new(16);
        store.put(key(1), value(1));
        assert_eq!(store.get(&key(1)), Some(value(1)));
        assert_eq!(store.get(&key(1)), Some(value(1)));
        assert_eq!(store.take(&key(1)), Some(value(1)));
    }

    #[test]
    fn put_of_an_existing_key_replaces_and_renews() {
        let store = ShardedSessionStore::new(2);
        store.put(key(1), value(1));
        store.put(key(2), value(2));
        store.put(key(1), value(10));
        assert_eq!(store.stats().entries, 2);
        assert_eq!(store.get(&key(1)), Some(value(10)));
        // key(1) is now the newest, so key(2) is the one to go.
        store.put(key(3), value(3));
        assert_eq!(store.get(&key(2)), None);
        assert_eq!(store.get(&key(1)), Some(value(10)));
        assert_eq!(store.get(&key(3)), Some(value(3)));
    }

    #[test]
    fn the_oldest_entry_goes_when_full() {
        let store = ShardedSessionStore::new(4);
        assert_eq!(store.shard_count(), 1, "a small store is one exact FIFO");
        for n in 1..=4 {
            store.put(key(n), value(n));
        }
        store.put(key(5), value(5));
        assert_eq!(store.get(&key(1)), None);
        for n in 2..=5 {
            assert_eq!(store.get(&key(n)), Some(value(n)), "key {n}");
        }
        // A take leaves a hole: the next put fills it, evicting nothing.
        assert_eq!(store.take(&key(3)), Some(value(3)));
        store.put(key(6), value(6));
        assert_eq!(store.get(&key(2)), Some(value(2)));
        // Full again: the oldest live entry (2) goes, the stale slot of 3
        // is skipped.
        store.put(key(7), value(7));
        assert_eq!(store.get(&key(2)), None);
        for n in [4, 5, 6, 7] {
            assert_eq!(store.get(&key(n)), Some(value(n)), "key {n}");
        }
        assert_eq!(store.stats().entries, 4);
    }

    #[test]
    fn a_key_taken_and_put_again_is_not_evicted_through_its_old_slot() {
        let store = ShardedSessionStore::new(2);
        store.put(key(1), value(1));
        store.take(&key(1));
        store.put(key(2), value(2));
        store.put(key(1), value(11));
        // Queue: 1 (stale), 2, 1. Full; the next put evicts 2, not 1.
        store.put(key(3), value(3));
        assert_eq!(store.get(&key(2)), None);
        assert_eq!(store.get(&key(1)), Some(value(11)));
    }

    #[test]
    fn capacity_zero_stores_nothing() {
        let store = ShardedSessionStore::new(0);
        assert!(!store.can_cache());
        assert_eq!(store.shard_count(), 0);
        assert!(!store.put(key(1), value(1)));
        assert_eq!(store.get(&key(1)), None);
        assert_eq!(store.take(&key(1)), None);
        assert_eq!(store.stats(), StoreStats::default());
        let store = ShardedSessionStore::with_shards(0, 16);
        assert!(!store.put(key(1), value(1)));
    }

    #[test]
    fn capacity_is_split_exactly_over_a_power_of_two_of_shards() {
        let cases = [(1, 1), (31, 1), (64, 2), (100, 2), (128, 4), (1000, 16), (4096, 16), (1 << 20, 16)];
        for (capacity, shards) in cases {
            let store = ShardedSessionStore::new(capacity);
            assert_eq!(store.shard_count(), shards, "capacity {capacity}");
            let total: usize = store.shards.iter().map(|s| s.state.lock().unwrap().capacity).sum();
            assert_eq!(total, capacity);
        }
        assert_eq!(ShardedSessionStore::with_shards(5, 16).shard_count(), 4);
        assert_eq!(ShardedSessionStore::with_shards(100, 0).shard_count(), 1);
        assert_eq!(ShardedSessionStore::with_shards(100, 12).shard_count(), 8);
        assert_eq!(std::mem::align_of::<Shard>(), 128);
        assert_eq!(std::mem::size_of::<Shard>(), 128, "a shard, counters included, fits its own 128 bytes");
    }

    #[test]
    fn a_full_sharded_store_holds_exactly_its_capacity() {
        let store = ShardedSessionStore::new(4096);
        for n in 0..20_000 {
            assert!(store.put(key(n), value(n)));
        }
        assert_eq!(store.stats().entries, 4096);
        // The newest survive (each shard evicts its own oldest).
        assert_eq!(store.get(&key(19_999)), Some(value(19_999)));
        assert_eq!(store.get(&key(0)), None);
    }

    #[test]
    fn stale_queue_slots_stay_bounded_under_put_take_churn() {
        let store = ShardedSessionStore::new(8);
        for n in 0..100_000 {
            store.put(key(n), value(n));
            assert_eq!(store.take(&key(n)), Some(value(n)));
        }
        let state = store.shards[0].state.lock().unwrap();
        assert!(state.order.len() <= 2 * 8 + 17, "{}", state.order.len());
        assert!(state.map.is_empty());
    }

    #[test]
    fn stats_count_operations_and_entries() {
        let store = ShardedSessionStore::new(64);
        store.put(key(1), value(1));
        store.put(key(2), value(2));
        store.get(&key(1));
        store.take(&key(2));
        store.take(&key(3));
        // A key too long for any shard never reaches one.
        store.take(&[0; 40]);
        assert_eq!(store.stats(), StoreStats { operations: 5, contended: 0, entries: 1 });
        let debug = format!("{store:?}");
        assert!(debug.contains("capacity: 64") && debug.contains("operations: 5"), "{debug}");
    }

    #[test]
    fn waiting_for_a_held_lock_counts_as_contended() {
        let store = Arc::new(ShardedSessionStore::new(4));
        store.put(key(1), value(1));
        let held = store.shards[0].state.lock().unwrap();
        let taker = {
            let store = store.clone();
            thread::spawn(move || store.take(&key(1)))
        };
        // The taker either already counted its failed try_lock or has not
        // started; either way it cannot finish while the lock is held.
        while store.shards[0].contended.load(Ordering::Relaxed) == 0 {
            thread::sleep(Duration::from_millis(1));
        }
        drop(held);
        assert_eq!(taker.join().unwrap(), Some(value(1)));
        assert_eq!(store.stats().contended, 1);
        assert_eq!(store.stats().operations, 2);
    }

    #[test]
    fn a_poisoned_shard_keeps_working() {
        let store = Arc::new(ShardedSessionStore::new(4));
        store.put(key(1), value(1));
        let poisoner = {
            let store = store.clone();
            thread::spawn(move || {
                let _guard = store.shards[0].state.lock().unwrap();
                panic!("poisoning the shard lock on purpose");
            })
        };
        assert!(poisoner.join().is_err());
        assert!(store.shards[0].state.is_poisoned());
        assert_eq!(store.take(&key(1)), Some(value(1)));
        assert!(store.put(key(2), value(2)));
        assert_eq!(store.get(&key(2)), Some(value(2)));
    }

    #[test]
    fn insert_recovers_when_the_map_has_entries_the_queue_lost() {
        // What a panic between the map insert and the queue push would
        // leave: a full map with nothing in the queue.
        let mut state = ShardState::new(2);
        let seed = 1;
        for n in 0..2 {
            state.map.insert(Key::new(seed, &key(n)).unwrap(), Entry { value: value(n), seq: n });
        }
        state.insert(Key::new(seed, &key(9)).unwrap(), value(9));
        assert_eq!(state.map.len(), 1);
        assert_eq!(state.order.len(), 1);
    }

    #[test]
    fn a_session_stored_by_one_worker_is_resumed_by_another() {
        let store = Arc::new(ShardedSessionStore::new(4096));
        let writer = {
            let store = store.clone();
            thread::spawn(move || store.put(key(42), value(42)))
        };
        assert!(writer.join().unwrap());
        let reader = {
            let store = store.clone();
            thread::spawn(move || store.take(&key(42)))
        };
        assert_eq!(reader.join().unwrap(), Some(value(42)));
        assert_eq!(store.take(&key(42)), None);
    }

    /// Each thread stores its own keys while it and two neighbours race to
    /// take them: every key must be taken exactly once, with its own value.
    #[test]
    fn concurrent_put_and_take_take_every_key_exactly_once() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 2000;
        const TOTAL: usize = THREADS * PER_THREAD;
        // Four times the keys, so no shard fills up and evicts.
        let store = Arc::new(ShardedSessionStore::new(4 * TOTAL));
        let counts: Arc<Vec<AtomicU8>> = Arc::new((0..TOTAL).map(|_| AtomicU8::new(0)).collect());
        let taken = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (store, counts, taken) = (store.clone(), counts.clone(), taken.clone());
                thread::spawn(move || {
                    let mut next_put = 0;
                    let mut cursor = 0;
                    let targets = [t, (t + 1) % THREADS, (t + THREADS - 1) % THREADS];
                    while taken.load(Ordering::Relaxed) < TOTAL {
                        if next_put < PER_THREAD {
                            let n = (t * PER_THREAD + next_put) as u64;
                            assert!(store.put(key(n), value(n)));
                            next_put += 1;
                        }
                        for target in targets {
                            let index = target * PER_THREAD + cursor;
                            if counts[index].load(Ordering::Relaxed) != 0 {
                                continue;
                            }
                            if let Some(got) = store.take(&key(index as u64)) {
                                assert_eq!(got, value(index as u64));
                                counts[index].fetch_add(1, Ordering::Relaxed);
                                taken.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        cursor = (cursor + 1) % PER_THREAD;
                        if next_put == PER_THREAD && cursor == 0 {
                            thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        let stats = store.stats();
        assert_eq!(stats.entries, 0);
        assert!(stats.operations >= 2 * TOTAL as u64);
        assert!(stats.contended <= stats.operations);
        for n in 0..TOTAL as u64 {
            assert_eq!(store.take(&key(n)), None);
        }
    }
}
