//! Kernel tuning: does this machine's kernel let h2ring fill a fast, long
//! path? At start-up (`--tuning warn|strict|off`) and in `h2ring
//! check-tuning`, the settings in [`knobs`] are read from `/proc/sys` (or a
//! fake tree given as `--proc-root`, for tests), each judged against what
//! the server wants and why, and reported as a table with the fix: the kit
//! in `tuning/` (`sudo tuning/apply.sh <iface>`) or the `sysctl -w`
//! commands.
//!
//! Judging is sans-IO: [`evaluate`] takes a function that reads one file
//! under the root, the memlock limit and the ring sizes, so tests feed it
//! anything. [`check`] is the same on the real file system. A file that
//! is missing, unreadable or holds something unexpected is
//! [`Verdict::Unknown`], never a panic; unknowns are reported but fail
//! neither `--tuning strict` nor `check-tuning`.

mod knobs;
mod render;
mod rings;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use knobs::{KNOBS, Knob, Want};
pub use rings::{Limits, RingSizes, memlock_limit};

/// Where the sysctl files live.
pub const DEFAULT_PROC_ROOT: &str = "/proc/sys";
/// `--link-gbps` default: the 10 Gbps box h2ring is built for.
pub const DEFAULT_LINK_GBPS: u32 = 10;
/// `--rtt-ms` default: a reader on another continent.
pub const DEFAULT_RTT_MS: u32 = 50;
/// `--link-gbps` range.
pub const LINK_GBPS_RANGE: (u32, u32) = (1, 400);
/// `--rtt-ms` range.
pub const RTT_MS_RANGE: (u32, u32) = (1, 10_000);

/// What the kit (`tuning/99-h2ring.conf`) sets the socket buffer maxima
/// to: 64 MiB, the next power of two above the 62.5 MB of 10 Gbit/s × 50 ms.
pub const KIT_BUFFER_MAX: u64 = 64 << 20;
/// The kit's `net.ipv4.tcp_notsent_lowat`.
pub const KIT_NOTSENT_LOWAT: u64 = 16_384;
/// The kit's `net.core.somaxconn`: room above h2ring's backlog of 4096.
pub const KIT_SOMAXCONN: u64 = 65_535;
/// The kit's `net.core.netdev_max_backlog`.
pub const KIT_NETDEV_BACKLOG: u64 = 250_000;
/// The largest value a socket buffer sysctl takes (a C `int`).
const KERNEL_INT_MAX: u64 = i32::MAX as u64;

/// `--tuning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Print what is off, then start anyway (the default).
    Warn,
    /// Print what is off and exit with [`STRICT_EXIT_CODE`].
    Strict,
    /// Do not look.
    Off,
}

/// The exit status of `--tuning strict` when a setting is off.
pub const STRICT_EXIT_CODE: i32 = 2;

/// What the check is measured against, and where it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The link rate and round-trip time the socket buffers must cover.
    pub bdp: Bdp,
    /// Worker threads: one ring (and buffer ring) each.
    pub workers: usize,
    /// Normally [`DEFAULT_PROC_ROOT`].
    pub proc_root: PathBuf,
}

/// A bandwidth-delay product: how many bytes one connection must keep in
/// flight to fill `gbps` over a path of `rtt_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bdp {
    pub gbps: u32,
    pub rtt_ms: u32,
}

impl Bdp {
    /// gbps × 10⁹ / 8 bytes per second × rtt_ms / 1000 seconds.
    pub fn bytes(&self) -> u64 {
        u64::from(self.gbps) * u64::from(self.rtt_ms) * 125_000
    }

    /// What the kit and the `sysctl -w` fix set a buffer maximum to: 64 MiB,
    /// or the next power of two above the BDP when that is more (at most
    /// the kernel's `int` limit).
    pub fn buffer_fix(&self) -> u64 {
        self.bytes().next_power_of_two().clamp(KIT_BUFFER_MAX, KERNEL_INT_MAX)
    }
}

impl fmt::Display for Bdp {
    /// "10 Gbit/s × 50 ms = 62.5 MB" (decimal megabytes, exact: the product
    /// is a multiple of 125,000 bytes).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.bytes();
        let (whole, frac) = (bytes / 1_000_000, bytes % 1_000_000 / 1000);
        write!(f, "{} Gbit/s × {} ms = {whole}", self.gbps, self.rtt_ms)?;
        if frac != 0 {
            let digits = format!("{frac:03}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str(" MB")
    }
}

/// How one setting was judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// A number below what is needed.
    Low {
        want: u64,
    },
    /// Anything else that is not what is wanted.
    Wrong {
        want: String,
    },
    /// Could not be read or understood; the reason.
    Unknown(String),
}

