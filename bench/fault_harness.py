"""Fault harness (issue 10): run every fault case, print case / expected / observed / pass.

    .venv/bin/python bench/fault_harness.py            # table, then a closing note
    .venv/bin/python bench/fault_harness.py --json     # one JSON object
    .venv/bin/python bench/fault_harness.py --smoke    # a few fast cases, JSON (seconds)

Peak memory is this process's peak RSS across the whole harness (feed cases run
in-process with the real pipeline; the bomb and YAML probes report their own
process, the full-text cases the service's growth beside its workers). Each
case's row carries ``peak_rss_mb``: the harness's peak when its group was done
(groups run in order, so a group that grows memory shows as a step).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.support.faultserver as fs  # noqa: E402

SMOKE_FEED_CASES = {"connection-refused", "http-503", "gzip-bomb", "billion-laughs", "koi8r-declared-utf8",
                    "hostile-fields", "redirect-loop", "html-instead-of-feed"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


T = TypeVar("T")
_rss_after: dict[int, float] = {}  # id(CaseResult) -> the harness's peak RSS when its group was done


def _stamp(results: T) -> T:
    """Record the harness's peak RSS now against every case in ``results`` (a list or a dict of lists)."""
    peak = round(peak_rss_mb(), 1)
    lists: Any = results.values() if isinstance(results, dict) else [results]
    for rs in lists:
        for r in rs:
            _rss_after.setdefault(id(r), peak)
    return results


def run(smoke: bool, with_mail: bool) -> dict[str, object]:
    started = time.monotonic()
    groups: dict[str, list[fs.CaseResult]] = {}
    with tempfile.TemporaryDirectory(prefix="fault-harness-") as tmp:
        root = Path(tmp)
        cases = [c for c in fs.FEED_CASES if not smoke or c.name in SMOKE_FEED_CASES]
        feed_root = root / "feeds"
        feed_root.mkdir()
        t0 = time.monotonic()
        feed_run = fs.run_feed_cases(feed_root, cases, tls=not smoke)
        groups["feeds"] = feed_run.results
        counts = feed_run.counts_after_round
        groups["feeds"].append(fs.CaseResult(
            "nothing-lost-across-rounds", "stored item count never drops after bad polls",
            f"items after each round: {counts}", counts == sorted(counts), time.monotonic() - t0))
        _stamp(groups)
        groups["ssrf"] = _stamp(fs.ssrf_cases())
        if not smoke:
            groups["deadline"] = _stamp(fs.deadline_cases())
            groups["memory"] = _stamp(fs.memory_cases(bomb_mib=1024))
            groups["local-input"] = _stamp(fs.local_input_cases(root / "local"))
            groups["state-dir"] = _stamp(fs.state_dir_cases(root / "state"))
            for name, fn in fs.issue19_groups().items():
                groups[name] = _stamp(fn(root / "issue19" / name))
            if with_mail:
                groups["mail"] = _stamp(fs.delegated_mail_cases())
    rows = [{"group": g, "case": r.name, "expected": r.expected, "observed": r.observed, "pass": r.passed,
             "peak_rss_mb": _rss_after.get(id(r))}
            for g, rs in groups.items() for r in rs]
    return {
        "bench": "fault_harness",
        "smoke": smoke,
        "cases": len(rows),
        "passed": sum(r["pass"] for r in rows),
        "failed": [r["case"] for r in rows if not r["pass"]],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "feed_round_seconds": [round(s, 2) for s in feed_run.round_seconds],
        "seconds": round(time.monotonic() - started, 1),
        "rows": rows,
    }


def table(result: dict[str, object]) -> str:
    rows = result["rows"]
    assert isinstance(rows, list)
    w_case = max(len(r["case"]) for r in rows)
    w_exp = min(max(len(r["expected"]) for r in rows), 70)
    lines = [f"{'case':<{w_case}}  {'expected':<{w_exp}}  pass  rss MB  observed", "-" * (w_case + w_exp + 38)]
    for r in rows:
        exp = r["expected"] if len(r["expected"]) <= w_exp else r["expected"][: w_exp - 1] + "…"
        rss = f"{r['peak_rss_mb']:>6.0f}" if r.get("peak_rss_mb") is not None else "     -"
        lines.append(f"{r['case']:<{w_case}}  {exp:<{w_exp}}  {'yes ' if r['pass'] else 'NO  '}  {rss}  "
                     f"{r['observed'][:110]}")
    lines.append("")
    lines.append(f"{result['passed']}/{result['cases']} cases passed"
                 + (f" (failed: {', '.join(result['failed'])})" if result["failed"] else "")
                 + f"; peak RSS of the harness process {result['peak_rss_mb']} MB; {result['seconds']} s")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--smoke", action="store_true", help="a few fast cases; implies --json")
    ap.add_argument("--no-mail", action="store_true", help="skip running tests/test_deliver.py")
    args = ap.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("monitor").setLevel(logging.CRITICAL)  # the table reports each failure
    result = run(args.smoke, with_mail=not args.no_mail)
    if args.json or args.smoke:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(table(result))
    return 0 if not result["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
