//! Listeners: accepts straight into the ring's direct descriptor table
//! (`IORING_FILE_INDEX_ALLOC`), paced by how many more connections the
//! worker may hold (its *room*).
//!
//! The room is the smaller of two limits:
//!
//! * **The connection cap** (`--max-connections`, this worker's share,
//!   [`Backend::limit_connections`](crate::runtime::Backend)).
//! * **The descriptor table.** io_accept() takes the connection off the
//!   listen queue *before* it looks for a free slot, so an accept into a
//!   full table fails with ENFILE and the connection is lost (the client
//!   sees a reset). So `accept_headroom` slots are kept free.
//!
//! With no room left nothing is armed: new connections wait in the listen
//! queue (the client's TCP handshake completes, its first flight waits
//! unanswered) until a `Close` frees a slot. They are never accepted only
//! to be closed.
//!
//! How accepts are armed depends on the room:
//!
//! * **Plenty** (more than every listen queue could hold, plus slack): one
//!   multishot accept per listener, one SQE for any number of connections.
//!   A multishot accept drains the whole listen queue each time it runs,
//!   so it is only armed when even a full queue fits; once the room shrinks
//!   below that it is cancelled (what it takes before the cancel runs is
//!   one loop turn's arrivals, which the slack covers).
//! * **Little**: single-shot accepts, at most [`ACCEPT_DEPTH`] per listener
//!   and together no more than the room, so the cap holds exactly. Each
//!   listener keeps one armed while there is any room, so none starves;
//!   with less room than listeners that may overshoot by one per extra
//!   listener, when connections arrive on all of them in the same turn.
//! * **None**: whatever is armed is cancelled.
//!
//! **Accept failed** for lack of resources (EMFILE, ENFILE, ENOMEM,
//! ENOBUFS) or because of something wrong with the listener: re-arming at
//! once would fail the same way and spin, so a `Timeout` runs first: 100 ms,
//! doubling with each failure in a row up to 1 s ([`crate::runtime::accept_backoff`]).

use std::net::TcpListener;
use std::os::fd::AsRawFd;

use io_uring::opcode;
use io_uring::types::{CancelBuilder, Fd, Timespec};

use super::UringBackend;
use super::conn::Conn;
use super::user_data::{GEN_MASK, Op, encode};
use crate::runtime::listen::BACKLOG;
use crate::runtime::{Completion, Listener, ListenerKind};

/// The pauses after accept failed, by failures in a row (the last one
/// repeats); [`crate::runtime::accept_backoff`] in `Timespec`s. Statics:
/// the kernel reads a timeout when the SQE is issued, which with SQPOLL
/// is some time later.
static ACCEPT_BACKOFFS: [Timespec; 5] = [
    Timespec::new().nsec(100_000_000),
    Timespec::new().nsec(200_000_000),
    Timespec::new().nsec(400_000_000),
    Timespec::new().nsec(800_000_000),
    Timespec::new().sec(1),
];

/// Single-shot accepts armed per listener at most: enough that a burst of
/// new connections is taken in one loop turn, not one per turn.
pub(super) const ACCEPT_DEPTH: u32 = 8;

/// Room beyond the listen queues before a multishot accept is armed: what
/// may arrive during one loop turn, before a cancel takes effect.
const MULTISHOT_SLACK: usize = 1024;

/// The `user_data` generation of single-shot accepts (multishot: 0), so
/// their CQEs and cancels are told apart.
const SINGLE: u32 = 1;

pub(super) struct ListenerSlot {
    /// Set to `None` (closed) once stopping and nothing is in flight on it.
    socket: Option<TcpListener>,
    kind: ListenerKind,
    /// A multishot accept is armed (its last CQE not yet seen).
    multishot: bool,
    /// Its cancel was submitted.
    multishot_cancelled: bool,
    /// Single-shot accepts in flight.
    singles: u32,
    /// A cancel of all of them was submitted; none is armed until they
    /// have all completed.
    singles_cancelled: bool,
    backoff_armed: bool,
    /// Accepts that failed in a row for lack of resources (or a broken
    /// listener); 0 after a success.
    failures: u32,
    stopping: bool,
}

