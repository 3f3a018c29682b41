"""Same answers as before: language decisions and parsed feeds on a fixed, generated corpus.

The corpus is rebuilt from the repository alone (``bench/data/lang_eval``, the feed generator of
``bench/feedgen.py`` with fixed seeds, the test suite's feed builders, and deterministic random
mutations), so a checkout of any commit can record it and any later one can compare:

- language: ~60,000 calls of ``detect_text`` / ``detect_item`` (headlines and summaries of the
  evaluation set and variants of them: prefixes, case, markup, entities, mixed languages,
  declared and overriding feed languages; 12,000 generated feed items as title + summary, title
  alone and summary alone; random strings over many scripts). Each answer is the whole
  ``LanguageResult`` (language, confidence, script, uncertain).
- parse: ``parse_feed`` on 240 generated feeds (12,000 entries), mutated and random bodies, and
  ``clean_text`` / ``_http_link`` on hostile strings; each answer is the whole ``ParsedFeed``.

``--record`` writes the answers of the current code to tests/data/language_decisions.json (a
digest of every answer, the full answer of every 10th language case, a digest per feed body);
without it the current code is compared with that file and one JSON object is printed
(exit status 1 on any difference). tests/test_identical.py checks a sample of it.

    .venv/bin/python -m bench.identical            # compare (about a minute)
    .venv/bin/python -m bench.identical --record   # only on the commit that defines "before"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.feedgen import load_corpus, render_feed  # noqa: E402

STORE = ROOT / "tests" / "data" / "language_decisions.json"
DATA = ROOT / "bench" / "data" / "lang_eval"
NOW = datetime(2024, 5, 10, 12, 0, tzinfo=timezone.utc)
N_FEEDS = 240
ITEMS = 50
SAMPLE_EVERY = 10
DECLARED = ("ru", "kk", "en", "uz", "tr", "ky")

# Characters for random strings: letters of every script the stage knows, digits, punctuation,
# markup, controls, format characters, spaces of several kinds, surrogates, emoji.
_POOL = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZçğıöşüəİĞŞƏʻ'`’"
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    "әғқңөұүһіїєґўӣӯҷҳјљњћђџѓќѕ"
    "աբգդեզէըթժիլխծկհձղճմյնշոչպջռսվտրցւփքօֆ"
    "აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ"
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年"
    "あいうえおかきくけこアイウエオカキクケコ한국어조선말"
    "ابتثجحخدذرسشصضطظعغفقكلمنهويپچژگکیةى"
    "αβγδεζηθικλμνξοπρστυφχψωשלוםनमस्तेสวัสดี"
    "0123456789 .,;:!?-–—()[]«»\"“”„<>&#/=@%"
    "\t\n\r\x00\x01\x1b\x7f\x85\x9b\xa0\u00ad\u1680\u180e\u2000\u2009\u200b\u200c\u200d\u200e"
    "\u2028\u2029\u202a\u202e\u2066\u2069\u3000\ufeff\ufdd0\ufffe\uffff\ud800\udc80"
    "\U0001f600\U0001f1f7\U0001f1fa\U000e0001\U000e0041\U0001d173\U00010000"
)
_MARKUP = ("<p>", "</p>", "<b>", "</b>", "<br/>", "<script>x()</script>", "<style>p{}</style>", "&amp;", "&lt;b&gt;",
           "&#1179;", "&#8203;", "&nbsp;", "&quot;", "<a href=\"https://e.org/x?a=1&b=2\">", "</a>",
           "https://example.org/news/1", "www.example.kz/a", "user@example.org", "<!-- c -->", "<![CDATA[x]]>")


@dataclass(frozen=True)
class Case:
    kind: str  # "text": detect_text(title); "item": detect_item(title, summary, declared, override)
    title: str
    summary: str = ""
    declared: str | None = None
    override: str | None = None


def _eval_lines() -> list[tuple[str, str]]:
    """(set stem, line) of every headline and summary of the evaluation set, in file order."""
    out: list[tuple[str, str]] = []
    for kind in ("headlines", "summaries"):
        for path in sorted((DATA / kind).glob("*.txt")):
            out += [(path.stem, ln.strip()) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    return out


def _random_text(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    parts: list[str] = []
    while len(parts) < n:
        if rng.random() < 0.08:
            parts.append(rng.choice(_MARKUP))
        else:
            parts.append(rng.choice(_POOL))
    return "".join(parts)


def feed_bodies() -> list[bytes]:
    corpus = load_corpus()
    return [render_feed(i, corpus, items=ITEMS, seed=11) for i in range(N_FEEDS)]


def language_cases(bodies: list[bytes] | None = None) -> list[Case]:
    """The language corpus, always in the same order."""
    from monitor.ingest.parse import parse_feed

    rng = random.Random(17)
    lines = _eval_lines()
    cases: list[Case] = []
    for i, (_stem, t) in enumerate(lines):
        words = t.split()
        other = lines[(i * 7919 + 13) % len(lines)][1]
        pos = rng.randrange(len(t))
        entity = t[:pos] + f"&#{ord(t[pos])};" + t[pos + 1:]
        cases += [Case("text", t), Case("item", t), Case("text", t.lower()), Case("text", t.upper())]
        cases += [Case("text", " ".join(words[:k])) for k in (1, 2, 3, 5)]
        cases += [Case("item", f"<p>{t}</p> <a href='https://x.org/a?b=1'>https://x.org/a</a> mail@x.org", ""),
                  Case("item", entity, ""), Case("item", t, other)]
        cases += [Case("item", t, "", declared=d) for d in DECLARED]
    bodies = bodies if bodies is not None else feed_bodies()
    for n, body in enumerate(bodies):
        for j, e in enumerate(parse_feed(body, "application/rss+xml", f"http://127.0.0.1:9/f{n}.xml", now=NOW).entries):
            cases += [Case("item", e.title, e.summary, e.language_hint), Case("item", e.title, "", e.language_hint),
                      Case("item", "", e.summary)]
            if j == 0:
                cases.append(Case("item", e.title, e.summary, e.language_hint, override=("kk", "uz-Cyrl", "xx")[n % 3]))
    for _ in range(3000):
        cases.append(Case("item" if rng.random() < 0.5 else "text", _random_text(rng, 0, 120),
                          _random_text(rng, 0, 60) if rng.random() < 0.3 else "", rng.choice((None, "ru", "kk", "en"))))
    return cases


def decide(case: Case) -> list[Any]:
    from monitor.analysis.language import detect_item, detect_text

    if case.kind == "text":
        r = detect_text(case.title)
    else:
        r = detect_item(case.title, case.summary, declared=case.declared, override=case.override)
    return [r.language, r.confidence, r.script, r.uncertain]


def _mutations(rng: random.Random, seeds: list[bytes], n: int) -> Iterator[bytes]:
    for _ in range(n):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(0, 6)):
            pos = rng.randrange(max(len(body), 1))
            cut = rng.randint(0, 40)
            insert = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))) if rng.random() < 0.5 else \
                _random_text(rng, 0, 12).encode("utf-8", "surrogatepass")
            body[pos:pos + cut] = insert
        yield bytes(body)


def parse_bodies(bodies: list[bytes] | None = None) -> list[tuple[bytes, str | None, str]]:
    """(body, content type, base URL) of the parse corpus, always in the same order."""
    from tests.support.feedserver import atom, rdf, rss

    rng = random.Random(23)
    bodies = bodies if bodies is not None else feed_bodies()
    out: list[tuple[bytes, str | None, str]] = [(b, "application/rss+xml", f"http://127.0.0.1:9/f{i}.xml")
                                                for i, b in enumerate(bodies)]
    items: list[dict[str, str]] = []
    for _ in range(30):
        items.append({"title": _random_text(rng, 0, 60), "link": rng.choice(
            ("https://e.org/a", "/rel/x", "a b", "javascript:x", "HTTPS://E.ORG/?", "https://e.org/p#", "//cdn.e.org/x",
             "https://e.org/\u202e", "ftp://e.org/x", "https://e.org/a?b=1&c=2", "")),
            "guid": _random_text(rng, 0, 20), "description": _random_text(rng, 0, 300),
            "pubDate": rng.choice(("Sat, 09 May 2026 10:00:00 GMT", "Mon, 01 Jan 1990 00:00:00 GMT", "bogus",
                                   "Fri, 01 Jan 2100 00:00:00 GMT", ""))})
    items = [{k: v.encode("utf-8", "replace").decode("utf-8") for k, v in it.items()} for it in items]  # no surrogates
    seeds = [rss(items[:10], language="ru"), rss(items[10:20], language="kk-KZ"), atom(items[20:], lang="ky"),
             rdf(items[:5]), bodies[0][:6000], bodies[1][:6000]]
    seeds = [s for s in seeds if s]
    out += [(s, None, "https://example.org/feed") for s in seeds]
    ctypes = (None, "text/xml", "application/rss+xml; charset=koi8-r", "text/html; charset=utf-16", "charset=bogus")
    out += [(b, rng.choice(ctypes), "https://example.org/feed") for b in _mutations(rng, seeds, 1500)]
    out += [(bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600))), rng.choice(ctypes), "https://e.org/f")
            for _ in range(300)]
    return out


def text_cases() -> list[tuple[str, int, str | None]]:
    """(value, limit, base) for clean_text (limit) and _http_link (base) on hostile strings."""
    rng = random.Random(29)
    out: list[tuple[str, int, str | None]] = []
    for _ in range(20000):
        out.append((_random_text(rng, 0, rng.choice((10, 80, 400))), rng.choice((500, 20000, 200, 40, 5, 1, 0)),
                    rng.choice((None, "https://e.org/feed", "http://127.0.0.1:9/f1.xml", "https://e.org/a/b/", "ftp://x"))))
    return out


def _sha(obj: object) -> str:
    return hashlib.sha256(repr(obj).encode("utf-8", "surrogatepass")).hexdigest()


def _answer(fn: Any, *args: Any) -> object:
    """What ``fn`` returns, or the name of what it raises (raising is an answer too)."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001
        return f"raises {type(e).__name__}"


