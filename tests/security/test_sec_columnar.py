"""The columnar (ADBC) read path opens a second connection with the session's
password: no canary in its errors (locals included), logs or results."""

from __future__ import annotations

import pytest
from sqlalchemy import column, func, select, table, text

import dashtam_nb as dn
from dashtam_nb.io import fetch as columnar
from tests.support.harness import assert_error_clean, assert_no_secret

pytestmark = pytest.mark.security

ROWS = table("rows", column("n"))


async def _fill(db: dn.Database) -> None:
    await db.aexecute("CREATE TABLE rows (n int NOT NULL)")
    await db.aexecute("INSERT INTO rows SELECT g FROM generate_series(1, 5000) g")
    await db.aexecute("ANALYZE rows")


async def test_fast_read_as_password_role_leaks_nothing(fdb: dn.Database) -> None:
    await _fill(fdb)
    async with fdb.get_session() as session:
        arrow = await columnar.afetch_arrow(session, select(ROWS.c.n), fast=True)
    assert arrow.num_rows == 5000
    assert_no_secret(repr(arrow.schema), str(arrow.schema.metadata))


async def test_fast_read_error_leaks_nothing(fdb: dn.Database) -> None:
    await _fill(fdb)
    failing = select((ROWS.c.n / (ROWS.c.n - 4000)).label("boom"))
    with pytest.raises(dn.DashtamError) as info:
        async with fdb.get_session() as session:
            await session.execute(text("SELECT 1"))
            await columnar.afetch_frame(session, failing, fast=True)
    assert "division by zero" in str(info.value)
    assert_error_clean(info.value)


async def test_fast_read_timeout_leaks_nothing(fdb: dn.Database) -> None:
    await _fill(fdb)
    slow = dn.Database(fdb.url, statement_timeout=0.2, pool_size=1)
    stmt = select(ROWS.c.n).where(func.pg_sleep(0.01) != None)  # noqa: E711
    with pytest.raises(dn.QueryTimeoutError) as info:
        async with slow.get_session() as session:
            await columnar.afetch_frame(session, stmt, fast=True)
    assert_error_clean(info.value)
    await slow.close()
