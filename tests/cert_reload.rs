//! SIGHUP reloads the certificate: the real server started with `--cert`
//! and `--key` files, those files rewritten, and rustls clients checking
//! which certificate new handshakes get, that connections opened before the
//! swap keep working, that session tickets issued before it still resume,
//! and that a bad pair is reported and leaves the served one in place.

mod server;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, HandshakeKind, RootCertStore};
use server::{Client, Server, TempDir, fetch, request};
use tokio::net::TcpStream;

fn within<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await.expect("test took over 60 s") })
}

/// A self-signed certificate for localhost: its PEM, its key's PEM and its
/// DER (what a client receives).
struct Pair {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pair {
    fn new(common_name: &str) -> Pair {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, common_name);
        params.distinguished_name = name;
        let cert = params.self_signed(&key).unwrap();
        Pair { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }

    /// SHA-256 over the DER, as `openssl x509 -fingerprint -sha256` and the
    /// server's log line write it.
    fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.der);
        digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    }
}

struct Files {
    _dir: TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(pair: &Pair) -> Files {
        let dir = TempDir::new("cert-reload");
        let files = Files { cert: dir.0.join("cert.pem"), key: dir.0.join("key.pem"), _dir: dir };
        files.write(&pair.cert_pem, &pair.key_pem);
        files
    }

    fn write(&self, cert: &str, key: &str) {
        std::fs::write(&self.cert, cert).unwrap();
        std::fs::write(&self.key, key).unwrap();
    }
}

/// A client trusting every certificate in `trusted`, offering `h2`; with
/// `resumption` it keeps session tickets (in the config, shared by every
/// connection made with it).
fn client_config(trusted: &[&Pair], resumption: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pair in trusted {
        roots.add(pair.der.clone().into()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    if !resumption {
        // A resumed connection reports the certificate of the session it
        // resumed, not the one the server holds now.
        config.resumption = Resumption::disabled();
    }
    Arc::new(config)
}

/// A new connection: an h2 client on it, the certificate the server sent
/// (for a resumed handshake, the one of the original session) and how the
/// handshake went.
async fn connect(server: &Server, config: &Arc<ClientConfig>) -> (Client, Vec<u8>, HandshakeKind) {
    let tcp = TcpStream::connect(server.tls).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.expect("TLS handshake");
    let (_, conn) = tls.get_ref();
    let leaf = conn.peer_certificates().expect("a server certificate")[0].to_vec();
    let kind = conn.handshake_kind().expect("handshake done");
    let (client, h2_conn) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = h2_conn.await;
    });
    (client, leaf, kind)
}

/// The certificate a fresh full handshake gets now.
async fn served_cert(server: &Server, config: &Arc<ClientConfig>) -> Vec<u8> {
    let (client, leaf, kind) = connect(server, config).await;
    assert_eq!(kind, HandshakeKind::Full);
    assert_eq!(fetch(&client, request("GET", "/")).await.0, StatusCode::OK);
    leaf
}

fn sighup(server: &Server) {
    let ok = std::process::Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
    assert!(ok.success());
}

