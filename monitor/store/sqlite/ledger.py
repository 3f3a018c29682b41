"""The delivery ledger: digests (pending, claimed, sent, failed), deliveries of items and of
stories, and what each watchlist was last applied with."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set as AbstractSet
from typing import Any

from monitor.store.api import ChannelSummary, DigestRecord, MatchedItem, NewDigest, RefusedDigest
from monitor.store.sqlite.base import Db, chunks, marks
from monitor.store.sqlite.items import STORED_COLS, stored_item

DIGEST_COLS = ("id, watchlist, channel, created, period_start, period_end, status, attempts, next_attempt, error, "
               "location, item_ids, claim, claim_until")
MATCHED_FROM = (f"SELECT {STORED_COLS}, m.score, m.why FROM matches m "
                "JOIN items ON items.id = m.item_id JOIN feeds ON feeds.id = items.feed_id")


def digest_record(row: Sequence[Any]) -> DigestRecord:
    r = list(row)
    r[11] = tuple(json.loads(r[11] or "[]"))
    return DigestRecord(*r)


def matched_item(row: Sequence[Any]) -> MatchedItem:
    return MatchedItem(stored_item(row[:-2]), float(row[-2]), tuple(json.loads(row[-1])))


class SqliteLedger:
    def __init__(self, db: Db) -> None:
        self.db = db

    # ---- what to send
    def undelivered(self, watchlist: str, channel: str) -> list[MatchedItem]:
        return [matched_item(r) for r in self.db.all(
            f"{MATCHED_FROM} WHERE m.watchlist = ? AND NOT EXISTS (SELECT 1 FROM deliveries d "
            "WHERE d.watchlist = m.watchlist AND d.channel = ? AND d.item_id = m.item_id) "
            "ORDER BY m.score DESC, items.id", (watchlist, channel))]

    def matched(self, watchlist: str, ids: Sequence[int]) -> list[MatchedItem]:
        out: list[MatchedItem] = []
        for chunk in chunks(list(dict.fromkeys(ids))):
            out += [matched_item(r) for r in self.db.all(
                f"{MATCHED_FROM} WHERE m.watchlist = ? AND m.item_id IN ({marks(len(chunk))})", (watchlist, *chunk))]
        return sorted(out, key=lambda m: (-m.score, m.item.id))

    def sent_stories(self, watchlist: str, channel: str) -> dict[int, tuple[frozenset[str], float]]:
        return {int(sid): (frozenset(filter(None, langs.split(","))), float(at)) for sid, langs, at in self.db.all(
            "SELECT story_id, languages, delivered_at FROM story_deliveries WHERE watchlist=? AND channel=?",
            (watchlist, channel))}

    def delivered_ids(self, watchlist: str) -> set[int]:
        return {int(r[0]) for r in self.db.all("SELECT DISTINCT item_id FROM deliveries WHERE watchlist=?",
                                               (watchlist,))}

    # ---- digests
    def pending(self, watchlist: str, channel: str) -> DigestRecord | None:
        r = self.db.one(f"SELECT {DIGEST_COLS} FROM digests WHERE watchlist=? AND channel=? AND status='pending' "
                        "ORDER BY id DESC LIMIT 1", (watchlist, channel))
        return None if r is None else digest_record(r)

    def last_sent_end(self, watchlist: str, channel: str) -> float | None:
        row = self.db.one("SELECT MAX(period_end) FROM digests WHERE watchlist=? AND channel=? AND status='sent'",
                          (watchlist, channel))
        return None if row is None or row[0] is None else float(row[0])

    def open(self, d: NewDigest) -> int:
        return self.db.run(
            "INSERT INTO digests(watchlist, channel, created, period_start, period_end, status, attempts, location, "
            "item_ids, claim, claim_until) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
            (d.watchlist, d.channel, d.created, d.period_start, d.created, d.location, json.dumps(list(d.item_ids)),
             d.claim, d.claim_until))

    def claim(self, digest_id: int, period_end: float, location: str, item_ids: Sequence[int], claim: str,
              claim_until: float) -> None:
        self.db.run("UPDATE digests SET period_end=?, item_ids=?, location=?, claim=?, claim_until=? WHERE id=?",
                    (period_end, json.dumps(list(item_ids)), location, claim, claim_until, digest_id))

    def supersede(self, digest_id: int) -> None:
        self.db.run("UPDATE digests SET status='failed', error='superseded', claim=NULL, claim_until=NULL WHERE id=?",
                    (digest_id,))

    def record_attempt(self, digest_id: int, attempts: int, next_attempt: float, error: str) -> None:
        """Delivery failed: the digest stays pending, unclaimed, until ``next_attempt``."""
        self.db.run("UPDATE digests SET attempts=?, next_attempt=?, error=?, claim=NULL, claim_until=NULL WHERE id=?",
                    (attempts, next_attempt, error[:500], digest_id))

    def refuse(self, watchlist: str, channel: str, digest_id: int, item_ids: Sequence[int], now: float,
               attempts: int, error: str) -> None:
        """The server refused the digest for good: ``failed-permanent``, its items recorded as handled
        on this channel (ledger rows pointing at the failed digest), the claim ended."""
        with self.db.transaction(durable=True):
            self.db.many("INSERT OR IGNORE INTO deliveries(watchlist, channel, item_id, digest_id, delivered_at) "
                         "VALUES (?, ?, ?, ?, ?)", [(watchlist, channel, i, digest_id, now) for i in item_ids])
            self.db.run("UPDATE digests SET status='failed-permanent', attempts=?, next_attempt=NULL, error=?, "
                        "claim=NULL, claim_until=NULL WHERE id=?", (attempts, error[:500], digest_id))

    def mark_sent(self, watchlist: str, channel: str, digest_id: int | None, item_ids: Sequence[int],
                  stories: Mapping[int, AbstractSet[str]], now: float) -> None:
        """The ledger rows of a delivered (or wholly suppressed) digest, in one durable transaction."""
        with self.db.transaction(durable=True):
            self.db.many("INSERT OR IGNORE INTO deliveries(watchlist, channel, item_id, digest_id, delivered_at) "
                         "VALUES (?, ?, ?, ?, ?)", [(watchlist, channel, i, digest_id, now) for i in item_ids])
            self.db.many(
                "INSERT INTO story_deliveries(watchlist, channel, story_id, languages, delivered_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(watchlist, channel, story_id)"
                " DO UPDATE SET languages=excluded.languages",
                [(watchlist, channel, sid, ",".join(sorted(langs)), now) for sid, langs in stories.items()])
            if digest_id is not None:
                self.db.run("UPDATE digests SET status='sent', error=NULL, next_attempt=NULL, claim=NULL, "
                            "claim_until=NULL WHERE id=?", (digest_id,))
            self.db.run("INSERT INTO watchlist_state(name, last_digest) VALUES (?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET last_digest=excluded.last_digest", (watchlist, now))

    def recent_sent(self, watchlist: str, channel: str, n: int) -> list[DigestRecord]:
        return [digest_record(r) for r in self.db.all(
            f"SELECT {DIGEST_COLS} FROM digests WHERE watchlist=? AND channel=? AND status='sent' "
            "ORDER BY id DESC LIMIT ?", (watchlist, channel, n))]

    def find(self, watchlist: str, channel: str, location: str) -> DigestRecord | None:
        r = self.db.one(f"SELECT {DIGEST_COLS} FROM digests WHERE watchlist=? AND channel=? AND location=? "
                        "ORDER BY id LIMIT 1", (watchlist, channel, location))
        return None if r is None else digest_record(r)

    def watchlists_with_pending(self, due_before: float | None = None) -> list[str]:
        if due_before is None:
            return [r[0] for r in self.db.all("SELECT DISTINCT watchlist FROM digests WHERE status='pending' "
                                              "ORDER BY watchlist")]
        return [r[0] for r in self.db.all("SELECT DISTINCT watchlist FROM digests WHERE status='pending' "
                                          "AND next_attempt <= ? ORDER BY watchlist", (due_before,))]

    def channel_summary(self) -> list[ChannelSummary]:
        failed = {(w, c): (e, a, n, at) for w, c, e, a, n, at in self.db.all(
            "SELECT watchlist, channel, error, attempts, next_attempt, MAX(created) FROM digests "
            "WHERE status='pending' AND error IS NOT NULL GROUP BY watchlist, channel")}
        out = []
        for w, c, last in self.db.all("SELECT watchlist, channel, MAX(CASE WHEN status='sent' THEN created END) "
                                      "FROM digests GROUP BY watchlist, channel ORDER BY watchlist, channel"):
            e, a, n, at = failed.get((w, c), (None, 0, None, None))
            out.append(ChannelSummary(w, c, last, e, int(a or 0), n, at))
        return out

    def refused_since(self, since: float, limit: int) -> list[RefusedDigest]:
        return [RefusedDigest(*r) for r in self.db.all(
            "SELECT watchlist, channel, error, created FROM digests WHERE status='failed-permanent' AND created > ? "
            "ORDER BY id DESC LIMIT ?", (since, limit))]

    # ---- watchlist state
    def applied_watchlists(self) -> dict[str, str | None]:
        return {name: fp for name, fp in self.db.all("SELECT name, fingerprint FROM watchlist_state")}

    def set_applied(self, name: str, fingerprint: str | None, now: float) -> None:
        self.db.run("INSERT INTO watchlist_state(name, fingerprint, last_rematch) VALUES (?, ?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET fingerprint=excluded.fingerprint, "
                    "last_rematch=excluded.last_rematch", (name, fingerprint, now))

    def purge(self, before: float) -> None:
        self.db.run("DELETE FROM digests WHERE created < ? AND status != 'pending'", (before,))
