"""``monitor db migrate --to postgresql://user@host[:port]/db``: move a SQLite state to PostgreSQL.

The SQLite database named by config.yaml's ``database:`` is copied table by table (resumable:
run it again after an interruption), the counts are checked, and the command prints the line
to put in config.yaml. Stop the daemon first: the copy reads a state that must not change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from monitor import ConfigError, Problem, StoreError, relpath
from monitor.config.database_url import PostgresUrl, database_password, parse_postgres_url


def register(subparsers: Any) -> None:
    """Add ``migrate`` to the ``monitor db`` command."""
    p = subparsers.add_parser("migrate", help="copy this SQLite state to a PostgreSQL database",
                              description="Copy the SQLite state (feeds, items, fingerprints, ledger, caches, "
                                          "near-duplicate index) to PostgreSQL; resumable, counts checked. "
                                          "Password: MONITOR_DATABASE_PASSWORD or $CREDENTIALS_DIRECTORY/"
                                          "database-password.")
    p.add_argument("--to", required=True, metavar="URL", help="postgresql://user@host[:port]/dbname")
    p.set_defaults(fn=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    from monitor.config import config_path_from, load_config
    from monitor.store.postgres import PostgresStore
    from monitor.store.postgres.copy import TableCopy, copy_state
    from monitor.store.sqlite import SqliteStore

    cfg = load_config(config_path_from(args.config))
    if not isinstance(cfg.database, Path):
        raise ConfigError([Problem(relpath(cfg.path), None, None, "database",
                                   f"is already {cfg.database}: db migrate copies a SQLite state")])
    if not cfg.database.exists():
        print(f"no SQLite state at {cfg.database}: nothing to copy", file=sys.stderr)
        return 1
    try:
        target_url: PostgresUrl = parse_postgres_url(args.to)
    except ValueError as e:
        print(f"--to: {e}", file=sys.stderr)
        return 2

    def show(c: TableCopy) -> None:
        print(f"{c.table:18} {c.source:>9} rows  (+{c.copied} now)", flush=True)

    try:
        source = SqliteStore(cfg.database)
        target = PostgresStore(target_url.url, database_password())
        try:
            copy_state(source, target, progress=show)
        finally:
            source.close()
            target.close()
    except StoreError as e:
        print(f"db migrate: {e}", file=sys.stderr)
        return 1
    print(f"counts match. Now set in {cfg.path.name}:\n  database: {target_url.url}")
    return 0
