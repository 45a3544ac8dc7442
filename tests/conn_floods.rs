//! The per-tick flood budgets of `Connection` (issue #8): for each, below the budget nothing happens, past it GOAWAY
//! ENHANCE_YOUR_CALM with the right last-stream-id, and `tick()` refills it so a steady legitimate rate never trips
//! it. Also: window-update coalescing, the accessors the session's timeouts read (`has_partial_input`,
//! `send_blocked_on_peer_window`), the limit counters and their once-per-connection report, and the §5.1.1 / §4.1
//! stream-id rules at the top of the id space.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::{ConnConfig, Limit, RateLimit};

fn cfg() -> ConnConfig {
    ConnConfig::default()
}

/// Sends `unit(i)` for `i` = 0, 1, … one at a time, reading the output after each, until the connection fails; that
/// must be a connection error ENHANCE_YOUR_CALM ending in one GOAWAY. Returns (units accepted, GOAWAY last-stream-id).
#[track_caller]
fn accepted_until_calm(c: &mut Client, unit: &dyn Fn(u32) -> Vec<u8>, max: u32) -> (u32, u32) {
    for i in 0..max {
        match c.send(&unit(i)) {
            Ok(()) => {
                c.events();
                let f = c.read();
                assert!(f.iter().all(|f| f.kind != GOAWAY), "GOAWAY without an error: {f:?}");
            }
            Err(e) => {
                assert_eq!(e.code.to_u32(), ENHANCE_YOUR_CALM, "{e}");
                let f = c.read();
                let (last, code) = f.last().and_then(|f| f.goaway()).expect("GOAWAY last");
                assert_eq!(code, ENHANCE_YOUR_CALM);
                assert!(c.conn.is_closed());
                return (i, last);
            }
        }
    }
    panic!("{max} units accepted");
}

/// The only limit hit so far is `limit`, once; it is reported once.
#[track_caller]
fn only_hit(c: &mut Client, limit: Limit) {
    let hits: Vec<_> = c.conn.limit_hits().iter().filter(|&(_, n)| n > 0).collect();
    assert_eq!(hits, [(limit, 1)]);
    assert_eq!(c.conn.first_limit_hit(), Some(limit));
    assert_eq!(c.conn.take_new_limit_hit(), Some(limit));
    assert_eq!(c.conn.take_new_limit_hit(), None);
}

fn get(id: u32) -> Vec<u8> {
    headers(id, END_HEADERS | END_STREAM, &hp::get("/"))
}

// ---------------------------------------------------------------------------------------------------------------
// Rapid Reset (CVE-2023-44487)

#[test]
fn rapid_reset_past_the_budget_is_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    let open_and_cancel = |i: u32| cat(&[&get(2 * i + 1), &rst_stream(2 * i + 1, CANCEL)]);
    let (n, last) = accepted_until_calm(&mut c, &open_and_cancel, 100_000);
    assert_eq!(n, 256, "the default burst");
    // The HEADERS of the stream whose RST_STREAM tripped the limit was processed.
    assert_eq!(last, 2 * 256 + 1);
    only_hit(&mut c, Limit::RapidReset);
    assert_eq!(c.conn.error().unwrap().reason, Limit::RapidReset.reason());
}

#[test]
fn rapid_reset_budget_refills_with_ticks() {
    let mut c = Client::connect(ConnConfig { reset_limit: RateLimit::new(10, 20), ..cfg() });
    let mut id = 1;
    let mut cancel = |c: &mut Client, n: u32| {
        for _ in 0..n {
            c.send_ok(&cat(&[&get(id), &rst_stream(id, CANCEL)]));
            id += 2;
        }
        c.events();
        c.read();
    };
    // The burst, then per_tick after each tick, for long.
    cancel(&mut c, 20);
    for _ in 0..100 {
        c.conn.tick();
        cancel(&mut c, 10);
    }
    // Idle ticks refill only up to the burst.
    for _ in 0..10 {
        c.conn.tick();
    }
    cancel(&mut c, 20);
    assert_eq!(c.conn.limit_hits().total(), 0);
    c.expect_goaway(&cat(&[&get(id), &rst_stream(id, CANCEL)]), ENHANCE_YOUR_CALM);
}

