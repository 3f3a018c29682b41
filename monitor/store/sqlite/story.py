"""Story evidence (``story_*``): each item's evidence, term postings by time, term counts by day."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from monitor.store.api import StoryDoc
from monitor.store.sqlite.base import Db, chunks, marks

DAY = 86400


class SqliteStory:
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, doc: StoryDoc, keys: Sequence[str], terms: Sequence[str]) -> None:
        """``keys`` index the item for candidates; ``terms`` (with '' for the report itself) are
        counted on its publication day."""
        self.add_many([(doc, keys, terms)])

    def add_many(self, rows: Sequence[tuple[StoryDoc, Sequence[str], Sequence[str]]]) -> None:
        """Several :meth:`add` in one transaction: each table written by one statement, each
        (term, day) counted once for the batch."""
        if not rows:
            return
        per_day: Counter[tuple[str, int]] = Counter()
        for doc, _, terms in rows:
            day = int(doc.at // DAY)
            per_day.update((t, day) for t in terms)
        with self.db.transaction():
            self.db.many("INSERT OR REPLACE INTO story_docs(item_id, story_id, at, evidence) VALUES (?, ?, ?, ?)",
                         [(d.item_id, d.story_id, d.at, d.evidence) for d, _, _ in rows])
            self.db.many("INSERT OR IGNORE INTO story_terms(term, at, item_id) VALUES (?, ?, ?)",
                         [(k, d.at, d.item_id) for d, keys, _ in rows for k in keys])
            self.db.many("INSERT INTO story_df(term, day, n) VALUES (?, ?, ?) "
                         "ON CONFLICT(term, day) DO UPDATE SET n = n + excluded.n",
                         [(t, day, n) for (t, day), n in per_day.items()])

    def term_counts(self, terms: Sequence[str], first_day: int, last_day: int) -> dict[str, int]:
        if not terms:
            return {}
        return {t: int(n) for t, n in self.db.all(
            f"SELECT term, SUM(n) FROM story_df WHERE term IN ({marks(len(terms))}) AND day BETWEEN ? AND ? "
            "GROUP BY term", (*terms, first_day, last_day))}

    def candidates(self, keys: Sequence[str], lo: float, hi: float, limit: int) -> list[StoryDoc]:
        """Items published in [lo, hi] sharing most of ``keys``."""
        if not keys:
            return []
        return [StoryDoc(int(i), int(s), float(t), e) for i, s, t, e in self.db.all(
            f"SELECT d.item_id, d.story_id, d.at, d.evidence FROM story_docs d JOIN ("
            f" SELECT item_id, COUNT(*) AS hits FROM story_terms"
            f" WHERE term IN ({marks(len(keys))}) AND at BETWEEN ? AND ?"
            f" GROUP BY item_id ORDER BY hits DESC, item_id DESC LIMIT ?) c ON c.item_id = d.item_id",
            (*keys, lo, hi, limit))]

    def get(self, item_id: int) -> StoryDoc | None:
        r = self.db.one("SELECT item_id, story_id, at, evidence FROM story_docs WHERE item_id = ?", (item_id,))
        return None if r is None else StoryDoc(int(r[0]), int(r[1]), float(r[2]), r[3])

    def docs(self, item_ids: Sequence[int]) -> list[StoryDoc]:
        """The evidence of several items (those indexed)."""
        out: list[StoryDoc] = []
        for chunk in chunks(list(item_ids)):
            out += [StoryDoc(int(i), int(s), float(t), e) for i, s, t, e in self.db.all(
                f"SELECT item_id, story_id, at, evidence FROM story_docs WHERE item_id IN ({marks(len(chunk))})",
                chunk)]
        return out

    def ids_after(self, after: int) -> list[int]:
        """Items indexed with an id above ``after``, in id order (to catch up with other writers)."""
        return [int(r[0]) for r in self.db.all(
            "SELECT item_id FROM story_docs WHERE item_id > ? ORDER BY item_id", (after,))]

    def since(self, at: float) -> list[StoryDoc]:
        """Every item published at or after ``at`` (a one-off scan, to load a window into memory)."""
        return [StoryDoc(int(i), int(s), float(t), e) for i, s, t, e in self.db.all(
            "SELECT item_id, story_id, at, evidence FROM story_docs WHERE at >= ?", (at,))]

    def latest_at(self) -> float | None:
        """The latest publication time indexed, None when nothing is."""
        r = self.db.one("SELECT MAX(at) FROM story_docs")
        return None if r is None or r[0] is None else float(r[0])

    def day_counts(self, first_day: int) -> list[tuple[str, int, int]]:
        """(term, day, reports) of every day from ``first_day`` on (a one-off scan)."""
        return [(t, int(d), int(n)) for t, d, n in self.db.all(
            "SELECT term, day, n FROM story_df WHERE day >= ?", (first_day,))]
