//! Frame payload decoding (RFC 9113 §6): zero-copy, allocation-free, and total (every input gives `Ok` or `Err`,
//! never a panic: all slicing goes through `get`/`split_*_checked`-style APIs after length checks).

use super::header::U31_MASK;
use super::settings::SettingsParams;
use super::{Frame, FrameHeader, FrameType, PrioritySpec, flags};
use crate::h2::error::{ErrorCode, H2Error};

impl<'a> Frame<'a> {
    /// Decode one frame payload. `payload.len()` must equal `header.length` (the caller has read exactly that many
    /// octets after calling [`FrameHeader::check_size`]); it is debug-asserted, and in release the slice wins.
    ///
    /// Validates everything that can be validated from the frame alone and returns the RFC's error with its scope.
    /// Stream-scoped errors are only: PRIORITY with a bad length (§6.3), a self-dependency (§5.3.1) in PRIORITY,
    /// and a zero WINDOW_UPDATE increment on a stream (§6.9).
    ///
    /// A HEADERS frame whose priority block names its own stream decodes fine: the self-dependency is a stream
    /// error, but HPACK state is connection-wide and §4.3 requires every field block to be decompressed, so the
    /// connection must first decode the block (and its CONTINUATIONs) and only then reset the stream. It checks
    /// `priority.dependency == stream_id` itself.
    pub fn decode(header: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, H2Error> {
        debug_assert_eq!(payload.len() as u64, u64::from(header.length), "payload length != header length");
        let stream_id = header.stream_id;
        let fl = header.flags;
        match header.kind {
            FrameType::Data => decode_data(stream_id, fl, payload),
            FrameType::Headers => decode_headers(stream_id, fl, payload),
            FrameType::Priority => decode_priority(stream_id, payload),
            FrameType::RstStream => decode_rst_stream(stream_id, payload),
            FrameType::Settings => decode_settings(stream_id, fl, payload),
            FrameType::PushPromise => decode_push_promise(stream_id, fl, payload),
            FrameType::Ping => decode_ping(stream_id, fl, payload),
            FrameType::GoAway => decode_goaway(stream_id, payload),
            FrameType::WindowUpdate => decode_window_update(stream_id, payload),
            FrameType::Continuation => {
                // §6.10: "If a CONTINUATION frame is received with a Stream Identifier field of 0x00, the recipient
                // MUST respond with a connection error (Section 5.4.1) of type PROTOCOL_ERROR."
                require_stream(stream_id, "CONTINUATION on stream 0")?;
                Ok(Frame::Continuation { stream_id, end_headers: fl & flags::END_HEADERS != 0, fragment: payload })
            }
            // §4.1: "Implementations MUST ignore and discard frames of unknown types." Handing them up rather
            // than dropping them here lets the connection enforce §5.5: "Extension frames that appear in the middle
            // of a field block (Section 4.3) are not permitted; these MUST be treated as a connection error".
            FrameType::Unknown(kind) => Ok(Frame::Unknown { kind, stream_id, flags: fl, payload }),
        }
    }
}

fn decode_data(stream_id: u32, fl: u8, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.1: "If a DATA frame is received whose Stream Identifier field is 0x00, the recipient MUST respond with a
    // connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_stream(stream_id, "DATA on stream 0")?;
    let (body, pad_len) = split_pad_length(fl, payload)?;
    // §6.1: "If the length of the padding is the length of the frame payload or greater, the recipient MUST treat
    // this as a connection error (Section 5.4.1) of type PROTOCOL_ERROR." The payload includes the Pad Length octet,
    // so padding may fill everything after it (empty data) but no more.
    let data = strip_padding(body, pad_len, "DATA padding exceeds payload")?;
    Ok(Frame::Data {
        stream_id,
        end_stream: fl & flags::END_STREAM != 0,
        data,
        // §6.1: "The entire DATA frame payload is included in flow control, including the Pad Length and Padding
        // fields if present." A payload is at most 2^24-1 octets, so this never saturates in practice.
        flow_len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
    })
}

fn decode_headers(stream_id: u32, fl: u8, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.2: "If a HEADERS frame is received whose Stream Identifier field is 0x00, the recipient MUST respond with a
    // connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_stream(stream_id, "HEADERS on stream 0")?;
    let (body, pad_len) = split_pad_length(fl, payload)?;
    let (priority, body) = if fl & flags::PRIORITY != 0 {
        // §4.2: a frame "too small to contain mandatory frame data" is a FRAME_SIZE_ERROR, and a connection error for
        // any frame carrying a field block.
        let Some((fields, rest)) = body.split_first_chunk::<5>() else {
            return Err(H2Error::connection(ErrorCode::FrameSizeError, "HEADERS too short for its priority fields"));
        };
        (Some(parse_priority(fields)), rest)
    } else {
        (None, body)
    };
    // §6.2: "Padding that exceeds the size remaining for the field block fragment MUST be treated as a
    // PROTOCOL_ERROR." (a connection error: the frame carries a field block, §4.3).
    let fragment = strip_padding(body, pad_len, "HEADERS padding exceeds payload")?;
    Ok(Frame::Headers {
        stream_id,
        end_stream: fl & flags::END_STREAM != 0,
        end_headers: fl & flags::END_HEADERS != 0,
        priority,
        fragment,
    })
}

fn decode_priority(stream_id: u32, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.3: "If a PRIORITY frame is received with a stream identifier of 0x00, the recipient MUST respond with a
    // connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_stream(stream_id, "PRIORITY on stream 0")?;
    // §6.3: "A PRIORITY frame with a length other than 5 octets MUST be treated as a stream error (Section 5.4.2) of
    // type FRAME_SIZE_ERROR."
    let Ok(fields) = <&[u8; 5]>::try_from(payload) else {
        return Err(H2Error::stream(stream_id, ErrorCode::FrameSizeError, "PRIORITY length not 5"));
    };
    let spec = parse_priority(fields);
    check_self_dependency(stream_id, &spec)?;
    Ok(Frame::Priority { stream_id, spec })
}

fn decode_rst_stream(stream_id: u32, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.4: "If a RST_STREAM frame is received with a stream identifier of 0x00, the recipient MUST treat this as a
    // connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_stream(stream_id, "RST_STREAM on stream 0")?;
    // §6.4: "A RST_STREAM frame with a length other than 4 octets MUST be treated as a connection error
    // (Section 5.4.1) of type FRAME_SIZE_ERROR."
    let Ok(code) = <[u8; 4]>::try_from(payload) else {
        return Err(H2Error::connection(ErrorCode::FrameSizeError, "RST_STREAM length not 4"));
    };
    // §7: unknown codes "MUST NOT trigger any special behavior"; `from_u32` keeps them as `Unknown`.
    Ok(Frame::RstStream { stream_id, code: ErrorCode::from_u32(u32::from_be_bytes(code)) })
}

fn decode_settings(stream_id: u32, fl: u8, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.5: "If an endpoint receives a SETTINGS frame whose Stream Identifier field is anything other than 0x00, the
    // endpoint MUST respond with a connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_connection(stream_id, "SETTINGS on a stream")?;
    let ack = fl & flags::ACK != 0;
    // §6.5: "Receipt of a SETTINGS frame with the ACK flag set and a length field value other than 0 MUST be treated
    // as a connection error (Section 5.4.1) of type FRAME_SIZE_ERROR."
    if ack && !payload.is_empty() {
        return Err(H2Error::connection(ErrorCode::FrameSizeError, "SETTINGS ACK with a payload"));
    }
    // Length multiple of 6 and per-parameter ranges (§6.5, §6.5.2): see `SettingsParams::parse`.
    let params = SettingsParams::parse(payload)?;
    Ok(Frame::Settings { ack, params })
}

fn decode_push_promise(stream_id: u32, fl: u8, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.6: "If the Stream Identifier field specifies the value 0x00, a recipient MUST respond with a connection
    // error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_stream(stream_id, "PUSH_PROMISE on stream 0")?;
    let (body, pad_len) = split_pad_length(fl, payload)?;
    // §4.2: too small for the mandatory Promised Stream ID; a connection error since the frame carries a field block.
    let Some((promised, rest)) = body.split_first_chunk::<4>() else {
        return Err(H2Error::connection(
            ErrorCode::FrameSizeError,
            "PUSH_PROMISE too short for the promised stream id",
        ));
    };
    // §6.6 reuses DATA's Pad Length / Padding fields (§6.1): padding may not exceed what follows the fixed fields.
    let fragment = strip_padding(rest, pad_len, "PUSH_PROMISE padding exceeds payload")?;
    // §6.6: the promised id "MUST be a valid choice for the next stream sent by the sender"; 0 never is (§5.1.1:
    // stream 0 is the connection). Its high bit is reserved and ignored, like every reserved bit (§4.1).
    let promised_stream_id = u32::from_be_bytes(*promised) & U31_MASK;
    if promised_stream_id == 0 {
        return Err(H2Error::connection(ErrorCode::ProtocolError, "PUSH_PROMISE promising stream 0"));
    }
    Ok(Frame::PushPromise { stream_id, end_headers: fl & flags::END_HEADERS != 0, promised_stream_id, fragment })
}

fn decode_ping(stream_id: u32, fl: u8, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.7: "If a PING frame is received with a Stream Identifier field value other than 0x00, the recipient MUST
    // respond with a connection error (Section 5.4.1) of type PROTOCOL_ERROR."
    require_connection(stream_id, "PING on a stream")?;
    // §6.7: "Receipt of a PING frame with a length field value other than 8 MUST be treated as a connection error
    // (Section 5.4.1) of type FRAME_SIZE_ERROR."
    let Ok(data) = <[u8; 8]>::try_from(payload) else {
        return Err(H2Error::connection(ErrorCode::FrameSizeError, "PING length not 8"));
    };
    Ok(Frame::Ping { ack: fl & flags::ACK != 0, payload: data })
}

fn decode_goaway(stream_id: u32, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.8: "An endpoint MUST treat a GOAWAY frame with a stream identifier other than 0x00 as a connection error
    // (Section 5.4.1) of type PROTOCOL_ERROR."
    require_connection(stream_id, "GOAWAY on a stream")?;
    // §4.2: "too small to contain mandatory frame data" (Last-Stream-ID and Error Code); stream 0, so a connection
    // error.
    let Some((&[l0, l1, l2, l3, c0, c1, c2, c3], debug_data)) = payload.split_first_chunk::<8>() else {
        return Err(H2Error::connection(ErrorCode::FrameSizeError, "GOAWAY shorter than 8 octets"));
    };
    Ok(Frame::GoAway {
        // The high bit is reserved (§6.8) and ignored, like every reserved bit (§4.1).
        last_stream_id: u32::from_be_bytes([l0, l1, l2, l3]) & U31_MASK,
        // §7: unknown codes are kept, not an error.
        code: ErrorCode::from_u32(u32::from_be_bytes([c0, c1, c2, c3])),
        debug_data,
    })
}

fn decode_window_update(stream_id: u32, payload: &[u8]) -> Result<Frame<'_>, H2Error> {
    // §6.9: "A WINDOW_UPDATE frame with a length other than 4 octets MUST be treated as a connection error
    // (Section 5.4.1) of type FRAME_SIZE_ERROR."
    let Ok(raw) = <[u8; 4]>::try_from(payload) else {
        return Err(H2Error::connection(ErrorCode::FrameSizeError, "WINDOW_UPDATE length not 4"));
    };
    // The high bit is reserved (§6.9) and ignored, like every reserved bit (§4.1); so 0x8000_0000 is an increment
    // of 0.
    let increment = u32::from_be_bytes(raw) & U31_MASK;
    if increment == 0 {
        // §6.9: "A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a flow-control window increment of 0
        // as a stream error (Section 5.4.2) of type PROTOCOL_ERROR; errors on the connection flow-control window MUST
        // be treated as a connection error (Section 5.4.1)."
        return Err(if stream_id == 0 {
            H2Error::connection(ErrorCode::ProtocolError, "WINDOW_UPDATE increment 0 on the connection")
        } else {
            H2Error::stream(stream_id, ErrorCode::ProtocolError, "WINDOW_UPDATE increment 0")
        });
    }
    Ok(Frame::WindowUpdate { stream_id, increment })
}

