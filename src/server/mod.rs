//! What sits between the runtime and the protocol core: the per-connection
//! [`session`] (TLS + HTTP/2), and the [`Handler`] that turns a request into
//! a response (the blog, [`crate::site::handler::Site`]).

pub mod handler_cell;
pub mod httpdate;
pub mod session;
pub mod stats;

use bytes::Bytes;

use crate::h2::conn::RequestHead;

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
    fn respond<'a>(&'a self, request: &RequestHead) -> Response<'a>;
}
