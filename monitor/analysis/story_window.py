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

Each key's postings are in time order, so a lookup cuts them to its time range by bisection.
A lookup's cost is bounded, not growing with the window (:meth:`StoryWindow.candidates`): keys
are read rarest first; a key with more than ``max_postings`` postings in the range (the window's
everyday vocabulary, a much-quoted name) is not read in full, only its postings nearest in time,
and the items found (at most ``max_found``) are counted exactly on every key. The answer is
the exhaustive one whenever the items not read cannot reach the best ``limit`` (they share at
most the keys not read in full), which on news is nearly always so.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from heapq import heappush, heapreplace

from monitor.store.api import StoryDoc, StoryStore

__all__ = ["StoryWindow"]

DAY = 86400.0
EVICT_EVERY = 2048  # adds between two eviction passes
NEG_INF = float("-inf")
CONTENDERS = 16  # a bounded lookup counts this many times its limit of the best items on every key


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
        # key -> (times, items), in time order (then item id)
        self.postings: dict[str, tuple[list[float], list[int]]] = {}
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
        mine = self._mine
        # this process's reports not in the store yet (written later, in its transaction) come
        # back with higher ids: they are still known as its own then
        self._mine = {i for i in mine if i > self.watermark}
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
                self._unpost(k, old[0], item_id)
        ks = tuple(intern(k) for k in dict.fromkeys(keys))
        self.items[item_id] = (at, story_id, ks)
        postings = self.postings
        for k in ks:
            p = postings.get(k)
            if p is None:
                postings[k] = ([at], [item_id])
                continue
            ats, ids = p
            if at > ats[-1] or (at == ats[-1] and item_id > ids[-1]):
                ats.append(at)  # most reports: the newest so far
                ids.append(item_id)
            else:
                i = bisect_right(ats, at)
                while i > 0 and ats[i - 1] == at and ids[i - 1] > item_id:
                    i -= 1
                ats.insert(i, at)
                ids.insert(i, item_id)
        if at > self.latest:
            self.latest = at

    def _unpost(self, key: str, at: float, item_id: int) -> None:
        ats, ids = self.postings[key]
        i = bisect_left(ats, at)
        while ids[i] != item_id:
            i += 1
        del ats[i], ids[i]
        if not ats:
            del self.postings[key]

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
            ats, ids = self.postings[k]
            cut = bisect_left(ats, horizon)  # the evicted are the oldest
            if cut >= len(ats):
                del self.postings[k]
            else:
                del ats[:cut], ids[:cut]
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

    def candidates(self, keys: Sequence[str], lo: float, hi: float, limit: int, *,
                   at: float | None = None, max_postings: int = 0, max_found: int = 0
                   ) -> list[tuple[int, int, float]] | None:
        """As ``StoryStore.candidates`` ((item, story, at), most shared keys first, then the newest);
        None when ``lo`` is before the reports held.

        With ``max_postings`` (0: exhaustive) the cost is bounded: keys are read rarest first,
        in full while they have at most ``max_postings`` postings in [lo, hi] and ``max_found``
        postings have not been read; the other (common) keys only for their postings nearest
        ``at`` (default ``hi``), ``max_found`` in all. The best ``CONTENDERS * limit`` items so
        found are then counted on every common key, and the best ``limit`` of them returned."""
        if lo < self.horizon:
            return None
        items = self.items
        postings = self.postings
        spans: list[tuple[int, str, int, int]] = []
        for k in dict.fromkeys(keys):
            p = postings.get(k)
            if p is None:
                continue
            ats = p[0]
            a = bisect_left(ats, lo)
            b = bisect_right(ats, hi, a)
            if b > a:
                spans.append((b - a, k, a, b))
        hits: Counter[int] = Counter()  # counting in C
        count = hits.update
        if not max_postings:
            for _, k, a, b in spans:
                count(postings[k][1][a:b])
            return [(i, items[i][1], items[i][0]) for i in _best(hits, limit)]
        budget = max_found or max_postings * len(spans)
        spans.sort()  # rarest first
        full = 0
        for n, k, a, b in spans:
            if n > max_postings or n > budget:
                break  # this key and the rest are common
            count(postings[k][1][a:b])
            budget -= n
            full += 1
        rest = spans[full:]
        if not rest:
            return [(i, items[i][1], items[i][0]) for i in _best(hits, limit)]
        # The common keys: all their postings nearest in time, within [near - d, near + d] with
        # d about as wide as ``max_found`` postings allow: items of that slice are counted in full
        # (the newest, the most likely to be the event's, win ties); older ones found by rare
        # keys are counted on the common keys if they are among the best so far.
        near = hi if at is None else at
        cut = [(postings[k][0], a, b) for _, k, a, b in rest]
        budget = max_found or max_postings * len(rest)

        def inside(d: float) -> int:
            x, y = max(lo, near - d), min(hi, near + d)
            return sum(bisect_right(ats, y, a, b) - bisect_left(ats, x, a, b) for ats, a, b in cut)

        # widths that would give each key its share of the budget, nearest ``near`` on each side:
        # the widest of them that keeps all the keys within the budget (bisection)
        q = max(1, budget // len(rest))
        widths = set()
        for ats, a, b in cut:
            c = bisect_left(ats, near, a, b)
            left = near - ats[max(a, c - q)] if c > a else 0.0
            right = ats[min(b, c + q) - 1] - near if c < b else 0.0
            widths.add(max(left, right))
        ws = sorted(widths)
        d, first, last = 0.0, 0, len(ws) - 1
        while first <= last:
            mid = (first + last) // 2
            if inside(ws[mid]) <= budget:
                d, first = ws[mid], mid + 1
            else:
                last = mid - 1
        x, y = max(lo, near - d), min(hi, near + d)
        for (ats, a, b), (_, k, _, _) in zip(cut, rest):
            count(postings[k][1][bisect_left(ats, x, a, b):bisect_right(ats, y, a, b)])
        common = frozenset(k for _, k, _, _ in rest)
        return [(i, items[i][1], items[i][0]) for i in _best(
            _recount(hits, _best(hits, CONTENDERS * limit), limit, len(common),
                     lambda i: hits[i] if x <= items[i][0] <= y else hits[i] + len(common.intersection(items[i][2]))),
            limit)]


def _recount(hits: Mapping[int, int], pool: list[int], limit: int, most: int,
             exact: Callable[[int], int]) -> dict[int, int]:
    """``exact(i)`` of the items of ``pool`` (most hits first) that can be among the best
    ``limit``: an item's exact count is at most its hits plus ``most``, so once that is below the
    ``limit``-th best exact count found, neither it nor any later item can reach the best
    ``limit`` (ties included) and they are not counted. :func:`_best` of the result is that of
    every item counted."""
    out: dict[int, int] = {}
    floor: list[int] = []  # the best ``limit`` exact counts so far (a min-heap)
    for i in pool:
        if len(floor) >= limit and hits[i] + most < floor[0]:
            break
        n = out[i] = exact(i)
        if len(floor) < limit:
            heappush(floor, n)
        elif n > floor[0]:
            heapreplace(floor, n)
    return out


def _best(hits: Mapping[int, int], limit: int) -> list[int]:
    """The ``limit`` items with most hits, the newest (highest id) first among equals."""
    if len(hits) > limit:
        floor = sorted(hits.values(), reverse=True)[limit - 1]
        pool = [i for i, h in hits.items() if h >= floor]
    else:
        pool = list(hits)
    pool.sort(reverse=True)  # newest first, then (a stable sort) most hits first
    pool.sort(key=hits.__getitem__, reverse=True)
    return pool[:limit]
