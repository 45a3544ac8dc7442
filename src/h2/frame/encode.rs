//! Frame serialization (RFC 9113 §4.1, §6): [`Frame::encode`] and the targeted writers.
//!
//! Everything appends to a caller-owned `Vec<u8>` and reserves the exact size first, so the only allocation is the
//! buffer's own growth. Writers do not know the peer's SETTINGS_MAX_FRAME_SIZE (except `write_headers`): keeping each
//! frame within it is the caller's job (§4.2). A payload above 2^24-1 octets is a caller bug (debug-asserted).

use super::header::U31_MASK;
use super::{FRAME_HEADER_LEN, Frame, FrameHeader, FrameType, MAX_ALLOWED_FRAME_SIZE, MAX_WINDOW_SIZE, PrioritySpec};
use super::{SettingId, flags};
use crate::h2::error::ErrorCode;

impl Frame<'_> {
    /// Serialize header + payload, appending to `dst`. DATA, HEADERS and PUSH_PROMISE are written without padding;
    /// `Settings` and `Unknown` re-emit their raw payload. DATA's `flow_len` is ignored (derived from `data`).
    pub fn encode(&self, dst: &mut Vec<u8>) {
        self.encode_with(None, dst);
    }

    /// Like [`Frame::encode`], with `pad_len` zero octets of padding and the PADDED flag on DATA, HEADERS and
    /// PUSH_PROMISE (`pad_len` 0 still sets PADDED and writes a Pad Length octet). Other types ignore padding.
    pub fn encode_padded(&self, pad_len: u8, dst: &mut Vec<u8>) {
        self.encode_with(Some(pad_len), dst);
    }

    fn encode_with(&self, pad: Option<u8>, dst: &mut Vec<u8>) {
        match *self {
            Frame::Data { stream_id, end_stream, data, flow_len: _ } => {
                let fl = flag(end_stream, flags::END_STREAM);
                write_padded(dst, FrameType::Data, fl, stream_id, pad, &[], data);
            }
            Frame::Headers { stream_id, end_stream, end_headers, priority, fragment } => {
                let mut fl = flag(end_stream, flags::END_STREAM) | flag(end_headers, flags::END_HEADERS);
                let prio;
                let fixed: &[u8] = match priority {
                    Some(spec) => {
                        fl |= flags::PRIORITY;
                        prio = priority_bytes(&spec);
                        &prio
                    }
                    None => &[],
                };
                write_padded(dst, FrameType::Headers, fl, stream_id, pad, fixed, fragment);
            }
            Frame::Priority { stream_id, spec } => {
                dst.reserve(FRAME_HEADER_LEN + 5);
                write_frame_header(dst, 5, FrameType::Priority, 0, stream_id);
                dst.extend_from_slice(&priority_bytes(&spec));
            }
            Frame::RstStream { stream_id, code } => write_rst_stream(dst, stream_id, code),
            Frame::Settings { ack, params } => {
                let raw = params.as_bytes();
                dst.reserve(FRAME_HEADER_LEN + raw.len());
                write_frame_header(dst, len_u32(raw.len()), FrameType::Settings, flag(ack, flags::ACK), 0);
                dst.extend_from_slice(raw);
            }
            Frame::PushPromise { stream_id, end_headers, promised_stream_id, fragment } => {
                let fl = flag(end_headers, flags::END_HEADERS);
                let fixed = (promised_stream_id & U31_MASK).to_be_bytes();
                write_padded(dst, FrameType::PushPromise, fl, stream_id, pad, &fixed, fragment);
            }
            Frame::Ping { ack, payload } => write_ping(dst, ack, payload),
            Frame::GoAway { last_stream_id, code, debug_data } => write_goaway(dst, last_stream_id, code, debug_data),
            Frame::WindowUpdate { stream_id, increment } => write_window_update(dst, stream_id, increment),
            Frame::Continuation { stream_id, end_headers, fragment } => {
                write_raw(dst, FrameType::Continuation, flag(end_headers, flags::END_HEADERS), stream_id, fragment);
            }
            Frame::Unknown { kind, stream_id, flags: fl, payload } => {
                write_raw(dst, FrameType::Unknown(kind), fl, stream_id, payload);
            }
        }
    }
}

