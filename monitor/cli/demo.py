"""``monitor demo``: the whole service on bundled sample feeds, without network access.

Serves the sample feeds in ``monitor/cli/data/demo/feeds.json`` (English, Russian,
Kazakh) on 127.0.0.1, writes a config in a temporary directory with the
shipped watchlists and seed corpus, installs the bundled ru->en translation
model there, runs one poll-and-digest cycle and prints where the digests are.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

DATA = Path(__file__).parent / "data" / "demo" / "feeds.json"
REPO = Path(__file__).resolve().parent.parent.parent


def render_feed(feed: dict, now: datetime) -> bytes:
    """RSS 2.0 or Atom for one sample feed; item times are relative to ``now``."""
    items = feed["items"]
    if feed["format"] == "atom":
        parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
                 f'xml:lang="{feed["language"]}"><title>{escape(feed["name"])}</title>'
                 f'<id>urn:demo:{escape(feed["path"])}</id><updated>{now.isoformat()}</updated>']
        for it in items:
            when = (now - timedelta(hours=it["hours_ago"])).isoformat()
            parts.append(f'<entry><title>{escape(it["title"])}</title><link href={quoteattr(it["link"])}/>'
                         f'<id>{escape(it["link"])}</id><updated>{when}</updated>'
                         f'<summary>{escape(it["summary"])}</summary></entry>')
        parts.append("</feed>")
    else:
        parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
                 f'<title>{escape(feed["name"])}</title><link>https://example.org/</link>'
                 f'<language>{feed["language"]}</language>']
        for it in items:
            when = format_datetime(now - timedelta(hours=it["hours_ago"]))
            parts.append(f'<item><title>{escape(it["title"])}</title><link>{escape(it["link"])}</link>'
                         f'<guid>{escape(it["link"])}</guid><pubDate>{when}</pubDate>'
                         f'<description>{escape(it["summary"])}</description></item>')
        parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, bodies: dict[str, bytes]):
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = bodies.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

        super().__init__(("127.0.0.1", 0), Handler)


def _shipped(name: str) -> Path:
    for base in (Path.cwd(), REPO):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"cannot find the shipped {name}/ directory (run from the news-monitor checkout)")


def _digest_as_text(cfg: Any, md_path: Path) -> str:
    """The digest written to ``md_path``, rendered as plain text for the terminal (no Markdown escapes)."""
    from monitor.analysis.watchlists import load_watchlists
    from monitor.delivery.digest import build_digest
    from monitor.delivery.render import render_text
    from monitor.store import open_store

    wl = next(w for w in load_watchlists(cfg.watchlists)[0] if w.name == md_path.parent.name)
    st = open_store(cfg.database)
    try:
        row = st.ledger.find(wl.name, "markdown", str(md_path))
        if row is None:
            return md_path.read_text(encoding="utf-8")
        d, _ = build_digest(st, wl.name, wl.title, wl.digest.timezone, "markdown", row.period_end,
                            item_ids=list(row.item_ids), period_start=row.period_start)
    finally:
        st.close()
    return render_text(d)


def run_demo(workdir: Path | None = None) -> int:
    from monitor.analysis import argos_models
    from monitor.cli.output import run_once
    from monitor.config import load_config

    spec = json.loads(DATA.read_text(encoding="utf-8"))
    now = datetime.now(timezone.utc)
    server = _Server({f["path"]: render_feed(f, now) for f in spec["feeds"]})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    root = workdir or Path(tempfile.mkdtemp(prefix="news-monitor-demo-"))
    try:
        shutil.copytree(_shipped("watchlists"), root / "watchlists", dirs_exist_ok=True)
        shutil.copytree(_shipped("seeds"), root / "seeds", dirs_exist_ok=True)
        feeds = "\n".join(f"  - name: {json.dumps(f['name'])}\n    url: {base}{f['path']}" for f in spec["feeds"])
        (root / "config.yaml").write_text(
            "# written by `monitor demo`\n"
            "database: state/monitor.db\nwatchlists: watchlists\nseeds: seeds\n"
            "digests: digests\nmodels: state/models\n"
            "fetch:\n  timeout: 10s\n  allow_private_networks: true\n"
            "translation:\n  target: en\n  pairs: [ru-en]\n"
            f"feeds:\n{feeds}\n", encoding="utf-8")
        cfg = load_config(root / "config.yaml")
        print(f"news-monitor demo in {root}")
        print(f"sample feeds served at {base}: " + ", ".join(f["name"] for f in spec["feeds"]))
        for path in argos_models.bundled_models():
            info = argos_models.install_from_file(path, cfg.models)
            print(f"installed the bundled {info.from_code}->{info.to_code} test model "
                  "(a tiny model trained on the project's own corpus: fine for the demo, not for real news)")
        print()
        rc = run_once(cfg, in_order=True)  # the same demo every time
        digests = sorted(cfg.digests.rglob("*.md"))
        print()
        if digests:
            print("Digests written:")
            for d in digests:
                print(f"  {d}")
            print(f"\n--- {digests[0].parent.name}, as the plain-text part of its e-mail (the .md file is "
                  "Markdown) ---")
            print(_digest_as_text(cfg, digests[0]))
        print(f"Explore: monitor --config {root / 'config.yaml'} items --json | feeds | watchlist test NAME")
        return rc
    finally:
        server.shutdown()
        server.server_close()
