"""robots.txt for article fetches, cached per origin in SQLite.

Rules follow RFC 9309 where urllib.robotparser allows: a 2xx robots.txt is parsed
(first 500 KiB); a 4xx means no rules; a 5xx or a network failure means "disallow
everything" until the cache entry expires (an hour), after which it is asked again.
Good answers are kept a day. The robots.txt request itself goes through the same
:class:`~monitor.ingest.fetch.Fetcher` (address guard, per-host limits, politeness delay).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from monitor.ingest.fetch import Fetcher
from monitor.store import CachedValue, Store

log = logging.getLogger(__name__)

ROBOTS_TTL = 86400.0  # a robots.txt that was read (or absent) is trusted this long
ROBOTS_ERROR_TTL = 3600.0  # an unreachable robots.txt blocks the host this long
MAX_ROBOTS_BYTES = 500 * 1024

DbRunner = Callable[..., Awaitable[Any]]


async def run_inline(fn: Callable[..., Any], *args: Any) -> Any:
    """The default database runner: call ``fn`` on the event loop's thread."""
    return fn(*args)


@dataclass(frozen=True)
class RobotsDecision:
    allowed: bool
    reason: str | None = None  # why not
    blocked: bool = False  # the address guard refused the host (SSRF), not robots.txt


def origin_of(url: str) -> str:
    p = urlsplit(url)
    default = 443 if p.scheme == "https" else 80
    port = f":{p.port}" if p.port and p.port != default else ""
    host = (p.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{p.scheme}://{host}{port}"


class RobotsCache:
    """Answers "may we fetch this URL?" for one user agent; one robots.txt fetch per origin."""

    def __init__(self, fetcher: Fetcher, store: Store, user_agent: str, *,
                 db: DbRunner = run_inline, clock: Callable[[], float] = time.time) -> None:
        self.fetcher = fetcher
        self.cache = store.caches.robots
        self.user_agent = user_agent
        self.db = db
        self.clock = clock
        self._parsed: dict[str, tuple[RobotFileParser | None, str, float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, url: str) -> RobotsDecision:
        origin = origin_of(url)
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            entry = await self._lookup(origin)
            if entry is None:
                decision = await self._fetch(origin)
                if decision is not None:
                    return decision
                entry = await self._lookup(origin)
        if entry is None:  # pragma: no cover - _fetch always stores or decides
            return RobotsDecision(False, "robots.txt unavailable")
        parser, status, _ = entry
        if status == "unavailable":
            return RobotsDecision(False, "robots.txt unavailable (server error); not fetching articles for now")
        if parser is None:  # 4xx: no rules
            return RobotsDecision(True)
        if parser.can_fetch(self.user_agent, url):
            return RobotsDecision(True)
        return RobotsDecision(False, "disallowed by robots.txt")

    async def _lookup(self, origin: str) -> tuple[RobotFileParser | None, str, float] | None:
        now = self.clock()
        hit = self._parsed.get(origin)
        if hit is None:
            row = await self.db(self.cache.get, origin)
            if row is None:
                return None
            body, status, fetched = row.value, row.status, row.fetched
            hit = (_parse(body) if status == "ok" else None, status, fetched)
            self._parsed[origin] = hit
        ttl = ROBOTS_ERROR_TTL if hit[1] == "unavailable" else ROBOTS_TTL
        if now - hit[2] > ttl:
            self._parsed.pop(origin, None)
            return None
        return hit

    async def _fetch(self, origin: str) -> RobotsDecision | None:
        res = await self.fetcher.fetch(origin + "/robots.txt", untrusted=True)
        if res.error_kind == "blocked":
            return RobotsDecision(False, res.error, blocked=True)
        if res.ok and res.body is not None:
            status, body = "ok", res.body[:MAX_ROBOTS_BYTES].decode("utf-8", "replace")
        elif res.status is not None and 400 <= res.status < 500:
            status, body = "absent", None
        else:
            status, body = "unavailable", None
            log.warning("robots.txt of %s: %s; article fetches there wait %s", origin, res.error,
                        f"{ROBOTS_ERROR_TTL / 60:g} min")
        now = self.clock()
        await self.db(self.cache.put, origin, CachedValue(body, status, now))
        self._parsed[origin] = (_parse(body) if body is not None else None, status, now)
        return None


def _parse(body: str | None) -> RobotFileParser:
    rp = RobotFileParser()
    rp.parse((body or "").splitlines())
    return rp
