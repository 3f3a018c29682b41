"""Compiled watchlist queries: a lexicon of words and a tree of boolean nodes.

Words are matched against the tokens of a :class:`PreparedField` in one pass
(exact index, Snowball stem index, and a prefix trie), then phrases, proximity,
regexes and ``all`` / ``any`` / ``not`` are evaluated on those sparse hits.

Word modes:
  * ``exact``   token equals the word (after normalisation)
  * ``prefix``  token starts with the word (``sanction*``)
  * ``inflect`` default: same Snowball stem in the word's language, or the token
    is the word plus at most 3 letters (``Токаев`` → ``Токаева``), or the word plus
    endings of the word's or the item's language from the suffix inventories of
    :mod:`monitor.analysis.morphology` (kk, ky, uz, tk, az, tg, hy, ka, uk, be, ...).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from monitor.analysis.morphology import alternant_needs_ending, ending_matches, has_inventory, stem_alternants
from monitor.analysis.watchlists.text import STEMMERS, PreparedField, PreparedItem, script_of, stem

INFLECT_EXTRA = 3  # letters an inflected form may add to a word of a stemmed language
MIN_INFLECT_LEN = 4  # shorter words only match by stem or exactly
MIN_PREFIX_LEN = 3  # shortest implicit prefix for languages without a stemmer
_END = ""
MEMO_LIMIT = 200_000  # tokens remembered per lexicon  # trie key holding the words that end at a node

TITLE_FIELDS = frozenset({"title", "title_translated"})
FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "title": ("title", "title_translated"),
    "summary": ("summary", "summary_translated"),
    "both": ("title", "summary", "title_translated", "summary_translated"),
}


class Hit(NamedTuple):
    """One place where a term matched (a named tuple: cheap to make, read-only)."""

    term: str  # the term as the user wrote it (or alias name)
    field: str  # "title" | "summary" | "title_translated" | "summary_translated"
    text: str  # the text that matched, as it appears
    start: int  # char offsets in that field (for highlighting)
    end: int


@dataclass(frozen=True)
class Word:
    text: str  # normalised
    mode: str  # exact | prefix | inflect
    language: str  # ISO code governing inflection
    derived: bool = False  # also adjectives/demonyms (derivational endings, ``derived: true``)
    in_phrase: bool = False  # part of a phrase of several words: a short word may take endings too


# Trie entry: (word id, kind, language, derived, needs an ending after it (a stem alternant))
_Entry = tuple[int, str, str, bool, bool]

INFLECTION_MODES = ("suffix", "prefix")


class Lexicon:
    """All words of one watchlist, indexed for a single pass over a field's tokens.

    ``inflection="suffix"`` (default): in languages without a stemmer a word matches a
    token that is the word plus known endings of the word's or the item's language
    (:mod:`monitor.analysis.morphology`). ``"prefix"`` is the older rule (any token that
    starts with the word), kept to measure what the suffix inventories change.
    """

    _keys = itertools.count(1)

    def __init__(self, inflection: str = "suffix") -> None:
        if inflection not in INFLECTION_MODES:
            raise ValueError(f"inflection must be one of {INFLECTION_MODES}")
        self.inflection = inflection
        self.key = next(Lexicon._keys)  # identifies this lexicon's scans cached on a PreparedItem
        self.words: list[Word] = []
        self._ids: dict[Word, int] = {}
        self.exact: dict[str, list[int]] = {}
        self.stems: dict[str, dict[str, list[int]]] = {}  # language -> stem -> ids
        self.stem_langs_by_script: dict[str, list[str]] = {}
        self.trie: dict[str, Any] = {}  # char -> child node; _END -> [_Entry]
        self._memo: dict[str | bool | None, dict[str, tuple[int, ...]]] = {}

    def add(self, word: Word) -> int:
        """Index ``word`` (idempotent) and return its id."""
        wid = self._ids.get(word)
        if wid is not None:
            return wid
        wid = len(self.words)
        self.words.append(word)
        self._memo = {}
        self._ids[word] = wid
        lang = word.language
        if word.mode != "prefix":
            self.exact.setdefault(word.text, []).append(wid)
        if word.mode == "prefix":
            self._trie_add(word.text, (wid, "prefix", lang, False, False))
        elif word.mode == "inflect":
            if lang in STEMMERS:
                self.stems.setdefault(lang, {}).setdefault(stem(lang, word.text), []).append(wid)
                langs = self.stem_langs_by_script.setdefault(script_of(word.text), [])
                if lang not in langs:
                    langs.append(lang)
            if len(word.text) >= MIN_PREFIX_LEN or (word.in_phrase and self.inflection == "suffix"
                                                    and has_inventory(lang)):
                # a short word alone matches exactly; inside a phrase the other words guard it
                # (Armenian "Հաղթանակի օր" finds "Հաղթանակի օրվա")
                self._trie_add(word.text, (wid, "inflect", lang, word.derived, False))
                if self.inflection == "suffix":
                    bare = not alternant_needs_ending(lang)
                    for alt in stem_alternants(lang, word.text):
                        self._trie_add(alt, (wid, "inflect", lang, word.derived, not bare))
        return wid

    def _trie_add(self, text: str, entry: _Entry) -> None:
        node: dict[str, Any] = self.trie
        for ch in text:
            node = node.setdefault(ch, {})
        node.setdefault(_END, []).append(entry)

    def scan(self, f: PreparedField) -> dict[int, list[int]]:
        """Token positions of every word of this lexicon found in ``f``."""
        hits: dict[int, list[int]] = {}
        key = f.language if self.inflection == "suffix" else f.inflect_prefix
        memo = self._memo.get(key)
        if memo is None:
            memo = self._memo[key] = {}
        for pos, tok in enumerate(f.tokens):
            ids = memo.get(tok)
            if ids is None:
                ids = self._lookup(tok, f.language, f.inflect_prefix)
                if len(memo) > MEMO_LIMIT:
                    memo.clear()
                memo[tok] = ids
            if ids:
                for wid in ids:
                    lst = hits.get(wid)
                    if lst is None:
                        hits[wid] = [pos]
                    elif lst[-1] != pos:
                        lst.append(pos)
        return hits

    def _lookup(self, tok: str, item_lang: str | None, loose: bool) -> tuple[int, ...]:
        """Ids of the words that ``tok`` matches (exact, stem, endings); memoised by ``scan``."""
        found: list[int] = list(self.exact.get(tok, ()))
        for lang in self.stem_langs_by_script.get(script_of(tok), ()):
            found += self.stems[lang].get(stem(lang, tok), ())
        node: dict[str, Any] = self.trie
        n = len(tok)
        depth = 0
        suffix_mode = self.inflection == "suffix"
        # An item language with neither a stemmer nor endings listed: any continuation (as before).
        item_open = loose and not has_inventory(item_lang)
        for ch in tok:
            child = node.get(ch)
            if child is None:
                break
            node = child
            depth += 1
            entries = node.get(_END)
            if not entries:
                continue
            rest = tok[depth:]
            for wid, kind, lang, derived, needs_rest in entries:
                if kind == "prefix":
                    found.append(wid)
                    continue
                if not rest:
                    if not needs_rest:
                        found.append(wid)
                    continue
                stemmed = lang in STEMMERS
                if stemmed and not needs_rest and depth >= MIN_INFLECT_LEN and n - depth <= INFLECT_EXTRA:
                    found.append(wid)  # Токаев -> Токаева: a surname the stemmer cuts differently
                elif not suffix_mode:
                    if not stemmed or loose:
                        found.append(wid)
                elif (item_open or (not stemmed and not has_inventory(lang))
                      or ending_matches(rest, (lang, item_lang) if item_lang else (lang,), derived)):
                    found.append(wid)
        return tuple(dict.fromkeys(found))


class Occurrence(NamedTuple):
    """Where a leaf held (a named tuple: built by the thousand per item, so cheap to make)."""

    field: str
    start: int  # token index
    end: int  # token index, exclusive (or char offsets for regex, see ``chars``)
    chars: bool = False


_MISS: tuple[bool, list[Any]] = (False, [])


class Context:
    """Evaluation state of one watchlist on one prepared item."""

    def __init__(self, item: PreparedItem, lexicon: Lexicon, key: int, trace: bool = False):
        self.item = item
        cached = item.scans.get(key)
        if cached is None:
            cached = item.scans[key] = {}
        self.scans = cached
        self.lexicon = lexicon
        self.key = key
        self.trace: list[tuple[int, bool, str, str]] | None = [] if trace else None
        self.depth = 0
        self._present: set[int] | None = None
        self.negated = 0  # inside how many not: groups
        self.term_occurrences: dict[Term, list[Occurrence]] = {}
        self._by_word: dict[int, list[Occurrence]] | None = None
        self.seen: list[tuple[Leaf, Occurrence]] = []  # explain mode: every positive leaf hit

    def field_hits(self, name: str) -> dict[int, list[int]] | None:
        hits = self.scans.get(name)
        if hits is None:
            f = self.item.fields.get(name)
            if f is None:
                return None
            hits = self.scans[name] = self.lexicon.scan(f)
        return hits

    def present(self) -> set[int]:
        """Every word id found in any field of the item."""
        if self._present is None:
            ids = self.item.present.get(self.key)
            if ids is None:
                ids = set()
                for name in self.item.fields:
                    hits = self.field_hits(name)
                    if hits:
                        ids.update(hits)
                self.item.present[self.key] = ids
            self._present = ids
        return self._present

    def word_occurrences(self) -> dict[int, list[Occurrence]]:
        """Word id -> every place it stands in the item, field by field (built once per item)."""
        by_word = self._by_word
        if by_word is None:
            self.present()
            by_word = self._by_word = {}
            for fname, hits in self.scans.items():
                if hits:
                    for wid, poss in hits.items():
                        lst = by_word.get(wid)
                        if lst is None:
                            lst = by_word[wid] = []
                        lst.extend([Occurrence(fname, p, p + 1) for p in poss])
        return by_word

    def note(self, ok: bool, text: str, short: str) -> None:
        if self.trace is not None:
            self.trace.append((self.depth, ok, text, short))


Found = list[tuple["Leaf", Occurrence]]


class Node:
    """A query node: ``evaluate`` returns whether it holds and the leaf hits that made it."""

    label: str = ""

    def evaluate(self, ctx: Context) -> tuple[bool, Found]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.label

    def short(self) -> str:
        return self.describe()

    def requirements(self) -> list[frozenset[int]]:
        """Necessary conditions: word-id sets that must each meet the item's words."""
        return []

    def cheapest(self) -> tuple[float, tuple[str, ...]]:
        """The smallest weight sum with which this node can hold, and the terms that give it."""
        return 0.0, ()


