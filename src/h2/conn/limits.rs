//! Flood defences: per-tick budgets (token buckets) for the frames a client
//! can send that make us work without serving anything, and the counters
//! of every limit a client ran into.
//!
//! The core has no clock. The caller calls [`Connection::tick`] once a
//! second; each tick adds `per_tick` tokens to every budget, up to `burst`.
//! A connection starts with full budgets. A frame that finds its budget
//! empty ends the connection with GOAWAY ENHANCE_YOUR_CALM (RFC 9113 §5.4.1,
//! §7: "the endpoint is detecting behavior that might be generating
//! excessive load").
//!
//! | budget | spent by | CVE |
//! |---|---|---|
//! | resets | every RST_STREAM from the client, every stream we reset because of its frames (stream errors, REFUSED_STREAM, 431) | 2023-44487 Rapid Reset, 2025-8671 MadeYouReset, 2019-9514 reset flood |
//! | pings | every PING (ACK or not) | 2019-9512 |
//! | settings | every SETTINGS (ACK or not) | 2019-9515 |
//! | priority | every PRIORITY frame | 2019-9513 |
//! | empty | DATA without payload or END_STREAM; HEADERS/CONTINUATION with an empty fragment and no END_HEADERS | 2019-9518 |
//! | continuation | every CONTINUATION frame | 2024-27316 and siblings |

use super::Connection;
use crate::h2::error::{ErrorCode, H2Error};

/// A per-tick budget: a connection starts with `burst` tokens, each counted
/// frame takes one, and every [`Connection::tick`] adds `per_tick` back (never
/// above `burst`). So a client may send `burst` such frames at once and
/// `per_tick` per tick for ever, and never trips the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub per_tick: u32,
    pub burst: u32,
}

impl RateLimit {
    pub const fn new(per_tick: u32, burst: u32) -> Self {
        Self { per_tick, burst }
    }

    /// Never trips (`burst` of `u32::MAX`).
    pub const UNLIMITED: Self = Self { per_tick: u32::MAX, burst: u32::MAX };
}

/// Which budget a frame spends from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Budget {
    Resets,
    Pings,
    Settings,
    Priority,
    Empty,
    Continuation,
}

const BUDGETS: usize = 6;

/// A token bucket; no clock, refilled by `refill` (one tick).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u32,
    limit: RateLimit,
}

impl Bucket {
    const fn new(limit: RateLimit) -> Self {
        Self { tokens: limit.burst, limit }
    }

    #[inline]
    fn take(&mut self) -> bool {
        if self.limit.burst == u32::MAX {
            return true;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    #[inline]
    fn refill(&mut self) {
        self.tokens = self.tokens.saturating_add(self.limit.per_tick).min(self.limit.burst);
    }
}

/// The budgets of one connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budgets([Bucket; BUDGETS]);

impl Budgets {
    pub(super) fn new(cfg: &super::ConnConfig) -> Self {
        // In the order of `Budget`.
        Self([
            Bucket::new(cfg.reset_limit),
            Bucket::new(cfg.ping_limit),
            Bucket::new(cfg.settings_limit),
            Bucket::new(cfg.priority_limit),
            Bucket::new(cfg.empty_frame_limit),
            Bucket::new(cfg.continuation_limit),
        ])
    }
}

/// A limit a client ran into. Those marked *fatal* end the connection with
/// GOAWAY ENHANCE_YOUR_CALM; the others answer one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// Fatal. The client reset more streams than the reset budget allows
    /// (CVE-2023-44487, Rapid Reset).
    RapidReset,
    /// Fatal. The client made us reset more streams than the reset budget
    /// allows: malformed requests, frames on closed streams, flow-control
    /// violations, streams past the concurrency limit (CVE-2025-8671
    /// MadeYouReset, CVE-2019-9514 reset flood).
    ResetFlood,
    /// Fatal. More CONTINUATION frames than `max_continuation_frames` in one
    /// block, or than the per-tick budget (CVE-2024-27316).
    ContinuationFlood,
    /// Fatal. One header block larger, before decoding, than twice
    /// SETTINGS_MAX_HEADER_LIST_SIZE (CVE-2024-27316 and siblings).
    HeaderBlockTooLarge,
    /// A decoded header list over SETTINGS_MAX_HEADER_LIST_SIZE or
    /// `max_header_count`: that request is answered 431 (CVE-2016-6581
    /// HPACK bomb, CVE-2019-9516 0-length headers leak).
    HeaderListTooLarge,
    /// A stream past SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM (§5.1.2).
    ConcurrentStreams,
    /// Fatal. Too many frames without payload that do not end anything
    /// (CVE-2019-9518).
    EmptyFrames,
    /// Fatal. Too many PINGs (CVE-2019-9512).
    PingFlood,
    /// Fatal. Too many SETTINGS (CVE-2019-9515).
    SettingsFlood,
    /// Fatal. Too many PRIORITY frames (CVE-2019-9513).
    PriorityFlood,
    /// Fatal. Our replies (ACKs, RST_STREAM, HEADERS) pile up unread beyond
    /// `max_queued_output` (CVE-2019-9512, 9514, 9515).
    QueuedOutput,
}

impl Limit {
    pub const COUNT: usize = 11;

    pub const ALL: [Limit; Self::COUNT] = [
        Self::RapidReset,
        Self::ResetFlood,
        Self::ContinuationFlood,
        Self::HeaderBlockTooLarge,
        Self::HeaderListTooLarge,
        Self::ConcurrentStreams,
        Self::EmptyFrames,
        Self::PingFlood,
        Self::SettingsFlood,
        Self::PriorityFlood,
        Self::QueuedOutput,
    ];

