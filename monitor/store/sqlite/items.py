"""Items, their exact-duplicate fingerprints and their watchlist matches.

Every per-batch lookup searches an index (``per_batch_queries`` lists them for the query-plan
test): ``kind = ? AND value IN (...)`` rather than ``(kind, value) IN (VALUES ...)``, which
SQLite 3.40 runs as a full scan.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from monitor.store.api import (
    SEED_FEED_URL,
    WAITING_FOR_WORKER,
    ApplyResult,
    ItemRef,
    MatchRecord,
    NewItem,
    StoredItem,
    TranslationGroup,
)
from monitor.store.sqlite.base import Db, chunks, marks

ITEM_COLS = [f.name for f in fields(NewItem) if f.name not in ("fingerprints", "matches")]
STORED_COLS = ", ".join([f"items.{f.name}" for f in fields(StoredItem)
                         if f.name not in ("feed_name", "feed_url", "feed_title")]
                        + ["feeds.name", "feeds.url", "feeds.title"])
STORED_FROM = f"SELECT {STORED_COLS} FROM items JOIN feeds ON feeds.id = items.feed_id"
MATCH_COLS = "item_id, watchlist, score, why, matched_at"

FINGERPRINT_LOOKUP_SQL = "SELECT value, item_id FROM fingerprints WHERE kind=? AND value IN ({marks})"
GUID_LOOKUP_SQL = "SELECT guid FROM items WHERE feed_id=? AND guid IN ({marks})"
GUID_FINGERPRINT_SQL = "SELECT value FROM fingerprints WHERE kind='guid' AND value IN ({marks})"
REFS_SQL = "SELECT id, story_id, guid FROM items WHERE id IN ({marks})"
# waiting for a model (stored untranslated because no installed model served the language) or for
# a translation-only worker (WAITING_FOR_WORKER)
WAITING_SQL = ("(items.translation_status LIKE 'unavailable: no model%' "
               "OR items.translation_status LIKE 'unavailable: model %' "
               f"OR items.translation_status = '{WAITING_FOR_WORKER}')")


def per_batch_queries() -> dict[str, str]:
    """The queries ingest runs once per batch, with two placeholders in each IN list
    (tests check their query plans: each must search an index, never scan a big table)."""
    m = "?,?"
    return {"lookup_fingerprints": FINGERPRINT_LOOKUP_SQL.format(marks=m),
            "existing_guids/items": GUID_LOOKUP_SQL.format(marks=m),
            "existing_guids/fingerprints": GUID_FINGERPRINT_SQL.format(marks=m),
            "stories_of": REFS_SQL.format(marks=m)}


def stored_item(row: Sequence[Any]) -> StoredItem:
    r = list(row)
    r[13] = bool(r[13])  # language_uncertain
    return StoredItem(*r)


def match_record(row: Sequence[Any]) -> MatchRecord:
    return MatchRecord(int(row[0]), row[1], float(row[2]), tuple(json.loads(row[3])), float(row[4]))


def guid_key(feed_id: int, guid: str) -> str:
    """The ``guid`` fingerprint of an entry: outlives the item's purge."""
    return f"{feed_id} {guid}"


