//! RFC 9113 conformance of `Connection`: stream identifiers (§5.1.1), stream states (§5.1), concurrency (§5.1.2),
//! RST_STREAM (§6.4), PRIORITY (§5.3, §6.3) and the early response of §8.1.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::{ConnConfig, SendError};
use h2ring::h2::error::ErrorCode;

fn connect() -> Client {
    Client::connect(ConnConfig::default())
}

/// `bytes` hit a closed stream: STREAM_CLOSED, as a stream error (RST_STREAM) or a connection error (GOAWAY);
/// §5.1 allows either for "closed".
#[track_caller]
fn expect_stream_closed(c: &mut Client, bytes: &[u8], stream: u32) {
    match c.send(bytes) {
        Ok(()) => {
            let f = c.read();
            assert!(
                f.iter().any(|f| f.stream == stream && f.rst() == Some(STREAM_CLOSED)),
                "RST_STREAM STREAM_CLOSED on {stream} expected: {f:?}"
            );
            assert!(f.iter().all(|f| f.kind != GOAWAY));
        }
        Err(e) => {
            assert_eq!(e.code.to_u32(), STREAM_CLOSED, "{e}");
            let f = c.read();
            assert_eq!(f.last().and_then(|f| f.goaway()).map(|g| g.1), Some(STREAM_CLOSED), "{f:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// §5.1.1 stream identifiers

#[test]
fn even_stream_id_is_protocol_error() {
    for id in [2, 4, 0x7fff_fffe] {
        let mut c = connect();
        c.expect_goaway(&headers(id, END_HEADERS | END_STREAM, &hp::get("/")), PROTOCOL_ERROR);
        assert!(c.events().is_empty());
    }
}

#[test]
fn headers_on_stream_zero_is_protocol_error() {
    let mut c = connect();
    c.expect_goaway(&headers(0, END_HEADERS | END_STREAM, &hp::get("/")), PROTOCOL_ERROR);
}

#[test]
fn decreasing_stream_id_is_protocol_error() {
    let mut c = connect();
    c.send_ok(&headers(5, END_HEADERS, &hp::post("/")));
    // Stream 3 was never used; opening it after 5 is "an unexpected stream identifier".
    let last = c.expect_goaway(&headers(3, END_HEADERS | END_STREAM, &hp::get("/")), PROTOCOL_ERROR);
    assert_eq!(last, 5);
}

#[test]
fn highest_stream_id_is_usable() {
    let mut c = connect();
    c.roundtrip(0x7fff_ffff);
}

#[test]
fn headers_on_a_normally_closed_stream_is_stream_closed() {
    let mut c = connect();
    c.roundtrip(1);
    // Request and response both ended: stream 1 is closed (§5.1).
    let last = c.expect_goaway(&headers(1, END_HEADERS | END_STREAM, &hp::get("/again")), STREAM_CLOSED);
    assert_eq!(last, 1);
}

#[test]
fn data_on_a_normally_closed_stream_is_stream_closed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.send_ok(&data(1, END_STREAM, b"x"));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"y")).unwrap();
    c.read();
    expect_stream_closed(&mut c, &data(1, 0, b"late"), 1);
}

#[test]
fn frames_on_idle_streams_are_protocol_error() {
    let frames = [
        data(1, 0, b"x"),
        data(1, END_STREAM, b""),
        rst_stream(1, CANCEL),
        window_update(1, 100),
        continuation(1, END_HEADERS, &hp::get("/")),
    ];
    for f in &frames {
        let mut c = connect();
        c.expect_goaway(f, PROTOCOL_ERROR);
    }
    // Idle means above the highest id used so far, also once streams exist.
    for f in [data(5, 0, b"x"), rst_stream(5, CANCEL), window_update(5, 1)] {
        let mut c = connect();
        c.send_ok(&headers(3, END_HEADERS, &hp::post("/")));
        assert_eq!(c.expect_goaway(&f, PROTOCOL_ERROR), 3);
    }
}

#[test]
fn even_streams_are_idle_whatever_the_client_opened() {
    // A server that never pushes leaves every even stream idle (§5.1.1, §8.4): frames other than PRIORITY on
    // one are a connection error, even below the client's highest stream id.
    for f in [data(2, 0, b"x"), rst_stream(2, CANCEL), window_update(2, 1), window_update(2, 0)] {
        let mut c = connect();
        c.send_ok(&headers(5, END_HEADERS, &hp::post("/")));
        c.send_ok(&priority(2, 0, 1));
        assert!(c.read().is_empty(), "PRIORITY on an idle stream is fine");
        assert_eq!(c.expect_goaway(&f, PROTOCOL_ERROR), 5);
    }
}

#[test]
fn skipped_stream_ids_are_closed_not_idle() {
    // §5.1.1: opening 5 implicitly closes idle stream 3.
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.send_ok(&headers(5, END_HEADERS, &hp::post("/")));
    expect_stream_closed(&mut c, &data(3, 0, b"x"), 3);
}

// ---------------------------------------------------------------------------------------------------------------
// §5.3, §6.3 PRIORITY

#[test]
fn priority_on_idle_stream_does_not_open_it() {
    let mut c = connect();
    c.send_ok(&priority(5, 0, 200));
    c.send_ok(&priority(9, 0x8000_0003, 0));
    assert!(c.read().is_empty());
    assert!(c.events().is_empty());
    assert_eq!(c.conn.active_streams(), 0);
    // 1 and 3 are below 5 and 9, yet still valid new streams.
    c.roundtrip(1);
    c.roundtrip(3);
    c.roundtrip(5);
    // PRIORITY on a closed stream is fine too (§5.1).
    c.send_ok(&priority(1, 0, 1));
    c.roundtrip(7);
}

#[test]
fn priority_on_stream_zero_is_protocol_error() {
    let mut c = connect();
    c.expect_goaway(&priority(0, 1, 16), PROTOCOL_ERROR);
}

#[test]
fn priority_of_wrong_length_is_frame_size_error() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.events();
    // §6.3: a stream error on an open stream.
    c.expect_rst(&frame(PRIORITY, 0, 1, &[0, 0, 0, 0]), 1, FRAME_SIZE_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::FrameSizeError }]);
    c.roundtrip(3);
}

