//! RFC 9113 conformance of `Connection`: header blocks (§4.3, §6.2, §6.10), HPACK errors, malformed requests
//! (§8.1.1, §8.2, §8.3), trailers (§8.1) and header-list limits (§6.5.2, §10.5.1).

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::ConnConfig;
use h2ring::h2::error::ErrorCode;

fn connect() -> Client {
    Client::connect(ConnConfig::default())
}

fn one_request(evs: &[Ev]) -> &Req {
    match evs {
        [Ev::Request(r)] => r,
        other => panic!("expected one request, got {other:?}"),
    }
}

fn field(n: &str, v: &str) -> (String, String) {
    (n.to_string(), v.to_string())
}

// ---------------------------------------------------------------------------------------------------------------
// §4.3 header blocks over HEADERS + CONTINUATION

#[test]
fn headers_plus_continuations_make_one_request() {
    let mut c = connect();
    let block = cat(&[&hp::get("/split"), &hp::literal("x-one", "1"), &hp::literal("x-two", "2")]);
    let (a, rest) = block.split_at(2);
    let (b, d) = rest.split_at(10);
    c.send_ok(&headers(1, END_STREAM, a));
    c.send_ok(&continuation(1, 0, b));
    c.send_ok(&continuation(1, 0, b""));
    assert!(c.events().is_empty(), "nothing before END_HEADERS");
    c.send_ok(&continuation(1, END_HEADERS, d));
    let evs = c.events();
    let r = one_request(&evs);
    assert_eq!((r.stream, r.end_stream, r.path.as_str()), (1, true, "/split"));
    assert_eq!(r.headers, [field("x-one", "1"), field("x-two", "2")]);
    assert!(c.read().is_empty());
    c.roundtrip(3);
}

#[test]
fn padded_headers_with_priority_are_accepted() {
    let mut c = connect();
    // Pad Length (8), E + Stream Dependency (32), Weight (8), fragment, Padding (§6.2).
    let mut payload = vec![5, 0, 0, 0, 0, 42];
    payload.extend(hp::get("/padded"));
    payload.extend([0; 5]);
    c.send_ok(&headers(1, END_HEADERS | END_STREAM | PADDED | PRIORITY_FLAG, &payload));
    assert_eq!(one_request(&c.events()).path, "/padded");
}

#[test]
fn frame_interleaved_in_a_header_block_is_protocol_error() {
    let intruders = [
        ("DATA same stream", data(1, 0, b"x")),
        ("PING", ping(0, [0; 8])),
        ("SETTINGS", settings(&[])),
        ("PRIORITY same stream", priority(1, 0, 1)),
        ("PRIORITY other stream", priority(3, 0, 1)),
        ("WINDOW_UPDATE", window_update(0, 1)),
        ("RST_STREAM same stream", rst_stream(1, CANCEL)),
        ("HEADERS other stream", headers(3, END_HEADERS | END_STREAM, &hp::get("/"))),
        ("HEADERS same stream", headers(1, END_HEADERS, &hp::literal("a", "b"))),
        ("CONTINUATION other stream", continuation(3, END_HEADERS, b"")),
        ("unknown type, stream 0", frame(0xfa, 0, 0, b"x")),
        ("unknown type, same stream", frame(0xfa, 0, 1, b"")),
    ];
    for (what, intruder) in intruders {
        let mut c = connect();
        c.send_ok(&headers(1, END_STREAM, &hp::get("/")));
        let code = match c.send(&intruder) {
            Err(e) => e.code.to_u32(),
            Ok(()) => panic!("{what}: accepted inside a header block"),
        };
        assert_eq!(code, PROTOCOL_ERROR, "{what}");
        let f = c.read();
        assert_eq!(f.last().and_then(|f| f.goaway()).map(|g| g.1), Some(PROTOCOL_ERROR), "{what}: {f:?}");
        assert!(c.events().is_empty(), "{what}");
    }
}

