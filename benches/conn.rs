//! One whole request/response cycle through `Connection`, in memory: the
//! client's HEADERS (a browser's warm, fully indexed block) and a
//! WINDOW_UPDATE in; the event out; a 12 KB page with a blog's response
//! headers submitted; every output byte written. This is the protocol
//! core's share of the per-request CPU budget (TLS and syscalls excluded).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use h2ring::h2::conn::{ConnConfig, Connection, Event};
use h2ring::h2::frame::{
    CONNECTION_PREFACE, FrameType, flags, write_frame_header, write_settings, write_window_update,
};
use h2ring::h2::hpack::HpackEncoder;

const REQUEST: &[(&[u8], &[u8])] = &[
    (b":method", b"GET"),
    (b":authority", b"blog.example.net"),
    (b":scheme", b"https"),
    (b":path", b"/posts/io-uring-vs-epoll"),
    (b"sec-ch-ua", b"\"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\""),
    (b"sec-ch-ua-mobile", b"?0"),
    (b"sec-ch-ua-platform", b"\"Linux\""),
    (b"upgrade-insecure-requests", b"1"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    (b"sec-fetch-site", b"same-origin"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-dest", b"document"),
    (b"referer", b"https://blog.example.net/"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"accept-language", b"en-GB,en;q=0.9"),
    (b"priority", b"u=0, i"),
];

const RESPONSE: &[(&[u8], &[u8])] = &[
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", b"12288"),
    (b"etag", b"\"5f3a9c1e\""),
    (b"cache-control", b"public, max-age=300"),
    (b"last-modified", b"Tue, 30 Dec 2025 09:00:00 GMT"),
    (b"date", b"Fri, 27 Nov 2026 04:00:00 GMT"),
    (b"vary", b"accept-encoding"),
    (b"server", b"h2ring"),
];

fn headers_frame(block: &[u8], stream_id: u32, out: &mut Vec<u8>) {
    write_frame_header(out, block.len() as u32, FrameType::Headers, flags::END_HEADERS | flags::END_STREAM, stream_id);
    out.extend_from_slice(block);
}

fn cycle(conn: &mut Connection, input: &[u8], page: &Bytes, out: &mut [u8]) -> usize {
    conn.recv(input).unwrap();
    while let Some(ev) = conn.poll_event() {
        if let Event::Request { stream_id, head, .. } = ev {
            conn.send_response(stream_id, 200, RESPONSE, page.clone()).unwrap();
            conn.recycle(head);
        }
    }
    let mut total = 0;
    while conn.has_output() {
        total += conn.write_output(out);
    }
    total
}

fn bench_cycle(c: &mut Criterion) {
    let page = Bytes::from(vec![b'x'; 12 * 1024]);
    let mut encoder = HpackEncoder::new();
    let mut first = Vec::new();
    encoder.encode(REQUEST.iter().copied(), &mut first);
    let mut warm = Vec::new();
    encoder.encode(REQUEST.iter().copied(), &mut warm);

    let mut conn = Connection::new(ConnConfig::default());
    let mut out = vec![0u8; 64 * 1024];
    let mut setup = CONNECTION_PREFACE.to_vec();
    write_settings(&mut setup, &[]);
    headers_frame(&first, 1, &mut setup);
    cycle(&mut conn, &setup, &page, &mut out);

    let mut stream_id = 1u32;
    let mut input = Vec::with_capacity(256);
    c.bench_function("conn/request_response_12k_page", |b| {
        b.iter(|| {
            stream_id += 2;
            input.clear();
            headers_frame(&warm, stream_id, &mut input);
            // The client gives back the connection window the page used.
            write_window_update(&mut input, 0, page.len() as u32);
            black_box(cycle(&mut conn, &input, &page, &mut out))
        })
    });
}

criterion_group!(benches, bench_cycle);
criterion_main!(benches);
