"""AccountRepository: accounts and the question "which accounts has this user?"."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from dashtam_nb.entities.account import ACCOUNT_TYPES, Account
from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.account import AccountModel
from dashtam_nb.repositories.soft_delete import SoftDeleteRepository
from dashtam_nb.session import hops

if TYPE_CHECKING:
    from uuid import UUID

    import pandas as pd

__all__ = ["AccountRepository", "check_currency"]

_CURRENCY = re.compile(r"[A-Z]{3}")


def check_currency(currency: object) -> str:
    """An ISO 4217 code (three capitals), checked before SQL like the CHECK."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValidationError(
            "currency must be a three-letter ISO 4217 code like USD", field="currency"
        )
    return currency


class AccountRepository(SoftDeleteRepository[Account, AccountModel]):
    """Persistence of accounts; soft-deleted with their user or on their own.

    Soft-deleting an account also hides its transactions; restoring it
    brings back those deleted with it (see `dashtam_nb.softdelete.cascade`). An account
    of a deleted user cannot be saved or restored until the user is.
    """

    model = AccountModel
    entity = Account

    def _validate(self, entity: Account) -> Account:
        parse_uuid(entity.user_id, field="user_id")
        if entity.account_type not in ACCOUNT_TYPES:
            raise ValidationError(
                f"account_type must be one of {', '.join(ACCOUNT_TYPES)}",
                field="account_type",
            )
        check_currency(entity.currency)
        if not isinstance(entity.balance, Decimal | int) or isinstance(
            entity.balance, bool
        ):
            # A float would store 0.1 as 0.1000000000000000055...: refuse it.
            raise ValidationError("balance must be a Decimal", field="balance")
        return entity

    @hops
    async def find_by_user_id(self, user_id: UUID | str) -> list[Account]:
        """The accounts of one user, oldest first (``created_at``, then id)."""
        uid = parse_uuid(user_id, field="user_id")
        stmt = self._select().where(AccountModel.user_id == uid)
        return await self._entities(stmt.order_by(*self._order("created_at")))

    @hops
    async def find_by_user_id_frame(self, user_id: UUID | str) -> pd.DataFrame:
        """`find_by_user_id` as a DataFrame (same columns when empty)."""
        uid = parse_uuid(user_id, field="user_id")
        names, stmt = self._columns()
        stmt = stmt.where(AccountModel.user_id == uid)
        return await self._frame(names, stmt.order_by(*self._order("created_at")))
