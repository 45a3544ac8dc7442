//! Session store micro-benchmarks: what one resumption costs the store
//! (`put` of a ticket, later `take` of it), against rustls' own
//! single-lock `ServerSessionMemoryCache`, alone and with every core
//! hammering it.
//!
//! `cargo bench --bench session_store -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use h2ring::tls::session_store::ShardedSessionStore;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};

const CAPACITY: usize = 4096;
/// The size of a session rustls 0.23 encodes for SNI `localhost`, ALPN h2.
const VALUE_LEN: usize = 84;

/// 32-byte keys like rustls' ticket identities (xorshift, deterministic).
fn keys(n: usize, mut state: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            (0..4)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect()
        })
        .collect()
}

/// Each iteration is one ticket's life: `put` (with the owned key and
/// value rustls hands over, so their allocation is counted, as in a
/// handshake) and `take`.
fn put_take(store: &dyn StoresServerSessions, keys: &[Vec<u8>], value: &[u8], iters: u64) {
    for i in 0..iters as usize {
        let key = &keys[i % keys.len()];
        store.put(key.clone(), value.to_vec());
        black_box(store.take(black_box(key)));
    }
}

/// Fresh stores to compare: ours as `new` makes it, ours with one lock
/// (to see what sharding buys), and rustls' single-lock cache.
fn stores() -> Vec<(&'static str, Arc<dyn StoresServerSessions>)> {
    vec![
        ("sharded", Arc::new(ShardedSessionStore::new(CAPACITY))),
        ("sharded_1_shard", Arc::new(ShardedSessionStore::with_shards(CAPACITY, 1))),
        ("rustls_memory_cache", ServerSessionMemoryCache::new(CAPACITY)),
    ]
}

fn benches(c: &mut Criterion) {
    let value = vec![0xa5u8; VALUE_LEN];
    let keys = keys(CAPACITY, 0x9e37_79b9_7f4a_7c15);

    let mut group = c.benchmark_group("put_take");
    for (name, store) in stores() {
        group.bench_function(name, |b| b.iter_custom(|iters| time(|| put_take(&*store, &keys, &value, iters))));
    }
    group.finish();

    // A full store: every put evicts the oldest entry first.
    let mut group = c.benchmark_group("put_full");
    for (name, store) in stores() {
        for key in &keys {
            store.put(key.clone(), value.clone());
        }
        let fresh = self::keys(1 << 16, 0x1234_5678);
        group.bench_function(name, |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % fresh.len();
                store.put(fresh[i].clone(), value.clone())
            })
        });
    }
    group.finish();

    // Every core doing put+take at once on its own keys: the per-pair
    // time (wall time / pairs per thread) and, for the sharded store, how
    // often a lock was found held.
    let threads = thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    let mut group = c.benchmark_group("put_take_threads");
    for (name, store) in stores() {
        let per_thread: Vec<Vec<Vec<u8>>> = (0..threads).map(|t| self::keys(1024, 0xdead_beef + t as u64)).collect();
        group.bench_function(BenchmarkId::new(name, threads), |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(threads);
                let elapsed: Vec<Duration> = thread::scope(|scope| {
                    let handles: Vec<_> = per_thread
                        .iter()
                        .map(|keys| {
                            let (store, barrier, value) = (&store, &barrier, &value);
                            scope.spawn(move || {
                                barrier.wait();
                                time(|| put_take(&**store, keys, value, iters))
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                });
                elapsed.into_iter().max().unwrap_or_default()
            })
        });
        if name.starts_with("sharded") {
            let stats = format!("{store:?}");
            eprintln!("{name} with {threads} threads: {stats}");
        }
    }
    group.finish();
}

fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

criterion_group!(session_store, benches);
criterion_main!(session_store);