impl Verdict {
    pub fn is_problem(&self) -> bool {
        matches!(self, Verdict::Low { .. } | Verdict::Wrong { .. })
    }
}

/// How to fix one setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// `sysctl -w name=value`.
    Sysctl { name: &'static str, value: String },
    /// `modprobe module`.
    Modprobe(&'static str),
    /// Raise `RLIMIT_MEMLOCK` to at least this many bytes.
    Memlock { bytes: u64 },
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The sysctl name (`net.core.default_qdisc`) or `RLIMIT_MEMLOCK`.
    pub knob: &'static str,
    /// As read (trimmed), or "?".
    pub current: String,
    /// What is wanted, for people: "bbr", "≥ 62500000", "max ≥ 62500000".
    pub wanted: String,
    /// Why, in one line.
    pub why: String,
    pub verdict: Verdict,
    /// Only for problems.
    pub fix: Option<Fix>,
}

/// Every setting checked, in table order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuningReport {
    pub bdp: Bdp,
    pub rows: Vec<Row>,
}

impl TuningReport {
    /// The settings that are not what h2ring wants (unknowns excluded).
    pub fn problems(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict.is_problem())
    }

    /// The settings that could not be judged.
    pub fn unknowns(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| matches!(r.verdict, Verdict::Unknown(_)))
    }

    /// The row of one knob.
    pub fn row(&self, knob: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.knob == knob)
    }

    /// No problems (unknowns do not count).
    pub fn all_ok(&self) -> bool {
        self.problems().next().is_none()
    }
}

/// Reads one file under the root: its text, or why not (one short phrase).
pub type ReadKnob<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Judges every knob from what `read` returns for its path under the root.
/// `rings`: the io_uring build's ring sizes (`None` in the epoll build, which
/// skips the io_uring rows); `limits`: what this process may lock.
pub fn evaluate(
    bdp: Bdp,
    workers: usize,
    rings: Option<RingSizes>,
    read: ReadKnob<'_>,
    limits: Limits,
) -> TuningReport {
    let mut rows: Vec<Row> =
        KNOBS.iter().filter(|k| rings.is_some() || !k.uring_only).map(|k| knobs::judge(k, bdp, read)).collect();
    if let Some(rings) = rings {
        let kernel = read("kernel/osrelease").ok().and_then(|s| rings::kernel_version(&s));
        rows.push(rings::judge_memlock(rings, workers, kernel, limits));
    }
    TuningReport { bdp, rows }
}

/// [`evaluate`] on the real file system under `params.proc_root`, with this
/// process's memlock limit and capabilities and this build's ring sizes.
pub fn check(params: &Params) -> TuningReport {
    let root = params.proc_root.as_path();
    let read = |rel: &str| read_file(root, rel);
    let rings = RingSizes::this_build();
    let limits =
        if rings.is_some() { Limits::of_this_process() } else { Limits { memlock: Ok(None), cap_ipc_lock: false } };
    evaluate(params.bdp, params.workers, rings, &read, limits)
}

/// The longest file read: sysctl values are a few bytes; a fake tree may
/// hold anything.
const READ_LIMIT: u64 = 4096;

fn read_file(root: &Path, rel: &str) -> Result<String, String> {
    let path = root.join(rel);
    let mut bytes = Vec::new();
    let result = std::fs::File::open(&path).and_then(|f| f.take(READ_LIMIT).read_to_end(&mut bytes));
    match result {
        Ok(_) => String::from_utf8(bytes).map_err(|_| "not text".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("not present".to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err("permission denied".to_string()),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// What `--tuning warn|strict` prints at start-up, every line ending in a
/// newline: the settings that are off as a table, the unknowns on one
/// line, and the fix. Empty when all is well.
pub fn startup_text(report: &TuningReport) -> String {
    render::startup(report)
}

/// The whole table and, if something is off, the fix: what `h2ring
/// check-tuning` prints.
pub fn full_text(report: &TuningReport) -> String {
    render::full(report)
}

/// `h2ring check-tuning`: prints the whole table to stdout; 0 when nothing
/// is off, 1 otherwise.
pub fn run_check_command(params: &Params) -> i32 {
    let report = check(params);
    print!("{}", full_text(&report));
    if report.all_ok() { 0 } else { 1 }
}
