//! The blog through the real server: every route and status, content
//! negotiation, conditional requests, HEAD, and SIGHUP reloads. The
//! expectations are read from `content/` itself (titles, slugs), so the
//! tests follow the posts as they are edited.

mod server;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, StatusCode};
use server::{BIG, Client, Server, big_body, connect_h2c, connect_tls, fetch, request};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn within<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(async { tokio::time::timeout(Duration::from_secs(60), f).await.expect("test took over 60 s") })
}

/// `key: value` front matter of a Markdown file (or all of `site.conf`).
fn fields(text: &str) -> BTreeMap<String, String> {
    let body = text.strip_prefix("---\n").map_or(text, |rest| rest.split("\n---\n").next().unwrap());
    body.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

struct Post {
    slug: String,
    title: String,
}

fn posts(content: &Path) -> Vec<Post> {
    let mut posts: Vec<Post> = std::fs::read_dir(content.join("posts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let front = fields(&std::fs::read_to_string(&p).unwrap());
            Post { slug: p.file_stem().unwrap().to_str().unwrap().to_string(), title: front["title"].clone() }
        })
        .collect();
    posts.sort_by(|a, b| a.slug.cmp(&b.slug));
    posts
}

fn site_title(content: &Path) -> String {
    fields(&std::fs::read_to_string(content.join("site.conf")).unwrap())["title"].clone()
}

/// The minimal HTML escaping the templates apply to text.
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut req = request("GET", path);
    for (name, value) in headers {
        req.headers_mut().insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    req
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers.get(name).unwrap_or_else(|| panic!("no {name} in {headers:?}")).to_str().unwrap()
}

fn stylesheet_path(index: &str) -> String {
    let at = index.find("/style.").expect("index links a stylesheet");
    let end = index[at..].find(".css").unwrap() + at + 4;
    index[at..end].to_string()
}

fn decode(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap(),
        "br" => brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap(),
        other => panic!("unexpected content-encoding {other}"),
    };
    out
}

/// Every GET path the site serves, with its expected content type.
async fn routes(client: &Client, content: &Path) -> Vec<(String, &'static str)> {
    let (_, _, index) = fetch(client, request("GET", "/")).await;
    let css = stylesheet_path(std::str::from_utf8(&index).unwrap());
    let mut routes = vec![
        ("/".to_string(), "text/html; charset=utf-8"),
        ("/about".to_string(), "text/html; charset=utf-8"),
        ("/feed.xml".to_string(), "application/atom+xml; charset=utf-8"),
        ("/sitemap.xml".to_string(), "application/xml; charset=utf-8"),
        ("/robots.txt".to_string(), "text/plain; charset=utf-8"),
        ("/favicon.ico".to_string(), "image/x-icon"),
        (css, "text/css; charset=utf-8"),
    ];
    for post in posts(content) {
        routes.push((format!("/posts/{}", post.slug), "text/html; charset=utf-8"));
    }
    routes
}

