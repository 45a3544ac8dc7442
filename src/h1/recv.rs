//! The receive half: input buffering, finding and bounding request heads,
//! discarding bodies, and classifying heads against TLS early data.

use super::body::Body;
use super::request::{BodyKind, EarlyData, Method};
use super::{Awaiting, Connection, H1Error};

/// Where the head starting at `buf[0]` ends, scanning from `from`.
enum HeadEnd {
    /// Just past the empty line that ends the field section.
    Found(usize),
    /// Not there yet: resume from here next time.
    Partial(usize),
}

/// The first `\n\n` or `\n\r\n` at or after `from` (a bare LF may end a
/// line, RFC 9112 §2.2; httparse takes it), and the first LF seen (which
/// ends the request line).
fn find_head_end(buf: &[u8], from: usize, line_end: &mut Option<usize>) -> HeadEnd {
    let mut i = from;
    while let Some(off) = buf.get(i..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
        let lf = i + off;
        line_end.get_or_insert(lf);
        match (buf.get(lf + 1), buf.get(lf + 2)) {
            (Some(b'\n'), _) => return HeadEnd::Found(lf + 2),
            (Some(b'\r'), Some(b'\n')) => return HeadEnd::Found(lf + 3),
            // The line after this LF has not fully arrived: look again.
            (None, _) | (Some(b'\r'), None) => return HeadEnd::Partial(lf),
            _ => i = lf + 1,
        }
    }
    HeadEnd::Partial(buf.len())
}

impl Connection {
    /// Feeds bytes received from the client. Heads are parsed (up to
    /// [`super::H1Config::max_pipelined`] requests ahead of the output),
    /// bodies discarded; requests come out of [`Connection::poll_request`].
    ///
    /// `Err` means the connection stops reading: for a refused request the
    /// error response is queued after the responses to the requests before
    /// it, which the caller still polls and answers; [`Connection::wants_close`]
    /// turns true once all is written. Later input is ignored and the same
    /// error is returned.
    pub fn recv(&mut self, input: &[u8]) -> Result<(), H1Error> {
        self.received += input.len() as u64;
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.stopped {
            return Ok(());
        }
        let mut input = input;
        if self.pos == self.buf.len() && self.body.is_active() {
            // Body bytes straight from the input, without buffering them.
            let n = self.discard_body(input);
            input = &input[n..];
        }
        if !self.stopped && !input.is_empty() {
            self.buf.extend_from_slice(input);
        }
        self.advance();
        if !self.stopped && self.buf.len() - self.pos > self.cfg.max_buffered_input {
            // Only a caller that kept feeding past `wants_read` gets here.
            self.fail("input buffer full");
        }
        self.error.map_or(Ok(()), Err)
    }

    /// Feeds bytes that arrived as TLS 1.3 early data (0-RTT). Same
    /// contract as [`Connection::recv`]; every byte fed here counts as
    /// early, and each request says whether its head arrived early
    /// ([`super::H1Request::early_data`]): `Complete` when the head (request line
    /// to empty line) lies within early data, `Partial` when it began
    /// there and ended after.
    ///
    /// Early data precedes the rest of a TLS connection's input, so calling
    /// this after `recv` took any byte is a caller bug: a debug assertion,
    /// and in release builds the bytes count as ordinary input.
    pub fn recv_early(&mut self, input: &[u8]) -> Result<(), H1Error> {
        let in_order = self.received == self.early_end;
        debug_assert!(in_order, "recv_early after recv took input");
        if in_order {
            self.early_end += input.len() as u64;
        }
        self.recv(input)
    }

    /// Total bytes of input taken so far by `recv` and `recv_early`.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The input offset where TLS early data ends (0 when none was received).
    pub fn early_data_end(&self) -> u64 {
        self.early_end
    }

    fn early_class(&self, start: u64, end: u64) -> EarlyData {
        if start >= self.early_end {
            EarlyData::No
        } else if end <= self.early_end {
            EarlyData::Complete
        } else {
            EarlyData::Partial
        }
    }

    /// Discards body bytes from the front of `data`; returns how many.
    fn discard_body(&mut self, data: &[u8]) -> usize {
        match self.body.discard(data) {
            Ok(n) => n,
            Err(reason) => {
                self.fail(reason);
                data.len()
            }
        }
    }

