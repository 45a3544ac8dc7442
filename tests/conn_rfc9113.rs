//! RFC 9113 conformance of `Connection`, driven byte for byte like a client (h2spec-style, in process).
//!
//! This file: the connection preface (§3.4), input split anywhere, SETTINGS (§6.5), PING (§6.7), frame size (§4.2),
//! GOAWAY (§6.8), PUSH_PROMISE from a client (§8.4) and unknown frame types (§5.5). The other `conn_*.rs` files
//! cover streams, header blocks, flow control and abuse. Helpers (hand-written frames and HPACK) are in
//! `common/mod.rs`.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::ConnConfig;
use h2ring::h2::error::ErrorCode;

fn cfg() -> ConnConfig {
    ConnConfig::default()
}

// ---------------------------------------------------------------------------------------------------------------
// §3.4 connection preface

#[test]
fn server_preface_is_settings_then_connection_window_update() {
    let mut c = Client::new(cfg());
    let f = c.read();
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!((f[0].kind, f[0].flags, f[0].stream), (SETTINGS, 0, 0));
    let params = f[0].settings();
    let get = |id| params.iter().rev().find(|p| p.0 == id).map(|p| p.1);
    assert_eq!(get(MAX_CONCURRENT_STREAMS), Some(128));
    assert_eq!(get(INITIAL_WINDOW_SIZE), Some(1 << 20));
    // §6.5.2: "A server MUST NOT explicitly set this value to 1 ... if a server does include a value, it MUST be 0."
    assert!(matches!(get(ENABLE_PUSH), None | Some(0)));
    if let Some(v) = get(MAX_FRAME_SIZE) {
        assert!((16_384..=16_777_215).contains(&v));
    }
    assert_eq!((f[1].kind, f[1].stream), (WINDOW_UPDATE, 0));
    assert_eq!(f[1].window_update(), Some((4 << 20) - 65_535), "connection window raised to 4 MiB");
    assert!(!c.conn.is_established());
}

#[test]
fn preface_and_settings_one_byte_at_a_time() {
    let mut c = Client::new(cfg());
    c.read();
    let wire = cat(&[PREFACE, &settings(&[(INITIAL_WINDOW_SIZE, 70_000)])]);
    for b in &wire[..wire.len() - 1] {
        c.send_ok(std::slice::from_ref(b));
    }
    assert!(c.read().is_empty(), "nothing to answer before the SETTINGS frame is complete");
    c.send_ok(&wire[wire.len() - 1..]);
    assert!(c.conn.is_established());
    let f = c.read();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].flags, f[0].payload.len()), (SETTINGS, ACK, 0));
    for b in settings_ack() {
        c.send_ok(&[b]);
    }
    assert!(c.read().is_empty());
    c.roundtrip(1);
}

#[test]
fn invalid_preface_is_protocol_error() {
    for wire in [&b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r_", b"PRI * HTTP/1.1\r\n"] {
        let mut c = Client::new(cfg());
        c.read();
        assert_eq!(c.expect_goaway(wire, PROTOCOL_ERROR), 0, "{wire:?}");
    }
    // Wrong only in its last octet, fed one octet at a time.
    let mut c = Client::new(cfg());
    c.read();
    for b in &PREFACE[..23] {
        c.send_ok(std::slice::from_ref(b));
    }
    c.expect_goaway(b"X", PROTOCOL_ERROR);
}

#[test]
fn first_frame_must_be_settings() {
    let firsts = [
        ping(0, [1; 8]),
        headers(1, END_HEADERS | END_STREAM, &hp::get("/")),
        window_update(0, 100),
        settings_ack(),
        frame(0xfa, 0, 0, b"x"),
    ];
    for first in firsts {
        let mut c = Client::new(cfg());
        c.read();
        c.expect_goaway(&cat(&[PREFACE, &first]), PROTOCOL_ERROR);
        assert!(c.events().is_empty());
    }
}

#[test]
fn every_client_settings_frame_is_acked_in_order() {
    let mut c = Client::connect(cfg());
    c.send_ok(&cat(&[&settings(&[]), &ping(0, [7; 8]), &settings(&[(INITIAL_WINDOW_SIZE, 1000)])]));
    let f = c.read();
    let kinds: Vec<_> = f.iter().map(|f| (f.kind, f.flags)).collect();
    assert_eq!(kinds, [(SETTINGS, ACK), (PING, ACK), (SETTINGS, ACK)]);
}

