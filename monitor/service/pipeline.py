"""Pipeline: the one place that knows the order of the stages.

    fetch -> parse -> exact dedup -> detect -> translate -> near-dup -> match -> store

:class:`Services` holds what a running service shares (config, database,
watchlists, translator, near-duplicate index). Database work runs on one
dedicated thread so the event loop stays free for fetching and for the
daemon's watchdog; parsing and analysis run in a process pool or on worker
threads, translation (CTranslate2) on a lane of its own: neither ever holds the
database thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from monitor.analysis.dedup import canonical_url, content_fingerprint
from monitor.analysis.language import LanguageResult, detect_item
from monitor.analysis.neardup import NearDupIndex, NearDupSettings, Signature, decide, make_signature
from monitor.analysis.story import StoryIndex, StorySettings
from monitor.analysis.story_text import StoryText, story_text
from monitor.analysis.watchlists import MatchInput, Watchlist, match_all, prepare
from monitor.config import Config, FeedConfig
from monitor.ingest.fetch import Fetcher, FetchResult, next_poll_delay
from monitor.ingest.parse import Entry, ParsedFeed, parse_feed
from monitor.ingest.seeds import SEED_FEED_NAME, SEED_FEED_URL, Seed, load_seeds
from monitor.service.malloc import Trimmer
from monitor.service.workers import Lane
from monitor.store import FeedState, FeedUpdate, ItemRef, MatchRecord, NewItem, Store, open_store
from monitor.store.api import WAITING_FOR_WORKER

log = logging.getLogger(__name__)
T = TypeVar("T")

# Why an item is a duplicate (items.duplicate_kind, `items --json`): the same canonical URL or
# content as an earlier item, a seed's near-copy, a member or an update of an earlier story.
ExactKind = Literal["url", "content"]
DuplicateKind = Literal[ExactKind, "seed", "story", "update"]
GONE_LIMIT = 3  # a feed answering 410 this many times in a row is disabled
TRANSLATE_SUMMARY_CHARS = 600  # translate the lead of long summaries, not whole articles
TRANSLATE_STUCK = 120.0  # a translation lane busy with one job this long: store items untranslated meanwhile


@dataclass
class FeedOutcome:
    feed: str
    url: str
    status: int | None
    new_items: int = 0
    duplicates: int = 0
    matched: int = 0
    error: str | None = None
    error_kind: str | None = None  # FetchResult.error_kind, or "parse"
    not_modified: bool = False
    next_poll: float = 0.0
    elsewhere: bool = False  # not polled: another worker on the shared store held or had just polled it


@dataclass
class Services:
    config: Config
    store: Store
    watchlists: list[Watchlist]
    neardup: NearDupIndex
    feed_ids: dict[str, int] = field(default_factory=dict)
    translator: Any = None  # monitor.analysis.translate.Translator, created on first need (on the translation lane)
    # the database thread: a daemon thread, so a stop can give up on a wedged transaction
    db_executor: Lane = field(default_factory=lambda: Lane("monitor-db"))
    cpu_executor: Executor | None = None  # a process pool for parsing big cycles
    # CTranslate2 calls: never on the database thread (a model load or a long batch would stop storing)
    translate_lane: Lane = field(default_factory=lambda: Lane("monitor-translate"))
    stories: StoryIndex | None = None  # story evidence of items (created by open_services)
    trimmer: Trimmer = field(default_factory=Trimmer)  # freed heap pages back to the system as items are stored

    async def db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the database thread."""
        return await asyncio.get_running_loop().run_in_executor(self.db_executor, fn, *args)

    def db_idle_for(self) -> float:
        """Seconds since the database thread last finished a job, 0 while it is idle:
        how long it has been stuck in one job."""
        return self.db_executor.stuck_for()

    async def cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a pure CPU-bound stage (parse, analyse) in the process pool when there is one,
        else on a worker thread (never on the database thread: it would hold up other feeds)."""
        if self.cpu_executor is not None:
            return await asyncio.get_running_loop().run_in_executor(self.cpu_executor, fn, *args)
        return await asyncio.to_thread(fn, *args)

    def close(self) -> None:
        self.db_executor.shutdown(wait=True)
        self.translate_lane.shutdown(wait=False)
        self.neardup.save()  # the database thread has ended: nothing changes the index now
        if self.cpu_executor is not None:
            self.cpu_executor.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    def get_translator(self) -> Any:
        if self.translator is None and self.config.translation.enabled:
            from monitor.analysis.translate import Translator  # cheap: argostranslate itself loads on first use

            self.translator = Translator.from_settings(self.store.caches.translations, self.config.models,
                                                       self.config.translation)
        return self.translator


def open_services(config: Config, *, watchlists: list[Watchlist] | None = None) -> Services:
    if config.translation.enabled and not config.translation.remote and config.translation.device != "cpu":
        from monitor.analysis.translate import resolve_device

        resolve_device(config.translation.device)  # "cuda" on a machine without one: ModelError, before any work
    st = open_store(config.database)
    if watchlists is None:
        from monitor.service.watchlist_cache import load_watchlists_cached

        db = config.database  # a PostgreSQL store has no local state file to put the cache beside
        cache = db.with_name(db.name + ".watchlists.pickle") if isinstance(db, Path) else None
        watchlists, problems = load_watchlists_cached(config.watchlists, cache)
        for p in problems:
            log.error("watchlist problem: %s", p)
    nd = NearDupIndex(st, NearDupSettings(threshold=config.dedup.threshold))
    svc = Services(config, st, watchlists, nd,
                   stories=StoryIndex(st, StorySettings(window=config.dedup.story_window)))
    feeds = [(f.url, f.name) for f in config.feeds] + [(SEED_FEED_URL, SEED_FEED_NAME)]
    svc.feed_ids = st.feeds.sync(feeds)
    return svc


# ---- one feed --------------------------------------------------------------------------------------

async def poll_feed(svc: Services, fetcher: Fetcher, feed: FeedConfig, row: FeedState | None = None
                    ) -> FeedOutcome:
    """Fetch, parse and ingest one feed; record its health. Never raises for feed problems."""
    feed_id = svc.feed_ids[feed.url]
    if row is None:
        row = await svc.db(svc.store.feeds.get, feed_id)
    url = row.moved_to or feed.url
    started = time.time()
    res = await fetcher.fetch(url, etag=row.etag, last_modified=row.last_modified)
    if res.not_modified:
        return await svc.db(_record_success, svc, feed, feed_id, res, None, started)
    if not res.ok or res.body is None:
        return await svc.db(_record_failure, svc, feed, feed_id, res, res.error or "no body", res.error_kind,
                            started)
    parsed = await svc.cpu(parse_feed, res.body, res.content_type, res.final_url)
    if parsed.error:
        return await svc.db(_record_failure, svc, feed, feed_id, res, parsed.error, "parse", started)
    if parsed.warning:
        log.warning("%s: %s", feed.name, parsed.warning)
    known = await svc.db(svc.store.items.known_guids, feed_id, [e.guid for e in parsed.entries])
    fresh = [e for e in parsed.entries if e.guid not in known]
    short: dict[str, str] | None = None
    if feed.fulltext and fresh:
        fresh, short = await _with_fulltext(svc, fetcher, fresh)
    analysed = await svc.cpu(analyse_entries, fresh, feed.language, svc.config.translation.target) if fresh else []
    translations = await translate_off_thread(svc, analysed)
    return await svc.db(_ingest_and_record, svc, feed, feed_id, res, parsed, started, analysed, short, translations)


@dataclass(frozen=True)
class Translated:
    """What the translation stage decided for one entry (by guid)."""

    title: str | None
    summary: str | None
    translated_to: str | None
    status: str


async def translate_off_thread(svc: Services, analysed: list[Analysed]) -> dict[str, Translated] | None:
    """Translate what needs it on the translation lane (not the database thread). Items that are
    exact duplicates of stored ones are not translated. A lane stuck in one job (a model load
    waiting on a stalled download) does not hold up storing: the items go in untranslated."""
    cfg = svc.config.translation
    todo = [a for a in analysed if cfg.enabled and a.language.language not in (None, cfg.target)
            and not a.language.uncertain]
    if not todo:
        return None
    keys = [(k, v) for a in todo for k, v in (("url", a.canonical), ("content", a.content)) if v]
    found = await svc.db(svc.store.items.lookup_fingerprints, keys)
    todo = [a for a in todo if not any(k in found for k in (("url", a.canonical), ("content", a.content)))]
    if not todo:
        return None
    if svc.translate_lane.stuck_for() > TRANSLATE_STUCK:
        log.warning("translation busy for %.0f s; %d item(s) stored untranslated", svc.translate_lane.stuck_for(),
                    len(todo))
        return {a.entry.guid: Translated(None, None, None, "unavailable: translator busy") for a in todo}
    return await svc.translate_lane.run(translate_entries, svc, todo)


def translate_entries(svc: Services, analysed: list[Analysed]) -> dict[str, Translated]:
    """The translation stage for analysed entries (runs on the translation lane)."""
    pending = [_Pending(a.entry, a.canonical, a.content, language=a.language, sig=a.sig) for a in analysed]
    _translate(svc, pending)
    return {p.entry.guid: Translated(p.title_tr, p.summary_tr, p.translated_to, p.translation_status)
            for p in pending}


async def _with_fulltext(svc: Services, fetcher: Fetcher, fresh: list[Entry]) -> tuple[list[Entry], dict[str, str]]:
    """New entries of a ``fulltext: true`` feed get the article text as their summary
    (so detection, translation, dedup and matching see the real article); the digest
    keeps the feed's short summary."""
    from monitor.ingest.fulltext import enrich_entries, short_summary

    enriched = await enrich_entries(fetcher, svc.store, fresh, settings=svc.config.fetch, db=svc.db)
    short = {o.guid: short_summary(o, n) for o, n in zip(fresh, enriched) if n.summary != o.summary}
    return enriched, short


