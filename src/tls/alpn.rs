//! Choosing the application protocol, and refusing clients we cannot serve.
//!
//! RFC 7301 §3.2: "In the event that the server supports no protocols that
//! the client advertises, then the server SHALL respond with a fatal
//! `no_application_protocol` alert." rustls does that when the client's
//! ALPN list has no overlap with [`ServerConfig::alpn_protocols`] (after
//! its ServerHello, so under the handshake keys; RFC 8446 §6). But a
//! client that sends **no ALPN extension at all** is accepted by rustls
//! (0.23 has no option to refuse it; only QUIC connections are strict), and
//! the handshake completes with no protocol. Such a client predates ALPN
//! or does not care: it speaks HTTP/1.1 (RFC 7301 §3.2 lets the server
//! pick a default when the client offers nothing). So it gets HTTP/1.1,
//! unless `--no-http1`, when it would get HTTP/2 frames it cannot read and
//! is refused instead.
//!
//! So the server reads the ClientHello with [`rustls::server::Acceptor`]
//! before it commits to a connection. A refusal is the same alert as
//! rustls's, sent as a plaintext record: no keys exist yet before the
//! ServerHello (RFC 8446 §5, §6), and a TLS 1.3 server writes
//! `legacy_record_version` 0x0303 on every record (RFC 8446 §5.1).
//!
//! # How the session code uses this
//!
//! ```text
//! accepted socket ──► Acceptor::default()
//!   bytes arrive ──► acceptor.read_tls(&mut bytes) until every byte is taken
//!                    (one call may take fewer than offered: loop on the slice)
//!                ──► accept_client_hello(&mut acceptor, &config, http1)
//!                      NeedMore         → wait for more bytes (the handshake
//!                                         timeout keeps running)
//!                      Proceed(conn, p) → speak `p` on `conn`, which holds
//!                                         the bytes the acceptor read (do
//!                                         not feed them again) and has the
//!                                         server's first flight queued: call
//!                                         process_new_packets() once (records
//!                                         that came with the ClientHello are
//!                                         buffered but not yet processed),
//!                                         then send write_tls() output and go
//!                                         on as usual
//!                      Refuse{alert,…}  → send `alert` (may be empty), then
//!                                         close; never call accept again
//! ```
//!
//! [`ServerConfig::alpn_protocols`]: rustls::ServerConfig::alpn_protocols

use std::sync::Arc;

use rustls::server::{Acceptor, ClientHello};
use rustls::{ServerConfig, ServerConnection};

use super::{ALPN_H2, ALPN_HTTP11};

/// A fatal `no_application_protocol` alert in a plaintext TLS record:
/// content type alert (21 = 0x15), `legacy_record_version` 0x0303, length
/// 2, level fatal (2), description `no_application_protocol` (120 = 0x78).
/// RFC 8446 §5.1, §6; RFC 7301 §3.2.
pub const NO_APPLICATION_PROTOCOL_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x78];

/// Whether the ClientHello offers `h2` in its ALPN extension. `false` when
/// the extension is absent, and when it lists only other protocols.
pub fn client_offers_h2(hello: &ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ALPN_H2))
}

/// The protocol a TLS connection speaks once its handshake is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppProtocol {
    H2,
    /// `http/1.1` negotiated, or no ALPN extension at all.
    Http11,
}

/// Which protocol to speak with a client that offers `alpn` (`None`: no
/// extension), or `None` to refuse it. `h2` wins whenever it is offered;
/// `http/1.1` only when `http1` is allowed.
pub fn choose_protocol<'p>(alpn: Option<impl Iterator<Item = &'p [u8]>>, http1: bool) -> Option<AppProtocol> {
    let Some(offered) = alpn else { return http1.then_some(AppProtocol::Http11) };
    let mut h11 = false;
    for p in offered {
        if p == ALPN_H2 {
            return Some(AppProtocol::H2);
        }
        h11 |= p == ALPN_HTTP11;
    }
    (h11 && http1).then_some(AppProtocol::Http11)
}

