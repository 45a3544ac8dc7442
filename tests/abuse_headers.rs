//! Attacks through header blocks against the real server (issue #8), while
//! an honest client keeps reading pages: the CONTINUATION flood
//! (CVE-2024-27316 and its siblings), a header block that never ends, the
//! HPACK bomb (CVE-2016-6581) and the 0-length header flood
//! (CVE-2019-9516). See `tests/abuse/mod.rs` for the bounds.

mod abuse;
mod server;

use std::time::{Duration, Instant};

use abuse::*;

#[test]
fn continuation_flood_is_enhance_your_calm() {
    // HEADERS without END_HEADERS, then tiny CONTINUATIONs for ever: the
    // block declares a 1 MB field value and never gets there.
    let server = start(&[]);
    let watch = Watch::start(&server, "CONTINUATION flood");
    let mut head = hp::get("/");
    head.extend([0x00, 3, b'x', b'-', b'a']);
    hp::int(&mut head, 7, 0, 1_000_000);
    attack_for(ATTACK_WINDOW, |_| {
        let mut a = Attacker::tls(&server);
        a.queue(&headers(1, 0, &head));
        a.flood(Instant::now() + ANSWER_LIMIT, true, || (0..200).flat_map(|_| continuation(1, 0, b"a")).collect());
        a.expect_goaway(ENHANCE_YOUR_CALM, "CONTINUATION flood");
        assert!(a.seen.statuses.is_empty(), "no request was served");
        assert!(a.await_close(Duration::from_secs(2)), "not closed after the GOAWAY");
    });
    watch.finish();
}

#[test]
fn header_block_that_never_ends_is_closed_by_the_header_timeout() {
    // HEADERS without END_HEADERS and one CONTINUATION, then silence, on 20
    // connections at once: each is closed after --header-timeout-ms.
    let server = start(&["--header-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "header block never ends");
    {
        let mut attackers: Vec<Attacker> = (0..20).map(|_| Attacker::tls(&server)).collect();
        let sent = Instant::now();
        for a in &mut attackers {
            a.queue(&headers(1, 0, &hp::get("/")));
            a.queue(&continuation(1, 0, &hp::literal(b"x-a", b"1")));
            a.flush();
        }
        let deadline = sent + Duration::from_secs(4);
        for a in &mut attackers {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(a.await_close(left), "a connection with an unfinished header block was not closed");
            let (_, at) = a.closed.unwrap();
            let after = at.duration_since(sent);
            assert!(after >= Duration::from_millis(900), "closed after {after:?}, before the header timeout");
            assert!(a.seen.statuses.is_empty(), "no request was served");
        }
    }
    watch.finish();
}

/// A valid request whose header block references one 4 KB dynamic-table
/// entry about 60,000 times: 60 KB on the wire, a quarter of a GB decoded.
/// Split into HEADERS + CONTINUATIONs of 16 KB.
fn hpack_bomb(stream: u32) -> Vec<u8> {
    let mut block = hp::get("/");
    // 4,038 octets in the table (RFC 7541 §4.1): fits the default 4,096.
    block.extend(hp::incremental(b"x-bomb", &[b'b'; 4000]));
    block.extend(std::iter::repeat_n(hp::indexed(62)[0], 56_000));
    let chunks: Vec<&[u8]> = block.chunks(16_384).collect();
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i == chunks.len() - 1;
        let flags = if last { END_HEADERS } else { 0 };
        if i == 0 {
            out.extend(headers(stream, flags | END_STREAM, chunk));
        } else {
            out.extend(continuation(stream, flags, chunk));
        }
    }
    out
}

/// Sends `per_connection` requests made by `request(stream)` on each attack
/// connection, expecting `refused(status, reset)` for each, and then a
/// plain GET on the same connection, which must be served: the connection
/// (and its HPACK context) survives.
fn refused_requests(
    name: &str,
    per_connection: u32,
    request: impl Fn(u32) -> Vec<u8>,
    refused: impl Fn(Option<u16>, Option<u32>) -> bool,
) {
    let server = start(&[]);
    let watch = Watch::start(&server, name);
    let mut requests = 0;
    attack_for(ATTACK_WINDOW, |_| {
        let mut a = Attacker::tls(&server);
        let until = Instant::now() + ANSWER_LIMIT;
        for i in 0..per_connection {
            let id = 1 + 2 * i;
            a.exchange(&request(id), until, |s| s.ended.contains(&id) || s.resets.contains_key(&id));
            let (status, reset) = (a.seen.statuses.get(&id).copied(), a.seen.resets.get(&id).copied());
            assert!(refused(status, reset), "{name}: stream {id}: status {status:?}, reset {reset:?}");
            assert!(a.seen.goaway.is_none(), "{name}: the connection was closed: {:?}", a.seen.goaway);
            requests += 1;
        }
        let id = 1 + 2 * per_connection;
        a.exchange(&headers(id, END_HEADERS | END_STREAM, &hp::get("/")), until, |s| s.ended.contains(&id));
        assert_eq!(a.seen.statuses.get(&id), Some(&200), "{name}: a GET after the attack on the same connection");
    });
    println!("ABUSE {name}: {requests} requests refused");
    watch.finish();
}

#[test]
fn hpack_bomb_is_refused_and_the_connection_survives() {
    refused_requests("HPACK bomb", 10, hpack_bomb, |status, reset| status == Some(431) || reset.is_some());
}

#[test]
fn zero_length_header_flood_is_refused() {
    // CVE-2019-9516: thousands of fields with an empty name and value (3
    // octets each): a malformed request (empty name) or past the header
    // count limit; either way refused, and nothing kept.
    refused_requests(
        "0-length headers",
        20,
        |id| {
            let mut block = hp::get("/");
            for _ in 0..5000 {
                block.extend([0x00, 0x00, 0x00]);
            }
            headers(id, END_HEADERS | END_STREAM, &block)
        },
        |status, reset| status == Some(431) || reset.is_some(),
    );
}

#[test]
fn empty_value_header_flood_is_431() {
    // The valid variant: 4,000 fields `a:` (empty value), far past the
    // header count limit: 431 Request Header Fields Too Large.
    refused_requests(
        "empty-value headers",
        20,
        |id| {
            let mut block = hp::get("/");
            for _ in 0..4000 {
                block.extend(hp::literal(b"a", b""));
            }
            headers(id, END_HEADERS | END_STREAM, &block)
        },
        |status, reset| status == Some(431) && reset.is_none(),
    );
}
