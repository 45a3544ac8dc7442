//! The tuning check on fake `/proc/sys` trees: good, bad, missing, garbage.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::knobs::{judge_value, triple};
use super::rings::{cap_ipc_lock_in, judge_memlock, kernel_version};
use super::*;

/// A fake proc root in a scratch directory, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(files: &[(&str, &[u8])]) -> Tree {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "h2ring-tuning-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (path, contents) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, contents).unwrap();
        }
        Tree(dir)
    }

    fn params(&self) -> Params {
        Params { bdp: TEN_GBPS_50_MS, workers: 4, proc_root: self.0.clone() }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TEN_GBPS_50_MS: Bdp = Bdp { gbps: 10, rtt_ms: 50 };

/// What the kit sets, as the kernel prints it (tabs in the triples).
const GOOD: &[(&str, &[u8])] = &[
    ("net/ipv4/tcp_available_congestion_control", b"reno cubic bbr\n"),
    ("net/ipv4/tcp_congestion_control", b"bbr\n"),
    ("net/core/default_qdisc", b"fq\n"),
    ("net/core/rmem_max", b"67108864\n"),
    ("net/core/wmem_max", b"67108864\n"),
    ("net/ipv4/tcp_rmem", b"4096\t131072\t67108864\n"),
    ("net/ipv4/tcp_wmem", b"4096\t16384\t67108864\n"),
    ("net/core/somaxconn", b"65535\n"),
    ("net/core/netdev_max_backlog", b"250000\n"),
    ("net/ipv4/tcp_fastopen", b"3\n"),
    ("net/ipv4/tcp_notsent_lowat", b"16384\n"),
    ("net/ipv4/tcp_slow_start_after_idle", b"0\n"),
    ("net/ipv4/tcp_mtu_probing", b"1\n"),
    ("kernel/io_uring_disabled", b"0\n"),
    ("kernel/osrelease", b"6.8.0-49-generic\n"),
];

/// A stock distribution kernel without BBR, and worse.
const BAD: &[(&str, &[u8])] = &[
    ("net/ipv4/tcp_available_congestion_control", b"reno cubic\n"),
    ("net/ipv4/tcp_congestion_control", b"cubic\n"),
    ("net/core/default_qdisc", b"pfifo_fast\n"),
    ("net/core/rmem_max", b"212992\n"),
    ("net/core/wmem_max", b"212992\n"),
    ("net/ipv4/tcp_rmem", b"4096\t131072\t6291456\n"),
    ("net/ipv4/tcp_wmem", b"4096\t16384\t4194304\n"),
    ("net/core/somaxconn", b"128\n"),
    ("net/core/netdev_max_backlog", b"1000\n"),
    ("net/ipv4/tcp_fastopen", b"1\n"),
    ("net/ipv4/tcp_notsent_lowat", b"4294967295\n"),
    ("net/ipv4/tcp_slow_start_after_idle", b"1\n"),
    ("net/ipv4/tcp_mtu_probing", b"0\n"),
    ("kernel/io_uring_disabled", b"2\n"),
    ("kernel/osrelease", b"6.8.0-49-generic\n"),
];

/// Every knob of the bad tree, as it must be judged.
const BAD_KNOBS: &[&str] = &[
    "net.ipv4.tcp_available_congestion_control",
    "net.ipv4.tcp_congestion_control",
    "net.core.default_qdisc",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_fastopen",
    "net.ipv4.tcp_notsent_lowat",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_mtu_probing",
    "kernel.io_uring_disabled",
];

const RINGS: RingSizes = RingSizes { sq_entries: 1024, cq_entries: 2048, buf_ring_entries: 1024 };

/// [`evaluate`] on an in-memory tree.
fn eval_map(files: &[(&str, &[u8])], rings: Option<RingSizes>, memlock: Option<u64>) -> TuningReport {
    let map: HashMap<&str, &[u8]> = files.iter().copied().collect();
    let read = |path: &str| match map.get(path) {
        Some(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| "not text".to_string()),
        None => Err("not present".to_string()),
    };
    evaluate(TEN_GBPS_50_MS, 4, rings, &read, limits(memlock))
}

/// A memlock limit, without CAP_IPC_LOCK.
fn limits(memlock: Option<u64>) -> Limits {
    Limits { memlock: Ok(memlock), cap_ipc_lock: false }
}

fn with(
    base: &[(&'static str, &'static [u8])],
    path: &'static str,
    value: &'static [u8],
) -> Vec<(&'static str, &'static [u8])> {
    base.iter().map(|&(p, v)| if p == path { (p, value) } else { (p, v) }).collect()
}

#[test]
fn good_tree_has_no_problems() {
    let tree = Tree::new(GOOD);
    let report = check(&tree.params());
    let expected = if cfg!(feature = "epoll") { KNOBS.len() - 1 } else { KNOBS.len() + 1 };
    assert_eq!(report.rows.len(), expected);
    for row in &report.rows {
        assert_eq!(row.verdict, Verdict::Ok, "{row:?}");
        assert_eq!(row.fix, None);
    }
    assert!(report.all_ok());
    assert_eq!(report.problems().count(), 0);
    assert_eq!(startup_text(&report), "", "nothing to say at start-up");
    let full = full_text(&report);
    for row in &report.rows {
        assert!(full.contains(row.knob), "{} missing from\n{full}", row.knob);
    }
    assert!(full.contains("10 Gbit/s × 50 ms = 62.5 MB"), "{full}");
    assert!(full.contains("all is well") && !full.contains("fix:"), "{full}");
    assert_eq!(report.row("net.ipv4.tcp_rmem").unwrap().current, "4096 131072 67108864");
}

#[test]
fn bad_tree_names_each_knob() {
    let tree = Tree::new(BAD);
    let report = check(&tree.params());
    let bad: Vec<&str> = report.problems().map(|r| r.knob).collect();
    let expected: Vec<&str> =
        BAD_KNOBS.iter().copied().filter(|k| !(cfg!(feature = "epoll") && k.starts_with("kernel."))).collect();
    assert_eq!(bad, expected);
    assert!(!report.all_ok());
    assert_eq!(report.unknowns().count(), 0);
    let verdict = |knob: &str| report.row(knob).unwrap().verdict.clone();
    assert_eq!(verdict("net.ipv4.tcp_congestion_control"), Verdict::Wrong { want: "bbr".into() });
    assert_eq!(verdict("net.core.default_qdisc"), Verdict::Wrong { want: "fq".into() });
    assert_eq!(verdict("net.core.rmem_max"), Verdict::Low { want: 62_500_000 });
    assert_eq!(verdict("net.ipv4.tcp_wmem"), Verdict::Low { want: 62_500_000 });
    assert_eq!(verdict("net.core.somaxconn"), Verdict::Low { want: 4096 });
    assert_eq!(verdict("net.core.netdev_max_backlog"), Verdict::Low { want: 16_384 });
    assert_eq!(verdict("net.ipv4.tcp_notsent_lowat"), Verdict::Wrong { want: "≤ 131072".into() });
    assert_eq!(report.row("net.ipv4.tcp_notsent_lowat").unwrap().current, "4294967295 (unlimited)");

    let text = startup_text(&report);
    for knob in &expected {
        assert!(text.contains(knob), "{knob} missing from\n{text}");
    }
    assert!(text.lines().all(|l| l.starts_with("h2ring: ")), "{text}");
    let fix = text.lines().last().unwrap();
    assert!(fix.starts_with("h2ring: fix: sudo tuning/apply.sh <iface>"), "{fix}");
    for command in [
        "sudo modprobe tcp_bbr",
        "sudo sysctl -w ",
        "net.ipv4.tcp_congestion_control=bbr",
        "net.core.default_qdisc=fq",
        "net.core.rmem_max=67108864",
        "net.ipv4.tcp_rmem=\"4096 131072 67108864\"",
        "net.ipv4.tcp_wmem=\"4096 16384 67108864\"",
        "net.core.somaxconn=65535",
        "net.core.netdev_max_backlog=250000",
        "net.ipv4.tcp_fastopen=3",
        "net.ipv4.tcp_notsent_lowat=16384",
        "net.ipv4.tcp_slow_start_after_idle=0",
        "net.ipv4.tcp_mtu_probing=1",
    ] {
        assert!(fix.contains(command), "{command} missing from {fix}");
    }
    assert_eq!(fix.contains("kernel.io_uring_disabled=0"), !cfg!(feature = "epoll"), "{fix}");
}

#[test]
fn only_what_is_off_is_printed_at_start_up() {
    let files = with(GOOD, "net/core/default_qdisc", b"fq_codel\n");
    let report = eval_map(&files, Some(RINGS), None);
    let text = startup_text(&report);
    assert!(text.contains("1 of 15 settings are off for 10 Gbit/s × 50 ms = 62.5 MB"), "{text}");
    assert!(text.contains("net.core.default_qdisc") && text.contains("fq_codel"), "{text}");
    assert!(!text.contains("net.ipv4.tcp_congestion_control"), "{text}");
    assert!(!text.contains("unknown"), "{text}");
    assert_eq!(text.lines().count(), 4, "heading, column names, one row, fix:\n{text}");
    assert!(text.contains("sudo sysctl -w net.core.default_qdisc=fq;"), "{text}");
    assert!(!text.contains("modprobe"), "{text}");
}

#[test]
fn missing_files_are_unknown() {
    let empty = Tree::new(&[]);
    for root in [empty.0.clone(), empty.0.join("does/not/exist")] {
        let params = Params { proc_root: root, ..empty.params() };
        let report = check(&params);
        for row in report.rows.iter().filter(|r| r.knob != "RLIMIT_MEMLOCK") {
            assert_eq!(row.verdict, Verdict::Unknown("not present".into()), "{row:?}");
            assert_eq!(row.current, "?");
        }
        assert!(report.all_ok(), "unknowns are not problems");
        assert_eq!(fix_of(&report), None);
        let text = startup_text(&report);
        assert_eq!(text.lines().count(), 1, "one line of unknowns:\n{text}");
        assert!(text.starts_with("h2ring: kernel tuning unknown (not counted): net.ipv4."), "{text}");
    }
    // Without kernel/osrelease a low memlock limit cannot be judged.
    let report = eval_map(&[], Some(RINGS), Some(0));
    assert!(matches!(report.row("RLIMIT_MEMLOCK").unwrap().verdict, Verdict::Unknown(_)));
    // A missing io_uring_disabled (before Linux 6.6) alone.
    let files: Vec<_> = GOOD.iter().copied().filter(|(p, _)| *p != "kernel/io_uring_disabled").collect();
    let report = eval_map(&files, Some(RINGS), None);
    assert_eq!(report.unknowns().map(|r| r.knob).collect::<Vec<_>>(), ["kernel.io_uring_disabled"]);
    assert!(report.all_ok());
}

fn fix_of(report: &TuningReport) -> Option<String> {
    super::render::fix_line(report)
}

#[test]
fn garbage_is_unknown() {
    let long = "9".repeat(5000);
    let nonsense: &[&[u8]] =
        &[b"", b"\n\n", b"bbr!\n", b"\x1b[31mred\x1b[0m", b"\xff\xfe\x00binary", long.as_bytes(), b"\0"];
    // Plausible as names, not as numbers.
    let not_numbers: &[&[u8]] = &[b"12abc", b"-5", b"1 2", b"99999999999999999999999999", b"0x10"];
    let names =
        ["net.ipv4.tcp_available_congestion_control", "net.ipv4.tcp_congestion_control", "net.core.default_qdisc"];
    for (junk, numeric_only) in nonsense.iter().map(|j| (j, false)).chain(not_numbers.iter().map(|j| (j, true))) {
        let files: Vec<(&str, &[u8])> = GOOD.iter().map(|&(p, _)| (p, *junk)).collect();
        let tree = Tree::new(&files);
        let report = check(&tree.params());
        let judged = report.rows.iter().filter(|r| r.knob != "RLIMIT_MEMLOCK");
        for row in judged.filter(|r| !(numeric_only && names.contains(&r.knob))) {
            assert!(
                matches!(row.verdict, Verdict::Unknown(_)),
                "{:?} in {}: {row:?}",
                String::from_utf8_lossy(junk),
                row.knob
            );
            if let Verdict::Unknown(reason) = &row.verdict {
                assert!(reason.chars().count() < 60, "{reason}");
                assert!(!reason.contains('\x1b') && !reason.contains('\0'), "{reason:?}");
            }
        }
        let _ = startup_text(&report);
        let _ = full_text(&report);
    }
    // A directory where a file should be.
    let tree = Tree::new(&[("net/core/default_qdisc/inner", b"fq")]);
    let report = check(&tree.params());
    assert!(matches!(report.row("net.core.default_qdisc").unwrap().verdict, Verdict::Unknown(_)));
}

#[test]
fn bandwidth_delay_product() {
    assert_eq!(TEN_GBPS_50_MS.bytes(), 62_500_000);
    assert_eq!(TEN_GBPS_50_MS.to_string(), "10 Gbit/s × 50 ms = 62.5 MB");
    assert_eq!(TEN_GBPS_50_MS.buffer_fix(), 67_108_864, "the kit's 64 MiB");
    let one = Bdp { gbps: 1, rtt_ms: 10 };
    assert_eq!(one.bytes(), 1_250_000);
    assert_eq!(one.to_string(), "1 Gbit/s × 10 ms = 1.25 MB");
    assert_eq!(one.buffer_fix(), 67_108_864, "never below the kit's value");
    assert_eq!(Bdp { gbps: 1, rtt_ms: 1 }.to_string(), "1 Gbit/s × 1 ms = 0.125 MB");
    assert_eq!(Bdp { gbps: 100, rtt_ms: 100 }.buffer_fix(), 2_147_483_647, "1.25 GB rounds up past the int limit");
    let max = Bdp { gbps: LINK_GBPS_RANGE.1, rtt_ms: RTT_MS_RANGE.1 };
    assert_eq!(max.bytes(), 500_000_000_000);
    assert_eq!(max.to_string(), "400 Gbit/s × 10000 ms = 500000 MB");
    // 1 Gbit/s over 10 ms: the kernel's usual 4 MiB wmem max is enough.
    let files = with(GOOD, "net/ipv4/tcp_wmem", b"4096\t16384\t4194304\n");
    let map: HashMap<&str, &[u8]> = files.iter().copied().collect();
    let read = |p: &str| map.get(p).map(|b| String::from_utf8_lossy(b).into_owned()).ok_or_else(|| "x".to_string());
    let report = evaluate(one, 1, None, &read, limits(None));
    let row = report.row("net.ipv4.tcp_wmem").unwrap();
    assert_eq!((row.verdict.clone(), row.wanted.as_str()), (Verdict::Ok, "max ≥ 1250000"));
    let report = evaluate(TEN_GBPS_50_MS, 1, None, &read, limits(None));
    assert_eq!(report.row("net.ipv4.tcp_wmem").unwrap().verdict, Verdict::Low { want: 62_500_000 });
}

#[test]
fn rmem_triples() {
    assert_eq!(triple("4096\t131072\t6291456"), Ok([4096, 131_072, 6_291_456]));
    assert_eq!(triple(" 4096  16384 4194304 "), Ok([4096, 16_384, 4_194_304]));
    for bad in ["4096 131072", "4096 131072 6291456 1", "a b c", "", "4096 -1 6291456"] {
        assert!(triple(bad).is_err(), "{bad:?}");
    }
    let judge = |text: &str| judge_value(Want::MaxAtLeastBdp, TEN_GBPS_50_MS, text);
    let (shown, verdict, fix) = judge("4096\t131072\t67108864\n").unwrap();
    assert_eq!(
        (shown.as_str(), verdict, fix),
        ("4096 131072 67108864", Verdict::Ok, Some("4096 131072 67108864".into()))
    );
    // The max is judged, not the min or the default; the fix keeps those.
    let (_, verdict, fix) = judge("67108864 67108864 4194304").unwrap();
    assert_eq!(verdict, Verdict::Low { want: 62_500_000 });
    assert_eq!(fix.as_deref(), Some("67108864 67108864 67108864"));
    assert!(judge("4096 131072").is_err());
}

#[test]
fn single_values() {
    let judge = |want: Want, text: &str| judge_value(want, TEN_GBPS_50_MS, text).map(|(_, v, fix)| (v, fix));
    let lowat = Want::AtMost { max: 131_072, fix: KIT_NOTSENT_LOWAT };
    let wrong = Verdict::Wrong { want: "≤ 131072".into() };
    assert_eq!(judge(lowat, "-1"), Ok((wrong.clone(), Some("16384".into()))));
    assert_eq!(judge(lowat, "4294967295").unwrap().0, wrong);
    assert_eq!(judge(lowat, "131073").unwrap().0, wrong);
    assert_eq!(judge(lowat, "131072").unwrap().0, Verdict::Ok);
    assert_eq!(judge(lowat, "16384").unwrap().0, Verdict::Ok);

    let wrong_bit = Verdict::Wrong { want: "has bit 2".into() };
    assert_eq!(judge(Want::Bit(2), "1"), Ok((wrong_bit.clone(), Some("3".into()))));
    assert_eq!(judge(Want::Bit(2), "0"), Ok((wrong_bit, Some("2".into()))));
    for ok in ["2", "3", "1027"] {
        assert_eq!(judge(Want::Bit(2), ok).unwrap().0, Verdict::Ok, "{ok}");
    }

    let cc = Want::Is("bbr");
    assert_eq!(judge(cc, "bbr\n").unwrap().0, Verdict::Ok);
    assert_eq!(judge(cc, "bbr2").unwrap().0, Verdict::Wrong { want: "bbr".into() });
    assert!(judge(cc, "bbr cubic").is_err(), "one word expected");
    let listed = Want::Listed { word: "bbr", module: "tcp_bbr" };
    assert_eq!(judge(listed, "reno\tbbr").unwrap().0, Verdict::Ok);
    assert_eq!(judge(listed, "reno cubic bbr2").unwrap().0, Verdict::Wrong { want: "lists bbr".into() });

    assert_eq!(judge(Want::IoUringEnabled, "0").unwrap().0, Verdict::Ok);
    assert_eq!(judge(Want::IoUringEnabled, "2").unwrap().0, Verdict::Wrong { want: "0".into() });
    let one = judge(Want::IoUringEnabled, "1").unwrap_err();
    assert!(one.contains("io_uring_group"), "1 depends on the process: {one}");
}

#[test]
fn memlock_against_the_rings() {
    assert_eq!(RingSizes::new(1024, 1024), RINGS);
    assert_eq!(RingSizes::new(100_000, 1024).sq_entries, 32_768, "clamped like the runtime");
    assert_eq!(RingSizes::new(1000, 1000), RingSizes { sq_entries: 1024, cq_entries: 2048, buf_ring_entries: 1000 });
    // The CQ ring: 64 + 2048 × 16 bytes, + 1024 × 4 SQ indexes = 36,928
    // bytes; the SQEs: 1024 × 64 = 65,536; the buffer ring: 1024 × 16.
    // Before 5.12: 16 pages (a power of two) + 16 pages.
    assert_eq!(RINGS.legacy_locked_bytes(), 65_536 + 65_536);
    // From 6.14: 10 pages + 16 pages + 4 pages.
    assert_eq!(RINGS.region_locked_bytes(), 40_960 + 65_536 + 16_384);
    if !cfg!(feature = "epoll") {
        assert_eq!(RingSizes::this_build(), Some(RINGS), "the runtime's sizes changed: update RingSizes::new");
    } else {
        assert_eq!(RingSizes::this_build(), None);
    }

    // 5.10: 4 rings × 128 KiB against 64 KiB.
    let old = Some((5, 10));
    let need = 4 * 131_072;
    let row = judge_memlock(RINGS, 4, old, limits(Some(65_536)));
    assert_eq!(row.verdict, Verdict::Low { want: need });
    assert_eq!(row.fix, Some(Fix::Memlock { bytes: need }));
    assert!(row.why.contains("4 rings × 128 KiB"), "{}", row.why);
    assert_eq!(judge_memlock(RINGS, 4, old, limits(Some(need))).verdict, Verdict::Ok);
    assert_eq!(judge_memlock(RINGS, 4, old, limits(None)).verdict, Verdict::Ok);
    assert_eq!(judge_memlock(RINGS, 4, old, limits(None)).current, "unlimited");

    // 5.12 to 6.13: the memory cgroup pays, any limit does.
    for v in [(5, 12), (6, 1), (6, 13)] {
        let row = judge_memlock(RINGS, 64, Some(v), limits(Some(0)));
        assert_eq!(row.verdict, Verdict::Ok, "{v:?}");
        assert!(row.why.contains("memory cgroup"), "{}", row.why);
    }

    // 6.14 and later: regions count again. 64 workers × 120 KiB fit the
    // usual 8 MiB; 72 do not.
    let eight_mib = Some(8 << 20);
    assert_eq!(judge_memlock(RINGS, 64, Some((6, 14)), limits(eight_mib)).verdict, Verdict::Ok);
    let row = judge_memlock(RINGS, 72, Some((6, 18)), limits(eight_mib));
    assert_eq!(row.verdict, Verdict::Low { want: 72 * 122_880 });
    assert!(row.why.contains("6.14+") && row.why.contains("72 rings × 120 KiB"), "{}", row.why);
    // CAP_IPC_LOCK (root) is not counted.
    let root = Limits { memlock: Ok(Some(0)), cap_ipc_lock: true };
    let row = judge_memlock(RINGS, 72, Some((6, 18)), root);
    assert_eq!((row.verdict, row.wanted.as_str()), (Verdict::Ok, "any (CAP_IPC_LOCK)"));

    // Unknown kernel: the larger count; low is unknown, not wrong.
    assert!(matches!(judge_memlock(RINGS, 4, None, limits(Some(0))).verdict, Verdict::Unknown(_)));
    assert_eq!(judge_memlock(RINGS, 4, None, limits(Some(4 * 147_456))).verdict, Verdict::Ok, "max(128, 144) KiB");
    let failed = Limits { memlock: Err("EPERM".into()), cap_ipc_lock: false };
    assert!(matches!(judge_memlock(RINGS, 4, old, failed).verdict, Verdict::Unknown(_)));

    // Through the report: a 5.10 tree with a 64 KiB limit.
    let files = with(GOOD, "kernel/osrelease", b"5.10.0-28-amd64\n");
    let report = eval_map(&files, Some(RINGS), Some(65_536));
    assert_eq!(report.problems().map(|r| r.knob).collect::<Vec<_>>(), ["RLIMIT_MEMLOCK"]);
    let fix = fix_of(&report).unwrap();
    assert!(fix.starts_with("ulimit -l 512 (KiB)") && !fix.contains("apply.sh"), "{fix}");

    assert_eq!(memlock_limit().map(|_| ()), Ok(()));
    let status = "Name:\th2ring\nCapPrm:\t0000000000000000\nCapEff:\t0000000000004000\n";
    assert!(cap_ipc_lock_in(status));
    assert!(!cap_ipc_lock_in("CapEff:\t0000000000000400\n"), "CAP_NET_BIND_SERVICE only");
    assert!(cap_ipc_lock_in("CapEff:\t000001ffffffffff\n"), "root");
    assert!(!cap_ipc_lock_in("CapEff: garbage\n") && !cap_ipc_lock_in(""));
}

#[test]
fn kernel_versions() {
    assert_eq!(kernel_version("6.18.44-fc-v669\n"), Some((6, 18)));
    assert_eq!(kernel_version("5.4"), Some((5, 4)));
    assert_eq!(kernel_version("5.12-rc1"), Some((5, 12)));
    for bad in ["", "6", "six.one", "6.x.1", "\u{0}"] {
        assert_eq!(kernel_version(bad), None, "{bad:?}");
    }
}

#[test]
fn epoll_build_skips_io_uring() {
    let report = eval_map(BAD, None, Some(0));
    assert!(report.row("kernel.io_uring_disabled").is_none());
    assert!(report.row("RLIMIT_MEMLOCK").is_none());
    assert_eq!(report.rows.len(), KNOBS.len() - 1);
    let report = eval_map(BAD, Some(RINGS), Some(0));
    assert!(report.row("kernel.io_uring_disabled").unwrap().verdict.is_problem());
    assert_eq!(report.row("RLIMIT_MEMLOCK").unwrap().verdict, Verdict::Ok, "6.8 kernel: the memory cgroup pays");
}

/// `tuning/99-h2ring.conf` (the kit) must satisfy every knob it sets.
#[test]
fn the_kits_drop_in_passes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/99-h2ring.conf");
    let Ok(conf) = std::fs::read_to_string(path) else {
        assert!(std::env::var_os("CI").is_none(), "{path} is missing");
        eprintln!("SKIPPED: {path} is missing");
        return;
    };
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for line in conf.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';')) {
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("not key = value: {line:?}"));
        let key = key.trim().trim_start_matches('-');
        files.insert(key.replace('.', "/"), value.trim().as_bytes().to_vec());
    }
    files.insert("kernel/osrelease".into(), b"6.8.0".to_vec());
    let read = |p: &str| match files.get(p) {
        Some(v) => Ok(String::from_utf8_lossy(v).into_owned()),
        None => Err("not in the kit".to_string()),
    };
    let report = evaluate(TEN_GBPS_50_MS, 4, Some(RINGS), &read, limits(Some(0)));
    // bbr is listed once tcp_bbr is loaded, which apply.sh does.
    for row in report.rows.iter().filter(|r| r.knob != "net.ipv4.tcp_available_congestion_control") {
        assert_eq!(row.verdict, Verdict::Ok, "{path} leaves {} off: {row:?}", row.knob);
    }
}
