//! The epoll backend against real loopback sockets: an echo worker in a
//! thread, or the backend driven by hand where the order of completions
//! matters. Every wait is bounded (socket timeouts, poll deadlines).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};

use super::*;
use crate::runtime::listen::bind_reuseport;

/// No test should come near this; it only turns a hang into a failure.
const DEADLINE: Duration = Duration::from_secs(30);

fn start_backend() -> (EpollBackend, SocketAddr, Arc<Waker>) {
    let socket = bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let waker = Arc::new(Waker::new().unwrap());
    let backend = EpollBackend::new(vec![Listener { socket, kind: ListenerKind::H2c }], &waker).unwrap();
    (backend, addr, waker)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// A client with a small fixed receive buffer (set before the handshake,
/// which disables autotuning), so a server sending to it meets EAGAIN soon.
fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.connect(&addr.into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8).collect()
}

/// A completion, owned, for tests that look at the exact sequence.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Accepted(ConnKey),
    Received(ConnKey, Vec<u8>),
    RecvClosed(ConnKey),
    Sent { conn: ConnKey, len: usize, capacity: usize, ok: bool },
    Closed(ConnKey),
    Woken,
}

fn poll_once(backend: &mut EpollBackend, timeout: Option<Duration>) -> Vec<Event> {
    let mut events = Vec::new();
    backend
        .poll(timeout, &mut |completion| {
            events.push(match completion {
                Completion::Accepted { conn, kind } => {
                    assert_eq!(kind, ListenerKind::H2c);
                    Event::Accepted(conn)
                }
                Completion::Received { conn, data } => Event::Received(conn, data.to_vec()),
                Completion::RecvClosed { conn } => Event::RecvClosed(conn),
                Completion::Sent { conn, buf, ok } => {
                    Event::Sent { conn, len: buf.len(), capacity: buf.capacity(), ok }
                }
                Completion::Closed { conn } => Event::Closed(conn),
                Completion::Woken => Event::Woken,
            })
        })
        .unwrap();
    events
}

/// Polls until an event satisfies `done`; returns everything seen.
fn poll_until(backend: &mut EpollBackend, mut done: impl FnMut(&Event) -> bool) -> Vec<Event> {
    let start = Instant::now();
    let mut seen = Vec::new();
    loop {
        assert!(start.elapsed() < DEADLINE, "gave up waiting; saw {seen:?}");
        let events = poll_once(backend, Some(Duration::from_millis(100)));
        let found = events.iter().any(&mut done);
        seen.extend(events);
        if found {
            return seen;
        }
    }
}

fn accept_one(backend: &mut EpollBackend) -> ConnKey {
    let events = poll_until(backend, |e| matches!(e, Event::Accepted(_)));
    match events.as_slice() {
        [Event::Accepted(key)] => *key,
        other => panic!("expected one Accepted, got {other:?}"),
    }
}

/// Received bytes for `conn` until `len` arrived.
fn receive(backend: &mut EpollBackend, conn: ConnKey, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    poll_until(backend, |e| {
        if let Event::Received(key, data) = e {
            assert_eq!(*key, conn);
            got.extend_from_slice(data);
        }
        got.len() >= len
    });
    got
}

// ---- the echo worker ----

#[derive(Default)]
struct EchoConn {
    /// Received and not yet handed to `send`.
    queued: Vec<u8>,
    /// The last buffer `Sent` gave back, reused for the next send.
    spare: Vec<u8>,
    in_flight: bool,
    recv_closed: bool,
    send_failed: bool,
    closing: bool,
}

#[derive(Debug, Default)]
struct EchoLog {
    accepted: usize,
    closed: usize,
    received_bytes: usize,
    failed_sends: usize,
}

/// Echoes every `Received` back, one send in flight per connection; closes
/// on `RecvClosed` or a failed send. Asserts the completion contract as it
/// goes: no event for a key that is not live, one `RecvClosed`, `Sent`
/// only for a send in flight, `Closed` once and after the pending `Sent`.
struct Echo {
    backend: EpollBackend,
    conns: HashMap<ConnKey, EchoConn>,
    log: EchoLog,
}

