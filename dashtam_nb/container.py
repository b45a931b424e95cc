"""The process-wide default database, as the guide's ``src.core.container``.

`get_database` returns the `Database` built from settings (``DATABASE_URL``
or the embedded server) or the last one `connect` made default;
`get_db_session` is the FastAPI ``Depends`` form of ``get_session()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashtam_nb.database import Database
from dashtam_nb.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["get_database", "get_db_session", "set_database"]

_DEFAULT: Database | None = None


def get_database() -> Database:
    """The process-wide `Database` (from settings, or the last `connect`)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Database()
    return _DEFAULT


def set_database(db: Database | None) -> None:
    """Make ``db`` what `get_database` returns (None: back to settings)."""
    global _DEFAULT
    if db is not None and not isinstance(db, Database):
        raise ValidationError("db must be a dashtam_nb.Database or None", field="db")
    _DEFAULT = db


async def get_db_session() -> AsyncIterator[AsyncSession]:
    """Async generator a FastAPI ``Depends`` can use: commit or roll back."""
    async with get_database().get_session() as session:
        yield session
