"""Near-duplicate detection across languages: MinHash signatures, LSH bands in memory.

A document's :class:`Signature` carries three kinds of evidence, all computed from
the English text (original or machine-translated) plus, for translated items, the
original text:

* a MinHash over word shingles (pairs of consecutive stemmed content words),
  which recognises republications, trimmed/extended copies and lightly edited
  agency copy;
* a MinHash over the set of stemmed content words, which survives rewording;
* an exact, small set of "anchors": names (capitalised tokens reduced to a Latin
  consonant skeleton so that ``Tokayev``, ``Tokaev`` and ``Токаевым`` agree),
  months and numbers (``9``, ``2023``, ``1.5``), which tell one event from another.

The similarity of two signatures (:func:`similarity`) is the larger of the shingle
overlap and the product of word, anchor and number overlap (cube-rooted when either
side is a translation). Candidates come from LSH bands of the shingle MinHash and
of a MinHash of the anchors, kept in memory as sorted numpy arrays
(:mod:`monitor.analysis.neardup_bands`, persisted beside the database); signatures are stored in
SQLite, and the newest items' are held in memory too (those this process adds or catches up
with, and those read back for a query), so most queries read no SQL; seeds, being few, are all
compared.
"""

from __future__ import annotations

import logging
import os
import re
import time
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import snowballstemmer

from monitor import StoreError
from monitor.analysis.neardup_bands import PRESENT, SAVE_EVERY, SEED, TRANSLATED, BandIndex, gather_ranges
from monitor.store import SignatureRecord, Store

log = logging.getLogger(__name__)

__all__ = [
    "NearDupSettings",
    "Signature",
    "Candidate",
    "Decision",
    "decide",
    "Evidence",
    "evidence",
    "make_signature",
    "similarity",
    "NearDupIndex",
]

_SCHEMA_VERSION = 1
SIGNATURES_HELD = 16_384  # newest item signatures kept in memory (about 0.8 KB each); older ones are read back
CATCH_UP_CHUNK = 2_000  # signatures read back at a time when the band index is built or caught up


@dataclass(frozen=True)
class NearDupSettings:
    """Tuning of signatures and LSH; defaults are measured by bench/bench_dedup.py."""

    threshold: float = 0.45  # similarity at/above which two docs are one story
    num_perm: int = 64  # permutations per MinHash (two MinHashes per doc)
    bands: int = 16  # LSH bands over the shingle MinHash
    rows: int = 2  # rows per band (bands * rows <= num_perm)
    anchor_bands: int = 32  # LSH bands over a MinHash of names and numbers
    anchor_rows: int = 3
    seed_scan_limit: int = 1000  # up to this many seeds are all compared, LSH or not
    shingle_size: int = 2  # consecutive content words per shingle
    max_anchors: int = 128  # names/numbers kept per document
    min_containment_size: int = 12  # smaller sets are compared by Jaccard, not containment
    containment_guard: float = 2.0  # containment counts up to this multiple of Jaccard
    max_candidates: int = 32  # LSH candidates (most band hits first) verified per query
    seed: int = 20230509  # permutation seed; stored in the index and checked

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.bands * self.rows > self.num_perm:
            raise ValueError("bands * rows must not exceed num_perm")
        if min(self.shingle_size, self.num_perm, self.bands, self.rows,
               self.anchor_bands, self.anchor_rows, self.max_candidates) < 1:
            raise ValueError("sizes, bands and rows must be positive")


@dataclass(frozen=True, eq=False)
class Signature:
    """Compact fingerprint of one document (about 0.6 KB)."""

    shingles: np.ndarray  # uint32[num_perm], MinHash of word shingles
    words: np.ndarray  # uint32[num_perm], MinHash of content words
    anchors: np.ndarray  # sorted unique uint32 hashes of names and numbers
    n_shingles: int  # distinct shingles
    n_words: int  # distinct content words
    translated: bool = False  # English text is a machine translation
    shingle_set: np.ndarray | None = None  # exact sorted uint32 shingle hashes (kept for seeds)

    def to_blob(self) -> bytes:
        """Serialise for SQLite (sizes, then the three arrays)."""
        head = np.array(
            [self.n_shingles, self.n_words, len(self.shingles), len(self.anchors), int(self.translated)],
            dtype="<u4",
        )
        return b"".join(
            a.astype("<u4", copy=False).tobytes()
            for a in (head, self.shingles, self.words, self.anchors)
        )

    @classmethod
    def from_blob(cls, blob: bytes) -> Signature:
        """Inverse of :meth:`to_blob`."""
        arr = np.frombuffer(blob, dtype="<u4")
        n_sh, n_w, k, n_a, tr = (int(x) for x in arr[:5])
        return cls(
            shingles=arr[5 : 5 + k],
            words=arr[5 + k : 5 + 2 * k],
            anchors=arr[5 + 2 * k : 5 + 2 * k + n_a],
            n_shingles=n_sh,
            n_words=n_w,
            translated=bool(tr),
        )


@dataclass(frozen=True)
class Candidate:
    """An indexed document at/above the threshold for a query."""

    doc_key: str
    kind: str  # "seed" | "item"
    story_id: int | None
    similarity: float


@dataclass(frozen=True)
class Decision:
    """What to do with a new document given its candidates."""

    outcome: str  # "duplicate" (of a seed) | "joins_story" (of an item) | "new_story"
    match: Candidate | None  # the seed or item it matched

    @property
    def story_id(self) -> int | None:
        return self.match.story_id if self.match is not None else None


