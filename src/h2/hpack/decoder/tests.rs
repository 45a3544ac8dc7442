use super::*;
use crate::h2::hpack::HpackEncoder;
use crate::h2::hpack::integer::encode_integer;
use std::time::{Duration, Instant};

type Owned = Vec<(Vec<u8>, Vec<u8>, bool)>;

fn collect(dec: &mut HpackDecoder, block: &[u8], limits: DecodeLimits) -> (Result<(), DecodeError>, Owned) {
    let mut out = Vec::new();
    let r = dec.decode(block, limits, |f| out.push((f.name.to_vec(), f.value.to_vec(), f.sensitive)));
    (r, out)
}

fn ok(dec: &mut HpackDecoder, block: &[u8]) -> Owned {
    let (r, out) = collect(dec, block, DecodeLimits::UNLIMITED);
    r.unwrap();
    out
}

fn err(dec: &mut HpackDecoder, block: &[u8]) -> DecodeError {
    collect(dec, block, DecodeLimits::UNLIMITED).0.unwrap_err()
}

/// Literal with incremental indexing, new name, raw strings.
fn lit_inc(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.push(0x40);
    encode_integer(name.len(), 7, 0, out);
    out.extend_from_slice(name);
    encode_integer(value.len(), 7, 0, out);
    out.extend_from_slice(value);
}

fn size_update(size: usize, out: &mut Vec<u8>) {
    encode_integer(size, 5, 0x20, out);
}

#[test]
fn size_update_only_at_start() {
    let mut dec = HpackDecoder::new(4096);
    // Several updates before the first field are fine.
    let mut b = Vec::new();
    size_update(0, &mut b);
    size_update(100, &mut b);
    b.push(0x82);
    assert_eq!(ok(&mut dec, &b), [(b":method".to_vec(), b"GET".to_vec(), false)]);
    assert_eq!(dec.table_capacity(), 100);
    // After a field: error.
    assert_eq!(err(&mut HpackDecoder::new(4096), &[0x82, 0x20]), DecodeError::TableSizeUpdateNotAtStart);
    // Above the advertised limit: error.
    let mut b = Vec::new();
    size_update(4097, &mut b);
    assert_eq!(err(&mut HpackDecoder::new(4096), &b), DecodeError::TableSizeAboveLimit);
    // A larger advertised limit allows growth beyond 4096.
    let mut dec = HpackDecoder::new(65536);
    assert_eq!(dec.table_capacity(), 4096);
    let mut b = Vec::new();
    size_update(65536, &mut b);
    ok(&mut dec, &b);
    assert_eq!(dec.table_capacity(), 65536);
}

#[test]
fn lowered_limit_requires_update() {
    let mut dec = HpackDecoder::new(4096);
    let mut b = Vec::new();
    lit_inc(b"k", &[b'v'; 100], &mut b);
    ok(&mut dec, &b);

    dec.set_max_table_size(1000);
    // No update at the start: error (§4.2).
    assert_eq!(err(&mut dec.clone(), &[0x82]), DecodeError::MissingTableSizeUpdate);
    assert_eq!(err(&mut dec.clone(), &[]), DecodeError::MissingTableSizeUpdate);
    // An update above the new limit but below the old: error.
    let mut b = Vec::new();
    size_update(2000, &mut b);
    assert_eq!(err(&mut dec.clone(), &b), DecodeError::TableSizeAboveLimit);
    // A proper one, then the table keeps working.
    let mut b = Vec::new();
    size_update(1000, &mut b);
    b.push(0xbe);
    assert_eq!(ok(&mut dec, &b)[0].0, b"k");
    // And it is required only once.
    ok(&mut dec, &[0x82]);

    // Lowered then raised between blocks: the first update must not exceed
    // the smallest value; a second one may then go up to the final limit.
    let mut dec = HpackDecoder::new(4096);
    dec.set_max_table_size(0);
    dec.set_max_table_size(4096);
    let mut b = Vec::new();
    size_update(4096, &mut b);
    assert_eq!(err(&mut dec.clone(), &b), DecodeError::MissingTableSizeUpdate);
    let mut b = Vec::new();
    size_update(0, &mut b);
    size_update(4096, &mut b);
    ok(&mut dec, &b);
    assert_eq!(dec.table_capacity(), 4096);

    // Raising the limit requires nothing.
    let mut dec = HpackDecoder::new(4096);
    dec.set_max_table_size(8192);
    ok(&mut dec, &[0x82]);
}

