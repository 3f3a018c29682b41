"""The on-disk cache of compiled watchlists: same result as a fresh load, rebuilt on any edit."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor.analysis.watchlists import MatchInput, load_watchlists, match_all
from monitor.service.watchlist_cache import cache_key, load_watchlists_cached

ROOT = Path(__file__).resolve().parent.parent
ITEM = MatchInput(title="Tokayev and Mirziyoyev to attend Victory Day parade in Moscow",
                  summary="The presidents of Kazakhstan and Uzbekistan will watch the parade on Red Square on 9 May.",
                  language="en", feed="Test")


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "watchlists"
    shutil.copytree(ROOT / "watchlists", d)
    return d


def _summary(wls: list) -> list:  # type: ignore[type-arg]
    return [(m.watchlist, round(m.score, 6), m.why()) for m in match_all(wls, ITEM)]


def test_cached_load_matches_like_a_fresh_load(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    cache = tmp_path / "state" / "monitor.db.watchlists.pickle"
    cache.parent.mkdir()
    fresh, problems = load_watchlists(d)
    first, p1 = load_watchlists_cached(d, cache)
    assert cache.is_file()
    again, p2 = load_watchlists_cached(d, cache)  # read back from the file
    assert [w.name for w in again] == [w.name for w in fresh] and len(fresh) >= 2
    assert [w.fingerprint for w in again] == [w.fingerprint for w in fresh]
    assert p1 == p2 == problems == []
    assert _summary(again) == _summary(fresh) != []


def test_an_edited_file_is_compiled_again(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    cache = tmp_path / "wl.pickle"
    load_watchlists_cached(d, cache)
    before = cache_key(d)
    path = d / "victory-day-parade.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: victory-day-parade", "name: parade-edited"),
                    encoding="utf-8")
    assert cache_key(d) != before
    wls, _ = load_watchlists_cached(d, cache)
    assert "parade-edited" in {w.name for w in wls}
    (d / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    wls, problems = load_watchlists_cached(d, cache)
    assert problems and problems[0].file.endswith("broken.yaml")
    assert load_watchlists_cached(d, cache)[1] == problems  # problems are cached with the result


def test_an_unreadable_cache_means_a_normal_load(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    cache = tmp_path / "wl.pickle"
    cache.write_bytes(b"not a pickle")
    wls, problems = load_watchlists_cached(d, cache)
    assert len(wls) >= 2 and not problems
    assert load_watchlists_cached(d, cache)[0][0].name == wls[0].name  # rewritten, readable
