"""Fault injection for tests and bench/fault_harness.py: hostile servers on 127.0.0.1 and a case catalogue.

:class:`FaultServer` is a :class:`feedserver.FeedServer` with ready-made faulty routes
(never answering, dripping, lying about lengths, redirect chains, bombs); ``tls_server``
serves the same routes over TLS with a throw-away self-signed certificate.

``FEED_CASES`` lists every fault that reaches the service through a configured feed.
:func:`run_feed_cases` puts them all in one temporary deployment, polls it in rounds
with the real pipeline (round 0 serves a good feed where a case wants one, so a later
bad poll can be shown to lose nothing), then reads ``monitor feeds --json`` and the
stored items and asks each case's ``check`` whether what happened is what it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import io
import json
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tests.support.feedserver import FeedServer, Handler, Hit, Route, rss

ROOT = Path(__file__).resolve().parent.parent.parent

RU_TITLE = "Парад Победы на Красной площади прошёл при участии лидеров Центральной Азии"
RU_SUMMARY = ("Президенты Казахстана, Киргизии и Узбекистана наблюдали за парадом вместе с Владимиром Путиным; "
              "в Москве прошли торжественные мероприятия, посвящённые годовщине Победы.")


# ---- the server ------------------------------------------------------------------------------------

class FaultServer(FeedServer):
    """A FeedServer whose handlers can also hang, drip, lie and bomb."""

    request_queue_size = 256  # the default backlog of 5 turns 50 concurrent polls into connect timeouts

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on purpose (deadlines, caps) are the point here

    def hang(self, path: str, seconds: float = 30.0) -> str:
        """A route that accepts the request and never sends a status line."""
        def handler(h: Handler) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end and not self.closing:
                time.sleep(0.05)
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def unterminated(self, path: str, body: bytes) -> str:
        """200 with no Content-Length: the body ends when the connection closes."""
        def handler(h: Handler) -> None:
            h.close_connection = True
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Connection", "close")
            h.end_headers()
            with contextlib.suppress(OSError):
                for i in range(0, len(body), 65536):
                    h.wfile.write(body[i:i + 65536])
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def short_body(self, path: str, body: bytes, declared: int) -> str:
        """Declares ``declared`` bytes, sends ``body`` (shorter) and closes."""
        def handler(h: Handler) -> None:
            h.close_connection = True
            h.send_response(200)
            h.send_header("Content-Type", "application/rss+xml")
            h.send_header("Content-Length", str(declared))
            h.end_headers()
            with contextlib.suppress(OSError):
                h.wfile.write(body)
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        self.routes[path] = Route(b"", status=status, content_type="text/plain", headers={"Location": to})
        return self.url(path)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate for 127.0.0.1 (needs openssl)."""
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class TLSFeedServer(FaultServer):
    """The same routes over HTTPS with an untrusted certificate."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        super().__init__()
        self.ctx = ctx

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        sock.settimeout(5)
        try:
            return self.ctx.wrap_socket(sock, server_side=True), addr
        except (ssl.SSLError, OSError):
            sock.close()
            raise

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@lru_cache(maxsize=4)
def gzip_bomb(size: int = 1 << 30) -> bytes:
    """``size`` zero bytes gzip-compressed (1 GiB -> about 1 MB)."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(size >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


def billion_laughs() -> bytes:
    ents = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    return ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol0 "lol">\n' + ents + ']>\n'
            '<rss version="2.0"><channel><title>laughs</title><item><title>&lol9;</title>'
            '<description>&lol9;</description></item></channel></rss>').encode()


def padded_quadratic_blowup() -> bytes:
    """One big entity referenced 20,000 times, its declaration hidden behind 70 kB of comment."""
    return (b'<?xml version="1.0"?>\n<!--' + b"x" * 70000 + b'-->\n<!DOCTYPE rss [\n<!ENTITY a "' + b"A" * 5000
            + b'">\n]>\n<rss version="2.0"><channel><title>t</title><item><title>blowup</title><description>'
            + b"&a;" * 20000 + b"</description></item></channel></rss>")


def external_entity(target: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{target}">]>\n'
            '<rss version="2.0"><channel><title>xxe</title><item><title>leak: &xxe;</title>'
            '<description>&xxe;</description><guid>xxe-1</guid></item></channel></rss>').encode()


def ru_feed(encoding: str, *, declared: str | None = "utf-8") -> bytes:
    """A Russian RSS document encoded in ``encoding`` whose XML declaration says ``declared``."""
    doc = rss([{"title": RU_TITLE, "guid": "ru-1", "link": "https://ru.example.org/1", "description": RU_SUMMARY},
               {"title": "Второй материал: Бишкек и Ташкент обсудили транзит", "guid": "ru-2",
                "link": "https://ru.example.org/2", "description": RU_SUMMARY[::-1]}], language="ru").decode()
    doc = doc.replace('encoding="utf-8"', f'encoding="{declared}"') if declared else \
        doc.replace(' encoding="utf-8"', "")
    return doc.encode(encoding)


# ---- the case catalogue ----------------------------------------------------------------------------

@dataclass
class Observed:
    """What one feed case left behind after all rounds."""

    health: dict[str, Any]  # its row of `monitor feeds --json`
    items: list[dict[str, Any]]  # its stored items (title, link, summary, published, guid, fetched)
    hits: list[Hit]  # requests the fault server saw for this case (by path prefix)
    round_seconds: list[float]  # wall time of each polling round (all feeds concurrently)
    feed_seconds: list[float] = field(default_factory=list)  # per round: when this feed's poll was done
    extra: dict[str, Any] = field(default_factory=dict)


Check = Callable[[Observed], str | None]  # None: as expected; else what differed


@dataclass
class FeedCase:
    name: str
    expected: str
    setup: Callable[[Env], str]  # installs routes, returns the feed URL
    check: Check
    before: bool = True  # serve a good one-item feed in round 0 (nothing may be lost later)
    language: str | None = None


@dataclass
class Env:
    srv: FaultServer
    tls: FaultServer | None
    tmp: Path
    case: str = ""

    def path(self, suffix: str = "") -> str:
        return f"/{self.case}{suffix}"


ROUNDS = 3
TIMEOUT = 2.0  # fetch.timeout in the harness config
MAX_BYTES = 3_000_000


def _good(case: str) -> bytes:
    return rss([{"title": f"Baseline item of case {case}: grain exports through Aktau port rise",
                 "guid": f"{case}-baseline", "link": f"https://base.example.org/{case}",
                 "description": f"Shipments via the Caspian port grew, officials said ({case})."}])


def _expect(cond: bool, msg: str) -> str | None:
    return None if cond else msg


def _all(*checks: str | None) -> str | None:
    bad = [c for c in checks if c]
    return "; ".join(bad) if bad else None


def failed(kind: str, *, status: int | None = None, contains: str | None = None, items: int | None = 1) -> Check:
    """The feed's last poll failed with ``kind`` (and status / text), and ``items`` are still stored."""
    def check(o: Observed) -> str | None:
        h = o.health
        return _all(
            _expect(h["error_kind"] == kind, f"error_kind {h['error_kind']!r} != {kind!r} ({h['error']!r})"),
            _expect(status is None or h["status"] == status, f"status {h['status']} != {status}"),
            _expect(contains is None or contains.lower() in (h["error"] or "").lower(),
                    f"error {h['error']!r} lacks {contains!r}"),
            _expect(bool(h["error"]), "no error recorded"),
            _expect(h["consecutive_failures"] >= 1, "consecutive_failures not counted"),
            _expect(h["next_poll"] is not None, "no next poll planned"),
            _expect(items is None or len(o.items) == items, f"{len(o.items)} item(s) stored, expected {items}"),
        )
    return check


def bounded(check: Check, seconds: float) -> Check:
    """``check``, and every poll of this feed was done within ``seconds`` of the round's start."""
    def both(o: Observed) -> str | None:
        worst = max(o.feed_seconds, default=float("inf"))
        o.extra["slowest_poll_s"] = round(worst, 1)
        return _all(check(o), _expect(worst <= seconds, f"a poll took {worst:.1f} s > {seconds:g} s"))
    return both


def stored(n: int, *, pred: Callable[[list[dict[str, Any]]], str | None] | None = None,
           warning_ok: bool = True) -> Check:
    """The feed is healthy and ``n`` items are stored (plus the round-0 baseline where there is one)."""
    def check(o: Observed) -> str | None:
        h = o.health
        return _all(
            _expect(h["error"] is None, f"unexpected error {h['error']!r}"),
            _expect(len(o.items) == n, f"{len(o.items)} item(s) stored, expected {n}"),
            pred(o.items) if pred else None,
        )
    return check


def _retry_after_check(min_delay: float, max_delay: float | None = None) -> Check:
    def check(o: Observed) -> str | None:
        from datetime import datetime

        h = o.health
        if not h["next_poll"] or not h["last_fetch"]:
            return "no next poll / last fetch"
        delay = datetime.fromisoformat(h["next_poll"]).timestamp() - datetime.fromisoformat(h["last_fetch"]).timestamp()
        o.extra["next_poll_in_s"] = round(delay)
        return _all(failed("http")(o),
                    _expect(delay >= min_delay, f"next poll in {delay:.0f} s < Retry-After {min_delay:.0f} s"),
                    _expect(max_delay is None or delay <= max_delay, f"next poll in {delay:.0f} s > {max_delay}"))
    return check


def _titles(pred: Callable[[str], bool], msg: str) -> Callable[[list[dict[str, Any]]], str | None]:
    def p(items: list[dict[str, Any]]) -> str | None:
        bad = [i["title"][:60] for i in items if not pred(i["title"])]
        return f"{msg}: {bad}" if bad else None
    return p


def _has_title(title: str) -> Callable[[list[dict[str, Any]]], str | None]:
    def p(items: list[dict[str, Any]]) -> str | None:
        return None if any(i["title"] == title for i in items) else \
            f"title {title[:40]!r} not stored intact: {[i['title'][:40] for i in items]}"
    return p


def _case(name: str, expected: str, check: Check, before: bool = True, language: str | None = None
          ) -> Callable[[Callable[[Env], str]], FeedCase]:
    def deco(fn: Callable[[Env], str]) -> FeedCase:
        c = FeedCase(name, expected, fn, check, before, language)
        FEED_CASES.append(c)
        return c
    return deco


FEED_CASES: list[FeedCase] = []

# -- network -------------------------------------------------------------------------------------------

@_case("connection-refused", "error_kind=connect, item kept", failed("connect"))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), f"http://127.0.0.1:{closed_port()}/feed.xml", 307)
    return e.srv.url(e.path())


@_case("dns-failure", "error_kind=dns (host under .invalid)", failed("dns"))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), "http://feed.news-monitor.invalid/rss.xml", 307)
    return e.srv.url(e.path())


@_case("tls-plain-port", "https:// to a plain-HTTP port: error_kind=tls", failed("tls"))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), e.srv.url("/anything").replace("http://", "https://"), 307)
    return e.srv.url(e.path())


@_case("tls-self-signed", "untrusted certificate: error_kind=tls, names the certificate",
       failed("tls", contains="certificate"))
def _(e: Env) -> str:
    assert e.tls is not None
    e.tls.routes["/tls.xml"] = Route(_good("tls"))
    e.srv.redirect(e.path(), e.tls.url("/tls.xml"), 307)
    return e.srv.url(e.path())


@_case("never-responds", f"server silent for 30 s: timeout at the {TIMEOUT:g} s deadline",
       bounded(failed("timeout"), TIMEOUT + 10))
def _(e: Env) -> str:
    e.srv.hang(e.path() + "/hang")
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/hang"), 307)
    return e.srv.url(e.path())


