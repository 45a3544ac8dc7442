//! HPACK header compression (RFC 7541), sans-IO.
//!
//! - [`HpackDecoder`] decodes complete header blocks into borrowed
//!   [`HeaderField`]s, enforcing [`DecodeLimits`] while it decodes.
//! - [`HpackEncoder`] encodes header lists with a server-oriented policy.
//! - [`huffman`] and [`integer`] are the primitive codings (§5.2, §5.1).
//!
//! Nothing here panics on peer input: every malformed block is a
//! [`DecodeError`].

mod decoder;
mod encoder;
pub mod huffman;
mod huffman_table;
pub mod integer;
mod table;

use std::fmt;

pub use decoder::{DecodeLimits, FieldCheck, HeaderField, HpackDecoder};
pub(crate) use encoder::format_decimal;
pub use encoder::{HpackEncoder, HuffmanPolicy, Indexing};

/// SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

/// Why a header block could not be decoded.
///
/// Only [`HeaderListTooLarge`](Self::HeaderListTooLarge) and
/// [`TooManyHeaders`](Self::TooManyHeaders) leave the decoder usable (see
/// [`is_limit`](Self::is_limit)); every other variant means the compression
/// context is lost (RFC 9113 §4.3: connection error COMPRESSION_ERROR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The block ended inside a representation (an integer, or before a string).
    Truncated,
    /// A prefixed integer exceeds `u32` or uses more continuation octets
    /// than any `u32` needs (§5.1).
    IntegerOverflow,
    /// Index 0, or beyond the static + dynamic table (§2.3.3).
    InvalidIndex,
    /// Huffman string containing EOS, or padding longer than 7 bits or not
    /// all ones (§5.2).
    InvalidHuffman,
    /// A string literal's declared length runs past the end of the block (§5.2).
    StringTooLong,
    /// A dynamic table size update after a header field (§4.2: it must come
    /// at the beginning of a header block).
    TableSizeUpdateNotAtStart,
    /// A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we
    /// advertised (§6.3).
    TableSizeAboveLimit,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the size the peer was
    /// using and the next block did not start with a size update no larger
    /// than the new limit (§4.2).
    MissingTableSizeUpdate,
    /// The decoded header list exceeds `DecodeLimits::max_list_size`
    /// (counted as SETTINGS_MAX_HEADER_LIST_SIZE does: name + value + 32).
    HeaderListTooLarge,
    /// More fields than `DecodeLimits::max_header_count`.
    TooManyHeaders,
}

impl DecodeError {
    /// True for [`HeaderListTooLarge`](Self::HeaderListTooLarge) and
    /// [`TooManyHeaders`](Self::TooManyHeaders): the whole block was
    /// processed and the dynamic table is still in sync with the peer, so
    /// the caller may reject just the stream (431 / RST_STREAM) and keep the
    /// connection. Any other error is a connection error COMPRESSION_ERROR.
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::HeaderListTooLarge | Self::TooManyHeaders)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "hpack: header block truncated",
            Self::IntegerOverflow => "hpack: integer overflow",
            Self::InvalidIndex => "hpack: invalid table index",
            Self::InvalidHuffman => "hpack: invalid huffman string",
            Self::StringTooLong => "hpack: string length exceeds header block",
            Self::TableSizeUpdateNotAtStart => "hpack: table size update after a header field",
            Self::TableSizeAboveLimit => "hpack: table size update above advertised limit",
            Self::MissingTableSizeUpdate => "hpack: required table size update missing",
            Self::HeaderListTooLarge => "hpack: header list too large",
            Self::TooManyHeaders => "hpack: too many header fields",
        })
    }
}

impl std::error::Error for DecodeError {}
