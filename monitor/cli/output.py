"""What the CLI prints: safe lines, tables, and a cycle's progress and report.

The commands (``monitor.cli``) and the demo (``monitor.cli.demo``) both print a poll-and-digest
cycle (:func:`monitor.service.cycle.run_once`) the same way; this module holds that printing so neither
imports the other. Every line goes through :func:`monitor.ingest.scrub.scrub_lines`: feed titles,
errors and URLs come from the network.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from monitor.analysis.text import shorten
from monitor.ingest.scrub import scrub_lines

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.service.cycle import CycleEvent, CycleReport

TABLE_CELL_MAX = 60  # characters of a table cell (the last column is never cut)


def out(text: str = "") -> None:
    print(scrub_lines(text), flush=True)  # feed titles, errors and URLs come from the network


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Columns padded to their widest cell (at most 60 characters; the last column is never cut)."""
    widths = [len(h) for h in headers]
    last = len(headers) - 1
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c)) if i == last else min(max(widths[i], len(c)), TABLE_CELL_MAX)

    def fmt(r: list[str]) -> str:
        return "  ".join((c if len(c) <= TABLE_CELL_MAX or i == last else shorten(c, TABLE_CELL_MAX, at="char"))
                         .ljust(widths[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


class _DropFeedFailureLogs(logging.Filter):
    """`run --once` reports each failing feed in its table: its per-feed warning would say it again."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "monitor.service.pipeline" and record.levelno == logging.WARNING
                    and "in a row" in str(record.msg))


class _feed_failures_reported_here:
    def __enter__(self) -> None:
        self.filter = _DropFeedFailureLogs()
        self.handlers = list(logging.getLogger().handlers)
        for h in self.handlers:
            h.addFilter(self.filter)

    def __exit__(self, *exc: object) -> None:
        for h in self.handlers:
            h.removeFilter(self.filter)


def outcome_words(o: Any, now: float) -> str:
    """A feed's result column: "ok", "not modified", or the failure in words (and the next try)."""
    from monitor.service.wording import duration_words, error_words

    if getattr(o, "elsewhere", False):
        return "just polled by another worker"
    if not o.error:
        return "not modified" if o.not_modified else "ok"
    text = error_words(o.error_kind, o.error, o.url, o.status)
    if o.next_poll and o.next_poll > now:
        text += f"; next try in {duration_words(o.next_poll - now)}"
    return text


def event_line(event: CycleEvent) -> str:
    """One progress line for a cycle event."""
    from monitor.service.cycle import FeedPolled, PollStarted, WaitingTranslated

    if isinstance(event, WaitingTranslated):
        return (f"Translated {event.outcome.translated} stored item(s) with newly installed models "
                f"({event.outcome.matched} now match a watchlist).")
    if isinstance(event, PollStarted):
        return f"Polling {event.feeds} feed(s)..."
    assert isinstance(event, FeedPolled)
    o = event.outcome
    state = "failed" if o.error else ("just polled by another worker" if o.elsewhere else
                                      "not modified" if o.not_modified else f"{o.new_items} new")
    return f"  [{event.done}/{event.total}] {o.feed}: {state}"


def report_lines(report: CycleReport, cfg: Config, now: float) -> list[str]:
    """The feed table, the no-network hint and one line per digest channel."""
    rows = [[report.names.get(o.url, o.feed), str(o.status or "-"), str(o.new_items), str(o.matched),
             outcome_words(o, now)] for o in report.outcomes]
    lines = ["", table(rows, ["feed", "http", "new", "matched", "result"])]
    if report.unreachable:
        lines.append("\nNo feed could be reached. Without network access, try `monitor demo`: it serves sample "
                     "feeds locally and runs the whole service.")
    lines.append("")
    for r in report.dispatched:
        if r.status == "sent":
            lines.append(f"digest {r.watchlist} ({r.channel}): {r.stories} stor{'y' if r.stories == 1 else 'ies'} "
                         f"-> {r.location}")
        elif r.status == "failed":
            lines.append(f"digest {r.watchlist} ({r.channel}): FAILED: {r.error}")
        else:
            lines.append(f"digest {r.watchlist} ({r.channel}): nothing new" +
                         (f" ({r.suppressed} suppressed)" if r.suppressed else ""))
    if not report.watchlists:
        lines.append(f"no watchlists in {cfg.watchlists}")
    return lines


def run_once(cfg: Config, *, quiet: bool = False, now: float | None = None, in_order: bool = False) -> int:
    """One poll-and-digest cycle (:func:`monitor.service.cycle.run_once`), printed: progress as it goes
    (unless ``quiet``), then the feed table and each digest. ``in_order``: config order (the demo)."""
    from monitor.service.cycle import run_once as run_cycle

    def show(event: CycleEvent) -> None:
        if not quiet:
            out(event_line(event))

    with _feed_failures_reported_here():
        report = run_cycle(cfg, now=now, in_order=in_order, on_event=show)
    for line in report_lines(report, cfg, time.time()):
        out(line)
    return 0
