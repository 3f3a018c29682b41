"""Caches of one shape (key -> value, status, fetched): article full text, robots.txt; and the
translation cache (source hash and languages, model version -> text)."""

from __future__ import annotations

from collections.abc import Sequence

from monitor.store.api import CachedValue
from monitor.store.sqlite.base import Db


class SqliteKeyValueCache:
    """``table(key_col PRIMARY KEY, value_col, status, fetched)``."""

    def __init__(self, db: Db, table: str, key_col: str, value_col: str) -> None:
        self.db = db
        self._get = f"SELECT {value_col}, status, fetched FROM {table} WHERE {key_col}=?"
        self._put = f"INSERT OR REPLACE INTO {table}({key_col}, {value_col}, status, fetched) VALUES (?, ?, ?, ?)"
        self._clear = f"DELETE FROM {table}"
        self._purge = f"DELETE FROM {table} WHERE fetched < ?"

    def get(self, key: str) -> CachedValue | None:
        row = self.db.one(self._get, (key,))
        return None if row is None else CachedValue(row[0], row[1], float(row[2] or 0.0))

    def put(self, key: str, value: CachedValue) -> None:
        self.db.run(self._put, (key, value.value, value.status, value.fetched))

    def delete_all(self) -> None:
        self.db.run(self._clear)

    def purge(self, older_than: float) -> None:
        self.db.run(self._purge, (older_than,))


class SqliteTranslationCache:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get_many(self, keys: Sequence[tuple[str, str]], target: str, version: str) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        for sha, src in keys:
            row = self.db.one("SELECT translated FROM translation_cache WHERE source_sha256=? AND source_lang=? "
                              "AND target_lang=? AND model_version=?", (sha, src, target, version))
            if row is not None:
                found[(sha, src)] = row[0]
        return found

    def put_many(self, rows: Sequence[tuple[str, str, str]], target: str, version: str, now: float) -> None:
        if not rows:
            return
        with self.db.transaction():
            self.db.many("INSERT OR REPLACE INTO translation_cache(source_sha256, source_lang, target_lang, "
                         "model_version, translated, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                         [(sha, src, target, version, out, now) for sha, src, out in rows])


class SqliteCaches:
    def __init__(self, db: Db) -> None:
        self.fulltext = SqliteKeyValueCache(db, "fulltext_cache", "url", "text")
        self.robots = SqliteKeyValueCache(db, "robots_cache", "origin", "body")
        self.translations = SqliteTranslationCache(db)
