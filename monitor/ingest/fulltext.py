"""Full text for summary-only feeds (``fulltext: true``).

For each new entry the article page (``entry.link``, untrusted input) is fetched
through the shared :class:`~monitor.ingest.fetch.Fetcher` with ``untrusted=True`` (so the
address guard, per-host concurrency and the per-host politeness delay apply),
after robots.txt allows it, with a body cap fit for an article
(``fetch.fulltext_max_bytes``, 2 MB). trafilatura extracts the main text
(navigation, comments and related links left out) in a worker process with a
deadline, a memory limit and bounded concurrency (:mod:`monitor.ingest.extract_worker`),
and the entry's ``summary`` becomes that text, so language detection,
translation, dedup and matching see the article.

Every URL is fetched at most once: the outcome is cached in ``fulltext_cache``
(text on success, a status otherwise). Only transient failures (timeouts,
server errors, an unreachable robots.txt) are tried again, and not before
``RETRY_AFTER``. A failure keeps the entry as it was and logs one line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from monitor.analysis.text import shorten
from monitor.config import FetchSettings
from monitor.ingest.extract_worker import extract_bounded, extract_in_process
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import MAX_SUMMARY, Entry, clean_text, normalise_encoding
from monitor.ingest.robots import DbRunner, RobotsCache, run_inline
from monitor.store import CachedValue, Store
from monitor.store.api import KeyValueCache

log = logging.getLogger(__name__)

RETRY_AFTER = 6 * 3600.0  # a transient failure is tried again after this long
MIN_WORDS = 20  # fewer extracted words than this is not an article (paywall, index page)
SHORT_SUMMARY = 300  # characters of the digest summary built from article text
HTML_TYPES = ("text/html", "application/xhtml+xml")
TRANSIENT = {"timeout", "connect", "dns", "tls", "protocol", "robots-unavailable", "http-429", "http-500",
             "http-502", "http-503", "http-504",
             "extract-failed"}  # a worker that could not start or crashed; a timeout or memory verdict stays


@dataclass(frozen=True)
class FulltextResult:
    """The outcome for one URL: ``status`` is ``ok`` when ``text`` holds the article."""

    url: str
    status: str  # ok | robots | blocked | not-html | short | http-NNN | timeout | connect | ... | too_large
    #              | extract-timeout | extract-memory | extract-failed (the worker's verdict, cached)
    text: str | None = None
    cached: bool = False
    error: str | None = None


async def enrich_entries(fetcher: Fetcher, store: Store, entries: list[Entry], *,
                         settings: FetchSettings, db: DbRunner = run_inline,
                         clock: Callable[[], float] = time.time) -> list[Entry]:
    """Entries in the same order, ``summary`` replaced by the article text where it could be had.

    ``db`` runs the (small, synchronous) SQLite calls; pass the pipeline's database-thread
    runner when the store belongs to another thread.
    """
    if not entries:
        return []
    results = await fetch_articles(fetcher, store, [e.link for e in entries if e.link], settings=settings,
                                   db=db, clock=clock)
    out: list[Entry] = []
    for e in entries:
        r = results.get(e.link) if e.link else None
        if r is None or r.status != "ok" or not r.text:
            out.append(e)
            continue
        text = clean_text(r.text, MAX_SUMMARY)
        out.append(replace(e, summary=text) if len(text) > len(e.summary) else e)
    return out


async def fetch_articles(fetcher: Fetcher, store: Store, urls: Sequence[str], *,
                         settings: FetchSettings, db: DbRunner = run_inline,
                         clock: Callable[[], float] = time.time) -> dict[str, FulltextResult]:
    """Article text for each distinct URL (cached, robots.txt honoured), concurrently."""
    robots = RobotsCache(fetcher, store, settings.user_agent, db=db, clock=clock)
    distinct = list(dict.fromkeys(urls))
    got = await asyncio.gather(*(_one(fetcher, store.caches.fulltext, robots, u, db, clock) for u in distinct))
    return dict(zip(distinct, got))


async def _one(fetcher: Fetcher, cache: KeyValueCache, robots: RobotsCache, url: str, db: DbRunner,
               clock: Callable[[], float]) -> FulltextResult:
    row = await db(cache.get, url)
    if row is not None:
        text, fetched, status = row.value, row.fetched, row.status
        if status not in TRANSIENT or clock() - (fetched or 0) < RETRY_AFTER:
            return FulltextResult(url, status, text if status == "ok" else None, cached=True)
    try:
        result = await _fetch_and_extract(fetcher, robots, url)
    except Exception as e:  # noqa: BLE001 - one bad page must not stop the feed
        result = FulltextResult(url, "error", error=f"{type(e).__name__}: {e}"[:300])
    if result.status != "ok":
        log.warning("full text of %s not used: %s", url, result.error or result.status)
    if result.status != "blocked":  # the guard's answer depends on config; do not remember it
        await db(cache.put, url, CachedValue(result.text, result.status, clock()))
    return result


async def _fetch_and_extract(fetcher: Fetcher, robots: RobotsCache, url: str) -> FulltextResult:
    decision = await robots.check(url)
    if not decision.allowed:
        if decision.blocked:
            return FulltextResult(url, "blocked", error=decision.reason)
        status = "robots-unavailable" if "unavailable" in (decision.reason or "") else "robots"
        return FulltextResult(url, status, error=decision.reason)
    res = await fetcher.fetch(url, untrusted=True, max_bytes=fetcher.settings.fulltext_max_bytes)
    if not res.ok or res.body is None:
        kind = res.error_kind or "error"
        status = f"http-{res.status}" if kind == "http" and res.status else kind
        return FulltextResult(url, status, error=res.error)
    ctype = (res.content_type or "").split(";")[0].strip().lower()
    if ctype and ctype not in HTML_TYPES:
        return FulltextResult(url, "not-html", error=f"the page is {ctype}, not HTML")
    html = normalise_encoding(res.body, res.content_type)[0].decode("utf-8", "replace")
    s = fetcher.settings
    done = await extract_bounded(html, res.final_url, timeout=s.fulltext_timeout, memory=s.fulltext_memory,
                                 concurrency=s.fulltext_concurrency)
    if done.status != "ok" or done.text is None:
        return FulltextResult(url, done.status, error=done.error)
    text = done.text
    if len(text.split()) < MIN_WORDS:
        return FulltextResult(url, "short", error=f"only {len(text.split())} words of article text found")
    return FulltextResult(url, "ok", text)


def extract_text(html: str, url: str | None = None) -> str:
    """The main text of an article page, in this process (trafilatura; comments, navigation and
    tables left out). The pipeline uses :func:`monitor.ingest.extract_worker.extract_bounded` instead."""
    return extract_in_process(html, url)


def short_summary(original: Entry, enriched: Entry, limit: int = SHORT_SUMMARY) -> str:
    """What a digest shows: the feed's own summary, or the article's opening when the feed had none."""
    if original.summary.strip():
        return original.summary
    return shorten(enriched.summary, limit, at="sentence")