impl Echo {
    fn turn(&mut self, timeout: Option<Duration>) {
        let (conns, log) = (&mut self.conns, &mut self.log);
        self.backend
            .poll(timeout, &mut |completion| match completion {
                Completion::Accepted { conn, .. } => {
                    assert!(conns.insert(conn, EchoConn::default()).is_none(), "Accepted for live key {conn}");
                    log.accepted += 1;
                }
                Completion::Received { conn, data } => {
                    let c = conns.get_mut(&conn).expect("Received for a key that is not live");
                    assert!(!c.recv_closed && !c.closing, "Received after RecvClosed or close");
                    c.queued.extend_from_slice(data);
                    log.received_bytes += data.len();
                }
                Completion::RecvClosed { conn } => {
                    let c = conns.get_mut(&conn).expect("RecvClosed for a key that is not live");
                    assert!(!c.recv_closed, "RecvClosed twice");
                    c.recv_closed = true;
                }
                Completion::Sent { conn, buf, ok } => {
                    let c = conns.get_mut(&conn).expect("Sent for a key that is not live");
                    assert!(c.in_flight, "Sent without a send in flight");
                    assert!(buf.is_empty(), "Sent must give the buffer back cleared");
                    c.in_flight = false;
                    c.spare = buf;
                    if !ok {
                        c.send_failed = true;
                        log.failed_sends += 1;
                    }
                }
                Completion::Closed { conn } => {
                    let c = conns.remove(&conn).expect("Closed for a key that is not live");
                    assert!(c.closing, "Closed without close()");
                    assert!(!c.in_flight, "Closed before the pending send came back");
                    log.closed += 1;
                }
                Completion::Woken => {}
            })
            .unwrap();
        for (&key, c) in &mut self.conns {
            if c.closing {
                continue;
            }
            if c.recv_closed || c.send_failed {
                c.closing = true;
                self.backend.close(key);
            } else if !c.in_flight && !c.queued.is_empty() {
                let buf = std::mem::replace(&mut c.queued, std::mem::take(&mut c.spare));
                c.in_flight = true;
                self.backend.send(key, buf);
            }
        }
    }
}

/// The echo worker on its own thread, until told to stop and every
/// connection is closed.
struct EchoServer {
    addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Echo>,
}

impl EchoServer {
    fn start() -> Self {
        let (backend, addr, waker) = start_backend();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = thread::spawn(move || {
            let mut echo = Echo { backend, conns: HashMap::new(), log: EchoLog::default() };
            let start = Instant::now();
            while !(thread_stop.load(Ordering::SeqCst) && echo.conns.is_empty()) {
                assert!(start.elapsed() < DEADLINE, "echo server ran too long: {:?}", echo.log);
                // The waker ends this wait when the test says stop.
                echo.turn(Some(Duration::from_secs(1)));
            }
            echo
        });
        Self { addr, waker, stop, thread }
    }

    fn finish(self) -> Echo {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake();
        self.thread.join().expect("echo server panicked")
    }
}

#[test]
fn echoes_on_200_concurrent_connections() {
    let server = EchoServer::start();
    let mut clients: Vec<TcpStream> = (0..200).map(|_| connect(server.addr)).collect();
    let messages: Vec<Vec<u8>> = (0..200).map(|i| format!("client {i} says hello;").repeat(i % 7 + 1).into()).collect();
    for (client, message) in clients.iter_mut().zip(&messages) {
        client.write_all(message).unwrap();
    }
    for (client, message) in clients.iter_mut().zip(&messages) {
        let mut echoed = vec![0; message.len()];
        client.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, message);
    }
    drop(clients);
    let echo = server.finish();
    assert_eq!(echo.log.accepted, 200);
    assert_eq!(echo.log.closed, 200);
    assert_eq!(echo.log.received_bytes, messages.iter().map(Vec::len).sum::<usize>());
    assert_eq!(echo.backend.name(), "epoll");
}

