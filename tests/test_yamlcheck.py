"""config.yaml and watchlist files report problems through the one collector (monitor.config.yamlcheck)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from monitor import ConfigError
from monitor.analysis.watchlists import load_watchlist
from monitor.config import load_config
from monitor.config.yamlcheck import ProblemCollector, closest, kind_of, position, suggest


def test_position_of_keys_values_and_items() -> None:
    doc = YAML().load("a: 1\nlist:\n  - x\n  - y\nnested:\n    b: two\n")
    assert position(doc, "a", of_key=True) == (1, 1)
    assert position(doc, "a") == (1, 4)
    assert position(doc["list"], 1) == (4, 5)
    assert position(doc["nested"], "missing") == position(doc["nested"])
    assert position({"plain": 1}, "plain") == (None, None)


def test_suggestions_and_kinds() -> None:
    assert closest("intervall", {"interval", "timeout"}) == "interval"
    assert suggest("qwerty", ["interval"]) == ""
    assert [kind_of(v) for v in (None, True, 3, "x", [1], {"a": 1})] == [
        "nothing", "boolean True", "number 3", "text 'x'", "a list", "a mapping"]


def test_unknown_keys_collected_with_positions() -> None:
    doc = YAML().load("name: x\ntreshold: 2\nzzz: 1\n")
    c = ProblemCollector("w.yaml")
    c.unknown_keys(doc, ("name", "threshold"), "")
    assert [(p.line, p.column, p.key, p.hint) for p in c.problems] == [
        (2, 1, "treshold", "did you mean 'threshold'?"), (3, 1, "zzz", "allowed keys: name, threshold")]


def test_config_and_watchlist_say_did_you_mean_alike(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("database: db.sqlite\nfeeds: []\nfetch:\n  timout: 10s\n", encoding="utf-8")
    (tmp_path / "w.yaml").write_text("name: w\nquery: {any: [Putin]}\ntreshold: 1\n", encoding="utf-8")
    found = []
    for load in (lambda: load_config(tmp_path / "config.yaml", check_dirs=False),
                 lambda: load_watchlist(tmp_path / "w.yaml")):
        with pytest.raises(ConfigError) as e:
            load()
        found.append([(p.line, p.column, p.key, p.message, p.hint) for p in e.value.problems])
    assert found == [[(4, 3, "fetch.timout", "unknown key", "did you mean 'timeout'?")],
                     [(3, 1, "treshold", "unknown key", "did you mean 'threshold'?")]]
