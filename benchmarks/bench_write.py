"""write_frame: a DataFrame into a *new* table, against raw psycopg binary COPY.

The frame is the sample data set's transactions (uuid text, numeric(14, 2),
text, timestamptz, bool), as Arrow-backed pandas. ``write_frame`` derives the
table from the dtypes, creates it and loads it through the binary COPY path
in one transaction; the reference COPYs the same rows, ready-made as Python
tuples (not timed), into an empty table of the same types, and the floor
COPYs the already encoded stream (what the server itself needs). ``replace``
also drops and renames (the atomic swap); appending to an existing table
shows what creating the table costs. Runs are interleaved (`compare`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import psycopg

import dashtam_nb as dn
from benchmarks.frames_data import SEED, compare, uri
from benchmarks.registry import Measurement, case
from dashtam_nb import sample_data

if TYPE_CHECKING:
    from collections.abc import Callable

NEW, RAW, REPLACED = "bench_wf_new", "bench_wf_raw", "bench_wf_replaced"


def _frame(n: int) -> pd.DataFrame:
    table = sample_data.tables(n, SEED)["transactions"].slice(0, n)
    frame: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
    return frame


def _pg_types(db: dn.Database, table: str) -> list[str]:
    rows = db.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = CAST(:t AS regclass) AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        {"t": table},
    )
    return [str(r[0]).split("(")[0] for r in rows]


def _encoded(db: dn.Database, df: pd.DataFrame, table: str) -> bytes:
    """The complete binary COPY stream of ``df`` for ``table``."""
    import sqlalchemy as sa

    from dashtam_nb.io.coerce import Target, coerce, kind_of
    from dashtam_nb.io.pgbinary import HEADER, TRAILER, encode_rows

    async def reflect(session: Any) -> sa.Table:
        conn = await session.connection()
        return await conn.run_sync(  # type: ignore[no-any-return]
            lambda c: sa.Table(table, sa.MetaData(), autoload_with=c)
        )

    async def work() -> sa.Table:
        async with db.get_session() as session:
            return await reflect(session)

    reflected = dn.run(work())
    targets = [
        Target(reflected.c[c], kind_of(reflected.c[c].type))
        for c in map(str, df.columns)
    ]
    arrays = [coerce(df[t.name], t) for t in targets]
    body = encode_rows([t.kind for t in targets], arrays)
    return HEADER + bytes(body) + TRAILER


@case("write_frame")
def write_frame(quick: bool = False) -> list[Measurement]:
    """A frame into a new table: write_frame vs raw psycopg binary COPY."""
    db = dn.connect("bench_write_frame")
    dn.set_database(None)
    conninfo = uri(db)
    rows: list[Measurement] = []
    for n in [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000]:
        df = _frame(n)
        for stmt in (f"DROP TABLE IF EXISTS {NEW}", f"DROP TABLE IF EXISTS {RAW}"):
            db.execute(stmt)
        db.write_frame(df.iloc[:0], NEW)
        db.execute(f"CREATE TABLE {RAW} (LIKE {NEW})")
        db.write_frame(df, REPLACED, if_exists="replace")
        types = _pg_types(db, RAW)
        cols = ", ".join(f'"{c}"' for c in df.columns)
        tuples = list(
            zip(*(df[c].array._pa_array.to_pylist() for c in df), strict=True)
        )

        def raw_copy(
            tuples: list[tuple[Any, ...]] = tuples,
            types: list[str] = types,
            stmt: str = f"COPY {RAW} ({cols}) FROM STDIN (FORMAT BINARY)",
        ) -> None:
            with (
                psycopg.connect(conninfo) as conn,
                conn.cursor() as cur,
                cur.copy(stmt) as cp,
            ):
                cp.set_types(types)
                for row in tuples:
                    cp.write_row(row)

        # The server's own floor: the COPY stream already encoded (not timed).
        payload = _encoded(db, df, RAW)

        def floor(
            payload: bytes = payload,
            stmt: str = f"COPY {RAW} ({cols}) FROM STDIN (FORMAT BINARY)",
        ) -> None:
            with (
                psycopg.connect(conninfo) as conn,
                conn.cursor() as cur,
                cur.copy(stmt) as cp,
            ):
                cp.write(payload)

        def load_existing(df: pd.DataFrame = df) -> None:
            db.write_frame(df, RAW, if_exists="append")

        def new_table(df: pd.DataFrame = df) -> None:
            db.write_frame(df, NEW)

        def replace(df: pd.DataFrame = df) -> None:
            db.write_frame(df, REPLACED, if_exists="replace")

        def setup() -> None:
            db.execute(f"DROP TABLE IF EXISTS {NEW}")
            db.execute(f"TRUNCATE {RAW}")

        methods: list[tuple[str, Callable[[], object]]] = [
            ("raw psycopg binary COPY (reference)", raw_copy),
            ("ours: db.write_frame, new table", new_table),
            ("ours: db.write_frame, if_exists='replace'", replace),
            ("for contrast: append to an existing table", load_existing),
            ("floor: COPY of the pre-encoded stream", floor),
        ]
        reps = 5 if n <= 100_000 else 3
        for label, seconds, samples in compare(methods, reps, setup=setup):
            rows.append(Measurement(f"{label} [{n:,}]", seconds, samples))
        ref = next(
            m for m in rows if m.method.startswith("raw") and f"[{n:,}]" in m.method
        )
        for m in rows:
            if m.method.startswith("ours") and f"[{n:,}]" in m.method:
                m.note = f"{m.seconds / ref.seconds:.2f}x raw COPY (target <= 1.3x)"
    for stmt in (NEW, RAW, REPLACED):
        db.execute(f"DROP TABLE IF EXISTS {stmt}")
    return rows
