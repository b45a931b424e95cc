"""One LocalCluster (2 worker processes) and one seeded database per package.

The workers are separate processes (``processes=True``): they inherit this
process's environment (``DASHTAM_DATA_DIR`` or ``DATABASE_URL``) and reach the
same server the way a real cluster's workers would, from their own settings.
"""

from __future__ import annotations

import gc
import os
import uuid
from typing import TYPE_CHECKING

import pytest

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

ROWS = 20_000  # sample transactions: enough for the columnar path per partition
_HELD = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
)


def release_snapshots(db: dn.Database) -> None:
    """End the snapshots frames of the tests still hold, before a drop."""
    from tests.support.harness import poll

    gc.collect()
    dn.dask.release(db)
    poll(lambda: db.scalar(_HELD) == 0, timeout=30)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/dask/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.dask)


@pytest.fixture(scope="package")
def client() -> Iterator[Client]:
    """A 2-worker, 1-thread-each LocalCluster of real processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="package")
def seeded(server_url: object) -> Iterator[dn.Database]:
    """The sample data set (with soft-deleted rows), migrated and seeded."""
    name = f"dask_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    db = dn.connect(name, fresh=True, default=False)
    dn.migrations.upgrade("head", db=db)
    dn.sample_data.seed(db, size=ROWS)
    yield db
    release_snapshots(db)
    dn.run(db.close())
    dn.drop_database(name)


@pytest.fixture
def scratch(server_url: object) -> Iterator[dn.Database]:
    """An empty database for one test."""
    name = f"daskw_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    db = dn.connect(name, fresh=True, default=False)
    yield db
    release_snapshots(db)
    dn.run(db.close())
    dn.drop_database(name)
