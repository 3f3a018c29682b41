"""Benchmark of near-duplicate detection (monitor.analysis.neardup): quality and speed.

Quality: the labelled set in bench/data/dedup_eval/docs.jsonl. The 30 base articles
are indexed as seeds; every other document (hand-written and derived near-duplicates,
hard negatives, Russian originals with MT-style English) is queried. A returned base
is a true positive when it is the document's ``dup_of``, a false positive otherwise.

Speed: synthetic 60-word documents indexed in a SQLite file at 1k/10k/100k; query
time per item includes make_signature. Memory: SQLite file size and the RSS growth
of a fresh process that opens the 100k index and answers queries.

Usage: python bench/bench_dedup.py [--smoke] [--sizes 1000,10000,100000] [--sweep]
Prints one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.analysis.neardup import (  # noqa: E402
    NearDupIndex,
    NearDupSettings,
    Signature,
    evidence,
    make_signature,
)
from monitor.store import open_store  # noqa: E402

DATA = ROOT / "bench" / "data" / "dedup_eval" / "docs.jsonl"


@dataclass(frozen=True)
class Doc:
    id: str
    role: str
    lang: str
    dup_of: str | None
    negative_of: str | None
    title: str
    text: str
    original: str | None


# ------------------------------------------------------------------ derived variants

_HEADER = "This article first appeared on {site}. It is republished here with permission.\n\n"
_FOOTER = (
    "\n\nSubscribe to our daily newsletter for the latest news from Russia, the Caucasus and "
    "Central Asia. Follow us on Telegram and X. Copyright 2024 {site}. All rights reserved. "
    "Reproduction in whole or in part without permission is prohibited.\n\n"
    "Read more: Regional markets brace for new sanctions | Opinion: The view from the steppe"
)
_SITES = ["Eurasia Review Daily", "Steppe Times", "Caucasus Wire", "Silk Road Briefing"]
_BACKGROUND = [
    "Trade between Russia and its neighbours in the Eurasian Economic Union has grown rapidly "
    "since 2022, as goods that can no longer be shipped directly from Europe are rerouted "
    "through Kazakhstan, Kyrgyzstan and Armenia.",
    "The region has been courted intensively by Moscow, Beijing, Brussels and Washington, and "
    "governments have tried to balance between the powers while avoiding secondary sanctions.",
    "Analysts at several banks said the decision was likely to be followed closely by investors, "
    "who have grown wary of political risk in the former Soviet Union.",
    "Remittances from migrant workers in Russia remain a major source of income for Kyrgyzstan, "
    "Tajikistan and Uzbekistan, tying their economies closely to the Russian labour market.",
]
_SWAPS = [
    (r"\bsaid\b", "stated"), (r"\babout\b", "around"), (r"\bon Monday\b", "this week"),
    (r"\bcountry\b", "nation"), (r"\bincluding\b", "among them"), (r"\bhowever\b", "but"),
]


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?\"”])\s+(?=[A-Z“\"])", text.strip()) if s]


def derive(base: Doc, rng: random.Random) -> list[Doc]:
    """Republished, trimmed, extended and agency-edited copies of a base article."""
    site = rng.choice(_SITES)
    paras = [p for p in base.text.split("\n\n") if p.strip()]
    sents = _sentences(base.text)
    out = []
    rep_title = "Analysis: " + base.title.split(" ", 1)[-1]
    out.append(("republished", rep_title, _HEADER.format(site=site) + base.text + _FOOTER.format(site=site)))
    keep = max(2, len(sents) * 55 // 100)
    out.append(("trimmed", base.title, " ".join(sents[:keep])))
    out.append(("extended", base.title,
                base.text + "\n\n" + " ".join(rng.sample(_BACKGROUND, 2)) + _FOOTER.format(site=site)))
    edited = list(sents)
    if len(edited) > 4:
        del edited[rng.randrange(1, len(edited) - 1)]
    text = " ".join(edited)
    for pat, rep in _SWAPS:
        text = re.sub(pat, rep, text)
    dateline = rng.choice(["MOSCOW", "ALMATY", "TBILISI", "BAKU", "TASHKENT"])
    out.append(("agency_light", base.title, f"{dateline} (Agencies) - " + text))
    out.append(("lede", base.title, " ".join(sents[:2])))  # what an RSS summary carries
    if len(paras) >= 3:
        out.append(("reordered", base.title, "\n\n".join([paras[0], *paras[2:], paras[1]])))
    return [Doc(f"{base.id}-{role}", role, "en", base.id, None, title, body, None)
            for role, title, body in out]


def load_eval(path: Path = DATA) -> tuple[list[Doc], list[Doc]]:
    """(bases, queries) of the labelled set, derived variants included."""
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        o = json.loads(line)
        docs.append(Doc(o["id"], o["role"], o["lang"], o["dup_of"], o["negative_of"],
                        o["title"], o["text"], o["original"]))
    bases = [d for d in docs if d.role == "base"]
    queries = [d for d in docs if d.role != "base"]
    rng = random.Random(6)
    for b in bases:
        queries.extend(derive(b, rng))
    # Hard negatives republished by the same kind of site (shared boilerplate).
    for d in [d for d in docs if d.role == "hard_negative"][::3]:
        site = rng.choice(_SITES)
        queries.append(Doc(d.id + "-republished", "hard_negative", "en", None, d.negative_of, d.title,
                           _HEADER.format(site=site) + d.text + _FOOTER.format(site=site), None))
    return bases, queries


def _sig(d: Doc, s: NearDupSettings) -> Signature:
    full = f"{d.title}\n\n{d.text}"
    return make_signature(full, d.original, d.lang, s)


def evaluate(settings: NearDupSettings, db_path: str, kind: str = "seed") -> dict[str, object]:
    """Precision/recall through the real index. Bases indexed as seeds (all compared)
    or as items (found through LSH only)."""
    conn = open_store(Path(db_path))
    try:
        return evaluate_in(NearDupIndex(conn, settings), kind)
    finally:
        conn.close()


def evaluate_in(idx: NearDupIndex, kind: str) -> dict[str, object]:
    """Index the bases into ``idx`` (which may hold other documents) and query the rest."""
    settings = idx.settings
    bases, queries = load_eval()
    idx.add_many([(f"{kind}:{b.id}", kind, _sig(b, settings), None) for b in bases])
    res: dict[str, dict[str, int]] = {k: {"tp": 0, "fp": 0, "fn": 0, "pos": 0, "neg": 0}
                                      for k in ("same_language", "cross_language")}
    errors = []
    for q in queries:
        group = "cross_language" if q.lang != "en" else "same_language"
        r = res[group]
        found = {c.doc_key.split(":", 1)[1]: c.similarity for c in idx.query(_sig(q, settings), limit=5)
                 if c.doc_key.startswith(kind + ":b")}
        found_other = [c for c in idx.query(_sig(q, settings), limit=5) if not c.doc_key.startswith(kind + ":b")]
        r["fp"] += len(found_other)
        if q.dup_of:
            r["pos"] += 1
            if q.dup_of in found:
                r["tp"] += 1
            else:
                r["fn"] += 1
                errors.append({"missed": q.id, "role": q.role})
        else:
            r["neg"] += 1
        for b, s in found.items():
            if b != q.dup_of:
                r["fp"] += 1
                errors.append({"false_match": q.id, "base": b, "similarity": s, "role": q.role})
    out: dict[str, object] = {}
    for g, r in res.items():
        prec = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else 1.0
        rec = r["tp"] / r["pos"] if r["pos"] else 1.0
        out[g] = {"precision": round(prec, 4), "recall": round(rec, 4), **r}
    out["errors"] = errors
    return out


def sweep(settings: NearDupSettings) -> dict[str, object]:
    """Exhaustive pair scores (no LSH) at several thresholds, and score parts of labelled pairs."""
    bases, queries = load_eval()
    bsig = {b.id: _sig(b, settings) for b in bases}
    pairs = []
    for q in queries:
        qs = _sig(q, settings)
        for bid, bs in bsig.items():
            ev = evidence(qs, bs, settings)
            label = "pos" if q.dup_of == bid else ("hard" if q.negative_of == bid else "neg")
            pairs.append((q.lang != "en", label, ev, q.id, bid))
    table = {}
    for t in [0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]:
        row = {}
        for cross in (False, True):
            sel = [p for p in pairs if p[0] == cross]
            tp = sum(1 for p in sel if p[1] == "pos" and p[2].score >= t)
            fp = sum(1 for p in sel if p[1] != "pos" and p[2].score >= t)
            pos = sum(1 for p in sel if p[1] == "pos")
            row["cross" if cross else "same"] = {
                "precision": round(tp / (tp + fp), 3) if tp + fp else 1.0, "recall": round(tp / pos, 3)}
        table[str(t)] = row
    detail = [{"q": p[3], "b": p[4], "label": p[1], "sh": round(p[2].shingles, 3), "w": round(p[2].words, 3),
               "a": round(p[2].anchors, 3), "nm": round(p[2].names, 3), "nu": round(p[2].numbers, 3), "score": round(p[2].score, 3)}
              for p in pairs if p[1] in ("pos", "hard") or p[2].score >= 0.3]
    return {"thresholds": table, "pairs": detail}


# ----------------------------------------------------------------------- scaling

def _vocab(n: int, rng: random.Random) -> list[str]:
    letters = "bcdfghjklmnprstvz"
    vowels = "aeiou"
    words = set()
    while len(words) < n:
        k = rng.randint(2, 4)
        words.add("".join(rng.choice(letters) + rng.choice(vowels) for _ in range(k)))
    return sorted(words)


def synthetic_docs(n: int, seed: int, vocab: list[str], words: int = 60) -> list[str]:
    """Random 60-word docs: Zipf-like content words, some capitalised names and numbers."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(vocab))]
    out = []
    for _ in range(n):
        toks = rng.choices(vocab, weights=weights, k=words)
        for j in rng.sample(range(words), 6):
            toks[j] = toks[j].capitalize()
        for j in rng.sample(range(words), 2):
            toks[j] = str(rng.randint(1, 3000))
        out.append(" ".join(toks) + ".")
    return out


