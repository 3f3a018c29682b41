"""Story decisions: does a new report belong to an earlier item's story, and does it change it?

Two reports are one story only on evidence of the same **event**, not of the same actors
(:func:`compare`): enough shared terms of the event in a common language (see
:mod:`monitor.analysis.story_text`), helped by shared dates and numbers; names and country words
alone never merge two items. Time counts: beyond the story window (``dedup.story_window``,
default 3 days) only a near-copy joins an old story, and reports naming different years are
never one story. A report that joins a story but carries a change the earlier one does not
(a negation, "cancelled", "postponed", "refused" in its language, or another date) is an
**update**: it is delivered under its story, never suppressed.

Candidates come from :class:`StoryIndex`, two SQLite tables (``story_docs``: each item's
evidence and story; ``story_terms``: its terms, names and numbers with its time, indexed by
term then time), so only the items of the window that share something are read; ``story_df`` counts each term's reports
per day, so the window's everyday vocabulary can be weighed down. The recent part of all three is
held in memory (:class:`monitor.analysis.story_window.StoryWindow`): lookups within it run
without SQL; only those reaching further back (a late update of a scheduled event) ask the store.
Lookups in memory are bounded (``max_postings``, ``max_found``): their cost does not grow with
the window (see :meth:`monitor.analysis.story_window.StoryWindow.candidates`).
"""

from __future__ import annotations

import json
import math
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Literal

from monitor.analysis.story_text import StoryText
from monitor.analysis.story_window import StoryWindow
from monitor.store import Store, StoryDoc

__all__ = ["StorySettings", "StoryVerdict", "StoryDecision", "compare", "StoryIndex"]

DAY = 86400.0
DECODED_MAX = 6_000  # decoded evidence kept, least recently used out (about 4 KB each with words interned: 24 MB at
# most; on a 15,000-item cold cycle 84 % of lookups hit, where clearing a cache of 8,000 when full hit 77 %)


@dataclass(frozen=True)
class StorySettings:
    """Thresholds of the story decision; measured by bench/bench_stories.py."""

    window: float = 3 * DAY  # reports further apart need a near-copy to be one story
    threshold: float = 0.25  # evidence at/above which two reports within the window are one story
    weak_below: float = 0.4  # below this, common words need a shared actor, date or number too
    far_threshold: float = 0.5  # Jaccard similarity of terms of a near-copy (joins whatever the gap)
    far_min_terms: int = 5  # ... sharing at least this many terms
    min_shared_terms: int = 2  # shared event terms needed at least (names never count)
    min_names: int = 2  # shared actors (not countries, not places) that, with a shared date or two
    scene_min_names: int = 3  # shared names, a place among them, that let one shared term suffice
    names_max_gap: float = 2 * DAY  # numbers, within this time, make one story without common words
    date_bridge: float = 45 * DAY  # a shared event date keeps reports this far apart in the window
    other_actors_penalty: float = 0.08  # per actor each side names and the other does not (up to 3)
    max_candidates: int = 16
    # Bounded lookups (0: no cap): a key with more postings in the lookup's time range is read
    # only for its postings nearest in time; at most max_found items are looked at (each is
    # counted on every key, rarest keys first: see StoryWindow.candidates).
    max_postings: int = 256
    max_found: int = 1024
    cross_min_names: int = 3  # name parts in common that make two languages' reports one story ...
    cross_max_gap: float = 12 * 3600.0  # ... this close in time (twice as far with a place, date or number)
    cross_max_others: int = 2  # ... when each names at most this many people the other does not
    # Terms most reports of the window carry are weak evidence (the desk's everyday vocabulary):
    # a term in at most rare_share of the window's reports counts fully, in common_share or more
    # not at all, in between on a log scale; only once the window holds min_docs reports.
    rare_share: float = 0.02
    common_share: float = 0.2
    min_docs: int = 20

    def __post_init__(self) -> None:
        if self.window < 0:
            raise ValueError("story window must not be negative")

    def uncapped(self) -> StorySettings:
        """These settings with every candidate lookup exhaustive (the reference of the caps)."""
        return replace(self, max_postings=0, max_found=0)


@dataclass(frozen=True)
class StoryVerdict:
    """How a new report relates to one earlier report."""

    outcome: str  # "same" | "update" | "different"
    score: float
    reason: str


