"""monitor.service.cycle.run_once: one cycle as a service (a report and typed events, no printing)."""

from __future__ import annotations

import ast
from pathlib import Path

from monitor.config import load_config
from monitor.service.cycle import FeedPolled, PollStarted, run_once
from tests.support.feedserver import Route, rss

PACKAGE = Path(__file__).resolve().parent.parent / "monitor"


def module_imports(name: str) -> set[str]:
    """Every monitor.* module that module ``name`` imports, at the top or inside a function."""
    path = PACKAGE.joinpath(*name.split(".")[1:])
    tree = ast.parse((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("monitor"):
            found.add(node.module)
            if node.module == "monitor":
                found.update(f"monitor.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("monitor"))
    return found

PARADE = {"title": "Tokayev joins Putin at the Victory Day parade on Red Square",
          "link": "https://news.example.org/parade", "guid": "p-1", "pubDate": "Sat, 09 May 2026 10:00:00 GMT",
          "description": "Leaders watched the Victory Day parade in Moscow."}


def test_run_once_reports_without_printing(project, feed_server, capsys) -> None:
    feed_server.routes["/en.xml"] = Route(rss([PARADE], language="en"), etag='"v1"')
    feed_server.routes["/gone.xml"] = Route(b"oops", status=500, content_type="text/plain")
    project.write_config([{"name": "Wire", "url": feed_server.url("/en.xml")},
                          {"name": "Gone", "url": feed_server.url("/gone.xml")}], translation={"enabled": False})
    cfg = load_config(project.config)
    events: list[object] = []
    report = run_once(cfg, in_order=True, on_event=events.append)
    assert capsys.readouterr().out == ""
    assert isinstance(events[0], PollStarted) and events[0].feeds == 2
    polled = [e for e in events if isinstance(e, FeedPolled)]
    assert [(e.done, e.total, e.outcome.feed) for e in polled] == [(1, 2, "Wire"), (2, 2, "Gone")]
    by_feed = {o.feed: o for o in report.outcomes}
    assert by_feed["Wire"].new_items == 1 and by_feed["Wire"].matched >= 1 and not by_feed["Wire"].error
    assert by_feed["Gone"].status == 500 and by_feed["Gone"].error
    assert not report.unreachable  # one feed answered
    assert report.names[feed_server.url("/en.xml")] == "Wire"
    sent = [r for r in report.dispatched if r.status == "sent"]
    assert sent and all(r.location for r in sent) and report.watchlists >= 1
    # a second cycle: a conditional GET, nothing new, nothing sent again
    again = run_once(cfg, in_order=True)
    assert {o.feed: o.new_items for o in again.outcomes}["Wire"] == 0
    assert not [r for r in again.dispatched if r.status == "sent"]


def test_no_import_circle_between_cli_and_demo() -> None:
    assert "monitor.cli" not in module_imports("monitor.cli.demo")
    assert "monitor.cli" not in module_imports("monitor.service.cycle")
    assert "monitor.cli" not in module_imports("monitor.cli.output")
