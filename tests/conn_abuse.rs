//! `Connection` against hostile clients: floods of frames that make the server queue replies without reading
//! them (CVE-2019-9512 ping flood, CVE-2019-9515 settings flood, reset floods), and a few thousand random inputs.

mod common;

use bytes::Bytes;
use common::*;
use h2ring::h2::conn::{ConnConfig, Limit, RateLimit};

/// The per-tick budgets out of the way, so the floods below test `max_queued_output` alone (the budgets have their
/// own tests in `conn_floods.rs`).
fn unbudgeted(cfg: ConnConfig) -> ConnConfig {
    let u = RateLimit::UNLIMITED;
    ConnConfig {
        reset_limit: u,
        ping_limit: u,
        settings_limit: u,
        priority_limit: u,
        empty_frame_limit: u,
        continuation_limit: u,
        ..cfg
    }
}

/// Feeds `unit` `count` times (1000 per `recv`) without calling `write_output`; the connection must give up with
/// ENHANCE_YOUR_CALM before the unread output grows past `max_queued_output` plus one reply.
fn flood(cfg: ConnConfig, setup: &[u8], unit: &dyn Fn(u32) -> Vec<u8>, count: u32, reply_len: usize) {
    let limit = cfg.max_queued_output;
    let mut c = Client::connect(cfg);
    c.send_ok(setup);
    c.read();
    let mut failed = None;
    let mut i = 0;
    while i < count {
        let batch: Vec<u8> = (i..(i + 1000).min(count)).flat_map(unit).collect();
        i += 1000;
        if let Err(e) = c.send(&batch) {
            failed = Some(e);
            break;
        }
    }
    let err = failed.expect("the flood was never stopped");
    assert_eq!(err.code.to_u32(), ENHANCE_YOUR_CALM, "{err}");
    let mut out = Vec::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = c.conn.write_output(&mut buf);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let (frames, rest) = c.parse(&out);
    assert!(rest.is_empty());
    let goaway = frames.last().unwrap();
    assert_eq!(goaway.goaway().map(|g| g.1), Some(ENHANCE_YOUR_CALM));
    let queued = out.len() - 9 - goaway.payload.len();
    assert!(queued <= limit + reply_len, "{queued} bytes queued, limit {limit}");
    assert!(queued + 2 * reply_len > limit, "gave up early: {queued} of {limit}");
    assert!(c.conn.is_closed());
    assert_eq!(c.conn.first_limit_hit(), Some(Limit::QueuedOutput));
    assert_eq!(c.conn.take_new_limit_hit(), Some(Limit::QueuedOutput));
    assert_eq!(c.conn.take_new_limit_hit(), None);
}

#[test]
fn ping_flood_without_reading_is_enhance_your_calm() {
    flood(unbudgeted(ConnConfig::default()), b"", &|i| ping(0, u64::from(i).to_be_bytes()), 100_000, 17);
}

#[test]
fn settings_flood_without_reading_is_enhance_your_calm() {
    let cfg = unbudgeted(ConnConfig { max_queued_output: 10_000, ..ConnConfig::default() });
    flood(cfg, b"", &|_| settings(&[(INITIAL_WINDOW_SIZE, 65_535)]), 100_000, 9);
}

#[test]
fn stream_error_flood_without_reading_is_enhance_your_calm() {
    // Every request is malformed (uppercase name): one RST_STREAM each.
    let cfg = unbudgeted(ConnConfig { max_queued_output: 10_000, ..ConnConfig::default() });
    let block = cat(&[&hp::get("/"), &hp::literal("X", "1")]);
    flood(cfg, b"", &|i| headers(2 * i + 1, END_HEADERS | END_STREAM, &block), 100_000, 13);
}

#[test]
fn window_update_zero_flood_without_reading_is_enhance_your_calm() {
    // A zero increment on an open stream is a stream error; repeated on 1000 half-closed streams.
    let cfg =
        unbudgeted(ConnConfig { max_queued_output: 5_000, max_concurrent_streams: 100_000, ..ConnConfig::default() });
    let mut setup = Vec::new();
    for id in 0..2000u32 {
        setup.extend(headers(2 * id + 1, END_HEADERS | END_STREAM, &hp::get("/")));
    }
    flood(cfg, &setup, &|i| window_update(2 * (i % 2000) + 1, 0), 2000, 13);
}

