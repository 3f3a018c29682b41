"""Watchlist query language: schema errors with locations, matching features, shipped watchlists."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from ruamel.yaml import YAML

from monitor import ConfigError, Problem
from monitor.analysis.watchlists import (
    DigestSettings,
    Hit,
    MatchInput,
    Watchlist,
    highlight,
    load_watchlist,
    load_watchlists,
    match_all,
    prepare,
    reload_watchlists,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "watchlists"
SEED = ROOT / "seeds" / "000_71e0985426784b8e.txt"


def write(tmp_path: Path, text: str, name: str = "w.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p


def load(tmp_path: Path, text: str) -> Watchlist:
    return load_watchlist(write(tmp_path, text))


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, text)
    return e.value.problems


def item(title: str, summary: str = "", language: str | None = "en", feed: str = "test",
         **kw: str) -> MatchInput:
    return MatchInput(title=title, summary=summary, language=language, feed=feed, **kw)


def simple(tmp_path: Path, query: str, extra: str = "") -> Watchlist:
    return load(tmp_path, f"name: t\n{extra}query:\n" + textwrap.indent(textwrap.dedent(query), "  "))


# ------------------------------------------------------------------ shipped watchlists


def test_shipped_watchlists_load_cleanly() -> None:
    watchlists, probs = load_watchlists(SHIPPED)
    assert probs == []
    assert sorted(w.name for w in watchlists) == ["central-asia-sanctions", "victory-day-parade"]
    for w in watchlists:
        assert w.title and w.description and w.fingerprint


def test_shipped_watchlists_valid_against_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SHIPPED / "watchlist.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(SHIPPED.glob("*.yaml")):
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        errors = [e.message for e in validator.iter_errors(doc)]
        assert errors == [], path.name


def test_json_schema_and_loader_agree_on_unknown_key(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SHIPPED / "watchlist.schema.json").read_text(encoding="utf-8"))
    text = "name: t\nquery: {any: [Putin], wieght: 2}\n"
    doc = YAML(typ="safe").load(text)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    probs = problems(tmp_path, text)
    assert [(p.key, p.message) for p in probs] == [("query.wieght", "unknown key")]


def test_seed_article_matches_both_shipped_watchlists() -> None:
    watchlists, _ = load_watchlists(SHIPPED)
    seed = item("Central Asian leaders defy US pressure to attend Moscow's Victory Day parade",
                SEED.read_text(encoding="utf-8"))
    matches = match_all(watchlists, seed)
    assert {m.watchlist for m in matches} == {"victory-day-parade", "central-asia-sanctions"}
    parade = next(m for m in matches if m.watchlist == "victory-day-parade")
    terms = {h.term for h in parade.hits}
    assert {"tokayev", "japarov", "rahmon", "lukashenko", "pashinyan", "moscow"} <= terms
    assert any(h.field == "title" for h in parade.hits)


@pytest.mark.parametrize("title,language,expected", [
    ("Тоқаев Мәскеудегі Жеңіс шеруіне қатысады", "kk", "victory-day-parade"),
    ("Жапаров Москвадагы Жеңиш парадына катышат", "ky", "victory-day-parade"),
    ("Mirziyoyev Moskvadagi G'alaba paradida ishtirok etadi", "uz", "victory-day-parade"),
    ("Эмомалӣ Раҳмон дар паради Ғалаба дар Маскав ширкат варзид", "tg", "victory-day-parade"),
    ("Փաշինյանը կմասնակցի Մոսկվայում Հաղթանակի շքերթին", "hy", "victory-day-parade"),
    ("Банки Узбекистана опасаются вторичных санкций", "ru", "central-asia-sanctions"),
    ("Қазақстан банктері қайталама санкциялардан қорқады", "kk", "central-asia-sanctions"),
    # the languages and forms added with the suffix inventories
    ("Əliyev Moskvadakı Qələbə paradında iştirak etməyəcək", "az", "victory-day-parade"),
    ("ტოკაევი მოსკოვში გამარჯვების აღლუმს დაესწრება", "ka", "victory-day-parade"),
    ("Serdar Berdimuhamedow Moskwada Ýeňiş dabarasyna gatnaşar", "tk", "victory-day-parade"),
    ("Лукашэнка прыбыў у Маскву на парад Перамогі", "be", "victory-day-parade"),
    ("Токаєв поїде до Москви на парад 9 травня", "uk", "victory-day-parade"),
    ("Токаев примет участие в параде Победы", "ru", "victory-day-parade"),  # Moscow left unsaid
    ("Tokayev flies to Moscow for 80th anniversary of Soviet victory", "en", "victory-day-parade"),
    ("Kazakhstan tightens controls on dual-use goods bound for Russia", "en", "central-asia-sanctions"),
    ("ევროკავშირმა ყაზახური კომპანიები სანქციების სიაში შეიყვანა", "ka", "central-asia-sanctions"),
    ("Yevropa Ittifoqi o'zbekistonlik firmalarni sanksiyalar ro'yxatiga kiritdi", "uz",
     "central-asia-sanctions"),
    ("Казахстан запретил вывоз беспилотников в Россию", "ru", "central-asia-sanctions"),
])
def test_shipped_watchlists_cover_the_regions_languages(title: str, language: str, expected: str) -> None:
    watchlists, _ = load_watchlists(SHIPPED)
    assert [m.watchlist for m in match_all(watchlists, item(title, language=language))] == [expected]


@pytest.mark.parametrize("title,summary", [
    ("North Korea stages military parade in Pyongyang", "Kim Jong Un watched missiles roll past."),
    ("China holds Victory Day parade in Beijing, Putin attends",
     "Xi Jinping hosted the parade in Tiananmen Square with foreign leaders."),
    ("US imposes new sanctions on Iran's oil exports", "Tankers shipping Iranian crude were listed."),
    ("FIFA sanctions Kazakh club over unpaid transfer fees", "FC Astana may not register players."),
    ("Kazakhstan extends ban on petrol exports by road", "The ban protects the domestic market."),
    ("Рахмон принял парад Победы в Душанбе", "Президент Таджикистана поздравил ветеранов."),
    ("Бишкекте Жеңиш күнүнө карата парад өттү", "Президент Садыр Жапаров Ала-Тоо аянтында парадды кабыл алды."),
    ("Putin and Tokayev discuss gas supplies in phone call", "The Kremlin said transit was discussed."),
])
def test_shipped_watchlists_reject_hard_negatives(title: str, summary: str) -> None:
    watchlists, _ = load_watchlists(SHIPPED)
    assert match_all(watchlists, item(title, summary)) == []


# ------------------------------------------------------------------ matching features


def test_phrase_case_unicode_insensitive(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [Victory Day, ёлка]")
    assert w.match(item("VICTORY DAY in Moscow"))
    assert w.match(item("Ｖｉｃｔｏｒｙ　Ｄａｙ"))  # full-width forms (NFKC)
    assert w.match(item("Новогодняя елка", language="ru"))  # ё = е
    assert w.match(item("Day of Victory")) is None  # a phrase keeps its word order


@pytest.mark.parametrize("title", ["Парад Победы прошёл", "На параде Победы", "Репетиция парада Победы",
                                   "О парадах Победы"])
def test_russian_inflection_by_stemming(tmp_path: Path, title: str) -> None:
    w = simple(tmp_path, 'any: ["парад Победы"]')
    m = w.match(item(title, language="ru"))
    assert m is not None
    assert m.hits[0].text.lower().startswith("парад")


def test_stemming_does_not_turn_words_into_prefixes(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [парад, parade]")
    assert w.match(item("Новая парадигма", language="ru")) is None
    assert w.match(item("A new paradigm", language="en")) is None
    assert w.match(item("Parades across Europe"))


def test_surname_forms_match_by_short_ending(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [Токаев]")
    for form in ("Токаев", "Токаева", "Токаеву", "Токаевым", "Токаеве"):
        assert w.match(item(f"Встреча: {form}", language="ru")), form


def test_languages_without_stemmer_match_by_prefix(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [{term: Тоқаев, lang: kk}, {term: санкция, lang: ky}]")
    m = w.match(item("Тоқаевтың сапары", language="kk"))
    assert m and m.hits[0].text == "Тоқаевтың"
    assert w.match(item("Санкциялардан коркот", language="ky"))
    # An untagged Russian word also matches Kazakh suffixes when the item is Kazakh.
    w2 = simple(tmp_path, "any: [санкция]")
    assert w2.match(item("санкцияларды сақтау", language="kk"))
    assert w2.match(item("санкцияларды сақтау", language="ru")) is None


def test_explicit_prefix(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [sanction*, санкц*]")
    assert w.match(item("Sanctioned firms listed"))
    assert w.match(item("Санкционный список", language="ru"))
    assert w.match(item("Sanity check")) is None


def test_aliases_reused_and_reported_by_name(tmp_path: Path) -> None:
    w = load(tmp_path, """
        name: t
        aliases:
          tokayev: [Tokayev, Токаев, {kk: Тоқаев}]
          parade: {en: parade, ru: парад}
        query:
          all:
            - alias: tokayev
            - alias: parade
        """)
    m = w.match(item("Тоқаев шеруге келді", "Токаев на параде", language="kk"))
    assert m is not None
    assert {h.term for h in m.hits} == {"tokayev", "parade"}
    assert m.why()[0].startswith('"tokayev" in title')
    assert w.match(item("Tokayev in Astana")) is None


def test_proximity_within_and_ordered(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [{near: {terms: [foreign, leaders], within: 2}}]")
    assert w.match(item("foreign heads and leaders"))  # 2 words between
    assert w.match(item("leaders, mostly foreign"))  # any order
    assert w.match(item("foreign ministers met; later, the three leaders")) is None
    w2 = simple(tmp_path, "any: [{near: {terms: [Putin, Tokayev], within: 0, ordered: true}}]")
    assert w2.match(item("Putin Tokayev talks"))
    assert w2.match(item("Tokayev Putin talks")) is None
    # near never joins words of different fields
    assert w2.match(item("Putin", "Tokayev")) is None


def test_regex_per_field(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [{regex: '\\b9\\s+(мая|may)\\b', fields: summary}]")
    m = w.match(item("Parade", "Held on 9 May in Moscow"))
    assert m and m.hits[0].text == "9 May" and m.hits[0].field == "summary"
    assert w.match(item("Held on 9 May", "nothing")) is None


def test_fields_title_only(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [Putin]", extra="fields: title\n")
    assert w.match(item("Putin speaks"))
    assert w.match(item("Speech", "Putin speaks")) is None


def test_weights_and_threshold(tmp_path: Path) -> None:
    w = load(tmp_path, """
        name: t
        threshold: 3
        query:
          any:
            - {term: sanctions, weight: 2}
            - {term: Kazakhstan, weight: 1}
            - {term: football, weight: -2}
        """)
    assert w.match(item("Sanctions")) is None  # 2 < 3
    m = w.match(item("Sanctions", "Kazakhstan"))
    assert m is not None
    assert w.match(item("Sanctions on Kazakhstan football")) is None  # 2 + 1 - 2 < 3
    ex = w.explain(item("Sanctions"))
    assert not ex.matched and ex.weight_sum == 2 and ex.threshold == 3
    assert any("threshold" in n for n in ex.near_misses)


def test_score_ranks_title_hits_and_distinct_terms(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [Putin, Tokayev, parade]")
    in_title = w.match(item("Putin", "text"))
    in_summary = w.match(item("text", "Putin"))
    two_terms = w.match(item("text", "Putin and Tokayev"))
    repeated = w.match(item("text", "Putin, Putin, Putin"))
    assert in_title and in_summary and two_terms and repeated
    assert in_title.score > in_summary.score
    assert two_terms.score > in_summary.score
    assert repeated.score == in_summary.score


def test_filters_feed_language_min_score(tmp_path: Path) -> None:
    w = load(tmp_path, """
        name: t
        query: {any: [Putin]}
        filters:
          feeds: ["Azattyk*", Eurasianet]
          exclude_feeds: ["*sport*"]
          languages: [en, ru]
          min_score: 2
        """)
    assert w.match(item("Putin", feed="Azattyk Kazakh"))
    assert w.match(item("Putin", feed="eurasianet"))  # feed names compare case-insensitively
    assert w.match(item("Putin", feed="Reuters")) is None
    assert w.match(item("Putin", feed="Azattyk sport")) is None
    assert w.match(item("Putin", language="kk", feed="Eurasianet")) is None
    assert w.match(item("news", "Putin", feed="Eurasianet")) is None  # score 1 < min_score 2
    ex = w.explain(item("Putin", feed="Reuters"))
    assert not ex.matched and ex.filtered_out


def test_original_and_translation_reported(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [Victory Day, Токаев]")
    m = w.match(item("Токаев на параде", "", language="ru",
                     title_translated="Tokayev at the Victory Day parade"))
    assert m is not None
    assert {h.field for h in m.hits} == {"title", "title_translated"}
    assert '"Victory Day" in title (translation)' in m.why()
    assert '"Токаев" in title (original)' in m.why()


def test_not_nesting_and_explain(tmp_path: Path) -> None:
    w = load(tmp_path, """
        name: t
        query:
          all: [parade, {any: [Putin, Tokayev]}]
          not:
            - all:
                - Beijing
                - not: Moscow
        """)
    assert w.match(item("Parade with Putin in Moscow and Beijing"))
    assert w.match(item("Parade with Putin in Beijing")) is None
    ex = w.explain(item("Parade with Putin in Beijing"))
    assert not ex.matched
    assert any(n.startswith("excluded by not") for n in ex.near_misses)
    ex2 = w.explain(item("Parade in Moscow"))
    assert any("failed: any" in n for n in ex2.near_misses), ex2.near_misses
    assert any(line.lstrip().startswith("✗ any") for line in ex2.trace)
    assert ex2.lines()[0].startswith("t: no match")


def test_any_min(tmp_path: Path) -> None:
    w = simple(tmp_path, "{any: [Kazakhstan, Kyrgyzstan, Uzbekistan], min: 2}")
    assert w.match(item("Kazakhstan and Uzbekistan"))
    assert w.match(item("Kazakhstan alone")) is None


def test_exact_terms_do_not_inflect(tmp_path: Path) -> None:
    w = simple(tmp_path, "any: [{term: CIS, exact: true}]")
    assert w.match(item("CIS summit"))
    assert w.match(item("CISCO results")) is None


def test_highlight_marks_hits() -> None:
    title = "Токаев на параде Победы"
    hits = [Hit("tokayev", "title", "Токаев", 0, 6), Hit("parade", "title", "параде Победы", 10, 23),
            Hit("x", "summary", "zz", 0, 2)]
    assert highlight(title, hits, field="title") == "**Токаев** на **параде Победы**"
    assert highlight("abc def", [(0, 3), (2, 7)], before="[", after="]") == "[abc def]"


def test_highlight_with_real_match(tmp_path: Path) -> None:
    w = simple(tmp_path, 'any: ["парад Победы", Токаев]')
    it = item("Токаева ждут на параде Победы", language="ru")
    m = w.match(it)
    assert m is not None
    assert highlight(it.title, m.hits, field="title") == "**Токаева** ждут на **параде Победы**"


def test_prepared_item_shared_across_watchlists(tmp_path: Path) -> None:
    a = write(tmp_path, "name: a\nquery: {any: [Putin]}\n", "a.yaml")
    b = write(tmp_path, "name: b\nquery: {any: [Tokayev]}\n", "b.yaml")
    watchlists, probs = load_watchlists(tmp_path)
    assert probs == [] and a.exists() and b.exists()
    p = prepare(item("Putin meets Tokayev"))
    assert [w.match(p) is not None for w in watchlists] == [True, True]
    assert watchlists[0].lexicon is watchlists[1].lexicon


def test_digest_settings(tmp_path: Path) -> None:
    w = load(tmp_path, """
        name: t
        query: {any: [Putin]}
        digest:
          schedule: "30 6 * * 1-5"
          timezone: Asia/Almaty
          formats: [markdown, email, webhook]
          recipients: [desk@example.org]
          mode: immediate
          quiet_hours: ["22:00", "07:00"]
          heartbeat: true
          webhook: https://hooks.example.org/x
        """)
    assert w.digest == DigestSettings("30 6 * * 1-5", "Asia/Almaty", ("markdown", "email", "webhook"),
                                      ("desk@example.org",), "immediate", ("22:00", "07:00"), True,
                                      "https://hooks.example.org/x")
    assert simple(tmp_path, "any: [x]").digest == DigestSettings()


# ------------------------------------------------------------------ errors with locations


def where(p: Problem) -> tuple[int | None, int | None, str]:
    return p.line, p.column, p.key


def test_unknown_keys_everywhere_reported_at_once(tmp_path: Path) -> None:
    probs = problems(tmp_path, """
        name: t
        titel: x
        query:
          any:
            - {term: Putin, wieght: 2}
        filters:
          language: [ru]
        digest:
          formats: [markdown]
          shedule: "0 7 * * *"
        """)
    assert [where(p) for p in probs] == [
        (2, 1, "titel"), (5, 21, "query.any[0].wieght"), (7, 3, "filters.language"), (10, 3, "digest.shedule"),
    ]
    assert "did you mean 'title'?" in probs[0].hint
    assert "did you mean 'weight'?" in probs[1].hint
    assert str(probs[0]).startswith(f"{probs[0].file}:2:1: titel: unknown key")


def test_missing_required_keys(tmp_path: Path) -> None:
    probs = problems(tmp_path, "title: Only a title\n")
    assert {(p.key, p.message) for p in probs} == {("name", "missing required key"),
                                                    ("query", "missing required key")}


@pytest.mark.parametrize("query,at,key,needle", [
    ("any: [Putin, {regex: '(unclosed'}]", "'(unclosed'", "query.any[1].regex", "broken regular expression"),
    ("any: [{regex: 'x*'}]", "'x*'", "query.any[0].regex", "matches empty text"),
    ("any: [{alias: tokaev}]", "tokaev", "query.any[0].alias", "undefined alias"),
    ("any: [sa*]", "sa*", "query.any[0]", "too short"),
    ("any: [san*ction]", "san*ction", "query.any[0]", "wildcard inside a word"),
    ("[Putin, Tokayev]", "[Putin", "query", "bare list"),
    ("{any: [Putin], term: x}", "{any", "query", "mixes"),
    ("any: Putin", "Putin", "query.any", "expected a list"),
    ("any: []", "[]", "query.any", "empty list"),
    ("any: [{term: Putin, weight: 0}]", "0}", "query.any[0].weight", "out of range"),
    ("any: [{term: Putin, weight: heavy}]", "heavy", "query.any[0].weight", "expected a number"),
    ("any: [{term: Putin, lang: russian}]", "russian", "query.any[0].lang", "unknown language code"),
    ("any: [{near: {terms: [Putin]}}]", "[Putin]", "query.any[0].near.terms", "at least two terms"),
    ("any: [{near: {terms: [Putin, {any: [a, b]}]}}]", "{any", "query.any[0].near.terms[1]", "terms and aliases"),
    ("{all: [Putin], min: 2}", "min", "query.min", "min only applies"),
    ("any: [{term: Putin, fields: body}]", "body", "query.any[0].fields", "unknown field choice"),
    ("any: ['!!!']", "'!!!'", "query.any[0]", "no words"),
])
def test_query_errors_located(tmp_path: Path, query: str, at: str, key: str, needle: str) -> None:
    probs = problems(tmp_path, f"name: t\nquery:\n  {query}\naliases: {{tokayev: [Tokayev]}}\n")
    assert len(probs) == 1, probs
    p = probs[0]
    # line 3 is the query line; the column is where the offending text starts
    assert (p.line, p.column, p.key) == (3, 3 + query.index(at), key), str(p)
    assert needle in p.message
    assert p.hint
    assert str(p).startswith(f"{p.file}:3:{p.column}: {key}: ")


@pytest.mark.parametrize("digest,key,needle", [
    ("schedule: '61 7 * * *'", "digest.schedule", "invalid cron expression"),
    ("schedule: 'every day'", "digest.schedule", "invalid cron expression"),
    ("timezone: Europe/Moskow", "digest.timezone", "unknown time zone"),
    ("formats: [markdown, pdf]", "digest.formats", "unknown format"),
    ("formats: [email]", "digest.formats", "needs recipients"),
    ("{formats: [markdown], recipients: [not-an-address]}", "digest.recipients", "not an e-mail"),
    ("mode: sometimes", "digest.mode", "unknown mode"),
    ("quiet_hours: ['22:00']", "digest.quiet_hours", "two HH:MM"),
    ("quiet_hours: ['25:00', '07:00']", "digest.quiet_hours", "two HH:MM"),
    ("heartbeat: sometimes", "digest.heartbeat", "true or false"),
    ("webhook: ftp://x", "digest.webhook", "http(s) URL"),
    ("formats: [webhook]", "digest.formats", "needs a webhook URL"),
])
def test_digest_errors(tmp_path: Path, digest: str, key: str, needle: str) -> None:
    probs = problems(tmp_path, f"name: t\nquery: {{any: [Putin]}}\ndigest: {digest if digest.startswith('{') else '{' + digest + '}'}\n")
    assert [p.key for p in probs] == [key], probs
    assert needle in probs[0].message
    assert probs[0].line == 3 and probs[0].column is not None


def test_timezone_hint_suggests_close_name(tmp_path: Path) -> None:
    probs = problems(tmp_path, "name: t\nquery: {any: [x]}\ndigest:\n  timezone: Europe/Moskow\n")
    assert (probs[0].line, probs[0].column) == (4, 13)
    assert "Europe/Moscow" in probs[0].hint


def test_yaml_syntax_error_located(tmp_path: Path) -> None:
    probs = problems(tmp_path, "name: t\nquery:\n  any: [Putin\n  all: [x]\n")
    assert len(probs) == 1 and probs[0].line is not None and probs[0].column is not None
    assert "YAML syntax" in probs[0].message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    probs = problems(tmp_path, "name: t\nname: u\nquery: {any: [x]}\n")
    assert probs[0].line == 2 and "duplicate" in probs[0].message


def test_invalid_name_and_alias_and_language_codes(tmp_path: Path) -> None:
    probs = problems(tmp_path, """
        name: Victory Day!
        aliases:
          Bad Name: [x]
          ok: {russian: [y]}
        query: {any: [x]}
        filters: {languages: [english]}
        """)
    assert [where(p) for p in probs] == [
        (1, 7, "name"), (3, 3, "aliases.Bad Name"), (4, 8, "aliases.ok.russian"), (6, 23, "filters.languages"),
    ]


def test_not_a_mapping(tmp_path: Path) -> None:
    probs = problems(tmp_path, "- just\n- a list\n")
    assert probs[0].line == 1 and "mapping" in probs[0].message


def test_load_watchlists_reports_problems_and_keeps_valid(tmp_path: Path) -> None:
    write(tmp_path, "name: good\nquery: {any: [Putin]}\n", "a.yaml")
    write(tmp_path, "name: good\nquery: {any: [Tokayev]}\n", "b.yaml")
    write(tmp_path, "name: broken\nquery: {any: [{regex: '['}]}\n", "c.yml")
    watchlists, probs = load_watchlists(tmp_path)
    assert [w.name for w in watchlists] == ["good"]
    assert watchlists[0].path.name == "a.yaml"
    assert sorted((Path(p.file).name, p.key) for p in probs) == [("b.yaml", "name"), ("c.yml", "query.any[0].regex")]
    dup = next(p for p in probs if p.key == "name")
    assert (dup.line, dup.column) == (1, 7) and "duplicate" in dup.message
    _, missing = load_watchlists(tmp_path / "nope")
    assert missing and "not found" in missing[0].message


def test_reload_keeps_last_good_version_of_a_broken_edit(tmp_path: Path) -> None:
    a = write(tmp_path, "name: a\nquery: {any: [Putin]}\n", "a.yaml")
    b = write(tmp_path, "name: b\nquery: {any: [Tokayev]}\n", "b.yaml")
    first, probs = load_watchlists(tmp_path)
    assert probs == []
    # a is edited correctly, b is broken, a new c appears
    a.write_text("name: a\nquery: {any: [Japarov]}\n", encoding="utf-8")
    b.write_text("name: b\nquery: {any: [Tokayev], oops: 1}\n", encoding="utf-8")
    write(tmp_path, "name: c\nquery: {any: [Rahmon]}\n", "c.yaml")
    r = reload_watchlists(tmp_path, first)
    assert [w.name for w in r.watchlists] == ["a", "b", "c"]
    assert r.changed == ("a", "c") and r.kept == ("b",) and r.removed == ()
    assert [p.key for p in r.problems] == ["query.oops"]
    by_name = {w.name: w for w in r.watchlists}
    assert by_name["a"].match(item("Japarov")) and by_name["a"].match(item("Putin")) is None
    assert by_name["b"].match(item("Tokayev"))  # the last good version still works
    # removing a file removes its watchlist; an unchanged reload changes nothing
    (tmp_path / "c.yaml").unlink()
    r2 = reload_watchlists(tmp_path, r.watchlists)
    assert [w.name for w in r2.watchlists] == ["a", "b"] and r2.removed == ("c",) and r2.changed == ()


def test_explanation_why_and_missing(tmp_path: Path) -> None:
    w = load(tmp_path, "name: t\nquery: {all: [parade, Putin]}\nfilters: {languages: [ru]}\n")
    ex = w.explain(item("Parade in Moscow", "Putin", title_translated="Parade in Moscow"))
    assert not ex.matched
    assert ex.why() == ['"parade" in title (original), title (translation)', '"Putin" in summary (original)']
    assert ex.missing() == ["filtered out: language 'en' not in filters.languages"]


def test_explain_shows_partial_hits_of_a_near_miss(tmp_path: Path) -> None:
    w = simple(tmp_path, "all: [parade, {any: [Tokayev, Japarov]}]\nnot: [Beijing]")
    ex = w.explain(item("Parade in Beijing", "Tokayev attends"))
    assert not ex.matched
    assert {h.term for h in ex.hits} == {"parade", "Tokayev"}  # Beijing (under not) is no hit
    assert ex.score == 3.0 and w.match(item("Parade in Beijing", "Tokayev attends")) is None


# ------------------------------------------------------------------ properties

_WORDS = st.sampled_from(["Putin", "Токаев", "Токаева", "парад", "параде", "Победы", "victory", "day",
                          "Тоқаевтың", "sanctions", "the", "и", "в", "Moscow", "Москве", "leaders"])
_TEXT = st.lists(_WORDS, max_size=12).map(" ".join)


@pytest.fixture(scope="module")
def prop_watchlist(tmp_path_factory: pytest.TempPathFactory) -> Watchlist:
    d = tmp_path_factory.mktemp("prop")
    return load_watchlist(write(d, """
        name: prop
        aliases:
          tokayev: [Tokayev, Токаев, {kk: Тоқаев}]
        query:
          any:
            - {alias: tokayev}
            - "парад Победы"
            - {near: {terms: [victory, day], within: 1}}
            - {regex: 'mos\\w+'}
        """))


@settings(max_examples=60, deadline=None)
@given(title=_TEXT, summary=_TEXT)
def test_matching_ignores_case_and_highlight_keeps_text(prop_watchlist: Watchlist, title: str,
                                                        summary: str) -> None:
    m = prop_watchlist.match(item(title, summary, language="ru"))
    upper = prop_watchlist.match(item(title.upper(), summary.upper(), language="ru"))
    assert (m is None) == (upper is None)
    if m is not None and upper is not None:
        assert m.score == upper.score
        assert [(h.term, h.field, h.start, h.end) for h in m.hits] == \
               [(h.term, h.field, h.start, h.end) for h in upper.hits]
        for h in m.hits:
            text = title if h.field == "title" else summary
            assert text[h.start:h.end] == h.text
        marked = highlight(title, m.hits, field="title", before="\x01", after="\x02")
        assert marked.replace("\x01", "").replace("\x02", "") == title


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_watchlist(tmp_path / "missing.yaml")
    assert "cannot read" in e.value.problems[0].message
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: t\nquery: {any: [Caf\xe9]}\n".encode("latin-1"))
    with pytest.raises(ConfigError) as e:
        load_watchlist(bad)
    assert "UTF-8" in e.value.problems[0].message and e.value.problems[0].hint