class Leaf(Node):
    weight: float = 1.0
    fields: tuple[str, ...] = FIELD_GROUPS["both"]

    def occurrences(self, ctx: Context) -> list[Occurrence]:
        raise NotImplementedError

    def cheapest(self) -> tuple[float, tuple[str, ...]]:
        return self.weight, (self.label,)

    def evaluate(self, ctx: Context) -> tuple[bool, Found]:
        occ = self.occurrences(ctx)
        if ctx.trace is not None:
            ctx.note(bool(occ), self.describe(), self.short())
            if not ctx.negated:
                ctx.seen.extend((self, o) for o in occ)
        return bool(occ), [(self, o) for o in occ]


class Term(Leaf):
    """A phrase or a set of variant phrases (an alias); each phrase is a tuple of word ids."""

    def __init__(self, label: str, phrases: list[tuple[int, ...]], weight: float,
                 fields: tuple[str, ...], kind: str = "term"):
        self.label = label
        self.phrases = phrases
        self.weight = weight
        self.fields = fields
        self.kind = kind
        self.first_ids = frozenset(p[0] for p in phrases)
        self.by_first: dict[int, list[tuple[int, ...]]] = {}
        for p in phrases:
            self.by_first.setdefault(p[0], []).append(p)
        self.single = all(len(p) == 1 for p in phrases)
        self.all_fields = set(fields) >= set(FIELD_GROUPS["both"])

    def describe(self) -> str:
        return f'{self.kind} "{self.label}"' if self.kind == "alias" else f'"{self.label}"'

    def requirements(self) -> list[frozenset[int]]:
        return [self.first_ids]

    def evaluate(self, ctx: Context) -> tuple[bool, Found]:
        if ctx.trace is not None:
            return super().evaluate(ctx)
        occ = self.occurrences(ctx)
        return (True, [(self, o) for o in occ]) if occ else _MISS

    def occurrences(self, ctx: Context) -> list[Occurrence]:
        """Where a phrase of this term stands (memoised per item: a term may sit in several nodes)."""
        first = self.first_ids
        if first.isdisjoint(ctx._present if ctx._present is not None else ctx.present()):
            return []
        memo = ctx.term_occurrences
        out = memo.get(self)
        if out is not None:
            return out
        if self.single:  # one-word phrases: the item's places of those words, in the term's fields
            by_word = ctx.word_occurrences()
            ids = [w for w in self.first_ids if w in by_word]
            if self.all_fields:
                out = by_word[ids[0]] if len(ids) == 1 else [o for w in ids for o in by_word[w]]
            else:
                fields = self.fields
                out = [o for w in ids for o in by_word[w] if o.field in fields]
            memo[self] = out
            return out
        out = memo[self] = []
        scans = ctx.scans  # every field of the item is scanned by present()
        for fname in self.fields:
            hits = scans.get(fname)
            if not hits:
                continue
            for wid in first.intersection(hits):
                cands0 = hits[wid]
                for phrase in self.by_first[wid]:
                    if len(phrase) == 1:
                        out.extend([Occurrence(fname, p, p + 1) for p in cands0])
                        continue
                    cands = cands0
                    for i, nid in enumerate(phrase[1:], 1):
                        nxt = hits.get(nid)
                        if not nxt:
                            cands = []
                            break
                        s = set(nxt)
                        cands = [p for p in cands if p + i in s]
                        if not cands:
                            break
                    n = len(phrase)
                    out.extend(Occurrence(fname, p, p + n) for p in cands)
        return out


