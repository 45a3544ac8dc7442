//! Tests of the io_uring backend on loopback: an echo worker (`echo`) on
//! a real ring, `std::net::TcpStream` clients. Every scenario runs in both
//! ring modes. All waits are bounded (socket timeouts, `echo::WAIT`).

mod echo;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use self::echo::{EchoServer, WAIT};
use super::{UringBackend, UringOptions};
use crate::runtime::listen::bind_reuseport;
use crate::runtime::{Backend, Completion, Waker};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    DeferTaskrun,
    Sqpoll,
}

fn options(mode: Mode) -> UringOptions {
    UringOptions {
        sqpoll: mode == Mode::Sqpoll,
        // Short, so the SQ threads of parallel tests do not spin for long.
        sqpoll_idle_ms: 20,
        entries: 64,
        buf_count: 64,
        buf_size: 4096,
    }
}

fn start(mode: Mode, opts: UringOptions) -> EchoServer {
    let server = EchoServer::start(opts);
    check_mode(mode, &server);
    server
}

fn check_mode(mode: Mode, server: &EchoServer) {
    match mode {
        Mode::Sqpoll => assert!(server.started.sqpoll, "SQPOLL fell back: {:?}", server.started.fallback),
        Mode::DeferTaskrun => {
            assert!(!server.started.sqpoll);
            assert_eq!(server.started.fallback, None);
        }
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

fn round_trip(stream: &mut TcpStream, msg: &[u8]) {
    stream.write_all(msg).unwrap();
    let mut back = vec![0; msg.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// 200 connections open at once, two echo rounds each. A 64-entry SQ and
/// a 64-buffer ring make the SQ fill up (backlog path) on the way.
fn many_connections(mode: Mode) {
    let server = start(mode, UringOptions { entries: 8, ..options(mode) });
    let mut clients: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect();
    for round in 0..2 {
        for (i, c) in clients.iter_mut().enumerate() {
            c.write_all(format!("round {round} client {i:04}\n").as_bytes()).unwrap();
        }
        for (i, c) in clients.iter_mut().enumerate() {
            let want = format!("round {round} client {i:04}\n");
            let mut got = vec![0; want.len()];
            c.read_exact(&mut got).unwrap();
            assert_eq!(got, want.as_bytes());
        }
    }
    drop(clients);
    server.wait_for("200 Closed", |s| s.closed == 200);
    let snap = server.finish();
    assert_eq!(snap.accepted.len(), 200);
}

/// 16 MiB each way through one connection, with 8 receive buffers of
/// 4 KiB (ENOBUFS, buffer reuse) and a small SO_SNDBUF inherited from the
/// listener (short sends).
fn sixteen_mib(mode: Mode) {
    const TOTAL: usize = 16 << 20;
    let listener = bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    socket2::SockRef::from(&listener).set_send_buffer_size(16 * 1024).unwrap();
    let opts = UringOptions { buf_count: 8, buf_size: 4096, ..options(mode) };
    let server = EchoServer::start_on(listener, opts, None);
    check_mode(mode, &server);
    let mut stream = connect(server.addr);
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        let chunk: Vec<u8> = (0..TOTAL).map(pattern).collect();
        for part in chunk.chunks(100_000) {
            writer.write_all(part).unwrap();
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::with_capacity(TOTAL);
    stream.read_to_end(&mut got).unwrap();
    writing.join().unwrap();
    assert_eq!(got.len(), TOTAL);
    if let Some(i) = (0..TOTAL).find(|&i| got[i] != pattern(i)) {
        panic!("byte {i} differs");
    }
    let snap = server.wait_for("Closed", |s| s.closed == 1);
    assert!(snap.stats.recv_enobufs > 0, "expected the 8-buffer ring to run dry: {:?}", snap.stats);
    assert!(snap.stats.short_sends > 0, "expected short sends with a 16 KiB SO_SNDBUF: {:?}", snap.stats);
    server.finish();
}

/// The client sends 2 MiB, reads nothing and closes: unread data makes
/// its close a reset, so the server's sends fail and the receive ends.
fn peer_closes_mid_transfer(mode: Mode) {
    let server = start(mode, options(mode));
    let mut rude = connect(server.addr);
    rude.write_all(&vec![b'x'; 2 << 20]).unwrap();
    drop(rude);
    server.wait_for("the reset connection's Closed", |s| s.closed == 1);
    // The worker carries on.
    let mut polite = connect(server.addr);
    round_trip(&mut polite, b"still there?");
    drop(polite);
    server.wait_for("both Closed", |s| s.closed == 2);
    server.finish();
}

/// The worker sends 32 MiB to a client that never reads and closes the
/// connection while that send is blocked: one `Sent { ok: false }`, then
/// one `Closed`; the next connection reuses the key and sees only its own
/// completions.
fn close_while_sending(mode: Mode) {
    let server = start(mode, options(mode));
    let mut flooded = connect(server.addr);
    flooded.write_all(b"F").unwrap();
    let snap = server.wait_for("the flooded connection's Closed", |s| s.closed == 1);
    let key = snap.accepted[0];
    assert_eq!(snap.flood_sent, vec![(key, false)], "{snap:?}");
    // The client sees the end of the stream (EOF or reset) after what fit.
    let mut sink = vec![0; 1 << 20];
    let mut total = 0;
    loop {
        match flooded.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    assert!(total < echo::FLOOD_BYTES, "the cancelled send cannot have completed");
    let mut next = connect(server.addr);
    round_trip(&mut next, b"a fresh connection on a reused key");
    let snap = server.snapshot();
    assert_eq!(snap.accepted, vec![key, key], "the slab hands the freed key out again");
    drop(next);
    server.wait_for("both Closed", |s| s.closed == 2);
    server.finish();
}

/// After `stop_accepting`, connecting is refused (the listener is
/// closed), and the connection accepted before keeps working.
fn stop_accepting(mode: Mode) {
    let server = start(mode, options(mode));
    let mut kept = connect(server.addr);
    round_trip(&mut kept, b"before");
    server.stop_accepting();
    let deadline = Instant::now() + WAIT;
    loop {
        match TcpStream::connect_timeout(&server.addr, Duration::from_millis(500)) {
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::ConnectionRefused | ErrorKind::TimedOut), "{e}");
                break;
            }
            // Accepted in the instant before the listener closed.
            Ok(late) => drop(late),
        }
        assert!(Instant::now() < deadline, "the listener still accepts");
        std::thread::sleep(Duration::from_millis(10));
    }
    round_trip(&mut kept, b"after");
    drop(kept);
    server.wait_for("every Closed", |s| s.closed == s.accepted.len());
    server.finish();
}

/// A 16-entry CQ (1 SQ entry, 8 buffers) against 200 connections: the CQ
/// overflows, multishots end for want of CQ room and are re-armed, and no
/// completion is lost.
fn tiny_rings(mode: Mode) {
    let server = start(mode, UringOptions { entries: 1, buf_count: 8, ..options(mode) });
    let mut clients: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("client {i:04} says hello\n").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let want = format!("client {i:04} says hello\n");
        let mut got = vec![0; want.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(got, want.as_bytes());
    }
    drop(clients);
    server.wait_for("200 Closed", |s| s.closed == 200);
    server.finish();
}

/// With a direct descriptor table of 2 slots, accepting pauses once both
/// are taken: a third client waits in the listen queue (an accept into a
/// full table would take it off the queue and reset it) and is accepted
/// when a connection closes.
fn accept_pauses_at_capacity(mode: Mode) {
    let listener = bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let server = EchoServer::start_with_slots(listener, options(mode), None, Some(2));
    check_mode(mode, &server);
    let mut a = connect(server.addr);
    round_trip(&mut a, b"a");
    let mut b = connect(server.addr);
    round_trip(&mut b, b"b");
    let mut c = connect(server.addr);
    c.write_all(b"c").unwrap();
    let snap = server.snapshot();
    assert_eq!(snap.accepted.len(), 2);
    assert_eq!(snap.stats.accept_pauses, 1, "{:?}", snap.stats);
    drop(a);
    let mut back = [0; 1];
    c.read_exact(&mut back).expect("the waiting client is accepted, not reset");
    assert_eq!(&back, b"c");
    round_trip(&mut b, b"b again");
    let snap = server.snapshot();
    assert_eq!(snap.accepted.len(), 3);
    assert_eq!(snap.stats.accept_backoffs, 0, "{:?}", snap.stats);
    drop((b, c));
    server.wait_for("every Closed", |s| s.closed == 3);
    server.finish();
}

/// A listener that stops listening (shutdown(2) on a duplicate) makes
/// accept fail with EINVAL: the worker retries every 100 ms, without
/// spinning, and accepts again once the socket listens again.
fn accept_backoff(mode: Mode) {
    let listener = bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let control = socket2::Socket::from(listener.try_clone().unwrap());
    let server = EchoServer::start_on(listener, options(mode), None);
    check_mode(mode, &server);
    let mut a = connect(server.addr);
    round_trip(&mut a, b"a");
    control.shutdown(Shutdown::Read).unwrap();
    let started = Instant::now();
    server.wait_for("two accept backoffs", |s| s.stats.accept_backoffs >= 2);
    assert!(started.elapsed() >= Duration::from_millis(90), "backoffs came faster than one per 100 ms");
    control.listen(128).unwrap();
    // Bound to port 0, the socket lost its port when it stopped listening
    // (no SOCK_BINDPORT_LOCK); listen() picked a new one.
    let addr = control.local_addr().unwrap().as_socket().unwrap();
    let mut b = connect(addr);
    round_trip(&mut b, b"b");
    round_trip(&mut a, b"a again");
    let snap = server.snapshot();
    let expected = started.elapsed().as_millis() as u64 / 100 + 2;
    assert!(snap.stats.accept_backoffs <= expected, "spinning: {:?} in {:?}", snap.stats, started.elapsed());
    drop((a, b));
    server.wait_for("every Closed", |s| s.closed == s.accepted.len());
    server.finish();
}

/// Dropping the backend with a connection open and a send blocked: the
/// drop cancels everything, waits for it, and the client sees the end.
fn drop_with_work_in_flight(mode: Mode) {
    let server = start(mode, options(mode));
    let mut flooded = connect(server.addr);
    flooded.write_all(b"F").unwrap();
    let mut idle = connect(server.addr);
    round_trip(&mut idle, b"idle");
    let addr = server.addr;
    let snap = server.abort();
    assert!(snap.drop_took.is_some_and(|t| t < Duration::from_millis(900)), "{snap:?}");
    // The ring's teardown closes the direct descriptors; the listener is
    // closed with the backend.
    let mut buf = [0; 16];
    match idle.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the idle client should see EOF or a reset, not {other:?}"),
    }
    let refused = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
}

/// `poll(None)` blocks until another thread calls `wake`; `poll` with a
/// timeout returns after it, with nothing.
fn waker(mode: Mode) {
    let waker = Arc::new(Waker::new().unwrap());
    let (tx, rx) = mpsc::channel();
    let thread_waker = Arc::clone(&waker);
    let thread = std::thread::spawn(move || {
        let mut backend = UringBackend::new(Vec::new(), &thread_waker, &options(mode), None).unwrap();
        assert_eq!(backend.sqpoll_active(), mode == Mode::Sqpoll, "{:?}", backend.fallback_reason());
        let started = Instant::now();
        let mut events = 0;
        backend.poll(Some(Duration::from_millis(50)), &mut |_| events += 1).unwrap();
        assert_eq!(events, 0);
        assert!(started.elapsed() >= Duration::from_millis(45), "{:?}", started.elapsed());
        for _ in 0..3 {
            tx.send("blocking").unwrap();
            let mut woken = false;
            while !woken {
                backend
                    .poll(None, &mut |c| match c {
                        Completion::Woken => woken = true,
                        other => panic!("unexpected {other:?}"),
                    })
                    .unwrap();
            }
            tx.send("woken").unwrap();
        }
    });
    for _ in 0..3 {
        assert_eq!(rx.recv_timeout(WAIT), Ok("blocking"));
        std::thread::sleep(Duration::from_millis(50));
        waker.wake();
        assert_eq!(rx.recv_timeout(WAIT), Ok("woken"), "poll(None) was not woken");
    }
    thread.join().unwrap();
}

macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod defer_taskrun {
            $(#[test] fn $name() { super::$name(super::Mode::DeferTaskrun) })*
        }
        mod sqpoll {
            $(#[test] fn $name() { super::$name(super::Mode::Sqpoll) })*
        }
    };
}

both_modes!(
    many_connections,
    sixteen_mib,
    peer_closes_mid_transfer,
    close_while_sending,
    stop_accepting,
    drop_with_work_in_flight,
    tiny_rings,
    accept_pauses_at_capacity,
    accept_backoff,
    waker,
);

/// The SQ thread a ring uses, from its fdinfo ("SqThread: <tid>").
fn sq_thread(ring_fd: i32) -> Option<i64> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{ring_fd}")).ok()?;
    info.lines().find_map(|l| l.strip_prefix("SqThread:")).and_then(|v| v.trim().parse().ok())
}

/// Two workers on one port (SO_REUSEPORT), the second ring attached to
/// the first's SQ thread: one thread serves both, and both echo.
#[test]
fn sqpoll_workers_share_one_sq_thread() {
    let first = bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = first.local_addr().unwrap();
    let second = bind_reuseport(addr).unwrap();
    let a = EchoServer::start_on(first, options(Mode::Sqpoll), None);
    let b = EchoServer::start_on(second, options(Mode::Sqpoll), Some(a.started.ring_fd));
    check_mode(Mode::Sqpoll, &a);
    check_mode(Mode::Sqpoll, &b);
    let thread_a = sq_thread(a.started.ring_fd);
    assert!(thread_a.is_some_and(|t| t > 0), "no SqThread in fdinfo: {thread_a:?}");
    assert_eq!(thread_a, sq_thread(b.started.ring_fd), "the second ring has its own SQ thread");

    let mut clients: Vec<TcpStream> = (0..64).map(|_| connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        round_trip(c, format!("client {i}").as_bytes());
    }
    drop(clients);
    let closed = |s: &echo::Snapshot| s.closed == s.accepted.len();
    let (sa, sb) = (a.wait_for("a's Closed", closed), b.wait_for("b's Closed", closed));
    assert_eq!(sa.accepted.len() + sb.accepted.len(), 64);
    assert!(
        !sa.accepted.is_empty() && !sb.accepted.is_empty(),
        "SO_REUSEPORT spread: {} / {}",
        sa.accepted.len(),
        sb.accepted.len()
    );
    b.finish();
    a.finish();
}

/// SQPOLL that cannot be set up (here: ATTACH_WQ to an fd that is not a
/// ring) falls back to DEFER_TASKRUN and says why; the ring still works.
#[test]
fn sqpoll_falls_back_with_a_reason() {
    let waker = Waker::new().unwrap();
    let opts = options(Mode::Sqpoll);
    let mut backend = UringBackend::new(Vec::new(), &waker, &opts, Some(waker.raw_fd())).unwrap();
    assert!(!backend.sqpoll_active());
    let reason = backend.fallback_reason().expect("a reason").to_string();
    assert!(reason.contains("SQPOLL") && reason.contains("attached"), "{reason}");
    waker.wake();
    let mut woken = false;
    backend.poll(Some(WAIT), &mut |c| woken |= matches!(c, Completion::Woken)).unwrap();
    assert!(woken);
}

/// Sizes the kernel would refuse are caught before any ring exists.
#[test]
fn invalid_buffer_ring_sizes_are_refused_up_front() {
    let waker = Waker::new().unwrap();
    let opts = UringOptions { buf_count: 1000, ..UringOptions::default() };
    let err = UringBackend::new(Vec::new(), &waker, &opts, None).err().expect("1000 is not a power of two");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// Not a test: a rough number for the final report. 16 client threads,
/// one connection each, ping-pong 64 bytes for 2 s per mode. Run with
/// `cargo test --release --lib runtime::uring::tests::round_trip_rate -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn round_trip_rate() {
    for mode in [Mode::DeferTaskrun, Mode::Sqpoll] {
        let server = start(
            mode,
            UringOptions {
                sqpoll_idle_ms: 1000,
                ..UringOptions { sqpoll: mode == Mode::Sqpoll, ..UringOptions::default() }
            },
        );
        let addr = server.addr;
        let stop = Instant::now() + Duration::from_secs(2);
        let threads: Vec<_> = (0..16)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut c = connect(addr);
                    let msg = [7u8; 64];
                    let mut back = [0u8; 64];
                    let mut n = 0u64;
                    while Instant::now() < stop {
                        c.write_all(&msg).unwrap();
                        c.read_exact(&mut back).unwrap();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let snap = server.snapshot();
        eprintln!(
            "{mode:?}: {} round trips/s; {:.2} SQEs and {:.2} CQEs per round trip",
            total / 2,
            snap.stats.sqes_submitted as f64 / total as f64,
            snap.stats.cqes_seen as f64 / total as f64
        );
        server.wait_for("every Closed", |s| s.closed == s.accepted.len());
        server.finish();
    }
}
