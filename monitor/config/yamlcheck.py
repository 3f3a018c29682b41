"""One YAML problem collector for config.yaml and the watchlist files.

Both files are read with ruamel (round-trip nodes that remember where each key and value sits)
and validated in full: every problem is collected, with its 1-based line and column, the dotted
key it concerns and a hint, before anything is refused. This module holds what the two checkers
share:

- :func:`position`: where a key, its value, a list item or a node sits;
- :func:`closest` / :func:`suggest`: the "did you mean ..." for a misspelt key or value;
- :func:`kind_of`: how a wrong value is named in a message ("number 3", "a list");
- :class:`ProblemCollector`: the list of :class:`~monitor.Problem` and the unknown-key
  check, which ``monitor.config`` and ``monitor.analysis.watchlists`` extend with their own typed getters.

Pure: no I/O (the callers read and parse the files).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from monitor import Problem

Position = tuple[int | None, int | None]


def position(container: Any, key: Any = None, of_key: bool = False) -> Position:
    """1-based (line, column) of ``container[key]`` (or of the key itself), else of the container;
    (None, None) for a value that did not come from a YAML node."""
    lc = getattr(container, "lc", None)
    if lc is None:
        return None, None
    try:
        if key is not None and isinstance(container, Mapping):
            line, col = lc.key(key) if of_key else lc.value(key)
        elif key is not None:
            line, col = lc.item(key)
        else:
            line, col = lc.line, lc.col
    except (KeyError, IndexError, TypeError, AttributeError):
        line, col = lc.line, lc.col
    return line + 1, col + 1


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to a misspelt ``word`` (difflib, ratio 0.6 or more), or None."""
    m = difflib.get_close_matches(str(word), sorted(options) if isinstance(options, (set, frozenset))
                                  else list(options), n=1)
    return m[0] if m else None


def suggest(word: str, options: Iterable[str]) -> str:
    """ "did you mean 'x'?" for the closest option, "" when none is close."""
    close = closest(word, options)
    return f"did you mean '{close}'?" if close else ""


def join_key(path: str, key: str) -> str:
    """The dotted key of ``key`` below ``path`` ("digest" + "formats" -> "digest.formats")."""
    return f"{path}.{key}" if path else key


def kind_of(v: Any) -> str:
    """A wrong value as a message names it: "nothing", "boolean True", "number 3", "text 'x'"."""
    if v is None:
        return "nothing"
    if isinstance(v, bool):
        return f"boolean {v}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, Mapping):
        return "a mapping"
    return type(v).__name__


class ProblemCollector:
    """Collects every :class:`Problem` of one file while a checker walks its YAML tree."""

    def __init__(self, file: str):
        self.file = file  # as the user reads it (relative to cwd when below it)
        self.problems: list[Problem] = []

    def err(self, at: Position, key: str, message: str, hint: str = "") -> None:
        """A problem at a known position."""
        self.problems.append(Problem(self.file, at[0], at[1], key, message, hint))

    def add(self, node: Any, key: Any, dotted: str, message: str, hint: str = "", *, value: bool = True) -> None:
        """A problem with ``node[key]`` (its value, or with ``value=False`` the key itself)."""
        self.err(position(node, key, of_key=not value), dotted, message, hint)

    def unknown_keys(self, m: Mapping[Any, Any], allowed: Iterable[str], path: str, *,
                     listing: str = "allowed keys") -> None:
        """A problem for each key of ``m`` not in ``allowed``: "did you mean" the closest one, or
        the list of keys (in the order given; sets are sorted)."""
        names = sorted(allowed) if isinstance(allowed, (set, frozenset)) else list(allowed)
        for k in m:
            if k not in names:
                hint = suggest(str(k), names) or f"{listing}: " + ", ".join(names)
                self.err(position(m, k, of_key=True), join_key(path, str(k)), "unknown key", hint)
