"""The store's contract: every method of monitor.store.api, against each backend of STORE_BACKENDS.

Plain values in, typed rows out; a second connection (``other``) plays another process.
SQLite-only checks (query plans, the old on-disk layout) are at the end."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_backends import STORE_BACKENDS, open_backend, set_schema_version

from monitor import StoreError
from monitor.store import (
    CachedValue,
    DigestRecord,
    FeedUpdate,
    MatchRecord,
    NewDigest,
    NewItem,
    SignatureRecord,
    Store,
    StoryDoc,
    open_store,
)
from monitor.store.api import SEED_FEED_URL

T0 = 1_750_000_000.0


@pytest.fixture(params=STORE_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    st = open_backend(backend, tmp_path)
    yield st
    st.close()


@pytest.fixture
def other(backend: str, tmp_path: Path, store: Store) -> Iterator[Store]:
    st = open_backend(backend, tmp_path)
    yield st
    st.close()


def item(item_id: int, feed_id: int, guid: str, **kw: object) -> NewItem:
    base: dict[str, object] = dict(id=item_id, feed_id=feed_id, guid=guid, link=f"https://x.example/{guid}",
                                   canonical_url=f"https://x.example/{guid}", title=f"Title {guid}",
                                   summary=f"Summary {guid}", author=None, published=T0 - 60, fetched=T0,
                                   language="en", language_confidence=0.99, language_script="Latn",
                                   language_uncertain=False, content_hash=f"h-{guid}",
                                   translation_status="not_needed", story_id=item_id,
                                   fingerprints=(("url", f"https://x.example/{guid}"), ("content", f"h-{guid}")))
    base.update(kw)
    return NewItem(**base)  # type: ignore[arg-type]


def feeds(store: Store) -> dict[str, int]:
    return store.feeds.sync([("https://a.example/rss", "Alpha"), ("https://b.example/rss", "Beta"),
                             (SEED_FEED_URL, "seeds")])


def stored(store: Store, feed_id: int, *rows: NewItem) -> list[int]:
    with store.transaction():
        first = store.items.reserve_ids(len(rows))
        batch = [NewItem(**{**r.__dict__, "id": first + i,
                            "story_id": first + i if r.story_id == r.id else r.story_id,
                            "matches": tuple(MatchRecord(first + i, m.watchlist, m.score, m.why, m.matched_at)
                                             for m in r.matches)})
                 for i, r in enumerate(rows)]
        return list(store.items.apply(batch).stored)


# ---- feeds -----------------------------------------------------------------------------------------

def test_feeds_sync_get_all_and_record_fetch(store: Store) -> None:
    ids = feeds(store)
    assert len(set(ids.values())) == 3
    again = store.feeds.sync([("https://a.example/rss", "Alpha renamed")])
    assert again["https://a.example/rss"] == ids["https://a.example/rss"]  # same row, new name
    a = store.feeds.get(ids["https://a.example/rss"])
    assert (a.url, a.name, a.consecutive_failures, a.items_total, a.etag) == (
        "https://a.example/rss", "Alpha renamed", 0, 0, None)
    assert [f.name for f in store.feeds.all()] == sorted(["Alpha renamed", "Beta", "seeds"])
    store.feeds.record_fetch(a.id, FeedUpdate(dict(etag='"v1"', last_status=200, last_error="boom",
                                                   consecutive_failures=2), new_items=3))
    store.feeds.record_fetch(a.id, FeedUpdate(dict(last_error=None), new_items=2))
    a2 = store.feeds.get(a.id)
    assert (a2.etag, a2.last_status, a2.last_error, a2.consecutive_failures, a2.items_total) == (
        '"v1"', 200, None, 2, 5)
    with pytest.raises(StoreError):
        store.feeds.get(9999)
    with pytest.raises(ValueError, match="not a feed field"):
        FeedUpdate(dict(url="https://elsewhere.example/"))


def test_feed_activity_leaves_out_the_seeds_and_knows_the_first_item(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    stored(store, a, item(0, a, "old", fetched=T0 - 500), item(0, a, "new", fetched=T0))
    act = {x.feed.name: x.first_item for x in store.feeds.activity()}
    assert act == {"Alpha": T0 - 500, "Beta": None}


# ---- items -----------------------------------------------------------------------------------------

def test_items_round_trip_through_apply_and_list(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    why = ("\"wheat\" in title", "region: Kazakhstan")
    [i1, i2] = stored(store, a, item(0, a, "g1", matches=(MatchRecord(0, "grain", 7.5, why, T0),)),
                      item(0, a, "g2", language_uncertain=True, summary_short="short", author="Ana"))
    got = {r.id: r for r in store.items.list()}
    assert set(got) == {i1, i2}
    r1, r2 = got[i1], got[i2]
    assert (r1.guid, r1.title, r1.feed_name, r1.feed_url, r1.feed_title, r1.language_uncertain) == (
        "g1", "Title g1", "Alpha", "https://a.example/rss", None, False)
    assert (r2.language_uncertain, r2.summary_short, r2.author, r2.story_id) == (True, "short", "Ana", i2)
    assert store.items.matches_for([i1, i2]) == {i1: [MatchRecord(i1, "grain", 7.5, why, T0)]}
    assert store.items.lookup_fingerprints([("url", "https://x.example/g2"), ("content", "h-g1"),
                                            ("content", "unknown")]) == {("url", "https://x.example/g2"): i2,
                                                                         ("content", "h-g1"): i1}
    assert store.items.known_guids(a, ["g1", "g2", "g3"]) == {"g1", "g2"}
    refs = store.items.refs([i1, 12345])
    assert set(refs) == {i1} and (refs[i1].story_id, refs[i1].guid) == (i1, "g1")
    assert store.items.count() == 2 and store.items.count(seeds=True) == 2


def test_apply_never_stores_one_entry_twice(store: Store, other: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    first = store.items.reserve_ids(2)
    assert other.items.reserve_ids(2) == first + 2  # another process never gets the same ids
    res = store.items.apply([item(first, a, "g1"), item(first + 1, a, "g1")])  # twice in one batch
    assert (res.stored, res.skipped) == ((first,), ("g1",))
    late = other.items.apply([item(first + 2, a, "g1"), item(first + 3, a, "g2")])  # the other process, late
    assert (late.stored, late.skipped) == ((first + 3,), ("g1",))
    assert sorted(r.guid for r in store.items.list()) == ["g1", "g2"]


def test_list_filters_and_count(store: Store) -> None:
    ids = feeds(store)
    a, seeds = ids["https://a.example/rss"], ids[SEED_FEED_URL]
    m = (MatchRecord(0, "grain", 3.0, ("x",), T0),)
    [old, new, dup] = stored(store, a, item(0, a, "old", fetched=T0 - 1000, matches=m), item(0, a, "new", matches=m),
                             item(0, a, "dup", duplicate_of=1, duplicate_kind="url", duplicate_similarity=1.0))
    [seed] = stored(store, seeds, item(0, seeds, "seed#1"))
    assert [r.id for r in store.items.list(since=T0 - 10)] == [new, dup, seed]
    assert [r.id for r in store.items.list(watchlist="grain")] == [old, new]
    assert [r.id for r in store.items.list(ids=[seed, old])] == [old, seed]
    assert [r.id for r in store.items.list(seeds=False, exact_duplicates=False)] == [old, new]
    assert store.items.count() == 3 and store.items.count(seeds=True) == 4


def test_matches_save_drop_and_names(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    [i1, i2] = stored(store, a, item(0, a, "g1", published=T0 - 10), item(0, a, "g2", published=T0))
    store.items.save_matches([MatchRecord(i1, "grain", 1.0, ("a",), T0), MatchRecord(i2, "grain", 2.0, ("b",), T0),
                              MatchRecord(i1, "oil", 4.0, ("c",), T0)])
    store.items.save_matches([MatchRecord(i1, "grain", 5.0, ("a", "b"), T0 + 99)])  # an upsert: score and why
    assert store.items.matches_for([i1])[i1] == [MatchRecord(i1, "grain", 5.0, ("a", "b"), T0),
                                                 MatchRecord(i1, "oil", 4.0, ("c",), T0)]
    assert store.items.matched_ids("grain") == {i1, i2}
    assert store.items.watchlist_names() == {"grain", "oil"}
    assert store.items.latest_matched("grain", 10) == [i2, i1]
    assert store.items.latest_matched("grain", 1) == [i2]
    store.items.drop_match(i1, "grain")
    assert store.items.matched_ids("grain") == {i2}


def test_story_heads_and_duplicate_and_translation_updates(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    waiting = "unavailable: no model for kk->en"
    [i1, i2, i3] = stored(store, a, item(0, a, "g1"), item(0, a, "g2", language="kk", translation_status=waiting),
                          item(0, a, "g3", language="kk", language_script="Cyrl", translation_status=waiting))
    assert not store.items.heads_others(i1)
    store.items.set_duplicate(i2, i1, "story", 0.8, None, i1)
    assert store.items.heads_others(i1)
    r2 = store.items.list(ids=[i2])[0]
    assert (r2.duplicate_of, r2.duplicate_kind, r2.duplicate_similarity, r2.story_id) == (i1, "story", 0.8, i1)
    groups = {(g.language, g.script): g.count for g in store.items.waiting_translation()}
    assert groups == {("kk", "Latn"): 1, ("kk", "Cyrl"): 1}
    assert [r.id for r in store.items.waiting_items("kk", "Cyrl", 10)] == [i3]
    store.items.set_translation(i3, "Title", "Summary", "en", "translated")
    store.items.set_translation_status(i2, "unavailable: language uncertain")  # no longer waits for a model
    assert store.items.waiting_translation() == []
    r3 = store.items.list(ids=[i3])[0]
    assert (r3.title_translated, r3.summary_translated, r3.translated_to, r3.translation_status) == (
        "Title", "Summary", "en", "translated")


def test_purge_keeps_fingerprints_and_never_reuses_ids(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    m = (MatchRecord(0, "grain", 3.0, ("x",), T0),)
    [old, new] = stored(store, a, item(0, a, "old", fetched=T0 - 1000, matches=m), item(0, a, "new", fetched=T0))
    store.caches.fulltext.put("https://x.example/old", CachedValue("text", "ok", T0 - 1000))
    store.caches.fulltext.put("https://x.example/new", CachedValue("text", "ok", T0))
    assert store.purge(T0 - 10) == 1
    assert [r.id for r in store.items.list()] == [new]
    assert store.items.matches_for([old]) == {}
    assert store.items.known_guids(a, ["old"]) == {"old"}  # a purged entry is still known
    assert store.items.lookup_fingerprints([("content", "h-old")]) == {("content", "h-old"): old}
    assert store.caches.fulltext.get("https://x.example/old") is None
    assert store.caches.fulltext.get("https://x.example/new") is not None
    store.purge(T0 + 10)
    assert store.items.reserve_ids(1) > new


# ---- ledger ----------------------------------------------------------------------------------------

def digest(store: Store, watchlist: str, channel: str, ids: list[int], claim: str = "1:x") -> int:
    return store.ledger.open(NewDigest(watchlist, channel, T0, T0 - 3600, f"/out/{channel}.md", tuple(ids), claim,
                                       T0 + 900))


def test_ledger_undelivered_mark_sent_and_sent_stories(store: Store) -> None:
    ids = feeds(store)
    a = ids["https://a.example/rss"]
    [i1, i2, i3] = stored(store, a, item(0, a, "g1", matches=(MatchRecord(0, "grain", 1.0, ("a",), T0),)),
                          item(0, a, "g2", matches=(MatchRecord(0, "grain", 9.0, ("b",), T0),)),
                          item(0, a, "g3", matches=(MatchRecord(0, "grain", 5.0, ("c",), T0),)))
    got = store.ledger.undelivered("grain", "email")
    assert [(m.item.id, m.score, m.why) for m in got] == [(i2, 9.0, ("b",)), (i3, 5.0, ("c",)), (i1, 1.0, ("a",))]
    assert [m.item.id for m in store.ledger.matched("grain", [i1, i3])] == [i3, i1]
    d = digest(store, "grain", "email", [i2])
    store.ledger.mark_sent("grain", "email", d, [i2], {i2: {"en", "ru"}}, T0 + 5)
    assert [m.item.id for m in store.ledger.undelivered("grain", "email")] == [i3, i1]
    assert [m.item.id for m in store.ledger.undelivered("grain", "markdown")] == [i2, i3, i1]  # per channel
    assert store.ledger.sent_stories("grain", "email") == {i2: (frozenset({"en", "ru"}), T0 + 5)}
    assert store.ledger.delivered_ids("grain") == {i2}
    assert store.ledger.last_sent_end("grain", "email") == T0
    assert store.ledger.last_sent_end("grain", "markdown") is None
    sent = store.ledger.recent_sent("grain", "email", 5)
    assert [(r.id, r.status, r.item_ids, r.claim) for r in sent] == [(d, "sent", (i2,), None)]
    store.ledger.mark_sent("grain", "email", None, [i1], {i2: {"en", "ru", "kk"}}, T0 + 9)  # suppressed only
    assert store.ledger.sent_stories("grain", "email")[i2][0] == frozenset({"en", "ru", "kk"})
    assert store.ledger.delivered_ids("grain") == {i1, i2}


def test_ledger_pending_claim_attempt_supersede_and_refuse(store: Store) -> None:
    assert store.ledger.pending("grain", "email") is None
    d = digest(store, "grain", "email", [1, 2], claim="7:abc")
    p = store.ledger.pending("grain", "email")
    assert isinstance(p, DigestRecord)
    assert (p.id, p.status, p.attempts, p.item_ids, p.claim, p.claim_until, p.location, p.period_start) == (
        d, "pending", 0, (1, 2), "7:abc", T0 + 900, "/out/email.md", T0 - 3600)
    store.ledger.claim(d, T0 + 60, "/out/email2.md", [1, 2, 3], "8:def", T0 + 960)
    p = store.ledger.pending("grain", "email")
    assert p is not None and (p.period_end, p.item_ids, p.claim, p.location) == (T0 + 60, (1, 2, 3), "8:def",
                                                                                  "/out/email2.md")
    assert store.ledger.find("grain", "email", "/out/email2.md") == p
    assert store.ledger.find("grain", "email", "/nowhere") is None
    store.ledger.record_attempt(d, 1, T0 + 120, "HTTP 503 " + "x" * 600)
    p = store.ledger.pending("grain", "email")
    assert p is not None and (p.attempts, p.next_attempt, p.claim, len(p.error or "")) == (1, T0 + 120, None, 500)
    assert store.ledger.watchlists_with_pending() == ["grain"]
    assert store.ledger.watchlists_with_pending(T0 + 100) == []
    assert store.ledger.watchlists_with_pending(T0 + 120) == ["grain"]
    [s] = store.ledger.channel_summary()
    assert (s.watchlist, s.channel, s.last_sent, s.error is not None, s.attempts, s.next_attempt, s.failed_at) == (
        "grain", "email", None, True, 1, T0 + 120, T0)
    store.ledger.supersede(d)
    assert store.ledger.pending("grain", "email") is None
    d2 = digest(store, "grain", "webhook", [4, 5])
    store.ledger.refuse("grain", "webhook", d2, [4, 5], T0 + 200, 1, "HTTP 413 too large")
    assert store.ledger.pending("grain", "webhook") is None
    assert store.ledger.delivered_ids("grain") == {4, 5}  # handled on that channel
    [r] = store.ledger.refused_since(T0 - 1, 5)
    assert (r.watchlist, r.channel, r.error, r.created) == ("grain", "webhook", "HTTP 413 too large", T0)
    assert store.ledger.refused_since(T0 + 1, 5) == []


def test_claim_inside_a_transaction_is_seen_by_another_process(store: Store, other: Store) -> None:
    with store.transaction(durable=True):
        assert other.ledger.pending("grain", "email") is None
        digest(store, "grain", "email", [1], claim="42:tok")
    seen = other.ledger.pending("grain", "email")
    assert seen is not None and seen.claim == "42:tok"


def test_watchlist_applied_state(store: Store) -> None:
    assert store.ledger.applied_watchlists() == {}
    store.ledger.set_applied("grain", "fp1", T0)
    store.ledger.set_applied("grain", "fp2", T0 + 1)
    store.ledger.set_applied("oil", None, T0)
    assert store.ledger.applied_watchlists() == {"grain": "fp2", "oil": None}


# ---- caches, meta ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["fulltext", "robots"])
def test_key_value_caches(store: Store, name: str) -> None:
    cache = getattr(store.caches, name)
    assert cache.get("k") is None
    cache.put("k", CachedValue("body", "ok", T0))
    cache.put("k", CachedValue(None, "http-503", T0 + 1))  # replaces
    cache.put("j", CachedValue("other", "ok", T0))
    assert cache.get("k") == CachedValue(None, "http-503", T0 + 1)
    cache.delete_all()
    assert cache.get("j") is None


def test_translation_cache(store: Store, other: Store) -> None:
    tr = store.caches.translations
    assert tr.get_many([("sha1", "ru")], "en", "v1") == {}
    tr.put_many([("sha1", "ru", "Hello"), ("sha2", "kk", "World")], "en", "v1", T0)
    tr.put_many([("sha1", "ru", "Hello again")], "en", "v1", T0 + 1)
    assert tr.get_many([("sha1", "ru"), ("sha2", "kk"), ("sha3", "ru")], "en", "v1") == {
        ("sha1", "ru"): "Hello again", ("sha2", "kk"): "World"}
    assert tr.get_many([("sha1", "ru")], "en", "v2") == {}  # another model version
    assert tr.get_many([("sha1", "ru")], "de", "v1") == {}  # another target
    assert other.caches.translations.get_many([("sha2", "kk")], "en", "v1") == {("sha2", "kk"): "World"}


def test_meta(store: Store, other: Store) -> None:
    assert store.meta.get("daemon_pid") is None
    store.meta.set("daemon_pid", "12")
    store.meta.set("daemon_pid", "13")
    assert other.meta.get("daemon_pid") == "13"
    store.meta.delete("daemon_pid")
    assert store.meta.get("daemon_pid") is None


# ---- near-duplicate signatures, story evidence -------------------------------------------------------

def sig(key: str, kind: str = "item", story: int | None = None, exact: bytes | None = None) -> SignatureRecord:
    return SignatureRecord(key, kind, story, 10, 20, False, b"\x01\x00\x00\x00" * 4, b"\x02\x00\x00\x00" * 2,  # type: ignore[arg-type]
                           b"\x03\x00\x00\x00", exact)


def test_lsh_settings_put_get_replace_and_scan(store: Store) -> None:
    assert store.lsh.settings() == {}
    assert store.lsh.init_settings({"bands": "16", "uid": "u1"}) == {"bands": "16", "uid": "u1"}
    assert store.lsh.init_settings({"bands": "32", "rows": "4"}) == {"bands": "16", "uid": "u1", "rows": "4"}
    id1, old = store.lsh.put(sig("item:1", story=1))
    assert old is None
    id2, _ = store.lsh.put(sig("seed:a", "seed", exact=b"\x09\x00\x00\x00"))
    got = store.lsh.get("item:1")
    assert got is not None and (got.id, got.kind, got.story_id, got.n_shingles, got.shingles) == (
        id1, "item", 1, 10, b"\x01\x00\x00\x00" * 4)
    id3, old = store.lsh.put(sig("item:1", story=5))  # re-adding replaces
    assert old is not None and old.id == id1 and id3 > id2
    store.lsh.forget_bands(old.id, [1, 2, 3])
    assert store.lsh.count() == 2 and store.lsh.count("seed") == 1 and store.lsh.count("item") == 1
    assert store.lsh.max_id() == id3
    assert store.lsh.ids_after(id1) == [id2, id3]
    assert [r.doc_key for r in store.lsh.by_ids([id2, id3])] == ["seed:a", "item:1"]
    assert [r.doc_key for r in store.lsh.by_ids([id2, id3], items_only=True)] == ["item:1"]
    [seed] = store.lsh.seeds()
    assert (seed.doc_key, seed.shingle_set) == ("seed:a", b"\x09\x00\x00\x00")
    store.lsh.set_story("item:1", 9)
    assert store.lsh.get("item:1").story_id == 9  # type: ignore[union-attr]
    assert store.lsh.get("item:404") is None


def test_lsh_location_names_the_state(store: Store, backend: str) -> None:
    where = store.lsh.location()
    assert where is None or isinstance(where, str)
    assert open_store(None).lsh.location() is None  # in memory: no sidecar file


def test_story_evidence(store: Store) -> None:
    day = int(T0 // 86400)
    store.story.add(StoryDoc(1, 1, T0, '{"terms": ["wheat"]}'), ["wheat", "n:Astana"], ["", "wheat"])
    store.story.add(StoryDoc(2, 1, T0 + 3600, '{"terms": ["wheat", "rail"]}'), ["wheat", "rail"], ["", "wheat", "rail"])
    store.story.add(StoryDoc(3, 3, T0 + 10 * 86400, '{}'), ["wheat"], ["", "wheat"])
    assert store.story.term_counts(["", "wheat", "rail", "oil"], day - 1, day + 1) == {"": 2, "wheat": 2, "rail": 1}
    assert store.story.term_counts([], day, day) == {}
    found = store.story.candidates(["wheat", "rail"], T0 - 60, T0 + 7200, 10)
    assert [d.item_id for d in found] == [2, 1]  # most shared keys first
    assert [d.item_id for d in store.story.candidates(["wheat", "rail"], T0 - 60, T0 + 7200, 1)] == [2]
    assert store.story.candidates([], T0, T0, 10) == []
    assert store.story.get(2) == StoryDoc(2, 1, T0 + 3600, '{"terms": ["wheat", "rail"]}')
    assert store.story.get(99) is None



def test_story_evidence_written_as_a_batch_counts_like_single_adds(store: Store, other: Store) -> None:
    """add_many: one statement per table; a term two reports of one day share is counted twice,
    added to the counts already stored; a report written again keeps its keys (OR IGNORE)."""
    day = int(T0 // 86400)
    store.story.add(StoryDoc(1, 1, T0, "{}"), ["wheat"], ["", "wheat"])
    store.story.add_many([
        (StoryDoc(2, 1, T0 + 60, "{}"), ["wheat", "rail"], ["", "wheat", "rail"]),
        (StoryDoc(3, 3, T0 + 120, "{}"), ["rail"], ["", "rail"]),
        (StoryDoc(4, 4, T0 + 86400, "{}"), ["oil"], ["", "oil"]),
    ])
    store.story.add_many([])
    assert other.story.term_counts(["", "wheat", "rail", "oil"], day, day) == {"": 3, "wheat": 2, "rail": 2}
    assert other.story.term_counts(["", "oil"], day, day + 1) == {"": 4, "oil": 1}
    assert [d.item_id for d in other.story.candidates(["wheat", "rail"], T0 - 60, T0 + 600, 10)] == [2, 3, 1]
    assert other.story.ids_after(1) == [2, 3, 4]

# ---- transactions, schema ----------------------------------------------------------------------------

def test_transaction_rolls_back_and_nests(store: Store, other: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.meta.set("a", "1")
            with store.transaction():  # joins the outer one
                store.meta.set("b", "2")
            raise RuntimeError("boom")
    assert store.meta.get("a") is None and store.meta.get("b") is None
    with store.transaction(durable=True):
        store.meta.set("a", "1")
        with store.transaction():
            store.meta.set("b", "2")
    assert (other.meta.get("a"), other.meta.get("b")) == ("1", "2")


def test_migrations_are_idempotent_and_keep_data(backend: str, tmp_path: Path) -> None:
    st = open_backend(backend, tmp_path)
    version = st.schema_version()
    assert version >= 4
    st.meta.set("k", "v")
    st.close()
    again = open_backend(backend, tmp_path)
    try:
        assert again.schema_version() == version
        assert again.meta.get("k") == "v"
    finally:
        again.close()


def test_a_newer_schema_is_refused_with_a_clear_error(backend: str, tmp_path: Path) -> None:
    st = open_backend(backend, tmp_path)
    version = st.schema_version()
    st.close()
    set_schema_version(backend, tmp_path, version + 1)
    with pytest.raises(StoreError, match="newer than this news-monitor"):
        open_backend(backend, tmp_path)


def test_open_store_picks_the_backend(tmp_path: Path) -> None:
    st = open_store(f"sqlite:///{tmp_path}/a.db")
    st.close()
    assert (tmp_path / "a.db").exists()
    with pytest.raises(StoreError, match="postgresql"):
        open_store("postgresql://monitor@localhost/monitor")
    with pytest.raises(StoreError, match="unknown database address"):
        open_store("mysql://x/y")


# ---- SQLite only: the old layout, query plans ------------------------------------------------------

OLD_LAYOUT = Path(__file__).parent / "data" / "store" / "old_layout_v3.db"


def test_an_old_layout_database_upgrades_with_its_rows(tmp_path: Path) -> None:
    """A state file written by the version before the typed store (schema 3, side tables created
    inline by neardup, story, fulltext, robots and the translator) opens with every row intact."""
    db = tmp_path / "monitor.db"
    db.write_bytes(OLD_LAYOUT.read_bytes())
    tables = ("items", "fingerprints", "matches", "feeds", "neardup_docs", "neardup_meta", "story_docs",
              "story_terms", "story_df", "fulltext_cache", "robots_cache", "translation_cache")
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 3
        before = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    raw.close()
    assert all(before[t] > 0 for t in tables), before
    st = open_store(db)
    try:
        assert st.schema_version() >= 4
        assert len(st.items.list()) == before["items"]
        assert st.lsh.count() == before["neardup_docs"]
        assert st.lsh.settings()["uid"]
        ft = st.caches.fulltext.get("http://127.0.0.1:9/article")
        assert ft is not None and ft.status == "ok"
        rb = st.caches.robots.get("http://127.0.0.1:9")
        assert rb is not None and rb.status == "ok"
        assert st.caches.translations.get_many([("0" * 64, "ru")], "en", "old-v1") == {("0" * 64, "ru"): "Old text"}
    finally:
        st.close()
    with sqlite3.connect(db) as raw:
        after = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    raw.close()
    assert after == before


def test_sqlite_per_batch_lookups_search_an_index(tmp_path: Path) -> None:
    from monitor.store.sqlite.base import connect
    from monitor.store.sqlite.items import per_batch_queries

    conn = connect(tmp_path / "m.db")
    try:
        for name, sql in per_batch_queries().items():
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, [1] * sql.count("?")))
            assert "SCAN" not in plan and "SEARCH" in plan, f"{name}: {plan}"
    finally:
        conn.close()


def test_two_connections_apply_at_the_same_moment(tmp_path: Path) -> None:
    """Threads on two connections (as two processes) applying the same entries: each stored once."""
    import threading

    a, b = open_store(tmp_path / "s.db"), open_store(tmp_path / "s.db")
    fid = a.feeds.sync([("https://a.example/rss", "A")])["https://a.example/rss"]
    results = []

    def run(st: Store) -> None:
        with st.transaction():
            first = st.items.reserve_ids(20)
            results.append(st.items.apply([item(first + n, fid, f"g{n}") for n in range(20)]))

    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r.stored) for r in results) == [0, 20]
    assert sorted(r.guid for r in a.items.list()) == sorted(f"g{n}" for n in range(20))
    a.close()
    b.close()


# ---- the boundary ----------------------------------------------------------------------------------

def test_only_the_store_speaks_sql_and_it_imports_only_errors() -> None:
    import ast
    import re

    root = Path(__file__).resolve().parent.parent / "monitor"
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        in_store = rel.startswith("store/")
        if not in_store:
            assert not re.search(r"^\s*(import sqlite3|from sqlite3)", text, re.M), f"{rel} imports sqlite3"
            assert not re.search(r"\.execute(many|script)?\(", text), f"{rel} runs SQL"
            continue
        for node in ast.walk(ast.parse(text)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                if name.startswith("monitor"):
                    assert name == "monitor" or name.startswith("monitor.store"), f"{rel} imports {name}"
        if rel == "store/api.py":
            assert "sqlite3" not in text and "SELECT" not in text, "the interface holds no SQL"
