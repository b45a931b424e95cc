"""dn.dask.read_frame on a LocalCluster: same frame as db.frame, one snapshot."""

from __future__ import annotations

import os
import signal
import threading
import time

import pandas as pd
import pytest
from sqlalchemy import select

import dashtam_nb as dn
from dashtam_nb.models import TransactionModel
from tests.support.harness import poll

# Each partition sleeps once on the server (not per row): slow enough to
# kill or cancel it while it runs.
_SLOW = (
    "SELECT t.id, t.amount, t.created_at, s.one FROM transactions t "
    "CROSS JOIN (SELECT 1 AS one FROM pg_sleep(:pause)) s"
)


def _sorted(frame: pd.DataFrame, key: str = "id") -> pd.DataFrame:
    return frame.sort_values(key).reset_index(drop=True)


def test_a_table_read_by_blocks_equals_db_frame(client, seeded) -> None:
    ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=4)
    got = ddf.compute()
    want = seeded.frame("SELECT * FROM transactions")
    assert ddf.npartitions == 4
    assert len(got) == len(want) > 0
    assert list(ddf.dtypes.items()) == list(want.dtypes.items())
    pd.testing.assert_frame_equal(_sorted(got), _sorted(want))
    # Every partition read a real share of the blocks.
    sizes = ddf.map_partitions(len).compute().tolist()
    assert sum(sizes) == len(want)
    assert min(sizes) > 0


def test_text_split_on_a_time_column_equals_db_frame(client, seeded) -> None:
    sql = "SELECT id, amount, created_at FROM transactions WHERE amount > :low"
    ddf = dn.dask.read_frame(
        sql, db=seeded, partition_on="created_at", npartitions=3, params={"low": 0}
    )
    want = seeded.frame(sql, {"low": 0})
    pd.testing.assert_frame_equal(_sorted(ddf.compute()), _sorted(want))


def test_a_model_select_hides_soft_deleted_rows_like_db_frame(client, seeded) -> None:
    stmt = select(TransactionModel)
    ddf = dn.dask.read_frame(stmt, db=seeded, npartitions=3)  # split on the key
    live = seeded.frame(stmt)
    everything = seeded.frame("SELECT * FROM transactions")
    assert 0 < len(live) < len(everything), "the sample has soft-deleted rows"
    pd.testing.assert_frame_equal(_sorted(ddf.compute()), _sorted(live))
    with_deleted = dn.dask.read_frame(
        stmt, db=seeded, npartitions=3, include_deleted=True
    ).compute()
    assert len(with_deleted) == len(everything)
    assert set(with_deleted["id"]) == set(everything["id"])


def test_a_group_by_across_partitions(client, seeded) -> None:
    ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=4)
    got = ddf.groupby("account_id")["amount"].count().compute().sort_index()
    want = seeded.frame(
        "SELECT account_id, count(amount) AS amount FROM transactions "
        "GROUP BY account_id ORDER BY account_id"
    ).set_index("account_id")["amount"]
    assert got.to_dict() == want.to_dict()


def test_one_snapshot_while_a_writer_inserts_and_deletes(client, seeded) -> None:
    before = seeded.frame("SELECT id FROM transactions")
    stop = threading.Event()
    wrote = []

    def writer() -> None:
        while not stop.is_set():
            wrote.append(
                seeded.execute(
                    "WITH gone AS (DELETE FROM transactions WHERE id = (SELECT id FROM"
                    " transactions ORDER BY created_at DESC LIMIT 1) RETURNING *) "
                    "INSERT INTO transactions SELECT * FROM gone"
                )
            )

    with dn.dask.consistent(seeded):
        ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=4)
        # Committed after the snapshot, before any partition reads: invisible.
        seeded.execute(
            "DELETE FROM transactions WHERE id IN (SELECT id FROM transactions "
            "ORDER BY id LIMIT 100)"
        )
        thread = threading.Thread(target=writer)
        thread.start()
        try:
            got = ddf.compute()
        finally:
            stop.set()
            thread.join()
    assert wrote, "the writer ran during the read"
    assert len(got) == len(before)
    assert sorted(got["id"]) == sorted(before["id"])
    assert seeded.scalar("SELECT count(*) FROM transactions") == len(before) - 100


