"""What a new analyst and operator meet in their first week (issue 20), through the real `monitor` CLI."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.config import FeedConfig
from monitor.service.daemon_state import daemon_state
from monitor.service.scheduler import reschedule_feeds
from monitor.service.wording import duration_words, error_words
from tests.support.feedserver import Route, rss

VICTORY = [{"title": "Tokayev and Mirziyoyev attend Victory Day parade in Moscow",
            "link": "https://news.example.org/parade?utm_source=rss&id=7", "guid": "p1",
            "description": "The Kazakh and Uzbek presidents watched the parade on Red Square with Putin.",
            "pubDate": "Mon, 30 Nov 2026 09:00:00 GMT"}]


def _offline_project(project, feeds=None, **extra):
    project.write_config(feeds if feeds is not None else [], translation={"enabled": False}, **extra)
    return project


# ---- usage ----------------------------------------------------------------------------------------

def test_config_and_log_level_work_after_the_subcommand(project):
    _offline_project(project)
    cfg = str(project.config)
    proc = subprocess.run([sys.executable, "-m", "monitor", "check", "--config", cfg, "--log-level", "INFO"],
                          capture_output=True, text=True, cwd=project.root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok: config.yaml")
    proc = subprocess.run([sys.executable, "-m", "monitor", "feeds", "--json", "--config", cfg],
                          capture_output=True, text=True, cwd=project.root, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]"


@pytest.mark.parametrize("args, words", [
    (("items", "--since", "7x"), "argument --since: expected a duration"),
    (("--log-level", "verbose", "status"), "unknown log level 'verbose'"),
    (("status", "--log-level", "verbose"), "unknown log level 'verbose'"),
    (("watchlist", "test", "victory-day-parade", "--since", "soon"), "argument --since"),
    (("items", "--limit", "-3"), "argument --limit"),
])
def test_bad_usage_is_one_error_line_and_exit_2(project, args, words):
    _offline_project(project)
    proc = project.cli(*args, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0] and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_subcommand_help_has_a_description_and_explains_options(project):
    out = project.cli("items", "--help").stdout
    assert "The stored items" in out
    assert "--since DURATION" in out and "24h, 7d" in out
    assert "--limit N" in out and "default: 0, no limit" in out
    out = project.cli("watchlist", "test", "--help").stdout
    assert "nearly matched" in out and "(default: 20)" in out and "(default: 7d)" in out


@pytest.mark.parametrize("args", [("detect", *["Токаев прибыл в Москву"] * 400), ("items",), ("items", "--json"), ("feeds",), ("status",),
                                  ("check",), ("seeds", "list"), ("models", "list"), ("--help",)])
def test_a_closed_pipe_ends_quietly(project, feed_server, args):
    many = [{"title": f"Harvest report number {n} from the northern grain region", "link": f"https://x.org/{n}",
             "guid": str(n), "description": "Farmers in the region reported the wheat harvest. " * 20}
            for n in range(60)]
    feed_server.routes["/f.xml"] = Route(rss(many))
    _offline_project(project, [{"name": "F", "url": feed_server.url("/f.xml")}])
    project.cli("run", "--once", "--quiet")
    cmd = [sys.executable, "-m", "monitor", "--config", str(project.config), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            cwd=project.root)
    proc.stdout.read(10)
    proc.stdout.close()  # like `| head -c 10`
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rc == 0


def test_unknown_watchlist_in_items_is_an_error_with_a_suggestion(project):
    _offline_project(project)
    proc = project.cli("items", "--watchlist", "victory-day", check=False)
    assert proc.returncode == 2
    assert "no watchlist named 'victory-day'" in proc.stderr and "did you mean 'victory-day-parade'" in proc.stderr
    assert project.cli("items", "--watchlist", "victory-day-parade").returncode == 0


# ---- check ----------------------------------------------------------------------------------------

def test_missing_seeds_directory_is_a_note_not_an_error(project):
    _offline_project(project, seeds="no-seeds-here")
    proc = project.cli("check")
    assert proc.returncode == 0
    assert "note: no-seeds-here: no seed directory" in proc.stdout and "ok: config.yaml" in proc.stdout


def test_check_catches_email_without_smtp_and_unknown_language_codes(project):
    _offline_project(project, feeds=[{"url": "https://example.org/rss", "language": "kaz"}])
    proc = project.cli("check", check=False)
    assert proc.returncode == 1
    assert "feeds[0].language: 'kaz' is not an ISO 639-1 language code (hint: did you mean 'kk' (Kazakh)?)" \
        in proc.stdout
    _offline_project(project)
    (project.root / "watchlists" / "armenia.yaml").write_text(
        "name: armenia\n"
        "query:\n"
        "  any:\n"
        "    - term: Pashinyan\n"
        "      variants:\n"
        "        arm: Փաշինյան\n"
        "        ru: Пашинян\n"
        "digest:\n"
        "  formats: [markdown, email]\n"
        "  recipients: [desk@example.org]\n", encoding="utf-8")
    proc = project.cli("check", check=False)
    assert proc.returncode == 1
    out = proc.stdout
    assert "armenia.yaml:6:9: query.any[0].variants.arm: 'arm' is not an ISO 639-1 language code " \
           "(hint: did you mean 'hy' (Armenian)?)" in out
    assert "armenia.yaml:9:12: digest.formats: format email needs an smtp: block in config.yaml" in out
    # with an smtp block and hy, the same set-up passes
    _offline_project(project, smtp={"host": "127.0.0.1", "port": 2525, "security": "none",
                                    "from": "monitor@example.org"})
    path = project.root / "watchlists" / "armenia.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("arm:", "hy:"), encoding="utf-8")
    assert project.cli("check").stdout.startswith("ok:")


# ---- status ---------------------------------------------------------------------------------------

def test_daemon_state_needs_a_live_process_and_no_clean_stop():
    now = 1000.0
    alive = {42}.__contains__
    assert daemon_state("990", "42", None, now, alive).running
    assert not daemon_state("990", "43", None, now, alive).running  # pid gone: not two minutes later
    stopped = daemon_state("990", "42", "995", now, alive)
    assert not stopped.running and stopped.detail == "stopped cleanly"
    assert not daemon_state("700", "42", None, now, alive).running  # alive but wedged
    assert daemon_state("996", "42", "995", now, alive).running  # started again after the stop
    assert daemon_state(None, None, None, now, alive).detail == "it has never run"


def test_status_after_a_clean_stop_and_after_a_rejected_reload(project, feed_server):
    feed_server.routes["/f.xml"] = Route(rss(VICTORY))
    _offline_project(project, [{"url": feed_server.url("/f.xml")},
                               {"name": "Never polled", "url": feed_server.url("/other.xml"), "interval": "6h"}])
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        status = ""
        while time.time() < deadline:
            status = project.cli("status").stdout
            if "daemon: running (pid " in status and "items stored: 1" in status:
                break
            time.sleep(0.5)
        assert f"daemon: running (pid {proc.pid})" in status, status
        assert "feeds: 2 configured" in status
        wl = project.root / "watchlists" / "victory-day-parade.yaml"
        wl.write_text(wl.read_text(encoding="utf-8") + "\ntreshold: 3\n", encoding="utf-8")
        deadline = time.time() + 30
        while time.time() < deadline and "REJECTED" not in status:
            time.sleep(0.5)
            status = project.cli("status").stdout
        assert "last reload REJECTED" in status and "treshold: unknown key" in status, status
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    status = project.cli("status").stdout
    assert status.startswith("daemon: not running (stopped cleanly"), status


def test_status_of_a_killed_daemon_is_not_running_at_once(project):
    _offline_project(project)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and "running (pid" not in project.cli("status").stdout:
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    status = project.cli("status").stdout
    assert f"daemon: not running (process {proc.pid} is gone" in status, status


# ---- run ------------------------------------------------------------------------------------------

def test_run_once_reports_each_feed_error_once_in_words(project):
    _offline_project(project, [{"name": "Nowhere", "url": "http://nonexistent.invalid/rss"},
                               {"name": "Closed port", "url": "http://127.0.0.1:9/rss"}])
    proc = project.cli("run", "--once")
    both = proc.stdout + proc.stderr
    assert both.count("cannot resolve host nonexistent.invalid") == 1, both
    assert both.count("connection refused by 127.0.0.1") == 1, both
    # the first backoff is the 30 min interval less up to 10 % jitter (next_poll_delay): 27-30 min
    waits = [int(m) for m in re.findall(r"next try in (\d+) min", both)]
    assert waits and all(26 <= m <= 30 for m in waits), both
    assert "Errno" not in both and " s)" not in both


def test_wording_of_durations_and_errors():
    assert duration_words(1780) == "30 min"
    assert duration_words(45) == "45 s"
    assert duration_words(7200) == "2 h"
    assert duration_words(5400) == "1.5 h"
    assert duration_words(3 * 86400) == "3 days"
    assert error_words("dns", "[Errno -2] Name or service not known", "https://x.invalid/rss") == \
        "cannot resolve host x.invalid"
    assert error_words("http", "HTTP 503 Service Unavailable", "https://x.org/", 503) == "HTTP 503 Service Unavailable"


def test_daemon_in_a_terminal_prints_ready_and_a_line_per_poll(project, feed_server):
    feed_server.routes["/f.xml"] = Route(rss(VICTORY))
    _offline_project(project, [{"name": "Wire", "url": feed_server.url("/f.xml")}])
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("INVOCATION_ID", "JOURNAL_STREAM", "MONITOR_CONFIG")}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    try:
        deadline = time.time() + 60
        while time.time() < deadline and b"Wire: 1 new" not in seen:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        os.close(master)
    text = seen.decode("utf-8", "replace")
    assert "ready: 1 feed(s), 2 watchlist(s)" in text, text
    assert "Wire: 1 new, 1 matched; next poll in" in text, text


def test_a_changed_interval_reschedules_on_reload():
    def feed(url: str, interval: float) -> FeedConfig:
        return FeedConfig(url=url, name=url, interval=interval)

    now = 10_000.0
    old = {"a": feed("a", 3600), "b": feed("b", 3600), "c": feed("c", 3600)}
    new = [FeedConfig(url="a", name="a", interval=600), FeedConfig(url="b", name="renamed", interval=3600, line=9),
           feed("c", 7200), feed("d", 600)]
    nxt = {"a": now + 3000, "b": now + 3000, "c": now + 3000}
    last = {"a": now - 600 - 100, "b": now - 600, "c": now - 600}
    plan = reschedule_feeds(old, new, nxt, last, set(), now, jitter=0.0)
    assert plan["a"] == now  # shorter: the new interval since the last fetch has passed: poll now
    assert "b" not in plan  # only renamed (and moved): keeps its schedule
    assert plan["c"] == now - 600 + 7200  # longer: last fetch + new interval
    assert plan["d"] == now  # new feed


# ---- display names, digests, test mail ------------------------------------------------------------

def test_feed_without_name_shows_its_own_title_and_links_lose_tracking(project, feed_server):
    feed_server.routes["/site1.xml"] = Route(rss(VICTORY, title="Steppe Wire"))
    _offline_project(project, [{"url": feed_server.url("/site1.xml")}])
    out = project.cli("run", "--once").stdout
    assert "Steppe Wire" in out and "127.0.0.1/site1.xml" not in out.split("\n\n")[1]
    [md] = project.digests("victory-day-parade")
    text = md.read_text(encoding="utf-8")
    assert "**Source:** Steppe Wire" in text
    assert "https://news.example.org/parade?id=7" in text and "utm_source" not in text
    assert "period_start: 2026-11-30T09:00:00Z" in text  # the oldest item, not the minute of the run
    assert project.items()[0]["feed"] == "Steppe Wire"
    assert "Steppe Wire" in project.cli("feeds").stdout and "Steppe Wire" in project.cli("items").stdout
    atom = (project.root / "state" / "digests" / "victory-day-parade").glob("*.atom")
    for a in atom:
        body = a.read_text(encoding="utf-8")
        assert 'rel="self"' in body and 'rel="alternate"' in body


def test_footer_shows_a_feed_that_never_worked_from_its_first_failure(project, feed_server):
    feed_server.routes["/ok.xml"] = Route(rss(VICTORY))
    _offline_project(project, [{"name": "Wire", "url": feed_server.url("/ok.xml")},
                               {"name": "Dead", "url": "http://127.0.0.1:9/rss"}])
    project.cli("run", "--once")
    [md] = project.digests("victory-day-parade")
    text = md.read_text(encoding="utf-8")
    assert "All feeds healthy" not in text
    assert "Dead: failing for 1 poll:" in text and "never worked" in text


def test_test_mail_after_everything_was_delivered_shows_the_latest_stories(project, feed_server):
    from test_email_e2e import free_port, smtp_server

    feed_server.routes["/f.xml"] = Route(rss(VICTORY))
    port = free_port()
    _offline_project(project, [{"name": "Wire", "url": feed_server.url("/f.xml")}],
                     smtp={"host": "127.0.0.1", "port": port, "security": "none", "from": "monitor@example.org"})
    project.cli("run", "--once", "--quiet")  # the markdown digest takes the story
    with smtp_server(port) as sink:
        out = project.cli("digest", "--watchlist", "victory-day-parade", "--email", "me@example.org").stdout
    assert "sent a test digest with 1 story" in out and "marked as a test" in out
    [(rcpts, msg)] = [(m[0], m[1]) for m in sink.messages]
    import email
    from email import policy

    mail = email.message_from_bytes(msg if isinstance(msg, bytes) else msg.encode(), policy=policy.default)
    assert mail["Subject"].startswith("[TEST: ")
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    assert "TEST MAIL." in plain and "Tokayev and Mirziyoyev attend Victory Day parade" in plain
    assert "\\_" not in plain and "\\>" not in plain
    for line in plain.splitlines():
        assert len(line) <= 80 or line.strip().startswith("Link:") or " " not in line.strip(), line
    # nothing was marked: the regular digest still has nothing new and the ledger is unchanged
    db = sqlite3.connect(project.root / "state" / "monitor.db")
    assert db.execute("SELECT COUNT(*) FROM deliveries WHERE channel='email'").fetchone()[0] == 0


def test_no_smtp_block_makes_test_mail_a_usage_error(project):
    _offline_project(project)
    proc = project.cli("digest", "--watchlist", "victory-day-parade", "--email", "me@example.org", check=False)
    assert proc.returncode == 2 and "needs an smtp: block" in proc.stderr


def test_demo_prints_plain_text_without_markdown_escapes(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "monitor", "demo", "--dir", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    tail = proc.stdout.split("as the plain-text part of its e-mail")[1]
    assert "\\_" not in tail and "\\>" not in tail and "\\~" not in tail
    assert "Why:" in tail


def test_a_shorter_interval_takes_effect_at_the_reload(project, feed_server):
    import yaml

    feed_server.routes["/f.xml"] = Route(rss(VICTORY))
    _offline_project(project, [{"name": "Wire", "url": feed_server.url("/f.xml"), "interval": "6h"}])
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not feed_server.hits_for("/f.xml"):
            time.sleep(0.3)
        assert len(feed_server.hits_for("/f.xml")) == 1
        time.sleep(1.0)  # polled once; the next poll is 6 hours away
        doc = yaml.safe_load(project.config.read_text(encoding="utf-8"))
        doc["feeds"][0]["interval"] = "1s"
        project.config.write_text(yaml.safe_dump(doc), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 30
        while time.time() < deadline and len(feed_server.hits_for("/f.xml")) < 2:
            time.sleep(0.3)
        assert len(feed_server.hits_for("/f.xml")) >= 2, "the reload did not move the 6-hour schedule"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_dry_run_is_markdown_when_redirected_and_text_on_request(project, feed_server):
    feed_server.routes["/f.xml"] = Route(rss([{**VICTORY[0], "title": "Tokayev at the Victory Day parade: 9 May *live*"}]))
    _offline_project(project, [{"name": "Wire_desk", "url": feed_server.url("/f.xml")}])
    wl = project.root / "watchlists" / "victory-day-parade.yaml"  # deliver only Atom: Markdown stays to preview
    wl.write_text(wl.read_text(encoding="utf-8").replace("formats: [markdown]", "formats: [atom]"), encoding="utf-8")
    project.cli("run", "--once", "--quiet")
    md = project.cli("digest", "--watchlist", "victory-day-parade", "--dry-run").stdout
    assert md.startswith("---\nwatchlist:") and "Wire\\_desk" in md
    text = project.cli("digest", "--watchlist", "victory-day-parade", "--dry-run", "--format", "text").stdout
    assert "Wire_desk" in text and "\\" not in text
