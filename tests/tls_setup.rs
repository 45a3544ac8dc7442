//! The TLS set-up end to end, in memory: a rustls client (ring provider,
//! trusting the development certificate) against `tls::server_config`,
//! bytes moved by hand between `ClientConnection` and `ServerConnection`
//! (or the `Acceptor` path the session code uses).
//!
//! The TLS 1.2-only client is a ClientHello typed in from RFC 5246 §7.4.1.2,
//! since this build of rustls has no TLS 1.2 at all (no `tls12` feature).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use h2ring::tls::{self, ClientHelloOutcome, NO_APPLICATION_PROTOCOL_ALERT};
use rustls::client::ClientConnection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::{Acceptor, ServerConnection};
use rustls::{AlertDescription, ClientConfig, HandshakeKind, ProtocolVersion, RootCertStore, ServerConfig};

struct TestDir(PathBuf);

impl TestDir {
    fn new(label: &str) -> TestDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("h2ring-tls-it-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server configuration on a fresh development certificate, and the
/// certificate for the client to trust; HTTP/2 only (`--no-http1`).
fn server(session_cache_size: usize) -> (Arc<ServerConfig>, CertificateDer<'static>, TestDir) {
    server_with(session_cache_size, false)
}

fn server_with(session_cache_size: usize, http1: bool) -> (Arc<ServerConfig>, CertificateDer<'static>, TestDir) {
    let dir = TestDir::new("server");
    let (cert, key) = tls::ensure_dev_cert(dir.path()).unwrap();
    let certified = tls::load_cert_and_key(&cert, &key).unwrap();
    let trusted = CertificateDer::from_pem_file(&cert).unwrap();
    let resolver = Arc::new(tls::CertResolver::new(certified));
    (tls::server_config(resolver, session_cache_size, 0, http1).0, trusted, dir)
}

fn client_config(trusted: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(trusted.clone()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn client(config: &Arc<ClientConfig>, name: &str) -> ClientConnection {
    ClientConnection::new(config.clone(), ServerName::try_from(name.to_string()).unwrap()).unwrap()
}

fn take_output(conn: &mut rustls::ConnectionCommon<impl rustls::SideData>) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// Feeds `bytes` in and processes them; the first error is returned (the
/// connection then has its alert queued, as on a socket).
fn feed(conn: &mut rustls::ConnectionCommon<impl rustls::SideData>, mut bytes: &[u8]) -> Result<(), rustls::Error> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes).unwrap();
        conn.process_new_packets()?;
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Outcome {
    client_error: Option<rustls::Error>,
    server_error: Option<rustls::Error>,
}

/// Moves bytes both ways until neither side has anything to send.
fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> Outcome {
    let mut outcome = Outcome::default();
    loop {
        let to_server = take_output(client);
        if !to_server.is_empty() && outcome.server_error.is_none() {
            outcome.server_error = feed(server, &to_server).err();
        }
        let to_client = take_output(server);
        if !to_client.is_empty() && outcome.client_error.is_none() {
            outcome.client_error = feed(client, &to_client).err();
        }
        if to_server.is_empty() && to_client.is_empty() {
            return outcome;
        }
    }
}

fn assert_h2_tls13(client: &ClientConnection, server: &ServerConnection) {
    assert!(!client.is_handshaking() && !server.is_handshaking());
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(server.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
}

fn exchange_data(client: &mut ClientConnection, server: &mut ServerConnection) {
    client.writer().write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    let outcome = pump(client, server);
    assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{outcome:?}");
    let mut got = [0u8; 24];
    server.reader().read_exact(&mut got).unwrap();
    assert_eq!(&got, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
}

#[test]
fn tls13_with_alpn_h2_for_every_dev_cert_name() {
    let (config, trusted, _dir) = server(64);
    for name in ["localhost", "127.0.0.1", "::1"] {
        let mut c = client(&client_config(&trusted, &[b"h2"]), name);
        let mut s = ServerConnection::new(config.clone()).unwrap();
        let outcome = pump(&mut c, &mut s);
        assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{name}: {outcome:?}");
        assert_h2_tls13(&c, &s);
        exchange_data(&mut c, &mut s);
    }
}

#[test]
fn h2_is_chosen_from_a_longer_list() {
    let (config, trusted, _dir) = server(64);
    let mut c = client(&client_config(&trusted, &[b"http/1.1", b"h2"]), "localhost");
    let mut s = ServerConnection::new(config).unwrap();
    let outcome = pump(&mut c, &mut s);
    assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{outcome:?}");
    assert_h2_tls13(&c, &s);
}

#[test]
fn sessions_resume_from_the_cache() {
    let (config, trusted, _dir) = server(64);
    let client_config = client_config(&trusted, &[b"h2"]);
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let mut c = client(&client_config, "localhost");
        let mut s = ServerConnection::new(config.clone()).unwrap();
        // The NewSessionTicket messages follow the handshake (RFC 8446
        // §4.6.1): pump until quiet, so the client stores them.
        let outcome = pump(&mut c, &mut s);
        assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{outcome:?}");
        assert_h2_tls13(&c, &s);
        kinds.push(s.handshake_kind());
    }
    assert_eq!(kinds, [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)]);

    // A zero-sized cache turns resumption off.
    let (config, trusted, _dir) = server(0);
    assert_eq!(config.send_tls13_tickets, 0);
    let client_config = self::client_config(&trusted, &[b"h2"]);
    for _ in 0..2 {
        let mut c = client(&client_config, "localhost");
        let mut s = ServerConnection::new(config.clone()).unwrap();
        pump(&mut c, &mut s);
        assert_eq!(s.handshake_kind(), Some(HandshakeKind::Full));
    }
}

#[test]
fn server_config_is_tls13_only_with_alpn_h2() {
    let (config, _, _dir) = server(8);
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    assert!(config.crypto_provider().cipher_suites.iter().any(|s| s.version() == &rustls::version::TLS13));
    assert!(config.session_storage.can_cache());
    assert_eq!(config.max_early_data_size, 0, "0-RTT is a later issue's decision");
}

#[test]
fn client_offering_only_http11_gets_no_application_protocol() {
    let (config, trusted, _dir) = server(8);
    let client_config = client_config(&trusted, &[b"http/1.1"]);

    // rustls alone refuses this case (RFC 7301 §3.2), after its ServerHello,
    // so the alert is encrypted under the handshake keys (RFC 8446 §6)...
    let mut c = client(&client_config, "localhost");
    let mut s = ServerConnection::new(config.clone()).unwrap();
    let outcome = pump(&mut c, &mut s);
    assert_eq!(outcome.server_error, Some(rustls::Error::NoApplicationProtocol));
    assert_eq!(outcome.client_error, Some(rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)));

    // ...and so does the Acceptor path, before any ServerHello, in plaintext.
    let mut c = client(&client_config, "localhost");
    match accept(&take_output(&mut c), &config) {
        ClientHelloOutcome::Refuse { alert, error } => {
            assert_eq!(alert, NO_APPLICATION_PROTOCOL_ALERT);
            assert_eq!(error, rustls::Error::NoApplicationProtocol);
            assert_eq!(
                feed(&mut c, &alert),
                Err(rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol))
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn client_without_alpn_is_refused_through_the_acceptor() {
    let (config, trusted, _dir) = server(8);
    let client_config = client_config(&trusted, &[]);

    // The gap: a bare ServerConnection completes the handshake with no
    // application protocol at all.
    let mut c = client(&client_config, "localhost");
    let mut s = ServerConnection::new(config.clone()).unwrap();
    let outcome = pump(&mut c, &mut s);
    assert!(outcome.server_error.is_none());
    assert_eq!(s.alpn_protocol(), None);

    // The Acceptor path closes it with no_application_protocol.
    let mut c = client(&client_config, "localhost");
    let hello = take_output(&mut c);
    let mut acceptor = Acceptor::default();
    acceptor.read_tls(&mut &hello[..]).unwrap();
    let accepted = acceptor.accept().unwrap().expect("a whole ClientHello");
    assert!(!tls::client_offers_h2(&accepted.client_hello()));
    match accept(&hello, &config) {
        ClientHelloOutcome::Refuse { alert, error } => {
            assert_eq!(alert, NO_APPLICATION_PROTOCOL_ALERT);
            assert_eq!(error, rustls::Error::NoApplicationProtocol);
            assert_eq!(
                feed(&mut c, &alert),
                Err(rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol))
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Feeds a whole first flight to a fresh acceptor of an HTTP/2-only server.
fn accept(bytes: &[u8], config: &Arc<ServerConfig>) -> ClientHelloOutcome {
    accept_with(bytes, config, false)
}

fn accept_with(bytes: &[u8], config: &Arc<ServerConfig>, http1: bool) -> ClientHelloOutcome {
    let mut acceptor = Acceptor::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        acceptor.read_tls(&mut rest).unwrap();
    }
    tls::accept_client_hello(&mut acceptor, config, http1)
}

/// With HTTP/1.1 allowed, a client without ALPN, or with only
/// `http/1.1`, proceeds as HTTP/1.1; one that also offers `h2` gets h2.
#[test]
fn http11_clients_proceed_when_allowed() {
    let (config, trusted, _dir) = server_with(8, true);
    for (alpn, want, negotiated) in [
        (&[][..], tls::AppProtocol::Http11, None),
        (&[&b"http/1.1"[..]][..], tls::AppProtocol::Http11, Some(&b"http/1.1"[..])),
        (&[&b"http/1.1"[..], b"h2"][..], tls::AppProtocol::H2, Some(&b"h2"[..])),
    ] {
        let mut c = client(&client_config(&trusted, alpn), "localhost");
        let hello = take_output(&mut c);
        let ClientHelloOutcome::Proceed(mut s, protocol) = accept_with(&hello, &config, true) else {
            panic!("{alpn:?} must proceed")
        };
        assert_eq!(protocol, want, "{alpn:?}");
        s.process_new_packets().unwrap();
        let first_flight = take_output(&mut s);
        feed(&mut c, &first_flight).unwrap();
        let outcome = pump(&mut c, &mut s);
        assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{outcome:?}");
        assert_eq!(s.alpn_protocol(), negotiated, "rustls agrees with the choice for {alpn:?}");
    }
}

#[test]
fn h2_client_through_the_acceptor_byte_by_byte() {
    let (config, trusted, _dir) = server(8);
    let mut c = client(&client_config(&trusted, &[b"h2"]), "localhost");
    let hello = take_output(&mut c);
    assert!(hello.len() > 100);

    let mut acceptor = Acceptor::default();
    let mut outcome = None;
    for (i, byte) in hello.iter().enumerate() {
        acceptor.read_tls(&mut &[*byte][..]).unwrap();
        match tls::accept_client_hello(&mut acceptor, &config, false) {
            ClientHelloOutcome::NeedMore => assert!(i + 1 < hello.len(), "the whole hello must be enough"),
            other => {
                assert_eq!(i + 1, hello.len(), "accepted before the hello was complete");
                outcome = Some(other);
            }
        }
    }
    let ClientHelloOutcome::Proceed(mut s, tls::AppProtocol::H2) = outcome.unwrap() else {
        panic!("an h2 client must proceed with h2")
    };
    s.process_new_packets().unwrap();
    let first_flight = take_output(&mut s);
    feed(&mut c, &first_flight).unwrap();
    let outcome = pump(&mut c, &mut s);
    assert!(outcome.client_error.is_none() && outcome.server_error.is_none(), "{outcome:?}");
    assert_h2_tls13(&c, &s);
    exchange_data(&mut c, &mut s);
}

/// A TLS 1.2 ClientHello (RFC 5246 §7.4.1.2) with no supported_versions
/// extension, so it offers nothing newer (RFC 8446 §4.2.1). It offers `h2`
/// so that only the version can be the reason for a refusal.
fn tls12_client_hello() -> Vec<u8> {
    fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut e = kind.to_be_bytes().to_vec();
        e.extend((data.len() as u16).to_be_bytes());
        e.extend(data);
        e
    }
    let mut extensions = Vec::new();
    extensions.extend(ext(0x000a, &[0x00, 0x04, 0x00, 0x1d, 0x00, 0x17])); // supported_groups: x25519, P-256
    extensions.extend(ext(0x000b, &[0x01, 0x00])); // ec_point_formats: uncompressed
    extensions.extend(ext(0x000d, &[0x00, 0x04, 0x04, 0x03, 0x08, 0x04])); // signature_algorithms
    extensions.extend(ext(0x0010, &[0x00, 0x03, 0x02, b'h', b'2'])); // ALPN: h2

    let mut body = vec![0x03, 0x03]; // client_version TLS 1.2
    body.extend([0x5a; 32]); // random
    body.push(0); // session_id: empty
    body.extend([0x00, 0x04, 0xc0, 0x2b, 0xc0, 0x2f]); // ECDHE-ECDSA/RSA-AES128-GCM-SHA256
    body.extend([0x01, 0x00]); // compression_methods: null
    body.extend((extensions.len() as u16).to_be_bytes());
    body.extend(extensions);

    let mut handshake = vec![0x01]; // client_hello
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01]; // handshake record, TLS 1.0 record version as clients send
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[test]
fn tls12_only_client_is_refused() {
    let (config, _, _dir) = server(8);
    let protocol_version_alert = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];

    let mut s = ServerConnection::new(config.clone()).unwrap();
    let err = feed(&mut s, &tls12_client_hello()).unwrap_err();
    assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
    assert_eq!(take_output(&mut s), protocol_version_alert);

    match accept(&tls12_client_hello(), &config) {
        ClientHelloOutcome::Refuse { alert, error } => {
            assert_eq!(alert, protocol_version_alert);
            assert!(matches!(error, rustls::Error::PeerIncompatible(_)), "{error:?}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn garbage_instead_of_a_client_hello_is_refused() {
    let (config, _, _dir) = server(8);
    match accept(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &config) {
        ClientHelloOutcome::Refuse { error, .. } => {
            assert!(matches!(error, rustls::Error::InvalidMessage(_)), "{error:?}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn client_that_does_not_trust_the_certificate_fails() {
    let (config, _, _dir) = server(8);
    let (_, other_cert, _other_dir) = server(8);
    let mut c = client(&client_config(&other_cert, &[b"h2"]), "localhost");
    let mut s = ServerConnection::new(config).unwrap();
    let outcome = pump(&mut c, &mut s);
    assert!(matches!(outcome.client_error, Some(rustls::Error::InvalidCertificate(_))), "{outcome:?}");
}