impl ListenerSlot {
    pub(super) fn new(listener: Listener) -> Self {
        Self {
            socket: Some(listener.socket),
            kind: listener.kind,
            multishot: false,
            multishot_cancelled: false,
            singles: 0,
            singles_cancelled: false,
            backoff_armed: false,
            failures: 0,
            stopping: false,
        }
    }

    fn idle(&self) -> bool {
        !self.multishot && self.singles == 0 && !self.backoff_armed
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
    fn arm_multishot(&mut self, index: usize) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        let Some(socket) = &listener.socket else { return };
        listener.multishot = true;
        listener.multishot_cancelled = false;
        // The fd is looked up when the SQE is issued (with SQPOLL, by the
        // SQ thread, later); the socket stays open while the accept is armed.
        let accept = opcode::AcceptMulti::new(Fd(socket.as_raw_fd())).allocate_file_index(true);
        self.push(accept.build().user_data(encode(Op::Accept, index, 0)));
    }

    fn arm_single(&mut self, index: usize) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        let Some(socket) = &listener.socket else { return };
        listener.singles += 1;
        let accept = opcode::Accept::new(Fd(socket.as_raw_fd()), std::ptr::null_mut(), std::ptr::null_mut())
            .file_index(Some(io_uring::types::DestinationSlot::auto_target()));
        self.push(accept.build().user_data(encode(Op::Accept, index, SINGLE)));
    }

    fn cancel_multishot(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        if !l.multishot || l.multishot_cancelled {
            return;
        }
        l.multishot_cancelled = true;
        let cancel = opcode::AsyncCancel::new(encode(Op::Accept, index, 0));
        self.push(cancel.build().user_data(encode(Op::ListenerCancel, index, 0)));
    }

    fn cancel_singles(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        if l.singles == 0 || l.singles_cancelled {
            return;
        }
        l.singles_cancelled = true;
        let cancel = opcode::AsyncCancel2::new(CancelBuilder::user_data(encode(Op::Accept, index, SINGLE)).all());
        self.push(cancel.build().user_data(encode(Op::ListenerCancel, index, 0)));
    }

    fn cancel_backoff(&mut self, index: usize) {
        if self.listeners.get(index).is_some_and(|l| l.backoff_armed) {
            let cancel = opcode::AsyncCancel::new(encode(Op::AcceptBackoff, index, 0));
            self.push(cancel.build().user_data(encode(Op::ListenerCancel, index, 0)));
        }
    }

    /// stop_accepting: cancel what is armed; the socket closes when the
    /// last of it has completed (`close_listener_if_idle`).
    pub(super) fn stop_listener(&mut self, index: usize) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        if listener.stopping {
            return;
        }
        listener.stopping = true;
        self.cancel_multishot(index);
        self.cancel_singles(index);
        self.cancel_backoff(index);
        self.close_listener_if_idle(index);
    }

    fn close_listener_if_idle(&mut self, index: usize) {
        if let Some(l) = self.listeners.get_mut(index)
            && l.idle()
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

    /// Connections under the cap, from accept until their `Close` completes.
    fn cap_room(&self) -> usize {
        self.max_conns.saturating_sub(self.conns.len())
    }

    /// How many more connections may be accepted now.
    pub(super) fn accept_room(&self) -> usize {
        self.cap_room().min(self.free_slots().saturating_sub(self.accept_headroom()))
    }

    /// The room above which a multishot accept is safe: every listen queue
    /// full at once still fits.
    fn multishot_room(&self) -> usize {
        self.listeners.len() * BACKLOG.unsigned_abs() as usize + MULTISHOT_SLACK
    }

    /// Arms or cancels accepts to match the room; called whenever it may
    /// have changed (accepts, closes, the end of a backoff, a new cap).
    pub(super) fn update_accepts(&mut self) {
        if self.shutting_down {
            return;
        }
        let room = self.accept_room();
        if room == 0 && !self.accept_paused {
            self.accept_paused = true;
            if self.cap_room() == 0 {
                self.stats.cap_pauses += 1;
            } else {
                self.stats.accept_pauses += 1;
            }
        } else if room > 0 {
            self.accept_paused = false;
        }
        let multishot_ok = room > self.multishot_room();
        let share = (room / self.listeners.len().max(1)).clamp(1, ACCEPT_DEPTH as usize) as u32;
        let mut free = room.saturating_sub(self.listeners.iter().map(|l| l.singles as usize).sum());
        for index in 0..self.listeners.len() {
            let l = &self.listeners[index];
            if l.stopping || l.socket.is_none() {
                continue;
            }
            if l.multishot {
                if !multishot_ok {
                    self.cancel_multishot(index);
                }
                continue;
            }
            if room == 0 {
                self.cancel_singles(index);
                continue;
            }
            if l.backoff_armed || l.singles_cancelled {
                continue;
            }
            if multishot_ok {
                // Singles still in flight finish first.
                if l.singles == 0 {
                    self.arm_multishot(index);
                }
                continue;
            }
            // At least one per listener while there is room, so none starves.
            while self.listeners[index].singles < share && (free > 0 || self.listeners[index].singles == 0) {
                self.arm_single(index);
                free = free.saturating_sub(1);
            }
        }
    }

    /// Called when a `Close` has freed a slot.
    pub(super) fn resume_accepts_if_room(&mut self) {
        self.update_accepts();
    }

    pub(super) fn accepted(
        &mut self,
        index: usize,
        res: i32,
        more: bool,
        generation: u32,
        on: &mut dyn FnMut(Completion<'_>),
    ) {
        let Some(listener) = self.listeners.get_mut(index) else { return };
        let kind = listener.kind;
        if generation == SINGLE {
            listener.singles = listener.singles.saturating_sub(1);
            if listener.singles == 0 {
                listener.singles_cancelled = false;
            }
        } else if !more {
            // The multishot accept is over: an error, our cancel, or no
            // room in the CQ for its next CQE.
            listener.multishot = false;
            listener.multishot_cancelled = false;
        }
        let stopping = listener.stopping || self.shutting_down;
        if let Ok(slot) = u32::try_from(res) {
            listener.failures = 0;
            // While shutting down the slot is not adopted; it closes with
            // the ring. A connection taken after the room ran out (before
            // a cancel took effect) is served, not closed.
            if !self.shutting_down {
                let generation = self.next_generation;
                self.next_generation = self.next_generation.wrapping_add(1) & GEN_MASK;
                let key = self.conns.insert(Conn::new(slot, generation));
                self.arm_recv(key);
                on(Completion::Accepted { conn: key, kind });
            }
        } else if res != -libc::ECANCELED && !accept_error_is_transient(-res) && !stopping {
            self.back_off(index);
        }
        if stopping {
            self.close_listener_if_idle(index);
        } else {
            self.update_accepts();
        }
    }

    /// Pauses accepting on one listener after a failure: 100 ms, doubling
    /// while failures follow each other, up to 1 s.
    fn back_off(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        if l.backoff_armed {
            return;
        }
        l.failures = l.failures.saturating_add(1);
        l.backoff_armed = true;
        let level = (l.failures as usize).clamp(1, ACCEPT_BACKOFFS.len()) - 1;
        self.stats.accept_backoffs += 1;
        // Other single-shot accepts would fail the same way.
        self.cancel_singles(index);
        let timeout = opcode::Timeout::new(&ACCEPT_BACKOFFS[level]);
        self.push(timeout.build().user_data(encode(Op::AcceptBackoff, index, 0)));
    }

    pub(super) fn backoff_over(&mut self, index: usize) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        l.backoff_armed = false;
        if l.stopping || self.shutting_down {
            self.close_listener_if_idle(index);
        } else {
            self.update_accepts();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_timespecs_follow_accept_backoff() {
        for failures in 1..=7u32 {
            let want = crate::runtime::accept_backoff(failures);
            let level = (failures as usize).clamp(1, ACCEPT_BACKOFFS.len()) - 1;
            let ts = &ACCEPT_BACKOFFS[level];
            // Timespec's fields are private; compare through its Debug form.
            let shown = format!("{ts:?}");
            let (secs, nanos) = (want.as_secs(), want.subsec_nanos());
            assert!(shown.contains(&format!("tv_sec: {secs}")), "{shown} vs {want:?}");
            assert!(shown.contains(&format!("tv_nsec: {nanos}")), "{shown} vs {want:?}");
        }
    }
}
