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
    index.flush()  # written as the ingest writes a batch
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


# ---- bounded lookups (issue 17) -------------------------------------------------------------------

def _desk(rng: random.Random, i: int) -> tuple[str, str]:
    """An everyday report of a busy desk: the same two people and few words as every other, and
    a few words and a number of its own (the vocabulary is large enough that those stay rare)."""
    own = rng.sample(WORDS, 4)
    common = rng.sample(("harvest", "tariff", "grain", "export", "border", "customs", "railway", "wheat"), 3)
    return (f"{common[0].title()} {own[0]} {own[1]} {common[1]} at {rng.randint(100, 99999)} tonnes",
            f"Minister Tokayev told Japarov the {common[2]} {own[2]} {own[3]} figures were due in Astana")


def test_bounded_lookup_decides_as_the_exhaustive_one(tmp_path: Path) -> None:
    """Caps far below the window (8 postings a key, 64 items a lookup) decide as the uncapped lookup."""
    path = tmp_path / "state.sqlite"
    st = open_store(path)
    capped = StoryIndex(st, StorySettings(max_postings=8, max_found=64))
    exact = StoryIndex(open_store(path), StorySettings().uncapped())
    assert exact.settings.max_postings == 0 and exact.settings.max_found == 0
    rng = random.Random(11)
    reports = [_desk(rng, i) for i in range(400)]
    outcomes: dict[str, int] = {}
    for i, (title, summary) in enumerate(reports, 1):
        at = T0 + i * 300.0
        if i > 1 and i % 4 == 0:  # a follow-up of an earlier report: its own words again
            title, summary = reports[rng.randrange(max(0, i - 200), i - 1)]
            title += " on Monday"
        text = story_text(title, summary, "en")
        d = capped.decide(text, at)
        assert d == exact.decide(text, at), i  # the other index catches up from the same store first
        outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
        with st.transaction():
            capped.add(i, d.story_id if d.story_id is not None else i, at, text)
            capped.flush()
    assert outcomes.get("story", 0) + outcomes.get("update", 0) >= 80  # the follow-ups join their stories
    assert outcomes.get("new_story", 0) >= 200
    # the caps did bind: every common key has far more postings than 8 in the window
    assert sum(len(p[0]) > 8 for p in capped.memory.postings.values()) >= 8


def test_a_window_far_beyond_the_caps_still_finds_the_same_event(tmp_path: Path) -> None:
    """3,000 everyday reports after it, sharing its names and common words: the follow-up of a
    report two days old still finds it (its own words are rare keys, read in full)."""
    st = open_store(tmp_path / "state.sqlite")
    index = StoryIndex(st)
    assert index.settings.max_postings == 256 and index.settings.max_found == 1024
    event = ("Tokayev opens the Zhanaozen desalination plant", "Japarov said the Zhanaozen desalination plant "
             "on the Caspian shore will give 50,000 cubic metres of water a day, Astana reported")
    rng = random.Random(5)
    index.memory.load()
    with st.transaction():
        index.add(1, 1, T0, story_text(*event, "en"))
        for i in range(2, 3002):
            index.add(i, i, T0 + i * 55.0, story_text(*_desk(rng, i), "en"))
        index.flush()
    assert max(len(p[0]) for p in index.memory.postings.values()) >= 3000  # far beyond the caps
    follow = story_text("Zhanaozen desalination plant opened by Tokayev",
                        "The Caspian desalination plant in Zhanaozen gives 50,000 cubic metres of water a day, "
                        "Japarov said", "en")
    at = T0 + 2 * DAY
    d = index.decide(follow, at)
    assert (d.outcome, d.story_id) in (("story", 1), ("update", 1))
    assert d == StoryIndex(st, StorySettings().uncapped()).decide(follow, at)


def test_postings_stay_in_time_order_through_late_reports_reindexing_and_eviction(tmp_path: Path) -> None:
    st = open_store(tmp_path / "state.sqlite")
    index = StoryIndex(st)
    index.memory.load()
    rng = random.Random(9)
    texts = {}
    for i in rng.sample(range(1, 201), 200):  # published out of order (late feeds, backfill)
        texts[i] = story_text(*_desk(rng, i), "en")
        index.add(i, i, T0 + i * 600.0, texts[i])
    extra = story_text("Zhanaozen desalination plant opened", "The plant gives water", "en")
    index.add(50, 50, T0 + 50 * 600.0, texts[50].merged(extra))  # re-indexed with its translation's terms
    mem = index.memory
    for key, (ats, ids) in mem.postings.items():
        assert list(zip(ats, ids)) == sorted(zip(ats, ids)) and len(set(ids)) == len(ids), key
        assert all(key in mem.items[i][2] for i in ids)
    assert 50 in mem.postings["en:zhanaozen"][1] and set(_keys(texts[50])) <= set(mem.items[50][2])
    assert sum(len(ids) for _, ids in mem.postings.values()) == sum(len(ks) for _, _, ks in mem.items.values())
    mem.latest = T0 + 150 * 600.0 + mem.keep  # reports up to the 150th fall out of the window
    mem.evict()
    assert set(mem.items) == set(range(150, 201))
    assert all(ats[0] >= mem.horizon for ats, _ in mem.postings.values())
