"""Issue 10: the service against hostile feeds and local faults, each case asserted.

The feed cases (tests/support/faultserver.py, FEED_CASES) run together in one deployment: three
polling rounds of the real pipeline against one fault server, then `monitor feeds --json`
and the stored items are checked per case. Other cases drive the Fetcher, the CLI and
the digest writer directly. bench/fault_harness.py prints the same cases as a table.

Issue 19 (second round) adds groups at the end: redirect hops of configured feeds and
`monitor feeds add` against the address guard, bounded full-text extraction, YAML alias
bombs, control characters on their way to the terminal, capped mail through hostile
relays (552, lost acknowledgement) and chat markup in webhook text.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import tests.support.faultserver as fs


@pytest.fixture(scope="module")
def feed_run(tmp_path_factory: pytest.TempPathFactory) -> fs.FeedRun:
    return fs.run_feed_cases(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("name", [c.name for c in fs.FEED_CASES])
def test_feed_case(feed_run: fs.FeedRun, name: str) -> None:
    result = next(r for r in feed_run.results if r.name == name)
    assert result.passed, f"{name}: expected {result.expected}; observed {result.observed}"


def test_bad_polls_lose_nothing_and_database_stays_sound(feed_run: fs.FeedRun) -> None:
    counts = feed_run.counts_after_round
    assert len(counts) == fs.ROUNDS
    assert counts == sorted(counts), f"stored items went down between rounds: {counts}"
    assert counts[0] > len(fs.FEED_CASES)  # round 0 stored every baseline (and more)
    conn = sqlite3.connect(feed_run.root / "state" / "monitor.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_every_failure_is_visible_in_feeds_json(feed_run: fs.FeedRun) -> None:
    failing = [o.health for o in feed_run.observed.values() if o.health["error"]]
    assert len(failing) >= 25
    for h in failing:
        assert h["error_kind"] and h["last_fetch"] and h["consecutive_failures"] >= 1, h
        assert h["next_poll"] is not None, h


def test_catalogue_has_at_least_30_cases() -> None:
    assert len(fs.FEED_CASES) >= 30
    assert len({c.name for c in fs.FEED_CASES}) == len(fs.FEED_CASES)


@pytest.mark.parametrize("result", fs.ssrf_cases(), ids=lambda r: r.name)
def test_ssrf(result: fs.CaseResult) -> None:
    assert result.passed, f"{result.name}: expected {result.expected}; observed {result.observed}"


def test_whole_request_deadline() -> None:
    results = fs.deadline_cases()
    assert len(results) == 4
    for r in results:
        assert r.passed, f"{r.name}: {r.observed}"


def test_bombs_keep_memory_low() -> None:
    results = fs.memory_cases(bomb_mib=256)
    for r in results:
        assert r.passed, f"{r.name}: {r.observed}"


def test_bad_local_input_is_reported_with_exit_1(tmp_path: Path) -> None:
    results = fs.local_input_cases(tmp_path)
    assert len(results) == 8
    for r in results:
        assert r.passed, f"{r.name}: expected {r.expected}; observed {r.observed}"


def test_unwritable_state_is_reported_without_partial_files(tmp_path: Path) -> None:
    results = fs.state_dir_cases(tmp_path)
    assert {r.name for r in results} >= {"digest-dir-blocked", "digest-after-unblock", "digest-disk-full",
                                         "database-dir-blocked"}
    for r in results:
        assert r.passed, f"{r.name}: expected {r.expected}; observed {r.observed}"


# ---- issue 19: hostile content, second round (each group against hostile servers on 127.0.0.1) --------

def _assert_all(results: list[fs.CaseResult], at_least: int) -> None:
    assert len(results) >= at_least, [r.name for r in results]
    bad = [f"{r.name}: expected {r.expected}; observed {r.observed}" for r in results if not r.passed]
    assert not bad, "\n".join(bad)


def test_redirect_hops_leaving_the_configured_host_are_guarded(tmp_path: Path) -> None:
    _assert_all(fs.redirect_guard_cases(tmp_path), 12)


def test_feeds_add_guards_what_the_page_advertises(tmp_path: Path) -> None:
    _assert_all(fs.feeds_add_guard_cases(tmp_path), 4)


def test_fulltext_extraction_is_bounded(tmp_path: Path) -> None:
    _assert_all(fs.fulltext_cases(tmp_path), 3)


def test_yaml_alias_bombs_are_refused_with_file_and_line(tmp_path: Path) -> None:
    _assert_all(fs.yaml_bomb_cases(tmp_path), 2)


def test_network_text_never_reaches_the_terminal_raw(tmp_path: Path) -> None:
    _assert_all(fs.terminal_cases(tmp_path), 4)


def test_mail_caps_permanent_refusal_and_stable_message_id(tmp_path: Path) -> None:
    _assert_all(fs.mail_cases(tmp_path), 3)


def test_webhook_text_carries_no_chat_markup(tmp_path: Path) -> None:
    _assert_all(fs.webhook_cases(tmp_path), 1)
