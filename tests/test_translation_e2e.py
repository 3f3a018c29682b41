"""End to end through the real CLI: kk, uz-Cyrl and tg feeds served on 127.0.0.1 come out in
English in the Markdown digest through the multilingual fixture, an ru feed through the Argos
path, in one `monitor run --once`; items stored before a model existed are translated and
matched once it is installed, without re-sending what was already delivered."""

from __future__ import annotations

from pathlib import Path

from monitor.analysis.argos_models import bundled_models
from monitor.analysis.multilingual_models import bundled_multilingual
from tests.support.feedserver import Route, rss

WATCHLIST = """\
name: region-english
title: Region news, matched in English only
fields: both
threshold: 1
query:
  any:
    - {term: decree, weight: 1}
    - {term: phone, weight: 1}
    - {term: Dushanbe, weight: 1}
    - {term: parade, weight: 1}
    - {term: earthquake, weight: 1}
digest:
  schedule: "0 7 * * *"
  formats: [markdown]
  mode: digest
"""

FEEDS = {
    "kk": [{"title": "Тоқаев Қытай басшысымен телефон арқылы сөйлесті.", "guid": "kk-1",
            "link": "https://kk.example.org/1", "description": "Алматыда жер сілкінісі болды.",
            "pubDate": "Mon, 30 Nov 2026 08:00:00 GMT"}],
    "uz": [{"title": "Мирзиёев фармон имзолади.", "guid": "uz-1", "link": "https://uz.example.org/1",
            "description": "Мирзиёев Тошкентга келди.", "pubDate": "Mon, 30 Nov 2026 08:00:00 GMT"}],
    "tg": [{"title": "Дар Душанбе ҷашни Наврӯз таҷлил шуд.", "guid": "tg-1", "link": "https://tg.example.org/1",
            "description": "Ҳукумат нархи сӯзишвориро баланд кард.", "pubDate": "Mon, 30 Nov 2026 08:00:00 GMT"}],
    "ru": [{"title": "Токаев прибыл в Москву на парад Победы.", "guid": "ru-1", "link": "https://ru.example.org/1",
            "description": "Кремль подтвердил визит.", "pubDate": "Mon, 30 Nov 2026 08:00:00 GMT"}],
}
ENGLISH = {
    "kk": "Tokayev spoke with the Chinese leader by phone.",
    "uz": "Mirziyoyev signed a decree.",
    "tg": "Navruz was celebrated in Dushanbe.",
}


def _setup(project, feed_server, langs: list[str]) -> None:
    (project.root / "watchlists" / "region-english.yaml").write_text(WATCHLIST, encoding="utf-8")
    feeds = []
    for lang in langs:
        feed_server.routes[f"/{lang}.xml"] = Route(rss(FEEDS[lang], language=lang))
        feeds.append({"name": f"{lang} desk", "url": feed_server.url(f"/{lang}.xml"), "language": lang})
    project.write_config(feeds, translation={"pairs": ["ru-en"], "install_missing": False})


def _install(project) -> tuple[str, str]:
    ru_en = next(p for p in bundled_models() if p.name.startswith("translate-ru_en-"))
    tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    a = project.cli("models", "install", "--file", str(ru_en))
    b = project.cli("models", "install", "--multilingual", str(tiny))
    return a.stdout + a.stderr, b.stdout + b.stderr


def _digest(project) -> str:
    files = project.digests("region-english")
    assert files, "no digest written"
    return files[-1].read_text(encoding="utf-8")


