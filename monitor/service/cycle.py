"""One poll-and-digest cycle, as a service: ``monitor run --once`` and ``monitor demo`` call
:func:`run_once`, the daemon calls :func:`begin` when it starts (its jobs then poll and deliver
feed by feed and watchlist by watchlist).

A cycle, in order:

1. :func:`begin`: store new or edited seed files, translate items stored while no model served
   their language (``monitor.service.retranslate``), re-apply watchlists edited since they were last
   applied;
2. poll every enabled feed (concurrently, or in config order for the demo's repeatable output);
3. dispatch each watchlist's digest on its channels.

Nothing here prints: progress goes to an ``on_event`` callback as typed events and the result
is a :class:`CycleReport`; the CLI turns both into lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.delivery.dispatch import DispatchResult
    from monitor.ingest.fetch import ErrorKind
    from monitor.service.pipeline import FeedOutcome, Services
    from monitor.service.retranslate import Outcome
    from monitor.store import Store

log = logging.getLogger(__name__)

POOL_MIN_FEEDS = 20  # from this many feeds on, parsing and detection use every core ...
# ... when there are cores to spare: the main process keeps one busy (storing, fetching). Measured
# on 2 cores (bench_peer, 100 feeds x 50 items, cold): 53 s with a pool worker, 41-54 s without, and
# the worker and its forkserver add about 230 MB (each imports the language models again).
POOL_MIN_CPUS = 3
# Failures that say the machine cannot reach the network at all (when every feed failed so).
UNREACHABLE: frozenset[ErrorKind] = frozenset({"dns", "connect", "tls", "timeout", "blocked"})


@dataclass(frozen=True)
class WaitingTranslated:
    """Items stored before a model for their language was installed got translated."""

    outcome: Outcome


@dataclass(frozen=True)
class PollStarted:
    feeds: int  # enabled feeds about to be polled


@dataclass(frozen=True)
class FeedPolled:
    outcome: FeedOutcome
    done: int  # feeds polled so far, this one included
    total: int


CycleEvent = WaitingTranslated | PollStarted | FeedPolled


@dataclass(frozen=True)
class CycleReport:
    """What one cycle did: each feed's outcome and each channel's dispatch result."""

    outcomes: tuple[FeedOutcome, ...]
    names: dict[str, str]  # feed URL -> the name shown (see display_names)
    dispatched: tuple[DispatchResult, ...]
    watchlists: int  # watchlists active in the cycle
    waited: Outcome | None = None  # the round of waiting translations (None: it failed)
    finished: float = field(default_factory=time.time)

    @property
    def unreachable(self) -> bool:
        """Every feed failed in a way that says there is no network (not a feed's own fault)."""
        failed = [o for o in self.outcomes if o.error]
        return bool(self.outcomes) and len(failed) == len(self.outcomes) and \
            all(o.error_kind in UNREACHABLE for o in failed)


def display_names(store: Store) -> dict[str, str]:
    """Feed URL -> the name shown in tables and digests (a feed's own title when config gives no name)."""
    from monitor.config import feed_display_name

    return {r.url: feed_display_name(r.url, r.name, r.title) for r in store.feeds.all()}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_pool() -> Any:
    """Worker processes for the pure CPU stages (forkserver: safe beside our threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # the main process stores (one core); the others parse and analyse
    workers = max(1, usable_cpus() - 1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))


def begin(svc: Services, now: float | None = None, *, translate: bool = True) -> Outcome | None:
    """The start of a cycle (on the database thread): seeds, waiting translations (unless
    ``translate`` is False: the daemon does them in small rounds of its own), edited watchlists.
    Returns the translation round's outcome, None when it failed or was not asked for."""
    from monitor.service.pipeline import rematch_changed, sync_seeds
    from monitor.service.retranslate import translate_waiting

    sync_seeds(svc)
    waited = None
    if translate:
        try:  # items stored before a model for their language was installed
            waited = translate_waiting(svc)
        except Exception as e:  # noqa: BLE001 - a broken model must not stop the cycle
            log.error("translating waiting items failed: %s", e)
    rematch_changed(svc, svc.config.rematch_window, now)
    return waited


def run_once(cfg: Config, *, now: float | None = None, in_order: bool = False,
             on_event: Callable[[CycleEvent], None] | None = None) -> CycleReport:
    """One poll-and-digest cycle. ``in_order`` polls one feed after the other in config order (the
    demo: the same stories and clusters every time); otherwise feeds are polled concurrently."""
    from monitor.delivery.dispatch import dispatch_watchlist
    from monitor.service.pipeline import FeedGate, open_services, poll_all
    from monitor.service.worker_leases import Worker

    def emit(event: CycleEvent) -> None:
        if on_event is not None:
            on_event(event)

    started = time.time()
    svc = open_services(cfg)
    worker = Worker.for_store(svc.store, role="once")  # a shared PostgreSQL store: feed leases as the daemon's
    gate = None
    try:
        if worker is not None:
            worker.start()
            gate = FeedGate(lambda feed_id: worker.may_poll_once(feed_id, started), worker.polled)
        waited = begin(svc, now)
        if waited is not None and waited.translated:
            emit(WaitingTranslated(waited))
        feeds = [f for f in cfg.feeds if f.enabled]
        if len(feeds) >= POOL_MIN_FEEDS and usable_cpus() >= POOL_MIN_CPUS:
            svc.cpu_executor = cpu_pool()
        emit(PollStarted(len(feeds)))
        done = [0]

        def progress(o: FeedOutcome) -> None:
            done[0] += 1
            emit(FeedPolled(o, done[0], len(feeds)))

        async def poll_in_order() -> list[FeedOutcome]:
            return [o for f in feeds for o in await poll_all(svc, [f], progress=progress, gate=gate)]

        outcomes = asyncio.run(poll_in_order() if in_order else poll_all(svc, feeds, progress=progress, gate=gate))
        names = display_names(svc.store)
        dispatched = [r for wl in svc.watchlists for r in dispatch_watchlist(cfg, svc.store, wl, now,
                                                                          force_retry=True)]
        return CycleReport(tuple(outcomes), names, tuple(dispatched), len(svc.watchlists), waited)
    finally:
        if worker is not None:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001 - its leases then run out on their own
                log.warning("could not unregister worker %s", worker.id, exc_info=True)
        svc.close()
