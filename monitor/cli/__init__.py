"""The ``monitor`` command line (also ``python -m monitor``).

Exit codes: 0 success (also when some feeds fail: they are reported), 1 a
check found problems or a command could not do its job, 2 unusable config or
bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitor import ConfigError, MonitorError, __version__
from monitor.cli.output import out as _out, run_once, table as _table
from monitor.config import Config, config_path_from, load_config
from monitor.config.units import parse_duration
from monitor.ingest.scrub import scrub_lines
from monitor.ingest.seeds import SEED_FEED_NAME, SEED_FEED_URL
from monitor.store import MatchRecord, Store, StoredItem, open_store

log = logging.getLogger(__name__)


def _err(text: str) -> None:
    print(scrub_lines(text), file=sys.stderr, flush=True)


def _load(args: argparse.Namespace, *, check_dirs: bool = True) -> Config:
    return load_config(config_path_from(args.config), check_dirs=check_dirs)


def _ts(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, timezone.utc).isoformat(timespec="seconds") if value else None


def _ago(value: float | None, now: float) -> str:
    if not value:
        return "never"
    d = now - value
    if d < 0:
        d = -d
        fmt = "in {}"
    else:
        fmt = "{} ago"
    for unit, secs in (("d", 86400), ("h", 3600), ("m", 60)):
        if d >= secs:
            return fmt.format(f"{d / secs:.0f}{unit}")
    return fmt.format(f"{d:.0f}s")


# ---- run ---------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    from monitor.service.malloc import limit_arenas

    limit_arenas()  # before any thread of the service starts
    if args.translate_only:
        if args.once:
            raise UsageError("--translate-only is a daemon of its own: it does not go with --once")
        from monitor.service.translation_worker import run_translation_worker

        return run_translation_worker(config_path_from(args.config))
    if not args.once:
        from monitor.service.scheduler import run_daemon

        return run_daemon(config_path_from(args.config))
    cfg = _load(args)
    return run_once(cfg, quiet=args.quiet)


def _names_by_stored_name(store: Store, cfg: Config) -> dict[str, str]:
    """Stored feed name -> the name shown (see :func:`monitor.service.cycle.display_names`)."""
    from monitor.config import feed_display_name

    return {r.name: feed_display_name(r.url, r.name, r.title) for r in store.feeds.all()}


# ---- check -------------------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from monitor.analysis.watchlists import load_watchlists
    from monitor.config.setup_check import database_problems, device_problems, watchlist_setup_problems
    from monitor.ingest.seeds import load_seeds, missing_seeds_note

    problems: list[str] = []
    notes: list[str] = []
    cfg = None
    try:
        cfg = _load(args)
    except ConfigError as e:
        problems.extend(str(p) for p in e.problems)
    n_wl = 0
    if cfg is not None:
        wls, wl_problems = load_watchlists(cfg.watchlists)
        n_wl = len(wls)
        problems.extend(str(p) for p in wl_problems)
        problems.extend(str(p) for p in watchlist_setup_problems(cfg, wls))
        _, seed_problems = load_seeds(cfg.seeds)
        problems.extend(str(p) for p in seed_problems)
        problems.extend(database_problems(cfg))
        problems.extend(device_problems(cfg))
        note = missing_seeds_note(cfg.seeds)
        if note:
            notes.append(note)
    for p in problems:
        _out(p)
    for n in notes:
        _out(n)
    if problems:
        _out(f"\n{len(problems)} problem(s) found")
        return 1
    assert cfg is not None
    from monitor.analysis.translate import coverage_warnings

    for warning in coverage_warnings(cfg):  # a warning, not a problem: items are kept untranslated
        _out(warning)
    _out(f"ok: {cfg.path.name}: {len(cfg.feeds)} feed(s), {n_wl} watchlist(s)")
    return 0


# ---- items / feeds / status -----------------------------------------------------------------------

def item_json(r: StoredItem, matches: list[MatchRecord], names: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": r.id, "feed": (names or {}).get(r.feed_name, r.feed_name), "title": r.title, "link": r.link,
        "published": _ts(r.published), "fetched": _ts(r.fetched),
        "language": r.language, "language_confidence": r.language_confidence,
        "language_script": r.language_script, "language_uncertain": bool(r.language_uncertain),
        "summary": r.summary, "author": r.author,
        "title_translated": r.title_translated, "summary_translated": r.summary_translated,
        "translated_to": r.translated_to, "translation_status": r.translation_status,
        "matches": [m.watchlist for m in matches],
        "match_details": [{"watchlist": m.watchlist, "score": m.score, "why": list(m.why)} for m in matches],
        "duplicate_of": r.duplicate_of, "duplicate_kind": r.duplicate_kind,
        "similarity": r.duplicate_similarity, "duplicate_seed": r.duplicate_seed,
        "story_id": r.story_id,
    }


def _known_watchlist(cfg: Config, store: Store, name: str) -> None:
    """An unknown ``--watchlist NAME`` is bad usage (exit 2), with a "did you mean"."""
    from monitor.analysis.watchlists import load_watchlists

    known = {w.name for w in load_watchlists(cfg.watchlists)[0]}
    known |= store.items.watchlist_names()
    if name in known:
        return
    raise UsageError(f"no watchlist named {name!r} ({_did_you_mean(name, known)}known: "
                     f"{', '.join(sorted(known)) or 'none'})")


def _did_you_mean(name: str, options: set[str] | list[str]) -> str:
    """``"did you mean 'x'? "`` for the closest of ``options``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, sorted(options), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}? " if close else ""


