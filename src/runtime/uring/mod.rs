//! The io_uring backend: one ring per worker, created on the worker's
//! thread (`SINGLE_ISSUER`; `UringBackend` is deliberately `!Send`).
//!
//! * Listeners: a multishot accept each, or single-shot accepts near the
//!   connection cap (`accept.rs`), straight into the
//!   ring's table of direct descriptors (`IORING_FILE_INDEX_ALLOC`), so
//!   accepted sockets never enter the fd table that all workers share: no
//!   `files_struct` lock to allocate or close one, no `fget`/`fput` per
//!   request, and each ring gets `RLIMIT_NOFILE` slots of its own. The
//!   price: the worker has no fd for setsockopt (options come from the
//!   listener: TCP_NODELAY, buffer sizes), and a full table must be avoided
//!   rather than met (see `accept.rs`).
//! * Receiving: one multishot receive per connection, filled from a
//!   provided-buffer ring (`bufring.rs`); each buffer goes back to the
//!   kernel right after its `Received` callback.
//! * Sending: `IORING_OP_SEND` from the worker's `Vec`, kept in the
//!   connection until its CQE; short sends are resubmitted.
//! * Waking: a multishot poll on a duplicate of the waker's eventfd.
//!
//! A connection's state lives in `conn.rs`; its direct descriptor is closed
//! and its slab key freed in one place, the completion of its `Close`,
//! which is only submitted once nothing else of it is in flight.

mod accept;
mod bufring;
mod conn;
mod setup;
mod user_data;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::mem::{self, ManuallyDrop};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use slab::Slab;

use self::accept::ListenerSlot;
use self::bufring::BufRing;
use self::conn::Conn;
use self::user_data::{Op, decode, encode};
use super::{AcceptStats, Backend, BackendStats, Completion, ConnKey, Listener, Waker};

/// The buffer group of the provided-buffer ring (one per ring, so any id).
const BGID: u16 = 0;
/// CQEs copied out of the CQ per batch; the CQ head is published after
/// each batch, so the kernel gets the slots back early.
const CQE_BATCH: usize = 256;
/// How long `Drop` waits for cancelled operations to complete.
const DROP_DEADLINE: Duration = Duration::from_secs(1);

/// How to build a worker's ring.
#[derive(Clone, Debug)]
pub struct UringOptions {
    /// Ask for a kernel SQ polling thread (falls back to DEFER_TASKRUN).
    pub sqpoll: bool,
    /// Idle time before the SQ thread sleeps (`sq_thread_idle`; 0 means the
    /// kernel's default, 1 s). Rings attached to one thread share the longest.
    pub sqpoll_idle_ms: u32,
    /// SQ size (rounded up to a power of two by the kernel, at most 32768).
    pub entries: u32,
    /// Provided buffers for receiving: a power of two, at most 32768.
    pub buf_count: u16,
    /// Bytes per provided buffer.
    pub buf_size: u32,
}

impl Default for UringOptions {
    fn default() -> Self {
        Self { sqpoll: false, sqpoll_idle_ms: 1000, entries: 1024, buf_count: 1024, buf_size: 16 * 1024 }
    }
}

/// Counters since start, for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UringStats {
    /// SQEs placed in the SQ.
    pub sqes_submitted: u64,
    /// CQEs reaped.
    pub cqes_seen: u64,
    /// Multishot receives that ended because the buffer ring was empty.
    pub recv_enobufs: u64,
    /// Accepts paused (100 ms, doubling up to 1 s) after EMFILE/ENFILE/
    /// ENOMEM and the like.
    pub accept_backoffs: u64,
    /// Times accepting paused because the direct descriptor table was
    /// nearly full (it resumes when connections close).
    pub accept_pauses: u64,
    /// Times accepting paused because the connection cap was reached.
    pub cap_pauses: u64,
    /// Sends that wrote part of their buffer and were resubmitted.
    pub short_sends: u64,
    /// Times the CQ had overflowed and its backlog was flushed.
    pub cq_overflow_flushes: u64,
    /// CQEs that named no live operation (never expected; see user_data).
    pub stale_cqes: u64,
}

