"""The in-memory LSH band index (monitor/analysis/neardup_bands.py) behind NearDupIndex: persisted beside the
database, caught up with documents stored by another connection, rebuilt when its file is missing,
and returning the same candidates as a plain count of shared band keys."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from monitor.analysis.neardup import NearDupIndex, make_signature
from monitor.analysis.neardup_bands import DELTA_MAX, BandIndex
from monitor.store import open_store

WORDS = [f"{a}{b}{c}" for a in "bcdfgklmnprstvz" for b in "aeiou" for c in ("ran", "tel", "mos", "dik", "vu")]


def text(n: int) -> str:
    r = random.Random(n)
    return f"Report {n}: " + " ".join(r.choice(WORDS) for _ in range(40)) + f". Figures {n * 37} and {n * 11}."


def test_persisted_beside_the_database_and_caught_up_across_connections(tmp_path: Path) -> None:
    db = tmp_path / "state.sqlite"
    a = NearDupIndex(open_store(db))
    for n in range(30):
        a.add(f"item:{n}", "item", make_signature(text(n)), story_id=n)
    # another connection (another process) adds documents; a sees them at its next query
    b = NearDupIndex(open_store(db))
    assert b.query(make_signature(text(7)))[0].doc_key == "item:7"
    b.add("item:100", "item", make_signature(text(100)), story_id=100)
    assert a.query(make_signature(text(100)))[0].doc_key == "item:100"
    a.save()
    side = Path(str(db) + ".neardup.npz")
    assert side.exists()
    c = NearDupIndex(open_store(db))
    assert c.query(make_signature(text(12)))[0].doc_key == "item:12"
    assert c._band_index().watermark == 31 and c._band_index().live == 31  # read from the file
    # a file that belongs to other tables (the database was recreated) is ignored: rebuilt from them
    db2 = tmp_path / "other.sqlite"
    d = NearDupIndex(open_store(db2))
    d.add("item:1", "item", make_signature(text(1)), story_id=1)
    side.replace(Path(str(db2) + ".neardup.npz"))
    e = NearDupIndex(open_store(db2))
    assert [x.doc_key for x in e.query(make_signature(text(1)))] == ["item:1"]
    assert e.query(make_signature(text(12))) == []


def test_candidates_match_a_plain_count_through_merges_and_removals() -> None:
    rng = random.Random(3)
    idx = BandIndex("t", 4)
    docs: dict[int, set[int]] = {}

    def add(doc: int) -> None:
        keys = [rng.randrange(0, 4000) for _ in range(48)]
        docs[doc] = set(keys)
        assert idx.add(doc, np.array(keys, dtype=np.uint32), np.zeros(4, np.uint8), (1, 1), 0)
        if idx.needs_merge():
            idx.merge()

    for doc in range(1, 3001):
        add(doc)
    assert idx.pairs() >= DELTA_MAX and len(idx.runs) >= 1  # at least one run besides the delta
    for doc in (5, 50, 500, 3000):
        idx.remove(doc)
        del docs[doc]
    add(3000)  # the id of a removed document given to a new one (SQLite reuses the highest id)
    assert not idx.add(3000, np.array([1], dtype=np.uint32), np.zeros(4, np.uint8), (1, 1), 0)  # indexed already

    def check() -> None:
        for _ in range(20):
            q = [rng.randrange(0, 4000) for _ in range(48)]
            counts = {d: len(ks & set(q)) for d, ks in docs.items()}
            want = sorted((d for d, c in counts.items() if c), key=lambda d: (-counts[d], d))[:32]
            assert idx.candidates(np.array(q, dtype=np.uint32), 32).tolist() == want

    check()
    idx.merge(full=True)  # one run: the removed documents' pairs go
    assert len(idx.runs) == 1 and idx.runs[0].dtype == np.uint64 and idx.dead == 0
    assert idx.pairs() == sum(len(ks) for ks in docs.values())
    check()
