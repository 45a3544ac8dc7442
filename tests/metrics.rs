//! `--metrics-listen`: the real server under a known load, scraped with a
//! plain HTTP/1.1 request; the text is parsed strictly (the same checker
//! as the renderer's unit tests) and every counter must match what was
//! sent. Runs on whichever backend this test build selected.

#[path = "../src/metrics/parse.rs"]
mod parse;
mod server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use http::StatusCode;
use parse::Exposition;
use server::{BIG, Server, TempDir, connect_h2c, connect_tls, fetch, request, run_failing};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// One HTTP/1.1 exchange with the metrics endpoint: status line, head, body.
fn get(addr: SocketAddr, method: &str, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to /metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    // The endpoint answers one request per connection and closes.
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head end in {text:?}"));
    let (status, fields) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), fields.to_ascii_lowercase(), body.to_string())
}

fn scrape(addr: SocketAddr) -> Exposition {
    let (status, head, body) = get(addr, "GET", "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
    parse::parse(&body).unwrap_or_else(|e| panic!("not the text format: {e}\n{body}"))
}

/// Scrapes until `done` holds (the backend's counters are copied once a
/// second, and a response is timed when its send completes, which the
/// worker may see just after the client got the bytes); at most 10 s.
fn scrape_until(addr: SocketAddr, done: impl Fn(&Exposition) -> bool) -> Exposition {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let exp = scrape(addr);
        if done(&exp) || Instant::now() >= deadline {
            return exp;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(exp: &Exposition, name: &str, labels: &[(&str, &str)]) -> u64 {
    let v = exp.value(name, labels).unwrap_or_else(|| panic!("no {name}{labels:?}"));
    assert!(v >= 0.0 && v.fract() == 0.0, "{name}: {v}");
    v as u64
}

fn sum(exp: &Exposition, name: &str) -> u64 {
    exp.series(name).iter().map(|s| s.value as u64).sum()
}

fn requests(exp: &Exposition, protocol: &str, class: &str) -> u64 {
    value(exp, "h2ring_requests_total", &[("protocol", protocol), ("status_class", class)])
}

/// The per-worker family this build's backend writes: io_uring SQEs, or
/// epoll_wait calls.
const RING_FAMILY: &str =
    if cfg!(feature = "epoll") { "h2ring_epoll_waits_total" } else { "h2ring_uring_sqes_submitted_total" };

#[test]
fn counters_match_a_known_load() {
    let server = Server::start(&["--metrics-listen", "127.0.0.1:0"]);
    let addr = server.metrics_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    assert!(server.before_start.iter().all(|l| !l.contains("not a loopback")), "{:?}", server.before_start);

    let idle = scrape(addr);
    assert_eq!(value(&idle, "h2ring_connections_accepted_total", &[]), 0);
    assert_eq!(sum(&idle, "h2ring_requests_total"), 0);
    assert_eq!(value(&idle, "h2ring_workers", &[]), 2);
    let backend = if cfg!(feature = "epoll") { "epoll" } else { "io_uring" };
    assert_eq!(value(&idle, "h2ring_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("backend", backend)]), 1);

    // One TLS connection: 5 GET / and 1 GET of 1 MiB (200), 3 GET of a
    // missing page (404), 2 HEAD / (200). One h2c connection: 2 GET / (200).
    let mut body_bytes = 0;
    rt().block_on(async {
        let tls = connect_tls(&server, h2::client::Builder::new()).await;
        let h2c = connect_h2c(&server).await;
        let cases = [(&tls, "GET", "/", 5, StatusCode::OK), (&tls, "GET", BIG, 1, StatusCode::OK)];
        let cases = cases.into_iter().chain([
            (&tls, "GET", "/no-such-page", 3, StatusCode::NOT_FOUND),
            (&tls, "HEAD", "/", 2, StatusCode::OK),
            (&h2c, "GET", "/", 2, StatusCode::OK),
        ]);
        for (client, method, path, times, want) in cases {
            for _ in 0..times {
                let (status, _, body) = fetch(client, request(method, path)).await;
                assert_eq!(status, want, "{method} {path}");
                body_bytes += body.len() as u64;
            }
        }

        let exp = scrape_until(addr, |e| value(e, "h2ring_request_duration_seconds_count", &[]) >= 13);
        assert_eq!(requests(&exp, "h2", "2xx"), 10);
        assert_eq!(requests(&exp, "h2", "4xx"), 3);
        assert_eq!(sum(&exp, "h2ring_requests_total"), 13, "nothing else, on any protocol");
        assert_eq!(value(&exp, "h2ring_request_duration_seconds_count", &[]), 13, "every response timed once");
        assert_eq!(value(&exp, "h2ring_request_duration_seconds_bucket", &[("le", "+Inf")]), 13);
        assert_eq!(value(&exp, "h2ring_connections_accepted_total", &[]), 2);
        assert_eq!(value(&exp, "h2ring_connections_open", &[]), 2);
        assert_eq!(sum(&exp, "h2ring_connections_closed_total"), 0);
        assert_eq!(value(&exp, "h2ring_tls_handshakes_total", &[("kind", "full")]), 1);
        assert_eq!(value(&exp, "h2ring_tls_handshakes_total", &[("kind", "resumed")]), 0);
        for family in ["offered", "accepted", "rejected", "requests_served", "too_early"] {
            assert_eq!(value(&exp, &format!("h2ring_early_data_{family}_total"), &[]), 0, "{family}");
        }
        assert_eq!(sum(&exp, "h2ring_limit_hits_total"), 0);
        // Out: at least every body byte (plus headers, framing, TLS); in:
        // the two prefaces, a ClientHello and 13 small requests.
        let sent = value(&exp, "h2ring_sent_bytes_total", &[]);
        let received = value(&exp, "h2ring_received_bytes_total", &[]);
        assert!(body_bytes > 1 << 20 && sent > body_bytes && sent < body_bytes + (64 << 10), "{sent} vs {body_bytes}");
        assert!(received > 2 * 24 + 13 * 9 && received < 64 << 10, "{received}");
        drop((tls, h2c));
    });

    // Closing: both connections end, each counted under one reason.
    let exp = scrape_until(addr, |e| value(e, "h2ring_connections_open", &[]) == 0);
    assert_eq!(value(&exp, "h2ring_connections_open", &[]), 0);
    assert_eq!(sum(&exp, "h2ring_connections_closed_total"), 2);

    // One series per worker for the backend, non-zero once a sweep copied them.
    let exp = scrape_until(addr, |e| sum(e, RING_FAMILY) > 0);
    for worker in ["0", "1"] {
        assert!(exp.value(RING_FAMILY, &[("worker", worker)]).is_some(), "{RING_FAMILY} worker {worker}");
    }
    assert_eq!(exp.series(RING_FAMILY).len(), 2);
    assert!(sum(&exp, RING_FAMILY) > 0, "{RING_FAMILY} still 0 after 10 s");
}

#[test]
fn other_paths_and_methods_are_refused() {
    let server = Server::start(&["--metrics-listen", "127.0.0.1:0"]);
    let addr = server.metrics_addr();
    let (status, _, _) = get(addr, "GET", "/");
    assert!(status.starts_with("HTTP/1.1 404 "), "{status}");
    let (status, head, _) = get(addr, "DELETE", "/metrics");
    assert!(status.starts_with("HTTP/1.1 405 ") && head.contains("allow: get, head"), "{status} {head}");
    let (status, head, body) = get(addr, "HEAD", "/metrics");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.is_empty() && !head.contains("content-length: 0"), "{head}");
    // Still serving after all that.
    assert_eq!(value(&scrape(addr), "h2ring_workers", &[]), 2);
    // SIGTERM stops the endpoint's thread with the workers.
    let mut server = server;
    assert!(server.signal_and_wait("TERM", Duration::from_secs(15)).success());
    assert!(TcpStream::connect(addr).is_err(), "/metrics still listening after exit");
}

#[test]
fn a_non_loopback_address_is_warned_about() {
    let server = Server::start(&["--metrics-listen", "0.0.0.0:0"]);
    let addr = server.metrics_addr();
    let warning = format!(
        "h2ring: warning: --metrics-listen {addr} is not a loopback address; /metrics will be reachable from the network"
    );
    let warned = server.before_start.iter().filter(|l| **l == warning).count();
    assert_eq!(warned, 1, "{warning:?} not in {:?}", server.before_start);
    let loopback = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    assert_eq!(value(&scrape(loopback), "h2ring_workers", &[]), 2);
}

#[test]
fn a_busy_metrics_address_is_one_line_and_status_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let certs = TempDir::new("metrics-busy");
    let args = ["--listen", "127.0.0.1:0", "--certs-dir", certs.0.to_str().unwrap(), "--metrics-listen", &addr];
    let (code, stderr) = run_failing(&args);
    assert_eq!(code, 1, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {stderr:?}");
    assert!(
        lines[0].contains(&addr) && lines[0].contains("--metrics-listen") && lines[0].contains("in use"),
        "{stderr}"
    );
}
