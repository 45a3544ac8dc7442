//! The receive half: the client preface, frames, header blocks, stream
//! states (RFC 9113 §5.1) and receive-side flow control (§6.9).

use std::ops::Range;

use bytes::Bytes;

use super::limits::{Budget, Limit};
use super::request::{EarlyData, HeadBuilder, RequestHead};
use super::{Connection, Event, PendingBlock, Phase, Stream};
use crate::h2::error::{ErrorCode, ErrorScope, H2Error};
use crate::h2::frame::{
    self, CONNECTION_PREFACE, FRAME_HEADER_LEN, Frame, FrameHeader, FrameType, SettingId, SettingsParams,
};
use crate::h2::hpack::DecodeLimits;
use crate::h2::stream::{FlowWindow, MAX_WINDOW, StreamState};

fn conn_err(code: ErrorCode, reason: &'static str) -> H2Error {
    H2Error::connection(code, reason)
}

/// Why a complete header block does not yield a request, short of a
/// connection error.
enum BlockProblem {
    /// §8.1.1: a stream error of type PROTOCOL_ERROR.
    Malformed,
    /// Over SETTINGS_MAX_HEADER_LIST_SIZE or the field count: answered with
    /// 431 (RFC 9113 §10.5.1), the HPACK context intact.
    TooLarge,
}

impl Connection {
    /// Feeds bytes received from the client. Complete frames are processed
    /// straight from `input`; only an incomplete trailing frame is copied.
    ///
    /// `Err` means a connection error: a GOAWAY is queued, the caller should
    /// flush [`Connection::write_output`] and close. Further input is ignored.
    pub fn recv(&mut self, input: &[u8]) -> Result<(), H2Error> {
        self.received += input.len() as u64;
        if let Some(err) = self.error {
            return Err(err);
        }
        match self.recv_inner(input) {
            Ok(()) => Ok(()),
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Feeds bytes that arrived as TLS 1.3 early data (0-RTT). Same contract
    /// as [`Connection::recv`]; every byte fed here counts as early, so
    /// everything received so far (preface included) is before the
    /// early-data end offset, and each request head says whether its header
    /// block arrived early ([`RequestHead::early_data`]).
    ///
    /// Early data always precedes the rest of a TLS connection's input, so
    /// calling this after `recv` took any byte is a caller bug: a debug
    /// assertion, and in release builds the bytes count as ordinary input.
    pub fn recv_early(&mut self, input: &[u8]) -> Result<(), H2Error> {
        let in_order = self.received == self.early_end;
        debug_assert!(in_order, "recv_early after recv took input");
        if in_order {
            self.early_end += input.len() as u64;
        }
        self.recv(input)
    }

    /// Total bytes of input taken so far by `recv` and `recv_early` (also
    /// those ignored after a connection error).
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// The input offset where TLS early data ends (0 when none was received).
    pub fn early_data_end(&self) -> u64 {
        self.early_end
    }

    /// How a header block from input offset `start` (its HEADERS frame's
    /// first byte) to `end` (just past its last frame) relates to early data.
    fn early_class(&self, start: u64, end: u64) -> EarlyData {
        if start >= self.early_end {
            EarlyData::No
        } else if end <= self.early_end {
            EarlyData::Complete
        } else {
            EarlyData::Partial
        }
    }

    fn recv_inner(&mut self, mut input: &[u8]) -> Result<(), H2Error> {
        if let Phase::Preface(matched) = self.phase {
            let want = &CONNECTION_PREFACE[matched..];
            let n = want.len().min(input.len());
            // §3.4: a client that does not start with the preface is not
            // speaking HTTP/2 (an HTTP/1.1 request lands here).
            if input[..n] != want[..n] {
                return Err(conn_err(ErrorCode::ProtocolError, "invalid connection preface"));
            }
            input = &input[n..];
            if matched + n < CONNECTION_PREFACE.len() {
                self.phase = Phase::Preface(matched + n);
                return Ok(());
            }
            self.phase = Phase::FirstSettings;
        }
        if !self.partial.is_empty() {
            input = self.complete_partial(input)?;
        }
        while input.len() >= FRAME_HEADER_LEN {
            let header = self.frame_header(&input[..FRAME_HEADER_LEN])?;
            let total = FRAME_HEADER_LEN + header.length as usize;
            if input.len() < total {
                break;
            }
            // This call's input ends at `received`, so the frame starts at:
            let at = self.received - input.len() as u64;
            self.on_frame(&header, &input[FRAME_HEADER_LEN..total], at)?;
            input = &input[total..];
        }
        self.partial.extend_from_slice(input);
        Ok(())
    }

    /// Parses a frame header and checks its length against what we
    /// advertised before any payload is buffered (§4.2).
    fn frame_header(&self, bytes: &[u8]) -> Result<FrameHeader, H2Error> {
        let mut raw = [0u8; FRAME_HEADER_LEN];
        raw.copy_from_slice(bytes);
        let header = FrameHeader::parse(&raw);
        header.check_size(self.cfg.max_frame_size)?;
        Ok(header)
    }

    /// Completes the frame carried over from the last call; returns the
    /// input that remains.
    fn complete_partial<'a>(&mut self, mut input: &'a [u8]) -> Result<&'a [u8], H2Error> {
        // The carried-over bytes came right before this call's input.
        let at = self.received - input.len() as u64 - self.partial.len() as u64;
        if self.partial.len() < FRAME_HEADER_LEN {
            let take = (FRAME_HEADER_LEN - self.partial.len()).min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.partial.len() < FRAME_HEADER_LEN {
                return Ok(input);
            }
        }
        let header = self.frame_header(&self.partial[..FRAME_HEADER_LEN])?;
        let total = FRAME_HEADER_LEN + header.length as usize;
        let take = (total - self.partial.len()).min(input.len());
        self.partial.extend_from_slice(&input[..take]);
        input = &input[take..];
        if self.partial.len() == total {
            let buf = std::mem::take(&mut self.partial);
            let result = self.on_frame(&header, &buf[FRAME_HEADER_LEN..], at);
            self.partial = buf;
            self.partial.clear();
            result?;
        }
        Ok(input)
    }