    /// Parses what the buffer holds, as far as the pipeline limit allows.
    pub(crate) fn advance(&mut self) {
        while !self.stopped {
            if self.body.is_active() {
                match self.body.discard(&self.buf[self.pos..]) {
                    Ok(n) => self.pos += n,
                    Err(reason) => self.fail(reason),
                }
                if self.body.is_active() {
                    break;
                }
                continue;
            }
            // RFC 9112 §2.2: empty lines before a request line are ignored.
            let rest = &self.buf[self.pos..];
            let blank = match rest {
                [b'\r', b'\n', ..] if self.scanned == 0 => 2,
                [b'\n', ..] if self.scanned == 0 => 1,
                _ => 0,
            };
            if blank > 0 {
                self.pos += blank;
                continue;
            }
            if rest.is_empty() || rest == b"\r" || self.in_flight >= self.cfg.max_pipelined {
                break;
            }
            match self.locate_head() {
                None => break,
                Some(len) => self.take_head(len),
            }
        }
        if self.stopped {
            return;
        }
        // Keep what is left at the front; let a large read's memory go.
        if self.pos == self.buf.len() {
            self.buf.clear();
            if self.buf.capacity() > self.cfg.max_head_size {
                self.buf = Vec::new();
            }
        } else if self.pos > 0 {
            self.buf.drain(..self.pos);
        }
        self.pos = 0;
    }

    /// The length of the head at `pos` once it has all arrived, within the
    /// limits; a head over them is refused (414, 431).
    fn locate_head(&mut self) -> Option<usize> {
        let head = &self.buf[self.pos..];
        let found = find_head_end(head, self.scanned, &mut self.line_end);
        // The request line without its line ending; a trailing CR may still
        // be followed by LF.
        let line = match self.line_end {
            Some(lf) => lf - usize::from(lf > 0 && head[lf - 1] == b'\r'),
            None => head.len() - usize::from(head.last() == Some(&b'\r')),
        };
        if line > self.cfg.max_request_line {
            self.reject(414, "request line too long");
            return None;
        }
        match found {
            HeadEnd::Found(end) if end <= self.cfg.max_head_size => Some(end),
            HeadEnd::Partial(at) if head.len() < self.cfg.max_head_size => {
                self.scanned = at;
                None
            }
            _ => {
                self.reject(431, "request head too large");
                None
            }
        }
    }

    /// Parses the complete head of `len` bytes at `pos` and queues the
    /// request, or refuses it.
    fn take_head(&mut self, len: usize) {
        let start = self.pos;
        self.scanned = 0;
        self.line_end = None;
        let mut req = self.pool.pop().unwrap_or_default();
        if let Err(r) = req.parse(&self.buf[start..start + len], self.cfg.max_headers) {
            self.pool.push(req);
            self.reject(r.status, r.reason);
            return;
        }
        let body = match req.body() {
            BodyKind::None => Body::Idle,
            BodyKind::Length(n) if n > self.cfg.max_body_size => {
                self.pool.push(req);
                self.reject(413, "request body too large");
                return;
            }
            BodyKind::Length(n) => Body::Length(n),
            BodyKind::Chunked => Body::chunked(self.cfg.max_body_size, self.cfg.max_head_size),
        };
        // Stream offsets of the head's first byte and of the byte after it.
        let base = self.received - (self.buf.len() - start) as u64;
        req.early = self.early_class(base, base + len as u64);
        self.pos = start + len;

        let seq = self.next_seq;
        self.next_seq += 1;
        if body.is_active() {
            self.body = body;
            self.body_seq = seq;
        }
        let close = !req.keep_alive();
        self.awaiting.push_back(Awaiting {
            seq,
            head: req.method() == Method::Head,
            close,
            echo_keep_alive: req.keep_alive() && req.version() == super::Version::Http10,
            expect_continue: req.expects_continue(),
        });
        self.ready.push_back(req);
        self.in_flight += 1;
        if close {
            // RFC 9112 §9.6: nothing after a request with `close` is read.
            self.stop();
        }
    }
}
