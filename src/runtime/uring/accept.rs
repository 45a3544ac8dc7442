//! Listeners: one multishot accept each, straight into the ring's direct
//! descriptor table (`IORING_FILE_INDEX_ALLOC`).
//!
//! Two reasons to stop accepting for a while:
//!
//! * **The table is nearly full.** io_accept() takes the connection off
//!   the listen queue *before* it looks for a free slot, so an accept into a
//!   full table fails with ENFILE and the connection is lost (the client
//!   sees a reset). So the accepts are cancelled while at most
//!   `accept_headroom` slots are free and re-armed when `Close`s have freed
//!   twice that many; meanwhile connections wait in the listen queue, as
//!   they would at EMFILE with plain fds. The headroom absorbs what a
//!   multishot accept still takes before its cancel runs (with SQPOLL the
//!   kernel thread keeps accepting until then).
//! * **Accept failed** (EMFILE, ENFILE, ENOMEM, ENOBUFS, or something wrong
//!   with the listener): re-arming at once would fail the same way and spin,
//!   so a 100 ms `Timeout` runs first.

use std::net::TcpListener;
use std::os::fd::AsRawFd;

use io_uring::opcode;
use io_uring::types::{Fd, Timespec};

use super::UringBackend;
use super::conn::Conn;
use super::user_data::{GEN_MASK, Op, encode};
use crate::runtime::{Completion, Listener, ListenerKind};

/// Pause before re-arming an accept that failed. A static: the kernel
/// reads it when the SQE is issued, which with SQPOLL is some time later.
static ACCEPT_BACKOFF: Timespec = Timespec::new().nsec(100_000_000);

pub(super) struct ListenerSlot {
    /// Set to `None` (closed) once stopping and nothing is in flight on it.
    socket: Option<TcpListener>,
    kind: ListenerKind,
    accept_armed: bool,
    backoff_armed: bool,
    stopping: bool,
}

impl ListenerSlot {
    pub(super) fn new(listener: Listener) -> Self {
        Self {
            socket: Some(listener.socket),
            kind: listener.kind,
            accept_armed: false,
            backoff_armed: false,
            stopping: false,
        }
    }
}

/// Accept errors that concern one connection, not the listener: Linux
/// passes a new socket's pending network error to accept (accept(2),
/// "Error handling"). The next accept is tried at once.
fn accept_error_is_transient(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNABORTED
            | libc::EINTR
            | libc::EAGAIN
            | libc::EPERM
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
    )
}

impl UringBackend {
    pub(super) fn arm_accept(&mut self, index: usize) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        let Some(socket) = &listener.socket else { return };
        listener.accept_armed = true;
        // The fd is looked up when the SQE is issued (with SQPOLL, by the
        // SQ thread, later); the socket stays open while the accept is armed.
        let accept = opcode::AcceptMulti::new(Fd(socket.as_raw_fd())).allocate_file_index(true);
        self.push(accept.build().user_data(encode(Op::Accept, index, 0)));
    }

    fn cancel_accept(&mut self, index: usize, op: Op) {
        let cancel = opcode::AsyncCancel::new(encode(op, index, 0));
        self.push(cancel.build().user_data(encode(Op::ListenerCancel, index, 0)));
    }

    /// stop_accepting: cancel what is armed; the socket closes when the
    /// last of it has completed (`close_listener_if_idle`).
    pub(super) fn stop_listener(&mut self, index: usize) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        if listener.stopping {
            return;
        }
        listener.stopping = true;
        let (accept_armed, backoff_armed) = (listener.accept_armed, listener.backoff_armed);
        if accept_armed {
            self.cancel_accept(index, Op::Accept);
        }
        if backoff_armed {
            self.cancel_accept(index, Op::AcceptBackoff);
        }
        self.close_listener_if_idle(index);
    }

    fn close_listener_if_idle(&mut self, index: usize) {
        if let Some(l) = self.listeners.get_mut(index)
            && !l.accept_armed
            && !l.backoff_armed
        {
            l.socket = None;
        }
    }

    fn accept_headroom(&self) -> usize {
        (self.direct_slots as usize / 16).min(64)
    }

    fn free_slots(&self) -> usize {
        (self.direct_slots as usize).saturating_sub(self.conns.len())
    }

    fn pause_accepts_if_full(&mut self) {
        if self.accepts_paused || self.free_slots() > self.accept_headroom() {
            return;
        }
        self.accepts_paused = true;
        self.stats.accept_pauses += 1;
        for index in 0..self.listeners.len() {
            let l = &self.listeners[index];
            if l.accept_armed && !l.stopping {
                self.cancel_accept(index, Op::Accept);
            }
        }
    }

    /// Called when a `Close` has freed a slot.
    pub(super) fn resume_accepts_if_room(&mut self) {
        if !self.accepts_paused || self.free_slots() <= 2 * self.accept_headroom() || self.shutting_down {
            return;
        }
        self.accepts_paused = false;
        for index in 0..self.listeners.len() {
            let l = &self.listeners[index];
            if !l.stopping && !l.accept_armed && !l.backoff_armed {
                self.arm_accept(index);
            }
        }
    }

    pub(super) fn accepted(&mut self, index: usize, res: i32, more: bool, on: &mut dyn FnMut(Completion<'_>)) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        let kind = listener.kind;
        if !more {
            listener.accept_armed = false;
        }
        let stopping = listener.stopping || self.shutting_down;
        if let Ok(slot) = u32::try_from(res) {
            // While shutting down the slot is not adopted; it closes with the ring.
            if !self.shutting_down {
                let generation = self.next_generation;
                self.next_generation = self.next_generation.wrapping_add(1) & GEN_MASK;
                let key = self.conns.insert(Conn::new(slot, generation));
                self.arm_recv(key);
                on(Completion::Accepted { conn: key, kind });
                self.pause_accepts_if_full();
            }
        }
        if more {
            return;
        }
        // The multishot accept is over: an error, our cancel, or no room in
        // the CQ for its next CQE.
        if stopping {
            self.close_listener_if_idle(index);
        } else if self.accepts_paused {
            // `resume_accepts_if_room` re-arms it.
        } else if res < 0 && res != -libc::ECANCELED && !accept_error_is_transient(-res) {
            self.stats.accept_backoffs += 1;
            if let Some(l) = self.listeners.get_mut(index) {
                l.backoff_armed = true;
            }
            let timeout = opcode::Timeout::new(&ACCEPT_BACKOFF);
            self.push(timeout.build().user_data(encode(Op::AcceptBackoff, index, 0)));
        } else {
            // ECANCELED here is a pause that was lifted before it completed.
            self.arm_accept(index);
        }
    }

    pub(super) fn backoff_over(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        l.backoff_armed = false;
        if l.stopping || self.shutting_down {
            self.close_listener_if_idle(index);
        } else if !self.accepts_paused {
            self.arm_accept(index);
        }
    }
}