/// Append a 9-octet frame header (§4.1). The reserved bit of `stream_id` is never sent (§4.1: it "MUST remain unset
/// (0x00) when sending").
#[inline]
pub fn write_frame_header(dst: &mut Vec<u8>, length: u32, kind: FrameType, flags: u8, stream_id: u32) {
    dst.extend_from_slice(&FrameHeader { length, kind, flags, stream_id }.encode());
}

/// A SETTINGS frame (§6.5) carrying `params` in order. Values are sent as given; the caller keeps them within the
/// §6.5.2 ranges (the peer would reject them otherwise).
pub fn write_settings(dst: &mut Vec<u8>, params: &[(SettingId, u32)]) {
    let len = params.len() * 6;
    dst.reserve(FRAME_HEADER_LEN + len);
    write_frame_header(dst, len_u32(len), FrameType::Settings, 0, 0);
    for &(id, value) in params {
        dst.extend_from_slice(&id.to_u16().to_be_bytes());
        dst.extend_from_slice(&value.to_be_bytes());
    }
}

/// An empty SETTINGS frame with ACK (§6.5: "When this bit is set, the frame payload of the SETTINGS frame MUST be
/// empty.").
pub fn write_settings_ack(dst: &mut Vec<u8>) {
    write_frame_header(dst, 0, FrameType::Settings, flags::ACK, 0);
}

/// A PING (§6.7); a response echoes the received payload with `ack` set.
pub fn write_ping(dst: &mut Vec<u8>, ack: bool, payload: [u8; 8]) {
    dst.reserve(FRAME_HEADER_LEN + 8);
    write_frame_header(dst, 8, FrameType::Ping, flag(ack, flags::ACK), 0);
    dst.extend_from_slice(&payload);
}

/// A GOAWAY (§6.8). The reserved bit of `last_stream_id` is cleared.
pub fn write_goaway(dst: &mut Vec<u8>, last_stream_id: u32, code: ErrorCode, debug_data: &[u8]) {
    let len = 8 + debug_data.len();
    dst.reserve(FRAME_HEADER_LEN + len);
    write_frame_header(dst, len_u32(len), FrameType::GoAway, 0, 0);
    dst.extend_from_slice(&(last_stream_id & U31_MASK).to_be_bytes());
    dst.extend_from_slice(&code.to_u32().to_be_bytes());
    dst.extend_from_slice(debug_data);
}

/// A RST_STREAM (§6.4).
pub fn write_rst_stream(dst: &mut Vec<u8>, stream_id: u32, code: ErrorCode) {
    debug_assert!(stream_id & U31_MASK != 0, "RST_STREAM on stream 0");
    dst.reserve(FRAME_HEADER_LEN + 4);
    write_frame_header(dst, 4, FrameType::RstStream, 0, stream_id);
    dst.extend_from_slice(&code.to_u32().to_be_bytes());
}

/// A WINDOW_UPDATE (§6.9); `stream_id` 0 updates the connection window. `increment` must be 1..=2^31-1 (§6.9: 0 is
/// an error for the receiver); its reserved bit is cleared.
pub fn write_window_update(dst: &mut Vec<u8>, stream_id: u32, increment: u32) {
    debug_assert!((1..=MAX_WINDOW_SIZE).contains(&increment), "WINDOW_UPDATE increment out of range");
    dst.reserve(FRAME_HEADER_LEN + 4);
    write_frame_header(dst, 4, FrameType::WindowUpdate, 0, stream_id);
    dst.extend_from_slice(&(increment & U31_MASK).to_be_bytes());
}

