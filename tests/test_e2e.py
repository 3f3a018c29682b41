"""End to end: the real CLI against feeds served on 127.0.0.1, real SQLite (and PostgreSQL), real Markdown."""

from __future__ import annotations

import time

from tests.support.feedserver import Route, atom, rdf, rss

EN_ITEMS = [
    {"title": "Tokayev and Mirziyoyev join Putin at Victory Day parade on Red Square",
     "link": "https://news.example.org/2026/05/09/parade-leaders?utm_source=rss",
     "guid": "en-1", "pubDate": "Sat, 09 May 2026 10:00:00 GMT",
     "description": "<p>The presidents of <b>Kazakhstan</b> and Uzbekistan stood beside Vladimir Putin "
                    "as troops marched across Red Square for the Victory Day parade.</p>"},
    {"title": "Wheat harvest in Kansas beats forecasts",
     "link": "https://news.example.org/2026/07/01/wheat", "guid": "en-2",
     "pubDate": "Wed, 01 Jul 2026 08:00:00 GMT",
     "description": "Farmers in the US Midwest report a record wheat crop after a wet spring."},
]
RU_ENTRIES = [
    {"title": "Садыр Жапаров прибыл в Москву на парад Победы",
     "link": "https://ru.example.org/news/japarov-parad", "id": "ru-1",
     "summary": "Президент Киргизии Садыр Жапаров прибыл в Москву, чтобы посетить парад Победы на Красной площади "
                "вместе с Владимиром Путиным."},
]
RDF_ITEMS = [
    {"title": "Kazakhstan tightens checks on sanctioned dual-use goods bound for Russia",
     "link": "https://rdf.example.org/kz-sanctions",
     "description": "Kazakh customs will inspect transit cargo to make sure it complies with Western sanctions, "
                    "as Washington warns Central Asian states of secondary sanctions."},
]


def _serve(feed_server):
    feed_server.routes["/en.xml"] = Route(rss(EN_ITEMS, language="en"), etag='"en-v1"')
    feed_server.routes["/ru.atom"] = Route(atom(RU_ENTRIES, lang="ru"), content_type="application/atom+xml",
                                           last_modified="Sat, 09 May 2026 11:00:00 GMT")
    feed_server.routes["/rdf.xml"] = Route(rdf(RDF_ITEMS), content_type="application/rdf+xml", etag='"rdf1"')
    feed_server.routes["/broken.xml"] = Route(b"oops", status=500, content_type="text/plain")
    feed_server.routes["/slow.xml"] = Route(rss(EN_ITEMS), delay=6.0)
    return [
        {"name": "English wire", "url": feed_server.url("/en.xml")},
        {"name": "Russian desk", "url": feed_server.url("/ru.atom")},
        {"name": "RDF site", "url": feed_server.url("/rdf.xml")},
        {"name": "Broken site", "url": feed_server.url("/broken.xml")},
        {"name": "Slow site", "url": feed_server.url("/slow.xml")},
    ]


