//! `RLIMIT_MEMLOCK` against what each worker's io_uring maps.
//!
//! How the kernel counts a ring's memory depends on its version:
//!
//! * before 5.12, a ring's SQ/CQ ring and SQE array (each a power-of-two
//!   number of pages) counted against the owner's `RLIMIT_MEMLOCK`;
//! * from 5.12, they were charged to the memory cgroup instead, and the
//!   memlock limit did not matter for them;
//! * from 6.14, rings, SQEs and provided-buffer rings are "regions"
//!   (`io_create_region`), which count their pages against
//!   `RLIMIT_MEMLOCK` again, per user, unless the process has
//!   `CAP_IPC_LOCK` (root has). `io_uring_setup` then fails with ENOMEM
//!   once the user's rings pass the limit: with the common 8 MiB limit,
//!   somewhere above 64 workers.
//!
//! The receive buffers behind the provided-buffer ring are ordinary memory
//! (see `runtime::uring::bufring`); only its slots are counted.

use super::{Fix, Row, Verdict};

/// What one worker's ring and buffer ring are sized to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingSizes {
    /// SQ entries (a power of two, as the kernel rounds them).
    pub sq_entries: u32,
    /// CQ entries (a power of two).
    pub cq_entries: u32,
    /// Slots of the provided-buffer ring.
    pub buf_ring_entries: u32,
}

/// `struct io_uring_sqe`, `struct io_uring_cqe`, `struct io_uring_buf`.
const SQE_BYTES: u64 = 64;
const CQE_BYTES: u64 = 16;
const BUF_SLOT_BYTES: u64 = 16;
/// The `struct io_rings` header before the CQEs (cache-line aligned).
const RINGS_HEADER_BYTES: u64 = 64;
/// Pages are assumed to be 4 KiB (x86-64, most arm64 kernels).
const PAGE: u64 = 4096;

/// Ring memory went to the memory cgroup in this kernel...
const MEMCG_SINCE: (u32, u32) = (5, 12);
/// ...and back to `RLIMIT_MEMLOCK` (io_uring regions) in this one.
const REGIONS_SINCE: (u32, u32) = (6, 14);

impl RingSizes {
    /// The sizes `runtime::uring::setup::build` asks for: `entries` SQEs
    /// (clamped to 1..=32768, rounded up to a power of two by the kernel),
    /// and a CQ of twice that or room for every provided buffer plus the
    /// SQ, whichever is more, rounded up to a power of two.
    pub fn new(entries: u32, buf_count: u16) -> Self {
        let entries = entries.clamp(1, 32768);
        let cq_entries = (entries * 2).max(entries + u32::from(buf_count)).next_power_of_two();
        Self { sq_entries: entries.next_power_of_two(), cq_entries, buf_ring_entries: u32::from(buf_count) }
    }

    /// This build's worker rings; `None` in the epoll build.
    pub fn this_build() -> Option<Self> {
        #[cfg(not(feature = "epoll"))]
        {
            let opts = crate::runtime::uring::UringOptions::default();
            Some(Self::new(opts.entries, opts.buf_count))
        }
        #[cfg(feature = "epoll")]
        {
            None
        }
    }

    /// The CQ ring: header, CQEs, then the SQ index array.
    fn rings_bytes(&self) -> u64 {
        (RINGS_HEADER_BYTES + u64::from(self.cq_entries) * CQE_BYTES).next_multiple_of(64)
            + u64::from(self.sq_entries) * 4
    }

    /// Bytes one ring counted before 5.12: the rings and the SQE array,
    /// each allocated as a power-of-two number of pages.
    pub fn legacy_locked_bytes(&self) -> u64 {
        pow2_pages(self.rings_bytes()) + pow2_pages(u64::from(self.sq_entries) * SQE_BYTES)
    }

    /// Bytes one ring counts from 6.14: three page-aligned regions, the
    /// rings, the SQE array and the provided-buffer ring's slots.
    pub fn region_locked_bytes(&self) -> u64 {
        self.rings_bytes().next_multiple_of(PAGE)
            + (u64::from(self.sq_entries) * SQE_BYTES).next_multiple_of(PAGE)
            + (u64::from(self.buf_ring_entries) * BUF_SLOT_BYTES).next_multiple_of(PAGE)
    }
}

/// `PAGE << get_order(bytes)`: what `__get_free_pages` allocated.
fn pow2_pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE).max(1).next_power_of_two() * PAGE
}

