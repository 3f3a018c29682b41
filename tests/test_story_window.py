"""The story window in memory answers as the store does, catches up with another process, evicts."""

from __future__ import annotations

import random
from pathlib import Path

from monitor.analysis.story import StoryIndex, StorySettings, _keys
from monitor.analysis.story_text import story_text
from monitor.store import open_store

DAY = 86400.0
T0 = 1_715_256_000.0  # 2024-05-09 12:00 UTC
# a vocabulary large enough that no word is the window's everyday vocabulary
WORDS = tuple(a + b + c for a in ("bar", "kel", "mon", "dus", "pra", "tov", "ser", "lin")
              for b in ("ad", "om", "ur", "ek", "is") for c in ("ten", "ola", "ing", "ver", "ast"))
NAMES = ("Astana", "Bishkek", "Tokayev", "Japarov", "Almaty", "Tashkent")


def _text(rng: random.Random, i: int) -> tuple[str, str]:
    words = rng.sample(WORDS, 6)
    names = rng.sample(NAMES, 2)
    title = f"{names[0]} {words[0]} {words[1]} {words[2]} rises {rng.randint(1, 9)}%"
    return title, f"{names[1]} said the {words[3]} {words[4]} {words[5]} grew by {rng.randint(10, 99)} tonnes"


def _fill(index: StoryIndex, rng: random.Random, first: int, n: int, start: float) -> list[tuple[str, str]]:
    out = []
    for i in range(first, first + n):
        title, summary = _text(rng, i)
        index.add(i, i, start + (i - first) * 600.0, story_text(title, summary, "en"))
        out.append((title, summary))
    return out


def test_memory_answers_as_the_store_does(tmp_path: Path) -> None:
    st = open_store(tmp_path / "state.sqlite")
    index = StoryIndex(st, StorySettings())
    index.memory.load()
    rng = random.Random(7)
    stored = _fill(index, rng, 1, 300, T0)
    checked = 0
    for q in range(40):
        title, summary = _text(rng, 1000 + q)
        text = story_text(title, summary, "en")
        at = T0 + rng.uniform(0, 300 * 600.0)
        keys = _keys(text)
        lo, hi = at - DAY, at + DAY
        held = index.memory.candidates(keys, lo, hi, 16)
        assert held is not None
        assert [i for i, _, _ in held] == [d.item_id for d in st.story.candidates(keys, lo, hi, 16)]
        terms = ["", *sorted(text.terms)]
        d0, d1 = int((at - 3 * DAY) // DAY), int((at + 3 * DAY) // DAY)
        assert index.memory.term_counts(terms, d0, d1) == st.story.term_counts(terms, d0, d1)
        checked += bool(held)
    assert checked > 20  # most queries find candidates
    # the decision is the same with the window in memory and from the store alone
    fresh = StoryIndex(st, StorySettings())
    fresh.memory.loaded, fresh.memory.horizon, fresh.memory.first_day = True, float("inf"), float("inf")  # SQL only
    outcomes = set()
    for q in range(20):
        title, summary = stored[q * 5]  # a follow-up of a stored report, an hour later
        text, at = story_text(title, summary + " on Monday", "en"), T0 + q * 3000.0 + 3600.0
        d = index.decide(text, at)
        assert d == fresh.decide(text, at)
        outcomes.add(d.outcome)
    assert "story" in outcomes or "update" in outcomes  # some join a story, not only new ones


def test_catches_up_with_another_process_and_evicts(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    mine, theirs = StoryIndex(open_store(path)), StoryIndex(open_store(path))
    rng = random.Random(3)
    _fill(theirs, rng, 1, 50, T0)
    mine.memory.load()
    assert len(mine.memory.items) == 50
    _fill(theirs, rng, 51, 20, T0 + 50 * 600.0)  # stored by the other process after the load
    assert len(mine.memory.catch_up()) == 20 and len(mine.memory.items) == 70
    assert mine.memory.catch_up() == []
    # reports long after: the old ones leave memory, and lookups reaching back go to the store
    late = T0 + 30 * DAY
    _fill(mine, rng, 100, 10, late)
    mine.memory.evict()
    assert set(mine.memory.items) == set(range(100, 110))
    assert min(mine.memory.days) >= int((late - mine.memory.keep) // DAY)
    title, summary = _text(rng, 5)
    assert mine.memory.candidates(_keys(story_text(title, summary, "en")), T0, T0 + DAY, 16) is None
    assert mine.candidates(story_text(title, summary, "en"), T0 + DAY, DAY)  # the store still answers
