//! Attacks on the server's output and on its connection table (issue #8),
//! while an honest client keeps reading pages: a client that keeps its
//! flow-control window shut and one that never reads from TCP (data
//! dribble and internal data buffering, CVE-2019-9511, 9517), each closed by
//! `--write-timeout-ms`; and silent connections past `--max-connections`,
//! which wait in the listen queue instead of being accepted. See
//! `tests/abuse/mod.rs` for the bounds.

mod abuse;
mod server;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use abuse::*;
use server::BIG;

#[test]
fn a_shut_window_is_closed_by_the_write_timeout() {
    // SETTINGS_INITIAL_WINDOW_SIZE 0 and never a WINDOW_UPDATE: the server
    // can send the response's HEADERS but no byte of the 1 MiB body.
    let server = start(&["--write-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "shut window");
    let mut attackers: Vec<Attacker> = (0..10)
        .map(|_| {
            let mut a = Attacker::connect(&server, Transport::Tls, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]);
            a.auto_window = false;
            a
        })
        .collect();
    let sent = Instant::now();
    for a in &mut attackers {
        a.queue(&headers(1, END_HEADERS | END_STREAM, &hp::get(BIG)));
        a.flush();
    }
    for a in &mut attackers {
        a.pump_until(sent + Duration::from_secs(4), |_| false);
        assert!(a.read_done, "a client with a shut window was not cut off after 4 s");
        let after = a.closed.unwrap().1.duration_since(sent);
        assert!(after >= Duration::from_millis(900), "closed after {after:?}, before the write timeout");
        assert_eq!(a.seen.statuses.get(&1), Some(&200));
        assert!(!a.seen.ended.contains(&1), "the body cannot have been sent");
    }
    watch.finish();
}

#[test]
fn a_client_that_never_reads_is_closed_by_the_write_timeout() {
    // Windows wide open, eight 1 MiB bodies asked for, a 4 KiB receive
    // buffer, and not one byte read: the server's sends stop completing.
    let server = start(&["--write-timeout-ms", "1000"]);
    let watch = Watch::start(&server, "never reads");
    let mut attackers: Vec<Attacker> = (0..10)
        .map(|_| {
            let mut a =
                Attacker::connect_small_window(&server, Transport::Tls, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0x7fff_ffff)]);
            a.queue(&window_update(0, 0x7fff_ffff - 65_535));
            for i in 0..8 {
                a.queue(&headers(1 + 2 * i, END_HEADERS | END_STREAM, &hp::get(BIG)));
            }
            a.flush();
            a
        })
        .collect();
    let sent = Instant::now();
    // Nothing is read; a write to a connection the server has closed is
    // refused (a reset), so that is how the close shows.
    for a in &mut attackers {
        let limit = (sent + Duration::from_secs(4)).saturating_duration_since(Instant::now());
        assert!(a.probe_closed_by_writing(limit), "a client that never reads was not cut off after 4 s");
        let after = a.closed.unwrap().1.duration_since(sent);
        assert!(after >= Duration::from_millis(900), "closed after {after:?}, before the write timeout");
    }
    watch.finish();
}

#[test]
fn connections_past_max_connections_wait_in_the_listen_queue() {
    // 100 connections at most (50 per worker); 150 silent ones arrive at
    // once. The first 100 (less the honest client's) are accepted and
    // reclaimed by the handshake timeout after 1 s; the others wait in the
    // listen queue until then, and are reclaimed a second later.
    let server = start(&["--max-connections", "100", "--handshake-timeout-ms", "1000"]);
    // The sweep runs once a second, so a round takes one or two seconds;
    // with one worker given more than its share twice over, three rounds.
    // The honest client keeps one connection for the whole attack: new
    // connections queue behind the attacker's.
    let watch = Watch::start_with(&server, "max connections", usize::MAX);
    let opened = Instant::now();
    let mut connections: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(server.tls).unwrap()).collect();
    for c in &connections {
        c.set_nonblocking(true).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let queued = listen_queue(server.tls.port());
    assert!((40..=150).contains(&queued), "{queued} of 150 connections wait in the listen queue");

    let mut closed: Vec<Option<Instant>> = vec![None; connections.len()];
    while closed.iter().any(Option::is_none) && opened.elapsed() < Duration::from_secs(8) {
        for (c, at) in connections.iter_mut().zip(closed.iter_mut()).filter(|(_, at)| at.is_none()) {
            let mut buf = [0u8; 64];
            match std::io::Read::read(c, &mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                _ => *at = Some(Instant::now()),
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let open = closed.iter().filter(|c| c.is_none()).count();
    let mut rounds = std::collections::BTreeMap::new();
    for at in closed.iter().flatten() {
        *rounds.entry(at.duration_since(opened).as_millis() / 500 * 500).or_insert(0) += 1;
    }
    assert_eq!(
        open, 0,
        "{open} of 150 silent connections still open after 8 s; closes by 500 ms from the start: {rounds:?}"
    );
    // Those accepted first are reclaimed together; the queued ones can be
    // reclaimed only a handshake timeout after they got a slot. So the
    // 100th close comes a timeout after the first.
    let mut times: Vec<Duration> = closed.iter().map(|c| c.unwrap().duration_since(opened)).collect();
    times.sort();
    assert!(
        times[99] >= times[0] + Duration::from_millis(900),
        "more than 99 connections were reclaimed at once: first {:?}, 100th {:?}",
        times[0],
        times[99]
    );
    println!(
        "ABUSE max connections: {queued} queued at first; closes at {:?} (first), {:?} (99th), {:?} (100th), {:?} (last)",
        times[0], times[98], times[99], times[149]
    );
    watch.finish();
}
