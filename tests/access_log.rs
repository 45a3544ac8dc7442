//! The access log (`--access-log FILE|-`) and the log filter (`RUST_LOG`)
//! against the real server: the exact lines for known requests, escaping
//! of hostile fields, stdout, nothing written without the flag, and the
//! one-line errors for an unopenable file and a bad `RUST_LOG`.

mod server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use server::{BIN, Server, TempDir, connect_h2c, connect_tls, fetch, request, test_content, wait_exit};

fn within<F: std::future::Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await.expect("test took over 60 s") })
}

/// The CLF timestamp of a response's `date` (`Fri, 27 Nov 2026 07:40:00
/// GMT` → `27/Nov/2026:07:40:00 +0000`): the worker stamps the line and
/// the `date` field from the same clock reading.
fn clf_date(headers: &HeaderMap) -> String {
    let date = headers["date"].to_str().unwrap();
    let parts: Vec<&str> = date.split(' ').collect();
    assert_eq!(parts.len(), 6, "{date}");
    format!("{}/{}/{}:{} +0000", parts[1], parts[2], parts[3], parts[4])
}

/// Stops the server with SIGTERM (the last lines are written at exit).
fn stop(server: &mut Server) {
    let status = server.signal_and_wait("TERM", Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
}

/// Every stderr line not read yet, through the end (after a stop: the
/// reader thread ends at the pipe's end).
fn stderr_lines(server: &Server) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = server.stderr.recv_timeout(Duration::from_secs(10)) {
        lines.push(line);
    }
    lines
}

#[test]
fn known_requests_give_exact_lines() {
    let log_dir = TempDir::new("access-log");
    let path = log_dir.0.join("access.log");
    let mut server = Server::start(&["--access-log", path.to_str().unwrap()]);
    let expected = within(async {
        // One connection: one worker, so the lines come in request order.
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        let mut expected = Vec::new();
        let (status, headers, body) = fetch(&client, request("GET", "/")).await;
        assert_eq!(status, StatusCode::OK);
        expected.push(format!(
            "- - - [{}] \"GET / HTTP/2.0\" 200 {} \"-\" \"-\" h2 early=0",
            clf_date(&headers),
            body.len()
        ));
        let (status, headers, body) = fetch(&client, request("GET", "/no/such/page?q=1")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.is_empty());
        expected.push(format!(
            "- - - [{}] \"GET /no/such/page?q=1 HTTP/2.0\" 404 {} \"-\" \"-\" h2 early=0",
            clf_date(&headers),
            body.len()
        ));
        let (status, headers, body) = fetch(&client, request("HEAD", "/about")).await;
        assert_eq!((status, body.len()), (StatusCode::OK, 0));
        expected.push(format!("- - - [{}] \"HEAD /about HTTP/2.0\" 200 - \"-\" \"-\" h2 early=0", clf_date(&headers)));
        // A quote, a backslash, a tab and a non-ASCII byte: each escaped,
        // so the user agent cannot close its field or forge a line.
        let hostile = Request::builder()
            .uri("https://localhost/about")
            .header("user-agent", http::HeaderValue::from_bytes(b"evil \"ua\"\t\xff\\").unwrap())
            .header("referer", "https://example.org/from here")
            .body(())
            .unwrap();
        let (status, headers, body) = fetch(&client, hostile).await;
        assert_eq!(status, StatusCode::OK);
        expected.push(format!(
            "- - - [{}] \"GET /about HTTP/2.0\" 200 {} \"https://example.org/from here\" \
             \"evil \\x22ua\\x22\\x09\\xff\\x5c\" h2 early=0",
            clf_date(&headers),
            body.len()
        ));
        expected
    });
    stop(&mut server);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, expected);
    let summary = format!("h2ring: access log: 4 lines written to {}", path.display());
    assert!(stderr_lines(&server).contains(&summary), "no {summary:?} at exit");
}

/// Starts h2ring in `cwd` with its stdout piped and `RUST_LOG` from `env`
/// (unset when `None`); [`Server::start`] sends stdout to /dev/null and
/// keeps the test's environment.
fn start_in(cwd: &Path, env: Option<&str>, extra: &[&str]) -> (Server, ChildStdout) {
    let certs = TempDir::new("certs");
    let content = test_content();
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--h2c-listen", "127.0.0.1:0", "--workers", "2", "--certs-dir"])
        .arg(&certs.0)
        .arg("--content")
        .arg(&content.0)
        .args(extra)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match env {
        Some(filter) => cmd.env("RUST_LOG", filter),
        None => cmd.env_remove("RUST_LOG"),
    };
    let mut child = cmd.spawn().expect("start h2ring");
    let stdout = child.stdout.take().unwrap();
    let rx = server::stderr_lines(&mut child);
    let (line, before_start) = server::wait_for_start_line(&rx);
    let addr = |scheme: &str| {
        let at = line.find(scheme).unwrap() + scheme.len();
        line[at..].split([' ', ';']).next().unwrap().parse().unwrap()
    };
    let (tls, h2c) = (addr("https://"), addr("h2c://"));
    (Server { child, tls, h2c, certs, content: Some(content), stderr: rx, start_line: line, before_start }, stdout)
}

