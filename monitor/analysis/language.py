"""Language identification that knows Central Asia and the Caucasus.

Decision, in order (all deterministic):

1. Clean the text (tags, URLs, e-mail addresses, digits do not count) and find the
   dominant script. Armenian -> ``hy`` and Georgian -> ``ka`` outright.
2. Two fast statistical detectors: pycld2 (primary, ~3 us) and py3langid
   (normalised probabilities, also knows kk ky uz tg and "no language").
3. Letter evidence: every Cyrillic language has an alphabet; a language whose
   alphabet lacks letters present in the text (Kazakh ә ұ, Tajik ӣ ӯ ҷ,
   Uzbek ў қ ғ ҳ, Ukrainian ї є ґ, Belarusian ў ...) is ruled out, and the
   best-ranked language that remains wins. Latin-script Azerbaijani (ə), Uzbek
   (oʻ gʻ) and Turkish (ı ğ ş) are told apart the same way.
4. langdetect (seeded, profiles loaded lazily) is asked only when the two
   detectors disagree and letters did not settle it.

Confidence is 0..1; below :data:`UNCERTAIN_BELOW` the result is ``uncertain``
and the pipeline must not send the item to a translation model.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pycld2
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitor.analysis.detector_engines import LangidEngine, langdetect_probabilities, load_profiles
from monitor.analysis.text import count_scripts, language_code as normalize_code, scripts as _scripts

__all__ = [
    "LanguageResult",
    "UNCERTAIN_BELOW",
    "SUPPORTED",
    "detect_text",
    "detect_item",
    "detect_lines",
    "normalize_code",
]

UNCERTAIN_BELOW = 0.5
"""Results with a confidence below this are marked ``uncertain``."""

MIN_LETTERS = 4
"""Fewer letters than this: no language at all."""

SUPPORTED: dict[str, str] = {
    "en": "English",
    "ru": "Russian",
    "uk": "Ukrainian",
    "be": "Belarusian",
    "kk": "Kazakh",
    "ky": "Kyrgyz",
    "uz": "Uzbek",
    "tg": "Tajik",
    "hy": "Armenian",
    "ka": "Georgian",
    "az": "Azerbaijani",
    "tr": "Turkish",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "zh": "Chinese",
    "ar": "Arabic",
    "fa": "Persian",
}
"""Languages measured by bench/bench_language.py (others are detected too)."""


@dataclass(frozen=True)
class LanguageResult:
    """What language a text is in, how sure we are, and its script."""

    language: str | None  # ISO 639-1 ("uz" in both scripts); None if unknown
    confidence: float  # 0..1
    script: str  # ISO 15924: "Latn", "Cyrl", "Armn", "Geor", "Arab", "Hani", ...
    uncertain: bool  # confidence < UNCERTAIN_BELOW: do not translate


# --------------------------------------------------------------------------- scripts

# Languages that are (practically) written only in one script.
_SCRIPT_ONLY: dict[str, str] = {
    "Armn": "hy",
    "Geor": "ka",
    "Hang": "ko",
    "Hira": "ja",
    "Kana": "ja",
    "Jpan": "ja",
    "Grek": "el",
    "Hani": "zh",  # Han without kana; Japanese always has kana in running text
}

# Widespread news languages outside SUPPORTED that keep full weight when detectors split.
_COMMON = frozenset("it pt nl pl ja ko cs ro hu sv el he hi bg sr".split())

# What langdetect knows: it must not cast a vote between languages it has never seen.
_LANGDETECT_KNOWS = frozenset(
    "af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv mk ml "
    "mr ne nl no pa pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh".split()
)

# The script each supported language may be written in (uz: two).
_LANG_SCRIPTS: dict[str, frozenset[str]] = {
    **{c: frozenset({"Latn"}) for c in ("en", "tr", "az", "de", "fr", "es", "it", "pt", "nl", "pl", "tk")},
    **{c: frozenset({"Cyrl"}) for c in ("ru", "uk", "be", "kk", "ky", "tg", "bg", "mk", "sr", "mn", "tt", "ba")},
    "uz": frozenset({"Latn", "Cyrl"}),
    "hy": frozenset({"Armn"}),
    "ka": frozenset({"Geor"}),
    "zh": frozenset({"Hani"}),
    "ja": frozenset({"Hani", "Hira", "Kana"}),
    "ko": frozenset({"Hang", "Hani"}),
    "ar": frozenset({"Arab"}),
    "fa": frozenset({"Arab"}),
    "ur": frozenset({"Arab"}),
    "ps": frozenset({"Arab"}),
    "el": frozenset({"Grek"}),
    "he": frozenset({"Hebr"}),
}


# --------------------------------------------------------------------------- letters

_RU = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_CYRL_ALPHABETS: dict[str, frozenset[str]] = {
    "ru": frozenset(_RU),
    "uk": frozenset("абвгґдеєжзиіїйклмнопрстуфхцчшщьюя"),
    "be": frozenset("абвгґдеёжзійклмнопрстуўфхцчшыьэюя"),
    "bg": frozenset("абвгдежзийклмнопрстуфхцчшщъьюя"),
    "mk": frozenset("абвгдѓежзѕијклљмнњопрстќуфхцчџш"),
    "sr": frozenset("абвгдђежзијклљмнњопрстћуфхцчџш"),
    "kk": frozenset(_RU + "әғқңөұүһі"),
    "ky": frozenset(_RU + "ңөү"),
    "uz": frozenset("абвгдеёжзийклмнопрстуфхцчшъьэюяўқғҳ"),
    "tg": frozenset("абвгғдеёжзиӣйкқлмнопрстуӯфхҳчҷшъэюя"),
    "mn": frozenset(_RU + "өү"),
    "tt": frozenset(_RU + "әөүҗңһ"),
    "ba": frozenset(_RU + "әөүғҡңҙҫһ"),
}
_KK_ONLY = frozenset("әғқұһі")  # among kk/ky: letters Kyrgyz lacks
# Letters that speak for a language once its alphabet fits (used to trust pycld2 alone).
_CYRL_POSITIVE: dict[str, frozenset[str]] = {
    "ru": frozenset("ыэъё"),
    "uk": frozenset("іїєґ"),
    "be": frozenset("ў"),
    "kk": frozenset("әұһіқғ"),
    "ky": frozenset("ңөү"),
    "tg": frozenset("ӣӯҷ"),
    "uz": frozenset("ўқғҳ"),
}
# Outside Cyrillic: (script, language) -> (one of these letters must occur, none of these may).
_MARKED: dict[tuple[str, str], tuple[frozenset[str], frozenset[str]]] = {
    ("Latn", "az"): (frozenset("əƏ"), frozenset()),
    ("Latn", "uz"): (frozenset("\u02bb"), frozenset("ıİğĞşŞəƏ")),  # oʻ gʻ with the proper letter
    ("Arab", "fa"): (frozenset("پچژگکی"), frozenset("ةىيكےٹڈڑںھ")),
    ("Arab", "ar"): (frozenset("ةىيك"), frozenset("پچژگکیےٹڈڑں")),
}
# Serbian and Macedonian running text nearly always shows one of these; without them, not sr/mk.
_CYRL_MARKERS: dict[str, frozenset[str]] = {"sr": frozenset("јљњћђџ"), "mk": frozenset("јќѓѕљњџ")}

_UZ_LATIN_APOS = re.compile(r"[og][\u02bb\u2018\u2019'`\u02bc]", re.IGNORECASE)
_AZ_ONLY = frozenset("əƏ")
_TR_LETTERS = frozenset("ıİğĞşŞ")  # Turkish and Azerbaijani, never Uzbek Latin
_AZ_QX = re.compile(r"\b[a-zçğıöşü]*[qx][a-zçğıöşü]*\b")  # q/x in a lower-case word: not Turkish


_CYRL_LANGS = tuple(_CYRL_ALPHABETS)
# A character whose lower case is a Cyrillic letter (U+0400..U+052F) -> (that letter, the positions
# in _CYRL_LANGS of the alphabets that lack it). Only characters of that block lower-case into it
# (tests/test_language.py checks every code point), and each of them to one character.
_CYRL_FOLD: dict[str, tuple[str, tuple[int, ...]]] = {
    ch: (ch.lower(), tuple(i for i, lang in enumerate(_CYRL_LANGS) if ch.lower() not in _CYRL_ALPHABETS[lang]))
    for ch in map(chr, range(0x0400, 0x0530))
    if len(ch.lower()) == 1 and "\u0400" <= ch.lower() <= "\u052f" and ch.lower().isalpha()
}
_CYRL_MARKER_AT = tuple((_CYRL_LANGS.index(lang), marks) for lang, marks in _CYRL_MARKERS.items())


def _cyrillic_candidates(chars: Counter[str]) -> tuple[list[str], Counter[str]]:
    """Cyrillic languages whose alphabet fits the text best (fewest foreign letters), and the
    text's Cyrillic letters (lower case) with their counts, from the text's character counts."""
    letters: Counter[str] = Counter()
    oov = [0] * len(_CYRL_LANGS)  # letters of the text foreign to each alphabet
    fold = _CYRL_FOLD
    for ch, n in chars.items():
        hit = fold.get(ch)
        if hit is None:
            continue
        lower, lacking = hit
        letters[lower] += n
        for i in lacking:
            oov[i] += n
    for i, marks in _CYRL_MARKER_AT:
        if marks.isdisjoint(letters):
            oov[i] += 1
    best = min(oov)
    return [lang for lang, n in zip(_CYRL_LANGS, oov) if n == best], letters


class _Seen:
    """What one cleaned text showed, worked out at most once per detection and shared by its steps."""

    __slots__ = ("clean", "chars", "_cyrillic", "_langid")

    def __init__(self, clean: str) -> None:
        self.clean = clean
        self.chars: Counter[str] = Counter(clean)  # one count of the characters serves scripts and letters
        self._cyrillic: tuple[list[str], Counter[str]] | None = None
        self._langid: Any = None

    def cyrillic(self) -> tuple[list[str], Counter[str]]:
        """:func:`_cyrillic_candidates` of the text."""
        if self._cyrillic is None:
            self._cyrillic = _cyrillic_candidates(self.chars)
        return self._cyrillic

    def langid_scores(self) -> Any:
        """py3langid's probabilities for the text (one scoring serves classify and rank)."""
        if self._langid is None:
            self._langid = _get_langid_engine().scores(self.clean)
        return self._langid


