"""A server that cannot start says why, in one line."""

from __future__ import annotations

import subprocess

from dashtam_nb.server import process


def test_the_failing_step_names_its_last_line() -> None:
    exc = subprocess.CalledProcessError(
        1,
        ["initdb"],
        stderr=b"initdb: warning\ninitdb: error: could not access directory\n",
    )
    assert process._reason(exc) == (
        "CalledProcessError (initdb: error: could not access directory)"
    )


def test_no_output_names_only_the_error_class() -> None:
    assert (
        process._reason(subprocess.CalledProcessError(1, ["sh"]))
        == "CalledProcessError"
    )
    assert process._reason(subprocess.CalledProcessError(1, ["sh"], stderr=b" \n")) == (
        "CalledProcessError"
    )
    assert process._reason(PermissionError(13, "denied")) == "PermissionError"


def test_a_long_line_is_cut() -> None:
    exc = subprocess.CalledProcessError(1, ["initdb"], stderr=b"x" * 1000)
    assert len(process._reason(exc)) < 240
