"""The real daemon as a subprocess: sd_notify over a real socket, signals, hot reload, SIGKILL."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.support.feedserver import Route, rss

WATCHLIST = """\
name: parade-alerts
title: Parade alerts
query:
  any:
    - parade
digest:
  schedule: "0 8 * * *"
  mode: immediate
  formats: [markdown]
"""


_SYLLABLES = "ka lo mi nu pe ri sa to vu ze dra gon tel mar bis cor fen hul".split()
_WORDS = [a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "n", "s")]  # 972 made-up words


def item(n: int, word: str = "parade") -> dict[str, str]:
    """A distinct story per n (distinct vocabulary, so near-duplicate detection keeps them apart)."""
    r = random.Random(n)
    w = r.sample(_WORDS, 8)  # from ~1,000 words: two stories share almost none
    return {"title": f"Story {n}: {w[0]} {word} {w[1]} {w[2]}",
            "link": f"https://example.org/story/{n}", "guid": f"g{n}",
            "description": f"{w[3]} {w[4]} {w[5]} {w[6]} {w[7]} report {n * 7919} {word}."}


class Notify:
    """The systemd side of sd_notify: a datagram socket the daemon writes to."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []

    def wait_for(self, needle: str, timeout: float = 20.0, after: int = 0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self.messages[after:]:
                if needle in m:
                    return m
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                pass
        raise AssertionError(f"no {needle!r} in {self.messages[after:]}")

    def drain(self) -> None:
        try:
            while True:
                self.messages.append(self.sock.recv(4096).decode())
        except TimeoutError:
            pass

    def close(self) -> None:
        self.sock.close()


def start(project, notify: Notify | None, watchdog_usec: int | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("MONITOR_CONFIG", None)
    if notify is not None:
        env["NOTIFY_SOCKET"] = str(notify.path)
    if watchdog_usec:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    env["MONITOR_LOG_LEVEL"] = "INFO"
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(pred, timeout: float = 20.0, step: float = 0.1) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise AssertionError("condition not met in time")


def setup(project, feed_server, items: list[dict], interval: str = "1s") -> None:
    for p in (project.root / "watchlists").glob("*.yaml"):
        p.unlink()
    (project.root / "watchlists" / "parade-alerts.yaml").write_text(WATCHLIST, encoding="utf-8")
    feed_server.routes["/f.xml"] = Route(rss(items), etag='"v1"')
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": interval}],
                         translation={"enabled": False})


def digest_text(project) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in project.digests("parade-alerts"))


def test_daemon_lifecycle_notify_reload_stop(project, feed_server, tmp_path):
    setup(project, feed_server, [item(1), item(2)])
    # several feeds at short intervals, one of them failing
    feed_server.routes["/g.xml"] = Route(rss([item(101), item(102, word="convoy")]), etag='"g1"')
    feed_server.routes["/h.xml"] = Route(b"down", status=503, content_type="text/plain",
                                         headers={"Retry-After": "1"})
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "1s"},
                          {"name": "Gazette", "url": feed_server.url("/g.xml"), "interval": "2s"},
                          {"name": "Broken", "url": feed_server.url("/h.xml"), "interval": "1s"}],
                         translation={"enabled": False}, fetch={"timeout": "3s", "backoff_base": "1s",
                                                                "allow_private_networks": True})
    notify = Notify(tmp_path / "notify.sock")
    proc = start(project, notify, watchdog_usec=1_000_000)
    try:
        t0 = time.monotonic()
        try:
            notify.wait_for("READY=1")
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()[1][-3000:]) from None
        assert time.monotonic() - t0 < 15
        # feeds are polled in any order: wait for both feeds' stories
        wait_until(lambda: "Story 101" in digest_text(project) and "Story 1:" in digest_text(project))
        first = digest_text(project)
        assert "Story 2:" in first and "Story 102" not in first
        notify.wait_for("STATUS=")
        notify.wait_for("WATCHDOG=1")

        # a new item is polled and alerted once; old ones are not sent again
        feed_server.routes["/f.xml"] = Route(rss([item(1), item(2), item(3)]), etag='"v2"')
        wait_until(lambda: "Story 3" in digest_text(project))
        text = digest_text(project)
        assert text.count("Story 1:") == 1 and text.count("Story 3:") == 1 and text.count("Story 101:") == 1

        # SIGHUP: RELOADING=1 then READY=1
        mark = len(notify.messages)
        proc.send_signal(signal.SIGHUP)
        notify.wait_for("RELOADING=1", after=mark)
        notify.wait_for("READY=1", after=mark + 1)

        # monitor status reads the running daemon's state
        st = project.cli("status").stdout
        assert "daemon: running" in st and "items stored: 5" in st
        assert "failing: Broken" in st and "HTTP 503" in st

        # SIGTERM: STOPPING=1 and exit 0 within a few seconds
        proc.send_signal(signal.SIGTERM)
        t1 = time.monotonic()
        rc = proc.wait(timeout=15)
        assert rc == 0, proc.stderr.read()
        assert time.monotonic() - t1 < 8
        notify.drain()
        assert any("STOPPING=1" in m for m in notify.messages)
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
    assert len(project.items()) == 5
    feeds = {f["name"]: f for f in json.loads(project.cli("feeds", "--json").stdout)}
    assert feeds["Broken"]["consecutive_failures"] >= 1 and feeds["Broken"]["status"] == 503
    assert feeds["Gazette"]["items"] == 2


