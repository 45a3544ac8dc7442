//! Counters kept per worker and summed only when read, so the hot path
//! never writes a cache line another core reads. Each worker's block is
//! aligned to its own cache lines; the increments are relaxed atomics only
//! so that another thread may read them (the metrics endpoint, and the
//! summary at exit). Only the owning worker writes its block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::h2::conn::Limit;
use crate::runtime::BackendStats;
use crate::server::session::CloseReason;

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
    /// Connections accepted (`Completion::Accepted`).
    pub accepted: AtomicU64,
    /// Connections closed, indexed by [`ClosedBy`].
    pub closed: [AtomicU64; ClosedBy::COUNT],
    /// Bytes received from clients (TLS records, or h2c plaintext).
    pub bytes_in: AtomicU64,
    /// Bytes whose send completed.
    pub bytes_out: AtomicU64,
    /// Responses queued, by [`Protocol`] and status class
    /// ([`STATUS_CLASSES`]).
    pub responses: [[AtomicU64; STATUS_CLASSES.len()]; Protocol::ALL.len()],
    /// Connections whose client ran into each protocol limit (indexed by
    /// [`Limit`]; a connection counts once per kind however often it hits it).
    pub limits: [AtomicU64; Limit::COUNT],
    /// The backend's counters, copied in once a second.
    pub backend: [AtomicU64; BackendStats::FIELDS],
    /// How long responses took ([`LatencyHistogram`]).
    pub latency: LatencyHistogram,
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
    Accepted,
    BytesIn,
    BytesOut,
}

/// The protocol a response went out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    H2,
    Http11,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::H2, Protocol::Http11];

    /// The ALPN name (RFC 7301), for the metrics' `protocol` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::H2 => "h2",
            Protocol::Http11 => "http/1.1",
        }
    }
}

/// The status classes responses are counted by (RFC 9110 §15), and
/// "other" for a code outside 100..=599.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => STATUS_CLASSES.len() - 1,
    }
}

/// Why a connection was closed, as the metrics count it: the session's
/// [`CloseReason`], or how the worker ended it when the session gave none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    PeerClosed,
    TlsError,
    /// The client offered no application protocol we speak (ALPN).
    NoProtocol,
    ProtocolError,
    HandshakeTimeout,
    HeaderTimeout,
    IdleTimeout,
    WriteTimeout,
    /// The protocol ended it in order: GOAWAY went either way and every
    /// stream finished (graceful shutdown included).
    Finished,
    /// Still open when the shutdown grace period ended.
    ShutdownDeadline,
}

impl ClosedBy {
    pub const COUNT: usize = 10;
    pub const ALL: [ClosedBy; Self::COUNT] = [
        ClosedBy::PeerClosed,
        ClosedBy::TlsError,
        ClosedBy::NoProtocol,
        ClosedBy::ProtocolError,
        ClosedBy::HandshakeTimeout,
        ClosedBy::HeaderTimeout,
        ClosedBy::IdleTimeout,
        ClosedBy::WriteTimeout,
        ClosedBy::Finished,
        ClosedBy::ShutdownDeadline,
    ];

    /// The session's reason first; without one, `forced` says the worker
    /// closed it at the end of the shutdown grace period.
    pub fn of(reason: Option<CloseReason>, forced: bool) -> ClosedBy {
        match reason {
            Some(CloseReason::PeerClosed) => ClosedBy::PeerClosed,
            Some(CloseReason::TlsError) => ClosedBy::TlsError,
            Some(CloseReason::NoProtocol) => ClosedBy::NoProtocol,
            Some(CloseReason::ProtocolError) => ClosedBy::ProtocolError,
            Some(CloseReason::HandshakeTimeout) => ClosedBy::HandshakeTimeout,
            Some(CloseReason::HeaderTimeout) => ClosedBy::HeaderTimeout,
            Some(CloseReason::Idle) => ClosedBy::IdleTimeout,
            Some(CloseReason::WriteTimeout) => ClosedBy::WriteTimeout,
            None if forced => ClosedBy::ShutdownDeadline,
            None => ClosedBy::Finished,
        }
    }

    /// The metrics' `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::PeerClosed => "peer_closed",
            ClosedBy::TlsError => "tls_error",
            ClosedBy::NoProtocol => "no_protocol",
            ClosedBy::ProtocolError => "protocol_error",
            ClosedBy::HandshakeTimeout => "handshake_timeout",
            ClosedBy::HeaderTimeout => "header_timeout",
            ClosedBy::IdleTimeout => "idle_timeout",
            ClosedBy::WriteTimeout => "write_timeout",
            ClosedBy::Finished => "finished",
            ClosedBy::ShutdownDeadline => "shutdown_deadline",
        }
    }
}

