"""Article extraction in a bounded worker process.

trafilatura on a hostile page is neither fast nor small: a 4.6 MB page of links
costs ~25 s and 0.5 GB, and several at once took the service past its 2 GB
MemoryMax. So each extraction runs in a child process:

- started from a ``forkserver`` that imported trafilatura once (a fork of a clean,
  single-threaded process, not of the daemon with its threads; tens of ms each);
- with ``RLIMIT_AS`` set in the child to its current size plus the memory budget,
  so a page that needs more gets ``MemoryError`` (or dies) instead of the service,
  and, because a seccomp sandbox may refuse setrlimit (the systemd unit's
  ``SystemCallFilter=~@resources`` does, with EPERM), the parent also watches the
  child's resident size and kills it past the same budget;
- killed at the deadline;
- at most ``concurrency`` at a time (one semaphore per event loop, all feeds together).

The outcome is an :class:`Extraction`; nothing here raises for a bad page.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import threading
import time
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Extraction", "extract_bounded", "extract_in_process"]

# "__main__": the forkserver imports the main script once (the `monitor` console script: one import
# of monitor.cli), so each worker does not import it again as __mp_main__ (a package's __main__, as
# in `python -m monitor`, is never imported). Like every forkserver user, a main script must be
# importable without side effects (an `if __name__ == "__main__":` guard).
_PRELOAD = ["__main__", "monitor.ingest.extract_worker", "trafilatura", "lxml.html"]
_lock = threading.Lock()
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, asyncio.Semaphore]] = \
    weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Extraction:
    status: str  # ok | extract-timeout | extract-memory | extract-failed
    text: str | None = None
    error: str | None = None
    title: str | None = None  # the page's title, when asked for (``with_title``)


def extract_in_process(html: str, url: str | None = None) -> str:
    """The main text of an article page (trafilatura; comments, navigation and tables left out)."""
    from monitor.ingest.seeds import extract_article

    return extract_article(html, url)[0]


def _vm_size() -> int:
    """This process's virtual memory size in bytes (0 when /proc is not there)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _rss(pid: int) -> int:
    """Resident set size of process ``pid`` in bytes (0 when it is gone or /proc is not there)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _child(conn: Connection, html: str, url: str | None, memory: int, rlimit: bool, with_title: bool = False) -> None:
    """Worker body: limit the address space, extract, send (status, text, error, title) back."""
    try:
        if memory > 0 and rlimit:
            limit = _vm_size() + memory
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            except (OSError, ValueError):
                pass  # a seccomp filter refusing setrlimit (the unit's ~@resources): the parent's watch holds
        if with_title:
            from monitor.ingest.seeds import extract_article

            text, title = extract_article(html, url)
            conn.send(("ok", text, None, title))
        else:
            conn.send(("ok", extract_in_process(html, url), None, None))
    except MemoryError:
        conn.send(("extract-memory", None, f"extraction needed more than {memory >> 20} MiB", None))
    except BaseException as e:  # noqa: BLE001 - report, never hang the parent
        try:
            conn.send(("extract-failed", None, f"{type(e).__name__}: {e}"[:300], None))
        except BaseException:  # noqa: BLE001 - the pipe itself failed (out of memory while pickling)
            pass
    finally:
        conn.close()


def _context() -> Any:
    with _lock:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)  # effective when the forkserver starts (once)
        return ctx


def _run(html: str, url: str | None, timeout: float, memory: int, *, rlimit: bool = True,
         with_title: bool = False) -> Extraction:
    """Blocking: one worker process, its deadline and its answer.

    Memory is bounded twice: ``RLIMIT_AS`` in the child (``rlimit``; a sandbox may refuse
    setrlimit) and, always, this side watching the child's resident size every 50 ms and
    killing it past its starting size plus ``memory``."""
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, html, url, memory, rlimit, with_title), daemon=True,
                       name="news-monitor-extract")
    try:
        try:
            proc.start()
        except (OSError, RuntimeError, EOFError) as e:  # no forkserver (no writable temp dir, no fork)
            return Extraction("extract-failed", error=f"cannot start an extraction worker: {e}"[:300])
        finally:
            sender.close()
        deadline = time.monotonic() + timeout
        base = 0
        while not receiver.poll(min(0.05, max(0.0, deadline - time.monotonic()))):
            rss = _rss(proc.pid or 0)
            base = base or rss
            if memory > 0 and base and rss > base + memory:
                proc.kill()
                return Extraction("extract-memory", error=f"extraction needed more than {memory >> 20} MiB "
                                  f"(resident {rss >> 20} MiB); worker stopped")
            if time.monotonic() >= deadline:
                return Extraction("extract-timeout", error=f"extraction did not finish within {timeout:g} s")
        try:
            status, text, error, title = receiver.recv()
        except (EOFError, OSError):  # died without a word: killed by the kernel, crashed in C code
            proc.join(1.0)
            code = proc.exitcode
            what = "ran out of memory" if code is not None and code < 0 else "failed"
            return Extraction("extract-memory" if code is not None and code < 0 else "extract-failed",
                              error=f"extraction worker {what} (exit code {code})")
        return Extraction(status, text, error, title)
    finally:
        receiver.close()
        if proc.pid is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(2.0)
            try:
                proc.close()
            except ValueError:  # still running after kill and 2 s: leave it to the reaper
                pass


def _semaphore(concurrency: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    have = _semaphores.get(loop)
    if have is None or have[0] != concurrency:
        have = (concurrency, asyncio.Semaphore(concurrency))
        _semaphores[loop] = have
    return have[1]


async def extract_bounded(html: str, url: str | None, *, timeout: float, memory: int,
                          concurrency: int, with_title: bool = False) -> Extraction:
    """Extract in a worker process: at most ``concurrency`` at once, ``timeout`` seconds each,
    ``memory`` bytes of address space on top of the worker's own (``with_title``: the page's
    title too, for ``monitor seeds add URL``)."""
    async with _semaphore(max(1, concurrency)):
        return await asyncio.to_thread(_run, html, url, timeout, memory, with_title=with_title)
