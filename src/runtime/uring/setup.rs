//! Creating the ring: the two modes, the fallback from one to the other,
//! and start-up errors worded so an operator can act on them.
//!
//! * **SQPOLL**: `SQPOLL | SINGLE_ISSUER`. A kernel thread polls the SQ,
//!   so a busy worker submits without system calls; with `ATTACH_WQ` every
//!   worker's ring shares the first worker's thread instead of each burning
//!   a core. Idle for `sqpoll_idle_ms`, the thread sleeps and sets
//!   `IORING_SQ_NEED_WAKEUP` (see `UringBackend::enter`). Not
//!   `COOP_TASKRUN`: io_uring_create() answers EINVAL to it, or to
//!   `TASKRUN_FLAG` or `DEFER_TASKRUN`, with SQPOLL ("IPI related flags
//!   don't make sense with SQPOLL"); task work then already runs in the SQ
//!   thread and the ring uses `TWA_SIGNAL_NO_IPI`, which is what
//!   COOP_TASKRUN would have bought.
//! * **DEFER_TASKRUN**: `SINGLE_ISSUER | DEFER_TASKRUN`. Completion work
//!   runs only when this thread enters the kernel with
//!   `IORING_ENTER_GETEVENTS`, in one batch, instead of interrupting it.
//!
//! `SQPOLL | DEFER_TASKRUN` is refused for the same reason: deferred task
//! work runs in the task that waits, and with SQPOLL the submitter is the
//! SQ thread.

use std::io;
use std::os::fd::RawFd;

use io_uring::IoUring;

use super::UringOptions;

/// Direct descriptors per ring at most. The table costs the kernel 8 bytes
/// a slot, so a 1M `RLIMIT_NOFILE` is not taken at its word.
const MAX_DIRECT_DESCRIPTORS: u64 = 1 << 16;

pub(super) struct Ring {
    pub(super) ring: IoUring,
    pub(super) sqpoll: bool,
    pub(super) fallback_reason: Option<String>,
}

pub(super) fn build(opts: &UringOptions, attach_to: Option<RawFd>) -> io::Result<Ring> {
    let entries = opts.entries.clamp(1, 32768);
    // A multishot receive posts one CQE per buffer it fills, so up to
    // `buf_count` of them can be waiting besides one per other request.
    // Sizing the CQ for that keeps overflow (and the terminated multishots
    // it causes) rare; IORING_FEAT_NODROP makes it harmless when it happens.
    let cq_entries = (entries * 2).max(entries + u32::from(opts.buf_count)).next_power_of_two();
    let mut fallback_reason = None;
    if opts.sqpoll {
        let mut builder = IoUring::builder();
        builder
            .setup_sqpoll(opts.sqpoll_idle_ms)
            .setup_single_issuer()
            .setup_submit_all()
            .setup_cqsize(cq_entries)
            .setup_clamp();
        if let Some(fd) = attach_to {
            builder.setup_attach_wq(fd);
        }
        match builder.build(entries) {
            Ok(ring) => {
                check_features(&ring)?;
                return Ok(Ring { ring, sqpoll: true, fallback_reason: None });
            }
            Err(e) => {
                let attached = if attach_to.is_some() { " attached to the first worker's SQ thread" } else { "" };
                fallback_reason = Some(format!("SQPOLL ring{attached} could not be set up: {e}"));
            }
        }
    }
    let ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_submit_all()
        .setup_cqsize(cq_entries)
        .setup_clamp()
        .build(entries)
        .map_err(setup_error)?;
    check_features(&ring)?;
    Ok(Ring { ring, sqpoll: false, fallback_reason })
}

/// NODROP (5.5) and EXT_ARG (5.11) predate SINGLE_ISSUER (6.0), which the
/// setup above already required, so this only guards against a kernel
/// that lies. Without EXT_ARG a wait with timeout would need a Timeout SQE.
fn check_features(ring: &IoUring) -> io::Result<()> {
    let params = ring.params();
    if params.is_feature_nodrop() && params.is_feature_ext_arg() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "io_uring lacks IORING_FEAT_NODROP/EXT_ARG; h2ring needs Linux 6.1 or later, or build with `--features epoll`",
        ))
    }
}

