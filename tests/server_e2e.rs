//! The real server, end to end, with independent clients. Runs against
//! whichever backend this test build selected (io_uring by default,
//! epoll with `--features epoll`).

mod server;

use std::time::Duration;

use http::StatusCode;
use server::{BIG, Server, big_body, connect_h2c, connect_tls, fetch, request};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn within<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await.expect("test took over 60 s") })
}

#[test]
fn serves_the_page_over_tls13_h2_and_h2c() {
    let server = Server::start(&[]);
    within(async {
        for client in [connect_tls(&server, h2::client::Builder::new()).await, connect_h2c(&server).await] {
            let (status, headers, body) = fetch(&client, request("GET", "/")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers["content-type"], "text/html; charset=utf-8");
            assert_eq!(headers["content-length"], body.len().to_string());
            assert!(String::from_utf8(body).unwrap().contains("href=\"/posts/"), "the blog's index");

            let (status, headers, body) = fetch(&client, request("HEAD", "/")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.is_empty());
            assert_ne!(headers["content-length"], "0");

            let (status, _, body) = fetch(&client, request("GET", "/nope")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(!body.is_empty());

            let (status, headers, _) = fetch(&client, request("DELETE", "/")).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(headers["allow"], "GET, HEAD, OPTIONS");
        }
    });
}

#[test]
fn many_streams_on_many_connections() {
    let server = Server::start(&[]);
    within(async {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let client = connect_tls(&server, h2::client::Builder::new()).await;
            for _ in 0..100 {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    let (status, _, body) = fetch(&client, request("GET", "/")).await;
                    assert_eq!(status, StatusCode::OK);
                    assert!(!body.is_empty());
                }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn large_bodies_through_flow_control() {
    let server = Server::start(&[]);
    let want = big_body();
    within(async {
        // Default 65,535-byte windows: the 1 MiB body moves only as the
        // client's WINDOW_UPDATEs arrive.
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let client = client.clone();
            let want = want.clone();
            tasks.push(tokio::spawn(async move {
                let (status, _, body) = fetch(&client, request("GET", BIG)).await;
                assert_eq!(status, StatusCode::OK);
                assert!(body == want, "1 MiB body differs");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let h2c = connect_h2c(&server).await;
        let (_, _, body) = fetch(&h2c, request("GET", BIG)).await;
        assert!(body == want);
    });
}

#[test]
fn window_opened_one_byte_at_a_time() {
    let server = Server::start(&[]);
    within(async {
        let mut builder = h2::client::Builder::new();
        builder.initial_window_size(1);
        let client = connect_tls(&server, builder).await;
        let mut client = client.ready().await.unwrap();
        let (resp, _) = client.send_request(request("GET", "/"), true).unwrap();
        let mut body = resp.await.unwrap().into_body();
        let mut got = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= 1, "server overran a 1-byte window");
            body.flow_control().release_capacity(chunk.len()).unwrap();
            got.extend_from_slice(&chunk);
        }
        assert!(got.len() > 100);
    });
}

#[test]
fn abrupt_disconnects_do_not_disturb_other_connections() {
    let server = Server::start(&[]);
    within(async {
        let steady = connect_tls(&server, h2::client::Builder::new()).await;
        for _ in 0..10 {
            // Start a 1 MiB response, read a little, then drop everything:
            // the TCP connection closes mid-response.
            let client = connect_tls(&server, h2::client::Builder::new()).await;
            let mut ready = client.ready().await.unwrap();
            let (resp, _) = ready.send_request(request("GET", BIG), true).unwrap();
            let mut body = resp.await.unwrap().into_body();
            let first = body.data().await.unwrap().unwrap();
            assert!(!first.is_empty());
            drop((body, ready));
            let raw = tokio::net::TcpStream::connect(server.tls).await.unwrap();
            drop(raw);
            let (status, _, _) = fetch(&steady, request("GET", "/")).await;
            assert_eq!(status, StatusCode::OK);
        }
    });
}

#[test]
fn client_without_a_common_protocol_gets_no_application_protocol() {
    // Without --no-http1, http/1.1 is served (tests/http1.rs); a client
    // offering neither h2 nor http/1.1 has nothing in common with us.
    let server = Server::start(&[]);
    within(async {
        let tcp = tokio::net::TcpStream::connect(server.tls).await.unwrap();
        let config = server::client_tls_config(&server, &[b"http/1.0", b"spdy/3.1"]);
        let connector = tokio_rustls::TlsConnector::from(config);
        let err = connector
            .connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .expect_err("handshake must fail");
        let msg = err.to_string();
        assert!(msg.contains("NoApplicationProtocol"), "{msg}");
    });
}

#[test]
fn sigterm_mid_load_finishes_in_flight_requests_and_exits_zero() {
    let mut server = Server::start(&["--shutdown-grace-ms", "10000"]);
    let rt = rt();
    let (results, status) = rt.block_on(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        let (headers_tx, mut headers_rx) = tokio::sync::mpsc::channel::<()>(8);
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        // 8 responses of 1 MiB, each stopped after its headers until the
        // signal is sent: with 64 KiB windows they are mid-body then.
        for _ in 0..8 {
            let client = client.clone();
            let headers_tx = headers_tx.clone();
            let mut go_rx = go_rx.clone();
            tasks.push(tokio::spawn(async move {
                let mut ready = client.ready().await.unwrap();
                let (resp, _) = ready.send_request(request("GET", BIG), true).unwrap();
                let resp = resp.await.expect("response headers");
                headers_tx.send(()).await.unwrap();
                go_rx.wait_for(|go| *go).await.unwrap();
                let status = resp.status();
                let mut body = resp.into_body();
                let mut got = Vec::new();
                while let Some(chunk) = body.data().await {
                    let chunk = chunk.expect("body chunk");
                    body.flow_control().release_capacity(chunk.len()).unwrap();
                    got.extend_from_slice(&chunk);
                }
                (status, got)
            }));
        }
        for _ in 0..8 {
            headers_rx.recv().await.unwrap();
        }
        let kill = std::process::Command::new("kill").arg("-TERM").arg(server.pid().to_string()).status().unwrap();
        assert!(kill.success());
        // Let the GOAWAY arrive before the bodies resume.
        tokio::time::sleep(Duration::from_millis(200)).await;
        go_tx.send(true).unwrap();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let status = tokio::task::block_in_place(|| server::wait_exit(&mut server.child, Duration::from_secs(20)));
        (results, status)
    });
    assert_eq!(status.code(), Some(0), "exit status {status:?}");
    let want = big_body();
    for (status, body) in results {
        assert_eq!(status, StatusCode::OK);
        assert!(body == want, "a response was cut short by the shutdown");
    }
}

#[cfg(not(feature = "epoll"))]
#[test]
fn sqpoll_mode_serves_and_says_so() {
    let server = Server::start(&["--sqpoll", "--sqpoll-idle-ms", "50"]);
    assert!(server.start_line.contains("io_uring, SQPOLL"), "{}", server.start_line);
    within(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        for _ in 0..20 {
            let (status, _, _) = fetch(&client, request("GET", "/")).await;
            assert_eq!(status, StatusCode::OK);
        }
        let (_, _, body) = fetch(&client, request("GET", BIG)).await;
        assert!(body == big_body());
    });
}

/// Workers pin to the CPUs the process was given (`taskset`, a cpuset,
/// systemd's `CPUAffinity=`), not to CPU numbers counted from 0.
#[test]
fn workers_pin_inside_the_inherited_cpu_mask() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 || std::process::Command::new("taskset").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none() || cpus < 2, "taskset (util-linux) is missing");
        eprintln!("SKIPPED: needs taskset and 2 CPUs");
        return;
    }
    let certs = server::TempDir::new("pin-certs");
    let mut child = std::process::Command::new("taskset")
        .args(["-c", "1", server::BIN, "--listen", "127.0.0.1:0", "--workers", "2", "--tuning", "off"])
        .arg("--certs-dir")
        .arg(&certs.0)
        .env_remove("RUST_LOG")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = server::stderr_lines(&mut child);
    server::wait_for_start_line(&rx);
    let mut workers = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{}/task", child.id())).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if name.starts_with("h2ring-worker") {
            let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
            let allowed = status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap_or("").trim();
            workers.push((name.trim().to_string(), allowed.to_string()));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    workers.sort();
    assert_eq!(
        workers,
        [("h2ring-worker-0".to_string(), "1".to_string()), ("h2ring-worker-1".to_string(), "1".to_string())]
    );
}
