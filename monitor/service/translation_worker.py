"""A translation-only worker (``monitor run --translate-only``) on a shared PostgreSQL store.

It polls no feeds and sends no digests. Poll workers configured with ``translation.remote: true``
store items in other languages untranslated (``WAITING_FOR_WORKER``); this worker, typically on a
GPU host (``translation.device: cuda`` or ``auto``), claims such items (and items stored while no
model served their language) in rounds, translates them and re-runs their near-duplicate and
watchlist decisions: the steps of :mod:`monitor.service.retranslate`. A claim is a lease, like a
feed's: two translation workers never translate one item, and the items of a worker killed with
-9 are claimed by another once its claims run out. Translation runs on the translation lane, the
database work on the database thread, so heartbeats go on during a long batch.

Signals as the daemon's: SIGTERM/SIGINT stop (the claims are released), SIGHUP reloads
config.yaml and the watchlists; edited watchlist files are reloaded on their own too.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from monitor import MonitorError
from monitor.analysis.watchlists import reload_watchlists
from monitor.config import load_config
from monitor.service.pipeline import Services, open_services
from monitor.service.retranslate import pick_waiting, store_translations, translate_rows
from monitor.service.sdnotify import Notifier, Watchdog
from monitor.service.worker_leases import Worker

log = logging.getLogger(__name__)

ROUND = 32  # items claimed and translated at a time (a few seconds of CPU work; far less on a GPU)
IDLE_WAIT = 2.0  # seconds between looks at the queue while nothing waits
HEARTBEAT_INTERVAL = 15.0
WATCH_INTERVAL = 3.0


@dataclass(frozen=True)
class RoundResult:
    claimed: int
    translated: int
    matched: int  # items that now match a watchlist they did not match before
    joined: int  # items that now join an earlier story


async def translate_round(svc: Services, worker: Worker, limit: int = ROUND) -> RoundResult:
    """Claim up to ``limit`` waiting items, translate them off the database thread, store them."""
    translator = svc.get_translator()
    rows = await svc.db(pick_waiting, svc, translator, limit, worker.claim_translations)
    if not rows:
        return RoundResult(0, 0, 0, 0)
    try:
        results = await svc.translate_lane.run(translate_rows, translator, rows)
        translated, matched, joined = await svc.db(store_translations, svc, rows, results)
    finally:
        await svc.db(worker.translated, [r.id for r in rows])
    if translated:
        log.info("translation worker: translated %d item(s) (%d now match a watchlist, %d joined an earlier story)",
                 translated, matched, joined)
    return RoundResult(len(rows), translated, matched, joined)


def _snapshot(directory: Path) -> dict[str, int]:
    try:
        return {p.name: p.stat().st_mtime_ns for p in directory.iterdir() if p.suffix in (".yaml", ".yml")}
    except OSError:
        return {}


async def _serve(config_path: Path) -> int:
    cfg = load_config(config_path)
    svc = open_services(cfg)  # translation.device: cuda without a CUDA device fails here
    worker = Worker.for_store(svc.store, role="translate")
    if worker is None:
        svc.close()
        raise MonitorError("monitor run --translate-only needs a shared PostgreSQL database (database: "
                           "postgresql://...): on SQLite the daemon translates its own items")
    if svc.get_translator() is None:
        svc.close()
        raise MonitorError("monitor run --translate-only: translation.enabled is false in "
                           f"{config_path}; nothing to do")
    await svc.db(worker.start)
    notifier = Notifier()
    loop = asyncio.get_running_loop()
    stop, hup = asyncio.Event(), asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    watchdog = Watchdog(notifier)

    async def beat() -> None:
        while not stop.is_set():
            try:
                await svc.db(worker.beat)
            except Exception:  # noqa: BLE001 - the next beat tries again; the claims may run out meanwhile
                log.warning("heartbeat failed", exc_info=True)
            try:
                await asyncio.wait_for(stop.wait(), timeout=HEARTBEAT_INTERVAL)
            except TimeoutError:
                pass

    beating = asyncio.ensure_future(beat())
    watched, looked = _snapshot(cfg.watchlists), time.monotonic()
    device = getattr(svc.translator, "device", "cpu")
    notifier.ready(status=f"translation worker on {device}")
    log.info("ready: translation worker %s on %s, %d watchlist(s)", worker.id, device, len(svc.watchlists))
    watchdog.start()
    try:
        while not stop.is_set():
            watchdog.tick()
            if hup.is_set() or time.monotonic() - looked >= WATCH_INTERVAL:
                if hup.is_set():
                    hup.clear()
                    try:
                        svc.config = cfg = load_config(config_path)
                    except MonitorError as e:
                        log.error("config not reloaded: %s", e)
                now_watched, looked = _snapshot(cfg.watchlists), time.monotonic()
                if now_watched != watched:
                    watched = now_watched
                    r = reload_watchlists(cfg.watchlists, svc.watchlists)
                    for p in r.problems:
                        log.error("watchlist not reloaded: %s", p)
                    svc.watchlists = r.watchlists
            try:
                done = await translate_round(svc, worker)
            except Exception:  # noqa: BLE001 - a broken model or a lost connection must not end the worker
                log.exception("translation round failed")
                done = RoundResult(0, 0, 0, 0)
            if done.claimed < ROUND:  # the queue is empty (for the models here): look again soon
                try:
                    await asyncio.wait_for(stop.wait(), timeout=IDLE_WAIT)
                except TimeoutError:
                    pass
    finally:
        notifier.stopping(status="stopping")
        watchdog.stop()
        stop.set()
        await beating
        try:
            await asyncio.wait_for(svc.db(worker.stop), timeout=5)
        except Exception:  # noqa: BLE001 - its claims then run out on their own
            log.warning("could not unregister worker %s; its claims expire in %.0f s", worker.id, worker.lease)
        svc.translate_lane.shutdown(wait=False)
        svc.db_executor.shutdown(wait=True)
        svc.neardup.save()
        svc.store.close()
    return 0


def run_translation_worker(config_path: Path) -> int:
    from monitor.service.logs import enable_crash_tracebacks

    enable_crash_tracebacks()
    return asyncio.run(_serve(config_path))  # a MonitorError (no CUDA device, SQLite) reaches the CLI: exit 1