#[test]
fn continuation_without_headers_is_protocol_error() {
    let mut c = connect();
    c.expect_goaway(&continuation(1, END_HEADERS, &hp::get("/")), PROTOCOL_ERROR);
    // After a complete block (END_HEADERS) on the same, open stream.
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&continuation(1, END_HEADERS, &hp::literal("a", "b")), PROTOCOL_ERROR);
    // On stream 0 (§6.10).
    let mut c = connect();
    c.send_ok(&headers(1, 0, &hp::get("/")));
    c.expect_goaway(&continuation(0, END_HEADERS, b""), PROTOCOL_ERROR);
}

#[test]
fn continuation_flood_is_enhance_your_calm() {
    let mut c = connect();
    let mut wire = headers(1, END_STREAM, &hp::get("/"));
    for _ in 0..10_000 {
        wire.extend(continuation(1, 0, b""));
    }
    c.expect_goaway(&wire, ENHANCE_YOUR_CALM);
    assert!(c.events().is_empty());

    // The same fed frame by frame: it stops long before the end.
    let mut c = connect();
    c.send_ok(&headers(1, END_STREAM, &hp::get("/")));
    let mut sent = 0;
    while c.send(&continuation(1, 0, b"")).is_ok() {
        sent += 1;
        assert!(sent < 1000, "CONTINUATION frames accepted without end");
    }
    assert!(sent >= 8, "a block of a few CONTINUATIONs is legitimate ({sent})");
    assert_eq!(c.read().last().and_then(|f| f.goaway()), Some((0, ENHANCE_YOUR_CALM)));
}

#[test]
fn a_few_continuations_are_fine() {
    let mut c = connect();
    let mut block = hp::get("/many");
    for i in 0..8 {
        block.extend(hp::literal(&format!("x-{i}"), "v"));
    }
    let pieces: Vec<&[u8]> = block.chunks(block.len().div_ceil(9)).collect();
    assert_eq!(pieces.len(), 9);
    c.send_ok(&headers(1, END_STREAM, pieces[0]));
    for (i, p) in pieces[1..].iter().enumerate() {
        c.send_ok(&continuation(1, if i == 7 { END_HEADERS } else { 0 }, p));
    }
    assert_eq!(one_request(&c.events()).headers.len(), 8);
}

#[test]
fn endless_header_block_is_cut_off() {
    // 16 KB CONTINUATIONs that never end: the server must not buffer without bound.
    let mut c = connect();
    c.send_ok(&headers(1, END_STREAM, &hp::get("/")));
    let chunk = continuation(1, 0, &[0x40; 16_384]);
    let mut sent = 0;
    while c.send(&chunk).is_ok() {
        sent += 1;
        assert!(sent < 64, "{sent} × 16 KB of header block buffered");
    }
    let last = c.read().pop().and_then(|f| f.goaway());
    assert!(matches!(last, Some((0, ENHANCE_YOUR_CALM | PROTOCOL_ERROR | COMPRESSION_ERROR))), "{last:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// RFC 7541 errors are connection errors of type COMPRESSION_ERROR (§4.3)

#[test]
fn hpack_garbage_is_compression_error() {
    let blocks: [(&str, Vec<u8>); 8] = [
        ("index 0", vec![0x80]),
        ("dynamic index into an empty table", cat(&[&hp::get("/"), &[0xbe]])),
        ("index past the static table", vec![0x82, 0x87, 0xff, 0x00]),
        ("integer overflow", vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        ("string past the end", vec![0x82, 0x00, 0x05, b'a']),
        ("size update above SETTINGS_HEADER_TABLE_SIZE", cat(&[&hp::size_update(8192), &hp::get("/")])),
        ("size update after a field", vec![0x82, 0x20, 0x87, 0x84]),
        ("Huffman string with EOS", vec![0x82, 0x87, 0x84, 0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, b'v']),
    ];
    for (what, block) in blocks {
        let mut c = connect();
        let err = c.send(&headers(1, END_HEADERS | END_STREAM, &block)).expect_err(what);
        assert_eq!(err.code.to_u32(), COMPRESSION_ERROR, "{what}: {err}");
        let f = c.read();
        assert_eq!(f.last().and_then(|f| f.goaway()).map(|g| g.1), Some(COMPRESSION_ERROR), "{what}");
    }
    // Also in a trailer block, and in a block that opens no stream (after our RST_STREAM).
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/")));
    c.expect_goaway(&headers(1, END_HEADERS | END_STREAM, &[0x80]), COMPRESSION_ERROR);
    let mut c = connect();
    c.expect_rst(&headers(1, END_HEADERS, &cat(&[&hp::get("/"), &hp::literal("Bad", "x")])), 1, PROTOCOL_ERROR);
    c.expect_goaway(&headers(1, END_HEADERS | END_STREAM, &[0xc0]), COMPRESSION_ERROR);
}

#[test]
fn size_updates_within_the_limit_are_accepted() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &cat(&[&hp::incremental("x-a", "1"), &hp::get("/")])));
    c.events();
    // Shrinking to 0 evicts x-a; growing back is allowed up to 4096 (§6.3).
    let block = cat(&[&hp::size_update(0), &hp::size_update(4096), &hp::get("/")]);
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &block));
    assert_eq!(one_request(&c.events()).stream, 3);
    c.expect_goaway(&headers(5, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &[0xbe]])), COMPRESSION_ERROR);
}

