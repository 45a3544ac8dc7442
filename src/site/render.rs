//! Turns loaded [`Content`] into every [`Page`] the site serves.
//!
//! Rendering cannot fail: [`super::content::load`] has validated all of
//! it. The stylesheet and the favicon are part of the binary; the
//! stylesheet's URL carries a hash of its bytes so it can be cached for a
//! year (see [`CachePolicy::Immutable`]).

use std::time::SystemTime;

use bytes::Bytes;
use ring::digest;

use super::content::{Content, Post};
use super::markdown::{self, Anchors};
use super::templates::{self, Site};
use super::{CachePolicy, Page, RenderedSite, feed};

const CSS: &str = include_str!("assets/style.css");
const HTML: &str = "text/html; charset=utf-8";

pub fn render(content: &Content) -> RenderedSite {
    let stylesheet = stylesheet_path(CSS);
    let site = Site { meta: &content.meta, stylesheet: &stylesheet };
    let page = |path: String, content_type, body: String, last_modified, cache| Page {
        path,
        content_type,
        body: Bytes::from(body),
        last_modified,
        cache,
    };
    // The index, feed and sitemap list every post (and the sitemap dates
    // the about page), so they change whenever any of those files does.
    let listing_modified = content.posts.iter().map(|p| p.modified).fold(content.about.modified, SystemTime::max);

    let mut pages = Vec::with_capacity(content.posts.len() + content.statics.len() + 8);
    pages.push(page("/".into(), HTML, templates::index(&site, &content.posts), listing_modified, CachePolicy::Html));

    let by_date = content.posts_by_date();
    for (i, post) in by_date.iter().enumerate() {
        let newer = i.checked_sub(1).map(|j| by_date[j]);
        let older = by_date.get(i + 1).copied();
        let body = markdown::to_html(&post.markdown, Anchors::SelfLinks);
        let html = templates::post(&site, post, &body, newer, older);
        // The page shows its neighbours' titles too.
        let modified =
            [newer, older].into_iter().flatten().map(|p: &Post| p.modified).fold(post.modified, SystemTime::max);
        pages.push(page(templates::post_path(post), HTML, html, modified, CachePolicy::Html));
    }

    let about = &content.about;
    let body = markdown::to_html(&about.markdown, Anchors::SelfLinks);
    pages.push(page("/about".into(), HTML, templates::about(&site, about, &body), about.modified, CachePolicy::Html));

    let machine = [
        ("/feed.xml", "application/atom+xml; charset=utf-8", feed::atom(content), listing_modified),
        ("/sitemap.xml", "application/xml; charset=utf-8", feed::sitemap(content), listing_modified),
        ("/robots.txt", "text/plain; charset=utf-8", feed::robots(content), content.modified),
    ];
    for (path, content_type, body, modified) in machine {
        pages.push(page(path.into(), content_type, body, modified, CachePolicy::Feed));
    }

    pages.push(Page {
        path: stylesheet.clone(),
        content_type: "text/css; charset=utf-8",
        body: Bytes::from_static(CSS.as_bytes()),
        last_modified: content.modified,
        cache: CachePolicy::Immutable,
    });
    pages.push(Page {
        path: "/favicon.ico".into(),
        content_type: "image/x-icon",
        body: Bytes::from(favicon()),
        last_modified: content.modified,
        cache: CachePolicy::Asset,
    });
    for file in &content.statics {
        pages.push(Page {
            path: format!("/static/{}", file.name),
            content_type: static_type(&file.name),
            body: Bytes::from(file.body.clone()),
            last_modified: file.modified,
            cache: CachePolicy::Asset,
        });
    }

    let not_found = page(String::new(), HTML, templates::not_found(&site), content.modified, CachePolicy::NotFound);
    RenderedSite { pages, not_found }
}

/// `/style.<first 10 hex digits of SHA-256(css)>.css`: 40 bits, so two
/// different stylesheets sharing a URL is not a concern.
pub fn stylesheet_path(css: &str) -> String {
    let hash = digest::digest(&digest::SHA256, css.as_bytes());
    let hex: String = hash.as_ref()[..5].iter().map(|b| format!("{b:02x}")).collect();
    format!("/style.{hex}.css")
}

/// By extension, case-insensitively; unknown types are served as opaque
/// bytes so that browsers download rather than guess (the HTTP side also
/// sends `x-content-type-options: nosniff`).
fn static_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8", // RFC 9239
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "pdf" => "application/pdf",
        "json" => "application/json", // RFC 8259 §11: no charset parameter
        "xml" => "application/xml; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The site's mark, drawn at start-up: a terminal prompt `>_` in cyan on a
