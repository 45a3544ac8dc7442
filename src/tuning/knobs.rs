//! The sysctl settings h2ring wants, why, and how each value is judged.

use super::{Bdp, Fix, ReadKnob, Row, Verdict};
use crate::runtime::listen::BACKLOG;

/// One sysctl setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Knob {
    /// As `sysctl` names it.
    pub name: &'static str,
    /// The file under the proc root (`/proc/sys`).
    pub path: &'static str,
    pub want: Want,
    /// Why, in one line.
    pub why: &'static str,
    /// Only the io_uring build looks at it.
    pub uring_only: bool,
}

/// What a knob should hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Exactly this word.
    Is(&'static str),
    /// A space-separated list containing this word; if it is missing,
    /// `modprobe` the module.
    Listed { word: &'static str, module: &'static str },
    /// A number of bytes ≥ the bandwidth-delay product.
    AtLeastBdp,
    /// "min default max" whose max is ≥ the bandwidth-delay product; the fix
    /// keeps the current min and default.
    MaxAtLeastBdp,
    /// A number ≥ `min`; the fix sets `fix`.
    AtLeast { min: u64, fix: u64 },
    /// A number ≤ `max` (-1 or 4294967295 mean unlimited); the fix sets `fix`.
    AtMost { max: u64, fix: u64 },
    /// A number with this bit set; the fix adds the bit.
    Bit(u64),
    /// Exactly this number.
    Equals(u64),
    /// `kernel.io_uring_disabled`: 0 is right, 2 wrong; 1 depends on this
    /// process's groups and capabilities, so it is unknown (a refused ring
    /// says so at start-up).
    IoUringEnabled,
}

/// `net.core.netdev_max_backlog` at least: packets a CPU queues before the
/// stack takes them. 10 Gbit/s of 1500-byte packets is 833,333 packets a
/// second, so 16384 packets hold about 20 ms of a full link on one CPU: a
/// softirq delayed by a busy core or a long interrupt does not drop
/// packets (the kernel's 1000 hold 1.2 ms). The kit sets 250,000.
pub const MIN_NETDEV_BACKLOG: u64 = 16_384;

/// `net.ipv4.tcp_notsent_lowat` at most: 128 KiB unsent per connection is
/// still a few milliseconds of a 10 Gbit/s link, and far from "everything
/// the send buffer holds".
pub const MAX_NOTSENT_LOWAT: u64 = 131_072;

