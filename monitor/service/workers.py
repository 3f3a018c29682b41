"""Threads that never hold up the database thread or a stop.

:class:`Lane` is a one-thread executor on a *daemon* thread: work that may block for long
(a CTranslate2 model call, a network delivery) runs there, the caller awaits the result,
and a stop never waits for it (a ThreadPoolExecutor's threads are joined at exit).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")


class Lane(Executor):
    """Jobs run one at a time, in order, on one daemon thread started on first use.

    ``busy_since`` is the monotonic time the running job started (None when idle), so a
    caller can tell a lane stuck in one job from a lane that is merely busy."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy_since: float | None = None
        self.done_at = time.monotonic()  # when the last job ended
        self._jobs: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            raise TypeError("Lane.submit takes positional arguments only")
        fut: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"lane {self.name} is shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._jobs.put((fut, fn, args))
        return fut

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fut, fn, args = job
            if not fut.set_running_or_notify_cancel():
                continue
            self.busy_since = time.monotonic()
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001 - handed to the awaiting caller
                fut.set_exception(e)
            finally:
                self.busy_since = None
                self.done_at = time.monotonic()

    def stuck_for(self) -> float:
        """Seconds the current job has been running (0 when idle)."""
        since = self.busy_since
        return time.monotonic() - since if since is not None else 0.0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.submit(fn, *args))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new jobs; the thread ends after the queued ones (``wait``: join it)."""
        with self._lock:
            if not self._closed and self._thread is not None:
                self._jobs.put(None)
            self._closed = True
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()


async def in_daemon_thread(fn: Callable[..., T], *args: Any, name: str = "monitor-io") -> T:
    """Run ``fn(*args)`` on a fresh daemon thread and await its result."""
    fut: Future[T] = Future()

    def work() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn(*args))
        except BaseException as e:  # noqa: BLE001
            fut.set_exception(e)

    threading.Thread(target=work, name=name, daemon=True).start()
    return await asyncio.wrap_future(fut)
