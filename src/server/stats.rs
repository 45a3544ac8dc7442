//! Counters kept per worker and summed only when read, so the hot path
//! never writes a cache line another core reads. Each worker's block is
//! aligned to its own cache lines; the increments are relaxed atomics only
//! so that another thread may read them (at exit, and later for metrics).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::h2::conn::Limit;

/// One worker's counters.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerStats {
    /// Resumed handshakes whose ClientHello carried `early_data`.
    pub early_offered: AtomicU64,
    /// Of those, the ones whose early data rustls accepted.
    pub early_accepted: AtomicU64,
    /// Offered but refused: unknown or already used ticket (a replay),
    /// early data disabled, or a ticket from another configuration.
    pub early_rejected: AtomicU64,
    /// Requests answered from early data, before the handshake completed.
    pub early_served: AtomicU64,
    /// Requests refused with 425 Too Early (RFC 8470 §5.2).
    pub too_early: AtomicU64,
    /// Handshakes completed: full and resumed.
    pub handshakes_full: AtomicU64,
    pub handshakes_resumed: AtomicU64,
    /// Times accepting paused for lack of fds or memory (EMFILE, ENFILE,
    /// ENOMEM, ENOBUFS), copied from the backend once a second.
    pub accept_backoffs: AtomicU64,
    /// Times accepting paused at the connection cap (`--max-connections`;
    /// io_uring: or a nearly full descriptor table), likewise.
    pub accept_pauses: AtomicU64,
    /// Connections closed by each timeout.
    pub handshake_timeouts: AtomicU64,
    pub header_timeouts: AtomicU64,
    pub write_timeouts: AtomicU64,
    pub idle_closes: AtomicU64,
    /// Connections whose client ran into each protocol limit (indexed by
    /// [`Limit`]; a connection counts once per kind however often it hits it).
    pub limits: [AtomicU64; Limit::COUNT],
}

/// Which counter to bump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    EarlyOffered,
    EarlyAccepted,
    EarlyRejected,
    EarlyServed,
    TooEarly,
    HandshakeFull,
    HandshakeResumed,
    AcceptBackoffs,
    AcceptPauses,
    HandshakeTimeouts,
    HeaderTimeouts,
    WriteTimeouts,
    IdleCloses,
}

impl WorkerStats {
    fn cell(&self, c: Counter) -> &AtomicU64 {
        match c {
            Counter::EarlyOffered => &self.early_offered,
            Counter::EarlyAccepted => &self.early_accepted,
            Counter::EarlyRejected => &self.early_rejected,
            Counter::EarlyServed => &self.early_served,
            Counter::TooEarly => &self.too_early,
            Counter::HandshakeFull => &self.handshakes_full,
            Counter::HandshakeResumed => &self.handshakes_resumed,
            Counter::AcceptBackoffs => &self.accept_backoffs,
            Counter::AcceptPauses => &self.accept_pauses,
            Counter::HandshakeTimeouts => &self.handshake_timeouts,
            Counter::HeaderTimeouts => &self.header_timeouts,
            Counter::WriteTimeouts => &self.write_timeouts,
            Counter::IdleCloses => &self.idle_closes,
        }
    }

    /// Only the owning worker writes, so load + store is enough (no locked
    /// read-modify-write on the hot path).
    pub fn bump(&self, c: Counter) {
        let cell = self.cell(c);
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// For counters kept elsewhere (the backend's) and copied in.
    pub fn set(&self, c: Counter, value: u64) {
        self.cell(c).store(value, Ordering::Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.cell(c).load(Ordering::Relaxed)
    }

    /// A connection ran into `limit` (the first time for that connection).
    pub fn bump_limit(&self, limit: Limit) {
        let cell = &self.limits[limit as usize];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    pub fn limit(&self, limit: Limit) -> u64 {
        self.limits[limit as usize].load(Ordering::Relaxed)
    }
}

/// The sum over workers of one limit's counter.
pub fn limit_total(workers: &[WorkerStats], limit: Limit) -> u64 {
    workers.iter().map(|w| w.limit(limit)).sum()
}

/// The limit counters as one line (printed at exit), `name number` each:
/// connections that ran into each limit.
pub fn limits_summary(workers: &[WorkerStats]) -> String {
    let counts: Vec<String> =
        Limit::ALL.iter().map(|&l| format!("{} {}", l.as_str(), limit_total(workers, l))).collect();
    format!("limits hit (connections): {}", counts.join(", "))
}

/// The sum over workers of one counter.
pub fn total(workers: &[WorkerStats], c: Counter) -> u64 {
    workers.iter().map(|w| w.get(c)).sum()
}

/// The counters as one line (printed at exit until the metrics endpoint
/// exists); tests read it, so keep each figure as `name number`.
pub fn summary(workers: &[WorkerStats]) -> String {
    use std::fmt::Write;
    let t = |c| total(workers, c);
    let mut line = format!(
        "0-RTT: offered {}, accepted {}, rejected {}, served from early {}, answered 425 {}; \
         handshakes: full {}, resumed {}; resumed per worker: ",
        t(Counter::EarlyOffered),
        t(Counter::EarlyAccepted),
        t(Counter::EarlyRejected),
        t(Counter::EarlyServed),
        t(Counter::TooEarly),
        t(Counter::HandshakeFull),
        t(Counter::HandshakeResumed),
    );
    for (i, w) in workers.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(line, "{sep}worker{i} {}", w.get(Counter::HandshakeResumed));
    }
    line
}

/// The connection counters as one line (printed at exit next to
/// [`summary`]), each figure as `name number`.
pub fn connections_summary(workers: &[WorkerStats]) -> String {
    let t = |c| total(workers, c);
    format!(
        "connections: accept backoffs {}, accept pauses {}; closed by timeout: handshake {}, header {}, write {}, idle {}",
        t(Counter::AcceptBackoffs),
        t(Counter::AcceptPauses),
        t(Counter::HandshakeTimeouts),
        t(Counter::HeaderTimeouts),
        t(Counter::WriteTimeouts),
        t(Counter::IdleCloses),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_per_worker_and_summed() {
        let workers: Vec<WorkerStats> = (0..3).map(|_| WorkerStats::default()).collect();
        workers[0].bump(Counter::TooEarly);
        workers[2].bump(Counter::TooEarly);
        workers[2].bump(Counter::EarlyServed);
        assert_eq!(total(&workers, Counter::TooEarly), 2);
        assert_eq!(total(&workers, Counter::EarlyServed), 1);
        assert_eq!(total(&workers, Counter::EarlyOffered), 0);
        assert!(std::mem::align_of::<WorkerStats>() >= 128, "no false sharing between workers");
        workers[1].bump(Counter::HandshakeResumed);
        let line = summary(&workers);
        assert!(line.contains("answered 425 2"), "{line}");
        assert!(line.ends_with("worker0 0, worker1 1, worker2 0"), "{line}");
        workers[1].set(Counter::AcceptPauses, 7);
        workers[0].bump(Counter::WriteTimeouts);
        let line = connections_summary(&workers);
        assert!(line.contains("accept pauses 7") && line.contains("write 1,"), "{line}");
        workers[0].bump_limit(Limit::RapidReset);
        workers[2].bump_limit(Limit::RapidReset);
        workers[2].bump_limit(Limit::QueuedOutput);
        assert_eq!(limit_total(&workers, Limit::RapidReset), 2);
        let line = limits_summary(&workers);
        assert!(line.starts_with("limits hit (connections): rapid_reset 2, reset_flood 0,"), "{line}");
        assert!(line.ends_with("queued_output 1"), "{line}");
    }
}
