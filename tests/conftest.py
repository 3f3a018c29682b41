"""Shared fixtures: a real feed server on 127.0.0.1 and a temporary project directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pgcluster import ClusterUnavailable, Database, Server, shared

from tests.support.feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """A PostgreSQL server for the session (tests/pgcluster.py); the test skips, saying why, when none
    can be started."""
    try:
        yield shared()  # stopped at the end of the session
    except ClusterUnavailable as e:
        pytest.skip(f"PostgreSQL half skipped: {e}")


@pytest.fixture
def pg_database(postgres_server: Server) -> Database:
    """A fresh, empty PostgreSQL database of this test's own."""
    return postgres_server.new_database()


@pytest.fixture
def postgres_store(pg_database: Database) -> Iterator[object]:
    """The store (monitor.store.postgres) on a fresh PostgreSQL database, closed after the test."""
    from monitor.store import open_store

    st = open_store(pg_database.url, password=pg_database.password)
    try:
        yield st
    finally:
        st.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    srv = FeedServer().start()
    try:
        yield srv
    finally:
        srv.stop()


class Project:
    """A temporary deployment: config.yaml, the shipped watchlists and seeds, a state dir."""

    def __init__(self, root: Path):
        self.root = root
        shutil.copytree(ROOT / "watchlists", root / "watchlists")
        shutil.copytree(ROOT / "seeds", root / "seeds")
        self.config = root / "config.yaml"
        self.database: Database | None = None  # PostgreSQL instead of state/monitor.db

    def use_postgres(self, db: Database) -> None:
        """Point this deployment's ``database:`` at ``db``; its CLI runs get the password."""
        self.database = db

    def write_config(self, feeds: list[dict], **extra: object) -> Path:
        import yaml as _yaml  # PyYAML is only used to *write* test configs

        doc = {"database": "state/monitor.db", "watchlists": "watchlists", "seeds": "seeds",
               "digests": "state/digests", "models": "state/models", "feeds": feeds,
               "fetch": {"timeout": "3s", "concurrency": 8, "allow_private_networks": True},
               "translation": {"pairs": ["ru-en"]}}
        if self.database is not None:
            doc["database"] = self.database.url
        doc.update(extra)
        self.config.write_text(_yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return self.config

    def cli(self, *args: str, check: bool = True, timeout: float = 120, env: dict | None = None
            ) -> subprocess.CompletedProcess:
        e = dict(os.environ)
        e.pop("MONITOR_CONFIG", None)
        if self.database is not None:
            e.update(self.database.env)
        e.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "monitor", "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=self.root, env=e)
        if check and proc.returncode != 0:
            raise AssertionError(f"monitor {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def items(self, *args: str) -> list[dict]:
        return json.loads(self.cli("items", "--json", *args).stdout)

    def digests(self, watchlist: str) -> list[Path]:
        d = self.root / "state" / "digests" / watchlist
        return sorted(d.glob("*.md")) if d.is_dir() else []


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def any_project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    """A deployment on each backend: SQLite, then PostgreSQL (skipped, saying why, without a server)."""
    p = Project(tmp_path)
    if request.param == "postgres":
        p.use_postgres(request.getfixturevalue("pg_database"))
    return p
