//! The send half: status lines, header fields and framing, and the queue
//! of pieces handed to the caller. Heads are written into one `BytesMut`
//! and split off (its memory is reused once the pieces are written);
//! bodies are queued by refcount.

use std::fmt::Write as _;

use bytes::{Buf, Bytes, BytesMut};

use super::{Connection, Piece, SendError};

/// RFC 9110 §15 reason phrases. The phrase means nothing to a recipient
/// (RFC 9112 §4); an unknown status gets an empty one.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        425 => "Too Early",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The plain-text body of a response the connection writes itself.
fn error_body(status: u16) -> &'static [u8] {
    match status {
        400 => b"400 Bad Request\n",
        408 => b"408 Request Timeout: the request took too long to arrive.\n",
        413 => b"413 Content Too Large\n",
        414 => b"414 URI Too Long\n",
        431 => b"431 Request Header Fields Too Large\n",
        501 => b"501 Not Implemented\n",
        505 => b"505 HTTP Version Not Supported: this server speaks HTTP/1.0, HTTP/1.1 and h2.\n",
        _ => b"Error\n",
    }
}

/// RFC 9110 §5.6.2 token characters (a field name).
fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_')
                || matches!(b, b'`' | b'|' | b'~')
        })
}

/// A field value that cannot end the line or the head early (RFC 9110
/// §5.5): no CR, LF or NUL.
fn is_safe_value(value: &[u8]) -> bool {
    !value.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// Fields the connection writes itself: framing and connection management
/// come from it alone, so that a handler cannot contradict them.
fn is_framing(name: &[u8]) -> bool {
    [&b"content-length"[..], b"transfer-encoding", b"connection", b"keep-alive"]
        .iter()
        .any(|f| name.eq_ignore_ascii_case(f))
}

/// Appends `name: value\r\n` for each field that is valid and not one
/// the connection writes itself; invalid ones are dropped.
pub(crate) fn write_fields<'h>(dst: &mut BytesMut, fields: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) {
    for (name, value) in fields {
        if is_token(name) && is_safe_value(value) && !is_framing(name) {
            dst.extend_from_slice(name);
            dst.extend_from_slice(b": ");
            dst.extend_from_slice(value);
            dst.extend_from_slice(b"\r\n");
        }
    }
}

/// The framing a response head states.
struct Framing {
    content_length: Option<u64>,
    close: bool,
    /// `connection: keep-alive` for an HTTP/1.0 client that asked for it.
    keep_alive: bool,
}

impl Connection {
    /// Answers the oldest request handed out by `poll_request` and not yet
    /// answered (responses go strictly in request order, RFC 9112 §9.3.2).
    ///
    /// `fields` are regular header fields, names written as given
    /// (lowercase suits both protocols); fields that would change the
    /// framing (`content-length`, `transfer-encoding`, `connection`,
    /// `keep-alive`) and fields with a CR, LF or NUL are dropped. The
    /// connection writes `content-length` and, when the connection ends
    /// after this response, `connection: close`:
    ///
    /// - a HEAD response states `content_length` (the GET's length, RFC
    ///   9110 §9.3.2) and sends no body, whatever `body` holds;
    /// - 204 states no length and 304 only `content_length` if given,
    ///   neither sends a body (RFC 9110 §8.6, §15.4.5);
    /// - any other response sends `body` and states its length (a
    ///   `content_length` that disagrees with `body` is ignored: the
    ///   framing must be true).
    ///
    /// The body is queued by refcount, never copied until `write_output`.
    pub fn send_response<'h, I>(
        &mut self,
        status: u16,
        fields: I,
        content_length: Option<u64>,
        body: Bytes,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (&'h [u8], &'h [u8])>,
    {
        if !(200..=999).contains(&status) {
            return Err(SendError::InvalidStatus);
        }
        if self.polled == 0 {
            return Err(SendError::NoRequest);
        }
        let Some(req) = self.awaiting.pop_front() else { return Err(SendError::NoRequest) };
        self.polled -= 1;
        // A client that sent `Expect: 100-continue` may or may not send
        // the body now that it gets a final answer instead of 100 (RFC
        // 9110 §10.1.1): unless it all came already, the rest of the input
        // cannot be told apart from a next request, so the connection ends.
        let unread_expected_body = req.expect_continue && self.body.is_active() && self.body_seq == req.seq;
        let mut close = req.close || unread_expected_body;
        // The last response before the connection stops says so.
        close |= self.stopped && self.awaiting.is_empty() && self.rejection.is_none();
        if close {
            self.stop();
        }
        let (content_length, body) = match status {
            204 => (None, Bytes::new()),
            304 => (content_length, Bytes::new()),
            _ if req.head => (content_length, Bytes::new()),
            _ => (Some(body.len() as u64), body),
        };
        let framing = Framing { content_length, close, keep_alive: req.echo_keep_alive && !close };
        self.queue_head(status, fields, &[], &framing, body.is_empty());
        if !body.is_empty() {
            self.out.push_back(Piece { data: body, ends_response: true });
        }
        self.emit_rejection_if_due();
        Ok(())
    }

