"""OPML in and out: subscription lists from feed readers.

Reading uses listparser (it copes with the OPML 1.0/1.1/2.0 dialects that Feedly,
Inoreader, Miniflux, NetNewsWire, Thunderbird and others write). Folders become
tags: a feed inside ``News/Central Asia`` gets the tags ``News`` and ``Central Asia``;
OPML 2.0 ``category`` attributes add their parts too. A feed listed twice (readers
repeat a feed in every folder it is in) is kept once with the union of its tags.

Writing produces OPML 2.0: one folder per feed's first tag, the remaining tags in
``category``, ``language`` from a language override, and news-monitor's own options
(interval, fulltext, enabled) as attributes in their own namespace, which other
readers ignore and :func:`read_opml` reads back.
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from defusedxml import ElementTree as DefusedET

from monitor import MonitorError
from monitor.analysis.text import language_code
from monitor.config import FeedConfig
from monitor.config.edit import NewFeed
from monitor.config.units import parse_duration

NM_NS = "https://github.com/news-monitor/news-monitor/opml"
MAX_OPML_BYTES = 20_000_000


@dataclass(frozen=True)
class OpmlFeed:
    """One subscription read from an OPML file."""

    url: str
    title: str
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval: str | None = None
    fulltext: bool = False
    enabled: bool = True


@dataclass(frozen=True)
class Skipped:
    url: str
    title: str
    reason: str


@dataclass
class OpmlDocument:
    """What an OPML file holds: feeds (each once), and what was set aside."""

    title: str
    feeds: list[OpmlFeed] = field(default_factory=list)
    duplicates: list[Skipped] = field(default_factory=list)  # repeated inside the file (tags merged)
    invalid: list[Skipped] = field(default_factory=list)  # not an http(s) feed URL, or a link to another list


@dataclass
class ImportPlan:
    """The feeds to add to a config, and those skipped with the reason."""

    add: list[NewFeed] = field(default_factory=list)
    duplicates: list[Skipped] = field(default_factory=list)
    invalid: list[Skipped] = field(default_factory=list)


def url_key(url: str) -> str:
    """A comparison key: http/https, host case, default port, trailing slash and fragment ignored."""
    try:
        p = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (p.hostname or "").lower()
    port = p.port if p.port not in (None, 80, 443) else None
    netloc = host + (f":{port}" if port else "")
    path = p.path.rstrip("/") or ""
    return urlunsplit(("http", netloc, path, p.query, ""))


def read_opml(data: bytes) -> OpmlDocument:
    """Parse an OPML document's bytes. Raises MonitorError when it is not OPML."""
    if len(data) > MAX_OPML_BYTES:
        raise MonitorError(f"the OPML file is larger than {MAX_OPML_BYTES // 1_000_000} MB")
    if b"<!ENTITY" in data[:65536]:
        raise MonitorError("the OPML file declares XML entities; refused")
    import listparser  # here, not at the top: it pulls in requests (60 ms at every command's start)

    parsed = listparser.parse(bytes(data))  # bytes: listparser fetches str arguments that look like URLs
    if not parsed.get("version", "").startswith("opml") and not parsed.feeds:
        why = f" ({parsed.bozo_exception})" if parsed.get("bozo") else ""
        raise MonitorError("not an OPML subscription list" + why)
    extra, counts = _extra_attributes(data)
    doc = OpmlDocument(title=str(parsed.meta.get("title") or ""))
    by_key: dict[str, int] = {}
    for raw in parsed.feeds:
        listed = str(raw.get("url") or "").strip()
        url = _feed_scheme(listed)
        title = " ".join(str(raw.get("title") or "").split())
        parts = urlsplit(url) if url else None
        if not parts or parts.scheme not in ("http", "https") or not parts.hostname:
            doc.invalid.append(Skipped(url, title, "not an http(s) URL"))
            continue
        attrs = extra.get(listed, {})
        tags = _tags(attrs.get("categories") or raw.get("categories") or [])
        feed = OpmlFeed(url=url, title=title, tags=tags, language=language_code(attrs.get("language")),
                        interval=_interval(attrs.get("interval")), fulltext=attrs.get("fulltext") == "true",
                        enabled=attrs.get("enabled") != "false")
        key = url_key(url)
        if key in by_key:
            i = by_key[key]
            prev = doc.feeds[i]
            doc.feeds[i] = replace(prev, tags=_unique(prev.tags + feed.tags))
            doc.duplicates.append(Skipped(url, title, f"listed again in the file (as {prev.url})"))
            continue
        by_key[key] = len(doc.feeds)
        doc.feeds.append(feed)
        for _ in range(counts.get(listed, 1) - 1):  # listparser merges repeats; report them
            doc.duplicates.append(Skipped(url, title, "listed again in the file (folders merged into tags)"))
    for raw in parsed.lists:
        doc.invalid.append(Skipped(str(raw.get("url") or ""), str(raw.get("title") or ""),
                                   "a link to another subscription list (import that file itself)"))
    return doc


def _tags(categories: Iterable[Sequence[str]]) -> tuple[str, ...]:
    out: list[str] = []
    for path in categories:
        for part in path:
            t = " ".join(str(part).replace(",", " ").split())
            if t:
                out.append(t)
    return _unique(tuple(out))


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for x in items:
        if x.casefold() not in seen:
            seen.add(x.casefold())
            out.append(x)
    return tuple(out)


