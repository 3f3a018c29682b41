"""Digest: what one watchlist's digest contains, independent of its format.

The values here are produced by :func:`build_digest` (selection from the
store) and consumed by the renderers in :mod:`monitor.delivery.render` (Markdown,
plain text, HTML, Atom) and the channels in :mod:`monitor.delivery.channels`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from monitor.analysis.dedup import without_tracking
from monitor.analysis.text import shorten
from monitor.config import feed_display_name
from monitor.store import MatchedItem, Store, StoredItem


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
    updates: list[StorySource] = field(default_factory=list)  # later reports that change the story


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
    note: str | None = None  # shown above the stories, e.g. what makes a test mail a test

    @property
    def count(self) -> int:
        return len(self.stories)


# ---- selection from the store --------------------------------------------------------------------


SUMMARY_CHARS = 320
QUIET_MIN_SECONDS = 2 * 86400.0  # a feed is "quiet" only after this long without a new item
QUIET_FACTOR = 5.0  # ... and five times its usual gap between items


@dataclass
class DigestPlan:
    """What delivering a digest marks in the ledger."""

    item_ids: list[int] = field(default_factory=list)  # shown and suppressed items of this digest
    stories: dict[int, set[str]] = field(default_factory=dict)  # story id -> languages reported


def _utc(ts: float | None) -> datetime | None:
    return _at(ts) if ts else None


def _at(ts: float) -> datetime:
    """A timestamp as an aware UTC datetime (``_utc`` for a time that is always there)."""
    return datetime.fromtimestamp(ts, tz=timezone.utc)


_WHY = re.compile(r'^"(?P<term>[^"]*)" in (?P<places>.+?)(?: \((?P<forms>".*")\))?$')


def readable_why(line: str) -> str:
    """A reason as the analyst reads it: the words that matched, not the term or alias that found them.
    ``"victory_day" in title ("Victory Day")`` -> ``"Victory Day" in title``."""
    m = _WHY.match(line)
    if not m or not m.group("forms"):
        return line
    return f"{m.group('forms')} in {m.group('places')}"


def _feed(r: StoredItem) -> str:
    return feed_display_name(r.feed_url, r.feed_name, r.feed_title)


def build_digest(store: Store, watchlist: str, title: str, tz: str, channel: str, now: float,
                 *, item_ids: list[int] | None = None, period_start: float | None = None) -> tuple[Digest, DigestPlan]:
    """The digest of ``watchlist`` for ``channel``: every matched item not yet delivered there,
    one entry per story, ordered by score; suppressed items (seed duplicates, stories already
    sent) listed with the reason. With ``item_ids`` the digest of exactly those items is rebuilt
    (for Atom history), ignoring the ledger."""
    if item_ids is None:
        matched = store.ledger.undelivered(watchlist, channel)
        sent_stories = store.ledger.sent_stories(watchlist, channel)
    else:
        matched = store.ledger.matched(watchlist, item_ids)
        sent_stories = {}
    plan = DigestPlan()
    stories: list[DigestStory] = []
    suppressed: list[SuppressedEntry] = []
    by_story: dict[int, list[MatchedItem]] = {}
    order: list[int] = []
    for m in matched:
        r = m.item
        plan.item_ids.append(r.id)
        if r.duplicate_kind == "seed":
            suppressed.append(SuppressedEntry(r.title, _feed(r), without_tracking(r.link),
                                              f"duplicate of seed {r.duplicate_seed or '?'} "
                                              f"(similarity {r.duplicate_similarity or 0:.2f})"))
            continue
        sid = r.story_id or -r.id
        if sid not in by_story:
            by_story[sid] = []
            order.append(sid)
        by_story[sid].append(m)
    for sid in order:
        group = by_story[sid]
        languages = {g.item.language or "?" for g in group}
        changes = [g for g in group if g.item.duplicate_kind == "update"]  # never suppressed
        if sid in sent_stories:
            before, when = sent_stories[sid]
            if not languages - before:
                for g in group:
                    if g.item.duplicate_kind != "update":
                        suppressed.append(SuppressedEntry(
                            g.item.title, _feed(g.item), without_tracking(g.item.link),
                            f"same story already sent {datetime.fromtimestamp(when, timezone.utc):%Y-%m-%d %H:%M} UTC"))
                if not changes:
                    plan.stories[sid] = set(before | languages)
                    continue
                group = changes  # only the change is news: it leads, under its story
        plain = [g for g in group if g.item.duplicate_kind != "update"]
        lead_m = plain[0] if plain else group[0]
        lead = lead_m.item
        others = [_source(g.item) for g in plain if g is not lead_m]
        updates = [_source(g.item) for g in group if g.item.duplicate_kind == "update" and g is not lead_m]
        why = [readable_why(w) for w in lead_m.why]
        if sid in sent_stories and lead.duplicate_kind == "update":
            first = store.items.list(ids=[sid])
            why = why + ["update to a story already sent" +
                         (f": {first[0].title_translated or first[0].title}" if first else "")]
        elif sid in sent_stories:
            why = why + [f"story already sent; first report in {', '.join(sorted(languages - sent_stories[sid][0]))}"]
        translated = bool(lead.title_translated)
        stories.append(DigestStory(
            anchor=f"item-{lead.id}", item_id=lead.id,
            title=lead.title_translated or lead.title,
            original_title=lead.title if translated else None,
            language=lead.language,
            translation_status=lead.translation_status or "not_needed",
            summary=shorten(lead.summary_translated if translated and lead.summary_translated is not None
                            else (lead.summary_short or lead.summary), SUMMARY_CHARS),
            link=without_tracking(lead.link), feed=_feed(lead), published=_utc(lead.published or lead.fetched),
            score=lead_m.score, why=why, also_reported_by=others, updates=updates))
        if sid > 0:
            plan.stories[sid] = set(sent_stories.get(sid, (frozenset(), 0.0))[0] | languages)
    # the first digest starts at the oldest item it carries (published, else fetched), later ones
    # where the previous one ended
    carried = [min(m.item.published or m.item.fetched, m.item.fetched, now) for m in matched]
    start = period_start if period_start is not None else (min(carried) if carried else now)
    d = Digest(watchlist=watchlist, title=title, timezone=tz, period_start=_utc(start) or _at(now),
               period_end=_at(now), generated_at=_at(now), stories=stories, suppressed=suppressed,
               feed_notes=feed_notes(store, now))
    return d, plan


def _source(g: StoredItem) -> StorySource:
    return StorySource(_feed(g), g.title_translated or g.title, without_tracking(g.link), g.language,
                       _utc(g.published or g.fetched))


def feed_notes(store: Store, now: float) -> list[FeedNote]:
    """Feeds that are failing, disabled, or quiet compared with their usual rate."""
    notes: list[FeedNote] = []
    for a in store.feeds.activity():
        f = a.feed
        name = feed_display_name(f.url, f.name, f.title)
        failures = f.consecutive_failures
        if f.disabled_reason:
            notes.append(FeedNote(name, f"disabled: {f.disabled_reason}"))
        elif failures and f.last_success is None:  # never worked: say so from the first failure
            notes.append(FeedNote(name, f"failing for {failures} poll{'' if failures == 1 else 's'}: "
                                        f"{f.last_error} (it has never worked)"))
        elif failures >= 2:
            notes.append(FeedNote(name, f"failing for {failures} polls: {f.last_error}"))
        elif f.last_new_item and a.first_item and f.items_total > 5:
            usual_gap = max(1.0, (f.last_new_item - a.first_item) / f.items_total)
            silent = now - f.last_new_item
            if silent > max(QUIET_MIN_SECONDS, QUIET_FACTOR * usual_gap):
                notes.append(FeedNote(name, f"quiet: no new item for {silent / 86400:.1f} days "
                                                 f"(usually one every {usual_gap / 3600:.1f} h)"))
    return notes


TEST_NOTE = ("This is a test mail sent with `monitor digest --email`: it shows the latest stories of this "
             "watchlist, whether or not they were delivered already. Nothing was marked as delivered.")


def latest_digest(store: Store, watchlist: str, title: str, tz: str, now: float,
                  limit: int = 10) -> Digest:
    """What recipients would get, for a test mail: the latest ``limit`` stories the watchlist matched,
    delivered or not, marked as a test. Marks nothing."""
    ids = store.items.latest_matched(watchlist, limit * 3)
    d, _ = build_digest(store, watchlist, f"TEST: {title}", tz, "test", now, item_ids=ids)
    d.stories = d.stories[:limit]
    d.note = TEST_NOTE
    return d