/// dark rounded square, at 16×16 and 32×32.
///
/// An ICO file (the format every browser accepts for `/favicon.ico`) is a
/// 6-byte ICONDIR, one 16-byte ICONDIRENTRY per image, then each image as
/// a BMP without its file header: a BITMAPINFOHEADER whose height counts
/// the colour rows and the AND-mask rows, the 32-bit BGRA rows bottom-up,
/// and the 1-bit AND mask (rows padded to 4 bytes).
pub fn favicon() -> Vec<u8> {
    let sizes = [16u32, 32];
    let images: Vec<Vec<u8>> = sizes.iter().map(|&s| icon_bmp(s)).collect();
    let mut ico = Vec::new();
    ico.extend_from_slice(&[0, 0, 1, 0]); // reserved, type 1 = icon
    ico.extend_from_slice(&(sizes.len() as u16).to_le_bytes());
    let mut offset = 6 + 16 * sizes.len() as u32;
    for (&size, image) in sizes.iter().zip(&images) {
        ico.extend_from_slice(&[size as u8, size as u8, 0, 0]); // width, height, no palette, reserved
        ico.extend_from_slice(&1u16.to_le_bytes()); // colour planes
        ico.extend_from_slice(&32u16.to_le_bytes()); // bits per pixel
        ico.extend_from_slice(&(image.len() as u32).to_le_bytes());
        ico.extend_from_slice(&offset.to_le_bytes());
        offset += image.len() as u32;
    }
    images.iter().for_each(|image| ico.extend_from_slice(image));
    ico
}

fn icon_bmp(size: u32) -> Vec<u8> {
    let mask_row = size.div_ceil(32) * 4;
    let mut bmp = Vec::with_capacity((40 + size * size * 4 + mask_row * size) as usize);
    for v in [40, size, 2 * size] {
        bmp.extend_from_slice(&v.to_le_bytes()); // header size, width, height (colour + mask)
    }
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&32u16.to_le_bytes());
    for v in [0, size * size * 4, 0, 0, 0, 0] {
        bmp.extend_from_slice(&v.to_le_bytes()); // BI_RGB, image size, resolution x/y, palette
    }
    let pixels: Vec<[u8; 4]> = (0..size * size).map(|i| shade(i % size, i / size, size)).collect();
    for y in (0..size).rev() {
        for x in 0..size {
            let [r, g, b, a] = pixels[(y * size + x) as usize];
            bmp.extend_from_slice(&[b, g, r, a]);
        }
    }
    // The mask marks fully transparent pixels, for readers that ignore alpha.
    for y in (0..size).rev() {
        let mut row = vec![0u8; mask_row as usize];
        for x in 0..size {
            if pixels[(y * size + x) as usize][3] == 0 {
                row[(x / 8) as usize] |= 0x80 >> (x % 8);
            }
        }
        bmp.extend_from_slice(&row);
    }
    bmp
}

/// One pixel (top-down coordinates) of the mark, drawn on a 32-unit canvas
/// and antialiased with 4×4 samples; returns straight (not premultiplied)
/// RGBA, as BMP alpha is.
fn shade(x: u32, y: u32, size: u32) -> [u8; 4] {
    const BACKGROUND: [f32; 3] = [15.0, 23.0, 42.0];
    const INK: [f32; 3] = [103.0, 232.0, 249.0];
    // Placed so that at 32×32 the underscore covers whole pixel rows.
    let strokes = [((8.5, 8.5), (15.5, 15.5)), ((15.5, 15.5), (8.5, 22.5)), ((18.5, 22.5), (24.5, 22.5))];
    let half_width = if size <= 16 { 2.0 } else { 1.5 }; // thicker when small, so it stays legible
    let (mut rgb, mut alpha) = ([0f32; 3], 0f32);
    for sy in 0..4 {
        for sx in 0..4 {
            let px = (x as f32 + (sx as f32 + 0.5) / 4.0) * 32.0 / size as f32;
            let py = (y as f32 + (sy as f32 + 0.5) / 4.0) * 32.0 / size as f32;
            if !in_rounded_square(px, py) {
                continue;
            }
            let ink = strokes.iter().any(|&(a, b)| segment_distance((px, py), a, b) <= half_width);
            let colour = if ink { INK } else { BACKGROUND };
            (0..3).for_each(|c| rgb[c] += colour[c]);
            alpha += 1.0;
        }
    }
    if alpha == 0.0 {
        return [0; 4];
    }
    let channel = |c: usize| (rgb[c] / alpha).round() as u8;
    [channel(0), channel(1), channel(2), (alpha / 16.0 * 255.0).round() as u8]
}

fn in_rounded_square(x: f32, y: f32) -> bool {
    const RADIUS: f32 = 7.0;
    let qx = ((x - 16.0).abs() - (16.0 - RADIUS)).max(0.0);
    let qy = ((y - 16.0).abs() - (16.0 - RADIUS)).max(0.0);
    qx * qx + qy * qy <= RADIUS * RADIUS
}