#[test]
fn sixteen_mib_through_a_slow_reader() {
    const LEN: usize = 16 << 20;
    let server = EchoServer::start();
    let mut client = connect_small_window(server.addr);
    let mut writer = client.try_clone().unwrap();
    let data = Arc::new(pattern(LEN));
    let to_write = data.clone();
    let writing = thread::spawn(move || writer.write_all(&to_write).unwrap());

    // Not reading at first: the echo fills our small window, the server's
    // send meets EAGAIN and must go on from EPOLLOUT edges.
    thread::sleep(Duration::from_millis(200));
    let mut echoed = vec![0; LEN];
    let mut at = 0;
    while at < LEN {
        let n = client.read(&mut echoed[at..(at + 8192).min(LEN)]).unwrap();
        assert!(n > 0, "early EOF at {at}");
        at += n;
        if at % (1 << 20) < n {
            thread::sleep(Duration::from_millis(5));
        }
    }
    writing.join().unwrap();
    assert!(echoed == *data, "echo differs from what was sent");
    drop(client);

    let echo = server.finish();
    let stats = echo.backend.stats();
    assert_eq!(echo.log.failed_sends, 0);
    assert!(stats.send_waits > 0, "no send waited for EPOLLOUT: {stats:?}");
    assert!(stats.short_writes > 0, "{stats:?}");
}

#[test]
fn peer_closing_mid_transfer() {
    let server = EchoServer::start();
    let mut client = connect_small_window(server.addr);
    // More than both socket buffers hold: the echo is still being sent
    // when the client goes away with unread data, which sends a RST.
    client.write_all(&pattern(16 << 20)).unwrap();
    let mut some = vec![0; 64 * 1024];
    client.read_exact(&mut some).unwrap();
    assert_eq!(some, pattern(64 * 1024));
    drop(client);

    // The server carries on: a new connection echoes.
    let mut next = connect(server.addr);
    next.write_all(b"still here").unwrap();
    let mut echoed = [0; 10];
    next.read_exact(&mut echoed).unwrap();
    assert_eq!(&echoed, b"still here");
    drop(next);

    let echo = server.finish();
    assert_eq!((echo.log.accepted, echo.log.closed), (2, 2));
    assert_eq!(echo.log.failed_sends, 1, "the send in flight to the closed peer fails");
}

#[test]
fn close_with_a_pending_send_and_stale_events_for_a_reused_key() {
    let (mut backend, addr, _waker) = start_backend();
    let mut old_client = connect_small_window(addr);
    let key = accept_one(&mut backend);
    // A second handle on the accepted socket's open file description keeps
    // its epoll registration alive after close (epoll(7), Q6): the
    // kernel will go on reporting events with the old key.
    let kept_open = backend.conns[key].fd.try_clone().unwrap();

    backend.send(key, vec![7; 8 << 20]);
    let events = poll_once(&mut backend, Some(Duration::ZERO));
    assert!(events.iter().all(|e| !matches!(e, Event::Sent { .. })), "{events:?}");
    assert!(backend.stats().send_waits >= 1, "the send should wait for EPOLLOUT");

    backend.close(key);
    backend.close(key); // twice: still one Closed
    backend.send(key, Vec::with_capacity(100)); // after close: comes back failed
    let events = poll_once(&mut backend, Some(Duration::ZERO));
    assert_eq!(
        events,
        [
            Event::Sent { conn: key, len: 0, capacity: 100, ok: false },
            Event::Sent { conn: key, len: 0, capacity: 8 << 20, ok: false },
            Event::Closed(key),
        ]
    );

    let mut new_client = connect(addr);
    assert_eq!(accept_one(&mut backend), key, "the slab reuses the freed key");
    // The new socket's first readiness (EPOLLOUT), reported once.
    assert_eq!(poll_once(&mut backend, Some(Duration::from_millis(50))), []);
    // Wakes the old registration: data and FIN in (EPOLLIN | EPOLLRDHUP),
    // and the window opening (EPOLLOUT).
    old_client.write_all(b"stale").unwrap();
    old_client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut drain = vec![0; 256 * 1024];
    let _ = old_client.read(&mut drain).unwrap();
    for _ in 0..3 {
        let events = poll_once(&mut backend, Some(Duration::from_millis(50)));
        assert!(events.is_empty(), "an old connection's event reached the new one: {events:?}");
    }
    assert!(backend.stats().stale_events > 0, "the old registration reported nothing; test is void");
    // Had the old FIN been taken for the new connection's, this would be set.
    assert!(!backend.conns[key].end_signalled);

    new_client.write_all(b"fresh").unwrap();
    assert_eq!(receive(&mut backend, key, 5), b"fresh");
    drop(kept_open);
}