    /// `at` is the input offset of the frame's first byte (its header).
    fn on_frame(&mut self, header: &FrameHeader, payload: &[u8], at: u64) -> Result<(), H2Error> {
        // §4.3 / §6.10: a header block is a contiguous run of frames; any
        // other frame, unknown types included (§5.5), is a PROTOCOL_ERROR.
        if let Some(block) = self.block
            && (header.kind != FrameType::Continuation || header.stream_id != block.stream_id)
        {
            return Err(conn_err(ErrorCode::ProtocolError, "frame interleaved in a header block"));
        }
        let frame = match Frame::decode(header, payload) {
            Ok(frame) => frame,
            Err(err) => return self.on_decode_error(err),
        };
        if self.phase == Phase::FirstSettings {
            // §3.4: the client preface ends with a SETTINGS frame.
            if !matches!(frame, Frame::Settings { ack: false, .. }) {
                return Err(conn_err(ErrorCode::ProtocolError, "first frame is not SETTINGS"));
            }
            self.phase = Phase::Open;
        }
        self.spend_for(&frame)?;
        let frame_end = at + (FRAME_HEADER_LEN as u64) + u64::from(header.length);
        match frame {
            Frame::Data { stream_id, end_stream, data, flow_len } => {
                self.on_data(stream_id, end_stream, data, flow_len)
            }
            Frame::Headers { stream_id, end_stream, end_headers, priority, fragment } => {
                // §5.3.1: a stream cannot depend on itself; a stream error,
                // but only after the block updated the HPACK context.
                let self_dependent = priority.is_some_and(|p| p.dependency == stream_id);
                self.on_headers(stream_id, end_stream, end_headers, self_dependent, fragment, at..frame_end)
            }
            Frame::Continuation { stream_id, end_headers, fragment } => {
                self.on_continuation(stream_id, end_headers, fragment, frame_end)
            }
            // RFC 9113 §5.3.2 deprecates the priority signalling; PRIORITY
            // frames are validated by the codec, then ignored. They may name
            // idle streams without opening them.
            Frame::Priority { .. } => Ok(()),
            Frame::RstStream { stream_id, code } => self.on_rst_stream(stream_id, code),
            Frame::Settings { ack, params } => self.on_settings(ack, params),
            // §8.4: clients cannot push.
            Frame::PushPromise { .. } => Err(conn_err(ErrorCode::ProtocolError, "PUSH_PROMISE from a client")),
            Frame::Ping { ack, payload } => self.on_ping(ack, payload),
            Frame::GoAway { last_stream_id, code, .. } => {
                self.goaway_received = true;
                self.events.push_back(Event::GoAway { last_stream_id, code });
                Ok(())
            }
            Frame::WindowUpdate { stream_id, increment } => self.on_window_update(stream_id, increment),
            // §4.1 / §5.5: unknown frame types are ignored.
            Frame::Unknown { .. } => Ok(()),
        }
    }