// ---------------------------------------------------------------------------------------------------------------
// §4.1: frames are a byte stream; where the transport cuts it must not matter.

/// A whole exchange: continuation, padding, trailers, HPACK references across blocks, PING, PRIORITY, an unknown
/// frame, a client reset.
fn transcript() -> Vec<u8> {
    let post = hp::post("/upload");
    let (a, b) = post.split_at(3);
    let trailers = hp::literal("x-sum", "abc");
    cat(&[
        PREFACE,
        &settings(&[(INITIAL_WINDOW_SIZE, 100_000), (0x99, 5)]),
        &settings_ack(),
        &headers(1, 0, a),
        &continuation(1, END_HEADERS, b),
        &data(1, 0, b"hello"),
        &ping(0, *b"pingpong"),
        &data_padded(1, END_STREAM, b" world", 7),
        &headers(3, END_HEADERS | END_STREAM, &cat(&[&hp::get("/a"), &hp::incremental("x-a", "b")])),
        &headers(5, END_HEADERS | END_STREAM, &cat(&[&hp::get("/b"), &hp::indexed(62)])),
        &window_update(0, 1000),
        &priority(7, 0, 16),
        &frame(0xfa, 0xff, 0, b"ignored"),
        &headers(7, END_HEADERS, &hp::post("/t")),
        &data(7, 0, b"xyz"),
        &headers(7, END_HEADERS | END_STREAM, &trailers),
        &headers(9, END_HEADERS, &hp::post("/r")),
        &rst_stream(9, CANCEL),
    ])
}

/// Feeds `chunks` to a fresh connection; returns its events and raw output.
fn run(chunks: &[&[u8]]) -> (Vec<Ev>, Vec<u8>) {
    let mut c = Client::new(cfg());
    let mut out = vec![0u8; 1 << 16];
    let mut raw = Vec::new();
    for chunk in chunks {
        c.send_ok(chunk);
    }
    loop {
        let n = c.conn.write_output(&mut out);
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&out[..n]);
    }
    (c.events(), raw)
}