# --------------------------------------------------------------------------- detectors

_lock = threading.Lock()
_langid: LanguageIdentifier | None = None
_langid_engine: LangidEngine | None = None
_langdetect: Any = None


def _get_langid() -> LanguageIdentifier:
    global _langid
    if _langid is None:
        with _lock:
            if _langid is None:
                _langid = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _langid


def _get_langid_engine() -> LangidEngine:
    global _langid_engine
    if _langid_engine is None:
        ident = _get_langid()
        with _lock:
            if _langid_engine is None:
                _langid_engine = LangidEngine(ident, own_tables=True)  # its tables are the engine's alone
    return _langid_engine


def _langdetect_probs(text: str) -> dict[str, float]:
    """langdetect's probabilities (seeded, so deterministic); profiles load on first use."""
    global _langdetect
    if _langdetect is None:
        with _lock:
            if _langdetect is None:
                from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

                factory = DetectorFactory()  # our own: the global one stays as others left it
                load_profiles(factory, PROFILES_DIRECTORY)  # sparse: about 9 MB, not 47, the same answers
                factory.set_seed(0)  # every Detector re-seeds its RNG: same text, same answer
                _langdetect = factory
    from langdetect.lang_detect_exception import LangDetectException

    try:
        det = _langdetect.create()
        det.append(text)
        langs = langdetect_probabilities(det)  # det.get_probabilities(), the same answer faster
    except LangDetectException:
        return {}
    out: dict[str, float] = {}
    for lp in langs:
        code = normalize_code(lp.lang)
        if code:
            out[code] = out.get(code, 0.0) + float(lp.prob)
    return out


