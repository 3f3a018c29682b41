"""The service caps glibc's malloc arenas: threads then share them instead of each holding its own."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")

_THREADS = textwrap.dedent("""
    import ctypes, sys, threading
    from monitor.service.malloc import limit_arenas
    print(limit_arenas(int(sys.argv[1])) if sys.argv[1] != "0" else None, flush=True)
    def work():
        keep = [bytearray(4096) for _ in range(2000)]  # over pymalloc's 512 bytes: malloc's
        del keep
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL(None).malloc_stats()  # one "Arena N:" block per arena, on stderr
""")


def _arenas(cap: str, env: dict[str, str] | None = None) -> tuple[str, int]:
    run = subprocess.run([sys.executable, "-c", _THREADS, cap], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})
    return run.stdout.strip(), sum(line.startswith("Arena ") for line in run.stderr.splitlines())


def test_the_cap_holds_threads_to_the_arenas_allowed() -> None:
    said, capped = _arenas("1")
    assert said == "True" and capped == 1
    said, free = _arenas("0")  # no cap: the threads get arenas of their own
    assert said == "None" and free > 1


def test_an_operators_malloc_arena_max_is_left_as_it_is() -> None:
    said, n = _arenas("1", {"MALLOC_ARENA_MAX": "3"})
    assert said == "False" and n > 1


_HOLES = textwrap.dedent("""
    import sys
    from monitor.service.malloc import Trimmer
    def rss():
        return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024
    keep = [bytearray(2000) for _ in range(60000)]  # ~120 MB of malloc'd blocks
    last = bytearray(2000)  # allocated after them: the heap's top stays in use
    del keep
    before = rss()
    t = Trimmer(every=100)
    t.stored(99)
    untrimmed = (t.trims, rss())
    t.stored(1)
    print(before, untrimmed[0], untrimmed[1], t.trims, rss(), t.pending)
""")


def test_the_trimmer_gives_freed_heap_pages_back_after_enough_items() -> None:
    run = subprocess.run([sys.executable, "-c", _HOLES], capture_output=True, text=True, check=True)
    before, trims_early, rss_early, trims, after, pending = map(int, run.stdout.split())
    assert trims_early == 0 and rss_early >= before - 5  # 99 items: nothing given back yet
    assert trims == 1 and pending == 0
    assert after < before - 60, (before, after)  # the freed 120 MB below the heap's top went back
