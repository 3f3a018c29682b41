"""A real HTTP server on 127.0.0.1 for tests: serves feeds with ETag/Last-Modified and faults.

Each route is a :class:`Route`; tests change routes while the server runs and read
``server.hits`` to see what the client sent (e.g. If-None-Match).
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before the status line
    drip: float = 0.0  # seconds between body bytes (slow-drip server)
    gzip: bool = False  # send the body gzip-compressed (Content-Encoding: gzip)
    raw_gzip: bytes | None = None  # a pre-compressed body (gzip bomb)
    handler: Callable[[Handler], None] | None = None  # full control


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    time: float


class Handler(BaseHTTPRequestHandler):
    server: FeedServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        srv.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, time.time()))
        route = srv.routes.get(self.path) or srv.routes.get(self.path.split("?")[0])
        if route is None:
            self._send(404, b"not found", "text/plain")
            return
        if route.handler is not None:
            route.handler(self)
            return
        if route.delay:
            time.sleep(route.delay)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if route.status == 200 and ((route.etag and inm == route.etag) or
                                    (route.last_modified and ims == route.last_modified and not route.etag)):
            self.send_response(304)
            if route.etag:
                self.send_header("ETag", route.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = route.body
        extra = dict(route.headers)
        if route.raw_gzip is not None:
            body = route.raw_gzip
            extra["Content-Encoding"] = "gzip"
        elif route.gzip:
            body = gzip.compress(body)
            extra["Content-Encoding"] = "gzip"
        if route.etag:
            extra["ETag"] = route.etag
        if route.last_modified:
            extra["Last-Modified"] = route.last_modified
        self._send(route.status, body, route.content_type, extra, route.drip)

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None,
              drip: float = 0.0) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if drip:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(drip)
                    if self.server.closing:
                        return
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.hits: list[Hit] = []
        self.closing = False
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closing = True
        self.shutdown()
        self.server_close()

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


def rss(items: list[dict[str, str]], *, title: str = "Test feed", language: str | None = None,
        link: str = "https://example.org/") -> bytes:
    """An RSS 2.0 document; item dicts take title, link, guid, description, pubDate."""
    from xml.sax.saxutils import escape

    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
             f"<link>{escape(link)}</link>"]
    if language:
        parts.append(f"<language>{language}</language>")
    for it in items:
        parts.append("<item>")
        for key in ("title", "link", "guid", "description", "pubDate", "author"):
            if key in it:
                parts.append(f"<{key}>{escape(it[key])}</{key}>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def atom(entries: list[dict[str, str]], *, title: str = "Test Atom feed", lang: str | None = None) -> bytes:
    """An Atom 1.0 document; entry dicts take title, link, id, summary, updated."""
    from xml.sax.saxutils import escape, quoteattr

    lang_attr = f' xml:lang="{lang}"' if lang else ""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"{lang_attr}>'
             f"<title>{escape(title)}</title><id>urn:test:{escape(title)}</id><updated>2026-11-25T00:00:00Z</updated>"]
    for e in entries:
        parts.append("<entry>")
        parts.append(f"<title>{escape(e['title'])}</title>")
        if "link" in e:
            parts.append(f"<link href={quoteattr(e['link'])}/>")
        parts.append(f"<id>{escape(e.get('id', e.get('link', e['title'])))}</id>")
        parts.append(f"<updated>{e.get('updated', '2026-11-25T08:00:00Z')}</updated>")
        if "summary" in e:
            parts.append(f"<summary>{escape(e['summary'])}</summary>")
        parts.append("</entry>")
    parts.append("</feed>")
    return "".join(parts).encode("utf-8")


def rdf(items: list[dict[str, str]], *, title: str = "Test RDF feed") -> bytes:
    """An RSS 1.0 (RDF) document; item dicts take title, link, description, date."""
    from xml.sax.saxutils import escape, quoteattr

    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
             ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
             f'<channel rdf:about="https://example.org/rdf"><title>{escape(title)}</title>'
             "<link>https://example.org/</link><description>d</description></channel>"]
    for it in items:
        parts.append(f"<item rdf:about={quoteattr(it['link'])}><title>{escape(it['title'])}</title>"
                     f"<link>{escape(it['link'])}</link><description>{escape(it.get('description', ''))}</description>"
                     f"<dc:date>{it.get('date', '2026-11-25T08:00:00Z')}</dc:date></item>")
    parts.append("</rdf:RDF>")
    return "".join(parts).encode("utf-8")