/// Frame types that only exist on a stream: stream id 0 is a connection PROTOCOL_ERROR (the exact sentence is quoted
/// at each call site).
#[inline]
fn require_stream(stream_id: u32, reason: &'static str) -> Result<(), H2Error> {
    if stream_id == 0 {
        return Err(H2Error::connection(ErrorCode::ProtocolError, reason));
    }
    Ok(())
}

/// Frame types that only exist on the connection (stream 0).
#[inline]
fn require_connection(stream_id: u32, reason: &'static str) -> Result<(), H2Error> {
    if stream_id != 0 {
        return Err(H2Error::connection(ErrorCode::ProtocolError, reason));
    }
    Ok(())
}

/// With PADDED set, split off the Pad Length octet (§6.1, §6.2, §6.6) and return (rest, padding length).
#[inline]
fn split_pad_length(fl: u8, payload: &[u8]) -> Result<(&[u8], usize), H2Error> {
    if fl & flags::PADDED == 0 {
        return Ok((payload, 0));
    }
    match payload.split_first() {
        Some((&pad_len, rest)) => Ok((rest, usize::from(pad_len))),
        // §4.2: "too small to contain mandatory frame data" — there is no room for the Pad Length field itself.
        // DATA, HEADERS and PUSH_PROMISE all affect connection-wide state (flow control, HPACK), so connection error.
        None => Err(H2Error::connection(ErrorCode::FrameSizeError, "PADDED frame without a Pad Length octet")),
    }
}

