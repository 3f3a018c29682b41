"""Parse stage: fetched bytes -> typed entries, with plain-text fields.

feedparser does the format work (RSS 0.9x/1.0/2.0, Atom). Around it we:
- refuse documents that declare DTD entities anywhere in the prolog (expat's
  amplification limit still lets a 5 MB feed grow ~100x, and feedparser copies
  it), found by tokenizing the prolog (comments, PIs, quoted strings skipped);
- settle the character encoding ourselves (BOM, strict UTF-8, declarations,
  then detection) because servers often declare the wrong charset;
- turn HTML into plain text (nh3, a real HTML parser), collapse whitespace,
  drop control characters and cap field lengths;
- keep only http(s) links, normalise dates to UTC and reject impossible ones.
"""

from __future__ import annotations

import calendar
import codecs
import functools
import hashlib
import html
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import nh3

from monitor.analysis.text import language_code, shorten
from monitor.ingest.scrub import scrub

log = logging.getLogger(__name__)

MAX_TITLE = 500
MAX_SUMMARY = 20_000
MAX_AUTHOR = 200
EARLIEST = datetime(1995, 1, 1, tzinfo=timezone.utc)  # older dates are treated as missing
FUTURE_SLACK = timedelta(hours=24)  # clocks differ; further in the future is treated as "now"
MAX_ENTRIES = 500  # entries kept from one document (the newest); real feeds carry 10-100

