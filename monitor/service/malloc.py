"""The C allocator's settings for the service process (glibc only; elsewhere nothing changes).

glibc gives each thread that allocates its own malloc arena (up to 8 per core); freed memory
stays in the arena it came from, so a process whose threads take turns on the same work (the
event loop, the database lane, the translation and delivery workers) holds several partly
empty heaps. Two arenas are enough for these threads: at the end of a 15,000-item cold cycle,
RSS was 336 MB uncapped and 305 MB with two (see the README's benchmarks).
"""

from __future__ import annotations

import ctypes
import logging
import os

__all__ = ["ARENAS", "TRIM_EVERY", "Trimmer", "limit_arenas"]

log = logging.getLogger(__name__)

ARENAS = 2
TRIM_EVERY = 1000  # stored items between two trims (a trim of a 300 MB heap takes about a millisecond)
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def limit_arenas(n: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``n`` (call before the process starts its threads). An operator's
    ``MALLOC_ARENA_MAX`` wins; True when the cap was set here."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:  # not glibc (musl, macOS): its own allocator, left alone
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = bool(mallopt(_M_ARENA_MAX, n))
    if not ok:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", n)
    return ok


class Trimmer:
    """Gives the pages of freed memory back to the system every ``every`` stored items
    (``malloc_trim``): a cold cycle frees as much as it keeps (parsed feeds, analysis scratch),
    and the holes it leaves in the heap would otherwise stay resident until reused."""

    def __init__(self, every: int = TRIM_EVERY) -> None:
        self.every = every
        self.pending = 0
        self.trims = 0
        self._trim = getattr(_libc(), "malloc_trim", None)

    def stored(self, n: int) -> None:
        """Count ``n`` newly stored items; trim when ``every`` have gathered."""
        self.pending += n
        if self.pending >= self.every and self._trim is not None:
            self.pending = 0
            self._trim(0)
            self.trims += 1