#[test]
fn priority_depending_on_itself_is_protocol_error() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.events();
    c.expect_rst(&priority(1, 1, 16), 1, PROTOCOL_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::ProtocolError }]);
    c.roundtrip(3);
}

// ---------------------------------------------------------------------------------------------------------------
// §5.1 stream states

#[test]
fn half_closed_remote_rejects_data_with_stream_closed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.events();
    c.expect_rst(&data(1, 0, b"x"), 1, STREAM_CLOSED);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::StreamClosed }]);
    assert_eq!(c.conn.send_response(1, 200, &[], Bytes::new()), Err(SendError::StreamClosed));
    c.roundtrip(3);
}

#[test]
fn half_closed_remote_rejects_headers_with_stream_closed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.events();
    // The block inserts an entry that the next request uses: it was decoded despite the error.
    c.expect_rst(&headers(1, END_HEADERS | END_STREAM, &hp::incremental("x-t", "v")), 1, STREAM_CLOSED);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::StreamClosed }]);
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::indexed(62)])));
    let evs = c.events();
    assert!(matches!(&evs[..], [Ev::Request(r)] if r.headers == [("x-t".to_string(), "v".to_string())]));
}

#[test]
fn half_closed_remote_accepts_window_update_priority_and_rst() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.send_ok(&window_update(1, 1000));
    c.send_ok(&priority(1, 0, 7));
    assert!(c.read().is_empty());
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"fine")).unwrap();
    assert_eq!(response_of(&c.read(), 1), (Some(200), b"fine".to_vec(), true));

    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &hp::get("/")));
    c.events();
    c.send_ok(&rst_stream(3, CANCEL));
    assert_eq!(c.events(), [Ev::Reset { stream: 3, code: ErrorCode::Cancel }]);
    assert!(c.read().is_empty(), "§5.4.2: never RST_STREAM in answer to RST_STREAM");
}