def test_a_frame_holds_its_snapshot_while_it_lives(client, seeded) -> None:
    count = seeded.scalar("SELECT count(*) FROM transactions")
    ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=2)
    seeded.execute(
        "DELETE FROM transactions WHERE id IN (SELECT id FROM transactions "
        "ORDER BY id LIMIT 10)"
    )
    # A derived frame keeps the original's snapshot alive.
    total = ddf["amount"].count()
    del ddf
    assert total.compute() == count


def test_a_partition_after_its_block_ended_says_the_snapshot_expired(
    client, seeded
) -> None:
    with dn.dask.consistent(seeded) as snap:
        ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=2)
        assert snap.is_open
    with pytest.raises(dn.dask.SnapshotExpiredError) as caught:
        ddf.compute()
    assert "\n" not in str(caught.value)
    assert "consistent" in str(caught.value)


def test_a_worker_killed_mid_read_is_retried_with_the_same_result(
    client, seeded
) -> None:
    want = _sorted(seeded.frame(_SLOW, {"pause": 0}))
    ddf = dn.dask.read_frame(
        _SLOW, db=seeded, partition_on="id", npartitions=4, params={"pause": 1.5}
    )
    pids = client.run(os.getpid)
    future = client.compute(ddf)
    busy = poll(lambda: [w for w, keys in client.processing().items() if keys])
    os.kill(pids[busy[0]], signal.SIGKILL)
    got = future.result(timeout=120)
    pd.testing.assert_frame_equal(_sorted(got), want)
    client.wait_for_workers(2, timeout=60)


def test_client_cancel_stops_a_read_and_the_next_read_works(client, seeded) -> None:
    ddf = dn.dask.read_frame(
        _SLOW, db=seeded, partition_on="id", npartitions=4, params={"pause": 1.5}
    )
    future = client.compute(ddf)
    poll(lambda: any(client.processing().values()))
    client.cancel(future)
    poll(lambda: future.cancelled())
    with pytest.raises(Exception) as caught:
        future.result(timeout=10)
    assert "Cancelled" in type(caught.value).__name__
    again = dn.dask.read_frame("transactions", db=seeded, npartitions=2).compute()
    assert len(again) == seeded.scalar("SELECT count(*) FROM transactions")
    # The cancelled partitions end on the server (their sleep runs out).
    poll(
        lambda: (
            not seeded.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(%'"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            )
        ),
        timeout=30,
    )
    time.sleep(0)  # nothing else to wait for


def test_bad_arguments_fail_before_any_sql(seeded) -> None:
    with pytest.raises(dn.ValidationError, match="partition_on"):
        dn.dask.read_frame("SELECT 1 AS x", db=seeded)
    with pytest.raises(dn.ValidationError, match="npartitions"):
        dn.dask.read_frame("transactions", db=seeded, npartitions=0)
    with pytest.raises(dn.ValidationError, match="partition_on"):
        dn.dask.read_frame(
            "transactions", db=seeded, partition_on="nope", npartitions=2
        )
    with pytest.raises(dn.ValidationError, match="db"):
        dn.dask.read_frame("transactions", db="postgresql://x")


def test_release_ends_the_snapshots_of_live_frames(client, seeded) -> None:
    ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=2)
    assert dn.dask.release(seeded) >= 1
    with pytest.raises(dn.dask.SnapshotExpiredError):
        ddf.compute()
    assert dn.dask.release(seeded) == 0


def _pickles_without_copy() -> bool:
    """On a worker: its Arrow-backed columns go out through our reducer."""
    import copyreg

    from pandas.arrays import ArrowExtensionArray, ArrowStringArray

    # What unpickling a PartitionReader imports on every worker that reads.
    import dashtam_nb.scale.reader  # noqa: F401
    from dashtam_nb.scale.pickling import reduce_arrow

    table = copyreg.dispatch_table
    return all(
        table.get(c) is reduce_arrow for c in (ArrowExtensionArray, ArrowStringArray)
    )


def test_partitions_leave_the_workers_without_pandas_copy(client, seeded) -> None:
    ddf = dn.dask.read_frame("transactions", db=seeded, npartitions=2)
    assert len(ddf.compute()) > 0
    # The reader's module installs the reducer where partitions are read.
    assert all(client.run(_pickles_without_copy).values())