#[test]
fn self_dependent_headers_is_a_stream_error_and_hpack_stays_in_sync() {
    let mut c = connect();
    let block = cat(&[&hp::get("/"), &hp::incremental("x-sync", "1")]);
    // E + Stream Dependency = 1 (itself), Weight; then the block split over a CONTINUATION.
    let mut payload = vec![0, 0, 0, 1, 16];
    payload.extend_from_slice(&block[..4]);
    c.send_ok(&headers(1, END_STREAM | PRIORITY_FLAG, &payload));
    let f = c.expect_rst(&continuation(1, END_HEADERS, &block[4..]), 1, PROTOCOL_ERROR);
    assert_eq!(f.len(), 1);
    assert!(c.events().is_empty());
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::indexed(62)])));
    assert_eq!(one_request(&c.events()).headers, [field("x-sync", "1")]);
}

// ---------------------------------------------------------------------------------------------------------------
// §8.1.1, §8.2, §8.3: malformed requests are stream errors of type PROTOCOL_ERROR

/// `block` (with END_STREAM) is malformed: RST_STREAM PROTOCOL_ERROR, no event, and the connection (with its
/// HPACK context: the bad block inserts an entry the next request refers to) keeps serving.
#[track_caller]
fn assert_malformed(what: &str, block: &[u8]) {
    let mut c = connect();
    let block = cat(&[&hp::incremental("x-seen", "1"), block]);
    let f = c.expect_rst(&headers(1, END_HEADERS | END_STREAM, &block), 1, PROTOCOL_ERROR);
    assert_eq!(f.len(), 1, "{what}: {f:?}");
    assert!(c.events().is_empty(), "{what}: delivered");
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::indexed(62)])));
    let evs = c.events();
    assert_eq!(one_request(&evs).headers, [field("x-seen", "1")], "{what}");
    c.roundtrip(5);
}

