"""Digest renderers: Markdown, plain text, HTML, Atom and webhook JSON."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from ruamel.yaml import YAML

from monitor.delivery.digest import Digest, DigestStory, FeedNote, StorySource, SuppressedEntry
from monitor.delivery.render import (
    clean_line,
    md_escape,
    render_atom,
    render_html,
    render_markdown,
    render_text,
    render_webhook,
    safe_url,
)

UTC = timezone.utc
ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = 'Breaking <script>alert("x")</script> [click](javascript:alert(1)) *bold* <img src=x onerror=alert(2)>'


def story(item_id: int, title: str, score: float, **kw: object) -> DigestStory:
    base = dict(
        anchor=f"item-{item_id}", item_id=item_id, title=title, original_title=None, language="en",
        translation_status="not_needed", summary=f"Summary of {title}.", link=f"https://news.example/{item_id}",
        feed="Example News", published=datetime(2024, 5, 9, 7, 30, tzinfo=UTC), score=score,
        why=['"parade" in title'],
    )
    base.update(kw)
    return DigestStory(**base)  # type: ignore[arg-type]


def sample_digest() -> Digest:
    return Digest(
        watchlist="victory-day",
        title="Victory Day",
        timezone="Europe/Moscow",
        period_start=datetime(2024, 5, 8, 21, 0, tzinfo=UTC),
        period_end=datetime(2024, 5, 9, 21, 0, tzinfo=UTC),
        generated_at=datetime(2024, 5, 9, 21, 5, tzinfo=UTC),
        stories=[
            story(7, "Veterans gather in Volgograd", 0.55),
            story(42, "Parade held on Red Square", 0.91, original_title="Парад прошёл на Красной площади",
                  language="ru", translation_status="translated", feed="TASS",
                  also_reported_by=[StorySource("RIA Novosti", "Парад на Красной площади",
                                                "https://ria.example/1", "ru", None),
                                    StorySource("Sketchy", "Parade", "javascript:alert(1)", "en", None)]),
            story(9, "Ein Feuerwerk in Berlin", 0.70, original_title=None, language="de",
                  translation_status="unavailable: no de→en model installed", feed="Spiegel"),
        ],
        suppressed=[SuppressedEntry("Parade held", "RT", "https://rt.example/5",
                                    "duplicate of seed 000_71e0985426784b8e.txt (similarity 0.82)")],
        feed_notes=[FeedNote("Interfax", "failing for 3 polls: HTTP 503"),
                    FeedNote("Kommersant", "quiet: no item for 5 days")],
    )


def hostile_digest() -> Digest:
    d = sample_digest()
    d.stories[0] = replace(d.stories[0], title=HOSTILE_TITLE + "\r\nInjected: yes\x00\x1b[31m",
                           summary="<b>bold</b> <script>steal()</script> text & more <a href='javascript:x'>x</a>",
                           link="javascript:alert(document.cookie)")
    d.stories[1] = replace(d.stories[1], link="https://ok.example/a?b=1&c=<2>\"")
    return d


def front_matter(md: str) -> dict[str, object]:
    assert md.startswith("---\n")
    end = md.index("\n---\n", 4)
    return YAML(typ="safe", pure=True).load(io.StringIO(md[4:end]))


# --- helpers -----------------------------------------------------------------


def test_safe_url_accepts_only_http_and_https() -> None:
    assert safe_url("https://a.example/x?y=1") == "https://a.example/x?y=1"
    assert safe_url("HTTP://a.example/") == "HTTP://a.example/"
    for bad in ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
                "//a.example/", "https://", "file:///etc/passwd", "https://a.example/\nx", "", None,
                " javascript:alert(1)", "vbscript:x"]:
        assert safe_url(bad) is None, bad


def test_clean_line_removes_controls_and_separators() -> None:
    assert clean_line("a\r\nb\x00c\u2028d\u202ee\tf\x85g") == "a b c de f g"
    assert clean_line("ab\u200bc\ufeff\ud800\U000e0041") == "abc"  # zero-width, BOM, surrogate, tag
    assert clean_line("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f4bb") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f469\u200d\U0001f4bb")  # ZWNJ/ZWJ kept


def test_md_escape_defuses_markdown_syntax() -> None:
    assert md_escape("*x* [a](b) <i>") == r"\*x\* \[a\](b) \<i\>"


# --- Markdown ----------------------------------------------------------------


def test_markdown_front_matter_order_anchors_and_sections() -> None:
    md = render_markdown(sample_digest())
    meta = front_matter(md)
    assert meta["watchlist"] == "victory-day"
    assert meta["count"] == 3 and meta["suppressed"] == 1
    assert str(meta["period_start"]).startswith("2024-05-08 21:00") or meta["period_start"] == datetime(
        2024, 5, 8, 21, 0, tzinfo=UTC)
    # stories by score, each with a stable anchor
    pos = [md.index(f'<a id="item-{i}"></a>') for i in (42, 9, 7)]
    assert pos == sorted(pos)
    assert "## 1. Parade held on Red Square" in md
    assert "*Original (ru):* Парад прошёл на Красной площади" in md
    assert "*Untranslated (de): no de→en model installed*" in md
    # times are shown in the watchlist's timezone (Moscow, UTC+3)
    assert "2024-05-09 10:30 MSK" in md
    assert "2024-05-09 00:00 MSK – 2024-05-10 00:00 MSK" in md
    assert "[RIA Novosti](https://ria.example/1) (ru)" in md
    assert "Sketchy (en)" in md and "javascript" not in md
    assert "<summary>Suppressed: 1 item and why</summary>" in md
    assert "duplicate of seed 000\\_71e0985426784b8e.txt (similarity 0.82)" in md
    assert "- Interfax: failing for 3 polls: HTTP 503" in md
    assert "- Kommersant: quiet: no item for 5 days" in md


def test_markdown_is_stable_across_renders() -> None:
    assert render_markdown(sample_digest()) == render_markdown(sample_digest())


def test_markdown_empty_digest_is_an_explicit_heartbeat() -> None:
    d = sample_digest()
    d.stories.clear()
    md = render_markdown(d)
    assert front_matter(md)["count"] == 0
    assert "Nothing matched in this period." in md


def test_markdown_hostile_titles_render_as_text() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    md = render_markdown(hostile_digest())
    html = markdown_it.MarkdownIt("commonmark").render(md)
    # parse the rendered HTML: no script element, no javascript: link, no event handlers
    tags = collect_tags(html)
    assert "script" not in {t for t, _ in tags}
    assert "img" not in {t for t, _ in tags}
    for _tag, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on")
            assert "javascript:" not in (value or "").lower()
    assert "Injected: yes" in md and "\nInjected" not in md
    assert "\x1b" not in md and "\x00" not in md


# --- plain text --------------------------------------------------------------


def test_text_has_all_parts() -> None:
    text = render_text(sample_digest())
    assert text.splitlines()[0] == "Victory Day"
    assert "3 stories, 1 suppressed, 2 feed notes" in text
    assert text.index("1. Parade held on Red Square") < text.index("2. Ein Feuerwerk") < text.index("3. Veterans")
    assert "Link:   https://news.example/42" in text
    assert "Also reported by: RIA Novosti (ru), Sketchy (en)" in text
    assert "Suppressed (1)" in text and "Interfax: failing" in text
    assert "javascript" not in text


# --- HTML --------------------------------------------------------------------


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def collect_tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    c = _Collector()
    c.feed(html)
    return c.tags


def html_text(html: str) -> str:
    c = _Collector()
    c.feed(html)
    return " ".join(" ".join(c.text).split())


def test_html_is_mail_friendly_and_complete() -> None:
    html = render_html(sample_digest())
    tags = collect_tags(html)
    names = {t for t, _ in tags}
    assert {"table", "tr", "td"} <= names
    assert not names & {"script", "style", "link", "img", "iframe", "object", "form"}
    assert html.count('id="item-') == 3
    text = html_text(html)
    assert "Parade held on Red Square" in text and "Парад прошёл на Красной площади" in text
    assert "Untranslated (de): no de→en model installed" in text
    assert "Also reported by: RIA Novosti (ru), Sketchy (en)" in text
    assert "Suppressed (1) and why" in text and "Interfax: failing for 3 polls: HTTP 503" in text
    hrefs = [v for _, attrs in tags for k, v in attrs if k == "href"]
    assert "https://news.example/42" in hrefs and "https://ria.example/1" in hrefs
    assert all(h and h.startswith("https://") for h in hrefs)


def test_html_neutralises_hostile_content() -> None:
    html = render_html(hostile_digest())
    tags = collect_tags(html)
    assert not {t for t, _ in tags} & {"script", "img", "b", "iframe"}
    for _, attrs in tags:
        for name, value in attrs:
            assert not name.startswith("on"), name
            if name in ("href", "src"):
                assert value and value.startswith(("http://", "https://")), value
    assert "steal()" not in html  # script content is dropped by nh3, not merely escaped
    text = html_text(html)
    assert "bold text & more x" in text
    assert "Breaking" in text and "Injected: yes" in text
    # the hostile link is not linked at all; the odd-but-http link is attribute-escaped intact
    assert ("href", "https://ok.example/a?b=1&c=<2>\"") in [a for _, attrs in tags for a in attrs]


# --- Atom --------------------------------------------------------------------


def test_atom_feed_parses_and_has_stable_ids() -> None:
    d1 = sample_digest()
    d2 = replace(sample_digest(), period_start=d1.period_end, period_end=d1.period_end + timedelta(days=1),
                 generated_at=d1.generated_at + timedelta(days=1))
    xml = render_atom("victory-day", "Victory Day", [d1, d2], feed_url="https://monitor.example/victory-day.atom")
    parsed = feedparser.parse(xml)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Victory Day"
    assert len(parsed.entries) == 2
    assert parsed.entries[0].updated_parsed > parsed.entries[1].updated_parsed  # newest first
    assert "Parade held on Red Square" in parsed.entries[0].content[0].value
    assert parsed.entries[0].content[0].type == "text/html"
    again = feedparser.parse(render_atom("victory-day", "Victory Day", [d2, d1]))
    assert [e.id for e in again.entries] == [e.id for e in parsed.entries]
    assert len({e.id for e in parsed.entries}) == 2

    root = ET.fromstring(xml.encode("utf-8"))
    assert root.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{tag}") is not None, tag
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None and self_link.get("href") == "https://monitor.example/victory-day.atom"
    for entry in root.findall(f"{ATOM}entry"):
        for tag in ("id", "title", "updated", "content"):
            assert entry.find(f"{ATOM}{tag}") is not None, tag
        assert entry.findtext(f"{ATOM}id", "").startswith("urn:uuid:")


def test_atom_with_hostile_content_is_well_formed_xml() -> None:
    xml = render_atom("victory-day", "Victory \x0b Day <&>", [hostile_digest()])
    root = ET.fromstring(xml.encode("utf-8"))  # raises on control characters or broken escaping
    assert root.findtext(f"{ATOM}title") == "Victory Day <&>"
    content = root.find(f"{ATOM}entry/{ATOM}content")
    assert content is not None and content.text is not None
    tags = collect_tags(content.text)
    assert "script" not in {t for t, _ in tags}
    assert all(v and v.startswith("https://") for _, attrs in tags for k, v in attrs if k == "href")


def test_atom_empty_feed_is_valid() -> None:
    parsed = feedparser.parse(render_atom("quiet", "Quiet list", []))
    assert not parsed.bozo and parsed.version == "atom10" and parsed.entries == []


# --- webhook -----------------------------------------------------------------


def test_webhook_payload_is_json_and_complete() -> None:
    payload = render_webhook(sample_digest())
    decoded = json.loads(json.dumps(payload))
    assert decoded["watchlist"] == "victory-day"
    assert decoded["period"] == {"start": "2024-05-08T21:00:00Z", "end": "2024-05-09T21:00:00Z",
                                 "timezone": "Europe/Moscow"}
    assert [s["item_id"] for s in decoded["stories"]] == [42, 9, 7]
    top = decoded["stories"][0]
    assert top["title"] == "Parade held on Red Square"
    assert top["original_title"] == "Парад прошёл на Красной площади"
    assert top["link"] == "https://news.example/42" and top["feed"] == "TASS"
    assert top["score"] == 0.91 and top["why"] == ['"parade" in title']
    assert top["also_reported_by"][0] == {"feed": "RIA Novosti", "title": "Парад на Красной площади",
                                          "link": "https://ria.example/1", "language": "ru"}
    assert top["also_reported_by"][1]["link"] is None
    assert decoded["text"].startswith("Victory Day: 3 stories")


def test_webhook_drops_unsafe_links_and_controls() -> None:
    payload = render_webhook(hostile_digest())
    first = payload["stories"][1] if payload["stories"][0]["item_id"] == 42 else payload["stories"][0]
    hostile = next(s for s in payload["stories"] if s["item_id"] == 7)
    assert hostile["link"] is None
    assert "\r" not in hostile["title"] and "\n" not in hostile["title"] and "\x00" not in hostile["title"]
    assert first["title"]


# --- screenshot in headless Chromium (documented check; skipped without chromium) ---------------


def test_html_digest_screenshots_in_headless_chromium(tmp_path: Path) -> None:
    import tools.screenshot_digest as shot

    if shot.find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    page = tmp_path / "digest.html"
    page.write_text(render_html(hostile_digest()), encoding="utf-8")
    out = shot.screenshot(page, tmp_path / "digest.png", width=640, height=800)
    assert shot.png_size(out) == (640, 800)
    assert out.stat().st_size > 20_000  # a rendered page, not a blank image


def test_markdown_links_with_parentheses_stay_intact() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    d = sample_digest()
    d.stories[0] = replace(d.stories[0], link="https://en.example/wiki/Parade_(military)")
    html = markdown_it.MarkdownIt("commonmark").render(render_markdown(d))
    hrefs = [v for _, attrs in collect_tags(html) for k, v in attrs if k == "href"]
    assert "https://en.example/wiki/Parade_(military)" in hrefs
    assert "https://rt.example/5" in hrefs  # suppressed titles link to the item


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402

_PIECES = st.sampled_from(["<script>", "</script>", "<a href='javascript:x'>", "javascript:", "&", "&amp;", "]]>",
                           "\x00", "\x0b", "\r\n", "\u2028", "\ud800", "\ufffe", "*", "[", "](", "<!--", "\""])
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=15)), max_size=20).map("".join)


@hsettings(max_examples=60, deadline=None)
@given(title=_TEXT, summary=_TEXT, feed=_TEXT)
def test_any_text_gives_well_formed_atom_and_inert_html(title: str, summary: str, feed: str) -> None:
    d = sample_digest()
    d.stories[0] = replace(d.stories[0], title=title, summary=summary, feed=feed)
    root = ET.fromstring(render_atom("w", feed, [d]).encode("utf-8"))
    content = root.findtext(f"{ATOM}entry/{ATOM}content") or ""
    for html in (content, render_html(d)):
        for tag, attrs in collect_tags(html):
            assert tag != "script"
            for name, value in attrs:
                assert not name.startswith("on")
                if name == "href":
                    assert value and value.startswith("https://")
    render_markdown(d).encode("utf-8")  # no lone surrogates survive
    json.dumps(render_webhook(d), ensure_ascii=False).encode("utf-8")


def test_huge_titles_are_shortened_in_every_format() -> None:
    d = sample_digest()
    d.stories[1] = replace(d.stories[1], title="word " * 2000)
    for out in (render_markdown(d), render_text(d), render_html(d), json.dumps(render_webhook(d), ensure_ascii=False)):
        assert "word " * 70 not in out and "word word word…" in out


def test_plain_text_why_lines_are_wrapped_with_a_hanging_indent() -> None:
    long_why = [f'"term number {n}" in title (original), summary (translation)' for n in range(6)]
    d = replace(sample_digest(), stories=[story(1, "Parade", 7.5, why=long_why)])
    text = render_text(d)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("   Why:    "))
    why = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("           "):
            break
        why.append(line)
    assert len(why) > 2 and all(len(line) <= 76 for line in why)
    assert why[-1].endswith("(score 7.50)")


def test_a_test_mail_says_so_in_every_format() -> None:
    d = replace(sample_digest(), title="TEST: Victory Day", note="This is a test mail; nothing was marked.")
    assert "TEST MAIL. This is a test mail" in render_text(d)
    assert "> **Test mail.** This is a test mail" in render_markdown(d)
    assert "<strong>Test mail.</strong> This is a test mail" in render_html(d)
    assert "Test mail" not in render_text(sample_digest())


def test_atom_has_a_self_link_and_entries_link_their_stories(tmp_path: Path) -> None:
    from monitor.delivery.render import atom_self_url

    path = tmp_path / "victory-day" / "digests.atom"
    doc = render_atom("victory-day", "Victory Day", [sample_digest()], feed_url=atom_self_url(None, "victory-day", path))
    root = ET.fromstring(doc)
    [self_link] = [x for x in root.findall(f"{ATOM}link") if x.get("rel") == "self"]
    assert self_link.get("href") == path.resolve().as_uri()
    entry = root.find(f"{ATOM}entry")
    rels = [(x.get("rel"), x.get("href")) for x in entry.findall(f"{ATOM}link")]
    assert rels[0] == ("alternate", "https://news.example/42")  # the top story
    assert ("related", "https://news.example/7") in rels
    served = atom_self_url("https://desk.example.org/digests/", "victory-day", path)
    assert served == "https://desk.example.org/digests/victory-day/digests.atom"
    assert feedparser.parse(render_atom("victory-day", "V", [sample_digest()], feed_url=served)).feed.links
