"""The near-duplicate index's in-memory part: LSH band keys and a sketch of every document, compact.

Every indexed document has up to 48 band keys (32-bit). :class:`BandIndex` keeps them as sorted
numpy runs of packed ``uint64`` pairs (``key << 32 | doc id``, 8 bytes a pair, about 38 MB at
100,000 documents) plus a small dict of the newest pairs that becomes a run when it grows (runs are
merged like an LSM tree: a merge is linear, each pair is merged a logarithmic number of times). Each
run has a directory by the keys' top bits, so a lookup of all of a query's keys at once is a few
vectorised steps a run, touching two cache lines a key.

Beside the pairs, per document id (dense arrays): flags (indexed, seed, translated), the two set
sizes, and a *sketch*, the low byte of each MinHash value. Two signatures agree on at most as
many sketch bytes as MinHash values, so the sketch gives an upper bound of the similarity; a
candidate whose bound is below the threshold cannot match and is not read back (about 137 bytes
a document).

It is persisted beside the database (``<database>.neardup.npz``, written atomically) with the
highest document id it covers; on open it is validated against ``neardup_docs`` (rebuilt from it,
with a log line, when foreign, stale or corrupt) and documents stored since (by this process
before a crash, or by another process) are read back and added ("catch-up"). The signatures
themselves stay in the database.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

from monitor.store.atomic import write_atomic

DELTA_MAX = 16384  # pairs kept in the dict before they become a sorted run
MERGE_RATIO = 16  # a run is merged into the one before it once it is 1/16 of its size (at most ~3 runs)
SAVE_EVERY = 60.0  # seconds: at most this often a merge also writes the file
FORMAT = 2  # of the file; 1 was (int32 keys, int64 doc ids, ids) without sketches

PRESENT, SEED, TRANSLATED, DEAD = 1, 2, 4, 8  # flags of a document id (DEAD: removed, pairs kept)
_LOW = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)
_MAX_ID = 0xFFFFFFFF


def gather_ranges(run: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """run[lo[0]:hi[0]] + run[lo[1]:hi[1]] + ..., in one step."""
    lens = hi - lo
    hit = lens > 0
    if not hit.any():
        return run[:0]
    lo, lens = lo[hit], lens[hit]
    ends = np.cumsum(lens)
    out: np.ndarray = run[np.arange(ends[-1]) + np.repeat(lo - (ends - lens), lens)]
    return out


WINDOW = 16  # pairs read at a key's bucket in one step (a bucket holds about four); more in a second


class Run:
    """Sorted packed pairs and a directory of them: ``directory[b]`` is where the pairs of keys whose
    top ``bits`` bits are ``b`` begin (about four pairs a bucket), so that a lookup touches two or
    three cache lines a key instead of a binary search's twenty. The pairs are followed by WINDOW
    zeros (doc id 0 is no document) so that a window read at the end stays inside."""

    def __init__(self, buffer: np.ndarray, directory: np.ndarray | None = None) -> None:
        n = len(buffer) - WINDOW
        self.buffer = buffer
        self.pairs = buffer[:n]  # (a view)
        self.bits = self.bits_for(n)
        self._shift = np.uint64(32 - self.bits)
        if directory is None:  # where each bucket's first pair is: a search of the sorted pairs (no
            # per-pair temporary arrays: a large run's directory cost three times the run's memory)
            directory = np.full((1 << self.bits) + 1, n, np.uint32)
            if self.bits:
                starts = np.arange(1 << self.bits, dtype=np.uint64) << np.uint64(64 - self.bits)
                directory[:-1] = self.pairs.searchsorted(starts)
            else:
                directory[0] = 0
        self.directory = directory

    @classmethod
    def of(cls, *parts: np.ndarray) -> Run:
        """A run of the pairs in ``parts`` (each sorted, or not: sorted here)."""
        n = sum(len(p) for p in parts)
        buffer = np.zeros(n + WINDOW, np.uint64)
        at = 0
        for p in parts:
            buffer[at : at + len(p)] = p
            at += len(p)
        buffer[:n].sort(kind="stable")  # sorted parts: a linear merge
        return cls(buffer)

    @staticmethod
    def bits_for(n: int) -> int:
        return min(24, max(0, n.bit_length() - 3))

    def __len__(self) -> int:
        return len(self.pairs)

    def lookup(self, q: np.ndarray) -> np.ndarray:
        """The doc ids (uint64) paired with any of the keys ``q`` (uint64, unique); 0 may be among them."""
        b = (q >> self._shift).astype(np.intp)
        lo = self.directory[b].astype(np.intp)
        vals = self.buffer[lo[:, None] + _STEPS]  # pairs of other keys in a window fail the comparison
        out: np.ndarray = vals[(vals >> _SHIFT) == q[:, None]] & _LOW
        lens = self.directory[b + 1].astype(np.intp) - lo
        over = lens > WINDOW
        if over.any():  # a key shared by many documents: the rest of its bucket
            more = gather_ranges(self.pairs, lo[over] + WINDOW, lo[over] + lens[over])
            out = np.concatenate([out, more[(more >> _SHIFT) == np.repeat(q[over], lens[over] - WINDOW)] & _LOW])
        return out

    def nbytes(self) -> int:
        return int(self.buffer.nbytes + self.directory.nbytes)


_STEPS = np.arange(WINDOW, dtype=np.intp)


class BandIndex:
    """Band keys (``uint32``, see :func:`monitor.analysis.neardup._band_keys`) -> doc ids, and the
    per-document flags, sizes and sketches."""

    def __init__(self, uid: str, sketch_width: int) -> None:
        self.uid = uid  # names the neardup tables this index belongs to (neardup_meta 'uid')
        self.width = sketch_width
        self.runs: list[Run] = []  # sorted packed pairs, the largest (oldest) first
        self.delta: dict[int, list[int]] = {}  # key -> doc ids, the newest pairs (for lookups)
        self.pending: dict[int, np.ndarray] = {}  # doc id -> its keys, the same pairs (for the next run)
        self.n_delta = 0
        self.flags = np.zeros(0, np.uint8)  # by doc id
        self.sizes = np.zeros((0, 2), np.uint32)  # n_shingles, n_words by doc id
        self.sketch = np.zeros((0, sketch_width), np.uint8)  # by doc id
        self.live = 0  # documents indexed
        self.dead = 0  # documents removed whose pairs are still in runs
        self.watermark = 0  # highest neardup_docs id read back from the database
        self.saved_at = time.monotonic()
        self.changes = 0  # adds and removes since this object was made
        self.saved_changes = 0  # ``changes`` when it was last saved (or loaded: the file holds it)

    @property
    def unsaved(self) -> bool:
        """Whether the index differs from what was last saved or loaded."""
        return self.changes != self.saved_changes

    # ---- changes -------------------------------------------------------------------------------
    def _grow(self, doc_id: int) -> None:
        n = len(self.flags)
        if doc_id < n:
            return
        cap = max(1024, doc_id + 1, n + n // 2)
        for name in ("flags", "sizes", "sketch"):
            old = getattr(self, name)
            new = np.zeros((cap, *old.shape[1:]), old.dtype)
            new[:n] = old
            setattr(self, name, new)

    def has(self, doc_id: int) -> bool:
        return doc_id < len(self.flags) and bool(self.flags[doc_id] & PRESENT)

    def add(self, doc_id: int, keys: np.ndarray, sketch: np.ndarray, sizes: tuple[int, int], flags: int) -> bool:
        """Index ``doc_id`` under ``keys`` (uint32); False if it is indexed already."""
        if not 0 < doc_id <= _MAX_ID:
            raise ValueError(f"document id out of range: {doc_id}")
        if self.has(doc_id):
            return False
        self._grow(doc_id)
        if self.flags[doc_id] & DEAD:
            self._purge(doc_id)
        self.flags[doc_id] = PRESENT | flags
        self.sizes[doc_id] = sizes
        self.sketch[doc_id] = sketch
        self.live += 1
        uniq = np.unique(keys.astype(np.uint64))
        self.pending[doc_id] = uniq
        delta = self.delta
        for k in uniq.tolist():
            ds = delta.get(k)
            if ds is None:
                delta[k] = [doc_id]
            else:
                ds.append(doc_id)
        self.n_delta += len(uniq)
        self.changes += 1
        return True

    def remove(self, doc_id: int) -> None:
        """Unindex ``doc_id``: lookups skip it at once, its pairs go at the next full merge."""
        if not self.has(doc_id):
            return
        self.flags[doc_id] = DEAD
        self.sizes[doc_id] = 0
        self.sketch[doc_id] = 0
        self.live -= 1
        self.dead += 1
        self.changes += 1
        keys = self.pending.pop(doc_id, None)
        if keys is not None:
            for k in keys.tolist():
                ds = self.delta[k]
                ds.remove(doc_id)
                if not ds:
                    del self.delta[k]
            self.n_delta -= len(keys)

    def _purge(self, doc_id: int) -> None:
        """Drop the pairs of a removed ``doc_id`` now (its id is given to a new document)."""
        self.runs = [Run.of(run.pairs[(run.pairs & _LOW) != np.uint64(doc_id)]) for run in self.runs]
        self.flags[doc_id] = 0
        self.dead -= 1

    def needs_merge(self) -> bool:
        return self.n_delta >= DELTA_MAX

    def merge(self, *, full: bool = False) -> None:
        """Turn the delta into a sorted run; merge runs while the newest is not much smaller
        (all of them when ``full``). Pairs of removed documents go when everything is one run."""
        if self.pending:
            keys = np.concatenate(list(self.pending.values()))
            docs = np.repeat(np.fromiter(self.pending, dtype=np.uint64, count=len(self.pending)),
                             [len(k) for k in self.pending.values()])
            self.runs.append(Run.of((keys << _SHIFT) | docs))
        self.delta, self.pending, self.n_delta = {}, {}, 0
        while len(self.runs) > 1 and (full or len(self.runs[-1]) * MERGE_RATIO >= len(self.runs[-2])):
            newer, older = self.runs.pop(), self.runs.pop()
            self.runs.append(Run.of(older.pairs, newer.pairs))
        if self.dead and len(self.runs) <= 1:
            if self.runs:
                run = self.runs[0].pairs
                self.runs[0] = Run.of(run[(self.flags[(run & _LOW).astype(np.int64)] & PRESENT) != 0])
            self.flags[self.flags == DEAD] = 0
            self.dead = 0

    # ---- lookups -------------------------------------------------------------------------------
    def candidates(self, keys: np.ndarray, limit: int) -> np.ndarray:
        """Up to ``limit`` doc ids (int64) sharing the most keys with ``keys`` (ties: lower id first)."""
        q = np.unique(keys.astype(np.uint64))
        if not q.size:
            return np.empty(0, np.int64)
        parts = [run.lookup(q) for run in self.runs]
        if self.delta:
            get = self.delta.get
            found = [ds for k in q.tolist() if (ds := get(k))]
            if found:
                parts.append(np.fromiter((d for ds in found for d in ds), dtype=np.uint64))
        if not parts:
            return np.empty(0, np.int64)
        ids: np.ndarray = np.concatenate(parts).astype(np.int64) if len(parts) > 1 else parts[0].astype(np.int64)
        ids = ids[(self.flags[ids] & PRESENT) != 0]
        if not ids.size:
            return ids
        ids, counts = np.unique(ids, return_counts=True)
        best: np.ndarray = ids[np.lexsort((ids, -counts))[:limit]]
        return best

    def pairs(self) -> int:
        return sum(len(r) for r in self.runs) + self.n_delta

    def nbytes(self) -> int:
        """Bytes held: the runs, the per-document arrays and (an estimate of) the delta dict."""
        return (sum(r.nbytes() for r in self.runs) + self.flags.nbytes + self.sizes.nbytes + self.sketch.nbytes
                + 100 * len(self.delta) + 140 * len(self.pending) + 48 * self.n_delta)

    # ---- the file ------------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write every pair (merged into one run) and the document arrays atomically to ``path``."""
        if self.pending or len(self.runs) > 1 or self.dead:
            self.merge(full=True)
        run = self.runs[0] if self.runs else Run.of()
        n = int(np.flatnonzero(self.flags)[-1]) + 1 if self.live else 0

        def write(fh: BinaryIO) -> None:
            _write_npz(fh, format=np.array(FORMAT, np.int64), uid=np.array(self.uid), pairs=run.buffer,
                       directory=run.directory, flags=self.flags[:n], sizes=self.sizes[:n], sketch=self.sketch[:n],
                       watermark=np.array(self.watermark, np.int64), live=np.array(self.live, np.int64))

        write_atomic(path, write)
        self.saved_at = time.monotonic()
        self.saved_changes = self.changes

    @classmethod
    def load(cls, path: Path, uid: str, sketch_width: int) -> tuple[BandIndex | None, str]:
        """(the index saved at ``path``, "") if it is whole and belongs to tables ``uid``; else (None,
        why not: "absent", or a reason to log)."""
        try:
            with np.load(path, allow_pickle=False) as z:  # a zip: CRC-checked
                if int(z["format"]) != FORMAT:
                    return None, f"of another format ({int(z['format'])})"
                if str(z["uid"]) != uid:
                    return None, "of other tables (the database was recreated)"
                idx = cls(uid, sketch_width)
                run, directory = z["pairs"], z["directory"]
                flags, sizes, sketch = z["flags"], z["sizes"], z["sketch"]
                idx.watermark, idx.live = int(z["watermark"]), int(z["live"])
        except FileNotFoundError:
            return None, "absent"
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            return None, f"corrupt ({type(e).__name__}: {e})"
        # The zip's CRCs tell a damaged file; these checks, one written by something else.
        n = len(flags)
        if (run.dtype != np.uint64 or run.ndim != 1 or flags.dtype != np.uint8 or flags.ndim != 1
                or sizes.shape != (n, 2) or sketch.shape != (n, sketch_width) or sketch.dtype != np.uint8
                or len(run) < WINDOW or bool(run[len(run) - WINDOW :].any())
                or directory.shape != ((1 << Run.bits_for(len(run) - WINDOW)) + 1,) or directory.dtype != np.uint32
                or int(directory[0]) != 0 or int(directory[-1]) != len(run) - WINDOW
                or idx.live != int(np.count_nonzero(flags & PRESENT)) or (len(run) > WINDOW and not n)):
            return None, "corrupt (inconsistent arrays)"
        idx.runs = [Run(run, directory)] if len(run) > WINDOW else []
        idx.flags, idx.sizes, idx.sketch = flags, sizes.astype(np.uint32, copy=False), sketch
        return idx, ""


def _write_npz(fh: BinaryIO, **arrays: np.ndarray) -> None:
    """What ``np.savez(fh, **arrays)`` writes (an uncompressed zip of ``.npy`` members, read by
    ``np.load``), with each array's memory written as it is: ``savez`` copies an array to bytes
    first, which at a save of a large index doubled its memory for a moment."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            arr = arr if arr.flags.c_contiguous else arr.copy()
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_2_0(member, np.lib.format.header_data_from_array_1_0(arr))
                if arr.size:
                    member.write(arr.reshape(-1).view(np.uint8).data)
