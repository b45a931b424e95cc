"""Soft delete for repositories of soft-deletable models (users, transactions).

The statements live in `dashtam_nb.softdelete`; this mixin gives them the
repository's shape: one hop per call, ids parsed before SQL, and entities or
ids accepted alike. Default reads already hide deleted rows (a global
criterion on the session), so nothing else in the repository changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashtam_nb import softdelete
from dashtam_nb.repositories.base import Repository
from dashtam_nb.repositories.core import EntityT, ModelT
from dashtam_nb.session import hops

if TYPE_CHECKING:
    from datetime import datetime, timedelta
    from uuid import UUID

    from sqlalchemy.sql import ColumnElement

__all__ = ["SoftDeleteRepository"]


class SoftDeleteRepository(Repository[EntityT, ModelT]):
    """A `Repository` whose rows can be hidden, restored and finally purged."""

    @hops
    async def soft_delete(self, entity_or_id: EntityT | UUID | str) -> bool:
        """Mark one row deleted (the guide's Pattern 3); True if this call did.

        A conditional UPDATE: of two concurrent callers exactly one gets True,
        and ``deleted_at`` is the server's time.
        """
        uid = self._ident(entity_or_id)
        return await softdelete.soft_delete(self._db, self.model, uid)

    @hops
    async def restore(self, entity_or_id: EntityT | UUID | str) -> bool:
        """Bring a soft-deleted row back; True if it was deleted.

        Runs in a SAVEPOINT: if a live row took its unique value meanwhile
        (the email was registered again) the `DuplicateError` undoes only
        this restore and the session stays usable.
        """
        uid = self._ident(entity_or_id)
        async with self._db.begin_nested():
            return await softdelete.restore(self._db, self.model, uid)

    @hops
    async def soft_delete_where(self, *criteria: ColumnElement[bool]) -> int:
        """Soft-delete every live row matching SQLAlchemy ``criteria``.

        Criteria are expressions built in code (``TransactionModel.category ==
        "fees"``), never SQL text; at least one is required.

        Returns:
            How many rows this call deleted.
        """
        return await softdelete.soft_delete_where(self._db, self.model, *criteria)

    @hops
    async def purge(self, *, older_than: timedelta | datetime) -> int:
        """Hard-delete rows soft-deleted before a cut-off; returns the count.

        Args:
            older_than: an age (``timedelta(days=30)``, server clock) or an
                aware ``datetime``.
        """
        return await softdelete.purge(self._db, self.model, older_than=older_than)