def decide(candidates: list[Candidate]) -> Decision:
    """A matching seed wins over items (the analyst has read it); else the best item."""
    seeds = [c for c in candidates if c.kind == "seed"]
    if seeds:
        return Decision("duplicate", max(seeds, key=lambda c: c.similarity))
    if candidates:
        return Decision("joins_story", max(candidates, key=lambda c: c.similarity))
    return Decision("new_story", None)


# --------------------------------------------------------------------------- text

_EN_STOP = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours ourselves out over own same she should so some such than that
    the their theirs them themselves then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves said says say according told tell one two new last year
    years week day may might must shall us its it's per mr ms via however since amid among
    around across within without would whose being than which while upon onto""".split()
)
# Capitalised function words that must not count as names (Russian, Ukrainian, Kazakh).
_CYR_STOP = frozenset(
    """в во на и а но не что как это по за из к ко от до о об при для с со у же ли бы
    он она они оно мы вы я его ее её их этот эта эти тот та те так также уже еще ещё
    все всё всех был была были будет было когда где если то чтобы после перед между
    над под через около более менее только ни да нет или кроме однако ведь вот при
    по словам сообщает сообщил сообщила заявил заявила отметил отметила""".split()
)
_RU_MONTHS = {
    "январ": "january", "феврал": "february", "март": "march", "апрел": "april",
    "мая": "may", "май": "may", "мае": "may", "июн": "june", "июл": "july",
    "август": "august", "сентябр": "september", "октябр": "october",
    "ноябр": "november", "декабр": "december",
}
_EN_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
_CYR2LAT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ә": "a", "ғ": "g", "қ": "k",
    "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "ў": "u", "ј": "j",
}
_RU_CASE_ENDINGS = ("ыми", "ими", "ами", "ями", "ым", "им", "ом", "ем", "ой", "ей", "ах", "ях", "ую")

# Words; numbers with decimal/thousands separators ("1.5", "10,000", "10 000" but not "2023 10").
_WORD_RE = re.compile(
    r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d{1,3}(?:[\u00a0 ]\d{3}(?!\d))+|\d+(?:[.,]\d+)*", re.UNICODE
)
_CYR_RE = re.compile(r"[\u0400-\u04ff]")
_DIGRAPHS = (("shch", "sh"), ("dzh", "j"), ("zh", "j"), ("kh", "h"), ("ts", "c"), ("tz", "c"),
             ("ph", "f"), ("ck", "k"), ("w", "v"), ("x", "ks"), ("q", "k"))
_VOWELS = frozenset("aeiouy")

_stemmer = snowballstemmer.stemmer("english")


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


@lru_cache(maxsize=20_000)
def _skeleton(word: str) -> str:
    """Latin consonant skeleton of a name: 'Tokayev', 'Tokaev', 'Токаевым' -> 'tkv'."""
    w = word.lower()
    if _CYR_RE.search(w):
        for end in _RU_CASE_ENDINGS:
            if w.endswith(end) and len(w) - len(end) >= 3:
                w = w[: -len(end)]
                break
        w = "".join(_CYR2LAT.get(ch, ch) for ch in w)
    w = unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode()
    w = "".join(ch for ch in w if "a" <= ch <= "z")
    if not w:
        return ""
    for a, b in _DIGRAPHS:
        w = w.replace(a, b)
    if len(w) > 1 and w[0] == "y" and w[1] in _VOWELS:
        w = w[1:]
    first = "_" if w[0] in _VOWELS else w[0]
    out = [first]
    for ch in w[1:]:
        if ch not in _VOWELS and ch != out[-1]:
            out.append(ch)
    return "".join(out)


def _norm_number(tok: str) -> str:
    """'10,000' / '10 000' -> '10000'; '1,5' / '1.5' -> '1.5'."""
    parts = re.split(r"[.,\u00a0 ]", tok)
    if len(parts) == 1:
        return tok.lstrip("0") or "0"
    if all(len(p) == 3 for p in parts[1:]):
        return "".join(parts).lstrip("0") or "0"
    return (parts[0].lstrip("0") or "0") + "." + "".join(parts[1:])


def _h32(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def _content_term(tok: str) -> str | None:
    """Stemmed lower-case form of a word token, normalised number, or None for stopwords."""
    if tok[0].isdigit():
        return _norm_number(tok)
    low = tok.lower()
    if low.endswith("'s"):
        low = low[:-2]
    if low in _EN_STOP or len(low) < 2:
        return None
    return _stem(low)


@lru_cache(maxsize=100_000)  # bounded: about 15 MB when full
def _content_hash(tok: str) -> int:
    """CRC32 of :func:`_content_term`, or -1 for stopwords."""
    term = _content_term(tok)
    return -1 if term is None else _h32(term)


@lru_cache(maxsize=50_000)
def _anchor_of(tok: str, cyrillic_months: bool) -> str | None:
    """Anchor of one token: 'n:<number>', 'm:<month>', 'e:<name skeleton>' or None."""
    c = tok[0]
    if c.isdigit():
        return "n:" + _norm_number(tok)
    low = tok.lower()
    if c.islower():
        if cyrillic_months:
            for stem, month in _RU_MONTHS.items():
                if low.startswith(stem):
                    return "m:" + month
        return None
    if not c.isupper():
        return None
    if low.endswith("'s"):
        low = low[:-2]
    if low in _EN_MONTHS:
        return "m:" + low
    if low in _EN_STOP or low in _CYR_STOP or len(low) < 3:
        return None
    sk = _skeleton(low)
    return "e:" + sk if len(sk) >= 2 else None


def _tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text.replace("’", "'"))


def _content_tokens(text: str) -> list[str]:
    """Stemmed, lower-cased content words and numbers of English text, in order."""
    return [t for t in map(_content_term, _tokens(text)) if t is not None]


def _anchors(toks: list[str], cyrillic_months: bool) -> set[str]:
    """Names (consonant skeletons), months and numbers among ``toks``.

    A capitalised word that also occurs in lower case in the same text (a sentence-initial
    common word) is not a name.
    """
    lower_seen = {t for t in toks if t[0].islower()}
    found = {_anchor_of(t, cyrillic_months) for t in toks if t[0].isdigit() or t.lower() not in lower_seen
             or (cyrillic_months and t[0].islower())}
    found.discard(None)
    return found  # type: ignore[return-value]


# ------------------------------------------------------------------------ hashing

_MASK32 = np.uint64(0xFFFFFFFF)
_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)


@lru_cache(maxsize=8)
def _perms(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a[:, None], b[:, None]


def _minhash(values: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash (multiply-add-shift family) of 32-bit set members; uint32[num_perm]."""
    if values.size == 0:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    a, b = _perms(num_perm, seed)
    with np.errstate(over="ignore"):
        h = (values[None, :] * a + b) >> np.uint64(32)
    return h.min(axis=1).astype(np.uint32)


