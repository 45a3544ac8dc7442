//! The Prometheus text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>):
//! `# HELP` and `# TYPE` before each family's samples, one
//! `name{label="value"} number` line per series, counters named `_total`.
//!
//! Pure: the figures come in as [`Scrape`], the text goes out as a
//! `String`, so every family is tested without a server.

use std::fmt::{Display, Write};

use crate::h2::conn::Limit;
use crate::runtime::BackendStats;
use crate::server::stats::{
    ClosedBy, Counter, LATENCY_BOUNDS_US, LatencySnapshot, Protocol, STATUS_CLASSES, WorkerStats, closed_total,
    limit_total, total,
};
use crate::tls::session_store::StoreStats;

/// The `content-type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Which backend the per-worker ring families describe; their names say
/// what each figure is in that backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    IoUring,
    Epoll,
}

impl BackendKind {
    /// The backend this binary was built with.
    pub const fn current() -> Self {
        if cfg!(feature = "epoll") { BackendKind::Epoll } else { BackendKind::IoUring }
    }

    fn as_str(self) -> &'static str {
        match self {
            BackendKind::IoUring => "io_uring",
            BackendKind::Epoll => "epoll",
        }
    }

    /// The per-worker families of this backend.
    fn families(self) -> &'static [RingFamily] {
        match self {
            BackendKind::IoUring => &[
                RingFamily {
                    name: "h2ring_uring_sqes_submitted_total",
                    help: "SQEs placed in the worker's submission queue.",
                    value: |b| b.submitted,
                },
                RingFamily {
                    name: "h2ring_uring_cqes_total",
                    help: "CQEs the worker reaped from its completion queue.",
                    value: |b| b.completed,
                },
                RingFamily {
                    name: "h2ring_uring_recv_buffer_exhausted_total",
                    help: "Multishot receives ended because the worker's provided-buffer ring was empty (ENOBUFS).",
                    value: |b| b.recv_buffers_exhausted,
                },
                RingFamily {
                    name: "h2ring_uring_short_sends_total",
                    help: "Sends that wrote part of their buffer and were resubmitted.",
                    value: |b| b.short_sends,
                },
            ],
            BackendKind::Epoll => &[
                RingFamily {
                    name: "h2ring_epoll_waits_total",
                    help: "epoll_wait calls of the worker.",
                    value: |b| b.submitted,
                },
                RingFamily {
                    name: "h2ring_epoll_events_total",
                    help: "Events the worker's epoll_wait calls returned.",
                    value: |b| b.completed,
                },
                RingFamily {
                    name: "h2ring_epoll_short_writes_total",
                    help: "Sends that wrote less than asked (socket buffer full).",
                    value: |b| b.short_sends,
                },
            ],
        }
    }
}

/// One family of the backend's counters, a series per worker.
struct RingFamily {
    name: &'static str,
    help: &'static str,
    /// Which [`BackendStats`] field it shows.
    value: fn(&BackendStats) -> u64,
}

/// What one scrape reads.
pub struct Scrape<'a> {
    /// One block per worker, indexed by worker number.
    pub workers: &'a [WorkerStats],
    pub backend: BackendKind,
    /// The shared TLS session store, when TLS is on.
    pub session_store: Option<StoreStats>,
}

/// The latency histogram's HELP: what is measured, exactly.
const LATENCY_HELP: &str = "Response time: from the worker's loop turn that received the request to the completion \
    of the send that carried the end of its response (responses that became ready together are timed from the \
    earliest of them; responses whose connection failed are not timed).";

