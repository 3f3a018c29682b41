"""Faster, answer-for-answer identical drivers of two detectors the language stage asks.

- :func:`langid_scores` is py3langid 0.4.0's ``LanguageIdentifier._decide`` (normalised
  probabilities per class) with the byte-DFA walk done in numpy instead of a Python loop per
  byte. The tokenizer is an Aho-Corasick automaton whose deepest state is 6 bytes from the
  root, so the state after any byte is the state reached from the root by the last 6 bytes
  alone: 6 vectorised passes give every position's state. Feature counts keep the order of
  first occurrence, as ``collections.Counter`` does, so the float32 dot product adds in the
  same order. One call serves both ``classify`` (:func:`langid_classify`) and ``rank``
  (:func:`langid_rank`) of the same text.
- :func:`langdetect_probabilities` is langdetect 1.0.9's ``Detector.get_probabilities`` with
  the per-language update loop on a numpy vector: the same seeded random draws, the same
  products (``prob[i] *= weight + p[i]``), sums taken left to right in Python as before.

Both check that the library is the version (and py3langid's model the one) they mirror and
use the library's own code otherwise. tests/test_detector_engines.py compares them with the
libraries; bench/identical.py compares the stage's decisions with those recorded before.
"""

from __future__ import annotations

import json
import math
import os
import threading
from array import array
from collections import Counter
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from operator import itemgetter
from typing import Any

import numpy as np

__all__ = ["CompactProbMap", "LangidEngine", "compact_profiles", "langdetect_probabilities", "load_profiles"]

