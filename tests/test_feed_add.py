"""`monitor feeds add`: discovery on pages like real news sites served on 127.0.0.1, validation, config edit."""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from monitor.cli import main
from monitor.config import load_config
from tests.support.feedserver import FeedServer, Route, atom, rss

ROOT = Path(__file__).resolve().parent.parent
HTML = "text/html; charset=utf-8"

RU_ITEMS = [
    {"title": "Садыр Жапаров прибыл в Москву на парад Победы", "guid": "ru-1", "link": "https://kabar.example/ru/1",
     "description": "Президент Киргизии прибыл в Москву."},
    {"title": "В Бишкеке открыли новую школу на тысячу учеников", "guid": "ru-2", "link": "https://kabar.example/ru/2",
     "description": "Школа построена за два года."},
    {"title": "Таможня усилила контроль на границе с Казахстаном", "guid": "ru-3", "link": "https://kabar.example/ru/3",
     "description": "Проверки коснутся грузовиков."},
]
EN_ENTRIES = [
    {"title": "Kyrgyz president arrives in Moscow for the Victory Day parade", "link": "https://kabar.example/en/1",
     "summary": "Sadyr Japarov flew to Moscow on Friday."},
    {"title": "New school for a thousand pupils opens in Bishkek", "link": "https://kabar.example/en/2",
     "summary": "The school took two years to build."},
]


def homepage(head_links: str = "") -> bytes:
    """A news site's front page: navigation, teasers, a most-read box, a footer; feeds only in <head>."""
    nav = "".join(f'<li><a href="/{s.lower()}/">{s}</a></li>' for s in ("Politics", "Economy", "Society", "Sport"))
    teasers = "".join(f'<div class="teaser"><a href="/news/{i}"><h2>Headline number {i}</h2></a><p>Lead {i}</p></div>'
                      for i in range(8))
    return f"""<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Kabar — news of Kyrgyzstan</title>
<link rel="stylesheet" href="/static/site.css"><link rel="icon" href="/favicon.ico">
<link rel="canonical" href="https://kabar.example/">{head_links}
<script async src="https://www.googletagmanager.com/gtag/js?id=G-XXXX"></script></head>
<body><header><a href="/" class="logo">Kabar</a><nav><ul>{nav}</ul></nav>
<a href="/rss-info">RSS</a> <a href="https://t.me/kabar">Telegram</a></header>
<main><section class="top">{teasers}</section>
<aside class="most-read"><h3>Most read</h3><ol><li><a href="/news/3">Headline number 3</a></li></ol></aside></main>
<footer>© Kabar 2026 · <a href="/about">About</a> · <a href="/contacts">Contacts</a></footer></body></html>""".encode()


ALTERNATES = """
<link rel="alternate" type="application/rss+xml" title="Kabar — новости" href="/ru/rss.xml">
<link rel="alternate" type="application/atom+xml" title="Kabar — English" href="http://{host}/en/atom.xml">
<link rel="alternate" hreflang="en" href="/en/">"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(project, *args: str, check: bool = True) -> Result:
    """The real CLI entry point, in this process (the language models load once for the module)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["--config", str(project.config), *args])
    res = Result(rc, out.getvalue(), err.getvalue())
    if check and rc != 0:
        raise AssertionError(f"monitor {' '.join(args)} exited {rc}\n{res.stdout}\n{res.stderr}")
    return res


def _only_insertions(before: str, after: str) -> bool:
    sm = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    return all(tag in ("equal", "insert") for tag, *_ in sm.get_opcodes())


def _serve_site(srv: FeedServer, *, alternates: bool = True) -> None:
    host = srv.base.removeprefix("http://")
    srv.routes["/"] = Route(homepage(ALTERNATES.format(host=host) if alternates else ""), content_type=HTML)
    srv.routes["/ru/rss.xml"] = Route(rss(RU_ITEMS, title="Kabar — новости", language="ru"))
    srv.routes["/en/atom.xml"] = Route(atom(EN_ENTRIES, title="Kabar — English", lang="en"),
                                       content_type="application/atom+xml")


def test_feed_url_is_validated_and_added_keeping_comments(project, feed_server) -> None:
    _serve_site(feed_server)
    shutil.copyfile(ROOT / "config.yaml", project.config)
    before = project.config.read_text(encoding="utf-8")
    out = cli(project, "feeds", "add", feed_server.url("/ru/rss.xml")).stdout
    assert "Kabar — новости" in out and "RSS 2.0, 3 item(s), language ru" in out
    after = project.config.read_text(encoding="utf-8")
    assert _only_insertions(before, after)
    assert "# Russian-language outlets (Russia and Central Asia)" in after
    feed = load_config(project.config, check_dirs=False).feeds[-1]
    assert (feed.url, feed.name, feed.language) == (feed_server.url("/ru/rss.xml"), "Kabar — новости", None)
    # adding it again is refused with the line it is on
    again = cli(project, "feeds", "add", feed_server.url("/ru/rss.xml"), check=False)
    assert again.returncode == 1 and "already in" in again.stderr and "line " in again.stderr


