"""Several workers on one PostgreSQL: the generated feeds polled by 1, 2 and 4 daemons.

For each worker count a fresh database; N ``monitor run`` daemons on one config (feeds polled
every few seconds, translation off). Cold: from the start until every item is stored.
Warm: then until every feed has been fetched again (all 304). The same feeds through one
SQLite ``monitor run --once`` give the reference: items stored and matches must be identical for
every worker count (``workers_identical_to_sqlite``); duplicates are reported beside it
(``workers_duplicates``): which later report counts as an *update* of a story depends on the
order reports arrive in, which a daemon's spread start and several workers change (measured: 1
worker on PostgreSQL differs from ``run --once`` on SQLite there too). ``workers_scaling_2`` / ``workers_scaling_4`` are the 1-worker
cold time divided by the 2- and 4-worker ones.

Needs a PostgreSQL server: a throw-away cluster (tests/pgcluster.py) or MONITOR_TEST_POSTGRES_URL;
without one it prints ``{"skipped": "..."}``. ``--feeds`` (default 200; the issue's full
1,000 x 50 is ``--feeds 1000``), ``--smoke``: 3 feeds of 5 items, 1 and 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.feedgen import ServerProcess, write_config, write_feeds

ROOT = Path(__file__).resolve().parent.parent

INTERVAL = "3s"
COUNTS_SQL = ("SELECT COUNT(*), COUNT(duplicate_kind), (SELECT COUNT(*) FROM matches) FROM items i "
              "JOIN feeds f ON f.id = i.feed_id WHERE f.url != 'seeds:'")


def _config(path: Path, urls: list[str], state: Path, database: str | None) -> Path:
    write_config(path, urls, state=state)
    text = path.read_text(encoding="utf-8").replace("  interval: 30m", f"  interval: {INTERVAL}")
    if database:
        text = "\n".join(f"database: {database}" if ln.startswith("database:") else ln for ln in text.splitlines())
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _reference(urls: list[str], tmp: Path) -> tuple[int, int, int]:
    state = tmp / "sqlite"
    cfg = _config(tmp / "sqlite.yaml", urls, state, None)
    subprocess.run([sys.executable, "-m", "monitor", "--config", str(cfg), "run", "--once", "--quiet"],
                   cwd=ROOT, check=True, capture_output=True, timeout=1200)
    conn = sqlite3.connect(state / "monitor.db")
    try:
        return tuple(conn.execute(COUNTS_SQL).fetchone())  # type: ignore[return-value]
    finally:
        conn.close()


def _run_workers(n: int, urls: list[str], tmp: Path, server, expected: int, limit: float) -> dict:
    import psycopg

    db = server.new_database("bench")
    cfg = _config(tmp / f"pg{n}.yaml", urls, tmp / f"pg{n}", db.url)
    env = dict(os.environ, **db.env, MONITOR_LOG_LEVEL="WARNING")
    env.pop("NOTIFY_SOCKET", None)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(cfg), "run"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(n)]
    out: dict = {"workers": n}
    try:
        conn = None
        while time.perf_counter() - t0 < limit:
            time.sleep(0.25)
            try:
                conn = conn or psycopg.connect(db.dsn, autocommit=True)
                stored = conn.execute(COUNTS_SQL).fetchone()[0]
            except psycopg.Error:
                continue
            if stored >= expected:
                break
        out["cold_s"] = round(time.perf_counter() - t0, 2)
        cold_end = time.time()
        assert conn is not None
        while time.perf_counter() - t0 < 2 * limit:
            time.sleep(0.25)
            left = conn.execute("SELECT COUNT(*) FROM feeds WHERE url != 'seeds:' AND "
                                "(last_fetch IS NULL OR last_fetch < %s)", (cold_end,)).fetchone()[0]
            if left == 0:
                break
        out["warm_round_s"] = round(time.time() - cold_end, 2)
        out["counts"] = list(conn.execute(COUNTS_SQL).fetchone())
        conn.close()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--feeds", type=int, default=200)
    args = ap.parse_args()
    feeds, items, counts = (3, 5, (1, 2)) if args.smoke else (args.feeds, 50, (1, 2, 4))
    from tests.pgcluster import ClusterUnavailable, start_cluster

    try:
        server = start_cluster()
    except ClusterUnavailable as e:
        print(json.dumps({"skipped": f"no PostgreSQL server: {e}"}))
        return
    try:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as t:
            tmp = Path(t)
            paths = write_feeds(tmp / "feeds", feeds, items=items)
            with ServerProcess(tmp / "feeds") as srv:
                urls = [srv.url(p.name) for p in paths]
                ref = _reference(urls, tmp)
                runs = [_run_workers(n, urls, tmp, server, ref[0], limit=300.0) for n in counts]
    finally:
        server.stop()
    by = {r["workers"]: r for r in runs}
    doc = {"feeds": feeds, "items_per_feed": items, "interval": INTERVAL,
           "reference_sqlite": {"items": ref[0], "duplicates": ref[1], "matches": ref[2]},
           "workers_cold_s": {str(n): by[n]["cold_s"] for n in counts},
           "workers_warm_round_s": {str(n): by[n]["warm_round_s"] for n in counts},
           "workers_identical_to_sqlite": all((r["counts"][0], r["counts"][2]) == (ref[0], ref[2]) for r in runs),
           "workers_duplicates": {str(n): by[n]["counts"][1] for n in counts},
           "runs": runs}
    for n in counts[1:]:
        doc[f"workers_scaling_{n}"] = round(by[1]["cold_s"] / by[n]["cold_s"], 2) if by[n]["cold_s"] else None
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
