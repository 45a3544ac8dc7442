//! One accepted connection: its socket, what the edges said about it, and
//! the reads and writes that turn readiness into completions.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::{EpollStats, sys};
use crate::runtime::{Completion, ConnKey};

/// A buffer handed to `send`, partly written.
pub(super) struct PendingSend {
    pub buf: Vec<u8>,
    pub written: usize,
}

pub(super) struct Conn {
    pub fd: OwnedFd,
    pub generation: u32,
    /// Input may be waiting: an edge came and no read has proved it drained.
    pub readable: bool,
    /// No send has met `EAGAIN` since the last `EPOLLOUT` edge (or accept).
    pub writable: bool,
    /// An event carried `EPOLLRDHUP`, `EPOLLHUP` or `EPOLLERR`: the end of
    /// input (or an error) is queued behind the data, and no further edge
    /// will announce it, so a short read no longer proves there is nothing
    /// left to read.
    pub end_signalled: bool,
    /// In the backend's read queue, so it is not queued twice.
    pub queued_for_read: bool,
    /// `RecvClosed` was reported.
    pub recv_closed: bool,
    /// `close` was called; `Closed` comes in the next poll.
    pub closing: bool,
    pub send: Option<PendingSend>,
}

impl Conn {
    /// A freshly accepted socket: nothing known to read yet (the
    /// registration reports what is there), an empty send buffer.
    pub fn new(fd: OwnedFd, generation: u32) -> Self {
        Conn {
            fd,
            generation,
            readable: false,
            writable: true,
            end_signalled: false,
            queued_for_read: false,
            recv_closed: false,
            closing: false,
            send: None,
        }
    }

    /// Reads up to `budget` chunks into `buf`, reporting each; returns
    /// whether input may be left (the budget ran out first).
    pub fn read_some(
        &mut self,
        key: ConnKey,
        buf: &mut [u8],
        budget: usize,
        on: &mut dyn FnMut(Completion<'_>),
    ) -> bool {
        for _ in 0..budget {
            match sys::read(self.fd.as_fd(), buf) {
                Ok(0) => {
                    self.end_input(key, on);
                    return false;
                }
                Ok(n) => {
                    on(Completion::Received { conn: key, data: &buf[..n] });
                    // epoll(7): on a stream socket a read shorter than asked
                    // means the input is drained, so no EAGAIN read is
                    // needed; any data arriving later raises a new edge.
                    // Not if the end was signalled: that is still to read.
                    if n < buf.len() && !self.end_signalled {
                        self.readable = false;
                        return false;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return false;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // ECONNRESET, ETIMEDOUT, …: the input ends here too.
                Err(_) => {
                    self.end_input(key, on);
                    return false;
                }
            }
        }
        true
    }

    fn end_input(&mut self, key: ConnKey, on: &mut dyn FnMut(Completion<'_>)) {
        self.readable = false;
        self.recv_closed = true;
        on(Completion::RecvClosed { conn: key });
    }

    /// Writes as much of the pending send as the socket takes, until it is
    /// all written, `EAGAIN` (then the next `EPOLLOUT` edge goes on) or an
    /// error. Returns whether `Sent` was reported.
    pub fn write_pending(&mut self, key: ConnKey, stats: &mut EpollStats, on: &mut dyn FnMut(Completion<'_>)) -> bool {
        let Some(pending) = self.send.as_mut() else { return false };
        let ok = loop {
            let rest = &pending.buf[pending.written..];
            if rest.is_empty() {
                break true;
            }
            match sys::send(self.fd.as_fd(), rest) {
                // epoll(7) would let a short write stand for "buffer full",
                // but one can also come just before an error whose edge was
                // already spent. One more send settles it: EAGAIN (which
                // arms the EPOLLOUT wake-up) or the error itself.
                Ok(n) if n > 0 => {
                    pending.written += n;
                    if n < rest.len() {
                        stats.short_writes += 1;
                    }
                }
                // TCP never takes 0 bytes of a non-empty buffer; were it to,
                // waiting for an edge might never end, so fail instead.
                Ok(_) => break false,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    stats.send_waits += 1;
                    return false;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // EPIPE, ECONNRESET, …
                Err(_) => break false,
            }
        };
        let Some(PendingSend { mut buf, .. }) = self.send.take() else { return false };
        buf.clear();
        on(Completion::Sent { conn: key, buf, ok });
        true
    }
}