fn segment_distance(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let t = (((p.0 - a.0) * abx + (p.1 - a.1) * aby) / (abx * abx + aby * aby)).clamp(0.0, 1.0);
    let (dx, dy) = (p.0 - a.0 - t * abx, p.1 - a.1 - t * aby);
    (dx * dx + dy * dy).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::content::{load, tests::fixture};

    fn find<'a>(site: &'a RenderedSite, path: &str) -> &'a Page {
        site.pages.iter().find(|p| p.path == path).unwrap_or_else(|| panic!("no page {path}"))
    }

    fn text(page: &Page) -> &str {
        std::str::from_utf8(&page.body).unwrap()
    }

    #[test]
    fn renders_every_page() {
        let t = fixture("render");
        t.write("static/Notes.PDF", "%PDF");
        let content = load(&t.0).unwrap();
        let site = render(&content);
        let mut paths: Vec<&str> = site.pages.iter().map(|p| p.path.as_str()).collect();
        paths.sort();
        let css = stylesheet_path(CSS);
        let mut want = vec![
            "/",
            "/about",
            "/favicon.ico",
            "/feed.xml",
            "/posts/new",
            "/posts/old",
            "/posts/pin",
            "/robots.txt",
            "/sitemap.xml",
            "/static/Notes.PDF",
            &css,
        ];
        want.sort();
        assert_eq!(paths, want);

        let index = find(&site, "/");
        assert_eq!((index.content_type, index.cache), (HTML, CachePolicy::Html));
        let html = text(index);
        let order: Vec<usize> =
            ["/posts/pin\"", "/posts/new\"", "/posts/old\""].iter().map(|p| html.find(p).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "pinned first, then newest: {order:?}");
        assert!(html.contains(&format!("href=\"{css}\"")));

        let new = find(&site, "/posts/new");
        let post = content.posts.iter().find(|p| p.slug == "new").unwrap();
        assert!(new.last_modified >= post.modified);
        // Newer/older go by date: "new" (2026) is the newest, "old" (2025) next.
        assert!(
            text(new).contains("<a class=\"older\" href=\"/posts/old\">") && !text(new).contains("class=\"newer\"")
        );

        assert_eq!(find(&site, "/feed.xml").content_type, "application/atom+xml; charset=utf-8");
        assert_eq!(find(&site, &css).cache, CachePolicy::Immutable);
        assert_eq!(find(&site, "/static/Notes.PDF").content_type, "application/pdf");
        assert_eq!(find(&site, "/favicon.ico").cache, CachePolicy::Asset);
        assert_eq!((site.not_found.path.as_str(), site.not_found.cache), ("", CachePolicy::NotFound));
        assert!(text(&site.not_found).contains("href=\"/\""));
    }

    #[test]
    fn stylesheet_path_is_a_content_hash() {
        let path = stylesheet_path(CSS);
        let hash = path.strip_prefix("/style.").and_then(|p| p.strip_suffix(".css")).unwrap();
        assert!(hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{path}");
        assert_ne!(stylesheet_path("a{}"), stylesheet_path("a{ }"));
        // SHA-256("abc") = ba7816bf8f01cfea…
        assert_eq!(stylesheet_path("abc"), "/style.ba7816bf8f.css");
    }

    #[test]
    fn favicon_is_an_ico_with_two_images() {
        let ico = favicon();
        assert_eq!(&ico[..6], &[0, 0, 1, 0, 2, 0]);
        let mut end = 0;
        for (i, size) in [16u32, 32].into_iter().enumerate() {
            let entry = &ico[6 + 16 * i..6 + 16 * (i + 1)];
            assert_eq!((u32::from(entry[0]), u32::from(entry[1])), (size, size));
            let len = u32::from_le_bytes(entry[8..12].try_into().unwrap()) as usize;
            let at = u32::from_le_bytes(entry[12..16].try_into().unwrap()) as usize;
            assert_eq!(len, 40 + (size * size * 4) as usize + (size.div_ceil(32) * 4 * size) as usize);
            assert_eq!(&ico[at..at + 4], &40u32.to_le_bytes());
            assert_eq!(&ico[at + 8..at + 12], &(2 * size).to_le_bytes());
            end = at + len;
        }
        assert_eq!(end, ico.len());
        // Corners are transparent (rounded), the centre of the chevron is ink.
        assert_eq!(shade(0, 0, 32)[3], 0);
        assert_eq!(shade(15, 15, 32), [103, 232, 249, 255]);
        assert_eq!(shade(16, 4, 32), [15, 23, 42, 255]);
    }

    #[test]
    fn static_types() {
        assert_eq!(static_type("a.SVG"), "image/svg+xml");
        assert_eq!(static_type("a.tar.gz"), "application/octet-stream");
        assert_eq!(static_type("README"), "application/octet-stream");
    }
}
