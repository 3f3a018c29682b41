"""Where PostgreSQL's sub-stores differ from the shared SQL: what SQLite gets from one writer at a time.

SQLite's BEGIN IMMEDIATE makes every write transaction exclusive; PostgreSQL runs them side by
side (READ COMMITTED), so the few read-then-write steps take a lock first:
item ids are reserved under a row lock on their counter, ``apply`` holds an advisory lock per
feed while it re-checks which entries are stored, a digest's plan-and-claim holds one per
(watchlist, channel), and signatures are written one at a time so their ids appear in order.
``channel_summary`` avoids SQLite's bare columns beside MAX(). Everything else is the SQLite
backend's code on a PgDb.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.store.api import ApplyResult, ChannelSummary, DigestRecord, NewItem, SignatureRecord
from monitor.store.sqlite.items import SqliteItems
from monitor.store.sqlite.ledger import SqliteLedger
from monitor.store.sqlite.lsh import SqliteLsh

FEED_LOCK = 0x6E6D0000  # + feed id: the advisory lock key of one feed's ingest
NEARDUP_LOCK = 0x6E6D4C53  # held while a signature is written: ids then commit in their order


class PgItems(SqliteItems):
    def reserve_ids(self, n: int) -> int:
        with self.db.transaction():
            self.db.run("INSERT INTO meta(key, value) VALUES ('next_item_id', '1') ON CONFLICT (key) DO NOTHING")
            row = self.db.one("SELECT value FROM meta WHERE key='next_item_id' FOR UPDATE")
            top = self.db.one("SELECT COALESCE(MAX(id), 0) + 1 FROM items")[0]  # type: ignore[index]
            first = max(int(row[0]) if row else 1, int(top))
            self.db.run("UPDATE meta SET value=? WHERE key='next_item_id'", (str(first + n),))
        return first

    def apply(self, batch: Sequence[NewItem]) -> ApplyResult:
        with self.db.transaction():
            for feed_id in sorted({it.feed_id for it in batch}):
                self.db.one("SELECT pg_advisory_xact_lock(?)", (FEED_LOCK + feed_id,))
            return super().apply(batch)


class PgLedger(SqliteLedger):
    def pending(self, watchlist: str, channel: str) -> DigestRecord | None:
        """Inside a transaction (dispatch's plan-and-claim), first the lock of this (watchlist, channel):
        a second worker planning the same digest waits, then sees the first one's claim."""
        if self.db.in_transaction():  # type: ignore[attr-defined]
            self.db.one("SELECT pg_advisory_xact_lock(hashtext(?))", (f"digest {watchlist} {channel}",))
        return super().pending(watchlist, channel)

    def channel_summary(self) -> list[ChannelSummary]:
        failed = {(w, c): (e, a, n, at) for w, c, e, a, n, at in self.db.all(
            "SELECT DISTINCT ON (watchlist, channel) watchlist, channel, error, attempts, next_attempt, created "
            "FROM digests "
            "WHERE status='pending' AND error IS NOT NULL ORDER BY watchlist, channel, created DESC")}
        out = []
        for w, c, last in self.db.all("SELECT watchlist, channel, MAX(CASE WHEN status='sent' THEN created END) "
                                      "FROM digests GROUP BY watchlist, channel ORDER BY watchlist, channel"):
            e, a, n, at = failed.get((w, c), (None, 0, None, None))
            out.append(ChannelSummary(w, c, last, e, int(a or 0), n, at))
        return out


class PgLsh(SqliteLsh):
    def put(self, doc: SignatureRecord) -> tuple[int, SignatureRecord | None]:
        """One writer at a time: every worker's index reads new signatures by id (``ids_after`` a
        watermark), so an id must never become visible after a higher one."""
        with self.db.transaction():
            self.db.one("SELECT pg_advisory_xact_lock(?)", (NEARDUP_LOCK,))
            return super().put(doc)
