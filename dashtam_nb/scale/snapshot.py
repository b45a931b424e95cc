"""One exported snapshot, held by the client while workers read in it.

The client opens a REPEATABLE READ, READ ONLY transaction and exports its
snapshot (``pg_export_snapshot()``); every partition's worker connection then
begins REPEATABLE READ and imports it (``SET TRANSACTION SNAPSHOT``), so all
partitions of a read see the database as of one instant: rows inserted,
updated or deleted meanwhile neither appear twice nor vanish. PostgreSQL keeps
an exported snapshot importable only while the exporting transaction is open,
so the `Snapshot` holds it:

* ``with dn.dask.consistent(db) as snap:`` holds it for the block; every
  `read_frame` of that database inside the block uses it (compute inside the
  block);
* a `read_frame` outside such a block opens its own, held for as long as the
  returned frame, or any frame derived from it, is alive (the graph keeps a
  reference; a ``distributed.Client`` may keep a computed graph a while
  longer); `release` ends them at once, or use the block for a definite end.

A partition that starts after its snapshot ended fails with
`SnapshotExpiredError`. While a snapshot is held, VACUUM cannot remove rows
it may still see: keep blocks short on busy tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from dashtam_nb import runner
from dashtam_nb.errors import DashtamError, SessionClosedError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.database import Database
    from dashtam_nb.session import SessionScope

__all__ = [
    "SNAPSHOT_ID",
    "Snapshot",
    "SnapshotExpiredError",
    "active_for",
    "consistent",
    "release",
]

SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
_CLOSING: set[asyncio.Future[None]] = set()
_OPEN: weakref.WeakSet[Snapshot] = weakref.WeakSet()
_ACTIVE: contextvars.ContextVar[tuple[Snapshot, ...]] = contextvars.ContextVar(
    "dn_dask_snapshots", default=()
)


class SnapshotExpiredError(DashtamError):
    """A partition started after the read's snapshot had ended."""


class Snapshot:
    """A held, exported snapshot of one database (see the module docstring).

    Attributes:
        id: the ``pg_export_snapshot()`` id the workers import.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.id = ""
        self._scope: SessionScope | None = None
        self._session: AsyncSession | None = None
        self._lock = threading.Lock()

    async def _aopen(self) -> None:
        scope = self.db.get_session()
        session = await scope.__aenter__()
        try:
            # The transaction's first statements: before any query takes a
            # snapshot (the pool's pre-ping runs in autocommit, outside it).
            await session.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            )
            snap = await session.scalar(text("SELECT pg_export_snapshot()"))
        except BaseException as exc:
            await scope.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        if not isinstance(snap, str) or not SNAPSHOT_ID.fullmatch(snap):
            await scope.__aexit__(None, None, None)
            raise DashtamError("unexpected snapshot id from pg_export_snapshot()")
        self.id, self._scope, self._session = snap, scope, session
        _OPEN.add(self)

    def open(self) -> Snapshot:
        """Export the snapshot (blocking); returns self."""
        runner.run(self._aopen(), target=self.db.target)
        return self

    @property
    def is_open(self) -> bool:
        """True while workers can import the snapshot."""
        return self._scope is not None

    def session(self) -> AsyncSession:
        """The holding session (owner loop only): reads in the same snapshot."""
        if self._session is None:
            raise SnapshotExpiredError("the snapshot has ended; read again")
        return self._session

    async def _aclose(self) -> None:
        with self._lock:
            scope, self._scope, self._session = self._scope, None, None
        if scope is not None:
            await scope.__aexit__(None, None, None)

    def close(self) -> None:
        """End the transaction: from now on the id can no longer be imported."""
        if self._scope is None:
            return
        if runner.on_owner_loop():
            # A finaliser run by the garbage collector on the owner loop.
            _CLOSING.add(task := asyncio.ensure_future(self._aclose()))
            task.add_done_callback(_CLOSING.discard)
            return
        with contextlib.suppress(SessionClosedError):
            runner.run(self._aclose(), target=self.db.target)

    def __del__(self) -> None:
        if getattr(self, "_scope", None) is None:
            return
        # Never block in a finaliser: schedule the close on the owner loop.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._aclose(), runner.owner_loop())

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"Snapshot({self.id!r}, {self.db.target}, {state})"

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError("a Snapshot is held by the client and cannot be pickled")

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def release(db: Database) -> int:
    """End every snapshot this process holds on ``db``; how many were open.

    Frames still reading in one then fail with `SnapshotExpiredError`.
    """
    held = [s for s in list(_OPEN) if s.is_open and s.db.target == db.target]
    for snap in held:
        snap.close()
    return len(held)


def active_for(db: Database) -> Snapshot | None:
    """The innermost open `consistent` block's snapshot of ``db``, if any."""
    for snap in reversed(_ACTIVE.get()):
        if snap.is_open and snap.db.target == db.target:
            return snap
    return None


@contextlib.contextmanager
def consistent(db: Database) -> Iterator[Snapshot]:
    """Hold one snapshot for every `read_frame` of ``db`` in the block."""
    snap = Snapshot(db).open()
    token = _ACTIVE.set((*_ACTIVE.get(), snap))
    try:
        yield snap
    finally:
        _ACTIVE.reset(token)
        snap.close()


async def _close_all() -> None:
    """At exit: end every snapshot still held (frames that were never freed)."""
    for snap in list(_OPEN):
        with contextlib.suppress(Exception):
            await snap._aclose()


runner.on_shutdown(_close_all)