    /// Charges the per-tick budgets (see `limits`) for frames that make us
    /// work without serving anything. Stream resets are charged where they
    /// happen (`on_rst_stream`, `stream_error`).
    #[inline]
    fn spend_for(&mut self, frame: &Frame<'_>) -> Result<(), H2Error> {
        match *frame {
            // CVE-2019-9518: frames with nothing in them that end nothing.
            Frame::Data { end_stream: false, data: [], .. }
            | Frame::Headers { end_headers: false, fragment: [], .. } => self.spend(Budget::Empty, Limit::EmptyFrames),
            // CVE-2024-27316: on top of the per-block caps.
            Frame::Continuation { end_headers, fragment, .. } => {
                self.spend(Budget::Continuation, Limit::ContinuationFlood)?;
                if !end_headers && fragment.is_empty() {
                    self.spend(Budget::Empty, Limit::EmptyFrames)?;
                }
                Ok(())
            }
            // CVE-2019-9513: ignored, but each still costs a frame's work.
            Frame::Priority { .. } => self.spend(Budget::Priority, Limit::PriorityFlood),
            // CVE-2019-9512, CVE-2019-9515: each one asks for a reply (ACKs
            // answer nothing of ours we did not already count: we never
            // send PING, and send SETTINGS once).
            Frame::Ping { .. } => self.spend(Budget::Pings, Limit::PingFlood),
            Frame::Settings { .. } => self.spend(Budget::Settings, Limit::SettingsFlood),
            _ => Ok(()),
        }
    }

    fn on_decode_error(&mut self, err: H2Error) -> Result<(), H2Error> {
        let ErrorScope::Stream(id) = err.scope else { return Err(err) };
        if self.phase == Phase::FirstSettings {
            return Err(conn_err(ErrorCode::ProtocolError, "first frame is not SETTINGS"));
        }
        // §6.4: no RST_STREAM for an idle stream, so an error on one (a bad
        // PRIORITY length, a zero WINDOW_UPDATE) becomes a connection error
        // with the same code (§5.4.1 allows the escalation).
        if self.is_idle(id) {
            return Err(H2Error::connection(err.code, err.reason));
        }
        if self.ignored_after_goaway(id) {
            return Ok(());
        }
        self.stream_error(id, err.code)
    }

    /// §6.8: "the sender will ignore frames sent on streams initiated by
    /// the receiver if the stream has an identifier higher than the included
    /// last stream identifier". Such a stream never got a record, so without
    /// this its later frames (DATA, trailers) would look like frames on a
    /// closed stream and draw RST_STREAM or even a connection error. DATA
    /// still counts against the connection window (`on_data` did that).
    fn ignored_after_goaway(&self, id: u32) -> bool {
        self.goaway_sent.is_some_and(|last| id > last) && id <= self.last_client_stream
    }

    /// §5.1: whether `id` is still "idle". Odd ids above the highest the
    /// client used are; so is every even id, since only a server opens
    /// even streams (§5.1.1) and we never do (no PUSH_PROMISE, §8.4). Any
    /// frame but HEADERS or PRIORITY on an idle stream is a connection
    /// error of type PROTOCOL_ERROR.
    fn is_idle(&self, id: u32) -> bool {
        id > self.last_client_stream || id.is_multiple_of(2)
    }

    /// Sends RST_STREAM for an error in the client's frames, unless the
    /// client is not reading what we send.
    ///
    /// Every such reset spends from the reset budget, shared with the
    /// client's own RST_STREAMs: a stream we reset frees its concurrency
    /// slot at once, so a client that provokes resets (malformed requests,
    /// WINDOW_UPDATE 0, flow-control or content-length violations, frames
    /// on closed streams, streams past the limit) could otherwise open
    /// streams without bound (CVE-2025-8671 MadeYouReset; CVE-2019-9514
    /// reset flood).
    pub(super) fn stream_error(&mut self, id: u32, code: ErrorCode) -> Result<(), H2Error> {
        self.check_queued_output()?;
        self.spend(Budget::Resets, Limit::ResetFlood)?;
        self.reset_stream_with(id, code, true);
        Ok(())
    }