#[test]
fn a_browser_cancelling_20_streams_a_second_for_a_minute_is_fine() {
    // Stream windows of 16 KB: the large responses are cancelled half sent.
    let mut c = Client::connect_with(cfg(), &[(INITIAL_WINDOW_SIZE, 16_384)]);
    c.send_ok(&window_update(0, 1 << 20));
    let mut id = 1;
    for _second in 0..60 {
        c.conn.tick();
        // 40 requests: every other one a small page, the rest large and cancelled while they arrive.
        let wire: Vec<u8> = (0..40).flat_map(|i| get(id + 2 * i)).collect();
        c.send_ok(&wire);
        assert_eq!(c.events().len(), 40);
        for i in (0..40).step_by(2) {
            c.conn.send_response(id + 2 * i, 200, &[], Bytes::from_static(b"page")).unwrap();
            c.conn.send_response(id + 2 * i + 2, 200, &[], Bytes::from(vec![b'x'; 100_000])).unwrap();
        }
        let f = c.read();
        for i in (0..40).step_by(2) {
            assert!(response_of(&f, id + 2 * i).2, "small page {}", id + 2 * i);
        }
        let mut wire = window_update(0, data_len(&f) as u32);
        for i in (1..40).step_by(2) {
            wire.extend(rst_stream(id + 2 * i, CANCEL));
        }
        c.send_ok(&wire);
        assert_eq!(c.events().len(), 20, "one StreamReset each");
        c.read();
        assert_eq!(c.conn.active_streams(), 0);
        id += 80;
    }
    assert_eq!(c.conn.limit_hits().total(), 0);
    c.roundtrip(id);
}

#[test]
fn cancelling_every_stream_of_a_full_page_twice_is_fine() {
    let mut c = Client::connect(cfg());
    let mut id = 1;
    for _page in 0..2 {
        let first = id;
        let wire: Vec<u8> = (0..128).flat_map(|i| get(first + 2 * i)).collect();
        c.send_ok(&wire);
        assert_eq!(c.events().len(), 128);
        let wire: Vec<u8> = (0..128).flat_map(|i| rst_stream(first + 2 * i, CANCEL)).collect();
        c.send_ok(&wire);
        assert_eq!(c.events().len(), 128, "one StreamReset each");
        id += 256;
    }
    assert_eq!(c.conn.active_streams(), 0);
    c.roundtrip(id);
}

// ---------------------------------------------------------------------------------------------------------------
// MadeYouReset (CVE-2025-8671) and reset floods (CVE-2019-9514): resets we send because of the client's frames

#[test]
fn window_update_zero_on_a_stream_spends_the_reset_budget() {
    let mut c = Client::connect(cfg());
    c.send_ok(&get(1));
    // A zero increment is a stream error (§6.9): one RST_STREAM PROTOCOL_ERROR each, on an open stream and then on
    // the closed one (still not idle).
    let (n, last) = accepted_until_calm(&mut c, &|_| window_update(1, 0), 100_000);
    assert_eq!((n, last), (256, 1));
    only_hit(&mut c, Limit::ResetFlood);
}

#[test]
fn malformed_requests_spend_the_reset_budget() {
    let mut c = Client::connect(cfg());
    let block = cat(&[&hp::get("/"), &hp::literal("X-Upper", "1")]);
    let (n, last) = accepted_until_calm(&mut c, &|i| headers(2 * i + 1, END_HEADERS | END_STREAM, &block), 100_000);
    assert_eq!((n, last), (256, 2 * 256 + 1));
    only_hit(&mut c, Limit::ResetFlood);
}

#[test]
fn data_on_a_half_closed_stream_spends_the_reset_budget() {
    let mut c = Client::connect(ConnConfig { reset_limit: RateLimit::new(1, 5), ..cfg() });
    let (n, last) = accepted_until_calm(&mut c, &|i| cat(&[&get(2 * i + 1), &data(2 * i + 1, 0, b"late")]), 100_000);
    assert_eq!((n, last), (5, 11));
    only_hit(&mut c, Limit::ResetFlood);
}

