//! Starting the real `h2ring` binary on ephemeral ports, and independent
//! clients for it: the `h2` crate over `tokio-rustls` (ring) for TLS, and
//! over plain TCP for h2c. The binary is the one `cargo test` built, so
//! `cargo test --features epoll` runs the same tests on the epoll backend.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

pub const BIN: &str = env!("CARGO_BIN_EXE_h2ring");

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "h2ring-{label}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The path of the 1 MiB file in [`test_content`].
pub const BIG: &str = "/static/big.bin";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A copy of the bundled blog (`content/`) plus `static/big.bin`
/// ([`big_body`]), so tests can edit it and fetch a 1 MiB body.
pub fn test_content() -> TempDir {
    let dir = TempDir::new("content");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("content"), &dir.0);
    std::fs::create_dir_all(dir.0.join("static")).unwrap();
    std::fs::write(dir.0.join("static/big.bin"), big_body()).unwrap();
    dir
}

/// A running server; killed on drop if still running.
pub struct Server {
    pub child: Child,
    pub tls: SocketAddr,
    pub h2c: SocketAddr,
    pub certs: TempDir,
    /// The `--content` directory (from [`test_content`]) unless the test
    /// passed its own.
    pub content: Option<TempDir>,
    pub stderr: mpsc::Receiver<String>,
    /// The "listening on …" line.
    pub start_line: String,
    /// What the server printed before it (the kernel tuning report).
    pub before_start: Vec<String>,
}

impl Server {
    /// Starts `h2ring` with TLS and h2c listeners on ephemeral loopback
    /// ports and a fresh development certificate in `certs`, unless `extra`
    /// has `--cert` (and `--key`).
    pub fn start(extra: &[&str]) -> Server {
        let certs = TempDir::new("certs");
        let content = (!extra.contains(&"--content")).then(test_content);
        let mut cmd = Command::new(BIN);
        // The start-up line is logged at info: a RUST_LOG from the caller's
        // shell (say `warn`) would hide it.
        cmd.env_remove("RUST_LOG");
        cmd.args(["--listen", "127.0.0.1:0", "--h2c-listen", "127.0.0.1:0", "--workers", "2"]);
        // h2ring refuses `--certs-dir` next to `--cert`/`--key`.
        if !extra.contains(&"--cert") {
            cmd.arg("--certs-dir").arg(&certs.0);
        }
        if let Some(dir) = &content {
            cmd.arg("--content").arg(&dir.0);
        }
        let mut child = cmd
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start h2ring");
        let rx = stderr_lines(&mut child);
        let (line, before_start) = wait_for_start_line(&rx);
        let addr = |scheme: &str| -> SocketAddr {
            let at = line.find(scheme).unwrap_or_else(|| panic!("no {scheme} in {line:?}")) + scheme.len();
            line[at..].split([' ', ';']).next().unwrap().parse().unwrap()
        };
        let (tls, h2c) = (addr("https://"), addr("h2c://"));
        Server { child, tls, h2c, certs, content, stderr: rx, start_line: line, before_start }
    }

    /// The `/metrics` address in the start-up line
    /// (`metrics=http://ADDR/metrics`), for a server started with
    /// `--metrics-listen`.
    pub fn metrics_addr(&self) -> SocketAddr {
        const KEY: &str = "metrics=http://";
        let line = &self.start_line;
        let at = line.find(KEY).unwrap_or_else(|| panic!("no {KEY} in {line:?}")) + KEY.len();
        line[at..].split('/').next().unwrap().parse().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by name through kill(1) and waits for the exit.
    pub fn signal_and_wait(&mut self, signal: &str, limit: Duration) -> ExitStatus {
        let ok = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success());
        wait_exit(&mut self.child, limit)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Echoes the child's stderr (taken from it) to the test's, line by
/// line, and hands each line over.
pub fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[h2ring] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads stderr lines until the "listening on …" line; returns it and the
/// lines before it (the kernel tuning report comes first).
pub fn wait_for_start_line(rx: &mpsc::Receiver<String>) -> (String, Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut before = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening on") => return (line, before),
            Ok(line) => before.push(line),
            Err(_) => panic!("h2ring printed no start-up line; before it: {before:#?}"),
        }
    }
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < limit, "process did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `h2ring` with `args` expecting it to fail at once; returns its
/// exit code and stderr.
pub fn run_failing(args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run h2ring");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn client_tls_config(server: &Server, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let cert = CertificateDer::from_pem_file(server.certs.0.join("dev-cert.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

pub type Client = h2::client::SendRequest<Bytes>;

/// An `h2` client over TLS; the connection task runs in the background.
pub async fn connect_tls(server: &Server, builder: h2::client::Builder) -> Client {
    let tcp = TcpStream::connect(server.tls).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls_config(server, &[b"h2"]));
    let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    let (client, conn) = builder.handshake(tls).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// An `h2` client with prior knowledge over cleartext TCP.
pub async fn connect_h2c(server: &Server) -> Client {
    let tcp = TcpStream::connect(server.h2c).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

pub fn request(method: &str, path: &str) -> Request<()> {
    Request::builder().method(method).uri(format!("https://localhost{path}")).body(()).unwrap()
}

/// Sends a request and reads the whole response body, releasing flow
/// control as it goes.
pub async fn fetch(client: &Client, req: Request<()>) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut client = client.clone().ready().await.expect("connection usable");
    let (resp, _) = client.send_request(req, true).expect("send request");
    let resp = resp.await.expect("response");
    let (parts, mut body) = resp.into_parts();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body chunk");
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    (parts.status, parts.headers, out)
}

/// 1 MiB of a repeating, not-quite-periodic pattern (so a misplaced chunk
/// shows up in a comparison).
pub fn big_body() -> Vec<u8> {
    (0..1u32 << 20).map(|i| (i.wrapping_mul(31) % 251) as u8).collect()
}
