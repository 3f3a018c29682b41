"""Daemon start-up benchmark: time to READY=1 and idle RSS, translation not loaded.

``monitor run`` starts as a subprocess with ``NOTIFY_SOCKET`` pointing at a datagram
socket bound here; the clock runs from the spawn to the READY=1 datagram.

- first start: empty state directory, N feeds (default 200) in the config;
- restart: the same feeds after one ``monitor run --once`` stored N x 10 items, so every
  feed's next poll lies in the future and the daemon is truly idle after READY. Its
  RSS (VmRSS from /proc) is read ``--idle`` seconds after READY, and /proc/PID/maps is
  searched for the translation engine (libtorch, libctranslate2, sentencepiece).

Translation is enabled in the config (as shipped), with no models and no installing.
Prints one JSON object; ``--smoke`` uses 3 feeds of 10 items and one repetition.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.feedgen import ROOT, ServerProcess, compile_bytecode, run_child, write_config, write_feeds

TARGET_READY_S = 2.0
TRANSLATION_LIBS = ("libtorch", "libctranslate2", "ctranslate2", "sentencepiece", "argostranslate")


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process in MB."""
    vals = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, rest = line.split(":", 1)
            vals[key] = int(rest.split()[0]) / 1024
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def _mapped(pid: int, needles: tuple[str, ...]) -> list[str]:
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and any(n in parts[5] for n in needles):
            found.add(os.path.basename(parts[5].strip()))
    return sorted(found)


def start_daemon(config: Path, sock_dir: Path, *, idle: float = 0.0, timeout: float = 60.0) -> dict[str, object]:
    """Spawn ``monitor run``; seconds to READY=1, then (after ``idle`` s) RSS and mapped libraries."""
    path = sock_dir / f"notify-{time.monotonic_ns()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "PYTHONUNBUFFERED": "1"}
    env.pop("WATCHDOG_USEC", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(config), "run"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ready_s = None
    messages: list[str] = []
    try:
        while time.perf_counter() - t0 < timeout and proc.poll() is None:
            try:
                data = sock.recv(65536).decode()
            except TimeoutError:
                continue
            messages.append(data)
            if "READY=1" in data.split("\n"):
                ready_s = time.perf_counter() - t0
                break
        if ready_s is None:
            err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"no READY=1 within {timeout} s (exit {proc.poll()}): {err[-1500:]}")
        out: dict[str, object] = {"ready_s": round(ready_s, 3)}
        rss, _ = _rss_mb(proc.pid)
        out["rss_at_ready_mb"] = round(rss, 1)
        if idle > 0:
            time.sleep(idle)
            rss, hwm = _rss_mb(proc.pid)
            out["idle_rss_mb"] = round(rss, 1)
            out["idle_peak_rss_mb"] = round(hwm, 1)
            libs = _mapped(proc.pid, TRANSLATION_LIBS)
            out["translation_libs_mapped"] = libs
            out["translation_loaded"] = bool(libs)
            out["threads"] = len(os.listdir(f"/proc/{proc.pid}/task"))
        return out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()
        sock.close()
        path.unlink(missing_ok=True)


def run(feeds: int, items: int, repeats: int, idle: float, workdir: Path) -> dict[str, object]:
    compile_bytecode()  # the service starts from bytecode, as an installed package does
    paths = write_feeds(workdir / "feeds", feeds, items=items)
    out: dict[str, object] = {"feeds": feeds, "items_per_feed": items}
    baseline = run_child([sys.executable, "-c", "pass"])
    out["python_startup_s"] = round(baseline.wall_s, 3)
    with ServerProcess(workdir / "feeds") as srv:
        urls = [srv.url(p.name) for p in paths]
        firsts = []
        for i in range(repeats):
            state = workdir / f"fresh{i}"
            cfg = write_config(workdir / f"fresh{i}.yaml", urls, state=state, translation=True)
            firsts.append(start_daemon(cfg, workdir))
        state = workdir / "state"
        populate = write_config(workdir / "populate.yaml", urls, state=state, translation=False)
        r = run_child([sys.executable, "-m", "monitor", "--config", str(populate), "run", "--once", "--quiet"])
        if r.returncode != 0:
            raise RuntimeError(f"populating failed: {r.stderr[-1500:]}")
        out["populate_s"] = round(r.wall_s, 2)
        cfg = write_config(workdir / "restart.yaml", urls, state=state, translation=True)
        restarts = [start_daemon(cfg, workdir, idle=idle if i == repeats - 1 else 0.0) for i in range(repeats)]
    first = statistics.median(float(x["ready_s"]) for x in firsts)  # type: ignore[arg-type]
    again = statistics.median(float(x["ready_s"]) for x in restarts)  # type: ignore[arg-type]
    last = restarts[-1]
    out.update({
        "startup_ready_s": round(max(first, again), 3),
        "startup_first_ready_s": round(first, 3),
        "startup_restart_ready_s": round(again, 3),
        "startup_first_runs_s": [x["ready_s"] for x in firsts],
        "startup_restart_runs_s": [x["ready_s"] for x in restarts],
        "idle_rss_mb": last["idle_rss_mb"],
        "idle_peak_rss_mb": last["idle_peak_rss_mb"],
        "rss_at_ready_mb": last["rss_at_ready_mb"],
        "idle_after_ready_s": idle,
        "idle_threads": last["threads"],
        "translation_loaded_at_idle": last["translation_loaded"],
        "translation_libs_mapped": last["translation_libs_mapped"],
        "stored_items": feeds * items,
    })
    out["targets"] = {"startup_ready_s": f"< {TARGET_READY_S:g}", "translation_loaded_at_idle": False}
    out["met"] = {"startup_ready_s": max(first, again) < TARGET_READY_S,
                  "translation_loaded_at_idle": not last["translation_loaded"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="3 feeds x 10 items, one repetition")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=10, help="items per feed stored before the restart")
    ap.add_argument("--repeats", type=int, default=3, help="starts per case (the median is reported)")
    ap.add_argument("--idle", type=float, default=3.0, help="seconds after READY before reading RSS")
    args = ap.parse_args()
    feeds, items, repeats, idle = (3, 10, 1, 1.0) if args.smoke else (args.feeds, args.items, args.repeats,
                                                                        args.idle)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        result = run(feeds, items, repeats, idle, Path(tmp))
    print(json.dumps({"bench": "startup", "smoke": args.smoke, **result,
                      "bench_wall_s": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