/// Every knob, in table order.
pub static KNOBS: &[Knob] = &[
    Knob {
        name: "net.ipv4.tcp_available_congestion_control",
        path: "net/ipv4/tcp_available_congestion_control",
        want: Want::Listed { word: "bbr", module: "tcp_bbr" },
        why: "bbr must be loaded (module tcp_bbr) before it can be chosen",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_congestion_control",
        path: "net/ipv4/tcp_congestion_control",
        want: Want::Is("bbr"),
        why: "BBR paces at the path's measured rate; cubic cuts its window by 30% on every random loss",
        uring_only: false,
    },
    Knob {
        name: "net.core.default_qdisc",
        path: "net/core/default_qdisc",
        want: Want::Is("fq"),
        why: "BBR paces through fq; without it BBR can burst into loss",
        uring_only: false,
    },
    Knob {
        name: "net.core.rmem_max",
        path: "net/core/rmem_max",
        want: Want::AtLeastBdp,
        why: "caps SO_RCVBUF a program sets (autotuning obeys tcp_rmem instead)",
        uring_only: false,
    },
    Knob {
        name: "net.core.wmem_max",
        path: "net/core/wmem_max",
        want: Want::AtLeastBdp,
        why: "caps SO_SNDBUF a program sets (autotuning obeys tcp_wmem instead)",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_rmem",
        path: "net/ipv4/tcp_rmem",
        want: Want::MaxAtLeastBdp,
        why: "receive autotuning stops at the max; a smaller window cannot fill the path",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_wmem",
        path: "net/ipv4/tcp_wmem",
        want: Want::MaxAtLeastBdp,
        why: "send autotuning stops at the max; less in flight cannot fill the link",
        uring_only: false,
    },
    Knob {
        name: "net.core.somaxconn",
        path: "net/core/somaxconn",
        want: Want::AtLeast { min: BACKLOG as u64, fix: super::KIT_SOMAXCONN },
        why: "caps h2ring's listen backlog; a burst of connects beyond it is dropped",
        uring_only: false,
    },
    Knob {
        name: "net.core.netdev_max_backlog",
        path: "net/core/netdev_max_backlog",
        want: Want::AtLeast { min: MIN_NETDEV_BACKLOG, fix: super::KIT_NETDEV_BACKLOG },
        why: "packets a CPU queues for the stack: 16384 ≈ 20 ms of 10 Gbit/s (1000: 1.2 ms)",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_fastopen",
        path: "net/ipv4/tcp_fastopen",
        want: Want::Bit(2),
        why: "server bit (2): a returning client's SYN can carry data, saving a round trip",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_notsent_lowat",
        path: "net/ipv4/tcp_notsent_lowat",
        want: Want::AtMost { max: MAX_NOTSENT_LOWAT, fix: super::KIT_NOTSENT_LOWAT },
        why: "less unsent data queued: HTTP/2 priorities and the next response aren't stuck behind megabytes",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_slow_start_after_idle",
        path: "net/ipv4/tcp_slow_start_after_idle",
        want: Want::Equals(0),
        why: "1 drops an idle keep-alive connection back to the initial window",
        uring_only: false,
    },
    Knob {
        name: "net.ipv4.tcp_mtu_probing",
        path: "net/ipv4/tcp_mtu_probing",
        want: Want::AtLeast { min: 1, fix: 1 },
        why: "paths that drop ICMP frag-needed black-hole full-size certificate packets; 1 probes smaller after that",
        uring_only: false,
    },
    Knob {
        name: "kernel.io_uring_disabled",
        path: "kernel/io_uring_disabled",
        want: Want::IoUringEnabled,
        why: "2 keeps the io_uring backend from starting (1: only kernel.io_uring_group)",
        uring_only: true,
    },
];

/// The "wanted" column.
pub(super) fn wanted_text(want: Want, bdp: Bdp) -> String {
    match want {
        Want::Is(word) => word.to_string(),
        Want::Listed { word, .. } => format!("lists {word}"),
        Want::AtLeastBdp => format!("≥ {}", bdp.bytes()),
        Want::MaxAtLeastBdp => format!("max ≥ {}", bdp.bytes()),
        Want::AtLeast { min, .. } => format!("≥ {min}"),
        Want::AtMost { max, .. } => format!("≤ {max}"),
        Want::Bit(bit) => format!("has bit {bit}"),
        Want::Equals(n) => n.to_string(),
        Want::IoUringEnabled => "0".into(),
    }
}

/// Reads and judges one knob.
pub(super) fn judge(knob: &Knob, bdp: Bdp, read: ReadKnob<'_>) -> Row {
    let wanted = wanted_text(knob.want, bdp);
    let row = |current: String, verdict: Verdict, fix: Option<String>| {
        let fix = if verdict.is_problem() {
            match (knob.want, fix) {
                (Want::Listed { module, .. }, _) => Some(Fix::Modprobe(module)),
                (_, Some(value)) => Some(Fix::Sysctl { name: knob.name, value }),
                (_, None) => None,
            }
        } else {
            None
        };
        Row { knob: knob.name, current, wanted: wanted.clone(), why: knob.why.to_string(), verdict, fix }
    };
    let text = match read(knob.path) {
        Ok(text) => text,
        Err(reason) => return row("?".into(), Verdict::Unknown(reason), None),
    };
    match judge_value(knob.want, bdp, &text) {
        Ok((current, verdict, fix)) => row(current, verdict, fix),
        Err(reason) => row("?".into(), Verdict::Unknown(reason), None),
    }
}

type Judged = (String, Verdict, Option<String>);

