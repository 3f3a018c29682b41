"""Logging format: journald priority prefixes under systemd, human format otherwise."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.service.logs import NOISY_LOGGERS, parse_level, setup_logging, syslog_priority, under_systemd

ROOT = Path(__file__).resolve().parent.parent
HUMAN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR|DEBUG|CRITICAL) +\S+: .*$")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for name, lv in noisy.items():
        logging.getLogger(name).setLevel(lv)
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    logging.captureWarnings(False)


def emit_all() -> None:
    log = logging.getLogger("monitor.ingest.fetch")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")


def test_priority_mapping() -> None:
    assert [syslog_priority(lv) for lv in (10, 20, 30, 40, 50)] == [7, 6, 4, 3, 2]
    assert syslog_priority(5) == 7 and syslog_priority(25) == 6 and syslog_priority(60) == 2


def test_journal_format_has_priorities_and_no_timestamps() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", force_journal=True, stream=out)
    emit_all()
    assert out.getvalue().splitlines() == [
        "<7>monitor.ingest.fetch: d",
        "<6>monitor.ingest.fetch: i",
        "<4>monitor.ingest.fetch: w",
        "<3>monitor.ingest.fetch: e",
        "<2>monitor.ingest.fetch: c",
    ]


def test_journal_format_prefixes_every_traceback_line() -> None:
    out = io.StringIO()
    setup_logging("INFO", force_journal=True, stream=out)
    try:
        raise RuntimeError("feed exploded")
    except RuntimeError:
        logging.getLogger("monitor.service.pipeline").exception("poll failed")
    lines = out.getvalue().splitlines()
    assert lines[0] == "<3>monitor.service.pipeline: poll failed"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>RuntimeError: feed exploded"


def test_human_format_has_time_and_level_and_respects_threshold() -> None:
    out = io.StringIO()
    setup_logging("warning", force_journal=False, stream=out)
    emit_all()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert all(HUMAN_LINE.match(line) for line in lines), lines
    assert lines[0].endswith("WARNING  monitor.ingest.fetch: w")


def test_setup_twice_replaces_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("INFO", force_journal=True, stream=first)
    setup_logging("DEBUG", force_journal=True, stream=second)
    logging.getLogger("monitor.x").debug("once")
    assert first.getvalue() == ""
    assert second.getvalue() == "<7>monitor.x: once\n"


def test_noisy_libraries_quieted_at_info() -> None:
    out = io.StringIO()
    setup_logging("INFO", force_journal=True, stream=out)
    logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1/feed 200")
    logging.getLogger("apscheduler.executors.default").info("Running job poll")
    logging.getLogger("apscheduler.scheduler").warning("job missed")
    assert out.getvalue() == "<4>apscheduler.scheduler: job missed\n"


def test_parse_level() -> None:
    assert parse_level("debug") == logging.DEBUG
    assert parse_level("WARN") == logging.WARNING
    assert parse_level("15") == 15
    assert parse_level(logging.ERROR) == logging.ERROR
    with pytest.raises(ValueError, match="unknown log level"):
        parse_level("loud")


def test_under_systemd_detection(tmp_path: Path) -> None:
    with open(tmp_path / "err", "w") as f:
        st = os.fstat(f.fileno())
        mine = f"{st.st_dev}:{st.st_ino}"
        assert under_systemd({"JOURNAL_STREAM": mine}, f)
        assert not under_systemd({"JOURNAL_STREAM": "1:2"}, f)  # inherited, stderr redirected
        assert not under_systemd({"JOURNAL_STREAM": "1:2", "INVOCATION_ID": "abc"}, f)
        assert under_systemd({"INVOCATION_ID": "0123abcd"}, f)
        assert not under_systemd({}, f)


def run_child(tmp_path: Path, extra_env: dict[str, str], journal_is_stderr: bool = False) -> str:
    """Run a real process whose stderr is a file, as systemd would hand it a journal stream."""
    err_path = tmp_path / "stderr"
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    env.update(extra_env)
    code = (
        "import logging; from monitor.service.logs import setup_logging; setup_logging();"
        "logging.getLogger('monitor.service.scheduler').info('started');"
        "logging.getLogger('monitor.ingest.fetch').warning('feed slow')"
    )
    with open(err_path, "w") as err:
        if journal_is_stderr:
            st = os.fstat(err.fileno())
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        subprocess.run([sys.executable, "-c", code], env=env, stderr=err, cwd=ROOT, timeout=30, check=True)
    return err_path.read_text()


def test_real_process_under_journal_stream(tmp_path: Path) -> None:
    text = run_child(tmp_path, {}, journal_is_stderr=True)
    assert text == "<6>monitor.service.scheduler: started\n<4>monitor.ingest.fetch: feed slow\n"


def test_real_process_with_invocation_id(tmp_path: Path) -> None:
    text = run_child(tmp_path, {"INVOCATION_ID": "5f1e9c0d2b7a4e36a1c8d0e4f2b3a697"})
    assert text.splitlines() == ["<6>monitor.service.scheduler: started", "<4>monitor.ingest.fetch: feed slow"]


def test_real_process_from_terminal(tmp_path: Path) -> None:
    lines = run_child(tmp_path, {}).splitlines()
    assert len(lines) == 2 and all(HUMAN_LINE.match(line) for line in lines), lines
    assert lines[1].endswith("WARNING  monitor.ingest.fetch: feed slow")


def test_crash_tracebacks_on_sigusr1_and_watchdog_abort(tmp_path: Path) -> None:
    err_path = tmp_path / "stderr"
    code = (
        "import os, signal, threading, time\n"
        "from monitor.service.logs import enable_crash_tracebacks\n"
        "assert enable_crash_tracebacks()\n"
        "def wedged_poll():\n"
        "    time.sleep(60)\n"
        "threading.Thread(target=wedged_poll, daemon=True).start()\n"
        "time.sleep(0.2)\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "time.sleep(0.2)\n"
        "print('alive', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGABRT)\n"
    )
    with open(err_path, "w") as err:
        proc = subprocess.run([sys.executable, "-c", code], stderr=err, stdout=subprocess.PIPE,
                              cwd=ROOT, timeout=30, text=True)
    text = err_path.read_text()
    assert proc.stdout == "alive\n"  # SIGUSR1 only dumped stacks
    assert proc.returncode == -6  # SIGABRT still kills, as systemd's watchdog intends
    assert "Fatal Python error: Aborted" in text
    assert text.count("in wedged_poll") == 2  # once for SIGUSR1, once for SIGABRT
