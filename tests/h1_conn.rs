//! The HTTP/1.1 server connection (`h2ring::h1`), sans-IO: requests out of bytes, responses into bytes, keep-alive
//! and pipelining, the limits (414, 431, 413, backpressure), the framing rules that stop request smuggling (RFC 9112
//! §6), and early-data classification. Responses are read back with httparse.

use bytes::Bytes;
use h2ring::h1::{BodyKind, Connection, EarlyData, H1Config, H1Request, Method, SendError, Version};

/// A request as the tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Got {
    method: Method,
    path: String,
    version: Version,
    keep_alive: bool,
    early: EarlyData,
}

/// A response read back from the output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resp {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection") == Some("close")
    }
}

/// The body of the GET for this request's target (a HEAD states its length).
fn body_for(req: &H1Request) -> Bytes {
    let method = if req.method() == Method::Head { "GET".into() } else { String::from_utf8_lossy(req.method_bytes()) };
    Bytes::from(format!("{method} {}\n", String::from_utf8_lossy(req.path())))
}

/// Answers like the site does: GET gets a body, HEAD the GET's length and no body.
fn answer(conn: &mut Connection, req: &H1Request) {
    let body = body_for(req);
    let len = Some(body.len() as u64);
    let body = if req.method() == Method::Head { Bytes::new() } else { body };
    let fields = [(&b"content-type"[..], &b"text/plain"[..]), (b"date", b"Thu, 01 Jan 2026 00:00:00 GMT")];
    conn.send_response(200, fields, len, body).unwrap();
}

/// Polls every request, answers each, and returns them; HEAD-ness is recorded in `heads` for parsing the output.
fn serve(conn: &mut Connection, heads: &mut Vec<bool>) -> Vec<Got> {
    let mut got = Vec::new();
    while let Some(req) = conn.poll_request() {
        answer(conn, &req);
        heads.push(req.method() == Method::Head);
        got.push(Got {
            method: req.method(),
            path: String::from_utf8_lossy(req.path()).into_owned(),
            version: req.version(),
            keep_alive: req.keep_alive(),
            early: req.early_data(),
        });
        conn.recycle(req);
    }
    got
}

fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7]; // small on purpose: pieces span calls
    loop {
        let n = conn.write_output(&mut buf);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert!(!conn.has_output());
    out
}

/// Splits `out` into responses; `heads[i]` says whether response i answers a HEAD (no body whatever its length).
fn parse_responses(mut out: &[u8], heads: &[bool]) -> Vec<Resp> {
    let mut resps = Vec::new();
    while !out.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut r = httparse::Response::new(&mut headers);
        let n = match r.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("bad response head {other:?}: {:?}", String::from_utf8_lossy(out)),
        };
        assert_eq!(r.version, Some(1), "responses say HTTP/1.1");
        let status = r.code.unwrap();
        let headers: Vec<(String, String)> =
            r.headers.iter().map(|h| (h.name.to_string(), String::from_utf8(h.value.to_vec()).unwrap())).collect();
        let len = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse::<usize>().unwrap());
        let head_req = heads.get(resps.len()).copied().unwrap_or(false);
        let body_len = if head_req || status == 204 || status == 304 { 0 } else { len };
        let body = out[n..n + body_len].to_vec();
        resps.push(Resp { status, reason: r.reason.unwrap().to_string(), headers, body });
        out = &out[n + body_len..];
    }
    resps
}

/// Feeds `input` in one piece, serves, and returns requests and responses.
fn exchange(conn: &mut Connection, input: &[u8]) -> (Vec<Got>, Vec<Resp>) {
    let _ = conn.recv(input);
    let mut heads = Vec::new();
    let got = serve(conn, &mut heads);
    let out = drain(conn);
    (got, parse_responses(&out, &heads))
}

fn new_conn() -> Connection {
    Connection::new(H1Config::default())
}

fn statuses(resps: &[Resp]) -> Vec<u16> {
    resps.iter().map(|r| r.status).collect()
}

