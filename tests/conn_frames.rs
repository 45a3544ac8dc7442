//! RFC 9113 conformance of `Connection`: frame-format details (§4.1 reserved bits and undefined flags, frames on
//! the wrong stream, padding §6.1/§6.2), SETTINGS processed in order (§6.5.3) with the HPACK table size sequence
//! it implies (RFC 7541 §4.2), and the application's own resets and aborts.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::ConnConfig;
use h2ring::h2::error::ErrorCode;

fn connect() -> Client {
    Client::connect(ConnConfig::default())
}

fn open_get(c: &mut Client, id: u32) {
    c.send_ok(&headers(id, END_HEADERS | END_STREAM, &hp::get("/")));
    assert!(matches!(&c.events()[..], [Ev::Request(r)] if r.stream == id));
}

#[test]
fn connection_frames_on_a_stream_and_stream_frames_on_zero() {
    let cases = [
        ("DATA on stream 0", data(0, 0, b"x")),
        ("GOAWAY on a stream", frame(GOAWAY, 0, 1, &[0, 0, 0, 0, 0, 0, 0, 0])),
        ("PRIORITY on stream 0", priority(0, 1, 1)),
    ];
    for (what, f) in cases {
        let mut c = connect();
        c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
        let err = c.send(&f).expect_err(what);
        assert_eq!(err.code.to_u32(), PROTOCOL_ERROR, "{what}");
        assert_eq!(c.read().last().and_then(|f| f.goaway()), Some((1, PROTOCOL_ERROR)), "{what}");
    }
}

#[test]
fn reserved_bits_are_ignored() {
    let mut c = connect();
    // §4.1: the R bit of the stream identifier "MUST be ignored when receiving".
    c.send_ok(&headers(0x8000_0001, END_HEADERS | END_STREAM, &hp::get("/r")));
    let evs = c.events();
    assert!(matches!(&evs[..], [Ev::Request(r)] if r.stream == 1), "{evs:?}");
    c.conn.send_response(1, 200, &[], Bytes::from(vec![0; 70_000])).unwrap();
    assert_eq!(data_len(&c.read()), 65_535);
    // §6.9: WINDOW_UPDATE's reserved bit too: these are increments of 1000.
    c.send_ok(&window_update(0x8000_0001, 0x8000_0000 | 1000));
    c.send_ok(&window_update(0, 0x8000_0000 | 1000));
    assert_eq!(data_len(&c.read()), 1000);
}

#[test]
fn undefined_flags_are_ignored() {
    let mut c = connect();
    // HEADERS defines 0x1, 0x4, 0x8, 0x20: 0x40, 0x80, 0x02 mean nothing.
    c.send_ok(&headers(1, 0xc2 | END_HEADERS, &hp::post("/")));
    // DATA defines 0x1, 0x8.
    c.send_ok(&data(1, 0xf6, b"abc"));
    let evs = c.events();
    assert!(
        matches!(&evs[..], [Ev::Request(r), Ev::Data { data, end_stream: false, .. }] if !r.end_stream && data == b"abc")
    );
    c.send_ok(&ping(0xfe, [4; 8]));
    c.send_ok(&frame(SETTINGS, 0xfe, 0, &[]));
    c.send_ok(&frame(WINDOW_UPDATE, 0xff, 0, &1u32.to_be_bytes()));
    c.send_ok(&frame(PRIORITY, 0xff, 3, &[0, 0, 0, 0, 1]));
    let f = c.read();
    let kinds: Vec<_> = f.iter().map(|f| (f.kind, f.flags)).collect();
    assert_eq!(kinds, [(PING, ACK), (SETTINGS, ACK)], "a PING and a SETTINGS without ACK are answered");
    c.send_ok(&frame(RST_STREAM, 0xff, 1, &CANCEL.to_be_bytes()));
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::Cancel }]);
    c.roundtrip(3);
}

#[test]
fn padding_errors() {
    // §6.1 / §6.2: padding as long as the payload (Pad Length octet included) or longer: PROTOCOL_ERROR.
    let cases = [
        ("DATA pad = payload", frame(DATA, PADDED, 1, &[4, 0, 0, 0])),
        ("DATA pad > payload", frame(DATA, PADDED, 1, &[200, 1, 2])),
        ("HEADERS pad > block", frame(HEADERS, PADDED | END_HEADERS, 3, &[10, 0x82])),
    ];
    for (what, f) in cases {
        let mut c = connect();
        c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
        let err = c.send(&f).expect_err(what);
        assert_eq!(err.code.to_u32(), PROTOCOL_ERROR, "{what}: {err}");
    }
    // §4.2: no room for the Pad Length octet itself.
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&frame(DATA, PADDED, 1, &[]), FRAME_SIZE_ERROR);
    // Padding that leaves no data at all is fine.
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.events();
    c.send_ok(&frame(DATA, PADDED | END_STREAM, 1, &[3, 0, 0, 0]));
    assert_eq!(c.events(), [Ev::Data { stream: 1, data: vec![], end_stream: true }]);
}

