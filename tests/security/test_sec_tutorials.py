"""Every tutorial notebook, run against a password server, shows no secret.

The committed notebooks run on the embedded server, which has no password.
Here each one runs top to bottom in a real kernel whose ``DATABASE_URL``
names a password-protected role (the canary, percent-encoded) on the
dedicated TCP server, under ``%xmode Verbose`` so any error would print frame
locals too. Every notebook must pass, and no output may hold any fragment of
the canary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import nbformat
import pytest
from harness import CANARY, assert_no_secret, survived
from nbclient import NotebookClient
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pgfault import FaultServer

pytestmark = [pytest.mark.security, pytest.mark.kernel]

ROLE = "tutor"
NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def tutor_url(pg: FaultServer) -> Iterator[str]:
    """A CREATEDB role whose password is the canary (tutorials make databases)."""
    pg.admin(
        sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
            sql.Identifier(ROLE), sql.Literal(CANARY)
        )
    )
    yield f"postgresql://{ROLE}:{quote(CANARY, safe='')}@127.0.0.1:{pg.port}/postgres"
    for (name,) in pg.admin(
        "SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        "WHERE r.rolname = %(r)s",
        {"r": ROLE},
    ):
        pg.drop_database(name)
    pg.admin(sql.SQL("DROP ROLE {}").format(sql.Identifier(ROLE)))


def test_there_are_tutorials_to_run() -> None:
    assert len(NOTEBOOKS) >= 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tutorial_on_a_password_server_leaks_nothing(
    tutor_url: str, path: Path
) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell("%xmode Verbose"))
    env = {**os.environ, "DATABASE_URL": tutor_url, "NBVAL": "1"}
    env.pop("DASHTAM_DATA_DIR", None)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute(env=env)
    assert_no_secret(nbformat.writes(nb), where=f"in executed {path.name}")
    survived()
