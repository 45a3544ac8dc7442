//! HTTP/1.1 against the real server, with a plain rustls client and
//! hand-written requests (responses parsed with httparse): ALPN
//! `http/1.1` and clients without ALPN get HTTP/1.1, `h2` wins when
//! offered, keep-alive and pipelining answer in order, an over-long
//! header gets 431, 0-RTT follows the same rules as HTTP/2, `--no-http1`
//! refuses, the redirect listener answers 308, and IPv4 and IPv6
//! listeners serve together.

mod server;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use rustls::pki_types::ServerName;
use server::{Server, client_tls_config};

/// One parsed response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Parses one response from the front of `buf`, if complete; `head` when
/// it answers a HEAD (no body whatever the length says).
fn parse_response(buf: &[u8], head: bool) -> Option<(Resp, usize)> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut fields);
    let httparse::Status::Complete(head_len) = r.parse(buf).expect("a valid HTTP/1.1 response head") else {
        return None;
    };
    assert_eq!(r.version, Some(1), "responses say HTTP/1.1");
    let status = r.code.unwrap();
    let headers: Vec<(String, String)> =
        r.headers.iter().map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap())).collect();
    let len: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let body_len = if head || status == 304 || status == 204 { 0 } else { len };
    if buf.len() < head_len + body_len {
        return None;
    }
    let body = buf[head_len..head_len + body_len].to_vec();
    Some((Resp { status, headers, body }, head_len + body_len))
}

/// A blocking TLS client: rustls over a TcpStream, driven by hand so that
/// early data and the handshake can be observed.
struct TlsClient {
    tcp: TcpStream,
    tls: ClientConnection,
    plaintext: Vec<u8>,
    closed: bool,
}

impl TlsClient {
    fn connect(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let tls = ClientConnection::new(config.clone(), name).unwrap();
        TlsClient { tcp, tls, plaintext: Vec::new(), closed: false }
    }

    fn flush(&mut self) {
        while self.tls.wants_write() {
            if self.tls.write_tls(&mut self.tcp).is_err() {
                return;
            }
        }
    }

    /// Reads once (up to the socket's timeout); the TLS error if the
    /// server sent an alert.
    fn pump(&mut self) -> Result<(), rustls::Error> {
        self.flush();
        let mut buf = [0u8; 32 * 1024];
        match self.tcp.read(&mut buf) {
            Ok(0) => self.closed = true,
            Ok(n) => {
                let mut ciphertext = &buf[..n];
                while !ciphertext.is_empty() {
                    self.tls.read_tls(&mut ciphertext).unwrap();
                    self.tls.process_new_packets()?;
                    let mut chunk = Vec::new();
                    match self.tls.reader().read_to_end(&mut chunk) {
                        Ok(_) => self.closed = true,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(_) => self.closed = true,
                    }
                    self.plaintext.extend_from_slice(&chunk);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => self.closed = true,
        }
        self.flush();
        Ok(())
    }

    fn handshake(&mut self) -> Result<(), rustls::Error> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.tls.is_handshaking() {
            assert!(Instant::now() < deadline, "handshake did not complete");
            assert!(!self.closed, "the server closed during the handshake");
            self.pump()?;
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) {
        self.tls.writer().write_all(bytes).unwrap();
        self.flush();
    }

    fn write_early(&mut self, bytes: &[u8]) -> bool {
        match self.tls.early_data() {
            Some(mut early) => {
                early.write_all(bytes).unwrap();
                true
            }
            None => false,
        }
    }

    /// The next response (`head`: it answers a HEAD).
    fn response(&mut self, head: bool) -> Resp {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some((resp, used)) = parse_response(&self.plaintext, head) {
                self.plaintext.drain(..used);
                return resp;
            }
            assert!(!self.closed, "connection closed before a complete response: {:?}", self.plaintext);
            assert!(Instant::now() < deadline, "no complete response: {:?}", String::from_utf8_lossy(&self.plaintext));
            self.pump().expect("TLS from the server");
        }
    }

    /// Waits for the server to close the connection.
    fn expect_close(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.closed {
            assert!(Instant::now() < deadline, "the server kept the connection open");
            let _ = self.pump();
        }
    }

    fn alpn(&self) -> Option<&[u8]> {
        self.tls.alpn_protocol()
    }
}

fn connect(server: &Server, addr: SocketAddr, alpn: &[&[u8]]) -> TlsClient {
    let mut c = TlsClient::connect(addr, &client_tls_config(server, alpn));
    c.handshake().expect("handshake");
    c
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nuser-agent: h2ring-test\r\n\r\n")
}

#[test]
fn alpn_http11_keeps_alive_and_pipelines_in_order() {
    let server = Server::start(&[]);
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    assert_eq!(c.alpn(), Some(&b"http/1.1"[..]));

    c.send(get("/").as_bytes());
    let index = c.response(false);
    assert_eq!(index.status, 200);
    assert!(String::from_utf8_lossy(&index.body).contains("/posts/"), "the index");
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(index.header("date").is_some_and(|d| d.ends_with(" GMT")), "{index:?}");
    assert!(index.header("etag").is_some());
    assert_eq!(index.header("connection"), None, "keep-alive is the HTTP/1.1 default");

    // Same connection, compressed, then conditional.
    c.send(b"GET / HTTP/1.1\r\nhost: localhost\r\naccept-encoding: gzip\r\n\r\n");
    let gz = c.response(false);
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("accept-encoding"));
    let etag = index.header("etag").unwrap();
    c.send(format!("GET / HTTP/1.1\r\nhost: localhost\r\nif-none-match: {etag}\r\n\r\n").as_bytes());
    assert_eq!(c.response(false).status, 304);

