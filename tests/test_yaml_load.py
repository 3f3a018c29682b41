"""load_yaml: libyaml's parser under ruamel's resolver and constructor gives ruamel's answers.

Each document is read twice, by ``load_yaml`` (the libyaml path when it applies) and by ruamel
alone, and the two trees must agree in every value, its Python type and the line and column of
every key, value and item (what error messages point at)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError

from bench.feedgen import write_config
from monitor.config import load_config
from monitor.config.yaml_load import AliasBudgetError, _compose_with_libyaml, _Unusual, load_yaml, round_trip_yaml

ROOT = Path(__file__).resolve().parent.parent


def ruamel_only(text: str, allow_duplicate_keys: bool = False) -> Any:
    yaml = round_trip_yaml()
    yaml.allow_duplicate_keys = allow_duplicate_keys
    return yaml.load(text)


def assert_same(a: Any, b: Any, path: str = "") -> None:
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b), path
        assert (a.lc.line, a.lc.col) == (b.lc.line, b.lc.col), path
        assert a.lc.data == b.lc.data, path  # key -> [key line, key column, value line, value column]
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        assert (a.lc.line, a.lc.col) == (b.lc.line, b.lc.col), path
        assert a.lc.data == b.lc.data, path  # index -> [line, column]
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, TaggedScalar):  # an explicit tag (no equality of its own)
        assert (a.value, str(a.tag), a.style) == (b.value, str(b.tag), b.style), path
    elif isinstance(a, float) and a != a:
        assert b != b, path  # .nan
    else:
        assert a == b, (path, a, b)


def fast_path_taken(text: str) -> bool:
    try:
        _compose_with_libyaml(text, round_trip_yaml())
        return True
    except _Unusual:
        return False
    except Exception:  # libyaml's own error: ruamel reads it and words the error
        return False


SHIPPED = [ROOT / "config.yaml", ROOT / "systemd" / "config.example.yaml", *sorted((ROOT / "watchlists").glob("*.yaml"))]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_files_read_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert_same(load_yaml(text), ruamel_only(text))


def test_a_thousand_feed_config_reads_the_same_and_loads(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    write_config(cfg, [f"http://127.0.0.1:9/feeds/{i:04d}.xml" for i in range(1000)], state=tmp_path / "state")
    text = cfg.read_text(encoding="utf-8")
    assert fast_path_taken(text)
    assert_same(load_yaml(text), ruamel_only(text))
    config = load_config(cfg, check_dirs=False)
    assert len(config.feeds) == 1000 and config.feeds[999].url.endswith("/0999.xml")


TRICKY = """\
# a comment
plain: text with spaces
yes_word: yes
on_word: on
off: off
time: 07:30
octal_12: 017
octal: 0o17
hex: 0x1F
int: -42
float: 1.5e3
inf: .inf
nan: .nan
null_tilde: ~
null_word: null
empty:
true_word: true
date: 2026-12-01
stamp: 2026-12-01T08:30:00Z
single: 'it''s quoted: yes'
double: "tab\\there \\u00e9"
literal: |
  line one
    indented
  line three
folded: >-
  folded
  text

  paragraph
flow_map: {a: 1, b: [x, "y", 3.0]}
flow_seq: [on, 'off', 1:20]
nested:
  - name: one
    tags: [a, b]
  -
    - deep
    - 2
  - key with spaces: value
    "quoted key": 1
    123: int key
unicode: Путин и Токаев — 9 мая
merge:
  <<: {inherited: 1}
  own: 2
