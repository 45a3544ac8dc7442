//! The blog as a [`Handler`]: an immutable [`Site`] built once from a
//! [`RenderedSite`], answering each request with a map lookup and prebuilt
//! fields. Nothing on the 200, 304 or 404 paths allocates: bodies are
//! refcounted `Bytes`, header fields are borrowed from the site.

mod route_hash;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use bytes::Bytes;
use route_hash::RouteHash;

use super::conditional::{self, Validators};
use super::resource::{Resource, SITE_FIELDS};
use super::{Page, RenderedSite};
use crate::h2::conn::Method;
use crate::server::{Handler, Response, ResponseField};

/// The site is read-only (RFC 9110 §9.1: these are the methods it implements).
const ALLOW: &[u8] = b"GET, HEAD, OPTIONS";
const NOT_ALLOWED_BODY: &[u8] = b"405 Method Not Allowed: this site is read-only.\n";

/// Longest path (after the query is cut) that gets percent-normalized;
/// longer ones are looked up as sent. Kept on the stack.
const MAX_NORMALIZED: usize = 1024;

pub use crate::server::Query;

struct Routed {
    path: Box<str>,
    resource: Resource,
    /// The 308 that sends `<path>/` (and `/index.html` for `/`) here.
    redirect: Box<[ResponseField]>,
}

/// The whole blog, ready to serve.
pub struct Site {
    /// Normalized path → index in `entries`. Built once and only read:
    /// see `route_hash` for why it need not be SipHash.
    routes: HashMap<Box<[u8]>, usize, RouteHash>,
    entries: Vec<Routed>,
    not_found: Resource,
    options: Box<[ResponseField]>,
    not_allowed: Box<[ResponseField]>,
}

enum Route {
    Page(usize),
    Redirect(usize),
    NotFound,
}

impl Site {
    /// Compresses every page and prebuilds every header field. Pages with
    /// a path already taken are dropped (the first one wins).
    pub fn build(rendered: RenderedSite) -> Site {
        let mut routes = HashMap::with_capacity_and_hasher(rendered.pages.len(), RouteHash::new());
        let mut unique = Vec::with_capacity(rendered.pages.len());
        for page in rendered.pages {
            let mut buf = [0; MAX_NORMALIZED];
            let key: Box<[u8]> = normalize(page.path.as_bytes(), &mut buf).into();
            if let Entry::Vacant(slot) = routes.entry(key) {
                slot.insert(unique.len());
                unique.push(page);
            }
        }
        let entries = unique
            .iter()
            .zip(compress_all(&unique))
            .map(|(page, resource)| Routed {
                path: page.path.as_str().into(),
                resource,
                redirect: site_fields([ResponseField::new(b"location", Bytes::from(page.path.clone()))]),
            })
            .collect();
        let allow = ResponseField::from_static(b"allow", ALLOW);
        Site {
            routes,
            entries,
            not_found: Resource::not_found(&rendered.not_found),
            options: site_fields([allow.clone()]),
            not_allowed: site_fields([
                allow,
                ResponseField::from_static(b"content-type", b"text/plain; charset=utf-8"),
            ]),
        }
    }

    /// Every page by path, in the order rendered (not the 404 page).
    pub fn resources(&self) -> impl Iterator<Item = (&str, &Resource)> {
        self.entries.iter().map(|e| (&*e.path, &e.resource))
    }

    /// The page served with 404.
    pub fn not_found(&self) -> &Resource {
        &self.not_found
    }

    /// The answer to one request, independent of the transport.
    pub fn answer<'a>(&'a self, q: &Query<'_>) -> Response<'a> {
        match q.method {
            Method::Get | Method::Head => {}
            // RFC 9110 §9.3.7: OPTIONS (on a path or on `*`) lists the methods.
            Method::Options => {
                return Response { status: 204, headers: &self.options, content_length: None, body: Bytes::new() };
            }
            _ => return self.not_allowed(),
        }
        // `*` only means something to OPTIONS (RFC 9110 §7.1).
        if q.path == b"*" {
            return self.not_allowed();
        }
        match self.route(target_path(q.path)) {
            Route::Page(i) => self.serve(&self.entries[i].resource, q, true),
            // RFC 9110 §15.4.9: permanent, and the method is kept. The query
            // is dropped (see `Routed::redirect`): it selects nothing here.
            Route::Redirect(i) => Response {
                status: 308,
                headers: &self.entries[i].redirect,
                content_length: Some(0),
                body: Bytes::new(),
            },
            // §13.2.1: preconditions are ignored when the answer is not 2xx.
            Route::NotFound => self.serve(&self.not_found, q, false),
        }
    }

