"""The PostgreSQL backend: one server shared by several workers (see monitor.store.api).

``PostgresStore("postgresql://user@host:port/db", password)`` connects through a pool
(psycopg 3, psycopg_pool), applies the migrations (SQLite's, in PostgreSQL's dialect) and
composes the same sub-stores as the SQLite backend; the few that must lock differently are in
``entities``. ``leases`` holds what only several workers need: workers, heartbeats, feed leases.
"""

from __future__ import annotations

from monitor.store.postgres.base import PgDb, schema_version
from monitor.store.postgres.entities import PgItems, PgLedger, PgLsh
from monitor.store.postgres.leases import PgLeases
from monitor.store.sqlite import ComposedStore
from monitor.store.sqlite.caches import SqliteCaches
from monitor.store.sqlite.feeds import SqliteFeeds
from monitor.store.sqlite.meta import SqliteMeta
from monitor.store.sqlite.story import SqliteStory


class PostgresStore(ComposedStore):
    """The store on a PostgreSQL database (``url`` without its password)."""

    db: PgDb

    def __init__(self, url: str, password: str | None = None, *, pool_size: int = 8) -> None:
        self.url = url
        self.path = None
        self.db = PgDb(url, password, max_size=pool_size)
        self.feeds = SqliteFeeds(self.db)  # type: ignore[arg-type]
        self.items = PgItems(self.db)  # type: ignore[arg-type]
        self.ledger = PgLedger(self.db)  # type: ignore[arg-type]
        self.caches = SqliteCaches(self.db)  # type: ignore[arg-type]
        self.lsh = PgLsh(self.db)  # type: ignore[arg-type]
        self.story = SqliteStory(self.db)  # type: ignore[arg-type]
        self.meta = SqliteMeta(self.db)  # type: ignore[arg-type]
        self.leases = PgLeases(self.db)

    def schema_version(self) -> int:
        with self.db.connection() as conn:
            return schema_version(conn)