/// A complete field block as one HEADERS frame followed by as many CONTINUATION frames as `max_frame_size` (the
/// peer's SETTINGS_MAX_FRAME_SIZE) requires.
///
/// §4.3: "Field blocks MUST be transmitted as a contiguous sequence of frames" (we write them back to back, so nothing
/// can interleave) and "The last frame in a sequence of HEADERS or CONTINUATION frames has the END_HEADERS flag set."
/// END_STREAM goes on the HEADERS frame only: §6.10 defines no END_STREAM for CONTINUATION, and §6.2 says "a HEADERS
/// frame with the END_STREAM flag set can be followed by CONTINUATION frames on the same stream". An empty block is a
/// single empty HEADERS frame.
pub fn write_headers(dst: &mut Vec<u8>, stream_id: u32, block: &[u8], end_stream: bool, max_frame_size: u32) {
    // Smaller frames are always legal, so any caller value works; clamping to >= 1 keeps the loop finite.
    let max = max_frame_size.clamp(1, MAX_ALLOWED_FRAME_SIZE) as usize;
    let frames = block.len().div_ceil(max).max(1);
    dst.reserve(block.len() + frames * FRAME_HEADER_LEN);

    let (first, mut rest) = block.split_at(block.len().min(max));
    let fl = flag(end_stream, flags::END_STREAM) | flag(rest.is_empty(), flags::END_HEADERS);
    write_frame_header(dst, len_u32(first.len()), FrameType::Headers, fl, stream_id);
    dst.extend_from_slice(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(max));
        let fl = flag(tail.is_empty(), flags::END_HEADERS);
        write_frame_header(dst, len_u32(chunk.len()), FrameType::Continuation, fl, stream_id);
        dst.extend_from_slice(chunk);
        rest = tail;
    }
}

/// Header + `[Pad Length] fixed body [Padding]` for the three paddable types (§6.1, §6.2, §6.6).
fn write_padded(
    dst: &mut Vec<u8>,
    kind: FrameType,
    mut fl: u8,
    stream_id: u32,
    pad: Option<u8>,
    fixed: &[u8],
    body: &[u8],
) {
    let pad_octets = pad.map_or(0, usize::from);
    let len = usize::from(pad.is_some()) + fixed.len() + body.len() + pad_octets;
    dst.reserve(FRAME_HEADER_LEN + len);
    if pad.is_some() {
        fl |= flags::PADDED;
    }
    write_frame_header(dst, len_u32(len), kind, fl, stream_id);
    if let Some(p) = pad {
        dst.push(p);
    }
    dst.extend_from_slice(fixed);
    dst.extend_from_slice(body);
    // §6.1: "Padding octets MUST be set to zero when sending."
    dst.resize(dst.len() + pad_octets, 0);
}

fn write_raw(dst: &mut Vec<u8>, kind: FrameType, fl: u8, stream_id: u32, payload: &[u8]) {
    dst.reserve(FRAME_HEADER_LEN + payload.len());
    write_frame_header(dst, len_u32(payload.len()), kind, fl, stream_id);
    dst.extend_from_slice(payload);
}

/// §6.3 layout; the exclusive flag is the dependency's high bit.
fn priority_bytes(spec: &PrioritySpec) -> [u8; 5] {
    let dep = (spec.dependency & U31_MASK) | if spec.exclusive { !U31_MASK } else { 0 };
    let [d0, d1, d2, d3] = dep.to_be_bytes();
    [d0, d1, d2, d3, spec.weight]
}

#[inline]
fn flag(on: bool, bit: u8) -> u8 {
    if on { bit } else { 0 }
}

/// Payload lengths are 24-bit (§4.1); anything larger is a caller bug, caught by `FrameHeader::encode`'s assert.
#[inline]
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_headers_single_frame_when_it_fits() {
        let mut out = Vec::new();
        write_headers(&mut out, 3, b"abc", true, 16_384);
        assert_eq!(out, [0, 0, 3, 0x1, 0x5, 0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn write_headers_empty_block_and_zero_max() {
        let mut out = Vec::new();
        write_headers(&mut out, 1, b"", false, 16_384);
        assert_eq!(out, [0, 0, 0, 0x1, 0x4, 0, 0, 0, 1]);
        // A nonsensical max of 0 must not loop forever: one-octet frames.
        out.clear();
        write_headers(&mut out, 1, b"xy", false, 0);
        assert_eq!(out, [0, 0, 1, 0x1, 0x0, 0, 0, 0, 1, b'x', 0, 0, 1, 0x9, 0x4, 0, 0, 0, 1, b'y']);
    }

    #[test]
    fn padding_is_zeroed_and_flagged() {
        let mut out = Vec::new();
        let f = Frame::Data { stream_id: 1, end_stream: false, data: b"hi", flow_len: 0 };
        f.encode_padded(3, &mut out);
        assert_eq!(out, [0, 0, 6, 0x0, 0x8, 0, 0, 0, 1, 3, b'h', b'i', 0, 0, 0]);
    }
}