#[test]
fn client_and_server_resets_share_one_budget() {
    let mut c = Client::connect(ConnConfig { reset_limit: RateLimit::new(5, 10), ..cfg() });
    for id in [1, 3, 5, 7, 9, 11] {
        c.send_ok(&cat(&[&get(id), &rst_stream(id, CANCEL)]));
    }
    c.send_ok(&get(13));
    for _ in 0..4 {
        c.expect_rst(&window_update(13, 0), 13, PROTOCOL_ERROR);
    }
    // 6 + 4 = 10: the next reset of either kind trips it.
    let mut d = Client::connect(ConnConfig { reset_limit: RateLimit::new(5, 10), ..cfg() });
    d.send_ok(&get(1));
    for _ in 0..10 {
        d.send_ok(&window_update(1, 0));
    }
    d.expect_goaway(&cat(&[&get(3), &rst_stream(3, CANCEL)]), ENHANCE_YOUR_CALM);
    only_hit(&mut d, Limit::RapidReset);
    c.expect_goaway(&window_update(13, 0), ENHANCE_YOUR_CALM);
    only_hit(&mut c, Limit::ResetFlood);
}

#[test]
fn refused_streams_are_counted_and_spend_the_reset_budget() {
    let mut c = Client::connect(ConnConfig { max_concurrent_streams: 1, reset_limit: RateLimit::new(1, 3), ..cfg() });
    c.send_ok(&get(1));
    for id in [3, 5, 7] {
        c.expect_rst(&get(id), id, REFUSED_STREAM);
    }
    assert_eq!(c.conn.limit_hits().get(Limit::ConcurrentStreams), 3);
    c.conn.tick();
    c.expect_rst(&get(9), 9, REFUSED_STREAM);
    assert_eq!(c.expect_goaway(&get(11), ENHANCE_YOUR_CALM), 11);
    assert_eq!(c.conn.limit_hits().get(Limit::ConcurrentStreams), 5);
    assert_eq!(c.conn.limit_hits().get(Limit::ResetFlood), 1);
    assert_eq!(c.conn.first_limit_hit(), Some(Limit::ConcurrentStreams));
}

#[test]
fn oversized_header_lists_get_431_counted_and_spend_the_reset_budget() {
    let cfg = ConnConfig { max_header_list_size: 1000, reset_limit: RateLimit::new(1, 2), ..cfg() };
    let mut c = Client::connect(cfg);
    let block = cat(&[&hp::get("/"), &hp::literal("x-big", &"v".repeat(1500))]);
    for id in [1, 3] {
        c.send_ok(&headers(id, END_HEADERS | END_STREAM, &block));
        assert!(c.events().is_empty());
        assert_eq!(response_of(&c.read(), id).0, Some(431));
    }
    assert_eq!(c.conn.limit_hits().get(Limit::HeaderListTooLarge), 2);
    assert_eq!(c.expect_goaway(&headers(5, END_HEADERS | END_STREAM, &block), ENHANCE_YOUR_CALM), 5);
    assert_eq!(c.conn.limit_hits().get(Limit::ResetFlood), 1);
}

// ---------------------------------------------------------------------------------------------------------------
// CONTINUATION floods (CVE-2024-27316 and its 2024 siblings)

#[test]
fn many_tiny_continuations_are_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    let block = hp::get("/");
    let mut wire = headers(1, END_STREAM, &block[..1]);
    for _ in 0..100_000 {
        wire.extend(continuation(1, 0, b"\x82"));
    }
    assert_eq!(c.expect_goaway(&wire, ENHANCE_YOUR_CALM), 0);
    only_hit(&mut c, Limit::ContinuationFlood);
}

#[test]
fn a_block_larger_than_its_cap_is_enhance_your_calm() {
    let mut c = Client::connect(ConnConfig { max_header_list_size: 4000, ..cfg() });
    c.send_ok(&headers(1, END_STREAM, &[0x40; 5000]));
    assert_eq!(c.expect_goaway(&continuation(1, 0, &[0x40; 5000]), ENHANCE_YOUR_CALM), 0);
    only_hit(&mut c, Limit::HeaderBlockTooLarge);
}