def test_region_feeds_come_out_in_english_in_one_run(project, feed_server) -> None:
    _setup(project, feed_server, ["kk", "uz", "tg", "ru"])
    argos_out, multi_out = _install(project)
    assert "warning" in argos_out and "TEST MODEL" in argos_out
    assert "warning" in multi_out and "TEST MODEL" in multi_out
    listing = project.cli("models", "list").stdout
    for line in ("kk        multilingual  multilingual-tiny@1.0", "uz-Cyrl   multilingual  multilingual-tiny@1.0",
                 "tg        multilingual  multilingual-tiny@1.0", "ru        argos         translate-ru_en-1_0@1.0"):
        assert line in listing, listing
    assert "uk: no model uk->en (multilingual-tiny does not know uk)" in listing

    project.cli("run", "--once")
    items = {i["feed"]: i for i in project.items()}
    for lang, english in ENGLISH.items():
        item = items[f"{lang} desk"]
        assert item["title_translated"] == english, item
        assert item["translation_status"] == "translated"
        assert "region-english" in item["matches"]
    assert items["uz desk"]["language_script"] == "Cyrl"
    assert items["kk desk"]["summary_translated"] == "An earthquake struck Almaty."
    ru = items["ru desk"]
    assert ru["translation_status"] == "translated" and "Tokayev" in ru["title_translated"]
    md = _digest(project)
    for english in ENGLISH.values():
        assert english in md, md
    assert ru["title_translated"] in md


def test_items_stored_without_a_model_are_translated_once_it_is_installed(project, feed_server) -> None:
    _setup(project, feed_server, ["kk", "ru"])
    ru_en = next(p for p in bundled_models() if p.name.startswith("translate-ru_en-"))
    project.cli("models", "install", "--file", str(ru_en))
    project.cli("run", "--once")
    items = {i["feed"]: i for i in project.items()}
    kk = items["kk desk"]
    assert kk["translation_status"].startswith("unavailable: no model kk->en")
    assert kk["title_translated"] is None and kk["matches"] == []  # "phone" is only in the translation
    first = _digest(project)
    assert items["ru desk"]["title_translated"] in first
    n_digests = len(project.digests("region-english"))

    tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    out = project.cli("models", "install", "--multilingual", str(tiny)).stdout
    assert "1 stored item(s) wait for this model (kk: 1)" in out

    project.cli("run", "--once")
    kk = {i["feed"]: i for i in project.items()}["kk desk"]
    assert kk["title_translated"] == ENGLISH["kk"] and kk["translation_status"] == "translated"
    assert "region-english" in kk["matches"]
    files = project.digests("region-english")
    assert len(files) == n_digests + 1
    second = files[-1].read_text(encoding="utf-8")
    assert ENGLISH["kk"] in second
    assert items["ru desk"]["title_translated"] not in second  # delivered before: not sent again
    # nothing waits any more: a third run translates nothing and writes no digest
    out3 = project.cli("run", "--once").stdout
    assert "Translated" not in out3
    assert len(project.digests("region-english")) == n_digests + 1


def test_non_commercial_licence_needs_the_acknowledgement_flag(project, tmp_path: Path) -> None:
    import shutil

    project.write_config([])
    tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    conv = tmp_path / "nllb-converted"
    shutil.copytree(tiny, conv)
    (conv / "manifest.json").unlink()  # as ct2-transformers-converter leaves it: NLLB, CC-BY-NC
    refused = project.cli("models", "install", "--multilingual", str(conv), check=False)
    assert refused.returncode == 1
    assert "cc-by-nc-4.0" in refused.stderr and "--accept-license cc-by-nc-4.0" in refused.stderr
    assert "NonCommercial" in refused.stderr
    assert "nllb-converted" not in project.cli("models", "list").stdout
    ok = project.cli("models", "install", "--multilingual", str(conv), "--accept-license", "cc-by-nc-4.0")
    assert "licence: cc-by-nc-4.0" in ok.stdout and "non-commercial" in ok.stdout.lower()
    assert "TEST MODEL" not in ok.stderr
    listing = project.cli("models", "list").stdout
    assert "nllb-converted" in listing and "cc-by-nc-4.0" in listing


