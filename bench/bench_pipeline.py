"""Pipeline benchmark without translation: parse, detect, dedup, match, store on 10,000 items, one core.

1. End to end: ``parse_feed`` + ``pipeline.ingest`` (the service's own code, shipped
   watchlists and seeds, translation off) over 200 synthetic feeds of 50 items.
2. Each stage alone on the same items, so the slowest one is visible: parse_feed,
   language.detect_item, dedup (exact keys, near-dup signature, index query and add),
   watchlist match (both shipped watchlists), store (guid check, fingerprint lookups,
   inserts, matches) in a fresh database.
3. The ceiling: feedparser alone on the same bytes (``sanitize_html=False,
   resolve_relative_uris=False``; defaults too, for reference).

The process is pinned to one CPU. Rates are given per CPU-second of the single thread
(robust on a shared machine) and per wall second. Prints one JSON object; ``--smoke``
uses 4 feeds of 10 items; ``--profile`` adds the top functions of the end-to-end run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser

from bench.feedgen import load_corpus, render_feed

TARGET_ITEMS_PER_S = 2000.0


@dataclass
class Clock:
    """Accumulates wall and CPU seconds per named stage."""

    wall: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def time(self, name: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - c


def _config(state: Path) -> Any:
    from bench.feedgen import write_config
    from monitor.config import load_config

    state.mkdir(parents=True, exist_ok=True)
    path = write_config(state / "config.yaml", ["http://127.0.0.1:9/bench.xml"], state=state)
    return load_config(path)


def end_to_end(bodies: list[bytes], state: Path, profile: bool) -> tuple[Clock, int, int, int, str | None]:
    """parse_feed + ingest for every body, as the service does it (one feed id per body)."""
    from monitor.ingest.parse import parse_feed
    from monitor.service.pipeline import open_services, sync_seeds

    cfg = _config(state)
    svc = open_services(cfg)
    sync_seeds(svc)
    feeds = [(f"http://127.0.0.1:9/f{i}.xml", f"Feed {i:04d}") for i in range(len(bodies))]
    ids = svc.store.feeds.sync(feeds)
    clock = Clock()
    prof = cProfile.Profile() if profile else None
    new = dups = matched = 0
    if prof:
        prof.enable()
    from monitor.service.pipeline import ingest

    for (url, name), body in zip(feeds, bodies):
        with clock.time("parse"):
            parsed = parse_feed(body, "application/rss+xml", url)
        with clock.time("ingest"):
            n, d, m = ingest(svc, name, ids[url], parsed.entries)
        new, dups, matched = new + n, dups + d, matched + m
    if prof:
        prof.disable()
    svc.close()
    top = None
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        top = buf.getvalue()
    return clock, new, dups, matched, top


def stages(bodies: list[bytes], state: Path) -> tuple[Clock, dict[str, int]]:
    """Each stage alone over the same items, in a fresh database."""
    from monitor.analysis.dedup import canonical_url, content_fingerprint
    from monitor.analysis.language import detect_item
    from monitor.analysis.neardup import NearDupIndex, NearDupSettings, make_signature
    from monitor.analysis.watchlists import MatchInput, load_watchlists, prepare
    from monitor.ingest.parse import parse_feed
    from monitor.store import MatchRecord, NewItem, open_store

    cfg = _config(state)
    clock = Clock()
    with clock.time("parse"):
        parsed = [parse_feed(b, "application/rss+xml", f"http://127.0.0.1:9/f{i}.xml") for i, b in enumerate(bodies)]
    entries = [(i, e) for i, p in enumerate(parsed) for e in p.entries]
    with clock.time("detect"):
        langs = [detect_item(e.title, e.summary, declared=e.language_hint) for _, e in entries]
    st = open_store(cfg.database)
    index = NearDupIndex(st, NearDupSettings(threshold=cfg.dedup.threshold))
    with clock.time("dedup_exact_keys"):
        keys = [(canonical_url(e.link), content_fingerprint(e.title, e.summary)) for _, e in entries]
    with clock.time("dedup_signature"):
        sigs = [make_signature(f"{e.title}\n{e.summary}", None, r.language) for (_, e), r in zip(entries, langs)]
    near = 0
    with clock.time("dedup_query_add"):
        for n, sig in enumerate(sigs):
            near += bool(index.query(sig, limit=1))
            index.add(f"item:{n}", "item", sig, None)
    wls, problems = load_watchlists(cfg.watchlists)
    if problems:
        raise RuntimeError(f"watchlists do not load: {problems}")
    found: list[list[tuple[str, float, list[str]]]] = []
    with clock.time("match"):
        for (i, e), r in zip(entries, langs):
            inp = prepare(MatchInput(title=e.title, summary=e.summary, language=r.language, feed=f"Feed {i:04d}"))
            hits = []
            for w in wls:
                m = w.match(inp)
                if m is not None:
                    hits.append((w.name, m.score, m.why()))
            found.append(hits)
    ids = st.feeds.sync([(f"http://127.0.0.1:9/f{i}.xml", f"Feed {i:04d}") for i in range(len(bodies))])
    now = time.time()
    with clock.time("store"):  # what pipeline.ingest does around the other stages, per feed
        pos = 0
        for i, p in enumerate(parsed):
            feed_id = ids[f"http://127.0.0.1:9/f{i}.xml"]
            st.items.known_guids(feed_id, [e.guid for e in p.entries])
            batch_keys = keys[pos:pos + len(p.entries)]
            st.items.lookup_fingerprints([(k, v) for canon, content in batch_keys
                                          for k, v in (("url", canon), ("content", content)) if v])
            with st.transaction():
                first_id = st.items.reserve_ids(len(p.entries))
                rows = []
                for j, e in enumerate(p.entries):
                    (canon, content), r, hits = keys[pos], langs[pos], found[pos]
                    item_id = first_id + j
                    fps = tuple((k, v) for k, v in (("url", canon), ("content", content)) if v)
                    rows.append(NewItem(
                        id=item_id, feed_id=feed_id, guid=e.guid, link=e.link, canonical_url=canon, title=e.title,
                        summary=e.summary, author=e.author, published=e.published.timestamp() if e.published else None,
                        fetched=now, language=r.language, language_confidence=round(r.confidence, 3),
                        language_script=r.script, language_uncertain=bool(r.uncertain), content_hash=content or "",
                        translation_status="not_needed", story_id=item_id, fingerprints=fps,  # type: ignore[arg-type]
                        matches=tuple(MatchRecord(item_id, w, sc, tuple(why), now) for w, sc, why in hits)))
                    pos += 1
                st.items.apply(rows)
    st.close()
    counts = {"items": len(entries), "near_duplicates": near, "matched": sum(1 for f in found if f),
              "languages": len({r.language for r in langs})}
    return clock, counts


def feedparser_rates(bodies: list[bytes]) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, kwargs in (("tuned", {"sanitize_html": False, "resolve_relative_uris": False}), ("defaults", {})):
        c = time.thread_time()
        w = time.perf_counter()
        n = sum(len(feedparser.parse(b, **kwargs).entries) for b in bodies)
        out[f"{label}_cpu_s"] = time.thread_time() - c
        out[f"{label}_wall_s"] = time.perf_counter() - w
        out[f"{label}_items"] = n
    return out


def _rate(n: int, s: float) -> float:
    return round(n / s, 1) if s > 0 else 0.0


def run(n_feeds: int, items: int, profile: bool) -> dict[str, Any]:
    corpus = load_corpus()
    bodies = [render_feed(i, corpus, items=items, seed=11) for i in range(n_feeds)]
    n_items = n_feeds * items
    out: dict[str, Any] = {"feeds": n_feeds, "items": n_items, "bytes": sum(map(len, bodies))}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        e2e, new, dups, matched, top = end_to_end(bodies, Path(tmp) / "e2e", profile)
        st, counts = stages(bodies, Path(tmp) / "stages")
    fp = feedparser_rates(bodies)
    e2e_cpu = sum(e2e.cpu.values())
    e2e_wall = sum(e2e.wall.values())
    out["pipeline_items_per_s"] = _rate(n_items, e2e_cpu)
    out["pipeline_items_per_wall_s"] = _rate(n_items, e2e_wall)
    out["pipeline_cpu_s"] = {k: round(v, 3) for k, v in e2e.cpu.items()}
    out["pipeline_result"] = {"new": new, "duplicates": dups, "matched": matched}
    out["feedparser_items_per_s"] = _rate(fp["tuned_items"], fp["tuned_cpu_s"])
    out["feedparser_defaults_items_per_s"] = _rate(fp["defaults_items"], fp["defaults_cpu_s"])
    out["pipeline_vs_feedparser"] = round(out["pipeline_items_per_s"] / out["feedparser_items_per_s"], 3)
    # parse_feed alone over feedparser alone on the same bodies (CPU seconds; 1.0 = no overhead of ours)
    out["parse_vs_feedparser"] = round(st.cpu["parse"] / fp["tuned_cpu_s"], 3) if fp["tuned_cpu_s"] > 0 else 0.0
    out["detect_item_us"] = round(st.cpu["detect"] / max(counts["items"], 1) * 1e6, 1)
    groups = {"parse": ["parse"], "detect": ["detect"],
              "dedup": ["dedup_exact_keys", "dedup_signature", "dedup_query_add"],
              "match": ["match"], "store": ["store"]}
    total = sum(st.cpu.values())
    out["stage_cpu_s"] = {k: round(v, 3) for k, v in st.cpu.items()}
    out["stage_items_per_s"] = {g: _rate(n_items, sum(st.cpu[k] for k in ks)) for g, ks in groups.items()}
    out["stage_share"] = {g: round(sum(st.cpu[k] for k in ks) / total, 3) for g, ks in groups.items()}
    out["stage_detail_share"] = {k: round(v / total, 3) for k, v in st.cpu.items()}
    out["slowest_stage"] = max(out["stage_share"], key=out["stage_share"].get)
    out["stages_sum_items_per_s"] = _rate(n_items, total)
    out["stage_counts"] = counts
    out["targets"] = {"pipeline_items_per_s": f"> {TARGET_ITEMS_PER_S:g}"}
    out["met"] = {"pipeline_items_per_s": out["pipeline_items_per_s"] > TARGET_ITEMS_PER_S}
    if top:
        out["profile_top"] = top
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="4 feeds x 10 items")
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="cProfile the end-to-end run (top 25 by own time)")
    ap.add_argument("--cpu", type=int, help="CPU to pin to (default: the last one allowed)")
    args = ap.parse_args()
    allowed = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else allowed[-1]
    os.sched_setaffinity(0, {cpu})
    feeds, items = (4, 10) if args.smoke else (args.feeds, args.items)
    t0 = time.perf_counter()
    result = run(feeds, items, args.profile)
    top = result.pop("profile_top", None)
    if top:
        print(top, file=__import__("sys").stderr)
    print(json.dumps({"bench": "pipeline", "smoke": args.smoke, "cpu": cpu, **result,
                      "bench_wall_s": round(time.perf_counter() - t0, 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
