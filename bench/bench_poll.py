"""Poll-cycle benchmark: 1,000 feeds x 50 items on 127.0.0.1, cold (all 200) and warm (all 304).

Both cycles run the real service, ``monitor run --once --quiet`` (``monitor.cli.main``), in a
subprocess on a generated config (translation off: it has its own benchmark). Peak RSS is the
service process and its worker processes together (sampled from /proc every 0.25 s; the largest
single process, from wait4(), is beside it). CPU: ``poll_*_tree_cpu_s`` is the whole process tree (the
service, its forkserver and pool workers: the benchmark is their child subreaper and reaps them all);
``poll_*_process_cpu_s`` is wait4() of the main process alone, as before. ``poll_cold_s`` / ``poll_warm_s`` are the cycle itself
(``pipeline.poll_all``: fetch, parse, detect, dedup, match, store of every feed), timed by a
wrapper around the real function; ``poll_*_process_s`` is the whole command (interpreter
start, imports, watchlists, seeds, cycle, digests). The feeds are served by ``bench.feedgen`` in a separate
process, whose CPU time is reported so it can be seen not to be the bottleneck. In the same
run, the floor: the wall time feedparser alone needs to parse the same bodies in a
2-process pool (``sanitize_html=False, resolve_relative_uris=False``).

A cold cycle still running after ``--cold-limit`` seconds is stopped; ``poll_cold_s`` is then
extrapolated from the items it stored (``poll_cold_complete: false``, the measured part under
``poll_cold_estimated_from``), and the warm cycle revalidates the feeds it did fetch (scaled the
same way). Growth of the near-duplicate index makes later items dearer, so an extrapolation
errs on the fast side.

Prints one JSON object. ``--smoke`` uses 4 feeds of 10 items.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.feedgen import ServerProcess, compile_bytecode, run_child, write_config, write_feeds

TARGET_COLD_RATIO = 1.5
TARGET_WARM_S = 2.0
TARGET_RSS_MB = 400.0


def _parse_file(path: str) -> int:
    import feedparser

    with open(path, "rb") as fh:
        d = feedparser.parse(fh.read(), sanitize_html=False, resolve_relative_uris=False)
    return len(d.entries)


def _warm() -> None:
    import feedparser

    feedparser.parse(b"<rss><channel><item><title>x</title></item></channel></rss>")


def _ping(_: int) -> None:
    time.sleep(0.1)


def feedparser_floor(paths: list[Path], processes: int = 2) -> tuple[float, int]:
    """Wall seconds for feedparser alone to parse every file in a warm ``processes``-pool."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes, initializer=_warm) as pool:
        pool.map(_ping, range(2 * processes), chunksize=1)  # every worker up and warm before the clock
        t0 = time.perf_counter()
        counts = pool.map(_parse_file, [str(p) for p in paths], chunksize=4)
        wall = time.perf_counter() - t0
    return wall, sum(counts)


def _count_items(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM items WHERE feed_id IN "
                                "(SELECT id FROM feeds WHERE url != 'seeds:')").fetchone()[0])
    finally:
        conn.close()


def driver(config: Path, report: Path) -> int:
    """In the child: ``monitor run --once --quiet`` with ``pipeline.poll_all`` timed.

    On SIGTERM (the cold-cycle limit) it writes what was done so far and exits 3.
    """
    import resource
    import signal

    t_start = time.perf_counter()
    import monitor.service.pipeline as pipeline
    from monitor.cli import main as cli_main

    real = pipeline.poll_all
    phases: dict[str, float | int | bool] = {"feeds_done": 0, "new_items": 0, "errors": 0}

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def write(partial: bool) -> None:
        phases["partial"] = partial
        report.write_text(json.dumps(phases))

    def on_term(signum: int, frame: object) -> None:
        phases["cycle_s"] = time.perf_counter() - float(phases["cycle_start"])
        phases["cycle_cpu_s"] = cpu() - float(phases["cycle_cpu_start"])
        write(True)
        os._exit(3)

    async def timed_poll_all(*args: object, progress: object = None, **kwargs: object) -> object:
        def counting(o: object) -> None:
            phases["feeds_done"] = int(phases["feeds_done"]) + 1
            phases["new_items"] = int(phases["new_items"]) + o.new_items  # type: ignore[attr-defined]
            phases["errors"] = int(phases["errors"]) + bool(o.error)  # type: ignore[attr-defined]
            if callable(progress):
                progress(o)

        t0, c0 = time.perf_counter(), cpu()
        phases.update(cycle_start=t0, cycle_cpu_start=c0, before_cycle_s=t0 - t_start)
        outcomes = await real(*args, progress=counting, **kwargs)  # type: ignore[arg-type]
        phases["cycle_s"] = time.perf_counter() - t0
        phases["cycle_cpu_s"] = cpu() - c0
        return outcomes

    signal.signal(signal.SIGTERM, on_term)
    pipeline.poll_all = timed_poll_all  # type: ignore[assignment]
    rc = cli_main(["--config", str(config), "run", "--once", "--quiet"])
    phases["total_s"] = time.perf_counter() - t_start
    write(False)
    return rc


