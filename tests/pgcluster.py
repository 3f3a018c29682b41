"""A throw-away PostgreSQL cluster for the tests (initdb + pg_ctl in a temp dir).

``start_cluster()`` finds the server binaries (``initdb``/``pg_ctl`` on PATH, else
``/usr/lib/postgresql/*/bin``), initialises a cluster in a temporary directory, and starts it on
127.0.0.1 with a free port and its unix socket inside that directory. TCP connections need a
password (scram-sha-256), so the tests exercise the same password path as a deployment.

initdb refuses to run as root; CI runs as root. Then the cluster runs as the ``postgres`` user
(Debian's package creates it), or as a system user made for the purpose, through ``runuser``.

``MONITOR_TEST_POSTGRES_URL`` (``postgresql://user:password@host:port/db``, a role allowed to
create databases) uses an existing server instead. Every test gets a database of its own
(``new_database()``), dropped at the end of the session.

When no server can be had, ``ClusterUnavailable`` says why: the tests skip their PostgreSQL half
with that reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

USER = "monitor"
PASSWORD = "monitor-test-password"
_SYSTEM_USER = "monitor-pgtest"


class ClusterUnavailable(RuntimeError):
    """No PostgreSQL server can be started or reached; the message says why."""


@dataclass(frozen=True)
class Database:
    """One test database: the URL config.yaml takes (no password), and the password apart."""

    url: str  # postgresql://monitor@127.0.0.1:PORT/NAME
    password: str
    name: str

    @property
    def dsn(self) -> str:
        """The URL with the password in it, for the test's own connections."""
        p = urlsplit(self.url)
        netloc = f"{quote(p.username or '', safe='')}:{quote(self.password, safe='')}@{p.hostname}"
        if p.port:
            netloc += f":{p.port}"
        return urlunsplit((p.scheme, netloc, p.path, p.query, ""))

    @property
    def env(self) -> dict[str, str]:
        """The environment a ``monitor`` subprocess needs to connect."""
        return {"MONITOR_DATABASE_PASSWORD": self.password}


@dataclass
class Server:
    """A running server: the admin URL (with password) and the databases made on it."""

    admin_dsn: str
    host: str
    port: int
    user: str
    password: str
    _stop: list = field(default_factory=list)
    _made: list[str] = field(default_factory=list)

    def new_database(self, prefix: str = "t") -> Database:
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.user}"')
        self._made.append(name)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return Database(url=f"postgresql://{self.user}@{host}:{self.port}/{name}", password=self.password, name=name)

    def stop(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                for name in self._made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass
        for fn in reversed(self._stop):
            fn()


def _binaries() -> Path:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]) if
                  d.split("/")[-2].isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    raise ClusterUnavailable("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under "
                             "/usr/lib/postgresql/*/bin: install Debian's postgresql package, or set "
                             "MONITOR_TEST_POSTGRES_URL to an existing server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> str | None:
    """None when we may run initdb ourselves; else the unprivileged user to run it as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SYSTEM_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    proc = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                           _SYSTEM_USER], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ClusterUnavailable(f"running as root and no unprivileged user to run PostgreSQL as "
                                 f"(useradd failed: {proc.stderr.strip()})")
    return _SYSTEM_USER


def _cmd(user: str | None, *argv: str) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if user else list(argv)


def start_cluster() -> Server:
    """An existing server from MONITOR_TEST_POSTGRES_URL, else a fresh throw-away cluster."""
    try:
        import psycopg  # noqa: F401
    except ImportError as e:
        raise ClusterUnavailable(f"psycopg is not installed ({e})") from None
    existing = os.environ.get("MONITOR_TEST_POSTGRES_URL")
    if existing:
        return _existing(existing)
    bindir = _binaries()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    data = root / "data"
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if user:
        ent = pwd.getpwnam(user)
        os.chown(root, ent.pw_uid, ent.pw_gid)
        os.chown(pwfile, ent.pw_uid, ent.pw_gid)
    os.chmod(root, 0o700)
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    init = subprocess.run(_cmd(user, str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
                               "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"),
                          capture_output=True, text=True, env=env, cwd=root)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterUnavailable(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
    port = _free_port()
    opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
            "-c shared_buffers=64MB")
    log = root / "server.log"
    start = subprocess.run(_cmd(user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
                                "-w", "-t", "60", "start"), capture_output=True, text=True, env=env, cwd=root)
    if start.returncode != 0:
        tail = log.read_text(errors="replace")[-500:] if log.exists() else start.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterUnavailable(f"pg_ctl start failed: {tail.strip()}")

    def stop() -> None:
        subprocess.run(_cmd(user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                       capture_output=True, env=env, cwd="/")
        shutil.rmtree(root, ignore_errors=True)

    dsn = f"postgresql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/postgres"
    server = Server(admin_dsn=dsn, host="127.0.0.1", port=port, user=USER, password=PASSWORD, _stop=[stop])
    _wait_ready(server)
    return server


def _wait_ready(server: Server, deadline: float = 30.0) -> None:
    import psycopg

    end = time.monotonic() + deadline
    while True:
        try:
            with psycopg.connect(server.admin_dsn, connect_timeout=5):
                return
        except psycopg.OperationalError as e:
            if time.monotonic() > end:
                server.stop()
                raise ClusterUnavailable(f"the server started but does not accept connections: {e}") from None
            time.sleep(0.2)


def _existing(url: str) -> Server:
    import psycopg

    p = urlsplit(url)
    if p.scheme not in ("postgresql", "postgres") or not p.hostname or not p.username:
        raise ClusterUnavailable(f"MONITOR_TEST_POSTGRES_URL must be postgresql://user:password@host[:port]/db, "
                                 f"got {p.scheme}://...")
    try:
        with psycopg.connect(url, connect_timeout=10):
            pass
    except psycopg.OperationalError as e:
        raise ClusterUnavailable(f"MONITOR_TEST_POSTGRES_URL: cannot connect: {e}") from None
    return Server(admin_dsn=url, host=p.hostname, port=p.port or 5432, user=p.username, password=p.password or "")


_shared: list[Server | ClusterUnavailable] = []


def shared() -> Server:
    """One server for the whole test session (started on first use, stopped at exit); the
    ClusterUnavailable of the first try is raised again on every later call."""
    if not _shared:
        import atexit

        try:
            server = start_cluster()
        except ClusterUnavailable as e:
            _shared.append(e)
        else:
            _shared.append(server)
            atexit.register(server.stop)
    got = _shared[0]
    if isinstance(got, ClusterUnavailable):
        raise got
    return got
