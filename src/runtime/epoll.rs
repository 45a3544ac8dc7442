//! The edge-triggered epoll backend (`--features epoll`), observably the
//! same as the io_uring one so the two can be benchmarked side by side.
//!
//! Every fd is registered once, with `EPOLLET`: connections for
//! `EPOLLIN | EPOLLOUT | EPOLLRDHUP` at accept, so sending never needs an
//! `epoll_ctl`. Edge-triggered means (epoll(7)) an event is reported only
//! when readiness *changes*; after one, the fd has to be used until it says
//! `EAGAIN`, or the readiness must be remembered here, or it is lost. Each
//! connection therefore carries `readable` / `writable` flags, and
//! listeners an `acceptable` flag, cleared only by `EAGAIN` (or a read the
//! man page says proves the input drained).
//!
//! One [`Backend::poll`] is one turn:
//! 1. buffers handed to `send` after `close` come back, queued closes are
//!    carried out (`Sent { ok: false }` for a pending send, then `Closed`),
//!    and queued sends are written at once while the socket takes them;
//! 2. `epoll_wait`, for no time at all if step 1 reported anything or work
//!    was left over from the last turn (the worker must get to act on it);
//! 3. the events set the flags; the waker is drained and reported, pending
//!    sends continue on `EPOLLOUT`;
//! 4. listeners with connections waiting are accepted from (while the
//!    connection cap leaves room and no accept backoff runs), and
//!    connections with input are read, each up to a budget per turn
//!    ([`READ_BUDGET`] chunks of [`READ_BUF_SIZE`]). A connection that used
//!    its budget stays in the queue, still marked readable, so one fast
//!    client cannot starve the others and no edge is needed to resume it.
//!
//! Accepting pauses in two cases, and the listeners then leave the interest
//! list (`EPOLL_CTL_DEL`), so connections arriving meanwhile wake nobody:
//! at the connection cap ([`Backend::limit_connections`]; connections wait
//! in the listen queue until one closes, never accepted and then closed),
//! and after accept failed for lack of fds or memory (EMFILE, ENFILE,
//! ENOBUFS, ENOMEM: 100 ms, doubling while it keeps failing, up to 1 s;
//! [`crate::runtime::accept_backoff`]). When it ends they are added back and
//! marked acceptable, so what queued up meanwhile needs no new edge.
//!
//! Stale events: epoll's `data` is the slab key *and* a generation number
//! the connection got at accept ([`Token`]). A closed connection's key may
//! be reused by the next accept; an event (or read-queue entry) naming the
//! old generation is dropped. Closing an fd removes it from the interest
//! list only once no other fd shares its open file description (epoll(7),
//! Q6), so this check, not the close, is what keeps old events away from a
//! new connection; it also saves an `EPOLL_CTL_DEL` per close.
//!
//! Dropping the backend closes every fd it owns (they are `OwnedFd`s).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use slab::Slab;

use self::conn::{Conn, PendingSend};
use super::{AcceptStats, Backend, BackendStats, Completion, ConnKey, Listener, ListenerKind, Waker, accept_backoff};

mod conn;
mod sys;
#[cfg(test)]
mod tests;

/// The one receive buffer every `Received` slice points into.
pub const READ_BUF_SIZE: usize = 64 * 1024;
/// Reads per connection per turn (so at most 256 KiB) before the others
/// get their turn.
pub const READ_BUDGET: usize = 4;
/// Accepts per listener per turn; the rest wait for the next turn.
pub const ACCEPT_BUDGET: usize = 64;
/// How long accepting pauses the first time the process or system is out
/// of fds or memory: retrying at once would only spin on the same error.
/// It doubles with each failure in a row, up to 1 s.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Events fetched per `epoll_wait`; more stay queued in the kernel.
const MAX_EVENTS: usize = 256;

