"""E-mail, webhook and Atom digests through the real CLI: aiosmtpd and an HTTP sink on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import feedparser
from aiosmtpd.controller import Controller

from monitor.analysis.argos_models import bundled_models
from tests.support.feedserver import Route, atom, rss

RU_EN = next(m for m in bundled_models() if "ru_en" in m.name)  # the bundled Russian->English model

WATCHLIST = """\
name: desk
title: Desk alerts
query:
  any:
    - parade
    - sanctions
digest:
  formats: [markdown, email, webhook, atom]
  recipients: [analyst@example.org, editor@example.org]
  webhook: {webhook}
  timezone: Asia/Almaty
"""


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@contextmanager
def smtp_server(port: int) -> Iterator[Sink]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1:port for the duration of the block."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hook(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                outer.bodies.append(json.loads(data))
                self.send_response(204)
                self.end_headers()

        super().__init__(("127.0.0.1", 0), H)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def setup(project, feed_server, hook: Hook, smtp_port: int) -> None:
    for p in (project.root / "watchlists").glob("*.yaml"):
        p.unlink()
    (project.root / "watchlists" / "desk.yaml").write_text(
        WATCHLIST.format(webhook=f"http://127.0.0.1:{hook.server_address[1]}/hook"), encoding="utf-8")
    feed_server.routes["/en.xml"] = Route(rss([
        {"title": "Tokayev attends Victory Day parade in Moscow", "link": "https://en.example.org/a?utm_source=x",
         "guid": "e1", "description": "Kazakh President Tokayev watched the parade on Red Square."},
        {"title": "<script>alert(1)</script> Sanctions on Kyrgyz banks\r\nBcc: victim@example.com",
         "link": "javascript:alert(1)", "guid": "e2",
         "description": "New secondary sanctions target banks in Kyrgyzstan."},
    ]), etag='"e"')
    feed_server.routes["/ru.atom"] = Route(atom([
        {"title": "Курс тенге упал после новых санкций.", "link": "https://ru.example.org/tenge", "id": "r1",
         "summary": "Санкции ударили по торговле в Центральной Азии."},
        {"title": "Токаев прибыл в Москву на парад Победы.", "link": "https://ru.example.org/tokaev", "id": "r2",
         "summary": "Президент Казахстана Касым-Жомарт Токаев прибыл в Москву.",
         # published now: the English report (no date) is dated by its fetch, and stories have a window
         "updated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")},
    ], lang="ru"), content_type="application/atom+xml")
    project.write_config([{"name": "English desk", "url": feed_server.url("/en.xml")},
                          {"name": "Russian desk", "url": feed_server.url("/ru.atom")}],
                         smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none",
                               "from": "News Monitor <monitor@example.org>"})
    project.cli("models", "install", "--file", str(RU_EN))


def test_email_webhook_atom_with_translation_and_retry_when_smtp_down(any_project, feed_server):
    project = any_project  # on SQLite and on PostgreSQL
    hook = Hook()
    port = free_port()
    setup(project, feed_server, hook, port)
    hook.fail = 1  # the webhook's first answer is a 503

    # SMTP server down: markdown is written, e-mail and webhook stay pending
    out = project.cli("run", "--once").stdout
    assert "desk (email): FAILED" in out and "desk (webhook): FAILED" in out
    assert len(project.digests("desk")) == 1
    status = project.cli("status").stdout
    assert "delivery error desk (email)" in status

    # a new item arrives while the server is still down
    feed_server.routes["/en.xml"].body = rss([
        {"title": "EU weighs sanctions on Central Asian traders", "link": "https://en.example.org/c", "guid": "e3",
         "description": "Brussels is looking at sanctions on traders re-exporting goods to Russia."}])
    feed_server.routes["/en.xml"].etag = '"e2"'

    with smtp_server(port) as sink:
        project.cli("run", "--once")

    # one e-mail carrying every item, to both recipients
    assert len(sink.messages) == 1
    rcpts, raw = sink.messages[0]
    assert sorted(rcpts) == ["analyst@example.org", "editor@example.org"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["List-Id"] and msg["Message-ID"] and msg["Date"]
    assert "Desk alerts" in msg["Subject"] and "\n" not in msg["Subject"]
    assert msg["Bcc"] is None and "victim@example.com" not in str(msg["To"])
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Tokayev" in body  # the Tokayev story, led by the English or the Russian report
        assert "EU weighs sanctions" in body
        # translated by the real bundled model (CTranslate2), original title kept beneath
        assert "The tenge fell after the new sanctions" in body
        assert "Курс тенге упал" in body
    assert "https://ru.example.org/tenge" in html and "javascript:" not in html
    assert "<script>" not in html

    # the webhook got the same stories after its 503, once
    assert len(hook.bodies) == 1
    titles = [s["title"] for s in hook.bodies[0]["stories"]]
    assert any("The tenge fell" in t for t in titles) and any("EU weighs" in t for t in titles)

    # Atom feed of digests, readable by a feed reader
    atom_path = project.root / "state" / "digests" / "desk" / "digests.atom"
    parsed = feedparser.parse(atom_path.read_bytes())
    assert not parsed.bozo and len(parsed.entries) == 2

    # nothing is sent twice
    with smtp_server(port) as sink2:
        project.cli("run", "--once")
    assert sink2.messages == [] and len(hook.bodies) == 1

    items = {i["title"]: i for i in project.items()}
    ru = items["Курс тенге упал после новых санкций."]
    assert ru["title_translated"] == "The tenge fell after the new sanctions."
    assert ru["translated_to"] == "en" and ru["translation_status"] in ("translated", "cached")
    hook.shutdown()


def test_digest_dry_run_and_test_email(project, feed_server):
    hook = Hook()
    port = free_port()
    setup(project, feed_server, hook, port)
    (project.root / "watchlists" / "desk.yaml").write_text(
        WATCHLIST.format(webhook="http://127.0.0.1:9/x").replace("[markdown, email, webhook, atom]", "[markdown]"),
        encoding="utf-8")
    project.cli("run", "--once")
    # everything was delivered to markdown; a dry run of a fresh item shows it without marking it
    feed_server.routes["/en.xml"].body = rss([{"title": "Parade rehearsal closes Tverskaya street",
                                               "link": "https://en.example.org/r", "guid": "e9"}])
    feed_server.routes["/en.xml"].etag = '"x"'
    project.cli("run", "--once")
    n = len(project.digests("desk"))
    feed_server.routes["/en.xml"].body = rss([{"title": "Sanctions list grows by twelve firms",
                                               "link": "https://en.example.org/s", "guid": "e10"}])
    feed_server.routes["/en.xml"].etag = '"y"'
    project.cli("run", "--once", "--quiet")
    assert len(project.digests("desk")) == n + 1
    dry = project.cli("digest", "--watchlist", "desk", "--dry-run").stdout
    assert "count: 0" in dry or "Nothing" in dry or "nothing" in dry
    with smtp_server(port) as sink:
        out = project.cli("digest", "--watchlist", "desk", "--email", "me@example.org").stdout
    assert "sent a test digest" in out and len(sink.messages) == 1 and sink.messages[0][0] == ["me@example.org"]
    bad = project.cli("digest", "--watchlist", "nope", check=False)
    assert bad.returncode == 1 and "desk" in bad.stderr
    hook.shutdown()


def test_translated_story_joins_english_story_across_languages(project, feed_server):
    hook = Hook()
    setup(project, feed_server, hook, free_port())
    project.cli("run", "--once")
    items = {i["title"]: i for i in project.items()}
    en = items["Tokayev attends Victory Day parade in Moscow"]
    ru = items["Токаев прибыл в Москву на парад Победы."]
    assert ru["title_translated"] == "Tokayev arrived in Moscow for the Victory Day parade."
    # one story; whichever feed was stored first leads it (feeds are polled concurrently)
    assert ru["story_id"] == en["story_id"]
    assert sorted([ru["duplicate_kind"] or "", en["duplicate_kind"] or ""]) == ["", "story"]
    md = Path(project.digests("desk")[0]).read_text(encoding="utf-8")
    head = md.partition("Suppressed")[0]
    entries = [line for line in head.splitlines() if line.startswith("## ")]
    tokayev = [line for line in entries if "Tokayev" in line]
    assert len(tokayev) == 1, entries  # the story once, whichever report leads it
    assert "Russian desk" in head and "English desk" in head  # lead and "also reported by"
    # the untranslated original title and its translation are both in the digest for the Russian-only story
    assert "The tenge fell after the new sanctions" in head and "Курс тенге упал" in head
    hook.shutdown()