#[test]
fn transcript_in_one_piece_gives_the_expected_events() {
    let wire = transcript();
    let (evs, raw) = run(&[&wire]);
    let summary: Vec<String> = evs
        .iter()
        .map(|e| match e {
            Ev::Request(r) => format!("req {} {} {} {:?}", r.stream, r.method, r.path, r.headers),
            Ev::Data { stream, data, end_stream } => {
                format!("data {stream} {} {end_stream}", Bytes::from(data.clone()).escape_ascii())
            }
            Ev::Trailers { stream, headers } => format!("trailers {stream} {headers:?}"),
            Ev::Reset { stream, code } => format!("reset {stream} {code}"),
            Ev::GoAway { last, code } => format!("goaway {last} {code}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "req 1 POST /upload []",
            "data 1 hello false",
            "data 1  world true",
            r#"req 3 GET /a [("x-a", "b")]"#,
            r#"req 5 GET /b [("x-a", "b")]"#,
            "req 7 POST /t []",
            "data 7 xyz false",
            r#"trailers 7 [("x-sum", "abc")]"#,
            "req 9 POST /r []",
            "reset 9 CANCEL",
        ]
    );
    let mut c = Client::new(cfg());
    let (frames, rest) = c.parse(&raw);
    assert!(rest.is_empty());
    let kinds: Vec<_> = frames.iter().map(|f| (f.kind, f.flags)).collect();
    assert_eq!(kinds, [(SETTINGS, 0), (WINDOW_UPDATE, 0), (SETTINGS, ACK), (PING, ACK)]);
    assert_eq!(frames[3].payload, b"pingpong");
}

#[test]
fn transcript_split_anywhere_gives_the_same_result() {
    let wire = transcript();
    let whole = run(&[&wire]);
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(run(&bytes), whole, "one byte at a time");
    for k in 0..=wire.len() {
        assert_eq!(run(&[&wire[..k], &wire[k..]]), whole, "split at {k}");
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..300 {
        let mut chunks = Vec::new();
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = (rng.below(40) as usize).min(rest.len());
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
        assert_eq!(run(&chunks), whole, "chunks {:?}", chunks.iter().map(|c| c.len()).collect::<Vec<_>>());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §6.5 SETTINGS

#[test]
fn settings_ack_with_payload_is_frame_size_error() {
    let mut c = Client::connect(cfg());
    c.expect_goaway(&frame(SETTINGS, ACK, 0, &[0, 4, 0, 0, 0, 1]), FRAME_SIZE_ERROR);
}

#[test]
fn settings_length_not_multiple_of_6_is_frame_size_error() {
    for len in [1, 5, 7, 11] {
        let mut c = Client::connect(cfg());
        c.expect_goaway(&frame(SETTINGS, 0, 0, &vec![0; len]), FRAME_SIZE_ERROR);
    }
}

#[test]
fn settings_on_a_stream_is_protocol_error() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&frame(SETTINGS, 0, 1, &[]), PROTOCOL_ERROR);
}

#[test]
fn settings_values_out_of_range() {
    let cases = [
        (INITIAL_WINDOW_SIZE, 1 << 31, FLOW_CONTROL_ERROR),
        (INITIAL_WINDOW_SIZE, u32::MAX, FLOW_CONTROL_ERROR),
        (MAX_FRAME_SIZE, 16_383, PROTOCOL_ERROR),
        (MAX_FRAME_SIZE, 0, PROTOCOL_ERROR),
        (MAX_FRAME_SIZE, 1 << 24, PROTOCOL_ERROR),
        (ENABLE_PUSH, 2, PROTOCOL_ERROR),
    ];
    for (id, value, code) in cases {
        let mut c = Client::connect(cfg());
        c.expect_goaway(&settings(&[(id, value)]), code);
    }
}

#[test]
fn settings_values_at_the_edges_are_accepted() {
    let mut c = Client::connect(cfg());
    for (id, value) in [
        (INITIAL_WINDOW_SIZE, MAX_WINDOW),
        (INITIAL_WINDOW_SIZE, 0),
        (INITIAL_WINDOW_SIZE, 65_535),
        (MAX_FRAME_SIZE, 16_384),
        (MAX_FRAME_SIZE, 16_777_215),
        (MAX_FRAME_SIZE, 16_384),
        (ENABLE_PUSH, 0),
        (ENABLE_PUSH, 1),
        (MAX_CONCURRENT_STREAMS, 0),
        (MAX_HEADER_LIST_SIZE, 1),
        (HEADER_TABLE_SIZE, 4096),
    ] {
        c.send_ok(&settings(&[(id, value)]));
        let f = c.read();
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind, f[0].flags), (SETTINGS, ACK), "{id:#x}={value}");
    }
    c.roundtrip(1);
}

#[test]
fn unknown_setting_is_ignored() {
    let mut c = Client::connect(cfg());
    c.send_ok(&settings(&[(0x99, 0xdead_beef), (0xffff, 0), (0x0, 1)]));
    let f = c.read();
    assert_eq!((f.len(), f[0].kind, f[0].flags), (1, SETTINGS, ACK));
    c.roundtrip(1);
}

