"""OPML import/export: real readers' export formats, folders -> tags, duplicates, round trip, 20 feeds e2e."""

from __future__ import annotations

import contextlib
import difflib
import email.utils
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from defusedxml import ElementTree as DefusedET

from monitor import MonitorError
from monitor.cli import main
from monitor.config import load_config
from monitor.config.opml import NM_NS, read_opml, url_key, write_opml
from tests.support.feedserver import Route, rss

DATA = Path(__file__).parent / "data" / "opml"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(project, *args: str) -> Result:
    """The real CLI entry point, in this process (``run`` still goes through a subprocess)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--config", str(project.config), *args])
    if rc != 0:
        raise AssertionError(f"monitor {' '.join(args)} exited {rc}\n{out.getvalue()}\n{err.getvalue()}")
    return Result(rc, out.getvalue(), err.getvalue())


def _only_insertions(before: str, after: str) -> bool:
    sm = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in sm.get_opcodes())


@pytest.mark.parametrize("name, feeds, duplicates", [
    ("feedly.opml", 6, 1),  # Eurasianet sits in two folders
    ("inoreader.opml", 20, 1),  # Interfax sits in two folders
    ("miniflux.opml", 4, 0),
    ("netnewswire.opml", 4, 0),
    ("thunderbird.opml", 5, 0),
])
def test_reader_exports_parse(name: str, feeds: int, duplicates: int) -> None:
    doc = read_opml((DATA / name).read_bytes())
    assert len(doc.feeds) == feeds
    assert len(doc.duplicates) == duplicates
    assert all(f.url.startswith(("http://", "https://")) for f in doc.feeds)
    assert all(f.title for f in doc.feeds)
    assert len({url_key(f.url) for f in doc.feeds}) == feeds


def test_nested_folders_become_tags() -> None:
    doc = read_opml((DATA / "thunderbird.opml").read_bytes())
    by_title = {f.title: f for f in doc.feeds}
    assert by_title["Kun.uz"].tags == ("News & Blogs", "Regional", "Central Asia")
    assert by_title["OC Media"].tags == ("News & Blogs", "Regional", "Caucasus")
    assert by_title["Meduza"].tags == ("News & Blogs",)
    # feed:// is the old "subscribe" pseudo-scheme for http://
    assert by_title["Podcast feed list"].url == "http://example.org/podcasts.xml"
    nnw = {f.title: f.tags for f in read_opml((DATA / "netnewswire.opml").read_bytes()).feeds}
    assert nnw["Eurasianet"] == () and nnw["JAMnews"] == ("Caucasus",)


def test_feed_in_two_folders_is_kept_once_with_both_tags() -> None:
    doc = read_opml((DATA / "feedly.opml").read_bytes())
    eurasianet = [f for f in doc.feeds if "eurasianet" in f.url]
    assert len(eurasianet) == 1 and set(eurasianet[0].tags) == {"Central Asia", "Russia"}
    assert doc.duplicates[0].url == "https://eurasianet.org/rss.xml"


def test_invalid_outlines_and_non_opml_are_reported() -> None:
    doc = read_opml(b"""<?xml version="1.0"?><opml version="2.0"><head><title>t</title></head><body>
        <outline type="rss" text="ok" xmlUrl="https://ok.example/rss"/>
        <outline type="rss" text="script" xmlUrl="javascript:alert(1)"/>
        <outline type="rss" text="relative" xmlUrl="/feed"/>
        <outline type="link" text="other list" url="https://example.org/more.opml"/>
        </body></opml>""")
    assert [f.url for f in doc.feeds] == ["https://ok.example/rss"]
    assert {s.title for s in doc.invalid} == {"script", "relative", "other list"}
    with pytest.raises(MonitorError, match="not an OPML"):
        read_opml(b"<html><body><p>hello</p></body></html>")
    with pytest.raises(MonitorError, match="entities"):
        read_opml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml version="2.0"><body/></opml>')


def test_import_into_shipped_config_keeps_comments_and_skips_duplicates(project) -> None:
    shutil.copyfile(ROOT / "config.yaml", project.config)
    before = project.config.read_text(encoding="utf-8")
    n_before = len(load_config(project.config, check_dirs=False).feeds)
    out = cli(project, "feeds", "import", str(DATA / "feedly.opml")).stdout
    after = project.config.read_text(encoding="utf-8")
    assert _only_insertions(before, after), "".join(difflib.unified_diff(
        before.splitlines(True), after.splitlines(True)))
    # Eurasianet (twice), The Moscow Times, Meduza (English), OC Media, 24.kg and Tengrinews are shipped
    assert out.count("skipped duplicate") == 7
    assert "already in the config (line " in out
    cfg = load_config(project.config, check_dirs=False)
    assert len(cfg.feeds) == n_before  # nothing new in that file
    out = cli(project, "feeds", "import", str(DATA / "miniflux.opml")).stdout
    assert "added 1 feed(s)" in out and "skipped 3 duplicate(s)" in out
    cfg = load_config(project.config, check_dirs=False)
    vlast = [f for f in cfg.feeds if f.url == "https://vlast.kz/rss/"][0]
    assert vlast.name == "Vlast.kz" and vlast.tags == ("Kazakhstan",)
    after2 = project.config.read_text(encoding="utf-8")
    assert _only_insertions(after, after2)
    assert "# Russian-language outlets (Russia and Central Asia)" in after2


def test_dry_run_changes_nothing_and_names_stay_unique(project) -> None:
    project.write_config([{"name": "Meduza", "url": "https://meduza.io/rss/en/all"}])
    before = project.config.read_text(encoding="utf-8")
    out = cli(project, "feeds", "import", "--dry-run", str(DATA / "inoreader.opml")).stdout
    assert "would add 20 feed(s)" in out
    assert project.config.read_text(encoding="utf-8") == before
    cli(project, "feeds", "import", "--tag", "imported", str(DATA / "inoreader.opml"))
    cfg = load_config(project.config, check_dirs=False)
    names = [f.name for f in cfg.feeds]
    assert len(names) == len(set(names)) == 21
    assert "Meduza (meduza.io)" in names  # the Russian Meduza feed, renamed next to the English one
    assert all("imported" in f.tags for f in cfg.feeds[1:])


def test_round_trip_import_export_import(project, tmp_path: Path) -> None:
    project.write_config([])
    cli(project, "feeds", "import", str(DATA / "inoreader.opml"))
    cli(project, "feeds", "import", str(DATA / "thunderbird.opml"))
    cfg1 = load_config(project.config, check_dirs=False)
    exported = tmp_path / "out.opml"
    cli(project, "feeds", "export", "-o", str(exported))
    # a fresh deployment importing the export gets the same feeds, names and tags
    other = tmp_path / "other"
    other.mkdir()
    cfg_path = other / "config.yaml"
    cfg_path.write_text("# fresh\nfeeds: []\n", encoding="utf-8")
    cli(project, "--config", str(cfg_path), "feeds", "import", str(exported))
    cfg2 = load_config(cfg_path, check_dirs=False)
    key = lambda c: sorted((f.url, f.name, tuple(sorted(f.tags))) for f in c.feeds)  # noqa: E731
    assert key(cfg1) == key(cfg2)
    assert len(cfg2.feeds) == 20 + 5 - 4  # Kun.uz, Asia-Plus, OC Media and Meduza are in both files
    # and the export of the export is the same set
    again = read_opml(cli(project, "--config", str(cfg_path), "feeds", "export").stdout.encode())
    assert {(f.url, f.tags) for f in again.feeds} == {(f.url, f.tags) for f in read_opml(exported.read_bytes()).feeds}


def test_export_is_valid_opml2_and_keeps_our_options(project, tmp_path: Path) -> None:
    project.write_config([
        {"name": "Kun.uz", "url": "https://kun.uz/news/rss", "tags": ["Central Asia", "uz"], "language": "uz",
         "interval": "1h", "fulltext": True},
        {"name": "Paused & quiet", "url": "https://example.org/feed?a=1&b=2", "enabled": False},
    ], defaults={"interval": "30m"})
    text = cli(project, "feeds", "export").stdout
    root = DefusedET.fromstring(text.encode())
    assert root.tag == "opml" and root.get("version") == "2.0"
    head, body = root.find("head"), root.find("body")
    assert head.findtext("title") and email.utils.parsedate_to_datetime(head.findtext("dateCreated"))
    outlines = list(body.iter("outline"))
    assert all(o.get("text") for o in outlines)  # required by OPML 2.0
    feeds = [o for o in outlines if o.get("type") == "rss"]
    assert {o.get("xmlUrl") for o in feeds} == {"https://kun.uz/news/rss", "https://example.org/feed?a=1&b=2"}
    kun = [o for o in feeds if "kun.uz" in o.get("xmlUrl")][0]
    assert kun.get("language") == "uz" and kun.get("category") == "uz"
    assert kun.get(f"{{{NM_NS}}}fulltext") == "true" and kun.get(f"{{{NM_NS}}}interval") == "1h"
    folder = [o for o in body if o.get("text") == "Central Asia"][0]
    assert folder.get("xmlUrl") is None and kun in list(folder)
    # a fresh config importing it gets the options back
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text("feeds: []\n", encoding="utf-8")
    opml = tmp_path / "x.opml"
    opml.write_text(text, encoding="utf-8")
    cli(project, "--config", str(fresh), "feeds", "import", str(opml))
    cfg = load_config(fresh, check_dirs=False)
    by_name = {f.name: f for f in cfg.feeds}
    k = by_name["Kun.uz"]
    assert (k.language, k.interval, k.fulltext, k.tags) == ("uz", 3600.0, True, ("Central Asia", "uz"))
    assert by_name["Paused & quiet"].enabled is False


def test_write_opml_escapes_and_groups() -> None:
    from monitor.config import FeedConfig

    text = write_opml([FeedConfig("https://a.example/rss?x=1&y=<2>", 'A "quoted" <name>', 1800.0, tags=("x",)),
                       FeedConfig("https://b.example/rss", "B", 1800.0, tags=("x",))], default_interval=1800.0)
    doc = read_opml(text.encode())
    assert [(f.url, f.title, f.tags) for f in doc.feeds] == [
        ("https://a.example/rss?x=1&y=<2>", 'A "quoted" <name>', ("x",)), ("https://b.example/rss", "B", ("x",))]
    assert text.count('text="x"') == 1


def test_import_twenty_feeds_and_run_once(project, feed_server) -> None:
    """Done-when of issue 12: an OPML of 20 feeds imports and one cycle polls all of them."""
    src = (DATA / "inoreader.opml").read_text(encoding="utf-8")
    urls = list(dict.fromkeys(re.findall(r'xmlUrl="([^"]+)"', src)))
    assert len(urls) == 20
    for i, url in enumerate(urls):
        path = f"/feeds/{i}.xml"
        feed_server.routes[path] = Route(rss([
            {"title": f"Regional council {i} approves budget for road repairs", "guid": f"f{i}-1",
             "link": f"https://site{i}.example/a1", "description": f"Council number {i} voted on the plan."},
            {"title": f"Harvest festival number {i} draws visitors", "guid": f"f{i}-2",
             "link": f"https://site{i}.example/a2", "description": f"Festival {i} opened on Saturday."},
        ], title=f"Feed {i}", language="en"))
        src = src.replace(f'xmlUrl="{url}"', f'xmlUrl="{feed_server.url(path)}"')
    opml = project.root / "subscriptions.opml"
    opml.write_text(src, encoding="utf-8")
    project.write_config([], translation={"enabled": False})
    out = cli(project, "feeds", "import", str(opml)).stdout
    assert "added 20 feed(s)" in out and "skipped 1 duplicate(s)" in out
    project.cli("run", "--once")
    health = json.loads(cli(project, "feeds", "--json").stdout)
    assert len(health) == 20
    assert all(h["items"] == 2 and not h["consecutive_failures"] for h in health), health
    assert {h["name"] for h in health} >= {"Интерфакс", "Коммерсантъ", "Eurasianet"}
