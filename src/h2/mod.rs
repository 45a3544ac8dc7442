//! HTTP/2 (RFC 9113) with HPACK (RFC 7541), sans-IO.
//!
//! - [`error`]: error codes and their scope (connection or stream).
//! - [`frame`]: the 9-byte frame header and the ten frame types.
//! - [`hpack`]: header compression, decoder and encoder.
//! - [`stream`]: stream states (§5.1) and flow-control windows (§6.9).
//! - [`conn`]: the per-connection state machine: bytes in, events out.

pub mod conn;
pub mod error;
pub mod frame;
pub mod hpack;
pub mod stream;