/// Turns a failed `io_uring_setup` into a message that says how to fix it.
fn setup_error(e: io::Error) -> io::Error {
    let remedy = "enable io_uring with `sysctl kernel.io_uring_disabled=0`, allow io_uring_setup, io_uring_enter and \
                  io_uring_register in the container's seccomp profile (e.g. `docker run --security-opt seccomp=...`), \
                  or build h2ring with `--features epoll`";
    match e.raw_os_error() {
        Some(libc::ENOSYS | libc::EPERM | libc::EACCES) => {
            let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                .map(|v| format!("kernel.io_uring_disabled = {}", v.trim()))
                .unwrap_or_else(|_| "kernel.io_uring_disabled unreadable".to_string());
            io::Error::new(e.kind(), format!("io_uring is unavailable ({e}; {sysctl}): {remedy}"))
        }
        Some(libc::EINVAL) => io::Error::new(
            e.kind(),
            format!(
                "io_uring_setup refused SINGLE_ISSUER | DEFER_TASKRUN ({e}); h2ring needs Linux 6.1 or later, or build it with `--features epoll`"
            ),
        ),
        Some(libc::ENOMEM) => io::Error::new(e.kind(), format!("io_uring_setup failed: {e}; {MEMLOCK_REMEDY}")),
        _ => io::Error::new(e.kind(), format!("io_uring_setup failed: {e}")),
    }
}

/// Since Linux 6.14 ring memory counts against `RLIMIT_MEMLOCK` again (for
/// a process without CAP_IPC_LOCK), so ENOMEM usually means that limit.
pub(super) const MEMLOCK_REMEDY: &str = "the locked-memory limit is likely too low for the rings: raise it \
     (`ulimit -l unlimited`, or LimitMEMLOCK=infinity in the systemd unit; `h2ring check-tuning` shows what is \
     needed), use fewer --workers, or build with `--features epoll`";

/// How many direct descriptors to register: the kernel refuses a table
/// larger than `RLIMIT_NOFILE` (EMFILE), but it is per ring, so each worker
/// gets the full limit, unlike plain fds, which share one process table.
pub(super) fn direct_descriptor_slots() -> u32 {
    #[cfg(test)]
    if let Some(slots) = TEST_DIRECT_SLOTS.get() {
        return slots;
    }
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the live local it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let soft = if ok { limit.rlim_cur } else { 1024 };
    soft.clamp(1, MAX_DIRECT_DESCRIPTORS) as u32
}

#[cfg(test)]
thread_local! {
    /// Lets a test shrink the table of the rings its thread creates, to
    /// make accept fail with ENFILE.
    pub(super) static TEST_DIRECT_SLOTS: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// Adds what we were doing to an error from a registration call.
pub(super) fn context(e: io::Error, what: &str) -> io::Error {
    if e.raw_os_error() == Some(libc::ENOMEM) {
        return io::Error::new(e.kind(), format!("io_uring: {what}: {e}; {MEMLOCK_REMEDY}"));
    }
    io::Error::new(e.kind(), format!("io_uring: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_how_to_fix_them() {
        for errno in [libc::ENOSYS, libc::EPERM] {
            let e = setup_error(io::Error::from_raw_os_error(errno));
            let msg = e.to_string();
            for remedy in ["sysctl kernel.io_uring_disabled=0", "seccomp", "--features epoll"] {
                assert!(msg.contains(remedy), "{msg:?} lacks {remedy:?}");
            }
            assert_eq!(e.raw_os_error(), None, "the message replaces the bare errno");
        }
        let old_kernel = setup_error(io::Error::from_raw_os_error(libc::EINVAL)).to_string();
        assert!(old_kernel.contains("6.1") && old_kernel.contains("--features epoll"), "{old_kernel}");
    }

    #[test]
    fn direct_descriptor_table_fits_the_fd_limit() {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes one `rlimit` into the live local it is given.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0);
        let slots = u64::from(direct_descriptor_slots());
        assert!(slots >= 1 && slots <= limit.rlim_cur && slots <= MAX_DIRECT_DESCRIPTORS);
    }
}
