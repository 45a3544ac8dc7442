use super::*;
use crate::h2::hpack::{DecodeLimits, HpackDecoder};

type Owned = Vec<(Vec<u8>, Vec<u8>, bool)>;

fn decode(dec: &mut HpackDecoder, block: &[u8]) -> Owned {
    let mut out = Vec::new();
    dec.decode(block, DecodeLimits::UNLIMITED, |f| out.push((f.name.to_vec(), f.value.to_vec(), f.sensitive))).unwrap();
    out
}

const RESPONSE: [(&[u8], &[u8]); 10] = [
    (b":status", b"200"),
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", b"12345"),
    (b"etag", b"\"abc123\""),
    (b"cache-control", b"public, max-age=300"),
    (b"date", b"Fri, 27 Nov 2026 04:00:00 GMT"),
    (b"server", b"h2ring"),
    (b"vary", b"accept-encoding"),
    (b"content-encoding", b"br"),
    (b"last-modified", b"Thu, 26 Nov 2026 10:00:00 GMT"),
];

#[test]
fn repeated_response_is_one_octet_per_field() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let mut first = Vec::new();
    enc.encode(RESPONSE, &mut first);
    let mut second = Vec::new();
    enc.encode(RESPONSE, &mut second);
    assert!(second.len() <= 12, "second block is {} octets", second.len());
    assert_eq!(second.len(), RESPONSE.len());
    assert!(second.iter().all(|b| b & 0x80 != 0), "all indexed: {second:02x?}");
    let want: Owned = RESPONSE.iter().map(|&(n, v)| (n.to_vec(), v.to_vec(), false)).collect();
    assert_eq!(decode(&mut dec, &first), want);
    assert_eq!(decode(&mut dec, &second), want);
    // encode_status + encode_field (what the connection does) gives the same bytes.
    let mut third = Vec::new();
    enc.begin_block(&mut third);
    enc.encode_status(200, &mut third);
    for &(n, v) in &RESPONSE[1..] {
        enc.encode_field(n, v, &mut third);
    }
    assert_eq!(third, second);
}

#[test]
fn sensitive_fields_are_never_indexed() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let long_cookie = [b'c'; 40];
    let fields: [(&[u8], &[u8]); 5] = [
        (b"authorization", b"Bearer abc"),
        (b"proxy-authorization", b"Basic xyz"),
        (b"set-cookie", b"id=1; Secure"),
        (b"cookie", b"sid=42"),
        (b"cookie", &long_cookie),
    ];
    for _ in 0..2 {
        let mut block = Vec::new();
        enc.encode(fields, &mut block);
        let got = decode(&mut dec, &block);
        let sensitive: Vec<bool> = got.iter().map(|f| f.2).collect();
        assert_eq!(sensitive, [true, true, true, true, false]);
    }
    // Only the long cookie was indexed.
    assert_eq!(enc.dynamic_table().collect::<Vec<_>>(), [(&b"cookie"[..], &long_cookie[..])]);
    // Never is a literal even when the exact field is in the table.
    let mut block = Vec::new();
    enc.encode_field_with(b"cookie", &long_cookie, Indexing::Never, &mut block);
    assert_eq!(block[0], 0x1f, "never indexed, name index 32 (static cookie)");
    assert!(decode(&mut dec, &block)[0].2);
}

#[test]
fn large_values_are_not_indexed() {
    let mut enc = HpackEncoder::new();
    let big = vec![b'v'; 3500];
    let mut block = Vec::new();
    enc.encode_field(b"x-big", &big, &mut block);
    assert_eq!(block[0], 0x00, "literal without indexing, new name");
    assert_eq!(enc.table_size(), 0);
    let mut dec = HpackDecoder::new(4096);
    assert_eq!(decode(&mut dec, &block), [(b"x-big".to_vec(), big, false)]);
}

#[test]
fn dynamic_name_reuse() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let mut block = Vec::new();
    enc.encode([(&b"x-trace"[..], &b"1"[..]), (b"x-trace", b"2")], &mut block);
    // 0x40 new name, then 0x7e: incremental with name index 62.
    assert_eq!(block[0], 0x40);
    assert_eq!(block[block.len() - 3], 0x7e);
    let got = decode(&mut dec, &block);
    assert_eq!(got[1], (b"x-trace".to_vec(), b"2".to_vec(), false));
}

#[test]
fn status_fast_path() {
    let mut enc = HpackEncoder::new();
    let mut out = Vec::new();
    for (s, b) in [(200, 0x88), (204, 0x89), (206, 0x8a), (304, 0x8b), (400, 0x8c), (404, 0x8d), (500, 0x8e)] {
        out.clear();
        enc.encode_status(s, &mut out);
        assert_eq!(out, [b]);
    }
    out.clear();
    enc.encode_status(302, &mut out);
    assert_eq!(out[0], 0x48, "literal, incremental, name :status");
    out.clear();
    enc.encode_status(302, &mut out);
    assert_eq!(out, [0xbe]);
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    for (s, want) in [(0u16, &b"0"[..]), (99, b"99"), (65535, b"65535"), (302, b"302"), (302, b"302")] {
        out.clear();
        enc.encode_status(s, &mut out);
        assert_eq!(decode(&mut dec, &out)[0].1, want);
    }
}