#[test]
fn every_route_status_and_head() {
    let server = Server::start(&["--hsts-max-age", "600"]);
    let content = server.content.as_ref().unwrap().0.clone();
    within(async {
        for (client, tls) in
            [(connect_tls(&server, h2::client::Builder::new()).await, true), (connect_h2c(&server).await, false)]
        {
            for (path, content_type) in routes(&client, &content).await {
                let (status, headers, body) = fetch(&client, request("GET", &path)).await;
                assert_eq!(status, StatusCode::OK, "{path}");
                assert_eq!(header(&headers, "content-type"), content_type, "{path}");
                assert_eq!(header(&headers, "content-length"), body.len().to_string(), "{path}");
                assert!(header(&headers, "etag").starts_with('"'), "{path}: strong etag");
                header(&headers, "last-modified");
                header(&headers, "cache-control");
                assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
                assert!(header(&headers, "content-security-policy").contains("default-src 'none'"));
                let date = header(&headers, "date");
                let secs = h2ring::server::httpdate::parse_http_date(date.as_bytes()).expect("date is an HTTP-date");
                let now = h2ring::server::httpdate::unix_seconds(std::time::SystemTime::now());
                assert!(now.abs_diff(secs) <= 2, "date {date} is now");
                // RFC 6797 §7.2: never over cleartext.
                assert_eq!(
                    headers.get("strict-transport-security").map(|v| v.to_str().unwrap()),
                    tls.then_some("max-age=600")
                );
                assert!(!body.is_empty());

                // HEAD: the same fields, no body (RFC 9110 §9.3.2).
                let (status, head_headers, head_body) = fetch(&client, request("HEAD", &path)).await;
                assert_eq!(status, StatusCode::OK, "HEAD {path}");
                assert!(head_body.is_empty(), "HEAD {path} has no body");
                for name in ["content-type", "content-length", "etag", "last-modified", "cache-control"] {
                    assert_eq!(head_headers.get(name), headers.get(name), "HEAD {path}: {name}");
                }
            }

            let (status, headers, body) = fetch(&client, request("GET", "/no/such/page")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
            assert!(String::from_utf8(body).unwrap().contains("href=\"/\""), "the 404 page links home");
            let (status, _, body) = fetch(&client, request("HEAD", "/no/such/page")).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(body.is_empty());

            for (method, path) in
                [("POST", "/"), ("DELETE", "/about"), ("PUT", "/no/such/page"), ("PATCH", "/feed.xml")]
            {
                let (status, headers, _) = fetch(&client, request(method, path)).await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_eq!(header(&headers, "allow"), "GET, HEAD, OPTIONS");
            }

            let (status, headers, body) = fetch(&client, request("GET", BIG)).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(header(&headers, "content-type"), "application/octet-stream");
            assert!(headers.get("content-encoding").is_none());
            assert!(body == big_body());
        }
    });
}

#[test]
fn pages_say_what_they_are() {
    let server = Server::start(&[]);
    let content = server.content.as_ref().unwrap().0.clone();
    within(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        let (_, _, index) = fetch(&client, request("GET", "/")).await;
        let index = String::from_utf8(index).unwrap();
        assert!(index.starts_with("<!doctype html>") || index.starts_with("<!DOCTYPE html>"));
        assert!(index.contains(&format!("<title>{}</title>", html_text(&site_title(&content)))));
        assert!(index.contains("rel=\"canonical\""));
        assert!(index.contains("name=\"description\""));
        for post in posts(&content) {
            assert!(index.contains(&format!("/posts/{}", post.slug)), "index links {}", post.slug);
            let (_, _, page) = fetch(&client, request("GET", &format!("/posts/{}", post.slug))).await;
            let page = String::from_utf8(page).unwrap();
            let title = page.split("<title>").nth(1).unwrap().split("</title>").next().unwrap();
            assert!(title.contains(&html_text(&post.title)), "{title:?} names {:?}", post.title);
            assert!(page.contains("rel=\"canonical\""));
        }

        let (_, _, feed) = fetch(&client, request("GET", "/feed.xml")).await;
        let feed = String::from_utf8(feed).unwrap();
        let doc = roxmltree::Document::parse(&feed).expect("the feed is XML");
        assert_eq!(doc.root_element().tag_name().name(), "feed");
        assert_eq!(doc.root_element().tag_name().namespace(), Some("http://www.w3.org/2005/Atom"));
        let entries = doc.root_element().children().filter(|n| n.has_tag_name("entry")).count();
        assert_eq!(entries, posts(&content).len());

        let (_, _, sitemap) = fetch(&client, request("GET", "/sitemap.xml")).await;
        let sitemap = String::from_utf8(sitemap).unwrap();
        let doc = roxmltree::Document::parse(&sitemap).expect("the sitemap is XML");
        let urls = doc.descendants().filter(|n| n.has_tag_name("loc")).count();
        assert_eq!(urls, posts(&content).len() + 2, "index, about and every post");

        let (_, _, robots) = fetch(&client, request("GET", "/robots.txt")).await;
        assert!(String::from_utf8(robots).unwrap().contains("Sitemap: "));

        let (_, _, icon) = fetch(&client, request("GET", "/favicon.ico")).await;
        assert_eq!(&icon[..4], &[0, 0, 1, 0], "an ICO file");

        let (_, headers, _) = fetch(&client, request("GET", &stylesheet_path(&index))).await;
        assert!(header(&headers, "cache-control").contains("immutable"));
    });
}

#[test]
fn each_encoding_decodes_to_the_identity_bytes() {
    let server = Server::start(&[]);
    let content = server.content.as_ref().unwrap().0.clone();
    within(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        for (path, _) in routes(&client, &content).await {
            let (_, plain_headers, identity) =
                fetch(&client, get_with(&path, &[("accept-encoding", "identity")])).await;
            assert!(plain_headers.get("content-encoding").is_none(), "{path}");
            if path == "/favicon.ico" || path.ends_with(".css") || path.starts_with("/posts/") || path == "/" {
                assert_eq!(header(&plain_headers, "vary"), "accept-encoding", "{path}");
            }
            // (accept-encoding, what the client would take in order of
            // preference). A resource too small to gain from a coding has
            // no such variant, so the next acceptable one is right too.
            for (accept, acceptable) in [
                ("gzip, deflate, br, zstd", &["br", "gzip", "identity"][..]),
                ("br", &["br", "identity"]),
                ("gzip", &["gzip", "identity"]),
                ("br;q=0, gzip", &["gzip", "identity"]),
                ("gzip;q=1, br;q=0.5", &["gzip", "br", "identity"]),
                ("*;q=0, identity", &["identity"]),
            ] {
                let (status, headers, body) = fetch(&client, get_with(&path, &[("accept-encoding", accept)])).await;
                assert_eq!(status, StatusCode::OK);
                let got = headers.get("content-encoding").map_or("identity", |v| v.to_str().unwrap());
                assert!(acceptable.contains(&got), "{path} with {accept:?}: got {got}");
                if got == "identity" {
                    assert_eq!(body, identity, "{path} with {accept:?}");
                } else {
                    assert_eq!(decode(got, &body), identity, "{path} {got} decodes to the identity bytes");
                    assert_ne!(header(&headers, "etag"), header(&plain_headers, "etag"), "one etag per variant");
                }
            }
        }
        // The pages this blog is about do compress, in the client's order
        // of preference, and br first when the client has none.
        for (accept, want) in [("gzip, br", "br"), ("gzip;q=1, br;q=0.5", "gzip"), ("br;q=0, gzip", "gzip")] {
            let (_, headers, _) = fetch(&client, get_with("/", &[("accept-encoding", accept)])).await;
            assert_eq!(header(&headers, "content-encoding"), want, "{accept}");
        }
    });
}

