"""The store backends the contract suite (test_store_contract.py) runs against.

A second backend is one more name in STORE_BACKENDS and one more branch in ``open_backend``
(and ``set_schema_version`` for the schema-too-new case)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from monitor.store import Store, open_store

STORE_BACKENDS = ["sqlite"]


def open_backend(backend: str, where: Path) -> Store:
    """A store of ``backend`` whose state lives under the folder ``where`` (opened again with the
    same arguments, the same state: a second connection, as another process has)."""
    if backend == "sqlite":
        return open_store(where / "state.db")
    raise ValueError(f"unknown backend {backend}")


def set_schema_version(backend: str, where: Path, version: int) -> None:
    """Mark the state as written by a schema ``version`` (to test the schema-too-new refusal)."""
    if backend == "sqlite":
        with sqlite3.connect(where / "state.db") as conn:
            conn.execute(f"PRAGMA user_version={int(version)}")
        return
    raise ValueError(f"unknown backend {backend}")
