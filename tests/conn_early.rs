//! TLS 1.3 early data (0-RTT) in `Connection`: `recv_early` marks input as early, and each header block says whether
//! it arrived early (RFC 8470 §5.2: a server may answer an early request at once or refuse it with 425; a request
//! that began in early data and was completed after it must not be processed before the handshake completes).
//!
//! A block starts at the first byte of its HEADERS frame (frame header included) and ends at the last byte of its
//! last frame: `Complete` when both are before the early-data end offset, `Partial` when only the start is, `No`
//! otherwise. The decision to answer or refuse is the caller's; the core only classifies.

mod common;

use common::*;
use h2ring::h2::conn::{ConnConfig, EarlyData, Event, Method};

/// One request event, copied out; the head goes back to the pool (so later heads are recycled ones).
#[derive(Debug, PartialEq, Eq)]
struct Got {
    stream: u32,
    method: Method,
    path: String,
    end_stream: bool,
    early: EarlyData,
}

/// What the connection reported: requests, body bytes (stream, bytes, end_stream), trailers (stream, early).
#[derive(Debug, Default)]
struct Drained {
    requests: Vec<Got>,
    data: Vec<(u32, Vec<u8>, bool)>,
    trailers: Vec<(u32, EarlyData)>,
}

fn drain(c: &mut Client) -> Drained {
    let mut d = Drained::default();
    while let Some(ev) = c.conn.poll_event() {
        match ev {
            Event::Request { stream_id, head, end_stream } => {
                d.requests.push(Got {
                    stream: stream_id,
                    method: head.method(),
                    path: String::from_utf8_lossy(head.path()).into_owned(),
                    end_stream,
                    early: head.early_data(),
                });
                c.conn.recycle(head);
            }
            Event::Data { stream_id, data, end_stream } => d.data.push((stream_id, data.to_vec(), end_stream)),
            Event::Trailers { stream_id, trailers } => {
                d.trailers.push((stream_id, trailers.early_data()));
                c.conn.recycle(trailers);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    d
}

fn get(stream: u32, path: &str, early: EarlyData) -> Got {
    Got { stream, method: Method::Get, path: path.to_string(), end_stream: true, early }
}

/// A fresh connection whose server preface was read.
fn fresh() -> Client {
    let mut c = Client::new(ConnConfig::default());
    assert!(!c.read().is_empty());
    c
}

#[track_caller]
fn early_ok(c: &mut Client, bytes: &[u8]) {
    if let Err(e) = c.conn.recv_early(bytes) {
        panic!("unexpected connection error on early data: {e}");
    }
}

/// The client's preface and SETTINGS: what a 0-RTT flight starts with.
fn opening() -> Vec<u8> {
    cat(&[PREFACE, &settings(&[])])
}

fn get_headers(stream: u32, path: &str) -> Vec<u8> {
    headers(stream, END_HEADERS | END_STREAM, &hp::get(path))
}

// ---------------------------------------------------------------------------------------------------------------
// Whole blocks in early data

#[test]
fn get_entirely_in_early_data_is_complete() {
    let mut c = fresh();
    let flight = cat(&[&opening(), &get_headers(1, "/early")]);
    early_ok(&mut c, &flight);
    assert_eq!(drain(&mut c).requests, [get(1, "/early", EarlyData::Complete)]);
    assert_eq!((c.conn.bytes_received(), c.conn.early_data_end()), (flight.len() as u64, flight.len() as u64));
    assert!(c.conn.is_established());

    // The rest of the connection (after the handshake) is ordinary input; the early end stays put.
    c.send_ok(&settings_ack());
    assert_eq!(c.conn.bytes_received(), flight.len() as u64 + 9);
    assert_eq!(c.conn.early_data_end(), flight.len() as u64);
    c.roundtrip(3);
}

#[test]
fn early_post_with_body_is_complete_and_not_ended() {
    // Refusing it (425) is the caller's decision: the core reports what arrived.
    let mut c = fresh();
    let block = cat(&[&hp::post("/form"), &hp::literal("content-length", "3")]);
    early_ok(&mut c, &cat(&[&opening(), &headers(1, END_HEADERS, &block), &data(1, END_STREAM, b"abc")]));
    let d = drain(&mut c);
    assert_eq!(
        d.requests,
        [Got { stream: 1, method: Method::Post, path: "/form".into(), end_stream: false, early: EarlyData::Complete }]
    );
    assert_eq!(d.data, [(1, b"abc".to_vec(), true)]);
}

#[test]
fn headers_and_continuation_all_early_are_complete() {
    let mut c = fresh();
    let block = cat(&[&hp::get("/cont"), &hp::literal("x-a", "1")]);
    let (a, b) = block.split_at(3);
    early_ok(&mut c, &cat(&[&opening(), &headers(1, END_STREAM, a), &continuation(1, END_HEADERS, b)]));
    assert_eq!(drain(&mut c).requests, [get(1, "/cont", EarlyData::Complete)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Blocks cut by the end of early data

#[test]
fn headers_frame_split_by_the_early_end_is_partial() {
    let frame = get_headers(1, "/split");
    // Every cut inside the frame: within its 9-byte header, at the header/payload boundary, within the payload.
    for cut in 1..frame.len() {
        let mut c = fresh();
        early_ok(&mut c, &cat(&[&opening(), &frame[..cut]]));
        assert!(drain(&mut c).requests.is_empty(), "cut {cut}: nothing before the frame is whole");
        c.send_ok(&frame[cut..]);
        assert_eq!(drain(&mut c).requests, [get(1, "/split", EarlyData::Partial)], "cut {cut}");
        assert_eq!(c.conn.early_data_end(), (opening().len() + cut) as u64);
    }
}

#[test]
fn headers_starting_exactly_at_the_early_end_are_not_early() {
    let mut c = fresh();
    early_ok(&mut c, &opening());
    c.send_ok(&get_headers(1, "/after"));
    assert_eq!(drain(&mut c).requests, [get(1, "/after", EarlyData::No)]);
}

#[test]
fn continuation_after_the_early_end_makes_the_block_partial() {
    let block = cat(&[&hp::get("/cont"), &hp::literal("x-a", "1")]);
    let (a, b) = block.split_at(3);
    let first = headers(1, END_STREAM, a);
    let last = continuation(1, END_HEADERS, b);

    // HEADERS early, the whole CONTINUATION after.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &first]));
    assert!(drain(&mut c).requests.is_empty());
    c.send_ok(&last);
    assert_eq!(drain(&mut c).requests, [get(1, "/cont", EarlyData::Partial)]);

    // HEADERS and part of the CONTINUATION early.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &first, &last[..4]]));
    c.send_ok(&last[4..]);
    assert_eq!(drain(&mut c).requests, [get(1, "/cont", EarlyData::Partial)]);

    // HEADERS, an empty CONTINUATION early; the last CONTINUATION after.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &first, &continuation(1, 0, b"")]));
    c.send_ok(&last);
    assert_eq!(drain(&mut c).requests, [get(1, "/cont", EarlyData::Partial)]);
}

#[test]
fn early_request_then_later_request() {
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &get_headers(1, "/one")]));
    c.send_ok(&cat(&[&settings_ack(), &get_headers(3, "/two")]));
    // The second head is the first one recycled: its early mark was reset.
    assert_eq!(drain(&mut c).requests, [get(1, "/one", EarlyData::Complete), get(3, "/two", EarlyData::No)]);
}

#[test]
fn trailers_are_classified_like_requests() {
    let post = cat(&[&hp::post("/up")]);
    let trailer = headers(1, END_HEADERS | END_STREAM, &hp::literal("x-sum", "1"));

    // Request and trailers early.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &headers(1, END_HEADERS, &post), &data(1, 0, b"x"), &trailer]));
    let d = drain(&mut c);
    assert_eq!(d.requests[0].early, EarlyData::Complete);
    assert_eq!(d.trailers, [(1, EarlyData::Complete)]);

    // Request early, trailers cut by the early end.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &headers(1, END_HEADERS, &post), &trailer[..5]]));
    c.send_ok(&trailer[5..]);
    let d = drain(&mut c);
    assert_eq!(d.requests[0].early, EarlyData::Complete);
    assert_eq!(d.trailers, [(1, EarlyData::Partial)]);

    // Request early, trailers after.
    let mut c = fresh();
    early_ok(&mut c, &cat(&[&opening(), &headers(1, END_HEADERS, &post)]));
    c.send_ok(&trailer);
    assert_eq!(drain(&mut c).trailers, [(1, EarlyData::No)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Offsets, byte by byte and at every cut

#[test]
fn byte_at_a_time_offsets_are_exact() {
    let mut c = fresh();
    let early = cat(&[&opening(), &get_headers(1, "/a"), &headers(3, END_HEADERS | END_STREAM, &hp::get("/b"))]);
    let cut = early.len() - 5; // the early data ends inside the second HEADERS frame
    for (i, b) in early[..cut].iter().enumerate() {
        early_ok(&mut c, std::slice::from_ref(b));
        assert_eq!((c.conn.bytes_received(), c.conn.early_data_end()), (i as u64 + 1, i as u64 + 1));
    }
    for (i, b) in early[cut..].iter().enumerate() {
        c.send_ok(std::slice::from_ref(b));
        assert_eq!((c.conn.bytes_received(), c.conn.early_data_end()), ((cut + i + 1) as u64, cut as u64));
    }
    assert_eq!(drain(&mut c).requests, [get(1, "/a", EarlyData::Complete), get(3, "/b", EarlyData::Partial)]);
}

/// Every position of the early end over a flight of three requests (one with CONTINUATION), fed in one piece each
/// side and byte by byte: the classification follows the offsets of each block's first and last byte.
#[test]
fn every_early_end_classifies_by_offsets() {
    let block = cat(&[&hp::get("/c"), &hp::literal("x-a", "1")]);
    let (a, b) = block.split_at(2);
    let parts: [(Vec<u8>, Option<&str>); 5] = [
        (opening(), None),
        (get_headers(1, "/a"), Some("/a")),
        (headers(3, END_STREAM, a), None),
        (continuation(3, END_HEADERS, b), Some("/c")),
        (get_headers(5, "/e"), Some("/e")),
    ];
    let flight: Vec<u8> = parts.iter().flat_map(|(p, _)| p.clone()).collect();
    // (path, first byte, end) of each block.
    let mut blocks = Vec::new();
    let mut at = 0;
    let mut start = 0;
    for (p, done) in &parts {
        if p[3] == HEADERS {
            start = at;
        }
        at += p.len();
        if let Some(path) = done {
            blocks.push((*path, start, at));
        }
    }
    for cut in 0..=flight.len() {
        let expected: Vec<Got> = blocks
            .iter()
            .zip([1, 3, 5])
            .map(|(&(path, start, end), id)| {
                let early = if start >= cut {
                    EarlyData::No
                } else if end <= cut {
                    EarlyData::Complete
                } else {
                    EarlyData::Partial
                };
                get(id, path, early)
            })
            .collect();

        let mut c = fresh();
        early_ok(&mut c, &flight[..cut]);
        c.send_ok(&flight[cut..]);
        assert_eq!(drain(&mut c).requests, expected, "cut {cut}, two pieces");

        let mut c = fresh();
        for b in &flight[..cut] {
            early_ok(&mut c, std::slice::from_ref(b));
        }
        for b in &flight[cut..] {
            c.send_ok(std::slice::from_ref(b));
        }
        assert_eq!(drain(&mut c).requests, expected, "cut {cut}, byte by byte");
        assert_eq!((c.conn.bytes_received(), c.conn.early_data_end()), (flight.len() as u64, cut as u64));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Connections without early data

#[test]
fn plain_connection_never_reports_early() {
    let mut c = Client::connect(ConnConfig::default());
    let block = cat(&[&hp::get("/cont"), &hp::literal("x-a", "1")]);
    let (a, b) = block.split_at(3);
    let flight = cat(&[&get_headers(1, "/a"), &headers(3, END_STREAM, a), &continuation(3, END_HEADERS, b)]);
    c.send_ok(&flight);
    assert_eq!(drain(&mut c).requests, [get(1, "/a", EarlyData::No), get(3, "/cont", EarlyData::No)]);
    let opening = PREFACE.len() + 9 + 9; // preface, empty SETTINGS, SETTINGS ACK
    assert_eq!(c.conn.bytes_received(), (opening + flight.len()) as u64);
    assert_eq!(c.conn.early_data_end(), 0);
}

#[test]
fn empty_early_data_is_no_early_data() {
    let mut c = fresh();
    early_ok(&mut c, b"");
    c.send_ok(&cat(&[&opening(), &get_headers(1, "/")]));
    assert_eq!(drain(&mut c).requests, [get(1, "/", EarlyData::No)]);
    assert_eq!(c.conn.early_data_end(), 0);
}

#[test]
fn empty_plain_input_may_precede_early_data() {
    let mut c = fresh();
    c.send_ok(b"");
    early_ok(&mut c, &cat(&[&opening(), &get_headers(1, "/")]));
    assert_eq!(drain(&mut c).requests, [get(1, "/", EarlyData::Complete)]);
}

#[test]
fn early_data_counts_after_a_connection_error() {
    let mut c = fresh();
    assert!(c.conn.recv_early(b"GET / HTTP/1.1\r\n").is_err());
    assert!(c.conn.recv_early(b"Host: x\r\n").is_err());
    assert_eq!((c.conn.bytes_received(), c.conn.early_data_end()), (25, 25));
}

/// Early data precedes everything else on a TLS connection: `recv_early` after `recv` took bytes is a caller bug.
#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "recv_early after recv")]
fn recv_early_after_recv_is_a_bug() {
    let mut c = fresh();
    c.send_ok(&opening());
    let _ = c.conn.recv_early(&get_headers(1, "/"));
}

/// Release builds treat such bytes as ordinary input.
#[test]
#[cfg(not(debug_assertions))]
fn recv_early_after_recv_is_plain_input_in_release() {
    let mut c = fresh();
    c.send_ok(&opening());
    early_ok(&mut c, &get_headers(1, "/"));
    assert_eq!(drain(&mut c).requests, [get(1, "/", EarlyData::No)]);
    assert_eq!(c.conn.early_data_end(), 0);
}