/// Drop `pad_len` trailing octets; padding longer than what remains after the fixed fields is a connection
/// PROTOCOL_ERROR (§6.1, §6.2, quoted at the call sites). Padding exactly as long as the remainder is allowed.
#[inline]
fn strip_padding<'a>(body: &'a [u8], pad_len: usize, reason: &'static str) -> Result<&'a [u8], H2Error> {
    body.len()
        .checked_sub(pad_len)
        .and_then(|n| body.get(..n))
        .ok_or(H2Error::connection(ErrorCode::ProtocolError, reason))
}

/// §6.3 layout: Exclusive (1 bit), Stream Dependency (31 bits), Weight (8 bits).
#[inline]
fn parse_priority(&[d0, d1, d2, d3, weight]: &[u8; 5]) -> PrioritySpec {
    let dep = u32::from_be_bytes([d0, d1, d2, d3]);
    PrioritySpec { exclusive: dep & !U31_MASK != 0, dependency: dep & U31_MASK, weight }
}

/// §5.3.1: "A stream cannot depend on itself. An endpoint MUST treat this as a stream error (Section 5.4.2) of type
/// PROTOCOL_ERROR."
#[inline]
fn check_self_dependency(stream_id: u32, spec: &PrioritySpec) -> Result<(), H2Error> {
    if spec.dependency == stream_id {
        return Err(H2Error::stream(stream_id, ErrorCode::ProtocolError, "stream depends on itself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2::frame::FRAME_HEADER_LEN;

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
    }

    /// DATA's `flow_len` counts padding, which `encode` does not reproduce.
    fn without_flow_len(f: Frame<'_>) -> Frame<'_> {
        match f {
            Frame::Data { stream_id, end_stream, data, .. } => Frame::Data { stream_id, end_stream, data, flow_len: 0 },
            other => other,
        }
    }

    /// Never panics, whatever the header and payload. Types are biased towards the ten known ones, flags towards the
    /// defined bits, lengths towards small values, so the interesting branches (padding edges, fixed sizes) are hit.
    /// Every successfully decoded frame must also survive encode → decode unchanged (modulo DATA padding).
    #[test]
    fn decode_never_panics_on_random_input() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut buf = Vec::new();
        let (mut ok, mut err) = (0u32, 0u32);
        for _ in 0..20_000 {
            let r = rng.next();
            let mut head = [0u8; FRAME_HEADER_LEN];
            head.iter_mut().for_each(|b| *b = rng.next() as u8);
            head[3] = if r & 0xf < 12 { (r >> 4) as u8 % 11 } else { (r >> 4) as u8 };
            if r & 0x300 != 0 {
                head[4] &= flags::END_STREAM | flags::END_HEADERS | flags::PADDED | flags::PRIORITY;
            }
            if r & 0xc00 != 0 {
                // Small stream ids (incl. 0) so self-dependency and stream-0 rules fire.
                head[5..].copy_from_slice(&((r >> 20) as u32 % 4).to_be_bytes());
            }
            let len = if r & 0x1000 != 0 { (r >> 32) as usize % 16 } else { (r >> 32) as usize % 300 };
            let payload: Vec<u8> = (0..len)
                .map(|_| match rng.next() % 4 {
                    0 => 0,
                    1 => 1,
                    _ => rng.next() as u8,
                })
                .collect();
            let mut header = FrameHeader::parse(&head);
            header.length = len as u32;
            match Frame::decode(&header, &payload) {
                Ok(frame) => {
                    ok += 1;
                    buf.clear();
                    frame.encode(&mut buf);
                    let (h2, p2) = buf.split_first_chunk::<FRAME_HEADER_LEN>().unwrap();
                    let again = Frame::decode(&FrameHeader::parse(h2), p2).unwrap();
                    assert_eq!(without_flow_len(again), without_flow_len(frame));
                }
                Err(_) => err += 1,
            }
        }
        // Both outcomes must be well represented, or the generator is not exercising the decoder.
        assert!(ok > 2_000 && err > 2_000, "ok={ok} err={err}");
    }
}