def _rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _probe_main(db_path: str, n_queries: int) -> None:
    """Child process: open an existing index, query, report RSS growth and time."""
    vocab = _vocab(20000, random.Random(1))
    docs = synthetic_docs(n_queries, 999, vocab)
    sigs = [make_signature(d) for d in docs]  # (warms the stemmer: the first query times the index alone)
    before = _rss_kb()
    t0 = time.perf_counter()
    conn = open_store(Path(db_path))
    idx = NearDupIndex(conn, NearDupSettings())
    first: list[float] = []
    for sig in sigs:
        idx.query(sig)
        if len(first) < 10:
            first.append(time.perf_counter() - t0)
    dt = time.perf_counter() - t0
    after = _rss_kb()
    memory = getattr(idx, "memory_bytes", None)
    print(json.dumps({"rss_delta_mb": round((after - before) / 1024, 2), "count": idx.count(),
                      "open_and_query_ms": round(dt * 1000 / n_queries, 4),
                      "first_query_ms": round(first[0] * 1000, 3) if first else 0.0,
                      "first_10_queries_ms": round(first[-1] * 1000, 3) if first else 0.0,
                      "index_bytes": memory() if memory is not None else None}))


def scaling(sizes: list[int], n_queries: int) -> dict[str, object]:
    settings = NearDupSettings()
    vocab = _vocab(20000, random.Random(1))
    tmp = tempfile.mkdtemp(prefix="bench_dedup_")
    db = os.path.join(tmp, "index.sqlite")
    conn = open_store(Path(db))
    idx = NearDupIndex(conn, settings)
    q_ms: dict[str, float] = {}
    q_p95: dict[str, float] = {}
    q_cpu: dict[str, float] = {}
    lookup_ms: dict[str, float] = {}
    lookup_p95: dict[str, float] = {}
    build_s = 0.0
    have = 0
    probe_docs = synthetic_docs(n_queries, 4242, vocab)
    sig_times: list[float] = []
    index_bytes: dict[str, int] = {}
    for size in sizes:
        docs = synthetic_docs(size - have, 1000 + size, vocab)
        t0 = time.perf_counter()
        batch = []
        for i, d in enumerate(docs):
            batch.append((f"item:{have + i}", "item", make_signature(d, settings=settings), have + i))
            if len(batch) == 5000:
                idx.add_many(batch)
                batch = []
        idx.add_many(batch)
        build_s += time.perf_counter() - t0
        have = size
        memory = getattr(idx, "memory_bytes", None)
        if memory is not None:
            index_bytes[str(size)] = memory()
        # Half the probes are light edits of indexed docs (hits), half are new (misses).
        hits = [re.sub(r"^\S+ \S+", "Edited lede", d) for d in docs[: n_queries // 2]]
        queries = hits + probe_docs[: n_queries - len(hits)]
        for q in queries[:20]:  # warm stemmer cache and SQLite pages like a running daemon
            idx.query(make_signature(q, settings=settings))
        times = []
        found = 0
        c0 = time.thread_time()
        for q in queries:
            t0 = time.perf_counter()
            res = idx.query(make_signature(q, settings=settings))
            times.append(time.perf_counter() - t0)
            found += bool(res)
        q_cpu[str(size)] = round((time.thread_time() - c0) * 1000 / len(queries), 4)
        q_ms[str(size)] = round(statistics.mean(times) * 1000, 4)
        q_p95[str(size)] = round(sorted(times)[int(len(times) * 0.95) - 1] * 1000, 4)
        # the lookup alone, as the pipeline asks it (the signature is made earlier, off the database thread)
        sigs = [make_signature(q, settings=settings) for q in queries]
        lookups = []
        for sig in sigs:
            t0 = time.perf_counter()
            idx.query(sig)
            lookups.append(time.perf_counter() - t0)
        lookup_ms[str(size)] = round(statistics.mean(lookups) * 1000, 4)
        lookup_p95[str(size)] = round(sorted(lookups)[int(len(lookups) * 0.95) - 1] * 1000, 4)
        if size == sizes[-1]:
            c0 = time.thread_time()
            for q in queries:
                t0 = time.perf_counter()
                make_signature(q, settings=settings)
                sig_times.append(time.perf_counter() - t0)
            sig_cpu_us = (time.thread_time() - c0) * 1e6 / len(queries)
            hit_rate = found / len(queries)
    # The labelled set again, its bases indexed as items among all the synthetic documents.
    at_scale = evaluate_in(idx, "item")
    # Query then add, one new document at a time, as the pipeline does (after the quality run: the
    # figures above are measured without these documents).
    fresh = [make_signature(d, settings=settings) for d in synthetic_docs(n_queries, 5151, vocab)]
    c0 = time.thread_time()
    for i, sig in enumerate(fresh):
        idx.query(sig)
        idx.add(f"item:qa{i}", "item", sig, None)
    query_add_cpu = (time.thread_time() - c0) * 1000 / len(fresh)
    idx.save()  # as the daemon does when it stops
    conn.close()
    file_mb = os.path.getsize(db) / 2**20
    probe = subprocess.run([sys.executable, __file__, "--probe", db, str(n_queries)],
                           capture_output=True, text=True, check=True)
    probe_res = json.loads(probe.stdout)
    shutil.rmtree(tmp)  # the database and the index saved beside it
    largest = str(sizes[-1])
    return {
        "dedup_query_ms": q_ms,
        "dedup_query_p95_ms": q_p95,
        "dedup_query_cpu_ms": q_cpu,
        "dedup_lookup_ms": lookup_ms,
        "dedup_lookup_p95_ms": lookup_p95,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "query_hit_rate_at_largest": round(hit_rate, 3),
        "signature_us": round(statistics.mean(sig_times) * 1e6, 1),
        "signature_cpu_us": round(sig_cpu_us, 1),
        "index_build_s": round(build_s, 1),
        "index_file_mb": round(file_mb, 1),
        "index_rss_delta_mb": probe_res["rss_delta_mb"],
        "cold_open_query_ms": probe_res["open_and_query_ms"],
        "index_docs": probe_res["count"],
        "dedup_query_add_cpu_ms_at_largest": round(query_add_cpu, 4),
        "neardup_restart_first_query_ms": probe_res["first_query_ms"],
        "neardup_restart_first_10_queries_ms": probe_res["first_10_queries_ms"],
        "neardup_index_bytes": index_bytes,
        **({"neardup_index_bytes_100k": index_bytes["100000"]} if "100000" in index_bytes else {}),
        "neardup_index_bytes_after_restart": probe_res["index_bytes"],
        "neardup_index_bytes_largest": index_bytes.get(largest),
        "quality_at_largest_lsh_only": {g: {k: at_scale[g][k] for k in ("precision", "recall")}  # type: ignore[index]
                                        for g in ("same_language", "cross_language")},
        "quality_at_largest_errors": at_scale["errors"],
    }


def compare_datasketch(n: int) -> dict[str, float]:
    """Signature time: our numpy MinHash vs datasketch MinHash on the same shingles."""
    from datasketch import MinHash

    from monitor.analysis.neardup import _content_tokens

    vocab = _vocab(20000, random.Random(1))
    docs = synthetic_docs(n, 77, vocab)
    s = NearDupSettings()
    for d in docs:  # warm the stemmer cache for both
        _content_tokens(d)
    t0 = time.thread_time()
    for d in docs:
        make_signature(d, settings=s)
    ours = (time.thread_time() - t0) / n
    t0 = time.thread_time()
    for d in docs:
        toks = _content_tokens(d)
        sh = {" ".join(toks[i : i + 2]).encode() for i in range(len(toks) - 1)}
        for family in (sh, {t.encode() for t in toks}):
            m = MinHash(num_perm=s.num_perm)
            m.update_batch(list(family))
    theirs = (time.thread_time() - t0) / n
    return {"ours_full_signature_cpu_us": round(ours * 1e6, 1),
            "datasketch_two_minhashes_cpu_us": round(theirs * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, runs in seconds")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--sweep", action="store_true", help="also print the threshold sweep and pair scores")
    ap.add_argument("--probe", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.probe:
        _probe_main(args.probe[0], int(args.probe[1]))
        return
    sizes = [200, 1000] if args.smoke else [int(x) for x in args.sizes.split(",")]
    n_q = 50 if args.smoke else args.queries
    settings = NearDupSettings()
    with tempfile.TemporaryDirectory() as tmp:
        quality = evaluate(settings, os.path.join(tmp, "eval.sqlite"))
        as_items = evaluate(settings, os.path.join(tmp, "eval_items.sqlite"), kind="item")
    out: dict[str, object] = {
        "settings": {"threshold": settings.threshold, "num_perm": settings.num_perm,
                     "bands": settings.bands, "rows": settings.rows},
        "precision_same_language": quality["same_language"]["precision"],  # type: ignore[index]
        "recall_same_language": quality["same_language"]["recall"],  # type: ignore[index]
        "precision_cross_language": quality["cross_language"]["precision"],  # type: ignore[index]
        "recall_cross_language": quality["cross_language"]["recall"],  # type: ignore[index]
        "quality": quality,
        "quality_bases_as_items_lsh_only": as_items,
    }
    out.update(scaling(sizes, n_q))
    out["signature_vs_datasketch"] = compare_datasketch(50 if args.smoke else 1000)
    if args.sweep:
        out["sweep"] = sweep(settings)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
