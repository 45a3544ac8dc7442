//! A tiny echo worker on a real ring, in its own thread, driven by the
//! test through a command channel and the `Waker`. It checks the backend's
//! contract as it goes (events only for live keys, `Sent` only for a send
//! in flight, `Closed` exactly once and only after `close`) and reports
//! every breach in `Snapshot::violations`.

use std::collections::HashMap;
use std::mem;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::RawFd;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::super::{UringBackend, UringOptions, UringStats};
use crate::runtime::listen::bind_reuseport;
use crate::runtime::{Backend, Completion, ConnKey, Listener, ListenerKind, Waker};

/// What a connection whose first byte is `F` gets sent before the worker
/// closes it (the client never reads it, so the send stays in flight).
pub(super) const FLOOD_BYTES: usize = 32 << 20;
/// No test runs longer than this; the worker gives up after it.
const SERVER_LIFETIME: Duration = Duration::from_secs(60);
pub(super) const WAIT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug, Default)]
pub(super) struct Snapshot {
    pub accepted: Vec<ConnKey>,
    pub closed: usize,
    /// `(key, ok)` of each flood send's `Sent`.
    pub flood_sent: Vec<(ConnKey, bool)>,
    pub woken: usize,
    pub violations: Vec<String>,
    pub stats: UringStats,
    pub drop_took: Option<Duration>,
}

enum Cmd {
    StopAccepting,
    Snapshot(mpsc::Sender<Snapshot>),
    /// Close every connection, wait for the `Closed`s, drop the backend.
    Finish,
    /// Drop the backend at once, connections and sends in flight.
    Abort,
}

pub(super) struct Started {
    pub sqpoll: bool,
    pub fallback: Option<String>,
    pub ring_fd: RawFd,
}

pub(super) struct EchoServer {
    pub addr: SocketAddr,
    pub started: Started,
    waker: Arc<Waker>,
    cmds: mpsc::Sender<Cmd>,
    thread: Option<JoinHandle<Snapshot>>,
}