@_case("slow-drip", "1 byte/50 ms (80 s body) cut at the whole-request deadline",
       bounded(failed("timeout"), TIMEOUT + 10))
def _(e: Env) -> str:
    e.srv.routes[e.path() + "/drip"] = Route(_good("drip") * 4, drip=0.05)
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/drip"), 307)
    return e.srv.url(e.path())


for _code in (500, 502, 503):
    @_case(f"http-{_code}", f"status {_code}, error_kind=http", failed("http", status=_code))
    def _(e: Env, code: int = _code) -> str:
        e.srv.redirect(e.path(), e.srv.url(e.path() + "/x"), 307)
        e.srv.routes[e.path() + "/x"] = Route(b"<h1>down</h1>", status=code, content_type="text/html")
        return e.srv.url(e.path())


@_case("http-404", "status 404, error_kind=http", failed("http", status=404))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/missing"), 307)
    return e.srv.url(e.path())


@_case("429-retry-after-seconds", "Retry-After: 7200 -> next poll >= 2 h away", _retry_after_check(7200 - 5))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/x"), 307)
    e.srv.routes[e.path() + "/x"] = Route(b"slow down", status=429, content_type="text/plain",
                                          headers={"Retry-After": "7200"})
    return e.srv.url(e.path())


@_case("503-retry-after-date", "Retry-After as HTTP-date 3 h ahead -> next poll >= 3 h away",
       _retry_after_check(3 * 3600 - 120))
def _(e: Env) -> str:
    when = email.utils.formatdate(time.time() + 3 * 3600 + 60, usegmt=True)
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/x"), 307)
    e.srv.routes[e.path() + "/x"] = Route(b"maintenance", status=503, content_type="text/plain",
                                          headers={"Retry-After": when})
    return e.srv.url(e.path())


@_case("429-retry-after-absurd", "Retry-After of 3 years is capped at a day", _retry_after_check(3600, 86400 + 5))
def _(e: Env) -> str:
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/x"), 307)
    e.srv.routes[e.path() + "/x"] = Route(b"", status=429, content_type="text/plain",
                                          headers={"Retry-After": str(3 * 365 * 86400)})
    return e.srv.url(e.path())


def _gone_check(o: Observed) -> str | None:
    h = o.health
    return _all(failed("http", status=410, items=0)(o),
                _expect(bool(h["disabled_reason"]) and "410" in h["disabled_reason"],
                        f"not disabled after {ROUNDS} x 410: {h['disabled_reason']!r}"),
                _expect(h["enabled"] is False, "still enabled"))


@_case("http-410-disables", f"{ROUNDS} x 410 Gone -> feed disabled, reason shown", _gone_check, before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(b"gone", status=410, content_type="text/plain")
    return e.srv.url(e.path())


@_case("redirect-loop", "A -> B -> A: error_kind=redirects, names the loop", failed("redirects", contains="loop"))
def _(e: Env) -> str:
    e.srv.redirect(e.path() + "/b", e.srv.url(e.path() + "/a"))
    e.srv.redirect(e.path() + "/a", e.srv.url(e.path() + "/b"))
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/a"), 307)
    return e.srv.url(e.path())


@_case("redirect-chain", "12 hops > max_redirects 5: error_kind=redirects", failed("redirects", contains="more than"))
def _(e: Env) -> str:
    for i in range(12):
        e.srv.redirect(f"{e.path()}/{i}", e.srv.url(f"{e.path()}/{i + 1}"))
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/0"), 307)
    return e.srv.url(e.path())


@_case("redirect-to-file-scheme", "Location: file:///etc/passwd is not followed (protocol)",
       failed("protocol", contains="unsupported URL"))
def _(e: Env) -> str:
    e.srv.redirect(e.path() + "/x", "file:///etc/passwd")
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/x"), 307)
    return e.srv.url(e.path())


def _moved_check(o: Observed) -> str | None:
    old = [h for h in o.hits if h.path.endswith("/old")]
    new = [h for h in o.hits if h.path.endswith("/new")]
    return _all(stored(1)(o),
                _expect(bool(o.health["moved_to"]) and o.health["moved_to"].endswith("/new"),
                        f"moved_to {o.health['moved_to']!r}"),
                _expect(len(old) == 1 and len(new) == ROUNDS,
                        f"later polls should use the new URL: {len(old)} hit(s) on old, {len(new)} on new"))


@_case("permanent-redirect", "301: moved_to recorded, later polls go to the new URL", _moved_check, before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path() + "/new"] = Route(_good("moved"))
    e.srv.redirect(e.path() + "/old", e.srv.url(e.path() + "/new"), 301)
    return e.srv.url(e.path() + "/old")


def _temp_check(o: Observed) -> str | None:
    return _all(stored(1)(o), _expect(o.health["moved_to"] is None, f"302 recorded as moved: {o.health['moved_to']}"))


@_case("temporary-redirect", "302: followed, feed URL not changed", _temp_check, before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path() + "/new"] = Route(_good("temp"))
    e.srv.redirect(e.path() + "/old", e.srv.url(e.path() + "/new"), 302)
    return e.srv.url(e.path() + "/old")


# -- bodies --------------------------------------------------------------------------------------------

def _rounds_route(e: Env, first: Route, later: Route) -> str:
    """Round 0 gets ``first``, later rounds ``later`` (switched by the harness between rounds)."""
    e.srv.routes[e.path()] = first
    PENDING_SWITCH[e.case] = (e.path(), later)
    return e.srv.url(e.path())


PENDING_SWITCH: dict[str, tuple[str, Route]] = {}


@_case("body-over-cap", f"4 MB body, Content-Length: too_large at the {MAX_BYTES}-byte cap", failed("too_large"))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(b"<rss>" + b" " * 4_000_000 + b"</rss>"))


@_case("body-over-cap-unannounced", "4 MB body without Content-Length: too_large while streaming",
       failed("too_large"))
def _(e: Env) -> str:
    e.srv.unterminated(e.path() + "/big", b"<rss>" + b" " * 4_000_000 + b"</rss>")
    return _rounds_route(e, Route(_good(e.case)), Route(status=307, headers={"Location": e.srv.url(e.path() + "/big")}))


@_case("gzip-bomb", "1 GiB of zeros in 1 MB of gzip: stops at the cap (decompressed)",
       failed("too_large", contains="decompressed"))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(raw_gzip=gzip_bomb()))


@_case("body-cut-short", "Content-Length larger than what arrives: error_kind=protocol", failed("protocol"))
def _(e: Env) -> str:
    e.srv.short_body(e.path() + "/short", _good("short")[:100], 5000)
    return _rounds_route(e, Route(_good(e.case)),
                         Route(status=307, headers={"Location": e.srv.url(e.path() + "/short")}))


@_case("unknown-content-encoding", "Content-Encoding: br (never asked for): protocol error", failed("protocol"))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(b"\x0b\x02\x80garbage", headers={"Content-Encoding": "br"}))


@_case("empty-body", "200 with an empty body: parse error 'empty body'", failed("parse", contains="empty body"))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(b""))


@_case("html-instead-of-feed", "an HTML page: parse error naming the feed link it advertises",
       failed("parse", contains="/real-feed.xml"))
def _(e: Env) -> str:
    page = (b'<!DOCTYPE html><html><head><title>Site</title><link rel="alternate" type="application/rss+xml" '
            b'href="/real-feed.xml"></head><body><h1>News</h1></body></html>')
    return _rounds_route(e, Route(_good(e.case)), Route(page, content_type="text/html; charset=utf-8"))


@_case("garbage-bytes", "binary garbage: parse error, nothing stored beyond the baseline", failed("parse"))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(bytes(range(256)) * 20, content_type="application/xml"))


def _truncated() -> bytes:
    doc = rss([{"title": f"Complete entry {i} on Caspian shipping", "guid": f"t{i}", "description": "text " * 20}
               for i in range(3)])
    return doc[: doc.rindex(b"<item>") + 30]  # cut inside the last item


@_case("truncated-xml", "XML cut mid-item: the complete entries are kept (recovered)",
       stored(3, pred=_titles(lambda t: "Complete entry" in t or "Baseline" in t, "unexpected title")))
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(_truncated()))


@_case("malformed-recoverable", "bare & and undefined &nbsp; : feedparser recovers both entries",
       stored(3, pred=_has_title("Tom & Jerry at the Astana film festival")))
def _(e: Env) -> str:
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T & J</title>'
            b'<item><title>Tom & Jerry at the Astana film festival</title><guid>m1</guid>'
            b'<description>Cartoons&nbsp;for all</description></item>'
            b'<item><title>Second <b>bold</title><guid>m2</guid></item></channel></rss>')
    return _rounds_route(e, Route(_good(e.case)), Route(body))


def _refused(o: Observed) -> str | None:
    return _all(failed("parse", contains="entit")(o),
                _expect(not any("lol" in i["title"] or "AAAA" in i["summary"] for i in o.items), "entities expanded"))


@_case("billion-laughs", "nested entity declarations refused before parsing", _refused)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(billion_laughs()))


@_case("quadratic-blowup-padded", "an entity declaration hidden after 70 kB of comment is still refused", _refused)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(padded_quadratic_blowup()))


def _xxe_check(o: Observed) -> str | None:
    leaked = [i for i in o.items if "root:" in i["title"] + i["summary"] or "SECRET" in i["title"] + i["summary"]]
    probes = [h for h in o.hits if h.path.endswith("/xxe-probe")]
    return _all(failed("parse", contains="entit")(o), _expect(not leaked, "file content leaked into an item"),
                _expect(not probes, f"the parser fetched the external entity ({len(probes)} request(s))"))


@_case("external-entity-file", "SYSTEM file:/// entity: refused, no file read", _xxe_check)
def _(e: Env) -> str:
    secret = e.tmp / "secret.txt"
    secret.write_text("SECRET-TOKEN")
    return _rounds_route(e, Route(_good(e.case)), Route(external_entity(secret.as_uri())))


@_case("external-entity-http", "SYSTEM http:// entity: refused, no request made", _xxe_check)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(external_entity(e.srv.url(e.path() + "/xxe-probe"))))


def _dtd_check(o: Observed) -> str | None:
    return _all(stored(1)(o), _expect(not [h for h in o.hits if h.path.endswith(".dtd")], "the DTD was fetched"))


@_case("rss091-netscape-doctype", "a classic RSS 0.91 DOCTYPE still parses; the DTD is not fetched", _dtd_check,
       before=False)
def _(e: Env) -> str:
    body = (f'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
            f'"{e.srv.url(e.path() + "/rss-0.91.dtd")}">\n<rss version="0.91"><channel><title>Old</title>'
            '<link>http://old.example.org/</link><description>d</description><item><title>Old-style item</title>'
            '<link>http://old.example.org/1</link></item></channel></rss>').encode()
    e.srv.routes[e.path()] = Route(body)
    return e.srv.url(e.path())


# -- encodings -----------------------------------------------------------------------------------------

def _ru_ok(o: Observed) -> str | None:
    return stored(2, pred=_has_title(RU_TITLE))(o)


@_case("cp1251-declared-utf8", "Windows-1251 bytes labelled UTF-8 (header and XML): Cyrillic intact", _ru_ok,
       before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("cp1251"), content_type="application/rss+xml; charset=utf-8")
    return e.srv.url(e.path())


@_case("koi8r-declared-utf8", "KOI8-R bytes labelled UTF-8: Cyrillic intact", _ru_ok, before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("koi8-r"), content_type="application/rss+xml; charset=utf-8")
    return e.srv.url(e.path())


