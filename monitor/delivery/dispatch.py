"""Dispatch: turn a watchlist's undelivered matches into digests on its channels, exactly once.

For every channel (markdown, email, atom, webhook) the ledger (``deliveries``)
records each (watchlist, channel, item) delivered. A digest is first recorded
as *pending* (durably), then delivered, then marked *sent* together with its
ledger rows in one durable transaction. So:
- a crash before delivery leaves a pending row: the next run delivers the
  items again, once (for files, a file that already exists is reused);
- a failing SMTP server or webhook leaves the items undelivered and the row
  pending with a backoff; the next attempt sends every undelivered item in one
  digest (an e-mail carries at most ``email.max_stories`` / ``email.max_bytes``);
- a permanent refusal of the message itself (SMTP 5xx such as 552, webhook 413)
  marks the digest ``failed-permanent`` and records its items as not deliverable
  on that channel, so it never holds back later digests.

Two processes on one database (the daemon and ``monitor run --once`` or
``monitor digest``): what is undelivered is decided inside the write transaction
(BEGIN IMMEDIATE) that also *claims* the digest row (``claim``: pid and a token,
``claim_until``); the other process waits for that transaction, then sees the
claim (skipped) or, once delivered, the ledger rows. A claim whose process is gone
(killed mid-delivery) is stale at once. Delivery itself (:func:`deliver_claimed`)
touches no database, so the daemon runs it on a thread of its own
(:func:`dispatch_watchlist_async`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from monitor import DeliveryError
from monitor.analysis.watchlists import CHANNELS, Watchlist
from monitor.config import Config
from monitor.delivery.channels import MailCaps, SmtpSettings, build_email, post_webhook, send_email, write_file_atomic
from monitor.delivery.digest import Digest, DigestPlan, build_digest
from monitor.delivery.render import atom_self_url, render_atom, render_markdown, render_webhook
from monitor.service.workers import in_daemon_thread
from monitor.store import DigestRecord, NewDigest, Store, claim_holder, claim_token

log = logging.getLogger(__name__)

DispatchStatus = Literal["sent", "empty", "failed", "deferred", "skipped"]

RETRY_BASE = 60.0
RETRY_MAX = 6 * 3600.0
ATOM_HISTORY = 20
HEARTBEAT_MIN_GAP = 20 * 3600.0
CLAIM_TTL = 15 * 60.0  # a claim outlives any delivery deadline; a killed owner's claim is stale at once


@dataclass
class DispatchResult:
    watchlist: str
    channel: str
    stories: int
    suppressed: int
    status: DispatchStatus
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


def dispatch_watchlist(config: Config, store: Store, wl: Watchlist, now: float | None = None, *,
                       channels: tuple[str, ...] | None = None, heartbeat: bool | None = None,
                       force_retry: bool = False) -> list[DispatchResult]:
    """Build and deliver ``wl``'s digest on each of its channels (the CLI's synchronous form)."""
    now = now or time.time()
    results = []
    for channel in channels or tuple(c for c in wl.digest.formats if c in CHANNELS):
        try:
            c = claim_channel(config, store, wl, channel, now,
                              wl.digest.heartbeat if heartbeat is None else heartbeat, force_retry)
            if isinstance(c, Claimed):
                c = finish_channel(store, c, deliver_claimed(config, c))
            results.append(c)
        except Exception as e:  # noqa: BLE001 - one channel must not stop the others
            log.exception("%s/%s: digest failed", wl.name, channel)
            results.append(DispatchResult(wl.name, channel, 0, 0, "failed", error=f"{type(e).__name__}: {e}"))
    return results


async def dispatch_watchlist_async(config: Config, store: Store, wl: Watchlist,
                                   db: Callable[..., Awaitable[Any]], now: float | None = None, *,
                                   channels: tuple[str, ...] | None = None, heartbeat: bool | None = None,
                                   force_retry: bool = False,
                                   locks: dict[tuple[str, str], asyncio.Lock] | None = None) -> list[DispatchResult]:
    """The daemon's form: ledger work through ``db`` (the database thread), each channel's delivery
    (SMTP, webhook, files) on a thread of its own and all channels at once, so a slow channel holds
    up neither storing, nor the other channels, nor a stop. ``locks`` (one per watchlist and
    channel) keep one delivery per channel at a time within the process."""
    hb = wl.digest.heartbeat if heartbeat is None else heartbeat
    locks = {} if locks is None else locks

    async def one(channel: str) -> DispatchResult:
        async with locks.setdefault((wl.name, channel), asyncio.Lock()):
            when = now or time.time()  # taken under the lock: a waiting delivery sees what came meanwhile
            try:
                c = await db(claim_channel, config, store, wl, channel, when, hb, force_retry)
                if isinstance(c, Claimed):
                    err = await in_daemon_thread(deliver_claimed, config, c, name=f"deliver-{channel}")
                    c = await db(finish_channel, store, c, err)
                return c
            except Exception as e:  # noqa: BLE001 - one channel must not stop the others
                log.exception("%s/%s: digest failed", wl.name, channel)
                return DispatchResult(wl.name, channel, 0, 0, "failed", error=f"{type(e).__name__}: {e}")

    chans = channels or tuple(c for c in wl.digest.formats if c in CHANNELS)
    return list(await asyncio.gather(*(one(c) for c in chans)))


@dataclass(frozen=True)
class Claimed:
    """A digest this process claimed in the ledger and now delivers (nobody else sends it meanwhile)."""

    watchlist: Watchlist
    channel: str
    digest: Digest
    plan: DigestPlan
    digest_id: int
    location: str
    attempts: int  # earlier failed attempts
    now: float
    history: tuple[Digest, ...] = ()  # atom: the digests before this one


def claim_channel(config: Config, store: Store, wl: Watchlist, channel: str, now: float,
                  heartbeat: bool, force_retry: bool) -> DispatchResult | Claimed:
    """In one write transaction (BEGIN IMMEDIATE): what is still undelivered, and the claim on it.

    Another process (the daemon, ``monitor run --once``, ``monitor digest``) that asks at the
    same moment waits for this transaction, then sees the claim (or, once delivered, the
    ledger rows), so a story reaches the channel once."""
    ledger = store.ledger
    with store.transaction(durable=True):
        pending = ledger.pending(wl.name, channel)
        if pending is not None:
            holder = claim_holder(pending, now)
            if holder is not None:
                log.info("%s/%s: digest is being delivered by process %d; skipped here", wl.name, channel, holder)
                return DispatchResult(wl.name, channel, 0, 0, "skipped",
                                      error=f"being delivered by process {holder}")
            if pending.next_attempt and pending.next_attempt > now and not force_retry:
                retry_at = datetime.fromtimestamp(pending.next_attempt, timezone.utc)
                return DispatchResult(wl.name, channel, 0, 0, "deferred", error=f"retrying after {retry_at}")
        since = ledger.last_sent_end(wl.name, channel) or None
        digest, plan = build_digest(store, wl.name, wl.title, wl.digest.timezone, channel, now, period_start=since)
        if heartbeat and since is not None and now - since < HEARTBEAT_MIN_GAP:
            heartbeat = False  # a "nothing matched" digest at most about once a day
        if not digest.stories and not (heartbeat and channel != "atom"):
            if plan.item_ids:  # only suppressed items: remember them as handled, write nothing
                ledger.mark_sent(wl.name, channel, None, plan.item_ids, plan.stories, now)
            if pending is not None:
                ledger.supersede(pending.id)
            log.info("%s/%s: no new items, no digest written (%d suppressed)", wl.name, channel,
                     len(digest.suppressed))
            return DispatchResult(wl.name, channel, 0, len(digest.suppressed), "empty")
        location = _location(config, wl, channel, now, pending)
        token = claim_token()
        until = now + CLAIM_TTL
        if pending is None:
            digest_id = ledger.open(NewDigest(wl.name, channel, now, digest.period_start.timestamp(), location,
                                              tuple(plan.item_ids), token, until))
        else:
            digest_id = pending.id
            ledger.claim(digest_id, now, location, plan.item_ids, token, until)
        history = tuple(_recent_digests(store, wl, "atom", ATOM_HISTORY - 1)) if channel == "atom" else ()
    return Claimed(wl, channel, digest, plan, digest_id, location, pending.attempts if pending else 0, now, history)


def deliver_claimed(config: Config, c: Claimed) -> DeliveryError | None:
    """Deliver a claimed digest (no database access: runs on a delivery thread). Returns the error."""
    try:
        _deliver(config, c.watchlist, c.channel, c.digest, c.location, c.history)
    except DeliveryError as e:
        return e
    return None


def finish_channel(store: Store, c: Claimed, err: DeliveryError | None) -> DispatchResult:
    """Record the outcome: the ledger rows and 'sent', or the backoff of a failure; the claim ends."""
    wl, channel, digest = c.watchlist, c.channel, c.digest
    if err is not None:
        attempts = c.attempts + 1
        if refused_for_good(channel, err):
            store.ledger.refuse(wl.name, channel, c.digest_id, c.plan.item_ids, c.now, attempts, str(err))
            log.error("%s/%s: the server refused the digest for good (%s); %d item(s) recorded as not "
                      "deliverable on this channel (they stay in the Markdown digest and `monitor watchlist "
                      "test`), later digests go out as usual", wl.name, channel, err, len(c.plan.item_ids))
            return DispatchResult(wl.name, channel, digest.count, len(digest.suppressed), "failed", c.location,
                                  str(err))
        delay = min(RETRY_MAX, RETRY_BASE * 2 ** (attempts - 1)) if err.transient else RETRY_MAX
        delay = max(delay, min(RETRY_MAX, getattr(err, "retry_after", None) or 0.0))
        with store.transaction(durable=True):
            store.ledger.record_attempt(c.digest_id, attempts, c.now + delay, str(err))
        log.error("%s/%s: delivery failed (%s), %d item(s) stay pending, next attempt in %.0f s",
                  wl.name, channel, err, len(digest.stories), delay)
        return DispatchResult(wl.name, channel, digest.count, len(digest.suppressed), "failed", c.location, str(err))
    store.ledger.mark_sent(wl.name, channel, c.digest_id, c.plan.item_ids, c.plan.stories, c.now)
    log.info("%s/%s: digest with %d stor%s delivered to %s", wl.name, channel, digest.count,
             "y" if digest.count == 1 else "ies", c.location)
    return DispatchResult(wl.name, channel, digest.count, len(digest.suppressed), "sent", c.location)


def _location(config: Config, wl: Watchlist, channel: str, now: float, pending: DigestRecord | None) -> str:
    if channel == "markdown":
        if pending is not None and pending.location:
            return pending.location  # a crash left it pending: reuse the same file name
        return str(digest_path(config, wl.name, now))
    if channel == "atom":
        return str(config.digests / wl.name / "digests.atom")
    if channel == "email":
        return ", ".join(wl.digest.recipients)
    return wl.digest.webhook or ""


def _deliver(config: Config, wl: Watchlist, channel: str, digest: Digest, location: str,
             history: tuple[Digest, ...] = ()) -> None:
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
        elsewhere = (f"the Markdown digest under {config.digests / wl.name}" if "markdown" in wl.digest.formats
                     else "`monitor items`")
        caps = MailCaps(config.email.max_stories, config.email.max_bytes, elsewhere)
        send_email(build_email(digest, from_addr=smtp_settings(config).from_addr, to=list(wl.digest.recipients),
                               list_id=f"{wl.name}.news-monitor", caps=caps), smtp_settings(config))
    elif channel == "webhook":
        if not wl.digest.webhook:
            raise DeliveryError("no webhook URL in the watchlist's digest settings", transient=False)
        post_webhook(wl.digest.webhook, render_webhook(digest, config.webhook.max_stories))
    elif channel == "atom":
        write_file_atomic(Path(location), render_atom(wl.name, wl.title, [digest, *history], feed_url=atom_self_url(
            config.digests_url, wl.name, Path(location))))
    else:
        raise DeliveryError(f"unknown channel {channel!r}", transient=False)


def _recent_digests(store: Store, wl: Watchlist, channel: str, n: int) -> list[Digest]:
    out = []
    for r in store.ledger.recent_sent(wl.name, channel, n):
        d, _ = build_digest(store, wl.name, wl.title, wl.digest.timezone, channel, r.period_end,
                            item_ids=list(r.item_ids), period_start=r.period_start)
        d.generated_at = datetime.fromtimestamp(r.created, timezone.utc)
        out.append(d)
    return out


def refused_for_good(channel: str, e: DeliveryError) -> bool:
    """A permanent refusal of this message by the server (SMTP 5xx such as 552 "message too large",
    webhook 413): retrying the same items would fail the same way and hold back every later digest.
    Configuration errors (no recipients, no password) are permanent too, but they are fixed by the
    operator and then deliver what waited, so they do not count here."""
    if e.transient or e.code is None:
        return False
    if channel == "email":
        return 500 <= e.code < 600
    return channel == "webhook" and e.code == 413


def smtp_settings(config: Config) -> SmtpSettings:
    if config.smtp is None:
        raise DeliveryError("no smtp: block in config.yaml", transient=False)
    return SmtpSettings.from_config(config.smtp)


def preview(config: Config, store: Store, wl: Watchlist, now: float | None = None) -> Digest:
    """The digest the markdown channel would get now; marks nothing."""
    now = now or time.time()
    since = store.ledger.last_sent_end(wl.name, "markdown") or None
    return build_digest(store, wl.name, wl.title, wl.digest.timezone, "markdown", now, period_start=since)[0]
