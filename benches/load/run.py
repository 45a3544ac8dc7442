#!/usr/bin/env python3
"""h2load harness of issue #7: h2ring (io_uring and epoll builds) against
h2o and nginx, side by side, on loopback. Python 3 standard library only.

    python3 benches/load/run.py [--rounds 3] [--duration 10]
        [--scenarios small_tls,small_h2c,big_tls,churn_tls,idle]
        [--servers h2ring,h2ring-epoll,h2o,nginx] [--pin] [--quick]

See benches/load/README.md for what each scenario does and how the
figures are taken. Nothing is installed: a missing tool is named with its
Debian package and the harness exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import io
import json
import math
import os
import platform
import pwd
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import string
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT_DIR = REPO / "target" / "bench-load"
BENCHMARKS_MD = REPO / "BENCHMARKS.md"
MD_START = "<!-- load-results:start -->"
MD_END = "<!-- load-results:end -->"

ALL_SCENARIOS = ["small_tls", "small_h2c", "big_tls", "churn_tls", "idle"]
# "h2ring" runs with the build's defaults (SQPOLL off unless DEFAULT_SQPOLL
# says otherwise, i.e. SINGLE_ISSUER | DEFER_TASKRUN); "h2ring-sqpoll" adds
# --sqpoll, "h2ring-defer" forces --no-sqpoll (the same as "h2ring" while
# the default is off).
ALL_SERVERS = ["h2ring", "h2ring-epoll", "h2ring-sqpoll", "h2ring-defer", "h2o", "nginx"]
DEFAULT_SERVERS = ["h2ring", "h2ring-epoll", "h2o", "nginx"]
H2RING_FLAVOURS = {
    "h2ring": ("uring", []),
    "h2ring-epoll": ("epoll", []),
    "h2ring-sqpoll": ("uring", ["--sqpoll"]),
    "h2ring-defer": ("uring", ["--no-sqpoll"]),
}

BIG_PATH = "/static/big.bin"
BIG_SIZE = 1 << 20

# Where the nginx brotli_static module (libnginx-mod-http-brotli-static) lives.
BROTLI_MODULES = [
    "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so",
    "/usr/share/nginx/modules/ngx_http_brotli_static_module.so",
]

# The targets of issue #7, as ratios of medians measured in the same run.
# (scenario, metric, server, peer, op, bound, wording)
TARGETS = [
    ("small_tls", "cpu_us_per_req", "h2ring", "h2o", "<=", 0.7, "server CPU/request ≤ 0.7× h2o"),
    ("small_tls", "rps", "h2ring", "h2o", ">=", 1.0, "requests/s ≥ h2o"),
    ("small_h2c", "cpu_us_per_req", "h2ring", "h2o", "<=", 0.7, "server CPU/request ≤ 0.7× h2o"),
    ("small_h2c", "rps", "h2ring", "h2o", ">=", 1.0, "requests/s ≥ h2o"),
    ("big_tls", "mbps", "h2ring", "h2o", ">=", 1.1, "MB/s ≥ 1.1× h2o"),
    ("churn_tls", "rps", "h2ring", "h2o", ">=", 1.0, "connections/s ≥ h2o"),
    ("churn_tls", "cpu_us_per_req", "h2ring", "h2o", "<=", 1.0, "CPU per handshake ≤ h2o"),
    ("small_tls", "cpu_us_per_req", "h2ring", "h2ring-epoll", "<=", 0.85, "io_uring CPU/request ≤ 0.85× epoll"),
    ("idle", "rss_per_conn_kib", "h2ring", "nginx", "<=", 1.0, "idle RSS per connection ≤ nginx"),
]

# Peers every h2ring figure is compared with: (server, peer).
RATIO_PAIRS = [
    ("h2ring", "h2o"),
    ("h2ring", "nginx"),
    ("h2ring", "h2ring-epoll"),
    ("h2ring-sqpoll", "h2ring"),
    ("h2ring-sqpoll", "h2ring-defer"),
]

COLOURS = {
    "h2ring": "#d9480f",
    "h2ring-epoll": "#f59f00",
    "h2ring-sqpoll": "#7048e8",
    "h2ring-defer": "#c2255c",
    "h2o": "#1971c2",
    "nginx": "#2f9e44",
}

CLK_TCK = os.sysconf("SC_CLK_TCK")


class HarnessError(Exception):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Prerequisites


def check_tools(args) -> None:
    """Exits 1 naming the Debian packages of whatever is missing."""
    need = {"h2load": "nghttp2-client", "nghttp": "nghttp2-client"}
    if "h2o" in args.servers:
        need["h2o"] = "h2o"
    if "nginx" in args.servers:
        need["nginx"] = "nginx-light (or nginx)"
    if "pinned" in args.variants:
        need["taskset"] = "util-linux"
    if not args.no_build and any(s in H2RING_FLAVOURS for s in args.servers):
        need["cargo"] = "cargo (or rustup from https://rustup.rs)"
    missing = {tool: pkg for tool, pkg in need.items() if shutil.which(tool) is None}
    if "nginx" in args.servers and not any(Path(p).exists() for p in BROTLI_MODULES):
        missing["ngx_http_brotli_static_module.so"] = "libnginx-mod-http-brotli-static"
    if missing:
        log("run.py: missing tools; this harness installs nothing itself:")
        for tool, pkg in missing.items():
            log(f"  {tool}: apt-get install {pkg}")
        pkgs = sorted({p.split(" ")[0] for p in missing.values() if not p.startswith("cargo")})
        if pkgs:
            log(f"  all at once: sudo apt-get install {' '.join(pkgs)}")
        sys.exit(1)


def raise_nofile() -> int:
    """Raises RLIMIT_NOFILE to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    want = min(want, 1 << 20)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------
# Building h2ring and preparing the site


