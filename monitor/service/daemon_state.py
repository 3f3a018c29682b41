"""What `monitor status` can truthfully say about the daemon, from the database and the process table.

The daemon writes three things into the ``meta`` table: its heartbeat and pid (every few
seconds), a clean stop (``daemon_stopped``) and the outcome of its last reload
(``reload_rejected``: the problems of a config or watchlist edit it refused, cleared by the
next good reload). "Running" needs all of: a recent heartbeat, no clean stop after it, and a
live process with that pid (so a stop or a crash shows at once, not two minutes later).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.store import Store

HEARTBEAT_STALE = 120.0  # seconds: a heartbeat older than this means a wedged or dead daemon
STOPPED_KEY = "daemon_stopped"
RELOAD_KEY = "reload_rejected"


@dataclass(frozen=True)
class DaemonState:
    running: bool
    pid: int | None
    heartbeat: float | None
    stopped: float | None  # when it last stopped cleanly
    detail: str  # why it counts as not running, e.g. "process 123 is gone"


@dataclass(frozen=True)
class RejectedReload:
    at: float
    what: str  # "config" or "watchlists"
    problems: tuple[str, ...]


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and looks like news-monitor (when /proc says)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process (the service's): it exists
    except OSError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc, or not ours to read: trust kill()
    return b"monitor" in cmdline


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def daemon_state(heartbeat: str | None, pid: str | None, stopped: str | None, now: float,
                 alive: Callable[[int], bool] = pid_alive) -> DaemonState:
    """Pure decision from the stored values (``alive`` checks the process table)."""
    hb, st = _float(heartbeat), _float(stopped)
    try:
        p = int(pid) if pid else None
    except ValueError:
        p = None
    if hb is None:
        return DaemonState(False, p, None, st, "it has never run")
    if st is not None and st >= hb:
        return DaemonState(False, p, hb, st, "stopped cleanly")
    if p is None or not alive(p):
        return DaemonState(False, p, hb, st, f"process {p} is gone (it did not stop cleanly)" if p else
                           "no pid recorded")
    if now - hb > HEARTBEAT_STALE:
        return DaemonState(False, p, hb, st, f"process {p} exists but its heartbeat is stale")
    return DaemonState(True, p, hb, st, "")


def read_state(store: Store, now: float | None = None) -> DaemonState:
    meta = store.meta
    return daemon_state(meta.get("daemon_heartbeat"), meta.get("daemon_pid"), meta.get(STOPPED_KEY),
                        time.time() if now is None else now)


def record_stop(store: Store, now: float | None = None) -> None:
    """Called by the daemon as the last thing of a clean stop."""
    with store.transaction():
        store.meta.set(STOPPED_KEY, str(time.time() if now is None else now))


def record_reload(store: Store, what: str, problems: list[str], now: float | None = None) -> None:
    """A rejected reload (``problems``), or a good one (empty: clears what an earlier one left)."""
    with store.transaction():
        if problems:
            store.meta.set(RELOAD_KEY, json.dumps({"at": time.time() if now is None else now, "what": what,
                                                         "problems": problems[:20]}, ensure_ascii=False))
        else:
            old = rejected_reload(store)
            if old is not None and old.what == what:
                store.meta.delete(RELOAD_KEY)


def rejected_reload(store: Store) -> RejectedReload | None:
    raw = store.meta.get(RELOAD_KEY)
    if not raw:
        return None
    try:
        d = json.loads(raw)
        return RejectedReload(float(d["at"]), str(d["what"]), tuple(str(p) for p in d["problems"]))
    except (ValueError, KeyError, TypeError):
        return None