#[test]
fn continuation_budget_per_tick() {
    let mut c = Client::connect(ConnConfig { continuation_limit: RateLimit::new(2, 4), ..cfg() });
    let block = hp::get("/");
    let (a, b) = block.split_at(1);
    let (b, d) = b.split_at(1);
    let split =
        |id: u32| cat(&[&headers(id, END_STREAM, a), &continuation(id, 0, b), &continuation(id, END_HEADERS, d)]);
    c.send_ok(&cat(&[&split(1), &split(3)]));
    assert_eq!(c.events().len(), 2);
    c.conn.tick();
    c.send_ok(&split(5));
    assert_eq!(c.events().len(), 1);
    assert_eq!(c.expect_goaway(&split(7), ENHANCE_YOUR_CALM), 5, "the block on 7 never completed");
    only_hit(&mut c, Limit::ContinuationFlood);
}

#[test]
fn partial_input_while_a_header_block_is_open() {
    // The session's header timeout measures `has_partial_input`: it must stay true across CONTINUATIONs, even when
    // every frame arrived whole.
    let mut c = Client::connect(cfg());
    assert!(!c.conn.has_partial_input());
    let block = hp::get("/slow");
    c.send_ok(&headers(1, END_STREAM, &block[..2]));
    assert!(c.conn.has_partial_input());
    for i in 2..block.len() - 1 {
        c.send_ok(&continuation(1, 0, &block[i..i + 1]));
        assert!(c.conn.has_partial_input());
        c.conn.tick();
    }
    c.send_ok(&continuation(1, END_HEADERS, &block[block.len() - 1..]));
    assert!(!c.conn.has_partial_input());
    assert_eq!(c.events().len(), 1);
    // Half a frame header, then the rest.
    let f = get(3);
    c.send_ok(&f[..5]);
    assert!(c.conn.has_partial_input());
    c.send_ok(&f[5..]);
    assert!(!c.conn.has_partial_input());
}

// ---------------------------------------------------------------------------------------------------------------
// Empty frames (CVE-2019-9518)

#[test]
fn empty_data_flood_is_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/upload")));
    let (n, last) = accepted_until_calm(&mut c, &|_| data(1, 0, b""), 100_000);
    assert_eq!((n, last), (200, 1));
    only_hit(&mut c, Limit::EmptyFrames);
}

#[test]
fn empty_frames_counted_and_refilled() {
    let mut c = Client::connect(ConnConfig { empty_frame_limit: RateLimit::new(3, 6), ..cfg() });
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/upload")));
    // Padding only, no data: as empty.
    c.send_ok(&cat(&[&data(1, 0, b""), &data_padded(1, 0, b"", 10), &data(1, 0, b""), &data(1, 0, b"")]));
    // Not counted: payload, or an END_STREAM that ends something.
    c.send_ok(&cat(&[&data(1, 0, b"x"), &data(1, 0, b"y")]));
    for _ in 0..20 {
        c.conn.tick();
        c.send_ok(&cat(&[&data(1, 0, b""), &data(1, 0, b""), &data(1, 0, b"")]));
    }
    // An empty HEADERS fragment and empty CONTINUATIONs, none ending the block: 1 + 4 of the 5 tokens left.
    c.conn.tick();
    c.send_ok(&headers(1, END_STREAM, b""));
    for _ in 0..4 {
        c.send_ok(&continuation(1, 0, b""));
    }
    assert_eq!(c.conn.limit_hits().total(), 0);
    assert_eq!(c.expect_goaway(&continuation(1, 0, b""), ENHANCE_YOUR_CALM), 1);
    only_hit(&mut c, Limit::EmptyFrames);

    let mut c = Client::connect(ConnConfig { empty_frame_limit: RateLimit::new(0, 0), ..cfg() });
    c.send_ok(&cat(&[&headers(1, END_HEADERS, &hp::post("/")), &data(1, END_STREAM, b"")]));
    assert_eq!(c.events().len(), 2, "request and its (empty) end");
    assert_eq!(c.conn.limit_hits().total(), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// PING (CVE-2019-9512), SETTINGS (CVE-2019-9515) and PRIORITY (CVE-2019-9513) floods

#[test]
fn ping_flood_from_a_client_that_reads_is_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    let (n, last) = accepted_until_calm(&mut c, &|i| ping(0, u64::from(i).to_be_bytes()), 100_000);
    assert_eq!((n, last), (200, 0));
    only_hit(&mut c, Limit::PingFlood);
}

#[test]
fn pings_at_the_rate_and_ping_acks_count() {
    let mut c = Client::connect(cfg());
    for _ in 0..100 {
        c.conn.tick();
        let wire: Vec<u8> = (0..90u64).flat_map(|i| ping(0, i.to_be_bytes())).collect();
        c.send_ok(&wire);
        assert_eq!(c.read().len(), 90);
        c.send_ok(&ping(ACK, [1; 8]).repeat(10));
    }
    assert_eq!(c.conn.limit_hits().total(), 0);
    c.conn.tick();
    // Unsolicited ACKs (we never ping) spend the same budget.
    let (n, _) = accepted_until_calm(&mut c, &|_| ping(ACK, [2; 8]), 1000);
    assert_eq!(n, 200);
}

#[test]
fn settings_flood_is_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    // `connect` sent one SETTINGS and one ACK of ours.
    let (n, last) = accepted_until_calm(&mut c, &|_| settings(&[(INITIAL_WINDOW_SIZE, 65_535)]), 1000);
    assert_eq!((n, last), (18, 0));
    only_hit(&mut c, Limit::SettingsFlood);

    let mut c = Client::connect(cfg());
    for _ in 0..100 {
        c.conn.tick();
        for _ in 0..10 {
            c.send_ok(&settings(&[(HEADER_TABLE_SIZE, 4096)]));
        }
        c.read();
    }
    assert_eq!(c.conn.limit_hits().total(), 0);
}