@_case("utf8-declared-cp1251", "UTF-8 bytes labelled windows-1251: Cyrillic intact", _ru_ok, before=False,
       language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("utf-8", declared="windows-1251"),
                                   content_type="text/xml; charset=windows-1251")
    return e.srv.url(e.path())


@_case("koi8r-declared-cp1251", "KOI8-R labelled windows-1251 in the header only: Cyrillic intact", _ru_ok,
       before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("koi8-r", declared=None), content_type="text/xml; charset=windows-1251")
    return e.srv.url(e.path())


@_case("cp1251-declared-latin1", "Windows-1251 labelled ISO-8859-1 (a server default): Cyrillic intact", _ru_ok,
       before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("cp1251", declared="iso-8859-1"),
                                   content_type="text/xml; charset=iso-8859-1")
    return e.srv.url(e.path())


@_case("cp1251-undeclared", "Windows-1251 with no charset anywhere: detected", _ru_ok, before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("cp1251", declared=None), content_type="application/xml")
    return e.srv.url(e.path())


@_case("utf8-bom", "UTF-8 with a byte-order mark", _ru_ok, before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(b"\xef\xbb\xbf" + ru_feed("utf-8"))
    return e.srv.url(e.path())


@_case("utf16-bom", "UTF-16LE with a BOM, labelled UTF-8 by the server", _ru_ok, before=False, language="ru")
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(ru_feed("utf-16", declared="utf-16"))  # Python's utf-16 writes a BOM
    return e.srv.url(e.path())


# -- entries -------------------------------------------------------------------------------------------

def _sparse_check(o: Observed) -> str | None:
    guids = {i["guid"] for i in o.items}
    return _all(stored(3)(o),
                _expect(all(i["title"] for i in o.items), "an item without a title"),
                _expect(len(guids) == 3, f"guids not unique: {guids}"),
                _expect(any(i["published"] is None for i in o.items), "an undated entry got a date"))


@_case("entries-missing-fields", "no guid/link/title/date: stored with derived title and guid; empty entry dropped",
       _sparse_check, before=False)
def _(e: Env) -> str:
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>sparse</title>'
            b"<item><description>Only a description: Uzbekistan raises cotton export duties sharply "
            b"after a poor harvest in the Fergana valley.</description></item>"
            b"<item><title>Only a title: Kyrgyz parliament meets</title></item>"
            b"<item><link>https://sparse.example.org/only-link</link><title>Link and title only</title></item>"
            b"<item></item><item><guid>only-guid</guid></item></channel></rss>")
    e.srv.routes[e.path()] = Route(body)
    return e.srv.url(e.path())


def _dates_check(o: Observed) -> str | None:
    from datetime import datetime

    by = {i["guid"]: i for i in o.items}
    fut, old, bad = by.get("future"), by.get("epoch"), by.get("nonsense")
    if not (fut and old and bad):
        return f"items missing: {sorted(by)}"
    f_ts = datetime.fromisoformat(fut["published"]).timestamp() if fut["published"] else None
    return _all(_expect(f_ts is not None and f_ts <= time.time() + 86400 + 60,
                        f"a 2099 date was stored as {fut['published']}"),
                _expect(old["published"] is None, f"a 1970 date was stored as {old['published']}"),
                _expect(bad["published"] is None, f"an unparsable date was stored as {bad['published']}"))