def test_check_warns_about_languages_without_a_model(project, feed_server) -> None:
    feed_server.routes["/kk.xml"] = Route(rss(FEEDS["kk"], language="kk"))
    project.write_config([{"name": "kk desk", "url": feed_server.url("/kk.xml"), "language": "kk"}],
                         translation={"pairs": ["ru-en"]})
    out = project.cli("check").stdout
    assert "warning: kk (feed 'kk desk'" in out and "no model kk->en" in out and "--multilingual" in out
    assert "warning: ru (translation.pairs)" in out and "monitor models install ru en" in out
    assert "ok:" in out


def test_running_daemon_translates_waiting_items_after_an_install(project, feed_server) -> None:
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    _setup(project, feed_server, ["kk"])
    project.write_config([{"name": "kk desk", "url": feed_server.url("/kk.xml"), "language": "kk",
                           "interval": "1s"}], translation={"pairs": [], "install_missing": False})
    env = dict(os.environ, MONITOR_LOG_LEVEL="INFO")
    env.pop("MONITOR_CONFIG", None)
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run"],
                            cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db = project.root / "state" / "monitor.db"

    def row() -> tuple | None:
        if not db.exists():
            return None
        try:
            with sqlite3.connect(db, timeout=5) as conn:
                return conn.execute("SELECT translation_status, title_translated, "
                                    "(SELECT COUNT(*) FROM matches WHERE item_id = items.id) "
                                    "FROM items WHERE guid = 'kk-1'").fetchone()
        except sqlite3.OperationalError:  # the daemon is still creating the schema
            return None

    def wait(pred, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            if proc.poll() is not None:
                raise AssertionError(proc.communicate()[1][-3000:])
            time.sleep(0.2)
        raise AssertionError(f"condition not met in time; item: {row()}")

    try:
        wait(lambda: (r := row()) is not None and r[0].startswith("unavailable: no model kk->en"))
        assert row()[1:] == (None, 0)
        tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
        project.cli("models", "install", "--multilingual", str(tiny))  # while the daemon runs
        wait(lambda: (r := row()) is not None and r[0] == "translated")
        assert row()[1:] == (ENGLISH["kk"], 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "translated 1 stored item(s) with newly installed models" in err


def test_bad_routing_config_names_file_line_and_key(project) -> None:
    project.write_config([], translation={"prefer": ["argos", "nllb"], "languages": {"kk": "deepl", "Kazakh": ["argos"]},
                                          "download_timeout": "soon"})
    res = project.cli("check", check=False)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "config.yaml:" in out
    assert "translation.prefer" in out and "unknown model kind 'nllb'" in out
    assert "translation.languages.kk" in out and "unknown model kind 'deepl'" in out
    assert "translation.languages.Kazakh" in out
    assert "translation.download_timeout" in out


def test_waiting_items_are_translated_in_bounded_rounds(project, feed_server) -> None:
    from monitor.config import load_config
    from monitor.service.pipeline import open_services
    from monitor.service.retranslate import translate_waiting, waiting_counts

    _setup(project, feed_server, ["kk", "tg", "uz"])
    project.write_config([{"name": f"{c} desk", "url": feed_server.url(f"/{c}.xml"), "language": c}
                          for c in ("kk", "tg", "uz")], translation={"pairs": [], "install_missing": False})
    project.cli("run", "--once")
    tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    project.cli("models", "install", "--multilingual", str(tiny))
    svc = open_services(load_config(project.config))
    try:
        assert waiting_counts(svc.store) == {"kk": 1, "tg": 1, "uz-Cyrl": 1}
        first = translate_waiting(svc, limit=2)
        assert (first.translated, first.waiting, first.more) == (2, 1, True)
        second = translate_waiting(svc, limit=2)
        assert (second.translated, second.waiting, second.more) == (1, 0, False)
        assert translate_waiting(svc, limit=2).translated == 0
        assert first.matched + second.matched == 3  # phone, Dushanbe, decree: only in the English
    finally:
        svc.close()