def _ingest_and_record(svc: Services, feed: FeedConfig, feed_id: int, res: FetchResult, parsed: ParsedFeed,
                       started: float, analysed: list[Analysed], short: dict[str, str] | None = None,
                       translations: dict[str, Translated] | None = None) -> FeedOutcome:
    counts = ingest(svc, feed.name, feed_id, [a.entry for a in analysed], override=feed.language, now=started,
                    short_summaries=short, analysed=analysed, translations=translations)
    out = _record_success(svc, feed, feed_id, res, parsed, started, counts[0])
    out.new_items, out.duplicates, out.matched = counts
    svc.trimmer.stored(counts[0])
    return out


def _record_success(svc: Services, feed: FeedConfig, feed_id: int, res: FetchResult, parsed: ParsedFeed | None,
                    started: float, new_items: int = 0) -> FeedOutcome:
    delay = next_poll_delay(feed.interval, 0, None, svc.config.fetch)
    fields: dict[str, Any] = dict(last_fetch=started, last_success=started, last_status=res.status, last_error=None,
                                  error_kind=None, consecutive_failures=0, next_poll=started + delay, gone_count=0)
    if not res.not_modified:
        fields.update(etag=res.etag, last_modified=res.last_modified)
    if parsed is not None and parsed.title:
        fields["title"] = parsed.title
    if res.moved_to:
        fields["moved_to"] = res.moved_to
        log.warning("%s: feed moved permanently to %s (update config.yaml)", feed.name, res.moved_to)
    if new_items:
        fields["last_new_item"] = started
    svc.store.feeds.record_fetch(feed_id, FeedUpdate(fields, new_items=new_items))
    return FeedOutcome(feed.name, feed.url, res.status, not_modified=res.not_modified, next_poll=started + delay)


