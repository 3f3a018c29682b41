"""The PostgreSQL connection pool, transactions, and migrations (the SQLite ones, translated).

``PgDb`` has the shape of ``monitor.store.sqlite.base.Db`` (``all``, ``one``, ``run``, ``many``,
``transaction``), so the sub-stores' SQL is shared; each statement goes through
``dialect.statement``. A pool (psycopg_pool) serves the daemon's threads: outside a transaction
a statement borrows a connection and commits on its own (autocommit); inside
``transaction()`` the thread keeps one connection until COMMIT, and nested calls join it.

The schema version is the row of ``schema_version``; migrations run under an advisory lock, so
two workers starting at once apply each migration once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool

from monitor import StoreError
from monitor.store.postgres.dialect import ddl, returns_id, statement
from monitor.store.sqlite.base import split_sql
from monitor.store.sqlite.schema import MIGRATIONS

MIGRATION_LOCK = 0x6E6D6F6E  # pg_advisory_xact_lock key held while migrating ("nmon")
CONNECT_TIMEOUT = 10  # seconds


def describe(e: BaseException) -> str:
    """psycopg's message on one line (libpq's can span several)."""
    return " ".join(str(e).split()) or type(e).__name__


def probe(conninfo: str, password: str | None, *, timeout: int = CONNECT_TIMEOUT) -> psycopg.Connection:
    """One connection, or StoreError saying why the server cannot be used (unreachable, refused)."""
    try:
        return psycopg.connect(conninfo, password=password, connect_timeout=timeout, autocommit=True)
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to the PostgreSQL database {conninfo}: {describe(e)}") from None


def schema_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(got[0]) if got else 0


def check_version(version: int, where: str) -> None:
    if version > len(MIGRATIONS):
        raise StoreError(f"the database {where} has schema version {version}, newer than this news-monitor "
                         f"({len(MIGRATIONS)}); upgrade news-monitor")


def migrate(conn: psycopg.Connection, where: str) -> int:
    """Apply the migrations this database lacks (under an advisory lock: workers may start together)."""
    check_version(schema_version(conn), where)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        version = schema_version(conn)
        check_version(version, where)
        for i in range(version, len(MIGRATIONS)):
            for stmt in split_sql(MIGRATIONS[i]):
                conn.execute(ddl(stmt))
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (max(version, len(MIGRATIONS)),))
    return len(MIGRATIONS)


class PgDb:
    """The pool and the per-thread transaction shared by the sub-stores."""

    path = None  # no database file (no sidecar index beside it)

    def __init__(self, conninfo: str, password: str | None, *, max_size: int = 8) -> None:
        self.where = conninfo
        with probe(conninfo, password) as conn:
            try:
                migrate(conn, conninfo)
            except psycopg.Error as e:
                raise StoreError(f"cannot use the PostgreSQL database {conninfo}: {describe(e)}") from None
        self.pool = psycopg_pool.ConnectionPool(
            conninfo, min_size=1, max_size=max_size, open=False, name="monitor",
            kwargs={"password": password, "autocommit": True, "connect_timeout": CONNECT_TIMEOUT})
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
        except psycopg_pool.PoolTimeout as e:
            raise StoreError(f"cannot connect to the PostgreSQL database {conninfo}: {describe(e)}") from None
        self._local = threading.local()

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """This thread's transaction's connection, else one borrowed from the pool."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.pool.connection() as conn:
            yield conn

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.connection() as conn:
            return conn.execute(statement(sql), tuple(args)).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.connection() as conn:
            row: tuple[Any, ...] | None = conn.execute(statement(sql), tuple(args)).fetchone()
            return row

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute a write; for an INSERT into a table with a generated id, returns that id."""
        with self.connection() as conn:
            cur = conn.execute(statement(sql), tuple(args))
            if returns_id(sql):
                row = cur.fetchone()
                return int(row[0]) if row else 0
            return 0

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        with self.connection() as conn:
            with conn.cursor() as cur:
                cur.executemany(statement(sql), rows)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[None]:
        """BEGIN ... COMMIT on one connection of this thread; inside an open one, joins it.
        PostgreSQL commits are durable (synchronous_commit) whatever ``durable`` says."""
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self.pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield
            finally:
                self._local.conn = None

    def in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    def close(self) -> None:
        self.pool.close()


def inspect(conninfo: str, password: str | None) -> int:
    """The database's schema version (0: empty) without changing anything; StoreError when the server
    cannot be reached or the schema is newer than this code (for ``monitor check``)."""
    with probe(conninfo, password) as conn:
        try:
            version = schema_version(conn)
        except psycopg.Error as e:
            raise StoreError(f"cannot read the PostgreSQL database {conninfo}: {describe(e)}") from None
    check_version(version, conninfo)
    return version
