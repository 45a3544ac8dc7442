//! The fuzz targets' checks in `cargo test`, driven by a seeded PRNG instead of libFuzzer, so a regression shows
//! in seconds without cargo fuzz (issue #8). The client side, the script generator and every invariant come from
//! `fuzz/src/` (compiled in here through `#[path]`): see `fuzz/src/peer.rs` for the list of what is checked.
//!
//! Every failure names its seed; `H2RING_SEED=<seed> cargo test --test randomized -- --nocapture` runs that one
//! case alone and prints its script. `H2RING_CASES=<n>` multiplies the number of cases (for a longer soak).
//! Also replayed: every file under `fuzz/corpus/` and `fuzz/regressions/` (minimized crashes kept as tests).

#[path = "../fuzz/src/codec.rs"]
mod codec;
#[path = "../fuzz/src/peer.rs"]
mod peer;
#[path = "../fuzz/src/script.rs"]
mod script;
#[path = "../fuzz/src/wire.rs"]
mod wire;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use script::Entropy;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

impl Entropy for Rng {
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn exhausted(&self) -> bool {
        false
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Runs `case` for `count` seeds derived from `base` (or only for `H2RING_SEED`), turning a panic into a failure
/// that names the seed.
fn for_seeds(what: &str, base: u64, count: u64, case: impl Fn(u64, bool)) {
    if let Some(seed) = env_u64("H2RING_SEED") {
        case(seed, true);
        return;
    }
    let count = count * env_u64("H2RING_CASES").unwrap_or(1);
    let mut seeds = Rng(base);
    for _ in 0..count {
        let seed = seeds.next();
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| case(seed, false))) {
            let msg = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("(panic)");
            panic!(
                "{what}: seed {seed} failed: {msg}\n  reproduce: H2RING_SEED={seed} cargo test --test randomized {what} \
                 -- --nocapture"
            );
        }
    }
}

/// Random bytes, often shaped like frames: mostly a valid HEADERS or SETTINGS start, then noise.
fn byte_soup(rng: &mut Rng) -> Vec<u8> {
    let mut v = vec![rng.next() as u8, rng.next() as u8];
    if rng.below(3) != 0 {
        // A client SETTINGS first, as a real client would (else the soup dies on its first frame).
        v.extend_from_slice(&[0, 0, 0, wire::SETTINGS, 0, 0, 0, 0, 0]);
    }
    for _ in 0..rng.below(12) {
        let len = match rng.below(4) {
            0 => 0,
            1 => rng.below(10) as usize,
            _ => rng.below(80) as usize,
        };
        let kind = if rng.below(6) == 0 { rng.next() as u8 } else { rng.below(10) as u8 };
        let stream = if rng.below(4) == 0 { rng.next() as u32 } else { rng.below(12) as u32 };
        let payload: Vec<u8> = match kind {
            wire::HEADERS if rng.below(2) == 0 => {
                let mut b = vec![0x82, 0x87, 0x84, 0x41, 0x0b];
                b.extend_from_slice(b"example.com");
                b.extend((0..rng.below(6)).map(|_| rng.next() as u8));
                b
            }
            _ => (0..len).map(|_| rng.next() as u8).collect(),
        };
        let flags = if rng.below(3) == 0 { rng.next() as u8 } else { rng.next() as u8 & 0x05 };
        wire::frame(&mut v, kind, flags, stream, &payload);
    }
    if rng.below(4) == 0 {
        v.extend((0..rng.below(200)).map(|_| rng.next() as u8));
    }
    v
}

#[test]
fn conn_recv_random_bytes() {
    for_seeds("conn_recv_random_bytes", 0x0c0e_5eed, 3000, |seed, verbose| {
        let data = byte_soup(&mut Rng(seed));
        if verbose {
            println!("input: {data:02x?}");
        }
        peer::run_bytes(&data);
    });
}

#[test]
fn conn_frames_random_scripts() {
    let totals = std::sync::Mutex::new(peer::Stats::default());
    let probed = std::sync::atomic::AtomicU64::new(0);
    let failed = std::sync::atomic::AtomicU64::new(0);
    let reasons = std::sync::Mutex::new(std::collections::BTreeMap::<(u8, &str), u32>::new());
    for_seeds("conn_frames_random_scripts", 0xf4a3_e5ee, 2500, |seed, verbose| {
        let mut rng = Rng(seed);
        let ops = 1 + rng.below(60) as usize;
        let script = script::gen_script(&mut rng, ops);
        if verbose {
            println!("{script:#?}");
        }
        let s = peer::run_script(&script);
        let mut t = totals.lock().unwrap();
        t.requests += s.requests;
        t.responses += s.responses;
        t.data_events += s.data_events;
        t.resets += s.resets;
        t.checked_fields += s.checked_fields;
        probed.fetch_add(u64::from(s.probed), std::sync::atomic::Ordering::Relaxed);
        failed.fetch_add(u64::from(s.failed), std::sync::atomic::Ordering::Relaxed);
        *reasons.lock().unwrap().entry((script.chaos, s.error.unwrap_or("-"))).or_default() += 1;
    });
    if env_u64("H2RING_SEED").is_none() {
        // The generator must keep reaching deep states: requests answered, bodies received, connections that
        // survive to the end and connections that fail.
        let t = totals.lock().unwrap();
        let (probed, failed) = (probed.into_inner(), failed.into_inner());
        println!("{t:?}, {probed} alive at the end, {failed} failed: {:#?}", reasons.lock().unwrap());
        assert!(
            t.requests > 2000 && t.responses > 1000 && t.data_events > 300 && t.checked_fields > 1000,
            "generator too tame or too wild: {t:?}"
        );
        assert!(probed > 300 && failed > 300, "{probed} alive, {failed} failed");
    }
}