/// Listeners and the waker: only ever read from.
const READ_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLET) as u32;
/// Connections, for the whole of their life: no `epoll_ctl` per send.
const CONN_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
/// Anything after which a read returns data, end of input or an error.
const READ_READY: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Anything after which a send makes progress or fails.
const WRITE_READY: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// The peer's FIN, a hang-up or an error is queued behind any data.
const END_SIGNALLED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Counters for benchmarking against io_uring. Plain numbers since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollStats {
    /// `epoll_wait` calls.
    pub epoll_waits: u64,
    /// Events those calls returned.
    pub events: u64,
    /// Times accepting paused for [`ACCEPT_BACKOFF`] (or longer).
    pub accept_backoffs: u64,
    /// Times accepting paused at the connection cap.
    pub accept_pauses: u64,
    /// `send`s that wrote less than asked (the socket buffer filled up).
    pub short_writes: u64,
    /// Sends that met `EAGAIN` and waited for the next `EPOLLOUT` edge.
    pub send_waits: u64,
    /// Turns in which a connection used its read budget with input left.
    pub reads_deferred: u64,
    /// Events dropped because they named a connection already closed
    /// (its key reused or free): see "Stale events" above.
    pub stale_events: u64,
}

/// epoll's `data` word: the slab key in the low 32 bits and the
/// connection's generation in the high 32. Generation 0 is never given to
/// a connection; it marks listeners (index = position) and the waker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Token {
    index: u32,
    generation: u32,
}

impl Token {
    const WAKER: Token = Token { index: u32::MAX, generation: 0 };

    fn to_data(self) -> u64 {
        u64::from(self.generation) << 32 | u64::from(self.index)
    }

    fn from_data(data: u64) -> Self {
        Token { index: data as u32, generation: (data >> 32) as u32 }
    }
}

struct ListenerSlot {
    listener: Listener,
    /// An edge said connections are waiting and `accept4` has not yet
    /// returned `EAGAIN`.
    acceptable: bool,
    /// In the epoll interest list (not while accepting is paused).
    registered: bool,
    token: Token,
}

/// The edge-triggered epoll backend of one worker.
pub struct EpollBackend {
    epoll: OwnedFd,
    /// Our own dup of the waker's eventfd, so it outlives any borrow.
    waker: OwnedFd,
    listeners: Vec<ListenerSlot>,
    conns: Slab<Conn>,
    next_generation: u32,
    events: Vec<libc::epoll_event>,
    read_buf: Box<[u8]>,
    read_budget: usize,
    /// Connections that are readable, in turn order.
    read_queue: VecDeque<Token>,
    /// Sends handed over since the last poll, to be tried at its start.
    send_queue: Vec<Token>,
    /// Connections `close` was called for since the last poll.
    close_queue: Vec<ConnKey>,
    /// Buffers handed to `send` for a closing or unknown connection.
    refused_sends: Vec<(ConnKey, Vec<u8>)>,
    /// While set, nothing is accepted; it also bounds the `epoll_wait`.
    accept_backoff_until: Option<Instant>,
    /// Accepts that failed in a row for lack of resources.
    accept_failures: u32,
    /// The connection cap (`Backend::limit_connections`).
    max_conns: usize,
    /// The cap was reached (counted once per pause).
    at_cap: bool,
    stats: EpollStats,
}

