use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::parse::parse;
use super::render::seconds;
use super::*;
use crate::h2::conn::Limit;
use crate::runtime::BackendStats;
use crate::server::session::CloseReason;
use crate::server::stats::{ClosedBy, Counter, Protocol, WorkerStats};
use crate::tls::session_store::StoreStats;

fn two_workers() -> Vec<WorkerStats> {
    let w: Vec<WorkerStats> = (0..2).map(|_| WorkerStats::default()).collect();
    w[0].add(Counter::Accepted, 3);
    w[1].add(Counter::Accepted, 2);
    w[0].record_close(ClosedBy::of(Some(CloseReason::PeerClosed), false));
    w[1].record_close(ClosedBy::of(Some(CloseReason::Idle), false));
    w[1].record_close(ClosedBy::of(None, false));
    for status in [200, 200, 404] {
        w[0].record_response(Protocol::H2, status);
    }
    w[1].record_response(Protocol::H2, 200);
    w[1].record_response(Protocol::Http11, 425);
    w[0].add(Counter::BytesIn, 1000);
    w[1].add(Counter::BytesIn, 24);
    w[1].add(Counter::BytesOut, 4096);
    w[0].bump(Counter::HandshakeFull);
    w[1].bump(Counter::HandshakeResumed);
    w[1].bump(Counter::EarlyOffered);
    w[1].bump(Counter::TooEarly);
    w[0].bump_limit(Limit::PingFlood);
    w[1].bump_limit(Limit::PingFlood);
    w[0].set_backend(&BackendStats { submitted: 10, completed: 9, recv_buffers_exhausted: 1, short_sends: 0 });
    w[1].set_backend(&BackendStats { submitted: 20, completed: 19, recv_buffers_exhausted: 0, short_sends: 2 });
    w[0].latency.observe(Duration::from_micros(80));
    w[0].latency.observe(Duration::from_micros(3_000));
    w[1].latency.observe(Duration::from_secs(11));
    w
}