def _shingle_hashes(tok_hashes: np.ndarray, k: int) -> np.ndarray:
    """32-bit hashes of the k-word shingles of a token hash sequence."""
    n = tok_hashes.size
    if n < k:
        return tok_hashes.copy()
    with np.errstate(over="ignore"):
        acc = tok_hashes[: n - k + 1].copy()
        for i in range(1, k):
            acc = (acc * _MIX1) ^ tok_hashes[i : n - k + 1 + i]
        acc = acc * _MIX2
        acc ^= acc >> np.uint64(31)
        acc = acc * _MIX1
    return acc >> np.uint64(32)


def make_signature(
    english_text: str,
    original_text: str | None = None,
    language: str | None = None,
    settings: NearDupSettings = NearDupSettings(),
) -> Signature:
    """Fingerprint a document from its English text (and, if translated, its original)."""
    toks = _tokens(english_text)
    hashes = [h for h in map(_content_hash, toks) if h >= 0]
    th = np.array(hashes, dtype=np.uint64)
    sh = np.unique(_shingle_hashes(th, settings.shingle_size))
    wh = np.unique(th)
    anchor_set = _anchors(toks, cyrillic_months=False)
    translated = (language or "en").lower().split("-")[0] != "en"
    if original_text and translated:
        anchor_set |= _anchors(_tokens(original_text), cyrillic_months=True)
    # Lowest bit tags numbers (1) apart from names and months (0).
    anchors = np.unique(
        np.array([(_h32(a) & 0xFFFFFFFE) | (a[0] == "n") for a in anchor_set], dtype=np.uint32)
    )
    if anchors.size > settings.max_anchors:
        anchors = anchors[: settings.max_anchors]  # hash order: a stable random subset
    return Signature(
        shingles=_minhash(sh, settings.num_perm, settings.seed),
        words=_minhash(wh, settings.num_perm, settings.seed + 1),
        anchors=anchors,
        n_shingles=int(sh.size),
        n_words=int(wh.size),
        translated=translated,
        shingle_set=sh.astype(np.uint32),
    )


# --------------------------------------------------------------------- similarity


def _overlap(j: float, na: int, nb: int, s: NearDupSettings) -> float:
    """Guarded containment: overlap relative to the smaller set, but at most guard * Jaccard.

    Plain containment lets a long article "contain" every short one on the same topic
    (and MinHash estimates it badly when sizes differ a lot); the guard keeps excerpts of
    a quarter of the article or more while ignoring a few shared names.
    """
    if na == 0 or nb == 0:
        return 0.0
    if min(na, nb) < s.min_containment_size:
        return j
    inter = j * (na + nb) / (1.0 + j)
    return min(1.0, inter / min(na, nb), s.containment_guard * j)


def _minhash_overlap(sig_a: np.ndarray, sig_b: np.ndarray, na: int, nb: int, s: NearDupSettings) -> float:
    j = float(np.count_nonzero(sig_a == sig_b)) / sig_a.size
    return _overlap(j, na, nb, s)


def _exact_containment(a: np.ndarray, b: np.ndarray, s: NearDupSettings) -> float:
    """Share of the smaller exact shingle set found in the other (an excerpt of a seed)."""
    small = min(a.size, b.size)
    if small < s.min_containment_size:
        return 0.0
    return np.intersect1d(a, b, assume_unique=True).size / small


def _anchor_overlap(a: np.ndarray, b: np.ndarray, s: NearDupSettings) -> float:
    if a.size == 0 or b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    j = inter / (a.size + b.size - inter)
    return min(1.0, inter / min(a.size, b.size), s.containment_guard * j)


