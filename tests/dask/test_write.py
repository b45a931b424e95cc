"""dn.dask.write_frame: staged on the workers, published at once, or not at all."""

from __future__ import annotations

import threading
import time

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from distributed import Future

import dashtam_nb as dn
from tests.support.harness import poll

_STAGING = "SELECT count(*) FROM pg_class WHERE relname LIKE '\\_dn\\_stage\\_%'"


def _frame(n: int = 4_000, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + n, dtype=np.int64)
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=pd.ArrowDtype(pa.int64())),
            "amount": pd.Series(ids * 3 % 1000, dtype=pd.ArrowDtype(pa.float64())),
            "label": pd.Series(ids.astype(str), dtype=pd.ArrowDtype(pa.string())),
        }
    )


def _boom_on(partition: int):  # a partition that fails on its worker
    def apply(part: pd.DataFrame, partition_info=None) -> pd.DataFrame:
        if partition_info and partition_info["number"] == partition:
            raise ValueError(f"partition {partition} broke")
        return part

    return apply


def test_a_new_table_gets_every_row_and_no_staging_is_left(client, scratch) -> None:
    df = _frame()
    ddf = dd.from_pandas(df, npartitions=4)
    assert dn.dask.write_frame(ddf, "moves", db=scratch, primary_key="id") == len(df)
    back = scratch.frame("SELECT * FROM moves ORDER BY id")
    pd.testing.assert_frame_equal(back, df)
    assert scratch.scalar(_STAGING) == 0
    with pytest.raises(dn.DuplicateError, match="already exists"):
        dn.dask.write_frame(ddf, "moves", db=scratch)


def test_rows_land_in_the_frame_order(client, scratch) -> None:
    # Shuffled keys, so the key order is not the frame's order; no ORDER BY
    # on the read-back: the table's physical order is what is checked.
    df = _frame(30_000).sample(frac=1.0, random_state=7).reset_index(drop=True)
    ddf = dd.from_pandas(df, npartitions=5, sort=False)
    dn.dask.write_frame(ddf, "moves", db=scratch)
    back = scratch.frame("SELECT * FROM moves ORDER BY ctid")
    pd.testing.assert_frame_equal(back, df)


def test_append_and_replace(client, scratch) -> None:
    first = dd.from_pandas(_frame(1_000), npartitions=2)
    dn.dask.write_frame(first, "moves", db=scratch, primary_key="id")
    more = dd.from_pandas(_frame(1_000, start=1_000), npartitions=3)
    assert dn.dask.write_frame(more, "moves", "append", db=scratch) == 1_000
    assert scratch.scalar("SELECT count(DISTINCT id) FROM moves") == 2_000
    small = dd.from_pandas(_frame(10, start=5), npartitions=2)
    dn.dask.write_frame(small, "moves", "replace", db=scratch)
    assert scratch.scalar("SELECT count(*) FROM moves") == 10
    assert scratch.scalar("SELECT min(id) FROM moves") == 5
    assert scratch.scalar(_STAGING) == 0


def test_a_partition_failing_mid_write_leaves_the_target_untouched(
    client, scratch
) -> None:
    dn.dask.write_frame(dd.from_pandas(_frame(100), npartitions=1), "moves", db=scratch)
    before = scratch.frame("SELECT * FROM moves ORDER BY id")
    broken = dd.from_pandas(_frame(4_000, start=100), npartitions=4)
    broken = broken.map_partitions(_boom_on(2), meta=broken._meta)
    with pytest.raises(ValueError, match="partition 2 broke"):
        dn.dask.write_frame(broken, "moves", "append", db=scratch)
    with pytest.raises(ValueError, match="partition 2 broke"):
        dn.dask.write_frame(broken, "fresh_table", db=scratch)
    pd.testing.assert_frame_equal(
        scratch.frame("SELECT * FROM moves ORDER BY id"), before
    )
    assert scratch.scalar("SELECT to_regclass('fresh_table') IS NULL")
    assert scratch.scalar(_STAGING) == 0
    # Re-running after the failure is safe.
    fixed = dd.from_pandas(_frame(4_000, start=100), npartitions=4)
    assert dn.dask.write_frame(fixed, "moves", "append", db=scratch) == 4_000


