"""The parse stage's shortcuts give what the long way gives: scrub, clean_text, _http_link."""

from __future__ import annotations

import html
import random
import re
from urllib.parse import urljoin, urlsplit

import nh3

from monitor.analysis.text import shorten
from monitor.ingest.parse import _PLAIN_HTTP_URL, _http_link, clean_text
from monitor.ingest.scrub import _TO_DROP, _TO_SPACE, has_bad_char, scrub

_POOL = ("ab cd\tE\nF\r\x00\x1b\x7f\x85\x9b\xa0\u00ad\u1680\u180e\u2000\u200b\u200c\u200d\u2028\u2029\u202e"
         "\u3000\ufeff\ufdd0\uffff\U000e0001\U0001f600жқ<p>&amp;&lt;b&gt;</p>&#8203;")


def test_printable_text_has_nothing_to_scrub() -> None:
    """Every code point str.isprintable() accepts is one neither scrub pattern matches."""
    for cp in range(0x110000):
        ch = chr(cp)
        if ch.isprintable():
            assert not _TO_SPACE.search(ch) and not _TO_DROP.search(ch), hex(cp)
            assert scrub(ch) == ch and not has_bad_char(ch)


def _clean_text_long_way(value: str, limit: int) -> str:
    if not value:
        return ""
    value = value[: limit * 4 + 1000]
    if "<" in value or "&" in value:
        value = html.unescape(nh3.clean(value, tags=set(), clean_content_tags={"script", "style"}))
        if "<" in value and re.search(r"<[a-zA-Z/!]", value):
            value = html.unescape(nh3.clean(value, tags=set(), clean_content_tags={"script", "style"}))
    value = _TO_DROP.sub("", _TO_SPACE.sub(" ", value))
    value = re.sub(r"\s+", " ", value).strip()
    return shorten(value, limit, at="char")


def test_clean_text_equals_the_long_way_on_hostile_text() -> None:
    rng = random.Random(41)
    for _ in range(5000):
        value = "".join(rng.choice(_POOL) for _ in range(rng.randint(0, 60)))
        limit = rng.choice((500, 40, 5, 1))
        assert clean_text(value, limit) == _clean_text_long_way(value, limit), repr(value)


def test_plain_links_are_what_urljoin_and_urlsplit_keep() -> None:
    rng = random.Random(43)
    path_chars = "abcXYZ019._~!$&()*+,=:@%/-"
    bases = ["https://e.org/feed", "http://127.0.0.1:9/f1.xml", "ftp://x/", "//cdn/x", "mailto:a@b",
             "https://e.org/a/b/?q#f", "https://E.ORG", None]
    checked = 0
    for _ in range(20000):
        url = rng.choice(("http://", "https://")) + "".join(rng.choice("abz09.-") for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.3:
            url += ":" + str(rng.randint(0, 99999))
        for part, chars in (("/", path_chars), ("?", path_chars + "?"), ("#", path_chars + "?#")):
            if rng.random() < 0.6:
                url += part + "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
        if not _PLAIN_HTTP_URL.fullmatch(url):
            continue
        checked += 1
        for base in bases:
            joined = urljoin(base, url) if base else url
            parts = urlsplit(joined)
            assert joined == url and parts.scheme in ("http", "https") and parts.netloc, (url, base)
            assert _http_link(url, base) == url[:2000]
    assert checked > 5000


def test_links_off_the_plain_path_still_take_the_long_way() -> None:
    assert _http_link("HTTPS://E.ORG/a", "https://x.org/") == "https://E.ORG/a"
    assert _http_link("/rel/x", "https://e.org/feed") == "https://e.org/rel/x"
    assert _http_link("https://e.org/p?", "https://e.org/") == "https://e.org/p"
    assert _http_link("https://e.org/a", "http://[::1/") is None  # a base urljoin cannot parse
    assert _http_link("https://e.org/a b", None) is None
    assert _http_link("javascript:alert(1)", "https://e.org/") is None


def test_regex_whitespace_is_str_whitespace() -> None:
    """``" ".join(s.split())`` may stand for ``re.sub(r"\\s+", " ", s).strip()``: the same characters."""
    space = re.compile(r"\s")
    for cp in range(0x110000):
        ch = chr(cp)
        assert bool(space.fullmatch(ch)) == ch.isspace(), hex(cp)
