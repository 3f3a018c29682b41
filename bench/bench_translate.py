#!/usr/bin/env python3
"""Benchmark the translation stage with both model kinds; prints one JSON object.

    .venv/bin/python bench/bench_translate.py [--smoke] [--sentences N]

Models: the bundled Argos ru->en test package and the bundled multilingual NLLB-layout test model
(monitor/analysis/data/models/multilingual-tiny, 2+2 layers of width 128). Both are tiny: the figures show
the stage's own costs and the batching effect on this machine, not real-model speed. Real-model
figures (NLLB-200 600M/1.3B, OPUS-MT big) are not measured here: they are copied, labelled as such,
under "real_models_from_notes" from /work/shared/notes/translation-models.md (measured there with
random weights of the published architectures on the same kind of 2-core machine).

Keys (Argos): translate_batched_sps / translate_single_sps (sentences per second through
Translator.translate_many, batched vs one request per call), translate_batch_speedup (target
>= 3), translate_cache_hit_ms (one cached request), engine import time and RSS (what the first
translation costs the daemon) against the daemon's import of monitor.analysis.translate without it.
Keys (multilingual): multilingual_batched_sps / multilingual_single_sps / multilingual_batch_speedup,
multilingual_engine_batched_sps / _single_sps (the engine alone), multilingual_load_s (load +
self-check), multilingual_rss_after_first_translation_mb (fresh process).
Per news item (title + a two-sentence lead): argos_item_ms / multilingual_item_ms (batched
across items) and *_item_single_ms (one item per call).
Poll cycle: parse + ingest (the service's pipeline, shipped watchlists and seeds) of feeds where a
third of the items need the multilingual model, a third the Argos model, a third no translation:
cycle_s, cycle_translate_s and cycle_translate_share. peak_rss_mb: this process at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

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
    out = [t.format(l=leader, c=c) for t in TEMPLATES for leader in LEADERS for c in CITIES_ACC]
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
    code = textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        def rss():  # current VmRSS in MB (ru_maxrss would include the forking parent's peak)
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
            return float("nan")
        t0 = time.perf_counter()
        import monitor.analysis.translate
        base_s, base_rss = time.perf_counter() - t0, rss()
        mode = sys.argv[1]
        t0 = time.perf_counter()
        if mode == "engine":
            import argostranslate.package, ctranslate2, minisbd
        else:
            import argostranslate.translate
        imp_s = time.perf_counter() - t0
        res = {"base_s": base_s, "base_rss": base_rss, "imp_s": imp_s, "imp_rss": rss()}
        if mode == "engine":
            t = monitor.analysis.translate.Translator(Path(sys.argv[2]) / "m.db", Path(sys.argv[3]))
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


CASES_FILE = ROOT / "tests" / "data" / "multilingual_cases.json"
# Not measured here: shared/notes/translation-models.md section 3 (CTranslate2 4.8.5 int8, random
# weights of the published architectures, 1 thread, batch 64, beam 1, on this kind of 2-vCPU VM).
REAL_MODELS = {
    "source": "shared/notes/translation-models.md, section 3 (not measured by this benchmark)",
    "nllb_200_distilled_600m": {"sentences_per_s": 6.6, "single_sentences_per_s": 0.62, "disk_mb": 621,
                                "rss_gb": 1.6, "item_s": 0.75},
    "nllb_200_distilled_1_3b": {"sentences_per_s": 3.8, "single_sentences_per_s": 0.22, "disk_mb": 1378,
                                "rss_gb": 3.0, "item_s": 1.3},
    "opus_mt_transformer_big": {"sentences_per_s": 19.6, "single_sentences_per_s": 1.2, "disk_mb": 243,
                                "rss_gb": 0.7},
    "argos_transformer_base": {"sentences_per_s": 59, "single_sentences_per_s": 4.6, "disk_mb": 72,
                               "rss_gb": 0.4, "item_s": 0.1},
}


def fixture_cases(langs: tuple[str, ...] = ("kk", "uz", "tg")) -> list[tuple[str, str]]:
    """(source, code) pairs the multilingual test model knows (the fixture's own cases)."""
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return [(c["source"], c["lang"]) for c in cases if c["lang"] in langs and not c.get("group")]


def news_items(sents: list[str], lang: str) -> list[tuple[str, str, str]]:
    """(title, lead of two sentences, code): every sentence once as a title, leads from others."""
    out = []
    for i, title in enumerate(sents):
        lead = f"{sents[(i + 1) % len(sents)]} {sents[(i + 2) % len(sents)]}"
        out.append((title, lead, lang))
    return out


def item_costs(tmp: Path, models_dir: Path, news: list[tuple[str, str, str]], tag: str) -> tuple[float, float]:
    """ms per news item (title + lead): batched across items, then one item per call."""
    from monitor.analysis.translate import Translator

    warm = [("Warm-up. " + news[0][1], news[0][2])]  # load, self-check and splitter outside the timing
    batched = Translator(tmp / f"{tag}-items-b.db", models_dir)
    batched.translate_many(warm)
    t0 = time.perf_counter()
    batched.translate_many([r for t, lead, c in news for r in ((t, c), (lead, c))])
    b_ms = (time.perf_counter() - t0) * 1000 / len(news)
    single = Translator(tmp / f"{tag}-items-s.db", models_dir)
    single.translate_many(warm)
    t0 = time.perf_counter()
    for t, lead, c in news:
        single.translate_many([(t, c), (lead, c)])
    s_ms = (time.perf_counter() - t0) * 1000 / len(news)
    batched.close()
    single.close()
    return round(b_ms, 3), round(s_ms, 3)


def multilingual(tmp: Path, n: int) -> dict[str, Any]:
    from monitor.analysis.multilingual_models import bundled_multilingual, install_multilingual
    from monitor.analysis.translate import TRANSLATED, Translator

    models_dir = tmp / "mmodels"
    fixture = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    install_multilingual(fixture, models_dir)
    cases = fixture_cases()[:n]
    t = Translator(tmp / "mb.db", models_dir, batch_size=64)
    t0 = time.perf_counter()
    assert t.availability("kk") is None  # load + self-check
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res_b = t.translate_many(cases)
    batched_s = time.perf_counter() - t0
    ok = sum(r.status == TRANSLATED for r in res_b) / len(cases)
    single = Translator(tmp / "ms.db", models_dir, batch_size=1)
    single.translate_many([cases[0]])
    t0 = time.perf_counter()
    for c in cases:
        single.translate_many([c])
    single_s = time.perf_counter() - t0
    model = next(iter(t._models.values()))
    steps = [t.route_for(code).steps[0] for _, code in cases]  # type: ignore[union-attr]
    plain = [s for s, _ in cases]
    t0 = time.perf_counter()
    model.translate(plain, steps, 1, 64)
    eng_b = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s, st in zip(plain, steps):
        model.translate([s], [st], 1, 1)
    eng_s = time.perf_counter() - t0
    t.close()
    single.close()
    by_lang: dict[str, list[str]] = {}
    for s, code in fixture_cases():
        by_lang.setdefault(code, []).append(s)
    news = [item for code, sents in by_lang.items() for item in news_items(sents, code)][: max(9, n)]
    item_ms, item_single_ms = item_costs(tmp, models_dir, news, "multi")
    return {
        "multilingual_model": "multilingual-tiny@1.0 (test model)",
        "multilingual_sentences": len(cases),
        "multilingual_translated_share": round(ok, 3),
        "multilingual_batched_sps": round(len(cases) / batched_s, 1),
        "multilingual_single_sps": round(len(cases) / single_s, 1),
        "multilingual_batch_speedup": round(single_s / batched_s, 2),
        "multilingual_engine_batched_sps": round(len(cases) / eng_b, 1),
        "multilingual_engine_single_sps": round(len(cases) / eng_s, 1),
        "multilingual_load_s": round(load_s, 3),
        "multilingual_item_ms": item_ms,
        "multilingual_item_single_ms": item_single_ms,
        **multilingual_process_cost(models_dir, tmp),
    }


def multilingual_process_cost(models_dir: Path, tmp: Path) -> dict[str, float]:
    """Start-up cost of the multilingual kind in a fresh interpreter: import, load, first item."""
    code = textwrap.dedent("""
        import json, sys, time
        from pathlib import Path
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        from monitor.analysis.translate import Translator
        base = rss()
        t0 = time.perf_counter()
        t = Translator(Path(sys.argv[1]) / "first.db", Path(sys.argv[2]))
        r = t.translate_many([("Мирзиёев фармон имзолади.", "uz")])[0]
        print(json.dumps({"first_s": time.perf_counter() - t0, "rss": rss(), "base": base,
                          "status": r.status}))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp), str(models_dir)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["status"] == "translated", res
    return {
        "multilingual_first_translation_s": round(res["first_s"], 3),
        "multilingual_rss_after_first_translation_mb": round(res["rss"], 1),
        "multilingual_rss_added_mb": round(res["rss"] - res["base"], 1),
    }


def _rss_doc(items: list[tuple[str, str, str]], n: int) -> bytes:
    from xml.sax.saxutils import escape

    parts = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>b</title>'
             "<link>https://bench.example.org/</link>"]
    for i, (title, lead, _code) in enumerate(items):
        parts.append(f"<item><title>{escape(title)}</title><link>https://bench.example.org/{n}/{i}</link>"
                     f"<guid>b-{n}-{i}</guid><description>{escape(lead)}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


def cycle(tmp: Path, per_third: int) -> dict[str, Any]:
    """The share of a cycle (parse + ingest of every feed) spent in the translation stage."""
    from monitor.analysis.argos_models import bundled_models, install_from_file
    from monitor.analysis.multilingual_models import bundled_multilingual, install_multilingual
    from monitor.config import load_config
    from monitor.ingest.parse import parse_feed
    from monitor.service.pipeline import ingest, open_services, sync_seeds

    state = tmp / "cycle"
    state.mkdir()
    for d in ("watchlists", "seeds"):
        shutil.copytree(ROOT / d, state / d)
    (state / "config.yaml").write_text(
        "feeds: []\ndatabase: monitor.db\nmodels: models\ndigests: digests\n"
        "translation: {pairs: [ru-en], install_missing: false}\n", encoding="utf-8")
    cfg = load_config(state / "config.yaml")
    install_from_file(next(p for p in bundled_models() if p.name.startswith("translate-ru_en-")), cfg.models)
    install_multilingual(next(p for p in bundled_multilingual() if p.name == "multilingual-tiny"), cfg.models)
    by_lang: dict[str, list[str]] = {}
    for s, code in fixture_cases():
        by_lang.setdefault(code, []).append(s)
    multi = [it for code, sents in by_lang.items() for it in news_items(sents, code)[: per_third // 3 + 1]]
    ru = news_items(sentences(420)[:per_third], "ru")
    en_sents = [f"Officials in city number {i} reported a quiet week for the regional markets."
                for i in range(per_third + 2)]
    en = news_items(en_sents[:per_third], "en")
    feeds = {"multi": multi[:per_third], "ru": ru, "en": en}
    svc = open_services(cfg)
    sync_seeds(svc)
    translator = svc.get_translator()
    translator.availability("kk")  # both models loaded and self-checked before the timing (start-up
    translator.availability("ru")  # cost is reported separately)
    spent = [0.0]
    inner = translator.translate_many

    def timed(requests: list[tuple[str, str]]) -> Any:
        t0 = time.perf_counter()
        try:
            return inner(requests)
        finally:
            spent[0] += time.perf_counter() - t0

    translator.translate_many = timed  # measures the real stage; changes nothing it does
    ids = svc.store.feeds.sync([(f"http://127.0.0.1:9/{k}.xml", k) for k in feeds])
    bodies = {k: _rss_doc(v, j) for j, (k, v) in enumerate(feeds.items())}
    t0 = time.perf_counter()
    new = 0
    for k, body in bodies.items():
        parsed = parse_feed(body, "application/rss+xml", f"http://127.0.0.1:9/{k}.xml")
        new += ingest(svc, k, ids[f"http://127.0.0.1:9/{k}.xml"], parsed.entries)[0]
    total = time.perf_counter() - t0
    statuses: dict[str | None, int] = {}
    for r in svc.store.items.list(seeds=False):
        statuses[r.translation_status] = statuses.get(r.translation_status, 0) + 1
    svc.close()
    return {
        "cycle_items": new,
        "cycle_item_statuses": statuses,
        "cycle_s": round(total, 3),
        "cycle_translate_s": round(spent[0], 3),
        "cycle_translate_share": round(spent[0] / total, 3) if total else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    ap.add_argument("--sentences", type=int, default=400)
    args = ap.parse_args()
    n = 24 if args.smoke else min(args.sentences, 420)

    from monitor.analysis.argos_models import bundled_models, install_from_file
    from monitor.analysis.translate import CACHED, TRANSLATED, Translator

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
        warm = [("Кремль подтвердил визит. Саммит ОДКБ пройдет в Минске в ноябре.", "ru")]  # loads the splitter too

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
        step = batched.route_for("ru").steps[0]
        t0 = time.perf_counter()
        model.translate(plain, [step] * len(plain), 1, 64)
        engine_b = time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in plain:
            model.translate([s], [step], 1, 1)
        engine_s = time.perf_counter() - t0
        argos_items = news_items([s for s in sentences(420)][: max(9, n)], "ru")
        argos_item_ms, argos_item_single_ms = item_costs(tmp, models_dir, argos_items, "argos")

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
            "argos_item_ms": argos_item_ms,
            "argos_item_single_ms": argos_item_single_ms,
            **multilingual(tmp, n),
            **cycle(tmp, 12 if args.smoke else 60),
            "real_models_from_notes": REAL_MODELS,
        }
        import resource

        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
