//! The application protocol a session speaks above its transport: HTTP/2
//! (ALPN `h2`, or h2c with prior knowledge), HTTP/1.1 (ALPN `http/1.1`,
//! or a TLS client without ALPN), or the HTTP/1.1 of the redirect
//! listener. One small enum, so the session's timeouts, shutdown and
//! output handling stay one piece of code for all of them.

use crate::h1;
use crate::h2::conn::{Connection, Limit};
use crate::h2::error::ErrorCode;

/// HTTP/1.1 on one connection.
pub(super) struct H1Session {
    pub conn: h1::Connection,
    /// A `--redirect-listen` connection: every request gets a 308.
    pub redirect: bool,
}

// HTTP/2 is the common case: kept inline, so a connection costs no extra
// allocation; `Pending` lasts only until the ClientHello is read.
#[allow(clippy::large_enum_variant)]
pub(super) enum AppConn {
    /// A TLS connection before its ClientHello is read: ALPN decides.
    Pending,
    H2(Connection),
    /// Boxed: most connections speak HTTP/2, and the enum is as large as
    /// its largest variant.
    H1(Box<H1Session>),
}

impl AppConn {
    pub fn h1(cfg: &h1::H1Config, redirect: bool) -> Self {
        Self::H1(Box::new(H1Session { conn: h1::Connection::new(cfg.clone()), redirect }))
    }

    /// Part of a frame, header block or request head has arrived and the
    /// rest has not (what the header timeout measures).
    pub fn has_partial_input(&self) -> bool {
        match self {
            Self::Pending => false,
            Self::H2(h2) => h2.has_partial_input(),
            Self::H1(h1) => h1.conn.has_partial_input(),
        }
    }

    /// HTTP/2 owes its preface and SETTINGS before anything else; the
    /// header timeout covers that wait too. HTTP/1.1 owes nothing.
    pub fn is_established(&self) -> bool {
        match self {
            Self::Pending => false,
            Self::H2(h2) => h2.is_established(),
            Self::H1(_) => true,
        }
    }

    pub fn has_output(&self) -> bool {
        match self {
            Self::Pending => false,
            Self::H2(h2) => h2.has_output(),
            Self::H1(h1) => h1.conn.has_output(),
        }
    }

    pub fn write_output(&mut self, dst: &mut [u8]) -> usize {
        match self {
            Self::Pending => 0,
            Self::H2(h2) => h2.write_output(dst),
            Self::H1(h1) => h1.conn.write_output(dst),
        }
    }

    /// Appends output to `out` until it holds `limit` bytes (plaintext
    /// transports: the send buffer itself, never zeroed first).
    pub fn append_output(&mut self, out: &mut Vec<u8>, limit: usize) -> usize {
        match self {
            Self::Pending => 0,
            Self::H2(h2) => h2.append_output(out, limit),
            Self::H1(h1) => h1.conn.append_output(out, limit),
        }
    }

    /// The protocol has said its last (GOAWAY exchanged, or HTTP/1.1 done
    /// with `connection: close`): close once output is out.
    pub fn is_closed(&self) -> bool {
        match self {
            Self::Pending => false,
            Self::H2(h2) => h2.is_closed(),
            Self::H1(h1) => h1.conn.wants_close(),
        }
    }

    /// Graceful shutdown: GOAWAY (RFC 9113 §6.8), or no further request
    /// on HTTP/1.1 (RFC 9112 §9.6).
    pub fn shutdown(&mut self) {
        match self {
            Self::Pending => {}
            Self::H2(h2) => h2.shutdown(),
            Self::H1(h1) => h1.conn.shutdown(),
        }
    }

    /// One second passed: refills HTTP/2's flood budgets.
    pub fn tick(&mut self) {
        if let Self::H2(h2) = self {
            h2.tick();
        }
    }

    pub fn take_new_limit_hit(&mut self) -> Option<Limit> {
        match self {
            Self::H2(h2) => h2.take_new_limit_hit(),
            _ => None,
        }
    }

    /// Response body waits only for the peer's flow-control windows
    /// (HTTP/2 only: HTTP/1.1 has no windows above TCP's).
    pub fn send_blocked_on_peer_window(&self) -> bool {
        match self {
            Self::H2(h2) => h2.active_streams() > 0 && h2.send_blocked_on_peer_window(),
            _ => false,
        }
    }

    /// Nothing in progress: what the idle timeout measures.
    pub fn is_idle(&self) -> bool {
        match self {
            Self::Pending => true,
            Self::H2(h2) => h2.active_streams() == 0 && !h2.has_output(),
            Self::H1(h1) => h1.conn.is_idle(),
        }
    }

    /// A request, frame or preface did not complete within the header
    /// timeout: HTTP/2 says GOAWAY, HTTP/1.1 answers 408 (RFC 9110
    /// §15.5.9) if a head was partly read.
    pub fn header_timeout(&mut self) {
        match self {
            Self::Pending => {}
            Self::H2(h2) => h2.abort(ErrorCode::NoError, "header read timeout"),
            Self::H1(h1) => h1.conn.request_timeout(),
        }
    }

    /// Output held back by the peer's windows for the write timeout.
    pub fn write_timeout(&mut self) {
        match self {
            Self::Pending => {}
            Self::H2(h2) => h2.abort(ErrorCode::NoError, "write timeout"),
            Self::H1(h1) => h1.conn.shutdown(),
        }
    }
}