@dataclass(frozen=True)
class Evidence:
    """The parts of a similarity score, for explaining a decision."""

    shingles: float
    words: float
    anchors: float
    names: float
    numbers: float
    score: float


def evidence(a: Signature, b: Signature, settings: NearDupSettings = NearDupSettings()) -> Evidence:
    """Similarity of two signatures with its parts."""
    cs = _minhash_overlap(a.shingles, b.shingles, a.n_shingles, b.n_shingles, settings)
    if a.shingle_set is not None and b.shingle_set is not None:
        cs = max(cs, _exact_containment(a.shingle_set, b.shingle_set, settings))
    cw = _minhash_overlap(a.words, b.words, a.n_words, b.n_words, settings)
    ca = _anchor_overlap(a.anchors, b.anchors, settings)
    na_, nb_ = a.anchors & 1 == 1, b.anchors & 1 == 1
    cn = _anchor_overlap(a.anchors[~na_], b.anchors[~nb_], settings)
    cd = _anchor_overlap(a.anchors[na_], b.anchors[nb_], settings)
    # Rewording (edits, machine translation) breaks shingles but keeps vocabulary, names and
    # numbers; their product is softened (cube root) when either side is a translation.
    nums = cd if min(int(na_.sum()), int(nb_.sum())) >= 2 else ca
    vocab = cw * ca * nums
    if a.translated or b.translated:
        vocab **= 1.0 / 3.0
    return Evidence(cs, cw, ca, cn, cd, max(cs, vocab))


def similarity(a: Signature, b: Signature, settings: NearDupSettings = NearDupSettings()) -> float:
    """Similarity in [0, 1]; >= settings.threshold means one story."""
    return evidence(a, b, settings).score


# -------------------------------------------------------------------------- index


class _Postings:
    """Sets of uint32 hashes of k documents (each sorted and unique), for counting overlaps."""

    def __init__(self, sets: list[np.ndarray | None]) -> None:
        self.k = len(sets)
        self.size = np.array([0 if a is None else a.size for a in sets], dtype=np.int64)
        parts = [a for a in sets if a is not None and a.size]
        self.hashes = np.concatenate(parts) if parts else np.empty(0, np.uint32)
        self.owners = np.repeat(np.arange(self.k), self.size)
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def intersections(self, q: np.ndarray) -> np.ndarray:
        """|q ∩ set_i| for every document i (q sorted, unique)."""
        h = self.hashes
        if q.size == 0 or h.size == 0:
            return np.zeros(self.k)
        if h.size <= 8 * q.size:  # few stored hashes (a query's candidates): look each up in q
            pos = np.minimum(np.searchsorted(q, h), q.size - 1)
            owners = self.owners[q[pos] == h]
        else:  # many (all the seeds): look q up in them, sorted once
            if self._sorted is None:
                order = np.argsort(h, kind="stable")
                self._sorted = (h[order], self.owners[order])
            hs, ow = self._sorted
            owners = gather_ranges(ow, hs.searchsorted(q, "left"), hs.searchsorted(q, "right"))
        return np.bincount(owners, minlength=self.k).astype(float)

    def nbytes(self) -> int:
        return self.hashes.nbytes + self.owners.nbytes + (0 if self._sorted is None else 2 * self.owners.nbytes)


def _overlap_many(j: np.ndarray, na: int | np.ndarray, nb: np.ndarray, s: NearDupSettings) -> np.ndarray:
    """Vectorised :func:`_overlap` (non-decreasing in ``j``)."""
    small = np.minimum(na, nb)
    inter = j * (na + nb) / (1.0 + j)
    cont = np.minimum(np.minimum(1.0, inter / np.maximum(small, 1)), s.containment_guard * j)
    out = np.where(small < s.min_containment_size, j, cont)
    return np.where((nb == 0) | (na == 0), 0.0, out)


def _score_many(q: Signature, b: _Batch, s: NearDupSettings) -> np.ndarray:
    """Vectorised :func:`similarity` of ``q`` against a batch of stored signatures."""

    def anchor(inter: np.ndarray, nb: np.ndarray, na: int) -> np.ndarray:
        union = na + nb - inter
        j = inter / np.maximum(union, 1)
        cont = np.where(np.minimum(na, nb) > 0, inter / np.maximum(np.minimum(na, nb), 1), 0.0)
        return np.minimum(np.minimum(1.0, cont), s.containment_guard * j)

    cs = _overlap_many((b.sh == q.shingles).mean(axis=1), q.n_shingles, b.n_sh, s)
    cw = _overlap_many((b.wd == q.words).mean(axis=1), q.n_words, b.n_w, s)
    q_nums = q.anchors[(q.anchors & 1) == 1]
    ca = anchor(b.anchors.intersections(q.anchors), b.anchors.size, q.anchors.size)
    cd = anchor(b.anchors.intersections(q_nums), b.n_num, q_nums.size)
    nums = np.where(np.minimum(b.n_num, q_nums.size) >= 2, cd, ca)
    vocab = cw * ca * nums
    vocab = np.where(b.tr | q.translated, np.cbrt(vocab), vocab)
    score = np.maximum(cs, vocab)
    if q.shingle_set is not None and b.exact.hashes.size:
        inter = b.exact.intersections(q.shingle_set)
        small = np.minimum(q.shingle_set.size, b.exact.size)
        exact = np.where(small >= s.min_containment_size, inter / np.maximum(small, 1), 0.0)
        score = np.maximum(score, exact)
    return score