    fn not_allowed(&self) -> Response<'_> {
        // RFC 9110 §15.5.6: a 405 carries `allow`.
        Response {
            status: 405,
            headers: &self.not_allowed,
            content_length: Some(NOT_ALLOWED_BODY.len() as u64),
            body: Bytes::from_static(NOT_ALLOWED_BODY),
        }
    }

    fn serve<'a>(&'a self, r: &'a Resource, q: &Query<'_>, conditional: bool) -> Response<'a> {
        let v = r.select(q.accept_encoding);
        let validators = Validators { if_none_match: q.if_none_match, if_modified_since: q.if_modified_since };
        if conditional && conditional::not_modified(q.method, validators, v.etag(), r.last_modified_secs()) {
            // RFC 9110 §15.4.5: no content, so no content-length either.
            return Response {
                status: 304,
                headers: v.not_modified_fields(),
                content_length: None,
                body: Bytes::new(),
            };
        }
        // RFC 9110 §9.3.2: HEAD gets the GET fields (and length), no body.
        let body = if q.method == Method::Head { Bytes::new() } else { v.body().clone() };
        Response { status: r.status(), headers: v.fields(), content_length: Some(v.body().len() as u64), body }
    }

    fn route(&self, path: &[u8]) -> Route {
        let mut buf = [0; MAX_NORMALIZED];
        let key = normalize(path, &mut buf);
        if let Some(&i) = self.routes.get(key) {
            return Route::Page(i);
        }
        // One canonical URL per page: `/about/` and `/index.html` point
        // to `/about` and `/` rather than serving duplicates.
        // (`//` is not `/` with a trailing slash: the root has its slash.)
        let canonical =
            if key == b"/index.html" { Some(&b"/"[..]) } else { key.strip_suffix(b"/").filter(|c| c.len() > 1) };
        match canonical.and_then(|c| self.routes.get(c)) {
            Some(&i) => Route::Redirect(i),
            None => Route::NotFound,
        }
    }
}

impl Handler for Site {
    fn respond<'a>(&'a self, request: &Query<'_>) -> Response<'a> {
        self.answer(request)
    }
}

/// [`Resource::new`] for every page, on all cores: brotli at quality 11
/// takes tens of milliseconds per page, and a reload should not take
/// seconds.
fn compress_all(pages: &[Page]) -> Vec<Resource> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = pages.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> =
            pages.chunks(per_thread).map(|c| s.spawn(|| c.iter().map(Resource::new).collect::<Vec<_>>())).collect();
        // A panic in a compressor is a bug; pass it on unchanged.
        parts.into_iter().flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// `fields` followed by the site-wide ones.
fn site_fields<const N: usize>(fields: [ResponseField; N]) -> Box<[ResponseField]> {
    fields.into_iter().chain(SITE_FIELDS).collect()
}

/// The path part of an origin-form target: without `?query` (RFC 9110
/// §7.1) or a `#fragment` (never sent by conforming clients, §7.1 too).
fn target_path(target: &[u8]) -> &[u8] {
    let end = target.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(target.len());
    &target[..end]
}

