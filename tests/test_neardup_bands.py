"""The in-memory LSH band index (monitor/analysis/neardup_bands.py) behind NearDupIndex: persisted beside the
database, caught up with documents stored by another connection, rebuilt when its file is missing,
and returning the same candidates as a plain count of shared band keys."""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from monitor.analysis import neardup, neardup_bands
from monitor.analysis.neardup import (
    Candidate,
    NearDupIndex,
    NearDupSettings,
    Signature,
    _band_keys,
    _Batch,
    _row_signature,
    make_signature,
)
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


@pytest.mark.parametrize("key_range", [4000, 2**32])  # keys shared by many documents / by few
def test_candidates_match_a_plain_count_through_merges_and_removals(key_range: int) -> None:
    rng = random.Random(3)
    idx = BandIndex("t", 4)
    docs: dict[int, set[int]] = {}
    pool = [rng.randrange(0, key_range) for _ in range(6000)]  # (so that documents share keys)

    def add(doc: int) -> None:
        keys = [rng.choice(pool) for _ in range(48)]
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
            q = [rng.choice(pool) for _ in range(40)] + [rng.randrange(0, key_range) for _ in range(8)]
            counts = {d: len(ks & set(q)) for d, ks in docs.items()}
            want = sorted((d for d, c in counts.items() if c), key=lambda d: (-counts[d], d))[:32]
            assert idx.candidates(np.array(q, dtype=np.uint32), 32).tolist() == want

    check()
    idx.merge(full=True)  # one run: the removed documents' pairs go
    assert len(idx.runs) == 1 and idx.runs[0].pairs.dtype == np.uint64 and idx.dead == 0
    assert idx.pairs() == sum(len(ks) for ks in docs.values())
    check()


# ----------------------------------------------------------------- persistence, validation, replay

def variant(n: int, edit: int) -> str:
    """``text(n)`` lightly edited (a near-duplicate of it)."""
    words = text(n).split(" ")
    r = random.Random(n * 1000 + edit)
    for i in r.sample(range(3, len(words) - 4), 4):
        words[i] = r.choice(WORDS)
    return " ".join(words)


def sig_of(n: int, edit: int = 0) -> Signature:
    body = text(n) if edit == 0 else variant(n, edit)
    if n % 5 == 0:  # some machine translations: the weaker, cube-rooted vocabulary evidence
        return make_signature(body, original_text=f"Доклад {n}: {body}", language="ru")
    return make_signature(body)


def sidecar(db: Path) -> Path:
    return Path(str(db) + ".neardup.npz")


def snapshot(idx: NearDupIndex) -> dict[str, np.ndarray]:
    """The band index's content, merged (comparable between a loaded and a rebuilt index)."""
    bands = idx._band_index()
    bands.merge(full=True)
    n = int(np.flatnonzero(bands.flags)[-1]) + 1
    return {"pairs": bands.runs[0].pairs.copy(), "flags": bands.flags[:n].copy(), "sizes": bands.sizes[:n].copy(),
            "sketch": bands.sketch[:n].copy()}


def test_saved_index_survives_a_restart_and_equals_a_rebuilt_one(tmp_path: Path, caplog) -> None:
    db = tmp_path / "state.sqlite"
    a = NearDupIndex(open_store(db))
    a.add_many([(f"item:{n}", "item", sig_of(n), n) for n in range(1, 400)])
    a.add("seed:1", "seed", sig_of(900), None)
    a.add("item:7", "item", sig_of(7, edit=1), 7)  # re-indexed: replaces the first one
    a.save()
    queries = [sig_of(n, edit=2) for n in (3, 7, 10, 250, 398, 900, 5000)]
    want = [a.query(q) for q in queries]
    assert all(want[:6]) and not want[6]
    with caplog.at_level(logging.INFO, logger="monitor.analysis"):
        b = NearDupIndex(open_store(db))
        assert [b.query(q) for q in queries] == want
    assert not caplog.records  # loaded from the file: nothing rebuilt
    assert b._band_index().live == 400 and b._band_index().watermark == a._band_index().watermark
    assert b.memory_bytes() > 0
    loaded = snapshot(b)
    sidecar(db).unlink()
    with caplog.at_level(logging.INFO, logger="monitor.analysis"):
        c = NearDupIndex(open_store(db))  # no file: rebuilt from neardup_docs
        assert [c.query(q) for q in queries] == want
    assert any("absent: building it from the database (400 documents)" in r.getMessage() for r in caplog.records)
    rebuilt = snapshot(c)
    for name, arr in loaded.items():
        assert np.array_equal(arr, rebuilt[name]), name


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "newer_than_database"])
def test_a_corrupt_or_stale_file_is_rebuilt_with_a_log_line(tmp_path: Path, caplog, damage: str) -> None:
    db = tmp_path / "state.sqlite"
    a = NearDupIndex(open_store(db))
    a.add_many([(f"item:{n}", "item", sig_of(n), n) for n in range(1, 120)])
    if damage == "newer_than_database":  # the database restored from a backup older than the file
        a.store.close()
        shutil.copy(db, tmp_path / "backup.sqlite")
        a = NearDupIndex(open_store(db))
        a.add_many([(f"item:{n}", "item", sig_of(n), n) for n in range(120, 200)])
    a.save()
    want = a.query(sig_of(50, edit=3))
    assert want and want[0].doc_key == "item:50"
    a.store.close()
    side = sidecar(db)
    raw = side.read_bytes()
    if damage == "garbage":
        side.write_bytes(b"not an index at all" * 10)
    elif damage == "truncated":
        side.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":  # one byte of the pairs changed: the zip's CRC no longer agrees
        at = raw.index(b"pairs.npy") + 300
        side.write_bytes(raw[:at] + bytes([raw[at] ^ 0x55]) + raw[at + 1 :])
    else:
        shutil.copy(tmp_path / "backup.sqlite", db)
    with caplog.at_level(logging.WARNING, logger="monitor.analysis"):
        b = NearDupIndex(open_store(db))
        got = b.query(sig_of(50, edit=3))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "rebuilding it from the database (119 documents)" in lines[0], lines
    assert ("stale" if damage == "newer_than_database" else "corrupt") in lines[0]
    assert got == want
    assert b._band_index().live == 119
    b.save()  # the rebuilt index replaces the bad file
    with caplog.at_level(logging.WARNING, logger="monitor.analysis"):
        caplog.clear()
        assert NearDupIndex(open_store(db)).query(sig_of(50, edit=3)) == want
    assert not caplog.records