#[test]
fn header_table_size_zero_makes_the_next_block_start_with_a_size_update() {
    let mut c = Client::connect(cfg());
    let fields: &[(&[u8], &[u8])] = &[(b"x-custom", b"value-one"), (b"cache-control", b"max-age=60")];
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/a")));
    c.events();
    c.conn.send_response(1, 200, fields, Bytes::from_static(b"a")).unwrap();
    c.read();

    c.send_ok(&settings(&[(HEADER_TABLE_SIZE, 0)]));
    let f = c.read();
    assert_eq!((f[0].kind, f[0].flags), (SETTINGS, ACK));
    // The server has acknowledged: from now on its encoder must not use more than 0 octets, and (RFC 7541 §4.2)
    // signal that with a size update at the start of its next block, which this decoder now insists on.
    c.decoder.set_max_table_size(0);

    for (i, id) in [3u32, 5, 7].into_iter().enumerate() {
        c.send_ok(&headers(id, END_HEADERS | END_STREAM, &hp::get("/b")));
        c.events();
        c.conn.send_response(id, if i == 1 { 302 } else { 200 }, fields, Bytes::from_static(b"b")).unwrap();
        let f = c.read();
        let block = f[0].block.as_ref().expect("a response header block");
        let reprs = hp::representations(block);
        if i == 0 {
            assert_eq!(reprs[0], hp::Repr::SizeUpdate(0), "first block after the ACK: {reprs:?}");
        } else {
            assert!(!reprs.iter().any(|r| matches!(r, hp::Repr::SizeUpdate(_))), "{reprs:?}");
        }
        assert!(!reprs.iter().any(|r| matches!(r, hp::Repr::Indexed(i) if *i > 61)), "no dynamic references");
        assert_eq!(c.decoder.table_size(), 0, "nothing was indexed");
        let fields = f[0].fields.as_ref().unwrap();
        assert!(fields.contains(&("x-custom".into(), "value-one".into())));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §6.7 PING

#[test]
fn ping_is_answered_with_the_same_payload() {
    let mut c = Client::connect(cfg());
    c.send_ok(&cat(&[&ping(0, *b"\x00\x01\x02\x03\xfc\xfd\xfe\xff"), &ping(0, *b"second!!")]));
    let f = c.read();
    assert_eq!(f.len(), 2);
    for (f, want) in f.iter().zip([b"\x00\x01\x02\x03\xfc\xfd\xfe\xff", b"second!!"]) {
        assert_eq!((f.kind, f.flags, f.stream, &f.payload[..]), (PING, ACK, 0, &want[..]));
    }
}

#[test]
fn ping_ack_is_not_answered() {
    let mut c = Client::connect(cfg());
    c.send_ok(&ping(ACK, [3; 8]));
    assert!(c.read().is_empty());
    c.roundtrip(1);
}

#[test]
fn ping_on_a_stream_is_protocol_error() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&frame(PING, 0, 1, &[0; 8]), PROTOCOL_ERROR);
}

#[test]
fn ping_of_wrong_length_is_frame_size_error() {
    for (flags, len) in [(0, 0), (0, 7), (0, 9), (ACK, 7), (0, 64)] {
        let mut c = Client::connect(cfg());
        c.expect_goaway(&frame(PING, flags, 0, &vec![0; len]), FRAME_SIZE_ERROR);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §4.2 frame size

#[test]
fn oversized_frame_is_rejected_from_its_header_alone() {
    for kind in [DATA, HEADERS, SETTINGS, 0xfa] {
        for len in [16_385, 0xff_ffff] {
            let mut c = Client::connect(cfg());
            c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
            c.events();
            let stream = if kind == SETTINGS { 0 } else { 1 };
            // Only the 9 octets: the server must not wait for 16 MB that will never come.
            let last = c.expect_goaway(&frame_header(len, kind, 0, stream), FRAME_SIZE_ERROR);
            assert_eq!(last, 1);
        }
    }
}

#[test]
fn frame_of_exactly_max_frame_size_is_accepted() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.send_ok(&data(1, 0, &[7; 16_384]));
    let evs = c.events();
    assert!(matches!(&evs[1], Ev::Data { stream: 1, data, end_stream: false } if data.len() == 16_384));
    assert!(c.read().iter().all(|f| f.kind != GOAWAY && f.kind != RST_STREAM));
}

// ---------------------------------------------------------------------------------------------------------------
// §6.8 GOAWAY

#[test]
fn client_goaway_lets_existing_streams_finish() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/1")));
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &hp::get("/3")));
    c.send_ok(&goaway(0, NO_ERROR));
    let evs = c.events();
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2], Ev::GoAway { last: 0, code: ErrorCode::NoError });
    assert!(!c.conn.is_closed(), "two streams still owe a response");
    c.conn.send_response(3, 200, &[], Bytes::from_static(b"three")).unwrap();
    let f = c.read();
    assert_eq!(response_of(&f, 3), (Some(200), b"three".to_vec(), true));
    assert!(!c.conn.is_closed());
    c.conn.send_response(1, 404, &[], Bytes::new()).unwrap();
    let f = c.read();
    assert_eq!(response_of(&f, 1), (Some(404), vec![], true));
    assert!(f.iter().all(|f| f.kind != GOAWAY), "a client GOAWAY needs no GOAWAY back");
    assert!(c.conn.is_closed());
}

#[test]
fn client_goaway_with_error_code_is_reported() {
    let mut c = Client::connect(cfg());
    c.send_ok(&goaway(0, ENHANCE_YOUR_CALM));
    assert_eq!(c.events(), [Ev::GoAway { last: 0, code: ErrorCode::EnhanceYourCalm }]);
    assert!(c.conn.is_closed());
}

