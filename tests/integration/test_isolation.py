"""Two processes running one notebook keep their own database (issue 16.3).

Every notebook starts with ``dn.connect("nb_<its name>", fresh=True)``. A
second kernel running the same notebook (or a second person on the same data
directory) used to drop the first one's database. Here this test process
plays the first kernel and a subprocess the second: the first one's data and
connection survive, the second one's copy is dropped by the next fresh
open once its process is gone, and a name outside ``nb_`` is shared as
before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

import dashtam_nb as dn
from dashtam_nb.admin import private_name

pytestmark = pytest.mark.integration

SECOND_KERNEL = """
import dashtam_nb as dn
db = dn.connect({name!r}, fresh=True)
db.execute("CREATE TABLE who (pid int)")
db.execute("INSERT INTO who VALUES (:p)", {{"p": {pid}}})
print(db.url.database)
"""


def _databases(probe: dn.Database, stem: str) -> set[str]:
    names = probe.frame(
        "SELECT datname FROM pg_database WHERE left(datname, length(:s)) = :s",
        {"s": stem},
    )
    return set(names["datname"])


def _second_kernel(name: str) -> str:
    ran = subprocess.run(
        [sys.executable, "-c", SECOND_KERNEL.format(name=name, pid=-1)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip()


def test_a_second_kernel_does_not_drop_the_first_ones_database() -> None:
    name = f"nb_isolation_{uuid.uuid4().hex[:8]}"
    mine = dn.connect(name, fresh=True, default=False)
    probe = dn.Database(dn.settings.database_url)
    try:
        assert mine.url.database == private_name(name) != name
        mine.execute("CREATE TABLE who (pid int)")
        mine.execute("INSERT INTO who VALUES (:p)", {"p": os.getpid()})

        theirs = _second_kernel(name)
        assert theirs not in {name, mine.url.database}
        assert mine.scalar("SELECT pid FROM who") == os.getpid()
        stem = mine.url.database.rsplit("_", 1)[0]
        assert theirs in _databases(probe, stem)

        # The next fresh open sweeps the copy of the process that is gone.
        again = dn.connect(name, fresh=True, default=False)
        assert again.url.database == mine.url.database
        assert _databases(probe, stem) == {mine.url.database}
        dn.run(again.close())
    finally:
        dn.run(mine.close())
        dn.drop_database(name)
        dn.run(probe.close())


def test_other_names_are_shared_as_before() -> None:
    name = f"t_shared_{uuid.uuid4().hex[:8]}"
    assert private_name(name) == name
    db = dn.connect(name, fresh=True, default=False)
    try:
        assert db.url.database == name
    finally:
        dn.run(db.close())
        dn.drop_database(name)
