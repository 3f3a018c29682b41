"""The translation-only worker (issue 18): poll workers with ``translation.remote: true`` store
kk/ru items untranslated in a shared PostgreSQL store, a ``monitor run --translate-only`` worker
translates them with the bundled tiny multilingual model (real CTranslate2 inference on CPU) and
re-decides stories and matches, and the next digest shows the translations, every story once.
Two translation workers never claim one item; ``translation.device: cuda`` without a CUDA device
is a clear error (the only CUDA path testable without a GPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from pgcluster import Database
from test_daemon import wait_until

from monitor.analysis.multilingual_models import bundled_multilingual
from monitor.store.api import WAITING_FOR_WORKER
from tests.support.feedserver import Route, rss

WATCHLIST = """\
name: leaders
title: Leaders, matched in English only
query:
  any: [Moscow, phone, Astana]
digest:
  schedule: "0 7 * * *"
  formats: [markdown]
  mode: digest
"""
FEEDS = {
    "kk": [{"title": "Тоқаев Мәскеуге келді.", "guid": "kk-1", "link": "https://kk.example.org/1",
            "pubDate": "Mon, 30 Nov 2026 08:00:00 GMT"},
           {"title": "Тоқаев Қытай басшысымен телефон арқылы сөйлесті.", "guid": "kk-2",
            "link": "https://kk.example.org/2", "pubDate": "Mon, 30 Nov 2026 09:00:00 GMT"}],
    "ru": [{"title": "Токаев прибыл в Москву.", "guid": "ru-1", "link": "https://ru.example.org/1",
            "pubDate": "Mon, 30 Nov 2026 08:30:00 GMT"},
           {"title": "Мирзиёев прибыл в Астану.", "guid": "ru-2", "link": "https://ru.example.org/2",
            "pubDate": "Mon, 30 Nov 2026 10:00:00 GMT"}],
}
ENGLISH = {"kk-1": "Tokayev arrived in Moscow.", "kk-2": "Tokayev spoke with the Chinese leader by phone.",
           "ru-1": "Tokayev arrived in Moscow.", "ru-2": "Mirziyoyev arrived in Astana."}


def _cuda_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def _setup(project, feed_server, db: Database | None, **translation: object) -> None:
    for p in (project.root / "watchlists").glob("*.yaml"):
        p.unlink()
    (project.root / "watchlists" / "leaders.yaml").write_text(WATCHLIST, encoding="utf-8")
    feeds = []
    for lang, items in FEEDS.items():
        feed_server.routes[f"/{lang}.xml"] = Route(rss(items, language=lang))
        feeds.append({"name": f"{lang} desk", "url": feed_server.url(f"/{lang}.xml"), "language": lang})
    if db is not None:
        project.use_postgres(db)
    project.write_config(feeds, translation={"pairs": [], "install_missing": False, "prefer": ["multilingual"],
                                             **translation})


def _start_translation_worker(project, db: Database) -> subprocess.Popen:
    env = dict(os.environ, MONITOR_LOG_LEVEL="INFO", MONITOR_LEASE_SECONDS="4", **db.env)
    env.pop("MONITOR_CONFIG", None)
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.Popen([sys.executable, "-m", "monitor", "--config", str(project.config), "run",
                             "--translate-only"], cwd=project.root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


def test_translation_only_worker_serves_the_poll_workers(project, feed_server, pg_database) -> None:
    _setup(project, feed_server, pg_database, remote=True)
    tiny = next(p for p in bundled_multilingual() if p.name == "multilingual-tiny")
    project.cli("models", "install", "--multilingual", str(tiny))  # here, yet the poll worker must not use it
    first = project.cli("run", "--once")
    assert "digest leaders (markdown): nothing new" in first.stdout  # the English words are not there yet
    stored = {i["title"]: i for i in project.items() if i["feed"] in ("kk desk", "ru desk")}
    assert len(stored) == 4
    for item in stored.values():
        assert item["translation_status"] == WAITING_FOR_WORKER
        assert item["title_translated"] is None and item["matches"] == []

    worker = _start_translation_worker(project, pg_database)
    try:
        def all_translated() -> bool:
            if worker.poll() is not None:
                raise AssertionError(worker.communicate()[1][-3000:])
            return all(i["translation_status"] == "translated" for i in project.items()
                       if i["feed"] in ("kk desk", "ru desk"))

        wait_until(all_translated, timeout=90, step=0.5)
        status = project.cli("status").stdout
    finally:
        err = _stop(worker)
    assert worker.returncode == 0, err[-3000:]
    assert f":{worker.pid}:" in status and "(translate)" in status, status
    guids = {it["link"]: it["guid"] for items in FEEDS.values() for it in items}
    by_guid = {guids[i["link"]]: i for i in project.items() if i["feed"] in ("kk desk", "ru desk")}
    for guid, english in ENGLISH.items():
        assert by_guid[guid]["title_translated"] == english
        assert by_guid[guid]["matches"] == ["leaders"]
    # the Russian report of Tokayev's arrival is the Kazakh one's story (found through the translations)
    assert by_guid["ru-1"]["story_id"] == by_guid["kk-1"]["story_id"]
    assert by_guid["ru-1"]["duplicate_kind"] == "story" and by_guid["ru-1"]["duplicate_of"] == by_guid["kk-1"]["id"]

    second = project.cli("run", "--once")  # a poll worker delivers: the digest carries the translations
    assert "digest leaders (markdown): 3 stories" in second.stdout, second.stdout
    digest = project.digests("leaders")[-1].read_text(encoding="utf-8")
    headings = [ln.split(". ", 1)[1] for ln in digest.splitlines() if ln.startswith("## ")]
    assert sorted(headings) == sorted(set(ENGLISH.values()))  # every story once, in English
    # one of the two reports leads (the higher score), the other is listed under it
    kk_leads = ("*Original (kk):* Тоқаев Мәскеуге келді." in digest
                and "**Also reported by:** [ru desk](https://ru.example.org/1) (ru)" in digest)
    ru_leads = ("*Original (ru):* Токаев прибыл в Москву." in digest
                and "**Also reported by:** [kk desk](https://kk.example.org/1) (kk)" in digest)
    assert kk_leads or ru_leads, digest
    assert project.cli("run", "--once").stdout.count("nothing new") == 1  # delivered once, not again


def test_two_translation_workers_never_claim_one_item(postgres_store) -> None:
    """Claims on the real server: disjoint while held, renewed by their holder, free once expired."""
    from monitor.store import NewItem

    st = postgres_store
    feed = st.feeds.sync([("https://kk.example.org/feed", "kk desk")])["https://kk.example.org/feed"]
    first = st.items.reserve_ids(5)
    rows = [NewItem(id=first + i, feed_id=feed, guid=f"g{i}", link=None, canonical_url=None, title=f"Тоқаев {i}",
                    summary="", author=None, published=None, fetched=1.0, language="kk", language_confidence=1.0,
                    language_script="Cyrl", language_uncertain=False, content_hash=f"h{i}", title_translated=None,
                    summary_translated=None, translated_to=None, translation_status=WAITING_FOR_WORKER,
                    duplicate_of=None, duplicate_kind=None, duplicate_similarity=None, duplicate_seed=None,
                    summary_short=None, story_id=first + i, fingerprints=())
            for i in range(5)]
    with st.transaction():
        st.items.apply(rows)
    leases = st.leases
    for w in ("a", "b"):
        leases.register(w, "host", 1, "translate")
    got_a = [r.id for r in leases.claim_translations("a", "kk", "Cyrl", 3, lease=60, now=100.0)]
    got_b = [r.id for r in leases.claim_translations("b", "kk", "Cyrl", 3, lease=60, now=100.0)]
    assert len(got_a) == 3 and len(got_b) == 2 and not set(got_a) & set(got_b)
    assert leases.claim_translations("b", "kk", "Cyrl", 3, lease=60, now=101.0)[0].id == got_b[0]  # its own again
    assert {r.id for r in leases.claim_translations("a", "kk", "Cyrl", 5, lease=60, now=102.0)} == set(got_a)
    # a's claims run out (a was killed): b takes its items
    taken = {r.id for r in leases.claim_translations("b", "kk", "Cyrl", 5, lease=60, now=200.0)}
    assert taken == set(got_a) | set(got_b)
    leases.release_translations("b", sorted(taken))
    st.items.set_translation(got_a[0], "Tokayev 0", None, "en", "translated")  # no longer waiting
    left = {r.id for r in leases.claim_translations("a", "kk", "Cyrl", 5, lease=60, now=201.0)}
    assert left == (set(got_a) | set(got_b)) - {got_a[0]}


def test_remote_translation_needs_postgresql_and_device_is_checked(project) -> None:
    project.write_config([], translation={"remote": True, "device": "gpu"})
    res = project.cli("check", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "translation.remote" in out and "needs a shared PostgreSQL database" in out
    assert "translation.device" in out and "expected cpu, cuda or auto, got 'gpu'" in out


@pytest.mark.skipif(_cuda_devices() > 0, reason="this machine has a CUDA device: no error to see")
def test_cuda_without_a_cuda_device_is_a_clear_error(project) -> None:
    from monitor import ModelError
    from monitor.analysis.translate import Translator, resolve_device

    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    with pytest.raises(ModelError, match="translation.device is cuda, but CTranslate2 finds no CUDA device"):
        Translator(None, project.root / "models", device="cuda")
    project.write_config([], translation={"device": "cuda", "pairs": []})
    check = project.cli("check", check=False)
    assert check.returncode == 1
    assert "translation.device is cuda, but CTranslate2 finds no CUDA device" in check.stdout
    for args in (("run", "--once"), ("run", "--translate-only")):
        res = project.cli(*args, check=False, timeout=60)
        assert res.returncode == 1, res.stderr
        assert "error: translation.device is cuda, but CTranslate2 finds no CUDA device" in res.stderr
        assert "Traceback" not in res.stderr
    project.write_config([], translation={"device": "auto", "pairs": []})
    assert project.cli("check").returncode == 0