#[test]
fn table_size_updates_follow_section_4_2() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let mut block = Vec::new();
    enc.encode(RESPONSE, &mut block);
    decode(&mut dec, &block);

    // Peer allows more: we stay at 4096, no update.
    enc.set_max_table_size(65536);
    block.clear();
    enc.begin_block(&mut block);
    assert!(block.is_empty());

    // Peer lowers twice: one update with the final (smallest) value.
    enc.set_max_table_size(2000);
    enc.set_max_table_size(1000);
    dec.set_max_table_size(2000);
    dec.set_max_table_size(1000);
    block.clear();
    enc.encode(RESPONSE, &mut block);
    assert_eq!(&block[..3], [0x3f, 0xc9, 0x07]); // 1000 = 31 + 969
    decode(&mut dec, &block);
    assert_eq!(enc.table_size(), dec.table_size());

    // Lowered to 0 and raised again: 0 then 4096 (capped at our limit).
    enc.set_max_table_size(0);
    enc.set_max_table_size(8192);
    dec.set_max_table_size(0);
    dec.set_max_table_size(8192);
    block.clear();
    enc.encode(RESPONSE, &mut block);
    assert_eq!(&block[..4], [0x20, 0x3f, 0xe1, 0x1f]);
    decode(&mut dec, &block);
    assert_eq!(dec.table_capacity(), 4096);

    // Forgetting begin_block still puts the update first.
    enc.set_max_table_size(100);
    dec.set_max_table_size(100);
    block.clear();
    enc.encode_status(404, &mut block);
    assert_eq!(block, [0x3f, 0x45, 0x8d]);
    decode(&mut dec, &block);

    // A table of 0: everything still encodes, nothing is stored.
    enc.set_max_table_size(0);
    dec.set_max_table_size(0);
    block.clear();
    enc.encode(RESPONSE, &mut block);
    assert_eq!(enc.table_size(), 0);
    let want: Owned = RESPONSE.iter().map(|&(n, v)| (n.to_vec(), v.to_vec(), false)).collect();
    assert_eq!(decode(&mut dec, &block), want);
}

#[test]
fn huffman_policy() {
    let mut block = Vec::new();
    let mut enc = HpackEncoder::new();
    enc.encode_field_with(b"x", b"aaaa", Indexing::Without, &mut block);
    // "x" raw (1 octet; Huffman is 1 too, not strictly shorter), "aaaa" Huffman (3 < 4).
    assert_eq!(block, [0x00, 0x01, b'x', 0x83, 0x18, 0xc6, 0x3f]);
    enc.set_huffman(HuffmanPolicy::Never);
    block.clear();
    enc.encode_field_with(b"x", b"aaaa", Indexing::Without, &mut block);
    assert_eq!(block, [0x00, 0x01, b'x', 0x04, b'a', b'a', b'a', b'a']);
}

#[test]
fn volatile_names_stop_being_indexed() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let mut block = Vec::new();
    for i in 0..40u32 {
        let len = (1000 + i).to_string();
        block.clear();
        enc.encode([(&b"content-type"[..], &b"text/html"[..]), (b"content-length", len.as_bytes())], &mut block);
        assert_eq!(decode(&mut dec, &block)[1].1, len.as_bytes());
        assert_eq!(enc.table_size(), dec.table_size());
    }
    // 4 insertions to learn, then one probe per 8 literals: 4 + 36/8 = 8.
    let stored = enc.dynamic_table().filter(|(n, _)| *n == b"content-length").count();
    assert_eq!(stored, 8);
    // content-type kept hitting and stays indexed.
    block.clear();
    enc.encode([(&b"content-type"[..], &b"text/html"[..])], &mut block);
    assert_eq!(block.len(), 1);
    // explicit Incremental is not second-guessed
    block.clear();
    enc.encode_field_with(b"content-length", b"7", Indexing::Incremental, &mut block);
    assert_eq!(enc.dynamic_table().next(), Some((&b"content-length"[..], &b"7"[..])));
}

