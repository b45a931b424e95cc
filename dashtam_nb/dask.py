"""Scale out on Dask distributed: partitioned reads, atomic parallel writes.

``pip install dashtam_nb[dask]``. With any ``distributed.Client`` (a laptop
``LocalCluster`` or a cluster's scheduler address) as the default scheduler:

* `read_frame` returns a ``dask.dataframe.DataFrame`` whose partitions are read
  on the workers through the package's columnar path, with the dtypes of
  `Database.frame` (the meta is the server's declared types, read with
  ``LIMIT 0``), all in one exported snapshot (`consistent`, see
  `dashtam_nb.scale.snapshot` for its lifetime);
* `write_frame` copies each partition into its own UNLOGGED staging table in
  parallel, then publishes them all in one transaction on the client
  (`dashtam_nb.scale.staging`): a failed or cancelled write leaves the target
  as it was and no staging table behind.

``.compute()`` ships every row to the client. Where the client can reach
the workers (a ``LocalCluster`` always can), create it as
``Client(cluster, direct_to_workers=True)``: results then come straight from
the workers instead of being relayed through the scheduler, which for a
LocalCluster lives in the client's own process (1M rows, 124 MB: 0.06-0.19 s
direct against 0.5-1.7 s relayed; benchmarks/README.md "Scale out").

The graph carries the database *name* only; workers take the server and its
credentials from their own environment (``DATABASE_URL``, or the embedded
server of ``DASHTAM_DATA_DIR``), so no password is pickled, shown on the
dashboard or logged (`dashtam_nb.scale.target`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashtam_nb.container import get_database
from dashtam_nb.database import Database, check_database
from dashtam_nb.errors import ConfigError, QueryCancelledError, ValidationError

try:
    import dask.dataframe as dd
    from dask.base import compute
    from dask.delayed import delayed
except ImportError:
    raise ConfigError(
        "dashtam_nb.dask needs Dask: pip install dashtam_nb[dask]"
    ) from None

from dashtam_nb.io.tabledef import check_name
from dashtam_nb.scale import decimals, plan, staging
from dashtam_nb.scale.reader import PartitionReader
from dashtam_nb.scale.snapshot import (
    Snapshot,
    SnapshotExpiredError,
    active_for,
)
from dashtam_nb.scale.snapshot import consistent as _consistent
from dashtam_nb.scale.snapshot import release as _release
from dashtam_nb.scale.target import target_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from contextlib import AbstractContextManager

    from sqlalchemy.sql import Executable

__all__ = [
    "Snapshot",
    "SnapshotExpiredError",
    "consistent",
    "drop_staging",
    "read_frame",
    "release",
    "write_frame",
]


def _database(db: Database | None) -> Database:
    if db is None:
        return get_database()
    check_database(db)
    return db


def consistent(db: Database | None = None) -> AbstractContextManager[Snapshot]:
    """``with dn.dask.consistent(db) as snap:`` one snapshot for the block.

    Every `read_frame` of ``db`` inside the block reads in ``snap``; compute
    (``.compute()``, ``.persist()`` and wait) inside the block: when it ends,
    partitions not yet read fail with `SnapshotExpiredError`.
    """
    return _consistent(_database(db))


def _count(npartitions: object) -> int | None:
    if npartitions is None:
        return None
    if (
        isinstance(npartitions, bool)
        or not isinstance(npartitions, int)
        or not 1 <= npartitions <= plan.MAX_PARTITIONS
    ):
        raise ValidationError(
            f"npartitions must be an integer from 1 to {plan.MAX_PARTITIONS}",
            field="npartitions",
        )
    return npartitions


def _slots() -> int:
    """Worker threads of the default client (1 without one): partitions per round."""
    try:
        from distributed import default_client

        threads: dict[str, int] = default_client().nthreads()  # type: ignore[no-untyped-call]
    except (ImportError, ValueError):  # no distributed, or no client yet
        return 1
    return max(1, sum(threads.values()))


def _spanned(column: pd.Series) -> bool:
    """Numbers and timestamps split by equal-width ranges of min..max."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return False
    return bool(
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
    )