def _record_failure(svc: Services, feed: FeedConfig, feed_id: int, res: FetchResult, error: str,
                    kind: str | None, started: float) -> FeedOutcome:
    row = svc.store.feeds.get(feed_id)
    failures = row.consecutive_failures + 1
    delay = next_poll_delay(feed.interval, failures, res.retry_after, svc.config.fetch)
    fields: dict[str, Any] = dict(last_fetch=started, last_status=res.status, last_error=error[:500],
                                  error_kind=kind, consecutive_failures=failures, next_poll=started + delay)
    if res.status == 410:
        fields["gone_count"] = row.gone_count + 1
        if row.gone_count + 1 >= GONE_LIMIT:
            fields["disabled_reason"] = f"HTTP 410 Gone {GONE_LIMIT} times in a row; remove it from config.yaml"
            log.error("%s: disabled: the server says the feed is gone for good", feed.name)
    svc.store.feeds.record_fetch(feed_id, FeedUpdate(fields))
    log.warning("%s: %s (failure %d in a row, next try in %.0f s)", feed.name, error, failures, delay)
    return FeedOutcome(feed.name, feed.url, res.status, error=error, error_kind=kind, next_poll=started + delay)


# ---- items -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Analysed:
    """The CPU-bound, database-free part of ingesting one entry."""

    entry: Entry
    canonical: str | None
    content: str | None
    language: LanguageResult
    sig: Signature  # of the original text: used unless the item gets translated
    story: StoryText | None = None  # story evidence of the original text (its translation is merged in later)


