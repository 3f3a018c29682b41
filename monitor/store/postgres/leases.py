"""Several workers on one database: who is alive (heartbeats), who polls which feed (leases).

A worker registers itself and beats its heartbeat; ``claim_feeds`` hands it due feeds that no
live lease holds, with ``FOR UPDATE SKIP LOCKED`` so two workers claiming at the same moment
never get the same feed and never wait for each other. A lease lasts ``lease`` seconds and is
renewed while its worker polls; a worker killed with -9 renews nothing, so its feeds are
claimable again once its leases run out. ``claim_task`` is the same for jobs that must run
once across all workers (retention, reload): a named lease. ``claim_translations`` hands a
translation-only worker items waiting for a translation the same way (``translation_claims``), so
two translation workers never translate one item.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.store.api import StoredItem
from monitor.store.postgres.base import PgDb
from monitor.store.sqlite.items import STORED_FROM, WAITING_SQL, stored_item

FORGET_AFTER = 7 * 86400  # a worker silent this long is dropped from the list when another registers

@dataclass(frozen=True)
class WorkerRow:
    """A registered worker and its leases (for ``monitor status``)."""

    id: str
    host: str
    pid: int
    role: str
    started: float
    heartbeat: float
    feeds: int  # feed leases it holds now


@dataclass(frozen=True)
class FeedLease:
    feed_id: int
    worker: str
    until: float


class PgLeases:
    def __init__(self, db: PgDb) -> None:
        self.db = db

    # ---- workers
    def register(self, worker: str, host: str, pid: int, role: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.run("DELETE FROM workers WHERE heartbeat < ?", (now - FORGET_AFTER,))  # long gone
        self.db.run("INSERT INTO workers(id, host, pid, role, started, heartbeat) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO UPDATE SET host=excluded.host, pid=excluded.pid, role=excluded.role, "
                    "started=excluded.started, heartbeat=excluded.heartbeat", (worker, host, pid, role, now, now))

    def heartbeat(self, worker: str, lease: float, now: float | None = None) -> int:
        """Beat ``worker``'s heartbeat and extend the leases it holds; returns how many it holds."""
        now = time.time() if now is None else now
        with self.db.transaction():
            self.db.run("UPDATE workers SET heartbeat=? WHERE id=?", (now, worker))
            rows = self.db.all("UPDATE feed_leases SET until=? WHERE worker=? AND until >= ? RETURNING feed_id",
                               (now + lease, worker, now))
            self.db.run("UPDATE translation_claims SET until=? WHERE worker=? AND until >= ?",
                        (now + lease, worker, now))
        return len(rows)

    def unregister(self, worker: str) -> None:
        """A clean stop: the worker's leases are free at once."""
        with self.db.transaction():
            self.db.run("DELETE FROM feed_leases WHERE worker=?", (worker,))
            self.db.run("DELETE FROM task_leases WHERE worker=?", (worker,))
            self.db.run("DELETE FROM translation_claims WHERE worker=?", (worker,))
            self.db.run("DELETE FROM workers WHERE id=?", (worker,))

    def workers(self) -> list[WorkerRow]:
        return [WorkerRow(w, h, int(p), r, float(s), float(b), int(n)) for w, h, p, r, s, b, n in self.db.all(
            "SELECT w.id, w.host, w.pid, w.role, w.started, w.heartbeat, "
            "(SELECT COUNT(*) FROM feed_leases l WHERE l.worker = w.id AND l.until >= ?) "
            "FROM workers w ORDER BY w.started, w.id", (time.time(),))]

    # ---- feeds
    def claim_feeds(self, worker: str, limit: int, lease: float, now: float | None = None,
                    feed_ids: Sequence[int] | None = None, fetched_before: float | None = None) -> list[int]:
        """Up to ``limit`` due feeds (``next_poll`` passed) that no live lease of another worker holds,
        leased to ``worker`` for ``lease`` seconds; ``feed_ids`` narrows the choice. With
        ``fetched_before`` (``monitor run --once``: when it started) a feed is also "due" when it was
        not fetched since then, whatever its ``next_poll``."""
        now = time.time() if now is None else now
        only = ""
        due = "f.next_poll <= ?"
        args: list[object] = [now]
        if fetched_before is not None:
            due = "(f.next_poll <= ? OR f.last_fetch IS NULL OR f.last_fetch < ?)"
            args.append(fetched_before)
        args += [worker, now]
        if feed_ids is not None:
            if not feed_ids:
                return []
            only = f" AND f.id IN ({','.join('?' * len(feed_ids))})"
            args += list(feed_ids)
        args.append(limit)
        with self.db.transaction():
            ids = [int(r[0]) for r in self.db.all(
                "SELECT f.id FROM feeds f LEFT JOIN feed_leases l ON l.feed_id = f.id "
                f"WHERE {due} AND (l.feed_id IS NULL OR l.worker = ? OR l.until < ?)" + only +
                " ORDER BY f.next_poll, f.id LIMIT ? FOR UPDATE OF f SKIP LOCKED", args)]
            # the upsert re-checks against the newest committed lease: a worker whose snapshot predates
            # another's claim of the same feed gets nothing for it
            got = [row for i in ids if (row := self.db.one(
                "INSERT INTO feed_leases(feed_id, worker, until) VALUES (?, ?, ?) "
                "ON CONFLICT (feed_id) DO UPDATE SET worker=excluded.worker, until=excluded.until "
                "WHERE feed_leases.worker = excluded.worker OR feed_leases.until < ? RETURNING feed_id",
                (i, worker, now + lease, now))) is not None]
        return [int(r[0]) for r in got]

    def release_feed(self, worker: str, feed_id: int) -> None:
        self.db.run("DELETE FROM feed_leases WHERE feed_id=? AND worker=?", (feed_id, worker))

    def feed_leases(self) -> list[FeedLease]:
        return [FeedLease(int(f), w, float(u)) for f, w, u in self.db.all(
            "SELECT feed_id, worker, until FROM feed_leases ORDER BY feed_id")]

    # ---- items waiting for a translation
    def claim_translations(self, worker: str, language: str | None, script: str | None, limit: int,
                           lease: float, now: float | None = None) -> list[StoredItem]:
        """Up to ``limit`` items in ``language``/``script`` waiting for a translation (oldest first) that
        no live claim of another worker holds, claimed by ``worker`` for ``lease`` seconds."""
        now = time.time() if now is None else now
        with self.db.transaction():
            ids = [int(r[0]) for r in self.db.all(
                "SELECT items.id FROM items LEFT JOIN translation_claims c ON c.item_id = items.id "
                f"WHERE {WAITING_SQL} AND items.language IS ? AND items.language_script IS ? "
                "AND (c.item_id IS NULL OR c.worker = ? OR c.until < ?) "
                "ORDER BY items.id LIMIT ? FOR UPDATE OF items SKIP LOCKED",
                (language, script, worker, now, limit))]
            got = [int(row[0]) for i in ids if (row := self.db.one(
                "INSERT INTO translation_claims(item_id, worker, until) VALUES (?, ?, ?) "
                "ON CONFLICT (item_id) DO UPDATE SET worker=excluded.worker, until=excluded.until "
                "WHERE translation_claims.worker = excluded.worker OR translation_claims.until < ? "
                "RETURNING item_id", (i, worker, now + lease, now))) is not None]
            if not got:
                return []
            rows = self.db.all(f"{STORED_FROM} WHERE items.id IN ({','.join('?' * len(got))}) ORDER BY items.id", got)
        return [stored_item(r) for r in rows]

    def release_translations(self, worker: str, item_ids: Sequence[int]) -> None:
        if item_ids:
            marks = ",".join("?" * len(item_ids))
            self.db.run(f"DELETE FROM translation_claims WHERE worker=? AND item_id IN ({marks})", (worker, *item_ids))

    # ---- jobs that run once across the workers
    def claim_task(self, worker: str, name: str, lease: float, now: float | None = None) -> bool:
        """True when ``worker`` holds the task ``name`` now (it had it, or it was free or expired)."""
        now = time.time() if now is None else now
        row = self.db.one("INSERT INTO task_leases(name, worker, until) VALUES (?, ?, ?) "
                          "ON CONFLICT (name) DO UPDATE SET worker=excluded.worker, until=excluded.until "
                          "WHERE task_leases.worker = excluded.worker OR task_leases.until < ? RETURNING worker",
                          (name, worker, now + lease, now))
        return row is not None

    def release_task(self, worker: str, name: str) -> None:
        self.db.run("DELETE FROM task_leases WHERE name=? AND worker=?", (name, worker))