def test_page_advertising_two_feeds_needs_a_pick(project, feed_server) -> None:
    _serve_site(feed_server)
    project.write_config([])
    proc = cli(project, "feeds", "add", feed_server.url("/"), check=False)
    assert proc.returncode == 1 and "--pick" in proc.stderr
    assert "2 feed(s) found" in proc.stdout
    assert "RSS 2.0, 3 item(s), language ru" in proc.stdout and "Atom 1.0, 2 item(s), language en" in proc.stdout
    assert load_config(project.config, check_dirs=False).feeds == ()
    cli(project, "feeds", "add", feed_server.url("/"), "--pick", "2", "--name", "Kabar (English)", "--tag", "kg",
                "--tag", "Central Asia", "--fulltext", "--interval", "1h")
    [feed] = load_config(project.config, check_dirs=False).feeds
    assert (feed.url, feed.name, feed.tags, feed.fulltext, feed.interval) == (
        feed_server.url("/en/atom.xml"), "Kabar (English)", ("kg", "Central Asia"), True, 3600.0)
    bad = cli(project, "feeds", "add", feed_server.url("/"), "--pick", "5", check=False)
    assert bad.returncode == 1 and "choose 1 to 2" in bad.stderr


def test_common_paths_when_the_page_advertises_nothing(project, feed_server) -> None:
    _serve_site(feed_server, alternates=False)
    feed_server.routes["/rss.xml"] = Route(rss(RU_ITEMS, title="Kabar RSS", language="ru"))
    feed_server.routes["/feed"] = Route(b"", status=301, headers={"Location": "/rss.xml"})  # same feed
    feed_server.routes["/index.xml"] = Route(homepage(), content_type=HTML)  # a CMS answering 200 with HTML
    project.write_config([])
    out = cli(project, "feeds", "add", feed_server.url("/")).stdout
    assert "1 feed(s) found" in out and "Kabar RSS" in out
    [feed] = load_config(project.config, check_dirs=False).feeds
    assert feed.url == feed_server.url("/rss.xml")
    tried = {h.path for h in feed_server.hits}
    assert {"/feed", "/rss", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml"} <= tried


def test_section_page_tries_its_own_paths_first(project, feed_server) -> None:
    _serve_site(feed_server, alternates=False)
    feed_server.routes["/politics/"] = Route(homepage(), content_type=HTML)
    feed_server.routes["/politics/feed"] = Route(rss(RU_ITEMS[:1], title="Kabar: politics", language="ru"))
    feed_server.routes["/feed"] = Route(rss(RU_ITEMS, title="Kabar: everything", language="ru"))
    project.write_config([])
    proc = cli(project, "feeds", "add", feed_server.url("/politics/"), check=False)
    assert proc.returncode == 1  # two different feeds: the user must pick
    lines = proc.stdout.splitlines()
    assert lines[1].strip() == "1. Kabar: politics" and "Kabar: everything" in proc.stdout


def test_no_feed_and_unreachable_site(project, feed_server) -> None:
    feed_server.routes["/"] = Route(homepage(), content_type=HTML)
    project.write_config([])
    proc = cli(project, "feeds", "add", feed_server.url("/"), check=False)
    assert proc.returncode == 1 and "no feed found" in proc.stderr
    srv = FeedServer()  # bound, never started: nothing answers... then closed so the port refuses
    port = srv.server_address[1]
    srv.server_close()
    proc = cli(project, "feeds", "add", f"http://127.0.0.1:{port}/", check=False)
    assert proc.returncode == 1 and "cannot fetch" in proc.stderr
    assert load_config(project.config, check_dirs=False).feeds == ()


def test_title_clashing_with_an_existing_name_gets_the_host(project, feed_server) -> None:
    _serve_site(feed_server)
    project.write_config([{"name": "Kabar — новости", "url": "https://kabar.example/old.rss"}])
    cli(project, "feeds", "add", feed_server.url("/ru/rss.xml"))
    names = [f.name for f in load_config(project.config, check_dirs=False).feeds]
    assert names == ["Kabar — новости", "Kabar — новости (127.0.0.1)"]
    clash = cli(project, "feeds", "add", feed_server.url("/en/atom.xml"), "--name", "Kabar — новости", check=False)
    assert clash.returncode == 1 and "already exists" in clash.stderr


def test_interactive_pick_and_confirm_on_a_terminal(project, feed_server) -> None:
    _serve_site(feed_server)
    project.write_config([])
    pid, fd = pty.fork()
    if pid == 0:  # child: the real CLI on a pseudo-terminal
        env = dict(os.environ)
        env.pop("MONITOR_CONFIG", None)
        os.chdir(project.root)
        os.execve(sys.executable, [sys.executable, "-m", "monitor", "--config", str(project.config),
                                   "feeds", "add", feed_server.url("/")], env)
    transcript = b""
    answers = [(b"Which feed?", b"1\n"), (b"[Y/n]", b"y\n")]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            transcript += chunk
        if answers and answers[0][0] in transcript:
            os.write(fd, answers.pop(0)[1])
    done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:  # still waiting for input we never saw asked for
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, transcript.decode(errors="replace")
    assert not answers
    [feed] = load_config(project.config, check_dirs=False).feeds
    assert feed.url == feed_server.url("/ru/rss.xml")


def test_help_lists_the_actions() -> None:
    out = subprocess.run([sys.executable, "-m", "monitor", "feeds", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60).stdout
    for action in ("import", "export", "add"):
        assert action in out
