//! One worker's event loop, the same for both backends: sessions in a
//! table indexed by connection key, one send in flight per connection, all
//! sends of a loop turn handed to the backend together, timeouts checked
//! by a once-a-second sweep (no timer per connection), graceful shutdown.
//!
//! Memory per connection is bounded here:
//!
//! * **Output.** One send in flight per connection, and the next one is
//!   only filled when it completed, so a connection whose peer never reads
//!   holds one buffer of at most [`SEND_BATCH`] + [`FILL_SLACK`] bytes
//!   (256 KiB + one TLS record). Sends start at [`SLOW_BATCH`] and double
//!   while they complete quickly; a peer whose sends take long is cut back
//!   to it: less held for it, and finer progress for the write timeout. A
//!   send that does not complete within the write timeout closes the
//!   connection at once (its buffer is cancelled with it).
//! * **Idle connections** keep no send buffer: one unused for a whole
//!   sweep is freed, and after a large send it shrinks at once.
//! * **Connections**: `--max-connections`, split across the workers; at
//!   its share the backend stops accepting ([`Backend::limit_connections`]).
//!
//! A client that runs into a protocol limit (the core's [`Limit`]s) is
//! counted once per connection and kind, and logged likewise, at most
//! [`LIMIT_LINES_PER_SECOND`] lines a second per worker, so an attack
//! cannot flood the log; what is left out is summed up in one line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::{Backend, Completion, ConnKey};
use crate::h2::conn::Limit;
use crate::server::access_log::AccessLogSink;
use crate::server::handler_cell::HandlerCell;
use crate::server::httpdate::DateCache;
use crate::server::session::{FILL_SLACK, RECORD_PLAINTEXT, Responder, Session, SessionConfig, Swept};
use crate::server::stats::{ClosedBy, Counter, WorkerStats};

/// How much one connection may send per loop turn before others get a go,
/// and so (plus [`FILL_SLACK`]) the most output a connection holds.
pub const SEND_BATCH: usize = 256 * 1024;
/// The send size of a new connection, and of one whose last send took
/// [`SLOW_SEND`] or longer: two records. It doubles with each quick send,
/// up to [`SEND_BATCH`], so a slow reader is never handed 256 KiB that it
/// could not take within the write timeout.
pub const SLOW_BATCH: usize = 2 * RECORD_PLAINTEXT;
/// A send that takes this long waited on the peer (its socket buffer full).
const SLOW_SEND: Duration = Duration::from_millis(500);
/// The send buffer a connection keeps when it goes idle after sending;
/// anything larger is given back right away.
const IDLE_SPARE: usize = RECORD_PLAINTEXT + 1024;
/// How often timeouts are swept.
const TICK: Duration = Duration::from_secs(1);
/// Limit lines one worker logs per second at most.
const LIMIT_LINES_PER_SECOND: u32 = 10;

/// The log of limits clients ran into: one line per connection and kind
/// (the core reports each kind once per connection), rate-limited per
/// worker. The session knows no peer address (an io_uring multishot accept
/// into a direct descriptor does not give one), so a line names the
/// worker and the connection's key.
struct LimitLog {
    worker: usize,
    since: Instant,
    lines: u32,
    left_out: u64,
}

impl LimitLog {
    fn new(worker: usize, now: Instant) -> Self {
        LimitLog { worker, since: now, lines: 0, left_out: 0 }
    }

    fn report(&mut self, limit: Limit, conn: ConnKey, now: Instant) {
        self.roll(now);
        if self.lines < LIMIT_LINES_PER_SECOND {
            self.lines += 1;
            log::info!("limit {}: {} (worker {}, connection {conn})", limit.as_str(), limit.reason(), self.worker);
        } else {
            self.left_out += 1;
        }
    }

    /// Starts a new second once the last is over, with one line for what
    /// it left out.
    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.since) < TICK {
            return;
        }
        if self.left_out > 0 {
            log::info!(
                "{} more limit hits not logged (worker {}, over {LIMIT_LINES_PER_SECOND} a second)",
                self.left_out,
                self.worker
            );
        }
        self.since = now;
        self.lines = 0;
        self.left_out = 0;
    }
}

/// Counts and logs the limits the session's client ran into since the last look.
fn report_limits(session: &mut Session, conn: ConnKey, log: &mut LimitLog, stats: &WorkerStats, now: Instant) {
    while let Some(limit) = session.take_new_limit_hit() {
        stats.bump_limit(limit);
        log.report(limit, conn, now);
    }
}

