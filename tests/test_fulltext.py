"""Full text for summary-only feeds: real pages on 127.0.0.1, real trafilatura, real SQLite, real robots.txt."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import sqlite3
from pathlib import Path

import pytest

from monitor.analysis.watchlists import MatchInput, load_watchlists
from monitor.config import FetchSettings
from monitor.ingest.fetch import Fetcher
from monitor.ingest.fulltext import enrich_entries, fetch_articles, short_summary
from monitor.ingest.parse import Entry
from monitor.store import open_store
from tests.support.feedserver import FeedServer, Route, rss

ROOT = Path(__file__).resolve().parent.parent
HTML = "text/html; charset=utf-8"

ARTICLE = [
    "BISHKEK — Kyrgyz customs officers have opened an inquiry into the re-export of sanctioned dual-use goods to "
    "Russia, after Western governments warned Central Asian states that their banks could face secondary "
    "sanctions for helping Moscow circumvent export controls.",
    "Officials said that microchips, drones and machine tools listed by the European Union had been declared as "
    "destined for Kyrgyzstan but were shipped on by truck to Russian buyers within days of arriving in the "
    "country.",
    "The inquiry follows a visit by a United States Treasury delegation to Bishkek and Almaty last month, during "
    "which American officials named several trading companies registered in the Eurasian Economic Union.",
    "A spokesperson for the customs service said that cargo would now be inspected at the border and that "
    "companies found breaking the rules would lose their licences.",
]


def news_page(title: str, paragraphs: list[str], *, lang: str = "en", feeds: str = "") -> bytes:
    """An article page laid out like a regional news site: header, navigation, share bar,
    article, related links, comments and a footer."""
    nav = "".join(f'<li><a href="/section/{s.lower()}">{s}</a></li>'
                  for s in ("Politics", "Economy", "Society", "Sport", "Culture", "Opinion", "Video"))
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    related = "".join(f'<li><a href="/news/related-{i}">{t}</a></li>' for i, t in enumerate([
        "Zebra crossings repainted in the capital ahead of the school year",
        "Weather: heavy snow expected in the mountain passes",
        "Football: national team loses friendly match 0-2",
    ]))
    comments = "".join(f'<div class="comment"><span class="author">{a}</span><p>{t}</p></div>' for a, t in [
        ("reader_77", "Flamingo flamingo, this is all propaganda and nobody believes it."),
        ("Aibek", "When will they fix the roads in Osh instead? Nobody cares about the flamingo budget."),
    ])
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)} | Kabar Today</title>
<meta property="og:title" content="{html.escape(title)}">
<meta name="description" content="{html.escape(paragraphs[0][:120])}">
{feeds}
<script>window.dataLayer = [{{"page": "article"}}];</script>
<style>.nav {{ display: flex }}</style></head>
<body>
<header class="site-header"><a class="logo" href="/">Kabar Today</a>
<nav class="nav main-menu"><ul>{nav}</ul></nav>
<form class="search"><input name="q" placeholder="Search"></form>
<a class="subscribe" href="/subscribe">Subscribe to our newsletter</a></header>
<div class="breadcrumbs"><a href="/">Home</a> / <a href="/section/economy">Economy</a></div>
<main><article class="post">
<h1 class="entry-title">{html.escape(title)}</h1>
<div class="meta"><time datetime="2026-11-24T09:30:00+06:00">24 November 2026, 09:30</time>
<span class="byline">By Staff Reporter</span></div>
<div class="share"><a href="https://facebook.com/share">Share on Facebook</a> <a href="https://t.me/share">Telegram</a></div>
<div class="entry-content">{body}</div>
<div class="tags">Tags: <a href="/tag/customs">customs</a></div>
</article>
<aside class="related"><h3>Related news</h3><ul>{related}</ul></aside>
<section id="comments" class="comments"><h3>Comments (2)</h3>{comments}
<form class="comment-form"><textarea></textarea><button>Post comment</button></form></section>
</main>
<footer class="site-footer"><p>© 2026 Kabar Today. All rights reserved.</p>
<ul><li><a href="/about">About us</a></li><li><a href="/ads">Advertising</a></li></ul></footer>
</body></html>""".encode()