def analyse_entries(entries: list[Entry], override: str | None, target: str, *, with_story: bool = True
                    ) -> list[Analysed]:
    """Exact-dedup keys, language, the near-duplicate signature of the original text and (with
    ``with_story``) its story evidence. A pure function: runs in the process pool during big
    cycles, so none of it holds the database thread."""
    out = []
    for e in entries:
        lang = detect_item(e.title, e.summary, declared=e.language_hint, override=override)
        sig = make_signature(f"{e.title}\n{e.summary}", None, lang.language)
        story = story_text(e.title, e.summary, lang.language) if with_story else None
        out.append(Analysed(e, canonical_url(e.link), content_fingerprint(e.title, e.summary), lang, sig, story))
    return out


@dataclass
class _Pending:
    entry: Entry
    canonical: str | None
    content: str | None
    duplicate_of: int | None = None
    duplicate_kind: DuplicateKind | None = None
    similarity: float | None = None
    story_id: int | None = None
    language: Any = None
    title_tr: str | None = None
    summary_tr: str | None = None
    translated_to: str | None = None
    translation_status: str = "not_needed"
    item_id: int = 0
    sig: Signature | None = None
    story: StoryText | None = None  # story evidence of the original text, when analysed already

    def keys(self) -> list[tuple[ExactKind, str]]:
        out: list[tuple[ExactKind, str]] = []
        if self.canonical:
            out.append(("url", self.canonical))
        if self.content:
            out.append(("content", self.content))
        return out