def source_tree(rev: str | None) -> tuple[Path, str]:
    """The tree to build and take content/ from, and its git label: the
    checkout as it is, or with --rev a `git archive` of that commit under
    target/bench-src/ (the checkout itself is never touched)."""
    def git(*a, **kw):
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, **kw)
    if rev is None:
        head = git("rev-parse", "--short", "HEAD", text=True).stdout.strip() or "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src", "Cargo.toml", "Cargo.lock", "content",
                    text=True).stdout.strip()
        return REPO, head + (" + uncommitted changes in the checkout" if dirty else "")
    p = git("rev-parse", "--verify", f"{rev}^{{commit}}", text=True)
    if p.returncode != 0:
        raise HarnessError(f"--rev {rev}: not a commit")
    sha = p.stdout.strip()
    dest = REPO / "target" / "bench-src" / sha[:12]
    if not (dest / "Cargo.toml").exists():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = git("archive", "--format=tar", sha)
        if archive.returncode != 0:
            raise HarnessError(f"git archive {sha} failed: {archive.stderr.decode(errors='replace')}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            try:
                tar.extractall(tmp, filter="data")
            except TypeError:  # Python before 3.11.4 has no filters
                tar.extractall(tmp)
        tmp.rename(dest)
    return dest, sha[:7]


def build_h2ring(kind: str, no_build: bool, src: Path) -> Path:
    target = REPO / "target" / f"bench-{kind}"
    binary = target / "release" / "h2ring"
    if not no_build:
        cmd = ["cargo", "build", "--release", "--target-dir", str(target)]
        if kind == "epoll":
            cmd += ["--features", "epoll"]
        log(f"run.py: {' '.join(cmd)}  (in {src})")
        rc = subprocess.run(cmd, cwd=src).returncode
        if rc != 0:
            raise HarnessError(f"cargo build ({kind}) failed with status {rc}")
    if not binary.exists():
        raise HarnessError(f"{binary} does not exist (drop --no-build to build it)")
    return binary


def h2ring_help(binary: Path) -> str:
    return subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30).stdout


def make_content(work: Path, src: Path) -> Path:
    content = work / "content"
    shutil.copytree(src / "content", content)
    (content / "static").mkdir(exist_ok=True)
    # The same deterministic 1 MiB as tests/interop.sh: (i*31) % 251.
    (content / "static" / "big.bin").write_bytes(bytes((i * 31) % 251 for i in range(BIG_SIZE)))
    return content


def export_site(binary: Path, content: Path, work: Path) -> Path:
    """`h2ring export DIR --content COPY`: the rendered site as static files
    (`/` → index.html, `/about` → about.html, `/posts/x` → posts/x.html,
    other paths as they are) with FILE.br and FILE.gz beside each file
    that has those variants."""
    export = work / "export"
    p = subprocess.run([str(binary), "export", str(export), "--content", str(content)],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise HarnessError(f"h2ring export failed with status {p.returncode}: {(p.stdout + p.stderr).strip()[-400:]}")
    for must in ["index.html", "static/big.bin", "index.html.br", "index.html.gz"]:
        if not (export / must).is_file():
            raise HarnessError(f"the export lacks {must}")
    return export


# --------------------------------------------------------------------------
# Servers


class Server:
    def __init__(self, name, proc, tls_port, h2c_port, log_path, info):
        self.name = name
        self.proc = proc
        self.pid = proc.pid
        self.tls_port = tls_port
        self.h2c_port = h2c_port
        self.log_path = log_path
        self.info = info  # what the server said about itself (mode, workers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(cmd: list[str], log_path: Path) -> subprocess.Popen:
    """Starts a server in its own session (so its process group is ours to
    signal, and only it), stdout and stderr to log_path."""
    out = open(log_path, "wb")
    try:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-n:])
    except OSError:
        return ""


def start_h2ring(binary, help_text, extra, content, certs, work: Path, workers: int, prefix: list[str], name="h2ring") -> Server:
    work.mkdir(parents=True, exist_ok=True)
    log_path = work / f"{name}.log"
    cmd = prefix + [
        str(binary),
        "--listen", "127.0.0.1:0",
        "--h2c-listen", "127.0.0.1:0",
        "--workers", str(workers),
        "--certs-dir", str(certs),
        "--content", str(content),
        "--idle-timeout-ms", "3600000",
        "--shutdown-grace-ms", "1000",
    ] + extra
    if "--tuning" in help_text:
        cmd += ["--tuning", "off"]
    # Unpinned means unpinned for every server: h2o and nginx leave their
    # threads to the scheduler, and h2ring pins its workers by default, which
    # on a box shared with h2load left a core idle while a worker waited for
    # the other (about 20% fewer requests/s, the same CPU per request). The
    # pinned variant pins the whole process with taskset instead.
    if not prefix and "--no-pin-workers" in help_text:
        cmd += ["--no-pin-workers"]
    proc = spawn(cmd, log_path)
    deadline = time.monotonic() + 120
    line = None
    while time.monotonic() < deadline:
        text = log_path.read_text("utf-8", "replace")
        m = re.search(r"^.*listening on .*$", text, re.M)
        if m:
            line = m.group(0)
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if line is None:
        server = Server(name, proc, 0, 0, log_path, {})
        stop_server(server)
        raise HarnessError(f"{name} did not start: {tail(log_path)}")
    tls = re.search(r"https://127\.0\.0\.1:(\d+)", line)
    h2c = re.search(r"h2c://127\.0\.0\.1:(\d+)", line)
    info = {"listening": line.strip(), "cmd": cmd}
    m = re.search(r"; (\d+) workers?; ([^;]+)", line)
    if m:
        info["workers"] = int(m.group(1))
        info["mode"] = m.group(2).strip()
    return Server(name, proc, int(tls.group(1)), int(h2c.group(1)), log_path, info)


def wait_listening(server: Server, ports: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending and time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise HarnessError(f"{server.name} exited with {server.proc.returncode}: {tail(server.log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", pending[0]), timeout=1):
                pending.pop(0)
        except OSError:
            time.sleep(0.05)
    if pending:
        stop_server(server)
        raise HarnessError(f"{server.name} is not listening on {pending} after {timeout} s: {tail(server.log_path)}")


def user_line(kind: str) -> str:
    # Run as root, both would switch their workers to nobody, who cannot
    # read the private temp dir; keep them as the user running the harness.
    if os.geteuid() != 0:
        return ""
    name = pwd.getpwuid(os.geteuid()).pw_name
    return f"user: {name}" if kind == "h2o" else f"user {name};"


def write_config(kind: str, work: Path, export: Path, certs: Path, workers: int, nofile: int) -> tuple[Path, int, int]:
    tls_port, h2c_port = free_port(), free_port()
    while h2c_port == tls_port:
        h2c_port = free_port()
    values = {
        "user_line": user_line(kind),
        "workers": workers,
        "workdir": work,
        "tls_port": tls_port,
        "h2c_port": h2c_port,
        "cert": certs / "dev-cert.pem",
        "key": certs / "dev-key.pem",
        "root": export,
        "nofile": nofile,
        "brotli_module": next((p for p in BROTLI_MODULES if Path(p).exists()), BROTLI_MODULES[0]),
    }
    text = string.Template((HERE / f"{kind}.conf.in").read_text()).substitute(values)
    conf = work / f"{kind}.conf"
    conf.write_text(text)
    return conf, tls_port, h2c_port