/// Steady state allocates nothing: once the buffers have grown to the
/// workload (lazily, so idle connections stay small), further blocks reuse
/// them. The encode/decode paths allocate nowhere else.
#[test]
fn buffers_stop_growing() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let mut block = Vec::new();
    fn run(enc: &mut HpackEncoder, dec: &mut HpackDecoder, block: &mut Vec<u8>, round: usize) {
        for i in 0..200usize {
            let path = format!("/static/{}/asset-{}.js", i % 7, (i * 31 + round) % 50);
            let len = format!("{}", 1000 + (i * 7919) % 90_000);
            let cookie = format!("session={:040x}", i % 13);
            let headers: [(&[u8], &[u8]); 8] = [
                (b":status", if i % 5 == 0 { b"304" } else { b"200" }),
                (b"content-type", [&b"text/css"[..], b"application/javascript", b"image/webp"][i % 3]),
                (b"content-length", len.as_bytes()),
                (b"x-path", path.as_bytes()),
                (b"set-cookie", cookie.as_bytes()),
                (b"cookie", cookie.as_bytes()),
                (b"x-large", &[b'z'; 1500][..(i % 4) * 500]),
                (b"date", b"Fri, 27 Nov 2026 04:00:00 GMT"),
            ];
            block.clear();
            enc.encode(headers, block);
            let mut n = 0;
            dec.decode(block, DecodeLimits::UNLIMITED, |f| {
                assert_eq!((f.name, f.value), headers[n]);
                n += 1;
            })
            .unwrap();
        }
    }
    for round in 0..3 {
        run(&mut enc, &mut dec, &mut block, round);
    }
    let before = (enc.buffer_capacities(), dec.buffer_capacities(), block.capacity());
    for round in 3..10 {
        run(&mut enc, &mut dec, &mut block, round);
    }
    assert_eq!((enc.buffer_capacities(), dec.buffer_capacities(), block.capacity()), before);
}

/// Encodes `fields` as one block (explicitly represented if `explicit`),
/// checks that `dec` decodes exactly them, and returns the block and the
/// never-indexed flags.
fn round_trip(
    enc: &mut HpackEncoder,
    dec: &mut HpackDecoder,
    fields: &[(&[u8], &[u8])],
    explicit: Option<Indexing>,
) -> (Vec<u8>, Vec<bool>) {
    let mut block = Vec::new();
    enc.begin_block(&mut block);
    for &(n, v) in fields {
        match explicit {
            Some(indexing) => enc.encode_field_with(n, v, indexing, &mut block),
            None => enc.encode_field(n, v, &mut block),
        }
    }
    let got = decode(dec, &block);
    let want: Vec<_> = fields.iter().map(|&(n, v)| (n.to_vec(), v.to_vec())).collect();
    assert_eq!(got.iter().map(|f| (f.0.clone(), f.1.clone())).collect::<Vec<_>>(), want);
    assert_eq!(enc.table_size(), dec.table_size());
    (block, got.iter().map(|f| f.2).collect())
}

/// Field `n` of a block is first looked for where field `n` of the previous
/// block went; every way that guess can be wrong still encodes the field.
#[test]
fn predictions_by_position_are_checked() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let cookie = [b'c'; 40];
    let first: [(&[u8], &[u8]); 4] = [(b"etag", b"\"a\""), (b"x-id", b"1"), (b"cookie", &cookie), (b"vary", b"accept")];
    round_trip(&mut enc, &mut dec, &first, None);
    // The same fields: all indexed (62 + 3 - position).
    assert_eq!(round_trip(&mut enc, &mut dec, &first, None).0, [0xc1, 0xc0, 0xbf, 0xbe]);
    // Reversed: every guess names another entry; the index finds them.
    let mut reversed = first;
    reversed.reverse();
    assert_eq!(round_trip(&mut enc, &mut dec, &reversed, None).0, [0xbe, 0xbf, 0xc0, 0xc1]);
    // Same names, other values: the guesses fail the comparison.
    let changed: [(&[u8], &[u8]); 2] = [(b"etag", b"\"b\""), (b"x-id", b"2")];
    assert!(round_trip(&mut enc, &mut dec, &changed, None).0.len() > 2, "literals");
    // Never-indexed stays a literal although the guess names the same field.
    round_trip(&mut enc, &mut dec, &[(b"cookie", &cookie)], None);
    let (block, sensitive) = round_trip(&mut enc, &mut dec, &[(b"cookie", &cookie)], Some(Indexing::Never));
    assert_eq!((block[0], sensitive[0]), (0x1f, true), "never indexed, static name");
    // Guesses whose entries were evicted by a size change.
    round_trip(&mut enc, &mut dec, &first, None);
    enc.set_max_table_size(60);
    dec.set_max_table_size(60);
    round_trip(&mut enc, &mut dec, &first, None);
    enc.set_max_table_size(4096);
    dec.set_max_table_size(4096);
    round_trip(&mut enc, &mut dec, &first, None);
    // Without begin_block, positions run past the predicted ones.
    let mut block = Vec::new();
    for _ in 0..3 {
        block.clear();
        for &(n, v) in first.iter().cycle().take(40) {
            enc.encode_field(n, v, &mut block);
        }
        assert_eq!(decode(&mut dec, &block).len(), 40);
    }
}
