//! The I/O runtime: one worker thread per core, each with its own
//! `SO_REUSEPORT` listeners, its own backend (io_uring by default, epoll
//! with `--features epoll`) and its own connections. Nothing is shared
//! between workers on the hot path.
//!
//! The backend is the only part that differs between the two builds; it
//! sits behind the small [`Backend`] trait. Everything above it (TLS, the
//! HTTP/2 connection, timeouts, shutdown) is the same code for both.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

#[cfg(feature = "epoll")]
pub mod epoll;
pub mod listen;
pub mod signals;
pub mod spawn;
#[cfg(not(feature = "epoll"))]
pub mod uring;
pub mod worker;

/// A connection's index in its worker's tables, chosen by the backend when
/// it accepts the connection; reused only after [`Completion::Closed`].
pub type ConnKey = usize;

/// What a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenerKind {
    /// TLS 1.3 with ALPN `h2` (or `http/1.1`).
    Tls,
    /// Cleartext HTTP/2 with prior knowledge (RFC 9113 §3.3).
    H2c,
    /// Cleartext HTTP/1.1 that answers every request with a 308 to the
    /// `https://` site (`--redirect-listen`).
    Redirect,
}

/// One bound, listening socket of this worker (`SO_REUSEPORT`, non-blocking).
#[derive(Debug)]
pub struct Listener {
    pub socket: TcpListener,
    pub kind: ListenerKind,
}

/// What the backend reports from one [`Backend::poll`].
#[derive(Debug)]
pub enum Completion<'a> {
    /// A connection was accepted and is being read from.
    Accepted { conn: ConnKey, kind: ListenerKind },
    /// Bytes arrived; the slice is only valid during the callback (it is a
    /// provided buffer the backend recycles afterwards).
    Received { conn: ConnKey, data: &'a [u8] },
    /// End of input: the peer closed its side, or receiving failed. No more
    /// `Received` for this connection; it stays open until [`Backend::close`].
    RecvClosed { conn: ConnKey },
    /// The buffer given to [`Backend::send`] comes back, cleared: every byte
    /// was written (`ok`), or the connection failed (`!ok`).
    Sent { conn: ConnKey, buf: Vec<u8>, ok: bool },
    /// After [`Backend::close`]: all in-flight operations have finished and
    /// the socket is closed. Exactly once per accepted connection.
    Closed { conn: ConnKey },
    /// [`Waker::wake`] was called from another thread.
    Woken,
}

/// What happened on the accept path, for the worker's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcceptStats {
    /// Pauses after accept failed for lack of resources (EMFILE, ENFILE,
    /// ENOMEM, ENOBUFS), each 100 ms doubling up to 1 s while it persists.
    pub backoffs: u64,
    /// Times accepting stopped because the connection cap was reached
    /// (io_uring: or its descriptor table was nearly full).
    pub pauses: u64,
}

/// The backend's own counters since start, for the metrics (per worker).
/// The fields mean the nearest thing each backend has, and the metrics
/// name them for the backend that runs (`h2ring_uring_*`, `h2ring_epoll_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    /// io_uring: SQEs placed in the submission queue. epoll: `epoll_wait` calls.
    pub submitted: u64,
    /// io_uring: CQEs reaped. epoll: events `epoll_wait` returned.
    pub completed: u64,
    /// io_uring: multishot receives ended because the provided-buffer ring
    /// was empty (ENOBUFS; re-armed once buffers are back). epoll: always
    /// 0, it reads into one buffer per worker.
    pub recv_buffers_exhausted: u64,
    /// Sends that wrote part of their buffer (the socket buffer was full)
    /// and continued later.
    pub short_sends: u64,
}

impl BackendStats {
    /// The number of fields, for a fixed array of atomics in `WorkerStats`.
    pub const FIELDS: usize = 4;

    pub fn to_array(self) -> [u64; Self::FIELDS] {
        [self.submitted, self.completed, self.recv_buffers_exhausted, self.short_sends]
    }

    pub fn from_array(a: [u64; Self::FIELDS]) -> Self {
        let [submitted, completed, recv_buffers_exhausted, short_sends] = a;
        BackendStats { submitted, completed, recv_buffers_exhausted, short_sends }
    }
}

/// How long accepting pauses after the `failures`-th failure in a row for
/// lack of resources: 100 ms, doubling, at most 1 s. Retrying at once would
/// meet the same error and spin; waiting longer than a second would leave
/// clients in the listen queue after the shortage is over.
pub fn accept_backoff(failures: u32) -> Duration {
    let ms = 100u64 << failures.saturating_sub(1).min(4);
    Duration::from_millis(ms.min(1000))
}

/// The event loop primitives one backend provides to a worker.
pub trait Backend {
    /// Submits the work queued since the last call (sends, closes) and waits
    /// until something completes or `timeout` passes (`None`: no limit),
    /// then reports each completion to `on`. One batch of syscalls per call.
    fn poll(&mut self, timeout: Option<Duration>, on: &mut dyn FnMut(Completion<'_>)) -> io::Result<()>;

    /// Writes all of `buf` to `conn`, in the next [`Backend::poll`]. The
    /// worker keeps at most one send in flight per connection; the buffer
    /// stays owned (alive and unmoved) by the backend until `Sent`.
    fn send(&mut self, conn: ConnKey, buf: Vec<u8>);

    /// Closes `conn` once its in-flight operations finish (a pending receive
    /// is cancelled); `Closed` follows exactly once.
    fn close(&mut self, conn: ConnKey);

    /// Stops accepting on every listener (graceful shutdown). Accepted
    /// connections are not affected.
    fn stop_accepting(&mut self);

    /// Caps the connections held at once, from `Accepted` to `Closed`
    /// (`--max-connections`, this worker's share). At the cap the backend
    /// stops accepting (new connections wait in the listen queue: never
    /// accepted and then closed) and resumes as connections close. No cap
    /// until called.
    fn limit_connections(&mut self, max: usize);

    /// Counters of the accept path since start.
    fn accept_stats(&self) -> AcceptStats;

    /// The backend's counters since start ([`BackendStats`]).
    fn backend_stats(&self) -> BackendStats;

    /// "io_uring" or "epoll", for the start-up line.
    fn name(&self) -> &'static str;
}

/// Wakes a worker blocked in [`Backend::poll`] from another thread (an
/// eventfd that the backend watches and reports as [`Completion::Woken`]).
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Self> {
        // SAFETY: eventfd takes no pointers; the flags are valid constants.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(Self { fd: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live stack buffer to our eventfd. A
        // full counter (EAGAIN) already means "woken", so the result is ignored.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Resets the counter after a wake-up was seen (the fd is non-blocking).
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live stack buffer of 8 bytes.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
