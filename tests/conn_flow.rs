//! RFC 9113 conformance of `Connection`: flow control (§5.2, §6.9) in both directions, frame sizes of what the
//! server sends (§4.2), DATA scheduling across streams, and the response body.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::ConnConfig;
use h2ring::h2::error::ErrorCode;

fn small_windows(stream: u32) -> ConnConfig {
    ConnConfig { initial_window_size: stream, ..ConnConfig::default() }
}

fn open_post(c: &mut Client, id: u32) {
    c.send_ok(&headers(id, END_HEADERS, &hp::post("/upload")));
    assert!(matches!(&c.events()[..], [Ev::Request(r)] if r.stream == id));
}

fn open_get(c: &mut Client, id: u32) {
    c.send_ok(&headers(id, END_HEADERS | END_STREAM, &hp::get("/")));
    assert!(matches!(&c.events()[..], [Ev::Request(r)] if r.stream == id));
}

// ---------------------------------------------------------------------------------------------------------------
// Receive side

#[test]
fn data_beyond_the_stream_window_is_flow_control_error() {
    let mut c = Client::connect(small_windows(1000));
    assert!(c.server_settings.contains(&(INITIAL_WINDOW_SIZE, 1000)));
    open_post(&mut c, 1);
    c.send_ok(&data(1, 0, &[1; 400]));
    assert!(c.read().iter().all(|f| f.kind != WINDOW_UPDATE || f.stream == 0));
    c.expect_rst(&data(1, 0, &[2; 601]), 1, FLOW_CONTROL_ERROR);
    let evs = c.events();
    assert_eq!(evs.last(), Some(&Ev::Reset { stream: 1, code: ErrorCode::FlowControlError }), "{evs:?}");
    c.roundtrip(3);
}

#[test]
fn the_default_window_applies_until_our_settings_are_acked() {
    // §6.5.3: values take effect for the client only once it has processed them, which its ACK tells us.
    let mut c = Client::new(small_windows(1000));
    c.read();
    c.send_ok(&cat(&[PREFACE, &settings(&[])]));
    c.read();
    open_post(&mut c, 1);
    for _ in 0..3 {
        c.send_ok(&data(1, 0, &[0; 10_000]));
    }
    assert!(c.read().iter().all(|f| f.kind != RST_STREAM), "30,000 octets fit 65,535");
    assert_eq!(c.events().len(), 3);
    c.send_ok(&settings_ack());
    // Now the stream window is 1000 - 30000 + whatever was credited back; it must not be more than 1000.
    let f = c.expect_rst(&data(1, 0, &[0; 1001]), 1, FLOW_CONTROL_ERROR);
    assert_eq!(f.len(), 1);
}

#[test]
fn data_beyond_the_connection_window_is_flow_control_error() {
    let cfg = ConnConfig {
        connection_window_size: 65_535,
        initial_window_size: 1 << 20,
        max_frame_size: 1 << 20,
        ..ConnConfig::default()
    };
    let mut c = Client::connect(cfg.clone());
    open_post(&mut c, 1);
    c.send_ok(&data(1, 0, &vec![0; 65_535]));
    assert!(c.read().iter().all(|f| f.kind == WINDOW_UPDATE));

    let mut c = Client::connect(cfg);
    open_post(&mut c, 1);
    assert_eq!(c.expect_goaway(&data(1, 0, &vec![0; 65_536]), FLOW_CONTROL_ERROR), 1);
}

#[test]
fn padding_counts_against_the_window() {
    let mut c = Client::connect(small_windows(1000));
    open_post(&mut c, 1);
    // 1 (Pad Length) + 800 + 200 = 1001 > 1000, although the data alone would fit.
    c.expect_rst(&data_padded(1, 0, &[0; 800], 200), 1, FLOW_CONTROL_ERROR);
    c.events();

    open_post(&mut c, 3);
    // 1 + 300 + 255 = 556 octets of window used, and credited back as such.
    c.send_ok(&data_padded(3, 0, &[0; 300], 255));
    let f = c.read();
    let credited: u32 = f.iter().filter(|f| f.stream == 3).filter_map(|f| f.window_update()).sum();
    assert_eq!(credited, 556, "{f:?}");
    assert_eq!(c.events(), [Ev::Data { stream: 3, data: vec![0; 300], end_stream: false }]);
}

