"""The SQLite connection: open, PRAGMAs, migrations and transactions.

WAL mode; writes that must survive a power cut (the delivery ledger) run with
``synchronous=FULL``, the rest with NORMAL, which in WAL mode can lose at most the last
transactions on power loss but never corrupts the file. One connection serves every thread
of a process: a re-entrant lock is held for each statement and for the whole of a transaction,
so a thread never writes into another thread's transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor import StoreError
from monitor.store.sqlite.schema import MIGRATIONS

CHUNK = 500  # ids or keys per IN (...) list


def connect(path: Path | None, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database; ``None`` is a private in-memory one."""
    try:
        if path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        elif readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot open database {path}: {e}") from None
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            migrate(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(f"cannot use database {path}: {e}") from None
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; StoreError if it is newer than this code."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(f"the database has schema version {version}, newer than this news-monitor "
                         f"({len(MIGRATIONS)}); upgrade news-monitor")
    for i in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] <= i:  # else another process applied it
                for stmt in split_sql(MIGRATIONS[i]):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={i + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(MIGRATIONS)


def split_sql(script: str) -> list[str]:
    """The statements of a migration (``--`` comments dropped)."""
    out, buf = [], []
    for line in script.splitlines():
        line = line.split("--", 1)[0]
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip().rstrip(";")
            if stmt:
                out.append(stmt)
            buf = []
    rest = "\n".join(buf).strip()
    if rest:
        out.append(rest)
    return out


def marks(n: int) -> str:
    return ",".join("?" * n)


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


class Db:
    """The connection, its lock and the transaction helper shared by the sub-stores."""

    def __init__(self, conn: sqlite3.Connection, path: Path | None) -> None:
        self.conn = conn
        self.path = path
        self.lock = threading.RLock()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        with self.lock:
            row: tuple[Any, ...] | None = self.conn.execute(sql, args).fetchone()
            return row

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Execute a write (in the open transaction, else on its own); returns lastrowid."""
        with self.lock:
            return int(self.conn.execute(sql, args).lastrowid or 0)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.lock:
            self.conn.executemany(sql, rows)

    def columns(self, sql: str, args: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self.lock:
            cur = self.conn.execute(sql, args)
            rows = cur.fetchall()
            return [d[0] for d in cur.description], rows

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, holding the lock; inside an open one, joins it."""
        with self.lock:
            if self.conn.in_transaction:
                yield  # the outer transaction decides durability
                return
            if durable:
                self.conn.execute("PRAGMA synchronous=FULL")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                if durable:
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                raise StoreError(f"cannot write the database: {e}") from None
            try:
                yield
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            finally:
                if durable:
                    self.conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
