//! The small built-in site served until the blog exists: a page at `/`,
//! a 1 MiB body at `/big` (for flow-control tests and the big-file
//! benchmark), 404 elsewhere, 405 for methods other than GET and HEAD.

use bytes::Bytes;

use super::{Handler, Response, ResponseField};
use crate::h2::conn::{Method, RequestHead};

const PAGE: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>h2ring</title>
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>
<body><h1>h2ring</h1><p>HTTP/2 over TLS 1.3, served from io_uring.</p></body></html>
";
const NOT_FOUND: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>
<body><h1>404</h1><p>Nothing here.</p></body></html>
";

/// Each response's header fields, built once at start-up.
struct Prebuilt {
    status: u16,
    headers: Vec<ResponseField>,
    body: Bytes,
}

impl Prebuilt {
    fn new(status: u16, body: Bytes, content_type: &'static [u8], extra: &[(&'static [u8], &'static [u8])]) -> Self {
        let mut headers =
            vec![ResponseField::from_static(b"content-type", content_type), ResponseField::from_static(b"server", b"h2ring")];
        headers.extend(extra.iter().map(|&(n, v)| ResponseField::from_static(n, v)));
        Self { status, headers, body }
    }

    fn respond(&self, method: Method) -> Response<'_> {
        // HEAD gets the same fields, no body (RFC 9110 §9.3.2).
        let body = if method == Method::Head { Bytes::new() } else { self.body.clone() };
        Response { status: self.status, headers: &self.headers, content_length: Some(self.body.len() as u64), body }
    }
}

/// The bytes of `/big`: 1 MiB of a repeating, not-quite-periodic pattern
/// (so a misplaced chunk shows up in a comparison).
pub fn big_body() -> Bytes {
    (0..1u32 << 20).map(|i| (i.wrapping_mul(31) % 251) as u8).collect::<Vec<u8>>().into()
}

const HTML: &[u8] = b"text/html; charset=utf-8";

pub struct BuiltinSite {
    index: Prebuilt,
    big: Prebuilt,
    not_found: Prebuilt,
    not_allowed: Prebuilt,
}

impl Default for BuiltinSite {
    fn default() -> Self {
        Self {
            index: Prebuilt::new(200, Bytes::from_static(PAGE.as_bytes()), HTML, &[(b"cache-control", b"no-cache")]),
            big: Prebuilt::new(200, big_body(), b"application/octet-stream", &[(b"cache-control", b"no-cache")]),
            not_found: Prebuilt::new(404, Bytes::from_static(NOT_FOUND.as_bytes()), HTML, &[]),
            not_allowed: Prebuilt::new(405, Bytes::new(), HTML, &[(b"allow", b"GET, HEAD")]),
        }
    }
}

impl Handler for BuiltinSite {
    fn respond<'a>(&'a self, request: &RequestHead) -> Response<'a> {
        let method = request.method();
        if !matches!(method, Method::Get | Method::Head) {
            return self.not_allowed.respond(method);
        }
        match request.path() {
            b"/" => self.index.respond(method),
            b"/big" => self.big.respond(method),
            _ => self.not_found.respond(method),
        }
    }
}