#[test]
fn malformed_requests_are_reset() {
    let get = hp::get("/");
    let with = |extra: &[u8]| cat(&[&get, extra]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("uppercase name", with(&hp::literal("X-Upper", "a"))),
        ("uppercase name, never indexed", with(&hp::never("Cookie", "a"))),
        ("pseudo after regular", cat(&[&[0x82, 0x87], &hp::literal("a", "b"), &[0x84]])),
        ("unknown pseudo", with(&hp::literal(":foo", "bar"))),
        (":status in a request", with(&[0x88])),
        (":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL", with(&hp::literal(":protocol", "websocket"))),
        ("duplicate :path", with(&[0x84])),
        ("duplicate :method", with(&[0x83])),
        ("duplicate :scheme", with(&[0x86])),
        ("missing :method", vec![0x87, 0x84]),
        ("missing :scheme", vec![0x82, 0x84]),
        ("missing :path", vec![0x82, 0x87]),
        ("empty :path", cat(&[&[0x82, 0x87], &hp::literal_name(4, "")])),
        ("connection", with(&hp::literal("connection", "keep-alive"))),
        ("keep-alive", with(&hp::literal("keep-alive", "timeout=5"))),
        ("proxy-connection", with(&hp::literal("proxy-connection", "keep-alive"))),
        ("transfer-encoding", with(&hp::literal("transfer-encoding", "chunked"))),
        ("upgrade", with(&hp::literal("upgrade", "h2c"))),
        ("te: gzip", with(&hp::literal("te", "gzip"))),
        ("te: trailers, gzip", with(&hp::literal("te", "trailers, gzip"))),
        ("empty name", with(&hp::literal("", "v"))),
        ("space in name", with(&hp::literal("a b", "v"))),
        ("colon in regular name", with(&hp::literal("a:b", "v"))),
        ("DEL in name", with(&hp::literal("a\x7f", "v"))),
        ("NUL in value", with(&hp::literal("a", "x\0y"))),
        ("CR in value", with(&hp::literal("a", "x\ry"))),
        ("LF in value", with(&hp::literal("a", "x\ny"))),
        ("leading space in value", with(&hp::literal("a", " x"))),
        ("trailing tab in value", with(&hp::literal("a", "x\t"))),
        ("content-length not a number", with(&hp::literal("content-length", "12a"))),
        ("content-length with END_STREAM", with(&hp::literal("content-length", "5"))),
        ("CONNECT with :path", cat(&[&hp::literal_name(2, "CONNECT"), &hp::literal_name(1, "a:443"), &[0x84]])),
        ("CONNECT without :authority", hp::literal_name(2, "CONNECT")),
    ];
    for (what, block) in cases {
        assert_malformed(what, &block);
    }
}

#[test]
fn unusual_but_valid_requests_are_accepted() {
    let get = hp::get("/");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("te: trailers", cat(&[&get, &hp::literal("te", "trailers")])),
        ("content-length 0 with END_STREAM", cat(&[&get, &hp::literal("content-length", "0")])),
        ("inner whitespace in value", cat(&[&get, &hp::literal("a", "x  \t y")])),
        ("empty value", cat(&[&get, &hp::literal("a", "")])),
        ("never-indexed field", cat(&[&get, &hp::never("authorization", "secret")])),
        ("OPTIONS *", cat(&[&hp::literal_name(2, "OPTIONS"), &[0x87], &hp::literal_name(4, "*")])),
        ("CONNECT", cat(&[&hp::literal_name(2, "CONNECT"), &hp::literal_name(1, "a:443")])),
        ("no :authority", vec![0x82, 0x87, 0x84]),
        ("http scheme", vec![0x82, 0x86, 0x84]),
        ("cookie crumbs", cat(&[&get, &hp::literal("cookie", "a=1"), &hp::literal("cookie", "b=2")])),
    ];
    for (what, block) in cases {
        let mut c = connect();
        c.send_ok(&headers(1, END_HEADERS | END_STREAM, &block));
        let evs = c.events();
        assert!(matches!(&evs[..], [Ev::Request(r)] if r.stream == 1), "{what}: {evs:?}");
        assert!(c.read().is_empty(), "{what}");
    }
}

#[test]
fn content_length_larger_than_data_is_malformed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &cat(&[&hp::post("/"), &hp::literal("content-length", "10")])));
    c.send_ok(&data(1, 0, b"12345"));
    let evs = c.events();
    assert!(matches!(&evs[..], [Ev::Request(_), Ev::Data { stream: 1, .. }]), "{evs:?}");
    c.expect_rst(&data(1, END_STREAM, b""), 1, PROTOCOL_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::ProtocolError }]);
    c.roundtrip(3);
}