/// Uploads `size` bytes on stream 1 as a client that obeys flow control: it only sends what the server's windows
/// allow and only learns of new window from the server's WINDOW_UPDATEs. Returns the body the server delivered.
fn upload(cfg: ConnConfig, size: usize, frame_len: usize, pad: u8) -> Vec<u8> {
    let mut c = Client::connect(cfg.clone());
    let initial = c.server_settings.iter().rev().find(|p| p.0 == INITIAL_WINDOW_SIZE).map_or(65_535, |p| p.1);
    let mut conn_window = 65_535i64;
    let mut stream_window = i64::from(initial);
    let apply = |frames: Vec<OwnedFrame>, cw: &mut i64, sw: &mut i64| {
        for f in frames {
            assert!(f.kind != RST_STREAM && f.kind != GOAWAY, "{f:?}");
            if let Some(inc) = f.window_update() {
                *if f.stream == 0 { &mut *cw } else { &mut *sw } += i64::from(inc);
            }
        }
    };
    let frames = c.server_preface.clone();
    apply(frames, &mut conn_window, &mut stream_window);
    open_post(&mut c, 1);
    let body = pattern(size);
    let mut received = Vec::new();
    let mut sent = 0;
    while sent < size {
        let overhead = if pad > 0 { 1 + usize::from(pad) } else { 0 };
        let room = conn_window.min(stream_window) as usize;
        assert!(room > overhead, "upload stalled at {sent} of {size}: windows {conn_window}/{stream_window}");
        let n = (size - sent).min(frame_len).min(room - overhead);
        let last = sent + n == size;
        let flags = if last { END_STREAM } else { 0 };
        let chunk = &body[sent..sent + n];
        c.send_ok(&if pad > 0 { data_padded(1, flags, chunk, pad) } else { data(1, flags, chunk) });
        sent += n;
        conn_window -= (n + overhead) as i64;
        stream_window -= (n + overhead) as i64;
        let frames = c.read();
        apply(frames, &mut conn_window, &mut stream_window);
        for e in c.events() {
            match e {
                Ev::Data { stream: 1, data, end_stream } => {
                    received.extend(data);
                    assert_eq!(end_stream, last);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(received.len(), size);
    assert!(received == body, "body delivered intact");
    received
}

#[test]
fn long_uploads_never_stall() {
    upload(ConnConfig::default(), 10 << 20, 16_384, 0);
    upload(
        ConnConfig { initial_window_size: 5000, connection_window_size: 0, ..ConnConfig::default() },
        1 << 20,
        16_384,
        0,
    );
    upload(ConnConfig { initial_window_size: 3000, ..ConnConfig::default() }, 300_000, 1000, 100);
    upload(
        ConnConfig { initial_window_size: 65_535, connection_window_size: 65_535, ..ConnConfig::default() },
        2 << 20,
        7_000,
        9,
    );
}

#[test]
fn no_window_update_with_a_zero_increment() {
    // §6.9: a zero increment is an error for the receiver, so the server must never send one, whatever its config.
    for (stream, conn) in [(0, 0), (1, 1), (0, 1 << 20), (2, 3)] {
        let cfg = ConnConfig { initial_window_size: stream, connection_window_size: conn, ..ConnConfig::default() };
        let mut c = Client::connect(cfg);
        open_post(&mut c, 1);
        for _ in 0..3 {
            c.send_ok(&data(1, 0, b""));
        }
        if stream > 0 {
            c.send_ok(&data(1, 0, b"x"));
        }
        c.send_ok(&data(1, END_STREAM, b""));
        // `read` validates every frame with the frame decoder, which rejects a zero increment.
        let f = c.read();
        assert!(f.iter().all(|f| f.kind == WINDOW_UPDATE), "{f:?}");
        assert!(f.iter().all(|f| f.window_update() != Some(0)));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Send side

#[test]
fn response_stops_at_the_default_window_and_resumes_on_window_update() {
    let mut c = Client::connect(ConnConfig::default());
    open_get(&mut c, 1);
    let body = pattern(100_000);
    c.conn.send_response(1, 200, &[], Bytes::from(body.clone())).unwrap();
    let f = c.read();
    assert_eq!(data_len(&f), 65_535, "exactly the client's initial window");
    assert!(f.iter().all(|f| !f.end_stream()));
    assert!(!c.conn.has_output());
    let mut got: Vec<u8> = f.iter().filter(|f| f.is_data()).flat_map(|f| f.payload.clone()).collect();

    // The stream window alone is not enough: the connection window is spent too.
    c.send_ok(&window_update(1, 40_000));
    assert!(c.read().is_empty());
    c.send_ok(&window_update(0, 10_000));
    let f = c.read();
    assert_eq!(data_len(&f), 10_000);
    got.extend(f.iter().filter(|f| f.is_data()).flat_map(|f| f.payload.clone()));
    c.send_ok(&window_update(0, 1 << 20));
    let f = c.read();
    assert_eq!(data_len(&f), 100_000 - 75_535);
    assert!(f.last().unwrap().end_stream());
    got.extend(f.iter().filter(|f| f.is_data()).flat_map(|f| f.payload.clone()));
    assert!(got == body);
}

#[test]
fn initial_window_size_leaves_the_connection_window_alone() {
    // §6.9.2: "the connection flow-control window can only be changed using WINDOW_UPDATE frames".
    let mut c = Client::connect_with(ConnConfig::default(), &[(INITIAL_WINDOW_SIZE, 1 << 20)]);
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, &[], Bytes::from(vec![1; 100_000])).unwrap();
    assert_eq!(data_len(&c.read()), 65_535);
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 2 << 20)]));
    let f = c.read();
    assert_eq!((f.len(), data_len(&f)), (1, 0), "only the SETTINGS ACK");
}

#[test]
fn the_connection_window_is_shared_by_all_streams() {
    let mut c = Client::connect(ConnConfig::default());
    open_get(&mut c, 1);
    open_get(&mut c, 3);
    c.conn.send_response(1, 200, &[], Bytes::from(vec![1; 40_000])).unwrap();
    c.conn.send_response(3, 200, &[], Bytes::from(vec![3; 40_000])).unwrap();
    let f = c.read();
    assert_eq!(data_len(&f), 65_535);
    c.send_ok(&window_update(0, 14_465));
    let f = c.read();
    assert_eq!(data_len(&f), 14_465);
    assert_eq!(f.iter().filter(|f| f.end_stream()).count(), 2, "both complete");
}

#[test]
fn lowering_initial_window_size_mid_response_makes_the_window_negative() {
    let mut c = Client::connect(ConnConfig::default());
    c.send_ok(&window_update(0, 1 << 20));
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(100_000))).unwrap();
    assert_eq!(data_len(&c.read()), 65_535);

    // §6.9.2: 16,384 - 65,535 = -49,151.
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 16_384)]));
    assert_eq!(c.read().len(), 1, "only the ACK");
    c.send_ok(&window_update(1, 49_151));
    assert!(c.read().is_empty(), "the window is back to 0 only");
    c.send_ok(&window_update(1, 100));
    assert_eq!(data_len(&c.read()), 100);
    // Raising the setting raises the window by the difference (+20,000).
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 36_384)]));
    assert_eq!(data_len(&c.read()), 20_000);
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 1 << 20)]));
    let f = c.read();
    assert_eq!(data_len(&f), 100_000 - 85_635);
    assert!(f.iter().any(|f| f.end_stream()));
}

