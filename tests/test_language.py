"""Language stage: a pinned sample of the evaluation set, letter evidence, items, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.analysis.language import (
    UNCERTAIN_BELOW,
    LanguageResult,
    detect_item,
    detect_lines,
    detect_text,
    normalize_code,
)

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "bench" / "data" / "lang_eval"
SETS = sorted(p.stem for p in (EVAL / "headlines").glob("*.txt"))
SCRIPTS = {"hy": "Armn", "ka": "Geor", "zh": "Hani", "ar": "Arab", "fa": "Arab", "uz-Cyrl": "Cyrl", "uz-Latn": "Latn"}


def _lines(kind: str, stem: str) -> list[str]:
    return [ln.strip() for ln in (EVAL / kind / f"{stem}.txt").read_text(encoding="utf-8").splitlines() if ln.strip()]


def test_eval_set_has_every_language() -> None:
    expected = {"en", "ru", "uk", "be", "kk", "ky", "uz-Latn", "uz-Cyrl", "tg", "hy", "ka", "az", "tr", "de", "fr", "es", "zh", "ar", "fa"}
    assert expected <= set(SETS)
    for stem in expected:
        assert len(_lines("headlines", stem)) >= 40
        assert len(_lines("summaries", stem)) >= 20


@pytest.mark.parametrize("stem", SETS)
def test_pinned_headlines_and_summaries(stem: str) -> None:
    """Five headlines and two summaries per language (every 8th / 10th line) must stay right."""
    expected = stem.split("-")[0]
    sample = _lines("headlines", stem)[::8][:5] + _lines("summaries", stem)[::10][:2]
    assert len(sample) == 7
    for text in sample:
        r = detect_text(text)
        assert (r.language, r.uncertain) == (expected, False), text
        assert UNCERTAIN_BELOW <= r.confidence <= 1.0
        if stem in SCRIPTS or expected in SCRIPTS:
            assert r.script == SCRIPTS.get(stem, SCRIPTS.get(expected))


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Қазақстан үкіметі жаңа салық кодексін бекітті", "kk"),
        ("Кыргызстандын өкмөтү жаңы салык кодексин бекитти", "ky"),
        ("Ҳукумати Тоҷикистон кодекси нави андозро тасдиқ кард", "tg"),
        ("Ўзбекистон ҳукумати янги солиқ кодексини тасдиқлади", "uz"),
        ("Oʻzbekiston hukumati yangi soliq kodeksini tasdiqladi", "uz"),
        ("O'zbekiston hukumati yangi soliq kodeksini tasdiqladi", "uz"),
        ("Урад Беларусі зацвердзіў новы падатковы кодэкс", "be"),
        ("Уряд України затвердив новий податковий кодекс", "uk"),
        ("Правительство России утвердило новый налоговый кодекс", "ru"),
        ("Суд освободил лидера оппозиции из-под стражи", "ru"),  # pycld2 alone says Serbian
        ("Токаев подписал указ о назначении акима Алматинской области", "ru"),  # Kazakh names, Russian text
        ("Бишкекте жаан жаайт", "ky"),  # short, no ң ө ү
        ("Эмомалӣ Раҳмон ба Маскав сафар кард", "tg"),
        ("Neft ixracı üçüncü aydır ki, azalır", "az"),  # no ə: q/x rule against Turkish
        ("Petrol ihracatı üçüncü aydır düşüyor", "tr"),
        ("La niebla obliga a cancelar decenas de vuelos en el aeropuerto", "es"),  # pycld2 says gl
        ("Հայաստանի կառավարությունը հաստատեց նոր հարկային օրենսգիրքը", "hy"),
        ("საქართველოს მთავრობამ ახალი საგადასახადო კოდექსი დაამტკიცა", "ka"),
    ],
)
def test_letter_and_script_evidence(text: str, lang: str) -> None:
    r = detect_text(text)
    assert r.language == lang
    assert not r.uncertain


@pytest.mark.parametrize("text", ["", "   ", "xx", "123 456 789", "asdkjh qwe", "qwrtp zxcvb mnbvc lkjhg", "Hello", "!!! ???"])
def test_gibberish_and_very_short_text_is_uncertain(text: str) -> None:
    r = detect_text(text)
    assert r.uncertain
    assert r.confidence < UNCERTAIN_BELOW


def test_single_word_is_uncertain_but_scripted() -> None:
    r = detect_text("Президент")
    assert r.uncertain and r.script == "Cyrl"


def test_deterministic_within_and_across_processes() -> None:
    texts = [
        "El club fichará a un delantero veterano por dos temporadas",  # asks langdetect
        "Суд освободил лидера оппозиции из-под стражи",
        "Кыргызстандын өкмөтү жаңы салык кодексин бекитти",
        "asdkjh qwe",
    ]
    here = [detect_text(t) for t in texts]
    assert here == [detect_text(t) for t in texts]
    code = (
        "import json,sys; from monitor.analysis.language import detect_lines; "
        "print(json.dumps(list(detect_lines(sys.stdin)), ensure_ascii=False))"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], input="\n".join(texts), capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert [d["language"] for d in json.loads(runs[0])] == [r.language for r in here]
    assert [d["confidence"] for d in json.loads(runs[0])] == [r.confidence for r in here]


def test_override_wins() -> None:
    r = detect_item("Қазақстан үкіметі жаңа салық кодексін бекітті", "", declared="kk", override="ru")
    assert r == LanguageResult("ru", 1.0, "Cyrl", False)
    assert detect_item("x", "", override="uz-Cyrl").language == "uz"


def test_item_combines_title_and_summary() -> None:
    title = "Президент"  # alone: too short to tell
    summary = "Президент Казахстана подписал закон о повышении минимальной пенсии с января следующего года."
    assert detect_text(title).uncertain
    r = detect_item(title, summary)
    assert r.language == "ru" and not r.uncertain


def test_declared_language_breaks_ties_but_not_evidence() -> None:
    short = detect_item("Президент", "", declared="ru-RU")
    assert (short.language, short.uncertain) == ("ru", False)
    # a feed that declares "ru" but publishes Kazakh: the letters win
    kk = detect_item("Ұлттық банк базалық мөлшерлемені өзгеріссіз қалдырды", "", declared="ru")
    assert kk.language == "kk"
    # a declaration in another script is ignored
    assert detect_item("Президент", "", declared="en").uncertain
    # agreement raises confidence
    plain = detect_text("Суд освободил лидера оппозиции из-под стражи")
    agreed = detect_item("Суд освободил лидера оппозиции из-под стражи", "", declared="ru")
    assert agreed.confidence > plain.confidence


def test_item_strips_html_and_urls() -> None:
    r = detect_item(
        "Ўзбекистон ҳукумати янги солиқ кодексини тасдиқлади",
        '<p>Батафсил: <a href="https://example.com/news/item?id=1">https://example.com/news/item?id=1</a></p>',
    )
    assert r.language == "uz" and r.script == "Cyrl"


def test_numeric_entities_keep_their_letters_and_bad_unicode_is_survived() -> None:
    # a feed that escapes қ ү ң as numeric character references
    r = detect_item("&#1178;аза&#1179;стан &#1199;кіметі жа&#1187;а сал&#1179;ы&#1179; кодексін бекітті", "")
    assert r.language == "kk"
    assert detect_text("Россия \udc80 и Казахстан подписали соглашение о сотрудничестве").language == "ru"


def test_detect_lines_yields_json_ready_dicts() -> None:
    out = list(detect_lines(["Parliament approves emergency budget after all-night session\n", "\n", "ქარიშხლის გამო ათასობით სახლი დარჩა"]))
    assert [d["language"] for d in out] == ["en", "ka"]
    assert set(out[0]) >= {"text", "language", "confidence", "script"}
    assert out[0]["text"].endswith("session")
    json.dumps(out)


@pytest.mark.parametrize(
    ("code", "norm"), [("ru-RU", "ru"), ("uz-Cyrl-UZ", "uz"), ("zh-Hant", "zh"), ("iw", "he"), ("EN_us", "en"), ("", None), (None, None), ("und", None)]
)
def test_normalize_code(code: str | None, norm: str | None) -> None:
    assert normalize_code(code) == norm


def test_cyrillic_letters_come_only_from_the_cyrillic_block() -> None:
    """The letter counts fold case per character: only U+0400..U+052F lower-case into Cyrillic
    letters, each to one character, so counting ``text`` and folding equals counting ``text.lower()``."""
    from monitor.analysis.language import _CYRL_FOLD

    for cp in range(0x110000):
        lower = chr(cp).lower()
        if 0x0400 <= cp <= 0x052F:
            assert len(lower) == 1
            if "\u0400" <= lower <= "\u052f" and lower.isalpha():
                assert _CYRL_FOLD[chr(cp)][0] == lower
        else:
            assert not any("\u0400" <= ch <= "\u052f" and ch.isalpha() for ch in lower), hex(cp)
