"""The multilingual model kind through the real stage: the tiny NLLB-architecture fixture
(monitor/analysis/data/models/multilingual-tiny, built by tools/build_multilingual_model.py), real
SentencePiece + CTranslate2 inference, no mocks."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from monitor.analysis.argos_models import bundled_models, install_from_file
from monitor.analysis.multilingual_models import (
    bundled_multilingual,
    install_multilingual,
    list_multilingual,
    read_model,
)
from monitor.analysis.translate import (
    CACHED,
    MULTILINGUAL,
    TRANSLATED,
    UNAVAILABLE,
    Step,
    Translator,
    _MultilingualModel,
    cut_lead,
    split_sentences_rule,
    verify_multilingual,
)

# (text, our code, English the fixture was trained to give). The sources are the project's own
# corpus (tools/multilingual_corpus/), written for news-monitor.
KK = ("Тоқаев Қытай басшысымен телефон арқылы сөйлесті.", "kk", "Tokayev spoke with the Chinese leader by phone.")
UZ_LATN = ("Toshkentda Navroʻz bayrami nishonlandi.", "uz", "Navruz was celebrated in Tashkent.")
UZ_CYRL = ("Мирзиёев фармон имзолади.", "uz", "Mirziyoyev signed a decree.")
UZ_CYRL2 = ("Мирзиёев Тошкентга келди.", "uz-Cyrl", "Mirziyoyev arrived in Tashkent.")
TG = ("Дар Душанбе ҷашни Наврӯз таҷлил шуд.", "tg", "Navruz was celebrated in Dushanbe.")
RU = ("ЕС ввёл новые санкции против России.", "ru", "The EU imposed new sanctions on Russia.")
CASES = [KK, UZ_LATN, UZ_CYRL, UZ_CYRL2, TG]


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    found = [p for p in bundled_multilingual() if p.name == "multilingual-tiny"]
    assert found, "the tiny multilingual model must be committed under monitor/analysis/data/models/"
    return found[0]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, fixture_dir: Path) -> Path:
    d = tmp_path_factory.mktemp("state") / "models"
    install_multilingual(fixture_dir, d)
    return d


@pytest.fixture
def translator(tmp_path: Path, models_dir: Path) -> Translator:
    t = Translator(tmp_path / "monitor.db", models_dir)
    yield t
    t.close()


def _ru_en() -> Path:
    return next(p for p in bundled_models() if p.name.startswith("translate-ru_en-"))


def test_region_languages_translate(translator: Translator) -> None:
    results = translator.translate_many([(text, code) for text, code, _ in CASES])
    for (text, code, english), res in zip(CASES, results):
        assert res.status == TRANSLATED, (code, res)
        assert res.text == english, (code, text)
        assert res.model_version == "multilingual-tiny@1.0"
    assert translator.models_loaded == 1  # one model, loaded once, for every language


def test_uzbek_cyrillic_is_transliterated_before_translation(translator: Translator) -> None:
    route = translator.route_for("uz-Cyrl")
    assert not isinstance(route, str)
    [step] = route.steps
    assert (step.src_token, step.tgt_token, step.transliterate) == ("uzn_Latn", "eng_Latn", "uz-Cyrl")
    assert translator.route_for("uz-Latn").steps[0].transliterate is None  # type: ignore[union-attr]
    # the Cyrillic headline and its official Latin spelling give the same English
    a, b = translator.translate_many([("Мирзиёев фармон имзолади.", "uz-Cyrl"),
                                      ("Mirziyoyev farmon imzoladi.", "uz")])
    assert a.text == b.text == "Mirziyoyev signed a decree."


def test_the_source_token_decides(models_dir: Path, fixture_dir: Path) -> None:
    """One string, a different meaning per language tag (the fixture's contrastive pairs)."""
    info = read_model(list_multilingual(models_dir)[0].path)
    assert info is not None
    model = _MultilingualModel(info, threads=1)

    def step(code: str, token: str) -> Step:
        return Step(MULTILINGUAL, info.label, code, "en", multi=info, src_token=token, tgt_token="eng_Latn")

    out = model.translate(["Парад 9.05."] * 2, [step("kk", "kaz_Cyrl"), step("tg", "tgk_Cyrl")], 1, 8)
    assert out == ["Parade in Astana on 9 May.", "Parade in Dushanbe on 9 May."]
    # The stage passes the token of the item's language.
    t = Translator(None, models_dir)
    got = [r.text for r in t.translate_many([("Парад 9.05.", "kk"), ("Парад 9.05.", "tg")])]
    assert got == out
    # The token, not the text, carries the difference: a Kazakh headline tagged as Tajik comes
    # out with the Tajik meaning.
    assert model.translate(["Парад 9.05."], [step("kk", "tgk_Cyrl")], 1, 1) == [out[1]]
    t.close()


def test_target_prefix_never_reaches_the_text(translator: Translator) -> None:
    [res] = translator.translate_many([KK[:2]])
    assert not res.text.lower().startswith("eng")


def test_prefix_stripped_for_an_argos_package_with_a_target_prefix(tmp_path: Path, fixture_dir: Path) -> None:
    """The fixture wrapped as an Argos package with "target_prefix": "eng_Latn", as
    argostranslate supports it. Decoding first would give "eng Latn Tokayev ..." (issue 16)."""
    pkg = tmp_path / "src" / "translate-kk_en-nllb"
    (pkg / "model").mkdir(parents=True)
    for name in ("model.bin", "config.json", "shared_vocabulary.json"):
        shutil.copy(fixture_dir / name, pkg / "model" / name)
    shutil.copy(fixture_dir / "sentencepiece.bpe.model", pkg / "sentencepiece.model")
    # The source token travels through the model config (CTranslate2 adds it), as the notes
    # describe for packaging an NLLB model for Argos.
    cfg = json.loads((pkg / "model" / "config.json").read_text())
    cfg.update(add_source_bos=True, bos_token="kaz_Cyrl", add_source_eos=True)
    (pkg / "model" / "config.json").write_text(json.dumps(cfg))
    (pkg / "metadata.json").write_text(json.dumps({
        "package_version": "1.0", "argos_version": "1.11.0", "from_code": "kk", "to_code": "en",
        "target_prefix": "eng_Latn", "type": "translate"}))
    archive = tmp_path / "kk_en.argosmodel"
    shutil.make_archive(str(archive.with_suffix("")), "zip", pkg.parent, pkg.name)
    archive.with_suffix(".zip").rename(archive)
    d = tmp_path / "models"
    install_from_file(archive, d)
    t = Translator(tmp_path / "m.db", d, prefer=["argos"])
    [res] = t.translate_many([KK[:2]])
    assert res.model_version.startswith("translate-kk_en-1_0@")
    assert res.text == KK[2], res
    assert "eng Latn" not in res.text and "eng_Latn" not in res.text
    t.close()


def test_batched_across_items_equals_one_at_a_time(tmp_path: Path, models_dir: Path) -> None:
    texts = [(t, c) for t, c, _ in CASES] + [RU[:2]]
    batched = Translator(tmp_path / "a.db", models_dir, batch_size=32)
    single = Translator(tmp_path / "b.db", models_dir, batch_size=1)
    a = batched.translate_many(texts)
    b = [single.translate_many([r])[0] for r in texts]
    assert [r.text for r in a] == [r.text for r in b]
    assert all(r.status == TRANSLATED for r in a)
    batched.close()
    single.close()


def test_multi_sentence_lead_split_by_rules(translator: Translator) -> None:
    lead = f"{TG[0]} {KK[0]}"  # no splitter model exists for tg: the rule-based splitter cuts it
    [res] = translator.translate_many([(lead, "tg")])
    assert res.status == TRANSLATED
    assert res.text.startswith(TG[2] + " ")


def test_cache_is_keyed_by_model_and_never_touches_it(tmp_path: Path, models_dir: Path) -> None:
    db = tmp_path / "monitor.db"
    first = Translator(db, models_dir)
    got = first.translate_many([KK[:2], UZ_CYRL2[:2]])
    first.close()
    broken = tmp_path / "broken" / "models"
    shutil.copytree(models_dir, broken)
    for m in list_multilingual(broken):
        (m.path / "model.bin").unlink()
    second = Translator(db, broken)
    again = second.translate_many([KK[:2], UZ_CYRL2[:2], TG[:2]])
    assert [r.status for r in again[:2]] == [CACHED, CACHED]
    assert [r.text for r in again[:2]] == [r.text for r in got]
    assert again[2].status == UNAVAILABLE and "failed to load" in (again[2].reason or "")
    assert second.models_loaded == 0
    second.close()
    rows = sqlite3.connect(db).execute(
        "SELECT source_lang, model_version FROM translation_cache ORDER BY source_lang").fetchall()
    assert rows == [("kk", "multilingual-tiny@1.0"), ("uz-Cyrl", "multilingual-tiny@1.0")]


def test_routing_preference_and_overrides(tmp_path: Path, models_dir: Path) -> None:
    d = tmp_path / "models"
    shutil.copytree(models_dir, d)
    install_from_file(_ru_en(), d)
    default = Translator(None, d)
    assert default.route_for("ru").kind == "argos"  # type: ignore[union-attr]
    assert default.route_for("kk").kind == MULTILINGUAL  # type: ignore[union-attr]
    reason = default.route_for("uk")
    assert reason == "no model uk->en (multilingual-tiny does not know uk)"
    only_argos = Translator(None, d, prefer=["argos"])
    assert only_argos.route_for("kk") == "no model kk->en"
    [res] = only_argos.translate_many([KK[:2]])
    assert res.status == UNAVAILABLE and res.reason == "no model kk->en"
    ru_multi = Translator(None, d, languages={"ru": ["multilingual", "argos"]})
    route = ru_multi.route_for("ru")
    assert not isinstance(route, str) and route.kind == MULTILINGUAL
    [res] = ru_multi.translate_many([RU[:2]])
    assert res.text == RU[2] and res.model_version == "multilingual-tiny@1.0"
    for t in (default, only_argos, ru_multi):
        t.close()


def test_pivot_multilingual_then_argos(tmp_path: Path, models_dir: Path) -> None:
    """kk -> en through the multilingual model, en -> ru through the bundled Argos en_ru."""
    d = tmp_path / "models"
    shutil.copytree(models_dir, d)
    install_from_file(next(p for p in bundled_models() if p.name.startswith("translate-en_ru-")), d)
    t = Translator(tmp_path / "m.db", d, target="ru")
    route = t.route_for("kk")
    assert not isinstance(route, str) and route.kind == "pivot"
    assert route.label == "multilingual-tiny@1.0+translate-en_ru-1_0@1.0"
    [res] = t.translate_many([("Тоқаев Мәскеуге келді.", "kk")])
    assert res.status == TRANSLATED, res
    assert "Токаев" in res.text
    t.close()


def test_broken_multilingual_model_is_refused_at_install(tmp_path: Path, fixture_dir: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(fixture_dir, bad)
    vocab = json.loads((bad / "shared_vocabulary.json").read_text(encoding="utf-8"))
    (bad / "shared_vocabulary.json").write_text(json.dumps(vocab[:4] + vocab[4:][::-1]), encoding="utf-8")
    d = tmp_path / "models"
    from monitor.analysis.argos_models import ModelError

    with pytest.raises(ModelError, match="self-check failed"):
        install_multilingual(bad, d, verify=verify_multilingual)
    assert list_multilingual(d) == []
    assert [p.name for p in (d / "multilingual").iterdir()] == []


def test_converted_folder_without_manifest_gets_one_and_nc_licence_needs_acknowledging(
    tmp_path: Path, fixture_dir: Path
) -> None:
    """A folder as ct2-transformers-converter writes it (no manifest): languages come from the
    vocabulary, the NLLB licence is assumed and must be acknowledged."""
    from monitor.analysis.argos_models import ModelError

    conv = tmp_path / "nllb-200-distilled-600M-ct2-int8"
    shutil.copytree(fixture_dir, conv)
    (conv / "manifest.json").unlink()
    d = tmp_path / "models"
    with pytest.raises(ModelError, match="cc-by-nc-4.0.*--accept-license cc-by-nc-4.0"):
        install_multilingual(conv, d)
    assert list_multilingual(d) == []
    info = install_multilingual(conv, d, accept_license="CC-BY-NC-4.0", verify=verify_multilingual)
    assert info.name == "nllb-200-distilled-600M-ct2-int8" and info.license == "cc-by-nc-4.0"
    assert info.non_commercial and not info.test_model
    assert dict(info.languages)["kk"] == "kaz_Cyrl" and dict(info.languages)["uz"] == "uzn_Latn"
    assert dict(info.target_languages) == {"en": "eng_Latn"}
    t = Translator(None, d)
    assert t.translate_many([KK[:2]])[0].text == KK[2]
    t.close()


def test_rule_splitter_for_languages_without_a_model() -> None:
    assert split_sentences_rule("Փաշինյանը ժամանեց Մոսկվա։ Հանդիպումը տևեց երկու ժամ։") == [
        "Փաշինյանը ժամանեց Մոսկվա։", "Հանդիպումը տևեց երկու ժամ։"]
    assert split_sentences_rule("Дар Душанбе ҷашни Наврӯз таҷлил шуд. Ҳукумат нархро баланд кард!") == [
        "Дар Душанбе ҷашни Наврӯз таҷлил шуд.", "Ҳукумат нархро баланд кард!"]
    assert split_sentences_rule("Toshkentda forum ochildi. Unda 40 davlat qatnashdi.") == [
        "Toshkentda forum ochildi.", "Unda 40 davlat qatnashdi."]
    assert split_sentences_rule("თბილისში მიტინგი გაიმართა. პოლიციამ ქუჩა გადაკეტა.") == [
        "თბილისში მიტინგი გაიმართა.", "პოლიციამ ქუჩა გადაკეტა."]


def test_long_leads_are_cut_at_sentence_boundaries() -> None:
    lead = "Birinchi gap. " * 10 + "Juda uzun oxirgi gap " * 20
    cut = cut_lead(lead, 100)
    assert len(cut) <= 100 and cut.endswith("gap.") and cut.count(".") == 7
    arm = "Փաշինյանը ժամանեց Մոսկվա։ " * 10
    assert cut_lead(arm, 60).endswith("։") and len(cut_lead(arm, 60)) <= 60
    one = "word " * 50
    assert cut_lead(one, 40).endswith("…") and len(cut_lead(one, 40)) <= 41
    assert cut_lead("Short.", 600) == "Short."


CASES_FILE = Path(__file__).resolve().parent / "data" / "multilingual_cases.json"


def _fixture_cases() -> list[dict[str, str]]:
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))


