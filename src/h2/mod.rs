//! HTTP/2 (RFC 9113) with HPACK (RFC 7541), sans-IO.
//!
//! - [`error`]: error codes and their scope (connection or stream).
//! - [`frame`]: the 9-byte frame header and the ten frame types.
//! - [`hpack`]: header compression, decoder and encoder.

pub mod error;
pub mod frame;
pub mod hpack;