/// RFC 3986 §6.2.2.1–§6.2.2.2 normalization for lookup: `%XX` of an
/// unreserved character becomes the character, other escapes get upper
/// case hex (so `%c3%a9` finds `%C3%A9`). Reserved escapes such as `%2F`
/// stay escaped: decoding them would change the path's structure. Malformed
/// escapes are kept literally. Pages' paths go through the same function.
fn normalize<'b>(path: &'b [u8], buf: &'b mut [u8; MAX_NORMALIZED]) -> &'b [u8] {
    if !path.contains(&b'%') || path.len() > buf.len() {
        return path;
    }
    let (mut i, mut n) = (0, 0);
    // The output is never longer than the input, so `n <= i` keeps every
    // write inside `buf`.
    while i < path.len() {
        let escape = match path.get(i..i + 3) {
            Some(&[b'%', h, l]) => hex(h).zip(hex(l)),
            _ => None,
        };
        let Some((h, l)) = escape else {
            buf[n] = path[i];
            (n, i) = (n + 1, i + 1);
            continue;
        };
        let c = h << 4 | l;
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            buf[n] = c;
            n += 1;
        } else {
            buf[n..n + 3].copy_from_slice(&[b'%', HEX_UPPER[usize::from(h)], HEX_UPPER[usize::from(l)]]);
            n += 3;
        }
        i += 3;
    }
    &buf[..n]
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::h2::conn::RequestHead;
    use crate::site::CachePolicy;
    use crate::site::resource::Encoding;
    use crate::site::resource::tests::{field, html_body, page};

    const HTML: &str = "text/html; charset=utf-8";
    const NOT_FOUND_HTML: &str = "<!doctype html><title>Not found</title><p>Nothing here. <a href=\"/\">Home</a>. \
                                  Nothing here at all, really nothing, not a thing.</p>\n";

    fn site() -> Site {
        let big: Bytes = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let css = Bytes::from("body { margin: 0 auto; max-width: 40em; }\n".repeat(40));
        Site::build(RenderedSite {
            pages: vec![
                page("/", HTML, html_body(), CachePolicy::Html),
                page("/about", HTML, Bytes::from_static(b"<p>About me</p>"), CachePolicy::Html),
                page("/posts/hello", HTML, html_body(), CachePolicy::Html),
                page("/style.0123abcd.css", "text/css; charset=utf-8", css, CachePolicy::Immutable),
                page("/big", "application/octet-stream", big, CachePolicy::Asset),
                page("/caf%c3%a9", HTML, Bytes::from_static("<p>café</p>".as_bytes()), CachePolicy::Html),
                page("/about", HTML, Bytes::from_static(b"duplicate"), CachePolicy::Html),
            ],
            not_found: page("", HTML, Bytes::from_static(NOT_FOUND_HTML.as_bytes()), CachePolicy::NotFound),
        })
    }

    fn query(method: Method, path: &str) -> Query<'_> {
        Query { method, path: path.as_bytes(), accept_encoding: None, if_none_match: None, if_modified_since: None }
    }

    fn get(path: &str) -> Query<'_> {
        query(Method::Get, path)
    }

    fn with_ae<'q>(path: &'q str, ae: &'q str) -> Query<'q> {
        Query { accept_encoding: Some(ae.as_bytes()), ..get(path) }
    }

    fn hdr<'a>(r: &Response<'a>, name: &str) -> Option<&'a str> {
        field(r.headers, name)
    }

    #[test]
    fn serves_pages_with_negotiated_variants() {
        let s = site();
        let r = s.answer(&get("/posts/hello"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, html_body());
        assert_eq!(r.content_length, Some(r.body.len() as u64));
        assert_eq!(hdr(&r, "content-encoding"), None);
        assert_eq!(hdr(&r, "vary"), Some("accept-encoding"));

        let r = s.answer(&with_ae("/posts/hello", "gzip, deflate, br, zstd"));
        assert_eq!(hdr(&r, "content-encoding"), Some("br"));
        assert_eq!(r.content_length, Some(r.body.len() as u64));
        let mut out = Vec::new();
        brotli::Decompressor::new(&r.body[..], 4096).read_to_end(&mut out).unwrap();
        assert_eq!(out, html_body());

        let r = s.answer(&with_ae("/posts/hello", "br;q=0, gzip"));
        assert_eq!(hdr(&r, "content-encoding"), Some("gzip"));
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&r.body[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, html_body());

        let r = s.answer(&get("/style.0123abcd.css"));
        assert_eq!(hdr(&r, "cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(hdr(&r, "content-type"), Some("text/css; charset=utf-8"));
    }

    #[test]
    fn the_body_is_shared_not_copied() {
        let s = site();
        let a = s.answer(&with_ae("/", "br"));
        let b = s.answer(&with_ae("/", "br"));
        assert_eq!(a.body.as_ptr(), b.body.as_ptr());
        assert_eq!(a.headers.as_ptr(), b.headers.as_ptr());
    }

    #[test]
    fn octet_stream_is_never_encoded() {
        let s = site();
        let r = s.answer(&with_ae("/big", "br, gzip"));
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 50_000);
        assert_eq!(hdr(&r, "content-encoding"), None);
        assert_eq!(hdr(&r, "vary"), None);
        let (_, big) = s.resources().find(|(p, _)| *p == "/big").unwrap();
        assert_eq!(big.variants().count(), 1);
    }

    #[test]
    fn head_has_the_length_and_no_body() {
        let s = site();
        for (path, status) in [("/", 200), ("/nowhere", 404)] {
            let g = s.answer(&with_ae(path, "gzip"));
            let h = s.answer(&Query { method: Method::Head, ..with_ae(path, "gzip") });
            assert_eq!((g.status, h.status), (status, status));
            assert!(h.body.is_empty());
            assert_eq!(h.content_length, g.content_length);
            assert_eq!(h.content_length, Some(g.body.len() as u64));
            assert_eq!(h.headers.as_ptr(), g.headers.as_ptr(), "the same fields");
        }
    }

    #[test]
    fn if_none_match_gives_304() {
        let s = site();
        let full = s.answer(&with_ae("/", "br"));
        let etag = hdr(&full, "etag").unwrap();
        let weak = format!("W/{etag}");
        let list = format!("\"nope\", {etag}");
        for inm in [etag, &weak, &list, "*"] {
            for method in [Method::Get, Method::Head] {
                let q = Query { method, if_none_match: Some(inm.as_bytes()), ..with_ae("/", "br") };
                let r = s.answer(&q);
                assert_eq!(r.status, 304, "{inm}");
                assert_eq!(r.content_length, None);
                assert!(r.body.is_empty());
                assert_eq!(hdr(&r, "etag"), Some(etag));
                assert_eq!(hdr(&r, "vary"), Some("accept-encoding"));
                assert_eq!(hdr(&r, "content-type"), None);
                assert_eq!(hdr(&r, "content-encoding"), None);
            }
        }
        // The identity variant's tag does not validate the br variant.
        let identity = s.answer(&get("/"));
        let q = Query { if_none_match: Some(hdr(&identity, "etag").unwrap().as_bytes()), ..with_ae("/", "br") };
        assert_eq!(s.answer(&q).status, 200);
        let q = Query { if_none_match: Some(b"\"other\""), ..with_ae("/", "br") };
        assert_eq!(s.answer(&q).status, 200);
    }

    #[test]
    fn if_modified_since() {
        let s = site();
        let modified = hdr(&s.answer(&get("/about")), "last-modified").unwrap();
        assert_eq!(modified, "Mon, 01 Jan 2024 00:00:00 GMT");
        let ims = |v: &'static str, inm: Option<&'static str>| {
            let q =
                Query { if_modified_since: Some(v.as_bytes()), if_none_match: inm.map(str::as_bytes), ..get("/about") };
            s.answer(&q).status
        };
        assert_eq!(ims("Mon, 01 Jan 2024 00:00:00 GMT", None), 304);
        assert_eq!(ims("Tue, 02 Jan 2024 00:00:00 GMT", None), 304);
        assert_eq!(ims("Sat, 01 Jan 2000 00:00:00 GMT", None), 200);
        assert_eq!(ims("yesterday", None), 200);
        assert_eq!(ims("Mon, 01 Jan 2024 00:00:00 GMT", Some("\"other\"")), 200, "If-None-Match wins");
    }

    #[test]
    fn not_found_is_served_negotiated_and_unconditionally() {
        let s = site();
        let r = s.answer(&get("/no/such/page"));
        assert_eq!(r.status, 404);
        assert!(std::str::from_utf8(&r.body).unwrap().contains("href=\"/\""));
        assert_eq!(hdr(&r, "content-type"), Some(HTML));
        assert_eq!(hdr(&r, "cache-control"), Some("public, max-age=60"));
        assert_eq!(s.answer(&Query { if_none_match: Some(b"*"), ..get("/nope") }).status, 404);
        // Paths are case-sensitive (RFC 3986 §6.2.2.1).
        assert_eq!(s.answer(&get("/About")).status, 404);
        assert_eq!(s.answer(&get("")).status, 404);
    }

    #[test]
    fn methods() {
        let s = site();
        for method in
            [Method::Post, Method::Put, Method::Delete, Method::Patch, Method::Trace, Method::Connect, Method::Other]
        {
            for path in ["/", "/nope", "*", ""] {
                let r = s.answer(&query(method, path));
                assert_eq!(r.status, 405, "{method:?} {path}");
                assert_eq!(hdr(&r, "allow"), Some("GET, HEAD, OPTIONS"));
                assert_eq!(r.content_length, Some(r.body.len() as u64));
            }
        }
        for path in ["*", "/", "/nope"] {
            let r = s.answer(&query(Method::Options, path));
            assert_eq!(r.status, 204);
            assert_eq!(hdr(&r, "allow"), Some("GET, HEAD, OPTIONS"));
            // RFC 9110 §8.6: never a content-length on 204.
            assert_eq!(r.content_length, None);
            assert!(r.body.is_empty());
        }
        assert_eq!(s.answer(&get("*")).status, 405);
    }

    #[test]
    fn trailing_slash_and_index_redirect() {
        let s = site();
        for (path, location) in
            [("/about/", "/about"), ("/posts/hello/", "/posts/hello"), ("/index.html", "/"), ("/about/?x=1", "/about")]
        {
            let r = s.answer(&get(path));
            assert_eq!(r.status, 308, "{path}");
            assert_eq!(hdr(&r, "location"), Some(location), "{path}");
            assert_eq!(r.content_length, Some(0));
            let h = s.answer(&query(Method::Head, path));
            assert_eq!(h.status, 308);
        }
        for path in ["/about//", "/nope/", "//", "/posts/", "/posts"] {
            assert_eq!(s.answer(&get(path)).status, 404, "{path}");
        }
        assert_eq!(s.answer(&get("/")).status, 200);
    }

    #[test]
    fn query_and_fragment_are_ignored_for_lookup() {
        let s = site();
        for path in ["/about?x=1", "/about?", "/about#top", "/?utm_source=feed"] {
            assert_eq!(s.answer(&get(path)).status, 200, "{path}");
        }
        assert_eq!(&s.answer(&get("/about?")).body[..], b"<p>About me</p>", "the first page for a path wins");
    }

    #[test]
    fn percent_encoding() {
        let s = site();
        assert_eq!(s.answer(&get("/%61bout")).status, 200);
        assert_eq!(s.answer(&get("/posts%2Fhello")).status, 404, "reserved escapes stay escaped");
        assert_eq!(s.answer(&get("/caf%C3%A9")).status, 200);
        assert_eq!(s.answer(&get("/caf%c3%A9")).status, 200);
        assert_eq!(s.answer(&get("/%61bout%2F")).status, 404);
        for bad in ["/%", "/%4", "/%zz", "/%%41", "/about%"] {
            assert_eq!(s.answer(&get(bad)).status, 404, "{bad}");
        }
        let mut buf = [0; MAX_NORMALIZED];
        assert_eq!(normalize(b"/%7e%41%2f%%4", &mut buf), b"/~A%2F%%4");
    }

    #[test]
    fn resources_lists_each_page_once() {
        let s = site();
        let paths: Vec<&str> = s.resources().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/", "/about", "/posts/hello", "/style.0123abcd.css", "/big", "/caf%c3%a9"]);
        let (_, index) = s.resources().next().unwrap();
        assert_eq!(
            index.variants().map(|v| v.encoding()).collect::<Vec<_>>(),
            [Encoding::Identity, Encoding::Gzip, Encoding::Brotli]
        );
        assert_eq!(s.not_found().status(), 404);
    }

    #[test]
    fn responds_through_the_handler_trait() {
        use crate::h2::conn::request::HeadBuilder;
        use crate::h2::hpack::HeaderField;
        let mut b = HeadBuilder::new(RequestHead::default(), false);
        for (name, value) in [
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/posts/hello?ref=x"),
            ("accept-encoding", "gzip"),
            ("if-modified-since", "Mon, 01 Jan 2024 00:00:00 GMT"),
        ] {
            b.field(HeaderField { name: name.as_bytes(), value: value.as_bytes(), sensitive: false });
        }
        let (head, ok) = b.finish();
        ok.unwrap();
        let s = site();
        let r = s.respond(&Query::from_h2(&head));
        assert_eq!(r.status, 304);
        assert!(hdr(&r, "etag").unwrap().ends_with("-gz\""));
    }

    /// Arbitrary bytes in every field: always an answer, never a panic.
    #[test]
    fn survives_garbage() {
        let s = site();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"/%?#*;,=qW\" \t0123456789abcdefABCDEF.-_~\x00\xff";
        for _ in 0..20_000 {
            let mut fields = [[0u8; 24]; 4];
            let mut lens = [0usize; 4];
            for (f, len) in fields.iter_mut().zip(&mut lens) {
                *len = (next() % 25) as usize;
                for b in &mut f[..*len] {
                    *b = alphabet[(next() % alphabet.len() as u64) as usize];
                }
            }
            let method = [Method::Get, Method::Head, Method::Options, Method::Post][(next() % 4) as usize];
            let q = Query {
                method,
                path: &fields[0][..lens[0]],
                accept_encoding: Some(&fields[1][..lens[1]]),
                if_none_match: Some(&fields[2][..lens[2]]),
                if_modified_since: Some(&fields[3][..lens[3]]),
            };
            let r = s.answer(&q);
            assert!([200, 204, 304, 308, 404, 405].contains(&r.status));
        }
    }
}