@_case("dates-future-and-1970", "2099 -> clamped to fetch time; 1970 and nonsense -> no date", _dates_check,
       before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(rss([
        {"title": "From the future: 2099 budget", "guid": "future", "pubDate": "Thu, 01 Jan 2099 00:00:00 GMT"},
        {"title": "From the epoch: 1970 archive", "guid": "epoch", "pubDate": "Thu, 01 Jan 1970 00:00:00 GMT"},
        {"title": "Nonsense date on a Tajik story", "guid": "nonsense", "pubDate": "yesterday-ish, 99:99"}]))
    return e.srv.url(e.path())


@_case("duplicate-guids", "3 entries share one guid: stored once", stored(1), before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(rss([{"title": f"Version {i} of the Astana story", "guid": "same-guid"}
                                        for i in range(3)]))
    return e.srv.url(e.path())


def _conditional(check: Check) -> Check:
    """``check``, and every poll after the first sent the stored ETag (a 304 costs no parsing)."""
    def both(o: Observed) -> str | None:
        later = [h.headers.get("if-none-match") for h in o.hits[1:]]
        return _all(check(o), _expect(len(later) == ROUNDS - 1 and all(later),
                                      f"later polls sent If-None-Match {later}"))
    return both


@_case("10000-entries", "10,000 entries: the 500 newest stored within 45 s; later polls conditional (304)",
       _conditional(bounded(stored(500), 45)), before=False)
def _(e: Env) -> str:
    words = ["wheat", "border", "customs", "rail", "gas", "court", "budget", "school", "drought", "bridge",
             "election", "bank", "airport", "festival", "mine", "river", "tariff", "hospital", "port", "road"]
    items = [{"title": f"{words[i % 20]} {words[(i // 20) % 20]} {words[(i // 400) % 20]} report number {i}",
              "guid": f"big-{i}", "link": f"https://big.example.org/{i}",
              "pubDate": email.utils.formatdate(1_770_000_000 + i * 60, usegmt=True)} for i in range(10_000)]
    e.srv.routes[e.path()] = Route(rss(items), etag='"big-v1"')  # later rounds: 304
    return e.srv.url(e.path())


@_case("1mb-title", "a 1 MB title is cut to 500 characters", stored(1, pred=_titles(lambda t: len(t) <= 500,
                                                                                    "title too long")),
       before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(rss([{"title": "Almaty " * 150_000, "guid": "huge",
                                         "description": "<p>" + "x" * 1_000_000 + "</p>"}]), etag='"huge-v1"')
    return e.srv.url(e.path())


def _hostile_check(o: Observed) -> str | None:
    bad = []
    for i in o.items:
        text = i["title"] + " " + i["summary"]
        if any(c in text for c in "\r\n\x00\x07\x1b\u202e"):
            bad.append(f"control character in {i['guid']}")
        if "<script" in text.lower() or "alert(" in text or "onerror" in text.lower():
            bad.append(f"markup survived in {i['guid']}: {text[:80]!r}")
        if i["link"] and not i["link"].startswith(("http://", "https://")):
            bad.append(f"link {i['link']!r} kept")
    return _all(stored(4)(o), "; ".join(bad) or None)


@_case("hostile-fields", "control chars, CRLF, <script>, javascript:/data: links: stripped or dropped",
       _hostile_check, before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(rss([
        {"title": "Breaking\r\nBcc: victim@example.org\x07\x1b[31m \u202eevil", "guid": "crlf",
         "link": "javascript:alert(1)",
         "description": "<script>alert(1)</script>Real text <img src=x onerror=alert(2)>"},
        {"title": "Tab trick", "guid": "tab", "link": " JaVa\tScRiPt:alert(1)"},
        {"title": "Data link", "guid": "data", "link": "data:text/html,<script>alert(1)</script>"},
        {"title": "&lt;script&gt;alert(3)&lt;/script&gt;Escaped markup", "guid": "escaped",
         "link": "https://ok.example.org/fine"}]).replace(b"\x07", b"&#7;").replace(b"\x1b", b""))
    return e.srv.url(e.path())


# ---- running the feed cases ------------------------------------------------------------------------

@dataclass
class CaseResult:
    name: str
    expected: str
    observed: str
    passed: bool
    seconds: float = 0.0


def _observed_text(o: Observed) -> str:
    h = o.health
    parts = [f"status={h['status']}", f"kind={h['error_kind']}", f"items={len(o.items)}"]
    if h["error"]:
        parts.append(f"error={h['error'][:70]!r}")
    if h["disabled_reason"]:
        parts.append("disabled")
    if h["moved_to"]:
        parts.append(f"moved_to=...{h['moved_to'][-12:]}")
    parts += [f"{k}={v}" for k, v in o.extra.items()]
    return " ".join(parts)


def write_config(root: Path, feeds: list[dict[str, Any]], **extra: Any) -> Path:
    """A deployment in ``root``: the shipped watchlists and seeds, state under root/state."""
    import yaml  # PyYAML only writes test configs

    for d in ("watchlists", "seeds"):
        if not (root / d).exists():
            shutil.copytree(ROOT / d, root / d)
    doc: dict[str, Any] = {"database": "state/monitor.db", "watchlists": "watchlists", "seeds": "seeds",
                           "digests": "state/digests", "models": "state/models", "feeds": feeds,
                           "fetch": {"timeout": f"{TIMEOUT:g}s", "connect_timeout": "1s", "max_bytes": MAX_BYTES,
                                     "max_redirects": 5, "concurrency": 64, "per_host": 16,
                                     "allow_private_networks": True},
                           "translation": {"enabled": False}}
    doc.update(extra)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    """Run the real CLI in this process: (exit code, stdout, stderr)."""
    from monitor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["--config", str(config), "--log-level", "error", *args])
        except SystemExit as e:  # argparse
            rc = int(e.code or 0)
    return rc, out.getvalue(), err.getvalue()


def stored_items(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Items per feed name, straight from the SQLite file."""
    from datetime import datetime, timezone

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT feeds.name AS feed, items.guid, items.title, items.summary, items.link, "
                            "items.published FROM items JOIN feeds ON feeds.id = items.feed_id").fetchall()
    finally:
        conn.close()
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        d = dict(r)
        d["published"] = datetime.fromtimestamp(d["published"], timezone.utc).isoformat() \
            if d["published"] is not None else None
        d["summary"] = d["summary"] or ""
        out.setdefault(d["feed"], []).append(d)
    return out


@dataclass
class FeedRun:
    """Everything one run of the feed cases produced."""

    results: list[CaseResult]
    observed: dict[str, Observed]
    round_seconds: list[float]
    counts_after_round: list[int]
    root: Path


def run_feed_cases(root: Path, cases: list[FeedCase] | None = None, *, tls: bool = True) -> FeedRun:
    """Serve every case, poll ROUNDS times with the real pipeline, then check each case."""
    from monitor.config import load_config
    from monitor.service.pipeline import open_services, poll_all, sync_seeds

    cases = list(FEED_CASES if cases is None else cases)
    srv = FaultServer().start()
    tls_srv: FaultServer | None = None
    if tls and shutil.which("openssl"):
        tls_srv = TLSFeedServer(self_signed_context(Path(tempfile.mkdtemp(dir=root)))).start()
    PENDING_SWITCH.clear()
    try:
        feeds = []
        for c in cases:
            env = Env(srv, tls_srv, root, c.name)
            url = c.setup(env)
            feed: dict[str, Any] = {"name": c.name, "url": url}
            if c.language:
                feed["language"] = c.language
            feeds.append(feed)
            if c.before and c.name not in PENDING_SWITCH:
                # round 0 serves a good feed at the case's URL path; later rounds the fault
                path = "/" + url.split("/", 3)[3]
                fault = srv.routes[path]
                srv.routes[path] = Route(_good(c.name))
                PENDING_SWITCH[c.name] = (path, fault)
        config = write_config(root, feeds)
        cfg = load_config(config)
        svc = open_services(cfg)
        round_seconds: list[float] = []
        done: dict[str, list[float]] = {}
        counts: list[int] = []
        try:
            sync_seeds(svc)
            for rnd in range(ROUNDS):
                if rnd == 1:
                    for path, route in PENDING_SWITCH.values():
                        srv.routes[path] = route
                t0 = time.monotonic()
                asyncio.run(poll_all(svc, progress=lambda o, t0=t0: done.setdefault(o.feed, []).append(
                    time.monotonic() - t0)))
                round_seconds.append(time.monotonic() - t0)
                counts.append(svc.store.items.count(seeds=True))
        finally:
            svc.close()
        rc, out, err = cli(config, "feeds", "--json")
        if rc != 0:
            raise RuntimeError(f"monitor feeds --json exited {rc}: {err}")
        health = {h["name"]: h for h in json.loads(out)}
        items = stored_items(cfg.database)
        results: list[CaseResult] = []
        observed: dict[str, Observed] = {}
        for c in cases:
            hits = [h for h in srv.hits + (tls_srv.hits if tls_srv else []) if h.path.startswith(f"/{c.name}")
                    or (c.name == "tls-self-signed" and h.path == "/tls.xml")]
            o = Observed(health[c.name], items.get(c.name, []), hits, round_seconds, done.get(c.name, []))
            observed[c.name] = o
            try:
                why = c.check(o)
            except Exception as e:  # noqa: BLE001 - a broken check is a failed case, not a crashed harness
                why = f"check raised {type(e).__name__}: {e}"
            results.append(CaseResult(c.name, c.expected, _observed_text(o) + (f" | {why}" if why else ""),
                                      why is None))
        return FeedRun(results, observed, round_seconds, counts, root)
    finally:
        srv.stop()
        if tls_srv is not None:
            tls_srv.stop()


def run_in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on a fresh thread (asyncio.run cannot nest inside a running loop)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["error"] = e
    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ---- cases outside the feed batch ----------------------------------------------------------------

class LoopbackServer(FaultServer):
    """A FaultServer on another loopback address (127.0.0.2): a second 'host' for redirect-hop tests."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        from http.server import ThreadingHTTPServer

        ThreadingHTTPServer.__init__(self, (host, 0), Handler)
        self.routes = {}
        self.hits = []
        self.closing = False
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.host = host

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.server_address[1]}"


def only_127_0_0_1(ip: str) -> str | None:
    """A test policy: 127.0.0.1 (where the test servers live) passes, everything else as in production."""
    from monitor.ingest.fetch import address_blocked

    return None if ip == "127.0.0.1" else address_blocked(ip)


def _result(name: str, expected: str, observed: str, why: str | None, seconds: float = 0.0) -> CaseResult:
    return CaseResult(name, expected, observed + (f" | {why}" if why else ""), why is None, seconds)


async def _ssrf_async() -> list[CaseResult]:
    from monitor.config import FetchSettings
    from monitor.ingest.fetch import Fetcher

    srv = FaultServer().start()
    other = LoopbackServer().start()
    out: list[CaseResult] = []
    try:
        srv.routes["/secret"] = Route(b"internal", content_type="text/plain")
        other.routes["/secret"] = Route(b"internal", content_type="text/plain")
        port = srv.server_address[1]
        strict = FetchSettings(timeout=TIMEOUT, connect_timeout=1.0)
        async with Fetcher(strict) as f:
            for name, url in [("ssrf-loopback", f"http://127.0.0.1:{port}/secret"),
                              ("ssrf-localhost-name", f"http://localhost:{port}/secret"),
                              ("ssrf-metadata-169.254", "http://169.254.169.254/latest/meta-data/"),
                              ("ssrf-private-10/8", "http://10.20.30.40/admin"),
                              ("ssrf-private-ipv6-ula", "http://[fd00::1]/"),
                              ("ssrf-multicast", "http://224.0.0.251/"),
                              ("ssrf-v4-mapped-v6", f"http://[::ffff:127.0.0.1]:{port}/secret"),
                              ("ssrf-unspecified-0.0.0.0", f"http://0.0.0.0:{port}/secret"),
                              ("ssrf-decimal-ip", f"http://2130706433:{port}/secret"),
                              ("ssrf-shared-100.64/10", "http://100.64.0.1/"),
                              ("ssrf-metadata-100.100.100.200", "http://100.100.100.200/latest/meta-data/"),
                              ("ssrf-metadata-ipv6-fd00:ec2::254", "http://[fd00:ec2::254]/latest/meta-data/"),
                              ("ssrf-nat64-loopback", f"http://[64:ff9b::7f00:1]:{port}/secret"),
                              ("ssrf-file-scheme", "file:///etc/passwd")]:
                before = len(srv.hits)
                r = await f.fetch(url, untrusted=True)
                why = _all(_expect(r.error_kind == "blocked", f"not blocked: {r.error_kind} {r.error}"),
                           _expect(len(srv.hits) == before, "the server was reached"),
                           _expect(r.elapsed < 1.5, f"took {r.elapsed:.1f} s (a connection was attempted?)"))
                out.append(_result(name, f"untrusted {url[:40]} refused before connecting",
                                   f"kind={r.error_kind} error={str(r.error)[:60]!r}", why, r.elapsed))
            r = await f.fetch(srv.url("/secret"))
            out.append(_result("ssrf-trusted-feed-allowed", "a configured feed on 127.0.0.1 is fetched (trusted)",
                               f"status={r.status}", _expect(r.ok and r.body == b"internal", f"{r.error}")))
        async with Fetcher(strict, address_policy=only_127_0_0_1) as f:
            srv.redirect("/to-other", other.url("/secret"))
            srv.redirect("/to-metadata", "http://169.254.169.254/latest/meta-data/iam/")
            for name, path in [("ssrf-redirect-to-127.0.0.2", "/to-other"),
                               ("ssrf-redirect-to-metadata", "/to-metadata")]:
                r = await f.fetch(srv.url(path), untrusted=True)
                why = _all(_expect(r.error_kind == "blocked", f"not blocked: {r.error_kind} {r.error}"),
                           _expect(len(srv.hits_for(path)) == 1, "first hop not fetched"),
                           _expect(not other.hits, "the blocked hop was reached"))
                out.append(_result(name, "an allowed first hop redirecting to a blocked address: refused at the hop",
                                   f"kind={r.error_kind} final={r.final_url[:40]}", why, r.elapsed))
            srv.routes["/echo"] = Route(b"ok", content_type="text/plain")
            r = await f.fetch(srv.url("/echo"), untrusted=True)
            hit = srv.hits_for("/echo")[-1] if srv.hits_for("/echo") else None
            out.append(_result("ssrf-pinned-connection", "an allowed untrusted fetch connects to the checked address "
                               "and keeps the Host header", f"status={r.status} host={hit.headers.get('host') if hit else None}",
                               _expect(r.ok and hit is not None and hit.headers.get("host") == f"127.0.0.1:{port}",
                                       f"{r.error}")))
        async with Fetcher(FetchSettings(timeout=TIMEOUT, allow_private_networks=True)) as f:
            r = await f.fetch(srv.url("/secret"), untrusted=True)
            out.append(_result("ssrf-allow-private-networks", "fetch.allow_private_networks: true lets it through",
                               f"status={r.status}", _expect(r.ok, f"{r.error}")))
    finally:
        srv.stop()
        other.stop()
    return out


def ssrf_cases() -> list[CaseResult]:
    """Fetcher.fetch(untrusted=True) against loopback, private, link-local and multicast targets."""
    return run_in_thread(lambda: asyncio.run(_ssrf_async()))


async def _deadline_async() -> list[CaseResult]:
    from monitor.config import FetchSettings
    from monitor.ingest.fetch import Fetcher

    srv = FaultServer().start()
    out: list[CaseResult] = []
    try:
        srv.hang("/hang")
        srv.routes["/drip"] = Route(b"x" * 2000, drip=0.01)  # 20 s in all, a byte every 10 ms
        srv.routes["/hop"] = Route(status=302, headers={"Location": "/hang"}, delay=0.3)
        async with Fetcher(FetchSettings(timeout=1.5, connect_timeout=1.0, per_host=1)) as f:
            for name, path in [("deadline-never-responds", "/hang"), ("deadline-slow-drip", "/drip"),
                               ("deadline-across-redirect", "/hop")]:
                r = await f.fetch(srv.url(path))
                out.append(_result(name, "cut at the 1.5 s whole-request deadline (+0.5 s)",
                                   f"kind={r.error_kind} elapsed={r.elapsed:.2f}s",
                                   _expect(r.error_kind == "timeout" and r.elapsed <= 2.0, "not cut in time"),
                                   r.elapsed))
            # per_host=1: three fetches queue for one host; queueing is not held against a request
            srv.routes["/ok"] = Route(_good("queue"), delay=0.8)
            rs = await asyncio.gather(*(f.fetch(srv.url("/ok")) for _ in range(3)))
            out.append(_result("deadline-excludes-host-queue", "3 x 0.8 s requests behind per_host=1 all succeed "
                               "under a 1.5 s deadline", f"ok={sum(r.ok for r in rs)}/3",
                               _expect(all(r.ok for r in rs), f"{[r.error for r in rs]}")))
    finally:
        srv.stop()
    return out


def deadline_cases() -> list[CaseResult]:
    """The whole-request deadline, measured on the Fetcher itself."""
    return run_in_thread(lambda: asyncio.run(_deadline_async()))


MEMORY_PROBE = r"""
import asyncio, json, resource, sys
sys.path.insert(0, sys.argv[1])
import tests.support.faultserver as fs
from monitor.config import FetchSettings
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import parse_feed

def rss_mb():
    # VmHWM: this image's peak (ru_maxrss would carry the forking parent's peak across exec)
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

bomb = fs.gzip_bomb(int(sys.argv[2]) << 20)
srv = fs.FaultServer().start()
srv.routes["/bomb"] = fs.Route(raw_gzip=bomb)
async def main():
    async with Fetcher(FetchSettings(timeout=20, max_bytes=5_000_000)) as f:
        await f.fetch(srv.url("/nothing"))  # warm up the client
        before = rss_mb()
        r = await f.fetch(srv.url("/bomb"))
    return before, r
before, r = asyncio.run(main())
hidden = fs.entity_behind_comment(amplify=33_000)  # 5 MB declaring 1.6 GB of text behind a comment
after_fetch = rss_mb()
p1 = parse_feed(fs.billion_laughs())
p2 = parse_feed(fs.padded_quadratic_blowup())
after_parse = rss_mb()
p3 = parse_feed(hidden)
after_hidden = rss_mb()
srv.stop()
print(json.dumps({"before": before, "after_fetch": after_fetch, "after_parse": after_parse,
                  "after_hidden": after_hidden, "hidden_bytes": len(hidden), "hidden_error": p3.error,
                  "kind": r.error_kind, "error": r.error, "bomb_bytes": len(bomb),
                  "parse_errors": [p1.error, p2.error]}))
"""


def memory_cases(bomb_mib: int = 1024) -> list[CaseResult]:
    """A gzip bomb (``bomb_mib`` MiB of zeros) and entity bombs in a fresh process: its peak RSS barely moves."""
    import sys

    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(ROOT), str(bomb_mib)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    if proc.returncode != 0:
        return [_result("gzip-bomb-memory", "peak RSS grows < 40 MB", f"probe exited {proc.returncode}",
                        proc.stderr[-300:])]
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    grow_fetch = d["after_fetch"] - d["before"]
    grow_parse = d["after_parse"] - d["after_fetch"]
    return [
        _result("gzip-bomb-memory", f"{bomb_mib} MiB bomb ({d['bomb_bytes'] // 1024} kB on the wire), 5 MB cap: "
                "too_large, peak RSS +<40 MB",
                f"kind={d['kind']} peak RSS {d['before']:.0f}->{d['after_fetch']:.0f} MB",
                _expect(d["kind"] == "too_large" and grow_fetch < 40, f"grew {grow_fetch:.0f} MB"),
                time.monotonic() - t0),
        _result("entity-bombs-memory", "billion laughs + padded blow-up refused, peak RSS +<20 MB",
                f"peak RSS +{grow_parse:.0f} MB, errors={[str(e)[:30] for e in d['parse_errors']]}",
                _expect(all(d["parse_errors"]) and grow_parse < 20, f"grew {grow_parse:.0f} MB")),
        _result("entity-behind-comment-memory", f"{d['hidden_bytes'] / 1e6:.1f} MB feed declaring entities behind "
                "`<!-- <a> -->` (1.6 GB expanded): refused, peak RSS +<40 MB",
                f"peak RSS +{d['after_hidden'] - d['after_parse']:.0f} MB, error={str(d['hidden_error'])[:40]!r}",
                _expect(bool(d["hidden_error"]) and "entit" in d["hidden_error"]
                        and d["after_hidden"] - d["after_parse"] < 40,
                        f"grew {d['after_hidden'] - d['after_parse']:.0f} MB: {d['hidden_error']}")),
    ]


def local_input_cases(tmp: Path) -> list[CaseResult]:
    """Bad config and watchlists: `monitor check` names each problem and exits 1."""
    out: list[CaseResult] = []

    def project(name: str) -> Path:
        root = tmp / name
        root.mkdir(parents=True, exist_ok=True)
        return write_config(root, [{"name": "one", "url": "http://127.0.0.1:9/feed.xml"}])

    def check_case(name: str, expected: str, config: Path, *needles: str, rc_want: int = 1,
                   cmd: tuple[str, ...] = ("check",)) -> None:
        rc, so, se = cli(config, *cmd)
        text = so + se
        missing = [n for n in needles if n.lower() not in text.lower()]
        why = _all(_expect(rc == rc_want, f"exit {rc} != {rc_want}"), _expect(not missing, f"output lacks {missing}"),
                   _expect("Traceback" not in text, "a traceback was printed"))
        first = next((ln for ln in text.splitlines() if any(n.lower() in ln.lower() for n in needles)),
                     text.strip().splitlines()[0] if text.strip() else "")
        out.append(_result(name, expected, f"exit={rc} {first[:90]!r}", why))

    c = project("invalid-yaml")
    c.write_text("feeds:\n  - url: http://x.org/rss\n   name: [unclosed\n", encoding="utf-8")
    check_case("config-invalid-yaml", "exit 1, 'invalid YAML' with file:line", c, "invalid YAML", "config.yaml:")

    c = project("unknown-key")
    c.write_text(c.read_text() + "fetchh:\n  timeout: 5s\n", encoding="utf-8")
    check_case("config-unknown-key", "exit 1, names the key and suggests 'fetch'", c, "fetchh", "did you mean 'fetch'")

    c = project("wrong-types")
    import yaml

    doc = yaml.safe_load(c.read_text())
    doc["fetch"].update(timeout="soon", concurrency="many", allow_private_networks="yes")
    doc["feeds"][0]["enabled"] = "sometimes"
    c.write_text(yaml.safe_dump(doc), encoding="utf-8")
    check_case("config-wrong-types", "exit 1, one located message per bad value", c, "fetch.timeout",
               "fetch.concurrency", "fetch.allow_private_networks", "feeds[0].enabled")

    c = project("dup-watchlists")
    wl = c.parent / "watchlists"
    (wl / "copy.yaml").write_text((wl / "victory-day-parade.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    check_case("watchlist-duplicate-name", "exit 1, 'duplicate watchlist name' naming both files", c,
               "duplicate watchlist name", "copy.yaml")

    c = project("unreadable")
    wl = c.parent / "watchlists"
    (wl / "binary.yaml").write_bytes(b"name: x\n\xff\xfe\x00 broken utf-8\n")
    (wl / "adir.yaml").mkdir()
    check_case("watchlist-unreadable-files", "exit 1, each unreadable file named (bad UTF-8, a directory)", c,
               "binary.yaml", "adir.yaml")

    c = project("missing-dir")
    doc = yaml.safe_load(c.read_text())
    doc["watchlists"] = "no/such/watchlists"
    c.write_text(yaml.safe_dump(doc), encoding="utf-8")
    check_case("config-missing-directory", "exit 1, 'directory not found' with the path", c, "directory not found",
               "no/such/watchlists")

    c = project("no-config")
    check_case("config-file-missing", "check: exit 1 'config file not found'", c.parent / "nope.yaml",
               "config file not found")
    check_case("config-unusable-run", "run --once on a broken config: exit 2, nothing polled", c.parent / "nope.yaml",
               "config is unusable", rc_want=2, cmd=("run", "--once"))
    return out


def _items_and_integrity(db: Path) -> tuple[int, str]:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]), \
            str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def _parade_feed(n: int, words: int = 30) -> bytes:
    """``n`` distinct stories the shipped victory-day-parade watchlist matches."""
    import random

    rng = random.Random(n)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(2000)]
    leaders = ["Tokayev", "Japarov", "Rahmon", "Mirziyoyev", "Berdimuhamedov"]
    return rss([{"title": f"{leaders[i % 5]} joins Putin at the Victory Day parade, story {i}",
                 "guid": f"parade-{i}", "link": f"https://parade.example.org/{i}",
                 "description": f"Report {i} from Red Square. " + " ".join(rng.choice(vocab) for _ in range(words))}
                for i in range(n)])


def state_dir_cases(tmp: Path) -> list[CaseResult]:
    """Digest writes that fail (a file where the directory should be; disk full): reported, no partial
    file, database intact, and the digest goes out once the fault is gone."""
    import os

    out: list[CaseResult] = []
    srv = FaultServer().start()
    try:
        srv.routes["/parade.xml"] = Route(_parade_feed(3))
        root = tmp / "blocked"
        root.mkdir(parents=True)
        (root / "state").mkdir()
        (root / "state" / "blocker").write_text("I am a file, not a directory")
        config = write_config(root, [{"name": "parade", "url": srv.url("/parade.xml")}],
                              digests="state/blocker/digests")
        rc, so, se = cli(config, "run", "--once")
        n, integrity = _items_and_integrity(root / "state" / "monitor.db")
        partial = [p for p in root.rglob("*") if p.name.endswith((".md", ".tmp"))]
        why = _all(_expect(rc == 0, f"run exited {rc}: {se[-200:]}"), _expect("FAILED" in so, "failure not reported"),
                   _expect(n >= 3, f"{n} items stored"), _expect(integrity == "ok", integrity),
                   _expect(not partial, f"files left: {partial}"))
        line = next((ln for ln in so.splitlines() if "FAILED" in ln), "")
        out.append(_result("digest-dir-blocked", "digest write fails: reported, items kept, no partial file",
                           f"exit={rc} {line[:90]!r}", why))
        (root / "state" / "blocker").unlink()
        rc, so, se = cli(config, "run", "--once")
        written = list((root / "state" / "blocker" / "digests" / "victory-day-parade").glob("*.md"))
        text = written[0].read_text(encoding="utf-8") if written else ""
        why = _all(_expect(len(written) == 1, f"{len(written)} digest(s) after the fix"),
                   _expect(text.count("story 0") == 1, "the pending items are not in it"))
        out.append(_result("digest-after-unblock", "the next run delivers the pending digest once",
                           f"{len(written)} digest(s)", why))

        # disk full: a 64 kB tmpfs (when this process may mount) else RLIMIT_FSIZE on the writer
        root = tmp / "diskfull"
        root.mkdir(parents=True)
        srv.routes["/big-parade.xml"] = Route(_parade_feed(40, words=200))
        small = root / "small-fs"
        small.mkdir()
        config = write_config(root, [{"name": "parade", "url": srv.url("/big-parade.xml")}],
                              digests=str(small / "digests"))
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                                 capture_output=True).returncode == 0 if os.geteuid() == 0 else False
        try:
            if mounted:
                out += _disk_full_tmpfs(config, root, small, srv)
            else:
                out += _disk_full_rlimit(root)
        finally:
            if mounted:
                subprocess.run(["umount", "-l", str(small)], capture_output=True)

        # a database that cannot be opened: a clear error, exit 1
        root = tmp / "dbblocked"
        root.mkdir(parents=True)
        (root / "state").write_text("not a directory")
        config = write_config(root, [{"name": "parade", "url": srv.url("/parade.xml")}])
        rc, so, se = cli(config, "run", "--once")
        out.append(_result("database-dir-blocked", "state dir unusable: exit 1 'cannot open database'",
                           f"exit={rc} {se.strip()[:90]!r}",
                           _expect(rc == 1 and "cannot open database" in se and "Traceback" not in se + so,
                                   f"{se[-200:]}")))
    finally:
        srv.stop()
    return out


