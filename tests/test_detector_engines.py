"""The faster detector drivers give exactly the libraries' answers (py3langid scores, langdetect probabilities)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.lang_detect_exception import LangDetectException
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from monitor.analysis import detector_engines
from monitor.analysis.detector_engines import LangidEngine, langdetect_probabilities

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "bench" / "data" / "lang_eval"


def _texts() -> list[str]:
    out: list[str] = []
    for kind in ("headlines", "summaries"):
        for path in sorted((EVAL / kind).glob("*.txt")):
            out += [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


@pytest.fixture(scope="module")
def engine() -> LangidEngine:
    return LangidEngine(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))


def test_model_automaton_is_as_deep_as_the_engine_assumes(engine: LangidEngine) -> None:
    """Breadth-first from the root: the deepest state is _DEPTH bytes away, every state is reachable."""
    assert engine.fast
    nm, rowbase = engine._nm, engine._rowbase
    depth = np.full(len(rowbase), -1, dtype=np.int64)
    depth[0] = 0
    frontier = np.array([0])
    level = 0
    while frontier.size:
        nxt = np.unique(nm[(rowbase[frontier][:, None] + np.arange(256)[None, :]).ravel()])
        nxt = nxt[depth[nxt] < 0]
        level += 1
        depth[nxt] = level
        frontier = nxt
    assert int(depth.max()) == detector_engines._DEPTH
    assert (depth >= 0).all()


def test_langid_scores_classify_and_rank_match_the_library(engine: LangidEngine) -> None:
    ident = engine.ident
    rng = random.Random(5)
    texts = _texts()[::3]
    texts += ["", " ", "x", "ABC DEF", "Ўзбекистон", "\U0001f600" * 3, "a\udc80b", "1234 5678"]
    texts += ["".join(chr(rng.choice((rng.randint(32, 0x52F), rng.randint(0x530, 0x10FF), rng.randint(0x4E00, 0x4FFF))))
                      for _ in range(rng.randint(0, 80))) for _ in range(150)]
    for text in texts:
        mine = engine.scores(text)
        theirs = ident._decide(text)
        assert mine.dtype == theirs.dtype and np.array_equal(mine, theirs), text
        assert engine.classify(mine) == ident.classify(text)
        assert engine.rank(mine) == ident.rank(text)


def _detector(factory: DetectorFactory, text: str):  # type: ignore[no-untyped-def]
    det = factory.create()
    det.append(text)
    return det


def _answer(fn, det):  # type: ignore[no-untyped-def]
    try:
        return [(lp.lang, lp.prob) for lp in fn(det)]
    except LangDetectException as e:
        return f"raises {e.code}"


def test_langdetect_probabilities_match_the_library() -> None:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    texts = _texts()[::9] + ["", "123", "Hello", "El club fichará a un delantero veterano por dos temporadas",
                              "Суд освободил лидера оппозиции из-под стражи", "ok " * 300]
    for text in texts:
        assert _answer(langdetect_probabilities, _detector(factory, text)) == \
            _answer(lambda d: d.get_probabilities(), _detector(factory, text)), text


def test_langdetect_falls_back_to_the_library_when_it_cannot_mirror_it() -> None:
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    det = _detector(factory, "Parliament approves emergency budget")
    det.set_prior_map({"en": 0.5, "de": 0.5})  # a prior: the library's own loop
    expected = _detector(factory, "Parliament approves emergency budget")
    expected.set_prior_map({"en": 0.5, "de": 0.5})
    assert _answer(langdetect_probabilities, det) == _answer(lambda d: d.get_probabilities(), expected)


def test_compact_profiles_hold_the_same_numbers_and_give_the_same_answers() -> None:
    """The sparse n-gram map answers ``in`` and ``[word]`` as the library's dict did, and a
    factory using it gives the library's probabilities, on the fast path and on the library's own."""
    plain = DetectorFactory()
    plain.load_profile(PROFILES_DIRECTORY)
    plain.set_seed(0)
    compact = DetectorFactory()
    compact.load_profile(PROFILES_DIRECTORY)
    dense = dict(compact.word_lang_prob_map)
    detector_engines.compact_profiles(compact)
    compact.set_seed(0)
    cmap = compact.word_lang_prob_map
    assert isinstance(cmap, detector_engines.CompactProbMap)
    assert len(cmap) == len(dense) and set(cmap) == set(dense)
    rng = random.Random(5)
    for word in rng.sample(sorted(dense), 3000):
        assert cmap[word] == dense[word], word
    assert "no such n-gram" not in cmap
    words = rng.sample(sorted(dense), 40)
    assert np.array_equal(cmap.rows(words), np.array([dense[w] for w in words]))
    for text in _texts()[::23] + ["", "Суд освободил лидера оппозиции из-под стражи"]:
        assert _answer(langdetect_probabilities, _detector(compact, text)) == \
            _answer(lambda d: d.get_probabilities(), _detector(plain, text)), text
        assert _answer(lambda d: d.get_probabilities(), _detector(compact, text)) == \
            _answer(lambda d: d.get_probabilities(), _detector(plain, text)), text


def test_profiles_read_straight_into_the_sparse_map_are_the_librarys() -> None:
    """load_profiles builds the map the library's load_profile + compact_profiles build: the same
    languages in the same order, the same n-grams in the same order, the same numbers."""
    direct = DetectorFactory()
    detector_engines.load_profiles(direct, PROFILES_DIRECTORY)
    via_library = DetectorFactory()
    via_library.load_profile(PROFILES_DIRECTORY)
    detector_engines.compact_profiles(via_library)
    a, b = direct.word_lang_prob_map, via_library.word_lang_prob_map
    assert isinstance(a, detector_engines.CompactProbMap) and isinstance(b, detector_engines.CompactProbMap)
    assert direct.langlist == via_library.langlist and a.n_lang == b.n_lang
    assert list(a.items()) == list(b.items())
    langs, read = detector_engines.CompactProbMap.of_profiles(PROFILES_DIRECTORY)  # the path load_profiles takes
    assert langs == via_library.langlist and list(read.items()) == list(b.items())
    assert np.array_equal(read._vals, b._vals) and np.array_equal(read._starts, b._starts)
    for name in ("_starts", "_cols", "_vals"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    direct.set_seed(0)
    via_library.set_seed(0)
    for text in _texts()[::41]:
        assert _answer(langdetect_probabilities, _detector(direct, text)) == \
            _answer(langdetect_probabilities, _detector(via_library, text)), text


def test_a_profile_the_library_refuses_gets_the_librarys_error(tmp_path: Path) -> None:
    """A broken profile directory is the library's to judge: its own loading runs and raises."""
    (tmp_path / "xx").write_text('{"name": "xx", "freq": {"a": 1}, "n_words": [0, 0, 0]}', encoding="utf-8")
    (tmp_path / "yy").write_text("not json", encoding="utf-8")
    factory = DetectorFactory()
    with pytest.raises(LangDetectException):
        detector_engines.load_profiles(factory, str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LangDetectException, match="Not found profile"):
        detector_engines.load_profiles(DetectorFactory(), str(empty))


def test_an_engine_owning_its_identifier_releases_the_lists_and_scores_the_same(engine: LangidEngine) -> None:
    """language.py gives its identifier to the engine for good: the library's Python lists of the
    byte walk go, the scores stay what the library gives."""
    owner = LangidEngine(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True), own_tables=True)
    assert owner.fast and owner.ident.tk_output is None and owner.ident._rowbase is None
    for text in _texts()[::17] + ["", "Ўзбекистон"]:
        assert np.array_equal(owner.scores(text), engine.ident._decide(text)), text
