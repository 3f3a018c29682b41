"""Render a :class:`~monitor.delivery.digest.Digest` as Markdown, plain text, HTML, Atom or webhook JSON.

The Digest is the single source of truth; each format is a Jinja2 template
in ``monitor/delivery/templates``.  HTML and Atom templates autoescape; the Markdown
template escapes every Markdown-significant character of untrusted text with
the ``md`` filter.  Untrusted titles and summaries go through nh3 for HTML,
and only http(s) links are ever emitted.
"""

from __future__ import annotations

import json
import re
import textwrap
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
import nh3
from markupsafe import Markup

from monitor.analysis.text import shorten
from monitor.delivery.digest import Digest, DigestStory, StorySource
from monitor.ingest.scrub import clean_line, has_bad_char  # noqa: F401 - clean_line is re-exported

_has_bad_char = has_bad_char  # its name here before the scrubber moved to monitor.ingest.scrub

TEMPLATE_DIR = Path(__file__).parent / "templates"
TITLE_MAX = 300  # characters of a title shown in a digest (the link leads to the rest)
_NAMESPACE = uuid.UUID("5b0f1d4e-63a5-4c1e-9a43-6b1c2d9f8e10")  # news-monitor digests


def truncate(text: str, max_len: int) -> str:
    """Shorten to at most ``max_len`` characters at a word boundary, with an ellipsis."""
    return shorten(text, max_len)


def safe_url(value: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL without whitespace or controls, else None."""
    if not value:
        return None
    url = value.strip()
    if has_bad_char(url) or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


_MD_ESCAPE = re.compile(r"([\\`*_\[\]<>|~&#])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=#>])")


def md_escape(value: object) -> str:
    """Escape untrusted text for inline Markdown (no links, HTML, emphasis or code)."""
    return _MD_ESCAPE.sub(r"\\\1", clean_line(value))


def md_block(value: object) -> str:
    """Like :func:`md_escape`, and also defuses block syntax at the start of a paragraph."""
    return _MD_LINE_START.sub(
        lambda m: f"{m.group(1)}\\{m.group(2)}" if m.group(1) else f"\\{m.group(3)}", md_escape(value)
    )


def md_url(url: str) -> str:
    """A safe URL as a Markdown link destination (angle-bracket form when it has parentheses)."""
    if not any(ch in url for ch in "()<>\\"):
        return url
    return "<" + url.replace("<", "%3C").replace(">", "%3E").replace("\\", "%5C") + ">"


def html_text(value: object) -> Markup:
    """Untrusted text for HTML: nh3 strips every tag (and script/style content), escapes the rest."""
    return Markup(nh3.clean(clean_line(value), tags=set(), clean_content_tags={"script", "style"}))


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _fmt_time(dt: datetime | None, tz: tzinfo) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class _SourceView:
    feed: str
    title: str
    link: str | None
    language: str | None
    time: str


@dataclass(frozen=True)
class _StoryView:
    n: int
    anchor: str
    title: str
    original_title: str | None
    language: str | None
    untranslated: str | None  # reason when translation was unavailable
    summary: str
    link: str | None
    feed: str
    time: str
    score: str
    why: list[str]
    also: list[_SourceView]
    updates: list[_SourceView]


def _anchor(story: DigestStory) -> str:
    anchor = re.sub(r"[^A-Za-z0-9_-]", "-", story.anchor or "")
    return anchor or f"item-{story.item_id}"


def _source_view(s: StorySource, tz: tzinfo) -> _SourceView:
    return _SourceView(
        feed=clean_line(s.feed),
        title=truncate(clean_line(s.title), TITLE_MAX),
        link=safe_url(s.link),
        language=clean_line(s.language) or None,
        time=_fmt_time(s.published, tz),
    )


def _story_view(n: int, s: DigestStory, tz: tzinfo) -> _StoryView:
    status = s.translation_status or ""
    untranslated = None
    if status.startswith("unavailable"):
        untranslated = clean_line(status.partition(":")[2]) or "translation unavailable"
    original = truncate(clean_line(s.original_title), TITLE_MAX) or None
    if original is not None and original == truncate(clean_line(s.title), TITLE_MAX):
        original = None
    return _StoryView(
        n=n,
        anchor=_anchor(s),
        title=truncate(clean_line(s.title), TITLE_MAX) or "(untitled)",
        original_title=original,
        language=clean_line(s.language) or None,
        untranslated=untranslated,
        summary=clean_line(s.summary),
        link=safe_url(s.link),
        feed=clean_line(s.feed),
        time=_fmt_time(s.published, tz),
        score=f"{s.score:.2f}",
        why=[clean_line(w) for w in s.why if clean_line(w)],
        also=[_source_view(a, tz) for a in s.also_reported_by],
        updates=[_source_view(a, tz) for a in s.updates],
    )


def ordered_stories(d: Digest) -> list[DigestStory]:
    """Stories by score (highest first); ties keep a stable order by time, then item id."""

    def key(s: DigestStory) -> tuple[float, float, int]:
        ts = s.published.timestamp() if s.published else 0.0
        return (-s.score, -ts, s.item_id)

    return sorted(d.stories, key=key)


def _context(d: Digest) -> dict[str, Any]:
    tz = _zone(d.timezone)
    stories = [_story_view(i, s, tz) for i, s in enumerate(ordered_stories(d), start=1)]
    return {
        "d": d,
        "watchlist": clean_line(d.watchlist),
        "title": clean_line(d.title) or clean_line(d.watchlist),
        "tzname": clean_line(d.timezone) if tz is not timezone.utc else "UTC",
        "period_start": _fmt_time(d.period_start, tz),
        "period_end": _fmt_time(d.period_end, tz),
        "generated": _fmt_time(d.generated_at, tz),
        "period_start_iso": _iso(d.period_start),
        "period_end_iso": _iso(d.period_end),
        "generated_iso": _iso(d.generated_at),
        "stories": stories,
        "count_text": _plural(len(stories), "story", "stories"),
        "suppressed": [
            {
                "title": truncate(clean_line(x.title), TITLE_MAX) or "(untitled)",
                "feed": clean_line(x.feed),
                "link": safe_url(x.link),
                "reason": clean_line(x.reason),
            }
            for x in d.suppressed
        ],
        "suppressed_text": f"{len(d.suppressed)} suppressed",
        "feed_notes": [{"feed": clean_line(f.feed), "problem": clean_line(f.problem)} for f in d.feed_notes],
        "note": clean_line(d.note) or None,
    }


def _yaml_str(value: str) -> str:
    """A double-quoted YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(clean_line(value), ensure_ascii=False)


def _wrap(text: str, indent: str = "", width: int = 76) -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False) if text else ""


