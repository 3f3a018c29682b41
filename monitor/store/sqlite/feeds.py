"""Feeds: rows, fetch results and health, activity for the digest's feed notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from monitor import StoreError
from monitor.store.api import SEED_FEED_URL, FeedActivity, FeedState, FeedUpdate
from monitor.store.sqlite.base import Db

FEED_COLS = ", ".join(f.name for f in fields(FeedState))


def feed_state(row: Sequence[object]) -> FeedState:
    return FeedState(*row)  # type: ignore[arg-type]


class SqliteFeeds:
    def __init__(self, db: Db) -> None:
        self.db = db

    def sync(self, feeds: Sequence[tuple[str, str]]) -> dict[str, int]:
        with self.db.transaction():
            self.db.many("INSERT INTO feeds(url, name) VALUES (?, ?) "
                         "ON CONFLICT(url) DO UPDATE SET name=excluded.name", list(feeds))
        return {url: int(i) for i, url in self.db.all("SELECT id, url FROM feeds")}

    def get(self, feed_id: int) -> FeedState:
        row = self.db.one(f"SELECT {FEED_COLS} FROM feeds WHERE id=?", (feed_id,))
        if row is None:
            raise StoreError(f"no feed with id {feed_id}")
        return feed_state(row)

    def all(self) -> list[FeedState]:
        return [feed_state(r) for r in self.db.all(f"SELECT {FEED_COLS} FROM feeds ORDER BY name")]

    def record_fetch(self, feed_id: int, update: FeedUpdate) -> None:
        sets = [f"{k}=?" for k in update.values]  # names checked by FeedUpdate
        args: list[object] = list(update.values.values())
        if update.new_items:
            sets.append("items_total = items_total + ?")
            args.append(update.new_items)
        if not sets:
            return
        with self.db.transaction():
            self.db.run(f"UPDATE feeds SET {', '.join(sets)} WHERE id=?", (*args, feed_id))

    def activity(self) -> list[FeedActivity]:
        rows = self.db.all(f"SELECT {FEED_COLS}, (SELECT MIN(fetched) FROM items WHERE feed_id=feeds.id) "
                           "FROM feeds WHERE url != ? ORDER BY name", (SEED_FEED_URL,))
        return [FeedActivity(feed_state(r[:-1]), r[-1]) for r in rows]
