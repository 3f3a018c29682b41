"""Fetch stage: bytes and headers of a feed (or article), or a typed failure.

One :class:`Fetcher` wraps an ``httpx.AsyncClient`` and enforces what httpx
alone does not: a deadline for the *whole* request (httpx timeouts are per
read, so a server dripping one byte a second would never time out), a size
cap counted on decompressed bytes (a gzip bomb stops at the cap), a redirect
cap with every hop checked, ``Retry-After`` parsing and the address guard:
untrusted URLs (article links, seeds, robots.txt) and every redirect hop that
leaves the host the operator listed may reach only globally routable
addresses (``ipaddress`` ``is_global``, never a cloud metadata address), checked
after DNS resolution and pinned for the connection.

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
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, unquote, urljoin, urlsplit, urlunsplit

import httpx

from monitor.config import FetchSettings
from monitor.ingest.scrub import has_bad_char, scrub

log = logging.getLogger(__name__)

REDIRECT_CODES = {301, 302, 303, 307, 308}
PERMANENT_REDIRECTS = {301, 308}


# Why a fetch failed (stored on the feed as its last error kind and shown by `monitor feeds`).
ErrorKind = Literal["timeout", "connect", "dns", "tls", "http", "too_large", "redirects", "blocked", "file",
                    "protocol"]


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
    error_kind: ErrorKind | None = None
    retry_after: float | None = None  # seconds, from Retry-After
    moved_to: str | None = None  # new URL when every redirect hop was permanent (301/308)
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        # error text carries server messages, reason phrases and URLs: scrubbed where it is made
        for name in ("error", "content_type", "etag", "last_modified"):
            value = getattr(self, name)
            if value is not None and has_bad_char(value):
                object.__setattr__(self, name, scrub(value))

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


# Idle keep-alive connections held for reuse. A few are enough for feeds of one host polled in
# turn, and each one held costs two system calls (poll, getpeername) every time httpcore's pool
# assigns or releases a request: with 16 held, a warm cycle of 1,000 feeds answering 304 spent
# about 1.2 s more (bench_poll, one host) than with 4; with 1, new connections cost more again.
KEEPALIVE_IDLE = 4


class Fetcher:
    """Polite, bounded HTTP fetching. Use as ``async with Fetcher(settings) as f``.

    ``address_policy`` decides which resolved addresses untrusted URLs may reach
    (default :func:`address_blocked`); tests narrow it, nothing widens it silently.
    """

    def __init__(self, settings: FetchSettings, *, min_host_delay: float | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 address_policy: Callable[[str], str | None] | None = None) -> None:
        self.settings = settings
        self.address_policy = address_policy or address_blocked
        self._global = asyncio.Semaphore(settings.concurrency)
        self._gate = _HostGate(settings.per_host,
                               settings.min_host_delay if min_host_delay is None else min_host_delay)
        limits = httpx.Limits(max_connections=settings.concurrency * 2,
                              max_keepalive_connections=min(settings.concurrency, KEEPALIVE_IDLE))
        self._client_args: dict[str, Any] = dict(
            follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
            headers={"User-Agent": settings.user_agent,
                     "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
                               "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.5, */*;q=0.1",
                     "Accept-Encoding": "gzip, deflate"},
            limits=limits,
            trust_env=False,
        )
        # Plain http:// requests go through a client that never loads the CA bundle (0.1-0.2 s of
        # start-up each time); the verifying client for https:// is made on the first https request.
        # A given transport serves both.
        self._transport = transport
        if transport is not None:
            self._client = httpx.AsyncClient(transport=transport, **self._client_args)
        else:
            self._client = httpx.AsyncClient(verify=False, **self._client_args)  # http:// targets only
        self._tls: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._tls is not None:
            await self._tls.aclose()

    def _client_for(self, target: str) -> httpx.AsyncClient:
        """The client for one request: certificates are verified for every https:// target."""
        if self._transport is not None or not target.lower().startswith("https:"):
            return self._client
        if self._tls is None:
            self._tls = httpx.AsyncClient(**self._client_args)
        return self._tls

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    untrusted: bool = False, trusted_host: str | None = None,
                    max_bytes: int | None = None) -> FetchResult:
        """Fetch ``url`` within the whole-request deadline.

        Trust belongs to a host the operator listed: with ``untrusted`` every hop goes through
        the address guard; otherwise only hops on ``trusted_host`` (default: the host of ``url``)
        skip it, so a configured feed redirecting elsewhere is checked at that hop.
        ``max_bytes`` lowers the body cap for this request (article pages).

        The deadline counts time spent talking to servers (every hop together), not time
        queued behind other requests to the same host or the politeness delay."""
        start = time.monotonic()
        if url.startswith("file:"):
            if untrusted:
                return FetchResult(url, url, None, error="file: URLs are not fetched from untrusted input",
                                   error_kind="blocked", elapsed=0.0)
            return _fetch_file(url, self.settings.max_bytes, start)
        if trusted_host is None and not untrusted:
            try:
                trusted_host = urlsplit(url).hostname
            except ValueError:
                trusted_host = None
        settings = self.settings if max_bytes is None else replace(self.settings,
                                                                   max_bytes=min(max_bytes, self.settings.max_bytes))
        async with self._global:
            return await self._fetch(url, etag, last_modified, None if untrusted else trusted_host, start, settings)

    async def _fetch(self, url: str, etag: str | None, last_modified: str | None, trusted_host: str | None,
                     start: float, s: FetchSettings) -> FetchResult:
        current = url
        all_permanent = True
        seen: set[str] = set()
        budget = s.timeout  # seconds of server time left for the whole request
        for _hop in range(s.max_redirects + 1):
            try:
                parts = urlsplit(current)
                port = parts.port
            except ValueError as e:
                return FetchResult(url, current, None, error=f"invalid URL {current[:200]!r}: {e}",
                                   error_kind="protocol", elapsed=time.monotonic() - start)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                return FetchResult(url, current, None, error=f"unsupported URL {current[:200]!r}",
                                   error_kind="protocol", elapsed=time.monotonic() - start)
            port = port or (443 if parts.scheme == "https" else 80)
            host = parts.hostname
            headers: dict[str, str] = {}
            if current == url:  # validators belong to the URL they were stored for
                if etag:
                    headers["If-None-Match"] = etag
                if last_modified:
                    headers["If-Modified-Since"] = last_modified
            addrs: list[str | None] = [None]  # None: let httpx resolve (trusted URLs)
            if trusted_host is None or host.lower() != trusted_host.lower():
                # untrusted input, or a hop that left the host the operator listed: the address guard
                # (allow_private_networks narrows it to the metadata deny list), DNS-pinned
                policy = metadata_blocked if s.allow_private_networks else self.address_policy
                t0 = time.monotonic()
                try:
                    async with asyncio.timeout(max(budget, 0.001)):
                        checked, reason, dns_error = await _resolve_checked(host, port, policy)
                except TimeoutError:
                    checked, reason, dns_error = [], None, f"cannot resolve {host} within {s.timeout:g} s"
                budget -= time.monotonic() - t0
                if reason or not checked:  # refused by the guard, or no address at all (a DNS failure)
                    return FetchResult(url, current, None, error=reason or dns_error or f"cannot resolve {host}",
                                       error_kind="blocked" if reason else "dns", elapsed=time.monotonic() - start)
                addrs = list(checked)
            if budget <= 0:
                return _timeout(url, current, s.timeout, start)
            async with self._gate.sem(host):
                await self._gate.wait_turn(host)
                for i, addr in enumerate(addrs):
                    req_headers: dict[str, str] = dict(headers)
                    extensions: dict[str, object] = {}
                    target = current
                    if addr is not None:
                        # connect to the address just checked (no second lookup a rebinding DNS could answer)
                        target = _pin(parts, addr)
                        req_headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
                        if parts.scheme == "https":
                            extensions["sni_hostname"] = host
                    t0 = time.monotonic()
                    try:
                        async with asyncio.timeout(max(budget, 0.001)):
                            outcome = await self._one(url, current, target, req_headers, extensions, start, s)
                    except TimeoutError:
                        return _timeout(url, current, s.timeout, start)
                    finally:
                        budget -= time.monotonic() - t0
                    if not (isinstance(outcome, FetchResult) and outcome.error_kind == "connect"
                            and i + 1 < len(addrs) and budget > 0):
                        break  # else: that address refused, try the host's next (checked) address
            if isinstance(outcome, FetchResult):
                if current != url and all_permanent:
                    outcome = replace(outcome, moved_to=current)  # every hop was 301/308
                return outcome
            status, location = outcome
            if status not in PERMANENT_REDIRECTS:
                all_permanent = False
            try:
                if has_bad_char(location) or any(ch.isspace() for ch in location):
                    raise ValueError("control or space characters")
                nxt = urljoin(current, location)
            except ValueError:
                return FetchResult(url, current, status, error=f"invalid redirect target {ascii(location[:200])}",
                                   error_kind="redirects", elapsed=time.monotonic() - start)
            seen.add(current)
            if nxt in seen:
                return FetchResult(url, current, status, error=f"redirect loop at {nxt[:200]}",
                                   error_kind="redirects", elapsed=time.monotonic() - start)
            current = nxt
        return FetchResult(url, current, None, error=f"more than {s.max_redirects} redirects",
                           error_kind="redirects", elapsed=time.monotonic() - start)

    async def _one(self, url: str, current: str, target: str, headers: dict[str, str],
                   extensions: dict[str, object], start: float, s: FetchSettings) -> FetchResult | tuple[int, str]:
        """One request: a final FetchResult, or (status, Location) for a redirect to follow."""
        try:
            async with self._client_for(target).stream("GET", target, headers=headers,
                                                       extensions=extensions) as resp:
                status = resp.status_code
                if status in REDIRECT_CODES and "location" in resp.headers:
                    await _drain(resp)
                    return status, resp.headers["location"].strip()
                common = dict(content_type=resp.headers.get("content-type"), etag=resp.headers.get("etag"),
                              last_modified=resp.headers.get("last-modified"))
                if status == 304:
                    await _drain(resp)  # an empty body read to its end: the connection goes back to the pool
                    return FetchResult(url, current, status, not_modified=True,
                                       elapsed=time.monotonic() - start, **common)
                if status >= 400 or status < 200:
                    await _drain(resp)
                    retry = parse_retry_after(resp.headers.get("retry-after")) if status in (429, 503) else None
                    return FetchResult(url, current, status, error=f"HTTP {status} {resp.reason_phrase}".strip(),
                                       error_kind="http", retry_after=retry, elapsed=time.monotonic() - start,
                                       **common)
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > s.max_bytes and not resp.headers.get("content-encoding"):
                    return FetchResult(url, current, status, error=f"body of {declared} bytes exceeds "
                                       f"the {s.max_bytes}-byte cap", error_kind="too_large",
                                       elapsed=time.monotonic() - start, **common)
                try:
                    decoder = _BoundedDecoder(resp.headers.get("content-encoding", ""))
                except ValueError as e:
                    return FetchResult(url, current, status, error=str(e), error_kind="protocol",
                                       elapsed=time.monotonic() - start, **common)
                chunks: list[bytes] = []
                total = raw_total = 0
                too_large = FetchResult(url, current, status, error=f"body exceeds the {s.max_bytes}-byte cap"
                                        + (" (decompressed)" if decoder.stages else ""), error_kind="too_large",
                                        **common)
                async for raw in resp.aiter_raw():
                    raw_total += len(raw)
                    if raw_total > s.max_bytes + 65536:
                        return replace(too_large, elapsed=time.monotonic() - start)
                    piece = decoder.feed(raw, s.max_bytes - total)
                    total += len(piece)
                    if total > s.max_bytes:
                        return replace(too_large, elapsed=time.monotonic() - start)
                    chunks.append(piece)
                tail = decoder.flush(s.max_bytes - total)
                total += len(tail)
                if total > s.max_bytes:
                    return replace(too_large, elapsed=time.monotonic() - start)
                chunks.append(tail)
                return FetchResult(url, current, status, body=b"".join(chunks), elapsed=time.monotonic() - start,
                                   **common)
        except httpx.TimeoutException as e:
            return FetchResult(url, current, None, error=f"timed out ({type(e).__name__})", error_kind="timeout",
                               elapsed=time.monotonic() - start)
        except (zlib.error, httpx.DecodingError) as e:
            return FetchResult(url, current, None, error=f"cannot decode body: {e}"[:300], error_kind="protocol",
                               elapsed=time.monotonic() - start)
        except (httpx.HTTPError, ssl.SSLError, OSError, ValueError) as e:
            return _network_failure(url, current, e, start)


