//! One servable resource: a [`Page`] with its precompressed variants and
//! the header fields of every response it can give, all built once so a
//! request costs a lookup and a refcount.

use std::io::Write;
use std::time::SystemTime;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use super::negotiate::{self, Offered};
use super::{CachePolicy, Page};
use crate::server::ResponseField;
use crate::server::httpdate::{format_imf_fixdate, system_time, unix_seconds};

/// Fields every response of the site carries, whatever its status.
pub const SITE_FIELDS: [ResponseField; 4] = [
    // Browsers must not guess a type other than the one we send.
    ResponseField::from_static(b"x-content-type-options", b"nosniff"),
    // The blog has no scripts, no forms and no frames: allow only our
    // stylesheet and images.
    ResponseField::from_static(
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
          frame-ancestors 'none'",
    ),
    ResponseField::from_static(b"referrer-policy", b"strict-origin-when-cross-origin"),
    ResponseField::from_static(b"server", b"h2ring"),
];

/// A content coding we can send (RFC 9110 §8.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The registered token, as sent in `content-encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Brotli => "br",
        }
    }

    /// Different representations need different strong validators (RFC
    /// 9110 §8.8.3.3), so the encoded ones get a suffix.
    fn etag_suffix(self) -> &'static str {
        match self {
            Self::Identity => "",
            Self::Gzip => "-gz",
            Self::Brotli => "-br",
        }
    }
}

/// One representation of a resource: its bytes and its prebuilt fields.
#[derive(Debug)]
pub struct Variant {
    encoding: Encoding,
    body: Bytes,
    etag: Bytes,
    fields: Box<[ResponseField]>,
    not_modified_fields: Box<[ResponseField]>,
}

impl Variant {
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The bytes sent (encoded for the encoded variants).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The entity-tag with its quotes, e.g. `"0123456789abcdef-br"`.
    pub fn etag(&self) -> &[u8] {
        &self.etag
    }

    /// Fields of the full response (200, or 404 for the not-found page).
    pub fn fields(&self) -> &[ResponseField] {
        &self.fields
    }

    /// Fields of a 304 (RFC 9110 §15.4.5): the validators and the fields
    /// that steer caches, no content metadata.
    pub fn not_modified_fields(&self) -> &[ResponseField] {
        &self.not_modified_fields
    }
}

/// A page ready to serve.
#[derive(Debug)]
pub struct Resource {
    status: u16,
    content_type: &'static str,
    cache: CachePolicy,
    last_modified: u64,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

impl Resource {
    /// A page served with 200.
    pub fn new(page: &Page) -> Self {
        Self::build(page, 200)
    }

    /// The page served with 404 for every unknown path.
    pub fn not_found(page: &Page) -> Self {
        Self::build(page, 404)
    }

    fn build(page: &Page, status: u16) -> Self {
        let (gzip, brotli) = if compressible(page.content_type) {
            let smaller = |b: Bytes| (b.len() < page.body.len()).then_some(b);
            (gzip(&page.body).and_then(smaller), brotli(&page.body).and_then(smaller))
        } else {
            (None, None)
        };
        let mut r = Self {
            status,
            content_type: page.content_type,
            cache: page.cache,
            last_modified: unix_seconds(page.last_modified),
            identity: Variant::bare(Encoding::Identity, page.body.clone()),
            gzip: gzip.map(|b| Variant::bare(Encoding::Gzip, b)),
            brotli: brotli.map(|b| Variant::bare(Encoding::Brotli, b)),
        };
        let hash = hash_hex(&page.body);
        let negotiated = r.is_negotiated();
        let last_modified = Bytes::copy_from_slice(&format_imf_fixdate(r.last_modified));
        let (content_type, cache) = (r.content_type, r.cache.cache_control());
        for v in [Some(&mut r.identity), r.gzip.as_mut(), r.brotli.as_mut()].into_iter().flatten() {
            v.etag = Bytes::from(format!("\"{hash}{}\"", v.encoding.etag_suffix()));
            v.fields = v.full_fields(status, content_type, cache, &last_modified, negotiated);
            v.not_modified_fields = v.validator_fields(cache, &last_modified, negotiated);
        }
        r
    }

