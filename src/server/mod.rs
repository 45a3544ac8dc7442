//! What sits between the runtime and the protocol core: the per-connection
//! [`session`] (TLS, then HTTP/2 or HTTP/1.1: `proto`), the rules every
//! answer follows (`respond`: 0-RTT, redirects, `date`, HSTS), and the
//! [`Handler`] that turns a request into a response (the blog,
//! [`crate::site::handler::Site`]).

pub mod access_log;
pub mod handler_cell;
pub mod httpdate;
mod proto;
mod respond;
pub mod session;
pub mod stats;

use bytes::Bytes;

use crate::h1::H1Request;
use crate::h2::conn::{Method, RequestHead};

/// What a handler sees of a request, whatever carried it (HTTP/2 or
/// HTTP/1.1): the fields the blog's answers depend on, borrowed from the
/// protocol's request head.
#[derive(Clone, Copy, Debug)]
pub struct Query<'q> {
    pub method: Method,
    /// The request target in origin form (or `*`), query included.
    pub path: &'q [u8],
    pub accept_encoding: Option<&'q [u8]>,
    pub if_none_match: Option<&'q [u8]>,
    pub if_modified_since: Option<&'q [u8]>,
}

impl<'q> Query<'q> {
    /// Reads the fields from an HTTP/2 request. Only the first line of
    /// each field is seen (`RequestHead::header`).
    pub fn from_h2(head: &'q RequestHead) -> Self {
        Self {
            method: head.method(),
            path: head.path(),
            accept_encoding: head.header(b"accept-encoding"),
            if_none_match: head.header(b"if-none-match"),
            if_modified_since: head.header(b"if-modified-since"),
        }
    }

    /// Reads the fields from an HTTP/1.1 request (origin form: an
    /// absolute-form target is reduced to its path by the parser).
    pub fn from_h1(req: &'q H1Request) -> Self {
        Self {
            method: req.method(),
            path: req.path(),
            accept_encoding: req.header(b"accept-encoding"),
            if_none_match: req.header(b"if-none-match"),
            if_modified_since: req.header(b"if-modified-since"),
        }
    }
}

/// One prebuilt response header field. The value is `Bytes` so a handler
/// can own its fields (built at start-up, or at a reload) without borrowing
/// from itself.
#[derive(Clone, Debug)]
pub struct ResponseField {
    /// Lowercase (RFC 9113 §8.2.1).
    pub name: &'static [u8],
    pub value: Bytes,
}

impl ResponseField {
    pub fn new(name: &'static [u8], value: impl Into<Bytes>) -> Self {
        Self { name, value: value.into() }
    }

    pub const fn from_static(name: &'static [u8], value: &'static [u8]) -> Self {
        Self { name, value: Bytes::from_static(value) }
    }
}

/// A response: status, regular header fields, and a body shared by
/// refcount. Handlers keep their header arrays prebuilt, so answering
/// allocates nothing. `date` (and `strict-transport-security` on TLS) are
/// added by the session, which knows the clock and the transport.
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a [ResponseField],
    /// Sent as `content-length` (a HEAD response carries the length of the
    /// body it does not send, RFC 9110 §8.6).
    pub content_length: Option<u64>,
    pub body: Bytes,
}

/// Answers requests. One instance serves every worker, so it is `Sync`
/// and must not block.
pub trait Handler: Send + Sync + 'static {
    fn respond<'a>(&'a self, request: &Query<'_>) -> Response<'a>;
}
