"""The embedded server heals (issue 14, point 4).

An attached process recovers on its next call after ``db stop``, a crash of
the postmaster or a "reboot" (server gone, stale pid files): the call in
flight fails once with a typed error, the next is served. Odd data directory
paths work, unusable ones are a one-line `ConfigError`, damaged state files
are repaired, and no postgres process outlives its test.

Each scenario runs in its own Python process (settings, engines and the
attach record are per process), on its own data directory in a private
folder under /tmp; every test ends with the server stopped and no postgres process
left working in that directory (checked with psutil, zombies excepted: this
container's init does not reap).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from dashtam_nb import server
from tests.support.harness import survived

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.fault

ODD = "data dir with space ü'"

# Shared by every child: run a scenario, print one JSON line with results.
PRELUDE = """
import json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import dashtam_nb as dn
from dashtam_nb import server
DATA = Path(os.environ["DASHTAM_DATA_DIR"])
OUT = {}

def attempt(fn):
    try:
        return "ok", fn()
    except Exception as exc:
        return type(exc).__name__, str(exc)

def cli(*args):
    done = subprocess.run([sys.executable, "-m", "dashtam_nb.cli", *args],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout.strip(), done.stderr.strip()

def until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)

def sleeping(db):
    return db.scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                     " AND query LIKE 'SELECT pg_sleep%'")

def in_flight(db, fault):
    # A call runs a long query; `fault` strikes while it runs.
    box = {}
    worker = threading.Thread(
        target=lambda: box.update(r=attempt(lambda: db.scalar("SELECT pg_sleep(30)"))))
    worker.start()
    until(lambda: sleeping(db) == 1)
    fault()
    worker.join(60)
    return box["r"]