"""


def test_tricky_scalars_keep_yaml_1_2_types_and_positions() -> None:
    assert fast_path_taken(TRICKY)
    fast, slow = load_yaml(TRICKY), ruamel_only(TRICKY)
    assert_same(fast, slow)
    assert fast["yes_word"] == "yes" and fast["on_word"] == "on" and fast["time"] == "07:30"
    assert fast["octal"] == 15 and fast["octal_12"] == 17 and fast["hex"] == 31


@pytest.mark.parametrize("text, fast", [
    ("base: &b {a: 1}\nother: *b\n", False),  # anchor and alias: the alias budget is ruamel's
    ("n: !!str 123\n", False),  # explicit tag
    ("%YAML 1.1\n---\nflag: yes\n", False),  # a directive changes the resolver (1.1: yes is true)
    ("a: 1\n---\nb: 2\n", False),  # a second document: ruamel's error
    ("a:\r\n  b: 1\r\n", False),  # CRLF line ends
    ("a:  # a note\nb: 1\n", False),  # an empty value and a comment: ruamel's marks move
    ("a:\n# a note\nb: 1\n", False),
    ("a:\n\n  \nb: 1\n", True),  # an empty value, blank lines: the next key's mark, as ruamel
    ("list:\n  -\n  - x\n", False),  # an empty item
    ("a: {b: }\n", False),  # an empty flow value
    ("a: 1 # a note\nb: # x\n  c: 2\n", True),  # comments elsewhere are fine (not kept)
])
def test_documents_read_the_same_on_either_path(text: str, fast: bool) -> None:
    assert fast_path_taken(text) is fast
    try:
        expected = ruamel_only(text)
    except YAMLError as e:
        with pytest.raises(type(e)) as got:
            load_yaml(text)
        assert str(got.value) == str(e)
        return
    assert_same(load_yaml(text), expected)


def test_explicit_tag_and_yaml_1_1_directive_answer_as_ruamel() -> None:
    tagged = load_yaml("n: !!str 123\n")["n"]
    assert isinstance(tagged, TaggedScalar) and tagged.value == "123"
    assert load_yaml("%YAML 1.1\n---\nflag: yes\n")["flag"] is True


def test_alias_bomb_still_refused() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    with pytest.raises(AliasBudgetError):
        load_yaml("\n".join(lines) + "\n")


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # duplicate key
    "a: [1, 2\nb: 3\n",  # unclosed flow sequence
    "a:\n  - 1\n - 2\n",  # bad indentation
    "a: 'unterminated\n",
    "key: value\n\tb: tab\n",
    "tab\tin: key\n",  # libyaml takes a tab inside a plain scalar, ruamel does not: ruamel decides
    "a: b: c\n",
    "x: \x07bell\n",  # a control character
])
def test_errors_are_ruamels_own(text: str) -> None:
    with pytest.raises(YAMLError) as slow:
        ruamel_only(text)
    with pytest.raises(YAMLError) as fast:
        load_yaml(text)
    assert type(fast.value) is type(slow.value) and str(fast.value) == str(slow.value)
    if isinstance(slow.value, MarkedYAMLError):
        assert isinstance(fast.value, MarkedYAMLError)
        assert fast.value.problem_mark.line == slow.value.problem_mark.line


def test_duplicate_keys_allowed_when_asked() -> None:
    assert_same(load_yaml("a: 1\na: 2\n", allow_duplicate_keys=True), ruamel_only("a: 1\na: 2\n", True))


def test_empty_and_comment_only_documents() -> None:
    for text in ("", "# only a comment\n", "---\n", "\n\n"):
        assert load_yaml(text) == ruamel_only(text)


_SCALARS = st.sampled_from([
    "text", "yes", "No", "on", "OFF", "y", "n", "true", "False", "null", "~", "", "07:30", "1:20:30", "017",
    "0o17", "0x1f", "1_000", "-3", "+4", "1.5", ".5", "1e3", "-.inf", ".NaN", "2026-12-01", "2026-12-01 08:30:00",
    "a: b", "a #b", "#c", "- x", "[x]", "{y}", "'q'", '"d"', "&a", "*b", "!t", "%p", "@at", "`bq", "|", ">",
    "multi\nline", "trailing ", " leading", "Путин", "ქართული", "tab\tin", "back\\slash", "é", "9 мая",
])


def _render(value: Any, style: int, indent: int = 0) -> list[str]:
    """Block-style lines for a tree, its scalars plain, single- or double-quoted, some lists in flow."""
    pad = " " * indent
    lines: list[str] = []
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for i, (k, v) in enumerate(items):
        head = f"{pad}{_scalar(k, style + i)}:" if k is not None else f"{pad}-"
        if isinstance(v, (dict, list)) and v and not (isinstance(v, list) and style % 3 == 0
                                                       and all(isinstance(x, str) for x in v)):
            lines.append(head)
            lines.extend(_render(v, style + i + 1, indent + 2))
        elif isinstance(v, list):
            lines.append(f"{head} [" + ", ".join(_flow(x) for x in v) + "]")
        elif isinstance(v, dict):
            lines.append(f"{head} {{}}")
        else:
            lines.append(f"{head} {_scalar(v, style + i + 1)}")
    return lines


def _scalar(s: str, style: int) -> str:
    kind = style % 3
    if kind == 0 and "\n" not in s:
        return s  # plain: may not parse, or parse as something else: both readers must agree
    if kind == 1:
        return "'" + s.replace("'", "''").replace("\n", "\n\n") + "'"
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _flow(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_SCALARS, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(tree=st.dictionaries(_SCALARS, _TREES, min_size=1, max_size=5), style=st.integers(0, 11))
def test_generated_documents_agree_with_ruamel(tree: dict[str, Any], style: int) -> None:
    text = "\n".join(_render(tree, style)) + "\n"
    warnings.simplefilter("ignore", ReusedAnchorWarning)  # "&a" twice: ruamel warns, on both paths
    try:
        expected = ruamel_only(text)
    except YAMLError as e:
        with pytest.raises(YAMLError) as got:
            load_yaml(text)
        assert type(got.value) is type(e) and str(got.value) == str(e)
        return
    assert_same(load_yaml(text), expected)
