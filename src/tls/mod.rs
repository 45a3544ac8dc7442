//! TLS set-up with rustls: certificates, the server configuration, and the
//! ALPN check that rustls leaves to us.
//!
//! - [`load_cert_and_key`] and [`ensure_dev_cert`] produce the server's
//!   [`CertifiedKey`] (from `--cert`/`--key`, or a self-signed development
//!   certificate); [`CertReloader`] keeps it in the [`CertResolver`] every
//!   handshake asks and reloads it from the same files on SIGHUP, see
//!   [`reload`].
//! - [`server_config`] builds the one [`ServerConfig`] all workers share:
//!   TLS 1.3 only, ALPN `h2` then `http/1.1`, stateful session resumption.
//! - [`accept_client_hello`] (or, by hand, [`client_offers_h2`] and
//!   [`NO_APPLICATION_PROTOCOL_ALERT`]) picks the protocol, and refuses
//!   clients we cannot serve, which rustls alone does not fully do; see
//!   [`alpn`].

pub mod alpn;
mod cert_info;
mod certs;
pub mod client_hello;
mod error;
pub mod reload;
pub mod session_store;
#[cfg(test)]
mod test_dir;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::NoServerSessionStorage;
#[cfg(doc)]
use rustls::sign::CertifiedKey;

pub use alpn::{AppProtocol, ClientHelloOutcome, NO_APPLICATION_PROTOCOL_ALERT, accept_client_hello, client_offers_h2};
pub use cert_info::{CertInfo, CertTime};
pub use certs::{DEV_CERT_FILE, DEV_KEY_FILE, DEV_SANS, ensure_dev_cert, load_cert_and_key};
pub use error::TlsSetupError;
pub use reload::{CertReloaded, CertReloader, CertResolver};
pub use session_store::ShardedSessionStore;

/// HTTP/2 over TLS (RFC 9113 §3.2), always offered and preferred.
pub const ALPN_H2: &[u8] = b"h2";

/// HTTP/1.1 (RFC 7301 §6), offered after `h2` unless `--no-http1`.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The server configuration every worker shares (one `Arc`, so they share
/// the session store too: with `SO_REUSEPORT` a client's next connection
/// usually lands on another worker).
///
/// - Certificate: whatever `certs` holds when a handshake starts (it can be
///   swapped while the server runs, see [`CertReloader`]).
/// - Crypto: rustls' ring provider.
/// - Versions: TLS 1.3 only (RFC 8446). A client without TLS 1.3 gets a
///   `protocol_version` alert.
/// - ALPN: `["h2", "http/1.1"]`, or `["h2"]` without `http1`. rustls
///   picks the first of ours that the client offers, so `h2` wins whenever
///   the client speaks it. A client whose list has none of ours gets
///   `no_application_protocol` from rustls (RFC 7301 §3.2); a client with
///   no ALPN extension at all is the caller's to judge, see [`alpn`].
/// - Resumption: stateful, in a [`ShardedSessionStore`] of
///   `session_cache_size` entries, returned for its statistics; rustls
///   sends two NewSessionTicket messages after each handshake (RFC 8446
///   §4.6.1) whose identities are keys into that store, and `take`s the
///   entry when a client resumes, so every ticket works once.
///   `session_cache_size == 0` turns resumption off (and sends no tickets).
/// - 0-RTT: up to `early_data_max` bytes of early data from a resuming
///   client (0: none). rustls accepts early data only with stateful
///   resumption, and single-use tickets are the anti-replay of RFC 8446
///   §8.1 within this process. Responses to early requests may go before
///   the client's Finished (`send_half_rtt_data`), so a returning reader
///   gets the page in the first round trip.
pub fn server_config(
    certs: Arc<CertResolver>,
    session_cache_size: usize,
    early_data_max: u32,
    http1: bool,
) -> (Arc<ServerConfig>, Arc<ShardedSessionStore>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        // The ring provider always has TLS 1.3 cipher suites and key
        // exchange groups, the only things this checks.
        .expect("the ring provider supports TLS 1.3")
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    if http1 {
        config.alpn_protocols.push(ALPN_HTTP11.to_vec());
    }
    let store = Arc::new(ShardedSessionStore::new(session_cache_size));
    if session_cache_size == 0 {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    } else {
        config.session_storage = store.clone();
        config.max_early_data_size = early_data_max;
        config.send_half_rtt_data = early_data_max > 0;
    }
    (Arc::new(config), store)
}
