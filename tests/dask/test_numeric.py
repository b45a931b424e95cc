"""Unbounded numeric: the meta and every partition have db.frame's one decimal."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

import dashtam_nb as dn

_ROWS = 4_000  # two partitions of 2,000: both take the columnar path
_WIDE = 10**35  # 36 integer digits, in the first half only


def _table(db: dn.Database) -> None:
    db.execute(
        "CREATE TABLE amounts (id int PRIMARY KEY, amount numeric, parts numeric[])"
    )
    # The first half: whole numbers, one of them 36 digits wide; the second
    # half: four decimals. Alone, neither half has the whole result's type.
    db.execute(
        "INSERT INTO amounts SELECT i, "
        "CASE WHEN i = 1 THEN CAST(:wide AS numeric) WHEN i <= :half THEN i "
        "ELSE i + 0.1234 END, "
        "CASE WHEN i <= :half THEN ARRAY[i::numeric] ELSE ARRAY[i, 1.25] END "
        "FROM generate_series(1, :rows) AS i",
        {"wide": str(_WIDE), "half": _ROWS // 2, "rows": _ROWS},
    )
    db.execute("ANALYZE amounts")


def test_unbounded_numeric_meta_and_partitions_agree_with_db_frame(
    client, scratch
) -> None:
    _table(scratch)
    want = scratch.frame("SELECT * FROM amounts")
    # db.frame: the whole result's extent (36 digits + 4 decimals > 38).
    assert want["amount"].dtype == pd.ArrowDtype(pa.decimal256(76, 4))
    assert want["parts"].dtype == pd.ArrowDtype(pa.list_(pa.decimal128(38, 2)))
    ddf = dn.dask.read_frame("amounts", db=scratch, partition_on="id", npartitions=2)
    assert list(ddf.dtypes.items()) == list(want.dtypes.items())
    for k in range(ddf.npartitions):
        part = ddf.get_partition(k).compute()
        assert 0 < len(part) < _ROWS
        assert list(part.dtypes.items()) == list(want.dtypes.items()), k
    got = ddf.compute().sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want.sort_values("id").reset_index(drop=True))
    assert got["amount"].iloc[0] == _WIDE


def test_an_all_null_unbounded_numeric_is_a_scale_0_decimal(client, scratch) -> None:
    scratch.execute("CREATE TABLE empty_amounts (id int PRIMARY KEY, amount numeric)")
    scratch.execute(
        "INSERT INTO empty_amounts SELECT i, NULL FROM generate_series(1, 10) AS i"
    )
    want = scratch.frame("SELECT * FROM empty_amounts")
    ddf = dn.dask.read_frame("empty_amounts", db=scratch, npartitions=1)
    assert ddf.dtypes["amount"] == want.dtypes["amount"]
    pd.testing.assert_frame_equal(ddf.compute(), want)
