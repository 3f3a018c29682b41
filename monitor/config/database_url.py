"""Where the state lives: a SQLite file (the default) or a PostgreSQL server's URL.

``database:`` in config.yaml is a path, or ``postgresql://user@host[:port]/dbname``. The password
never comes from YAML: ``MONITOR_DATABASE_PASSWORD``, else ``$CREDENTIALS_DIRECTORY/database-password``
(systemd's ``LoadCredential=database-password:...``); a URL that carries one is refused.
Pure parsing; connecting is the store's business (monitor.store).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from monitor.config.credentials import secret

PASSWORD_VARIABLE = "MONITOR_DATABASE_PASSWORD"
PASSWORD_CREDENTIAL = "database-password"
SCHEMES = ("postgresql", "postgres")
_DBNAME = re.compile(r"^[A-Za-z0-9_.$-]{1,63}$")


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL server and database; ``password`` comes from the environment or the credential
    file (``with_password``), never from the URL, and is neither printed nor compared."""

    user: str
    host: str
    port: int
    dbname: str
    password: str | None = field(default=None, repr=False, compare=False)

    def with_password(self, env: Mapping[str, str] = os.environ) -> PostgresUrl:
        return PostgresUrl(self.user, self.host, self.port, self.dbname, database_password(env))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{self.user}@{host}:{self.port}/{self.dbname}"

    def __str__(self) -> str:
        return self.url


def is_postgres_url(value: str) -> bool:
    return value.split("://", 1)[0].lower() in SCHEMES if "://" in value else False


def parse_postgres_url(value: str) -> PostgresUrl:
    """``postgresql://user@host[:port]/dbname`` -> PostgresUrl; ValueError saying what is wrong."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a PostgreSQL URL ({e}): expected postgresql://user@host[:port]/dbname") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(f"expected postgresql://user@host[:port]/dbname, got {value!r}")
    if parts.password is not None:
        raise ValueError("a password does not belong in config.yaml: set MONITOR_DATABASE_PASSWORD or use "
                         "systemd's LoadCredential=database-password:...")
    if not parts.username:
        raise ValueError(f"the URL names no user: expected postgresql://user@host[:port]/dbname, got {value!r}")
    if not parts.hostname:
        raise ValueError(f"the URL names no host: expected postgresql://user@host[:port]/dbname, got {value!r}")
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or not _DBNAME.match(dbname):
        raise ValueError(f"the URL names no database (or an odd one): expected postgresql://user@host[:port]/dbname, "
                         f"got {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"query parameters are not supported in the database URL, got {value!r}")
    return PostgresUrl(user=unquote(parts.username), host=parts.hostname, port=port or 5432, dbname=dbname)


def database_password(env: Mapping[str, str] = os.environ) -> str | None:
    """MONITOR_DATABASE_PASSWORD, else $CREDENTIALS_DIRECTORY/database-password; None when neither is set."""
    return secret(PASSWORD_VARIABLE, PASSWORD_CREDENTIAL, env)