def _cld2(text: str) -> tuple[str | None, float, bool]:
    """pycld2's top language, its share of the text (0..1) and its reliability flag."""
    try:
        reliable, _, details = pycld2.detect(text, isPlainText=True)
    except (pycld2.error, UnicodeError, ValueError):
        return None, 0.0, False
    code = normalize_code(details[0][1])
    return code, details[0][2] / 100.0, bool(reliable)


# --------------------------------------------------------------------------- cleaning

_TAG = re.compile(r"<[^>]{0,500}>")
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.\w+")


def _clean(text: str) -> str:
    """Text without markup, entities, URLs and lone surrogates, NFC-normalised."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)  # &#1179; is қ: entities may carry the very letters we need
    if "://" in text or "www." in text or "@" in text:
        text = _URL.sub(" ", text)
    return " ".join(text.split())  # the same as re.sub(r"\s+", " ", text).strip(): \s is str.isspace()


# --------------------------------------------------------------------------- decision


def _result(lang: str | None, conf: float, script: str) -> LanguageResult:
    conf = round(max(0.0, min(1.0, conf)), 4)
    if lang is None:
        conf = 0.0
    return LanguageResult(lang, conf, script, lang is None or conf < UNCERTAIN_BELOW)


def _length_factor(n_letters: int, script: str) -> float:
    """Short texts earn less trust; CJK characters carry more than letters."""
    per = 3 if script in ("Hani", "Hira", "Kana", "Hang") else 1
    n = n_letters * per
    if n >= 24:
        return 1.0
    return max(0.0, (n - MIN_LETTERS + 4) / 24)


def _fits_script(lang: str, script: str) -> bool:
    scripts = _LANG_SCRIPTS.get(lang)
    return scripts is None or script in scripts


def _latin_evidence(text: str, lang: str | None) -> str | None:
    """Azerbaijani ə, Uzbek oʻ gʻ, Turkish ı ğ ş: overrule a detector that ignores them."""
    has_az = not _AZ_ONLY.isdisjoint(text)
    if has_az and lang not in ("az",):
        return "az"
    if lang == "tr" and _AZ_QX.search(text):
        return "az"
    if lang == "uz" and not _TR_LETTERS.isdisjoint(text):
        return "az" if _AZ_QX.search(text) else "tr"
    if lang in ("tr", "az", "tk", "sq", "en", None) and len(_UZ_LATIN_APOS.findall(text)) >= 2:
        return "uz"
    return None


def _p3_rank(seen: _Seen, allowed: Iterable[str]) -> list[tuple[str, float]]:
    allowed_set = set(allowed)
    ranked = [(normalize_code(c) or c, p) for c, p in _get_langid_engine().rank(seen.langid_scores())]
    picked = [(c, p) for c, p in ranked if c in allowed_set]
    total = sum(p for _, p in picked) or 1.0
    return [(c, p / total) for c, p in picked]


def detect_text(text: str) -> LanguageResult:
    """Detect the language of one text (headline, summary or both)."""
    return _detect(_Seen(_clean(text or "")))


def _detect(seen: _Seen) -> LanguageResult:
    clean = seen.clean
    scripts = count_scripts(seen.chars)
    if not scripts:
        return _result(None, 0.0, "Zyyy")
    script, n_script = scripts.most_common(1)[0]
    n_letters = sum(scripts.values())
    if script == "Hani" and (scripts.get("Hira", 0) + scripts.get("Kana", 0)) > 0:
        script = "Jpan"
    if n_letters < MIN_LETTERS:
        return _result(None, 0.0, script)
    length = _length_factor(n_letters, script)
    purity = n_script / n_letters

    only = _SCRIPT_ONLY.get(script)
    if only is not None:
        return _result(only, min(1.0, 0.5 + 0.5 * length) * purity, script)

    c2_lang, c2_share, c2_reliable = _cld2(clean)
    if c2_lang is not None and not _fits_script(c2_lang, script):
        c2_lang = None
    c2_conf = (0.9 if c2_reliable else 0.55) * c2_share if c2_lang else 0.0
    if c2_lang and c2_reliable and c2_share >= 0.9 and _letters_confirm(seen, c2_lang, script):
        # pycld2 is sure and the alphabet agrees: no need for the slower second detector
        return _result(c2_lang, max(c2_conf, 0.95) * length * (0.5 + 0.5 * purity), script)
    p3_code, p3_prob = _get_langid_engine().classify(seen.langid_scores())
    p3_lang = normalize_code(p3_code)
    if p3_lang is not None and not _fits_script(p3_lang, script):
        p3_lang, p3_prob = None, 0.0

    lang, conf = _combine(clean, c2_lang, c2_conf, p3_lang, p3_prob)

    if script == "Cyrl":
        lang, conf = _cyrillic_decide(seen, lang, conf)
    elif script == "Latn":
        forced = _latin_evidence(clean, lang)
        if forced is not None and forced != lang:
            lang, conf = forced, max(conf, 0.75)

    return _result(lang, conf * length * (0.5 + 0.5 * purity), script)


def _combine(
    text: str, c2_lang: str | None, c2_conf: float, p3_lang: str | None, p3_prob: float
) -> tuple[str | None, float]:
    """Merge the two fast detectors; langdetect is asked only when they are unsure or split."""
    if c2_lang and c2_lang == p3_lang:
        return c2_lang, 1.0 - (1.0 - p3_prob) * (1.0 - c2_conf)
    if c2_lang and p3_lang:
        if c2_lang in _LANGDETECT_KNOWS and p3_lang in _LANGDETECT_KNOWS:
            return _vote(text, {c2_lang: c2_conf, p3_lang: p3_prob}, prefer=c2_lang)
        # langdetect lacks one of them (kk ky uz tg az gl sr ...): the likelier of the two,
        # languages we are built for weighted above their rarer neighbours (es over gl).
        if p3_prob * _prior(p3_lang) >= c2_conf * _prior(c2_lang):
            lang, conf = p3_lang, p3_prob * (1.0 - c2_conf * 0.5)
        else:
            lang, conf = c2_lang, c2_conf * (1.0 - p3_prob * 0.5)
        if lang in _LANGDETECT_KNOWS:  # it cannot pick the other one, but it can back this one
            second = _langdetect_probs(text)
            if second and max(second, key=lambda c: second[c]) == lang:
                conf = max(conf, 0.8 * (1.0 - (1.0 - conf) * (1.0 - 0.8 * second[lang])))
        return lang, conf
    if c2_lang:
        return c2_lang, c2_conf * 0.85
    if p3_lang:
        if p3_prob < 0.9 and p3_lang in _LANGDETECT_KNOWS:
            return _vote(text, {p3_lang: p3_prob}, prefer=p3_lang)
        return p3_lang, p3_prob * 0.85
    return None, 0.0


def _prior(lang: str) -> float:
    """Weight of a language when the detectors split: the ones we serve come first."""
    return 1.0 if lang in SUPPORTED or lang in _COMMON else 0.7


def _vote(text: str, votes: dict[str, float], prefer: str) -> tuple[str, float]:
    """Add langdetect's opinion to the fast detectors' votes; confidence from the supporters."""
    second = _langdetect_probs(text)
    if not second:
        lang = max(votes, key=lambda c: (votes[c], c == prefer))
        return lang, votes[lang] * 0.7
    ld_top = max(second, key=lambda c: second[c])
    merged = dict(votes)
    for code in votes:
        merged[code] += second.get(code, 0.0)
    lang = max(merged, key=lambda c: (merged[c], c == prefer))
    supporters = [votes[lang]] + ([second[ld_top] * 0.8] if ld_top == lang else [])
    miss = 1.0
    for p in supporters:
        miss *= 1.0 - p
    dissent = len(votes) > 1 or ld_top != lang
    return lang, (1.0 - miss) * (0.8 if dissent else 1.0)


def _letters_confirm(seen: _Seen, lang: str, script: str) -> bool:
    """The text fits ``lang``'s alphabet best and shows a letter typical of it."""
    if script != "Cyrl":
        rule = _MARKED.get((script, lang))
        if rule is None:
            return False
        need, never = rule
        text = seen.clean
        return not need.isdisjoint(text) and never.isdisjoint(text)
    candidates, letters = seen.cyrillic()
    if lang not in candidates:
        return False
    marks = _CYRL_POSITIVE.get(lang)
    if marks is None or marks.isdisjoint(letters):
        return False
    if lang == "ky":
        return _KK_ONLY.isdisjoint(letters)
    return True


