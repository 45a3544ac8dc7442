//! SETTINGS parameters (RFC 9113 §6.5.1, §6.5.2; RFC 8441 §3) and their frame-local validation.

use super::{DEFAULT_MAX_FRAME_SIZE, MAX_ALLOWED_FRAME_SIZE, MAX_WINDOW_SIZE};
use crate::h2::error::{ErrorCode, H2Error};

/// Each parameter is a 16-bit identifier and a 32-bit value (§6.5.1).
pub(crate) const SETTING_LEN: usize = 6;

/// A SETTINGS parameter identifier (§6.5.2, §11.3 registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingId {
    HeaderTableSize,
    EnablePush,
    MaxConcurrentStreams,
    InitialWindowSize,
    MaxFrameSize,
    MaxHeaderListSize,
    /// RFC 8441 §3 (extended CONNECT, used for WebSockets over HTTP/2).
    EnableConnectProtocol,
    /// §6.5.2: "An endpoint that receives a SETTINGS frame with any unknown or unsupported identifier MUST ignore
    /// that setting." Kept so callers can log it.
    Unknown(u16),
}

impl SettingId {
    pub const fn from_u16(v: u16) -> Self {
        match v {
            0x1 => Self::HeaderTableSize,
            0x2 => Self::EnablePush,
            0x3 => Self::MaxConcurrentStreams,
            0x4 => Self::InitialWindowSize,
            0x5 => Self::MaxFrameSize,
            0x6 => Self::MaxHeaderListSize,
            0x8 => Self::EnableConnectProtocol,
            other => Self::Unknown(other),
        }
    }

    pub const fn to_u16(self) -> u16 {
        match self {
            Self::HeaderTableSize => 0x1,
            Self::EnablePush => 0x2,
            Self::MaxConcurrentStreams => 0x3,
            Self::InitialWindowSize => 0x4,
            Self::MaxFrameSize => 0x5,
            Self::MaxHeaderListSize => 0x6,
            Self::EnableConnectProtocol => 0x8,
            Self::Unknown(v) => v,
        }
    }
}

/// A SETTINGS payload, validated when built, borrowed from the input.
///
/// Iterating yields `(id, value)` in wire order, unknown ids included: §6.5.3 says the values "MUST be processed in
/// the order they appear", and a repeated id means the last one wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsParams<'a> {
    raw: &'a [u8],
}

impl<'a> SettingsParams<'a> {
    /// No parameters (what a SETTINGS ACK carries).
    pub const EMPTY: Self = Self { raw: &[] };

    /// Validate a raw SETTINGS payload (without the ACK-must-be-empty rule, which needs the flags; see
    /// [`super::Frame::decode`]). Also useful to build a `Frame::Settings` by hand.
    pub fn parse(raw: &'a [u8]) -> Result<Self, H2Error> {
        // §6.5: "A SETTINGS frame with a length other than a multiple of 6 octets MUST be treated as a connection
        // error (Section 5.4.1) of type FRAME_SIZE_ERROR."
        if !raw.len().is_multiple_of(SETTING_LEN) {
            return Err(H2Error::connection(ErrorCode::FrameSizeError, "SETTINGS length not a multiple of 6"));
        }
        let params = Self { raw };
        for (id, value) in params.iter() {
            validate(id, value)?;
        }
        Ok(params)
    }

