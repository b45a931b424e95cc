"""An executed notebook holds no secret (plan D3, D7), even under %xmode Verbose.

A real kernel (nbclient) starts with ``DATABASE_URL`` set to the canary URL,
percent-encoded. Under ``%xmode Context`` and then ``%xmode Verbose`` it
connects, fails to connect while the password is in flight (missing
database, wrong role), fails a statement, and fails to parse a malformed
URL. Verbose prints every frame's local variables: SQLAlchemy's ``cparams``
and psycopg's ``conninfo`` hold the password, so those frames must be absent
(the boundary raises ``from None``), and our own frames must hold no raw URL.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.harness import CANARY, assert_no_secret, bad_input, survived

if TYPE_CHECKING:
    from pathlib import Path

    import dashtam_nb as dn
    from tests.support.pgfault import FaultServer

pytestmark = [pytest.mark.security, pytest.mark.kernel]

SETUP = """\
import os
import dashtam_nb as dn
from sqlalchemy import text
"""

# (source, expected error name or None). One copy runs per xmode.
CELLS: list[tuple[str, str | None]] = [
    (
        "db = dn.connect()\nprint(repr(db), dn.settings)\n"
        "db.scalar('SELECT current_user')",
        None,
    ),
    ("await db.ascalar('SELECT 1')", None),
    (
        "dn.Database(db.url.set(database='no_such_db')).scalar('SELECT 1')",
        "ConnectError",
    ),
    (
        "dn.Database(db.url.set(username='app_other')).scalar('SELECT 1')",
        "ConnectError",
    ),
    (
        "await dn.Database(db.url.set(database='no_such_db')).ascalar('SELECT 1')",
        "ConnectError",
    ),
    (
        "async with db.get_session() as session:\n"
        "    await session.execute(text('SELECT 1/0'))",
        "DatabaseError",
    ),
    ("os.environ['DATABASE_URL'] = os.environ['DN_BAD_URL']", None),
    ("dn.settings.reload()", "ConfigError"),
    ("dn.config.Settings.from_env()", "ConfigError"),
    (
        "os.environ['DATABASE_URL'] = os.environ['DN_GOOD_URL']\ndn.settings.reload()",
        None,
    ),
    ("frame = db.frame('SELECT 1 AS a')\nprint(frame.attrs)\nframe", None),
    ("db", None),
]


def _notebook() -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(SETUP)]
    for mode in ("Context", "Verbose"):
        cells.append(nbformat.v4.new_code_cell(f"%xmode {mode}"))
        cells += [nbformat.v4.new_code_cell(source) for source, _ in CELLS]
    notebook: nbformat.NotebookNode = nbformat.v4.new_notebook(cells=cells)
    return notebook


def test_executed_notebook_shows_no_secret(
    pg: FaultServer, fdb: dn.Database, tmp_path: Path
) -> None:
    where = f"127.0.0.1:{pg.port}/{fdb.url.database}"
    good = f"postgresql://app:{quote(CANARY, safe='')}@{where}"
    bad = f"postgresql://app:{CANARY}@{where}"  # unescaped: a ConfigError
    env = {**os.environ, "DATABASE_URL": good, "DN_GOOD_URL": good, "DN_BAD_URL": bad}
    env.pop("DASHTAM_DATA_DIR", None)
    nb = _notebook()
    client = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    bad_input(4)

    executed = nbformat.writes(nb)
    assert_no_secret(executed, where="in the executed notebook")

    errors: dict[str, list[str]] = {"Context": [], "Verbose": []}
    mode = "Context"
    for cell in nb.cells:
        if cell.source.startswith("%xmode"):
            mode = cell.source.split()[1]
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                errors[mode].append(output.ename)
                _check_traceback(mode, "\n".join(output.traceback))
    expected = [e for _, e in CELLS if e]
    assert errors == {"Context": expected, "Verbose": expected}, errors
    survived(2)


def _check_traceback(mode: str, tb: str) -> None:
    tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)  # ANSI colours
    # Library frames (where cparams/conninfo live) are cut off by `from None`.
    for library in ("site-packages/sqlalchemy", "site-packages/psycopg"):
        assert library not in tb, f"{library} frame shown under {mode}"
    assert "The above exception was the direct cause" not in tb
    assert "During handling of the above exception" not in tb
    if mode == "Verbose":
        # Verbose really printed argument values (else the scan proves little):
        # "in Database.scalar(self=Database('...:***@...'), sql=...".
        assert re.search(r", in [\w.<>]+\(\*{0,2}\w+=", tb), tb[-400:]