/// The text for one scrape. Counters are summed over workers here, at
/// scrape time; the backend families keep one series per worker.
pub fn render(s: &Scrape<'_>) -> String {
    let mut out = Out(String::with_capacity(8 * 1024));
    let w = s.workers;

    out.family("h2ring_build_info", "gauge", "Always 1; the labels name the version and the I/O backend.");
    out.sample("h2ring_build_info", &[("version", env!("CARGO_PKG_VERSION")), ("backend", s.backend.as_str())], 1);
    out.single("h2ring_workers", "gauge", "Worker threads.", w.len());

    out.single("h2ring_connections_accepted_total", "counter", "Connections accepted.", total(w, Counter::Accepted));
    let open: u64 = w.iter().map(WorkerStats::open_connections).sum();
    out.single("h2ring_connections_open", "gauge", "Connections accepted and not yet closed.", open);
    out.family(
        "h2ring_connections_closed_total",
        "counter",
        "Connections closed, by reason: the peer closed or failed, TLS or protocol error, no ALPN protocol in common, each \
         timeout, finished in order (GOAWAY either way), or still open at the end of the shutdown grace period.",
    );
    for by in ClosedBy::ALL {
        out.sample("h2ring_connections_closed_total", &[("reason", by.as_str())], closed_total(w, by));
    }

    out.family(
        "h2ring_requests_total",
        "counter",
        "Responses queued, one per request (an HTTP/2 request is a stream), by protocol and status class; 425 \
         answers to early data included.",
    );
    for protocol in Protocol::ALL {
        for (class, name) in STATUS_CLASSES.iter().enumerate() {
            let n: u64 = w.iter().map(|x| x.responses(protocol, class)).sum();
            out.sample("h2ring_requests_total", &[("protocol", protocol.as_str()), ("status_class", name)], n);
        }
    }

    let bytes_in = total(w, Counter::BytesIn);
    let bytes_out = total(w, Counter::BytesOut);
    out.single("h2ring_received_bytes_total", "counter", "Bytes received from clients (TLS records or h2c).", bytes_in);
    out.single(
        "h2ring_sent_bytes_total",
        "counter",
        "Bytes sent to clients, counted when their send completed.",
        bytes_out,
    );

    out.family("h2ring_tls_handshakes_total", "counter", "TLS handshakes completed: full, or resumed from a ticket.");
    out.sample("h2ring_tls_handshakes_total", &[("kind", "full")], total(w, Counter::HandshakeFull));
    out.sample("h2ring_tls_handshakes_total", &[("kind", "resumed")], total(w, Counter::HandshakeResumed));

    let early = [
        (
            "h2ring_early_data_offered_total",
            "Resumed handshakes whose ClientHello offered 0-RTT early data.",
            Counter::EarlyOffered,
        ),
        ("h2ring_early_data_accepted_total", "Offered early data that was accepted.", Counter::EarlyAccepted),
        (
            "h2ring_early_data_rejected_total",
            "Offered early data that was refused (unknown or used ticket, 0-RTT off, another configuration).",
            Counter::EarlyRejected,
        ),
        ("h2ring_early_data_requests_served_total", "Requests answered from early data.", Counter::EarlyServed),
        (
            "h2ring_early_data_too_early_total",
            "Early requests refused with 425 Too Early (RFC 8470), retried by the client after the handshake.",
            Counter::TooEarly,
        ),
    ];
    for (name, help, counter) in early {
        out.single(name, "counter", help, total(w, counter));
    }

    out.family(
        "h2ring_limit_hits_total",
        "counter",
        "Connections whose client ran into each defence (counted once per connection and kind).",
    );
    for limit in Limit::ALL {
        out.sample("h2ring_limit_hits_total", &[("limit", limit.as_str())], limit_total(w, limit));
    }
    out.single(
        "h2ring_accept_backoffs_total",
        "counter",
        "Times accepting paused for lack of descriptors or memory (EMFILE, ENFILE, ENOMEM, ENOBUFS).",
        total(w, Counter::AcceptBackoffs),
    );
    out.single(
        "h2ring_accept_pauses_total",
        "counter",
        "Times accepting paused at the connection cap (--max-connections).",
        total(w, Counter::AcceptPauses),
    );

    // A family needs a sample, so none without workers (only in tests).
    let backend_families = if w.is_empty() { &[][..] } else { s.backend.families() };
    for family in backend_families {
        out.family(family.name, "counter", &format!("{} Per worker, updated once a second.", family.help));
        for (i, worker) in w.iter().enumerate() {
            out.sample(family.name, &[("worker", &i.to_string())], (family.value)(&worker.backend()));
        }
    }

    let mut latency = LatencySnapshot::default();
    for worker in w {
        worker.latency.add_to(&mut latency);
    }
    histogram(&mut out, "h2ring_request_duration_seconds", LATENCY_HELP, &latency);

    if let Some(store) = s.session_store {
        out.single("h2ring_tls_session_cache_sessions", "gauge", "TLS sessions held for resumption.", store.entries);
        out.single(
            "h2ring_tls_session_cache_operations_total",
            "counter",
            "Session store operations (store, look up, take).",
            store.operations,
        );
        out.single(
            "h2ring_tls_session_cache_lock_waits_total",
            "counter",
            "Session store operations that waited for a shard lock held by another worker.",
            store.contended,
        );
    }
    out.0
}

fn histogram(out: &mut Out, name: &str, help: &str, h: &LatencySnapshot) {
    out.family(name, "histogram", help);
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (i, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        let le = LATENCY_BOUNDS_US.get(i).map_or_else(|| "+Inf".to_string(), |&us| seconds(us));
        out.sample(&bucket, &[("le", &le)], cumulative);
    }
    out.sample(&format!("{name}_sum"), &[], seconds(h.sum_us));
    out.sample(&format!("{name}_count"), &[], h.count());
}

/// Microseconds as decimal seconds, exactly: 2500 → `0.0025`.
pub(crate) fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let text = format!("{whole}.{frac:06}");
    text.trim_end_matches('0').to_string()
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// A family of one series without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let v = v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.0, "{sep}{label}=\"{v}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}
