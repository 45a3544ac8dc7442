//! The io_uring backend. Being written (issue #3).
