//! The connection state machine against an independent HTTP/2 client: the
//! `h2` crate, talking over an in-memory pipe to a tiny server loop that
//! pumps bytes through `Connection`. Everything the client sends (preface,
//! SETTINGS, HPACK with its own dynamic table, flow control, resets) comes
//! from another implementation than ours.

use std::time::Duration;

use bytes::Bytes;
use h2ring::h2::conn::{ConnConfig, Connection, Event, Method};
use http::{HeaderMap, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const SMALL: &[u8] = b"<!doctype html><title>h2ring</title><p>hello</p>";

fn big_body() -> Bytes {
    (0..1_048_576u32).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>().into()
}

/// What the server loop saw, for assertions.
#[derive(Debug, Default)]
struct ServerLog {
    requests: usize,
    resets: usize,
    trailers: usize,
    error: Option<String>,
}

/// Answers: `/` → SMALL; `/big` → 1 MiB; `/upload` → the byte count of the
/// request body once it ends (with any trailers counted); `/shutdown` → SMALL
/// then a graceful GOAWAY; anything else → 404.
async fn serve(mut io: DuplexStream, cfg: ConnConfig) -> ServerLog {
    let mut conn = Connection::new(cfg);
    let big = big_body();
    let mut log = ServerLog::default();
    let mut uploads: Vec<(u32, usize)> = Vec::new();
    let mut rbuf = vec![0u8; 16 * 1024];
    let mut wbuf = vec![0u8; 64 * 1024];
    loop {
        while conn.has_output() {
            let n = conn.write_output(&mut wbuf);
            if io.write_all(&wbuf[..n]).await.is_err() {
                return log;
            }
        }
        if conn.is_closed() {
            return log;
        }
        let n = match io.read(&mut rbuf).await {
            Ok(0) | Err(_) => return log,
            Ok(n) => n,
        };
        if let Err(e) = conn.recv(&rbuf[..n]) {
            log.error = Some(e.to_string());
        }
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Request { stream_id, head, end_stream } => {
                    log.requests += 1;
                    let path = head.path().to_vec();
                    assert_eq!(head.scheme(), Some(&b"https"[..]));
                    assert_eq!(head.authority(), Some(&b"blog.test"[..]));
                    let ok: &[(&[u8], &[u8])] = &[(b"content-type", b"text/html"), (b"server", b"h2ring")];
                    match (&path[..], head.method()) {
                        (b"/", Method::Get) => {
                            conn.send_response(stream_id, 200, ok, Bytes::from_static(SMALL)).unwrap();
                        }
                        (b"/big", Method::Get) => conn.send_response(stream_id, 200, ok, big.clone()).unwrap(),
                        (b"/upload", Method::Post) => {
                            assert!(!end_stream);
                            uploads.push((stream_id, 0));
                        }
                        (b"/shutdown", _) => {
                            conn.send_response(stream_id, 200, ok, Bytes::from_static(SMALL)).unwrap();
                            conn.shutdown();
                        }
                        _ => conn.send_response(stream_id, 404, &[], Bytes::from_static(b"not found")).unwrap(),
                    }
                    conn.recycle(head);
                }
                Event::Data { stream_id, data, end_stream } => {
                    let entry = uploads.iter_mut().find(|(id, _)| *id == stream_id).unwrap();
                    entry.1 += data.len();
                    if end_stream {
                        let body = Bytes::from(entry.1.to_string());
                        conn.send_response(stream_id, 200, &[], body).unwrap();
                    }
                }
                Event::Trailers { stream_id, trailers } => {
                    log.trailers += 1;
                    assert_eq!(trailers.header(b"x-checksum"), Some(&b"done"[..]));
                    let entry = uploads.iter().find(|(id, _)| *id == stream_id).unwrap();
                    conn.send_response(stream_id, 200, &[], Bytes::from(entry.1.to_string())).unwrap();
                }
                Event::StreamReset { .. } => log.resets += 1,
                Event::GoAway { .. } => {}
            }
        }
    }
}

type Client = h2::client::SendRequest<Bytes>;

/// Starts the server loop and an `h2` client on a pipe; returns the client
/// handle and the server's join handle.
async fn start(
    builder: h2::client::Builder,
    cfg: ConnConfig,
) -> (Client, tokio::task::JoinHandle<ServerLog>, tokio::task::JoinHandle<()>) {
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let server = tokio::spawn(serve(server_io, cfg));
    let (client, connection) = builder.handshake::<_, Bytes>(client_io).await.expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, server, driver)
}

fn get(path: &str) -> Request<()> {
    Request::get(format!("https://blog.test{path}")).body(()).unwrap()
}

async fn fetch(client: &mut Client, req: Request<()>) -> (StatusCode, Vec<u8>) {
    let mut client = client.clone().ready().await.unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    let resp = resp.await.unwrap();
    let status = resp.status();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    (status, out)
}

fn timeout<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(20), f)
}

