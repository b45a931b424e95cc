"""Load held: 16 threads plus 2 processes of mixed work on one database.

Repository writes, frames, pages and binary-COPY loads run together against a
bounded pool (4 connections per process, no overflow) for a short default
duration (``--long`` runs 60 s). Afterwards: no thread hung (no deadlock), no
connection left checked out or open on the server, every acknowledged write
present, and the totals reconcile exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import dashtam_nb as dn
from dashtam_nb import migrations
from tests.fault.load_mix import run_mix
from tests.support.harness import TALLY, survived

if TYPE_CHECKING:
    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.fault

ROOT = Path(__file__).resolve().parents[2]


def _seconds(config: pytest.Config) -> float:
    return 60.0 if config.getoption("--long") else 6.0


def test_mixed_load_keeps_every_acknowledged_write(
    pg: FaultServer, request: pytest.FixtureRequest
) -> None:
    seconds = _seconds(request.config)
    name = pg.create_database("load_mix")
    url = pg.url(name)
    db = dn.Database(url, pool_size=4, max_overflow=0, pool_timeout=60)
    try:
        migrations.upgrade("head", db=db)
        env = {**os.environ, "DATABASE_URL": url.render_as_string(hide_password=False)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.fault.load_worker", str(seconds), "3"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        local = run_mix(db, seconds=seconds, threads=16, tag="threads")
        reports = [local]
        for proc in procs:
            out, err = proc.communicate(timeout=seconds + 180)
            assert proc.returncode == 0, err[-2000:]
            reports.append(json.loads(out.strip().splitlines()[-1]))

        errors = [e for r in reports for e in r["errors"]]
        assert errors == [], errors[:3]
        assert all(r["hung"] == 0 for r in reports)  # no deadlock
        assert all(r["ops"] > 0 for r in reports)
        acked = {
            key: {i for r in reports for i in r["ack"][key]}
            for key in ("users", "accounts", "transactions")
        }
        for table, ids in acked.items():
            present = db.scalar(
                f"SELECT count(*) FROM {table} WHERE id = ANY(CAST(:ids AS uuid[]))",
                {"ids": sorted(ids)},
            )
            lost = len(ids) - present
            TALLY.rows_lost += lost
            assert lost == 0, f"{lost} acknowledged {table} rows missing"
            # Nothing but the acknowledged work was written either.
            assert db.scalar(f"SELECT count(*) FROM {table}") == len(ids)
        survived()
        assert db.pool_status()["checked_out"] == 0
    finally:
        dn.run(db.close())
    # Every connection of ours is gone from the server, pools and ADBC alike.
    left = _sessions_on(pg, name)
    assert left == 0, f"{left} connections still open on {name}"
    pg.drop_database(name)


def _sessions_on(pg: FaultServer, name: str) -> int:
    rows = pg.admin("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,))
    return int(rows[0][0])
