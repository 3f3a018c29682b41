"""Text preparation for watchlist matching: normalise, tokenise and stem once per item.

Every field of an item is split into word tokens (offsets kept for highlighting),
each token normalised (NFKC, casefold, ё→е, one apostrophe) and tagged with its
script. Stems are computed lazily per Snowball language through a process-wide
cache, so a :class:`PreparedItem` can be shared by every watchlist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import snowballstemmer

from monitor.analysis.morphology import is_joined_affix, normalize
from monitor.analysis.text import language_code, script_of as text_script_of

__all__ = ["STEMMERS", "DEFAULT_LANGUAGE_BY_SCRIPT", "PreparedField", "PreparedItem", "normalize", "prepare",
           "prepare_field", "script_of", "stem", "tokenize", "words_of"]

# ISO 639-1 code -> Snowball algorithm. Languages missing here get prefix matching.
STEMMERS: dict[str, str] = {
    "en": "english", "ru": "russian", "hy": "armenian", "tr": "turkish", "de": "german",
    "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese", "nl": "dutch",
    "sv": "swedish", "no": "norwegian", "nb": "norwegian", "da": "danish", "fi": "finnish",
    "hu": "hungarian", "ro": "romanian", "el": "greek", "ar": "arabic", "fa": "persian",
    "lt": "lithuanian", "id": "indonesian", "ga": "irish", "ca": "catalan", "eu": "basque",
    "ne": "nepali", "ta": "tamil", "hi": "hindi", "sr": "serbian", "yi": "yiddish",
    "cs": "czech", "pl": "polish", "et": "estonian", "eo": "esperanto",
}

# Language assumed for a term word written without a language tag, by script.
DEFAULT_LANGUAGE_BY_SCRIPT: dict[str, str] = {
    "latin": "en", "cyrillic": "ru", "armenian": "hy", "greek": "el", "arabic": "ar",
    "georgian": "ka",
}

_TOKEN_RE = re.compile(r"\w+(?:['’‘ʼ`´]\w+)*")
_CACHE_LIMIT = 400_000


_SCRIPT_NAMES = {"Latn": "latin", "Cyrl": "cyrillic", "Armn": "armenian", "Grek": "greek",
                 "Geor": "georgian", "Arab": "arabic"}
_WORD_SCRIPT: dict[str, str] = {}


def script_of(word: str) -> str:
    """The script of a (normalised) word, judged by its first character ("latin", "cyrillic",
    ...: the names of :data:`DEFAULT_LANGUAGE_BY_SCRIPT`), from :func:`monitor.analysis.text.script_of`."""
    ch = word[0] if word else "a"
    name = _WORD_SCRIPT.get(ch)
    if name is None:
        iso = text_script_of(ch)
        name = ("latin" if ord(ch) < 0x250 else "other") if iso is None else _SCRIPT_NAMES.get(iso, "other")
        if len(_WORD_SCRIPT) < 65536:
            _WORD_SCRIPT[ch] = name
    return name


_NORM_CACHE: dict[str, str] = {}


def _norm_token(raw: str) -> str:
    n = _NORM_CACHE.get(raw)
    if n is None:
        n = normalize(raw)
        if len(_NORM_CACHE) > _CACHE_LIMIT:
            _NORM_CACHE.clear()
        _NORM_CACHE[raw] = n
    return n


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Word tokens of ``text`` as (raw, start, end) character offsets."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


def words_of(text: str) -> list[str]:
    """Normalised words of a term or text (``*`` is kept by callers, not here).

    Hyphen-joined endings fold as in item text (``9-го`` is one word, ``9``)."""
    if "-" in text:
        return prepare_field(text, None).tokens
    return [_norm_token(raw) for raw in _TOKEN_RE.findall(text)]


class _Stemmer(Protocol):
    def stemWord(self, word: str) -> str: ...  # noqa: N802 (snowball's name)


_STEMMER_OBJS: dict[str, _Stemmer] = {}
_STEM_CACHE: dict[str, dict[str, str]] = {}


def stem(language: str, word: str) -> str:
    """Snowball stem of a normalised ``word`` for a covered ``language`` (cached)."""
    cache = _STEM_CACHE.get(language)
    if cache is None:
        cache = _STEM_CACHE[language] = {}
        _STEMMER_OBJS[language] = snowballstemmer.stemmer(STEMMERS[language])
    s = cache.get(word)
    if s is None:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        s = cache[word] = _STEMMER_OBJS[language].stemWord(word)
    return s


class PreparedField:
    """One tokenised field: raw text and normalised tokens (char spans computed on demand)."""

    __slots__ = ("text", "tokens", "language", "inflect_prefix", "_spans")

    def __init__(self, text: str, tokens: list[str], inflect_prefix: bool, language: str | None = None,
                 spans: list[tuple[int, int]] | None = None):
        self.text = text
        self.tokens = tokens
        self.language = language  # the item's language: its endings also apply to every word
        self.inflect_prefix = inflect_prefix  # language without a stemmer (kept for callers)
        self._spans = spans

    @property
    def spans(self) -> list[tuple[int, int]]:
        """Character (start, end) of each token in ``text``."""
        if self._spans is None:
            self._spans = [m.span() for m in _TOKEN_RE.finditer(self.text)]
        return self._spans


@dataclass
class PreparedItem:
    """An item tokenised once; shared by every watchlist's ``match``."""

    title: str
    summary: str
    language: str | None
    feed: str
    fields: dict[str, PreparedField]
    translated: bool
    scans: dict[int, dict[str, dict[int, list[int]]]] = field(default_factory=dict)  # lexicon key -> field -> hits
    present: dict[int, set[int]] = field(default_factory=dict)  # lexicon key -> word ids found anywhere


