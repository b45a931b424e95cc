"""Soft delete for the repositories of users, accounts and transactions.

The statements live in `dashtam_nb.softdelete`; this mixin gives them the
repository's shape: one hop per call, ids parsed before SQL, and entities or
ids accepted alike. Default reads already hide deleted rows (a global
criterion on the session), so nothing else in the repository changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import SelectBase
from sqlalchemy.sql.visitors import iterate

from dashtam_nb import softdelete
from dashtam_nb.checks import check_aware
from dashtam_nb.errors import ValidationError
from dashtam_nb.repositories.base import Repository
from dashtam_nb.repositories.core import EntityT, ModelT
from dashtam_nb.session import hops

if TYPE_CHECKING:
    from uuid import UUID

__all__ = ["SoftDeleteRepository", "check_criteria", "check_cutoff"]


def _names_a_column(criterion: ColumnElement[bool]) -> bool:
    return any(
        isinstance(part, ColumnClause) and part.table is not None
        for part in iterate(criterion)
    )


def check_criteria(criteria: tuple[object, ...]) -> None:
    """At least one criterion, each a column expression naming a table column.

    A bare ``True``, ``sa.true()``, a literal or a string would match every
    row (or be coerced with a warning, like a ``Select``): a soft delete of
    the whole table is never what a typo meant, so each criterion must be a
    SQL expression that reads some column.
    """
    if not criteria:
        raise ValidationError(
            "give at least one criterion (refusing to soft-delete every row)",
            field="criteria",
        )
    for criterion in criteria:
        if (
            not isinstance(criterion, ColumnElement)
            or isinstance(criterion, SelectBase)
            or not _names_a_column(criterion)
        ):
            raise ValidationError(
                "criteria must be SQLAlchemy expressions on the model's columns "
                "(e.g. Model.category == 'fees'), not "
                f"{type(criterion).__name__}",
                field="criteria",
            )


def check_cutoff(older_than: object) -> timedelta | datetime:
    """A purge cut-off: a non-negative age, or an aware datetime that answers."""
    if isinstance(older_than, timedelta):
        if older_than < timedelta(0):
            raise ValidationError("older_than must not be negative", field="older_than")
        return older_than
    if isinstance(older_than, datetime):
        return check_aware(older_than, "older_than")
    raise ValidationError(
        "older_than must be a timedelta or an aware datetime", field="older_than"
    )


class SoftDeleteRepository(Repository[EntityT, ModelT]):
    """A `Repository` whose rows can be hidden, restored and finally purged."""

    @hops
    async def soft_delete(self, entity_or_id: EntityT | UUID | str) -> bool:
        """Mark one row deleted (the guide's Pattern 3); True if this call did.

        A conditional UPDATE: of two concurrent callers exactly one gets True,
        and ``deleted_at`` is the server's time. Its live descendants (a
        user's accounts and their transactions) get the same ``deleted_at``.
        """
        uid = self._ident(entity_or_id)
        return await softdelete.soft_delete(self._db, self.model, uid)

    @hops
    async def restore(self, entity_or_id: EntityT | UUID | str) -> bool:
        """Bring a soft-deleted row back; True if it was deleted.

        The descendants deleted with it (same ``deleted_at``) come back too;
        those deleted on their own stay deleted. Refused (`ValidationError`)
        while the row's parent is deleted. Runs in a SAVEPOINT: if a live row
        took its unique value meanwhile (the email was registered again) the
        `DuplicateError` undoes only this restore and the session stays usable.
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

        Raises:
            ValidationError: before SQL, if there is no criterion or one is
                not a column expression (``True`` would delete every row).
        """
        check_criteria(criteria)
        return await softdelete.soft_delete_where(self._db, self.model, *criteria)

    @hops
    async def purge(self, *, older_than: timedelta | datetime) -> int:
        """Hard-delete rows soft-deleted before a cut-off; returns the count.

        Args:
            older_than: an age (``timedelta(days=30)``, server clock) or an
                aware ``datetime``.
        """
        when = check_cutoff(older_than)
        return await softdelete.purge(self._db, self.model, older_than=when)
