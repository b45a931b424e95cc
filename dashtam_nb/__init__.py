"""dashtam_nb: Dashtam's database patterns for notebooks, on real PostgreSQL.

The public face: everything a notebook, script or test needs is importable
from here. Database work runs on a private event loop (see `runner`), so the
same calls work with top-level ``await`` and as plain calls.
"""

import importlib as _importlib
from typing import Any as _Any

from dashtam_nb.admin import connect, create_database, drop_database
from dashtam_nb.config import settings
from dashtam_nb.container import get_database, get_db_session, set_database
from dashtam_nb.database import Database
from dashtam_nb.errors import (
    ConfigError,
    ConflictError,
    ConnectError,
    ConnectionLostError,
    DashtamError,
    DatabaseError,
    DuplicateError,
    ImmutableRecordError,
    IntegrityViolationError,
    InvalidIdError,
    MigrationError,
    NotFoundError,
    PermissionDeniedError,
    QueryCancelledError,
    QueryTimeoutError,
    SessionClosedError,
    ValidationError,
)
from dashtam_nb.frames import stable, to_frame
from dashtam_nb.ids import uuid7
from dashtam_nb.io.fetch import afetch_arrow, afetch_frame, fetch_arrow, fetch_frame
from dashtam_nb.io.load import aload_frame, load_frame
from dashtam_nb.io.stream import astream_frames, stream_frames
from dashtam_nb.io.write import awrite_frame, write_frame
from dashtam_nb.repositories import (
    AccountRepository,
    AuditLogRepository,
    TransactionRepository,
    UserRepository,
)
from dashtam_nb.result import Failure, Result, Success, is_failure, is_success
from dashtam_nb.runner import arun, run
from dashtam_nb.spending import aspending_by_month, is_spending, spending_by_month
from dashtam_nb.styled import styled

__all__ = [
    "AccountRepository",
    "AuditLogRepository",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "ConnectionLostError",
    "DashtamError",
    "Database",
    "DatabaseError",
    "DuplicateError",
    "Failure",
    "ImmutableRecordError",
    "IntegrityViolationError",
    "InvalidIdError",
    "MigrationError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryCancelledError",
    "QueryTimeoutError",
    "Result",
    "SessionClosedError",
    "Success",
    "TransactionRepository",
    "UserRepository",
    "ValidationError",
    "afetch_arrow",
    "afetch_frame",
    "aload_frame",
    "arun",
    "aspending_by_month",
    "astream_frames",
    "awrite_frame",
    "connect",
    "create_database",
    "dask",
    "drop_database",
    "explain",
    "fetch_arrow",
    "fetch_frame",
    "get_database",
    "get_db_session",
    "is_failure",
    "is_spending",
    "is_success",
    "load_frame",
    "load_ipython_extension",
    "migrations",
    "run",
    "sample_data",
    "server",
    "set_database",
    "settings",
    "spending_by_month",
    "stable",
    "stream_frames",
    "styled",
    "to_frame",
    "uuid7",
    "write_frame",
]


def load_ipython_extension(ipython: _Any) -> None:
    """``%load_ext dashtam_nb``: ``%sql``/``%%sql`` and one-line errors (`magic`)."""
    from dashtam_nb.magic import load_ipython_extension as load

    load(ipython)


# The analyst's modules load on first use (``dn.migrations.upgrade(...)``,
# ``dn.server.status(...)``), so ``import dashtam_nb`` stays fast (no Alembic,
# no psutil, no Dask); ``from dashtam_nb import migrations`` works either way.
# Each is a
# real module and is listed in __all__ (both two-way tested).
_LAZY = ("dask", "explain", "migrations", "sample_data", "server")


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        return _importlib.import_module(f"dashtam_nb.{name}")
    raise AttributeError(f"module 'dashtam_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
