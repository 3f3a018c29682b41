"""Digest selection from a real SQLite store: feed-health footer."""

from __future__ import annotations

import time
from pathlib import Path

from monitor.delivery.digest import feed_notes
from monitor.store import FeedUpdate, NewItem, open_store


def test_footer_lists_failing_disabled_and_quiet_feeds(tmp_path: Path) -> None:
    st = open_store(tmp_path / "m.db")
    ids = st.feeds.sync([("https://a.example/rss", "Failing"), ("https://b.example/rss", "Gone"),
                         ("https://c.example/rss", "Quiet"), ("https://d.example/rss", "Healthy")])
    now = time.time()
    st.feeds.record_fetch(ids["https://a.example/rss"], FeedUpdate(dict(consecutive_failures=3, last_error="HTTP 503")))
    st.feeds.record_fetch(ids["https://b.example/rss"], FeedUpdate(dict(disabled_reason="HTTP 410 Gone 3 times in a row")))
    # Quiet: 30 items over 3 days, then nothing for 6 days. Healthy: same rate, last item an hour ago.
    for url, last in (("https://c.example/rss", now - 6 * 86400), ("https://d.example/rss", now - 3600)):
        fid = ids[url]
        st.feeds.record_fetch(fid, FeedUpdate(dict(items_total=30, last_new_item=last)))
        with st.transaction():
            first = st.items.reserve_ids(1)
            st.items.apply([NewItem(id=first, feed_id=fid, guid=f"g{fid}", link=None, canonical_url=None, title="t",
                                    summary="s", author=None, published=None, fetched=last - 3 * 86400, language=None,
                                    language_confidence=None, language_script=None, language_uncertain=False,
                                    content_hash="")])
    notes = {n.feed: n.problem for n in feed_notes(st, now)}
    assert notes["Failing"].startswith("failing for 3 polls: HTTP 503")
    assert notes["Gone"].startswith("disabled: HTTP 410")
    assert notes["Quiet"].startswith("quiet: no new item for 6.0 days")
    assert "Healthy" not in notes


def test_why_lines_name_the_matched_words_not_the_alias():
    from monitor.delivery.digest import readable_why

    assert readable_why('"victory_day" in title, summary ("Victory Day")') == '"Victory Day" in title, summary'
    assert readable_why('"central_asia" in title (original), summary (translation) ("Центральной Азии", '
                        '"Central Asia")') == \
        '"Центральной Азии", "Central Asia" in title (original), summary (translation)'
    assert readable_why('"parade" in title') == '"parade" in title'  # the word itself matched
    assert readable_why("story already sent; first report in ru") == "story already sent; first report in ru"


def test_digest_links_drop_tracking_parameters_only():
    from monitor.analysis.dedup import without_tracking

    assert without_tracking("http://www.x.org/a?utm_source=rss&id=7&fbclid=1#p") == "http://www.x.org/a?id=7#p"
    assert without_tracking("https://x.org/a?id=7") == "https://x.org/a?id=7"
    assert without_tracking(None) is None
