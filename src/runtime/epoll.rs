//! The edge-triggered epoll backend. Being written (issue #3).