    /// A client that makes us queue replies without reading them is
    /// flooding (CVE-2019-9512 ping flood, CVE-2019-9515 settings flood).
    fn check_queued_output(&mut self) -> Result<(), H2Error> {
        if self.out.len() - self.out_pos > self.cfg.max_queued_output {
            return Err(self.calm(Limit::QueuedOutput));
        }
        Ok(())
    }

    /// The most bytes one header block may have before decoding: a block
    /// bigger than twice the list limit cannot decode within it anyway.
    fn max_block_bytes(&self) -> usize {
        2 * self.cfg.max_header_list_size as usize + 1024
    }

    fn on_headers(
        &mut self,
        stream_id: u32,
        end_stream: bool,
        end_headers: bool,
        self_dependent: bool,
        fragment: &[u8],
        span: Range<u64>,
    ) -> Result<(), H2Error> {
        // §5.1.1: clients open odd-numbered streams.
        if stream_id.is_multiple_of(2) {
            return Err(conn_err(ErrorCode::ProtocolError, "even stream id from a client"));
        }
        if end_headers {
            let early = self.early_class(span.start, span.end);
            return self.on_header_block(stream_id, end_stream, self_dependent, fragment, early);
        }
        if fragment.len() > self.max_block_bytes() {
            return Err(self.calm(Limit::HeaderBlockTooLarge));
        }
        self.block_buf.clear();
        self.block_buf.extend_from_slice(fragment);
        self.block = Some(PendingBlock { stream_id, end_stream, self_dependent, frames: 1, start: span.start });
        Ok(())
    }

    fn on_continuation(&mut self, stream_id: u32, end_headers: bool, fragment: &[u8], end: u64) -> Result<(), H2Error> {
        // §6.10: CONTINUATION only follows HEADERS/CONTINUATION without
        // END_HEADERS (on_frame already checked the stream id).
        let Some(mut block) = self.block else {
            return Err(conn_err(ErrorCode::ProtocolError, "CONTINUATION without a header block"));
        };
        block.frames += 1;
        // CVE-2024-27316: a block is bounded in frames and in bytes before
        // anything is buffered; a block that never ends is the caller's
        // header timeout (`has_partial_input` is true meanwhile).
        if block.frames > self.cfg.max_continuation_frames {
            return Err(self.calm(Limit::ContinuationFlood));
        }
        if self.block_buf.len() + fragment.len() > self.max_block_bytes() {
            return Err(self.calm(Limit::HeaderBlockTooLarge));
        }
        self.block_buf.extend_from_slice(fragment);
        if !end_headers {
            self.block = Some(block);
            return Ok(());
        }
        self.block = None;
        let buf = std::mem::take(&mut self.block_buf);
        let early = self.early_class(block.start, end);
        let result = self.on_header_block(stream_id, block.end_stream, block.self_dependent, &buf, early);
        self.block_buf = buf;
        result
    }

    /// Decodes a whole block into a request head; a decoding failure loses
    /// the shared compression context, a connection error (§4.3).
    fn decode_block(
        &mut self,
        block: &[u8],
        trailers: bool,
    ) -> Result<(Box<RequestHead>, Result<(), BlockProblem>), H2Error> {
        let mut builder = HeadBuilder::new(self.head_pool.pop().unwrap_or_default(), trailers);
        let limits = DecodeLimits {
            max_list_size: self.cfg.max_header_list_size as usize,
            max_header_count: self.cfg.max_header_count,
        };
        match self.decoder.decode_checked(block, limits, |field, syntax| builder.checked_field(field, syntax)) {
            Ok(()) => {
                let (head, result) = builder.finish();
                Ok((head, result.map_err(|_| BlockProblem::Malformed)))
            }
            Err(e) if e.is_limit() => {
                // CVE-2016-6581, CVE-2019-9516: the decoder stopped copying
                // at the limit; the request (or trailers) is refused.
                self.hit(Limit::HeaderListTooLarge);
                Ok((builder.finish().0, Err(BlockProblem::TooLarge)))
            }
            Err(_) => Err(conn_err(ErrorCode::CompressionError, "HPACK decoding failed")),
        }
    }

