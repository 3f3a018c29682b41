"""Language decisions and parsed feeds are the ones recorded before the stages were made faster.

tests/data/language_decisions.json holds what the code before gave on bench/identical.py's corpus
(59,640 language cases, 2,046 feed bodies); here a sample of both is recomputed and compared.
``python -m bench.identical`` compares all of it.
"""

from __future__ import annotations

import json

import pytest

from bench import identical

STORED = json.loads(identical.STORE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bodies() -> list[bytes]:
    return identical.feed_bodies()


def test_sample_of_language_decisions_is_unchanged(bodies: list[bytes]) -> None:
    cases = identical.language_cases(bodies)
    assert len(cases) == STORED["language"]["cases"] == 59640
    every = STORED["language"]["sample_every"]
    sample = STORED["language"]["sample"]
    checked = 0
    for k in range(0, len(sample), 4):  # every 40th case: headlines, summaries, variants, feed items, noise
        assert identical.decide(cases[k * every]) == sample[k], cases[k * every]
        checked += 1
    assert checked > 1400
    assert {c.kind for c in cases[::every * 4]} == {"text", "item"}


def test_sample_of_parsed_feeds_is_unchanged(bodies: list[bytes]) -> None:
    from monitor.ingest.parse import parse_feed

    corpus = identical.parse_bodies(bodies)
    assert len(corpus) == STORED["parse"]["bodies"]
    per_body = STORED["parse"]["per_body"]
    for i in range(0, len(corpus), 8):
        body, ctype, base = corpus[i]
        assert identical._sha(parse_feed(body, ctype, base, now=identical.NOW))[:16] == per_body[i], i