#[test]
fn pings_from_a_client_that_reads_are_all_answered() {
    let cfg = ConnConfig { max_queued_output: 1000, ..ConnConfig::default() };
    let mut c = Client::connect(cfg);
    for round in 0..100u64 {
        // One round a second: 50 PINGs a second stay within the PING budget.
        c.conn.tick();
        let batch: Vec<u8> = (0..50u64).flat_map(|i| ping(0, (round * 50 + i).to_be_bytes())).collect();
        c.send_ok(&batch);
        let f = c.read();
        assert_eq!(f.len(), 50);
        assert!(f.iter().all(|f| f.kind == PING && f.flags == ACK));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Random input

/// A random frame: usually one a well-behaved client could send (so sequences get deep into the state machine),
/// sometimes one with a random header (known types, small stream ids, mostly defined flags) and random payload.
fn random_frame(rng: &mut Rng, next_stream: &mut u32) -> Vec<u8> {
    let open = |rng: &mut Rng, next: u32| if next > 1 { 1 + 2 * rng.below(u64::from(next / 2)) as u32 } else { 1 };
    if rng.below(8) != 0 {
        let id = open(rng, *next_stream);
        let pick = if *next_stream == 1 { 0 } else { rng.below(11) };
        return match pick {
            0 | 1 => {
                let id = *next_stream;
                *next_stream += 2;
                let mut block = if rng.below(2) == 0 { hp::get("/fuzz") } else { hp::post("/fuzz") };
                if rng.below(3) == 0 {
                    block.extend(hp::incremental("x-f", "1"));
                    block.push(0xbe);
                }
                let es = if rng.below(2) == 0 { END_STREAM } else { 0 };
                headers(id, END_HEADERS | es, &block)
            }
            2 | 3 => {
                let es = if rng.below(3) == 0 { END_STREAM } else { 0 };
                data(id, es, &vec![b'd'; rng.below(3000) as usize])
            }
            4 => ping(0, rng.next().to_be_bytes()),
            5 => window_update(if rng.below(2) == 0 { 0 } else { id }, 1 + rng.below(100_000) as u32),
            6 => {
                let (id, values) = match rng.below(5) {
                    0 => (ENABLE_PUSH, &[0, 1][..]),
                    1 => (MAX_FRAME_SIZE, &[16_384, 1 << 20][..]),
                    2 => (INITIAL_WINDOW_SIZE, &[0, 1, 65_535, 1 << 20][..]),
                    3 => (HEADER_TABLE_SIZE, &[0, 100, 4096, 1 << 20][..]),
                    _ => (0x99, &[7][..]),
                };
                settings(&[(id, values[rng.below(values.len() as u64) as usize])])
            }
            7 => priority(1 + 2 * rng.below(20) as u32, 2 * rng.below(20) as u32, rng.next() as u8),
            8 => rst_stream(id, rng.below(14) as u32),
            9 => headers(id, END_HEADERS | END_STREAM, &hp::literal("x-trailer", "t")),
            _ => frame(0x20 + rng.below(200) as u8, rng.next() as u8, rng.next() as u32 & 0xff, b"ext"),
        };
    }
    let r = rng.next();
    let kind = if r.is_multiple_of(8) { (r >> 8) as u8 } else { (r >> 8) as u8 % 10 };
    let flags = if r & 0x30000 != 0 { (r >> 20) as u8 & 0x2d } else { (r >> 20) as u8 };
    let stream = match rng.below(6) {
        0 => 0,
        1 => (rng.next() as u32) & 0x7fff_ffff,
        _ => rng.below(u64::from(*next_stream) + 4) as u32,
    };
    let len = match rng.below(4) {
        0 => 0,
        1 => rng.below(12) as usize,
        _ => rng.below(64) as usize,
    };
    let mut payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    match kind {
        SETTINGS if rng.below(2) == 0 => payload.truncate(len / 6 * 6),
        PING if rng.below(2) == 0 => payload.resize(8, 0),
        WINDOW_UPDATE | RST_STREAM if rng.below(2) == 0 => payload.resize(4, 0),
        _ => {}
    }
    frame(kind, flags, stream, &payload)
}

/// Follows what the client announced, so `Client::parse` checks frame sizes against the right limit.
fn note_settings(c: &mut Client, f: &[u8]) {
    if f[3] != SETTINGS || f[4] & ACK != 0 {
        return;
    }
    for p in f[9..].chunks_exact(6) {
        let v = u32::from_be_bytes([p[2], p[3], p[4], p[5]]);
        if u16::from_be_bytes([p[0], p[1]]) == MAX_FRAME_SIZE && (16_384..1 << 24).contains(&v) {
            c.max_frame_size = c.max_frame_size.max(v);
        }
    }
}

/// After `Err`, the output ends with one GOAWAY and the connection is closed.
fn check_failed(c: &mut Client, out_size: usize) {
    let f = c.read_with(out_size);
    assert!(f.last().and_then(|f| f.goaway()).is_some(), "a connection error ends with GOAWAY: {f:?}");
    assert!(c.conn.is_closed());
}

fn serve(c: &mut Client, rng: &mut Rng) {
    for e in c.events() {
        if let Ev::Request(r) = e {
            let body = Bytes::from(vec![b'r'; rng.below(40_000) as usize]);
            let _ = c.conn.send_response(r.stream, 200, &[(b"x-r", b"1")], body);
        }
    }
}

#[test]
fn random_frames_never_panic_and_end_cleanly() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut alive, mut failed, mut frames) = (0, 0, 0);
    for _ in 0..3000 {
        let mut c = Client::connect(ConnConfig::default());
        let out_size = 10 + rng.below(20_000) as usize;
        let mut next_stream = 1;
        let mut ok = true;
        for _ in 0..1 + rng.below(25) {
            let f = random_frame(&mut rng, &mut next_stream);
            note_settings(&mut c, &f);
            frames += 1;
            if c.send(&f).is_err() {
                ok = false;
                break;
            }
            serve(&mut c, &mut rng);
            c.read_with(out_size);
        }
        if ok {
            // Whole frames only were sent, so a PING is read as a PING: answered, or (inside an unfinished header
            // block) a connection error.
            let probe = rng.next().to_be_bytes();
            match c.send(&ping(0, probe)) {
                Ok(()) => {
                    let f = c.read_with(out_size);
                    assert!(f.iter().any(|f| f.kind == PING && f.flags == ACK && f.payload == probe), "{f:?}");
                    alive += 1;
                }
                Err(_) => {
                    check_failed(&mut c, out_size);
                    failed += 1;
                }
            }
        } else {
            check_failed(&mut c, out_size);
            failed += 1;
        }
    }
    // Both outcomes well represented, or the generator is too tame or too wild to test anything.
    assert!(alive > 500 && failed > 500 && frames > 12_000, "alive {alive}, failed {failed}, {frames} frames");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..3000 {
        let mut c = Client::connect(ConnConfig::default());
        // Mostly random frames cut at random places, sometimes pure noise.
        let mut wire = Vec::new();
        let mut next_stream = 1;
        if i % 4 == 0 {
            wire.extend((0..rng.below(300)).map(|_| rng.next() as u8));
        } else {
            for _ in 0..rng.below(20) {
                wire.extend(random_frame(&mut rng, &mut next_stream));
            }
        }
        c.max_frame_size = 1 << 24;
        let mut rest = &wire[..];
        let mut ok = true;
        while !rest.is_empty() && ok {
            let n = (1 + rng.below(64) as usize).min(rest.len());
            ok = c.send(&rest[..n]).is_ok();
            rest = &rest[n..];
            serve(&mut c, &mut rng);
            let mut buf = vec![0; 1 + rng.below(5000) as usize];
            while c.conn.write_output(&mut buf) > 0 {}
        }
        if !ok {
            let mut buf = [0; 4096];
            while c.conn.write_output(&mut buf) > 0 {}
            assert!(c.conn.is_closed());
            assert!(c.conn.error().is_some());
        }
    }
}