def _interval(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parse_duration(value)
    except ValueError:
        return None
    return value


def format_duration(seconds: float) -> str:
    """The largest whole unit: 3600 -> "1h", 5400 -> "90m", 45 -> "45s"."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _feed_scheme(url: str) -> str:
    """``feed://host/x`` -> ``http://host/x`` and ``feed:https://...`` -> ``https://...``."""
    low = url.lower()
    if low.startswith("feed:http://") or low.startswith("feed:https://"):
        return url[5:]
    if low.startswith("feed://"):
        return "http://" + url[7:]
    return url


def _extra_attributes(data: bytes) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    """Per xmlUrl: folder paths and ``category`` (in document order), ``language`` and news-monitor's
    own attributes; and how often each xmlUrl is listed (listparser merges repeats silently)."""
    counts: Counter[str] = Counter()
    try:
        root = DefusedET.fromstring(data)
    except Exception:  # noqa: BLE001 - malformed XML: listparser recovered what it could
        return {}, counts
    out: dict[str, dict[str, Any]] = {}
    body = root.find("body")
    if body is None:
        return out, counts

    def walk(el: Any, folders: tuple[str, ...]) -> None:
        for child in el:
            if child.tag != "outline":
                continue
            url = (child.get("xmlUrl") or child.get("xmlurl") or "").strip()
            if not url:
                label = (child.get("text") or child.get("title") or "").strip()
                walk(child, folders + ((label,) if label else ()))
                continue
            counts[url] += 1
            attrs = out.setdefault(url, {"categories": []})
            attrs["categories"].append(list(folders))
            for part in (child.get("category") or "").split(","):
                attrs["categories"].append([p for p in part.strip().split("/") if p.strip()])
            if child.get("language") and "language" not in attrs:
                attrs["language"] = child.get("language", "")
            for name in ("interval", "fulltext", "enabled"):
                v = child.get(f"{{{NM_NS}}}{name}")
                if v is not None and name not in attrs:
                    attrs[name] = v.strip().lower() if name != "interval" else v.strip()

    walk(body, ())
    return out, counts


def plan_import(doc: OpmlDocument, existing_urls: dict[str, int], existing_names: set[str],
                extra_tags: Sequence[str] = ()) -> ImportPlan:
    """Decide which feeds of ``doc`` to add: those not already configured, with unique names."""
    plan = ImportPlan(duplicates=list(doc.duplicates), invalid=list(doc.invalid))
    known = {url_key(u): (u, line) for u, line in existing_urls.items()}
    names = {n.casefold() for n in existing_names}
    for f in doc.feeds:
        key = url_key(f.url)
        if key in known:
            url, line = known[key]
            plan.duplicates.append(Skipped(f.url, f.title, f"already in the config (line {line}: {url})"
                                           if line else f"already in the config ({url})"))
            continue
        known[key] = (f.url, 0)
        name = _unique_name(f.title or _host_name(f.url), f.url, names)
        names.add(name.casefold())
        plan.add.append(NewFeed(url=f.url, name=name, tags=_unique(f.tags + tuple(extra_tags)),
                                language=f.language, interval=f.interval, fulltext=f.fulltext,
                                enabled=f.enabled))
    return plan


def _host_name(url: str) -> str:
    p = urlsplit(url)
    return (p.hostname or url).removeprefix("www.") + (p.path.rstrip("/") if p.path not in ("", "/") else "")


def _unique_name(name: str, url: str, taken: set[str]) -> str:
    name = " ".join(name.split())[:200] or _host_name(url)
    if name.casefold() not in taken:
        return name
    host = (urlsplit(url).hostname or "").removeprefix("www.")
    candidate = f"{name} ({host})" if host else name
    n = 2
    base = candidate
    while candidate.casefold() in taken:
        candidate = f"{base} {n}"
        n += 1
    return candidate


def write_opml(feeds: Sequence[FeedConfig], *, title: str = "news-monitor feeds",
               default_interval: float | None = None, now: datetime | None = None) -> str:
    """An OPML 2.0 document listing ``feeds`` (folders from their first tag)."""
    ET.register_namespace("nm", NM_NS)
    now = now or datetime.now(timezone.utc)
    root = ET.Element("opml", {"version": "2.0"})
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = email.utils.format_datetime(now.astimezone(timezone.utc), usegmt=True)
    ET.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ET.SubElement(root, "body")
    folders: dict[str, ET.Element] = {}
    for f in feeds:
        parent = body
        rest = list(f.tags)
        if rest:
            folder = rest.pop(0)
            if folder not in folders:
                folders[folder] = ET.SubElement(body, "outline", {"text": folder, "title": folder})
            parent = folders[folder]
        attrs = {"type": "rss", "text": f.name, "title": f.name, "xmlUrl": f.url}
        if f.language:
            attrs["language"] = f.language
        if rest:
            attrs["category"] = ",".join(t.replace(",", " ") for t in rest)
        if default_interval is None or abs(f.interval - default_interval) > 1e-6:
            attrs[f"{{{NM_NS}}}interval"] = format_duration(f.interval)
        if f.fulltext:
            attrs[f"{{{NM_NS}}}fulltext"] = "true"
        if not f.enabled:
            attrs[f"{{{NM_NS}}}enabled"] = "false"
        ET.SubElement(parent, "outline", attrs)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