/// "6.18.44-fc" → (6, 18).
pub(super) fn kernel_version(osrelease: &str) -> Option<(u32, u32)> {
    let mut parts = osrelease.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// What this process may lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The soft `RLIMIT_MEMLOCK` in bytes, `None` for unlimited, or why it
    /// could not be read.
    pub memlock: Result<Option<u64>, String>,
    /// `CAP_IPC_LOCK` in the effective set: nothing is counted.
    pub cap_ipc_lock: bool,
}

impl Limits {
    /// This process's.
    pub fn of_this_process() -> Limits {
        Limits { memlock: memlock_limit(), cap_ipc_lock: has_cap_ipc_lock() }
    }
}

/// Judges `RLIMIT_MEMLOCK` for `workers` rings on `kernel`.
pub(super) fn judge_memlock(rings: RingSizes, workers: usize, kernel: Option<(u32, u32)>, limits: Limits) -> Row {
    let workers_u64 = workers as u64;
    let rings_text = |per_ring: u64| {
        format!("{workers} ring{} × {} KiB", if workers == 1 { "" } else { "s" }, per_ring.div_ceil(1024))
    };
    let mut row = Row {
        knob: "RLIMIT_MEMLOCK",
        current: "?".into(),
        wanted: String::new(),
        why: String::new(),
        verdict: Verdict::Ok,
        fix: None,
    };
    // What is counted, and why, by kernel.
    let version = kernel.map(|(major, minor)| format!("kernel {major}.{minor}"));
    let (per_ring, why) = match kernel {
        Some(v) if v < MEMCG_SINCE => (
            rings.legacy_locked_bytes(),
            format!(
                "{} counts io_uring rings against it (before 5.12): {} (and h2ring's io_uring needs 6.1)",
                version.unwrap_or_default(),
                rings_text(rings.legacy_locked_bytes())
            ),
        ),
        Some(v) if v < REGIONS_SINCE => {
            row.wanted = "any (5.12-6.13)".into();
            row.why = format!(
                "{} charges io_uring rings to the memory cgroup, not to this limit (5.12 to 6.13)",
                version.unwrap_or_default()
            );
            row.current = match limits.memlock {
                Ok(limit) => shown(limit),
                Err(_) => "?".into(),
            };
            return row;
        }
        Some(_) => (
            rings.region_locked_bytes(),
            format!(
                "{} counts io_uring rings against it again (6.14+, per user): {}",
                version.unwrap_or_default(),
                rings_text(rings.region_locked_bytes())
            ),
        ),
        None => {
            let per_ring = rings.legacy_locked_bytes().max(rings.region_locked_bytes());
            (per_ring, format!("before 5.12 and from 6.14 io_uring rings count against it: {}", rings_text(per_ring)))
        }
    };
    let need = per_ring.saturating_mul(workers_u64);
    row.wanted = format!("≥ {need}");
    row.why = why;
    if limits.cap_ipc_lock {
        row.current = limits.memlock.map_or("?".into(), shown);
        row.wanted = "any (CAP_IPC_LOCK)".into();
        row.why = format!("{}; not for this process: it has CAP_IPC_LOCK", row.why);
        return row;
    }
    let limit = match limits.memlock {
        Ok(limit) => limit,
        Err(reason) => {
            row.verdict = Verdict::Unknown(format!("getrlimit: {reason}"));
            return row;
        }
    };
    row.current = shown(limit);
    if limit.is_none_or(|n| n >= need) {
        return row;
    }
    if kernel.is_some() {
        row.verdict = Verdict::Low { want: need };
        row.fix = Some(Fix::Memlock { bytes: need });
    } else {
        row.verdict = Verdict::Unknown("kernel version unknown (kernel/osrelease)".into());
    }
    row
}

fn shown(limit: Option<u64>) -> String {
    limit.map_or("unlimited".into(), |n| n.to_string())
}

/// This process's soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited.
pub fn memlock_limit() -> Result<Option<u64>, String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one `rlimit` into the live local it is given
    // and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok((limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur))
}

/// `CAP_IPC_LOCK` (bit 14) in the `CapEff` line of `/proc/self/status` (the
/// real one: it is about this process, not the tree being checked); `false`
/// when unreadable.
fn has_cap_ipc_lock() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| cap_ipc_lock_in(&status))
}

/// Parses a `/proc/PID/status` text.
pub(super) fn cap_ipc_lock_in(status: &str) -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}
