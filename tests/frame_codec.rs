//! Frame codec conformance tests (RFC 9113 §4, §6).
//!
//! Wire bytes are typed in by hand from the RFC's layouts, never produced by our encoder, so encoder and decoder
//! cannot agree on a shared mistake.

use h2ring::h2::error::{ErrorCode, ErrorScope, H2Error};
use h2ring::h2::frame::*;

/// Split hand-written wire bytes into header and payload (asserting the typed length is right) and decode.
fn decode(wire: &[u8]) -> Result<Frame<'_>, H2Error> {
    let (head, payload) = wire.split_first_chunk::<FRAME_HEADER_LEN>().expect("9-octet header");
    let header = FrameHeader::parse(head);
    assert_eq!(header.length as usize, payload.len(), "test bytes: length field disagrees with payload");
    Frame::decode(&header, payload)
}

fn encode(f: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode(&mut out);
    out
}

fn encode_padded(f: &Frame<'_>, pad: u8) -> Vec<u8> {
    let mut out = Vec::new();
    f.encode_padded(pad, &mut out);
    out
}

/// Decode, and check that re-encoding (with the given padding) reproduces the exact bytes.
fn decode_exact(wire: &[u8], pad: Option<u8>) -> Frame<'_> {
    let f = decode(wire).expect("valid frame");
    let again = match pad {
        None => encode(&f),
        Some(p) => encode_padded(&f, p),
    };
    assert_eq!(again, wire, "re-encoding {f:?}");
    f
}

const CONN: ErrorScope = ErrorScope::Connection;

// ---------------------------------------------------------------------------------------------------------------
// Frame header (§4.1, §4.2)

#[test]
fn header_parse_encode() {
    let wire = [0x00, 0x01, 0x02, 0x01, 0x05, 0x00, 0x00, 0x00, 0x03];
    let h = FrameHeader::parse(&wire);
    assert_eq!(h, FrameHeader { length: 0x102, kind: FrameType::Headers, flags: 0x5, stream_id: 3 });
    assert_eq!(h.encode(), wire);
}