#[test]
fn content_length_smaller_than_data_is_malformed() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &cat(&[&hp::post("/"), &hp::literal("content-length", "3")])));
    c.events();
    c.expect_rst(&data(1, 0, b"12345"), 1, PROTOCOL_ERROR);
    assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::ProtocolError }]);
    c.send_ok(&data(1, END_STREAM, b"6"));
    assert!(c.read().is_empty(), "ignored after our RST_STREAM");
    c.roundtrip(3);
}

#[test]
fn content_length_matching_data_is_accepted() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &cat(&[&hp::post("/"), &hp::literal("content-length", "6")])));
    c.send_ok(&data(1, 0, b"123"));
    c.send_ok(&data_padded(1, END_STREAM, b"456", 10));
    let evs = c.events();
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2], Ev::Data { stream: 1, data: b"456".to_vec(), end_stream: true });
    assert!(c.read().iter().all(|f| f.kind != RST_STREAM));
}

#[test]
fn trailers_end_the_request() {
    let mut c = connect();
    c.send_ok(&headers(1, END_HEADERS, &cat(&[&hp::post("/"), &hp::literal("content-length", "3")])));
    c.send_ok(&data(1, 0, b"abc"));
    let t = cat(&[&hp::literal("x-checksum", "900150983cd24fb0"), &hp::literal("x-n", "1")]);
    c.send_ok(&headers(1, END_STREAM, &t[..5]));
    c.send_ok(&continuation(1, END_HEADERS, &t[5..]));
    let evs = c.events();
    assert_eq!(
        evs[2],
        Ev::Trailers { stream: 1, headers: vec![field("x-checksum", "900150983cd24fb0"), field("x-n", "1")] }
    );
    c.conn.send_response(1, 200, &[], Bytes::from_static(b"ok")).unwrap();
    let f = c.read();
    assert_eq!(response_of(&f, 1), (Some(200), b"ok".to_vec(), true));
    assert!(f.iter().all(|f| f.kind != RST_STREAM), "the request was complete: no RST_STREAM");
}