def ingest(svc: Services, feed_name: str, feed_id: int, entries: list[Entry], *, override: str | None = None,
           now: float | None = None, is_seed: bool = False,
           short_summaries: dict[str, str] | None = None,
           analysed: list[Analysed] | None = None,
           translations: dict[str, Translated] | None = None) -> tuple[int, int, int]:
    """Store the entries not seen before. Returns (new items, duplicates among them, matched items).

    ``is_seed`` marks the entries as the seed corpus: fingerprinted and indexed, never matched.
    ``short_summaries`` (guid -> text) is what digests show when ``summary`` holds a whole article.
    ``analysed`` carries the CPU-bound work already done off this thread (see analyse_entries),
    ``translations`` the translation stage's results (see translate_off_thread).
    Uniqueness is re-checked inside the write transaction: another process (a second
    ``monitor run --once``, the daemon) that stored some of the entries meanwhile wins them.
    """
    now = now or time.time()
    st = svc.store
    known = st.items.known_guids(feed_id, [e.guid for e in entries])
    fresh = [e for e in entries if e.guid not in known]
    if not fresh:
        return 0, 0, 0
    by_guid = {a.entry.guid: a for a in analysed or ()}
    target = svc.config.translation.target
    pending = []
    for e in fresh:
        # analysed here (seeds, tools): story evidence only where the decision needs it (see _story_evidence)
        a = by_guid.get(e.guid) or analyse_entries([e], override, target, with_story=False)[0]
        pending.append(_Pending(a.entry, a.canonical, a.content, language=a.language, sig=a.sig, story=a.story))
    done = translations or {}
    for p in pending:
        t = done.get(p.entry.guid)
        if t is not None:
            p.title_tr, p.summary_tr, p.translated_to, p.translation_status = (t.title, t.summary, t.translated_to,
                                                                               t.status)
    untranslated = [p for p in pending if p.entry.guid not in done and _wants_translation(svc, p)]
    if untranslated:  # the synchronous path (seeds, tools): translate here, except exact duplicates
        _exact_duplicates(st, untranslated)
        _translate(svc, [p for p in untranslated if p.duplicate_of is None])
    try:
        with st.transaction():
            return _decide_and_apply(svc, st, feed_name, feed_id, pending, now, is_seed, short_summaries or {})
    except BaseException:
        if svc.stories is not None:
            svc.stories.discard()  # rolled back: the story evidence of this batch was not stored
        raise


def _decide_and_apply(svc: Services, st: Store, feed_name: str, feed_id: int, pending: list[_Pending], now: float,
                      is_seed: bool, short_summaries: dict[str, str]) -> tuple[int, int, int]:
    """Inside the write transaction: re-check uniqueness, decide each entry, write the batch.
    Returns (stored, duplicates among them, matched), as :func:`ingest`."""
    dups = matched = 0
    again = st.items.known_guids(feed_id, [p.entry.guid for p in pending])
    if again:
        pending = [p for p in pending if p.entry.guid not in again]  # stored meanwhile by another process
    _exact_duplicates(st, pending)
    first_id = st.items.reserve_ids(len(pending))
    batch: dict[tuple[str, str], int] = {}  # keys stored by earlier entries of this batch
    refs: dict[int, ItemRef] = {}  # earlier entries of this batch, not written yet
    rows: list[NewItem] = []
    for i, p in enumerate(pending):
        p.item_id = first_id + i
        if p.duplicate_of is None:
            for key in p.keys():
                if key in batch:
                    p.duplicate_of, p.duplicate_kind, p.similarity = batch[key], key[0], 1.0
                    break
        for key in p.keys():
            batch.setdefault(key, p.item_id)
        row = _decide_one(svc, feed_name, feed_id, p, now, is_seed, short_summaries.get(p.entry.guid), refs)
        rows.append(row)
        refs[row.id] = ItemRef(row.story_id, row.guid)
        dups += p.duplicate_of is not None
        matched += bool(row.matches)
    if svc.stories is not None:
        svc.stories.flush()  # the batch's story evidence, one statement per table
    st.items.apply(rows)  # the uniqueness re-check above holds: this transaction has the write lock
    return len(pending), dups, matched


def _wants_translation(svc: Services, p: _Pending) -> bool:
    lang = p.language
    return lang.language != svc.config.translation.target


def _exact_duplicates(st: Store, pending: list[_Pending]) -> None:
    """Same canonical URL or same content as a stored item (one query for the batch)."""
    found = st.items.lookup_fingerprints([k for p in pending for k in p.keys()])
    for p in pending:
        for key in p.keys():
            if key in found:
                p.duplicate_of, p.duplicate_kind, p.similarity = found[key], key[0], 1.0
                break


