#!/usr/bin/env python3
"""Benchmark the translation stage with the bundled ru->en model; prints one JSON object.

    .venv/bin/python bench/bench_translate.py [--smoke] [--sentences N]

Keys: translate_batched_sps / translate_single_sps (sentences per second through
Translator.translate_many, batched vs one request per call), translate_batch_speedup (target
>= 3), translate_cache_hit_ms (one cached request), engine import time and RSS (what the first
translation costs the daemon) against the daemon's import of monitor.translate without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LEADERS = ["Путин", "Токаев", "Жапаров", "Рахмон", "Мирзиёев", "Лукашенко", "Пашинян",
           "Бердымухамедов", "Алиев", "Си Цзиньпин"]
CITIES_ACC = ["Москву", "Астану", "Бишкек", "Душанбе", "Ташкент", "Минск", "Ереван",
              "Ашхабад", "Баку", "Пекин", "Санкт-Петербург", "Алматы", "Самарканд", "Сочи"]
TEMPLATES = ["{l} прибыл в {c}.", "{l} прибыл в {c} на парад Победы.",
             "{l} прибыл в {c} с официальным визитом."]


def sentences(n: int) -> list[str]:
    """``n`` distinct in-domain Russian headlines (at most 420)."""
    out = [t.format(l=l, c=c) for t in TEMPLATES for l in LEADERS for c in CITIES_ACC]
    return out[:n]


def items(n: int) -> list[str]:
    """Titles and summaries: every third text is a two-sentence summary (n sentences in all)."""
    sents = sentences(n)
    texts: list[str] = []
    i = 0
    while i < len(sents):
        if len(texts) % 3 == 2 and i + 1 < len(sents):
            texts.append(sents[i] + " " + sents[i + 1])
            i += 2
        else:
            texts.append(sents[i])
            i += 1
    return texts


def engine_cost(models_dir: Path, with_argos_translate: bool = True) -> dict[str, float | None]:
    """Import time and RSS of the engine, measured in fresh interpreters."""
    code = textwrap.dedent(f"""
        import json, sys, time
        from pathlib import Path
        def rss():  # current VmRSS in MB (ru_maxrss would include the forking parent's peak)
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
            return float("nan")
        t0 = time.perf_counter()
        import monitor.translate
        base_s, base_rss = time.perf_counter() - t0, rss()
        mode = sys.argv[1]
        t0 = time.perf_counter()
        if mode == "engine":
            import argostranslate.package, ctranslate2, minisbd
        else:
            import argostranslate.translate
        imp_s = time.perf_counter() - t0
        res = {{"base_s": base_s, "base_rss": base_rss, "imp_s": imp_s, "imp_rss": rss()}}
        if mode == "engine":
            t = monitor.translate.Translator(Path(sys.argv[2]) / "m.db", Path(sys.argv[3]))
            t0 = time.perf_counter()
            t.translate_many([("Токаев прибыл в Москву на парад Победы.", "ru")])
            res["first_s"] = time.perf_counter() - t0
            res["first_rss"] = rss()
        print(json.dumps(res))
    """)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for mode in ("engine", "argos_translate") if with_argos_translate else ("engine",):
            env = dict(os.environ, XDG_DATA_HOME=f"{tmp}/d", XDG_CACHE_HOME=f"{tmp}/c",
                       XDG_CONFIG_HOME=f"{tmp}/cfg", ARGOS_PACKAGES_DIR=str(models_dir))
            out = subprocess.run([sys.executable, "-c", code, mode, tmp, str(models_dir)],
                                 cwd=ROOT, capture_output=True, text=True, check=True, env=env)
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    e = runs["engine"]
    a = runs.get("argos_translate", {"imp_s": None, "imp_rss": None})
    return {
        "daemon_import_translate_module_s": round(e["base_s"], 3),
        "daemon_rss_without_engine_mb": round(e["base_rss"], 1),
        "engine_import_s": round(e["imp_s"], 3),
        "engine_rss_mb": round(e["imp_rss"], 1),
        "engine_first_translation_s": round(e["first_s"], 3),
        "engine_rss_after_first_translation_mb": round(e["first_rss"], 1),
        # what importing argostranslate.translate (torch, stanza, spacy) would cost instead
        "argostranslate_translate_import_s": a["imp_s"] and round(a["imp_s"], 3),
        "argostranslate_translate_rss_mb": a["imp_rss"] and round(a["imp_rss"], 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    ap.add_argument("--sentences", type=int, default=400)
    args = ap.parse_args()
    n = 24 if args.smoke else min(args.sentences, 420)

    from monitor.argos_models import bundled_models, install_from_file
    from monitor.translate import CACHED, TRANSLATED, Translator

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        models_dir = tmp / "models"
        package = next(p for p in bundled_models() if p.name.startswith("translate-ru_en-"))
        install_from_file(package, models_dir)
        n_sentences = len(sentences(n))
        texts = items(n)
        for db in ("batched.db", "single.db"):  # the service's database runs in WAL mode
            with sqlite3.connect(tmp / db) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        warm = [("Кремль подтвердил визит.", "ru")]

        batched = Translator(tmp / "batched.db", models_dir, batch_size=64)
        batched.translate_many(warm)  # load + self-check outside the timing
        t0 = time.perf_counter()
        res_b = batched.translate_many([(s, "ru") for s in texts])
        batched_s = time.perf_counter() - t0
        assert all(r.status == TRANSLATED for r in res_b)

        single = Translator(tmp / "single.db", models_dir, batch_size=1)
        single.translate_many(warm)
        t0 = time.perf_counter()
        res_s = [single.translate_many([(s, "ru")])[0] for s in texts]
        single_s = time.perf_counter() - t0
        assert all(r.status == TRANSLATED for r in res_s)
        agree = sum(a.text == b.text for a, b in zip(res_b, res_s)) / len(texts)

        # The engine alone (no SQLite, no splitting): CTranslate2 batches of 64 vs 1.
        model = next(iter(batched._models.values()))
        plain = sentences(n)
        t0 = time.perf_counter()
        model.translate(plain, beam_size=1, batch_size=64)
        engine_b = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in plain:
            model.translate([s], beam_size=1, batch_size=1)
        engine_s = time.perf_counter() - t0

        hits = texts[: min(len(texts), 200)]
        t0 = time.perf_counter()
        res_h = [batched.translate_many([(s, "ru")])[0] for s in hits]
        hit_ms = (time.perf_counter() - t0) * 1000 / len(hits)
        assert all(r.status == CACHED for r in res_h)
        t0 = time.perf_counter()
        batched.translate_many([(s, "ru") for s in texts])
        hit_batch_ms = (time.perf_counter() - t0) * 1000 / len(texts)
        batched.close()
        single.close()

        result = {
            "bench": "translate",
            "smoke": args.smoke,
            "model": package.name,
            "sentences": n_sentences,
            "threads": 1,
            "beam_size": 1,
            "texts": len(texts),
            "translate_batched_sps": round(n_sentences / batched_s, 1),
            "translate_single_sps": round(n_sentences / single_s, 1),
            "translate_batch_speedup": round(single_s / batched_s, 2),
            "batch_single_agreement": round(agree, 3),
            "engine_batched_sps": round(n_sentences / engine_b, 1),
            "engine_single_sps": round(n_sentences / engine_s, 1),
            "translate_cache_hit_ms": round(hit_ms, 3),
            "translate_cache_hit_in_batch_ms": round(hit_batch_ms, 3),
            **engine_cost(models_dir, with_argos_translate=not args.smoke),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
