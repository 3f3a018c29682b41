"""news-monitor: a self-hosted, scheduled, multilingual news-monitoring service.

Errors and problems reported to the user.

    MonitorError
     +-- ConfigError        config.yaml or a watchlist is unusable (carries Problems)
     +-- StoreError         the SQLite state could not be written or read
     +-- ModelError         a translation model could not be listed, fetched or installed
     |                      (kind: "offline" when the package index is unreachable)
     +-- DeliveryError      a digest channel failed (transient says whether a retry may help)

Elsewhere, on purpose: ``monitor.analysis.model_archive.ArchiveError`` and ``monitor.cli.UsageError``
are MonitorErrors of their own modules. A feed that cannot be fetched raises nothing: the
fetcher returns a ``FetchResult`` whose ``error_kind`` names the failure, and the feed's health
records it.

A :class:`Problem` is one located complaint about a user-edited file: the
file, line and column (1-based) and the key it concerns, with a hint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__version__ = "0.1.0"


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


class StoreError(MonitorError):
    pass


ModelErrorKind = Literal["offline", "other"]


class ModelError(MonitorError):
    """A translation model could not be listed, fetched or installed. ``kind`` is "offline" when
    the package index or download could not be reached at all (trying other pairs is futile)."""

    def __init__(self, message: str, *, kind: ModelErrorKind = "other") -> None:
        super().__init__(message)
        self.kind: ModelErrorKind = kind


class DeliveryError(MonitorError):
    """A channel failed; ``transient`` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool, code: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.retry_after = retry_after


def relpath(path: Path | str) -> str:
    """A path as the user would like to read it (relative to cwd if below it)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)