    /// The parameters in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (SettingId, u32)> + 'a {
        // `as_chunks` yields whole 6-byte arrays, so there is no indexing that could panic; a trailing partial chunk
        // cannot exist after `parse`, and is skipped anyway.
        let (chunks, _) = self.raw.as_chunks::<SETTING_LEN>();
        chunks.iter().map(|&[i0, i1, v0, v1, v2, v3]| {
            (SettingId::from_u16(u16::from_be_bytes([i0, i1])), u32::from_be_bytes([v0, v1, v2, v3]))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Number of parameters (including unknown ones).
    pub fn len(&self) -> usize {
        self.raw.len() / SETTING_LEN
    }

    /// The raw payload, as received; `Frame::encode` re-emits it verbatim.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

impl Default for SettingsParams<'_> {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Range checks the RFC attaches to individual parameters. Semantic limits that depend on our own configuration
/// (e.g. a MAX_CONCURRENT_STREAMS we find too small) belong to the connection.
fn validate(id: SettingId, value: u32) -> Result<(), H2Error> {
    match id {
        // §6.5.2: "Any value other than 0 or 1 MUST be treated as a connection error (Section 5.4.1) of type
        // PROTOCOL_ERROR."
        SettingId::EnablePush if value > 1 => {
            Err(H2Error::connection(ErrorCode::ProtocolError, "SETTINGS_ENABLE_PUSH not 0 or 1"))
        }
        // §6.5.2: "Values above the maximum flow-control window size of 2^31-1 MUST be treated as a connection error
        // (Section 5.4.1) of type FLOW_CONTROL_ERROR."
        SettingId::InitialWindowSize if value > MAX_WINDOW_SIZE => {
            Err(H2Error::connection(ErrorCode::FlowControlError, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1"))
        }
        // §6.5.2: "The initial value is 2^14 (16,384) octets. The value advertised by an endpoint MUST be between
        // this initial value and the maximum allowed frame size (2^24-1 or 16,777,215 octets), inclusive. Values
        // outside this range MUST be treated as a connection error (Section 5.4.1) of type PROTOCOL_ERROR."
        SettingId::MaxFrameSize if !(DEFAULT_MAX_FRAME_SIZE..=MAX_ALLOWED_FRAME_SIZE).contains(&value) => {
            Err(H2Error::connection(ErrorCode::ProtocolError, "SETTINGS_MAX_FRAME_SIZE outside 2^14..=2^24-1"))
        }
        // RFC 8441 §3: "The value of the parameter MUST be 0 or 1." It names no error code; PROTOCOL_ERROR is the
        // one RFC 9113 uses for the analogous ENABLE_PUSH rule.
        SettingId::EnableConnectProtocol if value > 1 => {
            Err(H2Error::connection(ErrorCode::ProtocolError, "SETTINGS_ENABLE_CONNECT_PROTOCOL not 0 or 1"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for v in 0..=u16::MAX {
            assert_eq!(SettingId::from_u16(v).to_u16(), v);
        }
        assert_eq!(SettingId::from_u16(0x7), SettingId::Unknown(0x7));
    }

    #[test]
    fn iter_in_wire_order_with_unknown() {
        let raw = [0, 0x4, 0, 0, 0xff, 0xff, 0x12, 0x34, 0, 0, 0, 7, 0, 0x4, 0, 0, 0, 1];
        let p = SettingsParams::parse(&raw).unwrap();
        assert_eq!(p.len(), 3);
        let v: Vec<_> = p.iter().collect();
        assert_eq!(
            v,
            [
                (SettingId::InitialWindowSize, 0xffff),
                (SettingId::Unknown(0x1234), 7),
                (SettingId::InitialWindowSize, 1),
            ]
        );
    }

    #[test]
    fn boundaries() {
        let one = |id: u16, v: u32| {
            let mut raw = id.to_be_bytes().to_vec();
            raw.extend_from_slice(&v.to_be_bytes());
            SettingsParams::parse(&raw).map(|_| ()).map_err(|e| e.code)
        };
        assert_eq!(one(0x2, 1), Ok(()));
        assert_eq!(one(0x4, MAX_WINDOW_SIZE), Ok(()));
        assert_eq!(one(0x4, MAX_WINDOW_SIZE + 1), Err(ErrorCode::FlowControlError));
        assert_eq!(one(0x5, 16_383), Err(ErrorCode::ProtocolError));
        assert_eq!(one(0x5, 16_384), Ok(()));
        assert_eq!(one(0x5, 16_777_215), Ok(()));
        assert_eq!(one(0x5, 16_777_216), Err(ErrorCode::ProtocolError));
        assert_eq!(one(0x8, 2), Err(ErrorCode::ProtocolError));
        // Unknown ids take any value.
        assert_eq!(one(0x9, u32::MAX), Ok(()));
    }
}