    fn on_header_block(
        &mut self,
        id: u32,
        end_stream: bool,
        self_dependent: bool,
        block: &[u8],
        early: EarlyData,
    ) -> Result<(), H2Error> {
        if let Some(key) = self.stream_key(id) {
            return self.on_trailers(key, id, end_stream, self_dependent, block, early);
        }
        if id <= self.last_client_stream {
            // A closed stream: decode anyway to keep HPACK in sync (§5.1).
            let (head, _) = self.decode_block(block, false)?;
            self.recycle(head);
            if self.ignored_after_goaway(id) {
                return Ok(());
            }
            return match self.recently_closed.iter().find(|&&(s, _)| s == id) {
                // We reset it; the client sent this before it knew.
                Some(&(_, true)) => Ok(()),
                Some(&(_, false)) => Err(conn_err(ErrorCode::StreamClosed, "HEADERS on a closed stream")),
                // §5.1.1: ids must increase; a lower unused one is an error.
                None => Err(conn_err(ErrorCode::ProtocolError, "stream id lower than a previous one")),
            };
        }
        self.last_client_stream = id;
        let (mut head, result) = self.decode_block(block, false)?;
        head.early = early;
        // §6.8: after our GOAWAY, newer streams are ignored (but decoded).
        if self.goaway_sent.is_some_and(|last| id > last) {
            self.recycle(head);
            return Ok(());
        }
        if self_dependent {
            self.recycle(head);
            return self.stream_error(id, ErrorCode::ProtocolError);
        }
        // §5.1.2: beyond our advertised limit; REFUSED_STREAM tells the
        // client it may retry.
        if self.active >= self.cfg.max_concurrent_streams as usize {
            self.recycle(head);
            self.hit(Limit::ConcurrentStreams);
            return self.stream_error(id, ErrorCode::RefusedStream);
        }
        let content_length = head.content_length();
        let problem = match result {
            Err(p) => Some(p),
            // §8.1.1: a request that ends here cannot promise a body.
            Ok(()) if end_stream && content_length.is_some_and(|n| n > 0) => Some(BlockProblem::Malformed),
            Ok(()) => None,
        };
        match problem {
            Some(BlockProblem::Malformed) => {
                self.recycle(head);
                self.stream_error(id, ErrorCode::ProtocolError)
            }
            Some(BlockProblem::TooLarge) => {
                self.recycle(head);
                self.check_queued_output()?;
                // A refused request, like a reset one (MadeYouReset).
                self.spend(Budget::Resets, Limit::ResetFlood)?;
                self.open_stream(id, end_stream, None, false);
                // §10.5.1: a server MAY answer an oversized block with 431.
                let _ = self.send_response(id, 431, &[(b"content-length", b"0")], Bytes::new());
                Ok(())
            }
            None => {
                self.open_stream(id, end_stream, content_length, true);
                self.events.push_back(Event::Request { stream_id: id, head, end_stream });
                Ok(())
            }
        }
    }

    fn open_stream(&mut self, id: u32, end_stream: bool, content_length: Option<u64>, delivered: bool) {
        let key = self.streams.insert(Stream {
            id,
            state: StreamState::opened(end_stream),
            recv_window: FlowWindow::new(self.local_initial_window),
            recv_unacked: 0,
            send_window: FlowWindow::new(self.peer_initial_window),
            content_length,
            body_received: 0,
            body: Bytes::new(),
            responded: false,
            queued: false,
            delivered,
        });
        self.ids.insert(id, key);
        self.active += 1;
    }

    fn on_trailers(
        &mut self,
        key: usize,
        id: u32,
        end_stream: bool,
        self_dependent: bool,
        block: &[u8],
        early: EarlyData,
    ) -> Result<(), H2Error> {
        let (mut trailers, result) = self.decode_block(block, true)?;
        trailers.early = early;
        let s = &self.streams[key];
        // §5.1 "half-closed (remote)": the client already ended the stream.
        let code = if !s.state.can_recv() {
            Some(ErrorCode::StreamClosed)
        } else if result.is_err()
            || self_dependent
            // §8.1: trailers end the stream; §8.1.1: the body must match
            // the declared content-length.
            || !end_stream
            || s.content_length.is_some_and(|n| n != s.body_received)
        {
            Some(ErrorCode::ProtocolError)
        } else {
            None
        };
        if let Some(code) = code {
            self.recycle(trailers);
            return self.stream_error(id, code);
        }
        let s = &mut self.streams[key];
        s.state = s.state.recv_end_stream();
        let delivered = s.delivered;
        if delivered {
            self.events.push_back(Event::Trailers { stream_id: id, trailers });
        } else {
            self.recycle(trailers);
        }
        self.close_if_done(key);
        Ok(())
    }