#[test]
fn conditional_requests_get_304() {
    let server = Server::start(&[]);
    within(async {
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        for path in ["/", "/about", "/feed.xml"] {
            for accept in ["identity", "br"] {
                let ae = ("accept-encoding", accept);
                let (_, headers, _) = fetch(&client, get_with(path, &[ae])).await;
                let etag = header(&headers, "etag").to_string();
                let modified = header(&headers, "last-modified").to_string();

                for inm in [etag.clone(), format!("W/{etag}"), format!("\"nope\", {etag}"), "*".to_string()] {
                    let (status, h, body) = fetch(&client, get_with(path, &[ae, ("if-none-match", &inm)])).await;
                    assert_eq!(status, StatusCode::NOT_MODIFIED, "{path} {accept} If-None-Match: {inm}");
                    assert!(body.is_empty());
                    assert_eq!(header(&h, "etag"), etag);
                    assert!(h.get("cache-control").is_some());
                    assert!(h.get("content-length").is_none());
                }
                let (status, h, body) = fetch(&client, get_with(path, &[ae, ("if-none-match", "\"other\"")])).await;
                assert_eq!(status, StatusCode::OK);
                assert_eq!(h.get("content-length").unwrap().to_str().unwrap(), body.len().to_string());

                let (status, _, _) = fetch(&client, get_with(path, &[ae, ("if-modified-since", &modified)])).await;
                assert_eq!(status, StatusCode::NOT_MODIFIED, "{path} If-Modified-Since: {modified}");
                let before = "Sat, 01 Jan 2000 00:00:00 GMT";
                let (status, _, _) = fetch(&client, get_with(path, &[ae, ("if-modified-since", before)])).await;
                assert_eq!(status, StatusCode::OK);
                let (status, _, _) = fetch(&client, get_with(path, &[ae, ("if-modified-since", "yesterday")])).await;
                assert_eq!(status, StatusCode::OK, "an invalid date is ignored");
                // RFC 9110 §13.1.3: If-None-Match takes precedence.
                let both = [ae, ("if-none-match", "\"other\""), ("if-modified-since", &modified)];
                let (status, _, _) = fetch(&client, get_with(path, &both)).await;
                assert_eq!(status, StatusCode::OK);
            }
        }
        // A browser's revalidation of a different variant does not match.
        let (_, headers, _) = fetch(&client, get_with("/", &[("accept-encoding", "identity")])).await;
        let identity_etag = header(&headers, "etag").to_string();
        let (status, _, _) =
            fetch(&client, get_with("/", &[("accept-encoding", "br"), ("if-none-match", &identity_etag)])).await;
        assert_eq!(status, StatusCode::OK);
    });
}

/// Waits for a stderr line containing `needle`.
fn wait_line(server: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.stderr.recv_timeout(left).unwrap_or_else(|_| panic!("no line with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    }
}

fn sighup(server: &Server) {
    let ok = std::process::Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
    assert!(ok.success());
}

#[test]
fn sighup_picks_up_an_edit_and_survives_a_broken_one() {
    let server = Server::start(&[]);
    let content = server.content.as_ref().unwrap().0.clone();
    let post = &posts(&content)[0];
    let file = content.join("posts").join(format!("{}.md", post.slug));
    let path = format!("/posts/{}", post.slug);
    within(async {
        // One connection opened before the reload and used after it: a
        // reload drops no connection.
        let client = connect_tls(&server, h2::client::Builder::new()).await;
        let (status, _, before) = fetch(&client, request("GET", &path)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!String::from_utf8_lossy(&before).contains("Reloaded title"));

        let text = std::fs::read_to_string(&file).unwrap();
        let edited = text.replacen(&format!("title: {}", post.title), "title: Reloaded title", 1);
        assert_ne!(edited, text);
        std::fs::write(&file, &edited).unwrap();
        sighup(&server);
        wait_line(&server, "reloaded");
        let (status, _, after) = fetch(&client, request("GET", &path)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&after).contains("Reloaded title"));

        // A broken edit: reported with the file name; the old site stays.
        std::fs::write(&file, "no front matter here\n").unwrap();
        sighup(&server);
        let line = wait_line(&server, "SIGHUP");
        assert!(line.contains(&format!("{}.md", post.slug)), "{line}");
        assert!(line.contains("previous site"), "{line}");
        let (status, _, still) = fetch(&client, request("GET", &path)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(still, after);
    });
}
