"""The embedded server: start, share, recover stale handles, stop."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashtam_nb import server

# Its own embedded servers: DATABASE_URL plays no part (see make test-external).
pytestmark = [pytest.mark.integration, pytest.mark.own_server]

PROBE = (
    "import sys, pathlib, dashtam_nb as dn;"
    "from dashtam_nb.server import ensure_server;"
    "url = ensure_server(pathlib.Path(sys.argv[1]));"
    "print(dn.Database(url).scalar('SELECT 41 + 1'))"
)


def _probe(data_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stderr == ""  # nothing printed (strict nbval compares stderr)
    return done.stdout.strip()


def test_last_process_stops_the_server(tmp_path: Path) -> None:
    assert _probe(tmp_path) == "42"
    assert not server.status(tmp_path).running


def test_keep_running_until_stop(tmp_path: Path) -> None:
    url = server.ensure_server(tmp_path, keep_running=True)
    assert url.password is None
    assert url.database == server.DEFAULT_DATABASE  # not the admin database
    assert "***" not in url.render_as_string(hide_password=True)
    assert _probe(tmp_path) == "42"  # a second process shares it
    status = server.status(tmp_path)
    assert status.running
    assert status.pid is not None
    assert server.stop(tmp_path) is True
    assert not server.status(tmp_path).running
    assert server.stop(tmp_path) is False


def test_stale_handle_of_a_killed_process_is_recovered(tmp_path: Path) -> None:
    server.ensure_server(tmp_path, keep_running=True)
    pids = server.pgdata_path(tmp_path) / ".handle_pids.json"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pids.write_text(json.dumps([int(dead.stdout)]))
    server.stop(tmp_path)
    # A dead pid in the handle list must not keep the server alive or fail.
    pids.write_text(json.dumps([int(dead.stdout)]))
    assert _probe(tmp_path) == "42"
    assert not server.status(tmp_path).running
