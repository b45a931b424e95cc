"""One migration at a time per database: a PostgreSQL advisory lock.

Two kernels, a script and a CI job may all run ``upgrade("head")`` on the same
fresh database. Without a lock they race on ``CREATE TABLE alembic_version``
and on every revision's DDL, and half of them fail. With it, the first one
applies each step and the others wait, then find nothing left to do.

The lock is session-level (``pg_advisory_lock``), taken on the very connection
Alembic migrates on, and held across the whole command: Alembic commits once
per revision (``transaction_per_migration``), and a transaction-level lock
would be released at the first commit. It is scoped to the database (advisory
locks live in one database), so migrating two databases never serialises.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING

from sqlalchemy import text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection

__all__ = ["KEY", "NAME", "held", "pg_locks_key"]


NAME = "dashtam_nb.migrations"
KEY = int.from_bytes(
    hashlib.blake2b(NAME.encode(), digest_size=8).digest(), "big", signed=True
)
"""The 64-bit advisory lock key: fixed, derived from `NAME`, the same everywhere.

In ``pg_locks`` it shows as ``locktype = 'advisory'`` with ``classid`` the high
and ``objid`` the low 32 bits (unsigned) and ``objsubid = 1``.
"""

# A constant int, not a parameter: psycopg would pick int2/int4/int8 by value,
# and pg_advisory_lock(int4, int4) is a different lock.
_LOCK = text(f"SELECT pg_advisory_lock(CAST({KEY} AS bigint))")
_UNLOCK = text(f"SELECT pg_advisory_unlock(CAST({KEY} AS bigint))")


def pg_locks_key() -> tuple[int, int]:
    """``(classid, objid)`` of `KEY` as ``pg_locks`` shows them."""
    unsigned = KEY & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


@contextlib.contextmanager
def held(conn: Connection) -> Iterator[None]:
    """Hold the migration lock on ``conn`` for the ``with`` block.

    Waits as long as another session holds it (an interrupt cancels the wait
    on the server). The transaction that took the lock is committed at once,
    so ``conn`` is idle again and Alembic still commits per revision. If the
    lock cannot be released cleanly (the connection broke, the wait was
    cancelled halfway), the connection is invalidated instead of going back to
    the pool: closing the session is what frees a session-level lock, and a
    pooled connection must never carry one to its next user.
    """
    try:
        conn.execute(_LOCK)
        conn.commit()
    except BaseException:
        _discard(conn)
        raise
    try:
        yield
    finally:
        _release(conn)


def _release(conn: Connection) -> None:
    try:
        if conn.in_transaction():  # a failed revision's, already rolled back
            conn.rollback()
        released = conn.execute(_UNLOCK).scalar()
        conn.commit()
    except Exception:  # keep the command's own error; closing frees the lock
        released = False
    except BaseException:  # an interrupt: still never pool a locked session
        _discard(conn)
        raise
    if not released:  # not ours any more: never hand this session out again
        _discard(conn)


def _discard(conn: Connection) -> None:
    with contextlib.suppress(Exception):
        conn.invalidate()