class SqliteItems:
    def __init__(self, db: Db) -> None:
        self.db = db

    # ---- ingest
    def known_guids(self, feed_id: int, guids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(list(dict.fromkeys(guids))):
            m = marks(len(chunk))
            found.update(r[0] for r in self.db.all(GUID_LOOKUP_SQL.format(marks=m), (feed_id, *chunk)))
            found.update(r[0].split(" ", 1)[1] for r in self.db.all(GUID_FINGERPRINT_SQL.format(marks=m),
                                                                     [guid_key(feed_id, g) for g in chunk]))
        return found

    def lookup_fingerprints(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, value in dict.fromkeys(keys):
            by_kind.setdefault(kind, []).append(value)
        for kind, values in by_kind.items():
            for chunk in chunks(values):
                for value, item_id in self.db.all(FINGERPRINT_LOOKUP_SQL.format(marks=marks(len(chunk))),
                                                  (kind, *chunk)):
                    out[(kind, value)] = int(item_id)
        return out

    def reserve_ids(self, n: int) -> int:
        """Ids are never reused, not even after retention purged the newest items: the ledger and
        the fingerprints refer to them."""
        with self.db.transaction():
            row = self.db.one("SELECT value FROM meta WHERE key='next_item_id'")
            top = self.db.one("SELECT COALESCE(MAX(id), 0) + 1 FROM items")[0]  # type: ignore[index]
            first = max(int(row[0]) if row else 1, int(top))
            self.db.run("INSERT INTO meta(key, value) VALUES ('next_item_id', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (str(first + n),))
        return first

    def apply(self, batch: Sequence[NewItem]) -> ApplyResult:
        """Items, fingerprints and matches in one transaction; an entry (feed, guid) that is stored
        already (by another process since the caller looked) is skipped, never stored twice."""
        stored: list[int] = []
        skipped: list[str] = []
        cols = ", ".join(ITEM_COLS)
        insert = f"INSERT INTO items({cols}) VALUES ({marks(len(ITEM_COLS))})"
        with self.db.transaction():
            by_feed: dict[int, list[str]] = {}
            for it in batch:
                by_feed.setdefault(it.feed_id, []).append(it.guid)
            known = {(f, g) for f, guids in by_feed.items() for g in self.known_guids(f, guids)}
            rows: list[list[Any]] = []
            keys: list[tuple[str, str, int, float]] = []
            matches: list[MatchRecord] = []
            for it in batch:
                if (it.feed_id, it.guid) in known:
                    skipped.append(it.guid)
                    continue
                known.add((it.feed_id, it.guid))
                rows.append([int(v) if isinstance(v, bool) else v for v in (getattr(it, c) for c in ITEM_COLS)])
                own = (*it.fingerprints, ("guid", guid_key(it.feed_id, it.guid)))
                keys += [(k, v, it.id, it.fetched) for k, v in own]
                matches += it.matches
                stored.append(it.id)
            self.db.many(insert, rows)
            self.db.many("INSERT OR IGNORE INTO fingerprints(kind, value, item_id, first_seen) VALUES (?, ?, ?, ?)",
                         keys)
            self.save_matches(matches)
        return ApplyResult(tuple(stored), tuple(skipped))

    def refs(self, ids: Sequence[int]) -> dict[int, ItemRef]:
        out: dict[int, ItemRef] = {}
        for chunk in chunks(list(dict.fromkeys(ids))):
            for item_id, story_id, guid in self.db.all(REFS_SQL.format(marks=marks(len(chunk))), chunk):
                out[int(item_id)] = ItemRef(story_id, guid)
        return out

    # ---- reading
    def list(self, *, since: float | None = None, watchlist: str | None = None, ids: Sequence[int] | None = None,
             seeds: bool = True, exact_duplicates: bool = True) -> list[StoredItem]:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("items.fetched >= ?")
            args.append(since)
        if watchlist is not None:
            where.append("items.id IN (SELECT item_id FROM matches WHERE watchlist=?)")
            args.append(watchlist)
        if not seeds:
            where.append("feeds.url != ?")
            args.append(SEED_FEED_URL)
        if not exact_duplicates:
            where.append("(items.duplicate_kind IS NULL OR items.duplicate_kind NOT IN ('url', 'content'))")
        q = STORED_FROM + (" WHERE " + " AND ".join(where) if where else "")
        if ids is None:
            return [stored_item(r) for r in self.db.all(q + " ORDER BY items.id", args)]
        out: list[StoredItem] = []
        for chunk in chunks(list(dict.fromkeys(ids))):
            cond = f"items.id IN ({marks(len(chunk))})"
            out += [stored_item(r) for r in self.db.all(q + (" AND " if where else " WHERE ") + cond, [*args, *chunk])]
        return sorted(out, key=lambda i: i.id)

    def count(self, *, seeds: bool = False) -> int:
        q = "SELECT COUNT(*) FROM items"
        if not seeds:
            q += " WHERE feed_id NOT IN (SELECT id FROM feeds WHERE url=?)"
            return int(self.db.one(q, (SEED_FEED_URL,))[0])  # type: ignore[index]
        return int(self.db.one(q)[0])  # type: ignore[index]

    # ---- matches
    def matches_for(self, ids: Sequence[int]) -> dict[int, builtins.list[MatchRecord]]:
        out: dict[int, list[MatchRecord]] = {}
        for chunk in chunks(list(dict.fromkeys(ids))):
            for r in self.db.all(f"SELECT {MATCH_COLS} FROM matches WHERE item_id IN ({marks(len(chunk))}) "
                                 "ORDER BY item_id, watchlist", chunk):
                m = match_record(r)
                out.setdefault(m.item_id, []).append(m)
        return out

    def save_matches(self, matches: Sequence[MatchRecord]) -> None:
        if matches:
            self.db.many(f"INSERT INTO matches({MATCH_COLS}) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT(item_id, watchlist) DO UPDATE SET score=excluded.score, why=excluded.why",
                         [(m.item_id, m.watchlist, m.score, json.dumps(list(m.why), ensure_ascii=False), m.matched_at)
                          for m in matches])

    def matched_ids(self, watchlist: str) -> set[int]:
        return {int(r[0]) for r in self.db.all("SELECT item_id FROM matches WHERE watchlist=?", (watchlist,))}

    def watchlist_names(self) -> set[str]:
        return {r[0] for r in self.db.all("SELECT DISTINCT watchlist FROM matches")}

    def drop_match(self, item_id: int, watchlist: str) -> None:
        self.db.run("DELETE FROM matches WHERE item_id=? AND watchlist=?", (item_id, watchlist))

    def latest_matched(self, watchlist: str, limit: int) -> builtins.list[int]:
        return [int(r[0]) for r in self.db.all(
            "SELECT m.item_id FROM matches m JOIN items ON items.id = m.item_id WHERE m.watchlist = ? "
            "AND (items.duplicate_kind IS NULL OR items.duplicate_kind != 'seed') "
            "ORDER BY COALESCE(items.published, items.fetched) DESC, items.id DESC LIMIT ?", (watchlist, limit))]

    # ---- stories and re-translation
    def heads_others(self, item_id: int) -> bool:
        return self.db.one("SELECT 1 FROM items WHERE story_id=? AND id<>? LIMIT 1", (item_id, item_id)) is not None

    def waiting_translation(self) -> builtins.list[TranslationGroup]:
        return [TranslationGroup(lang, script, int(n)) for lang, script, n in self.db.all(
            f"SELECT language, language_script, COUNT(*) FROM items WHERE {WAITING_SQL} "
            "GROUP BY language, language_script ORDER BY language, language_script")]

    def waiting_items(self, language: str | None, script: str | None, limit: int) -> builtins.list[StoredItem]:
        return [stored_item(r) for r in self.db.all(
            f"{STORED_FROM} WHERE {WAITING_SQL} AND items.language IS ? AND items.language_script IS ? "
            "ORDER BY items.id LIMIT ?", (language, script, limit))]

    def set_translation(self, item_id: int, title: str | None, summary: str | None, translated_to: str | None,
                        status: str) -> None:
        self.db.run("UPDATE items SET title_translated=?, summary_translated=?, translated_to=?, translation_status=? "
                    "WHERE id=?", (title, summary, translated_to, status, item_id))

    def set_translation_status(self, item_id: int, status: str) -> None:
        self.db.run("UPDATE items SET translation_status=? WHERE id=?", (status, item_id))

    def set_duplicate(self, item_id: int, duplicate_of: int, kind: str, similarity: float, seed: str | None,
                      story_id: int | None) -> None:
        self.db.run("UPDATE items SET duplicate_of=?, duplicate_kind=?, duplicate_similarity=?, duplicate_seed=?, "
                    "story_id=? WHERE id=?", (duplicate_of, kind, similarity, seed, story_id, item_id))

    # ---- retention
    def purge(self, older_than: float) -> int:
        """Items fetched before ``older_than`` with their matches (inside the caller's transaction);
        fingerprints stay."""
        ids = [int(r[0]) for r in self.db.all("SELECT id FROM items WHERE fetched < ?", (older_than,))]
        for chunk in chunks(ids):
            m = marks(len(chunk))
            self.db.run(f"DELETE FROM matches WHERE item_id IN ({m})", chunk)
            self.db.run(f"DELETE FROM items WHERE id IN ({m})", chunk)
        return len(ids)