DRAIN_LIMIT = 16384  # bytes of an unwanted body (304, redirect, error page) read to keep the connection


async def _drain(resp: httpx.Response) -> None:
    """Read a short unwanted body to its end, so that httpx can reuse the connection for the
    next feed on that host (a response closed unread closes its connection); a longer body
    is abandoned (the connection is closed then, as before)."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        return
    total = 0
    try:
        async for raw in resp.aiter_raw():
            total += len(raw)
            if total > DRAIN_LIMIT:
                return
    except (httpx.HTTPError, OSError):
        return  # the answer itself is complete: a broken unwanted body only costs the connection


class _BoundedDecoder:
    """Content-Encoding decoding that never produces more than asked for (a gzip bomb
    inflates at most ``limit + 1`` bytes per call, not a whole network chunk's worth)."""

    def __init__(self, header: str) -> None:
        names = [n.strip().lower() for n in header.split(",") if n.strip()]
        names = [n for n in names if n != "identity"]
        for n in names:
            if n not in ("gzip", "x-gzip", "deflate"):
                raise ValueError(f"unsupported Content-Encoding {n!r} (asked for gzip or deflate)")
        if len(names) > 2:
            raise ValueError(f"{len(names)} stacked Content-Encodings refused")
        # decoding runs in the reverse order of application
        self.stages = [_Inflater(n) for n in reversed(names)]

    def feed(self, data: bytes, limit: int) -> bytes:
        for st in self.stages:
            data = st.feed(data, limit)
        return data

    def flush(self, limit: int) -> bytes:
        data = b""
        for st in self.stages:
            data = st.feed(data, limit) + st.flush(limit)
        return data


class _Inflater:
    def __init__(self, name: str) -> None:
        self.name = name
        self.raw_deflate = False
        self.first = True
        self.done = False
        self.d = self._new()

    def _new(self) -> zlib._Decompress:
        if self.name == "deflate":
            return zlib.decompressobj(-zlib.MAX_WBITS if self.raw_deflate else zlib.MAX_WBITS)
        return zlib.decompressobj(zlib.MAX_WBITS | 16)

    def feed(self, data: bytes, limit: int) -> bytes:
        out: list[bytes] = []
        n = 0
        while data and n <= limit and not self.done:
            try:
                piece = self.d.decompress(data, limit + 1 - n)
            except zlib.error:
                if self.first and self.name == "deflate" and not self.raw_deflate:
                    self.raw_deflate = True  # servers often send raw deflate without the zlib header
                    self.d = self._new()
                    continue
                raise
            self.first = False
            out.append(piece)
            n += len(piece)
            if self.d.eof:
                rest = self.d.unused_data
                if self.name == "deflate" or not rest.strip(b"\x00"):
                    self.done = True  # trailing garbage after the stream is ignored
                    break
                self.d = self._new()  # another gzip member
                data = rest
            else:
                data = self.d.unconsumed_tail
        return b"".join(out)

    def flush(self, limit: int) -> bytes:
        if self.done:
            return b""
        return self.d.flush(limit + 1) if limit + 1 > 0 else b""


def _timeout(url: str, current: str, timeout: float, start: float) -> FetchResult:
    return FetchResult(url, current, None, error=f"no complete response within {timeout:g} s",
                       error_kind="timeout", elapsed=time.monotonic() - start)


def _pin(parts: SplitResult, addr: str) -> str:
    host = f"[{addr}]" if ":" in addr else addr
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _network_failure(url: str, current: str, e: BaseException, start: float) -> FetchResult:
    text = str(e) or type(e).__name__
    low = text.lower()
    cause = e.__cause__ or e.__context__
    kind: ErrorKind
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


#: Instance-metadata services (AWS/GCP/Azure/OpenStack, ECS task credentials, Alibaba, Oracle, AWS IPv6):
#: refused for untrusted URLs and foreign redirect hops even with ``fetch.allow_private_networks``.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "100.100.100.200", "192.0.0.192",
    "fd00:ec2::254", "fd00:ec2::23"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598: CGNAT, Tailscale; not "private" in Python 3.11
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _unwrap(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries (v4-mapped, 6to4, Teredo client), else itself."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr.teredo is not None:
            return addr.teredo[1]
        if addr in _NAT64:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def metadata_blocked(ip: str) -> str | None:
    """Why ``ip`` is refused even where private networks are allowed: a cloud metadata service."""
    addr = ipaddress.ip_address(ip)
    if addr in METADATA_ADDRESSES or _unwrap(addr) in METADATA_ADDRESSES:
        return f"refusing to fetch a cloud metadata address ({ip})"
    return None


def address_blocked(ip: str) -> str | None:
    """Why an address must not be fetched from untrusted input, or None if it may.

    The decision is ``is_global`` (what is routable on the public Internet), not a list of
    what is local: shared address space (100.64.0.0/10), documentation and benchmark nets,
    6to4/Teredo wrappers of such addresses are all refused, plus the metadata deny list."""
    reason = metadata_blocked(ip)
    if reason:
        return reason
    raw = ipaddress.ip_address(ip)
    addr = _unwrap(raw)
    if addr.is_global and not (addr.is_multicast or addr.is_reserved):  # embedded IPv4 when there is one
        return None
    for test, label in ((addr.is_loopback, "loopback"), (addr.is_link_local, "link-local"),
                        (addr.is_multicast, "multicast"), (addr.is_unspecified, "unspecified"),
                        (isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED, "shared (RFC 6598)"),
                        (addr.is_private, "private"), (addr.is_reserved, "reserved")):
        if test:
            return f"refusing to fetch a {label} address ({ip}); set fetch.allow_private_networks to allow it"
    return f"refusing to fetch a non-global address ({ip}); set fetch.allow_private_networks to allow it"


async def _resolve_checked(host: str, port: int, policy: Callable[[str], str | None]
                            ) -> tuple[list[str], str | None, str | None]:
    """(addresses to connect to, IPv4 first, None, None) when every address ``host`` resolves to
    passes ``policy``; ([], reason, None) when one does not; ([], None, error) when it does not resolve."""
    try:
        ipaddress.ip_address(host)
        addrs = [host]
    except ValueError:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            return [], None, f"cannot resolve {host}: {getattr(e, 'strerror', None) or e}"
        addrs = sorted(dict.fromkeys(str(info[4][0]) for info in infos), key=lambda a: ":" in a)
    if not addrs:
        return [], None, f"cannot resolve {host}: no address"
    for a in addrs:
        try:
            reason = policy(a)
        except ValueError:
            reason = f"refusing to fetch an unparsable address ({a!r})"
        if reason:
            return [], reason if host == a else f"{host} resolves to a blocked address: {reason}", None
    return addrs, None, None


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
