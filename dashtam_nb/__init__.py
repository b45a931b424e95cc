"""dashtam_nb: Dashtam's database patterns for notebooks, on real PostgreSQL.

The public face: everything a notebook, script or test needs is importable
from here. Database work runs on a private event loop (see `runner`), so the
same calls work with top-level ``await`` and as plain calls.
"""

import importlib
from types import ModuleType

from dashtam_nb.bulk import load_frame
from dashtam_nb.columnar import fetch_arrow, fetch_frame
from dashtam_nb.config import settings
from dashtam_nb.database import (
    Database,
    connect,
    get_database,
    get_db_session,
    set_database,
)
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
from dashtam_nb.repositories import (
    AccountRepository,
    AuditLogRepository,
    TransactionRepository,
    UserRepository,
)
from dashtam_nb.result import Failure, Result, Success, is_failure, is_success
from dashtam_nb.runner import arun, run
from dashtam_nb.streaming import astream_frames, stream_frames

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
    "arun",
    "astream_frames",
    "connect",
    "fetch_arrow",
    "fetch_frame",
    "get_database",
    "get_db_session",
    "is_failure",
    "is_success",
    "load_frame",
    "run",
    "set_database",
    "settings",
    "stable",
    "stream_frames",
    "to_frame",
    "uuid7",
]

# Heavier submodules load on first attribute access (``dn.migrations``), so
# ``import dashtam_nb`` stays fast.
_LAZY = frozenset(
    {
        "bulk",
        "columnar",
        "entities",
        "explain",
        "frames",
        "handlers",
        "migrations",
        "models",
        "pagination",
        "repositories",
        "result",
        "sample_data",
        "server",
        "softdelete",
        "streaming",
    }
)


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY:
        return importlib.import_module(f"dashtam_nb.{name}")
    raise AttributeError(f"module 'dashtam_nb' has no attribute {name!r}")
