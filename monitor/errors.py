"""Errors and problems reported to the user.

    MonitorError
     +-- ConfigError        config.yaml or a watchlist is unusable (carries Problems)
     +-- FetchError         a feed could not be fetched (kind names the failure)
     +-- StoreError         the SQLite state could not be written or read

A :class:`Problem` is one located complaint about a user-edited file: the
file, line and column (1-based) and the key it concerns, with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    column: int | None
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


class MonitorError(Exception):
    """Base of every error news-monitor raises on purpose."""


class ConfigError(MonitorError):
    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class FetchError(MonitorError):
    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class StoreError(MonitorError):
    pass


def relpath(path: Path | str) -> str:
    """A path as the user would like to read it (relative to cwd if below it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