class Regex(Leaf):
    def __init__(self, label: str, pattern: re.Pattern[str], weight: float, fields: tuple[str, ...]):
        self.label = label
        self.pattern = pattern
        self.weight = weight
        self.fields = fields

    def describe(self) -> str:
        return f"regex /{self.pattern.pattern}/"

    def occurrences(self, ctx: Context) -> list[Occurrence]:
        out: list[Occurrence] = []
        for fname in self.fields:
            f = ctx.item.fields.get(fname)
            if f is None or not f.text:
                continue
            for m in self.pattern.finditer(f.text):
                if m.end() > m.start():
                    out.append(Occurrence(fname, m.start(), m.end(), chars=True))
        return out


class Near(Leaf):
    """All of ``terms`` within ``within`` words of each other in one field."""

    MAX_COMBINATIONS = 4096

    def __init__(self, label: str, terms: list[Term], within: int, ordered: bool,
                 weight: float, fields: tuple[str, ...]):
        self.label = label
        self.terms = terms
        self.within = within
        self.ordered = ordered
        self.weight = weight
        self.fields = fields

    def requirements(self) -> list[frozenset[int]]:
        return [t.first_ids for t in self.terms]

    def describe(self) -> str:
        inner = ", ".join(t.describe() for t in self.terms)
        order = " in order" if self.ordered else ""
        return f"near({inner}; within {self.within} words{order})"

    def occurrences(self, ctx: Context) -> list[Occurrence]:
        per_term = [t.occurrences(ctx) for t in self.terms]
        if not all(per_term):
            return []
        out: list[Occurrence] = []
        for fname in self.fields:
            lists = [[o for o in occ if o.field == fname] for occ in per_term]
            if not all(lists):
                continue
            if len(lists) == 2:  # the common case, without the general loop's overhead
                out.extend(self._pairs(fname, lists[0], lists[1]))
                continue
            budget = self.MAX_COMBINATIONS
            for combo in itertools.product(*lists):
                budget -= 1
                if budget < 0:
                    break
                if self.ordered and any(a.start >= b.start for a, b in zip(combo, combo[1:])):
                    continue
                lo = min(o.start for o in combo)
                hi = max(o.end for o in combo)
                gap = hi - lo - sum(o.end - o.start for o in combo)
                if gap <= self.within:
                    out.append(Occurrence(fname, lo, hi))
        # Keep distinct windows only.
        return list(dict.fromkeys(out))

    def _pairs(self, fname: str, first: list[Occurrence], second: list[Occurrence]) -> list[Occurrence]:
        """Windows of two terms within ``within`` words (the same pairs, in the same order and under
        the same budget, as the general loop)."""
        out: list[Occurrence] = []
        budget = self.MAX_COMBINATIONS
        within, ordered = self.within, self.ordered
        for a in first:
            a0, a1 = a.start, a.end
            for b in second:
                budget -= 1
                if budget < 0:
                    return out
                b0, b1 = b.start, b.end
                if ordered and a0 >= b0:
                    continue
                lo = a0 if a0 < b0 else b0
                hi = a1 if a1 > b1 else b1
                if hi - lo - (a1 - a0) - (b1 - b0) <= within:
                    out.append(Occurrence(fname, lo, hi))
        return out


