"""Translation stage with the project's real (tiny) Argos model: CTranslate2 inference, no mocks."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.analysis.argos_models import bundled_models, install_from_file
from monitor.analysis.translate import (
    CACHED,
    NOT_NEEDED,
    TRANSLATED,
    UNAVAILABLE,
    Translator,
    sanity_problem,
    split_sentences_rule,
)
from tests.support.argospkg import repack

ROOT = Path(__file__).resolve().parent.parent
HEADLINE = "Токаев прибыл в Москву на парад Победы."
IN_DOMAIN = [
    HEADLINE,
    "Рахмон посетит парад Победы в Москве.",
    "Путин провел переговоры с Си Цзиньпином в Пекине.",
    "ЕС ввел новые санкции против Казахстана.",
    "Жапаров прибыл в Ташкент с официальным визитом.",
    "Саммит ОДКБ пройдет в Минске в ноябре.",
    "Лукашенко и Путин обсудили Союзное государство.",
    "Товарооборот России и Китая достиг рекордного уровня.",
]


def _bundled(pair: str) -> Path:
    found = [p for p in bundled_models() if p.name.startswith(f"translate-{pair}-")]
    assert found, f"bundled {pair} model missing"
    return found[0]


def _relabel(src: Path, dest: Path, from_code: str, to_code: str) -> Path:
    """A copy of a package that claims another language pair (for routing tests)."""
    return repack(src, dest, f"translate-{from_code}_{to_code}-relabelled", from_code=from_code, to_code=to_code)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("state") / "models"
    install_from_file(_bundled("ru_en"), d)
    return d


@pytest.fixture
def translator(tmp_path: Path, models_dir: Path) -> Translator:
    t = Translator(tmp_path / "monitor.db", models_dir)
    yield t
    t.close()


def test_import_does_not_load_the_engine() -> None:
    code = textwrap.dedent("""
        import sys
        import monitor.analysis.translate, monitor.analysis.argos_models
        heavy = [m for m in ("torch", "argostranslate", "ctranslate2", "onnxruntime", "stanza")
                 if m in sys.modules]
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_start_up_report_does_not_load_the_engine(tmp_path: Path, models_dir: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from monitor.analysis.translate import Translator
        t = Translator(Path({str(tmp_path / 'm.db')!r}), Path({str(models_dir)!r}))
        print(t.availability("ru", load=False), t.availability("kk", load=False), sep="|")
        print(",".join(m for m in ("torch", "argostranslate", "ctranslate2") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.splitlines() == ["None|no model kk->en", ""]


def test_headline_translates(translator: Translator) -> None:
    [res] = translator.translate_many([(HEADLINE, "ru")])
    assert res.status == TRANSLATED, res
    assert res.reason is None and res.model_version == "translate-ru_en-1_0@1.0"
    for word in ("Tokayev", "parade", "Moscow"):
        assert word in res.text


def test_multi_sentence_text_is_split_and_rejoined(translator: Translator) -> None:
    text = HEADLINE + " Саммит ОДКБ пройдет в Минске в ноябре.\nКремль подтвердил визит."
    [res] = translator.translate_many([(text, "ru")])
    assert res.status == TRANSLATED
    first, second = res.text.split("\n")
    assert "Tokayev" in first and "CSTO" in first and "Minsk" in first
    assert first.index("Tokayev") < first.index("CSTO")
    assert "Kremlin" in second


def test_status_for_untranslatable_requests(translator: Translator) -> None:
    results = translator.translate_many(
        [("Tokayev arrived.", "en"), ("Тоқаев Мәскеуге келді.", "kk"), ("???", ""), ("  ", "ru")]
    )
    assert [r.status for r in results] == [NOT_NEEDED, UNAVAILABLE, UNAVAILABLE, NOT_NEEDED]
    assert results[1].reason == "no model kk->en"
    assert results[2].reason == "source language unknown"
    assert all(r.text is None for r in results)
    assert translator.availability("kk") == "no model kk->en"
    assert translator.availability("kk", load=False) == "no model kk->en"
    assert translator.availability("ru") is None
    assert translator.availability("en") is None


def test_cache_hit_never_touches_the_model(tmp_path: Path, models_dir: Path) -> None:
    db = tmp_path / "monitor.db"
    first = Translator(db, models_dir)
    [res] = first.translate_many([(HEADLINE, "ru")])
    first.close()
    assert res.status == TRANSLATED
    # A models dir whose ru->en package has lost its weights: loading it would fail.
    broken_dir = tmp_path / "broken" / "models"
    shutil.copytree(models_dir, broken_dir)
    for pkg in broken_dir.iterdir():
        (pkg / "model" / "model.bin").unlink()
    second = Translator(db, broken_dir)
    again, other = second.translate_many([(HEADLINE, "ru"), ("Кремль подтвердил визит.", "ru")])
    assert again.status == CACHED and again.text == res.text
    assert again.model_version == res.model_version
    assert other.status == UNAVAILABLE and "failed to load" in other.reason
    assert second.models_loaded == 0
    second.close()
    rows = sqlite3.connect(db).execute(
        "SELECT source_lang, target_lang, model_version, translated FROM translation_cache"
    ).fetchall()
    assert rows == [("ru", "en", res.model_version, res.text)]


def test_cache_is_keyed_by_model_version(tmp_path: Path, models_dir: Path) -> None:
    db = tmp_path / "monitor.db"
    t = Translator(db, models_dir)
    [a] = t.translate_many([(HEADLINE, "ru")])
    t.close()
    other_dir = tmp_path / "v2" / "models"
    v2 = repack(_bundled("ru_en"), tmp_path / "v2.argosmodel", "whatever", package_version="1.0.1")
    install_from_file(v2, other_dir)
    t2 = Translator(db, other_dir)
    [b] = t2.translate_many([(HEADLINE, "ru")])
    t2.close()
    assert a.status == b.status == TRANSLATED
    assert a.model_version != b.model_version and b.text == a.text


def test_batch_and_per_sentence_outputs_agree(tmp_path: Path, models_dir: Path) -> None:
    batched = Translator(tmp_path / "a.db", models_dir, batch_size=64)
    single = Translator(tmp_path / "b.db", models_dir, batch_size=1)
    reqs = [(s, "ru") for s in IN_DOMAIN]
    a = batched.translate_many(reqs)
    b = [single.translate_many([r])[0] for r in reqs]
    assert all(r.status == TRANSLATED for r in a + b)
    assert [r.text for r in a] == [r.text for r in b]
    assert len({r.text for r in a}) == len(IN_DOMAIN)
    batched.close()
    single.close()


def test_agrees_with_argos_own_api(translator: Translator, models_dir: Path) -> None:
    """The stage's batched path gives what argostranslate.translate.translate() gives."""
    from monitor.analysis import argos_models

    with argos_models._LOCK:
        settings = argos_models._settings(models_dir)
        import argostranslate.translate as argos_translate

        argos_translate.get_installed_languages.cache_clear()
        argos_translate.installed_translates.clear()
        saved = settings.beam_size
        settings.beam_size = 1
        try:
            theirs = [argos_translate.translate(s, "ru", "en") for s in IN_DOMAIN[:4]]
        finally:
            settings.beam_size = saved
    ours = [r.text for r in translator.translate_many([(s, "ru") for s in IN_DOMAIN[:4]])]
    assert ours == theirs


def test_pivot_through_english(tmp_path: Path) -> None:
    """bg -> en -> ru with two real models (the ru->en one relabelled as bg->en). Bulgarian has no
    canary of its own, so the relabelled model's self-check is the generic one: a canary in a
    language the tiny ru->en model never saw (Belarusian, as this test used) tests how it
    generalises, which differs between machines, not the pivot."""
    d = tmp_path / "models"
    install_from_file(_relabel(_bundled("ru_en"), tmp_path / "bg.argosmodel", "bg", "en"), d)
    install_from_file(_bundled("en_ru"), d)
    t = Translator(tmp_path / "m.db", d, target="ru")
    [res] = t.translate_many([(HEADLINE, "bg")])
    assert res.status == TRANSLATED, res
    assert res.model_version == "translate-bg_en-1_0@1.0+translate-en_ru-1_0@1.0"
    assert "Токаев" in res.text and "Москв" in res.text
    assert t.translate_many([("Kremlin.", "en")])[0].status == TRANSLATED
    assert t.translate_many([("x", "kk")])[0].reason == "no model kk->ru"
    t.close()


@pytest.mark.parametrize(
    "garbage",
    [
        "law law law ntntnt ntntnt ntntnt",
        "law law law",
        "AAAAAAA",
        "ntntntntntnt",
        "the law of the law of the law of the state",
        "",
        "Tokayev " + "arrived in " * 60,
    ],
)
def test_sanity_predicate_rejects_runaway_output(garbage: str) -> None:
    assert sanity_problem(HEADLINE, garbage) is not None


@pytest.mark.parametrize(
    "good",
    [
        "Tokayev arrived in Moscow for the Victory Day parade.",
        "Trade between Russia and China grew by 10000 tonnes in 2024.",
        "The president met the president of the Council.",
        "Fitch kept the AAA rating; the banana trade grew.",
    ],
)
def test_sanity_predicate_accepts_translations(good: str) -> None:
    assert sanity_problem(HEADLINE, good) is None


def test_real_model_passes_the_self_check(translator: Translator) -> None:
    assert translator.pairs() == {("ru", "en"): None}


def test_broken_model_is_unavailable_and_never_returns_text(tmp_path: Path) -> None:
    """Scramble the target vocabulary of a real package: the output is garbage, no error."""
    d = tmp_path / "models"
    info = install_from_file(_bundled("ru_en"), d)
    vocab_path = info.path / "model" / "shared_vocabulary.json"
    vocab = json.loads(vocab_path.read_text(encoding="utf-8"))
    head, body = vocab[:4], vocab[4:]
    vocab_path.write_text(json.dumps(head + body[::-1]), encoding="utf-8")
    t = Translator(tmp_path / "m.db", d)
    reason = t.pairs()[("ru", "en")]
    assert reason is not None and "self-check failed" in reason
    [res] = t.translate_many([(HEADLINE, "ru")])
    assert res.status == UNAVAILABLE and res.text is None and res.reason == reason
    t.close()


def test_wx_protection_is_caught_by_the_self_check(tmp_path: Path, models_dir: Path) -> None:
    """With W^X on (systemd MemoryDenyWriteExecute=yes) CTranslate2 may emit garbage silently."""
    code = textwrap.dedent(f"""
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(65, 1, 0, 0, 0) != 0:   # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
            print("SKIP"); sys.exit(0)
        from pathlib import Path
        from monitor.analysis.translate import Translator
        t = Translator(Path({str(tmp_path / 'wx.db')!r}), Path({str(models_dir)!r}))
        r = t.translate_many([({HEADLINE!r}, "ru")])[0]
        print(r.status, "|", r.text, "|", r.reason)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    if line == "SKIP":
        pytest.skip("prctl(PR_SET_MDWE) not supported by this kernel")
    status, text, reason = (p.strip() for p in line.split("|"))
    # Measured here: garbage ("России России ...") with no error. Either CTranslate2 works
    # under W^X on this CPU, or the self-check keeps the garbage inside the stage.
    if status == "translated":
        assert "Tokayev" in text and "Moscow" in text
    else:
        assert status == "unavailable" and text == "None" and "self-check failed" in reason


def test_models_dir_named_stanza_stays_offline(tmp_path: Path) -> None:
    """Argos picks its Stanza splitter (which downloads) when a path contains 'stanza'."""
    d = tmp_path / "stanza_state" / "models"
    install_from_file(_bundled("ru_en"), d)
    t = Translator(tmp_path / "m.db", d)
    [res] = t.translate_many([(HEADLINE + " Кремль подтвердил визит.", "ru")])
    assert res.status == TRANSLATED and "Kremlin" in res.text
    t.close()


def test_rule_splitter() -> None:
    text = "В. В. Путин прибыл в Москву. «Мы рады», — сказал он! Что дальше? Конец"
    assert split_sentences_rule(text) == [
        "В. В. Путин прибыл в Москву.", "«Мы рады», — сказал он!", "Что дальше?", "Конец"
    ]