def test_run_once_stores_matches_and_writes_digest_then_conditional_get(any_project, feed_server):
    project = any_project  # on SQLite and on PostgreSQL
    project.write_config(_serve(feed_server), translation={"enabled": False})
    started = time.monotonic()
    out = project.cli("run", "--once").stdout
    assert time.monotonic() - started < 60
    # per-feed table with the failures named
    assert "Broken site" in out and "HTTP 500" in out
    assert "Slow site" in out and "no complete response" in out

    items = project.items()
    by_guid = {i["title"]: i for i in items}
    parade = by_guid["Tokayev and Mirziyoyev join Putin at Victory Day parade on Red Square"]
    assert parade["feed"] == "English wire"
    assert parade["language"] == "en"
    assert "victory-day-parade" in parade["matches"]
    assert parade["duplicate_of"] is None
    assert parade["published"].startswith("2026-05-09T10:00:00")
    ru = by_guid["Садыр Жапаров прибыл в Москву на парад Победы"]
    assert ru["language"] == "ru" and "victory-day-parade" in ru["matches"]
    wheat = by_guid["Wheat harvest in Kansas beats forecasts"]
    assert wheat["matches"] == []
    kz = by_guid["Kazakhstan tightens checks on sanctioned dual-use goods bound for Russia"]
    assert "central-asia-sanctions" in kz["matches"]
    for i in items:
        for key in ("id", "feed", "title", "link", "published", "language", "matches", "duplicate_of"):
            assert key in i
    # HTML stripped from the summary
    assert "<p>" not in parade["summary"] and "Kazakhstan and Uzbekistan" in parade["summary"]

    digests = project.digests("victory-day-parade")
    assert len(digests) == 1
    md = digests[0].read_text(encoding="utf-8")
    assert "Tokayev and Mirziyoyev join Putin" in md
    assert "Садыр Жапаров" in md
    assert "Wheat harvest" not in md
    assert "https://news.example.org/2026/05/09/parade-leaders" in md
    assert len(project.digests("central-asia-sanctions")) == 1

    feeds = {f["name"]: f for f in __import__("json").loads(project.cli("feeds", "--json").stdout)}
    assert feeds["Broken site"]["status"] == 500 and feeds["Broken site"]["consecutive_failures"] == 1
    assert feeds["English wire"]["status"] == 200 and feeds["English wire"]["items"] == 2
    assert feeds["Slow site"]["error_kind"] == "timeout"

    # second run: conditional GET, 304, nothing new, no digest written
    before = len(feed_server.hits)
    out2 = project.cli("run", "--once").stdout
    en_hits = [h for h in feed_server.hits[before:] if h.path == "/en.xml"]
    assert en_hits and en_hits[-1].headers.get("if-none-match") == '"en-v1"'
    ru_hits = [h for h in feed_server.hits[before:] if h.path == "/ru.atom"]
    assert ru_hits[-1].headers.get("if-modified-since") == "Sat, 09 May 2026 11:00:00 GMT"
    assert "not modified" in out2
    assert len(project.digests("victory-day-parade")) == 1
    assert len(project.items()) == len(items)
    feeds = {f["name"]: f for f in __import__("json").loads(project.cli("feeds", "--json").stdout)}
    assert feeds["English wire"]["status"] == 304
    assert feeds["Broken site"]["consecutive_failures"] == 2


def test_exact_duplicates_recorded_not_reported(any_project, feed_server):
    project = any_project  # on SQLite and on PostgreSQL
    same = dict(EN_ITEMS[0])
    same["guid"] = "other-site-1"
    same["link"] = "http://www.news.example.org/2026/05/09/parade-leaders/?utm_medium=social&fbclid=x"
    feed_server.routes["/a.xml"] = Route(rss(EN_ITEMS[:1]))
    feed_server.routes["/b.xml"] = Route(rss([same]))
    project.write_config([{"name": "A", "url": feed_server.url("/a.xml")},
                          {"name": "B", "url": feed_server.url("/b.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    items = project.items()
    assert len(items) == 2
    originals = [i for i in items if i["duplicate_of"] is None]
    dups = [i for i in items if i["duplicate_of"] is not None]
    assert len(originals) == 1 and len(dups) == 1
    assert dups[0]["duplicate_of"] == originals[0]["id"]
    assert dups[0]["duplicate_kind"] in ("url", "content")
    md = project.digests("victory-day-parade")[0].read_text(encoding="utf-8")
    assert md.count("Tokayev and Mirziyoyev join Putin") == 1


def test_file_feed_and_items_filters(project, tmp_path):
    feed = tmp_path / "local.xml"
    feed.write_bytes(rss(EN_ITEMS))
    project.write_config([{"name": "Local file", "url": feed.as_uri()}], translation={"enabled": False})
    project.cli("run", "--once")
    assert len(project.items()) == 2
    only = project.items("--watchlist", "victory-day-parade")
    assert [i["guid"] if "guid" in i else i["title"] for i in only] == [EN_ITEMS[0]["title"]]
    assert project.items("--since", "1h") and len(project.items("--since", "1h")) == 2


def test_unusable_config_exits_2_with_location(project):
    project.config.write_text("feeds:\n  - url: ftp://x.org/feed\n    intervall: 5m\n", encoding="utf-8")
    proc = project.cli("run", "--once", check=False)
    assert proc.returncode == 2
    assert "config.yaml:2:" in proc.stderr and "feeds[0].url" in proc.stderr
    assert "config.yaml:3:" in proc.stderr and "intervall" in proc.stderr and "interval" in proc.stderr
    chk = project.cli("check", check=False)
    assert chk.returncode == 1 and "2 problem(s)" in chk.stdout
