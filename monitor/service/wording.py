"""Words for people: durations ("30 min") and feed errors ("cannot resolve host").

Pure functions, shared by the CLI tables, `monitor run` in a terminal and `monitor status`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# error_kind (monitor.ingest.fetch.FetchResult.error_kind) -> what happened, in words
_KIND_WORDS = {
    "dns": "cannot resolve host",
    "connect": "connection refused",
    "timeout": "timed out",
    "tls": "TLS handshake failed",
    "too_large": "feed too large",
    "redirects": "too many redirects",
    "blocked": "address not allowed",
    "file": "cannot read file",
    "parse": "not a feed",
}


def duration_words(seconds: float) -> str:
    """``1780`` -> ``"30 min"``, ``45`` -> ``"45 s"``, ``7200`` -> ``"2 h"``, ``5400`` -> ``"1.5 h"``."""
    s = abs(float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        h = s / 3600
        return f"{h:.0f} h" if abs(h - round(h)) < 0.05 or h >= 10 else f"{h:.1f} h"
    d = s / 86400
    return f"{d:.0f} days" if abs(d - round(d)) < 0.05 or d >= 10 else f"{d:.1f} days"


def error_words(kind: str | None, error: str | None, url: str | None = None, status: int | None = None) -> str:
    """A feed error in words: the kind first (with the host where it helps), the detail after.

    ``("dns", "[Errno -2] Name or service not known", "http://x.invalid/rss")`` ->
    ``"cannot resolve host x.invalid"``; an HTTP error keeps its status line.
    """
    if not error and not kind:
        return "ok"
    host = ""
    if url:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""
    if kind == "http" or (status and status >= 400):
        return error or f"HTTP {status}"
    words = _KIND_WORDS.get(kind or "")
    if words is None:
        return error or "failed"
    if kind in ("dns", "connect", "timeout", "tls") and host:
        refused = "refused" in (error or "").lower() or "all connection attempts failed" in (error or "").lower()
        words = {"dns": f"cannot resolve host {host}",
                 "connect": f"connection refused by {host}" if refused else f"cannot connect to {host}",
                 "timeout": f"{host} timed out", "tls": f"TLS handshake with {host} failed"}[kind]
    if kind in ("too_large", "redirects", "blocked", "file", "parse") and error:
        return error
    if kind == "timeout" and error and not error.startswith("timed out"):
        return f"{words}: {error}"  # "x.org timed out: no complete response within 20 s"
    return words
