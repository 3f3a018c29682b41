"""The ``monitor`` command line (also ``python -m monitor``).

Exit codes: 0 success (also when some feeds fail: they are reported), 1 a
check found problems or a command could not do its job, 2 unusable config or
bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from monitor import __version__, store
from monitor.config import Config, config_path_from, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.units import parse_duration

log = logging.getLogger("monitor.cli")


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = min(max(widths[i], len(c)), 60)
    def fmt(r: list[str]) -> str:
        return "  ".join((c if len(c) <= 60 else c[:59] + "…").ljust(widths[i]) for i, c in enumerate(r)).rstrip()
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


# ---- run ---------------------------------------------------------------------------------------------

def cmd_run(args: argparse.Namespace) -> int:
    if not args.once:
        from monitor.scheduler import run_daemon

        return run_daemon(config_path_from(args.config))
    cfg = _load(args)
    return run_once(cfg, quiet=args.quiet)


POOL_MIN_FEEDS = 20  # from this many feeds on, parsing and detection use every core


def cpu_pool() -> Any:
    """Worker processes for the pure CPU stages (forkserver: safe beside our threads)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # the main process stores (one core); the others parse and analyse
    workers = max(1, (os.cpu_count() or 2) - 1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))


def run_once(cfg: Config, *, quiet: bool = False, now: float | None = None) -> int:
    from monitor.dispatch import dispatch_watchlist
    from monitor.pipeline import open_services, poll_all, rematch_changed, sync_seeds

    svc = open_services(cfg)
    try:
        sync_seeds(svc)
        rematch_changed(svc, cfg.rematch_window, now)
        feeds = [f for f in cfg.feeds if f.enabled]
        if len(feeds) >= POOL_MIN_FEEDS and (os.cpu_count() or 1) > 1:
            svc.cpu_executor = cpu_pool()
        if not quiet:
            _out(f"Polling {len(feeds)} feed(s)...")
        done = [0]

        def progress(o: Any) -> None:
            done[0] += 1
            if not quiet:
                state = o.error or ("not modified" if o.not_modified else f"{o.new_items} new")
                _out(f"  [{done[0]}/{len(feeds)}] {o.feed}: {state}")

        outcomes = asyncio.run(poll_all(svc, feeds, progress=progress))
        rows = [[o.feed, str(o.status or "-"), str(o.new_items), str(o.matched), (o.error or "ok")[:80]]
                for o in outcomes]
        _out()
        _out(_table(rows, ["feed", "http", "new", "matched", "result"]))
        failed = [o for o in outcomes if o.error]
        unreachable = {"dns", "connect", "tls", "timeout", "blocked"}
        if outcomes and len(failed) == len(outcomes) and all(o.error_kind in unreachable for o in failed):
            _out("\nNo feed could be reached. Without network access, try `monitor demo`: it serves sample "
                 "feeds locally and runs the whole service.")
        _out()
        n_written = 0
        for wl in svc.watchlists:
            for r in dispatch_watchlist(cfg, svc.conn, wl, now, force_retry=True):
                if r.status == "sent":
                    n_written += 1
                    _out(f"digest {wl.name} ({r.channel}): {r.stories} stor{'y' if r.stories == 1 else 'ies'} -> "
                         f"{r.location}")
                elif r.status == "failed":
                    _out(f"digest {wl.name} ({r.channel}): FAILED: {r.error}")
                else:
                    _out(f"digest {wl.name} ({r.channel}): nothing new" +
                         (f" ({r.suppressed} suppressed)" if r.suppressed else ""))
        if not svc.watchlists:
            _out(f"no watchlists in {cfg.watchlists}")
    finally:
        svc.close()
    return 0


# ---- check -------------------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    from monitor.seeds import load_seeds
    from monitor.watchlist import load_watchlists

    problems: list[str] = []
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
        _, seed_problems = load_seeds(cfg.seeds)
        problems.extend(str(p) for p in seed_problems)
    for p in problems:
        _out(p)
    if problems:
        _out(f"\n{len(problems)} problem(s) found")
        return 1
    assert cfg is not None
    _out(f"ok: {cfg.path.name}: {len(cfg.feeds)} feed(s), {n_wl} watchlist(s)")
    return 0


