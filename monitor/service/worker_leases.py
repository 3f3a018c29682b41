"""This daemon as one of several workers on a shared PostgreSQL store.

On SQLite one daemon owns the state (a file lock) and nothing here applies: ``Worker.for_store``
returns None. On PostgreSQL every ``monitor run`` registers a worker (host, pid, a random
suffix), beats its heartbeat with the daemon's heartbeat, takes a feed's lease before polling it
(another worker holding it, or having polled it since, means: not now), releases it after the
poll, and runs retention only while it holds the ``retention`` task. A translation-only worker
(role ``translate``) claims items waiting for a translation instead of feeds. A worker killed with -9
renews nothing: its feeds are polled by the others once its leases run out (the lease period,
``MONITOR_LEASE_SECONDS``, 60 s by default). Digests need nothing here: the ledger's claim
decides which worker delivers a slot.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LEASE_ENV = "MONITOR_LEASE_SECONDS"
DEFAULT_LEASE = 60.0


def lease_seconds(env: Mapping[str, str] = os.environ) -> float:
    try:
        value = float(env.get(LEASE_ENV, "") or DEFAULT_LEASE)
    except ValueError:
        return DEFAULT_LEASE
    return value if value >= 1 else DEFAULT_LEASE


@dataclass
class Worker:
    leases: Any  # monitor.store.postgres.leases.PgLeases
    id: str
    lease: float
    role: str = "all"

    @classmethod
    def for_store(cls, store: Any, role: str = "all") -> Worker | None:
        """A worker on ``store`` when it is shared (PostgreSQL), else None."""
        leases = getattr(store, "leases", None)
        if leases is None:
            return None
        ident = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        return cls(leases, ident, lease_seconds(), role)

    def start(self) -> None:
        self.leases.register(self.id, socket.gethostname(), os.getpid(), self.role)

    def beat(self) -> None:
        self.leases.heartbeat(self.id, self.lease)

    def may_poll(self, feed_id: int) -> bool:
        """Take ``feed_id``'s lease: False when another live worker holds it or it is not due."""
        return self.leases.claim_feeds(self.id, 1, self.lease, feed_ids=[feed_id]) == [feed_id]

    def may_poll_once(self, feed_id: int, started: float) -> bool:
        """``monitor run --once``: take ``feed_id``'s lease unless another worker holds it or began
        fetching it since ``started`` (two runs at once never poll one feed twice)."""
        return self.leases.claim_feeds(self.id, 1, self.lease, feed_ids=[feed_id], fetched_before=started) == [feed_id]

    def polled(self, feed_id: int) -> None:
        self.leases.release_feed(self.id, feed_id)

    def may_run(self, task: str, period: float) -> bool:
        """Hold the once-only ``task`` for a little less than its period (the holder renews it)."""
        return bool(self.leases.claim_task(self.id, task, max(self.lease, period * 0.9), time.time()))

    def take_once(self, task: str) -> bool:
        """Hold ``task`` while doing it (release with ``done``): False when another worker does it now."""
        return bool(self.leases.claim_task(self.id, task, self.lease, time.time()))

    def done(self, task: str) -> None:
        self.leases.release_task(self.id, task)

    def claim_translations(self, language: str | None, script: str | None, limit: int) -> list[Any]:
        """Items waiting for a translation that this worker now holds (a translation-only worker)."""
        return list(self.leases.claim_translations(self.id, language, script, limit, self.lease))

    def translated(self, item_ids: list[int]) -> None:
        self.leases.release_translations(self.id, item_ids)

    def stop(self) -> None:
        self.leases.unregister(self.id)


@dataclass(frozen=True)
class WorkerStatus:
    """One worker as ``monitor status`` shows it."""

    id: str
    role: str
    started: float
    heartbeat: float
    feeds: int  # feed leases it holds now
    alive: bool  # its heartbeat is younger than a lease period (plus one heartbeat)


def worker_status(store: Any, now: float, heartbeat_every: float) -> list[WorkerStatus] | None:
    """The registered workers of a shared store, None on SQLite (one daemon, no workers table)."""
    leases = getattr(store, "leases", None)
    if leases is None:
        return None
    limit = lease_seconds() + heartbeat_every
    return [WorkerStatus(w.id, w.role, w.started, w.heartbeat, w.feeds, now - w.heartbeat <= limit)
            for w in leases.workers()]
