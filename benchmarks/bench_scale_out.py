"""Scale out: dn.dask.read_frame and write_frame against the peers, one run.

One plain table (the front-door columns: uuid, int8, numeric(14,2),
timestamptz, two text columns, bool; built once per size by
``generate_series`` in database ``bench_scale_out``), read whole:

* ``dn.dask.read_frame(table)`` on a fresh ``LocalCluster`` of 1, 2 and 4
  worker processes (one thread each), its default partitions (~500k rows
  each, a multiple of the worker threads; ctid block ranges), one exported
  snapshot;
* ``dask.dataframe.read_sql_query`` of the same ``SELECT`` (every column;
  pandas.read_sql per partition, ranges of the index column ``seq`` it needs,
  each partition in its own snapshot), same workers and partition count;
* single-process ``db.frame`` (the reference at 1 worker).

Both Dask methods run under the same ``Client(cluster,
direct_to_workers=True)``: results come straight from the workers, not relayed
through the scheduler (see "Scale out" in benchmarks/README.md for what the
relay costs). Ours and the single-process references are timed
`OURS_REPEATS` times in their process (median); the peer, minutes a run at
5M rows, once.

Each is timed twice: ``.compute()`` (every row shipped to the client and
concatenated there, as ``db.frame`` returns them) and ``len(frame)`` ("on
workers": each worker reads its partitions and only their lengths travel,
the usual shape of a Dask job that aggregates before it collects).

Writes: ``dn.dask.write_frame`` of the persisted frame (staging tables in
parallel, one publishing transaction) against single-process
``db.write_frame`` (`load_frame`'s binary COPY in one transaction).

Each method runs in a fresh process (``python -m benchmarks.bench_scale_out
--probe``), so a peak RSS is its own: for Dask methods the largest peak of
any worker (``ru_maxrss``), plus the client's. ``--quick`` uses 200k rows.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import dashtam_nb as dn
from benchmarks.bench_front_door import plain_table, run_probe
from benchmarks.registry import Measurement, case

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_scale_out"
MARK = "scale_out_probe: "
TIMEOUT = 1800
WORKERS = (1, 2, 4)
WARM = 50_000  # 4,000+ rows in each of up to 12 partitions: columnar, warmed
OURS_REPEATS = 3


def table_name(rows: int) -> str:
    return f"scale_out_{rows}"


def _table(db: dn.Database, rows: int) -> str:
    return plain_table(db, rows, table_name(rows), key="seq")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cluster(workers: int) -> Any:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=50,
    )
    return cluster, Client(cluster, direct_to_workers=True)


def _worker_peak(client: Any) -> float:
    peaks = client.run(_peak_mb)
    return max(peaks.values())


def _probe_main(method: str, database: str, rows: int, workers: int) -> dict[str, Any]:
    db = dn.connect(database, default=False)
    table = table_name(rows)
    runs: list[float] = []
    if method == "frame":
        db.frame(f"SELECT * FROM {table_name(WARM)}")
        for _ in range(OURS_REPEATS):
            t0 = time.perf_counter()
            got = db.frame(f"SELECT * FROM {table}")
            runs.append(time.perf_counter() - t0)
            assert len(got) == rows
            del got
        return {"seconds": statistics.median(runs), "runs": runs, "peak_mb": _peak_mb()}
    if method == "load":
        small = db.frame(f"SELECT * FROM {table_name(WARM)}")
        db.write_frame(small, f"{table}_copy1", "replace")
        df = db.frame(f"SELECT * FROM {table}")
        for _ in range(OURS_REPEATS):
            t0 = time.perf_counter()
            db.write_frame(df, f"{table}_copy1", "replace")
            runs.append(time.perf_counter() - t0)
        return {"seconds": statistics.median(runs), "runs": runs, "peak_mb": _peak_mb()}

    cluster, client = _cluster(workers)
    try:
        # Our default partition count for this table and cluster; the peer
        # gets the same.
        parts = dn.dask.read_frame(table, db=db).npartitions
        dn.dask.release(db)
        # The first pass warms every worker (engine, pool, ADBC, imports)
        # on a small table; the next are timed.
        _, n = _timed(method, db, table_name(WARM), parts, workers)
        assert n == WARM, (n, WARM)
        for _ in range(OURS_REPEATS if method.startswith("dask_") else 1):
            seconds, n = _timed(method, db, table, parts, workers)
            assert n == rows, (n, rows)
            runs.append(seconds)
        return {
            "seconds": statistics.median(runs),
            "runs": runs,
            "partitions": parts,
            "peak_mb": _worker_peak(client),
            "client_mb": _peak_mb(),
        }
    finally:
        client.close()
        cluster.close()


def _timed(
    method: str, db: dn.Database, table: str, parts: int, workers: int
) -> tuple[float, int]:
    from distributed import wait

    if method in ("dask_read", "dask_count"):
        t0 = time.perf_counter()
        frame = dn.dask.read_frame(table, db=db, npartitions=parts)
        # _count: the rows stay on the workers (only lengths travel).
        n = len(frame) if method == "dask_count" else len(frame.compute())
    elif method in ("peer_read", "peer_count"):
        import dask.dataframe as dd

        select = _peer_select(db, table)
        t0 = time.perf_counter()
        frame = dd.read_sql_query(
            select,
            con=db.url.render_as_string(hide_password=False),
            index_col="seq",
            npartitions=parts,
        )
        n = len(frame) if method == "peer_count" else len(frame.compute())
    elif method == "dask_write":
        # persist() drops the lazy frame: hold its snapshot with a block.
        with dn.dask.consistent(db):
            frame = dn.dask.read_frame(table, db=db, npartitions=parts).persist()
            wait(frame)
        t0 = time.perf_counter()
        n = dn.dask.write_frame(frame, f"{table}_copy{workers}", "replace", db=db)
    else:
        raise SystemExit(f"unknown method {method}")
    return time.perf_counter() - t0, n


def _peer_select(db: dn.Database, table: str) -> Any:
    """``SELECT <every column> FROM table`` as read_sql_query needs it."""
    import sqlalchemy as sa

    names = db.frame(f"SELECT * FROM {table} LIMIT 0").columns
    return sa.select(*(sa.column(c) for c in names)).select_from(sa.table(table))


def _probe(method: str, rows: int, workers: int) -> dict[str, Any]:
    argv = ["benchmarks.bench_scale_out", "--probe", method, DATABASE]
    return run_probe([*argv, str(rows), str(workers)], dict(os.environ), MARK, TIMEOUT)


def _row(
    label: str, runs: list[dict[str, Any]], ref: float | None, peer: float | None
) -> Measurement:
    times = [t for r in runs for t in r.get("runs", [r["seconds"]])]
    seconds = statistics.median(times)
    peak = max(r["peak_mb"] for r in runs)
    ratio = "the reference" if ref is None else f"{seconds / ref:.2f}x ref"
    if peer is not None:
        ratio += f", {peer / seconds:.2f}x faster than read_sql_query"
    where = "per worker" if "client_mb" in runs[0] else "one process"
    note = f"{ratio}; peak RSS {peak:.0f} MB {where}"
    if "client_mb" in runs[0]:
        note += f" (client {max(r['client_mb'] for r in runs):.0f} MB)"
        note += f"; {runs[0]['partitions']} partitions"
    if len(times) > 1:
        note += "; runs " + " / ".join(f"{t:.2f}" for t in times) + " s"
    return Measurement(label, seconds, len(times), note)


_PEERS = {"dask_read": "peer_read", "dask_count": "peer_count"}


def _median(
    results: dict[tuple[str, int], list[dict[str, Any]]], key: tuple[str, int]
) -> float | None:
    runs = results.get(key)
    return statistics.median(r["seconds"] for r in runs) if runs else None


@case("scale_out")
def scale_out(
    quick: bool = False, *, rows: int | None = None, repeats: int = 1
) -> list[Measurement]:
    """Partitioned reads and writes on Dask against the peers (see module)."""
    n = rows or (200_000 if quick else 5_000_000)
    db = dn.connect(DATABASE, default=False)
    _table(db, WARM)
    _table(db, n)
    dn.run(db.close())
    plan: list[tuple[str, str, int]] = [("frame", "db.frame (one process)", 1)]
    for w in WORKERS:
        plan.append(("dask_read", f"ours: dn.dask.read_frame, {w} worker(s)", w))
        plan.append(("peer_read", f"dask read_sql_query, {w} worker(s)", w))
    for w in WORKERS:
        plan.append(("dask_count", f"ours: read_frame on workers, {w} worker(s)", w))
        plan.append(("peer_count", f"read_sql_query on workers, {w} worker(s)", w))
    plan.append(("load", "db.write_frame / load_frame (one process)", 1))
    plan += [
        ("dask_write", f"ours: dn.dask.write_frame, {w} worker(s)", w) for w in WORKERS
    ]
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    failed: dict[tuple[str, int], str] = {}
    for _ in range(repeats):
        for method, _label, w in plan:
            if (method, w) not in failed:
                out = _probe(method, n, w)
                if "na" in out:
                    failed[method, w] = out["na"]
                else:
                    results.setdefault((method, w), []).append(out)
    refs = {"read": ("frame", 1), "write": ("load", 1)}
    measurements = []
    for method, label, w in plan:
        kind = "write" if method in ("load", "dask_write") else "read"
        name = f"{label} [{kind} {n:,}]"
        if (method, w) in failed:
            measurements.append(Measurement(name, 0.0, 0, f"n/a ({failed[method, w]})"))
            continue
        measurements.append(
            _row(
                name,
                results[method, w],
                _median(results, refs[kind]) if (method, w) != refs[kind] else None,
                _median(results, (_PEERS[method], w)) if method in _PEERS else None,
            )
        )
    return measurements


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        method, database, rows, workers = sys.argv[2:6]
        out = _probe_main(method, database, int(rows), int(workers))
        print(MARK + json.dumps(out), flush=True)
    else:  # the table comes from the runner: python -m benchmarks scale_out
        sys.exit("usage: python -m benchmarks scale_out [--quick]")