impl EpollBackend {
    /// Watches `listeners` (made non-blocking: `accept4` on a blocking one
    /// would stall the worker) and `waker`, edge-triggered.
    pub fn new(listeners: Vec<Listener>, waker: &Waker) -> io::Result<Self> {
        let epoll = sys::epoll_create()?;
        let waker = sys::dup_cloexec(waker.raw_fd())?;
        sys::epoll_add(epoll.as_fd(), waker.as_fd(), READ_EVENTS, Token::WAKER.to_data())?;
        let mut slots = Vec::with_capacity(listeners.len());
        for (position, listener) in listeners.into_iter().enumerate() {
            let index = u32::try_from(position)
                .ok()
                .filter(|&index| index != Token::WAKER.index)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "too many listeners"))?;
            listener.socket.set_nonblocking(true)?;
            let token = Token { index, generation: 0 };
            sys::epoll_add(epoll.as_fd(), listener.socket.as_fd(), READ_EVENTS, token.to_data())?;
            slots.push(ListenerSlot { listener, acceptable: false, registered: true, token });
        }
        Ok(Self {
            epoll,
            waker,
            listeners: slots,
            conns: Slab::new(),
            next_generation: 1,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS],
            read_buf: vec![0; READ_BUF_SIZE].into_boxed_slice(),
            read_budget: READ_BUDGET,
            read_queue: VecDeque::new(),
            send_queue: Vec::new(),
            close_queue: Vec::new(),
            refused_sends: Vec::new(),
            accept_backoff_until: None,
            accept_failures: 0,
            max_conns: usize::MAX,
            at_cap: false,
            stats: EpollStats::default(),
        })
    }

    pub fn stats(&self) -> EpollStats {
        self.stats
    }

    /// The live connection `token` names, if it is not a stale one.
    fn conn(conns: &mut Slab<Conn>, token: Token) -> Option<&mut Conn> {
        conns.get_mut(token.index as usize).filter(|conn| conn.generation == token.generation)
    }

    /// Step 1 of a turn. Returns whether anything was reported.
    fn submit_queued(&mut self, on: &mut dyn FnMut(Completion<'_>)) -> bool {
        let mut reported = !self.refused_sends.is_empty() || !self.close_queue.is_empty();
        for (conn, mut buf) in self.refused_sends.drain(..) {
            buf.clear();
            on(Completion::Sent { conn, buf, ok: false });
        }
        for key in self.close_queue.drain(..) {
            let Some(conn) = self.conns.try_remove(key) else { continue };
            // The fd is closed (dropped) before `Closed`, as its docs promise.
            let Conn { fd, send, .. } = conn;
            drop(fd);
            if let Some(PendingSend { mut buf, .. }) = send {
                buf.clear();
                on(Completion::Sent { conn: key, buf, ok: false });
            }
            on(Completion::Closed { conn: key });
        }
        let mut queue = std::mem::take(&mut self.send_queue);
        for token in queue.drain(..) {
            if let Some(conn) = Self::conn(&mut self.conns, token)
                && conn.writable
            {
                reported |= conn.write_pending(token.index as usize, &mut self.stats, on);
            }
        }
        self.send_queue = queue;
        reported
    }

    /// The `epoll_wait` timeout in ms: `timeout` rounded up (`None`: -1,
    /// no limit), but not past the end of an accept backoff.
    fn wait_timeout_ms(&self, timeout: Option<Duration>) -> i32 {
        let mut ms = timeout.map_or(-1, ceil_ms);
        if let Some(until) = self.accept_backoff_until {
            let left = ceil_ms(until.saturating_duration_since(Instant::now()));
            ms = if ms < 0 { left } else { ms.min(left) };
        }
        ms
    }

    fn end_expired_backoff(&mut self) {
        if let Some(until) = self.accept_backoff_until
            && Instant::now() >= until
        {
            self.accept_backoff_until = None;
        }
    }

    /// Step 3: one event.
    fn dispatch(&mut self, flags: u32, token: Token, on: &mut dyn FnMut(Completion<'_>)) {
        if token.generation == 0 {
            if token == Token::WAKER {
                // Resetting the eventfd counter re-arms the edge; EAGAIN
                // (someone drained it already) changes nothing.
                let _ = sys::read(self.waker.as_fd(), &mut [0; 8]);
                on(Completion::Woken);
            } else if let Some(slot) = self.listeners.get_mut(token.index as usize) {
                slot.acceptable = true;
            }
            return;
        }
        let Some(conn) = Self::conn(&mut self.conns, token) else {
            self.stats.stale_events += 1;
            return;
        };
        if conn.closing {
            return;
        }
        if flags & END_SIGNALLED != 0 {
            conn.end_signalled = true;
        }
        if flags & READ_READY != 0 && !conn.recv_closed {
            conn.readable = true;
            if !conn.queued_for_read {
                conn.queued_for_read = true;
                self.read_queue.push_back(token);
            }
        }
        if flags & WRITE_READY != 0 {
            conn.writable = true;
            conn.write_pending(token.index as usize, &mut self.stats, on);
        }
    }

    /// Whether accepting is on: no backoff running and room under the cap.
    fn may_accept(&self) -> bool {
        self.accept_backoff_until.is_none() && self.conns.len() < self.max_conns
    }

    /// Puts the listeners into the interest list, or takes them out, to
    /// match [`Self::may_accept`]; counts a pause at the cap.
    fn update_listener_interest(&mut self) {
        let at_cap = self.conns.len() >= self.max_conns;
        if at_cap && !self.at_cap {
            self.stats.accept_pauses += 1;
        }
        self.at_cap = at_cap;
        let wanted = self.may_accept();
        for slot in &mut self.listeners {
            if slot.registered == wanted {
                continue;
            }
            let fd = slot.listener.socket.as_fd();
            if wanted {
                // Failing (ENOMEM) leaves it out; the next turn tries again.
                if sys::epoll_add(self.epoll.as_fd(), fd, READ_EVENTS, slot.token.to_data()).is_ok() {
                    slot.registered = true;
                    // Whatever queued up meanwhile raised no edge we saw.
                    slot.acceptable = true;
                }
            } else {
                // Failing would only cost wake-ups; `registered` stays.
                if sys::epoll_del(self.epoll.as_fd(), fd).is_ok() {
                    slot.registered = false;
                }
            }
        }
    }

    /// Step 4a: accept from every listener an edge marked, unless backing
    /// off or at the cap.
    fn accept_ready(&mut self, on: &mut dyn FnMut(Completion<'_>)) {
        for position in 0..self.listeners.len() {
            if !self.may_accept() {
                return;
            }
            if self.listeners[position].acceptable && self.listeners[position].registered {
                self.accept_from(position, on);
            }
        }
    }

    fn accept_from(&mut self, position: usize, on: &mut dyn FnMut(Completion<'_>)) {
        for _ in 0..ACCEPT_BUDGET {
            if self.conns.len() >= self.max_conns {
                // `acceptable` stays: the queue is served when room returns.
                return;
            }
            let slot = &mut self.listeners[position];
            let kind = slot.listener.kind;
            let error = match sys::accept(slot.listener.socket.as_fd()) {
                Ok(fd) => {
                    self.accept_failures = 0;
                    self.register(fd, kind, on);
                    if self.accept_backoff_until.is_some() {
                        return;
                    }
                    continue;
                }
                Err(error) => error.raw_os_error().unwrap_or(0),
            };
            match error {
                libc::EAGAIN => {
                    slot.acceptable = false;
                    return;
                }
                // Out of fds or kernel memory: pause, keep `acceptable` so
                // the retry after the backoff needs no new edge.
                libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                    self.back_off();
                    return;
                }
                // ECONNABORTED: the client gave up while queued. accept(2):
                // Linux passes pending network errors of the new socket up
                // from accept(), and these "should be treated like EAGAIN
                // by retrying"; EPERM is a firewall's refusal.
                libc::EINTR
                | libc::ECONNABORTED
                | libc::EPERM
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENONET
                | libc::EOPNOTSUPP => {}
                // EBADF, EINVAL, …: the listener itself is broken. Waiting
                // for its next edge beats spinning on it.
                _ => {
                    slot.acceptable = false;
                    return;
                }
            }
        }
        // Budget spent: `acceptable` stays set and the next turn goes on.
    }

    fn back_off(&mut self) {
        self.accept_failures = self.accept_failures.saturating_add(1);
        self.accept_backoff_until = Some(Instant::now() + accept_backoff(self.accept_failures));
        self.stats.accept_backoffs += 1;
    }

    /// Watches an accepted socket (already non-blocking; TCP_NODELAY is
    /// inherited from the listener on Linux) and reports it.
    fn register(&mut self, fd: OwnedFd, kind: ListenerKind, on: &mut dyn FnMut(Completion<'_>)) {
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        // Keys above u32 would not fit a Token: over 4 billion open
        // connections; dropping `fd` refuses this one.
        let Ok(index) = u32::try_from(key) else { return };
        let generation = self.next_generation;
        self.next_generation = generation.wrapping_add(1).max(1);
        let token = Token { index, generation };
        match sys::epoll_add(self.epoll.as_fd(), fd.as_fd(), CONN_EVENTS, token.to_data()) {
            Ok(()) => {
                entry.insert(Conn::new(fd, generation));
                on(Completion::Accepted { conn: key, kind });
            }
            // The fd is dropped (closed), so the client sees a reset. Out of
            // memory or of `max_user_watches` (ENOSPC) is like EMFILE.
            Err(error) => {
                if matches!(error.raw_os_error(), Some(libc::ENOMEM | libc::ENOSPC)) {
                    self.back_off();
                }
            }
        }
    }

    /// Step 4b: every connection in the read queue, once, in turn.
    fn read_ready(&mut self, on: &mut dyn FnMut(Completion<'_>)) {
        for _ in 0..self.read_queue.len() {
            let Some(token) = self.read_queue.pop_front() else { break };
            let Some(conn) = Self::conn(&mut self.conns, token) else { continue };
            conn.queued_for_read = false;
            if conn.closing || conn.recv_closed || !conn.readable {
                continue;
            }
            if conn.read_some(token.index as usize, &mut self.read_buf, self.read_budget, on) {
                conn.queued_for_read = true;
                self.read_queue.push_back(token);
                self.stats.reads_deferred += 1;
            }
        }
    }
}

/// `d` in whole milliseconds, rounded up so a wait never ends early.
fn ceil_ms(d: Duration) -> i32 {
    i32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
}

impl Backend for EpollBackend {
    fn poll(&mut self, timeout: Option<Duration>, on: &mut dyn FnMut(Completion<'_>)) -> io::Result<()> {
        let reported = self.submit_queued(on);
        self.end_expired_backoff();
        self.update_listener_interest();
        let accept_left = self.may_accept() && self.listeners.iter().any(|slot| slot.acceptable && slot.registered);
        let work_left = accept_left || !self.read_queue.is_empty();
        let timeout_ms = if reported || work_left { 0 } else { self.wait_timeout_ms(timeout) };

        self.stats.epoll_waits += 1;
        let count = match sys::epoll_wait(self.epoll.as_fd(), &mut self.events, timeout_ms) {
            Ok(count) => count,
            // A signal arrived: an empty turn; the worker polls again.
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        };
        self.stats.events += count as u64;
        for i in 0..count {
            // Copied out: the struct is packed on x86_64.
            let libc::epoll_event { events: flags, u64: data } = self.events[i];
            self.dispatch(flags, Token::from_data(data), on);
        }

        self.end_expired_backoff();
        self.update_listener_interest();
        self.accept_ready(on);
        self.read_ready(on);
        // A pause begun in this turn takes the listeners out before the
        // next wait.
        self.update_listener_interest();
        Ok(())
    }

    fn send(&mut self, conn: ConnKey, buf: Vec<u8>) {
        match self.conns.get_mut(conn) {
            Some(c) if !c.closing && c.send.is_none() => {
                c.send = Some(PendingSend { buf, written: 0 });
                self.send_queue.push(Token { index: conn as u32, generation: c.generation });
            }
            // After `close`, or a second send in flight (the worker's
            // bug): the buffer comes back failed, before any `Closed`.
            Some(c) => {
                debug_assert!(c.closing, "a second send in flight on connection {conn}");
                self.refused_sends.push((conn, buf));
            }
            None => self.refused_sends.push((conn, buf)),
        }
    }

    fn close(&mut self, conn: ConnKey) {
        if let Some(c) = self.conns.get_mut(conn)
            && !c.closing
        {
            c.closing = true;
            self.close_queue.push(conn);
        }
    }

    fn stop_accepting(&mut self) {
        for slot in self.listeners.drain(..) {
            // Explicit, because closing removes it from the interest list
            // only if no dup of the listener's fd is open elsewhere.
            if slot.registered {
                let _ = sys::epoll_del(self.epoll.as_fd(), slot.listener.socket.as_fd());
            }
        }
        self.accept_backoff_until = None;
    }

    fn limit_connections(&mut self, max: usize) {
        self.max_conns = max;
    }

    fn accept_stats(&self) -> AcceptStats {
        AcceptStats { backoffs: self.stats.accept_backoffs, pauses: self.stats.accept_pauses }
    }

    fn backend_stats(&self) -> BackendStats {
        let s = &self.stats;
        BackendStats {
            submitted: s.epoll_waits,
            completed: s.events,
            recv_buffers_exhausted: 0,
            short_sends: s.short_writes,
        }
    }

    fn name(&self) -> &'static str {
        "epoll"
    }
}
