//! Huffman coding of string literals (RFC 7541 §5.2, Appendix B).
//!
//! Decoding is table driven, 4 bits at a time (as in nginx and h2o): the
//! states are the 256 internal nodes of the code tree, and for every
//! (state, nibble) pair a precomputed entry gives the next state, the symbol
//! completed on the way (at most one: the shortest code is 5 bits), whether
//! EOS was hit, and whether stopping in the next state is legal padding.
//! The tables are built by `const fn` from the code table, so a typo in it
//! that breaks the prefix property or completeness fails the build.

use super::DecodeError;
use super::huffman_table::CODES;

/// Appends the Huffman encoding of `src` to `dst`, padded with the most
/// significant bits of EOS (all ones) to an octet boundary (§5.2).
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    dst.reserve(encoded_len(src));
    // Bits are accumulated MSB-first; `bits` < 32 between symbols and codes
    // are at most 30 bits, so the live bits always fit in 64.
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        if bits >= 32 {
            bits -= 32;
            dst.extend_from_slice(&((acc >> bits) as u32).to_be_bytes());
        }
    }
    while bits >= 8 {
        bits -= 8;
        dst.push((acc >> bits) as u8);
    }
    if bits > 0 {
        dst.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
    }
}

/// Length in octets of the Huffman encoding of `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src.iter().map(|&b| usize::from(CODES[usize::from(b)].1)).sum();
    bits.div_ceil(8)
}

/// Appends the decoding of `src` to `dst`. Rejects (§5.2) the EOS symbol,
/// padding longer than 7 bits, and padding that is not a prefix of EOS
/// (i.e. not all ones), with [`DecodeError::InvalidHuffman`]. On error, `dst`
/// may hold a partial result.
pub fn decode(src: &[u8], dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    // The shortest code is 5 bits, so n octets decode to at most 8n/5 symbols.
    dst.reserve(src.len().saturating_mul(8) / 5 + 1);
    let mut state = 0usize;
    let mut entry = ACCEPT; // an empty string is valid
    for &b in src {
        for nibble in [b >> 4, b & 0x0f] {
            entry = DECODE[(state << 4) | usize::from(nibble)];
            if entry & FAIL != 0 {
                return Err(DecodeError::InvalidHuffman);
            }
            if entry & EMIT != 0 {
                dst.push((entry >> 16) as u8);
            }
            state = (entry & 0xff) as usize;
        }
    }
    if entry & ACCEPT != 0 { Ok(()) } else { Err(DecodeError::InvalidHuffman) }
}

// ---- compile-time tables ------------------------------------------------

/// Child marker for a leaf: the low bits hold the symbol (0..=256).
const LEAF: u16 = 0x8000;
const NONE: u16 = 0xffff;

/// Entry bits: next state in 0..8, flags, emitted symbol in 16..24.
const EMIT: u32 = 1 << 8;
/// The next state is a valid place to stop: the root, or ≤ 7 one-bits into
/// the all-ones EOS path (§5.2 padding).
const ACCEPT: u32 = 1 << 9;
/// EOS was decoded (§5.2: "MUST be treated as a decoding error").
const FAIL: u32 = 1 << 10;

/// The code tree: `TREE[node][bit]` is an internal node index (< 256) or
/// `LEAF | symbol`. Root is node 0. A complete prefix code over 257 symbols
/// has exactly 256 internal nodes.
const TREE: [[u16; 2]; 256] = build_tree();