def _disk_full_tmpfs(config: Path, root: Path, small: Path, srv: FaultServer) -> list[CaseResult]:
    import os

    out: list[CaseResult] = []
    filler = small / "filler"
    st = os.statvfs(small)
    with contextlib.suppress(OSError):  # leave less room than a 20-story digest needs
        filler.write_bytes(b"\0" * max(st.f_bavail * st.f_frsize - 8192, 0))
    rc, so, se = cli(config, "run", "--once")
    db = root / "state" / "monitor.db"
    n, integrity = _items_and_integrity(db)
    wl_dir = small / "digests" / "victory-day-parade"
    left = sorted(p.name for p in wl_dir.iterdir()) if wl_dir.exists() else []
    line = next((ln for ln in so.splitlines() if "victory-day-parade (markdown)" in ln), so[-80:])
    why = _all(_expect(rc == 0, f"run exited {rc}: {se[-300:]}"),
               _expect("FAILED" in line and ("disk full" in line or "space" in line), f"not reported: {line!r}"),
               _expect(not left, f"partial files left: {left}"),
               _expect(n >= 40 and integrity == "ok", f"{n} items, integrity {integrity}"))
    out.append(_result("digest-disk-full", "digest onto a full 64 kB tmpfs: reported, no partial file, items and "
                       "DB intact", f"exit={rc} {line.strip()[:90]!r}", why))
    filler.unlink()
    rc, so, se = cli(config, "digest", "--watchlist", "victory-day-parade")
    written = list(wl_dir.glob("*.md"))
    text = written[0].read_text(encoding="utf-8") if written else ""
    out.append(_result("digest-after-disk-full", "space freed: `monitor digest` writes the pending digest once",
                       f"exit={rc} {len(written)} file(s) {len(text)} bytes",
                       _expect(rc == 0 and len(written) == 1 and "story 0" in text, f"{so[-200:]} {se[-200:]}")))
    return out


RLIMIT_PROBE = r"""
import json, os, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from monitor.delivery.channels import DeliveryError, write_file_atomic
target = Path(sys.argv[1]) / "digest.md"
target.write_text("old complete digest")
resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
try:
    write_file_atomic(target, "x" * 100_000)
    err = None
except DeliveryError as e:
    err = str(e)
print(json.dumps({"error": err, "files": sorted(os.listdir(sys.argv[1])), "content": target.read_text()}))
"""


