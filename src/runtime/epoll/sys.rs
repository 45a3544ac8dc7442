//! The few syscalls the epoll backend makes, as safe functions over
//! borrowed and owned fds. Each returns the raw OS error on failure and
//! never panics; retrying on `EINTR` is left to the caller, which knows
//! whether a retry fits its budget.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `epoll_create1(EPOLL_CLOEXEC)`: the instance must not leak into a
/// child process, where it would keep watching our sockets.
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: takes no pointers; EPOLL_CLOEXEC is a valid flag.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by epoll_create1 and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `EPOLL_CTL_ADD`: watch `fd` for `events`, reported with `data`.
pub fn epoll_add(epoll: BorrowedFd<'_>, fd: BorrowedFd<'_>, events: u32, data: u64) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: data };
    // SAFETY: both fds are open for the duration of the call (borrowed);
    // `event` is a live, initialised epoll_event the kernel only reads.
    let rc = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut event) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `EPOLL_CTL_DEL`: stop watching `fd`.
pub fn epoll_del(epoll: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: both fds are open (borrowed). Since Linux 2.6.9 the event
    // pointer of EPOLL_CTL_DEL is ignored and may be null.
    let rc = unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), std::ptr::null_mut()) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// `epoll_wait` into `events`; returns how many entries were filled.
/// `timeout_ms` of -1 waits without limit, 0 returns at once.
pub fn epoll_wait(epoll: BorrowedFd<'_>, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
    let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
    // SAFETY: `events` is a live, writable buffer of at least `max`
    // entries; the kernel writes at most `max` of them.
    let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
    // A negative count is an error; otherwise n <= max fits in usize.
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, so the new socket is
/// ready for edge-triggered use without a second syscall. The peer
/// address is not asked for (null pointers), as nothing above needs it.
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: the listener is open (borrowed); null addr/addrlen are
    // allowed by accept(2) when the peer address is not wanted.
    let fd = unsafe { libc::accept4(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by accept4 and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `read` into `buf`; `Ok(0)` is end of input.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is live and writable for `buf.len()` bytes; the fd is
    // open (borrowed).
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `send` with `MSG_NOSIGNAL`: writing to a socket the peer has reset
/// returns `EPIPE` instead of raising SIGPIPE, which would kill the
/// process (Rust's std ignores SIGPIPE before a Rust `main`, but this
/// library may run inside another host program; a test checks it).
pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is live and readable for `buf.len()` bytes; the fd is
    // open (borrowed).
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `fcntl(F_DUPFD_CLOEXEC)`: our own handle on a descriptor someone else
/// owns (the waker's eventfd), so it cannot be closed under us.
pub fn dup_cloexec(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: takes no pointers; an invalid `fd` only yields EBADF.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}
