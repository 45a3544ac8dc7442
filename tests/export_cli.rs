//! `h2ring export DIR` through the real binary: the files other servers
//! serve in the benchmark are the bytes h2ring serves.

mod server;

use std::process::Command;

use server::{BIN, TempDir, test_content};

#[test]
fn export_writes_the_site_and_its_variants() {
    let content = test_content();
    let out = TempDir::new("export");
    let run = Command::new(BIN).arg("export").arg(&out.0).arg("--content").arg(&content.0).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = String::from_utf8_lossy(&run.stdout);
    assert!(said.starts_with("h2ring: exported ") && said.contains(out.0.to_str().unwrap()), "{said}");
    for file in ["index.html", "index.html.br", "index.html.gz", "about.html", "feed.xml", "404.html", "favicon.ico"] {
        assert!(out.0.join(file).is_file(), "{file}");
    }
    assert_eq!(std::fs::read(out.0.join("static/big.bin")).unwrap(), server::big_body());
    assert!(!out.0.join("static/big.bin.gz").exists(), "binary files get no encoded variant");
    let posts = std::fs::read_dir(content.0.join("posts")).unwrap().count();
    let exported = std::fs::read_dir(out.0.join("posts"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "html"));
    assert_eq!(exported.count(), posts);
}

#[test]
fn export_mistakes_are_one_line() {
    for args in [&["export"][..], &["export", "/tmp/x", "--content", "/nonexistent/content"]] {
        let run = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(run.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
