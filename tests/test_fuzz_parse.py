"""Fuzz the parse stage: arbitrary bytes and mutated real feeds never raise, hang or leak markup."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from monitor.ingest.parse import MAX_SUMMARY, MAX_TITLE, ParsedFeed, parse_feed
from tests.support.feedserver import atom, rss

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
SEEDS = [
    rss([{"title": "Токаев прибыл в Москву", "link": "https://e.org/1", "guid": "1",
          "description": "<p>Парад <b>Победы</b></p>", "pubDate": "Sat, 09 May 2026 10:00:00 GMT"},
         {"title": "Wheat & weather", "link": "/rel", "guid": "2"}], language="ru"),
    atom([{"title": "Japarov in Bishkek", "link": "https://e.org/a", "summary": "<script>x()</script>text"}], lang="ky"),
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaa">]><rss version="2.0"><channel><title>&a;</title>'
    b"</channel></rss>",
]
FAST = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _invariants(r: ParsedFeed) -> None:
    assert isinstance(r, ParsedFeed)
    assert (r.error is None) or not r.entries
    guids = [e.guid for e in r.entries]
    assert len(guids) == len(set(guids))
    for e in r.entries:
        assert e.guid and e.title
        assert len(e.title) <= MAX_TITLE and len(e.summary) <= MAX_SUMMARY
        for text in (e.title, e.summary, e.author or ""):
            assert not any(c in text for c in "\x00\r\n\x0b\x0c\x1b\u202e")
            assert "<script" not in text.lower()
        assert e.link is None or e.link.startswith(("http://", "https://"))
        assert e.published is None or (e.published.tzinfo is not None and e.published <= NOW + timedelta(days=1))


@FAST
@given(st.binary(max_size=4096), st.sampled_from([None, "text/xml", "application/rss+xml; charset=koi8-r",
                                                  "text/html; charset=utf-16", "charset=bogus"]))
def test_arbitrary_bytes(body: bytes, ctype: str | None) -> None:
    _invariants(parse_feed(body, ctype, "https://example.org/feed", now=NOW))


@FAST
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 40), st.binary(max_size=40)),
                                        max_size=6))
def test_mutated_feeds(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    body = bytearray(seed)
    for pos, cut, insert in edits:
        pos %= max(len(body), 1)
        body[pos:pos + cut] = insert
    _invariants(parse_feed(bytes(body), None, "https://example.org/feed", now=NOW))


@FAST
@given(st.text(max_size=300), st.text(max_size=300), st.text(max_size=80))
def test_hostile_field_text(title: str, summary: str, link: str) -> None:
    """Any text (control characters, markup, bidi overrides, surrogates dropped) in title, summary and link."""
    title, summary, link = (t.encode("utf-8", "ignore").decode("utf-8") for t in (title, summary, link))
    doc = rss([{"title": title, "description": summary, "link": link, "guid": "g"}])
    _invariants(parse_feed(doc, None, "https://example.org/", now=NOW))
