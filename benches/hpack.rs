//! HPACK micro-benchmarks: header block decode (browser requests) and
//! encode (server responses), plus Huffman decoding.
//!
//! `cargo bench --bench hpack -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use h2ring::h2::hpack::{DecodeLimits, HpackDecoder, HpackEncoder, huffman};

/// What a current Chrome sends for a subresource on an established origin.
fn chrome_request(path: &'static [u8]) -> Vec<(&'static [u8], &'static [u8])> {
    vec![
        (b":method", b"GET"),
        (b":authority", b"www.example.com"),
        (b":scheme", b"https"),
        (b":path", path),
        (b"sec-ch-ua", b"\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\""),
        (b"sec-ch-ua-mobile", b"?0"),
        (
            b"user-agent",
            b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/124.0.0.0 Safari/537.36",
        ),
        (b"sec-ch-ua-platform", b"\"Windows\""),
        (b"accept", b"*/*"),
        (b"sec-fetch-site", b"same-origin"),
        (b"sec-fetch-mode", b"no-cors"),
        (b"sec-fetch-dest", b"script"),
        (b"referer", b"https://www.example.com/"),
        (b"accept-encoding", b"gzip, deflate, br, zstd"),
        (b"accept-language", b"en-US,en;q=0.9"),
        (b"cookie", b"_ga=GA1.1.1234567890.1712345678; session=eyJhbGciOiJIUzI1NiJ9.c2Vzc2lvbg.x1y2z3; theme=dark"),
        (b"priority", b"u=1"),
    ]
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

const LIMITS: DecodeLimits = DecodeLimits { max_list_size: 64 * 1024, max_header_count: 128 };

fn decode_all(dec: &mut HpackDecoder, block: &[u8]) -> usize {
    let mut n = 0;
    dec.decode(block, LIMITS, |f| n += f.name.len() + f.value.len()).unwrap();
    n
}

fn benches(c: &mut Criterion) {
    // The browser's first and second request blocks, as one encoder context
    // (the same choices a browser's encoder makes: index everything it can,
    // Huffman when shorter), so the second is mostly one-octet indices.
    let mut browser = HpackEncoder::new();
    let mut first = Vec::new();
    browser.encode(chrome_request(b"/assets/app.3f9a2c.js"), &mut first);
    let mut second = Vec::new();
    browser.encode(chrome_request(b"/assets/vendor.81bb0e.js"), &mut second);
    println!("request blocks: first {} octets, second {} octets", first.len(), second.len());
    assert!(second.len() < first.len() / 8, "second request should be mostly indexed");

    c.bench_function("hpack_decode_request_first", |b| {
        b.iter(|| decode_all(&mut HpackDecoder::new(4096), black_box(&first)))
    });

    // Decoding the second block inserts its :path, so each iteration gets
    // a fresh copy of the warmed decoder (cloned outside the timing, in
    // batches small enough to stay in cache).
    let mut warm = HpackDecoder::new(4096);
    decode_all(&mut warm, &first);
    c.bench_function("hpack_decode_request_warm", |b| {
        b.iter_batched_ref(|| warm.clone(), |d| decode_all(d, black_box(&second)), BatchSize::NumIterations(64))
    });

    // The per-field cost of indexed references alone: every dynamic entry
    // of the warmed decoder once. Decoding this changes no state.
    let refs: Vec<u8> = (0..warm.dynamic_table().len() as u8).map(|i| 0xbe + i).collect();
    let mut indexed = warm.clone();
    c.bench_function("hpack_decode_indexed_refs", |b| b.iter(|| decode_all(&mut indexed, black_box(&refs))));

    let mut dst = Vec::with_capacity(1024);
    c.bench_function("hpack_encode_response_cold", |b| {
        b.iter(|| {
            dst.clear();
            HpackEncoder::new().encode(black_box(RESPONSE), &mut dst);
            dst.len()
        })
    });

    let mut enc = HpackEncoder::new();
    enc.encode(RESPONSE, &mut dst);
    c.bench_function("hpack_encode_response_warm", |b| {
        b.iter(|| {
            dst.clear();
            enc.encode(black_box(RESPONSE), &mut dst);
            dst.len()
        })
    });

    let text: &[u8] =
        b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0";
    let mut coded = Vec::new();
    huffman::encode(text, &mut coded);
    let mut out = Vec::with_capacity(256);
    c.bench_function("huffman_decode_100b", |b| {
        b.iter(|| {
            out.clear();
            huffman::decode(black_box(&coded), &mut out).unwrap();
            out.len()
        })
    });
    c.bench_function("huffman_encode_100b", |b| {
        b.iter(|| {
            out.clear();
            huffman::encode(black_box(text), &mut out);
            out.len()
        })
    });
}

criterion_group!(hpack, benches);
criterion_main!(hpack);
