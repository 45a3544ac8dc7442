//! One worker's event loop, the same for both backends: sessions in a
//! table indexed by connection key, one send in flight per connection, all
//! sends of a loop turn handed to the backend together, timeouts checked
//! by a once-a-second sweep (no timer per connection), graceful shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::{Backend, Completion, ConnKey};
use crate::server::handler_cell::HandlerCell;
use crate::server::httpdate::DateCache;
use crate::server::session::{RECORD_PLAINTEXT, Responder, Session, SessionConfig};
use crate::server::stats::WorkerStats;

/// How much one connection may send per loop turn before others get a go.
const SEND_BATCH: usize = 256 * 1024;
/// How often timeouts are swept.
const TICK: Duration = Duration::from_secs(1);

/// What every worker of a server shares (read-only on the hot path).
pub struct WorkerShared {
    pub sessions: SessionConfig,
    /// The site; replaced on SIGHUP, picked up at the next loop turn.
    pub handler: Arc<HandlerCell>,
    /// Set by the signal thread; the worker is woken through its `Waker`.
    pub shutdown: Arc<AtomicBool>,
    pub shutdown_grace: Duration,
    /// One block of counters per worker, indexed by worker number.
    pub stats: Box<[WorkerStats]>,
}

struct Slot {
    session: Session,
    send_in_flight: bool,
    closing: bool,
    /// A send buffer kept between sends, so steady traffic reuses it.
    spare: Vec<u8>,
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
                    slots[conn] = Some(Slot { session, send_in_flight: false, closing: false, spare: Vec::new() });
                    open += 1;
                    dirty.push(conn);
                }
                Completion::Received { conn, data } => {
                    if let Some(slot) = slots.get_mut(conn).and_then(Option::as_mut) {
                        // A clock read and one load of a rarely written
                        // counter per completion: the date is formatted once
                        // a second, and a SIGHUP swap is seen by the very
                        // next request, even one that woke an idle worker.
                        date.update(SystemTime::now());
                        handler.refresh();
                        let responder = Responder { handler: handler.get(), date: date.value(), stats };
                        slot.session.on_recv(data, &shared.sessions, &responder, &mut scratch, now);
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
                        buf.clear();
                        slot.spare = buf;
                        if !ok {
                            slot.session.on_peer_closed();
                        }
                        dirty.push(conn);
                    }
                }
                Completion::Closed { conn } => {
                    if let Some(slot) = slots.get_mut(conn)
                        && slot.take().is_some()
                    {
                        open -= 1;
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
                if let Some(slot) = slot
                    && slot.session.check_timeouts(&shared.sessions.timeouts, now)
                {
                    dirty.push(key);
                }
            }
        }
        if let Some(deadline) = stopping {
            if open == 0 {
                return Ok(());
            }
            if now >= deadline {
                for (key, slot) in slots.iter_mut().enumerate() {
                    if let Some(slot) = slot
                        && !slot.closing
                    {
                        slot.closing = true;
                        backend.close(key);
                    }
                }
            }
        }
        for key in dirty.drain(..) {
            let Some(slot) = slots.get_mut(key).and_then(Option::as_mut) else { continue };
            flush(backend, key, slot, &mut scratch, now);
        }
    }
}

/// Hands the session's pending output to the backend (one send in flight
/// per connection), or closes the connection once it has said everything.
fn flush<B: Backend>(backend: &mut B, key: ConnKey, slot: &mut Slot, scratch: &mut [u8], now: Instant) {
    if slot.send_in_flight || slot.closing {
        return;
    }
    let mut buf = std::mem::take(&mut slot.spare);
    slot.session.fill_output(&mut buf, scratch, SEND_BATCH, now);
    if !buf.is_empty() {
        slot.send_in_flight = true;
        backend.send(key, buf);
        return;
    }
    slot.spare = buf;
    if slot.session.wants_close() {
        slot.closing = true;
        backend.close(key);
    }
}