fn read_all(mut stdout: ChildStdout) -> String {
    let mut text = String::new();
    stdout.read_to_string(&mut text).unwrap();
    text
}

#[test]
fn dash_writes_to_stdout() {
    let cwd = TempDir::new("cwd");
    let (mut server, stdout) = start_in(&cwd.0, None, &["--access-log", "-"]);
    let date = within(async {
        let client = connect_h2c(&server).await;
        let (status, headers, _) = fetch(&client, request("HEAD", "/")).await;
        assert_eq!(status, StatusCode::OK);
        clf_date(&headers)
    });
    stop(&mut server);
    assert_eq!(read_all(stdout), format!("- - - [{date}] \"HEAD / HTTP/2.0\" 200 - \"-\" \"-\" h2 early=0\n"));
    assert!(stderr_lines(&server).contains(&"h2ring: access log: 1 line written to stdout".to_string()));
}

#[test]
fn without_the_flag_nothing_is_logged_anywhere() {
    let cwd = TempDir::new("cwd");
    let (mut server, stdout) = start_in(&cwd.0, None, &[]);
    within(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        assert_eq!(fetch(&client, request("GET", "/")).await.0, StatusCode::OK);
    });
    stop(&mut server);
    assert_eq!(read_all(stdout), "");
    assert_eq!(std::fs::read_dir(&cwd.0).unwrap().count(), 0, "files appeared in the working directory");
    assert!(!stderr_lines(&server).iter().any(|l| l.contains("access log")));
}

/// Runs h2ring expecting it to fail at start-up; returns its exit code
/// and stderr. A server that starts anyway is killed after 10 s.
fn start_failing(env: Option<&str>, extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["--h2c-listen", "127.0.0.1:0", "--tuning", "off"])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match env {
        Some(filter) => cmd.env("RUST_LOG", filter),
        None => cmd.env_remove("RUST_LOG"),
    };
    let mut child: Child = cmd.spawn().expect("run h2ring");
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn an_unopenable_access_log_is_one_line_and_exit_1() {
    let dir = TempDir::new("access-log");
    let missing = dir.0.join("no-such-dir/access.log");
    let is_dir = dir.0.to_str().unwrap();
    for (path, reason) in [(missing.to_str().unwrap(), "No such file or directory"), (is_dir, "Is a directory")] {
        let (code, stderr) = start_failing(None, &["--access-log", path]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let expected = format!("h2ring: --access-log {path}: cannot open it for appending: {reason}");
        assert!(stderr.starts_with(&expected), "{stderr}");
    }
}

#[test]
fn a_bad_rust_log_is_one_line_and_exit_1() {
    for (filter, bad) in [("info,h2ring=loud", "\"h2ring=loud\""), ("wanr", "\"wanr\""), ("=debug", "\"=debug\"")] {
        let (code, stderr) = start_failing(Some(filter), &[]);
        assert_eq!(code, 1, "{filter}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{filter}: {stderr}");
        assert!(stderr.starts_with("h2ring: RUST_LOG: ") && stderr.contains(bad), "{filter}: {stderr}");
    }
}

/// Sends a handshake record of garbage to the TLS listener, waits for the
/// server to hang up, then makes one good handshake (rustls logs its
/// steps at debug and trace).
fn handshakes(server: &Server) {
    let mut tcp = TcpStream::connect(server.tls).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A handshake record whose body is no ClientHello.
    let mut record = vec![0x16, 0x03, 0x01, 0x00, 0x40];
    record.extend([0x01, 0x00, 0x00, 0x3c]);
    record.extend([0xee; 0x3c]);
    tcp.write_all(&record).unwrap();
    let mut sink = Vec::new();
    let _ = tcp.read_to_end(&mut sink);
    within(async {
        let client = connect_tls(server, h2::client::Builder::new()).await;
        assert_eq!(fetch(&client, request("HEAD", "/")).await.0, StatusCode::OK);
    });
}

#[test]
fn rustls_is_silent_unless_rust_log_names_it() {
    let cwd = TempDir::new("cwd");
    let rustls_lines = |server: &Server| stderr_lines(server).into_iter().filter(|l| l.contains("[rustls")).count();

    let (mut quiet, _) = start_in(&cwd.0, None, &[]);
    handshakes(&quiet);
    stop(&mut quiet);
    assert_eq!(rustls_lines(&quiet), 0);

    // A bare level does not turn rustls on either.
    let (mut debug, _) = start_in(&cwd.0, Some("debug"), &[]);
    handshakes(&debug);
    stop(&mut debug);
    assert_eq!(rustls_lines(&debug), 0);

    let (mut named, _) = start_in(&cwd.0, Some("rustls=trace"), &[]);
    handshakes(&named);
    stop(&mut named);
    let lines: Vec<String> = stderr_lines(&named).into_iter().filter(|l| l.contains("[rustls")).collect();
    assert!(!lines.is_empty(), "RUST_LOG=rustls=trace logged nothing from rustls");
    assert!(lines.iter().all(|l| l.starts_with("h2ring: ")), "{lines:#?}");
}
