//! HTTP/2 frame codec (RFC 9113 §4 and §6), sans-IO.
//!
//! - `header`: the 9-octet frame header, frame types, flag bits.
//! - `decode`: [`Frame::decode`], zero-copy (frames borrow the payload) and allocation-free. It validates
//!   everything that can be checked from one frame alone and returns the RFC's error with its scope; rules that
//!   need connection or stream state (stream states, CONTINUATION sequencing, flow-control windows, ...) belong to
//!   the connection.
//! - `encode`: [`Frame::encode`] and the targeted writers the connection uses on its hot path.
//! - `settings`: SETTINGS parameters and their validation.
//!
//! Reading a frame off the wire:
//!
//! ```
//! use h2ring::h2::frame::{Frame, FrameHeader, FRAME_HEADER_LEN, DEFAULT_MAX_FRAME_SIZE};
//! let wire = [0, 0, 8, 0x6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
//! let (head, rest) = wire.split_first_chunk::<FRAME_HEADER_LEN>().unwrap();
//! let header = FrameHeader::parse(head);
//! header.check_size(DEFAULT_MAX_FRAME_SIZE).unwrap(); // before buffering the payload
//! let payload = &rest[..header.length as usize];
//! assert_eq!(Frame::decode(&header, payload), Ok(Frame::Ping { ack: false, payload: [1, 2, 3, 4, 5, 6, 7, 8] }));
//! ```

mod decode;
mod encode;
mod header;
mod settings;

pub use encode::{
    write_frame_header, write_goaway, write_headers, write_ping, write_rst_stream, write_settings, write_settings_ack,
    write_window_update,
};
pub use header::{FrameHeader, FrameType, flags};
pub use settings::{SettingId, SettingsParams};

use crate::h2::error::ErrorCode;

/// Size of the fixed frame header (§4.1).
pub const FRAME_HEADER_LEN: usize = 9;
/// Initial SETTINGS_MAX_FRAME_SIZE, 2^14 (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Largest SETTINGS_MAX_FRAME_SIZE, 2^24-1 (§6.5.2), also the largest value of the 24-bit length field (§4.1).
pub const MAX_ALLOWED_FRAME_SIZE: u32 = 16_777_215;
/// Largest flow-control window, 2^31-1 (§6.9.1).
pub const MAX_WINDOW_SIZE: u32 = 2_147_483_647;
/// Initial SETTINGS_INITIAL_WINDOW_SIZE (§6.5.2, §6.9.2).
pub const DEFAULT_INITIAL_WINDOW_SIZE: u32 = 65_535;
/// The client connection preface (§3.4), followed by a SETTINGS frame.
pub const CONNECTION_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Stream dependency fields carried by PRIORITY frames and HEADERS with the PRIORITY flag (§5.3.1, §6.3).
///
/// RFC 9113 deprecates this scheme (§5.3.2), but the fields must still be parsed and the self-dependency rule
/// still applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrioritySpec {
    pub exclusive: bool,
    /// 31 bits; the exclusive flag is the high bit on the wire.
    pub dependency: u32,
    /// Wire value 0..=255, meaning a weight of 1..=256 (§6.3: "Add one to the value to obtain a weight").
    pub weight: u8,
}

/// A decoded frame borrowing its payload from the input buffer.
///
/// Padding (§6.1, §6.2, §6.6) is stripped on decode; only DATA remembers how much it took, in `flow_len`, because
/// padding counts against flow control. Flags a frame type does not define are dropped (§4.1: "Unused flags MUST be
/// ignored on receipt").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// §6.1.
    Data {
        stream_id: u32,
        end_stream: bool,
        data: &'a [u8],
        /// The whole payload including the Pad Length octet and the padding: §6.1 "The entire DATA frame payload is
        /// included in flow control, including the Pad Length and Padding fields if present." Ignored by `encode`,
        /// which derives the length from `data` and the padding it is asked for.
        flow_len: u32,
    },
    /// §6.2. `fragment` is the first piece of a field block; CONTINUATIONs may follow unless `end_headers`.
    Headers { stream_id: u32, end_stream: bool, end_headers: bool, priority: Option<PrioritySpec>, fragment: &'a [u8] },
    /// §6.3.
    Priority { stream_id: u32, spec: PrioritySpec },
    /// §6.4. Unknown codes are kept as `ErrorCode::Unknown` (§7).
    RstStream { stream_id: u32, code: ErrorCode },
    /// §6.5. Always on stream 0; parameters already range-checked.
    Settings { ack: bool, params: SettingsParams<'a> },
    /// §6.6. Reserved bit of `promised_stream_id` cleared.
    PushPromise { stream_id: u32, end_headers: bool, promised_stream_id: u32, fragment: &'a [u8] },
    /// §6.7. Always on stream 0.
    Ping { ack: bool, payload: [u8; 8] },
    /// §6.8. Always on stream 0. Reserved bit of `last_stream_id` cleared; unknown codes kept (§7).
    GoAway { last_stream_id: u32, code: ErrorCode, debug_data: &'a [u8] },
    /// §6.9. `stream_id` 0 is the connection window. `increment` is 1..=2^31-1.
    WindowUpdate { stream_id: u32, increment: u32 },
    /// §6.10.
    Continuation { stream_id: u32, end_headers: bool, fragment: &'a [u8] },
    /// A frame type this codec does not know. §4.1: it MUST be ignored and discarded, but the connection still has
    /// to reject one inside a field block (§5.5), so it is handed up rather than dropped.
    Unknown { kind: u8, stream_id: u32, flags: u8, payload: &'a [u8] },
}

impl Frame<'_> {
    /// The stream the frame is on; 0 for connection-level frames (SETTINGS, PING, GOAWAY).
    pub fn stream_id(&self) -> u32 {
        match *self {
            Frame::Data { stream_id, .. }
            | Frame::Headers { stream_id, .. }
            | Frame::Priority { stream_id, .. }
            | Frame::RstStream { stream_id, .. }
            | Frame::PushPromise { stream_id, .. }
            | Frame::WindowUpdate { stream_id, .. }
            | Frame::Continuation { stream_id, .. }
            | Frame::Unknown { stream_id, .. } => stream_id,
            Frame::Settings { .. } | Frame::Ping { .. } | Frame::GoAway { .. } => 0,
        }
    }
}
