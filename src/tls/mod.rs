//! TLS set-up with rustls: certificates, the server configuration, and the
//! ALPN check that rustls leaves to us.
//!
//! - [`load_cert_and_key`] and [`ensure_dev_cert`] produce the server's
//!   [`CertifiedKey`] (from `--cert`/`--key`, or a self-signed development
//!   certificate).
//! - [`server_config`] builds the one [`ServerConfig`] all workers share:
//!   TLS 1.3 only, ALPN `h2` only, stateful session resumption.
//! - [`accept_client_hello`] (or, by hand, [`client_offers_h2`] and
//!   [`NO_APPLICATION_PROTOCOL_ALERT`]) refuses clients that do not offer
//!   `h2`, which rustls alone does not fully do; see [`alpn`].

pub mod alpn;
mod certs;
pub mod client_hello;
mod error;
pub mod session_store;
#[cfg(test)]
mod test_dir;

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub use alpn::{ClientHelloOutcome, NO_APPLICATION_PROTOCOL_ALERT, accept_client_hello, client_offers_h2};
pub use certs::{DEV_CERT_FILE, DEV_KEY_FILE, DEV_SANS, ensure_dev_cert, load_cert_and_key};
pub use error::TlsSetupError;
pub use session_store::ShardedSessionStore;

/// The only application protocol we negotiate (RFC 9113 §3.2: "h2" is HTTP/2
/// over TLS).
pub const ALPN_H2: &[u8] = b"h2";

/// Hands rustls the server's certificate for every handshake.
///
/// One certificate for every server name for now; it is a type of its own
/// so that a later change can swap the key (e.g. on SIGHUP) behind a lock
/// without touching the `ServerConfig` construction.
#[derive(Debug)]
pub struct CertResolver {
    key: Arc<CertifiedKey>,
}

impl CertResolver {
    pub fn new(key: Arc<CertifiedKey>) -> CertResolver {
        CertResolver { key }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.clone())
    }
}

/// The server configuration every worker shares (one `Arc`, so they share
/// the session store too: with `SO_REUSEPORT` a client's next connection
/// usually lands on another worker).
///
/// - Crypto: rustls' ring provider.
/// - Versions: TLS 1.3 only (RFC 8446). A client without TLS 1.3 gets a
///   `protocol_version` alert.
/// - ALPN: exactly `["h2"]`. A client whose ALPN list lacks `h2` gets
///   `no_application_protocol` from rustls (RFC 7301 §3.2); a client with no
///   ALPN extension at all must be refused by the caller, see [`alpn`].
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
    key: Arc<CertifiedKey>,
    session_cache_size: usize,
    early_data_max: u32,
) -> (Arc<ServerConfig>, Arc<ShardedSessionStore>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        // The ring provider always has TLS 1.3 cipher suites and key
        // exchange groups, the only things this checks.
        .expect("the ring provider supports TLS 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(CertResolver::new(key)));
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
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