def _cyrillic_decide(seen: _Seen, lang: str | None, conf: float) -> tuple[str | None, float]:
    """Rule out Cyrillic languages whose alphabet lacks letters found in the text."""
    candidates, letters = seen.cyrillic()
    if lang in candidates and lang not in ("kk", "ky"):
        return lang, conf
    if lang in ("kk", "ky") and "kk" in candidates and "ky" in candidates:
        kk_letters = sum(n for ch, n in letters.items() if ch in _KK_ONLY)
        kyrgyz_letters = sum(n for ch, n in letters.items() if ch in "ңөү")
        if kk_letters:
            return "kk", conf if lang == "kk" else max(conf, 0.7)
        if kyrgyz_letters:
            return "ky", conf if lang == "ky" else max(conf, 0.7)
        return lang, conf
    if lang in candidates:
        return lang, conf
    if len(candidates) == 1:
        return candidates[0], max(conf, 0.8)
    # the detectors' choice is ruled out by the letters: best-ranked language that fits
    ranked = _p3_rank(seen, candidates)
    if not ranked:
        return lang, conf * 0.5
    best, share = ranked[0]
    if best in ("kk", "ky") and "kk" in candidates and "ky" in candidates:
        best = _cyrillic_decide(seen, best, conf)[0] or best
    if lang is None:  # nobody had an opinion: only the letters and py3langid's ranking speak
        return best, share
    return best, max(0.6, share)