pub struct UringBackend {
    ring: IoUring,
    sqpoll: bool,
    fallback_reason: Option<String>,
    /// Dropped by hand in `Drop`, only once the kernel is done with it.
    bufs: ManuallyDrop<BufRing>,
    conns: Slab<Conn>,
    next_generation: u32,
    /// Size of the direct descriptor table.
    direct_slots: u32,
    listeners: Vec<ListenerSlot>,
    /// The connection cap (`Backend::limit_connections`).
    max_conns: usize,
    /// The accept room was 0 at the last look (counted once per pause).
    accept_paused: bool,
    /// Our own duplicate of the waker's eventfd, to drain it.
    wake_fd: OwnedFd,
    /// SQEs that found the SQ full, in order; pushed before anything new.
    backlog: VecDeque<squeue::Entry>,
    /// Reused CQE batch.
    cqe_batch: Vec<cqueue::Entry>,
    /// Receives to re-arm once this turn's buffers are back in the ring.
    rearm: Vec<(ConnKey, u32)>,
    /// Buffers handed back without a send (connection closing, gone, or
    /// an empty buffer), reported as `Sent` at the start of the next poll.
    sends_done: Vec<(ConnKey, Vec<u8>, bool)>,
    /// Requests submitted (or queued) whose last CQE has not been seen.
    in_flight: usize,
    /// Set by `Drop`: nothing is re-armed any more.
    shutting_down: bool,
    stats: UringStats,
}