def read_frame(
    sql_or_select: str | Executable,
    *,
    db: Database | None = None,
    partition_on: str | None = None,
    npartitions: int | None = None,
    params: Mapping[str, Any] | None = None,
    include_deleted: bool = False,
) -> dd.DataFrame:
    """A query as a Dask DataFrame, read in partitions on the workers.

    Args:
        sql_or_select: SQL text (``:name`` binds), a table name, or a
            SQLAlchemy select (a select of soft-delete models hides deleted
            rows, as `Database.frame` does).
        db: the database; default `get_database()`.
        partition_on: the result column whose value ranges split the read;
            default a select's primary key, or a table's blocks (``ctid``).
        npartitions: how many partitions; default one per ~500k rows
            (planner estimate), at least one per worker thread of the
            default client and a multiple of them, so every thread reads
            an equal share.
        params: values for the binds, sent apart from the text.
        include_deleted: also read soft-deleted rows.

    Returns:
        A lazy frame; every partition reads in one snapshot, held by a
        `consistent` block around the call or, without one, for as long as
        the frame (or a frame derived from it) is alive. ``persist()``
        returns a new frame and drops the lazy one: persist (and wait)
        inside a `consistent` block.

    Raises:
        ValidationError: bad arguments, before any SQL; or a source that
            cannot be split (SQL text without ``partition_on``).
    """
    database = _database(db)
    n = _count(npartitions)
    if partition_on is not None:
        check_name("partition_on", partition_on)
    if params is not None and not hasattr(params, "keys"):
        raise ValidationError("params must be a mapping", field="params")
    src = plan.source_of(sql_or_select, params, include_deleted=include_deleted)
    meta: pd.DataFrame = database.frame(
        src.wrapped("_dn_meta") + " LIMIT 0", src.params
    )
    key = partition_on if partition_on is not None else src.key
    if key is not None and key not in meta.columns:
        raise ValidationError(
            f"partition_on {key!r} is not a column of the result", field="partition_on"
        )
    snap = active_for(database) or Snapshot(database).open()
    spanned = key is not None and _spanned(meta[key])
    parts = plan.parts(snap, src, key, n, spanned=spanned, slots=_slots())
    types = decimals.decimals(snap, src) if database.numeric == "exact" else ()
    meta = decimals.cast(meta, types)
    reader = PartitionReader(target_of(database), snap, types)
    frame: dd.DataFrame = dd.from_map(  # type: ignore[no-untyped-call]
        reader, parts, range(len(parts)), meta=meta, label="dn-read"
    )
    return frame


def write_frame(
    ddf: dd.DataFrame,
    name: str,
    if_exists: str = "fail",
    *,
    db: Database | None = None,
    schema: str | None = None,
    primary_key: str | Sequence[str] | None = None,
) -> int:
    """Write a Dask DataFrame to a table, all partitions or none.

    Each partition is binary-COPYed on its worker into an UNLOGGED staging
    table; one transaction on the client then creates, appends to or replaces
    ``name`` from them and drops them. A failure or cancel anywhere leaves
    ``name`` unchanged and drops the staging tables, so re-running is safe.

    Args:
        ddf: the frame; its dtypes decide the column types (as
            `Database.write_frame`).
        name: the table.
        if_exists: ``"fail"``, ``"append"`` or ``"replace"``.
        db: the database; default `get_database()`.
        schema: the schema (default the current one).
        primary_key: column(s) of a primary key for a created table.

    Returns:
        Rows written.

    Raises:
        ValidationError, DuplicateError, IntegrityViolationError: naming the
            partition and its row where the server says which one.
    """
    database = _database(db)
    if not isinstance(ddf, dd.DataFrame):
        raise ValidationError("ddf must be a dask DataFrame", field="ddf")
    keys = [primary_key] if isinstance(primary_key, str) else list(primary_key or [])
    job = staging.Job.prepare(
        database, ddf._meta, name, if_exists, schema=schema, primary_key=keys
    )
    parts = ddf.to_delayed()  # type: ignore[no-untyped-call]
    spec = job.create(len(parts))
    load = delayed(staging.load_partition, pure=False)
    tasks = [
        load(part, spec, index, dask_key_name=f"dn-stage-{spec.run}-{index}")
        for index, part in enumerate(parts)
    ]
    try:
        counts = compute(*tasks)  # type: ignore[no-untyped-call]
        return job.publish(counts)
    except BaseException as exc:
        job.abort()
        if _cancelled(exc):
            raise QueryCancelledError(
                f"write_frame to {name!r} was cancelled; the table is unchanged"
            ) from None
        raise


def _cancelled(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError | concurrent.futures.CancelledError)


def release(db: Database | None = None) -> int:
    """End the snapshots this process holds on ``db``; how many were open.

    Frames read outside a `consistent` block keep theirs while they live (and
    while a client keeps their graph); this ends them now, for VACUUM or
    before dropping the database.
    """
    return _release(_database(db))


def drop_staging(db: Database | None = None) -> int:
    """Drop staging tables left by writes whose client died; how many."""
    return staging.drop_leftovers(_database(db))