def _done_feeds(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT url FROM feeds WHERE etag IS NOT NULL ORDER BY url")]
    finally:
        conn.close()


def run(feeds: int, items: int, workdir: Path, cold_limit: float) -> dict[str, object]:
    compile_bytecode()  # the service starts from bytecode, as an installed package does
    feed_dir = workdir / "feeds"
    t0 = time.perf_counter()
    paths = write_feeds(feed_dir, feeds, items=items)
    gen_s = time.perf_counter() - t0
    total_bytes = sum(p.stat().st_size for p in paths)
    floor_s, floor_items = feedparser_floor(paths)
    n_items = feeds * items
    out: dict[str, object] = {
        "feeds": feeds, "items_per_feed": items, "items": n_items, "feed_bytes": total_bytes,
        "generate_s": round(gen_s, 2), "cold_limit_s": cold_limit,
        "feedparser_cycle_s": round(floor_s, 3), "feedparser_cycle_items": floor_items,
        "feedparser_cycle_items_per_s": round(floor_items / floor_s, 1),
    }
    state = workdir / "state"
    with ServerProcess(feed_dir) as srv:
        urls = [srv.url(p.name) for p in paths]
        report = workdir / "driver.json"
        for cycle in ("cold", "warm"):
            cfg = workdir / f"{cycle}.yaml"
            if cycle == "warm" and not out["poll_cold_complete"]:
                urls = _done_feeds(state / "monitor.db")  # revalidate only what the cold cycle fetched
            write_config(cfg, urls, state=state)
            argv = [sys.executable, "-m", "bench.bench_poll", "--driver", str(cfg), "--report", str(report)]
            srv.stats(reset=True)
            cpu0 = srv.cpu_seconds()
            report.unlink(missing_ok=True)
            r = run_child(argv, timeout=cold_limit if cycle == "cold" else 600.0)
            server_cpu = srv.cpu_seconds() - cpu0
            stats = srv.stats()
            if not report.exists() or (r.returncode != 0 and r.returncode != 3):
                raise RuntimeError(f"monitor run --once failed ({r.returncode}): {r.stderr[-2000:]}")
            ph = json.loads(report.read_text())
            complete = not ph["partial"] and ph["feeds_done"] == feeds
            covered = max(1, int(ph["feeds_done"]) * items)  # items the cycle went through
            cycle_s = float(ph["cycle_s"])
            per_item = cycle_s / covered
            est = per_item * n_items  # the whole cycle; equal to cycle_s when complete
            out[f"poll_{cycle}_complete"] = complete
            out[f"poll_{cycle}_s"] = round(est, 3)
            if not complete:
                out[f"poll_{cycle}_estimated_from"] = {"seconds": round(cycle_s, 2), "feeds": ph["feeds_done"],
                                                       "items": covered}
            out[f"poll_{cycle}_cycle_cpu_s"] = round(float(ph["cycle_cpu_s"]), 2)
            out[f"poll_{cycle}_cycle_cpu_per_item_ms"] = round(float(ph["cycle_cpu_s"]) * 1000 / covered, 3)
            out[f"poll_{cycle}_process_s"] = round(r.wall_s, 3)
            out[f"poll_{cycle}_before_cycle_s"] = round(float(ph["before_cycle_s"]), 3)
            out[f"poll_{cycle}_rss_mb"] = round(r.peak_tree_rss_mb, 1)  # service + its worker processes
            out[f"poll_{cycle}_largest_process_rss_mb"] = round(r.peak_rss_mb, 1)
            out[f"poll_{cycle}_process_cpu_s"] = round(r.cpu_s, 2)  # wait4(): the main process (and what it reaped)
            # the whole process tree: the service, its forkserver and pool workers (bench.feedgen.run_child)
            out[f"poll_{cycle}_tree_cpu_s"] = round(r.tree_cpu_s, 2)
            out[f"poll_{cycle}_tree_cpu_per_item_ms"] = round(r.tree_cpu_s * 1000 / covered, 3)
            out[f"poll_{cycle}_items_per_s"] = round(n_items / est, 1)
            out[f"poll_{cycle}_feeds_per_s"] = round(feeds / est, 1)
            out[f"poll_{cycle}_new_items"] = ph["new_items"]
            out[f"poll_{cycle}_feed_errors"] = ph["errors"]
            out[f"poll_{cycle}_http"] = stats
            out[f"poll_{cycle}_server_cpu_s"] = round(server_cpu, 3)
            if r.stderr.strip():
                out[f"poll_{cycle}_stderr_tail"] = r.stderr.strip()[-500:]
            if cycle == "cold":
                out["poll_cold_items_stored"] = _count_items(state / "monitor.db")
    out["poll_peak_rss_mb"] = max(out["poll_cold_rss_mb"], out["poll_warm_rss_mb"])  # type: ignore[type-var]
    ratio = out["poll_cold_s"] / floor_s  # type: ignore[operator]
    out["poll_cold_vs_feedparser_ratio"] = round(ratio, 2)
    out["targets"] = {
        "poll_cold_vs_feedparser_ratio": f"<= {TARGET_COLD_RATIO}",
        "poll_warm_s": f"< {TARGET_WARM_S}",
        "poll_peak_rss_mb": f"< {TARGET_RSS_MB}",
    }
    out["met"] = {
        "poll_cold_vs_feedparser_ratio": ratio <= TARGET_COLD_RATIO,
        "poll_warm_s": out["poll_warm_s"] < TARGET_WARM_S,  # type: ignore[operator]
        "poll_peak_rss_mb": out["poll_peak_rss_mb"] < TARGET_RSS_MB,  # type: ignore[operator]
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="4 feeds x 10 items")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--workdir", type=Path, help="keep generated feeds and state here")
    ap.add_argument("--cold-limit", type=float, default=300.0,
                    help="stop the cold cycle after this many seconds and extrapolate from what it did")
    ap.add_argument("--driver", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        sys.exit(driver(args.driver, args.report))
    feeds, items = (4, 10) if args.smoke else (args.feeds, args.items)
    t0 = time.perf_counter()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(feeds, items, args.workdir, args.cold_limit)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            result = run(feeds, items, Path(tmp), args.cold_limit)
    result = {"bench": "poll", "smoke": args.smoke, **result, "bench_wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
