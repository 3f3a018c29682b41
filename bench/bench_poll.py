"""Poll-cycle benchmark: 1,000 feeds x 50 items on 127.0.0.1, cold (all 200) and warm (all 304).

Both cycles run the real service, ``monitor run --once --quiet`` (``monitor.cli.main``), in a
subprocess on a generated config (translation off: it has its own benchmark); the child's own
peak RSS and CPU come from wait4(). ``poll_cold_s`` / ``poll_warm_s`` are the cycle itself
(``pipeline.poll_all``: fetch, parse, detect, dedup, match, store of every feed), timed by a
wrapper around the real function; ``poll_*_process_s`` is the whole command (interpreter
start, imports, watchlists, seeds, cycle, digests). The feeds are served by ``bench.feedgen`` in a separate
process, whose CPU time is reported so it can be seen not to be the bottleneck. In the same
run, the floor: the wall time feedparser alone needs to parse the same bodies in a
2-process pool (``sanitize_html=False, resolve_relative_uris=False``).

Prints one JSON object. ``--smoke`` uses 4 feeds of 10 items.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.feedgen import ServerProcess, run_child, write_config, write_feeds

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
    """In the child: ``monitor run --once --quiet`` with ``pipeline.poll_all`` timed."""
    t_start = time.perf_counter()
    import monitor.pipeline as pipeline
    from monitor.cli import main as cli_main

    real = pipeline.poll_all
    phases: dict[str, float] = {}

    async def timed_poll_all(*args: object, **kwargs: object) -> object:
        t0 = time.perf_counter()
        outcomes = await real(*args, **kwargs)  # type: ignore[arg-type]
        phases["cycle_s"] = time.perf_counter() - t0
        phases["before_cycle_s"] = t0 - t_start
        phases["feeds"] = len(outcomes)
        phases["new_items"] = sum(o.new_items for o in outcomes)
        phases["errors"] = sum(1 for o in outcomes if o.error)
        return outcomes

    pipeline.poll_all = timed_poll_all  # type: ignore[assignment]
    rc = cli_main(["--config", str(config), "run", "--once", "--quiet"])
    phases["total_s"] = time.perf_counter() - t_start
    report.write_text(json.dumps(phases))
    return rc


def run(feeds: int, items: int, workdir: Path) -> dict[str, object]:
    feed_dir = workdir / "feeds"
    t0 = time.perf_counter()
    paths = write_feeds(feed_dir, feeds, items=items)
    gen_s = time.perf_counter() - t0
    total_bytes = sum(p.stat().st_size for p in paths)
    floor_s, floor_items = feedparser_floor(paths)
    out: dict[str, object] = {
        "feeds": feeds, "items_per_feed": items, "items": feeds * items, "feed_bytes": total_bytes,
        "generate_s": round(gen_s, 2),
        "feedparser_cycle_s": round(floor_s, 3), "feedparser_cycle_items": floor_items,
        "feedparser_cycle_items_per_s": round(floor_items / floor_s, 1),
    }
    state = workdir / "state"
    with ServerProcess(feed_dir) as srv:
        cfg = write_config(workdir / "config.yaml", [srv.url(p.name) for p in paths], state=state)
        report = workdir / "driver.json"
        argv = [sys.executable, "-m", "bench.bench_poll", "--driver", str(cfg), "--report", str(report)]
        for cycle in ("cold", "warm"):
            srv.stats(reset=True)
            cpu0 = srv.cpu_seconds()
            r = run_child(argv)
            server_cpu = srv.cpu_seconds() - cpu0
            stats = srv.stats()
            if r.returncode != 0:
                raise RuntimeError(f"monitor run --once failed ({r.returncode}): {r.stderr[-2000:]}")
            phases = json.loads(report.read_text())
            cycle_s = phases["cycle_s"]
            out[f"poll_{cycle}_s"] = round(cycle_s, 3)
            out[f"poll_{cycle}_process_s"] = round(r.wall_s, 3)
            out[f"poll_{cycle}_before_cycle_s"] = round(phases["before_cycle_s"], 3)
            out[f"poll_{cycle}_rss_mb"] = round(r.peak_rss_mb, 1)
            out[f"poll_{cycle}_process_cpu_s"] = round(r.cpu_s, 2)
            out[f"poll_{cycle}_items_per_s"] = round(feeds * items / cycle_s, 1)
            out[f"poll_{cycle}_feeds_per_s"] = round(feeds / cycle_s, 1)
            out[f"poll_{cycle}_new_items"] = phases["new_items"]
            out[f"poll_{cycle}_feed_errors"] = phases["errors"]
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
    ap.add_argument("--driver", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.driver:
        sys.exit(driver(args.driver, args.report))
    feeds, items = (4, 10) if args.smoke else (args.feeds, args.items)
    t0 = time.perf_counter()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(feeds, items, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
            result = run(feeds, items, Path(tmp))
    result = {"bench": "poll", "smoke": args.smoke, **result, "bench_wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