def _translate(svc: Services, pending: list[_Pending]) -> None:
    cfg = svc.config.translation
    target = cfg.target
    todo: list[_Pending] = []
    for p in pending:
        lang = p.language
        if lang.language == target:
            continue
        if not cfg.enabled:
            p.translation_status = "unavailable: translation disabled"
        elif lang.language is None or lang.uncertain:
            p.translation_status = "unavailable: language uncertain"
        elif cfg.remote:  # a `monitor run --translate-only` worker translates it (retranslate.py)
            p.translation_status = WAITING_FOR_WORKER
        else:
            todo.append(p)
    if not todo:
        return
    from monitor.analysis.translate import source_code

    translator = svc.get_translator()
    requests: list[tuple[str, str]] = []
    for p in todo:
        code = source_code(p.language.language, p.language.script) or p.language.language
        requests.append((p.entry.title, code))
        requests.append((_lead(p.entry.summary), code))
    try:
        results = translator.translate_many(requests)
    except Exception as e:  # noqa: BLE001 - a broken model must not lose items
        log.error("translation failed: %s", e)
        for p in todo:
            p.translation_status = f"unavailable: {e}"[:200]
        return
    for i, p in enumerate(todo):
        rt, rs = results[2 * i], results[2 * i + 1]
        if rt.status in ("translated", "cached"):
            p.title_tr = rt.text
            p.summary_tr = rs.text if rs.status in ("translated", "cached", "not_needed") and p.entry.summary else None
            p.translated_to = target
            p.translation_status = rt.status
        else:
            p.translation_status = f"unavailable: {rt.reason or rt.status}"


def _lead(text: str) -> str:
    from monitor.analysis.translate import cut_lead  # at sentence boundaries, every script's full stop

    return cut_lead(text, TRANSLATE_SUMMARY_CHARS)


def _decide_one(svc: Services, feed_name: str, feed_id: int, p: _Pending, now: float, is_seed: bool,
                summary_short: str | None, batch: dict[int, ItemRef]) -> NewItem:
    """Near-duplicate and story decisions, index and match one item: the row to store. ``batch``
    holds the earlier entries of this batch (stored with it, not yet written)."""
    e = p.entry
    english_title = p.title_tr or e.title
    english_summary = p.summary_tr if p.summary_tr is not None else e.summary
    sig = None
    evidence: StoryText | None = None
    at = e.published.timestamp() if e.published else now  # publication time, else fetch time
    if p.duplicate_of is None:
        sig = p.sig if p.sig is not None and not p.title_tr else \
            make_signature(f"{english_title}\n{english_summary}", f"{e.title}\n{e.summary}" if p.title_tr else None,
                           p.language.language)
        candidates = svc.neardup.query(sig)
        best = decide([c for c in candidates if c.kind == "seed"]).match  # seeds have no story window
        if best is not None:
            p.duplicate_of = int(best.doc_key.split(":", 1)[1])
            p.duplicate_kind = "seed"
            p.similarity = round(best.similarity, 3)
            p.story_id = best.story_id
        elif not is_seed:
            evidence = _story_evidence(p)
            _story_decision(svc, p, evidence, at, [c for c in candidates if c.kind == "item"])
    else:
        ref = _ref(svc, batch, p.duplicate_of)
        p.story_id = ref.story_id if ref else None
    if p.story_id is None:
        p.story_id = p.item_id  # a new story is named after its first item
    seed_name = None
    if p.duplicate_kind == "seed":
        ref = _ref(svc, batch, p.duplicate_of)
        seed_name = ref.guid.split("#", 1)[0] if ref else None
    lang = p.language
    row = NewItem(
        id=p.item_id, feed_id=feed_id, guid=e.guid, link=e.link, canonical_url=p.canonical, title=e.title,
        summary=e.summary, author=e.author, published=e.published.timestamp() if e.published else None,
        fetched=now, language=lang.language, language_confidence=round(lang.confidence, 3),
        language_script=lang.script, language_uncertain=bool(lang.uncertain), content_hash=p.content or "",
        title_translated=p.title_tr, summary_translated=p.summary_tr, translated_to=p.translated_to,
        translation_status=p.translation_status, duplicate_of=p.duplicate_of, duplicate_kind=p.duplicate_kind,
        duplicate_similarity=p.similarity, duplicate_seed=seed_name, summary_short=summary_short,
        story_id=p.story_id, fingerprints=tuple(p.keys()),
    )
    if sig is not None:
        svc.neardup.add(f"item:{p.item_id}", "seed" if is_seed else "item", sig, p.story_id)
    if evidence is not None and svc.stories is not None:
        svc.stories.add(p.item_id, p.story_id, at, evidence)
    if is_seed or p.duplicate_kind in ("url", "content"):
        return row
    inp = MatchInput(title=e.title, summary=e.summary, language=lang.language, feed=feed_name,
                     title_translated=p.title_tr, summary_translated=p.summary_tr,
                     translated_to=p.translated_to or svc.config.translation.target)
    prepared = prepare(inp)  # tokenised and stemmed once, shared by every watchlist
    found = [MatchRecord(p.item_id, m.watchlist, m.score, tuple(m.why()), now)
             for m in match_all(svc.watchlists, prepared)]
    return replace(row, matches=tuple(found)) if found else row