def compute(bodies: list[bytes]) -> dict[str, Any]:
    """Every answer of the current code, digested."""
    from monitor.ingest.parse import _http_link, clean_text, parse_feed

    t0 = time.perf_counter()
    cases = language_cases(bodies)
    answers = [decide(c) for c in cases]
    t1 = time.perf_counter()
    parsed = [parse_feed(b, ct, base, now=NOW) for b, ct, base in parse_bodies(bodies)]
    texts = [(_answer(clean_text, v, lim), _answer(_http_link, v, base)) for v, lim, base in text_cases()]
    t2 = time.perf_counter()
    return {
        "language": {"cases": len(cases), "sha256": _sha(answers), "sample_every": SAMPLE_EVERY,
                     "sample": answers[::SAMPLE_EVERY]},
        "parse": {"bodies": len(parsed), "entries": sum(len(p.entries) for p in parsed), "sha256": _sha(parsed),
                  "per_body": [_sha(p)[:16] for p in parsed], "text_cases": len(texts), "text_sha256": _sha(texts)},
        "seconds": {"language": round(t1 - t0, 1), "parse": round(t2 - t1, 1)},
    }


def compare(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    lang_now, lang_before = now["language"], before["language"]
    diff_sample = [i * SAMPLE_EVERY for i, (a, b) in enumerate(zip(lang_now["sample"], lang_before["sample"])) if a != b]
    p_now, p_before = now["parse"], before["parse"]
    diff_bodies = [i for i, (a, b) in enumerate(zip(p_now["per_body"], p_before["per_body"])) if a != b]
    out = {
        "language_cases": lang_now["cases"],
        "language_identical": lang_now["sha256"] == lang_before["sha256"] and lang_now["cases"] == lang_before["cases"],
        "language_sample_differences": diff_sample[:20],
        "parse_bodies": p_now["bodies"],
        "parse_entries": p_now["entries"],
        "parse_identical": p_now["sha256"] == p_before["sha256"],
        "parse_body_differences": diff_bodies[:20],
        "text_cases": p_now["text_cases"],
        "text_identical": p_now["text_sha256"] == p_before["text_sha256"],
        "seconds": now["seconds"],
    }
    out["identical"] = out["language_identical"] and out["parse_identical"] and out["text_identical"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true", help="write the current answers as the reference")
    args = ap.parse_args(argv)
    result = compute(feed_bodies())
    if args.record:
        STORE.write_text(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(json.dumps({"recorded": str(STORE.relative_to(ROOT)), "language_cases": result["language"]["cases"],
                          "parse_entries": result["parse"]["entries"], "seconds": result["seconds"]}))
        return 0
    before = json.loads(STORE.read_text(encoding="utf-8"))
    out = compare(result, before)
    print(json.dumps({"bench": "identical", **out}, ensure_ascii=False))
    return 0 if out["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
