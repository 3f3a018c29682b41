"""Run every benchmark and print one JSON document: ``python -m bench.run [--smoke] [--out FILE]``.

Each ``bench/bench_*.py`` runs in its own process, one after another (so they do not
compete for the cores), and prints one JSON object; the runner nests each under its name
("poll", "pipeline", "startup", "language", "dedup", "stories", "translate", "watchlist", "peer",
"workers"),
lifts the figures that must stay comparable across releases to the top level, and collects every
target next to its figure under "targets" / "met". A missing or failing benchmark leaves its
figures null and says why under "errors"; the runner itself exits 0 unless ``--strict``.

The document goes to stdout and to ``bench/out/latest.json`` (``--smoke``:
``bench/out/latest-smoke.json``, so a smoke run never replaces real figures) or ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
TOTAL_BUDGET_S = 570.0  # the whole suite must finish within 10 minutes on 2 cores


POLL_RESERVE_S = 200.0  # kept for the poll benchmark, which runs last and adapts to what is left
POLL_OVERHEAD_S = 110.0  # its feed generation, feedparser floor and warm cycle, around the cold cycle


@dataclass(frozen=True)
class Bench:
    key: str
    script: str
    cap: float  # seconds this benchmark may take at most (full run)


# The poll cycle runs last: its cold cycle is given whatever time the others left.
BENCHES: tuple[Bench, ...] = (
    Bench("pipeline", "bench_pipeline.py", 150),
    Bench("startup", "bench_startup.py", 120),
    Bench("language", "bench_language.py", 90),
    Bench("watchlist", "bench_watchlist.py", 60),
    Bench("translate", "bench_translate.py", 150),
    Bench("dedup", "bench_dedup.py", 200),
    Bench("stories", "bench_stories.py", 60),
    Bench("peer", "bench_peer.py", 180),
    Bench("workers", "bench_workers.py", 150),
    Bench("poll", "bench_poll.py", TOTAL_BUDGET_S),
)

# top-level key -> (benchmark, key inside its JSON, target text)
LIFTED: dict[str, tuple[str, str, str | None]] = {
    "poll_cold_s": ("poll", "poll_cold_s", "<= 1.5 x feedparser_cycle_s"),
    "feedparser_cycle_s": ("poll", "feedparser_cycle_s", None),
    "poll_cold_vs_feedparser_ratio": ("poll", "poll_cold_vs_feedparser_ratio", "<= 1.5"),
    "poll_cold_items_per_s": ("poll", "poll_cold_items_per_s", None),
    "poll_warm_s": ("poll", "poll_warm_s", "< 2"),
    "poll_warm_items_per_s": ("poll", "poll_warm_items_per_s", None),
    "poll_peak_rss_mb": ("poll", "poll_peak_rss_mb", "< 400"),
    "pipeline_items_per_s": ("pipeline", "pipeline_items_per_s", "> 2000"),
    "feedparser_items_per_s": ("pipeline", "feedparser_items_per_s", None),
    "pipeline_stage_share": ("pipeline", "stage_share", None),
    "pipeline_slowest_stage": ("pipeline", "slowest_stage", None),
    "dedup_query_ms": ("dedup", "dedup_query_ms", "< 1 ms at 100000"),
    # the index lookup alone (issue 17): the signature is made beforehand, as the pipeline does
    "dedup_lookup_ms": ("dedup", "dedup_lookup_ms", "< 0.3 ms at 100000"),
    "translate_batch_speedup": ("translate", "translate_batch_speedup", ">= 3"),
    "translate_cache_hit_ms": ("translate", "translate_cache_hit_ms", None),
    "startup_ready_s": ("startup", "startup_ready_s", "< 2"),
    "idle_rss_mb": ("startup", "idle_rss_mb", None),
    "translation_loaded_at_idle": ("startup", "translation_loaded_at_idle", "false"),
    # news-monitor / reader on the same feeds in one run (bench_peer.py); < 1 is better
    "peer_cold_ratio": ("peer", "peer_cold_ratio", "<= 1.0"),
    "peer_warm_ratio": ("peer", "peer_warm_ratio", "<= 1.0"),
    "peer_cpu_per_item_ratio": ("peer", "peer_cpu_per_item_ratio", None),
    "peer_rss_ratio": ("peer", "peer_rss_ratio", None),
    "poll_cold_tree_cpu_s": ("poll", "poll_cold_tree_cpu_s", None),
    "poll_warm_tree_cpu_s": ("poll", "poll_warm_tree_cpu_s", None),
    "story_wrong_merge_rate": ("stories", "story_wrong_merge_rate", "<= 0.02"),
    "story_missed_merge_same_lang": ("stories", "story_missed_merge_same_lang", "<= 0.25"),
    "story_missed_merge_cross_lang": ("stories", "story_missed_merge_cross_lang", None),
    "story_updates_suppressed": ("stories", "story_updates_suppressed", "0"),
    # 1/2/4 daemons on one PostgreSQL (bench_workers.py; skipped, saying why, without a server)
    "workers_cold_s": ("workers", "workers_cold_s", None),
    "workers_scaling_2": ("workers", "workers_scaling_2", None),
    "workers_scaling_4": ("workers", "workers_scaling_4", None),
    "workers_identical_to_sqlite": ("workers", "workers_identical_to_sqlite", "true"),
}
REQUIRED = ("poll_cold_s", "feedparser_cycle_s", "poll_warm_s", "poll_peak_rss_mb", "pipeline_items_per_s",
            "feedparser_items_per_s", "dedup_query_ms", "translate_batch_speedup", "translate_cache_hit_ms",
            "startup_ready_s", "idle_rss_mb")


def parse_json_output(text: str) -> dict[str, Any]:
    """The last JSON object a benchmark printed (one line or indented)."""
    text = text.strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except json.JSONDecodeError:
        pass
    dec = json.JSONDecoder()
    found: dict[str, Any] | None = None
    for i, ch in enumerate(text):
        if ch == "{" and (i == 0 or text[i - 1] == "\n"):
            try:
                obj, _ = dec.raw_decode(text[i:])
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                found = obj
    if found is None:
        raise ValueError("no JSON object in the output")
    return found


def run_bench(b: Bench, smoke: bool, timeout: float, extra: list[str] | None = None
              ) -> tuple[dict[str, Any] | None, str | None, float]:
    """Run one benchmark script in its own process group; (its JSON, error, seconds).

    On timeout the whole group (the script and the servers or daemons it started) is stopped.
    """
    path = BENCH / b.script
    if not path.exists():
        return None, f"{b.script} not present", 0.0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, str(path)] + (["--smoke"] if smoke else []) + (extra or [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, f"exit {proc.returncode}: {stderr.strip()[-800:]}", took
    try:
        return parse_json_output(stdout), None, took
    except ValueError as e:
        return None, f"{e}: {stdout.strip()[-300:]!r}", took


def _stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.communicate(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _met(key: str, value: Any, doc: dict[str, Any]) -> bool | None:
    """Whether a lifted figure meets its target (None when unknown)."""
    if value is None:
        return None
    if key == "poll_cold_s":
        floor = doc.get("feedparser_cycle_s")
        return bool(floor) and value <= 1.5 * floor
    if key in ("dedup_query_ms", "dedup_lookup_ms"):
        big = value.get("100000") if isinstance(value, dict) else None
        return None if big is None else big < (1.0 if key == "dedup_query_ms" else 0.3)
    checks = {
        "poll_cold_vs_feedparser_ratio": lambda v: v <= 1.5,
        "poll_warm_s": lambda v: v < 2.0,
        "poll_peak_rss_mb": lambda v: v < 400.0,
        "pipeline_items_per_s": lambda v: v > 2000.0,
        "translate_batch_speedup": lambda v: v >= 3.0,
        "startup_ready_s": lambda v: v < 2.0,
        "translation_loaded_at_idle": lambda v: v is False,
        "peer_cold_ratio": lambda v: v <= 1.0,
        "peer_warm_ratio": lambda v: v <= 1.0,
        "story_wrong_merge_rate": lambda v: v <= 0.02,
        "story_missed_merge_same_lang": lambda v: v <= 0.25,
        "story_updates_suppressed": lambda v: v == 0,
        "workers_identical_to_sqlite": lambda v: v is True,
    }
    fn = checks.get(key)
    return None if fn is None else bool(fn(value))


def assemble(results: dict[str, dict[str, Any] | None], errors: dict[str, str], timings: dict[str, float],
             smoke: bool) -> dict[str, Any]:
    """The combined document: top-level figures, targets, then each benchmark's own JSON."""
    doc: dict[str, Any] = {
        "suite": "news-monitor", "smoke": smoke,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": _git_commit(),
        "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0)),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    for key, (bench, inner, _) in LIFTED.items():
        res = results.get(bench)
        doc[key] = res.get(inner) if res else None
    for bench in ("translate",):  # its figures may sit one level down
        res = results.get(bench) or {}
        for key in ("translate_batch_speedup", "translate_cache_hit_ms"):
            if doc.get(key) is None:
                doc[key] = _find(res, key)
    doc["targets"] = {k: t for k, (_, _, t) in LIFTED.items() if t}
    doc["met"] = {k: _met(k, doc.get(k), doc) for k in doc["targets"]}
    for name, res in results.items():  # other benchmarks' own verdicts, e.g. language accuracy
        if name not in ("poll", "pipeline", "startup", "peer") and res and isinstance(res.get("met"), dict):
            for k, v in res["met"].items():
                doc["met"].setdefault(f"{name}.{k}", v)
    doc["missing"] = [k for k in REQUIRED if doc.get(k) is None]
    doc["errors"] = errors
    doc["bench_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    for name, res in results.items():
        doc[name] = res
    return doc


def _find(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: checks the suite runs, in about a minute")
    ap.add_argument("--out", type=Path, help="also write the JSON here (default bench/out/latest.json)")
    ap.add_argument("--only", help="comma-separated benchmark names (poll,pipeline,startup,language,dedup,"
                                   "translate,watchlist,peer)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a benchmark fails or a figure is missing")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    deadline = time.perf_counter() + TOTAL_BUDGET_S
    results: dict[str, dict[str, Any] | None] = {}
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for b in BENCHES:
        if only and b.key not in only:
            continue
        left = deadline - time.perf_counter()
        extra: list[str] = []
        if args.smoke:
            timeout = max(5.0, left)
        elif b.key == "poll":
            timeout = max(60.0, left)
            extra = ["--cold-limit", str(round(max(60.0, timeout - POLL_OVERHEAD_S)))]
        else:
            timeout = min(b.cap, left - (POLL_RESERVE_S if not only or "poll" in only else 0.0))
        if timeout < 5:
            results[b.key], errors[b.key] = None, "skipped: the suite's time budget is spent"
            continue
        print(f"bench: {b.key} ...", file=sys.stderr, flush=True)
        res, err, took = run_bench(b, args.smoke, timeout, extra)
        results[b.key] = res
        timings[b.key] = took
        if err:
            errors[b.key] = err
        print(f"bench: {b.key} {'failed: ' + err.splitlines()[0] if err else 'done'} ({took:.1f} s)",
              file=sys.stderr, flush=True)
    doc = assemble(results, errors, timings, args.smoke)
    text = json.dumps(doc, indent=1, ensure_ascii=False)
    out = args.out or (BENCH / "out" / ("latest-smoke.json" if args.smoke else "latest.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    print(text)
    if args.strict and (errors or doc["missing"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
