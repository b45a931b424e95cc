"""Frames: load, write and stream memory, on the sample data set, in one run.

Each case compares our function with the usual alternatives and a reference
(ADBC for reads, raw psycopg binary COPY for writes) on the same rows
(`frames_data`), runs interleaved; the runner prints ratios to the fastest.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import adbc_driver_postgresql.dbapi as adbc
import pandas as pd
import psycopg
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

import dashtam_nb as dn
from benchmarks.frames_data import (
    SEED,
    compare,
    dataset,
    in_session,
    note_ratios,
    sync_engine,
    uri,
)
from benchmarks.registry import Measurement, case
from dashtam_nb import frames, sample_data
from dashtam_nb.entities import Transaction
from dashtam_nb.io import fetch as columnar
from dashtam_nb.io.load import aload_frame
from dashtam_nb.models import TransactionModel as T
from dashtam_nb.softdelete import LIVE_ROWS

if TYPE_CHECKING:
    from collections.abc import Callable

WRITE_TABLE = "bench_write"


def _sizes(quick: bool) -> list[int]:
    return [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]


def _literal_sql(stmt: sa.Select[Any]) -> str:
    # Benchmark-only: the values are our own integers, not user input.
    live = stmt.options(LIVE_ROWS)
    return str(
        live.compile(
            dialect=sa.dialects.postgresql.psycopg.dialect(),
            compile_kwargs={"literal_binds": True},
        )
    )


@case("load")
def load(quick: bool = False) -> list[Measurement]:
    """Rows into pandas: ours vs the guide, Core, read_sql and ADBC."""
    db, _ = dataset(quick)
    engine = sync_engine(db)
    conn = adbc.connect(uri(db))
    rows: list[Measurement] = []
    for n in _sizes(quick):
        stmt = sa.select(T).order_by(T.id).limit(n)
        sql = _literal_sql(stmt)
        reps = 5 if n <= 100_000 else 3

        def adbc_arrow(sql: str = sql) -> Any:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetch_arrow_table()

        async def guide(session: Any, stmt: Any = stmt) -> pd.DataFrame:
            models = (await session.scalars(stmt)).all()
            entities = [m.to_entity() for m in models]
            return frames.to_frame(entities, Transaction, model=T, include_secrets=True)

        methods: list[tuple[str, Callable[[], object]]] = [
            ("ADBC -> Arrow table (reference)", adbc_arrow),
            ("ADBC -> pandas (.to_pandas())", lambda f=adbc_arrow: f().to_pandas()),
            (
                "ours: columnar.fetch_frame",
                lambda s=stmt: in_session(db, lambda ss: columnar.afetch_frame(ss, s)),
            ),
            (
                "Core select -> DataFrame (small path)",
                lambda s=stmt: in_session(
                    db, lambda ss: columnar.afetch_frame(ss, s, fast=False)
                ),
            ),
            (
                "pandas.read_sql (sync SQLAlchemy engine)",
                lambda s=stmt: pd.read_sql(s.options(LIVE_ROWS), engine),
            ),
        ]
        if n <= 100_000:
            methods.append(
                (
                    "guide: ORM -> to_entity -> to_frame",
                    lambda g=guide: in_session(db, g),
                )
            )
        for label, seconds, samples in compare(methods, reps):
            rows.append(Measurement(f"{label} [{n:,}]", seconds, samples))
    note_ratios(rows, "load")
    conn.close()
    engine.dispose()
    return rows


class _Base(DeclarativeBase):
    pass


BENCH_TABLE = sa.Table(
    WRITE_TABLE,
    _Base.metadata,
    *[
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in T.__table__.columns
    ],
)  # the transactions columns, without the foreign key (as created below)


class _BenchTx(_Base):
    """The ORM way needs a mapped class for the write table."""

    __table__ = BENCH_TABLE


def _write_frame(n: int, quick: bool) -> pd.DataFrame:
    total = 200_000 if quick else 2_000_000
    table = sample_data.tables(total, SEED)["transactions"].slice(0, n)
    return table.to_pandas(types_mapper=pd.ArrowDtype)


@case("write")
def write(quick: bool = False) -> list[Measurement]:
    """A DataFrame into a table: ours vs ORM, to_sql and raw psycopg COPY."""
    db, _ = dataset(quick)
    for stmt in (
        f"DROP TABLE IF EXISTS {WRITE_TABLE}",
        f"CREATE TABLE {WRITE_TABLE} "
        "(LIKE transactions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"ALTER TABLE {WRITE_TABLE} ADD PRIMARY KEY (id)",
    ):
        db.execute(stmt)
    engine = sync_engine(db)
    dtype = {
        c.name: sa.Uuid(as_uuid=False) if isinstance(c.type, sa.Uuid) else c.type
        for c in BENCH_TABLE.columns
    }
    names = [c.name for c in BENCH_TABLE.columns]
    pg_types = ["uuid", "uuid", "numeric", "varchar", "varchar", "varchar"]
    pg_types += ["timestamptz"] * 3 + ["bool", "timestamptz"]
    conninfo = uri(db)

    def truncate() -> None:
        db.execute(f"TRUNCATE {WRITE_TABLE}")

    rows: list[Measurement] = []
    for n in _sizes(quick):
        df = _write_frame(n, quick)
        # The reference gets its rows ready-made (not timed): the floor.
        arrow = pa.Table.from_pandas(df, preserve_index=False)
        columns = [column.to_pylist() for column in arrow.columns]
        columns[0] = [uuid.UUID(v) for v in columns[0]]
        columns[1] = [uuid.UUID(v) for v in columns[1]]
        tuples = list(zip(*columns, strict=True))

        def raw_copy(tuples: list[tuple[Any, ...]] = tuples) -> None:
            with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
                cols = ", ".join(names)
                with cur.copy(
                    f"COPY {WRITE_TABLE} ({cols}) FROM STDIN (FORMAT BINARY)"
                ) as cp:
                    cp.set_types(pg_types)
                    for row in tuples:
                        cp.write_row(row)

        def orm(df: pd.DataFrame = df) -> None:
            async def work(session: Any) -> None:
                records = df.to_dict("records")
                for r in records:
                    r["id"], r["account_id"] = (
                        uuid.UUID(r["id"]),
                        uuid.UUID(r["account_id"]),
                    )
                session.add_all([_BenchTx(**r) for r in records])

            in_session(db, work)

        methods: list[tuple[str, Callable[[], object]]] = [
            ("raw psycopg binary COPY (reference)", raw_copy),
            (
                "ours: bulk.load_frame",
                lambda df=df: in_session(db, lambda s: aload_frame(s, df, BENCH_TABLE)),
            ),
            (
                "DataFrame.to_sql (sync SQLAlchemy engine)",
                lambda df=df: df.to_sql(
                    WRITE_TABLE, engine, if_exists="append", index=False, dtype=dtype
                ),
            ),
        ]
        if n <= 10_000:
            methods.append(("ORM session.add_all", orm))
        reps = 5 if n <= 100_000 else 3
        for label, seconds, samples in compare(methods, reps, setup=truncate):
            rows.append(Measurement(f"{label} [{n:,}]", seconds, samples))
    note_ratios(rows, "write")
    ours_10k = next(m for m in rows if m.method == "ours: bulk.load_frame [10,000]")
    for m in rows:
        if m.method.startswith("ORM"):
            slower = m.seconds / ours_10k.seconds
            m.note = f"10k only: {slower:.0f}x slower than load_frame"
    db.execute(f"DROP TABLE {WRITE_TABLE}")
    engine.dispose()
    return rows


PROBE = """
import json, sys, threading, time
import psutil
from sqlalchemy import select
import dashtam_nb as dn
from dashtam_nb.io import fetch as columnar
from dashtam_nb.models import TransactionModel as T
from dashtam_nb.io.stream import stream_frames