    /// 200, or 404 for the not-found resource.
    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    pub fn cache_policy(&self) -> CachePolicy {
        self.cache
    }

    /// Whole seconds since the epoch: what `last-modified` says.
    pub fn last_modified_secs(&self) -> u64 {
        self.last_modified
    }

    pub fn last_modified(&self) -> SystemTime {
        system_time(self.last_modified)
    }

    /// Whether responses depend on `accept-encoding` (and so say `vary`).
    pub fn is_negotiated(&self) -> bool {
        self.gzip.is_some() || self.brotli.is_some()
    }

    pub fn identity(&self) -> &Variant {
        &self.identity
    }

    pub fn variant(&self, encoding: Encoding) -> Option<&Variant> {
        match encoding {
            Encoding::Identity => Some(&self.identity),
            Encoding::Gzip => self.gzip.as_ref(),
            Encoding::Brotli => self.brotli.as_ref(),
        }
    }

    /// Identity first, then the encoded variants that exist.
    pub fn variants(&self) -> impl Iterator<Item = &Variant> {
        [Some(&self.identity), self.gzip.as_ref(), self.brotli.as_ref()].into_iter().flatten()
    }

    /// The variant to send for this `accept-encoding` (RFC 9110 §12.5.3).
    pub fn select(&self, accept_encoding: Option<&[u8]>) -> &Variant {
        let offered = Offered { gzip: self.gzip.is_some(), brotli: self.brotli.is_some() };
        let encoding = negotiate::choose(accept_encoding, offered);
        self.variant(encoding).unwrap_or(&self.identity)
    }
}

impl Variant {
    fn bare(encoding: Encoding, body: Bytes) -> Self {
        // A `Bytes` made from a `Vec` may allocate its shared refcount on the
        // first clone; take that clone now rather than in a request.
        let _shared = body.clone();
        Self { encoding, body, etag: Bytes::new(), fields: Box::new([]), not_modified_fields: Box::new([]) }
    }

    fn full_fields(
        &self,
        status: u16,
        content_type: &'static str,
        cache: &'static str,
        last_modified: &Bytes,
        negotiated: bool,
    ) -> Box<[ResponseField]> {
        let mut f = vec![ResponseField::from_static(b"content-type", content_type.as_bytes())];
        if self.encoding != Encoding::Identity {
            f.push(ResponseField::from_static(b"content-encoding", self.encoding.token().as_bytes()));
        }
        // A 404 carries the error page, not a representation of the target
        // resource, so it has no validators to offer (RFC 9110 §8.8).
        if status == 200 {
            f.push(ResponseField::new(b"etag", self.etag.clone()));
            f.push(ResponseField::new(b"last-modified", last_modified.clone()));
        }
        f.push(ResponseField::from_static(b"cache-control", cache.as_bytes()));
        if negotiated {
            // RFC 9110 §12.5.5: caches must key on accept-encoding.
            f.push(ResponseField::from_static(b"vary", b"accept-encoding"));
        }
        f.extend(SITE_FIELDS);
        f.into_boxed_slice()
    }

    /// RFC 9110 §15.4.5: a 304 repeats etag, cache-control and vary as the
    /// 200 would; last-modified helps caches update the stored response.
    fn validator_fields(&self, cache: &'static str, last_modified: &Bytes, negotiated: bool) -> Box<[ResponseField]> {
        let mut f = vec![
            ResponseField::new(b"etag", self.etag.clone()),
            ResponseField::new(b"last-modified", last_modified.clone()),
            ResponseField::from_static(b"cache-control", cache.as_bytes()),
        ];
        if negotiated {
            f.push(ResponseField::from_static(b"vary", b"accept-encoding"));
        }
        f.extend(SITE_FIELDS);
        f.into_boxed_slice()
    }
}

/// Types worth compressing: text, and the structured or uncompressed
/// image formats. Already-compressed formats (PNG, JPEG, fonts) and opaque
/// bytes are sent as they are.
fn compressible(content_type: &str) -> bool {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    let starts_text = mime.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("text/"));
    starts_text
        || [
            "application/xml",
            "application/atom+xml",
            "application/json",
            "image/svg+xml",
            "image/x-icon",
            "application/javascript",
        ]
        .iter()
        .any(|t| mime.eq_ignore_ascii_case(t))
}

