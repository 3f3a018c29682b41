"""Is a language code one we know? One table for config.yaml and watchlists: ISO 639 via pycountry.

news-monitor speaks ISO 639-1 (``hy``, ``kk``); :func:`monitor.analysis.language.normalize_code` maps tags
such as ``ru-RU`` or ``iw`` onto it. A code outside ISO 639-1 that has a two-letter equivalent
(``arm`` or ``hye`` for Armenian, ``kaz`` for Kazakh) is a mistake worth a hint: the stemmer and
the script rules are keyed on the two-letter code, so ``arm:`` silently loses Armenian
inflection. An ISO 639-3 code without a two-letter one (``kaa``, Karakalpak) is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pycountry

from monitor.analysis.language import normalize_code


@dataclass(frozen=True)
class CodeProblem:
    message: str
    hint: str


@lru_cache(maxsize=512)
def code_problem(code: str) -> CodeProblem | None:
    """None when ``code`` is a usable language code, else the message and a "did you mean" hint."""
    raw = code.strip()
    norm = normalize_code(raw) or raw.lower()
    if len(norm) == 2 and pycountry.languages.get(alpha_2=norm) is not None:
        return None
    try:
        lang = pycountry.languages.lookup(norm)
    except LookupError:
        lang = None
    alpha_2 = getattr(lang, "alpha_2", None) if lang is not None else None
    if alpha_2:
        return CodeProblem(f"{raw!r} is not an ISO 639-1 language code",
                           f"did you mean '{alpha_2}' ({getattr(lang, 'name', alpha_2)})?")
    if lang is not None and len(norm) == 3:
        return None  # a real ISO 639-3 language without a two-letter code
    return CodeProblem(f"unknown language code {raw!r}", "use an ISO 639-1 code such as en, ru, kk, ky, uz, tg, hy")
