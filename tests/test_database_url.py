"""config.yaml's ``database:`` as a PostgreSQL URL: parsing, the password sources, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import ConfigError
from monitor.config import load_config
from monitor.config.database_url import PostgresUrl, database_password, parse_postgres_url


def _config(tmp_path: Path, database: str) -> Path:
    (tmp_path / "watchlists").mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"feeds: []\ndatabase: {database}\nwatchlists: watchlists\n", encoding="utf-8")
    return cfg


def test_url_beside_the_sqlite_path(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, "postgresql://monitor@db.example.org:6432/news"))
    assert cfg.database == PostgresUrl(user="monitor", host="db.example.org", port=6432, dbname="news")
    assert str(cfg.database) == "postgresql://monitor@db.example.org:6432/news"
    assert parse_postgres_url("postgres://u@h/d").port == 5432
    other = tmp_path / "other"
    other.mkdir()
    assert load_config(_config(other, "state/monitor.db")).database == other / "state" / "monitor.db"


def test_password_in_yaml_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(_config(tmp_path, "postgresql://monitor:hunter2@db.example.org/news"))
    text = str(e.value)
    assert "config.yaml:2:" in text and "database" in text
    assert "MONITOR_DATABASE_PASSWORD" in text
    assert "hunter2" not in text


@pytest.mark.parametrize("url, says", [
    ("postgresql://db.example.org/news", "no user"),
    ("postgresql://monitor@db.example.org/", "no database"),
    ("postgresql://monitor@db.example.org:99999/news", "not a PostgreSQL URL"),
    ("postgresql://monitor@db.example.org/news?sslmode=disable", "query parameters"),
])
def test_bad_urls_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_postgres_url(url)


def test_password_sources(tmp_path: Path) -> None:
    (tmp_path / "database-password").write_text("from-file\n")
    both = {"MONITOR_DATABASE_PASSWORD": "from-env", "CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert database_password(both) == "from-env"
    assert database_password({"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-file"
    assert database_password({"CREDENTIALS_DIRECTORY": str(tmp_path / "nowhere")}) is None
    assert database_password({}) is None
