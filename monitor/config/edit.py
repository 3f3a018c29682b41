"""Round-trip editing of config.yaml: add feeds, keep the user's comments and layout.

ruamel.yaml's round-trip mode keeps comments, key order, quoting and flow style.
Two things it does not do alone are handled here: the indentation of the file is
detected (the dump settings that reproduce the untouched file byte for byte are
chosen), and the comment or blank line that trailed the old last feed (usually the
gap before the next section) is moved below the new last feed. The edited file is
validated with :func:`monitor.config.load_config` before it replaces the old one,
atomically.
"""

from __future__ import annotations

import copy
import io
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from monitor import ConfigError, MonitorError
from monitor.config import load_config


@dataclass(frozen=True)
class NewFeed:
    """A feed to append to ``feeds:``; only set fields are written."""

    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval: str | None = None  # as written in YAML, e.g. "1h"
    fulltext: bool = False
    enabled: bool = True


@dataclass
class ConfigDocument:
    """A loaded config.yaml with the dump settings that reproduce it."""

    path: Path
    text: str
    root: CommentedMap
    yaml: YAML = field(repr=False)

    def dump(self) -> str:
        buf = io.StringIO()
        self.yaml.dump(self.root, buf)
        return buf.getvalue()


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never fold long URLs
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    return y


_LAYOUTS = [(2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0), (3, 3, 0), (4, 2, 0)]