/// Judges a file's text: (the value as shown, the verdict, the value the
/// fix sets), or why it cannot be judged.
pub(super) fn judge_value(want: Want, bdp: Bdp, text: &str) -> Result<Judged, String> {
    let value = text.trim();
    if value.is_empty() {
        return Err("empty".into());
    }
    let words: Vec<&str> = value.split_ascii_whitespace().collect();
    if !words.iter().all(|w| is_word(w)) {
        return Err(unexpected(value));
    }
    let shown = words.join(" ");
    let need = bdp.bytes();
    Ok(match want {
        Want::Is(word) => {
            let [current] = words[..] else { return Err(unexpected(value)) };
            let verdict = if current == word { Verdict::Ok } else { Verdict::Wrong { want: word.into() } };
            (shown, verdict, Some(word.into()))
        }
        Want::Listed { word, .. } => {
            let verdict =
                if words.contains(&word) { Verdict::Ok } else { Verdict::Wrong { want: format!("lists {word}") } };
            (shown, verdict, None)
        }
        Want::AtLeastBdp => {
            let n = one_number(&words, value)?;
            (shown, at_least(n, need), Some(bdp.buffer_fix().to_string()))
        }
        Want::MaxAtLeastBdp => {
            let [min, default, max] = triple(value)?;
            let fix = format!("{min} {default} {}", bdp.buffer_fix());
            (shown, at_least(max, need), Some(fix))
        }
        Want::AtLeast { min, fix } => {
            let n = one_number(&words, value)?;
            (shown, at_least(n, min), Some(fix.to_string()))
        }
        Want::AtMost { max, fix } => {
            let [word] = words[..] else { return Err(unexpected(value)) };
            // An unsigned int in the kernel: -1 reads back as 4294967295.
            let n = if word == "-1" { u64::MAX } else { word.parse::<u64>().map_err(|_| unexpected(value))? };
            let shown = if n >= u64::from(u32::MAX) { format!("{shown} (unlimited)") } else { shown };
            let verdict = if n <= max { Verdict::Ok } else { Verdict::Wrong { want: format!("≤ {max}") } };
            (shown, verdict, Some(fix.to_string()))
        }
        Want::Bit(bit) => {
            let n = one_number(&words, value)?;
            let verdict = if n & bit != 0 { Verdict::Ok } else { Verdict::Wrong { want: format!("has bit {bit}") } };
            (shown, verdict, Some((n | bit).to_string()))
        }
        Want::Equals(want) => {
            let n = one_number(&words, value)?;
            let verdict = if n == want { Verdict::Ok } else { Verdict::Wrong { want: want.to_string() } };
            (shown, verdict, Some(want.to_string()))
        }
        Want::IoUringEnabled => match one_number(&words, value)? {
            0 => (shown, Verdict::Ok, None),
            1 => return Err("1: io_uring only for CAP_SYS_ADMIN and kernel.io_uring_group".into()),
            _ => (shown, Verdict::Wrong { want: "0".into() }, Some("0".into())),
        },
    })
}

fn at_least(n: u64, min: u64) -> Verdict {
    if n >= min { Verdict::Ok } else { Verdict::Low { want: min } }
}

/// A plausible sysctl word: a number or a name of at most 32 characters
/// (congestion control and qdisc names have at most 15). Anything else
/// (control characters, punctuation, binary) is garbage, reported but never
/// shown raw.
fn is_word(w: &str) -> bool {
    w.len() <= 32 && w.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn one_number(words: &[&str], value: &str) -> Result<u64, String> {
    match words {
        [word] => word.parse::<u64>().map_err(|_| unexpected(value)),
        _ => Err(unexpected(value)),
    }
}

/// `tcp_rmem`/`tcp_wmem`: three numbers, "min default max".
pub(super) fn triple(value: &str) -> Result<[u64; 3], String> {
    let numbers: Vec<u64> = value
        .split_ascii_whitespace()
        .map(str::parse::<u64>)
        .collect::<Result<_, _>>()
        .map_err(|_| unexpected(value))?;
    match numbers[..] {
        [min, default, max] => Ok([min, default, max]),
        _ => Err(format!("expected \"min default max\", got {}", quoted(value))),
    }
}

fn unexpected(value: &str) -> String {
    format!("unexpected value {}", quoted(value))
}

/// At most 24 characters, escaped, in quotes: safe to print to a terminal.
fn quoted(value: &str) -> String {
    let mut short: String = value.chars().take(24).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}