def _wrap_hanging(text: str, first: str = "", rest: str = "", width: int = 76) -> str:
    """Wrap with a hanging indent (``Why:`` lines of the plain-text digest)."""
    return textwrap.fill(text, width=width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) if text else ""


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith((".html.j2", ".xml.j2", ".atom.j2"))  # type: ignore[union-attr]


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The shared Jinja2 environment (autoescape for HTML/Atom templates only)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md_escape, md_block=md_block, md_url=md_url, h=html_text, yaml_str=_yaml_str, wrap=_wrap,
                       wrap_hanging=_wrap_hanging)
    return env


def render_markdown(d: Digest) -> str:
    """Markdown with YAML front matter, stable per-story anchors and a suppressed appendix."""
    return environment().get_template("digest.md.j2").render(**_context(d))


def render_text(d: Digest) -> str:
    """Plain text (the text/plain part of the email)."""
    return environment().get_template("digest.txt.j2").render(**_context(d))


def render_html(d: Digest) -> str:
    """A complete HTML document for mail clients: tables, inline CSS, no scripts or remote assets."""
    return environment().get_template("digest.html.j2").render(**_context(d))


def render_html_fragment(d: Digest) -> str:
    """The digest's HTML body without the document wrapper (used for Atom entries)."""
    return environment().get_template("_digest_body.html.j2").render(**_context(d))


def digest_uuid(d: Digest) -> uuid.UUID:
    """A stable id for one digest: the same watchlist and period give the same id."""
    return uuid.uuid5(_NAMESPACE, f"digest:{d.watchlist}:{_iso(d.period_start)}:{_iso(d.period_end)}")


def render_atom(watchlist: str, title: str, digests: list[Digest], feed_url: str | None = None) -> str:
    """An Atom 1.0 feed with one entry per digest (newest first), stable ids."""
    ordered = sorted(digests, key=lambda x: (x.period_end, x.generated_at), reverse=True)
    entries = []
    for d in ordered:
        ctx = _context(d)
        entries.append({
            "id": digest_uuid(d).urn,
            "title": f"{ctx['title']}: {ctx['count_text']}, {ctx['period_start']} – {ctx['period_end']}",
            "updated": _iso(d.generated_at),
            "published": _iso(d.generated_at),
            "summary": ", ".join(s.title for s in ctx["stories"][:5]) or "Nothing matched in this period.",
            "link": next((s.link for s in ctx["stories"] if s.link), None),
            "related": [s.link for s in ctx["stories"][1:] if s.link][:20],
            "content": environment().get_template("_digest_body.html.j2").render(**ctx),
        })
    updated = max((d.generated_at for d in digests), default=datetime.now(timezone.utc))
    return environment().get_template("digest.atom.j2").render(
        feed_id=uuid.uuid5(_NAMESPACE, f"feed:{watchlist}").urn,
        title=clean_line(title) or clean_line(watchlist),
        watchlist=clean_line(watchlist),
        updated=_iso(updated),
        self_url=_self_url(feed_url),
        entries=entries,
    )


