"""UserRepository: the guide's repository, with case-insensitive email lookups."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy import func

from dashtam_nb import frames
from dashtam_nb.checks import check_bool
from dashtam_nb.entities.user import User, validate_email
from dashtam_nb.errors import ValidationError
from dashtam_nb.models.user import UserModel
from dashtam_nb.repositories.soft_delete import SoftDeleteRepository
from dashtam_nb.session import hops

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UserRepository"]


def _lookup_email(email: object) -> str | None:
    """The address to look up, or None when no user can have it.

    A string that is not a valid address matches no row, so it needs no SQL:
    ``find_by_email("' OR '1'='1")`` and ``find_by_email("%")`` return None.
    A non-string is a programming error and is refused.
    """
    if not isinstance(email, str):
        raise ValidationError("Email must be a string", field="email")
    try:
        return validate_email(email)
    except ValidationError:
        return None


class UserRepository(SoftDeleteRepository[User, UserModel]):
    """Persistence of users (the guide's ``UserRepository(session)``).

    ``save`` validates the email (`ValidationError` with ``field="email"``)
    and reports a taken address, in any letter case, as `DuplicateError`
    with ``field="email"``; that save alone is rolled back and the session
    stays usable. Deleted users are hidden from every read by default.
    """

    model = UserModel
    entity = User

    def _validate(self, entity: User) -> User:
        email = validate_email(entity.email)
        if email != entity.email:
            entity = dataclasses.replace(entity, email=email)
        return entity

    def _email_matches(self, email: str) -> Any:
        # `=` with a bound parameter, never LIKE: "%" and "_" are literal.
        # lower() on both sides is the expression the unique index is on.
        return func.lower(UserModel.email) == func.lower(email)

    @hops
    async def find_by_email(self, email: str) -> User | None:
        """The live user with this address in any letter case, or None.

        Malformed addresses return None without SQL (see `_lookup_email`).

        Raises:
            ValidationError: if ``email`` is not a string.
        """
        wanted = _lookup_email(email)
        if wanted is None:
            return None
        stmt = self._select().where(self._email_matches(wanted))
        row = (await self._db.scalars(stmt)).one_or_none()
        return self._to_entity(row) if row is not None else None

    @hops
    async def find_by_email_frame(
        self, email: str, *, include_secrets: bool = False
    ) -> pd.DataFrame:
        """`find_by_email` as a frame of zero or one row."""
        check_bool(include_secrets, "include_secrets")
        wanted = _lookup_email(email)
        names, stmt = self._columns(include_secrets)
        if wanted is None:
            return frames.model_frame(UserModel, names, [])  # no SQL needed
        return await self._frame(names, stmt.where(self._email_matches(wanted)))