def _disk_full_rlimit(root: Path) -> list[CaseResult]:
    """Fallback without mount rights: the atomic writer under RLIMIT_FSIZE (EFBIG, like ENOSPC)."""
    import os
    import sys

    d = root / "rlimit"
    d.mkdir()
    proc = subprocess.run([sys.executable, "-c", RLIMIT_PROBE, str(d)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        return [_result("digest-disk-full", "writer under RLIMIT_FSIZE", f"probe exited {proc.returncode}",
                        proc.stderr[-300:])]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    why = _all(_expect(bool(r["error"]), "no error raised"), _expect(r["files"] == ["digest.md"], f"{r['files']}"),
               _expect(r["content"] == "old complete digest", "old file damaged"))
    return [_result("digest-disk-full", "100 kB digest under RLIMIT_FSIZE=8 kB (no mount rights): error, old file "
                    "intact, no temp file", f"error={str(r['error'])[:70]!r}", why)]


def delegated_mail_cases() -> list[CaseResult]:
    """Mail header cases live in tests/test_deliver.py (digest engineer); run them when present."""
    import sys

    test_file = ROOT / "tests" / "test_deliver.py"
    if not test_file.exists():
        return [CaseResult("mail-headers (delegated)", "CRLF / encoded-word / 10 kB titles never add a header",
                           "tests/test_deliver.py not present: not run", False)]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    last = (proc.stdout.strip().splitlines() or [""])[-1]
    return [CaseResult("mail-headers (delegated)", "tests/test_deliver.py passes (CRLF, encoded words, 10 kB titles)",
                       last[:100], proc.returncode == 0, time.monotonic() - t0)]


# ---- slow delivery endpoints (issue 17): a webhook that drips its answer, an SMTP tarpit ----------

class _DripServer:
    """A TCP server on 127.0.0.1 that answers every connection with ``reply`` one byte every
    ``gap`` seconds (after reading what the client sends first, when ``read_first``)."""

    def __init__(self, reply: bytes, gap: float = 2.0, read_first: bool = True) -> None:
        self.reply, self.gap, self.read_first = reply, gap, read_first
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.closing = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> _DripServer:
        self._thread.start()
        return self

    def _accept(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            if self.read_first:
                conn.settimeout(5)
                with contextlib.suppress(socket.timeout):
                    conn.recv(65536)
            for b in self.reply:
                end = time.monotonic() + self.gap
                while time.monotonic() < end:
                    if self.closing:
                        return
                    time.sleep(0.05)
                conn.sendall(bytes([b]))

    def stop(self) -> None:
        self.closing = True
        with contextlib.suppress(OSError):
            self.sock.close()


class DrippingWebhook(_DripServer):
    """An HTTP endpoint that takes the POST and answers ``200 OK`` a byte every ``gap`` seconds."""

    def __init__(self, gap: float = 2.0) -> None:
        super().__init__(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", gap)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


class SmtpTarpit(_DripServer):
    """An SMTP server that sends its greeting a byte every ``gap`` seconds (as tarpits do)."""

    def __init__(self, gap: float = 2.0) -> None:
        super().__init__(b"220 tarpit.example ESMTP slow down\r\n" * 4, gap, read_first=False)
# ---- issue 19: hostile content, second round ---------------------------------------------------------
# Internal addresses, memory and time, the mailbox and chat channel, the operator's terminal.

C1_CSI = "\x9b"  # one byte that terminals read as ESC [


def _no_controls(text: str | None) -> bool:
    from monitor.ingest.scrub import has_bad_char

    return not has_bad_char(text or "")


def entity_behind_comment(amplify: int = 200) -> bytes:
    """Entity declarations behind a comment that holds ``<a``: a check stopping at the first ``<\\w`` misses them."""
    refs = "&a;" * amplify
    items = "".join(f"<item><title>Laughs {i} {refs}</title><guid>e{i}</guid></item>" for i in range(50))
    return (f'<?xml version="1.0"?>\n<!-- see <a href="x">the guide</a> -->\n'
            f'<!DOCTYPE rss [<!ENTITY a "{"A" * 1000}">]>\n'
            f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>').encode()


def entity_behind_pi() -> bytes:
    return (b'<?xml version="1.0"?><?xml-stylesheet href="<b>"?>\n'
            b'<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
            b'<rss version="2.0"><channel><title>t</title><item><title>&lol2;</title><guid>p1</guid></item>'
            b'</channel></rss>')


@_case("entity-behind-comment", "entities declared after a comment holding <a: refused", _refused)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(entity_behind_comment()))


@_case("entity-behind-pi", "entities declared after a processing instruction holding <b: refused", _refused)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)), Route(entity_behind_pi()))


def _scrubbed_check(o: Observed) -> str | None:
    h = o.health
    return _all(failed("redirects")(o),
                _expect(_no_controls(h["error"]) and _no_controls(h["moved_to"]),
                        f"control characters reached the health row: {ascii(h['error'])} {ascii(h['moved_to'])}"))


@_case("c1-control-in-location", "Location with a raw C1 CSI byte: refused, no control character stored",
       _scrubbed_check)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)),
                         Route(status=301, headers={"Location": f"/x{C1_CSI}31mowned{C1_CSI}0m.xml"}))


def _metadata_check(o: Observed) -> str | None:
    return _all(failed("blocked", contains="metadata")(o),
                _expect(not o.health["moved_to"], f"moved_to stored: {o.health['moved_to']}"))


@_case("redirect-to-metadata", "a configured feed 301-redirecting to 169.254.169.254: blocked even with "
       "allow_private_networks, no moved_to", _metadata_check)
def _(e: Env) -> str:
    return _rounds_route(e, Route(_good(e.case)),
                         Route(status=301, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))


def _strict_fetch(**kw: Any) -> dict[str, Any]:
    fetch = {"timeout": f"{TIMEOUT:g}s", "connect_timeout": "1s", "max_redirects": 5, "concurrency": 8,
             "allow_private_networks": False}
    fetch.update(kw)
    return fetch


def redirect_guard_cases(tmp: Path) -> list[CaseResult]:
    """Configured feeds whose redirects leave the configured host, polled by `monitor run --once`
    with the real pipeline: refused at the hop (nothing stored, no moved_to) unless
    fetch.allow_private_networks; a LAN feed and same-host redirects keep working."""
    out: list[CaseResult] = []
    srv = FaultServer().start()
    other = LoopbackServer().start()
    try:
        good = _parade_feed(2)
        other.routes["/internal.xml"] = Route(good)
        srv.routes["/lan.xml"] = Route(good)
        srv.routes["/same-host.xml"] = Route(status=301, headers={"Location": "/lan.xml"})
        srv.routes["/to-127.0.0.2.xml"] = Route(status=301, headers={"Location": other.url("/internal.xml")})
        srv.routes["/to-ipv6-loopback.xml"] = Route(status=301, headers={
            "Location": f"http://[::1]:{srv.server_address[1]}/lan.xml"})
        srv.routes["/to-cgnat.xml"] = Route(status=302, headers={"Location": "http://100.100.100.200/latest/"})
        names = {"lan": "/lan.xml", "same-host": "/same-host.xml", "to-127-0-0-2": "/to-127.0.0.2.xml",
                 "to-ipv6-loopback": "/to-ipv6-loopback.xml", "to-cgnat-metadata": "/to-cgnat.xml"}
        for allow in (False, True):
            root = tmp / f"guard-{'open' if allow else 'strict'}"
            root.mkdir(parents=True)
            other.hits.clear()
            config = write_config(root, [{"name": n, "url": srv.url(p)} for n, p in names.items()],
                                  fetch=_strict_fetch(allow_private_networks=allow))
            t0 = time.monotonic()
            rc, so, se = cli(config, "run", "--once")
            seconds = time.monotonic() - t0
            _, js, _ = cli(config, "feeds", "--json")
            health = {h["name"]: h for h in json.loads(js)}
            items = stored_items(root / "state" / "monitor.db")
            label = "allow_private_networks" if allow else "strict"
            for name in names:
                h, got = health[name], items.get(name, [])
                if allow and name == "to-ipv6-loopback":  # allowed, so attempted: nothing listens on [::1]
                    why = _all(_expect(h["error_kind"] not in (None, "blocked"), f"kind {h['error_kind']}"),
                               _expect(not got, f"{len(got)} items stored"))
                    expected = "private networks allowed: the hop is attempted (nothing listens there)"
                elif name in ("lan", "same-host") or (allow and name != "to-cgnat-metadata"):
                    why = _all(_expect(h["error"] is None, f"error {h['error']!r}"),
                               _expect(len(got) == 2, f"{len(got)} items stored"))
                    expected = "polled and stored (trusted host, or private networks allowed)"
                else:
                    why = _all(_expect(h["error_kind"] == "blocked", f"kind {h['error_kind']} {h['error']!r}"),
                               _expect(not h["moved_to"], f"moved_to stored: {h['moved_to']}"),
                               _expect(not got, f"{len(got)} items stored"),
                               _expect(name != "to-127-0-0-2" or not other.hits, "the internal host was reached"))
                    expected = "the hop leaving the configured host is refused; nothing stored, no moved_to"
                out.append(_result(f"redirect-guard-{label}-{name}", expected,
                                   f"kind={h['error_kind']} items={len(got)} moved_to={bool(h['moved_to'])}",
                                   why, seconds))
            if not allow:
                _, table, _ = cli(config, "feeds")
                out.append(_result("redirect-guard-exit-code", "`monitor run --once` exits 0 with refused hops",
                                   f"exit={rc}", _expect(rc == 0 and "Traceback" not in so + se, se[-200:])))
                out.append(_result("redirect-guard-table", "`monitor feeds` names the refusal",
                                   f"{sum('refusing' in ln for ln in table.splitlines())} line(s) say 'refusing'",
                                   _expect("refusing" in table, table[-300:])))
    finally:
        srv.stop()
        other.stop()
    return out


def feeds_add_guard_cases(tmp: Path) -> list[CaseResult]:
    """`monitor feeds add PAGE`: what the page advertises, and where it redirects, passes the guard
    before it is fetched or written to config.yaml; the host the operator named stays trusted."""
    out: list[CaseResult] = []
    srv = FaultServer().start()
    other = LoopbackServer().start()
    try:
        other.routes["/feed.xml"] = Route(_parade_feed(2))
        srv.routes["/own.xml"] = Route(_parade_feed(2))
        link = '<link rel="alternate" type="application/rss+xml" href="{}">'
        page = "<html><head><title>p</title>{}</head><body>news</body></html>"
        srv.routes["/advertises-internal"] = Route(page.format(link.format(other.url("/feed.xml"))).encode(),
                                                   content_type="text/html")
        srv.routes["/advertises-metadata"] = Route(page.format(link.format("http://169.254.169.254/feed")).encode(),
                                                   content_type="text/html")
        srv.routes["/advertises-own"] = Route(page.format(link.format("/own.xml")).encode(), content_type="text/html")
        srv.routes["/page-redirects"] = Route(status=302, headers={"Location": other.url("/feed.xml")})
        for name, path, want_added in [("feeds-add-advertised-internal", "/advertises-internal", False),
                                       ("feeds-add-advertised-metadata", "/advertises-metadata", False),
                                       ("feeds-add-page-redirects-internal", "/page-redirects", False),
                                       ("feeds-add-advertised-same-host", "/advertises-own", True)]:
            root = tmp / name
            root.mkdir(parents=True)
            config = write_config(root, [], fetch=_strict_fetch())
            other.hits.clear()
            rc, so, se = cli(config, "feeds", "add", srv.url(path), "--yes")
            text = config.read_text(encoding="utf-8")
            internal_written = other.base in text or "169.254" in text
            if want_added:
                why = _all(_expect(rc == 0, f"exit {rc}: {se[-200:]}"),
                           _expect(srv.url("/own.xml") in text, "the same-host feed was not added"))
                expected = "a feed on the host the operator named is added"
            else:
                why = _all(_expect(rc != 0, f"exit {rc}"), _expect(not internal_written, "internal URL written"),
                           _expect(not other.hits, f"the internal host was fetched ({len(other.hits)} request(s))"))
                expected = "refused by the guard: not fetched, not written to config.yaml"
            out.append(_result(name, expected, f"exit={rc} internal_hits={len(other.hits)} "
                               f"written={internal_written}", why))
    finally:
        srv.stop()
        other.stop()
    return out