@dataclass(frozen=True)
class StoryDecision:
    """The decision for a new report against every candidate."""

    outcome: Literal["story", "update", "new_story"]  # joins an earlier item's story, as a change of it, or not
    item_id: int | None  # the earlier item it joined
    story_id: int | None
    score: float = 0.0
    reason: str = ""


def _overlap(a: frozenset[str], b: frozenset[str], weights: Mapping[str, float] | None = None
             ) -> tuple[int, float]:
    """Shared members (weighted) and their share of the smaller set, capped at twice the Jaccard
    similarity."""
    if not a or not b:
        return 0, 0.0
    shared = a & b
    k = len(shared)
    w = sum(map(weights.get, shared, repeat(1.0))) if weights else float(k)
    j = w / (len(a) + len(b) - k)
    return k, min(w / min(len(a), len(b)), 2 * j)


def compare(new: StoryText, old: StoryText, gap: float, s: StorySettings = StorySettings(),
            weights: Mapping[str, float] | None = None) -> StoryVerdict:
    """The verdict for ``new`` against ``old``, published ``gap`` seconds apart; ``weights``
    (term -> 0..1, default 1) discount the window's everyday vocabulary."""
    gap = abs(gap)
    if new.years and old.years and not new.years & old.years:
        return StoryVerdict("different", 0.0, "different years")
    shared_dates = new.dates & old.dates
    shared_numbers = new.numbers & old.numbers
    if (not shared_dates and len(shared_numbers) < 2 and new.terms.isdisjoint(old.terms)
            and (new.language == old.language or len(new.actors & old.actors) < 2)):
        # most candidates: no term, no date, no pair of numbers in common (nor, across
        # languages, two people); no rule below can hold
        return StoryVerdict("different", 0.0, "0 shared term(s)")
    k, c = _overlap(new.terms, old.terms, weights)
    shared_names = new.names & old.names
    date_conflict = bool(new.dates and old.dates and not shared_dates)
    number_conflict = bool(new.numbers and old.numbers and not shared_numbers)
    # A change to a scheduled event names its date: that bridges announcement and update.
    changes = bool(new.cues - old.cues) and not old.cues
    bridged = bool(shared_dates) and changes and gap <= s.date_bridge
    near = gap <= s.window or bridged
    # names, a date or numbers in common, close in time: enough even without common words
    specific = bool(shared_dates) or len(shared_numbers) >= 2
    close = gap <= s.names_max_gap or bridged
    if len(new.actors & old.actors) >= s.min_names and specific and close and not date_conflict:
        score = 0.3 + 0.05 * min(len(shared_names), 4) + 0.1 * bool(shared_dates) + 0.1 * min(k, 2)
        return _same_or_update(new, old, score, date_conflict, "names, dates and numbers")
    # Two languages share no terms: the same people (3 name parts: "Sadyr Japarov" and
    # "Tokayev"), or 2 with the same place, date or number, within hours, are the evidence.
    if new.language != old.language and not (date_conflict or number_conflict):
        shared_actors = len(new.actors & old.actors)
        strangers_each = min(len(new.actors - old.actors), len(old.actors - new.actors))
        if strangers_each <= s.cross_max_others and shared_actors >= s.cross_min_names and gap <= s.cross_max_gap:
            score = 0.3 + 0.05 * min(shared_actors, 4) + 0.1 * bool(shared_dates or shared_numbers)
            return _same_or_update(new, old, score, False, "the same people across languages")
    # short reports of one scene: one common word, the same place and two more names, close in time
    shared_places = shared_names - new.actors
    scene = (k >= 1 and bool(shared_places) and len(shared_names) >= s.scene_min_names
             and close)
    if k < s.min_shared_terms and not scene:
        return StoryVerdict("different", c, f"{k} shared term(s)")
    score = c + 0.1 * min(len(shared_numbers), 2) + 0.1 * bool(shared_dates) + 0.05 * bool(shared_names)
    if date_conflict:
        score -= 0.1
    # other actors on both sides (a leader's talks with one counterpart, then another)
    if len(new.actors & old.actors) <= 1:
        score -= s.other_actors_penalty * min(len(new.actors - old.actors), len(old.actors - new.actors), 3)
    strangers = len(new.actors) >= 2 and len(old.actors) >= 2 and not new.actors & old.actors
    if not near or strangers:  # far apart in time, or no actor in common: only a near-copy
        jaccard = k / (len(new.terms) + len(old.terms) - k)
        if jaccard < s.far_threshold or k < s.far_min_terms or number_conflict or date_conflict:
            return StoryVerdict("different", score, "no actor in common" if near else "beyond the story window")
    elif score < s.threshold:
        return StoryVerdict("different", score, "too little shared")
    elif ((score < s.weak_below or number_conflict or date_conflict)
          and not (new.actors & old.actors or shared_dates or shared_numbers)):
        # a few common words only (or other numbers): the kind of news, not the event, unless
        # an actor, a date or a number is shared too
        return StoryVerdict("different", score, "only common words")
    return _same_or_update(new, old, score, date_conflict or number_conflict, f"{k} shared terms")


