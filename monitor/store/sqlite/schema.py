"""The SQLite schema: ordered migrations, applied by ``base.migrate`` (PRAGMA user_version).

Never edit a released migration: append a new one. Migration 4 adopts the tables that older
versions created outside the migrations (near-duplicate index, story evidence, full-text,
robots.txt and translation caches) with ``IF NOT EXISTS``, so a database that has them keeps
their rows and a new one gets them here. Migration 5 adds the tables of several workers on one
database (heartbeats, feed and task leases, translation claims; only the PostgreSQL store uses them
today), which earlier PostgreSQL stores created outside the migrations, again with ``IF NOT EXISTS``.
"""

from __future__ import annotations

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
    # 4: the side tables, created inline by earlier versions, adopted with their rows
    """
    CREATE TABLE IF NOT EXISTS neardup_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS neardup_docs (
        id         INTEGER PRIMARY KEY,
        doc_key    TEXT NOT NULL UNIQUE,
        kind       TEXT NOT NULL CHECK (kind IN ('seed', 'item')),
        story_id   INTEGER,
        n_shingles INTEGER NOT NULL,
        n_words    INTEGER NOT NULL,
        translated INTEGER NOT NULL,
        shingles   BLOB NOT NULL,
        words      BLOB NOT NULL,
        anchors    BLOB NOT NULL,
        shingle_set BLOB              -- exact shingle hashes, seeds only
    );
    CREATE TABLE IF NOT EXISTS neardup_bands (
        key    INTEGER NOT NULL,      -- written by versions that kept the band keys in SQLite
        doc_id INTEGER NOT NULL,
        PRIMARY KEY (key, doc_id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS story_docs (
        item_id  INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL,
        at       REAL NOT NULL,       -- publication time (fetch time when unknown)
        evidence TEXT NOT NULL        -- StoryText as JSON
    );
    CREATE TABLE IF NOT EXISTS story_df (
        term TEXT NOT NULL,           -- '' counts the reports themselves
        day  INTEGER NOT NULL,        -- publication day (UTC days since the epoch)
        n    INTEGER NOT NULL,
        PRIMARY KEY (term, day)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS story_terms (
        term    TEXT NOT NULL,
        at      REAL NOT NULL,
        item_id INTEGER NOT NULL,
        PRIMARY KEY (term, at, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS fulltext_cache (
        url TEXT PRIMARY KEY,
        text TEXT,
        fetched REAL,
        status TEXT
    );
    CREATE TABLE IF NOT EXISTS robots_cache (
        origin TEXT PRIMARY KEY,
        body TEXT,
        status TEXT NOT NULL,
        fetched REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS translation_cache (
        source_sha256 TEXT NOT NULL,
        source_lang TEXT NOT NULL,
        target_lang TEXT NOT NULL,
        model_version TEXT NOT NULL,
        translated TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source_sha256, source_lang, target_lang, model_version)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS fulltext_cache_fetched ON fulltext_cache(fetched);
    """,
    # 5: several workers on one database: heartbeats, feed and task leases, translation claims
    """
    CREATE TABLE IF NOT EXISTS workers (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        role TEXT NOT NULL,
        started REAL NOT NULL,
        heartbeat REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS feed_leases (
        feed_id INTEGER NOT NULL PRIMARY KEY REFERENCES feeds(id) ON DELETE CASCADE,
        worker TEXT NOT NULL,
        until REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS task_leases (
        name TEXT PRIMARY KEY,
        worker TEXT NOT NULL,
        until REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS translation_claims (
        item_id INTEGER NOT NULL PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        worker TEXT NOT NULL,
        until REAL NOT NULL
    );
    """,
]
