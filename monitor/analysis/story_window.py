"""The story window's evidence in memory: candidate and term-weight lookups without SQL per item.

:class:`StoryWindow` mirrors what :class:`monitor.analysis.story.StoryIndex` writes to the
store (``story_docs``, ``story_terms``, ``story_df``) for the recent reports only: each key's
postings (item ids), each item's story, time and keys, and each day's term counts. It covers
every report published at or after :attr:`StoryWindow.horizon` (``keep`` seconds before the
latest one) and every day from :attr:`StoryWindow.first_day` on; a lookup reaching further
back answers ``None`` and the caller asks the store, which keeps everything.

It is loaded from the store on first use (one scan), kept up to date with what this process
adds, and catches up with what other processes stored by reading items with higher ids
(:meth:`StoryWindow.catch_up`, the way the near-duplicate band index does). Reports that fall
out of the window are evicted as newer ones arrive, so memory stays bounded by the window.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable, Sequence

from monitor.store.api import StoryDoc, StoryStore

__all__ = ["StoryWindow"]

DAY = 86400.0
EVICT_EVERY = 2048  # adds between two eviction passes
NEG_INF = float("-inf")


class StoryWindow:
    def __init__(self, docs: StoryStore, keep: float,
                 keys_of: Callable[[StoryDoc], tuple[Sequence[str], Sequence[str]]]) -> None:
        """``keep``: seconds of reports held before the latest; ``keys_of``: a stored item's
        (candidate keys, counted terms), as the writer indexed them."""
        self.docs = docs
        self.keep = keep
        self.keys_of = keys_of
        self.loaded = False
        self.horizon = NEG_INF  # every report published at/after this is held
        self.first_day = NEG_INF  # every day from this one on is counted
        self.latest = NEG_INF
        self.watermark = 0  # highest item id read back from the store
        self.items: dict[int, tuple[float, int, tuple[str, ...]]] = {}  # item -> (at, story, keys)
        self.postings: dict[str, list[int]] = {}
        self.days: dict[int, dict[str, int]] = {}  # day -> term -> reports
        self._adds = 0
        self._mine: set[int] = set()  # added by this process since the last catch-up

    # ---- loading and catching up -----------------------------------------------------------
    def load(self) -> None:
        """Read the window from the store (once; later calls catch up)."""
        if self.loaded:
            self.catch_up()
            return
        self.loaded = True
        self.watermark = max(self.docs.ids_after(0)[-1:] or [0])
        latest = self.docs.latest_at()
        if latest is not None:
            self.latest = latest
            self.horizon = latest - self.keep
            self.first_day = float(int(self.horizon // DAY))
            for term, day, n in self.docs.day_counts(int(self.first_day)):
                self.days.setdefault(day, {})[sys.intern(term)] = n
            for d in self.docs.since(self.horizon):
                self._index(d.item_id, d.story_id, d.at, self.keys_of(d)[0])

    def catch_up(self) -> list[StoryDoc]:
        """Add what other processes stored since the last look; returns those documents."""
        new = self.docs.ids_after(self.watermark)
        if not new:
            return []
        self.watermark = new[-1]
        mine, self._mine = self._mine, set()
        todo = [i for i in new if i not in self.items and i not in mine]
        if not todo:
            return []
        docs = self.docs.docs(todo)
        for d in docs:
            keys, terms = self.keys_of(d)
            self.add(d.item_id, d.story_id, d.at, keys, terms)
        return docs

    # ---- changes -----------------------------------------------------------------------------
    def add(self, item_id: int, story_id: int, at: float, keys: Sequence[str], terms: Iterable[str]) -> None:
        """Record a report as the store did (``terms`` counted on its day)."""
        if not self.loaded:
            return  # loaded from the store on first use, this report with it
        self._mine.add(item_id)
        day = int(at // DAY)
        if day >= self.first_day:
            counts = self.days.setdefault(day, {})
            for t in terms:
                counts[t] = counts.get(t, 0) + 1
        if at >= self.horizon:
            self._index(item_id, story_id, at, keys)
        self._adds += 1
        if self._adds >= EVICT_EVERY:
            self._adds = 0
            self.evict()

    def _index(self, item_id: int, story_id: int, at: float, keys: Sequence[str]) -> None:
        intern = sys.intern
        old = self.items.get(item_id)
        if old is not None:  # re-indexed: the store keeps the old keys too (INSERT OR IGNORE)
            keys = tuple(dict.fromkeys((*old[2], *keys)))
            for k in old[2]:
                self.postings[k].remove(item_id)
        ks = tuple(intern(k) for k in dict.fromkeys(keys))
        self.items[item_id] = (at, story_id, ks)
        for k in ks:
            self.postings.setdefault(k, []).append(item_id)
        if at > self.latest:
            self.latest = at

    def evict(self) -> None:
        """Drop reports published more than ``keep`` before the latest one, and their days."""
        horizon = self.latest - self.keep
        if horizon <= self.horizon:
            return
        gone = {i for i, (at, _, _) in self.items.items() if at < horizon}
        touched: set[str] = set()
        for i in gone:
            touched.update(self.items.pop(i)[2])
        for k in touched:
            kept = [i for i in self.postings[k] if i not in gone]
            if kept:
                self.postings[k] = kept
            else:
                del self.postings[k]
        self.horizon = horizon
        self.first_day = float(int(horizon // DAY))
        for day in [d for d in self.days if d < self.first_day]:
            del self.days[day]

    # ---- lookups -----------------------------------------------------------------------------
    def term_counts(self, terms: Sequence[str], first_day: int, last_day: int) -> dict[str, int] | None:
        """As ``StoryStore.term_counts``; None when ``first_day`` is before the days held."""
        if first_day < self.first_day:
            return None
        out: dict[str, int] = {}
        days = [c for d in range(first_day, last_day + 1) if (c := self.days.get(d))]
        for t in terms:
            n = 0
            for c in days:
                n += c.get(t, 0)
            if n:
                out[t] = n
        return out

    def candidates(self, keys: Sequence[str], lo: float, hi: float, limit: int
                   ) -> list[tuple[int, int, float]] | None:
        """As ``StoryStore.candidates`` ((item, story, at), most shared keys first, then the newest);
        None when ``lo`` is before the reports held."""
        if lo < self.horizon:
            return None
        hits: dict[int, int] = {}
        get = hits.get
        items = self.items
        for k in dict.fromkeys(keys):
            for i in self.postings.get(k, ()):
                at = items[i][0]
                if lo <= at <= hi:
                    hits[i] = get(i, 0) + 1
        best = heapq.nsmallest(limit, hits, key=lambda i: (-hits[i], -i))
        return [(i, items[i][1], items[i][0]) for i in best]