/// This worker's share of `total` connections: `total` split evenly over
/// `workers`, the first ones taking one more when it does not divide.
pub fn connection_share(total: usize, workers: usize, index: usize) -> usize {
    let workers = workers.max(1);
    total / workers + usize::from(index < total % workers)
}

/// What every worker of a server shares (read-only on the hot path).
pub struct WorkerShared {
    pub sessions: SessionConfig,
    /// The site; replaced on SIGHUP, picked up at the next loop turn.
    pub handler: Arc<HandlerCell>,
    /// Set by the signal thread; the worker is woken through its `Waker`.
    pub shutdown: Arc<AtomicBool>,
    pub shutdown_grace: Duration,
    /// One block of counters per worker, indexed by worker number; its
    /// length is the number of workers.
    pub stats: Box<[WorkerStats]>,
    /// `--max-connections`: all workers together ([`connection_share`]).
    pub max_connections: usize,
    /// `--access-log`: each worker opens its own
    /// [`AccessLog`](crate::server::access_log::AccessLog).
    pub access_log: Option<AccessLogSink>,
}

struct Slot {
    session: Session,
    send_in_flight: bool,
    closing: bool,
    /// A send buffer kept between sends, so steady traffic reuses it.
    spare: Vec<u8>,
    /// How much the next send may carry: from [`SLOW_BATCH`] up to
    /// [`SEND_BATCH`] as sends complete quickly.
    batch: usize,
    /// When the send in flight was handed over, and its length (the
    /// buffer comes back cleared).
    send_started: Instant,
    send_len: usize,
    /// A send was handed over since the last sweep.
    sent_this_tick: bool,
    /// Responses queued whose output has not all been sent yet, and the
    /// loop turn that received the earliest of their requests: the
    /// metrics' latency runs from there to the completion of the send
    /// after which nothing is pending.
    answered: u32,
    answered_at: Instant,
    /// Closed by the worker at the end of the shutdown grace period.
    forced_close: bool,
}

impl Slot {
    fn new(session: Session, now: Instant) -> Self {
        Slot {
            session,
            send_in_flight: false,
            closing: false,
            spare: Vec::new(),
            batch: SLOW_BATCH,
            send_started: now,
            send_len: 0,
            sent_this_tick: false,
            answered: 0,
            answered_at: now,
            forced_close: false,
        }
    }

    /// Notes responses the session queued since the last look.
    fn note_answered(&mut self, now: Instant) {
        let n = self.session.take_answered();
        if n > 0 {
            if self.answered == 0 {
                self.answered_at = now;
            }
            self.answered += n;
        }
    }

    /// Once no output is pending, every response noted went out: each
    /// counts the time since the earliest of them was received.
    fn observe_latency(&mut self, stats: &WorkerStats, now: Instant) {
        if self.answered == 0 || self.send_in_flight || self.session.output_pending() {
            return;
        }
        let took = now.duration_since(self.answered_at);
        for _ in 0..self.answered {
            stats.latency.observe(took);
        }
        self.answered = 0;
    }
}

/// Copies the backend's counters into this worker's stats.
fn copy_backend_stats<B: Backend>(backend: &B, stats: &WorkerStats) {
    let a = backend.accept_stats();
    stats.set(Counter::AcceptBackoffs, a.backoffs);
    stats.set(Counter::AcceptPauses, a.pauses);
    stats.set_backend(&backend.backend_stats());
}

