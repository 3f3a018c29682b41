"""The store's interface: typed rows and the Protocols every backend implements (no SQL here).

A backend (``monitor.store.sqlite``, later PostgreSQL) is one object with sub-stores by entity:
``feeds``, ``items``, ``ledger`` (digests and deliveries), ``caches`` (full text, robots.txt,
translations), ``lsh`` (near-duplicate signatures), ``story`` (story evidence) and ``meta``.
Rows cross the boundary as frozen dataclasses, never as driver rows. Every method may be called
inside ``Store.transaction()``; a method that writes runs its own transaction otherwise.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence, Set as AbstractSet
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

FingerprintKind = Literal["url", "content", "guid"]
DocKind = Literal["seed", "item"]
SEED_FEED_URL = "seeds:"  # the pseudo-feed of the seed corpus
# translation_status of an item a poll worker with ``translation.remote: true`` stored untranslated:
# it waits for a ``monitor run --translate-only`` worker (like an item waiting for a model)
WAITING_FOR_WORKER = "unavailable: waiting for a translation worker"

# ---- rows ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedState:
    """One feed's row: its identity, HTTP validators and health."""

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


FEED_UPDATE_FIELDS = ("title", "etag", "last_modified", "last_fetch", "last_success", "last_status",
                      "last_error", "error_kind", "consecutive_failures", "next_poll", "items_total",
                      "last_new_item", "gone_count", "disabled_reason", "moved_to")


@dataclass(frozen=True)
class FeedUpdate:
    """What one fetch changes on a feed: ``values`` (column -> new value, None clears it; only the
    names in FEED_UPDATE_FIELDS) and ``new_items`` added to ``items_total``."""

    values: Mapping[str, object] = field(default_factory=dict)
    new_items: int = 0

    def __post_init__(self) -> None:
        bad = sorted(set(self.values) - set(FEED_UPDATE_FIELDS))
        if bad:
            raise ValueError(f"not a feed field: {', '.join(bad)}")


@dataclass(frozen=True)
class FeedActivity:
    """A feed's state and the fetch time of its oldest stored item (for "quiet feed" notes)."""

    feed: FeedState
    first_item: float | None


@dataclass(frozen=True)
class MatchRecord:
    """An item matched by a watchlist, with the reasons (one line each)."""

    item_id: int
    watchlist: str
    score: float
    why: tuple[str, ...]
    matched_at: float


@dataclass(frozen=True)
class NewItem:
    """An item to store, with its exact-duplicate keys and its watchlist matches."""

    id: int  # from ItemStore.reserve_ids
    feed_id: int
    guid: str
    link: str | None
    canonical_url: str | None
    title: str
    summary: str
    author: str | None
    published: float | None
    fetched: float
    language: str | None
    language_confidence: float | None
    language_script: str | None
    language_uncertain: bool
    content_hash: str
    title_translated: str | None = None
    summary_translated: str | None = None
    translated_to: str | None = None
    translation_status: str | None = None
    duplicate_of: int | None = None
    duplicate_kind: str | None = None
    duplicate_similarity: float | None = None
    duplicate_seed: str | None = None
    summary_short: str | None = None
    story_id: int | None = None
    fingerprints: tuple[tuple[FingerprintKind, str], ...] = ()
    matches: tuple[MatchRecord, ...] = ()


@dataclass(frozen=True)
class StoredItem:
    """A stored item with its feed's name, address and title."""

    id: int
    feed_id: int
    guid: str
    link: str | None
    canonical_url: str | None
    title: str
    summary: str
    author: str | None
    published: float | None
    fetched: float
    language: str | None
    language_confidence: float | None
    language_script: str | None
    language_uncertain: bool
    content_hash: str
    title_translated: str | None
    summary_translated: str | None
    translated_to: str | None
    translation_status: str | None
    duplicate_of: int | None
    duplicate_kind: str | None
    duplicate_similarity: float | None
    duplicate_seed: str | None
    story_id: int | None
    summary_short: str | None
    feed_name: str
    feed_url: str
    feed_title: str | None


@dataclass(frozen=True)
class MatchedItem:
    """A stored item as one watchlist matched it."""

    item: StoredItem
    score: float
    why: tuple[str, ...]


@dataclass(frozen=True)
class ItemRef:
    """What ingest needs to know of an earlier item: its story and guid."""

    story_id: int | None
    guid: str


@dataclass(frozen=True)
class ApplyResult:
    """What ``ItemStore.apply`` stored: the ids written and the guids another process stored first."""

    stored: tuple[int, ...]
    skipped: tuple[str, ...]


@dataclass(frozen=True)
class TranslationGroup:
    """Stored items waiting for a translation model, by language and script."""

    language: str | None
    script: str | None
    count: int


@dataclass(frozen=True)
class DigestRecord:
    """One digest of the ledger (pending, sent, failed or failed-permanent) and its claim."""

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