_CHAT_MARKUP = re.compile(r"([\\`*_\[\]|])")
_CHAT_SIGIL = re.compile(r"([@~#])(?=\w)")
WORD_JOINER = "\u2060"  # invisible; after a sigil it ends a mention, channel link or hashtag


def chat_escape(text: str) -> str:
    """Text for a Slack/Mattermost message, shown as typed and never obeyed.

    ``&``, ``<`` and ``>`` become entities (Slack's own escaping: ``<@U024BE7LH>``, ``<!channel>``,
    ``<https://x|y>`` stay text); the Markdown punctuation Mattermost reads (emphasis, code,
    ``[label](url)`` links, ``![...](...)`` images, tables) gets a backslash; and an invisible word
    joiner follows ``@``, ``~`` and ``#`` before a word, so ``@channel``, ``@all``, ``~town-square``
    and ``#tag`` are neither mentions, channel links nor hashtags."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CHAT_SIGIL.sub(lambda m: m.group(1) + WORD_JOINER, _CHAT_MARKUP.sub(r"\\\1", text))


def chat_url(url: str) -> str:
    """A safe URL inside a ``<...>`` link of a chat message: ``|`` (the label separator), ``<``, ``>``
    percent-encoded so a link cannot carry a label or end the wrapper; ``&`` as Slack wants it."""
    return url.replace("|", "%7C").replace("<", "%3C").replace(">", "%3E").replace("&", "&amp;")


def _self_url(url: str | None) -> str | None:
    """The Atom feed's own address: http(s) where it is served, else its file:// URI."""
    if url and url.startswith("file:///") and not _has_bad_char(url) and not any(c.isspace() for c in url):
        return url
    return safe_url(url)


def atom_self_url(base_url: str | None, watchlist: str, path: Path) -> str:
    """``<digests_url>/<watchlist>/digests.atom`` when config says where digests are served, else file://."""
    if base_url:
        from urllib.parse import quote

        return f"{base_url.rstrip('/')}/{quote(watchlist)}/{quote(path.name)}"
    return path.resolve().as_uri()


def render_webhook(d: Digest, max_stories: int | None = None) -> dict[str, Any]:
    """A JSON-able payload for chat bridges; ``text`` is a short summary escaped for Slack and Mattermost.

    ``stories`` holds the ``max_stories`` highest-scoring stories (``webhook.max_stories``);
    ``stories_omitted`` says how many more the digest had (``count`` stays the digest's total)."""
    tz = _zone(d.timezone)
    ctx = _context(d)
    stories = []
    ranked = ordered_stories(d)
    shown = ranked[:max_stories] if max_stories is not None else ranked
    for s in shown:
        stories.append({
            "anchor": _anchor(s),
            "item_id": s.item_id,
            "title": truncate(clean_line(s.title), TITLE_MAX),
            "original_title": truncate(clean_line(s.original_title), TITLE_MAX) or None,
            "language": clean_line(s.language) or None,
            "translation_status": clean_line(s.translation_status),
            "summary": clean_line(s.summary),
            "link": safe_url(s.link),
            "feed": clean_line(s.feed),
            "published": _iso(s.published) if s.published else None,
            "published_local": _fmt_time(s.published, tz) or None,
            "score": round(float(s.score), 4),
            "why": [clean_line(w) for w in s.why],
            "also_reported_by": [
                {"feed": clean_line(a.feed), "title": clean_line(a.title), "link": safe_url(a.link),
                 "language": clean_line(a.language) or None}
                for a in s.also_reported_by
            ],
            "updates": [
                {"feed": clean_line(a.feed), "title": clean_line(a.title), "link": safe_url(a.link),
                 "language": clean_line(a.language) or None, "published": _iso(a.published) if a.published else None}
                for a in s.updates
            ],
        })
    lines = [chat_escape(f"{ctx['title']}: {ctx['count_text']} ({ctx['period_start']} – {ctx['period_end']})")]
    for sv in ctx["stories"][:10]:
        lines.append(f"• {chat_escape(sv.title)}" + (f" <{chat_url(sv.link)}>" if sv.link else "")
                     + f" — {chat_escape(sv.feed)}")
    if len(ctx["stories"]) > 10:
        lines.append(f"… and {len(ctx['stories']) - 10} more")
    return {
        "watchlist": clean_line(d.watchlist),
        "title": ctx["title"],
        "period": {"start": _iso(d.period_start), "end": _iso(d.period_end), "timezone": d.timezone},
        "generated": _iso(d.generated_at),
        "count": d.count,
        "suppressed_count": len(d.suppressed),
        "stories": stories,
        "stories_omitted": len(ranked) - len(shown),
        "feed_notes": ctx["feed_notes"],
        "text": "\n".join(lines),
    }
