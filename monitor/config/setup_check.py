"""`monitor check` rules that look at config.yaml and the watchlists together.

Each watchlist on its own is validated by :mod:`monitor.analysis.watchlists`; these rules catch set-ups
that load but cannot work: an e-mail digest without an ``smtp:`` block, or a language tag that
is not a language code we know (``arm:`` for Armenian, which silently loses the Armenian
stemmer: the hint says ``hy``). Every problem names the watchlist file, line and column.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from monitor import Problem, relpath
from monitor.analysis.language_codes import code_problem
from monitor.config import Config

# keys of the watchlist grammar that look like language codes (2-3 lower-case letters)
_GRAMMAR_SHORT_KEYS = frozenset({"any", "all", "not"})
_LANGUAGE_LIST_KEYS = frozenset({"languages", "exclude_languages"})


def _pos(node: Any, key: Any, *, of_key: bool = False) -> tuple[int | None, int | None]:
    try:
        if isinstance(node, CommentedMap):
            line, col = node.lc.key(key) if of_key else node.lc.value(key)
        elif isinstance(node, CommentedSeq):
            line, col = node.lc.item(key)
        else:
            return None, None
        return line + 1, col + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return None, None


def _looks_like_code(value: Any) -> bool:
    return isinstance(value, str) and 2 <= len(value) <= 3 and value.isascii() and value.isalpha() \
        and value.islower()


def _language_tags(node: Any, path: str) -> Iterator[tuple[str, Any, Any, bool, str]]:
    """(code, container, key, is_key, dotted path) for every language tag in a watchlist tree."""
    if isinstance(node, CommentedMap):
        for k, v in node.items():
            dotted = f"{path}.{k}" if path else str(k)
            if k == "lang" and _looks_like_code(v):
                yield v, node, k, False, dotted
            elif k in _LANGUAGE_LIST_KEYS and isinstance(v, CommentedSeq):
                for i, code in enumerate(v):
                    if _looks_like_code(code):
                        yield code, v, i, False, f"{dotted}[{i}]"
            elif _looks_like_code(k) and k not in _GRAMMAR_SHORT_KEYS and \
                    path not in ("", "aliases", "digest", "filters"):
                yield k, node, k, True, dotted
            yield from _language_tags(v, dotted)
    elif isinstance(node, CommentedSeq):
        for i, v in enumerate(node):
            yield from _language_tags(v, f"{path}[{i}]")


def _load_yaml(path: Path) -> Any:
    try:
        return YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the watchlist loader reports unreadable files and bad YAML
        return None


def watchlist_setup_problems(config: Config, watchlists: list[Any]) -> list[Problem]:
    """Problems of the loaded watchlists that only show against config.yaml or the code tables."""
    problems: list[Problem] = []
    for wl in watchlists:
        path = Path(wl.path)
        root = _load_yaml(path)
        file = relpath(path)
        if "email" in wl.digest.formats and config.smtp is None:
            digest = root.get("digest") if isinstance(root, CommentedMap) else None
            line, col = _pos(digest, "formats") if isinstance(digest, CommentedMap) else (None, None)
            problems.append(Problem(file, line, col, "digest.formats",
                                    f"format email needs an smtp: block in {relpath(config.path)}",
                                    "add smtp: with at least host: and from: (README, 'Mail server')"))
        if root is None:
            continue
        seen: set[tuple[str, int | None]] = set()
        for code, container, key, is_key, dotted in _language_tags(root, ""):
            bad = code_problem(code)
            if bad is None:
                continue
            line, col = _pos(container, key, of_key=is_key)
            if (code, line) in seen:
                continue
            seen.add((code, line))
            problems.append(Problem(file, line, col, dotted, bad.message, bad.hint))
    return problems


def database_problems(config: Config) -> list[str]:
    """A PostgreSQL ``database:`` that cannot be used: the server unreachable, the password missing or
    refused, a schema newer than this news-monitor. Nothing is changed on the server. (A SQLite file
    is created on first use: nothing to check.)"""
    from monitor import StoreError
    from monitor.config.database_url import PostgresUrl

    if not isinstance(config.database, PostgresUrl):
        return []
    from monitor.store.postgres.base import inspect

    where = f"{relpath(config.path)}: database"
    password = config.database.password  # from the environment or the credential file
    try:
        inspect(config.database.url, password)
    except StoreError as e:
        hint = "" if password else (" (no password given: set MONITOR_DATABASE_PASSWORD or provide "
                                    "$CREDENTIALS_DIRECTORY/database-password)")
        return [f"{where}: {e}{hint}"]
    return []


def device_problems(config: Config) -> list[str]:
    """``translation.device: cuda`` on a machine where CTranslate2 finds no CUDA device."""
    from monitor import ModelError

    tr = config.translation
    if not tr.enabled or tr.device == "cpu":
        return []
    from monitor.analysis.translate import resolve_device

    try:
        resolve_device(tr.device)
    except ModelError as e:
        return [f"{relpath(config.path)}: {e}"]
    return []