class Group(Node):
    """``all`` / ``any`` (optionally at least ``minimum``) / ``none`` of children."""

    def __init__(self, op: str, children: list[Node], minimum: int = 1):
        self.op = op
        self.children = children
        self.minimum = minimum
        self.label = op

    def describe(self) -> str:
        if self.op == "any" and self.minimum > 1:
            return f"any (at least {self.minimum})"
        return "not (none of)" if self.op == "none" else self.op

    def requirements(self) -> list[frozenset[int]]:
        if self.op == "all":
            return [r for c in self.children for r in c.requirements()]
        if self.op == "any":
            firsts = [c.requirements() for c in self.children]
            if all(firsts):
                return [frozenset().union(*(f[0] for f in firsts))]
        return []

    def cheapest(self) -> tuple[float, tuple[str, ...]]:
        if self.op == "none":
            return 0.0, ()
        costs = [c.cheapest() for c in self.children]
        if self.op == "any":
            costs = sorted(costs, key=lambda c: c[0])[: self.minimum]
        labels: list[str] = []
        for _, ls in costs:
            labels += [x for x in ls if x not in labels]
        return sum(c[0] for c in costs), tuple(labels)

    def short(self) -> str:
        kids = ", ".join(c.short() for c in self.children[:3])
        more = ", ..." if len(self.children) > 3 else ""
        op = "not" if self.op == "none" else self.op
        return f"{op}({kids}{more})"

    def evaluate(self, ctx: Context) -> tuple[bool, Found]:
        if ctx.trace is None:
            return self._evaluate_fast(ctx)
        idx = len(ctx.trace)
        ctx.depth += 1
        negate = self.op == "none"
        ctx.negated += negate
        results = [c.evaluate(ctx) for c in self.children]
        ctx.negated -= negate
        ctx.depth -= 1
        oks = [ok for ok, _ in results]
        if self.op == "all":
            ok = all(oks)
        elif self.op == "any":
            ok = sum(oks) >= self.minimum
        else:  # none
            ok = not any(oks)
        if ctx.trace is not None:
            ctx.trace.insert(idx, (ctx.depth, ok, f"{self.describe()}: {sum(oks)} of {len(oks)} held",
                                   self.short()))
        if not ok or self.op == "none":
            return ok, []
        found: Found = []
        for c_ok, c_found in results:
            if c_ok:
                found.extend(c_found)
        return ok, found

    def _evaluate_fast(self, ctx: Context) -> tuple[bool, Found]:
        """``evaluate`` without a trace: the same answer, sooner. A term whose first words the
        item lacks is not asked; ``all`` stops at its first failing child, ``none`` at its first
        holding one (nothing but the answer is wanted from them)."""
        present = ctx._present if ctx._present is not None else ctx.present()
        op = self.op
        held = 0
        found: Found = []
        for c in self.children:
            if c.__class__ is Term and c.first_ids.isdisjoint(present):
                c_ok, c_found = _MISS
            else:
                c_ok, c_found = c.evaluate(ctx)
            if c_ok:
                if op == "none":
                    return _MISS
                held += 1
                found.extend(c_found)
            elif op == "all":
                return _MISS
        if op == "none":
            return True, []
        if op == "any" and held < self.minimum:
            return _MISS
        return True, found


@dataclass
class Evaluation:
    ok: bool
    found: Found
    trace: list[tuple[int, bool, str, str]] = field(default_factory=list)