def entry(link: str | None, title: str = "Customs service reports on its work in November",
          summary: str = "The customs service held a briefing on Tuesday.") -> Entry:
    return Entry(guid=link or title, link=link, title=title, summary=summary, published=None, author=None,
                 language_hint="en")


def settings(**kw: object) -> FetchSettings:
    base = dict(timeout=5.0, allow_private_networks=True)
    base.update(kw)
    return FetchSettings(**base)  # type: ignore[arg-type]


class StateDb:
    """The store under test, and a plain connection to the same file for the assertions."""

    def __init__(self, path: Path) -> None:
        self.store = open_store(path)
        self.raw = sqlite3.connect(path, isolation_level=None)

    def execute(self, *args):  # type: ignore[no-untyped-def]
        return self.raw.execute(*args)

    def close(self) -> None:
        self.raw.close()
        self.store.close()


def enrich(conn: StateDb, entries: list[Entry], s: FetchSettings) -> list[Entry]:
    async def go() -> list[Entry]:
        async with Fetcher(s) as f:
            return await enrich_entries(f, conn.store, entries, settings=s)

    return asyncio.run(go())


@pytest.fixture
def conn(tmp_path: Path):
    c = StateDb(tmp_path / "state.db")
    yield c
    c.close()


def serve_article(srv: FeedServer, path: str = "/news/2026/11/24/customs-inquiry.html") -> str:
    srv.routes[path] = Route(news_page("Customs open inquiry into re-exports", ARTICLE), content_type=HTML)
    return srv.url(path)


def test_article_text_replaces_summary_and_only_the_body_matches(feed_server, conn) -> None:
    url = serve_article(feed_server)
    original = entry(url)
    [enriched] = enrich(conn, [original], settings())
    text = enriched.summary
    assert "secondary sanctions" in text and "machine tools" in text and "lose their licences" in text
    # navigation, share bar, related links, comments and footer are not article text
    for chrome in ("Subscribe to our newsletter", "Zebra crossings", "flamingo", "All rights reserved",
                   "Share on Facebook", "Post comment"):
        assert chrome.lower() not in text.lower()
    assert dataclasses.replace(enriched, summary=original.summary) == original  # nothing else changed
    # the watchlist sees the article: the one-line summary does not match, the body does
    wls, problems = load_watchlists(ROOT / "watchlists")
    wl = [w for w in wls if w.name == "central-asia-sanctions"][0]
    before = wl.explain(MatchInput(original.title, original.summary, "en", "Kabar"))
    after = wl.explain(MatchInput(enriched.title, enriched.summary, "en", "Kabar"))
    assert not before.matched and after.matched
    # the digest keeps the short summary of the feed
    assert short_summary(original, enriched) == original.summary
    no_summary = dataclasses.replace(original, summary="")
    short = short_summary(no_summary, enriched)
    assert 40 < len(short) <= 300 and enriched.summary.startswith(short.rstrip("…"))


def test_each_article_is_fetched_once_and_cached(feed_server, conn) -> None:
    url = serve_article(feed_server)
    e1 = entry(url)
    e2 = dataclasses.replace(entry(url), guid="same-link-other-guid")
    first = enrich(conn, [e1, e2], settings())
    assert first[0].summary == first[1].summary != e1.summary
    assert len(feed_server.hits_for("/news/2026/11/24/customs-inquiry.html")) == 1
    second = enrich(conn, [e1], settings())  # a later cycle, a new Fetcher: the SQLite cache answers
    assert second[0].summary == first[0].summary
    assert len(feed_server.hits_for("/news/2026/11/24/customs-inquiry.html")) == 1
    assert len(feed_server.hits_for("/robots.txt")) == 1
    status, text = conn.execute("SELECT status, text FROM fulltext_cache WHERE url=?", (url,)).fetchone()
    assert status == "ok" and "secondary sanctions" in text