def test_watchlist_hot_reload_and_broken_edit_keeps_old(project, feed_server, tmp_path):
    items = [item(1), item(2, word="convoy")]
    setup(project, feed_server, items)
    proc = start(project, None)
    try:
        wait_until(lambda: "Story 1" in digest_text(project))
        assert "Story 2" not in digest_text(project)
        wl = project.root / "watchlists" / "parade-alerts.yaml"
        # a broken edit: reported, the old version keeps working
        wl.write_text(WATCHLIST.replace("    - parade", "    - {regex: '(unclosed'}"), encoding="utf-8")
        time.sleep(4)
        feed_server.routes["/f.xml"] = Route(rss(items + [item(3)]), etag='"v2"')
        wait_until(lambda: "Story 3" in digest_text(project))
        # a good edit: re-applied to stored items, the new match is delivered once, old ones not again
        wl.write_text(WATCHLIST.replace("    - parade", "    - parade\n    - convoy"), encoding="utf-8")
        wait_until(lambda: "Story 2" in digest_text(project), timeout=30)
        text = digest_text(project)
        assert text.count("Story 1:") == 1 and text.count("Story 2:") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=15)
    err = proc.stderr.read()
    assert rc == 0
    assert "parade-alerts.yaml" in err and "watchlist not reloaded" in err


def test_sigkill_during_polls_and_digests_loses_nothing_and_sends_nothing_twice(project, feed_server, tmp_path):
    rng = random.Random(7)
    n = 0
    items: list[dict] = []
    setup(project, feed_server, items)
    for round_ in range(6):
        for _ in range(5):
            n += 1
            items.append(item(n))
        feed_server.routes["/f.xml"] = Route(rss(items), etag=f'"r{round_}"')
        proc = start(project, None)
        time.sleep(rng.uniform(1.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # a last clean run delivers whatever was pending
    proc = start(project, None)
    try:
        wait_until(lambda: f"Story {n}:" in digest_text(project), timeout=30)
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    db = project.root / "state" / "monitor.db"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    guids = {r[0] for r in conn.execute("SELECT guid FROM items")}
    conn.close()
    assert {f"g{i}" for i in range(1, n + 1)} <= guids
    text = digest_text(project)
    for i in range(1, n + 1):
        assert len(re.findall(rf"Story {i}:", text)) == 1, f"Story {i} appears {text.count(f'Story {i}:')} times"


def test_missed_digest_slot_runs_once_at_start(project, feed_server, tmp_path):
    setup(project, feed_server, [item(1)])
    wl = project.root / "watchlists" / "parade-alerts.yaml"
    wl.write_text(WATCHLIST.replace("mode: immediate", "mode: digest"), encoding="utf-8")
    project.cli("run", "--once")  # stores the item and writes the first digest
    assert len(project.digests("parade-alerts")) == 1
    feed_server.routes["/f.xml"] = Route(rss([item(1), item(2)]), etag='"v2"')
    # pretend the daemon last ran its digest three days ago: three 08:00 slots were missed
    conn = sqlite3.connect(project.root / "state" / "monitor.db")
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('digest_run:parade-alerts', ?)",
                 (str(time.time() - 3 * 86400),))
    conn.commit()
    conn.close()
    proc = start(project, None)
    try:
        wait_until(lambda: len(project.digests("parade-alerts")) >= 2, timeout=30)
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    files = project.digests("parade-alerts")
    assert len(files) == 2  # one catch-up digest, not three
    assert "Story 2" in files[-1].read_text(encoding="utf-8")
