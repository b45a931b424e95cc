"""One partition read on a worker, in the client's exported snapshot.

`PartitionReader` is the function Dask maps over the partitions. It pickles
to its `Target` (a database name, no credentials) and the snapshot id; on
the client it also keeps a reference to the `Snapshot` it reads in, so the
snapshot stays open as long as any frame built on the graph is alive. On the
worker each call opens a session of the worker's own `Database`, begins
REPEATABLE READ, imports the snapshot and reads through `afetch_frame`, the
package's columnar path (ADBC on a second connection in the same snapshot),
so a partition has exactly the dtypes of `Database.frame`; unbounded
``numeric`` columns are then cast to the whole result's decimal
(`dashtam_nb.scale.decimals`), the type of the meta.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from dashtam_nb import runner
from dashtam_nb.errors import DashtamError
from dashtam_nb.io.fetch import afetch_frame
from dashtam_nb.scale import pickling
from dashtam_nb.scale.decimals import Decimals, cast
from dashtam_nb.scale.snapshot import SNAPSHOT_ID, SnapshotExpiredError
from dashtam_nb.scale.target import database_for

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.database import Database
    from dashtam_nb.scale.plan import Part
    from dashtam_nb.scale.snapshot import Snapshot
    from dashtam_nb.scale.target import Target

__all__ = ["PartitionReader", "portable"]

# Partitions leave this worker pickled: without the copy pandas makes.
pickling.register()

_EXPIRED = (
    "the read's snapshot has ended (its consistent() block closed, or its frame "
    "was garbage-collected); read again, and compute inside "
    "`with dn.dask.consistent(db):`"
)


def portable(exc: BaseException, where: str) -> BaseException:
    """A worker's error as the client should see it: our class, one line.

    The original (a driver exception, maybe holding connection details) stays
    on the worker; only the class and the message travel.
    """
    if not isinstance(exc, DashtamError):
        return exc
    message = f"{where}: {exc}"
    try:
        made = type(exc)(message)
    except TypeError:
        made = DashtamError(message)
    for name in ("field", "constraint", "row", "sqlstate"):
        if hasattr(exc, name) and isinstance(getattr(exc, name), str | int | None):
            setattr(made, name, getattr(exc, name))
    return made


async def _read(db: Database, snapshot: str, part: Part, index: int) -> pd.DataFrame:
    async with db.get_session() as session:
        try:
            # First statements of the transaction, before anything queries.
            await session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            )
            # The id was checked against SNAPSHOT_ID on the client and here.
            await session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        except sa_exc.DBAPIError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            # 42704: the exporting transaction has ended; 22023: a bad id.
            if state in {"42704", "22023"}:
                raise SnapshotExpiredError(f"partition {index}: {_EXPIRED}") from None
            raise
        return await afetch_frame(session, part.sql, part.params)


class PartitionReader:
    """The partition function: ``reader(part, index)`` is one partition.

    Args:
        target: the database, by name.
        snapshot: the client's `Snapshot`; only its id is pickled.
        decimals: unbounded numeric columns and the decimal each is cast to.
    """

    def __init__(
        self, target: Target, snapshot: Snapshot | str, decimals: Decimals = ()
    ) -> None:
        self.target = target
        self.decimals = decimals
        self.snapshot_id = snapshot if isinstance(snapshot, str) else snapshot.id
        # Keeps the client's snapshot open while the graph lives (not pickled).
        self.holder = None if isinstance(snapshot, str) else snapshot
        if not SNAPSHOT_ID.fullmatch(self.snapshot_id):
            raise DashtamError("unexpected snapshot id")

    def __call__(self, part: Part, index: int) -> pd.DataFrame:
        """Read partition ``index`` (runs on a worker)."""
        db = database_for(self.target)
        try:
            frame = runner.run(
                _read(db, self.snapshot_id, part, index), target=db.target
            )
            return cast(frame, self.decimals)
        except DashtamError as exc:
            if isinstance(exc, SnapshotExpiredError):
                raise
            raise portable(exc, f"partition {index}") from None

    def __reduce__(self) -> tuple[Any, ...]:
        return (PartitionReader, (self.target, self.snapshot_id, self.decimals))

    def __dask_tokenize__(self) -> tuple[Any, ...]:
        types = tuple((name, str(arrow)) for name, arrow in self.decimals)
        return ("dn-read", self.target, self.snapshot_id, types)

    def __repr__(self) -> str:
        return f"PartitionReader({self.target.where}, snapshot={self.snapshot_id})"