def test_documents_replaced_by_another_process_after_the_save_are_dropped_not_rebuilt(tmp_path: Path,
                                                                                     caplog) -> None:
    db = tmp_path / "state.sqlite"
    a = NearDupIndex(open_store(db))
    a.add_many([(f"item:{n}", "item", sig_of(n), n) for n in range(1, 60)])
    a.save()
    other = NearDupIndex(open_store(db))
    other.add("item:20", "item", sig_of(33), 20)  # item:20 now reads like item:33
    other.store.close()
    a.store.close()
    with caplog.at_level(logging.WARNING, logger="monitor.analysis"):
        b = NearDupIndex(open_store(db))
        keys = [c.doc_key for c in b.query(sig_of(33, edit=1))]
        assert "item:20" in keys and "item:33" in keys
        assert b.query(sig_of(20, edit=1)) == []  # the old item:20 is gone
    assert not caplog.records
    assert b._band_index().live == 59


def reference_query(idx: NearDupIndex, sig: Signature, limit: int = 5) -> list[Candidate]:
    """The query as it was done before the sketch bound and the ring: the documents sharing the
    most band keys (a plain count over every stored document), all read back and scored."""
    s = idx.settings
    seeds = idx.lsh.seeds() if idx.lsh.count("seed") <= s.seed_scan_limit else None
    docs = idx.lsh.by_ids(idx.lsh.ids_after(0))
    q = set(_band_keys(sig, s))
    counts = {r.id: len(q & set(_band_keys(_row_signature(r), s))) for r in docs}
    ranked = sorted((i for i, c in counts.items() if c), key=lambda i: (-counts[i], i))[: s.max_candidates]
    by_id = {r.id: r for r in docs}
    rows = [by_id[i] for i in ranked if seeds is None or by_id[i].kind == "item"]
    out = _Batch.of_records(rows).matches(sig, s) + (_Batch.of_records(seeds).matches(sig, s) if seeds else [])
    out.sort(key=lambda c: (-c.similarity, c.doc_key))
    return out[:limit]


@pytest.mark.parametrize("seed_scan_limit", [1000, 2])
def test_results_equal_the_old_path_on_a_replayed_sequence(tmp_path: Path, monkeypatch,
                                                            seed_scan_limit: int) -> None:
    monkeypatch.setattr(neardup_bands, "DELTA_MAX", 300)  # many merges
    monkeypatch.setattr(neardup, "SIGNATURES_HELD", 40)  # most signatures read back from the store
    db = tmp_path / "state.sqlite"
    settings = NearDupSettings(seed_scan_limit=seed_scan_limit)
    idx = NearDupIndex(open_store(db), settings)
    rng = random.Random(11)
    compared = matched = 0
    for step in range(400):
        op = rng.random()
        n = rng.randrange(1, 60)
        if op < 0.45:
            sig = sig_of(n, edit=rng.randrange(0, 3))
            assert idx.query(sig) == reference_query(idx, sig)  # the pipeline: query, then add
            idx.add(f"item:{n}", "item", sig, n)  # (an n seen before re-indexes that item)
        elif op < 0.5:
            idx.add(f"seed:{n}", "seed", sig_of(n + 500), None)
        elif op < 0.55:
            idx.set_story(f"item:{n}", 1000 + step)
        elif op < 0.58:
            idx.save()
            idx = NearDupIndex(open_store(db), settings)  # a restart
        else:
            sig = sig_of(n if op < 0.8 else n + 500, edit=rng.randrange(1, 4))
            got = idx.query(sig)
            assert got == reference_query(idx, sig)
            compared += 1
            matched += bool(got)
    assert compared > 120 and matched > 60



