use super::*;

fn build(fields: &[(&str, &str)], trailers: bool) -> (Box<RequestHead>, Result<(), Malformed>) {
    let mut b = HeadBuilder::new(RequestHead::default(), trailers);
    for (n, v) in fields {
        b.field(HeaderField { name: n.as_bytes(), value: v.as_bytes(), sensitive: false });
    }
    b.finish()
}

const GET: &[(&str, &str)] = &[(":method", "GET"), (":scheme", "https"), (":authority", "a.test"), (":path", "/x")];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    GET.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn valid_request_exposes_fields() {
    let (h, r) = build(&with(&[("accept", "*/*"), ("cookie", "a=1"), ("cookie", "b=2")]), false);
    r.unwrap();
    assert_eq!(h.method(), Method::Get);
    assert_eq!(h.method_bytes(), b"GET");
    assert_eq!(h.scheme(), Some(&b"https"[..]));
    assert_eq!(h.authority(), Some(&b"a.test"[..]));
    assert_eq!(h.path(), b"/x");
    assert_eq!(h.headers().count(), 3);
    assert_eq!(h.header(b"cookie"), Some(&b"a=1"[..]));
}

#[test]
fn malformed_requests() {
    let cases: &[(&[(&str, &str)], Malformed)] = &[
        (&[(":method", "GET"), (":scheme", "https")], Malformed::MissingPseudo),
        (&[(":method", "GET"), (":scheme", "https"), (":path", "")], Malformed::InvalidPath),
        (&[(":method", "GET"), (":scheme", "https"), (":path", "x")], Malformed::InvalidPath),
        (&[(":method", "GET"), (":method", "GET")], Malformed::DuplicatePseudo),
        (&[(":method", "GET"), (":status", "200")], Malformed::UnknownPseudo),
        (&[(":method", "GET"), ("a", "b"), (":path", "/")], Malformed::PseudoAfterRegular),
        (&[(":method", "CONNECT"), (":authority", "a:443"), (":path", "/")], Malformed::MissingPseudo),
    ];
    for (fields, want) in cases {
        assert_eq!(build(fields, false).1, Err(*want), "{fields:?}");
    }
    let extra: &[((&str, &str), Malformed)] = &[
        (("Accept", "x"), Malformed::InvalidFieldName),
        (("a b", "x"), Malformed::InvalidFieldName),
        (("", "x"), Malformed::InvalidFieldName),
        (("x", " lead"), Malformed::InvalidFieldValue),
        (("x", "trail\t"), Malformed::InvalidFieldValue),
        (("x", "a\r\nb"), Malformed::InvalidFieldValue),
        (("x", "a\0b"), Malformed::InvalidFieldValue),
        (("connection", "close"), Malformed::ConnectionSpecific),
        (("transfer-encoding", "chunked"), Malformed::ConnectionSpecific),
        (("keep-alive", "1"), Malformed::ConnectionSpecific),
        (("upgrade", "h2c"), Malformed::ConnectionSpecific),
        (("proxy-connection", "x"), Malformed::ConnectionSpecific),
        (("te", "gzip"), Malformed::InvalidTe),
        (("content-length", "12a"), Malformed::InvalidContentLength),
        (("host", "b.test"), Malformed::HostMismatch),
    ];
    for (field, want) in extra {
        assert_eq!(build(&with(&[*field]), false).1, Err(*want), "{field:?}");
    }
    assert_eq!(
        build(&with(&[("content-length", "1"), ("content-length", "2")]), false).1,
        Err(Malformed::InvalidContentLength)
    );
}

#[test]
fn accepted_edge_cases() {
    build(&with(&[("te", "trailers"), ("host", "A.TEST"), ("content-length", "5")]), false).1.unwrap();
    let (h, r) = build(&[(":method", "CONNECT"), (":authority", "a:443")], false);
    r.unwrap();
    assert_eq!(h.method(), Method::Connect);
    build(&[(":method", "OPTIONS"), (":scheme", "https"), (":path", "*")], false).1.unwrap();
    let (h, r) = build(&[(":method", "GET"), (":scheme", "https"), (":path", "/"), ("host", "h")], false);
    r.unwrap();
    assert_eq!(h.authority(), Some(&b"h"[..]));
}

