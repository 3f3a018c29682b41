"""Compiled watchlists cached on disk, keyed by what they are compiled from.

Validating and compiling the watchlist files (YAML with positions, lexicon, morphology) is
most of a warm cycle's start-up (0.2-1 s on 2 cores). :func:`load_watchlists_cached` keeps
the result of :func:`monitor.analysis.watchlists.load_watchlists` in one file in the state directory
and reuses it while nothing it was compiled from has changed: the key is a SHA-256 over the
watchlist files (names and bytes), the directory, the working directory (problem locations
are relative to it), the Python version and the source of the ``monitor`` package (a new
release compiles afresh). Any other file, or a cache that does not read back, means a
normal load, and the cache is rewritten atomically. The cache lives in the service's own
state directory (never shared with other users), so reading it back with pickle trusts
nothing that the service did not write itself.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from functools import lru_cache
from pathlib import Path

from monitor import Problem
from monitor.analysis.watchlists import Watchlist, load_watchlists
from monitor.store import write_atomic

__all__ = ["load_watchlists_cached", "cache_key"]

_FORMAT = b"watchlist-cache 1"


@lru_cache(maxsize=1)
def _code_digest() -> bytes:
    """The source of every module of the package (read once per process)."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    for path in sorted(pkg.rglob("*.py")):
        h.update(str(path.relative_to(pkg)).encode())
        h.update(path.read_bytes())
    return h.digest()


def cache_key(directory: Path) -> str | None:
    """The key of the watchlists in ``directory`` as they are now; None when they cannot be read."""
    d = Path(directory)
    h = hashlib.sha256(_FORMAT)
    h.update(sys.version.encode())
    h.update(_code_digest())
    h.update(os.getcwd().encode())
    try:
        h.update(str(d.resolve()).encode())
        for path in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            h.update(b"\0" + path.name.encode() + b"\0")
            h.update(path.read_bytes())
    except OSError:
        return None
    return h.hexdigest()


def load_watchlists_cached(directory: Path, cache: Path | None) -> tuple[list[Watchlist], list[Problem]]:
    """:func:`monitor.analysis.watchlists.load_watchlists`, read from ``cache`` when it holds this very input."""
    if cache is None or not Path(directory).is_dir():
        return load_watchlists(directory)
    key = cache_key(directory)
    if key is None:
        return load_watchlists(directory)
    try:
        with open(cache, "rb") as fh:
            stored_key, result = pickle.load(fh)
        if stored_key == key:
            return result
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
        pass
    result = load_watchlists(directory)
    _write(cache, key, result)
    return result


def _write(cache: Path, key: str, result: tuple[list[Watchlist], list[Problem]]) -> None:
    """Store the compiled watchlists; a read-only state directory means no cache (every start compiles)."""
    try:
        write_atomic(cache, lambda fh: pickle.dump((key, result), fh, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