    // Pipelining: 20 requests in one write (more than the 16 answered
    // before output drains), answered strictly in order.
    let paths = ["/", "/about", "/no-such-page", "/feed.xml"];
    let mut batch = String::new();
    for i in 0..20 {
        if i % 5 == 4 {
            batch.push_str("HEAD /about HTTP/1.1\r\nhost: localhost\r\n\r\n");
        } else {
            batch.push_str(&get(paths[i % 4]));
        }
    }
    c.send(batch.as_bytes());
    for i in 0..20 {
        if i % 5 == 4 {
            let head = c.response(true);
            assert_eq!(head.status, 200, "HEAD #{i}");
            assert!(head.header("content-length").unwrap().parse::<usize>().unwrap() > 0);
            continue;
        }
        let r = c.response(false);
        let want = if paths[i % 4] == "/no-such-page" { 404 } else { 200 };
        assert_eq!(r.status, want, "response #{i} to {}", paths[i % 4]);
        if paths[i % 4] == "/feed.xml" {
            assert!(r.header("content-type").unwrap().starts_with("application/atom+xml"));
        }
    }

    // `connection: close` is honoured: answered, then closed.
    c.send(b"GET /about HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    let last = c.response(false);
    assert_eq!(last.status, 200);
    assert_eq!(last.header("connection"), Some("close"));
    c.expect_close();
}

#[test]
fn a_client_without_alpn_gets_http11_and_h2_wins_when_offered() {
    let server = Server::start(&[]);
    let mut c = connect(&server, server.tls, &[]);
    assert_eq!(c.alpn(), None);
    c.send(get("/about").as_bytes());
    assert_eq!(c.response(false).status, 200);

    let c = connect(&server, server.tls, &[b"http/1.1", b"h2"]);
    assert_eq!(c.alpn(), Some(&b"h2"[..]), "h2 is preferred whatever the client's order");
}

#[test]
fn bad_requests_get_their_status_and_the_connection_ends() {
    let server = Server::start(&[]);
    // One 20 KiB header line: past the 16 KiB head limit.
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    let long = "a".repeat(20 << 10);
    c.send(format!("GET / HTTP/1.1\r\nhost: localhost\r\nx-long: {long}\r\n\r\n").as_bytes());
    let r = c.response(false);
    assert_eq!(r.status, 431);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.header("date").is_some(), "error responses carry a date too");
    c.expect_close();

    // No Host (RFC 9112 §3.2): 400, after the good request before it.
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(format!("{}GET / HTTP/1.1\r\n\r\n", get("/about")).as_bytes());
    assert_eq!(c.response(false).status, 200);
    assert_eq!(c.response(false).status, 400);
    c.expect_close();