dn.settings.reload()
db = dn.Database(dn.settings.database_url.set(database=sys.argv[1]))
mode, chunk = sys.argv[2], int(sys.argv[3])
db.scalar("SELECT 1")
proc = psutil.Process()
base = peak = proc.memory_info().rss
done = False

def sample():
    global peak
    while not done:
        peak = max(peak, proc.memory_info().rss)
        time.sleep(0.002)

threading.Thread(target=sample, daemon=True).start()
stmt = select(T).order_by(T.id)
t0 = time.perf_counter()
rows = 0
if mode == "stream":
    for frame in stream_frames(db, stmt, chunk, include_deleted=True, progress=False):
        rows += len(frame)
        del frame
else:
    async def read():
        async with db.get_session() as session:
            return await columnar.afetch_frame(session, stmt, include_deleted=True)
    rows = len(dn.run(read()))
seconds = time.perf_counter() - t0
done = True
time.sleep(0.01)
print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": (peak - base) / 2**20}))
"""


def _probe(db: dn.Database, mode: str, chunk: int) -> dict[str, float]:
    args = [sys.executable, "-c", PROBE, str(db.url.database), mode, str(chunk)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


@case("stream")
def stream(quick: bool = False) -> list[Measurement]:
    """Peak RSS growth: stream_frames in 100k chunks vs one full frame."""
    db, n = dataset(quick)
    chunked = _probe(db, "stream", 100_000)
    whole = _probe(db, "whole", 0)
    assert chunked["rows"] == whole["rows"] == n
    return [
        Measurement(
            f"ours: stream_frames, 100k chunks [{n:,}]",
            chunked["seconds"],
            1,
            f"peak RSS growth {chunked['peak_mb']:.0f} MB (target < 250 MB)",
        ),
        Measurement(
            f"for contrast: fetch_frame, all rows at once [{n:,}]",
            whole["seconds"],
            1,
            f"peak RSS growth {whole['peak_mb']:.0f} MB",
        ),
    ]