_ROW_CACHE = 16384  # float32 feature rows kept (of the model's 100,053)
_DEPTH = 6  # deepest state of py3langid 0.4.0's model automaton (tests check it)
_MODEL_SHAPE = (9816576, 104583, 104583, (100053, 142))  # nextmove, row, output, ptc: the model we mirror


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class LangidEngine:
    """py3langid scoring for one ``LanguageIdentifier`` (``norm_probs=True``)."""

    def __init__(self, ident: Any, *, own_tables: bool = False) -> None:
        """``own_tables``: the identifier is this engine's alone, so the Python lists its own byte walk
        reads (about 8 MB of int objects; the engine walks arrays of the same values) are released
        (the identifier's own ``_decide`` no longer works then)."""
        self.ident = ident
        shape = (len(ident.tk_nextmove), len(ident.tk_row), len(ident.tk_output), tuple(ident.nb_ptc.shape))
        self.fast = (_version("py3langid") == "0.4.0" and shape == _MODEL_SHAPE and bool(ident._norm_probs)
                     and ident.min_confidence is None)
        if self.fast:
            self._nm = np.frombuffer(ident.tk_nextmove, dtype=np.dtype(ident.tk_nextmove.typecode))  # no copy
            self._rowbase = np.frombuffer(ident.tk_row, dtype=np.dtype(ident.tk_row.typecode)).astype(np.intp) << 8
            self._out = np.asarray(ident.tk_output, dtype=np.intp)
            if own_tables:
                ident._rowbase = ident.tk_output = None
            # float32 copies of the feature rows met so far (at most _ROW_CACHE of them, about 9 MB):
            # the model keeps them as float16, and converting 300 rows per text cost more than the product
            n_feat, n_class = ident.nb_ptc.shape
            self._slot = np.full(n_feat, -1, dtype=np.intp)  # feature -> row of _rows32, -1 if none
            self._rows32 = np.empty((_ROW_CACHE, n_class), dtype=np.float32)
            self._used = 0
            self._fill = threading.Lock()

    def _visits(self, data: bytes) -> tuple[np.ndarray, np.ndarray] | None:
        """(feature indexes in order of first occurrence, their counts as float32), as the library's
        ``Counter`` of them holds them, or None without features."""
        n = len(data)
        if n == 0:
            return None
        byte = np.frombuffer(data, dtype=np.uint8).astype(np.intp)
        state = np.zeros(n, dtype=self._nm.dtype)
        nm, rowbase = self._nm, self._rowbase
        for k in range(_DEPTH):
            shift = _DEPTH - 1 - k  # position j reads byte j - shift in this pass
            if shift >= n:
                continue
            state[shift:] = nm[rowbase[state[shift:]] + byte[: n - shift]]
        feats = self._out[state]
        feats = feats[feats >= 0]
        if feats.size == 0:
            return None
        if feats.size < 128:  # few: a Counter, as the library, is quickest
            visits = Counter(feats.tolist())
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            return idx, counts
        # many: distinct features by a stable sort, put back in order of first occurrence
        order = np.argsort(feats, kind="stable")
        ranked = feats[order]
        starts_here = np.empty(ranked.size, dtype=bool)
        starts_here[0] = True
        np.not_equal(ranked[1:], ranked[:-1], out=starts_here[1:])
        starts = np.flatnonzero(starts_here)
        counts_sorted = np.diff(starts, append=ranked.size)
        seen_order = np.argsort(order[starts])  # each feature's first position, in text order
        return ranked[starts][seen_order], counts_sorted[seen_order].astype(np.float32)

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        """``nb_ptc[idx]`` as float32, the matrix ``float32 @ float16`` would have cast it into."""
        slot = self._slot[idx]
        missing = slot < 0
        if missing.any():
            with self._fill:
                new = np.unique(idx[missing])
                new = new[self._slot[new] < 0]  # another thread may have added some meanwhile
                room = min(len(new), _ROW_CACHE - self._used)
                if room:
                    at = np.arange(self._used, self._used + room)
                    self._rows32[at] = self.ident.nb_ptc[new[:room]]
                    self._slot[new[:room]] = at  # published after the rows are written
                    self._used += room
            slot = self._slot[idx]
            missing = slot < 0
        rows = self._rows32[slot]
        if missing.any():  # the cache is full: convert the rest here
            rows[missing] = self.ident.nb_ptc[idx[missing]]
        return rows

    def scores(self, text: str) -> np.ndarray:
        """What ``LanguageIdentifier._decide(text)`` returns."""
        ident = self.ident
        if not self.fast:
            return ident._decide(text)
        data = ident._encode(text)
        visits = self._visits(data)
        if visits is not None:
            idx, counts = visits
            scores = np.log1p(counts) @ self._rows(idx) + ident.nb_pc
        else:
            scores = np.full(len(ident.nb_classes), 0.0, dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in ident._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        return scores

    def classify(self, scores: np.ndarray) -> tuple[str, float]:
        """``LanguageIdentifier.classify`` from :meth:`scores`."""
        i = int(scores.argmax())
        return self.ident.nb_classes[i], float(scores[i])

    def rank(self, scores: np.ndarray) -> list[tuple[str, float]]:
        """``LanguageIdentifier.rank`` from :meth:`scores`."""
        merged: dict[str, float] = {}
        for lang, score in zip(self.ident.nb_classes, scores.tolist()):
            merged.setdefault(lang, score)
        return sorted(merged.items(), key=itemgetter(1), reverse=True)


_LANGDETECT_FAST = _version("langdetect") == "1.0.9"


class CompactProbMap(dict[str, int]):
    """langdetect's ``word_lang_prob_map`` (n-gram -> a probability per language) held sparse.

    The library keeps a list of 55 floats for each of its 87,598 n-grams, 96 % of them zero:
    about 47 MB. Here each n-gram's non-zero entries are (language index, value) runs of two
    arrays, about 9 MB with the index. It is a dict of n-gram -> row, so ``in`` (the library
    asks it for every n-gram of a text) runs at dict speed; ``[word]`` gives the probabilities
    as the library's list (rebuilt), so the library's own code still works with it; :func:`_detect_block`
    reads the rows of a text as one float64 matrix (:meth:`rows`)."""

    def __init__(self, rows: dict[str, int], starts: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                 n_lang: int) -> None:
        """``rows``: n-gram -> row; row ``r``'s entries are ``cols[starts[r]:starts[r + 1]]`` (language
        indexes, rising) with the values ``vals[...]`` there."""
        super().__init__(rows)
        self.n_lang = n_lang
        self._starts = starts.astype(np.int64, copy=False)
        self._cols = cols.astype(np.int16, copy=False)
        self._vals = vals.astype(np.float64, copy=False)

    @classmethod
    def of_dense(cls, dense: Mapping[str, list[float]], n_lang: int) -> CompactProbMap:
        """The library's map (n-gram -> list of ``n_lang`` floats), held sparse."""
        rows: dict[str, int] = {}
        starts = [0]
        cols: list[int] = []
        vals: list[float] = []
        for word, probs in dense.items():
            rows[word] = len(starts) - 1
            for j, p in enumerate(probs):
                if p != 0.0 or math.copysign(1.0, p) < 0:  # a -0.0 is kept as it is
                    cols.append(j)
                    vals.append(p)
            starts.append(len(cols))
        return cls(rows, np.asarray(starts), np.asarray(cols), np.asarray(vals, dtype=np.float64), n_lang)

    @classmethod
    def of_profiles(cls, directory: str) -> tuple[list[str], CompactProbMap]:
        """(languages, map) as ``DetectorFactory.load_profile(directory)`` fills ``langlist`` and
        ``word_lang_prob_map``, read straight into the sparse form: the library builds a list of
        floats per n-gram first (47 MB whose freed memory the allocator mostly keeps). Raises on
        any profile the library would refuse (the caller then lets the library say why)."""
        names = os.listdir(directory)  # the library's order, and its language count (all names)
        if not names:
            raise ValueError(f"{directory}: no profiles")
        langs: list[str] = []
        rows: dict[str, int] = {}
        owner, cols, vals = array("q"), array("h"), array("d")
        for name in names:
            path = os.path.join(directory, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as fh:
                profile = json.load(fh)
            lang, n_words = profile["name"], profile["n_words"]
            if lang in langs:
                raise ValueError(f"{path}: language {lang!r} twice")
            index = len(langs)
            langs.append(lang)
            for word, count in (profile.get("freq") or {}).items():
                row = rows.setdefault(word, len(rows))
                if 1 <= len(word) <= 3:
                    p = 1.0 * count / n_words[len(word) - 1]  # the library's expression
                    if p != 0.0 or math.copysign(1.0, p) < 0:
                        owner.append(row)
                        cols.append(index)
                        vals.append(p)
        own = np.frombuffer(owner, dtype=np.int64)
        order = np.argsort(own, kind="stable")  # by row; within a row the languages stay in order
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(np.bincount(own, minlength=len(rows)), out=starts[1:])
        return langs, cls(rows, starts, np.frombuffer(cols, dtype=np.int16)[order],
                          np.frombuffer(vals, dtype=np.float64)[order], len(names))

    def __getitem__(self, word: str) -> list[float]:  # type: ignore[override]
        table: list[float] = self.rows([word])[0].tolist()
        return table

    def rows(self, words: list[str]) -> np.ndarray:
        """The dense rows of ``words`` (each in the map), float64, one per word."""
        row = dict.__getitem__
        at = np.fromiter((row(self, w) for w in words), dtype=np.int64, count=len(words))
        lo, hi = self._starts[at], self._starts[at + 1]
        sizes = hi - lo
        total = int(sizes.sum())
        table = np.zeros((len(words), self.n_lang), dtype=np.float64)
        if total:
            owner = np.repeat(np.arange(len(words)), sizes)
            pos = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(lo, sizes)
            table[owner, self._cols[pos]] = self._vals[pos]
        return table


def compact_profiles(factory: Any) -> None:
    """Replace a loaded langdetect ``DetectorFactory``'s n-gram map with a :class:`CompactProbMap`
    (the library version this module mirrors only; detectors created afterwards use it)."""
    if _LANGDETECT_FAST and type(factory.word_lang_prob_map) is dict and factory.langlist:  # not twice
        factory.word_lang_prob_map = CompactProbMap.of_dense(factory.word_lang_prob_map, len(factory.langlist))


def load_profiles(factory: Any, directory: str) -> None:
    """``factory.load_profile(directory)`` then :func:`compact_profiles`, without the library's dense
    map in between (the version this module mirrors, on a factory with nothing loaded); otherwise,
    or when a profile is one the library refuses, the library's own loading (and its error)."""
    if _LANGDETECT_FAST and not factory.langlist and not factory.word_lang_prob_map:
        try:
            langs, compact = CompactProbMap.of_profiles(directory)
        except Exception:  # noqa: BLE001 - the library's load below raises its own error for it
            pass
        else:
            factory.langlist, factory.word_lang_prob_map = langs, compact
            return
        factory.clear()
    factory.load_profile(directory)
    compact_profiles(factory)


def langdetect_probabilities(det: Any) -> list[Any]:
    """``det.get_probabilities()`` for a fresh langdetect ``Detector`` that has its text."""
    if not _LANGDETECT_FAST or det.prior_map is not None or det.verbose or det.langprob is not None:
        return det.get_probabilities()
    from langdetect.lang_detect_exception import ErrorCode, LangDetectException

    det.cleaning_text()
    ngrams = det._extract_ngrams()
    if not ngrams:
        raise LangDetectException(ErrorCode.CantDetectError, "No features in text.")
    probs = _detect_block(det, ngrams)
    if probs is None:  # an underflow or overflow the vector code does not mirror: the library's loop
        det.langprob = None
        det._detect_block()
        return det._sort_probability(det.langprob)
    return det._sort_probability(probs)


def _detect_block(det: Any, ngrams: list[str]) -> list[float] | None:
    """langdetect's ``Detector._detect_block`` on numpy vectors; None where it would not be exact."""
    wmap = det.word_lang_prob_map
    index: dict[str, int] = {}
    picks: list[int] = []
    for w in ngrams:
        k = index.get(w)
        if k is None:
            k = index[w] = len(index)
        picks.append(k)
    words = list(index)  # in order of first occurrence, as picks number them
    if isinstance(wmap, CompactProbMap):
        table = wmap.rows(words)
    else:
        table = np.array([wmap[w] for w in words], dtype=np.float64)
    n_lang = len(det.langlist)
    n_trial = det.n_trial
    rnd = det.random
    rnd.seed(det.seed)
    langprob = np.zeros(n_lang, dtype=np.float64)
    limit, conv = det.ITERATION_LIMIT, det.CONV_THRESHOLD
    for _ in range(n_trial):
        prob = np.full(n_lang, 1.0 / n_lang, dtype=np.float64)
        alpha = det.alpha + rnd.gauss(0.0, 1.0) * det.ALPHA_WIDTH
        factors = (alpha / det.BASE_FREQ) + table  # weight + lang_prob_map[i], per row
        i = 0
        while True:
            prob *= factors[rnd.choice(picks)]
            if i % 5 == 0:
                sump = sum(prob.tolist())  # left to right, as the library's sum() of a list
                if not (0.0 < sump < math.inf):
                    return None
                prob /= sump
                if float(prob.max()) > conv or i >= limit:
                    break
            i += 1
        langprob += prob / n_trial
    return langprob.tolist()