#[test]
fn frames_after_our_rst_stream_are_ignored_but_data_is_counted() {
    let cfg = ConnConfig { connection_window_size: 65_535, ..ConnConfig::default() };
    let mut c = Client::connect(cfg);
    // Malformed (connection-specific header): RST_STREAM PROTOCOL_ERROR while the client is still sending.
    let bad = cat(&[&hp::post("/"), &hp::literal("connection", "close")]);
    c.expect_rst(&headers(1, END_HEADERS, &bad), 1, PROTOCOL_ERROR);
    assert!(c.events().is_empty(), "never delivered");
    // What the client had in flight before it saw our RST_STREAM (§5.1 "closed"): ignored.
    for _ in 0..3 {
        c.send_ok(&data(1, 0, &[0; 16_000]));
    }
    c.send_ok(&window_update(1, 5));
    c.send_ok(&priority(1, 0, 5));
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::literal("x-trailer", "t")));
    c.send_ok(&rst_stream(1, CANCEL));
    assert!(c.events().is_empty());
    let f = c.read();
    // §6.9: the 48,000 octets still count against the connection window, so they are credited back.
    assert!(f.iter().all(|f| f.stream == 0 && f.kind == WINDOW_UPDATE), "{f:?}");
    assert_eq!(f.iter().filter_map(|f| f.window_update()).sum::<u32>(), 48_000);
    c.roundtrip(3);
}

#[test]
fn data_after_client_rst_stream_is_stream_closed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.send_ok(&rst_stream(1, CANCEL));
    assert!(matches!(&c.events()[..], [Ev::Request(_), Ev::Reset { stream: 1, code: ErrorCode::Cancel }]));
    assert!(c.read().is_empty());
    c.expect_rst(&data(1, 0, b"x"), 1, STREAM_CLOSED);
    c.roundtrip(3);
}

#[test]
fn headers_after_client_rst_stream_is_stream_closed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.send_ok(&rst_stream(1, CANCEL));
    c.events();
    expect_stream_closed(&mut c, &headers(1, END_HEADERS | END_STREAM, &hp::literal("x", "y")), 1);
}

#[test]
fn client_rst_stream_cancels_the_response() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/big")));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from(vec![1u8; 100_000])).unwrap();
    let f = c.read();
    assert_eq!(data_len(&f), 65_535, "the client's initial window");
    c.send_ok(&rst_stream(1, CANCEL));
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::Cancel }]);
    c.send_ok(&window_update(0, 1 << 20));
    assert!(c.read().is_empty(), "no DATA, no RST_STREAM after the client's RST_STREAM");
    assert_eq!(c.conn.send_response(1, 200, &[], Bytes::new()), Err(SendError::StreamClosed));

    // Reset before any response: send_response reports the stream gone.
    c.send_ok(&headers(3, END_HEADERS, &hp::post("/")));
    c.send_ok(&rst_stream(3, 0xdead));
    assert!(matches!(&c.events()[..], [Ev::Request(_), Ev::Reset { stream: 3, code: ErrorCode::Unknown(0xdead) }]));
    assert_eq!(c.conn.send_response(3, 200, &[], Bytes::from_static(b"x")), Err(SendError::StreamClosed));
    assert!(c.read().is_empty());
    c.roundtrip(5);
}

#[test]
fn rst_stream_on_stream_zero_or_of_wrong_length_is_a_connection_error() {
    let mut c = connect();
    c.expect_goaway(&rst_stream(0, CANCEL), PROTOCOL_ERROR);
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&frame(RST_STREAM, 0, 1, &[0, 0, 8]), FRAME_SIZE_ERROR);
}

