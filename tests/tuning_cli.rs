//! The kernel tuning check through the real binary, on fake `/proc/sys`
//! trees: `h2ring check-tuning`, and `--tuning warn|strict|off` at start-up.

mod server;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use server::{BIN, Server, TempDir};

/// The values of `tuning/99-h2ring.conf`, as the kernel prints them.
const GOOD: &[(&str, &str)] = &[
    ("net/ipv4/tcp_available_congestion_control", "reno cubic bbr\n"),
    ("net/ipv4/tcp_congestion_control", "bbr\n"),
    ("net/core/default_qdisc", "fq\n"),
    ("net/core/rmem_max", "67108864\n"),
    ("net/core/wmem_max", "67108864\n"),
    ("net/ipv4/tcp_rmem", "4096\t131072\t67108864\n"),
    ("net/ipv4/tcp_wmem", "4096\t16384\t67108864\n"),
    ("net/core/somaxconn", "65535\n"),
    ("net/core/netdev_max_backlog", "250000\n"),
    ("net/ipv4/tcp_fastopen", "3\n"),
    ("net/ipv4/tcp_notsent_lowat", "16384\n"),
    ("net/ipv4/tcp_slow_start_after_idle", "0\n"),
    ("net/ipv4/tcp_mtu_probing", "1\n"),
    ("kernel/io_uring_disabled", "0\n"),
    ("kernel/osrelease", "6.8.0-49-generic\n"),
];

/// Every value off.
const BAD: &[(&str, &str)] = &[
    ("net/ipv4/tcp_available_congestion_control", "reno cubic\n"),
    ("net/ipv4/tcp_congestion_control", "cubic\n"),
    ("net/core/default_qdisc", "pfifo_fast\n"),
    ("net/core/rmem_max", "212992\n"),
    ("net/core/wmem_max", "212992\n"),
    ("net/ipv4/tcp_rmem", "4096\t131072\t6291456\n"),
    ("net/ipv4/tcp_wmem", "4096\t16384\t4194304\n"),
    ("net/core/somaxconn", "128\n"),
    ("net/core/netdev_max_backlog", "1000\n"),
    ("net/ipv4/tcp_fastopen", "1\n"),
    ("net/ipv4/tcp_notsent_lowat", "4294967295\n"),
    ("net/ipv4/tcp_slow_start_after_idle", "1\n"),
    ("net/ipv4/tcp_mtu_probing", "0\n"),
    ("kernel/io_uring_disabled", "2\n"),
    ("kernel/osrelease", "6.8.0-49-generic\n"),
];

fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("proc-sys");
    for (path, value) in files {
        let path = dir.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value).unwrap();
    }
    dir
}

/// The sysctl name of a path in the tree.
fn knob(path: &str) -> String {
    path.replace('/', ".")
}

/// Every knob the check judges in this build.
fn knobs() -> Vec<String> {
    let mut all: Vec<String> = GOOD.iter().map(|(p, _)| knob(p)).filter(|k| k != "kernel.osrelease").collect();
    if cfg!(feature = "epoll") {
        all.retain(|k| k != "kernel.io_uring_disabled");
    } else {
        all.push("RLIMIT_MEMLOCK".into());
    }
    all
}

/// The knobs of [`BAD`] the check must name in this build.
fn bad_knobs() -> Vec<String> {
    knobs().into_iter().filter(|k| k != "RLIMIT_MEMLOCK").collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run h2ring")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The table line of `knob` (a row starts with the knob's name, after
/// the "h2ring: " prefix at start-up).
fn row<'a>(out: &'a str, knob: &str) -> Option<&'a str> {
    out.lines().find(|l| l.trim_start_matches("h2ring: ").trim_start().starts_with(&format!("{knob} ")))
}

