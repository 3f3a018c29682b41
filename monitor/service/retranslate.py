"""Items stored untranslated ("unavailable: no model ...") get translated once a model for their
language is installed, and then go through the near-duplicate and watchlist decisions again,
like a new item: a story they now belong to, a watchlist they now match. What was delivered
stays delivered (the delivery ledger is keyed by item and story and never rewritten); matches
are added or updated, never removed here.

The daemon calls ``translate_waiting`` whenever its installed models change (and once at start);
``monitor run --once`` calls it before polling; ``monitor models install`` reports
``waiting_counts``. A translation-only worker (``monitor run --translate-only``) runs the same
three steps, ``pick_waiting`` (under its claims), ``translate_rows`` and ``store_translations``,
for the items poll workers with ``translation.remote: true`` store untranslated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.analysis.neardup import decide, make_signature
from monitor.analysis.translate import CACHED, TRANSLATED, TranslationResult, Translator, source_code
from monitor.analysis.watchlists import MatchInput, match_all, prepare
from monitor.store import MatchRecord, Store, StoredItem

log = logging.getLogger(__name__)

# "no model kk->en ..." and "model X failed to load / unusable: ..." (a newer install may fix it);
# not "language uncertain", "translation disabled" or a failed sanity check of one text.
BATCH = 200  # items per transaction


@dataclass(frozen=True)
class Outcome:
    translated: int  # items that got a translation
    matched: int  # of those, items that now match a watchlist they did not match before
    joined: int  # of those, items that now join an earlier story as near-duplicates
    waiting: int  # items still waiting for a model
    more: bool = False  # the round stopped at its limit: call again


def models_fingerprint(models_dir: Path) -> tuple[tuple[str, int], ...]:
    """What is installed, as names and modification times (no file is opened, no lock taken)."""
    out = []
    for base in (Path(models_dir), Path(models_dir) / "multilingual"):
        try:
            out += [(f"{base.name}/{p.name}", p.stat().st_mtime_ns) for p in base.iterdir()
                    if not p.name.startswith(".")]
        except OSError:
            continue
    return tuple(sorted(out))


def waiting_counts(store: Store) -> dict[str, int]:
    """Stored items waiting for a model, by routing code ("kk", "uz-Cyrl")."""
    out: dict[str, int] = {}
    for g in store.items.waiting_translation():
        code = source_code(g.language, g.script) or str(g.language)
        out[code] = out.get(code, 0) + g.count
    return out


def servable(store: Store, translator: Translator) -> dict[str, int]:
    """Waiting items whose language the installed models now serve, by code."""
    return {code: n for code, n in waiting_counts(store).items()
            if not isinstance(translator.route_for(code), str)}


# claim(language, script, limit) -> the waiting items a translation-only worker now holds
Claim = Callable[[str | None, str | None, int], list[StoredItem]]


def pick_waiting(svc: Any, translator: Translator, limit: int, claim: Claim | None = None) -> list[StoredItem]:
    """Up to ``limit`` waiting items whose language the installed models serve (oldest first, by
    language); ``claim`` takes them under a claim of a translation-only worker (PostgreSQL)."""
    st: Store = svc.store
    translator.refresh()
    groups = [(g.language, g.script) for g in st.items.waiting_translation()
              if not isinstance(translator.route_for(source_code(g.language, g.script) or str(g.language)), str)]
    take = claim or st.items.waiting_items
    rows: list[StoredItem] = []
    for lang, script in groups:
        rows += take(lang, script, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def translate_rows(translator: Translator, rows: list[StoredItem]) -> list[TranslationResult]:
    """Title and lead of each row, translated (two results per row; no database work)."""
    from monitor.analysis.translate import cut_lead
    from monitor.service.pipeline import TRANSLATE_SUMMARY_CHARS

    requests: list[tuple[str, str]] = []
    for r in rows:
        code = source_code(r.language, r.language_script) or r.language or ""
        requests.append((r.title, code))
        requests.append((cut_lead(r.summary or "", TRANSLATE_SUMMARY_CHARS), code))
    return translator.translate_many(requests) if requests else []


def store_translations(svc: Any, rows: list[StoredItem], results: list[TranslationResult],
                       now: float | None = None) -> tuple[int, int, int]:
    """Store what ``translate_rows`` returned and re-decide near-duplicates and matches, one
    transaction per BATCH rows. Returns (translated, newly matched, joined a story)."""
    from monitor.ingest.seeds import SEED_FEED_URL

    st: Store = svc.store
    now = now or time.time()
    target = svc.config.translation.target
    translated = matched = joined = 0
    for start in range(0, len(rows), BATCH):
        with st.transaction():
            for i in range(start, min(start + BATCH, len(rows))):
                r, rt, rs = rows[i], results[2 * i], results[2 * i + 1]
                if rt.status not in (TRANSLATED, CACHED):
                    st.items.set_translation_status(r.id, f"unavailable: {rt.reason or rt.status}"[:200])
                    continue
                summary_tr = rs.text if rs.status in (TRANSLATED, CACHED, "not_needed") and r.summary else None
                translated += 1
                m, j = _redecide(svc, r, rt.text, summary_tr, target, rt.status, r.feed_url == SEED_FEED_URL, now)
                matched += m
                joined += j
    return translated, matched, joined


def translate_waiting(svc: Any, *, now: float | None = None, limit: int = 5000) -> Outcome:
    """Translate up to ``limit`` waiting items whose language now has a model (oldest first);
    re-decide near-duplicates and watchlist matches for them. ``svc`` is a pipeline.Services
    (its store, translator, near-duplicate index and watchlists). ``Outcome.more`` says
    whether the limit cut the round short. A service with ``translation.remote`` leaves them
    to the translation-only workers (monitor.service.translation_worker)."""
    st: Store = svc.store
    translator: Translator | None = None if svc.config.translation.remote else svc.get_translator()
    if translator is None:
        return Outcome(0, 0, 0, sum(waiting_counts(st).values()))
    rows = pick_waiting(svc, translator, limit)
    if not rows:
        return Outcome(0, 0, 0, sum(waiting_counts(st).values()))
    translated = matched = joined = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        t, m, j = store_translations(svc, chunk, translate_rows(translator, chunk), now)
        translated, matched, joined = translated + t, matched + m, joined + j
    waiting = sum(waiting_counts(st).values())
    more = len(rows) >= limit and translated > 0
    if translated:
        log.info("translated %d stored item(s) with newly installed models (%d now match a watchlist, "
                 "%d joined an earlier story); %d still wait for a model", translated, matched, joined, waiting)
    return Outcome(translated, matched, joined, waiting, more)


def _redecide(svc: Any, r: StoredItem, title_tr: str | None, summary_tr: str | None, target: str,
              status: str, is_seed: bool, now: float) -> tuple[int, int]:
    """Store the translation, then the near-duplicate and watchlist decisions of a new item."""
    st: Store = svc.store
    item_id = r.id
    english_title = title_tr or r.title
    english_summary = summary_tr if summary_tr is not None else (r.summary or "")
    st.items.set_translation(item_id, title_tr, summary_tr, target, status)
    exact_dup = r.duplicate_kind in ("url", "content")
    joined = 0
    if not exact_dup:
        sig = make_signature(f"{english_title}\n{english_summary}", f"{r.title}\n{r.summary or ''}",
                             r.language)
        story_id = r.story_id
        heads_others = st.items.heads_others(item_id)
        if r.duplicate_of is None and not heads_others and not is_seed:
            candidates = [c for c in svc.neardup.query(sig) if c.doc_key != f"item:{item_id}"]
            best = decide(candidates).match
            if best is not None:
                dup_of = int(best.doc_key.split(":", 1)[1])
                kind = "seed" if best.kind == "seed" else "story"
                seed_name = None
                if kind == "seed":
                    ref = st.items.refs([dup_of]).get(dup_of)
                    seed_name = ref.guid.split("#", 1)[0] if ref else None
                story_id = best.story_id if best.story_id is not None else story_id
                st.items.set_duplicate(item_id, dup_of, kind, round(best.similarity, 3), seed_name, story_id)
                joined = 1
        svc.neardup.add(f"item:{item_id}", "seed" if is_seed else "item", sig, story_id)
    if is_seed or exact_dup:
        return 0, joined
    inp = MatchInput(title=r.title, summary=r.summary or "", language=r.language, feed=r.feed_name,
                     title_translated=title_tr, summary_translated=summary_tr, translated_to=target)
    prepared = prepare(inp)
    had = {m.watchlist for m in st.items.matches_for([item_id]).get(item_id, [])}
    found = [MatchRecord(item_id, m.watchlist, m.score, tuple(m.why()), now)
             for m in match_all(svc.watchlists, prepared)]
    st.items.save_matches(found)
    return int(any(m.watchlist not in had for m in found)), joined