def _ref(svc: Services, batch: dict[int, ItemRef], item_id: int | None) -> ItemRef | None:
    """Story and guid of an earlier item: of this batch, else stored."""
    if item_id is None:
        return None
    return batch.get(item_id) or svc.store.items.refs([item_id]).get(item_id)


def _story_evidence(p: _Pending) -> StoryText:
    """What the item says about its event: its own language, plus the English translation."""
    e = p.entry
    text = p.story if p.story is not None else story_text(e.title, e.summary, p.language.language)
    if p.title_tr and p.translated_to:
        text = text.merged(story_text(p.title_tr, p.summary_tr or "", p.translated_to))
    return text


NEAR_COPY = 0.6  # shingle overlap of a republication: joins an old story whatever the window


def _story_decision(svc: Services, p: _Pending, evidence: StoryText, at: float, items: list) -> None:
    """Join an earlier item's story (as a plain member or as an update) or start a new one."""
    if svc.stories is None:
        return
    also = []
    for c in items:  # near-copies of older items: the story index only looks inside the window
        item_id = int(c.doc_key.split(":", 1)[1])
        old = svc.stories.evidence_of(item_id)
        if old is not None and c.similarity >= NEAR_COPY:
            also.append((item_id, old[0], old[1], old[2]))
    d = svc.stories.decide(evidence, at, also)
    if d.outcome != "new_story":
        p.duplicate_of, p.duplicate_kind, p.similarity, p.story_id = d.item_id, d.outcome, round(d.score, 3), d.story_id


# ---- seeds -----------------------------------------------------------------------------------------

def sync_seeds(svc: Services) -> tuple[int, list[str]]:
    """Ingest seed files not yet stored (or edited since). Returns (added, problems)."""
    seeds, problems = load_seeds(svc.config.seeds)
    feed_id = svc.feed_ids[SEED_FEED_URL]
    entries = [seed_entry(s, f"{s.key}#{s.digest}") for s in seeds]
    added = ingest(svc, SEED_FEED_NAME, feed_id, entries, now=time.time(), is_seed=True)[0] if entries else 0
    if added:
        log.info("seed corpus: %d document(s) added", added)
    return added, [str(p) for p in problems]


def seed_entry(s: Seed, guid: str) -> Entry:
    return Entry(guid=guid, link=s.url, title=s.title, summary=s.text, published=s.published, author=None,
                 language_hint=s.language)


# ---- a whole cycle ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedGate:
    """Around each poll of :func:`poll_all`: ``take(feed_id)`` says whether to poll it now (a
    worker's feed lease, on the database thread), ``give(feed_id)`` releases it after."""

    take: Callable[[int], bool]
    give: Callable[[int], None]


