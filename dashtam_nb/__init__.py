"""dashtam_nb: Dashtam's database patterns for notebooks, on real PostgreSQL.

The public face: everything a notebook, script or test needs is importable
from here. Database work runs on a private event loop (see `runner`), so the
same calls work with top-level ``await`` and as plain calls.
"""

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