def _links_page(n_bytes: int) -> bytes:
    """A page of nothing but links: costly for trafilatura (seconds and hundreds of MB per MB)."""
    row = '<li><a href="/section/{0}">Section {0} news and more news</a></li>'
    parts, size, i = ["<html><head><title>links</title></head><body><ul>"], 0, 0
    while size < n_bytes:
        piece = row.format(i)
        parts.append(piece)
        size += len(piece)
        i += 1
    parts.append("</ul></body></html>")
    return "".join(parts).encode()


async def _fulltext_async(tmp: Path) -> list[CaseResult]:
    import multiprocessing

    from monitor.config import FetchSettings
    from monitor.ingest.fetch import Fetcher
    from monitor.ingest.fulltext import enrich_entries
    from monitor.ingest.parse import Entry

    out: list[CaseResult] = []
    srv = FaultServer().start()
    try:
        srv.routes["/robots.txt"] = Route(b"User-agent: *\nAllow: /\n", content_type="text/plain")
        links = _links_page(1_500_000)
        srv.routes["/huge.html"] = Route(_links_page(2_600_000), content_type="text/html")
        for i in range(3):
            srv.routes[f"/links-{i}.html"] = Route(links, content_type="text/html")
            srv.routes[f"/links-mem-{i}.html"] = Route(links, content_type="text/html")

        def entry(path: str) -> Entry:
            return Entry(path, srv.url(path), f"Story {path}", f"The feed's own summary of {path}.", None, None, "en")

        async def run(paths: list[str], **kw: Any) -> tuple[list[Entry], list[Entry], list[str], int, float]:
            settings = FetchSettings(timeout=10.0, connect_timeout=1.0, **kw)
            db = tmp / f"ft-{paths[0].strip('/').replace('.', '-')}.db"
            from monitor.store import open_store

            state = open_store(db)
            conn = sqlite3.connect(db)
            peak = 0
            stop = False

            def watch() -> None:  # live extraction workers, sampled
                nonlocal peak
                while not stop:
                    peak = max(peak, sum(p.name == "news-monitor-extract" for p in multiprocessing.active_children()))
                    time.sleep(0.02)
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            t0 = time.monotonic()
            try:
                async with Fetcher(settings, address_policy=only_127_0_0_1) as f:
                    entries = [entry(p) for p in paths]
                    got = await enrich_entries(f, state, entries, settings=settings)
                statuses = [r[0] for r in conn.execute("SELECT status FROM fulltext_cache ORDER BY url")]
            finally:
                stop = True
                watcher.join()
                conn.close()
                state.close()
            return entries, got, statuses, peak, time.monotonic() - t0

        def kept(entries: list[Entry], got: list[Entry]) -> str | None:
            return _expect([e.summary for e in got] == [e.summary for e in entries], "a summary was replaced")

        before = _vm_hwm_mb()
        entries, got, st, peak, secs = await run(["/huge.html"])
        out.append(_result("fulltext-page-over-cap", "a 2.6 MB page (cap fetch.fulltext_max_bytes 2 MB): too_large, "
                           "feed summary kept", f"status={st} {secs:.1f}s",
                           _all(_expect(st == ["too_large"], f"{st}"), kept(entries, got)), secs))
        paths = [f"/links-{i}.html" for i in range(3)]
        entries, got, st, peak, secs = await run(paths, fulltext_timeout=1.0, fulltext_concurrency=1)
        out.append(_result("fulltext-extraction-deadline", "3 pages of links that take trafilatura seconds each, "
                           "deadline 1 s, concurrency 1: each extract-timeout, summaries kept, <=1 worker at a time",
                           f"statuses={st} workers_at_once={peak} {secs:.1f}s",
                           _all(_expect(st == ["extract-timeout"] * 3, f"{st}"), kept(entries, got),
                                _expect(peak <= 1, f"{peak} workers at once")), secs))
        paths = [f"/links-mem-{i}.html" for i in range(3)]
        entries, got, st, peak, secs = await run(paths, fulltext_timeout=60.0, fulltext_memory=40 << 20,
                                                 fulltext_concurrency=2)
        grew = _vm_hwm_mb() - before
        out.append(_result("fulltext-extraction-memory", "the same pages with a 40 MiB worker budget: the worker "
                           "fails (extract-memory/extract-failed), summaries kept, <=2 workers, parent peak +<100 MB",
                           f"statuses={st} workers_at_once={peak} parent_peak_growth={grew:.0f}MB {secs:.1f}s",
                           _all(_expect(all(s in ("extract-memory", "extract-failed") for s in st) and len(st) == 3,
                                        f"{st}"), kept(entries, got), _expect(peak <= 2, f"{peak} workers at once"),
                                _expect(grew < 100, f"parent grew {grew:.0f} MB")), secs))
    finally:
        srv.stop()
    return out


def _vm_hwm_mb() -> float:
    import resource

    try:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fulltext_cases(tmp: Path) -> list[CaseResult]:
    """Hostile article pages for a fulltext feed: over the size cap, slow to extract, too big to extract."""
    tmp.mkdir(parents=True, exist_ok=True)
    return run_in_thread(lambda: asyncio.run(_fulltext_async(tmp)))


YAML_PROBE = r"""
import contextlib, io, json, sys, time
sys.path.insert(0, sys.argv[1])
from monitor.cli import main
def hwm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:  # warm-up on a harmless deployment: what `check` imports is not what the bomb costs
        main(["--config", sys.argv[3], "check"])
    except SystemExit:
        pass
before = hwm()
out, err = io.StringIO(), io.StringIO()
t0 = time.monotonic()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        rc = main(["--config", sys.argv[2], "check"])
    except SystemExit as e:
        rc = int(e.code or 0)
print(json.dumps({"rc": rc, "seconds": time.monotonic() - t0, "grew": hwm() - before,
                  "text": out.getvalue() + err.getvalue()}))
"""


def alias_bomb(indent: str, levels: int = 9, width: int = 9) -> str:
    """YAML list items (under ``indent``) whose aliases expand to ``width ** levels`` strings, ~600 bytes."""
    lines = [f"{indent}- &l0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"{indent}- &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def _probe_limits() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a runaway probe stops at 2 GiB


def yaml_bomb_cases(tmp: Path) -> list[CaseResult]:
    """Alias bombs where the loaders walk them (config.yaml's translation.pairs, a watchlist's
    aliases): `monitor check` refuses each quickly with file:line instead of expanding it."""
    import sys

    out: list[CaseResult] = []
    warm_root = tmp / "yaml-warm-up"
    warm_root.mkdir(parents=True)
    warm = write_config(warm_root, [], translation={"enabled": False, "pairs": []})
    for name, where in [("yaml-alias-bomb-config", "config"), ("yaml-alias-bomb-watchlist", "watchlist")]:
        root = tmp / name
        root.mkdir(parents=True)
        config = write_config(root, [], translation={"enabled": False, "pairs": []})
        if where == "config":
            text = config.read_text(encoding="utf-8")
            assert "  pairs: []\n" in text
            config.write_text(text.replace("  pairs: []\n", "  pairs:\n" + alias_bomb("    ")), encoding="utf-8")
            needle = "config.yaml:"
        else:  # the same anchors as watchlist aliases: l0 .. l8, the query uses l8
            aliases = "".join(f"  l{i}: {ln.strip()[2:]}\n" for i, ln in enumerate(alias_bomb("").splitlines()))
            (root / "watchlists" / "bomb.yaml").write_text(
                "name: bomb\naliases:\n" + aliases + "query: {any: [{alias: l8}]}\n", encoding="utf-8")
            needle = "bomb.yaml:"
        size = len((config if where == "config" else root / "watchlists" / "bomb.yaml").read_bytes())
        t0 = time.monotonic()
        expected = (f"a {size}-byte file whose aliases expand to {9 ** 9:,} strings: `monitor check` exits 1 "
                    "with file:line in < 5 s, peak RSS +<50 MB")
        try:
            proc = subprocess.run([sys.executable, "-c", YAML_PROBE, str(ROOT), str(config), str(warm)],
                                  capture_output=True,
                                  text=True, timeout=30, cwd=root, preexec_fn=_probe_limits)
        except subprocess.TimeoutExpired:
            out.append(_result(name, expected, "still expanding after 30 s", "not refused", time.monotonic() - t0))
            continue
        secs = time.monotonic() - t0
        if proc.returncode != 0 and not proc.stdout.strip():
            out.append(_result(name, expected, f"probe exited {proc.returncode}", proc.stderr[-300:], secs))
            continue
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        line = next((ln for ln in d["text"].splitlines() if "alias" in ln), "")
        out.append(_result(name, expected,
                           f"exit={d['rc']} {d['seconds']:.2f}s peak RSS +{d['grew']:.0f} MB {line.strip()[:60]!r}",
                           _all(_expect(d["rc"] == 1, f"exit {d['rc']}"),
                                _expect(needle in line, f"no {needle}LINE message: {d['text'][-300:]!r}"),
                                _expect(d["seconds"] < 5, f"took {d['seconds']:.1f} s"),
                                _expect(d["grew"] < 50, f"grew {d['grew']:.0f} MB")), secs))
    return out


def terminal_cases(tmp: Path) -> list[CaseResult]:
    """Control characters from the network (Location, reason phrase, feed title) never reach the
    operator's terminal or log: `monitor run --once`, `monitor feeds` and the log are scrubbed."""
    import logging

    from monitor.service.logs import setup_logging

    out: list[CaseResult] = []
    srv = FaultServer().start()
    try:
        srv.routes["/c1-location.xml"] = Route(status=302, headers={"Location": f"/next{C1_CSI}2J.xml"})
        srv.routes["/bidi-location.xml"] = Route(status=302, headers={"Location": "/\u202eLMX.sser\u202c"})

        def reason_route(h: Handler) -> None:
            h.send_response(503, f"Busy{C1_CSI}31m\x1b]0;owned\x07 now")
            h.send_header("Content-Length", "0")
            h.end_headers()
        srv.routes["/c1-reason.xml"] = Route(handler=reason_route)
        srv.routes["/c1-title.xml"] = Route(rss([{"title": f"Parade {C1_CSI}2J\u202eevil\u202c story", "guid": "t1",
                                                  "link": "https://ok.example.org/1"}],
                                                title=f"Feed{C1_CSI}31m \u202etitle"))
        feeds = [{"name": "c1-location", "url": srv.url("/c1-location.xml")},
                 {"name": "bidi-location", "url": srv.url("/bidi-location.xml")},
                 {"name": "c1-reason", "url": srv.url("/c1-reason.xml")},
                 {"name": "c1-title", "url": srv.url("/c1-title.xml")}]
        root = tmp / "terminal"
        root.mkdir(parents=True)
        config = write_config(root, feeds)
        log_stream = io.StringIO()
        for journal in (False, True):  # the handler setup_logging installs, on a logger of its own
            handler = setup_logging("INFO", force_journal=journal, stream=log_stream)
            logging.getLogger().removeHandler(handler)
            own = logging.getLogger("faultcase.terminal")
            own.propagate, own.level = False, logging.INFO
            own.addHandler(handler)
            try:
                own.warning("fetched %s", f"http://x/{C1_CSI}2J\u202e\r\nFAKE: line")
                try:
                    raise ValueError(f"server said {C1_CSI}31m\x1b]0;title\x07")
                except ValueError:
                    own.exception("with a traceback")
            finally:
                own.removeHandler(handler)
        rc, so, se = run_cli_logged(config, "run", "--once")
        _, table, _ = cli(config, "feeds")
        _, js, _ = cli(config, "feeds", "--json")
        logged = log_stream.getvalue()
        for name, text in [("terminal-run-once", so + se), ("terminal-feeds-table", table),
                           ("terminal-feeds-json", js), ("terminal-log-lines", logged)]:
            bad = sorted({f"U+{ord(c):04X}" for c in text if c not in "\n" and not _no_controls(c)})
            extra = _all(_expect("FAKE: line" in logged, "the test line was not logged"),
                         _expect(not [ln for ln in logged.splitlines() if ln.startswith("FAKE")], "a forged log line")
                         ) if name == "terminal-log-lines" else None
            out.append(_result(name, "no C0/C1 control or bidi override characters in what the operator reads",
                               f"{len(text)} chars, bad={bad[:5]}", _all(_expect(not bad, f"found {bad}"), extra)))
    finally:
        srv.stop()
    return out


def run_cli_logged(config: Path, *args: str) -> tuple[int, str, str]:
    """Like :func:`cli`, but at log level info so that the log formatter is exercised too."""
    from monitor.cli import main

    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try:
            rc = main(["--config", str(config), *args])
        except SystemExit as ex:
            rc = int(ex.code or 0)
    return rc, o.getvalue(), e.getvalue()


@dataclass
class HostileRelay:
    """An aiosmtpd handler playing a relay with a size limit (552 above it), one that refuses
    everything for good (552), or one that stores a message and then fails the reply (a lost
    acknowledgement: the client sees 451 although the message was kept)."""

    limit: int = 10_000_000
    mode: str = "limit"  # limit | refuse | lost-ack-once
    received: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        data = bytes(envelope.original_content or envelope.content)
        if self.mode == "refuse" or len(data) > self.limit:
            return "552 5.3.4 Message size exceeds fixed maximum message size"
        self.received.append(data)
        if self.mode == "lost-ack-once":
            self.mode = "limit"
            return "451 4.4.2 connection dropped before the acknowledgement"
        return "250 OK"


def _flood_feed(n: int, seed: int = 0, words: int = 60) -> bytes:
    """``n`` stories the shipped victory-day-parade watchlist matches, distinct enough (made-up
    vocabulary in title and text) that near-duplicate clustering keeps them apart."""
    import random

    rng = random.Random(seed)
    vocab = ["".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(rng.randint(2, 4)))
             for _ in range(3000)]
    leaders = ["Tokayev", "Japarov", "Rahmon", "Mirziyoyev", "Berdimuhamedov"]
    return rss([{"title": f"{leaders[i % 5]} at the Victory Day parade: " + " ".join(rng.sample(vocab, 6)),
                 "guid": f"flood-{seed}-{i}", "link": f"https://flood.example.org/{seed}/{i}",
                 "description": f"Batch {seed} report {i} from Red Square. " + " ".join(rng.sample(vocab, words))}
                for i in range(n)])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail_deployment(root: Path, srv: FaultServer, port: int, formats: str, **extra: Any) -> Path:
    config = write_config(root, [{"name": "flood", "url": srv.url("/flood.xml")}],
                          smtp={"host": "127.0.0.1", "port": port, "security": "none", "from": "monitor@example.org"},
                          **extra)
    wl = root / "watchlists" / "victory-day-parade.yaml"
    text = wl.read_text(encoding="utf-8").replace("formats: [markdown]", f"formats: {formats}")
    text = text.replace("recipients: []", "recipients: [desk@example.org]")
    wl.write_text(text, encoding="utf-8")
    (root / "watchlists" / "central-asia-sanctions.yaml").unlink()
    return config