#[test]
fn priority_flood_is_enhance_your_calm() {
    let mut c = Client::connect(cfg());
    c.send_ok(&get(1));
    // PRIORITY is ignored (§5.3.2), may name idle streams, and never opens them.
    let (n, last) = accepted_until_calm(&mut c, &|i| priority(3 + 2 * (i % 1000), 1, 16), 100_000);
    assert_eq!((n, last), (256, 1));
    only_hit(&mut c, Limit::PriorityFlood);

    let mut c = Client::connect(cfg());
    for _ in 0..100 {
        c.conn.tick();
        let wire: Vec<u8> = (0..100).flat_map(|i| priority(1 + 2 * i, 0, 200)).collect();
        c.send_ok(&wire);
    }
    assert_eq!(c.conn.limit_hits().total(), 0);
    c.roundtrip(1);
}

// ---------------------------------------------------------------------------------------------------------------
// Data dribble, internal data buffering (CVE-2019-9511, 9517)

#[test]
fn one_byte_data_frames_get_few_window_updates() {
    // §6.9: we credit a window back once half of it is used, not per frame, so a client cannot make us answer
    // each tiny DATA frame with WINDOW_UPDATEs (a reflection of its frame rate).
    let cfg = ConnConfig { initial_window_size: 65_535, connection_window_size: 65_535, ..cfg() };
    let mut c = Client::connect(cfg);
    c.send_ok(&headers(1, END_HEADERS, &hp::post("/upload")));
    c.events();
    let (mut updates, mut credited, mut body) = (0, [0u64; 2], 0);
    for _ in 0..200 {
        let wire: Vec<u8> = (0..1000).flat_map(|_| data(1, 0, b"x")).collect();
        c.send_ok(&wire);
        for e in c.events() {
            if let Ev::Data { data, .. } = e {
                body += data.len();
            }
        }
        for f in c.read() {
            if let Some(inc) = f.window_update() {
                updates += 1;
                credited[usize::from(f.stream != 0)] += u64::from(inc);
            }
        }
    }
    assert_eq!(body, 200_000, "every byte handed over at once, nothing kept");
    // 200,000 bytes, a credit each 32,768 per window: 6 per window.
    assert!(updates <= 12, "{updates} WINDOW_UPDATEs for 200,000 one-byte DATA frames");
    assert!(credited.iter().all(|&n| n >= 200_000 - 32_768), "{credited:?}");
    assert_eq!(c.conn.limit_hits().total(), 0);
}

