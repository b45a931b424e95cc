"""Front door: 1M rows into pandas, ours against the peers, in one run.

Every usual way to get a query's rows into pandas, on the same plain table
(uuid, int8, numeric(14,2), timestamptz, two text columns, bool; built once
per size by ``generate_series`` in database ``bench_front_door``, so it does
not depend on the finance schema or its seed): ``db.frame(sql)``, our
``%sql``, JupySQL's ``%sql`` (autopandas), ``pandas.read_sql`` (SQLAlchemy +
psycopg), ConnectorX, polars ``read_database_uri(engine="adbc")`` and raw
ADBC; the reference is ADBC -> pandas(ArrowDtype). Streaming compares
``stream_frames(sql)`` with ADBC record batches.

Each run of each method is a fresh process (`front_door_probe`), so peak RSS
is its own and the warm-up is the same for all. Runs are interleaved
round-robin, three rounds: the median of 3 times, the largest of 3 peak RSS
growths. Every ratio is to the reference of the same run. A peer that is
missing or cannot run prints ``n/a (reason)`` and is not retried; a wrong
row count is a failure, never a number.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import dashtam_nb as dn
from benchmarks.front_door_probe import MARK, libpq, scrub, table_name
from benchmarks.registry import Measurement, case

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_front_door"
TIMEOUT = 900
CREATE = """
CREATE TABLE {table} AS
SELECT md5(i::text)::uuid AS id,
       i AS seq,
       (((i * 7919) % 2000001 - 1000000) / 100.0)::numeric(14,2) AS amount,
       timestamptz '2025-01-01 00:00+00' + i * interval '17 seconds' AS posted_at,
       (ARRAY['groceries','rent','salary','transport','dining','health',
              'utilities','travel'])[1 + i % 8] AS category,
       'card payment ' || (i * 104729 % 99991) || repeat(' x', (i % 20)::int)
           AS description,
       i % 3 = 0 AS is_debit
FROM generate_series(1::int8, {rows}) AS i
"""

# (key, label, kind): kind "front" is a whole read into one frame, "stream"
# a read in chunks; the first of each kind is its reference.
METHODS = [
    ("adbc_pandas", "ADBC -> pandas(ArrowDtype) (ref)", "front"),
    ("adbc_arrow", "raw ADBC -> Arrow table", "front"),
    ("frame", "ours: db.frame(sql)", "front"),
    ("magic", "ours: %sql", "front"),
    ("jupysql", "JupySQL %sql (autopandas)", "front"),
    ("read_sql", "pandas.read_sql (SA + psycopg)", "front"),
    ("connectorx", "ConnectorX read_sql -> pandas", "front"),
    ("polars", "polars read_database_uri(adbc)", "front"),
    ("adbc_batches", "ADBC record batches (ref)", "stream"),
    ("stream", "ours: stream_frames(sql)", "stream"),
]
TARGETS = {
    "frame": " (target <= 1.3x)",
    "magic": " (target <= 1.3x)",
    "stream": " (targets <= 1.5x, < 250 MB)",
}


def plain_table(
    db: dn.Database, rows: int, table: str | None = None, key: str | None = None
) -> str:
    """The plain table of ``rows`` rows, built once per size and reused.

    ``table`` names it (default `table_name`); ``key`` adds a primary key.
    """
    import psycopg

    table = table or table_name(rows)
    if db.scalar("SELECT to_regclass(:t) IS NOT NULL", {"t": table}):
        if db.scalar(f"SELECT count(*) FROM {table}") == rows:
            return table
        db.execute(f"DROP TABLE {table}")
    db.execute(CREATE.format(table=table, rows=rows))
    if key is not None:
        db.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
    # Set hint bits and statistics now, so no method's run pays for them.
    with psycopg.connect(libpq(db.url), autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {table}")
    return table


def run_probe(
    argv: list[str], env: dict[str, str], mark: str, timeout: float
) -> dict[str, Any]:
    """Run one measuring child; its result is the JSON on its ``mark`` line."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"na": f"timed out after {timeout} s"}
    # Peers print too (JupySQL says "Closing <url>" at exit): take our line.
    ours = [x for x in done.stdout.splitlines() if x.startswith(mark)]
    if done.returncode == 0 and ours:
        result: dict[str, Any] = json.loads(ours[-1][len(mark) :])
        return result
    return {"na": f"child failed: {scrub((done.stderr.splitlines() or [''])[-1])}"}


def _probe(key: str, database: str, rows: int, env: dict[str, str]) -> dict[str, Any]:
    argv = ["benchmarks.front_door_probe", key, database, str(rows)]
    return run_probe(argv, env, MARK, TIMEOUT)


def _row(
    key: str, label: str, size: str, runs: list[dict[str, Any]], ref: float | None
) -> Measurement:
    seconds = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    if ref is None:
        ratio = "no reference"
    elif key in ("adbc_pandas", "adbc_batches"):
        ratio = "the reference"
    else:
        ratio = f"{seconds / ref:.2f}x ref"
    note = f"{ratio}; peak RSS +{peak:.0f} MB{TARGETS.get(key, '')}"
    return Measurement(f"{label} {size}", seconds, len(runs), note)


@case("front_door")
def front_door(
    quick: bool = False,
    *,
    rows: int | None = None,
    repeats: int = 3,
    database: str = DATABASE,
) -> list[Measurement]:
    """Rows into pandas and streams: ours, the peers and ADBC, one run.

    ``rows``, ``repeats`` and ``database`` are for the smoke test (a small
    table in its own database); ``--quick`` reads 100k rows.
    """
    n = rows or (100_000 if quick else 1_000_000)
    db = dn.connect(database, default=False)
    plain_table(db, n)
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in METHODS}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="dn-front-door-") as home:
        # Private IPython profiles; JupySQL's telemetry off (no network).
        env = {**os.environ, "IPYTHONDIR": home, "PLOOMBER_STATS_ENABLED": "false"}
        for _ in range(repeats):
            for key, _, _ in METHODS:
                if key not in failed:
                    out = _probe(key, database, n, env)
                    if "na" in out:
                        failed[key] = out["na"]
                    else:
                        runs[key].append(out)
    measurements = []
    for kind, size in (("front", f"[{n:,}]"), ("stream", f"[stream {n:,}]")):
        chosen = [(key, label) for key, label, k in METHODS if k == kind]
        ref_key = chosen[0][0]
        ref = None
        if ref_key not in failed:
            ref = statistics.median(r["seconds"] for r in runs[ref_key])
        for key, label in chosen:
            if key in failed:
                note = f"n/a ({failed[key]})"
                measurements.append(Measurement(f"{label} {size}", 0.0, 0, note))
            else:
                measurements.append(_row(key, label, size, runs[key], ref))
    dn.run(db.close())
    return measurements