#[tokio::test]
async fn many_concurrent_streams_on_one_connection() {
    timeout(async {
        let (client, server, _d) = start(h2::client::Builder::new(), ConnConfig::default()).await;
        let mut tasks = Vec::new();
        for i in 0..200 {
            let mut c = client.clone();
            tasks.push(tokio::spawn(async move {
                let path = if i % 10 == 0 { "/missing" } else { "/" };
                let (status, body) = fetch(&mut c, get(path)).await;
                if path == "/" {
                    assert_eq!(status, StatusCode::OK);
                    assert_eq!(body, SMALL);
                } else {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        drop(client);
        let log = server.await.unwrap();
        assert_eq!(log.requests, 200);
        assert_eq!(log.error, None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn large_body_through_flow_control() {
    timeout(async {
        // The h2 client keeps RFC defaults: 65,535-byte windows, 16 KiB frames.
        let (mut client, _server, _d) = start(h2::client::Builder::new(), ConnConfig::default()).await;
        let big = big_body();
        for _ in 0..3 {
            let (status, body) = fetch(&mut client, get("/big")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body == big[..], "1 MiB body differs");
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn parallel_large_bodies_share_the_connection_window() {
    timeout(async {
        let mut b = h2::client::Builder::new();
        b.initial_window_size(300_000).initial_connection_window_size(500_000).max_frame_size(1 << 20);
        let (client, _server, _d) = start(b, ConnConfig::default()).await;
        let big = big_body();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let mut c = client.clone();
                let big = big.clone();
                tokio::spawn(async move {
                    let (status, body) = fetch(&mut c, get("/big")).await;
                    assert_eq!(status, StatusCode::OK);
                    assert!(body == big[..]);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn window_opened_one_byte_at_a_time() {
    timeout(async {
        let mut b = h2::client::Builder::new();
        b.initial_window_size(1);
        let (client, _server, _d) = start(b, ConnConfig::default()).await;
        let mut client = client.ready().await.unwrap();
        let (resp, _) = client.send_request(get("/"), true).unwrap();
        let resp = resp.await.unwrap();
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= 1, "the server overran a 1-byte window");
            body.flow_control().release_capacity(chunk.len()).unwrap();
            out.extend_from_slice(&chunk);
        }
        assert_eq!(out, SMALL);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn request_body_upload_with_trailers() {
    timeout(async {
        let cfg = ConnConfig { initial_window_size: 65_535, connection_window_size: 65_535, ..Default::default() };
        let (client, server, _d) = start(h2::client::Builder::new(), cfg).await;
        let mut client = client.ready().await.unwrap();
        // 600 KB against 64 KB windows: only moves if the server credits
        // the windows back as it consumes.
        let req = Request::post("https://blog.test/upload").body(()).unwrap();
        let (resp, mut send) = client.send_request(req, false).unwrap();
        let chunk = Bytes::from(vec![7u8; 10_000]);
        for _ in 0..60 {
            // h2 buffers what the window does not allow yet.
            send.send_data(chunk.clone(), false).unwrap();
        }
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "done".parse().unwrap());
        send.send_trailers(trailers).unwrap();
        let resp = resp.await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let data = body.data().await.unwrap().unwrap();
        assert_eq!(&data[..], b"600000");
        drop((client, body, send));
        let log = server.await.unwrap();
        assert_eq!(log.trailers, 1);
        assert_eq!(log.error, None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn client_reset_mid_response_leaves_the_connection_usable() {
    timeout(async {
        let (mut client, server, _d) = start(h2::client::Builder::new(), ConnConfig::default()).await;
        {
            let mut c = client.clone().ready().await.unwrap();
            let (resp, _) = c.send_request(get("/big"), true).unwrap();
            let resp = resp.await.unwrap();
            let mut body = resp.into_body();
            let first = body.data().await.unwrap().unwrap();
            assert!(!first.is_empty());
            // Dropping the body mid-way makes h2 send RST_STREAM CANCEL.
        }
        for _ in 0..5 {
            let (status, body) = fetch(&mut client, get("/")).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body, SMALL);
        }
        drop(client);
        let log = server.await.unwrap();
        assert_eq!(log.resets, 1);
        assert_eq!(log.error, None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn repeated_requests_keep_both_hpack_tables_in_sync() {
    timeout(async {
        let (mut client, server, _d) = start(h2::client::Builder::new(), ConnConfig::default()).await;
        for i in 0..300 {
            let req = Request::get(format!("https://blog.test/?page={}", i % 7))
                .header("user-agent", "h2-test-client/1.0")
                .header("accept-language", "en-GB,en;q=0.9")
                .header("cookie", format!("session={}", i % 3))
                .body(())
                .unwrap();
            let (status, _) = fetch(&mut client, req).await;
            // "/?page=n" is not "/": the server's router answers 404, with
            // headers encoded against its dynamic table every time.
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
        drop(client);
        assert_eq!(server.await.unwrap().error, None);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_streams() {
    timeout(async {
        let (mut client, server, driver) = start(h2::client::Builder::new(), ConnConfig::default()).await;
        let (status, body) = fetch(&mut client, get("/shutdown")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, SMALL);
        // The server sent GOAWAY and closes once nothing is in flight: the
        // server loop ends by itself, and so does the client's connection.
        let log = server.await.unwrap();
        assert_eq!(log.requests, 1);
        assert_eq!(log.error, None);
        driver.await.unwrap();
    })
    .await
    .unwrap();
}