async def poll_all(svc: Services, feeds: list[FeedConfig] | None = None, *,
                   progress: Callable[[FeedOutcome], None] | None = None,
                   gate: FeedGate | None = None) -> list[FeedOutcome]:
    feeds = [f for f in (feeds if feeds is not None else svc.config.feeds) if f.enabled]
    rows = {r.url: r for r in await svc.db(svc.store.feeds.all)}
    feeds = [f for f in feeds if not (f.url in rows and rows[f.url].disabled_reason)]
    outcomes: list[FeedOutcome] = []
    # Back-pressure: fetching may run only a little ahead of parsing and storing, so that
    # fetched bodies never pile up in memory during a big cycle.
    inflight = asyncio.Semaphore(max(4, svc.config.fetch.concurrency * 2))
    async with Fetcher(svc.config.fetch) as fetcher:
        async def one(f: FeedConfig) -> FeedOutcome:
            feed_id = svc.feed_ids[f.url]
            try:
                async with inflight:
                    if gate is not None and not await svc.db(gate.take, feed_id):
                        out = FeedOutcome(f.name, f.url, None, elsewhere=True)
                    else:
                        try:
                            out = await poll_feed(svc, fetcher, f, rows.get(f.url))
                        finally:
                            if gate is not None:
                                await svc.db(gate.give, feed_id)
            except Exception as e:  # noqa: BLE001 - one feed must never stop the others
                log.exception("%s: unexpected error", f.name)
                out = FeedOutcome(f.name, f.url, None, error=f"internal error: {type(e).__name__}: {e}")
            if progress:
                progress(out)
            return out

        outcomes = list(await asyncio.gather(*(one(f) for f in feeds)))
    return outcomes


# ---- watchlist edits -------------------------------------------------------------------------------

def rematch(svc: Services, wl: Watchlist, window: float, now: float | None = None) -> tuple[int, int]:
    """Re-apply an edited watchlist to stored items of the last ``window`` seconds.

    New matches go into the next digest; matches that no longer hold are dropped unless
    already delivered (the ledger is never rewritten). Returns (added, removed)."""
    now = now or time.time()
    st = svc.store
    rows = st.items.list(since=now - window, seeds=False, exact_duplicates=False)
    had = st.items.matched_ids(wl.name)
    delivered = st.ledger.delivered_ids(wl.name)
    added = removed = 0
    with st.transaction():
        for r in rows:
            inp = MatchInput(title=r.title, summary=r.summary, language=r.language, feed=r.feed_name,
                             title_translated=r.title_translated, summary_translated=r.summary_translated,
                             translated_to=r.translated_to or svc.config.translation.target)
            m = wl.match(inp)
            if m is not None:
                added += r.id not in had
                st.items.save_matches([MatchRecord(r.id, wl.name, m.score, tuple(m.why()), now)])
            elif r.id in had and r.id not in delivered:
                st.items.drop_match(r.id, wl.name)
                removed += 1
        st.ledger.set_applied(wl.name, wl.fingerprint, now)
    return added, removed


def rematch_changed(svc: Services, window: float, now: float | None = None) -> list[tuple[str, int, int]]:
    """Re-apply every watchlist that is new or edited since it was last applied to the store
    (``monitor run --once`` and daemon start; a hot reload calls :func:`rematch` itself).
    Returns (name, added, removed) for each one re-applied."""
    applied = svc.store.ledger.applied_watchlists()
    out = []
    for wl in svc.watchlists:
        if wl.fingerprint and applied.get(wl.name) != wl.fingerprint:
            added, removed = rematch(svc, wl, window, now)
            log.info("watchlist %s is new or edited: applied to stored items of the last %.0f days "
                     "(%d new match(es), %d dropped)", wl.name, window / 86400, added, removed)
            out.append((wl.name, added, removed))
    return out