#[test]
fn shutdown_sends_goaway_and_ignores_newer_streams() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/1")));
    c.send_ok(&headers(3, END_HEADERS, &hp::post("/3")));
    assert_eq!(c.events().len(), 2);
    c.conn.shutdown();
    let f = c.read();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].goaway(), Some((3, NO_ERROR)), "last-stream-id is the highest processed");

    // Stream 5 crossed our GOAWAY: ignored, but its block still updates the HPACK context (§4.3, §6.8), and its
    // later frames are ignored too.
    c.send_ok(&headers(5, END_HEADERS, &cat(&[&hp::post("/5"), &hp::incremental("x-late", "yes")])));
    c.send_ok(&data(5, 0, b"body"));
    c.send_ok(&headers(5, END_HEADERS | END_STREAM, &hp::literal("x-t", "1")));
    c.send_ok(&headers(7, END_HEADERS | END_STREAM, &hp::get("/7")));
    assert!(c.events().is_empty(), "no events for streams above the GOAWAY");
    let f = c.read();
    assert!(f.iter().all(|f| f.kind == WINDOW_UPDATE && f.stream == 0), "ignored, not answered: {f:?}");

    // Stream 3 is still served; its trailers refer to the entry stream 5 inserted.
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &hp::indexed(62)));
    assert_eq!(c.events(), [Ev::Trailers { stream: 3, headers: vec![("x-late".into(), "yes".into())] }]);
    assert!(!c.conn.is_closed());
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"1")).unwrap();
    c.conn.send_response(3, 200, &[], Bytes::from_static(b"3")).unwrap();
    let f = c.read();
    assert_eq!(response_of(&f, 1), (Some(200), b"1".to_vec(), true));
    assert_eq!(response_of(&f, 3), (Some(200), b"3".to_vec(), true));
    assert!(c.conn.is_closed());
}

#[test]
fn shutdown_with_no_streams_is_closed_once_written() {
    let mut c = Client::connect(cfg());
    c.conn.shutdown();
    assert!(!c.conn.is_closed(), "the GOAWAY is not written yet");
    assert_eq!(c.read()[0].goaway(), Some((0, NO_ERROR)));
    assert!(c.conn.is_closed());
}

#[test]
fn connection_error_goaway_carries_last_processed_stream() {
    let mut c = Client::connect(cfg());
    assert_eq!(c.expect_goaway(&frame(PING, 0, 1, &[0; 8]), PROTOCOL_ERROR), 0);

    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.send_ok(&headers(3, END_HEADERS, &hp::post("/")));
    assert_eq!(c.expect_goaway(&frame(PING, 0, 1, &[0; 8]), PROTOCOL_ERROR), 3);
}

#[test]
fn goaway_last_stream_id_never_increases() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.conn.shutdown();
    assert_eq!(c.read()[0].goaway(), Some((1, NO_ERROR)));
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &hp::get("/")));
    assert_eq!(c.expect_goaway(&frame(PING, 0, 1, &[0; 8]), PROTOCOL_ERROR), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// §8.4 push, §5.5 extensions

#[test]
fn push_promise_from_client_is_protocol_error() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    let mut payload = 2u32.to_be_bytes().to_vec();
    payload.extend(hp::get("/pushed"));
    c.expect_goaway(&frame(PUSH_PROMISE, END_HEADERS, 1, &payload), PROTOCOL_ERROR);
}

#[test]
fn unknown_frame_types_are_ignored() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.events();
    for (kind, stream) in [(0xfa, 0), (0xfa, 1), (0x0b, 99), (0xff, 2), (0x10, 0x7fff_ffff)] {
        c.send_ok(&frame(kind, 0xff, stream, b"whatever this is"));
        c.send_ok(&frame(kind, 0, stream, b""));
    }
    assert!(c.read().is_empty());
    assert!(c.events().is_empty());
    // They opened nothing: stream 3 (< 99) is still a valid new stream.
    c.send_ok(&data(1, END_STREAM, b"x"));
    assert_eq!(c.events(), [Ev::Data { stream: 1, data: b"x".to_vec(), end_stream: true }]);
    c.roundtrip(3);
}