#[test]
fn check_tuning_on_a_good_tree() {
    let good = tree(GOOD);
    let out = run(&["check-tuning", "--proc-root", good.0.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.starts_with("kernel tuning for 10 Gbit/s × 50 ms = 62.5 MB"), "{stdout}");
    for knob in knobs() {
        let line = row(&stdout, &knob).unwrap_or_else(|| panic!("{knob} missing from\n{stdout}"));
        assert!(line.contains(" ok "), "{line}");
    }
    assert!(stdout.contains("all is well") && !stdout.contains("fix:"), "{stdout}");
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn check_tuning_on_a_bad_tree() {
    let bad = tree(BAD);
    let out = run(&["check-tuning", "--proc-root", bad.0.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for knob in bad_knobs() {
        let line = row(&stdout, &knob).unwrap_or_else(|| panic!("{knob} missing from\n{stdout}"));
        assert!(line.contains(" LOW ") || line.contains(" WRONG "), "{line}");
    }
    let fix = stdout.lines().find(|l| l.starts_with("fix: ")).expect("a fix line");
    for part in ["sudo tuning/apply.sh <iface>", "sudo modprobe tcp_bbr", "net.ipv4.tcp_congestion_control=bbr"] {
        assert!(fix.contains(part), "{part} missing from {fix}");
    }
}

#[test]
fn check_tuning_measures_against_link_and_rtt() {
    // The kernel's usual 4 MiB buffer maxima hold 1 Gbit/s × 10 ms.
    let files: Vec<(&str, &str)> = GOOD
        .iter()
        .map(|&(p, v)| match p {
            "net/core/rmem_max" | "net/core/wmem_max" => (p, "4194304\n"),
            "net/ipv4/tcp_wmem" => (p, "4096 16384 4194304\n"),
            "net/ipv4/tcp_rmem" => (p, "4096 131072 6291456\n"),
            _ => (p, v),
        })
        .collect();
    let small = tree(&files);
    let root = small.0.to_str().unwrap();
    let out = run(&["check-tuning", "--proc-root", root, "--link-gbps", "1", "--rtt-ms", "10"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("kernel tuning for 1 Gbit/s × 10 ms = 1.25 MB"), "{stdout}");
    let out = run(&["check-tuning", "--proc-root", root]);
    assert_eq!(out.status.code(), Some(1));
    assert!(row(&text(&out.stdout), "net.core.wmem_max").unwrap().contains("≥ 62500000"));
}

#[test]
fn unreadable_trees_are_unknown_not_a_failure() {
    let empty = TempDir::new("proc-sys-empty");
    std::fs::write(empty.0.join("net"), "not a directory").unwrap();
    let out = run(&["check-tuning", "--proc-root", empty.0.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "unknowns do not count:\n{stdout}");
    assert!(stdout.contains("unknown (not counted)"), "{stdout}");
    assert!(row(&stdout, "net.core.default_qdisc").unwrap().contains(" unknown "), "{stdout}");
}

fn server_args<'a>(tree: &'a Path, certs: &'a Path, mode: &'a str) -> Vec<&'a str> {
    vec![
        "--tuning",
        mode,
        "--proc-root",
        tree.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--certs-dir",
        certs.to_str().unwrap(),
        "--content",
        concat!(env!("CARGO_MANIFEST_DIR"), "/content"),
    ]
}

#[test]
fn strict_refuses_a_bad_tree_before_listening() {
    let bad = tree(BAD);
    let certs = TempDir::new("strict-certs");
    let out = run(&server_args(&bad.0, &certs.0, "strict"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(stderr.lines().all(|l| l.starts_with("h2ring: ")), "{stderr}");
    assert!(stderr.starts_with("h2ring: kernel tuning: "), "{stderr}");
    for knob in bad_knobs() {
        assert!(row(&stderr, &knob).is_some(), "{knob} missing from\n{stderr}");
    }
    assert!(stderr.contains("h2ring: fix: sudo tuning/apply.sh <iface>"), "{stderr}");
    assert!(stderr.contains("--tuning strict") && stderr.contains("unknown values do not count"), "{stderr}");
    assert!(!certs.0.join("dev-cert.pem").exists(), "refused before anything else was set up");
    assert!(out.stdout.is_empty());
}

#[test]
fn strict_starts_on_a_good_tree() {
    let good = tree(GOOD);
    let mut server = Server::start(&["--tuning", "strict", "--proc-root", good.0.to_str().unwrap()]);
    assert!(server.before_start.is_empty(), "nothing to say: {:?}", server.before_start);
    assert!(server.signal_and_wait("TERM", Duration::from_secs(20)).success());
}

#[test]
fn warn_prints_the_table_first_and_starts() {
    let bad = tree(BAD);
    let server = Server::start(&["--tuning", "warn", "--proc-root", bad.0.to_str().unwrap()]);
    let before = server.before_start.join("\n");
    assert!(before.starts_with("h2ring: kernel tuning: "), "{before}");
    for knob in bad_knobs() {
        assert!(row(&before, &knob).is_some(), "{knob} missing from\n{before}");
    }
    assert!(row(&before, "RLIMIT_MEMLOCK").is_none(), "only what is off:\n{before}");
    let fix = server.before_start.last().unwrap();
    assert!(fix.starts_with("h2ring: fix: "), "{fix}");
    let killed = Command::new("kill").arg(server.pid().to_string()).status().unwrap();
    assert!(killed.success());
}

#[test]
fn off_prints_no_table() {
    let bad = tree(BAD);
    let mut server = Server::start(&["--tuning", "off"]);
    assert!(server.before_start.is_empty(), "{:?}", server.before_start);
    assert!(server.signal_and_wait("TERM", Duration::from_secs(20)).success());
    // Off means not even looking: a --proc-root with it is a mistake.
    let certs = TempDir::new("off-certs");
    let out = run(&server_args(&bad.0, &certs.0, "off"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim_end(), "h2ring: --proc-root has no effect with --tuning off; drop one");
}

#[test]
fn bad_flag_values_are_one_line() {
    for args in [
        &["--link-gbps", "0"][..],
        &["--link-gbps", "401"],
        &["--rtt-ms", "10001"],
        &["--rtt-ms", "-1"],
        &["--tuning", "loud"],
        &["--tuning"],
        &["check-tuning", "--link-gbps", "401"],
        &["check-tuning", "--rtt-ms", "0"],
        &["check-tuning", "--workers", "2"],
        &["check-tuning", "--tuning", "strict"],
        &["--tuning", "off", "--link-gbps", "25"],
    ] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("h2ring: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = run(&["--rtt-ms", "10001"]);
    assert_eq!(text(&out.stderr), "h2ring: --rtt-ms must be between 1 and 10000, not 10001\n");
}

/// Linux 6.14 and later count io_uring rings against `RLIMIT_MEMLOCK`
/// (without CAP_IPC_LOCK): a server that cannot build its rings prints the
/// tuning report, whose memlock row explains it, before the error.
#[test]
fn a_memlock_too_low_for_the_rings_is_explained() {
    if cfg!(feature = "epoll") {
        return;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut version = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    if (version.next().unwrap_or(0), version.next().unwrap_or(0)) < (6, 14) {
        eprintln!("SKIPPED: kernel {} does not count io_uring rings against RLIMIT_MEMLOCK", release.trim());
        return;
    }
    // Root has CAP_IPC_LOCK, which exempts it: drop it with setpriv(1).
    let root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")));
    let drop_cap = if root { "setpriv --inh-caps=-ipc_lock --bounding-set=-ipc_lock " } else { "" };
    if root && !Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success()) {
        eprintln!("SKIPPED: running as root without setpriv(1) to drop CAP_IPC_LOCK");
        return;
    }
    let good = tree(GOOD);
    let osrelease = good.0.join("kernel/osrelease");
    std::fs::write(&osrelease, release).unwrap();
    let certs = TempDir::new("memlock-certs");
    let mut args = server_args(&good.0, &certs.0, "warn");
    args.extend(["--workers", "2"]);
    let script = format!("ulimit -l 64 && exec {drop_cap}\"$0\" \"$@\"");
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(BIN)
        .args(&args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let memlock = row(&stderr, "RLIMIT_MEMLOCK").unwrap_or_else(|| panic!("no memlock row in\n{stderr}"));
    assert!(memlock.contains("65536") && memlock.contains("≥ 245760"), "2 rings × 120 KiB: {memlock}");
    assert!(stderr.lines().last().unwrap().contains("Cannot allocate memory"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
}