/// The next stderr line containing `needle`, within 30 s (a debug build
/// renders the content again on every SIGHUP, which takes seconds).
fn wait_line(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.stderr.recv_timeout(left).unwrap_or_else(|_| panic!("no stderr line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn path_str(path: &Path) -> String {
    format!("{path:?}")
}

#[test]
fn sighup_swaps_the_certificate_and_refuses_a_bad_pair() {
    let (a, b, c, d) = (Pair::new("cert A"), Pair::new("cert B"), Pair::new("cert C"), Pair::new("cert D"));
    let files = Files::new(&a);
    let cert_arg = files.cert.to_str().unwrap();
    let key_arg = files.key.to_str().unwrap();
    let server = Server::start(&["--cert", cert_arg, "--key", key_arg]);
    let fresh = client_config(&[&a, &b, &c], false);
    let resuming = client_config(&[&a, &b, &c], true);

    within(async {
        // Before: certificate A. `held` stays open across the swap, and
        // gave `resuming` its session tickets.
        let (held, leaf, kind) = connect(&server, &resuming).await;
        assert_eq!((leaf == a.der, kind), (true, HandshakeKind::Full));
        assert_eq!(fetch(&held, request("GET", "/")).await.0, StatusCode::OK);
        assert!(served_cert(&server, &fresh).await == a.der, "certificate A before the reload");

        // Rotation to B: one line with B's fingerprint, then every new
        // handshake gets B (the line is written after the swap).
        files.write(&b.cert_pem, &b.key_pem);
        sighup(&server);
        let line = wait_line(&server, "certificate");
        assert!(line.contains("h2ring: certificate reloaded from "), "{line}");
        assert!(line.contains(&path_str(&files.cert)), "{line}");
        assert!(line.contains("CN \"cert B\"") && line.contains(&b.fingerprint()), "{line}");
        assert!(line.contains("valid until "), "{line}");
        assert!(!line.contains("refuse"), "{line}");
        // The content reload ran too, independently.
        wait_line(&server, "SIGHUP: reloaded");
        for _ in 0..4 {
            assert!(served_cert(&server, &fresh).await == b.der, "certificate B after the reload");
        }

        // The connection from before the swap still serves requests.
        assert_eq!(fetch(&held, request("GET", "/about")).await.0, StatusCode::OK);
        // A ticket issued under A still resumes: a resumed handshake sends
        // no certificate, so it does not depend on the one being served.
        let (resumed, _, kind) = connect(&server, &resuming).await;
        assert_eq!(kind, HandshakeKind::Resumed);
        assert_eq!(fetch(&resumed, request("GET", "/")).await.0, StatusCode::OK);

        // A key that is not the certificate's: refused, named, B stays.
        files.write(&c.cert_pem, &d.key_pem);
        sighup(&server);
        let line = wait_line(&server, "certificate");
        assert!(line.contains(": certificate not reloaded: "), "{line}");
        assert!(line.contains(&path_str(&files.key)) && line.contains("does not belong"), "{line}");
        assert!(line.ends_with("; still serving the previous certificate"), "{line}");
        // A bad certificate does not hold back the content reload.
        wait_line(&server, "SIGHUP: reloaded");
        assert!(served_cert(&server, &fresh).await == b.der, "still B after a mismatched pair");

        // A garbage certificate file: refused, named, B stays.
        files.write("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n", &b.key_pem);
        sighup(&server);
        let line = wait_line(&server, "certificate");
        assert!(line.contains(": certificate not reloaded: "), "{line}");
        assert!(line.contains(&path_str(&files.cert)) && line.contains("malformed"), "{line}");
        assert!(line.ends_with("; still serving the previous certificate"), "{line}");
        wait_line(&server, "SIGHUP: reloaded");
        assert!(served_cert(&server, &fresh).await == b.der, "still B after a garbage file");

        // Putting a good pair back is picked up by the next SIGHUP.
        files.write(&a.cert_pem, &a.key_pem);
        sighup(&server);
        let line = wait_line(&server, "certificate");
        assert!(line.contains(&a.fingerprint()), "{line}");
        assert!(served_cert(&server, &fresh).await == a.der, "back to A");
        assert_eq!(fetch(&held, request("GET", "/")).await.0, StatusCode::OK);
    });
}

#[test]
fn sighup_with_unchanged_files_says_so() {
    let a = Pair::new("cert A");
    let files = Files::new(&a);
    let server = Server::start(&["--cert", files.cert.to_str().unwrap(), "--key", files.key.to_str().unwrap()]);
    sighup(&server);
    let line = wait_line(&server, "certificate");
    assert!(line.contains("h2ring: certificate unchanged in "), "{line}");
    assert!(line.contains(&a.fingerprint()), "{line}");
    wait_line(&server, "SIGHUP: reloaded");
    let fresh = client_config(&[&a], false);
    within(async {
        assert!(served_cert(&server, &fresh).await == a.der);
    });
}