#[test]
fn initial_window_size_zero_sends_only_headers() {
    let mut c = Client::connect_with(ConnConfig::default(), &[(INITIAL_WINDOW_SIZE, 0)]);
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"body")).unwrap();
    let f = c.read();
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].kind, f[0].end_stream()), (HEADERS, false));
    c.send_ok(&window_update(1, 2));
    assert_eq!(c.read()[0].payload, b"bo");
    c.send_ok(&window_update(1, 2));
    let f = c.read();
    assert_eq!((f[0].payload.as_slice(), f[0].end_stream()), (&b"dy"[..], true));
}

#[test]
fn window_update_overflow() {
    // Stream: 65,535 + (2^31 - 1) overflows: stream error (§6.9.1).
    let mut c = Client::connect(ConnConfig::default());
    open_get(&mut c, 1);
    c.expect_rst(&window_update(1, MAX_WINDOW), 1, FLOW_CONTROL_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::FlowControlError }]);
    c.roundtrip(3);

    // Up to exactly 2^31 - 1 is fine; one more overflows.
    let mut c = Client::connect(ConnConfig::default());
    open_get(&mut c, 1);
    c.send_ok(&window_update(1, MAX_WINDOW - 65_535));
    c.send_ok(&window_update(0, MAX_WINDOW - 65_535));
    assert!(c.read().is_empty());
    c.expect_rst(&window_update(1, 1), 1, FLOW_CONTROL_ERROR);
    c.expect_goaway(&window_update(0, 1), FLOW_CONTROL_ERROR);

    let mut c = Client::connect(ConnConfig::default());
    c.expect_goaway(&window_update(0, MAX_WINDOW), FLOW_CONTROL_ERROR);
}