/// The first 8 bytes of SHA-256 as 16 hex digits: plenty to tell two
/// versions of one page apart, short enough for every response.
fn hash_hex(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// gzip at the best level; `None` if the encoder fails (the variant is
/// then simply not offered).
fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 2), Compression::best());
    enc.write_all(body).ok()?;
    enc.finish().ok().map(Bytes::from)
}

/// Brotli at quality 11 with a 4 MiB window (lgwin 22): slow, but done once.
fn brotli(body: &[u8]) -> Option<Bytes> {
    let params =
        brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 22, size_hint: body.len(), ..Default::default() };
    let mut out = Vec::with_capacity(body.len() / 2);
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
    Some(Bytes::from(out))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;

    /// About 20 KB of HTML-ish text that compresses well.
    pub(crate) fn html_body() -> Bytes {
        let mut s = String::from("<!doctype html>\n<html lang=\"en\"><head><title>Post</title></head><body>\n");
        for i in 0..250 {
            s.push_str(&format!("<p>Paragraph {i}: the quick brown fox jumps over the lazy dog.</p>\n"));
        }
        s.push_str("</body></html>\n");
        Bytes::from(s)
    }

    pub(crate) fn page(path: &str, content_type: &'static str, body: Bytes, cache: CachePolicy) -> Page {
        Page {
            path: path.to_string(),
            content_type,
            body,
            // 2024-01-01T00:00:00Z plus a fraction that HTTP dates drop.
            last_modified: SystemTime::UNIX_EPOCH + Duration::from_millis(1_704_067_200_700),
            cache,
        }
    }

    pub(crate) fn field<'a>(fields: &'a [ResponseField], name: &str) -> Option<&'a str> {
        fields.iter().find(|f| f.name == name.as_bytes()).map(|f| std::str::from_utf8(&f.value).unwrap())
    }

    fn decode(encoding: Encoding, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match encoding {
            Encoding::Gzip => flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap(),
            Encoding::Brotli => brotli::Decompressor::new(body, 4096).read_to_end(&mut out).unwrap(),
            Encoding::Identity => panic!("not encoded"),
        };
        out
    }

    #[test]
    fn encoded_variants_decode_to_the_identity_bytes() {
        let body = html_body();
        assert!(body.len() > 15_000);
        let r = Resource::new(&page("/posts/x", "text/html; charset=utf-8", body.clone(), CachePolicy::Html));
        assert!(r.is_negotiated());
        for e in [Encoding::Gzip, Encoding::Brotli] {
            let v = r.variant(e).unwrap();
            assert!(v.body().len() < body.len() / 4, "{e:?} compresses");
            assert_eq!(decode(e, v.body()), body, "{e:?}");
        }
        assert_eq!(r.identity().body(), &body);
    }

    #[test]
    fn etags_are_strong_and_differ_per_variant() {
        let r = Resource::new(&page("/", "text/html; charset=utf-8", html_body(), CachePolicy::Html));
        let tags: Vec<&[u8]> = r.variants().map(Variant::etag).collect();
        assert_eq!(tags.len(), 3);
        let id = std::str::from_utf8(tags[0]).unwrap();
        assert_eq!(id.len(), 18);
        assert!(id.starts_with('"') && id.ends_with('"'));
        assert!(id[1..17].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(r.variant(Encoding::Gzip).unwrap().etag(), format!("{}-gz\"", &id[..17]).as_bytes());
        assert_eq!(r.variant(Encoding::Brotli).unwrap().etag(), format!("{}-br\"", &id[..17]).as_bytes());
        // Same bytes, same tag: a re-render that changes nothing keeps caches warm.
        let again = Resource::new(&page("/", "text/html; charset=utf-8", html_body(), CachePolicy::Html));
        assert_eq!(again.identity().etag(), r.identity().etag());
    }

    #[test]
    fn full_and_not_modified_fields() {
        let r = Resource::new(&page("/style.abc.css", "text/css; charset=utf-8", html_body(), CachePolicy::Immutable));
        let v = r.variant(Encoding::Brotli).unwrap();
        let f = v.fields();
        assert_eq!(field(f, "content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(field(f, "content-encoding"), Some("br"));
        assert_eq!(field(f, "etag").unwrap().as_bytes(), v.etag());
        assert_eq!(field(f, "last-modified"), Some("Mon, 01 Jan 2024 00:00:00 GMT"));
        assert_eq!(field(f, "cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(field(f, "vary"), Some("accept-encoding"));
        assert_eq!(field(f, "x-content-type-options"), Some("nosniff"));
        assert!(field(f, "content-security-policy").unwrap().starts_with("default-src 'none'; style-src 'self';"));
        assert_eq!(field(f, "referrer-policy"), Some("strict-origin-when-cross-origin"));
        assert_eq!(field(f, "server"), Some("h2ring"));
        for absent in ["date", "content-length", "strict-transport-security"] {
            assert_eq!(field(f, absent), None, "{absent} is added by other layers");
        }
        assert_eq!(field(r.identity().fields(), "content-encoding"), None);

        let nm = v.not_modified_fields();
        assert_eq!(field(nm, "etag").unwrap().as_bytes(), v.etag());
        for present in ["last-modified", "cache-control", "vary", "x-content-type-options", "server"] {
            assert!(field(nm, present).is_some(), "304 has {present}");
        }
        for absent in ["content-type", "content-encoding", "content-length"] {
            assert_eq!(field(nm, absent), None, "304 has no {absent}");
        }
        assert_eq!(r.last_modified_secs(), 1_704_067_200);
    }

    #[test]
    fn opaque_and_tiny_bodies_get_no_encoded_variants() {
        let bin: Bytes = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let r = Resource::new(&page("/big", "application/octet-stream", bin, CachePolicy::Asset));
        assert!(!r.is_negotiated());
        assert_eq!(r.variants().count(), 1);
        assert_eq!(field(r.identity().fields(), "vary"), None);
        assert_eq!(r.select(Some(b"br, gzip")).encoding(), Encoding::Identity);

        // Compressible type, but gzip's framing alone outweighs two bytes.
        let r = Resource::new(&page("/t", "text/plain", Bytes::from_static(b"hi"), CachePolicy::Asset));
        assert!(!r.is_negotiated());
    }

    #[test]
    fn compressible_types() {
        for t in ["text/html; charset=utf-8", "Text/Plain", "application/atom+xml; charset=utf-8", "image/x-icon"] {
            assert!(compressible(t), "{t}");
        }
        for t in ["application/octet-stream", "image/png", "font/woff2", "", "tex"] {
            assert!(!compressible(t), "{t}");
        }
    }

    #[test]
    fn not_found_has_no_validators() {
        let r = Resource::not_found(&page("", "text/html; charset=utf-8", html_body(), CachePolicy::NotFound));
        assert_eq!(r.status(), 404);
        for v in r.variants() {
            assert_eq!(field(v.fields(), "etag"), None);
            assert_eq!(field(v.fields(), "last-modified"), None);
            assert_eq!(field(v.fields(), "cache-control"), Some("public, max-age=60"));
            assert_eq!(field(v.fields(), "vary"), Some("accept-encoding"));
        }
    }
}
