//! Frame codec micro-benchmarks: the per-frame costs on the connection's hot path.
//!
//! `cargo bench --bench frame -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use h2ring::h2::frame::{FRAME_HEADER_LEN, Frame, FrameHeader, FrameType, flags, write_frame_header};

fn split(wire: &[u8]) -> (FrameHeader, &[u8]) {
    let (head, payload) = wire.split_first_chunk::<FRAME_HEADER_LEN>().unwrap();
    (FrameHeader::parse(head), payload)
}

fn benches(c: &mut Criterion) {
    let head = [0x00, 0x40, 0x00, 0x0, 0x1, 0x00, 0x00, 0x00, 0x01];
    c.bench_function("frame_header_parse", |b| b.iter(|| FrameHeader::parse(black_box(&head))));

    // A typical request HEADERS frame: END_STREAM | END_HEADERS, a 64-octet field block.
    let mut headers = vec![0, 0, 64, 0x1, 0x5, 0, 0, 0, 1];
    headers.extend((0..64u8).map(|i| 0x80 | i));
    let (h, p) = split(&headers);
    c.bench_function("decode_headers", |b| b.iter(|| Frame::decode(black_box(&h), black_box(p))));

    // A full-size DATA frame; decoding is zero-copy, so this measures validation only.
    let mut data = vec![0x00, 0x40, 0x00, 0x0, 0x0, 0, 0, 0, 1];
    data.resize(FRAME_HEADER_LEN + 16_384, 0xab);
    let (h, p) = split(&data);
    c.bench_function("decode_data_16k", |b| b.iter(|| Frame::decode(black_box(&h), black_box(p))));

    let mut out = Vec::with_capacity(64);
    c.bench_function("write_data_frame_header", |b| {
        b.iter(|| {
            out.clear();
            write_frame_header(&mut out, black_box(16_384), FrameType::Data, flags::END_STREAM, black_box(1));
            black_box(out.len())
        })
    });
}

criterion_group!(frame, benches);
criterion_main!(frame);