def test_a_cycle_that_stores_nothing_does_not_rewrite_the_saved_index(tmp_path: Path) -> None:
    """Saving an index that holds what its file holds writes nothing (a warm cycle of 304s at
    50,000 documents rewrote and fsynced the whole file at every exit)."""
    db = tmp_path / "state.sqlite"
    a = NearDupIndex(open_store(db))
    a.add_many([(f"item:{n}", "item", sig_of(n), n) for n in range(1, 50)])
    a.save()
    def written() -> tuple[int, int]:  # a save renames a new file over the old one: a new inode
        st = sidecar(db).stat()
        return st.st_ino, st.st_mtime_ns

    first = written()
    b = NearDupIndex(open_store(db))
    assert b.query(sig_of(7, edit=2))  # loaded from the file
    b.save()
    assert written() == first  # nothing written
    b.add("item:60", "item", sig_of(60), 60)
    b.save()
    assert written() != first
    c = NearDupIndex(open_store(db))
    assert c.query(sig_of(60, edit=1))  # the second save holds the new document
    sidecar(db).write_bytes(b"not a zip")
    d = NearDupIndex(open_store(db))
    assert d.query(sig_of(7, edit=2))  # rebuilt from the database
    d.save()  # an unusable file is replaced even when nothing new was stored
    e = NearDupIndex(open_store(db))
    assert e._band_index().live == 50


def test_run_directory_points_at_each_buckets_first_pair() -> None:
    """The directory found by searching the sorted pairs is the bucket count's running sum."""
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 8, 100, 5000, 70000):
        pairs = np.sort(rng.integers(0, 2**64, n, dtype=np.uint64))
        if n > 4:  # the extreme keys too
            pairs[:2], pairs[-2:] = 0, np.uint64(2**64 - 1)
            pairs.sort()
        run = neardup_bands.Run.of(pairs)
        buckets = (run.pairs >> np.uint64(64 - run.bits)).astype(np.intp) if run.bits else np.zeros(n, np.intp)
        want = np.zeros((1 << run.bits) + 1, np.uint32)
        want[1:] = np.cumsum(np.bincount(buckets, minlength=1 << run.bits))
        assert np.array_equal(run.directory, want), n


def test_the_index_file_is_an_npz_that_numpy_reads(tmp_path: Path) -> None:
    """The copy-free writer writes what np.savez would: np.load gives back every array as it was
    (0-d, empty, strided)."""
    arrays: dict[str, np.ndarray] = {"zero_d": np.array(7, np.int64), "text": np.array("uid-1"), "empty": np.zeros((0, 3), np.uint8),
              "strided": np.arange(20, dtype=np.uint32).reshape(4, 5)[:, ::2], "big": np.arange(100000, dtype=np.uint64)}
    with open(tmp_path / "x.npz", "wb") as fh:
        neardup_bands._write_npz(fh, **arrays)
    with np.load(tmp_path / "x.npz", allow_pickle=False) as z:
        assert sorted(z.files) == sorted(arrays)
        for name, arr in arrays.items():
            got = z[name]
            assert got.dtype == arr.dtype and got.shape == arr.shape and np.array_equal(got, arr), name


def test_signatures_and_band_keys_are_the_ones_saved_indexes_hold() -> None:
    """MinHash values and band keys are persisted (the database's signatures, ``<db>.neardup.npz``):
    a change of their arithmetic, however equivalent it looks, must give the same bytes, or every
    stored index is silently orphaned. The digest was taken from the release these files come from."""
    import hashlib

    s = NearDupSettings()
    rng = random.Random(17)
    words = ("Tokayev Mirziyoyev Putin Moscow parade Victory Day sanctions bank Astana Bishkek 2024 15 May "
             "talks gas pipeline").split() + [f"word{i}" for i in range(50)]
    h = hashlib.sha256()
    for _ in range(300):
        sig = make_signature(" ".join(rng.choice(words) for _ in range(rng.randint(0, 60))), settings=s)
        h.update(sig.shingles.tobytes() + sig.words.tobytes() + neardup._band_ukeys(sig, s).tobytes())
    assert h.hexdigest() == "0326878555575ed42aa29cc1b4b8837369947db1ef8a5250cfda59e15c1d3695"