    /// A stable snake_case name, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RapidReset => "rapid_reset",
            Self::ResetFlood => "reset_flood",
            Self::ContinuationFlood => "continuation_flood",
            Self::HeaderBlockTooLarge => "header_block_too_large",
            Self::HeaderListTooLarge => "header_list_too_large",
            Self::ConcurrentStreams => "concurrent_streams",
            Self::EmptyFrames => "empty_frames",
            Self::PingFlood => "ping_flood",
            Self::SettingsFlood => "settings_flood",
            Self::PriorityFlood => "priority_flood",
            Self::QueuedOutput => "queued_output",
        }
    }

    /// Whether running into it ends the connection (GOAWAY ENHANCE_YOUR_CALM).
    pub const fn is_fatal(self) -> bool {
        !matches!(self, Self::HeaderListTooLarge | Self::ConcurrentStreams)
    }

    /// The GOAWAY debug data of a fatal limit.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::RapidReset => "too many streams reset by the client",
            Self::ResetFlood => "too many streams reset for the client's errors",
            Self::ContinuationFlood => "too many CONTINUATION frames",
            Self::HeaderBlockTooLarge => "header block too large",
            Self::HeaderListTooLarge => "header list too large",
            Self::ConcurrentStreams => "too many concurrent streams",
            Self::EmptyFrames => "too many empty frames",
            Self::PingFlood => "too many PING frames",
            Self::SettingsFlood => "too many SETTINGS frames",
            Self::PriorityFlood => "too many PRIORITY frames",
            Self::QueuedOutput => "client does not read our replies",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many times a connection ran into each [`Limit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitHits {
    counts: [u32; Limit::COUNT],
}

impl LimitHits {
    pub fn get(&self, limit: Limit) -> u32 {
        self.counts[limit as usize]
    }

    /// Every limit with its count, zeros included, in [`Limit::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Limit, u32)> + '_ {
        Limit::ALL.iter().map(|&l| (l, self.get(l)))
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&n| u64::from(n)).sum()
    }
}

/// What the connection remembers about the limits its client ran into.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LimitLog {
    hits: LimitHits,
    first: Option<Limit>,
    /// Limits hit at least once, and those already handed out by
    /// `take_new_limit_hit`.
    seen: u16,
    reported: u16,
}

impl Connection {
    /// One tick of the caller's clock: refills every per-tick budget
    /// ([`RateLimit`]). Call it once a second (the worker's timeout sweep
    /// does); the defaults are per second. Without ticks a connection gets
    /// each budget's `burst` for its whole life.
    pub fn tick(&mut self) {
        for b in &mut self.budgets.0 {
            b.refill();
        }
    }

    /// How often this connection's client ran into each limit.
    pub fn limit_hits(&self) -> &LimitHits {
        &self.limits.hits
    }

    /// The first limit this connection's client ran into.
    pub fn first_limit_hit(&self) -> Option<Limit> {
        self.limits.first
    }

    /// A limit hit since the last call that was never returned before: each
    /// [`Limit`] comes out at most once per connection, so a caller that logs
    /// `while let Some(l) = conn.take_new_limit_hit()` after each `recv` logs
    /// every kind of abuse once, however often it is repeated.
    pub fn take_new_limit_hit(&mut self) -> Option<Limit> {
        let new = self.limits.seen & !self.limits.reported;
        if new == 0 {
            return None;
        }
        let limit = Limit::ALL[new.trailing_zeros() as usize];
        self.limits.reported |= limit.bit();
        Some(limit)
    }

    /// Counts a hit of `limit`.
    pub(super) fn hit(&mut self, limit: Limit) {
        let log = &mut self.limits;
        let n = &mut log.hits.counts[limit as usize];
        *n = n.saturating_add(1);
        log.first.get_or_insert(limit);
        log.seen |= limit.bit();
    }

    /// Counts a hit of a fatal `limit` and returns its connection error.
    pub(super) fn calm(&mut self, limit: Limit) -> H2Error {
        self.hit(limit);
        H2Error::connection(ErrorCode::EnhanceYourCalm, limit.reason())
    }

    /// Takes one token from `budget`; when it is empty, the client ran into
    /// `limit` (a connection error).
    #[inline]
    pub(super) fn spend(&mut self, budget: Budget, limit: Limit) -> Result<(), H2Error> {
        if self.budgets.0[budget as usize].take() { Ok(()) } else { Err(self.calm(limit)) }
    }
}

// The `seen` and `reported` bit sets of `LimitLog` are u16.
const _: () = assert!(Limit::COUNT <= 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_up_to_burst() {
        let mut b = Bucket::new(RateLimit::new(2, 3));
        assert!(b.take() && b.take() && b.take());
        assert!(!b.take());
        b.refill();
        assert!(b.take() && b.take());
        assert!(!b.take());
        for _ in 0..10 {
            b.refill();
        }
        assert_eq!(b.tokens, 3);
        let mut u = Bucket::new(RateLimit::UNLIMITED);
        for _ in 0..1000 {
            assert!(u.take());
        }
        let mut zero = Bucket::new(RateLimit::new(0, 0));
        zero.refill();
        assert!(!zero.take());
    }

    #[test]
    fn limits_are_numbered_in_order() {
        for (i, l) in Limit::ALL.iter().enumerate() {
            assert_eq!(*l as usize, i);
        }
    }
}
