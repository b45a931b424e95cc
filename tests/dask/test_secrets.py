"""The canary password never reaches a task graph, the dashboard or a log.

The workers run against the fault suite's server, whose ``app`` role has the
canary as its password, reached over TCP with SCRAM. They get it the way a
real cluster's workers do: from their own environment (``DATABASE_URL``),
never from the graph. Checked: the pickled graph and frame, every task key
(the dashboard's names), the task stream, the scheduler's and workers' logs
and every worker's own records at DEBUG, and the errors a worker sends back.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

import cloudpickle  # type: ignore[import-untyped]
import dask.dataframe as dd
import pytest

import dashtam_nb as dn
from tests.dask.conftest import release_snapshots
from tests.support.harness import CANARY, assert_no_secret, find_secrets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.security


def _start_recording() -> None:
    """On a worker: every logger at DEBUG, records kept in memory."""
    import logging as lg

    class Keep(lg.Handler):
        lines: ClassVar[list[str]] = []

        def emit(self, record: lg.LogRecord) -> None:
            Keep.lines.append(record.getMessage())

    handler = Keep(lg.DEBUG)
    lg.getLogger().addHandler(handler)
    for name in ("", "sqlalchemy", "psycopg", "asyncio", "dashtam_nb", "distributed"):
        lg.getLogger(name).setLevel(lg.DEBUG)
    lg._dn_kept = Keep  # type: ignore[attr-defined]


def _recorded() -> list[str]:
    import logging as lg

    keep = getattr(lg, "_dn_kept", None)
    return list(keep.lines) if keep is not None else ["<not recording>"]


@pytest.fixture
def canary_client(pg: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Workers whose environment's DATABASE_URL holds the canary password."""
    from distributed import Client, LocalCluster

    monkeypatch.setenv(
        "DATABASE_URL", pg.url("postgres").render_as_string(hide_password=False)
    )
    dn.settings.reload()
    try:
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_start_recording)
            yield client
    finally:
        monkeypatch.delenv("DATABASE_URL")
        dn.settings.reload()


def test_the_canary_is_in_no_graph_task_name_or_log(canary_client, fdb) -> None:
    from distributed import get_task_stream

    client = canary_client
    assert fdb.url.password == CANARY  # the real thing, over SCRAM
    fdb.execute(
        "CREATE TABLE moves AS SELECT g AS id, (g * 0.5)::numeric(12, 1) AS amount "
        "FROM generate_series(1, 5000) g"
    )
    fdb.execute("ALTER TABLE moves ADD PRIMARY KEY (id)")
    ddf = dn.dask.read_frame("moves", db=fdb, npartitions=3)

    graph = ddf.__dask_graph__()
    blobs = [cloudpickle.dumps(graph), cloudpickle.dumps(ddf)]
    assert not find_secrets(b"".join(blobs).decode("latin-1"))
    assert_no_secret(repr(dict(graph)), *map(str, graph), where="in the graph")

    with get_task_stream(client) as stream:
        got = ddf.compute()
    assert len(got) == 5000
    persisted = ddf.persist()
    keys = client.run_on_scheduler(
        lambda dask_scheduler: [
            *map(str, dask_scheduler.tasks),
            *map(str, dask_scheduler.task_prefixes),
            *map(str, dask_scheduler.task_groups),
        ]
    )
    assert any("dn-read" in k for k in keys)
    del persisted

    # A write, and a worker-side failure, travel back as messages too.
    assert dn.dask.write_frame(ddf, "copies", db=fdb, primary_key="id") == 5000
    with pytest.raises(dn.DuplicateError) as caught:
        dn.dask.write_frame(dd.concat([ddf, ddf]), "copies", "append", db=fdb)

    worker_records = client.run(_recorded)
    assert_no_secret(
        *keys,
        *(repr(task) for task in stream.data),
        repr(client.get_scheduler_logs()),
        repr(client.get_worker_logs()),
        repr(worker_records),
        str(caught.value),
        repr(caught.value),
        where="on the cluster",
    )
    assert all(lines for lines in worker_records.values()), "workers logged"
    del ddf
    release_snapshots(fdb)
    logging.getLogger(__name__).debug("checked %d task keys", len(keys))
