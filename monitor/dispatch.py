"""Dispatch: turn a watchlist's undelivered matches into digests on its channels, exactly once.

For every channel (markdown, email, atom, webhook) the ledger (``deliveries``)
records each (watchlist, channel, item) delivered. A digest is first recorded
as *pending* (durably), then delivered, then marked *sent* together with its
ledger rows in one durable transaction. So:
- a crash before delivery leaves a pending row: the next run delivers the
  items again, once (for files, a file that already exists is reused);
- a failing SMTP server or webhook leaves the items undelivered and the row
  pending with a backoff; the next attempt sends every undelivered item in one
  digest.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from monitor import store
from monitor.config import Config
from monitor.deliver import DeliveryError, SmtpSettings, build_email, post_webhook, send_email, write_file_atomic
from monitor.digest import Digest, DigestPlan, build_digest
from monitor.render import atom_self_url, render_atom, render_markdown, render_webhook
from monitor.watchlist import Watchlist

log = logging.getLogger("monitor.dispatch")

CHANNELS = ("markdown", "email", "atom", "webhook")
RETRY_BASE = 60.0
RETRY_MAX = 6 * 3600.0
ATOM_HISTORY = 20
HEARTBEAT_MIN_GAP = 20 * 3600.0


@dataclass
class DispatchResult:
    watchlist: str
    channel: str
    stories: int
    suppressed: int
    status: str  # sent | empty | failed | deferred | skipped
    location: str | None = None
    error: str | None = None


def digest_path(config: Config, watchlist: str, now: float) -> Path:
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")
    path = config.digests / watchlist / f"{stamp}.md"
    n = 1
    while path.exists():  # two digests within one second (immediate alerts)
        n += 1
        path = config.digests / watchlist / f"{stamp}-{n}.md"
    return path


def dispatch_watchlist(config: Config, conn: sqlite3.Connection, wl: Watchlist, now: float | None = None, *,
                       channels: tuple[str, ...] | None = None, heartbeat: bool | None = None,
                       force_retry: bool = False) -> list[DispatchResult]:
    """Build and deliver ``wl``'s digest on each of its channels."""
    now = now or time.time()
    results = []
    for channel in channels or tuple(c for c in wl.digest.formats if c in CHANNELS):
        try:
            results.append(_dispatch(config, conn, wl, channel, now,
                                     wl.digest.heartbeat if heartbeat is None else heartbeat, force_retry))
        except Exception as e:  # noqa: BLE001 - one channel must not stop the others
            log.exception("%s/%s: digest failed", wl.name, channel)
            results.append(DispatchResult(wl.name, channel, 0, 0, "failed", error=f"{type(e).__name__}: {e}"))
    return results


def _pending_row(conn: sqlite3.Connection, watchlist: str, channel: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM digests WHERE watchlist=? AND channel=? AND status='pending' "
                        "ORDER BY id DESC LIMIT 1", (watchlist, channel)).fetchone()


def _last_sent(conn: sqlite3.Connection, watchlist: str, channel: str) -> float | None:
    row = conn.execute("SELECT MAX(period_end) FROM digests WHERE watchlist=? AND channel=? AND status='sent'",
                       (watchlist, channel)).fetchone()
    return row[0] if row and row[0] else None