def prepare_field(text: str, language: str | None) -> PreparedField:
    """Tokenise and normalise one field written in ``language``.

    An ending joined by a hyphen to a number or an abbreviation (``9-го``, ``ЕАЭО-ға``) is
    folded into the token before it, so that ``9-го мая`` reads as ``9 мая``.
    """
    uncovered = language is not None and language not in STEMMERS
    if "-" in text:
        return _prepare_hyphenated(text, language, uncovered)
    get = _NORM_CACHE.get
    tokens = [get(raw) or _norm_token(raw) for raw in _TOKEN_RE.findall(text)]
    return PreparedField(text, tokens, uncovered, language)


def _prepare_hyphenated(text: str, language: str | None, uncovered: bool) -> PreparedField:
    tokens: list[str] = []
    spans: list[tuple[int, int]] = []
    prev_raw = ""
    for m in _TOKEN_RE.finditer(text):
        raw = m.group()
        a, b = m.span()
        norm = _norm_token(raw)
        if (spans and a >= 1 and text[a - 1] == "-" and spans[-1][1] == a - 1
                and is_joined_affix(prev_raw, norm)):
            spans[-1] = (spans[-1][0], b)
            continue
        tokens.append(norm)
        spans.append((a, b))
        prev_raw = raw
    return PreparedField(text, tokens, uncovered, language, spans)


class _ItemLike(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def language(self) -> str | None: ...
    @property
    def feed(self) -> str: ...
    @property
    def title_translated(self) -> str | None: ...
    @property
    def summary_translated(self) -> str | None: ...
    @property
    def translated_to(self) -> str | None: ...


def prepare(item: _ItemLike, target_language: str | None = None) -> PreparedItem:
    """Tokenise every field of ``item`` once. The translations are in ``target_language``, else in
    the item's ``translated_to`` (the configured translation.target), else in English."""
    lang = language_code(item.language)
    target_language = language_code(target_language or item.translated_to) or "en"
    fields = {
        "title": prepare_field(item.title or "", lang),
        "summary": prepare_field(item.summary or "", lang),
    }
    translated = False
    if item.title_translated:
        fields["title_translated"] = prepare_field(item.title_translated, target_language)
        translated = True
    if item.summary_translated:
        fields["summary_translated"] = prepare_field(item.summary_translated, target_language)
        translated = True
    return PreparedItem(item.title or "", item.summary or "", lang, item.feed, fields, translated)
