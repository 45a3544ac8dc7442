#!/usr/bin/env python3
"""Real-browser check: headless Chromium against a running h2ring.

Opens the index (and a post) over TLS with an empty profile, checks each
page's <title> and that performance.getEntriesByType('navigation')[0]
.nextHopProtocol is "h2", and saves a PNG screenshot of each. Chromium is
driven over the DevTools protocol on --remote-debugging-pipe (JSON messages,
NUL-terminated, commands on fd 3, responses and events on fd 4); Python 3
standard library only.

    python3 tests/browser.py --url https://127.0.0.1:PORT/ \\
        [--expect-title-contains TEXT] \\
        [--post-url URL] [--post-title-contains TEXT] \\
        [--out target/browser/PREFIX]

Without --post-url the first link to /posts/ on the index (with text) is
opened, and the post's title must contain that link's text (or
--post-title-contains); an index without such a link fails. Writes PREFIX-index.png,
PREFIX-index-mobile.png (420 px wide) and PREFIX-post.png; prints one line
per check ("ok   browser: ..." or "FAIL browser: ...") and exits 1 if any
failed.

A missing Chromium (Debian package `chromium`) is skipped with a loud
message and exit 0, and fails (exit 1) when CI is set. Every step is bounded
by --timeout (60 s overall); Chromium, the process this script starts, is
always killed and its temporary profile removed.
"""

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

DESKTOP = (1280, 900)
MOBILE = (420, 900)
MAX_SHOT_HEIGHT = 8000  # CSS px; a longer page is cut here


class Failed(Exception):
    """A check or a protocol step failed; the message says which."""


