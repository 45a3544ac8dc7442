//! The send half: responses, DATA scheduling within flow-control windows
//! (RFC 9113 §6.9) and max frame size, and the bytes handed to the caller.

use bytes::{Buf, Bytes};

use super::{Connection, Phase, SendError};
use crate::h2::error::ErrorCode;
use crate::h2::frame::{self, FRAME_HEADER_LEN, FrameHeader, FrameType, flags};
use crate::h2::hpack::format_decimal;

impl Connection {
    /// Submits the response on `stream_id`: `headers` are regular fields
    /// with lowercase names (`:status` is added), `body` goes out by
    /// refcount in DATA frames as windows allow. An empty body ends the
    /// stream on the HEADERS frame (as HEAD responses and 304s want).
    pub fn send_response(
        &mut self,
        stream_id: u32,
        status: u16,
        headers: &[(&[u8], &[u8])],
        body: Bytes,
    ) -> Result<(), SendError> {
        self.send_response_with_length(stream_id, status, headers, None, body)
    }

    /// [`Connection::send_response`], plus a `content-length` field encoded
    /// after `headers` without the caller formatting it (a HEAD response
    /// states the length of the body it omits, RFC 9110 §8.6).
    pub fn send_response_with_length(
        &mut self,
        stream_id: u32,
        status: u16,
        headers: &[(&[u8], &[u8])],
        content_length: Option<u64>,
        body: Bytes,
    ) -> Result<(), SendError> {
        self.send_response_fields(stream_id, status, headers.iter().copied(), content_length, body)
    }

