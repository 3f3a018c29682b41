"""Logging to stderr, journald-friendly under systemd.

Under systemd each line starts with a ``<N>`` syslog priority prefix (the
``sd-daemon.h`` convention, which journald turns into the entry's priority)
and carries no timestamp of our own, since the journal stamps every line. From
a terminal the format is human: time, level, logger, message.

Modules log through ``logging.getLogger(__name__)``, which gives short names
such as ``monitor.ingest.fetch``.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from monitor.ingest.scrub import clean_line, scrub_lines

__all__ = [
    "HUMAN_FORMAT",
    "enable_crash_tracebacks",
    "JournalFormatter",
    "ScrubbingFormatter",
    "parse_level",
    "setup_logging",
    "syslog_priority",
    "under_systemd",
]

HUMAN_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
HUMAN_DATEFMT = "%Y-%m-%d %H:%M:%S"

# Third-party loggers that are chatty at INFO (a line per HTTP request or per job run).
NOISY_LOGGERS = ("httpx", "httpcore", "apscheduler", "argostranslate", "urllib3", "filelock", "stanza")

_HANDLER_MARK = "_news_monitor_handler"


def syslog_priority(levelno: int) -> int:
    """Syslog priority for a logging level: DEBUG 7, INFO 6, WARNING 4, ERROR 3, CRITICAL 2."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


class ScrubbingFormatter(logging.Formatter):
    """A Formatter that scrubs what it formats (:mod:`monitor.ingest.scrub`): log messages carry URLs,
    headers, feed titles and server replies, which must not reach a terminal or the journal as
    control sequences, forged lines or bidi tricks. The message becomes one line; traceback
    text keeps its line breaks and loses every other control character."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = clean_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return scrub_lines(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return scrub_lines(super().formatStack(stack_info))


class JournalFormatter(ScrubbingFormatter):
    """``<N>logger: message``; every line of a multi-line record (tracebacks) gets the prefix."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        text = super().format(record)
        return "\n".join(prefix + line for line in text.split("\n"))


def under_systemd(env: Mapping[str, str] | None = None, stream: TextIO | None = None) -> bool:
    """True when stderr goes to the journal of a systemd service.

    ``JOURNAL_STREAM`` (``device:inode`` of the journal stream) counts only if it
    names ``stream`` itself, so a child whose stderr was redirected keeps the
    human format; otherwise ``INVOCATION_ID`` (set for every systemd unit) counts.
    """
    env = os.environ if env is None else env
    journal = env.get("JOURNAL_STREAM", "")
    if journal:
        stream = sys.stderr if stream is None else stream
        try:
            st = os.fstat(stream.fileno())
        except (AttributeError, OSError, ValueError):
            return True  # cannot check (e.g. a wrapped stream): trust the variable
        return journal == f"{st.st_dev}:{st.st_ino}"
    return bool(env.get("INVOCATION_ID"))


def parse_level(level: str | int) -> int:
    """A logging level from a name (any case, ``WARN`` too) or a number."""
    if isinstance(level, int):
        return level
    text = level.strip().upper()
    if text.isdigit():
        return int(text)
    if text == "WARN":
        text = "WARNING"
    value = logging.getLevelNamesMapping().get(text)
    if value is None:
        raise ValueError(f"unknown log level {level!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)")
    return value


def setup_logging(
    level: str | int = "INFO",
    force_journal: bool | None = None,
    *,
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send all logging to ``stream`` (stderr) at ``level``; returns the installed handler.

    ``force_journal`` picks the journal format (True) or the human one (False);
    None decides with :func:`under_systemd`. Calling it again (on reload)
    replaces the previous handler instead of adding a second one.
    """
    levelno = parse_level(level)
    stream = sys.stderr if stream is None else stream
    journal = under_systemd(env, stream) if force_journal is None else force_journal

    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter() if journal else ScrubbingFormatter(HUMAN_FORMAT, HUMAN_DATEFMT))
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(levelno)

    noisy = logging.INFO if levelno <= logging.DEBUG else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(noisy, levelno))
    logging.captureWarnings(True)
    return handler


def enable_crash_tracebacks(stream: TextIO | None = None) -> bool:
    """Dump every thread's stack to stderr on a fatal signal, and on SIGUSR1 without dying.

    systemd's watchdog kills a wedged service with SIGABRT, so the journal then
    shows where each thread was stuck; ``systemctl kill -s USR1 news-monitor``
    shows it for a live one. False if the stream has no file descriptor.
    """
    stream = sys.stderr if stream is None else stream
    try:
        faulthandler.enable(file=stream, all_threads=True)
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True, chain=False)
    except (AttributeError, ValueError, OSError):
        return False
    return True
