"""TransactionRepository: postings of an account and the analyst's monthly view."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    DateTime,
    Numeric,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)

from dashtam_nb.checks import check_aware, check_bool
from dashtam_nb.entities.transaction import Transaction
from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.account import AccountModel
from dashtam_nb.models.transaction import TransactionModel
from dashtam_nb.repositories.account import check_currency
from dashtam_nb.repositories.soft_delete import SoftDeleteRepository
from dashtam_nb.session import hops

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    import pandas as pd
    from sqlalchemy.sql import Select

__all__ = ["NOT_SPENDING", "TransactionRepository", "check_period"]

NOT_SPENDING = frozenset({"transfer"})
"""Categories whose debits are not spending: money moved between accounts.

A transfer out of checking into savings leaves the user no poorer, so it is
never counted as spent (`dashtam_nb.spending` states the whole rule).
"""

_T = TransactionModel
_S = TypeVar("_S", bound="Select[*tuple[Any, ...]]")


def _aware(value: object, name: str) -> datetime | None:
    # A naive time would be read in the server's zone (ambiguous), and a zone
    # that raises would fail inside the driver: both refused before SQL.
    return None if value is None else check_aware(value, name)


def check_period(start: object, end: object) -> tuple[datetime | None, datetime | None]:
    """Validate a half-open period ``[start, end)`` of aware datetimes."""
    begin, stop = _aware(start, "start"), _aware(end, "end")
    if begin is not None and stop is not None and begin > stop:
        raise ValidationError("start must not be after end", field="start")
    return begin, stop


def _in_period(stmt: _S, start: object, end: object) -> _S:
    begin, stop = check_period(start, end)
    if begin is not None:
        stmt = stmt.where(_T.posted_at >= begin)
    if stop is not None:
        stmt = stmt.where(_T.posted_at < stop)
    return stmt


class TransactionRepository(SoftDeleteRepository[Transaction, TransactionModel]):
    """Persistence of transactions; soft-deletable so corrections keep history."""

    model = TransactionModel
    entity = Transaction

    def _validate(self, entity: Transaction) -> Transaction:
        parse_uuid(entity.account_id, field="account_id")
        if not isinstance(entity.amount, Decimal | int) or isinstance(
            entity.amount, bool
        ):
            raise ValidationError("amount must be a Decimal", field="amount")
        check_currency(entity.currency)
        _aware(entity.posted_at, "posted_at")
        return entity

    def _of_account(
        self, account_id: object, start: object, end: object, stmt: Select[Any]
    ) -> Select[Any]:
        uid = parse_uuid(account_id, field="account_id")
        stmt = _in_period(stmt.where(_T.account_id == uid), start, end)
        return stmt.order_by(*self._order("posted_at"))

    @hops
    async def find_by_account_id(
        self,
        account_id: UUID | str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        include_deleted: bool = False,
    ) -> list[Transaction]:
        """Transactions of one account posted in ``[start, end)``, oldest first.

        Half-open, so consecutive months never count a posting twice; either
        bound may be None. Served by the live ``(account_id, posted_at, id)``
        partial index.
        """
        check_period(start, end)
        check_bool(include_deleted, "include_deleted")
        stmt = self._of_account(account_id, start, end, self._select(include_deleted))
        return await self._entities(stmt)

    @hops
    async def find_by_account_id_frame(
        self,
        account_id: UUID | str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        include_deleted: bool = False,
    ) -> pd.DataFrame:
        """`find_by_account_id` as a DataFrame (same columns when empty)."""
        check_period(start, end)
        check_bool(include_deleted, "include_deleted")
        names, stmt = self._columns()
        stmt = self._of_account(account_id, start, end, stmt)
        return await self._frame(names, stmt, include_deleted)

    @hops
    async def spending_by_category_frame(
        self,
        *,
        user_id: UUID | str | None = None,
        account_id: UUID | str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Money spent per calendar month (UTC) and category, for analysts.

        Spending is the sum of debits (negative amounts) outside the
        `NOT_SPENDING` categories (transfers), shown as a positive number;
        currencies are never added together. Computed in PostgreSQL
        (``date_trunc`` + ``sum``), so only the summary crosses the wire.

        Returns:
            Columns ``month`` (UTC timestamp of the month's start),
            ``category``, ``currency``, ``spent`` (exact decimal) and
            ``transactions`` (count), ordered by month, category, currency.
        """
        check_period(start, end)
        # Constants, not parameters: GROUP BY must repeat the same expression,
        # and two bound parameters would make PostgreSQL see two expressions.
        month = type_coerce(
            func.date_trunc(
                literal_column("'month'"), _T.posted_at, literal_column("'UTC'")
            ),
            DateTime(timezone=True),
        )
        stmt = (
            select(
                month.label("month"),
                _T.category,
                _T.currency,
                cast(func.sum(-_T.amount), Numeric(38, 2)).label("spent"),
                func.count().label("transactions"),
            )
            .where(_T.amount < 0, _T.category.not_in(sorted(NOT_SPENDING)))
            .group_by(month, _T.category, _T.currency)
            .order_by(month, _T.category, _T.currency)
        )
        if account_id is not None:
            stmt = stmt.where(
                _T.account_id == parse_uuid(account_id, field="account_id")
            )
        if user_id is not None:
            owner = parse_uuid(user_id, field="user_id")
            stmt = stmt.join(AccountModel, AccountModel.id == _T.account_id).where(
                AccountModel.user_id == owner
            )
        # Through the read map, as every frame: the declared numeric(38, 2)
        # gives the same dtype to an empty and a full result.
        return await self._frame(
            ["month", "category", "currency", "spent", "transactions"],
            _in_period(stmt, start, end),
        )
