"""The daemon: APScheduler jobs, signals, sd_notify, hot reload.

Jobs (APScheduler's AsyncIOScheduler, every job coalesced, one instance at a time):
- ``poll:<url>``  one per feed, a date job re-armed after each poll at the time the
  fetch stage computed (interval with jitter, or backoff after failures);
- ``digest:<name>`` one per watchlist, cron schedule in the watchlist's timezone;
  quiet hours defer it; a slot missed while the service was down runs once at start;
- ``retry``       delivery retries of pending digests (SMTP or webhook down);
- ``watch``       notices edited watchlist files and reloads them;
- ``retention``   purges old items (fingerprints stay).

Signals: SIGHUP reloads config and watchlists (RELOADING=1 ... READY=1); SIGTERM and
SIGINT stop within a few seconds (STOPPING=1), finishing the current database
transaction; exit code 0.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from monitor import ConfigError, MonitorError, store
from monitor.analysis.watchlists import Watchlist, reload_watchlists
from monitor.config import Config, FeedConfig, load_config
from monitor.ingest.fetch import Fetcher
from monitor.ingest.seeds import SEED_FEED_NAME, SEED_FEED_URL
from monitor.service.cycle import begin
from monitor.service.pipeline import Services, open_services, poll_feed, rematch, sync_seeds
from monitor.service.sdnotify import Notifier, Watchdog
from monitor.service.worker_leases import Worker

log = logging.getLogger(__name__)

WATCH_INTERVAL = 3.0  # seconds between checks of the watchlist directory
WAITING_PER_ROUND = 20  # items stored untranslated that one watch tick translates (monitor.service.retranslate)
RETRY_INTERVAL = 30.0
RETENTION_INTERVAL = 6 * 3600.0
HEARTBEAT_INTERVAL = 15.0
START_SPREAD = 30.0  # first polls are spread over up to this many seconds


def in_quiet_hours(quiet: tuple[str, str] | None, tz: str, when: datetime) -> datetime | None:
    """If ``when`` falls in the quiet hours, the moment they end; else None."""
    if not quiet:
        return None
    local = when.astimezone(ZoneInfo(tz))
    (h1, m1), (h2, m2) = (map(int, quiet[0].split(":")), map(int, quiet[1].split(":")))
    start = local.replace(hour=h1, minute=m1, second=0, microsecond=0)
    end = local.replace(hour=h2, minute=m2, second=0, microsecond=0)
    if start <= end:
        return end.astimezone(timezone.utc) if start <= local < end else None
    # spans midnight, e.g. 22:00-07:00
    if local >= start:
        return (end + timedelta(days=1)).astimezone(timezone.utc)
    if local < end:
        return end.astimezone(timezone.utc)
    return None


@dataclass
class Daemon:
    config_path: Path
    config: Config
    svc: Services
    notifier: Notifier = field(default_factory=Notifier)
    polls: int = 0
    items: int = 0
    stopping: bool = False
    watch_state: dict[str, float] = field(default_factory=dict)
    scheduler: AsyncIOScheduler | None = None
    inflight: set[asyncio.Task] = field(default_factory=set)
    fetcher: Fetcher | None = None
    models_seen: tuple | None = None  # the installed models when waiting items were last translated
    waiting_more: bool = False  # the last round of waiting items stopped at its limit
    delivered_at: float | None = None  # last digest delivery (any outcome)
    dispatch_locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    recheck: set[str] = field(default_factory=set)  # watchlists another process was delivering
    background: set[asyncio.Future] = field(default_factory=set)  # deliveries started by polls
    worker: Worker | None = None  # one of several workers on a shared (PostgreSQL) store

    # ---- jobs --------------------------------------------------------------------------------------
    def arm_feed(self, feed: FeedConfig, at: float) -> None:
        assert self.scheduler is not None
        self.scheduler.add_job(self.poll_job, DateTrigger(datetime.fromtimestamp(at, timezone.utc)),
                               args=[feed.url], id=f"poll:{feed.url}", replace_existing=True,
                               coalesce=True, max_instances=1, misfire_grace_time=None)

    async def poll_job(self, url: str) -> None:
        feed = next((f for f in self.config.feeds if f.url == url and f.enabled), None)
        if feed is None or self.stopping:
            return
        if self.worker is not None and not await self.svc.db(self.worker.may_poll, self.svc.feed_ids[url]):
            # another worker has it now, or has polled it since: look again when it is next due
            row = await self.svc.db(self.svc.store.feeds.get, self.svc.feed_ids[url])
            if not self.stopping and not row.disabled_reason:
                at = max(row.next_poll, time.time() + min(feed.interval, self.worker.lease / 2))
                asyncio.get_running_loop().call_soon(self._rearm, feed, at)  # once this job has ended
            return
        task = asyncio.current_task()
        if task:
            self.inflight.add(task)
        try:
            out = await poll_feed(self.svc, await self.get_fetcher(), feed)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("%s: poll failed", feed.name)
            out = None
        finally:
            if task:
                self.inflight.discard(task)
            if self.worker is not None:
                await self.svc.db(self.worker.polled, self.svc.feed_ids[url])
        self.polls += 1
        nxt = out.next_poll if out and out.next_poll else time.time() + feed.interval
        terminal_poll_line(feed, out, nxt)
        if out is not None:
            self.items += out.new_items
            if out.matched:
                self.in_background(self.immediate_alerts())  # the next poll of this feed never waits for a channel
        if not self.stopping:
            row = await self.svc.db(self.svc.store.feeds.get, self.svc.feed_ids[url])
            if not row.disabled_reason:
                # armed once this job has ended: a next poll already due (the poll took longer than the
                # interval) would otherwise find this instance still running and be skipped for good
                asyncio.get_running_loop().call_soon(self._rearm, feed, nxt)
        self.report_status()

    def _rearm(self, feed: FeedConfig, at: float) -> None:
        if not self.stopping:
            self.arm_feed(feed, at)

    async def get_fetcher(self) -> Fetcher:
        """One HTTP client for the daemon's lifetime (made anew when a reload changes fetch settings)."""
        if self.fetcher is None or self.fetcher.settings != self.config.fetch:
            if self.fetcher is not None:
                await self.fetcher.aclose()
            self.fetcher = Fetcher(self.config.fetch)
        return self.fetcher

    async def digest_job(self, name: str, scheduled: bool = True) -> None:
        wl = next((w for w in self.svc.watchlists if w.name == name), None)
        if wl is None or self.stopping:
            return
        resume = in_quiet_hours(wl.digest.quiet_hours, wl.digest.timezone, datetime.now(timezone.utc))
        if resume is not None:
            log.info("%s: quiet hours, digest deferred to %s", name, resume.isoformat())
            assert self.scheduler is not None
            self.scheduler.add_job(self.digest_job, DateTrigger(resume), args=[name, scheduled],
                                   id=f"deferred:{name}", replace_existing=True, misfire_grace_time=None)
            return
        await self.dispatch(wl)
        if scheduled:
            await self.svc.db(self.svc.store.meta.set, f"digest_run:{name}", str(time.time()))
        self.report_status()

    async def dispatch(self, wl: Watchlist, heartbeat: bool | None = None) -> None:
        """Deliver ``wl``'s digest: the ledger on the database thread, the channels on threads of
        their own (with whole-operation deadlines), so storing goes on meanwhile."""
        from monitor.delivery.dispatch import dispatch_watchlist_async

        results = await dispatch_watchlist_async(self.config, self.svc.store, wl, self.svc.db,
                                                 heartbeat=heartbeat, locks=self.dispatch_locks)
        self.delivered_at = time.time()
        terminal_digest_lines(results)
        if any(r.status == "skipped" for r in results):
            self.recheck.add(wl.name)  # another process was delivering: look again at the next retry round

    def in_background(self, coro: Any) -> None:
        """Run a delivery as its own task (kept referenced until done; cancelled at stop)."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def immediate_alerts(self) -> None:
        for wl in self.svc.watchlists:
            if wl.digest.mode == "immediate":
                await self.digest_job(wl.name, scheduled=False)

    async def retry_job(self) -> None:
        names = await self.svc.db(self.svc.store.ledger.watchlists_with_pending, time.time())
        names = list(dict.fromkeys([*names, *sorted(self.recheck)]))
        self.recheck.clear()
        for name in names:
            wl = next((w for w in self.svc.watchlists if w.name == name), None)
            if wl is not None:
                await self.dispatch(wl, heartbeat=False)

    async def retention_job(self) -> None:
        if self.worker is not None and not await self.svc.db(self.worker.may_run, "retention", RETENTION_INTERVAL):
            return  # another worker runs it
        n = await self.svc.db(self.svc.store.purge, time.time() - self.config.retention)
        if n:
            log.info("retention: purged %d item(s) older than %.0f days", n, self.config.retention / 86400)

    async def heartbeat_job(self) -> None:
        await self.svc.db(self._heartbeat)

    def _heartbeat(self) -> None:
        with self.svc.store.transaction():
            self.svc.store.meta.set("daemon_heartbeat", str(time.time()))
            self.svc.store.meta.set("daemon_pid", str(os.getpid()))
        if self.worker is not None:
            self.worker.beat()

    # ---- watchlists --------------------------------------------------------------------------------
    def _watch_snapshot(self) -> dict[str, float]:
        snap: dict[str, float] = {}
        d = self.config.watchlists
        try:
            for p in d.iterdir():
                if p.suffix in (".yaml", ".yml"):
                    try:
                        snap[p.name] = p.stat().st_mtime_ns
                    except OSError:
                        pass
        except OSError as e:
            log.error("cannot list watchlists in %s: %s", d, e)
        return snap

    async def watch_job(self) -> None:
        snap = self._watch_snapshot()
        if snap != self.watch_state:
            self.watch_state = snap
            await self.reload_watchlists()
        await self.translate_waiting()

    async def translate_waiting(self) -> None:
        """Once at start and whenever the installed models change: translate the items stored
        while no model served their language (monitor.service.retranslate)."""
        from monitor.service.retranslate import models_fingerprint, translate_waiting

        if not self.config.translation.enabled:
            return
        seen = models_fingerprint(self.config.models)  # a directory listing: cheap, takes no lock
        if seen == self.models_seen and not self.waiting_more:
            return
        self.models_seen = seen
        self.waiting_more = False
        try:
            # a small round per tick, so that storing polled items is never held up for long
            out = await self.svc.db(functools.partial(translate_waiting, limit=WAITING_PER_ROUND), self.svc)
            self.waiting_more = out.more
        except Exception:  # noqa: BLE001 - a broken model must not stop the daemon
            log.exception("translating waiting items failed")
            return
        if out.matched:
            await self.immediate_alerts()

    async def reload_watchlists(self) -> None:
        """Load every watchlist file with :func:`monitor.analysis.watchlists.reload_watchlists`: a file that
        fails keeps its last good version active; new and edited ones are re-applied to recent items."""
        r = reload_watchlists(self.config.watchlists, self.svc.watchlists)
        for p in r.problems:
            log.error("watchlist not reloaded: %s", p)
        await self.record_reload("watchlists", [str(p) for p in r.problems])
        for name in r.kept:
            log.warning("keeping the last good version of watchlist %s", name)
        self.svc.watchlists = r.watchlists
        changed = [w for w in r.watchlists if w.name in r.changed]
        for w in changed:
            if self.worker is not None and not await self.svc.db(self._rematch_here, w):
                continue  # another worker on the shared store re-applies (or has re-applied) this version
            try:
                added, removed = await self.svc.db(rematch, self.svc, w, self.config.rematch_window)
            finally:
                if self.worker is not None:
                    await self.svc.db(self.worker.done, f"rematch:{w.name}")
            log.info("watchlist %s (re)loaded: %d new match(es), %d dropped among items of the last %.0f days",
                     w.name, added, removed, self.config.rematch_window / 86400)
        self.arm_digests()
        for w in changed:
            if w.digest.mode == "immediate":
                await self.digest_job(w.name, scheduled=False)

    def _rematch_here(self, wl: Watchlist) -> bool:
        """Several workers: one re-applies an edited watchlist to the stored items, once per version."""
        assert self.worker is not None
        if self.svc.store.ledger.applied_watchlists().get(wl.name) == wl.fingerprint:
            return False
        return self.worker.take_once(f"rematch:{wl.name}")

    def arm_digests(self) -> None:
        assert self.scheduler is not None
        active = {w.name for w in self.svc.watchlists}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("digest:") and job.id[7:] not in active:
                job.remove()
        for wl in self.svc.watchlists:
            try:
                trig = CronTrigger.from_crontab(wl.digest.schedule, timezone=ZoneInfo(wl.digest.timezone))
            except ValueError as e:
                log.error("watchlist %s: bad schedule %r: %s", wl.name, wl.digest.schedule, e)
                continue
            self.scheduler.add_job(self.digest_job, trig, args=[wl.name], id=f"digest:{wl.name}",
                                   replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=3600)

    async def catch_up_digests(self, first_polls: int = 0, wait: float = 60.0) -> None:
        """A slot missed while the service was down: one digest now (not one per slot),
        after the first round of polls (or ``wait`` seconds) so it carries what came in meanwhile."""
        end = time.monotonic() + wait
        while self.polls < first_polls and time.monotonic() < end and not self.stopping:
            await asyncio.sleep(0.2)
        now = datetime.now(timezone.utc)
        pending = set(await self.svc.db(self.svc.store.ledger.watchlists_with_pending))
        for wl in list(self.svc.watchlists):
            if wl.digest.mode == "immediate" or wl.name in pending:
                # alerts held back by a crash or a stop, and digests left pending: deliver them now
                await self.digest_job(wl.name, scheduled=False)
            last = await self.svc.db(self.svc.store.meta.get, f"digest_run:{wl.name}")
            if last is None:
                await self.svc.db(self.svc.store.meta.set, f"digest_run:{wl.name}", str(time.time()))
                continue
            trig = CronTrigger.from_crontab(wl.digest.schedule, timezone=ZoneInfo(wl.digest.timezone))
            after = datetime.fromtimestamp(float(last), timezone.utc)
            nxt = trig.get_next_fire_time(None, after + timedelta(seconds=1))
            if nxt is not None and nxt <= now:
                log.info("%s: digest slot %s was missed while stopped; producing it once now", wl.name,
                         nxt.isoformat())
                await self.digest_job(wl.name)

    def ensure_models(self) -> None:
        """Install the translation pairs config wants (when online); report what stays untranslated.
        Runs on a worker thread after READY: the daemon never waits for it."""
        from monitor.analysis import argos_models

        cfg = self.config.translation
        if not cfg.enabled or not cfg.pairs or cfg.remote:  # remote: the translation-only workers need them
            return
        have = {(m.from_code, m.to_code) for m in argos_models.list_models(self.config.models)}
        missing = [p for p in cfg.pairs if p not in have]
        for src, dst in list(missing):
            if not cfg.install_missing:
                break
            try:
                # a whole-operation deadline, and no lock held while downloading (issue 17)
                from monitor.analysis.translate import verify_argos

                info = argos_models.install_from_index(src, dst, self.config.models,
                                                       timeout=cfg.download_timeout, verify=verify_argos)
            except argos_models.ModelError as e:
                log.warning("translation model %s->%s not installed: %s", src, dst, e)
                if e.kind == "offline":
                    break  # offline: do not try every pair against an unreachable index
                continue
            log.info("installed translation model %s->%s (version %s)", src, dst, info.version)
            missing.remove((src, dst))
        if missing:
            log.warning("items in %s will stay untranslated (matched on their original text) until a model is "
                        "installed: monitor models install FROM TO, or --file X.argosmodel",
                        ", ".join(sorted({s for s, _ in missing})))
        if self.svc.translator is not None:
            self.svc.translator.refresh()

    # ---- reload / status ---------------------------------------------------------------------------
    async def record_reload(self, what: str, problems: list[str]) -> None:
        """Keep a rejected reload where `monitor status` shows it (a good one clears it)."""
        from monitor.service.daemon_state import record_reload

        try:
            await self.svc.db(record_reload, self.svc.store, what, problems)
        except Exception:  # noqa: BLE001 - reporting must never break a reload
            log.exception("cannot record the reload outcome")

    async def reload(self) -> None:
        self.notifier.reloading()
        try:
            cfg = load_config(self.config_path)
        except ConfigError as e:
            for p in e.problems:
                log.error("config not reloaded: %s", p)
            await self.record_reload("config", [str(p) for p in e.problems])
            self.notifier.ready(status="config reload failed; running with the previous config")
            return
        await self.record_reload("config", [])
        old = {f.url: f for f in self.config.feeds}
        self.config = cfg
        self.svc.config = cfg
        self.svc.feed_ids = await self.svc.db(self.svc.store.feeds.sync,
                                              [(f.url, f.name) for f in cfg.feeds] + [(SEED_FEED_URL, SEED_FEED_NAME)])
        assert self.scheduler is not None
        wanted = {f.url for f in cfg.feeds if f.enabled}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:") and job.id[5:] not in wanted:
                job.remove()
        current = {j.id[5:]: j.next_run_time.timestamp() for j in self.scheduler.get_jobs()
                   if j.id.startswith("poll:") and j.next_run_time}
        rows = {r.url: r for r in await self.svc.db(self.svc.store.feeds.all)}
        plan = reschedule_feeds(old, cfg.feeds, current, {u: r.last_fetch for u, r in rows.items()},
                                {u for u, r in rows.items() if r.disabled_reason}, time.time())
        for f in cfg.feeds:
            if f.url in plan:
                self.arm_feed(f, plan[f.url])
        self.watch_state = self._watch_snapshot()
        await self.reload_watchlists()
        await self.svc.db(sync_seeds, self.svc)
        log.info("reloaded: %d feed(s), %d watchlist(s)", len(cfg.feeds), len(self.svc.watchlists))
        self.notifier.ready(status=self.status_line())

    def status_line(self) -> str:
        nxt = None
        if self.scheduler is not None:
            times = [j.next_run_time for j in self.scheduler.get_jobs() if j.id.startswith("digest:")
                     and j.next_run_time]
            nxt = min(times) if times else None
        return (f"{self.polls} poll(s), {self.items} new item(s); "
                f"next digest {nxt.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC" if nxt else
                f"{self.polls} poll(s), {self.items} new item(s); no digest scheduled")

    def report_status(self) -> None:
        self.notifier.status(self.status_line())


def reschedule_feeds(old: dict[str, FeedConfig], new: tuple[FeedConfig, ...] | list[FeedConfig],
                     next_runs: dict[str, float], last_fetch: dict[str, float | None], disabled: set[str],
                     now: float, jitter: float = 2.0) -> dict[str, float]:
    """When each feed's next poll should be after a reload (only feeds whose poll must move).

    A new (or re-enabled) feed is polled within ``jitter`` seconds. A changed interval takes
    effect at once: the next poll is the last fetch plus the new interval (now, if that has
    passed), so a shorter interval does not wait for the old schedule to run out. Other edits
    (name, tags, a moved line) keep the schedule; a feed that lost its poll job gets one.
    """
    plan: dict[str, float] = {}
    for f in new:
        if not f.enabled or f.url in disabled:
            continue
        soon = now + random.uniform(0, jitter)
        before = old.get(f.url)
        if before is None or not before.enabled or f.url not in next_runs:
            plan[f.url] = soon
        elif before.interval != f.interval:
            last = last_fetch.get(f.url)
            plan[f.url] = max(soon, last + f.interval) if last else soon
    return plan


# ---- what `monitor run` prints in a terminal --------------------------------------------------------
# The journal gets log records only; a person who runs the daemon in a terminal also sees one line
# when it is ready, one per poll and one per digest, whatever the log level (below INFO the log
# lines say the same, so these stay quiet then).

def _on_terminal() -> bool:
    from monitor.service.logs import under_systemd

    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not under_systemd() and not logging.getLogger().isEnabledFor(logging.INFO)


def terminal_line(text: str) -> None:
    if _on_terminal():
        try:
            print(f"{datetime.now():%H:%M:%S} {text}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass


def terminal_poll_line(feed: FeedConfig, out: object, next_poll: float) -> None:
    if not _on_terminal():
        return
    from monitor.service.wording import duration_words, error_words

    wait = duration_words(max(0.0, next_poll - time.time()))
    if out is None:
        terminal_line(f"{feed.name}: poll failed (see the log); next poll in {wait}")
    elif getattr(out, "error", None):
        terminal_line(f"{feed.name}: {error_words(out.error_kind, out.error, feed.url, out.status)}; "  # type: ignore[attr-defined]
                      f"next try in {wait}")
    elif getattr(out, "not_modified", False):
        terminal_line(f"{feed.name}: not modified; next poll in {wait}")
    else:
        terminal_line(f"{feed.name}: {out.new_items} new, {out.matched} matched; next poll in {wait}")  # type: ignore[attr-defined]


def terminal_digest_lines(results: list | None) -> None:
    for r in results or []:
        if r.status == "sent":
            terminal_line(f"digest {r.watchlist} ({r.channel}): {r.stories} stor{'y' if r.stories == 1 else 'ies'}"
                          f" -> {r.location}")
        elif r.status == "failed":
            terminal_line(f"digest {r.watchlist} ({r.channel}): FAILED: {r.error}")
        elif r.status == "empty":
            terminal_line(f"digest {r.watchlist} ({r.channel}): nothing new")


def _record_clean_stop(svc: Services) -> None:
    """`monitor status` says "not running (stopped cleanly)" at once, not when the heartbeat ages."""
    from monitor.service.daemon_state import record_stop

    try:
        record_stop(svc.store)
    except Exception:  # noqa: BLE001 - a stop must finish even when the database is unwritable
        log.warning("cannot record the clean stop", exc_info=True)


async def _main(config_path: Path) -> int:
    from monitor.service.logs import enable_crash_tracebacks

    enable_crash_tracebacks()
    cfg = load_config(config_path)
    notifier = Notifier()
    if not isinstance(cfg.database, Path):  # a shared PostgreSQL store: several workers, leases decide
        return await _serve(config_path, cfg, notifier)
    lock = store.acquire_daemon_lock(cfg.database)  # one daemon per state; raises naming the other pid
    try:
        return await _serve(config_path, cfg, notifier)
    finally:
        lock.release()


async def _serve(config_path: Path, cfg: Config, notifier: Notifier) -> int:
    svc = open_services(cfg)
    d = Daemon(config_path, cfg, svc, notifier)
    d.worker = Worker.for_store(svc.store)
    if d.worker is not None:
        await svc.db(d.worker.start)
    d.watch_state = d._watch_snapshot()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hup = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    watchdog = Watchdog(notifier)
    sched = AsyncIOScheduler(event_loop=loop, timezone=timezone.utc,
                             job_defaults={"coalesce": True, "max_instances": 1})
    d.scheduler = sched
    try:
        # seeds, and watchlists edited while stopped (waiting translations: translate_waiting, in rounds)
        await svc.db(functools.partial(begin, svc, translate=False))
        rows = {r.url: r for r in await svc.db(svc.store.feeds.all)}
        now = time.time()
        armed = 0
        for f in cfg.feeds:
            r = rows.get(f.url)
            if not f.enabled or (r and r.disabled_reason):
                continue
            due = r.next_poll if r and r.next_poll else 0
            at = max(due, now + random.uniform(0, min(START_SPREAD, f.interval)))
            d.arm_feed(f, at)
            armed += at - now < 60
        d.arm_digests()
        sched.add_job(d.retry_job, "interval", seconds=RETRY_INTERVAL, id="retry", coalesce=True, max_instances=1)
        sched.add_job(d.watch_job, "interval", seconds=WATCH_INTERVAL, id="watch", coalesce=True, max_instances=1)
        sched.add_job(d.retention_job, "interval", seconds=RETENTION_INTERVAL, id="retention",
                      next_run_time=datetime.now(timezone.utc) + timedelta(seconds=60), coalesce=True)
        sched.add_job(d.heartbeat_job, "interval", seconds=HEARTBEAT_INTERVAL, id="heartbeat",
                      next_run_time=datetime.now(timezone.utc), coalesce=True)
        sched.start()
        notifier.ready(status=f"{len(cfg.feeds)} feed(s), {len(svc.watchlists)} watchlist(s)")
        log.info("ready: %d feed(s), %d watchlist(s)", len(cfg.feeds), len(svc.watchlists))
        terminal_line(f"ready: {len(cfg.feeds)} feed(s), {len(svc.watchlists)} watchlist(s); "
                      f"database {cfg.database}; Ctrl-C stops")
        watchdog.start()
        asyncio.ensure_future(d.catch_up_digests(armed))
        # a daemon thread, so that a slow or unreachable index never delays a stop
        threading.Thread(target=d.ensure_models, name="models", daemon=True).start()
        stall = db_stall_limit(watchdog.interval)
        while not stop.is_set():
            # ping the watchdog only while the loop *and* the database thread make progress:
            # a transaction wedged for longer than ``stall`` stops the pings, so systemd restarts us
            if svc.db_idle_for() < stall:
                watchdog.tick()
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
            if hup.is_set():
                hup.clear()
                await d.reload()
    finally:
        d.stopping = True
        notifier.stopping(status="stopping")
        log.info("stopping")
        watchdog.stop()
        sched.shutdown(wait=False)
        for t in [*d.inflight, *d.background]:
            t.cancel()
        if d.inflight:
            await asyncio.wait(d.inflight, timeout=5)
        if d.fetcher is not None:
            await d.fetcher.aclose()
        if d.worker is not None:
            try:
                await asyncio.wait_for(svc.db(d.worker.stop), timeout=STOP_DB_WAIT / 2)
            except Exception:  # noqa: BLE001 - its leases then run out on their own
                log.warning("could not unregister worker %s; its leases expire in %.0f s", d.worker.id, d.worker.lease)
        await _stop_db(svc)
    return 0


STOP_DB_WAIT = 8.0  # seconds a stop waits for the database thread (TimeoutStopSec is 15 s)


def db_stall_limit(watchdog_interval: float | None) -> float:
    """How long the database thread may stay in one job before watchdog pings stop."""
    return max(5.0, watchdog_interval or 0.0)


async def _stop_db(svc: Services) -> None:
    """Let the current transaction finish (nothing half-written), but never wait past
    STOP_DB_WAIT: a wedged transaction is abandoned (SQLite rolls it back on the next open)."""
    svc.translate_lane.shutdown(wait=False)
    try:
        await asyncio.wait_for(svc.db(svc.neardup.save), STOP_DB_WAIT)  # after the last queued transaction
        await asyncio.wait_for(svc.db(_record_clean_stop, svc), STOP_DB_WAIT)
    except TimeoutError:
        log.error("database thread busy for %.0f s; exiting without waiting for it (its open transaction "
                  "is rolled back)", svc.db_idle_for())
        return
    svc.db_executor.shutdown(wait=True)
    svc.store.close()


def run_daemon(config_path: Path) -> int:
    try:
        return asyncio.run(_main(config_path))
    except ConfigError:
        raise
    except MonitorError as e:
        log.error("%s", e)
        return 1
