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
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from feedserver import FeedServer, Handler, Hit, Route, rss

ROOT = Path(__file__).resolve().parent.parent

RU_TITLE = "Парад Победы на Красной площади прошёл при участии лидеров Центральной Азии"
RU_SUMMARY = ("Президенты Казахстана, Киргизии и Узбекистана наблюдали за парадом вместе с Владимиром Путиным; "
              "в Москве прошли торжественные мероприятия, посвящённые годовщине Победы.")


# ---- the server ------------------------------------------------------------------------------------

class FaultServer(FeedServer):
    """A FeedServer whose handlers can also hang, drip, lie and bomb."""

    request_queue_size = 256  # the default backlog of 5 turns 50 concurrent polls into connect timeouts

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
    ents = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">\n' for i in range(1, 10))
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
    extra: dict[str, Any] = field(default_factory=dict)


Check = Callable[[Observed], str | None]  # None: as expected; else what differed


@dataclass
class FeedCase:
    name: str
    expected: str
    setup: Callable[["Env"], str]  # installs routes, returns the feed URL
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
    """``check`` and every polling round finished within ``seconds``."""
    def both(o: Observed) -> str | None:
        return _all(check(o), _expect(max(o.round_seconds) <= seconds,
                                      f"a round took {max(o.round_seconds):.1f} s > {seconds:g} s"))
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


@_case("never-responds", f"timeout after the {TIMEOUT:g} s deadline", bounded(failed("timeout"), TIMEOUT + 4))
def _(e: Env) -> str:
    e.srv.hang(e.path() + "/hang")
    e.srv.redirect(e.path(), e.srv.url(e.path() + "/hang"), 307)
    return e.srv.url(e.path())


@_case("slow-drip", "1 byte/50 ms body cut at the whole-request deadline", bounded(failed("timeout"), TIMEOUT + 4))
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


@_case("10000-entries", "10,000 entries: parsed, the 500 newest stored, within the round time limit",
       bounded(stored(500), 60), before=False)
def _(e: Env) -> str:
    words = ["wheat", "border", "customs", "rail", "gas", "court", "budget", "school", "drought", "bridge",
             "election", "bank", "airport", "festival", "mine", "river", "tariff", "hospital", "port", "road"]
    items = [{"title": f"{words[i % 20]} {words[(i // 20) % 20]} {words[(i // 400) % 20]} report number {i}",
              "guid": f"big-{i}", "link": f"https://big.example.org/{i}",
              "pubDate": email.utils.formatdate(1_770_000_000 + i * 60, usegmt=True)} for i in range(10_000)]
    e.srv.routes[e.path()] = Route(rss(items))
    return e.srv.url(e.path())


@_case("1mb-title", "a 1 MB title is cut to 500 characters", stored(1, pred=_titles(lambda t: len(t) <= 500,
                                                                                    "title too long")),
       before=False)
def _(e: Env) -> str:
    e.srv.routes[e.path()] = Route(rss([{"title": "Almaty " * 150_000, "guid": "huge",
                                         "description": "<p>" + "x" * 1_000_000 + "</p>"}]))
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
    from monitor.pipeline import open_services, poll_all, sync_seeds

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
        counts: list[int] = []
        try:
            sync_seeds(svc)
            for rnd in range(ROUNDS):
                if rnd == 1:
                    for path, route in PENDING_SWITCH.values():
                        srv.routes[path] = route
                t0 = time.monotonic()
                asyncio.run(poll_all(svc))
                round_seconds.append(time.monotonic() - t0)
                counts.append(int(svc.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]))
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
            o = Observed(health[c.name], items.get(c.name, []), hits, round_seconds)
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
