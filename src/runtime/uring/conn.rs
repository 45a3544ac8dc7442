//! Connections: which requests are in flight, what each completion means,
//! what to submit next.
//!
//! A connection has at most in flight: its multishot receive, one send,
//! and after `close` a cancel and then the `Close`. `close` cancels the
//! receive and the send, waits for each one's last CQE, and only then
//! submits `Close`; the `Close` CQE removes the connection from the slab and
//! reports `Closed`. That is the one place a connection's resources (slab
//! key, direct descriptor) are released, so no CQE can arrive for a key
//! after it has been reused.

use std::collections::VecDeque;

use io_uring::types::{CancelBuilder, Fixed};
use io_uring::{cqueue, opcode};

use super::user_data::{Op, encode};
use super::{BGID, UringBackend};
use crate::runtime::{Completion, ConnKey};

pub(super) struct Conn {
    /// Index in the ring's direct descriptor table.
    slot: u32,
    generation: u32,
    recv_armed: bool,
    /// `RecvClosed` was reported (or is moot): no more `Received`.
    recv_ended: bool,
    /// The send in flight; its buffer must stay put until the CQE.
    pub(super) send: Option<OutBuf>,
    /// Sends given while one was in flight. The worker keeps one in
    /// flight, but a second is queued rather than refused.
    send_queue: VecDeque<Vec<u8>>,
    cancel_pending: bool,
    closing: bool,
    close_pending: bool,
}

pub(super) struct OutBuf {
    pub(super) buf: Vec<u8>,
    written: usize,
}

impl Conn {
    pub(super) fn new(slot: u32, generation: u32) -> Self {
        Self {
            slot,
            generation,
            recv_armed: false,
            recv_ended: false,
            send: None,
            send_queue: VecDeque::new(),
            cancel_pending: false,
            closing: false,
            close_pending: false,
        }
    }
}

impl UringBackend {
    pub(super) fn arm_recv(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.recv_armed = true;
        let recv = opcode::RecvMulti::new(Fixed(conn.slot), BGID);
        let user_data = encode(Op::Recv, key, conn.generation);
        self.push(recv.build().user_data(user_data));
    }

    pub(super) fn rearm_receives(&mut self) {
        let mut rearm = std::mem::take(&mut self.rearm);
        for (key, generation) in rearm.drain(..) {
            if let Some(c) = self.conns.get(key)
                && c.generation == generation
                && !c.recv_armed
                && !c.recv_ended
                && !c.closing
                && !self.shutting_down
            {
                self.arm_recv(key);
            }
        }
        self.rearm = rearm;
    }

    pub(super) fn queue_send(&mut self, key: ConnKey, buf: Vec<u8>) {
        let shutting_down = self.shutting_down;
        match self.conns.get_mut(key) {
            Some(conn) if !conn.closing && !shutting_down => {
                if conn.send.is_some() {
                    conn.send_queue.push_back(buf);
                } else if buf.is_empty() {
                    self.sends_done.push((key, buf, true));
                } else {
                    conn.send = Some(OutBuf { buf, written: 0 });
                    self.submit_send(key);
                }
            }
            _ => self.sends_done.push((key, buf, false)),
        }
    }

    /// Submits the unwritten rest of the connection's `send`.
    fn submit_send(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get(key) else { return };
        let Some(out) = &conn.send else { return };
        let rest = &out.buf[out.written.min(out.buf.len())..];
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        // MSG_NOSIGNAL: a reset peer must fail the send, not raise SIGPIPE.
        let send = opcode::Send::new(Fixed(conn.slot), rest.as_ptr(), len).flags(libc::MSG_NOSIGNAL);
        let user_data = encode(Op::Send, key, conn.generation);
        self.push(send.build().user_data(user_data));
    }

    pub(super) fn start_close(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.closing {
            return;
        }
        conn.closing = true;
        for buf in conn.send_queue.drain(..) {
            self.sends_done.push((key, buf, false));
        }
        if conn.recv_armed || conn.send.is_some() {
            // One cancel for every request on the socket, receive and send
            // (IORING_ASYNC_CANCEL_FD | FD_FIXED | ALL). Its result does not
            // matter: we wait for each request's own last CQE regardless.
            conn.cancel_pending = true;
            let cancel = opcode::AsyncCancel2::new(CancelBuilder::fd(Fixed(conn.slot)).all());
            let user_data = encode(Op::ConnCancel, key, conn.generation);
            self.push(cancel.build().user_data(user_data));
        }
        self.close_if_idle(key);
    }

