//! Floods that only a per-second budget stops, because the attacker reads
//! every reply and never breaks a protocol rule (issue #8): Rapid Reset
//! (CVE-2023-44487), MadeYouReset (CVE-2025-8671), the reset flood
//! (CVE-2019-9514), PRIORITY churn (CVE-2019-9513), empty frames
//! (CVE-2019-9518), and PING and SETTINGS floods (CVE-2019-9512, 9515) from
//! a client that reads. Each is answered GOAWAY ENHANCE_YOUR_CALM and a
//! close, over and over for the attack window, while an honest client keeps
//! reading pages. See `tests/abuse/mod.rs` for the bounds.

mod abuse;
mod server;

use std::time::{Duration, Instant};

use abuse::*;

/// Floods on a fresh connection (reading everything) until the server's
/// GOAWAY, then expects ENHANCE_YOUR_CALM and the close; again and again
/// for the attack window. `setup` goes first; `batch(first_stream)` makes
/// one batch of frames, `first_stream` the first of the fresh odd stream ids
/// it may use (it returns how many it used).
fn calm_flood(
    name: &str,
    limit: &str,
    transport: Transport,
    setup: &[u8],
    batch: impl Fn(u32) -> (Vec<u8>, u32),
) -> (usize, Vec<usize>) {
    let server = start(&[]);
    let watch = Watch::start(&server, name);
    let mut resets = Vec::new();
    let mut reasons = std::collections::BTreeSet::new();
    let connections = attack_for(ATTACK_WINDOW, |_| {
        let mut a = Attacker::connect(&server, transport, &[]);
        a.queue(setup);
        let mut next = if setup.is_empty() { 1 } else { 3 };
        a.flood(Instant::now() + ANSWER_LIMIT, true, || {
            let (bytes, used) = batch(next);
            next += 2 * used;
            bytes
        });
        let g = a.expect_goaway(ENHANCE_YOUR_CALM, name).clone();
        assert!(g.last_stream_id < next.max(2), "{name}: last stream id {} of {next}", g.last_stream_id);
        assert!(a.await_close(Duration::from_secs(2)), "{name}: not closed after the GOAWAY");
        resets.push(a.seen.resets.len());
        reasons.insert(g.debug);
    });
    println!("ABUSE {name}: {connections} attack connections, each GOAWAY ENHANCE_YOUR_CALM {reasons:?}");
    let figures = watch.finish();
    // Each limit a client runs into is logged, but not once per frame nor
    // even once per connection without bound.
    let log: Vec<String> = server.stderr.try_iter().filter(|l| l.contains("limit ")).collect();
    let tag = format!("limit {limit}:");
    assert!(log.iter().any(|l| l.contains(&tag)), "{name}: no {tag:?} in the server's log: {log:#?}");
    let bound = 40 * (figures.elapsed.as_secs() as usize + 2);
    assert!(log.len() <= bound, "{name}: {} limit lines logged for {connections} connections", log.len());
    (connections, resets)
}

#[test]
fn rapid_reset_is_enhance_your_calm() {
    // HEADERS (a complete GET) and RST_STREAM(CANCEL) at once, 100 streams
    // a batch.
    calm_flood("rapid reset", "rapid_reset", Transport::Tls, b"", |first| {
        let mut out = Vec::new();
        for i in 0..100 {
            let id = first + 2 * i;
            out.extend(headers(id, END_HEADERS | END_STREAM, &hp::get("/")));
            out.extend(rst_stream(id, CANCEL));
        }
        (out, 100)
    });
}

#[test]
fn made_you_reset_is_enhance_your_calm() {
    // Valid requests whose streams the client then makes the server reset:
    // a POST left open, then WINDOW_UPDATE with increment 0 on it (a stream
    // error, RFC 9113 §6.9), so the server resets every stream itself.
    let (_, resets) = calm_flood("MadeYouReset", "reset_flood", Transport::Tls, b"", |first| {
        let mut out = Vec::new();
        for i in 0..50 {
            let id = first + 2 * i;
            out.extend(headers(id, END_HEADERS, &hp::post("/")));
            out.extend(window_update(id, 0));
        }
        (out, 50)
    });
    assert!(resets.iter().all(|&n| n > 0), "the server reset streams before it gave up: {resets:?}");
}

#[test]
fn reset_flood_of_malformed_requests_is_enhance_your_calm() {
    // CVE-2019-9514: requests that each solicit a RST_STREAM (a
    // connection-specific field makes them malformed, RFC 9113 §8.2.2).
    let mut block = hp::get("/");
    block.extend(hp::literal(b"connection", b"keep-alive"));
    let (_, resets) = calm_flood("reset flood", "reset_flood", Transport::H2c, b"", |first| {
        let mut out = Vec::new();
        for i in 0..100 {
            out.extend(headers(first + 2 * i, END_HEADERS | END_STREAM, &block));
        }
        (out, 100)
    });
    assert!(resets.iter().all(|&n| n > 0), "malformed requests were reset: {resets:?}");
}

#[test]
fn priority_flood_is_enhance_your_calm() {
    // CVE-2019-9513: PRIORITY frames for ever new idle streams, each
    // depending on the one before (a priority tree to rebuild without end,
    // for a server that keeps one).
    calm_flood("priority flood", "priority_flood", Transport::H2c, b"", |first| {
        let out: Vec<u8> =
            (0..500).map(|i| first + 2 * i).flat_map(|id| priority(id, id.saturating_sub(2), 16)).collect();
        (out, 500)
    });
}

#[test]
fn empty_data_frames_are_enhance_your_calm() {
    // CVE-2019-9518: a POST left open, then DATA frames without payload
    // and without END_STREAM on it, cheap to send and worth nothing.
    let setup = headers(1, END_HEADERS, &hp::post("/"));
    calm_flood("empty DATA frames", "empty_frames", Transport::Tls, &setup, |_| {
        let out: Vec<u8> = (0..500).flat_map(|_| data(1, 0, b"")).collect();
        (out, 0)
    });
}

#[test]
fn ping_flood_while_reading_is_enhance_your_calm() {
    calm_flood("ping flood, reading", "ping_flood", Transport::Tls, b"", |_| ((0..100).flat_map(ping).collect(), 0));
}

#[test]
fn settings_flood_while_reading_is_enhance_your_calm() {
    calm_flood("settings flood, reading", "settings_flood", Transport::Tls, b"", |_| {
        ((0..100).flat_map(|_| settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65_535)])).collect(), 0)
    });
}

#[test]
fn empty_header_fragments_are_enhance_your_calm() {
    // CVE-2019-9518 with header blocks: each request is an empty HEADERS
    // fragment, 30 empty CONTINUATIONs and a last one with the whole block,
    // within the per-block frame cap, so only the empty frames are wrong.
    calm_flood("empty HEADERS/CONTINUATION fragments", "empty_frames", Transport::H2c, b"", |first| {
        let mut out = headers(first, END_STREAM, b"");
        for _ in 0..30 {
            out.extend(continuation(first, 0, b""));
        }
        out.extend(continuation(first, END_HEADERS, &hp::get("/")));
        (out, 1)
    });
}