#[test]
fn simple_get() {
    let mut c = new_conn();
    let (got, resps) = exchange(&mut c, b"GET /about HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].method, Method::Get);
    assert_eq!(got[0].path, "/about");
    assert_eq!(got[0].version, Version::Http11);
    assert!(got[0].keep_alive);
    assert_eq!(got[0].early, EarlyData::No);
    assert_eq!(resps.len(), 1);
    let r = &resps[0];
    assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
    assert_eq!(r.body, b"GET /about\n");
    assert_eq!(r.header("content-length"), Some("11"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("connection"), None, "HTTP/1.1 keeps the connection by default");
    assert!(!c.wants_close());
    assert!(c.wants_read());
    assert!(c.is_idle());
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn request_accessors() {
    let mut c = new_conn();
    c.recv(b"GET /a?b=c HTTP/1.1\r\nHOST:  Example.com:8443  \r\nAccept-Encoding: br\r\nX-Two: 1\r\nx-two: 2\r\n\r\n")
        .unwrap();
    let req = c.poll_request().unwrap();
    assert_eq!(req.method_bytes(), b"GET");
    assert_eq!(req.target(), b"/a?b=c");
    assert_eq!(req.path(), b"/a?b=c");
    assert_eq!(req.authority(), Some(&b"Example.com:8443"[..]));
    assert_eq!(req.header(b"host"), Some(&b"Example.com:8443"[..]), "values are trimmed");
    assert_eq!(req.header(b"ACCEPT-ENCODING"), Some(&b"br"[..]), "names match without regard to case");
    assert_eq!(req.header(b"x-two"), Some(&b"1"[..]), "the first line wins");
    assert_eq!(req.headers().count(), 4);
    assert_eq!(req.body(), BodyKind::None);
    assert!(!req.has_body());
    assert!(!req.expects_continue());
}

#[test]
fn head_states_the_get_length_without_a_body() {
    let mut c = new_conn();
    let (got, resps) = exchange(&mut c, b"HEAD /post HTTP/1.1\r\nHost: a\r\n\r\nGET /post HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].method, Method::Head);
    assert_eq!(resps[0].header("content-length"), Some("10"));
    assert!(resps[0].body.is_empty());
    // The GET right after it is read from where the HEAD response ended.
    assert_eq!(resps[1].body, b"GET /post\n");
    assert_eq!(resps[1].header("content-length"), Some("10"));
}

#[test]
fn head_drops_a_body_given_by_mistake() {
    let mut c = new_conn();
    c.recv(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let _req = c.poll_request().unwrap();
    c.send_response(200, [], Some(5), Bytes::from_static(b"hello")).unwrap();
    let out = drain(&mut c);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
}

#[test]
fn keep_alive_across_three_requests() {
    let mut c = new_conn();
    for path in ["/one", "/two", "/three"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        let (got, resps) = exchange(&mut c, req.as_bytes());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].path, path);
        assert_eq!(resps.len(), 1);
        assert_eq!(resps[0].body, format!("GET {path}\n").as_bytes());
        assert!(!resps[0].closes());
        assert!(!c.wants_close());
    }
    // The client ends it.
    let (_, resps) = exchange(&mut c, b"GET /last HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n");
    assert!(resps[0].closes());
    assert!(c.wants_close());
    assert!(!c.wants_read());
}

#[test]
fn pipelined_requests_answered_in_order() {
    let mut c = new_conn();
    let input =
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (got, resps) = exchange(&mut c, input);
    let paths: Vec<_> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
    assert_eq!(statuses(&resps), [200, 200, 200]);
    assert_eq!(resps[0].body, b"GET /1\n");
    assert!(resps[1].body.is_empty());
    assert_eq!(resps[1].header("content-length"), Some("7"));
    assert_eq!(resps[2].body, b"GET /3\n");
}

#[test]
fn responses_wait_for_their_turn() {
    // Answers go in request order: each send_response answers the oldest request polled.
    let mut c = new_conn();
    c.recv(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let a = c.poll_request().unwrap();
    let b = c.poll_request().unwrap();
    assert!(c.poll_request().is_none());
    c.send_response(200, [], None, body_for(&a)).unwrap();
    c.send_response(404, [], None, body_for(&b)).unwrap();
    assert_eq!(c.send_response(200, [], None, Bytes::new()), Err(SendError::NoRequest));
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!(statuses(&resps), [200, 404]);
    assert_eq!(resps[1].reason, "Not Found");
    assert_eq!(resps[1].body, b"GET /2\n");
}

#[test]
fn fed_byte_by_byte() {
    let mut c = new_conn();
    let input = b"\r\nGET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nPOST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /y HTTP/1.0\r\n\r\n";
    let mut heads = Vec::new();
    let mut got = Vec::new();
    for b in input.chunks(1) {
        c.recv(b).unwrap();
        got.extend(serve(&mut c, &mut heads));
    }
    let paths: Vec<_> = got.iter().map(|g| (g.method, g.path.as_str())).collect();
    assert_eq!(paths, [(Method::Get, "/x"), (Method::Post, "/form"), (Method::Post, "/c"), (Method::Get, "/y")]);
    let resps = parse_responses(&drain(&mut c), &heads);
    assert_eq!(statuses(&resps), [200, 200, 200, 200]);
    assert!(resps[3].closes(), "HTTP/1.0 without keep-alive");
    assert!(c.wants_close());
}

#[test]
fn split_at_every_point() {
    let input: &[u8] = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nbody\r\n0\r\nT: 1\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
    for at in 0..=input.len() {
        let mut c = new_conn();
        let mut heads = Vec::new();
        c.recv(&input[..at]).unwrap();
        let mut got = serve(&mut c, &mut heads);
        c.recv(&input[at..]).unwrap();
        got.extend(serve(&mut c, &mut heads));
        let paths: Vec<_> = got.iter().map(|g| g.path.as_str()).collect();
        assert_eq!(paths, ["/1", "/2", "/3"], "split at {at}");
        assert_eq!(statuses(&parse_responses(&drain(&mut c), &heads)), [200, 200, 200]);
        assert!(!c.has_partial_input());
    }
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut c = new_conn();
    let (got, resps) = exchange(&mut c, b"GET / HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n");
    assert_eq!(got.len(), 1, "nothing after a closing request is read");
    assert_eq!(got[0].version, Version::Http10);
    assert!(!got[0].keep_alive);
    assert_eq!(resps.len(), 1);
    assert!(resps[0].closes());
    assert!(c.wants_close());

    let mut c = new_conn();
    let (got, resps) = exchange(&mut c, b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert!(got[0].keep_alive);
    assert_eq!(resps[0].header("connection"), Some("keep-alive"));
    assert!(!c.wants_close());
    let (got, resps) = exchange(&mut c, b"GET /b HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(got[0].path, "/b");
    assert_eq!(resps[0].header("connection"), Some("keep-alive"));
    let (_, resps) = exchange(&mut c, b"GET /c HTTP/1.0\r\n\r\n");
    assert!(resps[0].closes());
    assert!(c.wants_close());
}

/// One request that is refused: the status, and the connection closes after it.
fn refused(input: &[u8]) -> (u16, Vec<Got>, Connection) {
    let mut c = new_conn();
    let err = c.recv(input).expect_err("refused");
    let (got, resps) = exchange(&mut c, b"");
    assert_eq!(resps.len(), got.len() + 1, "{resps:?}");
    let last = resps.last().unwrap();
    assert!(last.closes());
    assert_eq!(err.status, Some(last.status));
    assert_eq!(last.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(last.header("content-length"), Some(last.body.len().to_string().as_str()));
    assert!(c.wants_close());
    assert!(!c.wants_read());
    assert_eq!(c.recv(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Err(err), "later input is ignored");
    assert!(c.poll_request().is_none());
    (last.status, got, c)
}

#[test]
fn host_rules() {
    assert_eq!(refused(b"GET / HTTP/1.1\r\n\r\n").0, 400, "missing Host");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").0, 400, "two Host");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n").0, 400, "two Host, same value");
    assert_eq!(refused(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").0, 400, "two Host in HTTP/1.0");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n").0, 400, "invalid Host");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n").0, 400, "userinfo");
    // An empty Host is allowed (RFC 9112 §3.2), and HTTP/1.0 may leave it out.
    let mut c = new_conn();
    let (got, _) =
        exchange(&mut c, b"GET / HTTP/1.1\r\nHost:\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(got.len(), 2);
}

#[test]
fn obs_fold_is_refused() {
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n").0, 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n\ttwo\r\n\r\n").0, 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n").0, 400, "whitespace before the first field");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n").0, 400, "whitespace before the colon");
}

#[test]
fn transfer_encoding_with_content_length_closes() {
    // The classic CL.TE smuggling shape: the second request must never be served.
    let (status, got, _) = refused(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(status, 400);
    assert!(got.is_empty());
    let (status, ..) =
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n");
    assert_eq!(status, 400);
}

#[test]
fn transfer_codings() {
    let te = |v: &str| refused(format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes()).0;
    assert_eq!(te("gzip"), 400, "chunked must be last");
    assert_eq!(te("chunked, gzip"), 400);
    assert_eq!(te("chunked, chunked"), 400);
    assert_eq!(te(""), 400);
    assert_eq!(te("gzip, chunked"), 501, "a coding we do not implement");
    assert_eq!(
        refused(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n").0,
        400
    );
    assert_eq!(refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").0, 400, "TE in HTTP/1.0");
    // Case-insensitive, split over lines with empty list elements: still one chunked.
    let mut c = new_conn();
    let (got, resps) =
        exchange(&mut c, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , CHUNKED\r\n\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(got.len(), 2);
    assert_eq!(statuses(&resps), [200, 200]);
}

#[test]
fn content_length_rules() {
    let cl = |v: &str| refused(format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {v}\r\n\r\n").as_bytes()).0;
    assert_eq!(cl("-1"), 400);
    assert_eq!(cl("1, 1"), 400);
    assert_eq!(cl("0x10"), 400);
    assert_eq!(cl("99999999999999999999999"), 400);
    assert_eq!(cl("1048577"), 413);
    assert_eq!(refused(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").0, 400);
    // Repeated and equal is the same length (RFC 9110 §8.6).
    let mut c = new_conn();
    let (got, _) = exchange(
        &mut c,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].path, "/n");
}

#[test]
fn bodies_are_discarded_and_the_next_request_served() {
    let mut c = new_conn();
    let mut input = b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    input.extend_from_slice(b"10\r\n0123456789abcdef\r\n1;ext=\"q\"\r\nz\r\n0\r\nTrailer-Field: v\r\n\r\n");
    input.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    let mut heads = Vec::new();
    let mut got = Vec::new();
    for piece in input.chunks(4096) {
        c.recv(piece).unwrap();
        got.extend(serve(&mut c, &mut heads));
    }
    let paths: Vec<_> = got.iter().map(|g| g.path.as_str()).collect();
    assert_eq!(paths, ["/f", "/c", "/after"]);
    assert_eq!(statuses(&parse_responses(&drain(&mut c), &heads)), [200, 200, 200]);
    assert!(c.is_idle());
}

#[test]
fn broken_chunked_body_ends_the_connection() {
    let mut c = new_conn();
    c.recv(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let req = c.poll_request().unwrap();
    assert_eq!(req.body(), BodyKind::Chunked);
    assert!(c.has_partial_input(), "a body in progress counts for the read timeout");
    let err = c.recv(b"5\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err();
    assert_eq!(err.status, None);
    assert!(c.poll_request().is_none());
    answer(&mut c, &req);
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!(resps.len(), 1);
    assert!(resps[0].closes(), "the last response says the connection ends");
    assert!(c.wants_close());
}

#[test]
fn expect_continue() {
    // The body has not come: it may or may not follow, so the connection ends after the answer.
    let mut c = new_conn();
    c.recv(b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let req = c.poll_request().unwrap();
    assert!(req.expects_continue());
    c.send_response(405, [], None, Bytes::from_static(b"no")).unwrap();
    let out = drain(&mut c);
    assert!(out.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"), "no 100 Continue first");
    assert!(parse_responses(&out, &[])[0].closes());
    assert!(c.wants_close());

    // The body came with the head: it is skipped and the connection stays.
    let mut c = new_conn();
    let (got, resps) = exchange(
        &mut c,
        b"POST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabcGET /n HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert_eq!(got.len(), 2);
    assert!(!resps[0].closes());
    assert!(!c.wants_close());
}

#[test]
fn oversized_heads() {
    let big = "x".repeat(17 << 10);
    assert_eq!(refused(format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}\r\n\r\n").as_bytes()).0, 431);
    // Without the end of the head ever arriving.
    assert_eq!(refused(format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {big}").as_bytes()).0, 431);
    // Many small fields past the limit of 64.
    let many: String = (0..65).map(|i| format!("X-{i}: v\r\n")).collect();
    assert_eq!(refused(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes()).0, 431);
    let fits: String = (0..63).map(|i| format!("X-{i}: v\r\n")).collect();
    let mut c = new_conn();
    assert_eq!(exchange(&mut c, format!("GET / HTTP/1.1\r\nHost: a\r\n{fits}\r\n").as_bytes()).0.len(), 1);

    // Configurable, and measured as the head arrives.
    let mut c = Connection::new(H1Config { max_head_size: 2048, ..H1Config::default() });
    c.recv(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    assert!(c.has_partial_input());
    let err = c.recv(format!("X: {}\r\n", "y".repeat(2048)).as_bytes()).unwrap_err();
    assert_eq!(err.status, Some(431));
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!((resps[0].status, resps[0].reason.as_str()), (431, "Request Header Fields Too Large"));
}

#[test]
fn oversized_request_line() {
    let long = "a".repeat(9 << 10);
    let (status, ..) = refused(format!("GET /{long} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    assert_eq!(status, 414);
    // Refused before the line ends.
    let (status, ..) = refused(format!("GET /{long}").as_bytes());
    assert_eq!(status, 414);
    // Just under the limit is fine.
    let mut c = new_conn();
    let target = format!("/{}", "b".repeat((8 << 10) - "GET / HTTP/1.1".len()));
    let (got, _) = exchange(&mut c, format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
    assert_eq!(got[0].path, target);
    // Configurable.
    let mut c = Connection::new(H1Config { max_request_line: 64, ..H1Config::default() });
    let err = c.recv(format!("GET /{} HTTP/1.1\r\n", "c".repeat(64)).as_bytes()).unwrap_err();
    assert_eq!(err.status, Some(414));
}

#[test]
fn versions() {
    assert_eq!(refused(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n").0, 505);
    assert_eq!(refused(b"GET / HTTP/3\r\nHost: a\r\n\r\n").0, 505);
    assert_eq!(refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").0, 505, "the h2 preface");
    assert_eq!(refused(b"GET / HTTP/1\r\nHost: a\r\n\r\n").0, 400);
    assert_eq!(refused(b"GET / http/1.1\r\nHost: a\r\n\r\n").0, 400);
    assert_eq!(refused(b"GET /\r\n\r\n").0, 400, "HTTP/0.9");
    // A later 1.x minor is read as 1.1 (RFC 9110 §2.5).
    let mut c = new_conn();
    let (got, resps) = exchange(&mut c, b"GET /minor HTTP/1.7\r\nHost: a\r\n\r\n");
    assert_eq!(got[0].version, Version::Http11);
    assert_eq!(got[0].path, "/minor");
    assert_eq!(statuses(&resps), [200]);
}

#[test]
fn garbage_is_refused() {
    assert_eq!(refused(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n").0, 400, "a TLS ClientHello");
    assert_eq!(refused(b"hello\r\n\r\n").0, 400);
    assert_eq!(refused(b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n").0, 400, "two spaces");
    assert_eq!(refused(b"GET / HTTP/1.1\rHost: a\r\n\r\n").0, 400, "bare CR");
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n").0, 400, "NUL in a value");
    assert_eq!(refused(b"G\xffT / HTTP/1.1\r\nHost: a\r\n\r\n").0, 400, "method not a token");
    assert_eq!(refused(b"GET foo HTTP/1.1\r\nHost: a\r\n\r\n").0, 400, "not a target form");
    assert_eq!(refused(b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n").0, 400, "not http(s)");
    assert_eq!(refused(b"\r\n\r\n\r\nx\n\n").0, 400);
}

#[test]
fn arbitrary_input_never_panics() {
    // A small LCG: deterministic, no extra dependency. Bytes are drawn from an HTTP-ish alphabet half the time so
    // that parsing gets past the first line.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let alphabet =
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n0123456789abcdef;: \t";
    for _ in 0..3000 {
        let mut c = Connection::new(H1Config { max_head_size: 1024, max_pipelined: 3, ..H1Config::default() });
        let len = next() % 600;
        let input: Vec<u8> = (0..len)
            .map(|_| if next() % 2 == 0 { alphabet[next() % alphabet.len()] } else { (next() % 256) as u8 })
            .collect();
        let prefix = if next() % 2 == 0 { &b"GET / HTTP/1.1\r\nHost: a\r\n"[..] } else { b"" };
        let _ = c.recv_early(prefix);
        let mut i = 0;
        while i < input.len() {
            let n = 1 + next() % 64;
            let _ = c.recv(&input[i..(i + n).min(input.len())]);
            i += n;
            while let Some(req) = c.poll_request() {
                let _ = req.header(b"host");
                let _ = (req.path(), req.authority(), req.target());
                let _ = c.send_response(200 + (next() % 800) as u16, [], None, Bytes::from_static(b"ok"));
            }
            let mut out = [0u8; 100];
            let _ = c.write_output(&mut out);
        }
        c.request_timeout();
        drain(&mut c);
    }
}

#[test]
fn early_data_classification() {
    // Whole head in early data.
    let mut c = new_conn();
    let one = b"GET /e HTTP/1.1\r\nHost: a\r\n\r\n";
    c.recv_early(one).unwrap();
    assert_eq!(c.early_data_end(), one.len() as u64);
    let req = c.poll_request().unwrap();
    assert_eq!(req.early_data(), EarlyData::Complete);
    c.recycle(req);

    // Began in early data, finished after the handshake.
    let mut c = new_conn();
    let (early, late) = (b"GET /p HTTP/1.1\r\nHost", b": a\r\n\r\nGET /n HTTP/1.1\r\nHost: a\r\n\r\n");
    c.recv_early(early).unwrap();
    assert!(c.poll_request().is_none());
    c.recv(late).unwrap();
    assert_eq!(c.bytes_received(), (early.len() + late.len()) as u64);
    assert_eq!(c.early_data_end(), early.len() as u64);
    let a = c.poll_request().unwrap();
    let b = c.poll_request().unwrap();
    assert_eq!((a.path(), a.early_data()), (&b"/p"[..], EarlyData::Partial));
    assert_eq!((b.path(), b.early_data()), (&b"/n"[..], EarlyData::No));

    // Pipelined in early data: complete, complete-but-for-its-last-byte, and after.
    let mut c = new_conn();
    c.recv_early(b"\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r").unwrap();
    c.recv(b"\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let early: Vec<_> = std::iter::from_fn(|| c.poll_request()).map(|r| r.early_data()).collect();
    assert_eq!(early, [EarlyData::Complete, EarlyData::Partial, EarlyData::No]);

    // A request starting exactly at the end of early data is not early; a body does not matter.
    let mut c = new_conn();
    c.recv_early(b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab").unwrap();
    c.recv(b"cdGET /x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let a = c.poll_request().unwrap();
    assert_eq!(a.early_data(), EarlyData::Complete);
    assert!(a.has_body(), "the caller refuses early requests with a body (425)");
    assert_eq!(c.poll_request().unwrap().early_data(), EarlyData::No);

    // Ordinary input is never early.
    let mut c = new_conn();
    c.recv(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(c.poll_request().unwrap().early_data(), EarlyData::No);
}

#[test]
fn backpressure_past_sixteen_responses() {
    let mut c = new_conn();
    let input: Vec<u8> = (0..20).flat_map(|i| format!("GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()).collect();
    c.recv(&input).unwrap();
    let mut heads = Vec::new();
    let first = serve(&mut c, &mut heads);
    assert_eq!(first.len(), 16, "parsing stops at 16 unwritten responses");
    assert!(!c.wants_read(), "the caller stops reading");
    assert!(!c.has_partial_input(), "waiting for our output is not a slow client");
    assert_eq!(c.in_flight(), 16);
    assert!(c.poll_request().is_none());

    // Writing out one response lets one more request in.
    let mut out = Vec::new();
    let first_len = {
        let head = c.output_chunks().next().unwrap().len();
        let body = c.output_chunks().nth(1).unwrap().len();
        head + body
    };
    let mut buf = vec![0u8; first_len];
    assert_eq!(c.write_output(&mut buf), first_len);
    out.extend_from_slice(&buf);
    assert!(c.wants_read());
    let more = serve(&mut c, &mut heads);
    assert_eq!(more.len(), 1);
    assert!(!c.wants_read());

    out.extend(drain(&mut c));
    assert!(c.wants_read());
    let rest = serve(&mut c, &mut heads);
    assert_eq!(rest.len(), 3);
    out.extend(drain(&mut c));
    let resps = parse_responses(&out, &heads);
    assert_eq!(resps.len(), 20);
    for (i, r) in resps.iter().enumerate() {
        assert_eq!(r.body, format!("GET /{i}\n").as_bytes());
    }
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn feeding_past_wants_read_is_bounded() {
    let mut c = Connection::new(H1Config { max_pipelined: 1, max_buffered_input: 4096, ..H1Config::default() });
    let one = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    c.recv(one).unwrap();
    let req = c.poll_request().unwrap();
    answer(&mut c, &req);
    assert!(!c.wants_read());
    let mut err = None;
    for _ in 0..1000 {
        if let Err(e) = c.recv(one) {
            err = Some(e);
            break;
        }
    }
    let err = err.expect("the buffer is bounded");
    assert_eq!(err.status, None);
    // The response already queued still goes out, then the connection ends.
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!(statuses(&resps), [200]);
    assert!(c.wants_close());
}

#[test]
fn body_is_queued_by_refcount() {
    let mut c = new_conn();
    c.recv(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let _req = c.poll_request().unwrap();
    let body = Bytes::from(vec![7u8; 100_000]);
    c.send_response(200, [(&b"content-type"[..], &b"application/octet-stream"[..])], None, body.clone()).unwrap();
    let chunks: Vec<&[u8]> = c.output_chunks().collect();
    assert_eq!(chunks.len(), 2);
    assert_eq!(chunks[1].as_ptr(), body.as_ptr(), "the body is not copied before write_output");
    assert_eq!(chunks[1].len(), body.len());
    // A vectored writer can consume part of it without the copy.
    c.consume_output(chunks[0].len() + 10);
    assert_eq!(c.output_chunks().next().unwrap().as_ptr(), body[10..].as_ptr());
    let mut rest = vec![0u8; 200_000];
    assert_eq!(c.write_output(&mut rest), 99_990);
    assert!(!c.has_output());
}

#[test]
fn response_framing_and_fields() {
    let mut c = new_conn();
    c.recv(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    for _ in 0..4 {
        c.poll_request().unwrap();
    }
    // A 304 sends no body and only the length it is given; a 204 neither.
    c.send_response(304, [(&b"etag"[..], &b"\"x\""[..])], None, Bytes::from_static(b"ignored")).unwrap();
    c.send_response(204, [(&b"allow"[..], &b"GET, HEAD"[..])], Some(4), Bytes::new()).unwrap();
    // Fields that would change the framing or smuggle a line are dropped; the length is the body's.
    let fields = [
        (&b"content-length"[..], &b"999"[..]),
        (b"Transfer-Encoding", b"chunked"),
        (b"connection", b"close"),
        (b"x-injected", b"a\r\nset-cookie: evil"),
        (b"bad name", b"v"),
        (b"x-ok", b"fine"),
    ];
    c.send_response(200, fields, Some(999), Bytes::from_static(b"four")).unwrap();
    assert_eq!(c.send_response(100, [], None, Bytes::new()), Err(SendError::InvalidStatus));
    c.send_response(299, [], None, Bytes::new()).unwrap();
    let out = drain(&mut c);
    let text = String::from_utf8(out.clone()).unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 304 Not Modified\r\netag: \"x\"\r\n\r\n\
         HTTP/1.1 204 No Content\r\nallow: GET, HEAD\r\n\r\n\
         HTTP/1.1 200 OK\r\nx-ok: fine\r\ncontent-length: 4\r\n\r\nfour\
         HTTP/1.1 299 \r\ncontent-length: 0\r\n\r\n"
    );
    assert!(!c.wants_close());
}

#[test]
fn errors_wait_for_earlier_responses() {
    let mut c = new_conn();
    c.set_error_fields([
        (&b"date"[..], &b"Thu, 01 Jan 2026 00:00:00 GMT"[..]),
        (b"server", b"h2ring"),
        (b"x\r\n", b"y"),
    ]);
    let err = c.recv(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nBREW /3 HTCPCP/1.0\r\n\r\n");
    assert_eq!(err.unwrap_err().status, Some(400));
    assert!(!c.has_output(), "the 400 goes after the answers to /1 and /2");
    let mut heads = Vec::new();
    let got = serve(&mut c, &mut heads);
    assert_eq!(got.len(), 2);
    let resps = parse_responses(&drain(&mut c), &heads);
    assert_eq!(statuses(&resps), [200, 200, 400]);
    assert!(!resps[1].closes(), "the error response carries the close");
    assert!(resps[2].closes());
    assert_eq!(resps[2].header("date"), Some("Thu, 01 Jan 2026 00:00:00 GMT"));
    assert_eq!(resps[2].header("server"), Some("h2ring"));
    assert_eq!(resps[2].header("cache-control"), Some("no-store"));
    assert_eq!(resps[2].headers.len(), 6, "the invalid field was dropped: {:?}", resps[2].headers);
    assert_eq!(resps[2].body, b"400 Bad Request\n");
    assert!(c.wants_close());
}

#[test]
fn methods_and_target_forms() {
    let mut c = new_conn();
    c.recv(
        b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n\
          OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n\
          GET http://Example.org:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n\
          GET HTTPS://example.org HTTP/1.1\r\nHost: example.org\r\n\r\n\
          GET http://example.org?q=1 HTTP/1.1\r\nHost: example.org\r\n\r\n\
          CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n\
          delete / HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .unwrap();
    let reqs: Vec<_> = std::iter::from_fn(|| c.poll_request()).collect();
    let seen: Vec<_> = reqs
        .iter()
        .map(|r| {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (r.method(), text(r.method_bytes()), text(r.path()), r.authority().map(text))
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        seen,
        [
            (Method::Other, s("BREW"), s("/pot"), Some(s("a"))),
            (Method::Options, s("OPTIONS"), s("*"), Some(s("a"))),
            (Method::Get, s("GET"), s("/x?y"), Some(s("Example.org:8080"))),
            (Method::Get, s("GET"), s("/"), Some(s("example.org"))),
            (Method::Get, s("GET"), s("/?q=1"), Some(s("example.org"))),
            (Method::Connect, s("CONNECT"), s("example.org:443"), Some(s("example.org:443"))),
            (Method::Other, s("delete"), s("/"), Some(s("a"))),
        ]
    );
    assert_eq!(reqs[2].target(), b"http://Example.org:8080/x?y");
    assert_eq!(refused(b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n").0, 400, "empty authority");
    assert_eq!(refused(b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n").0, 400, "userinfo");
}

#[test]
fn read_timeout() {
    // A partial head gets 408.
    let mut c = new_conn();
    c.recv(b"GET / HTTP/1.1\r\nHos").unwrap();
    assert!(c.has_partial_input());
    assert!(!c.is_idle());
    c.request_timeout();
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!((resps[0].status, resps[0].reason.as_str()), (408, "Request Timeout"));
    assert!(resps[0].closes());
    assert!(c.wants_close());
    // An idle connection just closes.
    let mut c = new_conn();
    let _ = exchange(&mut c, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n");
    assert!(!c.has_partial_input(), "an empty line between requests is ignored");
    assert!(c.is_idle());
    c.request_timeout();
    assert!(!c.has_output());
    assert!(c.wants_close());
}

#[test]
fn shutdown() {
    let mut c = new_conn();
    c.shutdown();
    assert!(c.wants_close(), "idle: close at once");

    let mut c = new_conn();
    c.recv(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let req = c.poll_request().unwrap();
    c.shutdown();
    assert!(!c.wants_close(), "the request read is answered first");
    c.recv(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(c.poll_request().is_none(), "nothing more is read");
    answer(&mut c, &req);
    let resps = parse_responses(&drain(&mut c), &[]);
    assert_eq!(resps.len(), 1);
    assert!(resps[0].closes());
    assert!(c.wants_close());
}