    /// The general form: header fields from any iterator, so a caller can
    /// chain its prebuilt fields with per-connection ones (`date`) without
    /// collecting them anywhere.
    pub fn send_response_fields<'h, I>(
        &mut self,
        stream_id: u32,
        status: u16,
        headers: I,
        content_length: Option<u64>,
        body: Bytes,
    ) -> Result<(), SendError>
    where
        I: IntoIterator<Item = (&'h [u8], &'h [u8])>,
    {
        if !(200..=999).contains(&status) {
            return Err(SendError::InvalidStatus);
        }
        if self.phase == Phase::Failed {
            return Err(SendError::StreamClosed);
        }
        let key = self.stream_key(stream_id).ok_or(SendError::StreamClosed)?;
        let s = &self.streams[key];
        if s.responded {
            return Err(SendError::AlreadyResponded);
        }
        if !s.state.can_send() {
            return Err(SendError::StreamClosed);
        }
        let end_stream = body.is_empty();
        self.write_header_block(stream_id, status, headers, content_length, end_stream);
        let s = &mut self.streams[key];
        s.responded = true;
        s.body = body;
        if end_stream {
            self.end_stream_sent(key);
        } else if s.send_window.available() > 0 {
            self.enqueue(key);
        }
        Ok(())
    }

    /// HPACK-encodes straight into the output buffer behind a placeholder
    /// frame header; only a block larger than the client's max frame size
    /// is moved to be split into CONTINUATION frames (§4.3).
    fn write_header_block<'h>(
        &mut self,
        id: u32,
        status: u16,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
        content_length: Option<u64>,
        end_stream: bool,
    ) {
        let start = self.out.len();
        self.out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
        self.encoder.begin_block(&mut self.out);
        self.encoder.encode_status(status, &mut self.out);
        for (name, value) in headers {
            self.encoder.encode_field(name, value, &mut self.out);
        }
        if let Some(len) = content_length {
            let mut digits = [0u8; 20];
            self.encoder.encode_field(b"content-length", format_decimal(len, &mut digits), &mut self.out);
        }
        let len = self.out.len() - start - FRAME_HEADER_LEN;
        if len <= self.peer_max_frame_size as usize {
            let mut f = flags::END_HEADERS;
            if end_stream {
                f |= flags::END_STREAM;
            }
            let header = FrameHeader { length: len as u32, kind: FrameType::Headers, flags: f, stream_id: id };
            self.out[start..start + FRAME_HEADER_LEN].copy_from_slice(&header.encode());
        } else {
            let block = self.out.split_off(start + FRAME_HEADER_LEN);
            self.out.truncate(start);
            frame::write_headers(&mut self.out, id, &block, end_stream, self.peer_max_frame_size);
        }
    }

    /// We sent END_STREAM. §8.1: if the client is still sending, a complete
    /// response lets us stop it with RST_STREAM NO_ERROR.
    fn end_stream_sent(&mut self, key: usize) {
        let s = &mut self.streams[key];
        s.state = s.state.send_end_stream();
        if s.state.can_recv() {
            let id = s.id;
            self.reset_stream_with(id, ErrorCode::NoError, false);
        } else {
            self.close_if_done(key);
        }
    }

    pub(super) fn close_if_done(&mut self, key: usize) {
        if self.streams[key].state == crate::h2::stream::StreamState::Closed {
            self.remove_stream(key, false);
        }
    }

    pub(super) fn enqueue(&mut self, key: usize) {
        let s = &mut self.streams[key];
        if !s.queued {
            s.queued = true;
            self.send_queue.push_back((key, s.id));
        }
    }

    /// Whether [`Connection::write_output`] has anything to write now.
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len()
            || (self.phase != Phase::Failed
                && self.conn_send_window.available() > 0
                && self.send_queue.iter().any(|&(key, id)| self.streams.get(key).is_some_and(|s| s.id == id)))
    }

    /// Whether response body is waiting that only the client can let out:
    /// nothing else to write, and every stream with body left has no send
    /// window, or the connection has none (RFC 9113 §6.9). A client that
    /// keeps us here never reads what it asked for (CVE-2019-9517 internal
    /// data buffering, CVE-2019-9511 data dribble with a zero window): the
    /// caller applies its write timeout from when this turned true, and
    /// ends the connection (`abort`) if it stays true past it.
    ///
    /// O(streams), for a once-per-tick check; false after a connection
    /// error.
    pub fn send_blocked_on_peer_window(&self) -> bool {
        self.phase != Phase::Failed
            && !self.has_output()
            && self.streams.iter().any(|(_, s)| !s.body.is_empty() && s.state.can_send())
    }

    /// Writes pending frames into `dst` and returns how many bytes it
    /// wrote. Control frames and HEADERS go first; then one DATA frame per
    /// stream in turn (round robin), each within the stream and connection
    /// windows, the client's max frame size and the room left in `dst`.
    /// Call again while [`Connection::has_output`] is true; `dst` of 16 KiB
    /// or more keeps DATA frames full-sized. A `dst` of 9 bytes or less has
    /// no room for a DATA frame, so it may get nothing while body is pending.
    pub fn write_output(&mut self, dst: &mut [u8]) -> usize {
        let mut sink = SliceSink { dst, n: 0 };
        self.write_into(&mut sink);
        sink.n
    }

    /// Like [`Connection::write_output`], but appends to `out` until it
    /// holds `limit` bytes: a send buffer is filled without first being
    /// zeroed (a plaintext connection has no TLS record to fill).
    pub fn append_output(&mut self, out: &mut Vec<u8>, limit: usize) -> usize {
        let before = out.len();
        self.write_into(&mut VecSink { out, limit });
        out.len() - before
    }

    fn write_into(&mut self, sink: &mut impl Sink) {
        loop {
            let pending = &self.out[self.out_pos..];
            let k = pending.len().min(sink.room());
            sink.put(&pending[..k]);
            self.out_pos += k;
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
            }
            if sink.room() == 0 || self.phase == Phase::Failed || !self.write_data_frame(sink) {
                break;
            }
        }
        if self.out_pos > 4096 && self.out_pos * 2 > self.out.len() {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }

    /// Writes one DATA frame for the next stream in the queue; false when
    /// no stream can send or `sink` has no room.
    fn write_data_frame(&mut self, sink: &mut impl Sink) -> bool {
        loop {
            let space = sink.room();
            if space <= FRAME_HEADER_LEN || self.conn_send_window.available() == 0 {
                return false;
            }
            let Some((key, id)) = self.send_queue.pop_front() else { return false };
            let Some(s) = self.streams.get_mut(key).filter(|s| s.id == id) else { continue };
            s.queued = false;
            // A stream out of window leaves the queue; WINDOW_UPDATE or
            // SETTINGS puts it back.
            let window = s.send_window.available().min(self.conn_send_window.available());
            if window == 0 {
                continue;
            }
            let len = (s.body.len())
                .min(window as usize)
                .min(self.peer_max_frame_size as usize)
                .min(space - FRAME_HEADER_LEN);
            let end_stream = len == s.body.len();
            let header = FrameHeader {
                length: len as u32,
                kind: FrameType::Data,
                flags: if end_stream { flags::END_STREAM } else { 0 },
                stream_id: id,
            };
            sink.put(&header.encode());
            sink.put(&s.body[..len]);
            s.body.advance(len);
            s.send_window.consume(len as u32);
            self.conn_send_window.consume(len as u32);
            if end_stream {
                self.end_stream_sent(key);
            } else if s.send_window.available() > 0 {
                self.enqueue(key);
            }
            return true;
        }
    }
}

/// Where [`Connection::write_into`] puts bytes: a caller's slice, or a
/// growing buffer up to a limit.
trait Sink {
    fn room(&self) -> usize;
    /// `bytes.len() <= self.room()`.
    fn put(&mut self, bytes: &[u8]);
}

struct SliceSink<'a> {
    dst: &'a mut [u8],
    n: usize,
}

impl Sink for SliceSink<'_> {
    fn room(&self) -> usize {
        self.dst.len() - self.n
    }

    fn put(&mut self, bytes: &[u8]) {
        self.dst[self.n..self.n + bytes.len()].copy_from_slice(bytes);
        self.n += bytes.len();
    }
}

struct VecSink<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
}

impl Sink for VecSink<'_> {
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.out.len())
    }

    fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use crate::h2::hpack::format_decimal;

    #[test]
    fn decimal_formatting() {
        let mut buf = [0u8; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(12_288, &mut buf), b"12288");
        assert_eq!(format_decimal(u64::MAX, &mut buf), b"18446744073709551615");
    }
}