#[test]
fn malformed_trailers_are_reset() {
    let cases: [(&str, u8, Vec<u8>); 4] = [
        ("trailers without END_STREAM", END_HEADERS, hp::literal("x-t", "1")),
        ("pseudo-header in trailers", END_HEADERS | END_STREAM, cat(&[&[0x84], &hp::literal("x-t", "1")])),
        ("uppercase in trailers", END_HEADERS | END_STREAM, hp::literal("X-T", "1")),
        ("content-length mismatch at trailers", END_HEADERS | END_STREAM, hp::literal("x-t", "1")),
    ];
    for (what, flags, block) in cases {
        let mut c = connect();
        let cl = if what.starts_with("content-length") { "9" } else { "3" };
        c.send_ok(&headers(1, END_HEADERS, &cat(&[&hp::post("/"), &hp::literal("content-length", cl)])));
        c.send_ok(&data(1, 0, b"abc"));
        c.events();
        c.expect_rst(&headers(1, flags, &block), 1, PROTOCOL_ERROR);
        assert_eq!(c.events(), [Ev::Reset { stream: 1, code: ErrorCode::ProtocolError }], "{what}");
        c.roundtrip(3);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Header list size: SETTINGS_MAX_HEADER_LIST_SIZE (§6.5.2) and 431 (§10.5.1, RFC 6585)

/// Sends `block` on `stream` as HEADERS + CONTINUATIONs of at most 16 KB.
fn send_block(c: &mut Client, stream: u32, flags: u8, block: &[u8]) {
    let pieces: Vec<&[u8]> = block.chunks(16_384).collect();
    let n = pieces.len();
    for (i, p) in pieces.into_iter().enumerate() {
        let eh = if i + 1 == n { END_HEADERS } else { 0 };
        let f = if i == 0 { headers(stream, (flags & END_STREAM) | eh, p) } else { continuation(stream, eh, p) };
        c.send_ok(&f);
    }
}

/// get("/") with one "x-pad" field making the list exactly `size` octets (name + value + 32 per field).
fn request_of_list_size(size: usize) -> Vec<u8> {
    let base = (7 + 3 + 32) + (7 + 5 + 32) + (5 + 1 + 32) + (10 + 11 + 32);
    let value = "p".repeat(size - base - (5 + 32));
    cat(&[&hp::get("/"), &hp::literal("x-pad", &value)])
}

#[test]
fn header_list_size_limit_is_exact() {
    let mut c = connect();
    assert!(c.server_settings.contains(&(MAX_HEADER_LIST_SIZE, 32 << 10)));
    send_block(&mut c, 1, END_STREAM, &request_of_list_size(32 << 10));
    assert_eq!(one_request(&c.events()).stream, 1, "a list of exactly the advertised size is accepted");
    send_block(&mut c, 3, END_STREAM, &request_of_list_size((32 << 10) + 1));
    assert!(c.events().is_empty());
    let f = c.read();
    assert_eq!(response_of(&f, 3), (Some(431), vec![], true), "{f:?}");
}

#[test]
fn oversized_header_list_gets_431_and_the_connection_survives() {
    let mut c = connect();
    let mut block = hp::get("/");
    for i in 0..40 {
        block.extend(hp::literal(&format!("x-fill-{i:02}"), &"a".repeat(1000)));
    }
    // Past the limit, an insertion must still happen (RFC 7541 §2.2: the tables stay in sync).
    block.extend(hp::incremental("x-after", "yes"));
    send_block(&mut c, 1, END_STREAM, &block);
    assert!(c.events().is_empty(), "not delivered");
    let f = c.read();
    assert_eq!(response_of(&f, 1), (Some(431), vec![], true), "{f:?}");
    assert!(f.iter().all(|f| f.kind != GOAWAY && f.kind != RST_STREAM));

    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::indexed(62)])));
    assert_eq!(one_request(&c.events()).headers, [field("x-after", "yes")]);

    // Without END_STREAM: 431, then RST_STREAM NO_ERROR (§8.1), and the body is ignored.
    send_block(&mut c, 5, 0, &block);
    let f = c.read();
    assert_eq!(response_of(&f, 5).0, Some(431));
    assert_eq!(f.iter().find_map(|f| f.rst()), Some(NO_ERROR));
    c.send_ok(&data(5, END_STREAM, b"body"));
    assert!(c.events().is_empty());
    assert!(c.read().is_empty());
    c.roundtrip(7);
}

#[test]
fn hpack_bomb_is_answered_431_quickly() {
    let mut c = connect();
    // One ~4 KB entry (4,038 octets with overhead) fills most of the 4,096-octet table.
    let big = "b".repeat(4000);
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::incremental("x-bomb", &big)])));
    assert_eq!(one_request(&c.events()).headers[0].1.len(), 4000);
    c.conn.send_response(1, 200, &[], Bytes::new()).unwrap();
    c.read();

    // ~60,000 one-octet references: 240 MB of header list if expanded.
    let mut block = hp::get("/");
    block.resize(block.len() + 60_000, 0xbe);
    let start = Instant::now();
    send_block(&mut c, 3, END_STREAM, &block);
    let elapsed = start.elapsed();
    assert!(c.events().is_empty());
    assert_eq!(response_of(&c.read(), 3).0, Some(431));
    assert!(elapsed < Duration::from_secs(2), "bomb took {elapsed:?}");

    // Still usable, and the entry is still there.
    c.send_ok(&headers(5, END_HEADERS | END_STREAM, &cat(&[&hp::get("/"), &hp::indexed(62)])));
    assert_eq!(one_request(&c.events()).headers, [field("x-bomb", &big)]);
    c.roundtrip(7);
}
