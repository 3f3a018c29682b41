"""The near-duplicate index's LSH band keys, in memory and compact.

Every indexed document has up to 48 band keys (signed 32-bit). Instead of one indexed
SQLite row per key, :class:`BandIndex` keeps them as sorted numpy runs of (key, doc id)
pairs, 8 bytes a pair (about 38 MB at 100,000 documents), plus a small dict of the newest
pairs that is merged into a run when it grows (runs are merged like an LSM tree, so the
cost of keeping them sorted stays logarithmic). A lookup is a binary search per key.

It is persisted beside the database (``<database>.neardup.npz``, written atomically) with
the highest document id it covers; on open, documents stored since (by this process before
a crash, or by another process) are read back from ``neardup_docs`` and added ("catch-up"),
so a restart does not rebuild from scratch and two processes on one database see each
other's documents. The signatures themselves stay in SQLite.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

DELTA_MAX = 65536  # pairs kept in the dict before they become a sorted run
SAVE_EVERY = 60.0  # seconds: at most this often a merge also writes the file


class BandIndex:
    def __init__(self, uid: str) -> None:
        self.uid = uid  # names the neardup tables this index belongs to (neardup_meta 'uid')
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []  # (keys int32 sorted, doc ids int64)
        self.delta: dict[int, list[int]] = {}
        self.n_delta = 0
        self.ids: set[int] = set()
        self.dead: set[int] = set()
        self.watermark = 0  # highest neardup_docs id read back from the database
        self.saved_at = time.monotonic()

    # ---- changes -------------------------------------------------------------------------------
    def add(self, doc_id: int, keys: list[int]) -> bool:
        """Index ``doc_id`` under ``keys``; False if it is indexed already."""
        if doc_id in self.ids:
            return False
        self.ids.add(doc_id)
        self.dead.discard(doc_id)
        for k in set(keys):
            self.delta.setdefault(k, []).append(doc_id)
            self.n_delta += 1
        return True

    def remove(self, doc_id: int) -> None:
        if doc_id in self.ids:
            self.ids.discard(doc_id)
            self.dead.add(doc_id)

    def needs_merge(self) -> bool:
        return self.n_delta >= DELTA_MAX

    def merge(self) -> None:
        """Turn the delta into a sorted run; merge runs while the newest is not much smaller."""
        if self.n_delta:
            keys = np.fromiter((k for k, ds in self.delta.items() for _ in ds), dtype=np.int32, count=self.n_delta)
            docs = np.fromiter((d for ds in self.delta.values() for d in ds), dtype=np.int64, count=self.n_delta)
            order = np.argsort(keys, kind="stable")
            self.runs.append((keys[order], docs[order]))
            self.delta, self.n_delta = {}, 0
        while len(self.runs) > 1 and len(self.runs[-1][0]) * 4 >= len(self.runs[-2][0]):
            (k2, d2), (k1, d1) = self.runs.pop(), self.runs.pop()
            keys, docs = np.concatenate([k1, k2]), np.concatenate([d1, d2])
            order = np.argsort(keys, kind="stable")
            self.runs.append((keys[order], docs[order]))
        if self.dead and len(self.runs) == 1:  # one run holds everything: drop removed documents now
            keys, docs = self.runs[0]
            keep = ~np.isin(docs, np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
            self.runs[0] = (keys[keep], docs[keep])
            self.dead.clear()

    # ---- lookups -------------------------------------------------------------------------------
    def candidates(self, keys: list[int], limit: int) -> list[int]:
        """Up to ``limit`` doc ids sharing the most keys with ``keys`` (ties: lower id first)."""
        uniq = sorted(set(keys))
        if not uniq:
            return []
        q = np.asarray(uniq, dtype=np.int32)
        parts: list[np.ndarray] = []
        for rk, rd in self.runs:
            lo = np.searchsorted(rk, q, "left")
            lens = np.searchsorted(rk, q, "right") - lo
            hit = lens > 0
            if hit.any():
                lo, lens = lo[hit], lens[hit]
                # every position in the ranges [lo, lo + lens), gathered in one step
                ends = np.cumsum(lens)
                pos = np.arange(ends[-1]) + np.repeat(lo - (ends - lens), lens)
                parts.append(rd[pos])
        for k in uniq:
            ds = self.delta.get(k)
            if ds:
                parts.append(np.asarray(ds, dtype=np.int64))
        if not parts:
            return []
        ids, counts = np.unique(np.concatenate(parts), return_counts=True)
        if self.dead:
            live = ~np.isin(ids, np.fromiter(self.dead, dtype=np.int64, count=len(self.dead)))
            ids, counts = ids[live], counts[live]
        order = np.lexsort((ids, -counts))[:limit]
        return [int(i) for i in ids[order]]

    def pairs(self) -> int:
        return sum(len(k) for k, _ in self.runs) + self.n_delta

    def nbytes(self) -> int:
        return sum(k.nbytes + d.nbytes for k, d in self.runs)

    # ---- the file ------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write every pair (merged into one run) atomically to ``path``."""
        if self.n_delta or len(self.runs) > 1 or self.dead:
            self.merge()
            while len(self.runs) > 1:  # one run in the file
                (k2, d2), (k1, d1) = self.runs.pop(), self.runs.pop()
                keys, docs = np.concatenate([k1, k2]), np.concatenate([d1, d2])
                order = np.argsort(keys, kind="stable")
                self.runs.append((keys[order], docs[order]))
            self.merge()  # drops removed documents
        keys, docs = self.runs[0] if self.runs else (np.empty(0, np.int32), np.empty(0, np.int64))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, keys=keys, docs=docs, watermark=np.int64(self.watermark),
                         ids=np.fromiter(self.ids, dtype=np.int64, count=len(self.ids)),
                         uid=np.array(self.uid))
            os.replace(tmp, path)
            tmp = ""
        finally:
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        self.saved_at = time.monotonic()

    @classmethod
    def load(cls, path: Path, uid: str) -> BandIndex | None:
        """The index saved at ``path`` if it belongs to tables ``uid``; None if absent or foreign."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["uid"]) != uid:
                    return None
                idx = cls(uid)
                keys, docs = z["keys"].astype(np.int32), z["docs"].astype(np.int64)
                if len(keys):
                    idx.runs = [(keys, docs)]
                idx.ids = set(z["ids"].tolist())
                idx.watermark = int(z["watermark"])
        except (OSError, KeyError, ValueError):
            return None
        return idx