# ---- items / feeds / status -----------------------------------------------------------------------

def item_json(r: Any, matches: list[Any]) -> dict[str, Any]:
    return {
        "id": r["id"], "feed": r["feed_name"], "title": r["title"], "link": r["link"],
        "published": _ts(r["published"]), "fetched": _ts(r["fetched"]),
        "language": r["language"], "language_confidence": r["language_confidence"],
        "language_script": r["language_script"], "language_uncertain": bool(r["language_uncertain"]),
        "summary": r["summary"], "author": r["author"],
        "title_translated": r["title_translated"], "summary_translated": r["summary_translated"],
        "translated_to": r["translated_to"], "translation_status": r["translation_status"],
        "matches": [m["watchlist"] for m in matches],
        "match_details": [{"watchlist": m["watchlist"], "score": m["score"], "why": json.loads(m["why"])}
                          for m in matches],
        "duplicate_of": r["duplicate_of"], "duplicate_kind": r["duplicate_kind"],
        "similarity": r["duplicate_similarity"], "duplicate_seed": r["duplicate_seed"],
        "story_id": r["story_id"],
    }


def cmd_items(args: argparse.Namespace) -> int:
    cfg = _load(args, check_dirs=False)
    conn = store.connect(cfg.database)
    try:
        since = time.time() - parse_duration(args.since) if args.since else None
        rows = [r for r in store.item_rows(conn, since=since, watchlist=args.watchlist)
                if args.seeds or r["feed_name"] != "seeds"]
        if args.limit:
            rows = rows[-args.limit:]
        matches = store.matches_for(conn, [r["id"] for r in rows])
        items = [item_json(r, matches.get(r["id"], [])) for r in rows]
    finally:
        conn.close()
    if args.json:
        json.dump(items, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    table = [[str(i["id"]), i["feed"], i["language"] or "?", ",".join(i["matches"]) or "-",
              (f"dup of {i['duplicate_of']}" if i["duplicate_of"] else ""), i["title_translated"] or i["title"]]
             for i in items]
    _out(_table(table, ["id", "feed", "lang", "matches", "duplicate", "title"]))
    return 0


def feed_health(conn: Any, cfg: Config, now: float) -> list[dict[str, Any]]:
    configured = {f.url: f for f in cfg.feeds}
    out = []
    for r in store.all_feeds(conn):
        if r.url == "seeds:" or r.url not in configured:
            continue
        f = configured[r.url]
        out.append({
            "name": r.name, "url": r.url, "enabled": f.enabled and not r.disabled_reason,
            "last_fetch": _ts(r.last_fetch), "last_success": _ts(r.last_success), "status": r.last_status,
            "error": r.last_error, "error_kind": r.error_kind, "consecutive_failures": r.consecutive_failures,
            "items": r.items_total, "last_new_item": _ts(r.last_new_item), "next_poll": _ts(r.next_poll),
            "disabled_reason": r.disabled_reason, "moved_to": r.moved_to,
        })
    return out


def cmd_feeds(args: argparse.Namespace) -> int:
    cfg = _load(args, check_dirs=False)
    conn = store.connect(cfg.database)
    try:
        store.sync_feeds(conn, [(f.url, f.name) for f in cfg.feeds])
        now = time.time()
        health = feed_health(conn, cfg, now)
    finally:
        conn.close()
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
    cfg = _load(args, check_dirs=False)
    if not cfg.database.exists():
        _out(f"no database yet at {cfg.database}: the service has not run")
        return 0
    conn = store.connect(cfg.database)
    now = time.time()
    try:
        health = feed_health(conn, cfg, now)
        due = sum(1 for h in health if h["enabled"] and (not h["next_poll"] or
                                                          datetime.fromisoformat(h["next_poll"]).timestamp() <= now))
        failing = [h for h in health if h["consecutive_failures"]]
        n_items = conn.execute("SELECT COUNT(*) FROM items WHERE feed_id != (SELECT id FROM feeds WHERE url='seeds:')"
                               ).fetchone()[0]
        heartbeat = store.get_meta(conn, "daemon_heartbeat")
        pid = store.get_meta(conn, "daemon_pid")
        digests = conn.execute("SELECT watchlist, channel, MAX(created) AS last, "
                               "SUM(status='pending') AS pending FROM digests GROUP BY watchlist, channel").fetchall()
        errors = conn.execute("SELECT watchlist, channel, error, next_attempt FROM digests WHERE status='pending' "
                              "AND error IS NOT NULL").fetchall()
    finally:
        conn.close()
    alive = heartbeat and now - float(heartbeat) < 120
    _out(f"daemon: {'running (pid ' + str(pid) + ')' if alive else 'not running'}"
         f"{', last heartbeat ' + _ago(float(heartbeat), now) if heartbeat else ''}")
    _out(f"feeds: {len(health)} configured, {due} due now, {len(failing)} failing")
    _out(f"items stored: {n_items}")
    for h in failing:
        _out(f"  failing: {h['name']}: {h['error']} ({h['consecutive_failures']} in a row, next {h['next_poll']})")
    for d in digests:
        _out(f"last digest {d['watchlist']} ({d['channel']}): {_ago(d['last'], now)}"
             + (f", {d['pending']} pending" if d["pending"] else ""))
    for e in errors:
        _out(f"  delivery error {e['watchlist']} ({e['channel']}): {e['error']} (retry {_ts(e['next_attempt'])})")
    return 0


# ---- detect ------------------------------------------------------------------------------------------

def cmd_detect(args: argparse.Namespace) -> int:
    from monitor.language import detect_lines

    lines = args.text if args.text else (line.rstrip("\n") for line in sys.stdin)
    for obj in detect_lines(lines):
        _out(json.dumps(obj, ensure_ascii=False))
    return 0


# ---- digest --------------------------------------------------------------------------------------------

def _watchlist(cfg: Config, name: str) -> Any:
    from monitor.watchlist import load_watchlists

    wls, problems = load_watchlists(cfg.watchlists)
    for wl in wls:
        if wl.name == name:
            return wl
    known = ", ".join(w.name for w in wls) or "none"
    for p in problems:
        _err(str(p))
    raise MonitorError(f"no valid watchlist named {name!r} (known: {known})")


def cmd_digest(args: argparse.Namespace) -> int:
    from monitor.deliver import build_email, send_email
    from monitor.dispatch import dispatch_watchlist, preview, smtp_settings
    from monitor.render import render_markdown

    cfg = _load(args)
    wl = _watchlist(cfg, args.watchlist)
    conn = store.connect(cfg.database)
    try:
        if args.dry_run or args.email:
            d = preview(cfg, conn, wl)
            if args.email:
                s = smtp_settings(cfg)
                send_email(build_email(d, from_addr=s.from_addr, to=[args.email], list_id=f"{wl.name}.news-monitor"),
                           s)
                _out(f"sent a test digest with {d.count} stor{'y' if d.count == 1 else 'ies'} to {args.email} "
                     "(nothing marked as delivered)")
            else:
                sys.stdout.write(render_markdown(d))
            return 0
        results = dispatch_watchlist(cfg, conn, wl, heartbeat=False, force_retry=True)
    finally:
        conn.close()
    rc = 0
    for r in results:
        _out(f"{r.channel}: {r.status}" + (f" -> {r.location}" if r.status == "sent" else "")
             + (f" ({r.error})" if r.error else ""))
        rc |= r.status == "failed"
    return rc


# ---- watchlist test ----------------------------------------------------------------------------------

def cmd_watchlist_test(args: argparse.Namespace) -> int:
    from monitor.watchlist import MatchInput, highlight

    cfg = _load(args)
    wl = _watchlist(cfg, args.name)
    conn = store.connect(cfg.database)
    try:
        since = time.time() - parse_duration(args.since)
        rows = [r for r in store.item_rows(conn, since=since) if r["feed_name"] != "seeds"]
    finally:
        conn.close()
    matched, held, near = [], [], []
    for r in rows:
        inp = MatchInput(title=r["title"], summary=r["summary"], language=r["language"], feed=r["feed_name"],
                         title_translated=r["title_translated"], summary_translated=r["summary_translated"])
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
        _out(f"\n[{score:.1f}] #{r['id']} {r['feed_name']} ({r['language'] or '?'})")
        _out("  " + highlight(r["title"], [h for h in ex.hits if h.field == "title"]))
        if r["title_translated"]:
            _out("  " + highlight(r["title_translated"], [h for h in ex.hits if h.field == "title_translated"]))
        for line in ex.why():
            _out(f"    - {line}")
    if held:
        _out(f"\nQuery held, below threshold ({len(held)}):")
        for score, r, ex in held[: args.limit]:
            _out(f"  #{r['id']} {r['title'][:90]}")
            _out(f"    score {ex.score:g}, weights {ex.weight_sum:g} / threshold {ex.threshold:g}, "
                 f"min_score {ex.min_score:g}")
            for line in ex.why():
                _out(f"    - {line}")
    if near:
        _out(f"\nNearly matched ({len(near)}):")
        for score, r, ex in near[: args.limit]:
            _out(f"  #{r['id']} {r['title'][:90]}")
            for line in ex.missing()[:3]:
                _out(f"    - {line}")
    return 0


# ---- models ----------------------------------------------------------------------------------------------

def cmd_models(args: argparse.Namespace) -> int:
    from monitor import argos_models

    cfg = _load(args, check_dirs=False)
    if args.models_cmd == "list":
        models = argos_models.list_models(cfg.models)
        if not models:
            _out(f"no translation models installed in {cfg.models}")
        rows = [[f"{m.from_code}->{m.to_code}", str(m.version), f"{m.size_bytes / 1e6:.1f} MB", str(m.path)]
                for m in models]
        if rows:
            _out(_table(rows, ["pair", "version", "size", "path"]))
        wanted = [p for p in cfg.translation.pairs if p not in {(m.from_code, m.to_code) for m in models}]
        if wanted:
            _out("\nwanted by config but not installed: " + ", ".join(f"{a}->{b}" for a, b in wanted))
        return 0
    if args.file:
        info = argos_models.install_from_file(Path(args.file), cfg.models)
    else:
        if not (args.source and args.target):
            _err("usage: monitor models install FROM TO   or   monitor models install --file X.argosmodel")
            return 2
        _out(f"installing {args.source}->{args.target} from the Argos package index...")
        info = argos_models.install_from_index(args.source, args.target, cfg.models)
    _out(f"installed {info.from_code}->{info.to_code} version {info.version} in {info.path}")
    return 0


# ---- seeds -------------------------------------------------------------------------------------------------

def cmd_seeds(args: argparse.Namespace) -> int:
    from monitor.seeds import load_seeds

    cfg = _load(args)
    if args.seeds_cmd == "list":
        seeds, problems = load_seeds(cfg.seeds)
        rows = [[s.key, s.language or "?", s.published.date().isoformat() if s.published else "-",
                 str(len(s.text.split())), s.title] for s in seeds]
        _out(_table(rows, ["file", "lang", "date", "words", "title"]))
        for p in problems:
            _out(str(p))
        return 1 if problems else 0
    from monitor.seed_add import add_seed

    path = add_seed(cfg, args.source, title=args.title, language=args.language)
    _out(f"added {path}")
    from monitor.pipeline import open_services, sync_seeds

    svc = open_services(cfg)
    try:
        sync_seeds(svc)
    finally:
        svc.close()
    return 0


# ---- demo -----------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None)


# ---- main ---------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor", description="Multilingual news monitoring with offline translation.")
    p.add_argument("--config", help="config file (default: $MONITOR_CONFIG or ./config.yaml)")
    p.add_argument("--log-level", default=os.environ.get("MONITOR_LOG_LEVEL", "WARNING"),
                   help="DEBUG, INFO, WARNING (default) or ERROR")
    p.add_argument("--version", action="version", version=f"news-monitor {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    s = sub.add_parser("run", help="run the service (foreground daemon), or one cycle with --once")
    s.add_argument("--once", action="store_true", help="poll every feed once, write digests, exit")
    s.add_argument("--quiet", action="store_true", help="no progress lines")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("check", help="validate config.yaml, watchlists and seeds; exit 1 on any problem")
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser("items", help="stored items")
    s.add_argument("--json", action="store_true", help="a JSON array")
    s.add_argument("--watchlist", help="only items matched by this watchlist")
    s.add_argument("--since", help="only items fetched within this duration, e.g. 24h or 7d")
    s.add_argument("--limit", type=int, default=0, help="only the newest N")
    s.add_argument("--seeds", action="store_true", help="include the seed corpus")
    s.set_defaults(fn=cmd_items)

    s = sub.add_parser("feeds", help="per-feed health; import/export/add feeds")
    s.add_argument("--json", action="store_true")
    fsub = s.add_subparsers(dest="feeds_cmd", metavar="ACTION")
    s.set_defaults(fn=cmd_feeds)
    try:
        from monitor.feeds_cli import register as register_feed_commands
    except ImportError:
        pass
    else:
        register_feed_commands(fsub)

    s = sub.add_parser("status", help="what the running service is doing")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("detect", help="detect the language of texts (args, or one per line on stdin)")
    s.add_argument("text", nargs="*")
    s.set_defaults(fn=cmd_detect)

    s = sub.add_parser("digest", help="build a watchlist's digest now")
    s.add_argument("--watchlist", required=True)
    s.add_argument("--dry-run", action="store_true", help="print it; deliver and mark nothing")
    s.add_argument("--email", metavar="ADDRESS", help="send it to ADDRESS (tests mail set-up; marks nothing)")
    s.set_defaults(fn=cmd_digest)

    s = sub.add_parser("watchlist", help="watchlist tools")
    wsub = s.add_subparsers(dest="watchlist_cmd", required=True, metavar="ACTION")
    t = wsub.add_parser("test", help="what a watchlist would match among stored items (changes nothing)")
    t.add_argument("name")
    t.add_argument("--since", default="7d")
    t.add_argument("--limit", type=int, default=20)
    t.set_defaults(fn=cmd_watchlist_test)

    s = sub.add_parser("models", help="translation models")
    msub = s.add_subparsers(dest="models_cmd", required=True, metavar="ACTION")
    msub.add_parser("list", help="installed models").set_defaults(fn=cmd_models)
    t = msub.add_parser("install", help="install FROM TO from the Argos index, or --file X.argosmodel")
    t.add_argument("source", nargs="?")
    t.add_argument("target", nargs="?")
    t.add_argument("--file", help="an .argosmodel file (offline install)")
    t.set_defaults(fn=cmd_models)

    s = sub.add_parser("seeds", help="the seed corpus (articles already read)")
    ssub = s.add_subparsers(dest="seeds_cmd", required=True, metavar="ACTION")
    ssub.add_parser("list", help="list seed documents").set_defaults(fn=cmd_seeds)
    t = ssub.add_parser("add", help="add a file, or an article URL (its text is extracted)")
    t.add_argument("source", help="PATH or URL")
    t.add_argument("--title")
    t.add_argument("--language")
    t.set_defaults(fn=cmd_seeds)

    s = sub.add_parser("demo", help="run one cycle on bundled sample feeds served on 127.0.0.1")
    s.add_argument("--dir", help="run in this directory instead of a new temporary one")
    s.set_defaults(fn=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from monitor.logs import setup_logging

        setup_logging(args.log_level)
    except ImportError:
        logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.fn(args) or 0)
    except ConfigError as e:
        for p in e.problems:
            _err(str(p))
        _err(f"{len(e.problems)} problem(s); the config is unusable")
        return 2
    except MonitorError as e:
        _err(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        return 130
