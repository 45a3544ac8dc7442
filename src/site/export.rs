//! `h2ring export DIR`: the rendered site as static files, so other
//! servers (h2o, nginx in the benchmark harness) serve exactly the bytes
//! h2ring serves, precompressed variants included.
//!
//! Layout: `/` → `index.html`, an extension-less path → `PATH.html`
//! (`/about` → `about.html`, `/posts/x` → `posts/x.html`), any other path
//! as it is (`/feed.xml`, `/static/big.bin`), the 404 page → `404.html`.
//! Each encoded variant sits next to its file as `FILE.gz` / `FILE.br`,
//! the convention of nginx's `gzip_static`/`brotli_static` and h2o's
//! `file.send-compressed`.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::handler::Site;
use super::resource::{Encoding, Resource};

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub files: usize,
    pub bytes: u64,
}

/// The file (relative to the export directory) for a request path; `None`
/// for a path that could escape the directory (never produced by the
/// renderer, refused anyway).
pub fn file_for(path: &str) -> Option<PathBuf> {
    let rel = path.strip_prefix('/')?;
    if !rel.is_empty() && rel.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return None;
    }
    let file = if rel.is_empty() {
        "index.html".to_string()
    } else if rel.rsplit('/').next().is_some_and(|last| !last.contains('.')) {
        format!("{rel}.html")
    } else {
        rel.to_string()
    };
    let file = PathBuf::from(file);
    file.components().all(|c| matches!(c, Component::Normal(_))).then_some(file)
}

fn write_resource(dir: &Path, file: &Path, resource: &Resource, summary: &mut ExportSummary) -> io::Result<()> {
    let target = dir.join(file);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    for variant in resource.variants() {
        let mut name = target.clone().into_os_string();
        match variant.encoding() {
            Encoding::Identity => {}
            Encoding::Gzip => name.push(".gz"),
            Encoding::Brotli => name.push(".br"),
        }
        std::fs::write(&name, variant.body())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", Path::new(&name).display())))?;
        summary.files += 1;
        summary.bytes += variant.body().len() as u64;
    }
    Ok(())
}

/// Writes every resource of `site` under `dir` (created if missing;
/// existing files of the same names are replaced, nothing else is
/// touched).
pub fn export(site: &Site, dir: &Path) -> io::Result<ExportSummary> {
    std::fs::create_dir_all(dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut summary = ExportSummary::default();
    for (path, resource) in site.resources() {
        let file = file_for(path)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("cannot export path {path:?}")))?;
        write_resource(dir, &file, resource, &mut summary)?;
    }
    write_resource(dir, Path::new("404.html"), site.not_found(), &mut summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_files_inside_the_directory() {
        assert_eq!(file_for("/"), Some(PathBuf::from("index.html")));
        assert_eq!(file_for("/about"), Some(PathBuf::from("about.html")));
        assert_eq!(file_for("/posts/io-uring-vs-epoll"), Some(PathBuf::from("posts/io-uring-vs-epoll.html")));
        assert_eq!(file_for("/feed.xml"), Some(PathBuf::from("feed.xml")));
        assert_eq!(file_for("/style.0123456789.css"), Some(PathBuf::from("style.0123456789.css")));
        assert_eq!(file_for("/static/big.bin"), Some(PathBuf::from("static/big.bin")));
        assert_eq!(file_for("/../etc/passwd"), None);
        assert_eq!(file_for("/a/./b"), None);
        assert_eq!(file_for("relative"), None);
        assert_eq!(file_for("/a//b"), None);
    }

    #[test]
    fn exports_the_real_content_with_variants() {
        let content = Path::new(env!("CARGO_MANIFEST_DIR")).join("content");
        let (site, _) = crate::site::load(&content).unwrap();
        let dir = std::env::temp_dir().join(format!("h2ring-export-{}", std::process::id()));
        let summary = export(&site, &dir).unwrap();
        let index = std::fs::read(dir.join("index.html")).unwrap();
        assert!(String::from_utf8_lossy(&index).contains("/posts/"));
        for (path, resource) in site.resources() {
            let file = dir.join(file_for(path).unwrap());
            assert_eq!(std::fs::read(&file).unwrap(), resource.identity().body().as_ref(), "{path}");
            if let Some(br) = resource.variant(Encoding::Brotli) {
                let mut name = file.into_os_string();
                name.push(".br");
                assert_eq!(std::fs::read(name).unwrap(), br.body().as_ref(), "{path}.br");
            }
        }
        assert!(dir.join("404.html").exists());
        assert!(summary.files > site.resources().count());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
