"""The store backends the contract suite (test_store_contract.py) runs against.

A second backend is one more name in STORE_BACKENDS and one more branch in ``open_backend``
(and ``set_schema_version`` for the schema-too-new case)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pgcluster import Database

from monitor.store import Store, open_store

STORE_BACKENDS = ["sqlite", "postgres"]


def _postgres(where: Path) -> Database:
    """The PostgreSQL database of the state under ``where`` (made on first use, named in a file
    there, so opening ``where`` again reaches the same database); skips when no server can be had."""
    import pytest
    from pgcluster import ClusterUnavailable, shared

    note = where / "postgres.json"
    if note.exists():
        return Database(**json.loads(note.read_text()))
    try:
        db = shared().new_database("contract")
    except ClusterUnavailable as e:
        pytest.skip(f"PostgreSQL half skipped: {e}")
    note.write_text(json.dumps({"url": db.url, "password": db.password, "name": db.name}))
    return db


def open_backend(backend: str, where: Path) -> Store:
    """A store of ``backend`` whose state lives under the folder ``where`` (opened again with the
    same arguments, the same state: a second connection, as another process has)."""
    if backend == "sqlite":
        return open_store(where / "state.db")
    if backend == "postgres":
        db = _postgres(where)
        return open_store(db.url, password=db.password)
    raise ValueError(f"unknown backend {backend}")


def set_schema_version(backend: str, where: Path, version: int) -> None:
    """Mark the state as written by a schema ``version`` (to test the schema-too-new refusal)."""
    if backend == "sqlite":
        with sqlite3.connect(where / "state.db") as conn:
            conn.execute(f"PRAGMA user_version={int(version)}")
        return
    if backend == "postgres":
        import psycopg

        with psycopg.connect(_postgres(where).dsn, autocommit=True) as pg:
            pg.execute("UPDATE schema_version SET version = %s", (int(version),))
        return
    raise ValueError(f"unknown backend {backend}")
