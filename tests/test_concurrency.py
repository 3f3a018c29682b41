"""Issue 17: slow channels off the database thread, one daemon per state, two processes on one
database, indexed per-batch queries, connections reused across feeds. Real servers on 127.0.0.1."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from test_daemon import Notify, item, start, wait_until

from monitor.delivery.channels import DeliveryError, SmtpSettings, post_webhook, send_email
from monitor.store.sqlite.base import connect
from monitor.store.sqlite.items import per_batch_queries
from tests.support.faultserver import DrippingWebhook, SmtpTarpit
from tests.support.feedserver import FeedServer, Route, rss

ALERTS = """\
name: parade-alerts
title: Parade alerts
query:
  any:
    - parade
digest:
  schedule: "0 8 * * *"
  mode: {mode}
  formats: [{formats}]
  recipients: [desk@example.org]
  webhook: {webhook}
"""


def write_watchlist(project, formats: str, webhook: str = "http://127.0.0.1:9/none", mode: str = "immediate"):
    for p in (project.root / "watchlists").glob("*.yaml"):
        p.unlink()
    (project.root / "watchlists" / "parade-alerts.yaml").write_text(
        ALERTS.format(formats=formats, webhook=webhook, mode=mode), encoding="utf-8")


def stored_guids(project) -> set[str]:
    db = project.root / "state" / "monitor.db"
    if not db.exists():
        return set()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in conn.execute("SELECT guid FROM items")}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def digest_text(project) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in project.digests("parade-alerts"))


# ---- whole-operation deadlines -------------------------------------------------------------------

def test_webhook_deadline_bounds_the_whole_call():
    hook = DrippingWebhook(gap=1.0).start()
    try:
        t0 = time.monotonic()
        with pytest.raises(DeliveryError) as e:
            post_webhook(hook.url, {"x": 1}, timeout=5.0, deadline=2.0)  # each byte comes well within 5 s
        assert time.monotonic() - t0 < 4.5
        assert e.value.transient and "within 2 s" in str(e.value)
    finally:
        hook.stop()


def test_smtp_deadline_bounds_the_whole_session():
    pit = SmtpTarpit(gap=1.0).start()
    try:
        settings = SmtpSettings(host="127.0.0.1", port=pit.port, security="none", username=None,
                                from_addr="monitor@example.org", timeout=5.0, deadline=2.0)
        from email.message import EmailMessage

        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "monitor@example.org", "desk@example.org", "x"
        msg.set_content("x")
        t0 = time.monotonic()
        with pytest.raises(DeliveryError) as e:
            send_email(msg, settings)
        assert time.monotonic() - t0 < 4.5
        assert e.value.transient and "within 2 s" in str(e.value)
    finally:
        pit.stop()


# ---- the daemon with a dripping webhook and an SMTP tarpit ---------------------------------------

def test_dripping_webhook_and_smtp_tarpit_delay_neither_storing_nor_sigterm(project, feed_server, tmp_path):
    hook = DrippingWebhook(gap=3.0).start()
    pit = SmtpTarpit(gap=3.0).start()
    write_watchlist(project, "markdown, email, webhook", webhook=hook.url)
    feed_server.routes["/f.xml"] = Route(rss([item(1)]), etag='"v1"')
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "1s"}],
                         translation={"enabled": False},
                         smtp={"host": "127.0.0.1", "port": pit.port, "security": "none",
                               "from": "monitor@example.org"})
    notify = Notify(tmp_path / "notify.sock")
    proc = start(project, notify, watchdog_usec=1_000_000)
    try:
        try:
            notify.wait_for("READY=1")
        except AssertionError:
            proc.kill()
            raise AssertionError(proc.communicate()[1][-3000:]) from None
        wait_until(lambda: "Story 1:" in digest_text(project))
        wait_until(lambda: hook.connections >= 1 and pit.connections >= 1)  # both channels now stuck
        # new stories keep being stored (and the markdown channel keeps delivering) meanwhile
        feed_server.routes["/f.xml"] = Route(rss([item(1), item(2), item(3)]), etag='"v2"')
        t0 = time.monotonic()
        wait_until(lambda: {"g2", "g3"} <= stored_guids(project), timeout=15)
        wait_until(lambda: "Story 3:" in digest_text(project), timeout=15)
        assert time.monotonic() - t0 < 15
        mark = len(notify.messages)
        notify.wait_for("WATCHDOG=1", after=mark, timeout=5)  # the watchdog sees real progress
        assert hook.connections >= 1 and pit.connections >= 1
        proc.send_signal(signal.SIGTERM)
        t1 = time.monotonic()
        rc = proc.wait(timeout=15)
        assert time.monotonic() - t1 < 10, "SIGTERM must stop the daemon within TimeoutStopSec"
        err = proc.stderr.read()
        assert rc == 0, err[-3000:]
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
        hook.stop()
        pit.stop()


def test_wedged_database_thread_stops_watchdog_pings(project, feed_server, tmp_path):
    write_watchlist(project, "markdown")
    feed_server.routes["/f.xml"] = Route(rss([item(1)]), etag='"v1"')
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "1s"}],
                         translation={"enabled": False})
    notify = Notify(tmp_path / "notify.sock")
    proc = start(project, notify, watchdog_usec=1_000_000)
    blocker = None
    try:
        notify.wait_for("READY=1")
        notify.wait_for("WATCHDOG=1")
        # another process holds the write lock: the next write on the database thread waits (busy_timeout)
        blocker = sqlite3.connect(project.root / "state" / "monitor.db", isolation_level=None, timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")
        time.sleep(7)  # longer than the stall limit (5 s): pings stop
        notify.drain()
        mark = len(notify.messages)
        time.sleep(3)
        notify.drain()
        assert not any("WATCHDOG=1" in m for m in notify.messages[mark:]), "pings went on with a wedged database"
        blocker.execute("ROLLBACK")
        notify.wait_for("WATCHDOG=1", after=mark, timeout=10)  # progress again: pings again
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if blocker is not None:
            blocker.close()
        if proc.poll() is None:
            proc.kill()
        notify.close()


# ---- two processes, one database ------------------------------------------------------------------

def test_second_daemon_refuses_to_start_naming_the_first(project, feed_server, tmp_path):
    write_watchlist(project, "markdown")
    feed_server.routes["/f.xml"] = Route(rss([item(1)]), etag='"v1"')
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "1s"}],
                         translation={"enabled": False})
    notify = Notify(tmp_path / "notify.sock")
    first = start(project, notify)
    try:
        notify.wait_for("READY=1")
        wait_until(lambda: "Story 1:" in digest_text(project))
        second = start(project, None)
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert f"another news-monitor daemon (pid {first.pid}) is already running" in err
        assert "Traceback" not in err
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=15) == 0
        notify.close()
    # the lock goes with the process: a new daemon starts
    notify = Notify(tmp_path / "notify2.sock")
    third = start(project, notify)
    try:
        notify.wait_for("READY=1")
    finally:
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=15) == 0
        notify.close()
    assert digest_text(project).count("Story 1:") == 1


class _Sink:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


@contextmanager
def smtp_sink() -> Iterator[tuple[_Sink, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def test_two_run_once_together_mail_every_story_exactly_once(project, feed_server):
    write_watchlist(project, "email", mode="digest")
    stories = [item(n) for n in range(1, 13)]
    feed_server.routes["/a.xml"] = Route(rss(stories[:6]), etag='"a"')
    feed_server.routes["/b.xml"] = Route(rss(stories[6:]), etag='"b"')
    with smtp_sink() as (sink, port):
        project.write_config([{"name": "Wire A", "url": feed_server.url("/a.xml")},
                              {"name": "Wire B", "url": feed_server.url("/b.xml")}],
                             translation={"enabled": False},
                             smtp={"host": "127.0.0.1", "port": port, "security": "none",
                                   "from": "monitor@example.org"})
        cmd = [sys.executable, "-m", "monitor", "--config", str(project.config), "run", "--once"]
        procs = [subprocess.Popen(cmd, cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=240) for p in procs]
        for p, (out, err) in zip(procs, outs):
            assert p.returncode == 0, out[-2000:] + err[-3000:]
            assert "Traceback" not in err and "IntegrityError" not in err, err[-3000:]
        texts = [message_from_bytes(m, policy=policy.default).get_body(("plain",)).get_content()
                 for m in sink.messages]
    assert texts, "no digest was mailed"
    everything = "\n".join(texts)
    for n in range(1, 13):
        assert everything.count(f"Story {n}:") == 1, f"Story {n} mailed {everything.count(f'Story {n}:')} times"
    assert len(stored_guids(project) & {f"g{n}" for n in range(1, 13)}) == 12


# ---- costs that do not grow -----------------------------------------------------------------------

def test_per_batch_queries_search_an_index(tmp_path):
    conn = connect(tmp_path / "m.db")
    try:
        for name, sql in per_batch_queries().items():
            args = [1] * sql.count("?")
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
            for table in ("items", "fingerprints"):
                assert f"SCAN {table}" not in plan, f"{name} scans {table}: {plan}"
            assert "SEARCH" in plan, f"{name}: {plan}"
    finally:
        conn.close()


class _CountingServer(FeedServer):
    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    def get_request(self):  # one per accepted TCP connection
        self.connections += 1
        return super().get_request()


def test_one_client_reuses_connections_across_feeds(project):
    srv = _CountingServer().start()
    try:
        write_watchlist(project, "markdown")
        feeds = []
        for n in range(20):
            srv.routes[f"/f{n}.xml"] = Route(rss([item(1000 + n)]), etag=f'"e{n}"')
            feeds.append({"name": f"Feed {n}", "url": srv.url(f"/f{n}.xml")})
        project.write_config(feeds, translation={"enabled": False})
        project.cli("run", "--once")
        before = srv.connections
        project.cli("run", "--once")  # every feed answers 304 Not Modified
        second = srv.connections - before
        assert len([h for h in srv.hits if h.headers.get("if-none-match")]) == 20
        # at most per_host (2) connections to the one host, not one per request
        assert second <= 4, f"{second} connections for 20 requests to one host"
    finally:
        srv.stop()


def test_stalled_model_download_does_not_stop_polling(project, feed_server, tmp_path, monkeypatch):
    index = DrippingWebhook(gap=3.0).start()  # the Argos package index answers a byte every 3 s
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", f"http://127.0.0.1:{index.port}/")
    write_watchlist(project, "markdown")
    feed_server.routes["/f.xml"] = Route(rss([item(1)]), etag='"v1"')
    project.write_config([{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "1s"}],
                         translation={"enabled": True, "pairs": ["ru-en"], "install_missing": True})
    notify = Notify(tmp_path / "notify.sock")
    proc = start(project, notify)
    try:
        notify.wait_for("READY=1")
        wait_until(lambda: index.connections >= 1)  # the download has started, and stalls
        wait_until(lambda: "Story 1:" in digest_text(project))
        feed_server.routes["/f.xml"] = Route(rss([item(1), item(2)]), etag='"v2"')
        wait_until(lambda: "Story 2:" in digest_text(project), timeout=15)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        assert proc.wait(timeout=15) == 0
        assert time.monotonic() - t0 < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        notify.close()
        index.stop()


def test_plain_http_never_loads_certificates_https_is_still_verified():
    import asyncio

    from monitor.config import FetchSettings
    from monitor.ingest.fetch import Fetcher

    srv = FeedServer().start()
    try:
        srv.routes["/f.xml"] = Route(rss([item(1)]), etag='"e"')
        https_url = srv.url("/f.xml").replace("http://", "https://")  # TLS to a plain-HTTP port

        async def go():
            async with Fetcher(FetchSettings(timeout=5.0, allow_private_networks=True)) as f:
                plain = await f.fetch(srv.url("/f.xml"))
                lazy = f._tls is None  # no verifying client (CA bundle) was needed so far
                tls = await f.fetch(https_url)
                return plain, lazy, tls, f._tls is not None

        plain, lazy, tls, made = asyncio.run(go())
        assert plain.ok and plain.body and lazy
        assert tls.error_kind == "tls" and made  # https goes through the verifying client
    finally:
        srv.stop()