#[test]
fn read_budget_takes_connections_in_turn() {
    const LEN: usize = 32 * 1024;
    const CHUNK: usize = 4096;
    let (mut backend, addr, _waker) = start_backend();
    backend.read_budget = 1;
    backend.read_buf = vec![0; CHUNK].into_boxed_slice();
    let mut clients = [connect(addr), connect(addr)];
    let mut keys = Vec::new();
    poll_until(&mut backend, |e| {
        if let Event::Accepted(key) = e {
            keys.push(*key);
        }
        keys.len() == 2
    });
    for client in &mut clients {
        client.write_all(&pattern(LEN)).unwrap();
    }
    thread::sleep(Duration::from_millis(50));

    let mut got: HashMap<ConnKey, Vec<u8>> = keys.iter().map(|&k| (k, Vec::new())).collect();
    let mut turns_serving_both = 0;
    let start = Instant::now();
    while got.values().any(|data| data.len() < LEN) {
        // The long timeout must not be waited out: a connection that used
        // its budget is read again without a new edge.
        let events = poll_once(&mut backend, Some(Duration::from_secs(10)));
        let mut this_turn: HashMap<ConnKey, usize> = HashMap::new();
        for event in events {
            let Event::Received(key, data) = event else { panic!("unexpected {event:?}") };
            *this_turn.entry(key).or_default() += 1;
            got.get_mut(&key).unwrap().extend_from_slice(&data);
        }
        assert!(this_turn.values().all(|&reads| reads == 1), "over budget: {this_turn:?}");
        turns_serving_both += usize::from(this_turn.len() == 2);
    }
    assert!(start.elapsed() < Duration::from_secs(5), "waited for edges instead of going on");
    assert!(turns_serving_both >= 2, "the two connections were not read in turn");
    assert!(got.values().all(|data| *data == pattern(LEN)));
    assert!(backend.stats().reads_deferred >= 2);
}

#[test]
fn waker_wakes_a_blocked_poll() {
    let (mut backend, addr, waker) = start_backend();
    let remote = waker.clone();
    let waking = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        remote.wake();
    });
    // Should the wake-up be lost, this connection ends poll(None) instead,
    // and the assertion below fails rather than the test hanging.
    let (test_done, watchdog_wait) = std::sync::mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if watchdog_wait.recv_timeout(Duration::from_secs(10)) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
            let _ = TcpStream::connect(addr);
        }
    });
    let start = Instant::now();
    let events = poll_once(&mut backend, None);
    assert_eq!(events, [Event::Woken]);
    assert!(start.elapsed() >= Duration::from_millis(90));
    waking.join().unwrap();

    // Two wakes before a poll are one Woken; the eventfd was drained, so
    // the edge is re-armed and nothing more is reported.
    waker.wake();
    waker.wake();
    assert_eq!(poll_once(&mut backend, Some(Duration::from_secs(1))), [Event::Woken]);
    assert_eq!(poll_once(&mut backend, Some(Duration::from_millis(50))), []);
    waker.wake();
    assert_eq!(poll_once(&mut backend, Some(Duration::from_secs(1))), [Event::Woken]);
    drop(test_done);
    watchdog.join().unwrap();
}

#[test]
fn stop_accepting_closes_the_listeners_only() {
    let (mut backend, addr, _waker) = start_backend();
    let mut client = connect(addr);
    let key = accept_one(&mut backend);
    backend.stop_accepting();
    let refused = TcpStream::connect(addr).expect_err("the listener should be closed");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

    client.write_all(b"ping").unwrap();
    assert_eq!(receive(&mut backend, key, 4), b"ping");
    backend.send(key, b"pong".to_vec());
    let events = poll_once(&mut backend, Some(Duration::ZERO));
    assert_eq!(events, [Event::Sent { conn: key, len: 0, capacity: 4, ok: true }]);
    let mut pong = [0; 4];
    client.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"pong");
}