"""


def _pg_procs(root: Path) -> list[int]:
    """Live postgres processes whose working directory is under ``root``."""
    found = []
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] != "postgres":
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.cwd().startswith(str(root)):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def _postmaster_pid(data: Path) -> int:
    return int((data / "pg" / "postmaster.pid").read_text().split()[0])


def _env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["DASHTAM_DATA_DIR"] = str(data)
    return env


def child(data: Path, body: str, *, timeout: float = 120) -> dict[str, Any]:
    """Run ``body`` (after PRELUDE) in a fresh interpreter; its ``OUT`` dict."""
    code = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(OUT))\n"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(data),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == "", done.stderr[-2000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(data),
        check=False,
    )


@pytest.fixture
def home() -> Iterator[Path]:
    """A private folder under /tmp, not pytest's ``tmp_path``.

    pytest prunes older numbered base folders when a session starts, so a
    second pytest session on the machine could delete a data directory
    while its server runs.
    """
    where = Path(tempfile.mkdtemp(prefix="dn-heal-"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def data(home: Path) -> Iterator[Path]:
    """A data directory of its own (odd name); stopped and checked at the end."""
    where = home / ODD
    yield where
    server.stop(where)
    assert _pg_procs(home) == [], "a postgres process outlived the test"
    assert not server.status(where).running


# -- recovery of an attached process -------------------------------------------


def test_call_in_flight_during_db_stop_fails_once_then_serves(data: Path) -> None:
    out = child(
        data,
        """
        db = dn.connect()
        assert db.scalar("SELECT 1") == 1
        OUT["refused"] = cli("db", "stop")
        force = lambda: OUT.update(forced=cli("db", "stop", "--force"))
        OUT["flight"] = in_flight(db, force)
        OUT["next"] = attempt(lambda: db.scalar("SELECT 2"))
        OUT["pid"] = os.getpid()
        """,
    )
    code, _, err = out["refused"]
    assert code == 1
    assert f"pid {out['pid']}" in err
    assert "--force" in err
    assert out["forced"][0] == 0
    assert out["forced"][1] == "stopped"
    assert out["flight"][0] == "ConnectionLostError", out["flight"]
    assert out["next"] == ["ok", 2]
    survived()


def test_idle_process_is_served_after_db_stop_force(data: Path) -> None:
    out = child(
        data,
        """
        db = dn.connect()
        assert db.scalar("SELECT 1") == 1
        first = server.status(DATA).pid
        OUT["forced"] = cli("db", "stop", "--force")
        OUT["down"] = server.status(DATA).running
        OUT["next"] = attempt(lambda: db.scalar("SELECT 2"))
        OUT["restarted"] = server.status(DATA).pid not in (None, first)
        OUT["frame"] = attempt(lambda: len(db.frame("SELECT 1 AS a")))
        """,
    )
    assert out["forced"][0] == 0
    assert out["down"] is False
    # No call was in flight: nothing fails, the next call restarts the server.
    assert out["next"] == ["ok", 2]
    assert out["restarted"] is True
    assert out["frame"] == ["ok", 1]
    survived()


def test_postmaster_killed_during_a_call(data: Path) -> None:
    out = child(
        data,
        """
        db = dn.connect()
        old = server.status(DATA).pid
        OUT["flight"] = in_flight(db, lambda: os.kill(old, signal.SIGKILL))
        OUT["next"] = attempt(lambda: db.scalar("SELECT 2"))
        OUT["then"] = attempt(lambda: db.scalar("SELECT 3"))
        OUT["old"], OUT["new"] = old, server.status(DATA).pid
        """,
    )
    assert out["flight"][0] == "ConnectionLostError", out["flight"]
    assert out["next"] == ["ok", 2]
    assert out["then"] == ["ok", 3]
    assert out["new"] not in (None, out["old"])
    survived()


def test_session_and_repository_work_after_a_crash(data: Path) -> None:
    out = child(
        data,
        """
        from sqlalchemy import text
        db = dn.connect()
        import psutil
        from sqlalchemy import column, select, table
        from dashtam_nb.io.fetch import afetch_frame
        db.execute("CREATE TABLE t (x int)")
        db.execute("CREATE TABLE big AS SELECT g AS n FROM generate_series(1, 3000) g")
        async def columnar():  # the ADBC path keeps idle connections of its own
            async with db.get_session() as s:
                q = select(column("n")).select_from(table("big"))
                return len(await afetch_frame(s, q, fast=True))
        OUT["before"] = attempt(lambda: dn.run(columnar()))
        master = psutil.Process(server.status(DATA).pid)
        backends = master.children()
        master.kill()
        # Idle backends notice the postmaster's death and exit; a call racing
        # that exit would be a call in flight (one error), not this case.
        until(lambda: not any(p.is_running() and p.status() != "zombie"
                              for p in [master, *backends]))
        async def work():
            async with db.get_session() as s:
                await s.execute(text("INSERT INTO t VALUES (1)"))
        OUT["session"] = attempt(lambda: dn.run(work()))
        OUT["count"] = attempt(lambda: db.scalar("SELECT count(*) FROM t"))
        OUT["after"] = attempt(lambda: dn.run(columnar()))
        """,
    )
    assert out["before"] == ["ok", 3000]
    assert out["after"] == ["ok", 3000]
    assert out["session"][0] == "ok", out["session"]
    assert out["count"] == ["ok", 1]  # crash recovery kept the table
    survived()


def test_reboot_with_stale_pid_files_and_no_socket_dir(data: Path) -> None:
    """Everything dies at once; the pid files name a live, unrelated process."""
    out = child(
        data,
        """
        import psutil
        db = dn.connect()
        assert db.scalar("SELECT 1") == 1
        pgdata = DATA / "pg"
        head = (pgdata / "postmaster.pid").read_text().splitlines()
        sockets = Path(head[4])
        def ours(p):
            try:
                return p.info["name"] == "postgres" and p.cwd() == str(pgdata)
            except psutil.Error:  # another test's backend just exited
                return False
        victims = [p for p in psutil.process_iter(["name"]) if ours(p)]
        for p in victims:
            p.kill()
        until(lambda: all(p.status() == psutil.STATUS_ZOMBIE or not p.is_running()
                          for p in victims))
        # After a reboot the old pid may belong to anyone: here, our parent.
        head[0] = str(os.getppid())
        (pgdata / "postmaster.pid").write_text("\\n".join(head) + "\\n")
        for f in sockets.glob(".s.PGSQL.*"):
            f.unlink()
        if sockets != pgdata:
            sockets.rmdir()  # /tmp was emptied
        OUT["status"] = str(server.status(DATA))
        OUT["next"] = attempt(lambda: db.scalar("SELECT 2"))
        OUT["fresh"] = attempt(lambda: dn.connect().scalar("SELECT 3"))
        """,
    )
    assert "stale" in out["status"]
    assert out["status"].startswith("stopped")
    assert out["next"] == ["ok", 2]
    assert out["fresh"] == ["ok", 3]
    survived()


def test_connect_in_a_new_process_after_a_crash(data: Path) -> None:
    assert child(data, "OUT['a'] = dn.connect().scalar('SELECT 1')")["a"] == 1
    server.ensure_server(data, keep_running=True)  # stays up after we exit
    pid = _postmaster_pid(data)
    os.kill(pid, signal.SIGKILL)
    out = child(data, "OUT['a'] = dn.connect('side').scalar('SELECT 1')")
    assert out["a"] == 1
    assert _postmaster_pid(data) != pid
    survived()


def test_last_process_out_stops_the_server_despite_dead_records(data: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    data.mkdir(parents=True)
    record = {"attached": [{"pid": int(dead.stdout), "started": 1.0, "name": "x"}]}
    (data / "server.json").write_text(json.dumps(record))
    out = child(data, "OUT['a'] = dn.connect().scalar('SELECT 1')")
    assert out["a"] == 1
    assert not server.status(data).running
    assert _pg_procs(data) == []
    survived()


# -- data directories ------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ODD,
        'quotes "double" and $HOME `tick` ; & ünïcødé 数据',
        "long-" + "x" * 120,  # the socket path would pass the ~107 byte limit
    ],
)
def test_odd_data_directory_paths_work(home: Path, name: str) -> None:
    where = home / name
    try:
        out = child(where, "OUT['a'] = dn.connect().scalar('SELECT 41 + 1')")
        assert out["a"] == 42
        url = server.ensure_server(where)
        host = str(url.query["host"])
        assert len((Path(host) / ".s.PGSQL.5432").as_posix().encode()) < 107
        assert server.status(where).running
    finally:
        server.stop(where)
    assert _pg_procs(home) == []
    survived()


def _one_line_config_error(done: subprocess.CompletedProcess[str], where: Path) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "ConfigError" in lines[0]
    assert str(where) in lines[0]
    assert "DASHTAM_DATA_DIR" in lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def test_uncreatable_data_directory_is_a_config_error(home: Path) -> None:
    blocker = home / "a file"
    blocker.write_text("not a directory")
    where = blocker / "data"
    line = _one_line_config_error(cli(where, "db", "start"), where)
    assert "cannot create" in line
    code = (
        "import dashtam_nb as dn\n"
        "try:\n    dn.connect()\n"
        "except dn.ConfigError as e:\n    print(type(e).__name__, e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_env(where),
        check=True,
    )
    assert done.stdout.startswith("ConfigError cannot create the data directory")
    assert _pg_procs(home) == []
    survived()


def _nobody_can_run_python() -> bool:
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "pass"],
            capture_output=True,
            check=False,
            user="nobody",
            group="nogroup",
        )
    except PermissionError:
        return False
    return probe.returncode == 0


def test_unwritable_data_directory_is_a_config_error(home: Path) -> None:
    where = home / "read only"
    where.mkdir()
    where.chmod(0o555)
    for folder in (home, *home.parents):  # let nobody reach it
        if folder == Path(tempfile.gettempdir()):
            break
        folder.chmod(folder.stat().st_mode | 0o005)
    user: dict[str, Any] = {}
    if os.geteuid() == 0:  # root writes anywhere: ask as an ordinary user
        if _nobody_can_run_python():
            user = {"user": "nobody", "group": "nogroup"}
        else:  # the interpreter is private to root (pyenv under /root)
            where = Path("/sys/kernel")  # a directory even root cannot write
    done = subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", "db", "start"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**_env(where), "HOME": str(home)},
        check=False,
        **user,
    )
    line = _one_line_config_error(done, where)
    assert "not writable" in line
    survived()


# -- damaged state files -----------------------------------------------------------


def _damage_stopped(data: Path, what: str) -> None:
    pgdata = data / "pg"
    if what == "state-garbage":
        (data / "server.json").write_bytes(b'{"attached": [{"pid": 1\x00\xff')
    elif what == "state-wrong-shape":
        (data / "server.json").write_text('{"attached": [7, {"pid": "x"}], "z": 1}')
    elif what == "state-empty":
        (data / "server.json").write_text("")
    elif what == "pidfile-garbage":
        (pgdata / "postmaster.pid").write_bytes(b"\xff\xfe garbage\n")
    elif what == "pidfile-half":
        (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n")
    elif what == "pidfile-empty":
        (pgdata / "postmaster.pid").write_text("")
    elif what == "pidfile-live-stranger":
        lines = [str(os.getpid()), str(pgdata), "1", "5432", "/tmp", "", "1 2", "ready"]
        (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    elif what == "socket-lock-garbage":
        sock_dir = _socket_dir(data)
        sock_dir.mkdir(parents=True, exist_ok=True)
        (sock_dir / ".s.PGSQL.5432.lock").write_text(f"{os.getpid()}\n???\n")
        (sock_dir / ".s.PGSQL.5432").write_text("not a socket")
    elif what == "lock-is-a-directory":
        (data / "server.lock").unlink(missing_ok=True)
        (data / "server.lock").mkdir()
    elif what == "keep-marker-garbage":
        (data / "keep-running").write_bytes(b"\x00" * 10)
    else:  # pragma: no cover
        raise AssertionError(what)


def _socket_dir(data: Path) -> Path:
    from dashtam_nb.server import state as server_state

    return server_state.socket_dir_for((data / "pg").resolve())


DAMAGE_STOPPED = [
    "state-garbage",
    "state-wrong-shape",
    "state-empty",
    "pidfile-garbage",
    "pidfile-half",
    "pidfile-empty",
    "pidfile-live-stranger",
    "socket-lock-garbage",
    "lock-is-a-directory",
    "keep-marker-garbage",
]


@pytest.mark.parametrize("what", DAMAGE_STOPPED)
def test_damaged_state_of_a_stopped_server_is_repaired(data: Path, what: str) -> None:
    assert child(data, "OUT['a'] = dn.connect().scalar('SELECT 1')")["a"] == 1
    assert not server.status(data).running
    _damage_stopped(data, what)
    shown = cli(data, "db", "status")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("stopped"), shown.stdout
    assert shown.stderr == ""
    out = child(data, "OUT['a'] = dn.connect().scalar('SELECT 7')")
    assert out["a"] == 7
    survived()


@pytest.mark.parametrize(
    "what", ["pidfile-garbage", "pidfile-deleted", "state-garbage"]
)
def test_damaged_state_of_a_running_server_leaves_no_orphan(
    data: Path, what: str
) -> None:
    server.ensure_server(data, keep_running=True)
    old = _postmaster_pid(data)
    pidfile = data / "pg" / "postmaster.pid"
    if what == "pidfile-garbage":
        pidfile.write_text("12x\nnonsense")
    elif what == "pidfile-deleted":
        pidfile.unlink()
    else:
        (data / "server.json").write_text("[[[")
    shown = cli(data, "db", "status")
    assert shown.returncode == 0, shown.stderr
    if what != "state-garbage":
        assert "orphan" in shown.stdout
    out = child(data, "OUT['a'] = dn.connect().scalar('SELECT 5')")
    assert out["a"] == 5
    masters = [
        pid
        for pid in _pg_procs(data)
        if "-D" in psutil.Process(pid).cmdline()  # the postmaster keeps its argv
    ]
    assert len(masters) == 1, masters  # one postmaster for the cluster
    if what == "state-garbage":
        assert masters == [old]  # nothing wrong with the server itself
    else:
        assert old not in masters  # the untracked one was stopped
    survived()


def test_status_never_starts_a_server(data: Path) -> None:
    shown = cli(data, "db", "status")
    assert shown.returncode == 0
    assert shown.stdout.startswith("stopped")
    assert _pg_procs(data.parent) == []
    survived(0)


def test_db_stop_force_with_a_stale_pid_file_only(data: Path) -> None:
    assert child(data, "OUT['a'] = dn.connect().scalar('SELECT 1')")["a"] == 1
    _damage_stopped(data, "pidfile-live-stranger")
    done = cli(data, "db", "stop")
    assert done.returncode == 0
    assert done.stdout.strip() == "not running"
    assert psutil.pid_exists(os.getpid())  # the stranger was not harmed
    assert not (data / "pg" / "postmaster.pid").exists()
    survived()


def test_killed_attached_process_keeps_no_stale_record(data: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, dashtam_nb as dn; dn.connect().scalar('SELECT 1');"
            "print('up', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(data),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "up"
    listed = server.attached(data)
    assert [p.pid for p in listed] == [proc.pid]
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert server.attached(data) == []  # the dead one is not counted
    done = cli(data, "db", "stop")  # nobody alive: no refusal
    assert done.returncode == 0
    assert done.stdout.strip() == "stopped"
    survived()


def test_heal_when_the_socket_moves(home: Path, data: Path) -> None:
    """A server someone else started (socket elsewhere) dies; ours replaces it.

    The attached process's engines keep the old URL; the restarted server
    listens in the toolkit's own socket directory, and connects follow it.
    """
    server.ensure_server(data)  # initdb
    server.stop(data)
    elsewhere = home / "othersock"
    elsewhere.mkdir()
    pgdata = data / "pg"
    owner: dict[str, Any] = {}
    if os.geteuid() == 0:
        shutil.chown(elsewhere, "pgserver", "pgserver")
        owner = {"user": "pgserver", "group": "pgserver"}
    bin_dir = Path(server._pgserver().utils.POSTGRES_VERSIONS[18])
    pg_ctl = [str(bin_dir / "pg_ctl"), "-w", "-D", str(pgdata)]
    subprocess.run(
        [*pg_ctl, "-l", str(pgdata / "log"), "-o", f"-h '' -k {elsewhere}", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
        **owner,
    )
    out = child(
        data,
        """
        import psutil
        db = dn.connect()
        OUT["before"] = str(db.url.query["host"])
        assert db.scalar("SELECT 1") == 1
        master = psutil.Process(server.status(DATA).pid)
        backends = master.children()
        master.kill()
        until(lambda: not any(p.is_running() and p.status() != "zombie"
                              for p in [master, *backends]))
        OUT["next"] = attempt(lambda: db.scalar("SELECT 2"))
        OUT["after"] = str(server.status(DATA).url.query["host"])
        """,
    )
    assert out["before"] == str(elsewhere)
    assert out["next"] == ["ok", 2]
    assert out["after"] != str(elsewhere)
    survived()


WAITER = """
import sys, dashtam_nb as dn
db = dn.connect()
db.scalar("SELECT 1")
print("up", flush=True)
sys.stdin.readline()
results = []
for n in (1, 2):
    try:
        results.append(str(db.scalar(f"SELECT {n}")))
    except Exception as exc:
        results.append(type(exc).__name__)
print(" ".join(results), flush=True)
sys.stdin.readline()  # stay attached until the test has looked
"""


def test_two_attached_processes_heal_one_server_after_a_crash(data: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WAITER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=_env(data),
        )
        for _ in range(2)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "up"
        master = psutil.Process(_postmaster_pid(data))
        backends = master.children()
        master.kill()
        gone = [p for p in [master, *backends] if not _gone(p)]
        while gone:
            gone = [p for p in gone if not _gone(p)]
        for proc in procs:  # both ask at once
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        answers = [proc.stdout.readline().strip() for proc in procs if proc.stdout]
        masters = [p for p in _pg_procs(data) if "-D" in psutil.Process(p).cmdline()]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(30)
    assert answers == ["1 2", "1 2"]
    assert len(masters) == 1
    assert masters[0] != master.pid
    survived()


def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
