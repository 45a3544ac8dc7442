//! What sits between the runtime and the protocol core: the per-connection
//! [`session`] (TLS + HTTP/2), and the [`Handler`] that turns a request into
//! a response. The blog (a later issue) is one more `Handler`.

pub mod builtin;
pub mod session;

use bytes::Bytes;

use crate::h2::conn::RequestHead;

/// A response: status, regular header fields (lowercase names), and a body
/// shared by refcount. Handlers keep their header arrays prebuilt, so
/// answering allocates nothing.
#[derive(Debug)]
pub struct Response<'a> {
    pub status: u16,
    pub headers: &'a [(&'a [u8], &'a [u8])],
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