#[test]
fn header_reserved_bit_ignored_and_never_sent() {
    let h = FrameHeader::parse(&[0, 0, 0, 0x8, 0, 0x80, 0, 0, 0x01]);
    assert_eq!(h.stream_id, 1);
    let h = FrameHeader::parse(&[0, 0, 0, 0x8, 0, 0x80, 0, 0, 0]);
    assert_eq!(h.stream_id, 0, "reserved bit alone is stream 0");
    let h = FrameHeader { length: 0, kind: FrameType::Data, flags: 0, stream_id: 0xffff_ffff };
    assert_eq!(h.encode(), [0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn header_24_bit_length_and_unknown_type() {
    let h = FrameHeader::parse(&[0xff, 0xff, 0xff, 0xfa, 0xff, 0x7f, 0xff, 0xff, 0xff]);
    assert_eq!(h.length, MAX_ALLOWED_FRAME_SIZE);
    assert_eq!(h.kind, FrameType::Unknown(0xfa));
    assert_eq!(h.flags, 0xff);
    assert_eq!(h.stream_id, 0x7fff_ffff);
    assert_eq!(h.encode(), [0xff, 0xff, 0xff, 0xfa, 0xff, 0x7f, 0xff, 0xff, 0xff]);
}

#[test]
fn header_check_size() {
    let at = FrameHeader::parse(&[0x00, 0x40, 0x00, 0x0, 0, 0, 0, 0, 1]);
    assert_eq!(at.check_size(DEFAULT_MAX_FRAME_SIZE), Ok(()));
    let over = FrameHeader::parse(&[0x00, 0x40, 0x01, 0x0, 0, 0, 0, 0, 1]);
    let e = over.check_size(DEFAULT_MAX_FRAME_SIZE).unwrap_err();
    assert_eq!((e.scope, e.code), (CONN, ErrorCode::FrameSizeError));
    // Connection error for every type, even ones that could be a stream error (§4.2 permits it).
    let prio = FrameHeader::parse(&[0x00, 0x40, 0x01, 0x2, 0, 0, 0, 0, 1]);
    assert_eq!(prio.check_size(DEFAULT_MAX_FRAME_SIZE).unwrap_err().scope, CONN);
    let max = FrameHeader::parse(&[0xff, 0xff, 0xff, 0x0, 0, 0, 0, 0, 1]);
    assert_eq!(max.check_size(MAX_ALLOWED_FRAME_SIZE), Ok(()));
}

#[test]
fn constants() {
    assert_eq!(CONNECTION_PREFACE, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(MAX_ALLOWED_FRAME_SIZE, (1 << 24) - 1);
    assert_eq!(MAX_WINDOW_SIZE, (1 << 31) - 1);
    assert_eq!((flags::END_STREAM, flags::ACK, flags::END_HEADERS, flags::PADDED, flags::PRIORITY), (1, 1, 4, 8, 0x20));
}

// ---------------------------------------------------------------------------------------------------------------
// Byte-exact decode of hand-written frames (§6.1 – §6.10)

#[test]
fn data_plain() {
    let wire = [0, 0, 5, 0x0, 0x1, 0, 0, 0, 1, b'h', b'e', b'l', b'l', b'o'];
    let f = decode_exact(&wire, None);
    assert_eq!(f, Frame::Data { stream_id: 1, end_stream: true, data: b"hello", flow_len: 5 });
    assert_eq!(f.stream_id(), 1);
}

#[test]
fn data_padded() {
    // Pad Length 3, "hello", 3 zero octets; END_STREAM | PADDED.
    let wire = [0, 0, 9, 0x0, 0x9, 0, 0, 0, 3, 3, b'h', b'e', b'l', b'l', b'o', 0, 0, 0];
    let f = decode_exact(&wire, Some(3));
    // flow_len counts the Pad Length octet and the padding (§6.1).
    assert_eq!(f, Frame::Data { stream_id: 3, end_stream: true, data: b"hello", flow_len: 9 });
}

#[test]
fn data_padding_may_fill_the_whole_payload() {
    // §6.1: only padding "the length of the frame payload or greater" is an error; 3 of 4 octets is fine.
    let wire = [0, 0, 4, 0x0, 0x8, 0, 0, 0, 1, 3, 0, 0, 0];
    let f = decode_exact(&wire, Some(3));
    assert_eq!(f, Frame::Data { stream_id: 1, end_stream: false, data: b"", flow_len: 4 });
    // PADDED with a zero Pad Length.
    let wire = [0, 0, 1, 0x0, 0x8, 0, 0, 0, 1, 0];
    assert_eq!(decode_exact(&wire, Some(0)), Frame::Data { stream_id: 1, end_stream: false, data: b"", flow_len: 1 });
}

#[test]
fn unknown_flags_are_ignored() {
    // 0xf6 sets every bit except END_STREAM and PADDED: a plain DATA frame (§4.1: unused flags MUST be ignored).
    let wire = [0, 0, 2, 0x0, 0xf6, 0, 0, 0, 1, b'h', b'i'];
    assert_eq!(decode(&wire), Ok(Frame::Data { stream_id: 1, end_stream: false, data: b"hi", flow_len: 2 }));
    // PING with every flag: only ACK matters.
    let wire = [0, 0, 8, 0x6, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(decode(&wire), Ok(Frame::Ping { ack: true, payload: [0; 8] }));
}

#[test]
fn headers_plain() {
    let wire = [0, 0, 3, 0x1, 0x4, 0, 0, 0, 1, 0x82, 0x86, 0x84];
    let f = decode_exact(&wire, None);
    let want = Frame::Headers {
        stream_id: 1,
        end_stream: false,
        end_headers: true,
        priority: None,
        fragment: &[0x82, 0x86, 0x84],
    };
    assert_eq!(f, want);
}

#[test]
fn headers_priority() {
    // END_STREAM | END_HEADERS | PRIORITY; E=1, dependency 3, weight 15.
    let wire = [0, 0, 8, 0x1, 0x25, 0, 0, 0, 5, 0x80, 0, 0, 3, 15, 0x82, 0x86, 0x84];
    let f = decode_exact(&wire, None);
    let want = Frame::Headers {
        stream_id: 5,
        end_stream: true,
        end_headers: true,
        priority: Some(PrioritySpec { exclusive: true, dependency: 3, weight: 15 }),
        fragment: &[0x82, 0x86, 0x84],
    };
    assert_eq!(f, want);
}

#[test]
fn headers_padded() {
    // END_HEADERS | PADDED; Pad Length 4.
    let wire = [0, 0, 8, 0x1, 0x0c, 0, 0, 0, 9, 4, 0x82, 0x86, 0x84, 0, 0, 0, 0];
    let f = decode_exact(&wire, Some(4));
    let want = Frame::Headers {
        stream_id: 9,
        end_stream: false,
        end_headers: true,
        priority: None,
        fragment: &[0x82, 0x86, 0x84],
    };
    assert_eq!(f, want);
}

#[test]
fn headers_padded_and_priority() {
    // END_HEADERS | PADDED | PRIORITY; Pad Length 2, E=0, dependency 0, weight 255, fragment, 2 padding octets.
    let wire = [0, 0, 11, 0x1, 0x2c, 0, 0, 0, 7, 2, 0, 0, 0, 0, 255, 0x82, 0x86, 0x84, 0, 0];
    let f = decode_exact(&wire, Some(2));
    let want = Frame::Headers {
        stream_id: 7,
        end_stream: false,
        end_headers: true,
        priority: Some(PrioritySpec { exclusive: false, dependency: 0, weight: 255 }),
        fragment: &[0x82, 0x86, 0x84],
    };
    assert_eq!(f, want);
    // §6.2: padding may take everything after the priority fields (empty fragment).
    let wire = [0, 0, 9, 0x1, 0x28, 0, 0, 0, 7, 3, 0, 0, 0, 1, 9, 0, 0, 0];
    let want = Frame::Headers {
        stream_id: 7,
        end_stream: false,
        end_headers: false,
        priority: Some(PrioritySpec { exclusive: false, dependency: 1, weight: 9 }),
        fragment: &[],
    };
    assert_eq!(decode_exact(&wire, Some(3)), want);
}

#[test]
fn priority() {
    let wire = [0, 0, 5, 0x2, 0, 0, 0, 0, 5, 0x80, 0, 0, 1, 16];
    let want = Frame::Priority { stream_id: 5, spec: PrioritySpec { exclusive: true, dependency: 1, weight: 16 } };
    assert_eq!(decode_exact(&wire, None), want);
    // Reserved bit of the stream id set: ignored.
    let wire = [0, 0, 5, 0x2, 0, 0x80, 0, 0, 5, 0x80, 0, 0, 1, 16];
    assert_eq!(decode(&wire), Ok(want));
}

#[test]
fn rst_stream() {
    let wire = [0, 0, 4, 0x3, 0, 0, 0, 0, 1, 0, 0, 0, 8];
    assert_eq!(decode_exact(&wire, None), Frame::RstStream { stream_id: 1, code: ErrorCode::Cancel });
    // Unknown error codes are kept (§7).
    let wire = [0, 0, 4, 0x3, 0, 0, 0, 0, 1, 0, 0, 0x12, 0x34];
    assert_eq!(decode_exact(&wire, None), Frame::RstStream { stream_id: 1, code: ErrorCode::Unknown(0x1234) });
}

#[test]
fn settings() {
    #[rustfmt::skip]
    let wire = [
        0, 0, 24, 0x4, 0, 0, 0, 0, 0,
        0x00, 0x01, 0x00, 0x00, 0x10, 0x00, // HEADER_TABLE_SIZE 4096
        0x00, 0x03, 0x00, 0x00, 0x00, 0x64, // MAX_CONCURRENT_STREAMS 100
        0x00, 0x08, 0x00, 0x00, 0x00, 0x01, // ENABLE_CONNECT_PROTOCOL 1
        0x00, 0x0a, 0xff, 0xff, 0xff, 0xff, // unknown id 0xa: kept, value unchecked
    ];
    let f = decode_exact(&wire, None);
    let Frame::Settings { ack: false, params } = f else { panic!("{f:?}") };
    assert!(!params.is_empty());
    let got: Vec<_> = params.iter().collect();
    assert_eq!(
        got,
        [
            (SettingId::HeaderTableSize, 4096),
            (SettingId::MaxConcurrentStreams, 100),
            (SettingId::EnableConnectProtocol, 1),
            (SettingId::Unknown(0xa), u32::MAX),
        ]
    );
    assert_eq!(f.stream_id(), 0);
}

#[test]
fn settings_boundary_values_accepted() {
    #[rustfmt::skip]
    let wire = [
        0, 0, 30, 0x4, 0, 0, 0, 0, 0,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // ENABLE_PUSH 0
        0x00, 0x04, 0x7f, 0xff, 0xff, 0xff, // INITIAL_WINDOW_SIZE 2^31-1
        0x00, 0x05, 0x00, 0x00, 0x40, 0x00, // MAX_FRAME_SIZE 2^14
        0x00, 0x05, 0x00, 0xff, 0xff, 0xff, // MAX_FRAME_SIZE 2^24-1
        0x00, 0x06, 0xff, 0xff, 0xff, 0xff, // MAX_HEADER_LIST_SIZE (no limit)
    ];
    assert!(decode_exact(&wire, None).stream_id() == 0);
}

#[test]
fn settings_empty_and_ack() {
    let wire = [0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let f = decode_exact(&wire, None);
    assert!(matches!(f, Frame::Settings { ack: false, params } if params.is_empty()));
    let wire = [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0];
    assert_eq!(decode_exact(&wire, None), Frame::Settings { ack: true, params: SettingsParams::EMPTY });
}

#[test]
fn push_promise() {
    // END_HEADERS; promised stream 2 with the reserved bit set (ignored).
    let wire = [0, 0, 7, 0x5, 0x4, 0, 0, 0, 1, 0x80, 0, 0, 2, 0x82, 0x87, 0x85];
    let want =
        Frame::PushPromise { stream_id: 1, end_headers: true, promised_stream_id: 2, fragment: &[0x82, 0x87, 0x85] };
    assert_eq!(decode(&wire), Ok(want));
    // The encoder never sets the reserved bit.
    assert_eq!(encode(&want), [0, 0, 7, 0x5, 0x4, 0, 0, 0, 1, 0, 0, 0, 2, 0x82, 0x87, 0x85]);
}

#[test]
fn push_promise_padded() {
    // PADDED only (no END_HEADERS); Pad Length 1.
    let wire = [0, 0, 9, 0x5, 0x8, 0, 0, 0, 3, 1, 0, 0, 0, 4, 0x82, 0x87, 0x85, 0];
    let want =
        Frame::PushPromise { stream_id: 3, end_headers: false, promised_stream_id: 4, fragment: &[0x82, 0x87, 0x85] };
    assert_eq!(decode_exact(&wire, Some(1)), want);
}

#[test]
fn ping() {
    let wire = [0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    assert_eq!(decode_exact(&wire, None), Frame::Ping { ack: false, payload: [1, 2, 3, 4, 5, 6, 7, 8] });
    let wire = [0, 0, 8, 0x6, 0x1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    assert_eq!(decode_exact(&wire, None), Frame::Ping { ack: true, payload: [1, 2, 3, 4, 5, 6, 7, 8] });
}

#[test]
fn goaway() {
    let wire = [0, 0, 13, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, b'o', b'o', b'p', b's', b'!'];
    let want = Frame::GoAway { last_stream_id: 7, code: ErrorCode::InternalError, debug_data: b"oops!" };
    assert_eq!(decode_exact(&wire, None), want);
    // Reserved bit of Last-Stream-ID ignored, unknown code kept, no debug data.
    let wire = [0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0xff];
    let want = Frame::GoAway { last_stream_id: 0, code: ErrorCode::Unknown(0xff), debug_data: b"" };
    assert_eq!(decode(&wire), Ok(want));
}

#[test]
fn window_update() {
    let wire = [0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0, 0x40, 0];
    assert_eq!(decode_exact(&wire, None), Frame::WindowUpdate { stream_id: 0, increment: 16_384 });
    let wire = [0, 0, 4, 0x8, 0, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff];
    assert_eq!(decode_exact(&wire, None), Frame::WindowUpdate { stream_id: 1, increment: MAX_WINDOW_SIZE });
    // Reserved bit ignored (§6.9).
    let wire = [0, 0, 4, 0x8, 0, 0, 0, 0, 1, 0x80, 0, 0, 1];
    assert_eq!(decode(&wire), Ok(Frame::WindowUpdate { stream_id: 1, increment: 1 }));
}

#[test]
fn continuation() {
    let wire = [0, 0, 2, 0x9, 0x4, 0, 0, 0, 1, 0x84, 0x82];
    assert_eq!(
        decode_exact(&wire, None),
        Frame::Continuation { stream_id: 1, end_headers: true, fragment: &[0x84, 0x82] }
    );
    let wire = [0, 0, 0, 0x9, 0x0, 0, 0, 0, 1];
    assert_eq!(decode_exact(&wire, None), Frame::Continuation { stream_id: 1, end_headers: false, fragment: &[] });
}

#[test]
fn unknown_type_is_not_an_error() {
    // Type 0xb with arbitrary flags: kept, flags and payload preserved (§4.1, §5.5).
    let wire = [0, 0, 3, 0x0b, 0xff, 0, 0, 0, 7, 1, 2, 3];
    let want = Frame::Unknown { kind: 0x0b, stream_id: 7, flags: 0xff, payload: &[1, 2, 3] };
    assert_eq!(decode_exact(&wire, None), want);
    let wire = [0, 0, 0, 0xff, 0, 0, 0, 0, 0];
    assert_eq!(decode_exact(&wire, None), Frame::Unknown { kind: 0xff, stream_id: 0, flags: 0, payload: &[] });
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips decode(encode(f)) == f

fn round_trip(f: Frame<'_>) {
    let wire = encode(&f);
    assert_eq!(decode(&wire), Ok(f), "wire {wire:02x?}");
}

fn round_trip_padded(f: Frame<'_>, pad: u8) {
    let wire = encode_padded(&f, pad);
    assert_eq!(wire[4] & flags::PADDED, flags::PADDED);
    assert_eq!(decode(&wire), Ok(f), "pad {pad}, wire {wire:02x?}");
}

#[test]
fn round_trip_all_types() {
    let settings_raw = [0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x12, 0x34, 0, 0, 0, 0];
    let params = SettingsParams::parse(&settings_raw).unwrap();
    let spec = PrioritySpec { exclusive: true, dependency: 0x7fff_fffe, weight: 0 };
    let frames = [
        Frame::Data { stream_id: 1, end_stream: false, data: b"body", flow_len: 4 },
        Frame::Data { stream_id: 0x7fff_ffff, end_stream: true, data: b"", flow_len: 0 },
        Frame::Headers { stream_id: 3, end_stream: true, end_headers: false, priority: None, fragment: b"\x82" },
        Frame::Headers { stream_id: 3, end_stream: false, end_headers: true, priority: Some(spec), fragment: b"" },
        Frame::Priority { stream_id: 5, spec },
        Frame::RstStream { stream_id: 5, code: ErrorCode::RefusedStream },
        Frame::RstStream { stream_id: 5, code: ErrorCode::Unknown(0xdead_beef) },
        Frame::Settings { ack: false, params },
        Frame::Settings { ack: false, params: SettingsParams::EMPTY },
        Frame::Settings { ack: true, params: SettingsParams::EMPTY },
        Frame::PushPromise { stream_id: 1, end_headers: true, promised_stream_id: 2, fragment: b"\x82\x84" },
        Frame::Ping { ack: true, payload: *b"12345678" },
        Frame::GoAway { last_stream_id: 0x7fff_ffff, code: ErrorCode::EnhanceYourCalm, debug_data: b"calm" },
        Frame::WindowUpdate { stream_id: 0, increment: MAX_WINDOW_SIZE },
        Frame::WindowUpdate { stream_id: 9, increment: 1 },
        Frame::Continuation { stream_id: 3, end_headers: true, fragment: b"\x84" },
        Frame::Unknown { kind: 0x10, stream_id: 4, flags: 0xaa, payload: b"ext" },
    ];
    for f in frames {
        round_trip(f);
        // Padding is ignored by the non-paddable types; DATA's flow_len grows by Pad Length + padding.
        let padded = match f {
            Frame::Data { stream_id, end_stream, data, flow_len } => {
                Frame::Data { stream_id, end_stream, data, flow_len: flow_len + 1 + 200 }
            }
            other => other,
        };
        let mut out = Vec::new();
        f.encode_padded(200, &mut out);
        assert_eq!(decode(&out), Ok(padded), "{f:?} padded");
    }
}

#[test]
fn round_trip_padded_variants() {
    for pad in [0u8, 1, 7, 255] {
        let flow_len = 5 + 1 + u32::from(pad);
        round_trip_padded(Frame::Data { stream_id: 1, end_stream: true, data: b"hello", flow_len }, pad);
        let spec = Some(PrioritySpec { exclusive: false, dependency: 1, weight: 200 });
        for priority in [None, spec] {
            let f =
                Frame::Headers { stream_id: 3, end_stream: true, end_headers: true, priority, fragment: b"\x82\x86" };
            round_trip_padded(f, pad);
        }
        let f = Frame::PushPromise { stream_id: 3, end_headers: false, promised_stream_id: 8, fragment: b"" };
        round_trip_padded(f, pad);
    }
}

#[test]
fn non_paddable_types_ignore_padding() {
    let f = Frame::Ping { ack: false, payload: [9; 8] };
    assert_eq!(encode_padded(&f, 10), encode(&f));
    let f = Frame::Continuation { stream_id: 1, end_headers: true, fragment: b"x" };
    assert_eq!(encode_padded(&f, 10), encode(&f));
}

// ---------------------------------------------------------------------------------------------------------------
// Error rules: exact scope and code

#[track_caller]
fn expect_err(wire: &[u8], scope: ErrorScope, code: ErrorCode) {
    match decode(wire) {
        Err(e) => assert_eq!((e.scope, e.code), (scope, code), "{wire:02x?}: {e}"),
        Ok(f) => panic!("{wire:02x?} decoded as {f:?}, expected {code} ({scope:?})"),
    }
}

#[test]
fn stream_frames_on_stream_zero() {
    use ErrorCode::ProtocolError as P;
    expect_err(&[0, 0, 1, 0x0, 0, 0, 0, 0, 0, b'x'], CONN, P); // DATA §6.1
    expect_err(&[0, 0, 1, 0x1, 0x4, 0, 0, 0, 0, 0x82], CONN, P); // HEADERS §6.2
    expect_err(&[0, 0, 5, 0x2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], CONN, P); // PRIORITY §6.3
    expect_err(&[0, 0, 4, 0x3, 0, 0, 0, 0, 0, 0, 0, 0, 8], CONN, P); // RST_STREAM §6.4
    expect_err(&[0, 0, 4, 0x5, 0x4, 0, 0, 0, 0, 0, 0, 0, 2], CONN, P); // PUSH_PROMISE §6.6
    expect_err(&[0, 0, 1, 0x9, 0x4, 0, 0, 0, 0, 0x82], CONN, P); // CONTINUATION §6.10
    // Reserved bit set on an otherwise-zero stream id is still stream 0.
    expect_err(&[0, 0, 1, 0x0, 0, 0x80, 0, 0, 0, b'x'], CONN, P);
    // Stream-id rule wins over a size problem in the same frame (both connection errors).
    expect_err(&[0, 0, 4, 0x2, 0, 0, 0, 0, 0, 0, 0, 0, 1], CONN, P);
}

#[test]
fn connection_frames_on_a_stream() {
    use ErrorCode::ProtocolError as P;
    expect_err(&[0, 0, 0, 0x4, 0, 0, 0, 0, 1], CONN, P); // SETTINGS §6.5
    expect_err(&[0, 0, 0, 0x4, 0x1, 0, 0, 0, 1], CONN, P); // SETTINGS ACK
    expect_err(&[0, 0, 8, 0x6, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], CONN, P); // PING §6.7
    expect_err(&[0, 0, 8, 0x7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], CONN, P); // GOAWAY §6.8
}

#[test]
fn padding_errors() {
    use ErrorCode::{FrameSizeError as FS, ProtocolError as P};
    // PADDED with no room for the Pad Length octet.
    expect_err(&[0, 0, 0, 0x0, 0x8, 0, 0, 0, 1], CONN, FS);
    expect_err(&[0, 0, 0, 0x1, 0xc, 0, 0, 0, 1], CONN, FS);
    expect_err(&[0, 0, 0, 0x5, 0xc, 0, 0, 0, 1], CONN, FS);
    // DATA: padding of the payload's length or more (§6.1). h2spec 6.1/3 style: length 5, Pad Length 6.
    expect_err(&[0, 0, 5, 0x0, 0x9, 0, 0, 0, 1, 6, b'T', b'e', b's', b't'], CONN, P);
    expect_err(&[0, 0, 5, 0x0, 0x8, 0, 0, 0, 1, 5, 0, 0, 0, 0], CONN, P);
    expect_err(&[0, 0, 1, 0x0, 0x8, 0, 0, 0, 1, 1], CONN, P);
    // HEADERS: padding exceeding what remains for the fragment (§6.2).
    expect_err(&[0, 0, 4, 0x1, 0xc, 0, 0, 0, 1, 4, 0x82, 0, 0], CONN, P);
    // ... after the 5 priority octets: 3 remain, Pad Length 4.
    expect_err(&[0, 0, 9, 0x1, 0x2c, 0, 0, 0, 1, 4, 0, 0, 0, 0, 16, 0x82, 0, 0], CONN, P);
    // PUSH_PROMISE: after the 4 promised-id octets, 2 remain, Pad Length 3.
    expect_err(&[0, 0, 7, 0x5, 0xc, 0, 0, 0, 1, 3, 0, 0, 0, 2, 0x82, 0], CONN, P);
}

#[test]
fn truncated_fixed_fields() {
    use ErrorCode::FrameSizeError as FS;
    // HEADERS with PRIORITY but fewer than 5 priority octets (with and without PADDED).
    expect_err(&[0, 0, 4, 0x1, 0x24, 0, 0, 0, 1, 0, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 5, 0x1, 0x2c, 0, 0, 0, 1, 0, 0, 0, 0, 0], CONN, FS);
    // PUSH_PROMISE shorter than the promised stream id.
    expect_err(&[0, 0, 3, 0x5, 0x4, 0, 0, 0, 1, 0, 0, 2], CONN, FS);
    expect_err(&[0, 0, 4, 0x5, 0xc, 0, 0, 0, 1, 0, 0, 0, 2], CONN, FS);
}

#[test]
fn push_promise_of_stream_zero() {
    expect_err(&[0, 0, 4, 0x5, 0x4, 0, 0, 0, 1, 0x80, 0, 0, 0], CONN, ErrorCode::ProtocolError);
}

#[test]
fn priority_errors() {
    // §6.3: wrong length is a *stream* FRAME_SIZE_ERROR.
    expect_err(&[0, 0, 4, 0x2, 0, 0, 0, 0, 3, 0, 0, 0, 1], ErrorScope::Stream(3), ErrorCode::FrameSizeError);
    expect_err(&[0, 0, 6, 0x2, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0], ErrorScope::Stream(3), ErrorCode::FrameSizeError);
    expect_err(&[0, 0, 0, 0x2, 0, 0, 0, 0, 3], ErrorScope::Stream(3), ErrorCode::FrameSizeError);
    // §5.3.1: depending on itself (exclusive or not) is a stream PROTOCOL_ERROR.
    expect_err(&[0, 0, 5, 0x2, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0], ErrorScope::Stream(3), ErrorCode::ProtocolError);
    expect_err(&[0, 0, 5, 0x2, 0, 0, 0, 0, 3, 0x80, 0, 0, 3, 0], ErrorScope::Stream(3), ErrorCode::ProtocolError);
    // A HEADERS priority block depending on its own stream decodes: the connection must decode the field block for
    // HPACK (§4.3) before it resets the stream, so it applies §5.3.1 itself.
    let wire = [0, 0, 6, 0x1, 0x24, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0x82];
    let header = FrameHeader::parse(wire[..9].try_into().unwrap());
    match Frame::decode(&header, &wire[9..]) {
        Ok(Frame::Headers { priority: Some(p), fragment, .. }) => {
            assert_eq!(p.dependency, 3);
            assert_eq!(fragment, &[0x82]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn rst_stream_length() {
    expect_err(&[0, 0, 3, 0x3, 0, 0, 0, 0, 1, 0, 0, 0], CONN, ErrorCode::FrameSizeError);
    expect_err(&[0, 0, 5, 0x3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], CONN, ErrorCode::FrameSizeError);
}

#[test]
fn settings_errors() {
    use ErrorCode::{FlowControlError as FC, FrameSizeError as FS, ProtocolError as P};
    // ACK with a payload (§6.5), even a well-formed one.
    expect_err(&[0, 0, 6, 0x4, 0x1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], CONN, FS);
    // Length not a multiple of 6.
    expect_err(&[0, 0, 5, 0x4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 7, 0x4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], CONN, FS);
    // ENABLE_PUSH not 0/1.
    expect_err(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2], CONN, P);
    // INITIAL_WINDOW_SIZE 2^31.
    expect_err(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 4, 0x80, 0, 0, 0], CONN, FC);
    // MAX_FRAME_SIZE 2^14-1 and 2^24.
    expect_err(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x3f, 0xff], CONN, P);
    expect_err(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 5, 0x01, 0, 0, 0], CONN, P);
    // ENABLE_CONNECT_PROTOCOL not 0/1 (RFC 8441 §3).
    expect_err(&[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 2], CONN, P);
    // A bad value after a good one still fails the frame.
    expect_err(&[0, 0, 12, 0x4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 9], CONN, P);
}

#[test]
fn ping_and_goaway_lengths() {
    use ErrorCode::FrameSizeError as FS;
    expect_err(&[0, 0, 7, 0x6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 9, 0x6, 0x1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 0, 0x6, 0, 0, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 7, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], CONN, FS);
    expect_err(&[0, 0, 0, 0x7, 0, 0, 0, 0, 0], CONN, FS);
}

#[test]
fn window_update_errors() {
    use ErrorCode::{FrameSizeError as FS, ProtocolError as P};
    // Wrong length: connection FRAME_SIZE_ERROR on a stream and on the connection (§6.9).
    expect_err(&[0, 0, 3, 0x8, 0, 0, 0, 0, 1, 0, 0, 1], CONN, FS);
    expect_err(&[0, 0, 5, 0x8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], CONN, FS);
    // Zero increment: stream error on a stream, connection error on stream 0.
    expect_err(&[0, 0, 4, 0x8, 0, 0, 0, 0, 3, 0, 0, 0, 0], ErrorScope::Stream(3), P);
    expect_err(&[0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0, 0, 0, 0], CONN, P);
    // Only the reserved bit set: still an increment of 0.
    expect_err(&[0, 0, 4, 0x8, 0, 0, 0, 0, 3, 0x80, 0, 0, 0], ErrorScope::Stream(3), P);
}

// ---------------------------------------------------------------------------------------------------------------
// Targeted writers

/// Split a byte stream into frames, decoding each.
fn frames(mut wire: &[u8]) -> Vec<(FrameHeader, Frame<'_>)> {
    let mut out = Vec::new();
    while let Some((head, rest)) = wire.split_first_chunk::<FRAME_HEADER_LEN>() {
        let h = FrameHeader::parse(head);
        let (payload, tail) = rest.split_at(h.length as usize);
        out.push((h, Frame::decode(&h, payload).expect("writer output decodes")));
        wire = tail;
    }
    assert!(wire.is_empty(), "trailing partial frame");
    out
}

#[test]
fn write_headers_splits_into_continuations() {
    let block: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    for end_stream in [true, false] {
        let mut out = Vec::new();
        write_headers(&mut out, 5, &block, end_stream, DEFAULT_MAX_FRAME_SIZE);
        let fs = frames(&out);
        let lens: Vec<u32> = fs.iter().map(|(h, _)| h.length).collect();
        assert_eq!(lens, [16_384, 16_384, 40_000 - 2 * 16_384]);
        let kinds: Vec<FrameType> = fs.iter().map(|(h, _)| h.kind).collect();
        assert_eq!(kinds, [FrameType::Headers, FrameType::Continuation, FrameType::Continuation]);
        // Exact flag bytes: END_STREAM only on HEADERS, END_HEADERS only on the last frame, nothing else.
        let fl: Vec<u8> = fs.iter().map(|(h, _)| h.flags).collect();
        assert_eq!(fl, [if end_stream { flags::END_STREAM } else { 0 }, 0, flags::END_HEADERS]);
        assert!(fs.iter().all(|(h, _)| h.stream_id == 5));
        let mut reassembled = Vec::new();
        for (_, f) in &fs {
            match *f {
                Frame::Headers { fragment, priority: None, .. } | Frame::Continuation { fragment, .. } => {
                    reassembled.extend_from_slice(fragment)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(reassembled, block);
    }
}

#[test]
fn write_headers_exact_multiple_and_larger_max() {
    let block = vec![0x55u8; 2 * 16_384];
    let mut out = Vec::new();
    write_headers(&mut out, 1, &block, false, 16_384);
    let fs = frames(&out);
    assert_eq!(fs.len(), 2, "no empty trailing CONTINUATION");
    assert_eq!((fs[0].0.flags, fs[1].0.flags), (0, flags::END_HEADERS));
    // With a larger peer SETTINGS_MAX_FRAME_SIZE the same block fits in one HEADERS.
    out.clear();
    write_headers(&mut out, 1, &block, true, MAX_ALLOWED_FRAME_SIZE);
    let fs = frames(&out);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].0.flags, flags::END_STREAM | flags::END_HEADERS);
}

#[test]
fn writers_byte_exact() {
    let mut out = Vec::new();
    write_frame_header(&mut out, 0x01_0203, FrameType::Data, flags::END_STREAM, 0x8000_0001);
    assert_eq!(out, [0x01, 0x02, 0x03, 0x0, 0x1, 0, 0, 0, 1]);

    out.clear();
    write_settings(&mut out, &[(SettingId::MaxConcurrentStreams, 100), (SettingId::InitialWindowSize, 1 << 20)]);
    #[rustfmt::skip]
    assert_eq!(out, [0, 0, 12, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100, 0, 4, 0, 0x10, 0, 0]);

    out.clear();
    write_settings_ack(&mut out);
    assert_eq!(out, [0, 0, 0, 0x4, 0x1, 0, 0, 0, 0]);

    out.clear();
    write_ping(&mut out, true, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(out, [0, 0, 8, 0x6, 0x1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);

    out.clear();
    write_goaway(&mut out, 0x8000_0003, ErrorCode::ProtocolError, b"bad");
    assert_eq!(out, [0, 0, 11, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, b'b', b'a', b'd']);

    out.clear();
    write_rst_stream(&mut out, 7, ErrorCode::StreamClosed);
    assert_eq!(out, [0, 0, 4, 0x3, 0, 0, 0, 0, 7, 0, 0, 0, 5]);

    out.clear();
    write_window_update(&mut out, 0, MAX_WINDOW_SIZE);
    assert_eq!(out, [0, 0, 4, 0x8, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]);
}
