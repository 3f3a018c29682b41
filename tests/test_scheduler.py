"""Pure scheduling rules of the daemon (the daemon itself is tested as a subprocess in test_daemon.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from monitor.service.scheduler import in_quiet_hours


def utc(h: int, m: int = 0, day: int = 25) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=timezone.utc)


def test_quiet_hours_spanning_midnight_in_the_watchlist_timezone() -> None:
    quiet = ("22:00", "07:00")
    # Moscow is UTC+3: 20:30 UTC is 23:30 MSK, quiet until 07:00 MSK next day = 04:00 UTC
    assert in_quiet_hours(quiet, "Europe/Moscow", utc(20, 30)) == utc(4, 0, day=26)
    # 02:00 UTC is 05:00 MSK: quiet until 07:00 MSK the same day
    assert in_quiet_hours(quiet, "Europe/Moscow", utc(2, 0)) == utc(4, 0)
    # 10:00 UTC is 13:00 MSK: not quiet
    assert in_quiet_hours(quiet, "Europe/Moscow", utc(10, 0)) is None


def test_quiet_hours_within_one_day_and_none() -> None:
    assert in_quiet_hours(("12:00", "14:00"), "UTC", utc(13, 0)) == utc(14, 0)
    assert in_quiet_hours(("12:00", "14:00"), "UTC", utc(14, 0)) is None
    assert in_quiet_hours(None, "UTC", utc(13, 0)) is None