#[test]
fn send_blocked_on_peer_window() {
    // A stream window of 0 (§6.9.2): the response waits for the client.
    let mut c = Client::connect_with(cfg(), &[(INITIAL_WINDOW_SIZE, 0)]);
    assert!(!c.conn.send_blocked_on_peer_window(), "nothing to send");
    c.send_ok(&get(1));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(100))).unwrap();
    assert!(!c.conn.send_blocked_on_peer_window(), "the HEADERS still have to go");
    let f = c.read();
    assert_eq!(data_len(&f), 0);
    assert!(c.conn.send_blocked_on_peer_window());
    c.send_ok(&window_update(1, 60));
    assert!(!c.conn.send_blocked_on_peer_window());
    assert_eq!(data_len(&c.read()), 60);
    assert!(c.conn.send_blocked_on_peer_window());
    c.send_ok(&window_update(1, 40));
    assert_eq!(data_len(&c.read()), 40);
    assert!(!c.conn.send_blocked_on_peer_window(), "all sent");

    // The connection window (65,535 until the client raises it) runs out first.
    let mut c = Client::connect_with(cfg(), &[(INITIAL_WINDOW_SIZE, 1 << 20)]);
    c.send_ok(&cat(&[&get(1), &get(3)]));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(50_000))).unwrap();
    c.conn.send_response(3, 200, &[], Bytes::from(pattern(50_000))).unwrap();
    assert_eq!(data_len(&c.read()), 65_535);
    assert!(c.conn.send_blocked_on_peer_window());
    c.send_ok(&window_update(0, 1 << 20));
    assert_eq!(data_len(&c.read()), 100_000 - 65_535);
    assert!(!c.conn.send_blocked_on_peer_window());

    // A stream the client reset no longer waits; a failed connection never does.
    let mut c = Client::connect_with(cfg(), &[(INITIAL_WINDOW_SIZE, 0)]);
    c.send_ok(&cat(&[&get(1), &get(3)]));
    c.events();
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(10))).unwrap();
    c.read();
    assert!(c.conn.send_blocked_on_peer_window());
    c.send_ok(&rst_stream(1, CANCEL));
    assert!(!c.conn.send_blocked_on_peer_window());
    c.conn.send_response(3, 200, &[], Bytes::from(pattern(10))).unwrap();
    c.read();
    assert!(c.conn.send_blocked_on_peer_window());
    c.conn.abort(h2ring::h2::error::ErrorCode::NoError, "write timeout");
    assert!(!c.conn.send_blocked_on_peer_window());
}

// ---------------------------------------------------------------------------------------------------------------
// Counters and the once-per-connection report

#[test]
fn each_limit_is_reported_once_per_connection() {
    let cfg = ConnConfig { max_concurrent_streams: 1, max_header_list_size: 1000, ..cfg() };
    let mut c = Client::connect(cfg);
    assert_eq!(c.conn.take_new_limit_hit(), None);
    let big = cat(&[&hp::get("/"), &hp::literal("x-big", &"v".repeat(1500))]);
    c.send_ok(&headers(1, END_HEADERS | END_STREAM, &big));
    c.read();
    assert_eq!(c.conn.take_new_limit_hit(), Some(Limit::HeaderListTooLarge));
    assert_eq!(c.conn.take_new_limit_hit(), None);
    c.send_ok(&headers(3, END_HEADERS | END_STREAM, &big));
    c.read();
    assert_eq!(c.conn.take_new_limit_hit(), None, "already reported");
    c.send_ok(&get(5));
    c.send_ok(&get(7));
    c.send_ok(&get(9));
    assert_eq!(c.conn.take_new_limit_hit(), Some(Limit::ConcurrentStreams));
    assert_eq!(c.conn.take_new_limit_hit(), None);
    for i in 0..200u64 {
        c.send_ok(&ping(0, i.to_be_bytes()));
    }
    c.expect_goaway(&ping(0, [0; 8]), ENHANCE_YOUR_CALM);
    assert_eq!(c.conn.take_new_limit_hit(), Some(Limit::PingFlood));
    assert_eq!(c.conn.take_new_limit_hit(), None);
    let hits = c.conn.limit_hits();
    assert_eq!(hits.get(Limit::HeaderListTooLarge), 2);
    assert_eq!(hits.get(Limit::ConcurrentStreams), 2);
    assert_eq!(hits.get(Limit::PingFlood), 1);
    assert_eq!(hits.total(), 5);
    assert_eq!(c.conn.first_limit_hit(), Some(Limit::HeaderListTooLarge));
}

