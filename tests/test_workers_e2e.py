"""Two daemons on one PostgreSQL database: 20 feeds on 127.0.0.1, e-mail digests to a real SMTP
server (aiosmtpd); one daemon is killed with -9 and restarted, and every matching story is still
delivered exactly once (none lost, none twice, none that does not match)."""

from __future__ import annotations

import email
import email.policy
import os
import random
import re
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
from pgcluster import Database
from test_daemon import wait_until
from test_email_e2e import free_port, smtp_server

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
  formats: [email]
  recipients: [desk@example.org]
"""
FEEDS = 20
_SYL = "ka lo mi nu pe ri sa to vu ze dra gon tel mar bis cor fen hul".split()
_VOCAB = [a + b + c for a in _SYL for b in _SYL for c in _SYL]  # 5,832 made-up words


def item(n: int, word: str) -> dict[str, str]:
    """Report n: its own words only (no other word in common with any report but ``word``), so the
    story clustering keeps every report a story of its own; ``Bn{n}x`` names it in the digest."""
    w = random.Random(n).sample(_VOCAB, 10)
    return {"title": f"Bn{n}x {w[0]} {word} {w[1]} {w[2]}", "link": f"https://example.org/r/{n}",
            "guid": f"g{n}", "description": " ".join(w[3:]) + "."}


def _named(i: int) -> str:
    return rf"\bBn{i}x\b"


def _start(project: Any, db: Database) -> subprocess.Popen:
    env = dict(os.environ, MONITOR_LOG_LEVEL="INFO", MONITOR_LEASE_SECONDS="4", **db.env)
    env.pop("MONITOR_CONFIG", None)
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _registered(db: Database, pid: int) -> bool:
    with psycopg.connect(db.dsn) as conn:
        if conn.execute("SELECT to_regclass('workers')").fetchone()[0] is None:
            return False  # not migrated yet
        return conn.execute("SELECT 1 FROM workers WHERE pid = %s", (pid,)).fetchone() is not None


def _diagnose(db: Database, matching: set[int], text: str) -> str:
    """What the database says about the matching stories not delivered (for the failure message)."""
    missing = sorted(i for i in matching if not re.search(_named(i), text))
    with psycopg.connect(db.dsn) as conn:
        rows = conn.execute(
            "SELECT i.guid, i.duplicate_kind, i.story_id, m.watchlist, d.digest_id FROM items i "
            "LEFT JOIN matches m ON m.item_id = i.id LEFT JOIN deliveries d ON d.item_id = i.id "
            "WHERE i.guid = ANY(%s)", ([f"g{i}" for i in missing],)).fetchall()
        digests = conn.execute("SELECT id, status, claim, claim_until, error, attempts FROM digests "
                               "ORDER BY id DESC LIMIT 5").fetchall()
    return f"not delivered: {missing}\nrows: {rows}\nlast digests: {digests}"


def _bodies(messages: list[tuple[list[str], bytes]]) -> str:
    out = []
    for _, raw in messages:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        out.append(part.get_content() if part is not None else "")
    return "\n".join(out)


def test_two_workers_deliver_every_matching_story_once_while_one_is_killed(project, feed_server, pg_database):
    for p in (project.root / "watchlists").glob("*.yaml"):
        p.unlink()
    (project.root / "watchlists" / "parade-alerts.yaml").write_text(WATCHLIST, encoding="utf-8")
    items: dict[int, list[dict]] = {f: [] for f in range(FEEDS)}
    n = 0
    matching: set[int] = set()

    def publish(round_: int) -> None:
        nonlocal n
        for f in range(FEEDS):
            n += 1
            word = "parade" if n % 3 else "harvest"  # two in three match
            if word == "parade":
                matching.add(n)
            items[f].append(item(n, word))
            feed_server.routes[f"/f{f}.xml"] = Route(rss(items[f]), etag=f'"{f}-{round_}"')

    publish(0)
    port = free_port()
    project.write_config([{"name": f"Wire {f}", "url": feed_server.url(f"/f{f}.xml"), "interval": "1s"}
                          for f in range(FEEDS)],
                         database=pg_database.url, translation={"enabled": False},
                         smtp={"host": "127.0.0.1", "port": port, "security": "none",
                               "from": "News Monitor <monitor@example.org>"})
    rng = random.Random(18)
    with smtp_server(port) as sink:
        a, b = _start(project, pg_database), _start(project, pg_database)
        try:
            time.sleep(4)
            for round_ in range(1, 4):
                wait_until(lambda pid=b.pid: _registered(pg_database, pid), timeout=60, step=0.2)
                publish(round_)
                time.sleep(rng.uniform(0.5, 2.0))
                b.send_signal(signal.SIGKILL)  # mid-cycle: polls and deliveries in flight
                b.wait(timeout=10)
                publish(round_ + 10)
                time.sleep(rng.uniform(1.0, 3.0))
                b = _start(project, pg_database)

            def delivered_all() -> bool:
                text = _bodies(sink.messages)
                return all(re.search(_named(i), text) for i in matching)

            try:
                wait_until(delivered_all, timeout=120, step=0.5)
            except AssertionError:
                raise AssertionError(_diagnose(pg_database, matching, _bodies(sink.messages))) from None
            time.sleep(3)  # anything sent twice would arrive by now
            with psycopg.connect(pg_database.dsn) as conn:
                workers = conn.execute("SELECT COUNT(*) FROM workers").fetchone()[0]
                stored = conn.execute("SELECT COUNT(*) FROM items i JOIN feeds f ON f.id = i.feed_id "
                                      "WHERE f.url != 'seeds:'").fetchone()[0]
            status = project.cli("status", env=pg_database.env).stdout
        finally:
            for p in (a, b):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in (a, b):
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        text = _bodies(sink.messages)
    assert stored == n  # every report stored once
    for i in range(1, n + 1):
        times = len(re.findall(_named(i), text))
        assert times == (1 if i in matching else 0), f"report {i} delivered {times} times"
    # every worker that ran is listed (the killed ones until their heartbeat is old), the live two too
    assert workers == 5
    assert re.search(r"^workers: \d+ alive", status, re.M), status
    for p in (a, b):
        assert re.search(rf"^  [^:]+:{p.pid}:\w+ \(all\): heartbeat \d+s ago, \d+ feed lease\(s\)", status, re.M), status


def test_the_worker_unit_is_the_service_unit_but_for_its_directories_and_password() -> None:
    """systemd/news-monitor-worker@.service keeps every hardening line of news-monitor.service."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "systemd"
    main = [ln for ln in (root / "news-monitor.service").read_text().splitlines() if not ln.startswith("#")]
    worker = [ln for ln in (root / "news-monitor-worker@.service").read_text().splitlines() if not ln.startswith("#")]
    differ = {"Description", "StateDirectory", "CacheDirectory", "WorkingDirectory", "Environment", "LoadCredential"}
    assert [ln for ln in main if ln.split("=", 1)[0] not in differ] == \
        [ln for ln in worker if ln.split("=", 1)[0] not in differ]
    assert "LoadCredential=database-password:/etc/news-monitor/database-password" in worker
    assert "StateDirectory=news-monitor-worker-%i" in worker