def start_peer(kind: str, work: Path, export: Path, certs: Path, workers: int, nofile: int, prefix: list[str]) -> Server:
    work.mkdir(parents=True, exist_ok=True)
    conf, tls_port, h2c_port = write_config(kind, work, export, certs, workers, nofile)
    log_path = work / f"{kind}.log"
    if kind == "h2o":
        cmd = prefix + ["h2o", "-c", str(conf)]
    else:
        cmd = prefix + ["nginx", "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    proc = spawn(cmd, log_path)
    server = Server(kind, proc, tls_port, h2c_port, log_path, {"cmd": cmd, "workers": workers, "config": str(conf)})
    wait_listening(server, [tls_port, h2c_port])
    return server


def stop_server(server: Server, timeout: float = 15) -> int | None:
    """SIGTERM to the process group we created, SIGKILL if it lingers."""
    proc = server.proc
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"run.py: {server.name} (pid {proc.pid}) ignored SIGTERM for {timeout} s; SIGKILL")
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
    # Anything left in the group (a worker that outlived its master)?
    for pid in group_members(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return proc.returncode


def group_members(pgid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read().decode("latin-1")
        except OSError:
            continue
        if int(st[st.rindex(")") + 2 :].split()[2]) == pgid:
            out.append(int(d))
    return out


# --------------------------------------------------------------------------
# /proc accounting


def proc_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                st = f.read().decode("latin-1")
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out = [root]
    i = 0
    while i < len(out):
        out.extend(children.get(out[i], []))
        i += 1
    return out


def cpu_seconds(root: int) -> float:
    """utime + stime (all threads) of the server and its descendants, plus
    their reaped children (cutime + cstime), in seconds."""
    ticks = 0
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                st = f.read().decode("latin-1")
        except OSError:
            continue
        fields = st[st.rindex(")") + 2 :].split()
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


def rss_kib(root: int) -> int:
    total = 0
    for pid in proc_tree(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def loadavg() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


# --------------------------------------------------------------------------
# h2load


def parse_duration(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)?", text)
    if not m:
        return float("nan")
    mult = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}[m.group(2)]
    return float(m.group(1)) * mult


def parse_h2load(out: str) -> dict:
    r: dict = {}
    m = re.search(r"finished in ([\d.]+\w*), ([\d.]+) req/s", out)
    if m:
        r["elapsed_s"] = parse_duration(m.group(1))
        r["h2load_rps"] = float(m.group(2))
    m = re.search(
        r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out
    )
    if m:
        for k, v in zip(["total", "started", "done", "succeeded", "failed", "errored", "timeout"], m.groups()):
            r[f"req_{k}"] = int(v)
    m = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if m:
        r["status_2xx"] = int(m.group(1))
        r["status_other"] = sum(int(x) for x in m.groups()[1:])
    m = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers.*?, .*?\((\d+)\) data", out)
    if m:
        r["bytes_total"], r["bytes_headers"], r["bytes_data"] = (int(x) for x in m.groups())
    for key, label in [("req", "time for request"), ("connect", "time for connect"), ("ttfb", "time to 1st byte")]:
        m = re.search(label + r":\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
        if m:
            r[f"{key}_mean_s"] = parse_duration(m.group(3))
    for key, label in [("tls_protocol", "TLS Protocol"), ("cipher", "Cipher"), ("temp_key", "Server Temp Key"), ("alpn", "Application protocol")]:
        m = re.search(rf"^{label}: (.+)$", out, re.M)
        if m:
            r[key] = m.group(1).strip()
    return r


def read_latency_log(path: Path) -> list[int]:
    """h2load --log-file: start µs since epoch, status (-1 failed), µs until
    the end of the response. Returns the durations of successful requests."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1] != "-1":
                    out.append(int(parts[2]))
    except OSError:
        pass
    return out


def percentile(sorted_values: list[int], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p * len(sorted_values)) - 1)
    return float(sorted_values[k])


def run_h2load(args: list[str], client_prefix: list[str], timeout: float) -> tuple[dict, float, str]:
    """Runs h2load, returns (parsed, client CPU seconds, raw output)."""
    cmd = client_prefix + ["h2load"] + args
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"h2load ran past {timeout:.0f} s: {' '.join(cmd)}") from e
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = p.stdout + p.stderr
    parsed = parse_h2load(out)
    if "req_succeeded" not in parsed:
        raise HarnessError(f"h2load said nothing usable (status {p.returncode}): {out.strip()[-400:]}")
    return parsed, client_cpu, out


# --------------------------------------------------------------------------
# Scenarios


def url(server: Server, scenario: str) -> str:
    if scenario == "small_h2c":
        return f"http://127.0.0.1:{server.h2c_port}/"
    path = BIG_PATH if scenario == "big_tls" else "/"
    return f"https://127.0.0.1:{server.tls_port}{path}"


def scenario_timed(server: Server, scenario: str, cfg, work: Path) -> dict:
    """small_tls, small_h2c, big_tls: h2load -D for the duration."""
    u = url(server, scenario)
    if scenario == "big_tls":
        shape, warm = ["-c", "8", "-m", "1"], ["-n", "16", "-c", "8", "-m", "1"]
    else:
        shape, warm = ["-c", "32", "-m", "16"], ["-n", "3200", "-c", "32", "-m", "16"]
    threads = ["-t", str(cfg.h2load_threads)]
    run_h2load(warm + threads + [u], cfg.client_prefix, 60)
    logf = work / "h2load.log"
    cpu0 = cpu_seconds(server.pid)
    t0 = time.monotonic()
    parsed, client_cpu, out = run_h2load(shape + threads + ["-D", str(cfg.duration), "--log-file", str(logf), u], cfg.client_prefix, cfg.duration + 60)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(server.pid) - cpu0
    lat = sorted(read_latency_log(logf))
    logf.unlink(missing_ok=True)
    return summarize(parsed, cpu, client_cpu, wall, lat)


def scenario_churn(server: Server, cfg, work: Path) -> dict:
    """churn_tls: one request per connection. h2load keeps a connection for
    all of a client's requests (n/c of them) and never reconnects, so each
    batch is `-n K -c K -m 1`: K new TLS connections, one GET / each, then
    closed; batches repeat until the duration is spent. Connections/s =
    successful requests / the sum of h2load's own elapsed times (the gaps
    between batches, h2load starting up, are left out; the server is idle
    in them, so its CPU figure is unaffected)."""
    u = url(server, "churn_tls")
    k = str(cfg.churn_batch)
    run_h2load(["-n", k, "-c", k, "-m", "1", u], cfg.client_prefix, 60)
    logf = work / "h2load.log"
    agg = {"req_succeeded": 0, "req_failed": 0, "req_errored": 0, "req_timeout": 0, "req_total": 0,
           "status_2xx": 0, "status_other": 0, "bytes_total": 0, "bytes_data": 0, "elapsed_s": 0.0}
    connect_sum = ttfb_sum = 0.0
    lat: list[int] = []
    batches = 0
    client_cpu = 0.0
    cpu0 = cpu_seconds(server.pid)
    t0 = time.monotonic()
    deadline = t0 + cfg.duration
    last: dict = {}
    while time.monotonic() < deadline:
        parsed, ccpu, _ = run_h2load(["-n", k, "-c", k, "-m", "1", "--log-file", str(logf), u], cfg.client_prefix, 120)
        client_cpu += ccpu
        batches += 1
        for key in agg:
            agg[key] += parsed.get(key, 0)
        connect_sum += parsed.get("connect_mean_s", 0.0)
        ttfb_sum += parsed.get("ttfb_mean_s", 0.0)
        lat.extend(read_latency_log(logf))
        last = parsed
    wall = time.monotonic() - t0
    cpu = cpu_seconds(server.pid) - cpu0
    logf.unlink(missing_ok=True)
    for key in ["tls_protocol", "cipher", "temp_key", "alpn"]:
        if key in last:
            agg[key] = last[key]
    r = summarize(agg, cpu, client_cpu, wall, sorted(lat))
    r["batches"] = batches
    r["batch_size"] = cfg.churn_batch
    r["connect_mean_ms"] = connect_sum / batches * 1e3 if batches else float("nan")
    r["ttfb_mean_ms"] = ttfb_sum / batches * 1e3 if batches else float("nan")
    r["conn_per_s_wall"] = agg["req_succeeded"] / wall if wall else float("nan")
    return r


def summarize(parsed: dict, cpu: float, client_cpu: float, wall: float, lat: list[int]) -> dict:
    elapsed = parsed.get("elapsed_s") or wall
    ok = parsed.get("req_succeeded", 0)
    r = {
        "requests": ok,
        "failed": parsed.get("req_failed", 0),
        "errored": parsed.get("req_errored", 0),
        "non_2xx": parsed.get("status_other", 0),
        "elapsed_s": elapsed,
        "wall_s": wall,
        "rps": ok / elapsed if elapsed else float("nan"),
        "mbps": parsed.get("bytes_data", 0) / elapsed / 1e6 if elapsed else float("nan"),
        "lat_mean_ms": statistics.fmean(lat) / 1e3 if lat else float("nan"),
        "lat_p99_ms": percentile(lat, 0.99) / 1e3,
        "lat_samples": len(lat),
        "h2load_req_mean_ms": parsed.get("req_mean_s", float("nan")) * 1e3,
        "server_cpu_s": cpu,
        "cpu_us_per_req": cpu / ok * 1e6 if ok else float("nan"),
        "server_cores": cpu / wall if wall else float("nan"),
        "client_cores": client_cpu / wall if wall else float("nan"),
    }
    for key in ["tls_protocol", "cipher", "temp_key", "alpn"]:
        if key in parsed:
            r[key] = parsed[key]
    if ok == 0:
        raise HarnessError(f"no request succeeded ({parsed.get('req_failed', 0)} failed)")
    return r


def scenario_idle(server: Server, cfg, work: Path) -> dict:
    """idle: the server's RSS before and with cfg.idle_conns open, idle h2
    connections (TLS 1.3 handshake, preface, SETTINGS both ways, then
    nothing), from a child asyncio client (this file, `_idle_client`)."""
    run_h2load(["-n", "200", "-c", "2", "-m", "4", url(server, "small_tls")], cfg.client_prefix, 60)
    time.sleep(1)
    rss0 = rss_kib(server.pid)
    cpu0 = cpu_seconds(server.pid)
    cmd = cfg.client_prefix + [sys.executable, str(Path(__file__).resolve()), "_idle_client",
                               "127.0.0.1", str(server.tls_port), str(cfg.idle_conns)]
    client = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = read_line(client, 300)
        m = re.fullmatch(r"ready (\d+) (\d+) ([\d.]+)(?: (.*))?", line or "")
        if not m:
            raise HarnessError(f"idle client: {line!r}")
        opened, failed, connect_s = int(m.group(1)), int(m.group(2)), float(m.group(3))
        time.sleep(cfg.idle_settle)
        rss1 = rss_kib(server.pid)
        cpu = cpu_seconds(server.pid) - cpu0
        client.stdin.write("check\n")
        client.stdin.flush()
        line = read_line(client, 60)
        still_open = int(line.split()[1]) if line and line.startswith("open ") else -1
    finally:
        try:
            client.stdin.close()
        except OSError:
            pass
        try:
            client.wait(60)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
    if opened == 0:
        raise HarnessError(f"idle client opened no connection ({failed} failed: {m.group(4)})")
    r = {
        "conns_wanted": cfg.idle_conns,
        "conns_opened": opened,
        "conns_failed": failed,
        "conns_open_at_sample": still_open,
        "connect_s": connect_s,
        "rss_before_kib": rss0,
        "rss_with_kib": rss1,
        "rss_per_conn_kib": (rss1 - rss0) / opened,
        "server_cpu_s": cpu,
        "cpu_us_per_conn": cpu / opened * 1e6,
    }
    if failed:
        r["first_error"] = m.group(4)
    return r


def read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return None
        return proc.stdout.readline().strip()
    finally:
        sel.close()


# The idle client, run as `run.py _idle_client HOST PORT N`.

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_SETTINGS_EMPTY = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
H2_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


async def idle_client(host: str, port: int, n: int, concurrency: int = 64) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["h2"])
    sem = asyncio.Semaphore(concurrency)
    conns = []
    errors: list[str] = []

    async def server_settings(reader) -> None:
        while True:
            head = await reader.readexactly(9)
            length = int.from_bytes(head[:3], "big")
            await reader.readexactly(length)
            if head[3] == 4 and not head[4] & 1:
                return

    async def one() -> None:
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=ctx, server_hostname="localhost"), 60)
                alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
                if alpn != "h2":
                    raise RuntimeError(f"ALPN {alpn!r}")
                writer.write(H2_PREFACE + H2_SETTINGS_EMPTY)
                await asyncio.wait_for(server_settings(reader), 60)
                writer.write(H2_SETTINGS_ACK)
                await writer.drain()
                conns.append((reader, writer))
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors.append(f"{type(e).__name__}: {e}")

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(n)))
    took = time.monotonic() - t0
    closed = 0

    async def drain(reader) -> None:
        nonlocal closed
        try:
            while await reader.read(65536):
                pass
        except Exception:  # noqa: BLE001
            pass
        closed += 1

    tasks = [asyncio.create_task(drain(r)) for r, _ in conns]
    first = errors[0].replace("\n", " ") if errors else ""
    print(f"ready {len(conns)} {len(errors)} {took:.2f} {first}".rstrip(), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if line.strip() == "check":
            print(f"open {len(conns) - closed}", flush=True)
        else:
            break
    for _, w in conns:
        w.close()
    for t in tasks:
        t.cancel()


# --------------------------------------------------------------------------
# Verification: every server serves the same bytes


def nghttp(args: list[str]) -> bytes:
    return subprocess.run(["nghttp"] + args, capture_output=True, timeout=60).stdout


def verify_bytes(server: Server, export: Path) -> dict:
    index = (export / "index.html").read_bytes()
    big = hashlib.sha256((export / BIG_PATH.lstrip("/")).read_bytes()).hexdigest()
    tls = f"https://127.0.0.1:{server.tls_port}"
    h2c = f"http://127.0.0.1:{server.h2c_port}"
    identity = ["-H", "accept-encoding: identity"]
    got = {
        "index_tls": nghttp(identity + [tls + "/"]) == index,
        "index_h2c": nghttp(identity + [h2c + "/"]) == index,
        "big_tls": hashlib.sha256(nghttp([tls + BIG_PATH])).hexdigest() == big,
        "br_variant": b"content-encoding: br" in nghttp(["-v", "-H", "accept-encoding: br", tls + "/"]),
    }
    return got


# --------------------------------------------------------------------------
# One run: start, warm up, measure, stop


def run_one(server_name: str, scenario: str, cfg, variant: str, rnd: int) -> dict:
    pinned = variant == "pinned"
    workers = 1 if pinned else 2
    prefix = ["taskset", "-c", "0"] if pinned else []
    cfg.client_prefix = ["taskset", "-c", "1"] if pinned else []
    work = cfg.work / f"{variant}-r{rnd}-{scenario}-{server_name}"
    work.mkdir(parents=True, exist_ok=True)
    rec = {"variant": variant, "round": rnd, "scenario": scenario, "server": server_name, "loadavg_start": loadavg()}
    t0 = time.monotonic()
    server = None
    try:
        if server_name in H2RING_FLAVOURS:
            kind, extra = H2RING_FLAVOURS[server_name]
            server = start_h2ring(cfg.binaries[kind], cfg.help[kind], extra, cfg.content, cfg.certs, work, workers, prefix, server_name)
        else:
            server = start_peer(server_name, work, cfg.export, cfg.certs, workers, cfg.nofile, prefix)
        rec["server_info"] = server.info
        key = (variant, server_name)
        if key not in cfg.verified:
            cfg.verified[key] = verify_bytes(server, cfg.export)
            rec["verify"] = cfg.verified[key]
            if not all(cfg.verified[key].values()):
                log(f"run.py: WARNING {server_name} does not serve the exported bytes: {cfg.verified[key]}")
        if scenario == "idle":
            rec.update(scenario_idle(server, cfg, work))
        elif scenario == "churn_tls":
            rec.update(scenario_churn(server, cfg, work))
        else:
            rec.update(scenario_timed(server, scenario, cfg, work))
        if server.proc.poll() is not None:
            raise HarnessError(f"{server_name} exited during the run with {server.proc.returncode}")
        rec["ok"] = True
    except HarnessError as e:
        rec["ok"] = False
        rec["error"] = str(e)
        log(f"run.py: {variant} round {rnd} {scenario} {server_name}: FAILED: {e}")
    finally:
        if server is not None:
            rec["exit_status"] = stop_server(server)
            rec["server_log_tail"] = tail(server.log_path, 6)
    rec["run_s"] = time.monotonic() - t0
    rec["loadavg_end"] = loadavg()
    return rec


# --------------------------------------------------------------------------
# Aggregation


def med(values: list[float]) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(values) if values else float("nan")


def metrics_of(scenario: str) -> list[str]:
    if scenario == "idle":
        return ["rss_per_conn_kib", "rss_before_kib", "rss_with_kib", "conns_opened", "conns_open_at_sample", "cpu_us_per_conn"]
    return ["rps", "mbps", "lat_mean_ms", "lat_p99_ms", "cpu_us_per_req", "server_cores", "client_cores"]


def aggregate(runs: list[dict], variants, scenarios, servers) -> dict:
    out: dict = {}
    for v in variants:
        for sc in scenarios:
            for sv in servers:
                ok = [r for r in runs if r["variant"] == v and r["scenario"] == sc and r["server"] == sv and r.get("ok")]
                tried = [r for r in runs if r["variant"] == v and r["scenario"] == sc and r["server"] == sv]
                if not tried:
                    continue
                entry = {"runs_ok": len(ok), "runs": len(tried)}
                for m in metrics_of(sc):
                    entry[m] = med([r.get(m) for r in ok])
                    entry[m + "_by_round"] = {r["round"]: r.get(m) for r in ok}
                out.setdefault(v, {}).setdefault(sc, {})[sv] = entry
    return out


def ratio(medians: dict, v: str, sc: str, metric: str, a: str, b: str) -> tuple[float, float, float]:
    """Ratio of medians, and the min and max of the per-round ratios."""
    try:
        ea, eb = medians[v][sc][a], medians[v][sc][b]
    except KeyError:
        return (float("nan"),) * 3
    r = ea[metric] / eb[metric] if eb[metric] else float("nan")
    per_round = [ea[metric + "_by_round"][k] / eb[metric + "_by_round"][k]
                 for k in ea[metric + "_by_round"] if k in eb[metric + "_by_round"] and eb[metric + "_by_round"][k]]
    return r, (min(per_round) if per_round else float("nan")), (max(per_round) if per_round else float("nan"))


def evaluate_targets(medians: dict, v: str) -> list[dict]:
    out = []
    for sc, metric, a, b, op, bound, wording in TARGETS:
        r, lo, hi = ratio(medians, v, sc, metric, a, b)
        if math.isnan(r):
            verdict = "not measured"
        elif (r <= bound) if op == "<=" else (r >= bound):
            verdict = "pass"
        else:
            verdict = "FAIL"
        out.append({"scenario": sc, "metric": metric, "server": a, "peer": b, "op": op, "bound": bound,
                    "wording": wording, "ratio": r, "round_min": lo, "round_max": hi, "verdict": verdict})
    return out


# --------------------------------------------------------------------------
# Reporting: text and Markdown tables, SVG


def fmt(x, digits=None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if digits is not None:
        return f"{x:,.{digits}f}"
    ax = abs(x)
    if ax >= 10000:
        return f"{x:,.0f}"
    if ax >= 100:
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


THROUGHPUT_LABEL = {"small_tls": "req/s", "small_h2c": "req/s", "big_tls": "MB/s", "churn_tls": "conn/s"}


def tables(medians: dict, variants, scenarios, servers, ranges=True) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for every table of the report."""
    out = []
    for v in variants:
        if v not in medians:
            continue
        header = ["scenario", "server", "req/s", "MB/s", "mean ms", "p99 ms", "server CPU µs/req", "server cores", "h2load cores", "runs ok"]
        rows = []
        for sc in scenarios:
            if sc == "idle" or sc not in medians[v]:
                continue
            for sv in servers:
                e = medians[v][sc].get(sv)
                if not e:
                    continue
                rows.append([sc, sv, fmt(e["rps"], 0), fmt(e["mbps"], 1), fmt(e["lat_mean_ms"]), fmt(e["lat_p99_ms"]),
                             fmt(e["cpu_us_per_req"], 1), fmt(e["server_cores"]), fmt(e["client_cores"]), f"{e['runs_ok']}/{e['runs']}"])
        if rows:
            out.append((f"{v}: medians", header, rows))
        if "idle" in medians[v]:
            header = ["server", "RSS before (MiB)", "RSS with conns (MiB)", "connections open", "KiB per connection", "runs ok"]
            rows = []
            for sv in servers:
                e = medians[v]["idle"].get(sv)
                if not e:
                    continue
                rows.append([sv, fmt(e["rss_before_kib"] / 1024, 1), fmt(e["rss_with_kib"] / 1024, 1),
                             fmt(e["conns_open_at_sample"], 0), fmt(e["rss_per_conn_kib"], 1), f"{e['runs_ok']}/{e['runs']}"])
            out.append((f"{v}: idle connections", header, rows))
        header = ["scenario", "ratio", "throughput", "server CPU/req", "p99 latency"]
        rows = []
        for sc in scenarios:
            if sc not in medians[v]:
                continue
            for a, b in RATIO_PAIRS:
                if a not in medians[v][sc] or b not in medians[v][sc]:
                    continue
                if sc == "idle":
                    r, lo, hi = ratio(medians, v, sc, "rss_per_conn_kib", a, b)
                    rows.append([sc, f"{a} / {b}", f"KiB/conn {fmt(r)}×" + (f" ({fmt(lo)}–{fmt(hi)})" if ranges else ""), "", ""])
                    continue
                cells = []
                for metric in ["mbps" if sc == "big_tls" else "rps", "cpu_us_per_req", "lat_p99_ms"]:
                    r, lo, hi = ratio(medians, v, sc, metric, a, b)
                    cells.append(f"{fmt(r)}×" + (f" ({fmt(lo)}–{fmt(hi)})" if ranges and not math.isnan(lo) else ""))
                rows.append([sc, f"{a} / {b}"] + cells)
        if rows:
            out.append((f"{v}: ratios of medians (range of the per-round ratios)", header, rows))
        targets = evaluate_targets(medians, v)
        header = ["target (issue #7)", "scenario", "measured", "per-round range", "verdict"]
        rows = [[t["wording"], t["scenario"], f"{fmt(t['ratio'])}×", (f"{fmt(t['round_min'])}–{fmt(t['round_max'])}" if not math.isnan(t["round_min"]) else "–"), t["verdict"]]
                for t in targets]
        out.append((f"{v}: targets", header, rows))
    return out


def text_table(header, rows) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


def svg_chart(medians: dict, variants, scenarios, servers) -> str:
    """Horizontal bars, one panel per figure: throughput and server CPU per
    request of each scenario, and KiB per idle connection."""
    panels = []
    for v in variants:
        for sc in scenarios:
            if sc not in medians.get(v, {}):
                continue
            if sc == "idle":
                panels.append((v, f"idle: KiB per connection (lower is better)", sc, "rss_per_conn_kib"))
                continue
            tp = "mbps" if sc == "big_tls" else "rps"
            panels.append((v, f"{sc}: {THROUGHPUT_LABEL[sc]} (higher is better)", sc, tp))
            panels.append((v, f"{sc}: server CPU µs/request (lower is better)", sc, "cpu_us_per_req"))
    cols = 2
    pw, label_w, bar_h, gap = 460, 110, 18, 6
    ph = 40 + len(servers) * (bar_h + gap)
    rows = math.ceil(len(panels) / cols) if panels else 1
    title_h = 40
    width, height = cols * pw + 20, title_h + rows * (ph + 16) + 10
    esc = lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="24" font-size="16" font-weight="bold">h2ring load harness: medians ({esc(", ".join(variants))})</text>']
    for i, (v, title, sc, metric) in enumerate(panels):
        x0 = 10 + (i % cols) * pw
        y0 = title_h + (i // cols) * (ph + 16)
        vals = [(sv, medians[v][sc][sv][metric]) for sv in servers if sv in medians[v][sc]]
        vmax = max((x for _, x in vals if not math.isnan(x)), default=1) or 1
        prefix = f"{v}, " if len(variants) > 1 else ""
        out.append(f'<text x="{x0}" y="{y0 + 14}" font-weight="bold">{esc(prefix + title)}</text>')
        for j, (sv, x) in enumerate(vals):
            y = y0 + 24 + j * (bar_h + gap)
            out.append(f'<text x="{x0 + label_w - 6}" y="{y + 13}" text-anchor="end">{esc(sv)}</text>')
            if math.isnan(x):
                out.append(f'<text x="{x0 + label_w + 4}" y="{y + 13}" fill="#888">failed</text>')
                continue
            w = (pw - label_w - 90) * x / vmax
            out.append(f'<rect x="{x0 + label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLOURS.get(sv, "#868e96")}"/>')
            out.append(f'<text x="{x0 + label_w + w + 4:.1f}" y="{y + 13}">{esc(fmt(x, 1 if x < 1000 else 0))}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Machine and versions


def first_line(cmd: list[str]) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (p.stdout + p.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def dpkg_version(pkg: str) -> str | None:
    if shutil.which("dpkg-query") is None:
        return None
    p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return p.stdout.strip() or None if p.returncode == 0 else None


def machine_info(cfg) -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"h2load": first_line(["h2load", "--version"])}
    for kind, binary in cfg.binaries.items():
        versions[f"h2ring ({kind})"] = first_line([str(binary), "--version"])
    if "h2o" in cfg.servers:
        out = subprocess.run(["h2o", "--version"], capture_output=True, text=True).stdout
        versions["h2o"] = " ".join(line.strip() for line in out.splitlines()[:2])
    if "nginx" in cfg.servers:
        out = subprocess.run(["nginx", "-V"], capture_output=True, text=True).stderr
        versions["nginx"] = " ".join(line.strip() for line in out.splitlines()[:2])
        b = dpkg_version("libnginx-mod-http-brotli-static")
        if b:
            versions["nginx brotli_static module"] = b
    try:
        lock = (REPO / "Cargo.lock").read_text()
        m = re.search(r'name = "rustls"\nversion = "([^"]+)"', lock)
        if m:
            versions["rustls"] = m.group(1)
    except OSError:
        pass
    versions["rustc"] = first_line(["rustc", "--version"])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": versions,
        "git": cfg.git,
    }


# --------------------------------------------------------------------------
# BENCHMARKS.md


def md_section(result: dict) -> str:
    meta = result["meta"]
    mi = meta["machine"]
    lines = [MD_START,
             "<!-- Generated by benches/load/run.py; edits between these markers are overwritten. -->",
             "",
             f"Latest run: {meta['date']}, `{meta['command']}`: {meta['rounds']} round{'s' if meta['rounds'] != 1 else ''} × "
             f"{meta['duration_s']:g} s per scenario, servers in alternation, {meta['wall_min']:.0f} min in all.",
             "",
             f"Machine: {mi['nproc']} vCPU {mi['cpu_model']}, Linux {mi['kernel']}. h2ring {mi['git']}.",
             load_line(result["runs"], mi["nproc"]),
             "Versions: " + "; ".join(f"{k}: {v}" for k, v in mi["versions"].items()) + ".",
             f"Site: `content/` plus a 1 MiB {BIG_PATH}, exported with `h2ring export` for h2o and nginx; index page {meta['index_bytes']:,} bytes (identity: h2load sends no "
             f"accept-encoding), {BIG_PATH} {BIG_SIZE:,} bytes.",
             ]
    ciphers = sorted({f"{r.get('cipher')}, {r.get('temp_key')}" for r in result["runs"] if r.get("cipher")})
    if ciphers:
        lines.append("TLS negotiated: " + "; ".join(ciphers) + ".")
    for title, header, rows in tables(result["medians"], meta["variants"], meta["scenarios"], meta["servers"]):
        lines += ["", f"**{title}**", "", md_table(header, rows)]
    bad = [f"{r['variant']} {r['server']}: {', '.join(k for k, ok in r['verify'].items() if not ok)}"
           for r in result["runs"] if r.get("verify") and not all(r["verify"].values())]
    if bad:
        lines += ["", "Byte checks that failed (the server does not serve the exported bytes): " + "; ".join(bad) + "."]
    elif any(r.get("verify") for r in result["runs"]):
        lines += ["", "Byte checks: every server served `/` (TLS and h2c) byte-identical to the export, "
                  f"{BIG_PATH} with the right SHA-256, and a br variant for `accept-encoding: br`."]
    failures = [r for r in result["runs"] if not r.get("ok")]
    if failures:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {r['variant']} round {r['round']} {r['scenario']} {r['server']}: {r.get('error', '?')}" for r in failures]
    if meta.get("chart_md"):
        lines += ["", f"![medians]({meta['chart_md']})"]
    lines += ["", MD_END]
    return "\n".join(lines)


def load_line(runs: list[dict], nproc: int) -> str:
    """How busy the machine was: others' work shows as a load average above
    what server and h2load account for."""
    loads = [r["loadavg_start"] for r in runs if not math.isnan(r.get("loadavg_start", float("nan")))]
    used = [r["server_cores"] + r["client_cores"] for r in runs if r.get("ok") and "server_cores" in r]
    text = ""
    if loads:
        text = (f"Load average at the start of each run: median {statistics.median(loads):.1f} "
                f"(range {min(loads):.1f}–{max(loads):.1f}).")
    if used:
        text += (f" Server and h2load together used a median of {statistics.median(used):.2f} of the {nproc} vCPUs "
                 f"during the h2load scenarios; the rest was taken by other work on the machine, so absolute rates are low "
                 f"and only ratios and CPU per request carry over.")
    return text


def update_benchmarks_md(section: str) -> bool:
    text = BENCHMARKS_MD.read_text()
    if MD_START not in text or MD_END not in text:
        log(f"run.py: {BENCHMARKS_MD} has no {MD_START} … {MD_END} markers; not updated")
        return False
    a = text.index(MD_START)
    b = text.index(MD_END) + len(MD_END)
    BENCHMARKS_MD.write_text(text[:a] + section + text[b:])
    return True


# --------------------------------------------------------------------------
# Main


def parse_args(argv):
    p = argparse.ArgumentParser(description="h2load harness: h2ring (io_uring, epoll) vs h2o vs nginx on loopback.")
    p.add_argument("--rounds", type=int, default=3, help="rounds of A B C D (default 3)")
    p.add_argument("--duration", type=float, default=10, help="seconds per h2load measurement (default 10)")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help=f"comma-separated, of {','.join(ALL_SCENARIOS)}")
    p.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help=f"comma-separated, of {','.join(ALL_SERVERS)}")
    p.add_argument("--pin", action="store_true", help="pinned variant: server on CPU 0 with one worker, clients on CPU 1")
    p.add_argument("--variants", help="unpinned, pinned or unpinned,pinned (default unpinned; --pin means pinned)")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 round of 3 s; BENCHMARKS.md untouched")
    p.add_argument("--idle-conns", type=int, default=5000, help="connections of the idle scenario (default 5000)")
    p.add_argument("--idle-settle", type=float, default=3, help="seconds between opening them and reading RSS (default 3)")
    p.add_argument("--churn-batch", type=int, default=64, help="connections per h2load batch in churn_tls (default 64)")
    p.add_argument("--h2load-threads", type=int, default=1, help="h2load -t (default 1)")
    p.add_argument("--rev", help="build and serve this commit (git archive into target/bench-src/) instead of the checkout")
    p.add_argument("--no-build", action="store_true", help="use target/bench-{uring,epoll} as they are")
    p.add_argument("--write-md", action=argparse.BooleanOptionalAction, default=None,
                   help="regenerate BENCHMARKS.md's results and benches/load/latest.{svg,json} (default: yes unless --quick)")
    p.add_argument("--keep-work", action="store_true", help="keep the temp dir (configs, logs, export)")
    p.add_argument("--report", metavar="JSON", help="measure nothing: print the tables of a results JSON again and "
                   "(with --write-md) rewrite BENCHMARKS.md and benches/load/latest.* from it")
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.duration = 1, 3
    if args.write_md is None:
        args.write_md = not args.quick
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    args.servers = [s for s in args.servers.split(",") if s]
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            p.error(f"unknown scenario {s!r}")
    for s in args.servers:
        if s not in ALL_SERVERS:
            p.error(f"unknown server {s!r}")
    if args.variants:
        args.variants = [v for v in args.variants.split(",") if v]
        if any(v not in ("unpinned", "pinned") for v in args.variants):
            p.error("--variants takes unpinned and/or pinned")
    else:
        args.variants = ["pinned"] if args.pin else ["unpinned"]
    if args.rounds < 1 or args.duration <= 0:
        p.error("--rounds ≥ 1 and --duration > 0")
    if "pinned" in args.variants and (os.cpu_count() or 1) < 2:
        p.error("the pinned variant needs two CPUs")
    return args


class Cfg:
    pass


def report_again(path: Path, write_md: bool) -> int:
    result = json.loads(path.read_text())
    meta = result["meta"]
    result["medians"] = json.loads(json.dumps(aggregate(result["runs"], meta["variants"], meta["scenarios"], meta["servers"])))
    for title, header, rows in tables(result["medians"], meta["variants"], meta["scenarios"], meta["servers"]):
        print()
        print(title)
        print(text_table(header, rows))
    if write_md:
        svg = svg_chart(result["medians"], meta["variants"], meta["scenarios"], meta["servers"])
        (HERE / "latest.svg").write_text(svg)
        meta["chart_md"] = "benches/load/latest.svg"
        if path.resolve() != (HERE / "latest.json").resolve():
            (HERE / "latest.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
        if update_benchmarks_md(md_section(result)):
            print(f"updated: {BENCHMARKS_MD}, benches/load/latest.svg, latest.json")
    return 0


def main(argv) -> int:
    if argv[:1] == ["_idle_client"]:
        host, port, n = argv[1], int(argv[2]), int(argv[3])
        raise_nofile()
        asyncio.run(idle_client(host, port, n))
        return 0
    args = parse_args(argv)
    if args.report:
        return report_again(Path(args.report), bool(args.write_md))
    check_tools(args)
    started = time.monotonic()
    nofile = raise_nofile()
    if nofile < args.idle_conns + 1000 and "idle" in args.scenarios:
        log(f"run.py: WARNING RLIMIT_NOFILE is {nofile}; {args.idle_conns} idle connections may not fit")
    cfg = Cfg()
    cfg.duration = args.duration
    cfg.idle_conns = args.idle_conns
    cfg.idle_settle = args.idle_settle
    cfg.churn_batch = args.churn_batch
    cfg.h2load_threads = args.h2load_threads
    cfg.servers = args.servers
    cfg.nofile = nofile
    cfg.verified = {}
    kinds = sorted({H2RING_FLAVOURS[s][0] for s in args.servers if s in H2RING_FLAVOURS} | {"uring"})
    cfg.src, cfg.git = source_tree(args.rev)
    cfg.binaries = {k: build_h2ring(k, args.no_build, cfg.src) for k in kinds}
    cfg.help = {k: h2ring_help(b) for k, b in cfg.binaries.items()}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    cfg.work = Path(tempfile.mkdtemp(prefix="h2ring-load-"))
    runs: list[dict] = []
    try:
        cfg.content = make_content(cfg.work, cfg.src)
        cfg.certs = cfg.work / "certs"
        cfg.export = export_site(cfg.binaries["uring"], cfg.content, cfg.work)
        cfg.index_bytes = (cfg.export / "index.html").stat().st_size
        # One certificate for every server: the development certificate
        # h2ring makes in its --certs-dir on its first start.
        s = start_h2ring(cfg.binaries["uring"], cfg.help["uring"], [], cfg.content, cfg.certs, cfg.work / "cert", 1, [])
        stop_server(s)
        total = len(args.variants) * args.rounds * len(args.scenarios) * len(args.servers)
        log(f"run.py: {total} runs: variants {args.variants}, {args.rounds} rounds, scenarios {args.scenarios}, "
            f"servers {args.servers}; work dir {cfg.work}")
        load0 = loadavg()
        n = 0
        for variant in args.variants:
            for rnd in range(1, args.rounds + 1):
                for scenario in args.scenarios:
                    for server in args.servers:
                        n += 1
                        rec = run_one(server, scenario, cfg, variant, rnd)
                        runs.append(rec)
                        if rec.get("ok"):
                            if scenario == "idle":
                                brief = f"{rec['rss_per_conn_kib']:.1f} KiB/conn ({rec['conns_opened']} open)"
                            else:
                                brief = (f"{rec['rps']:,.0f} req/s, {rec['mbps']:,.1f} MB/s, p99 {rec['lat_p99_ms']:.2f} ms, "
                                         f"{rec['cpu_us_per_req']:.1f} µs CPU/req")
                        else:
                            brief = "FAILED"
                        log(f"[{n}/{total}] {variant} r{rnd} {scenario:<9} {server:<13} {brief}  ({rec['run_s']:.0f} s)")
    finally:
        if args.keep_work:
            log(f"run.py: work dir kept: {cfg.work}")
        else:
            shutil.rmtree(cfg.work, ignore_errors=True)
    wall = time.monotonic() - started
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    medians = aggregate(runs, args.variants, args.scenarios, args.servers)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 benches/load/run.py" + "".join(" " + shlex.quote(a) for a in argv),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "variants": args.variants,
        "scenarios": args.scenarios,
        "servers": args.servers,
        "idle_conns": args.idle_conns,
        "churn_batch": args.churn_batch,
        "h2load_threads": args.h2load_threads,
        "wall_s": wall,
        "wall_min": wall / 60,
        "loadavg_start": load0,
        "index_bytes": cfg.index_bytes,
        "machine": machine_info(cfg),
    }
    result = {"meta": meta, "runs": runs, "medians": medians,
              "targets": {v: evaluate_targets(medians, v) for v in args.variants}}
    json_path = OUT_DIR / f"results-{stamp}.json"
    svg_path = OUT_DIR / f"results-{stamp}.svg"
    svg = svg_chart(medians, args.variants, args.scenarios, args.servers)
    svg_path.write_text(svg)
    if args.write_md:
        (HERE / "latest.svg").write_text(svg)
        meta["chart_md"] = "benches/load/latest.svg"
    json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    if args.write_md:
        (HERE / "latest.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    print()
    print(f"h2ring load harness, {meta['date']}: {meta['machine']['nproc']} vCPU {meta['machine']['cpu_model']}, "
          f"Linux {meta['machine']['kernel']}; {args.rounds} round{'s' if args.rounds != 1 else ''} × {args.duration:g} s; "
          f"{wall / 60:.1f} min")
    for title, header, rows in tables(medians, args.variants, args.scenarios, args.servers):
        print()
        print(title)
        print(text_table(header, rows))
    failures = [r for r in runs if not r.get("ok")]
    if failures:
        print()
        print(f"{len(failures)} failed runs:")
        for r in failures:
            print(f"  {r['variant']} r{r['round']} {r['scenario']} {r['server']}: {r.get('error')}")
    print()
    print(f"raw results: {json_path}")
    print(f"chart:       {svg_path}")
    if args.write_md and update_benchmarks_md(md_section(result)):
        print(f"updated:     {BENCHMARKS_MD} (between {MD_START} and {MD_END}), benches/load/latest.svg, latest.json")
    return 0 if not failures else 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        log(f"run.py: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("run.py: interrupted")
        sys.exit(130)
