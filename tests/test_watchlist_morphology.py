"""Suffix-aware watchlist matching for the region's languages (monitor/analysis/morphology.py).

Each case compiles a real watchlist file and matches real text: a term in dictionary form
must find its case, plural and possessive forms, and must not find unrelated words that
merely start with it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor import ConfigError
from monitor.analysis.morphology import ending_matches, is_chain, is_joined_affix, stem_alternants
from monitor.analysis.watchlists import MatchInput, Watchlist, load_watchlist
from monitor.analysis.watchlists.engine import Lexicon
from monitor.analysis.watchlists.text import prepare_field


def _wl(tmp_path: Path, body: str, name: str = "t", inflection: str = "suffix") -> Watchlist:
    p = tmp_path / f"{name}.yaml"
    p.write_text(textwrap.dedent(body), encoding="utf-8")
    return load_watchlist(p, Lexicon(inflection=inflection))


def _term_wl(tmp_path: Path, lang: str, term: str, derived: bool = False) -> Watchlist:
    extra = ", derived: true" if derived else ""
    return _wl(tmp_path, f"name: t\nquery: {{term: \"{term}\", lang: {lang}{extra}}}\n")


def _hits(wl: Watchlist, text: str, lang: str) -> list[str]:
    m = wl.match(MatchInput(title=text, summary="", language=lang, feed="f"))
    return [h.text for h in m.hits] if m else []


# (language, dictionary form, text with an inflected form, the form)
FORMS = [
    ("kk", "Тоқаев", "Тоқаевтың сапары басталды", "Тоқаевтың"),
    ("kk", "Қазақстан", "Қазақстанға келді", "Қазақстанға"),
    ("kk", "Мәскеу", "Мәскеудегі шеру", "Мәскеудегі"),
    ("kk", "санкция", "санкцияларының салдары", "санкцияларының"),
    ("kk", "кітап", "жаңа кітабы шықты", "кітабы"),  # к/п -> г/б before a vowel
    ("ky", "Москва", "Москвадагы парад", "Москвадагы"),
    ("ky", "Жапаров", "Жапаровдун сапары", "Жапаровдун"),
    ("uz", "Oʻzbekiston", "Oʻzbekiston'da yangi qonun", "Oʻzbekiston'da"),
    ("uz", "O'zbekiston", "O'zbekistonning banklari", "O'zbekistonning"),
    ("uz", "Ўзбекистон", "Ўзбекистонда янги қонун", "Ўзбекистонда"),
    ("uz", "yillik", "G'alabaning 80 yilligi", "yilligi"),  # k -> g
    ("tk", "Türkmenistan", "Türkmenistanyň Prezidenti", "Türkmenistanyň"),
    ("tk", "Moskwa", "Moskwadaky parad", "Moskwadaky"),
    ("az", "Qazaxıstan", "Qazaxıstanın şirkətləri", "Qazaxıstanın"),
    ("az", "Moskva", "Moskvadakı parad", "Moskvadakı"),
    ("tg", "Тоҷикистон", "Раисҷумҳури Тоҷикистон", "Тоҷикистон"),
    ("tg", "Раисҷумҳур", "Раисҷумҳури Тоҷикистон", "Раисҷумҳури"),  # ezafe
    ("tg", "таҳрим", "таҳримҳои нав", "таҳримҳои"),
    ("hy", "Մոսկվա", "Մոսկվայում կայացավ", "Մոսկվայում"),
    ("hy", "Ղազախստան", "Ղազախստանի ընկերությունները", "Ղազախստանի"),
    ("ka", "საქართველო", "საქართველოში დაბრუნდა", "საქართველოში"),
    ("ka", "პრეზიდენტი", "პრეზიდენტმა განაცხადა", "პრეზიდენტმა"),  # nominative -ი drops
    ("ka", "წითელი", "წითელ მოედანზე", "წითელ"),  # adjective before a noun
    ("uk", "Україна", "уряд України", "України"),
    ("be", "Масква", "у Маскве", "Маскве"),
]


@pytest.mark.parametrize("lang,term,text,form", FORMS, ids=[f"{f[0]}-{f[3]}" for f in FORMS])
def test_dictionary_form_finds_inflected_form(tmp_path, lang, term, text, form):
    assert form in _hits(_term_wl(tmp_path, lang, term), text, lang)


# Short stems and unrelated words that start with a term: never a hit.
GUARDS = [
    ("kk", "ел", "елші келді"),            # "country" is not "ambassador"
    ("kk", "Тоқаев", "Тоқаевизм туралы"),  # not an ending
    ("ky", "Ош", "Ошпозов сүйлөдү"),       # a 2-letter city is exact only
    ("uz", "Osh", "oshxona ochildi"),      # "kitchen"
    ("kk", "шеру", "шерушілер жиналды"),   # no derivation without derived: true
    ("tk", "parad", "paradoks"),
    ("hy", "Իրան", "Իրանահայ"),
    ("ka", "სია", "სიახლე"),               # "list" is not "news"
    ("uk", "Рим", "Римма"),
    ("uz", "Toshkent", "toshkentlik tadbirkor"),  # a demonym needs derived: true
    ("az", "Iran", "Iranian oil"),         # i + a + n: endings never meet vowel to vowel
]


@pytest.mark.parametrize("lang,term,text", GUARDS, ids=[f"{g[0]}-{g[2]}" for g in GUARDS])
def test_short_stems_and_unrelated_words_do_not_match(tmp_path, lang, term, text):
    assert _hits(_term_wl(tmp_path, lang, term), text, lang) == []


def test_a_short_word_takes_endings_only_inside_a_phrase(tmp_path):
    wl = _wl(tmp_path, "name: t\nquery: {any: [{hy: Հաղթանակի օր}, {hy: օր}]}\n")
    assert _hits(wl, "Հաղթանակի օրվա տոնակատարություն", "hy") == ["Հաղթանակի օրվա"]
    assert _hits(wl, "օրվա լուրեր", "hy") == []  # alone, a 2-letter word matches exactly


def test_the_older_prefix_rule_over_matches_where_suffixes_do_not(tmp_path):
    """The false hits the suffix inventories remove: measured in bench_watchlist too."""
    body = "name: t\nquery: {term: Тоқаев, lang: kk}\n"
    old = _wl(tmp_path, body, "old", inflection="prefix")
    new = _wl(tmp_path, body, "new")
    assert _hits(old, "Тоқаевизм туралы", "kk") == ["Тоқаевизм"]
    assert _hits(new, "Тоқаевизм туралы", "kk") == []
    assert _hits(new, "Тоқаевқа хат", "kk") == ["Тоқаевқа"]


DERIVED = [
    ("kk", "Мәскеу", "мәскеулік делегация", "мәскеулік"),
    ("uz", "Toshkent", "toshkentlik tadbirkor", "toshkentlik"),
    ("ky", "Кыргызстан", "кыргызстандык компаниялар", "кыргызстандык"),
    ("tk", "Moskwa", "moskwaly myhmanlar", "moskwaly"),
    ("az", "Moskva", "moskvalı qonaqlar", "moskvalı"),
    ("en", "Kazakhstan", "Kazakhstani exporters", "Kazakhstani"),
    ("ru", "Казахстан", "казахстанские компании", "казахстанские"),
    ("hy", "Ղազախստան", "ղազախստանյան ընկերություն", "ղազախստանյան"),
    ("ka", "ამერიკა", "ამერიკული კომპანია", "ამერიკული"),
]


@pytest.mark.parametrize("lang,term,text,form", DERIVED, ids=[f"{d[0]}-{d[3]}" for d in DERIVED])
def test_derived_true_reaches_adjectives_and_demonyms(tmp_path, lang, term, text, form):
    if lang not in ("en", "hy"):  # there a stemmer (or "up to 3 more letters") already reaches some
        assert _hits(_term_wl(tmp_path, lang, term), text, lang) == []
    assert form in _hits(_term_wl(tmp_path, lang, term, derived=True), text, lang)


def test_derived_on_an_alias_node(tmp_path):
    wl = _wl(tmp_path, """\
        name: t
        aliases:
          moscow: {kk: Мәскеу, uz: Moskva}
        query: {alias: moscow, derived: true}
        """)
    assert _hits(wl, "мәскеулік қонақтар", "kk") == ["мәскеулік"]
    assert _hits(wl, "moskvalik mehmonlar", "uz") == ["moskvalik"]


def test_derived_contradicts_exact(tmp_path):
    with pytest.raises(ConfigError) as e:
        _wl(tmp_path, "name: t\nquery: {term: Moskva, exact: true, derived: true}\n")
    assert "derived" in str(e.value.problems[0])


def test_item_language_lends_its_endings_to_untagged_words(tmp_path):
    wl = _wl(tmp_path, "name: t\nquery: {any: [Путин, Astana]}\n")
    assert _hits(wl, "Путиннің сөзі", "kk") == ["Путиннің"]
    assert _hits(wl, "Astanadagi uchrashuv", "uz") == ["Astanadagi"]
    assert _hits(wl, "Astanadagi uchrashuv", "en") == []  # English lends no such ending


def test_apostrophe_joined_affixes(tmp_path):
    wl = _wl(tmp_path, "name: t\nquery: {any: [Tokayev, {uz: Toshkent}]}\n")
    assert _hits(wl, "Tokayev's visit", "en") == ["Tokayev's"]
    assert _hits(wl, "Toshkent'dagi uchrashuv", "uz") == ["Toshkent'dagi"]


def test_hyphen_joined_affixes_fold_into_numbers_and_abbreviations(tmp_path):
    f = prepare_field("9-го мая в ЕАЭО-ға и 9-may, Kassym-Jomart", "ru")
    assert f.tokens == ["9", "мая", "в", "еаэо", "и", "9", "may", "kassym", "jomart"]
    assert f.text[slice(*f.spans[0])] == "9-го"
    wl = _wl(tmp_path, "name: t\nquery: {any: [\"9 мая\", {term: \"9 may\", lang: uz}, ЕАЭО]}\n")
    assert _hits(wl, "Парад 9-го мая", "ru") == ["9-го мая"]
    assert _hits(wl, "9-may kuni", "uz") == ["9-may"]
    assert _hits(wl, "ЕАЭО-ға мүше", "kk") == ["ЕАЭО-ға"]
    # a term written with the hyphen means the same
    wl2 = _wl(tmp_path, "name: t\nquery: \"9-го мая\"\n", "t2")
    assert _hits(wl2, "9 мая", "ru") == ["9 мая"]


def test_inventory_functions():
    assert is_chain("kk", "ларының") and not is_chain("kk", "изм")
    assert stem_alternants("kk", "кітап") == ("кітаб",)
    assert ending_matches("'da", ()) and not ending_matches("xona", ("uz",))
    assert is_joined_affix("9", "го") and not is_joined_affix("9", "may")
    assert is_joined_affix("ЕАЭО", "ға") and not is_joined_affix("Kassym", "jomart")


# ---- {LANG: text} wherever a term can stand


def test_language_shorthand_where_a_term_stands(tmp_path):
    wl = _wl(tmp_path, """\
        name: tokayev
        query:
          any: [Tokayev, Токаев, {kk: Тоқаев}]
        """)
    assert _hits(wl, "Тоқаевқа хат", "kk") == ["Тоқаевқа"]
    wl = _wl(tmp_path, """\
        name: t
        query:
          all:
            - {kk: [Тоқаев, Toqaev], ky: Токаев}
            - near: {terms: [{kk: Мәскеу}, {kk: шеру}], within: 2}
        """)
    assert _hits(wl, "Тоқаев Мәскеудегі шеруге барады", "kk") == ["Тоқаев", "Мәскеудегі шеруге"]


def test_language_shorthand_errors_are_located(tmp_path):
    with pytest.raises(ConfigError) as e:
        _wl(tmp_path, "name: t\nquery:\n  any: [Tokayev, {kk: 5}]\n")
    p = e.value.problems[0]
    assert p.line == 3 and "query.any[1].kk" in p.key and "expected text" in p.message
    with pytest.raises(ConfigError) as e:
        _wl(tmp_path, "name: t\nquery:\n  any: [Tokayev, {trm: x}]\n")
    assert "unknown key" in str(e.value.problems[0])


# ---- threshold: an item whose query holds is not lost for the wrong reasons


def test_threshold_note_when_the_query_can_hold_under_it(tmp_path):
    body = """\
        name: t
        threshold: {t}
        query:
          all:
            - any: [{{term: sanctions, weight: 2}}, {{term: dual-use, weight: 1.5}}]
            - any: [{{term: Kazakhstan, weight: 1}}]
        """
    strict = _wl(tmp_path, body.format(t=3), "strict")
    notes = strict.threshold_notes()
    assert len(notes) == 1 and "2.5 < threshold 3" in notes[0] and "dual-use + Kazakhstan" in notes[0]
    item = MatchInput(title="Kazakhstan tightens checks", summary="Dual-use goods bound for Russia",
                      language="en", feed="f")
    ex = strict.explain(item)
    assert ex.query_held and not ex.matched
    assert "query held but weights 2.5 < threshold 3" in ex.near_misses[0]
    fixed = _wl(tmp_path, body.format(t=2.5), "fixed")
    assert fixed.threshold_notes() == [] and fixed.match(item) is not None


def test_one_normaliser_serves_story_evidence_too() -> None:
    """story_text's stems come from the same inventories: short words meet their case forms,
    longer ones keep their 5-letter prefix (no over-cutting of "парадына")."""
    from monitor.analysis.morphology import normalize, stem_key
    from monitor.analysis.story_text import story_text

    assert {stem_key("kk", w, 5) for w in ("жолы", "жолда", "жол")} == {"жол"}
    assert stem_key("ky", "парадына", 5) == "парад"
    assert normalize("Oʻzbekiston’da ЁЛКА") == "o'zbekiston'da елка"
    a = story_text("Су тасқыны", "Ауылда су деңгейі көтерілді, жолда көлік тоқтады.", "kk")
    b = story_text("Суға батқан жолы", "Су жолы жабылды.", "kk")
    assert "kk:жол" in a.terms & b.terms