def test_a_duplicate_key_names_the_partition_and_row(client, scratch) -> None:
    dn.dask.write_frame(
        dd.from_pandas(_frame(100), npartitions=1),
        "moves",
        db=scratch,
        primary_key="id",
    )
    clash = _frame(300, start=100)
    clash.loc[257, "id"] = 42  # already in the table
    ddf = dd.from_pandas(clash, npartitions=3)  # rows 0-99, 100-199, 200-299
    with pytest.raises(dn.DuplicateError) as caught:
        dn.dask.write_frame(ddf, "moves", "append", db=scratch)
    assert "partition 2, row 57" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert scratch.scalar("SELECT count(*) FROM moves") == 100
    assert scratch.scalar(_STAGING) == 0


def test_a_check_violation_names_the_partition_and_frame_row(client, scratch) -> None:
    scratch.execute(
        "CREATE TABLE moves (id bigint PRIMARY KEY, amount float8 CHECK (amount >= 0),"
        " label text)"
    )
    bad = _frame(300)
    bad.loc[123, "amount"] = -1.0
    with pytest.raises(dn.IntegrityViolationError) as caught:
        dn.dask.write_frame(
            dd.from_pandas(bad, npartitions=3), "moves", "append", db=scratch
        )
    assert "partition 1" in str(caught.value)
    assert "123" in str(caught.value)
    assert scratch.scalar("SELECT count(*) FROM moves") == 0
    assert scratch.scalar(_STAGING) == 0


def test_client_cancel_of_a_write_leaves_nothing(client, scratch) -> None:
    def slow(part: pd.DataFrame) -> pd.DataFrame:
        time.sleep(1.5)
        return part

    ddf = dd.from_pandas(_frame(2_000), npartitions=4)
    ddf = ddf.map_partitions(slow, meta=ddf._meta)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            dn.dask.write_frame(ddf, "moves", db=scratch)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    keys = poll(
        lambda: (
            [
                k
                for ks in client.processing().values()
                for k in ks
                if "dn-stage" in str(k)
            ]
            or [k for k in client.who_has() if "dn-stage" in str(k)]
        )
    )
    client.cancel([Future(k, client) for k in keys])
    thread.join(timeout=60)
    assert failure, "write_frame returned although it was cancelled"
    assert isinstance(failure[0], dn.QueryCancelledError), repr(failure[0])
    assert scratch.scalar("SELECT to_regclass('moves') IS NULL")
    assert scratch.scalar(_STAGING) == 0


def test_leftover_staging_tables_can_be_dropped(scratch) -> None:
    scratch.execute("CREATE TABLE _dn_stage_deadbeef0000_0 (x int)")
    scratch.execute("CREATE TABLE not_staging (x int)")
    assert dn.dask.drop_staging(scratch) == 1
    assert scratch.scalar(_STAGING) == 0
    assert scratch.scalar("SELECT to_regclass('not_staging') IS NOT NULL")


def test_bad_arguments_fail_before_any_sql(scratch) -> None:
    ddf = dd.from_pandas(_frame(10), npartitions=1)
    with pytest.raises(dn.ValidationError, match="if_exists"):
        dn.dask.write_frame(ddf, "moves", "upsert", db=scratch)
    with pytest.raises(dn.ValidationError, match="ddf"):
        dn.dask.write_frame(_frame(10), "moves", db=scratch)
    with pytest.raises(dn.ValidationError):
        dn.dask.write_frame(ddf, "x" * 64, db=scratch)  # PostgreSQL would cut it
    assert scratch.scalar(_STAGING) == 0
