"""Story evidence (monitor.analysis.story_text) and the story decision (monitor.analysis.story) on real SQLite."""

from __future__ import annotations

import pytest

from monitor.analysis.story import DAY, StoryIndex, StorySettings, compare
from monitor.analysis.story_text import PLACE, story_text
from monitor.config import ConfigError, load_config
from monitor.store import open_store


def test_case_forms_share_a_stem_prefix_without_a_stemmer():
    a = story_text("Референдум өтті", "Сайлаушылар атом стансасын салуды қолдады.", "kk")
    b = story_text("Референдумда шешім қабылданды", "Атом стансасының құрылысы қолдау тапты.", "kk")
    assert {"kk:рефер", "kk:станс"} <= a.terms & b.terms


def test_uzbek_cyrillic_and_latin_agree():
    lat = story_text("Gaz narxi oshiriladi", "Energetika vazirligi gaz narxi 1500 so'mgacha oshirilishini aytdi.", "uz")
    cyr = story_text("Газ нархи оширилади", "Энергетика вазирлиги газ нархи 1500 сўмгача оширилишини айтди.", "uz")
    assert len(lat.terms & cyr.terms) >= 3 and lat.numbers & cyr.numbers == {"1500"}


def test_boilerplate_datelines_and_function_words_are_not_evidence():
    t = story_text("Парад состоялся", "АСТАНА, 6 мая. В столице прошёл парад. Подписывайтесь на наш Telegram-канал.",
                   "ru")
    assert not any("подпис" in x or "telegram" in x for x in t.terms)
    assert "5-6" not in t.dates  # the dateline's date is when it was filed, not the event
    assert not {"ru:в", "ru:на"} & t.terms


def test_names_countries_and_places():
    t = story_text("Tokayev flies to Moscow", "Kazakh President Kassym-Jomart Tokayev met Russian officials in "
                   "Moscow. Kazakhstan and Russia signed a deal.", "en")
    assert "tkv" in t.names and PLACE + "mscv" in t.names
    assert not any(n.startswith(("kz", "rs")) for n in t.actors)  # countries are never actors
    assert "tkv" in t.actors and PLACE + "mscv" not in t.actors


@pytest.mark.parametrize("lang,text,date", [
    ("en", "The summit opens on May 9 in Minsk.", "5-9"),
    ("ru", "Саммит пройдёт 9 мая в Минске.", "5-9"),
    ("ky", "Курултай 15-февралда өтөт.", "2-15"),
    ("az", "Əliyev aprelin 23-də səfər edəcək.", "4-23"),
    ("tk", "Sammit 12-nji awgustda geçiriler.", "8-12"),
    ("uz", "Saylov 24-oktabr kuni bo'lib o'tdi.", "10-24"),
    ("hy", "Այցը տեղի կունենա ապրիլի 16-ին։", "4-16"),
])
def test_dates_in_region_languages(lang, text, date):
    assert date in story_text("x", text, lang).dates


@pytest.mark.parametrize("lang,before,after", [
    ("en", "Pashinyan will attend the summit in Minsk", "Pashinyan will not attend the summit in Minsk"),
    ("ru", "Токаев поедет на саммит в Минске", "Токаев не поедет на саммит в Минске"),
    ("kk", "Тоқаев Мәскеуге барады", "Тоқаев Мәскеуге бармайды"),
    ("ky", "Саммит 26-июлда өтөт", "Саммит кийинкиге калтырылды"),
    ("uz", "Forum iyunda o'tadi", "Forum kuzga qoldirildi"),
    ("tg", "Конфронс баргузор мешавад", "Конфронс ба таъхир гузошта шуд"),
    ("hy", "Փաշինյանը կմասնակցի գագաթնաժողովին", "Փաշինյանը չի մասնակցի գագաթնաժողովին"),
    ("ka", "ფესტივალი გაიხსნება", "ფესტივალი გადაიდო"),
    ("tk", "Sammit geçiriler", "Sammit yza süýşürildi"),
    ("az", "Reyslər bərpa ediləcək", "Reyslərin bərpası təxirə salınıb"),
    ("be", "Форум пройдзе ў Віцебску", "Форум перанесены на восень"),
    ("uk", "Саміт відбудеться в Києві", "Саміт скасовано"),
])
def test_change_cues(lang, before, after):
    assert not story_text(before, "", lang).cues
    assert story_text(after, "", lang).cues


ANNOUNCE = ("Pashinyan to attend CSTO summit in Minsk", "Armenian Prime Minister Nikol Pashinyan will travel to "
            "Minsk on November 28 for the summit of the Collective Security Treaty Organization, his office said.")
