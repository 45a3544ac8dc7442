//! The hash of the route map: a keyed multiply-fold hash, several times
//! cheaper than the standard library's SipHash-1-3 on the short paths
//! of a request.
//!
//! Why a weaker hash is safe here: SipHash defends a map against a client
//! that *inserts* keys chosen to collide, making every operation on the
//! map slow. The route map is built once from our own pages and never
//! grows; a client only looks keys up. The worst a lookup can do is land
//! in the longest probe sequence among our own keys, which the number of
//! pages bounds, and the per-process random seed keeps even that sequence
//! unknowable from outside.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Builds [`RouteHasher`]s with one random seed per map.
#[derive(Clone, Debug)]
pub(super) struct RouteHash {
    seed: u64,
}

impl RouteHash {
    /// A fresh seed from the standard library's per-process random keys.
    pub(super) fn new() -> Self {
        Self { seed: RandomState::new().hash_one(0x6832_7269_6e67_u64) }
    }
}

impl BuildHasher for RouteHash {
    type Hasher = RouteHasher;

    fn build_hasher(&self) -> RouteHasher {
        RouteHasher { state: self.seed }
    }
}

/// Odd, with its bits mixed (the fractional part of π).
const MULTIPLIER: u64 = 0x243f_6a88_85a3_08d3;

/// Eight bytes per step: the word is mixed into the state by one 64×64→128
/// multiplication whose halves are folded together, so every input bit
/// reaches the low bits (which pick the bucket) and the high bits (which
/// make hashbrown's tag) alike.
pub(super) struct RouteHasher {
    state: u64,
}

impl RouteHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(MULTIPLIER);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for RouteHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some((word, tail)) = rest.split_first_chunk::<8>() {
            self.mix(u64::from_le_bytes(*word));
            rest = tail;
        }
        // The length prefix that `Hash for [u8]` writes first tells apart
        // keys that differ only by trailing zero bytes.
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(last));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(build: &RouteHash, key: &[u8]) -> u64 {
        build.hash_one(key)
    }

    #[test]
    fn equal_keys_hash_equal_and_boxed_keys_match_slices() {
        let build = RouteHash::new();
        let boxed: Box<[u8]> = b"/posts/hello".as_slice().into();
        assert_eq!(hash(&build, b"/posts/hello"), build.hash_one(&boxed));
        assert_eq!(hash(&build, b""), hash(&build, b""));
    }

    #[test]
    fn near_keys_differ() {
        let build = RouteHash::new();
        let keys: [&[u8]; 8] =
            [b"", b"\0", b"\0\0", b"/", b"/a", b"/a\0", b"/posts/hello-world", b"/posts/hello-worle"];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(hash(&build, a), hash(&build, b), "{a:?} {b:?}");
            }
        }
    }

    /// Paths that differ in one byte spread over the low bits (the bucket)
    /// and the top 7 (hashbrown's tag): no pile-up in a 256-bucket table.
    #[test]
    fn similar_paths_spread_over_buckets_and_tags() {
        let build = RouteHash::new();
        let mut buckets = [0u32; 256];
        let mut tags = [0u32; 128];
        for i in 0..1024u32 {
            let h = hash(&build, format!("/posts/{i:04}").as_bytes());
            buckets[(h & 255) as usize] += 1;
            tags[(h >> 57) as usize] += 1;
        }
        // 4 per bucket and 8 per tag on average; a random function exceeds
        // these bounds with odds below one in a million.
        assert!(buckets.iter().all(|&n| n <= 20), "{buckets:?}");
        assert!(tags.iter().all(|&n| n <= 32), "{tags:?}");
    }

    #[test]
    fn seeds_differ_between_maps() {
        assert_ne!(hash(&RouteHash::new(), b"/"), hash(&RouteHash::new(), b"/"));
    }
}