#[test]
fn never_indexed_is_sensitive_and_not_stored() {
    let mut dec = HpackDecoder::new(4096);
    // 0x10: never indexed, new name; 0x17: never indexed, name index 23 (authorization).
    let b = [0x10, 1, b'a', 1, b'b', 0x1f, 0x08, 3, b'x', b'y', b'z'];
    assert_eq!(
        ok(&mut dec, &b),
        [(b"a".to_vec(), b"b".to_vec(), true), (b"authorization".to_vec(), b"xyz".to_vec(), true)]
    );
    assert_eq!(dec.table_size(), 0);
    // Without indexing: not sensitive, not stored.
    assert_eq!(ok(&mut dec, &[0x01, 0]), [(b":authority".to_vec(), b"".to_vec(), false)]);
    assert_eq!(dec.table_size(), 0);
}

#[test]
fn name_reference_to_entry_evicted_by_the_insert() {
    // §4.4: a new entry may reference the name of the entry it evicts.
    let mut dec = HpackDecoder::new(60);
    let mut b = Vec::new();
    lit_inc(b"name-one", b"v", &mut b); // 41 octets
    ok(&mut dec, &b);
    // 0x7e = incremental, name index 62; the new entry (8+10+32=50) evicts it.
    let mut b = vec![0x7e, 10];
    b.extend_from_slice(b"0123456789");
    assert_eq!(ok(&mut dec, &b), [(b"name-one".to_vec(), b"0123456789".to_vec(), false)]);
    assert_eq!(dec.dynamic_table().collect::<Vec<_>>(), [(&b"name-one"[..], &b"0123456789"[..])]);
    assert_eq!(dec.table_size(), 50);
}

#[test]
fn checks_follow_their_entries_through_evictions() {
    fn checked(dec: &mut HpackDecoder, block: &[u8]) -> Vec<(Vec<u8>, FieldCheck)> {
        let mut out = Vec::new();
        dec.decode_checked(block, DecodeLimits::UNLIMITED, |f, c| out.push((f.value.to_vec(), c))).unwrap();
        out
    }
    let good = FieldCheck { name_ok: true, value_ok: true };
    let bad_value = FieldCheck { name_ok: true, value_ok: false };
    let bad_name = FieldCheck { name_ok: false, value_ok: true };
    // Room for three entries of 34 octets.
    let mut dec = HpackDecoder::new(110);
    let mut b = Vec::new();
    lit_inc(b"a", b"1", &mut b);
    lit_inc(b"b", b"\0", &mut b);
    lit_inc(b"C", b"3", &mut b);
    assert_eq!(checked(&mut dec, &b), [(b"1".to_vec(), good), (b"\0".to_vec(), bad_value), (b"3".to_vec(), bad_name)]);
    // Indexed: 62 is the newest.
    let refs = checked(&mut dec, &[0xbe, 0xbf, 0xc0, 0x82]);
    assert_eq!(refs.iter().map(|r| r.1).collect::<Vec<_>>(), [bad_name, bad_value, good, FieldCheck::of_static(2)]);
    // A fourth entry evicts "a: 1"; "d: 4" is now 62.
    let mut b = Vec::new();
    lit_inc(b"d", b"4", &mut b);
    checked(&mut dec, &b);
    let refs = checked(&mut dec, &[0xbe, 0xbf, 0xc0]);
    assert_eq!(refs, [(b"4".to_vec(), good), (b"3".to_vec(), bad_name), (b"\0".to_vec(), bad_value)]);
    // A size update that keeps one entry, then an entry too large for the
    // table, which empties it (§4.4).
    let mut b = Vec::new();
    size_update(40, &mut b);
    b.push(0xbe);
    assert_eq!(checked(&mut dec, &b), [(b"4".to_vec(), good)]);
    let mut b = Vec::new();
    lit_inc(b"e", &[b'x'; 20], &mut b);
    checked(&mut dec, &b);
    assert_eq!(dec.dynamic_table().len(), 0);
    assert_eq!(dec.table.checks.len(), 0);
    let mut b = Vec::new();
    lit_inc(b"f", b" 6", &mut b);
    b.push(0xbe);
    assert_eq!(checked(&mut dec, &b), [(b" 6".to_vec(), bad_value), (b" 6".to_vec(), bad_value)]);
    // Our limit lowered (SETTINGS acknowledged): entries and checks go together.
    dec.set_max_table_size(0);
    assert_eq!((dec.dynamic_table().len(), dec.table.checks.len()), (0, 0));
}