#[test]
fn settings_are_processed_in_order() {
    // §6.5.3: "the values in the SETTINGS frame MUST be processed in the order they appear": the last one wins.
    let mut c = connect();
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 100), (MAX_FRAME_SIZE, 65_536), (INITIAL_WINDOW_SIZE, 0)]));
    c.max_frame_size = 65_536;
    c.read();
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, &[], Bytes::from(vec![1; 100_000])).unwrap();
    let f = c.read();
    assert_eq!(data_len(&f), 0, "the stream window is 0, not 100");

    let mut c = connect();
    c.send_ok(&settings(&[(MAX_FRAME_SIZE, 65_536), (INITIAL_WINDOW_SIZE, 1 << 20), (MAX_FRAME_SIZE, 16_384)]));
    c.send_ok(&window_update(0, 1 << 20));
    c.read();
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, &[], Bytes::from(vec![1; 100_000])).unwrap();
    // `read` checks every frame against 16,384.
    assert_eq!(data_len(&c.read_with(1 << 20)), 100_000);
}

#[test]
fn table_size_lowered_then_raised_signals_both() {
    // RFC 7541 §4.2: the smallest maximum since the last block, then the final one.
    let mut c = connect();
    let fields: &[(&[u8], &[u8])] = &[(b"x-custom", b"v")];
    open_get(&mut c, 1);
    c.conn.send_response(1, 200, fields, Bytes::new()).unwrap();
    c.read();
    c.send_ok(&settings(&[(HEADER_TABLE_SIZE, 0)]));
    c.send_ok(&settings(&[(HEADER_TABLE_SIZE, 4096)]));
    assert_eq!(c.read().len(), 2);
    c.decoder.set_max_table_size(0);
    c.decoder.set_max_table_size(4096);
    open_get(&mut c, 3);
    c.conn.send_response(3, 200, fields, Bytes::new()).unwrap();
    let f = c.read();
    let reprs = hp::representations(f[0].block.as_ref().unwrap());
    assert_eq!(reprs[0], hp::Repr::SizeUpdate(0), "{reprs:?}");
    assert!(matches!(reprs[1], hp::Repr::SizeUpdate(n) if n > 0), "{reprs:?}");
}

#[test]
fn window_update_on_a_closed_stream_is_not_an_error() {
    // §6.9: it may cross our END_STREAM; "A receiver MUST NOT treat this as an error".
    let mut c = connect();
    c.roundtrip(1);
    c.send_ok(&window_update(1, 100));
    assert!(c.read().is_empty());
    c.roundtrip(3);
}

#[test]
fn application_reset_and_abort() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.events();
    c.conn.reset_stream(1, ErrorCode::Cancel);
    let f = c.read();
    assert_eq!((f.len(), f[0].stream, f[0].rst()), (1, 1, Some(CANCEL)));
    assert!(c.events().is_empty(), "the application asked for it: no event");
    c.send_ok(&data(1, END_STREAM, b"late"));
    assert!(c.read().is_empty(), "frames after our RST_STREAM are ignored");
    c.send_ok(&headers(3, END_HEADERS, &hp::post("/")));
    c.conn.abort(ErrorCode::EnhanceYourCalm, "timeout");
    assert!(c.send(&data(3, 0, b"x")).is_err());
    let f = c.read();
    assert_eq!(f.last().and_then(|f| f.goaway()), Some((3, ENHANCE_YOUR_CALM)));
    assert!(c.conn.is_closed());
}

#[test]
fn out_of_range_config_is_clamped_to_what_the_wire_carries() {
    use h2ring::h2::conn::{ConnConfig, Connection};
    use h2ring::h2::frame::{FRAME_HEADER_LEN, Frame, FrameHeader, SettingId};
    let cfg = ConnConfig {
        initial_window_size: u32::MAX,
        connection_window_size: u32::MAX,
        max_frame_size: 1,
        ..ConnConfig::default()
    };
    let mut conn = Connection::new(cfg);
    let mut out = vec![0u8; 1024];
    let n = conn.write_output(&mut out);
    let mut at = 0;
    let mut seen = 0;
    while at < n {
        let header = FrameHeader::parse(out[at..at + FRAME_HEADER_LEN].try_into().unwrap());
        let payload = &out[at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + header.length as usize];
        match Frame::decode(&header, payload).expect("a valid frame") {
            Frame::Settings { params, .. } => {
                for (id, v) in params.iter() {
                    match id {
                        SettingId::InitialWindowSize => assert_eq!(v, (1 << 31) - 1),
                        SettingId::MaxFrameSize => assert_eq!(v, 16_384),
                        _ => {}
                    }
                }
                seen += 1;
            }
            Frame::WindowUpdate { stream_id: 0, increment } => {
                assert_eq!(increment, (1 << 31) - 1 - 65_535);
                seen += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        at += FRAME_HEADER_LEN + header.length as usize;
    }
    assert_eq!(seen, 2);
}