def test_two_run_once_at_once_never_poll_one_feed_twice(project, feed_server, pg_database):
    """`monitor run --once` on a shared store takes feed leases like the daemon: two started together
    split the feeds (each fetched once, each report stored once), and say which the other polled."""
    feeds = 6
    for f in range(feeds):
        feed_server.routes[f"/s{f}.xml"] = Route(rss([item(1000 + f, "parade")]), delay=2.5)
    project.use_postgres(pg_database)
    project.write_config([{"name": f"Slow {f}", "url": feed_server.url(f"/s{f}.xml")} for f in range(feeds)],
                         translation={"enabled": False}, fetch={"timeout": "8s", "concurrency": 1,
                                                                "allow_private_networks": True})
    project.cli("check")  # creates nothing; the schema comes with the first run
    env = dict(os.environ, **pg_database.env)
    env.pop("MONITOR_CONFIG", None)
    runs = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run", "--once"],
                             cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in runs]
    for p, (_out, err) in zip(runs, outs):
        assert p.returncode == 0, err[-3000:]
    for f in range(feeds):
        assert len(feed_server.hits_for(f"/s{f}.xml")) == 1, f"feed {f} fetched twice"
    table = "\n".join(o for o, _ in outs)
    assert len(re.findall(r"^Slow \d .* ok$", table, re.M)) == feeds, table
    assert len(re.findall(r"^Slow \d .* just polled by another worker$", table, re.M)) == feeds, table
    with psycopg.connect(pg_database.dsn) as conn:
        stored = conn.execute("SELECT COUNT(*) FROM items i JOIN feeds f ON f.id = i.feed_id "
                              "WHERE f.url != 'seeds:'").fetchone()[0]
        left = conn.execute("SELECT COUNT(*) FROM workers").fetchone()[0]
    assert stored == feeds
    assert left == 0  # each run unregistered itself (its leases free at once)