    /// Queues a head: status line, `fields`, then the framing fields.
    fn queue_head<'h>(
        &mut self,
        status: u16,
        fields: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        raw_fields: &[u8],
        framing: &Framing,
        ends_response: bool,
    ) {
        let h = &mut self.head_buf;
        // Status codes here are 200..=999, three digits.
        let _ = write!(h, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        write_fields(h, fields);
        h.extend_from_slice(raw_fields);
        if let Some(n) = framing.content_length {
            let _ = write!(h, "content-length: {n}\r\n");
        }
        if framing.close {
            h.extend_from_slice(b"connection: close\r\n");
        } else if framing.keep_alive {
            h.extend_from_slice(b"connection: keep-alive\r\n");
        }
        h.extend_from_slice(b"\r\n");
        let data = h.split().freeze();
        self.out.push_back(Piece { data, ends_response });
    }

    /// Queues the answer to a refused request once every request before
    /// it has been answered.
    pub(crate) fn emit_rejection_if_due(&mut self) {
        if !self.awaiting.is_empty() {
            return;
        }
        let Some(status) = self.rejection.take() else { return };
        let body = error_body(status);
        let framing = Framing { content_length: Some(body.len() as u64), close: true, keep_alive: false };
        let fields = [(&b"content-type"[..], &b"text/plain; charset=utf-8"[..]), (b"cache-control", b"no-store")];
        // The caller's fields (`date`, ...), validated when stored.
        let extra = std::mem::take(&mut self.error_fields);
        self.queue_head(status, fields, &extra, &framing, false);
        self.error_fields = extra;
        self.out.push_back(Piece { data: Bytes::from_static(body), ends_response: false });
    }

    /// Whether [`Connection::write_output`] has anything to write.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Copies queued output into `dst` (the one copy of a response body)
    /// and returns how many bytes it wrote.
    pub fn write_output(&mut self, dst: &mut [u8]) -> usize {
        let mut n = 0;
        while n < dst.len() {
            let Some(piece) = self.out.front() else { break };
            let k = piece.data.len().min(dst.len() - n);
            dst[n..n + k].copy_from_slice(&piece.data[..k]);
            n += k;
            self.consume_front(k);
        }
        n
    }

    /// Appends queued output to `out` until it holds `limit` bytes (no
    /// zeroed scratch buffer in between); returns how many bytes it added.
    pub fn append_output(&mut self, out: &mut Vec<u8>, limit: usize) -> usize {
        let before = out.len();
        while out.len() < limit {
            let Some(piece) = self.out.front() else { break };
            let k = piece.data.len().min(limit - out.len());
            out.extend_from_slice(&piece.data[..k]);
            self.consume_front(k);
        }
        out.len() - before
    }

    /// The queued output as it stands, for a vectored write without the
    /// copy of [`Connection::write_output`]; report what was written with
    /// [`Connection::consume_output`].
    pub fn output_chunks(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.out.iter().map(|p| &p.data[..])
    }

    /// Drops the first `n` bytes of queued output (written by the caller
    /// from [`Connection::output_chunks`]); more than is queued drops it all.
    pub fn consume_output(&mut self, mut n: usize) {
        while n > 0 {
            let Some(piece) = self.out.front() else { break };
            let k = piece.data.len().min(n);
            self.consume_front(k);
            n -= k;
        }
    }

    fn consume_front(&mut self, k: usize) {
        let Some(piece) = self.out.front_mut() else { return };
        piece.data.advance(k);
        if piece.data.is_empty() {
            if piece.ends_response {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            self.out.pop_front();
        }
    }
}

/// Stores the fields added to the responses the connection writes itself
/// (400, 408, 413, 414, 431, 501, 505), as `name: value\r\n` lines.
pub(crate) fn store_fields<'h>(dst: &mut BytesMut, fields: impl IntoIterator<Item = (&'h [u8], &'h [u8])>) {
    dst.clear();
    write_fields(dst, fields);
}
