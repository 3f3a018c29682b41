"""Benchmark of story decisions on wire-like reporting: wrong merges and missed merges.

The labelled set in bench/data/stories/*.jsonl (one report per line with its event id,
outlet, language and publication time) is fed through the real ingest decision
(:func:`monitor.service.pipeline.ingest` on a real SQLite file, one feed per outlet), one item at
a time in publication order, each "fetched" at its publication time, so the story
window sees the real gaps between reports. Translation is off: every decision is made on
the items' own languages (as on a machine without models for the region's languages).

Figures:

* ``story_wrong_merge_rate``: items stored in an earlier item's story (``duplicate_kind``
  ``story`` or ``update``) whose story began with a report of another event, over all such
  items (target <= 0.02);
* ``story_missed_merge_same_lang`` / ``story_missed_merge_cross_lang``: pairs of reports of
  one event (same language / different languages) that ended in different stories, over all
  such pairs (target same language <= 0.25);
* ``story_updates_suppressed``: reports labelled as an update (a reversal, a postponement)
  stored as a plain story member, which digests would hide (target 0), unless the report it
  joined is an earlier report of the same change;
* ``story_update_recall``: labelled updates stored with ``duplicate_kind: update``.

``--scale N`` measures the cost instead: N generated reports (:mod:`bench.feedgen`'s text in the
region's languages, about 6 % topical stories that several outlets carry) spread evenly over one
story window, each decided against the window (:meth:`StoryIndex.decide` on a real SQLite file)
and added, in publication order. Figures (CPU microseconds): ``story_decide_us`` (the mean of one decision,
the window filling from 0 to N reports), ``story_decide_us_last`` (over the last 1,000, the window
holding nearly N),
``story_text_us`` (the mean of :func:`story_text`), ``story_scale_stories`` (stories
formed) and ``story_scale_agreement``: the share of sampled decisions (about 500) that an
uncapped lookup (:meth:`StorySettings.uncapped`) makes identically on the same window;
``story_scale_event_recall``: the share of topical reports repeating an earlier one's wire
story that joined a story of an earlier report of it.
``--uncapped`` runs the whole scale bench with the uncapped lookup.

Usage: python bench/bench_stories.py [--smoke] [--errors] [--scale N [--uncapped]]. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.feedgen import LANGUAGE_WEIGHTS, load_corpus, make_item  # noqa: E402
from monitor.analysis.story import StoryIndex, StorySettings  # noqa: E402
from monitor.analysis.story_text import story_text  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ingest.parse import Entry  # noqa: E402
from monitor.service.pipeline import ingest, open_services  # noqa: E402

DATA = ROOT / "bench" / "data" / "stories"
TARGET_WRONG = 0.02
TARGET_MISSED_SAME = 0.25


@dataclass(frozen=True)
class Report:
    id: str
    event: str
    lang: str
    outlet: str
    published: datetime
    title: str
    summary: str
    update: bool


def load_reports(path: Path = DATA) -> list[Report]:
    """Every report of the set, in publication order."""
    out = []
    for f in sorted(path.glob("*.jsonl")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
                out.append(Report(o["id"], o["event"], o["lang"], o["outlet"],
                                  datetime.fromisoformat(o["published"].replace("Z", "+00:00")),
                                  o["title"], o["summary"], o.get("kind") == "update"))
            except (KeyError, ValueError) as e:
                raise SystemExit(f"{f.name}:{n}: {e}") from e
    return sorted(out, key=lambda r: (r.published, r.id))


def _slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-") or "outlet"


def run(reports: list[Report], tmp: Path) -> dict[str, tuple[int, int, str | None, int | None]]:
    """Ingest the reports one by one; report id -> (item id, story id, duplicate_kind, duplicate_of)."""
    outlets = sorted({(r.outlet, r.lang) for r in reports})
    feeds = {o: f"https://feeds.example/{i}-{_slug(o[0])}.xml" for i, o in enumerate(outlets)}
    for d in ("watchlists", "seeds"):
        (tmp / d).mkdir()
    cfg = {"database": str(tmp / "bench.db"), "watchlists": str(tmp / "watchlists"), "seeds": str(tmp / "seeds"),
           "digests": str(tmp / "digests"), "models": str(tmp / "models"), "translation": {"enabled": False},
           "feeds": [{"name": f"{o} ({lang})", "url": url, "language": lang} for (o, lang), url in feeds.items()]}
    (tmp / "config.yaml").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    svc = open_services(load_config(tmp / "config.yaml"))
    try:
        for r in reports:
            url = feeds[(r.outlet, r.lang)]
            entry = Entry(guid=r.id, link=f"{url.removesuffix('.xml')}/{r.id}", title=r.title, summary=r.summary,
                          published=r.published, author=None, language_hint=r.lang)
            ingest(svc, f"{r.outlet} ({r.lang})", svc.feed_ids[url], [entry], override=r.lang,
                   now=r.published.timestamp() + 60)
        rows = [(r.guid, r.id, r.story_id, r.duplicate_kind, r.duplicate_of) for r in svc.store.items.list()]
    finally:
        svc.close()
    return {g: (int(i), int(s), k, o) for g, i, s, k, o in rows}


def score(reports: list[Report], stored: dict[str, tuple[int, int, str | None, int | None]]) -> dict[str, object]:
    by_item = {stored[r.id][0]: r for r in reports}
    merges = wrong = 0
    errors: list[dict[str, object]] = []
    updates = {"labelled": 0, "as_update": 0, "suppressed": 0}
    false_updates = 0
    for r in reports:
        item, story, kind, of = stored[r.id]
        if kind in ("story", "update"):
            merges += 1
            root = by_item.get(story)
            if root is not None and root.event != r.event:
                wrong += 1
                errors.append({"wrong_merge": r.id, "joined": root.id, "event": r.event, "other": root.event,
                               "days": round((r.published - root.published).total_seconds() / 86400, 1)})
        if r.update:
            updates["labelled"] += 1
            updates["as_update"] += kind == "update"
            joined = by_item.get(of) if of is not None else None
            if kind == "story" and not (joined is not None and joined.update and joined.event == r.event):
                # a plain member of the story (hidden once the story is sent), unless it repeats
                # an earlier report of the same change, which was delivered
                updates["suppressed"] += 1
                errors.append({"update_suppressed": r.id})
        elif kind == "update":
            false_updates += 1
    pairs = {"same": [0, 0], "cross": [0, 0]}  # [pairs, missed]
    by_event: dict[str, list[Report]] = {}
    for r in reports:
        by_event.setdefault(r.event, []).append(r)
    for event, group in by_event.items():
        for a, b in itertools.combinations(group, 2):
            key = "same" if a.lang == b.lang else "cross"
            pairs[key][0] += 1
            if stored[a.id][1] != stored[b.id][1]:
                pairs[key][1] += 1
                errors.append({f"missed_{key}_lang": [a.id, b.id], "event": event})
    rate = round(wrong / merges, 4) if merges else 0.0
    missed_same = round(pairs["same"][1] / pairs["same"][0], 4) if pairs["same"][0] else 0.0
    missed_cross = round(pairs["cross"][1] / pairs["cross"][0], 4) if pairs["cross"][0] else 0.0
    return {
        "story_items": len(reports),
        "story_events": len(by_event),
        "story_languages": sorted({r.lang for r in reports}),
        "story_merges": merges,
        "story_wrong_merges": wrong,
        "story_wrong_merge_rate": rate,
        "story_pairs_same_lang": pairs["same"][0],
        "story_missed_merge_same_lang": missed_same,
        "story_pairs_cross_lang": pairs["cross"][0],
        "story_missed_merge_cross_lang": missed_cross,
        "story_updates_labelled": updates["labelled"],
        "story_updates_suppressed": updates["suppressed"],
        "story_update_recall": round(updates["as_update"] / updates["labelled"], 4) if updates["labelled"] else 1.0,
        "story_false_updates": false_updates,
        "met": {"story_wrong_merge_rate": rate <= TARGET_WRONG,
                "story_missed_merge_same_lang": missed_same <= TARGET_MISSED_SAME,
                "story_updates_suppressed": updates["suppressed"] == 0},
        "errors": errors,
    }


SCALE_T0 = 1_715_256_000.0  # 2024-05-09 12:00 UTC
SCALE_LAST = 1000  # story_decide_us_last: the mean over the last this many decisions
SCALE_SAMPLES = 500  # decisions compared with the uncapped lookup


def run_scale(n: int, tmp: Path, *, uncapped: bool = False, seed: int = 2024,
              settings: StorySettings | None = None) -> dict[str, object]:
    """Decide and add ``n`` generated reports spread over one story window (see the module docstring)."""
    from monitor.store import open_store

    corpus = load_corpus()
    rng = random.Random(seed)
    langs = list(LANGUAGE_WEIGHTS)
    weights = [LANGUAGE_WEIGHTS[x] for x in langs]
    settings = settings or StorySettings()
    if uncapped:
        settings = settings.uncapped()
    st = open_store(tmp / "scale.sqlite")
    index = StoryIndex(st, settings)
    exact = StoryIndex(st, settings.uncapped())  # the same store, its own window: the reference
    topical = {(_lang, title) for _lang, rows in corpus.topical.items() for title, _ in rows}
    event_story: dict[tuple[str, str], set[int]] = {}  # a topical report's event -> its reports' stories
    repeats = found = 0
    step = max(1, n // SCALE_SAMPLES)
    gap = settings.window / max(n, 1)
    text_s = 0.0
    decide: list[float] = []
    stories: set[int] = set()
    sampled = agree = 0
    try:
        for i in range(1, n + 1):
            lang = rng.choices(langs, weights=weights)[0]
            title, summary = make_item(rng, corpus, lang)
            at = SCALE_T0 + i * gap
            t0 = time.process_time()  # CPU time: steadier than the wall clock on a shared machine
            text = story_text(title, summary, lang)
            t1 = time.process_time()
            d = index.decide(text, at)
            t2 = time.process_time()
            text_s += t1 - t0
            decide.append(t2 - t1)
            if i % step == 0:
                sampled += 1
                agree += exact.decide(text, at) == d
            story = d.story_id if d.story_id is not None else i
            stories.add(story)
            event = (lang.split("-")[0], title)
            if event in topical:  # the same wire story again: it should join an earlier report's story
                earlier = event_story.setdefault(event, set())
                if earlier:
                    repeats += 1
                    found += story in earlier
                earlier.add(story)
            with st.transaction():
                index.add(i, story, at, text)
                index.flush()  # the reference index reads it from the store
    finally:
        st.close()
    last = decide[-SCALE_LAST:]
    return {
        "story_scale_items": n,
        "story_scale_uncapped": uncapped,
        "story_decide_us": round(1e6 * sum(decide) / max(len(decide), 1), 1),
        "story_decide_us_last": round(1e6 * sum(last) / max(len(last), 1), 1),
        "story_text_us": round(1e6 * text_s / max(n, 1), 1),
        "story_scale_stories": len(stories),
        "story_scale_sampled": sampled,
        "story_scale_agreement": round(agree / sampled, 4) if sampled else 1.0,
        "story_scale_event_repeats": repeats,
        "story_scale_event_recall": round(found / repeats, 4) if repeats else 1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="the same set (it takes seconds)")
    ap.add_argument("--errors", action="store_true", help="print only the errors, one per line")
    ap.add_argument("--scale", type=int, metavar="N",
                    help="measure the cost of decisions on N generated reports in one story window instead")
    ap.add_argument("--uncapped", action="store_true", help="with --scale: the uncapped candidate lookup")
    args = ap.parse_args()
    if args.scale is not None:
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="bench_stories_scale_") as tmp:
            scale = run_scale(args.scale, Path(tmp), uncapped=args.uncapped)
        scale["story_scale_s"] = round(time.perf_counter() - t0, 2)
        print(json.dumps(scale, indent=1, ensure_ascii=False))
        return
    reports = load_reports()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_stories_") as tmp:
        stored = run(reports, Path(tmp))
    out = score(reports, stored)
    out["story_ingest_s"] = round(time.perf_counter() - t0, 2)
    if args.errors:
        for e in out["errors"]:  # type: ignore[attr-defined]
            print(json.dumps(e, ensure_ascii=False))
        return
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