const fn build_tree() -> [[u16; 2]; 256] {
    let mut tree = [[NONE; 2]; 256];
    let mut next_free: usize = 1;
    let mut sym = 0;
    while sym < CODES.len() {
        let (code, len) = CODES[sym];
        let mut node = 0usize;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if tree[node][bit] == NONE {
                assert!(next_free < 256, "Huffman table: too many internal nodes");
                tree[node][bit] = next_free as u16;
                next_free += 1;
            }
            let child = tree[node][bit];
            assert!(child & LEAF == 0, "Huffman table: a code is a prefix of another");
            node = child as usize;
        }
        let bit = (code & 1) as usize;
        assert!(tree[node][bit] == NONE, "Huffman table: duplicate code");
        tree[node][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(next_free == 256, "Huffman table: wrong number of internal nodes");
    let mut n = 0;
    while n < 256 {
        assert!(tree[n][0] != NONE && tree[n][1] != NONE, "Huffman table: incomplete code");
        n += 1;
    }
    tree
}

static DECODE: [u32; 256 * 16] = build_decode();

const fn build_decode() -> [u32; 256 * 16] {
    // Padding states: the root and the first 7 nodes along the all-ones path.
    let mut accept = [false; 256];
    accept[0] = true;
    let mut node = 0usize;
    let mut depth = 0;
    while depth < 7 {
        node = TREE[node][1] as usize; // EOS is 30 ones, so these are internal
        accept[node] = true;
        depth += 1;
    }

    let mut table = [0u32; 256 * 16];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut node = state;
            let mut entry = 0u32;
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let child = TREE[node][(nibble >> i) & 1];
                if child & LEAF == 0 {
                    node = child as usize;
                    continue;
                }
                let sym = (child & !LEAF) as u32;
                if sym == 256 {
                    entry |= FAIL;
                    break;
                }
                assert!(entry & EMIT == 0, "two symbols in one nibble");
                entry |= EMIT | (sym << 16);
                node = 0;
            }
            entry |= node as u32;
            if accept[node] {
                entry |= ACCEPT;
            }
            table[(state << 4) | nibble] = entry;
            nibble += 1;
        }
        state += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(s, &mut v);
        assert_eq!(v.len(), encoded_len(s));
        v
    }

    fn dec(s: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut v = Vec::new();
        decode(s, &mut v).map(|()| v)
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn rfc_appendix_c_strings() {
        let cases: [(&str, &[u8]); 7] = [
            ("f1e3c2e5f23a6ba0ab90f4ff", b"www.example.com"),
            ("a8eb10649cbf", b"no-cache"),
            ("25a849e95ba97d7f", b"custom-key"),
            ("25a849e95bb8e8b4bf", b"custom-value"),
            ("6402", b"302"),
            ("aec3771a4b", b"private"),
            ("d07abe941054d444a8200595040b8166e082a62d1bff", b"Mon, 21 Oct 2013 20:13:21 GMT"),
        ];
        for (h, plain) in cases {
            assert_eq!(enc(plain), hex(h), "{}", String::from_utf8_lossy(plain));
            assert_eq!(dec(&hex(h)).unwrap(), plain);
        }
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(dec(&enc(&all)).unwrap(), all);
        for b in 0..=255u8 {
            for n in 1..=9 {
                let s = vec![b; n];
                assert_eq!(dec(&enc(&s)).unwrap(), s, "byte {b} x{n}");
            }
        }
        assert_eq!(dec(&[]).unwrap(), b"");
    }

    #[test]
    fn rejects_bad_padding_and_eos() {
        // '0' is 00000; padding 000 is not a prefix of EOS.
        assert_eq!(dec(&[0x00]), Err(DecodeError::InvalidHuffman));
        // '0' + 111 padding is fine.
        assert_eq!(dec(&[0x07]).unwrap(), b"0");
        // A whole octet of ones is 8 bits of padding: too long.
        assert_eq!(dec(&[0xff]), Err(DecodeError::InvalidHuffman));
        assert_eq!(dec(&[0x07, 0xff]), Err(DecodeError::InvalidHuffman));
        // EOS (30 ones) + 2 ones of padding.
        assert_eq!(dec(&[0xff, 0xff, 0xff, 0xff]), Err(DecodeError::InvalidHuffman));
        // 'a' (00011) then EOS: rejected even though the bits after look like padding.
        let mut bits: u64 = 0b00011;
        bits = (bits << 30) | 0x3fff_ffff;
        bits = (bits << 5) | 0b11111; // pad to 40 bits
        let bytes = &bits.to_be_bytes()[3..];
        assert_eq!(dec(bytes), Err(DecodeError::InvalidHuffman));
    }

    #[test]
    fn longest_codes_decode() {
        // Symbols with 30-bit codes sit right next to EOS in the tree.
        for b in [10u8, 13, 22] {
            assert_eq!(dec(&enc(&[b, b'a', b])).unwrap(), [b, b'a', b]);
        }
    }
}