#[test]
fn trailers_reject_pseudo_and_keep_fields() {
    assert_eq!(build(&[(":path", "/")], true).1, Err(Malformed::PseudoInTrailers));
    let (h, r) = build(&[("x-checksum", "abc")], true);
    r.unwrap();
    assert_eq!(h.header(b"x-checksum"), Some(&b"abc"[..]));
}

#[test]
fn located_fields_read_like_any_other() {
    let extra = [
        ("accept-encoding", "br"),
        ("if-none-match", "\"a\""),
        ("accept-encoding", "gzip"),
        ("early-data", "1"),
        ("x", "y"),
    ];
    let (h, r) = build(&with(&extra), false);
    r.unwrap();
    // The first of several, as for any other name.
    assert_eq!(h.header(b"accept-encoding"), Some(&b"br"[..]));
    assert_eq!(h.header(b"if-none-match"), Some(&b"\"a\""[..]));
    assert_eq!(h.header(b"if-modified-since"), None);
    assert_eq!(h.header(b"early-data"), Some(&b"1"[..]));
    assert_eq!(h.header(b"x"), Some(&b"y"[..]));
    assert_eq!(h.headers().filter(|(n, _)| *n == b"accept-encoding").count(), 2);
    // A recycled head forgets them.
    let mut b = HeadBuilder::new(h, false);
    for (n, v) in GET {
        b.field(HeaderField { name: n.as_bytes(), value: v.as_bytes(), sensitive: false });
    }
    let (h, r) = b.finish();
    r.unwrap();
    assert_eq!((h.header(b"accept-encoding"), h.header(b"early-data")), (None, None));
}

/// The decoder checks a field once, when it enters the dynamic table;
/// each later reference to an invalid one is rejected all the same.
#[test]
fn indexed_fields_keep_their_verdict() {
    use crate::h2::hpack::{DecodeLimits, HpackDecoder};
    fn decode(dec: &mut HpackDecoder, block: &[u8]) -> (Box<RequestHead>, Result<(), Malformed>) {
        let mut b = HeadBuilder::new(RequestHead::default(), false);
        dec.decode_checked(block, DecodeLimits::UNLIMITED, |f, check| b.checked_field(f, check)).unwrap();
        b.finish()
    }
    // :method GET, :scheme https, :path / (static), then a literal
    // with incremental indexing and a new name (RFC 7541 §6.2.1).
    let with_literal = |name: &[u8], value: &[u8]| {
        let mut block = vec![0x82, 0x87, 0x84, 0x40, name.len() as u8];
        block.extend_from_slice(name);
        block.push(value.len() as u8);
        block.extend_from_slice(value);
        block
    };
    // The same request with the field as dynamic index 62.
    let indexed = [0x82, 0x87, 0x84, 0xbe];
    let mut dec = HpackDecoder::new(4096);
    for (name, value, want) in [
        (&b"x-a"[..], &b"b\r"[..], Err(Malformed::InvalidFieldValue)),
        (b"X-b", b"ok", Err(Malformed::InvalidFieldName)),
        (b"x-c", b"ok", Ok(())),
    ] {
        assert_eq!(decode(&mut dec, &with_literal(name, value)).1, want);
        let (head, result) = decode(&mut dec, &indexed);
        assert_eq!(result, want);
        if want.is_ok() {
            assert_eq!(head.header(b"x-c"), Some(&b"ok"[..]));
        }
    }
}

#[test]
fn recycled_head_starts_empty() {
    let (h, _) = build(GET, false);
    let (h2, r) = {
        let mut b = HeadBuilder::new(h, true);
        b.field(HeaderField { name: b"x", value: b"y", sensitive: false });
        b.finish()
    };
    r.unwrap();
    assert_eq!(h2.path(), b"");
    assert_eq!(h2.headers().count(), 1);
}
