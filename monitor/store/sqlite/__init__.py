"""The SQLite backend: one connection, sub-stores by entity (see monitor.store.api)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, Self

from monitor.store.sqlite.base import Db, connect
from monitor.store.sqlite.caches import SqliteCaches
from monitor.store.sqlite.feeds import SqliteFeeds
from monitor.store.sqlite.items import SqliteItems
from monitor.store.sqlite.ledger import SqliteLedger
from monitor.store.sqlite.lsh import SqliteLsh
from monitor.store.sqlite.meta import SqliteMeta
from monitor.store.sqlite.story import SqliteStory

LEDGER_KEEP = 400 * 86400  # sent and failed digests are kept this long


class _Connection(Protocol):
    def transaction(self, *, durable: bool = False) -> AbstractContextManager[None]: ...
    def close(self) -> None: ...


class ComposedStore:
    """What both backends' stores do alike: they compose the same sub-stores (PostgreSQL's
    subclass SQLite's where they must lock differently), so retention and closing are one copy."""

    db: _Connection
    items: SqliteItems
    ledger: SqliteLedger
    caches: SqliteCaches

    def transaction(self, *, durable: bool = False) -> AbstractContextManager[None]:
        return self.db.transaction(durable=durable)

    def purge(self, older_than: float) -> int:
        """Items fetched before ``older_than`` and their matches, full-text cache entries as old,
        sent and failed digests older than LEDGER_KEEP; fingerprints and signatures stay."""
        with self.db.transaction():
            n = self.items.purge(older_than)
            self.ledger.purge(time.time() - LEDGER_KEEP)
            self.caches.fulltext.purge(older_than)
        return n

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteStore(ComposedStore):
    """The store on one SQLite file (``path``; None: a private in-memory database)."""

    db: Db

    def __init__(self, path: Path | None, *, readonly: bool = False) -> None:
        self.path = path
        self.db = Db(connect(path, readonly=readonly), path)
        self.feeds = SqliteFeeds(self.db)
        self.items = SqliteItems(self.db)
        self.ledger = SqliteLedger(self.db)
        self.caches = SqliteCaches(self.db)
        self.lsh = SqliteLsh(self.db)
        self.story = SqliteStory(self.db)
        self.meta = SqliteMeta(self.db)

    def schema_version(self) -> int:
        return int(self.db.one("PRAGMA user_version")[0])  # type: ignore[index]
