"""Fetch stage: bytes and headers of a feed (or article), or a typed failure.

One :class:`Fetcher` wraps an ``httpx.AsyncClient`` and enforces what httpx
alone does not: a deadline for the *whole* request (httpx timeouts are per
read, so a server dripping one byte a second would never time out), a size
cap counted on decompressed bytes (a gzip bomb stops at the cap), a redirect
cap with every hop checked, ``Retry-After`` parsing and, for untrusted URLs
(article links, seeds), a refusal to reach loopback, private, link-local or
multicast addresses after DNS resolution.

Nothing here raises for a network problem: every outcome is a FetchResult.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import random
import socket
import ssl
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from monitor.config import FetchSettings

log = logging.getLogger("monitor.fetch")

REDIRECT_CODES = {301, 302, 303, 307, 308}
PERMANENT_REDIRECTS = {301, 308}


@dataclass(frozen=True)
class FetchResult:
    url: str  # as requested
    final_url: str  # after redirects
    status: int | None  # HTTP status; None when no response arrived
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error: str | None = None  # human-readable
    error_kind: str | None = None  # timeout|connect|dns|tls|http|too_large|redirects|blocked|file|protocol
    retry_after: float | None = None  # seconds, from Retry-After
    moved_to: str | None = None  # new URL when every redirect hop was permanent (301/308)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _HostGate:
    """Per-host concurrency and politeness delay, shared by feeds and articles."""

    per_host: int
    min_delay: float = 0.0
    _sems: dict[str, asyncio.Semaphore] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def sem(self, host: str) -> asyncio.Semaphore:
        if host not in self._sems:
            self._sems[host] = asyncio.Semaphore(self.per_host)
        return self._sems[host]

    async def wait_turn(self, host: str) -> None:
        if self.min_delay <= 0:
            return
        now = time.monotonic()
        wait = self._last[host] + self.min_delay - now
        self._last[host] = max(now, self._last[host] + self.min_delay)
        if wait > 0:
            await asyncio.sleep(wait)


class Fetcher:
    """Polite, bounded HTTP fetching. Use as ``async with Fetcher(settings) as f``."""

    def __init__(self, settings: FetchSettings, *, min_host_delay: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self._global = asyncio.Semaphore(settings.concurrency)
        self._gate = _HostGate(settings.per_host,
                               settings.min_host_delay if min_host_delay is None else min_host_delay)
        limits = httpx.Limits(max_connections=settings.concurrency * 2,
                              max_keepalive_connections=settings.concurrency)
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            headers={"User-Agent": settings.user_agent,
                     "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
                               "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1",
                     "Accept-Encoding": "gzip, deflate"},
            limits=limits,
            transport=transport,
            trust_env=False,
        )

    async def __aenter__(self) -> "Fetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    untrusted: bool = False) -> FetchResult:
        """Fetch ``url`` within the whole-request deadline. ``untrusted`` applies the address guard."""
        start = time.monotonic()
        if url.startswith("file:"):
            return _fetch_file(url, self.settings.max_bytes, start)
        try:
            async with self._global:
                return await asyncio.wait_for(
                    self._fetch(url, etag, last_modified, untrusted, start), timeout=self.settings.timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return FetchResult(url, url, None, error=f"no complete response within {self.settings.timeout:g} s",
                               error_kind="timeout", elapsed=time.monotonic() - start)

    async def _fetch(self, url: str, etag: str | None, last_modified: str | None, untrusted: bool,
                     start: float) -> FetchResult:
        s = self.settings
        current = url
        all_permanent = True
        seen: set[str] = set()
        for hop in range(s.max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return FetchResult(url, current, None, error=f"unsupported URL {current!r}", error_kind="protocol",
                                   elapsed=time.monotonic() - start)
            if untrusted and not s.allow_private_networks:
                reason = await _blocked_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
                if reason:
                    return FetchResult(url, current, None, error=reason, error_kind="blocked",
                                       elapsed=time.monotonic() - start)
            headers = {}
            if hop == 0 or current == url:
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            host = parts.hostname
            try:
                async with self._gate.sem(host):
                    await self._gate.wait_turn(host)
                    async with self._client.stream("GET", current, headers=headers) as resp:
                        status = resp.status_code
                        if status in REDIRECT_CODES and "location" in resp.headers:
                            if status not in PERMANENT_REDIRECTS:
                                all_permanent = False
                            nxt = urljoin(current, resp.headers["location"].strip())
                            seen.add(current)
                            if nxt in seen:
                                return FetchResult(url, current, status, error=f"redirect loop at {nxt}",
                                                   error_kind="redirects", elapsed=time.monotonic() - start)
                            current = nxt
                            continue
                        moved = current if (current != url and all_permanent) else None
                        common = dict(content_type=resp.headers.get("content-type"),
                                      etag=resp.headers.get("etag"),
                                      last_modified=resp.headers.get("last-modified"),
                                      moved_to=moved)
                        if status == 304:
                            return FetchResult(url, current, status, not_modified=True,
                                               elapsed=time.monotonic() - start, **common)
                        if status >= 400:
                            retry = parse_retry_after(resp.headers.get("retry-after")) \
                                if status in (429, 503) else None
                            return FetchResult(url, current, status, error=f"HTTP {status} {resp.reason_phrase}",
                                               error_kind="http", retry_after=retry,
                                               elapsed=time.monotonic() - start, **common)
                        declared = resp.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > s.max_bytes \
                                and not resp.headers.get("content-encoding"):
                            return FetchResult(url, current, status, error=f"body of {declared} bytes exceeds "
                                               f"the {s.max_bytes}-byte cap", error_kind="too_large",
                                               elapsed=time.monotonic() - start, **common)
                        chunks: list[bytes] = []
                        total = 0
                        async for chunk in resp.aiter_bytes():  # decompressed bytes
                            total += len(chunk)
                            if total > s.max_bytes:
                                return FetchResult(url, current, status, error=f"body exceeds the {s.max_bytes}-byte "
                                                   "cap (decompressed)", error_kind="too_large",
                                                   elapsed=time.monotonic() - start, **common)
                            chunks.append(chunk)
                        return FetchResult(url, current, status, body=b"".join(chunks),
                                           elapsed=time.monotonic() - start, **common)
            except httpx.ConnectError as e:
                return _network_failure(url, current, e, start)
            except (httpx.TimeoutException,) as e:
                return FetchResult(url, current, None, error=f"timed out ({type(e).__name__})", error_kind="timeout",
                                   elapsed=time.monotonic() - start)
            except httpx.DecodingError as e:
                return FetchResult(url, current, None, error=f"cannot decode body: {e}", error_kind="protocol",
                                   elapsed=time.monotonic() - start)
            except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as e:
                return _network_failure(url, current, e, start)
        return FetchResult(url, current, None, error=f"more than {s.max_redirects} redirects",
                           error_kind="redirects", elapsed=time.monotonic() - start)


def _network_failure(url: str, current: str, e: BaseException, start: float) -> FetchResult:
    text = str(e) or type(e).__name__
    low = text.lower()
    cause = e.__cause__ or e.__context__
    if isinstance(e, ssl.SSLError) or isinstance(cause, ssl.SSLError) or "ssl" in low or "certificate" in low:
        kind = "tls"
    elif isinstance(cause, socket.gaierror) or "name or service not known" in low or "name resolution" in low \
            or "nodename nor servname" in low or "no address associated" in low:
        kind = "dns"
    elif "refused" in low or isinstance(e, httpx.ConnectError):
        kind = "connect"
    else:
        kind = "protocol"
    return FetchResult(url, current, None, error=text[:300], error_kind=kind, elapsed=time.monotonic() - start)


def _fetch_file(url: str, max_bytes: int, start: float) -> FetchResult:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as fh:
            body = fh.read(max_bytes + 1)
    except OSError as e:
        return FetchResult(url, url, None, error=f"cannot read {path}: {e.strerror or e}", error_kind="file",
                           elapsed=time.monotonic() - start)
    if len(body) > max_bytes:
        return FetchResult(url, url, None, error=f"file exceeds the {max_bytes}-byte cap", error_kind="too_large",
                           elapsed=time.monotonic() - start)
    return FetchResult(url, url, 200, body=body, elapsed=time.monotonic() - start)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def address_blocked(ip: str) -> str | None:
    """Why an address must not be fetched from untrusted input, or None if it may."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    for test, label in ((addr.is_loopback, "loopback"), (addr.is_link_local, "link-local"),
                        (addr.is_multicast, "multicast"), (addr.is_private, "private"),
                        (addr.is_reserved, "reserved"), (addr.is_unspecified, "unspecified")):
        if test:
            return f"refusing to fetch a {label} address ({ip}); set fetch.allow_private_networks to allow it"
    return None


async def _blocked_address(host: str, port: int) -> str | None:
    try:
        ipaddress.ip_address(host)
        addrs = [host]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            return f"cannot resolve {host}: {e.strerror}"
        addrs = sorted({info[4][0] for info in infos})
    for a in addrs:
        reason = address_blocked(a)
        if reason:
            return reason
    return None


def next_poll_delay(interval: float, failures: int, retry_after: float | None, settings: FetchSettings,
                    rng: random.Random | None = None) -> float:
    """Seconds until the next poll: the interval (with +-10 % jitter) after a success,
    exponential backoff capped at ``backoff_max`` after ``failures`` consecutive failures,
    never sooner than the server's Retry-After (itself capped at a day)."""
    rng = rng or random.Random()
    if failures <= 0:
        delay = interval * rng.uniform(0.9, 1.1)
    else:
        delay = min(settings.backoff_max, max(interval, settings.backoff_base) * 2 ** (failures - 1))
        delay *= rng.uniform(0.9, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, 86400.0))
    return delay
