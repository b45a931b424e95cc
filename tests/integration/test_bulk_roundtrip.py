"""Property test of the hand-written binary COPY encoder (`pgbinary`).

`load_frame` encodes PostgreSQL's binary COPY format itself, column by column
in NumPy, because psycopg's row writer is Python per row. That is only worth
it if it is exactly right, so random rows, edge values included (timestamps
before the 2000 epoch, negative and widest decimals, int64 bounds, -0.0,
unicode, NULLs everywhere), are written and read back through psycopg's own
decoders, and must come back equal.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
    select,
)

import dashtam_nb as dn

pytestmark = pytest.mark.integration

RT = Table(
    "roundtrip",
    MetaData(),
    Column("k", Integer, primary_key=True),
    Column("n", Numeric(14, 2)),
    Column("t", DateTime(timezone=True)),
    Column("s", Text),
    Column("b", Boolean),
    Column("i", BigInteger),
    Column("f", Float),
    Column("u", Uuid),
)

money = st.decimals(
    min_value=Decimal("-999999999999.99"),
    max_value=Decimal("999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
moments = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)
).map(lambda d: d.replace(tzinfo=UTC))
texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
    max_size=40,
)
row = st.tuples(
    st.none() | money,
    st.none() | moments,
    st.none() | texts,
    st.none() | st.booleans(),
    st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
    st.none() | st.uuids(),
)


@pytest.fixture(scope="module")
def rt_db() -> Any:
    name = f"t_roundtrip_{os.getpid()}"
    db = dn.connect(name, fresh=True, default=False)

    async def create() -> None:
        async with db.engine.begin() as conn:
            await conn.run_sync(RT.metadata.create_all)

    dn.run(create())
    yield db
    dn.run(db.close())
    dn.drop_database(name)


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Object columns, so pandas never turns ints-with-None into floats."""
    columns = [c.name for c in RT.columns][1:]
    data: dict[str, Any] = {"k": list(range(len(rows)))}
    data.update(
        {
            name: pd.Series([r[i] for r in rows], dtype=object)
            for i, name in enumerate(columns)
        }
    )
    return pd.DataFrame(data)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(row, min_size=1, max_size=30))
def test_binary_copy_round_trips_every_value(
    rt_db: dn.Database, rows: list[Any]
) -> None:
    async def work() -> list[tuple[Any, ...]]:
        async with rt_db.transaction() as session:
            written = await dn.aload_frame(session, _frame(rows), RT)
            assert written == len(rows)
            back = (await session.execute(select(RT).order_by(RT.c.k))).all()
            await session.rollback()  # leave the table empty for the next example
            return [tuple(r)[1:] for r in back]

    back = dn.run(work())
    assert back == [
        tuple(uuid.UUID(str(v)) if isinstance(v, uuid.UUID) else v for v in r)
        for r in rows
    ]