@dataclass(frozen=True)
class NewDigest:
    """A pending digest to open, claimed by ``claim`` until ``claim_until``."""

    watchlist: str
    channel: str
    created: float
    period_start: float
    location: str
    item_ids: tuple[int, ...]
    claim: str
    claim_until: float


@dataclass(frozen=True)
class ChannelSummary:
    """A (watchlist, channel)'s delivery state for ``monitor status``."""

    watchlist: str
    channel: str
    last_sent: float | None
    error: str | None  # the last error of a pending digest being retried (None: no delivery failing)
    attempts: int
    next_attempt: float | None
    failed_at: float | None  # when that pending digest was created


@dataclass(frozen=True)
class RefusedDigest:
    """A digest a server refused for good."""

    watchlist: str
    channel: str
    error: str | None
    created: float


@dataclass(frozen=True)
class CachedValue:
    """A cache entry: the value (None for a remembered failure), its status and when it was fetched."""

    value: str | None
    status: str
    fetched: float


@dataclass(frozen=True)
class SignatureRecord:
    """A near-duplicate signature as bytes (little-endian uint32 arrays); the maths is in neardup.py."""

    doc_key: str
    kind: DocKind
    story_id: int | None
    n_shingles: int
    n_words: int
    translated: bool
    shingles: bytes
    words: bytes
    anchors: bytes
    shingle_set: bytes | None = None  # exact shingle hashes, seeds only
    id: int = 0  # the index's own number, given by put


@dataclass(frozen=True)
class StoryDoc:
    """An item's story evidence (StoryText as JSON) and when it was published."""

    item_id: int
    story_id: int
    at: float
    evidence: str


# ---- sub-stores ------------------------------------------------------------------------------------


class FeedStore(Protocol):
    def sync(self, feeds: Sequence[tuple[str, str]]) -> dict[str, int]: ...  # (url, name) -> url -> id
    def get(self, feed_id: int) -> FeedState: ...  # StoreError when absent
    def all(self) -> list[FeedState]: ...  # by name
    def record_fetch(self, feed_id: int, update: FeedUpdate) -> None: ...
    def activity(self) -> list[FeedActivity]: ...  # every feed but the seeds, by name


class ItemStore(Protocol):
    def known_guids(self, feed_id: int, guids: Sequence[str]) -> set[str]: ...
    def lookup_fingerprints(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]: ...
    def reserve_ids(self, n: int) -> int: ...  # first of n ids never used before
    def apply(self, batch: Sequence[NewItem]) -> ApplyResult: ...  # one transaction, uniqueness re-checked
    def refs(self, ids: Sequence[int]) -> dict[int, ItemRef]: ...
    def list(self, *, since: float | None = None, watchlist: str | None = None,
             ids: Sequence[int] | None = None, seeds: bool = True,
             exact_duplicates: bool = True) -> list[StoredItem]: ...  # by id
    def count(self, *, seeds: bool = False) -> int: ...
    def matches_for(self, ids: Sequence[int]) -> dict[int, builtins.list[MatchRecord]]: ...
    def save_matches(self, matches: Sequence[MatchRecord]) -> None: ...  # upsert score and why
    def matched_ids(self, watchlist: str) -> set[int]: ...
    def watchlist_names(self) -> set[str]: ...  # every watchlist with a stored match
    def drop_match(self, item_id: int, watchlist: str) -> None: ...
    def latest_matched(self, watchlist: str, limit: int) -> builtins.list[int]: ...  # newest first, no seed copies
    def heads_others(self, item_id: int) -> bool: ...  # another item belongs to the story it names
    def waiting_translation(self) -> builtins.list[TranslationGroup]: ...
    def waiting_items(self, language: str | None, script: str | None, limit: int) -> builtins.list[StoredItem]: ...
    def set_translation(self, item_id: int, title: str | None, summary: str | None, translated_to: str | None,
                        status: str) -> None: ...
    def set_translation_status(self, item_id: int, status: str) -> None: ...
    def set_duplicate(self, item_id: int, duplicate_of: int, kind: str, similarity: float, seed: str | None,
                      story_id: int | None) -> None: ...