#[test]
fn accepted_sockets_are_nonblocking_cloexec_and_nodelay() {
    let (mut backend, addr, _waker) = start_backend();
    let _client = connect(addr);
    let key = accept_one(&mut backend);
    let fd = &backend.conns[key].fd;
    let socket = SockRef::from(fd);
    assert!(socket.nonblocking().unwrap());
    assert!(socket.tcp_nodelay().unwrap(), "TCP_NODELAY is inherited from the listener");
    // SAFETY: F_GETFD takes no pointer; the fd is open (borrowed above).
    let fd_flags = unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(fd), libc::F_GETFD) };
    assert_eq!(fd_flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
}

#[test]
fn peer_half_close_is_recv_closed_once_after_the_data() {
    let (mut backend, addr, _waker) = start_backend();
    let mut client = connect(addr);
    let key = accept_one(&mut backend);
    client.write_all(b"last words").unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let events = poll_until(&mut backend, |e| matches!(e, Event::RecvClosed(_)));
    let data: Vec<u8> = events
        .iter()
        .filter_map(|e| if let Event::Received(_, data) = e { Some(data.clone()) } else { None })
        .flatten()
        .collect();
    assert_eq!(data, b"last words");
    assert_eq!(events.last(), Some(&Event::RecvClosed(key)));
    assert_eq!(poll_once(&mut backend, Some(Duration::from_millis(50))), []);
    // Sending still works after the peer's FIN. A poll that reports a
    // completion before its epoll_wait must not then block: the worker has
    // to get to act on it.
    let start = Instant::now();
    backend.send(key, b"bye".to_vec());
    assert!(matches!(poll_once(&mut backend, Some(Duration::from_secs(10)))[..], [Event::Sent { ok: true, .. }]));
    backend.close(key);
    assert_eq!(poll_once(&mut backend, Some(Duration::from_secs(10))), [Event::Closed(key)]);
    assert!(start.elapsed() < Duration::from_secs(5), "poll waited after reporting");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"bye");
}

#[test]
fn drop_closes_everything() {
    let (mut backend, addr, _waker) = start_backend();
    let mut client = connect(addr);
    accept_one(&mut backend);
    drop(backend);
    let mut buf = [0; 1];
    assert_eq!(client.read(&mut buf).unwrap(), 0, "the connection should see EOF");
    assert!(TcpStream::connect(addr).is_err(), "the listener should be closed");
}

#[test]
fn accept_backoff_bounds_the_wait_and_resumes_without_an_edge() {
    let (mut backend, addr, _waker) = start_backend();
    // As after EMFILE in the middle of an accept loop.
    backend.back_off();
    let _client = connect(addr);
    let start = Instant::now();
    // poll(None) must not sleep past the backoff's end, and the queued
    // connection (whose edge came during the backoff) is then accepted.
    let mut accepted = false;
    while !accepted {
        assert!(start.elapsed() < Duration::from_secs(5));
        accepted = poll_once(&mut backend, None).iter().any(|e| matches!(e, Event::Accepted(_)));
    }
    assert!(start.elapsed() >= ACCEPT_BACKOFF - Duration::from_millis(10));
    assert!(backend.stats().epoll_waits <= 4, "spun during the backoff: {:?}", backend.stats());
}