/// What to do after feeding an [`Acceptor`] bytes: see the module docs.
#[derive(Debug)]
pub enum ClientHelloOutcome {
    /// The ClientHello is not complete yet: read more bytes into the
    /// acceptor, then call [`accept_client_hello`] again.
    NeedMore,
    /// The client offers TLS 1.3 and a protocol we speak: continue the
    /// handshake on this connection, which already holds every byte the
    /// acceptor read.
    Proceed(Box<ServerConnection>, AppProtocol),
    /// Send `alert` (a complete plaintext alert record; empty when there is
    /// nothing to send), then close the connection. `error` says why, for
    /// logging.
    Refuse { alert: Vec<u8>, error: rustls::Error },
}

/// Checks the ClientHello that `acceptor` has read so far and, if it
/// offers a protocol we speak ([`choose_protocol`]), turns it into a
/// [`ServerConnection`] on `config` (the one from
/// [`super::server_config`], built with the same `http1`).
///
/// Refuses with `no_application_protocol` when there is none (rustls
/// would refuse a list without ours too, one flight later; here it costs no
/// key exchange and keeps one path). Malformed or incompatible
/// ClientHellos (no TLS 1.3, no common cipher suite, ...) are refused with
/// the alert rustls chose.
///
/// Call again after [`ClientHelloOutcome::NeedMore`] only; after the other
/// two outcomes the acceptor is spent.
pub fn accept_client_hello(acceptor: &mut Acceptor, config: &Arc<ServerConfig>, http1: bool) -> ClientHelloOutcome {
    let accepted = match acceptor.accept() {
        Ok(None) => return ClientHelloOutcome::NeedMore,
        Ok(Some(accepted)) => accepted,
        Err((error, mut alert)) => {
            let mut bytes = Vec::new();
            // Writing into a Vec cannot fail.
            let _ = alert.write_all(&mut bytes);
            return ClientHelloOutcome::Refuse { alert: bytes, error };
        }
    };
    let Some(protocol) = choose_protocol(accepted.client_hello().alpn(), http1) else {
        return ClientHelloOutcome::Refuse {
            alert: NO_APPLICATION_PROTOCOL_ALERT.to_vec(),
            error: rustls::Error::NoApplicationProtocol,
        };
    };
    match accepted.into_connection(config.clone()) {
        Ok(conn) => ClientHelloOutcome::Proceed(Box::new(conn), protocol),
        Err((error, mut alert)) => {
            let mut bytes = Vec::new();
            let _ = alert.write_all(&mut bytes);
            ClientHelloOutcome::Refuse { alert: bytes, error }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(offered: Option<&[&[u8]]>, http1: bool) -> Option<AppProtocol> {
        choose_protocol(offered.map(|o| o.iter().copied()), http1)
    }

    #[test]
    fn h2_wins_whenever_offered() {
        assert_eq!(choose(Some(&[b"http/1.1", b"h2"]), true), Some(AppProtocol::H2));
        assert_eq!(choose(Some(&[b"h2"]), false), Some(AppProtocol::H2));
        assert_eq!(choose(Some(&[b"spdy/3", b"h2"]), false), Some(AppProtocol::H2));
    }

    #[test]
    fn http11_only_when_allowed() {
        assert_eq!(choose(Some(&[b"http/1.1"]), true), Some(AppProtocol::Http11));
        assert_eq!(choose(Some(&[b"http/1.1"]), false), None);
        assert_eq!(choose(Some(&[b"http/1.0", b"spdy/3"]), true), None);
        assert_eq!(choose(Some(&[]), true), None);
    }

    #[test]
    fn no_alpn_extension_means_http11_or_refusal() {
        assert_eq!(choose(None, true), Some(AppProtocol::Http11));
        assert_eq!(choose(None, false), None);
    }
}
