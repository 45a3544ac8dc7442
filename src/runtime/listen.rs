//! Listening sockets: one per worker and address, bound with
//! `SO_REUSEPORT` so the kernel spreads new connections across workers
//! without a shared accept queue.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// The accept backlog we ask for; `net.core.somaxconn` caps it.
pub const BACKLOG: i32 = 4096;

/// Binds a non-blocking listener on `addr` with `SO_REUSEPORT` (and
/// `IPV6_V6ONLY` for IPv6, so `[::]` and `0.0.0.0` can both be given).
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Pending TCP Fast Open requests a listener may hold (the `qlen` of
/// `TCP_FASTOPEN`, RFC 7413 §5.1 limits half-open TFO connections).
pub const FASTOPEN_QUEUE: i32 = 4096;

/// Accepts TCP Fast Open on a TLS listener: a returning client's
/// ClientHello rides in its SYN, which with 0-RTT puts the request in the
/// first packet. Only for TLS, where data in a SYN is a ClientHello that
/// TLS itself protects against replay (RFC 8446 §8); a cleartext request
/// in a SYN could be replayed by the network (RFC 7413 §6.3.1). The kernel
/// also needs the server bit of `net.ipv4.tcp_fastopen` (h2ring
/// check-tuning says so); without it this is a no-op, so failure is
/// ignored by the caller.
pub fn enable_fastopen(listener: &TcpListener) -> io::Result<()> {
    let qlen: libc::c_int = FASTOPEN_QUEUE;
    // SAFETY: the fd is a live TCP socket owned by `listener`; `qlen` is
    // an initialised c_int and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_FASTOPEN,
            (&qlen as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_workers_share_a_port() {
        let a = bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = a.local_addr().unwrap().port();
        let b = bind_reuseport(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        assert_eq!(b.local_addr().unwrap().port(), port);
    }

    #[test]
    fn fast_open_can_be_enabled() {
        let l = bind_reuseport("127.0.0.1:0".parse().unwrap()).unwrap();
        enable_fastopen(&l).unwrap();
    }
}