#[test]
fn malformed_blocks() {
    let dec = HpackDecoder::new(4096);
    let cases: &[(&[u8], DecodeError)] = &[
        (&[0x80], DecodeError::InvalidIndex),
        (&[0xbe], DecodeError::InvalidIndex),
        (&[0x7e, 0], DecodeError::InvalidIndex),
        (&[0x0f, 0x30, 0], DecodeError::InvalidIndex), // index 63, without indexing
        (&[0xff], DecodeError::Truncated),
        (&[0xff, 0x80], DecodeError::Truncated),
        (&[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], DecodeError::IntegerOverflow),
        (&[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], DecodeError::IntegerOverflow),
        (&[0x40], DecodeError::Truncated),
        (&[0x40, 1, b'a'], DecodeError::Truncated),
        (&[0x40, 5, b'a'], DecodeError::StringTooLong),
        (&[0x04, 0x7f, 0xff, 0xff, 0xff, 0x0f], DecodeError::StringTooLong),
        (&[0x04, 0x81, 0x00], DecodeError::InvalidHuffman), // '0' + 000 padding
        (&[0x04, 0x81, 0xff], DecodeError::InvalidHuffman), // 8 bits of padding
        (&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff], DecodeError::InvalidHuffman), // EOS
    ];
    for &(block, want) in cases {
        assert_eq!(err(&mut dec.clone(), block), want, "{block:02x?}");
    }
}

#[test]
fn huffman_literals_decode_into_scratch_without_growth() {
    let mut enc = HpackEncoder::new();
    let mut dec = HpackDecoder::new(4096);
    let headers: [(&[u8], &[u8]); 3] =
        [(b"x-request-id", b"3f2c9a1e-55aa"), (b"accept", b"text/html"), (b"x-other", b"plain-ish value")];
    let mut block = Vec::new();
    enc.encode(headers, &mut block);
    let got = ok(&mut dec, &block);
    assert_eq!(got.len(), 3);
    // A never-indexed Huffman block decoded repeatedly reuses the scratch buffer.
    let mut never = Vec::new();
    enc.encode_field_with(b"x-token", b"some secret-ish value", crate::h2::hpack::Indexing::Never, &mut never);
    ok(&mut dec, &never);
    let cap = dec.scratch.capacity();
    for _ in 0..100 {
        assert_eq!(ok(&mut dec, &never), [(b"x-token".to_vec(), b"some secret-ish value".to_vec(), true)]);
    }
    assert_eq!(dec.scratch.capacity(), cap);
}

#[test]
fn too_many_headers() {
    let mut dec = HpackDecoder::new(4096);
    let limits = DecodeLimits { max_list_size: usize::MAX, max_header_count: 3 };
    let (r, out) = collect(&mut dec, &[0x82; 3], limits);
    assert_eq!((r, out.len()), (Ok(()), 3));
    let (r, out) = collect(&mut dec, &[0x82; 4], limits);
    assert_eq!((r, out.len()), (Err(DecodeError::TooManyHeaders), 3));
    assert!(r.unwrap_err().is_limit());
}

#[test]
fn list_size_counts_name_value_and_32() {
    let mut dec = HpackDecoder::new(4096);
    // :method GET = 7 + 3 + 32 = 42
    let at = DecodeLimits { max_list_size: 84, max_header_count: usize::MAX };
    assert_eq!(collect(&mut dec, &[0x82, 0x82], at).0, Ok(()));
    let below = DecodeLimits { max_list_size: 83, max_header_count: usize::MAX };
    let (r, out) = collect(&mut dec, &[0x82, 0x82], below);
    assert_eq!((r, out.len()), (Err(DecodeError::HeaderListTooLarge), 1));
}

