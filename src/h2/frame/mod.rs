//! Frame codec (RFC 9113 §4 and §6). Being written.