SECOND = ("Armenian leader heads to CSTO summit", "Nikol Pashinyan will take part in the Collective Security "
          "Treaty Organization summit in Minsk on November 28, the government said.")
REVERSAL = ("Pashinyan will not attend CSTO summit", "Nikol Pashinyan will not go to the Collective Security "
            "Treaty Organization summit in Minsk on November 28, his office said, cancelling the trip.")


def test_two_outlets_one_event_is_one_story_and_a_reversal_is_an_update():
    a, b, r = (story_text(t, s, "en") for t, s in (ANNOUNCE, SECOND, REVERSAL))
    assert compare(b, a, 3 * 3600).outcome == "same"
    v = compare(r, a, 4 * DAY)  # beyond the window, but it names the date of the event it changes
    assert v.outcome == "update", v


def test_same_actors_other_year_or_far_apart_are_different():
    a = story_text("Tokayev wins election with 81%", "Kassym-Jomart Tokayev won the 2022 presidential election "
                   "with 81.3% of the vote, the election commission said.", "en")
    b = story_text("Tokayev wins election with 70.8%", "Kassym-Jomart Tokayev won the 2019 presidential election "
                   "with 70.8% of the vote, the election commission said.", "en")
    assert compare(a, b, 1200 * DAY).outcome == "different"
    same_text = story_text(ANNOUNCE[0], ANNOUNCE[1].replace("November 28", "the summit"), "en")
    other = story_text("Pashinyan to attend EAEU summit", "Nikol Pashinyan will travel to Minsk for the summit "
                       "of the Eurasian Economic Union, his office said.", "en")
    assert compare(other, same_text, 40 * DAY).outcome == "different"  # beyond the window: no near-copy


def test_shared_names_alone_never_merge():
    a = story_text("Peskov: Putin will go to the SCO summit", "Dmitry Peskov said Vladimir Putin would attend "
                   "the summit of the Shanghai Cooperation Organisation in Tianjin.", "en")
    b = story_text("Peskov: no Putin-Zelensky meeting planned", "Dmitry Peskov said Vladimir Putin had no plans "
                   "to meet Volodymyr Zelensky.", "en")
    assert compare(b, a, DAY).outcome == "different"


def test_index_finds_the_window_and_decides(tmp_path):
    conn = open_store(tmp_path / "s.db")
    idx = StoryIndex(conn, StorySettings(window=3 * DAY))
    t0 = 1_750_000_000.0
    idx.add(1, 1, t0, story_text(*ANNOUNCE, "en"))
    d = idx.decide(story_text(*SECOND, "en"), t0 + 3600)
    assert (d.outcome, d.item_id, d.story_id) == ("story", 1, 1)
    assert idx.decide(story_text(*SECOND, "en"), t0 + 30 * DAY).outcome == "new_story"
    d = idx.decide(story_text(*REVERSAL, "en"), t0 + 4 * DAY)
    assert d.outcome == "update" and d.story_id == 1
    assert idx.evidence_of(1) is not None and idx.evidence_of(2) is None
    conn.close()