impl UringBackend {
    /// Must be called on the worker thread that will use it (SINGLE_ISSUER).
    /// `attach_to`: the ring fd of the first worker, to share its SQPOLL
    /// thread (IORING_SETUP_ATTACH_WQ); `None` for the first worker.
    pub fn new(
        listeners: Vec<Listener>,
        waker: &Waker,
        opts: &UringOptions,
        attach_to: Option<RawFd>,
    ) -> io::Result<Self> {
        let bufs = BufRing::new(opts.buf_count, opts.buf_size)?;
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; the result is checked.
        let wake_fd = unsafe { libc::fcntl(waker.raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if wake_fd < 0 {
            return Err(setup::context(io::Error::last_os_error(), "duplicating the waker's eventfd"));
        }
        // SAFETY: `wake_fd` was just returned by fcntl and is owned by nobody else.
        let wake_fd = unsafe { OwnedFd::from_raw_fd(wake_fd) };
        let setup::Ring { ring, sqpoll, fallback_reason } = setup::build(opts, attach_to)?;
        let direct_slots = setup::direct_descriptor_slots();
        ring.submitter()
            .register_files_sparse(direct_slots)
            .map_err(|e| setup::context(e, "registering the direct descriptor table"))?;
        // SAFETY: the ring memory is `bufs`' mapping, page-aligned and sized
        // for `count` slots. It moves into the backend just below (nothing in
        // between can fail) and stays mapped until `Drop` has unregistered
        // it with no request in flight, or forever (leaked) otherwise.
        unsafe { ring.submitter().register_buf_ring_with_flags(bufs.ring_addr(), bufs.count(), BGID, 0) }
            .map_err(|e| setup::context(e, "registering the provided buffer ring (Linux 5.19+)"))?;
        let mut backend = Self {
            ring,
            sqpoll,
            fallback_reason,
            bufs: ManuallyDrop::new(bufs),
            conns: Slab::new(),
            next_generation: 0,
            direct_slots,
            listeners: listeners.into_iter().map(ListenerSlot::new).collect(),
            max_conns: usize::MAX,
            accept_paused: false,
            wake_fd,
            backlog: VecDeque::new(),
            cqe_batch: Vec::with_capacity(CQE_BATCH),
            rearm: Vec::new(),
            sends_done: Vec::new(),
            in_flight: 0,
            shutting_down: false,
            stats: UringStats::default(),
        };
        backend.arm_wake();
        backend.update_accepts();
        backend.enter(false, None)?;
        Ok(backend)
    }

    /// For the next workers' ATTACH_WQ.
    pub fn ring_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// False if SQPOLL was not asked for, or fell back.
    pub fn sqpoll_active(&self) -> bool {
        self.sqpoll
    }

    /// Why SQPOLL fell back, for one warning line.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    pub fn stats(&self) -> UringStats {
        self.stats
    }

    /// Queues one SQE. Every SQE built in this module points only at memory
    /// that outlives its operation; see the SAFETY comment in `try_push`.
    fn push(&mut self, sqe: squeue::Entry) {
        self.in_flight += 1;
        if self.backlog.is_empty() {
            if self.try_push(&sqe) {
                return;
            }
            // SQ full: let the kernel consume it (without SQPOLL, submit
            // takes every entry; with it, it wakes the thread if asleep)
            // and try once more before parking the entry.
            let _ = self.ring.submit();
            if self.try_push(&sqe) {
                return;
            }
        }
        self.backlog.push_back(sqe);
    }

    fn try_push(&mut self, sqe: &squeue::Entry) -> bool {
        // SAFETY: the SQEs of this module reference, besides fds and direct
        // descriptors: a Send's bytes, which are the heap buffer of a `Vec`
        // kept in `Conn::send` untouched until that Send's CQE (the `Conn`
        // may move inside the slab; the heap buffer does not), or leaked by
        // `Drop` if the kernel may still read it; the accept backoff
        // `Timespec`, a static; and the buffer ring, registered before any
        // receive and kept until `Drop` unregisters it. Nothing else.
        let pushed = unsafe { self.ring.submission().push(sqe) }.is_ok();
        if pushed {
            self.stats.sqes_submitted += 1;
        }
        pushed
    }

    fn flush_backlog(&mut self) {
        while let Some(sqe) = self.backlog.pop_front() {
            if !self.try_push(&sqe) {
                let _ = self.ring.submit();
                if !self.try_push(&sqe) {
                    self.backlog.push_front(sqe);
                    return;
                }
            }
        }
    }

    /// One `io_uring_enter` at most: submits the SQ and, if `wait`, waits
    /// for a CQE or the timeout.
    ///
    /// NEED_WAKEUP is handled by the io-uring crate: for an SQPOLL ring,
    /// `submit`/`submit_and_wait`/`submit_with_args` issue a SeqCst fence
    /// after our SQ tail store, read the SQ flags, and add
    /// `IORING_ENTER_SQ_WAKEUP` when the thread sleeps
    /// (`IORING_SQ_NEED_WAKEUP`); when it is awake and nothing is to be
    /// waited for (`want == 0`, no CQ overflow, no `IORING_SQ_TASKRUN`) they
    /// return without a system call. So a busy SQPOLL worker enters the
    /// kernel only to sleep. With DEFER_TASKRUN, completions exist only
    /// once an enter with `IORING_ENTER_GETEVENTS` has run the deferred
    /// task work; `submit_with_args(1, ..)` always sets it.
    fn enter(&mut self, wait: bool, timeout: Option<Duration>) -> io::Result<()> {
        let result = if wait {
            let timespec =
                timeout.map(|d| Timespec::new().sec(d.as_secs().min(i64::MAX as u64)).nsec(d.subsec_nanos()));
            let submitter = self.ring.submitter();
            match &timespec {
                Some(ts) => submitter.submit_with_args(1, &SubmitArgs::new().timespec(ts)),
                None => submitter.submit_with_args(1, &SubmitArgs::new()),
            }
        } else if !self.ring.submission().is_empty() {
            // With SQPOLL this is a system call only if the thread sleeps.
            self.ring.submit()
        } else {
            Ok(0)
        };
        match result {
            Ok(_) => Ok(()),
            // ETIME: the wait timed out. EINTR: a signal. EBUSY/EAGAIN: the
            // kernel wants CQEs reaped (or memory) before taking more SQEs;
            // what it did not take stays in the SQ for the next turn.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Reports every CQE there is, then re-arms the receives that ran out
    /// of buffers (now that this turn's buffers are back in the ring).
    fn drain(&mut self, on: &mut dyn FnMut(Completion<'_>)) {
        let mut batch = mem::take(&mut self.cqe_batch);
        // With SQPOLL the kernel posts CQEs while we reap; stop after a few
        // CQ's worth so the worker gets back to its own work.
        let budget = self.ring.completion().capacity() * 4;
        let mut seen = 0;
        let mut flushes = 0;
        loop {
            batch.clear();
            batch.extend(self.ring.completion().take(CQE_BATCH));
            if batch.is_empty() {
                // With FEAT_NODROP, CQEs that found the CQ full wait on a
                // kernel list (IORING_SQ_CQ_OVERFLOW) until an enter with
                // GETEVENTS moves them over; `submit` sets GETEVENTS when it
                // sees that flag. Nothing is lost, only delayed.
                if flushes < 4 && self.ring.submission().cq_overflow() {
                    flushes += 1;
                    self.stats.cq_overflow_flushes += 1;
                    let _ = self.ring.submit();
                    continue;
                }
                break;
            }
            for cqe in &batch {
                self.complete(cqe, on);
            }
            seen += batch.len();
            if seen >= budget {
                break;
            }
        }
        self.cqe_batch = batch;
        self.rearm_receives();
    }

    /// Routes one CQE to its connection or listener.
    fn complete(&mut self, cqe: &cqueue::Entry, on: &mut dyn FnMut(Completion<'_>)) {
        self.stats.cqes_seen += 1;
        let (res, flags) = (cqe.result(), cqe.flags());
        let more = cqueue::more(flags);
        if !more {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let Some((op, key, generation)) = decode(cqe.user_data()) else {
            self.stale(flags);
            return;
        };
        match op {
            Op::Accept => self.accepted(key, res, more, generation, on),
            Op::AcceptBackoff => self.backoff_over(key),
            Op::ListenerCancel | Op::Shutdown => {}
            Op::Wake => self.woken(res, more, on),
            Op::Recv => self.received(key, generation, res, flags, on),
            Op::Send => self.sent(key, generation, res, on),
            Op::ConnCancel => self.cancelled(key, generation),
            Op::Close => self.closed(key, generation, on),
        }
    }

    /// A CQE for nothing we know of. A receive's buffer still goes back.
    fn stale(&mut self, flags: u32) {
        self.stats.stale_cqes += 1;
        if let Some(bid) = cqueue::buffer_select(flags) {
            // SAFETY: the CQE handed this buffer to us and nothing refers to it.
            unsafe { self.bufs.recycle(bid) };
        }
    }

    fn arm_wake(&mut self) {
        let poll = opcode::PollAdd::new(Fd(self.wake_fd.as_raw_fd()), libc::POLLIN as u32).multi(true);
        self.push(poll.build().user_data(encode(Op::Wake, 0, 0)));
    }

    fn woken(&mut self, res: i32, more: bool, on: &mut dyn FnMut(Completion<'_>)) {
        if res >= 0 {
            let mut counter = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a live 8-byte stack buffer
            // from our own non-blocking eventfd. Resetting the counter lets
            // the next wake() make a new POLLIN edge for the multishot poll;
            // a wake racing with this read only causes one extra `Woken`.
            let _ = unsafe { libc::read(self.wake_fd.as_raw_fd(), counter.as_mut_ptr().cast(), counter.len()) };
            if !self.shutting_down {
                on(Completion::Woken);
            }
        }
        // A multishot poll ends on error or when the CQ had no room.
        if !more && !self.shutting_down {
            self.arm_wake();
        }
    }

    /// Cancels everything and waits (bounded) until the kernel has
    /// completed every request. True if it has.
    fn quiesce(&mut self) -> bool {
        self.shutting_down = true;
        let deadline = Instant::now() + DROP_DEADLINE;
        self.push(opcode::AsyncCancel2::new(CancelBuilder::any()).build().user_data(encode(Op::Shutdown, 0, 0)));
        while self.in_flight > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.flush_backlog();
            if self.enter(true, Some((deadline - now).min(Duration::from_millis(50)))).is_err() {
                return false;
            }
            self.drain(&mut |_| {});
        }
        true
    }
}

impl Backend for UringBackend {
    fn poll(&mut self, timeout: Option<Duration>, on: &mut dyn FnMut(Completion<'_>)) -> io::Result<()> {
        let reported = !self.sends_done.is_empty();
        for (conn, mut buf, ok) in self.sends_done.drain(..) {
            buf.clear();
            on(Completion::Sent { conn, buf, ok });
        }
        self.flush_backlog();
        let ready = reported || !self.ring.completion().is_empty();
        self.enter(!ready, timeout)?;
        self.drain(on);
        Ok(())
    }

    fn send(&mut self, conn: ConnKey, buf: Vec<u8>) {
        self.queue_send(conn, buf);
    }

    fn close(&mut self, conn: ConnKey) {
        self.start_close(conn);
    }

    fn stop_accepting(&mut self) {
        for index in 0..self.listeners.len() {
            self.stop_listener(index);
        }
    }

    fn limit_connections(&mut self, max: usize) {
        self.max_conns = max;
        self.update_accepts();
    }

    fn accept_stats(&self) -> AcceptStats {
        AcceptStats { backoffs: self.stats.accept_backoffs, pauses: self.stats.accept_pauses + self.stats.cap_pauses }
    }

    fn backend_stats(&self) -> BackendStats {
        let s = &self.stats;
        BackendStats {
            submitted: s.sqes_submitted,
            completed: s.cqes_seen,
            recv_buffers_exhausted: s.recv_enobufs,
            short_sends: s.short_sends,
        }
    }

    fn name(&self) -> &'static str {
        "io_uring"
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        if self.quiesce() && self.ring.submitter().unregister_buf_ring(BGID).is_ok() {
            // SAFETY: every request has completed (no receive can pick a
            // buffer) and the ring is unregistered, so the kernel holds no
            // reference to the mapping; `bufs` is not used after this.
            unsafe { ManuallyDrop::drop(&mut self.bufs) };
        } else {
            // The kernel may still write into the buffers or read a send
            // buffer: leak both rather than free memory it may touch. (The
            // buffer mapping leaks by staying in its ManuallyDrop.)
            for (_, conn) in self.conns.iter_mut() {
                if let Some(out) = conn.send.take() {
                    mem::forget(out.buf);
                }
            }
        }
        // The ring, its direct descriptors (accepted sockets), the
        // listeners and our eventfd close with the fields.
    }
}