    fn on_data(&mut self, id: u32, end_stream: bool, data: &[u8], flow_len: u32) -> Result<(), H2Error> {
        // §6.9.1: every DATA frame counts against the connection window,
        // whatever the state of its stream.
        if !self.conn_recv_window.consume(flow_len) {
            return Err(conn_err(ErrorCode::FlowControlError, "DATA beyond the connection window"));
        }
        self.conn_recv_unacked += flow_len;
        let result = self.on_stream_data(id, end_stream, data, flow_len);
        self.credit_connection_window();
        result
    }

    fn on_stream_data(&mut self, id: u32, end_stream: bool, data: &[u8], flow_len: u32) -> Result<(), H2Error> {
        let Some(key) = self.stream_key(id) else {
            if self.is_idle(id) {
                return Err(conn_err(ErrorCode::ProtocolError, "DATA on an idle stream"));
            }
            if self.ignored_after_goaway(id) {
                return Ok(());
            }
            if self.recently_closed.iter().any(|&(s, by_us)| s == id && by_us) {
                return Ok(());
            }
            return self.stream_error(id, ErrorCode::StreamClosed);
        };
        let s = &mut self.streams[key];
        if !s.state.can_recv() {
            return self.stream_error(id, ErrorCode::StreamClosed);
        }
        // §6.9.1: the sender overran the window we gave this stream.
        if !s.recv_window.consume(flow_len) {
            return self.stream_error(id, ErrorCode::FlowControlError);
        }
        s.body_received += data.len() as u64;
        // §8.1.1: DATA must add up to content-length exactly.
        if s.content_length.is_some_and(|n| s.body_received > n || (end_stream && s.body_received != n)) {
            return self.stream_error(id, ErrorCode::ProtocolError);
        }
        if end_stream {
            s.state = s.state.recv_end_stream();
        } else {
            s.recv_unacked += flow_len;
            // The body is handed to the caller at once, so the window is
            // credited back as soon as half of it is used. Never with a zero
            // increment (§6.9.1: the client must treat that as an error),
            // which a window of 0 or 1 and an empty DATA frame would give.
            if s.recv_unacked > 0 && s.recv_unacked >= self.local_initial_window / 2 {
                let inc = std::mem::take(&mut s.recv_unacked);
                let _ = s.recv_window.increase(inc);
                frame::write_window_update(&mut self.out, id, inc);
            }
        }
        if s.delivered && (!data.is_empty() || end_stream) {
            let data = Bytes::copy_from_slice(data);
            self.events.push_back(Event::Data { stream_id: id, data, end_stream });
        }
        self.close_if_done(key);
        Ok(())
    }

    fn credit_connection_window(&mut self) {
        // §6.9.1: an increment of 0 is an error; see `on_stream_data`.
        if self.phase != Phase::Failed
            && self.conn_recv_unacked > 0
            && self.conn_recv_unacked >= self.cfg.connection_window_size / 2
        {
            let inc = std::mem::take(&mut self.conn_recv_unacked);
            let _ = self.conn_recv_window.increase(inc);
            frame::write_window_update(&mut self.out, 0, inc);
        }
    }

    fn on_rst_stream(&mut self, id: u32, code: ErrorCode) -> Result<(), H2Error> {
        // §6.4: RST_STREAM on an idle stream is a connection error.
        if self.is_idle(id) {
            return Err(conn_err(ErrorCode::ProtocolError, "RST_STREAM on an idle stream"));
        }
        // CVE-2023-44487 Rapid Reset: a client may cancel what it asked for,
        // but not open and cancel streams as fast as it can send frames
        // (each reset frees a concurrency slot while the work it asked for
        // was already begun). Resets of closed streams count too: a
        // well-behaved client resets each stream at most once.
        self.spend(Budget::Resets, Limit::RapidReset)?;
        if let Some(key) = self.stream_key(id) {
            if self.streams[key].delivered {
                self.events.push_back(Event::StreamReset { stream_id: id, code });
            }
            self.remove_stream(key, false);
        }
        Ok(())
    }