#[test]
fn counters_are_summed_over_workers_and_parse_strictly() {
    let w = two_workers();
    let store = StoreStats { operations: 7, contended: 1, entries: 3 };
    let text = render(&Scrape { workers: &w, backend: BackendKind::IoUring, session_store: Some(store) });
    let exp = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let v = |name: &str, labels: &[(&str, &str)]| exp.value(name, labels).unwrap_or_else(|| panic!("{name}\n{text}"));
    assert_eq!(v("h2ring_workers", &[]), 2.0);
    assert_eq!(v("h2ring_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("backend", "io_uring")]), 1.0);
    assert_eq!(v("h2ring_connections_accepted_total", &[]), 5.0);
    assert_eq!(v("h2ring_connections_open", &[]), 2.0);
    assert_eq!(v("h2ring_connections_closed_total", &[("reason", "peer_closed")]), 1.0);
    assert_eq!(v("h2ring_connections_closed_total", &[("reason", "idle_timeout")]), 1.0);
    assert_eq!(v("h2ring_connections_closed_total", &[("reason", "finished")]), 1.0);
    assert_eq!(v("h2ring_connections_closed_total", &[("reason", "shutdown_deadline")]), 0.0);
    let requests = |p, c| v("h2ring_requests_total", &[("protocol", p), ("status_class", c)]);
    assert_eq!(requests("h2", "2xx"), 3.0);
    assert_eq!(requests("h2", "4xx"), 1.0);
    assert_eq!(requests("http/1.1", "4xx"), 1.0);
    assert_eq!(requests("http/1.1", "5xx"), 0.0);
    assert_eq!(exp.series("h2ring_requests_total").len(), 12, "every protocol and class, zeros included");
    assert_eq!(v("h2ring_received_bytes_total", &[]), 1024.0);
    assert_eq!(v("h2ring_sent_bytes_total", &[]), 4096.0);
    assert_eq!(v("h2ring_tls_handshakes_total", &[("kind", "full")]), 1.0);
    assert_eq!(v("h2ring_tls_handshakes_total", &[("kind", "resumed")]), 1.0);
    assert_eq!(v("h2ring_early_data_offered_total", &[]), 1.0);
    assert_eq!(v("h2ring_early_data_accepted_total", &[]), 0.0);
    assert_eq!(v("h2ring_early_data_too_early_total", &[]), 1.0);
    assert_eq!(v("h2ring_limit_hits_total", &[("limit", "ping_flood")]), 2.0);
    assert_eq!(exp.series("h2ring_limit_hits_total").len(), Limit::COUNT);
    assert_eq!(v("h2ring_uring_sqes_submitted_total", &[("worker", "0")]), 10.0);
    assert_eq!(v("h2ring_uring_sqes_submitted_total", &[("worker", "1")]), 20.0);
    assert_eq!(v("h2ring_uring_recv_buffer_exhausted_total", &[("worker", "0")]), 1.0);
    assert_eq!(v("h2ring_uring_short_sends_total", &[("worker", "1")]), 2.0);
    assert!(exp.series("h2ring_epoll_waits_total").is_empty());
    let bucket = |le| v("h2ring_request_duration_seconds_bucket", &[("le", le)]);
    assert_eq!(bucket("0.0001"), 1.0);
    assert_eq!(bucket("0.0025"), 1.0);
    assert_eq!(bucket("0.005"), 2.0);
    assert_eq!(bucket("10"), 2.0);
    assert_eq!(bucket("+Inf"), 3.0);
    assert_eq!(v("h2ring_request_duration_seconds_count", &[]), 3.0);
    assert_eq!(v("h2ring_request_duration_seconds_sum", &[]), 11.00308);
    assert_eq!(v("h2ring_tls_session_cache_sessions", &[]), 3.0);
    assert_eq!(v("h2ring_tls_session_cache_lock_waits_total", &[]), 1.0);
    let help = &exp.families["h2ring_request_duration_seconds"].help;
    assert!(help.contains("received the request") && help.contains("end of its response"), "{help}");
}

#[test]
fn epoll_families_name_what_epoll_has() {
    let w = two_workers();
    let text = render(&Scrape { workers: &w, backend: BackendKind::Epoll, session_store: None });
    let exp = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(exp.value("h2ring_epoll_waits_total", &[("worker", "1")]), Some(20.0));
    assert_eq!(exp.value("h2ring_epoll_events_total", &[("worker", "0")]), Some(9.0));
    assert_eq!(exp.value("h2ring_epoll_short_writes_total", &[("worker", "1")]), Some(2.0));
    assert!(exp.series("h2ring_uring_cqes_total").is_empty());
    assert!(!text.contains("session_cache"), "no TLS, no session store families");
}

#[test]
fn no_workers_and_no_traffic_still_parse() {
    let text = render(&Scrape { workers: &[], backend: BackendKind::current(), session_store: None });
    let exp = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(exp.value("h2ring_request_duration_seconds_count", &[]), Some(0.0));
    assert_eq!(exp.value("h2ring_connections_open", &[]), Some(0.0));
}

#[test]
fn seconds_are_exact_decimals() {
    assert_eq!(seconds(0), "0");
    assert_eq!(seconds(100), "0.0001");
    assert_eq!(seconds(2_500), "0.0025");
    assert_eq!(seconds(1_000_000), "1");
    assert_eq!(seconds(2_500_000), "2.5");
    assert_eq!(seconds(12_345_678), "12.345678");
}

#[test]
fn the_parser_refuses_what_prometheus_would_misread() {
    let ok = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"q\"} 1\n";
    assert!(parse(ok).is_ok());
    for bad in [
        "a_total 1\n",                                                      // no TYPE
        "# HELP a_total x\n# TYPE a_total counter\na_total 1",              // no final newline
        "# HELP a x\n# TYPE a counter\na 1\n",                              // counter without _total
        "# HELP a_total x\n# TYPE a_total counter\nb_total 1\n",            // outside its family
        "# HELP a_total x\n# TYPE a_total counter\na_total 1\na_total 2\n", // repeated series
        "# HELP a_total x\n# TYPE a_total counter\na_total{l=v} 1\n",       // unquoted label
        "# HELP a_total x\n# TYPE a_total counter\na_total one\n",          // not a number
        "# HELP a_total x\n# TYPE a_total counter\n\na_total 1\n",          // empty line
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 0\nh_count 1\n",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

#[test]
fn only_loopback_goes_without_a_warning() {
    for quiet in ["127.0.0.1:9100", "127.9.9.9:0", "[::1]:9100", "[::ffff:127.0.0.1]:9100"] {
        assert_eq!(exposure_warning(quiet.parse().unwrap()), None, "{quiet}");
    }
    for loud in ["0.0.0.0:9100", "[::]:9100", "192.0.2.1:9100", "[2001:db8::1]:9100"] {
        let line = exposure_warning(loud.parse().unwrap()).unwrap_or_else(|| panic!("{loud}"));
        assert!(line.starts_with("--metrics-listen ") && line.contains("not a loopback"), "{line}");
    }
}

/// Sends `request` raw and reads until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_endpoint_answers_get_head_404_405_and_garbage_then_stops() {
    const BODY: &str = "# HELP a_total x\n# TYPE a_total counter\na_total 1\n";
    let endpoint = start("127.0.0.1:0".parse().unwrap(), || BODY.into()).expect("bind loopback");
    let addr = endpoint.local_addr();
    assert_ne!(addr.port(), 0);
    let get = exchange(addr, b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
    assert!(get.contains(&format!("content-type: {CONTENT_TYPE}\r\n")), "{get}");
    assert!(get.contains("connection: close\r\n") && get.ends_with(&format!("\r\n\r\n{BODY}")), "{get}");
    let head = exchange(addr, b"HEAD /metrics?x=1 HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains(&format!("content-length: {}\r\n", BODY.len())),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "no body for HEAD: {head}");
    let other = exchange(addr, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(other.starts_with("HTTP/1.1 404 "), "{other}");
    let post = exchange(addr, b"POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n");
    assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("allow: GET, HEAD\r\n"), "{post}");
    let garbage = exchange(addr, b"\x16\x03\x01 not http\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
    endpoint.stop();
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "the listener is closed");
}

#[test]
fn a_busy_address_is_one_line() {
    let first = start("127.0.0.1:0".parse().unwrap(), String::new).unwrap();
    let Err(e) = start(first.local_addr(), String::new) else { panic!("bound a busy port") };
    let line = e.to_string();
    assert!(line.contains("already in use") && !line.contains('\n'), "{line}");
}
