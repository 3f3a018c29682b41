"""sd_notify over a real datagram Unix socket, read back as systemd would read it."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.service.sdnotify import Notifier, Watchdog, monotonic_usec, watchdog_interval


class Listener:
    """A NOTIFY_SOCKET like systemd's: datagram, SO_PASSCRED to learn the sender's pid."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(5)

    def recv(self, timeout: float = 5) -> tuple[dict[str, str], int | None]:
        """One message as a dict, and the sender's pid from SCM_CREDENTIALS."""
        self.sock.settimeout(timeout)
        data, anc, _flags, _addr = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", payload[:12])
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
        return fields, pid

    def drain(self, wait: float) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                out.append(self.recv(timeout=left)[0])
            except TimeoutError:
                break
        return out


@pytest.fixture
def listener() -> Iterator[tuple[Listener, str]]:
    # Short directory: AF_UNIX paths are limited to 108 bytes, pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="sdn", dir="/tmp") as d:
        path = str(Path(d) / "notify")
        lst = Listener(path)
        yield lst, path
        lst.sock.close()


def test_disabled_without_notify_socket_is_silent_noop() -> None:
    n = Notifier(env={})
    assert not n.enabled
    assert n.ready("x") is False
    assert n.status("x") is False
    assert n.watchdog() is False
    assert n.reloading() is False
    assert n.stopping() is False
    wd = Watchdog(n, interval=0.01)
    assert not wd.enabled
    wd.start()  # no thread, no error
    wd.stop()


def test_ready_status_stopping_reach_a_path_socket_with_our_pid(listener: tuple[Listener, str]) -> None:
    lst, path = listener
    n = Notifier(env={"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready(status="polling 3 feeds") is True
    fields, pid = lst.recv()
    assert fields == {"READY": "1", "STATUS": "polling 3 feeds"}
    assert pid == os.getpid()
    n.status("12 items\nnext digest 08:00")  # newlines would split the field; they are folded
    assert lst.recv()[0] == {"STATUS": "12 items next digest 08:00"}
    n.stopping()
    assert lst.recv()[0] == {"STOPPING": "1"}
    n.watchdog()
    assert lst.recv()[0] == {"WATCHDOG": "1"}
    n.extend_timeout(2.5)
    assert lst.recv()[0] == {"EXTEND_TIMEOUT_USEC": "2500000"}
    n.close()


def test_reloading_carries_monotonic_usec(listener: tuple[Listener, str]) -> None:
    lst, path = listener
    n = Notifier(path)
    before = monotonic_usec()
    n.reloading()
    n.ready()
    fields, _ = lst.recv()
    after = monotonic_usec()
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after
    assert lst.recv()[0] == {"READY": "1"}


def test_abstract_namespace_socket() -> None:
    name = f"news-monitor-test-{os.getpid()}-{time.monotonic_ns()}"
    lst = Listener(b"\0" + name.encode())
    try:
        n = Notifier(env={"NOTIFY_SOCKET": "@" + name})
        assert n.ready() is True
        assert lst.recv()[0] == {"READY": "1"}
    finally:
        lst.sock.close()


def test_child_process_notifies_from_environment(listener: tuple[Listener, str]) -> None:
    lst, path = listener
    code = "from monitor.service.sdnotify import Notifier; import os; Notifier().ready(f'child {os.getpid()}')"
    env = {**os.environ, "NOTIFY_SOCKET": path}
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).parent.parent, timeout=30)
    assert proc.returncode == 0
    fields, pid = lst.recv()
    assert fields == {"READY": "1", "STATUS": f"child {pid}"}


def test_send_failure_is_reported_not_raised(tmp_path: Path) -> None:
    n = Notifier(str(tmp_path / "nobody-listens"))
    assert n.enabled
    assert n.ready() is False
    assert n.status("still fine") is False


def test_unsupported_address_disables() -> None:
    assert not Notifier(env={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled


@pytest.mark.parametrize(
    ("env", "pid", "expected"),
    [
        ({}, 1, None),
        ({"WATCHDOG_USEC": "30000000"}, 1, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 43, None),
        ({"WATCHDOG_USEC": "0"}, 1, None),
        ({"WATCHDOG_USEC": "soon"}, 1, None),
        ({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}, 1, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], pid: int, expected: float | None) -> None:
    assert watchdog_interval(env, pid=pid) == expected


def test_watchdog_interval_defaults_to_own_pid() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 1.0


def test_watchdog_pings_only_after_progress(listener: tuple[Listener, str]) -> None:
    lst, path = listener
    now = [100.0]
    wd = Watchdog(Notifier(path), interval=10.0, clock=lambda: now[0])
    wd.tick()
    assert wd.poll() is False  # not due yet
    now[0] += 10
    assert wd.poll() is True
    assert lst.recv()[0] == {"WATCHDOG": "1"}
    now[0] += 10
    assert wd.poll() is False  # due, but the loop did not tick: withheld
    assert (wd.pings, wd.skipped) == (1, 1)
    wd.tick()
    now[0] += 3
    assert wd.poll() is False  # ticked, but an interval has not passed since the last check
    now[0] += 7
    assert wd.poll() is True
    assert lst.recv()[0] == {"WATCHDOG": "1"}
    assert lst.drain(0.05) == []


def test_watchdog_thread_stops_pinging_when_loop_wedges(listener: tuple[Listener, str]) -> None:
    lst, path = listener
    wedged = threading.Event()
    done = threading.Event()
    wd = Watchdog(Notifier(path), interval=0.05)
    assert wd.enabled

    def main_loop() -> None:
        while not done.is_set():
            if not wedged.is_set():
                wd.tick()
            time.sleep(0.01)

    loop = threading.Thread(target=main_loop)
    loop.start()
    with wd:
        alive = lst.drain(0.5)
        wedged.set()
        time.sleep(0.1)  # a ping may already be in flight for the last ticks
        lst.drain(0.01)
        silent = lst.drain(0.4)
        wedged.clear()
        recovered = lst.drain(0.3)
    done.set()
    loop.join()
    assert len(alive) >= 5 and all(m == {"WATCHDOG": "1"} for m in alive)
    assert silent == []
    assert len(recovered) >= 2
    assert wd.skipped >= 4


def test_watchdog_disabled_without_interval(
    listener: tuple[Listener, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lst, path = listener
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    wd = Watchdog(Notifier(path))  # interval from the (empty) environment
    assert wd.interval is None and not wd.enabled
    wd.tick()
    assert wd.poll() is False
    wd.start()
    wd.stop()
    assert lst.drain(0.05) == []


def test_watchdog_interval_from_environment(
    listener: tuple[Listener, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _lst, path = listener
    monkeypatch.setenv("WATCHDOG_USEC", "4000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    wd = Watchdog(Notifier(path))
    assert wd.interval == 2.0 and wd.enabled
