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
from feedserver import FeedServer

ROOT = Path(__file__).resolve().parent.parent


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

    def write_config(self, feeds: list[dict], **extra: object) -> Path:
        import yaml as _yaml  # PyYAML is only used to *write* test configs

        doc = {"database": "state/monitor.db", "watchlists": "watchlists", "seeds": "seeds",
               "digests": "state/digests", "models": "state/models", "feeds": feeds,
               "fetch": {"timeout": "3s", "concurrency": 8, "allow_private_networks": True},
               "translation": {"pairs": ["ru-en"]}}
        doc.update(extra)
        self.config.write_text(_yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
        return self.config

    def cli(self, *args: str, check: bool = True, timeout: float = 120, env: dict | None = None
            ) -> subprocess.CompletedProcess:
        e = dict(os.environ)
        e.pop("MONITOR_CONFIG", None)
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
