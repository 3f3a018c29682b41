"""Key-value settings of the state (daemon heartbeat, pid, digest runs, id counter)."""

from __future__ import annotations

from monitor.store.sqlite.base import Db


class SqliteMeta:
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else row[0]

    def set(self, key: str, value: str) -> None:
        self.db.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value))

    def delete(self, key: str) -> None:
        self.db.run("DELETE FROM meta WHERE key=?", (key,))