# One sanitizer, built once (nh3.clean() builds the same one on every call): no tags kept,
# script and style dropped with their content.
_TEXT_ONLY = nh3.Cleaner(tags=set(), clean_content_tags={"script", "style"})
_XML_DECL = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._-]+)([\"'])", re.IGNORECASE)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    guid: str
    link: str | None  # http(s) only
    title: str  # plain text
    summary: str  # plain text
    published: datetime | None  # aware UTC; None if missing or implausible
    author: str | None
    language_hint: str | None  # feed- or entry-level declared language (ISO 639-1)


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str | None
    language: str | None
    version: str  # feedparser's name: rss20, atom10, rss10, ... ("" if not a feed)
    entries: list[Entry] = field(default_factory=list)
    error: str | None = None  # set when nothing usable came out
    warning: str | None = None  # recovered from malformed input
    advertised_feeds: list[str] = field(default_factory=list)  # when the body was an HTML page
    encoding: str | None = None


class ParseError(Exception):
    pass


def parse_feed(body: bytes, content_type: str | None = None, base_url: str | None = None,
               now: datetime | None = None, *, max_entries: int = MAX_ENTRIES) -> ParsedFeed:
    """Parse one feed body. Never raises for bad input: problems land in ``error``.

    At most ``max_entries`` entries are kept (the newest; undated ones in document order)."""
    now = now or datetime.now(timezone.utc)
    if not body or not body.strip():
        return ParsedFeed("", None, None, "", error="empty body")
    try:
        data, encoding = normalise_encoding(body, content_type)
        _refuse_entities(data)
    except ParseError as e:
        return ParsedFeed("", None, None, "", error=str(e))
    try:
        d = feedparser.parse(data, response_headers={"content-type": "application/xml; charset=utf-8"},
                             sanitize_html=False, resolve_relative_uris=False)
    except Exception as e:  # feedparser is lenient, but hostile bytes have broken it before
        return ParsedFeed("", None, None, "", error=f"parser failure: {type(e).__name__}: {e}"[:300])
    version = d.get("version") or ""
    feed = d.get("feed", {})
    feed_link = _http_link(feed.get("link"), base_url)
    feed_lang = language_code(feed.get("language"))
    entries: list[Entry] = []
    seen: set[str] = set()
    for raw in d.get("entries", []):
        entry = _entry(raw, feed_link or base_url, feed_lang, now)
        if entry is None or entry.guid in seen:
            continue
        seen.add(entry.guid)
        entries.append(entry)
    bozo = d.get("bozo") and d.get("bozo_exception")
    if not entries and not version:
        text = data[:200_000].decode("utf-8", "replace")
        if re.search(r"<html[\s>]", text[:5000], re.IGNORECASE):
            links = discover_feed_links(text, base_url or "")
            hint = f"; the page advertises {', '.join(links[:3])}" if links else ""
            return ParsedFeed("", None, None, "", error="HTML page, not a feed" + hint, advertised_feeds=links,
                              encoding=encoding)
        msg = f"not a feed ({_bozo_text(bozo)})" if bozo else "not a feed"
        return ParsedFeed("", None, None, "", error=msg, encoding=encoding)
    title = clean_text(feed.get("title") or "", MAX_TITLE)
    warnings = [f"malformed feed, recovered: {_bozo_text(bozo)}"] if bozo else []
    if len(entries) > max_entries:
        warnings.append(f"{len(entries)} entries in one document; kept the {max_entries} newest")
        entries = _newest(entries, max_entries)
    warning = "; ".join(warnings) or None
    return ParsedFeed(title, feed_link, feed_lang, version, entries, None, warning, encoding=encoding)


def _newest(entries: list[Entry], n: int) -> list[Entry]:
    """The ``n`` newest entries, in their document order (undated ones rank after dated ones)."""
    ranked = sorted(range(len(entries)), key=lambda i: (entries[i].published is None,
                                                        -(entries[i].published or EARLIEST).timestamp(), i))
    keep = sorted(ranked[:n])
    return [entries[i] for i in keep]


def _bozo_text(exc: object) -> str:
    return (str(exc) or type(exc).__name__)[:200]


def _entry(raw: dict[str, Any], base: str | None, feed_lang: str | None, now: datetime) -> Entry | None:
    # dict.get, not FeedParserDict.get: none of these keys is one of its aliases, and for
    # "updated_parsed" its fallback to "published_parsed" only answers when that was falsy too.
    get = dict.get
    title = clean_text(get(raw, "title") or "", MAX_TITLE)
    summary_html = get(raw, "summary") or ""
    if not summary_html and get(raw, "content"):
        summary_html = raw["content"][0].get("value") or ""
    summary = clean_text(summary_html, MAX_SUMMARY)
    link = _http_link(get(raw, "link"), base)
    if not title and not summary:
        return None
    if not title:
        title = shorten(summary, 120)
    guid = clean_text(str(get(raw, "id") or ""), 1000) or link or \
        "sha1:" + hashlib.sha1((title + "\n" + summary).encode()).hexdigest()
    published = None
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = get(raw, key)
        if st:
            try:
                published = datetime.fromtimestamp(calendar.timegm(st), tz=timezone.utc)
            except (OverflowError, ValueError, OSError):
                published = None
            break
    if published is not None:
        if published < EARLIEST:
            published = None
        elif published > now + FUTURE_SLACK:
            published = now
    author = clean_text(get(raw, "author") or "", MAX_AUTHOR) or None
    lang = language_code(get(raw, "language")) or feed_lang
    return Entry(guid, link, title, summary, published, author, lang)


def clean_text(value: str, limit: int) -> str:
    """HTML -> plain text: tags removed (script/style with content), entities decoded,
    control and bidi-override characters dropped, whitespace collapsed, length capped."""
    if not value:
        return ""
    value = value[: limit * 4 + 1000]  # bound the work on megabyte fields before parsing
    if "<" in value or "&" in value:
        value = html.unescape(_TEXT_ONLY.clean(value))
        if "<" in value and _MARKUP.search(value):  # double-escaped markup, e.g. &lt;b&gt;
            value = html.unescape(_TEXT_ONLY.clean(value))
    # Whitespace collapsed before and after the scrub (controls become spaces, bidi overrides and
    # zero-width characters go): the same text as collapsing after it alone, and usually nothing
    # is left for the scrub to do.
    value = " ".join(value.split())
    scrubbed = scrub(value)
    if scrubbed is not value:
        scrubbed = " ".join(scrubbed.split())
    return shorten(scrubbed, limit, at="char")


# An absolute http(s) URL of plain ASCII (lower-case scheme, host[:port], path, query, fragment,
# no empty "?" or "#", no ";" or quotes): urljoin() hands it back unchanged whatever the base, and
# urlsplit() finds its scheme and host, so _http_link may keep it without either.
_PLAIN_HTTP_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&()*+,=:@%/-]*)?"
    r"(?:\?[A-Za-z0-9._~!$&()*+,=:@%/?-]+)?(?:#[A-Za-z0-9._~!$&()*+,=:@%/?-]+)?")


@functools.lru_cache(maxsize=256)
def _base_parses(base: str) -> bool:
    """urljoin() with this base does not raise (one answer per feed, not per link)."""
    try:
        urlsplit(base)
    except ValueError:
        return False
    return True


def _http_link(link: object, base: str | None) -> str | None:
    if not link or not isinstance(link, str):
        return None
    link = scrub(link).strip()  # a control character inside the link leaves a space: refused below
    if _PLAIN_HTTP_URL.fullmatch(link) and (not base or _base_parses(base)):
        return link[:2000]  # what urljoin and the checks below would say, for the common link
    if base:
        try:
            link = urljoin(base, link)
        except ValueError:
            return None
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(c in link for c in " <>\"'`"):
        return None
    return link[:2000]