def _digest_rows(root: Path, channel: str) -> list[tuple[str, str | None]]:
    conn = sqlite3.connect(root / "state" / "monitor.db")
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT status, error FROM digests WHERE channel=? ORDER BY id",
                                                   (channel,))]
    finally:
        conn.close()


def mail_cases(tmp: Path) -> list[CaseResult]:
    """A feed flooding a watchlist (300 items, which cluster into some 80 stories), delivered by
    `monitor run --once` to relays on 127.0.0.1."""
    import email
    from email import policy

    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        return [CaseResult("mail-caps", "aiosmtpd installed", "aiosmtpd missing: not run", False)]
    out: list[CaseResult] = []
    srv = FaultServer().start()
    srv.routes["/flood.xml"] = Route(_flood_feed(300))
    relay = HostileRelay(limit=200_000)
    port = _free_port()
    ctl = Controller(relay, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        # 1. capped: 300 matching stories, max 40 stories / 150 kB; the relay takes 200 kB at most
        root = tmp / "mail-capped"
        root.mkdir(parents=True)
        config = _mail_deployment(root, srv, port, "[markdown, email]",
                                  email={"max_stories": 40, "max_bytes": "150kB"})
        rc, so, se = cli(config, "run", "--once")
        msgs = [email.message_from_bytes(m, policy=policy.default) for m in relay.received]
        body = msgs[0].get_body(("plain",)).get_content() if msgs else ""
        sizes = [len(m) for m in relay.received]
        why = _all(_expect(len(msgs) == 1, f"{len(msgs)} message(s) received; {so[-200:]}"),
                   _expect(all(s <= 150_000 for s in sizes), f"sizes {sizes}"),
                   _expect(int((re.search(r"carries the 40 highest-scoring of (\d+) stories", body) or [0, 0])[1])
                           > 40, f"the mail does not say what was left out: {body[:200]!r}"),
                   _expect("monitor watchlist test victory-day-parade" in body, "no pointer to `watchlist test`"),
                   _expect("Markdown digest" in body, "no pointer to the Markdown digest"),
                   _expect(_digest_rows(root, "email") == [("sent", None)], f"{_digest_rows(root, 'email')}"))
        out.append(_result("mail-flood-capped", "300 matching items, caps 40 stories / 150 kB: one mail under "
                           "the cap naming what was left out and where", f"messages={len(msgs)} sizes={sizes} "
                           f"stories_in_mail={body.count('Why:')}", why))

        # 2. a permanent refusal: marked failed-permanent, the next digest goes out
        root = tmp / "mail-refused"
        root.mkdir(parents=True)
        srv.routes["/flood.xml"] = Route(_flood_feed(5, seed=1))
        config = _mail_deployment(root, srv, port, "[markdown, email]")
        relay.mode, relay.received = "refuse", []
        rc, so, se = cli(config, "run", "--once")
        first = _digest_rows(root, "email")
        _, status_text, _ = cli(config, "status")
        srv.routes["/flood.xml"] = Route(_flood_feed(5, seed=2))
        relay.mode = "limit"
        rc2, so2, se2 = cli(config, "run", "--once")
        rows = _digest_rows(root, "email")
        later = [email.message_from_bytes(m, policy=policy.default) for m in relay.received]
        text = later[0].get_body(("plain",)).get_content() if later else ""
        why = _all(_expect(first and first[0][0] == "failed-permanent", f"after the 552: {first}"),
                   _expect("refused for good" in status_text and "552" in status_text,
                           f"`monitor status` does not show it: {status_text[-300:]!r}"),
                   _expect(len(later) == 1, f"{len(later)} later message(s): {so2[-300:]}"),
                   _expect("Batch 2 report" in text and "Batch 1 report" not in text,
                           "the later digest does not carry (only) the new stories"),
                   _expect([r[0] for r in rows] == ["failed-permanent", "sent"], f"{rows}"))
        out.append(_result("mail-552-does-not-block", "552 on every message: digest failed-permanent, the next "
                           "digest (new items) is delivered on the next run", f"digests={[r[0] for r in rows]}", why))

        # 3. a lost acknowledgement: the retry carries the same Message-ID
        root = tmp / "mail-lost-ack"
        root.mkdir(parents=True)
        srv.routes["/flood.xml"] = Route(_flood_feed(4, seed=3))
        config = _mail_deployment(root, srv, port, "[email]")
        relay.mode, relay.received = "lost-ack-once", []
        cli(config, "run", "--once")
        time.sleep(1.1)  # the retry is generated at another time
        cli(config, "run", "--once")
        ids = [email.message_from_bytes(m, policy=policy.default)["Message-ID"] for m in relay.received]
        why = _all(_expect(len(ids) == 2, f"{len(ids)} copies stored"),
                   _expect(len(set(ids)) == 1, f"Message-IDs differ: {ids}"),
                   _expect([r[0] for r in _digest_rows(root, "email")] == ["sent"], f"{_digest_rows(root, 'email')}"))
        out.append(_result("mail-retry-same-message-id", "stored but not acknowledged, retried a second later: both "
                           "copies carry one Message-ID (the client can deduplicate)", f"ids={len(set(ids))}", why))
    finally:
        ctl.stop()
        srv.stop()
    return out


def webhook_cases(tmp: Path) -> list[CaseResult]:
    """Chat markup in a title and a `|label` in a link: the Slack/Mattermost `text` carries them as text;
    `webhook.max_stories` caps the payload's `stories`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    srv = FaultServer().start()
    try:
        srv.routes["/flood.xml"] = Route(rss([
            {"title": "<@U024BE7LH> <!channel> Tokayev joins Putin at the Victory Day parade & more "
                      "@all **now** [TASS](https://evil.example)", "guid": "h1",
             "link": "https://news.example.org/story|TASS", "description": "Report from Red Square parade."},
            {"title": "Mirziyoyev flies to Moscow for the Victory Day parade", "guid": "h2",
             "link": "https://news.example.org/tashkent", "description": "The Uzbek leader will watch the "
             "parade on Red Square with Vladimir Putin."},
        ]))
        root = tmp / "webhook"
        root.mkdir(parents=True)
        config = _mail_deployment(root, srv, 25, "[webhook]", webhook={"max_stories": 1})
        wl = root / "watchlists" / "victory-day-parade.yaml"
        wl.write_text(wl.read_text(encoding="utf-8").replace(
            "  formats: [webhook]", f"  formats: [webhook]\n  webhook: http://127.0.0.1:{hook.server_address[1]}/hook"),
            encoding="utf-8")
        rc, so, se = cli(config, "run", "--once")
        text = got[0]["text"] if got else ""
        stories = got[0]["stories"] if got else []
        why = _all(_expect(len(got) == 1, f"{len(got)} payload(s): {so[-300:]} {se[-300:]}"),
                   _expect("<@" not in text and "<!channel>" not in text, f"chat markup survived: {text!r}"),
                   _expect("&lt;@\u2060U024BE7LH&gt;" in text and "&amp; more" in text, f"not escaped: {text!r}"),
                   _expect("story%7CTASS" in text and "|" not in text.replace("\\|", ""),
                           f"the link can carry a label: {text!r}"),
                   _expect("@all" not in text and "\\*\\*now\\*\\* \\[TASS\\](https" in text,
                           f"Mattermost markup survived: {text!r}"),
                   _expect(len(stories) == 1 and got[0]["stories_omitted"] == 1 and got[0]["count"] == 2,
                           f"webhook.max_stories 1: {len(stories)} stories, payload {str(got)[:200]}"))
        out = [_result("webhook-chat-markup", "title `<@U024BE7LH> <!channel>`, link `...|TASS`: escaped as "
                       "&lt; &gt; &amp;, `|` percent-encoded, `@all **now** [TASS](...)` escaped, one story "
                       "of two (webhook.max_stories 1)", f"text={text[-90:]!r}", why)]
    finally:
        srv.stop()
        hook.shutdown()
        hook.server_close()
    return out


def issue19_groups() -> dict[str, Callable[[Path], list[CaseResult]]]:
    """Every issue-19 group outside the feed batch: name -> function of a scratch directory."""
    return {"redirect-guard": redirect_guard_cases, "feeds-add-guard": feeds_add_guard_cases,
            "fulltext-bounds": fulltext_cases, "yaml-aliases": yaml_bomb_cases, "terminal": terminal_cases,
            "mail-caps": mail_cases, "webhook-text": webhook_cases}
