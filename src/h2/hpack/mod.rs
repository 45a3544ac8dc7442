//! HPACK (RFC 7541). Being written.
