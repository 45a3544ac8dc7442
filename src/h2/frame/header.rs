//! The 9-octet frame header (RFC 9113 §4.1), frame type codes (§6) and flag bits.

use super::{FRAME_HEADER_LEN, MAX_ALLOWED_FRAME_SIZE};
use crate::h2::error::{ErrorCode, H2Error};

/// Mask clearing the reserved high bit of a 31-bit stream identifier (or window increment, last-stream-id, ...).
pub(crate) const U31_MASK: u32 = 0x7fff_ffff;

/// Frame type (RFC 9113 §6; codes from the §11.2 registry).
///
/// Types we do not know are kept as [`FrameType::Unknown`]: §4.1 and §5.5 say implementations MUST ignore and discard
/// frames of unknown types, so they are never an error here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    Data,
    Headers,
    Priority,
    RstStream,
    Settings,
    PushPromise,
    Ping,
    GoAway,
    WindowUpdate,
    Continuation,
    Unknown(u8),
}

impl FrameType {
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0x0 => Self::Data,
            0x1 => Self::Headers,
            0x2 => Self::Priority,
            0x3 => Self::RstStream,
            0x4 => Self::Settings,
            0x5 => Self::PushPromise,
            0x6 => Self::Ping,
            0x7 => Self::GoAway,
            0x8 => Self::WindowUpdate,
            0x9 => Self::Continuation,
            other => Self::Unknown(other),
        }
    }

    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Data => 0x0,
            Self::Headers => 0x1,
            Self::Priority => 0x2,
            Self::RstStream => 0x3,
            Self::Settings => 0x4,
            Self::PushPromise => 0x5,
            Self::Ping => 0x6,
            Self::GoAway => 0x7,
            Self::WindowUpdate => 0x8,
            Self::Continuation => 0x9,
            Self::Unknown(v) => v,
        }
    }
}

/// Flag bits. Their meaning depends on the frame type (§4.1); flags a type does not define are ignored on receipt
/// and never sent.
pub mod flags {
    /// DATA (§6.1), HEADERS (§6.2).
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS (§6.5), PING (§6.7). Same bit as END_STREAM.
    pub const ACK: u8 = 0x1;
    /// HEADERS (§6.2), PUSH_PROMISE (§6.6), CONTINUATION (§6.10).
    pub const END_HEADERS: u8 = 0x4;
    /// DATA (§6.1), HEADERS (§6.2), PUSH_PROMISE (§6.6).
    pub const PADDED: u8 = 0x8;
    /// HEADERS (§6.2).
    pub const PRIORITY: u8 = 0x20;
}

/// A parsed frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// 24-bit payload length, not counting these 9 octets.
    pub length: u32,
    pub kind: FrameType,
    pub flags: u8,
    /// Reserved bit already cleared: §4.1 says it "MUST be ignored when receiving".
    pub stream_id: u32,
}

impl FrameHeader {
    /// Parse the fixed 9-octet header. Every bit pattern is a valid header, so this cannot fail; whether the frame
    /// is acceptable is decided by [`FrameHeader::check_size`] and [`super::Frame::decode`].
    #[inline]
    pub fn parse(buf: &[u8; FRAME_HEADER_LEN]) -> Self {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *buf;
        Self {
            length: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType::from_u8(kind),
            flags,
            stream_id: u32::from_be_bytes([s0, s1, s2, s3]) & U31_MASK,
        }
    }

    /// Serialize. The reserved bit is always sent as 0 (§4.1: it "MUST remain unset (0x00) when sending").
    /// `length` must fit in 24 bits; larger values are a caller bug (debug-asserted, truncated in release).
    #[inline]
    pub fn encode(&self) -> [u8; FRAME_HEADER_LEN] {
        debug_assert!(self.length <= MAX_ALLOWED_FRAME_SIZE, "frame length exceeds 24 bits");
        let [_, l0, l1, l2] = self.length.to_be_bytes();
        let [s0, s1, s2, s3] = (self.stream_id & U31_MASK).to_be_bytes();
        [l0, l1, l2, self.kind.to_u8(), self.flags, s0, s1, s2, s3]
    }

    /// §4.2: "An endpoint MUST send an error code of FRAME_SIZE_ERROR if a frame exceeds the size defined in
    /// SETTINGS_MAX_FRAME_SIZE". The RFC requires a *connection* error only for frames that can alter connection
    /// state (HEADERS, PUSH_PROMISE, CONTINUATION, SETTINGS, stream 0); it allows it for all, and doing so means we
    /// never buffer an oversized payload just to discard it.
    #[inline]
    pub fn check_size(&self, max_frame_size: u32) -> Result<(), H2Error> {
        if self.length > max_frame_size {
            return Err(H2Error::connection(ErrorCode::FrameSizeError, "frame larger than SETTINGS_MAX_FRAME_SIZE"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_type_codes_round_trip() {
        for v in 0..=u8::MAX {
            assert_eq!(FrameType::from_u8(v).to_u8(), v);
        }
        assert_eq!(FrameType::from_u8(0x9), FrameType::Continuation);
        assert_eq!(FrameType::from_u8(0xa), FrameType::Unknown(0xa));
    }

    #[test]
    fn header_parse_clears_reserved_bit() {
        let h = FrameHeader::parse(&[0xff, 0xff, 0xff, 0x0, 0x9, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(h.length, MAX_ALLOWED_FRAME_SIZE);
        assert_eq!(h.stream_id, 0x7fff_ffff);
        assert_eq!(h.flags, 0x9);
        // Re-encoding never sets the reserved bit.
        assert_eq!(h.encode(), [0xff, 0xff, 0xff, 0x0, 0x9, 0x7f, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn check_size_boundary() {
        let mut h = FrameHeader::parse(&[0, 0x40, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(h.length, 16_384);
        assert!(h.check_size(16_384).is_ok());
        h.length += 1;
        let e = h.check_size(16_384).unwrap_err();
        assert!(e.is_connection_error());
        assert_eq!(e.code, ErrorCode::FrameSizeError);
    }
}