/// Runs until shutdown completes (all connections closed, or the grace
/// period over).
pub fn run<B: Backend>(backend: &mut B, shared: &WorkerShared, index: usize) -> std::io::Result<()> {
    let fallback = WorkerStats::default();
    let stats = shared.stats.get(index).unwrap_or(&fallback);
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut dirty: Vec<ConnKey> = Vec::new();
    let mut scratch = vec![0u8; RECORD_PLAINTEXT];
    let mut next_tick = Instant::now() + TICK;
    let mut stopping: Option<Instant> = None;
    let mut open = 0usize;
    let mut handler = shared.handler.local();
    let mut date = DateCache::new(SystemTime::now());
    // Send buffer bytes given back since the last sweep.
    let mut released = 0usize;
    let mut limit_log = LimitLog::new(index, Instant::now());
    // Hands over its last lines when dropped, however `run` returns.
    let access_log = shared.access_log.as_ref().map(|sink| sink.open(SystemTime::now()));
    backend.limit_connections(connection_share(shared.max_connections, shared.stats.len(), index));

    loop {
        let now = Instant::now();
        let mut until = next_tick;
        if let Some(deadline) = stopping {
            until = until.min(deadline);
        }
        backend.poll(Some(until.saturating_duration_since(now)), &mut |c| {
            let now = Instant::now();
            match c {
                Completion::Accepted { conn, kind } => {
                    if slots.len() <= conn {
                        slots.resize_with(conn + 1, || None);
                    }
                    let mut session = Session::new(kind, &shared.sessions, now);
                    if stopping.is_some() {
                        // Accepted just before the listeners closed.
                        session.shutdown();
                    }
                    slots[conn] = Some(Slot::new(session, now));
                    open += 1;
                    stats.bump(Counter::Accepted);
                    dirty.push(conn);
                }
                Completion::Received { conn, data } => {
                    if let Some(slot) = slots.get_mut(conn).and_then(Option::as_mut) {
                        // A clock read and one load of a rarely written
                        // counter per completion: the date is formatted once
                        // a second, and a SIGHUP swap is seen by the very
                        // next request, even one that woke an idle worker.
                        let wall = SystemTime::now();
                        date.update(wall);
                        if let Some(access) = &access_log {
                            access.set_time(wall);
                        }
                        handler.refresh();
                        let responder = Responder {
                            sessions: &shared.sessions,
                            handler: handler.get(),
                            date: date.value(),
                            stats,
                            access_log: access_log.as_ref(),
                        };
                        slot.session.on_recv(data, &responder, &mut scratch, now);
                        stats.add(Counter::BytesIn, data.len() as u64);
                        slot.note_answered(now);
                        report_limits(&mut slot.session, conn, &mut limit_log, stats, now);
                        dirty.push(conn);
                    }
                }
                Completion::RecvClosed { conn } => {
                    if let Some(slot) = slots.get_mut(conn).and_then(Option::as_mut) {
                        slot.session.on_peer_closed();
                        dirty.push(conn);
                    }
                }
                Completion::Sent { conn, mut buf, ok } => {
                    if let Some(slot) = slots.get_mut(conn).and_then(Option::as_mut) {
                        slot.send_in_flight = false;
                        slot.session.on_sent();
                        slot.batch = if now.duration_since(slot.send_started) >= SLOW_SEND {
                            SLOW_BATCH
                        } else {
                            (slot.batch * 2).min(SEND_BATCH)
                        };
                        if ok {
                            stats.add(Counter::BytesOut, slot.send_len as u64);
                        }
                        buf.clear();
                        slot.spare = buf;
                        if ok {
                            slot.observe_latency(stats, now);
                        } else {
                            // Not delivered: not timed either.
                            slot.answered = 0;
                            slot.session.on_peer_closed();
                        }
                        dirty.push(conn);
                    }
                }
                Completion::Closed { conn } => {
                    if let Some(slot) = slots.get_mut(conn).and_then(Option::take) {
                        open -= 1;
                        stats.record_close(ClosedBy::of(slot.session.close_reason(), slot.forced_close));
                    }
                }
                // The shutdown flag is read below, after every wake-up.
                Completion::Woken => {}
            }
        })?;

        let now = Instant::now();
        if stopping.is_none() && shared.shutdown.load(Ordering::Acquire) {
            // Stop accepting, GOAWAY everywhere, and give in-flight streams
            // the grace period (RFC 9113 §6.8).
            backend.stop_accepting();
            stopping = Some(now + shared.shutdown_grace);
            for (key, slot) in slots.iter_mut().enumerate() {
                if let Some(slot) = slot {
                    slot.session.shutdown();
                    dirty.push(key);
                }
            }
        }
        if now >= next_tick {
            next_tick = now + TICK;
            for (key, slot) in slots.iter_mut().enumerate() {
                let Some(slot) = slot else { continue };
                if slot.session.check_timeouts(&shared.sessions.timeouts, now) != Swept::Unchanged {
                    dirty.push(key);
                }
                report_limits(&mut slot.session, key, &mut limit_log, stats, now);
                // A buffer unused for a whole sweep goes back to the
                // allocator: idle connections hold none.
                if !slot.send_in_flight && !slot.sent_this_tick && slot.spare.capacity() > 0 {
                    released += slot.spare.capacity();
                    slot.spare = Vec::new();
                }
                slot.sent_this_tick = false;
            }
            copy_backend_stats(backend, stats);
            limit_log.roll(now);
            if let Some(access) = &access_log {
                access.flush();
            }
            if released >= TRIM_AFTER {
                trim_allocator();
            }
            released = 0;
        }
        if let Some(deadline) = stopping {
            if open == 0 {
                copy_backend_stats(backend, stats);
                return Ok(());
            }
            if now >= deadline {
                for (key, slot) in slots.iter_mut().enumerate() {
                    if let Some(slot) = slot
                        && !slot.closing
                    {
                        slot.closing = true;
                        slot.forced_close = true;
                        backend.close(key);
                    }
                }
            }
        }
        // Filling output may answer HTTP/1.1 requests held back until
        // output drained (pipelining), so it gets a responder too.
        let responder = Responder {
            sessions: &shared.sessions,
            handler: handler.get(),
            date: date.value(),
            stats,
            access_log: access_log.as_ref(),
        };
        for key in dirty.drain(..) {
            let Some(slot) = slots.get_mut(key).and_then(Option::as_mut) else { continue };
            released += flush(backend, key, slot, &mut scratch, &responder, now);
        }
    }
}

