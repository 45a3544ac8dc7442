//! Attacks with control frames and framing violations against the real
//! server (issue #8), while an honest client keeps reading pages: PING and
//! SETTINGS floods (CVE-2019-9512, 9515) from a client that never reads
//! the replies, an oversized frame, a window pushed past 2^31-1 and a
//! stream id going backwards. See `tests/abuse/mod.rs` for the bounds.

mod abuse;
mod server;

use std::time::{Duration, Instant};

use abuse::*;

/// A flood whose replies are never read: the server must give up on the
/// connection (GOAWAY ENHANCE_YOUR_CALM behind the unread replies, or a
/// close) instead of queueing replies for ever.
fn flood_without_reading(name: &str, unit: impl Fn(u64) -> Vec<u8>) {
    let server = start(&[]);
    let watch = Watch::start(&server, name);
    let connections = attack_for(ATTACK_WINDOW, |_| {
        let mut a = Attacker::connect_small_window(&server, Transport::Tls, &[]);
        let mut n = 0u64;
        a.flood(Instant::now() + Duration::from_millis(1000), false, || {
            let batch: Vec<u8> = (n..n + 500).flat_map(&unit).collect();
            n += 500;
            batch
        });
        let cut_off_while_writing = a.closed.is_some();
        // Now read what the server queued: its replies, then the GOAWAY.
        assert!(a.await_close(ANSWER_LIMIT), "{name}: the server never closed the connection ({n} frames sent)");
        if !cut_off_while_writing {
            a.expect_goaway(ENHANCE_YOUR_CALM, name);
        }
        assert!(a.seen.bytes < 64 << 20, "{name}: {} bytes of replies", a.seen.bytes);
    });
    assert!(connections > 0);
    watch.finish();
}

#[test]
fn ping_flood_without_reading_is_cut_off() {
    flood_without_reading("ping flood, not reading", ping);
}

#[test]
fn settings_flood_without_reading_is_cut_off() {
    flood_without_reading("settings flood, not reading", |_| settings(&[(SETTINGS_INITIAL_WINDOW_SIZE, 65_535)]));
}

/// Opens attack connections for a second, each committing `violation`
/// after the preface, and expects GOAWAY `code` and the close each time.
fn violation(name: &str, code: u32, violation: impl Fn() -> Vec<u8>, last_stream_id: u32) {
    let server = start(&[]);
    let watch = Watch::start(&server, name);
    let n = attack_for(Duration::from_secs(1), |_| {
        let mut a = Attacker::h2c(&server);
        a.exchange(&violation(), Instant::now() + ANSWER_LIMIT, |s| s.goaway.is_some());
        let g = a.expect_goaway(code, name);
        assert_eq!(g.last_stream_id, last_stream_id, "{name}: {g:?}");
        assert!(a.await_close(Duration::from_secs(2)), "{name}: not closed after the GOAWAY");
        // The same over TLS.
        let mut a = Attacker::tls(&server);
        a.exchange(&violation(), Instant::now() + ANSWER_LIMIT, |s| s.goaway.is_some());
        a.expect_goaway(code, name);
        assert!(a.await_close(Duration::from_secs(2)), "{name}: not closed after the GOAWAY (TLS)");
    });
    assert!(n > 1);
    watch.finish();
}

#[test]
fn oversized_frame_is_frame_size_error() {
    // 16,385 octets without a SETTINGS_MAX_FRAME_SIZE of ours that allows
    // it (the default is 16,384): a HEADERS frame, which carries a field
    // block, so a connection error (RFC 9113 §4.2).
    violation(
        "oversized frame",
        FRAME_SIZE_ERROR,
        || {
            let mut pad = 16_385 - hp::get("/").len();
            let block = loop {
                let mut block = hp::get("/");
                block.extend(hp::literal(b"x-pad", &vec![b'a'; pad]));
                if block.len() <= 16_385 {
                    break block;
                }
                pad -= block.len() - 16_385;
            };
            assert_eq!(block.len(), 16_385);
            headers(1, END_HEADERS | END_STREAM, &block)
        },
        0,
    );
}

#[test]
fn window_overflow_is_flow_control_error() {
    // The connection's send window starts at 65,535; 2^31-1 more is past
    // the maximum (RFC 9113 §6.9.1).
    violation("window overflow", FLOW_CONTROL_ERROR, || window_update(0, 0x7fff_ffff), 0);
}

#[test]
fn stream_id_going_backwards_is_protocol_error() {
    // Stream 5 then stream 3: ids must increase (RFC 9113 §5.1.1).
    violation(
        "stream id backwards",
        PROTOCOL_ERROR,
        || {
            let mut out = headers(5, END_HEADERS | END_STREAM, &hp::get("/"));
            out.extend(headers(3, END_HEADERS | END_STREAM, &hp::get("/")));
            out
        },
        5,
    );
}
