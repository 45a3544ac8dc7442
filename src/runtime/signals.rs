//! SIGINT, SIGTERM and SIGHUP, taken synchronously by the main thread:
//! they are blocked before the workers start (threads inherit the mask), so
//! no handler runs at an arbitrary point of a worker's loop, and a reload
//! (SIGHUP) runs on the otherwise idle main thread, never on a worker.

use std::io;
use std::time::Duration;

fn shutdown_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it and
    // sigaddset adds valid signal numbers to that live set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT or SIGTERM: graceful shutdown.
    Shutdown(i32),
    /// SIGHUP: reload the site.
    Reload,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Self::Shutdown(libc::SIGINT) => "SIGINT",
            Self::Shutdown(_) => "SIGTERM",
            Self::Reload => "SIGHUP",
        }
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call before
/// spawning, so every worker inherits the mask).
pub fn block_signals() -> io::Result<()> {
    let set = shutdown_set();
    // SAFETY: `set` is an initialised sigset_t; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Waits up to `timeout` for one of the signals.
pub fn wait_signal(timeout: Duration) -> Option<Signal> {
    let set = shutdown_set();
    let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as _ };
    // SAFETY: `set` and `ts` are initialised and outlive the call; siginfo
    // is not wanted (null is allowed).
    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    match sig {
        libc::SIGHUP => Some(Signal::Reload),
        s if s > 0 => Some(Signal::Shutdown(s)),
        _ => None,
    }
}