# --------------------------------------------------------------------------- items


def detect_item(
    title: str, summary: str, declared: str | None = None, override: str | None = None
) -> LanguageResult:
    """Detect an item's language from title and summary, using the feed's declared language.

    ``override`` (per-feed ``language:`` in config) wins with confidence 1.0. A feed's
    declared language breaks ties when detection is unsure and the text's script fits
    it; a confident detection that disagrees with the feed's declaration wins.
    """
    text = " \n".join(p.strip() for p in (title or "", summary or "") if p and p.strip())
    forced = normalize_code(override)
    if forced is not None:
        scripts = _scripts(_clean(text))
        script = scripts.most_common(1)[0][0] if scripts else "Zyyy"
        return LanguageResult(forced, 1.0, script, False)
    seen = _Seen(_clean(text))
    found = _detect(seen)
    decl = normalize_code(declared)
    if decl is None or not _fits_script(decl, found.script):
        return found
    if decl == found.language:
        return _result(decl, 1.0 - (1.0 - found.confidence) * 0.6, found.script)
    if found.script == "Cyrl" and decl in _CYRL_ALPHABETS:
        candidates, _ = seen.cyrillic()
        if decl not in candidates:
            return found
    if found.language is None or found.uncertain:
        letters = sum(count_scripts(seen.chars).values())
        if letters < MIN_LETTERS:
            return found
        return _result(decl, max(found.confidence, 0.6), found.script)
    return found


def detect_lines(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """For ``monitor detect``: one dict per non-empty line (text, language, confidence, script)."""
    for line in lines:
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        r = detect_text(text)
        yield {
            "text": text,
            "language": r.language,
            "confidence": r.confidence,
            "script": r.script,
            "uncertain": r.uncertain,
        }
