//! h2ring: an HTTP/2 + TLS 1.3 web server on io_uring.
//!
//! The protocol core lives in [`h2`]: frame codec, HPACK and the
//! connection state machine, all sans-IO (bytes in, events out); [`h1`]
//! is its HTTP/1.1 counterpart, for clients that negotiate `http/1.1`. The
//! [`runtime`] drives sockets: one worker per core on io_uring or epoll.

pub mod app;
pub mod config;
pub mod h1;
pub mod h2;
pub mod logging;
pub mod metrics;
pub mod runtime;
pub mod server;
pub mod site;
pub mod tls;
pub mod tuning;