def cmd_items(args: argparse.Namespace) -> int:
    cfg = _load(args, check_dirs=False)
    st = open_store(cfg.database)
    try:
        if args.watchlist:
            _known_watchlist(cfg, st, args.watchlist)
        since = time.time() - parse_duration(args.since) if args.since else None
        rows = [r for r in st.items.list(since=since, watchlist=args.watchlist)
                if args.seeds or r.feed_name != SEED_FEED_NAME]
        if args.limit:
            rows = rows[-args.limit:]
        matches = st.items.matches_for([r.id for r in rows])
        shown = _names_by_stored_name(st, cfg)
        items = [item_json(r, matches.get(r.id, []), shown) for r in rows]
    finally:
        st.close()
    if args.json:
        json.dump(items, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    table = [[str(i["id"]), i["feed"], i["language"] or "?", ",".join(i["matches"]) or "-",
              (f"dup of {i['duplicate_of']}" if i["duplicate_of"] else ""), i["title_translated"] or i["title"]]
             for i in items]
    _out(_table(table, ["id", "feed", "lang", "matches", "duplicate", "title"]))
    return 0


def feed_health(store: Store, cfg: Config, now: float) -> list[dict[str, Any]]:
    configured = {f.url: f for f in cfg.feeds}
    out = []
    for r in store.feeds.all():
        if r.url == SEED_FEED_URL or r.url not in configured:
            continue
        f = configured[r.url]
        from monitor.config import feed_display_name

        out.append({
            "name": feed_display_name(r.url, r.name, r.title), "url": r.url,
            "enabled": f.enabled and not r.disabled_reason,
            "last_fetch": _ts(r.last_fetch), "last_success": _ts(r.last_success), "status": r.last_status,
            "error": r.last_error, "error_kind": r.error_kind, "consecutive_failures": r.consecutive_failures,
            "items": r.items_total, "last_new_item": _ts(r.last_new_item), "next_poll": _ts(r.next_poll),
            "disabled_reason": r.disabled_reason, "moved_to": r.moved_to,
        })
    return out


def cmd_feeds(args: argparse.Namespace) -> int:
    cfg = _load(args, check_dirs=False)
    st = open_store(cfg.database)
    try:
        st.feeds.sync([(f.url, f.name) for f in cfg.feeds])
        now = time.time()
        health = feed_health(st, cfg, now)
    finally:
        st.close()
    if args.json:
        json.dump(health, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    rows = []
    for h in health:
        status = "disabled" if h["disabled_reason"] else ("failing" if h["consecutive_failures"] else "ok")
        if not h["last_fetch"]:
            status = "not polled"
        rows.append([h["name"], status, str(h["status"] or "-"), str(h["items"]),
                     _ago(datetime.fromisoformat(h["last_fetch"]).timestamp() if h["last_fetch"] else None, now),
                     _ago(datetime.fromisoformat(h["next_poll"]).timestamp() if h["next_poll"] else None, now),
                     (h["disabled_reason"] or h["error"] or (f"moved to {h['moved_to']}" if h["moved_to"] else ""))])
    _out(_table(rows, ["feed", "state", "http", "items", "last fetch", "next poll", "error"]))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.service.daemon_state import read_state, rejected_reload
    from monitor.service.scheduler import HEARTBEAT_INTERVAL
    from monitor.service.wording import duration_words, error_words
    from monitor.service.worker_leases import worker_status

    cfg = _load(args, check_dirs=False)
    if isinstance(cfg.database, Path) and not cfg.database.exists():
        _out(f"daemon: not running (no database yet at {cfg.database}: the service has not run)")
        _out(f"feeds: {len(cfg.feeds)} configured, none polled yet")
        return 0
    st = open_store(cfg.database)
    now = time.time()
    try:
        state = read_state(st, now)
        health = feed_health(st, cfg, now)
        n_items = st.items.count(seeds=False)
        channels = st.ledger.channel_summary()
        reload = rejected_reload(st)
        refused = st.ledger.refused_since(now - 7 * 86400, 5)
        workers = worker_status(st, now, HEARTBEAT_INTERVAL)
    finally:
        st.close()
    hb = f", last heartbeat {_ago(state.heartbeat, now)}" if state.heartbeat else ""
    if state.running:
        _out(f"daemon: running (pid {state.pid}){hb}")
    elif state.stopped and state.detail == "stopped cleanly":
        _out(f"daemon: not running (stopped cleanly {_ago(state.stopped, now)})")
    else:
        _out(f"daemon: not running ({state.detail}){hb}")
    if workers is not None:  # a shared PostgreSQL store: every `monitor run` is a worker
        live = [w for w in workers if w.alive]
        silent = len(workers) - len(live)
        _out(f"workers: {len(live)} alive" + (f", {silent} silent" if silent else ""))
        for w in workers:
            _out(f"  {w.id} ({w.role}): heartbeat {_ago(w.heartbeat, now)}, {w.feeds} feed lease(s), "
                 f"started {_ago(w.started, now)}" + ("" if w.alive else "; silent: its leases have run out"))
    enabled = [f for f in cfg.feeds if f.enabled]
    polled = {h["url"] for h in health if h["last_fetch"]}
    due = sum(1 for h in health if h["enabled"] and h["next_poll"] and
              datetime.fromisoformat(h["next_poll"]).timestamp() <= now)
    due += sum(1 for f in enabled if f.url not in polled)
    failing = [h for h in health if h["consecutive_failures"] and not h["disabled_reason"]]
    disabled = len(cfg.feeds) - len(enabled) + sum(1 for h in health if h["disabled_reason"])
    _out(f"feeds: {len(cfg.feeds)} configured, {len(cfg.feeds) - len(polled)} never polled, {due} due now, "
         f"{len(failing)} failing" + (f", {disabled} disabled" if disabled else ""))
    _out(f"items stored: {n_items}")
    for h in failing:
        nxt = datetime.fromisoformat(h["next_poll"]).timestamp() if h["next_poll"] else None
        _out(f"  failing: {h['name']}: {error_words(h['error_kind'], h['error'], h['url'], h['status'])} "
             f"({h['consecutive_failures']} in a row"
             + (f", next try in {duration_words(nxt - now)}" if nxt and nxt > now else "") + ")")
    if reload is not None:
        _out(f"last reload REJECTED {_ago(reload.at, now)} ({reload.what}); running with the previous version:")
        for p in reload.problems:
            _out(f"  {p}")
    for c in channels:
        _out(f"digest {c.watchlist} ({c.channel}): last sent {_ago(c.last_sent, now)}"
             + ("; delivery FAILED" if c.error is not None else ""))
        if c.error is not None:
            nxt = c.next_attempt
            _out(f"  delivery error {c.watchlist} ({c.channel}): {c.error} (failed {_ago(c.failed_at, now)}, "
                 f"{c.attempts} attempt(s), "
                 + (f"next in {duration_words(nxt - now)}" if nxt and nxt > now else "retry due") + ")")
    for e in refused:
        _out(f"  refused for good {e.watchlist} ({e.channel}), {_ago(e.created, now)}: {e.error} "
             "(its items are in the Markdown digest and `monitor watchlist test`)")
    return 0


# ---- detect ------------------------------------------------------------------------------------------

def cmd_detect(args: argparse.Namespace) -> int:
    from monitor.analysis.language import detect_lines

    lines = args.text if args.text else (line.rstrip("\n") for line in sys.stdin)
    for obj in detect_lines(lines):
        _out(json.dumps(obj, ensure_ascii=False))
    return 0


# ---- digest --------------------------------------------------------------------------------------------

def _watchlist(cfg: Config, name: str) -> Any:
    from monitor.analysis.watchlists import load_watchlists

    wls, problems = load_watchlists(cfg.watchlists)
    for wl in wls:
        if wl.name == name:
            return wl
    known = ", ".join(w.name for w in wls) or "none"
    for p in problems:
        _err(str(p))
    raise MonitorError(f"no valid watchlist named {name!r} ({_did_you_mean(name, [w.name for w in wls])}"
                       f"known: {known})")


def cmd_digest(args: argparse.Namespace) -> int:
    from monitor.delivery.channels import MailCaps, build_email, send_email
    from monitor.delivery.dispatch import dispatch_watchlist, preview, smtp_settings
    from monitor.delivery.render import render_markdown, render_text

    cfg = _load(args)
    wl = _watchlist(cfg, args.watchlist)
    if args.email and cfg.smtp is None:
        raise UsageError(f"--email needs an smtp: block in {cfg.path} (see the README, 'Mail server')")
    st = open_store(cfg.database)
    try:
        if args.dry_run or args.email:
            d = preview(cfg, st, wl)
            if args.email:
                from monitor.delivery.digest import TEST_NOTE, latest_digest

                if d.stories:
                    d.title, d.note = f"TEST: {d.title}", TEST_NOTE
                else:  # everything was delivered already: show what recipients get, the latest stories
                    d = latest_digest(st, wl.name, wl.title, wl.digest.timezone, time.time())
                s = smtp_settings(cfg)
                # capped like a real digest; a Message-ID of its own, so the real digest of the same
                # items is not taken for a copy of this test by the mailbox
                caps = MailCaps(cfg.email.max_stories, cfg.email.max_bytes, "the Markdown digest")
                send_email(build_email(d, from_addr=s.from_addr, to=[args.email], list_id=f"{wl.name}.news-monitor",
                                       caps=caps, channel=f"test-email:{time.time():.3f}"), s)
                _out(f"sent a test digest with {d.count} stor{'y' if d.count == 1 else 'ies'} to {args.email} "
                     "(marked as a test; nothing marked as delivered)")
            else:
                fmt = args.format or ("text" if sys.stdout.isatty() else "markdown")
                sys.stdout.write(render_text(d) if fmt == "text" else render_markdown(d))
            return 0
        results = dispatch_watchlist(cfg, st, wl, heartbeat=False, force_retry=True)
    finally:
        st.close()
    rc = 0
    for r in results:
        _out(f"{r.channel}: {r.status}" + (f" -> {r.location}" if r.status == "sent" else "")
             + (f" ({r.error})" if r.error else ""))
        rc |= r.status == "failed"
    return rc


# ---- watchlist test ----------------------------------------------------------------------------------

def cmd_watchlist_test(args: argparse.Namespace) -> int:
    from monitor.analysis.watchlists import MatchInput, highlight

    cfg = _load(args)
    wl = _watchlist(cfg, args.name)
    st = open_store(cfg.database)
    try:
        since = time.time() - parse_duration(args.since)
        rows = [r for r in st.items.list(since=since) if r.feed_name != SEED_FEED_NAME]
    finally:
        st.close()
    matched, held, near = [], [], []
    for r in rows:
        inp = MatchInput(title=r.title, summary=r.summary, language=r.language, feed=r.feed_name,
                         title_translated=r.title_translated, summary_translated=r.summary_translated,
                         translated_to=r.translated_to or cfg.translation.target)
        ex = wl.explain(inp)
        if ex.matched:
            matched.append((ex.score, r, ex))
        elif ex.query_held and not ex.filtered_out:  # every requirement met, lost to threshold or min_score
            held.append((ex.score, r, ex))
        elif ex.hits:  # some terms hit, but the query did not hold (or a `not:` excluded it)
            near.append((ex.score, r, ex))
    matched.sort(key=lambda t: -t[0])
    held.sort(key=lambda t: -t[0])
    near.sort(key=lambda t: -t[0])
    _out(f"{wl.name}: {len(matched)} of {len(rows)} stored item(s) since {args.since} would match "
         "(nothing is changed)")
    for note in wl.threshold_notes():
        _out(f"note: {note}")
    for score, r, ex in matched[: args.limit]:
        _out(f"\n[{score:.1f}] #{r.id} {r.feed_name} ({r.language or '?'})")
        _out("  " + highlight(r.title, [h for h in ex.hits if h.field == "title"]))
        if r.title_translated:
            _out("  " + highlight(r.title_translated, [h for h in ex.hits if h.field == "title_translated"]))
        for line in ex.why():
            _out(f"    - {line}")
    if held:
        _out(f"\nQuery held, below threshold ({len(held)}):")
        for _score, r, ex in held[: args.limit]:
            _out(f"  #{r.id} {r.title[:90]}")
            _out(f"    score {ex.score:g}, weights {ex.weight_sum:g} / threshold {ex.threshold:g}, "
                 f"min_score {ex.min_score:g}")
            for line in ex.why():
                _out(f"    - {line}")
    if near:
        _out(f"\nNearly matched ({len(near)}):")
        for _score, r, ex in near[: args.limit]:
            _out(f"  #{r.id} {r.title[:90]}")
            for line in ex.missing()[:3]:
                _out(f"    - {line}")
    return 0


# ---- models ----------------------------------------------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    from monitor.analysis import argos_models, multilingual_models
    from monitor.analysis.translate import Translator, verify_argos, verify_multilingual

    cfg = _load(args, check_dirs=False)
    if args.models_cmd == "list":
        return _models_list(cfg)
    from monitor.delivery.render import clean_line  # names and licences come from files the user was given

    def say(text: str) -> None:
        _out(clean_line(text))

    def warn(text: str) -> None:
        _err(clean_line(text))

    if args.multilingual:
        say(f"checking {args.multilingual} (load and self-check)...")
        info_m = multilingual_models.install_multilingual(
            Path(args.multilingual), cfg.models, accept_license=args.accept_license, name=args.name,
            version=args.model_version, licence=args.license, verify=verify_multilingual)
        say(f"installed multilingual model {info_m.label} ({len(info_m.languages)} languages: "
             f"{', '.join(c for c, _ in info_m.languages)}) in {info_m.path}")
        say(f"licence: {info_m.license or 'not stated'}"
            + (" (non-commercial use only)" if info_m.non_commercial else ""))
        if info_m.non_commercial:
            say(multilingual_models.LICENSE_TEXT.get(str(info_m.license).lower(), "non-commercial use only"))
        if info_m.test_model:
            warn(f"warning: {info_m.name} is a TEST MODEL: it knows only the project's test sentences and "
                 "translates real news into nonsense. Install a real model for production (README 'Translation').")
    elif args.file:
        say(f"checking {args.file} (load and self-check)...")
        info = argos_models.install_from_file(Path(args.file), cfg.models, verify=verify_argos)
        say(f"installed {info.from_code}->{info.to_code} version {info.version} in {info.path}")
        if info.test_model:
            warn(f"warning: {info.name} is a TEST MODEL (the tiny package bundled for tests and the demo): it knows "
                 "a few hundred sentences only. Install a real model for production (README 'Translation').")
    else:
        if not (args.source and args.target):
            warn("usage: monitor models install FROM TO   or   monitor models install --file X.argosmodel"
                 "   or   monitor models install --multilingual DIR_OR_ARCHIVE [--accept-license ID]")
            return 2
        say(f"installing {args.source}->{args.target} from the Argos package index...")
        info = argos_models.install_from_index(args.source, args.target, cfg.models,
                                               timeout=cfg.translation.download_timeout, verify=verify_argos)
        say(f"installed {info.from_code}->{info.to_code} version {info.version} in {info.path}")
    if not isinstance(cfg.database, Path) or cfg.database.exists():  # a PostgreSQL store always exists
        from monitor.service.retranslate import servable

        st = open_store(cfg.database)
        try:
            with Translator.from_settings(st.caches.translations, cfg.models, cfg.translation) as t:
                waiting = servable(st, t)
        finally:
            st.close()
        if waiting:
            n = sum(waiting.values())
            langs = ", ".join(f"{c}: {k}" for c, k in sorted(waiting.items()))
            say(f"{n} stored item(s) wait for this model ({langs}): "
                 "the running service translates them within seconds (or run `monitor run --once`), "
                 "then matches them against the watchlists like new items.")
    return 0


def _models_list(cfg: Config) -> int:
    from monitor.analysis import argos_models, multilingual_models
    from monitor.analysis.translate import REGION_LANGUAGES, Translator
    from monitor.delivery.render import clean_line  # names and licences come from files the user was given

    def table(rows: list[list[str]], headers: list[str]) -> str:
        return _table([[clean_line(c) for c in r] for r in rows], headers)

    argos = argos_models.list_models(cfg.models)
    multi = multilingual_models.list_multilingual(cfg.models)
    if not argos and not multi:
        _out(f"no translation models installed in {cfg.models}")
    if argos:
        rows = [[f"{m.from_code}->{m.to_code}", str(m.version), f"{m.size_bytes / 1e6:.1f} MB", m.license or "-",
                 "TEST MODEL" if m.test_model else "", str(m.path)] for m in argos]
        _out("Argos packages:")
        _out(table(rows, ["pair", "version", "size", "licence", "note", "path"]))
    if multi:
        rows = [[m.name, m.version, str(len(m.languages)), f"{m.size_bytes / 1e6:.1f} MB", m.license or "-",
                 "TEST MODEL" if m.test_model else "", str(m.path)] for m in multi]
        _out(("\n" if argos else "") + "Multilingual models:")
        _out(table(rows, ["name", "version", "languages", "size", "licence", "note", "path"]))
    wanted_codes = list(REGION_LANGUAGES)
    for code in [a for a, _ in cfg.translation.pairs] + [f.language for f in cfg.feeds if f.language]:
        if code and code not in wanted_codes and code != cfg.translation.target:
            wanted_codes.append(code)
    served, untranslated = [], []
    with Translator.from_settings(None, cfg.models, cfg.translation) as t:  # routes only: no cache, no load
        for code in wanted_codes:
            if code == cfg.translation.target:
                continue
            route = t.route_for(code)
            if isinstance(route, str):
                untranslated.append([code, route])
            else:
                served.append([code, route.kind, route.label, route.license or "-",
                               "TEST MODEL" if route.test_model else ""])
    _out(f"\nRouting into {cfg.translation.target} (translation.prefer: {', '.join(cfg.translation.prefer)}):")
    if served:
        _out(table(served, ["language", "kind", "model", "licence", "note"]))
    else:
        _out("  no language is served by an installed model")
    if untranslated:
        _out("\nstay untranslated (matched on their original text):")
        for code, reason in untranslated:
            _out(f"  {clean_line(code)}: {clean_line(reason)}")
    have = {(m.from_code, m.to_code) for m in argos}
    wanted = [p for p in cfg.translation.pairs if p not in have]
    if wanted:
        _out("\nwanted by config but not installed: " + ", ".join(f"{a}->{b}" for a, b in wanted))
    return 0


# ---- seeds -------------------------------------------------------------------------------------------------

def cmd_seeds(args: argparse.Namespace) -> int:
    from monitor.ingest.seeds import load_seeds

    cfg = _load(args)
    if args.seeds_cmd == "list":
        seeds, problems = load_seeds(cfg.seeds)
        rows = [[s.key, s.language or "?", s.published.date().isoformat() if s.published else "-",
                 str(len(s.text.split())), s.title] for s in seeds]
        _out(_table(rows, ["file", "lang", "date", "words", "title"]))
        for p in problems:
            _out(str(p))
        return 1 if problems else 0
    from monitor.cli.seed_add import add_seed

    path = add_seed(cfg, args.source, title=args.title, language=args.language)
    _out(f"added {path}")
    if args.no_index:
        _out("not indexed yet: the daemon indexes it when it starts or reloads")
        return 0
    from monitor.service.pipeline import open_services, sync_seeds

    svc = open_services(cfg)
    try:
        sync_seeds(svc)
    finally:
        svc.close()
    return 0


# ---- demo -----------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.cli.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None)


# ---- main ---------------------------------------------------------------------------------------------------

class UsageError(MonitorError):
    """Bad usage found after parsing (an unknown watchlist name, ...): exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` (and exit 2) instead of the usage block."""

    def error(self, message: str) -> Any:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _duration_arg(value: str) -> str:
    try:
        parse_duration(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _level_arg(value: str) -> str:
    from monitor.service.logs import parse_level

    try:
        parse_level(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return value


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


_CONFIG_HELP = "config file (default: $MONITOR_CONFIG, else ./config.yaml)"
_LEVEL_HELP = "log level: DEBUG, INFO, WARNING (default; or $MONITOR_LOG_LEVEL) or ERROR"
_SINCE_HELP = "only items fetched within this long before now: a number and a unit s, m, h, d or w (e.g. 24h, 7d)"


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """--config and --log-level also after the subcommand (``monitor check --config X``), at every level.
    SUPPRESS keeps a value given before the subcommand when the option is not repeated after it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any("--config" in a.option_strings for a in sub._actions):
                    sub.add_argument("--config", default=argparse.SUPPRESS, metavar="PATH", help=_CONFIG_HELP)
                    sub.add_argument("--log-level", default=argparse.SUPPRESS, type=_level_arg, metavar="LEVEL",
                                     help=_LEVEL_HELP)
                _add_common_options(sub)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="monitor", description="Multilingual news monitoring with offline translation.",
                epilog="`monitor COMMAND --help` explains each command. Exit codes: 0 success (also when some "
                       "feeds fail), 1 a check found problems or a command failed, 2 unusable config or bad usage.")
    p.add_argument("--config", metavar="PATH", help=_CONFIG_HELP)
    p.add_argument("--log-level", default=os.environ.get("MONITOR_LOG_LEVEL", "WARNING"), type=_level_arg,
                   metavar="LEVEL", help=_LEVEL_HELP)
    p.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description)

    s = command("run", "run the service (foreground daemon), or one cycle with --once",
                "Without --once: the daemon (foreground; systemd Type=notify). It polls each feed on its "
                "interval, sends digests on each watchlist's schedule and reloads on SIGHUP. In a terminal it "
                "prints a ready line, one line per poll and one per digest. With --once: poll every feed once, "
                "build and deliver the digests, print a per-feed table, exit.")
    s.add_argument("--once", action="store_true", help="poll every feed once, write digests, exit")
    s.add_argument("--quiet", action="store_true", help="with --once: no progress lines")
    s.add_argument("--translate-only", action="store_true",
                   help="a translation-only worker on a shared PostgreSQL database: polls no feeds, sends no "
                        "digests, translates the items other workers store untranslated (translation.remote)")
    s.set_defaults(fn=cmd_run)

    s = command("check", "validate config.yaml, watchlists and seeds; exit 1 on any problem",
                "Validate config.yaml, every watchlist and the seed corpus, and the set-up as a whole (an e-mail "
                "digest needs an smtp: block, language codes must be known). Every problem is printed as "
                "file:line:column: key: message (hint); notes (things that work but may surprise) are printed "
                "too. Exit 1 if there is any problem.")
    s.set_defaults(fn=cmd_check)

    s = command("items", "stored items",
                "The stored items, oldest first: a table, or a JSON array with --json (fields in the README).")
    s.add_argument("--json", action="store_true", help="print a JSON array of objects instead of a table")
    s.add_argument("--watchlist", metavar="NAME", help="only items matched by this watchlist (an unknown name is "
                   "an error)")
    s.add_argument("--since", type=_duration_arg, metavar="DURATION", help=_SINCE_HELP + " (default: all)")
    s.add_argument("--limit", type=_positive_int, default=0, metavar="N",
                   help="only the newest N items (default: 0, no limit)")
    s.add_argument("--seeds", action="store_true", help="include the seed corpus (pseudo-feed 'seeds')")
    s.set_defaults(fn=cmd_items)

    s = command("feeds", "per-feed health; import/export/add feeds",
                "Per-feed health: state, last HTTP status, items, last fetch, next poll, error. "
                "Actions: import FILE.opml, export, add URL.")
    s.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    fsub = s.add_subparsers(dest="feeds_cmd", metavar="ACTION")
    s.set_defaults(fn=cmd_feeds)
    try:
        from monitor.cli.feeds import register as register_feed_commands
    except ImportError:
        pass
    else:
        register_feed_commands(fsub)

    s = command("status", "what the running service is doing",
                "Whether the daemon is running (its process is alive and its heartbeat recent; a clean stop is "
                "recorded), configured feeds, feeds due and failing, a rejected reload, the last digest per "
                "watchlist and channel, and failed deliveries.")
    s.set_defaults(fn=cmd_status)

    s = command("detect", "detect the language of texts (args, or one per line on stdin)",
                "Print the detected language, confidence and script of each argument (or of each line of "
                "standard input) as one JSON object per line.")
    s.add_argument("text", nargs="*", help="texts to detect (default: read lines from standard input)")
    s.set_defaults(fn=cmd_detect)

    s = command("digest", "build a watchlist's digest now",
                "Build the watchlist's digest now and deliver it on its channels (marking what was delivered). "
                "--dry-run prints it instead; --email sends a test mail to one address. Neither marks anything. "
                "When everything was already delivered, the test mail shows the latest stories and is marked "
                "as a test.")
    s.add_argument("--watchlist", required=True, metavar="NAME", help="the watchlist's name: field")
    s.add_argument("--dry-run", action="store_true", help="print the digest; deliver and mark nothing")
    s.add_argument("--format", choices=("markdown", "text"), help="with --dry-run: Markdown (the default when "
                   "piped or redirected, e.g. > digest.md) or plain text (the default on a terminal)")
    s.add_argument("--email", metavar="ADDRESS", help="send a test mail to ADDRESS (tests mail set-up; marks "
                   "nothing)")
    s.set_defaults(fn=cmd_digest)

    s = command("watchlist", "watchlist tools", "Watchlist tools: `monitor watchlist test NAME`.")
    wsub = s.add_subparsers(dest="watchlist_cmd", required=True, metavar="ACTION")
    t = wsub.add_parser("test", help="what a watchlist would match among stored items (changes nothing)",
                        description="Run a watchlist over the stored items without changing anything: the "
                                    "matches with their terms highlighted, then what nearly matched and why not.")
    t.add_argument("name", help="the watchlist's name: field")
    t.add_argument("--since", default="7d", type=_duration_arg, metavar="DURATION", help=_SINCE_HELP + " (default: 7d)")
    t.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                   help="show at most N matches and N near misses (default: 20)")
    t.set_defaults(fn=cmd_watchlist_test)

    s = command("models", "translation models", "Translation models in the models directory of config.yaml.")
    msub = s.add_subparsers(dest="models_cmd", required=True, metavar="ACTION")
    msub.add_parser("list", help="installed models", description="The installed translation models, the "
                    "language -> model routing, and the languages that stay untranslated.").set_defaults(fn=cmd_models)
    t = msub.add_parser("install", help="install FROM TO from the Argos index, --file X.argosmodel, or "
                                        "--multilingual DIR (a converted NLLB-200 model)",
                        description="Install a pair from the Argos package index (needs network access), an "
                                    ".argosmodel file (offline), or a converted multilingual CTranslate2 model "
                                    "(--multilingual DIR).")
    t.add_argument("source", nargs="?", metavar="FROM", help="source language, e.g. ru")
    t.add_argument("target", nargs="?", metavar="TO", help="target language, e.g. en")
    t.add_argument("--file", help="an .argosmodel file (offline install)")
    t.add_argument("--multilingual", metavar="PATH",
                   help="a multilingual CTranslate2 model folder or archive (NLLB-200 layout) you converted")
    t.add_argument("--accept-license", metavar="ID",
                   help="acknowledge a non-commercial licence, e.g. cc-by-nc-4.0 for NLLB-200")
    t.add_argument("--license", metavar="ID", help="the licence of the weights, when the folder does not say")
    t.add_argument("--name", help="name of the multilingual model (default: from its manifest or folder)")
    t.add_argument("--model-version", metavar="V", help="version of the multilingual model (default: 1)")
    t.set_defaults(fn=cmd_models)

    s = command("seeds", "the seed corpus (articles already read)",
                "The seed corpus: articles already read; items repeating them are suppressed from digests.")
    ssub = s.add_subparsers(dest="seeds_cmd", required=True, metavar="ACTION")
    ssub.add_parser("list", help="list seed documents", description="List the seed documents.").set_defaults(
        fn=cmd_seeds)
    t = ssub.add_parser("add", help="add a file, or an article URL (its text is extracted)",
                        description="Add a local text/Markdown file (validated, copied) or an article URL (fetched, "
                                    "its main text extracted) to the seed corpus, and index it.")
    t.add_argument("source", help="PATH or URL")
    t.add_argument("--title", help="title (default: from the file's front matter or the page)")
    t.add_argument("--language", help="language code, e.g. ru (default: detected)")
    t.add_argument("--no-index", action="store_true", help="only copy the file into the seed directory; the "
                   "daemon indexes it at its next start or reload (systemd/monitorctl uses this)")
    t.set_defaults(fn=cmd_seeds)

    s = command("db", "database actions: migrate a SQLite state to PostgreSQL",
                "Actions on the state database: migrate --to postgresql://user@host[:port]/db copies a SQLite "
                "state to PostgreSQL (resumable, counts checked).")
    from monitor.cli.db import register as register_db_commands

    register_db_commands(s.add_subparsers(dest="db_cmd", metavar="ACTION", required=True))

    s = command("demo", "run one cycle on bundled sample feeds served on 127.0.0.1",
                "Serve the bundled sample feeds on 127.0.0.1 and run one full cycle on them (poll, translate, "
                "de-duplicate, match, digests); prints the digests as plain text.")
    s.add_argument("--dir", help="run in this directory instead of a new temporary one")
    s.set_defaults(fn=cmd_demo)
    _add_common_options(p)
    return p


def _silence_stdout() -> None:
    """After a closed pipe (``monitor items | head``): send what is left to /dev/null, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from monitor.service.logs import setup_logging

        setup_logging(args.log_level)
    except ImportError:
        logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args) or 0)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except ConfigError as e:
        for p in e.problems:
            _err(str(p))
        _err(f"{len(e.problems)} problem(s); the config is unusable")
        return 2
    except UsageError as e:
        _err(f"monitor: error: {e}")
        return 2
    except MonitorError as e:
        _err(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        return 130
