"""Digest: what one watchlist's digest contains, independent of its format.

The values here are produced by :func:`build_digest` (selection from the
store) and consumed by the renderers in :mod:`monitor.render` (Markdown,
plain text, HTML, Atom) and the channels in :mod:`monitor.deliver`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StorySource:
    """Another outlet that carried the same story."""

    feed: str
    title: str
    link: str | None
    language: str | None
    published: datetime | None


@dataclass(frozen=True)
class DigestStory:
    anchor: str  # stable per item, e.g. "item-42"; used for Markdown/HTML anchors and Atom ids
    item_id: int
    title: str  # English (target-language) title: the translation when there is one
    original_title: str | None  # the title as published, when it was translated
    language: str | None  # ISO 639-1 of the original
    translation_status: str  # translated | cached | not_needed | unavailable: <reason>
    summary: str  # short plain text (already shortened)
    link: str | None  # http(s) only
    feed: str  # feed name
    published: datetime | None  # timezone-aware UTC; renderers convert to Digest.timezone
    score: float
    why: list[str] = field(default_factory=list)  # e.g. ['"Victory Day" in title']
    also_reported_by: list[StorySource] = field(default_factory=list)


@dataclass(frozen=True)
class SuppressedEntry:
    title: str
    feed: str
    link: str | None
    reason: str  # e.g. "duplicate of seed 000_71e0985426784b8e.txt (similarity 0.82)"


@dataclass(frozen=True)
class FeedNote:
    feed: str
    problem: str  # e.g. "failing for 3 polls: HTTP 503" or "quiet: no item for 5 days"


@dataclass
class Digest:
    watchlist: str
    title: str  # the watchlist's display title
    timezone: str  # IANA name, e.g. "Europe/Moscow"
    period_start: datetime  # aware UTC
    period_end: datetime  # aware UTC
    generated_at: datetime  # aware UTC
    stories: list[DigestStory] = field(default_factory=list)
    suppressed: list[SuppressedEntry] = field(default_factory=list)
    feed_notes: list[FeedNote] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.stories)