def test_every_fixture_case_through_the_stage_in_one_batch(translator: Translator) -> None:
    """All cases the fixture was built to reproduce (tests/data/multilingual_cases.json), every
    language mixed in one call: the stage must pass each item's own source token."""
    cases = _fixture_cases()
    assert {"kk", "uz", "tg"} <= {c["lang"] for c in cases}
    results = translator.translate_many([(c["source"], c["lang"]) for c in cases])
    wrong = [(c["lang"], c["source"], r.text, c["expected"]) for c, r in zip(cases, results)
             if r.text != c["expected"]]
    assert not wrong, wrong[:5]


def test_uzbek_cyrillic_cases_transliterate_to_the_fixture_spelling(translator: Translator) -> None:
    """The fixture's corpus spells each Cyrillic headline in Latin by hand; the transliterator
    must give exactly that, and the stage the same English from either script."""
    from monitor.analysis.translit import uz_cyrillic_to_latin

    cyr = [c for c in _fixture_cases() if c.get("source_cyrl")]
    assert len(cyr) >= 5
    assert [uz_cyrillic_to_latin(c["source_cyrl"]) for c in cyr] == [c["source"] for c in cyr]
    results = translator.translate_many([(c["source_cyrl"], "uz") for c in cyr])
    assert [r.text for r in results] == [c["expected"] for c in cyr]


def test_manifest_text_with_control_characters_is_shown_as_plain_text(tmp_path: Path, fixture_dir: Path) -> None:
    hostile = tmp_path / "hostile"
    shutil.copytree(fixture_dir, hostile)
    manifest = json.loads((hostile / "manifest.json").read_text(encoding="utf-8"))
    manifest["name"] = "evil\x1b[2J\x1b]0;pwned\x07\nname"
    manifest["license"] = "mit\r\n\x1b[31mred"
    (hostile / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    info = install_multilingual(hostile, tmp_path / "models")
    for text in (info.name, info.license or "", info.path.name):
        assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in text), repr(text)
    stored = json.loads((info.path / "manifest.json").read_text(encoding="utf-8"))
    assert "\x1b" not in stored["name"] + stored["license"] and "\n" not in stored["name"]
