"""Parsing of human-written durations ("30m", "7d") and sizes ("5MB")."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|kib|mib|gib)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "k": 1000, "kb": 1000, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_duration(value: str | int | float) -> float:
    """Seconds from 90, "90s", "30m", "2h", "7d" or "1w". Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30m, got {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration such as 90s, 30m, 2h or 7d, got {value!r}")
    return float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]


def parse_size(value: str | int) -> int:
    """Bytes from 1048576, "5MB", "512kB" or "1MiB". Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 5MB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ValueError(f"expected a size such as 5MB or 512kB, got {value!r}")
    return int(float(m.group(1)) * _SIZE_UNITS[(m.group(2) or "b").lower()])
