"""Store: the one module that speaks SQL.

SQLite in WAL mode; the schema is versioned with ``PRAGMA user_version`` and
upgraded by the ordered MIGRATIONS below (never edit a released migration:
append a new one). Writes that must survive a power cut (the delivery ledger)
run with ``synchronous=FULL``; the rest with NORMAL, which in WAL mode can lose
at most the last transactions on power loss but never corrupts the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.errors import StoreError

MIGRATIONS: list[str] = [
    # 1: first release
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        title TEXT,
        etag TEXT,
        last_modified TEXT,
        last_fetch REAL,
        last_success REAL,
        last_status INTEGER,
        last_error TEXT,
        error_kind TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        next_poll REAL NOT NULL DEFAULT 0,
        items_total INTEGER NOT NULL DEFAULT 0,
        last_new_item REAL,
        gone_count INTEGER NOT NULL DEFAULT 0,
        disabled_reason TEXT,
        moved_to TEXT
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        feed_id INTEGER NOT NULL REFERENCES feeds(id),
        guid TEXT NOT NULL,
        link TEXT,
        canonical_url TEXT,
        title TEXT NOT NULL,
        summary TEXT NOT NULL,
        author TEXT,
        published REAL,
        fetched REAL NOT NULL,
        language TEXT,
        language_confidence REAL,
        language_script TEXT,
        language_uncertain INTEGER NOT NULL DEFAULT 0,
        content_hash TEXT NOT NULL,
        title_translated TEXT,
        summary_translated TEXT,
        translated_to TEXT,
        translation_status TEXT,
        duplicate_of INTEGER,
        duplicate_kind TEXT,
        duplicate_similarity REAL,
        duplicate_seed TEXT,
        story_id INTEGER,             -- the id of the story's first item
        UNIQUE (feed_id, guid)
    );
    CREATE INDEX items_fetched ON items(fetched);
    CREATE INDEX items_story ON items(story_id);
    CREATE TABLE fingerprints (
        kind TEXT NOT NULL,           -- url | content | guid
        value TEXT NOT NULL,
        item_id INTEGER,              -- first item that had it (may be purged since)
        first_seen REAL NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;
    CREATE TABLE matches (
        item_id INTEGER NOT NULL,
        watchlist TEXT NOT NULL,
        score REAL NOT NULL,
        why TEXT NOT NULL,            -- JSON list of strings
        matched_at REAL NOT NULL,
        PRIMARY KEY (item_id, watchlist)
    ) WITHOUT ROWID;
    CREATE INDEX matches_watchlist ON matches(watchlist, matched_at);
    CREATE TABLE digests (
        id INTEGER PRIMARY KEY,
        watchlist TEXT NOT NULL,
        channel TEXT NOT NULL,        -- markdown | email | atom | webhook
        created REAL NOT NULL,
        period_start REAL NOT NULL,
        period_end REAL NOT NULL,
        status TEXT NOT NULL,         -- pending | sent | failed
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL,
        error TEXT,
        location TEXT,                -- file path or recipient list
        item_ids TEXT NOT NULL        -- JSON list
    );
    CREATE INDEX digests_pending ON digests(status, next_attempt);
    CREATE TABLE deliveries (
        watchlist TEXT NOT NULL,
        channel TEXT NOT NULL,
        item_id INTEGER NOT NULL,
        digest_id INTEGER,
        delivered_at REAL NOT NULL,
        PRIMARY KEY (watchlist, channel, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE story_deliveries (
        watchlist TEXT NOT NULL,
        channel TEXT NOT NULL,
        story_id INTEGER NOT NULL,
        languages TEXT NOT NULL,      -- comma-separated languages already reported
        delivered_at REAL NOT NULL,
        PRIMARY KEY (watchlist, channel, story_id)
    ) WITHOUT ROWID;
    CREATE TABLE watchlist_state (
        name TEXT PRIMARY KEY,
        fingerprint TEXT,             -- hash of the watchlist file last applied
        last_digest REAL,
        last_rematch REAL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    """,
    # 2: full text of summary-only feeds: the digest keeps showing the feed's short summary
    """
    ALTER TABLE items ADD COLUMN summary_short TEXT;
    """,
    # 3: a digest being delivered is claimed by one process (two processes never send it twice)
    """
    ALTER TABLE digests ADD COLUMN claim TEXT;
    ALTER TABLE digests ADD COLUMN claim_until REAL;
    CREATE INDEX digests_channel ON digests(watchlist, channel, status);
    """,
]


