"""`make lab` starts a JupyterLab a newcomer can use, as root and as a user.

The test runs the exact command `make lab` runs (the Makefile's ``LAB_CMD``,
printed by make itself, so the two cannot drift apart) on a free port, reads
the URL with its token from what Lab prints, and asks the server's REST API
what a browser would see: it is up, it needs the token, it serves
``notebooks/`` and its default kernel is this virtual environment's
interpreter. Then it stops Lab the way a terminal's Ctrl-C does (SIGINT to the
process group) and checks it is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.harness import poll
from tests.support.lab_server import REPO, Lab, get, lab_command, running_lab

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with running_lab(REPO, tmp_path) as running:
        yield running


def test_lab_command_binds_localhost_and_allows_root_only_for_root() -> None:
    command = lab_command(8765)
    assert "--ServerApp.ip=127.0.0.1" in command
    assert "--ServerApp.port=8765" in command
    assert "--ServerApp.root_dir=notebooks" in command
    assert ("--allow-root" in command) == (os.getuid() == 0), command


def test_make_lab_serves_the_notebooks_with_the_venv_kernel(lab: Lab) -> None:
    token = lab.token()
    # Lab prints its URL a moment before it accepts connections.
    status, body = poll(
        lambda: (answer := get(lab.url("/api/status"), token))[0] == 200 and answer,
        timeout=20,
        every=0.1,
    )
    assert status == 200, body
    assert get(lab.url("/api/status"), None)[0] == 403, "the token is not required"

    status, listing = get(lab.url("/api/contents"), token)
    assert status == 200
    served = {item["name"] for item in listing["content"]}
    wanted = {path.name for path in (REPO / "notebooks").glob("*.ipynb")}
    assert wanted
    assert wanted <= served, f"not notebooks/: {sorted(served)[:10]}"

    status, specs = get(lab.url("/api/kernelspecs"), token)
    assert status == 200
    spec = specs["kernelspecs"][specs["default"]]["spec"]
    # "python" is replaced by the server's own interpreter (the venv's, since
    # make lab starts the venv's jupyter); any other must be the venv's.
    interpreter = sys.executable if spec["argv"][0] == "python" else spec["argv"][0]
    probe = "import sys, dashtam_nb; print(sys.prefix)"
    ran = subprocess.run(
        [interpreter, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, f"the kernel's python lacks dashtam_nb: {ran.stderr}"
    assert ran.stdout.strip() == sys.prefix, f"kernel runs {interpreter}"

    os.killpg(lab.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    assert lab.proc.wait(15) is not None
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(lab.url("/api/status"), timeout=2)
