"""The benchmark suite at tiny sizes: it runs, and its JSON carries every figure.

One real ``python -m bench.run --smoke`` per module (feed server in its own process,
``monitor run --once`` cycles, a daemon started to READY, the other stages' benchmarks).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("poll_cold_s", "feedparser_cycle_s", "poll_warm_s", "poll_peak_rss_mb", "pipeline_items_per_s",
            "feedparser_items_per_s", "dedup_query_ms", "translate_batch_speedup", "translate_cache_hit_ms",
            "startup_ready_s", "idle_rss_mb")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    p = subprocess.run([sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout), out


def test_prints_and_writes_one_document_with_every_required_key(suite: tuple[dict[str, Any], Path]) -> None:
    doc, path = suite
    assert json.loads(path.read_text(encoding="utf-8")) == doc
    for key in REQUIRED:
        assert key in doc, key
    assert doc["smoke"] is True
    assert set(doc["targets"]) <= set(doc["met"])


def test_every_present_benchmark_ran_without_error(suite: tuple[dict[str, Any], Path]) -> None:
    doc, _ = suite
    present = {p.stem.removeprefix("bench_") for p in (ROOT / "bench").glob("bench_*.py")}
    failed = {k: v for k, v in doc["errors"].items() if k in present}
    assert not failed, failed
    for name in present:
        assert isinstance(doc.get(name), dict), name


def test_poll_cycles_really_fetch_cold_then_revalidate_warm(suite: tuple[dict[str, Any], Path]) -> None:
    poll = suite[0]["poll"]
    n = poll["feeds"]
    assert poll["poll_cold_http"] == {"200": n}
    assert poll["poll_warm_http"] == {"304": n}
    assert poll["poll_cold_items_stored"] == poll["items"] == poll["feedparser_cycle_items"]
    assert poll["poll_cold_new_items"] == poll["items"] and poll["poll_warm_new_items"] == 0
    assert poll["poll_cold_feed_errors"] == poll["poll_warm_feed_errors"] == 0
    doc = suite[0]
    assert 0 < doc["feedparser_cycle_s"] and 0 < doc["poll_cold_s"] and 0 < doc["poll_warm_s"]
    assert doc["poll_peak_rss_mb"] >= max(poll["poll_cold_rss_mb"], poll["poll_warm_rss_mb"]) > 20
    assert doc["poll_cold_vs_feedparser_ratio"] == pytest.approx(doc["poll_cold_s"] / doc["feedparser_cycle_s"],
                                                                 rel=0.05)


def test_pipeline_times_every_stage_on_the_same_items(suite: tuple[dict[str, Any], Path]) -> None:
    pipe = suite[0]["pipeline"]
    assert set(pipe["stage_share"]) == {"parse", "detect", "dedup", "match", "store"}
    assert sum(pipe["stage_share"].values()) == pytest.approx(1.0, abs=0.01)
    assert pipe["slowest_stage"] == max(pipe["stage_share"], key=pipe["stage_share"].get)
    assert pipe["pipeline_result"]["new"] == pipe["items"] == pipe["stage_counts"]["items"]
    assert pipe["stage_counts"]["languages"] >= 2  # the synthetic feeds really are multilingual
    assert suite[0]["pipeline_items_per_s"] > 0 and suite[0]["feedparser_items_per_s"] > 0


def test_daemon_reaches_ready_without_the_translation_engine(suite: tuple[dict[str, Any], Path]) -> None:
    doc = suite[0]
    assert 0 < doc["startup_ready_s"] < 60
    assert doc["idle_rss_mb"] > 10
    assert doc["translation_loaded_at_idle"] is False
    assert doc["startup"]["translation_libs_mapped"] == []


def test_story_scale_bench_reports_the_cost_and_the_agreement(tmp_path: Path) -> None:
    """``bench_stories --scale N``: generated reports decided and added on a real SQLite file."""
    p = subprocess.run([sys.executable, "-m", "bench.bench_stories", "--scale", "300"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    out = json.loads(p.stdout)
    assert out["story_scale_items"] == 300 and out["story_decide_us"] > 0 and out["story_text_us"] > 0
    assert 0 < out["story_scale_stories"] <= 300
    assert out["story_scale_sampled"] == 300  # every decision compared at this size
    assert out["story_scale_agreement"] == 1.0  # far below the caps: the exhaustive answer