    /// Submits the `Close` once a closing connection has nothing in flight.
    fn close_if_idle(&mut self, key: ConnKey) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.closing && !conn.close_pending && !conn.recv_armed && conn.send.is_none() && !conn.cancel_pending {
            conn.close_pending = true;
            let close = opcode::Close::new(Fixed(conn.slot));
            let user_data = encode(Op::Close, key, conn.generation);
            self.push(close.build().user_data(user_data));
        }
    }

    pub(super) fn cancelled(&mut self, key: ConnKey, generation: u32) {
        match self.conns.get_mut(key) {
            Some(conn) if conn.generation == generation => {
                conn.cancel_pending = false;
                self.close_if_idle(key);
            }
            _ => self.stale(0),
        }
    }

    /// The `Close` completed: the only place a connection is released.
    /// Whatever its result, the slot is free: close(2) releases the
    /// descriptor even when it reports an error.
    pub(super) fn closed(&mut self, key: ConnKey, generation: u32, on: &mut dyn FnMut(Completion<'_>)) {
        match self.conns.get(key) {
            Some(conn) if conn.generation == generation && conn.close_pending => {
                self.conns.remove(key);
                if !self.shutting_down {
                    on(Completion::Closed { conn: key });
                }
                self.resume_accepts_if_room();
            }
            _ => self.stale(0),
        }
    }

    pub(super) fn received(
        &mut self,
        key: ConnKey,
        generation: u32,
        res: i32,
        flags: u32,
        on: &mut dyn FnMut(Completion<'_>),
    ) {
        let bid = cqueue::buffer_select(flags);
        let more = cqueue::more(flags);
        let Some(conn) = self.conns.get_mut(key).filter(|c| c.generation == generation) else {
            self.stale(flags);
            return;
        };
        if !more {
            conn.recv_armed = false;
        }
        let deliver = !conn.closing && !conn.recv_ended && !self.shutting_down;
        // EOF (0) or an error (ECONNRESET; ECANCELED after close) ends the
        // stream; ENOBUFS only ends this multishot.
        let mut ended = res == 0 || (res < 0 && res != -libc::ENOBUFS);
        if res > 0 {
            // SAFETY: `bid` came with this CQE and is recycled just below,
            // after the last use of `data`.
            let data = bid.and_then(|bid| unsafe { self.bufs.filled(bid, res as usize) });
            match data {
                Some(data) if deliver => on(Completion::Received { conn: key, data }),
                Some(_) => {}
                // Data without a valid buffer: the stream is unusable.
                None => ended = true,
            }
        }
        if let Some(bid) = bid {
            // SAFETY: the CQE handed `bid` to us and the slice above is gone.
            unsafe { self.bufs.recycle(bid) };
        }
        if res == -libc::ENOBUFS {
            self.stats.recv_enobufs += 1;
        }
        if ended {
            conn.recv_ended = true;
            if deliver {
                on(Completion::RecvClosed { conn: key });
            }
        } else if !more && deliver {
            // ENOBUFS, or no room in the CQ, ended the multishot. Re-arm once
            // this turn's buffers are back in the ring, or it fails at once.
            self.rearm.push((key, generation));
        }
        self.close_if_idle(key);
    }

    pub(super) fn sent(&mut self, key: ConnKey, generation: u32, res: i32, on: &mut dyn FnMut(Completion<'_>)) {
        let shutting_down = self.shutting_down;
        let Some(conn) = self.conns.get_mut(key).filter(|c| c.generation == generation) else {
            self.stale(0);
            return;
        };
        let Some(out) = conn.send.as_mut() else {
            self.stale(0);
            return;
        };
        if let Ok(n) = usize::try_from(res) {
            out.written = out.written.saturating_add(n).min(out.buf.len());
        }
        let complete = out.written == out.buf.len();
        if res > 0 && !complete && !conn.closing && !shutting_down {
            // A short send: the socket buffer filled up. Send the rest.
            self.stats.short_sends += 1;
            self.submit_send(key);
            return;
        }
        // Done, failed, or cut short by close (then not resubmitted).
        let ok = res >= 0 && complete;
        if let Some(OutBuf { mut buf, .. }) = conn.send.take() {
            buf.clear();
            if !shutting_down {
                on(Completion::Sent { conn: key, buf, ok });
            }
        }
        if let Some(next) = conn.send_queue.pop_front() {
            self.queue_send(key, next);
        }
        self.close_if_idle(key);
    }
}
