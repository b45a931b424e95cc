"""stream_frames: bounded chunks whose concatenation is the full frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import pandas as pd
import pytest
from sqlalchemy import select

import dashtam_nb as dn
from dashtam_nb import sample_data
from dashtam_nb.io import fetch as columnar
from dashtam_nb.io.stream import astream_frames, stream_frames
from dashtam_nb.models import TransactionModel, UserModel
from tests.support.frame_checks import assert_identical

if TYPE_CHECKING:
    from collections.abc import Generator

pytestmark = pytest.mark.integration


T = TransactionModel
STMT = select(T).order_by(T.id)


@pytest.fixture
def seeded(schema_db: dn.Database) -> dn.Database:
    sample_data.seed(schema_db, "small")
    return schema_db


def full_frame(db: dn.Database, *, include_deleted: bool = False) -> pd.DataFrame:
    async def read() -> pd.DataFrame:
        async with db.get_session() as session:
            return await columnar.afetch_frame(
                session, STMT, fast=False, include_deleted=include_deleted
            )

    return dn.run(read())


def test_chunks_are_bounded_and_concatenate_to_the_full_frame(
    seeded: dn.Database,
) -> None:
    chunks = list(stream_frames(seeded, STMT, chunk_rows=400))
    assert [len(c) for c in chunks[:-1]] == [400] * (len(chunks) - 1)
    assert 0 < len(chunks[-1]) <= 400
    whole = pd.concat(chunks, ignore_index=True)
    assert_identical(whole, full_frame(seeded))
    assert seeded.pool_status()["checked_out"] == 0


async def test_async_stream_matches_and_hides_soft_deleted_rows(
    seeded: dn.Database,
) -> None:
    chunks = [c async for c in astream_frames(seeded, STMT, chunk_rows=500)]
    whole = pd.concat(chunks, ignore_index=True)
    assert not whole["is_deleted"].any()
    assert_identical(whole, full_frame(seeded))
    everything = [
        c async for c in astream_frames(seeded, STMT, 500, include_deleted=True)
    ]
    assert sum(map(len, everything)) == 1_500


async def test_stream_inside_a_session_sees_its_uncommitted_rows(
    seeded: dn.Database,
) -> None:
    with pytest.raises(RuntimeError, match="undo"):
        async with seeded.get_session() as session:
            session.add(UserModel(email="streamed@example.com", password_hash="x"))
            await session.flush()
            emails: set[str] = set()
            async for chunk in astream_frames(session, select(UserModel.email), 10):
                emails |= set(chunk["email"])
            assert "streamed@example.com" in emails
            raise RuntimeError("undo")


def test_breaking_early_closes_the_cursor_and_session(seeded: dn.Database) -> None:
    stream = cast(
        "Generator[pd.DataFrame]", stream_frames(seeded, STMT, chunk_rows=100)
    )
    first = next(stream)
    assert len(first) == 100
    stream.close()
    assert seeded.pool_status()["checked_out"] == 0
    assert seeded.scalar("SELECT 1") == 1


def test_empty_result_yields_nothing(seeded: dn.Database) -> None:
    empty = select(T).where(T.category == "none")
    assert list(stream_frames(seeded, empty)) == []


def test_progress_bar_is_silent_under_pytest_unless_forced(
    seeded: dn.Database, capsys: pytest.CaptureFixture[str]
) -> None:
    list(stream_frames(seeded, STMT, chunk_rows=500))
    assert capsys.readouterr().err == ""
    list(stream_frames(seeded, STMT, chunk_rows=500, progress=True, total=1_455))
    assert "rows" in capsys.readouterr().err


def test_bad_chunk_size_is_refused_before_any_sql(seeded: dn.Database) -> None:
    with pytest.raises(dn.ValidationError, match="chunk_rows"):
        list(stream_frames(seeded, STMT, chunk_rows=0))


def test_sql_text_streams_with_bound_parameters_on_both_routes(
    seeded: dn.Database,
) -> None:
    sql = (
        "SELECT id::text AS id, amount, category FROM transactions "
        "WHERE category = :cat ORDER BY posted_at, id"
    )
    whole = seeded.frame(sql, {"cat": "groceries"})
    assert len(whole) > 20
    for fast in (False, True):
        chunks = list(
            stream_frames(seeded, sql, {"cat": "groceries"}, chunk_rows=7, fast=fast)
        )
        assert all(len(c) == 7 for c in chunks[:-1])
        assert_identical(pd.concat(chunks, ignore_index=True), whole)


def test_unbounded_numeric_scale_is_fixed_by_the_first_values(
    seeded: dn.Database,
) -> None:
    # The first rows are NULL: their batch takes the scale found later.
    sql = (
        "SELECT g, CASE WHEN g > 15 THEN g / 8.0 END AS x "
        "FROM generate_series(1, 40) AS g ORDER BY g"
    )
    for fast in (False, True):
        chunks = list(stream_frames(seeded, sql, chunk_rows=10, fast=fast))
        dtypes = {str(c["x"].dtype) for c in chunks}
        assert len(dtypes) <= 2  # an all-NULL first chunk may still be (38, 0)
        assert str(chunks[-1]["x"].dtype).startswith("decimal128(38, ")
    wider = (
        "SELECT CASE WHEN g < 3 THEN 1.5 ELSE 1.25 END AS x "
        "FROM generate_series(1, 5) AS g ORDER BY g"
    )
    with pytest.raises(dn.ValidationError, match="column 'x'"):
        list(stream_frames(seeded, wider, chunk_rows=1, fast=False))


def test_breaking_a_columnar_stream_of_text_returns_every_connection(
    seeded: dn.Database,
) -> None:
    sql = "SELECT g FROM generate_series(1, 50000) AS g"
    stream = cast(
        "Generator[pd.DataFrame]", stream_frames(seeded, sql, chunk_rows=100, fast=True)
    )
    assert len(next(stream)) == 100
    stream.close()
    assert seeded.pool_status()["checked_out"] == 0
    assert seeded.scalar("SELECT 1") == 1
