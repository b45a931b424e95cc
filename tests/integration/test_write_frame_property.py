"""Property test: random frames of every write dtype, written and read back.

Each example draws a few columns, each of an Arrow dtype that `write_frame`
creates a column for, with random values, edge values and NULLs, writes them
to a new table and reads them back twice: through psycopg's own decoders
(the stored values must equal the frame's) and through ``db.frame`` (the
frame must come back identical, for the dtypes whose read type does not
yet depend on the values).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dashtam_nb as dn
from tests.integration.test_write_frame import _same

if TYPE_CHECKING:
    from collections.abc import Iterator

UTC = dt.UTC
texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=20,
)
naive = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)
)
money = st.decimals(
    min_value=Decimal("-9999999999.9999"),
    max_value=Decimal("9999999999.9999"),
    places=4,
    allow_nan=False,
    allow_infinity=False,
)
# name -> (Arrow type, value strategy, db.frame returns exactly this dtype)
KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy[Any], bool]] = {
    "int16": (pa.int16(), st.integers(-(2**15), 2**15 - 1), False),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1), False),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1), True),
    "float32": (pa.float32(), st.floats(width=32), False),
    "float64": (pa.float64(), st.floats(), True),
    "bool": (pa.bool_(), st.booleans(), True),
    "string": (pa.string(), texts, True),
    "decimal": (pa.decimal128(14, 4), money, False),
    "wide decimal": (pa.decimal128(30, 4), money, False),
    "timestamptz": (
        pa.timestamp("us", "UTC"),
        naive.map(lambda d: d.replace(tzinfo=UTC)),
        True,
    ),
    "timestamp": (pa.timestamp("us"), naive, True),
    "date": (pa.date32(), st.dates(), True),
    "time": (pa.time64("us"), st.times(), True),
    "interval": (
        pa.duration("us"),
        st.timedeltas(
            min_value=-dt.timedelta(days=10**5), max_value=dt.timedelta(days=10**5)
        ),
        True,
    ),
    "bytea": (pa.binary(), st.binary(max_size=20), True),
    "int list": (
        pa.list_(pa.int64()),
        st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=4),
        False,
    ),
    "text list": (
        pa.list_(pa.string()),
        st.lists(st.none() | texts, max_size=4),
        False,
    ),
}


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    kinds = draw(
        st.lists(st.sampled_from(sorted(KINDS)), min_size=1, max_size=4, unique=True)
    )
    n = draw(st.integers(0, 12))
    data: dict[str, pd.Series] = {
        "k": pd.Series(range(n), dtype=pd.ArrowDtype(pa.int64()))
    }
    for kind in kinds:
        typ, values, _ = KINDS[kind]
        column = draw(st.lists(st.none() | values, min_size=n, max_size=n))
        data[kind] = pd.Series(pa.array(column, type=typ), dtype=pd.ArrowDtype(typ))
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def db(server_url: object) -> Iterator[dn.Database]:
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_wprop"
    database = dn.connect(name, fresh=True)
    dn.set_database(None)
    yield database
    dn.run(database.close())
    dn.drop_database(name)


def _equal(stored: Any, given_: Any) -> bool:
    if isinstance(given_, float) and math.isnan(given_):
        return isinstance(stored, float) and math.isnan(stored)
    return bool(stored == given_)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(df=frames())
def test_every_write_dtype_round_trips_exactly(
    db: dn.Database, df: pd.DataFrame
) -> None:
    name = f"p_{uuid.uuid4().hex[:10]}"
    assert db.write_frame(df, name) == len(df)
    columns = ", ".join(f'"{c}"' for c in df.columns)
    rows = db.execute(f"SELECT {columns} FROM {name} ORDER BY k")
    for i, column in enumerate(df.columns):
        expected = pa.array(df[column].array).to_pylist()
        stored = [r[i] for r in rows]
        if column == "float32":  # psycopg reads real as the nearest double
            stored = [
                None if v is None else float(pa.scalar(v, pa.float32()).as_py())
                for v in stored
            ]
        assert all(_equal(s, e) for s, e in zip(stored, expected, strict=True)), column
    # db.frame(sql text) still types empty and all-NULL columns from their
    # values (issue 13, point 2); those are checked through psycopg above.
    typed = [c for c in df.columns if c != "k" and KINDS[c][2] and df[c].notna().any()]
    if len(df) and typed:
        quoted = ", ".join(f'"{c}"' for c in ["k", *typed])
        back = db.frame(f"SELECT {quoted} FROM {name} ORDER BY k")
        _same(back, df[["k", *typed]])
    db.execute(f"DROP TABLE {name}")
