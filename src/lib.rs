//! h2ring: an HTTP/2 + TLS 1.3 web server on io_uring.
//!
//! The protocol core lives in [`h2`]: frame codec, HPACK and the
//! connection state machine, all sans-IO (bytes in, events out). The
//! [`runtime`] drives sockets: one worker per core on io_uring or epoll.

pub mod app;
pub mod config;
pub mod h2;
pub mod runtime;
pub mod server;
pub mod site;
pub mod tls;
pub mod tuning;