#[test]
fn initial_window_size_change_overflowing_a_stream_window_is_a_connection_error() {
    let mut c = Client::connect(ConnConfig::default());
    open_get(&mut c, 1);
    c.send_ok(&window_update(1, MAX_WINDOW - 65_535 - 10));
    // §6.9.2: the stream window would become 2^31 - 1 + 1.
    c.expect_goaway(&settings(&[(INITIAL_WINDOW_SIZE, 65_535 + 11)]), FLOW_CONTROL_ERROR);
}

#[test]
fn window_update_zero_increment() {
    let mut c = Client::connect(ConnConfig::default());
    open_post(&mut c, 1);
    c.expect_rst(&window_update(1, 0), 1, PROTOCOL_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::ProtocolError }]);
    c.roundtrip(3);
    c.expect_goaway(&window_update(0, 0), PROTOCOL_ERROR);
}

#[test]
fn window_update_of_wrong_length_is_frame_size_error() {
    for len in [3, 5] {
        let mut c = Client::connect(ConnConfig::default());
        c.expect_goaway(&frame(WINDOW_UPDATE, 0, 0, &vec![0; len]), FRAME_SIZE_ERROR);
    }
}

#[test]
fn larger_max_frame_size_gives_larger_data_frames() {
    let mut c =
        Client::connect_with(ConnConfig::default(), &[(MAX_FRAME_SIZE, 65_536), (INITIAL_WINDOW_SIZE, 1 << 20)]);
    c.send_ok(&window_update(0, 1 << 20));
    open_get(&mut c, 1);
    let body = pattern(200_000);
    c.conn.send_response(1, 200, &[], Bytes::from(body.clone())).unwrap();
    let f = c.read_with(1 << 20);
    let sizes: Vec<usize> = f.iter().filter(|f| f.is_data()).map(|f| f.payload.len()).collect();
    // `read` asserts no frame exceeds 65,536.
    assert_eq!(sizes, [65_536, 65_536, 65_536, 200_000 - 3 * 65_536]);
    assert_eq!(response_of(&f, 1), (Some(200), body, true));
}

