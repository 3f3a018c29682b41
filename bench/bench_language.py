"""Benchmark the language stage on bench/data/lang_eval: accuracy per language, speed vs langdetect.

Prints one JSON object. ``--smoke`` uses a few texts per language and one timing pass.

    .venv/bin/python bench/bench_language.py            # full set
    .venv/bin/python bench/bench_language.py --smoke    # seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.analysis.language import detect_text  # noqa: E402

DATA = ROOT / "bench" / "data" / "lang_eval"
REGION = ("ru", "uk", "be", "kk", "ky", "uz", "tg", "hy", "az", "ka")
TARGET_HEADLINES = 0.97
TARGET_SUMMARIES = 0.99
TARGET_SPEEDUP = 10.0


def load(kind: str, limit: int | None = None) -> dict[str, list[str]]:
    """{file stem: lines} for headlines or summaries; the stem before '-' is the expected code."""
    out: dict[str, list[str]] = {}
    for path in sorted((DATA / kind).glob("*.txt")):
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        out[path.stem] = lines[:limit] if limit else lines
    return out


def accuracy(sets: dict[str, list[str]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Per-language accuracy (uz-Latn and uz-Cyrl also pooled as uz) and the misses."""
    per: dict[str, dict[str, Any]] = {}
    misses: list[dict[str, Any]] = []
    for stem, lines in sets.items():
        expected = stem.split("-")[0]
        right = uncertain = 0
        for text in lines:
            r = detect_text(text)
            right += r.language == expected
            uncertain += r.uncertain
            if r.language != expected:
                misses.append({"set": stem, "got": r.language, "confidence": r.confidence, "text": text})
        per[stem] = {"n": len(lines), "correct": right, "accuracy": round(right / len(lines), 4), "uncertain": uncertain}
    uz = [per[k] for k in per if k.startswith("uz-")]
    if uz:
        n = sum(p["n"] for p in uz)
        c = sum(p["correct"] for p in uz)
        per["uz"] = {"n": n, "correct": c, "accuracy": round(c / n, 4), "uncertain": sum(p["uncertain"] for p in uz)}
    return per, misses


def throughput(fns: list[Callable[[str], object]], texts: list[str], passes: int) -> list[float]:
    """Texts per second of each function; passes are interleaved so machine load hits all alike."""
    spent = [0.0] * len(fns)
    for fn in fns:
        fn(texts[0])
    for _ in range(passes):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            for t in texts:
                fn(t)
            spent[i] += time.perf_counter() - start
    return [len(texts) * passes / s for s in spent]


def langdetect_share(texts: list[str]) -> float:
    """Fraction of texts for which the stage asked langdetect for a second opinion."""
    from monitor.analysis import language

    calls = 0
    original = language._langdetect_probs

    def counting(text: str) -> dict[str, float]:
        nonlocal calls
        calls += 1
        return original(text)

    language._langdetect_probs = counting
    try:
        for t in texts:
            detect_text(t)
    finally:
        language._langdetect_probs = original
    return calls / len(texts)


def langdetect_alone() -> Callable[[str], object]:
    """langdetect as a user would call it: seeded, profiles loaded once."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0

    def run(text: str) -> object:
        try:
            return detect(text)
        except LangDetectException:
            return None

    run("warm up the profiles")
    return run


def detectors_alone() -> dict[str, Callable[[str], str | None]]:
    """Each candidate library on its own, as the issue compared them (codes normalised)."""
    import pycld2
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    from monitor.analysis.language import _langdetect_probs, normalize_code

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

    def cld2(text: str) -> str | None:
        return normalize_code(pycld2.detect(text, isPlainText=True)[2][0][1])

    def p3(text: str) -> str | None:
        return normalize_code(ident.classify(text)[0])

    def ld(text: str) -> str | None:
        probs = _langdetect_probs(text)
        return max(probs, key=lambda c: probs[c]) if probs else None

    return {"pycld2": cld2, "py3langid": p3, "langdetect": ld}


def compare(sets: dict[str, list[str]]) -> dict[str, Any]:
    """Accuracy per language and microseconds per headline of each library alone."""
    out: dict[str, Any] = {}
    texts = [t for lines in sets.values() for t in lines]
    for name, fn in detectors_alone().items():
        per: dict[str, float] = {}
        for stem, lines in sets.items():
            expected = stem.split("-")[0]
            per[stem] = round(sum(fn(t) == expected for t in lines) / len(lines), 4)
        (tps,) = throughput([fn], texts, 1)
        out[name] = {"headlines": per, "region_correct": _region_correct(fn, sets), "us_per_headline": round(1e6 / tps, 1)}
    return out


def _region_correct(fn: Callable[[str], str | None], sets: dict[str, list[str]]) -> str:
    stems = [s for s in sets if s.split("-")[0] in REGION]
    right = sum(fn(t) == s.split("-")[0] for s in stems for t in sets[s])
    return f"{right}/{sum(len(sets[s]) for s in stems)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="few texts, one timing pass")
    ap.add_argument("--misses", action="store_true", help="list every wrong answer")
    args = ap.parse_args(argv)

    heads = load("headlines", 5 if args.smoke else None)
    sums = load("summaries", 2 if args.smoke else None)
    head_acc, head_miss = accuracy(heads)
    sum_acc, sum_miss = accuracy(sums)

    all_heads = [t for lines in heads.values() for t in lines]
    passes = 1 if args.smoke else 5
    ld = langdetect_alone()
    stage_tps, ld_tps = throughput([detect_text, ld], all_heads, passes)

    region_heads = min(head_acc[c]["accuracy"] for c in REGION)
    region_sums = min(sum_acc[c]["accuracy"] for c in REGION)
    all_sums = min(v["accuracy"] for k, v in sum_acc.items())
    ratio = stage_tps / ld_tps
    result: dict[str, Any] = {
        "bench": "language",
        "smoke": args.smoke,
        "headlines": {k: v["accuracy"] for k, v in head_acc.items()},
        "summaries": {k: v["accuracy"] for k, v in sum_acc.items()},
        "uncertain_headlines": {k: v["uncertain"] for k, v in head_acc.items() if v["uncertain"]},
        "n_headlines": len(all_heads),
        "n_summaries": sum(len(v) for v in sums.values()),
        "headlines_per_s": {"stage": round(stage_tps), "langdetect": round(ld_tps)},
        "us_per_headline": {"stage": round(1e6 / stage_tps, 1), "langdetect": round(1e6 / ld_tps, 1)},
        "speedup_vs_langdetect": round(ratio, 2),
        "langdetect_asked_share": round(langdetect_share(all_heads), 4),
        "targets": {
            "region_headlines_min": region_heads,
            "region_headlines_ok": region_heads >= TARGET_HEADLINES,
            "summaries_min": all_sums,
            "region_summaries_ok": region_sums >= TARGET_SUMMARIES,
            "speedup_ok": ratio >= TARGET_SPEEDUP,
        },
        "misses": len(head_miss) + len(sum_miss),
    }
    result["stage_region_correct"] = _region_correct(lambda t: detect_text(t).language, heads)
    if not args.smoke:
        result["alone"] = compare(heads)
    if args.misses:
        result["miss_list"] = head_miss + sum_miss
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
