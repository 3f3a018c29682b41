"""Small text helpers every stage shares, one copy each: language codes, scripts, shortening.

- :func:`language_code` maps a tag as feeds, detectors and users write it ("ru-RU", "uz-Cyrl",
  "iw", "EN_us") onto the ISO 639 code news-monitor speaks ("ru", "uz", "he", "en"), or None
  when it names no language. :data:`LANG_CODE_RE` is the shape of such a code, for validators.
- :func:`script_of` names the ISO 15924 script of a character ("Latn", "Cyrl", "Armn" ...);
  :func:`scripts` counts the letters of a text per script (:func:`count_scripts` from its
  character counts) and :func:`main_script` picks the dominant one.
- :func:`shorten` cuts a text to at most ``limit`` characters, ellipsis included: at a
  character, at a word boundary, or after the last whole sentence that fits.
  :func:`split_sentences` is the rule-based sentence splitter it (and translation) uses.

Pure functions; no I/O, nothing of ours imported.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

ELLIPSIS = "…"

# ------------------------------------------------------------------ language codes

LANG_CODE_RE = re.compile(r"^[a-z]{2,3}$")

_CODE_ALIASES: dict[str, str] = {
    "iw": "he",
    "jw": "jv",
    "zh-hant": "zh",
    "zh-hans": "zh",
    "zh-tw": "zh",
    "zh-cn": "zh",
    "ary": "ar",
    "arz": "ar",
    "yue": "zh",
    "wuu": "zh",
    "uzs": "uz",
    "fil": "tl",
    "nb": "no",
    "nn": "no",
    "sh": "sr",
}
_NO_LANGUAGE = frozenset({"un", "xx", "zxx", "und", "unknown", ""})


def is_language_code(code: str) -> bool:
    """True when ``code`` has the shape of an ISO 639 code (two or three lower-case letters)."""
    return bool(LANG_CODE_RE.match(code))


def language_code(tag: object) -> str | None:
    """The ISO 639 code of a language tag ("ru-RU" -> "ru", "zh-Hant" -> "zh", "iw" -> "he");
    None for an empty tag, "und"/"unknown"/"xx", or anything that is not a language code."""
    if not tag or not isinstance(tag, str):
        return None
    c = tag.strip().lower().replace("_", "-")
    if c in _CODE_ALIASES:
        return _CODE_ALIASES[c]
    base = c.split("-", 1)[0]
    base = _CODE_ALIASES.get(base, base)
    if base in _NO_LANGUAGE or not LANG_CODE_RE.match(base):
        return None
    return base


# ------------------------------------------------------------------ scripts

_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "Latn"),
    (0x0370, 0x03FF, "Grek"),
    (0x0400, 0x052F, "Cyrl"),
    (0x0530, 0x058F, "Armn"),
    (0x0590, 0x05FF, "Hebr"),
    (0x0600, 0x06FF, "Arab"),
    (0x0750, 0x077F, "Arab"),
    (0x0900, 0x097F, "Deva"),
    (0x0980, 0x09FF, "Beng"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x10A0, 0x10FF, "Geor"),
    (0x1100, 0x11FF, "Hang"),
    (0x1C90, 0x1CBF, "Geor"),
    (0x1E00, 0x1EFF, "Latn"),
    (0x2D00, 0x2D2F, "Geor"),
    (0x3040, 0x309F, "Hira"),
    (0x30A0, 0x30FF, "Kana"),
    (0x3400, 0x4DBF, "Hani"),
    (0x4E00, 0x9FFF, "Hani"),
    (0xAC00, 0xD7AF, "Hang"),
    (0xF900, 0xFAFF, "Hani"),
    (0xFB50, 0xFDFF, "Arab"),
    (0xFE70, 0xFEFF, "Arab"),
)
_SCRIPT_MEMO: dict[str, str | None] = {}


def script_of(ch: str) -> str | None:
    """The ISO 15924 script of one character ("Zyyy" for a letter of a script not listed),
    None for a character that is not a letter."""
    o = ord(ch)
    if o < 0x41:
        return None
    for lo, hi, name in _SCRIPT_RANGES:
        if lo <= o <= hi:
            return name if ch.isalpha() else None
    return "Zyyy" if ch.isalpha() else None


def scripts(text: str) -> Counter[str]:
    """Letters per script (memoised per character: headlines repeat a small alphabet)."""
    return count_scripts(Counter(text))


def count_scripts(chars: Counter[str]) -> Counter[str]:
    """:func:`scripts` of a text from its character counts (``Counter(text)``)."""
    counts: Counter[str] = Counter()
    memo = _SCRIPT_MEMO
    for ch, n in chars.items():
        s = memo.get(ch, "?")
        if s == "?":
            s = script_of(ch)
            if len(memo) < 65536:
                memo[ch] = s
        if s is not None:
            counts[s] += n
    return counts


def main_script(text: str) -> str | None:
    """The dominant script of ``text`` (ISO 15924), None if it has no letters."""
    counts = scripts(text)
    return counts.most_common(1)[0][0] if counts else None


# ------------------------------------------------------------------ sentences and shortening

_SENT_END = re.compile(r"(?<=[.!?…։])([»\"'”’)\]]?)\s+(?=[«\"“„(\['‘]?[\w])", re.UNICODE)
_ENDS_SENTENCE = re.compile(r"[.!?…։。！？][»\"'”’)\]]?$")
_TRAILING = " ,.;:-–—"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by rule: after . ! ? … or the Armenian full stop, before a word,
    not after a one-letter abbreviation such as "В." or "г."."""
    parts: list[str] = []
    start = 0
    for m in _SENT_END.finditer(text):
        before = text[start : m.start()]
        if re.search(r"(?:^|\s)[^\W\d_]\.$", before):
            continue
        parts.append(text[start : m.start()] + m.group(1))
        start = m.end()
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def ends_sentence(sentence: str) -> bool:
    """True when ``sentence`` ends with a full stop of some script (a closing quote may follow)."""
    return bool(_ENDS_SENTENCE.search(sentence))


def shorten(text: str, limit: int, at: Literal["char", "word", "sentence"] = "word") -> str:
    """``text`` (stripped) if it fits in ``limit`` characters, else a cut that does, "…" included.

    ``at="char"`` cuts anywhere; ``"word"`` at the last space in the second half of the room (a
    hard cut when there is none) without trailing punctuation; ``"sentence"`` after the last
    whole sentence that fits (no ellipsis then), falling back to ``"word"``."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    if at == "sentence":
        out = ""
        for sentence in split_sentences(text[: limit + 1]):
            candidate = f"{out} {sentence}".strip()
            if len(candidate) > limit or not ends_sentence(sentence):
                break
            out = candidate
        if out:
            return out
    cut = text[: limit - 1]
    if at != "char":
        space = cut.rfind(" ")
        if space >= limit // 2:
            cut = cut[:space]
        cut = cut.rstrip(_TRAILING)
    return cut.rstrip() + ELLIPSIS


# ------------------------------------------------------------------ e-mail addresses

# local@domain: no spaces or angle brackets, a domain of non-empty dot-separated labels. A dot is
# not required: "news-monitor@localhost" and "root@mailhost" are addresses a local relay delivers.
_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>.]+(?:\.[^@\s<>.]+)*$")


def is_email_address(addr: str) -> bool:
    """True for a bare address such as "analyst@example.org" or "root@localhost" (no display
    name, no spaces, no empty domain label as in "a@b." or "a@.org")."""
    return bool(_EMAIL_RE.match(addr))
