"""Smaller commands through the real CLI: detect, models, watchlist test, retention."""

from __future__ import annotations

import json
import sqlite3
import time

from monitor.analysis.argos_models import bundled_models
from monitor.config import load_config
from monitor.service.pipeline import open_services, sync_seeds
from monitor.store import open_store
from tests.support.feedserver import Route, rss

RU_EN = next(m for m in bundled_models() if "ru_en" in m.name)  # the bundled Russian->English model


def test_detect_prints_json_lines(project):
    project.write_config([])
    out = project.cli("detect", "Токаев прибыл в Москву на парад Победы",
                      "Тоқаев Мәскеуде Жеңіс шеруіне қатысады", "Tokayev arrives in Moscow").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["language"] for r in rows] == ["ru", "kk", "en"]
    assert all({"language", "confidence", "script"} <= set(r) for r in rows)
    assert rows[0]["script"] == "Cyrl"


def test_models_install_from_file_and_list(project):
    project.write_config([], translation={"pairs": ["ru-en", "kk-en"]})
    out = project.cli("models", "list").stdout
    assert "no translation models installed" in out and "kk->en" in out
    out = project.cli("models", "install", "--file", str(RU_EN)).stdout
    assert "installed ru->en" in out
    out = project.cli("models", "list").stdout
    assert "ru->en" in out and "MB" in out
    assert (project.root / "state" / "models").is_dir()
    bad = project.cli("models", "install", check=False)
    assert bad.returncode == 2


def test_watchlist_test_highlights_and_changes_nothing(project, feed_server):
    feed_server.routes["/f.xml"] = Route(rss([
        {"title": "Japarov and Rahmon arrive in Moscow for the Victory Day parade", "link": "https://x.org/1",
         "guid": "1", "description": "The Kyrgyz and Tajik presidents joined Putin on Red Square."},
        {"title": "Parade in Minsk draws crowds", "link": "https://x.org/2", "guid": "2",
         "description": "Belarus held a military parade."}]))
    project.write_config([{"name": "F", "url": feed_server.url("/f.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    db = project.root / "state" / "monitor.db"
    before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM matches").fetchone()[0]
    out = project.cli("watchlist", "test", "victory-day-parade", "--since", "1d").stdout
    assert "1 of 2 stored item(s)" in out
    # "arrive in Moscow" is one highlight: the term Moscow inside the window of "visit to Moscow"
    assert "**Japarov**" in out and "**arrive in Moscow**" in out
    assert "Nearly matched" in out and "Parade in Minsk" in out
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM matches").fetchone()[0] == before


def test_retention_purges_items_but_not_fingerprints(project, feed_server):
    items = [{"title": f"Item {n} about wheat harvest and grain prices in region {n}",
              "link": f"https://x.org/{n}", "guid": f"g{n}", "description": f"Story {n} text."} for n in range(3)]
    feed_server.routes["/f.xml"] = Route(rss(items))
    project.write_config([{"name": "F", "url": feed_server.url("/f.xml")}], translation={"enabled": False})
    project.cli("run", "--once")
    cfg = load_config(project.config)
    with sqlite3.connect(cfg.database) as conn:
        conn.execute("UPDATE items SET fetched = fetched - 200 * 86400 WHERE feed_id != "
                     "(SELECT id FROM feeds WHERE url='seeds:')")
    conn.close()
    st = open_store(cfg.database)
    n = st.purge(time.time() - cfg.retention)
    assert n == 3
    st.close()
    # the purged items are still known: polling the same feed again stores nothing new
    feed_server.routes["/f.xml"] = Route(rss(items), etag='"changed"')
    project.cli("run", "--once")
    assert project.items() == []
    svc = open_services(cfg)
    try:
        assert sync_seeds(svc)[0] == 0  # seeds are not re-added either
    finally:
        svc.close()


def test_db_migrate_refuses_a_config_already_on_postgresql(project):
    # no server is reached: the command stops at the config, with one located problem
    project.write_config([], database="postgresql://monitor@127.0.0.1:9/news")
    proc = project.cli("db", "migrate", "--to", "postgresql://monitor@127.0.0.1:9/other", check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "config.yaml: database: is already postgresql://monitor@127.0.0.1:9/news: db migrate copies a SQLite state",
        "1 problem(s); the config is unusable"]
