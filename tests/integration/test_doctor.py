"""``dashtam-nb doctor`` on a setup of its own: healthy, stopped, behind.

The command runs as a newcomer runs it (a subprocess, this environment's
interpreter) against an embedded server in a data directory of its own, so
stopping that server or downgrading its schema touches nothing else. Each
broken state must be named by a FAIL line that carries the command fixing
it, and the exit status must say whether anything failed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.harness import CANARY

if TYPE_CHECKING:
    from collections.abc import Iterator

# Its own embedded servers: DATABASE_URL plays no part (see make test-external).
pytestmark = [pytest.mark.integration, pytest.mark.own_server]

LINE = re.compile(r"(ok  |FAIL) [a-z ]+: .+")
NAMES = [
    "python", "packages", "settings", "data dir", "server", "connect",
    "migrations", "roles", "kernel",
]  # fmt: skip


def doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, str]]:
    """Exit status and each check's line, by check name."""
    ran = cli(env, "doctor", *args)
    lines = ran.stdout.splitlines()
    assert lines, ran.stderr
    for line in lines:
        assert LINE.fullmatch(line), f"not a check line: {line!r}"
    by_name = {line[5:].split(":", 1)[0]: line for line in lines}
    assert list(by_name) == NAMES, lines
    assert CANARY not in ran.stdout + ran.stderr
    return ran.returncode, by_name


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", *args],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, str]]:
    """An environment whose embedded server is its own (and stopped at first)."""
    data = Path(tempfile.mkdtemp(prefix="dn-doctor-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DATABASE_OWNER_URL"}
    }
    env["DASHTAM_DATA_DIR"] = str(data)
    try:
        yield env
    finally:
        cli(env, "db", "stop", "--force")
        shutil.rmtree(data, ignore_errors=True)


def test_doctor_walks_a_newcomer_from_nothing_to_green(env: dict[str, str]) -> None:
    # 1. Nothing started: the server is named, and what depends on it too.
    status, lines = doctor(env)
    assert status == 1
    assert lines["server"].startswith("FAIL server: not running")
    assert "fix: dashtam-nb db start" in lines["server"]
    for name in ("connect", "migrations", "roles"):
        assert lines[name].startswith(f"FAIL {name}: not checked"), lines[name]
    for name in ("python", "packages", "settings", "data dir", "kernel"):
        assert lines[name].startswith("ok"), lines[name]

    # 2. --start starts it; the empty schema is named with its fix.
    status, lines = doctor(env, "--start")
    assert status == 1
    assert lines["server"].startswith("ok   server: started"), lines["server"]
    assert lines["connect"].startswith("ok"), lines["connect"]
    assert "not migrated" in lines["migrations"]
    assert lines["migrations"].endswith("fix: dashtam-nb migrate up")

    # 3. Following the fix makes every line green.
    up = cli(env, "migrate", "up")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("upgraded"), up.stdout
    status, lines = doctor(env)
    assert status == 0, lines
    assert all(line.startswith("ok") for line in lines.values()), lines

    # 4. One revision behind head: named, with the same fix.
    down = cli(env, "migrate", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith("downgraded"), down.stdout
    status, lines = doctor(env)
    assert status == 1
    assert re.fullmatch(
        r"FAIL migrations: at \w+, head is \w+ — fix: dashtam-nb migrate up",
        lines["migrations"],
    ), lines["migrations"]
    assert cli(env, "migrate", "up").returncode == 0

    # 5. Server stopped again: named again.
    stop = cli(env, "db", "stop", "--force")
    assert stop.stdout.strip() == "stopped", stop.stdout
    status, lines = doctor(env)
    assert status == 1
    assert "fix: dashtam-nb db start" in lines["server"]


def test_doctor_reads_the_data_dir_from_dotenv(
    env: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    elsewhere = tmp_path / "from-dotenv"
    (project / ".env").write_text(f"# local settings\nDASHTAM_DATA_DIR='{elsewhere}'\n")
    bare = {k: v for k, v in env.items() if k != "DASHTAM_DATA_DIR"}
    ran = subprocess.run(
        [sys.executable, "-m", "dashtam_nb.cli", "doctor"],
        env=bare, cwd=project / "notebooks", capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert f"data dir: {elsewhere} (writable)" in ran.stdout, ran.stdout
    assert f".env {project / '.env'} sets DASHTAM_DATA_DIR" in ran.stdout


def test_seed_says_what_it_did_and_names_only_real_flags(env: dict[str, str]) -> None:
    helped = cli(env, "seed", "--help")
    assert "--fresh" in helped.stdout
    assert "--seed" in helped.stdout

    start = cli(env, "db", "start")
    assert start.stdout.startswith("running"), start.stdout + start.stderr
    first = cli(env, "seed")
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith(("upgraded", "already at head")), lines
    assert re.fullmatch(r"seeded database dashtam: [\d,]+ users, .+", lines[-1])

    again = cli(env, "seed")
    assert again.returncode == 1
    assert "run dashtam-nb seed --fresh" in again.stderr, again.stderr
    # Every flag the message names exists.
    named = set(re.findall(r"--[a-z]+", again.stderr))
    assert named <= set(re.findall(r"--[a-z]+", helped.stdout)), named

    fresh = cli(env, "seed", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    assert (
        fresh.stdout.splitlines()[0]
        == "recreated database dashtam and migrated it to head"
    )
    assert cli(env, "db", "stop", "--force").stdout.strip() == "stopped"


def test_make_setup_ends_with_the_steps_that_make_the_doctor_green() -> None:
    # The steps the test above walks (db start, migrate up), then the report.
    root = Path(__file__).resolve().parents[2]
    plain = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    printed = subprocess.run(
        ["make", "-n", "-s", "-C", str(root), "-o", "install", "setup"],
        env=plain, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split("\n")  # fmt: skip
    assert printed[:2] == [
        ".venv/bin/dashtam-nb db start && .venv/bin/dashtam-nb migrate up",
        ".venv/bin/dashtam-nb doctor",
    ], printed
