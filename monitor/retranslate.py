"""Items stored untranslated ("unavailable: no model ...") get translated once a model for their
language is installed, and then go through the near-duplicate and watchlist decisions again,
like a new item: a story they now belong to, a watchlist they now match. What was delivered
stays delivered (the delivery ledger is keyed by item and story and never rewritten); matches
are added or updated, never removed here.

The daemon calls ``translate_waiting`` whenever its installed models change (and once at start);
``monitor run --once`` calls it before polling; ``monitor models install`` reports
``waiting_counts``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor import store
from monitor.neardup import decide, make_signature
from monitor.translate import CACHED, TRANSLATED, Translator, source_code
from monitor.watchlist import MatchInput, match_all, prepare

log = logging.getLogger("monitor.retranslate")

# "no model kk->en ..." and "model X failed to load / unusable: ..." (a newer install may fix it);
# not "language uncertain", "translation disabled" or a failed sanity check of one text.
WAITING_SQL = "(translation_status LIKE 'unavailable: no model%' OR translation_status LIKE 'unavailable: model %')"
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


def _groups(conn: sqlite3.Connection) -> list[tuple[str | None, str | None, int]]:
    return [(lang, script, int(n)) for lang, script, n in conn.execute(
        f"SELECT language, language_script, COUNT(*) FROM items WHERE {WAITING_SQL} "
        "GROUP BY language, language_script")]


def waiting_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Stored items waiting for a model, by routing code ("kk", "uz-Cyrl")."""
    out: dict[str, int] = {}
    for lang, script, n in _groups(conn):
        code = source_code(lang, script) or str(lang)
        out[code] = out.get(code, 0) + n
    return out


def servable(conn: sqlite3.Connection, translator: Translator) -> dict[str, int]:
    """Waiting items whose language the installed models now serve, by code."""
    return {code: n for code, n in waiting_counts(conn).items()
            if not isinstance(translator.route_for(code), str)}


def translate_waiting(svc: Any, *, now: float | None = None, limit: int = 5000) -> Outcome:
    """Translate up to ``limit`` waiting items whose language now has a model (oldest first);
    re-decide near-duplicates and watchlist matches for them. ``svc`` is a pipeline.Services
    (its connection, translator, near-duplicate index and watchlists). ``Outcome.more`` says
    whether the limit cut the round short."""
    from monitor.pipeline import TRANSLATE_SUMMARY_CHARS
    from monitor.seeds import SEED_FEED_URL
    from monitor.translate import cut_lead

    translator: Translator | None = svc.get_translator()
    conn = svc.conn
    if translator is None:
        return Outcome(0, 0, 0, sum(waiting_counts(conn).values()))
    translator.refresh()
    groups = [(lang, script) for lang, script, _ in _groups(conn)
              if not isinstance(translator.route_for(source_code(lang, script) or str(lang)), str)]
    if not groups:
        return Outcome(0, 0, 0, sum(waiting_counts(conn).values()))
    now = now or time.time()
    target = svc.config.translation.target
    rows: list[sqlite3.Row] = []
    for lang, script in groups:
        rows += conn.execute(
            "SELECT items.*, feeds.name AS feed_name, feeds.url AS feed_url FROM items "
            f"JOIN feeds ON feeds.id = items.feed_id WHERE {WAITING_SQL} "
            "AND items.language IS ? AND items.language_script IS ? ORDER BY items.id LIMIT ?",
            (lang, script, limit - len(rows))).fetchall()
        if len(rows) >= limit:
            break
    translated = matched = joined = 0
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        requests: list[tuple[str, str]] = []
        for r in chunk:
            code = source_code(r["language"], r["language_script"]) or r["language"]
            requests.append((r["title"], code))
            requests.append((cut_lead(r["summary"] or "", TRANSLATE_SUMMARY_CHARS), code))
        results = translator.translate_many(requests)
        with store.transaction(conn):
            for i, r in enumerate(chunk):
                rt, rs = results[2 * i], results[2 * i + 1]
                if rt.status not in (TRANSLATED, CACHED):
                    conn.execute("UPDATE items SET translation_status=? WHERE id=?",
                                 (f"unavailable: {rt.reason or rt.status}"[:200], r["id"]))
                    continue
                summary_tr = rs.text if rs.status in (TRANSLATED, CACHED, "not_needed") and r["summary"] else None
                translated += 1
                is_seed = r["feed_url"] == SEED_FEED_URL
                m, j = _redecide(svc, r, rt.text, summary_tr, target, rt.status, is_seed, now)
                matched += m
                joined += j
    waiting = sum(waiting_counts(conn).values())
    more = len(rows) >= limit and translated > 0
    if translated:
        log.info("translated %d stored item(s) with newly installed models (%d now match a watchlist, "
                 "%d joined an earlier story); %d still wait for a model", translated, matched, joined, waiting)
    return Outcome(translated, matched, joined, waiting, more)


def _redecide(svc: Any, r: sqlite3.Row, title_tr: str | None, summary_tr: str | None, target: str,
              status: str, is_seed: bool, now: float) -> tuple[int, int]:
    """Store the translation, then the near-duplicate and watchlist decisions of a new item."""
    conn = svc.conn
    item_id = int(r["id"])
    english_title = title_tr or r["title"]
    english_summary = summary_tr if summary_tr is not None else (r["summary"] or "")
    conn.execute(
        "UPDATE items SET title_translated=?, summary_translated=?, translated_to=?, translation_status=? "
        "WHERE id=?", (title_tr, summary_tr, target, status, item_id))
    exact_dup = r["duplicate_kind"] in ("url", "content")
    joined = 0
    if not exact_dup:
        sig = make_signature(f"{english_title}\n{english_summary}", f"{r['title']}\n{r['summary'] or ''}",
                             r["language"])
        story_id = r["story_id"]
        heads_others = conn.execute("SELECT 1 FROM items WHERE story_id=? AND id<>? LIMIT 1",
                                    (item_id, item_id)).fetchone() is not None
        if r["duplicate_of"] is None and not heads_others and not is_seed:
            candidates = [c for c in svc.neardup.query(sig) if c.doc_key != f"item:{item_id}"]
            best = decide(candidates).match
            if best is not None:
                dup_of = int(best.doc_key.split(":", 1)[1])
                kind = "seed" if best.kind == "seed" else "story"
                seed_name = None
                if kind == "seed":
                    row = conn.execute("SELECT guid FROM items WHERE id=?", (dup_of,)).fetchone()
                    seed_name = row[0].split("#", 1)[0] if row else None
                story_id = best.story_id if best.story_id is not None else story_id
                conn.execute(
                    "UPDATE items SET duplicate_of=?, duplicate_kind=?, duplicate_similarity=?, duplicate_seed=?, "
                    "story_id=? WHERE id=?", (dup_of, kind, round(best.similarity, 3), seed_name, story_id, item_id))
                joined = 1
        svc.neardup.add(f"item:{item_id}", "seed" if is_seed else "item", sig, story_id)
    if is_seed or exact_dup:
        return 0, joined
    inp = MatchInput(title=r["title"], summary=r["summary"] or "", language=r["language"], feed=r["feed_name"],
                     title_translated=title_tr, summary_translated=summary_tr, translated_to=target)
    prepared = prepare(inp)
    had = {w for (w,) in conn.execute("SELECT watchlist FROM matches WHERE item_id=?", (item_id,))}
    found = [(m.watchlist, m.score, m.why()) for m in match_all(svc.watchlists, prepared)]
    if found:
        store.save_matches(conn, item_id, found, now)
    return int(any(name not in had for name, _, _ in found)), joined