def _refuse_entities(data: bytes) -> None:
    """Refuse entity declarations anywhere in the prolog (everything before the root element).

    The prolog is tokenized, not pattern-matched: comments, processing instructions and
    quoted strings are skipped as units, so a ``<a`` inside a comment does not end the
    prolog early, and a declaration cannot hide behind one. Inside a DOCTYPE's internal
    subset an ``<!ENTITY`` declaration or a parameter-entity reference refuses the document;
    a DOCTYPE without them (RSS 0.91's public identifier) is fine."""
    reason = _prolog_problem(data)
    if reason:
        raise ParseError(f"{reason} (entity-expansion attack?); refused")


_MARKUP = re.compile(r"<[a-zA-Z/!]")
_NAME_START = re.compile(rb"[A-Za-z_:\x80-\xff]")
_DECL_KEYWORD = re.compile(rb"<!\s*([A-Za-z]+)")


def _skip_to(data: bytes, i: int, end: bytes) -> int:
    """Index just after the next ``end`` at or after ``i`` (len(data) when there is none)."""
    j = data.find(end, i)
    return len(data) if j < 0 else j + len(end)


def _skip_declaration(data: bytes, i: int) -> int:
    """From inside a markup declaration to just after its closing ``>``, quoted strings skipped."""
    n = len(data)
    while i < n:
        c = data[i:i + 1]
        if c in (b'"', b"'"):
            i = _skip_to(data, i + 1, c)
        elif c == b">":
            return i + 1
        else:
            i += 1
    return n


def _prolog_problem(data: bytes) -> str | None:
    """Why the document's prolog is unsafe, or None. Stops at the root element's start tag."""
    i, n = 0, len(data)
    while i < n:
        lt = data.find(b"<", i)
        if lt < 0:
            return None
        i = lt
        if data.startswith(b"<!--", i):
            i = _skip_to(data, i + 4, b"-->")
        elif data.startswith(b"<?", i):
            i = _skip_to(data, i + 2, b"?>")
        elif data.startswith(b"<!", i):
            m = _DECL_KEYWORD.match(data, i)
            word = m.group(1).upper() if m else b""
            if word == b"ENTITY":
                return "the document declares XML entities"
            if word != b"DOCTYPE":
                i += 2  # not a prolog construct (e.g. CDATA before the root): feedparser copes
                continue
            problem, i = _doctype_problem(data, m.end() if m else i + 2)
            if problem:
                return problem
        elif _NAME_START.match(data, i + 1):
            return None  # the root element: the prolog is over
        else:
            i += 1
    return None


def _doctype_problem(data: bytes, i: int) -> tuple[str | None, int]:
    """Scan a DOCTYPE from after its keyword: (problem, index after it)."""
    n = len(data)
    while i < n:  # name and external identifier, up to the internal subset or the end
        c = data[i:i + 1]
        if c in (b'"', b"'"):
            i = _skip_to(data, i + 1, c)
        elif c == b">":
            return None, i + 1
        elif c == b"[":
            i += 1
            break
        else:
            i += 1
    else:
        return None, n
    while i < n:  # the internal subset
        c = data[i:i + 1]
        if c.isspace():
            i += 1
        elif c == b"]":
            return None, _skip_declaration(data, i + 1)
        elif c == b"%":
            return "the document's DTD uses parameter entities", i
        elif data.startswith(b"<!--", i):
            i = _skip_to(data, i + 4, b"-->")
        elif data.startswith(b"<?", i):
            i = _skip_to(data, i + 2, b"?>")
        elif data.startswith(b"<!", i):
            m = _DECL_KEYWORD.match(data, i)
            word = m.group(1).upper() if m else b""
            if word == b"ENTITY":
                return "the document declares XML entities", i
            if word not in (b"ELEMENT", b"ATTLIST", b"NOTATION"):
                return "malformed DOCTYPE internal subset", i
            i = _skip_declaration(data, m.end() if m else i + 2)
        else:
            return "malformed DOCTYPE internal subset", i
    return None, n


