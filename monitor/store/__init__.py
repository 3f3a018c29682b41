"""The store: the only package that speaks SQL.

``open_store(path_or_url)`` picks the backend: a file path or ``sqlite:///path`` is SQLite;
``postgresql://`` is served by the PostgreSQL backend (monitor.store.postgres). Callers program against the
Protocols of :mod:`monitor.store.api` and its typed rows. Also here: delivery claim tokens
and the daemon-role lock (a file lock beside the database, not SQL).
"""

from __future__ import annotations

import fcntl
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from monitor import StoreError
from monitor.store.api import (
    ApplyResult,
    CachedValue,
    ChannelSummary,
    DigestRecord,
    FeedActivity,
    FeedState,
    FeedUpdate,
    ItemRef,
    MatchedItem,
    MatchRecord,
    NewDigest,
    NewItem,
    RefusedDigest,
    SignatureRecord,
    Store,
    StoredItem,
    StoryDoc,
    TranslationGroup,
)
from monitor.store.atomic import write_atomic

__all__ = ["ApplyResult", "CachedValue", "ChannelSummary", "DigestRecord", "FeedActivity", "FeedRow", "FeedState",
           "FeedUpdate", "ItemRef", "MatchRecord", "MatchedItem", "NewDigest", "NewItem", "RefusedDigest",
           "SignatureRecord", "Store", "StoredItem", "StoryDoc", "TranslationGroup", "open_store", "claim_token",
           "claim_holder", "DaemonLock", "acquire_daemon_lock", "daemon_lock_path", "write_atomic"]

FeedRow = FeedState  # the name callers used before the store was typed


class ServerAddress(Protocol):
    """A database server as config.yaml names it (monitor.config.database_url.PostgresUrl, which the
    store may not import): its str() is the ``postgresql://`` URL, without the password."""

    @property
    def password(self) -> str | None: ...


def open_store(where: str | Path | ServerAddress | None, *, readonly: bool = False,
               password: str | None = None) -> Store:
    """The store at ``where``: a path or ``sqlite:///path`` (SQLite), None (a private in-memory
    SQLite database), or ``postgresql://user@host[:port]/db`` (PostgreSQL; ``password``, else the
    ``password`` that config.yaml's ``database:`` value carries from the environment)."""
    from monitor.store.sqlite import SqliteStore

    if where is None or isinstance(where, Path):
        return SqliteStore(where, readonly=readonly)
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        from monitor.store.postgres import PostgresStore

        if password is None:
            password = getattr(where, "password", None)  # monitor.config.database_url.PostgresUrl
        return PostgresStore(text, password)
    if text.startswith("sqlite:///"):
        return SqliteStore(Path(text[len("sqlite:///"):]), readonly=readonly)  # sqlite:////abs/path
    if "://" in text:
        raise StoreError(f"unknown database address {text!r}: use a file path, sqlite:///path or postgresql://")
    return SqliteStore(Path(text), readonly=readonly)


# ---- delivery claims ---------------------------------------------------------------------------

def claim_token() -> str:
    """A token naming this process (pid) and this one delivery."""
    return f"{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim_holder(row: DigestRecord, now: float) -> int | None:
    """The pid of a live process whose unexpired claim is on ``row``, else None (free or stale)."""
    if not row.claim or not row.claim_until or row.claim_until <= now:
        return None
    try:
        pid = int(row.claim.split(":", 1)[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return None  # its process is gone (killed mid-delivery): the claim is stale
    except PermissionError:
        return pid  # alive, under another user
    return pid


# ---- the daemon role -----------------------------------------------------------------------------

@dataclass
class DaemonLock:
    """An exclusive lock (flock) on ``<database>.daemon.lock`` held for the daemon's lifetime.
    The kernel drops it when the process ends, however it ends: a killed daemon never leaves
    a stale lock behind."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def daemon_lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".daemon.lock")


def acquire_daemon_lock(database: Path) -> DaemonLock:
    """Take the daemon role for ``database``; StoreError naming the holder's pid if another has it."""
    path = daemon_lock_path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise StoreError(f"cannot open the daemon lock {path}: {e.strerror or e}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        finally:
            os.close(fd)
        raise StoreError(f"another news-monitor daemon (pid {holder}) is already running on {database} "
                         f"(lock {path}); stop it first, or give this one another state directory") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    return DaemonLock(path, fd)