def load_document(path: Path) -> ConfigDocument:
    """Load ``path`` for editing; the chosen indentation reproduces it if any candidate can."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MonitorError(f"cannot read {path}: {e.strerror or e}") from None
    best: tuple[int, YAML, Any] | None = None
    layouts = list(_LAYOUTS)
    try:
        from ruamel.yaml.util import load_yaml_guess_indent

        _, ind, bsi = load_yaml_guess_indent(text)
        if ind and bsi is not None:
            layouts = [(m, ind, bsi) for m in sorted({2, 4, ind - bsi if ind > bsi else ind})] + layouts
    except Exception:  # noqa: BLE001 - only a hint; the candidates below still apply
        pass
    for m, s, o in layouts:
        y = _yaml(m, s, o)
        try:
            root = y.load(text)
        except YAMLError as e:
            raise MonitorError(f"{path} is not valid YAML: {e}") from None
        if root is None:
            root = CommentedMap()
        if not isinstance(root, CommentedMap):
            raise MonitorError(f"{path}: the config must be a mapping of keys")
        buf = io.StringIO()
        y.dump(root, buf)
        out = buf.getvalue()
        if out == text:
            return ConfigDocument(path, text, root, y)
        score = _changed_lines(text, out)
        if best is None or score < best[0]:
            best = (score, y, root)
    assert best is not None
    return ConfigDocument(path, text, best[2], best[1])


def _changed_lines(a: str, b: str) -> int:
    import difflib

    sm = difflib.SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal")


def feed_urls(doc: ConfigDocument) -> dict[str, int]:
    """URLs already in ``feeds:`` with their 1-based line."""
    out: dict[str, int] = {}
    feeds = doc.root.get("feeds")
    if not isinstance(feeds, list):
        return out
    for i, node in enumerate(feeds):
        url = node if isinstance(node, str) else (node.get("url") if isinstance(node, dict) else None)
        if isinstance(url, str):
            try:
                line = feeds.lc.item(i)[0] + 1  # type: ignore[attr-defined]  # a CommentedSeq from YAML
            except (AttributeError, KeyError, IndexError, TypeError):
                line = 0
            out.setdefault(url.strip(), line)
    return out


def feed_names(doc: ConfigDocument) -> set[str]:
    feeds = doc.root.get("feeds")
    if not isinstance(feeds, list):
        return set()
    return {str(n["name"]).strip() for n in feeds if isinstance(n, dict) and n.get("name")}


def _feed_node(feed: NewFeed) -> CommentedMap:
    node = CommentedMap()
    if feed.name:
        node["name"] = feed.name
    node["url"] = feed.url
    if feed.tags:
        tags = CommentedSeq(list(feed.tags))
        tags.fa.set_flow_style()
        node["tags"] = tags
    if feed.language:
        node["language"] = feed.language
    if feed.interval:
        node["interval"] = feed.interval
    if feed.fulltext:
        node["fulltext"] = True
    if not feed.enabled:
        node["enabled"] = False
    return node


def _pop_trailing(node: Any) -> Any:
    """Remove and return the comment token that follows the last scalar inside ``node``."""
    if isinstance(node, CommentedMap) and len(node):
        key = list(node.keys())[-1]
        value = node[key]
        if isinstance(value, (CommentedMap, CommentedSeq)) and len(value) and not value.fa.flow_style():
            return _pop_trailing(value)
        slot = node.ca.items.get(key)
        if slot and len(slot) > 2 and slot[2] is not None:
            slot[2], moved = _split_token(slot[2])
            return moved
    elif isinstance(node, CommentedSeq) and len(node):
        last = node[-1]
        if isinstance(last, (CommentedMap, CommentedSeq)) and len(last):
            return _pop_trailing(last)
        slot = node.ca.items.get(len(node) - 1)
        if slot and slot[0] is not None:
            slot[0], moved = _split_token(slot[0])
            return moved
    return None


def _put_trailing(node: CommentedMap, token: Any) -> None:
    key = list(node.keys())[-1]
    node.ca.items.setdefault(key, [None, None, None, None])[2] = token


def _split_token(token: Any) -> tuple[Any, Any]:
    """Split a post-value comment into the end-of-line part (stays) and the lines below (move)."""
    value = getattr(token, "value", None)
    if not isinstance(value, str) or "\n" not in value:
        return token, None
    i = value.index("\n")
    head, rest = value[: i + 1], value[i + 1:]
    if not rest:
        return token, None
    keep = copy.copy(token)
    keep.value = head
    move = copy.copy(token)
    move.value = "\n" + rest
    return (keep if head.strip() else None), move


def append_feeds(doc: ConfigDocument, feeds: list[NewFeed]) -> None:
    """Append ``feeds`` to the document's ``feeds:`` list (created if missing)."""
    if not feeds:
        return
    seq = doc.root.get("feeds")
    if seq is None or (isinstance(seq, list) and not seq):
        seq = CommentedSeq()
        if "feeds" in doc.root:
            doc.root["feeds"] = seq
        else:
            doc.root.insert(len(doc.root), "feeds", seq)
    if not isinstance(seq, CommentedSeq):
        raise MonitorError(f"{doc.path}: 'feeds' is not a list; fix it by hand first")
    trailing = _pop_trailing(seq) if len(seq) else None
    for f in feeds:
        seq.append(_feed_node(f))
    if trailing is not None:
        _put_trailing(seq[-1], trailing)


def save(doc: ConfigDocument) -> str:
    """Validate the edited document and atomically replace the file. Returns the new text."""
    text = doc.dump()
    directory = doc.path.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".yaml", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        new = _problems(Path(tmp)) - _problems(doc.path)
        if new:
            listed = "; ".join(f"{k}: {m}" if k else m for k, m in sorted(new)[:5])
            raise MonitorError(f"the edited config would be invalid, {doc.path} left unchanged: {listed}")
        try:
            os.chmod(tmp, os.stat(doc.path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, doc.path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    doc.text = text
    return text


def _problems(path: Path) -> set[tuple[str, str]]:
    try:
        load_config(path, check_dirs=False)
    except ConfigError as e:
        return {(p.key, p.message) for p in e.problems}
    return set()


def add_feeds(path: Path, feeds: list[NewFeed]) -> str:
    """Append ``feeds`` to the config at ``path`` keeping everything else as written."""
    doc = load_document(path)
    append_feeds(doc, feeds)
    return save(doc)
