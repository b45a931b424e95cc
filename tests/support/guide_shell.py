"""The guide's shell lines as this toolkit's commands, run in this process.

`command_lines` reads a bash block as a shell would (comments dropped, ``\\``
continuations joined). `toolkit_argv` maps each line to ``dashtam-nb``'s
arguments: a ``make`` line through the Makefile itself (``make -n`` prints the
recipe it would run), an ``alembic`` line (bare or inside ``docker compose ...
exec app``) through `ALEMBIC`, Alembic's verbs and ours. A line that maps to
nothing fails, so a new kind of command in the guide is noticed.
"""

from __future__ import annotations

import contextlib
import io
import shlex
import shutil
import subprocess
from dataclasses import dataclass

from dashtam_nb import cli
from tests.support.guide_blocks import ROOT

ALEMBIC = {
    "upgrade": "up",
    "downgrade": "down",
    "current": "current",
    "stamp": "stamp",
    "history": "history",
    "revision": "create",
}
"""``alembic VERB`` and ``dashtam-nb migrate VERB`` (ours always autogenerates)."""


@dataclass(frozen=True)
class Ran:
    """What one command did: exit status and its output lines."""

    argv: tuple[str, ...]
    status: int
    out: list[str]
    err: str


def command_lines(block_text: str) -> list[str]:
    """The commands of a bash block, one string each."""
    joined = block_text.replace("\\\n", " ")
    lines = (line.strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _from_make(words: list[str]) -> list[str]:
    make = shutil.which("make")
    assert make is not None, "make is needed to read the Makefile's recipes"
    done = subprocess.run(
        [make, "-n", "-s", "-C", str(ROOT), "-o", "install", *words],
        capture_output=True,
        text=True,
        check=True,
    )
    # The recipe may check its arguments first (`test -n ...`); one line runs ours.
    recipe = [shlex.split(line) for line in done.stdout.splitlines() if line]
    ours = [words for words in recipe if words[0].endswith("/dashtam-nb")]
    assert len(ours) == 1, f"make {words} runs {done.stdout!r}"
    return ours[0][1:]


def _from_alembic(words: list[str]) -> list[str]:
    verb, *rest = words
    assert verb in ALEMBIC, f"alembic {verb} has no dashtam-nb equivalent"
    if verb == "revision":
        assert rest[:2] == ["--autogenerate", "-m"], rest
        rest = rest[2:]
    assert all(not w.startswith("--") or w == "--purge" for w in rest), rest
    return ["migrate", ALEMBIC[verb], *rest]


def toolkit_argv(line: str) -> list[str]:
    """``dashtam-nb``'s arguments for one guide line."""
    words = shlex.split(line)
    if words[:2] == ["docker", "compose"]:
        # `docker compose -f FILE exec SERVICE cmd...`: only cmd is ours.
        words = words[words.index("exec") + 2 :]
    if words[0] == "make":
        return _from_make(words[1:])
    assert words[0] == "alembic", f"no toolkit equivalent for {line!r}"
    return _from_alembic(words[1:])


def run(argv: list[str]) -> Ran:
    """``dashtam-nb ARGV`` in this process, output captured."""
    # A UTF-8 stdout, as a terminal's: the CLI prints "→" only where it can.
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    out.flush()
    said = out.buffer.getvalue().decode("utf-8")
    return Ran(tuple(argv), status, said.splitlines(), err.getvalue())