#[test]
fn connection_cap_pauses_accepting_without_waking_until_one_closes() {
    let (mut backend, addr, _waker) = start_backend();
    backend.limit_connections(2);
    let _a = connect(addr);
    let first = accept_one(&mut backend);
    let _b = connect(addr);
    accept_one(&mut backend);
    // The third waits in the listen queue: not accepted, and with the
    // listener out of the interest list its arrival wakes nobody.
    let mut c = connect(addr);
    let waits = backend.stats().epoll_waits;
    assert_eq!(poll_once(&mut backend, Some(Duration::from_millis(300))), []);
    assert_eq!(poll_once(&mut backend, Some(Duration::from_millis(300))), []);
    assert_eq!(backend.stats().epoll_waits, waits + 2, "{:?}", backend.stats());
    assert_eq!(backend.accept_stats(), AcceptStats { backoffs: 0, pauses: 1 });
    assert_eq!(backend.conns.len(), 2);
    // A close makes room: the third is accepted without a new edge.
    backend.close(first);
    let events = poll_until(&mut backend, |e| matches!(e, Event::Accepted(_)));
    assert!(events.contains(&Event::Closed(first)), "{events:?}");
    let third = events.iter().find_map(|e| if let Event::Accepted(k) = e { Some(*k) } else { None }).unwrap();
    c.write_all(b"hi").unwrap();
    assert_eq!(receive(&mut backend, third, 2), b"hi");
}

#[test]
fn accept_backoff_doubles_up_to_a_second() {
    assert_eq!(accept_backoff(1), ACCEPT_BACKOFF);
    let waits: Vec<u64> = (1..=7).map(|n| accept_backoff(n).as_millis() as u64).collect();
    assert_eq!(waits, [100, 200, 400, 800, 1000, 1000, 1000]);
}

/// Set in the child processes that run the `*_child` tests.
const CHILD: &str = "H2RING_EPOLL_TEST_CHILD";

/// Runs the ignored test `name` alone in a child process: for tests that
/// change process-wide state (rlimits, signal dispositions) that would
/// break the tests running alongside.
fn run_in_child(name: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("runtime::epoll::tests::{name}"), "--ignored", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{:?}\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
}

#[test]
fn emfile_backs_off_then_accepts() {
    run_in_child("emfile_child");
}

#[test]
fn sending_to_a_reset_peer_raises_no_sigpipe() {
    run_in_child("sigpipe_child");
}

#[test]
#[ignore = "run in a child process by sending_to_a_reset_peer_raises_no_sigpipe (it restores SIGPIPE's default)"]
fn sigpipe_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    // SAFETY: sets a signal disposition, no pointers; this process runs
    // only this test. Rust's runtime had set SIGPIPE to be ignored, which
    // would hide a send without MSG_NOSIGNAL.
    assert_ne!(unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) }, libc::SIG_ERR);
    let (mut backend, addr, _waker) = start_backend();
    let client = connect(addr);
    let key = accept_one(&mut backend);
    // Closing with a zero linger time sends RST instead of FIN.
    SockRef::from(&client).set_linger(Some(Duration::ZERO)).unwrap();
    drop(client);
    poll_until(&mut backend, |e| matches!(e, Event::RecvClosed(_)));
    // The first send after a reset reports ECONNRESET, later ones EPIPE,
    // which is when SIGPIPE would be raised.
    for _ in 0..2 {
        backend.send(key, b"anyone there?".to_vec());
        let events = poll_once(&mut backend, Some(Duration::ZERO));
        assert!(matches!(events[..], [Event::Sent { ok: false, .. }]), "{events:?}");
    }
}

#[test]
#[ignore = "run in a child process by emfile_backs_off_then_accepts (it lowers RLIMIT_NOFILE)"]
fn emfile_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let (mut backend, addr, _waker) = start_backend();
    let _client = connect(addr);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: the pointer is to a live rlimit struct on this stack.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
    limit.rlim_cur = 128;
    // SAFETY: as above; the kernel only reads it.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    // Use up every fd number below the limit.
    let mut fillers = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(error) => {
                assert_eq!(error.raw_os_error(), Some(libc::EMFILE));
                break;
            }
        }
    }
    let start = Instant::now();
    // The first turn meets EMFILE, the ones during the backoff sleep it out
    // and retry (EMFILE again, as nothing was freed).
    while backend.stats().accept_backoffs < 2 {
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(poll_once(&mut backend, None), []);
    }
    assert!(start.elapsed() >= ACCEPT_BACKOFF - Duration::from_millis(10), "retried before the backoff ended");
    assert!(backend.stats().epoll_waits <= 6, "spun on EMFILE: {:?}", backend.stats());
    fillers.pop();
    let key = accept_one(&mut backend);
    assert!(backend.conns.contains(key));
}