def test_robots_txt_disallow_is_respected(feed_server, conn) -> None:
    feed_server.routes["/robots.txt"] = Route(
        b"User-agent: *\nDisallow: /premium/\n\nUser-agent: GPTBot\nDisallow: /\n", content_type="text/plain")
    allowed = serve_article(feed_server, "/news/open.html")
    denied = serve_article(feed_server, "/premium/locked.html")
    out = enrich(conn, [entry(allowed), entry(denied)], settings())
    assert "secondary sanctions" in out[0].summary
    assert out[1] == entry(denied)
    assert feed_server.hits_for("/premium/locked.html") == []
    assert len(feed_server.hits_for("/robots.txt")) == 1
    status = conn.execute("SELECT status FROM fulltext_cache WHERE url=?", (denied,)).fetchone()[0]
    assert status == "robots"
    # a robots.txt naming our agent applies to us
    feed_server.routes["/robots.txt"] = Route(b"User-agent: news-monitor\nDisallow: /\n", content_type="text/plain")
    conn.execute("DELETE FROM robots_cache")
    other = serve_article(feed_server, "/news/other.html")
    assert enrich(conn, [entry(other)], settings()) == [entry(other)]
    assert feed_server.hits_for("/news/other.html") == []


def test_robots_server_error_means_no_article_fetch(feed_server, conn) -> None:
    feed_server.routes["/robots.txt"] = Route(b"oops", status=503, content_type="text/plain")
    url = serve_article(feed_server)
    assert enrich(conn, [entry(url)], settings()) == [entry(url)]
    assert feed_server.hits_for("/news/2026/11/24/customs-inquiry.html") == []


def test_private_and_link_local_links_are_refused(feed_server, conn) -> None:
    url = serve_article(feed_server)
    strict = settings(allow_private_networks=False, timeout=3.0)
    entries = [entry("http://169.254.169.254/latest/meta-data/iam/security-credentials/"),
               entry(url), entry("http://10.0.0.1/admin"), entry("http://[::1]:8080/x")]
    assert enrich(conn, entries, strict) == entries
    assert feed_server.hits == []  # not even robots.txt was asked
    assert conn.execute("SELECT COUNT(*) FROM fulltext_cache").fetchone()[0] == 0  # not remembered
    # the same link is fetched once the operator allows private networks
    assert "secondary sanctions" in enrich(conn, [entry(url)], settings())[0].summary


def test_failures_keep_the_entry(feed_server, conn, caplog) -> None:
    feed_server.routes["/gone.html"] = Route(b"not here", status=404, content_type=HTML)
    feed_server.routes["/report.pdf"] = Route(b"%PDF-1.7 ...", content_type="application/pdf")
    feed_server.routes["/teaser.html"] = Route(news_page("Subscribers only", ["Subscribe to read the full story."]),
                                               content_type=HTML)
    entries = [entry(feed_server.url(p)) for p in ("/gone.html", "/report.pdf", "/teaser.html")]
    entries.append(entry(None))
    with caplog.at_level("WARNING", logger="monitor.ingest.fulltext"):
        assert enrich(conn, entries, settings()) == entries
    assert len([r for r in caplog.records if r.name == "monitor.ingest.fulltext"]) == 3  # one line per failure
    statuses = dict(conn.execute("SELECT url, status FROM fulltext_cache").fetchall())
    assert statuses == {feed_server.url("/gone.html"): "http-404", feed_server.url("/report.pdf"): "not-html",
                        feed_server.url("/teaser.html"): "short"}
    enrich(conn, entries, settings())  # permanent failures are not tried again
    assert len(feed_server.hits_for("/gone.html")) == 1


def test_politeness_delay_applies_to_article_fetches(feed_server, conn) -> None:
    urls = [serve_article(feed_server, f"/news/{i}.html") for i in range(3)]

    async def go() -> dict:
        s = settings(min_host_delay=0.25)
        async with Fetcher(s) as f:
            return await fetch_articles(f, conn.store, urls, settings=s)

    got = asyncio.run(go())
    assert all(r.status == "ok" for r in got.values())
    times = sorted(h.time for h in feed_server.hits)
    assert len(times) == 4  # robots.txt and three articles
    assert all(b - a >= 0.2 for a, b in zip(times, times[1:]))