#[test]
fn default_max_frame_size_splits_data_and_large_header_blocks() {
    let mut c = Client::connect_with(ConnConfig::default(), &[(INITIAL_WINDOW_SIZE, 1 << 20)]);
    c.send_ok(&window_update(0, 1 << 20));
    open_get(&mut c, 1);
    let big = "v".repeat(40_000);
    c.conn.send_response(1, 200, &[(b"x-big", big.as_bytes())], Bytes::from(pattern(50_000))).unwrap();
    let f = c.read();
    let kinds: Vec<u8> = f.iter().map(|f| f.kind).collect();
    assert_eq!(&kinds[..3], [HEADERS, CONTINUATION, CONTINUATION], "40 KB of header block in 16 KB frames");
    assert_eq!(f[0].flags & END_HEADERS, 0);
    assert_eq!(f[2].flags & END_HEADERS, END_HEADERS);
    let fields = f[2].fields.as_ref().unwrap();
    assert!(fields.contains(&("x-big".to_string(), big)));
    assert!(f.iter().filter(|f| f.is_data()).all(|f| f.payload.len() <= 16_384));
    assert_eq!(response_of(&f, 1).1, pattern(50_000));
}

#[test]
fn tiny_output_buffers_still_give_valid_frames() {
    for size in [10, 17, 100, 1000] {
        let mut c = Client::connect(ConnConfig::default());
        c.send_ok(&ping(0, [5; 8]));
        open_get(&mut c, 1);
        open_get(&mut c, 3);
        c.conn.send_response(1, 200, &[(b"x-a", b"aaaa")], Bytes::from(pattern(20_000))).unwrap();
        c.conn.send_response(3, 404, &[], Bytes::from(vec![3; 3000])).unwrap();
        let f = c.read_with(size);
        assert!(f.iter().filter(|f| f.is_data()).all(|f| f.payload.len() <= size - 9), "dst {size}");
        assert!(f.iter().any(|f| f.kind == PING && f.flags == ACK && f.payload == [5; 8]));
        assert_eq!(response_of(&f, 1), (Some(200), pattern(20_000), true), "dst {size}");
        assert_eq!(response_of(&f, 3), (Some(404), vec![3; 3000], true), "dst {size}");
    }
}

#[test]
fn concurrent_responses_are_interleaved() {
    let mut c = Client::connect_with(ConnConfig::default(), &[(INITIAL_WINDOW_SIZE, 1 << 20)]);
    c.send_ok(&window_update(0, 1 << 20));
    for id in [1, 3, 5] {
        open_get(&mut c, id);
    }
    for id in [1, 3, 5] {
        c.conn.send_response(id, 200, &[], Bytes::from(vec![id as u8; 64 << 10])).unwrap();
    }
    let f = c.read();
    let order: Vec<u32> = f.iter().filter(|f| f.is_data()).map(|f| f.stream).collect();
    let mut first = order[..3].to_vec();
    first.sort();
    assert_eq!(first, [1, 3, 5], "the first DATA frames go to different streams: {order:?}");
    for w in order.windows(2) {
        assert_ne!(w[0], w[1], "one stream monopolised the connection: {order:?}");
    }
    for id in [1, 3, 5] {
        assert_eq!(response_of(&f, id).1, vec![id as u8; 64 << 10]);
    }
}

#[test]
fn the_body_is_sent_exactly_and_released() {
    let mut c = Client::connect(ConnConfig::default());
    c.send_ok(&window_update(0, 1 << 20));
    open_get(&mut c, 1);
    let page = Bytes::from(pattern(70_000));
    let body = page.slice(1000..61_000);
    c.conn.send_response(1, 200, &[], body.clone()).unwrap();
    drop(body);
    let f = c.read();
    assert_eq!(response_of(&f, 1), (Some(200), pattern(70_000)[1000..61_000].to_vec(), true));
    assert!(page.is_unique(), "the connection keeps no reference to a body it has sent");

    // A reset stream releases its body too.
    open_get(&mut c, 3);
    let page = Bytes::from(pattern(200_000));
    c.conn.send_response(3, 200, &[], page.clone()).unwrap();
    assert_eq!(data_len(&c.read()), 65_535);
    assert!(!page.is_unique());
    c.send_ok(&rst_stream(3, CANCEL));
    c.events();
    assert!(page.is_unique(), "dropped with the stream");
}