#[test]
fn limit_names_are_distinct_snake_case() {
    let names: Vec<&str> = Limit::ALL.iter().map(|l| l.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), Limit::COUNT);
    assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    assert_eq!(Limit::RapidReset.to_string(), "rapid_reset");
    assert!(
        Limit::ALL.iter().filter(|l| !l.is_fatal()).eq([Limit::HeaderListTooLarge, Limit::ConcurrentStreams].iter())
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Stream ids at the top of the space (§5.1.1), the reserved bit (§4.1), SETTINGS windows (§6.9.2)

#[test]
fn no_stream_after_the_highest_id() {
    let mut c = Client::connect(cfg());
    c.roundtrip(0x7fff_ffff);
    // Ids must increase: nothing is left, a lower one is a connection error.
    assert_eq!(c.expect_goaway(&get(0x7fff_fffd), PROTOCOL_ERROR), 0x7fff_ffff);

    // The reserved bit is ignored (§4.1): 0x8000_0001 is stream 1.
    let mut c = Client::connect(cfg());
    c.send_ok(&frame(HEADERS, END_HEADERS | END_STREAM, 0x8000_0001, &hp::get("/r")));
    assert!(matches!(&c.events()[..], [Ev::Request(r)] if r.stream == 1));
    // …so the highest id with it set is still 2^31-1, reached and then exhausted.
    c.send_ok(&frame(HEADERS, END_HEADERS | END_STREAM, 0xffff_ffff, &hp::get("/r")));
    assert!(matches!(&c.events()[..], [Ev::Request(r)] if r.stream == 0x7fff_ffff));
}

#[test]
fn settings_window_overflow_in_the_middle_of_a_frame() {
    // §6.5.3 in order: 2^31-1 lifts a stream window above the maximum, even if a later value brings it back.
    let mut c = Client::connect(cfg());
    c.send_ok(&get(1));
    c.send_ok(&window_update(1, 10));
    let f = settings(&[(INITIAL_WINDOW_SIZE, MAX_WINDOW), (INITIAL_WINDOW_SIZE, 1000)]);
    c.expect_goaway(&f, FLOW_CONTROL_ERROR);

    // Up to the maximum exactly is fine; the last value applies.
    let mut c = Client::connect(cfg());
    c.send_ok(&get(1));
    c.events();
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, MAX_WINDOW), (INITIAL_WINDOW_SIZE, 0), (INITIAL_WINDOW_SIZE, 1000)]));
    c.read();
    c.conn.send_response(1, 200, &[], Bytes::from(pattern(5000))).unwrap();
    assert_eq!(data_len(&c.read()), 1000);
}

#[test]
fn a_settings_frame_of_2730_parameters() {
    // 16,380 bytes of INITIAL_WINDOW_SIZE: one pass over the streams, the last value wins.
    let mut c = Client::connect(cfg());
    let wire: Vec<u8> = (0..100).flat_map(|i| get(2 * i + 1)).collect();
    c.send_ok(&wire);
    c.events();
    for i in 0..100 {
        c.conn.send_response(2 * i + 1, 200, &[], Bytes::from(pattern(100))).unwrap();
    }
    let params: Vec<(u16, u32)> =
        (0..2729).map(|i| (INITIAL_WINDOW_SIZE, 1 + i)).chain([(INITIAL_WINDOW_SIZE, 7)]).collect();
    c.send_ok(&settings(&[(INITIAL_WINDOW_SIZE, 0)]));
    // The SETTINGS above came before any DATA was written: each stream may send 0, then 7 bytes.
    let f = c.read();
    assert_eq!(data_len(&f), 0);
    c.send_ok(&settings(&params));
    let f = c.read();
    assert_eq!(data_len(&f), 700);
}