class LedgerStore(Protocol):
    def undelivered(self, watchlist: str, channel: str) -> list[MatchedItem]: ...  # by score, then id
    def matched(self, watchlist: str, ids: Sequence[int]) -> list[MatchedItem]: ...
    def sent_stories(self, watchlist: str, channel: str) -> dict[int, tuple[frozenset[str], float]]: ...
    def delivered_ids(self, watchlist: str) -> set[int]: ...
    def pending(self, watchlist: str, channel: str) -> DigestRecord | None: ...
    def last_sent_end(self, watchlist: str, channel: str) -> float | None: ...
    def open(self, d: NewDigest) -> int: ...
    def claim(self, digest_id: int, period_end: float, location: str, item_ids: Sequence[int], claim: str,
              claim_until: float) -> None: ...
    def supersede(self, digest_id: int) -> None: ...
    def record_attempt(self, digest_id: int, attempts: int, next_attempt: float, error: str) -> None: ...
    def refuse(self, watchlist: str, channel: str, digest_id: int, item_ids: Sequence[int], now: float,
               attempts: int, error: str) -> None: ...  # failed for good; its items count as handled
    def mark_sent(self, watchlist: str, channel: str, digest_id: int | None, item_ids: Sequence[int],
                  stories: Mapping[int, AbstractSet[str]], now: float) -> None: ...
    def recent_sent(self, watchlist: str, channel: str, n: int) -> list[DigestRecord]: ...  # newest first
    def find(self, watchlist: str, channel: str, location: str) -> DigestRecord | None: ...  # the first one
    def watchlists_with_pending(self, due_before: float | None = None) -> list[str]: ...
    def channel_summary(self) -> list[ChannelSummary]: ...
    def refused_since(self, since: float, limit: int) -> list[RefusedDigest]: ...
    def applied_watchlists(self) -> dict[str, str | None]: ...  # name -> fingerprint last applied
    def set_applied(self, name: str, fingerprint: str | None, now: float) -> None: ...


class KeyValueCache(Protocol):
    def get(self, key: str) -> CachedValue | None: ...
    def put(self, key: str, value: CachedValue) -> None: ...
    def delete_all(self) -> None: ...


class TranslationCache(Protocol):
    def get_many(self, keys: Sequence[tuple[str, str]], target: str, version: str) -> dict[tuple[str, str], str]: ...
    def put_many(self, rows: Sequence[tuple[str, str, str]], target: str, version: str, now: float) -> None: ...


class CacheStore(Protocol):
    # read-only members (properties), so that a backend's own cache classes satisfy them
    @property
    def fulltext(self) -> KeyValueCache: ...
    @property
    def robots(self) -> KeyValueCache: ...
    @property
    def translations(self) -> TranslationCache: ...


class LshStore(Protocol):
    def settings(self) -> dict[str, str]: ...  # as first stored ({} for a new index)
    def init_settings(self, want: Mapping[str, str]) -> dict[str, str]: ...  # adds absent keys; returns all
    def put(self, doc: SignatureRecord) -> tuple[int, SignatureRecord | None]: ...  # (new id, the doc it replaced)
    def forget_bands(self, doc_id: int, keys: Sequence[int]) -> None: ...  # legacy band rows of a replaced doc
    def get(self, doc_key: str) -> SignatureRecord | None: ...
    def by_ids(self, ids: Sequence[int], *, items_only: bool = False) -> list[SignatureRecord]: ...
    def set_story(self, doc_key: str, story_id: int | None) -> None: ...
    def max_id(self) -> int: ...
    def ids_after(self, after: int) -> list[int]: ...
    def count(self, kind: DocKind | None = None) -> int: ...
    def seeds(self) -> list[SignatureRecord]: ...
    def location(self) -> str | None: ...  # the database file (for a sidecar index), None in memory


class StoryStore(Protocol):
    def add(self, doc: StoryDoc, keys: Sequence[str], terms: Sequence[str]) -> None: ...
    def add_many(self, rows: Sequence[tuple[StoryDoc, Sequence[str], Sequence[str]]]) -> None: ...
    def term_counts(self, terms: Sequence[str], first_day: int, last_day: int) -> dict[str, int]: ...
    def candidates(self, keys: Sequence[str], lo: float, hi: float, limit: int) -> list[StoryDoc]: ...
    def get(self, item_id: int) -> StoryDoc | None: ...
    def docs(self, item_ids: Sequence[int]) -> list[StoryDoc]: ...
    def ids_after(self, after: int) -> list[int]: ...  # item ids above ``after``, ascending
    def since(self, at: float) -> list[StoryDoc]: ...  # published at or after ``at``
    def latest_at(self) -> float | None: ...
    def day_counts(self, first_day: int) -> list[tuple[str, int, int]]: ...  # (term, day, n)


class MetaStore(Protocol):
    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...


class Store(Protocol):
    # read-only members (properties), so that a backend's own sub-store classes satisfy them
    @property
    def feeds(self) -> FeedStore: ...
    @property
    def items(self) -> ItemStore: ...
    @property
    def ledger(self) -> LedgerStore: ...
    @property
    def caches(self) -> CacheStore: ...
    @property
    def lsh(self) -> LshStore: ...
    @property
    def story(self) -> StoryStore: ...
    @property
    def meta(self) -> MetaStore: ...

    # re-entrant: joins an open one
    def transaction(self, *, durable: bool = False) -> AbstractContextManager[None]: ...
    def schema_version(self) -> int: ...
    def purge(self, older_than: float) -> int: ...  # items and matches; old digests and caches; returns items
    def close(self) -> None: ...
