"""Copy a SQLite state into PostgreSQL (``monitor db migrate --to postgresql://...``).

Every table of the shared schema, in an order that keeps references valid, in batches that each
commit; a row already in the target is skipped (ON CONFLICT DO NOTHING), so an interrupted copy
is resumed by running it again. Then identity counters are moved past the copied ids and each
table's row count is compared with the source's: a difference is an error naming the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor import StoreError
from monitor.store.postgres import PostgresStore
from monitor.store.sqlite import SqliteStore

# parents first (items refer to feeds)
TABLES = ("feeds", "items", "fingerprints", "matches", "digests", "deliveries", "story_deliveries",
          "watchlist_state", "meta", "neardup_meta", "neardup_docs", "neardup_bands", "story_docs", "story_df",
          "story_terms", "fulltext_cache", "robots_cache", "translation_cache")
IDENTITY = ("feeds", "items", "digests", "neardup_docs", "story_docs")  # tables whose id PostgreSQL generates
BATCH = 2000


@dataclass(frozen=True)
class TableCopy:
    table: str
    source: int  # rows in SQLite
    copied: int  # rows this run added (the rest were there from an earlier run)
    target: int  # rows in PostgreSQL at the end


def copy_state(source: SqliteStore, target: PostgresStore, *, batch: int = BATCH,
               progress: Callable[[TableCopy], None] | None = None) -> list[TableCopy]:
    if source.schema_version() != target.schema_version():
        raise StoreError(f"schema versions differ (SQLite {source.schema_version()}, PostgreSQL "
                         f"{target.schema_version()}): run this news-monitor on both first")
    out = []
    for table in TABLES:
        cols, _ = source.db.columns(f"SELECT * FROM {table} LIMIT 0")
        total = int(source.db.one(f"SELECT COUNT(*) FROM {table}")[0])  # type: ignore[index]
        before = _count(target, table)
        insert = (f"INSERT OR IGNORE INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})")
        order = ", ".join(cols)  # a stable order over every column (some tables have no rowid)
        offset = 0
        while offset < total:
            rows = source.db.all(f"SELECT {order} FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (batch, offset))
            if not rows:
                break
            with target.transaction():
                target.db.many(insert, rows)
            offset += len(rows)
        after = _count(target, table)
        row = TableCopy(table, total, after - before, after)
        out.append(row)
        if progress:
            progress(row)
    for table in IDENTITY:
        key = "item_id" if table == "story_docs" else "id"
        target.db.one(f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                      f"(SELECT COALESCE(MAX({key}), 0) + 1 FROM {table}), false)")
    bad = [c for c in out if c.target != c.source]
    if bad:
        raise StoreError("counts differ after the copy: " + "; ".join(
            f"{c.table}: SQLite {c.source}, PostgreSQL {c.target}" for c in bad)
            + " (the PostgreSQL database was not empty, or the SQLite state changed during the copy)")
    return out


def _count(store: PostgresStore, table: str) -> int:
    return int(store.db.one(f"SELECT COUNT(*) FROM {table}")[0])  # type: ignore[index]