def test_story_window_config_key(tmp_path):
    base = "database: s.db\nwatchlists: w\nseeds: s\nfeeds: []\n"
    (tmp_path / "config.yaml").write_text(base + "dedup:\n  story_window: 2d\n", encoding="utf-8")
    assert load_config(tmp_path / "config.yaml", check_dirs=False).dedup.story_window == 2 * DAY
    (tmp_path / "config.yaml").write_text(base, encoding="utf-8")
    assert load_config(tmp_path / "config.yaml", check_dirs=False).dedup.story_window == 3 * DAY
    (tmp_path / "config.yaml").write_text(base + "dedup:\n  story_window: soon\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="story_window"):
        load_config(tmp_path / "config.yaml", check_dirs=False)


def test_empty_unknown_language_and_odd_text_do_not_break():
    empty = story_text("", "", None)
    assert not empty.terms and not empty.names and compare(empty, empty, 0).outcome == "different"
    odd = story_text("\x00\u202e ALL CAPS HEADLINE —", "- - — 12-13 ... ' ’ 9-й 31.12.2025 \u200b" * 50, "xx")
    assert odd.language == "xx"
    assert compare(odd, odd, 0).outcome in ("same", "different")


def test_names_meet_across_scripts_armenian_georgian_and_h() -> None:
    """A name is one skeleton in every script: Armenian and Georgian spelt in Latin, h dropped."""
    hy = story_text("Փաշինյանը և Ալիևը հանդիպեցին", "Նիկոլ Փաշինյանը և Իլհամ Ալիևը հանդիպեցին Աբու Դաբիում։", "hy")
    en = story_text("Pashinyan and Aliyev meet", "Nikol Pashinyan and Ilham Aliyev met in Abu Dhabi.", "en")
    assert {"nkl", "_lm"} <= hy.actors & en.actors
    tg = story_text("Эмомалӣ Раҳмон ба Маскав рафт", "Президент Эмомалӣ Раҳмон ба Маскав рафт.", "tg")
    ru = story_text("Эмомали Рахмон прилетел в Москву", "Президент Эмомали Рахмон прилетел в Москву.", "ru")
    assert tg.actors & ru.actors >= {"_ml", "rmn"}


def test_across_languages_the_same_people_within_hours_are_one_story() -> None:
    """No term is shared across languages: three name parts in common, within 12 hours, are."""
    kk = story_text("Тоқаев пен Жапаров Астанада кездесті",
                    "Қасым-Жомарт Тоқаев Садыр Жапаровпен шекарадағы кеден бекеттерін талқылады.", "kk")
    en = story_text("Tokayev, Japarov discuss border posts", "Kassym-Jomart Tokayev and Sadyr Japarov met in "
                    "Astana and agreed to open two more customs posts.", "en")
    assert compare(en, kk, 3 * 3600).outcome == "same"
    assert compare(en, kk, 30 * 3600).outcome == "different"  # the same people a day later: another event
    one = story_text("Tokayev opens a bridge", "President Tokayev opened a bridge over the Ili river.", "en")
    assert compare(one, kk, 3600).outcome == "different"  # one person in common is not an event


def test_evidence_is_written_in_batches_and_a_rolled_back_batch_is_forgotten(tmp_path):
    """add() holds evidence until flush() (the ingest writes it with the batch's items); lookups
    see it before; a discarded batch never reaches the store, the next flush writes only the next."""
    st = open_store(tmp_path / "s.db")
    idx = StoryIndex(st, StorySettings(window=3 * DAY))
    t0 = 1_750_000_000.0
    idx.add(1, 1, t0, story_text(*ANNOUNCE, "en"))
    assert st.story.get(1) is None  # not written yet
    assert idx.evidence_of(1) is not None  # but known
    assert idx.decide(story_text(*SECOND, "en"), t0 + 3600).item_id == 1
    idx.flush()
    assert st.story.get(1) is not None
    idx.add(2, 2, t0 + 7200, story_text(*SECOND, "en"))
    idx.discard()  # the caller's transaction was rolled back
    idx.add(3, 1, t0 + 7300, story_text(*SECOND, "en"))
    idx.flush()
    assert st.story.get(2) is None and st.story.get(3) is not None
    assert st.story.term_counts([""], int(t0 // DAY) - 1, int(t0 // DAY) + 1) == {"": 2}
    # a lookup that reaches before the window asks the store: it writes what it holds first
    idx.add(4, 4, t0 + 7400, story_text(*REVERSAL, "en"))
    idx.decide(story_text(*SECOND, "en"), t0 - 60 * DAY)
    assert st.story.get(4) is not None
    st.close()


def test_decoded_evidence_is_bounded_and_keeps_the_most_recently_used(tmp_path, monkeypatch):
    """The evidence cache holds at most DECODED_MAX items; the ones compared lately stay, and an
    evicted one is read back from the store with the same decision."""
    from monitor.analysis import story

    monkeypatch.setattr(story, "DECODED_MAX", 3)
    conn = open_store(tmp_path / "s.db")
    idx = StoryIndex(conn, StorySettings(window=3 * DAY))
    t0 = 1_750_000_000.0
    idx.add(1, 1, t0, story_text(*ANNOUNCE, "en"))
    others = [("Flood closes the mountain road to Khorog", "Rescuers worked overnight to clear mudslides."),
              ("Central bank raises its key rate to 21 percent", "Inflation stayed above the target in October."),
              ("Wrestler wins gold at the Asian championship", "The final in Amman lasted four minutes."),
              ("Wheat harvest falls short after a dry summer", "Farmers in the north report losses.")]
    for i, (title, lead) in enumerate(others, 2):  # other events of the same hours
        idx.add(i, i, t0 + i, story_text(title, lead, "en"))
        idx._recall(1)  # item 1 keeps being compared
    assert len(idx._decoded) == 3 and 1 in idx._decoded and 2 not in idx._decoded
    idx.flush()
    d = idx.decide(story_text("Mudslides close the road to Khorog", "Rescuers clear the mountain road overnight.", "en"),
                   t0 + 60)
    assert (d.outcome, d.item_id) == ("story", 2)  # read back from the store
    assert 2 in idx._decoded and len(idx._decoded) == 3
    conn.close()