def _same_or_update(new: StoryText, old: StoryText, score: float, date_conflict: bool, why: str) -> StoryVerdict:
    changed = new.cues - old.cues
    if changed and not old.cues:
        return StoryVerdict("update", round(score, 3), f"{why}; change: {', '.join(sorted(changed))[:80]}")
    if date_conflict:
        return StoryVerdict("update", round(score, 3), f"{why}; another date or number")
    return StoryVerdict("same", round(score, 3), why)


def _interned(o: dict[str, object]) -> dict[str, object]:
    """Decoded evidence with its words interned (one copy of each word in memory)."""
    intern = sys.intern
    return {k: [intern(x) if type(x) is str else x for x in v] if type(v) is list else v
            for k, v in o.items()}


def _keys(t: StoryText) -> list[str]:
    return sorted(t.terms) + ["n:" + n for n in t.names] + ["#:" + n for n in t.numbers] + \
        ["d:" + d for d in t.dates]


class StoryIndex:
    """Items' story evidence in the store (``store.story``), looked up by shared terms within a time range."""

    def __init__(self, store: Store, settings: StorySettings = StorySettings()) -> None:
        self.docs = store.story
        self.settings = settings
        # decoded evidence, least recently used first (mark None: added here)
        self._decoded: OrderedDict[int, tuple[tuple[int, int] | None, StoryText]] = OrderedDict()
        # the window and two days more in memory: a report's lookups then reach back only that far
        self.memory = StoryWindow(store.story, settings.window + 2 * DAY, self._keys_of)
        self._unwritten: list[tuple[StoryDoc, list[str], tuple[str, ...]]] = []  # added, not yet in the store

    def _keys_of(self, doc: StoryDoc) -> tuple[list[str], tuple[str, ...]]:
        """A stored item's candidate keys and counted terms, as :meth:`add` wrote them."""
        text = self._decode(doc.item_id, doc.evidence)
        return _keys(text), ("", *sorted(text.terms))

    def add(self, item_id: int, story_id: int, at: float, text: StoryText) -> None:
        """Record an item's evidence: held in memory at once, written to the store by
        :meth:`flush` (in the caller's transaction, one statement per table for the batch)."""
        keys, terms = _keys(text), ("", *sorted(text.terms))
        self._unwritten.append((StoryDoc(item_id, story_id, at, json.dumps(text.to_json(), ensure_ascii=False)),
                                keys, terms))
        self.memory.add(item_id, story_id, at, keys, terms)
        self._remember(item_id, None, text)

    def flush(self) -> None:
        """Write what :meth:`add` recorded since the last flush (joins the caller's transaction
        when one is open). Every lookup that asks the store flushes first, so it sees them."""
        rows, self._unwritten = self._unwritten, []
        if rows:
            self.docs.add_many(rows)

    def discard(self) -> None:
        """Forget what was added and not flushed (the caller's transaction was rolled back)."""
        self._unwritten = []

    def weights(self, text: StoryText, at: float) -> dict[str, float]:
        """Weight of each of the text's terms by its share of the reports of the window around ``at``."""
        s = self.settings
        if not text.terms:
            return {}
        lo, hi = int((at - s.window) // DAY), int((at + s.window) // DAY)  # whole days around the window
        terms = ["", *sorted(text.terms)]
        df = self.memory.term_counts(terms, lo, hi)
        if df is None:  # reaches before the days held in memory
            self.flush()
            df = self.docs.term_counts(terms, lo, hi)
        n = int(df.pop("", 0) or 0)
        if n < s.min_docs:
            return {}
        span = math.log(s.common_share / s.rare_share)
        out = {}
        for t in terms[1:]:
            share = max(df.get(t, 0), 1) / n
            out[t] = min(1.0, max(0.0, math.log(s.common_share / share) / span))
        return out

    def candidates(self, text: StoryText, at: float, span: float, skip: set[str] | frozenset[str] = frozenset()
                   ) -> list[tuple[int, int, float, StoryText]]:
        """Items within ``span`` seconds of ``at`` sharing most terms (but ``skip``):
        (item, story, at, evidence)."""
        keys = [k for k in _keys(text) if k not in skip]
        if not keys:
            return []
        s = self.settings
        held = self.memory.candidates(keys, at - span, at + span, s.max_candidates, at=at,
                                      max_postings=s.max_postings, max_found=s.max_found)
        if held is None:  # reaches before the reports held in memory
            self.flush()
            docs = self.docs.candidates(keys, at - span, at + span, s.max_candidates)
            return [(d.item_id, d.story_id, d.at, self._decode(d.item_id, d.evidence)) for d in docs]
        texts = {i: hit[1] for i, _, _ in held if (hit := self._recall(i)) is not None}
        missing = [i for i, _, _ in held if i not in texts]
        if missing:
            self.flush()
            texts.update((d.item_id, self._decode(d.item_id, d.evidence)) for d in self.docs.docs(missing))
        return [(i, story, when, texts[i]) for i, story, when in held if i in texts]

    def _decode(self, item_id: int, evidence: str) -> StoryText:
        """An item's evidence from its JSON, kept for the items most often compared (bounded).

        The cache holds a mark of the JSON (its length and hash), not the JSON itself, and the
        decoded terms and names are interned: the window's reports share most of their
        vocabulary, so each word is held once, not once per report."""
        mark = (len(evidence), hash(evidence))
        hit = self._recall(item_id)
        if hit is not None and hit[0] in (mark, None):
            return hit[1]
        text = StoryText.from_json(_interned(json.loads(evidence)))
        self._remember(item_id, mark, text)
        return text

    def _recall(self, item_id: int) -> tuple[tuple[int, int] | None, StoryText] | None:
        """The cached evidence of an item (now the most recently used), or None."""
        hit = self._decoded.get(item_id)
        if hit is not None:
            self._decoded.move_to_end(item_id)
        return hit

    def _remember(self, item_id: int, mark: tuple[int, int] | None, text: StoryText) -> None:
        self._decoded[item_id] = (mark, text)
        self._decoded.move_to_end(item_id)
        while len(self._decoded) > DECODED_MAX:  # the least recently used go
            self._decoded.popitem(last=False)

    def decide(self, text: StoryText, at: float, also: list[tuple[int, int, float, StoryText]] | None = None
               ) -> StoryDecision:
        """The best story for a new report published at ``at``: candidates of the window, plus
        ``also`` (older items the caller found by other means, e.g. near-copies)."""
        s = self.settings
        # a report that changes a scheduled event may come long after its announcement
        span = max(s.window, s.date_bridge) if text.cues and text.dates else s.window
        if not self.memory.loaded:
            self.flush()  # what was added before the window is read is read with it
        self.memory.load()  # first use: read the window; then: what other processes stored since
        weights = self.weights(text, at)
        cands = self.candidates(text, at, span, {t for t, w in weights.items() if w == 0.0})
        seen = {c[0] for c in cands}
        cands += [c for c in also or () if c[0] not in seen]
        best: tuple[float, int, int, StoryVerdict] | None = None
        for item_id, story_id, when, old in cands:
            v = compare(text, old, at - when, s, weights)
            if v.outcome != "different" and (best is None or v.score > best[0]):
                best = (v.score, item_id, story_id, v)
        if best is None:
            return StoryDecision("new_story", None, None)
        _, item_id, story_id, v = best
        return StoryDecision("update" if v.outcome == "update" else "story", item_id, story_id, v.score, v.reason)

    def evidence_of(self, item_id: int) -> tuple[int, float, StoryText] | None:
        """(story, at, evidence) of an indexed item."""
        d = next((u[0] for u in self._unwritten if u[0].item_id == item_id), None) or self.docs.get(item_id)
        return None if d is None else (d.story_id, d.at, StoryText.from_json(json.loads(d.evidence)))
