"""Seeds and story clusters end to end: real feeds on 127.0.0.1, the real CLI, real SQLite."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from tests.support.feedserver import Route, rss

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "seeds" / "000_71e0985426784b8e.txt").read_text(encoding="utf-8")

AGENCY = ("Kazakh President Kassym-Jomart Tokayev and Kyrgyz President Sadyr Japarov arrived in Moscow on "
          "Monday to attend the Victory Day parade on Red Square alongside Vladimir Putin, the Kremlin said. "
          "Tajik President Emomali Rahmon and Belarusian leader Alexander Lukashenko are also expected, while "
          "Armenian Prime Minister Nikol Pashinyan confirmed his attendance late on Sunday. The leaders will "
          "lay wreaths at the Tomb of the Unknown Soldier after the parade, which marks 79 years since the "
          "Soviet victory over Nazi Germany.")


def test_republished_seed_is_suppressed_and_agency_story_is_one_entry(project, feed_server):
    paragraphs = [p for p in SEED.split("\n\n") if p.strip()]
    republished = "Updated. " + " ".join(paragraphs[:7]) + " Subscribe to our newsletter for more."
    feed_server.routes["/repub.xml"] = Route(rss([
        {"title": "Putin hosts Central Asian leaders at Victory Day parade, defying Washington",
         "link": "https://mirror.example.com/2023/05/09/putin-hosts-leaders", "guid": "r1",
         "description": republished},
    ]))
    sites = []
    edits = [("", ""), ("Kassym-Jomart ", ""), (" late on Sunday", "")]
    for n, (a, b) in enumerate(edits, 1):
        feed_server.routes[f"/site{n}.xml"] = Route(rss([
            {"title": ["Central Asian leaders arrive in Moscow for Victory Day parade",
                       "Tokayev, Japarov in Moscow for Victory parade",
                       "Leaders of Kazakhstan and Kyrgyzstan arrive for parade with Putin"][n - 1],
             "link": f"https://site{n}.example.org/news/{n}", "guid": f"s{n}",
             "description": f"(Site {n}) " + AGENCY.replace(a, b) if a else f"(Site {n}) " + AGENCY},
        ]))
        sites.append({"name": f"Site {n}", "url": feed_server.url(f"/site{n}.xml")})
    project.write_config([{"name": "Mirror", "url": feed_server.url("/repub.xml")}] + sites,
                         translation={"enabled": False})
    project.cli("run", "--once")

    items = {i["feed"]: i for i in project.items()}
    seeds = [i for i in project.items("--seeds") if i["feed"] == "seeds"]
    assert len(seeds) == 1
    mirror = items["Mirror"]
    assert mirror["duplicate_kind"] == "seed"
    assert mirror["duplicate_of"] == seeds[0]["id"]
    assert mirror["duplicate_seed"] == "000_71e0985426784b8e.txt"
    assert mirror["similarity"] >= 0.3

    stories = {items[f"Site {n}"]["story_id"] for n in (1, 2, 3)}
    assert len(stories) == 1, [items[f"Site {n}"] for n in (1, 2, 3)]

    md = project.digests("victory-day-parade")[0].read_text(encoding="utf-8")
    # the seed's republication is not news: only in the suppressed appendix
    head, _, appendix = md.partition("Suppressed")
    assert "defying Washington" not in head
    assert "defying Washington" in appendix and "duplicate of seed 000" in appendix
    # one entry for the agency story, naming all three sites
    entries = [line for line in head.splitlines() if line.startswith("## ")]
    assert len(entries) == 1, entries
    for n in (1, 2, 3):
        assert f"Site {n}" in head

    # a fourth site repeating the story later is not delivered again
    feed_server.routes["/site4.xml"] = Route(rss([
        {"title": "Putin welcomes Tokayev and Japarov for parade", "link": "https://site4.example.org/n/4",
         "guid": "s4", "description": "(Site 4) " + AGENCY}]))
    project.write_config([{"name": "Mirror", "url": feed_server.url("/repub.xml")}] + sites
                         + [{"name": "Site 4", "url": feed_server.url("/site4.xml")}],
                         translation={"enabled": False})
    project.cli("run", "--once")
    site4 = {i["feed"]: i for i in project.items()}["Site 4"]
    assert site4["story_id"] in stories
    assert len(project.digests("victory-day-parade")) == 1


def test_hard_negative_other_year_is_new(project, feed_server):
    other = ("Russia held a scaled-down Victory Day parade on Red Square in 2024 with only a handful of "
             "foreign guests; Kazakhstan's Tokayev and Uzbekistan's Mirziyoyev attended while the Kremlin cancelled "
             "the Immortal Regiment march for the second year over security concerns and drone attacks.")
    feed_server.routes["/a.xml"] = Route(rss([{"title": "A smaller Victory Day parade in 2024",
                                               "link": "https://a.example.org/2024", "guid": "a24",
                                               "description": other}]))
    project.write_config([{"name": "A", "url": feed_server.url("/a.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    item = project.items()[0]
    assert item["duplicate_of"] is None
    md = project.digests("victory-day-parade")[0].read_text(encoding="utf-8")
    assert "A smaller Victory Day parade in 2024" in md.partition("Suppressed")[0]


def test_seeds_list_and_add(project, tmp_path):
    project.write_config([], translation={"enabled": False})
    out = project.cli("seeds", "list").stdout
    assert "000_71e0985426784b8e.txt" in out
    doc = tmp_path / "extra.md"
    doc.write_text("---\ntitle: Japarov visits Tashkent\nlanguage: en\ndate: 2024-03-01\n---\n"
                   "Kyrgyz President Sadyr Japarov held talks in Tashkent with Shavkat Mirziyoyev on water "
                   "sharing and the border, and the two signed agreements on energy and transport.\n",
                   encoding="utf-8")
    project.cli("seeds", "add", str(doc))
    out = project.cli("seeds", "list").stdout
    assert "Japarov visits Tashkent" in out and "2024-03-01" in out
    seeds = [i for i in json.loads(project.cli("items", "--json", "--seeds").stdout) if i["feed"] == "seeds"]
    assert {s["title"] for s in seeds} >= {"Japarov visits Tashkent"}
    bad = tmp_path / "bad.md"
    bad.write_text("---\ntitel: x\n---\nbody\n", encoding="utf-8")
    (project.root / "seeds" / "bad.md").write_text(bad.read_text(), encoding="utf-8")
    proc = project.cli("check", check=False)
    assert proc.returncode == 1 and "bad.md" in proc.stdout and "titel" in proc.stdout


ARTICLE = ("<html><head><title>Japarov and Mirziyoyev sign water deal</title></head><body><article>"
           "<h1>Japarov and Mirziyoyev sign water deal</h1>"
           + "".join(f"<p>Paragraph {n}: Kyrgyz President Sadyr Japarov and Uzbek President Shavkat Mirziyoyev "
                     f"signed an agreement on sharing the water of the Naryn river in Tashkent on Friday, "
                     f"with new rules for the reservoirs and the border posts along the valley.</p>"
                     for n in range(1, 6))
           + "</article></body></html>")


def test_seeds_add_url_is_bounded_like_the_daemons_extraction(project, feed_server):
    feed_server.routes["/article.html"] = Route(ARTICLE.encode(), content_type="text/html; charset=utf-8")
    big = ARTICLE.replace("</article>", "<p>" + "filler words here " * 20_000 + "</p></article>")
    feed_server.routes["/big.html"] = Route(big.encode(), content_type="text/html; charset=utf-8")
    fetch = {"timeout": "3s", "allow_private_networks": True, "fulltext_max_bytes": "100kB"}
    project.write_config([], translation={"enabled": False}, fetch=fetch)
    out = project.cli("seeds", "add", feed_server.url("/article.html")).stdout
    assert "japarov-and-mirziyoyev-sign-water-deal" in out
    assert "Japarov and Mirziyoyev sign water deal" in project.cli("seeds", "list").stdout
    too_big = project.cli("seeds", "add", feed_server.url("/big.html"), check=False)  # over fulltext_max_bytes
    assert too_big.returncode != 0 and "cannot fetch" in (too_big.stdout + too_big.stderr)
    # a page within the size limit whose extraction outlasts fetch.fulltext_timeout: the worker is stopped
    project.write_config([], translation={"enabled": False},
                         fetch={**fetch, "fulltext_max_bytes": "5MB", "fulltext_timeout": "0.01s"})
    slow = project.cli("seeds", "add", feed_server.url("/big.html"), check=False)
    assert slow.returncode != 0 and "did not finish within 0.01 s" in (slow.stdout + slow.stderr)


def _rfc822(dt: datetime) -> str:
    return format_datetime(dt.astimezone(timezone.utc), usegmt=True)


def _entries(md: str) -> list[str]:
    return [line for line in md.partition("Suppressed")[0].splitlines() if line.startswith("## ")]


def test_reversal_is_delivered_as_an_update_under_its_story(project, feed_server):
    now = datetime.now(timezone.utc)
    feed_server.routes["/a.xml"] = Route(rss([
        {"title": "Pashinyan will attend the Victory Day parade in Moscow", "link": "https://a.example.org/1",
         "guid": "a1", "pubDate": _rfc822(now - timedelta(days=2)),
         "description": "YEREVAN (Agency) - Armenian Prime Minister Nikol Pashinyan will fly to Moscow for the "
                        "May 9 Victory Day parade on Red Square, his office said on Wednesday."}]))
    feed_server.routes["/b.xml"] = Route(rss([
        {"title": "Pashinyan to join Putin at Red Square parade", "link": "https://b.example.org/1",
         "guid": "b1", "pubDate": _rfc822(now - timedelta(days=2, hours=-3)),
         "description": "Nikol Pashinyan is expected in Moscow on May 9 for the Victory Day parade, "
                        "the government press service in Yerevan said. Subscribe to our newsletter."}]))
    feeds = [{"name": "Agency A", "url": feed_server.url("/a.xml")},
             {"name": "Outlet B", "url": feed_server.url("/b.xml")}]
    project.write_config(feeds, translation={"enabled": False})
    project.cli("run", "--once")
    items = {i["feed"]: i for i in project.items()}
    assert items["Agency A"]["story_id"] == items["Outlet B"]["story_id"]  # two outlets, one story
    assert len(_entries(project.digests("victory-day-parade")[0].read_text(encoding="utf-8"))) == 1

    # a third outlet repeats the announcement: suppressed; the reversal: delivered as an update
    feed_server.routes["/c.xml"] = Route(rss([
        {"title": "Pashinyan expected at Victory Day parade in Moscow", "link": "https://c.example.org/1",
         "guid": "c1", "pubDate": _rfc822(now - timedelta(days=1, hours=20)),
         "description": "Nikol Pashinyan is due in Moscow on May 9 to watch the Victory Day parade from the "
                        "stands on Red Square, officials in Yerevan said."},
        {"title": "Pashinyan will not attend the Victory Day parade in Moscow after all",
         "link": "https://c.example.org/2", "guid": "c2", "pubDate": _rfc822(now - timedelta(hours=2)),
         "description": "Armenian Prime Minister Nikol Pashinyan will not travel to Moscow for the May 9 "
                        "Victory Day parade, his office said, cancelling the trip announced on Wednesday."}]))
    project.write_config(feeds + [{"name": "Outlet C", "url": feed_server.url("/c.xml")}],
                         translation={"enabled": False})
    project.cli("run", "--once")
    by_guid = {i["link"]: i for i in project.items()}
    repeat, reversal = by_guid["https://c.example.org/1"], by_guid["https://c.example.org/2"]
    story = items["Agency A"]["story_id"]
    assert repeat["duplicate_kind"] == "story" and repeat["story_id"] == story
    assert reversal["duplicate_kind"] == "update" and reversal["story_id"] == story
    digests = project.digests("victory-day-parade")
    assert len(digests) == 2
    md = digests[1].read_text(encoding="utf-8")
    head, _, appendix = md.partition("Suppressed")
    entries = _entries(md)
    assert len(entries) == 1 and "will not attend" in entries[0], entries
    assert "update to a story already sent" in head
    assert "Pashinyan expected at Victory Day parade" in appendix  # the repeat stays hidden


def test_one_leader_two_events_stay_apart(project, feed_server):
    now = datetime.now(timezone.utc)
    feed_server.routes["/k.xml"] = Route(rss([
        {"title": "Tokayev attends Victory Day parade in Moscow", "link": "https://k.example.org/parade",
         "guid": "k1", "pubDate": _rfc822(now - timedelta(days=1)),
         "description": "Kazakh President Kassym-Jomart Tokayev watched the May 9 Victory Day parade on Red "
                        "Square in Moscow alongside Vladimir Putin and other leaders."},
        {"title": "Tokayev and Putin discuss gas transit by phone", "link": "https://k.example.org/call",
         "guid": "k2", "pubDate": _rfc822(now - timedelta(hours=3)),
         "description": "Kassym-Jomart Tokayev and Vladimir Putin discussed gas transit to Uzbekistan and a "
                        "power plant in Kokshetau by phone, the Kremlin said."},
    ]))
    feed_server.routes["/old.xml"] = Route(rss([
        {"title": "Tokayev attends Victory Day parade in Moscow", "link": "https://old.example.org/parade",
         "guid": "o1", "pubDate": _rfc822(now - timedelta(days=366)),
         "description": "Kazakh President Kassym-Jomart Tokayev watched the May 9 Victory Day parade on Red "
                        "Square in Moscow with Vladimir Putin and leaders of Central Asia."},
    ]))
    project.write_config([{"name": "Archive", "url": feed_server.url("/old.xml")}], translation={"enabled": False})
    project.cli("run", "--once")  # last year's parade is stored first
    project.write_config([{"name": "Archive", "url": feed_server.url("/old.xml")},
                          {"name": "Kazakh desk", "url": feed_server.url("/k.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    items = {i["link"]: i for i in project.items()}
    parade, call = items["https://k.example.org/parade"], items["https://k.example.org/call"]
    old = items["https://old.example.org/parade"]
    assert len({parade["story_id"], call["story_id"], old["story_id"]}) == 3, (parade, call, old)
    assert parade["duplicate_of"] is None and call["duplicate_of"] is None
    # this year's parade is news although last year's report reads almost the same
    md = project.digests("victory-day-parade")[-1].read_text(encoding="utf-8")
    assert any("Tokayev attends Victory Day parade" in e for e in _entries(md))