def test_e2e_fulltext_feed_matches_on_article_body(project, feed_server) -> None:
    """Done-when of issue 12: a summary-only feed with `fulltext: true`
    yields a match that only the article body contains; the digest shows the short summary."""
    url = serve_article(feed_server)
    item = {"title": "Customs service reports on its work in November", "link": url, "guid": "kabar-1",
            "description": "The customs service held a briefing on Tuesday.",
            "pubDate": "Tue, 24 Nov 2026 09:30:00 GMT"}
    feed_server.routes["/plain.xml"] = Route(rss([item], title="Plain", language="en"))
    # the same article under another address (a distinct link, or it would be an exact duplicate)
    url2 = serve_article(feed_server, "/news/2026/11/24/customs-inquiry-2.html")
    feed_server.routes["/full.xml"] = Route(rss([dict(item, guid="kabar-2", link=url2)], title="Full",
                                                language="en"))
    project.write_config([{"name": "Plain", "url": feed_server.url("/plain.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    assert project.items()[0]["matches"] == []
    project.write_config([{"name": "Full", "url": feed_server.url("/full.xml"), "fulltext": True}],
                         translation={"enabled": False})
    project.cli("run", "--once")
    full = [i for i in project.items() if i["feed"] == "Full"]
    assert full and "central-asia-sanctions" in full[0]["matches"]
    digest = project.digests("central-asia-sanctions")[-1].read_text(encoding="utf-8")
    assert "The customs service held a briefing on Tuesday." in digest


# ---- issue 19: extraction in a bounded worker process -----------------------------------------------

def test_worker_extracts_what_the_in_process_extractor_does() -> None:
    from monitor.ingest.extract_worker import extract_bounded
    from monitor.ingest.fulltext import extract_text

    page = news_page("Customs open inquiry into re-exports", ARTICLE).decode()
    done = asyncio.run(extract_bounded(page, "https://kabar.example/a", timeout=30.0, memory=512 << 20,
                                       concurrency=1))
    assert done.status == "ok" and done.text == extract_text(page, "https://kabar.example/a")
    assert "secondary sanctions" in done.text


def test_worker_past_its_deadline_is_killed_and_the_summary_kept(feed_server, conn) -> None:
    import multiprocessing

    links = "".join(f'<li><a href="/s/{i}">Section {i} news and more news</a></li>' for i in range(25_000))
    feed_server.routes["/links.html"] = Route(f"<html><body><ul>{links}</ul></body></html>".encode(),
                                              content_type=HTML)
    original = entry(feed_server.url("/links.html"))
    [got] = enrich(conn, [original], settings(fulltext_timeout=0.5))
    assert got == original
    status = conn.execute("SELECT status FROM fulltext_cache").fetchone()[0]
    assert status == "extract-timeout"
    assert not [p for p in multiprocessing.active_children() if p.name == "news-monitor-extract"]


def test_article_bigger_than_the_fulltext_cap_is_not_fetched_whole(feed_server, conn) -> None:
    big = news_page("Customs open inquiry into re-exports", ARTICLE * 2000)
    feed_server.routes["/big.html"] = Route(big, content_type=HTML)
    original = entry(feed_server.url("/big.html"))
    [got] = enrich(conn, [original], settings(fulltext_max_bytes=len(big) // 2))
    assert got == original
    assert conn.execute("SELECT status FROM fulltext_cache").fetchone()[0] == "too_large"


def test_memory_budget_holds_without_setrlimit() -> None:
    """Where a sandbox refuses setrlimit (the unit's SystemCallFilter=~@resources), the parent's
    watch on the worker's resident size enforces the budget on its own."""
    from monitor.ingest.extract_worker import _run

    links = "".join(f'<li><a href="/s/{i}">Section {i} news and more news</a></li>' for i in range(40_000))
    page = f"<html><body><ul>{links}</ul></body></html>"
    done = _run(page, None, 60.0, 30 << 20, rlimit=False)
    assert done.status == "extract-memory", done
    assert "resident" in (done.error or "")