#[test]
fn send_response_misuse_is_reported() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.events();
    assert_eq!(c.conn.send_response(1, 100, &[], Bytes::new()), Err(SendError::InvalidStatus));
    assert_eq!(c.conn.send_response(1, 1000, &[], Bytes::new()), Err(SendError::InvalidStatus));
    assert_eq!(c.conn.send_response(3, 200, &[], Bytes::new()), Err(SendError::StreamClosed));
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"x")).unwrap();
    assert_eq!(c.conn.send_response(1, 200, &[], Bytes::new()), Err(SendError::AlreadyResponded));
    let f = c.read();
    assert_eq!(f.iter().filter(|f| f.kind == HEADERS).count(), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// §5.1.2 concurrency

#[test]
fn max_concurrent_streams_refuses_the_129th_and_keeps_hpack_in_sync() {
    let mut c = connect();
    for i in 0..128u32 {
        c.send_ok(&headers(2 * i + 1, END_HEADERS, &hp::post("/")));
    }
    assert_eq!(c.events().len(), 128);
    assert_eq!(c.conn.active_streams(), 128);
    // The refused block inserts "x-sync: abc" into the dynamic table (RFC 7541 §6.2.1).
    let block = cat(&[&hp::post("/refused"), &hp::incremental("x-sync", "abc")]);
    c.expect_rst(&headers(257, END_HEADERS, &block), 257, REFUSED_STREAM);
    assert!(c.events().is_empty(), "a refused stream is never seen by the application");
    // Late DATA for it is ignored (we reset it).
    c.send_ok(&data(257, END_STREAM, b"x"));
    assert!(c.read().is_empty());

    // Stream 1 completes; a slot frees up.
    c.send_ok(&data(1, END_STREAM, b""));
    c.events();
    c.conn.send_response(1, 204, &[], Bytes::new()).unwrap();
    c.read();
    assert_eq!(c.conn.active_streams(), 127);
    c.send_ok(&headers(259, END_HEADERS | END_STREAM, &cat(&[&hp::get("/next"), &hp::indexed(62)])));
    let evs = c.events();
    assert!(
        matches!(&evs[..], [Ev::Request(r)] if r.stream == 259 && r.headers == [("x-sync".into(), "abc".into())]),
        "{evs:?}"
    );
    assert!(c.read().is_empty());
}

#[test]
fn max_concurrent_streams_counts_half_closed_remote_streams() {
    let cfg = ConnConfig { max_concurrent_streams: 2, ..ConnConfig::default() };
    let mut c = Client::connect(cfg);
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &hp::get("/")));
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &hp::get("/")));
    c.expect_rst(&headers(5, END_HEADERS | END_STREAM, &hp::get("/")), 5, REFUSED_STREAM);
    assert_eq!(c.events().len(), 2);
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"a")).unwrap();
    c.read();
    c.roundtrip(7);
}

// ---------------------------------------------------------------------------------------------------------------
// §8.1: a complete response while the request is still being sent

#[test]
fn early_response_is_followed_by_rst_stream_no_error() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/upload")));
    c.send_ok(&data(1, 0, b"part"));
    c.events();
    c.conn.send_response(1, 413, &[], Bytes::new()).unwrap();
    let f = c.read();
    let kinds: Vec<_> = f.iter().map(|f| (f.kind, f.stream, f.end_stream())).collect();
    assert_eq!(kinds, [(HEADERS, 1, true), (RST_STREAM, 1, false)], "END_STREAM first, then RST_STREAM");
    assert_eq!(f[1].rst(), Some(NO_ERROR));
    c.send_ok(&data(1, 0, b"more"));
    c.send_ok(&data(1, END_STREAM, b"end"));
    assert!(c.events().is_empty(), "the rest of the request is discarded");
    assert!(c.read().is_empty(), "and not answered");
    c.roundtrip(3);
}

#[test]
fn early_response_with_body_resets_only_after_the_last_data() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/upload")));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(100_000))).unwrap();
    let f = c.read();
    assert_eq!(data_len(&f), 65_535);
    assert!(f.iter().all(|f| f.kind != RST_STREAM), "the response is not complete yet");
    // The request body keeps flowing meanwhile.
    c.send_ok(&data(1, 0, b"still sending"));
    assert_eq!(c.events(), [Ev::Data { stream: 1, data: b"still sending".to_vec(), end_stream: false }]);
    c.send_ok(&cat(&[&window_update(0, 100_000), &window_update(1, 100_000)]));
    let f = c.read();
    let last_data = f.iter().rposition(|f| f.is_data()).unwrap();
    assert!(f[last_data].end_stream());
    assert_eq!(f.iter().position(|f| f.kind == RST_STREAM), Some(last_data + 1), "{f:?}");
    assert_eq!(f[last_data + 1].rst(), Some(NO_ERROR));
    c.send_ok(&data(1, END_STREAM, b"x"));
    assert!(c.events().is_empty());
    assert!(c.read().is_empty());
}
