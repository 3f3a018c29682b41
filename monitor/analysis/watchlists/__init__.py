"""Watchlists: YAML schema, validation with locations, query compiler and matcher.

A watchlist file is validated in full (every problem reported with
file:line:column, key and hint), compiled to a :class:`~monitor.analysis.watchlists.engine.Lexicon`
plus a node tree, and matched against items prepared once by
:func:`prepare` (original text and translation). See README.md, "Watchlists".
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ruamel.yaml.error import MarkedYAMLError, YAMLError

from monitor import ConfigError, Problem, relpath
from monitor.analysis.text import is_email_address, is_language_code
from monitor.analysis.watchlists.engine import (
    FIELD_GROUPS,
    TITLE_FIELDS,
    Context,
    Group,
    Hit,
    Lexicon,
    Near,
    Node,
    Occurrence,
    Regex,
    Term,
    Word,
)
from monitor.analysis.watchlists.text import (
    DEFAULT_LANGUAGE_BY_SCRIPT,
    PreparedItem,
    prepare,
    script_of,
    words_of,
)
from monitor.config.yaml_load import load_yaml
from monitor.config.yamlcheck import (
    ProblemCollector,
    join_key as _join,
    kind_of as _kind,
    position as _pos,
    suggest as _suggest,
)

__all__ = [
    "DigestSettings", "Explanation", "Hit", "Match", "MatchInput", "PreparedItem", "Watchlist",
    "Reload", "highlight", "load_watchlist", "load_watchlists", "match_all", "prepare", "reload_watchlists",
]

TITLE_BOOST = 2.0  # a term found in the title counts this many times its weight
# The delivery channels a digest can go out on: the one list (dispatch, validation, and the
# enum in watchlists/watchlist.schema.json, which a test compares).
Channel = Literal["markdown", "email", "atom", "webhook"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
FORMATS = CHANNELS
MODES = ("digest", "immediate")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WORD_STAR_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class MatchInput:
    """What the matcher needs of an item (original and, if any, translated text)."""

    title: str
    summary: str
    language: str | None
    feed: str
    title_translated: str | None = None
    summary_translated: str | None = None
    translated_to: str | None = None  # the language of the translations (translation.target); None: "en"


@dataclass(frozen=True)
class Match:
    watchlist: str
    score: float
    hits: tuple[Hit, ...]
    translated: bool = False  # the item had a translation (hits say original/translation)

    def why(self) -> list[str]:
        """Human-readable reasons, one per term, e.g. '"Victory Day" in title'."""
        by_term: dict[str, list[Hit]] = {}
        for h in self.hits:
            by_term.setdefault(h.term, []).append(h)
        out = []
        for term, hits in by_term.items():
            places: list[str] = []
            for h in hits:
                place = _place(h.field, self.translated)
                if place not in places:
                    places.append(place)
            forms = []
            for h in hits:
                if h.text.casefold() != term.casefold() and h.text not in forms:
                    forms.append(h.text)
            line = f'"{term}" in {", ".join(places)}'
            if forms:
                line += " (" + ", ".join(f'"{f}"' for f in forms[:3]) + ")"
            out.append(line)
        return out


def _place(fname: str, translated: bool) -> str:
    if fname.endswith("_translated"):
        return fname.removesuffix("_translated") + " (translation)"
    return f"{fname} (original)" if translated else fname


@dataclass(frozen=True)
class DigestSettings:
    schedule: str = "0 7 * * *"  # cron expression
    timezone: str = "UTC"  # IANA
    formats: tuple[str, ...] = ("markdown",)
    recipients: tuple[str, ...] = ()
    mode: str = "digest"  # "digest" | "immediate"
    quiet_hours: tuple[str, str] | None = None  # ("22:00", "07:00") in ``timezone``
    heartbeat: bool = False  # send a "nothing matched" digest
    webhook: str | None = None


@dataclass(frozen=True)
class Filters:
    feeds: tuple[str, ...] = ()  # glob patterns on feed names; empty = every feed
    exclude_feeds: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()  # item languages; empty = every language
    exclude_languages: tuple[str, ...] = ()
    min_score: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """What ``monitor watchlist test`` shows for one item."""

    watchlist: str
    matched: bool
    score: float  # for a non-match: what the hits outside not: would score
    weight_sum: float
    threshold: float
    min_score: float
    hits: tuple[Hit, ...]
    filtered_out: tuple[str, ...]  # filters the item failed
    trace: tuple[str, ...]  # the query tree, one line per node, ✓/✗
    near_misses: tuple[str, ...]  # why it did not match, when it nearly did
    translated: bool = False
    query_held: bool = False  # the query held (a non-match then lost to threshold, min_score or filters)

    def why(self) -> list[str]:
        """Which terms hit where (same wording as :meth:`Match.why`)."""
        return Match(self.watchlist, self.score, self.hits, self.translated).why()

    def missing(self) -> list[str]:
        """What kept the item out: failed filters, then near misses."""
        return [f"filtered out: {f}" for f in self.filtered_out] + list(self.near_misses)

    def lines(self) -> list[str]:
        head = "MATCH" if self.matched else "no match"
        out = [f"{self.watchlist}: {head} (score {self.score:.2f}, weights {self.weight_sum:g}"
               f" / threshold {self.threshold:g}, min_score {self.min_score:g})"]
        out += [f"  filtered out: {f}" for f in self.filtered_out]
        out += [f"  {t}" for t in self.trace]
        out += [f"  nearly: {n}" for n in self.near_misses]
        return out


@dataclass
class Watchlist:
    name: str
    title: str
    path: Path
    digest: DigestSettings
    description: str = ""
    threshold: float = 1.0
    filters: Filters = field(default_factory=Filters)
    enabled: bool = True
    fingerprint: str = ""  # sha256 of the file, to notice edits
    query: Node | None = None
    lexicon: Lexicon = field(default_factory=Lexicon)

    def __post_init__(self) -> None:
        self._requirements = self.query.requirements() if self.query is not None else []

    def threshold_notes(self) -> list[str]:
        """Ways the query can hold whose weights stay under ``threshold`` (items it would drop).

        The threshold is meant to ask for more evidence than the query alone; when the
        cheapest way for the query to hold already falls under it, items that meet every
        requirement of the query are still lost. ``watchlist test`` prints this note.
        """
        if self.query is None:
            return []
        floor, labels = self.query.cheapest()
        terms = " + ".join(labels)
        out = []
        if floor < self.threshold:
            out.append(f"the query can hold with weights {floor:g} < threshold {self.threshold:g} ({terms}): "
                       "such items are dropped; lower threshold or raise those weights")
        if floor < self.filters.min_score:
            out.append(f"the query can hold with score {floor:g} < filters.min_score {self.filters.min_score:g} "
                       f"({terms}, none in a title): such items are dropped; lower min_score")
        return out

    def _filter_failures(self, item: PreparedItem) -> list[str]:
        f = self.filters
        out = []
        feed = item.feed.casefold()
        if f.feeds and not any(fnmatch.fnmatchcase(feed, p.casefold()) for p in f.feeds):
            out.append(f"feed {item.feed!r} not in filters.feeds")
        if any(fnmatch.fnmatchcase(feed, p.casefold()) for p in f.exclude_feeds):
            out.append(f"feed {item.feed!r} is in filters.exclude_feeds")
        if f.languages and item.language not in f.languages:
            out.append(f"language {item.language!r} not in filters.languages")
        if item.language is not None and item.language in f.exclude_languages:
            out.append(f"language {item.language!r} is in filters.exclude_languages")
        return out

    def _evaluate(self, item: PreparedItem, trace: bool) -> tuple[bool, float, float, tuple[Hit, ...], Context]:
        assert self.query is not None
        ctx = Context(item, self.lexicon, self.lexicon.key, trace=trace)
        ok, found = self.query.evaluate(ctx)
        if not ok and trace:
            found = ctx.seen  # explain: what the item has, to show how near it came
        weight_sum = 0.0
        score = 0.0
        hits: dict[tuple[str, str, int, int], Hit] = {}
        # Distinct terms count once (by label, with their largest weight), wherever they hit.
        by_term: dict[str, tuple[float, list[Occurrence]]] = {}
        for leaf, occ in found:
            weight, occs = by_term.get(leaf.label, (leaf.weight, []))
            occs.append(occ)
            by_term[leaf.label] = (max(weight, leaf.weight), occs)
        for label, (weight, occs) in by_term.items():
            in_title = any(o.field in TITLE_FIELDS for o in occs)
            weight_sum += weight
            score += weight * (TITLE_BOOST if in_title else 1.0)
            for o in occs:
                h = _to_hit(item, label, o)
                hits.setdefault((h.term, h.field, h.start, h.end), h)
        ordered = tuple(sorted(hits.values(), key=lambda h: (_FIELD_ORDER[h.field], h.start, h.end)))
        return ok, round(score, 4), round(weight_sum, 4), ordered, ctx

    def match(self, item: MatchInput | PreparedItem) -> Match | None:
        """The match of ``item``, or None (filters, query, threshold and min_score all apply)."""
        p = item if isinstance(item, PreparedItem) else prepare(item)
        if not self.enabled or self._filter_failures(p):
            return None
        if self._requirements:
            present = Context(p, self.lexicon, self.lexicon.key).present()
            if any(req.isdisjoint(present) for req in self._requirements):
                return None  # a word the query cannot do without is missing
        ok, score, weight_sum, hits, _ = self._evaluate(p, trace=False)
        if not ok or weight_sum < self.threshold or score < self.filters.min_score:
            return None
        return Match(self.name, score, hits, p.translated)

    def explain(self, item: MatchInput | PreparedItem) -> Explanation:
        """Hits, score, threshold, whether it matched and what nearly matched."""
        p = item if isinstance(item, PreparedItem) else prepare(item)
        filtered = self._filter_failures(p)
        if not self.enabled:
            filtered.insert(0, "watchlist is disabled (enabled: false)")
        ok, score, weight_sum, hits, ctx = self._evaluate(p, trace=True)
        trace = [f"{'  ' * d}{'✓' if good else '✗'} {text}" for d, good, text, _ in (ctx.trace or [])]
        near: list[str] = []
        if not ok:
            near += _near_misses(ctx.trace or [])
        if ok and weight_sum < self.threshold:
            near.append(f"query held but weights {weight_sum:g} < threshold {self.threshold:g} (score {score:g})")
        if ok and weight_sum >= self.threshold and score < self.filters.min_score:
            near.append(f"score {score:g} < filters.min_score {self.filters.min_score:g}")
        matched = ok and not filtered and weight_sum >= self.threshold and score >= self.filters.min_score
        return Explanation(self.name, matched, score, weight_sum, self.threshold, self.filters.min_score,
                           hits, tuple(filtered), tuple(trace), tuple(near), p.translated, ok)


_FIELD_ORDER = {"title": 0, "summary": 1, "title_translated": 2, "summary_translated": 3}


def _to_hit(item: PreparedItem, term: str, o: Occurrence) -> Hit:
    f = item.fields[o.field]
    if o.chars:
        a, b = o.start, o.end
    else:
        a, b = f.spans[o.start][0], f.spans[o.end - 1][1]
    return Hit(term, o.field, f.text[a:b], a, b)


def _near_misses(trace: list[tuple[int, bool, str, str]]) -> list[str]:
    """Failed groups whose children partly held, and ``not`` clauses that excluded the item."""
    out = []
    for i, (_, ok, text, _short) in enumerate(trace):
        if ok or _under_not(trace, i):
            continue
        kids = _children(trace, i)
        held = [s for _, good, _, s in kids if good]
        missing = [s for _, good, _, s in kids if not good]
        if text.startswith("not"):
            out.append("excluded by not: " + ", ".join(held))
        elif held and (text.startswith("all") or text.startswith("any")):
            if all(m.startswith("not(") for m in missing):
                continue  # reported as "excluded by not" below
            out.append(f"{text}; failed: {'; '.join(missing[:4])}")
    return out


def _under_not(trace: list[tuple[int, bool, str, str]], i: int) -> bool:
    depth = trace[i][0]
    for d, _, text, _ in reversed(trace[:i]):
        if d < depth:
            if text.startswith("not"):
                return True
            depth = d
    return False


def _children(trace: list[tuple[int, bool, str, str]], i: int) -> list[tuple[int, bool, str, str]]:
    depth = trace[i][0]
    out = []
    for entry in trace[i + 1:]:
        if entry[0] <= depth:
            break
        if entry[0] == depth + 1:
            out.append(entry)
    return out


def match_all(watchlists: Iterable[Watchlist], item: MatchInput | PreparedItem) -> list[Match]:
    """Every match of ``item`` (prepared once), best score first."""
    p = item if isinstance(item, PreparedItem) else prepare(item)
    out = [m for w in watchlists if (m := w.match(p)) is not None]
    return sorted(out, key=lambda m: -m.score)


def highlight(text: str, hits: Iterable[Hit | tuple[int, int]], field: str | None = None,
              before: str = "**", after: str = "**") -> str:
    """``text`` with every hit span wrapped in ``before``/``after`` (overlaps merged).

    Hits of another ``field`` (when given) or whose text no longer fits are skipped.
    """
    spans: list[tuple[int, int]] = []
    for h in hits:
        if isinstance(h, Hit):
            if field is not None and h.field != field:
                continue
            if text[h.start:h.end] != h.text:
                continue
            spans.append((h.start, h.end))
        else:
            spans.append((h[0], h[1]))
    spans = sorted(s for s in spans if 0 <= s[0] < s[1] <= len(text))
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out += [text[last:a], before, text[a:b], after]
        last = b
    out.append(text[last:])
    return "".join(out)


# ---------------------------------------------------------------- loading


_TOP_KEYS = ("name", "title", "description", "enabled", "fields", "threshold", "aliases", "query",
             "filters", "digest")
_FILTER_KEYS = ("feeds", "exclude_feeds", "languages", "exclude_languages", "min_score")
_DIGEST_KEYS = ("schedule", "timezone", "formats", "recipients", "mode", "quiet_hours", "heartbeat",
                "webhook")
_LEAF_KINDS = ("term", "alias", "near", "regex")
_GROUP_KINDS = ("all", "any", "not")
_LEAF_KEYS = {
    "term": ("term", "lang", "variants", "exact", "derived", "weight", "fields", "name"),
    "alias": ("alias", "derived", "weight", "fields", "name"),
    "near": ("near", "weight", "fields", "name"),
    "regex": ("regex", "weight", "fields", "name"),
}
_NEAR_KEYS = ("terms", "within", "ordered")


class _Checker(ProblemCollector):
    """Validates one parsed watchlist document and compiles it; collects every problem."""

    def __init__(self, file: str, doc: Any, lexicon: Lexicon | None = None):
        super().__init__(file)
        self.doc = doc
        self.lexicon = lexicon if lexicon is not None else Lexicon()
        self.aliases: dict[str, list[tuple[int, ...]]] = {}
        self.alias_variants: dict[str, list[tuple[str, str | None, tuple[int | None, int | None], str]]] = {}

    # -- scalars

    def string(self, m: Mapping[str, Any], k: str, path: str, required: bool = False) -> str | None:
        if k not in m:
            if required:
                self.err(_pos(m), _join(path, k), "missing required key", f"add '{k}: ...'")
            return None
        v = m[k]
        if not isinstance(v, str) or not v.strip():
            self.err(_pos(m, k), _join(path, k), f"expected non-empty text, got {_kind(v)}",
                     "quote text that YAML could read as a number, date or boolean")
            return None
        return str(v)

    def number(self, m: Mapping[str, Any], k: str, path: str, default: float,
               lo: float, hi: float, nonzero: bool = False) -> float:
        if k not in m:
            return default
        v = m[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(_pos(m, k), _join(path, k), f"expected a number, got {_kind(v)}",
                     f"e.g. {k}: {default:g}")
            return default
        if not lo <= v <= hi or (nonzero and v == 0):
            self.err(_pos(m, k), _join(path, k), f"{v} is out of range",
                     f"use a number from {lo:g} to {hi:g}" + (", not 0" if nonzero else ""))
            return default
        return float(v)

    def boolean(self, m: Mapping[str, Any], k: str, path: str, default: bool) -> bool:
        if k not in m:
            return default
        v = m[k]
        if not isinstance(v, bool):
            self.err(_pos(m, k), _join(path, k), f"expected true or false, got {_kind(v)}",
                     f"write {k}: true or {k}: false (unquoted)")
            return default
        return v

    def str_list(self, m: Mapping[str, Any], k: str, path: str) -> list[tuple[str, tuple[int | None, int | None]]]:
        if k not in m:
            return []
        v = m[k]
        if isinstance(v, str):
            return [(v, _pos(m, k))]
        if not isinstance(v, list):
            self.err(_pos(m, k), _join(path, k), f"expected a list of text, got {_kind(v)}",
                     f"e.g. {k}: [a, b]")
            return []
        out = []
        for i, x in enumerate(v):
            if not isinstance(x, str) or not x.strip():
                self.err(_pos(v, i), f"{_join(path, k)}[{i}]", f"expected non-empty text, got {_kind(x)}",
                             "remove the empty entry or quote the text")
            else:
                out.append((str(x), _pos(v, i)))
        return out

    def fields_of(self, m: Mapping[str, Any], path: str, default: tuple[str, ...]) -> tuple[str, ...]:
        if "fields" not in m:
            return default
        v = m["fields"]
        if v not in FIELD_GROUPS:
            self.err(_pos(m, "fields"), _join(path, "fields"), f"unknown field choice {v!r}",
                     "use title, summary or both")
            return default
        return FIELD_GROUPS[v]

    # -- document

    def check(self, path: Path) -> Watchlist | None:
        doc = self.doc
        if not isinstance(doc, Mapping):
            self.err((1, 1), "", f"a watchlist must be a mapping, got {_kind(doc)}",
                     "start with 'name: my-watchlist'")
            return None
        self.unknown_keys(doc, _TOP_KEYS, "")
        name = self.string(doc, "name", "", required=True)
        if name is not None and not _NAME_RE.match(name):
            self.err(_pos(doc, "name"), "name", f"invalid name {name!r}",
                     "use lower-case letters, digits, '-' and '_' (e.g. victory-day-parade)")
        title = self.string(doc, "title", "") or name or ""
        description = self.string(doc, "description", "") or ""
        enabled = self.boolean(doc, "enabled", "", True)
        threshold = self.number(doc, "threshold", "", 1.0, -1000, 1000)
        fields = self.fields_of(doc, "", FIELD_GROUPS["both"])
        if "aliases" in doc:
            self.check_aliases(doc["aliases"], doc)
        query: Node | None = None
        if "query" not in doc:
            self.err(_pos(doc), "query", "missing required key",
                     "add 'query:' with any:/all:/not: or a term")
        else:
            query = self.node(doc["query"], doc, "query", "query", fields)
        filters = self.check_filters(doc)
        digest = self.check_digest(doc)
        if self.problems or name is None or query is None:
            return None
        return Watchlist(name=name, title=title, path=path, digest=digest, description=description,
                         threshold=threshold, filters=filters, enabled=enabled, query=query,
                         lexicon=self.lexicon)

    # -- aliases and terms

    def check_aliases(self, v: Any, parent: Any) -> None:
        if not isinstance(v, Mapping):
            self.err(_pos(parent, "aliases"), "aliases", f"expected a mapping of names, got {_kind(v)}",
                     "aliases:\\n  tokayev: [Tokayev, Токаев, Тоқаев]")
            return
        for name, spec in v.items():
            path = f"aliases.{name}"
            if not isinstance(name, str) or not _NAME_RE.match(name):
                self.err(_pos(v, name, of_key=True), path, f"invalid alias name {name!r}",
                         "use lower-case letters, digits, '-' and '_'")
                continue
            variants = self.variants(spec, v, name, path)
            phrases = self.phrases(variants, path, exact=False)
            if phrases:
                self.aliases[name] = phrases
                self.alias_variants[name] = variants

    def variants(self, spec: Any, parent: Any, key: Any,
                 path: str) -> list[tuple[str, str | None, tuple[int | None, int | None], str]]:
        """(text, language, position, path) of each variant in a list or a language mapping."""
        out: list[tuple[str, str | None, tuple[int | None, int | None], str]] = []
        if isinstance(spec, str):
            return [(spec, None, _pos(parent, key), path)]
        if isinstance(spec, Mapping):
            for lang, vals in spec.items():
                lpath = f"{path}.{lang}"
                if not isinstance(lang, str) or not is_language_code(lang):
                    self.err(_pos(spec, lang, of_key=True), lpath, f"unknown language code {lang!r}",
                             "use an ISO 639-1 code such as en, ru, kk, ky, uz, tg, hy")
                    continue
                if isinstance(vals, str):
                    out.append((vals, lang, _pos(spec, lang), lpath))
                elif isinstance(vals, list) and vals:
                    for i, x in enumerate(vals):
                        if isinstance(x, str):
                            out.append((x, lang, _pos(vals, i), f"{lpath}[{i}]"))
                        else:
                            self.err(_pos(vals, i), f"{lpath}[{i}]", f"expected text, got {_kind(x)}",
                                     "quote the variant")
                else:
                    self.err(_pos(spec, lang), lpath, f"expected text or a list of text, got {_kind(vals)}",
                             "e.g. kk: [Тоқаев]")
            return out
        if isinstance(spec, list) and spec:
            for i, x in enumerate(spec):
                out += self.variants(x, spec, i, f"{path}[{i}]")
            return out
        self.err(_pos(parent, key), path, f"expected text, a list or a language mapping, got {_kind(spec)}",
                 "e.g. [Tokayev, Токаев] or {en: Tokayev, kk: Тоқаев}")
        return out

    def phrases(self, variants: list[tuple[str, str | None, tuple[int | None, int | None], str]],
                path: str, exact: bool, derived: bool = False) -> list[tuple[int, ...]]:
        out: list[tuple[int, ...]] = []
        for text, lang, at, vpath in variants:
            phrase = self.phrase(text, lang, exact, at, vpath, derived)
            if phrase and phrase not in out:
                out.append(phrase)
        return out

    def phrase(self, text: str, lang: str | None, exact: bool, at: tuple[int | None, int | None],
               path: str, derived: bool = False) -> tuple[int, ...] | None:
        words: list[Word] = []
        for chunk in _WORD_STAR_RE.findall(text):
            star = chunk.endswith("*")
            body = chunk.rstrip("*")
            if "*" in body:
                self.err(at, path, f"wildcard inside a word in {text!r}",
                         "'*' may only end a word, as in sanction*")
                return None
            ws = words_of(body)
            if not ws:
                continue
            for i, w in enumerate(ws):
                is_prefix = star and i == len(ws) - 1
                if is_prefix and len(w) < 3:
                    self.err(at, path, f"prefix {w + '*'!r} is too short",
                             "a prefix needs at least 3 letters, e.g. санкц*")
                    return None
                wl = lang or DEFAULT_LANGUAGE_BY_SCRIPT.get(script_of(w), "und")
                mode = "prefix" if is_prefix else ("exact" if exact else "inflect")
                words.append(Word(w, mode, wl, derived and mode == "inflect"))
        if not words:
            self.err(at, path, f"no words in term {text!r}", "a term needs letters or digits")
            return None
        if len(words) > 1:
            words = [Word(w.text, w.mode, w.language, w.derived, True) if len(w.text) < 3 else w
                     for w in words]
        return tuple(self.lexicon.add(w) for w in words)

    def node(self, v: Any, parent: Any, key: Any, path: str, fields: tuple[str, ...]) -> Node | None:
        at = _pos(parent, key)
        if isinstance(v, str):
            phrase = self.phrase(v, None, False, at, path)
            return Term(v, [phrase], 1.0, fields) if phrase else None
        if isinstance(v, list):
            self.err(at, path, "a bare list is ambiguous", "write 'any:' (one of) or 'all:' (each of) before the list")
            return None
        if not isinstance(v, Mapping) or not v:
            self.err(at, path, f"expected a term or a mapping, got {_kind(v)}",
                     "e.g. 'Putin', {any: [...]}, {all: [...]}, {alias: tokayev}")
            return None
        leaf_kinds = [k for k in _LEAF_KINDS if k in v]
        group_kinds = [k for k in _GROUP_KINDS if k in v]
        if not leaf_kinds and not group_kinds and _is_lang_shorthand(v):
            return self.shorthand(v, path, fields)
        if len(leaf_kinds) > 1 or (leaf_kinds and group_kinds):
            kinds = leaf_kinds + group_kinds
            self.err(_pos(v), path, f"one node mixes {', '.join(kinds)}",
                     "split them: put each in its own item under all:/any:")
            return None
        fields = self.fields_of(v, path, fields)
        if leaf_kinds:
            return self.leaf(leaf_kinds[0], v, path, fields)
        if not group_kinds:
            self.unknown_keys(v, _GROUP_KINDS + _LEAF_KINDS, path)
            self.err(_pos(v), path, "node has no operator", "use one of all, any, not, term, alias, near, regex")
            return None
        self.unknown_keys(v, ("all", "any", "not", "min", "fields"), path)
        parts: list[Node] = []
        for op in group_kinds:
            kids = self.children(v[op], v, op, _join(path, op), fields, allow_single=(op == "not"))
            if kids is None:
                continue
            if op == "any":
                minimum = 1
                if "min" in v:
                    minimum = int(self.number(v, "min", path, 1, 1, max(1, len(kids))))
                parts.append(Group("any", kids, minimum))
            elif op == "all":
                parts.extend(kids) if len(group_kinds) > 1 else parts.append(Group("all", kids))
            else:
                parts.append(Group("none", kids))
        if "min" in v and "any" not in v:
            self.err(_pos(v, "min", of_key=True), _join(path, "min"), "min only applies to any:",
                     "write {any: [...], min: 2}")
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Group("all", parts)

    def children(self, v: Any, parent: Any, key: str, path: str, fields: tuple[str, ...],
                 allow_single: bool) -> list[Node] | None:
        if not isinstance(v, list):
            if allow_single and v is not None:
                n = self.node(v, parent, key, path, fields)
                return [n] if n else None
            self.err(_pos(parent, key), path, f"expected a list, got {_kind(v)}", f"{key}: [term, term, ...]")
            return None
        if not v:
            self.err(_pos(parent, key), path, "empty list", "list at least one term")
            return None
        kids = [self.node(x, v, i, f"{path}[{i}]", fields) for i, x in enumerate(v)]
        ok = [k for k in kids if k is not None]
        return ok if len(ok) == len(kids) else None

    def shorthand(self, v: Mapping[str, Any], path: str, fields: tuple[str, ...]) -> Node | None:
        """``{kk: Тоқаев}`` or ``{kk: [Тоқаев, Toqaev], ky: Токаев}`` where a term can stand."""
        variants = self.variants(v, None, None, path)
        phrases = self.phrases(variants, path, exact=False)
        if not phrases:
            return None
        return Term(variants[0][0], phrases, 1.0, fields)

    def leaf(self, kind: str, v: Mapping[str, Any], path: str, fields: tuple[str, ...]) -> Node | None:
        self.unknown_keys(v, _LEAF_KEYS[kind], path)
        weight = self.number(v, "weight", path, 1.0, -100, 100, nonzero=True)
        label = self.string(v, "name", path) if "name" in v else None
        if kind == "term":
            if not isinstance(v["term"], str):
                self.err(_pos(v, "term"), _join(path, "term"), f"expected text, got {_kind(v['term'])}",
                         "quote it, e.g. term: \"9 May\"")
                return None
            lang = None
            if "lang" in v:
                lang = v["lang"]
                if not isinstance(lang, str) or not is_language_code(lang):
                    self.err(_pos(v, "lang"), _join(path, "lang"), f"unknown language code {lang!r}",
                             "use an ISO 639-1 code such as en, ru, kk")
                    lang = None
            exact = self.boolean(v, "exact", path, False)
            derived = self.boolean(v, "derived", path, False)
            if exact and derived:
                self.err(_pos(v, "derived"), _join(path, "derived"), "derived: true contradicts exact: true",
                         "keep one of them")
            variants = [(str(v["term"]), lang, _pos(v, "term"), _join(path, "term"))]
            if "variants" in v:
                variants += self.variants(v["variants"], v, "variants", _join(path, "variants"))
            phrases = self.phrases(variants, path, exact, derived)
            return Term(label or str(v["term"]), phrases, weight, fields) if phrases else None
        if kind == "alias":
            ref = v["alias"]
            if ref not in self.aliases:
                known = self.aliases.keys()
                self.err(_pos(v, "alias"), _join(path, "alias"), f"undefined alias {ref!r}",
                         _suggest(str(ref), known) or "define it under 'aliases:' at the top of the file")
                return None
            phrases = self.aliases[ref]
            if self.boolean(v, "derived", path, False):
                phrases = self.phrases(self.alias_variants[ref], path, exact=False, derived=True)
            return Term(label or str(ref), phrases, weight, fields, kind="alias")
        if kind == "regex":
            pat = v["regex"]
            if not isinstance(pat, str) or not pat:
                self.err(_pos(v, "regex"), _join(path, "regex"), f"expected a pattern, got {_kind(pat)}",
                         "e.g. regex: '\\bCSTO\\b' (single quotes keep backslashes)")
                return None
            try:
                rx = re.compile(pat, re.IGNORECASE)
            except re.error as e:
                self.err(_pos(v, "regex"), _join(path, "regex"), f"broken regular expression: {e}",
                         "check brackets and escapes; quote the pattern in single quotes")
                return None
            if rx.search("") is not None:
                self.err(_pos(v, "regex"), _join(path, "regex"), f"pattern {pat!r} matches empty text",
                         "it would match every item; require at least one character (use + not *)")
                return None
            return Regex(label or pat, rx, weight, fields)
        # near
        spec = v["near"]
        npath = _join(path, "near")
        if not isinstance(spec, Mapping):
            self.err(_pos(v, "near"), npath, f"expected a mapping, got {_kind(spec)}",
                     "near: {terms: [Putin, Tokayev], within: 5}")
            return None
        self.unknown_keys(spec, _NEAR_KEYS, npath)
        within = self.number(spec, "within", npath, 5, 0, 100)
        if within != int(within):
            self.err(_pos(spec, "within"), _join(npath, "within"), "expected a whole number of words", "e.g. within: 5")
        ordered = self.boolean(spec, "ordered", npath, False)
        raw = spec.get("terms")
        if not isinstance(raw, list) or len(raw) < 2:
            self.err(_pos(spec, "terms") if "terms" in spec else _pos(spec), _join(npath, "terms"),
                     "near needs a list of at least two terms", "terms: [Putin, {alias: tokayev}]")
            return None
        terms: list[Term] = []
        for i, x in enumerate(raw):
            n = self.node(x, raw, i, f"{npath}.terms[{i}]", fields)
            if n is None:
                continue
            if not isinstance(n, Term):
                self.err(_pos(raw, i), f"{npath}.terms[{i}]", "near takes terms and aliases only",
                         "move all/any/not/regex/near outside near")
                continue
            terms.append(n)
        if len(terms) != len(raw):
            return None
        name = label or " ~ ".join(t.label for t in terms)
        return Near(name, terms, int(within), ordered, weight, fields)

    # -- filters and digest

    def check_filters(self, doc: Mapping[str, Any]) -> Filters:
        if "filters" not in doc:
            return Filters()
        v = doc["filters"]
        if not isinstance(v, Mapping):
            self.err(_pos(doc, "filters"), "filters", f"expected a mapping, got {_kind(v)}",
                     "filters: {languages: [ru, kk], min_score: 2}")
            return Filters()
        self.unknown_keys(v, _FILTER_KEYS, "filters")
        langs = {}
        for k in ("languages", "exclude_languages"):
            vals = []
            for code, at in self.str_list(v, k, "filters"):
                if not is_language_code(code):
                    self.err(at, f"filters.{k}", f"unknown language code {code!r}",
                             "use ISO 639-1 codes such as en, ru, kk")
                vals.append(code)
            langs[k] = tuple(vals)
        return Filters(
            feeds=tuple(s for s, _ in self.str_list(v, "feeds", "filters")),
            exclude_feeds=tuple(s for s, _ in self.str_list(v, "exclude_feeds", "filters")),
            languages=langs["languages"], exclude_languages=langs["exclude_languages"],
            min_score=self.number(v, "min_score", "filters", 0.0, 0, 10_000),
        )

    def check_digest(self, doc: Mapping[str, Any]) -> DigestSettings:
        d = DigestSettings()
        if "digest" not in doc:
            return d
        v = doc["digest"]
        if not isinstance(v, Mapping):
            self.err(_pos(doc, "digest"), "digest", f"expected a mapping, got {_kind(v)}",
                     "digest: {schedule: '0 7 * * *', timezone: Europe/Moscow}")
            return d
        self.unknown_keys(v, _DIGEST_KEYS, "digest")
        tz = self.string(v, "timezone", "digest") or d.timezone
        zone: ZoneInfo | None = None
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            self.err(_pos(v, "timezone"), "digest.timezone", f"unknown time zone {tz!r}",
                     _suggest(tz, _zones()) or "use an IANA name such as Europe/Moscow or Asia/Almaty")
        schedule = self.string(v, "schedule", "digest") or d.schedule
        if zone is not None or "schedule" in v:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(schedule, timezone=zone or ZoneInfo("UTC"))
            except ValueError as e:
                self.err(_pos(v, "schedule"), "digest.schedule", f"invalid cron expression {schedule!r}: {e}",
                         "five fields: minute hour day month weekday, e.g. '0 7 * * *'")
        formats = []
        for f, at in self.str_list(v, "formats", "digest"):
            if f not in FORMATS:
                self.err(at, "digest.formats", f"unknown format {f!r}",
                         _suggest(f, FORMATS) or "use " + ", ".join(FORMATS))
            elif f not in formats:
                formats.append(f)
        if "formats" in v and not formats and not any(p.key == "digest.formats" for p in self.problems):
            self.err(_pos(v, "formats"), "digest.formats", "no output format", "e.g. formats: [markdown]")
        recipients = []
        for r, at in self.str_list(v, "recipients", "digest"):
            if not is_email_address(r):
                self.err(at, "digest.recipients", f"not an e-mail address: {r!r}", "e.g. analyst@example.org")
            recipients.append(r)
        if "email" in formats and not recipients:
            self.err(_pos(v, "formats"), "digest.formats", "format email needs recipients",
                     "add 'recipients: [analyst@example.org]'")
        mode = self.string(v, "mode", "digest") or d.mode
        if mode not in MODES:
            self.err(_pos(v, "mode"), "digest.mode", f"unknown mode {mode!r}", "use digest or immediate")
        quiet: tuple[str, str] | None = None
        if "quiet_hours" in v:
            q = v["quiet_hours"]
            if (not isinstance(q, list) or len(q) != 2
                    or not all(isinstance(x, str) and _HHMM_RE.match(x) for x in q)):
                self.err(_pos(v, "quiet_hours"), "digest.quiet_hours", f"expected two HH:MM times, got {q!r}",
                         'quiet_hours: ["22:00", "07:00"] (quote the times)')
            else:
                quiet = (str(q[0]), str(q[1]))
                if time.fromisoformat(quiet[0]) == time.fromisoformat(quiet[1]):
                    self.err(_pos(v, "quiet_hours"), "digest.quiet_hours", "start equals end",
                             "give a non-empty range, e.g. 22:00 to 07:00")
        heartbeat = self.boolean(v, "heartbeat", "digest", False)
        webhook = self.string(v, "webhook", "digest")
        if webhook is not None and not re.match(r"^https?://[^\s/]+", webhook):
            self.err(_pos(v, "webhook"), "digest.webhook", f"not an http(s) URL: {webhook!r}",
                     "e.g. https://hooks.example.org/news")
        if "webhook" in formats and webhook is None:
            self.err(_pos(v, "formats"), "digest.formats", "format webhook needs a webhook URL",
                     "add 'webhook: https://...'")
        return DigestSettings(schedule=schedule, timezone=tz, formats=tuple(formats) or d.formats,
                              recipients=tuple(recipients), mode=mode, quiet_hours=quiet,
                              heartbeat=heartbeat, webhook=webhook)


_NODE_OPTION_KEYS = frozenset(("min", "fields", "weight", "name", "lang", "variants", "exact", "derived",
                               "terms", "within", "ordered"))


def _is_lang_shorthand(v: Mapping[str, Any]) -> bool:
    """A mapping whose keys are all two-letter language codes (``{kk: Тоқаев}``), not node keys."""
    return all(isinstance(k, str) and len(k) == 2 and is_language_code(k) and k not in _NODE_OPTION_KEYS
               for k in v)


def _zones() -> list[str]:
    import zoneinfo

    return sorted(zoneinfo.available_timezones())


def _parse(text: str, file: str) -> tuple[Any, list[Problem]]:
    try:
        return load_yaml(text), []
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        msg = " ".join(str(x) for x in (e.context, e.problem) if x) or str(e)
        hint = "a key appears twice; keep one" if "duplicate key" in msg else \
            "check indentation and quote text containing ':' or '#'"
        return None, [Problem(file, line, col, "", f"YAML syntax: {msg}", hint)]
    except YAMLError as e:
        return None, [Problem(file, None, None, "", f"YAML syntax: {e}", "")]


def load_watchlist(path: Path, lexicon: Lexicon | None = None) -> Watchlist:
    """Load, validate and compile one watchlist file; raises ConfigError with every problem.

    Watchlists compiled into one shared ``lexicon`` scan each item field once for all of them.
    """
    file = relpath(path)
    try:
        raw = Path(path).read_bytes()
        text = raw.decode("utf-8")
    except OSError as e:
        raise ConfigError([Problem(file, None, None, "", f"cannot read: {e.strerror or e}", "")]) from e
    except UnicodeDecodeError as e:
        raise ConfigError([Problem(file, None, None, "", f"not UTF-8 text: {e}", "save the file as UTF-8")]) from e
    doc, problems = _parse(text, file)
    if problems:
        raise ConfigError(problems)
    checker = _Checker(file, doc, lexicon)
    wl = checker.check(Path(path))
    if wl is None:
        raise ConfigError(checker.problems or [Problem(file, 1, 1, "", "unusable watchlist", "")])
    wl.fingerprint = hashlib.sha256(raw).hexdigest()
    return wl


def load_watchlists(directory: Path) -> tuple[list[Watchlist], list[Problem]]:
    """Every valid watchlist in ``directory`` (*.yaml, *.yml) and every problem; duplicate names are one."""
    d = Path(directory)
    if not d.is_dir():
        return [], [Problem(relpath(d), None, None, "", "watchlist directory not found",
                            "create it or fix 'watchlists:' in config.yaml")]
    out: list[Watchlist] = []
    problems: list[Problem] = []
    seen: dict[str, Watchlist] = {}
    lexicon = Lexicon()
    for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
        try:
            wl = load_watchlist(path, lexicon)
        except ConfigError as e:
            problems.extend(e.problems)
            continue
        if wl.name in seen:
            first = seen[wl.name]
            problems.append(Problem(relpath(path), *_name_pos(path), "name",
                                    f"duplicate watchlist name {wl.name!r} (also in {relpath(first.path)})",
                                    "give each watchlist a unique name; this file is ignored"))
            continue
        seen[wl.name] = wl
        out.append(wl)
    return out, problems


@dataclass(frozen=True)
class Reload:
    """Result of :func:`reload_watchlists`."""

    watchlists: list[Watchlist]  # what should be active now
    problems: list[Problem]  # every problem found (log them)
    changed: tuple[str, ...]  # names new or edited since ``previous`` (re-apply these to recent items)
    kept: tuple[str, ...]  # names whose edited file is broken: the last good version stays active
    removed: tuple[str, ...]  # names whose file is gone


def reload_watchlists(directory: Path, previous: Sequence[Watchlist]) -> Reload:
    """Reload ``directory``; a file that no longer validates keeps its last good version active."""
    fresh, probs = load_watchlists(directory)
    by_path = {w.path.resolve(): w for w in fresh}
    fresh_names = {w.name for w in fresh}
    broken_files = {Path(p.file).resolve() for p in probs}
    active = list(fresh)
    kept: list[str] = []
    removed: list[str] = []
    for old in previous:
        path = old.path.resolve()
        if path in by_path or old.name in fresh_names:
            continue
        if path.exists() and (path in broken_files or _resolve_rel(path, broken_files)):
            active.append(old)
            kept.append(old.name)
        else:
            removed.append(old.name)
    before = {w.name: w.fingerprint for w in previous}
    changed = tuple(w.name for w in fresh if before.get(w.name) != w.fingerprint)
    active.sort(key=lambda w: w.name)
    return Reload(active, probs, changed, tuple(kept), tuple(removed))


def _resolve_rel(path: Path, files: set[Path]) -> bool:
    return any(f.name == path.name and f.exists() and f.samefile(path) for f in files)


def _name_pos(path: Path) -> tuple[int | None, int | None]:
    try:
        doc = load_yaml(path.read_text(encoding="utf-8"))
        return _pos(doc, "name")
    except (OSError, YAMLError):
        return None, None