    fn on_settings(&mut self, ack: bool, params: SettingsParams<'_>) -> Result<(), H2Error> {
        if ack {
            if !self.settings_acked {
                self.settings_acked = true;
                // §6.9.2: our SETTINGS_INITIAL_WINDOW_SIZE now applies, also
                // to streams opened under the default.
                let delta = i64::from(self.cfg.initial_window_size) - i64::from(self.local_initial_window);
                for (_, s) in self.streams.iter_mut() {
                    let _ = s.recv_window.adjust(delta);
                }
                self.local_initial_window = self.cfg.initial_window_size;
            }
            return Ok(());
        }
        // (last, highest) SETTINGS_INITIAL_WINDOW_SIZE in this frame.
        let mut window: Option<(u32, u32)> = None;
        for (id, value) in params.iter() {
            match id {
                SettingId::HeaderTableSize => self.encoder.set_max_table_size(value as usize),
                SettingId::InitialWindowSize => {
                    window = Some((value, window.map_or(value, |(_, high)| high.max(value))));
                }
                SettingId::MaxFrameSize => self.peer_max_frame_size = value,
                // We never push, never open streams and never send
                // oversized header lists; the rest is for other extensions.
                _ => {}
            }
        }
        if let Some((last, highest)) = window {
            self.apply_peer_initial_window(last, highest)?;
        }
        self.check_queued_output()?;
        frame::write_settings_ack(&mut self.out);
        Ok(())
    }

    /// §6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE shifts every stream's
    /// send window by the difference; past 2^31-1 is FLOW_CONTROL_ERROR.
    ///
    /// §6.5.3 processes the values of one frame in order, so each window
    /// passes through `w + (v - initial)` for every value `v` and ends at
    /// the `last` one. The windows move together: checking the `highest`
    /// value and applying the last is the same, in one pass over the
    /// streams per frame instead of one per parameter (a 16 KB SETTINGS
    /// frame holds 2,730: CVE-2019-9515).
    fn apply_peer_initial_window(&mut self, last: u32, highest: u32) -> Result<(), H2Error> {
        let peak = i64::from(highest) - i64::from(self.peer_initial_window);
        if self.streams.iter().any(|(_, s)| s.send_window.get() + peak > MAX_WINDOW) {
            return Err(conn_err(ErrorCode::FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE overflows a window"));
        }
        let delta = i64::from(last) - i64::from(self.peer_initial_window);
        self.peer_initial_window = last;
        for (key, s) in self.streams.iter_mut() {
            // Cannot fail: delta ≤ peak, checked above.
            let _ = s.send_window.adjust(delta);
            if !s.queued && !s.body.is_empty() && s.send_window.available() > 0 {
                s.queued = true;
                self.send_queue.push_back((key, s.id));
            }
        }
        Ok(())
    }

    fn on_ping(&mut self, ack: bool, payload: [u8; 8]) -> Result<(), H2Error> {
        // §6.7: answer with the same payload; ACKs answer pings we never send.
        if !ack {
            self.check_queued_output()?;
            frame::write_ping(&mut self.out, true, payload);
        }
        Ok(())
    }

    fn on_window_update(&mut self, id: u32, increment: u32) -> Result<(), H2Error> {
        if id == 0 {
            // §6.9.1: overflowing the connection window is a connection error.
            return self
                .conn_send_window
                .increase(increment)
                .map_err(|_| conn_err(ErrorCode::FlowControlError, "connection window above 2^31-1"));
        }
        let Some(key) = self.stream_key(id) else {
            if self.is_idle(id) {
                return Err(conn_err(ErrorCode::ProtocolError, "WINDOW_UPDATE on an idle stream"));
            }
            // §5.1: WINDOW_UPDATE may follow our END_STREAM or RST_STREAM.
            return Ok(());
        };
        let s = &mut self.streams[key];
        if s.send_window.increase(increment).is_err() {
            return self.stream_error(id, ErrorCode::FlowControlError);
        }
        if !s.queued && !s.body.is_empty() && s.send_window.available() > 0 {
            self.enqueue(key);
        }
        Ok(())
    }
}