def normalise_encoding(body: bytes, content_type: str | None) -> tuple[bytes, str]:
    """Return the body re-encoded as UTF-8 (declaration rewritten) and the encoding found.

    Order: BOM; strict UTF-8 (valid UTF-8 with non-ASCII text is almost never
    anything else); the XML declaration; the HTTP charset; then detection.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32-le"),
                     (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):
        if body.startswith(bom):
            try:
                text = body[len(bom):].decode(enc)
            except UnicodeDecodeError:
                raise ParseError(f"body starts with a {enc} byte-order mark but does not decode as {enc}") from None
            return _as_utf8(text.encode("utf-8")), enc
    for prefix, enc in ((b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"),
                        (b"<\x00", "utf-16-le"), (b"\x00<", "utf-16-be")):
        if body.startswith(prefix):  # "<?xml" in UTF-16/32 without a byte-order mark
            try:
                return _as_utf8(body.decode(enc).encode("utf-8")), enc
            except UnicodeDecodeError:
                break
    try:
        body.decode("utf-8")
        return _as_utf8(body), "utf-8"
    except UnicodeDecodeError:
        pass
    declared: list[str] = []
    m = _XML_DECL.match(body[:400])
    if m:
        declared.append(m.group(2).decode("ascii", "ignore"))
    if content_type:
        cm = _CHARSET.search(content_type)
        if cm:
            declared.append(cm.group(1))
    for enc in declared:
        try:
            codecs.lookup(enc)
            if codecs.lookup(enc).name in ("utf-8",):
                continue
            text = body.decode(enc)
            name, text = _recheck_single_byte(body, codecs.lookup(enc).name, text)
            return _as_utf8(text.encode("utf-8")), name
        except (LookupError, UnicodeDecodeError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000], cp_isolation=["cp1251", "koi8_r", "koi8_u", "iso8859_5", "cp1252",
                                                    "iso8859_1", "cp1254", "iso8859_9", "utf_16"]).best()
    if best is None:
        text = body.decode("utf-8", "replace")
        return _as_utf8(text.encode("utf-8")), "utf-8 (with replacements)"
    try:
        text = body.decode(best.encoding)
    except (LookupError, UnicodeDecodeError):
        text = body.decode(best.encoding, "replace")
    name, text = _recheck_single_byte(body, best.encoding, text)
    return _as_utf8(text.encode("utf-8")), name


_CYRILLIC_CODECS = ("cp1251", "koi8_r", "iso8859_5", "cp866")  # in order of preference on a tie
_CYR = re.compile(r"[\u0410-\u044f\u0401\u0451\u0406\u0456\u0407\u0457\u0404\u0454\u0490\u0491\u040e\u045e]")
_CYR_LOWER = re.compile(r"[\u0430-\u044f\u0451\u0456\u0457\u0454\u0491\u045e]")
_LATIN_HIGH = re.compile(r"[\u00c0-\u00ff]")
_LETTER = re.compile(r"[^\W\d_]")


def _cyrillic_plausibility(text: str) -> float:
    """Share of lower-case Cyrillic letters among non-ASCII characters (0 below 20 of them).
    Russian prose scores ~0.9; KOI8-R read as Windows-1251 (and back) swaps the cases and
    scores ~0.1; a wrong code page yields box drawing or Latin-1 letters and scores low."""
    non_ascii = sum(1 for c in text if ord(c) > 127)
    return len(_CYR_LOWER.findall(text)) / non_ascii if non_ascii >= 20 else 0.0


def _recheck_single_byte(body: bytes, name: str, text: str) -> tuple[str, str]:
    """Second opinion on a single-byte charset: Cyrillic with swapped cases, or Latin-1 letters
    where Cyrillic was meant (a server default of ISO-8859-1), is re-read with the best Cyrillic codec."""
    sample = text[:100_000]
    cyr = _cyrillic_plausibility(sample)
    suspicious = bool(_CYR.search(sample)) and cyr < 0.6
    if not suspicious and not _CYR.search(sample):
        letters = len(_LETTER.findall(sample))
        suspicious = letters >= 20 and len(_LATIN_HIGH.findall(sample)) > 0.3 * letters
    if not suspicious:
        return name, text
    best_name, best_text, best_score = name, text, max(cyr, 0.6)
    for codec in _CYRILLIC_CODECS:
        try:
            candidate = body.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _cyrillic_plausibility(candidate[:100_000])
        if score > best_score:
            best_name, best_text, best_score = codec, candidate, score
    return best_name, best_text


def _as_utf8(data: bytes) -> bytes:
    return _XML_DECL.sub(rb"\g<1>utf-8\g<3>", data, count=1)


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "link":
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        rels = a.get("rel", "").lower().split()
        typ = a.get("type", "").lower()
        if "alternate" in rels and typ in ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
                                           "application/feed+json", "text/xml", "application/xml") and a.get("href"):
            self.links.append(a["href"])


def discover_feed_links(page: str, base_url: str) -> list[str]:
    """Feed URLs an HTML page advertises with <link rel="alternate" type="...rss/atom...">."""
    finder = _LinkFinder()
    try:
        finder.feed(page[:500_000])
    except Exception:  # noqa: BLE001 - HTMLParser on hostile input
        pass
    out: list[str] = []
    for href in finder.links:
        url = _http_link(href, base_url) if base_url else (href if href.startswith("http") else None)
        if url and url not in out:
            out.append(url)
    return out
