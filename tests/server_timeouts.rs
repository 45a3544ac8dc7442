//! Timeouts measured by the worker (the protocol core has no clock): a
//! TLS handshake that never comes, a header block that never ends, and an
//! idle connection. Timeouts are swept once a second, so each bound below
//! is the configured timeout plus that tick and some slack.

mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use server::Server;

/// Reads until EOF (or reset); returns everything read and how long it took.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        assert!(start.elapsed() < limit, "connection still open after {limit:?}");
    }
}

/// The GOAWAY frames in a cleartext HTTP/2 byte stream: (last id, code).
fn goaways(mut bytes: &[u8]) -> Vec<(u32, u32)> {
    let mut found = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        if bytes.len() < 9 + len {
            break;
        }
        if bytes[3] == 0x7 && len >= 8 {
            let p = &bytes[9..];
            let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
            found.push((last, u32::from_be_bytes([p[4], p[5], p[6], p[7]])));
        }
        bytes = &bytes[9 + len..];
    }
    found
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const EMPTY_SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

#[test]
fn tls_handshake_timeout_closes_a_silent_connection() {
    let server = Server::start(&["--handshake-timeout-ms", "300"]);
    let mut silent = TcpStream::connect(server.tls).unwrap();
    let (got, took) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(got.is_empty(), "nothing is sent to a client that sent nothing");
    assert!(took >= Duration::from_millis(250), "closed too early: {took:?}");
}

#[test]
fn header_timeout_ends_a_block_that_never_completes() {
    let server = Server::start(&["--header-timeout-ms", "300"]);
    let mut s = TcpStream::connect(server.h2c).unwrap();
    s.write_all(PREFACE).unwrap();
    s.write_all(EMPTY_SETTINGS).unwrap();
    // A HEADERS frame header announcing 100 bytes, then only 3 of them.
    s.write_all(&[0, 0, 100, 1, 4, 0, 0, 0, 1, 0x82, 0x84, 0x87]).unwrap();
    let (got, took) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(250), "closed too early: {took:?}");
    assert_eq!(goaways(&got), vec![(0, 0)], "expected GOAWAY(last 0, NO_ERROR)");
}

#[test]
fn idle_connection_gets_goaway_and_is_closed() {
    let server = Server::start(&["--idle-timeout-ms", "300"]);
    let mut s = TcpStream::connect(server.h2c).unwrap();
    s.write_all(PREFACE).unwrap();
    s.write_all(EMPTY_SETTINGS).unwrap();
    // GET / on stream 1 from static-table indexes (:method GET, :path /,
    // :scheme http), answered before the connection goes idle.
    s.write_all(&[0, 0, 3, 1, 5, 0, 0, 0, 1, 0x82, 0x84, 0x86]).unwrap();
    let (got, took) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(took >= Duration::from_millis(250), "closed too early: {took:?}");
    assert_eq!(goaways(&got), vec![(1, 0)], "expected GOAWAY(last 1, NO_ERROR)");
    // The response came first: a HEADERS frame on stream 1.
    assert!(got.windows(5).any(|w| w[0] == 1 && w[1] & 4 != 0 && w[2..5] == [0, 0, 0]), "no response HEADERS");
}
