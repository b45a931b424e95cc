"""dashtam_nb: Dashtam's database patterns for notebooks, on real PostgreSQL.

The public face: everything a notebook, script or test needs is importable
from here. Database work runs on a private event loop (see `runner`), so the
same calls work with top-level ``await`` and as plain calls.
"""

import importlib
from types import ModuleType

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
from dashtam_nb.runner import arun, run

__all__ = [
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "ConnectionLostError",
    "DashtamError",
    "Database",
    "DatabaseError",
    "DuplicateError",
    "ImmutableRecordError",
    "IntegrityViolationError",
    "InvalidIdError",
    "MigrationError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryCancelledError",
    "QueryTimeoutError",
    "SessionClosedError",
    "ValidationError",
    "arun",
    "connect",
    "get_database",
    "get_db_session",
    "run",
    "set_database",
    "settings",
]

# Heavier submodules load on first attribute access (``dn.migrations``), so
# ``import dashtam_nb`` stays fast.
_LAZY = frozenset(
    {
        "bulk",
        "columnar",
        "entities",
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