@dataclass(frozen=True)
class FeedRow:
    id: int
    url: str
    name: str
    title: str | None
    etag: str | None
    last_modified: str | None
    last_fetch: float | None
    last_success: float | None
    last_status: int | None
    last_error: str | None
    error_kind: str | None
    consecutive_failures: int
    next_poll: float
    items_total: int
    last_new_item: float | None
    gone_count: int
    disabled_reason: str | None
    moved_to: str | None


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the database."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30, check_same_thread=False,
                                   isolation_level=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    except (sqlite3.Error, OSError) as e:
        raise StoreError(f"cannot open database {path}: {e}") from None
    conn.row_factory = sqlite3.Row
    try:
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(f"cannot use database {path}: {e}") from None
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise StoreError(f"the database has schema version {version}, newer than this news-monitor "
                         f"({len(MIGRATIONS)}); upgrade news-monitor")
    for i in range(version, len(MIGRATIONS)):
        with transaction(conn):
            if conn.execute("PRAGMA user_version").fetchone()[0] > i:
                continue  # another process (started at the same moment) applied it meanwhile
            for stmt in _split_sql(MIGRATIONS[i]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version={i + 1}")
    return len(MIGRATIONS)


def _split_sql(script: str) -> list[str]:
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


@contextmanager
def transaction(conn: sqlite3.Connection, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT; ``durable`` switches to synchronous=FULL for this write."""
    if durable:
        conn.execute("PRAGMA synchronous=FULL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        if conn.in_transaction:
            conn.execute("COMMIT")
    finally:
        if durable:
            conn.execute("PRAGMA synchronous=NORMAL")


# ---- feeds -------------------------------------------------------------------------------------

def sync_feeds(conn: sqlite3.Connection, feeds: list[tuple[str, str]]) -> dict[str, int]:
    """Make sure every configured (url, name) has a row; return url -> feed id."""
    with transaction(conn):
        for url, name in feeds:
            conn.execute("INSERT INTO feeds(url, name) VALUES (?, ?) ON CONFLICT(url) DO UPDATE SET name=excluded.name",
                         (url, name))
    return {r["url"]: r["id"] for r in conn.execute("SELECT id, url FROM feeds")}


def get_feed(conn: sqlite3.Connection, feed_id: int) -> FeedRow:
    row = conn.execute("SELECT * FROM feeds WHERE id=?", (feed_id,)).fetchone()
    if row is None:
        raise StoreError(f"no feed with id {feed_id}")
    return FeedRow(**dict(row))


def all_feeds(conn: sqlite3.Connection) -> list[FeedRow]:
    return [FeedRow(**dict(r)) for r in conn.execute("SELECT * FROM feeds ORDER BY name")]


def record_fetch(conn: sqlite3.Connection, feed_id: int, **fields: Any) -> None:
    cols = ", ".join(f"{k}=?" for k in fields)
    with transaction(conn):
        conn.execute(f"UPDATE feeds SET {cols} WHERE id=?", (*fields.values(), feed_id))


# ---- items -------------------------------------------------------------------------------------

def existing_guids(conn: sqlite3.Connection, feed_id: int, guids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(guids), 500):
        chunk = guids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(GUID_LOOKUP_SQL.format(marks=marks), (feed_id, *chunk)))
        found.update(v.split(" ", 1)[1] for (v,) in conn.execute(GUID_FINGERPRINT_SQL.format(marks=marks),
                                                                 [f"{feed_id} {g}" for g in chunk]))
    return found


def insert_item(conn: sqlite3.Connection, values: dict[str, Any], fingerprints: list[tuple[str, str]]) -> int:
    cols = ", ".join(values)
    cur = conn.execute(f"INSERT INTO items({cols}) VALUES ({', '.join('?' * len(values))})", tuple(values.values()))
    item_id = int(cur.lastrowid or 0)
    now = values.get("fetched", time.time())
    conn.executemany("INSERT OR IGNORE INTO fingerprints(kind, value, item_id, first_seen) VALUES (?, ?, ?, ?)",
                     [(k, v, item_id, now) for k, v in fingerprints])
    return item_id


def reserve_item_ids(conn: sqlite3.Connection, n: int) -> int:
    """First of ``n`` fresh item ids (call inside a transaction). Ids are never reused, not even
    after retention purged the newest items: the ledger and fingerprints refer to them."""
    row = conn.execute("SELECT value FROM meta WHERE key='next_item_id'").fetchone()
    top = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM items").fetchone()[0]
    first = max(int(row[0]) if row else 1, top)
    set_meta(conn, "next_item_id", str(first + n))
    return first


def lookup_fingerprints(conn: sqlite3.Connection, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(kind, value) -> the first item that had it, for the keys already seen.

    One ``kind = ? AND value IN (...)`` query per kind and chunk: a search of the primary key
    (``(kind, value) IN (VALUES ...)`` is a full scan in SQLite 3.40)."""
    out: dict[tuple[str, str], int] = {}
    by_kind: dict[str, list[str]] = {}
    for kind, value in dict.fromkeys(keys):
        by_kind.setdefault(kind, []).append(value)
    for kind, values in by_kind.items():
        for i in range(0, len(values), 500):
            chunk = values[i:i + 500]
            for value, item_id in conn.execute(FINGERPRINT_LOOKUP_SQL.format(marks=",".join("?" * len(chunk))),
                                               (kind, *chunk)):
                out[(kind, value)] = item_id
    return out


FINGERPRINT_LOOKUP_SQL = "SELECT value, item_id FROM fingerprints WHERE kind=? AND value IN ({marks})"
GUID_LOOKUP_SQL = "SELECT guid FROM items WHERE feed_id=? AND guid IN ({marks})"
GUID_FINGERPRINT_SQL = "SELECT value FROM fingerprints WHERE kind='guid' AND value IN ({marks})"
STORY_OF_SQL = "SELECT id, story_id, guid FROM items WHERE id IN ({marks})"


def stories_of(conn: sqlite3.Connection, item_ids: list[int]) -> dict[int, tuple[int | None, str]]:
    """item id -> (story id, guid) for the stored ones (one indexed query per 500 ids)."""
    out: dict[int, tuple[int | None, str]] = {}
    ids = list(dict.fromkeys(item_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        for item_id, story_id, guid in conn.execute(STORY_OF_SQL.format(marks=",".join("?" * len(chunk))), chunk):
            out[item_id] = (story_id, guid)
    return out


def per_batch_queries() -> dict[str, str]:
    """The queries ingest runs once per batch, with two placeholders in each IN list
    (tests check their query plans: each must search an index, never scan a big table)."""
    marks = "?,?"
    return {"lookup_fingerprints": FINGERPRINT_LOOKUP_SQL.format(marks=marks),
            "existing_guids/items": GUID_LOOKUP_SQL.format(marks=marks),
            "existing_guids/fingerprints": GUID_FINGERPRINT_SQL.format(marks=marks),
            "stories_of": STORY_OF_SQL.format(marks=marks)}


def save_matches(conn: sqlite3.Connection, item_id: int, matches: list[tuple[str, float, list[str]]],
                 now: float) -> None:
    conn.executemany(
        "INSERT INTO matches(item_id, watchlist, score, why, matched_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT(item_id, watchlist) DO UPDATE SET score=excluded.score, why=excluded.why",
        [(item_id, w, s, json.dumps(why, ensure_ascii=False), now) for w, s, why in matches])


def item_rows(conn: sqlite3.Connection, *, since: float | None = None, watchlist: str | None = None,
              ids: list[int] | None = None) -> list[sqlite3.Row]:
    q = ("SELECT items.*, feeds.name AS feed_name FROM items JOIN feeds ON feeds.id = items.feed_id")
    where: list[str] = []
    args: list[object] = []
    if since is not None:
        where.append("items.fetched >= ?")
        args.append(since)
    if watchlist is not None:
        where.append("items.id IN (SELECT item_id FROM matches WHERE watchlist=?)")
        args.append(watchlist)
    if ids is not None:
        where.append(f"items.id IN ({','.join('?' * len(ids))})")
        args.extend(ids)
    if where:
        q += " WHERE " + " AND ".join(where)
    q += " ORDER BY items.id"
    return list(conn.execute(q, args))


def matches_for(conn: sqlite3.Connection, item_ids: list[int]) -> dict[int, list[sqlite3.Row]]:
    out: dict[int, list[sqlite3.Row]] = {}
    for i in range(0, len(item_ids), 500):
        chunk = item_ids[i:i + 500]
        for r in conn.execute(f"SELECT * FROM matches WHERE item_id IN ({','.join('?' * len(chunk))})", chunk):
            out.setdefault(r["item_id"], []).append(r)
    return out


def purge_items(conn: sqlite3.Connection, older_than: float) -> int:
    """Delete items fetched before ``older_than`` with their matches; fingerprints stay."""
    with transaction(conn):
        ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE fetched < ?", (older_than,))]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            conn.execute(f"DELETE FROM matches WHERE item_id IN ({marks})", chunk)
            conn.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk)
        old = time.time() - 400 * 86400
        conn.execute("DELETE FROM digests WHERE created < ? AND status != 'pending'", (old,))
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name='fulltext_cache'").fetchone():
            conn.execute("DELETE FROM fulltext_cache WHERE fetched < ?", (older_than,))
    return len(ids)


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                 (key, value))


# ---- digest ledger: claims ---------------------------------------------------------------------

@dataclass(frozen=True)
class DigestRow:
    id: int
    watchlist: str
    channel: str
    created: float
    period_start: float
    period_end: float
    status: str
    attempts: int
    next_attempt: float | None
    error: str | None
    location: str | None
    item_ids: tuple[int, ...]
    claim: str | None
    claim_until: float | None


def _digest_row(r: sqlite3.Row) -> DigestRow:
    d = dict(r)
    d["item_ids"] = tuple(json.loads(d["item_ids"] or "[]"))
    return DigestRow(**d)


def pending_digest(conn: sqlite3.Connection, watchlist: str, channel: str) -> DigestRow | None:
    r = conn.execute("SELECT * FROM digests WHERE watchlist=? AND channel=? AND status='pending' "
                     "ORDER BY id DESC LIMIT 1", (watchlist, channel)).fetchone()
    return _digest_row(r) if r is not None else None


def claim_token() -> str:
    """A token naming this process (pid) and this one delivery."""
    return f"{os.getpid()}:{uuid.uuid4().hex[:12]}"


def claim_holder(row: DigestRow, now: float) -> int | None:
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


def create_pending_digest(conn: sqlite3.Connection, watchlist: str, channel: str, now: float, period_start: float,
                          location: str, item_ids: list[int], claim: str, claim_until: float) -> int:
    cur = conn.execute(
        "INSERT INTO digests(watchlist, channel, created, period_start, period_end, status, attempts, location, "
        "item_ids, claim, claim_until) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)",
        (watchlist, channel, now, period_start, now, location, json.dumps(item_ids), claim, claim_until))
    return int(cur.lastrowid or 0)


def claim_pending_digest(conn: sqlite3.Connection, digest_id: int, now: float, location: str, item_ids: list[int],
                         claim: str, claim_until: float) -> None:
    conn.execute("UPDATE digests SET period_end=?, item_ids=?, location=?, claim=?, claim_until=? WHERE id=?",
                 (now, json.dumps(item_ids), location, claim, claim_until, digest_id))


def digest_refused(conn: sqlite3.Connection, watchlist: str, channel: str, digest_id: int, item_ids: list[int],
                   now: float, attempts: int, error: str) -> None:
    """The server refused the digest for good: ``failed-permanent``, its items recorded as handled on
    this channel (ledger rows pointing at the failed digest), the claim ended."""
    conn.executemany("INSERT OR IGNORE INTO deliveries(watchlist, channel, item_id, digest_id, delivered_at) "
                     "VALUES (?, ?, ?, ?, ?)", [(watchlist, channel, i, digest_id, now) for i in item_ids])
    conn.execute("UPDATE digests SET status='failed-permanent', attempts=?, next_attempt=NULL, error=?, claim=NULL, "
                 "claim_until=NULL WHERE id=?", (attempts, error[:500], digest_id))


def digest_failed(conn: sqlite3.Connection, digest_id: int, attempts: int, next_attempt: float, error: str) -> None:
    """Delivery failed: the digest stays pending, unclaimed, until ``next_attempt``."""
    conn.execute("UPDATE digests SET attempts=?, next_attempt=?, error=?, claim=NULL, claim_until=NULL WHERE id=?",
                 (attempts, next_attempt, error[:500], digest_id))


def digest_superseded(conn: sqlite3.Connection, digest_id: int) -> None:
    conn.execute("UPDATE digests SET status='failed', error='superseded', claim=NULL, claim_until=NULL WHERE id=?",
                 (digest_id,))


def digest_sent(conn: sqlite3.Connection, digest_id: int) -> None:
    conn.execute("UPDATE digests SET status='sent', error=NULL, next_attempt=NULL, claim=NULL, claim_until=NULL "
                 "WHERE id=?", (digest_id,))


def due_digest_watchlists(conn: sqlite3.Connection, now: float | None = None) -> list[str]:
    """Watchlists with a pending digest (due for a retry at ``now``, when given)."""
    if now is None:
        return [r[0] for r in conn.execute("SELECT DISTINCT watchlist FROM digests WHERE status='pending'")]
    return [r[0] for r in conn.execute("SELECT DISTINCT watchlist FROM digests WHERE status='pending' "
                                       "AND next_attempt <= ?", (now,))]


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