#[test]
fn hpack_bomb_is_cheap_and_table_stays_in_sync() {
    let mut dec = HpackDecoder::new(4096);
    let big = vec![b'a'; 4000];
    let mut b = Vec::new();
    lit_inc(b"x", &big, &mut b);
    ok(&mut dec, &b);
    assert_eq!(dec.table_size(), 4033);

    // 10k references to the 4 KB entry (40 MB if materialised), with an
    // insertion in the middle that must still reach the table, and a
    // never-indexed Huffman literal that is skipped.
    let mut bomb = vec![0xbe; 5000];
    lit_inc(b"y", b"z", &mut bomb);
    bomb.extend_from_slice(&[0x10, 0x81, 0x00, 0x01, b'q']); // invalid Huffman name: skipped
    bomb.extend(std::iter::repeat_n(0xbf, 5000)); // the big entry is now index 63
    let limits = DecodeLimits { max_list_size: 16 * 1024, max_header_count: 20_000 };
    let mut calls = 0;
    let t = Instant::now();
    let r = dec.decode(&bomb, limits, |_| calls += 1);
    let elapsed = t.elapsed();
    assert_eq!(r, Err(DecodeError::HeaderListTooLarge));
    assert!(r.unwrap_err().is_limit());
    assert_eq!(calls, 4, "callback stops at the limit");
    assert!(elapsed < Duration::from_millis(200), "bomb took {elapsed:?}");

    // The next block sees the insertion made inside the rejected block.
    let got = ok(&mut dec, &[0xbe, 0xbf]);
    assert_eq!(got, [(b"y".to_vec(), b"z".to_vec(), false), (b"x".to_vec(), big, false)]);
    assert_eq!(dec.table_size(), 4033 + 34);
}

#[test]
fn compression_error_takes_precedence_over_limit() {
    let mut dec = HpackDecoder::new(4096);
    let limits = DecodeLimits { max_list_size: usize::MAX, max_header_count: 1 };
    assert_eq!(collect(&mut dec, &[0x82, 0x82, 0x80], limits).0, Err(DecodeError::InvalidIndex));
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let limits = DecodeLimits { max_list_size: 8192, max_header_count: 64 };
    let mut dec = HpackDecoder::new(4096);
    let mut results = [0usize; 2];
    let mut buf = Vec::new();
    for i in 0..20_000 {
        buf.clear();
        let len = (rng.next() % 64) as usize;
        // Bias some inputs towards valid-looking literals and small indices.
        for _ in 0..len {
            let r = rng.next();
            buf.push(match r % 8 {
                0 => 0x40,
                1 => 0x80 | ((r >> 8) as u8 % 70),
                2 => (r >> 8) as u8 % 16,
                _ => (r >> 8) as u8,
            });
        }
        // Random bytes make valid and invalid fields alike: every check,
        // remembered with a table entry or not, is the field's own.
        let r = dec.decode_checked(&buf, limits, |f, check| {
            assert!(f.name.len() + f.value.len() <= 8192);
            assert_eq!(check, FieldCheck::of(f.name, f.value), "{f:?}");
        });
        results[usize::from(r.is_ok())] += 1;
        if (r.is_err() && !r.unwrap_err().is_limit()) || i % 97 == 0 {
            dec = HpackDecoder::new(4096);
        }
        if i % 500 == 0 {
            dec.set_max_table_size((rng.next() % 5000) as usize);
        }
    }
    assert!(results[0] > 0 && results[1] > 0, "{results:?}");
}

#[test]
fn truncations_and_mutations_of_valid_blocks_never_panic() {
    let mut enc = HpackEncoder::new();
    let mut block = Vec::new();
    let headers: [(&[u8], &[u8]); 6] = [
        (b":method", b"GET"),
        (b":path", b"/a/long/path?with=query&and=more"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
        (b"cookie", b"short"),
        (b"x-big", &[0xfe; 300]),
        (b"accept", b"*/*"),
    ];
    enc.encode(headers, &mut block);
    let mut rng = XorShift(42);
    for cut in 0..=block.len() {
        let _ = HpackDecoder::new(4096).decode(&block[..cut], DecodeLimits::UNLIMITED, |_| {});
    }
    for _ in 0..5000 {
        let mut m = block.clone();
        for _ in 0..1 + rng.next() % 4 {
            let i = (rng.next() as usize) % m.len();
            m[i] ^= 1 << (rng.next() % 8);
        }
        let _ = HpackDecoder::new(4096).decode(&m, DecodeLimits::UNLIMITED, |_| {});
    }
}
