"""One scrubber for text that came from the network (or any other untrusted source).

Feed titles, summaries, HTTP headers, ``Location`` targets, server error messages and
exception text can carry C0/C1 control characters (a raw 0x9B is the C1 CSI, which
terminals read as ESC ``[``), line breaks that forge log lines, and bidi overrides
that make a line read differently from what it contains. Every such string passes
through :func:`scrub` (or :func:`clean_line`) before it reaches a terminal, a log
line, an e-mail header or a file an operator reads.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_line", "has_bad_char", "scrub", "scrub_lines"]

_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ/ZWJ are part of Persian, Indic and emoji text


def _char_class(ranges: list[tuple[int, int]], categories: set[str], keep: frozenset[str] = frozenset()) -> str:
    """A regex character class body (as compact ranges) for the code points in ``categories``."""
    points = [c for lo, hi in ranges for c in range(lo, hi + 1)
              if unicodedata.category(chr(c)) in categories and chr(c) not in keep]
    spans: list[list[int]] = []
    for c in points:
        if spans and spans[-1][1] == c - 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans)


_ASTRAL_FORMAT = [(0x110BD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE007F)]
# C0/C1 controls, line and paragraph separators: become spaces.
_TO_SPACE = re.compile("[" + _char_class([(0, 0xFFFF)], {"Cc", "Zl", "Zp"}) + "]+")
# Noncharacters (U+FDD0..U+FDEF, U+xFFFE/U+xFFFF; U+FFFE/U+FFFF are not even allowed in XML),
# format characters (bidi overrides, zero-width spaces, BOM, ...) and lone surrogates: removed.
_NONCHARS = "\ufdd0-\ufdef" + "".join(f"{chr(p * 0x10000 + 0xFFFE)}-{chr(p * 0x10000 + 0xFFFF)}" for p in range(17))
_TO_DROP = re.compile("[" + _char_class([(0, 0xFFFF), *_ASTRAL_FORMAT], {"Cf", "Cs"}, _KEEP_FORMAT) + _NONCHARS + "]+")


def scrub(value: object) -> str:
    """Untrusted text without control, line-break or format characters (controls become a space,
    format characters such as bidi overrides go); other spacing is left as it is."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable():  # no Cc, Cf, Cs, Zl, Zp or noncharacter: neither pattern can match
        return text
    return _TO_DROP.sub("", _TO_SPACE.sub(" ", text))


def scrub_lines(value: object) -> str:
    """Like :func:`scrub` line by line: ``\\n`` survives (a traceback stays readable), nothing else does."""
    if value is None:
        return ""
    return "\n".join(scrub(line) for line in str(value).split("\n"))


def clean_line(value: object) -> str:
    """Untrusted text as one line: controls and line breaks become spaces, format characters go,
    runs of whitespace collapse to one space."""
    if value is None:
        return ""
    return " ".join(scrub(value).split())


def has_bad_char(text: str) -> bool:
    """True when ``text`` holds anything :func:`scrub` would change."""
    if text.isprintable():
        return False
    return bool(_TO_SPACE.search(text) or _TO_DROP.search(text))