    // Both Content-Length and Transfer-Encoding: refused (smuggling).
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(b"POST / HTTP/1.1\r\nhost: localhost\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_eq!(c.response(false).status, 400);
    c.expect_close();

    // The server still serves others.
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(get("/").as_bytes());
    assert_eq!(c.response(false).status, 200);
}

#[test]
fn early_data_follows_the_same_rules_on_http11() {
    let server = Server::start(&[]);
    let mut config = Arc::unwrap_or_clone(client_tls_config(&server, &[b"http/1.1"]));
    config.enable_early_data = true;
    let config = Arc::new(config);
    // A full handshake first, for the tickets.
    let mut c = TlsClient::connect(server.tls, &config);
    c.handshake().unwrap();
    c.send(get("/").as_bytes());
    assert_eq!(c.response(false).status, 200);
    for _ in 0..4 {
        let _ = c.pump();
    }

    // A safe GET in early data is answered.
    let mut c = TlsClient::connect(server.tls, &config);
    assert!(c.write_early(get("/about").as_bytes()), "the client has a ticket that allows early data");
    let r = c.response(false);
    assert_eq!(r.status, 200);
    assert!(c.tls.is_early_data_accepted());

    // A POST, and a GET with a body, in early data: 425, and the GET
    // after them (pipelined, still early) is served.
    let mut c = TlsClient::connect(server.tls, &config);
    let early = format!(
        "POST /about HTTP/1.1\r\nhost: localhost\r\ncontent-length: 2\r\n\r\nhi\
         GET /about HTTP/1.1\r\nhost: localhost\r\ncontent-length: 2\r\n\r\nhi{}",
        get("/")
    );
    assert!(c.write_early(early.as_bytes()));
    assert_eq!(c.response(false).status, 425, "POST in early data");
    assert_eq!(c.response(false).status, 425, "GET with a body in early data");
    assert_eq!(c.response(false).status, 200, "a safe GET in the same flight");
    // Retried after the handshake, the POST is answered normally.
    c.handshake().unwrap();
    c.send(b"POST /about HTTP/1.1\r\nhost: localhost\r\ncontent-length: 2\r\n\r\nhi");
    assert_eq!(c.response(false).status, 405, "the blog allows GET and HEAD only");

    // `Early-Data: 1` from an intermediary counts as early (RFC 8470 §5.1).
    c.send(b"POST /about HTTP/1.1\r\nhost: localhost\r\nearly-data: 1\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(c.response(false).status, 425);
}

#[test]
fn no_http1_refuses_clients_without_h2() {
    let server = Server::start(&["--no-http1"]);
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let mut c = TlsClient::connect(server.tls, &client_tls_config(&server, alpn));
        let err = c.handshake().expect_err("refused");
        assert_eq!(err, rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol), "ALPN {alpn:?}");
    }
    let c = connect(&server, server.tls, &[b"h2", b"http/1.1"]);
    assert_eq!(c.alpn(), Some(&b"h2"[..]));
}

/// Reads from a plain socket until `n` complete responses arrived.
fn plain_responses(tcp: &mut TcpStream, heads: &[bool]) -> Vec<Resp> {
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while out.len() < heads.len() {
        if let Some((resp, used)) = parse_response(&buf, heads[out.len()]) {
            buf.drain(..used);
            out.push(resp);
            continue;
        }
        let n = tcp.read(&mut chunk).expect("a response before the timeout");
        assert!(n > 0, "closed after {} responses", out.len());
        buf.extend_from_slice(&chunk[..n]);
    }
    out
}

/// Every address the start-up line lists after `prefix`.
fn listener_addrs(server: &Server, prefix: &str) -> Vec<SocketAddr> {
    let line = &server.start_line;
    line.match_indices(prefix)
        .map(|(at, _)| line[at + prefix.len()..].split([' ', ';']).next().unwrap().parse().unwrap())
        .collect()
}

fn listener_addr(server: &Server, prefix: &str) -> SocketAddr {
    let all = listener_addrs(server, prefix);
    *all.first().unwrap_or_else(|| panic!("no {prefix} in {:?}", server.start_line))
}

