"""The default partition count follows the cluster: one round per thread."""

from __future__ import annotations

import dashtam_nb as dn
from dashtam_nb.scale import plan


def test_a_small_read_still_gives_every_worker_thread_a_partition(
    client, seeded
) -> None:
    threads = sum(client.nthreads().values())
    assert threads == 2
    # 20,000 rows would be one partition of ROWS_PER_PARTITION on its own.
    ddf = dn.dask.read_frame("transactions", db=seeded)
    assert ddf.npartitions == threads
    sizes = ddf.map_partitions(len).compute().tolist()
    assert min(sizes) > 0
    assert sum(sizes) == seeded.scalar("SELECT count(*) FROM transactions")


def test_the_count_is_a_multiple_of_the_threads() -> None:
    rows = plan.ROWS_PER_PARTITION
    assert plan._default_count(10 * rows, slots=4) == 12
    assert plan._default_count(2 * rows, slots=1) == 2
    assert plan._default_count(0, slots=3) == 3
    assert plan._default_count(10**12, slots=7) == plan.MAX_PARTITIONS