#[test]
fn frame_decode_random_bytes() {
    for_seeds("frame_decode_random_bytes", 0xf2a3_e000, 3000, |seed, _| {
        let mut rng = Rng(seed);
        let mut data = vec![rng.next() as u8];
        for _ in 0..rng.below(8) {
            let len = rng.below(40) as usize;
            let kind = if rng.below(5) == 0 { rng.next() as u8 } else { rng.below(10) as u8 };
            let stream = if rng.below(3) == 0 { 0 } else { rng.next() as u32 % 8 };
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let flags = rng.next() as u8;
            match rng.below(6) {
                0 => wire::frame_with_len(&mut data, rng.below(100) as u32, kind, flags, stream, &payload),
                _ => wire::frame(&mut data, kind, flags, stream, &payload),
            }
        }
        codec::frame_decode(&data);
    });
}

#[test]
fn hpack_decode_random_blocks() {
    for_seeds("hpack_decode_random_blocks", 0x4ac7_0000, 3000, |seed, _| {
        let mut rng = Rng(seed);
        let mut data = vec![rng.next() as u8, rng.next() as u8];
        for _ in 0..rng.below(8) {
            if rng.below(6) == 0 {
                data.push(0xc0 | rng.next() as u8);
                continue;
            }
            // Mostly representations that make sense (indexed, literals with short strings, size updates).
            let mut block = Vec::new();
            for _ in 0..rng.below(8) {
                match rng.below(7) {
                    0 => wire::hp_int(&mut block, 1 + rng.below(70) as usize, 7, 0x80),
                    1 | 2 => {
                        let flags = [0x40, 0x00, 0x10][rng.below(3) as usize];
                        block.push(flags);
                        let name: Vec<u8> = (0..1 + rng.below(6)).map(|_| b'a' + rng.below(26) as u8).collect();
                        wire::hp_raw_string(&mut block, &name);
                        let value: Vec<u8> = (0..rng.below(20)).map(|_| rng.next() as u8).collect();
                        wire::hp_raw_string(&mut block, &value);
                    }
                    3 => {
                        block.push(0x40 | (1 + rng.below(61) as u8));
                        let (plain, _) = wire::HUFFMAN[rng.below(wire::HUFFMAN.len() as u64) as usize];
                        wire::hp_string(&mut block, plain, true);
                    }
                    4 => wire::hp_int(&mut block, rng.below(5000) as usize, 5, 0x20),
                    _ => block.extend((0..rng.below(6)).map(|_| rng.next() as u8)),
                }
            }
            block.truncate(0xbe);
            data.push(block.len() as u8);
            data.extend_from_slice(&block);
        }
        codec::hpack_decode(&data);
    });
}

/// The RFC 7541 Huffman strings the structured client uses must decode to what it thinks they say.
#[test]
fn huffman_strings_are_the_rfc_examples() {
    for (plain, _) in wire::HUFFMAN {
        let mut block = vec![0x00];
        wire::hp_raw_string(&mut block, b"x");
        wire::hp_string(&mut block, plain, true);
        let mut got = Vec::new();
        h2ring::h2::hpack::HpackDecoder::new(4096)
            .decode(&block, h2ring::h2::hpack::DecodeLimits::UNLIMITED, |f| got = f.value.to_vec())
            .unwrap();
        assert_eq!(got, *plain, "{}", String::from_utf8_lossy(plain));
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else if !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            out.push(p);
        }
    }
}

/// Every kept input (seed corpora and minimized crashes) through the target named by its directory.
#[test]
fn fuzz_corpus_and_regressions_replay() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    files_under(&root.join("corpus"), &mut files);
    files_under(&root.join("regressions"), &mut files);
    files.sort();
    let mut replayed = 0;
    for path in &files {
        let target = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        let data = std::fs::read(path).unwrap();
        let run = || match target.as_deref() {
            Some("frame_decode") => {
                codec::frame_decode(&data);
            }
            Some("hpack_decode") => {
                codec::hpack_decode(&data);
            }
            Some("conn_recv") => {
                peer::run_bytes(&data);
            }
            Some("conn_frames") => {
                // libFuzzer's bytes, read by the same generator the fuzz target uses.
                let script = script::gen_script(&mut SliceEntropy(&data), 400);
                peer::run_script(&script);
            }
            _ => panic!("{}: not under a fuzz target's directory", path.display()),
        };
        if let Err(e) = catch_unwind(AssertUnwindSafe(run)) {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            panic!("{} failed: {msg}", path.display());
        }
        replayed += 1;
    }
    println!("replayed {replayed} files");
}

/// The bytes of a kept input as the fuzz target's `Unstructured` would hand them out: one octet per call, zeros
/// once exhausted (`arbitrary`'s `u8` is exactly the next octet).
struct SliceEntropy<'a>(&'a [u8]);

impl Entropy for SliceEntropy<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.0.is_empty()
    }
}
