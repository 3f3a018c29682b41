"""The systemd service notification protocol (sd_notify), without dependencies.

A service started with ``Type=notify`` finds a datagram Unix socket in
``$NOTIFY_SOCKET`` (a path, or an abstract-namespace name when it starts with
``@``) and sends newline-separated ``KEY=VALUE`` assignments to it: ``READY=1``,
``RELOADING=1``, ``STOPPING=1``, ``STATUS=...``, ``WATCHDOG=1``. Without
``$NOTIFY_SOCKET`` every call is a silent no-op, so the daemon runs the same
way from a terminal.

:class:`Watchdog` turns ``WATCHDOG=1`` into a liveness proof: the main loop
calls :meth:`Watchdog.tick` whenever it makes real progress, and a ping goes
out only when the loop ticked since the previous ping, so a wedged loop stops
pinging and systemd restarts the service after ``WatchdogSec=``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

__all__ = ["Notifier", "Watchdog", "watchdog_interval", "monotonic_usec"]

log = logging.getLogger(__name__)


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, as systemd expects in MONOTONIC_USEC=."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None if not wanted.

    None when ``WATCHDOG_USEC`` is missing, not a positive integer, or when
    ``WATCHDOG_PID`` is set and names another process (the variables were
    inherited, not meant for us).
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "").strip()
    try:
        usec = int(raw)
    except ValueError:
        return None
    if usec <= 0:
        return None
    wpid = env.get("WATCHDOG_PID", "").strip()
    if wpid:
        try:
            if int(wpid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000


def _address(raw: str) -> str | bytes | None:
    """Socket address for a ``$NOTIFY_SOCKET`` value; None if unsupported."""
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None  # e.g. vsock:... (systemd >= 253 in VMs), not supported here


class Notifier:
    """Sends sd_notify messages to ``$NOTIFY_SOCKET``; a silent no-op without it.

    Safe to call from several threads. Send failures are logged once at
    WARNING and otherwise ignored: notification must never take the daemon down.
    """

    def __init__(self, socket_path: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        raw = socket_path if socket_path is not None else env.get("NOTIFY_SOCKET", "")
        self._address = _address(raw) if raw else None
        if raw and self._address is None:
            log.warning("NOTIFY_SOCKET=%r is not a supported address; not notifying systemd", raw)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when a notification socket is configured."""
        return self._address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one datagram of ``KEY=VALUE`` lines; True if it was sent."""
        if self._address is None or not fields:
            return False
        lines = []
        for key, value in fields.items():
            text = str(value)
            if "\n" in text:
                raise ValueError(f"sd_notify value for {key} must be one line")
            lines.append(f"{key}={text}")
        payload = "\n".join(lines).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(payload, self._address)
                return True
            except OSError as exc:
                if not self._warned:
                    log.warning("cannot notify systemd at %r: %s", self._address, exc)
                    self._warned = True
                return False

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (start-up or reload finished), with an optional STATUS=."""
        if status is None:
            return self.notify(READY=1)
        return self.notify(READY=1, STATUS=_one_line(status))

    def reloading(self) -> bool:
        """RELOADING=1 with MONOTONIC_USEC= (as Type=notify-reload requires); send ready() after."""
        return self.notify(RELOADING=1, MONOTONIC_USEC=monotonic_usec())

    def stopping(self, status: str | None = None) -> bool:
        """STOPPING=1: shutdown has begun."""
        if status is None:
            return self.notify(STOPPING=1)
        return self.notify(STOPPING=1, STATUS=_one_line(status))

    def status(self, text: str) -> bool:
        """STATUS=: one line shown by ``systemctl status``."""
        return self.notify(STATUS=_one_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: unconditional keep-alive ping (prefer :class:`Watchdog`)."""
        return self.notify(WATCHDOG=1)

    def extend_timeout(self, seconds: float) -> bool:
        """EXTEND_TIMEOUT_USEC=: ask for more time in a slow start, reload or stop step."""
        return self.notify(EXTEND_TIMEOUT_USEC=max(0, int(seconds * 1_000_000)))

    def close(self) -> None:
        """Close the socket (a later call reopens it)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Watchdog:
    """Progress-driven ``WATCHDOG=1`` pings.

    Call :meth:`tick` from the main loop each time it makes real progress and
    either :meth:`start` a background thread or call :meth:`poll` regularly.
    Every ``interval`` seconds (half of ``WATCHDOG_USEC`` by default) a ping is
    sent only if :meth:`tick` was called since the previous ping. With no
    interval (no watchdog configured) everything is a no-op.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.interval = watchdog_interval() if interval is None else interval
        if self.interval is not None and self.interval <= 0:
            raise ValueError("watchdog interval must be positive")
        self._clock = clock
        self._ticked = False
        self._last_ping = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.pings = 0
        self.skipped = 0

    @property
    def enabled(self) -> bool:
        """True when systemd asked for a watchdog and a socket is configured."""
        return self.interval is not None and self.notifier.enabled

    def tick(self) -> None:
        """Record that the main loop made progress (cheap; any thread)."""
        self._ticked = True

    def poll(self) -> bool:
        """Ping if an interval has elapsed since the last ping and the loop ticked; True if pinged."""
        if self.interval is None:
            return False
        with self._lock:
            now = self._clock()
            if now - self._last_ping < self.interval:
                return False
            self._last_ping = now
            if not self._ticked:
                self.skipped += 1
                log.warning("main loop made no progress in %.1f s; withholding watchdog ping", self.interval)
                return False
            self._ticked = False
            self.pings += 1
        self.notifier.watchdog()
        return True

    def start(self) -> None:
        """Run :meth:`poll` on a daemon thread until :meth:`stop` (no-op if disabled)."""
        if not self.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._last_ping = self._clock()
        assert self.interval is not None
        step = min(self.interval / 4, 1.0)

        def run() -> None:
            while not self._stop.wait(step):
                self.poll()

        self._thread = threading.Thread(target=run, name="sd-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> Watchdog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
