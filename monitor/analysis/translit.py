"""Transliteration: Uzbek Cyrillic -> Uzbek Latin (before translation), and Armenian and
Georgian names -> Latin letters (for comparing names across scripts).

NLLB-200 knows Uzbek only in Latin script (``uzn_Latn``), while many Uzbek outlets still
publish in Cyrillic. ``uz_cyrillic_to_latin`` follows the official Latin alphabet of 1995 (as
amended): ш->sh, ч->ch, ғ->gʻ, ў->oʻ, ё->yo, ю->yu, я->ya, ъ->ʼ (dropped before е/ё/ю/я as in
Russian loans), ь dropped, е->ye at the start of a word and after a vowel (else e), ц->s at the
start of a word and after a consonant (цирк -> sirk, концерт -> konsert) and ts after a vowel
(милиция -> militsiya). Digraphs keep the case of the word: Шаҳар -> Shahar, ШАҲАР -> SHAHAR.
The two special letters are U+02BB (oʻ, gʻ) and U+02BC (ʼ), as the standard prescribes.
Pure functions; non-Uzbek characters pass through unchanged.
"""

from __future__ import annotations

OKINA = "\u02bb"  # ʻ in oʻ and gʻ
TUTUQ = "\u02bc"  # ʼ, the tutuq belgisi (from ъ)

_SIMPLE: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ж": "j", "з": "z", "и": "i", "й": "y",
    "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "x", "э": "e", "қ": "q", "ҳ": "h", "ы": "i",
    "ш": "sh", "щ": "sh", "ч": "ch", "ё": "yo", "ю": "yu", "я": "ya",
    "ғ": "g" + OKINA, "ў": "o" + OKINA,
}
_VOWELS = frozenset("аеёиоуэюяўы")
_IOTATED = frozenset("еёюя")


def _is_cyr_letter(ch: str) -> bool:
    return "\u0400" <= ch <= "\u04ff" and ch.isalpha()


def _cased(latin: str, src: str, prev: str, nxt: str) -> str:
    """``latin`` in the case of the source letter; digraphs all-caps inside all-caps words."""
    if not src.isupper():
        return latin
    if len(latin) == 1:
        return latin.upper()
    word_caps = (nxt.isalpha() and nxt.isupper()) or (not nxt.isalpha() and prev.isalpha() and prev.isupper())
    if word_caps:
        return latin.upper().replace(OKINA.upper(), OKINA)
    return latin[0].upper() + latin[1:]


def uz_cyrillic_to_latin(text: str) -> str:
    """Uzbek Cyrillic text in the official Uzbek Latin alphabet."""
    out: list[str] = []
    n = len(text)
    for i, ch in enumerate(text):
        low = ch.lower()
        prev = text[i - 1] if i > 0 else ""
        nxt = text[i + 1] if i + 1 < n else ""
        prev_low = prev.lower()
        at_start = not _is_cyr_letter(prev)
        if low == "е":
            latin = "ye" if at_start or prev_low in _VOWELS or prev_low in "ъь" else "e"
        elif low == "ц":
            latin = "ts" if (not at_start and prev_low in _VOWELS) else "s"
        elif low == "ъ":
            latin = "" if nxt.lower() in _IOTATED else TUTUQ
        elif low == "ь":
            latin = ""
        elif low in _SIMPLE:
            latin = _SIMPLE[low]
        else:
            out.append(ch)
            continue
        out.append(_cased(latin, ch, prev, nxt))
    return "".join(out)


# (language, script the text is in) -> (script it becomes, function)
TRANSLITERATORS = {
    ("uz", "Cyrl"): ("Latn", uz_cyrillic_to_latin),
}


# Armenian and Georgian letters in a plain Latin spelling (no diacritics): enough for names to
# meet their English and Russian spellings once reduced to consonant skeletons
# (Փաշինյան -> pashinyan, ალიევი -> alievi). "ու" is one vowel (u); "և" is "ev".
_ARMENIAN = dict(zip("աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ",
                     "a b g d e z e y t zh i l kh ts k h dz gh ch m y n sh o ch p j r s v t r ts v p k o f"
                     .split()))
_GEORGIAN = dict(zip("აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ",
                     "a b g d e v z t i k l m n o p zh r s t u p k gh q sh ch ts dz ts ch kh j h".split()))


def name_to_latin(word: str) -> str:
    """A lower-case Armenian or Georgian word in Latin letters; other letters pass unchanged."""
    word = word.replace("ու", "u").replace("և", "ev")
    return "".join(_ARMENIAN.get(ch) or _GEORGIAN.get(ch) or ch for ch in word)