class Chromium:
    """One headless Chromium with a fresh profile, driven over the pipe."""

    def __init__(self, binary, timeout):
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.next_id = 0
        self.buf = b""
        self.events = []
        self.proc = None
        self.profile = tempfile.mkdtemp(prefix="h2ring-chromium-")
        self.log = tempfile.TemporaryFile(prefix="h2ring-chromium-log-")
        # Pipe ends for the child are moved to fds >= 5 so that placing them
        # on 3 and 4 in the child cannot clobber one with the other.
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        child_in = fcntl.fcntl(to_r, fcntl.F_DUPFD_CLOEXEC, 5)
        child_out = fcntl.fcntl(from_w, fcntl.F_DUPFD_CLOEXEC, 5)
        os.close(to_r)
        os.close(from_w)
        self.wfd, self.rfd = to_w, from_r

        def child_fds():
            # dup2 clears close-on-exec: Chromium inherits exactly these two
            # (every fd this script opened is close-on-exec, PEP 446).
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--ignore-certificate-errors",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
            "about:blank",
        ]
        try:
            # close_fds=False: pass_fds would close 3 and 4 after preexec_fn.
            # A new session makes Chromium's helpers one process group, ours.
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=self.log,
                close_fds=False,
                preexec_fn=child_fds,
                start_new_session=True,
            )
        except OSError as e:
            self.close()
            raise Failed(f"cannot start {binary}: {e}") from e
        finally:
            os.close(child_in)
            os.close(child_out)

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failed(f"overall timeout ({self.timeout:g} s) reached")
        return left

    def _read_message(self, until, what):
        """The next message from Chromium, or None when `until` passes."""
        while True:
            nul = self.buf.find(b"\0")
            if nul >= 0:
                raw, self.buf = self.buf[:nul], self.buf[nul + 1 :]
                return json.loads(raw)
            wait = min(until, self.deadline) - time.monotonic()
            if wait <= 0:
                if time.monotonic() >= self.deadline:
                    raise Failed(f"overall timeout ({self.timeout:g} s) reached waiting for {what}")
                return None
            ready, _, _ = select.select([self.rfd], [], [], wait)
            if ready:
                chunk = os.read(self.rfd, 1 << 20)
                if not chunk:
                    raise Failed(f"Chromium closed the DevTools pipe (exit status {self.proc.poll()})")
                self.buf += chunk

    def send(self, method, params=None, session=None, timeout=20):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            _, ready, _ = select.select([], [self.wfd], [], self.remaining())
            if ready:
                data = data[os.write(self.wfd, data) :]
        until = time.monotonic() + timeout
        while True:
            reply = self._read_message(until, f"the reply to {method}")
            if reply is None:
                raise Failed(f"no reply to {method} within {timeout} s")
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failed(f"{method}: {reply['error'].get('message', reply['error'])}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method, session, timeout):
        until = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["method"] == method and ev.get("sessionId") == session:
                    del self.events[i]
                    return ev.get("params", {})
            msg = self._read_message(until, method)
            if msg is None:
                raise Failed(f"no {method} within {timeout} s")
            if "method" in msg:
                self.events.append(msg)

    def log_tail(self, lines=15):
        try:
            self.log.seek(0)
            text = [
                line
                for line in self.log.read().decode(errors="replace").splitlines()
                if "dbus/" not in line  # no session bus in a container: noise
            ]
            return "\n".join("    " + line for line in text[-lines:])
        except OSError:
            return ""

    def close(self):
        """Stop Chromium (ours: its PID, then its process group) and clean up."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.deadline = time.monotonic() + 3
                    self.send("Browser.close", timeout=2)
                except (Failed, OSError, ValueError):
                    pass
                try:
                    self.proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            # Helpers (zygote, renderer, ...) left behind die with the group.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for fd in (self.wfd, self.rfd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)
        self.log.close()


PAGE_FACTS = """JSON.stringify((() => {
  const nav = performance.getEntriesByType('navigation')[0] || {};
  const post = [...document.querySelectorAll('a[href^="/posts/"]')].find(a => a.textContent.trim()) ||
    document.querySelector('a[href^="/posts/"]');
  return {
    href: location.href,
    ready: document.readyState,
    title: document.title,
    protocol: nav.nextHopProtocol === undefined ? null : nav.nextHopProtocol,
    status: nav.responseStatus === undefined ? null : nav.responseStatus,
    post: post ? {href: post.href, text: post.textContent.trim().replace(/\\s+/g, ' ')} : null,
  };
})())"""


def open_page(cr, url, size, mobile, shot):
    """Loads url in a new tab of `size`, saves a screenshot, returns its facts."""
    target = cr.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cr.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    cr.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile},
        session,
    )
    cr.send("Page.enable", session=session)
    cr.events = [e for e in cr.events if e.get("sessionId") != session]
    nav = cr.send("Page.navigate", {"url": url}, session, timeout=30)
    if nav.get("errorText"):
        raise Failed(f"{url}: navigation failed: {nav['errorText']}")
    cr.wait_event("Page.loadEventFired", session, timeout=30)
    facts = {}
    for _ in range(50):  # the load event of this navigation, not a stale one
        res = cr.send("Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True}, session)
        if "exceptionDetails" in res:
            raise Failed(f"{url}: evaluating the page facts: {res['exceptionDetails'].get('text')}")
        facts = json.loads(res["result"]["value"])
        if facts["ready"] == "complete" and facts["href"] != "about:blank":
            break
        time.sleep(0.1)
    else:
        raise Failed(f"{url}: not loaded: {facts}")
    metrics = cr.send("Page.getLayoutMetrics", session=session)
    content = metrics.get("cssContentSize") or metrics.get("contentSize")
    full = max(int(content["height"]), size[1])
    height = min(full, MAX_SHOT_HEIGHT)
    png = cr.send(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": height, "scale": 1},
        },
        session,
        timeout=30,
    )["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    cut = f", cut from {full} px" if full > height else ""
    facts["screenshot"] = f"{shot} ({size[0]}x{height}{cut})"
    # Not in a `finally`: after a failure the whole browser goes.
    cr.send("Target.closeTarget", {"targetId": target})
    return facts


def become_subreaper():
    """Orphaned Chromium helpers are re-parented to this process, not to
    init, so that close() can reap them (a container's init may not)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def own_children():
    pids = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                pids.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return pids


def reap_orphans(grace=1.0, timeout=3.0):
    """Reaps what is left of Chromium (crashpad handlers live in their own
    session, outside the process group); after `grace` seconds the rest is
    killed. Only this script's own children: Chromium is all it starts, and
    an unreaped child's PID cannot have been reused."""
    started = time.monotonic()
    killed = False
    while time.monotonic() - started < timeout:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if not killed and time.monotonic() - started >= grace:
            for child in own_children():
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed = True
        time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the index, e.g. https://127.0.0.1:8443/")
    ap.add_argument("--expect-title-contains", default="", help="the index's <title> must contain this")
    ap.add_argument("--post-url", help="a post to open [default: the first /posts/ link on the index]")
    ap.add_argument("--post-title-contains", help="the post's <title> must contain this [default: the link's text]")
    ap.add_argument("--out", default="target/browser/page", help="screenshot path prefix [default: %(default)s]")
    ap.add_argument("--timeout", type=float, default=60, help="seconds for everything [default: %(default)s]")
    ap.add_argument(
        "--chromium",
        default=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        help="the browser [default: $CHROMIUM or %(default)s]",
    )
    opts = ap.parse_args()

    if not (os.path.isfile(opts.chromium) and os.access(opts.chromium, os.X_OK)):
        msg = f"{opts.chromium} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            print(f"FAIL browser: {msg}")
            return 1
        print(f"SKIPPED: {msg}; the headless browser check did not run", file=sys.stderr)
        return 0

    def terminated(*_):
        raise Failed("terminated by SIGTERM")

    # SIGTERM (e.g. from `timeout`) fails the run through the cleanup below.
    signal.signal(signal.SIGTERM, terminated)
    os.makedirs(os.path.dirname(opts.out) or ".", exist_ok=True)
    for name in ("index", "post", "index-mobile"):  # none left from an earlier run
        try:
            os.remove(f"{opts.out}-{name}.png")
        except FileNotFoundError:
            pass
    become_subreaper()
    started = time.monotonic()
    checks = []

    def check(ok, what):
        print(f"{'ok  ' if ok else 'FAIL'} browser: {what}", flush=True)
        checks.append(ok)

    def note(what):
        print(f"     browser: {what}", flush=True)

    def check_page(name, facts, want_title):
        check(facts["status"] in (None, 200), f"{name}: HTTP status {facts['status']}")
        if want_title:
            check(want_title in facts["title"], f"{name}: title {facts['title']!r} contains {want_title!r}")
        else:
            check(facts["title"] != "", f"{name}: title {facts['title']!r} is not empty")
        check(facts["protocol"] == "h2", f"{name}: nextHopProtocol {facts['protocol']!r} is 'h2'")
        note(f"{name}: screenshot {facts['screenshot']}")

    cr = None
    try:
        cr = Chromium(opts.chromium, opts.timeout)
        version = cr.send("Browser.getVersion", timeout=30)
        note(f"{version.get('product')}, pid {cr.proc.pid}, {opts.url}")
        index = open_page(cr, opts.url, DESKTOP, False, f"{opts.out}-index.png")
        post_url, post_title = opts.post_url, opts.post_title_contains
        if not post_url and index["post"]:
            post_url = index["post"]["href"]
            if post_title is None:
                post_title = index["post"]["text"]
        check_page("index", index, opts.expect_title_contains)
        if post_url:
            if not post_title:
                check(False, f"post {post_url}: no title to expect (empty link text; pass --post-title-contains)")
            else:
                post = open_page(cr, urllib.parse.urljoin(opts.url, post_url), DESKTOP, False, f"{opts.out}-post.png")
                check_page(f"post {urllib.parse.urlsplit(post['href']).path}", post, post_title)
        else:
            check(False, "the index links no /posts/ page")
        mobile = open_page(cr, opts.url, MOBILE, True, f"{opts.out}-index-mobile.png")
        check(mobile["protocol"] == "h2", f"index at {MOBILE[0]} px: nextHopProtocol {mobile['protocol']!r} is 'h2'")
        note(f"index at {MOBILE[0]} px: screenshot {mobile['screenshot']}")
    except (Failed, OSError, KeyError, ValueError) as e:
        check(False, str(e))
        tail = cr.log_tail() if cr else ""
        if tail:
            note(f"Chromium's last output:\n{tail}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the cleanup finish
        if cr:
            cr.close()
        reap_orphans()

    took = time.monotonic() - started
    failed = checks.count(False)
    note(f"{len(checks) - failed} of {len(checks)} checks passed in {took:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