impl EchoServer {
    pub(super) fn start(opts: UringOptions) -> Self {
        Self::start_on(bind_reuseport(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap(), opts, None)
    }

    pub(super) fn start_on(socket: TcpListener, opts: UringOptions, attach_to: Option<RawFd>) -> Self {
        Self::start_with_slots(socket, opts, attach_to, None)
    }

    /// `direct_slots`: the size of the direct descriptor table, if not the default.
    pub(super) fn start_with_slots(
        socket: TcpListener,
        opts: UringOptions,
        attach_to: Option<RawFd>,
        direct_slots: Option<u32>,
    ) -> Self {
        let addr = socket.local_addr().unwrap();
        let waker = Arc::new(Waker::new().unwrap());
        let (cmds, cmd_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_waker = Arc::clone(&waker);
        let thread = std::thread::spawn(move || {
            super::super::setup::TEST_DIRECT_SLOTS.set(direct_slots);
            let listeners = vec![Listener { socket, kind: ListenerKind::H2c }];
            let backend = match UringBackend::new(listeners, &thread_waker, &opts, attach_to) {
                Ok(b) => b,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Snapshot::default();
                }
            };
            let started = Started {
                sqpoll: backend.sqpoll_active(),
                fallback: backend.fallback_reason().map(str::to_string),
                ring_fd: backend.ring_fd(),
            };
            let _ = ready_tx.send(Ok(started));
            serve(backend, &cmd_rx)
        });
        let started = match ready_rx.recv_timeout(WAIT) {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => panic!("UringBackend::new failed: {e}"),
            Err(e) => panic!("the worker did not start: {e}"),
        };
        Self { addr, started, waker, cmds, thread: Some(thread) }
    }

    fn command(&self, cmd: Cmd) {
        self.cmds.send(cmd).expect("the worker has exited");
        self.waker.wake();
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        let (tx, rx) = mpsc::channel();
        self.command(Cmd::Snapshot(tx));
        rx.recv_timeout(WAIT).expect("no snapshot from the worker")
    }

    /// Polls snapshots until `done` holds; panics after `WAIT`.
    pub(super) fn wait_for(&self, what: &str, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
        let deadline = Instant::now() + WAIT;
        loop {
            let snap = self.snapshot();
            if done(&snap) {
                return snap;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {snap:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub(super) fn stop_accepting(&self) {
        self.command(Cmd::StopAccepting);
    }

    /// Closes what is open, stops the worker and checks the contract.
    pub(super) fn finish(mut self) -> Snapshot {
        self.command(Cmd::Finish);
        let snap = self.join();
        if std::env::var_os("URING_TEST_STATS").is_some() {
            eprintln!("{:?} drop {:?}", snap.stats, snap.drop_took);
        }
        assert!(snap.violations.is_empty(), "contract violations: {:#?}", snap.violations);
        assert_eq!(snap.stats.stale_cqes, 0, "stale CQEs: {:?}", snap.stats);
        assert_eq!(snap.closed, snap.accepted.len(), "every accepted connection closed once: {snap:?}");
        snap
    }

    /// Drops the backend with everything still open.
    pub(super) fn abort(mut self) -> Snapshot {
        self.command(Cmd::Abort);
        self.join()
    }

    fn join(&mut self) -> Snapshot {
        let thread = self.thread.take().expect("joined twice");
        let deadline = Instant::now() + WAIT;
        while !thread.is_finished() {
            assert!(Instant::now() < deadline, "the worker did not stop");
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.join().expect("the worker panicked")
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.cmds.send(Cmd::Abort);
            self.waker.wake();
        }
    }
}

enum Event {
    Accepted(ConnKey),
    Received(ConnKey, Vec<u8>),
    RecvClosed(ConnKey),
    Sent(ConnKey, Vec<u8>, bool),
    Closed(ConnKey),
    Woken,
}

impl Event {
    fn from(c: Completion<'_>) -> Self {
        match c {
            Completion::Accepted { conn, kind } => {
                assert_eq!(kind, ListenerKind::H2c);
                Self::Accepted(conn)
            }
            Completion::Received { conn, data } => Self::Received(conn, data.to_vec()),
            Completion::RecvClosed { conn } => Self::RecvClosed(conn),
            Completion::Sent { conn, buf, ok } => Self::Sent(conn, buf, ok),
            Completion::Closed { conn } => Self::Closed(conn),
            Completion::Woken => Self::Woken,
        }
    }
}

#[derive(Default)]
struct EchoConn {
    /// Bytes received and not yet handed to `send`.
    pending: Vec<u8>,
    received_any: bool,
    sending: bool,
    recv_closed: bool,
    send_failed: bool,
    closing: bool,
    flood: bool,
    /// The turn on which to close a flooded connection.
    close_on_turn: Option<u64>,
}

#[derive(Default)]
struct Echo {
    conns: HashMap<ConnKey, EchoConn>,
    spare: Vec<Vec<u8>>,
    turn: u64,
    snap: Snapshot,
}

impl Echo {
    fn violation(&mut self, what: String) {
        self.snap.violations.push(what);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Accepted(k) => {
                if self.conns.insert(k, EchoConn::default()).is_some() {
                    self.violation(format!("key {k} accepted while still live"));
                }
                self.snap.accepted.push(k);
            }
            Event::Received(k, data) => match self.conns.get_mut(&k) {
                Some(c) if !c.closing && !c.recv_closed => {
                    if !c.received_any && data.first() == Some(&b'F') {
                        c.flood = true;
                    } else if !c.flood {
                        c.pending.extend_from_slice(&data);
                    }
                    c.received_any = true;
                }
                _ => self.violation(format!("Received on key {k}, which is not open for receiving")),
            },
            Event::RecvClosed(k) => match self.conns.get_mut(&k) {
                Some(c) if !c.closing && !c.recv_closed => c.recv_closed = true,
                _ => self.violation(format!("RecvClosed on key {k}, unexpected")),
            },
            Event::Sent(k, buf, ok) => {
                if !buf.is_empty() {
                    self.violation(format!("Sent on key {k} returned a buffer that was not cleared"));
                }
                self.spare.push(buf);
                match self.conns.get_mut(&k) {
                    Some(c) if c.sending => {
                        c.sending = false;
                        c.send_failed |= !ok;
                        if c.flood {
                            self.snap.flood_sent.push((k, ok));
                        }
                    }
                    _ => self.violation(format!("Sent on key {k} with no send in flight")),
                }
            }
            Event::Closed(k) => match self.conns.remove(&k) {
                Some(c) if c.closing && !c.sending => self.snap.closed += 1,
                Some(_) => self.violation(format!("Closed on key {k} before close() or before its Sent")),
                None => self.violation(format!("Closed on key {k}, which is not live")),
            },
            Event::Woken => self.snap.woken += 1,
        }
    }

    /// What the worker does after each poll: echo, flood, close.
    fn act(&mut self, backend: &mut UringBackend) {
        self.turn += 1;
        for (&k, c) in &mut self.conns {
            if c.closing {
                continue;
            }
            if c.flood && c.close_on_turn.is_none() {
                backend.send(k, vec![b'f'; FLOOD_BYTES]);
                c.sending = true;
                // Two turns: the next poll submits the send, so it is in
                // flight (blocked on the full socket) when we close.
                c.close_on_turn = Some(self.turn + 2);
            }
            let flood_over = c.close_on_turn.is_some_and(|t| self.turn >= t);
            if !c.sending && !c.pending.is_empty() {
                let buf = mem::replace(&mut c.pending, self.spare.pop().unwrap_or_default());
                backend.send(k, buf);
                c.sending = true;
            }
            let drained = !c.sending && c.pending.is_empty();
            if flood_over || c.send_failed || (c.recv_closed && drained) {
                backend.close(k);
                c.closing = true;
            }
        }
    }
}

fn serve(mut backend: UringBackend, cmds: &mpsc::Receiver<Cmd>) -> Snapshot {
    let mut echo = Echo::default();
    let mut events = Vec::new();
    let deadline = Instant::now() + SERVER_LIFETIME;
    let mut abort = false;
    'run: loop {
        if let Err(e) = backend.poll(Some(Duration::from_millis(200)), &mut |c| events.push(Event::from(c))) {
            echo.violation(format!("poll failed: {e}"));
            break;
        }
        for event in events.drain(..) {
            echo.handle(event);
        }
        echo.act(&mut backend);
        while let Ok(cmd) = cmds.try_recv() {
            match cmd {
                Cmd::StopAccepting => backend.stop_accepting(),
                Cmd::Snapshot(reply) => {
                    echo.snap.stats = backend.stats();
                    let _ = reply.send(echo.snap.clone());
                }
                Cmd::Finish => break 'run,
                Cmd::Abort => {
                    abort = true;
                    break 'run;
                }
            }
        }
        if Instant::now() > deadline {
            echo.violation("the worker outlived its deadline".to_string());
            break;
        }
    }
    if !abort {
        let open: Vec<ConnKey> = echo.conns.iter().filter(|(_, c)| !c.closing).map(|(&k, _)| k).collect();
        for k in open {
            backend.close(k);
            if let Some(c) = echo.conns.get_mut(&k) {
                c.closing = true;
            }
        }
        let deadline = Instant::now() + WAIT;
        while !echo.conns.is_empty() && Instant::now() < deadline {
            if backend.poll(Some(Duration::from_millis(50)), &mut |c| events.push(Event::from(c))).is_err() {
                break;
            }
            for event in events.drain(..) {
                echo.handle(event);
            }
        }
    }
    echo.snap.stats = backend.stats();
    let started = Instant::now();
    drop(backend);
    echo.snap.drop_took = Some(started.elapsed());
    echo.snap
}