#[test]
fn the_redirect_listener_answers_308_to_the_public_host() {
    let server = Server::start(&["--redirect-listen", "127.0.0.1:0", "--public-host", "blog.example"]);
    let addr = listener_addr(&server, "redirect=http://");
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(
        b"GET /posts/io-uring?utm=x HTTP/1.1\r\nhost: evil.example\r\n\r\n\
          POST /login HTTP/1.1\r\nhost: blog.example\r\ncontent-length: 3\r\n\r\nabc\
          HEAD / HTTP/1.1\r\nhost: blog.example\r\n\r\n\
          OPTIONS * HTTP/1.1\r\nhost: blog.example\r\n\r\n",
    )
    .unwrap();
    let r = plain_responses(&mut tcp, &[false, false, true, false]);
    let locations: Vec<_> = r.iter().map(|r| (r.status, r.header("location").unwrap())).collect();
    assert_eq!(
        locations,
        [
            (308, "https://blog.example/posts/io-uring?utm=x"),
            (308, "https://blog.example/login"),
            (308, "https://blog.example/"),
            (308, "https://blog.example/"),
        ],
        "the Host header never picks the target"
    );
    assert!(r[0].header("strict-transport-security").is_none(), "no HSTS over cleartext (RFC 6797 §7.2)");

    // TLS and h2 still work next to it; the redirect listener speaks no h2.
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(get("/").as_bytes());
    assert_eq!(c.response(false).status, 200);
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = tcp.read_to_end(&mut rest);
    assert!(
        rest.starts_with(b"HTTP/1.1 505") || rest.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[test]
fn redirect_listen_needs_a_valid_public_host() {
    let (code, err) = server::run_failing(&["--redirect-listen", "127.0.0.1:0"]);
    assert_eq!(code, 1);
    assert!(err.contains("--redirect-listen needs --public-host"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let (code, err) = server::run_failing(&["--redirect-listen", "127.0.0.1:0", "--public-host", "https://x/"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid --public-host"), "{err}");
}

#[test]
fn ipv4_and_ipv6_listeners_serve_together() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI has no IPv6 loopback");
        eprintln!("SKIPPED: no IPv6 loopback (::1) on this machine");
        return;
    }
    let server = Server::start(&["--listen", "[::1]:0"]);
    let v6 = *listener_addrs(&server, "https://").iter().find(|a| a.is_ipv6()).expect("an IPv6 listener");
    assert!(server.tls.is_ipv4());
    for addr in [server.tls, v6] {
        let mut c = connect(&server, addr, &[b"http/1.1"]);
        c.send(get("/about").as_bytes());
        assert_eq!(c.response(false).status, 200, "over {addr}");
        let c = connect(&server, addr, &[b"h2"]);
        assert_eq!(c.alpn(), Some(&b"h2"[..]), "over {addr}");
    }
}

#[test]
fn http11_responses_are_logged_with_their_protocol() {
    let dir = server::TempDir::new("h1-log");
    let log = dir.0.join("access.log");
    let log_arg = log.to_str().unwrap();
    let mut server =
        Server::start(&["--access-log", log_arg, "--redirect-listen", "127.0.0.1:0", "--public-host", "x.test"]);
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(b"GET /about HTTP/1.1\r\nhost: localhost\r\nuser-agent: feedreader/1.0\r\nreferer: https://a.test/\r\n\r\n");
    let about = c.response(false);
    c.send(b"HEAD / HTTP/1.0\r\n\r\n");
    assert_eq!(c.response(true).status, 200);
    c.expect_close();
    let mut tcp = TcpStream::connect(listener_addr(&server, "redirect=http://")).unwrap();
    tcp.write_all(b"GET /feed.xml HTTP/1.1\r\nhost: x.test\r\n\r\n").unwrap();
    assert_eq!(plain_responses(&mut tcp, &[false])[0].status, 308);
    let mut c = connect(&server, server.tls, &[b"http/1.1"]);
    c.send(&[b"GET / HTTP/1.1\r\nhost: localhost\r\nx: ".as_slice(), &[b'a'; 20 << 10], b"\r\n\r\n"].concat());
    assert_eq!(c.response(false).status, 431);

    assert!(server.signal_and_wait("TERM", Duration::from_secs(20)).success());
    let text = std::fs::read_to_string(&log).unwrap();
    // The date between the brackets is checked by tests/access_log.rs.
    // Each worker flushes its own buffer: lines of different connections
    // may come in either order.
    let mut lines: Vec<&str> = text.lines().map(|l| l.split_once("] ").expect("a CLF date").1).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            format!(
                "\"GET /about HTTP/1.1\" 200 {} \"https://a.test/\" \"feedreader/1.0\" http/1.1 early=0",
                about.body.len()
            ),
            "\"GET /feed.xml HTTP/1.1\" 308 32 \"-\" \"-\" http/1.1 early=0".to_string(),
            "\"HEAD / HTTP/1.0\" 200 - \"-\" \"-\" http/1.0 early=0".to_string(),
        ],
        "{text}"
    );
}