def _dispatch(config: Config, conn: sqlite3.Connection, wl: Watchlist, channel: str, now: float,
              heartbeat: bool, force_retry: bool) -> DispatchResult:
    pending = _pending_row(conn, wl.name, channel)
    if pending is not None and pending["next_attempt"] and pending["next_attempt"] > now and not force_retry:
        return DispatchResult(wl.name, channel, 0, 0, "deferred",
                              error=f"retrying after {datetime.fromtimestamp(pending['next_attempt'], timezone.utc)}")
    since = _last_sent(conn, wl.name, channel)
    digest, plan = build_digest(conn, wl.name, wl.title, wl.digest.timezone, channel, now, period_start=since)
    if heartbeat and since is not None and now - since < HEARTBEAT_MIN_GAP:
        heartbeat = False  # a "nothing matched" digest at most about once a day
    if not digest.stories and not (heartbeat and channel != "atom"):
        if plan.item_ids:  # only suppressed items: remember them as handled, write nothing
            _mark(conn, wl.name, channel, None, plan, now)
        if pending is not None:
            with store.transaction(conn, durable=True):
                conn.execute("UPDATE digests SET status='failed', error='superseded' WHERE id=?", (pending["id"],))
        log.info("%s/%s: no new items, no digest written (%d suppressed)", wl.name, channel, len(digest.suppressed))
        return DispatchResult(wl.name, channel, 0, len(digest.suppressed), "empty")
    location = _location(config, wl, channel, now, pending)
    with store.transaction(conn, durable=True):
        if pending is None:
            cur = conn.execute(
                "INSERT INTO digests(watchlist, channel, created, period_start, period_end, status, attempts, "
                "location, item_ids) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                (wl.name, channel, now, digest.period_start.timestamp(), now, location, json.dumps(plan.item_ids)))
            digest_id = int(cur.lastrowid or 0)
        else:
            digest_id = pending["id"]
            conn.execute("UPDATE digests SET period_end=?, item_ids=?, location=? WHERE id=?",
                         (now, json.dumps(plan.item_ids), location, digest_id))
    try:
        _deliver(config, conn, wl, channel, digest, location)
    except DeliveryError as e:
        attempts = (pending["attempts"] if pending is not None else 0) + 1
        delay = min(RETRY_MAX, RETRY_BASE * 2 ** (attempts - 1)) if e.transient else RETRY_MAX
        delay = max(delay, min(RETRY_MAX, getattr(e, "retry_after", None) or 0.0))
        with store.transaction(conn, durable=True):
            conn.execute("UPDATE digests SET attempts=?, next_attempt=?, error=? WHERE id=?",
                         (attempts, now + delay, str(e)[:500], digest_id))
        log.error("%s/%s: delivery failed (%s), %d item(s) stay pending, next attempt in %.0f s",
                  wl.name, channel, e, len(digest.stories), delay)
        return DispatchResult(wl.name, channel, digest.count, len(digest.suppressed), "failed", location, str(e))
    _mark(conn, wl.name, channel, digest_id, plan, now)
    log.info("%s/%s: digest with %d stor%s delivered to %s", wl.name, channel, digest.count,
             "y" if digest.count == 1 else "ies", location)
    return DispatchResult(wl.name, channel, digest.count, len(digest.suppressed), "sent", location)


def _location(config: Config, wl: Watchlist, channel: str, now: float, pending: sqlite3.Row | None) -> str:
    if channel == "markdown":
        if pending is not None and pending["location"]:
            return pending["location"]  # a crash left it pending: reuse the same file name
        return str(digest_path(config, wl.name, now))
    if channel == "atom":
        return str(config.digests / wl.name / "digests.atom")
    if channel == "email":
        return ", ".join(wl.digest.recipients)
    return wl.digest.webhook or ""


def _deliver(config: Config, conn: sqlite3.Connection, wl: Watchlist, channel: str, digest: Digest,
             location: str) -> None:
    if channel in ("markdown", "atom"):
        try:
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DeliveryError(f"cannot create {Path(location).parent}: {e.strerror or e}", transient=True) from None
    if channel == "markdown":
        write_file_atomic(Path(location), render_markdown(digest))
    elif channel == "email":
        if not wl.digest.recipients:
            raise DeliveryError("no recipients in the watchlist's digest settings", transient=False)
        send_email(build_email(digest, from_addr=smtp_settings(config).from_addr, to=list(wl.digest.recipients),
                               list_id=f"{wl.name}.news-monitor"), smtp_settings(config))
    elif channel == "webhook":
        if not wl.digest.webhook:
            raise DeliveryError("no webhook URL in the watchlist's digest settings", transient=False)
        post_webhook(wl.digest.webhook, render_webhook(digest))
    elif channel == "atom":
        history = [digest] + _recent_digests(conn, wl, "atom", ATOM_HISTORY - 1)
        write_file_atomic(Path(location), render_atom(wl.name, wl.title, history, feed_url=atom_self_url(
            config.digests_url, wl.name, Path(location))))
    else:
        raise DeliveryError(f"unknown channel {channel!r}", transient=False)


def _recent_digests(conn: sqlite3.Connection, wl: Watchlist, channel: str, n: int) -> list[Digest]:
    out = []
    for r in conn.execute("SELECT * FROM digests WHERE watchlist=? AND channel=? AND status='sent' "
                          "ORDER BY id DESC LIMIT ?", (wl.name, channel, n)):
        d, _ = build_digest(conn, wl.name, wl.title, wl.digest.timezone, channel, r["period_end"],
                            item_ids=json.loads(r["item_ids"]), period_start=r["period_start"])
        d.generated_at = datetime.fromtimestamp(r["created"], timezone.utc)
        out.append(d)
    return out


def _mark(conn: sqlite3.Connection, watchlist: str, channel: str, digest_id: int | None, plan: DigestPlan,
          now: float) -> None:
    with store.transaction(conn, durable=True):
        conn.executemany("INSERT OR IGNORE INTO deliveries(watchlist, channel, item_id, digest_id, delivered_at) "
                         "VALUES (?, ?, ?, ?, ?)", [(watchlist, channel, i, digest_id, now) for i in plan.item_ids])
        conn.executemany(
            "INSERT INTO story_deliveries(watchlist, channel, story_id, languages, delivered_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT(watchlist, channel, story_id) DO UPDATE SET languages=excluded.languages",
            [(watchlist, channel, sid, ",".join(sorted(langs)), now) for sid, langs in plan.stories.items()])
        if digest_id is not None:
            conn.execute("UPDATE digests SET status='sent', error=NULL, next_attempt=NULL WHERE id=?", (digest_id,))
        conn.execute("INSERT INTO watchlist_state(name, last_digest) VALUES (?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET last_digest=excluded.last_digest", (watchlist, now))


def smtp_settings(config: Config) -> SmtpSettings:
    if config.smtp is None:
        raise DeliveryError("no smtp: block in config.yaml", transient=False)
    return SmtpSettings.from_config(config.smtp)


def preview(config: Config, conn: sqlite3.Connection, wl: Watchlist, now: float | None = None) -> Digest:
    """The digest the markdown channel would get now; marks nothing."""
    now = now or time.time()
    since = _last_sent(conn, wl.name, "markdown")
    return build_digest(conn, wl.name, wl.title, wl.digest.timezone, "markdown", now, period_start=since)[0]
