"""What the embedded server leaves on disk, read as if any of it were damaged.

Three kinds of state live in a data directory: our ``server.json`` (the
processes attached to the server), PostgreSQL's ``postmaster.pid`` and the
socket lock files. Any of them may be half-written (a kill during a write), stale
(after a reboot the pid inside may belong to another process) or garbage. The
readers here never raise on bad content: they report it, and `server` decides
how to recover. The running processes themselves are the ground truth: a
postgres process belongs to a data directory when its working directory is
that directory (PostgreSQL changes into it), so servers whose pid file is
gone can still be found and stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = [
    "STATE_FILE",
    "Attached",
    "Postmaster",
    "attached",
    "postgres_procs",
    "read_postmaster",
    "record_attached",
    "socket_dir_for",
    "socket_files",
]

STATE_FILE = "server.json"
_PORT = 5432
# PostgreSQL splits unix_socket_directories at commas and trims blanks; libpq
# limits a socket path to ~107 bytes. A data dir outside this shape gets its
# socket in a short private directory under /tmp instead.
_PLAIN = re.compile(r"[A-Za-z0-9_./-]+")
_SOCKET_MAX = 100


@dataclass(frozen=True)
class Attached:
    """A process attached to the server (pid plus start time: pids get reused)."""

    pid: int
    started: float
    name: str = ""

    @classmethod
    def me(cls) -> Attached:
        """This process."""
        me = psutil.Process()
        return cls(os.getpid(), me.create_time(), me.name())

    def alive(self) -> bool:
        """Still the same, running process (not a zombie, not a reused pid)."""
        if self.pid <= 0:
            return False
        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.started) < 1.0
            return same and proc.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.name or '?'})"


def attached(data_dir: Path) -> tuple[list[Attached], bool]:
    """The recorded processes (dead ones included) and whether the file was bad."""
    path = data_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], False
    except (OSError, ValueError):
        return [], True
    rows = raw.get("attached") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        return [], True
    found: list[Attached] = []
    damaged = False
    for row in rows:
        if (
            isinstance(row, dict)
            and isinstance(row.get("pid"), int)
            and isinstance(row.get("started"), int | float)
        ):
            name = row.get("name")
            found.append(
                Attached(
                    row["pid"], row["started"], name if isinstance(name, str) else ""
                )
            )
        else:
            damaged = True
    return found, damaged


def record_attached(data_dir: Path, procs: list[Attached]) -> None:
    """Write the state file atomically (a crash leaves the old or the new one)."""
    body = {
        "attached": [
            {"pid": p.pid, "started": p.started, "name": p.name} for p in procs
        ]
    }
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".server.json.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(body, out)
        Path(tmp).replace(data_dir / STATE_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Postmaster:
    """The useful part of ``postmaster.pid``, once it checked out."""

    pid: int
    socket_dir: Path | None
    port: int
    status: str


def read_postmaster(pgdata: Path) -> tuple[Postmaster | None, str | None]:
    """The live postmaster of ``pgdata`` per its pid file, and any problem seen.

    Returns ``(info, None)`` for a valid file naming a live postmaster of this
    data directory (its status may still be ``starting``); ``(None, None)``
    when there is no file; ``(None, problem)`` when the file is stale (the
    process is gone or is not our postgres) or unreadable.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None, None
    except OSError:
        return None, "postmaster.pid is unreadable"
    try:
        # A standalone backend (initdb, --single) records its pid negated.
        pid = abs(int(lines[0]))
    except (IndexError, ValueError):
        return None, "postmaster.pid is damaged"
    if not _serves(pid, pgdata):
        return None, "postmaster.pid is stale"
    field = [line.strip() for line in lines] + [""] * 8
    try:
        port = int(field[3]) if field[3] else _PORT
    except ValueError:
        return None, "postmaster.pid is damaged"
    sockets = Path(field[4]) if field[4] else None
    return Postmaster(pid, sockets, port, field[7]), None


def _cwd_matches(proc: psutil.Process, pgdata: Path) -> bool:
    cwd = proc.cwd()
    return cwd in (str(pgdata), f"{pgdata} (deleted)")


def _serves(pid: int, pgdata: Path) -> bool:
    """``pid`` is a running postgres whose data directory is ``pgdata``."""
    if pid <= 0:
        return False
    try:
        proc = psutil.Process(pid)
        return (
            proc.name() == "postgres"
            and proc.status() != psutil.STATUS_ZOMBIE
            and _cwd_matches(proc, pgdata)
        )
    except psutil.Error:
        return False


def postgres_procs(pgdata: Path) -> list[psutil.Process]:
    """Every live postgres process working in ``pgdata`` (postmaster, backends)."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info.get("name") != "postgres":
            continue
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and _cwd_matches(proc, pgdata):
                found.append(proc)
    return found


def socket_dir_for(pgdata: Path) -> Path:
    """Where the server's Unix socket goes: pgdata if plain and short enough.

    Otherwise a private directory under /tmp named by a digest of the path, so
    the URL stays the same across restarts.
    """
    lock = pgdata / f".s.PGSQL.{_PORT}.lock"
    if _PLAIN.fullmatch(str(pgdata)) and len(str(lock).encode()) <= _SOCKET_MAX:
        return pgdata
    digest = hashlib.sha256(os.fsencode(pgdata)).hexdigest()[:12]
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    return base / f"dashtam-{os.getuid()}-{digest}"


def socket_files(socket_dir: Path) -> list[Path]:
    """The socket and socket lock files in ``socket_dir`` (stale after a crash)."""
    try:
        return [p for p in socket_dir.iterdir() if p.name.startswith(".s.PGSQL.")]
    except OSError:
        return []