def _score_bound(q: Signature, sketch: np.ndarray, sizes: np.ndarray, flags: np.ndarray,
                 s: NearDupSettings) -> np.ndarray:
    """An upper bound of :func:`_score_many` from the sketches (low bytes of the MinHash values) of
    stored signatures: equal values have equal low bytes, so a sketch agrees at least as often as its
    MinHash; the overlaps grow with agreement, and names, numbers and words are at most 1 together.
    The exact shingle containment of seeds is not bounded (seeds are always verified)."""
    eq = sketch == _sketch(q)
    agree = eq.reshape(len(eq), 2, q.shingles.size).mean(axis=2)  # (shingles, words) of each
    over = _overlap_many(agree, np.array([q.n_shingles, q.n_words]), sizes.astype(np.int64), s)
    cw = over[:, 1]
    vocab = np.where(((flags & TRANSLATED) != 0) | q.translated, np.cbrt(cw), cw)
    bound: np.ndarray = np.maximum(over[:, 0], vocab)
    return bound


def _sketch(sig: Signature) -> np.ndarray:
    """The low byte of each MinHash value (shingles, then words)."""
    return np.concatenate([sig.shingles, sig.words]).astype(np.uint8)


def _band_keys(sig: Signature, settings: NearDupSettings) -> list[int]:
    """Signed 32-bit LSH keys: `bands` x `rows` of the shingle MinHash, then
    `anchor_bands` x `anchor_rows` of a MinHash of the anchors (names, numbers)."""
    return [int(k) for k in _band_ukeys(sig, settings).astype(np.int64) - (1 << 31)]


def _band_ukeys(sig: Signature, settings: NearDupSettings) -> np.ndarray:
    """The keys of :func:`_band_keys` as unsigned 32-bit (plus 2**31), as the band index keeps them.

    Band ``i`` of a MinHash with ``r`` rows hashes to ``mix(sum_j band[i, j] * mult[i, j])``; the
    shingle bands (``rows`` wide) and the anchor bands (``anchor_rows`` wide) are hashed in one
    step, the narrower ones padded with zeros (which add nothing to the sum)."""
    r, nb = settings.rows, settings.bands
    ar, anb = settings.anchor_rows, settings.anchor_bands
    shingles, anchors = bool(sig.n_shingles), bool(sig.anchors.size)
    if not (shingles or anchors):
        return np.empty(0, np.uint32)
    width = max(r, ar)
    bands = np.zeros(((nb if shingles else 0) + (anb if anchors else 0), width), np.uint64)
    if shingles:
        bands[:nb, :r] = sig.shingles[: nb * r].reshape(nb, r)
    if anchors:
        bands[nb if shingles else 0 :, :ar] = _minhash(sig.anchors.astype(np.uint64), anb * ar,
                                                        settings.seed + 2).reshape(anb, ar)
    with np.errstate(over="ignore"):
        h = (bands * _band_mults(shingles, anchors, settings)).sum(axis=1, dtype=np.uint64)
        h ^= h >> np.uint64(29)
        h = h * _MIX2
    return (h >> np.uint64(32)).astype(np.uint32)


@lru_cache(maxsize=16)
def _band_mults(shingles: bool, anchors: bool, settings: NearDupSettings) -> np.ndarray:
    """The multipliers of :func:`_band_ukeys`'s bands (zero in the padding)."""
    r, nb = settings.rows, settings.bands
    ar, anb = settings.anchor_rows, settings.anchor_bands
    parts = []
    if shingles:
        parts.append(np.pad(_band_mult(nb, r, settings.seed), ((0, 0), (0, max(r, ar) - r))))
    if anchors:
        parts.append(np.pad(_band_mult(nb + anb, ar, settings.seed)[nb:], ((0, 0), (0, max(r, ar) - ar))))
    return np.concatenate(parts)


