"""``monitor feeds import|export|add``: manage the feed list in config.yaml.

``add`` accepts a feed URL or a web page: a page's advertised feeds
(``<link rel="alternate">``) are tried first, then the usual paths (/feed, /rss,
/rss.xml, /atom.xml, /feed.xml, /index.xml). Only the host the user named is
trusted: advertised feeds and redirect hops on any other host pass the address
guard (:func:`monitor.ingest.fetch.address_blocked`) before they are fetched, so a
page cannot have an internal address written into config.yaml. Each candidate is fetched and parsed
once so the user sees its title, item count and language before choosing.
Every edit of config.yaml is a round-trip edit (:mod:`monitor.config.edit`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from monitor import MonitorError
from monitor.config import FetchSettings, config_path_from, load_config
from monitor.config.edit import NewFeed, append_feeds, feed_names, feed_urls, load_document, save
from monitor.config.opml import plan_import, read_opml, url_key, write_opml
from monitor.ingest.fetch import Fetcher
from monitor.ingest.parse import ParsedFeed, parse_feed
from monitor.ingest.scrub import scrub, scrub_lines

COMMON_PATHS = ("/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml")
FORMATS = {"rss20": "RSS 2.0", "rss10": "RSS 1.0", "rss090": "RSS 0.90", "rss091u": "RSS 0.91",
           "rss091n": "RSS 0.91", "rss092": "RSS 0.92", "rss093": "RSS 0.93", "rss094": "RSS 0.94",
           "atom10": "Atom 1.0", "atom03": "Atom 0.3", "json1": "JSON Feed"}


@dataclass(frozen=True)
class Candidate:
    """A feed found for the address the user gave, validated by one fetch."""

    url: str
    title: str
    version: str
    items: int
    language: str | None  # detected from a few entries
    language_share: float  # share of the sampled entries in that language
    how: str  # given | advertised | common path
    sample: tuple[str, ...] = ()  # a few titles

    @property
    def format(self) -> str:
        return FORMATS.get(self.version, self.version or "feed")


def _out(text: str = "") -> None:
    print(scrub_lines(text), flush=True)  # titles and URLs come from the network


def _err(text: str) -> None:
    print(scrub_lines(text), file=sys.stderr, flush=True)


# ---- discovery -----------------------------------------------------------------------------------------

def feed_language(parsed: ParsedFeed, sample: int = 8) -> tuple[str | None, float]:
    """Majority language of the first ``sample`` entries (titles, with a little summary)."""
    from monitor.analysis.language import detect_item

    votes: Counter[str] = Counter()
    entries = parsed.entries[:sample]
    for e in entries:
        r = detect_item(e.title, e.summary[:200], declared=e.language_hint)
        if r.language:
            votes[r.language] += 1
    if not votes:
        return parsed.language, 0.0
    lang, n = votes.most_common(1)[0]
    return lang, n / len(entries)


def _candidate(parsed: ParsedFeed, url: str, how: str) -> Candidate:
    lang, share = feed_language(parsed)
    return Candidate(url=url, title=parsed.title, version=parsed.version, items=len(parsed.entries),
                     language=lang, language_share=share, how=how,
                     sample=tuple(e.title for e in parsed.entries[:3]))


async def _try_feed(fetcher: Fetcher, url: str, how: str, trusted_host: str | None
                    ) -> tuple[Candidate | None, str | None, tuple[str, ...]]:
    # a candidate the page advertises is the page's word, not the operator's: only the host the
    # operator named is trusted, anything else goes through the address guard before it is fetched
    res = await fetcher.fetch(url, trusted_host=trusted_host)
    if res.error_kind == "blocked":
        _err(f"  skipped {scrub(url)}: {res.error}")
    if not res.ok or res.body is None:
        return None, None, ()
    parsed = await asyncio.to_thread(parse_feed, res.body, res.content_type, res.final_url)
    if parsed.error or not parsed.version:
        return None, None, ()
    final = res.moved_to or url
    return _candidate(parsed, final, how), res.final_url, tuple(e.guid for e in parsed.entries[:20])


async def discover(fetcher: Fetcher, url: str) -> list[Candidate]:
    """Feeds for ``url``: the URL itself if it is a feed, else those its page advertises, else common paths."""
    given_host = urlsplit(url).hostname
    res = await fetcher.fetch(url)  # redirect hops that leave the given host pass the address guard
    if not res.ok or res.body is None:
        raise MonitorError(f"cannot fetch {scrub(url)}: {res.error}")
    parsed = await asyncio.to_thread(parse_feed, res.body, res.content_type, res.final_url)
    if not parsed.error and parsed.version:
        return [_candidate(parsed, res.moved_to or url, "given")]
    page = res.final_url
    tries: list[tuple[str, str]] = [(u, "advertised") for u in parsed.advertised_feeds]
    found = await _validate(fetcher, tries, given_host)
    if found:
        return found
    base = f"{urlsplit(page).scheme}://{urlsplit(page).netloc}"
    paths: list[str] = [base + p for p in COMMON_PATHS]
    directory = urljoin(page, ".")
    if directory.rstrip("/") != base:
        paths = [urljoin(directory, p.lstrip("/")) for p in COMMON_PATHS] + paths
    return await _validate(fetcher, [(u, "common path") for u in dict.fromkeys(paths)], given_host)


async def _validate(fetcher: Fetcher, tries: list[tuple[str, str]], trusted_host: str | None) -> list[Candidate]:
    got = await asyncio.gather(*(_try_feed(fetcher, u, how, trusted_host) for u, how in tries))
    out: list[Candidate] = []
    seen_final: set[str] = set()
    seen_guids: set[tuple[str, ...]] = set()
    for cand, final, guids in got:
        if cand is None or final is None:
            continue
        if final in seen_final or (guids and guids in seen_guids):
            continue  # /feed and /rss are often the same feed
        seen_final.add(final)
        seen_guids.add(guids)
        out.append(cand)
    return out


async def discover_with(settings: FetchSettings, url: str) -> list[Candidate]:
    async with Fetcher(settings) as fetcher:
        return await discover(fetcher, url)


# ---- add -------------------------------------------------------------------------------------------------

def _describe(c: Candidate) -> str:
    lang = f"language {c.language}" + (f" ({c.language_share:.0%} of sampled items)" if c.language_share < 1 else "") \
        if c.language else "language unknown"
    return f"{c.title or '(untitled)'}\n     {c.url}\n     {c.format}, {c.items} item(s), {lang}"


def _is_tty() -> bool:
    try:
        return sys.stdout.isatty() and sys.stdin.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def cmd_add(args: argparse.Namespace) -> int:
    path = config_path_from(args.config)
    cfg = load_config(path, check_dirs=False)
    doc = load_document(path)
    url = args.url.strip()
    if urlsplit(url).scheme not in ("http", "https"):
        url = "https://" + url if "://" not in url else url
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        _err(f"not a web address: {args.url}")
        return 2
    existing = {url_key(u): (u, line) for u, line in feed_urls(doc).items()}
    candidates = asyncio.run(discover_with(cfg.fetch, url))
    if not candidates:
        _err(f"no feed found at {url} (tried the page's <link rel=\"alternate\"> and /feed, /rss, /rss.xml, "
             "/atom.xml, /feed.xml, /index.xml)")
        return 1
    if len(candidates) > 1 or candidates[0].how != "given":
        _out(f"{len(candidates)} feed(s) found for {url}:")
    for i, c in enumerate(candidates, 1):
        _out(f"  {i}. {_describe(c)}")
    chosen = _choose(candidates, args.pick)
    if chosen is None:
        return 1
    if url_key(chosen.url) in existing:
        have, line = existing[url_key(chosen.url)]
        _err(f"{chosen.url} is already in {path}" + (f" (line {line})" if line else ""))
        return 1
    names = {n.casefold() for n in feed_names(doc)}
    name = (args.name or chosen.title or "").strip() or None
    if name and name.casefold() in names:
        if args.name:
            _err(f"a feed named {name!r} already exists; choose another --name")
            return 1
        host = (urlsplit(chosen.url).hostname or "").removeprefix("www.")
        name = f"{name} ({host})"
    feed = NewFeed(url=chosen.url, name=name, tags=tuple(args.tag or ()), language=args.language,
                   interval=args.interval, fulltext=args.fulltext)
    if _is_tty() and not args.yes:
        answer = input(f"Add {name or chosen.url!r} to {path}? [Y/n] ").strip().lower()
        if answer not in ("", "y", "yes"):
            _out("nothing changed")
            return 1
    append_feeds(doc, [feed])
    save(doc)
    added_at = feed_urls(load_document(path)).get(chosen.url)
    _out(f"added {name or chosen.url} to {path}" + (f" (line {added_at})" if added_at else ""))
    return 0


def _choose(candidates: list[Candidate], pick: int | None) -> Candidate | None:
    if pick is not None:
        if not 1 <= pick <= len(candidates):
            _err(f"--pick {pick}: choose 1 to {len(candidates)}")
            return None
        return candidates[pick - 1]
    if len(candidates) == 1:
        return candidates[0]
    if not _is_tty():
        _err(f"{len(candidates)} feeds found; choose one with --pick N")
        return None
    while True:
        answer = input(f"Which feed? [1-{len(candidates)}, empty to cancel] ").strip()
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(candidates):
            return candidates[int(answer) - 1]


# ---- import / export -------------------------------------------------------------------------------------

def cmd_import(args: argparse.Namespace) -> int:
    path = config_path_from(args.config)
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        _err(f"cannot read {args.file}: {e.strerror or e}")
        return 1
    opml = read_opml(data)
    doc = load_document(path)
    plan = plan_import(opml, feed_urls(doc), feed_names(doc), tuple(args.tag or ()))
    for f in plan.add:
        _out(f"  + {f.name}  {f.url}" + (f"  [{', '.join(f.tags)}]" if f.tags else ""))
    for s in plan.duplicates:
        _out(f"  = skipped duplicate {s.url}: {s.reason}")
    for s in plan.invalid:
        _out(f"  ! skipped {s.url or s.title}: {s.reason}")
    if plan.add and not args.dry_run:
        append_feeds(doc, plan.add)
        save(doc)
    verb = "would add" if args.dry_run else "added"
    _out(f"{verb} {len(plan.add)} feed(s) to {path}; skipped {len(plan.duplicates)} duplicate(s)"
         + (f" and {len(plan.invalid)} invalid entr{'y' if len(plan.invalid) == 1 else 'ies'}" if plan.invalid else ""))
    if not opml.feeds:
        _err(f"{args.file} lists no feeds")
        return 1
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    cfg = load_config(config_path_from(args.config), check_dirs=False)
    text = write_opml(cfg.feeds, title=args.title, default_interval=cfg.default_interval)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        _err(f"exported {len(cfg.feeds)} feed(s) to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def register(subparsers: Any) -> None:
    """Add ``import``, ``export`` and ``add`` to the ``monitor feeds`` command."""
    p = subparsers.add_parser("import", help="add the feeds of an OPML file (folders become tags)")
    p.add_argument("file", metavar="FILE.opml")
    p.add_argument("--tag", action="append", help="also tag every imported feed (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="show what would be added; change nothing")
    p.set_defaults(fn=cmd_import)

    p = subparsers.add_parser("export", help="write the configured feeds as OPML 2.0")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: standard output)")
    p.add_argument("--title", default="news-monitor feeds", help="the OPML document's title")
    p.set_defaults(fn=cmd_export)

    p = subparsers.add_parser("add", help="add a feed, or find the feeds of a web page and add one")
    p.add_argument("url", metavar="URL", help="a feed URL or a site's page")
    p.add_argument("--name", help="feed name (default: the feed's title)")
    p.add_argument("--pick", type=int, metavar="N", help="take the N-th feed found (no prompt)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--tag", action="append", help="tag (repeatable)")
    p.add_argument("--language", help="language override, e.g. ru (default: detected per item)")
    p.add_argument("--interval", help="poll interval, e.g. 1h (default: defaults.interval)")
    p.add_argument("--fulltext", action="store_true", help="fetch each new item's article page for its full text")
    p.set_defaults(fn=cmd_add)
