"""Peer benchmark: the same generated feeds through news-monitor and through ``reader``, in one run.

``reader`` (lemon24's feed reader library: feedparser + SQLite, PyPI ``reader``, pinned in the
test extra) is what a self-hoster would otherwise run. Both read the same ``bench.feedgen``
feeds from one server process on 127.0.0.1, each on a fresh database, rounds interleaved
(reader first in odd rounds, news-monitor first in even ones) so drift of the machine hits
both alike:

- cold: a fresh database, every feed fetched (200) and stored; news-monitor is
  ``monitor run --once --quiet`` (every stage but translation, which is off: it has its own
  benchmark), reader is ``make_reader`` + ``add_feed`` for each feed + ``update_feeds``;
- warm: the same again on the database the cold cycle left: every feed answers 304.

Each cycle is a whole process (interpreter start, imports and set-up included: start-up is
part of what a cron-driven or restarted poller pays). CPU is the whole process tree (pool
workers included, see ``bench.feedgen.run_child``), RSS the peak of the tree. Figures are
medians over the rounds; every ratio is news-monitor / reader (< 1: news-monitor is better):
``peer_cold_ratio``, ``peer_warm_ratio``, ``peer_cpu_per_item_ratio``, ``peer_rss_ratio``.

Prints one JSON object. ``--smoke``: 4 feeds x 10 items, one round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.feedgen import ChildRun, ServerProcess, compile_bytecode, run_child, write_config, write_feeds

DEFAULT_FEEDS = 200  # x 50 items: both systems' cold and warm cycles, twice, in about two minutes on 2 cores
DEFAULT_ROUNDS = 2
READER_WORKERS = 4  # reader's update_feeds(workers=N): threads fetching and parsing


def reader_driver(db: Path, urls_file: Path, workers: int) -> int:
    """In the child: one reader cycle (adds the feeds on a fresh database, then updates them all)."""
    from reader import make_reader

    urls = urls_file.read_text(encoding="utf-8").split()
    r = make_reader(str(db))
    try:
        for u in urls:
            r.add_feed(u, exist_ok=True)
        r.update_feeds(workers=workers, scheduled=False)  # every feed, due or not (the warm cycle too)
        counts = r.get_entry_counts()
        print(json.dumps({"entries": counts.total}))
    finally:
        r.close()
    return 0


def _entries(r: ChildRun) -> int:
    try:
        return int(json.loads(r.stdout.strip().splitlines()[-1])["entries"])
    except (IndexError, ValueError, KeyError):
        return -1


def run(feeds: int, items: int, rounds: int, workdir: Path, workers: int) -> dict[str, object]:
    compile_bytecode()  # both systems start from bytecode, as installed packages do
    paths = write_feeds(workdir / "feeds", feeds, items=items)
    n_items = feeds * items
    runs: dict[str, list[ChildRun]] = {f"{s}_{c}": [] for s in ("monitor", "reader") for c in ("cold", "warm")}
    http: dict[str, dict[str, int]] = {}
    entries: list[int] = []
    with ServerProcess(workdir / "feeds") as srv:
        urls = [srv.url(p.name) for p in paths]
        urls_file = workdir / "urls.txt"
        urls_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
        for rnd in range(rounds):
            order = ("reader", "monitor") if rnd % 2 == 0 else ("monitor", "reader")
            for system in order:
                state = workdir / f"{system}-{rnd}"
                state.mkdir(parents=True)
                if system == "monitor":
                    cfg = write_config(state / "config.yaml", urls, state=state)
                    argv = [sys.executable, "-m", "monitor", "--config", str(cfg), "run", "--once", "--quiet"]
                else:
                    argv = [sys.executable, "-m", "bench.bench_peer", "--reader-driver", str(state / "reader.db"),
                            "--urls", str(urls_file), "--workers", str(workers)]
                for cycle in ("cold", "warm"):
                    srv.stats(reset=True)
                    r = run_child(argv, timeout=900.0)
                    if r.returncode != 0:
                        raise RuntimeError(f"{system} {cycle} cycle failed ({r.returncode}): {r.stderr[-2000:]}")
                    runs[f"{system}_{cycle}"].append(r)
                    http[f"{system}_{cycle}"] = srv.stats()
                    if system == "reader" and cycle == "cold":
                        entries.append(_entries(r))

    def med(key: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs[key])

    out: dict[str, object] = {"feeds": feeds, "items_per_feed": items, "items": n_items, "rounds": rounds,
                              "reader_workers": workers, "reader_entries_stored": entries, "http": http}
    for key in runs:
        out[f"{key}_s"] = round(med(key, "wall_s"), 3)
        out[f"{key}_tree_cpu_s"] = round(med(key, "tree_cpu_s"), 2)
        out[f"{key}_rss_mb"] = round(med(key, "peak_tree_rss_mb"), 1)
    for system in ("monitor", "reader"):
        out[f"{system}_cpu_per_item_ms"] = round(med(f"{system}_cold", "tree_cpu_s") * 1000 / n_items, 3)
        out[f"{system}_peak_rss_mb"] = round(max(med(f"{system}_cold", "peak_tree_rss_mb"),
                                                 med(f"{system}_warm", "peak_tree_rss_mb")), 1)

    def ratio(a: object, b: object) -> float:
        return round(float(a) / float(b), 3) if float(b) > 0 else float("inf")  # type: ignore[arg-type]

    out["peer_cold_ratio"] = ratio(out["monitor_cold_s"], out["reader_cold_s"])
    out["peer_warm_ratio"] = ratio(out["monitor_warm_s"], out["reader_warm_s"])
    out["peer_cpu_per_item_ratio"] = ratio(out["monitor_cpu_per_item_ms"], out["reader_cpu_per_item_ms"])
    out["peer_rss_ratio"] = ratio(out["monitor_peak_rss_mb"], out["reader_peak_rss_mb"])
    out["targets"] = {"peer_cold_ratio": "<= 1.0", "peer_warm_ratio": "<= 1.0"}
    out["met"] = {"peer_cold_ratio": out["peer_cold_ratio"] <= 1.0,  # type: ignore[operator]
                  "peer_warm_ratio": out["peer_warm_ratio"] <= 1.0}  # type: ignore[operator]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="4 feeds x 10 items, one round")
    ap.add_argument("--feeds", type=int, default=DEFAULT_FEEDS)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    ap.add_argument("--workers", type=int, default=READER_WORKERS, help="reader's update_feeds(workers=N)")
    ap.add_argument("--workdir", type=Path, help="keep generated feeds and state here")
    ap.add_argument("--reader-driver", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--urls", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reader_driver:
        sys.exit(reader_driver(args.reader_driver, args.urls, args.workers))
    feeds, items, rounds = (4, 10, 1) if args.smoke else (args.feeds, args.items, args.rounds)
    t0 = time.perf_counter()
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        result = run(feeds, items, rounds, args.workdir, args.workers)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
            result = run(feeds, items, rounds, Path(tmp), args.workers)
    result = {"bench": "peer", "smoke": args.smoke, **result, "bench_wall_s": round(time.perf_counter() - t0, 1)}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