/// Only the owning worker writes a cell, so load + store is enough (no
/// locked read-modify-write on the hot path).
fn add(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
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
            Counter::Accepted => &self.accepted,
            Counter::BytesIn => &self.bytes_in,
            Counter::BytesOut => &self.bytes_out,
        }
    }

    pub fn bump(&self, c: Counter) {
        add(self.cell(c), 1);
    }

    pub fn add(&self, c: Counter, n: u64) {
        add(self.cell(c), n);
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
        add(&self.limits[limit as usize], 1);
    }

    pub fn limit(&self, limit: Limit) -> u64 {
        self.limits[limit as usize].load(Ordering::Relaxed)
    }

    /// A response was queued (every one: h2 and HTTP/1.1, 425 included).
    pub fn record_response(&self, protocol: Protocol, status: u16) {
        add(&self.responses[protocol as usize][status_class(status)], 1);
    }

    /// Responses queued on `protocol` in the class `STATUS_CLASSES[class]`.
    pub fn responses(&self, protocol: Protocol, class: usize) -> u64 {
        self.responses[protocol as usize].get(class).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn record_close(&self, by: ClosedBy) {
        add(&self.closed[by as usize], 1);
    }

    pub fn closed(&self, by: ClosedBy) -> u64 {
        self.closed[by as usize].load(Ordering::Relaxed)
    }

    /// Connections accepted and not yet closed.
    pub fn open_connections(&self) -> u64 {
        let closed: u64 = ClosedBy::ALL.iter().map(|&by| self.closed(by)).sum();
        self.get(Counter::Accepted).saturating_sub(closed)
    }

    /// Copies the backend's counters in (they are plain numbers in the
    /// backend, which only its worker may touch).
    pub fn set_backend(&self, stats: &BackendStats) {
        for (cell, value) in self.backend.iter().zip(stats.to_array()) {
            cell.store(value, Ordering::Relaxed);
        }
    }

    pub fn backend(&self) -> BackendStats {
        BackendStats::from_array(std::array::from_fn(|i| self.backend[i].load(Ordering::Relaxed)))
    }
}

/// Upper bounds of the latency buckets in microseconds: 100 µs to 10 s in
/// 1-2.5-5 steps; slower responses go to the last (`+Inf`) bucket.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// Response times, Prometheus-style: a count per bucket (not cumulative:
/// one store per observation) and the sum in microseconds (58 years of
/// responses at 10 ms each and a million a second before it wraps).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // Bucket `i` holds (bound[i-1], bound[i]]: Prometheus's `le`.
        let i = LATENCY_BOUNDS_US.partition_point(|&bound| bound < us);
        add(&self.buckets[i], 1);
        add(&self.sum_us, us);
    }

    /// Adds this histogram's counts to `into` (summing over workers).
    pub fn add_to(&self, into: &mut LatencySnapshot) {
        for (total, cell) in into.buckets.iter_mut().zip(&self.buckets) {
            *total += cell.load(Ordering::Relaxed);
        }
        into.sum_us += self.sum_us.load(Ordering::Relaxed);
    }
}

/// A histogram read out: per-bucket counts (the last one `+Inf`) and the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    pub buckets: [u64; LATENCY_BOUNDS_US.len() + 1],
    pub sum_us: u64,
}

impl LatencySnapshot {
    /// The number of observations: the sum of the buckets, so it always
    /// equals the cumulative `+Inf` bucket, even while a worker writes.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
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

/// The sum over workers of connections closed `by`.
pub fn closed_total(workers: &[WorkerStats], by: ClosedBy) -> u64 {
    workers.iter().map(|w| w.closed(by)).sum()
}

/// The counters as one line (printed at exit next to the metrics
/// endpoint's figures); tests read it, so keep each figure as `name number`.
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
    let closed = |by| closed_total(workers, by);
    format!(
        "connections: accept backoffs {}, accept pauses {}; closed by timeout: handshake {}, header {}, write {}, idle {}",
        t(Counter::AcceptBackoffs),
        t(Counter::AcceptPauses),
        closed(ClosedBy::HandshakeTimeout),
        closed(ClosedBy::HeaderTimeout),
        closed(ClosedBy::WriteTimeout),
        closed(ClosedBy::IdleTimeout),
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
        workers[0].record_close(ClosedBy::of(Some(CloseReason::WriteTimeout), false));
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

    #[test]
    fn responses_are_counted_by_protocol_and_class() {
        let w = WorkerStats::default();
        for status in [200, 204, 304, 404, 425, 503, 101, 999] {
            w.record_response(Protocol::H2, status);
        }
        w.record_response(Protocol::Http11, 200);
        let h2: Vec<u64> = (0..STATUS_CLASSES.len()).map(|c| w.responses(Protocol::H2, c)).collect();
        assert_eq!(h2, [1, 2, 1, 2, 1, 1]);
        assert_eq!(w.responses(Protocol::Http11, 1), 1);
        assert_eq!(w.responses(Protocol::Http11, 99), 0, "an unknown class reads 0");
    }

    #[test]
    fn open_connections_are_accepted_minus_closed() {
        let w = WorkerStats::default();
        w.add(Counter::Accepted, 5);
        w.record_close(ClosedBy::of(None, false));
        w.record_close(ClosedBy::of(None, true));
        w.record_close(ClosedBy::of(Some(CloseReason::Idle), true));
        assert_eq!(w.open_connections(), 2);
        assert_eq!(w.closed(ClosedBy::Finished), 1);
        assert_eq!(w.closed(ClosedBy::ShutdownDeadline), 1);
        assert_eq!(w.closed(ClosedBy::IdleTimeout), 1, "the session's reason comes first");
    }

    #[test]
    fn latency_buckets_follow_le_and_sum_up() {
        let h = LatencyHistogram::default();
        for us in [0, 100, 101, 999_999, 10_000_000, 10_000_001] {
            h.observe(Duration::from_micros(us));
        }
        h.observe(Duration::MAX);
        let mut s = LatencySnapshot::default();
        h.add_to(&mut s);
        h.add_to(&mut s);
        assert_eq!(s.count(), 14);
        assert_eq!(s.buckets[0], 4, "0 and 100 µs are <= 100 µs, twice");
        assert_eq!(s.buckets[1], 2, "101 µs is <= 250 µs");
        assert_eq!(s.buckets[12], 2, "999,999 µs is <= 1 s");
        assert_eq!(s.buckets[15], 2, "10 s is <= 10 s");
        assert_eq!(s.buckets[16], 4, "past 10 s: +Inf");
        let w = WorkerStats::default();
        let b = BackendStats { submitted: 1, completed: 2, recv_buffers_exhausted: 3, short_sends: 4 };
        w.set_backend(&b);
        assert_eq!(w.backend(), b);
    }
}
