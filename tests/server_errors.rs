//! Operator errors: one clear line on stderr and exit status 1.

mod server;

use std::net::TcpListener;

use server::{TempDir, run_failing};

fn one_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got {stderr:?}");
    lines[0]
}

#[test]
fn busy_port() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let certs = TempDir::new("busy");
    let (code, stderr) = run_failing(&["--listen", &addr, "--certs-dir", certs.0.to_str().unwrap()]);
    assert_eq!(code, 1);
    let line = one_line(&stderr);
    assert!(line.contains(&addr) && line.contains("already in use"), "{line}");
}

#[test]
fn bad_address() {
    let (code, stderr) = run_failing(&["--listen", "localhost:99999"]);
    assert_eq!(code, 1);
    assert!(one_line(&stderr).contains("--listen"));
}

#[test]
fn missing_certificate() {
    let (code, stderr) = run_failing(&["--cert", "/nonexistent/cert.pem", "--key", "/nonexistent/key.pem"]);
    assert_eq!(code, 1);
    assert!(one_line(&stderr).contains("/nonexistent/cert.pem"));
}

#[test]
fn key_that_does_not_match_the_certificate() {
    let a = TempDir::new("mismatch-a");
    let b = TempDir::new("mismatch-b");
    let (cert, _) = h2ring::tls::ensure_dev_cert(&a.0).unwrap();
    let (_, other_key) = h2ring::tls::ensure_dev_cert(&b.0).unwrap();
    let (code, stderr) = run_failing(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        other_key.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let line = one_line(&stderr);
    assert!(line.contains("match"), "{line}");
}

#[test]
fn unknown_flag() {
    let (code, stderr) = run_failing(&["--lsten", "127.0.0.1:1"]);
    assert_eq!(code, 1);
    assert!(one_line(&stderr).contains("--lsten"));
}

#[test]
fn help_lists_every_flag_and_exits_zero() {
    let out = std::process::Command::new(server::BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in ["--listen", "--h2c-listen", "--cert", "--key", "--content", "--workers", "--shutdown-grace-ms"] {
        assert!(text.contains(flag), "--help does not mention {flag}");
    }
}

/// Invalid content stops start-up with the file and the reason, before
/// anything listens.
#[test]
fn broken_content_names_the_file() {
    let certs = TempDir::new("content-certs");
    let certs = certs.0.to_str().unwrap().to_string();
    let cases: [(&str, &str, &str); 3] = [
        ("posts/bad-front.md", "no front matter\n", "bad-front.md"),
        ("posts/no-date.md", "---\ntitle: T\nreading_time: 3\nsummary: S\n---\nbody\n", "no-date.md"),
        (
            "posts/bad-date.md",
            "---\ntitle: T\ndate: 2026-02-30\nreading_time: 3\nsummary: S\n---\nbody\n",
            "bad-date.md",
        ),
    ];
    for (file, text, name) in cases {
        let content = server::test_content();
        std::fs::write(content.0.join(file), text).unwrap();
        let dir = content.0.to_str().unwrap();
        let (code, stderr) = run_failing(&["--listen", "127.0.0.1:0", "--certs-dir", &certs, "--content", dir]);
        assert_eq!(code, 1, "{file}: {stderr}");
        let line = one_line(&stderr);
        assert!(line.contains(name), "{line}");
    }
    // An unreadable file: a directory where a post should be.
    let content = server::test_content();
    std::fs::create_dir(content.0.join("posts/a-directory.md")).unwrap();
    let dir = content.0.to_str().unwrap();
    let (code, stderr) = run_failing(&["--listen", "127.0.0.1:0", "--certs-dir", &certs, "--content", dir]);
    assert_eq!(code, 1);
    assert!(one_line(&stderr).contains("a-directory.md"), "{stderr}");
}
