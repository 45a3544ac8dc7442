//! The small built-in site served until the blog exists: a page at `/`,
//! 404 elsewhere, 405 for methods other than GET and HEAD.

use bytes::Bytes;

use super::{Handler, Response};
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
    headers: Vec<(&'static [u8], &'static [u8])>,
    body: Bytes,
}

impl Prebuilt {
    fn new(status: u16, body: &'static str, extra: &[(&'static [u8], &'static [u8])]) -> Self {
        let mut headers: Vec<(&'static [u8], &'static [u8])> =
            vec![(b"content-type", b"text/html; charset=utf-8"), (b"server", b"h2ring")];
        headers.extend_from_slice(extra);
        Self { status, headers, body: Bytes::from_static(body.as_bytes()) }
    }

    fn respond(&self, method: Method) -> Response<'_> {
        // HEAD gets the same fields, no body (RFC 9110 §9.3.2).
        let body = if method == Method::Head { Bytes::new() } else { self.body.clone() };
        Response { status: self.status, headers: &self.headers, content_length: Some(self.body.len() as u64), body }
    }
}

pub struct BuiltinSite {
    index: Prebuilt,
    not_found: Prebuilt,
    not_allowed: Prebuilt,
}

impl Default for BuiltinSite {
    fn default() -> Self {
        Self {
            index: Prebuilt::new(200, PAGE, &[(b"cache-control", b"no-cache")]),
            not_found: Prebuilt::new(404, NOT_FOUND, &[]),
            not_allowed: Prebuilt::new(405, "", &[(b"allow", b"GET, HEAD")]),
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
            _ => self.not_found.respond(method),
        }
    }
}
