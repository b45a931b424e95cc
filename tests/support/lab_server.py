"""A JupyterLab started exactly as `make lab` starts it, for tests.

Both the REST check (tests/integration/test_lab.py) and the browser suite
(tests/browser) run the Makefile's own ``LAB_CMD``, printed by make itself,
so a test can never drift from what a newcomer types. Each Lab gets a free
port, its own ``JUPYTER_RUNTIME_DIR`` and its own process group, so stopping
it (SIGINT, as a terminal's Ctrl-C, then SIGKILL if it hangs) never touches
other servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.harness import free_port, poll

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 25.0


def lab_command(port: int, venv: Path | None = None) -> str:
    """The command line `make lab` runs, as make expands it.

    Args:
        port: the ``LAB_PORT`` to pass.
        venv: the virtual environment's absolute path, for a Lab started in
            another checkout (which has no ``.venv`` of its own); None keeps
            the Makefile's relative ``.venv``.
    """
    overrides = [f"LAB_PORT={port}"] + ([f"VENV={venv}"] if venv else [])
    printed = subprocess.run(
        [
            "make", "-s", "--no-print-directory",
            "--eval=_lab_cmd: ; @echo $(LAB_CMD)",
            "_lab_cmd", *overrides,
        ],
        cwd=REPO, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return printed.stdout.strip()


def get(url: str, token: str | None) -> tuple[int, Any]:
    """Status and decoded JSON body of a GET (errors included)."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), None
    except urllib.error.URLError:
        return 0, None  # not accepting connections (yet, or any more)


class Lab:
    """A running `make lab` and what it printed."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, port: int) -> None:
        self.proc, self.log, self.port = proc, log, port

    def output(self) -> str:
        """Everything Lab printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")

    def token(self) -> str:
        """The token from the URL Lab prints (waits for it)."""
        pattern = rf"http://127\.0\.0\.1:{self.port}/lab\?token=(\w+)"

        def printed() -> str | None:
            assert self.proc.poll() is None, f"lab exited: {self.output()[-2000:]}"
            match = re.search(pattern, self.output())
            return match.group(1) if match else None

        token: str = poll(printed, timeout=START_TIMEOUT, every=0.1)
        return token

    def ready(self) -> str:
        """The token, once Lab also answers (it prints its URL a moment before)."""
        token = self.token()
        poll(
            lambda: get(self.url("/api/status"), token)[0] == 200,
            timeout=20,
            every=0.1,
        )
        return token

    def url(self, path: str) -> str:
        """An address on this Lab."""
        return f"http://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def running_lab(
    workdir: Path,
    scratch: Path,
    venv: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Lab]:
    """`make lab`'s command run in ``workdir``, stopped on exit.

    Args:
        workdir: the checkout Lab serves (its ``notebooks/``).
        scratch: a private directory for the log and the runtime files.
        venv: see `lab_command`.
        extra_env: variables to set for Lab and its kernels.
    """
    port = free_port()
    scratch.mkdir(parents=True, exist_ok=True)
    log = scratch / "lab.log"
    env = dict(os.environ)
    # Lab's runtime files (server info, kernel connection files) stay here.
    env["JUPYTER_RUNTIME_DIR"] = str(scratch / "runtime")
    env.pop("JUPYTER_TOKEN", None)
    # Lab and its kernels behave as a user's, not as a test's (progress bars).
    env.pop("PYTEST_CURRENT_TEST", None)
    # Settings and workspaces of its own: no tabs restored from earlier runs.
    env["JUPYTERLAB_SETTINGS_DIR"] = str(scratch / "settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(scratch / "workspaces")
    env.update(extra_env or {})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", lab_command(port, venv)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Lab(proc, log, port)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a Lab as Ctrl-C does, so it shuts its kernels down; kill if stuck.

    Kernels run in sessions of their own (jupyter_client starts them so), so
    killing Lab's group alone would leave them running.
    """
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