@lru_cache(maxsize=16)
def _band_mult(n: int, r: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 7 + 1000 * r)
    return rng.integers(1, 2**63, size=(n, r), dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def _record(doc_key: str, kind: str, sig: Signature, story_id: int | None) -> SignatureRecord:
    exact = sig.shingle_set if kind == "seed" else None
    return SignatureRecord(doc_key, kind, story_id, sig.n_shingles, sig.n_words,  # type: ignore[arg-type]
                           bool(sig.translated), sig.shingles.astype("<u4").tobytes(),
                           sig.words.astype("<u4").tobytes(), sig.anchors.astype("<u4").tobytes(),
                           None if exact is None else exact.astype("<u4").tobytes())


def _row_signature(r: SignatureRecord) -> Signature:
    return Signature(
        shingles=np.frombuffer(r.shingles, dtype="<u4"),
        words=np.frombuffer(r.words, dtype="<u4"),
        anchors=np.frombuffer(r.anchors, dtype="<u4"),
        n_shingles=int(r.n_shingles),
        n_words=int(r.n_words),
        translated=bool(r.translated),
        shingle_set=None if r.shingle_set is None else np.frombuffer(r.shingle_set, dtype="<u4"),
    )


def _flags(kind: str, translated: bool) -> int:
    return (SEED if kind == "seed" else 0) | (TRANSLATED if translated else 0)


_EMPTY = np.empty(0, np.uint32)


class _Ring:
    """The newest item signatures, in memory: a ring of ``cap`` slots (the oldest is overwritten)."""

    def __init__(self, cap: int, num_perm: int) -> None:
        self.cap = cap
        self.sh = np.zeros((cap, num_perm), np.uint32)  # (pages are only taken when written)
        self.wd = np.zeros((cap, num_perm), np.uint32)
        self.n_sh = np.zeros(cap, np.int64)
        self.n_w = np.zeros(cap, np.int64)
        self.n_num = np.zeros(cap, np.int64)
        self.tr = np.zeros(cap, bool)
        self.anchors: list[np.ndarray] = [_EMPTY] * cap
        self.doc_key: list[str] = [""] * cap
        self.story: list[int | None] = [None] * cap
        self.doc_id = [0] * cap
        self.slot: dict[int, int] = {}  # doc id -> slot
        self.by_key: dict[str, int] = {}  # doc key -> slot
        self.next = 0
        self.used = 0

    def put(self, doc_id: int, doc_key: str, story_id: int | None, sig: Signature) -> None:
        i = self.slot.get(doc_id)
        if i is None:
            i = self.next
            self.next = (i + 1) % self.cap
            self.drop(self.doc_id[i])
            self.used = min(self.used + 1, self.cap)
        self.slot[doc_id], self.by_key[doc_key], self.doc_id[i] = i, i, doc_id
        self.sh[i], self.wd[i] = sig.shingles, sig.words
        self.n_sh[i], self.n_w[i], self.tr[i] = sig.n_shingles, sig.n_words, sig.translated
        self.anchors[i] = sig.anchors
        self.n_num[i] = np.count_nonzero(sig.anchors & 1)
        self.doc_key[i], self.story[i] = doc_key, story_id

    def drop(self, doc_id: int) -> None:
        i = self.slot.pop(doc_id, None)
        if i is not None:
            if self.by_key.get(self.doc_key[i]) == i:
                del self.by_key[self.doc_key[i]]
            self.doc_id[i] = 0
            self.anchors[i] = _EMPTY

    def set_story(self, doc_key: str, story_id: int | None) -> None:
        i = self.by_key.get(doc_key)
        if i is not None:
            self.story[i] = story_id

    def batch(self, slots: list[int]) -> _Batch:
        ix = np.asarray(slots, dtype=np.int64)
        return _Batch([self.doc_key[i] for i in slots], ["item"] * len(slots), [self.story[i] for i in slots],
                      self.sh[ix], self.wd[ix], self.n_sh[ix], self.n_w[ix], self.tr[ix],
                      [self.anchors[i] for i in slots], self.n_num[ix], [None] * len(slots))

    def nbytes(self) -> int:
        """Bytes held (slots in use; the dicts and lists estimated)."""
        per_slot = 2 * self.sh.shape[1] * 4 + 4 * 8 + 1 + 8 * 4 + 2 * 100  # arrays, list cells, dict entries
        return self.used * per_slot + sum(a.nbytes + 96 for a in self.anchors if a.size) \
            + sum(len(k) + 49 for k in self.doc_key if k)


class NearDupIndex:
    """Persistent LSH index of signatures: signatures in the store (``store.lsh``), band keys and
    sketches in memory (:class:`monitor.analysis.neardup_bands.BandIndex`, saved to
    ``<database>.neardup.npz``), the newest item signatures too (a ring of ``SIGNATURES_HELD``).

    Rows are never removed when items are purged from the store: fingerprints
    outlive retention, so a purged story is still recognised.
    """

    def __init__(self, store: Store, settings: NearDupSettings = NearDupSettings()) -> None:
        self.store = store
        self.lsh = store.lsh
        self.settings = settings
        self._seeds: _Batch | None = None  # all seeds, when few enough; loaded lazily
        self._seeds_loaded = False
        want = {
            "schema": str(_SCHEMA_VERSION),
            "num_perm": str(settings.num_perm),
            "bands": str(settings.bands),
            "rows": str(settings.rows),
            "anchor_bands": str(settings.anchor_bands),
            "anchor_rows": str(settings.anchor_rows),
            "shingle_size": str(settings.shingle_size),
            "seed": str(settings.seed),
        }
        have = self.lsh.settings()
        if not have or "uid" not in have:  # a new index, or one made by a version without a uid
            have = self.lsh.init_settings({**({} if have else want), "uid": os.urandom(8).hex()})
        have = dict(have)
        self._uid = have.pop("uid")
        self._bands: BandIndex | None = None  # the LSH band keys, in memory (loaded on first use)
        where = self.lsh.location()
        self._bands_path = Path(where + ".neardup.npz") if where else None
        self._last_keys: tuple[Signature, np.ndarray] | None = None
        self._ring = _Ring(SIGNATURES_HELD, settings.num_perm)
        if have != want:
            diff = sorted(k for k in want if have.get(k) != want[k])
            raise ValueError(
                f"near-duplicate index was built with other settings ({', '.join(diff)}); "
                "keep the old settings or delete the neardup_* tables to rebuild"
            )

    def count(self) -> int:
        """Number of indexed documents."""
        return self.lsh.count()

    def memory_bytes(self) -> int:
        """Bytes this index holds in memory: band keys, sketches, held signatures, the seeds' arrays."""
        total = self._ring.nbytes()
        if self._bands is not None:
            total += self._bands.nbytes()
        if self._seeds is not None:
            total += self._seeds.nbytes()
        return total

    def add(self, doc_key: str, kind: str, sig: Signature, story_id: int | None) -> None:
        """Index (or re-index) a document; committed unless the caller's transaction is open."""
        self.add_many([(doc_key, kind, sig, story_id)])

    def add_many(self, docs: list[tuple[str, str, Signature, int | None]]) -> None:
        """Index several (doc_key, kind, signature, story_id) in one transaction."""
        bands = self._band_index()
        with self.store.transaction():
            for doc_key, kind, sig, story_id in docs:
                if kind not in ("seed", "item"):
                    raise ValueError(f"kind must be 'seed' or 'item', not {kind!r}")
                rec = _record(doc_key, kind, sig, story_id)
                new_id, old = self.lsh.put(rec)
                doc_id = int(new_id or 0)
                if old is not None:
                    self._forget(old)
                if kind == "item":
                    self._ring.put(doc_id, doc_key, story_id, sig)
                else:
                    self._seeds_loaded = False
                bands.add(doc_id, self._keys(sig), _sketch(sig), (sig.n_shingles, sig.n_words),
                          _flags(kind, sig.translated))
        if bands.needs_merge():
            bands.merge()
            if self._bands_path is not None and time.monotonic() - bands.saved_at > SAVE_EVERY:
                self.save()

    def _forget(self, old: SignatureRecord) -> None:
        self.lsh.forget_bands(old.id, _band_keys(_row_signature(old), self.settings))
        if self._bands is not None:
            self._bands.remove(old.id)
        self._ring.drop(old.id)
        if old.kind == "seed":
            self._seeds_loaded = False

    def get(self, doc_key: str) -> Signature | None:
        """The stored signature of a document, if indexed."""
        rec = self.lsh.get(doc_key)
        return None if rec is None else _row_signature(rec)

    def set_story(self, doc_key: str, story_id: int | None) -> None:
        """Record the story cluster a document was assigned to."""
        self.lsh.set_story(doc_key, story_id)
        self._seeds_loaded = False
        self._ring.set_story(doc_key, story_id)

    def query(self, sig: Signature, limit: int = 5) -> list[Candidate]:
        """Indexed documents with similarity >= threshold, best first.

        The LSH candidates (most shared band keys first) whose sketch bound is below the threshold
        are not verified: they could not match. The others are scored from the held signatures or,
        if not held, read back from the store."""
        s = self.settings
        bands = self._band_index()
        seeds = self._seed_batch(bands)
        out = seeds.matches(sig, s) if seeds is not None else []
        keys = self._keys(sig)
        ids = bands.candidates(keys, s.max_candidates) if keys.size else keys.astype(np.int64)
        if ids.size:
            flags = bands.flags[ids]
            if seeds is not None:  # the seeds are all scored above
                ids, flags = ids[(flags & SEED) == 0], flags[(flags & SEED) == 0]
            bound = _score_bound(sig, bands.sketch[ids], bands.sizes[ids], flags, s)
            ids = ids[(bound >= s.threshold) | ((flags & SEED) != 0)]
        if ids.size:
            slot = self._ring.slot
            held = [slot[i] for i in ids.tolist() if i in slot]
            if held:
                out += self._ring.batch(held).matches(sig, s)
            if len(held) < ids.size:
                missing = [i for i in ids.tolist() if i not in slot]
                recs = self.lsh.by_ids(missing)
                for rec in recs:
                    if rec.kind == "item":
                        self._ring.put(rec.id, rec.doc_key, rec.story_id, _row_signature(rec))
                out += _Batch.of_records(recs).matches(sig, s)
        out.sort(key=lambda c: (-c.similarity, c.doc_key))
        return out[:limit]

    def _band_index(self) -> BandIndex:
        """The in-memory band index, loaded (or rebuilt) on first use and brought up to date
        with documents stored since by anyone (a crash, another process)."""
        if self._bands is None:
            self._bands = self._open_bands()
        bands = self._bands
        new = self.lsh.ids_after(bands.watermark)
        if new:
            bands.watermark = new[-1]
            bands.changes += 1  # the file's watermark is older
            todo = [i for i in new if not bands.has(i)]  # not the ones this index added itself
            for at in range(0, len(todo), CATCH_UP_CHUNK):
                for rec in self.lsh.by_ids(todo[at : at + CATCH_UP_CHUNK]):
                    sig = _row_signature(rec)
                    bands.add(rec.id, _band_ukeys(sig, self.settings), _sketch(sig), (rec.n_shingles, rec.n_words),
                              _flags(rec.kind, rec.translated))
                    if rec.kind == "item":
                        self._ring.put(rec.id, rec.doc_key, rec.story_id, sig)
                    else:
                        self._seeds_loaded = False  # a seed stored by another process
                    if bands.needs_merge():
                        bands.merge()
        return bands

    def _open_bands(self) -> BandIndex:
        """The band index saved beside the database if it is whole and agrees with the store, else an
        empty one (filled by the catch-up from the store), with a log line saying why."""
        width = 2 * self.settings.num_perm
        path = self._bands_path
        if path is None:
            return BandIndex(self._uid, width)
        idx, why = BandIndex.load(path, self._uid, width)
        if idx is not None:
            why = self._check(idx)
        if not why:
            return idx  # type: ignore[return-value]
        n = self.lsh.count()
        if why != "absent":
            log.warning("near-duplicate index %s is %s: rebuilding it from the database (%d documents)",
                        path, why, n)
        elif n:
            log.info("near-duplicate index %s is absent: building it from the database (%d documents)", path, n)
        fresh = BandIndex(self._uid, width)
        fresh.changes = 1  # the file (absent or unusable) does not hold it: the next save writes it
        return fresh

    def _check(self, idx: BandIndex) -> str:
        """Why ``idx`` (loaded from the file) does not describe the store's documents up to its
        watermark ("" when it does). Documents another process has replaced since are removed."""
        have = np.flatnonzero(idx.flags & PRESENT)
        top, highest = self.lsh.max_id(), max(idx.watermark, int(have[-1]) if have.size else 0)
        if highest > top:
            return f"stale (it holds documents up to id {highest}, the database up to {top})"
        covered = self.lsh.count() - len(self.lsh.ids_after(idx.watermark))
        if covered == idx.live:
            return ""
        table = np.asarray(self.lsh.ids_after(0), dtype=np.int64)
        table = table[table <= idx.watermark]
        lacking = np.setdiff1d(table, have, assume_unique=True)
        if lacking.size:
            return f"stale ({lacking.size} stored documents are not in it)"
        for gone in np.setdiff1d(have, table, assume_unique=True).tolist():  # replaced by another process
            idx.remove(int(gone))
        return ""

    def _keys(self, sig: Signature) -> np.ndarray:
        """Band keys of ``sig`` (the last result is kept: a query is followed by the add of the same one)."""
        last = self._last_keys
        if last is not None and last[0] is sig:
            return last[1]
        keys = _band_ukeys(sig, self.settings)
        self._last_keys = (sig, keys)
        return keys

    def save(self) -> None:
        """Write the band index beside the database (a restart then reads it instead of rebuilding);
        nothing is written when it holds what the file holds (a cycle that stored nothing)."""
        if self._bands is None or self._bands_path is None:
            return
        try:
            self._band_index()  # the watermark past this index's own last adds (a restart re-reads none)
        except StoreError as e:  # the file is saved with the older watermark: a restart re-reads more
            log.warning("near-duplicate index: cannot read the newest document ids: %s", e)
        if not self._bands.unsaved:
            return
        try:
            self._bands.save(self._bands_path)
        except OSError as e:  # a cache: the next open catches up from neardup_docs
            log.warning("near-duplicate index %s not saved: %s", self._bands_path, e)

    def _seed_batch(self, bands: BandIndex) -> _Batch | None:
        """All seeds as arrays if there are at most seed_scan_limit of them (cached). The band index
        knows which documents are seeds: they are read by id."""
        if not self._seeds_loaded:
            self._seeds = None
            ids = np.flatnonzero((bands.flags & (SEED | PRESENT)) == (SEED | PRESENT))
            if ids.size <= self.settings.seed_scan_limit:
                self._seeds = _Batch.of_records(self.lsh.by_ids(ids.tolist()) if ids.size else [])
            self._seeds_loaded = True
        return self._seeds


class _Batch:
    """Stored signatures as stacked arrays, for vectorised scoring."""

    def __init__(self, doc_keys: list[str], kinds: list[str], stories: list[int | None], sh: np.ndarray,
                 wd: np.ndarray, n_sh: np.ndarray, n_w: np.ndarray, tr: np.ndarray, anchors: list[np.ndarray],
                 n_num: np.ndarray, exact: list[np.ndarray | None]) -> None:
        self.doc_keys, self.kinds, self.stories = doc_keys, kinds, stories
        self.sh, self.wd, self.n_sh, self.n_w, self.tr, self.n_num = sh, wd, n_sh, n_w, tr, n_num
        self.anchors = _Postings(anchors)  # type: ignore[arg-type]
        self.exact = _Postings(exact)

    @classmethod
    def of_records(cls, recs: list[SignatureRecord]) -> _Batch:
        k = len(recs)
        anchors = [np.frombuffer(r.anchors, dtype="<u4") for r in recs]
        return cls([r.doc_key for r in recs], [r.kind for r in recs], [r.story_id for r in recs],
                   np.frombuffer(b"".join(r.shingles for r in recs), dtype="<u4").reshape(k, -1 if k else 0),
                   np.frombuffer(b"".join(r.words for r in recs), dtype="<u4").reshape(k, -1 if k else 0),
                   np.array([r.n_shingles for r in recs], dtype=np.int64),
                   np.array([r.n_words for r in recs], dtype=np.int64),
                   np.array([r.translated for r in recs], dtype=bool), anchors,
                   np.array([int(np.count_nonzero(a & 1)) for a in anchors], dtype=np.int64),
                   [None if r.shingle_set is None else np.frombuffer(r.shingle_set, dtype="<u4") for r in recs])

    def nbytes(self) -> int:
        return self.sh.nbytes + self.wd.nbytes + self.anchors.nbytes() + self.exact.nbytes() + 100 * len(self.doc_keys)

    def matches(self, sig: Signature, s: NearDupSettings) -> list[Candidate]:
        if not self.doc_keys:
            return []
        scores = _score_many(sig, self, s)
        return [
            Candidate(self.doc_keys[i], self.kinds[i], self.stories[i], round(float(scores[i]), 4))
            for i in np.flatnonzero(scores >= s.threshold)
        ]