/// Hands the session's pending output to the backend (one send in flight
/// per connection), or closes the connection once it has said everything.
/// Returns the buffer bytes it gave back.
fn flush<B: Backend>(
    backend: &mut B,
    key: ConnKey,
    slot: &mut Slot,
    scratch: &mut [u8],
    responder: &Responder<'_>,
    now: Instant,
) -> usize {
    if slot.closing {
        return 0;
    }
    if slot.session.abandoned() {
        // The write timeout struck with a send stuck: close now, which
        // cancels the send (its buffer comes back with `Sent { ok: false }`).
        slot.closing = true;
        backend.close(key);
        return 0;
    }
    if slot.send_in_flight {
        return 0;
    }
    let mut buf = std::mem::take(&mut slot.spare);
    slot.session.fill_output(&mut buf, scratch, slot.batch, responder, now);
    slot.note_answered(now);
    debug_assert!(buf.len() <= SEND_BATCH + FILL_SLACK, "{} bytes buffered", buf.len());
    if !buf.is_empty() {
        slot.send_in_flight = true;
        slot.send_started = now;
        slot.send_len = buf.len();
        slot.sent_this_tick = true;
        slot.session.on_send_started(now);
        backend.send(key, buf);
        return 0;
    }
    // Responses that left nothing to send (their streams were reset
    // meanwhile) are done now.
    slot.observe_latency(responder.stats, now);
    let mut released = 0;
    if buf.capacity() > IDLE_SPARE {
        // Idle after a large send: keep a small buffer for the next answer.
        released = buf.capacity();
        buf.shrink_to(IDLE_SPARE);
        released -= buf.capacity();
    }
    slot.spare = buf;
    if slot.session.wants_close() {
        slot.closing = true;
        backend.close(key);
    }
    released
}

/// Buffer bytes given back within one sweep above which the allocator is
/// asked to return its free memory to the kernel.
const TRIM_AFTER: usize = 1 << 20;

/// glibc keeps freed memory in its arenas: buffers given back after a
/// burst of large responses would leave the resident set at the burst's
/// peak. `malloc_trim` returns the free pages of every arena (at most once
/// a sweep, and only after a megabyte or more was given back).
fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it walks glibc's own free
    // lists under their locks and madvises whole free pages away.
    unsafe {
        libc::malloc_trim(64 * 1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_shared_evenly_and_add_up() {
        for (total, workers) in [(20_000, 2), (20_000, 3), (4, 1), (5, 2), (7, 7), (1024, 1000)] {
            let shares: Vec<usize> = (0..workers).map(|i| connection_share(total, workers, i)).collect();
            assert_eq!(shares.iter().sum::<usize>(), total, "{total} over {workers}");
            let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            assert!(max - min <= 1 && *min >= 1, "{total} over {workers}: {shares:?}");
        }
        assert_eq!(connection_share(20_000, 3, 0), 6667);
        assert_eq!(connection_share(20_000, 3, 2), 6666);
    }
}
